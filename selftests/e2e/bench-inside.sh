#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# bench-inside.sh - the in-VM half of "make bench" (scripts/bench.sh boots
# the test VM with mpdev.ko and runs this in it).
#
# Three boots of the nested e2e guest, each with two vCPUs, the same
# device model (mpdev-testdev in mpdev-remote) and the same guest tool:
#
#   stock        stock QEMU 7.2, x-pci-proxy-dev: every BAR access is a
#                socket round trip through QEMU.  The same QEMU also
#                emulates QEMU's own pci-testdev: the in-process reference
#                ("inproc"), measured in the same boot.
#   mpdev-block  patched QEMU + mpdev, the remote blocking in poll()/read()
#   mpdev-poll   patched QEMU + mpdev, the remote busy-polling the ring
#
# Then the same steps with Debian's stock QEMU as the VMM and mpdev all
# the same (part zero-patch: mpqemu-run --zero-patch, see
# Documentation/mpdev/zero-patch.rst): zp-block and zp-poll on QEMU 7.2,
# and with MPDEV_QEMU_CHROOT zp-sid-block and zp-sid-poll on sid's QEMU.
#
# Then four boots of real I/O (QEMU's own lsi53c895a, its remote a QEMU
# with -machine x-remote): stock, mpdev-block, mpdev-poll and the same
# device in-process; the guest's mpdev-io times 4 KiB O_DIRECT random
# reads and writes at queue depth 1 on a null-co and a raw-image disk
# (rows with space disk-null / disk-raw).  And four boots of QEMU's nvme
# on null-co (space nvme-null, queue depth 1 and 16): mpdev-block,
# mpdev-poll, in-process (inproc) and in-process with ioeventfd
# (inproc-ioeventfd).
#
# In each testdev boot, the guest times 1/2/4/8-byte MMIO and 1/2/4-byte port I/O reads
# and writes (one thread), then 4-byte MMIO reads and writes from one and
# from two threads on both vCPUs (throughput).  The test VM's two CPUs:
# nested vCPU 0 on CPU 0, vCPU 1 and the remote on CPU 1, in every run.
#
# Output, into $MPDEV_OUT (vm-run --out DIR):
#   results.tsv  config space op size threads n p50_ns p99_ns mean_ns ops_per_s
#   checks.tsv   name ok|FAIL detail: did each path take the route it
#                claims?  (remote's per-path counters, mpdev's counters
#                through mpdevctl, the guest's own checks)
#   meta.txt     what ran (kernels, QEMU versions, N)
#   logs/        every run's console, guest output, counters
# scripts/bench-report.sh turns them into the table, JSON and chart.
# Exit status: 0 if every run produced its numbers and every check held.
#
# Environment: MPDEV_BENCH_N (accesses per case, default 1000),
# MPDEV_BENCH_DISK_SECS (seconds per disk case, default 5),
# MPDEV_BENCH_PARTS (default "testdev zero-patch stock-sid disk nvme":
# which boots run; stock-sid and zero-patch's zp-sid-* only with
# MPDEV_QEMU_CHROOT, see scripts/qemu-sid.sh),
# MPDEV_QEMU_PATCHED, MPDEV_QEMU_STOCK, MPDEV_E2E_BOOT_TIMEOUT (240),
# MPDEV_E2E_RUN_TIMEOUT (600).
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"

N=${MPDEV_BENCH_N:-1000}
BOOT_TO=${MPDEV_E2E_BOOT_TIMEOUT:-240}
RUN_TO=${MPDEV_E2E_RUN_TIMEOUT:-600}
MPQEMU_RUN=${MPDEV_MPQEMU_RUN:-$E2E_REPO/userspace/build/mpqemu-run}
MPDEV_REMOTE=${MPDEV_REMOTE:-$E2E_REPO/userspace/build/mpdev-remote}
MPDEVCTL=${MPDEV_MPDEVCTL:-$E2E_REPO/userspace/mpdevctl/mpdevctl}
QEMU_STOCK=${MPDEV_QEMU_STOCK:-$(command -v qemu-system-x86_64)}
OUT=${MPDEV_OUT:-}
# QEMU's pci-testdev; a BAR offset away from its test-select register.
INPROC_ID=1b36/0005

t0=$SECONDS
failed=0
PARTS=${MPDEV_BENCH_PARTS:-testdev zero-patch stock-sid disk nvme}
part() { [[ " $PARTS " == *" $1 "* ]]; }
say() { printf '[bench %3ds] %s\n' "$((SECONDS - t0))" "$*"; }
die() { say "FAILED: $*"; exit 1; }
e2e_note() { say "    $*"; }
trap e2e_stop EXIT

