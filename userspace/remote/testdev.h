/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * mpdev-testdev: a PCI test device that exercises every kind of access
 * the transports carry.  Documentation/mpdev/testdev.rst is the reference;
 * keep the two in step.
 */
#ifndef REMOTE_TESTDEV_H
#define REMOTE_TESTDEV_H

#include "devmodel.h"

/*
 * Experimental IDs: 0x6d70 ("mp") is not assigned by the PCI-SIG (absent
 * from pci.ids 2023.04.11).  For testing only; never ship it.
 */
#define TESTDEV_VENDOR_ID	0x6d70
#define TESTDEV_DEVICE_ID	0x0001
#define TESTDEV_REVISION	0x01
#define TESTDEV_CLASS		0xff0000	/* unassigned class */

#define TESTDEV_MAGIC		0x5444504du	/* bytes "MPDT" */
#define TESTDEV_VERSION		0x00010000u	/* 1.0 */

/* BAR0: 4 KiB MMIO. */
#define TESTDEV_BAR0_SIZE	0x1000
#define TD_MAGIC		0x000	/* RO32 */
#define TD_VERSION		0x004	/* RO32 */
#define TD_FEATURES		0x008	/* RO32 */
#define  TD_FEAT_DMA		(1u << 0)
#define  TD_FEAT_PIO		(1u << 1)
#define  TD_FEAT_INTX		(1u << 2)
#define  TD_FEAT_MSIX		(1u << 3)	/* unless msix=0 */
#define  TD_FEAT_BAR64		(1u << 4)	/* with bar64=1 */
#define TD_INT_STATUS		0x010	/* RW1C32: ack by writing 1s */
#define TD_INT_MASK		0x014	/* RW32, reset TD_INT_ALL */
#define TD_INT_RAISE		0x018	/* WO32: sets INT_STATUS bits */
#define  TD_INT_DMA_DONE	(1u << 0)
#define  TD_INT_DMA_ERROR	(1u << 1)
#define  TD_INT_SOFT		(1u << 2)
#define  TD_INT_ALL		0x7u
#define TD_COUNTER		0x020	/* RW64: each read returns, then +1 */
#define TD_DOORBELL		0x028	/* RW64: each write counts; reads last */
#define TD_DOORBELL_COUNT	0x030	/* RO64 */
#define TD_DMA_SRC		0x040	/* RW64 guest-physical */
#define TD_DMA_DST		0x048	/* RW64 guest-physical */
#define TD_DMA_LEN		0x050	/* RW32, at most TD_DMA_MAX_LEN */
#define TD_DMA_CMD		0x054	/* WO32 */
#define  TD_DMA_CMD_GO		(1u << 0)
#define TD_DMA_STATUS		0x058	/* RO32 */
#define  TD_DMA_ST_DONE		(1u << 0)
#define  TD_DMA_ST_ERROR	(1u << 1)
#define TD_DMA_COUNT		0x05c	/* RO32 transfers finished */
#define TD_MSIX_RAISE		0x060	/* WO32: raise the MSI-X vector written */
#define TD_SCRATCH		0x100	/* 256 bytes RW, any size/alignment */
#define TD_SCRATCH_SIZE		0x100
#define TD_DMA_MAX_LEN		(1u << 20)

/* BAR1: 32 bytes of I/O ports. */
#define TESTDEV_BAR1_SIZE	0x20
#define TDIO_MAGIC		0x00	/* RO32 */
#define TDIO_COUNTER		0x04	/* RW32: each read returns, then +1 */
#define TDIO_SCRATCH		0x08	/* 24 bytes RW */
#define TDIO_SCRATCH_SIZE	0x18

/*
 * BAR2 (unless msix=0): 4 KiB of memory holding the MSI-X table and PBA,
 * which the VMM serves; the rest reads 0.  INT_STATUS events go out as
 * vector TD_MSIX_VEC_INT while the guest has MSI-X enabled.
 */
#define TESTDEV_BAR2_SIZE	0x1000
#define TD_MSIX_TABLE		0x000	/* in BAR2 */
#define TD_MSIX_PBA		0x800	/* in BAR2 */
#define TD_MSIX_VEC_INT		0
#define TESTDEV_MSIX_VECTORS	8	/* default; --device-arg msix=N */
#define TESTDEV_MSIX_MAX	128	/* the table fits below the PBA */

/*
 * BAR4 (BAR4+BAR5, only with --device-arg bar64=1): a 64-bit
 * non-prefetchable memory BAR of 4 KiB that serves BAR0's registers, the
 * same ones (one register file, two windows).  For a VMM that probes
 * 64-bit BARs (the patched proxy); stock QEMU 7.2's sizes each dword as a
 * 32-bit BAR of its own.
 */
#define TESTDEV_BAR64		4
#define TESTDEV_BAR4_SIZE	0x1000

extern const struct devmodel_ops testdev_ops;

#endif
