# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# sid-chroot.sh - the debootstrap'ed Debian sid chroot that the kernel
# matrix (kernels.sh: sid's kernel headers and gcc) and the e2e tests of
# sid's QEMU (qemu-sid.sh) share, $MPDEV_CACHE/sid-chroot.  Sourced; the
# caller defines say and die, and CACHE.  Nothing from sid touches the host.

CHROOT=${CHROOT:-$CACHE/sid-chroot}

is_root() { [ "$(id -u)" -eq 0 ]; }
need_root() { is_root || die "$1 needs root (apt-get, debootstrap, chroot)"; }

# One fetcher at a time per cache: several engineers share a machine.
lock_cache() {
	mkdir -p "$CACHE" || die "cannot create $CACHE (set MPDEV_CACHE)"
	exec 9>"$CACHE/.kernels.lock"
	flock 9
}

# The Debian mirror the host's apt uses (deb822 or one-line sources), so
# nothing here names an archive host.
debian_mirror() {
	local m
	m=$(awk '/^URIs:/ { u = $2 } /^Suites:/ && u != "" {
			for (i = 2; i <= NF; i++) if ($i !~ /-/) { print u; exit } }' \
		/etc/apt/sources.list.d/*.sources 2>/dev/null)
	[ -n "$m" ] || m=$(awk '$1 == "deb" && $3 !~ /-/ { print $2; exit }' \
		/etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null)
	[ -n "$m" ] || die "cannot find the Debian mirror in /etc/apt/sources.list.d/"
	printf '%s' "$m"
}

# Host tools this script needs beyond make deps: debootstrap for the sid
# chroot, pahole for the BTF of modules built against 6.12's headers
# (linux-kbuild-6.12 depends on it).
host_tools() {
	local missing=() p
	for p in "$@"; do
		dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null | grep -q '^ii' ||
			missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	need_root "installing ${missing[*]}"
	say "installing ${missing[*]}"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
		--no-install-recommends "${missing[@]}" >/dev/null ||
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
			apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; } ||
		die "cannot install ${missing[*]}"
}

# Runs "$@" in the sid chroot with its own /proc (objtool reads it), in a
# private mount namespace so that no mount outlives the command.
in_chroot() {
	unshare --mount --propagation private -- sh -c \
		'mount -t proc proc "$0/proc" && exec chroot "$0" "$@"' "$CHROOT" \
		/usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
		LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive "$@"
}

# debootstrap a minimal sid into $CHROOT (once; a stamp marks it done).
make_chroot() {
	local mirror tmp t0=$SECONDS
	[ -f "$CHROOT/.mpdev-chroot" ] && return 0
	need_root "making the sid chroot"
	host_tools debootstrap
	mirror=$(debian_mirror)
	tmp=$CACHE/sid-chroot.tmp
	rm -rf "$tmp"
	say "debootstrap sid into $CHROOT (a few minutes)"
	nice debootstrap --variant=minbase sid "$tmp" "$mirror" \
		>"$CACHE/sid-debootstrap.log" 2>&1 ||
		{ tail -n 20 "$CACHE/sid-debootstrap.log" >&2; return 1; }
	echo "debootstrap sid $(date -u +%Y-%m-%dT%H:%MZ)" >"$tmp/.mpdev-chroot"
	rm -rf "$CHROOT"
	mv "$tmp" "$CHROOT"
	say "sid chroot made in $((SECONDS - t0)) s"
}
