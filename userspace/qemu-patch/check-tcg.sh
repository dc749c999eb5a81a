#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# check-tcg.sh - the patched QEMU under TCG: mpdev off is stock behaviour,
# mpdev on without KVM warns once and stays on the socket path.
#
# Boots Debian's kernel with a busybox initramfs whose /init is the remote's
# smoke-test guest (userspace/remote/tests/guest-init.sh: config space,
# BAR0 MMIO at 8-64 bits, BAR1 port I/O, DMA, uio_pci_generic) through
# mpqemu-run and mpdev-remote, once per case:
#
#   stock      -device x-pci-proxy-dev,fd=N (what mpqemu-run generates)
#   mpdev=on   QEMU would open /dev/mpdev itself; TCG: realize fails
#              ("on" means on), QEMU does not start
#   mpdev-fd   mpqemu-run --mpdev=/dev/null hands QEMU an fd (standing in
#              for /dev/mpdev, which cannot be opened on a build host),
#              mpdev=auto; TCG: one warning, the fd is closed
#   conflict   mpdev=off,mpdev-fd=N: QEMU refuses to start
#
# and checks the guest's results, the remote's counters (BAR accesses
# over the socket, no MPDEV_BACKEND, no rejected message) and QEMU's
# warnings.  The fast path itself needs KVM and mpdev.ko: see
# Documentation/mpdev/qemu-patch.rst for the nested run in the test VM.
#
# Usage: check-tcg.sh [QEMU] [USERSPACE_BUILD_DIR]
#   QEMU defaults to `build-qemu.sh --print-path`, the build dir to
#   userspace/build (make -C userspace first).
# Environment: MPDEV_CACHE (default /var/cache/mpdev) keeps the kernel.
# Prints TAP and "N passed, N failed"; exits 0 with a SKIP line when the
# patched QEMU, busybox-static or a kernel cannot be had.

set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
qemu=${1:-$("$here/build-qemu.sh" --print-path 2>/dev/null)}
build=${2:-$repo/userspace/build}
cache=${MPDEV_CACHE:-/var/cache/mpdev}

skip() { echo "1..0 # SKIP $*"; echo "0 passed, 0 failed"; exit 0; }

[ -n "$qemu" ] && [ -x "$qemu" ] || skip "no patched QEMU (run userspace/qemu-patch/build-qemu.sh)"
"$qemu" -device x-pci-proxy-dev,help 2>/dev/null | grep -q mpdev-fd ||
	skip "$qemu has no mpdev support"
[ -x "$build/mpqemu-run" ] && [ -x "$build/mpdev-remote" ] ||
	skip "no $build/mpqemu-run or mpdev-remote (make -C userspace)"
busybox=$(command -v busybox) || skip "no busybox (apt-get install busybox-static)"
ldd "$busybox" >/dev/null 2>&1 && skip "busybox is not static (apt-get install busybox-static)"
command -v cpio >/dev/null || skip "no cpio"

# A Debian kernel: the one scripts/install-deps.sh unpacked, or the
# current bookworm one fetched with apt-get download.
vmlinuz=$(ls "$cache"/kernel/*/boot/vmlinuz-* 2>/dev/null | head -1)
if [ -z "$vmlinuz" ]; then
	kdir=$cache/qemu/kernel
	if [ ! -d "$kdir/boot" ]; then
		img=$(apt-cache depends linux-image-amd64 2>/dev/null |
			sed -n 's/^ *Depends: \(linux-image-[0-9].*-amd64\)$/\1/p' | head -1)
		[ -n "$img" ] || skip "cannot resolve linux-image-amd64"
		mkdir -p "$cache/qemu"
		(cd "$cache/qemu" && rm -f "$img"-unsigned_*.deb &&
			apt-get download "$img-unsigned" >/dev/null 2>&1) ||
			skip "cannot download $img-unsigned"
		rm -rf "$kdir.tmp" && dpkg-deb -x "$cache/qemu/$img"-unsigned_*.deb "$kdir.tmp" &&
			mv "$kdir.tmp" "$kdir" && rm -f "$cache/qemu/$img"-unsigned_*.deb ||
			skip "cannot unpack $img-unsigned"
	fi
	vmlinuz=$(ls "$kdir"/boot/vmlinuz-* | head -1)
fi
kver=${vmlinuz##*/vmlinuz-}
moddir=$(dirname "$(dirname "$vmlinuz")")/lib/modules/$kver

work=$(mktemp -d /tmp/mpdev-qemu-tcg.XXXXXX)
trap 'rm -rf "$work"' EXIT
root=$work/root
mkdir -p "$root/bin" "$root/lib" "$root/proc" "$root/sys" "$root/dev"
cp "$busybox" "$root/bin/busybox"
for app in $("$busybox" --list); do
	[ "$app" = busybox ] || ln -s busybox "$root/bin/$app"
done
cp "$repo/userspace/remote/tests/guest-init.sh" "$root/init"
for m in uio uio_pci_generic; do
	f=$(find "$moddir" -name "$m.ko*" | head -1)
	case "$f" in
	*.xz) xz -dc "$f" > "$root/lib/$m.ko" ;;
	*.zst) zstd -qdc "$f" > "$root/lib/$m.ko" ;;
	*) cp "$f" "$root/lib/$m.ko" ;;
	esac
