#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# run-devices.sh - QEMU's own device models in a remote QEMU (-machine
# x-remote, x-remote-object) or in-process, driven by the nested guest's
# own Linux drivers, on the classic path and on the mpdev fast path.  Runs
# INSIDE the test VM:
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
#   disk-zp         Debian's unmodified QEMU as VMM, the patched remote,
#                   mpqemu-run --zero-patch (Documentation/mpdev/
#                   zero-patch.rst): the relay attaches the VMM's KVM VM
#                   and hands the remote its backend; mpdev, blocking
# Route checks (patched remote, QOM counters read over its QMP socket):
# with mpdev every BAR access went through mpdev and not one BAR message
# crossed the socket; without it, the reverse.
#
# Network: e1000 in the remote with -netdev user (the remote owns it).  The
# guest's e1000 driver brings up eth0, pings the gateway and fetches a
# 1 MiB random file over HTTP from a server on the test VM's loopback
# (user networking maps 10.0.2.2 to it), checking its sha256: net-classic
# (stock both sides), net-mpdev (patched, mpdev=on), net-poll (the same,
# the remote polling) and net-zp (stock VMM, patched remote, --zero-patch).
# rom-mpdev: the e1000 with an expansion ROM image of ours (patched both
# sides, mpdev on): the guest reads it whole through sysfs and must get
# the image's bytes (the ROM BAR is served over the socket).
#
# Remote killed mid-I/O (kill-mid-io, mpdev=on): the guest streams 64 KiB
# O_DIRECT records, printing "BLK-DONE i" after each completed write; the
# remote gets SIGKILL while mpqemu-run is held with SIGSTOP.  Then: mpdev
# marks the context failed, QEMU's vCPU threads are not stuck in the
# kernel (they keep being scheduled, none in D state), mpqemu-run, let go,
# names the dead remote and stops QEMU, and the image holds every record
# the guest saw completed.
#
# Modern PCI disks, QEMU's nvme and virtio-blk-pci (modern only:
# disable-legacy=on), both MSI-X with 64-bit BARs, each on a zeroed raw
# image, serial e2edata:
#   nvme-inproc     the device in the VMM QEMU itself (stock, no remote,
#   vblk-inproc     no mpqemu-run): pattern and verify-image as above, and
#                   mpdev-io's msix: the function's MSI-X is on and its
#                   vectors took interrupts
#   nvme-classic    stock VMM and stock remote (x-pci-proxy-dev): what the
#                   guest sees of the function (mpdev-io pci: driver, BARs,
#                   MSI-X, interrupts, kernel messages, disks) and the VMM
#                   of its BARs (HMP info pci), and checks that pin down
#                   the known gap of the stock proxy: its 32-bit view of
#                   the 64-bit BAR the guest puts above 4 GiB, no MSI-X
#   vblk-classic    the same for virtio-blk-pci
#   nvme-mpdev      patched VMM and remote, mpdev (blocking remote) and
#   nvme-poll       MSI-X carried: the driver binds with MSI-X, pattern
#   vblk-mpdev      and verify-image, the BARs served by mpdev in pieces
#                   around the MSI-X table and PBA, every interrupt the
#                   guest counted an eventfd the remote signalled
#   vblk-poll       (nvme-poll, vblk-poll: the polling remote)
#
# AHCI, QEMU's ich9-ahci (8086:2922: MSI only, one message, 64-bit address,
# no per-vector masking; BAR5 the ABAR MMIO, BAR4 I/O) with an ide-hd
# (serial e2edata) on port 0 of a zeroed raw image; the guest's ahci and
# libata drivers, the disk an sd disk whose VPD page 0x80 libata fills
# with the ATA serial:
#   ahci-inproc     in the stock VMM QEMU: pattern and verify-image, and
#                   mpdev-io's msi: the function's MSI is on, as QEMU's
#                   ich9-ahci has it, and its vector took interrupts
#   ahci-mpdev      patched VMM and remote, mpdev (blocking remote) and
#                   MSI carried: the remote shows its MSI capability to a
#                   proxy that carries MSI, the proxy hands it one eventfd
#                   per message and routes each to the guest as a KVM
#                   irqfd with the message the guest programmed; checked:
#                   the driver binds with MSI, pattern and verify-image,
#                   the BARs through mpdev (none on the socket), and the
#                   remote's msi-vectors (1) and msi-signals (at least the
#                   guest's MSI interrupts).  A remote that hides MSI
#                   leaves the guest on INTx: the case fails.
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

