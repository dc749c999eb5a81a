#!/bin/sh
# Classic-path smoke test against stock QEMU 7.2 under TCG: mpqemu-run
# starts mpdev-remote and qemu-system-x86_64 (q35, memfd RAM, stock
# x-pci-proxy-dev), a Debian kernel + busybox initramfs boots and runs
# guest-init.sh, which drives the device; the remote's counters then show
# the socket path carried the accesses.  No KVM (TCG has no irqfd, so INTx
# is not delivered; everything else is).
#
# usage: qemu-tcg-smoke.sh BUILD_DIR
# env:   MPDEV_KERNEL_DEB  a linux-image-*-amd64-unsigned .deb to use
#        MPDEV_CACHE       where to keep the unpacked kernel
#                          (default ${XDG_CACHE_HOME:-$HOME/.cache}/mpdev)
#        QEMU              QEMU binary (default qemu-system-x86_64)
# Prints TAP and a closing "N passed, N failed"; exit 0 only if all pass.
# Exits 0 with "# SKIP" when QEMU, busybox or a kernel cannot be had.
set -u
build=$(cd "${1:?usage: $0 BUILD_DIR}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
qemu=${QEMU:-qemu-system-x86_64}
cache=${MPDEV_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mpdev}
kpkg=linux-image-6.1.0-56-amd64-unsigned

skip() { echo "1..0 # SKIP $*"; echo "0 passed, 0 failed"; exit 0; }

command -v "$qemu" >/dev/null || skip "no $qemu"
"$qemu" -device help 2>/dev/null | grep -q x-pci-proxy-dev || skip "$qemu has no x-pci-proxy-dev"
busybox=$(command -v busybox) || skip "no busybox (apt-get install busybox-static)"
ldd "$busybox" >/dev/null 2>&1 && skip "busybox is not static (apt-get install busybox-static)"
command -v cpio >/dev/null || skip "no cpio"

# The kernel: a .deb given, one cached, or apt-get download into the cache.
mkdir -p "$cache"
kdir=$cache/kernel
if [ ! -d "$kdir/boot" ]; then
	deb=${MPDEV_KERNEL_DEB:-}
	if [ -z "$deb" ]; then
		(cd "$cache" && apt-get download "$kpkg" >/dev/null 2>&1) ||
			skip "cannot download $kpkg"
		deb=$(ls "$cache"/${kpkg}_*.deb | head -1)
	fi
	rm -rf "$kdir.tmp" && dpkg-deb -x "$deb" "$kdir.tmp" && mv "$kdir.tmp" "$kdir" ||
		skip "cannot unpack $deb"
fi
vmlinuz=$(ls "$kdir"/boot/vmlinuz-* | head -1)
moddir=$(ls -d "$kdir"/lib/modules/* | head -1)

work=$(mktemp -d /tmp/mpdev-smoke.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/root/bin" "$work/root/lib" "$work/root/proc" "$work/root/sys" "$work/root/dev"
cp "$busybox" "$work/root/bin/busybox"
for app in $("$busybox" --list); do
	[ "$app" = busybox ] || ln -s busybox "$work/root/bin/$app"
done
cp "$here/guest-init.sh" "$work/root/init"
for m in uio uio_pci_generic; do
	f=$(find "$moddir" -name "$m.ko*" | head -1)
	case "$f" in
	*.xz) xz -dc "$f" > "$work/root/lib/$m.ko" ;;
	*) cp "$f" "$work/root/lib/$m.ko" ;;
	esac
done
(cd "$work/root" && find . | cpio -o -H newc 2>/dev/null | gzip -1) > "$work/initrd.gz"

echo "# booting $(basename "$vmlinuz") under TCG (takes ~30 s)"
start=$(date +%s)
timeout 150 "$build/mpqemu-run" --qemu "$qemu" --remote "$build/mpdev-remote" \
	--remote-arg --stats-file="$work/stats" -- \
	-accel tcg -machine q35,memory-backend=mem -cpu max -m 512M \
	-object memory-backend-memfd,id=mem,size=512M \
	-nographic -no-reboot -kernel "$vmlinuz" -initrd "$work/initrd.gz" \
	-append "console=ttyS0 panic=-1 quiet" > "$work/console" 2>&1
rc=$?
echo "# QEMU finished after $(($(date +%s) - start)) s (mpqemu-run exit $rc)"

n=0; failed=0
ok() {	# ok CONDITION-EXIT-STATUS DESCRIPTION
	n=$((n + 1))
	if [ "$1" -eq 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; failed=$((failed + 1)); fi
}
tr -d '\r' < "$work/console" | grep '^SMOKE pci' | sed 's/^/# /'
tr -d '\r' < "$work/console" | grep -E '^SMOKE (ok|not ok)' | while read -r _ rest; do echo "# guest: $rest"; done
tr -d '\r' < "$work/console" | grep -q '^SMOKE-RESULT: [0-9]* passed, 0 failed'
ok $? "guest checks all passed ($(tr -d '\r' < "$work/console" | grep '^SMOKE-RESULT' | cut -d' ' -f2-))"
[ "$rc" -eq 0 ]; ok $? "mpqemu-run exited 0 after the guest powered off"
get() { sed -n "s/^$1=//p" "$work/stats" 2>/dev/null; }
[ "$(get socket.bar_read)" -gt 10 ] 2>/dev/null
ok $? "remote served BAR reads over the socket ($(get socket.bar_read) reads, $(get socket.bar_write) writes)"
[ "$(get socket.sync_sysmem)" -gt 0 ] 2>/dev/null && [ "$(get gmem.regions)" -gt 0 ] 2>/dev/null
ok $? "guest RAM mapped from SYNC_SYSMEM ($(get gmem.regions) regions)"
[ "$(get dev.dma_ok)" -ge 1 ] 2>/dev/null && [ "$(get dev.dma_errors)" -ge 1 ] 2>/dev/null
ok $? "DMA engine ran inside and refused outside guest RAM"
[ "$(get socket.bad_msgs)" = 0 ]
ok $? "stock QEMU sent no message the remote rejected"
if [ "$failed" -ne 0 ]; then
	echo "# console tail:"; tail -30 "$work/console" | sed 's/^/#   /'
fi
echo "1..$n"
echo "$((n - failed)) passed, $failed failed"
[ "$failed" -eq 0 ]
