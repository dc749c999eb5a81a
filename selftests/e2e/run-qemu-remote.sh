#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# run-qemu-remote.sh - end-to-end test of QEMU's OWN remote (-machine
# x-remote, x-remote-object) serving the guest's BAR accesses from the
# mpdev backend (userspace/qemu-patch 0004), run INSIDE the test VM:
#
#   MPDEV_VM_TCG_THREAD=multi selftests/vm/vm-run --timeout 600 -- \
#       selftests/e2e/run-qemu-remote.sh
#
# No guest kernel: the guest is SeaBIOS, which probes the LSI controller
# (lsi53c895a in the remote) behind the patched VMM's x-pci-proxy-dev.
# qemu-remote-pair.py runs one pair until SeaBIOS gave up booting and the
# remote's QOM counters are steady, then stops both.
#
#  1. mpdev=on: the remote serves the backend (mpdev=true), BAR reads and
#     writes went through mpdev, none failed, none came on the socket;
#     mpdevctl (if built) showed the context with its regions meanwhile;
#  2. mpdev=off: the BAR accesses came on the socket, none through mpdev;
#  3. mpdev=on with the remote in mpdev-mode=poll (a thread busy-polls the
#     shared ring): mpdev-mode=poll, the thread served batches
#     (mpdev-poll-batches > 0), reads and writes through mpdev, none
#     failed, none on the socket;
#  4. the three runs saw the same number of BAR reads and writes: SeaBIOS's
#     LSI probe is deterministic (the LSI emulation runs its SCRIPTS
#     synchronously on the DSP write, so every poll succeeds first time;
#     189 reads and 253 writes under KVM and TCG alike); allowed: 2%
#     (MPDEV_E2E_QR_TOLERANCE, percent), in case a SeaBIOS update polls.
#
# Output: TAP and "N passed, N failed, N skipped"; logs in
# $MPDEV_OUT/e2e-qemu-remote/ (build/vm-out/e2e-qemu-remote on the host).
# Environment: MPDEV_QEMU_PATCHED (default: build-qemu.sh --print-path),
# MPDEV_MPDEVCTL, MPDEV_E2E_QR_TIMEOUT (seconds per pair, default 120),
# MPDEV_E2E_QR_SPIN_US (the poll pair's mpdev-poll-spin-us; default the
# remote's own, 100).
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"

QEMU=${MPDEV_QEMU_PATCHED:-$("$E2E_REPO/userspace/qemu-patch/build-qemu.sh" --print-path 2>/dev/null | tail -n1)}
MPDEVCTL=${MPDEV_MPDEVCTL:-$E2E_REPO/userspace/mpdevctl/mpdevctl}
PAIR_TO=${MPDEV_E2E_QR_TIMEOUT:-120}
TOL=${MPDEV_E2E_QR_TOLERANCE:-2}
work=$(mktemp -d /tmp/e2e-qemu-remote.XXXXXX)

finish() {
	e2e_save_logs "$work" e2e-qemu-remote
	t_done
	exit
}

echo "TAP version 13"
if [ ! -x "$QEMU" ]; then
	t_fail "preflight: patched QEMU built (userspace/qemu-patch/build-qemu.sh, or MPDEV_QEMU_PATCHED)"
	finish
fi
t_ok "$([ -c /dev/mpdev ] && [ -c /dev/kvm ]; echo $?)" "preflight: /dev/mpdev and /dev/kvm present"
have_ctl=0
"$MPDEVCTL" show >/dev/null 2>&1 && have_ctl=1
t_diag "qemu: $QEMU" "mpdevctl: $([ "$have_ctl" = 1 ] && echo "$MPDEVCTL" || echo 'not available, its check is skipped')"

