// SPDX-License-Identifier: GPL-2.0
/*
 * mpdev_bench: per-access latency of one raw KVM guest loop, served five
 * ways, in one run (Documentation/mpdev/benchmark-rawkvm.rst):
 *
 *   floor     a KVM ioeventfd write: the access ends in the kernel, no
 *             userspace at all (writes only: an ioeventfd cannot answer a
 *             read, so its write numbers are the reference for reads too);
 *   inproc    KVM_EXIT_MMIO/KVM_EXIT_IO answered by the VMM's own process
 *             (the kvm_guest exit handler);
 *   classic   the multi-process QEMU shape: exit to the VMM, which sends
 *             the access over a unix socket to a forked remote process and
 *             waits for its reply, writes included (QEMU 7.2's
 *             x-pci-proxy-dev sends BAR_WRITE/BAR_READ with
 *             mpqemu_msg_send_and_await_reply() and waits for MPQEMU_CMD_RET);
 *   mpdev-blk mpdev, the remote blocked in read() on the backend fd and
 *             answering with write();
 *   mpdev-poll mpdev, the remote busy-polling the mmap()ed ring.
 *
 * Every row runs the same guest loop (4-byte accesses to one address,
 * lfence;rdtsc around each access, kg_cmd KG_F_LAT) and, except the floor,
 * is served by the same memory-like device model (model_access()).  Rows
 * are interleaved in rounds so that slow drift of the (emulated) machine
 * hits all of them alike.  Only same-run ratios mean anything.
 *
 * Sanity (exit 1 if violated): each row took the route it claims.  floor:
 * zero exits and the eventfd counted every write; inproc and classic:
 * exactly one exit per access, and the model (in-process or in the child)
 * saw every access; mpdev rows: zero exits, the remote saw exactly the
 * accesses made and the context's counters agree, no timeout, no failure.
 * Reads must return what the model holds.  Targets are reported, never
 * failed on.
 *
 * Exit status: 0 ok, 1 sanity violation or error, 2 usage, 4 skipped
 * (no usable KVM or no /dev/mpdev).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lib/kvm_guest.h"
#include "mpdev_util.h"

#define KSFT_SKIP		4

#define ACC_SIZE		4	/* bytes per access, every row */
#define MODEL_BYTES		4096
#define ACC_OFFSET		0x40	/* offset of the accessed register */

/* One region (or ioeventfd) per row; the floor's is ACC_SIZE wide. */
#define MMIO_BASE		0xd0000000ULL
#define MMIO_STEP		0x1000ULL
#define PIO_BASE		0x6000ULL
#define PIO_STEP		0x100ULL

#define DEF_ITERS		10000
#define DEF_ROUNDS		10
#define DEF_WARMUP		50
#define DEF_DEADLINE_MS		5000
#define DEF_POLL_SPIN_US	1000
#define DEF_BLOCK_SPIN_US	0

/* Guest-TSC vs host-clock mean per access: warn beyond this. */
#define CLOCK_TOLERANCE		0.10

#define VCPU_CPU		0
#define REMOTE_CPU		1	/* the polling remote's */
#define DEF_BLK_CPU		VCPU_CPU

enum { OP_READ, OP_WRITE, NR_OPS };
/*
 * ROW_DIAG is a diagnostic, not one of the five compared rows: an mpdev
 * region whose context has failed (its backend fd was closed), so mpdev
 * answers every access at once (reads all-ones) with no remote: the cost
 * of KVM's in-kernel device dispatch plus mpdev's handler, a reference
 * for the read path that an ioeventfd cannot give.
 */
enum { ROW_FLOOR, ROW_INPROC, ROW_CLASSIC, ROW_BLK, ROW_POLL, ROW_DIAG,
       NR_ROWS };

static const char *const row_key[NR_ROWS] = {
	"ioeventfd", "inproc", "classic", "mpdev_blocking", "mpdev_polling",
	"diag_mpdev_no_remote",
};
static const char *const row_label[NR_ROWS] = {
	"1 ioeventfd (floor)", "2 in-process exit", "3 classic socket",
	"4 mpdev blocking", "5 mpdev polling", "(diag) mpdev no remote",
};
static const char *const op_key[NR_OPS] = { "read", "write" };
static const char *const space_key[2] = { "mmio", "pio" };

struct opts {
	uint64_t iters;
	unsigned int rounds;
	uint64_t warmup;
	uint64_t deadline_ns;
	uint64_t poll_spin_ns;
	uint64_t block_spin_ns;
	bool pin;
	bool no_pause;		/* polling remote spins without PAUSE */
	int blk_cpu;		/* CPU of the blocking remotes (rows 3, 4) */
	bool spaces[2];
	const char *json;
};

static struct opts opt = {
	.iters = DEF_ITERS,
	.rounds = DEF_ROUNDS,
	.warmup = DEF_WARMUP,
	.deadline_ns = DEF_DEADLINE_MS * 1000000ULL,
	.poll_spin_ns = DEF_POLL_SPIN_US * 1000ULL,
	.block_spin_ns = DEF_BLOCK_SPIN_US * 1000ULL,
	.pin = true,
	.blk_cpu = DEF_BLK_CPU,
	.spaces = { true, true },
};

static int nr_sanity;