CASES=${MPDEV_E2E_DEV_CASES:-disk-classic disk-vmm-auto disk-remote disk-mpdev disk-poll disk-zp net-classic net-mpdev net-poll net-zp rom-mpdev kill-mid-io nvme-inproc vblk-inproc nvme-classic vblk-classic nvme-mpdev nvme-poll vblk-mpdev vblk-poll ahci-inproc ahci-mpdev}
# What the cases need: a remote (mpqemu-run, /dev/mpdev), the patched QEMU
need_remote=0 need_patched=0
for c in $CASES; do
	case $c in
	*-inproc) ;;
	disk-classic|net-classic|nvme-classic|vblk-classic) need_remote=1 ;;
	*) need_remote=1 need_patched=1 ;;
	esac
done
STOCK=${MPDEV_QEMU_STOCK:-/usr/bin/qemu-system-x86_64}
PATCHED=${MPDEV_QEMU_PATCHED:-}
[ -n "$PATCHED" ] || [ "$need_patched" = 0 ] ||
	PATCHED=$("$E2E_REPO/userspace/qemu-patch/build-qemu.sh" --print-path 2>/dev/null | tail -n1)
MPQEMU_RUN=${MPDEV_MPQEMU_RUN:-$E2E_REPO/userspace/build/mpqemu-run}
MPDEVCTL=${MPDEV_MPDEVCTL:-$E2E_REPO/userspace/mpdevctl/mpdevctl}
IO=$MPDEV_E2E_BUILD/mpdev-io
BOOT_TO=${MPDEV_E2E_BOOT_TIMEOUT:-240}
RUN_TO=${MPDEV_E2E_RUN_TIMEOUT:-300}
KILL_TO=${MPDEV_E2E_KILL_TIMEOUT:-30}
DISK_MB=64
# The QOM counters of x-remote-object (userspace/qemu-patch 0004, 0006,
# 0009 MSI-X, 0011 MSI).
QOM_PROPS="mpdev mpdev-mode mpdev-reads mpdev-writes mpdev-errors mpdev-poll-batches socket-bar-reads socket-bar-writes msix-vectors msix-signals msix-dropped msi-vectors msi-signals"

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
t_diag "e2e-devices: QEMU's lsi53c895a, e1000, nvme, virtio-blk and ich9-ahci in -machine x-remote or in-process, driven by the nested guest's Linux drivers"
pre=0
if [ "$need_remote" = 1 ]; then
	[ "${MPDEV_IN_VM:-0}" = 1 ] && [ -c /dev/kvm ] && [ -c /dev/mpdev ] || pre=1
	t_ok "$pre" "preflight: inside the test VM with /dev/kvm and /dev/mpdev"
else
	[ "${MPDEV_IN_VM:-0}" = 1 ] && [ -c /dev/kvm ] || pre=1
	t_ok "$pre" "preflight: inside the test VM with /dev/kvm (in-process cases only)"
fi
[ -x "$STOCK" ] && [ -x "$IO" ] || pre=1
[ "$need_patched" = 0 ] || { [ -n "$PATCHED" ] && [ -x "$PATCHED" ]; } || pre=1
[ "$need_remote" = 0 ] || [ -x "$MPQEMU_RUN" ] || pre=1
e2e_guest_env 2>"$work/env.err" || pre=1
if [ "$need_remote" = 1 ]; then
	t_ok "$pre" "preflight: stock QEMU ($STOCK), patched QEMU (${PATCHED:-$([ "$need_patched" = 1 ] && echo 'not built' || echo 'not needed')}), mpqemu-run, mpdev-io and the nested guest built"
else
	t_ok "$pre" "preflight: stock QEMU ($STOCK), mpdev-io and the nested guest built"
fi
[ "$pre" = 0 ] || finish
have_ctl=0
"$MPDEVCTL" show >/dev/null 2>&1 && have_ctl=1
t_diag "stock: $("$STOCK" --version | head -n1)"
[ -z "$PATCHED" ] || t_diag "patched: $("$PATCHED" --version | head -n1)"
taint0=$(cat /proc/sys/kernel/tainted)

