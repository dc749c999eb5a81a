/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Private contract between kvm_guest.c and guest.S: the layout of a vCPU's
 * command block in guest memory.  Plain #defines so that the assembler can
 * use them too; kvm_guest.c checks them against its struct.
 */
#ifndef MPDEV_SELFTEST_KG_ABI_H
#define MPDEV_SELFTEST_KG_ABI_H

/* Inputs, written by the host before each command (all 64-bit). */
#define KG_B_OP		0	/* KG_OP_* */
#define KG_B_WRFN	8	/* guest address of the write routine */
#define KG_B_RDFN	16	/* guest address of the read routine */
#define KG_B_ADDR	24
#define KG_B_ASTRIDE	32
#define KG_B_ASPAN	40	/* ~0: no wrap */
#define KG_B_VALUE	48
#define KG_B_STRIDE	56
#define KG_B_MASK	64	/* all-ones of the access size */
#define KG_B_COUNT	72
#define KG_B_VALUES	80	/* guest address of the values array */
#define KG_B_LAT	88	/* guest address of the latency array */
#define KG_B_MAXVAL	96	/* 0 when values are not recorded */
#define KG_B_MAXLAT	104	/* 0 when latencies are not recorded */
#define KG_B_SSRC	112	/* string ops: %rsi (source address) */
#define KG_B_SDST	120	/* string ops: %rdi (destination address) */
/* Outputs, written by the guest (the host zeroes them first). */
#define KG_B_DONE	128
#define KG_B_XOR	136
#define KG_B_SUM	144
#define KG_B_MISMATCH	152
#define KG_B_FIRSTBAD	160
#define KG_B_TSC_START	168
#define KG_B_TSC_END	176
#define KG_B_OFF	184	/* scratch: current address offset */
#define KG_B_SIZE	192

/* Mirrors of KG_DONE_PORT and enum kg_op (kvm_guest.h is C only). */
#define KG_ABI_DONE_PORT	0xf4
#define KG_ABI_OP_READ		0
#define KG_ABI_OP_WRITE		1
#define KG_ABI_OP_MIXED		2
/* Ops from here on are one string instruction (KG_B_RDFN runs it). */
#define KG_ABI_OP_STRING	3

/* Status byte of the OUT to KG_DONE_PORT. */
#define KG_STATUS_DONE		0
/* Exception: rbx = vector, rcx = error code, rsi = RIP, r8 = CR2. */
#define KG_STATUS_EXCEPTION	1

#define KG_NR_EXC		32
#define KG_EXC_STUB_SIZE	16

#ifndef __ASSEMBLER__
/* Symbols of guest.S (the code block and the routines in it). */
extern const char kg_guest_code_start[], kg_guest_code_end[];
extern const char kg_guest_entry[];
extern const char kg_guest_exc_stubs[], kg_guest_exc_stubs_end[];
extern const char kg_guest_mmio_rd1[], kg_guest_mmio_rd2[], kg_guest_mmio_rd4[],
	kg_guest_mmio_rd8[];
extern const char kg_guest_mmio_wr1[], kg_guest_mmio_wr2[], kg_guest_mmio_wr4[],
	kg_guest_mmio_wr8[];
extern const char kg_guest_pio_rd1[], kg_guest_pio_rd2[], kg_guest_pio_rd4[];
extern const char kg_guest_pio_wr1[], kg_guest_pio_wr2[], kg_guest_pio_wr4[];
extern const char kg_guest_rep_insb[], kg_guest_rep_insw[], kg_guest_rep_insl[];
extern const char kg_guest_rep_outsb[], kg_guest_rep_outsw[], kg_guest_rep_outsl[];
extern const char kg_guest_rep_movsb[], kg_guest_rep_movsw[], kg_guest_rep_movsl[],
	kg_guest_rep_movsq[];
#endif

#endif /* MPDEV_SELFTEST_KG_ABI_H */