static void sanity_fail(const char *fmt, ...)
{
	va_list ap;

	nr_sanity++;
	fprintf(stderr, "SANITY FAIL: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "mpdev_bench: error: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static bool pin_to(int cpu)
{
	cpu_set_t set;

	if (!opt.pin)
		return true;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return sched_setaffinity(0, sizeof(set), &set) == 0;
}

/* ---- the device model (rows 2-5) ---------------------------------------- */

/* Plain little-endian memory, the same semantics as the selftests' tr. */
struct model {
	uint8_t mem[MODEL_BYTES];
	uint64_t reads, writes;
};

static uint64_t model_access(struct model *m, bool write, uint64_t off,
			     unsigned int size, uint64_t data)
{
	uint64_t v = 0;
	unsigned int i;

	if (write) {
		m->writes++;
		for (i = 0; i < size; i++)
			m->mem[(off + i) % MODEL_BYTES] = data >> (8 * i);
		return 0;
	}
	m->reads++;
	for (i = 0; i < size; i++)
		v |= (uint64_t)m->mem[(off + i) % MODEL_BYTES] << (8 * i);
	return v;
}

/* ---- row 3: the classic multi-process shape ------------------------------ */

/*
 * QEMU 7.2's mpqemu wire format (hw/remote/mpqemu-link.c): a 16-byte
 * header {int cmd; size_t size} then @size bytes of payload.  BAR accesses
 * carry BarAccessMsg; the reply is MPQEMU_CMD_RET with a u64.  The proxy
 * sends header and payload in one writev() and reads the header, then the
 * payload, of the reply; the remote does the mirror image.
 */
enum {
	MPQ_CMD_RET = 1,
	MPQ_CMD_BAR_WRITE = 4,
	MPQ_CMD_BAR_READ = 5,
	/* Ours, not QEMU's: report the model's counters. */
	MPQ_CMD_BENCH_STATS = 100,
};

struct mpq_hdr {
	int32_t cmd;
	uint64_t size;
};

struct mpq_bar_access {
	uint64_t addr;
	uint64_t val;
	uint32_t size;
	uint8_t memory;
};

_Static_assert(sizeof(struct mpq_hdr) == 16, "mpqemu header is 16 bytes");
_Static_assert(sizeof(struct mpq_bar_access) == 24, "BarAccessMsg is 24 bytes");

struct classic {
	int sock;	/* the VMM's end */
	pid_t pid;
	uint64_t forwarded[NR_OPS];
};

static int read_full(int fd, void *buf, size_t len)
{
	uint8_t *p = buf;

	while (len) {
		ssize_t n = read(fd, p, len);

		if (n == 0)
			return -EPIPE;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= n;
	}
	return 0;
}

static int writev_full(int fd, struct iovec *iov, int cnt, size_t len)
{
	ssize_t n;

	do {
		n = writev(fd, iov, cnt);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	return (size_t)n == len ? 0 : -EIO;	/* a unix socket takes it whole */
}

static int mpq_send(int fd, int32_t cmd, const void *payload, size_t size)
{
	struct mpq_hdr h = { .cmd = cmd, .size = size };
	struct iovec iov[2] = {
		{ .iov_base = &h, .iov_len = sizeof(h) },
		{ .iov_base = (void *)payload, .iov_len = size },
	};

	return writev_full(fd, iov, 2, sizeof(h) + size);
}

/* The remote process: one device, served until the socket closes. */
static void classic_child(int sock)
{
	static struct model m;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (!pin_to(opt.blk_cpu))
		_exit(3);
	for (;;) {
		struct mpq_bar_access a;
		struct mpq_hdr h;
		uint64_t ret = 0, st[2];

		if (read_full(sock, &h, sizeof(h)))
			_exit(0);
		if (h.size > sizeof(a) || read_full(sock, &a, h.size))
			_exit(2);
		switch (h.cmd) {
		case MPQ_CMD_BAR_WRITE:
			model_access(&m, true, a.addr, a.size, a.val);
			break;
		case MPQ_CMD_BAR_READ:
			ret = model_access(&m, false, a.addr, a.size, 0);
			break;
		case MPQ_CMD_BENCH_STATS:
			st[0] = m.reads;
			st[1] = m.writes;
			if (mpq_send(sock, MPQ_CMD_RET, st, sizeof(st)))
				_exit(2);
			continue;
		default:
			_exit(2);
		}
		if (mpq_send(sock, MPQ_CMD_RET, &ret, sizeof(ret)))
			_exit(2);
	}
}

static int classic_start(struct classic *c)
{
	int sv[2];

	memset(c, 0, sizeof(*c));
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		return -errno;
	c->pid = fork();
	if (c->pid < 0)
		return -errno;
	if (c->pid == 0) {
		close(sv[0]);
		classic_child(sv[1]);
		_exit(0);
	}
	close(sv[1]);
	c->sock = sv[0];
	return 0;
}

/* The VMM side: send, then block for MPQEMU_CMD_RET, like the proxy. */
static int classic_call(struct classic *c, int32_t cmd,
			const struct mpq_bar_access *a, void *ret, size_t len)
{
	struct mpq_hdr h;
	int err;

	err = mpq_send(c->sock, cmd, a, sizeof(*a));
	if (err)
		return err;
	err = read_full(c->sock, &h, sizeof(h));
	if (err)
		return err;
	if (h.cmd != MPQ_CMD_RET || h.size != len)
		return -EPROTO;
	return read_full(c->sock, ret, len);
}

static int classic_forward(struct classic *c, struct kg_access *acc,
			   uint64_t off)
{
	struct mpq_bar_access a = {
		.addr = off, .val = acc->data, .size = acc->size,
		.memory = acc->space == KG_SPACE_MMIO,
	};
	uint64_t ret;
	int err;

	err = classic_call(c, acc->is_write ? MPQ_CMD_BAR_WRITE :
			   MPQ_CMD_BAR_READ, &a, &ret, sizeof(ret));
	if (err)
		return err;
	c->forwarded[acc->is_write ? OP_WRITE : OP_READ]++;
	if (!acc->is_write)
		acc->data = ret;
	return 0;
}

static int classic_stats(struct classic *c, uint64_t *reads,
			 uint64_t *writes)
{
	struct mpq_bar_access a = { 0 };
	uint64_t st[2];
	int err = classic_call(c, MPQ_CMD_BENCH_STATS, &a, st, sizeof(st));

	*reads = st[0];
	*writes = st[1];
	return err;
}

static void classic_stop(struct classic *c)
{
	int status;

	if (c->sock >= 0)
		close(c->sock);
	c->sock = -1;
	if (c->pid > 0)
		waitpid(c->pid, &status, 0);
	c->pid = 0;
}

/* ---- rows 4 and 5: the mpdev remote -------------------------------------- */

/*
 * A remote thread serving one backend fd with the same model.  Blocking:
 * read() sleeps in the kernel until a request comes, write() answers.
 * Polling: spins on the ring's req_head without system calls, answers in
 * the completion ring and kicks only when the kernel asked (kick_needed,
 * after a full fence).  The polling remote is paused (asleep on a condition
 * variable) while other rows run, so it never steals their CPU.
 */
struct remote {
	int ctl;		/* the context (the VMM's fd) */
	int fd;			/* the backend fd */
	bool ring_mode;
	struct mpdev_ring_map ring;	/* polling: by the kernel's geometry */
	pthread_t thread;
	bool started;
	volatile bool stop;
	volatile bool active;	/* polling: spin (else sleep) */
	volatile bool spinning;	/* polling: acknowledged active */
	pthread_mutex_t lock;	/* active, stop: the paused remote sleeps */
	pthread_cond_t wake;	/* on this, so its CPU stays idle */
	struct model m;
	uint64_t nreq, nreplies, kicks;
	int error;		/* first errno */
	int pin_error;
	bool eof;
};

static void remote_error(struct remote *r, int err)
{
	if (!r->error)
		r->error = err;
}

/* read() hands out requests of the ring's req_entry_size (at most this). */
#define REQ_SIZE_MAX	256

static void *remote_blocking(struct remote *r)
{
	uint8_t buf[32 * REQ_SIZE_MAX];
	const size_t rsz = r->ring.info.req_entry_size;
	struct mpdev_completion c[32];

	while (!r->stop) {
		ssize_t n = read(r->fd, buf, 32 * rsz);
		unsigned int i, k = 0;

		if (n == 0) {
			r->eof = true;
			break;
		}
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			remote_error(r, errno);
			break;
		}
		if (n % rsz)
			remote_error(r, EPROTO);
		n /= rsz;
		for (i = 0; i < n; i++) {
			struct mpdev_request q;
			uint64_t v;

			memcpy(&q, buf + i * rsz, sizeof(q));
			v = model_access(&r->m, q.flags & MPDEV_REQ_WRITE,
					 q.offset, q.size, q.data);
			r->nreq++;
			if (!(q.flags & MPDEV_REQ_NEEDS_REPLY))
				continue;
			memset(&c[k], 0, sizeof(c[k]));
			c[k].id = q.id;
			c[k].data = v;
			c[k].size = q.size;
			k++;
		}
		if (k && write(r->fd, c, k * sizeof(c[0])) !=
		    (ssize_t)(k * sizeof(c[0])))
			remote_error(r, errno ? errno : EIO);
		r->nreplies += k;
	}
	return NULL;
}

static void remote_kick(struct remote *r)
{
	r->kicks++;
	if (ioctl(r->fd, MPDEV_BACKEND_KICK) < 0)
		remote_error(r, errno);
}

static void *remote_polling(struct remote *r)
{
	struct mpdev_ring_hdr *h = r->ring.hdr;
	const uint32_t entries = r->ring.info.entries;
	uint32_t tail = h->req_tail, cpl = h->cpl_head;

	while (!r->stop) {
		uint32_t head;
		bool replied = false;

		if (!r->active) {
			pthread_mutex_lock(&r->lock);
			r->spinning = false;
			while (!r->active && !r->stop)
				pthread_cond_wait(&r->wake, &r->lock);
			pthread_mutex_unlock(&r->lock);
			continue;
		}
		r->spinning = true;
		head = __atomic_load_n(&h->req_head, __ATOMIC_ACQUIRE);
		if (head == tail) {
			if (!opt.no_pause)
				__builtin_ia32_pause();
			continue;
		}
		if (head - tail > entries) {
			remote_error(r, EPROTO);
			break;
		}
		while (tail != head) {
			/* One copy: the ring is shared memory. */
			const struct mpdev_request q =
				*mpdev_ring_req(&r->ring, tail);
			struct mpdev_completion *c;
			uint64_t v;

			v = model_access(&r->m, q.flags & MPDEV_REQ_WRITE,
					 q.offset, q.size, q.data);
			r->nreq++;
			if (q.flags & MPDEV_REQ_NEEDS_REPLY) {
				/* One vCPU, one read in flight: never full. */
				while (cpl - __atomic_load_n(&h->cpl_tail,
							     __ATOMIC_ACQUIRE) >=
				       entries && !r->stop)
					remote_kick(r);
				c = mpdev_ring_cpl(&r->ring, cpl);
				/*
				 * A constant-size clear (inlined stores) on the
				 * measured path; bytes of a larger entry beyond
				 * the fields we know are zeroed apart.
				 */
				memset(c, 0, sizeof(*c));
				if (r->ring.info.cpl_entry_size > sizeof(*c))
					memset(c + 1, 0,
					       r->ring.info.cpl_entry_size -
					       sizeof(*c));
				c->id = q.id;
				c->data = v;
				c->size = q.size;
				cpl++;
				r->nreplies++;
				replied = true;
			}
			tail++;
		}
		__atomic_store_n(&h->req_tail, tail, __ATOMIC_RELEASE);
		if (!replied)
			continue;
		__atomic_store_n(&h->cpl_head, cpl, __ATOMIC_RELEASE);
		/* Pairs with the kernel's barrier before it sleeps. */
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		if (__atomic_load_n(&h->kick_needed, __ATOMIC_RELAXED))
			remote_kick(r);
	}
	r->spinning = false;
	return NULL;
}

static void *remote_main(void *arg)
{
	struct remote *r = arg;

	if (!pin_to(r->ring_mode ? REMOTE_CPU : opt.blk_cpu))
		r->pin_error = errno;
	return r->ring_mode ? remote_polling(r) : remote_blocking(r);
}

/* Makes a context with one region at @addr and starts its remote. */
static int remote_start(struct remote *r, struct kvm_guest *kg, int space,
			uint64_t addr, uint64_t size, bool ring_mode,
			uint64_t spin_ns)
{
	int ret;

	memset(r, 0, sizeof(*r));
	r->fd = -1;
	r->ring_mode = ring_mode;
	pthread_mutex_init(&r->lock, NULL);
	pthread_cond_init(&r->wake, NULL);
	r->ctl = mpdev_open();
	if (r->ctl < 0)
		return r->ctl;
	ret = mpdev_attach(r->ctl, kg_vm_fd(kg));
	if (!ret)
		ret = mpdev_set_params(r->ctl, opt.deadline_ns, spin_ns);
	if (ret)
		return ret;
	/* The backend before the region: ADD_REGION needs it. */
	r->fd = mpdev_backend(r->ctl, MPDEV_BACKEND_CLOEXEC);
	if (r->fd < 0)
		return r->fd;
	ret = mpdev_add(r->ctl, 1, space, addr, size, 0);
	/* The geometry, from the mapping (polling) or on its own. */
	if (!ret && ring_mode)
		ret = mpdev_ring_map(r->fd, &r->ring, PROT_READ | PROT_WRITE);
	else if (!ret)
		ret = mpdev_get_ring(r->fd, &r->ring.info);
	if (!ret && (r->ring.info.req_entry_size > REQ_SIZE_MAX ||
		     r->ring.info.req_entry_size < sizeof(struct mpdev_request)))
		ret = -EPROTO;
	if (ret)
		return ret;
	if (pthread_create(&r->thread, NULL, remote_main, r))
		return -EAGAIN;
	r->started = true;
	return 0;
}

/* Polling remote: spin from now on (waits until it does) or pause. */
static void remote_set_active(struct remote *r, bool on)
{
	uint64_t end = now_ns() + 10000000000ULL;

	if (!r->ring_mode)
		return;
	pthread_mutex_lock(&r->lock);
	r->active = on;
	pthread_cond_broadcast(&r->wake);
	pthread_mutex_unlock(&r->lock);
	while (r->spinning != on && now_ns() < end)
		usleep(50);
	if (r->spinning != on)
		die("polling remote did not %s", on ? "start" : "pause");
}

/* Waits until the remote has taken @n requests (posted writes lag). */
static bool remote_wait(struct remote *r, uint64_t n)
{
	uint64_t end = now_ns() + 10000000000ULL;

	while (__atomic_load_n(&r->nreq, __ATOMIC_RELAXED) < n &&
	       now_ns() < end)
		usleep(200);
	return __atomic_load_n(&r->nreq, __ATOMIC_RELAXED) >= n;
}

static void remote_stop(struct remote *r)
{
	if (r->started) {
		pthread_mutex_lock(&r->lock);
		r->stop = true;
		r->active = false;
		pthread_cond_broadcast(&r->wake);
		pthread_mutex_unlock(&r->lock);
		/* A blocking remote wakes up at end of file. */
		if (r->ctl >= 0)
			close(r->ctl);
		r->ctl = -1;
		pthread_join(r->thread, NULL);
	}
	r->started = false;
	mpdev_ring_unmap(&r->ring);
	if (r->fd >= 0)
		close(r->fd);
	r->fd = -1;
	if (r->ctl >= 0)
		close(r->ctl);
	r->ctl = -1;
}

/* ---- environment probe ---------------------------------------------------- */

/*
 * Cross-CPU ping-pong between two threads spinning in userspace, pinned to
 * the vCPU's CPU and the remote's.  In a software-emulated test VM whose
 * host is busy, the VM's two vCPUs do not always run at the same time; this
 * shows it (the polling row cannot beat it), so every report carries it.
 */
#define PROBE_SAMPLES	100000
#define PROBE_NS	300000000ULL	/* run the probe this long */
#define PROBE_SLOW_NS	100000.0	/* a round trip this slow: not co-running */

struct probe {
	volatile uint64_t seq;
	volatile bool stop;
	uint64_t lat[PROBE_SAMPLES];
	uint64_t n, slow;
	double p50, p99;	/* ns */
	double slow_frac;	/* of the probe's time spent in slow trips */
};

static void *probe_echo(void *arg)
{
	struct probe *p = arg;
	uint64_t seen = 0;

	pin_to(REMOTE_CPU);
	while (!p->stop) {
		uint64_t v = __atomic_load_n(&p->seq, __ATOMIC_ACQUIRE);

		if (v != seen && (v & 1)) {
			seen = v + 1;
			__atomic_store_n(&p->seq, seen, __ATOMIC_RELEASE);
		} else {
			__builtin_ia32_pause();
		}
	}
	return NULL;
}

/*
 * Ping-pongs for PROBE_NS.  slow_frac is the share of that time spent in
 * round trips slower than PROBE_SLOW_NS: roughly how often one of the test
 * VM's two vCPUs was not running while the other waited for it.
 */
static void run_probe(struct kvm_guest *kg, struct probe *p)
{
	uint64_t t_start = now_ns(), end = t_start + PROBE_NS, i;
	double slow_ns = 0;
	pthread_t t;

	memset(p, 0, sizeof(*p));
	if (pthread_create(&t, NULL, probe_echo, p))
		return;
	for (i = 0; i < PROBE_SAMPLES; i++) {
		uint64_t t0 = __builtin_ia32_rdtsc(), want = 2 * i + 2;
		unsigned int spins = 0;
		double ns;

		__atomic_store_n(&p->seq, 2 * i + 1, __ATOMIC_RELEASE);
		while (__atomic_load_n(&p->seq, __ATOMIC_ACQUIRE) != want) {
			__builtin_ia32_pause();
			if (++spins % 4096 == 0 && now_ns() >= end + PROBE_NS)
				break;	/* the echo never ran: give up */
		}
		if (__atomic_load_n(&p->seq, __ATOMIC_ACQUIRE) != want)
			break;
		p->lat[i] = __builtin_ia32_rdtsc() - t0;
		ns = kg_tsc_to_ns(kg, p->lat[i]);
		if (ns > PROBE_SLOW_NS) {
			p->slow++;
			slow_ns += ns;
		}
		if (i % 64 == 63 && now_ns() >= end)
			break;
	}
	p->n = i;
	p->stop = true;
	pthread_join(t, NULL);
	p->slow_frac = slow_ns / (now_ns() - t_start);
	if (p->n) {
		p->p50 = kg_tsc_to_ns(kg, kg_percentile(p->lat, p->n, 50));
		p->p99 = kg_tsc_to_ns(kg, kg_percentile(p->lat, p->n, 99));
	}
}

/* Busy: the typical round trip had to wait for the host to run a vCPU. */
static bool probe_busy(const struct probe *p)
{
	return !p->n || p->p50 > PROBE_SLOW_NS;
}

/* ---- the benchmark ------------------------------------------------------ */

struct cell {
	uint64_t *lat;		/* guest TSC cycles, opt.iters of them */
	uint64_t n;
	uint64_t accesses;	/* every access made, warm-up included */
	uint64_t exits;		/* exit-handler calls during this cell */
	uint64_t wall_ns;	/* host CLOCK_MONOTONIC around the measured runs */
	double p50, p99, mean, min, max;	/* ns */
	double wall_mean;	/* wall_ns / n */
	bool valid;
};

struct row {
	uint64_t addr, size;
	struct cell c[NR_OPS];
};

struct space_run {
	int space;
	struct row rows[NR_ROWS];
	int efd;
	struct remote blk, poll;
	int diag_ctl;		/* ROW_DIAG's context, failed on purpose */
	struct mpdev_info diag_info;
	uint64_t inproc_exits[NR_OPS];
	uint64_t stray_exits;
	uint64_t floor_events;
	uint64_t child_reads, child_writes;
	struct mpdev_info blk_info, poll_info;
	double seconds;
};

struct bench {
	struct kvm_guest *kg;
	struct classic classic;
	struct model inproc;
	struct space_run *cur;
	struct space_run sp[2];
	uint64_t classic_seen[NR_OPS];	/* child's counters after a space */
	struct probe probe[2];		/* before and after the rows */
	int handler_err;
};

static bool row_has_reads(int row)
{
	return row != ROW_FLOOR;
}

static int bench_exit(struct kvm_guest *kg, int vcpu, struct kg_access *acc,
		      void *opaque)
{
	struct bench *b = opaque;
	struct space_run *s = b->cur;
	const struct row *in = &s->rows[ROW_INPROC];
	const struct row *cl = &s->rows[ROW_CLASSIC];
	int op = acc->is_write ? OP_WRITE : OP_READ;

	(void)kg;
	(void)vcpu;
	if (acc->space == s->space && acc->addr >= in->addr &&
	    acc->addr - in->addr < in->size) {
		uint64_t v = model_access(&b->inproc, acc->is_write,
					  acc->addr - in->addr, acc->size,
					  acc->data);

		s->inproc_exits[op]++;
		if (!acc->is_write)
			acc->data = v;
		return 0;
	}
	if (acc->space == s->space && acc->addr >= cl->addr &&
	    acc->addr - cl->addr < cl->size) {
		int err = classic_forward(&b->classic, acc, acc->addr - cl->addr);

		if (err && !b->handler_err)
			b->handler_err = err;
		return err;
	}
	s->stray_exits++;
	return -EIO;
}

/* The value the guest writes in iteration i of a run seeded @seed. */
static uint32_t seed_of(int space, int row, unsigned int round)
{
	return 0x10000000u * (space + 1) + 0x01000000u * row +
	       0x00010000u * round;
}

/*
 * One kg_run of @count accesses on @row.  Records latencies if @record.
 * Reads check that every value is @expect.  Returns false on error.
 */
static bool run_cell(struct bench *b, struct space_run *s, int row, int op,
		     uint64_t count, bool record, uint32_t value,
		     uint32_t expect)
{
	struct row *r = &s->rows[row];
	struct cell *c = &r->c[op];
	struct kg_result res;
	struct kg_cmd cmd = {
		.op = op == OP_WRITE ? KG_OP_WRITE : KG_OP_READ,
		.space = s->space,
		.addr = r->addr + ACC_OFFSET,
		.size = ACC_SIZE,
		.flags = record ? KG_F_LAT : 0,
		.count = count,
		.value = value,
		.stride = 1,
	};
	uint64_t t0;
	int ret;

	if (!count)
		return true;
	t0 = now_ns();
	ret = kg_run(b->kg, 0, &cmd, &res);
	if (record)
		c->wall_ns += now_ns() - t0;
	if (ret) {
		fprintf(stderr, "mpdev_bench: %s %s %s: kg_run: %s (%s)\n",
			space_key[s->space], row_key[row], op_key[op],
			strerror(-ret), kg_strerror(b->kg, 0));
		return false;
	}
	if (res.done != count) {
		sanity_fail("%s %s %s: %" PRIu64 " of %" PRIu64 " accesses done",
			    space_key[s->space], row_key[row], op_key[op],
			    res.done, count);
		return false;
	}
	c->accesses += count;
	c->exits += res.exits;
	if (op == OP_READ &&
	    res.sum != (uint64_t)expect * count) {
		sanity_fail("%s %s: reads returned sum %#" PRIx64
			    ", want %" PRIu64 " x %#x",
			    space_key[s->space], row_key[row], res.sum, count,
			    expect);
	}
	if (record) {
		if (res.nr_lat != count || c->n + count > opt.iters) {
			sanity_fail("%s %s %s: %" PRIu64 " latency samples for %"
				    PRIu64 " accesses", space_key[s->space],
				    row_key[row], op_key[op], res.nr_lat, count);
			return false;
		}
		memcpy(c->lat + c->n, res.lat, count * sizeof(uint64_t));
		c->n += count;
	}
	return true;
}

/* Warm-up then measurement, writes then reads, for one row in one round. */
static bool run_row(struct bench *b, struct space_run *s, int row,
		    unsigned int round, uint64_t n)
{
	uint32_t seed = seed_of(s->space, row, round);
	uint32_t last = seed + (uint32_t)(n ? n - 1 : 0);
	bool ok = true;

	if (row == ROW_POLL)
		remote_set_active(&s->poll, true);
	ok = run_cell(b, s, row, OP_WRITE, opt.warmup, false, seed ^ 0x5555,
		      0) &&
	     run_cell(b, s, row, OP_WRITE, n, true, seed, 0);
	if (row == ROW_DIAG)
		last = 0xffffffffu;	/* answered without a device */
	if (ok && row_has_reads(row))
		ok = run_cell(b, s, row, OP_READ, opt.warmup, false, 0,
			      last) &&
		     run_cell(b, s, row, OP_READ, n, true, 0, last);
	if (row == ROW_POLL)
		remote_set_active(&s->poll, false);
	return ok;
}

static void stats_of(struct kvm_guest *kg, struct cell *c)
{
	double sum = 0;
	uint64_t i, mn = UINT64_MAX, mx = 0;

	c->valid = c->n > 0;
	if (!c->valid)
		return;
	for (i = 0; i < c->n; i++) {
		sum += c->lat[i];
		if (c->lat[i] < mn)
			mn = c->lat[i];
		if (c->lat[i] > mx)
			mx = c->lat[i];
	}
	c->p50 = kg_tsc_to_ns(kg, kg_percentile(c->lat, c->n, 50));
	c->p99 = kg_tsc_to_ns(kg, kg_percentile(c->lat, c->n, 99));
	c->mean = kg_tsc_to_ns(kg, 1) * (sum / c->n);
	c->min = kg_tsc_to_ns(kg, mn);
	c->max = kg_tsc_to_ns(kg, mx);
	c->wall_mean = (double)c->wall_ns / c->n;
}

static void setup_space(struct bench *b, struct space_run *s, int space)
{
	int row, op, ret, fd = -1;

	memset(s, 0, sizeof(*s));
	s->space = space;
	s->efd = -1;
	s->blk.fd = s->blk.ctl = -1;
	s->poll.fd = s->poll.ctl = -1;
	s->diag_ctl = -1;
	for (row = 0; row < NR_ROWS; row++) {
		struct row *r = &s->rows[row];

		if (space == KG_SPACE_MMIO) {
			r->addr = MMIO_BASE + row * MMIO_STEP;
			r->size = MMIO_STEP;
		} else {
			r->addr = PIO_BASE + row * PIO_STEP;
			r->size = PIO_STEP;
		}
		for (op = 0; op < NR_OPS; op++) {
			r->c[op].lat = calloc(opt.iters, sizeof(uint64_t));
			if (!r->c[op].lat)
				die("out of memory");
		}
	}
	/* The floor: a 4-byte ioeventfd on the accessed address. */
	s->efd = kg_ioeventfd(b->kg, space,
			      s->rows[ROW_FLOOR].addr + ACC_OFFSET, ACC_SIZE,
			      NULL);
	if (s->efd < 0)
		die("%s ioeventfd: %s", space_key[space], strerror(-s->efd));
	ret = remote_start(&s->blk, b->kg, space, s->rows[ROW_BLK].addr,
			   s->rows[ROW_BLK].size, false, opt.block_spin_ns);
	if (ret)
		die("%s mpdev blocking context: %s", space_key[space],
		    strerror(-ret));
	ret = remote_start(&s->poll, b->kg, space, s->rows[ROW_POLL].addr,
			   s->rows[ROW_POLL].size, true, opt.poll_spin_ns);
	if (ret)
		die("%s mpdev polling context: %s", space_key[space],
		    strerror(-ret));
	/* The diagnostic row: a context whose remote closed at once. */
	s->diag_ctl = mpdev_open();
	ret = s->diag_ctl < 0 ? s->diag_ctl :
	      mpdev_attach(s->diag_ctl, kg_vm_fd(b->kg));
	if (!ret)
		ret = fd = mpdev_backend(s->diag_ctl, MPDEV_BACKEND_CLOEXEC);
	if (ret >= 0)
		ret = mpdev_add(s->diag_ctl, 1, space, s->rows[ROW_DIAG].addr,
				s->rows[ROW_DIAG].size, 0);
	if (ret < 0)
		die("%s mpdev diagnostic context: %s", space_key[space],
		    strerror(-ret));
	close(fd);
}

/* Checks that every row took the route it claims. */
static void check_space(struct bench *b, struct space_run *s)
{
	const char *sp = space_key[s->space];
	struct remote *rem[2] = { &s->blk, &s->poll };
	struct mpdev_info *info[2] = { &s->blk_info, &s->poll_info };
	int rows[2] = { ROW_BLK, ROW_POLL };
	uint64_t cr, cw;
	int row, op, i;

	if (s->stray_exits)
		sanity_fail("%s: %" PRIu64 " exits outside any row", sp,
			    s->stray_exits);
	if (b->handler_err)
		sanity_fail("%s: classic forwarding failed: %s", sp,
			    strerror(-b->handler_err));

	/* 1: in-kernel, and the eventfd saw every write. */
	for (op = 0; op < NR_OPS; op++)
		if (s->rows[ROW_FLOOR].c[op].exits)
			sanity_fail("%s floor: %" PRIu64 " userspace exits", sp,
				    s->rows[ROW_FLOOR].c[op].exits);
	s->floor_events = kg_eventfd_count(s->efd);
	if (!s->floor_events ||
	    s->floor_events != s->rows[ROW_FLOOR].c[OP_WRITE].accesses)
		sanity_fail("%s floor: eventfd counted %" PRIu64
			    " of %" PRIu64 " writes", sp, s->floor_events,
			    s->rows[ROW_FLOOR].c[OP_WRITE].accesses);

	/* 2 and 3: one exit per access, and the model saw each. */
	for (row = ROW_INPROC; row <= ROW_CLASSIC; row++)
		for (op = 0; op < NR_OPS; op++) {
			const struct cell *c = &s->rows[row].c[op];

			if (c->exits != c->accesses)
				sanity_fail("%s %s %s: %" PRIu64 " exits for %"
					    PRIu64 " accesses", sp,
					    row_key[row], op_key[op], c->exits,
					    c->accesses);
		}
	for (op = 0; op < NR_OPS; op++)
		if (s->inproc_exits[op] != s->rows[ROW_INPROC].c[op].accesses)
			sanity_fail("%s inproc %s: handler served %" PRIu64
				    " of %" PRIu64, sp, op_key[op],
				    s->inproc_exits[op],
				    s->rows[ROW_INPROC].c[op].accesses);
	if (classic_stats(&b->classic, &cr, &cw))
		sanity_fail("%s classic: remote process gone", sp);
	/* The child serves both spaces: count this one's share. */
	s->child_reads = cr - b->classic_seen[OP_READ];
	s->child_writes = cw - b->classic_seen[OP_WRITE];
	b->classic_seen[OP_READ] = cr;
	b->classic_seen[OP_WRITE] = cw;
	if (s->child_reads != s->rows[ROW_CLASSIC].c[OP_READ].accesses ||
	    s->child_writes != s->rows[ROW_CLASSIC].c[OP_WRITE].accesses)
		sanity_fail("%s classic: remote served %" PRIu64 " reads, %"
			    PRIu64 " writes; guest made %" PRIu64 ", %" PRIu64,
			    sp, s->child_reads, s->child_writes,
			    s->rows[ROW_CLASSIC].c[OP_READ].accesses,
			    s->rows[ROW_CLASSIC].c[OP_WRITE].accesses);

	/* 4 and 5: no exit, the remote saw exactly what the guest made. */
	for (i = 0; i < 2; i++) {
		struct row *r = &s->rows[rows[i]];
		uint64_t want = r->c[OP_READ].accesses + r->c[OP_WRITE].accesses;
		const char *rk = row_key[rows[i]];

		for (op = 0; op < NR_OPS; op++)
			if (r->c[op].exits)
				sanity_fail("%s %s %s: %" PRIu64
					    " userspace exits", sp, rk,
					    op_key[op], r->c[op].exits);
		if (rows[i] == ROW_POLL)
			remote_set_active(rem[i], true);
		remote_wait(rem[i], want);
		/* Anything extra would have arrived by now too. */
		usleep(20000);
		if (rows[i] == ROW_POLL)
			remote_set_active(rem[i], false);
		if (rem[i]->nreq != want ||
		    rem[i]->m.reads != r->c[OP_READ].accesses ||
		    rem[i]->m.writes != r->c[OP_WRITE].accesses)
			sanity_fail("%s %s: remote saw %" PRIu64 " requests (%"
				    PRIu64 " reads), guest made %" PRIu64
				    " (%" PRIu64 " reads)", sp, rk,
				    rem[i]->nreq, rem[i]->m.reads, want,
				    r->c[OP_READ].accesses);
		if (rem[i]->nreplies != r->c[OP_READ].accesses)
			sanity_fail("%s %s: %" PRIu64 " replies for %" PRIu64
				    " reads", sp, rk, rem[i]->nreplies,
				    r->c[OP_READ].accesses);
		if (rem[i]->error || rem[i]->pin_error)
			sanity_fail("%s %s: remote error %s", sp, rk,
				    strerror(rem[i]->error ? rem[i]->error :
					     rem[i]->pin_error));
		if (mpdev_info(rem[i]->ctl, info[i])) {
			sanity_fail("%s %s: MPDEV_GET_INFO failed", sp, rk);
			continue;
		}
		if (info[i]->state != MPDEV_STATE_OK ||
		    info[i]->counters.timeouts ||
		    info[i]->counters.failed_accesses ||
		    info[i]->counters.malformed ||
		    info[i]->counters.reads != r->c[OP_READ].accesses ||
		    info[i]->counters.writes != r->c[OP_WRITE].accesses)
			sanity_fail("%s %s: context state %u reason %u, reads %"
				    PRIu64 " writes %" PRIu64 " timeouts %"
				    PRIu64 " failed %" PRIu64, sp, rk,
				    info[i]->state, info[i]->fail_reason,
				    (uint64_t)info[i]->counters.reads,
				    (uint64_t)info[i]->counters.writes,
				    (uint64_t)info[i]->counters.timeouts,
				    (uint64_t)info[i]->counters.failed_accesses);
	}
}

static void check_diag(struct space_run *s)
{
	const char *sp = space_key[s->space];
	const struct row *r = &s->rows[ROW_DIAG];
	struct mpdev_info *info = &s->diag_info;
	int op;

	for (op = 0; op < NR_OPS; op++)
		if (r->c[op].exits)
			sanity_fail("%s %s %s: %" PRIu64 " userspace exits", sp,
				    row_key[ROW_DIAG], op_key[op],
				    r->c[op].exits);
	if (mpdev_info(s->diag_ctl, info)) {
		sanity_fail("%s %s: MPDEV_GET_INFO failed", sp,
			    row_key[ROW_DIAG]);
		return;
	}
	if (info->state != MPDEV_STATE_FAILED ||
	    info->fail_reason != MPDEV_FAIL_BACKEND_CLOSED ||
	    info->counters.reads != r->c[OP_READ].accesses ||
	    info->counters.writes != r->c[OP_WRITE].accesses ||
	    info->counters.failed_accesses !=
	    r->c[OP_READ].accesses + r->c[OP_WRITE].accesses)
		sanity_fail("%s %s: context state %u reason %u, reads %" PRIu64
			    " writes %" PRIu64 " failed %" PRIu64, sp,
			    row_key[ROW_DIAG], info->state, info->fail_reason,
			    (uint64_t)info->counters.reads,
			    (uint64_t)info->counters.writes,
			    (uint64_t)info->counters.failed_accesses);
}

static void teardown_space(struct bench *b, struct space_run *s)
{
	if (s->diag_ctl >= 0)
		close(s->diag_ctl);
	s->diag_ctl = -1;
	remote_stop(&s->poll);
	remote_stop(&s->blk);
	if (s->efd >= 0) {
		kg_ioeventfd_del(b->kg, s->efd, s->space,
				 s->rows[ROW_FLOOR].addr + ACC_OFFSET,
				 ACC_SIZE, NULL);
		close(s->efd);
	}
	s->efd = -1;
}

static bool run_space(struct bench *b, struct space_run *s)
{
	uint64_t t0 = now_ns();
	unsigned int round;
	int k, row, op;

	b->cur = s;
	for (round = 0; round < opt.rounds; round++) {
		uint64_t n = opt.iters / opt.rounds +
			     (round < opt.iters % opt.rounds);

		/* Rotate the order so no row always follows the same one. */
		for (k = 0; k < NR_ROWS; k++) {
			row = (k + round) % NR_ROWS;
			if (!run_row(b, s, row, round, n))
				return false;
		}
	}
	s->seconds = (now_ns() - t0) / 1e9;
	for (row = 0; row < NR_ROWS; row++)
		for (op = 0; op < NR_OPS; op++)
			stats_of(b->kg, &s->rows[row].c[op]);
	check_space(b, s);
	check_diag(s);
	return true;
}

/* ---- reporting ------------------------------------------------------------ */

/* The floor for both ops is the ioeventfd write. */
static const struct cell *floor_cell(const struct space_run *s)
{
	return &s->rows[ROW_FLOOR].c[OP_WRITE];
}

static const struct cell *cell_or_floor(const struct space_run *s, int row,
					int op)
{
	return row == ROW_FLOOR ? floor_cell(s) : &s->rows[row].c[op];
}

static void print_tables(const struct space_run *s)
{
	const struct cell *fl = floor_cell(s);
	const struct row *cl = &s->rows[ROW_CLASSIC];
	bool bad_clock = false;
	int row, t;

	printf("\n== %s: %u-byte accesses, %" PRIu64 " measured per cell (%u rounds x %"
	       PRIu64 " + %" PRIu64 " warm-up), %.1f s ==\n",
	       s->space == KG_SPACE_MMIO ? "MMIO" : "PIO", ACC_SIZE,
	       s->rows[ROW_INPROC].c[OP_READ].n, opt.rounds,
	       opt.iters / opt.rounds, opt.warmup, s->seconds);
	for (t = 0; t < 3; t++) {
		static const char *const title[3] = {
			"latency per access, ns", "ratio vs floor (ioeventfd write)",
			"ratio vs classic (same op)",
		};

		printf("\n%-22s %12s %12s %12s %12s   (%s)\n", "row",
		       "read p50", "read p99", "write p50", "write p99",
		       title[t]);
		for (row = 0; row < NR_ROWS; row++) {
			int op;

			printf("%-22s", row_label[row]);
			for (op = 0; op < NR_OPS; op++) {
				const struct cell *c = cell_or_floor(s, row, op);
				const struct cell *ref = t == 1 ? fl : &cl->c[op];

				if (t == 0) {
					printf(" %11.0f%s %12.0f", c->p50,
					       row == ROW_FLOOR && op == OP_READ ?
					       "*" : " ", c->p99);
				} else if (t == 2 && row == ROW_FLOOR &&
					   op == OP_READ) {
					printf(" %12s %12s", "-", "-");
				} else {
					printf(" %11.2fx %11.2fx",
					       c->p50 / ref->p50,
					       c->p99 / ref->p99);
				}
			}
			printf("\n");
		}
	}
	printf("* no ioeventfd for reads: the floor's read columns repeat its write numbers (reference only)\n");
	printf("(diag): an mpdev region whose context failed on purpose (remote gone): KVM's in-kernel dispatch + mpdev's handler, no remote; reads all-ones\n");
	printf("sanity: floor eventfd %" PRIu64 " signals, 0 exits; in-process %"
	       PRIu64 "+%" PRIu64 " exits; classic child served %" PRIu64
	       "+%" PRIu64 "; mpdev blocking remote %" PRIu64
	       " requests (%" PRIu64 " kicks), polling remote %" PRIu64
	       " requests (%" PRIu64 " kicks), 0 exits\n",
	       s->floor_events, s->inproc_exits[OP_READ],
	       s->inproc_exits[OP_WRITE], s->child_reads, s->child_writes,
	       s->blk.nreq, s->blk.kicks, s->poll.nreq, s->poll.kicks);
	printf("clock check, guest-TSC mean / host wall-clock mean per access (slightly below 1: the loop's own cost):\n ");
	for (row = 0; row < NR_ROWS; row++) {
		int op;

		printf(" %s", row_key[row]);
		for (op = 0; op < NR_OPS; op++) {
			const struct cell *c = &s->rows[row].c[op];
			double q = c->mean / c->wall_mean;

			if (!c->valid)
				continue;
			printf(" %c%.2f", op == OP_READ ? 'r' : 'w', q);
			if (q < 1 - CLOCK_TOLERANCE || q > 1 + CLOCK_TOLERANCE)
				bad_clock = true;
		}
	}
	printf("\n");
	if (bad_clock)
		printf("WARNING: the guest TSC and the host clock disagree by more than %.0f%%: latencies are unreliable\n"
		       "         (KVM rewinds the guest TSC at each vcpu_load when the host TSC is unstable)\n",
		       100 * CLOCK_TOLERANCE);
	if (s->poll.kicks * 100 > s->rows[ROW_POLL].c[OP_READ].accesses)
		printf("WARNING: %" PRIu64 " of %" PRIu64 " polling-row reads outlasted the %" PRIu64
		       " us spin (the remote kicked): its CPU was not running (busy host?)\n",
		       s->poll.kicks, s->rows[ROW_POLL].c[OP_READ].accesses,
		       opt.poll_spin_ns / 1000);
}

struct target {
	const char *name;
	const char *what;
	double value, limit, ratio, bound;
	bool strict;		/* ratio < bound, else <= */
	bool holds;
};

static void target(struct target *t, const char *name, const char *what,
		   double value, double ref, double bound, bool strict)
{
	t->name = name;
	t->what = what;
	t->value = value;
	t->limit = ref;
	t->bound = bound;
	t->strict = strict;
	t->ratio = value / ref;
	t->holds = strict ? t->ratio < bound : t->ratio <= bound;
}

static int targets_of(const struct space_run *s, struct target *t)
{
	const struct cell *fl = floor_cell(s);
	const struct row *r = s->rows;

	target(&t[0], "poll_read_vs_floor",
	       "mpdev polling read p50 <= 1.3 x floor",
	       r[ROW_POLL].c[OP_READ].p50, fl->p50, 1.3, false);
	target(&t[1], "poll_read_vs_inproc",
	       "mpdev polling read p50 < in-process read p50",
	       r[ROW_POLL].c[OP_READ].p50, r[ROW_INPROC].c[OP_READ].p50, 1.0,
	       true);
	target(&t[2], "blk_read_vs_classic",
	       "mpdev blocking read p50 <= 0.5 x classic read p50",
	       r[ROW_BLK].c[OP_READ].p50, r[ROW_CLASSIC].c[OP_READ].p50, 0.5,
	       false);
	target(&t[3], "poll_write_vs_floor",
	       "mpdev polling (posted) write p50 <= 1.1 x floor",
	       r[ROW_POLL].c[OP_WRITE].p50, fl->p50, 1.1, false);
	target(&t[4], "blk_write_vs_floor",
	       "mpdev blocking (posted) write p50 <= 1.1 x floor",
	       r[ROW_BLK].c[OP_WRITE].p50, fl->p50, 1.1, false);
	return 5;
}

static void print_targets(const struct space_run *s)
{
	struct target t[8];
	int i, n = targets_of(s, t);

	printf("\ntargets (%s, p50, same run):\n", space_key[s->space]);
	for (i = 0; i < n; i++)
		printf("  %-6s %-50s %9.0f / %9.0f ns = %.2f (limit %s%.2f)\n",
		       t[i].holds ? "HOLDS" : "MISSED", t[i].what, t[i].value,
		       t[i].limit, t[i].ratio, t[i].strict ? "<" : "<=",
		       t[i].bound);
}

static void json_cell(FILE *f, const struct cell *c, const struct cell *fl,
		      const struct cell *cl, bool floor_ref)
{
	if (!c->valid) {
		fprintf(f, "null");
		return;
	}
	fprintf(f, "{\"n\": %" PRIu64 ", \"accesses\": %" PRIu64
		", \"exits\": %" PRIu64 ", \"p50_ns\": %.1f, \"p99_ns\": %.1f, "
		"\"mean_ns\": %.1f, \"min_ns\": %.1f, \"max_ns\": %.1f, "
		"\"wall_mean_ns\": %.1f, \"tsc_vs_wall\": %.4f, "
		"\"p50_vs_floor\": %.4f, \"p99_vs_floor\": %.4f",
		c->n, c->accesses, c->exits, c->p50, c->p99, c->mean, c->min,
		c->max, c->wall_mean, c->mean / c->wall_mean,
		c->p50 / fl->p50, c->p99 / fl->p99);
	if (cl && cl->valid)
		fprintf(f, ", \"p50_vs_classic\": %.4f, \"p99_vs_classic\": %.4f",
			c->p50 / cl->p50, c->p99 / cl->p99);
	if (floor_ref)
		fprintf(f, ", \"reference_only\": \"ioeventfd write floor\"");
	fprintf(f, "}");
}

static void write_json(const char *path, struct bench *b, double total_s)
{
	struct utsname u;
	FILE *f = fopen(path, "w");
	bool first = true;
	int sp, row, op, i;

	if (!f) {
		fprintf(stderr, "mpdev_bench: cannot write %s: %s\n", path,
			strerror(errno));
		nr_sanity++;
		return;
	}
	uname(&u);
	fprintf(f, "{\n  \"benchmark\": \"mpdev_bench\",\n  \"version\": 1,\n");
	fprintf(f, "  \"kernel\": \"%s\",\n  \"tsc_khz\": %" PRIu64 ",\n",
		u.release, kg_tsc_khz(b->kg));
	fprintf(f, "  \"access_size\": %d,\n  \"iters\": %" PRIu64
		",\n  \"rounds\": %u,\n  \"warmup_per_round\": %" PRIu64 ",\n",
		ACC_SIZE, opt.iters, opt.rounds, opt.warmup);
	fprintf(f, "  \"params\": {\"deadline_ns\": %" PRIu64
		", \"blocking_spin_ns\": %" PRIu64 ", \"polling_spin_ns\": %"
		PRIu64 ", \"polling_remote_pause\": %s},\n", opt.deadline_ns,
		opt.block_spin_ns, opt.poll_spin_ns,
		opt.no_pause ? "false" : "true");
	if (opt.pin)
		fprintf(f, "  \"pinning\": {\"vcpu_cpu\": %d, \"polling_remote_cpu\": %d, \"blocking_remotes_cpu\": %d},\n",
			VCPU_CPU, REMOTE_CPU, opt.blk_cpu);
	else
		fprintf(f, "  \"pinning\": null,\n");
	fprintf(f, "  \"total_seconds\": %.1f,\n  \"sanity_failures\": %d,\n",
		total_s, nr_sanity);
	fprintf(f, "  \"cpu_pingpong\": {");
	for (i = 0; i < 2; i++)
		fprintf(f, "%s\"%s\": {\"n\": %" PRIu64 ", \"p50_ns\": %.1f, "
			"\"p99_ns\": %.1f, \"slow_time_fraction\": %.4f}",
			i ? ", " : "", i ? "after" : "before", b->probe[i].n,
			b->probe[i].p50, b->probe[i].p99, b->probe[i].slow_frac);
	fprintf(f, ", \"host_busy\": %s},\n",
		probe_busy(&b->probe[0]) || probe_busy(&b->probe[1]) ?
		"true" : "false");
	fprintf(f, "  \"spaces\": {");
	for (sp = 0; sp < 2; sp++) {
		struct space_run *s = &b->sp[sp];
		struct target t[8];
		int n;

		if (!opt.spaces[sp])
			continue;
		fprintf(f, "%s\n    \"%s\": {\n      \"seconds\": %.1f,\n      \"rows\": {",
			first ? "" : ",", space_key[sp], s->seconds);
		first = false;
		for (row = 0; row < NR_ROWS; row++) {
			fprintf(f, "%s\n        \"%s\": {", row ? "," : "",
				row_key[row]);
			for (op = 0; op < NR_OPS; op++) {
				fprintf(f, "%s\"%s\": ", op ? ", " : "",
					op_key[op]);
				json_cell(f, cell_or_floor(s, row, op),
					  floor_cell(s),
					  &s->rows[ROW_CLASSIC].c[op],
					  row == ROW_FLOOR && op == OP_READ);
			}
			fprintf(f, "}");
		}
		fprintf(f, "\n      },\n      \"sanity\": {\"floor_eventfd_signals\": %"
			PRIu64 ", \"inproc_exits\": %" PRIu64
			", \"classic_remote_reads\": %" PRIu64
			", \"classic_remote_writes\": %" PRIu64
			", \"blocking_remote_requests\": %" PRIu64
			", \"blocking_remote_kicks\": %" PRIu64
			", \"polling_remote_requests\": %" PRIu64
			", \"polling_remote_kicks\": %" PRIu64
			", \"blocking_ctx_queue_full_waits\": %" PRIu64
			", \"polling_ctx_queue_full_waits\": %" PRIu64 "},\n",
			s->floor_events,
			s->inproc_exits[OP_READ] + s->inproc_exits[OP_WRITE],
			s->child_reads, s->child_writes, s->blk.nreq,
			s->blk.kicks, s->poll.nreq, s->poll.kicks,
			(uint64_t)s->blk_info.counters.queue_full_waits,
			(uint64_t)s->poll_info.counters.queue_full_waits);
		n = targets_of(s, t);
		fprintf(f, "      \"targets\": [");
		for (i = 0; i < n; i++)
			fprintf(f, "%s\n        {\"name\": \"%s\", \"what\": \"%s\", "
				"\"value_ns\": %.1f, \"reference_ns\": %.1f, "
				"\"ratio\": %.4f, \"limit\": %.2f, \"holds\": %s}",
				i ? "," : "", t[i].name, t[i].what, t[i].value,
				t[i].limit, t[i].ratio, t[i].bound,
				t[i].holds ? "true" : "false");
		fprintf(f, "\n      ]\n    }");
	}
	fprintf(f, "\n  }\n}\n");
	if (fclose(f)) {
		fprintf(stderr, "mpdev_bench: writing %s failed\n", path);
		nr_sanity++;
		return;
	}
	printf("\nresults written to %s\n", path);
}

static void usage(const char *prog)
{
	fprintf(stderr,
		"usage: %s [--iters N] [--rounds R] [--warmup W] [--space mmio|pio|both]\n"
		"          [--json PATH] [--poll-spin-us US] [--block-spin-us US]\n"
		"          [--deadline-ms MS] [--blocking-cpu 0|1] [--remote-no-pause]\n"
		"          [--no-pin]\n"
		"  --iters N       measured accesses per cell (row x read/write), default %d\n"
		"  --rounds R      interleave the rows in R rounds of N/R, default %d\n"
		"  --warmup W      unmeasured accesses per cell and round, default %d\n"
		"  --json PATH     results as JSON (default $MPDEV_OUT/bench-rawkvm.json)\n"
		"  --poll-spin-us  mpdev spin budget of the polling row, default %d\n"
		"  --block-spin-us mpdev spin budget of the blocking row, default %d\n"
		"                  (each at most MPDEV_MAX_SPIN_NS, 1000 us)\n"
		"  --deadline-ms   mpdev deadline of an exit, default %d (1..60000)\n"
		"  --blocking-cpu  CPU of the classic child and the mpdev blocking remote:\n"
		"                  %d = the vCPU's, %d = the polling remote's; default %d\n"
		"  --remote-no-pause  the polling remote spins without PAUSE\n"
		"  --no-pin        no pinning (default: vCPU on CPU %d, polling remote on %d)\n",
		prog, DEF_ITERS, DEF_ROUNDS, DEF_WARMUP, DEF_POLL_SPIN_US,
		DEF_BLOCK_SPIN_US, DEF_DEADLINE_MS, VCPU_CPU, REMOTE_CPU,
		DEF_BLK_CPU, VCPU_CPU, REMOTE_CPU);
	exit(2);
}

static uint64_t num_arg(const char *s, const char *prog)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || !*s || *end)
		usage(prog);
	return v;
}

