// SPDX-License-Identifier: GPL-2.0
/*
 * The mpdev data path with raw KVM guests: a guest's MMIO/PIO accesses to a
 * region go to a test remote through the backend fd (blocking or ring mode)
 * and back, with every ordering, deadline and failure rule checked.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../kselftest_harness.h"
#include "lib/kvm_guest.h"
#include "mpdev_util.h"

#define MMIO_BASE	0xd0000000ULL
#define PIO_BASE	0x6000ULL
#define REGION_SIZE	256ULL
/*
 * Tests about deadlines use DEADLINE_NS; the rest use LONG_NS, so that a
 * starved software-emulated test VM cannot fail them by running late.
 */
#define DEADLINE_NS	(400ULL * 1000 * 1000)
#define LONG_NS		(20ULL * 1000 * 1000 * 1000)
/* Slack for a software-emulated test VM: absolute times there are slow. */
#define SLACK_NS	(1500ULL * 1000 * 1000)
/* Region 0's cookie: every request of it must carry this. */
#define DP_COOKIE	0xc00c1e0123456789ULL

FIXTURE(dp) {
	struct kvm_guest *kg;
	int ctl;
	int backend;
	uint64_t base;
	struct mpdev_ring_info ring;	/* as CREATE_BACKEND reported it */
	struct tr tr;
	bool tr_on;
};

FIXTURE_VARIANT(dp) {
	int space;
	enum tr_mode mode;
};

FIXTURE_VARIANT_ADD(dp, mmio_blocking) { .space = KG_SPACE_MMIO, .mode = TR_BLOCKING };
FIXTURE_VARIANT_ADD(dp, mmio_ring) { .space = KG_SPACE_MMIO, .mode = TR_RING };
FIXTURE_VARIANT_ADD(dp, pio_blocking) { .space = KG_SPACE_PIO, .mode = TR_BLOCKING };
FIXTURE_VARIANT_ADD(dp, pio_ring) { .space = KG_SPACE_PIO, .mode = TR_RING };

FIXTURE_SETUP(dp)
{
	const char *why;

	if (!kg_kvm_usable(&why))
		SKIP(return, "no usable KVM: %s", why);
	self->backend = -1;
	self->kg = kg_create(2);
	ASSERT_NE(NULL, self->kg);
	self->ctl = mpdev_open();
	ASSERT_LE(0, self->ctl);
	ASSERT_EQ(0, mpdev_attach(self->ctl, kg_vm_fd(self->kg)));
	self->base = variant->space == KG_SPACE_MMIO ? MMIO_BASE : PIO_BASE;
	ASSERT_EQ(0, mpdev_set_params(self->ctl, LONG_NS, 20000));
	/* The backend first: regions need it (ENOTCONN otherwise). */
	self->backend = mpdev_backend_ring(self->ctl, MPDEV_BACKEND_CLOEXEC, 0,
					   &self->ring);
	ASSERT_LE(0, self->backend);
	ASSERT_EQ(MPDEV_RING_DEFAULT_ENTRIES, self->ring.entries);
	ASSERT_EQ(0, mpdev_add_cookie(self->ctl, 0, variant->space,
				      self->base, REGION_SIZE, 0, DP_COOKIE));
}

FIXTURE_TEARDOWN(dp)
{
	if (self->tr_on)
		tr_stop(&self->tr, true);
	else if (self->backend >= 0)
		close(self->backend);
	if (self->ctl >= 0)
		close(self->ctl);
	if (self->kg)
		kg_destroy(self->kg);
}

static int start_remote(FIXTURE_DATA(dp) *self,
			const FIXTURE_VARIANT(dp) *variant)
{
	int ret = tr_start(&self->tr, self->backend, variant->mode, 100000);

	self->tr_on = !ret;
	return ret;
}

static unsigned int max_size(const FIXTURE_VARIANT(dp) *variant)
{
	return variant->space == KG_SPACE_PIO ? 4 : 8;
}

static struct kg_cmd cmd(int op, int space, uint64_t addr, unsigned int size,
			 uint64_t count, uint64_t value, uint64_t stride)
{
	struct kg_cmd c = {
		.op = op, .space = space, .addr = addr, .size = size,
		.count = count, .value = value, .stride = stride,
	};

	return c;
}

static struct mpdev_info info_of(int ctl)
{
	struct mpdev_info info;

	memset(&info, 0xaa, sizeof(info));
	if (mpdev_info(ctl, &info))
		memset(&info, 0xee, sizeof(info));
	return info;
}

/* Write then read back at every size and many offsets. */
TEST_F(dp, roundtrip_all_sizes)
{
	struct mpdev_info info;
	unsigned int size;
	uint64_t total = 0;

	ASSERT_EQ(0, start_remote(self, variant));
	for (size = 1; size <= max_size(variant); size *= 2) {
		struct kg_cmd c = cmd(KG_OP_MIXED, variant->space, self->base,
				      size, 96, 0x1122334455667788ULL + size,
				      0x0101010101010101ULL);
		struct kg_result res;

		/* Sweep offsets, unaligned ones included. */
		c.addr_stride = size + 1;
		c.addr_span = REGION_SIZE - size;
		ASSERT_EQ(0, kg_run(self->kg, 0, &c, &res))
			TH_LOG("size %u: %s", size, kg_strerror(self->kg, 0));
		EXPECT_EQ(96, res.done);
		EXPECT_EQ(0, res.mismatches)
			TH_LOG("size %u: first bad iteration %lu", size,
			       (unsigned long)res.first_mismatch);
		EXPECT_EQ(0, res.exits);
		total += 2 * 96;
	}
	ASSERT_TRUE(tr_wait_requests(&self->tr, total, 2000));
	EXPECT_EQ(total, self->tr.nreq);
	EXPECT_EQ(total / 2, self->tr.nwrites);
	info = info_of(self->ctl);
	EXPECT_EQ(MPDEV_STATE_OK, info.state);
	EXPECT_EQ(total / 2, info.counters.reads);
	EXPECT_EQ(total / 2, info.counters.writes);
	EXPECT_EQ(0, info.counters.timeouts);
	EXPECT_EQ(0, info.counters.malformed);
	EXPECT_EQ(0, info.counters.failed_accesses);
	EXPECT_EQ(0, info.counters.stale_completions);
	EXPECT_EQ(0, info.counters.interrupted);
	EXPECT_EQ(0, info.counters.bus_lost);
	EXPECT_EQ(self->ring.entries, info.ring_entries);
	/* Only vCPU 0 waited for answers. */
	EXPECT_EQ(1, info.nr_slots);
	EXPECT_LT(0, info.footprint_bytes);
	EXPECT_EQ(1, info.nr_regions);
	EXPECT_EQ(1, info.vm_attached);
	EXPECT_EQ(1, info.backend_attached);
}

/* What the device holds is what the guest reads, at every size. */
TEST_F(dp, reads_return_device_data)
{
	unsigned int size, i;

	/* tr_start() clears the model: fill it after starting. */
	ASSERT_EQ(0, start_remote(self, variant));
	for (i = 0; i < TR_REGION_BYTES; i++)
		self->tr.mem[0][i] = i * 7 + 3;
	for (size = 1; size <= max_size(variant); size *= 2) {
		struct kg_cmd c = cmd(KG_OP_READ, variant->space, self->base,
				      size, 32, 0, 0);
		struct kg_result res;
		uint64_t k;

		c.flags = KG_F_VALUES;
		c.addr_stride = size;
		c.addr_span = REGION_SIZE;
		ASSERT_EQ(0, kg_run(self->kg, 1, &c, &res));
		ASSERT_EQ(32, res.nr_values);
		for (k = 0; k < 32; k++) {
			uint64_t off = (k * size) % REGION_SIZE, want = 0;
			unsigned int b;

			for (b = 0; b < size; b++)
				want |= (uint64_t)(uint8_t)((off + b) * 7 + 3)
					<< (8 * b);
			EXPECT_EQ(want, res.values[k])
				TH_LOG("size %u offset %lu", size,
				       (unsigned long)off);
		}
	}
	/* The request carries the vCPU's id and the region's cookie. */
	EXPECT_EQ(1, self->tr.log[0].vcpu);
	EXPECT_EQ(0, self->tr.log[0].region);
	EXPECT_EQ(DP_COOKIE, self->tr.log[0].cookie);
	EXPECT_EQ(0, self->tr.log[0].reserved0);
	EXPECT_EQ(0, self->tr.log[0].reserved1);
}

