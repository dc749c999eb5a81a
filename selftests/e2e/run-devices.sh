#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# run-devices.sh - QEMU's own device models in a remote QEMU (-machine
# x-remote, x-remote-object), driven by the nested guest's own Linux
# drivers, on the classic path and on the mpdev fast path.  Runs INSIDE the
# test VM:
#
#   MPDEV_VM_TCG_THREAD=multi selftests/vm/vm-run --timeout 1200 -- \
#       selftests/e2e/run-devices.sh
#
# Every case is one nested guest started by mpqemu-run --remote-cmd (the
# remote's own command line, fd=@FD@) with the remote's log and QMP socket
# in its --run-dir.  The guest tool is mpdev-io (selftests/e2e/guest).
#
# Disk: lsi53c895a + scsi-hd (serial e2edata) on a zeroed raw image.  The
# guest's sym53c8xx + sd drivers find the disk; mpdev-io writes a pattern
# with O_DIRECT at extents over the whole disk, overwrites some, reads all
# back and compares; after shutdown "mpdev-io verify-image" checks on the
# host side that the image holds exactly the final data and zeros
# elsewhere (nothing lost, misplaced or reordered).  Cases:
#   disk-classic    Debian's QEMU as VMM and remote (the stock anchor)
#   disk-vmm-auto   patched VMM, mpdev=auto without an mpdev fd, stock
#                   remote: the patched proxy keeps working on the socket
#   disk-remote     stock VMM, patched remote: socket path, and the
#                   remote's counters say so
#   disk-mpdev      patched VMM and remote, mpdev=on, remote blocking
#   disk-poll       the same, the remote busy-polls the ring
# Route checks (patched remote, QOM counters read over its QMP socket):
# with mpdev every BAR access went through mpdev and not one BAR message
# crossed the socket; without it, the reverse.
#
# Network: e1000 in the remote with -netdev user (the remote owns it).  The
# guest's e1000 driver brings up eth0, pings the gateway and fetches a
# 1 MiB random file over HTTP from a server on the test VM's loopback
# (user networking maps 10.0.2.2 to it), checking its sha256: net-classic
# (stock both sides) and net-mpdev (patched, mpdev=on).
#
# Remote killed mid-I/O (kill-mid-io, mpdev=on): the guest streams 64 KiB
# O_DIRECT records, printing "BLK-DONE i" after each completed write; the
# remote gets SIGKILL while mpqemu-run is held with SIGSTOP.  Then: mpdev
# marks the context failed, QEMU's vCPU threads are not stuck in the
# kernel (they keep being scheduled, none in D state), mpqemu-run, let go,
# names the dead remote and stops QEMU, and the image holds every record
# the guest saw completed.
#
# Output: TAP and "N passed, N failed, N skipped"; logs in
# $MPDEV_OUT/e2e-devices/ (build/vm-out/e2e-devices on the host).
# Environment: MPDEV_QEMU_PATCHED (default build-qemu.sh --print-path),
# MPDEV_QEMU_STOCK (default /usr/bin/qemu-system-x86_64),
# MPDEV_E2E_DEV_CASES (space-separated subset of the case names),
# MPDEV_E2E_BOOT_TIMEOUT (default 240), MPDEV_E2E_RUN_TIMEOUT (300),
# MPDEV_E2E_KILL_TIMEOUT (30), MPDEV_MPQEMU_RUN, MPDEV_MPDEVCTL.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"

