#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# bench-report.sh - the report of a nested-guest benchmark run
# (Documentation/mpdev/benchmark.rst): from the raw files the run left in
# DIR it prints a console table, writes DIR/bench.json and DIR/bench.png
# (with the re-renderable DIR/chart.dat and DIR/chart.gp) and, with
# --update-doc, rewrites the results block of an .rst page.
#
#   scripts/bench-report.sh [--update-doc FILE.rst] DIR
#
# DIR/results.tsv   config space op size threads n p50_ns p99_ns mean_ns
#                   ops_per_s, tab-separated, '#' starts a comment line
# DIR/checks.tsv    name<TAB>ok|FAIL<TAB>detail (optional)
# DIR/meta.txt      key=value: date, kernel, qemu, n, cpus, note... (optional)
#
# Latencies are shown in microseconds, 1 decimal (2 below 1 us); ratios are
# p50 of one config over p50 of another at the same space/op/size, so < 1
# means the first is faster.  The real-I/O rows (spaces disk-null and
# disk-raw, ops randread/randwrite, size 4096, threads = queue depth 1,
# ops_per_s = IOPS) have their own blocks, ratios on IOPS (> 1 means the
# first is faster), a "disk" array in bench.json, a second row of chart
# panels and targets D1-D3.  The NVMe rows (space nvme-null: QEMU's nvme
# device on a null-co backing, the same 4 KiB random I/O at queue depth
# (threads) 1 and 16; configs mpdev-block, mpdev-poll, inproc and
# inproc-ioeventfd, no stock: stock multi-process cannot carry nvme) have
# blocks of their own, an "nvme" array in bench.json, a row of chart
# panels (QD1, QD16) and target N1.  The zero-patch rows (configs
# zp-block, zp-poll: mpqemu-run --zero-patch with Debian 12's stock QEMU as
# the VMM; zp-sid-block, zp-sid-poll: the same with Debian sid's; spaces
# mmio and pio like the patched rows) have blocks of their own with the
# ratios zero-patch / patched (zp-*-block over mpdev-block, zp-*-poll over
# mpdev-poll) on p50 and on ops/s, a "zero_patch" array and a
# "zero_patch_geomean" object in bench.json, bars in the MMIO chart panels
# and targets Z1 and Z2 (blocking and polling within 0.5-2.0 x the
# patched path, on the geometric mean of the p50 ratios) and ZT1-ZT3
# (T1-T3 for zero-patch).
# Targets are reported, never enforced.
# --update-doc replaces what lies between the lines ".. bench-results-start"
# and ".. bench-results-end" of FILE.rst and nothing else.
#
# Only bash, coreutils, awk (mawk is enough) and gnuplot (optional).
# Exit status: 0 report written and every sanity check ok; 1 a check
# FAILed or results.tsv has no rows; 2 usage error.

set -euo pipefail

prog=${0##*/}
START_MARK='.. bench-results-start'
END_MARK='.. bench-results-end'

usage() {
	cat <<EOF
usage: $prog [--update-doc FILE.rst] DIR

Report the nested-guest benchmark results in DIR (results.tsv, checks.tsv,
meta.txt): console table, DIR/bench.json, DIR/bench.png; with --update-doc,
also the block between "$START_MARK" and "$END_MARK" in FILE.rst.
EOF
}
die_usage() {
	printf '%s: %s\n' "$prog" "$*" >&2
	exit 2
}
note() { printf '%s: %s\n' "$prog" "$*" >&2; }

doc='' dir=''
while [ $# -gt 0 ]; do
	case $1 in
	--update-doc)
		[ $# -ge 2 ] || die_usage "--update-doc needs FILE.rst (try --help)"
		doc=$2
		shift 2
		;;
	--update-doc=*) doc=${1#*=}; shift ;;
	-h | --help) usage; exit 0 ;;
	--) shift; break ;;
	-*) die_usage "unknown option: $1 (try --help)" ;;
	*)
		[ -z "$dir" ] || die_usage "more than one DIR: $dir, $1"
		dir=$1
		shift
		;;
	esac
done
for a in "$@"; do
	[ -z "$dir" ] || die_usage "more than one DIR: $dir, $a"
	dir=$a
