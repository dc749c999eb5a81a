// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * mpdev backend server.
 *
 * Blocking mode: poll() says the backend fd is readable, read() returns a
 * whole number of struct mpdev_request, and one write() hands back the
 * completions of the batch, in request order.  Only requests flagged
 * MPDEV_REQ_NEEDS_REPLY get one: posted writes are fire-and-forget.
 *
 * Ring mode (--poll): the requests ring is consumed between req_tail (ours)
 * and req_head (the kernel's); completions go to the completion ring at
 * cpl_head (ours), and the kernel is kicked only if a vCPU went to sleep
 * (kick_needed), after a full barrier, as the UAPI header prescribes.
 * The kernel is trusted less than nothing here too: req_head is read once
 * per pass and must stay within one ring of req_tail.
 */
#define _GNU_SOURCE
#include "mpdev_srv.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/mpdev.h>

#include "util.h"

_Static_assert(sizeof(struct mpdev_ring) <= MPDEV_RING_MMAP_SIZE,
	       "ring fits its mapping");

void mpdev_srv_init(struct mpdev_srv *s)
{
	memset(s, 0, sizeof(*s));
	s->fd = -1;
	for (int i = 0; i < MPDEV_SRV_MAX_REGIONS; i++)
		s->bar_of_region[i] = i;
}

void mpdev_srv_detach(struct mpdev_srv *s)
{
	if (s->ring)
		munmap(s->ring, MPDEV_RING_MMAP_SIZE);
	s->ring = NULL;
	close_fd(&s->fd);
}

int mpdev_srv_attach(struct mpdev_srv *s, int fd, bool ring_mode,
		     const int *bar_of_region)
{
	mpdev_srv_detach(s);
	s->failed = false;
	s->ring_mode = ring_mode;
	for (int i = 0; i < MPDEV_SRV_MAX_REGIONS; i++)
		s->bar_of_region[i] = bar_of_region ? bar_of_region[i] : i;

	if (ring_mode) {
		void *p = mmap(NULL, MPDEV_RING_MMAP_SIZE, PROT_READ | PROT_WRITE,
			       MAP_SHARED, fd, 0);

		if (p == MAP_FAILED) {
			log_err("mmap of the mpdev ring failed: %s", strerror(errno));
			close(fd);
			return -1;
		}
		s->ring = p;
		if (__atomic_load_n(&s->ring->hdr.entries, __ATOMIC_ACQUIRE) !=
		    MPDEV_RING_ENTRIES) {
			log_err("mpdev ring has %u entries, expected %u",
				s->ring->hdr.entries, MPDEV_RING_ENTRIES);
			munmap(p, MPDEV_RING_MMAP_SIZE);
			s->ring = NULL;
			close(fd);
			return -1;
		}
	} else {
		/* poll() drives us; a read must never block the whole remote. */
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	}
	s->fd = fd;
	log_info("mpdev fast path attached (%s mode)",
		 ring_mode ? "busy-poll ring" : "blocking read/write");
	return 0;
}

/*
 * One request through the device model.  Fills @c when a reply is due and
 * returns whether one is.
 */
static bool serve_req(struct mpdev_srv *s, struct remote *r,
		      const struct mpdev_request *q, struct mpdev_completion *c)
{
	struct remote_stats *st = remote_stats(r);
	bool write = q->flags & MPDEV_REQ_WRITE;
	bool reply = q->flags & MPDEV_REQ_NEEDS_REPLY;
	uint64_t val = q->data;
	int bar = q->region < MPDEV_SRV_MAX_REGIONS ?
		  s->bar_of_region[q->region] : -1;
	bool ok;

	if (write)
		st->mpdev_writes++;
	else
		st->mpdev_reads++;
	ok = bar >= 0 && remote_bar_access(r, bar, q->offset, q->size, write, &val);
	if (!ok) {
		st->mpdev_bad_requests++;
		log_dbg("mpdev request id %llu region %u off 0x%llx size %u refused",
			(unsigned long long)q->id, q->region,
			(unsigned long long)q->offset, q->size);
	}
	if (!reply)
		return false;
	memset(c, 0, sizeof(*c));
	c->id = q->id;
	c->size = q->size;	/* must echo the request */
	c->data = (ok && !write) ? val : ~0ull;
	c->flags = ok ? 0 : MPDEV_CPL_ERROR;
	return true;
}

int mpdev_srv_serve_fd(struct mpdev_srv *s, struct remote *r)
{
	struct mpdev_request req[MPDEV_SRV_BATCH];
	struct mpdev_completion cpl[MPDEV_SRV_BATCH];
	struct remote_stats *st = remote_stats(r);
	size_t nreq, ncpl = 0;
	ssize_t n;

	n = read(s->fd, req, sizeof(req));
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	if (n <= 0) {
		log_err("mpdev backend %s; fast path stopped",
			n == 0 ? "closed" : strerror(errno));
		goto fail;
	}
	if (n % sizeof(req[0])) {
		log_err("mpdev backend returned a partial request (%zd bytes)", n);
		goto fail;
	}
	nreq = n / sizeof(req[0]);
	st->mpdev_batches++;
	st->mpdev_fd_batches++;
	for (size_t i = 0; i < nreq; i++) {
		if (serve_req(s, r, &req[i], &cpl[ncpl]))
			ncpl++;
	}
	if (ncpl) {
		const char *p = (const char *)cpl;
		size_t left = ncpl * sizeof(cpl[0]);

		while (left) {
			n = write(s->fd, p, left);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0 && errno == EAGAIN) {
				/* Completions are never refused for lack of room
				 * in the UAPI; back off briefly all the same. */
				usleep(10);
				continue;
			}
			if (n <= 0) {
				log_err("writing mpdev completions: %s",
					n == 0 ? "short write" : strerror(errno));
				goto fail;
			}
			p += n;
			left -= n;
		}
		st->mpdev_completions += ncpl;
	}
	return (int)nreq;
fail:
	s->failed = true;
	mpdev_srv_detach(s);
	return -1;
}

