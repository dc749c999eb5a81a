/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The remote core: one emulated PCI function (device model + config space
 * + guest RAM map + INTx + MSI-X) and the handling of decoded mpqemu messages.
 * Transport-free: link.c feeds it socket messages, mpdev_srv.c feeds it
 * mpdev requests, fuzz_msg.c feeds it fuzz input; all reach the device
 * through remote_bar_access().
 */
#ifndef REMOTE_REMOTE_H
#define REMOTE_REMOTE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "devmodel.h"
#include "guestmem.h"
#include "intx.h"
#include "msg.h"
#include "msix.h"
#include "pcicfg.h"

/* Counters by path; the stats dump prints them as key=value lines. */
struct remote_stats {
	/* socket (classic mpqemu) path */
	uint64_t sock_msgs;
	uint64_t sock_cfg_read, sock_cfg_write;
	uint64_t sock_bar_read, sock_bar_write;
	uint64_t sock_sync_sysmem, sock_set_irqfd, sock_reset;
	uint64_t sock_mpdev_backend;
	uint64_t sock_msi_fds;
	uint64_t sock_msi_declined;	/* MSI (not MSI-X) offers declined */
	uint64_t sock_bad_msgs;		/* rejected by validation */
	uint64_t sock_bad_access;	/* valid message, bad address/size */
	/* mpdev fast path */
	uint64_t mpdev_reads, mpdev_writes;
	uint64_t mpdev_batches, mpdev_completions, mpdev_kicks;
	/* which way the batches came: read() on the fd, or the mmap ring */
	uint64_t mpdev_fd_batches, mpdev_ring_batches;
	uint64_t mpdev_bad_requests;
	uint64_t mpdev_by_cookie;	/* requests routed by their cookie */
	/* guest RAM */
	uint64_t dma_faults;		/* device DMA outside guest RAM */
	uint64_t gmem_regions;		/* regions currently mapped */
	/* MSI-X table or PBA accesses that reached the remote (the VMM's) */
	uint64_t msix_table_accesses;
};

struct remote;

/* Answer for the peer. */
struct mpq_reply {
	bool send;		/* the peer waits for a RET */
	bool with_value;	/* RET carries the u64 (all but DEVICE_RESET) */
	uint64_t value;
};

/*
 * Called for a valid MPDEV_BACKEND message; owns @fd.  @bar_of_region
 * maps region ids 0..MPQ_MPDEV_MAX_MAP-1 to BARs (-1 = none).  Returns a
 * status for the RET (0 = accepted).
 */
typedef uint64_t (*remote_backend_cb)(void *opaque, int fd,
				      const int *bar_of_region);

struct remote *remote_new(const struct devmodel_ops *ops, const char *args,
			  char *err, size_t errlen);
void remote_free(struct remote *r);

void remote_set_backend_cb(struct remote *r, remote_backend_cb cb,
			   void *opaque);

/*
 * Handle one message from the socket.  Takes ownership of every fd in @m
 * (used or closed).  @m need not be valid: invalid ones are rejected here
 * with a defined answer.  Returns false when the stream must be dropped.
 */
bool remote_handle_msg(struct remote *r, struct mpq_msg *m,
		       struct mpq_reply *reply);

/*
 * One BAR access by index and offset: the single entry point of both
 * transports into the device.  Returns false (and reads all-ones) when
 * the BAR is absent or [off, off+size) leaves it or size is not 1/2/4/8.
 */
bool remote_bar_access(struct remote *r, int bar, uint64_t off, unsigned size,
		       bool write, uint64_t *val);

/* Size of BAR @bar, 0 if absent. */
uint32_t remote_bar_size(const struct remote *r, int bar);

struct remote_stats *remote_stats(struct remote *r);
struct intx *remote_intx(struct remote *r);
struct msix *remote_msix(struct remote *r);
struct guestmem *remote_gmem(struct remote *r);
void remote_dump_stats(struct remote *r, FILE *f);

/* Prefix for stats lines, and the device's own lines. */
const char *remote_device_name(const struct remote *r);

#endif
