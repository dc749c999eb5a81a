// SPDX-License-Identifier: GPL-2.0
/*
 * Self-test of the raw-KVM guest library, with no mpdev involved: every
 * guest access exits to the test's own handler (or hits a KVM ioeventfd),
 * and the test checks what the guest did and what it saw.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "kvm_guest.h"

#define MMIO_BASE	0xd0000000ULL
#define PIO_BASE	0x1000

#define MAX_LOG		1024

/* What a vCPU's handler saw, and how it answers reads. */
struct dev_log {
	int vcpu;
	unsigned int n;
	struct kg_access acc[MAX_LOG];
	int vcpu_seen[MAX_LOG];
	/* memory-like device for KG_OP_MIXED */
	uint8_t mem[4096];
	bool memory;		/* reads return what was written */
	bool broken;		/* reads return a constant instead */
	unsigned int slow_every;	/* sleep on every Nth access (1-based) */
	unsigned int slow_us;
};

/* Value a read of @size bytes at @addr returns: distinct per addr/size. */
static uint64_t pattern(uint64_t addr, uint32_t size)
{
	return (0x9e3779b97f4a7c15ULL * (addr + 1)) ^ ((uint64_t)size << 56) ^ 0xa5;
}

static uint64_t mask_of(uint32_t size)
{
	return size == 8 ? ~0ULL : (1ULL << (8 * size)) - 1;
}

static int logging_handler(struct kvm_guest *kg, int vcpu,
			   struct kg_access *acc, void *opaque)
{
	struct dev_log *log = opaque;
	uint64_t off;

	(void)kg;
	if (log->n < MAX_LOG) {
		log->acc[log->n] = *acc;
		log->vcpu_seen[log->n] = vcpu;
	}
	log->n++;
	if (log->slow_every && log->n % log->slow_every == 0)
		usleep(log->slow_us);
	if (acc->is_write) {
		off = acc->addr % (sizeof(log->mem) - 8);
		memcpy(&log->mem[off], &acc->data, acc->size);
		return 0;
	}
	if (log->broken) {
		acc->data = 0x5a5a5a5a5a5a5a5aULL;
	} else if (log->memory) {
		off = acc->addr % (sizeof(log->mem) - 8);
		acc->data = 0;
		memcpy(&acc->data, &log->mem[off], acc->size);
	} else {
		acc->data = pattern(acc->addr, acc->size);
	}
	return 0;
}

FIXTURE(kg) {
	struct kvm_guest *kg;
	struct dev_log log;
};

FIXTURE_SETUP(kg)
{
	const char *why;

	memset(&self->log, 0, sizeof(self->log));
	self->kg = NULL;
	if (!kg_kvm_usable(&why))
		SKIP(return, "%s", why);
	self->kg = kg_create(2);
	ASSERT_NE(NULL, self->kg) TH_LOG("kg_create: %s", strerror(errno));
}

/*
 * 6.1's harness still runs the test body after SKIP() in the setup: every
 * test starts with this so that a skipped setup ends the test as skipped.
 */
#define NEED_KG() do { if (!self->kg) return; } while (0)

FIXTURE_TEARDOWN(kg)
{
	kg_destroy(self->kg);
}

static void check_reads(struct __test_metadata *_metadata,
			struct kvm_guest *kg, struct dev_log *log,
			int space, uint64_t base, uint32_t size)
{
	struct kg_cmd cmd = {
		.op = KG_OP_READ, .space = space, .addr = base, .size = size,
		.count = 8, .addr_stride = size, .flags = KG_F_VALUES,
	};
	struct kg_result res;
	uint64_t i, x = 0, s = 0;

	log->n = 0;
	kg_set_exit_handler(kg, logging_handler, log);
	ASSERT_EQ(0, kg_run(kg, 0, &cmd, &res)) TH_LOG("%s", kg_strerror(kg, 0));
	ASSERT_EQ(8U, res.done);
	ASSERT_EQ(8U, res.exits);
	ASSERT_EQ(8U, log->n);
	ASSERT_EQ(8U, res.nr_values);
	for (i = 0; i < 8; i++) {
		uint64_t a = base + i * size, want = pattern(a, size) & mask_of(size);

		EXPECT_EQ(space, log->acc[i].space);
		EXPECT_FALSE(log->acc[i].is_write);
		EXPECT_EQ(a, log->acc[i].addr);
		EXPECT_EQ(size, log->acc[i].size);
		EXPECT_EQ(want, res.values[i]) TH_LOG("size %u access %llu", size,
						      (unsigned long long)i);
		x ^= want;
		s += want;
	}
	EXPECT_EQ(x, res.xor);
	EXPECT_EQ(s, res.sum);
}

