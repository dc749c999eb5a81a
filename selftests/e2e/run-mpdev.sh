#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# run-mpdev.sh - end-to-end test of the mpdev fast path (issue 5), run
# INSIDE the test VM, where /dev/kvm is a real (nested) KVM and mpdev.ko is
# loaded (vm-run does both):
#
#   selftests/vm/vm-run --timeout 900 -- selftests/e2e/run-mpdev.sh
#
# The same nested guest and guest steps as run-classic.sh, but QEMU is the
# patched one (userspace/qemu-patch) started by "mpqemu-run --mpdev": it
# opens /dev/mpdev, QEMU registers the proxy's BARs with mpdev and hands the
# backend fd to mpdev-remote, so KVM sends the guest's BAR accesses to the
# remote through mpdev instead of through QEMU and the mpqemu socket.
#
#  1. boot (the remote's testdev with --device-arg bar64=1: a 64-bit BAR4
#     beside the default BARs); the guest runs check (WITHOUT
#     --xfail-split8: on the fast path an 8-byte access reaches the device
#     whole), dma, movebar (BAR0 moved through config space: works at the
#     new address, dead at the old one), movebar --bar 4 (the 64-bit BAR4
#     moved the same way to a free address above 4 GiB, both dwords),
#     msix (its mpdev_msix driver counts each MSI-X vector's interrupts:
#     exact counts, Function Mask, a vector masked in the VMM's table),
#     one short bench, then keeps reading BAR0 (hold);
#  2. proof of the fast path: the remote's counters show the BAR accesses
#     served from the mpdev backend (mpdev.reads/writes > 0), every one
#     routed by the cookie QEMU gave its region (mpdev.by_cookie), and not
#     one BAR_READ/BAR_WRITE socket message; QEMU did not warn that it
#     fell back; the proxy handed over the MSI-X eventfds, the table and
#     PBA never reached the remote, and each vector was signalled as often
#     as the guest raised it; every BAR4 access the guest made (E2E-BAR64
#     reads=/writes=) reached the device (dev.bar4_reads/writes) with no
#     socket message; mpdevctl (if built) shows mpdev's own counters > 0, the
#     ring, the context's footprint and the regions' cookies, and BAR4's
#     region at its guest-physical address above 4 GiB with traffic;
#  3. the remote killed (SIGKILL) while the guest reads BAR0: the guest's
#     reads return all-ones, its vCPU does not hang, and mpqemu-run reports
#     the remote's death and stops QEMU.  mpqemu-run reacts within
#     milliseconds, so the guest would rarely get a read in between; to
#     observe the guest side deterministically, mpqemu-run is held with
#     SIGSTOP around the kill and released with SIGCONT once the guest has
#     reported the all-ones read (its SIGCHLD stays pending meanwhile).
#
# Zero-patch mode (MPDEV_E2E_ZERO_PATCH=1):
#
#   selftests/vm/vm-run --timeout 900 -- env MPDEV_E2E_ZERO_PATCH=1 selftests/e2e/run-mpdev.sh
#
# The same fast path with Debian's stock, unmodified QEMU as the VMM
# (MPDEV_E2E_QEMU, else /usr/bin/qemu-system-x86_64; selftests/e2e/
# qemu-chroot for sid's): "mpqemu-run --zero-patch" relays the proxy's
# mpqemu socket, takes QEMU's KVM VM fd (pidfd_getfd), creates the mpdev
# context, hands the backend to the remote and registers the BARs where
# QMP's query-pci says QEMU put them.  The stock proxy has no MSI-X and
# only 32-bit BARs: the testdev runs without --device-arg, the guest steps
# are check (still WITHOUT --xfail-split8), dma, movebar, movebar
# --reader --overlap (a second vCPU reading the old address during
# repeated moves, through the config writes themselves: the nested guest
# gets 2 vCPUs) and bench.  The checks of the patched VMM's own work (QEMU got the mpdev fd,
# MSI-X eventfds, BAR4 above 4 GiB) give way to mpqemu-run's: its attach
# message and its state file (run/mpdev0.zero-patch: VM attached, backend
# handed over, regions added, removed around movebar's config writes,
# none refused), the context owned by mpqemu-run; the route checks (2.)
# and the remote's kill (3.) stay.  Then three more runs, each a fresh
# mpqemu-run, QEMU and remote:
#  4. orchestrator killed: the guest runs check, then holds; mpqemu-run
#     gets SIGKILL: it dies, QEMU (through PR_SET_PDEATHSIG) exits within
#     15 s with no thread in D state meanwhile (but for the kernel's own
#     teardown inside do_exit(), e.g. of KVM's VM, said and not counted),
#     the remote exits, and mpdev drops the context (mpdevctl lists none);
#  5. QMP lying: mpqemu-run talks to QEMU's QMP through qmp-liar.py, which
#     moves BAR0's address by 1 MiB in every query-pci reply: mpqemu-run
#     refuses BAR0 (its message, refused= in the state file), no region at
#     the lying address or with BAR0's cookie, BAR0 served over the socket
#     (the remote's socket.bar_read > 0) and the guest's check still passes
#     (with --xfail-split8: the socket path splits 8-byte accesses);
#  6. QMP unavailable (--qmp /nonexistent/x.qmp): mpqemu-run says the BARs
#     stay on the socket path, keeps running, registers no region; this one
#     does not wait for the guest.
#
# Output: TAP with the time of every stage and the closing "N passed, N
# failed, N skipped"; exit status 0 only if everything passed.  Logs go to
# $MPDEV_OUT/e2e-mpdev/ (build/vm-out/e2e-mpdev on the host; e2e-zero-patch
# in zero-patch mode) when MPDEV_OUT is set, else stay in the work
# directory, which is printed.
#
# Environment (MPDEV_* because vm-run passes those into the VM):
#   MPDEV_E2E_ZERO_PATCH     1: zero-patch mode (default 0)
#   MPDEV_E2E_POLL           1: the remote busy-polls the ring (--poll); a
#                            check that it served the ring, and logs in
#                            e2e-mpdev-poll (default 0: blocking)
#   MPDEV_QEMU_PATCHED       patched QEMU (default: build-qemu.sh --print-path)
#   MPDEV_E2E_QEMU           zero-patch: the stock VMM QEMU (default
#                            /usr/bin/qemu-system-x86_64), e.g.
#                            selftests/e2e/qemu-chroot with MPDEV_QEMU_CHROOT
#   MPDEV_E2E_RUN            guest steps (default check,dma,movebar,movebar:--bar:4,msix,bench:...;
#                            zero-patch: check,dma,movebar,movebar:--reader:--overlap,bench:...)
#   MPDEV_E2E_DEVICE_ARG     the testdev's --device-arg (default bar64=1;
#                            zero-patch: none)
#   MPDEV_E2E_LOG_NAME       the logs' directory under MPDEV_OUT (default
#                            e2e-mpdev, zero-patch: e2e-zero-patch)
#   MPDEV_E2E_BOOT_TIMEOUT   seconds until mpdev-guest starts (default 240)
#   MPDEV_E2E_RUN_TIMEOUT    seconds for the guest steps (default 300)
#   MPDEV_E2E_KILL_TIMEOUT   seconds for all-ones / mpqemu-run to stop (30)
#   MPDEV_E2E_BOOT_TRIES     boots tried before giving up (default 2)
#   MPDEV_E2E_BUILD          where mkguest.sh wrote (default build/e2e)
#   MPDEV_MPQEMU_RUN, MPDEV_REMOTE, MPDEV_MPDEVCTL   binaries
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"