struct exit_count {
	unsigned int n;
	uint64_t addr;
};

static int count_exit(struct kvm_guest *kg, int vcpu, struct kg_access *acc,
		      void *opaque)
{
	struct exit_count *e = opaque;

	(void)kg;
	(void)vcpu;
	e->n++;
	e->addr = acc->addr;
	acc->data = 0x5a5a5a5a;
	return 0;
}

/* An access that crosses the region's end is not claimed: it exits. */
TEST_F(dp, straddling_access_not_claimed)
{
	struct exit_count e = { 0 };
	struct kg_cmd c = cmd(KG_OP_READ, variant->space,
			      self->base + REGION_SIZE - 2, 4, 1, 0, 0);
	struct kg_result res;

	ASSERT_EQ(0, start_remote(self, variant));
	kg_set_exit_handler(self->kg, count_exit, &e);
	ASSERT_EQ(0, kg_run(self->kg, 0, &c, &res));
	EXPECT_EQ(1, e.n);
	EXPECT_EQ(self->base + REGION_SIZE - 2, e.addr);
	EXPECT_EQ(0x5a5a5a5a, res.xor);
	/* One byte before the end is still ours. */
	c = cmd(KG_OP_READ, variant->space, self->base + REGION_SIZE - 1, 1,
		1, 0, 0);
	ASSERT_EQ(0, kg_run(self->kg, 0, &c, &res));
	EXPECT_EQ(1, e.n);
	EXPECT_EQ(1, self->tr.nreq);
}

/* Posted writes complete with nobody serving; they arrive later, in order. */
TEST_F(dp, posted_writes_need_no_remote)
{
	struct kg_cmd c = cmd(KG_OP_WRITE, variant->space, self->base, 4, 200,
			      1000, 1);
	struct kg_result res;
	uint64_t t0 = now_ns(), i;

	ASSERT_EQ(0, kg_run(self->kg, 0, &c, &res));
	EXPECT_EQ(200, res.done);
	/* Far below one deadline: nothing waited for an answer. */
	EXPECT_GT(LONG_NS, now_ns() - t0);
	ASSERT_EQ(0, start_remote(self, variant));
	ASSERT_TRUE(tr_wait_requests(&self->tr, 200, 2000));
	for (i = 0; i < 200; i++) {
		EXPECT_EQ(1000 + i, self->tr.log[i].data);
		EXPECT_EQ(MPDEV_REQ_WRITE, self->tr.log[i].flags);
	}
	EXPECT_EQ(MPDEV_STATE_OK, info_of(self->ctl).state);
}

struct runner {
	struct kvm_guest *kg;
	int vcpu;
	struct kg_cmd cmd;
	struct kg_result res;
	uint64_t values[64];
	int ret;
	uint64_t ns;
	pthread_t thread;
};

static void *run_thread(void *arg)
{
	struct runner *r = arg;
	uint64_t t0 = now_ns();
	uint64_t i;

	r->ret = kg_run(r->kg, r->vcpu, &r->cmd, &r->res);
	r->ns = now_ns() - t0;
	/* Copy values out: they live in guest memory until the next run. */
	for (i = 0; !r->ret && i < r->res.nr_values && i < 64; i++)
		r->values[i] = r->res.values[i];
	return NULL;
}

static void run_async(struct runner *r, struct kvm_guest *kg, int vcpu,
		      struct kg_cmd c)
{
	memset(r, 0, sizeof(*r));
	r->kg = kg;
	r->vcpu = vcpu;
	r->cmd = c;
	pthread_create(&r->thread, NULL, run_thread, r);
}

/* A full ring holds the vCPU back (bounded) until the remote catches up. */
TEST_F(dp, queue_full_waits_for_room)
{
	const uint64_t n = self->ring.entries + 44;
	struct runner r;
	struct mpdev_info info;
	uint64_t i;

	ASSERT_EQ(0, mpdev_set_params(self->ctl, 5000ULL * 1000 * 1000, 0));
	run_async(&r, self->kg, 0, cmd(KG_OP_WRITE, variant->space,
				       self->base + 8, 2, n, 0, 1));
	usleep(300 * 1000);
	info = info_of(self->ctl);
	EXPECT_EQ(1, info.counters.queue_full_waits);
	EXPECT_EQ(MPDEV_STATE_OK, info.state);
	ASSERT_EQ(0, start_remote(self, variant));
	pthread_join(r.thread, NULL);
	ASSERT_EQ(0, r.ret);
	EXPECT_EQ(n, r.res.done);
	ASSERT_TRUE(tr_wait_requests(&self->tr, n, 2000));
	for (i = 0; i < n; i++) {
		ASSERT_EQ(i & 0xffff, self->tr.log[i].data);
	}
	EXPECT_EQ(MPDEV_STATE_OK, info_of(self->ctl).state);
}

/* PCI ordering: every read follows the writes issued before it. */
TEST_F(dp, read_never_passes_write)
{
	struct kg_cmd c = cmd(KG_OP_MIXED, variant->space, self->base + 16, 4,
			      100, 7, 3);
	struct kg_result res;
	uint64_t i;

	ASSERT_EQ(0, start_remote(self, variant));
	self->tr.b.delay_us = 200;
	ASSERT_EQ(0, kg_run(self->kg, 0, &c, &res));
	EXPECT_EQ(0, res.mismatches);
	ASSERT_TRUE(tr_wait_requests(&self->tr, 200, 2000));
	for (i = 0; i < 200; i++) {
		const struct mpdev_request *q = &self->tr.log[i];

		EXPECT_EQ(i % 2 ? MPDEV_REQ_NEEDS_REPLY : MPDEV_REQ_WRITE,
			  q->flags);
		if (!(i % 2))
			EXPECT_EQ(7 + (i / 2) * 3, q->data);
	}
}

/* Two vCPUs with reads in flight at once, answered out of order. */
TEST_F(dp, two_vcpus_reads_in_flight_out_of_order)
{
	struct runner r[2];
	int v;

	ASSERT_EQ(0, start_remote(self, variant));
	self->tr.b.batch_reverse = 2;
	self->tr.mem[0][0x20] = 0x11;
	self->tr.mem[0][0x40] = 0x22;
	for (v = 0; v < 2; v++) {
		struct kg_cmd c = cmd(KG_OP_READ, variant->space,
				      self->base + 0x20 * (v + 1), 1, 1, 0, 0);

		c.flags = KG_F_VALUES;
		run_async(&r[v], self->kg, v, c);
	}
	for (v = 0; v < 2; v++) {
		pthread_join(r[v].thread, NULL);
		ASSERT_EQ(0, r[v].ret);
	}
	EXPECT_EQ(0x11, r[0].values[0]);
	EXPECT_EQ(0x22, r[1].values[0]);
	EXPECT_LE(2, self->tr.max_outstanding);
	EXPECT_EQ(MPDEV_STATE_OK, info_of(self->ctl).state);
	/* A slot per vCPU that waited. */
	EXPECT_EQ(2, info_of(self->ctl).nr_slots);
}