done
(cd "$root" && find . | cpio -o -H newc 2>/dev/null | gzip -1) > "$work/initrd.gz"

n=0
failed=0
ok() {	# ok EXIT-STATUS DESCRIPTION
	n=$((n + 1))
	if [ "$1" -eq 0 ]; then
		echo "ok $n - $2"
	else
		echo "not ok $n - $2"
		failed=$((failed + 1))
	fi
}

# boot NAME [mpqemu-run options] -- [-device ...]: one guest run.
boot() {
	local name=$1 rc
	shift
	local -a mopts=()
	while [ $# -gt 0 ] && [ "$1" != -- ]; do mopts+=("$1"); shift; done
	[ $# -gt 0 ] && shift
	rm -f "$work/stats"
	timeout 300 "$build/mpqemu-run" --qemu "$qemu" --remote "$build/mpdev-remote" \
		--remote-arg --stats-file="$work/stats" "${mopts[@]}" -- \
		-accel tcg -machine q35,memory-backend=mem -cpu max -m 512M \
		-object memory-backend-memfd,id=mem,size=512M \
		-nographic -no-reboot -nic none -kernel "$vmlinuz" -initrd "$work/initrd.gz" \
		-append "console=ttyS0 panic=-1 quiet" "$@" > "$work/$name.console" 2>&1
	rc=$?
	tr -d '\r' < "$work/$name.console" > "$work/$name.log"
	return $rc
}

get() { sed -n "s/^$1=//p" "$work/stats" 2>/dev/null; }

classic_ok() {	# classic_ok NAME RC: the guest ran fully on the socket path
	local name=$1 rc=$2 res before=$failed
	res=$(grep '^SMOKE-RESULT' "$work/$name.log" | cut -d' ' -f2-)
	grep -q '^SMOKE-RESULT: [0-9]* passed, 0 failed' "$work/$name.log"
	ok $? "$name: guest checks all passed (${res:-no result})"
	[ "$rc" -eq 0 ]
	ok $? "$name: mpqemu-run exited 0 after the guest powered off (exit $rc)"
	[ "$(get socket.bar_read)" -gt 10 ] 2>/dev/null && [ "$(get socket.bar_write)" -gt 5 ] 2>/dev/null
	ok $? "$name: BAR accesses went over the socket ($(get socket.bar_read) reads, $(get socket.bar_write) writes)"
	[ "$(get socket.mpdev_backend)" = 0 ] && [ "$(get socket.bad_msgs)" = 0 ]
	ok $? "$name: no MPDEV_BACKEND and no rejected message (mpdev_backend=$(get socket.mpdev_backend) bad_msgs=$(get socket.bad_msgs))"
	if [ "$failed" -ne "$before" ]; then
		grep -v '^SMOKE' "$work/$name.log" | tail -15 | sed 's/^/#   /'
	fi
}

echo "# QEMU: $qemu ($("$qemu" --version | head -1))"
echo "# kernel: $vmlinuz"

boot stock
rc=$?
classic_ok stock $rc
# QEMU's own messages start with its program name.
! grep -q '^qemu-system[^:]*:.*mpdev' "$work/stock.log"
ok $? "stock: QEMU said nothing about mpdev"

# mpdev=on means on: without KVM the device fails to realize, QEMU does
# not start, and no MPDEV_BACKEND is sent.
boot mpdev-on -- -device x-pci-proxy-dev,id=mpdev0,fd=@PROXY_FD@,mpdev=on
rc=$?
[ "$rc" -ne 0 ] && grep -q 'x-pci-proxy-dev.*mpdev=on: it needs KVM' "$work/mpdev-on.log" &&
	! grep -q '^SMOKE-RESULT' "$work/mpdev-on.log" &&
	[ "$(get socket.mpdev_backend)" != 1 ]
ok $? "mpdev-on: realize fails, mpdev needs KVM ($(grep -o 'mpdev=on: it needs KVM.*' "$work/mpdev-on.log" | head -1))"

boot mpdev-fd --mpdev=/dev/null --
rc=$?
classic_ok mpdev-fd $rc
[ "$(grep -c 'warning:.*mpdev: it needs KVM' "$work/mpdev-fd.log")" -eq 1 ] &&
	[ "$(grep -c 'warning:.*mpdev' "$work/mpdev-fd.log")" -eq 1 ]
ok $? "mpdev-fd: exactly one warning, that mpdev needs KVM"

boot conflict -- -device x-pci-proxy-dev,id=mpdev0,fd=@PROXY_FD@,mpdev=off,mpdev-fd=0
rc=$?
[ "$rc" -ne 0 ] && grep -q 'mpdev-fd needs mpdev=on' "$work/conflict.log"
ok $? "conflict: mpdev=off with mpdev-fd is refused ($(grep -o 'mpdev-fd needs mpdev=on' "$work/conflict.log" | head -1))"

echo "1..$n"
echo "$((n - failed)) passed, $failed failed"
[ "$failed" -eq 0 ]
