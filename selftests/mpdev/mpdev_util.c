// SPDX-License-Identifier: GPL-2.0
/* Control-fd wrappers and the test remote; see mpdev_util.h. */
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

int mpdev_add(int ctl, uint32_t id, int space, uint64_t addr, uint64_t size,
	      uint16_t flags)
{
	struct mpdev_region r = {
		.addr = addr, .size = size, .id = id,
		.space = space, .flags = flags,
	};

	return ret_errno(ioctl(ctl, MPDEV_ADD_REGION, &r));
}

int mpdev_del(int ctl, uint32_t id)
{
	struct mpdev_region r = { .id = id };

	return ret_errno(ioctl(ctl, MPDEV_DEL_REGION, &r));
}

int mpdev_set_params(int ctl, uint64_t deadline_ns, uint64_t spin_ns)
{
	struct mpdev_params p = { .deadline_ns = deadline_ns,
				  .spin_ns = spin_ns };

	return ret_errno(ioctl(ctl, MPDEV_SET_PARAMS, &p));
}

int mpdev_info(int ctl, struct mpdev_info *info)
{
	return ret_errno(ioctl(ctl, MPDEV_GET_INFO, info));
}

int mpdev_backend(int ctl, uint32_t flags)
{
	struct mpdev_backend_args a = { .flags = flags };

	return ret_errno(ioctl(ctl, MPDEV_CREATE_BACKEND, &a));
}

uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

/* ---- test remote ---- */

#define TR_BATCH	64
#define TR_PENDING	256

struct tr_pending {
	uint64_t id;
	uint64_t data;
	uint8_t size;
};

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

/* Ring mode: publish one completion, waiting for room if needed. */
static void tr_ring_post(struct tr *tr, const struct mpdev_completion *c)
{
	struct mpdev_ring_hdr *h = &tr->ring->hdr;
	uint32_t head = h->cpl_head;

	while (head - __atomic_load_n(&h->cpl_tail, __ATOMIC_ACQUIRE) >=
	       MPDEV_RING_ENTRIES && !tr->stop)
		tr_kick(tr);
	tr->ring->cpl[head % MPDEV_RING_ENTRIES] = *c;
	__atomic_store_n(&h->cpl_head, head + 1, __ATOMIC_RELEASE);
}

static void tr_answer(struct tr *tr, struct tr_pending *p, unsigned int n,
		      bool reverse)
{
	struct mpdev_completion c[TR_PENDING];
	unsigned int i, k = 0;
	int bad = tr->b.bad;

	for (i = 0; i < n; i++) {
		struct tr_pending *e = &p[reverse ? n - 1 - i : i];

		memset(&c[k], 0, sizeof(c[k]));
		c[k].id = e->id;
		c[k].data = e->data;
		c[k].size = e->size;
		k++;
	}
	if (bad && k) {
		tr->b.bad = TR_BAD_NONE;
		if (bad == TR_BAD_ID)
			c[0].id ^= 1ULL << 40;
		else if (bad == TR_BAD_SIZE)
			c[0].size = c[0].size == 4 ? 2 : 4;
		else if (bad == TR_BAD_RESERVED)
			c[0].reserved2 = 1;
	}
	if (tr->mode == TR_RING) {
		for (i = 0; i < k; i++)
			tr_ring_post(tr, &c[i]);
		if (bad == TR_BAD_CPL_INDEX)
			__atomic_store_n(&tr->ring->hdr.cpl_head,
					 tr->ring->hdr.cpl_head + 1000,
					 __ATOMIC_RELEASE);
		/* Pairs with the kernel's barrier before it sleeps. */
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		if (__atomic_load_n(&tr->ring->hdr.kick_needed,
				    __ATOMIC_RELAXED) ||
		    bad == TR_BAD_CPL_INDEX)
			tr_kick(tr);
	} else if (k) {
		ssize_t len = k * sizeof(c[0]);

		if (bad == TR_BAD_WRITE_LEN)
			len -= 1;
		if (write(tr->fd, c, len) != len)
			tr_note_error(tr, errno);
	}
	pthread_mutex_lock(&tr->lock);
	tr->ncpl += k;
	pthread_mutex_unlock(&tr->lock);
}