TEST_F(kg, mmio_read_sizes)
{
	uint32_t size;

	NEED_KG();

	for (size = 1; size <= 8; size *= 2)
		check_reads(_metadata, self->kg, &self->log, KG_SPACE_MMIO,
			    MMIO_BASE + 0x100 * size, size);
}

TEST_F(kg, pio_read_sizes)
{
	uint32_t size;

	NEED_KG();

	for (size = 1; size <= 4; size *= 2)
		check_reads(_metadata, self->kg, &self->log, KG_SPACE_PIO,
			    PIO_BASE + 0x40 * size, size);
}

static void check_writes(struct __test_metadata *_metadata,
			 struct kvm_guest *kg, struct dev_log *log,
			 int space, uint64_t addr, uint32_t size)
{
	struct kg_cmd cmd = {
		.op = KG_OP_WRITE, .space = space, .addr = addr, .size = size,
		.count = 32, .value = 0x1122334455667788ULL,
		.stride = 0x0101010101010101ULL,
	};
	struct kg_result res;
	uint64_t i;

	log->n = 0;
	kg_set_exit_handler(kg, logging_handler, log);
	ASSERT_EQ(0, kg_run(kg, 1, &cmd, &res)) TH_LOG("%s", kg_strerror(kg, 1));
	ASSERT_EQ(32U, res.done);
	ASSERT_EQ(32U, log->n);
	EXPECT_EQ(0U, res.nr_values);
	for (i = 0; i < 32; i++) {
		EXPECT_TRUE(log->acc[i].is_write);
		EXPECT_EQ(addr, log->acc[i].addr);
		EXPECT_EQ(size, log->acc[i].size);
		EXPECT_EQ(1, log->vcpu_seen[i]);
		EXPECT_EQ((cmd.value + i * cmd.stride) & mask_of(size),
			  log->acc[i].data) TH_LOG("size %u write %llu", size,
						   (unsigned long long)i);
	}
}

TEST_F(kg, writes_in_order)
{
	uint32_t size;

	NEED_KG();

	for (size = 1; size <= 8; size *= 2)
		check_writes(_metadata, self->kg, &self->log, KG_SPACE_MMIO,
			     0xfe000000ULL + size * 8, size);
	for (size = 1; size <= 4; size *= 2)
		check_writes(_metadata, self->kg, &self->log, KG_SPACE_PIO,
			     PIO_BASE + size * 4, size);
}

TEST_F(kg, mixed_detects_mismatch)
{
	struct kg_cmd cmd = {
		.op = KG_OP_MIXED, .space = KG_SPACE_MMIO, .addr = MMIO_BASE,
		.size = 4, .count = 40, .value = 0xdeadbeef, .stride = 0x01000193,
		.addr_stride = 4, .addr_span = 64, .flags = KG_F_VALUES,
	};
	struct kg_result res;
	uint64_t i;

	NEED_KG();

	self->log.memory = true;
	kg_set_exit_handler(self->kg, logging_handler, &self->log);
	ASSERT_EQ(0, kg_run(self->kg, 0, &cmd, &res)) TH_LOG("%s", kg_strerror(self->kg, 0));
	ASSERT_EQ(40U, res.done);
	EXPECT_EQ(80U, res.exits);
	EXPECT_EQ(0U, res.mismatches);
	for (i = 0; i < 40; i++) {
		/* write then read of the same, wrapping address */
		EXPECT_TRUE(self->log.acc[2 * i].is_write);
		EXPECT_FALSE(self->log.acc[2 * i + 1].is_write);
		EXPECT_EQ(MMIO_BASE + (i * 4) % 64, self->log.acc[2 * i].addr);
		EXPECT_EQ(MMIO_BASE + (i * 4) % 64, self->log.acc[2 * i + 1].addr);
		EXPECT_EQ((0xdeadbeef + i * 0x01000193) & 0xffffffff, res.values[i]);
	}

	/* a device that does not keep what was written must be caught */
	self->log.broken = true;
	self->log.n = 0;
	ASSERT_EQ(0, kg_run(self->kg, 0, &cmd, &res)) TH_LOG("%s", kg_strerror(self->kg, 0));
	EXPECT_EQ(40U, res.mismatches);
	EXPECT_EQ(0U, res.first_mismatch);
}

