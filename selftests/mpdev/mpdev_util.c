// SPDX-License-Identifier: GPL-2.0
/* Control-fd wrappers, the ring mapping and the test remote; see the header. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "mpdev_util.h"

static int ret_errno(int r)
{
	return r < 0 ? -errno : r;
}

int mpdev_open(void)
{
	return ret_errno(open("/dev/mpdev", O_RDWR | O_CLOEXEC));
}

int mpdev_attach(int ctl, int vm_fd)
{
	struct mpdev_attach_vm a = { .vm_fd = vm_fd };

	return ret_errno(ioctl(ctl, MPDEV_ATTACH_VM, &a));
}

int mpdev_add_cookie(int ctl, uint32_t id, int space, uint64_t addr,
		     uint64_t size, uint16_t flags, uint64_t cookie)
{
	struct mpdev_region r = {
		.addr = addr, .size = size, .cookie = cookie, .id = id,
		.space = space, .flags = flags,
	};

	return ret_errno(ioctl(ctl, MPDEV_ADD_REGION, &r));
}

int mpdev_add(int ctl, uint32_t id, int space, uint64_t addr, uint64_t size,
	      uint16_t flags)
{
	return mpdev_add_cookie(ctl, id, space, addr, size, flags, 0);
}

int mpdev_del(int ctl, uint32_t id)
{
	struct mpdev_region r = { .id = id };

	return ret_errno(ioctl(ctl, MPDEV_DEL_REGION, &r));
}

int mpdev_get_params(int ctl, struct mpdev_params *p)
{
	memset(p, 0, sizeof(*p));
	return ret_errno(ioctl(ctl, MPDEV_GET_PARAMS, p));
}

int mpdev_set_params4(int ctl, uint64_t deadline_ns, uint64_t spin_ns,
		      uint64_t intr_ns)
{
	struct mpdev_params p = {
		.deadline_ns = deadline_ns, .spin_ns = spin_ns,
		.intr_ns = intr_ns,
	};

	return ret_errno(ioctl(ctl, MPDEV_SET_PARAMS, &p));
}

int mpdev_set_params3(int ctl, uint64_t deadline_ns, uint64_t spin_ns)
{
	struct mpdev_params p;
	int ret = mpdev_get_params(ctl, &p);

	if (ret)
		return ret;
	if (p.intr_ns > deadline_ns)
		p.intr_ns = deadline_ns;
	return mpdev_set_params4(ctl, deadline_ns, spin_ns, p.intr_ns);
}

int mpdev_info(int ctl, struct mpdev_info *info)
{
	return ret_errno(ioctl(ctl, MPDEV_GET_INFO, info));
}

int mpdev_features(int fd, struct mpdev_features *f)
{
	memset(f, 0, sizeof(*f));
	return ret_errno(ioctl(fd, MPDEV_GET_FEATURES, f));
}

int mpdev_backend_ring(int ctl, uint32_t flags, uint32_t ring_entries,
		       struct mpdev_ring_info *ring)
{
	struct mpdev_backend_args a = {
		.flags = flags, .ring_entries = ring_entries,
	};
	int fd = ret_errno(ioctl(ctl, MPDEV_CREATE_BACKEND, &a));

	if (fd >= 0 && ring)
		*ring = a.ring;
	return fd;
}

int mpdev_backend(int ctl, uint32_t flags)
{
	return mpdev_backend_ring(ctl, flags, 0, NULL);
}

int mpdev_get_ring(int backend, struct mpdev_ring_info *ring)
{
	memset(ring, 0, sizeof(*ring));
	return ret_errno(ioctl(backend, MPDEV_BACKEND_GET_RING, ring));
}

uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

/* ---- ring mapping ---- */

static bool ring_part_fits(uint64_t off, uint32_t n, uint32_t size,
			   uint64_t total)
{
	return off <= total && (uint64_t)n * size <= total - off;
}

