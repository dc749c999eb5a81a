#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# test-mpdev-io.sh - host-side self-test of mpdev-io's data checks.
#
# Usage: selftests/e2e/test-mpdev-io.sh [MPDEV-IO]
#
# Runs mpdev-io --file (a plain file in place of a disk) on temp files:
# pattern then verify-image passes; a flipped byte inside an extent, one
# outside, a lost generation-2 write and a wrong seed each make
# verify-image fail; stream then verify-stream passes, also with records
# after N lost (a remote killed mid-I/O) or one torn, and fails on a damaged
# record, data after a hole and an N past the end; bench prints its line;
# msix walks the capability list of config-space files made here (MSI-X
# enabled passes; disabled, masked, absent, a looping or out-of-range list,
# a cut-off capability and a 64-byte header-only read fail, each saying
# why); msi likewise on ich9-ahci's layout (MSI enabled passes; disabled,
# hidden, MSI-X only, every vector masked, cut off, the header only fail;
# the 32-bit layout with per-vector masking read right); both without
# --file find no disk with a made-up serial; pci finds
# no function with a made-up ID; fetch gets a file from python3's
# http.server on 127.0.0.1.
# No root, no VM.  MPDEV-IO defaults to build/e2e/mpdev-io (make -C
# selftests/e2e).  TAP; the last line is "N passed, N failed".
set -u

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
io=${1:-$here/../../build/e2e/mpdev-io}
[ -x "$io" ] || { echo "test-mpdev-io: no $io (run 'make -C selftests/e2e')" >&2; exit 2; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/mpdev-io.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

n=0 fail=0
ok() {	# ok STATUS DESC
	n=$((n + 1))
	if [ "$1" -eq 0 ]; then
		echo "ok $n - $2"
	else
		fail=$((fail + 1))
		echo "not ok $n - $2"
		sed 's/^/#   /' "$tmp/out" | tail -n 15
	fi
}
# want RC DESC CMD...: CMD's exit status is RC
want() {
	local rc=$1 desc=$2 got
	shift 2
	"$@" >"$tmp/out" 2>&1
	got=$?
	[ "$got" -eq "$rc" ]
	ok $? "$desc (exit $got)"
}
# poke FILE OFFSET HEXBYTE: write one byte
# shellcheck disable=SC2059 # the byte is the format
poke() { printf "\\x$3" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none; }

img=$tmp/disk.img
truncate -s 40M "$img"
want 0 "pattern on a 40 MiB file" "$io" --out stdout --file run "disk:$img,pattern:$img:7"
grep -q '^E2E-GUEST-DONE pass=20 fail=0 skip=0 todo=0$' "$tmp/out"
ok $? "pattern: 20 checks passed, E2E-GUEST-DONE"
grep -q '^# mpdev-io: run (uptime [0-9.]* s) ' "$tmp/out"
ok $? "run starts with '# mpdev-io: run (uptime X s)'"
want 0 "verify-image seed 7" "$io" verify-image "$img" 7
grep -q "^ok 2 - verify-image: all 16 extents" "$tmp/out"
ok $? "verify-image: stdout by default, extents ok"
want 1 "verify-image with the wrong seed fails" "$io" verify-image "$img" 8
cp --sparse=always "$img" "$tmp/copy.img"
"$io" verify-image "$img" 7 >"$tmp/plan"
# extent K's offset and KiB; GEN given: the first extent of that kind
ext() { sed -n "s/^# extent $1 at \([0-9]*\), \([0-9]*\) KiB, ${2:-.*}\$/\1 \2/p" "$tmp/plan" | head -n1; }

read -r off _ <<<"$(ext 6)"
poke "$img" $((off + 100)) ff
want 1 "a byte flipped inside extent 6 fails" "$io" verify-image "$img" 7
grep -q '^not ok .*extent 6: first mismatch at offset' "$tmp/out"
ok $? "verify-image names extent 6 and its offset $((off + 96))"
grep -q "offset $((off + 96))" "$tmp/out"
ok $? "verify-image: the first mismatching offset is the flipped word's"
cp --sparse=always "$tmp/copy.img" "$img"
want 0 "restored image passes again" "$io" verify-image "$img" 7

read -r _ ext0 <<<"$(ext 0)"
poke "$img" $((ext0 * 1024 + 4096 * 3 + 5)) 01
want 1 "a byte outside the extents fails" "$io" verify-image "$img" 7
grep -q '^not ok .*data outside the extents' "$tmp/out"
ok $? "verify-image: reports data outside the extents"
cp --sparse=always "$tmp/copy.img" "$img"

poke "$img" $((40 * 1024 * 1024 - 1)) 00
want 1 "a zeroed last byte of the disk fails" "$io" verify-image "$img" 7
cp --sparse=always "$tmp/copy.img" "$img"

# a lost write: a generation-2 extent zeroed; and one swapped with its
# neighbour's data (a misplaced write)
read -r g2 g2k <<<"$(ext '[0-9]*' 'gen 2')"
dd if=/dev/zero of="$img" bs=4096 seek=$((g2 / 4096)) count=$((g2k / 4)) conv=notrunc status=none
want 1 "a lost write (a gen-2 extent zeroed) fails" "$io" verify-image "$img" 7
cp --sparse=always "$tmp/copy.img" "$img"
read -r e3 _ <<<"$(ext 3)"
dd if="$tmp/copy.img" of="$img" bs=4096 skip=$((e3 / 4096)) seek=$((e3 / 4096 + 1)) count=1 conv=notrunc status=none
want 1 "extent 3's first block written 4 KiB too far fails" "$io" verify-image "$img" 7
cp --sparse=always "$tmp/copy.img" "$img"

# an image that is not a multiple of 4 KiB: the last full 4 KiB is used
truncate -s $((8 * 1024 * 1024 + 512)) "$tmp/odd.img"
want 0 "pattern on an 8 MiB + 512 file" "$io" --out stdout --file run "disk:$tmp/odd.img,pattern:$tmp/odd.img:123"
want 0 "verify-image of it" "$io" verify-image "$tmp/odd.img" 123
truncate -s 64K "$tmp/tiny.img"
want 1 "pattern on a 64 KiB file is refused" "$io" --out stdout --file pattern "$tmp/tiny.img" 1
want 1 "a disk that does not exist" "$io" --out stdout --file run "disk:$tmp/none.img:1"

# ------------------------------------------------------------- stream
s=$tmp/stream.img
truncate -s 4M "$s"
want 0 "stream to the end of a 4 MiB file" "$io" --out stdout --file run "disk:$s,stream:$s:9"
[ "$(grep -c '^BLK-DONE [0-9]*$' "$tmp/out")" -eq 64 ] && grep -q '^BLK-END 64$' "$tmp/out"
ok $? "stream: BLK-DONE 0..63, BLK-END 64"
cp "$s" "$tmp/stream.copy"
want 0 "verify-stream N=63" "$io" verify-stream "$s" 9 63
grep -q '^BLK-BEYOND 0 torn=0$' "$tmp/out"
ok $? "verify-stream: BLK-BEYOND 0"
want 0 "verify-stream N=40 (23 more landed)" "$io" verify-stream "$s" 9 40
grep -q '^BLK-BEYOND 23 torn=0$' "$tmp/out"
ok $? "verify-stream: BLK-BEYOND 23"
want 1 "verify-stream with the wrong seed" "$io" verify-stream "$s" 10 3
want 1 "verify-stream N past the end" "$io" verify-stream "$s" 9 64

# the remote killed after record 45 landed, host saw BLK-DONE 40
dd if=/dev/zero of="$s" bs=64K seek=46 count=18 conv=notrunc status=none
want 0 "records after 45 lost, N=40" "$io" verify-stream "$s" 9 40
grep -q '^BLK-BEYOND 5 torn=0$' "$tmp/out"
ok $? "verify-stream: BLK-BEYOND 5"
want 1 "records after 45 lost, N=50 fails" "$io" verify-stream "$s" 9 50
# record 46 half written (torn)
dd if="$tmp/stream.copy" of="$s" bs=4K skip=$((46 * 16)) seek=$((46 * 16)) count=8 conv=notrunc status=none
want 0 "record 46 torn, N=45" "$io" verify-stream "$s" 9 45
grep -q '^BLK-BEYOND 0 torn=1$' "$tmp/out"
ok $? "verify-stream: BLK-BEYOND 0 torn=1"
# a record written after the hole: writes were not sequential
dd if="$tmp/stream.copy" of="$s" bs=64K skip=50 seek=50 count=1 conv=notrunc status=none
want 1 "data after the first missing record fails" "$io" verify-stream "$s" 9 45
cp "$tmp/stream.copy" "$s"
poke "$s" $((10 * 65536 + 4000)) 5a
want 1 "a damaged record 10 fails (N=63)" "$io" verify-stream "$s" 9 63
grep -q 'record 10 is not intact' "$tmp/out"
ok $? "verify-stream names record 10"
cp "$tmp/stream.copy" "$s"
poke "$s" $((20 * 65536 + 16)) 00
want 1 "a damaged record header fails" "$io" verify-stream "$s" 9 63

# -------------------------------------------------------------- bench
b=$tmp/bench.img
truncate -s 16M "$b"
for rw in randread randwrite; do
	want 0 "bench $rw 1 s" "$io" --out stdout --file run "disk:$b,bench:$b:$rw:1:t$rw"
	grep -qE "^BLKBENCH label=t$rw rw=$rw bs=4096 qd=1 n=[1-9][0-9]* secs=[0-9.]+ iops=[0-9]+ p50_ns=[0-9]+ p99_ns=[0-9]+ min_ns=[0-9]+ max_ns=[0-9]+$" "$tmp/out"
	ok $? "bench $rw: BLKBENCH line"
done
# Queue depth 16 (Linux AIO): its line, and the writes land.
for rw in randread randwrite; do
	want 0 "bench $rw 1 s at queue depth 16" "$io" --out stdout --file run "disk:$b,bench:$b:$rw:1:q$rw:16"
	grep -qE "^BLKBENCH label=q$rw rw=$rw bs=4096 qd=16 n=[1-9][0-9]* secs=[0-9.]+ iops=[0-9]+ p50_ns=[0-9]+ p99_ns=[0-9]+ " "$tmp/out"
	ok $? "bench $rw qd 16: BLKBENCH line"
done
truncate -s 0 "$b" && truncate -s 16M "$b"
"$io" --out stdout --file bench "$b" randwrite 1 w 16 >/dev/null 2>&1
[ "$(tr -d '\0' <"$b" | head -c 1 | wc -c)" -eq 1 ]
ok $? "bench randwrite qd 16 wrote data to the disk"
want 2 "bench with a bad RW is a usage error" "$io" --out stdout --file bench "$b" seqread 1
want 2 "bench at queue depth 0 is a usage error" "$io" --out stdout --file bench "$b" randread 1 x 0
want 2 "bench at queue depth 65 is a usage error" "$io" --out stdout --file bench "$b" randread 1 x 65

# --------------------------------------------------------------- msix
# A type 0 config space: status says "capability list", 0x34 -> 0x40 (power
# management, ID 0x01) -> 0x50 (MSI-X, ID 0x11: 4 entries, table BAR0+0x2000,
# PBA BAR0+0x3000), Message Control's high byte HI (0x80: enable).
# mkcfg FILE HI [NEXT_OF_0x50 [ID_AT_0x50]]
mkcfg() {
	rm -f "$1"
	truncate -s 256 "$1"
	poke "$1" 6 10
	poke "$1" $((0x34)) 40
	poke "$1" $((0x40)) 01
	poke "$1" $((0x41)) 50
	poke "$1" $((0x50)) "${4:-11}"
	poke "$1" $((0x51)) "${3:-00}"
	poke "$1" $((0x52)) 03
	poke "$1" $((0x53)) "$2"
	poke "$1" $((0x55)) 20
	poke "$1" $((0x59)) 30
}
c=$tmp/cfg
mkcfg "$c" 80
want 0 "msix: MSI-X enabled in a config-space file" "$io" --out stdout --file msix "$c"
grep -q "^MSIX serial=$c bdf=file enabled=1 masked=0 entries=4 vectors=- irqs=-\$" "$tmp/out" &&
	grep -q '^# msix: file: MSI-X capability at 0x50, control 0x8003 (enable 1, function mask 0), 4 entries, table BAR0+0x2000, PBA BAR0+0x3000$' "$tmp/out"
ok $? "msix: the MSIX line, the capability at 0x50 after the PM one, table and PBA"
want 0 "msix as a run step" "$io" --out stdout --file run "msix:$c"
grep -q '^E2E-GUEST-DONE pass=1 fail=0 skip=0 todo=0$' "$tmp/out"
ok $? "msix step: E2E-GUEST-DONE pass=1"
# want_why RC DESC REGEX CMD...: fails with RC and says REGEX
want_why() {
	local rc=$1 desc=$2 re=$3
	shift 3
	want "$rc" "$desc" "$@"
	grep -q -E -- "$re" "$tmp/out"
	ok $? "$desc: says '$re'"
}
mkcfg "$c" 00
want_why 1 "msix: MSI-X present but not enabled fails" '^not ok 1 - .*: MSI-X not enabled, 4 entries' 	"$io" --out stdout --file msix "$c"
mkcfg "$c" c0
want_why 1 "msix: enabled with the function masked fails" 'MSI-X enabled but the function masked' 	"$io" --out stdout --file msix "$c"
mkcfg "$c" 80 00 05
want_why 1 "msix: a list without MSI-X fails" '^not ok 1 - .*: no MSI-X capability \(IDs: 0x01 0x05\)$' 	"$io" --out stdout --file msix "$c"
mkcfg "$c" 80 40 05
want_why 1 "msix: a list that loops fails" 'capability list loops' "$io" --out stdout --file msix "$c"
mkcfg "$c" 80
poke "$c" 6 00
want_why 1 "msix: no capability list (status bit 4 clear) fails" 'no capability list \(status 0x0000\)' 	"$io" --out stdout --file msix "$c"
mkcfg "$c" 80
poke "$c" $((0x34)) 20
want_why 1 "msix: a capability pointer into the header fails" 'pointer 0x20 points into the header' 	"$io" --out stdout --file msix "$c"
# third in the list: PM, MSI (0x05) at 0x50, MSI-X at 0xa0 (8 entries, enabled)
mkcfg "$c" 00 a0 05
poke "$c" $((0xa0)) 11
poke "$c" $((0xa2)) 07
poke "$c" $((0xa3)) 80
want 0 "msix: MSI-X found third in the list" "$io" --out stdout --file msix "$c"
grep -q '^# msix: file: MSI-X capability at 0xa0, control 0x8007 .* 8 entries' "$tmp/out"
ok $? "msix: at 0xa0, 8 entries"
mkcfg "$c" 80
poke "$c" $((0x41)) f8
poke "$c" $((0xf8)) 11
want_why 1 "msix: an MSI-X capability cut off at the end fails" 'MSI-X capability at 0xf8 cut off at 256 bytes' 	"$io" --out stdout --file msix "$c"
# an unprivileged read of sysfs config gets the 64-byte header only
mkcfg "$c" 80
truncate -s 64 "$c"
want_why 1 "msix: 64 bytes (the header only) fail" 'capability at 0x40 is past the 64 bytes read' 	"$io" --out stdout --file msix "$c"
truncate -s 32 "$c"
want_why 1 "msix: 32 bytes fail" 'config space of 32 bytes, not even the 64-byte header' 	"$io" --out stdout --file msix "$c"
want_why 1 "msix: a missing file fails" 'read .*: No such file' "$io" --out stdout --file msix "$tmp/none"
want 2 "msix with a bad MIN is a usage error" "$io" --out stdout --file msix "$c" many

# ---------------------------------------------------------------- msi
# QEMU's ich9-ahci: 0x34 -> 0x80 (MSI, ID 0x05: one message, 64-bit
# address, no per-vector masking; Message Control's low byte LO, 0x81:
# enabled) -> 0xa8 (SATA, ID 0x12); the guest's message programmed:
# address 0xfee00000, data 0x4021.  FIRST 0xa8: the list starts at the
# SATA capability (MSI hidden, as a remote shows it to a proxy that does
# not carry MSI).
# mkmsi FILE LO [FIRST]
mkmsi() {
	rm -f "$1"
	truncate -s 256 "$1"
	poke "$1" 6 10
	poke "$1" $((0x34)) "${3:-80}"
	poke "$1" $((0x80)) 05
	poke "$1" $((0x81)) a8
	poke "$1" $((0x82)) "$2"
	poke "$1" $((0x86)) e0
	poke "$1" $((0x87)) fe
	poke "$1" $((0x8c)) 21
	poke "$1" $((0x8d)) 40
	poke "$1" $((0xa8)) 12
}
mkmsi "$c" 81
want 0 "msi: MSI enabled in a config-space file (ich9-ahci's layout)" "$io" --out stdout --file msi "$c"
grep -q "^MSI serial=$c bdf=file enabled=1 capable=1 allocated=1 addr64=1 maskbit=0 masked=0x0 vectors=- irqs=-\$" "$tmp/out" &&
	grep -q '^# msi: file: MSI capability at 0x80, control 0x0081 (enable 1, 1 of 1 messages, 64-bit address), address 0x00000000fee00000, data 0x4021, no per-vector masking$' "$tmp/out"
ok $? "msi: the MSI line, the capability at 0x80, the guest's address and data"
want 0 "msi as a run step" "$io" --out stdout --file run "msi:$c:1"
grep -q '^E2E-GUEST-DONE pass=1 fail=0 skip=0 todo=0$' "$tmp/out"
ok $? "msi step: E2E-GUEST-DONE pass=1"
mkmsi "$c" 80
want_why 1 "msi: MSI present but not enabled fails" '^not ok 1 - .*: MSI not enabled, 1 of 1 messages' \
	"$io" --out stdout --file msi "$c"
grep -q "^MSI serial=$c bdf=file enabled=0 " "$tmp/out"
ok $? "msi: not enabled: the MSI line says enabled=0"
mkmsi "$c" 81 a8
want_why 1 "msi: MSI hidden (only the SATA capability) fails" '^not ok 1 - .*: no MSI capability \(IDs: 0x12\)$' \
	"$io" --out stdout --file msi "$c"
mkmsi "$c" 81
want_why 1 "msix: on MSI only fails" '^not ok 1 - .*: no MSI-X capability \(IDs: 0x05 0x12\)$' \
	"$io" --out stdout --file msix "$c"
mkcfg "$c" 80
want_why 1 "msi: on MSI-X only fails" '^not ok 1 - .*: no MSI capability \(IDs: 0x01 0x11\)$' \
	"$io" --out stdout --file msi "$c"
# 32-bit address with per-vector masking, 4 of 8 messages (control
# 0x0127): data at +0x08, mask at +0x0c, pending at +0x10
mkmsi "$c" 27
poke "$c" $((0x83)) 01
poke "$c" $((0x88)) 31
poke "$c" $((0x8c)) fe
poke "$c" $((0x8d)) 00
poke "$c" $((0x90)) 02
want 0 "msi: 32-bit, per-vector masking, vectors 1-3 masked, vector 0 not" "$io" --out stdout --file msi "$c"
grep -q "^MSI serial=$c bdf=file enabled=1 capable=8 allocated=4 addr64=0 maskbit=1 masked=0xe " "$tmp/out" &&
	grep -q '^# msi: file: MSI capability at 0x80, control 0x0127 (enable 1, 4 of 8 messages, 32-bit address), address 0xfee00000, data 0x0031, mask 0x000000fe, pending 0x00000002$' "$tmp/out"
ok $? "msi: 32-bit layout: data, mask and pending bits read at their offsets; masked= only the allocated 4"
poke "$c" $((0x8c)) 0f
want_why 1 "msi: every allocated vector masked fails" 'MSI enabled but every vector masked' \
	"$io" --out stdout --file msi "$c"
# at the end of config space: 64-bit fits (14 bytes at 0xf0), with
# per-vector masking (24 bytes) it is cut off
mkmsi "$c" 81 f0
poke "$c" $((0xf0)) 05
poke "$c" $((0xf2)) 81
want 0 "msi: a 64-bit MSI capability at 0xf0 fits" "$io" --out stdout --file msi "$c"
poke "$c" $((0xf3)) 01
want_why 1 "msi: with per-vector masking at 0xf0 it is cut off" 'MSI capability at 0xf0 \(24 bytes\) cut off at 256 bytes' \
	"$io" --out stdout --file msi "$c"
mkmsi "$c" 81
truncate -s 64 "$c"
want_why 1 "msi: 64 bytes (the header only) fail" 'capability at 0x80 is past the 64 bytes read' \
	"$io" --out stdout --file msi "$c"
want 2 "msi with a bad MIN is a usage error" "$io" --out stdout --file msi "$c" many
want 2 "msi without SERIAL is a usage error" "$io" --out stdout --file msi

# without --file: the host's disks (none has this serial), its PCI functions
want_why 1 "msix: a serial no disk has fails" 'no disk with serial mpdev-io-none' \
	"$io" --out stdout msix mpdev-io-none
want_why 1 "msi: a serial no disk has fails" 'no disk with serial mpdev-io-none' \
	"$io" --out stdout msi mpdev-io-none
want_why 1 "pci: an ID no function has fails" '^not ok 1 - pci ffff:fffe: no such function$' \
	"$io" --out stdout pci ffff/fffe
want 2 "pci without VVVV/DDDD is a usage error" "$io" --out stdout pci 1b36

# -------------------------------------------------------------- fetch
# (net's HTTP part; net itself configures an interface: guest only)
py=$(command -v python3 || true)
if [ -n "$py" ]; then
	head -c 1234567 /dev/urandom >"$tmp/blob"
	sum=$(sha256sum "$tmp/blob" | cut -c1-64)
	port=$((20000 + RANDOM % 20000))
	(cd "$tmp" && exec "$py" -m http.server --bind 127.0.0.1 "$port" >"$tmp/http.log" 2>&1) &
	hpid=$!
	for _ in $(seq 50); do
		"$io" --out stdout fetch "http://127.0.0.1:$port/blob" "$sum" >/dev/null 2>&1 && break
		sleep 0.2
	done
	want 0 "fetch a 1234567-byte file, sha256 matches" "$io" --out stdout run "fetch:http://127.0.0.1:$port/blob:$sum"
	grep -q "^ok 1 - fetched http://127.0.0.1:$port/blob: 1234567 bytes" "$tmp/out"
	ok $? "fetch: byte count"
	want 1 "fetch with a wrong sha256 fails" "$io" --out stdout fetch "http://127.0.0.1:$port/blob" 0000
	want 1 "fetch of a missing file fails (404)" "$io" --out stdout fetch "http://127.0.0.1:$port/none" "$sum"
	kill "$hpid" 2>/dev/null
	wait "$hpid" 2>/dev/null
	want 1 "fetch from a closed port fails" "$io" --out stdout fetch "http://127.0.0.1:$port/blob" "$sum"
	grep -q 'connect: Connection refused' "$tmp/out"
	ok $? "fetch: says connection refused"
else
	n=$((n + 1))
	echo "ok $n - fetch # SKIP no python3"
fi

echo "1..$n"
echo "$((n - fail)) passed, $fail failed"
[ "$fail" -eq 0 ]