# --------------------------------------------------------- one case
# dev_case NAME VMM REMOTE MPDEV DEV STEPS
#   MPDEV: none (stock VMM), auto (patched VMM, no fd), on, poll; inproc:
#          the device on VMM itself (REMOTE unused), no mpqemu-run
#   DEV:   lsi, e1000, nvme, vblk (virtio-blk-pci, modern only) or ahci
#          (ich9-ahci, its ide-hd on port 0)
# Boots the guest with e2e.io=STEPS, waits for its steps, reads the
# remote's counters into q[] (patched remote), stops everything.
# DEV_VMM_ARGS: more arguments for the VMM QEMU (an array).
case_dir='' case_name='' case_inproc=0 DEV_VMM_ARGS=()
dev_case() {
	local name=$1 vmm=$2 remote=$3 mpdev=$4 dev=$5 steps=$6 pm rc
	local rcmd mpq drive
	case_name=$name case_dir=$work/$name
	mkdir -p "$case_dir/run"
	E2E_RUNDIR=$case_dir/run E2E_TAP_PREFIX="$name: "
	drive="if=none,id=d0,file=$case_dir/disk.img,format=raw"
	# shellcheck disable=SC2054 # commas inside QEMU's arguments
	case $dev in
	lsi) rcmd=(-device lsi53c895a,id=dev0 -drive "$drive"
		-device scsi-hd,drive=d0,serial=e2edata) ;;
	e1000) rcmd=(-netdev user,id=n0 -device "e1000,id=dev0,netdev=n0,romfile=${DEV_ROM:-}") ;;
	nvme) rcmd=(-device nvme,id=dev0,serial=e2edata,drive=d0 -drive "$drive") ;;
	vblk) rcmd=(-device virtio-blk-pci,id=dev0,drive=d0,serial=e2edata,disable-legacy=on
		-drive "$drive") ;;
	ahci) rcmd=(-device ich9-ahci,id=dev0 -drive "$drive"
		-device ide-hd,drive=d0,bus=dev0.0,serial=e2edata) ;;
	esac
	e2e_qemu_args "$case_dir" "$E2E_APPEND e2e.io=$steps e2e.end=hold"
	if [ "$mpdev" = inproc ]; then
		case_inproc=1 E2E_RUNDIR=''
		mpq=("$vmm")
		E2E_QEMU_ARGS+=("${rcmd[@]}")
		printf '%q ' "${mpq[@]}" "${E2E_QEMU_ARGS[@]}" >"$case_dir/cmdline"
	else
		case_inproc=0
		e2e_xremote_args "$remote" "$mpdev" "${rcmd[@]}"
		mpq=("$MPQEMU_RUN" --qemu "$vmm" --run-dir "$case_dir/run" -v)
		case $mpdev in
		none) pm= ;;
		auto) pm=,mpdev=auto ;;
		zp) pm= mpq+=(--zero-patch) ;;
		*) pm=,mpdev=on,mpdev-fd=@MPDEV_FD:dev0@ mpq+=(--mpdev-for dev0) ;;
		esac
		mpq+=(--remote-cmd dev0 "${E2E_REMOTE_ARGS[@]}" ';')
		E2E_QEMU_ARGS+=(-device "x-pci-proxy-dev,id=dev0,fd=@PROXY_FD:dev0@$pm")
		E2E_QEMU_ARGS+=(${DEV_VMM_ARGS[@]+"${DEV_VMM_ARGS[@]}"})
		printf '%q ' "${mpq[@]}" -- "${E2E_QEMU_ARGS[@]}" >"$case_dir/cmdline"
	fi

	q=()
	E2E_INPROC=$case_inproc e2e_boot "$case_dir" 2 "$BOOT_TO" "${mpq[@]}"
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
	[ "$rc" -eq 0 ] || { e2e_why_gone "$case_dir"; e2e_tail_logs "$case_dir" 15; }
	if [ "$case_inproc" = 0 ] && [ "$remote" = "$PATCHED" ] && kill -0 "$remote_pid" 2>/dev/null; then
		# shellcheck disable=SC2086 # a list of names
		e2e_qom "$case_dir/run/dev0.qmp" "$case_dir/qom.txt" $QOM_PROPS
		t_diag "$name: remote counters: $(tr '\n' ' ' <"$case_dir/qom.txt")"
	fi
	if [ "$mpdev" = on ] || [ "$mpdev" = poll ] || [ "$mpdev" = zp ]; then
		[ "$have_ctl" = 0 ] || "$MPDEVCTL" show -j >"$case_dir/mpdevctl-show.json" 2>&1
	fi
	return 0
}

