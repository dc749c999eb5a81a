#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# demo-inside.sh - the in-VM half of "make demo" (scripts/demo.sh boots the
# test VM and runs this in it; MPDEV_IN_VM=1, /dev/kvm, mpdev.ko loaded).
#
# Three nested boots of the e2e guest (selftests/e2e), one after the other,
# all with Debian's own, unmodified QEMU:
#
#   1. mpdev, busy-polling remote: mpqemu-run --zero-patch (it relays the
#      proxy's socket, attaches QEMU's KVM VM to mpdev and registers the
#      BARs from QMP; Documentation/mpdev/zero-patch.rst), mpdev-remote
#      --poll.  The guest runs "check" and a short bench; then the report
#      shows which process served what (the remote's counters: socket vs
#      mpdev path; mpdevctl show/stats when it is built).
#   2. stock QEMU, classic path: mpqemu-run, qemu-system-x86_64 with
#      x-pci-proxy-dev: every BAR access is a socket round trip via QEMU.
#   3. mpdev, blocking remote: as 1 without --poll.
#   4. only with MPDEV_DEMO_PATCHED=1: the integrated option, QEMU with our
#      patch series (mpqemu-run --mpdev), busy-polling remote.
#
# Each runs the same bench (4-byte MMIO reads and writes of BAR0, timed in
# the guest); the closing table gives p50/p99 per access and the ratio to
# the stock run.
#
# Then QEMU's own device models, the seeds' example: an lsi53c895a SCSI
# controller with two scsi-hd disks (a raw image and null-co) in a remote
# QEMU (-machine x-remote, x-remote-object), driven by the nested guest's
# own sym53c8xx and sd drivers (guest tool mpdev-io), three more stages
# (MPDEV_DEMO_DISK=0 leaves them out):
#
#   - mpdev: Debian's QEMU as VMM, mpqemu-run --zero-patch, the remote
#     QEMU with our series serving the BARs from the backend (blocking).
#     The guest writes a pattern with O_DIRECT over the raw disk and reads
#     it back; after shutdown the host checks the image holds exactly
#     that.  Then 4 KiB random reads and writes at QD1 on the null-co
#     disk.  What ran where, and the remote's own counters (QMP qom-get).
#   - the same disk, classic path (Debian's QEMU on both sides);
#   - the same controller and disks in the VMM QEMU itself (in-process).
#
# The last table gives IOPS and p50 per I/O, with ratios.  All numbers
# come from this run.  Under software emulation (TCG test VM + nested
# KVM) absolute times are meaningless; the ratios are what to look at.
#
# Environment: MPDEV_DEMO_BENCH_N (accesses per bench, default 300),
# MPDEV_DEMO_DISK (0: no disk stages, and no patched QEMU needed),
# MPDEV_DEMO_DISK_SECS (seconds per disk bench, default 3),
# MPDEV_DEMO_PATCHED (1: also stage 4), MPDEV_QEMU_PATCHED (its QEMU),
# MPDEV_QEMU_STOCK (default qemu-system-x86_64),
# MPDEV_E2E_BOOT_TIMEOUT (240), MPDEV_E2E_RUN_TIMEOUT (300).
# Exit status: 0 if every stage worked and the guest's checks passed.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"

N=${MPDEV_DEMO_BENCH_N:-300}
BOOT_TO=${MPDEV_E2E_BOOT_TIMEOUT:-240}
RUN_TO=${MPDEV_E2E_RUN_TIMEOUT:-300}
MPQEMU_RUN=${MPDEV_MPQEMU_RUN:-$E2E_REPO/userspace/build/mpqemu-run}
MPDEV_REMOTE=${MPDEV_REMOTE:-$E2E_REPO/userspace/build/mpdev-remote}
MPDEVCTL=${MPDEV_MPDEVCTL:-$E2E_REPO/userspace/mpdevctl/mpdevctl}
QEMU_STOCK=${MPDEV_QEMU_STOCK:-$(command -v qemu-system-x86_64)}
BENCH="bench:-n:$N:--sizes:4"