static void parse_args(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "iters", required_argument, NULL, 'n' },
		{ "rounds", required_argument, NULL, 'r' },
		{ "warmup", required_argument, NULL, 'w' },
		{ "json", required_argument, NULL, 'j' },
		{ "space", required_argument, NULL, 's' },
		{ "poll-spin-us", required_argument, NULL, 'P' },
		{ "block-spin-us", required_argument, NULL, 'B' },
		{ "deadline-ms", required_argument, NULL, 'D' },
		{ "no-pin", no_argument, NULL, 'N' },
		{ "blocking-cpu", required_argument, NULL, 'C' },
		{ "remote-no-pause", no_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	int c;

	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (c) {
		case 'n':
			opt.iters = num_arg(optarg, argv[0]);
			break;
		case 'r':
			opt.rounds = num_arg(optarg, argv[0]);
			break;
		case 'w':
			opt.warmup = num_arg(optarg, argv[0]);
			break;
		case 'j':
			opt.json = optarg;
			break;
		case 's':
			if (!strcmp(optarg, "mmio")) {
				opt.spaces[0] = true;
				opt.spaces[1] = false;
			} else if (!strcmp(optarg, "pio")) {
				opt.spaces[0] = false;
				opt.spaces[1] = true;
			} else if (!strcmp(optarg, "both")) {
				opt.spaces[0] = opt.spaces[1] = true;
			} else {
				usage(argv[0]);
			}
			break;
		case 'P':
			opt.poll_spin_ns = num_arg(optarg, argv[0]) * 1000;
			break;
		case 'B':
			opt.block_spin_ns = num_arg(optarg, argv[0]) * 1000;
			break;
		case 'D':
			opt.deadline_ns = num_arg(optarg, argv[0]) * 1000000;
			break;
		case 'N':
			opt.pin = false;
			break;
		case 'p':
			opt.no_pause = true;
			break;
		case 'C':
			opt.blk_cpu = num_arg(optarg, argv[0]);
			if (opt.blk_cpu != VCPU_CPU && opt.blk_cpu != REMOTE_CPU)
				usage(argv[0]);
			break;
		default:
			usage(argv[0]);
		}
	}
	if (optind != argc || !opt.iters || !opt.rounds ||
	    opt.rounds > opt.iters || opt.iters / opt.rounds + 1 > KG_MAX_SAMPLES ||
	    opt.warmup > KG_MAX_SAMPLES)
		usage(argv[0]);
	if (opt.poll_spin_ns > MPDEV_MAX_SPIN_NS ||
	    opt.block_spin_ns > MPDEV_MAX_SPIN_NS ||
	    opt.deadline_ns < MPDEV_MIN_DEADLINE_NS ||
	    opt.deadline_ns > MPDEV_MAX_DEADLINE_NS)
		usage(argv[0]);
}