# case_stop: stop the case's guest, check nobody is left behind
case_stop() {
	local left
	e2e_stop
	left=$(pgrep -f "$case_dir/" 2>/dev/null | tr '\n' ' ')
	if [ "$case_inproc" = 1 ]; then
		t_ok "$([ -z "$left" ]; echo $?)" "$case_name: stopped: no QEMU left${left:+ (pids $left)}"
		return
	fi
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

# route_zero_patch NAME: mpqemu-run --zero-patch attached the stock VMM's
# VM and put the device's BARs on mpdev from QMP, refusing none
route_zero_patch() {
	local n=$1
	e2e_zp_state "$case_dir/run/dev0.zero-patch"
	t_ok "$(grep -q -E -- "$(e2e_zp_attach_re dev0 "$qemu_pid")" "$case_dir/mpqemu-run.err" &&
		[ "$(e2e_zn regions_added)" -ge 1 ] && [ "$(e2e_zn refused)" -eq 0 ]; echo $?)" \
		"$n: route: mpqemu-run --zero-patch attached the stock VMM's KVM VM and registered the BARs from QMP (regions_added=${zs[regions_added]:-?} regions_now=${zs[regions_now]:-?} refused=${zs[refused]:-?})"
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
# say_check NAME MPDEV REMOTE: the one line each side prints about the
# path it took (MPDEV as dev_case's)
say_check() {
	local n=$1 mpdev=$2 remote=$3 vlog=$case_dir/mpqemu-run.err rlog=$case_dir/run/dev0.log
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
		zp) route_mpdev "$name"
		    route_zero_patch "$name" ;;
		poll) route_mpdev "$name"
		      t_ok "$([ "${q[mpdev-mode]:-}" = poll ] && [ "${q[mpdev-poll-batches]:-0}" -gt 0 ]; echo $?)" \
			"$name: route: the remote busy-polled the ring (mpdev-mode=${q[mpdev-mode]:-?}, mpdev-poll-batches=${q[mpdev-poll-batches]:-?})" ;;
		*) [ "$remote" = "$PATCHED" ] && route_socket "$name" ;;
		esac
		say_check "$name" "$mpdev" "$remote"
		case_stop
	fi
	out=$("$IO" --out stdout verify-image "$work/$name/disk.img" "$SEED" 2>&1)
	t_ok $? "$name: the image holds exactly what the guest wrote (host side: $(io_summary "$out"))"
	rm -f "$work/$name/disk.img"
}

# ------------------------------------------- NVMe, virtio-blk and AHCI
# Their PCI IDs (mpdev-io pci VVVV/DDDD), the drivers that bind them, and
# how they interrupt: mpdev-io's step (msix, msi) and the guest's line of
# it (MSIX, MSI).  QEMU's ich9-ahci has one MSI message (64-bit address,
# no per-vector masking) and no MSI-X: MSI_SHAPE is what its MSI line
# must say of the capability.
declare -A PCI_ID=([nvme]=1b36/0010 [vblk]=1af4/1042 [ahci]=8086/2922)
declare -A PCI_DRV=([nvme]=nvme [vblk]=virtio-pci [ahci]=ahci)
declare -A IRQ_STEP=([nvme]=msix [vblk]=msix [ahci]=msi) IRQ_LINE=([msix]=MSIX [msi]=MSI)
declare -A IRQ_NAME=([msix]=MSI-X [msi]=MSI) MSI_SHAPE=([ahci]='capable=1 addr64=1 maskbit=0')
# guest_line KEY: the guest's "KEY k=v k=v ..." line (MSIX, MSI, PCI) into
# $gline and kv[]
declare -A kv=()
gline=''
guest_line() {
	local w
	kv=()
	gline=$(grep -m1 "^$1 " "$case_dir/guest.tap.txt")
	for w in ${gline#"$1 "}; do kv[${w%%=*}]=${w#*=}; done
}
# ge A B: A and B are numbers and A >= B (a missing counter, "?" or "-",
# is no number)
ge() { [[ $1 =~ ^[0-9]+$ && $2 =~ ^[0-9]+$ ]] && [ "$1" -ge "$2" ]; }
# shape_ok SHAPE: every k=v of SHAPE is in kv[]
shape_ok() {
	local w
	for w in $1; do [ "${kv[${w%%=*}]:-}" = "${w#*=}" ] || return 1; done
}
# intx_diag NAME KIND: what the PCI line says of MSI-X, MSI and INTx,
# when the guest has no MSIX or MSI line (KIND msix, msi: its step failed;
# did the driver fall back to INTx?)
intx_diag() {
	local line
	line=$(grep -m1 '^PCI ' "$case_dir/guest.tap.txt" | grep -o -w '\(msix\|msi\|msi_enabled\|intx_irq\|intx_count\)=[^ ]*' | tr '\n' ' ')
	t_diag "$1: no ${IRQ_NAME[$2]} line from the guest; its PCI line: ${line:-none}"
}
# msi_check NAME DEV WHOSE: the guest's MSI line (in kv[]) says its driver
# runs with MSI, a vector took interrupts, and the capability is as
# WHOSE DEV has it (MSI_SHAPE)
msi_check() {
	local n=$1 dev=$2
	t_ok "$([ "${kv[enabled]:-}" = 1 ] && ge "${kv[vectors]:-}" 1 && ge "${kv[irqs]:-}" 1 &&
		shape_ok "${MSI_SHAPE[$dev]:-}"; echo $?)" \
		"$n: the guest's ${PCI_DRV[$dev]} runs with MSI (${kv[vectors]:-?} vector(s) of ${kv[allocated]:-?} enabled, ${kv[irqs]:-?} interrupts), the capability as $3 $dev has it (${MSI_SHAPE[$dev]:-}: capable=${kv[capable]:-?} addr64=${kv[addr64]:-?} maskbit=${kv[maskbit]:-?})"
}