# pair MODE: one run, its JSON in $work/MODE.json, counters in c_MODE[]
declare -A c_on=() c_off=() c_poll=()
pair() {
	local mode=$1 dir=$work/$1 k v
	local -n c=c_$1
	timeout -k 10 $((PAIR_TO + 30)) python3 "$here/qemu-remote-pair.py" \
		"$QEMU" "$mode" "$dir" "$PAIR_TO" "$([ "$have_ctl" = 1 ] && [ "$mode" = on ] && echo "$MPDEVCTL")" \
		>"$work/$mode.json" 2>"$work/$mode.err"
	local rc=$?
	tr -d '{}" ' <"$work/$mode.json" | tr ',' '\n' | sed 's/:/=/' >"$work/$mode.kv"
	# flat JSON into the array: "key": value
	while IFS='=' read -r k v; do
		[ -n "$k" ] && c["$k"]=$v
	done <"$work/$mode.kv"
	t_diag "mpdev=$mode: $(cat "$work/$mode.json")"
	if [ "$rc" -ne 0 ] || [ "${c[done]:-}" != bios ] || [ "${c[alive]:-}" != true ]; then
		t_diag "mpdev=$mode: helper rc=$rc, ended by '${c[done]:-?}', both alive at the end: ${c[alive]:-?}"
		for f in "$work/$mode.err" "$dir/vmm.err" "$dir/remote.err" "$dir/bios.log"; do
			[ -s "$f" ] && t_diag "--- last lines of $f:" && tail -n 8 "$f" | sed 's/^/  /' | t_diag_in
		done
	fi
	t_ok "$([ "$rc" -eq 0 ] && [ "${c[done]:-}" = bios ] && [ "${c[alive]:-}" = true ]; echo $?)" \
		"mpdev=$mode: SeaBIOS probed the LSI controller and gave up booting, counters steady, both QEMUs alive (${c[secs]:-?}s)"
}
t_diag_in() { while IFS= read -r l; do t_diag "$l"; done; }

# 1. mpdev=on
pair on
t_ok "$([ "${c_on[mpdev]:-}" = true ]; echo $?)" "mpdev=on: the remote serves the mpdev backend (mpdev=${c_on[mpdev]:-?})"
t_ok "$([ "${c_on[mpdev-reads]:-0}" -gt 0 ] && [ "${c_on[mpdev-writes]:-0}" -gt 0 ]; echo $?)" \
	"mpdev=on: BAR reads and writes through mpdev (mpdev-reads=${c_on[mpdev-reads]:-?}, mpdev-writes=${c_on[mpdev-writes]:-?})"
t_ok "$([ "${c_on[mpdev-errors]:-x}" = 0 ]; echo $?)" "mpdev=on: no mpdev request failed (mpdev-errors=${c_on[mpdev-errors]:-?})"
t_ok "$([ "${c_on[socket-bar-reads]:-x}" = 0 ] && [ "${c_on[socket-bar-writes]:-x}" = 0 ]; echo $?)" \
	"mpdev=on: no BAR message on the socket (socket-bar-reads=${c_on[socket-bar-reads]:-?}, socket-bar-writes=${c_on[socket-bar-writes]:-?})"
grep -q 'BAR accesses served through mpdev' "$work/on/remote.err" 2>/dev/null
t_ok $? "mpdev=on: the remote said 'lsi0: BAR accesses served through mpdev'"
if [ "$have_ctl" = 1 ]; then
	js=$work/on/mpdevctl-show.json
	t_diag "mpdevctl show (during mpdev=on):" && sed 's/^/#   /' "$work/on/mpdevctl-show.txt" 2>/dev/null
	nreg=$(grep -o '"cookie":[0-9]*' "$js" 2>/dev/null | wc -l)
	spaces=$(grep -o '"space":"[a-z]*"' "$js" 2>/dev/null | cut -d'"' -f4 | sort | uniq -c | tr -s ' \n' ' ' | sed 's/^ //; s/ $//')
	t_ok "$(grep -q '"vm_attached":true' "$js" && grep -q '"backend_attached":true' "$js" &&
		grep -q '"state":"ok"' "$js" && [ "$nreg" -gt 0 ]; echo $?)" \
		"mpdevctl show -j during mpdev=on: a context, VM and backend attached, state ok, $nreg region(s) (${spaces:-none})"
else
	t_ok 0 "mpdevctl show during mpdev=on" "SKIP mpdevctl not built or not working"
fi

