/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * MSI-X through one eventfd per vector, as the patched x-pci-proxy-dev
 * hands them over (MPQ_CMD_MSI_FDS, common/mpqemu_proto.h).  The proxy
 * emulates the vector table and the PBA in the VMM, like vfio-pci, and
 * routes each eventfd to the guest (a KVM irqfd while the guest has the
 * vector unmasked, the PBA bit while it is masked): so here a vector is
 * only an eventfd to write 1 to.  What stays on this side is the Message
 * Control word the guest writes through config space: MSI-X Enable (no
 * message while clear) and Function Mask (messages are held pending, one
 * per vector, and sent when the guest clears it).  Transport-free: the
 * core (remote.c) feeds it the messages and the control word.
 */
#ifndef REMOTE_MSIX_H
#define REMOTE_MSIX_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/* The PCI limit (an 11-bit table size field). */
#define MSIX_MAX_VECTORS	2048

/* What became of a raised vector. */
enum msix_result {
	MSIX_SENT,		/* its eventfd was signalled */
	MSIX_PENDING,		/* held: the function is masked */
	MSIX_OFF,		/* MSI-X is disabled: the device uses INTx */
	MSIX_DROPPED,		/* enabled, but no such vector or no eventfd */
};

struct msix {
	unsigned int nvec;	/* table size; 0 = the device has no MSI-X */
	int *fd;		/* nvec eventfds, -1 until the proxy sends them */
	unsigned int got;	/* vectors 0..got-1 have their eventfd */
	bool *pending;		/* raised while the function was masked */
	uint64_t *vec_signals;	/* eventfd writes per vector */
	bool enabled, masked;	/* the guest's control word, as last applied */
	/* counters: raised = (signalled - flushed) + held + dropped */
	uint64_t raised;	/* msix_notify() calls */
	uint64_t signalled;	/* eventfd writes */
	uint64_t held;		/* raises held by the function mask */
	uint64_t flushed;	/* of the writes, pending ones sent on unmask */
	uint64_t dropped;	/* raises that went nowhere */
	uint64_t fd_msgs;	/* MSI_FDS messages taken */
	uint64_t declined;	/* MSI_FDS messages declined */
};

/* No MSI-X (nvec 0) until msix_init(). */
void msix_zero(struct msix *x);

/* A table of @nvec (1..MSIX_MAX_VECTORS) vectors.  0, or -1 (no memory). */
int msix_init(struct msix *x, unsigned int nvec);

/* Close the eventfds and free everything; back to msix_zero(). */
void msix_free(struct msix *x);

/*
 * The eventfds of vectors @first..@first+@n-1 of @total (an MSI_FDS
 * message whose magic and kind were checked).  Takes ownership of @fds in
 * every case.  Accepted: @total is the table size, 1 <= @n and the range
 * lies in the table, and @first continues the set received so far, or is
 * 0, which starts a new set (the old eventfds are closed).  Anything else
 * is declined: the fds are closed, the whole set is dropped (no vector
 * has an eventfd until a new set starts at 0) and @why says why.
 * 0 when taken, -1 when declined.
 */
int msix_take_fds(struct msix *x, uint32_t first, uint32_t total,
		  const int *fds, int n, const char **why);

/* Decline an MSI_FDS message: close @fds, drop the set, count it. */
void msix_decline(struct msix *x, const int *fds, int n);

/*
 * The guest's Message Control bits, after every config write and reset.
 * Vectors held pending are sent, in vector order, once MSI-X is enabled
 * and the function unmasked.
 */
void msix_control(struct msix *x, bool enabled, bool masked);

/* Raise @vector (see enum msix_result). */
enum msix_result msix_notify(struct msix *x, unsigned int vector);

/* Device reset: nothing pending, control cleared; the eventfds stay. */
void msix_reset(struct msix *x);

/* Vectors pending now. */
unsigned int msix_pending(const struct msix *x);

/* "msix.*" key=value lines for the stats dump. */
void msix_dump_stats(const struct msix *x, FILE *f);

#endif
