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
# Output: TAP with the time of every stage and the closing "N passed, N
# failed, N skipped"; exit status 0 only if everything passed.  Logs go to
# $MPDEV_OUT/e2e-mpdev/ (build/vm-out/e2e-mpdev on the host) when MPDEV_OUT
# is set, else stay in the work directory, which is printed.
#
# Environment (MPDEV_* because vm-run passes those into the VM):
#   MPDEV_QEMU_PATCHED       patched QEMU (default: build-qemu.sh --print-path)
#   MPDEV_E2E_RUN            guest steps (default check,dma,movebar,movebar:--bar:4,msix,bench:...)
#   MPDEV_E2E_DEVICE_ARG     the testdev's --device-arg (default bar64=1)
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

RUN_STEPS=${MPDEV_E2E_RUN:-check,dma,movebar,movebar:--bar:4,msix,bench:-n:300:--sizes:4}
DEVICE_ARG=${MPDEV_E2E_DEVICE_ARG-bar64=1}
BOOT_TO=${MPDEV_E2E_BOOT_TIMEOUT:-240}
RUN_TO=${MPDEV_E2E_RUN_TIMEOUT:-300}
KILL_TO=${MPDEV_E2E_KILL_TIMEOUT:-30}
MPQEMU_RUN=${MPDEV_MPQEMU_RUN:-$E2E_REPO/userspace/build/mpqemu-run}
MPDEV_REMOTE=${MPDEV_REMOTE:-$E2E_REPO/userspace/build/mpdev-remote}
MPDEVCTL=${MPDEV_MPDEVCTL:-$E2E_REPO/userspace/mpdevctl/mpdevctl}

work=$(mktemp -d /tmp/e2e-mpdev.XXXXXX)
mpid='' remote_pid='' qemu_pid='' stopped=0
timings=()
stage_t0=$SECONDS
stage_done() { timings+=("$1=$((SECONDS - stage_t0))s"); stage_t0=$SECONDS; }

save_logs() { e2e_save_logs "$work" e2e-mpdev; }
cleanup() { e2e_stop; }
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
t_diag "e2e-mpdev: patched QEMU -accel kvm + x-pci-proxy-dev,mpdev-fd + mpdev-remote (mpdev fast path)"

# ------------------------------------------------------------ preflight
[ "${MPDEV_IN_VM:-0}" = 1 ] || bail "preflight: running inside the test VM (use selftests/vm/vm-run)"
[ -c /dev/kvm ] || bail "preflight: /dev/kvm present"
[ -c /dev/mpdev ] || bail "preflight: /dev/mpdev present (mpdev.ko loaded; vm-run loads kmod/mpdev.ko)"
QEMU=${MPDEV_QEMU_PATCHED:-$("$E2E_REPO/userspace/qemu-patch/build-qemu.sh" --print-path 2>/dev/null | tail -n1)}
{ [ -n "$QEMU" ] && [ -x "$QEMU" ]; } ||
	bail "preflight: patched QEMU built (userspace/qemu-patch/build-qemu.sh on the host, or MPDEV_QEMU_PATCHED)"
{ [ -x "$MPQEMU_RUN" ] && [ -x "$MPDEV_REMOTE" ]; } ||
	bail "preflight: $MPQEMU_RUN and $MPDEV_REMOTE built (make -C userspace)"
e2e_guest_env 2>"$work/env.err" || bail "preflight: nested guest built ($(cat "$work/env.err"))"
have_ctl=0
"$MPDEVCTL" show >/dev/null 2>&1 && have_ctl=1
t_diag "patched QEMU: $QEMU ($("$QEMU" --version | head -n1))"
t_diag "nested guest: $E2E_KERNEL_KIND kernel $E2E_KERNEL, $E2E_INITRD"
t_diag "guest steps: $RUN_STEPS"
t_diag "testdev: --device-arg ${DEVICE_ARG:-(none)}"
t_diag "mpdevctl: $([ "$have_ctl" = 1 ] && echo "$MPDEVCTL" || echo 'not available, its checks are skipped')"

# ------------------------------------------------------- start and boot
e2e_qemu_args "$work" "$E2E_APPEND e2e.run=$RUN_STEPS e2e.end=hold"
MPQ=("$MPQEMU_RUN" --qemu "$QEMU" --mpdev --remote "$MPDEV_REMOTE"
	--remote-arg "--stats-file=$work/remote.stats" -v)
[ -z "$DEVICE_ARG" ] || MPQ+=(--remote-arg "--device-arg=$DEVICE_ARG")
printf '%q ' "${MPQ[@]}" -- "${E2E_QEMU_ARGS[@]}" >"$work/cmdline"