# 2. mpdev=off
pair off
t_ok "$([ "${c_off[mpdev]:-}" = false ] && [ "${c_off[mpdev-reads]:-x}" = 0 ] && [ "${c_off[mpdev-writes]:-x}" = 0 ] && [ "${c_off[mpdev-errors]:-x}" = 0 ]; echo $?)" \
	"mpdev=off: nothing through mpdev (mpdev=${c_off[mpdev]:-?}, mpdev-reads=${c_off[mpdev-reads]:-?}, mpdev-writes=${c_off[mpdev-writes]:-?}, mpdev-errors=${c_off[mpdev-errors]:-?})"
t_ok "$([ "${c_off[socket-bar-reads]:-0}" -gt 0 ] && [ "${c_off[socket-bar-writes]:-0}" -gt 0 ]; echo $?)" \
	"mpdev=off: BAR reads and writes on the socket (socket-bar-reads=${c_off[socket-bar-reads]:-?}, socket-bar-writes=${c_off[socket-bar-writes]:-?})"

# 3. mpdev=on, the remote polling the ring
pair poll
t_ok "$([ "${c_poll[mpdev]:-}" = true ] && [ "${c_poll[mpdev-mode]:-}" = poll ]; echo $?)" \
	"mpdev=on, remote polling: the remote serves the backend in poll mode (mpdev=${c_poll[mpdev]:-?}, mpdev-mode=${c_poll[mpdev-mode]:-?})"
t_ok "$([ "${c_poll[mpdev-poll-batches]:-0}" -gt 0 ]; echo $?)" \
	"mpdev=on, remote polling: its thread served batches from the ring (mpdev-poll-batches=${c_poll[mpdev-poll-batches]:-?}, mpdev-poll-sleeps=${c_poll[mpdev-poll-sleeps]:-?}, mpdev-kicks=${c_poll[mpdev-kicks]:-?})"
t_ok "$([ "${c_poll[mpdev-reads]:-0}" -gt 0 ] && [ "${c_poll[mpdev-writes]:-0}" -gt 0 ] && [ "${c_poll[mpdev-errors]:-x}" = 0 ]; echo $?)" \
	"mpdev=on, remote polling: BAR reads and writes through mpdev, none failed (mpdev-reads=${c_poll[mpdev-reads]:-?}, mpdev-writes=${c_poll[mpdev-writes]:-?}, mpdev-errors=${c_poll[mpdev-errors]:-?})"
t_ok "$([ "${c_poll[socket-bar-reads]:-x}" = 0 ] && [ "${c_poll[socket-bar-writes]:-x}" = 0 ]; echo $?)" \
	"mpdev=on, remote polling: no BAR message on the socket (socket-bar-reads=${c_poll[socket-bar-reads]:-?}, socket-bar-writes=${c_poll[socket-bar-writes]:-?})"

# 4. the same accesses every way
near() { # A B: |A-B| <= TOL% of max(A,B)
	local a=${1:-0} b=${2:-0} d m
	[[ $a =~ ^[0-9]+$ && $b =~ ^[0-9]+$ ]] || return 1
	d=$((a > b ? a - b : b - a)) m=$((a > b ? a : b))
	[ $((d * 100)) -le $((TOL * m)) ] && [ "$m" -gt 0 ]
}
t_ok "$(near "${c_on[mpdev-reads]:-}" "${c_off[socket-bar-reads]:-}" && near "${c_on[mpdev-writes]:-}" "${c_off[socket-bar-writes]:-}"; echo $?)" \
	"same BAR accesses either way, within $TOL% (reads ${c_on[mpdev-reads]:-?} vs ${c_off[socket-bar-reads]:-?}, writes ${c_on[mpdev-writes]:-?} vs ${c_off[socket-bar-writes]:-?})"
t_ok "$(near "${c_poll[mpdev-reads]:-}" "${c_off[socket-bar-reads]:-}" && near "${c_poll[mpdev-writes]:-}" "${c_off[socket-bar-writes]:-}"; echo $?)" \
	"same BAR accesses with the remote polling, within $TOL% (reads ${c_poll[mpdev-reads]:-?} vs ${c_off[socket-bar-reads]:-?}, writes ${c_poll[mpdev-writes]:-?} vs ${c_off[socket-bar-writes]:-?})"

left=$(pgrep -f "$work/" 2>/dev/null | tr '\n' ' ')
t_ok "$([ -z "$left" ]; echo $?)" "no QEMU left running${left:+ (pids $left)}"
finish