/*
 * Stress: both vCPUs write sequences and read them back for a bounded
 * time; the remote's log must hold each vCPU's writes exactly once, in
 * order, and every read-back must match.
 */
TEST_F_TIMEOUT(dp, stress_two_vcpus_integrity, 240)
{
	const uint64_t n = 1000;
	uint64_t next[2] = { 0, 0 }, i, t0 = now_ns();
	unsigned int rounds = 0;
	bool ok = true;

	ASSERT_EQ(0, start_remote(self, variant));
	/* Bounded: at most 10 rounds or 10 s, whichever comes first. */
	while (rounds < 10 && now_ns() - t0 < 10ULL * 1000 * 1000 * 1000) {
		struct runner r[2];
		int v;

		for (v = 0; v < 2; v++)
			run_async(&r[v], self->kg, v,
				  cmd(KG_OP_MIXED, variant->space,
				      self->base + 8 * v, 4,
				      n, (v << 24) | (rounds * n), 1));
		for (v = 0; v < 2; v++) {
			pthread_join(r[v].thread, NULL);
			ASSERT_EQ(0, r[v].ret);
			ASSERT_EQ(0, r[v].res.mismatches)
				TH_LOG("vCPU %d round %u, first bad iteration %lu, context fail reason %u",
				       v, rounds,
				       (unsigned long)r[v].res.first_mismatch,
				       info_of(self->ctl).fail_reason);
		}
		rounds++;
	}
	ASSERT_TRUE(tr_wait_requests(&self->tr, rounds * n * 4, 5000));
	EXPECT_EQ(rounds * n * 4, self->tr.nreq);
	for (i = 0; i < self->tr.nlog; i++) {
		const struct mpdev_request *q = &self->tr.log[i];
		int v = q->vcpu;

		if (!(q->flags & MPDEV_REQ_WRITE))
			continue;
		if (v > 1 || q->offset != 8ULL * v ||
		    q->data != ((uint64_t)v << 24 | next[v])) {
			ok = false;
			TH_LOG("entry %lu: vcpu %d offset %lu data %#lx, want %#lx",
			       (unsigned long)i, v, (unsigned long)q->offset,
			       (unsigned long)q->data,
			       (unsigned long)((uint64_t)v << 24 | next[v]));
			break;
		}
		next[v]++;
	}
	EXPECT_TRUE(ok);
	EXPECT_EQ(rounds * n, next[0]);
	EXPECT_EQ(rounds * n, next[1]);
	TH_LOG("%u rounds, %lu accesses in %lu ms", rounds,
	       (unsigned long)(rounds * n * 4),
	       (unsigned long)((now_ns() - t0) / 1000000));
}

/*
 * Spin budget 0 sleeps at once: the ring remote must kick, and does.  The
 * largest spin budget (MPDEV_MAX_SPIN_NS) with quicker answers takes the
 * spinning path.
 */
TEST_F(dp, sleep_path_and_spin_path)
{
	uint64_t spins[] = { 0, MPDEV_MAX_SPIN_NS };
	uint32_t delays[] = { 2000, 100 };
	unsigned int k;

	ASSERT_EQ(0, start_remote(self, variant));
	for (k = 0; k < 2; k++) {
		struct kg_cmd c = cmd(KG_OP_MIXED, variant->space, self->base,
				      2, 20, 0x4242 + k, 1);
		struct kg_result res;

		self->tr.b.delay_us = delays[k];
		ASSERT_EQ(0, mpdev_set_params(self->ctl, LONG_NS,
					      spins[k]));
		ASSERT_EQ(0, kg_run(self->kg, 0, &c, &res));
		EXPECT_EQ(0, res.mismatches);
	}
	EXPECT_EQ(MPDEV_STATE_OK, info_of(self->ctl).state);
}

static void expect_failed(struct __test_metadata *_metadata, int ctl,
			  unsigned int reason)
{
	struct mpdev_info info = info_of(ctl);

	EXPECT_EQ(MPDEV_STATE_FAILED, info.state);
	EXPECT_EQ(reason, info.fail_reason);
}

/* A read nobody answers ends at the deadline with all-ones. */
TEST_F(dp, deadline_gives_all_ones)
{
	struct kg_cmd c = cmd(KG_OP_READ, variant->space, self->base, 4, 1, 0,
			      0);
	struct kg_result res;
	struct mpdev_info info;
	uint64_t t0, dt;

	ASSERT_EQ(0, mpdev_set_params(self->ctl, DEADLINE_NS, 20000));
	ASSERT_EQ(0, start_remote(self, variant));
	self->tr.b.stall = true;
	t0 = now_ns();
	ASSERT_EQ(0, kg_run(self->kg, 0, &c, &res));
	dt = now_ns() - t0;
	EXPECT_EQ(0xffffffffULL, res.xor);
	EXPECT_LE(DEADLINE_NS, dt);
	EXPECT_GT(DEADLINE_NS + SLACK_NS, dt);
	TH_LOG("deadline %lu ms, the read took %lu ms",
	       (unsigned long)(DEADLINE_NS / 1000000),
	       (unsigned long)(dt / 1000000));
	info = info_of(self->ctl);
	EXPECT_EQ(MPDEV_FAIL_TIMEOUT, info.fail_reason);
	EXPECT_EQ(1, info.counters.timeouts);

	/* Afterwards: all-ones at once, writes dropped, remote sees EOF. */
	t0 = now_ns();
	c.count = 10;
	ASSERT_EQ(0, kg_run(self->kg, 0, &c, &res));
	EXPECT_GT(DEADLINE_NS / 2, now_ns() - t0);
	EXPECT_EQ(0, res.xor);	/* ten times all-ones XORed */
	EXPECT_EQ(10ULL * 0xffffffff, res.sum);
	c = cmd(KG_OP_WRITE, variant->space, self->base, 4, 5, 1, 1);
	ASSERT_EQ(0, kg_run(self->kg, 0, &c, &res));
	info = info_of(self->ctl);
	EXPECT_EQ(15, info.counters.failed_accesses);
	EXPECT_TRUE(tr_wait_eof(&self->tr, 2000));
	EXPECT_EQ(1, self->tr.nreq);
}

/* A non-posted region makes writes wait for the answer. */
TEST_F(dp, nonposted_write_waits_for_answer)
{
	uint64_t base2 = self->base + REGION_SIZE;
	struct kg_cmd c = cmd(KG_OP_WRITE, variant->space, base2, 4, 3, 9, 1);
	struct kg_result res;
	uint64_t t0;

	ASSERT_EQ(0, mpdev_add(self->ctl, 1, variant->space, base2, 64,
			       MPDEV_REGION_NONPOSTED));
	ASSERT_EQ(0, start_remote(self, variant));
	ASSERT_EQ(0, kg_run(self->kg, 0, &c, &res));
	ASSERT_TRUE(tr_wait_requests(&self->tr, 3, 1000));
	EXPECT_EQ(MPDEV_REQ_WRITE | MPDEV_REQ_NEEDS_REPLY,
		  self->tr.log[0].flags);
	EXPECT_EQ(1, self->tr.log[0].region);
	/* The vCPU may see an answer before the remote counts it as sent. */
	for (t0 = now_ns(); self->tr.ncpl < 3 && now_ns() - t0 < 2000000000ULL;)
		usleep(1000);
	EXPECT_EQ(3, self->tr.ncpl);
	/* With nobody answering, the write runs into the deadline. */
	ASSERT_EQ(0, mpdev_set_params(self->ctl, DEADLINE_NS, 20000));
	self->tr.b.stall = true;
	t0 = now_ns();
	ASSERT_EQ(0, kg_run(self->kg, 0, &c, &res));
	EXPECT_LE(DEADLINE_NS, now_ns() - t0);
	expect_failed(_metadata, self->ctl, MPDEV_FAIL_TIMEOUT);
}

