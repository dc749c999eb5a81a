#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# mkguest.sh - build the nested guest of the end-to-end tests.
#
# Usage: selftests/e2e/mkguest.sh [--kver KVER] [--out DIR] [--tool PATH]
#                                  [--io-tool PATH]
#
# Runs on the host, before vm-run (the test VM sees the host read-only).
# Writes into DIR (default build/e2e):
#   initrd.cpio   busybox-static, guest/init as /init, the guest tool as
#                 /bin/mpdev-guest and the modules it may load (uio,
#                 uio_pci_generic) in /lib/modules/e2e; the I/O tool as
#                 /bin/mpdev-io and the modules of the devices it drives
#                 (sym53c8xx, sd_mod, e1000, nvme, virtio_pci, virtio_blk,
#                 libata, libahci, ahci, with their dependencies from
#                 modules.dep; none that the kernel has built in) in
#                 /lib/modules/e2e, their load order in
#                 /lib/modules/e2e/io.order (guest/init's e2e.io loads
#                 them); uncompressed, since decompressing costs seconds in
#                 a nested guest
#   initrd.key    hash of those inputs: the image is rebuilt only when one
#                 of them changes
#   guest.env     shell variables for the runners: E2E_KVER, E2E_KERNEL,
#                 E2E_KERNEL_KIND (pvh or bzimage), E2E_INITRD
# The kernel is Debian's linux-image-KVER from the cache that
# scripts/install-deps.sh fills ($MPDEV_CACHE/kernel/KVER), the same one the
# test VM boots.  Its compressed bzImage is unpacked once into
# $MPDEV_CACHE/e2e/vmlinux-KVER: QEMU boots that ELF straight through its
# PVH entry point, which saves the ~30 s that decompressing the kernel
# takes in a nested guest under TCG.  Without a PVH note, the bzImage is
# used.
#
# KVER defaults to the installed linux-headers-amd64's, as in vm-run.
# --tool defaults to DIR/mpdev-guest, --io-tool to DIR/mpdev-io (both
# built by selftests/e2e/Makefile).
set -euo pipefail

prog=mkguest
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
CACHE=${MPDEV_CACHE:-/var/cache/mpdev}
kver=${MPDEV_KVER:-}
out=$repo/build/e2e
tool=
iotool=

die() { printf '%s: error: %s\n' "$prog" "$*" >&2; exit 1; }
say() { printf '%s: %s\n' "$prog" "$*" >&2; }

while [ $# -gt 0 ]; do
	case $1 in
	--kver) [ $# -ge 2 ] || die "--kver needs a value"; kver=$2; shift ;;
	--out) [ $# -ge 2 ] || die "--out needs a value"; out=$2; shift ;;
	--tool) [ $# -ge 2 ] || die "--tool needs a value"; tool=$2; shift ;;
	--io-tool) [ $# -ge 2 ] || die "--io-tool needs a value"; iotool=$2; shift ;;
	-h|--help) sed -n '4,/^$/s/^# \{0,1\}//p' "$0"; exit 0 ;;
	*) die "unknown argument '$1'" ;;
	esac
	shift
done
mkdir -p "$out"
out=$(cd "$out" && pwd)
tool=${tool:-$out/mpdev-guest}
[ -x "$tool" ] || die "no guest tool $tool (run 'make -C selftests/e2e')"
iotool=${iotool:-$out/mpdev-io}
[ -x "$iotool" ] || die "no guest tool $iotool (run 'make -C selftests/e2e')"

if [ -z "$kver" ]; then
	kver=$(dpkg-query -W -f='${Depends}' linux-headers-amd64 2>/dev/null |
		grep -o 'linux-headers-[0-9][^ ,]*-amd64' | head -n1 |
		sed 's/^linux-headers-//') || true
	[ -n "$kver" ] || kver=$(ls -d /usr/src/linux-headers-6.1.*-amd64 2>/dev/null |
		sed 's|.*/linux-headers-||' | sort -V | tail -n1)
	[ -n "$kver" ] || die "no linux-headers-amd64 installed: run 'make deps'"
fi
kroot=$CACHE/kernel/$kver
if [ ! -f "$kroot/.complete" ] || [ ! -f "$kroot/boot/vmlinuz-$kver" ]; then
	say "kernel $kver not in $CACHE, fetching it with scripts/install-deps.sh --kernel-only"
	MPDEV_CACHE=$CACHE "$repo/scripts/install-deps.sh" --kernel-only --kver "$kver" >&2 ||
		die "no kernel $kver in $CACHE: run 'make deps'"
