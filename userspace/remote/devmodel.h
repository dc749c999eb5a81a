/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The device-model interface.  A device model sees neither the socket nor
 * mpdev: it describes its PCI identity and BARs, answers BAR accesses by
 * (BAR index, offset), and uses the host services below for DMA and its
 * interrupts.  The remote core (remote.c) owns config space, decoding,
 * guest RAM, INTx and MSI-X for it, so adding a device (say virtio-blk)
 * means one new file with one ops table and one line in devmodel.c.
 */
#ifndef REMOTE_DEVMODEL_H
#define REMOTE_DEVMODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "msix.h"
#include "pcicfg.h"

/*
 * An MSI-X capability, as a model declares it (devmodel_ops.msix).  The
 * core appends the capability to config space after the model's own
 * (cfg_init), and checks the layout: @vectors 1..MSIX_MAX_VECTORS, both
 * BARs implemented memory BARs, offsets 8-byte aligned, the table
 * (16 bytes a vector) and the PBA (8 bytes per 64 vectors) inside their
 * BARs and apart from each other.  The VMM serves the table and the PBA
 * (the patched proxy emulates them): accesses to them that reach the
 * remote anyway (a VMM that does not) never reach the model; they read 0
 * and are counted as msix.table_accesses.
 */
struct dm_msix {
	unsigned int vectors;	/* table size; 0 = no MSI-X */
	int table_bar;
	uint32_t table_off;
	int pba_bar;
	uint32_t pba_off;
};

/* Services the core gives a device. */
struct dm_host {
	void *core;
	/* Copy to/from guest RAM; -1 if any byte lies outside it. */
	int (*dma_read)(struct dm_host *h, uint64_t gpa, void *buf, size_t len);
	int (*dma_write)(struct dm_host *h, uint64_t gpa, const void *buf,
			 size_t len);
	/*
	 * The device's INTx level.  The core applies Interrupt Disable, and
	 * keeps the line low while the guest has MSI-X enabled.
	 */
	void (*set_irq)(struct dm_host *h, bool level);
	/*
	 * Raise MSI-X vector @vector: signalled now while the guest has
	 * MSI-X enabled, held (once per vector) while it has the function
	 * masked and sent when it clears the mask; per-vector masking is
	 * the VMM's.  MSIX_OFF (MSI-X disabled, or not declared) tells the
	 * model to use INTx instead.
	 */
	enum msix_result (*msix_notify)(struct dm_host *h, unsigned int vector);
	/* Whether the guest has MSI-X enabled (in the Message Control word). */
	bool (*msix_enabled)(struct dm_host *h);
};

struct devmodel_ops {
	const char *name;
	const char *summary;

	/* Create an instance; @args is the --device-arg string or NULL. */
	void *(*create)(struct dm_host *host, const char *args, char *err,
			size_t errlen);
	void (*destroy)(void *dev);

	/* PCI identity and BAR layout (constant for an instance). */
	void (*ident)(void *dev, struct pcicfg_ident *id);
	/* Optional: add capabilities after the header is built. */
	void (*cfg_init)(void *dev, struct pcicfg *cfg);
	/* Optional: the MSI-X capability (constant for an instance). */
	void (*msix)(void *dev, struct dm_msix *m);
	/* Optional: told about every config write after it is applied. */
	void (*cfg_written)(void *dev, struct pcicfg *cfg, uint32_t addr,
			    uint32_t val, int len);

	/*
	 * BAR access.  The core guarantees @bar is implemented, @size is 1, 2,
	 * 4 or 8 and [off, off + size) lies inside the BAR; alignment is not
	 * guaranteed.  @val / the return value hold the low @size bytes.
	 */
	uint64_t (*bar_read)(void *dev, int bar, uint64_t off, unsigned size);
	void (*bar_write)(void *dev, int bar, uint64_t off, uint64_t val,
			  unsigned size);

	/* Device reset (DEVICE_RESET); the core resets config space. */
	void (*reset)(void *dev);

	/* Optional: "key=value" lines for the stats dump. */
	void (*dump_stats)(void *dev, FILE *f);
};

/* Registered models, by name; NULL if unknown. */
const struct devmodel_ops *devmodel_find(const char *name);
void devmodel_list(FILE *f);

#endif