# modern_inproc NAME DEV: the device on the (stock) VMM QEMU itself
modern_inproc() {
	local name=$1 dev=$2 k=${IRQ_STEP[$2]} en nv ni out
	SEED=$((SEED + 1))
	mkdir -p "$work/$name"
	truncate -s "${DISK_MB}M" "$work/$name/disk.img"
	if dev_case "$name" "$STOCK" - inproc "$dev" \
		"disk:e2edata,pattern:e2edata:$SEED,$k:e2edata,pci:${PCI_ID[$dev]}"; then
		guest_line "${IRQ_LINE[$k]}"
		if [ -n "$gline" ]; then t_diag "$name: $gline"; else intx_diag "$name" "$k"; fi
		[ "$k" != msi ] || msi_check "$name" "$dev" "QEMU's"
		guest_line PCI
		t_diag "$name: $gline"
		if [ "$k" = msix ]; then
			en=${kv[msix_enabled]:-} nv=${kv[vectors]:-} ni=${kv[irqs]:-}
		else
			en=${kv[msi_enabled]:-} nv=${kv[msi_vectors]:-} ni=${kv[msi_irqs]:-}
		fi
		t_ok "$([ "${kv[driver]:-}" = "${PCI_DRV[$dev]}" ] && [ "$en" = 1 ] &&
			ge "$nv" 1 && ge "$ni" 1 && [ "${kv[disks]:-none}" != none ]; echo $?)" \
			"$name: ${PCI_DRV[$dev]} drives ${kv[bdf]:-?} with ${IRQ_NAME[$k]} (${nv:-?} vectors, ${ni:-?} interrupts), disk ${kv[disks]:-?}"
		case_stop
	fi
	out=$("$IO" --out stdout verify-image "$work/$name/disk.img" "$SEED" 2>&1)
	t_ok $? "$name: the image holds exactly what the guest wrote (host side: $(io_summary "$out"))"
	rm -f "$work/$name/disk.img"
}

# modern_mpdev NAME DEV MODE: the device in QEMU's remote behind the
# patched proxy, mpdev on (MODE on: blocking remote, poll: polling), and
# MSI-X or MSI carried (userspace/qemu-patch 0007-0010, MSI 0011): the
# guest's driver binds with MSI-X or MSI, the pattern holds, the BAR
# traffic went through mpdev (PIECES regions: in pieces around an MSI-X
# table and PBA; MSI lives in config space and splits nothing), and every
# interrupt the guest counted was an eventfd the remote signalled.
# The MSI route: the remote has one eventfd per message (MSI_VECS) and
# signalled them at least as often as the guest counted interrupts.
declare -A PIECES=([nvme]=3 [vblk]=3 [ahci]=2) MSI_VECS=([ahci]=1)
declare -A PIECES_WHY=([nvme]='the MSI-X table and PBA stay with QEMU' [vblk]='the MSI-X table and PBA stay with QEMU'
	[ahci]='BAR4 I/O and BAR5 MMIO whole: MSI is in config space')
