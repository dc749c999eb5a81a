#!/bin/sh
# /init of the smoke-test guest (busybox): find mpdev-testdev behind
# x-pci-proxy-dev and exercise config space, BAR0 (MMIO), BAR1 (PIO), the
# DMA engine and uio_pci_generic's INTx-masking probe.  Prints one
# "SMOKE ok|not ok - ..." line per check and a closing
# "SMOKE-RESULT: N passed, N failed".
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev

pass=0
fail=0
check() {	# check DESCRIPTION COMMAND...
	d=$1; shift
	if "$@"; then pass=$((pass + 1)); echo "SMOKE ok - $d"
	else fail=$((fail + 1)); echo "SMOKE not ok - $d"; fi
}
finish() {
	echo "SMOKE-RESULT: $pass passed, $fail failed"
	poweroff -f
}

dev=
for d in /sys/bus/pci/devices/*; do
	echo "SMOKE pci $(basename $d) $(cat $d/vendor):$(cat $d/device) class $(cat $d/class)"
	[ "$(cat $d/vendor)" = 0x6d70 ] && [ "$(cat $d/device)" = 0x0001 ] && dev=$d
done
check "guest enumerates 6d70:0001 behind x-pci-proxy-dev" [ -n "$dev" ]
[ -n "$dev" ] || finish

# sysfs "resource": one "start end flags" line per BAR.
bar0=$(sed -n 1p $dev/resource | cut -d' ' -f1)
bar0_end=$(sed -n 1p $dev/resource | cut -d' ' -f2)
echo "SMOKE BAR0 $bar0-$bar0_end BAR1 $(sed -n 2p $dev/resource)"
check "BAR0 is 4 KiB" [ $((bar0_end - bar0 + 1)) -eq 4096 ]
check "BAR1 is 32 bytes of I/O" [ $(($(sed -n 2p $dev/resource | cut -d' ' -f2) - $(sed -n 2p $dev/resource | cut -d' ' -f1) + 1)) -eq 32 ]
check "interrupt pin A" [ "$(dd if=$dev/config bs=1 skip=61 count=1 2>/dev/null | od -An -tu1 | tr -d ' ')" = 1 ]

rd() { devmem $(printf 0x%x $((bar0 + $1))) $2; }
wr() { devmem $(printf 0x%x $((bar0 + $1))) $2 $3; }

check "BAR0 magic (MMIO read 32)" [ "$(rd 0 32)" = 0x5444504D ]
check "BAR0 version" [ "$(rd 4 32)" = 0x00010000 ]
c1=$(rd 0x20 32); c2=$(rd 0x20 32)
check "counter increments per read ($c1 -> $c2)" [ $((c2)) -eq $((c1 + 1)) ]
wr 0x100 8 0xa5; wr 0x102 16 0xbeef; wr 0x104 32 0x12345678
check "scratch 8/16/32-bit writes and reads" [ "$(rd 0x100 8)" = 0xA5 ] && [ "$(rd 0x102 16)" = 0xBEEF ] && [ "$(rd 0x104 32)" = 0x12345678 ]
wr 0x108 64 0x0123456789abcdef
check "scratch 64-bit write/read" [ "$(rd 0x108 64)" = 0x0123456789ABCDEF ]
for i in 1 2 3; do wr 0x28 32 $i; done
check "doorbell counted 3 posted writes" [ $(($(rd 0x30 32))) -eq 3 ]

# BAR1 through sysfs resource1 (I/O ports: read()/write() of 1, 2, 4 bytes)
pio=$(dd if=$dev/resource1 bs=4 count=1 2>/dev/null | od -An -tx4 | tr -d ' ')
check "BAR1 magic over port I/O ($pio)" [ "$pio" = 5444504d ]
printf 'wxyz' | dd of=$dev/resource1 bs=4 seek=2 count=1 conv=notrunc 2>/dev/null
check "BAR1 scratch write/read over port I/O" [ "$(dd if=$dev/resource1 bs=4 skip=2 count=1 2>/dev/null)" = wxyz ]

# DMA needs bus mastering: set it through config space (command |= 4).
cmd=$(dd if=$dev/config bs=2 skip=2 count=1 2>/dev/null | od -An -tu2 | tr -d ' ')
printf "$(printf '\\%03o\\%03o' $(((cmd | 4) & 255)) $(((cmd | 4) >> 8)))" | \
	dd of=$dev/config bs=2 seek=2 count=1 conv=notrunc 2>/dev/null
# Copy a page of guest RAM onto itself: proves SYNC_SYSMEM mapped RAM.
wr 0x40 64 0x200000; wr 0x48 64 0x200000; wr 0x50 32 4096; wr 0x54 32 1
check "DMA inside guest RAM: done" [ "$(rd 0x58 32)" = 0x00000001 ]
wr 0x40 64 0xfff00000; wr 0x54 32 1
check "DMA from outside guest RAM: error" [ "$(rd 0x58 32)" = 0x00000002 ]
wr 0x10 32 7

# uio_pci_generic refuses devices without PCI 2.3 INTx masking.
insmod /lib/uio.ko && insmod /lib/uio_pci_generic.ko
echo "6d70 0001" > /sys/bus/pci/drivers/uio_pci_generic/new_id
check "uio_pci_generic binds (INTx masking works)" [ -e $dev/driver ] && [ "$(basename $(readlink $dev/driver))" = uio_pci_generic ]
finish
