/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A conventional (256-byte) PCI type-0 configuration space with write
 * masks: IDs, command/status with PCI 2.3 INTx masking, 32-bit BARs that
 * size the way QEMU's proxy probes them (and, when a device asks, 64-bit
 * memory BARs), a capability list and the interrupt pin/line.
 * Independent of any transport and any device.
 */
#ifndef REMOTE_PCICFG_H
#define REMOTE_PCICFG_H

#include <stdbool.h>
#include <stdint.h>

#define PCICFG_SIZE		256
#define PCICFG_NUM_BARS		6

/* Standard register offsets and bits used here. */
#define PCI_VENDOR_ID		0x00
#define PCI_DEVICE_ID		0x02
#define PCI_COMMAND		0x04
#define  PCI_COMMAND_IO		0x0001
#define  PCI_COMMAND_MEMORY	0x0002
#define  PCI_COMMAND_MASTER	0x0004
#define  PCI_COMMAND_PARITY	0x0040
#define  PCI_COMMAND_SERR	0x0100
#define  PCI_COMMAND_INTX_DISABLE 0x0400
#define PCI_STATUS		0x06
#define  PCI_STATUS_INTERRUPT	0x0008
#define  PCI_STATUS_CAP_LIST	0x0010
#define PCI_REVISION_ID		0x08
#define PCI_CLASS_PROG		0x09
#define PCI_CACHE_LINE_SIZE	0x0c
#define PCI_LATENCY_TIMER	0x0d
#define PCI_HEADER_TYPE		0x0e
#define PCI_BASE_ADDRESS_0	0x10
#define  PCI_BASE_ADDRESS_SPACE_IO 0x01
#define  PCI_BASE_ADDRESS_MEM_TYPE_64 0x04
#define  PCI_BASE_ADDRESS_MEM_PREFETCH 0x08
#define PCI_SUBSYSTEM_VENDOR_ID	0x2c
#define PCI_SUBSYSTEM_ID	0x2e
#define PCI_CAPABILITY_LIST	0x34
#define PCI_CAP_LIST_NEXT	1	/* a capability's next pointer */
#define PCI_INTERRUPT_LINE	0x3c
#define PCI_INTERRUPT_PIN	0x3d
#define PCI_CAP_ID_VNDR		0x09
#define PCI_CAP_ID_MSIX		0x11
/* MSI-X capability registers (offsets from the capability). */
#define PCI_MSIX_FLAGS		2	/* Message Control */
#define  PCI_MSIX_FLAGS_QSIZE	0x07ff	/* table size - 1 */
#define  PCI_MSIX_FLAGS_MASKALL	0x4000	/* Function Mask */
#define  PCI_MSIX_FLAGS_ENABLE	0x8000
#define PCI_MSIX_TABLE		4	/* offset | BIR */
#define PCI_MSIX_PBA		8	/* offset | BIR */
#define  PCI_MSIX_BIR_MASK	0x7
#define PCI_MSIX_CAP_SIZE	12
#define PCI_MSIX_ENTRY_SIZE	16

struct pcicfg_bar {
	uint32_t size;		/* power of two, 0 = not implemented */
	bool io;		/* I/O space, else memory */
	/*
	 * Memory only.  @mem64: a 64-bit BAR (type 0b10) that takes the next
	 * register as its upper half, which must then be unimplemented
	 * (size 0); not BAR5.  @prefetch: the prefetchable bit.
	 */
	bool mem64;
	bool prefetch;
};

struct pcicfg_ident {
	uint16_t vendor, device;
	uint16_t subsys_vendor, subsys;
	uint8_t revision;
	uint32_t class_code;	/* 24 bits: base, sub, prog-if */
	uint8_t int_pin;	/* 1 = INTA; 0 = no interrupt */
	struct pcicfg_bar bar[PCICFG_NUM_BARS];
};

struct pcicfg {
	uint8_t cfg[PCICFG_SIZE];
	uint8_t wmask[PCICFG_SIZE];	/* bits the guest may write */
	uint8_t w1cmask[PCICFG_SIZE];	/* bits cleared by writing 1 */
	struct pcicfg_bar bar[PCICFG_NUM_BARS];
	uint8_t next_cap;		/* where the next capability goes */
	uint8_t *last_cap_next;		/* link to patch when adding one */
};

/*
 * Build the config space; rejects BAR sizes that are not powers of two and
 * 64-bit BARs without a free register for their upper half.
 */
int pcicfg_init(struct pcicfg *c, const struct pcicfg_ident *id);

/* Back to power-on values: IDs and caps stay, writable state clears. */
void pcicfg_reset(struct pcicfg *c);

/*
 * Append a capability of @len bytes (id and next byte included) with
 * @data as its body after the 2-byte header; @wmask (may be NULL) the
 * body's writable bits.  Returns its offset or 0 when it does not fit.
 */
uint8_t pcicfg_add_cap(struct pcicfg *c, uint8_t cap_id, const void *body,
		       uint8_t body_len, const void *wmask);

/*
 * Config access, little endian, @len 1, 2 or 4, naturally sized within
 * 256 bytes.  Return false on a bad address or length (the caller then
 * answers all-ones / ignores the write).
 */
bool pcicfg_read(const struct pcicfg *c, uint32_t addr, int len, uint32_t *val);
bool pcicfg_write(struct pcicfg *c, uint32_t addr, uint32_t val, int len);

uint16_t pcicfg_command(const struct pcicfg *c);

/* Status bit 3 mirrors the device's interrupt level (even when masked). */
void pcicfg_set_int_status(struct pcicfg *c, bool level);

/*
 * Decode a BAR access: which BAR, if any, claims [@addr, @addr + @size)
 * in memory (@memory) or I/O space, given the current BAR values and the
 * command register's decode enables.  Returns the BAR index and fills
 * @off, or -1.
 */
int pcicfg_decode(const struct pcicfg *c, bool memory, uint64_t addr,
		  unsigned int size, uint64_t *off);

/* Current base address of BAR @i (type bits masked off; both halves). */
uint64_t pcicfg_bar_base(const struct pcicfg *c, int i);

#endif
