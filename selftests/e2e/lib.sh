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
# One nested guest (mpqemu-run, its remote and QEMU), logs in DIR; the pids
# are in the globals mpid, remote_pid and qemu_pid:
#   e2e_start DIR CMD...    run "CMD -- E2E_QEMU_ARGS" in the background;
#                           0 once the remote and QEMU both run (set
#                           E2E_RUNDIR to mpqemu-run's --run-dir when the
#                           remote is not mpdev-remote: its pid file says;
#                           E2E_INPROC=1 when CMD is QEMU itself, without
#                           a remote: then mpid is QEMU)
#   e2e_boot DIR TRIES SECS CMD...
#                           e2e_start, then wait up to SECS for the guest
#                           tool; a boot that fails is retried (TRIES in
#                           all), the failed try's logs kept in DIR/tryN.
#                           Sets E2E_BOOT_RC (0 up, 1 timeout, 2 QEMU gone,
#                           3 mpqemu-run did not start them), E2E_BOOT_TRY
#                           and E2E_BOOT_SECS (of the last try)
#   e2e_stop                SIGTERM to mpqemu-run; SIGKILL to all three
#                           after 10 s
#   e2e_tail_logs DIR [N]   the last N lines of the guest's logs
#   e2e_why_gone DIR        mpqemu-run's status, QEMU's resets and KVM's
#                           shutdown exits (a triple fault), if gone
#   e2e_remote_stats FILE   the running remote's counters (SIGUSR1) into
#                           FILE and the associative array rs[]; non-zero
#                           if it wrote none within 15 s
# Their diagnostics go through e2e_note TEXT, "# TEXT" unless redefined.
#   e2e_xremote_args QEMU MODE DEVICE-ARGS...
#                           E2E_REMOTE_ARGS: QEMU's own remote (x-remote)
#                           serving proxy dev0, for mpqemu-run --remote-cmd
#   e2e_qom SOCKET FILE PROP...
#                           its counters (QOM, over QMP) into FILE and q[]
# Waiting:
#   e2e_wait FILE REGEX SECS [PID]
#                           until a line of FILE matches REGEX (0), SECS
#                           pass (1) or PID exits (2)
# TAP of a runner (run-classic.sh, run-mpdev.sh) about its nested guest:
#   e2e_boot_tap DIR        after e2e_boot: "booted" passes, or returns 1
#                           with the failure in E2E_WHY
#   e2e_guest_tap DIR       the guest's TAP (DIR/guest.tap) renumbered into
#                           ours (descriptions after E2E_TAP_PREFIX), its
#                           comments and BENCH/BLKBENCH lines as
#                           diagnostics; sets E2E_NGUEST and E2E_PLAN
#   e2e_save_logs DIR NAME  copy DIR to $MPDEV_OUT/NAME when writable
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

# e2e_xremote_args QEMU MODE DEVICE-ARGS...: fill E2E_REMOTE_ARGS with
# QEMU's own remote for mpqemu-run --remote-cmd dev0: -machine x-remote,
# the device arguments (the device's id must be dev0), x-remote-object
# robj0 on the socket (@FD@; MODE poll adds mpdev-mode=poll) and a QMP
# monitor at RUNDIR/dev0.qmp for its counters (qom-get.py).
e2e_xremote_args() {
	local qemu=$1 mode=$2 xro="x-remote-object,id=robj0,devid=dev0,fd=@FD@"
	shift 2
	[ "$mode" = poll ] && xro+=",mpdev-mode=poll"
	E2E_REMOTE_ARGS=("$qemu" -machine x-remote -nodefaults -no-user-config
		-display none "$@" -object "$xro"
		-qmp "unix:@RUNDIR@/@ID@.qmp,server=on,wait=off")
}

# e2e_qom SOCKET FILE PROP...: robj0's QOM counters (x-remote-object,
# see e2e_xremote_args) over the remote's QMP socket, into FILE as
# PROP=VALUE lines and into the array q[]
declare -A q=()
e2e_qom() {
	local sock=$1 file=$2 k v
	shift 2
	q=()
	python3 "$E2E_DIR/qom-get.py" "$sock" /objects/robj0 "$@" >"$file" 2>&1
	while IFS='=' read -r k v; do
		[ -n "$k" ] && q[$k]=$v
	done <"$file"
}