ZP=${MPDEV_E2E_ZERO_PATCH:-0}
POLL=${MPDEV_E2E_POLL:-0}
if [ "$ZP" = 1 ]; then
	# Set after the preflight: movebar:--reader if the guest tool has it.
	RUN_STEPS=${MPDEV_E2E_RUN:-}
	DEVICE_ARG=${MPDEV_E2E_DEVICE_ARG-}
	LOG_NAME=${MPDEV_E2E_LOG_NAME:-e2e-zero-patch}
else
	RUN_STEPS=${MPDEV_E2E_RUN:-check,dma,movebar,movebar:--bar:4,msix,bench:-n:300:--sizes:4}
	DEVICE_ARG=${MPDEV_E2E_DEVICE_ARG-bar64=1}
	LOG_NAME=${MPDEV_E2E_LOG_NAME:-e2e-mpdev$([ "$POLL" = 1 ] && echo -poll)}
fi
# mpqemu-run's default proxy id (run-mpdev.sh gives no --proxy)
PROXY=mpdev0
BOOT_TO=${MPDEV_E2E_BOOT_TIMEOUT:-240}
RUN_TO=${MPDEV_E2E_RUN_TIMEOUT:-300}
KILL_TO=${MPDEV_E2E_KILL_TIMEOUT:-30}
MPQEMU_RUN=${MPDEV_MPQEMU_RUN:-$E2E_REPO/userspace/build/mpqemu-run}
MPDEV_REMOTE=${MPDEV_REMOTE:-$E2E_REPO/userspace/build/mpdev-remote}
MPDEVCTL=${MPDEV_MPDEVCTL:-$E2E_REPO/userspace/mpdevctl/mpdevctl}

work=$(mktemp -d /tmp/e2e-mpdev.XXXXXX)
mpid='' remote_pid='' qemu_pid='' stopped=0 liar_pid=''
timings=()
stage_t0=$SECONDS
stage_done() { timings+=("$1=$((SECONDS - stage_t0))s"); stage_t0=$SECONDS; }

save_logs() { e2e_save_logs "$work" "$LOG_NAME"; }
cleanup() {
	e2e_stop
	[ -z "$liar_pid" ] || kill "$liar_pid" 2>/dev/null
}
trap cleanup EXIT
tail_logs() { e2e_tail_logs "$work" "$@"; }
why_gone() { e2e_why_gone "$work"; }
# Give up: every remaining check fails, with the logs shown.
bail() {
	t_fail "$1"
	why_gone
	tail_logs 25
	t_diag "timings: ${timings[*]}"
	save_logs
	t_done
	exit 1
}

echo "TAP version 13"
if [ "$ZP" = 1 ]; then
	t_diag "e2e-zero-patch: stock QEMU -accel kvm + x-pci-proxy-dev, mpqemu-run --zero-patch + mpdev-remote (mpdev fast path without a patched VMM)"
else
	t_diag "e2e-mpdev: patched QEMU -accel kvm + x-pci-proxy-dev,mpdev-fd + mpdev-remote (mpdev fast path)"
fi

# ------------------------------------------------------------ preflight
[ "${MPDEV_IN_VM:-0}" = 1 ] || bail "preflight: running inside the test VM (use selftests/vm/vm-run)"
[ -c /dev/kvm ] || bail "preflight: /dev/kvm present"
[ -c /dev/mpdev ] || bail "preflight: /dev/mpdev present (mpdev.ko loaded; vm-run loads kmod/mpdev.ko)"
if [ "$ZP" = 1 ]; then
	QEMU=${MPDEV_E2E_QEMU:-/usr/bin/qemu-system-x86_64}
	[ -x "$QEMU" ] || bail "preflight: stock QEMU $QEMU (MPDEV_E2E_QEMU)"
else
	QEMU=${MPDEV_QEMU_PATCHED:-$("$E2E_REPO/userspace/qemu-patch/build-qemu.sh" --print-path 2>/dev/null | tail -n1)}
	{ [ -n "$QEMU" ] && [ -x "$QEMU" ]; } ||
		bail "preflight: patched QEMU built (userspace/qemu-patch/build-qemu.sh on the host, or MPDEV_QEMU_PATCHED)"
fi
{ [ -x "$MPQEMU_RUN" ] && [ -x "$MPDEV_REMOTE" ]; } ||
	bail "preflight: $MPQEMU_RUN and $MPDEV_REMOTE built (make -C userspace)"
if [ "$ZP" = 1 ]; then
	"$MPQEMU_RUN" --help 2>&1 | grep -q -e '--zero-patch' ||
		bail "preflight: $MPQEMU_RUN has --zero-patch (mpqemu-run --help)"
	[ "$(id -u)" = 0 ] || bail "preflight: root (mpqemu-run --zero-patch uses pidfd_getfd)"
fi
e2e_guest_env 2>"$work/env.err" || bail "preflight: nested guest built ($(cat "$work/env.err"))"
if [ "$ZP" = 1 ] && [ -z "$RUN_STEPS" ]; then
	# movebar --reader --overlap: a second vCPU keeps reading the old BAR0
	# address while BAR0 is moved again and again, through the decode-off
	# write itself, which is the window the relay's removal must close.
	# (Stock QEMU's own slow path deadlocks there, see mpdev-guest.c; on
	# the fast path the old address never reaches the proxy's handler.)
	RUN_STEPS=check,dma,movebar,movebar:--reader:--overlap,bench:-n:300:--sizes:4
fi
# movebar --reader needs a second vCPU in the nested guest.
SMP=1
[[ ,$RUN_STEPS, != *,movebar:*--reader* ]] || SMP=2
have_ctl=0
"$MPDEVCTL" show >/dev/null 2>&1 && have_ctl=1
if [ "$ZP" = 1 ]; then
	t_diag "stock QEMU: $QEMU ($("$QEMU" --version | head -n1))"
else
	t_diag "patched QEMU: $QEMU ($("$QEMU" --version | head -n1))"
fi
t_diag "nested guest: $E2E_KERNEL_KIND kernel $E2E_KERNEL, $E2E_INITRD"
t_diag "guest steps: $RUN_STEPS"
[ "$SMP" = 1 ] || t_diag "nested guest: $SMP vCPUs (movebar --reader)"
t_diag "testdev: --device-arg ${DEVICE_ARG:-(none)}"
t_diag "mpdevctl: $([ "$have_ctl" = 1 ] && echo "$MPDEVCTL" || echo 'not available, its checks are skipped')"

# ------------------------------------------------------- start and boot
e2e_qemu_args "$work" "$E2E_APPEND e2e.run=$RUN_STEPS e2e.end=hold" 256M "$SMP"
if [ "$ZP" = 1 ]; then
	# zp_mpq DIR [MPQEMU-RUN-ARGS...]: a zero-patch mpqemu-run whose remote
	# keeps its counters in DIR, its state in DIR/run, into the array MPQ
	zp_mpq() {
		local d=$1
		shift
		MPQ=("$MPQEMU_RUN" --qemu "$QEMU" --zero-patch --run-dir "$d/run" "$@"
			--remote "$MPDEV_REMOTE" --remote-arg "--stats-file=$d/remote.stats" -v)
		[ -z "$DEVICE_ARG" ] || MPQ+=(--remote-arg "--device-arg=$DEVICE_ARG")
	}
	zp_mpq "$work"
