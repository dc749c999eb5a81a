/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers for the mpdev selftests: the control-fd calls, and a test remote
 * (a thread serving a backend fd) with a memory-like device model whose
 * behaviour the tests can bend (stall, misbehave, answer out of order).
 */
#ifndef MPDEV_SELFTEST_UTIL_H
#define MPDEV_SELFTEST_UTIL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <linux/mpdev.h>

/* ---- control fd ---- */

/* Opens /dev/mpdev; -errno on failure. */
int mpdev_open(void);
/* Returns 0 or -errno for each call. */
int mpdev_attach(int ctl, int vm_fd);
int mpdev_add(int ctl, uint32_t id, int space, uint64_t addr, uint64_t size,
	      uint16_t flags);
int mpdev_del(int ctl, uint32_t id);
int mpdev_set_params(int ctl, uint64_t deadline_ns, uint64_t spin_ns);
int mpdev_info(int ctl, struct mpdev_info *info);
/* The new backend fd, or -errno. */
int mpdev_backend(int ctl, uint32_t flags);

uint64_t now_ns(void);

/* ---- test remote ---- */

enum tr_mode {
	TR_BLOCKING,	/* poll() + read() + write() */
	TR_RING,	/* busy-poll the mmap()ed ring, kick when asked */
};

/* Knobs: set before tr_start() or flip while it runs. */
struct tr_behaviour {
	volatile bool stall;		/* take requests, never answer */
	volatile uint32_t delay_us;	/* wait this long before answering */
	/*
	 * Hold answers back until this many reads are outstanding, then
	 * answer them newest first (out of order).
	 */
	volatile uint32_t batch_reverse;
	/* Corrupt the next completion this way (TR_BAD_*), once. */
	volatile int bad;
};

enum {
	TR_BAD_NONE,
	TR_BAD_ID,		/* an id the kernel never issued */
	TR_BAD_SIZE,		/* size that differs from the request's */
	TR_BAD_RESERVED,	/* non-zero reserved field */
	TR_BAD_WRITE_LEN,	/* write() a length that is no multiple */
	TR_BAD_CPL_INDEX,	/* ring: cpl_head far beyond cpl_tail */
	TR_BAD_REQ_TAIL,	/* ring: req_tail beyond req_head */
};

#define TR_REGIONS	8
#define TR_REGION_BYTES	4096

struct tr {
	int fd;			/* backend fd */
	enum tr_mode mode;
	struct mpdev_ring *ring;
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
	bool eof;			/* read() returned 0 / EPOLLHUP seen */
};

/* @fd is the backend fd; the tr owns it from now on (tr_stop() closes). */
int tr_start(struct tr *tr, int fd, enum tr_mode mode, uint64_t log_cap);
/* Stops the thread; closes the fd if @close_fd. */
void tr_stop(struct tr *tr, bool close_fd);
/* Waits up to @ms for the remote to have seen @n requests. */
bool tr_wait_requests(struct tr *tr, uint64_t n, int ms);
/* Waits up to @ms for the remote thread to see end of file. */
bool tr_wait_eof(struct tr *tr, int ms);

#endif /* MPDEV_SELFTEST_UTIL_H */
