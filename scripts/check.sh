#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# check.sh - every test mpdev has, in one run (what `make check` calls).
#
# Stages: build (module, userspace, selftests), static checks (checkpatch
# --strict, sparse), host unit tests, then the kselftests inside the test
# VM with the freshly built module, and the kselftests built as a drop-in
# of a kernel tree (scripts/ksft-dropin.sh) and run from there.  Each
# stage's output goes to the console and to build/check-<stage>.log.  A
# stage that prints "N passed, N failed[, N skipped]" contributes those
# counts; any other stage counts as one test, passed or failed by its exit
# status.  The last line is the total, and the exit status is non-zero if
# anything failed.

set -uo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
mkdir -p build
export MPDEV_KO=$repo/kmod/mpdev.ko

pass=0 fail=0 skip=0
failed_stages=()

# stage NAME COMMAND...: run it, add its counts to the totals.
stage() {
	local name=$1 log=build/check-$1.log rc line p f s
	shift
	printf '\n===== %s: %s\n' "$name" "$*"
	"$@" 2>&1 | tee "$log"
	rc=${PIPESTATUS[0]}
	line=$(grep -E '^(# )?[0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)
	if [ -n "$line" ]; then
		p=$(sed -E 's/^(# )?([0-9]+) passed.*/\2/' <<<"$line")
		f=$(sed -E 's/.* ([0-9]+) failed.*/\1/' <<<"$line")
		s=$(sed -nE 's/.* ([0-9]+) skipped.*/\1/p' <<<"$line")
		# A stage that died after its summary still failed.
		[ "$rc" -ne 0 ] && [ "$f" -eq 0 ] && f=1
	elif [ "$rc" -eq 0 ]; then
		p=1 f=0
	else
		p=0 f=1
	fi
	pass=$((pass + p)) fail=$((fail + f)) skip=$((skip + ${s:-0}))
	[ "$f" -ne 0 ] && failed_stages+=("$name")
	printf '===== %s: %s passed, %s failed, %s skipped (exit %s)\n' \
		"$name" "$p" "$f" "${s:-0}" "$rc"
	return "$rc"
}

if stage build make all; then
	stage checkpatch make --no-print-directory lint
	stage sparse make --no-print-directory sparse
	stage userspace-unit make -C userspace check
	stage fuzz make -C userspace fuzz FUZZ_TIME=60
	stage bench-report scripts/test-bench-report.sh
	stage mpdev-io selftests/e2e/test-mpdev-io.sh
	# mpdev_lifetime unloads and reloads the module: last.
	stage kselftests-vm selftests/vm/vm-run --timeout 1500 -- \
		selftests/vm/run-kselftests \
		build/selftests/kg_selftest \
		build/selftests/mpdev_basic \
		build/selftests/mpdev_datapath \
		build/selftests/mpdev_netlink \
		build/selftests/mpdev_bounds \
		build/selftests/mpdev_lifetime
	# The kselftests as upstream would build them: dropped into a
	# linux-source-6.1 tree, built and installed by its own selftests
	# Makefile, run by its run_kselftest.sh under the VM's busybox sh.
	if stage ksft-dropin scripts/ksft-dropin.sh; then
		stage ksft-dropin-vm selftests/vm/vm-run --timeout 600 -- \
			scripts/ksft-dropin.sh run -s "busybox sh" mpdev_basic
	fi
	stage kernels scripts/kernels.sh 6.12 sid
	# Nested guests boot only under multi-threaded TCG (testing.rst);
	# the kselftests above need single-threaded TCG.
	stage e2e-classic env MPDEV_VM_TCG_THREAD=multi \
		selftests/vm/vm-run --timeout 900 -- selftests/e2e/run-classic.sh
	# The mpdev fast path with that stock QEMU, unmodified: mpqemu-run
	# --zero-patch attaches its VM and registers the BARs from QMP.
	stage e2e-zero-patch env MPDEV_VM_TCG_THREAD=multi \
		selftests/vm/vm-run --timeout 900 -- \
		env MPDEV_E2E_ZERO_PATCH=1 selftests/e2e/run-mpdev.sh
	# The same against Debian sid's unmodified QEMU 11.1 (in the sid
	# chroot, never on the host): our remote on its classic path.
	if stage qemu-sid scripts/qemu-sid.sh; then
		stage e2e-classic-sid env MPDEV_VM_TCG_THREAD=multi \
			MPDEV_E2E_QEMU="$repo/selftests/e2e/qemu-chroot" \
			MPDEV_QEMU_CHROOT="$(scripts/qemu-sid.sh --print-root)" \
			MPDEV_E2E_LOG_NAME=e2e-classic-sid \
			selftests/vm/vm-run --timeout 900 -- selftests/e2e/run-classic.sh
		# And the fast path with it through mpqemu-run --zero-patch.
		stage e2e-zero-patch-sid env MPDEV_VM_TCG_THREAD=multi \
			MPDEV_E2E_QEMU="$repo/selftests/e2e/qemu-chroot" \
			MPDEV_QEMU_CHROOT="$(scripts/qemu-sid.sh --print-root)" \
			MPDEV_E2E_LOG_NAME=e2e-zero-patch-sid \
			selftests/vm/vm-run --timeout 900 -- \
			env MPDEV_E2E_ZERO_PATCH=1 selftests/e2e/run-mpdev.sh
	fi
	if stage qemu-build userspace/qemu-patch/build-qemu.sh; then
		MPDEV_QEMU_PATCHED=$(userspace/qemu-patch/build-qemu.sh --print-path)
		export MPDEV_QEMU_PATCHED
		stage e2e-mpdev env MPDEV_VM_TCG_THREAD=multi \
			selftests/vm/vm-run --timeout 900 -- \
			selftests/e2e/run-mpdev.sh
		# The same with the remote busy-polling the ring (MSI-X too).
		stage e2e-mpdev-poll env MPDEV_VM_TCG_THREAD=multi \
			selftests/vm/vm-run --timeout 900 -- \
			env MPDEV_E2E_POLL=1 selftests/e2e/run-mpdev.sh
		stage e2e-qemu-remote env MPDEV_VM_TCG_THREAD=multi selftests/vm/vm-run --timeout 600 -- selftests/e2e/run-qemu-remote.sh
		# QEMU's lsi53c895a, e1000, nvme and virtio-blk in a remote, the
		# guest's own drivers.
		stage e2e-devices env MPDEV_VM_TCG_THREAD=multi \
			selftests/vm/vm-run --timeout 2400 -- selftests/e2e/run-devices.sh
	fi
fi

# A CI log is often read from its end: each failed stage's failures and
# its last lines again, just above the totals.
excerpt() {
	local log=build/check-$1.log
	echo "FAILED: $1 (see $log)"
	grep -E '^(not ok|Bail out!|vm-run: |# *(FAIL|ERROR)|FAILED)' "$log" |
		grep -v '# TODO' | head -n 50 | sed 's/^/  | /'
	echo "  last lines:"
	tail -n 12 "$log" | sed 's/^/  | /'
}
echo
for s in ${failed_stages[@]+"${failed_stages[@]}"}; do
	excerpt "$s"
done
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