done
[ -n "$dir" ] || { usage >&2; exit 2; }
# awk takes an operand like "a=b/results.tsv" for an assignment: anchor it.
case $dir in /*) ;; *) dir=./$dir ;; esac
dir=${dir%/}
[ -d "$dir" ] || die_usage "no such directory: $dir"
if ! { [ -f "$dir/results.tsv" ] && [ -r "$dir/results.tsv" ]; }; then
	die_usage "no readable $dir/results.tsv"
fi
[ -w "$dir" ] || die_usage "cannot write to $dir (bench.json, bench.png go there)"

# Check the page before anything is written: a usage error must leave
# DIR and FILE as they were.
if [ -n "$doc" ]; then
	if ! { [ -f "$doc" ] && [ -r "$doc" ] && [ -w "$doc" ]; }; then
		die_usage "--update-doc: $doc is not a readable and writable file"
	fi
	case $doc in /*) ;; *) doc=./$doc ;; esac
	marks=$(awk -v s="$START_MARK" -v e="$END_MARK" '
		{ sub(/[ \t\r]+$/, "") }
		$0 == s { ns++; if (!ls) ls = NR }
		$0 == e { ne++; if (!le) le = NR }
		END {
			if (ns != 1 || ne != 1)
				printf "needs exactly one line \"%s\" and one \"%s\" (found %d and %d)", s, e, ns, ne
			else if (le < ls)
				printf "\"%s\" (line %d) comes before \"%s\" (line %d)", e, le, s, ls
		}' "$doc")
	[ -z "$marks" ] || die_usage "--update-doc: $doc: $marks"
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/bench-report.XXXXXX")
trap 'rm -rf "$work"' EXIT

# The whole report is one awk pass over the three inputs; the "part="
# operands between the file names say which file is being read.
# shellcheck disable=SC2016 # awk program, not shell
report_awk='
function warn(msg) { printf "bench-report: warning: %s\n", msg > "/dev/stderr" }
function warn_once(kind, v, msg) {
	if ((kind, v) in WARNED)
		return
	WARNED[kind, v] = 1
	warn(msg)
}
function trim(s) {
	sub(/^[ \t]+/, "", s)
	sub(/[ \t]+$/, "", s)
	return s
}
# A measured value, or "" (missing) for "-", "nan" and the like.
function num(s) { return (s ~ NUMRE) ? s : "" }

function read_result(   f, i, k) {
	if ($0 ~ /^[ \t]*(#|$)/)
		return
	if (NF < 10) {
		warn(FILENAME ":" FNR ": " NF " fields, expected 10; row ignored")
		return
	}
	for (i = 1; i <= 10; i++)
		f[i] = trim($i)
	if (f[4] !~ /^[0-9]+$/ || f[5] !~ /^[0-9]+$/ || f[5] + 0 < 1) {
		warn(FILENAME ":" FNR ": size/threads not a positive integer; row ignored")
		return
	}
	# "04" and "4" must be the same key.
	f[4] += 0
	f[5] += 0
	nres++
	for (i = 1; i <= 5; i++)
		RES[nres, i] = f[i]
	for (i = 6; i <= 10; i++)
		RES[nres, i] = num(f[i])
	k = f[1] SUBSEP f[2] SUBSEP f[3] SUBSEP f[4] SUBSEP f[5]
	if (k in ROW)
		warn(FILENAME ":" FNR ": second row for " f[1] " " f[2] " " f[3] " size " f[4] " threads " f[5] "; the tables use this one")
	ROW[k] = nres
	CFGROWS[f[1]]++
	if (!(f[1] in CFGIDX) && !(f[1] in NCFGIDX) && !(f[1] in ZCFGIDX))
		warn_once("config", f[1], "unknown config \"" f[1] "\": in bench.json only")
	if (!(f[2] in EXPECT))
		warn_once("space", f[2], "unknown space \"" f[2] "\": in bench.json only")
	if (!((f[2], f[4]) in SEENSZ)) {
		SEENSZ[f[2], f[4]] = 1
		SEENLIST[f[2]] = SEENLIST[f[2]] " " f[4]
	}
	if (f[2] in NVMEIDX) {
		# NVMe: randread/randwrite at queue depth (threads) 1 and 16,
		# the configs of NCFG (no stock)
		nnvme++
		NROWS[f[1]]++
		if (((f[1] in CFGIDX) || (f[1] in ZCFGIDX)) && !(f[1] in NCFGIDX))
			warn_once("nvmecfg", f[1], "config \"" f[1] "\" on " f[2] ": not an NVMe configuration; in bench.json only")
		if (f[3] != "randread" && f[3] != "randwrite")
			warn_once("op", f[2] SUBSEP f[3], "unknown op \"" f[3] "\" for " f[2] ": in bench.json only")
		if (!(f[5] in NQDIDX))
			warn_once("threads", f[2] SUBSEP f[5], f[2] " threads=" f[5] " (queue depth): in bench.json only")
		io_n_check(f)
		return
	}
	if ((f[1] in NCFGIDX) && !(f[1] in CFGIDX))
		warn_once("cfgspace", f[1] SUBSEP f[2], "config \"" f[1] "\" on " f[2] ": an NVMe configuration; in bench.json only")
	if ((f[1] in ZCFGIDX) && (f[2] in DISKIDX))
		warn_once("zpspace", f[1] SUBSEP f[2], "config \"" f[1] "\" on " f[2] ": a zero-patch configuration (register rows only); in bench.json only")
	if (f[2] in DISKIDX) {
		# real I/O: randread/randwrite at queue depth (threads) 1
		ndisk++
		DROWS[f[2]]++
		if (f[3] != "randread" && f[3] != "randwrite")
			warn_once("op", f[2] SUBSEP f[3], "unknown op \"" f[3] "\" for " f[2] ": in bench.json only")
		if (f[5] != 1)
			warn_once("threads", f[2] SUBSEP f[5], f[2] " threads=" f[5] " (queue depth): in bench.json only")
		io_n_check(f)
	} else {
		if (f[1] in ZCFGIDX)
			nzrows++
		if (f[3] != "read" && f[3] != "write")
			warn_once("op", f[3], "unknown op \"" f[3] "\": in bench.json only")
		if (f[5] > 2)
			warn_once("threads", f[5], "threads=" f[5] ": in bench.json only")
	}
}

# A real-I/O row (disk or NVMe) that completed no I/O measured nothing.
function io_n_check(f) {
	if (f[6] !~ /^[0-9]+$/ || f[6] + 0 < 1)
		warn(FILENAME ":" FNR ": " f[1] " " f[2] " " f[3] " at queue depth " f[5] ": n=" f[6] ", no I/O completed: its numbers are no measurement")
}

function read_check(   st, d, i) {
	if ($0 ~ /^[ \t]*(#|$)/)
		return
	nchk++
	CHK_name[nchk] = trim($1)
	st = trim($2)
	d = $3
	for (i = 4; i <= NF; i++)
		d = d "\t" $i
	CHK_detail[nchk] = trim(d)
	# Anything but "ok" counts as a failure: an unknown verdict is no pass.
	CHK_ok[nchk] = (tolower(st) == "ok")
	if (!CHK_ok[nchk]) {
		nfail++
		if (tolower(st) != "fail")
			warn(FILENAME ":" FNR ": status \"" st "\" is neither ok nor FAIL; counted as FAIL")
	}
}

function read_meta(   i, k) {
	if ($0 ~ /^[ \t]*(#|$)/)
		return
	i = index($0, "=")
	if (i < 2) {
		warn(FILENAME ":" FNR ": not key=value; ignored")
		return
	}
	k = trim(substr($0, 1, i - 1))
	if (!(k in META))
		MKEY[++nmeta] = k
	META[k] = trim(substr($0, i + 1))
}

# Row value of one measured case, "" if missing.
function val(cfg, space, op, size, threads, col,   k) {
	k = cfg SUBSEP space SUBSEP op SUBSEP size SUBSEP threads
	return (k in ROW) ? RES[ROW[k], col] : ""
}
function ratio(a, b) { return (a == "" || b == "" || b + 0 <= 0) ? "" : a / b }
function fmt(x, f) { return (x == "") ? "-" : sprintf(f, x) }
function us(ns) {
	if (ns == "")
		return "-"
	ns /= 1000
	return sprintf(ns < 1 ? "%.2f" : "%.1f", ns)
}
function opname(op) { return op == "read" ? "reads" : "writes" }

# The sizes of a space, in order: the expected ones and any seen.
function sizes_of(space, S,   cand, seen, n, m, i, j, t) {
	n = split(EXPECT[space] SEENLIST[space], cand, " ")
	m = 0
	for (i = 1; i <= n; i++) {
		if (cand[i] in seen)
			continue
		seen[cand[i]] = 1
		S[++m] = cand[i] + 0
	}
	# insertion sort: mawk has no asort()
	for (i = 2; i <= m; i++) {
		t = S[i]
		for (j = i - 1; j >= 1 && S[j] > t; j--)
			S[j + 1] = S[j]
		S[j + 1] = t
	}
	return m
}

# ---------------------------------------------------------------- JSON
function jstr(s,   out, i, c, n) {
	out = ""
	n = length(s)
	# Character by character: gsub() replacements treat backslashes
	# differently in every awk.
	for (i = 1; i <= n; i++) {
		c = substr(s, i, 1)
		if (c == "\\" || c == "\"")
			out = out "\\" c
		else if (c in CTRL)
			out = out CTRL[c]
		else
			out = out c
	}
	return "\"" out "\""
}
function jnum(x) {
	if (x == "")
		return "null"
	return (x ~ JSONNUMRE) ? x : sprintf("%.10g", x + 0)
}
# A computed number, rounded, trailing zeros dropped.
function jround(x, d,   s) {
	if (x == "")
		return "null"
	s = sprintf("%." d "f", x)
	if (s ~ /\./) {
		sub(/0+$/, "", s)
		sub(/\.$/, "", s)
	}
	return (s == "-0") ? "0" : s
}

# ---------------------------------------------------------- reStructuredText
# Backslash the characters inline markup is made of, for text from the
# input files.
function rst_esc(s,   out, i, c, n) {
	out = ""
	n = length(s)
	for (i = 1; i <= n; i++) {
		c = substr(s, i, 1)
		out = out ((index("\\`*_|", c) > 0) ? "\\" : "") c
	}
	return out
}
function rep(c, n,   s) {
	s = ""
	while (n-- > 0)
		s = s c
	return s
}
# A simple table from TB[r, c], row 0 the header.  Cells are ASCII, so
# byte widths are column widths.
# The targets of KIND (T, Z, D, N) under TITLE: in the printed report
# (their ids padded to W), and as an rst list (the text is long).
function print_targets(kind, title, w,   i) {
	printf "\n== %s\n", title
	for (i = 1; i <= nt; i++)
		if (T_kind[i] == kind)
			printf "%-" w "s %-7s %s: %s\n", T_id[i], toupper(T_status[i]), T_text[i], T_detail[i]
}
function rst_targets(kind, title,   i) {
	print title > RSTF
	print "" > RSTF
	for (i = 1; i <= nt; i++)
		if (T_kind[i] == kind)
			printf "* %s **%s** -- %s: %s\n", T_id[i], toupper(T_status[i]), T_text[i], T_detail[i] > RSTF
	print "" > RSTF
}
function rst_table(nr, nc,   r, c, w, border) {
	for (c = 1; c <= nc; c++) {
		w[c] = 1
		for (r = 0; r <= nr; r++)
			if (length(TB[r, c]) > w[c])
				w[c] = length(TB[r, c])
	}
	border = ""
	for (c = 1; c <= nc; c++)
		border = border (c > 1 ? "  " : "") rep("=", w[c])
	print border > RSTF
	for (r = 0; r <= nr; r++) {
		rst_row(r, nc, w)
		if (r == 0)
			print border > RSTF
	}
	print border > RSTF
	print "" > RSTF
}
function rst_row(r, nc, w,   c, line) {
	line = ""
	for (c = 1; c <= nc; c++)
		line = line (c > 1 ? "  " : "") sprintf("%-" w[c] "s", TB[r, c])
	sub(/ +$/, "", line)
	print line > RSTF
}

# ---------------------------------------------------------- evaluation
# Worst (largest) p50 ratio fast/ref over the MMIO sizes 1/2/4/8 of op:
# SC_worst/SC_wsize, SC_bad = sizes over limit, SC_missing = what lacks.
function ratio_scan(op, fast, ref, limit,   i, s, a, b, r, mn, md) {
	SC_worst = ""
	SC_wsize = ""
	SC_bad = 0
	SC_nmiss = 0
	mn = md = ""
	for (i = 1; i <= 4; i++) {
		s = TSIZE[i]
		a = val(fast, "mmio", op, s, 1, 7)
		b = val(ref, "mmio", op, s, 1, 7)
		if (a == "")
			mn = mn " " s
		if (b == "" || b + 0 <= 0)
			md = md " " s
		r = ratio(a, b)
		if (r == "") {
			SC_nmiss++
			continue
		}
		if (SC_worst == "" || r > SC_worst) {
			SC_worst = r
			SC_wsize = s
		}
		if (r > limit)
			SC_bad++
	}
	SC_missing = miss_desc(fast, mn)
	if (md != "")
		SC_missing = SC_missing (SC_missing != "" ? ", " : "") miss_desc(ref, md)
}
function miss_desc(cfg, sizes) {
	if (sizes == "")
		return ""
	if (split(sizes, _t, " ") == 4)
		return "no " cfg " data"
	return "no " cfg " data for size" sizes
}
function add_target(id, text, status, value, limit, detail) {
	nt++
	T_id[nt] = id
	T_text[nt] = text
	T_status[nt] = status
	T_value[nt] = value
	T_limit[nt] = limit
	T_detail[nt] = detail
	# T: registers, D: disk, N: NVMe
	T_kind[nt] = substr(id, 1, 1)
}
# T1-T3: holds if every size holds; one size over the limit is a miss
# even when other sizes lack data; otherwise missing data is N/A.
function ratio_target(id, text, op, fast, ref, limit, extra,   st, d) {
	ratio_scan(op, fast, ref, limit)
	if (SC_bad)
		st = "missed"
	else if (SC_nmiss)
		st = "n/a"
	else
		st = "holds"
	d = (SC_worst == "") ? "" : sprintf("worst %.3f (size %s)", SC_worst, SC_wsize)
	if (st == "n/a")
		d = "not evaluated: " SC_missing (d != "" ? "; the other sizes: " d : "")
	else if (SC_nmiss)
		d = d "; " SC_missing
	add_target(id, text, st, SC_worst, limit, d extra)
}
function scale_of(cfg, op,   a, b) {
	a = val(cfg, "mmio", op, 4, 1, 10)
	b = val(cfg, "mmio", op, 4, 2, 10)
	return ratio(b, a)
}
function scales_desc(cfg) {
	return cfg " read " fmt(scale_of(cfg, "read"), "%.2f") ", write " fmt(scale_of(cfg, "write"), "%.2f")
}
function evaluate(   r, w, st, v, d) {
	ratio_target("T1", "mpdev polling reads <= 0.25 x stock", "read", "mpdev-poll", "stock", 0.25, "")
	ratio_target("T2", "mpdev polling reads <= 1.0 x in-process", "read", "mpdev-poll", "inproc", 1.0, "")
	ratio_scan("write", "mpdev-block", "stock", 0.15)
	d = "; mpdev-block (information): " (SC_worst == "" ? "no data" : sprintf("worst %.3f (size %s)", SC_worst, SC_wsize))
	ratio_target("T3", "mpdev posted writes <= 0.15 x stock", "write", "mpdev-poll", "stock", 0.15, d)

	r = scale_of("mpdev-block", "read")
	w = scale_of("mpdev-block", "write")
	if ((r != "" && r < 1.6) || (w != "" && w < 1.6))
		st = "missed"
	else if (r == "" || w == "")
		st = "n/a"
	else
		st = "holds"
	v = (r == "") ? w : (w == "" || r < w) ? r : w
	d = scales_desc("mpdev-block")
	if (st == "n/a")
		d = "not evaluated: no mpdev-block 1- and 2-thread MMIO 4-byte ops/s for " (r == "" ? (w == "" ? "reads and writes" : "reads") : "writes") "; " d
	# bench-inside.sh drops the stock two-vCPU rows when QEMU lost accesses
	if (scale_of("stock", "read") == "" && scale_of("stock", "write") == "")
		d = d "; stock: no valid two-vCPU rows (meta stock_two_vcpus)"
	else
		d = d "; " scales_desc("stock")
	if (CFGROWS["mpdev-poll"])
		d = d "; " scales_desc("mpdev-poll")
	add_target("T4", "2-vCPU throughput >= 1.6 x 1-vCPU with mpdev (blocking remote, MMIO 4 bytes)", st, v, 1.6, d)
}

# The IOPS ratio fast/ref on space, 4 KiB at queue depth qd, for randread
# and randwrite: IS_worst/IS_wop the worst (lowest) and its op, IS_bad the
# ops below limit, IS_nmiss the ops without a ratio, IS_missing what lacks
# and IS_status: holds if both reach limit, one below it is a miss even
# when the other lacks data, otherwise missing data is N/A.
function iops_scan(space, qd, fast, ref, limit,   i, op, a, b, r, mf, mr) {
	IS_worst = IS_wop = mf = mr = ""
	IS_bad = IS_nmiss = 0
	for (i = 1; i <= 2; i++) {
		op = DOPS[i]
		a = val(fast, space, op, 4096, qd, 10)
		b = val(ref, space, op, 4096, qd, 10)
		if (a == "")
			mf = mf " " op
		if (b == "" || b + 0 <= 0)
			mr = mr " " op
		r = ratio(a, b)
		if (r == "")
			IS_nmiss++
		else {
			if (IS_worst == "" || r < IS_worst) {
				IS_worst = r
				IS_wop = op
			}
			if (r < limit)
				IS_bad++
		}
	}
	mf = dmiss_desc(fast, mf)
	mr = dmiss_desc(ref, mr)
	IS_missing = mf (mf != "" && mr != "" ? ", " : "") mr
	IS_status = IS_bad ? "missed" : IS_nmiss ? "n/a" : "holds"
}
# The detail of that verdict: the worst ratio, what lacks, or that the
# run has no rows of the space (nrows of them).
function iops_detail(space, nrows,   d) {
	if (!nrows)
		return "not evaluated: no " space " rows"
	d = (IS_worst == "") ? "" : sprintf("worst %.3f (%s)", IS_worst, IS_wop)
	if (!IS_nmiss)
		return d
	if (IS_status == "n/a")
		return "not evaluated: " IS_missing (d != "" ? "; the other op: " d : "")
	return d "; " IS_missing
}
# "randread 1.50, randwrite 1.40": IOPS fast/ref as information.
function iops_info(space, qd, fast, ref,   i, op, s) {
	s = ""
	for (i = 1; i <= 2; i++) {
		op = DOPS[i]
		s = s (i > 1 ? ", " : "") op " " fmt(ratio(val(fast, space, op, 4096, qd, 10), val(ref, space, op, 4096, qd, 10)), "%.2f")
	}
	return s
}

# D1-D3: IOPS of fast over ref on disk-null, 4 KiB, queue depth 1, for
# randread and randwrite (iops_scan).  The value is the worst (lowest)
# ratio.  disk-raw is information.
function disk_target(id, text, fast, ref, limit,   d) {
	iops_scan("disk-null", 1, fast, ref, limit)
	d = iops_detail("disk-null", DROWS["disk-null"])
	if (DROWS["disk-raw"])
		d = d "; disk-raw (information): " iops_info("disk-raw", 1, fast, ref)
	add_target(id, text, IS_status, IS_worst, limit, d)
}
function dmiss_desc(cfg, ops) {
	if (ops == "")
		return ""
	if (split(ops, _t, " ") == 2)
		return "no " cfg " data"
	return "no " cfg " data for" ops
}
function evaluate_disk() {
	disk_target("D1", "mpdev polling IOPS >= 2.0 x stock (disk-null, randread and randwrite)", "mpdev-poll", "stock", 2.0)
	disk_target("D2", "mpdev polling IOPS >= 1.0 x in-process (disk-null)", "mpdev-poll", "inproc", 1.0)
	disk_target("D3", "mpdev blocking IOPS >= 1.3 x stock (disk-null)", "mpdev-block", "stock", 1.3)
}
# N1: like D2 on nvme-null at QD1; the other QD1 ratios and the QD16 one
# are information.
function evaluate_nvme(   d) {
	iops_scan("nvme-null", 1, "mpdev-poll", "inproc", 1.0)
	d = iops_detail("nvme-null", nnvme)
	if (nnvme) {
		d = d "; information: QD1 poll/ioeventfd " iops_info("nvme-null", 1, "mpdev-poll", "inproc-ioeventfd")
		d = d "; QD1 block/inproc " iops_info("nvme-null", 1, "mpdev-block", "inproc")
		d = d "; QD16 poll/inproc " iops_info("nvme-null", 16, "mpdev-poll", "inproc")
	}
	add_target("N1", "mpdev polling IOPS >= 1.0 x in-process at QD1 (nvme-null, randread and randwrite)", IS_status, IS_worst, 1.0, d)
}

# Z1 (blocking) and Z2 (polling): per zero-patch config of the mode, the
# geometric mean of its p50 ratios over its patched counterpart (ZREF),
# over the one-thread MMIO and PIO cases (ZGM), within ZLO..ZHI.  The
# Debian 12 config (zp-block, zp-poll) is needed; the sid one counts when
# the run has rows of it.  One mean outside is a miss even when other data
# lacks; a mean over fewer than all cases or a needed config without data
# is N/A.  The value is the mean farthest from 1 (either way), the limit
# ZHI; the detail also says how many means fall within the tighter
# 1/ZTIGHT..ZTIGHT.
function evaluate_zp(id, mode,   k, c, g, lg, wl, worst, bad, na, d, part, st, ntight, nmean) {
	bad = na = ntight = nmean = 0
	d = worst = ""
	for (k = 1; k <= nzcfg; k++) {
		c = ZCFG[k]
		if (c !~ ("-" mode "$"))
			continue
		if (c ~ /^zp-sid-/ && !CFGROWS[c])
			part = c ": not measured"
		else if (!ZG_n[c]) {
			na++
			part = c "/" ZREF[c] ": no data" (!CFGROWS[c] ? " (no " c " rows)" : !CFGROWS[ZREF[c]] ? " (no " ZREF[c] " rows)" : "")
		} else {
			g = ZGM[c]
			nmean++
			if (g < ZLO || g > ZHI)
				bad++
			if (g >= 1 / ZTIGHT && g <= ZTIGHT)
				ntight++
			if (ZG_n[c] < ZG_cases)
				na++
			lg = log(g)
			if (lg < 0)
				lg = -lg
			if (worst == "" || lg > wl) {
				worst = g
				wl = lg
			}
			part = sprintf("%s/%s %.3f (%d of %d cases, each %.2f-%.2f)", c, ZREF[c], g, ZG_n[c], ZG_cases, ZG_min[c], ZG_max[c])
		}
		d = d (d != "" ? "; " : "") part
	}
	if (!nzrows) {
		st = "n/a"
		d = "not evaluated: no zero-patch rows"
	} else {
		st = bad ? "missed" : na ? "n/a" : "holds"
		if (st == "n/a")
			d = "not evaluated, data missing: " d
		if (nmean)
			d = d sprintf("; within the tighter %.1f-%.2f: %d of %d", 1 / ZTIGHT, ZTIGHT, ntight, nmean)
	}
	add_target(id, sprintf("zero-patch %s within %.1f-%.1f x the patched path (p50, geometric mean over the one-thread MMIO and PIO cases; Debian 12 and sid QEMU)", (mode == "block" ? "blocking" : "polling"), ZLO, ZHI), st, worst, ZHI, d)
}
# "; CFG (information): worst R (size S)" of ratio_scan over the MMIO sizes.
function zp_info(op, cfg, ref) {
	ratio_scan(op, cfg, ref, 0)
	return "; " cfg " (information): " (SC_worst == "" ? "no data" : sprintf("worst %.3f (size %s)", SC_worst, SC_wsize))
}
# ZT1-ZT3: T1-T3 with zero-patch polling (QEMU 7.2, the stock and
# in-process rows are 7.2 too); the sid polling, and for ZT3 zero-patch
# blocking, as information.
function evaluate_zp_t(   sid, d) {
	evaluate_zp("Z1", "block")
	evaluate_zp("Z2", "poll")
	sid = CFGROWS["zp-sid-poll"] > 0
	ratio_target("ZT1", "zero-patch polling reads <= 0.25 x stock (T1)", "read", "zp-poll", "stock", 0.25,
		sid ? zp_info("read", "zp-sid-poll", "stock") : "")
	ratio_target("ZT2", "zero-patch polling reads <= 1.0 x in-process (T2)", "read", "zp-poll", "inproc", 1.0,
		sid ? zp_info("read", "zp-sid-poll", "inproc") : "")
	d = zp_info("write", "zp-block", "stock") (sid ? zp_info("write", "zp-sid-poll", "stock") : "")
	ratio_target("ZT3", "zero-patch posted writes <= 0.15 x stock (T3)", "write", "zp-poll", "stock", 0.15, d)
}

# Zero-patch blocks, one per space/op (threads=1): p50 and ops/s of the
# columns ZCOL, the ratios of each ZCFG over its ZREF on p50 (ZRAT) and on
# ops/s (ZRATOPS), and the geometric means of the p50 ratios (ZGM); then
# the throughput cases, MMIO 4 bytes at 1 and 2 threads, ops/s (ZTV, ZTR).
# None when no zero-patch row was read.
function collect_zp(   si, oi, b, S, m, r, ci, k, c, sp, op, s, x, t) {
	nzb = nztp = ZG_cases = 0
	for (k = 1; k <= nzcfg; k++) {
		c = ZCFG[k]
		ZG_sum[c] = ZG_n[c] = 0
		ZG_min[c] = ZG_max[c] = ZGM[c] = ""
	}
	if (!nzrows)
		return
	for (si = 1; si <= 2; si++) {
		for (oi = 1; oi <= 2; oi++) {
			b = ++nzb
			sp = SPACES[si]
			op = OPS[oi]
			ZB_space[b] = sp
			ZB_op[b] = op
			split("", S)
			m = sizes_of(sp, S)
			ZB_n[b] = m
			for (r = 1; r <= m; r++) {
				s = S[r]
				ZB_size[b, r] = s
				ZG_cases++
				for (ci = 1; ci <= nzcol; ci++) {
					ZL[b, r, ci] = val(ZCOL[ci], sp, op, s, 1, 7)
					ZO[b, r, ci] = val(ZCOL[ci], sp, op, s, 1, 10)
				}
				for (k = 1; k <= nzcfg; k++) {
					c = ZCFG[k]
					x = ratio(val(c, sp, op, s, 1, 7), val(ZREF[c], sp, op, s, 1, 7))
					ZRAT[b, r, k] = x
					ZRATOPS[b, r, k] = ratio(val(c, sp, op, s, 1, 10), val(ZREF[c], sp, op, s, 1, 10))
					if (x == "" || x + 0 <= 0)
						continue
					ZG_sum[c] += log(x)
					ZG_n[c]++
					if (ZG_min[c] == "" || x < ZG_min[c] + 0)
						ZG_min[c] = x
					if (ZG_max[c] == "" || x > ZG_max[c] + 0)
						ZG_max[c] = x
				}
			}
		}
	}
	for (k = 1; k <= nzcfg; k++)
		if (ZG_n[ZCFG[k]])
			ZGM[ZCFG[k]] = exp(ZG_sum[ZCFG[k]] / ZG_n[ZCFG[k]])
	for (oi = 1; oi <= 2; oi++) {
		for (t = 1; t <= 2; t++) {
			b = ++nztp
			ZT_op[b] = OPS[oi]
			ZT_thr[b] = t
			for (ci = 1; ci <= nzcol; ci++)
				ZTV[b, ci] = val(ZCOL[ci], "mmio", OPS[oi], 4, t, 10)
			for (k = 1; k <= nzcfg; k++)
				ZTR[b, k] = ratio(val(ZCFG[k], "mmio", OPS[oi], 4, t, 10), val(ZREF[ZCFG[k]], "mmio", OPS[oi], 4, t, 10))
		}
	}
}
function zt_access(b) { return "mmio " ZT_op[b] " 4B, " ZT_thr[b] " thread" (ZT_thr[b] > 1 ? "s" : "") }
# A zero-patch config without rows, in a run that has some.
function zp_missing(c) {
	return "no rows for " c ": its columns show \"-\"" (c ~ /^zp-sid-/ ? " (Debian sid QEMU: needs MPDEV_QEMU_CHROOT)" : " and " (c ~ /block$/ ? "Z1" : "Z2") " is N/A")
}

# Real-I/O blocks, one per disk space/op/size (normally 4096): IOPS, p50,
# p99 per config and the IOPS ratios.  None when no disk row was read.
function collect_disk(   si, oi, S, m, r, ci, b, sp, op) {
	ndb = 0
	if (!ndisk)
		return
	for (si = 1; si <= ndsp; si++) {
		sp = DSPACES[si]
		split("", S)
		m = sizes_of(sp, S)
		for (oi = 1; oi <= 2; oi++) {
			op = DOPS[oi]
			for (r = 1; r <= m; r++) {
				b = ++ndb
				DB_space[b] = sp
				DB_op[b] = op
				DB_size[b] = S[r]
				for (ci = 1; ci <= ncfg; ci++) {
					DV[b, ci, 1] = val(CFG[ci], sp, op, S[r], 1, 10)
					DV[b, ci, 2] = val(CFG[ci], sp, op, S[r], 1, 7)
					DV[b, ci, 3] = val(CFG[ci], sp, op, S[r], 1, 8)
				}
				DR[b, 1] = ratio(DV[b, CFGIDX["mpdev-poll"], 1], DV[b, CFGIDX["stock"], 1])
				DR[b, 2] = ratio(DV[b, CFGIDX["mpdev-block"], 1], DV[b, CFGIDX["stock"], 1])
				DR[b, 3] = ratio(DV[b, CFGIDX["mpdev-poll"], 1], DV[b, CFGIDX["inproc"], 1])
			}
		}
	}
}
function sizename(s) { return (s == 4096) ? "4 KiB" : s " bytes" }

# NVMe blocks, one per queue depth/op/size (normally 4096), QD1 first:
# IOPS, p50, p99 per NVMe config and the IOPS ratios.  None when no
# nvme-null row was read.
function collect_nvme(   q, oi, S, m, r, ci, b, op, qd) {
	nnb = 0
	if (!nnvme)
		return
	split("", S)
	m = sizes_of(NSPACE, S)
	for (q = 1; q <= nnqd; q++) {
		qd = NQD[q]
		for (oi = 1; oi <= 2; oi++) {
			op = DOPS[oi]
			for (r = 1; r <= m; r++) {
				b = ++nnb
				NB_op[b] = op
				NB_size[b] = S[r]
				NB_qd[b] = qd
				for (ci = 1; ci <= nncfg; ci++) {
					NV[b, ci, 1] = val(NCFG[ci], NSPACE, op, S[r], qd, 10)
					NV[b, ci, 2] = val(NCFG[ci], NSPACE, op, S[r], qd, 7)
					NV[b, ci, 3] = val(NCFG[ci], NSPACE, op, S[r], qd, 8)
				}
				NRAT[b, 1] = ratio(NV[b, NCFGIDX["mpdev-poll"], 1], NV[b, NCFGIDX["inproc"], 1])
				NRAT[b, 2] = ratio(NV[b, NCFGIDX["mpdev-poll"], 1], NV[b, NCFGIDX["inproc-ioeventfd"], 1])
				NRAT[b, 3] = ratio(NV[b, NCFGIDX["mpdev-block"], 1], NV[b, NCFGIDX["inproc"], 1])
			}
		}
	}
}
# "randread QD1", "randwrite 512 bytes QD16": the short name of an NVMe block.
function nvme_case(b) {
	return NB_op[b] (NB_size[b] == 4096 ? "" : " " sizename(NB_size[b])) " QD" NB_qd[b]
}

# Latency blocks (threads=1) and throughput entries, for every output.
function collect(   si, oi, b, S, m, r, ci, c, sp, op, k) {
	nblk = 0
	for (si = 1; si <= 2; si++) {
		for (oi = 1; oi <= 2; oi++) {
			b = ++nblk
			BLK_space[b] = SPACES[si]
			BLK_op[b] = OPS[oi]
			split("", S)
			m = sizes_of(SPACES[si], S)
			BLK_n[b] = m
			for (r = 1; r <= m; r++) {
				BLK_size[b, r] = S[r]
				for (ci = 1; ci <= ncfg; ci++) {
					LAT[b, r, ci, 1] = val(CFG[ci], SPACES[si], OPS[oi], S[r], 1, 7)
					LAT[b, r, ci, 2] = val(CFG[ci], SPACES[si], OPS[oi], S[r], 1, 8)
				}
				RAT[b, r, 1] = ratio(LAT[b, r, CFGIDX["mpdev-poll"], 1], LAT[b, r, CFGIDX["stock"], 1])
				RAT[b, r, 2] = ratio(LAT[b, r, CFGIDX["mpdev-block"], 1], LAT[b, r, CFGIDX["stock"], 1])
				RAT[b, r, 3] = ratio(LAT[b, r, CFGIDX["mpdev-poll"], 1], LAT[b, r, CFGIDX["inproc"], 1])
			}
		}
	}
	ntp = 0
	for (ci = 1; ci <= ncfg + nzcfg; ci++) {
		c = (ci <= ncfg) ? CFG[ci] : ZCFG[ci - ncfg]
		for (si = 1; si <= 2; si++) {
			sp = SPACES[si]
			split("", S)
			m = sizes_of(sp, S)
			for (oi = 1; oi <= 2; oi++) {
				op = OPS[oi]
				for (r = 1; r <= m; r++) {
					k = c SUBSEP sp SUBSEP op SUBSEP S[r] SUBSEP 2
					if (!(k in ROW))
						continue
					ntp++
					TP_cfg[ntp] = c
					TP_space[ntp] = sp
					TP_op[ntp] = op
					TP_size[ntp] = S[r]
					TP_1[ntp] = val(c, sp, op, S[r], 1, 10)
					TP_2[ntp] = val(c, sp, op, S[r], 2, 10)
					TP_scale[ntp] = ratio(TP_2[ntp], TP_1[ntp])
				}
			}
		}
	}
}

# ---------------------------------------------------------- console
function center(s, w,   l) {
	l = int((w - length(s)) / 2)
	return rep(" ", l) s rep(" ", w - length(s) - l)
}
function rstrip(s) {
	sub(/ +$/, "", s)
	return s
}
function print_console(   i, b, r, ci, line, k, have, c) {
	printf "Nested-guest benchmark report: %s\n", DIRNAME
	line = ""
	for (i = 1; i <= nmeta; i++)
		if (MKEY[i] != "note")
			line = line (line != "" ? ", " : "") MKEY[i] "=" META[MKEY[i]]
	if (line != "")
		print line
	if ("note" in META)
		print "note: " META["note"]
	for (i = 1; i <= ncfg; i++)
		printf "  %-12s %s\n", CFG[i], LABEL[CFG[i]]
	for (i = 1; i <= ncfg; i++)
		if (!CFGROWS[CFG[i]])
			printf "MISSING: no rows for %s: its columns show \"-\" and the targets that need it are N/A\n", CFG[i]

	for (b = 1; b <= nblk; b++) {
		printf "\n== %s %s: p50 and p99 per access in µs; ratios on p50 (< 1: mpdev faster)\n", toupper(BLK_space[b]), opname(BLK_op[b])
		line = "    "
		for (ci = 1; ci <= ncfg; ci++)
			line = line " " center(CFG[ci], 17)
		print rstrip(line)
		line = "size"
		for (ci = 1; ci <= ncfg; ci++)
			line = line sprintf(" %8s %8s", "p50", "p99")
		for (k = 1; k <= 3; k++)
			line = line sprintf(" %11s", RATHDR[k])
		print line
		for (r = 1; r <= BLK_n[b]; r++) {
			line = sprintf("%-4s", BLK_size[b, r])
			for (ci = 1; ci <= ncfg; ci++)
				line = line sprintf(" %8s %8s", us(LAT[b, r, ci, 1]), us(LAT[b, r, ci, 2]))
			for (k = 1; k <= 3; k++)
				line = line sprintf(" %11s", fmt(RAT[b, r, k], "%.2f"))
			print line
		}
	}

	printf "\n== Throughput (ops/s; scale = 2 threads / 1 thread)\n"
	if (!ntp)
		print "(no threads=2 rows)"
	else
		printf "%-12s %-14s %10s %10s %6s\n", "config", "access", "1 thread", "2 threads", "scale"
	for (i = 1; i <= ntp; i++)
		printf "%-12s %-14s %10s %10s %6s\n", TP_cfg[i], tp_access(i), fmt(TP_1[i], "%.0f"), fmt(TP_2[i], "%.0f"), fmt(TP_scale[i], "%.2f")

	print_zp()
	print_disk()
	print_nvme()

	print_targets("T", "Targets (p50, MMIO, threads=1 except T4; reported, not enforced)", 3)
	print_targets("Z", "Zero-patch targets (p50, threads=1; Z1, Z2 MMIO and PIO, ZT1-ZT3 MMIO; reported, not enforced)", 4)
	print_targets("D", "Disk targets (IOPS, disk-null, 4 KiB at queue depth 1; reported, not enforced)", 3)
	print_targets("N", "NVMe targets (IOPS, nvme-null, 4 KiB at queue depth 1; reported, not enforced)", 3)

	if (!have_checks)
		printf "\n== Sanity checks: no checks.tsv, none evaluated\n"
	else {
		printf "\n== Sanity checks (checks.tsv): %d ok, %d FAIL\n", nchk - nfail, nfail
		for (i = 1; i <= nchk; i++)
			printf "%-4s  %s%s\n", CHK_ok[i] ? "ok" : "FAIL", CHK_name[i], CHK_detail[i] != "" ? ": " CHK_detail[i] : ""
	}
}
function tp_access(i) { return TP_space[i] " " TP_op[i] " " TP_size[i] "B" }
function print_zp(   b, r, ci, k, line) {
	if (!nzrows) {
		printf "\n== Zero-patch (%s): no rows, not measured in this run\n", ZLIST
		return
	}
	print "\n== Zero-patch: mpqemu-run --zero-patch, an unmodified Debian QEMU as the VMM, against the patched VMM of the same run"
	for (k = 1; k <= nzcfg; k++)
		printf "   %-12s %s (over %s)\n", ZCFG[k], LABEL[ZCFG[k]], ZREF[ZCFG[k]]
	for (k = 1; k <= nzcfg; k++)
		if (!CFGROWS[ZCFG[k]])
			printf "MISSING: %s\n", zp_missing(ZCFG[k])
	for (b = 1; b <= nzb; b++) {
		printf "\n== ZERO-PATCH %s %s: p50 per access in µs; ratios zero-patch / patched on p50 (< 1: zero-patch faster)\n", toupper(ZB_space[b]), opname(ZB_op[b])
		line = "size"
		for (ci = 1; ci <= nzcol; ci++)
			line = line sprintf(" %12s", ZCOL[ci])
		for (k = 1; k <= nzcfg; k++)
			line = line sprintf(" %9s", ZRATHDR[k])
		print line
		for (r = 1; r <= ZB_n[b]; r++) {
			line = sprintf("%-4s", ZB_size[b, r])
			for (ci = 1; ci <= nzcol; ci++)
				line = line sprintf(" %12s", us(ZL[b, r, ci]))
			for (k = 1; k <= nzcfg; k++)
				line = line sprintf(" %9s", fmt(ZRAT[b, r, k], "%.2f"))
			print line
		}
	}
	printf "\n== ZERO-PATCH throughput, MMIO 4 bytes: ops/s; ratios zero-patch / patched on ops/s (> 1: zero-patch faster)\n"
	line = sprintf("%-22s", "access")
	for (ci = 1; ci <= nzcol; ci++)
		line = line sprintf(" %12s", ZCOL[ci])
	for (k = 1; k <= nzcfg; k++)
		line = line sprintf(" %9s", ZRATHDR[k])
	print line
	for (b = 1; b <= nztp; b++) {
		line = sprintf("%-22s", zt_access(b))
		for (ci = 1; ci <= nzcol; ci++)
			line = line sprintf(" %12s", fmt(ZTV[b, ci], "%.0f"))
		for (k = 1; k <= nzcfg; k++)
			line = line sprintf(" %9s", fmt(ZTR[b, k], "%.2f"))
		print line
	}
	line = sprintf("\nGeometric mean of the p50 ratios over the %d one-thread cases:", ZG_cases)
	for (k = 1; k <= nzcfg; k++)
		line = line sprintf(" %s %s%s", ZRATHDR[k], fmt(ZGM[ZCFG[k]], "%.3f"), (k < nzcfg ? "," : ""))
	print line
}
function print_disk(   b, ci, k, line) {
	if (!ndisk) {
		printf "\n== Real I/O (disk-null, disk-raw): no rows, not measured in this run\n"
		return
	}
	printf "\n== Real I/O: the guest'"'"'s own drivers on an lsi53c895a SCSI disk, random O_DIRECT I/O at queue depth 1\n"
	for (k = 1; k <= ndsp; k++)
		printf "   %s: %s\n", DSPACES[k], DBACKING[DSPACES[k]]
	print "   inproc: the same lsi53c895a in the VMM QEMU itself"
	for (b = 1; b <= ndb; b++) {
		printf "\n== %s %s, %s at QD1: IOPS, p50 and p99 per I/O in µs; ratios on IOPS (> 1: mpdev faster)\n", toupper(DB_space[b]), DB_op[b], sizename(DB_size[b])
		printf "%-12s %9s %9s %9s\n", "config", "IOPS", "p50", "p99"
		for (ci = 1; ci <= ncfg; ci++)
			printf "%-12s %9s %9s %9s\n", CFG[ci], fmt(DV[b, ci, 1], "%.0f"), us(DV[b, ci, 2]), us(DV[b, ci, 3])
		line = "IOPS ratios (> 1: mpdev faster):"
		for (k = 1; k <= 3; k++)
			line = line sprintf(" %s %s", RATHDR[k], fmt(DR[b, k], "%.2f"))
		print line
	}
}

# A config of NCFG without any nvme-null row (in a run that has some).
function nvme_missing(c) {
	return "no " NSPACE " rows for " c ": its cells show \"-\"" ((c == "mpdev-poll" || c == "inproc") ? " and N1 is N/A" : "")
}
function print_nvme(   b, ci, k, line) {
	if (!nnvme) {
		printf "\n== NVMe (%s): no rows, not measured in this run\n", NSPACE
		return
	}
	printf "\n== NVMe: the guest'"'"'s own nvme driver on QEMU'"'"'s nvme device, random O_DIRECT I/O at queue depth 1 and 16\n"
	printf "   %s: %s\n", NSPACE, NBACKING
	print "   " NOSTOCK
	print "   inproc: " NLABEL["inproc"]
	print "   inproc-ioeventfd: " NLABEL["inproc-ioeventfd"]
	for (ci = 1; ci <= nncfg; ci++)
		if (!NROWS[NCFG[ci]])
			printf "MISSING: %s\n", nvme_missing(NCFG[ci])
	for (b = 1; b <= nnb; b++) {
		printf "\n== %s %s, %s at QD%d: IOPS, p50 and p99 per I/O in µs; ratios on IOPS (> 1: mpdev faster)\n", toupper(NSPACE), NB_op[b], sizename(NB_size[b]), NB_qd[b]
		printf "%-16s %9s %9s %9s\n", "config", "IOPS", "p50", "p99"
		for (ci = 1; ci <= nncfg; ci++)
			printf "%-16s %9s %9s %9s\n", NCFG[ci], fmt(NV[b, ci, 1], "%.0f"), us(NV[b, ci, 2]), us(NV[b, ci, 3])
		line = "IOPS ratios (> 1: mpdev faster):"
		for (k = 1; k <= 3; k++)
			line = line sprintf(" %s %s", NRATHDR[k], fmt(NRAT[b, k], "%.2f"))
		print line
	}
}

# ---------------------------------------------------------- files
function write_json(   i, k, b, r, sep) {
	printf "{\n  \"meta\": {" > JSONF
	for (i = 1; i <= nmeta; i++)
		printf "%s%s: %s", (i > 1 ? ", " : ""), jstr(MKEY[i]), jstr(META[MKEY[i]]) > JSONF
	printf "},\n  \"results\": [" > JSONF
	for (i = 1; i <= nres; i++) {
		printf "%s\n    {", (i > 1 ? "," : "") > JSONF
		for (k = 1; k <= 10; k++)
			printf "%s\"%s\": %s", (k > 1 ? ", " : ""), RESNAME[k], (k <= 3 ? jstr(RES[i, k]) : jnum(RES[i, k])) > JSONF
		printf "}" > JSONF
	}
	printf "%s],\n  \"ratios\": [", (nres ? "\n  " : "") > JSONF
	sep = ""
	for (b = 1; b <= nblk; b++) {
		for (r = 1; r <= BLK_n[b]; r++) {
			printf "%s\n    {\"space\": %s, \"op\": %s, \"size\": %s", sep, jstr(BLK_space[b]), jstr(BLK_op[b]), jnum(BLK_size[b, r]) > JSONF
			for (k = 1; k <= 3; k++)
				printf ", \"%s\": %s", RATNAME[k], jround(RAT[b, r, k], 4) > JSONF
			printf "}" > JSONF
			sep = ","
		}
	}
	printf "%s],\n  \"throughput\": [", (sep != "" ? "\n  " : "") > JSONF
	for (i = 1; i <= ntp; i++)
		printf "%s\n    {\"config\": %s, \"space\": %s, \"op\": %s, \"size\": %s, \"ops_1t\": %s, \"ops_2t\": %s, \"scale\": %s}", (i > 1 ? "," : ""), jstr(TP_cfg[i]), jstr(TP_space[i]), jstr(TP_op[i]), jnum(TP_size[i]), jnum(TP_1[i]), jnum(TP_2[i]), jround(TP_scale[i], 4) > JSONF
	printf "%s],\n  \"disk\": [", (ntp ? "\n  " : "") > JSONF
	for (b = 1; b <= ndb; b++) {
		printf "%s\n    {\"space\": %s, \"op\": %s, \"size\": %s, \"queue_depth\": 1", (b > 1 ? "," : ""), jstr(DB_space[b]), jstr(DB_op[b]), jnum(DB_size[b]) > JSONF
		for (k = 1; k <= 3; k++) {
			printf ", \"%s\": {", DVNAME[k] > JSONF
			for (i = 1; i <= ncfg; i++)
				printf "%s%s: %s", (i > 1 ? ", " : ""), jstr(CFG[i]), jnum(DV[b, i, k]) > JSONF
			printf "}" > JSONF
		}
		for (k = 1; k <= 3; k++)
			printf ", \"%s\": %s", RATNAME[k], jround(DR[b, k], 4) > JSONF
		printf "}" > JSONF
	}
	printf "%s],\n  \"nvme\": [", (ndb ? "\n  " : "") > JSONF
	for (b = 1; b <= nnb; b++) {
		printf "%s\n    {\"space\": %s, \"op\": %s, \"size\": %s, \"queue_depth\": %s", (b > 1 ? "," : ""), jstr(NSPACE), jstr(NB_op[b]), jnum(NB_size[b]), jnum(NB_qd[b]) > JSONF
		for (k = 1; k <= 3; k++) {
			printf ", \"%s\": {", DVNAME[k] > JSONF
			for (i = 1; i <= nncfg; i++)
				printf "%s%s: %s", (i > 1 ? ", " : ""), jstr(NCFG[i]), jnum(NV[b, i, k]) > JSONF
			printf "}" > JSONF
		}
		for (k = 1; k <= 3; k++)
			printf ", \"%s\": %s", NRATNAME[k], jround(NRAT[b, k], 4) > JSONF
		printf "}" > JSONF
	}
	printf "%s],\n  \"zero_patch\": [", (nnb ? "\n  " : "") > JSONF
	sep = ""
	for (b = 1; b <= nzb; b++)
		for (r = 1; r <= ZB_n[b]; r++) {
			printf "%s\n    {\"space\": %s, \"op\": %s, \"size\": %s, \"threads\": 1", sep, jstr(ZB_space[b]), jstr(ZB_op[b]), jnum(ZB_size[b, r]) > JSONF
			zp_json_obj("p50_ns", b, r, ZL)
			zp_json_obj("ops_per_s", b, r, ZO)
			zp_json_rat("p50_ratio", b, r, ZRAT)
			zp_json_rat("ops_ratio", b, r, ZRATOPS)
			printf "}" > JSONF
			sep = ","
		}
	# the two-thread cases (the one-thread ones are above)
	for (b = 1; b <= nztp; b++) {
		if (ZT_thr[b] == 1)
			continue
		printf "%s\n    {\"space\": \"mmio\", \"op\": %s, \"size\": 4, \"threads\": %d", sep, jstr(ZT_op[b]), ZT_thr[b] > JSONF
		printf ", \"ops_per_s\": {" > JSONF
		for (i = 1; i <= nzcol; i++)
			printf "%s%s: %s", (i > 1 ? ", " : ""), jstr(ZCOL[i]), jnum(ZTV[b, i]) > JSONF
		printf "}" > JSONF
		printf ", \"ops_ratio\": {" > JSONF
		for (k = 1; k <= nzcfg; k++)
			printf "%s%s: %s", (k > 1 ? ", " : ""), jstr(ZCFG[k]), jround(ZTR[b, k], 4) > JSONF
		printf "}" > JSONF
		printf "}" > JSONF
		sep = ","
	}
	printf "%s],\n  \"zero_patch_geomean\": {", (sep != "" ? "\n  " : "") > JSONF
	for (k = 1; k <= nzcfg; k++)
		printf "%s%s: {\"vs\": %s, \"p50_ratio\": %s, \"cases\": %d}", (k > 1 ? ", " : ""), jstr(ZCFG[k]), jstr(ZREF[ZCFG[k]]), jround(ZGM[ZCFG[k]], 4), ZG_n[ZCFG[k]] > JSONF
	printf "},\n  \"targets\": [" > JSONF
	for (i = 1; i <= nt; i++)
		printf "%s\n    {\"id\": %s, \"text\": %s, \"status\": %s, \"value\": %s, \"limit\": %s, \"detail\": %s}", (i > 1 ? "," : ""), jstr(T_id[i]), jstr(T_text[i]), jstr(T_status[i]), jround(T_value[i], 4), jnum(T_limit[i]), jstr(T_detail[i]) > JSONF
	printf "%s],\n  \"checks\": [", (nt ? "\n  " : "") > JSONF
	for (i = 1; i <= nchk; i++)
		printf "%s\n    {\"name\": %s, \"ok\": %s, \"detail\": %s}", (i > 1 ? "," : ""), jstr(CHK_name[i]), (CHK_ok[i] ? "true" : "false"), jstr(CHK_detail[i]) > JSONF
	printf "%s]\n}\n", (nchk ? "\n  " : "") > JSONF
	close(JSONF)
}

# "NAME": {config: value} over ZCOL, of the zero-patch block b, row r.
function zp_json_obj(name, b, r, A,   i) {
	printf ", \"%s\": {", name > JSONF
	for (i = 1; i <= nzcol; i++)
		printf "%s%s: %s", (i > 1 ? ", " : ""), jstr(ZCOL[i]), jnum(A[b, r, i]) > JSONF
	printf "}" > JSONF
}
# "NAME": {zero-patch config: ratio} over ZCFG.
function zp_json_rat(name, b, r, A,   k) {
	printf ", \"%s\": {", name > JSONF
	for (k = 1; k <= nzcfg; k++)
		printf "%s%s: %s", (k > 1 ? ", " : ""), jstr(ZCFG[k]), jround(A[b, r, k], 4) > JSONF
	printf "}" > JSONF
}

# gnuplot data: MMIO reads (index 0) and writes (index 1), p50 in us,
# "-" where there is no (positive: log scale) value.
function write_dat(   b, r, ci, v, line, o, c, q, nidx) {
	o = 0
	for (b = 1; b <= nblk; b++) {
		if (BLK_space[b] != "mmio")
			continue
		if (o++)
			printf "\n\n" > DATF
		printf "# MMIO %s, p50 per access in us: size", opname(BLK_op[b]) > DATF
		for (ci = 1; ci <= ncfg + nzcfg; ci++)
			printf " %s", (ci <= ncfg ? CFG[ci] : ZCFG[ci - ncfg]) > DATF
		printf "\n" > DATF
		for (r = 1; r <= BLK_n[b]; r++) {
			line = BLK_size[b, r]
			for (ci = 1; ci <= ncfg + nzcfg; ci++) {
				v = (ci <= ncfg) ? LAT[b, r, ci, 1] : val(ZCFG[ci - ncfg], "mmio", BLK_op[b], BLK_size[b, r], 1, 7)
				if (v != "" && v + 0 > 0) {
					line = line " " sprintf("%.3f", v / 1000)
					CHART[BLK_op[b], ci] = 1
				} else
					line = line " -"
			}
			print line > DATF
		}
	}
	# Real I/O: disk-null (index 2) and disk-raw (index 3), IOPS per op
	# (linear scale, so 0 is a value).
	for (o = 1; ndb && o <= ndsp; o++) {
		printf "\n\n# %s, IOPS (4 KiB random, queue depth 1): op", DSPACES[o] > DATF
		for (ci = 1; ci <= ncfg; ci++)
			printf " %s", CFG[ci] > DATF
		printf "\n" > DATF
		for (b = 1; b <= ndb; b++) {
			if (DB_space[b] != DSPACES[o])
				continue
			line = DB_op[b] (DB_size[b] == 4096 ? "" : "-" DB_size[b])
			for (ci = 1; ci <= ncfg; ci++) {
				v = DV[b, ci, 1]
				if (v != "") {
					line = line " " sprintf("%.1f", v)
					CHART[DSPACES[o], ci] = 1
				} else
					line = line " -"
			}
			print line > DATF
		}
	}
	# NVMe: the indices after those, one per queue depth (1, 16), IOPS
	# per op.
	nidx = 2 + (ndb ? ndsp : 0)
	for (q = 1; nnb && q <= nnqd; q++) {
		printf "\n\n# %s, IOPS (4 KiB random, queue depth %d): op", NSPACE, NQD[q] > DATF
		for (ci = 1; ci <= nncfg; ci++)
			printf " %s", NCFG[ci] > DATF
		printf "\n" > DATF
		for (b = 1; b <= nnb; b++) {
			if (NB_qd[b] != NQD[q])
				continue
			line = NB_op[b] (NB_size[b] == 4096 ? "" : "-" NB_size[b])
			for (ci = 1; ci <= nncfg; ci++) {
				v = NV[b, ci, 1]
				if (v != "") {
					line = line " " sprintf("%.1f", v)
					CHART["nvme", NQD[q], ci] = 1
				} else
					line = line " -"
			}
			print line > DATF
		}
	}
	close(DATF)
	# The bars: each zero-patch pair beside its patched config.
	split("1 2 5 6 3 7 8 4", CHORD, " ")
	for (o = 1; o <= 2; o++) {
		line = ""
		for (c = 1; c <= ncfg + nzcfg; c++)
			if ((OPS[o], (ci = CHORD[c] + 0)) in CHART) {
				line = line " " ci
				if (ci > ncfg)
					CHART["zp"] = 1
			}
		printf "chart_%s=%s\n", OPS[o], trim(line) > STATF
	}
	printf "chart_zp=%d\n", ("zp" in CHART) > STATF
	printf "chart_disk=%d\n", (ndb > 0) > STATF
	for (o = 1; o <= ndsp; o++) {
		line = ""
		for (ci = 1; ci <= ncfg; ci++)
			if ((DSPACES[o], ci) in CHART)
				line = line " " ci
		printf "chart_%s=%s\n", DSPACES[o], trim(line) > STATF
	}
	printf "chart_nvme=%d\nchart_nvme_index=%d\n", (nnb > 0), nidx > STATF
	for (q = 1; q <= nnqd; q++) {
		line = ""
		for (ci = 1; ci <= nncfg; ci++)
			if (("nvme", NQD[q], ci) in CHART)
				line = line " " ci
		printf "chart_nvme_qd%d=%s\n", NQD[q], trim(line) > STATF
	}
}

function write_rst(   i, b, r, ci, k, n, line) {
	print "Generated by ``scripts/bench-report.sh`` from the run'"'"'s raw files;" > RSTF
	print "do not edit by hand." > RSTF
	print "" > RSTF
	n = 0
	for (i = 1; i <= nmf; i++)
		if (MFIELD[i] in META) {
			printf ":%s: %s\n", MFNAME[i], rst_esc(META[MFIELD[i]]) > RSTF
			n++
		}
	for (i = 1; i <= nmeta; i++)
		if (!(MKEY[i] in MFKNOWN) && MKEY[i] ~ /^[A-Za-z0-9][A-Za-z0-9_. -]*$/) {
			printf ":%s: %s\n", rst_esc(MKEY[i]), rst_esc(META[MKEY[i]]) > RSTF
			n++
		}
	if (n)
		print "" > RSTF
	for (i = 1; i <= ncfg; i++)
		if (!CFGROWS[CFG[i]])
			printf "**No results for %s** (%s): its cells show \"-\".\n\n", CFG[i], LABEL[CFG[i]] > RSTF

	print "Latency per access, p50 / p99 in microseconds; the ratios are on p50" > RSTF
	print "(< 1: mpdev is faster).  Configurations:" > RSTF
	for (i = 1; i <= ncfg; i++)
		printf "``%s`` = %s%s\n", CFG[i], LABEL[CFG[i]], (i < ncfg ? "," : ".") > RSTF
	print "" > RSTF

	for (b = 1; b <= nblk; b++) {
		printf "**%s %s**\n\n", toupper(BLK_space[b]), opname(BLK_op[b]) > RSTF
		split("", TB)
		TB[0, 1] = "Size"
		for (ci = 1; ci <= ncfg; ci++)
			TB[0, ci + 1] = CFG[ci]
		for (k = 1; k <= 3; k++)
			TB[0, ncfg + 1 + k] = RATHDR[k]
		for (r = 1; r <= BLK_n[b]; r++) {
			TB[r, 1] = BLK_size[b, r]
			for (ci = 1; ci <= ncfg; ci++)
				TB[r, ci + 1] = us(LAT[b, r, ci, 1]) " / " us(LAT[b, r, ci, 2])
			for (k = 1; k <= 3; k++)
				TB[r, ncfg + 1 + k] = fmt(RAT[b, r, k], "%.2f")
		}
		rst_table(BLK_n[b], ncfg + 4)
	}

	# A list, not a table: the measured text is long.
	rst_targets("T", "**Targets** (p50, MMIO; reported, not enforced)")

	print "**Throughput**, one thread against two (ops/s)" > RSTF
	print "" > RSTF
	if (!ntp)
		print "No threads=2 rows.\n" > RSTF
	else {
		split("", TB)
		TB[0, 1] = "Config"
		TB[0, 2] = "Access"
		TB[0, 3] = "1 thread"
		TB[0, 4] = "2 threads"
		TB[0, 5] = "Scale"
		for (i = 1; i <= ntp; i++) {
			TB[i, 1] = TP_cfg[i]
			TB[i, 2] = tp_access(i)
			TB[i, 3] = fmt(TP_1[i], "%.0f")
			TB[i, 4] = fmt(TP_2[i], "%.0f")
			TB[i, 5] = fmt(TP_scale[i], "%.2f")
		}
		rst_table(ntp, 5)
	}

	write_rst_zp()
	write_rst_disk()
	write_rst_nvme()

	if (!have_checks)
		print "Sanity checks: none recorded (no ``checks.tsv``)." > RSTF
	else if (!nfail)
		printf "Sanity checks: all %d held.\n", nchk > RSTF
	else {
		printf "**Sanity checks: %d of %d FAILED** -- these numbers are suspect:\n\n", nfail, nchk > RSTF
		for (i = 1; i <= nchk; i++)
			if (!CHK_ok[i])
				printf "* %s\n", rst_esc(CHK_name[i] (CHK_detail[i] != "" ? ": " CHK_detail[i] : "")) > RSTF
	}
	close(RSTF)
}

# Zero-patch: a p50 table per space/op, the throughput ratios, the
# geometric means and the Z targets.
function write_rst_zp(   i, b, r, ci, k, line) {
	if (!nzrows)
		printf "**Zero-patch**: no %s rows in this run.\n\n", ZLIST > RSTF
	else {
		print "**Zero-patch**: ``mpqemu-run --zero-patch``, an unmodified Debian QEMU as" > RSTF
		print "the VMM, the same remote and steps, against the patched VMM of the same" > RSTF
		print "run: ``zp-block`` and ``zp-poll`` (Debian 12 QEMU) and ``zp-sid-block``" > RSTF
		print "and ``zp-sid-poll`` (Debian sid QEMU) over ``mpdev-block`` and" > RSTF
		print "``mpdev-poll``.  p50 per access in microseconds (p99 in ``bench.json``);" > RSTF
		print "the ratios are zero-patch / patched on p50 (1: the same, < 1:" > RSTF
		print "zero-patch faster)." > RSTF
		print "" > RSTF
		for (k = 1; k <= nzcfg; k++)
			if (!CFGROWS[ZCFG[k]])
				printf "**No results for %s** (%s): its cells show \"-\".\n\n", ZCFG[k], LABEL[ZCFG[k]] > RSTF
		for (b = 1; b <= nzb; b++) {
			printf "**Zero-patch %s %s**\n\n", toupper(ZB_space[b]), opname(ZB_op[b]) > RSTF
			split("", TB)
			TB[0, 1] = "Size"
			for (ci = 1; ci <= nzcol; ci++)
				TB[0, ci + 1] = ZCOL[ci]
			for (k = 1; k <= nzcfg; k++)
				TB[0, nzcol + 1 + k] = ZRATHDR[k]
			for (r = 1; r <= ZB_n[b]; r++) {
				TB[r, 1] = ZB_size[b, r]
				for (ci = 1; ci <= nzcol; ci++)
					TB[r, ci + 1] = us(ZL[b, r, ci])
				for (k = 1; k <= nzcfg; k++)
					TB[r, nzcol + 1 + k] = fmt(ZRAT[b, r, k], "%.2f")
			}
			rst_table(ZB_n[b], nzcol + 1 + nzcfg)
		}
		print "**Zero-patch throughput**, MMIO 4 bytes, ops/s; ratios zero-patch /" > RSTF
		print "patched on ops/s (> 1: zero-patch faster)" > RSTF
		print "" > RSTF
		split("", TB)
		TB[0, 1] = "Access"
		for (ci = 1; ci <= nzcol; ci++)
			TB[0, ci + 1] = ZCOL[ci]
		for (k = 1; k <= nzcfg; k++)
			TB[0, nzcol + 1 + k] = ZRATHDR[k]
		for (b = 1; b <= nztp; b++) {
			TB[b, 1] = zt_access(b)
			for (ci = 1; ci <= nzcol; ci++)
				TB[b, ci + 1] = fmt(ZTV[b, ci], "%.0f")
			for (k = 1; k <= nzcfg; k++)
				TB[b, nzcol + 1 + k] = fmt(ZTR[b, k], "%.2f")
		}
		rst_table(nztp, nzcol + 1 + nzcfg)
		line = sprintf("Geometric mean of the p50 ratios over the %d one-thread cases:", ZG_cases)
		for (k = 1; k <= nzcfg; k++)
			line = line sprintf(" %s %s%s", ZRATHDR[k], fmt(ZGM[ZCFG[k]], "%.3f"), (k < nzcfg ? "," : "."))
		print line "\n" > RSTF
	}
	rst_targets("Z", "**Zero-patch targets** (p50, threads=1; reported, not enforced)")
}

# Real I/O: one small table per disk space/op/size, configs as rows.
function write_rst_disk(   i, b, ci, k, line) {
	if (!ndb)
		print "**Real I/O**: no disk-null or disk-raw rows in this run.\n" > RSTF
	else {
		print "**Real I/O**: the nested guest'"'"'s own drivers on an ``lsi53c895a`` SCSI" > RSTF
		print "disk, random O_DIRECT I/O at queue depth 1; ``disk-null`` is a ``null-co``" > RSTF
		print "backing (the dispatch cost), ``disk-raw`` a raw image file; ``inproc`` is" > RSTF
		print "the same LSI in the VMM QEMU.  IOPS, p50 / p99 per I/O in microseconds;" > RSTF
		print "the ratios are on IOPS (> 1: mpdev does more I/O per second)." > RSTF
		print "" > RSTF
		for (b = 1; b <= ndb; b++) {
			printf "**%s %s**, %s\n\n", DB_space[b], DB_op[b], sizename(DB_size[b]) > RSTF
			split("", TB)
			TB[0, 1] = "Config"
			TB[0, 2] = "IOPS"
			TB[0, 3] = "p50 / p99"
			for (ci = 1; ci <= ncfg; ci++) {
				TB[ci, 1] = CFG[ci]
				TB[ci, 2] = fmt(DV[b, ci, 1], "%.0f")
				TB[ci, 3] = us(DV[b, ci, 2]) " / " us(DV[b, ci, 3])
			}
			rst_table(ncfg, 3)
			line = "IOPS ratios:"
			for (k = 1; k <= 3; k++)
				line = line sprintf(" %s %s%s", RATHDR[k], fmt(DR[b, k], "%.2f"), (k < 3 ? "," : "."))
			print line "\n" > RSTF
		}
	}
	rst_targets("D", "**Disk targets** (IOPS, disk-null, 4 KiB at queue depth 1; reported, not enforced)")
}

# NVMe: one table, configs as rows and a column per queue depth/op/size,
# then the IOPS ratios the same way.
function write_rst_nvme(   i, b, ci, k) {
	if (!nnvme)
		printf "**NVMe**: no %s rows in this run.\n\n", NSPACE > RSTF
	else {
		print "**NVMe**: the nested guest'"'"'s own ``nvme`` driver on QEMU'"'"'s ``nvme``" > RSTF
		print "device with a ``null-co`` backing, random O_DIRECT I/O at queue depth 1" > RSTF
		print "and 16; ``inproc`` is the same device in the VMM QEMU (``ioeventfd=off``," > RSTF
		print "QEMU'"'"'s default), ``inproc-ioeventfd`` the same with ``ioeventfd=on`` for" > RSTF
		print "its doorbells.  Stock multi-process: cannot run nvme (no MSI-X in stock" > RSTF
		print "``x-pci-proxy-dev``).  Each cell: IOPS (p50 / p99 per I/O in" > RSTF
		print "microseconds)." > RSTF
		print "" > RSTF
		for (ci = 1; ci <= nncfg; ci++)
			if (!NROWS[NCFG[ci]])
				printf "**No %s results for %s**: its cells show \"-\".\n\n", NSPACE, NCFG[ci] > RSTF
		k = 1
		for (b = 1; b <= nnb; b++)
			if (NB_size[b] != 4096)
				k = 0
		printf "**%s**%s\n\n", NSPACE, (k ? ", 4 KiB" : "") > RSTF
		split("", TB)
		TB[0, 1] = "Config"
		for (b = 1; b <= nnb; b++)
			TB[0, b + 1] = nvme_case(b)
		for (ci = 1; ci <= nncfg; ci++) {
			TB[ci, 1] = NCFG[ci]
			for (b = 1; b <= nnb; b++)
				TB[ci, b + 1] = fmt(NV[b, ci, 1], "%.0f") " (" us(NV[b, ci, 2]) " / " us(NV[b, ci, 3]) ")"
		}
		rst_table(nncfg, nnb + 1)
		print "IOPS ratios (> 1: mpdev does more I/O per second):" > RSTF
		print "" > RSTF
		split("", TB)
		TB[0, 1] = "Ratio"
		for (b = 1; b <= nnb; b++)
			TB[0, b + 1] = nvme_case(b)
		for (k = 1; k <= 3; k++) {
			TB[k, 1] = NRATHDR[k]
			for (b = 1; b <= nnb; b++)
				TB[k, b + 1] = fmt(NRAT[b, k], "%.2f")
		}
		rst_table(3, nnb + 1)
	}
	rst_targets("N", "**NVMe targets** (IOPS, nvme-null, 4 KiB at queue depth 1; reported, not enforced)")
}

BEGIN {
	FS = "\t"
	ncfg = split("stock mpdev-block mpdev-poll inproc", CFG, " ")
	for (i = 1; i <= ncfg; i++)
		CFGIDX[CFG[i]] = i
	LABEL["stock"] = "stock multi-process (socket)"
	LABEL["mpdev-block"] = "mpdev, blocking remote"
	LABEL["mpdev-poll"] = "mpdev, polling remote"
	LABEL["inproc"] = "in-process (QEMU pci-testdev)"
	# Zero-patch (mpqemu-run --zero-patch, a stock VMM): each config over
	# its patched counterpart; the columns of its tables.
	nzcfg = split("zp-block zp-sid-block zp-poll zp-sid-poll", ZCFG, " ")
	for (i = 1; i <= nzcfg; i++)
		ZCFGIDX[ZCFG[i]] = i
	ZLIST = "zp-block, zp-poll, zp-sid-block, zp-sid-poll"
	ZREF["zp-block"] = ZREF["zp-sid-block"] = "mpdev-block"
	ZREF["zp-poll"] = ZREF["zp-sid-poll"] = "mpdev-poll"
	split("zp/block sid/block zp/poll sid/poll", ZRATHDR, " ")
	nzcol = split("mpdev-block zp-block zp-sid-block mpdev-poll zp-poll zp-sid-poll", ZCOL, " ")
	LABEL["zp-block"] = "zero-patch: Debian 12 stock QEMU, mpqemu-run --zero-patch, blocking remote"
	LABEL["zp-poll"] = "zero-patch: Debian 12 stock QEMU, mpqemu-run --zero-patch, polling remote"
	LABEL["zp-sid-block"] = "zero-patch: Debian sid stock QEMU, mpqemu-run --zero-patch, blocking remote"
	LABEL["zp-sid-poll"] = "zero-patch: Debian sid stock QEMU, mpqemu-run --zero-patch, polling remote"
	# Z1, Z2: within 1/ZHI..ZHI of the patched path.  Not tighter: in
	# this test VM two boots of one configuration differ by up to 1.85 x
	# (geometric mean of the p50s, blocking remote; benchmark.rst).
	# ZTIGHT: the bound zero-patch should meet on a quiet machine.
	ZHI = 2.0
	ZLO = 1 / ZHI
	ZTIGHT = 1.25
	nzrows = 0
	split("mmio pio", SPACES, " ")
	EXPECT["mmio"] = "1 2 4 8"
	EXPECT["pio"] = "1 2 4"
	# Real I/O (lsi53c895a SCSI disk): 4 KiB random reads and writes at
	# queue depth 1, ops_per_s = IOPS.
	ndsp = split("disk-null disk-raw", DSPACES, " ")
	for (i = 1; i <= ndsp; i++) {
		DISKIDX[DSPACES[i]] = i
		EXPECT[DSPACES[i]] = "4096"
	}
	DBACKING["disk-null"] = "null-co backing: the dispatch cost"
	DBACKING["disk-raw"] = "raw image file"
	split("randread randwrite", DOPS, " ")
	# NVMe (QEMU nvme on null-co, the nvme driver of the guest): the same
	# random I/O at queue depth (threads) 1 and 16, its own configs.
	NSPACE = "nvme-null"
	NVMEIDX[NSPACE] = 1
	EXPECT[NSPACE] = "4096"
	NBACKING = "null-co backing: the dispatch cost"
	nnqd = split("1 16", NQD, " ")
	for (i = 1; i <= nnqd; i++)
		NQDIDX[NQD[i]] = i
	nncfg = split("mpdev-block mpdev-poll inproc inproc-ioeventfd", NCFG, " ")
	for (i = 1; i <= nncfg; i++)
		NCFGIDX[NCFG[i]] = i
	NLABEL["inproc"] = "the same nvme device in the VMM QEMU itself, ioeventfd=off (QEMU'"'"'s default)"
	NLABEL["inproc-ioeventfd"] = "the same, with ioeventfd=on for its doorbells"
	NOSTOCK = "stock multi-process: cannot run nvme (no MSI-X in stock x-pci-proxy-dev)"
	split("poll/inproc poll/ioeventfd block/inproc", NRATHDR, " ")
	split("poll_vs_inproc poll_vs_ioeventfd block_vs_inproc", NRATNAME, " ")
	split("read write", OPS, " ")
	split("1 2 4 8", TSIZE, " ")
	split("config space op size threads n p50_ns p99_ns mean_ns ops_per_s", RESNAME, " ")
	split("poll/stock block/stock poll/inproc", RATHDR, " ")
	split("poll_vs_stock block_vs_stock poll_vs_inproc", RATNAME, " ")
	split("iops p50_ns p99_ns", DVNAME, " ")
	# meta.txt keys with a name for the page (bench-inside.sh writes the
	# test_vm_/nested_/qemu_ ones), in the order shown; others follow.
	nmf = split("date kernel test_vm_kernel nested_kernel qemu qemu_stock qemu_patched qemu_sid n disk_secs cpus test_vm_cpus nested_vcpus stock_sid_two_vcpus note", MFIELD, " ")
	split("Date|Kernel|Test VM kernel|Nested guest kernel|QEMU|Stock QEMU|Patched QEMU|Stock QEMU of Debian sid|Accesses per case|Seconds per disk case|CPUs|Test VM CPUs|Nested vCPUs|Stock QEMU of Debian sid, two vCPUs|Note", MFNAME, "|")
	for (i = 1; i <= nmf; i++)
		MFKNOWN[MFIELD[i]] = 1
	for (i = 1; i < 32; i++)
		CTRL[sprintf("%c", i)] = sprintf("\\u%04x", i)
	CTRL["\t"] = "\\t"
	CTRL["\n"] = "\\n"
	CTRL["\r"] = "\\r"
	NUMRE = "^[-+]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][-+]?[0-9]+)?$"
	JSONNUMRE = "^-?(0|[1-9][0-9]*)([.][0-9]+)?([eE][-+]?[0-9]+)?$"
	JSONF = ENVIRON["BR_JSON"]
	DATF = ENVIRON["BR_DAT"]
	RSTF = ENVIRON["BR_RST"]
	STATF = ENVIRON["BR_STATUS"]
	DIRNAME = ENVIRON["BR_DIR"]
	have_checks = ENVIRON["BR_HAVE_CHECKS"] + 0
	nres = nchk = nfail = nmeta = nt = ndisk = ndt = nnvme = nnb = 0
}
{ sub(/\r$/, "") }
part == "res" { read_result(); next }
part == "chk" { read_check(); next }
part == "meta" { read_meta(); next }
END {
	collect()
	collect_disk()
	collect_nvme()
	collect_zp()
	evaluate()
	evaluate_disk()
	evaluate_nvme()
	evaluate_zp_t()
	print_console()
	write_json()
	write_dat()
	write_rst()
	printf "rows=%d\nfails=%d\n", nres, nfail > STATF
	close(STATF)
}
'

checks=$dir/checks.tsv
have_checks=1
[ -f "$checks" ] || { checks=/dev/null; have_checks=0; }
meta=$dir/meta.txt
[ -f "$meta" ] || meta=/dev/null

BR_JSON=$work/bench.json BR_DAT=$work/chart.dat BR_RST=$work/doc.rst \
	BR_STATUS=$work/status BR_DIR=$dir BR_HAVE_CHECKS=$have_checks \
	awk "$report_awk" part=res "$dir/results.tsv" part=chk "$checks" part=meta "$meta"

rows=0 fails=0 chart_read='' chart_write=''
chart_disk=0 chart_disk_null='' chart_disk_raw=''
chart_nvme=0 chart_nvme_index=2 chart_nvme_qd1='' chart_nvme_qd16='' chart_zp=0
while IFS='=' read -r k v; do
	case $k in
	rows) rows=$v ;;
	fails) fails=$v ;;
	chart_read) chart_read=$v ;;
	chart_write) chart_write=$v ;;
	chart_disk) chart_disk=$v ;;
	chart_disk-null) chart_disk_null=$v ;;
	chart_disk-raw) chart_disk_raw=$v ;;
	chart_nvme) chart_nvme=$v ;;
	chart_nvme_index) chart_nvme_index=$v ;;
	chart_nvme_qd1) chart_nvme_qd1=$v ;;
	chart_nvme_qd16) chart_nvme_qd16=$v ;;
	chart_zp) chart_zp=$v ;;
	esac
done <"$work/status"

mv -f "$work/bench.json" "$dir/bench.json"
echo
echo "wrote $dir/bench.json"
[ "$rows" -gt 0 ] || note "no result rows in $dir/results.tsv: nothing measured"

# ---------------------------------------------------------------- chart
# MMIO columns 5-8: the zero-patch configs (zp-block zp-sid-block zp-poll
# zp-sid-poll, the order of the awk program's ZCFG).
mmio_labels=('stock multi-process (socket)' 'mpdev, blocking remote'
	'mpdev, polling remote' 'in-process (QEMU pci-testdev)'
	'zero-patch, Debian 12 QEMU, blocking remote'
	'zero-patch, Debian sid QEMU, blocking remote'
	'zero-patch, Debian 12 QEMU, polling remote'
	'zero-patch, Debian sid QEMU, polling remote')
disk_labels=('stock multi-process (socket)' 'mpdev, blocking remote'
	'mpdev, polling remote' 'in-process (lsi53c895a in the VMM)')
# The NVMe panels have their own columns: no stock, an ioeventfd=on inproc.
nvme_labels=('mpdev, blocking remote' 'mpdev, polling remote'
	'in-process (nvme in the VMM, ioeventfd=off)'
	'in-process (nvme in the VMM, ioeventfd=on)')
labels=("${mmio_labels[@]}")
mmio_colors=('#d62728' '#1f77b4' '#2ca02c' '#7f7f7f' '#aec7e8' '#17becf' '#98df8a' '#bcbd22')
nvme_colors=('#1f77b4' '#2ca02c' '#7f7f7f' '#9467bd')
colors=("${mmio_colors[@]}")

# chart_panel INDEX TITLE CONFIGS: one multiplot panel of chart.gp; CONFIGS
# are the 1-based columns with data (gnuplot fails on a panel without any).
chart_panel() {
	local idx=$1 title=$2 cfgs=$3 c sep='plot' xt=':xtic(1)'
	printf "\nset title '%s'\n" "$title"
	if [ -z "$cfgs" ]; then
		printf "set label 1 'no data' at graph 0.5, graph 0.5 center\n"
		printf 'unset logscale y\nset xrange [0:1]\nset yrange [0:1]\n'
		printf 'unset xtics\nunset ytics\nplot NaN notitle\n'
		printf 'unset label 1\nset autoscale xy\nset xtics nomirror\nset ytics\nset logscale y\n'
		return
	fi
	for c in $cfgs; do
		printf "%s 'chart.dat' index %d using %d%s title '%s' linecolor rgb '%s'" \
			"$sep" "$idx" "$((c + 1))" "$xt" \
			"${labels[c - 1]}" "${colors[c - 1]}"
		sep=', \
    ' xt=''
	done
	echo
}

rm -f "$dir/bench.png"
if [ "$rows" -eq 0 ]; then
	echo "no chart: no data"
elif ! command -v gnuplot >/dev/null 2>&1; then
	echo "no chart: gnuplot not installed (apt-get install gnuplot-nox)"
else
	# pngcairo draws better and knows the micro sign; libgd png is the
	# fallback every gnuplot build has.
	# With real-I/O rows a second row of panels: disk IOPS; with NVMe
	# rows one more: NVMe IOPS at QD1 and QD16.
	height=560 layout='1,2'
	title='Nested-guest benchmark: p50 latency per MMIO access'
	if [ "$chart_disk" = 1 ] && [ "$chart_nvme" = 1 ]; then
		height=1520 layout='3,2'
		title="$title (top), 4 KiB disk IOPS at queue depth 1 (middle), 4 KiB NVMe IOPS at queue depth 1 and 16 (bottom)"
	elif [ "$chart_disk" = 1 ]; then
		height=1040 layout='2,2'
		title="$title (top), 4 KiB disk IOPS at queue depth 1 (bottom)"
	elif [ "$chart_nvme" = 1 ]; then
		height=1040 layout='2,2'
		title="$title (top), 4 KiB NVMe IOPS at queue depth 1 and 16 (bottom)"
	fi
	# Zero-patch bars: four more key entries under each MMIO panel.
	[ "$chart_zp" = 1 ] && height=$((height + 80))
	if gnuplot -e 'set terminal pngcairo' >/dev/null 2>&1; then
		term="pngcairo size 1200,$height noenhanced font ',10'" unit='µs'
	else
		term="png size 1200,$height noenhanced" unit='us'
	fi
	{
		echo "# Written by scripts/bench-report.sh; re-render: cd DIR && gnuplot chart.gp"
		echo "set terminal $term"
		echo "set output 'bench.png'"
		echo "set datafile missing '-'"
		echo 'set style data histograms'
		echo 'set style histogram clustered gap 1'
		echo 'set style fill solid 0.85 border -1'
		echo 'set logscale y'
		echo 'set grid ytics'
		echo 'set xtics nomirror'
		echo 'set key below maxcols 2 width 2'
		echo "set ylabel 'p50 per access ($unit, log scale)'"
		echo "set multiplot layout $layout title '$title'"
		chart_panel 0 'MMIO reads, by access size (bytes)' "$chart_read"
		chart_panel 1 'MMIO writes, by access size (bytes)' "$chart_write"
		if [ "$chart_disk" = 1 ]; then
			labels=("${disk_labels[@]}")
			for p in '2 disk-null (null-co backing: dispatch)' '3 disk-raw (raw image file)'; do
				printf '\nunset logscale y\nset yrange [0:*]\nset offsets 0, 0, graph 0.08, 0\n'
				echo "set ylabel 'IOPS (higher is better)'"
				if [ "${p%% *}" = 2 ]; then c=$chart_disk_null; else c=$chart_disk_raw; fi
				chart_panel "${p%% *}" "${p#* }, 4 KiB random, QD1" "$c"
			done
			labels=("${mmio_labels[@]}")
		fi
		if [ "$chart_nvme" = 1 ]; then
			labels=("${nvme_labels[@]}") colors=("${nvme_colors[@]}")
			for q in 1 16; do
				printf '\nunset logscale y\nset yrange [0:*]\nset offsets 0, 0, graph 0.08, 0\n'
				echo "set ylabel 'IOPS (higher is better)'"
				if [ "$q" = 1 ]; then c=$chart_nvme_qd1; else c=$chart_nvme_qd16; fi
				chart_panel "$((chart_nvme_index + (q == 1 ? 0 : 1)))" \
					"nvme-null, 4 KiB random, QD$q (no stock: it cannot run nvme)" "$c"
			done
			labels=("${mmio_labels[@]}") colors=("${mmio_colors[@]}")
		fi
		echo 'unset multiplot'
	} >"$work/chart.gp"
	cp "$work/chart.gp" "$work/chart.dat" "$dir/"
	if (cd "$dir" && gnuplot chart.gp) >"$work/gnuplot.log" 2>&1 && [ -s "$dir/bench.png" ]; then
		echo "wrote $dir/bench.png (re-render: cd $(printf %q "$dir") && gnuplot chart.gp)"
	else
		# The tables and JSON stand on their own: a broken chart is a
		# warning, not a failed report.
		rm -f "$dir/bench.png"
		note "gnuplot failed, no bench.png:"
		sed 's/^/  | /' "$work/gnuplot.log" >&2
	fi
fi

# ---------------------------------------------------------------- doc
if [ -n "$doc" ]; then
	if [ "$rows" -eq 0 ]; then
		note "not updating $doc: no results to put there"
	else
		# Blank lines around the block: the start marker is an rst
		# comment, which would swallow an indented or adjacent line.
		awk -v s="$START_MARK" -v e="$END_MARK" -v block="$work/doc.rst" '
			{ line = $0; sub(/[ \t\r]+$/, "", line) }
			skip && line != e { next }
			line == e { skip = 0; print ""; print; next }
			{ print }
			line == s {
				print ""
				while ((getline l < block) > 0)
					print l
				close(block)
				skip = 1
			}' "$doc" >"$work/doc.new"
		# Rewrite in place rather than mv: keeps FILE's mode and links.
		cat "$work/doc.new" >"$doc"
		echo "updated $doc"
	fi
fi

[ "$rows" -gt 0 ] || exit 1
if [ "$fails" -gt 0 ]; then
	note "$fails sanity check(s) FAILED: see above"
	exit 1
fi
exit 0