STOCK=${MPDEV_QEMU_STOCK:-/usr/bin/qemu-system-x86_64}
PATCHED=${MPDEV_QEMU_PATCHED:-$("$E2E_REPO/userspace/qemu-patch/build-qemu.sh" --print-path 2>/dev/null | tail -n1)}
MPQEMU_RUN=${MPDEV_MPQEMU_RUN:-$E2E_REPO/userspace/build/mpqemu-run}
MPDEVCTL=${MPDEV_MPDEVCTL:-$E2E_REPO/userspace/mpdevctl/mpdevctl}
IO=$MPDEV_E2E_BUILD/mpdev-io
BOOT_TO=${MPDEV_E2E_BOOT_TIMEOUT:-240}
RUN_TO=${MPDEV_E2E_RUN_TIMEOUT:-300}
KILL_TO=${MPDEV_E2E_KILL_TIMEOUT:-30}
CASES=${MPDEV_E2E_DEV_CASES:-disk-classic disk-vmm-auto disk-remote disk-mpdev disk-poll net-classic net-mpdev kill-mid-io}
DISK_MB=64
# The QOM counters of x-remote-object (userspace/qemu-patch 0004).
QOM_PROPS="mpdev mpdev-mode mpdev-reads mpdev-writes mpdev-errors mpdev-poll-batches socket-bar-reads socket-bar-writes"

work=$(mktemp -d /tmp/e2e-devices.XXXXXX)
http_pid=''
cleanup() {
	e2e_stop
	[ -z "$http_pid" ] || kill "$http_pid" 2>/dev/null
}
trap cleanup EXIT
finish() {
	e2e_save_logs "$work" e2e-devices
	t_done
	exit
}

echo "TAP version 13"
t_diag "e2e-devices: QEMU's lsi53c895a and e1000 in -machine x-remote, driven by the nested guest's Linux drivers"
pre=0
[ "${MPDEV_IN_VM:-0}" = 1 ] && [ -c /dev/kvm ] && [ -c /dev/mpdev ] || pre=1
t_ok "$pre" "preflight: inside the test VM with /dev/kvm and /dev/mpdev"
[ -x "$STOCK" ] && [ -n "$PATCHED" ] && [ -x "$PATCHED" ] && [ -x "$MPQEMU_RUN" ] && [ -x "$IO" ] || pre=1
e2e_guest_env 2>"$work/env.err" || pre=1
t_ok "$pre" "preflight: stock QEMU ($STOCK), patched QEMU (${PATCHED:-not built}), mpqemu-run, mpdev-io and the nested guest built"
[ "$pre" = 0 ] || finish
have_ctl=0
"$MPDEVCTL" show >/dev/null 2>&1 && have_ctl=1
t_diag "stock: $("$STOCK" --version | head -n1)" "patched: $("$PATCHED" --version | head -n1)"
taint0=$(cat /proc/sys/kernel/tainted)

