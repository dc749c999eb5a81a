/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Level-triggered INTx over a KVM irqfd with a resample fd, as QEMU 7.2's
 * SET_IRQFD hands them over (hw/remote/iohub.c does the same job in QEMU's
 * own remote).  Signalling the irqfd asserts the line; KVM deasserts it at
 * the guest's EOI and signals the resample fd, and we then re-assert while
 * the device still holds the line high.
 */
#ifndef REMOTE_INTX_H
#define REMOTE_INTX_H

#include <stdbool.h>
#include <stdint.h>

struct intx {
	int irqfd;
	int resamplefd;
	bool asserted;		/* line level we present (level && !masked) */
	uint64_t signals;	/* irqfd writes */
	uint64_t resamples;	/* resample events handled */
};

void intx_init(struct intx *x);

/* Take ownership of a new fd pair, closing the old one. */
void intx_set_fds(struct intx *x, int irqfd, int resamplefd);

void intx_close(struct intx *x);

/* New effective level; signals the irqfd on a rising edge. */
void intx_set_level(struct intx *x, bool level);

/* The resample fd is readable: clear it, re-signal if still asserted. */
void intx_resample(struct intx *x);

#endif
