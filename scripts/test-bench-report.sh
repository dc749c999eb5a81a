#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# test-bench-report.sh - test of scripts/bench-report.sh on synthetic runs:
# target verdicts, ratios, JSON, the chart, --update-doc and exit statuses,
# for the register rows (mmio, pio), the real-I/O rows (disk-null,
# disk-raw), the NVMe rows (nvme-null, QD1 and QD16) alone and together,
# and the zero-patch rows (zp-block, zp-poll, zp-sid-block, zp-sid-poll:
# ratios over the patched rows, Z1 and ZT1-ZT3).
# Needs nothing but bash, coreutils and awk; python3 (JSON, docutils) and
# gnuplot (PNG) are used for extra checks when present.  Prints TAP, then
# "N passed, N failed"; the exit status is non-zero if anything failed.

set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
report=$here/bench-report.sh
tmp=$(mktemp -d "${TMPDIR:-/tmp}/test-bench-report.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

n=0 pass=0 fail=0 skipped=0

# check DESC CMD...: one TAP line for CMD's exit status, then what the
# helpers below said about a failure, as TAP diagnostics.
check() {
	local desc=$1
	shift
	n=$((n + 1))
	: >"$tmp/diag"
	if "$@" 2>>"$tmp/diag"; then
		pass=$((pass + 1))
		echo "ok $n - $desc"
	else
		fail=$((fail + 1))
		echo "not ok $n - $desc"
		sed 's/^/#   /' "$tmp/diag"
	fi
}
skip() {
	n=$((n + 1))
	skipped=$((skipped + 1))
	echo "ok $n - # SKIP $1"
}
# skip_n COUNT REASON: the checks of a branch that cannot run.
skip_n() {
	local k
	for ((k = 0; k < $1; k++)); do skip "$2"; done
}
# The exit status of the last run_report, and a file holding its stdout.
rc=0
run_report() {
	local out=$1
	shift
	rc=0
	"$report" "$@" >"$out" 2>"$out.err" || rc=$?
}
is() { [ "$1" = "$2" ] || { echo "got '$1', expected '$2'" >&2; return 1; }; }
# has FILE RE...: every RE matches a line of FILE.
has() {
	local f=$1 re
	shift
	for re in "$@"; do
		grep -Eq -- "$re" "$f" || { echo "no /$re/ in $f" >&2; return 1; }
	done
}
hasnt() { ! grep -Eq -- "$2" "$1" || { echo "unexpected /$2/ in $1" >&2; return 1; }; }

have_python=0
command -v python3 >/dev/null 2>&1 && have_python=1
# untouched FILE ORIG MUSTNOTEXIST: FILE is as ORIG, nothing was written.
untouched() {
	cmp -s "$1" "$2" || { echo "$1 changed" >&2; return 1; }
	[ ! -e "$3" ] || { echo "$3 written" >&2; return 1; }
}
json_ok() { python3 -m json.tool "$1" >/dev/null; }

# ------------------------------------------------------------ synthetic runs
# p50 in ns per config/space/op; P50X overrides one size.  p99 = 2 x p50,
# mean = 1.1 x p50, 1-thread ops/s = 1e9 / p50 (with decimals, as a real
# run has them).
declare -A P50=(
	[stock,mmio,read]=40000 [mpdev-block,mmio,read]=12000
	[mpdev-poll,mmio,read]=4000 [inproc,mmio,read]=8000
	[stock,mmio,write]=40000 [mpdev-block,mmio,write]=5000
	[mpdev-poll,mmio,write]=4000 [inproc,mmio,write]=3000
	[stock,pio,read]=30000 [mpdev-block,pio,read]=10000
	[mpdev-poll,pio,read]=3000 [inproc,pio,read]=6000
	[stock,pio,write]=30000 [mpdev-block,pio,write]=4000
	[mpdev-poll,pio,write]=3000 [inproc,pio,write]=2500
	# zero-patch: zp-block 1.05 x mpdev-block, zp-sid-block 1.00 x,
	# zp-poll 0.90 x mpdev-poll, zp-sid-poll 1.20 x (P50X: size 2 reads)
	[zp-block,mmio,read]=12600 [zp-block,mmio,write]=5250
	[zp-block,pio,read]=10500 [zp-block,pio,write]=4200
	[zp-sid-block,mmio,read]=12000 [zp-sid-block,mmio,write]=5000
	[zp-sid-block,pio,read]=10000 [zp-sid-block,pio,write]=4000
	[zp-poll,mmio,read]=3600 [zp-poll,mmio,write]=3600
	[zp-poll,pio,read]=2700 [zp-poll,pio,write]=2700
	[zp-sid-poll,mmio,read]=4800 [zp-sid-poll,mmio,write]=4800
	[zp-sid-poll,pio,read]=3600 [zp-sid-poll,pio,write]=3600
)
declare -A P50X OPS2

# 2-thread ops/s at MMIO size 4 (1-thread: stock 25000, block 83333.25 for
# reads and 200000.25 for writes, poll 250000.25).
reset_data() {
	P50X=([mpdev-poll,mmio,read,2]=6000 [zp-poll,mmio,read,2]=5400 [zp-sid-poll,mmio,read,2]=7200)
	# zero-patch two-thread ops/s: 0.90, 1.00, 1.10, 0.80 x patched
	OPS2=(
		[stock,read]=30000 [stock,write]=30000
		[mpdev-block,read]=150000 [mpdev-block,write]=360000
		[mpdev-poll,read]=312500 [mpdev-poll,write]=400000
		[zp-block,read]=135000 [zp-block,write]=324000
		[zp-sid-block,read]=150000 [zp-sid-block,write]=360000
		[zp-poll,read]=343750 [zp-poll,write]=440000
		[zp-sid-poll,read]=250000 [zp-sid-poll,write]=320000
	)
}

# write_run DIR CONFIGS...: results.tsv for CONFIGS, all-ok checks, meta.
write_run() {
	local d=$1 c sp op s p k
	shift
	mkdir -p "$d"
	{
		printf '# config\tspace\top\tsize\tthreads\tn\tp50_ns\tp99_ns\tmean_ns\tops_per_s\n'
		for c in "$@"; do
			for sp in mmio pio; do
				for op in read write; do
					for s in 1 2 4 8; do
						[ "$sp" = pio ] && [ "$s" = 8 ] && continue
						p=${P50[$c,$sp,$op]}
						k="$c,$sp,$op,$s"
						[ -n "${P50X[$k]:-}" ] && p=${P50X[$k]}
						printf '%s\t%s\t%s\t%s\t1\t1000\t%d\t%d\t%d\t%d.25\n' \
							"$c" "$sp" "$op" "$s" "$p" $((2 * p)) $((p + p / 10)) $((1000000000 / p))
					done
				done
			done
			for op in read write; do
				[ -n "${OPS2[$c,$op]:-}" ] || continue
				p=${P50[$c,mmio,$op]}
				printf '%s\tmmio\t%s\t4\t2\t2000\t%d\t%d\t%d\t%s\n' \
					"$c" "$op" "$p" $((2 * p)) $((p + p / 10)) "${OPS2[$c,$op]}"
			done
		done
	} >"$d/results.tsv"
	printf 'stock: BAR reads went over the socket\tok\t1000 BAR_READ, "quoted" \\ back\tslash\n' >"$d/checks.tsv"
	printf 'mpdev-poll: zero BAR messages on the socket\tok\t0 messages\n' >>"$d/checks.tsv"
	printf 'date=2024-05-01 12:00\nkernel=6.1.0-21-amd64\nqemu=7.2.9 (Debian 1:7.2+dfsg-7)\nn=1000\ncpus=2\nnote=TCG test VM, "nested" KVM\n' >"$d/meta.txt"
	printf 'test_vm_kernel=6.1.0-21-amd64\nrun_id=x_y_\n' >>"$d/meta.txt"
}

# Real I/O (disk-null, disk-raw): IOPS per config/space/op; DIOPSX
# overrides one, "skip" leaves its row out.  p50 = 1e9 / IOPS ns, p99 =
# 3 x p50, mean "-" (mpdev-io bench reports none).
declare -A DIOPS=(
	[stock,disk-null,randread]=1000 [stock,disk-null,randwrite]=1000
	[mpdev-block,disk-null,randread]=1500 [mpdev-block,disk-null,randwrite]=1400
	[mpdev-poll,disk-null,randread]=2500 [mpdev-poll,disk-null,randwrite]=2200
	[inproc,disk-null,randread]=2000 [inproc,disk-null,randwrite]=2000
	[stock,disk-raw,randread]=800 [stock,disk-raw,randwrite]=500
	[mpdev-block,disk-raw,randread]=1000 [mpdev-block,disk-raw,randwrite]=600
	[mpdev-poll,disk-raw,randread]=1200 [mpdev-poll,disk-raw,randwrite]=700
	[inproc,disk-raw,randread]=1100 [inproc,disk-raw,randwrite]=640
)
declare -A DIOPSX

# write_disk DIR CONFIGS...: append the disk rows of CONFIGS to
# DIR/results.tsv (a new one if there is none: a disk-only run).
write_disk() {
	local d=$1 c sp op v p
	shift
	mkdir -p "$d"
	[ -f "$d/results.tsv" ] ||
		printf '# config\tspace\top\tsize\tthreads\tn\tp50_ns\tp99_ns\tmean_ns\tops_per_s\n' >"$d/results.tsv"
	for c in "$@"; do
		for sp in disk-null disk-raw; do
			for op in randread randwrite; do
				v=${DIOPSX[$c,$sp,$op]:-${DIOPS[$c,$sp,$op]}}
				[ "$v" = skip ] && continue
				p=$((1000000000 / v))
				printf '%s\t%s\t%s\t4096\t1\t%d\t%d\t%d\t-\t%d.0\n' \
					"$c" "$sp" "$op" $((v * 5)) "$p" $((3 * p)) "$v"
			done
		done
	done >>"$d/results.tsv"
}
# write_disk_run DIR CONFIGS...: checks and meta as write_run, disk rows only.
write_disk_run() {
	write_disk "$@"
	printf 'stock: disk I/O over the socket\tok\t5000 BAR messages\n' >"$1/checks.tsv"
	printf 'date=2024-05-01 12:00\nn=1000\ndisk_secs=5\n' >"$1/meta.txt"
}

# The console block of a disk space/op, e.g. disk_block OUT DISK-NULL randread.
disk_block() {
	awk -v blk="== $2 $3," '
		index($0, blk) == 1 { inb = 1; next }
		/^== / { inb = 0 }
		inb' "$1"
}
# The IOPS ratio line of that block: "2.50 1.50 1.25".
disk_ratios() {
	disk_block "$@" | awk '/^IOPS ratios / { print $(NF - 4), $(NF - 2), $NF }'
}
# The console from the first MMIO block to the Throughput block's end,
# and the T lines: what the disk rows must not change.
mmio_part() {
	awk '/^== MMIO reads/ { p = 1 } /^== Real I\/O/ { p = 0 } p' "$1"
	grep -E '^T[1-4] ' "$1"
}
has_in_block() {
	local out=$1 sp=$2 op=$3
	shift 3
	disk_block "$out" "$sp" "$op" >"$tmp/blk"
	has "$tmp/blk" "$@"
}
json_q() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print($2)" "$1"; }

# The three ratio cells of one size row in a console block, e.g.
# ratio_row OUT 'MMIO reads' 2 -> "0.15 0.30 0.75".
ratio_row() {
	awk -v blk="== $2:" -v size="$3" '
		index($0, blk) == 1 { inb = 1; next }
		/^== / { inb = 0 }
		inb && $1 == size { print $(NF - 2), $(NF - 1), $NF; exit }' "$1"
}

# ------------------------------------------------------------ A: all hold
reset_data
write_run "$tmp/a" stock mpdev-block mpdev-poll inproc
run_report "$tmp/a.out" "$tmp/a"
check "A: exit status 0 (all checks ok)" is "$rc" 0
check "A: T1 HOLDS, worst 0.150 at size 2" has "$tmp/a.out" '^T1 +HOLDS .*worst 0\.150 \(size 2\)'
check "A: T2 HOLDS" has "$tmp/a.out" '^T2 +HOLDS '
check "A: T3 HOLDS, mpdev-block shown as information" has "$tmp/a.out" '^T3 +HOLDS .*mpdev-block \(information\): worst 0\.125'
check "A: T4 HOLDS (mpdev-block 1.80 both ways), stock's factor shown" \
	has "$tmp/a.out" '^T4 +HOLDS .*mpdev-block read 1\.80, write 1\.80; stock read 1\.20'
check "A: MMIO read size 2 ratios poll/stock block/stock poll/inproc" \
	is "$(ratio_row "$tmp/a.out" 'MMIO reads' 2)" "0.15 0.30 0.75"
check "A: MMIO read size 2 shows stock p50 40.0 / p99 80.0 us" \
	has "$tmp/a.out" '^2 +40\.0 +80\.0 +12\.0 +24\.0 +6\.0 +12\.0 +8\.0 +16\.0 '
check "A: PIO blocks have sizes 1 2 4 and no 8" \
	is "$(awk '/^== PIO reads/ { b = 1; next } /^== / { b = 0 } b && /^[0-9]/ { printf "%s ", $1 }' "$tmp/a.out")" "1 2 4 "
check "A: throughput block has mpdev-block read 1 and 2 threads, scale" \
	has "$tmp/a.out" '^mpdev-block +mmio read 4B +83333 +150000 +1\.80$'
check "A: sanity checks printed with the FAIL count" has "$tmp/a.out" '2 ok, 0 FAIL'
check "A: bench.json written" test -s "$tmp/a/bench.json"
check "A: bench.json ratio mmio read size 2 poll_vs_stock = 0.15" \
	has "$tmp/a/bench.json" '"space": "mmio", "op": "read", "size": 2, "poll_vs_stock": 0\.15, "block_vs_stock": 0\.3, "poll_vs_inproc": 0\.75\}'
check "A: bench.json T1 holds with value and limit" \
	has "$tmp/a/bench.json" '"id": "T1", .*"status": "holds", "value": 0\.15, "limit": 0\.25'
check "A: bench.json escapes quotes and backslashes" has "$tmp/a/bench.json" '\\"quoted\\" \\\\ back\\tslash'
check "A: bench.json has all top-level keys" \
	is "$(grep -Eo '^  "[a-z_]+"' "$tmp/a/bench.json" | tr -d ' "' | tr '\n' ' ')" "meta results ratios throughput disk nvme zero_patch zero_patch_geomean targets checks "
check "A (only mmio/pio rows): no warnings" hasnt "$tmp/a.out.err" 'warning'
check "A: real I/O said to be not measured" has "$tmp/a.out" '^== Real I/O \(disk-null, disk-raw\): no rows'
check "A: D1-D3 N/A, no disk-null rows" \
	is "$(grep -Ec '^D[1-3] +N/A +.*not evaluated: no disk-null rows$' "$tmp/a.out")" 3
check "A: bench.json disk array empty" has "$tmp/a/bench.json" '^  "disk": \[\],$'
if [ "$have_python" = 1 ]; then
	check "A: bench.json is valid JSON" json_ok "$tmp/a/bench.json"
	check "A: bench.json results count 62 (56 single-thread + 6 two-thread)" \
		is "$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["results"]))' "$tmp/a/bench.json")" 62
else
	skip "no python3: JSON validity not checked"
	skip "no python3: JSON results count not checked"
fi
if command -v gnuplot >/dev/null 2>&1; then
	check "A: bench.png is a PNG" is "$(head -c 4 "$tmp/a/bench.png" | tail -c 3)" PNG
	check "A: chart.dat and chart.gp kept for re-rendering" test -s "$tmp/a/chart.dat" -a -s "$tmp/a/chart.gp"
else
	skip "no gnuplot: no PNG expected"
	check "A: no gnuplot noted" has "$tmp/a.out" 'no chart: gnuplot not installed'
fi

# ------------------------------------------------------------ G: with disk rows
reset_data
DIOPSX=()
write_run "$tmp/g" stock mpdev-block mpdev-poll inproc
write_disk "$tmp/g" stock mpdev-block mpdev-poll inproc
run_report "$tmp/g.out" "$tmp/g"
check "G: exit status 0" is "$rc" 0
check "G: no warnings (disk spaces and ops are known)" hasnt "$tmp/g.out.err" warning
check "G: MMIO/PIO blocks, throughput and T1-T4 exactly as without disk rows" \
	cmp -s <(mmio_part "$tmp/a.out") <(mmio_part "$tmp/g.out")
check "G: a block per disk space/op" \
	is "$(grep -Ec '^== DISK-(NULL|RAW) rand(read|write), 4 KiB at QD1: IOPS, p50 and p99 per I/O in µs; ratios on IOPS \(> 1: mpdev faster\)$' "$tmp/g.out")" 4
check "G: disk-null randread row: stock IOPS 1000, p50 1000.0, p99 3000.0 us" \
	has_in_block "$tmp/g.out" DISK-NULL randread '^stock +1000 +1000\.0 +3000\.0$' '^mpdev-poll +2500 +400\.0 +1200\.0$'
check "G: disk-null randread IOPS ratios poll/stock block/stock poll/inproc" \
	is "$(disk_ratios "$tmp/g.out" DISK-NULL randread)" "2.50 1.50 1.25"
check "G: disk-null randwrite IOPS ratios" \
	is "$(disk_ratios "$tmp/g.out" DISK-NULL randwrite)" "2.20 1.40 1.10"
check "G: disk-raw randwrite IOPS ratios" \
	is "$(disk_ratios "$tmp/g.out" DISK-RAW randwrite)" "1.40 1.20 1.09"
check "G: D1 HOLDS, worst 2.200 (randwrite), disk-raw as information" \
	has "$tmp/g.out" '^D1 +HOLDS +mpdev polling IOPS >= 2\.0 x stock \(disk-null, randread and randwrite\): worst 2\.200 \(randwrite\); disk-raw \(information\): randread 1\.50, randwrite 1\.40$'
check "G: D2 HOLDS, worst 1.100 (randwrite)" \
	has "$tmp/g.out" '^D2 +HOLDS +mpdev polling IOPS >= 1\.0 x in-process \(disk-null\): worst 1\.100 \(randwrite\)'
check "G: D3 HOLDS, worst 1.400 (randwrite)" \
	has "$tmp/g.out" '^D3 +HOLDS +mpdev blocking IOPS >= 1\.3 x stock \(disk-null\): worst 1\.400 \(randwrite\)'
check "G: bench.json disk entry with IOPS, p50 and ratios" \
	has "$tmp/g/bench.json" '^    \{"space": "disk-null", "op": "randread", "size": 4096, "queue_depth": 1, "iops": \{"stock": 1000\.0, "mpdev-block": 1500\.0, "mpdev-poll": 2500\.0, "inproc": 2000\.0\}, "p50_ns": \{"stock": 1000000, .*"poll_vs_stock": 2\.5, "block_vs_stock": 1\.5, "poll_vs_inproc": 1\.25\}'
check "G: bench.json D1 holds, value 2.2, limit 2.0" \
	has "$tmp/g/bench.json" '"id": "D1", .*"status": "holds", "value": 2\.2, "limit": 2,'
if [ "$have_python" = 1 ]; then
	check "G: bench.json is valid JSON" json_ok "$tmp/g/bench.json"
	check "G: bench.json: 78 results, 4 disk entries, no nvme entry, 13 targets (N1, Z1, Z2, ZT1-ZT3 too)" \
		is "$(json_q "$tmp/g/bench.json" 'len(d["results"]), len(d["disk"]), len(d["nvme"]), len(d["targets"])')" "78 4 0 13"
	check "G: bench.json disk-raw randwrite poll/inproc 1.0938, mean_ns null in results" \
		is "$(json_q "$tmp/g/bench.json" '[x["poll_vs_inproc"] for x in d["disk"] if x["space"] == "disk-raw" and x["op"] == "randwrite"], [r["mean_ns"] for r in d["results"] if r["space"] == "disk-raw"][0]')" "[1.0938] None"
else
	skip "no python3: JSON validity not checked"
	skip "no python3: JSON counts not checked"
	skip "no python3: JSON disk values not checked"
fi
if command -v gnuplot >/dev/null 2>&1; then
	check "G: bench.png is a PNG" is "$(head -c 4 "$tmp/g/bench.png" | tail -c 3)" PNG
	check "G: chart.gp plots the two disk panels, 4 configs each" is "$(grep -c 'index [23] using' "$tmp/g/chart.gp")" 8
	check "G: chart.dat has disk-null IOPS" has "$tmp/g/chart.dat" '^randread 1000\.0 1500\.0 2500\.0 2000\.0$'
else
	skip "no gnuplot: no PNG expected"
	skip "no gnuplot: no chart.gp"
	skip "no gnuplot: no chart.dat"
fi

# ------------------------------------------------------------ H: disk only
DIOPSX=()
write_disk_run "$tmp/h" stock mpdev-block mpdev-poll inproc
run_report "$tmp/h.out" "$tmp/h"
check "H (only disk rows): exit status 0" is "$rc" 0
check "H: no warnings" hasnt "$tmp/h.out.err" warning
check "H: no config named missing" hasnt "$tmp/h.out" '^MISSING'
printf 'T\n=\n\n.. bench-results-start\n\n.. bench-results-end\n' >"$tmp/page-h.rst"
run_report "$tmp/dh.out" --update-doc "$tmp/page-h.rst" "$tmp/h"
check "H: --update-doc names disk_secs" has "$tmp/page-h.rst" '^:Seconds per disk case: 5$' '^\* D3 \*\*HOLDS\*\* '
check "H: disk-null randread ratios" is "$(disk_ratios "$tmp/h.out" DISK-NULL randread)" "2.50 1.50 1.25"
check "H: D1-D3 HOLD" is "$(grep -Ec '^D[1-3] +HOLDS ' "$tmp/h.out")" 3
check "H: T1-T4 N/A" is "$(grep -Ec '^T[1-4] +N/A ' "$tmp/h.out")" 4
if [ "$have_python" = 1 ]; then
	check "H: bench.json is valid JSON, 16 results, 4 disk entries" \
		is "$(json_q "$tmp/h/bench.json" 'len(d["results"]), len(d["disk"])')" "16 4"
else
	skip "no python3: JSON not checked"
fi
if command -v gnuplot >/dev/null 2>&1; then
	check "H: bench.png is a PNG (MMIO panels empty)" is "$(head -c 4 "$tmp/h/bench.png" | tail -c 3)" PNG
else
	skip "no gnuplot: no PNG expected"
fi

# ------------------------------------------------------------ K: disk misses
DIOPSX=([mpdev-poll,disk-null,randwrite]=1800 [mpdev-block,disk-null,randread]=1200)
write_disk_run "$tmp/k" stock mpdev-block mpdev-poll inproc
run_report "$tmp/k.out" "$tmp/k"
check "K: exit status 0 (missed disk targets are not enforced)" is "$rc" 0
check "K: D1 MISSED, worst 1.800 (randwrite)" has "$tmp/k.out" '^D1 +MISSED .*: worst 1\.800 \(randwrite\);'
check "K: D2 MISSED, worst 0.900 (randwrite)" has "$tmp/k.out" '^D2 +MISSED .*: worst 0\.900 \(randwrite\);'
check "K: D3 MISSED, worst 1.200 (randread)" has "$tmp/k.out" '^D3 +MISSED .*: worst 1\.200 \(randread\);'
check "K: bench.json D3 missed, value 1.2" has "$tmp/k/bench.json" '"id": "D3", .*"status": "missed", "value": 1\.2, "limit": 1\.3,'

# ------------------------------------------------------------ L: disk configs missing
DIOPSX=([mpdev-poll,disk-null,randwrite]=skip [mpdev-poll,disk-raw,randread]=skip [mpdev-poll,disk-raw,randwrite]=skip)
write_disk_run "$tmp/l" stock mpdev-block inproc
DIOPSX[mpdev-poll,disk-null,randread]=1500 # 1.5 x stock: a miss even without randwrite
write_disk "$tmp/l" mpdev-poll
run_report "$tmp/l.out" "$tmp/l"
check "L: exit status 0" is "$rc" 0
check "L: '-' in mpdev-poll's randwrite row" has_in_block "$tmp/l.out" DISK-NULL randwrite '^mpdev-poll +- +- +-$'
check "L: '-' for the randwrite poll ratios" is "$(disk_ratios "$tmp/l.out" DISK-NULL randwrite)" "- 1.40 -"
check "L: D1 MISSED on randread though randwrite is missing" \
	has "$tmp/l.out" '^D1 +MISSED .*: worst 1\.500 \(randread\); no mpdev-poll data for randwrite; disk-raw \(information\): randread -, randwrite -$'
check "L: D3 HOLDS (no mpdev-poll needed)" has "$tmp/l.out" '^D3 +HOLDS .*worst 1\.400 \(randwrite\)'
DIOPSX=([mpdev-poll,disk-null,randwrite]=skip [mpdev-poll,disk-raw,randread]=skip [mpdev-poll,disk-raw,randwrite]=skip)
write_disk_run "$tmp/l2" stock mpdev-block mpdev-poll inproc
run_report "$tmp/l2.out" "$tmp/l2"
check "L2: D1 N/A: randwrite missing, randread shown" \
	has "$tmp/l2.out" '^D1 +N/A +.*: not evaluated: no mpdev-poll data for randwrite; the other op: worst 2\.500 \(randread\)'
DIOPSX=()
write_disk_run "$tmp/l3" stock mpdev-block inproc
run_report "$tmp/l3.out" "$tmp/l3"
check "L3: no mpdev-poll disk rows: D1, D2 N/A, D3 HOLDS" \
	has "$tmp/l3.out" '^D1 +N/A +.*: not evaluated: no mpdev-poll data;' '^D2 +N/A +.*: not evaluated: no mpdev-poll data;' '^D3 +HOLDS '
check "L3: bench.json D1 n/a, value null, poll ratios null" \
	has "$tmp/l3/bench.json" '"id": "D1", .*"status": "n/a", "value": null' '"mpdev-poll": null, "inproc": 2000\.0\}, .*"poll_vs_stock": null'
if [ "$have_python" = 1 ]; then
	check "L3: bench.json is valid JSON" json_ok "$tmp/l3/bench.json"
else
	skip "no python3: JSON validity not checked"
fi

# ------------------------------------------------------------ --update-doc
doc=$tmp/page.rst
{
	printf 'Title\n=====\n\nText before.\n\n.. bench-results-start\n\n'
	printf '(no run recorded yet)\nOLD CONTENT\n\n.. bench-results-end\n\nText after.\n'
} >"$doc"
head -n 6 "$doc" >"$tmp/before"
tail -n 3 "$doc" >"$tmp/after"
run_report "$tmp/d.out" --update-doc "$doc" "$tmp/a"
check "doc: exit status 0" is "$rc" 0
check "doc: old content between the markers gone" hasnt "$doc" 'OLD CONTENT|no run recorded'
check "doc: text before the block kept" cmp -s "$tmp/before" <(head -n 6 "$doc")
check "doc: text after the block kept" cmp -s "$tmp/after" <(tail -n 3 "$doc")
check "doc: markers kept, once each" \
	is "$(grep -c '^\.\. bench-results-' "$doc")" 2
check "doc: block has meta, a latency table, targets and throughput" \
	has "$doc" '^:Kernel: 6\.1\.0-21-amd64' '^:Test VM kernel: 6\.1\.0-21-amd64' \
	'^:Accesses per case: 1000' '^:run\\_id: x\\_y\\_$' \
	'^2 +40\.0 / 80\.0 ' '^\* T1 \*\*HOLDS\*\* -- mpdev polling reads' \
	'^mpdev-block +mmio write 4B +200000 +360000 +1\.80'
check "doc: no disk rows said so, D targets listed" \
	has "$doc" '^\*\*Real I/O\*\*: no disk-null or disk-raw rows' '^\* D1 \*\*N/A\*\* -- mpdev polling IOPS'
cp "$doc" "$tmp/page.once"
run_report "$tmp/d2.out" --update-doc "$doc" "$tmp/a"
check "doc: a second update gives the same file" cmp -s "$tmp/page.once" "$doc"
if [ "$have_python" = 1 ] && python3 -c 'import docutils' 2>/dev/null; then
	check "doc: valid reStructuredText (docutils, no warnings)" python3 -c '
import sys, docutils.core
docutils.core.publish_doctree(open(sys.argv[1], encoding="utf-8").read(),
	settings_overrides={"halt_level": 2, "report_level": 2})' "$doc"
else
	skip "no docutils: rst not validated"
fi
cp "$tmp/page.once" "$tmp/page-g.rst"
run_report "$tmp/dg.out" --update-doc "$tmp/page-g.rst" "$tmp/g"
check "doc with disk rows: exit status 0" is "$rc" 0
check "doc with disk rows: disk tables, IOPS ratios and D targets in the block" \
	has "$tmp/page-g.rst" '^\*\*disk-null randread\*\*, 4 KiB$' '^\*\*disk-raw randwrite\*\*, 4 KiB$' \
	'^stock +1000 +1000\.0 / 3000\.0$' '^IOPS ratios: poll/stock 2\.20, block/stock 1\.40, poll/inproc 1\.10\.$' \
	'^\* D1 \*\*HOLDS\*\* -- mpdev polling IOPS >= 2\.0 x stock'
check "doc with disk rows: the MMIO table and T targets still there" \
	has "$tmp/page-g.rst" '^\* T1 \*\*HOLDS\*\* -- ' '^2 +40\.0 / 80\.0 '
check "doc with disk rows: markers kept, once each" is "$(grep -c '^\.\. bench-results-' "$tmp/page-g.rst")" 2
check "doc with disk rows: text after the block kept" cmp -s "$tmp/after" <(tail -n 3 "$tmp/page-g.rst")
if [ "$have_python" = 1 ] && python3 -c 'import docutils' 2>/dev/null; then
	check "doc with disk rows: valid reStructuredText" python3 -c '
import sys, docutils.core
docutils.core.publish_doctree(open(sys.argv[1], encoding="utf-8").read(),
	settings_overrides={"halt_level": 2, "report_level": 2})' "$tmp/page-g.rst"
else
	skip "no docutils: rst not validated"
fi

printf 'Title\n=====\n\n.. bench-results-start\n\nno end marker\n' >"$tmp/nomark.rst"
cp "$tmp/nomark.rst" "$tmp/nomark.orig"
mkdir "$tmp/fresh"
cp "$tmp/a/results.tsv" "$tmp/fresh/"
run_report "$tmp/m.out" --update-doc "$tmp/nomark.rst" "$tmp/fresh"
check "doc: missing end marker -> exit 2" is "$rc" 2
check "doc: missing marker explained on stderr" has "$tmp/m.out.err" 'bench-results-end'
check "doc: missing marker leaves the page and DIR untouched" \
	untouched "$tmp/nomark.rst" "$tmp/nomark.orig" "$tmp/fresh/bench.json"

# ------------------------------------------------------------ NVMe
# nvme-null: IOPS per config/op/queue depth; NIOPSX overrides one, "skip"
# leaves its row out.  p50 = 1e9 / IOPS ns, p99 = 3 x p50, mean "-".  No
# stock: stock multi-process cannot carry nvme.  Ratios (poll/inproc,
# poll/ioeventfd, block/inproc): QD1 randread 1.10 0.92 0.75, randwrite
# 1.05 0.84 0.70; QD16 randread 1.13 0.90 0.75, randwrite 1.05 0.86 0.70.
declare -A NIOPS=(
	[mpdev-block,randread,1]=1500 [mpdev-block,randwrite,1]=1400
	[mpdev-poll,randread,1]=2200 [mpdev-poll,randwrite,1]=2100
	[inproc,randread,1]=2000 [inproc,randwrite,1]=2000
	[inproc-ioeventfd,randread,1]=2400 [inproc-ioeventfd,randwrite,1]=2500
	[mpdev-block,randread,16]=6000 [mpdev-block,randwrite,16]=5600
	[mpdev-poll,randread,16]=9040 [mpdev-poll,randwrite,16]=8400
	[inproc,randread,16]=8000 [inproc,randwrite,16]=8000
	[inproc-ioeventfd,randread,16]=10000 [inproc-ioeventfd,randwrite,16]=9800
)
declare -A NIOPSX
NCONFIGS=(mpdev-block mpdev-poll inproc inproc-ioeventfd)

# write_nvme DIR CONFIGS...: append the nvme-null rows of CONFIGS to
# DIR/results.tsv (a new one if there is none: an NVMe-only run).
write_nvme() {
	local d=$1 c qd op v p
	shift
	mkdir -p "$d"
	[ -f "$d/results.tsv" ] ||
		printf '# config\tspace\top\tsize\tthreads\tn\tp50_ns\tp99_ns\tmean_ns\tops_per_s\n' >"$d/results.tsv"
	for c in "$@"; do
		for qd in 1 16; do
			for op in randread randwrite; do
				v=${NIOPSX[$c,$op,$qd]:-${NIOPS[$c,$op,$qd]}}
				[ "$v" = skip ] && continue
				p=$((1000000000 / v))
				printf '%s\tnvme-null\t%s\t4096\t%d\t%d\t%d\t%d\t-\t%d.0\n' \
					"$c" "$op" "$qd" $((v * 5)) "$p" $((3 * p)) "$v"
			done
		done
	done >>"$d/results.tsv"
}
# write_nvme_run DIR CONFIGS...: NVMe rows only, with checks and meta.
write_nvme_run() {
	write_nvme "$@"
	printf 'nvme mpdev-poll: four I/O rows measured\tok\t4 rows with n > 0\n' >"$1/checks.tsv"
	printf 'date=2024-05-01 12:00\nn=1000\ndisk_secs=5\n' >"$1/meta.txt"
}
# The console block of an NVMe op at a queue depth: nvme_block OUT randread 16.
nvme_block() {
	awk -v blk="== NVME-NULL $2, 4 KiB at QD$3:" '
		index($0, blk) == 1 { inb = 1; next }
		/^== / { inb = 0 }
		inb' "$1"
}
# Its IOPS ratio line: "1.10 0.92 0.75" (poll/inproc poll/ioeventfd block/inproc).
nvme_ratios() {
	nvme_block "$@" | awk '/^IOPS ratios / { print $(NF - 4), $(NF - 2), $NF }'
}
has_in_nvme() {
	local out=$1 op=$2 qd=$3
	shift 3
	nvme_block "$out" "$op" "$qd" >"$tmp/nblk"
	has "$tmp/nblk" "$@"
}
hasnt_in_nvme() {
	nvme_block "$1" "$2" "$3" >"$tmp/nblk"
	hasnt "$tmp/nblk" "$4"
}
# The console without its NVMe sections, DIR named DIR: what NVMe rows
# must not change.
no_nvme() {
	awk '/^== (NVMe|NVME-NULL)/ { skip = 1; next } /^== / { skip = 0 } !skip' "$1" | sed "s|$2|DIR|g"
}
# fails CMD...: CMD fails (a check that must catch a wrong value).
fails() { ! "$@" 2>/dev/null; }
# nvme_cross JSON: every "nvme" entry agrees with the raw "results" rows:
# IOPS per config and each ratio recomputed from them (4 decimals).
nvme_cross() {
	python3 - "$1" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
rows = {(r["config"], r["op"], r["threads"]): r["ops_per_s"]
        for r in d["results"] if r["space"] == "nvme-null"}
pairs = {"poll_vs_inproc": ("mpdev-poll", "inproc"),
         "poll_vs_ioeventfd": ("mpdev-poll", "inproc-ioeventfd"),
         "block_vs_inproc": ("mpdev-block", "inproc")}
bad = 0
if not d["nvme"]:
    print("no nvme entries", file=sys.stderr)
    bad = 1
for e in d["nvme"]:
    k = (e["op"], e["queue_depth"])
    for c, v in e["iops"].items():
        if v != rows.get((c,) + k):
            print("iops", c, k, v, rows.get((c,) + k), file=sys.stderr)
            bad = 1
    for name, (a, b) in pairs.items():
        want = round(rows[(a,) + k] / rows[(b,) + k], 4)
        if e[name] is None or abs(e[name] - want) > 1e-9:
            print(name, k, e[name], "expected", want, file=sys.stderr)
            bad = 1
sys.exit(bad)
EOF
}
have_gnuplot=0
command -v gnuplot >/dev/null 2>&1 && have_gnuplot=1

# ------------------------------------------------------------ N: all three kinds
reset_data
DIOPSX=() NIOPSX=()
write_run "$tmp/n" stock mpdev-block mpdev-poll inproc
write_disk "$tmp/n" stock mpdev-block mpdev-poll inproc
write_nvme "$tmp/n" "${NCONFIGS[@]}"
run_report "$tmp/n.out" "$tmp/n"
check "N (register, disk and NVMe rows): exit status 0" is "$rc" 0
check "N: no warnings (nvme-null, its configs and QD16 are known)" hasnt "$tmp/n.out.err" warning
check "N: everything but the NVMe sections exactly as G (without NVMe rows)" \
	cmp -s <(no_nvme "$tmp/g.out" "$tmp/g") <(no_nvme "$tmp/n.out" "$tmp/n")
check "N: a block per NVMe op and queue depth, QD1 first" \
	is "$(grep -E '^== NVME-NULL ' "$tmp/n.out" | sed 's/:.*//' | tr '\n' '|')" \
	"== NVME-NULL randread, 4 KiB at QD1|== NVME-NULL randwrite, 4 KiB at QD1|== NVME-NULL randread, 4 KiB at QD16|== NVME-NULL randwrite, 4 KiB at QD16|"
check "N: NVMe block header line" \
	has "$tmp/n.out" '^== NVME-NULL randread, 4 KiB at QD1: IOPS, p50 and p99 per I/O in µs; ratios on IOPS \(> 1: mpdev faster\)$'
check "N: stock said to be unable to run nvme, once" \
	is "$(grep -c '^   stock multi-process: cannot run nvme (no MSI-X in stock x-pci-proxy-dev)$' "$tmp/n.out")" 1
check "N: NVMe randread QD1 rows: IOPS, p50, p99 per config" \
	has_in_nvme "$tmp/n.out" randread 1 '^inproc +2000 +500\.0 +1500\.0$' '^mpdev-poll +2200 +454\.5 +1363\.6$' \
	'^inproc-ioeventfd +2400 +416\.7 +1250\.0$' '^mpdev-block +1500 +666\.7 +2000\.0$'
check "N: no stock row in the NVMe blocks (not measured, not pretended)" hasnt_in_nvme "$tmp/n.out" randread 1 '^stock'
check "N: NVMe randread QD1 ratios poll/inproc poll/ioeventfd block/inproc" \
	is "$(nvme_ratios "$tmp/n.out" randread 1)" "1.10 0.92 0.75"
check "N: NVMe randwrite QD1 ratios" is "$(nvme_ratios "$tmp/n.out" randwrite 1)" "1.05 0.84 0.70"
check "N: NVMe randread QD16 ratios" is "$(nvme_ratios "$tmp/n.out" randread 16)" "1.13 0.90 0.75"
check "N: NVMe randwrite QD16 ratios" is "$(nvme_ratios "$tmp/n.out" randwrite 16)" "1.05 0.86 0.70"
check "N: N1 HOLDS, worst 1.050 (randwrite), the other ratios as information" \
	has "$tmp/n.out" '^N1 +HOLDS +mpdev polling IOPS >= 1\.0 x in-process at QD1 \(nvme-null, randread and randwrite\): worst 1\.050 \(randwrite\); information: QD1 poll/ioeventfd randread 0\.92, randwrite 0\.84; QD1 block/inproc randread 0\.75, randwrite 0\.70; QD16 poll/inproc randread 1\.13, randwrite 1\.05$'
check "N: N1 under its own heading" \
	has "$tmp/n.out" '^== NVMe targets \(IOPS, nvme-null, 4 KiB at queue depth 1; reported, not enforced\)$'
check "N: D1-D3 and T1-T4 still HOLD" is "$(grep -Ec '^(D[1-3]|T[1-4]) +HOLDS ' "$tmp/n.out")" 7
if [ "$have_python" = 1 ]; then
	check "N: bench.json is valid JSON" json_ok "$tmp/n/bench.json"
	check "N: bench.json: 94 results, 4 disk and 4 nvme entries, 13 targets" \
		is "$(json_q "$tmp/n/bench.json" 'len(d["results"]), len(d["disk"]), len(d["nvme"]), len(d["targets"])')" "94 4 4 13"
	check "N: bench.json nvme entries with their op and queue_depth, QD1 first" \
		is "$(json_q "$tmp/n/bench.json" '[(x["space"], x["op"], x["size"], x["queue_depth"]) for x in d["nvme"]]')" \
		"[('nvme-null', 'randread', 4096, 1), ('nvme-null', 'randwrite', 4096, 1), ('nvme-null', 'randread', 4096, 16), ('nvme-null', 'randwrite', 4096, 16)]"
	check "N: bench.json nvme iops/p50/p99 keyed by the four NVMe configs, no stock" \
		is "$(json_q "$tmp/n/bench.json" '[sorted(d["nvme"][0][k]) for k in ("iops", "p50_ns", "p99_ns")] == [["inproc", "inproc-ioeventfd", "mpdev-block", "mpdev-poll"]] * 3')" True
	check "N: bench.json nvme QD16 randread ratios 1.13, 0.904, 0.75" \
		is "$(json_q "$tmp/n/bench.json" '[(x["poll_vs_inproc"], x["poll_vs_ioeventfd"], x["block_vs_inproc"]) for x in d["nvme"] if x["queue_depth"] == 16 and x["op"] == "randread"]')" "[(1.13, 0.904, 0.75)]"
	check "N: bench.json nvme entries agree with the raw rows (IOPS, every ratio)" nvme_cross "$tmp/n/bench.json"
	sed 's/"poll_vs_inproc": 1\.13,/"poll_vs_inproc": 1.31,/' "$tmp/n/bench.json" >"$tmp/n-wrong.json"
	check "N: a wrong nvme ratio in bench.json would be caught" fails nvme_cross "$tmp/n-wrong.json"
	check "N: bench.json N1 holds, value 1.05, limit 1, after D3" \
		is "$(json_q "$tmp/n/bench.json" '[t["id"] for t in d["targets"]], [(t["status"], t["value"], t["limit"]) for t in d["targets"] if t["id"] == "N1"]')" \
		"['T1', 'T2', 'T3', 'T4', 'D1', 'D2', 'D3', 'N1', 'Z1', 'Z2', 'ZT1', 'ZT2', 'ZT3'] [('holds', 1.05, 1)]"
	check "N: bench.json disk entries unchanged by the NVMe rows" \
		is "$(json_q "$tmp/n/bench.json" 'd["disk"]')" "$(json_q "$tmp/g/bench.json" 'd["disk"]')"
else
	skip_n 9 "no python3: NVMe JSON not checked"
fi
check "N: bench.json nvme entry line" \
	has "$tmp/n/bench.json" '^    \{"space": "nvme-null", "op": "randread", "size": 4096, "queue_depth": 16, "iops": \{"mpdev-block": 6000\.0, "mpdev-poll": 9040\.0, "inproc": 8000\.0, "inproc-ioeventfd": 10000\.0\}, "p50_ns": \{"mpdev-block": 166666, .*"poll_vs_inproc": 1\.13, "poll_vs_ioeventfd": 0\.904, "block_vs_inproc": 0\.75\}'
if [ "$have_gnuplot" = 1 ]; then
	check "N: bench.png is a PNG" is "$(head -c 4 "$tmp/n/bench.png" | tail -c 3)" PNG
	check "N: chart.gp: three rows of panels" has "$tmp/n/chart.gp" "^set multiplot layout 3,2 title '.*\(top\), 4 KiB disk IOPS at queue depth 1 \(middle\), 4 KiB NVMe IOPS at queue depth 1 and 16 \(bottom\)'$"
	check "N: chart.gp: disk panels still index 2, 3 with 4 configs each" is "$(grep -c 'index [23] using' "$tmp/n/chart.gp")" 8
	check "N: chart.gp: NVMe panels index 4 (QD1), 5 (QD16), 4 configs each" is "$(grep -c 'index [45] using' "$tmp/n/chart.gp")" 8
	check "N: chart.gp: NVMe panel titles" has "$tmp/n/chart.gp" "^set title 'nvme-null, 4 KiB random, QD1 " "^set title 'nvme-null, 4 KiB random, QD16 "
	check "N: chart.dat has NVMe QD16 IOPS" has "$tmp/n/chart.dat" '^# nvme-null, IOPS \(4 KiB random, queue depth 16\): op mpdev-block mpdev-poll inproc inproc-ioeventfd$' '^randread 6000\.0 9040\.0 8000\.0 10000\.0$'
	check "N: gnuplot said nothing" hasnt "$tmp/n.out.err" 'gnuplot'
	check "A (no NVMe rows): chart.gp has no NVMe panel" hasnt "$tmp/a/chart.gp" 'nvme'
	check "G (no NVMe rows): chart.gp two rows as before" has "$tmp/g/chart.gp" "^set multiplot layout 2,2 title '.*\(top\), 4 KiB disk IOPS at queue depth 1 \(bottom\)'$"
else
	skip_n 9 "no gnuplot: no chart"
fi
cp "$tmp/page.once" "$tmp/page-n.rst"
run_report "$tmp/dn.out" --update-doc "$tmp/page-n.rst" "$tmp/n"
check "doc with NVMe rows: exit status 0" is "$rc" 0
check "doc with NVMe rows: the NVMe table, configs as rows, QD1 and QD16 columns" \
	has "$tmp/page-n.rst" '^\*\*NVMe\*\*: the nested guest' '^\*\*nvme-null\*\*, 4 KiB$' \
	'^Config +randread QD1 +randwrite QD1 +randread QD16 +randwrite QD16$' \
	'^inproc-ioeventfd +2400 \(416\.7 / 1250\.0\) +2500 \(400\.0 / 1200\.0\) +10000 \(100\.0 / 300\.0\) +9800 \(102\.0 / 306\.1\)$' \
	'^mpdev-poll +2200 \(454\.5 / 1363\.6\) '
check "doc with NVMe rows: no stock row in the NVMe table, the reason given" \
	has "$tmp/page-n.rst" 'Stock multi-process: cannot run nvme \(no MSI-X in stock'
check "doc with NVMe rows: the IOPS ratio table" \
	has "$tmp/page-n.rst" '^Ratio +randread QD1 +randwrite QD1 +randread QD16 +randwrite QD16$' \
	'^poll/inproc +1\.10 +1\.05 +1\.13 +1\.05$' '^poll/ioeventfd +0\.92 +0\.84 +0\.90 +0\.86$' '^block/inproc +0\.75 +0\.70 +0\.75 +0\.70$'
check "doc with NVMe rows: N1 in the NVMe targets list" \
	has "$tmp/page-n.rst" '^\*\*NVMe targets\*\* \(IOPS, nvme-null, 4 KiB at queue depth 1; reported, not enforced\)$' \
	'^\* N1 \*\*HOLDS\*\* -- mpdev polling IOPS >= 1\.0 x in-process at QD1 \(nvme-null, randread and randwrite\): worst 1\.050 \(randwrite\); '
check "doc with NVMe rows: disk tables, MMIO table, T and D targets still there" \
	has "$tmp/page-n.rst" '^\*\*disk-null randread\*\*, 4 KiB$' '^2 +40\.0 / 80\.0 ' '^\* T1 \*\*HOLDS\*\* -- ' '^\* D1 \*\*HOLDS\*\* -- '
check "doc with NVMe rows: only the NVMe part differs from the page without" \
	cmp -s <(awk '/^\*\*NVMe/ { s = 1 } /^Sanity checks/ { s = 0 } !s' "$tmp/page-n.rst") \
	<(awk '/^\*\*NVMe/ { s = 1 } /^Sanity checks/ { s = 0 } !s' "$tmp/page-g.rst")
check "doc with NVMe rows: text after the block kept" cmp -s "$tmp/after" <(tail -n 3 "$tmp/page-n.rst")
cp "$tmp/page-n.rst" "$tmp/page-n.once"
run_report "$tmp/dn2.out" --update-doc "$tmp/page-n.rst" "$tmp/n"
check "doc with NVMe rows: a second update gives the same file" cmp -s "$tmp/page-n.once" "$tmp/page-n.rst"
if [ "$have_python" = 1 ] && python3 -c 'import docutils' 2>/dev/null; then
	check "doc with NVMe rows: valid reStructuredText" python3 -c '
import sys, docutils.core
docutils.core.publish_doctree(open(sys.argv[1], encoding="utf-8").read(),
	settings_overrides={"halt_level": 2, "report_level": 2})' "$tmp/page-n.rst"
else
	skip "no docutils: rst not validated"
fi
check "doc without NVMe rows: said so, N1 N/A listed" \
	has "$tmp/page.once" '^\*\*NVMe\*\*: no nvme-null rows in this run\.$' \
	'^\* N1 \*\*N/A\*\* -- mpdev polling IOPS >= 1\.0 x in-process at QD1 \(nvme-null, randread and randwrite\): not evaluated: no nvme-null rows$'

# ------------------------------------------------------------ NA: N1 not evaluated
check "A (no NVMe rows): NVMe said to be not measured" has "$tmp/a.out" '^== NVMe \(nvme-null\): no rows, not measured in this run$'
check "A: N1 N/A, not evaluated: no nvme-null rows" \
	has "$tmp/a.out" '^N1 +N/A +mpdev polling IOPS >= 1\.0 x in-process at QD1 \(nvme-null, randread and randwrite\): not evaluated: no nvme-null rows$'
check "A: no NVMe config named missing, no stock line" hasnt "$tmp/a.out" 'nvme-null rows for|cannot run nvme'
check "A: bench.json nvme array empty, N1 n/a with value null" \
	has "$tmp/a/bench.json" '^  "nvme": \[\],$' '"id": "N1", .*"status": "n/a", "value": null, "limit": 1,'
check "H (disk only): N1 N/A, exit status still 0" has "$tmp/h.out" '^N1 +N/A .*not evaluated: no nvme-null rows$'

# ------------------------------------------------------------ NO: NVMe only
NIOPSX=()
write_nvme_run "$tmp/no" "${NCONFIGS[@]}"
run_report "$tmp/no.out" "$tmp/no"
check "NO (only NVMe rows): exit status 0" is "$rc" 0
check "NO: no warnings" hasnt "$tmp/no.out.err" warning
check "NO: same NVMe blocks and N1 as with the other rows" \
	cmp -s <(awk '/^== / { p = ($0 ~ /^== (NVMe|NVME-NULL)/) } p' "$tmp/n.out") \
	<(awk '/^== / { p = ($0 ~ /^== (NVMe|NVME-NULL)/) } p' "$tmp/no.out")
check "NO: N1 HOLDS, worst 1.050 (randwrite)" has "$tmp/no.out" '^N1 +HOLDS .*: worst 1\.050 \(randwrite\); '
check "NO: T1-T4, D1-D3 N/A" is "$(grep -Ec '^(T[1-4]|D[1-3]) +N/A ' "$tmp/no.out")" 7
check "NO: real I/O said to be not measured" has "$tmp/no.out" '^== Real I/O \(disk-null, disk-raw\): no rows'
check "NO: stock (no rows at all) named missing, no NVMe config" \
	has "$tmp/no.out" '^MISSING: no rows for stock:'
check "NO: no NVMe config named missing" hasnt "$tmp/no.out" 'no nvme-null rows for'
check "NO: the NVMe check counted" has "$tmp/no.out" '^== Sanity checks \(checks\.tsv\): 1 ok, 0 FAIL$'
if [ "$have_python" = 1 ]; then
	check "NO: bench.json valid, 16 results, no disk entry, 4 nvme entries" \
		is "$(json_q "$tmp/no/bench.json" 'len(d["results"]), len(d["disk"]), len(d["nvme"])')" "16 0 4"
	check "NO: bench.json nvme entries agree with the raw rows" nvme_cross "$tmp/no/bench.json"
else
	skip "no python3: JSON not checked"
	skip "no python3: JSON not checked"
fi
if [ "$have_gnuplot" = 1 ]; then
	check "NO: bench.png is a PNG (MMIO panels empty)" is "$(head -c 4 "$tmp/no/bench.png" | tail -c 3)" PNG
	check "NO: chart.gp: MMIO and NVMe rows, NVMe at index 2 and 3" \
		has "$tmp/no/chart.gp" "^set multiplot layout 2,2 title '.*\(top\), 4 KiB NVMe IOPS at queue depth 1 and 16 \(bottom\)'$" "index 2 using 2:xtic\(1\) title 'mpdev, blocking remote'" "index 3 using 5 title 'in-process \(nvme in the VMM, ioeventfd=on\)'"
	check "NO: chart.gp: 8 NVMe plot lines, 2 empty MMIO panels" \
		is "$(grep -c 'index [23] using' "$tmp/no/chart.gp") $(grep -c "'no data'" "$tmp/no/chart.gp")" "8 2"
	check "NO: chart.dat: NVMe QD1 at the third index" \
		is "$(awk '/^# / { i++ } /^# nvme-null, IOPS \(4 KiB random, queue depth 1\)/ { print i }' "$tmp/no/chart.dat")" 3
else
	skip_n 4 "no gnuplot: no chart"
fi
cp "$tmp/no/checks.tsv" "$tmp/no-checks"
printf 'nvme inproc: four I/O rows measured\tFAIL\t3 rows with n > 0\n' >>"$tmp/no/checks.tsv"
run_report "$tmp/nof.out" "$tmp/no"
check "NO: a FAILed NVMe check -> exit 1, printed" has "$tmp/nof.out" '^FAIL +nvme inproc: four I/O rows measured: 3 rows with n > 0$' '1 ok, 1 FAIL'
check "NO: ... exit status 1" is "$rc" 1
cp "$tmp/no-checks" "$tmp/no/checks.tsv"

# ------------------------------------------------------------ NM: N1 missed
NIOPSX=([mpdev-poll,randread,1]=1800)
write_nvme_run "$tmp/nm" "${NCONFIGS[@]}"
run_report "$tmp/nm.out" "$tmp/nm"
check "NM: exit status 0 (N1 is not enforced)" is "$rc" 0
check "NM: N1 MISSED, worst 0.900 (randread)" has "$tmp/nm.out" '^N1 +MISSED +mpdev polling IOPS .*: worst 0\.900 \(randread\); information: QD1 poll/ioeventfd randread 0\.75, randwrite 0\.84;'
check "NM: randread QD1 ratios follow the data" is "$(nvme_ratios "$tmp/nm.out" randread 1)" "0.90 0.75 0.75"
check "NM: a wrong ratio would be caught (N's 1.10 is not NM's)" fails is "$(nvme_ratios "$tmp/nm.out" randread 1)" "1.10 0.92 0.75"
check "NM: the QD16 blocks are untouched" is "$(nvme_ratios "$tmp/nm.out" randread 16)" "1.13 0.90 0.75"
check "NM: bench.json N1 missed, value 0.9" has "$tmp/nm/bench.json" '"id": "N1", .*"status": "missed", "value": 0\.9, "limit": 1,'
NIOPSX=([mpdev-poll,randread,1]=1800 [mpdev-poll,randwrite,1]=skip)
write_nvme_run "$tmp/nm2" "${NCONFIGS[@]}"
run_report "$tmp/nm2.out" "$tmp/nm2"
check "NM2: N1 MISSED on randread though randwrite is missing" \
	has "$tmp/nm2.out" '^N1 +MISSED .*: worst 0\.900 \(randread\); no mpdev-poll data for randwrite; information: '
check "NM2: '-' in mpdev-poll's randwrite QD1 row and its ratios" \
	has_in_nvme "$tmp/nm2.out" randwrite 1 '^mpdev-poll +- +- +-$' '^IOPS ratios \(> 1: mpdev faster\): poll/inproc - poll/ioeventfd - block/inproc 0\.70$'
# QD16 at 0.5 x in-process does not make N1 miss: it is QD1 only.
NIOPSX=([mpdev-poll,randread,16]=4000 [mpdev-poll,randwrite,16]=4000)
write_nvme_run "$tmp/nm3" "${NCONFIGS[@]}"
run_report "$tmp/nm3.out" "$tmp/nm3"
check "NM3: slow QD16 leaves N1 HOLDS, shown as information" \
	has "$tmp/nm3.out" '^N1 +HOLDS .*; QD16 poll/inproc randread 0\.50, randwrite 0\.50$'

# ------------------------------------------------------------ NN: N1 N/A with rows
NIOPSX=([mpdev-poll,randwrite,1]=skip)
write_nvme_run "$tmp/nn" "${NCONFIGS[@]}"
run_report "$tmp/nn.out" "$tmp/nn"
check "NN: N1 N/A: randwrite missing, randread shown" \
	has "$tmp/nn.out" '^N1 +N/A +.*: not evaluated: no mpdev-poll data for randwrite; the other op: worst 1\.100 \(randread\); information: '
NIOPSX=()
write_nvme_run "$tmp/nn2" mpdev-block mpdev-poll inproc-ioeventfd
run_report "$tmp/nn2.out" "$tmp/nn2"
check "NN2: no inproc NVMe rows: exit 0, inproc named missing" \
	has "$tmp/nn2.out" '^MISSING: no nvme-null rows for inproc: its cells show "-" and N1 is N/A$'
check "NN2: ... exit status 0" is "$rc" 0
check "NN2: N1 N/A, not evaluated: no inproc data" has "$tmp/nn2.out" '^N1 +N/A +.*: not evaluated: no inproc data; information: QD1 poll/ioeventfd randread 0\.92, randwrite 0\.84; QD1 block/inproc randread -, randwrite -;'
check "NN2: poll/ioeventfd still computed without inproc" is "$(nvme_ratios "$tmp/nn2.out" randread 16)" "- 0.90 -"
check "NN2: bench.json N1 n/a, value null, inproc iops null" \
	has "$tmp/nn2/bench.json" '"id": "N1", .*"status": "n/a", "value": null' '"mpdev-poll": 2200\.0, "inproc": null, "inproc-ioeventfd": 2400\.0\}'
printf 'T\n=\n\n.. bench-results-start\n\n.. bench-results-end\n' >"$tmp/page-nn2.rst"
run_report "$tmp/dnn2.out" --update-doc "$tmp/page-nn2.rst" "$tmp/nn2"
check "NN2: --update-doc names the missing NVMe config, '-' in its row" \
	has "$tmp/page-nn2.rst" '^\*\*No nvme-null results for inproc\*\*: its cells show "-"\.$' '^inproc +- \(- / -\) +- \(- / -\) '

# ------------------------------------------------------------ NW: odd NVMe rows
NIOPSX=([inproc-ioeventfd,randread,16]=skip)
DIOPSX=([inproc,disk-raw,randread]=skip)
write_nvme_run "$tmp/nw" "${NCONFIGS[@]}"
write_disk "$tmp/nw" inproc
{
	printf 'inproc-ioeventfd\tnvme-null\trandread\t4096\t16\t0\t-\t-\t-\t0\n'
	printf 'inproc\tdisk-raw\trandread\t4096\t1\t0\t-\t-\t-\t0\n'
	printf 'stock\tnvme-null\trandread\t4096\t1\t100\t1000\t2000\t-\t1000\n'
	printf 'mpdev-poll\tnvme-null\trandread\t4096\t4\t100\t1000\t2000\t-\t1000\n'
	printf 'inproc-ioeventfd\tmmio\tread\t4\t1\t100\t1000\t2000\t1100\t1000\n'
} >>"$tmp/nw/results.tsv"
DIOPSX=()
run_report "$tmp/nw.out" "$tmp/nw"
check "NW: odd rows are warnings, exit status 0" is "$rc" 0
check "NW: an NVMe row with n=0 warned about" \
	has "$tmp/nw.out.err" 'results\.tsv:[0-9]+: inproc-ioeventfd nvme-null randread at queue depth 16: n=0, no I/O completed'
check "NW: a disk row with n=0 warned about the same way" \
	has "$tmp/nw.out.err" 'results\.tsv:[0-9]+: inproc disk-raw randread at queue depth 1: n=0, no I/O completed'
check "NW: a stock nvme-null row is in bench.json only" \
	has "$tmp/nw.out.err" 'config "stock" on nvme-null: not an NVMe configuration; in bench.json only'
check "NW: an NVMe queue depth other than 1 and 16 is in bench.json only" \
	has "$tmp/nw.out.err" 'nvme-null threads=4 \(queue depth\): in bench.json only'
check "NW: inproc-ioeventfd on mmio is in bench.json only" \
	has "$tmp/nw.out.err" 'config "inproc-ioeventfd" on mmio: an NVMe configuration; in bench.json only'
check "NW: inproc-ioeventfd is no unknown config" hasnt "$tmp/nw.out.err" 'unknown config'
check "NW: the stock row does not reach the NVMe blocks" hasnt_in_nvme "$tmp/nw.out" randread 1 '^stock'
check "NW: the n=0 row shows 0 IOPS, its ratio '-'" \
	has_in_nvme "$tmp/nw.out" randread 16 '^inproc-ioeventfd +0 +- +-$' '^IOPS ratios \(> 1: mpdev faster\): poll/inproc 1\.13 poll/ioeventfd - block/inproc 0\.75$'
check "NW: still 4 nvme blocks (no QD4 block)" is "$(grep -c '^== NVME-NULL ' "$tmp/nw.out")" 4
if [ "$have_python" = 1 ]; then
	check "NW: bench.json results keep the odd rows (15 + 3), nvme entries do not" \
		is "$(json_q "$tmp/nw/bench.json" 'len([r for r in d["results"] if r["space"] == "nvme-null"]), len(d["nvme"]), sorted(set(x["queue_depth"] for x in d["nvme"]))')" "18 4 [1, 16]"
else
	skip "no python3: JSON not checked"
fi

# ------------------------------------------------------------ B: misses
reset_data
P50X[mpdev-poll,mmio,read,8]=12000 # 0.30 x stock
OPS2[mpdev-block,write]=300000       # 1.50 x 1 thread
write_run "$tmp/b" stock mpdev-block mpdev-poll inproc
run_report "$tmp/b.out" "$tmp/b"
check "B: exit status 0 (missed targets are not enforced)" is "$rc" 0
check "B: T1 MISSED, worst 0.300 at size 8" has "$tmp/b.out" '^T1 +MISSED .*worst 0\.300 \(size 8\)'
check "B: T2 MISSED too (1.5 x in-process at size 8)" has "$tmp/b.out" '^T2 +MISSED .*worst 1\.500 \(size 8\)'
check "B: T4 MISSED on writes" has "$tmp/b.out" '^T4 +MISSED .*read 1\.80, write 1\.50'
check "B: bench.json T1 missed, value 0.3" has "$tmp/b/bench.json" '"id": "T1", .*"status": "missed", "value": 0\.3,'

# ------------------------------------------------------------ C: no mpdev-poll
reset_data
write_run "$tmp/c" stock mpdev-block inproc
run_report "$tmp/c.out" "$tmp/c"
check "C: missing config -> exit 0, no crash" is "$rc" 0
check "C: the missing config is named" has "$tmp/c.out" '^MISSING: no rows for mpdev-poll'
check "C: T1 N/A, not evaluated" has "$tmp/c.out" '^T1 +N/A +.*not evaluated: no mpdev-poll data'
check "C: T2 and T3 N/A" has "$tmp/c.out" '^T2 +N/A ' '^T3 +N/A '
check "C: T4 still evaluated with mpdev-block" has "$tmp/c.out" '^T4 +HOLDS '
check "C: '-' in the poll columns and ratios" \
	has "$tmp/c.out" '^1 +40\.0 +80\.0 +12\.0 +24\.0 +- +- +8\.0 +16\.0 +- +0\.30 +-$'
check "C: bench.json has null ratios and n/a targets" \
	has "$tmp/c/bench.json" '"poll_vs_stock": null' '"id": "T1", .*"status": "n/a", "value": null'
if [ "$have_python" = 1 ]; then
	check "C: bench.json is valid JSON" json_ok "$tmp/c/bench.json"
else
	skip "no python3: JSON validity not checked"
fi

# ------------------------------------------------------------ zero-patch
ZCONFIGS=(zp-block zp-sid-block zp-poll zp-sid-poll)
# The cases below change P50 entries: zp_reset puts back the table's
# values (and reset_data's).
declare -A P50_0=()
for k in "${!P50[@]}"; do P50_0[$k]=${P50[$k]}; done
zp_reset() {
	local k
	for k in "${!P50_0[@]}"; do P50[$k]=${P50_0[$k]}; done
	reset_data
}
# The console block of a zero-patch space/op: zp_block OUT 'MMIO reads'.
zp_block() {
	awk -v blk="== ZERO-PATCH $2:" '
		index($0, blk) == 1 { inb = 1; next }
		/^== / { inb = 0 }
		inb' "$1"
}
# The four ratio cells (zp/block sid/block zp/poll sid/poll) of one size
# row: zp_ratios OUT 'MMIO reads' 2 -> "1.05 1.00 0.90 1.20".
zp_ratios() {
	zp_block "$1" "$2" | awk -v size="$3" '$1 == size { print $(NF - 3), $(NF - 2), $(NF - 1), $NF; exit }'
}
# The throughput ratio cells of a line (op, threads): zp_tp OUT read 2 ->
# "0.90 1.00 1.10 0.80".
zp_tp() {
	zp_block "$1" "throughput, MMIO 4 bytes" |
		awk -v a="mmio $2 4B, $3 thread" 'index($0, a) == 1 { print $(NF - 3), $(NF - 2), $(NF - 1), $NF; exit }'
}
# The latency blocks only (MMIO, PIO: what zero-patch rows must not change).
lat_part() { awk '/^== MMIO reads/ { p = 1 } /^== Throughput/ { p = 0 } p' "$1"; }
# zp_cross JSON: every "zero_patch" entry agrees with the raw rows: p50
# and ops/s per config, each ratio recomputed (4 decimals), the geometric
# means from the one-thread p50 ratios.
zp_cross() {
	python3 - "$1" <<'PYEOF'
import json, math, sys
d = json.load(open(sys.argv[1]))
rows = {(r["config"], r["space"], r["op"], r["size"], r["threads"]): r
        for r in d["results"]}
ref = {"zp-block": "mpdev-block", "zp-sid-block": "mpdev-block",
       "zp-poll": "mpdev-poll", "zp-sid-poll": "mpdev-poll"}
bad = 0
logs = {c: [] for c in ref}
if not d["zero_patch"]:
    print("no zero_patch entries", file=sys.stderr)
    bad = 1
def get(c, k, col):
    r = rows.get((c,) + k)
    return None if r is None else r[col]
for e in d["zero_patch"]:
    k = (e["space"], e["op"], e["size"], e["threads"])
    cols = [("ops_per_s", "ops_ratio")] + ([("p50_ns", "p50_ratio")] if e["threads"] == 1 else [])
    for col, rname in cols:
        for c, v in e[col].items():
            if v != get(c, k, col):
                print(col, c, k, v, get(c, k, col), file=sys.stderr)
                bad = 1
        for c, b in ref.items():
            a, z = get(c, k, col), get(b, k, col)
            want = None if a is None or not z else round(a / z, 4)
            got = e[rname][c]
            if (want is None) != (got is None) or (want is not None and abs(got - want) > 1e-9):
                print(rname, c, k, got, "expected", want, file=sys.stderr)
                bad = 1
            if rname == "p50_ratio" and want is not None:
                logs[c].append(math.log(get(c, k, col) / get(b, k, col)))
for c, l in logs.items():
    g = d["zero_patch_geomean"][c]
    want = round(math.exp(sum(l) / len(l)), 4) if l else None
    if g["vs"] != ref[c] or g["cases"] != len(l) or \
       ((want is None) != (g["p50_ratio"] is None)) or \
       (want is not None and abs(g["p50_ratio"] - want) > 1e-9):
        print("geomean", c, g, "expected", want, len(l), file=sys.stderr)
        bad = 1
sys.exit(bad)
PYEOF
}

# A (no zero-patch rows): said so, Z targets N/A, JSON empty.
check "A (no zero-patch rows): zero-patch said to be not measured" \
	has "$tmp/a.out" '^== Zero-patch \(zp-block, zp-poll, zp-sid-block, zp-sid-poll\): no rows, not measured in this run$'
check "A: Z1, Z2 N/A, not evaluated: no zero-patch rows" \
	has "$tmp/a.out" '^Z1 +N/A +zero-patch blocking within 0\.5-2\.0 x the patched path .*: not evaluated: no zero-patch rows$' \
	'^Z2 +N/A +zero-patch polling within 0\.5-2\.0 x the patched path .*: not evaluated: no zero-patch rows$'
check "A: ZT1-ZT3 N/A, no zp-poll data" \
	is "$(grep -Ec '^ZT[1-3] +N/A +.*not evaluated: no zp-poll data' "$tmp/a.out")" 3
check "A: bench.json zero_patch empty, geomeans null, Z1 n/a" \
	has "$tmp/a/bench.json" '^  "zero_patch": \[\],$' '"zp-block": \{"vs": "mpdev-block", "p50_ratio": null, "cases": 0\}' \
	'"id": "Z1", .*"status": "n/a", "value": null, "limit": 2,'
check "A: no zero-patch config named missing" hasnt "$tmp/a.out" 'rows for zp-'
check "doc without zero-patch rows: said so, Z targets listed" \
	has "$tmp/page.once" '^\*\*Zero-patch\*\*: no zp-block, zp-poll, zp-sid-block, zp-sid-poll rows in this run\.$' \
	'^\* Z1 \*\*N/A\*\* -- zero-patch blocking within 0\.5-2\.0 x' '^\* Z2 \*\*N/A\*\* -- zero-patch polling within' '^\* ZT3 \*\*N/A\*\* -- zero-patch posted writes'

# Z: every config, the ratios of the table above P50.
zp_reset
write_run "$tmp/z" stock mpdev-block mpdev-poll inproc "${ZCONFIGS[@]}"
printf 'zp-poll: no BAR message on QEMU'"'"'s socket\tok\tsocket.bar_read=0 socket.bar_write=0\n' >>"$tmp/z/checks.tsv"
run_report "$tmp/z.out" "$tmp/z"
check "Z (with zero-patch rows): exit status 0" is "$rc" 0
check "Z: no warnings (the zero-patch configs are known)" hasnt "$tmp/z.out.err" warning
check "Z: the latency blocks and T1-T4 exactly as without zero-patch rows" \
	cmp -s <(lat_part "$tmp/a.out"; grep -E '^T[1-4] ' "$tmp/a.out") <(lat_part "$tmp/z.out"; grep -E '^T[1-4] ' "$tmp/z.out")
check "Z: a block per space/op" \
	is "$(grep -Ec '^== ZERO-PATCH (MMIO|PIO) (reads|writes): p50 per access in µs; ratios zero-patch / patched on p50 \(< 1: zero-patch faster\)$' "$tmp/z.out")" 4
check "Z: the block header names the columns, patched beside zero-patch" \
	has "$tmp/z.out" '^size +mpdev-block +zp-block +zp-sid-block +mpdev-poll +zp-poll +zp-sid-poll +zp/block +sid/block +zp/poll +sid/poll$'
check "Z: MMIO read size 1 row: p50 per config, ratios" \
	has "$tmp/z.out" '^1 +12\.0 +12\.6 +12\.0 +4\.0 +3\.6 +4\.8 +1\.05 +1\.00 +0\.90 +1\.20$'
check "Z: MMIO read size 2 ratios (the P50X overrides)" is "$(zp_ratios "$tmp/z.out" 'MMIO reads' 2)" "1.05 1.00 0.90 1.20"
check "Z: PIO write size 4 ratios" is "$(zp_ratios "$tmp/z.out" 'PIO writes' 4)" "1.05 1.00 0.90 1.20"
check "Z: PIO blocks have sizes 1 2 4" \
	is "$(zp_block "$tmp/z.out" 'PIO reads' | awk '/^[0-9]/ { printf "%s ", $1 }')" "1 2 4 "
check "Z: throughput 2-thread ops/s ratios (reads, writes)" \
	is "$(zp_tp "$tmp/z.out" read 2) / $(zp_tp "$tmp/z.out" write 2)" "0.90 1.00 1.10 0.80 / 0.90 1.00 1.10 0.80"
check "Z: throughput 1-thread ops/s ratios (1e9 / p50 + 0.25)" is "$(zp_tp "$tmp/z.out" read 1)" "0.95 1.00 1.11 0.83"
check "Z: throughput table rows for the zero-patch configs, with their scale" \
	has "$tmp/z.out" '^zp-block +mmio read 4B +79365 +135000 +1\.70$' '^zp-sid-poll +mmio write 4B +208333 +320000 +1\.54$'
check "Z: geometric means" \
	has "$tmp/z.out" '^Geometric mean of the p50 ratios over the 14 one-thread cases: zp/block 1\.050, sid/block 1\.000, zp/poll 0\.900, sid/poll 1\.200$'
check "Z: Z1 HOLDS, each blocking pair with its mean and range" \
	has "$tmp/z.out" '^Z1 +HOLDS +zero-patch blocking within 0\.5-2\.0 x the patched path \(p50, geometric mean over the one-thread MMIO and PIO cases; Debian 12 and sid QEMU\): zp-block/mpdev-block 1\.050 \(14 of 14 cases, each 1\.05-1\.05\); zp-sid-block/mpdev-block 1\.000 \(14 of 14 cases, each 1\.00-1\.00\); within the tighter 0\.8-1\.25: 2 of 2$'
check "Z: Z2 HOLDS, each polling pair" \
	has "$tmp/z.out" '^Z2 +HOLDS +zero-patch polling within 0\.5-2\.0 x the patched path \(.*\): zp-poll/mpdev-poll 0\.900 \(14 of 14 cases, each 0\.90-0\.90\); zp-sid-poll/mpdev-poll 1\.200 \(14 of 14 cases, each 1\.20-1\.20\); within the tighter 0\.8-1\.25: 2 of 2$'
check "Z: ZT1 HOLDS, worst 0.135 (size 2), sid as information" \
	has "$tmp/z.out" '^ZT1 +HOLDS +zero-patch polling reads <= 0\.25 x stock \(T1\): worst 0\.135 \(size 2\); zp-sid-poll \(information\): worst 0\.180 \(size 2\)$'
check "Z: ZT2 HOLDS, worst 0.675 (size 2)" \
	has "$tmp/z.out" '^ZT2 +HOLDS +zero-patch polling reads <= 1\.0 x in-process \(T2\): worst 0\.675 \(size 2\); zp-sid-poll \(information\): worst 0\.900 \(size 2\)$'
check "Z: ZT3 HOLDS, zero-patch blocking and sid as information" \
	has "$tmp/z.out" '^ZT3 +HOLDS +zero-patch posted writes <= 0\.15 x stock \(T3\): worst 0\.090 \(size 1\); zp-block \(information\): worst 0\.131 \(size 1\); zp-sid-poll \(information\): worst 0\.120 \(size 1\)$'
check "Z: Z targets under their own heading" \
	has "$tmp/z.out" '^== Zero-patch targets \(p50, threads=1; Z1, Z2 MMIO and PIO, ZT1-ZT3 MMIO; reported, not enforced\)$'
check "Z: no zero-patch config named missing" hasnt "$tmp/z.out" '^MISSING'
check "Z: the zero-patch check counted" has "$tmp/z.out" '^== Sanity checks \(checks\.tsv\): 3 ok, 0 FAIL$'
if [ "$have_python" = 1 ]; then
	check "Z: bench.json is valid JSON" json_ok "$tmp/z/bench.json"
	check "Z: bench.json: 14 one-thread and 2 two-thread zero_patch entries" \
		is "$(json_q "$tmp/z/bench.json" 'sum(e["threads"] == 1 for e in d["zero_patch"]), sum(e["threads"] == 2 for e in d["zero_patch"])')" "14 2"
	check "Z: bench.json zero_patch entries and geomeans agree with the raw rows" zp_cross "$tmp/z/bench.json"
	sed 's/"p50_ratio": {"zp-block": 1\.05,/"p50_ratio": {"zp-block": 1.5,/' "$tmp/z/bench.json" >"$tmp/z-wrong.json"
	check "Z: a wrong zero-patch ratio in bench.json would be caught" fails zp_cross "$tmp/z-wrong.json"
	check "Z: bench.json geomeans" \
		is "$(json_q "$tmp/z/bench.json" '[(c, g["vs"], g["p50_ratio"], g["cases"]) for c, g in d["zero_patch_geomean"].items()]')" \
		"[('zp-block', 'mpdev-block', 1.05, 14), ('zp-sid-block', 'mpdev-block', 1, 14), ('zp-poll', 'mpdev-poll', 0.9, 14), ('zp-sid-poll', 'mpdev-poll', 1.2, 14)]"
	check "Z: bench.json Z1 holds, value 1.05, Z2 1.2 (farthest from 1), limit 2; ZT1 0.135" \
		is "$(json_q "$tmp/z/bench.json" '[(t["id"], t["status"], t["value"], t["limit"]) for t in d["targets"] if t["id"][0] == "Z"]')" \
		"[('Z1', 'holds', 1.05, 2), ('Z2', 'holds', 1.2, 2), ('ZT1', 'holds', 0.135, 0.25), ('ZT2', 'holds', 0.675, 1), ('ZT3', 'holds', 0.09, 0.15)]"
	check "Z: bench.json ratios (poll/stock...) unchanged by the zero-patch rows" \
		is "$(json_q "$tmp/z/bench.json" 'd["ratios"]')" "$(json_q "$tmp/a/bench.json" 'd["ratios"]')"
else
	skip_n 7 "no python3: zero-patch JSON not checked"
fi
check "Z: bench.json zero_patch entry line" \
	has "$tmp/z/bench.json" '^    \{"space": "mmio", "op": "read", "size": 2, "threads": 1, "p50_ns": \{"mpdev-block": 12000, "zp-block": 12600, "zp-sid-block": 12000, "mpdev-poll": 6000, "zp-poll": 5400, "zp-sid-poll": 7200\}, "ops_per_s": \{.*\}, "p50_ratio": \{"zp-block": 1\.05, "zp-sid-block": 1, "zp-poll": 0\.9, "zp-sid-poll": 1\.2\}, "ops_ratio": \{"zp-block": 0\.9524, '
if [ "$have_gnuplot" = 1 ]; then
	check "Z: bench.png is a PNG" is "$(head -c 4 "$tmp/z/bench.png" | tail -c 3)" PNG
	check "Z: chart.gp: 8 bars per MMIO panel, each zero-patch config beside its patched one" \
		is "$(awk '/index 0 using/ { sub(/.*index 0 using /, ""); sub(/[: ].*/, ""); printf "%s ", $0 }' "$tmp/z/chart.gp")" "2 3 6 7 4 8 9 5 "
	check "Z: chart.gp: zero-patch titles, taller picture" \
		has "$tmp/z/chart.gp" "index 1 using 8 title 'zero-patch, Debian 12 QEMU, polling remote'" "index 0 using 7 title 'zero-patch, Debian sid QEMU, blocking remote'" 'size 1200,640 '
	check "Z: chart.dat: MMIO reads with the zero-patch columns" \
		has "$tmp/z/chart.dat" '^# MMIO reads, p50 per access in us: size stock mpdev-block mpdev-poll inproc zp-block zp-sid-block zp-poll zp-sid-poll$' '^2 40\.000 12\.000 6\.000 8\.000 12\.600 12\.000 5\.400 7\.200$'
	check "A (no zero-patch rows): MMIO panels with 4 bars, picture as tall as before" \
		is "$(grep -c 'index 0 using' "$tmp/a/chart.gp") $(grep -c 'size 1200,560 ' "$tmp/a/chart.gp")" "4 1"
else
	skip_n 5 "no gnuplot: no chart"
fi
cp "$tmp/page.once" "$tmp/page-z.rst"
run_report "$tmp/dz.out" --update-doc "$tmp/page-z.rst" "$tmp/z"
check "doc with zero-patch rows: exit status 0" is "$rc" 0
check "doc with zero-patch rows: tables per space/op, patched beside zero-patch" \
	has "$tmp/page-z.rst" '^\*\*Zero-patch\*\*: ..mpqemu-run --zero-patch.., ' '^\*\*Zero-patch MMIO reads\*\*$' '^\*\*Zero-patch PIO writes\*\*$' \
	'^Size +mpdev-block +zp-block +zp-sid-block +mpdev-poll +zp-poll +zp-sid-poll +zp/block +sid/block +zp/poll +sid/poll$' \
	'^2 +12\.0 +12\.6 +12\.0 +6\.0 +5\.4 +7\.2 +1\.05 +1\.00 +0\.90 +1\.20$'
check "doc with zero-patch rows: throughput ratios, geometric means, Z targets" \
	has "$tmp/page-z.rst" '^mmio write 4B, 2 threads +360000 +324000 +360000 +400000 +440000 +320000 +0\.90 +1\.00 +1\.10 +0\.80$' \
	'^Geometric mean of the p50 ratios over the 14 one-thread cases: zp/block 1\.050, sid/block 1\.000, zp/poll 0\.900, sid/poll 1\.200\.$' \
	'^\* Z1 \*\*HOLDS\*\* -- zero-patch blocking within 0\.5-2\.0 x the patched path ' '^\* ZT2 \*\*HOLDS\*\* -- zero-patch polling reads <= 1\.0 x in-process \(T2\): worst 0\.675 \(size 2\)'
check "doc with zero-patch rows: only the zero-patch part, the throughput table and the check count differ" \
	cmp -s <(awk '/^\*\*(Zero-patch|Throughput)/ { s = 1 } /^\*\*Real I\/O/ { s = 0 } !s && !/^Sanity checks/' "$tmp/page-z.rst") \
	<(awk '/^\*\*(Zero-patch|Throughput)/ { s = 1 } /^\*\*Real I\/O/ { s = 0 } !s && !/^Sanity checks/' "$tmp/page.once")
if [ "$have_python" = 1 ] && python3 -c 'import docutils' 2>/dev/null; then
	check "doc with zero-patch rows: valid reStructuredText" python3 -c '
import sys, docutils.core
docutils.core.publish_doctree(open(sys.argv[1], encoding="utf-8").read(),
	settings_overrides={"halt_level": 2, "report_level": 2})' "$tmp/page-z.rst"
else
	skip "no docutils: rst not validated"
fi
cp "$tmp/z/checks.tsv" "$tmp/z-checks"
printf 'zp-block: no BAR message on QEMU'"'"'s socket\tFAIL\tsocket.bar_read=9307 socket.bar_write=9038\n' >>"$tmp/z/checks.tsv"
run_report "$tmp/zf.out" "$tmp/z"
check "Z: a FAILed zero-patch route check -> exit 1, printed" \
	has "$tmp/zf.out" "^FAIL +zp-block: no BAR message on QEMU's socket: socket.bar_read=9307" '3 ok, 1 FAIL'
check "Z: ... exit status 1" is "$rc" 1
cp "$tmp/z-checks" "$tmp/z/checks.tsv"

# ZM: zp-poll 2.5 x mpdev-poll: Z2 MISSED; zp-block 1.5 x: Z1 HOLDS, but
# not within the tighter bound.  ZL: zp-block 0.4 x: Z1 MISSED low.
zp_reset
for k in mmio,read mmio,write pio,read pio,write; do
	P50[zp-poll,$k]=$(( P50[mpdev-poll,$k] * 5 / 2 ))
	P50[zp-block,$k]=$(( P50[mpdev-block,$k] * 3 / 2 ))
done
P50X[zp-poll,mmio,read,2]=15000
write_run "$tmp/zm" stock mpdev-block mpdev-poll inproc "${ZCONFIGS[@]}"
run_report "$tmp/zm.out" "$tmp/zm"
check "ZM: exit status 0 (Z2 is not enforced)" is "$rc" 0
check "ZM: Z2 MISSED, zp-poll 2.500" has "$tmp/zm.out" '^Z2 +MISSED .*: zp-poll/mpdev-poll 2\.500 \(14 of 14 cases, each 2\.50-2\.50\); .*; within the tighter 0\.8-1\.25: 1 of 2$'
check "ZM: Z1 HOLDS at 1.5, 1 of 2 within the tighter bound" \
	has "$tmp/zm.out" '^Z1 +HOLDS .*: zp-block/mpdev-block 1\.500 \(14 of 14 cases, each 1\.50-1\.50\); .*; within the tighter 0\.8-1\.25: 1 of 2$'
check "ZM: zp/poll ratios 2.50" is "$(zp_ratios "$tmp/zm.out" 'MMIO writes' 8)" "1.50 1.00 2.50 1.20"
check "ZM: a wrong ratio would be caught (Z's 0.90 is not ZM's)" fails is "$(zp_ratios "$tmp/zm.out" 'MMIO writes' 8)" "1.50 1.00 0.90 1.20"
check "ZM: ZT2 MISSED (zp-poll 1.875 x in-process at size 2)" has "$tmp/zm.out" '^ZT2 +MISSED .*: worst 1\.875 \(size 2\)'
check "ZM: bench.json Z2 missed, value 2.5" has "$tmp/zm/bench.json" '"id": "Z2", .*"status": "missed", "value": 2\.5, "limit": 2,'
zp_reset
for k in mmio,read mmio,write pio,read pio,write; do P50[zp-block,$k]=$(( P50[mpdev-block,$k] * 2 / 5 )); done
write_run "$tmp/zl" stock mpdev-block mpdev-poll inproc "${ZCONFIGS[@]}"
run_report "$tmp/zl.out" "$tmp/zl"
check "ZL: zp-block 0.4 x the patched path: Z1 MISSED (the lower bound)" \
	has "$tmp/zl.out" '^Z1 +MISSED .*: zp-block/mpdev-block 0\.400 \(14 of 14 cases, each 0\.40-0\.40\); .*; within the tighter 0\.8-1\.25: 1 of 2$'
check "ZL: bench.json Z1 value 0.4, Z2 still holds" \
	has "$tmp/zl/bench.json" '"id": "Z1", .*"status": "missed", "value": 0\.4,' '"id": "Z2", .*"status": "holds",'

# ZG: one case 2 x, the rest 1.05 x: the mean holds, the range shows it.
zp_reset
P50X[zp-block,mmio,read,2]=24000
write_run "$tmp/zg" stock mpdev-block mpdev-poll inproc "${ZCONFIGS[@]}"
run_report "$tmp/zg.out" "$tmp/zg"
check "ZG: one case 2.00 x, the mean 1.099: Z1 HOLDS" \
	has "$tmp/zg.out" '^Z1 +HOLDS .*: zp-block/mpdev-block 1\.099 \(14 of 14 cases, each 1\.05-2\.00\);'
check "ZG: that case's ratio in its block" is "$(zp_ratios "$tmp/zg.out" 'MMIO reads' 2)" "2.00 1.00 0.90 1.20"

# ZS: no sid rows (no MPDEV_QEMU_CHROOT): Z1 still evaluated.
zp_reset
write_run "$tmp/zs" stock mpdev-block mpdev-poll inproc zp-block zp-poll
run_report "$tmp/zs.out" "$tmp/zs"
check "ZS (no zp-sid rows): exit status 0, no warning" is "$rc:$(grep -c warning "$tmp/zs.out.err")" "0:0"
check "ZS: the sid configs named missing, why" \
	has "$tmp/zs.out" '^MISSING: no rows for zp-sid-block: its columns show "-" \(Debian sid QEMU: needs MPDEV_QEMU_CHROOT\)$'
check "ZS: Z1, Z2 HOLD, the sid pairs not measured" \
	has "$tmp/zs.out" '^Z1 +HOLDS +.*: zp-block/mpdev-block 1\.050 \(14 of 14 cases, each 1\.05-1\.05\); zp-sid-block: not measured; within the tighter 0\.8-1\.25: 1 of 1$' \
	'^Z2 +HOLDS +.*: zp-poll/mpdev-poll 0\.900 .*; zp-sid-poll: not measured; within the tighter 0\.8-1\.25: 1 of 1$'
check "ZS: ZT1 without sid information" has "$tmp/zs.out" '^ZT1 +HOLDS .*: worst 0\.135 \(size 2\)$'
check "ZS: '-' in the sid columns" has "$tmp/zs.out" '^1 +12\.0 +12\.6 +- +4\.0 +3\.6 +- +1\.05 +- +0\.90 +-$'

# ZN: no zp-poll rows; ZR: zero-patch rows only (no patched ones).
zp_reset
write_run "$tmp/zn" stock mpdev-block mpdev-poll inproc zp-block zp-sid-block zp-sid-poll
run_report "$tmp/zn.out" "$tmp/zn"
check "ZN (no zp-poll rows): exit 0, zp-poll named missing" \
	has "$tmp/zn.out" '^MISSING: no rows for zp-poll: its columns show "-" and Z2 is N/A$'
check "ZN: Z2 N/A, the missing pair said; Z1 HOLDS" \
	has "$tmp/zn.out" '^Z2 +N/A +.*: not evaluated, data missing: zp-poll/mpdev-poll: no data \(no zp-poll rows\); zp-sid-poll/mpdev-poll 1\.200 ' '^Z1 +HOLDS '
check "ZN: ZT1-ZT3 N/A" is "$(grep -Ec '^ZT[1-3] +N/A +.*not evaluated: no zp-poll data' "$tmp/zn.out")" 3
zp_reset
write_run "$tmp/zr" stock inproc zp-block zp-poll
run_report "$tmp/zr.out" "$tmp/zr"
check "ZR (zero-patch rows, no patched ones): exit 0, no ratio" is "$rc $(zp_ratios "$tmp/zr.out" 'MMIO reads' 1)" "0 - - - -"
check "ZR: Z1, Z2 N/A: no mpdev-block or mpdev-poll rows" \
	has "$tmp/zr.out" '^Z1 +N/A +.*: zp-block/mpdev-block: no data \(no mpdev-block rows\); zp-sid-block: not measured$' \
	'^Z2 +N/A +.*: zp-poll/mpdev-poll: no data \(no mpdev-poll rows\); zp-sid-poll: not measured$'
check "ZR: ZT1 still evaluated (against stock)" has "$tmp/zr.out" '^ZT1 +HOLDS '

# ZI: one zp-block row missing: its mean is over 13 cases, Z1 N/A.
zp_reset
write_run "$tmp/zi" stock mpdev-block mpdev-poll inproc "${ZCONFIGS[@]}"
awk -F'\t' '!($1 == "zp-block" && $2 == "pio" && $3 == "write" && $4 == 4)' "$tmp/zi/results.tsv" >"$tmp/zi/r" &&
	mv "$tmp/zi/r" "$tmp/zi/results.tsv"
run_report "$tmp/zi.out" "$tmp/zi"
check "ZI (a zp-block case missing): Z1 N/A, the mean over 13 of 14 cases" \
	has "$tmp/zi.out" '^Z1 +N/A +.*: not evaluated, data missing: zp-block/mpdev-block 1\.050 \(13 of 14 cases, each 1\.05-1\.05\);'
check "ZI: '-' for that case" is "$(zp_ratios "$tmp/zi.out" 'PIO writes' 4)" "- 1.00 0.90 1.20"

# ZW: a zero-patch config on a disk space is in bench.json only.
zp_reset
write_run "$tmp/zw" stock mpdev-block mpdev-poll inproc zp-block zp-poll
printf 'zp-block\tdisk-null\trandread\t4096\t1\t100\t1000\t2000\t-\t1000\n' >>"$tmp/zw/results.tsv"
run_report "$tmp/zw.out" "$tmp/zw"
check "ZW: a zp-block disk-null row warned about, exit 0" \
	has "$tmp/zw.out.err" 'config "zp-block" on disk-null: a zero-patch configuration \(register rows only\); in bench.json only'
check "ZW: ... and kept out of the disk blocks" hasnt "$tmp/zw.out" '^zp-block +1000 '
zp_reset

# ------------------------------------------------------------ failures
reset_data
write_run "$tmp/f" stock mpdev-block mpdev-poll inproc
printf 'mpdev-block: zero BAR messages on the socket\tFAIL\t12 BAR_READ seen\n' >>"$tmp/f/checks.tsv"
run_report "$tmp/f.out" "$tmp/f"
check "FAIL check -> exit 1" is "$rc" 1
check "FAIL check printed, counted" \
	has "$tmp/f.out" '^FAIL +mpdev-block: zero BAR messages on the socket: 12 BAR_READ seen' '2 ok, 1 FAIL'
check "FAIL check: the report is still written" has "$tmp/f/bench.json" '"ok": false'

mkdir "$tmp/e"
printf '# config\tspace\top\n\n' >"$tmp/e/results.tsv"
run_report "$tmp/e.out" "$tmp/e"
check "no result rows -> exit 1" is "$rc" 1
check "no result rows: said so on stderr" has "$tmp/e.out.err" 'no result rows'
check "no result rows: every target N/A" is "$(grep -Ec '^T[1-4] +N/A ' "$tmp/e.out")" 4
check "no result rows: every disk target N/A" is "$(grep -Ec '^D[1-3] +N/A ' "$tmp/e.out")" 3
check "no result rows: N1 N/A too" has "$tmp/e.out" '^N1 +N/A .*not evaluated: no nvme-null rows$'

run_report "$tmp/u.out"
check "no DIR -> exit 2" is "$rc" 2
mkdir "$tmp/empty"
run_report "$tmp/u.out" "$tmp/empty"
check "no results.tsv -> exit 2" is "$rc" 2
check "no results.tsv: named on stderr" has "$tmp/u.out.err" 'results\.tsv'
run_report "$tmp/u.out" --bogus "$tmp/a"
check "unknown option -> exit 2" is "$rc" 2

echo "1..$n"
if [ "$skipped" -gt 0 ]; then
	echo "$pass passed, $fail failed, $skipped skipped"
else
	echo "$pass passed, $fail failed"
fi
[ "$fail" -eq 0 ]