else
	MPQ=("$MPQEMU_RUN" --qemu "$QEMU" --mpdev --remote "$MPDEV_REMOTE"
		--remote-arg "--stats-file=$work/remote.stats" -v)
	[ -z "$DEVICE_ARG" ] || MPQ+=(--remote-arg "--device-arg=$DEVICE_ARG")
	[ "$POLL" = 0 ] || MPQ+=(--remote-arg --poll)
fi
printf '%q ' "${MPQ[@]}" -- "${E2E_QEMU_ARGS[@]}" >"$work/cmdline"

e2e_boot "$work" "${MPDEV_E2E_BOOT_TRIES:-2}" "$BOOT_TO" "${MPQ[@]}"
timings+=("boot=${E2E_BOOT_SECS}s")
stage_t0=$SECONDS
if [ "$ZP" = 1 ]; then
	[ "$E2E_BOOT_RC" -eq 3 ] && { t_fail "mpqemu-run --zero-patch started mpdev-remote and stock QEMU"; bail "mpqemu-run running (see mpqemu-run.err)"; }
	t_pass "mpqemu-run --zero-patch started mpdev-remote (pid $remote_pid) and stock QEMU (pid $qemu_pid)"
	msg=$(grep -m1 -E -- "$(e2e_zp_attach_re "$PROXY" "$qemu_pid")" "$work/mpqemu-run.err")
	t_ok "$([ -n "$msg" ]; echo $?)" \
		"zero-patch: mpqemu-run took QEMU's KVM VM (pid $qemu_pid) and handed the backend over: '${msg:-$(grep -m1 'zero-patch:' "$work/mpqemu-run.err" || echo 'no such message')}'"
else
	[ "$E2E_BOOT_RC" -eq 3 ] && { t_fail "mpqemu-run --mpdev started mpdev-remote and the patched QEMU"; bail "mpqemu-run running (see mpqemu-run.err)"; }
	t_pass "mpqemu-run --mpdev started mpdev-remote (pid $remote_pid) and the patched QEMU (pid $qemu_pid)"
	t_ok "$(grep -q -E -- '(mpdev-fd|mpdev_fd)=[0-9]+' "$work/mpqemu-run.err"; echo $?)" \
		"QEMU got the /dev/mpdev fd: $(grep -o -E -- '-device [^ ]*mpdev-fd=[0-9]+' "$work/mpqemu-run.err" | head -n1)"
fi
e2e_boot_tap "$work" || bail "$E2E_WHY"

# ----------------------------------------------------------- guest steps
e2e_wait "$work/guest.tap" '^E2E-GUEST-DONE' "$RUN_TO" "$mpid"
rc=$?
stage_done guest-steps
e2e_guest_tap "$work"
nguest=$E2E_NGUEST plan=$E2E_PLAN
if [ "$rc" -ne 0 ]; then
	bail "guest steps finished within ${RUN_TO}s ($nguest checks reported; $([ "$rc" -eq 1 ] && echo TIMEOUT || echo 'QEMU stopped'))"
fi
t_ok "$([ -n "$plan" ] && [ "$plan" -eq "$nguest" ] && [ "$nguest" -gt 0 ]; echo $?)" \
	"guest: all $nguest checks reported (plan 1..${plan:-?}) in ${timings[-1]#guest-steps=}"
t_ok "$(grep -q -E '^E2E-GUEST-DONE .*todo=0' "$work/guest.tap.txt"; echo $?)" \
	"guest: no known failure left (8-byte accesses whole, no TODO): $(grep -E '^E2E-GUEST-DONE' "$work/guest.tap.txt" | head -n1)"

e2e_wait "$work/guest.tap" '^E2E-HOLD' 60 "$mpid" ||
	bail "guest: holds BAR0 busy after its steps (E2E-HOLD)"
stage_done hold

# ------------------------------------------------ proof of the fast path
e2e_remote_stats "$work/remote.stats" ||
	t_fail "remote wrote its counters on SIGUSR1 ($work/remote.stats)"
t_diag "remote counters: $(e2e_kv rs)"
t_ok "$([ "${rs[socket.mpdev_backend]:-0}" -ge 1 ]; echo $?)" \
	"remote: $([ "$ZP" = 1 ] && echo mpqemu-run || echo QEMU) handed it the mpdev backend (socket.mpdev_backend=${rs[socket.mpdev_backend]:-?})"
t_ok "$([ "${rs[mpdev.reads]:-0}" -gt 1000 ] && [ "${rs[mpdev.writes]:-0}" -gt 500 ]; echo $?)" \
	"remote: the guest's BAR accesses came through mpdev (mpdev.reads=${rs[mpdev.reads]:-?}, mpdev.writes=${rs[mpdev.writes]:-?}, completions=${rs[mpdev.completions]:-?})"
t_ok "$([ "${rs[mpdev.by_cookie]:-0}" -gt 0 ] && [ "${rs[mpdev.by_cookie]:-0}" -eq $(( ${rs[mpdev.reads]:-0} + ${rs[mpdev.writes]:-0} )) ]; echo $?)" \
	"remote: every mpdev request carried its region's cookie (mpdev.by_cookie=${rs[mpdev.by_cookie]:-?} of $(( ${rs[mpdev.reads]:-0} + ${rs[mpdev.writes]:-0} )))"
t_ok "$([ -n "${rs[socket.bar_read]:-}" ] && [ "${rs[socket.bar_read]}" -eq 0 ] && [ "${rs[socket.bar_write]:-1}" -eq 0 ]; echo $?)" \
	"remote: zero BAR messages on the mpqemu socket (socket.bar_read=${rs[socket.bar_read]:-?}, socket.bar_write=${rs[socket.bar_write]:-?})"
if [ "$POLL" = 1 ]; then
	t_ok "$([ "${rs[mpdev.ring_batches]:-0}" -gt 0 ]; echo $?)" \
		"remote: it busy-polled the shared ring (mpdev.ring_batches=${rs[mpdev.ring_batches]:-?}, mpdev.fd_batches=${rs[mpdev.fd_batches]:-?})"
fi
t_ok "$([ "${rs[mpdev.bad_requests]:-1}" -eq 0 ] && [ "${rs[socket.bad_msgs]:-1}" -eq 0 ]; echo $?)" \
	"remote: no request or message rejected (mpdev.bad_requests=${rs[mpdev.bad_requests]:-?}, socket.bad_msgs=${rs[socket.bad_msgs]:-?})"
t_ok "$([ "${rs[intx.signals]:-0}" -ge 9 ] && [ "${rs[intx.resamples]:-0}" -ge 9 ] && [ "${rs[dev.dma_ok]:-0}" -ge 4 ]; echo $?)" \
	"remote: DMA and INTx (irqfd + resample) still work beside the fast path (${rs[dev.dma_ok]:-?} DMA, ${rs[intx.signals]:-?} signals, ${rs[intx.resamples]:-?} resamples)"
