#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# demo.sh - the main job ("make demo", after "make deps all"): boot the test
# VM once and show the mpdev data path at work in it.
#
#   scripts/demo.sh [VM-RUN OPTIONS...]      e.g. --log /tmp/demo.log
#
# On the host it makes sure of what the test VM cannot build for itself (it
# sees the host read-only): the userspace tools and the nested guest
# (no-ops when up to date) and the patched QEMU, which the disk stages use
# as the remote (userspace/qemu-patch/build-qemu.sh: a no-op when cached,
# about 10 minutes otherwise).  In the VM, selftests/e2e/demo-inside.sh
# boots the nested e2e guest three times with our testdev, all under
# Debian's unmodified QEMU -- mpdev through mpqemu-run --zero-patch with a
# busy-polling remote (guest checks + bench, and the report of which
# process served what), the classic path (bench), mpdev with a blocking
# remote (bench) -- and, with MPDEV_DEMO_PATCHED=1, a fourth time with the
# patched QEMU; then prints a p50/p99 latency table with ratios against
# the classic path.  Then three boots with QEMU's own lsi53c895a disk: in
# a remote QEMU on the mpdev fast path (pattern check, what ran where,
# bench), on the classic path and in-process (bench), and an IOPS table.
# Every stage is named with its elapsed time.
#
# Environment: MPDEV_DEMO_BENCH_N (accesses per bench, default 300),
# MPDEV_DEMO_DISK (0: no disk stages, no patched QEMU),
# MPDEV_DEMO_TIMEOUT (whole VM run, default 900 s); MPDEV_* are passed into
# the VM by vm-run.  Exit status: demo-inside.sh's (0 = every stage worked),
# or vm-run's 124 (timeout) / 125 (VM failure), 2 if the build failed.
set -uo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo" || exit 2
t0=$SECONDS
say() { printf '[demo %3ds] %s\n' "$((SECONDS - t0))" "$*"; }

# shellcheck source=nested-prereqs.sh
. scripts/nested-prereqs.sh
# Debian's own QEMU is the VMM of every stage but the optional patched one
# (MPDEV_DEMO_PATCHED=1); the disk stages' remote QEMU has our series
# (MPDEV_DEMO_DISK=0 skips them, and then nothing needs the patched QEMU).
want=no-qemu
[ "${MPDEV_DEMO_PATCHED:-0}" = 0 ] && [ "${MPDEV_DEMO_DISK:-1}" = 0 ] || want=qemu
nested_prereqs say "$want" || exit 2
say "host: booting the test VM (TCG, with mpdev.ko); the nested guests boot in it"
# Nested guests boot only under multi-threaded TCG (testing.rst).
MPDEV_VM_TCG_THREAD=${MPDEV_VM_TCG_THREAD:-multi} \
	selftests/vm/vm-run --timeout "${MPDEV_DEMO_TIMEOUT:-900}" "$@" -- selftests/e2e/demo-inside.sh
rc=$?
case $rc in
0) say "demo passed (${SECONDS}s in all)" ;;
124) say "demo FAILED: the test VM run timed out" ;;
125) say "demo FAILED: the test VM failed (see vm-run's message above)" ;;
*) say "demo FAILED (status $rc)" ;;
esac
exit "$rc"