/* Fetches new requests; returns how many, 0 if none, -1 at end of file. */
static int tr_fetch(struct tr *tr, struct mpdev_request *q, int idle)
{
	if (tr->mode == TR_BLOCKING) {
		struct pollfd pfd = { .fd = tr->fd, .events = POLLIN };
		ssize_t n;

		if (poll(&pfd, 1, 5) <= 0)
			return 0;
		n = read(tr->fd, q, TR_BATCH * sizeof(*q));
		if (n == 0)
			return -1;
		if (n < 0) {
			if (errno != EAGAIN && errno != EINTR)
				tr_note_error(tr, errno);
			return 0;
		}
		if (n % sizeof(*q))
			tr_note_error(tr, EPROTO);
		return n / sizeof(*q);
	} else {
		struct mpdev_ring_hdr *h = &tr->ring->hdr;
		uint32_t head, tail = h->req_tail, n = 0;

		head = __atomic_load_n(&h->req_head, __ATOMIC_ACQUIRE);
		while (tail != head && n < TR_BATCH)
			q[n++] = tr->ring->req[tail++ % MPDEV_RING_ENTRIES];
		if (tr->b.bad == TR_BAD_REQ_TAIL) {
			tr->b.bad = TR_BAD_NONE;
			tail = head + 5;
		}
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

static void *tr_main(void *arg)
{
	struct tr *tr = arg;
	struct mpdev_request q[TR_BATCH];
	struct tr_pending p[TR_PENDING];
	unsigned int np = 0;
	int idle = 0;

	while (!tr->stop) {
		int i, n = tr_fetch(tr, q, idle);

		if (n < 0) {
			tr->eof = true;
			break;
		}
		idle = n ? 0 : idle + 1;
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
		pthread_mutex_unlock(&tr->lock);
		/* Apply in arrival order: a read sees every earlier write. */
		for (i = 0; i < n; i++) {
			uint64_t v = tr_access(tr, &q[i]);

			if (!(q[i].flags & MPDEV_REQ_NEEDS_REPLY))
				continue;
			if (np == TR_PENDING) {
				tr_note_error(tr, EOVERFLOW);
				continue;
			}
			p[np].id = q[i].id;
			p[np].data = v;
			p[np].size = q[i].size;
			np++;
		}
		if (np > tr->max_outstanding)
			tr->max_outstanding = np;
		if (!np || tr->b.stall)
			continue;
		if (tr->b.batch_reverse) {
			if (np < tr->b.batch_reverse)
				continue;
			tr_answer(tr, p, np, true);
			np = 0;
			continue;
		}
		if (tr->b.delay_us)
			usleep(tr->b.delay_us);
		tr_answer(tr, p, np, false);
		np = 0;
	}
	tr->running = false;
	return NULL;
}

int tr_start(struct tr *tr, int fd, enum tr_mode mode, uint64_t log_cap)
{
	memset(tr, 0, sizeof(*tr));
	tr->fd = fd;
	tr->mode = mode;
	pthread_mutex_init(&tr->lock, NULL);
	if (log_cap) {
		tr->log = calloc(log_cap, sizeof(*tr->log));
		if (!tr->log)
			return -ENOMEM;
		tr->caplog = log_cap;
	}
	if (mode == TR_RING) {
		tr->ring = mmap(NULL, MPDEV_RING_MMAP_SIZE,
				PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (tr->ring == MAP_FAILED) {
			tr->ring = NULL;
			return -errno;
		}
	}
	tr->running = true;
	if (pthread_create(&tr->thread, NULL, tr_main, tr)) {
		tr->running = false;
		return -EAGAIN;
	}
	return 0;
}

void tr_stop(struct tr *tr, bool close_fd)
{
	tr->stop = true;
	pthread_join(tr->thread, NULL);
	if (tr->ring)
		munmap(tr->ring, MPDEV_RING_MMAP_SIZE);
	tr->ring = NULL;
	if (close_fd && tr->fd >= 0)
		close(tr->fd);
	tr->fd = -1;
	free(tr->log);
	tr->log = NULL;
}

bool tr_wait_requests(struct tr *tr, uint64_t n, int ms)
{
	uint64_t end = now_ns() + ms * 1000000ULL;

	while (now_ns() < end) {
		uint64_t seen;

		pthread_mutex_lock(&tr->lock);
		seen = tr->nreq;
		pthread_mutex_unlock(&tr->lock);
		if (seen >= n)
			return true;
		usleep(1000);
	}
	return false;
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
