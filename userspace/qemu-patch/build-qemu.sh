#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# build-qemu.sh - build Debian 12's QEMU with the mpdev patch series.
#
# Fetches Debian's QEMU source with apt-get (deb-src entries made from the
# system's own apt sources), applies 0*.patch from this directory with
# `git apply` (which refuses fuzz, so the series must apply cleanly),
# configures only what mpdev needs -- x86_64-softmmu with KVM, TCG,
# multi-process and user-mode networking (slirp, for -netdev user in a
# remote), nothing else -- and builds qemu-system-x86_64 into the
# cache, outside the git tree.
#
# Tested against: Debian 12 (bookworm) qemu 1:7.2+dfsg-7+deb12u18 (QEMU
# 7.2.22); a build takes about 10 minutes on two cores (configure 1 min).
# Another Debian source version is used if that is what the archive
# serves, with a warning; the series must still apply.
#
# The build is keyed by a hash of its inputs: the Debian source version,
# the configure flags, this script's build recipe revision and the
# sha256 of every patch.  When a build for that hash is complete (a stamp
# file), nothing is fetched, installed or compiled: the script only prints
# the path.  The Debian source is fetched once and kept; --refresh-source
# asks apt again for the current version.
#
# Cache layout ($MPDEV_CACHE, default /var/cache/mpdev):
#   qemu/apt/              private apt lists for the deb-src entries
#   qemu/debian-src/VER/   the downloaded .dsc, .orig.tar.xz, .debian.tar.xz
#   qemu/debian-src/current   the version in use
#   qemu/build-HASH/src/   unpacked Debian source with the series applied
#   qemu/build-HASH/build/ the meson build
#   qemu/build-HASH/bin/qemu-system-x86_64   the result, copied out of the
#                          build tree so that it finds its firmware in the
#                          configured --firmwarepath (Debian's packages);
#                          run from build/ it would look in build/qemu-bundle
#   qemu/build-HASH/stamp  written last: the inputs of a complete build
#   qemu/current           symlink to the newest complete build-HASH
# Older build-HASH directories are removed once a new build completes.
#
# Usage: userspace/qemu-patch/build-qemu.sh [options]
#   (none)            build if needed; the last line printed on stdout is
#                     the path of qemu-system-x86_64 (progress: stderr)
#   --print-path      print the path of the binary for the current series
#                     and exit 0 if it is built, 1 if not; never builds
#   --checkpatch      run QEMU's scripts/checkpatch.pl on the series (the
#                     source is fetched and patched if needed, not built)
#   --force           rebuild even if a complete build exists
#   --refresh-source  ask apt for the current Debian source version
#   --no-deps         do not install Debian packages (they must be there)
#   -j N, --jobs N    parallel compile jobs (default: nproc)
#   -h, --help        this text
# Environment: MPDEV_CACHE (default /var/cache/mpdev).
#
# Needs root for apt-get (unless --no-deps and a source is cached).
# Packages installed: see deps_build below.  The built QEMU finds its
# firmware in the Debian packages seabios and qemu-system-data (also
# installed), as Debian's own qemu-system-x86 does.

set -euo pipefail

prog=build-qemu
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)

CACHE=${MPDEV_CACHE:-/var/cache/mpdev}
QDIR=$CACHE/qemu

TESTED_VERSION='1:7.2+dfsg-7+deb12u18'
# Bump when the way a build is made changes without the flags changing.
RECIPE_REV=1
CONFIGURE_FLAGS=(
	--target-list=x86_64-softmmu
	--without-default-features
	--enable-kvm
	--enable-tcg
	--enable-multiprocess
	--enable-fdt=system
	--enable-slirp
	--disable-docs
	--disable-werror
	--firmwarepath=/usr/share/qemu:/usr/share/seabios:/usr/lib/ipxe/qemu
)
# To fetch and unpack the source, to configure and build, and the firmware
# the binary loads at run time.
deps_source="dpkg-dev xz-utils git ca-certificates"
deps_build="gcc libc6-dev make python3 meson ninja-build pkg-config
	libglib2.0-dev libpixman-1-dev libfdt-dev zlib1g-dev libslirp-dev"
deps_runtime="seabios qemu-system-data"

mode=build
force=0
refresh=0
nodeps=0
jobs=$(nproc 2>/dev/null || echo 2)

