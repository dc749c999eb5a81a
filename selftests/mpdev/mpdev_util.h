/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers for the mpdev selftests: the control-fd calls, the shared ring's
 * geometry, and a test remote ("tr": a thread serving a backend fd) with a
 * memory-like device model whose behaviour the tests can bend (stall,
 * delay, hold and release, misbehave, answer out of order).
 *
 * Order of the control calls (the kernel refuses ADD_REGION with ENOTCONN
 * before the backend exists): mpdev_open(), mpdev_attach(),
 * [mpdev_set_params()], mpdev_backend() or mpdev_backend_ring(),
 * mpdev_add().
 */
#ifndef MPDEV_SELFTEST_UTIL_H
#define MPDEV_SELFTEST_UTIL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/mpdev.h>

/* ---- control fd ---- */

/* Opens /dev/mpdev; -errno on failure. */
int mpdev_open(void);
/* Each returns 0 or -errno. */
int mpdev_attach(int ctl, int vm_fd);
/* A region with cookie 0; mpdev_add_cookie() chooses the cookie. */
int mpdev_add(int ctl, uint32_t id, int space, uint64_t addr, uint64_t size,
	      uint16_t flags);
int mpdev_add_cookie(int ctl, uint32_t id, int space, uint64_t addr,
		     uint64_t size, uint16_t flags, uint64_t cookie);
int mpdev_del(int ctl, uint32_t id);
int mpdev_info(int ctl, struct mpdev_info *info);
int mpdev_get_params(int ctl, struct mpdev_params *p);
/* MPDEV_GET_FEATURES, on a control or a backend fd. */
int mpdev_features(int fd, struct mpdev_features *f);

/*
 * mpdev_set_params(ctl, deadline_ns, spin_ns, intr_ns) sets all three.
 * mpdev_set_params(ctl, deadline_ns, spin_ns), the older form, keeps the
 * context's intr_ns (read back with MPDEV_GET_PARAMS), lowered to
 * deadline_ns if it is larger, since the kernel refuses intr_ns >
 * deadline_ns.  Both return 0 or -errno.
 */
int mpdev_set_params4(int ctl, uint64_t deadline_ns, uint64_t spin_ns,
		      uint64_t intr_ns);
int mpdev_set_params3(int ctl, uint64_t deadline_ns, uint64_t spin_ns);
#define MPDEV_PARAMS_PICK(_1, _2, _3, _4, fn, ...)	fn
#define mpdev_set_params(...)						\
	MPDEV_PARAMS_PICK(__VA_ARGS__, mpdev_set_params4,		\
			  mpdev_set_params3, , )(__VA_ARGS__)

/*
 * The new backend fd, or -errno.  mpdev_backend_ring() also chooses the
 * number of ring entries (0: the kernel's default) and, if @ring is not
 * NULL, stores the geometry the kernel reported.
 */
int mpdev_backend(int ctl, uint32_t flags);
int mpdev_backend_ring(int ctl, uint32_t flags, uint32_t ring_entries,
		       struct mpdev_ring_info *ring);
/* MPDEV_BACKEND_GET_RING on a backend fd. */
int mpdev_get_ring(int backend, struct mpdev_ring_info *ring);

uint64_t now_ns(void);

/* ---- the shared ring, mapped by the geometry the kernel reports ---- */

struct mpdev_ring_map {
	void *base;			/* NULL when not mapped */
	struct mpdev_ring_info info;
	struct mpdev_ring_hdr *hdr;
};

/*
 * Maps the backend's ring (MPDEV_BACKEND_GET_RING, then mmap_size bytes at
 * offset 0, shared, with @prot).  Checks that the geometry is usable by
 * this test (no flags it does not know, entries a power of two and equal
 * to hdr->entries, entries at least as large as our structures, everything
 * inside the mapping).
 * Returns 0, -errno, or -EPROTO for a geometry that breaks those rules.
 */
int mpdev_ring_map(int backend, struct mpdev_ring_map *m, int prot);
void mpdev_ring_unmap(struct mpdev_ring_map *m);

/* Entry @idx (a free-running index) of each ring. */
static inline struct mpdev_request *
mpdev_ring_req(const struct mpdev_ring_map *m, uint32_t idx)
{
	return (struct mpdev_request *)((char *)m->base + m->info.req_offset +
		(size_t)(idx & (m->info.entries - 1)) * m->info.req_entry_size);
}

static inline struct mpdev_completion *
mpdev_ring_cpl(const struct mpdev_ring_map *m, uint32_t idx)
{
	return (struct mpdev_completion *)((char *)m->base +
		m->info.cpl_offset +
		(size_t)(idx & (m->info.entries - 1)) * m->info.cpl_entry_size);
}

/* ---- test remote ---- */

enum tr_mode {
	TR_BLOCKING,	/* poll() + read() + write() */
	TR_RING,	/* busy-poll the mmap()ed ring, kick when asked */
};

/*
 * Knobs.  tr_start() clears them (and the device model): set them after
 * it, before the accesses they are meant for, or flip them while it runs.
 */
