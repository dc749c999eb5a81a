/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The device-model interface.  A device model sees neither the socket nor
 * mpdev: it describes its PCI identity and BARs, answers BAR accesses by
 * (BAR index, offset), and uses the host services below for DMA and its
 * interrupt line.  The remote core (remote.c) owns config space, decoding,
 * guest RAM and INTx for it, so adding a device (say virtio-blk) means one
 * new file with one ops table and one line in devmodel.c.
 */
#ifndef REMOTE_DEVMODEL_H
#define REMOTE_DEVMODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "pcicfg.h"

/* Services the core gives a device. */
struct dm_host {
	void *core;
	/* Copy to/from guest RAM; -1 if any byte lies outside it. */
	int (*dma_read)(struct dm_host *h, uint64_t gpa, void *buf, size_t len);
	int (*dma_write)(struct dm_host *h, uint64_t gpa, const void *buf,
			 size_t len);
	/* The device's INTx level (the core applies Interrupt Disable). */
	void (*set_irq)(struct dm_host *h, bool level);
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