struct thread_arg {
	struct kvm_guest *kg;
	int vcpu;
	struct dev_log *log;
	struct kg_result res;
	int ret;
	atomic_int *arrived;
	bool met;		/* both vCPUs were inside KVM_RUN exits at once */
};

/* Each vCPU's first access waits until the other vCPU made one too. */
static int rendezvous_handler(struct kvm_guest *kg, int vcpu,
			      struct kg_access *acc, void *opaque)
{
	struct thread_arg *t = &((struct thread_arg *)opaque)[vcpu];
	struct timespec start, now;

	(void)kg;
	if (t->log->n++ == 0) {
		atomic_fetch_add(t->arrived, 1);
		clock_gettime(CLOCK_MONOTONIC, &start);
		do {
			if (atomic_load(t->arrived) == 2) {
				t->met = true;
				break;
			}
			usleep(100);
			clock_gettime(CLOCK_MONOTONIC, &now);
		} while (now.tv_sec - start.tv_sec < 10);
	}
	acc->data = pattern(acc->addr, acc->size) ^ ((uint64_t)vcpu << 40);
	return 0;
}

static void *vcpu_thread(void *p)
{
	struct thread_arg *t = p;
	struct kg_cmd cmd = {
		.op = KG_OP_READ, .space = KG_SPACE_MMIO,
		.addr = MMIO_BASE + 0x10000 * (t->vcpu + 1), .size = 8,
		.count = 200, .addr_stride = 8, .addr_span = 0x100,
		.flags = KG_F_VALUES,
	};

	t->ret = kg_run(t->kg, t->vcpu, &cmd, &t->res);
	return NULL;
}

TEST_F(kg, two_vcpus_concurrently)
{
	static struct dev_log logs[2];
	struct thread_arg t[2];
	atomic_int arrived = 0;
	pthread_t th[2];
	int v;
	uint64_t i;

	NEED_KG();

	memset(logs, 0, sizeof(logs));
	memset(t, 0, sizeof(t));
	kg_set_exit_handler(self->kg, rendezvous_handler, t);
	for (v = 0; v < 2; v++) {
		t[v].kg = self->kg;
		t[v].vcpu = v;
		t[v].log = &logs[v];
		t[v].arrived = &arrived;
	}
	for (v = 0; v < 2; v++)
		ASSERT_EQ(0, pthread_create(&th[v], NULL, vcpu_thread, &t[v]));
	for (v = 0; v < 2; v++)
		pthread_join(th[v], NULL);
	for (v = 0; v < 2; v++) {
		uint64_t base = MMIO_BASE + 0x10000 * (v + 1);

		ASSERT_EQ(0, t[v].ret) TH_LOG("%s", kg_strerror(self->kg, v));
		EXPECT_TRUE(t[v].met) TH_LOG("vCPU %d never saw the other one in flight", v);
		EXPECT_EQ(200U, t[v].res.done);
		EXPECT_EQ(200U, t[v].res.exits);
		for (i = 0; i < 200; i++)
			EXPECT_EQ(pattern(base + (i * 8) % 0x100, 8) ^ ((uint64_t)v << 40),
				  t[v].res.values[i]);
	}
}