# --------------------------------------------------------- one case
# dev_case NAME VMM REMOTE MPDEV DEV STEPS
#   MPDEV: none (stock VMM), auto (patched VMM, no fd), on, poll
#   DEV:   lsi or e1000
# Boots the guest with e2e.io=STEPS, waits for its steps, reads the
# remote's counters into q[] (patched remote), stops everything.
case_dir='' case_name=''
dev_case() {
	local name=$1 vmm=$2 remote=$3 mpdev=$4 dev=$5 steps=$6 pm rc
	local rcmd mpq
	case_name=$name case_dir=$work/$name
	mkdir -p "$case_dir/run"
	E2E_RUNDIR=$case_dir/run E2E_TAP_PREFIX="$name: "
	case $dev in
	lsi) rcmd=(-device lsi53c895a,id=dev0
		-drive "if=none,id=d0,file=$case_dir/disk.img,format=raw"
		-device scsi-hd,drive=d0,serial=e2edata) ;;
	e1000) rcmd=(-netdev user,id=n0 -device e1000,id=dev0,netdev=n0,romfile=) ;;
	esac
	e2e_xremote_args "$remote" "$mpdev" "${rcmd[@]}"
	mpq=("$MPQEMU_RUN" --qemu "$vmm" --run-dir "$case_dir/run" -v)
	case $mpdev in
	none) pm= ;;
	auto) pm=,mpdev=auto ;;
	*) pm=,mpdev=on,mpdev-fd=@MPDEV_FD:dev0@ mpq+=(--mpdev-for dev0) ;;
	esac
	mpq+=(--remote-cmd dev0 "${E2E_REMOTE_ARGS[@]}" ';')
	e2e_qemu_args "$case_dir" "$E2E_APPEND e2e.io=$steps e2e.end=hold"
	E2E_QEMU_ARGS+=(-device "x-pci-proxy-dev,id=dev0,fd=@PROXY_FD:dev0@$pm")
	printf '%q ' "${mpq[@]}" -- "${E2E_QEMU_ARGS[@]}" >"$case_dir/cmdline"

	q=()
	e2e_boot "$case_dir" 2 "$BOOT_TO" "${mpq[@]}"
	if [ "$E2E_BOOT_RC" -eq 3 ]; then
		t_fail "$name: mpqemu-run started the remote and QEMU (see mpqemu-run.err)"
		e2e_tail_logs "$case_dir" 10
		return 1
	fi
	if ! e2e_boot_tap "$case_dir"; then
		t_fail "$name: $E2E_WHY"
		e2e_tail_logs "$case_dir" 15
		e2e_stop
		return 1
	fi
	# The kill case inspects a guest still at work.
	[ "${DEV_WAIT_DONE:-1}" = 1 ] || return 0
	e2e_wait "$case_dir/guest.tap" '^E2E-GUEST-DONE' "$RUN_TO" "$mpid"
	rc=$?
	e2e_guest_tap "$case_dir"
	t_ok "$([ "$rc" -eq 0 ] && [ -n "$E2E_PLAN" ] && [ "$E2E_PLAN" -eq "$E2E_NGUEST" ] && [ "$E2E_NGUEST" -gt 0 ]; echo $?)" \
		"$name: the guest's steps ran to the end, all $E2E_NGUEST checks reported ($(grep -m1 '^E2E-GUEST-DONE' "$case_dir/guest.tap.txt" || echo "not within ${RUN_TO}s"))"
	[ "$rc" -eq 0 ] || e2e_tail_logs "$case_dir" 15
	if [ "$remote" = "$PATCHED" ] && kill -0 "$remote_pid" 2>/dev/null; then
		# shellcheck disable=SC2086 # a list of names
		e2e_qom "$case_dir/run/dev0.qmp" "$case_dir/qom.txt" $QOM_PROPS
		t_diag "$name: remote counters: $(tr '\n' ' ' <"$case_dir/qom.txt")"
	fi
	if [ "$mpdev" = on ] || [ "$mpdev" = poll ]; then
		[ "$have_ctl" = 0 ] || "$MPDEVCTL" show -j >"$case_dir/mpdevctl-show.json" 2>&1
	fi
	return 0
}

# case_stop: stop the case's guest, check nobody is left behind
case_stop() {
	local left
	e2e_stop
	left=$(pgrep -f "$case_dir/" 2>/dev/null | tr '\n' ' ')
	t_ok "$([ -z "$left" ] && [ -s "$case_dir/run/dev0.exit" ]; echo $?)" \
		"$case_name: stopped: no QEMU left${left:+ (pids $left)}, the remote's end recorded ($(cat "$case_dir/run/dev0.exit" 2>/dev/null || echo none))"
}

route_mpdev() {
	local n=$1
	t_ok "$([ "${q[mpdev]:-}" = true ] && [ "${q[mpdev-reads]:-0}" -gt 0 ] && [ "${q[mpdev-writes]:-0}" -gt 0 ] && [ "${q[mpdev-errors]:-x}" = 0 ]; echo $?)" \
		"$n: route: the guest's BAR accesses went through mpdev (mpdev=${q[mpdev]:-?}, reads=${q[mpdev-reads]:-?}, writes=${q[mpdev-writes]:-?}, errors=${q[mpdev-errors]:-?})"
	t_ok "$([ "${q[socket-bar-reads]:-x}" = 0 ] && [ "${q[socket-bar-writes]:-x}" = 0 ]; echo $?)" \
		"$n: route: no BAR message crossed the socket (socket-bar-reads=${q[socket-bar-reads]:-?}, socket-bar-writes=${q[socket-bar-writes]:-?})"
	if [ "$have_ctl" = 1 ]; then
		t_ok "$(grep -q '"backend_attached":true' "$case_dir/mpdevctl-show.json" && grep -q '"state":"ok"' "$case_dir/mpdevctl-show.json"; echo $?)" \
			"$n: mpdevctl show: the context has its backend, state ok"
	fi
}

