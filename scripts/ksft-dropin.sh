#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# ksft-dropin.sh - build the mpdev kselftests the way they would build
# upstream: as tools/testing/selftests/mpdev of a kernel tree, with that
# tree's own selftests Makefile and lib.mk, and run what that built with
# the kernel's own run_kselftest.sh.
#
#   scripts/ksft-dropin.sh [build]         (on the host)
#   scripts/ksft-dropin.sh run [-s SHELL] [TEST...]     (in the test VM)
#   scripts/ksft-dropin.sh --print-tree | --print-install
#
# build: unpacks the parts of Debian's linux-source-6.1 that `make headers`
# and tools/testing/selftests need into build/ksft-dropin/linux-source-6.1
# (once per tarball), then, as upstream would have it,
#   - copies include/uapi/linux/mpdev.h to the tree's include/uapi/linux/
#     and selftests/mpdev/ to the tree's tools/testing/selftests/mpdev/,
#   - make headers            (the tree's usr/include: $(KHDR_INCLUDES))
#   - make -C tools/testing/selftests TARGETS=mpdev
#   - make -C tools/testing/selftests TARGETS=mpdev install
#     into build/ksft-dropin/install (run_kselftest.sh, kselftest-list.txt
#     and mpdev/).
# It fails if the build does or if the programs or the test list are not
# what selftests/mpdev/Makefile declares.  Nothing is rebuilt when neither
# the tarball nor our sources (selftests/mpdev, the UAPI header, this
# script) changed.
#
# run: runs the installed TESTs (default: all of mpdev) with
# run_kselftest.sh -t mpdev:TEST, under SHELL (default: its own #!/bin/sh;
# "busybox sh" is the test VM's), streams its TAP and ends with
#   N passed, N failed, N skipped
# counted from each program's "# Totals:" line (a program that fails or
# times out without reporting a failed test adds one failure).  Exits 1 if
# anything failed.
#
# Environment: LINUX_SOURCE (default: the newest
# /usr/src/linux-source-6.1.tar.*), MPDEV_KSFT_DROPIN (default:
# build/ksft-dropin), JOBS (default: the number of CPUs).

set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

top=${MPDEV_KSFT_DROPIN:-$repo/build/ksft-dropin}
src=${LINUX_SOURCE:-$(ls /usr/src/linux-source-6.1.tar.* 2>/dev/null |
		      sort -V | tail -n 1)}
tree=$top/linux-source-6.1
inst=$top/install
# What `make headers` and the selftests framework read.
parts="Makefile Kbuild Kconfig scripts include arch/x86 tools usr"

say() { echo "ksft-dropin: $*"; }
die() { echo "ksft-dropin: error: $*" >&2; exit 1; }

# The programs selftests/mpdev/Makefile declares.
progs() {
	make -s --no-print-directory -C selftests/mpdev -f Makefile \
		-f - mpdev-print-progs <<'EOF'
mpdev-print-progs:
	@echo $(notdir $(TEST_GEN_PROGS)) "|" \
		$(notdir $(TEST_GEN_PROGS_EXTENDED))
EOF
}

unpack() {
	local key
	[ -n "$src" ] && [ -r "$src" ] ||
		die "no linux-source-6.1 tarball (make deps installs it)"
	key="$src $(stat -c '%s %Y' "$src") $parts"
	if [ -f "$tree/.mpdev-tree" ] &&
	   [ "$(cat "$tree/.mpdev-tree")" = "$key" ]; then
		return
	fi
	say "unpacking $parts from $src"
	rm -rf "$tree"
	mkdir -p "$tree"
	# shellcheck disable=SC2086
	tar -xf "$src" -C "$tree" --strip-components=1 \
		$(printf 'linux-source-6.1/%s ' $parts)
	echo "$key" >"$tree/.mpdev-tree"
}

