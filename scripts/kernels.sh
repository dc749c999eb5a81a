#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# kernels.sh - the kernel matrix: build mpdev.ko against each supported
# kernel with the compiler that kernel asks for, check that it builds
# without a warning and uses only symbols exported to every module, then
# boot that very kernel in the test VM and run the kselftests against the
# module built for it.  One summary row per kernel, then the totals line
# "N passed, N failed, N skipped".
#
# Usage: scripts/kernels.sh [options] [LINE...]
#   LINE             6.1, 6.12 or sid (default: all three; "7.2" = sid)
#   --build-only     fetch headers and build, no VM (what CI can afford)
#   --tests "T..."   kselftests to run, from build/selftests (default:
#                    mpdev_basic mpdev_datapath, plus mpdev_lifetime and
#                    mpdev_netlink and mpdev_bounds when built)
#   --update-doc     after the run, write its table into
#                    Documentation/mpdev/kernels.rst
#   --doc-only       only rewrite that table from the last run's results
#   --kdir DIR       check one kernel build tree you already have (e.g.
#                    /lib/modules/$(uname -r)/build): build, warnings,
#                    symbols and compat probes; no fetching, no VM
#   --refresh        apt-get update + upgrade the sid chroot first (it is
#                    otherwise kept as made, so "sid" stays one kernel)
#
# The kernels (Debian packages only, by name, from the mirror apt uses):
#   6.1   the host's linux-headers-amd64 (Debian 12), host gcc-12;
#         image: scripts/install-deps.sh --kernel-only
#   6.12  the newest linux-headers-6.12.*+deb12-amd64 in Debian 12's own
#         sources, built with the host's gcc-12.  The headers are not
#         installed (their package depends on a kernel image): the debs
#         are unpacked into $MPDEV_CACHE/headers/<KVER>.
#         image: linux-image-<KVER>-unsigned via install-deps.sh
#   sid   linux-headers-amd64 of Debian unstable (7.2.13 when written),
#         which needs gcc-16: built inside a debootstrap'ed sid chroot,
#         $MPDEV_CACHE/sid-chroot; nothing from sid touches the host.
#         image: linux-binary/linux-modules/linux-base-<KVER> (or
#         linux-image-<KVER>-unsigned), downloaded in the chroot and
#         unpacked into $MPDEV_CACHE/kernel/<KVER> for vm-run.
#
# Output: build/kmod-<KVER>/ (a copy of kmod/ and the UAPI header, the
# module, build.log), build/kernels/vm-<KVER>.log, build/kernels/results.tsv
# and build/kernels/table.rst (the compatibility table of this run).
# Exit status: 0 if every selected kernel passed.
# Environment: MPDEV_CACHE (default /var/cache/mpdev).  Needs root to
# fetch (apt, debootstrap, chroot); a later run with everything cached
# needs root only for the sid chroot build.

set -uo pipefail

# One brace group: bash parses all of it before running any, so editing
# this file cannot derail a run in progress.
{
cd "$(dirname "$0")/.." || exit 2
repo=$PWD
prog=kernels
CACHE=${MPDEV_CACHE:-/var/cache/mpdev}
OUT=$repo/build/kernels
DOC=$repo/Documentation/mpdev/kernels.rst

say() { printf '%s: %s\n' "$prog" "$*" >&2; }
die() { printf '%s: error: %s\n' "$prog" "$*" >&2; exit 2; }

build_only=0 update_doc=0 doc_only=0 refresh=0 kdir='' tests=''
lines=()
while [ $# -gt 0 ]; do
	case $1 in
	--build-only) build_only=1 ;;
	--tests) [ $# -ge 2 ] || die "--tests needs a value"; tests=$2; shift ;;
	--update-doc) update_doc=1 ;;
	--doc-only) doc_only=1 ;;
	--kdir) [ $# -ge 2 ] || die "--kdir needs a value"; kdir=$2; shift ;;
	--refresh) refresh=1 ;;
	-h|--help) sed -n '2,/^$/s/^# \{0,1\}//p' "$0"; exit 0 ;;
	6.1|6.12|sid) lines+=("$1") ;;
	7.2) lines+=(sid) ;;
	*) die "unknown argument '$1' (see --help)" ;;
	esac
	shift
