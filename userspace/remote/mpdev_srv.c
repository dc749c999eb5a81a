// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * mpdev backend server.
 *
 * The backend fd must answer MPDEV_GET_FEATURES: that is how the remote
 * knows it speaks this ABI (48-byte requests with a cookie).
 *
 * Blocking mode: poll() says the backend fd is readable, read() returns a
 * whole number of struct mpdev_request, and one write() hands back the
 * completions of the batch, in request order.  Only requests flagged
 * MPDEV_REQ_NEEDS_REPLY get one: posted writes are fire-and-forget.
 *
 * Ring mode (--poll): the ring is mapped as MPDEV_BACKEND_GET_RING says
 * (its size, entry count, entry sizes and offsets are the kernel's, not
 * compiled in), after the geometry has been checked.  Requests are
 * consumed between req_tail (ours) and req_head (the kernel's);
 * completions go to the completion ring at cpl_head (ours), and the
 * kernel is kicked only if a vCPU went to sleep (kick_needed), after a
 * full barrier, as the UAPI header prescribes.
 *
 * The kernel is trusted less than nothing here too: the indices we own are
 * kept in private copies and only published; every kernel-written value
 * (req_head, cpl_tail, kick_needed, each request) is read once, into a
 * local copy, and req_head and cpl_tail must stay within one ring of our
 * own index.  A request's BAR and offset are checked before the device
 * sees them.
 */
#define _GNU_SOURCE
#include "mpdev_srv.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "mpqemu_proto.h"
#include "util.h"

_Static_assert(sizeof(struct mpdev_request) == 48, "48-byte requests");
_Static_assert(sizeof(struct mpdev_completion) == 32, "32-byte completions");
_Static_assert(sizeof(struct mpdev_request) % 8 == 0 &&
	       sizeof(struct mpdev_completion) % 8 == 0,
	       "entries are copied as 64-bit words");

void mpdev_srv_init(struct mpdev_srv *s)
{
	memset(s, 0, sizeof(*s));
	s->fd = -1;
	s->full_ms = MPDEV_SRV_FULL_MS;
	for (int i = 0; i < MPDEV_SRV_MAX_REGIONS; i++)
		s->bar_of_region[i] = i;
}

void mpdev_srv_detach(struct mpdev_srv *s)
{
	if (s->map)
		munmap(s->map, s->map_size);
	s->map = NULL;
	s->map_size = 0;
	memset(&s->ring, 0, sizeof(s->ring));
	close_fd(&s->fd);
}

int mpdev_srv_check_ring(const struct mpdev_ring_info *ri, size_t page_size,
			 char *err, size_t errlen)
{
	uint64_t req_end, cpl_end;

	if (ri->flags) {
		snprintf(err, errlen, "unknown ring flags 0x%x", ri->flags);
		return -1;
	}
	if (!ri->entries || (ri->entries & (ri->entries - 1)) ||
	    ri->entries > MPDEV_SRV_MAX_ENTRIES) {
		snprintf(err, errlen, "%u entries is not a power of two up to %u",
			 ri->entries, MPDEV_SRV_MAX_ENTRIES);
		return -1;
	}
	if (ri->req_entry_size < sizeof(struct mpdev_request) ||
	    ri->req_entry_size > 4096 || ri->req_entry_size % 8 ||
	    ri->cpl_entry_size < sizeof(struct mpdev_completion) ||
	    ri->cpl_entry_size > 4096 || ri->cpl_entry_size % 8) {
		snprintf(err, errlen,
			 "entry sizes %u/%u: not multiples of 8 of at least %zu/%zu bytes",
			 ri->req_entry_size, ri->cpl_entry_size,
			 sizeof(struct mpdev_request),
			 sizeof(struct mpdev_completion));
		return -1;
	}
	if (!ri->mmap_size || !page_size || ri->mmap_size % page_size ||
	    ri->mmap_size > MPDEV_SRV_MAX_MAP_SIZE) {
		snprintf(err, errlen,
			 "mmap_size %llu is not a multiple of the %zu-byte page up to %llu",
			 (unsigned long long)ri->mmap_size, page_size,
			 (unsigned long long)MPDEV_SRV_MAX_MAP_SIZE);
		return -1;
	}
	if (ri->req_offset % 8 || ri->cpl_offset % 8 ||
	    ri->req_offset < sizeof(struct mpdev_ring_hdr) ||
	    ri->cpl_offset < sizeof(struct mpdev_ring_hdr)) {
		snprintf(err, errlen,
			 "ring offsets 0x%llx/0x%llx: unaligned or inside the header",
			 (unsigned long long)ri->req_offset,
			 (unsigned long long)ri->cpl_offset);
		return -1;
	}
	if (ri->req_offset > ri->mmap_size || ri->cpl_offset > ri->mmap_size) {
		snprintf(err, errlen,
			 "ring offsets 0x%llx/0x%llx: past the 0x%llx-byte mapping",
			 (unsigned long long)ri->req_offset,
			 (unsigned long long)ri->cpl_offset,
			 (unsigned long long)ri->mmap_size);
		return -1;
	}
	/* Both bounded now (entries * size <= 2^28): no overflow below. */
	req_end = ri->req_offset + (uint64_t)ri->entries * ri->req_entry_size;
	cpl_end = ri->cpl_offset + (uint64_t)ri->entries * ri->cpl_entry_size;
	if (req_end > ri->mmap_size || cpl_end > ri->mmap_size) {
		snprintf(err, errlen,
			 "request ring [0x%llx, 0x%llx) or completion ring [0x%llx, 0x%llx) leaves the 0x%llx-byte mapping",
			 (unsigned long long)ri->req_offset,
			 (unsigned long long)req_end,
			 (unsigned long long)ri->cpl_offset,
			 (unsigned long long)cpl_end,
			 (unsigned long long)ri->mmap_size);
		return -1;
	}
	if (req_end > ri->cpl_offset && cpl_end > ri->req_offset) {
		snprintf(err, errlen, "request and completion rings overlap");
		return -1;
	}
	return 0;
}

int mpdev_srv_use_ring(struct mpdev_srv *s, void *base, size_t len,
		       const struct mpdev_ring_info *ri, char *err,
		       size_t errlen)
{
	long page = sysconf(_SC_PAGESIZE);
	struct mpdev_ring_hdr *h = base;
	uint32_t n;

	if (mpdev_srv_check_ring(ri, page > 0 ? (size_t)page : 4096, err,
				 errlen) < 0)
		return -1;
	if (len < ri->mmap_size) {
		snprintf(err, errlen, "mapping of %zu bytes, the ring needs %llu",
			 len, (unsigned long long)ri->mmap_size);
		return -1;
	}
	n = __atomic_load_n(&h->entries, __ATOMIC_ACQUIRE);
	if (n != ri->entries) {
		snprintf(err, errlen,
			 "ring header says %u entries, MPDEV_BACKEND_GET_RING %u",
			 n, ri->entries);
		return -1;
	}
	s->ring.hdr = h;
	s->ring.req = (unsigned char *)base + ri->req_offset;
	s->ring.cpl = (unsigned char *)base + ri->cpl_offset;
	s->ring.entries = ri->entries;
	s->ring.req_stride = ri->req_entry_size;
	s->ring.cpl_stride = ri->cpl_entry_size;
	/* Where we stand: read once, published as ours from now on. */
	s->req_tail = __atomic_load_n(&h->req_tail, __ATOMIC_RELAXED);
	s->cpl_head = __atomic_load_n(&h->cpl_head, __ATOMIC_RELAXED);
	return 0;
}

static int map_ring(struct mpdev_srv *s, int fd)
{
	struct mpdev_ring_info ri;
	char err[200];
	void *p;

	if (!(s->features & MPDEV_FEAT_RING_GEOMETRY)) {
		log_err("mpdev: the kernel reports no ring geometry (features 0x%llx)",
			(unsigned long long)s->features);
		return -1;
	}
	memset(&ri, 0, sizeof(ri));
	if (ioctl(fd, MPDEV_BACKEND_GET_RING, &ri) < 0) {
		log_err("mpdev: MPDEV_BACKEND_GET_RING: %s", strerror(errno));
		return -1;
	}
	/* Check before mapping: mmap_size is the kernel's word. */
	if (mpdev_srv_check_ring(&ri, (size_t)sysconf(_SC_PAGESIZE), err,
				 sizeof(err)) < 0) {
		log_err("mpdev ring refused: %s", err);
		return -1;
	}
	p = mmap(NULL, ri.mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		log_err("mmap of the %llu-byte mpdev ring failed: %s",
			(unsigned long long)ri.mmap_size, strerror(errno));
		return -1;
	}
	s->map = p;
	s->map_size = ri.mmap_size;
	if (mpdev_srv_use_ring(s, p, ri.mmap_size, &ri, err, sizeof(err)) < 0) {
		log_err("mpdev ring refused: %s", err);
		return -1;
	}
	log_dbg("mpdev ring: %u entries, requests %u bytes at 0x%llx, completions %u bytes at 0x%llx, %llu bytes mapped",
		ri.entries, ri.req_entry_size, (unsigned long long)ri.req_offset,
		ri.cpl_entry_size, (unsigned long long)ri.cpl_offset,
		(unsigned long long)ri.mmap_size);
	return 0;
}

int mpdev_srv_attach(struct mpdev_srv *s, int fd, bool ring_mode,
		     const int *bar_of_region)
{
	struct mpdev_features f;

	mpdev_srv_detach(s);
	s->failed = false;
	s->ring_mode = ring_mode;
	for (int i = 0; i < MPDEV_SRV_MAX_REGIONS; i++)
		s->bar_of_region[i] = bar_of_region ? bar_of_region[i] : i;

	/* Feature discovery, on the backend fd itself; no version number. */
	memset(&f, 0, sizeof(f));
	if (ioctl(fd, MPDEV_GET_FEATURES, &f) < 0) {
		log_err("fd %d is not an mpdev backend fd of this ABI (MPDEV_GET_FEATURES: %s)",
			fd, strerror(errno));
		close(fd);
		return -1;
	}
	s->features = f.features;
	log_dbg("mpdev features 0x%llx", (unsigned long long)f.features);

	if (ring_mode) {
		if (map_ring(s, fd) < 0) {
			s->fd = fd;
			mpdev_srv_detach(s);
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

bool mpdev_srv_route(const struct mpdev_srv *s, const struct mpdev_request *q,
		     int *bar, uint64_t *off, bool *by_cookie)
{
	uint64_t ck = q->cookie, base;
	unsigned int b;

	*by_cookie = false;
	if (!ck) {
		/* No cookie: region id == BAR, or as the backend map says. */
		*bar = q->region < MPDEV_SRV_MAX_REGIONS ?
		       s->bar_of_region[q->region] : -1;
		*off = q->offset;
		return *bar >= 0;
	}
	if (!(ck & MPQ_MPDEV_COOKIE_BAR) || (ck & MPQ_MPDEV_COOKIE_RSVD))
		return false;
	b = (ck >> MPQ_MPDEV_COOKIE_BAR_SHIFT) & MPQ_MPDEV_COOKIE_BAR_MASK;
	base = ck & MPQ_MPDEV_COOKIE_OFF_MASK;
	if (b >= MPDEV_SRV_MAX_REGIONS || q->offset > UINT64_MAX - base)
		return false;
	*bar = (int)b;
	*off = base + q->offset;
	*by_cookie = true;
	return true;
}

/*
 * One request through the device model.  Fills @c when a reply is due and
 * returns whether one is.  @q is our own copy.
 */
static bool serve_req(struct mpdev_srv *s, struct remote *r,
		      const struct mpdev_request *q, struct mpdev_completion *c)
{
	struct remote_stats *st = remote_stats(r);
	bool write = q->flags & MPDEV_REQ_WRITE;
	bool reply = q->flags & MPDEV_REQ_NEEDS_REPLY;
	uint64_t val = q->data, off = 0;
	bool ok, by_cookie;
	int bar = -1;

	if (write)
		st->mpdev_writes++;
	else
		st->mpdev_reads++;
	ok = mpdev_srv_route(s, q, &bar, &off, &by_cookie);
	if (by_cookie)
		st->mpdev_by_cookie++;
	ok = ok && remote_bar_access(r, bar, off, q->size, write, &val);
	if (!ok) {
		st->mpdev_bad_requests++;
		log_dbg("mpdev request id %llu region %u cookie 0x%llx off 0x%llx size %u refused",
			(unsigned long long)q->id, q->region,
			(unsigned long long)q->cookie,
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

/* Request @idx, copied word by word, each word read exactly once. */
static void ring_read_req(const struct mpdev_srv_ring *g, uint32_t idx,
			  struct mpdev_request *q)
{
	const uint64_t *src = (const uint64_t *)(g->req +
		(size_t)(idx & (g->entries - 1)) * g->req_stride);
	uint64_t w[sizeof(*q) / 8];

	for (size_t i = 0; i < sizeof(*q) / 8; i++)
		w[i] = __atomic_load_n(&src[i], __ATOMIC_RELAXED);
	memcpy(q, w, sizeof(*q));
}

/* Completion @idx; the bytes past the ones we know are zero (reserved). */
static void ring_write_cpl(const struct mpdev_srv_ring *g, uint32_t idx,
			   const struct mpdev_completion *c)
{
	unsigned char *dst = g->cpl +
		(size_t)(idx & (g->entries - 1)) * g->cpl_stride;

	memcpy(dst, c, sizeof(*c));
	if (g->cpl_stride > sizeof(*c))
		memset(dst + sizeof(*c), 0, g->cpl_stride - sizeof(*c));
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Post one completion on the ring, waiting for room if it is full. */
static int ring_post(struct mpdev_srv *s, struct remote *r,
		     const struct mpdev_completion *c)
{
	const struct mpdev_srv_ring *g = &s->ring;
	struct mpdev_ring_hdr *h = g->hdr;
	uint32_t head = s->cpl_head;
	uint64_t give_up = 0;

	for (;;) {
		uint32_t tail = __atomic_load_n(&h->cpl_tail, __ATOMIC_ACQUIRE);

		if (head - tail < g->entries)
			break;
		if (head - tail > g->entries) {
			log_err("mpdev ring: completion tail %u is not within a ring of head %u",
				tail, head);
			return -1;
		}
		/* Full: make the kernel reap, then look again. */
		if (ioctl(s->fd, MPDEV_BACKEND_KICK) == 0)
			remote_stats(r)->mpdev_kicks++;
		if (!give_up) {
			give_up = now_ms() + s->full_ms;
		} else if (now_ms() >= give_up) {
			log_err("mpdev ring: completion ring stays full for %u ms",
				s->full_ms);
			return -1;
		}
	}
	ring_write_cpl(g, head, c);
	s->cpl_head = head + 1;
	__atomic_store_n(&h->cpl_head, head + 1, __ATOMIC_RELEASE);
	return 0;
}

int mpdev_srv_poll_ring(struct mpdev_srv *s, struct remote *r)
{
	const struct mpdev_srv_ring *g = &s->ring;
	struct mpdev_ring_hdr *h = g->hdr;
	struct remote_stats *st = remote_stats(r);
	uint32_t tail = s->req_tail;
	uint32_t head, avail;

	if (!h)
		return -1;
	head = __atomic_load_n(&h->req_head, __ATOMIC_ACQUIRE);
	avail = head - tail;
	if (!avail)
		return 0;
	if (avail > g->entries) {
		log_err("mpdev ring: request head %u is not within a ring of tail %u",
			head, tail);
		goto fail;
	}
	st->mpdev_batches++;
	st->mpdev_ring_batches++;
	for (uint32_t i = 0; i < avail; i++) {
		struct mpdev_request q;
		struct mpdev_completion c;
		bool reply;

		/* Copy first: the entry is read exactly once. */
		ring_read_req(g, tail + i, &q);
		reply = serve_req(s, r, &q, &c);

		/* Free the slot at once: posted writes may be waiting for room. */
		s->req_tail = tail + i + 1;
		__atomic_store_n(&h->req_tail, s->req_tail, __ATOMIC_RELEASE);
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