/* The remote dies with a read outstanding: all-ones long before deadline. */
TEST_F(dp, remote_killed_mid_read)
{
	struct kg_cmd c = cmd(KG_OP_READ, variant->space, self->base, 2, 1, 0,
			      0);
	struct kg_result res;
	uint64_t t0, dt;
	int status;
	pid_t pid;

	ASSERT_EQ(0, mpdev_set_params(self->ctl, 10ULL * 1000 * 1000 * 1000,
				      0));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		ssize_t n = self->ring.req_entry_size;
		char q[4096];

		/* Take the request, then die without answering. */
		if (n > (ssize_t)sizeof(q) || read(self->backend, q, n) != n)
			_exit(1);
		kill(getpid(), SIGKILL);
		_exit(2);
	}
	close(self->backend);	/* the child holds the only copy now */
	self->backend = -1;
	t0 = now_ns();
	ASSERT_EQ(0, kg_run(self->kg, 0, &c, &res));
	dt = now_ns() - t0;
	EXPECT_EQ(0xffff, res.xor);
	EXPECT_GT(5ULL * 1000 * 1000 * 1000, dt);
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFSIGNALED(status));
	expect_failed(_metadata, self->ctl, MPDEV_FAIL_BACKEND_CLOSED);
}

/* Waits up to @ms for the context to fail; returns its info. */
static struct mpdev_info wait_failed(int ctl, int ms)
{
	uint64_t end = now_ns() + ms * 1000000ULL;
	struct mpdev_info info = info_of(ctl);

	while (info.state != MPDEV_STATE_FAILED && now_ns() < end) {
		usleep(1000);
		info = info_of(ctl);
	}
	return info;
}

/*
 * The remote answers the one read with a malformed completion that it
 * publishes alone, in place of the valid answer (mpdev_util.h): the vCPU
 * can only ever see the bad one, so it reads all-ones every time, never
 * the device's 0x12.
 */
static void malformed_case(struct __test_metadata *_metadata,
			   FIXTURE_DATA(dp) *self,
			   const FIXTURE_VARIANT(dp) *variant, int bad)
{
	struct kg_cmd c = cmd(KG_OP_READ, variant->space, self->base, 4, 1, 0,
			      0);
	struct kg_result res;
	struct mpdev_info info;

	ASSERT_EQ(0, start_remote(self, variant));
	self->tr.mem[0][0] = 0x12;
	self->tr.b.bad = bad;
	ASSERT_EQ(0, kg_run(self->kg, 0, &c, &res));
	EXPECT_EQ(0xffffffffULL, res.xor);
	info = info_of(self->ctl);
	EXPECT_EQ(MPDEV_STATE_FAILED, info.state);
	EXPECT_EQ(MPDEV_FAIL_MALFORMED, info.fail_reason);
	EXPECT_EQ(1, info.counters.malformed);
	EXPECT_EQ(0, info.counters.stale_completions);
	EXPECT_EQ(1, self->tr.nreq);
	EXPECT_TRUE(tr_wait_eof(&self->tr, 2000));
}

TEST_F(dp, malformed_unknown_id)
{
	malformed_case(_metadata, self, variant, TR_BAD_ID);
}

TEST_F(dp, malformed_wrong_size)
{
	malformed_case(_metadata, self, variant, TR_BAD_SIZE);
}

TEST_F(dp, malformed_reserved_bits)
{
	malformed_case(_metadata, self, variant, TR_BAD_RESERVED);
}

TEST_F(dp, malformed_write_length)
{
	if (variant->mode != TR_BLOCKING)
		SKIP(return, "write() lengths are a blocking-mode matter");
	malformed_case(_metadata, self, variant, TR_BAD_WRITE_LEN);
	EXPECT_EQ(EINVAL, self->tr.error);
}

TEST_F(dp, malformed_completion_index)
{
	if (variant->mode != TR_RING)
		SKIP(return, "ring indices are a ring-mode matter");
	malformed_case(_metadata, self, variant, TR_BAD_CPL_INDEX);
}

/*
 * A second answer to a request that was already answered.  Both go out in
 * one write() or one cpl_head store, so the kernel sees them together; the
 * vCPU may get the first (valid) one, and the context fails either way.
 */
TEST_F(dp, malformed_duplicate_answer)
{
	struct kg_cmd c = cmd(KG_OP_READ, variant->space, self->base, 4, 1, 0,
			      0);
	struct kg_result res;
	struct mpdev_info info;

	ASSERT_EQ(0, start_remote(self, variant));
	self->tr.mem[0][0] = 0x12;
	self->tr.b.bad = TR_BAD_DUPLICATE;
	ASSERT_EQ(0, kg_run(self->kg, 0, &c, &res));
	EXPECT_TRUE(res.xor == 0x12 || res.xor == 0xffffffffULL)
		TH_LOG("read %#lx", (unsigned long)res.xor);
	/* The vCPU can be back before the duplicate is looked at. */
	info = wait_failed(self->ctl, 2000);
	EXPECT_EQ(MPDEV_STATE_FAILED, info.state);
	EXPECT_EQ(MPDEV_FAIL_MALFORMED, info.fail_reason);
	EXPECT_EQ(1, info.counters.malformed);
	EXPECT_EQ(0, info.counters.stale_completions);
	EXPECT_TRUE(tr_wait_eof(&self->tr, 2000));
}

TEST_F(dp, malformed_request_tail)
{
	struct kg_cmd c = cmd(KG_OP_WRITE, variant->space, self->base, 4, 1, 1,
			      0);
	struct kg_result res;
	int i;

	if (variant->mode != TR_RING)
		SKIP(return, "ring indices are a ring-mode matter");
	ASSERT_EQ(0, start_remote(self, variant));
	self->tr.b.bad = TR_BAD_REQ_TAIL;
	/*
	 * The remote forges req_tail in the very store that hands the first
	 * write back (never before it arrives); the second write sees it.
	 */
	ASSERT_EQ(0, kg_run(self->kg, 0, &c, &res));
	ASSERT_TRUE(tr_wait_requests(&self->tr, 1, 1000));
	for (i = 0; self->tr.b.bad && i < 1000; i++)
		usleep(1000);
	ASSERT_EQ(TR_BAD_NONE, self->tr.b.bad);
	ASSERT_EQ(0, kg_run(self->kg, 0, &c, &res));
	expect_failed(_metadata, self->ctl, MPDEV_FAIL_MALFORMED);
	EXPECT_EQ(1, info_of(self->ctl).counters.malformed);
	EXPECT_EQ(1, self->tr.nreq);
}

/*
 * Removing a region under a waiting read answers it with all-ones; nothing
 * fails, and the remote's late answer to it is stale: ignored and counted.
 */