# e2e_zp_state FILE: mpqemu-run --zero-patch's state file (RUNDIR/ID.zero-
# patch, key=value lines) into the array zs[]; e2e_zn KEY: zs[KEY] if it is
# a number, else -1 (so that every comparison with a missing or garbled
# value fails); e2e_zp_attach_re ID PID: the ERE of its line saying it
# attached QEMU PID's VM for proxy ID
declare -A zs=()
e2e_zp_state() {
	local k v
	zs=()
	while IFS='=' read -r k v; do
		[[ $k == [a-z]* ]] && zs[$k]=$v
	done <"$1" 2>/dev/null
}
e2e_zn() { if [[ ${zs[$1]:-} =~ ^[0-9]+$ ]]; then echo "${zs[$1]}"; else echo -1; fi; }
e2e_zp_attach_re() {
	echo "zero-patch: proxy $1: QEMU's KVM VM \(pid $2\) attached to mpdev, backend handed to the remote"
}

# e2e_kv NAME: the associative array NAME (rs, zs, ...) as sorted
# "key=value " pairs, for a diagnostic line
e2e_kv() {
	local -n a=$1
	local k
	for k in $(printf '%s\n' "${!a[@]}" | sort); do printf '%s=%s ' "$k" "${a[$k]}"; done
}
# e2e_line_kv LINE KEY: the value of KEY=value in a guest's one-line report
# (E2E-MSIX, E2E-BAR64, E2E-MOVEREAD, ...)
e2e_line_kv() { sed -n "s/.* $2=\([^ ]*\).*/\1/p" <<<"$1"; }

# e2e_pin: as the benchmark measures, the nested guest's vCPU n (0, 1)
# ("CPU n/KVM" of $qemu_pid) on the test VM's CPU n and every thread of the
# remote ($remote_pid, if any) on CPU 1
e2e_pin() {
	local t c
	for t in /proc/"$qemu_pid"/task/*; do
		c=$(cat "$t/comm" 2>/dev/null)
		[[ $c =~ ^CPU\ ([01])/KVM$ ]] && taskset -p -c "${BASH_REMATCH[1]}" "${t##*/}" >/dev/null
	done
	[ -z "$remote_pid" ] || taskset -a -p -c 1 "$remote_pid" >/dev/null
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

e2e_note() { printf '# %s\n' "$@"; }

mpid='' remote_pid='' qemu_pid=''
e2e_start() {
	local dir=$1 p rp=''
	shift
	: >"$dir/guest.tap"
	: >"$dir/serial.log"
	: >"$dir/qemu-debug.log"
	remote_pid='' qemu_pid=''
	e2e_trace_resets
	[ ! -w "${E2E_KVM_EXIT%/events/*}/trace" ] || : >"${E2E_KVM_EXIT%/events/*}/trace"
	[ -z "${E2E_RUNDIR:-}" ] || rm -f "$E2E_RUNDIR"/*.pid "$E2E_RUNDIR"/*.exit
	if [ "${E2E_INPROC:-0}" = 1 ]; then
		# No remote: CMD is QEMU itself, which takes no "--".
		"$@" "${E2E_QEMU_ARGS[@]}" </dev/null >"$dir/qemu.out" 2>"$dir/mpqemu-run.err" &
		mpid=$! qemu_pid=$!
		sleep 0.2
		kill -0 "$mpid" 2>/dev/null
		return
	fi
	"$@" -- "${E2E_QEMU_ARGS[@]}" </dev/null >"$dir/qemu.out" 2>"$dir/mpqemu-run.err" &
	mpid=$!
	# mpqemu-run's children, told apart by executable; remotes started
	# with --remote-cmd (QEMU's own, say) by the pid files mpqemu-run
	# writes into its --run-dir (E2E_RUNDIR): QEMU is the other child.
	for _ in $(seq 100); do
		if [ -n "${E2E_RUNDIR:-}" ]; then
			rp=$(cat "$E2E_RUNDIR"/*.pid 2>/dev/null)
			remote_pid=${rp%%$'\n'*}
		fi
		# shellcheck disable=SC2013 # pids, one word each
		for p in $(cat /proc/"$mpid"/task/*/children 2>/dev/null); do
			if [ -n "${E2E_RUNDIR:-}" ]; then
				[ -n "$rp" ] && ! grep -qx "$p" <<<"$rp" && qemu_pid=$p
				continue
			fi
			case $(readlink "/proc/$p/exe" 2>/dev/null) in
			*/mpdev-remote) remote_pid=$p ;;
			*qemu-system*) qemu_pid=$p ;;
			esac
		done
		[ -n "$remote_pid" ] && [ -n "$qemu_pid" ] && return 0
		kill -0 "$mpid" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