say() { printf '%s: %s\n' "$prog" "$*" >&2; }
die() { printf '%s: error: %s\n' "$prog" "$*" >&2; exit 1; }

while [ $# -gt 0 ]; do
	case $1 in
	--print-path) mode=print ;;
	--checkpatch) mode=checkpatch ;;
	--force) force=1 ;;
	--refresh-source) refresh=1 ;;
	--no-deps) nodeps=1 ;;
	-j|--jobs) [ $# -ge 2 ] || die "$1 needs a value"; jobs=$2; shift ;;
	-j*) jobs=${1#-j} ;;
	--jobs=*) jobs=${1#--jobs=} ;;
	-h|--help) sed -n '3,/^$/s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; exit 0 ;;
	*) die "unknown argument '$1' (see --help)" ;;
	esac
	shift
done
case $jobs in ''|*[!0-9]*) die "bad job count '$jobs'" ;; esac

shopt -s nullglob
series=("$here"/0*.patch)
shopt -u nullglob
[ ${#series[@]} -gt 0 ] || die "no 0*.patch in $here"

mkdir -p "$QDIR"
# One build at a time per cache (a second caller waits, then reuses it).
exec 9>"$QDIR/.lock"
if ! flock -n 9; then
	say "waiting for another build-qemu.sh on $QDIR"
	flock 9
fi

# ---- inputs and their hash -------------------------------------------

current_version() {
	[ -f "$QDIR/debian-src/current" ] && cat "$QDIR/debian-src/current"
}

inputs() {	# inputs VERSION: the text the build hash is taken of
	local p
	printf 'recipe %s\n' "$RECIPE_REV"
	printf 'debian-source qemu %s\n' "$1"
	printf 'configure %s\n' "${CONFIGURE_FLAGS[*]}"
	for p in "${series[@]}"; do
		printf 'patch %s %s\n' "$(basename "$p")" "$(sha256sum < "$p" | cut -d' ' -f1)"
	done
}

build_hash() { inputs "$1" | sha256sum | cut -c1-16; }

# ---- packages ---------------------------------------------------------

missing_pkgs() {
	local p
	for p in "$@"; do
		dpkg-query -W -f='${db:Status-Status}\n' "$p" 2>/dev/null |
			grep -qx installed || echo "$p"
	done
}

install_deps() {
	local missing
	[ "$nodeps" = 1 ] && return 0
	# shellcheck disable=SC2086 # word lists on purpose
	missing=$(missing_pkgs $deps_source $deps_build $deps_runtime | xargs)
	[ -n "$missing" ] || return 0
	[ "$(id -u)" = 0 ] || die "missing packages ($missing); run as root or install them"
	say "installing: $missing"
	apt-get update -q >&2 || die "apt-get update failed"
	# shellcheck disable=SC2086
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
		$missing >&2 || die "apt-get install failed"
}

# ---- the Debian source ------------------------------------------------

# deb-src entries for every "deb" entry of the system's apt sources, in
# deb822 form, from /etc/apt/sources.list.d/*.sources and the one-line
# sources.list files.
make_src_sources() {
	local f
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] || continue
		awk '
		function flush() {
			if (is_deb && uris != "" && suites != "") {
				print "Types: deb-src"
				print "URIs: " uris
				print "Suites: " suites
				if (comps != "") print "Components: " comps
				if (signed != "") print "Signed-By: " signed
				print ""
			}
			is_deb = 0; uris = suites = comps = signed = ""; enabled = 1
		}
		BEGIN { enabled = 1 }
		/^[ \t]*#/ { next }
		/^[ \t]*$/ { flush(); next }
		{
			key = tolower($1); sub(/:$/, "", key)
			val = $0; sub(/^[^:]*:[ \t]*/, "", val)
			if (key == "types") { n = split(val, t, /[ \t]+/); for (i = 1; i <= n; i++) if (t[i] == "deb") is_deb = 1 }
			else if (key == "uris") uris = val
			else if (key == "suites") suites = val
			else if (key == "components") comps = val
			else if (key == "signed-by" && val !~ /^$/) signed = val
			else if (key == "enabled" && tolower(val) == "no") is_deb = 0
		}
		END { flush() }' "$f"
	done
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[ -f "$f" ] || continue
		awk '
		$1 == "deb" {
			opts = ""; i = 2
			if ($2 ~ /^\[/) { while (i <= NF && $i !~ /\]$/) { opts = opts " " $i; i++ } opts = opts " " $i; i++ }
			uri = $i; suite = $(i + 1); comps = ""
			for (j = i + 2; j <= NF; j++) comps = comps (comps == "" ? "" : " ") $j
			signed = ""
			if (match(opts, /signed-by=[^] ]*/)) signed = substr(opts, RSTART + 10, RLENGTH - 10)
			print "Types: deb-src"; print "URIs: " uri; print "Suites: " suite
			if (comps != "") print "Components: " comps
			if (signed != "") print "Signed-By: " signed
			print ""
		}' "$f"
	done
}

