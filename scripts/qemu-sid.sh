#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# qemu-sid.sh - Debian sid's own QEMU (qemu-system-x86, unmodified) for the
# end-to-end tests against the newest stock QEMU: installed into the sid
# chroot the kernel matrix uses (made here if it is not there yet), never
# onto the host.  The test VM runs it through selftests/e2e/qemu-chroot.
#
# Usage: scripts/qemu-sid.sh [--print-root]
#   (no option)    make sure the chroot has qemu-system-x86; print its
#                  version line
#   --print-root   print the chroot's path only (nothing is installed)
#
# Needs root the first time (debootstrap, apt-get in the chroot) and
# Debian's archive, from the host's apt sources.  Environment: MPDEV_CACHE
# (default /var/cache/mpdev).
set -uo pipefail

cd "$(dirname "$0")/.." || exit 2
repo=$PWD
prog=qemu-sid
CACHE=${MPDEV_CACHE:-/var/cache/mpdev}
say() { printf '%s: %s\n' "$prog" "$*" >&2; }
die() { printf '%s: error: %s\n' "$prog" "$*" >&2; exit 2; }
# shellcheck source=sid-chroot.sh
. "$repo/scripts/sid-chroot.sh"

case ${1:-} in
--print-root) echo "$CHROOT"; exit 0 ;;
'') ;;
*) die "unknown argument '$1' (usage: $prog [--print-root])" ;;
esac

lock_cache
make_chroot || die "debootstrap failed (see $CACHE/sid-debootstrap.log)"
if [ ! -x "$CHROOT/usr/bin/qemu-system-x86_64" ]; then
	need_root "installing qemu-system-x86 in the sid chroot"
	say "installing sid's qemu-system-x86 in $CHROOT"
	# The lists debootstrap left first; a fresh update only if they do
	# not have it (a mirror snapshot's sid Release may have expired).
	in_chroot apt-get install -y -qq --no-install-recommends qemu-system-x86 \
		>"$CACHE/sid-qemu.log" 2>&1 ||
	{ in_chroot apt-get -o Acquire::Check-Valid-Until=false update -qq >>"$CACHE/sid-qemu.log" 2>&1
	  in_chroot apt-get install -y -qq --no-install-recommends qemu-system-x86 \
		>>"$CACHE/sid-qemu.log" 2>&1; } ||
		{ tail -n 20 "$CACHE/sid-qemu.log" >&2; die "cannot install qemu-system-x86 in the sid chroot"; }
fi
in_chroot qemu-system-x86_64 --version | head -n1