TEST_F(kg, ioeventfd_without_exits)
{
	struct kg_cmd cmd = {
		.op = KG_OP_WRITE, .space = KG_SPACE_MMIO, .addr = MMIO_BASE + 0x1000,
		.size = 4, .count = 50, .value = 1, .stride = 1,
	};
	uint64_t seven = 7;
	struct kg_result res;
	int e_mmio, e_pio, e_match;

	NEED_KG();

	e_mmio = kg_ioeventfd(self->kg, KG_SPACE_MMIO, MMIO_BASE + 0x1000, 4, NULL);
	ASSERT_LE(0, e_mmio) TH_LOG("%s", strerror(-e_mmio));
	e_pio = kg_ioeventfd(self->kg, KG_SPACE_PIO, 0x2000, 2, NULL);
	ASSERT_LE(0, e_pio) TH_LOG("%s", strerror(-e_pio));
	e_match = kg_ioeventfd(self->kg, KG_SPACE_PIO, 0x2010, 1, &seven);
	ASSERT_LE(0, e_match) TH_LOG("%s", strerror(-e_match));

	/* no exit handler: any exit to userspace would fail kg_run() */
	ASSERT_EQ(0, kg_run(self->kg, 0, &cmd, &res)) TH_LOG("%s", kg_strerror(self->kg, 0));
	EXPECT_EQ(0U, res.exits);
	EXPECT_EQ(50U, kg_eventfd_count(e_mmio));

	cmd.space = KG_SPACE_PIO;
	cmd.addr = 0x2000;
	cmd.size = 2;
	cmd.count = 30;
	ASSERT_EQ(0, kg_run(self->kg, 1, &cmd, &res)) TH_LOG("%s", kg_strerror(self->kg, 1));
	EXPECT_EQ(30U, kg_eventfd_count(e_pio));
	EXPECT_EQ(0U, kg_eventfd_count(e_mmio));

	cmd.addr = 0x2010;
	cmd.size = 1;
	cmd.count = 5;
	cmd.value = 7;
	cmd.stride = 0;
	ASSERT_EQ(0, kg_run(self->kg, 0, &cmd, &res)) TH_LOG("%s", kg_strerror(self->kg, 0));
	EXPECT_EQ(5U, kg_eventfd_count(e_match));

	/* a value the datamatch refuses does exit: no handler, so it fails */
	cmd.value = 8;
	EXPECT_EQ(-EIO, kg_run(self->kg, 0, &cmd, &res));
	EXPECT_NE(NULL, strstr(kg_strerror(self->kg, 0), "0x2010"))
		TH_LOG("%s", kg_strerror(self->kg, 0));
	EXPECT_EQ(0U, kg_eventfd_count(e_match));

	EXPECT_EQ(0, kg_ioeventfd_del(self->kg, e_mmio, KG_SPACE_MMIO,
				      MMIO_BASE + 0x1000, 4, NULL));
	close(e_mmio);
	close(e_pio);
	close(e_match);
}

TEST_F(kg, latency_array)
{
	struct kg_cmd cmd = {
		.op = KG_OP_READ, .space = KG_SPACE_MMIO, .addr = MMIO_BASE,
		.size = 4, .count = 60, .flags = KG_F_LAT | KG_F_VALUES,
	};
	uint64_t i, sum = 0, ramp[100], before[60];
	struct kg_result res;
	int efd;

	NEED_KG();

	ASSERT_LT(1000U, kg_tsc_khz(self->kg));		/* at least 1 MHz */
	kg_set_exit_handler(self->kg, logging_handler, &self->log);
	ASSERT_EQ(0, kg_run(self->kg, 0, &cmd, &res)) TH_LOG("%s", kg_strerror(self->kg, 0));
	ASSERT_EQ(60U, res.nr_lat);
	ASSERT_EQ(60U, res.nr_values);	/* both arrays at once */
	for (i = 0; i < 60; i++) {
		EXPECT_LT(0U, res.lat[i]);
		EXPECT_EQ(pattern(MMIO_BASE, 4) & 0xffffffff, res.values[i]);
		sum += res.lat[i];
	}
	EXPECT_LE(sum, res.tsc_total);
	TH_LOG("guest TSC %llu kHz (%s); exit to userspace: median %.0f ns, p99 %.0f ns",
	       (unsigned long long)kg_tsc_khz(self->kg),
	       kg_tsc_reliable(self->kg) ? "stable" : "UNSTABLE",
	       kg_tsc_to_ns(self->kg, kg_percentile(res.lat, res.nr_lat, 50)),
	       kg_tsc_to_ns(self->kg, kg_percentile(res.lat, res.nr_lat, 99)));

	/* recording stops at max_samples: entries past it stay untouched */
	memcpy(before, res.lat, sizeof(before));
	cmd.max_samples = 50;
	self->log.broken = true;	/* reads now return another value */
	ASSERT_EQ(0, kg_run(self->kg, 0, &cmd, &res)) TH_LOG("%s", kg_strerror(self->kg, 0));
	EXPECT_EQ(60U, res.done);
	EXPECT_EQ(50U, res.nr_lat);
	EXPECT_EQ(50U, res.nr_values);
	for (i = 0; i < 60; i++)
		EXPECT_EQ(i < 50 ? 0x5a5a5a5aULL : pattern(MMIO_BASE, 4) & 0xffffffff,
			  res.values[i]);
	for (i = 50; i < 60; i++)
		EXPECT_EQ(before[i], res.lat[i]);
	cmd.max_samples = KG_MAX_SAMPLES + 1;
	EXPECT_EQ(-EINVAL, kg_run(self->kg, 0, &cmd, &res));
	cmd.max_samples = 0;

	/* the in-kernel floor: ioeventfd writes, timed, with no exit */
	efd = kg_ioeventfd(self->kg, KG_SPACE_MMIO, MMIO_BASE + 0x4000, 8, NULL);
	ASSERT_LE(0, efd);
	cmd.op = KG_OP_WRITE;
	cmd.addr = MMIO_BASE + 0x4000;
	cmd.size = 8;
	cmd.count = 500;
	ASSERT_EQ(0, kg_run(self->kg, 1, &cmd, &res)) TH_LOG("%s", kg_strerror(self->kg, 1));
	EXPECT_EQ(0U, res.exits);
	EXPECT_EQ(500U, res.nr_lat);
	EXPECT_EQ(0U, res.nr_values);
	EXPECT_EQ(500U, kg_eventfd_count(efd));
	for (i = 0; i < 500; i++)
		EXPECT_LT(0U, res.lat[i]);
	TH_LOG("ioeventfd MMIO write: median %.0f ns, p99 %.0f ns",
	       kg_tsc_to_ns(self->kg, kg_percentile(res.lat, res.nr_lat, 50)),
	       kg_tsc_to_ns(self->kg, kg_percentile(res.lat, res.nr_lat, 99)));
	close(efd);

	/* nearest-rank percentiles of 1..100 */
	for (i = 0; i < 100; i++)
		ramp[i] = 100 - i;
	EXPECT_EQ(1U, kg_percentile(ramp, 100, 0));
	EXPECT_EQ(50U, kg_percentile(ramp, 100, 50));
	EXPECT_EQ(99U, kg_percentile(ramp, 100, 99));
	EXPECT_EQ(100U, kg_percentile(ramp, 100, 100));
	EXPECT_EQ(7U, kg_percentile(ramp + 93, 1, 50));
}

