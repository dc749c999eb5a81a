#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# test-bench-report.sh - test of scripts/bench-report.sh on synthetic runs:
# target verdicts, ratios, JSON, the chart, --update-doc and exit statuses,
# for the register rows (mmio, pio) and the real-I/O rows (disk-null,
# disk-raw) alone and together.
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
)
declare -A P50X OPS2

# 2-thread ops/s at MMIO size 4 (1-thread: stock 25000, block 83333.25 for
# reads and 200000.25 for writes, poll 250000.25).
reset_data() {
	P50X=([mpdev-poll,mmio,read,2]=6000)
	OPS2=(
		[stock,read]=30000 [stock,write]=30000
		[mpdev-block,read]=150000 [mpdev-block,write]=360000
		[mpdev-poll,read]=312500 [mpdev-poll,write]=400000
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
	is "$(grep -Eo '^  "[a-z]+"' "$tmp/a/bench.json" | tr -d ' "' | tr '\n' ' ')" "meta results ratios throughput disk targets checks "
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
	check "G: bench.json: 78 results, 4 disk entries, 7 targets" \
		is "$(json_q "$tmp/g/bench.json" 'len(d["results"]), len(d["disk"]), len(d["targets"])')" "78 4 7"
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