fi
vmlinuz=$kroot/boot/vmlinuz-$kver
moddir=$kroot/lib/modules/$kver
busybox=$(command -v busybox) || die "no busybox: run 'make deps' (busybox-static)"
{ ldd "$busybox" 2>&1 || true; } | grep -q 'not a dynamic' ||
	die "$busybox is not static: run 'make deps' (busybox-static)"

# ------------------------------------------------------------ kernel
# The ELF inside the bzImage: find a compressed stream that unpacks to an
# ELF (what the kernel's scripts/extract-vmlinux does).
has_pvh_note() {
	# XEN_ELFNOTE_PHYS32_ENTRY (18): QEMU's -kernel then boots the ELF.
	readelf -n "$1" 2>/dev/null | grep -q 'Unknown note type: (0x00000012)'
}
extract_vmlinux() {
	local in=$1 to=$2 magic tool_cmd off
	for magic in xz zstd gzip; do
		case $magic in
		xz) pat=$'\xfd7zXZ\x00'; tool_cmd="xz -dc" ;;
		zstd) pat=$'\x28\xb5\x2f\xfd'; tool_cmd="zstd -dcq" ;;
		gzip) pat=$'\x1f\x8b\x08'; tool_cmd="gzip -dc" ;;
		esac
		command -v "${tool_cmd%% *}" >/dev/null || continue
		for off in $(LC_ALL=C grep -abo "$pat" "$in" 2>/dev/null | cut -d: -f1 | head -n 3); do
			# The stream is followed by the rest of the image: the
			# decompressor complains about it, the output is whole.
			tail -c +$((off + 1)) "$in" | $tool_cmd >"$to" 2>/dev/null || true
			if [ "$(head -c 4 "$to" | od -An -tx1 | tr -d ' ')" = 7f454c46 ]; then
				return 0
			fi
		done
	done
	return 1
}

ecache=$CACHE/e2e
mkdir -p "$ecache" || die "cannot write $ecache (set MPDEV_CACHE)"
kstamp="$kver $(cat "$kroot/.complete")"
vmlinux=$ecache/vmlinux-$kver
if [ ! -f "$vmlinux" ] || [ "$(cat "$vmlinux.stamp" 2>/dev/null)" != "$kstamp" ]; then
	say "unpacking $vmlinuz into $vmlinux"
	tmp=$(mktemp "$ecache/.vmlinux.XXXXXX")
	if extract_vmlinux "$vmlinuz" "$tmp"; then
		mv "$tmp" "$vmlinux"
		echo "$kstamp" >"$vmlinux.stamp"
	else
		rm -f "$tmp"
		say "warning: cannot unpack $vmlinuz; booting the bzImage (about 30 s slower)"
	fi
fi
if [ -f "$vmlinux" ] && has_pvh_note "$vmlinux"; then
	kernel=$vmlinux kind=pvh
else
	[ -f "$vmlinux" ] && say "warning: $vmlinux has no PVH entry note; booting the bzImage (about 30 s slower)"
	kernel=$vmlinuz kind=bzimage
fi

# ---------------------------------------------------------- initramfs
# Modules mpdev-guest may load (dma): from modules.dep, decompressed.
find_module() {
	local want=${1//-/_}
	if [ -f "$moddir/modules.builtin" ] &&
	   awk -F/ -v w="$want" '{ n = $NF; sub(/\.ko.*/, "", n); gsub(/-/, "_", n)
		if (n == w) f = 1 } END { exit !f }' "$moddir/modules.builtin"; then
		echo builtin
		return
	fi
	awk -F: -v w="$want" -v d="$moddir/" '{ n = $1; sub(/.*\//, "", n)
		sub(/\.ko.*/, "", n); gsub(/-/, "_", n)
		if (n == w) { print d $1; exit } }' "$moddir/modules.dep"
}
mods="uio uio_pci_generic"
modfiles=()
for m in $mods; do
	f=$(find_module "$m")
	[ -n "$f" ] || die "module $m not found for $kver in $moddir"
	[ "$f" = builtin ] || modfiles+=("$m=$f")
done
# mpdev-guest's MSI-X counter (guest/mpdev_msix.c), if the Makefile built it for $kver.
if [ -f "$out/mpdev_msix.ko" ] &&
   [ "$(PATH=$PATH:/usr/sbin:/sbin modinfo -F vermagic "$out/mpdev_msix.ko" 2>/dev/null | cut -d' ' -f1)" = "$kver" ]; then
	modfiles+=("mpdev_msix=$out/mpdev_msix.ko")