TEST_F(kg, tsc_tracks_time)
{
	struct kg_cmd cmd = {
		.op = KG_OP_READ, .space = KG_SPACE_MMIO, .addr = MMIO_BASE,
		.size = 4, .count = 30, .flags = KG_F_LAT,
	};
	uint64_t khz, i, fast[30], nfast = 0, min_slow = ~0ULL;
	struct kg_result res;

	NEED_KG();

	if (!kg_tsc_reliable(self->kg))
		SKIP(return, "host TSC unstable, guest TSC stops outside KVM_RUN (boot the VM with tsc=reliable)");
	khz = kg_tsc_khz(self->kg);
	/* every 10th access spends >= 3 ms in the handler */
	self->log.slow_every = 10;
	self->log.slow_us = 3000;
	kg_set_exit_handler(self->kg, logging_handler, &self->log);
	ASSERT_EQ(0, kg_run(self->kg, 0, &cmd, &res)) TH_LOG("%s", kg_strerror(self->kg, 0));
	ASSERT_EQ(30U, res.nr_lat);
	for (i = 0; i < 30; i++) {
		if (i % 10 == 9) {
			EXPECT_LE(3 * khz, res.lat[i]) TH_LOG("access %llu: %.0f ns",
				(unsigned long long)i, kg_tsc_to_ns(self->kg, res.lat[i]));
			if (res.lat[i] < min_slow)
				min_slow = res.lat[i];
		} else {
			fast[nfast++] = res.lat[i];
		}
	}
	EXPECT_LT(kg_percentile(fast, nfast, 50), min_slow);
}

TEST_F(kg, unhandled_exit_then_recovery)
{
	struct kg_cmd cmd = {
		.op = KG_OP_READ, .space = KG_SPACE_MMIO, .addr = MMIO_BASE + 0x2000,
		.size = 2, .count = 3, .flags = KG_F_VALUES,
	};
	struct kg_result res;

	NEED_KG();

	EXPECT_EQ(-EIO, kg_run(self->kg, 0, &cmd, &res));
	EXPECT_EQ(0U, res.done);
	EXPECT_NE(NULL, strstr(kg_strerror(self->kg, 0), "0xd0002000"))
		TH_LOG("%s", kg_strerror(self->kg, 0));

	/* the abandoned vCPU is reset and runs the next command whole */
	kg_set_exit_handler(self->kg, logging_handler, &self->log);
	ASSERT_EQ(0, kg_run(self->kg, 0, &cmd, &res)) TH_LOG("%s", kg_strerror(self->kg, 0));
	EXPECT_EQ(3U, res.done);
	EXPECT_EQ(3U, self->log.n);
	EXPECT_EQ(pattern(MMIO_BASE + 0x2000, 2) & 0xffff, res.values[2]);
}