e2e_stop() {
	local p
	[ -n "$mpid" ] || return 0
	kill -CONT "$mpid" 2>/dev/null
	kill -TERM "$mpid" 2>/dev/null
	for _ in $(seq 20); do kill -0 "$mpid" 2>/dev/null || break; sleep 0.5; done
	if kill -0 "$mpid" 2>/dev/null; then
		kill -KILL "$mpid" 2>/dev/null
		# the children are in process groups of their own: by pid
		for p in $remote_pid $qemu_pid; do kill -KILL "$p" 2>/dev/null; done
	fi
	wait "$mpid" 2>/dev/null
	mpid=''
}

e2e_tail_logs() {
	local f
	for f in serial.log guest.tap mpqemu-run.err qemu-debug.log; do
		[ -s "$1/$f" ] || continue
		e2e_note "--- last lines of $f:"
		tail -n "${2:-15}" "$1/$f" | tr -d '\r' | sed 's/^/  /' |
			while IFS= read -r l; do e2e_note "$l"; done
	done
}

# A guest that resets itself (a triple fault) just stops QEMU, which
# runs with -no-reboot, and QEMU says nothing (it logs no CPU reset
# either).  KVM sees it: the test VM's kernel records KVM's shutdown exits
# (SVM) and triple-fault exits (VMX), with the guest's rip, in tracefs; the
# filter makes every other exit free.  e2e_start clears the buffer.
E2E_KVM_EXIT=/sys/kernel/tracing/events/kvm/kvm_exit
e2e_trace_resets() {
	[ "${MPDEV_IN_VM:-0}" = 1 ] && [ -w "$E2E_KVM_EXIT/filter" ] || return 0
	[ "$(cat "$E2E_KVM_EXIT/enable" 2>/dev/null)" = 1 ] && return 0
	{ echo '(isa == 2 && exit_reason == 127) || (isa == 1 && exit_reason == 2)' >"$E2E_KVM_EXIT/filter" ||
		echo 'exit_reason == 127' >"$E2E_KVM_EXIT/filter"; } 2>/dev/null &&
		echo 1 >"$E2E_KVM_EXIT/enable" 2>/dev/null
}

# Why mpqemu-run (or QEMU) is gone: its status, QEMU's resets, and any
# shutdown exit KVM recorded since e2e_start.
e2e_why_gone() {
	local rc resets
	[ -n "$mpid" ] && ! kill -0 "$mpid" 2>/dev/null || return 0
	wait "$mpid"
	rc=$?
	mpid=''
	resets=$(grep -c 'CPU Reset' "$1/qemu-debug.log" 2>/dev/null)
	e2e_note "mpqemu-run exited with status $rc; QEMU logged ${resets:-0} CPU resets (2 at start-up)"
	[ "${resets:-0}" -le 2 ] ||
		e2e_note "the nested guest reset itself: register dumps in qemu-debug.log"
	[ -r "${E2E_KVM_EXIT%/events/*}/trace" ] || return 0
	# a pipe: the test VM has no /dev/fd for process substitution
	grep 'kvm_exit:' "${E2E_KVM_EXIT%/events/*}/trace" | head -n 4 |
		while IFS= read -r l; do
			e2e_note "the nested guest reset itself (triple fault), KVM saw: ${l#*kvm_exit: }"
		done
}

declare -A rs=()
e2e_remote_stats() {
	local k v rc
	rs=()
	rm -f "$1"
	kill -USR1 "$remote_pid" 2>/dev/null
	e2e_wait "$1" '^dev\.' 15 "$remote_pid"
	rc=$?
	# key=value lines into the array, without a fork per value
	while IFS='=' read -r k v; do
		[[ $k == [a-z]* ]] && rs[$k]=$v
	done <"$1" 2>/dev/null
	return "$rc"
}