int main(int argc, char **argv)
{
	static struct bench b;
	char json_buf[4096];
	const char *why;
	uint64_t t0;
	double total;
	int sp, fd;

	parse_args(argc, argv);
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	if (!opt.json && getenv("MPDEV_OUT")) {
		snprintf(json_buf, sizeof(json_buf), "%s/bench-rawkvm.json",
			 getenv("MPDEV_OUT"));
		opt.json = json_buf;
	}
	if (!kg_kvm_usable(&why)) {
		printf("SKIP: no usable KVM: %s\n", why);
		return KSFT_SKIP;
	}
	fd = mpdev_open();
	if (fd < 0) {
		printf("SKIP: /dev/mpdev: %s (is mpdev.ko loaded?)\n",
		       strerror(-fd));
		return KSFT_SKIP;
	}
	close(fd);
	if (opt.pin && sysconf(_SC_NPROCESSORS_ONLN) < 2) {
		printf("note: one CPU only: not pinning\n");
		opt.pin = false;
	}

	/* The classic remote first: no guest memory to share with it. */
	if (classic_start(&b.classic))
		die("cannot start the classic remote: %s", strerror(errno));
	if (!pin_to(VCPU_CPU))
		die("sched_setaffinity: %s", strerror(errno));
	b.kg = kg_create(1);
	if (!b.kg)
		die("kg_create: %s", strerror(errno));
	kg_set_exit_handler(b.kg, bench_exit, &b);

	printf("mpdev_bench: %u-byte accesses, %" PRIu64 " per cell in %u rounds, warm-up %"
	       PRIu64 " per cell and round\n", ACC_SIZE, opt.iters,
	       opt.rounds, opt.warmup);
	printf("mpdev params: deadline %" PRIu64 " ms; spin %" PRIu64
	       " us (blocking row), %" PRIu64 " us (polling row); posted writes\n",
	       opt.deadline_ns / 1000000, opt.block_spin_ns / 1000,
	       opt.poll_spin_ns / 1000);
	if (opt.pin)
		printf("pinning: vCPU thread on CPU %d; mpdev polling remote on CPU %d; classic child and mpdev blocking remote on CPU %d (%s)\n",
		       VCPU_CPU, REMOTE_CPU, opt.blk_cpu,
		       opt.blk_cpu == VCPU_CPU ? "the vCPU's" : "not the vCPU's");
	else
		printf("pinning: none\n");
	printf("guest TSC %" PRIu64 " kHz\n", kg_tsc_khz(b.kg));

	run_probe(b.kg, &b.probe[0]);
	t0 = now_ns();
	for (sp = 0; sp < 2; sp++) {
		if (!opt.spaces[sp])
			continue;
		setup_space(&b, &b.sp[sp], sp);
		if (!run_space(&b, &b.sp[sp]))
			nr_sanity++;
		teardown_space(&b, &b.sp[sp]);
	}
	total = (now_ns() - t0) / 1e9;
	run_probe(b.kg, &b.probe[1]);

	for (sp = 0; sp < 2; sp++)
		if (opt.spaces[sp])
			print_tables(&b.sp[sp]);
	for (sp = 0; sp < 2; sp++)
		if (opt.spaces[sp])
			print_targets(&b.sp[sp]);
	for (sp = 0; sp < 2; sp++)
		printf("%sCPU %d <-> CPU %d ping-pong %s the rows, %.0f ms: %" PRIu64
		       " round trips, p50 %.0f ns, p99 %.0f ns; %.1f%% of the time in trips > %.0f us\n",
		       sp ? "" : "\n", VCPU_CPU, REMOTE_CPU,
		       sp ? "after" : "before", PROBE_NS / 1e6, b.probe[sp].n,
		       b.probe[sp].p50, b.probe[sp].p99,
		       100 * b.probe[sp].slow_frac, PROBE_SLOW_NS / 1000);
	if (probe_busy(&b.probe[0]) || probe_busy(&b.probe[1]))
		printf("WARNING: the test VM's two vCPUs were often not running at the same time (busy host?):\n"
		       "         rows that need both CPUs (mpdev polling; blocking rows with --blocking-cpu 1) are unreliable in this run\n");
	printf("total %.1f s\n", total);
	if (opt.json)
		write_json(opt.json, &b, total);

	classic_stop(&b.classic);
	kg_destroy(b.kg);
	if (nr_sanity) {
		printf("FAIL: %d sanity violation(s): see above\n", nr_sanity);
		return 1;
	}
	printf("PASS: every row took its claimed route\n");
	return 0;
}