int mpdev_ring_map(int backend, struct mpdev_ring_map *m, int prot)
{
	struct mpdev_ring_info *ri = &m->info;
	int ret;

	memset(m, 0, sizeof(*m));
	ret = mpdev_get_ring(backend, ri);
	if (ret)
		return ret;
	if (ri->flags || !ri->entries || (ri->entries & (ri->entries - 1)) ||
	    ri->req_entry_size < sizeof(struct mpdev_request) ||
	    ri->cpl_entry_size < sizeof(struct mpdev_completion) ||
	    ri->mmap_size < sizeof(struct mpdev_ring_hdr) ||
	    ri->mmap_size > (1ULL << 30) ||
	    !ring_part_fits(ri->req_offset, ri->entries, ri->req_entry_size,
			    ri->mmap_size) ||
	    !ring_part_fits(ri->cpl_offset, ri->entries, ri->cpl_entry_size,
			    ri->mmap_size))
		return -EPROTO;
	m->base = mmap(NULL, ri->mmap_size, prot, MAP_SHARED, backend, 0);
	if (m->base == MAP_FAILED) {
		m->base = NULL;
		return -errno;
	}
	m->hdr = m->base;
	if (m->hdr->entries != ri->entries) {
		mpdev_ring_unmap(m);
		return -EPROTO;
	}
	return 0;
}

void mpdev_ring_unmap(struct mpdev_ring_map *m)
{
	if (m->base)
		munmap(m->base, m->info.mmap_size);
	m->base = NULL;
	m->hdr = NULL;
}

/* ---- test remote ---- */

#define TR_BATCH	64
/* Poll timeout of the blocking remote when nothing is due sooner. */
#define TR_POLL_NS	5000000ULL

static uint8_t *tr_byte(struct tr *tr, uint32_t region, uint64_t off)
{
	return &tr->mem[region % TR_REGIONS][off % TR_REGION_BYTES];
}

/* The device model: plain little-endian memory per region. */
static uint64_t tr_access(struct tr *tr, const struct mpdev_request *q)
{
	uint64_t v = 0;
	int i;

	if (q->flags & MPDEV_REQ_WRITE) {
		for (i = 0; i < q->size; i++)
			*tr_byte(tr, q->region, q->offset + i) = q->data >> (8 * i);
		return 0;
	}
	for (i = 0; i < q->size; i++)
		v |= (uint64_t)*tr_byte(tr, q->region, q->offset + i) << (8 * i);
	return v;
}

static void tr_note_error(struct tr *tr, int err)
{
	pthread_mutex_lock(&tr->lock);
	if (!tr->error)
		tr->error = err;
	pthread_mutex_unlock(&tr->lock);
}

static void tr_kick(struct tr *tr)
{
	if (ioctl(tr->fd, MPDEV_BACKEND_KICK) < 0 && errno != EPIPE)
		tr_note_error(tr, errno);
}