TEST_F(dp, remove_region_with_read_in_flight)
{
	struct kg_cmd c = cmd(KG_OP_READ, variant->space, self->base + 4, 4, 1,
			      0, 0);
	struct kg_result res;
	struct runner r;
	struct mpdev_info info;
	uint64_t id, t0;

	ASSERT_EQ(0, mpdev_set_params(self->ctl, 10ULL * 1000 * 1000 * 1000,
				      0));
	ASSERT_EQ(0, start_remote(self, variant));
	self->tr.mem[0][4] = 0x5a;
	self->tr.b.hold = true;
	run_async(&r, self->kg, 0, c);
	ASSERT_TRUE(tr_wait_held(&self->tr, 1, 2000));
	ASSERT_EQ(1, tr_held_ids(&self->tr, &id, 1));
	t0 = now_ns();
	ASSERT_EQ(0, mpdev_del(self->ctl, 0));
	pthread_join(r.thread, NULL);
	ASSERT_EQ(0, r.ret);
	EXPECT_EQ(0xffffffffULL, r.res.xor);
	EXPECT_GT(5ULL * 1000 * 1000 * 1000, now_ns() - t0);
	/* The late answer to the aborted read is not an error. */
	self->tr.b.hold = false;
	EXPECT_EQ(0, tr_release(&self->tr, id));
	info = info_of(self->ctl);
	EXPECT_EQ(MPDEV_STATE_OK, info.state);
	EXPECT_EQ(0, info.counters.malformed);
	EXPECT_EQ(1, info.counters.stale_completions);
	EXPECT_EQ(0, info.nr_regions);
	/* Re-added, the region serves again. */
	ASSERT_EQ(0, mpdev_add(self->ctl, 0, variant->space, self->base,
			       REGION_SIZE, 0));
	c = cmd(KG_OP_MIXED, variant->space, self->base, 4, 5, 77, 1);
	ASSERT_EQ(0, kg_run(self->kg, 0, &c, &res));
	EXPECT_EQ(0, res.mismatches);
	EXPECT_EQ(0, res.exits);
	info = info_of(self->ctl);
	EXPECT_EQ(MPDEV_STATE_OK, info.state);
	EXPECT_EQ(1, info.counters.stale_completions);
	EXPECT_EQ(0, self->tr.error);
}

struct del_exits {
	uint64_t n, first, last;
	bool gap;
};

/* Counts the writes that exit once the region is gone; stops after 20. */
static int del_exit(struct kvm_guest *kg, int vcpu, struct kg_access *acc,
		    void *opaque)
{
	struct del_exits *e = opaque;

	(void)kg;
	(void)vcpu;
	if (!acc->is_write)
		return -EPROTO;
	if (e->n && acc->data != e->last + 1)
		e->gap = true;
	if (!e->n)
		e->first = acc->data;
	e->last = acc->data;
	return ++e->n < 20 ? 0 : -ECANCELED;
}

/*
 * DEL_REGION does not wait for vCPUs, but once it returns the remote gets
 * no new request of the region: every request it ever gets was queued
 * (req_head) before the call returned.  A vCPU streams posted writes
 * 0, 1, 2... into the region meanwhile; those after the removal exit to
 * the VMM, and at most the one in flight during the call is lost.
 */
TEST_F_TIMEOUT(dp, del_region_no_request_after_return, 120)
{
	struct kg_cmd c = cmd(KG_OP_WRITE, variant->space, self->base + 8, 4,
			      100000000, 0, 1);
	struct mpdev_ring_map map;
	struct del_exits e = { 0 };
	struct runner r;
	uint32_t head;
	uint64_t i;

	ASSERT_EQ(0, start_remote(self, variant));
	/* A view of req_head, whatever the remote's mode. */
	ASSERT_EQ(0, mpdev_ring_map(self->tr.fd, &map, PROT_READ));
	kg_set_exit_handler(self->kg, del_exit, &e);
	run_async(&r, self->kg, 0, c);
	ASSERT_TRUE(tr_wait_requests(&self->tr, 200, 20000));
	ASSERT_EQ(0, mpdev_del(self->ctl, 0));
	head = __atomic_load_n(&map.hdr->req_head, __ATOMIC_ACQUIRE);
	pthread_join(r.thread, NULL);
	mpdev_ring_unmap(&map);
	EXPECT_EQ(-ECANCELED, r.ret) TH_LOG("%s", kg_strerror(self->kg, 0));
	EXPECT_EQ(20, e.n);
	EXPECT_FALSE(e.gap);
	/* Everything queued before the return arrives, nothing after it. */
	ASSERT_TRUE(tr_wait_requests(&self->tr, head, 5000));
	usleep(100 * 1000);
	EXPECT_EQ(head, self->tr.nreq);
	ASSERT_LE(self->tr.nreq, self->tr.caplog);
	for (i = 0; i < self->tr.nreq; i++) {
		ASSERT_EQ(i, self->tr.log[i].data) TH_LOG("request %lu",
							  (unsigned long)i);
		ASSERT_EQ(0, self->tr.log[i].region);
	}
	/* The writes after the removal went to the VMM, at most one lost. */
	EXPECT_LE(self->tr.nreq, e.first);
	EXPECT_GE(self->tr.nreq + 1, e.first);
	TH_LOG("%lu writes served, the VMM took them from %lu",
	       (unsigned long)self->tr.nreq, (unsigned long)e.first);
	EXPECT_EQ(MPDEV_STATE_OK, info_of(self->ctl).state);
}

/*
 * A 16-entry ring (the smallest) wraps around many times under two vCPUs
 * doing writes and reads at once: the remote finds every entry by the
 * geometry the kernel reported.
 */
TEST_F_TIMEOUT(dp, small_ring_wraps, 120)
{
	const uint64_t base2 = self->base + 2 * REGION_SIZE;
	struct mpdev_ring_info ri;
	struct mpdev_info info;
	struct runner r[2];
	struct tr tr2;
	int ctl2, b2, v;

	ctl2 = mpdev_open();
	ASSERT_LE(0, ctl2);
	ASSERT_EQ(0, mpdev_attach(ctl2, kg_vm_fd(self->kg)));
	ASSERT_EQ(0, mpdev_set_params(ctl2, LONG_NS, 20000));
	b2 = mpdev_backend_ring(ctl2, 0, MPDEV_RING_MIN_ENTRIES, &ri);
	ASSERT_LE(0, b2);
	EXPECT_EQ(MPDEV_RING_MIN_ENTRIES, ri.entries);
	ASSERT_EQ(0, mpdev_add(ctl2, 3, variant->space, base2, REGION_SIZE,
			       0));
	ASSERT_EQ(0, tr_start(&tr2, b2, variant->mode, 0));
	EXPECT_EQ(MPDEV_RING_MIN_ENTRIES, tr2.entries);
	for (v = 0; v < 2; v++)
		run_async(&r[v], self->kg, v,
			  cmd(KG_OP_MIXED, variant->space, base2 + 8 * v, 4,
			      300, v << 20, 1));
	for (v = 0; v < 2; v++) {
		pthread_join(r[v].thread, NULL);
		EXPECT_EQ(0, r[v].ret);
		EXPECT_EQ(300, r[v].res.done);
		EXPECT_EQ(0, r[v].res.mismatches);
	}
	EXPECT_TRUE(tr_wait_requests(&tr2, 4 * 300, 2000));
	EXPECT_EQ(4 * 300, tr2.nreq);
	EXPECT_EQ(0, tr2.error);
	info = info_of(ctl2);
	EXPECT_EQ(MPDEV_STATE_OK, info.state);
	EXPECT_EQ(MPDEV_RING_MIN_ENTRIES, info.ring_entries);
	EXPECT_EQ(2 * 300, info.counters.reads);
	tr_stop(&tr2, true);
	close(ctl2);
}

/* After the region is removed, the guest's access is KVM's business again. */
TEST_F(dp, removed_region_exits_to_vmm)
{
	struct exit_count e = { 0 };
	struct kg_cmd c = cmd(KG_OP_READ, variant->space, self->base, 4, 1, 0,
			      0);
	struct kg_result res;

	ASSERT_EQ(0, start_remote(self, variant));
	ASSERT_EQ(0, mpdev_del(self->ctl, 0));
	EXPECT_EQ(-ENOENT, mpdev_del(self->ctl, 0));
	kg_set_exit_handler(self->kg, count_exit, &e);
	ASSERT_EQ(0, kg_run(self->kg, 0, &c, &res));
	EXPECT_EQ(1, e.n);
	EXPECT_EQ(0, self->tr.nreq);
}