modern_mpdev() {
	local name=$1 dev=$2 mode=$3 k=${IRQ_STEP[$2]} out nreg
	SEED=$((SEED + 1))
	mkdir -p "$work/$name"
	truncate -s "${DISK_MB}M" "$work/$name/disk.img"
	if dev_case "$name" "$PATCHED" "$PATCHED" "$mode" "$dev" \
		"disk:e2edata,pattern:e2edata:$SEED,$k:e2edata,pci:${PCI_ID[$dev]}"; then
		guest_line "${IRQ_LINE[$k]}"
		if [ -n "$gline" ]; then t_diag "$name: $gline"; else intx_diag "$name" "$k"; fi
		if [ "$k" = msix ]; then
			t_ok "$([ "${kv[enabled]:-}" = 1 ] && ge "${kv[irqs]:-}" 1; echo $?)" \
				"$name: the guest's ${PCI_DRV[$dev]} runs with MSI-X (${kv[vectors]:-?} of ${kv[entries]:-?} vectors, ${kv[irqs]:-?} interrupts)"
		else
			msi_check "$name" "$dev" "the remote's"
		fi
		route_mpdev "$name"
		if [ "$k" = msix ]; then
			t_ok "$([ "${q[msix-vectors]:-0}" = "${kv[entries]:-x}" ] && [ "${q[msix-dropped]:-x}" = 0 ] &&
				ge "${q[msix-signals]:-}" "${kv[irqs]:-1}"; echo $?)" \
				"$name: route: the remote raised MSI-X through the proxy's eventfds (msix-vectors=${q[msix-vectors]:-?} of ${kv[entries]:-?}, msix-signals=${q[msix-signals]:-?} >= the guest's ${kv[irqs]:-?} interrupts, msix-dropped=${q[msix-dropped]:-?})"
		else
			t_ok "$([ "${q[msi-vectors]:-}" = "${MSI_VECS[$dev]}" ] && ge "${kv[irqs]:-}" 1 &&
				ge "${q[msi-signals]:-}" "${kv[irqs]:-}"; echo $?)" \
				"$name: route: the remote raised MSI through the proxy's eventfds (msi-vectors=${q[msi-vectors]:-?}, want ${MSI_VECS[$dev]}; msi-signals=${q[msi-signals]:-?} >= the guest's ${kv[irqs]:-?} MSI interrupts)"
		fi
		if [ "$have_ctl" = 1 ]; then
			nreg=$(grep -o '"nr_regions":[0-9]*' "$case_dir/mpdevctl-show.json" | head -n1)
			t_ok "$([ "${nreg#*:}" = "${PIECES[$dev]}" ]; echo $?)" \
				"$name: mpdev serves the BARs in ${nreg#*:} pieces (${PIECES[$dev]}: ${PIECES_WHY[$dev]})"
		fi
		[ "$mode" != poll ] ||
			t_ok "$([ "${q[mpdev-mode]:-}" = poll ] && ge "${q[mpdev-poll-batches]:-}" 1; echo $?)" \
				"$name: route: the remote busy-polled the ring (mpdev-poll-batches=${q[mpdev-poll-batches]:-?})"
		say_check "$name" "$mode" "$PATCHED"
		case_stop
	fi
	out=$("$IO" --out stdout verify-image "$work/$name/disk.img" "$SEED" 2>&1)
	t_ok $? "$name: the image holds exactly what the guest wrote (host side: $(io_summary "$out"))"
	rm -f "$work/$name/disk.img"
}

# vmm_hmp SOCKET COMMAND: an HMP command's output, over the VMM's QMP socket
vmm_hmp() {
	python3 "$E2E_DIR/qom-get.py" "$1" --hmp "$2"
}

# modern_classic NAME DEV: stock VMM and remote, stock x-pci-proxy-dev:
# what the guest sees (mpdev-io pci), what the VMM made of the BARs (HMP
# info pci), and checks that pin down the gap.  The proxy sizes each BAR
# as 32-bit (hw/remote/proxy.c probe_pci_info): the low half of the 64-bit
# BAR becomes a 32-bit memory BAR, its high half an I/O BAR.  The guest
# reads the remote's config space, sees a 64-bit BAR and puts it above
# 4 GiB, where the VMM maps nothing.  And -machine x-remote has no MSI,
# so the remote's device has no MSI-X capability at all.
# Per DEV: the 64-bit BAR, the driver left bound, the kernel's words.
declare -A GAP_BAR=([nvme]=0 [vblk]=4) GAP_DRV=([nvme]=none [vblk]=virtio-pci)
declare -A GAP_MSG=([nvme]='Removing after probe failure status: -19'
	[vblk]='device uses modern interface but does not have VIRTIO_F_VERSION_1')