done
[ ${#lines[@]} -gt 0 ] || lines=(6.1 6.12 sid)

# shellcheck source=sid-chroot.sh
. "$repo/scripts/sid-chroot.sh"

# ---------------------------------------------------------------- 6.1
kver_61() {
	local k
	k=$(dpkg-query -W -f='${Depends}' linux-headers-amd64 2>/dev/null |
		grep -o 'linux-headers-[0-9][^ ,]*-amd64' | head -n1 |
		sed 's/^linux-headers-//')
	[ -n "$k" ] || k=$(ls -d /usr/src/linux-headers-6.1.*-amd64 2>/dev/null |
		sed 's|.*/linux-headers-||' | sort -V | tail -n1)
	printf '%s' "$k"
}

# --------------------------------------------------------------- 6.12
# Newest 6.12 ABI in Debian 12's sources; the cached one when offline.
kver_612() {
	local k
	k=$(apt-cache search --names-only '^linux-headers-6\.12\.[0-9]+\+deb12-amd64$' 2>/dev/null |
		awk '{ sub(/^linux-headers-/, "", $1); print $1 }' | sort -V | tail -n1)
	if [ -z "$k" ] && is_root; then
		apt-get update -qq >/dev/null 2>&1
		k=$(apt-cache search --names-only '^linux-headers-6\.12\.[0-9]+\+deb12-amd64$' 2>/dev/null |
			awk '{ sub(/^linux-headers-/, "", $1); print $1 }' | sort -V | tail -n1)
	fi
	[ -n "$k" ] || k=$(ls -d "$CACHE"/headers/6.12.*-amd64 2>/dev/null |
		sed 's|.*/||' | sort -V | tail -n1)
	printf '%s' "$k"
}

# Unpacks linux-headers-<K>, its -common and linux-kbuild into
# $CACHE/headers/<K> and points the arch Makefile at the unpacked common
# tree (Debian's has an absolute /usr/src path).  Prints the KDIR.
fetch_headers_612() {
	local k=$1 root=$CACHE/headers/$1 tmp abi deps
	if [ ! -f "$root/.complete" ]; then
		need_root "fetching linux-headers-$k"
		abi=${k%-amd64}
		tmp=$(mktemp -d "$CACHE/headers.XXXXXX") || return 1
		( cd "$tmp" && apt-get download -q "linux-headers-$k" \
			"linux-headers-$abi-common" "linux-kbuild-$abi" ) \
			>"$tmp/download.log" 2>&1 ||
			{ cat "$tmp/download.log" >&2; rm -rf "$tmp"; return 1; }
		mkdir "$tmp/root"
		for d in "$tmp"/*.deb; do dpkg-deb -x "$d" "$tmp/root" || return 1; done
		sed -i "s|^include /usr/src/|include $root/usr/src/|" \
			"$tmp/root/usr/src/linux-headers-$k/Makefile"
		deps=$(dpkg-deb -f "$tmp"/linux-headers-"$k"_*.deb Depends)
		ls "$tmp"/*.deb | sed 's|.*/||' >"$tmp/root/.complete"
		rm -f "$tmp"/*.deb "$tmp/download.log"
		rm -rf "$root"
		mkdir -p "$CACHE/headers"
		mv "$tmp/root" "$root" && rmdir "$tmp"
		say "headers $k unpacked into $root (package depends: $deps)"
	fi
	printf '%s' "$root/usr/src/linux-headers-$k"
}

# ---------------------------------------------------------------- sid
# The KVER sid's linux-headers-amd64 points at, inside the chroot.
kver_sid() {
	[ -f "$CHROOT/.mpdev-chroot" ] || return 0
	in_chroot apt-cache show linux-headers-amd64 2>/dev/null |
		awk '/^Depends:/' | grep -o 'linux-headers-[0-9][^ ,]*-amd64' |
		sed 's/^linux-headers-//' | sort -V | tail -n1
}

# gcc-16 and the headers of <K> inside the chroot.
chroot_headers() {
	local k=$1
	[ -f "$CHROOT/usr/src/linux-headers-$k/Makefile" ] &&
		in_chroot dpkg-query -W -f='${db:Status-Abbrev}' "linux-headers-$k" 2>/dev/null |
		grep -q '^ii' && return 0
	need_root "installing linux-headers-$k in the chroot"
	say "installing linux-headers-$k (and the gcc it needs) in the sid chroot"
	in_chroot nice apt-get install -y -qq --no-install-recommends \
		"linux-headers-$k" make >"$CACHE/sid-headers.log" 2>&1 ||
	{ in_chroot apt-get update -qq >/dev/null 2>&1 &&
	  in_chroot nice apt-get install -y -qq --no-install-recommends \
		"linux-headers-$k" make >"$CACHE/sid-headers.log" 2>&1; } ||
		{ tail -n 20 "$CACHE/sid-headers.log" >&2; return 1; }
}

# The sid kernel image, unpacked into vm-run's cache layout:
#   $CACHE/kernel/<K>/boot/vmlinuz-<K>, lib/modules/<K>/ (+ modules.dep)
# Newer Debian splits the image into linux-binary-<K> (vmlinuz),
# linux-modules-<K> and linux-base-<K> (System.map, modules.builtin),
# all under /usr/lib/modules/<K>; older ones ship linux-image-<K>-unsigned.
fetch_image_sid() {
	local k=$1 kdir=$CACHE/kernel/$1 dl=/var/tmp/mpdev-debs tmp d ver
	[ -f "$kdir/.complete" ] && [ -f "$kdir/boot/vmlinuz-$k" ] && return 0
	need_root "fetching the sid kernel image"
	rm -rf "$CHROOT$dl" && mkdir -p "$CHROOT$dl"
	in_chroot sh -c "cd $dl && { apt-get download -q linux-binary-$k \
		linux-modules-$k linux-base-$k || apt-get download -q \
		linux-image-$k-unsigned; }" >"$CACHE/sid-image.log" 2>&1 ||
		{ tail -n 20 "$CACHE/sid-image.log" >&2; return 1; }
	mkdir -p "$CACHE/kernel"
	tmp=$(mktemp -d "$CACHE/kernel/.unpack.XXXXXX") || return 1
	for d in "$CHROOT$dl"/*.deb; do dpkg-deb -x "$d" "$tmp" || return 1; done
	if [ -d "$tmp/usr/lib/modules/$k" ]; then
		mkdir -p "$tmp/lib/modules"
		mv "$tmp/usr/lib/modules/$k" "$tmp/lib/modules/$k"
	fi
	mkdir -p "$tmp/boot"
	[ -f "$tmp/boot/vmlinuz-$k" ] || mv "$tmp/lib/modules/$k/vmlinuz" "$tmp/boot/vmlinuz-$k" ||
		{ say "no vmlinuz in the sid image packages"; rm -rf "$tmp"; return 1; }
	PATH=$PATH:/sbin:/usr/sbin depmod -b "$tmp" "$k" || return 1
	ver=$(dpkg-deb -f "$(ls "$CHROOT$dl"/*.deb | head -n1)" Version)
	echo "sid $(cd "$CHROOT$dl" && ls *.deb | sed 's/_.*//' | tr '\n' ' ')$ver" >"$tmp/.complete"
	chmod 0755 "$tmp"
	rm -rf "$kdir" "$CHROOT$dl"
	mv "$tmp" "$kdir"
	say "kernel $k unpacked into $kdir"
}

# ------------------------------------------------------------- building
# A copy of the module sources in build/kmod-<K>/, the UAPI header in its
# include/; the tree's kmod/ is never built in.
copy_sources() {
	local dir=$1
	rm -rf "$dir"
	mkdir -p "$dir/include/uapi/linux" || return 1
	cp kmod/Kbuild kmod/Makefile kmod/*.c kmod/*.h "$dir/" &&
		cp include/uapi/linux/mpdev.h "$dir/include/uapi/linux/"
}

# Everything a build log may not contain: compiler diagnostics, modpost's
# unresolved/restricted symbol reports, section mismatches.
bad_build_lines() {
	grep -E -i '(warning|error)[: ]|undefined!|not exported|restricted|does not import|mismatch' "$1"
}

# Checks every undefined symbol of <ko> against <Module.symvers>: each one
# must be exported, to every module (empty namespace).  Prints the symbols
# the module takes from KVM; returns 1 on any problem.
check_symbols() {
	local ko=$1 symvers=$2 s line bad=0 kvm=()
	while read -r s; do
		line=$(awk -F'\t' -v s="$s" '$2 == s { print; exit }' "$symvers")
		if [ -z "$line" ]; then
			echo "symbol $s: not exported by this kernel"; bad=1; continue
		fi
		if [ -n "$(cut -f5 <<<"$line")" ]; then
			echo "symbol $s: exported only to namespace '$(cut -f5 <<<"$line")'"; bad=1
		fi
		case $(cut -f3 <<<"$line") in */kvm/*) kvm+=("$s") ;; esac
	done < <(nm -u "$ko" | awk '{ print $2 }')
	echo "kvm symbols: ${kvm[*]:-none}"
	return $bad
}

# build <K> <KDIR> [chroot]: builds build/kmod-<K>/mpdev.ko.  Sets
# b_result (ok/FAIL), b_note, b_flags, b_kvmsyms, b_cc.
build_one() {
	local k=$1 kd=$2 where=${3:-host} dir=$repo/build/kmod-$1 log sdir rc
	log=$dir/build.log
	copy_sources "$dir" || { b_result=FAIL; b_note="copy failed"; return 1; }
	if [ "$where" = chroot ]; then
		sdir=/var/tmp/mpdev-kmod-$k
		rm -rf "${CHROOT:?}$sdir" && cp -r "$dir" "$CHROOT$sdir"
		in_chroot nice make -C "$kd" M="$sdir" MPDEV_INCLUDE="$sdir/include" \
			modules >"$log" 2>&1
		rc=$?
		cp -p "$CHROOT$sdir"/*.ko "$CHROOT$sdir"/.core.o.cmd "$dir/" 2>/dev/null
		rm -rf "${CHROOT:?}$sdir"
		symvers=$CHROOT$kd/Module.symvers
	else
		nice make -C "$kd" M="$dir" MPDEV_INCLUDE="$dir/include" modules >"$log" 2>&1
		rc=$?
		symvers=$kd/Module.symvers
	fi
	# The compiler that built it, from the object's .comment section.
	b_cc=$(readelf -p .comment "$dir/mpdev.ko" 2>/dev/null |
		sed -n 's/.*GCC: (\([^)]*\)) \([0-9.]*\).*/gcc \2 (\1)/p' | head -n1)
	b_flags=$(grep -o -- '-DMPDEV_[A-Z0-9_]*' "$dir/.core.o.cmd" 2>/dev/null |
		sed 's/^-DMPDEV_//' | sort -u | tr '\n' ' ')
	b_flags=${b_flags% }
	b_kvmsyms=
	if [ "$rc" -ne 0 ] || [ ! -f "$dir/mpdev.ko" ]; then
		b_result=FAIL; b_note="build failed (see $log)"
		bad_build_lines "$log" | head -n 5 >&2
		return 1
	fi
	if bad_build_lines "$log" >"$dir/bad-lines.txt"; then
		b_result=FAIL; b_note="warnings (see $log)"
		head -n 5 "$dir/bad-lines.txt" >&2
		return 1
	fi
	if ! check_symbols "$dir/mpdev.ko" "$symvers" >"$dir/symbols.txt"; then
		b_result=FAIL; b_note="symbols (see $dir/symbols.txt)"
		grep -v '^kvm symbols' "$dir/symbols.txt" >&2
		return 1
	fi
	b_kvmsyms=$(sed -n 's/^kvm symbols: //p' "$dir/symbols.txt")
	b_result=ok; b_note=
	return 0
}

# ----------------------------------------------------------------- docs
# The compatibility table from results.tsv, as RST.
write_table() {
	local tsv=$1
	awk -F'\t' '
	function row(a, b, c, d, e, f) {
		printf "   * - %s\n     - %s\n     - %s\n     - %s\n     - %s\n     - %s\n", a, b, c, d, e, f
	}
	NR == 1 { next }
	{ n++; r[n] = $0 }
	END {
		print ".. list-table::"
		print "   :header-rows: 1"
		print ""
		row("Kernel", "Compiler", "Build (warnings, modpost, symbols)", "Compat paths", "kselftests in the test VM", "Result")
		for (i = 1; i <= n; i++) {
			split(r[i], f, "\t")
			# kver line cc build flags tests result date
			row("``" f[1] "`` (" f[2] ")", f[3], f[4], f[5] == "" ? "none" : "``" f[5] "``", f[6], f[7] " (" f[8] ")")
		}
	}' "$tsv"
	echo
	echo "Each row is the last \`\`scripts/kernels.sh\`\` run of that kernel line" \
		"(date in the last column), on $(uname -m); the test VM runs" \
		"under QEMU TCG.  Compat paths are the build probes that" \
		"were true (\`\`MPDEV_*\`\`)."
}

update_doc() {
	local tsv=$OUT/results.tsv tmp
	[ -f "$tsv" ] || die "no $tsv: run the matrix first"
	[ -f "$DOC" ] || die "no $DOC"
	grep -q '^\.\. BEGIN kernels-table' "$DOC" && grep -q '^\.\. END kernels-table' "$DOC" ||
		die "$DOC has no '.. BEGIN/END kernels-table' markers"
	write_table "$tsv" >"$OUT/table.rst"
	tmp=$(mktemp)
	awk -v t="$OUT/table.rst" '
		/^\.\. BEGIN kernels-table/ { print; print ""; while ((getline l < t) > 0) print l; print ""; skip = 1; next }
		/^\.\. END kernels-table/ { skip = 0 }
		!skip' "$DOC" >"$tmp" && cat "$tmp" >"$DOC"
	rm -f "$tmp"
	say "table written into ${DOC#"$repo"/}"
}

if [ "$doc_only" -eq 1 ]; then
	update_doc
	exit 0
fi

# ------------------------------------------------------------ --kdir DIR
if [ -n "$kdir" ]; then
	[ -f "$kdir/Makefile" ] || die "$kdir: not a kernel build tree (no Makefile)"
	# The release modules of this kernel carry (Debian's kernelrelease
	# target prints the upstream version instead).
	k=$(sed -n 's/^#define UTS_RELEASE "\(.*\)"$/\1/p' \
		"$kdir/include/generated/utsrelease.h" 2>/dev/null)
	k=${k:-custom}
	build_one "$k" "$(cd "$kdir" && pwd)"
	printf '%-28s %-8s %s\n' "kernel" "build" "details"
	printf '%-28s %-8s %s\n' "$k" "$b_result" \
		"${b_note:-cc: $b_cc; compat: ${b_flags:-none}; kvm symbols: $b_kvmsyms}"
	[ "$b_result" = ok ] && echo "1 passed, 0 failed" || echo "0 passed, 1 failed"
	[ "$b_result" = ok ]
	exit
fi

# ---------------------------------------------------------------- matrix
mkdir -p "$OUT"
if [ -z "$tests" ]; then
	tests="mpdev_basic mpdev_datapath"
	for t in mpdev_lifetime mpdev_netlink mpdev_bounds; do
		[ -x "build/selftests/$t" ] && tests="$tests $t"
	done
fi
# The kselftests run from a copy taken now: every kernel gets the same
# binaries even if build/selftests is rebuilt while the matrix runs.
test_paths=()
if [ "$build_only" -eq 0 ]; then
	rm -rf "$OUT/selftests" && mkdir -p "$OUT/selftests"
	for t in $tests; do
		[ -x "build/selftests/$t" ] || die "build/selftests/$t is not built: run 'make selftests' first"
		cp -p "build/selftests/$t" "$OUT/selftests/$t"
		test_paths+=("build/kernels/selftests/$t")
	done
fi

total_p=0 total_f=0 total_s=0
rows=()
date=$(date -u +%Y-%m-%d)
printf 'kver\tline\tcc\tbuild\tflags\ttests\tresult\tdate\tfetch_s\tbuild_s\tvm_s\n' >"$OUT/results.tsv.new"

for line in "${lines[@]}"; do
	t0=$SECONDS
	k='' kd='' where=host fetch_err=''
	lock_cache
	case $line in
	6.1)
		k=$(kver_61)
		[ -n "$k" ] || fetch_err="no linux-headers-amd64 on the host: run make deps"
		kd=/usr/src/linux-headers-$k
		[ -z "$fetch_err" ] && [ "$build_only" -eq 0 ] &&
			{ scripts/install-deps.sh --kernel-only --kver "$k" >&2 || fetch_err="image fetch failed"; }
		;;
	6.12)
		host_tools dwarves
		k=$(kver_612)
		if [ -z "$k" ]; then
			fetch_err="no linux-headers-6.12.*+deb12-amd64 in the apt sources"
		else
			kd=$(fetch_headers_612 "$k") || fetch_err="headers fetch failed"
			[ -z "$fetch_err" ] && [ "$build_only" -eq 0 ] &&
				{ scripts/install-deps.sh --kernel-only --kver "$k" >&2 || fetch_err="image fetch failed"; }
		fi
		;;
	sid)
		where=chroot
		if ! make_chroot; then
			fetch_err="debootstrap failed (see $CACHE/sid-debootstrap.log)"
		else
			if [ "$refresh" -eq 1 ]; then
				in_chroot apt-get update -qq && in_chroot nice apt-get -y -qq upgrade >/dev/null
			fi
			k=$(kver_sid)
			if [ -z "$k" ]; then
				in_chroot apt-get update -qq >/dev/null 2>&1
				k=$(kver_sid)
			fi
			if [ -z "$k" ]; then
				fetch_err="no linux-headers-amd64 in sid"
			else
				kd=/usr/src/linux-headers-$k
				chroot_headers "$k" || fetch_err="headers install in the chroot failed"
				[ -z "$fetch_err" ] && [ "$build_only" -eq 0 ] &&
					{ fetch_image_sid "$k" || fetch_err="image fetch failed"; }
			fi
		fi
		;;
	esac
	flock -u 9
	t1=$SECONDS
	fetch_s=$((t1 - t0))

	b_result=FAIL b_note=$fetch_err b_flags='' b_kvmsyms='' b_cc=''
	[ -z "$fetch_err" ] && build_one "$k" "$kd" "$where"
	t2=$SECONDS
	build_s=$((t2 - t1))
	build_col="$b_result${b_note:+: $b_note}"
	[ "$b_result" = ok ] && build_col="ok: no warnings; kvm: ${b_kvmsyms}"

	tests_col=- vm_s=0 result=$b_result p=0 f=0 s=0
	if [ "$b_result" = ok ]; then
		p=1
	else
		f=1
	fi
	if [ "$build_only" -eq 0 ] && [ "$b_result" = ok ]; then
		say "booting $k with build/kmod-$k/mpdev.ko"
		vlog=$OUT/vm-$k.log
		# MPDEV_KO: mpdev_lifetime unloads and reloads the module.
		MPDEV_KO=$repo/build/kmod-$k/mpdev.ko \
		selftests/vm/vm-run --kver "$k" --module "build/kmod-$k/mpdev.ko" \
			--timeout 1800 --log "$vlog" -- \
			selftests/vm/run-kselftests "${test_paths[@]}" >"$OUT/vm-$k.out" 2>&1
		vrc=$?
		vm_s=$((SECONDS - t2))
		sum=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$OUT/vm-$k.out" | tail -n1)
		if [ -n "$sum" ]; then
			tp=$(sed -E 's/^([0-9]+) passed.*/\1/' <<<"$sum")
			tf=$(sed -E 's/.* ([0-9]+) failed.*/\1/' <<<"$sum")
			ts=$(sed -nE 's/.* ([0-9]+) skipped.*/\1/p' <<<"$sum")
			ts=${ts:-0}
			[ "$vrc" -ne 0 ] && [ "$tf" -eq 0 ] && tf=1
		else
			tp=0 tf=1 ts=0
		fi
		p=$((p + tp)) f=$((f + tf)) s=$((s + ts))
		tests_col="$tests: $tp passed, $tf failed, $ts skipped"
		[ "$vrc" -ne 0 ] && tests_col="$tests_col (vm-run exit $vrc, see build/kernels/vm-$k.log)"
		[ "$tf" -eq 0 ] && result=pass || result=FAIL
	elif [ "$b_result" = ok ]; then
		tests_col="not run (--build-only)"
		result=built
	fi
	total_p=$((total_p + p)) total_f=$((total_f + f)) total_s=$((total_s + s))
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "${k:-?}" "$line" \
		"${b_cc:-?}" "$build_col" "$b_flags" "$tests_col" "$result" "$date" \
		"$fetch_s" "$build_s" "$vm_s" >>"$OUT/results.tsv.new"
	rows+=("$(printf '%-24s %-5s %-6s fetch %4ss build %4ss vm %5ss  %s' \
		"${k:-?}" "$line" "$result" "$fetch_s" "$build_s" "$vm_s" \
		"${b_note:-compat: ${b_flags:-none}; tests: $tests_col}")")
done
# Keep the rows of kernel lines this run did not cover.
: >"$OUT/results.tsv.old"
if [ -f "$OUT/results.tsv" ]; then
	awk -F'\t' 'NR == FNR { if (FNR > 1) ran[$2] = 1; next }
		FNR > 1 && !($2 in ran)' "$OUT/results.tsv.new" "$OUT/results.tsv" \
		>"$OUT/results.tsv.old"
fi
{ head -n1 "$OUT/results.tsv.new"
  { tail -n +2 "$OUT/results.tsv.new"; cat "$OUT/results.tsv.old"; } |
	sort -t "$(printf '\t')" -k1,1V; } >"$OUT/results.tsv"
rm -f "$OUT/results.tsv.new" "$OUT/results.tsv.old"
write_table "$OUT/results.tsv" >"$OUT/table.rst"
[ "$update_doc" -eq 1 ] && update_doc

echo
echo "kernel                   line  result timings                        details"
printf '%s\n' "${rows[@]}"
echo "$total_p passed, $total_f failed, $total_s skipped"
[ "$total_f" -eq 0 ]
exit
}