work=$(mktemp -d /tmp/mpdev-demo.XXXXXX)
t0=$SECONDS
failed=0

say() { printf '[demo %3ds] %s\n' "$((SECONDS - t0))" "$*"; }
die() { say "FAILED: $*"; exit 1; }
e2e_note() { say "    $*"; }
trap e2e_stop EXIT

# ------------------------------------------------------------ preflight
[ "${MPDEV_IN_VM:-0}" = 1 ] || die "run me through scripts/demo.sh (inside the test VM)"
[ -c /dev/kvm ] || die "no /dev/kvm in the test VM"
[ -c /dev/mpdev ] || die "no /dev/mpdev: mpdev.ko not loaded"
PATCHED=${MPDEV_DEMO_PATCHED:-0}
DISK=${MPDEV_DEMO_DISK:-1}
DISK_SECS=${MPDEV_DEMO_DISK_SECS:-3}
IO=$MPDEV_E2E_BUILD/mpdev-io
if [ "$PATCHED" = 1 ] || [ "$DISK" = 1 ]; then
	QEMU_PATCHED=${MPDEV_QEMU_PATCHED:-$("$E2E_REPO/userspace/qemu-patch/build-qemu.sh" --print-path 2>/dev/null | tail -n1)}
	[ -n "$QEMU_PATCHED" ] && [ -x "$QEMU_PATCHED" ] || die "patched QEMU not built (userspace/qemu-patch/build-qemu.sh)"
fi
[ -n "$QEMU_STOCK" ] && [ -x "$QEMU_STOCK" ] || die "no stock qemu-system-x86_64"
{ [ -x "$MPQEMU_RUN" ] && [ -x "$MPDEV_REMOTE" ]; } || die "userspace not built (make -C userspace)"
e2e_guest_env 2>"$work/env.err" || die "nested guest not built: $(cat "$work/env.err")"
have_ctl=0
"$MPDEVCTL" show >/dev/null 2>&1 && have_ctl=1

say "inside the test VM: kernel $(uname -r), $(nproc) CPUs, mpdev.ko loaded, /dev/kvm = nested KVM"
say "stock QEMU:   $QEMU_STOCK ($("$QEMU_STOCK" --version | head -n1)), unmodified"
[ "$DISK" = 0 ] || [ -x "$IO" ] || die "guest tool mpdev-io not built (make -C selftests/e2e)"
uses=''
[ "$DISK" = 0 ] || uses="the disk stages' remote"
[ "$PATCHED" = 0 ] || uses+="${uses:+, }stage 4"
[ -z "$uses" ] || say "patched QEMU: $QEMU_PATCHED ($uses)"
say "nested guest: $E2E_KERNEL_KIND kernel $(basename "$E2E_KERNEL") + busybox initramfs with mpdev-guest"