[ "${MPDEV_IN_VM:-0}" = 1 ] || die "run me through scripts/bench.sh (inside the test VM)"
[ -n "$OUT" ] && [ -d "$OUT" ] && [ -w "$OUT" ] || die "no writable MPDEV_OUT (vm-run --out DIR)"
[ -c /dev/kvm ] && [ -c /dev/mpdev ] || die "no /dev/kvm or /dev/mpdev in the test VM"
QEMU_PATCHED=${MPDEV_QEMU_PATCHED:-$("$E2E_REPO/userspace/qemu-patch/build-qemu.sh" --print-path 2>/dev/null | tail -n1)}
[ -n "$QEMU_PATCHED" ] && [ -x "$QEMU_PATCHED" ] || die "patched QEMU not built (userspace/qemu-patch/build-qemu.sh)"
[ -n "$QEMU_STOCK" ] && [ -x "$QEMU_STOCK" ] || die "no stock qemu-system-x86_64"
{ [ -x "$MPQEMU_RUN" ] && [ -x "$MPDEV_REMOTE" ] && [ -x "$MPDEVCTL" ]; } ||
	die "userspace not built (make userspace)"
[ "$(nproc)" -ge 2 ] || die "the test VM needs two CPUs (vm-run --cpus 2)"
logs=$OUT/logs
rm -rf "$logs" && mkdir -p "$logs" || die "cannot write $logs"
e2e_guest_env 2>"$logs/env.err" || die "nested guest not built: $(cat "$logs/env.err")"

# ------------------------------------------------------ the guest's work
# Each bench case reads 16 times to warm up, then does n accesses per
# thread; expect() adds that up so the checks can compare counters.
LAT_MMIO="bench:-n:$N:--sizes:1/2/4/8"
LAT_PIO="bench:-n:$N:--space:pio:--sizes:1/2/4"
TP="bench:-n:$N:--sizes:4:--threads:2"
INPROC_MMIO="bench:-n:$N:--sizes:1/2/4/8:--id:$INPROC_ID:--off:0x100:--label:inproc"
INPROC_PIO="bench:-n:$N:--space:pio:--sizes:1/2/4:--id:$INPROC_ID:--off:0x40:--label:inproc"
# Reads and writes the testdev steps issue: one vCPU (MMIO + PIO), of
# those the 8-byte ones, and the two-vCPU step.
reads_1t=$(( (4 + 3) * (16 + N) + (4 + 3) * 16 )) writes_1t=$(( (4 + 3) * N ))
reads_8=$(( 16 + N + 16 )) writes_8=$N
reads_tp=$(( 2 * (16 + N) + 2 * 16 )) writes_tp=$(( 2 * N ))
exp_reads=$((reads_1t + reads_tp)) exp_writes=$((writes_1t + writes_tp))

printf '# config\tspace\top\tsize\tthreads\tn\tp50_ns\tp99_ns\tmean_ns\tops_per_s\n' >"$OUT/results.tsv"
: >"$OUT/checks.tsv"
check() {	# check NAME STATUS(0 = ok) DETAIL
	local st=ok
	[ "$2" -eq 0 ] || { st=FAIL; failed=1; }
	printf '%s\t%s\t%s\n' "$1" "$st" "$3" >>"$OUT/checks.tsv"
	say "  check: $1: $st ($3)"
}

# Nested vCPU n on test-VM CPU n; the remote beside vCPU 1, which idles
# except in the two-thread case.
pin() {
	local t
	for t in /proc/"$qemu_pid"/task/*; do
		case $(cat "$t/comm" 2>/dev/null) in
		"CPU 0/KVM") taskset -p -c 0 "${t##*/}" >/dev/null ;;
		"CPU 1/KVM") taskset -p -c 1 "${t##*/}" >/dev/null ;;
		esac
	done
	taskset -p -c 1 "$remote_pid" >/dev/null
}