/* ---- close and exit in every order ---- */

/* Backend closed first: accesses get all-ones at once; the rest closes. */
TEST_F(dp, close_backend_first)
{
	struct kg_cmd c = cmd(KG_OP_READ, variant->space, self->base, 4, 3, 0,
			      0);
	struct kg_result res;

	close(self->backend);
	self->backend = -1;
	ASSERT_EQ(0, kg_run(self->kg, 0, &c, &res));
	EXPECT_EQ(3ULL * 0xffffffff, res.sum);
	expect_failed(_metadata, self->ctl, MPDEV_FAIL_BACKEND_CLOSED);
	close(self->ctl);
	self->ctl = -1;
	kg_destroy(self->kg);
	self->kg = NULL;
}

/* The VMM goes first: the remote sees end of file; the VM is released. */
TEST_F(dp, close_vmm_first)
{
	ASSERT_EQ(0, start_remote(self, variant));
	close(self->ctl);
	self->ctl = -1;
	kg_destroy(self->kg);
	self->kg = NULL;
	EXPECT_TRUE(tr_wait_eof(&self->tr, 2000));
}

/* VM fds closed first: our reference keeps it valid until the VMM leaves. */
TEST_F(dp, close_vm_first)
{
	struct mpdev_info info;

	ASSERT_EQ(0, start_remote(self, variant));
	kg_destroy(self->kg);
	self->kg = NULL;
	info = info_of(self->ctl);
	EXPECT_EQ(MPDEV_STATE_OK, info.state);
	EXPECT_EQ(1, info.vm_attached);
	EXPECT_EQ(0, mpdev_del(self->ctl, 0));
	close(self->ctl);
	self->ctl = -1;
	EXPECT_TRUE(tr_wait_eof(&self->tr, 2000));
}

/* VMM closes while a vCPU waits on a read: the read ends with all-ones. */
TEST_F(dp, close_vmm_with_read_in_flight)
{
	struct kg_cmd c = cmd(KG_OP_READ, variant->space, self->base, 1, 1, 0,
			      0);
	struct runner r;

	ASSERT_EQ(0, mpdev_set_params(self->ctl, 10ULL * 1000 * 1000 * 1000,
				      0));
	ASSERT_EQ(0, start_remote(self, variant));
	self->tr.b.stall = true;
	run_async(&r, self->kg, 0, c);
	ASSERT_TRUE(tr_wait_requests(&self->tr, 1, 2000));
	close(self->ctl);
	self->ctl = -1;
	pthread_join(r.thread, NULL);
	ASSERT_EQ(0, r.ret);
	EXPECT_EQ(0xff, r.res.xor);
	EXPECT_GT(5ULL * 1000 * 1000 * 1000, r.ns);
	EXPECT_TRUE(tr_wait_eof(&self->tr, 2000));
}

/* ---- ABI validation, no guest code needed ---- */

FIXTURE(abi) {
	struct kvm_guest *kg;
	int ctl;
};

FIXTURE_SETUP(abi)
{
	const char *why;

	self->ctl = -1;
	if (!kg_kvm_usable(&why))
		SKIP(return, "no usable KVM: %s", why);
	self->kg = kg_create(1);
	ASSERT_NE(NULL, self->kg);
	self->ctl = mpdev_open();
	ASSERT_LE(0, self->ctl);
}

FIXTURE_TEARDOWN(abi)
{
	if (self->ctl >= 0)
		close(self->ctl);
	if (self->kg)
		kg_destroy(self->kg);
}

TEST_F(abi, attach_checks_the_fd)
{
	struct mpdev_attach_vm a = { .vm_fd = kg_vm_fd(self->kg), .flags = 1 };
	int null = open("/dev/null", O_RDWR), b;

	EXPECT_EQ(-EBADF, mpdev_attach(self->ctl, 999));
	EXPECT_EQ(-EINVAL, mpdev_attach(self->ctl, null));
	/* A vCPU fd is KVM's too, but not a VM. */
	EXPECT_EQ(-EINVAL, mpdev_attach(self->ctl, kg_vcpu_fd(self->kg, 0)));
	EXPECT_EQ(-1, ioctl(self->ctl, MPDEV_ATTACH_VM, &a));
	EXPECT_EQ(EINVAL, errno);
	a.flags = 0;
	a.reserved[1] = 1;
	EXPECT_EQ(-1, ioctl(self->ctl, MPDEV_ATTACH_VM, &a));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-ENOTCONN, mpdev_add(self->ctl, 0, MPDEV_SPACE_MMIO,
				       MMIO_BASE, 64, 0));
	EXPECT_EQ(0, mpdev_attach(self->ctl, kg_vm_fd(self->kg)));
	EXPECT_EQ(-EBUSY, mpdev_attach(self->ctl, kg_vm_fd(self->kg)));
	/* A VM but no backend yet: still not connected. */
	EXPECT_EQ(-ENOTCONN, mpdev_add(self->ctl, 0, MPDEV_SPACE_MMIO,
				       MMIO_BASE, 64, 0));
	b = mpdev_backend(self->ctl, 0);
	ASSERT_LE(0, b);
	EXPECT_EQ(0, mpdev_add(self->ctl, 0, MPDEV_SPACE_MMIO, MMIO_BASE, 64,
			       0));
	close(b);
	close(null);
}

TEST_F(abi, region_rules)
{
	struct mpdev_region r = { .addr = MMIO_BASE, .size = 64 };
	uint64_t one = 1;
	int efd, b;

	ASSERT_EQ(0, mpdev_attach(self->ctl, kg_vm_fd(self->kg)));
	b = mpdev_backend(self->ctl, 0);
	ASSERT_LE(0, b);
	EXPECT_EQ(-EINVAL, mpdev_add(self->ctl, 0, MPDEV_SPACE_MMIO,
				     MMIO_BASE, 0, 0));
	EXPECT_EQ(-EINVAL, mpdev_add(self->ctl, 0, 7, MMIO_BASE, 64, 0));
	EXPECT_EQ(-EINVAL, mpdev_add(self->ctl, 0, MPDEV_SPACE_MMIO,
				     MMIO_BASE, 64, 0x8000));
	EXPECT_EQ(-EINVAL, mpdev_add(self->ctl, 0, MPDEV_SPACE_PIO, 0xfff0,
				     0x20, 0));
	EXPECT_EQ(-EINVAL, mpdev_add(self->ctl, 0, MPDEV_SPACE_MMIO, ~0ULL - 8,
				     64, 0));
	r.reserved[1] = 1;
	EXPECT_EQ(-1, ioctl(self->ctl, MPDEV_ADD_REGION, &r));
	EXPECT_EQ(EINVAL, errno);
	/* Any cookie will do. */
	EXPECT_EQ(0, mpdev_add_cookie(self->ctl, 0, MPDEV_SPACE_MMIO, MMIO_BASE,
				      0x1000, 0, ~0ULL));
	/* Same id, overlapping range, range inside: all refused. */
	EXPECT_EQ(-EEXIST, mpdev_add(self->ctl, 0, MPDEV_SPACE_MMIO,
				     MMIO_BASE + 0x10000, 64, 0));
	EXPECT_EQ(-EEXIST, mpdev_add(self->ctl, 1, MPDEV_SPACE_MMIO,
				     MMIO_BASE + 0xff0, 0x20, 0));
	EXPECT_EQ(-EEXIST, mpdev_add(self->ctl, 1, MPDEV_SPACE_MMIO,
				     MMIO_BASE + 0x10, 4, 0));
	/* Same addresses on the other bus are fine. */
	EXPECT_EQ(0, mpdev_add(self->ctl, 1, MPDEV_SPACE_PIO, 0x1000, 0x10,
			       0));
	/* Another device (an ioeventfd) on the bus is respected too. */
	efd = kg_ioeventfd(self->kg, KG_SPACE_MMIO, MMIO_BASE + 0x2000, 4,
			   &one);
	ASSERT_LE(0, efd);
	EXPECT_EQ(-EEXIST, mpdev_add(self->ctl, 2, MPDEV_SPACE_MMIO,
				     MMIO_BASE + 0x1000, 0x2000, 0));
	EXPECT_EQ(0, mpdev_add(self->ctl, 2, MPDEV_SPACE_MMIO,
			       MMIO_BASE + 0x3000, 0x1000, 0));
	EXPECT_EQ(-ENOENT, mpdev_del(self->ctl, 9));
	/* DEL_REGION looks at the id only; the rest must be 0. */
	memset(&r, 0, sizeof(r));
	r.size = 1;
	EXPECT_EQ(-1, ioctl(self->ctl, MPDEV_DEL_REGION, &r));
	EXPECT_EQ(EINVAL, errno);
	r.size = 0;
	r.cookie = 1;
	EXPECT_EQ(-1, ioctl(self->ctl, MPDEV_DEL_REGION, &r));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(3, info_of(self->ctl).nr_regions);
	EXPECT_EQ(0, mpdev_del(self->ctl, 0));
	EXPECT_EQ(0, mpdev_del(self->ctl, 1));
	EXPECT_EQ(0, mpdev_del(self->ctl, 2));
	EXPECT_EQ(0, info_of(self->ctl).nr_regions);
	kg_ioeventfd_del(self->kg, efd, KG_SPACE_MMIO, MMIO_BASE + 0x2000, 4,
			 &one);
	close(efd);
	close(b);
}

