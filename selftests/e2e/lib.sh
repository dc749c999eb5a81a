# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash disable=SC2034,SC2054
#
# lib.sh - shared by the end-to-end runners (run-classic.sh, and the QEMU
# patch test, demo and benchmark that boot the same nested guest).
# Source it from bash:  . "$(dirname "$0")/lib.sh"
#
# Nested guest:
#   e2e_guest_env           load build/e2e/guest.env (E2E_KERNEL, E2E_INITRD,
#                           ...) or fail with what to run on the host
#   e2e_qemu_args DIR APPEND [MEM] [SMP]
#                           fill the array E2E_QEMU_ARGS: the QEMU arguments
#                           for the nested guest (after mpqemu-run's "--"),
#                           with the serial console in DIR/serial.log and
#                           mpdev-guest's TAP (isa-debugcon) in DIR/guest.tap,
#                           QEMU's resets and guest errors in DIR/qemu-debug.log.
#                           Set MPDEV_E2E_ACCEL=tcg to try it without KVM (then
#                           there are no interrupts: no irqfd under TCG);
#                           MPDEV_E2E_SERIAL=stdio puts the console on stdio
#                           instead (interactive, with e2e.end=shell).
#   E2E_APPEND              the base kernel command line (add e2e.run=...)
# Waiting:
#   e2e_wait FILE REGEX SECS [PID]
#                           until a line of FILE matches REGEX (0), SECS
#                           pass (1) or PID exits (2)
# TAP for the host side:
#   t_ok STATUS DESC [DIRECTIVE] / t_pass DESC / t_fail DESC / t_diag TEXT
#   t_done prints the plan and "N passed, N failed, N skipped" and returns
#   non-zero if anything failed.

E2E_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
E2E_REPO=$(cd "$E2E_DIR/../.." && pwd)
MPDEV_E2E_BUILD=${MPDEV_E2E_BUILD:-$E2E_REPO/build/e2e}

# Quiet, and without what costs seconds in a nested guest under TCG:
# mitigations (every exit pays for them), the timer check, RCU's normal
# grace periods (expedited ones need no ticks), the crypto self-tests,
# probing 32 legacy UARTs.  hugepages=1 gives mpdev-guest dma 2 MiB of
# physically contiguous memory.  Kernel messages are expensive too: each character
# on the 16550 is several exits.
E2E_APPEND="console=ttyS0 quiet loglevel=3 panic=-1 mitigations=off tsc=reliable no_timer_check 8250.nr_uarts=1 pcie_aspm=off rcupdate.rcu_expedited=1 cryptomgr.notests hugepages=1"

e2e_guest_env() {
	local env=$MPDEV_E2E_BUILD/guest.env
	if [ ! -f "$env" ]; then
		echo "e2e: no $env: run 'make -C selftests/e2e' on the host first" >&2
		return 1
	fi
	# shellcheck disable=SC1090
	. "$env"
	if [ ! -f "$E2E_KERNEL" ] || [ ! -f "$E2E_INITRD" ]; then
		echo "e2e: $E2E_KERNEL or $E2E_INITRD missing: run 'make -C selftests/e2e'" >&2
		return 1
	fi
}

e2e_qemu_args() {
	local dir=$1 append=$2 mem=${3:-256M} smp=${4:-1} accel=${MPDEV_E2E_ACCEL:-kvm} cpu=host bios=()
	local b serial=(-chardev "file,id=e2eser,path=$dir/serial.log" -serial chardev:e2eser)
	[ "${MPDEV_E2E_SERIAL:-file}" = stdio ] && serial=(-serial mon:stdio)
	[ "$accel" = kvm ] || cpu=max
	for b in /usr/share/qemu/qboot.rom /usr/share/qemu-system-x86/qboot.rom; do
		[ -f "$b" ] && { bios=(-bios "$b"); break; }
	done
	# q35 without what the guest does not need (every device costs boot
	# time); RAM a shared memfd so the remote can map it for DMA.
	E2E_QEMU_ARGS=(
		-accel "$accel" -cpu "$cpu" -m "$mem" -smp "$smp"
		-object "memory-backend-memfd,id=mem,size=$mem,share=on"
		-machine "q35,memory-backend=mem,sata=off,smbus=off,hpet=off,i8042=off,vmport=off"
		-nodefaults -no-user-config -display none -no-reboot
		${bios[@]+"${bios[@]}"}
		"${serial[@]}"
		-chardev "file,id=e2etap,path=$dir/guest.tap"
		-device "isa-debugcon,iobase=0xe9,chardev=e2etap"
		-kernel "$E2E_KERNEL" -initrd "$E2E_INITRD"
		-append "$append"
		# A guest that triple-faults just stops QEMU (-no-reboot), silently:
		# the CPU state at every reset goes to DIR/qemu-debug.log.
		-d cpu_reset,guest_errors -D "$dir/qemu-debug.log"
	)
}

e2e_wait() {
	local file=$1 re=$2 pid=${4:-} end=$((SECONDS + $3))
	while [ "$SECONDS" -lt "$end" ]; do
		grep -q -E -- "$re" "$file" 2>/dev/null && return 0
		if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
			grep -q -E -- "$re" "$file" 2>/dev/null && return 0
			return 2
		fi
		sleep 0.5
	done
	return 1
}

T_N=0 T_FAIL=0 T_SKIP=0 T_TODO=0
# t_ok STATUS DESC [DIRECTIVE]: one TAP line; STATUS 0 is ok.  DIRECTIVE is
# "SKIP why" or "TODO why": a skip counts as skipped, a TODO (a known
# failure, e.g. a bug of stock QEMU) never fails the run.
t_ok() {
	local st=$1 desc=$2 dir=${3:-}
	T_N=$((T_N + 1))
	case $dir in
	SKIP*) T_SKIP=$((T_SKIP + 1)) ;;
	TODO*) T_TODO=$((T_TODO + 1)) ;;
	*) [ "$st" -eq 0 ] || T_FAIL=$((T_FAIL + 1)) ;;
	esac
	if [ "$st" -eq 0 ]; then
		echo "ok $T_N - $desc${dir:+ # $dir}"
	else
		echo "not ok $T_N - $desc${dir:+ # $dir}"
	fi
	return "$st"
}
t_pass() { t_ok 0 "$*"; }
t_fail() { t_ok 1 "$*"; }
t_diag() { printf '%s\n' "$@" | sed 's/^/# /'; }
# The plan and the closing line; TODOs count as passed (said in a comment).
t_done() {
	echo "1..$T_N"
	[ "$T_TODO" -eq 0 ] || echo "# $T_TODO known failure(s) marked TODO, counted as passed"
	echo "$((T_N - T_FAIL - T_SKIP)) passed, $T_FAIL failed, $T_SKIP skipped"
	[ "$T_FAIL" -eq 0 ]
}