# run_guest NAME STEPS MPQEMU-RUN-ARGS...: boot the nested guest, run STEPS,
# wait until it holds BAR0 (E2E-HOLD); mpqemu-run stays running ($mpid,
# remote $remote_pid, QEMU $qemu_pid), the logs in $work/NAME/.
run_guest() {
	local name=$1 steps=$2 dir=$work/$1
	shift 2
	mkdir -p "$dir"
	e2e_qemu_args "$dir" "$E2E_APPEND e2e.run=$steps e2e.end=hold"
	say "  booting the nested guest"
	e2e_boot "$dir" "${MPDEV_E2E_BOOT_TRIES:-2}" "$BOOT_TO" "$MPQEMU_RUN" "$@" \
		--remote "$MPDEV_REMOTE" --remote-arg "--stats-file=$dir/remote.stats" -v
	case $E2E_BOOT_RC in
	0) ;;
	3) sed 's/^/    /' "$dir/mpqemu-run.err"; return 1 ;;
	*) say "  no guest tool after ${E2E_BOOT_SECS}s ($E2E_BOOT_TRY tries)"; return 1 ;;
	esac
	say "  remote pid $remote_pid ($(tr '\0' ' ' </proc/"$remote_pid"/cmdline | sed "s|$E2E_REPO/||g; s|$dir/||g")), QEMU pid $qemu_pid"
	local s=$((SECONDS - E2E_BOOT_SECS))
	# Two CPUs in the test VM: QEMU (the nested vCPU) on one, the remote on
	# the other, the same for every run (a busy-polling remote sharing the
	# vCPU's CPU would only measure the scheduler).
	if [ "$(nproc)" -ge 2 ]; then
		taskset -a -p -c 0 "$qemu_pid" >/dev/null 2>&1
		taskset -p -c 1 "$remote_pid" >/dev/null 2>&1
	fi
	say "  nested guest up after ${E2E_BOOT_SECS}s; running: ${steps//,/ }"
	e2e_wait "$dir/guest.tap" '^E2E-HOLD' "$RUN_TO" "$mpid" || {
		say "  guest steps did not finish"; tail -n 5 "$dir/guest.tap" | sed 's/^/    /'; return 1; }
	tr -d '\r' <"$dir/guest.tap" >"$dir/guest.txt"
	say "  guest done after $((SECONDS - s))s: $(grep -m1 '^E2E-GUEST-DONE' "$dir/guest.txt")"
}
# Counters of the remote of the current run into $dir/remote.stats.
dump_stats() {
	rm -f "$work/$1/remote.stats"
	kill -USR1 "$remote_pid" 2>/dev/null
	e2e_wait "$work/$1/remote.stats" '^dev\.' 15 "$remote_pid"
}
stat_of() { sed -n "s/^$2=//p" "$work/$1/remote.stats" 2>/dev/null | head -n1; }
# bench_of NAME OP FIELD: FIELD (p50_ns, p99_ns) of the 4-byte mmio OP bench.
bench_of() {
	grep -E "^BENCH [^ ]+ mmio $2 4 " "$work/$1/guest.txt" 2>/dev/null | head -n1 |
		grep -o -E "$3=[0-9.]+" | cut -d= -f2
}

# ----------------------------------------- 1. mpdev, busy-polling remote
nst=$((3 + (PATCHED == 1) + 3 * (DISK == 1))) st=0
stage() { st=$((st + 1)); say "stage $st/$nst: $*"; }
stage "mpdev fast path with Debian's QEMU, busy-polling remote (mpqemu-run --zero-patch, mpdev-remote --poll)"
if run_guest zp-poll "check,$BENCH" --qemu "$QEMU_STOCK" --zero-patch --run-dir "$work/zp-poll/run" --remote-arg --poll; then
	dump_stats zp-poll || say "  the remote wrote no counters"
	d=$work/zp-poll
	pass=$(grep -c '^ok ' "$d/guest.txt") fail=$(grep -c '^not ok ' "$d/guest.txt")
	echo
	echo "  What ran where"
	echo "  --------------"
	echo "  test VM (TCG, this kernel + mpdev.ko) runs:"
	echo "    QEMU (Debian's) pid $qemu_pid  the nested guest's vCPU under KVM, unmodified"
	echo "    mpqemu-run      pid $mpid  relays the proxy's socket, attached QEMU's VM to /dev/mpdev, keeps the BARs there"
	echo "    mpdev-remote    pid $remote_pid  the testdev (6d70:0001), busy-polling the mpdev ring"
	echo "    the nested guest (KVM) runs mpdev-guest, which touches the device's BARs"
	echo "  what mpqemu-run did ($d/run/mpdev0.zero-patch):"
	tr '\n' ' ' <"$d/run/mpdev0.zero-patch" 2>/dev/null | fold -s -w 72 | sed 's/^/    /'
	echo
	echo "  who served the guest's accesses (remote counters):"
	printf '    %-34s %s\n' \
		"BAR reads via mpdev (KVM->ring):" "$(stat_of zp-poll mpdev.reads)" \
		"BAR writes via mpdev (KVM->ring):" "$(stat_of zp-poll mpdev.writes)" \
		"BAR reads via QEMU socket:" "$(stat_of zp-poll socket.bar_read)" \
		"BAR writes via QEMU socket:" "$(stat_of zp-poll socket.bar_write)" \
		"config space via QEMU socket:" "$(stat_of zp-poll socket.cfg_read) reads, $(stat_of zp-poll socket.cfg_write) writes" \
		"mpdev backend handed over:" "$(stat_of zp-poll socket.mpdev_backend)" \
		"ring passes / kicks:" "$(stat_of zp-poll mpdev.batches) / $(stat_of zp-poll mpdev.kicks)"
	if [ "$have_ctl" = 1 ]; then
		echo "  mpdev's view (mpdevctl show; mpdevctl stats without its histogram):"
		"$MPDEVCTL" show 2>&1 | sed 's/^/    /'
		# The counters only; the latency histogram is in the logs.
		"$MPDEVCTL" stats >"$d/mpdevctl-stats.txt" 2>&1
		grep -v -E '^ *(\[|read latency)' "$d/mpdevctl-stats.txt" | sed 's/^/    /'
	else
		echo "  (mpdevctl not built: mpdev's own view skipped)"
	fi
	echo "  guest's check: $pass passed, $fail failed$( [ "$fail" -eq 0 ] || printf ': %s' "$(grep '^not ok ' "$d/guest.txt" | head -n3 | tr '\n' ';')")"
	echo
	[ "$fail" -eq 0 ] && [ "$pass" -gt 0 ] || { say "  the guest's checks failed"; failed=1; }
	[ "$(stat_of zp-poll mpdev.reads)" -gt 0 ] 2>/dev/null && [ "$(stat_of zp-poll socket.bar_read)" = 0 ] ||
		{ say "  the BAR accesses did not all take the mpdev path"; failed=1; }
	e2e_stop