route_socket() {
	local n=$1
	t_ok "$([ "${q[mpdev]:-}" = false ] && [ "${q[mpdev-reads]:-x}" = 0 ] && [ "${q[mpdev-writes]:-x}" = 0 ] &&
		[ "${q[socket-bar-reads]:-0}" -gt 0 ] && [ "${q[socket-bar-writes]:-0}" -gt 0 ]; echo $?)" \
		"$n: route: BAR accesses on the socket, none through mpdev (socket-bar-reads=${q[socket-bar-reads]:-?}, socket-bar-writes=${q[socket-bar-writes]:-?}, mpdev-reads=${q[mpdev-reads]:-?})"
}

# ---------------------------------------------------------------- disk
# The host-side check's verdict in one line: its failures, else its oks.
io_summary() {
	local bad
	bad=$(grep -E '^(not ok|# .*mismatch)' <<<"$1" | head -n 2 | tr '\n' ' ')
	[ -n "$bad" ] && { echo "$bad"; return; }
	grep -E '^(ok|BLK-BEYOND)' <<<"$1" | sed 's/^ok [0-9]* - //' | tr '\n' ';' | sed 's/;$//'
}
# say_check NAME: the one line each side prints about the path it took
say_check() {
	local n=$1 vlog=$case_dir/mpqemu-run.err rlog=$case_dir/run/dev0.log
	local sock='BAR accesses arrive on the socket (the proxy sent no mpdev backend)'
	case $mpdev in
	auto) t_ok "$(grep -q -F 'dev0: BAR accesses go over the socket (mpdev=auto and no mpdev-fd)' "$vlog"; echo $?)" \
		"$n: the patched VMM says in one line that dev0 uses the socket" ;;
	none) [ "$remote" != "$PATCHED" ] ||
		t_ok "$(grep -q -F "dev0: $sock" "$rlog"; echo $?)" \
			"$n: the patched remote says in one line that no backend came" ;;
	*) t_ok "$(grep -q -F 'dev0: BAR accesses served through mpdev' "$rlog" && ! grep -q -F "$sock" "$rlog"; echo $?)" \
		"$n: the remote says it serves dev0 through mpdev, and nothing of the socket" ;;
	esac
}

SEED=0
disk_case() {
	local name=$1 vmm=$2 remote=$3 mpdev=$4 out
	SEED=$((SEED + 1))
	mkdir -p "$work/$name"
	truncate -s "${DISK_MB}M" "$work/$name/disk.img"
	if dev_case "$name" "$vmm" "$remote" "$mpdev" lsi "disk:e2edata,pattern:e2edata:$SEED"; then
		case $mpdev in
		on) route_mpdev "$name" ;;
		poll) route_mpdev "$name"
		      t_ok "$([ "${q[mpdev-mode]:-}" = poll ] && [ "${q[mpdev-poll-batches]:-0}" -gt 0 ]; echo $?)" \
			"$name: route: the remote busy-polled the ring (mpdev-mode=${q[mpdev-mode]:-?}, mpdev-poll-batches=${q[mpdev-poll-batches]:-?})" ;;
		*) [ "$remote" = "$PATCHED" ] && route_socket "$name" ;;
		esac
		say_check "$name"
		case_stop
	fi
	out=$("$IO" --out stdout verify-image "$work/$name/disk.img" "$SEED" 2>&1)
	t_ok $? "$name: the image holds exactly what the guest wrote (host side: $(io_summary "$out"))"
	rm -f "$work/$name/disk.img"
}