struct tr_behaviour {
	volatile bool stall;		/* take requests, never answer */
	/*
	 * Answer each request that needs a reply @delay_us microseconds
	 * after the remote took it (each on its own clock: two reads taken
	 * together are both answered after one delay).
	 */
	volatile uint32_t delay_us;
	/*
	 * Hold answers back until this many reads are outstanding, then
	 * answer them newest first (out of order).
	 */
	volatile uint32_t batch_reverse;
	/* Corrupt the next answer this way (TR_BAD_*), once. */
	volatile int bad;
	/*
	 * Hold every request that needs a reply from now on: keep it, with
	 * the answer the device model gave when it arrived, unanswered,
	 * until tr_release() posts it (for stale-answer tests: hold A, let
	 * the kernel give up on it, answer it later).  Turning it off
	 * answers new requests again; those already held stay held.
	 */
	volatile bool hold;
};

/*
 * Each kind of malformed answer is published alone, in place of the valid
 * answer (the kernel can never consume a valid one first), so a test that
 * uses one fails the context deterministically.
 */
enum {
	TR_BAD_NONE,
	TR_BAD_ID,		/* an id the kernel never issued (newer) */
	TR_BAD_SIZE,		/* size that differs from the request's */
	TR_BAD_RESERVED,	/* non-zero reserved field */
	TR_BAD_WRITE_LEN,	/* blocking: write() of a length not n * 32 */
	TR_BAD_CPL_INDEX,	/* ring: only cpl_head, beyond the ring */
	TR_BAD_REQ_TAIL,	/* ring: req_tail beyond req_head, once taken */
	TR_BAD_DUPLICATE,	/* the answer twice, in one write()/store */
};

#define TR_REGIONS	8
#define TR_REGION_BYTES	4096

struct tr_pending {
	uint64_t id;
	uint64_t data;
	uint64_t due_ns;	/* answer at (delay_us) */
	uint8_t size;
};

struct tr {
	int fd;			/* backend fd */
	enum tr_mode mode;
	struct mpdev_ring_map ring;	/* TR_RING only */
	uint32_t entries;	/* the ring's, whatever the mode */
	uint32_t req_size;	/* its req_entry_size: read() hands these out */
	pthread_t thread;
	volatile bool stop;
	volatile bool running;
	struct tr_behaviour b;

	/* Device model: little-endian memory per region id. */
	uint8_t mem[TR_REGIONS][TR_REGION_BYTES];

	/* Every request seen, in arrival order (bounded). */
	pthread_mutex_t lock;
	struct mpdev_request *log;
	uint64_t nlog, caplog;
	uint64_t nreq, nreads, nwrites, ncpl;
	uint32_t max_outstanding;	/* most reads seen waiting at once */
	int error;			/* first unexpected errno */
	volatile bool eof;		/* read() returned 0 / EPOLLHUP seen */

	/* Private to mpdev_util.c. */
	struct tr_pending *pend, *held;
	unsigned int npend, nheld, cap;
	uint32_t cpl_head;		/* ring: our copy of cpl_head */
	struct mpdev_completion *cbuf;	/* answers being built */
	uint8_t *rbuf;			/* read() buffer */
	uint64_t rel_id;		/* tr_release() mailbox, under lock */
	int rel_state, rel_ret;
};

/*
 * @fd is the backend fd; the tr owns it from now on (tr_stop() closes it
 * if asked).  @log_cap requests are logged.  Returns 0 or -errno.
 */
int tr_start(struct tr *tr, int fd, enum tr_mode mode, uint64_t log_cap);
/* Stops the thread; closes the fd if @close_fd. */
void tr_stop(struct tr *tr, bool close_fd);
/* Waits up to @ms for the remote to have seen @n requests. */
bool tr_wait_requests(struct tr *tr, uint64_t n, int ms);
/* Waits up to @ms for the remote to have posted @n answers. */
bool tr_wait_answers(struct tr *tr, uint64_t n, int ms);
/* Waits up to @ms for the remote thread to see end of file. */
bool tr_wait_eof(struct tr *tr, int ms);

/* Waits up to @ms until at least @n requests are held (b.hold). */
bool tr_wait_held(struct tr *tr, unsigned int n, int ms);
/* Copies up to @max held ids, oldest first; returns how many are held. */
unsigned int tr_held_ids(struct tr *tr, uint64_t *ids, unsigned int max);
/*
 * Posts the answer to held request @id now and forgets it: with write(),
 * or in the ring followed by MPDEV_BACKEND_KICK, so either way the kernel
 * has looked at it when this returns.  Returns 0 once posted, -ENOENT if
 * @id is not held, -ETIMEDOUT if the remote thread did not do it within
 * 2 s (or has ended), or the write()'s -errno (e.g. -EINVAL when the
 * kernel found the answer malformed).
 */
int tr_release(struct tr *tr, uint64_t id);

#endif /* MPDEV_SELFTEST_UTIL_H */
