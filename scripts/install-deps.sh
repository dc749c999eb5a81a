#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# install-deps.sh - install everything mpdev's build and tests need.
#
# Two jobs, both idempotent:
#
#  1. Install the Debian packages the build and the tests use (module build
#     against linux-headers-amd64, the busybox test VM under QEMU/TCG, the
#     kselftest harness from linux-source-6.1, sparse, clang/libFuzzer, ...).
#
#  2. Fetch the kernel the test VM boots: linux-image-<KVER>-unsigned for the
#     KVER of the installed headers, so the module we build loads in the VM.
#     The package is only downloaded and unpacked with `dpkg-deb -x`, never
#     installed: installing it would run hooks (initramfs, bootloader) on a
#     host that cannot boot it anyway.  The result lives in the cache:
#
#       $MPDEV_CACHE/kernel/<KVER>/boot/vmlinuz-<KVER>
#       $MPDEV_CACHE/kernel/<KVER>/lib/modules/<KVER>/{kernel/...,modules.dep}
#       $MPDEV_CACHE/kernel/<KVER>/.complete      (package version; stamp)
#
#     selftests/vm/vm-run reads it from there.
#
# When everything is already present nothing touches apt (no update, no
# install), so repeated runs take well under a second.
#
# Usage: scripts/install-deps.sh [--kver KVER] [--kernel-only] [--check]
#   --kver KVER     fetch this kernel instead of the installed headers' one
#   --kernel-only   skip the package step (vm-run uses this)
#   --check         change nothing; report what is missing, exit 1 if any
# Environment: MPDEV_CACHE (default /var/cache/mpdev), MPDEV_KVER.

set -euo pipefail

prog=install-deps
CACHE=${MPDEV_CACHE:-/var/cache/mpdev}
KVER=${MPDEV_KVER:-}
kernel_only=0
check_only=0

say() { printf '%s: %s\n' "$prog" "$*"; }
die() { printf '%s: error: %s\n' "$prog" "$*" >&2; exit 1; }

while [ $# -gt 0 ]; do
	case $1 in
	--kver) [ $# -ge 2 ] || die "--kver needs a value"; KVER=$2; shift ;;
	--kver=*) KVER=${1#--kver=} ;;
	--kernel-only) kernel_only=1 ;;
	--check) check_only=1 ;;
	-h|--help) sed -n '4,/^$/s/^# \{0,1\}//p' "$0"; exit 0 ;;
	*) die "unknown argument '$1' (see --help)" ;;
	esac
	shift
done

# Packages, one group per reason, so it is clear why each one is here.
pkgs_build="build-essential gcc make linux-headers-amd64 kmod sparse"
# kselftest_harness.h and checkpatch.pl are taken from this tarball; the
# kselftest drop-in (scripts/ksft-dropin.sh) installs with its rsync.
pkgs_source="linux-source-6.1 xz-utils rsync"
# The test VM: QEMU (TCG), busybox initramfs, module decompression.
pkgs_vm="qemu-system-x86 busybox-static cpio zstd xz-utils gzip coreutils"
# Userspace: netlink helper library, JSON for QMP (mpqemu-run
# --zero-patch), fuzzing with libFuzzer (clang's
# compiler-rt is a separate package in bookworm, not pulled in by clang).
pkgs_user="libmnl-dev libjansson-dev clang libclang-rt-dev"
# Benchmarks and inspection of emulated PCI devices; Linux AIO for the
# nested guest's I/O tool (mpdev-io, linked static: libaio-dev has libaio.a).
pkgs_tools="gnuplot-nox pciutils libaio-dev"
# Building Debian's QEMU from source with the mpdev patch
# (ARCHITECTURE.md section 5: x86_64-softmmu with multiprocess and KVM).
pkgs_qemu_build="dpkg-dev meson ninja-build pkg-config python3 libglib2.0-dev libpixman-1-dev libfdt-dev"

all_pkgs=$(printf '%s\n' $pkgs_build $pkgs_source $pkgs_vm $pkgs_user \
	$pkgs_tools $pkgs_qemu_build | awk '!seen[$0]++')

is_root() { [ "$(id -u)" -eq 0 ]; }
have_apt() { command -v apt-get >/dev/null 2>&1 && command -v dpkg-query >/dev/null 2>&1; }

# Print the packages of "$@" that are not fully installed.
missing_pkgs() {
	local p st
	for p in "$@"; do
		st=$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null || true)
		case $st in ii*) ;; *) echo "$p" ;; esac
	done
}

apt_updated=0
apt_update() {
	[ "$apt_updated" -eq 1 ] && return 0
	say "running apt-get update"
	apt-get update -qq
	apt_updated=1
}

apt_install() {
	say "installing: $*"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
		--no-install-recommends "$@"
}

# KVER of the headers that linux-headers-amd64 currently points at.  The
# metapackage depends on linux-headers-<KVER>; fall back to the newest
# /usr/src/linux-headers-6.1.*-amd64 if the metapackage is absent.
headers_kver() {
	local k
	k=$(dpkg-query -W -f='${Depends}' linux-headers-amd64 2>/dev/null |
		grep -o 'linux-headers-[0-9][^ ,]*-amd64' | head -n1 |
		sed 's/^linux-headers-//') || true
	if [ -z "$k" ]; then
		k=$(ls -d /usr/src/linux-headers-6.1.*-amd64 2>/dev/null |
			sed 's|.*/linux-headers-||' | sort -V | tail -n1) || true
	fi
	printf '%s' "$k"
}

