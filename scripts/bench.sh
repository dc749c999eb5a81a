#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# bench.sh - "make bench": the latency benchmarks, in the test VM.
#
#   scripts/bench.sh [--update-doc] [--nested-only | --rawkvm-only]
#
#  1. nested: three boots of a real Linux guest under real QEMU in the test
#     VM (selftests/e2e/bench-inside.sh): stock QEMU 7.2 multi-process, mpdev
#     with a blocking remote, mpdev with a busy-polling remote, and QEMU's
#     in-process pci-testdev as the reference; 1/2/4/8-byte MMIO and
#     1/2/4-byte PIO reads and writes, and two-vCPU throughput; the same
#     with Debian's unmodified QEMU 7.2 (and sid's 11.1) through
#     mpqemu-run --zero-patch, blocking and polling; then four
#     boots with QEMU's lsi53c895a (stock, mpdev blocking, mpdev polling,
#     in-process): 4 KiB random reads and writes at QD1, null-co and raw;
#     and QEMU's nvme at QD1 and QD16.
#  2. raw-KVM: selftests/mpdev/mpdev_bench, the five-row table of the data
#     path (Documentation/mpdev/benchmark-rawkvm.rst).
#
# Results go to build/bench/<UTC time>/ (build/bench/latest points at the
# newest): results.tsv, checks.tsv, meta.txt, bench.json, bench.png,
# bench-rawkvm.json, logs/.  scripts/bench-report.sh prints the table and
# the targets; --update-doc also writes the nested table into
# Documentation/mpdev/benchmark.rst.
#
# Exit status: 0 when every run worked and every sanity check held (each
# path took the route it claims); targets missed are reported, not fatal.
# Environment: MPDEV_BENCH_N (accesses per case, default 1000), MPDEV_*
# passed into the VM by vm-run.
set -uo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo" || exit 2
t0=$SECONDS
say() { printf '[bench %3ds] %s\n' "$((SECONDS - t0))" "$*"; }

update_doc=() nested=1 rawkvm=1
for a in "$@"; do
	case $a in
	--update-doc) update_doc=(--update-doc Documentation/mpdev/benchmark.rst) ;;
	--nested-only) rawkvm=0 ;;
	--rawkvm-only) nested=0 ;;
	-h|--help) sed -n '4,/^set /s/^# \{0,1\}//p' "$0" | sed '$d'; exit 0 ;;
	*) echo "bench.sh: unknown argument '$a' (see --help)" >&2; exit 2 ;;
	esac
done

out=$repo/build/bench/$(date -u +%Y%m%d-%H%M%S)
mkdir -p "$out" || exit 2
ln -sfn "$(basename "$out")" build/bench/latest
rc=0
if [ "$nested" = 1 ]; then
	# shellcheck source=nested-prereqs.sh
	. scripts/nested-prereqs.sh
	nested_prereqs say || exit 2
	# Debian sid's stock QEMU for the stock-sid boot, if it can be had.
	if scripts/qemu-sid.sh >/dev/null; then
		MPDEV_QEMU_CHROOT=$(scripts/qemu-sid.sh --print-root)
		export MPDEV_QEMU_CHROOT
	else
		say "no sid QEMU (scripts/qemu-sid.sh failed): the stock-sid boot is left out"
	fi
	say "nested: booting the test VM; sixteen nested guests boot in it (about fifteen minutes)"
	# Nested guests boot only under multi-threaded TCG (testing.rst).
	MPDEV_VM_TCG_THREAD=multi selftests/vm/vm-run --timeout 1800 --out "$out" \
		--log "$out/vm-nested.log" -- selftests/e2e/bench-inside.sh || rc=1
fi
if [ "$rawkvm" = 1 ]; then
	say "raw-KVM: booting the test VM for mpdev_bench"
	selftests/vm/vm-run --timeout 1800 --out "$out" --log "$out/vm-rawkvm.log" -- \
		build/selftests/mpdev_bench --json /out/bench-rawkvm.json || rc=1
fi
if [ "$nested" = 1 ]; then
	say "report (build/bench/latest = $out)"
	scripts/bench-report.sh ${update_doc[@]+"${update_doc[@]}"} "$out" || rc=1
fi
say "$([ "$rc" -eq 0 ] && echo "bench done" || echo "bench FAILED"): results in $out (${SECONDS}s)"
exit "$rc"