fetch_source() {
	local apt_dir=$QDIR/apt dl ver dsc
	local -a aptopts
	[ "$(id -u)" = 0 ] || die "fetching the Debian source needs root (apt-get)"
	command -v apt-get >/dev/null || die "no apt-get: not a Debian system?"
	rm -rf "$apt_dir"
	mkdir -p "$apt_dir/sources.list.d" "$apt_dir/lists/partial"
	make_src_sources > "$apt_dir/sources.list.d/mpdev-qemu-src.sources"
	[ -s "$apt_dir/sources.list.d/mpdev-qemu-src.sources" ] ||
		die "no 'deb' entries in /etc/apt/sources.list{,.d/*} to make deb-src entries from"
	aptopts=(-o Dir::Etc::SourceList=/dev/null
		 -o Dir::Etc::SourceParts="$apt_dir/sources.list.d"
		 -o Dir::State::Lists="$apt_dir/lists"
		 -o APT::Sandbox::User=root)
	say "apt-get update (deb-src, private lists in $apt_dir)"
	apt-get "${aptopts[@]}" update -q >&2 || die "apt-get update for deb-src failed"
	dl=$QDIR/debian-src/.download
	rm -rf "$dl" && mkdir -p "$dl"
	say "apt-get source --download-only qemu"
	(cd "$dl" && apt-get "${aptopts[@]}" source --download-only -q qemu >&2) ||
		die "apt-get source qemu failed"
	dsc=$(find "$dl" -maxdepth 1 -name 'qemu_*.dsc' | head -1)
	[ -n "$dsc" ] || die "apt-get source left no qemu_*.dsc"
	ver=$(sed -n 's/^Version: //p' "$dsc" | head -1)
	[ -n "$ver" ] || die "no Version in $dsc"
	case $ver in
	1:7.2+dfsg-*) ;;
	*) die "the archive serves qemu $ver; this series is for Debian 12's 7.2 ($TESTED_VERSION)" ;;
	esac
	rm -rf "$QDIR/debian-src/$ver"
	mv "$dl" "$QDIR/debian-src/$ver"
	echo "$ver" > "$QDIR/debian-src/current"
	say "Debian source: qemu $ver"
}

# Unpack the Debian source (dpkg-source applies Debian's quilt patches)
# into $1 and apply the series.
prepare_tree() {
	local dst=$1 ver dsc p
	ver=$(current_version)
	dsc=$(find "$QDIR/debian-src/$ver" -maxdepth 1 -name 'qemu_*.dsc' | head -1)
	[ -n "$dsc" ] || die "no qemu_*.dsc in $QDIR/debian-src/$ver (try --refresh-source)"
	rm -rf "$dst" "$dst.tmp"
	say "unpacking $(basename "$dsc")"
	dpkg-source --no-check -x "$dsc" "$dst.tmp" > "$dst.unpack.log" 2>&1 ||
		{ tail -20 "$dst.unpack.log" >&2; die "dpkg-source -x failed"; }
	# An empty repository so that git apply works on this tree alone.
	git -C "$dst.tmp" init -q
	for p in "${series[@]}"; do
		say "applying $(basename "$p")"
		git -C "$dst.tmp" apply --whitespace=nowarn "$p" ||
			die "$(basename "$p") does not apply to qemu $ver"
	done
	mv "$dst.tmp" "$dst"
	rm -f "$dst.unpack.log"
	check_uapi_copy "$dst"
}

# The series carries a verbatim copy of include/uapi/linux/mpdev.h.  The
# ABI has no version number to compare (MPDEV_GET_FEATURES is asked at run
# time), so any difference may be an incompatible one: refuse it.
check_uapi_copy() {
	local ours=$repo/include/uapi/linux/mpdev.h theirs=$1/linux-headers/linux/mpdev.h
	[ -f "$ours" ] || return 0
	[ -f "$theirs" ] || die "the series has no linux-headers/linux/mpdev.h"
	cmp -s "$ours" "$theirs" ||
		die "the series' linux-headers/linux/mpdev.h differs from $ours: regenerate 0001 (see Documentation/mpdev/qemu-patch.rst)"
}