# Zero-patch: what mpqemu-run says it did (its state file, rewritten
# after every change), instead of the patched VMM's MSI-X and BAR4.
if [ "$ZP" = 1 ]; then
	e2e_zp_state "$work/run/$PROXY.zero-patch"
	t_diag "zero-patch state ($work/run/$PROXY.zero-patch): $(e2e_kv zs)"
	t_ok "$([ "$(e2e_zn vm_attached)" -eq 1 ] && [ "$(e2e_zn backend)" -eq 1 ]; echo $?)" \
		"zero-patch: $PROXY.zero-patch says QEMU's VM attached and the backend handed over (vm_attached=${zs[vm_attached]:-?}, backend=${zs[backend]:-?})"
	t_ok "$([ "$(e2e_zn regions_now)" -ge 2 ] && [ "$(e2e_zn regions_added)" -ge 2 ] && [ "$(e2e_zn refused)" -eq 0 ]; echo $?)" \
		"zero-patch: BAR0 and BAR1 registered from QMP, none refused (regions_now=${zs[regions_now]:-?}, regions_added=${zs[regions_added]:-?}, refused=${zs[refused]:-?}${zs[last_refusal]:+, last_refusal='${zs[last_refusal]}'})"
	t_ok "$([ "$(e2e_zn bar_cfg_writes)" -gt 0 ] && [ "$(e2e_zn qmp_queries)" -gt 0 ] &&
		[ "$(e2e_zn cfg_writes)" -ge "$(e2e_zn bar_cfg_writes)" ]; echo $?)" \
		"zero-patch: the guest's config writes to the command/BAR registers seen on the relay and QMP asked (bar_cfg_writes=${zs[bar_cfg_writes]:-?} of cfg_writes=${zs[cfg_writes]:-?}, qmp_queries=${zs[qmp_queries]:-?})"
	if [[ ,$RUN_STEPS, == *,movebar[,:]* ]]; then
		t_ok "$([ "$(e2e_zn regions_removed)" -gt 0 ] &&
			[ $(( $(e2e_zn regions_added) - $(e2e_zn regions_removed) )) -eq "$(e2e_zn regions_now)" ]; echo $?)" \
			"zero-patch: regions removed and added again around movebar's BAR writes, the count adds up (added ${zs[regions_added]:-?} - removed ${zs[regions_removed]:-?} = now ${zs[regions_now]:-?})"
	else
		t_ok 0 "zero-patch: regions removed around movebar's BAR writes" "SKIP movebar not among the guest steps"
	fi
fi
# movebar --reader: a second vCPU read the old BAR0 address while BAR0 was
# moved again and again; after each move had completed, not one of its
# reads may have reached the device (E2E-MOVEREAD after_bad=0), and some
# must have been made at all (after_ok > 0).
rline=$(tr -d '\r' <"$work/guest.tap" | grep -m1 '^E2E-MOVEREAD ')
if [ -n "$rline" ]; then
	rok=$(e2e_line_kv "$rline" after_ok) rbad=$(e2e_line_kv "$rline" after_bad)
	t_ok "$([[ $rok =~ ^[0-9]+$ && $rbad =~ ^[0-9]+$ ]] && [ "$rbad" -eq 0 ] && [ "$rok" -gt 0 ]; echo $?)" \
		"guest: movebar --reader: no read of the old BAR0 address reached the device once a move was done (rounds=$(e2e_line_kv "$rline" rounds), before=$(e2e_line_kv "$rline" before), after_ok=${rok:-?}, after_bad=${rbad:-?})"
elif [[ ,$RUN_STEPS, == *,movebar:*--reader* ]]; then
	t_fail "guest: movebar --reader: reads of the old BAR0 address during the moves (no E2E-MOVEREAD line from the guest)"
fi
# MSI-X: the guest's msix step says what it sent towards the remote
# (E2E-MSIX sent=per-vector raises the remote had to signal, held=raises
# held by the Function Mask, flushed=held vectors sent on unmask).
mline=$(tr -d '\r' <"$work/guest.tap" | grep -m1 '^E2E-MSIX ')
if [ "$ZP" = 1 ]; then
	:	# the stock proxy has no MSI-X
elif [ -n "$mline" ]; then
	mn=$(e2e_line_kv "$mline" vectors) msent=$(e2e_line_kv "$mline" sent) mheld=$(e2e_line_kv "$mline" held) mflushed=$(e2e_line_kv "$mline" flushed)
	rsig=
	for ((i = 0; i < ${mn:-0}; i++)); do rsig+="${rsig:+,}${rs[msix.vec$i.signalled]:-?}"; done
	t_ok "$([ "${rs[msix.vectors]:-0}" = "$mn" ] && [ "${rs[msix.fds]:-0}" = "$mn" ] &&
		[ "${rs[msix.fd_msgs]:-0}" -eq $(( (mn + 7) / 8 )) ] && [ "${rs[msix.declined]:-1}" -eq 0 ]; echo $?)" \
		"remote: the proxy handed over the eventfds of all ${mn:-?} MSI-X vectors (msix.fds=${rs[msix.fds]:-?} in ${rs[msix.fd_msgs]:-?} message(s), declined=${rs[msix.declined]:-?})"
	t_ok "$([ -n "${rs[msix.table_accesses]:-}" ] && [ "${rs[msix.table_accesses]}" -eq 0 ]; echo $?)" \
		"remote: the MSI-X table and PBA stayed in the VMM (msix.table_accesses=${rs[msix.table_accesses]:-?})"
	t_ok "$([ "$rsig" = "$msent" ] && [ "${rs[msix.held]:-}" = "$mheld" ] &&
		[ "${rs[msix.flushed]:-}" = "$mflushed" ]; echo $?)" \
		"remote: each vector signalled as often as the guest raised it (remote $rsig, guest sent $msent; held ${rs[msix.held]:-?}/$mheld, flushed ${rs[msix.flushed]:-?}/$mflushed)"
else
	t_ok 0 "remote: MSI-X eventfds, table and per-vector signals" "SKIP the guest's msix step did not run (no E2E-MSIX line)"
fi
# BAR4 above 4 GiB (movebar --bar 4): the guest counted the accesses that
# reached BAR4 at either address (E2E-BAR64 reads= writes=); the device
# must have seen exactly those, and none came over the socket.
bline=$(tr -d '\r' <"$work/guest.tap" | grep -m1 '^E2E-BAR64 ')
borig=$(e2e_line_kv "$bline" orig) bmoved=$(e2e_line_kv "$bline" moved) breads=$(e2e_line_kv "$bline" reads) bwrites=$(e2e_line_kv "$bline" writes)
if [ "$ZP" = 1 ]; then
	:	# the stock proxy probes every BAR as 32-bit: no BAR4 above 4 GiB
elif [ -n "$bline" ]; then
	t_ok "$([ "${rs[dev.bar4_reads]:-x}" = "$breads" ] && [ "${rs[dev.bar4_writes]:-x}" = "$bwrites" ] &&
		[ "${rs[socket.bar_read]:-1}" -eq 0 ] && [ "${rs[socket.bar_write]:-1}" -eq 0 ] &&
		[ $((bmoved)) -ge $((1 << 32)) ]; echo $?)" \
		"remote: every BAR4 access of movebar --bar 4 (at $bmoved, above 4 GiB, and at $borig) reached the device through mpdev (dev.bar4_reads=${rs[dev.bar4_reads]:-?}/guest $breads, dev.bar4_writes=${rs[dev.bar4_writes]:-?}/guest $bwrites, socket.bar_read=${rs[socket.bar_read]:-?})"
elif [[ ,$RUN_STEPS, == *,movebar:--bar:4,* ]]; then
	t_fail "remote: BAR4 accesses above 4 GiB through mpdev (the guest's movebar --bar 4 printed no E2E-BAR64 line)"
else
	t_ok 0 "remote: BAR4 accesses above 4 GiB through mpdev" "SKIP movebar --bar 4 not among the guest steps"
fi
if [ "$ZP" = 1 ]; then
	fallback=$(grep -E 'zero-patch: .*(refus|socket path|declined|fail)|mpdev.*(socket path|fall|failed|refused)' "$work/mpqemu-run.err" | head -n1)
	t_ok "$([ -z "$fallback" ]; echo $?)" "mpqemu-run did not fall back to the socket path${fallback:+: '$fallback'}"
