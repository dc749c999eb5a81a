/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The mpdev fast path: serve guest BAR accesses that the mpdev kernel
 * module queues on a backend fd (include/uapi/linux/mpdev.h), through the
 * same remote_bar_access() as the socket path.
 *
 * A request names its BAR by its cookie when it has one (the QEMU patch
 * sets mpdev_region.cookie to MPQ_MPDEV_COOKIE(bar, offset in the BAR),
 * see common/mpqemu_proto.h), else by region id through the MPDEV_BACKEND
 * map, whose convention (and default) is region id == BAR index.
 */
#ifndef REMOTE_MPDEV_SRV_H
#define REMOTE_MPDEV_SRV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <linux/mpdev.h>

#include "remote.h"

#define MPDEV_SRV_MAX_REGIONS	6
#define MPDEV_SRV_BATCH		64

/* What the remote maps at most: far above anything the kernel offers. */
#define MPDEV_SRV_MAX_ENTRIES	(1u << 16)
#define MPDEV_SRV_MAX_MAP_SIZE	(64ull << 20)

/*
 * A completion ring that stays full this long, kicked all the while, is
 * dropped (the kernel reaps it at each kick, so it never should).
 */
#define MPDEV_SRV_FULL_MS	1000u

/* The shared ring as the kernel laid it out (MPDEV_BACKEND_GET_RING). */
struct mpdev_srv_ring {
	struct mpdev_ring_hdr *hdr;
	unsigned char *req;		/* request 0 */
	unsigned char *cpl;		/* completion 0 */
	uint32_t entries;		/* a power of two */
	uint32_t req_stride, cpl_stride;	/* entry sizes */
};

struct mpdev_srv {
	int fd;				/* backend fd, -1 when none */
	bool ring_mode;			/* busy-poll the mmap()ed ring */
	void *map;			/* our mmap() of the ring, or NULL */
	size_t map_size;
	struct mpdev_srv_ring ring;	/* valid while ring.hdr != NULL */
	/* Our indices: published in the ring header, never read back. */
	uint32_t req_tail, cpl_head;
	uint64_t features;		/* MPDEV_GET_FEATURES */
	int bar_of_region[MPDEV_SRV_MAX_REGIONS];
	unsigned int full_ms;		/* MPDEV_SRV_FULL_MS */
	bool failed;			/* backend reported an error/hang-up */
};

void mpdev_srv_init(struct mpdev_srv *s);

/*
 * Start serving @fd (taking ownership; a previous backend is dropped).
 * The fd must answer MPDEV_GET_FEATURES.  @ring_mode selects busy-polling
 * of the shared ring, mapped as MPDEV_BACKEND_GET_RING describes it.
 * @bar_of_region may be NULL for the identity convention.  0, or -1 with
 * a message logged (the fd is then closed).
 */
int mpdev_srv_attach(struct mpdev_srv *s, int fd, bool ring_mode,
		     const int *bar_of_region);

void mpdev_srv_detach(struct mpdev_srv *s);

/*
 * Check a ring geometry the kernel reported, for a mapping of pages of
 * @page_size bytes: a power-of-two entry count, entries at least as large
 * as the structures we know, 8-byte aligned, header and both arrays inside
 * mmap_size and apart from each other.  0, or -1 with the reason in @err.
 */
int mpdev_srv_check_ring(const struct mpdev_ring_info *ri, size_t page_size,
			 char *err, size_t errlen);

/*
 * Serve the ring at @base, laid out as @ri (checked first).  @base is not
 * ours: detaching does not unmap it.  For mpdev_srv_attach() and the
 * fuzzer.  0, or -1 with the reason in @err.
 */
int mpdev_srv_use_ring(struct mpdev_srv *s, void *base, size_t len,
		       const struct mpdev_ring_info *ri, char *err,
		       size_t errlen);

/*
 * Where request @q goes: BAR and offset in it (by cookie, else by region
 * id).  False when it names no BAR we know or the offset overflows;
 * remote_bar_access() checks the rest.
 */
bool mpdev_srv_route(const struct mpdev_srv *s, const struct mpdev_request *q,
		     int *bar, uint64_t *off, bool *by_cookie);

/*
 * Blocking mode: the fd is readable; read a batch of requests, serve
 * them, write the completions.  Returns requests served, or -1 when the
 * backend is unusable (it is then detached).
 */
int mpdev_srv_serve_fd(struct mpdev_srv *s, struct remote *r);

/*
 * Ring mode: serve everything queued on the ring now.  Returns requests
 * served (0 = ring empty) or -1 when the ring is corrupt (detached).
 */
int mpdev_srv_poll_ring(struct mpdev_srv *s, struct remote *r);

#endif