TEST_F(abi, params_rules)
{
	struct mpdev_params p;

	ASSERT_EQ(0, mpdev_get_params(self->ctl, &p));
	EXPECT_EQ(2000000000ULL, p.deadline_ns);
	EXPECT_EQ(50000ULL, p.spin_ns);
	EXPECT_EQ(10000000ULL, p.intr_ns);
	EXPECT_EQ(0ULL, p.reserved[0] | p.reserved[1] | p.reserved[2]);
	/* Deadline in [1 ms, 60 s]. */
	EXPECT_EQ(-EINVAL, mpdev_set_params(self->ctl, MPDEV_MIN_DEADLINE_NS - 1,
					    0, 0));
	EXPECT_EQ(-EINVAL, mpdev_set_params(self->ctl,
					    MPDEV_MAX_DEADLINE_NS + 1, 0, 0));
	/* Spinning at most 1 ms, whatever the deadline. */
	EXPECT_EQ(-EINVAL, mpdev_set_params(self->ctl, 10000000ULL,
					    MPDEV_MAX_SPIN_NS + 1, 0));
	EXPECT_EQ(-EINVAL, mpdev_set_params(self->ctl, MPDEV_MAX_DEADLINE_NS,
					    MPDEV_MAX_DEADLINE_NS, 0));
	/* The signal grace period within the deadline. */
	EXPECT_EQ(-EINVAL, mpdev_set_params(self->ctl, 3000000ULL, 0,
					    3000001ULL));
	p.deadline_ns = 3000000ULL;
	p.spin_ns = 0;
	p.intr_ns = 0;
	p.reserved[2] = 1;
	EXPECT_EQ(-1, ioctl(self->ctl, MPDEV_SET_PARAMS, &p));
	EXPECT_EQ(EINVAL, errno);
	/* Refused calls changed nothing. */
	ASSERT_EQ(0, mpdev_get_params(self->ctl, &p));
	EXPECT_EQ(2000000000ULL, p.deadline_ns);
	EXPECT_EQ(50000ULL, p.spin_ns);
	EXPECT_EQ(10000000ULL, p.intr_ns);
	/* The limits themselves are fine. */
	EXPECT_EQ(0, mpdev_set_params(self->ctl, MPDEV_MIN_DEADLINE_NS,
				      MPDEV_MAX_SPIN_NS, MPDEV_MIN_DEADLINE_NS));
	EXPECT_EQ(0, mpdev_set_params(self->ctl, MPDEV_MAX_DEADLINE_NS, 0, 0));
	EXPECT_EQ(0, mpdev_set_params(self->ctl, 3000000, 0, 1000000));
	ASSERT_EQ(0, mpdev_get_params(self->ctl, &p));
	EXPECT_EQ(3000000ULL, p.deadline_ns);
	EXPECT_EQ(0ULL, p.spin_ns);
	EXPECT_EQ(1000000ULL, p.intr_ns);
	/* The three-argument form keeps intr_ns... */
	EXPECT_EQ(0, mpdev_set_params(self->ctl, 5000000, 1000));
	ASSERT_EQ(0, mpdev_get_params(self->ctl, &p));
	EXPECT_EQ(5000000ULL, p.deadline_ns);
	EXPECT_EQ(1000ULL, p.spin_ns);
	EXPECT_EQ(1000000ULL, p.intr_ns);
	/* ... unless it would exceed the new deadline. */
	EXPECT_EQ(0, mpdev_set_params(self->ctl, MPDEV_MIN_DEADLINE_NS, 0));
	ASSERT_EQ(0, mpdev_get_params(self->ctl, &p));
	EXPECT_EQ(MPDEV_MIN_DEADLINE_NS, p.intr_ns);
}

/* The shared ring's geometry: consistent, page-sized, and what is mapped. */
static void check_geometry(struct __test_metadata *_metadata, int b,
			   const struct mpdev_ring_info *ri, uint32_t entries)
{
	long page = sysconf(_SC_PAGESIZE);
	struct mpdev_ring_info again;
	struct mpdev_ring_map m;

	EXPECT_EQ(entries, ri->entries);
	EXPECT_LE(sizeof(struct mpdev_request), ri->req_entry_size);
	EXPECT_LE(sizeof(struct mpdev_completion), ri->cpl_entry_size);
	EXPECT_EQ(0U, ri->flags);
	EXPECT_EQ(0ULL, ri->reserved[0] | ri->reserved[1] | ri->reserved[2]);
	EXPECT_EQ(0ULL, ri->mmap_size % page);
	/* Header, requests and completions apart and inside the mapping. */
	EXPECT_LE(sizeof(struct mpdev_ring_hdr), ri->req_offset);
	EXPECT_LE(sizeof(struct mpdev_ring_hdr), ri->cpl_offset);
	EXPECT_TRUE(ri->req_offset + (uint64_t)entries * ri->req_entry_size <=
		    ri->cpl_offset ||
		    ri->cpl_offset + (uint64_t)entries * ri->cpl_entry_size <=
		    ri->req_offset);
	EXPECT_GE(ri->mmap_size,
		  ri->req_offset + (uint64_t)entries * ri->req_entry_size);
	EXPECT_GE(ri->mmap_size,
		  ri->cpl_offset + (uint64_t)entries * ri->cpl_entry_size);
	ASSERT_EQ(0, mpdev_get_ring(b, &again));
	EXPECT_EQ(0, memcmp(ri, &again, sizeof(again)));
	ASSERT_EQ(0, mpdev_ring_map(b, &m, PROT_READ | PROT_WRITE));
	EXPECT_EQ(entries, m.hdr->entries);
	EXPECT_EQ(0U, m.hdr->req_head);
	EXPECT_EQ(0U, m.hdr->cpl_tail);
	mpdev_ring_unmap(&m);
}