build() {
	local hash ksft=$tree/tools/testing/selftests jobs=${JOBS:-$(nproc)}
	local want gen ext p list

	command -v rsync >/dev/null ||
		die "rsync is missing (the kselftest install target uses it)"
	unpack
	hash=$( (cat "$tree/.mpdev-tree"
		 cd "$repo" && find selftests/mpdev include/uapi/linux/mpdev.h \
			scripts/ksft-dropin.sh -type f -print0 | sort -z |
			xargs -0 sha256sum) | sha256sum | cut -d' ' -f1)
	if [ -f "$inst/.mpdev-src" ] &&
	   [ "$(cat "$inst/.mpdev-src")" = "$hash" ] &&
	   [ -x "$inst/run_kselftest.sh" ]; then
		say "up to date: $inst"
		return
	fi

	# Drop our files in, as a patch to the tree would.
	rm -rf "$ksft/mpdev" "$inst"
	cp -r selftests/mpdev "$ksft/mpdev"
	cp include/uapi/linux/mpdev.h "$tree/include/uapi/linux/mpdev.h"

	say "make headers"
	make -s -C "$tree" -j"$jobs" headers
	# headers_install only renames the include guard.
	sed 's/_UAPI_LINUX_MPDEV_H/_LINUX_MPDEV_H/' include/uapi/linux/mpdev.h |
		cmp -s - "$tree/usr/include/linux/mpdev.h" ||
		die "make headers did not export our linux/mpdev.h"

	say "make -C tools/testing/selftests TARGETS=mpdev"
	make -C "$ksft" -j"$jobs" TARGETS=mpdev
	say "make -C tools/testing/selftests TARGETS=mpdev install"
	make -C "$ksft" -j"$jobs" TARGETS=mpdev KSFT_INSTALL_PATH="$inst" \
		install

	# What was built and installed is what the Makefile declares.
	want=$(progs)
	gen=${want%|*}
	ext=${want#*|}
	for p in $gen $ext; do
		[ -x "$ksft/mpdev/$p" ] || die "not built: $p"
		[ -x "$inst/mpdev/$p" ] || die "not installed: $p"
	done
	list=$(for p in $gen; do echo "mpdev:$p"; done)
	[ "$(cat "$inst/kselftest-list.txt")" = "$list" ] ||
		die "kselftest-list.txt is not the TEST_GEN_PROGS:" \
		    "$(cat "$inst/kselftest-list.txt")"
	[ -x "$inst/run_kselftest.sh" ] || die "no run_kselftest.sh"
	echo "$hash" >"$inst/.mpdev-src"
	say "built and installed into $inst:" $gen "(and" $ext")"
}

run() {
	local sh="" t args=() rc=0

	while [ $# -gt 0 ]; do
		case $1 in
		-s) [ $# -ge 2 ] || die "-s needs a shell"; sh=$2; shift 2 ;;
		*) break ;;
		esac
	done
	[ -x "$inst/run_kselftest.sh" ] ||
		die "nothing in $inst: run scripts/ksft-dropin.sh first"
	for t in "$@"; do
		args+=(-t "mpdev:$t")
	done
	[ $# -gt 0 ] || args=(-c mpdev)
	out=$(mktemp)
	trap 'rm -f "$out"' EXIT	# global: the trap runs after run()
	# shellcheck disable=SC2086
	(cd "$inst" && ${sh:-} ./run_kselftest.sh "${args[@]}") 2>&1 |
		tee "$out" || rc=$?
	awk -v rc="$rc" '
	# A program: its "# selftests: mpdev: NAME" header, its tests
	# (prefixed "# "), its "# # Totals:" line, then
	# "ok|not ok N selftests: mpdev: NAME".
	/^# # Totals: / {
		for (i = 3; i <= NF; i++) {
			split($i, kv, ":")
			tot[kv[1]] = kv[2]
		}
		seen = 1
		next
	}
	/^(not )?ok [0-9]+ selftests: / {
		progs++
		if (seen) {
			p += tot["pass"] + tot["xfail"]
			f += tot["fail"] + tot["error"]
			s += tot["skip"]
		}
		if ($1 == "not" && !(seen && tot["fail"] + tot["error"] > 0))
			f++	# crashed, timed out or failed outside a test
		else if (!seen && / # SKIP/)
			s++
		else if (!seen && $1 == "ok")
			p++
		seen = 0
		delete tot
	}
	END {
		if (!progs || rc != 0 && !f)
			f++	# nothing ran, or run_kselftest.sh itself failed
		printf "# drop-in: %d program(s)\n", progs
		printf "%d passed, %d failed, %d skipped\n", p, f, s
		exit f ? 1 : 0
	}' "$out"
}

case ${1:-build} in
build) build ;;
run) shift; run "$@" ;;
--print-tree) echo "$tree" ;;
--print-install) echo "$inst" ;;
-h|--help) sed -n '3,/^$/s/^# \{0,1\}//p' "$0" ;;
*) die "usage: $0 [build] | run [-s SHELL] [TEST...] |" \
       "--print-tree | --print-install" ;;
esac