extra_qemu=()
# run CONFIG STEPS MPQEMU-RUN-ARGS...: one boot; its numbers go to
# results.tsv, the remote's counters to rs[], mpdevctl's to $dir/.
run() {
	local config=$1 steps=$2 dir=$logs/$1
	shift 2
	mkdir -p "$dir"
	rs=()
	say "$config: booting the nested guest (2 vCPUs)"
	e2e_qemu_args "$dir" "$E2E_APPEND e2e.run=$steps e2e.end=hold" 256M 2
	E2E_QEMU_ARGS+=(${extra_qemu[@]+"${extra_qemu[@]}"})
	e2e_boot "$dir" "${MPDEV_E2E_BOOT_TRIES:-2}" "$BOOT_TO" "$MPQEMU_RUN" "$@" \
		--remote "$MPDEV_REMOTE" --remote-arg "--stats-file=$dir/remote.stats" -v
	if [ "$E2E_BOOT_RC" -ne 0 ]; then
		check "$config: nested guest booted" 1 "rc $E2E_BOOT_RC after $E2E_BOOT_TRY tries; logs in $dir"
		e2e_stop
		return 1
	fi
	pin
	say "$config: up after ${E2E_BOOT_SECS}s; measuring"
	if ! e2e_wait "$dir/guest.tap" '^E2E-HOLD' "$RUN_TO" "$mpid"; then
		check "$config: guest steps finished" 1 "not within ${RUN_TO}s; logs in $dir"
		e2e_why_gone "$dir"
		e2e_stop
		return 1
	fi
	tr -d '\r' <"$dir/guest.tap" >"$dir/guest.txt"
	# The counters while the guest holds; then mpdev's view.
	e2e_remote_stats "$dir/remote.stats"
	"$MPDEVCTL" show -j >"$dir/mpdevctl-show.json" 2>&1
	"$MPDEVCTL" stats -j >"$dir/mpdevctl-stats.json" 2>&1
	# zero-patch: mpqemu-run's state file(s) in its --run-dir, as now
	[ -z "${ZP_RUNDIR:-}" ] || cp "$ZP_RUNDIR"/*.zero-patch "$dir/" 2>/dev/null
	e2e_stop

	local done_line
	done_line=$(grep -m1 '^E2E-GUEST-DONE' "$dir/guest.txt")
	check "$config: the guest's steps passed" \
		"$([[ $done_line == *' fail=0 '* ]]; echo $?)" "${done_line:-no E2E-GUEST-DONE line}"
	awk -v c="$config" '$1 == "BENCH" {
		for (i = 6; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
		printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n",
			$2 == "inproc" ? "inproc" : c, $3, $4, $5,
			f["threads"], f["n"], f["p50_ns"], f["p99_ns"], f["mean_ns"], f["ops_per_s"]
	}' "$dir/guest.txt" >>"$OUT/results.tsv"
}
# mpdev's own read count for the (only) context, from mpdevctl stats -j.
ctx_reads() {
	grep -o '"reads":[0-9]*' "$1/mpdevctl-stats.json" 2>/dev/null | head -n1 | cut -d: -f2
}
# The remote's counters say the accesses came through mpdev, in MODE.
check_mpdev_route() {
	local c=$1 mode=$2 other=$3
	check "$c: no BAR message on QEMU's socket" \
		"$([ "${rs[socket.bar_read]:-x}" = 0 ] && [ "${rs[socket.bar_write]:-x}" = 0 ]; echo $?)" \
		"socket.bar_read=${rs[socket.bar_read]:-?} socket.bar_write=${rs[socket.bar_write]:-?}"
	check "$c: the remote served every access from mpdev" \
		"$([ "${rs[mpdev.reads]:-0}" -ge "$exp_reads" ] && [ "${rs[mpdev.writes]:-0}" -ge "$exp_writes" ]; echo $?)" \
		"mpdev.reads=${rs[mpdev.reads]:-?} (>= $exp_reads) mpdev.writes=${rs[mpdev.writes]:-?} (>= $exp_writes)"
	check "$c: the remote used its $mode path only" \
		"$([ "${rs[mpdev.${mode}_batches]:-0}" -gt 0 ] && [ "${rs[mpdev.${other}_batches]:-x}" = 0 ]; echo $?)" \
		"mpdev.${mode}_batches=${rs[mpdev.${mode}_batches]:-?} mpdev.${other}_batches=${rs[mpdev.${other}_batches]:-?}"
	check "$c: every mpdev request came with its region's cookie" \
		"$([ "${rs[mpdev.by_cookie]:-0}" -gt 0 ] && [ "${rs[mpdev.by_cookie]:-0}" -eq $(( ${rs[mpdev.reads]:-0} + ${rs[mpdev.writes]:-0} )) ]; echo $?)" \
		"mpdev.by_cookie=${rs[mpdev.by_cookie]:-?} of $(( ${rs[mpdev.reads]:-0} + ${rs[mpdev.writes]:-0} ))"
	local cr
	cr=$(ctx_reads "$logs/$c")
	check "$c: mpdev's own counters saw the reads" \
		"$([ "${cr:-0}" -ge "$exp_reads" ]; echo $?)" "mpdevctl stats: reads=${cr:-?} (>= $exp_reads)"
}

say "inside the test VM: kernel $(uname -r), $(nproc) CPUs; N=$N accesses per case"
{
	echo "date=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "test_vm_kernel=$(uname -r)"
	echo "nested_kernel=$(basename "$E2E_KERNEL")"
	echo "qemu_stock=$("$QEMU_STOCK" --version | head -n1)"
	echo "qemu_patched=$("$QEMU_PATCHED" --version | head -n1) + userspace/qemu-patch"
	echo "n=$N"
	echo "test_vm_cpus=$(nproc)"
	echo "nested_vcpus=2"
	echo "note=nested KVM inside a TCG-emulated test VM: absolute times are inflated, compare ratios"
} >"$OUT/meta.txt"

if part testdev; then
	# ------------------------------------------- stock + in-process reference
	extra_qemu=(-device pci-testdev)
	if run stock "$LAT_MMIO,$LAT_PIO,$TP,$INPROC_MMIO,$INPROC_PIO" --qemu "$QEMU_STOCK"; then
		# Stock QEMU 7.2 sends an 8-byte access as two 4-byte messages.
		min_r=$((reads_1t + reads_8)) min_w=$((writes_1t + writes_8))
		check "stock: every one-vCPU testdev access went over QEMU's socket" \
			"$([ "${rs[socket.bar_read]:-0}" -ge "$min_r" ] && [ "${rs[socket.bar_write]:-0}" -ge "$min_w" ]; echo $?)" \
			"socket.bar_read=${rs[socket.bar_read]:-?} (>= $min_r) socket.bar_write=${rs[socket.bar_write]:-?} (>= $min_w)"
		# The hold step reads a few more; the in-process device's thousands of
		# reads must not show.
		max=$((min_r + reads_tp + 500))
		check "stock: the in-process device's accesses never reached the remote" \
			"$([ "${rs[socket.bar_read]:-0}" -le "$max" ]; echo $?)" \
			"socket.bar_read=${rs[socket.bar_read]:-?} (<= $max)"
		# Two vCPUs on one proxied device: Debian's QEMU 7.2 drops the second
		# vCPU's access while the first waits for the remote ("Blocked
		# re-entrant IO").  Such a throughput is not one; say so instead.
		lost_r=$((min_r + reads_tp - ${rs[socket.bar_read]:-0}))
		lost_w=$((min_w + writes_tp - ${rs[socket.bar_write]:-0}))
		if [ "$lost_r" -gt 0 ] || [ "$lost_w" -gt 0 ]; then
			blocked=$(grep -c 'Blocked re-entrant IO' "$logs/stock/mpqemu-run.err")
			say "  stock: two vCPUs lost at least $lost_r of $reads_tp reads and $lost_w of $writes_tp writes (QEMU: $blocked 'Blocked re-entrant IO' warnings); its two-vCPU rows are left out"
			echo "stock_two_vcpus=lost at least $lost_r of $reads_tp reads and $lost_w of $writes_tp writes: QEMU 7.2 blocks a second vCPU's access to a proxied BAR while the first waits for the remote (Blocked re-entrant IO); no valid throughput" >>"$OUT/meta.txt"
			awk -F'\t' '!($1 == "stock" && $5 == 2)' "$OUT/results.tsv" >"$OUT/results.tmp" &&
				mv "$OUT/results.tmp" "$OUT/results.tsv"
		fi
		check "stock: nothing went through mpdev" \
			"$([ "${rs[mpdev.reads]:-x}" = 0 ] && [ "${rs[socket.mpdev_backend]:-x}" = 0 ] &&
				grep -q '^\[' "$logs/stock/mpdevctl-show.json" &&
				! grep -q '"regions"' "$logs/stock/mpdevctl-show.json"; echo $?)" \
			"mpdev.reads=${rs[mpdev.reads]:-?} socket.mpdev_backend=${rs[socket.mpdev_backend]:-?}, mpdevctl show -j: $(head -c 60 "$logs/stock/mpdevctl-show.json")"
	else
		failed=1
	fi

	# ------------------------------------------------------ mpdev, blocking
	extra_qemu=()
	if run mpdev-block "$LAT_MMIO,$LAT_PIO,$TP" --qemu "$QEMU_PATCHED" --mpdev; then
		check_mpdev_route mpdev-block fd ring
	else
		failed=1
	fi

	# ------------------------------------------------------ mpdev, polling
	if run mpdev-poll "$LAT_MMIO,$LAT_PIO,$TP" --qemu "$QEMU_PATCHED" --mpdev --remote-arg --poll; then
		check_mpdev_route mpdev-poll ring fd
	else
		failed=1
	fi
fi

# ------------------------------------------------- zero-patch (stock VMM)
# The mpdev fast path with Debian's unmodified QEMU as the VMM:
# mpqemu-run --zero-patch (Documentation/mpdev/zero-patch.rst) relays the
# proxy's socket, attaches QEMU's KVM VM to mpdev and puts the proxy's
# BARs on KVM's buses from QMP query-pci; the remote is the same
# mpdev-remote.  The same steps as mpdev-block/mpdev-poll, measured right
# after them, against which bench-report.sh puts them (Z1, Z2): the stock
# proxy has no MSI-X and probes every BAR as 32-bit, which the testdev's
# BAR0 (32-bit MMIO) and BAR1 (port I/O) need not.  Debian 12's QEMU 7.2
# (zp-block, zp-poll) and, with MPDEV_QEMU_CHROOT, sid's (zp-sid-block,
# zp-sid-poll, through qemu-chroot).  The same route checks as the patched
# rows (a row that went over the socket fails the run), and mpqemu-run's
# own word: its attach message, and its state file read while the guest
# holds (VM attached, backend handed over, at least BAR0 and BAR1 on
# mpdev, none refused).
# zp_run CONFIG VMM MODE [MPQEMU-RUN-ARGS...]: one boot; MODE fd
# (blocking remote) or ring (polling).
zp_run() {
	local config=$1 vmm=$2 mode=$3 other=fd msg rc
	shift 3
	[ "$mode" = fd ] && other=ring
	# mpqemu-run's run dir in the test VM's own /tmp (9p for the logs)
	ZP_RUNDIR=$(mktemp -d /tmp/bench-zp.XXXXXX)
	run "$config" "$LAT_MMIO,$LAT_PIO,$TP" --qemu "$vmm" --zero-patch \
		--run-dir "$ZP_RUNDIR" "$@"
	rc=$?
	cp "$ZP_RUNDIR"/*.log "$logs/$config/" 2>/dev/null
	rm -rf "$ZP_RUNDIR"
	ZP_RUNDIR=''
	[ "$rc" -eq 0 ] || return 1
	check_mpdev_route "$config" "$mode" "$other"
	# Its pid: QEMU's, the child mpqemu-run started (qemu-chroot execs).
	msg=$(grep -m1 -E -- "$(e2e_zp_attach_re mpdev0 "$qemu_pid")" "$logs/$config/mpqemu-run.err")
	check "$config: mpqemu-run attached stock QEMU's VM to mpdev" "$([ -n "$msg" ]; echo $?)" \
		"${msg:-no attach message for pid $qemu_pid; $(grep -m1 'zero-patch:' "$logs/$config/mpqemu-run.err" || echo 'no zero-patch line')}"
	e2e_zp_state "$logs/$config/mpdev0.zero-patch"
	check "$config: mpqemu-run's state: VM attached, backend handed over, the BARs on mpdev, none refused" \
		"$([ "$(e2e_zn vm_attached)" -eq 1 ] && [ "$(e2e_zn backend)" -eq 1 ] &&
			[ "$(e2e_zn regions_now)" -ge 2 ] && [ "$(e2e_zn refused)" -eq 0 ]; echo $?)" \
		"vm_attached=${zs[vm_attached]:-?} backend=${zs[backend]:-?} regions_now=${zs[regions_now]:-?} regions_added=${zs[regions_added]:-?} refused=${zs[refused]:-?}${zs[last_refusal]:+ last_refusal='${zs[last_refusal]}'}"
}
if part zero-patch; then
	extra_qemu=()
	if [ "$(id -u)" != 0 ] || ! "$MPQEMU_RUN" --help 2>&1 | grep -q -e '--zero-patch'; then
		check "zero-patch: mpqemu-run --zero-patch can run (root, built with it)" 1 \
			"uid $(id -u); $("$MPQEMU_RUN" --help 2>&1 | grep -c -e '--zero-patch') --zero-patch lines in mpqemu-run --help"
	else
		zp_run zp-block "$QEMU_STOCK" fd || failed=1
		zp_run zp-poll "$QEMU_STOCK" ring --remote-arg --poll || failed=1
		if [ -n "${MPDEV_QEMU_CHROOT:-}" ]; then
			grep -q '^qemu_sid=' "$OUT/meta.txt" ||
				echo "qemu_sid=$("$here/qemu-chroot" --version | head -n1)" >>"$OUT/meta.txt"
			zp_run zp-sid-block "$here/qemu-chroot" fd || failed=1
			zp_run zp-sid-poll "$here/qemu-chroot" ring --remote-arg --poll || failed=1
		else
			say "zero-patch: no MPDEV_QEMU_CHROOT, Debian sid's QEMU (zp-sid-block, zp-sid-poll) left out"
		fi
	fi
fi

# --------------------------------------- stock QEMU 11.1 (Debian sid)
# The anchor on Debian's newest QEMU (MPDEV_QEMU_CHROOT: the sid chroot
# of scripts/qemu-sid.sh, run through qemu-chroot): two vCPUs on one
# proxied BAR, as measured above for 7.2.  Only what it loses is recorded
# (meta.txt stock_sid_two_vcpus), no rows.
if part stock-sid && [ -n "${MPDEV_QEMU_CHROOT:-}" ]; then
	if run stock-sid "$TP" --qemu "$here/qemu-chroot"; then
		sid_ver=$("$here/qemu-chroot" --version | head -n1)
		lost_r=$((reads_tp - ${rs[socket.bar_read]:-0}))
		lost_w=$((writes_tp - ${rs[socket.bar_write]:-0}))
		blocked=$(grep -c 'Blocked re-entrant IO' "$logs/stock-sid/mpqemu-run.err")
		say "  stock-sid ($sid_ver): two vCPUs lost at least $lost_r of $reads_tp reads and $lost_w of $writes_tp writes ($blocked 'Blocked re-entrant IO' warnings)"
		echo "stock_sid_two_vcpus=$sid_ver: lost at least $lost_r of $reads_tp reads and $lost_w of $writes_tp writes ($blocked Blocked re-entrant IO warnings)" >>"$OUT/meta.txt"
		check "stock-sid: nothing went through mpdev" \
			"$([ "${rs[mpdev.reads]:-x}" = 0 ] && [ "${rs[socket.mpdev_backend]:-x}" = 0 ]; echo $?)" \
			"mpdev.reads=${rs[mpdev.reads]:-?} socket.mpdev_backend=${rs[socket.mpdev_backend]:-?}"
		awk -F'\t' '$1 != "stock-sid"' "$OUT/results.tsv" >"$OUT/results.tmp" &&
			mv "$OUT/results.tmp" "$OUT/results.tsv"
	else
		failed=1
	fi
fi

# ------------------------------------------------- real I/O: LSI, NVMe
# QEMU's own lsi53c895a with two scsi-hd disks: null-co (measures the
# dispatch) and a raw image in the test VM's /tmp.  One vCPU; the guest's
# sym53c8xx/sd drivers, mpdev-io's QD1 4 KiB O_DIRECT random I/O.  Four
# boots: stock multi-process (stock QEMU both sides), mpdev with the remote
# blocking, mpdev with the remote polling, and the same device in the
# patched VMM (in-process).  Route checks from the remote's QOM counters.
# Then QEMU's nvme on null-co, at queue depth 1 and 16 (Linux AIO), with
# MSI-X: mpdev blocking and polling, in-process without (QEMU's default)
# and with ioeventfd for its doorbells.  Stock multi-process cannot carry
# nvme at all (no MSI-X): no stock row.
DISK_SECS=${MPDEV_BENCH_DISK_SECS:-5}
declare -A DEV_STEPS=([disk]="disk:e2enull,disk:e2eraw" [nvme]="disk:e2enull")
for b in null raw; do
	for rw in randread randwrite; do
		DEV_STEPS[disk]+=",bench:e2e$b:$rw:$DISK_SECS:disk-$b"
	done
done
for qd in 1 16; do
	for rw in randread randwrite; do
		DEV_STEPS[nvme]+=",bench:e2enull:$rw:$DISK_SECS:nvme-null:$qd"
	done
done
DEV_STEPS[nvme]+=",msix:e2enull"
NULL_DISK="driver=null-co,node-name=nul0,size=1073741824,read-zeroes=on"
dev_drives() {	# the device's QEMU arguments; $1: disk or nvme, $2: the image
	case $1 in
	# shellcheck disable=SC2054 # commas inside QEMU's arguments
	disk) E2E_DISK_ARGS=(-device lsi53c895a,id=dev0 -blockdev "$NULL_DISK"
		-device scsi-hd,drive=nul0,serial=e2enull
		-drive "if=none,id=raw0,file=$2,format=raw"
		-device scsi-hd,drive=raw0,serial=e2eraw) ;;
	nvme) E2E_DISK_ARGS=(-blockdev "$NULL_DISK"
		-device "nvme,id=dev0,serial=e2enull,drive=nul0,ioeventfd=${NVME_IOEVENTFD:-off}") ;;
	esac
}
QOM_PROPS="mpdev mpdev-mode mpdev-reads mpdev-writes mpdev-errors mpdev-poll-batches socket-bar-reads socket-bar-writes msix-signals"
# disk_run DEV CONFIG VMM REMOTE MODE: DEV disk (lsi) or nvme; MODE none
# (stock), block, poll, inproc
disk_run() {
	local dev=$1 config=$2 vmm=$3 remote=$4 mode=$5 dir=$logs/$1-$2 mpq img run
	local what="$dev $config"
	mkdir -p "$dir"
	# The image and the run dir (its QMP socket) in the test VM's own
	# /tmp: the shared output dir is 9p, which takes no sockets.
	run=$(mktemp -d /tmp/bench-run.XXXXXX)
	img=$run/disk.img
	truncate -s 256M "$img"
	dev_drives "$dev" "$img"
	q=()
	say "$what: booting the nested guest (1 vCPU)"
	e2e_qemu_args "$dir" "$E2E_APPEND e2e.io=${DEV_STEPS[$dev]} e2e.end=hold" 256M 1
	if [ "$mode" = inproc ]; then
		E2E_QEMU_ARGS+=("${E2E_DISK_ARGS[@]}")
		E2E_INPROC=1 E2E_RUNDIR='' e2e_boot "$dir" "${MPDEV_E2E_BOOT_TRIES:-2}" "$BOOT_TO" "$vmm"
	else
		e2e_xremote_args "$remote" "$mode" "${E2E_DISK_ARGS[@]}"
		mpq=("$MPQEMU_RUN" --qemu "$vmm" --run-dir "$run" -v)
		E2E_QEMU_ARGS+=(-device "x-pci-proxy-dev,id=dev0,fd=@PROXY_FD:dev0@$([ "$mode" = none ] || echo ,mpdev=on,mpdev-fd=@MPDEV_FD:dev0@)")
		[ "$mode" = none ] || mpq+=(--mpdev-for dev0)
		E2E_RUNDIR=$run e2e_boot "$dir" "${MPDEV_E2E_BOOT_TRIES:-2}" "$BOOT_TO" \
			"${mpq[@]}" --remote-cmd dev0 "${E2E_REMOTE_ARGS[@]}" ';'
	fi
	if [ "$E2E_BOOT_RC" -ne 0 ]; then
		check "$what: nested guest booted" 1 "rc $E2E_BOOT_RC after $E2E_BOOT_TRY tries; logs in $dir"
		e2e_stop
		cp "$run"/*.log "$run"/*.exit "$dir/" 2>/dev/null; rm -rf "$run"
		return 1
	fi
	# vCPU 0 on CPU 0; the remote (all its threads) on CPU 1
	e2e_pin
	say "$what: up after ${E2E_BOOT_SECS}s; measuring"
	if ! e2e_wait "$dir/guest.tap" '^E2E-GUEST-DONE' "$RUN_TO" "$mpid"; then
		check "$what: guest steps finished" 1 "not within ${RUN_TO}s; logs in $dir"
		e2e_why_gone "$dir"
		e2e_stop
		cp "$run"/*.log "$run"/*.exit "$dir/" 2>/dev/null; rm -rf "$run"
		return 1
	fi
	tr -d '\r' <"$dir/guest.tap" >"$dir/guest.txt"
	if [ "$remote" = "$QEMU_PATCHED" ]; then
		# shellcheck disable=SC2086 # a list of names
		e2e_qom "$run/dev0.qmp" "$dir/qom.txt" $QOM_PROPS
	fi
	"$MPDEVCTL" show -j >"$dir/mpdevctl-show.json" 2>&1
	e2e_stop
	cp "$run"/*.log "$run"/*.exit "$dir/" 2>/dev/null; rm -rf "$run"

	local done_line rows w
	done_line=$(grep -m1 '^E2E-GUEST-DONE' "$dir/guest.txt")
	check "$what: the guest's steps passed" \
		"$([[ $done_line == *' fail=0 '* ]]; echo $?)" "${done_line:-no E2E-GUEST-DONE line}"
	awk -v c="$config" '$1 == "BLKBENCH" {
		for (i = 2; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
		printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%.0f\t%s\n", c, f["label"], f["rw"],
			f["bs"], f["qd"], f["n"], f["p50_ns"], f["p99_ns"],
			(f["n"] > 0 ? f["secs"] * 1e9 / f["n"] : 0), f["iops"]
	}' "$dir/guest.txt" >"$dir/rows.tsv"
	cat "$dir/rows.tsv" >>"$OUT/results.tsv"
	rows=$(awk -F'\t' '$6 > 0' "$dir/rows.tsv" | wc -l)
	check "$what: four I/O rows measured" "$([ "$rows" -eq 4 ]; echo $?)" "$rows rows with n > 0"
	if [ "$dev" = nvme ]; then
		# MSI-X interrupts, counted by the guest (and, through mpdev, the
		# remote's signals of the proxy's eventfds: at least as many)
		declare -A mx=()
		for w in $(grep -m1 '^MSIX ' "$dir/guest.txt"); do mx[${w%%=*}]=${w#*=}; done
		check "$what: the guest's nvme completed on MSI-X interrupts" \
			"$([ "${mx[enabled]:-}" = 1 ] && [ "${mx[irqs]:-0}" -gt 0 ] &&
				{ [ "$mode" = inproc ] || [ "${q[msix-signals]:-0}" -ge "${mx[irqs]}" ]; }; echo $?)" \
			"enabled=${mx[enabled]:-?} vectors=${mx[vectors]:-?} irqs=${mx[irqs]:-?}$([ "$mode" = inproc ] || echo " msix-signals=${q[msix-signals]:-?}")"
	fi
	# Who served the guest's BAR accesses.
	case $mode in
	none|inproc)
		check "$what: nothing went through mpdev" \
			"$(grep -q '^\[' "$dir/mpdevctl-show.json" && ! grep -q '"regions"' "$dir/mpdevctl-show.json"; echo $?)" \
			"mpdevctl show -j: $(head -c 60 "$dir/mpdevctl-show.json")" ;;
	*)
		check "$what: the BAR accesses went through mpdev, none over the socket" \
			"$([ "${q[mpdev]:-}" = true ] && [ "${q[mpdev-reads]:-0}" -gt 0 ] && [ "${q[mpdev-writes]:-0}" -gt 0 ] &&
				[ "${q[mpdev-errors]:-x}" = 0 ] && [ "${q[socket-bar-reads]:-x}" = 0 ] && [ "${q[socket-bar-writes]:-x}" = 0 ]; echo $?)" \
			"$(tr '\n' ' ' <"$dir/qom.txt")"
		if [ "$mode" = poll ]; then
			check "$what: the remote busy-polled the ring" \
				"$([ "${q[mpdev-mode]:-}" = poll ] && [ "${q[mpdev-poll-batches]:-0}" -gt 0 ]; echo $?)" \
				"mpdev-mode=${q[mpdev-mode]:-?} mpdev-poll-batches=${q[mpdev-poll-batches]:-?}"
		else
			check "$what: the remote served mpdev blocking only" \
				"$([ "${q[mpdev-mode]:-}" = blocking ] && [ "${q[mpdev-poll-batches]:-x}" = 0 ]; echo $?)" \
				"mpdev-mode=${q[mpdev-mode]:-?} mpdev-poll-batches=${q[mpdev-poll-batches]:-?}"
		fi ;;
	esac
}
if ! part disk && ! part nvme; then
	:
elif [ -x "$MPDEV_E2E_BUILD/mpdev-io" ]; then
	echo "disk_secs=$DISK_SECS" >>"$OUT/meta.txt"
	if part disk; then
		disk_run disk stock "$QEMU_STOCK" "$QEMU_STOCK" none || failed=1
		disk_run disk mpdev-block "$QEMU_PATCHED" "$QEMU_PATCHED" block || failed=1
		disk_run disk mpdev-poll "$QEMU_PATCHED" "$QEMU_PATCHED" poll || failed=1
		disk_run disk inproc "$QEMU_PATCHED" '' inproc || failed=1
	fi
	if part nvme; then
		disk_run nvme mpdev-block "$QEMU_PATCHED" "$QEMU_PATCHED" block || failed=1
		disk_run nvme mpdev-poll "$QEMU_PATCHED" "$QEMU_PATCHED" poll || failed=1
		disk_run nvme inproc "$QEMU_PATCHED" '' inproc || failed=1
		NVME_IOEVENTFD=on disk_run nvme inproc-ioeventfd "$QEMU_PATCHED" '' inproc || failed=1
	fi
else
	check "disk: guest tool mpdev-io built" 1 "no $MPDEV_E2E_BUILD/mpdev-io (make -C selftests/e2e)"
fi

rows=$(grep -c -v '^#' "$OUT/results.tsv")
say "$rows result rows in $OUT/results.tsv; $(grep -c "	FAIL	" "$OUT/checks.tsv") failed checks"
[ "$failed" -eq 0 ] || { say "bench FAILED (see the checks above; logs in $logs)"; exit 1; }
say "bench runs done"