static int failing_handler(struct kvm_guest *kg, int vcpu,
			   struct kg_access *acc, void *opaque)
{
	unsigned int *n = opaque;

	(void)kg; (void)vcpu;
	acc->data = 0;
	return ++*n == 5 ? -ECONNRESET : 0;
}

TEST_F(kg, handler_error_stops_run)
{
	struct kg_cmd cmd = {
		.op = KG_OP_WRITE, .space = KG_SPACE_PIO, .addr = 0x3000,
		.size = 4, .count = 10,
	};
	struct kg_result res;
	unsigned int n = 0;

	NEED_KG();

	kg_set_exit_handler(self->kg, failing_handler, &n);
	EXPECT_EQ(-ECONNRESET, kg_run(self->kg, 1, &cmd, &res));
	EXPECT_EQ(4U, res.done);
	n = 100;
	EXPECT_EQ(0, kg_run(self->kg, 1, &cmd, &res)) TH_LOG("%s", kg_strerror(self->kg, 1));
	EXPECT_EQ(10U, res.done);
}

TEST_F(kg, guest_exception_reported)
{
	/* above 4 GiB nothing is mapped: a #PF in the guest */
	struct kg_cmd cmd = {
		.op = KG_OP_READ, .space = KG_SPACE_MMIO, .addr = 0x100000000ULL,
		.size = 4, .count = 1,
	};
	struct kg_result res;

	NEED_KG();

	kg_set_exit_handler(self->kg, logging_handler, &self->log);
	EXPECT_EQ(-EIO, kg_run(self->kg, 0, &cmd, &res));
	EXPECT_NE(NULL, strstr(kg_strerror(self->kg, 0), "exception 14"))
		TH_LOG("%s", kg_strerror(self->kg, 0));
	EXPECT_NE(NULL, strstr(kg_strerror(self->kg, 0), "CR2 0x100000000"))
		TH_LOG("%s", kg_strerror(self->kg, 0));
	EXPECT_EQ(0U, self->log.n);

	cmd.addr = MMIO_BASE;
	EXPECT_EQ(0, kg_run(self->kg, 0, &cmd, &res)) TH_LOG("%s", kg_strerror(self->kg, 0));
	EXPECT_EQ(1U, res.done);
}

TEST_F(kg, bad_commands)
{
	struct kg_cmd cmd = {
		.op = KG_OP_READ, .space = KG_SPACE_PIO, .addr = 0x1000,
		.size = 8, .count = 1,
	};

	NEED_KG();

	EXPECT_EQ(-EINVAL, kg_run(self->kg, 0, &cmd, NULL));
	cmd.size = 3;
	EXPECT_EQ(-EINVAL, kg_run(self->kg, 0, &cmd, NULL));
	cmd.space = KG_SPACE_MMIO;
	cmd.size = 4;
	cmd.addr = 0x10000;		/* guest RAM */
	EXPECT_EQ(-EINVAL, kg_run(self->kg, 0, &cmd, NULL));
	cmd.addr = MMIO_BASE;
	cmd.addr_stride = 8;
	cmd.addr_span = 8;
	EXPECT_EQ(-EINVAL, kg_run(self->kg, 0, &cmd, NULL));
	EXPECT_EQ(-EINVAL, kg_run(self->kg, 2, &cmd, NULL));

	/* count 0 runs the guest and does nothing */
	cmd.addr_stride = cmd.addr_span = 0;
	cmd.count = 0;
	EXPECT_EQ(0, kg_run(self->kg, 0, &cmd, NULL)) TH_LOG("%s", kg_strerror(self->kg, 0));
}

/* ---- string commands: one instruction, KVM's exits as documented ---- */