/* The backend fd serves requests and nothing else. */
TEST_F(abi, backend_cannot_configure)
{
	struct mpdev_region r = { .addr = MMIO_BASE, .size = 64 };
	struct mpdev_attach_vm a = { .vm_fd = kg_vm_fd(self->kg) };
	struct mpdev_features fc, fb;
	struct mpdev_ring_info ri;
	struct mpdev_info info;
	long page = sysconf(_SC_PAGESIZE);
	char small[8], q[4096];
	size_t sz;
	void *m;
	int b;

	ASSERT_EQ(0, mpdev_attach(self->ctl, kg_vm_fd(self->kg)));
	info = info_of(self->ctl);
	EXPECT_EQ(0, info.backend_attached);
	EXPECT_EQ(0, info.ring_entries);
	EXPECT_EQ(0, info.nr_slots);
	EXPECT_LT(0, info.footprint_bytes);
	b = mpdev_backend_ring(self->ctl, MPDEV_BACKEND_NONBLOCK, 0, &ri);
	ASSERT_LE(0, b);
	EXPECT_EQ(-EBUSY, mpdev_backend(self->ctl, 0));
	EXPECT_EQ(-1, ioctl(b, MPDEV_ADD_REGION, &r));
	EXPECT_EQ(EPERM, errno);
	EXPECT_EQ(-1, ioctl(b, MPDEV_ATTACH_VM, &a));
	EXPECT_EQ(EPERM, errno);
	EXPECT_EQ(-1, ioctl(b, MPDEV_GET_INFO, &info));
	EXPECT_EQ(EPERM, errno);
	EXPECT_EQ(-1, ioctl(b, _IO(MPDEV_IOC_MAGIC, 0x3f)));
	EXPECT_EQ(ENOTTY, errno);
	/* Feature discovery works on both fds and says the same. */
	ASSERT_EQ(0, mpdev_features(self->ctl, &fc));
	ASSERT_EQ(0, mpdev_features(b, &fb));
	EXPECT_EQ(0, memcmp(&fc, &fb, sizeof(fc)));
	/* The control fd has no ring. */
	EXPECT_EQ(-ENOTTY, mpdev_get_ring(self->ctl, &ri));
	/* Non-blocking read with nothing queued; too-small buffers. */
	EXPECT_EQ(-1, read(b, q, sizeof(q)));
	EXPECT_EQ(EAGAIN, errno);
	EXPECT_EQ(-1, read(b, small, sizeof(small)));
	EXPECT_EQ(EINVAL, errno);
	/* A zero-length write is no answer and no failure. */
	EXPECT_EQ(0, write(b, small, 0));
	EXPECT_EQ(MPDEV_STATE_OK, info_of(self->ctl).state);
	EXPECT_EQ(0, info_of(self->ctl).counters.malformed);
	/* The ring, as reported, is what can be mapped. */
	ASSERT_EQ(0, mpdev_get_ring(b, &ri));
	check_geometry(_metadata, b, &ri, MPDEV_RING_DEFAULT_ENTRIES);
	sz = ri.mmap_size;
	/* Only the whole ring, at offset 0, shared, never executable. */
	EXPECT_TRUE(mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_PRIVATE, b,
			 0) == MAP_FAILED);
	EXPECT_TRUE(mmap(NULL, sz * 2, PROT_READ | PROT_WRITE, MAP_SHARED, b,
			 0) == MAP_FAILED);
	EXPECT_TRUE(mmap(NULL, sz - page, PROT_READ | PROT_WRITE, MAP_SHARED,
			 b, 0) == MAP_FAILED);
	EXPECT_TRUE(mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_SHARED, b,
			 page) == MAP_FAILED);
	EXPECT_TRUE(mmap(NULL, sz, PROT_READ | PROT_EXEC, MAP_SHARED, b,
			 0) == MAP_FAILED);
	m = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_SHARED, b, 0);
	ASSERT_TRUE(m != MAP_FAILED);
	EXPECT_EQ(ri.entries, ((struct mpdev_ring_hdr *)m)->entries);
	munmap(m, sz);
	/* The backend is open: info says so; closing it fails the context. */
	info = info_of(self->ctl);
	EXPECT_EQ(1, info.backend_attached);
	EXPECT_EQ(ri.entries, info.ring_entries);
	close(b);
	info = info_of(self->ctl);
	EXPECT_EQ(0, info.backend_attached);
	EXPECT_EQ(MPDEV_FAIL_BACKEND_CLOSED, info.fail_reason);
}

/* CREATE_BACKEND's arguments: checked, and a refusal leaves no backend. */
TEST_F(abi, backend_args_rules)
{
	uint32_t bad_entries[] = { 1, 8, MPDEV_RING_MIN_ENTRIES - 1, 100,
				   MPDEV_RING_MAX_ENTRIES + 1,
				   2 * MPDEV_RING_MAX_ENTRIES, ~0U };
	struct mpdev_backend_args args;
	unsigned int i;

	ASSERT_EQ(0, mpdev_attach(self->ctl, kg_vm_fd(self->kg)));
	for (i = 0; i < sizeof(bad_entries) / sizeof(bad_entries[0]); i++) {
		EXPECT_EQ(-EINVAL, mpdev_backend_ring(self->ctl, 0,
						      bad_entries[i], NULL))
			TH_LOG("ring_entries %u", bad_entries[i]);
	}
	EXPECT_EQ(-EINVAL, mpdev_backend(self->ctl, 1U << 7));
	memset(&args, 0, sizeof(args));
	args.reserved[1] = 1;
	EXPECT_EQ(-1, ioctl(self->ctl, MPDEV_CREATE_BACKEND, &args));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(0, info_of(self->ctl).backend_attached);
	EXPECT_EQ(MPDEV_STATE_OK, info_of(self->ctl).state);
	EXPECT_EQ(-ENOTCONN, mpdev_add(self->ctl, 0, MPDEV_SPACE_MMIO,
				       MMIO_BASE, 64, 0));
}

/* Each ring size a remote may ask for: its geometry, and it serves. */
TEST_F_TIMEOUT(abi, ring_sizes, 180)
{
	uint32_t sizes[] = { 0, MPDEV_RING_MIN_ENTRIES, 64,
			     MPDEV_RING_MAX_ENTRIES };
	unsigned int i;

	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		uint32_t want = sizes[i] ? sizes[i] : MPDEV_RING_DEFAULT_ENTRIES;
		/* Past the end of both rings (two requests per iteration). */
		struct kg_cmd c = cmd(KG_OP_MIXED, KG_SPACE_MMIO, MMIO_BASE, 4,
				      want + 20, 5, 1);
		struct mpdev_ring_info ri;
		struct kg_result res;
		struct tr tr;
		int ctl = mpdev_open(), b;

		ASSERT_LE(0, ctl);
		ASSERT_EQ(0, mpdev_attach(ctl, kg_vm_fd(self->kg)));
		b = mpdev_backend_ring(ctl, 0, sizes[i], &ri);
		ASSERT_LE(0, b) TH_LOG("ring_entries %u", sizes[i]);
		check_geometry(_metadata, b, &ri, want);
		EXPECT_EQ(want, info_of(ctl).ring_entries);
		ASSERT_EQ(0, mpdev_add(ctl, 0, MPDEV_SPACE_MMIO, MMIO_BASE,
				       64, 0));
		ASSERT_EQ(0, tr_start(&tr, b, i % 2 ? TR_RING : TR_BLOCKING,
				      0));
		ASSERT_EQ(0, kg_run(self->kg, 0, &c, &res));
		EXPECT_EQ(0, res.mismatches) TH_LOG("%u entries", want);
		EXPECT_EQ(0, res.exits);
		EXPECT_EQ(MPDEV_STATE_OK, info_of(ctl).state);
		tr_stop(&tr, true);
		close(ctl);
	}
}

TEST_HARNESS_MAIN