# A nested guest under TCG's emulated SVM very rarely dies before its
# kernel is up (QEMU, with -no-reboot, then just exits): about one boot in
# forty on a loaded machine, never twice in a row.  Such a boot gets one
# more try, said in a note; a device or remote that keeps the guest from
# booting still fails every try.
e2e_boot() {
	local dir=$1 tries=$2 secs=$3 t0
	shift 3
	E2E_BOOT_LIMIT=$secs
	for E2E_BOOT_TRY in $(seq "$tries"); do
		t0=$SECONDS
		if ! e2e_start "$dir" "$@"; then
			E2E_BOOT_RC=3 E2E_BOOT_SECS=$((SECONDS - t0))
			e2e_why_gone "$dir"
			return 3
		fi
		e2e_wait "$dir/guest.tap" '^# mpdev-(guest|io): run' "$secs" "$mpid"
		E2E_BOOT_RC=$? E2E_BOOT_SECS=$((SECONDS - t0))
		[ "$E2E_BOOT_RC" -eq 0 ] && return 0
		e2e_note "try $E2E_BOOT_TRY: $([ "$E2E_BOOT_RC" -eq 1 ] && echo "no guest tool after ${secs}s" ||
			echo 'QEMU stopped before the guest tool started')"
		e2e_tail_logs "$dir" 10
		e2e_why_gone "$dir"
		[ "$E2E_BOOT_TRY" -lt "$tries" ] || break
		e2e_stop
		mkdir -p "$dir/try$E2E_BOOT_TRY" &&
			cp "$dir"/*.log "$dir"/*.err "$dir/try$E2E_BOOT_TRY/" 2>/dev/null
		e2e_note "booting the nested guest again"
	done
	return "$E2E_BOOT_RC"
}

e2e_boot_tap() {
	local up
	up=$(sed -n -E 's/^# mpdev-(guest|io): run \(uptime ([0-9.]*) s\).*/\2/p' "$1/guest.tap" | head -n1)
	case $E2E_BOOT_RC in
	0) t_pass "${E2E_TAP_PREFIX:-}nested guest booted under -accel kvm, $(grep -q -m1 '^# mpdev-io: run' "$1/guest.tap" && echo mpdev-io || echo mpdev-guest) started (${E2E_BOOT_SECS}s after QEMU start, guest uptime ${up}s$([ "$E2E_BOOT_TRY" -gt 1 ] && echo ", try $E2E_BOOT_TRY"))"
	   return 0 ;;
	1) E2E_WHY="nested guest booted within ${E2E_BOOT_LIMIT}s (TIMEOUT, $E2E_BOOT_TRY tries)" ;;
	*) E2E_WHY="nested guest booted (QEMU stopped first, $E2E_BOOT_TRY tries)" ;;
	esac
	return 1
}

# (No process substitution: the test VM has no /dev/fd.)
e2e_guest_tap() {
	local line st desc
	E2E_NGUEST=0 E2E_PLAN=''
	tr -d '\r' <"$1/guest.tap" >"$1/guest.tap.txt"
	while IFS= read -r line; do
		if [[ $line =~ ^(not )?ok\ [0-9]+\ (-\ )?(.*)$ ]]; then
			E2E_NGUEST=$((E2E_NGUEST + 1))
			st=0
			[ -z "${BASH_REMATCH[1]}" ] || st=1
			desc=${BASH_REMATCH[3]}
			if [[ $desc =~ ^(.*)\ \#\ ((SKIP|TODO).*)$ ]]; then
				t_ok "$st" "${E2E_TAP_PREFIX:-}guest: ${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}"
			else
				t_ok "$st" "${E2E_TAP_PREFIX:-}guest: $desc"
			fi
		elif [[ $line =~ ^1\.\.([0-9]+)$ ]]; then
			E2E_PLAN=${BASH_REMATCH[1]}
		elif [[ $line == "#"* || $line == BENCH* || $line == BLKBENCH* ]]; then
			echo "# guest: ${line#\# }"
		fi
	done <"$1/guest.tap.txt"
}

e2e_save_logs() {
	local dst
	if [ -n "${MPDEV_OUT:-}" ] && [ -d "$MPDEV_OUT" ] && [ -w "$MPDEV_OUT" ]; then
		dst=$MPDEV_OUT/$2
		rm -rf "$dst" && mkdir -p "$dst" && cp -a "$1"/. "$dst"/ 2>/dev/null &&
			t_diag "logs: $dst (build/vm-out/$2 on the host)"
	else
		t_diag "logs: $1"
	fi
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