CLASSIC_WAIT=10
modern_classic() {
	local name=$1 dev=$2 b hi f st info
	b=${GAP_BAR[$dev]} hi=$((GAP_BAR[$dev] + 1))
	mkdir -p "$work/$name"
	truncate -s "${DISK_MB}M" "$work/$name/disk.img"
	DEV_VMM_ARGS=(-qmp "unix:$work/$name/vmm.qmp,server=on,wait=off")
	if dev_case "$name" "$STOCK" "$STOCK" none "$dev" "pci:${PCI_ID[$dev]}:$CLASSIC_WAIT"; then
		guest_line PCI
		t_diag "$name: the guest sees: $gline"
		vmm_hmp "$case_dir/vmm.qmp" 'info pci' >"$case_dir/vmm-info-pci.txt" 2>&1
		# the proxy's entry: from "device 1" to its id "dev0"
		info=$(sed -n '/device   1, function 0/,/id "dev0"/p' "$case_dir/vmm-info-pci.txt" | tr -d '\r')
		t_diag "$name: the VMM's info pci of the proxy:" "${info:-nothing}"
		f=${kv[bar${b}_flags]:-0}
		st=${kv[bar${b}_start]:-0}
		t_ok "$([ $((f & 0x100000)) -ne 0 ] && [ $((f & 0x100)) -eq 0 ] && [ "${kv[bar${b}_size]:-}" = 16384 ] &&
			[ $((st)) -ge $((1 << 32)) ]; echo $?)" \
			"$name: gap: the guest sees BAR$b as 64-bit memory, 16 KiB, and put it above 4 GiB (at ${kv[bar${b}_start]:-?}, flags ${kv[bar${b}_flags]:-?})"
		t_ok "$(grep -q "BAR$b: 32 bit memory at 0xffffffffffffffff \[0x00003ffe\]" <<<"$info" &&
			grep -q "BAR$hi: I/O at " <<<"$info"; echo $?)" \
			"$name: gap: the stock proxy made BAR$b a 32-bit memory BAR, unmapped, and its upper half BAR$hi an I/O BAR (VMM's info pci)"
		t_ok "$([ "${kv[msix]:-}" = 0 ] && [ "${kv[vectors]:-}" = 0 ] &&
			{ [ "$dev" != nvme ] || grep -q -F 'MSI-X is not supported by interrupt controller' "$case_dir/run/dev0.log"; }; echo $?)" \
			"$name: gap: no MSI-X capability (x-remote has no MSI$([ "$dev" = nvme ] && echo "; the remote warned 'MSI-X is not supported by interrupt controller'"))"
		t_ok "$([ "${kv[driver]:-}" = "${GAP_DRV[$dev]}" ] && [ "${kv[disks]:-}" = none ] &&
			grep -q -F "${GAP_MSG[$dev]}" "$case_dir/guest.tap.txt"; echo $?)" \
			"$name: gap: no disk; driver ${kv[driver]:-?} (want ${GAP_DRV[$dev]}), the kernel: '${GAP_MSG[$dev]}'"
		case_stop
	fi
	DEV_VMM_ARGS=()
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