static void check_rep_read(struct __test_metadata *_metadata,
			   struct kvm_guest *kg, struct dev_log *log,
			   int space, uint64_t addr, uint32_t size,
			   uint64_t count, uint64_t want_kvm_exits)
{
	struct kg_cmd cmd = {
		.op = KG_OP_REP_READ, .space = space, .addr = addr,
		.size = size, .count = count,
	};
	struct kg_result res;
	uint64_t i, x = 0, s = 0;

	log->n = 0;
	kg_set_exit_handler(kg, logging_handler, log);
	ASSERT_EQ(0, kg_run(kg, 0, &cmd, &res)) TH_LOG("%s", kg_strerror(kg, 0));
	ASSERT_EQ(count, res.done);
	ASSERT_EQ(count, res.exits);
	ASSERT_EQ(count, log->n);
	EXPECT_EQ(want_kvm_exits, res.kvm_exits)
		TH_LOG("%s size %u count %llu", space == KG_SPACE_PIO ? "ins" : "movs",
		       size, (unsigned long long)count);
	ASSERT_EQ(count * size, res.buf_bytes);
	ASSERT_EQ(kg_rep_buf(kg, 0, NULL), res.buf);
	for (i = 0; i < count; i++) {
		uint64_t a = space == KG_SPACE_PIO ? addr : addr + i * size;
		uint64_t want = pattern(a, size) & mask_of(size), got = 0;

		memcpy(&got, (const uint8_t *)res.buf + i * size, size);
		if (i < MAX_LOG) {
			EXPECT_EQ(a, log->acc[i].addr);
			EXPECT_FALSE(log->acc[i].is_write);
			EXPECT_EQ(size, log->acc[i].size);
		}
		ASSERT_EQ(want, got) TH_LOG("element %llu", (unsigned long long)i);
		x ^= want;
		s += want;
	}
	EXPECT_EQ(x, res.xor);
	EXPECT_EQ(s, res.sum);
}

/*
 * rep ins: no in-kernel device claims the port, so each 1 KiB read-ahead
 * refill is ONE KVM_EXIT_IO with io.count elements (kvm_guest.h).
 */
TEST_F(kg, rep_ins_one_exit_per_kib)
{
	NEED_KG();

	check_rep_read(_metadata, self->kg, &self->log, KG_SPACE_PIO,
		       PIO_BASE, 1, 1024, 1);
	check_rep_read(_metadata, self->kg, &self->log, KG_SPACE_PIO,
		       PIO_BASE, 1, 3000, 3);
	/* 256 + 44 elements: a refill is at most 1 KiB */
	check_rep_read(_metadata, self->kg, &self->log, KG_SPACE_PIO,
		       PIO_BASE + 4, 4, 300, 2);
	check_rep_read(_metadata, self->kg, &self->log, KG_SPACE_PIO,
		       PIO_BASE + 2, 2, 1, 1);
}

/* rep movs from MMIO nobody claims: every element is its own exit. */
TEST_F(kg, rep_movs_from_mmio)
{
	NEED_KG();

	check_rep_read(_metadata, self->kg, &self->log, KG_SPACE_MMIO,
		       MMIO_BASE, 8, 16, 16);
	check_rep_read(_metadata, self->kg, &self->log, KG_SPACE_MMIO,
		       MMIO_BASE + 0x101, 1, 40, 40);
}

static void check_rep_write(struct __test_metadata *_metadata,
			    struct kvm_guest *kg, struct dev_log *log,
			    int space, uint64_t addr, uint32_t size,
			    uint64_t count)
{
	struct kg_cmd cmd = {
		.op = KG_OP_REP_WRITE, .space = space, .addr = addr,
		.size = size, .count = count, .value = 0x8877665544332211ULL,
		.stride = 0x0102030405060708ULL,
	};
	struct kg_result res;
	uint64_t i;

	log->n = 0;
	kg_set_exit_handler(kg, logging_handler, log);
	ASSERT_EQ(0, kg_run(kg, 1, &cmd, &res)) TH_LOG("%s", kg_strerror(kg, 1));
	ASSERT_EQ(count, res.done);
	ASSERT_EQ(count, log->n);
	/* an unclaimed element ends the exit: one each */
	EXPECT_EQ(count, res.kvm_exits);
	EXPECT_EQ(count * size, res.buf_bytes);
	for (i = 0; i < count && i < MAX_LOG; i++) {
		EXPECT_TRUE(log->acc[i].is_write);
		EXPECT_EQ(1, log->vcpu_seen[i]);
		EXPECT_EQ(space == KG_SPACE_PIO ? addr : addr + i * size,
			  log->acc[i].addr);
		EXPECT_EQ(size, log->acc[i].size);
		EXPECT_EQ((cmd.value + i * cmd.stride) & mask_of(size),
			  log->acc[i].data) TH_LOG("size %u element %llu", size,
						   (unsigned long long)i);
	}
}