# ------------------------------------------------------------- network
net_setup() {
	local port
	# vm-run leaves the test VM's loopback down
	ip link set lo up
	mkdir -p "$work/www"
	head -c 1048576 /dev/urandom >"$work/www/blob"
	BLOB_SHA=$(sha256sum "$work/www/blob" | cut -d' ' -f1)
	for port in 18080 18081 18082 18083; do
		python3 -m http.server "$port" --bind 127.0.0.1 --directory "$work/www" \
			>"$work/http.log" 2>&1 &
		http_pid=$!
		# up when it answers; gone when the port was taken
		for _ in $(seq 50); do
			kill -0 "$http_pid" 2>/dev/null || break
			python3 -c "import urllib.request as u; u.urlopen('http://127.0.0.1:$port/blob').read()" 2>/dev/null &&
				{ HTTP_PORT=$port http_gets=1; return 0; }
			sleep 0.2
		done
		kill "$http_pid" 2>/dev/null
		http_pid=''
	done
	return 1
}

net_case() {
	local name=$1 vmm=$2 remote=$3 mpdev=$4 got
	if dev_case "$name" "$vmm" "$remote" "$mpdev" e1000 "net:http://10.0.2.2:$HTTP_PORT/blob:$BLOB_SHA"; then
		got=$(grep -c 'GET /blob' "$work/http.log")
		t_ok "$([ "$got" -gt "${http_gets:-0}" ]; echo $?)" "$name: the test VM's HTTP server served the guest's request ($((got - ${http_gets:-0})) GET)"
		http_gets=$got
		case $mpdev in
		on|poll) route_mpdev "$name" ;;
		esac
		case_stop
	fi
}