# make_rom FILE VID DID: a 16 KiB PCI expansion ROM image for VID:DID (its
# 0x55aa header and PCIR structure as the guest's kernel walks them, the
# rest pseudo-random, byte sum 0); prints "SIZE SHA256"
make_rom() {
	python3 - "$@" <<'PY'
import hashlib, random, struct, sys
f, vid, did = sys.argv[1], int(sys.argv[2], 16), int(sys.argv[3], 16)
size = 16384
b = bytearray(random.Random(vid << 16 | did).randbytes(size))
b[0:3] = bytes([0x55, 0xaa, size // 512])
b[0x18:0x1a] = struct.pack('<H', 0x1c)
b[0x1c:0x34] = b'PCIR' + struct.pack('<HHHHB3sHHBBH', vid, did, 0, 0x18, 0,
                                      bytes([0, 0, 2]), size // 512, 0, 0, 0x80, 0)
b[-1] = 0
b[-1] = -sum(b) & 0xff
open(f, 'wb').write(b)
print(size, hashlib.sha256(b).hexdigest())
PY
}

net_case() {
	local name=$1 vmm=$2 remote=$3 mpdev=$4 got
	if dev_case "$name" "$vmm" "$remote" "$mpdev" e1000 "net:http://10.0.2.2:$HTTP_PORT/blob:$BLOB_SHA"; then
		got=$(grep -c 'GET /blob' "$work/http.log")
		t_ok "$([ "$got" -gt "${http_gets:-0}" ]; echo $?)" "$name: the test VM's HTTP server served the guest's request ($((got - ${http_gets:-0})) GET)"
		http_gets=$got
		case $mpdev in
		on|poll) route_mpdev "$name" ;;
		zp) route_mpdev "$name"
		    route_zero_patch "$name" ;;
		esac
		[ "$mpdev" != poll ] ||
			t_ok "$([ "${q[mpdev-mode]:-}" = poll ] && ge "${q[mpdev-poll-batches]:-}" 1; echo $?)" \
				"$name: route: the remote busy-polled the ring (mpdev-poll-batches=${q[mpdev-poll-batches]:-?})"
		case_stop
	fi
}

# rom_case NAME: the e1000 with an expansion ROM of ours (romfile=), patched
# VMM and remote, mpdev on.  The patched proxy probes the ROM BAR
# (series 0007) and serves it over the socket; the guest's kernel reads it
# whole (sysfs rom) and must get the file's bytes.  Every other BAR access
# still goes through mpdev.
rom_case() {
	local name=$1 rom DEV_ROM
	mkdir -p "$work/$name"
	DEV_ROM=$work/$name/e1000.rom
	rom=$(make_rom "$DEV_ROM" 8086 100e) || { t_fail "$name: an option ROM image for the e1000"; return; }
	if dev_case "$name" "$PATCHED" "$PATCHED" on e1000 "rom:8086/100e:${rom% *}:${rom#* },pci:8086/100e"; then
		t_ok "$([ "${q[mpdev]:-}" = true ] && ge "${q[mpdev-reads]:-}" 1 && ge "${q[mpdev-writes]:-}" 1 &&
			[ "${q[mpdev-errors]:-x}" = 0 ]; echo $?)" \
			"$name: route: the driver's register accesses went through mpdev (reads=${q[mpdev-reads]:-?}, writes=${q[mpdev-writes]:-?}, errors=${q[mpdev-errors]:-?})"
		t_ok "$(ge "${q[socket-bar-reads]:-}" $((${rom% *} / 4)) && [ "${q[socket-bar-writes]:-x}" = 0 ]; echo $?)" \
			"$name: route: the ROM's reads on the socket, at least its ${rom% *} bytes in 4-byte reads, and no BAR write (socket-bar-reads=${q[socket-bar-reads]:-?}, socket-bar-writes=${q[socket-bar-writes]:-?})"
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
	disk-zp) disk_case "$c" "$STOCK" "$PATCHED" zp ;;
	net-*)
		if [ -z "${HTTP_PORT:-}" ] && ! net_setup; then
			t_fail "$c: an HTTP server on 127.0.0.1 for the guest"
			continue
		fi
		case $c in
		net-classic) net_case "$c" "$STOCK" "$STOCK" none ;;
		net-mpdev) net_case "$c" "$PATCHED" "$PATCHED" on ;;
		net-poll) net_case "$c" "$PATCHED" "$PATCHED" poll ;;
		net-zp) net_case "$c" "$STOCK" "$PATCHED" zp ;;
		esac ;;
	rom-mpdev) rom_case "$c" ;;
	kill-mid-io) kill_case ;;
	nvme-inproc) modern_inproc "$c" nvme ;;
	nvme-mpdev) modern_mpdev "$c" nvme on ;;
	nvme-poll) modern_mpdev "$c" nvme poll ;;
	vblk-mpdev) modern_mpdev "$c" vblk on ;;
	vblk-poll) modern_mpdev "$c" vblk poll ;;
	vblk-inproc) modern_inproc "$c" vblk ;;
	ahci-inproc) modern_inproc "$c" ahci ;;
	ahci-mpdev) modern_mpdev "$c" ahci on ;;
	nvme-classic) modern_classic "$c" nvme ;;
	vblk-classic) modern_classic "$c" vblk ;;
	*) t_fail "unknown case '$c'" ;;
	esac
done
E2E_TAP_PREFIX=''
taint1=$(cat /proc/sys/kernel/tainted)
t_ok "$([ "$taint1" = "$taint0" ]; echo $?)" "the kernel's taint flags did not change (before $taint0, after $taint1: no warning)"
finish