else
	e2e_stop
	die "stage 1: the mpdev guest did not run (logs: $work/zp-poll)"
fi

# ------------------------------------------------ 2. stock QEMU, classic
stage "classic path (stock QEMU x-pci-proxy-dev, every BAR access over the socket)"
if run_guest stock "$BENCH" --qemu "$QEMU_STOCK"; then
	dump_stats stock >/dev/null
	say "  remote: socket.bar_read=$(stat_of stock socket.bar_read) socket.bar_write=$(stat_of stock socket.bar_write) mpdev.reads=$(stat_of stock mpdev.reads)"
else
	say "  stage 2 failed (logs: $work/stock)"; failed=1
fi
e2e_stop

# --------------------------------------------- 3. mpdev, blocking remote
stage "mpdev fast path with Debian's QEMU, blocking remote (poll()/read()/write() on the backend fd)"
if run_guest zp-block "$BENCH" --qemu "$QEMU_STOCK" --zero-patch; then
	dump_stats zp-block >/dev/null
	say "  remote: mpdev.reads=$(stat_of zp-block mpdev.reads) mpdev.writes=$(stat_of zp-block mpdev.writes) socket.bar_read=$(stat_of zp-block socket.bar_read)"
	[ "$(stat_of zp-block socket.bar_read)" = 0 ] || { say "  the BAR accesses did not all take the mpdev path"; failed=1; }
else
	say "  stage 3 failed (logs: $work/zp-block)"; failed=1
fi
e2e_stop

# ------------------------------- 4. the patched QEMU (MPDEV_DEMO_PATCHED=1)
rows="stock:stock QEMU, classic socket path|zp-block:mpdev, stock QEMU, blocking|zp-poll:mpdev, stock QEMU, polling"
if [ "$PATCHED" = 1 ]; then
	stage "mpdev with QEMU and our patch series (mpqemu-run --mpdev), busy-polling remote"
	if run_guest mpdev-poll "$BENCH" --qemu "$QEMU_PATCHED" --mpdev --remote-arg --poll; then
		dump_stats mpdev-poll >/dev/null
		say "  remote: mpdev.reads=$(stat_of mpdev-poll mpdev.reads) socket.bar_read=$(stat_of mpdev-poll socket.bar_read)"
		rows+="|mpdev-poll:mpdev, patched QEMU, polling"
	else
		say "  stage 4 failed (logs: $work/mpdev-poll)"; failed=1
	fi
	e2e_stop