# ------------------------------------------------------ remote killed
kill_case() {
	local name=kill-mid-io st1 st2 dstate inmp w mrc msg last out end t0
	SEED=$((SEED + 1))
	mkdir -p "$work/$name"
	# 16384 records: the stream is still writing when the remote dies
	# (sparse: only what the guest wrote takes room)
	truncate -s 1G "$work/$name/disk.img"
	DEV_WAIT_DONE=0 dev_case "$name" "$PATCHED" "$PATCHED" on lsi "disk:e2edata,stream:e2edata:$SEED" || return
	e2e_wait "$case_dir/guest.tap" '^BLK-DONE 32$' 120 "$mpid"
	t_ok $? "$name: the guest streams 64 KiB records to the disk (32 done)"
	python3 "$here/qom-get.py" "$case_dir/run/dev0.qmp" /objects/robj0 mpdev-writes socket-bar-writes >"$case_dir/qom.txt" 2>&1
	t_ok "$(grep -q '^mpdev-writes=[1-9]' "$case_dir/qom.txt" && grep -q '^socket-bar-writes=0$' "$case_dir/qom.txt"; echo $?)" \
		"$name: route: through mpdev ($(tr '\n' ' ' <"$case_dir/qom.txt"))"
	kill -STOP "$mpid"
	kill -KILL "$remote_pid"
	t_diag "$name: remote (pid $remote_pid) killed with SIGKILL; mpqemu-run held with SIGSTOP meanwhile"
	if [ "$have_ctl" = 1 ]; then
		for _ in $(seq 50); do
			"$MPDEVCTL" show >"$case_dir/mpdevctl-dead.txt" 2>&1
			grep -q -i failed "$case_dir/mpdevctl-dead.txt" && break
			sleep 0.2
		done
		t_diag "$name: mpdevctl show after the kill:" && sed 's/^/#   /' "$case_dir/mpdevctl-dead.txt"
		t_ok "$(grep -q -i failed "$case_dir/mpdevctl-dead.txt"; echo $?)" "$name: mpdev marked the context failed"
	fi
	# Not hung: no thread of QEMU's in D state or waiting inside mpdev,
	# sampled over 2 s (a vCPU may well idle in HLT meanwhile, waiting for
	# the disk's interrupt: CPU time is no evidence either way); that QEMU
	# then stops at once is checked below.
	cpu_ticks() { awk '{ s += $14 + $15 } END { print s + 0 }' /proc/"$qemu_pid"/task/*/stat 2>/dev/null; }
	st1=$(cpu_ticks) dstate=0 inmp=0
	for _ in $(seq 10); do
		dstate=$((dstate + $(grep -l '^State:.*D (disk sleep)' /proc/"$qemu_pid"/task/*/status 2>/dev/null | wc -l)))
		inmp=$((inmp + $(for w in /proc/"$qemu_pid"/task/*/wchan; do cat "$w"; echo; done 2>/dev/null | grep -c '^mpdev')))
		sleep 0.2
	done
	st2=$(cpu_ticks)
	t_ok "$(kill -0 "$qemu_pid" 2>/dev/null && [ "$dstate" -eq 0 ] && [ "$inmp" -eq 0 ]; echo $?)" \
		"$name: QEMU's threads do not hang in the kernel (alive; over 10 samples: $dstate in D state, $inmp waiting in mpdev; $((st2 - st1)) CPU ticks)"
	kill -CONT "$mpid"
	t0=$SECONDS end=$((SECONDS + KILL_TO))
	while kill -0 "$mpid" 2>/dev/null && [ "$SECONDS" -lt "$end" ]; do sleep 0.2; done
	if kill -0 "$mpid" 2>/dev/null; then
		t_fail "$name: mpqemu-run stopped QEMU within ${KILL_TO}s of being let go (TIMEOUT)"
		e2e_stop
	else
		wait "$mpid"
		mrc=$? mpid=''
		msg=$(grep -E "remote for proxy dev0 \(pid $remote_pid.*killed by signal 9.*stopping QEMU" "$case_dir/mpqemu-run.err" | head -n1)
		t_ok "$([ "$mrc" -eq 1 ] && [ -n "$msg" ]; echo $?)" \
			"$name: mpqemu-run named the dead remote, stopped QEMU in $((SECONDS - t0))s and exited 1 (status $mrc: '${msg:-no such message}')"
		t_ok "$(! kill -0 "$qemu_pid" 2>/dev/null; echo $?)" "$name: QEMU (pid $qemu_pid) is gone"
	fi
	last=$(tr -d '\r' <"$case_dir/guest.tap" | sed -n 's/^BLK-DONE \([0-9]*\)$/\1/p' | tail -n1)
	t_ok "$(! grep -q '^BLK-END' "$case_dir/guest.tap"; echo $?)" \
		"$name: the remote died mid-stream (last record the guest saw done: ${last:-none} of 16384)"
	out=$("$IO" --out stdout verify-stream "$case_dir/disk.img" "$SEED" "${last:-0}" 2>&1)
	t_ok $? "$name: the image holds every record the guest saw completed (0..${last:-?}; host side: $(io_summary "$out"))"
	rm -f "$case_dir/disk.img"
}

for c in $CASES; do
	case $c in
	disk-classic) disk_case "$c" "$STOCK" "$STOCK" none ;;
	disk-vmm-auto) disk_case "$c" "$PATCHED" "$STOCK" auto ;;
	disk-remote) disk_case "$c" "$STOCK" "$PATCHED" none ;;
	disk-mpdev) disk_case "$c" "$PATCHED" "$PATCHED" on ;;
	disk-poll) disk_case "$c" "$PATCHED" "$PATCHED" poll ;;
	net-*)
		if [ -z "${HTTP_PORT:-}" ] && ! net_setup; then
			t_fail "$c: an HTTP server on 127.0.0.1 for the guest"
			continue
		fi
		case $c in
		net-classic) net_case "$c" "$STOCK" "$STOCK" none ;;
		net-mpdev) net_case "$c" "$PATCHED" "$PATCHED" on ;;
		esac ;;
	kill-mid-io) kill_case ;;
	*) t_fail "unknown case '$c'" ;;
	esac
done
E2E_TAP_PREFIX=''
taint1=$(cat /proc/sys/kernel/tainted)
t_ok "$([ "$taint1" = "$taint0" ]; echo $?)" "the kernel's taint flags did not change (before $taint0, after $taint1: no warning)"
finish