# ---------------------------------------------------------------- packages
if [ "$kernel_only" -eq 0 ]; then
	have_apt || die "apt-get/dpkg-query not found: this script needs a Debian (bookworm) system; install by hand: $all_pkgs"
	# shellcheck disable=SC2086
	missing=$(missing_pkgs $all_pkgs | tr '\n' ' ')
	missing=${missing% }
	if [ -z "$missing" ]; then
		say "packages: all $(echo "$all_pkgs" | wc -l) present, apt not run"
	elif [ "$check_only" -eq 1 ]; then
		say "missing packages: $missing"
		check_failed=1
	elif ! is_root; then
		die "missing packages: $missing -- run this script as root (it uses apt-get install)"
	else
		apt_update
		# shellcheck disable=SC2086
		apt_install $missing
		# shellcheck disable=SC2086
		still=$(missing_pkgs $missing | tr '\n' ' ')
		[ -z "$still" ] || die "still missing after apt-get install: $still"
		say "packages: installed $missing"
	fi
fi

# ------------------------------------------------------------------ kernel
explicit_kver=1
if [ -z "$KVER" ]; then
	explicit_kver=0
	KVER=$(headers_kver)
	[ -n "$KVER" ] || die "cannot tell the kernel version: linux-headers-amd64 is not installed (run without --kernel-only as root)"
fi

kdir=$CACHE/kernel/$KVER
if [ -f "$kdir/.complete" ] && [ -f "$kdir/boot/vmlinuz-$KVER" ]; then
	say "kernel $KVER: cached in $kdir ($(cat "$kdir/.complete"))"
	[ "${check_failed:-0}" -eq 0 ] || exit 1
	exit 0
fi
if [ "$check_only" -eq 1 ]; then
	say "kernel $KVER: not in $kdir"
	exit 1
fi
have_apt || die "apt-get not found: cannot download linux-image-$KVER-unsigned"

mkdir -p "$CACHE/kernel" "$CACHE/debs" ||
	die "cannot create $CACHE (not root? set MPDEV_CACHE to a writable directory)"

# Download linux-image-<KVER>-unsigned into $CACHE/debs.  Prefer exactly the
# headers' package version so the module's symbol versions match; any
# version with the same ABI name (KVER) is also fine, Debian bumps the ABI
# name on any ABI change.  apt-get download works without root; as root it
# warns that the _apt sandbox user cannot write the directory, which is
# harmless (the output goes to download.log, shown only on failure).
fetch_image() {
	local kver=$1 ver pkg=linux-image-$1-unsigned
	ver=$(dpkg-query -W -f='${Version}' "linux-headers-$kver" 2>/dev/null || true)
	rm -f "$CACHE/debs/${pkg}_"*.deb
	( cd "$CACHE/debs" &&
	  { { [ -n "$ver" ] && apt-get download -q "$pkg=$ver"; } ||
	    apt-get download -q "$pkg"; } ) >"$CACHE/debs/download.log" 2>&1
}

if ! fetch_image "$KVER"; then
	# Package lists may be stale (or never fetched on a new machine).
	if is_root; then
		apt_update
	fi
	if ! fetch_image "$KVER"; then
		# The archive keeps only the newest kernel of a suite: once Debian
		# moves on, the image for an old ABI is gone.  If the caller did
		# not ask for a specific KVER, follow linux-headers-amd64 to the
		# current ABI; the module then has to be rebuilt against it.
		if [ "$explicit_kver" -eq 0 ] && is_root && [ "$kernel_only" -eq 0 ]; then
			say "linux-image-$KVER-unsigned is no longer in the archive; upgrading linux-headers-amd64"
			apt_install linux-headers-amd64
			new=$(headers_kver)
			if [ -n "$new" ] && [ "$new" != "$KVER" ]; then
				say "headers moved from $KVER to $new: rebuild the module (make -C kmod KDIR=/usr/src/linux-headers-$new)"
				KVER=$new
				kdir=$CACHE/kernel/$KVER
			fi
		fi
		fetch_image "$KVER" || {
			sed 's/^/  apt: /' "$CACHE/debs/download.log" >&2
			die "cannot download linux-image-$KVER-unsigned (apt-get download failed; is it still in the archive? try 'apt-get install linux-headers-amd64' as root and rebuild the module)"
		}
	fi
fi
deb=$(ls "$CACHE/debs/linux-image-$KVER-unsigned_"*.deb | head -n1)
debver=$(dpkg-deb -f "$deb" Version)
say "downloaded $(basename "$deb")"

# Unpack into a temporary directory and rename it into place, so an
# interrupted run never leaves a half-unpacked kernel that looks complete.
tmp=$(mktemp -d "$CACHE/kernel/.unpack.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
dpkg-deb -x "$deb" "$tmp"
[ -f "$tmp/boot/vmlinuz-$KVER" ] || die "$deb has no boot/vmlinuz-$KVER"
# The package does not ship modules.dep (its postinst runs depmod).  Make it
# here so that modprobe works inside the test VM.
if command -v depmod >/dev/null 2>&1 || [ -x /sbin/depmod ]; then
	PATH=$PATH:/sbin:/usr/sbin depmod -b "$tmp" "$KVER"
fi
echo "linux-image-$KVER-unsigned $debver" >"$tmp/.complete"
chmod 0755 "$tmp"
rm -rf "$kdir"
mv "$tmp" "$kdir"
trap - EXIT
rm -f "$deb" "$CACHE/debs/download.log"
say "kernel $KVER: unpacked into $kdir ($(du -sh "$kdir" | cut -f1))"
[ "${check_failed:-0}" -eq 0 ] || exit 1