else
	fallback=$(grep -E 'mpdev.*(socket path|fall|failed|refused)' "$work/mpqemu-run.err" | head -n1)
	t_ok "$([ -z "$fallback" ]; echo $?)" "QEMU did not fall back to the socket path${fallback:+: '$fallback'}"
fi
if [ "$have_ctl" = 1 ]; then
	"$MPDEVCTL" show >"$work/mpdevctl-show.txt" 2>&1
	"$MPDEVCTL" show -j >"$work/mpdevctl-show.json" 2>&1
	"$MPDEVCTL" stats >"$work/mpdevctl-stats.txt" 2>&1
	"$MPDEVCTL" stats -j >"$work/mpdevctl-stats.json" 2>&1
	t_diag "mpdevctl show:" && sed 's/^/#   /' "$work/mpdevctl-show.txt"
	t_diag "mpdevctl stats:" && sed 's/^/#   /' "$work/mpdevctl-stats.txt"
	# The context's counters come first in each object, its regions' after.
	cr=$(grep -o '"reads":[0-9]*' "$work/mpdevctl-stats.json" | head -n1 | cut -d: -f2)
	cw=$(grep -o '"writes":[0-9]*' "$work/mpdevctl-stats.json" | head -n1 | cut -d: -f2)
	t_ok "$([ "${cr:-0}" -gt 0 ] && [ "${cw:-0}" -gt 0 ]; echo $?)" \
		"mpdevctl: mpdev's own counters for the context (reads=${cr:-?}, writes=${cw:-?})"
	# QEMU's cookies: bit 63 and the BAR index (MPDEV_BACKEND_COOKIE(bar, 0)).
	ring=$(grep -o '"ring_entries":[0-9]*' "$work/mpdevctl-show.json" | head -n1 | cut -d: -f2)
	fp=$(grep -o '"footprint_bytes":[0-9]*' "$work/mpdevctl-show.json" | head -n1 | cut -d: -f2)
	cookies=$(grep -o '"cookie":[0-9]*' "$work/mpdevctl-show.json" | cut -d: -f2 | sort -u | tr '\n' ' ')
	t_ok "$([ "${ring:-0}" -gt 0 ] && [ "${fp:-0}" -gt 0 ] &&
		grep -q '"cookie":9223372036854775808[,}]' "$work/mpdevctl-show.json" &&
		grep -q '"cookie":9223653511831486464[,}]' "$work/mpdevctl-show.json"; echo $?)" \
		"mpdevctl show -j: ring of ${ring:-?} entries, footprint ${fp:-?} bytes, region cookies ${cookies:-none} (BAR0 and BAR1)"
	# BAR4's region (cookie MPDEV_BACKEND_COOKIE(4, 0)) where the guest left
	# it: mpdev's own count of accesses at that guest-physical address.
	if [ "$ZP" = 1 ]; then
		# The context is mpqemu-run's, not QEMU's: it opened /dev/mpdev and
		# attached QEMU's VM; its regions are those it counts.
		ctx=$(python3 -c '
import json, sys
for c in json.load(open(sys.argv[1])):
    if c.get("owner_pid") == int(sys.argv[2]):
        print(c["id"], c["vm_attached"], c["backend_attached"], c["nr_regions"])
' "$work/mpdevctl-show.json" "$mpid" 2>/dev/null | head -n1)
		read -r cid cvm cbe cnr <<<"$ctx"
		t_ok "$([ "$cvm" = True ] && [ "$cbe" = True ] && [ "${cnr:-x}" = "${zs[regions_now]:-y}" ]; echo $?)" \
			"mpdevctl show -j: the context is mpqemu-run's (owner pid $mpid: ${cid:+context $cid, }VM attached ${cvm:-?}, backend attached ${cbe:-?}, ${cnr:-?} regions; $PROXY.zero-patch: regions_now=${zs[regions_now]:-?})"
	elif [ -n "$bline" ]; then
		b4=$(python3 -c '
import json, sys
for c in json.load(open(sys.argv[1])):
    for r in c.get("regions", []):
        if r.get("cookie") == (1 << 63 | 4 << 48):
            print(r["base"], r["size"], r["stats"]["reads"], r["stats"]["writes"])
' "$work/mpdevctl-stats.json" 2>&1 | head -n1)
		read -r b4base b4size b4r b4w <<<"$b4"
		if [[ $b4base =~ ^[0-9]+$ ]]; then
			b4at=$(printf '0x%x' "$b4base")
		else
			b4at="nowhere (${b4:-no region with the cookie of BAR4})" b4base=0
		fi
		t_ok "$([ "$b4base" -ge $((1 << 32)) ] && [ "$b4base" -eq $((borig)) ] &&
			[ "${b4size:-0}" -eq 4096 ] && [ "${b4r:-0}" -gt 0 ] && [ "${b4w:-0}" -gt 0 ]; echo $?)" \
			"mpdevctl stats -j: BAR4's region at $b4at (guest: $borig, above 4 GiB), ${b4size:-?} bytes, served through mpdev (reads=${b4r:-?}, writes=${b4w:-?})"
	elif [[ ,$RUN_STEPS, == *,movebar:--bar:4,* ]]; then
		t_fail "mpdevctl stats -j: BAR4's region above 4 GiB (no E2E-BAR64 line from the guest)"
	fi
else
	t_ok 0 "mpdevctl: mpdev's own counters" "SKIP mpdevctl not built or not working"
fi
stage_done counters

# ------------------------------------------------------- remote killed
# Hold mpqemu-run so the guest gets to read the dead device (see the top).
kill -STOP "$mpid" && stopped=1
kill -KILL "$remote_pid"
t_diag "remote (pid $remote_pid) killed with SIGKILL; mpqemu-run held with SIGSTOP meanwhile"
e2e_wait "$work/guest.tap" 'hold: BAR0 magic reads ffffffff' "$KILL_TO" "$qemu_pid"
rc=$?
stage_done all-ones
t_ok "$rc" "kill: the guest's BAR0 reads return all-ones and its tool goes on ($([ "$rc" -eq 0 ] && tr -d '\r' <"$work/guest.tap" | grep -m1 'hold: BAR0 magic reads ffffffff' | sed 's/^# //' || echo "not within ${KILL_TO}s") after ${timings[-1]#all-ones=})"
# Not hung: QEMU's vCPU thread is not stuck in the kernel and keeps being
# scheduled (the guest goes on reading every 200 ms).
cpu_ticks() { awk '{ s += $14 + $15 } END { print s + 0 }' /proc/"$qemu_pid"/task/*/stat 2>/dev/null; }
st1=$(cpu_ticks)
sleep 2
st2=$(cpu_ticks)
dstate=$(grep -l '^State:.*D (disk sleep)' /proc/"$qemu_pid"/task/*/status 2>/dev/null | wc -l)
t_ok "$(kill -0 "$qemu_pid" 2>/dev/null && [ "${st2:-0}" -gt "${st1:-0}" ]; echo $?)" \
	"kill: QEMU's vCPU does not hang (QEMU alive, $((st2 - st1)) CPU ticks in 2 s, $dstate threads in D state)"
if [ "$have_ctl" = 1 ]; then
	"$MPDEVCTL" show >"$work/mpdevctl-show-dead.txt" 2>&1
	t_diag "mpdevctl show after the kill:" && sed 's/^/#   /' "$work/mpdevctl-show-dead.txt"
	t_ok "$(grep -q -i 'failed' "$work/mpdevctl-show-dead.txt"; echo $?)" "kill: mpdevctl shows the context failed"
fi
stage_t0=$SECONDS
kill -CONT "$mpid" && stopped=0
end=$((SECONDS + KILL_TO))
while kill -0 "$mpid" 2>/dev/null && [ "$SECONDS" -lt "$end" ]; do sleep 0.2; done
if kill -0 "$mpid" 2>/dev/null; then
	stage_done kill
	for p in $remote_pid $qemu_pid; do
		[ -d "/proc/$p" ] || continue
		t_diag "pid $p ($(cat "/proc/$p/comm")): $(grep '^State' "/proc/$p/status"), wchan $(cat "/proc/$p/wchan" 2>/dev/null)"
	done
	bail "kill: mpqemu-run stopped QEMU within ${KILL_TO}s of being let go (TIMEOUT)"
fi
wait "$mpid"
mrc=$?
mpid=
stage_done kill
t_pass "kill: mpqemu-run ended ${timings[-1]#kill=} after it was let go (SIGCONT)"
t_ok "$([ "$mrc" -eq 1 ]; echo $?)" "kill: mpqemu-run exit status 1 (got $mrc)"
msg=$(grep -E "remote for proxy [^ ]+ \(pid $remote_pid[,)] .*stopping QEMU" "$work/mpqemu-run.err" | head -n1)
t_ok "$([ -n "$msg" ]; echo $?)" "kill: mpqemu-run reports the remote's death: '${msg:-no such message}'"
t_ok "$(! kill -0 "$qemu_pid" 2>/dev/null; echo $?)" "kill: QEMU (pid $qemu_pid) is gone"

# ------------------------------------- zero-patch: three more fresh runs
# The sampling below forks nothing but its sleep: in the test VM under
# TCG every fork costs tens of milliseconds, and a process goes down in
# less than a second.
# pstate PID[/task/TID]: its state letter (R, S, D, Z...) into PSTATE and
# its flags into PFLAGS, from /proc/.../stat (after the last ") ": comm may
# hold anything); non-zero if there is no such process
pstate() {
	local l f
	PSTATE='' PFLAGS=0
	read -r l 2>/dev/null <"/proc/$1/stat" || return 1
	read -r -a f <<<"${l##*) }"
	PSTATE=${f[0]} PFLAGS=${f[6]:-0}
}
PF_EXITING=4	# include/linux/sched.h: the task is in do_exit()
# Gone: no such process, or a zombie nobody has reaped yet (QEMU and the
# remote are not our children once mpqemu-run is dead).
gone() { ! pstate "$1" || [[ $PSTATE == [ZX] ]]; }

# zp_boot NAME DIR STEPS [MPQEMU-RUN-ARGS...]: a fresh mpqemu-run
# --zero-patch with its remote and QEMU (plus ZP_EXTRA_QEMU), logs in DIR,
# the guest running STEPS (none: only hold); 0 once the guest tool runs,
# else its failure reported and everything stopped.
ZP_EXTRA_QEMU=()
zp_boot() {
	local name=$1 d=$2 steps=$3
	shift 3
	mkdir -p "$d"
	e2e_qemu_args "$d" "$E2E_APPEND${steps:+ e2e.run=$steps} e2e.end=hold"
	E2E_QEMU_ARGS+=(${ZP_EXTRA_QEMU[@]+"${ZP_EXTRA_QEMU[@]}"})
	zp_mpq "$d" "$@"
	printf '%q ' "${MPQ[@]}" -- "${E2E_QEMU_ARGS[@]}" >"$d/cmdline"
	stage_t0=$SECONDS
	e2e_boot "$d" "${MPDEV_E2E_BOOT_TRIES:-2}" "$BOOT_TO" "${MPQ[@]}"
	timings+=("$name-boot=${E2E_BOOT_SECS}s")
	stage_t0=$SECONDS
	if [ "$E2E_BOOT_RC" -eq 3 ]; then
		t_fail "$name: mpqemu-run --zero-patch started mpdev-remote and stock QEMU"
		e2e_tail_logs "$d" 15
		return 1
	fi
	if ! E2E_TAP_PREFIX="$name: " e2e_boot_tap "$d"; then
		t_fail "$name: $E2E_WHY"
		e2e_why_gone "$d"
		e2e_tail_logs "$d" 15
		e2e_stop
		return 1
	fi
}

# 4. The orchestrator killed: mpqemu-run holds the mpdev context and
# relays the proxy's socket; SIGKILL leaves QEMU and the remote to
# PR_SET_PDEATHSIG (SIGTERM) and mpdev to the release of its fds.
orchestrator_kill() {
	local n=orchestrator-kill d=$work/orchestrator-kill rc msg mp qp rp mrc t0 m_ms='' q_ms='' r_ms=''
	local samples=0 dstate=0 inmp=0 dwhere='' dexit=0 dexwhere='' st w p el cids='' left nerr ntap qsaid gsaid f0=$T_FAIL
	ZP_EXTRA_QEMU=()
	t_diag "$n: a fresh mpqemu-run --zero-patch; the guest runs check, then holds BAR0 busy; then mpqemu-run gets SIGKILL"
	zp_boot "$n" "$d" check || return
	mp=$mpid qp=$qemu_pid rp=$remote_pid
	e2e_wait "$d/guest.tap" '^E2E-HOLD' "$RUN_TO" "$mpid"
	rc=$?
	stage_done "$n-steps"
	msg=$(tr -d '\r' <"$d/guest.tap" | grep -m1 '^E2E-GUEST-DONE ')
	t_ok "$([ "$rc" -eq 0 ] && [[ $msg == *' fail=0 '* ]]; echo $?)" \
		"$n: the guest's check passed and it holds BAR0 busy (${msg:-no E2E-GUEST-DONE line}$([ "$rc" -eq 0 ] || echo ", no E2E-HOLD within ${RUN_TO}s"))"
	if [ "$rc" -ne 0 ]; then
		e2e_tail_logs "$d" 15
		e2e_stop
		return
	fi
	msg=$(grep -m1 -E -- "$(e2e_zp_attach_re "$PROXY" "$qp")" "$d/mpqemu-run.err")
	t_ok "$([ -n "$msg" ]; echo $?)" "$n: mpqemu-run attached QEMU's VM (pid $qp) to mpdev: '${msg:-no such message}'"
	if [ "$have_ctl" = 1 ]; then
		"$MPDEVCTL" show >"$d/mpdevctl-before.txt" 2>&1
		"$MPDEVCTL" show -j >"$d/mpdevctl-before.json" 2>&1
		t_diag "$n: mpdevctl show before the kill:" && sed 's/^/#   /' "$d/mpdevctl-before.txt"
		cids=$(python3 -c '
import json, sys
print(" ".join(str(c["id"]) for c in json.load(open(sys.argv[1])) if c.get("owner_pid") == int(sys.argv[2])))
' "$d/mpdevctl-before.json" "$mp" 2>/dev/null)
		t_ok "$([ -n "$cids" ]; echo $?)" "$n: before the kill, mpdev has mpqemu-run's context (owner pid $mp: context ${cids:-none})"
	fi
	nerr=$(wc -l <"$d/mpqemu-run.err") ntap=$(wc -l <"$d/guest.tap")
	t0=${EPOCHREALTIME//[.,]/}	# microseconds, no fork
	kill -KILL "$mp"
	# Until all three are gone or 15 s have passed: every 50 ms (it is
	# often over in well under a second), QEMU's threads in D state or
	# waiting inside mpdev (as run-devices.sh's kill case), from the kill
	# on: mpqemu-run's own exit (the release of its mpdev context and its
	# copy of QEMU's VM fd) comes first, and QEMU's SIGTERM only after it.
	while :; do
		el=$(( (${EPOCHREALTIME//[.,]/} - t0) / 1000 ))
		[ -n "$m_ms" ] || ! gone "$mp" || m_ms=$el
		[ -n "$q_ms" ] || ! gone "$qp" || q_ms=$el
		[ -n "$r_ms" ] || ! gone "$rp" || r_ms=$el
		if [ -z "$q_ms" ]; then
			samples=$((samples + 1))
			for st in /proc/"$qp"/task/*; do
				w=
				read -r w 2>/dev/null <"$st/wchan"
				[[ $w != mpdev* ]] || inmp=$((inmp + 1))
				if ! pstate "$qp/task/${st##*/}" || [ "$PSTATE" != D ]; then
					continue
				fi
				# A thread already in do_exit() in D state is
				# the kernel tearing it down (KVM's VM with its
				# last fd: kthread_stop() of its workers), not a
				# hang of the live QEMU; the 15 s limit on its
				# exit covers that part.
				if (( PFLAGS & PF_EXITING )); then
					dexit=$((dexit + 1))
					dexwhere+=" ${st##*/}:${w:-?}"
				else
					dstate=$((dstate + 1))
					dwhere+=" ${st##*/}:${w:-?}"
				fi
			done
		fi
		[ -z "$q_ms" ] || [ -z "$r_ms" ] || [ -z "$m_ms" ] || break
		[ "$el" -lt 15000 ] || break
		sleep 0.05
	done
	# (Not waited for while it is not gone: a process that SIGKILL does not
	# end is stuck in the kernel, and wait would hang with it.)
	mrc='?'
	if [ -n "$m_ms" ]; then
		wait "$mp"
		mrc=$?
	fi
	mpid=''
	stage_done "$n-exit"
	t_ok "$([ -n "$m_ms" ]; echo $?)" \
		"$n: mpqemu-run (pid $mp) died of the SIGKILL $([ -n "$m_ms" ] && echo "in $m_ms ms (status $mrc; closing its fds: the mpdev context, its copy of QEMU's VM fd)" || echo "NOT within 15 s: $(grep '^State' "/proc/$mp/status" 2>/dev/null), wchan $(cat "/proc/$mp/wchan" 2>/dev/null)")"
	t_ok "$([ -n "$q_ms" ]; echo $?)" \
		"$n: QEMU (pid $qp) exited $([ -n "$q_ms" ] && echo "$q_ms ms after the SIGKILL" || echo 'NOT within 15 s of the SIGKILL') (SIGTERM through PR_SET_PDEATHSIG)"
	t_ok "$([ "$dstate" -eq 0 ]; echo $?)" \
		"$n: no thread of the live QEMU in D state while it went down ($samples samples every 50 ms: $dstate in D state${dwhere:+ (task:wchan$dwhere)}, $inmp waiting in mpdev; $dexit in D state inside do_exit(), not counted${dexwhere:+ (task:wchan$dexwhere)})"
	t_ok "$([ -n "$r_ms" ]; echo $?)" \
		"$n: the remote (pid $rp) exited $([ -n "$r_ms" ] && echo "$r_ms ms after the SIGKILL" || echo 'NOT within 15 s of the SIGKILL')"
	for p in $qp $rp; do
		gone "$p" && continue
		t_diag "$n: pid $p ($(cat "/proc/$p/comm" 2>/dev/null)) still there: $(grep '^State' "/proc/$p/status" 2>/dev/null), wchan $(cat "/proc/$p/wchan" 2>/dev/null); SIGKILL"
		kill -KILL "$p" 2>/dev/null
	done
	# What the VM went through: QEMU's own words after the kill (its stderr
	# is mpqemu-run's) and the guest's last reports (hold says when BAR0's
	# magic changes).
	qsaid=$(tail -n +$((nerr + 1)) "$d/mpqemu-run.err" | tr -d '\r' | grep -v '^mpqemu-run: ' | head -n 5 | paste -s -d '|')
	gsaid=$(tail -n +$((ntap + 1)) "$d/guest.tap" | tr -d '\r' | sed 's/^# //' | head -n 5 | paste -s -d '|')
	t_diag "$n: the VM after the kill: QEMU's stderr: '${qsaid:-nothing}'; the guest's output: '${gsaid:-nothing more}'"
	if [ "$have_ctl" = 1 ]; then
		# The context goes when the last of its fds does: mpqemu-run's at
		# its death, the remote's backend fd at the remote's.
		for _ in $(seq 50); do
			"$MPDEVCTL" show >"$d/mpdevctl-after.txt" 2>&1
			grep -q '^no mpdev contexts' "$d/mpdevctl-after.txt" && break
			sleep 0.2
		done
		t_diag "$n: mpdevctl show after:" && sed 's/^/#   /' "$d/mpdevctl-after.txt"
		left=$(awk '$1 ~ /^[0-9]+$/ && NF > 10 { printf "%s%s", s, $1; s = " " }' "$d/mpdevctl-after.txt")
		t_ok "$([ -n "$cids" ] && grep -q '^no mpdev contexts' "$d/mpdevctl-after.txt"; echo $?)" \
			"$n: mpdev dropped the context with mpqemu-run's fds: mpdevctl show lists no context (before the kill: ${cids:-none} of owner $mp; now: ${left:-none})"
	fi
	[ "$T_FAIL" -eq "$f0" ] || e2e_tail_logs "$d" 10
	stage_done "$n-ctx"
}

# 5. QMP lying: qmp-liar.py between mpqemu-run and QEMU's QMP moves BAR0 by
# 1 MiB in every query-pci reply.  mpqemu-run must not believe it: BAR0
# stays on the socket path (check's 8-byte accesses are then split by the
# stock proxy: --xfail-split8), and mpdev gets no region at the lie.
qmp_liar() {
	local n=qmp-liar d=$work/qmp-liar rc msg lies truth lie regions f0=$T_FAIL
	mkdir -p "$d"
	rm -f "$d/liar.qmp" "$d/real.qmp"
	t_diag "$n: a fresh mpqemu-run --zero-patch --qmp liar.qmp; qmp-liar.py shifts $PROXY's BAR0 by 0x100000 in QEMU's query-pci replies"
	python3 "$here/qmp-liar.py" --dev "$PROXY" --bar 0 --shift 0x100000 \
		"$d/liar.qmp" "$d/real.qmp" 2>"$d/qmp-liar.log" &
	liar_pid=$!
	for _ in $(seq 50); do [ -S "$d/liar.qmp" ] && break; sleep 0.1; done
	if [ ! -S "$d/liar.qmp" ]; then
		t_fail "$n: qmp-liar.py listens on $d/liar.qmp ($(tail -n 3 "$d/qmp-liar.log" | tr '\n' ' '))"
		kill "$liar_pid" 2>/dev/null
		liar_pid=''
		return
	fi
	ZP_EXTRA_QEMU=(-qmp "unix:$d/real.qmp,server=on,wait=off")
	if zp_boot "$n" "$d" check:--xfail-split8 --qmp "$d/liar.qmp"; then
		e2e_wait "$d/guest.tap" '^E2E-GUEST-DONE' "$RUN_TO" "$mpid"
		rc=$?
		stage_done "$n-steps"
		E2E_TAP_PREFIX="$n: " e2e_guest_tap "$d"
		msg=$(grep -m1 '^E2E-GUEST-DONE ' "$d/guest.tap.txt")
		t_ok "$([ "$rc" -eq 0 ] && [ -n "$E2E_PLAN" ] && [ "$E2E_PLAN" -eq "$E2E_NGUEST" ] &&
			[ "$E2E_NGUEST" -gt 0 ] && [[ $msg == *' fail=0 '* ]]; echo $?)" \
			"$n: guest: its check step still passes with BAR0 on the socket path (all $E2E_NGUEST checks of 1..${E2E_PLAN:-?}: ${msg:-no E2E-GUEST-DONE line})"
		[ "$rc" -ne 0 ] || e2e_wait "$d/guest.tap" '^E2E-HOLD' 60 "$mpid" || t_diag "$n: no E2E-HOLD"
		lies=$(grep -c -- ' -> 0x' "$d/qmp-liar.log")
		truth=$(sed -n 's/.* BAR0 \(0x[0-9a-f]*\) -> 0x[0-9a-f]*$/\1/p' "$d/qmp-liar.log" | tail -n1)
		lie=$(sed -n 's/.* BAR0 0x[0-9a-f]* -> \(0x[0-9a-f]*\)$/\1/p' "$d/qmp-liar.log" | tail -n1)
		t_ok "$([ "${lies:-0}" -gt 0 ]; echo $?)" \
			"$n: mpqemu-run's query-pci went through qmp-liar.py, which moved BAR0 (${truth:-?} -> ${lie:-?} in ${lies:-0} replies)"
		msg=$(grep -m1 -E "zero-patch: proxy $PROXY: refusing BAR 0 from QMP: .*; it stays on the socket path" "$d/mpqemu-run.err")
		t_ok "$([ -n "$msg" ]; echo $?)" "$n: mpqemu-run refused the lie: '${msg:-$(grep -m1 'zero-patch:.*BAR' "$d/mpqemu-run.err" || echo 'no such message')}'"
		e2e_zp_state "$d/run/$PROXY.zero-patch"
		t_diag "$n: zero-patch state: $(e2e_kv zs)"
		t_ok "$([ "$(e2e_zn refused)" -gt 0 ] && [ -n "${zs[last_refusal]:-}" ]; echo $?)" \
			"$n: $PROXY.zero-patch counts the refusal (refused=${zs[refused]:-?}, last_refusal='${zs[last_refusal]:-}')"
		if e2e_remote_stats "$d/remote.stats"; then
			t_diag "$n: remote counters: $(e2e_kv rs)"
		else
			t_fail "$n: remote wrote its counters on SIGUSR1 ($d/remote.stats)"
		fi
		t_ok "$([ "${rs[socket.bar_read]:-0}" -gt 0 ]; echo $?)" \
			"$n: remote: BAR0 served over the mpqemu socket (socket.bar_read=${rs[socket.bar_read]:-?}, socket.bar_write=${rs[socket.bar_write]:-?}; mpdev.reads=${rs[mpdev.reads]:-?})"
		if [ "$have_ctl" = 1 ]; then
			"$MPDEVCTL" show >"$d/mpdevctl-show.txt" 2>&1
			"$MPDEVCTL" show -j >"$d/mpdevctl-show.json" 2>&1
			t_diag "$n: mpdevctl show:" && sed 's/^/#   /' "$d/mpdevctl-show.txt"
			# Every region of every context: base, cookie.
			regions=$(python3 -c '
import json, sys
for c in json.load(open(sys.argv[1])):
    for r in c.get("regions", []):
        print("%#x:%#x" % (r["base"], r["cookie"]))
' "$d/mpdevctl-show.json" 2>/dev/null | tr '\n' ' ')
			t_ok "$(grep -q '"regions"' "$d/mpdevctl-show.json" &&
				! grep -q '"cookie":9223372036854775808[,}]' "$d/mpdevctl-show.json" &&
				{ [ -z "$lie" ] || ! grep -q "\"base\":$((lie))[,}]" "$d/mpdevctl-show.json"; }; echo $?)" \
				"$n: mpdevctl show -j: no region at the lying address ${lie:-?} nor with BAR0's cookie (regions base:cookie ${regions:-none})"
			# The lie costs BAR0 alone its fast path: BAR1 (QMP told the
			# truth about it) keeps its region, and check's port I/O
			# went through mpdev.
			t_ok "$(grep -q '"cookie":9223653511831486464[,}]' "$d/mpdevctl-show.json" &&
				[ "${rs[mpdev.reads]:-0}" -gt 0 ]; echo $?)" \
				"$n: BAR1 stays on mpdev (its region, cookie 0x8001000000000000: $(grep -q '"cookie":9223653511831486464[,}]' "$d/mpdevctl-show.json" && echo there || echo missing); the remote's mpdev.reads=${rs[mpdev.reads]:-?})"
		fi
		[ "$T_FAIL" -eq "$f0" ] || e2e_tail_logs "$d" 10
		e2e_stop
	fi
	kill "$liar_pid" 2>/dev/null
	wait "$liar_pid" 2>/dev/null
	liar_pid=''
	stage_done "$n-end"
}

# 6. QMP unavailable: a --qmp socket that is not there.  Only mpqemu-run's
# reaction is looked at, not the guest: the message, and it goes on with
# no region registered (the BARs on the socket path).
qmp_unavailable() {
	local n=qmp-unavailable d=$work/qmp-unavailable nq=/nonexistent/x.qmp rc msg re t0=$SECONDS f0=$T_FAIL
	mkdir -p "$d"
	stage_t0=$SECONDS
	t_diag "$n: a fresh mpqemu-run --zero-patch --qmp $nq (no such socket); the guest is not waited for"
	e2e_qemu_args "$d" "$E2E_APPEND e2e.end=hold"
	zp_mpq "$d" --qmp "$nq"
	printf '%q ' "${MPQ[@]}" -- "${E2E_QEMU_ARGS[@]}" >"$d/cmdline"
	if ! e2e_start "$d" "${MPQ[@]}"; then
		t_fail "$n: mpqemu-run --zero-patch --qmp $nq started mpdev-remote and stock QEMU"
		e2e_why_gone "$d"
		e2e_tail_logs "$d" 15
		e2e_stop
		return
	fi
	re="zero-patch: proxy $PROXY: QMP $nq: .*; its BARs stay on the socket path"
	e2e_wait "$d/mpqemu-run.err" "$re" "$BOOT_TO" "$mpid"
	rc=$?
	msg=$(grep -m1 -E -- "$re" "$d/mpqemu-run.err")
	t_ok "$rc" "$n: mpqemu-run says so $((SECONDS - t0))s after its start: '${msg:-$(grep -m1 'zero-patch:' "$d/mpqemu-run.err" || echo 'no such message')}'"
	sleep 1
	e2e_zp_state "$d/run/$PROXY.zero-patch"
	t_diag "$n: zero-patch state: $(e2e_kv zs)"
	t_ok "$(kill -0 "$mpid" 2>/dev/null && [ "$(e2e_zn regions_now)" -eq 0 ]; echo $?)" \
		"$n: mpqemu-run goes on without QMP and registers no region ($(kill -0 "$mpid" 2>/dev/null && echo running || echo 'not running'), regions_now=${zs[regions_now]:-?})"
	[ "$T_FAIL" -eq "$f0" ] || e2e_tail_logs "$d" 10
	e2e_stop
	stage_done "$n"
}

if [ "$ZP" = 1 ]; then
	orchestrator_kill
	qmp_liar
	qmp_unavailable
fi

[ "$T_FAIL" -eq 0 ] || tail_logs 15
t_diag "timings: ${timings[*]} total=${SECONDS}s"
save_logs
t_done
