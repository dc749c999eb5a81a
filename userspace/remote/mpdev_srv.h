/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The mpdev fast path: serve guest BAR accesses that the mpdev kernel
 * module queues on a backend fd (include/uapi/linux/mpdev.h), through the
 * same remote_bar_access() as the socket path.
 *
 * Region ids map to BARs; the convention (and the default) is
 * region id == BAR index, which is how the QEMU patch registers regions.
 */
#ifndef REMOTE_MPDEV_SRV_H
#define REMOTE_MPDEV_SRV_H

#include <stdbool.h>
#include <stdint.h>

#include "remote.h"

#define MPDEV_SRV_MAX_REGIONS	6
#define MPDEV_SRV_BATCH		64

struct mpdev_ring;

struct mpdev_srv {
	int fd;				/* backend fd, -1 when none */
	bool ring_mode;			/* busy-poll the mmap()ed ring */
	struct mpdev_ring *ring;
	int bar_of_region[MPDEV_SRV_MAX_REGIONS];
	bool failed;			/* backend reported an error/hang-up */
};

void mpdev_srv_init(struct mpdev_srv *s);

/*
 * Start serving @fd (taking ownership; a previous backend is dropped).
 * @ring_mode selects busy-polling of the shared ring.  @bar_of_region may
 * be NULL for the identity convention.  0, or -1 with a message logged.
 */
int mpdev_srv_attach(struct mpdev_srv *s, int fd, bool ring_mode,
		     const int *bar_of_region);

void mpdev_srv_detach(struct mpdev_srv *s);

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