/* Ring mode: makes cpl_head @head visible and kicks if asked (or @kick). */
static void tr_ring_publish(struct tr *tr, uint32_t head, bool kick)
{
	struct mpdev_ring_hdr *h = tr->ring.hdr;

	__atomic_store_n(&h->cpl_head, head, __ATOMIC_RELEASE);
	/* Pairs with the kernel's barrier before it sleeps. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (kick || __atomic_load_n(&h->kick_needed, __ATOMIC_RELAXED))
		tr_kick(tr);
}

/*
 * Ring mode: writes @k answers and publishes them with one store of
 * cpl_head (several only when the ring has no room for all of them).
 */
static void tr_ring_post(struct tr *tr, const struct mpdev_completion *c,
			 unsigned int k, bool kick)
{
	struct mpdev_ring_hdr *h = tr->ring.hdr;
	uint32_t head = tr->cpl_head, published = head;
	unsigned int i;

	for (i = 0; i < k; i++) {
		struct mpdev_completion *e;

		while (head - __atomic_load_n(&h->cpl_tail, __ATOMIC_ACQUIRE) >=
		       tr->entries && !tr->stop) {
			if (published != head) {
				tr_ring_publish(tr, head, false);
				published = head;
			}
			tr_kick(tr);
		}
		e = mpdev_ring_cpl(&tr->ring, head);
		memset(e, 0, tr->ring.info.cpl_entry_size);
		*e = c[i];
		head++;
	}
	tr->cpl_head = head;
	if (published != head || kick)
		tr_ring_publish(tr, head, kick);
}

/*
 * Posts the answers to @n entries (newest first if @reverse), with the
 * b.bad corruption if @misbehave.  Returns 0 or the write()'s -errno.
 */
static int tr_post(struct tr *tr, const struct tr_pending *p, unsigned int n,
		   bool reverse, bool misbehave)
{
	struct mpdev_completion *c = tr->cbuf;
	int bad = misbehave ? tr->b.bad : TR_BAD_NONE;
	unsigned int i, k = 0;
	int ret = 0;

	if (bad == TR_BAD_REQ_TAIL ||
	    (bad == TR_BAD_WRITE_LEN && tr->mode != TR_BLOCKING) ||
	    (bad == TR_BAD_CPL_INDEX && tr->mode != TR_RING))
		bad = TR_BAD_NONE;	/* not an answer's matter */
	for (i = 0; i < n; i++) {
		const struct tr_pending *e = &p[reverse ? n - 1 - i : i];

		memset(&c[k], 0, sizeof(c[k]));
		c[k].id = e->id;
		c[k].data = e->data;
		c[k].size = e->size;
		k++;
		/* The duplicate right behind the original, same batch. */
		if (bad == TR_BAD_DUPLICATE && i == 0) {
			c[k] = c[k - 1];
			k++;
		}
	}
	if (bad && k) {
		tr->b.bad = TR_BAD_NONE;
		if (bad == TR_BAD_ID)
			c[0].id += 1ULL << 40;	/* a sequence never issued */
		else if (bad == TR_BAD_SIZE)
			c[0].size = c[0].size == 4 ? 2 : 4;
		else if (bad == TR_BAD_RESERVED)
			c[0].reserved2 = 1;
	}
	if (!k)
		return 0;
	if (tr->mode == TR_RING) {
		if (bad == TR_BAD_CPL_INDEX) {
			/*
			 * The forged index alone, in one store, instead of
			 * the answers: nothing valid to consume before it.
			 */
			uint32_t tail = __atomic_load_n(&tr->ring.hdr->cpl_tail,
							__ATOMIC_ACQUIRE);

			tr->cpl_head = tail + tr->entries + 1;
			tr_ring_publish(tr, tr->cpl_head, true);
			return 0;
		}
		tr_ring_post(tr, c, k, bad == TR_BAD_DUPLICATE);
	} else {
		ssize_t len = k * sizeof(c[0]);

		if (bad == TR_BAD_WRITE_LEN)
			len -= 1;
		if (write(tr->fd, c, len) != len)
			ret = -errno;
	}
	pthread_mutex_lock(&tr->lock);
	tr->ncpl += n;
	pthread_mutex_unlock(&tr->lock);
	return ret;
}

/* Fetches new requests; returns how many, 0 if none, -1 at end of file. */
static int tr_fetch(struct tr *tr, struct mpdev_request *q, int idle,
		    uint64_t wait_ns)
{
	if (tr->mode == TR_BLOCKING) {
		struct pollfd pfd = { .fd = tr->fd, .events = POLLIN };
		struct timespec ts = {
			.tv_sec = wait_ns / 1000000000ULL,
			.tv_nsec = wait_ns % 1000000000ULL,
		};
		ssize_t n, i;

		if (ppoll(&pfd, 1, &ts, NULL) <= 0)
			return 0;
		/* read() hands out entries of the ring's req_entry_size. */
		n = read(tr->fd, tr->rbuf, TR_BATCH * tr->req_size);
		if (n == 0)
			return -1;
		if (n < 0) {
			if (errno != EAGAIN && errno != EINTR)
				tr_note_error(tr, errno);
			return 0;
		}
		if (n % tr->req_size)
			tr_note_error(tr, EPROTO);
		n /= tr->req_size;
		for (i = 0; i < n; i++)
			memcpy(&q[i], tr->rbuf + i * tr->req_size, sizeof(*q));
		return n;
	} else {
		struct mpdev_ring_hdr *h = tr->ring.hdr;
		uint32_t head, tail = h->req_tail, n = 0;

		head = __atomic_load_n(&h->req_head, __ATOMIC_ACQUIRE);
		if (head - tail > tr->entries) {
			tr_note_error(tr, EPROTO);
			return 0;
		}
		while (tail != head && n < TR_BATCH)
			q[n++] = *mpdev_ring_req(&tr->ring, tail++);
		/* Forged in the store that hands the entries back. */
		if (n && tr->b.bad == TR_BAD_REQ_TAIL) {
			tr->b.bad = TR_BAD_NONE;
			tail = head + 5;
		}
		if (n)
			__atomic_store_n(&h->req_tail, tail, __ATOMIC_RELEASE);
		if (!n && idle % 256 == 255) {
			/* Idle: has the context ended? */
			struct pollfd pfd = { .fd = tr->fd };

			if (poll(&pfd, 1, 0) == 1 && (pfd.revents & POLLHUP))
				return -1;
			usleep(50);
		}
		return n;
	}
}

/* Serves a tr_release() request, if there is one. */
static void tr_do_release(struct tr *tr)
{
	struct tr_pending e;
	unsigned int i;
	int ret;

	pthread_mutex_lock(&tr->lock);
	if (tr->rel_state != 1) {
		pthread_mutex_unlock(&tr->lock);
		return;
	}
	for (i = 0; i < tr->nheld && tr->held[i].id != tr->rel_id; i++)
		;
	if (i == tr->nheld) {
		tr->rel_ret = -ENOENT;
		tr->rel_state = 2;
		pthread_mutex_unlock(&tr->lock);
		return;
	}
	e = tr->held[i];
	memmove(&tr->held[i], &tr->held[i + 1],
		(tr->nheld - i - 1) * sizeof(tr->held[0]));
	tr->nheld--;
	pthread_mutex_unlock(&tr->lock);

	ret = tr_post(tr, &e, 1, false, false);
	/* Ring: have the kernel look at it now, whoever waits or not. */
	if (tr->mode == TR_RING)
		tr_kick(tr);

	pthread_mutex_lock(&tr->lock);
	tr->rel_ret = ret;
	tr->rel_state = 2;
	pthread_mutex_unlock(&tr->lock);
}

/* Answers the pending entries that are due; returns the next due time. */
static uint64_t tr_answer_due(struct tr *tr, uint64_t now)
{
	unsigned int k = 0;
	int ret;

	/* Due times grow with arrival: the due ones are a prefix. */
	while (k < tr->npend && tr->pend[k].due_ns <= now)
		k++;
	if (k) {
		ret = tr_post(tr, tr->pend, k, false, true);
		if (ret)
			tr_note_error(tr, -ret);
		memmove(tr->pend, tr->pend + k,
			(tr->npend - k) * sizeof(tr->pend[0]));
		tr->npend -= k;
	}
	return tr->npend ? tr->pend[0].due_ns : 0;
}

static void *tr_main(void *arg)
{
	struct tr *tr = arg;
	struct mpdev_request q[TR_BATCH];
	uint64_t next_due = 0;
	int idle = 0;

	while (!tr->stop) {
		uint64_t now = now_ns(), wait = TR_POLL_NS, delay;
		int i, n;

		if (next_due && !tr->b.stall && !tr->b.batch_reverse)
			wait = next_due > now ? next_due - now : 0;
		if (wait > TR_POLL_NS)
			wait = TR_POLL_NS;
		n = tr_fetch(tr, q, idle, wait);
		if (n < 0) {
			tr->eof = true;
			break;
		}
		idle = n ? 0 : idle + 1;
		now = now_ns();
		delay = tr->b.delay_us * 1000ULL;
		pthread_mutex_lock(&tr->lock);
		for (i = 0; i < n; i++) {
			if (tr->nlog < tr->caplog)
				tr->log[tr->nlog++] = q[i];
			tr->nreq++;
			if (q[i].flags & MPDEV_REQ_WRITE)
				tr->nwrites++;
			else
				tr->nreads++;
		}
		/* Apply in arrival order: a read sees every earlier write. */
		for (i = 0; i < n; i++) {
			uint64_t v = tr_access(tr, &q[i]);
			struct tr_pending *e;

			if (!(q[i].flags & MPDEV_REQ_NEEDS_REPLY))
				continue;
			if (tr->b.hold) {
				if (tr->nheld == tr->cap) {
					if (!tr->error)
						tr->error = EOVERFLOW;
					continue;
				}
				e = &tr->held[tr->nheld++];
			} else {
				if (tr->npend == tr->cap) {
					if (!tr->error)
						tr->error = EOVERFLOW;
					continue;
				}
				e = &tr->pend[tr->npend++];
			}
			e->id = q[i].id;
			e->data = v;
			e->size = q[i].size;
			e->due_ns = now + delay;
		}
		if (tr->npend > tr->max_outstanding)
			tr->max_outstanding = tr->npend;
		pthread_mutex_unlock(&tr->lock);

		tr_do_release(tr);
		next_due = 0;
		if (!tr->npend || tr->b.stall)
			continue;
		if (tr->b.batch_reverse) {
			if (tr->npend < tr->b.batch_reverse)
				continue;
			i = tr_post(tr, tr->pend, tr->npend, true, true);
			if (i)
				tr_note_error(tr, -i);
			tr->npend = 0;
			continue;
		}
		next_due = tr_answer_due(tr, now_ns());
	}
	tr->running = false;
	return NULL;
}

int tr_start(struct tr *tr, int fd, enum tr_mode mode, uint64_t log_cap)
{
	struct mpdev_ring_info ri;
	int ret;

	memset(tr, 0, sizeof(*tr));
	tr->fd = fd;
	tr->mode = mode;
	pthread_mutex_init(&tr->lock, NULL);
	ret = mpdev_get_ring(fd, &ri);
	if (ret)
		return ret;
	if (ri.flags || ri.req_entry_size < sizeof(struct mpdev_request) ||
	    ri.req_entry_size > 4096)
		return -EPROTO;
	tr->entries = ri.entries;
	tr->req_size = ri.req_entry_size;
	/* Room for every request the ring can hold, twice over. */
	tr->cap = 2 * (ri.entries > 256 ? ri.entries : 256);
	tr->pend = calloc(tr->cap, sizeof(*tr->pend));
	tr->held = calloc(tr->cap, sizeof(*tr->held));
	tr->cbuf = calloc(2 * tr->cap + 1, sizeof(*tr->cbuf));
	tr->rbuf = calloc(TR_BATCH, tr->req_size);
	if (log_cap)
		tr->log = calloc(log_cap, sizeof(*tr->log));
	if (!tr->pend || !tr->held || !tr->cbuf || !tr->rbuf ||
	    (log_cap && !tr->log))
		goto nomem;
	tr->caplog = log_cap;
	if (mode == TR_RING) {
		ret = mpdev_ring_map(fd, &tr->ring, PROT_READ | PROT_WRITE);
		if (ret)
			goto fail;
		tr->cpl_head = tr->ring.hdr->cpl_head;
	}
	tr->running = true;
	if (pthread_create(&tr->thread, NULL, tr_main, tr)) {
		tr->running = false;
		ret = -EAGAIN;
		goto fail;
	}
	return 0;
nomem:
	ret = -ENOMEM;
fail:
	mpdev_ring_unmap(&tr->ring);
	free(tr->pend);
	free(tr->held);
	free(tr->cbuf);
	free(tr->rbuf);
	free(tr->log);
	tr->pend = tr->held = NULL;
	tr->cbuf = NULL;
	tr->rbuf = NULL;
	tr->log = NULL;
	return ret;
}

void tr_stop(struct tr *tr, bool close_fd)
{
	tr->stop = true;
	pthread_join(tr->thread, NULL);
	mpdev_ring_unmap(&tr->ring);
	if (close_fd && tr->fd >= 0)
		close(tr->fd);
	tr->fd = -1;
	free(tr->log);
	free(tr->pend);
	free(tr->held);
	free(tr->cbuf);
	free(tr->rbuf);
	tr->log = NULL;
	tr->pend = tr->held = NULL;
	tr->cbuf = NULL;
	tr->rbuf = NULL;
}

/* Waits up to @ms for *@v (read under the lock) to reach @n. */
static bool tr_wait_count(struct tr *tr, const uint64_t *v, uint64_t n,
			  int ms)
{
	uint64_t end = now_ns() + ms * 1000000ULL;

	for (;;) {
		uint64_t seen;

		pthread_mutex_lock(&tr->lock);
		seen = *v;
		pthread_mutex_unlock(&tr->lock);
		if (seen >= n)
			return true;
		if (now_ns() >= end)
			return false;
		usleep(1000);
	}
}

bool tr_wait_requests(struct tr *tr, uint64_t n, int ms)
{
	return tr_wait_count(tr, &tr->nreq, n, ms);
}

bool tr_wait_answers(struct tr *tr, uint64_t n, int ms)
{
	return tr_wait_count(tr, &tr->ncpl, n, ms);
}

bool tr_wait_eof(struct tr *tr, int ms)
{
	uint64_t end = now_ns() + ms * 1000000ULL;

	while (now_ns() < end) {
		if (tr->eof)
			return true;
		usleep(1000);
	}
	return tr->eof;
}

bool tr_wait_held(struct tr *tr, unsigned int n, int ms)
{
	uint64_t end = now_ns() + ms * 1000000ULL;

	for (;;) {
		if (tr_held_ids(tr, NULL, 0) >= n)
			return true;
		if (now_ns() >= end)
			return false;
		usleep(1000);
	}
}

unsigned int tr_held_ids(struct tr *tr, uint64_t *ids, unsigned int max)
{
	unsigned int i, n;

	pthread_mutex_lock(&tr->lock);
	n = tr->nheld;
	for (i = 0; i < n && i < max; i++)
		ids[i] = tr->held[i].id;
	pthread_mutex_unlock(&tr->lock);
	return n;
}

int tr_release(struct tr *tr, uint64_t id)
{
	uint64_t end = now_ns() + 2000000000ULL;
	int ret = -ETIMEDOUT;

	pthread_mutex_lock(&tr->lock);
	tr->rel_id = id;
	tr->rel_state = 1;
	pthread_mutex_unlock(&tr->lock);
	while (now_ns() < end && tr->running) {
		pthread_mutex_lock(&tr->lock);
		if (tr->rel_state == 2) {
			ret = tr->rel_ret;
			tr->rel_state = 0;
			pthread_mutex_unlock(&tr->lock);
			return ret;
		}
		pthread_mutex_unlock(&tr->lock);
		usleep(500);
	}
	pthread_mutex_lock(&tr->lock);
	if (tr->rel_state == 2)
		ret = tr->rel_ret;
	tr->rel_state = 0;
	pthread_mutex_unlock(&tr->lock);
	return ret;
}