else
	say "(the patched QEMU, the integrated option: MPDEV_DEMO_PATCHED=1 make demo)"
fi

# ------------------------------------------------------------ the table
echo
echo "  Guest-measured latency per 4-byte BAR0 access ($N accesses each, ns; ratio = stock / this, >1 is faster)"
printf '  %-36s %-5s %10s %10s %8s %8s\n' path op p50 p99 "x p50" "x p99"
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a > 0 && b > 0) printf "%.1f", a / b; else printf "-" }'; }
IFS='|' read -r -a rowlist <<<"$rows"
for row in "${rowlist[@]}"; do
	name=${row%%:*} label=${row#*:}
	for op in read write; do
		p50=$(bench_of "$name" "$op" p50_ns) p99=$(bench_of "$name" "$op" p99_ns)
		s50=$(bench_of stock "$op" p50_ns) s99=$(bench_of stock "$op" p99_ns)
		[ -n "$p50" ] || failed=1
		printf '  %-36s %-5s %10s %10s %8s %8s\n' "$label" "$op" "${p50:-failed}" "${p99:-failed}" \
			"$(ratio "${s50:-0}" "${p50:-0}")" "$(ratio "${s99:-0}" "${p99:-0}")"
	done
done
echo "  (nested KVM inside a TCG-emulated test VM: absolute times are inflated; compare the ratios)"
echo

# ------------------------------- QEMU's own lsi53c895a in a remote QEMU
# disk_guest NAME MODE STEPS: boot the nested guest with the LSI and its
# two disks, run mpdev-io's STEPS, wait for the end.  MODE: zp (Debian's
# VMM, mpqemu-run --zero-patch, the remote our patched QEMU), stock
# (Debian's QEMU both sides), inproc (the LSI in the VMM itself).  The
# remote's counters into q[] (zp).  Leaves the guest running (e2e_stop).
NULL_DISK="driver=null-co,node-name=nul0,size=1073741824,read-zeroes=on"
disk_guest() {
	local name=$1 mode=$2 steps=$3 dir=$work/$1 mpq lsi
	mkdir -p "$dir/run"
	truncate -s 64M "$dir/disk.img"
	# shellcheck disable=SC2054 # commas inside QEMU's arguments
	lsi=(-device lsi53c895a,id=dev0 -blockdev "$NULL_DISK"
		-device scsi-hd,drive=nul0,serial=e2enull
		-drive "if=none,id=raw0,file=$dir/disk.img,format=raw"
		-device scsi-hd,drive=raw0,serial=e2edata)
	e2e_qemu_args "$dir" "$E2E_APPEND e2e.io=$steps e2e.end=hold" 256M 1
	q=()
	say "  booting the nested guest"
	if [ "$mode" = inproc ]; then
		E2E_QEMU_ARGS+=("${lsi[@]}")
		E2E_INPROC=1 E2E_RUNDIR='' e2e_boot "$dir" "${MPDEV_E2E_BOOT_TRIES:-2}" "$BOOT_TO" "$QEMU_STOCK"
	else
		e2e_xremote_args "$([ "$mode" = zp ] && echo "$QEMU_PATCHED" || echo "$QEMU_STOCK")" block "${lsi[@]}"
		mpq=("$MPQEMU_RUN" --qemu "$QEMU_STOCK" --run-dir "$dir/run" -v)
		[ "$mode" = stock ] || mpq+=(--zero-patch)
		E2E_QEMU_ARGS+=(-device "x-pci-proxy-dev,id=dev0,fd=@PROXY_FD:dev0@")
		E2E_RUNDIR=$dir/run e2e_boot "$dir" "${MPDEV_E2E_BOOT_TRIES:-2}" "$BOOT_TO" \
			"${mpq[@]}" --remote-cmd dev0 "${E2E_REMOTE_ARGS[@]}" ';'
	fi
	case $E2E_BOOT_RC in
	0) ;;
	3) sed 's/^/    /' "$dir/mpqemu-run.err"; return 1 ;;
	*) say "  no guest tool after ${E2E_BOOT_SECS}s ($E2E_BOOT_TRY tries)"; return 1 ;;
	esac
	# vCPU 0 on CPU 0; the remote (all its threads) on CPU 1
	e2e_pin
	local s=$((SECONDS - E2E_BOOT_SECS))
	say "  nested guest up after ${E2E_BOOT_SECS}s; running: ${steps//,/ }"
	e2e_wait "$dir/guest.tap" '^E2E-HOLD' "$RUN_TO" "$mpid" || {
		say "  guest steps did not finish"; tail -n 5 "$dir/guest.tap" | sed 's/^/    /'; return 1; }
	tr -d '\r' <"$dir/guest.tap" >"$dir/guest.txt"
	say "  guest done after $((SECONDS - s))s: $(grep -m1 '^E2E-GUEST-DONE' "$dir/guest.txt")"
	if [ "$mode" = zp ]; then
		e2e_qom "$dir/run/dev0.qmp" "$dir/qom.txt" mpdev mpdev-mode mpdev-reads mpdev-writes mpdev-errors socket-bar-reads socket-bar-writes
		[ "$have_ctl" = 0 ] || "$MPDEVCTL" show >"$dir/mpdevctl-show.txt" 2>&1
	fi
	grep -q '^E2E-GUEST-DONE .* fail=0 ' "$dir/guest.txt" || { say "  the guest's steps failed:"; grep '^not ok' "$dir/guest.txt" | head -n 3 | sed 's/^/    /'; return 1; }
}
# blk_of NAME RW FIELD: FIELD (iops, p50_ns) of the null-co bench
blk_of() {
	grep -E "^BLKBENCH label=lsi-null rw=$2 " "$work/$1/guest.txt" 2>/dev/null | head -n1 |
		grep -o -E " $3=[0-9.]+" | cut -d= -f2
}
BLK_STEPS="disk:e2enull,bench:e2enull:randread:$DISK_SECS:lsi-null,bench:e2enull:randwrite:$DISK_SECS:lsi-null"
disk_rows=''
if [ "$DISK" = 1 ]; then
	stage "QEMU's own lsi53c895a disk in a remote QEMU on the mpdev fast path: Debian's QEMU as VMM (mpqemu-run --zero-patch), the remote QEMU with our series"
	if disk_guest lsi-zp zp "disk:e2edata,pattern:e2edata:1,$BLK_STEPS"; then
		d=$work/lsi-zp
		echo
		echo "  What ran where"
		echo "  --------------"
		echo "    QEMU (Debian's) pid $qemu_pid  the nested guest's vCPU under KVM, x-pci-proxy-dev for the LSI, unmodified"
		echo "    mpqemu-run      pid $mpid  relays the proxy's socket, attached QEMU's VM to /dev/mpdev, keeps the BARs there"
		echo "    QEMU remote     pid $remote_pid  -machine x-remote: lsi53c895a + scsi-hd (raw image) + scsi-hd (null-co), served from the mpdev backend"
		echo "    the nested guest's sym53c8xx and sd drivers drive the LSI (guest tool mpdev-io)"
		echo "  the guest's pattern on the raw disk:"
		grep -E '^(ok|not ok) [0-9]+ - pattern e2edata( seed|: overwrote)' "$d/guest.txt" | sed 's/^ok [0-9]* - /    ok: /; s/^not ok [0-9]* - /    NOT OK: /'
		echo "    read back with O_DIRECT: $(grep -c -E '^ok [0-9]+ - pattern e2edata: extent .* reads back' "$d/guest.txt") of 16 extents as written, $(grep -c '^not ok' "$d/guest.txt") failed checks"
		echo "  who served the guest's BAR accesses (the remote's QOM counters, qom-get on its QMP):"
		printf '    %-34s %s\n' \
			"BAR reads / writes via mpdev:" "${q[mpdev-reads]:-?} / ${q[mpdev-writes]:-?} (errors ${q[mpdev-errors]:-?}, mode ${q[mpdev-mode]:-?})" \
			"BAR reads / writes via the socket:" "${q[socket-bar-reads]:-?} / ${q[socket-bar-writes]:-?}"
		echo "  what mpqemu-run did ($d/run/dev0.zero-patch):"
		tr '\n' ' ' <"$d/run/dev0.zero-patch" 2>/dev/null | fold -s -w 72 | sed 's/^/    /'
		echo
		if [ "$have_ctl" = 1 ]; then
			echo "  mpdev's view (mpdevctl show): the LSI's three BARs, I/O and memory, on KVM's buses"
			sed 's/^/    /' "$d/mpdevctl-show.txt"
		fi
		[ "${q[mpdev]:-}" = true ] && [ "${q[mpdev-reads]:-0}" -gt 0 ] && [ "${q[socket-bar-reads]:-x}" = 0 ] &&
			[ "${q[socket-bar-writes]:-x}" = 0 ] || { say "  the BAR accesses did not all take the mpdev path"; failed=1; }
		e2e_stop
		out=$("$IO" --out stdout verify-image "$d/disk.img" 1 2>&1)
		rc=$?
		echo "  host side, after shutdown: mpdev-io verify-image $(basename "$d")/disk.img:"
		grep -E '^(ok|not ok)' <<<"$out" | sed 's/^ok [0-9]* - /    ok: /; s/^not ok [0-9]* - /    NOT OK: /'
		echo
		[ "$rc" -eq 0 ] || { say "  the image does not hold what the guest wrote"; failed=1; }
		disk_rows+="lsi-zp:mpdev (zero-patch VMM, remote blocking)"
	else
		e2e_stop
		say "  the mpdev disk stage failed (logs: $work/lsi-zp)"; failed=1
	fi
	rm -f "$work/lsi-zp/disk.img"
	stage "the same disk, classic path (Debian's QEMU as VMM and remote, every BAR access over the socket)"
	if disk_guest lsi-stock stock "$BLK_STEPS"; then
		disk_rows="lsi-stock:stock multi-process (classic)${disk_rows:+|$disk_rows}"
	else
		say "  the classic disk stage failed (logs: $work/lsi-stock)"; failed=1
	fi
	e2e_stop
	rm -f "$work/lsi-stock/disk.img"
	stage "the same controller and disks in the VMM QEMU itself (in-process)"
	if disk_guest lsi-inproc inproc "$BLK_STEPS"; then
		disk_rows+="|lsi-inproc:in-process (Debian's QEMU)"
	else
		say "  the in-process disk stage failed (logs: $work/lsi-inproc)"; failed=1
	fi
	e2e_stop
	rm -f "$work/lsi-inproc/disk.img"

	echo
	echo "  4 KiB random I/O at queue depth 1 on the LSI's null-co disk (${DISK_SECS} s each, timed in the guest; ratio = this / stock IOPS)"
	printf '  %-44s %-9s %7s %12s %9s\n' path rw IOPS "p50 ns" "x stock"
	IFS='|' read -r -a rowlist <<<"$disk_rows"
	for row in "${rowlist[@]}"; do
		name=${row%%:*} label=${row#*:}
		for rw in randread randwrite; do
			i=$(blk_of "$name" "$rw" iops) p=$(blk_of "$name" "$rw" p50_ns) si=$(blk_of lsi-stock "$rw" iops)
			[ -n "$i" ] || failed=1
			printf '  %-44s %-9s %7s %12s %9s\n' "$label" "$rw" "${i:-failed}" "${p:-failed}" "$(ratio "${i:-0}" "${si:-0}")"
		done
	done
	echo "  (the same caveat: absolute numbers are TCG's; compare the ratios; make bench measures more)"
	echo
fi

if [ -n "${MPDEV_OUT:-}" ] && [ -w "${MPDEV_OUT:-/nonexistent}" ]; then
	rm -rf "$MPDEV_OUT/demo" && cp -a "$work" "$MPDEV_OUT/demo" && say "logs: $MPDEV_OUT/demo in the VM (vm-run --out DIR, default build/vm-out, on the host)"
fi
if [ "$failed" -ne 0 ]; then
	say "demo FAILED (see above; logs in $work)"
	exit 1
fi
say "demo done"