e2e_boot "$work" "${MPDEV_E2E_BOOT_TRIES:-2}" "$BOOT_TO" "${MPQ[@]}"
timings+=("boot=${E2E_BOOT_SECS}s")
stage_t0=$SECONDS
[ "$E2E_BOOT_RC" -eq 3 ] && { t_fail "mpqemu-run --mpdev started mpdev-remote and the patched QEMU"; bail "mpqemu-run running (see mpqemu-run.err)"; }
t_pass "mpqemu-run --mpdev started mpdev-remote (pid $remote_pid) and the patched QEMU (pid $qemu_pid)"
t_ok "$(grep -q -E -- '(mpdev-fd|mpdev_fd)=[0-9]+' "$work/mpqemu-run.err"; echo $?)" \
	"QEMU got the /dev/mpdev fd: $(grep -o -E -- '-device [^ ]*mpdev-fd=[0-9]+' "$work/mpqemu-run.err" | head -n1)"
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
t_diag "remote counters: $(for k in $(printf '%s\n' "${!rs[@]}" | sort); do printf '%s=%s ' "$k" "${rs[$k]}"; done)"
t_ok "$([ "${rs[socket.mpdev_backend]:-0}" -ge 1 ]; echo $?)" \
	"remote: QEMU handed it the mpdev backend (socket.mpdev_backend=${rs[socket.mpdev_backend]:-?})"
t_ok "$([ "${rs[mpdev.reads]:-0}" -gt 1000 ] && [ "${rs[mpdev.writes]:-0}" -gt 500 ]; echo $?)" \
	"remote: the guest's BAR accesses came through mpdev (mpdev.reads=${rs[mpdev.reads]:-?}, mpdev.writes=${rs[mpdev.writes]:-?}, completions=${rs[mpdev.completions]:-?})"
t_ok "$([ "${rs[mpdev.by_cookie]:-0}" -gt 0 ] && [ "${rs[mpdev.by_cookie]:-0}" -eq $(( ${rs[mpdev.reads]:-0} + ${rs[mpdev.writes]:-0} )) ]; echo $?)" \
	"remote: every mpdev request carried its region's cookie (mpdev.by_cookie=${rs[mpdev.by_cookie]:-?} of $(( ${rs[mpdev.reads]:-0} + ${rs[mpdev.writes]:-0} )))"
t_ok "$([ -n "${rs[socket.bar_read]:-}" ] && [ "${rs[socket.bar_read]}" -eq 0 ] && [ "${rs[socket.bar_write]:-1}" -eq 0 ]; echo $?)" \
	"remote: zero BAR messages on the mpqemu socket (socket.bar_read=${rs[socket.bar_read]:-?}, socket.bar_write=${rs[socket.bar_write]:-?})"
t_ok "$([ "${rs[mpdev.bad_requests]:-1}" -eq 0 ] && [ "${rs[socket.bad_msgs]:-1}" -eq 0 ]; echo $?)" \
	"remote: no request or message rejected (mpdev.bad_requests=${rs[mpdev.bad_requests]:-?}, socket.bad_msgs=${rs[socket.bad_msgs]:-?})"
t_ok "$([ "${rs[intx.signals]:-0}" -ge 9 ] && [ "${rs[intx.resamples]:-0}" -ge 9 ] && [ "${rs[dev.dma_ok]:-0}" -ge 4 ]; echo $?)" \
	"remote: DMA and INTx (irqfd + resample) still work beside the fast path (${rs[dev.dma_ok]:-?} DMA, ${rs[intx.signals]:-?} signals, ${rs[intx.resamples]:-?} resamples)"
# MSI-X: the guest's msix step says what it sent towards the remote
# (E2E-MSIX sent=per-vector raises the remote had to signal, held=raises
# held by the Function Mask, flushed=held vectors sent on unmask).
mline=$(tr -d '\r' <"$work/guest.tap" | grep -m1 '^E2E-MSIX ')
if [ -n "$mline" ]; then
	mkv() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$mline"; }
	mn=$(mkv vectors) msent=$(mkv sent) mheld=$(mkv held) mflushed=$(mkv flushed)
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
bkv() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$bline"; }
borig=$(bkv orig) bmoved=$(bkv moved) breads=$(bkv reads) bwrites=$(bkv writes)
if [ -n "$bline" ]; then
	t_ok "$([ "${rs[dev.bar4_reads]:-x}" = "$breads" ] && [ "${rs[dev.bar4_writes]:-x}" = "$bwrites" ] &&
		[ "${rs[socket.bar_read]:-1}" -eq 0 ] && [ "${rs[socket.bar_write]:-1}" -eq 0 ] &&
		[ $((bmoved)) -ge $((1 << 32)) ]; echo $?)" \
		"remote: every BAR4 access of movebar --bar 4 (at $bmoved, above 4 GiB, and at $borig) reached the device through mpdev (dev.bar4_reads=${rs[dev.bar4_reads]:-?}/guest $breads, dev.bar4_writes=${rs[dev.bar4_writes]:-?}/guest $bwrites, socket.bar_read=${rs[socket.bar_read]:-?})"
elif [[ ,$RUN_STEPS, == *,movebar:--bar:4,* ]]; then
	t_fail "remote: BAR4 accesses above 4 GiB through mpdev (the guest's movebar --bar 4 printed no E2E-BAR64 line)"
else
	t_ok 0 "remote: BAR4 accesses above 4 GiB through mpdev" "SKIP movebar --bar 4 not among the guest steps"
fi
fallback=$(grep -E 'mpdev.*(socket path|fall|failed|refused)' "$work/mpqemu-run.err" | head -n1)
t_ok "$([ -z "$fallback" ]; echo $?)" "QEMU did not fall back to the socket path${fallback:+: '$fallback'}"
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
	if [ -n "$bline" ]; then
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

[ "$T_FAIL" -eq 0 ] || tail_logs 15
t_diag "timings: ${timings[*]} total=${SECONDS}s"
save_logs
t_done