# ---- main -------------------------------------------------------------

ver=$(current_version || true)

if [ "$mode" = print ]; then
	[ -n "$ver" ] || { say "no Debian source fetched yet: not built"; exit 1; }
	dir=$QDIR/build-$(build_hash "$ver")
	if [ ! -f "$dir/stamp" ] || [ ! -x "$dir/bin/qemu-system-x86_64" ]; then
		say "not built for this series: $dir"
		exit 1
	fi
	echo "$dir/bin/qemu-system-x86_64"
	exit 0
fi

if [ "$mode" = build ] && [ -n "$ver" ] && [ "$refresh" = 0 ] && [ "$force" = 0 ]; then
	dir=$QDIR/build-$(build_hash "$ver")
	if [ -f "$dir/stamp" ] && [ -x "$dir/bin/qemu-system-x86_64" ]; then
		[ -d "$dir/src" ] && check_uapi_copy "$dir/src"
		say "up to date: qemu $ver with $(basename "$dir") (series unchanged)"
		echo "$dir/bin/qemu-system-x86_64"
		exit 0
	fi
fi

install_deps
if [ -z "$ver" ] || [ "$refresh" = 1 ]; then
	fetch_source
	ver=$(current_version)
fi
[ "$ver" = "$TESTED_VERSION" ] ||
	say "warning: qemu $ver is not the tested $TESTED_VERSION"

hash=$(build_hash "$ver")
dir=$QDIR/build-$hash

if [ "$mode" = checkpatch ]; then
	[ -d "$dir/src" ] || { mkdir -p "$dir"; prepare_tree "$dir/src"; }
	rc=0
	for p in "${series[@]}"; do
		say "checkpatch $(basename "$p")"
		(cd "$dir/src" && perl scripts/checkpatch.pl --no-signoff -q "$p" >&2) || rc=1
	done
	if [ "$rc" = 0 ]; then say "checkpatch: series clean"; else say "checkpatch: problems found"; fi
	exit "$rc"
fi

if [ -f "$dir/stamp" ] && [ -x "$dir/bin/qemu-system-x86_64" ] && [ "$force" = 0 ]; then
	say "up to date: qemu $ver with build-$hash"
else
	start=$(date +%s)
	rm -f "$dir/stamp"
	mkdir -p "$dir"
	prepare_tree "$dir/src"
	rm -rf "$dir/build" && mkdir -p "$dir/build"
	say "configure: ${CONFIGURE_FLAGS[*]}"
	(cd "$dir/build" && ../src/configure "${CONFIGURE_FLAGS[@]}" \
		--with-pkgversion="Debian $ver + mpdev series $hash") \
		> "$dir/configure.log" 2>&1 ||
		{ tail -30 "$dir/configure.log" >&2; die "configure failed (log: $dir/configure.log)"; }
	say "ninja -j$jobs qemu-system-x86_64 (log: $dir/build.log)"
	ninja -C "$dir/build" -j"$jobs" qemu-system-x86_64 > "$dir/build.log" 2>&1 ||
		{ grep -B2 -A12 -m3 'error' "$dir/build.log" >&2 || tail -30 "$dir/build.log" >&2
		  die "build failed (log: $dir/build.log)"; }
	mkdir -p "$dir/bin"
	cp "$dir/build/qemu-system-x86_64" "$dir/bin/qemu-system-x86_64"
	"$dir/bin/qemu-system-x86_64" -device x-pci-proxy-dev,help 2>/dev/null |
		grep -q 'mpdev-fd=' || die "the built QEMU has no x-pci-proxy-dev mpdev-fd property"
	inputs "$ver" > "$dir/stamp"
	say "built in $(( $(date +%s) - start )) s"
fi

ln -sfn "build-$hash" "$QDIR/current"
# Drop the builds of older series.
for old in "$QDIR"/build-*; do
	[ "$old" = "$dir" ] || [ ! -d "$old" ] || { say "removing $(basename "$old")"; rm -rf "$old"; }
done
echo "$dir/bin/qemu-system-x86_64"