/* Post one completion on the ring, waiting for room if it is full. */
static int ring_post(struct mpdev_srv *s, struct remote *r,
		     const struct mpdev_completion *c)
{
	struct mpdev_ring_hdr *h = &s->ring->hdr;
	uint32_t head = h->cpl_head;	/* ours */
	unsigned int spins = 0;

	for (;;) {
		uint32_t tail = __atomic_load_n(&h->cpl_tail, __ATOMIC_ACQUIRE);

		if (head - tail < MPDEV_RING_ENTRIES)
			break;
		if (head - tail > MPDEV_RING_ENTRIES) {
			log_err("mpdev ring: completion tail %u is past head %u",
				tail, head);
			return -1;
		}
		/* Full: make the kernel reap, then look again. */
		if (ioctl(s->fd, MPDEV_BACKEND_KICK) == 0)
			remote_stats(r)->mpdev_kicks++;
		if (++spins > 100000) {
			log_err("mpdev ring: completion ring stays full");
			return -1;
		}
	}
	s->ring->cpl[head % MPDEV_RING_ENTRIES] = *c;
	__atomic_store_n(&h->cpl_head, head + 1, __ATOMIC_RELEASE);
	return 0;
}

int mpdev_srv_poll_ring(struct mpdev_srv *s, struct remote *r)
{
	struct mpdev_ring_hdr *h = &s->ring->hdr;
	struct remote_stats *st = remote_stats(r);
	uint32_t tail = h->req_tail;	/* ours */
	uint32_t head = __atomic_load_n(&h->req_head, __ATOMIC_ACQUIRE);
	uint32_t avail = head - tail;

	if (!avail)
		return 0;
	if (avail > MPDEV_RING_ENTRIES) {
		log_err("mpdev ring: request head %u is not within a ring of tail %u",
			head, tail);
		goto fail;
	}
	st->mpdev_batches++;
	st->mpdev_ring_batches++;
	for (uint32_t i = 0; i < avail; i++) {
		/* Copy first: the entry is read exactly once. */
		struct mpdev_request q = s->ring->req[(tail + i) % MPDEV_RING_ENTRIES];
		struct mpdev_completion c;
		bool reply = serve_req(s, r, &q, &c);

		/* Free the slot at once: posted writes may be waiting for room. */
		__atomic_store_n(&h->req_tail, tail + i + 1, __ATOMIC_RELEASE);
		if (!reply)
			continue;
		if (ring_post(s, r, &c) < 0)
			goto fail;
		st->mpdev_completions++;
		/* Pairs with the kernel's barrier before a vCPU sleeps. */
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		if (__atomic_load_n(&h->kick_needed, __ATOMIC_RELAXED)) {
			if (ioctl(s->fd, MPDEV_BACKEND_KICK) == 0)
				st->mpdev_kicks++;
			else
				log_dbg("MPDEV_BACKEND_KICK: %s", strerror(errno));
		}
	}
	return (int)avail;
fail:
	s->failed = true;
	mpdev_srv_detach(s);
	return -1;
}