fi
# The modules of mpdev-io's devices (LSI 53C895A, its disks, e1000, NVMe,
# virtio-blk on modern virtio-pci, AHCI) and what they need, in load order:
# modules.dep lists a module's dependencies so that loading them from the
# last to the first works (as modprobe does).  Debian 6.1: scsi_common
# scsi_mod scsi_transport_spi sym53c8xx crct10dif_common crc64 crc-t10dif
# crc64-rocksoft t10-pi sd_mod e1000 nvme-core nvme virtio_ring virtio
# virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci virtio_blk libata
# libahci ahci (AHCI's disks are SCSI disks through libata: sd_mod).
iomods="sym53c8xx sd_mod e1000 nvme virtio_pci virtio_blk libata libahci ahci"
ioorder=()
io_add() {
	local f=$1 n d deps i
	n=${f##*/}
	n=${n%%.ko*}
	for d in ${ioorder[@]+"${ioorder[@]}"}; do [ "${d%%=*}" = "$n" ] && return; done
	read -r -a deps <<<"$(awk -F': *' -v k="${f#"$moddir/"}" '$1 == k { print $2; exit }' "$moddir/modules.dep")"
	for ((i = ${#deps[@]} - 1; i >= 0; i--)); do io_add "$moddir/${deps[i]}"; done
	ioorder+=("$n=$f")
}
for m in $iomods; do
	f=$(find_module "$m")
	[ -n "$f" ] || die "module $m not found for $kver in $moddir"
	[ "$f" = builtin ] || io_add "$f"
done

key=$( {
	echo "$kver $kind"
	sha256sum <"$here/guest/init"
	sha256sum <"$busybox"
	sha256sum <"$tool"
	sha256sum <"$iotool"
	for mf in ${modfiles[@]+"${modfiles[@]}"} ${ioorder[@]+"${ioorder[@]}"}; do
		echo "$mf"; sha256sum <"${mf#*=}"
	done
	sha256sum <"${BASH_SOURCE[0]}"
} | sha256sum | cut -c1-16)
initrd=$out/initrd.cpio
if [ ! -f "$initrd" ] || [ "$(cat "$out/initrd.key" 2>/dev/null)" != "$key" ]; then
	say "building $initrd"
	work=$(mktemp -d "$out/.initrd.XXXXXX")
	trap 'rm -rf "$work"' EXIT
	r=$work/root
	mkdir -p "$r"/{bin,dev,proc,sys,tmp,lib/modules/e2e}
	cp "$busybox" "$r/bin/busybox"
	for a in $("$busybox" --list); do
		[ "$a" = busybox ] || ln -s busybox "$r/bin/$a"
	done
	cp "$tool" "$r/bin/mpdev-guest"
	cp "$iotool" "$r/bin/mpdev-io"
	cp "$here/guest/init" "$r/init"
	chmod 0755 "$r/init" "$r/bin/mpdev-guest" "$r/bin/mpdev-io"
	: >"$r/lib/modules/e2e/io.order"
	for mf in ${ioorder[@]+"${ioorder[@]}"}; do
		echo "${mf%%=*}" >>"$r/lib/modules/e2e/io.order"
	done
	for mf in ${modfiles[@]+"${modfiles[@]}"} ${ioorder[@]+"${ioorder[@]}"}; do
		m=${mf%%=*} f=${mf#*=}
		case $f in
		*.ko) cp "$f" "$r/lib/modules/e2e/$m.ko" ;;
		*.ko.xz) xz -dc "$f" >"$r/lib/modules/e2e/$m.ko" ;;
		*.ko.zst) zstd -q -dc "$f" >"$r/lib/modules/e2e/$m.ko" ;;
		*.ko.gz) gzip -dc "$f" >"$r/lib/modules/e2e/$m.ko" ;;
		*) die "unknown module file $f" ;;
		esac
	done
	mknod "$r/dev/console" c 5 1 2>/dev/null || true
	(cd "$r" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) >"$work/cpio"
	mv "$work/cpio" "$initrd"
	echo "$key" >"$out/initrd.key"
fi

sq() { printf "'%s'" "${1//\'/\'\\\'\'}"; }
{
	echo "# written by selftests/e2e/mkguest.sh"
	echo "E2E_KVER=$(sq "$kver")"
	echo "E2E_KERNEL=$(sq "$kernel")"
	echo "E2E_KERNEL_KIND=$kind"
	echo "E2E_INITRD=$(sq "$initrd")"
} >"$out/guest.env.tmp"
mv "$out/guest.env.tmp" "$out/guest.env"
say "guest ready: $kind kernel $kernel, initramfs $initrd ($(($(stat -c %s "$initrd") / 1024)) KiB)"