TEST_F(kg, rep_outs_and_movs_to_mmio)
{
	uint32_t size;

	NEED_KG();

	for (size = 1; size <= 4; size *= 2)
		check_rep_write(_metadata, self->kg, &self->log, KG_SPACE_PIO,
				PIO_BASE + 0x10 * size, size, 20);
	for (size = 1; size <= 8; size *= 2)
		check_rep_write(_metadata, self->kg, &self->log, KG_SPACE_MMIO,
				MMIO_BASE + 0x1000 * size, size, 12);
}

/*
 * An in-kernel device (a KVM ioeventfd) takes every element of a
 * rep outsb: 1024 writes and not a single exit to userspace.
 */
TEST_F(kg, rep_outs_in_kernel_no_exit)
{
	struct kg_cmd cmd = {
		.op = KG_OP_REP_WRITE, .space = KG_SPACE_PIO,
		.addr = PIO_BASE + 0x300, .size = 1, .count = 2048,
	};
	struct kg_result res;
	int efd;

	NEED_KG();

	efd = kg_ioeventfd(self->kg, KG_SPACE_PIO, cmd.addr, 1, NULL);
	ASSERT_LE(0, efd) TH_LOG("%s", strerror(-efd));
	kg_set_exit_handler(self->kg, logging_handler, &self->log);
	ASSERT_EQ(0, kg_run(self->kg, 0, &cmd, &res)) TH_LOG("%s", kg_strerror(self->kg, 0));
	EXPECT_EQ(2048U, res.done);
	EXPECT_EQ(0U, res.kvm_exits);
	EXPECT_EQ(0U, self->log.n);
	EXPECT_EQ(2048U, kg_eventfd_count(efd));
	EXPECT_EQ(0, kg_ioeventfd_del(self->kg, efd, KG_SPACE_PIO, cmd.addr, 1,
				      NULL));
	close(efd);
}

TEST_F(kg, rep_bad_commands)
{
	struct kg_cmd cmd = {
		.op = KG_OP_REP_READ, .space = KG_SPACE_PIO, .addr = 0x1000,
		.size = 8, .count = 1,
	};
	uint64_t gpa;

	NEED_KG();

	EXPECT_EQ(-EINVAL, kg_run(self->kg, 0, &cmd, NULL));	/* no insq */
	cmd.size = 1;
	cmd.flags = KG_F_VALUES;
	EXPECT_EQ(-EINVAL, kg_run(self->kg, 0, &cmd, NULL));
	cmd.flags = 0;
	cmd.count = KG_REP_MAX_BYTES + 1;
	EXPECT_EQ(-EINVAL, kg_run(self->kg, 0, &cmd, NULL));
	cmd.space = KG_SPACE_MMIO;
	cmd.count = 16;
	cmd.addr = 0x10000;		/* guest RAM */
	EXPECT_EQ(-EINVAL, kg_run(self->kg, 0, &cmd, NULL));
	cmd.addr = 0x100000000ULL - 8;	/* runs past 4 GiB */
	EXPECT_EQ(-EINVAL, kg_run(self->kg, 0, &cmd, NULL));
	ASSERT_NE(NULL, kg_rep_buf(self->kg, 1, &gpa));
	EXPECT_EQ(0U, gpa % 4096);
	EXPECT_EQ(NULL, kg_rep_buf(self->kg, 2, NULL));
	/* count 0 runs the guest and does nothing */
	cmd.count = 0;
	EXPECT_EQ(0, kg_run(self->kg, 0, &cmd, NULL)) TH_LOG("%s", kg_strerror(self->kg, 0));
}

TEST_F(kg, vm_fd_closed_first)
{
	struct kg_cmd cmd = {
		.op = KG_OP_READ, .space = KG_SPACE_PIO, .addr = 0x1234,
		.size = 1, .count = 4,
	};
	struct kg_result res;

	NEED_KG();

	kg_set_exit_handler(self->kg, logging_handler, &self->log);
	kg_close_vm_fd(self->kg);
	EXPECT_EQ(-1, kg_vm_fd(self->kg));
	EXPECT_EQ(-EBADF, kg_ioeventfd(self->kg, KG_SPACE_PIO, 0x2000, 1, NULL));
	/* the vCPU fds keep the VM alive */
	ASSERT_EQ(0, kg_run(self->kg, 1, &cmd, &res)) TH_LOG("%s", kg_strerror(self->kg, 1));
	EXPECT_EQ(4U, res.done);
	EXPECT_EQ(4U, self->log.n);
}

TEST_HARNESS_MAIN
