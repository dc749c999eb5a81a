// SPDX-License-Identifier: GPL-2.0
/*
 * mpdev: hand a KVM guest's accesses to proxied BARs straight to an
 * out-of-process device model (the "remote").  See
 * Documentation/mpdev/design.rst for the design, uapi.rst for the ABI.
 *
 * Objects and their lifetimes:
 *
 *  - struct mpdev_ctx: one per open of /dev/mpdev.  Refcounted: the control
 *    file and the backend file each hold a reference.
 *  - struct mpdev_iodev: one region, a kvm_io_device on the VM's MMIO or PIO bus.
 *    Owned by the context, created and destroyed under ctx->lock; while
 *    it is on the bus, vCPUs may be inside its ops (under kvm->srcu), so it
 *    is only freed after mpdev_bus_del() has waited for them.
 *  - the ring (struct mpdev_ring): vmalloc_user() memory shared with the
 *    remote; one FIFO of requests for the whole context (so the remote sees
 *    accesses in guest order) and one of completions.
 *  - slots: one per vCPU index.  A vCPU has at most one access in flight,
 *    so its slot holds the id, state and answer of that access.
 *
 * Locking:
 *  - ctx->lock (mutex): control operations (attach, regions, backend).
 *  - ctx->req_lock (spinlock): request producers; protects req_head,
 *    next_seq and the request ring entries being written.
 *  - ctx->cpl_lock (spinlock): slot state and the completion ring's
 *    consumer index; completions from write(), ring reaping, aborts.
 *  - ctx->read_lock (mutex): serialises read() consumers of the ring.
 *  Neither spinlock nests in the other.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/anon_inodes.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/hrtimer.h>
#include <linux/kref.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/nsproxy.h>
#include <linux/percpu.h>
#include <linux/poll.h>
#include <linux/sched/signal.h>
#include <linux/uaccess.h>
#include <linux/vmalloc.h>
#include <net/net_namespace.h>
#include <uapi/linux/mpdev.h>

#include "compat.h"
#include "kvm_compat.h"

#define MPDEV_MAX_REGIONS	64
#define MPDEV_LAT_BUCKETS	32
#define MPDEV_DEF_DEADLINE_NS	(2ULL * NSEC_PER_SEC)
#define MPDEV_DEF_SPIN_NS	(50ULL * NSEC_PER_USEC)
#define MPDEV_MIN_DEADLINE_NS	NSEC_PER_MSEC
#define MPDEV_MAX_DEADLINE_NS	(60ULL * NSEC_PER_SEC)
/* A producer waiting for ring room re-reads the remote's index this often. */
#define MPDEV_ROOM_POLL_NS	(20ULL * NSEC_PER_USEC)

/*
 * Request ids: a per-context sequence number above the slot index, so the
 * kernel finds a completion's waiter without searching, and a stale or
 * forged id never matches a live request.  Posted writes use a slot index
 * no vCPU has.
 */
#define MPDEV_ID_SLOT_BITS	16
#define MPDEV_ID_SLOT_MASK	((1ULL << MPDEV_ID_SLOT_BITS) - 1)
#define MPDEV_ID_POSTED		MPDEV_ID_SLOT_MASK
static_assert(KVM_MAX_VCPUS < MPDEV_ID_POSTED);
static_assert(sizeof(struct mpdev_ring) <= MPDEV_RING_MMAP_SIZE);
static_assert(sizeof(struct mpdev_request) == 32);
static_assert(sizeof(struct mpdev_completion) == 32);

enum mpdev_slot_state {
	SLOT_IDLE,
	SLOT_PENDING,	/* waiting for the remote */
	SLOT_DONE,	/* answered; the vCPU has yet to pick it up */
	SLOT_ABORTED,	/* given up (region removed, fatal signal, deadline) */
};

struct mpdev_slot {
	u64 id;
	u64 aborted_id;		/* a late answer to this id is not an error */
	u64 data;
	struct task_struct *task;
	u32 region;
	u8 size;
	u8 state;
};

enum mpdev_counter {
	MPDEV_C_READS,
	MPDEV_C_WRITES,
	MPDEV_C_QUEUE_FULL,
	MPDEV_C_TIMEOUTS,
	MPDEV_C_MALFORMED,
	MPDEV_C_FAILED,
	MPDEV_NR_COUNTERS
};

/* Per-CPU, so that counting costs the data path no shared cache line. */
struct mpdev_stats {
	u64 c[MPDEV_NR_COUNTERS];
	u64 lat[MPDEV_LAT_BUCKETS];	/* reads: [2^b, 2^(b+1)) ns */
};

struct mpdev_ctx;

struct mpdev_iodev {
	struct kvm_io_device dev;
	struct mpdev_ctx *ctx;
	struct list_head node;
	u64 addr;
	u64 size;
	u32 id;
	u16 space;
	u16 flags;
	bool dead;		/* being removed: answer all-ones */
	bool on_bus;		/* cleared if KVM destroyed the bus under us */
	struct mpdev_stats __percpu *stats;
	struct mpdev_stats stats_base;	/* netlink reset baseline; ctx->lock */
};

struct mpdev_ctx {
	struct kref ref;
	struct list_head node;	/* mpdev_ctxs, under mpdev_ctxs_lock */
	u32 id;			/* for introspection; never reused */
	pid_t owner;		/* tgid that opened /dev/mpdev */
	struct net *net;	/* netns of the opener, for introspection */
	struct mutex lock;	/* control operations, see top of file */
	struct kvm *kvm;
	struct list_head regions;
	unsigned int nr_regions;
	bool backend_created;
	bool backend_open;

	u64 deadline_ns;
	u64 spin_ns;
	int failing;		/* claimed by the one mpdev_fail() that acts */
	int fail_reason;	/* enum mpdev_fail_reason, set once */

	struct mpdev_ring *ring;
	struct mpdev_slot *slots;	/* KVM_MAX_VCPUS, allocated on attach */

	spinlock_t req_lock;	/* request producers, see top of file */
	u32 req_head;		/* private copy; the ring's is for the remote */
	u64 next_seq;
	wait_queue_head_t req_wq;	/* backend readers and pollers */
	wait_queue_head_t room_wq;	/* producers waiting for ring room */

	spinlock_t cpl_lock;	/* slots and completions */
	u32 cpl_tail;
	unsigned int sleepers;	/* vCPUs asleep on a reply (kick_needed) */

	struct mutex read_lock;	/* read() consumers */
	struct mpdev_stats __percpu *stats;
	struct mpdev_stats stats_base;	/* netlink reset baseline; under lock */
};

/* Every context, for introspection. */
static LIST_HEAD(mpdev_ctxs);
static DEFINE_MUTEX(mpdev_ctxs_lock);
static atomic_t mpdev_next_ctx_id = ATOMIC_INIT(0);

/* Counts for the context and, when there is one, the region. */
static void mpdev_count(struct mpdev_ctx *ctx, struct mpdev_iodev *r,
			enum mpdev_counter c)
{
	this_cpu_inc(ctx->stats->c[c]);
	if (r)
		this_cpu_inc(r->stats->c[c]);
}

static void mpdev_count_latency(struct mpdev_ctx *ctx, struct mpdev_iodev *r,
				u64 ns)
{
	unsigned int b = ns ? min_t(unsigned int, ilog2(ns),
				    MPDEV_LAT_BUCKETS - 1) : 0;

	this_cpu_inc(ctx->stats->lat[b]);
	this_cpu_inc(r->stats->lat[b]);
}

/* Sums per-CPU counters; racy against increments, as counters may be. */
static void mpdev_stats_sum(struct mpdev_stats __percpu *pcpu,
			    struct mpdev_stats *sum)
{
	unsigned int i;
	int cpu;

	memset(sum, 0, sizeof(*sum));
	for_each_possible_cpu(cpu) {
		const struct mpdev_stats *s = per_cpu_ptr(pcpu, cpu);

		for (i = 0; i < MPDEV_NR_COUNTERS; i++)
			sum->c[i] += READ_ONCE(s->c[i]);
		for (i = 0; i < MPDEV_LAT_BUCKETS; i++)
			sum->lat[i] += READ_ONCE(s->lat[i]);
	}
}

#include "mpdev_genl.h"

static void mpdev_ctx_free(struct kref *ref)
{
	struct mpdev_ctx *ctx = container_of(ref, struct mpdev_ctx, ref);

	mutex_lock(&mpdev_ctxs_lock);
	list_del(&ctx->node);
	mutex_unlock(&mpdev_ctxs_lock);
	put_net(ctx->net);
	free_percpu(ctx->stats);
	kvfree(ctx->slots);
	vfree(ctx->ring);
	kfree(ctx);
}

static void mpdev_ctx_put(struct mpdev_ctx *ctx)
{
	kref_put(&ctx->ref, mpdev_ctx_free);
}

static bool mpdev_failed(struct mpdev_ctx *ctx)
{
	/* Pairs with the release in mpdev_fail(). */
	return smp_load_acquire(&ctx->fail_reason) != MPDEV_FAIL_NONE;
}

/* The producer index; entries below it are fully written. */
static u32 mpdev_req_head(struct mpdev_ctx *ctx)
{
	/* Pairs with the release in mpdev_enqueue(). */
	return smp_load_acquire(&ctx->req_head);
}

/* Callers hold cpl_lock.  Answers a waiting vCPU. */
static void mpdev_slot_finish(struct mpdev_slot *slot, u64 data, u8 state)
{
	if (state == SLOT_ABORTED)
		slot->aborted_id = slot->id;
	slot->data = data;
	/* Pairs with the waiter's READ_ONCE() of state: data first. */
	smp_store_release(&slot->state, state);
	wake_up_process(slot->task);
}

/*
 * Stops the context for good: every waiting vCPU gets all-ones now, later
 * accesses are answered without the remote, readers see end-of-file.
 */
static void mpdev_fail(struct mpdev_ctx *ctx, int reason)
{
	unsigned int i;

	/* One caller fails the context; it counts before anyone can see it. */
	if (cmpxchg(&ctx->failing, 0, 1))
		return;
	if (reason == MPDEV_FAIL_MALFORMED)
		mpdev_count(ctx, NULL, MPDEV_C_MALFORMED);
	/* Pairs with mpdev_failed(): the count is in before the state. */
	smp_store_release(&ctx->fail_reason, reason);

	spin_lock(&ctx->cpl_lock);
	for (i = 0; i < KVM_MAX_VCPUS; i++) {
		struct mpdev_slot *slot = &ctx->slots[i];

		if (slot->state == SLOT_PENDING)
			mpdev_slot_finish(slot, ~0ULL, SLOT_ABORTED);
	}
	spin_unlock(&ctx->cpl_lock);
	wake_up_all(&ctx->req_wq);
	wake_up_all(&ctx->room_wq);

	if (reason == MPDEV_FAIL_TIMEOUT)
		mpdev_genl_event(ctx, MPDEV_EVENT_DEADLINE, reason);
	else if (reason == MPDEV_FAIL_BACKEND_CLOSED)
		mpdev_genl_event(ctx, MPDEV_EVENT_REMOTE_GONE, reason);
	else if (reason == MPDEV_FAIL_MALFORMED)
		mpdev_genl_event(ctx, MPDEV_EVENT_MALFORMED, reason);
}

/*
 * Applies one completion, copied out of remote-controlled memory by the
 * caller.  Returns false if it is malformed.  Called with cpl_lock held.
 */
static bool mpdev_complete_one(struct mpdev_ctx *ctx,
			       const struct mpdev_completion *c)
{
	u64 idx = c->id & MPDEV_ID_SLOT_MASK;
	struct mpdev_slot *slot;

	if (c->flags & ~MPDEV_CPL_ERROR || c->reserved0 || c->reserved1 ||
	    c->reserved2 || idx >= KVM_MAX_VCPUS)
		return false;
	slot = &ctx->slots[idx];
	/* A late answer to an access we gave up on is not the remote's fault. */
	if (c->id && c->id == slot->aborted_id)
		return true;
	if (c->id != slot->id || slot->state != SLOT_PENDING ||
	    c->size != slot->size)
		return false;
	mpdev_slot_finish(slot, c->flags & MPDEV_CPL_ERROR ? ~0ULL : c->data,
			  SLOT_DONE);
	return true;
}

/*
 * Consumes the completion ring.  Every value the remote wrote is read once
 * into a private copy and checked before use.
 */
static void mpdev_reap(struct mpdev_ctx *ctx)
{
	struct mpdev_ring *ring = ctx->ring;
	bool bad = false;
	u32 head, tail;

	/* Lockless peek: the common "nothing new" case takes no lock. */
	if (READ_ONCE(ring->hdr.cpl_head) == READ_ONCE(ctx->cpl_tail))
		return;

	spin_lock(&ctx->cpl_lock);
	tail = ctx->cpl_tail;
	/* Pairs with the remote's release: entries below head are written. */
	head = smp_load_acquire(&ring->hdr.cpl_head);
	if (head - tail > MPDEV_RING_ENTRIES) {
		bad = true;
		head = tail;
	}
	while (tail != head) {
		const struct mpdev_completion *e;
		struct mpdev_completion c;

		e = &ring->cpl[tail % MPDEV_RING_ENTRIES];
		c.id = READ_ONCE(e->id);
		c.data = READ_ONCE(e->data);
		c.size = READ_ONCE(e->size);
		c.flags = READ_ONCE(e->flags);
		c.reserved0 = READ_ONCE(e->reserved0);
		c.reserved1 = READ_ONCE(e->reserved1);
		c.reserved2 = READ_ONCE(e->reserved2);
		tail++;
		if (!mpdev_complete_one(ctx, &c)) {
			bad = true;
			break;
		}
	}
	WRITE_ONCE(ctx->cpl_tail, tail);
	WRITE_ONCE(ring->hdr.cpl_tail, tail);
	spin_unlock(&ctx->cpl_lock);
	if (bad)
		mpdev_fail(ctx, MPDEV_FAIL_MALFORMED);
}

/* Sleeps (killable) until woken or until @until (ktime ns). */
static void mpdev_sleep_until(u64 until)
{
	ktime_t expires = ns_to_ktime(until);

	schedule_hrtimeout_range_clock(&expires, 10 * NSEC_PER_USEC,
				       HRTIMER_MODE_ABS, CLOCK_MONOTONIC);
}

/*
 * Queues one request in guest order and, for accesses that want a reply,
 * arms the vCPU's @slot.  Waits for room while the ring is full, bounded
 * by @deadline (0: the context's deadline, counted from the first wait).
 * Returns 0, or -EIO if the request was not queued (context failed,
 * region removed, deadline, fatal signal).
 */
static int mpdev_enqueue(struct mpdev_ctx *ctx, struct mpdev_iodev *r,
			 struct mpdev_slot *slot, u64 slot_idx, u64 offset,
			 u64 data, u8 size, u8 flags, u16 vcpu, u64 deadline)
{
	struct mpdev_ring *ring = ctx->ring;
	bool counted = false;
	DEFINE_WAIT(wait);

	for (;;) {
		struct mpdev_request *e;
		u32 head, used;

		if (mpdev_failed(ctx) || READ_ONCE(r->dead))
			return -EIO;

		spin_lock(&ctx->req_lock);
		head = ctx->req_head;
		used = head - READ_ONCE(ring->hdr.req_tail);
		if (used < MPDEV_RING_ENTRIES) {
			u64 id = (++ctx->next_seq << MPDEV_ID_SLOT_BITS) |
				 slot_idx;

			if (slot) {
				/* Armed before the remote can see the id. */
				WRITE_ONCE(slot->id, id);
				slot->size = size;
				slot->region = r->id;
				slot->task = current;
				/* Fields before state, for the completer. */
				smp_store_release(&slot->state, SLOT_PENDING);
			}
			e = &ring->req[head % MPDEV_RING_ENTRIES];
			e->id = id;
			e->offset = offset;
			e->data = data;
			e->region = r->id;
			e->vcpu = vcpu;
			e->size = size;
			e->flags = flags;
			/* Entry before index: for read() ... */
			smp_store_release(&ctx->req_head, head + 1);
			/* ... and for a remote polling the ring. */
			smp_store_release(&ring->hdr.req_head, head + 1);
			spin_unlock(&ctx->req_lock);
			if (wq_has_sleeper(&ctx->req_wq))
				wake_up_interruptible_poll(&ctx->req_wq,
							   EPOLLIN | EPOLLRDNORM);
			return 0;
		}
		spin_unlock(&ctx->req_lock);

		if (used > MPDEV_RING_ENTRIES) {
			/* The remote moved req_tail past what we produced. */
			mpdev_fail(ctx, MPDEV_FAIL_MALFORMED);
			return -EIO;
		}
		if (!counted) {
			mpdev_count(ctx, r, MPDEV_C_QUEUE_FULL);
			counted = true;
			/* Posted writes read the clock only when they wait. */
			if (!deadline)
				deadline = ktime_get_ns() +
					   READ_ONCE(ctx->deadline_ns);
		}
		if (ktime_get_ns() >= deadline) {
			mpdev_count(ctx, r, MPDEV_C_TIMEOUTS);
			mpdev_fail(ctx, MPDEV_FAIL_TIMEOUT);
			return -EIO;
		}
		if (fatal_signal_pending(current))
			return -EIO;
		/*
		 * read() and MPDEV_BACKEND_KICK wake us; a remote that
		 * consumes through the mmap()ed ring does not, so re-check
		 * its index at a short interval.
		 */
		prepare_to_wait(&ctx->room_wq, &wait, TASK_KILLABLE);
		mpdev_sleep_until(min(deadline,
				      ktime_get_ns() + MPDEV_ROOM_POLL_NS));
		finish_wait(&ctx->room_wq, &wait);
	}
}

/*
 * Waits for the answer to the request armed in @slot and returns it
 * (all-ones if there will be none).  Spins first for the context's budget,
 * reaping the completion ring itself so that a busy-polling remote needs no
 * system call; then sleeps until the remote answers or the deadline passes.
 */
static u64 mpdev_wait_reply(struct mpdev_ctx *ctx, struct mpdev_iodev *r,
			    struct mpdev_slot *slot, u64 start, u64 deadline)
{
	u64 spin_end = start + READ_ONCE(ctx->spin_ns);
	struct mpdev_ring *ring = ctx->ring;
	bool timed_out = false;
	u64 data;

	for (;;) {
		mpdev_reap(ctx);
		/* Pairs with mpdev_slot_finish(): state after data. */
		if (smp_load_acquire(&slot->state) != SLOT_PENDING)
			goto done;
		if (need_resched() || ktime_get_ns() >= spin_end)
			break;
		cpu_relax();
	}

	spin_lock(&ctx->cpl_lock);
	if (ctx->sleepers++ == 0)
		WRITE_ONCE(ring->hdr.kick_needed, 1);
	spin_unlock(&ctx->cpl_lock);
	for (;;) {
		/* Full barrier: kick_needed is visible before we re-check. */
		set_current_state(TASK_KILLABLE);
		mpdev_reap(ctx);
		/* Pairs with mpdev_slot_finish(), as above. */
		if (smp_load_acquire(&slot->state) != SLOT_PENDING ||
		    mpdev_failed(ctx) || READ_ONCE(r->dead) ||
		    fatal_signal_pending(current))
			break;
		if (ktime_get_ns() >= deadline) {
			timed_out = true;
			break;
		}
		mpdev_sleep_until(deadline);
	}
	__set_current_state(TASK_RUNNING);
	spin_lock(&ctx->cpl_lock);
	if (--ctx->sleepers == 0)
		WRITE_ONCE(ring->hdr.kick_needed, 0);
	spin_unlock(&ctx->cpl_lock);

done:
	spin_lock(&ctx->cpl_lock);
	if (slot->state == SLOT_PENDING) {
		slot->aborted_id = slot->id;
		slot->data = ~0ULL;
	} else {
		timed_out = false;	/* answered at the last moment */
	}
	data = slot->data;
	slot->state = SLOT_IDLE;
	spin_unlock(&ctx->cpl_lock);

	if (timed_out) {
		mpdev_count(ctx, r, MPDEV_C_TIMEOUTS);
		mpdev_fail(ctx, MPDEV_FAIL_TIMEOUT);
	}
	return data;
}

/*
 * The kvm_io_device ops, on the vCPU thread under kvm->srcu.  Returning
 * non-zero leaves the access to the next device or to userspace, which is
 * what an access that is not wholly inside the region must get.
 */
static int mpdev_access(struct kvm_vcpu *vcpu, struct kvm_io_device *dev,
			gpa_t addr, int len, void *val, bool write)
{
	struct mpdev_iodev *r = container_of(dev, struct mpdev_iodev, dev);
	bool reply = !write || (r->flags & MPDEV_REGION_NONPOSTED);
	struct mpdev_ctx *ctx = r->ctx;
	struct mpdev_slot *slot = NULL;
	u64 slot_idx = MPDEV_ID_POSTED;
	u64 offset, data = 0, start = 0, deadline = 0;

	if (!vcpu || addr < r->addr || (len != 1 && len != 2 && len != 4 &&
					len != 8))
		return -EOPNOTSUPP;
	offset = addr - r->addr;
	if (offset >= r->size || len > r->size - offset)
		return -EOPNOTSUPP;

	mpdev_count(ctx, r, write ? MPDEV_C_WRITES : MPDEV_C_READS);
	if (write)
		memcpy(&data, val, len);	/* x86: little endian */
	if (reply) {
		slot_idx = vcpu->vcpu_idx;
		slot = &ctx->slots[slot_idx];
	}

	/* A posted write needs no clock unless the ring is full. */
	if (reply) {
		start = ktime_get_ns();
		deadline = start + READ_ONCE(ctx->deadline_ns);
	}
	if (mpdev_enqueue(ctx, r, slot, slot_idx, offset, data, len,
			  (write ? MPDEV_REQ_WRITE : 0) |
			  (reply ? MPDEV_REQ_NEEDS_REPLY : 0), vcpu->vcpu_id,
			  deadline)) {
		mpdev_count(ctx, r, MPDEV_C_FAILED);
		data = ~0ULL;
	} else if (reply) {
		data = mpdev_wait_reply(ctx, r, slot, start, deadline);
		if (!write)
			mpdev_count_latency(ctx, r, ktime_get_ns() - start);
	}
	if (!write)
		memcpy(val, &data, len);
	return 0;
}

static int mpdev_region_read(struct kvm_vcpu *vcpu, struct kvm_io_device *dev,
			     gpa_t addr, int len, void *val)
{
	return mpdev_access(vcpu, dev, addr, len, val, false);
}

static int mpdev_region_write(struct kvm_vcpu *vcpu,
			      struct kvm_io_device *dev, gpa_t addr, int len,
			      const void *val)
{
	return mpdev_access(vcpu, dev, addr, len, (void *)val, true);
}

/*
 * KVM calls this only if it tears the bus down with the device still on it
 * (we hold a VM reference, so that means KVM dropped a bus it could not
 * shrink).  The region stays ours to free; it is just no longer on the bus.
 */
static void mpdev_region_destructor(struct kvm_io_device *dev)
{
	struct mpdev_iodev *r = container_of(dev, struct mpdev_iodev, dev);

	WRITE_ONCE(r->on_bus, false);
}

static const struct kvm_io_device_ops mpdev_region_ops = {
	.read		= mpdev_region_read,
	.write		= mpdev_region_write,
	.destructor	= mpdev_region_destructor,
};

/* ---- backend fd: what the remote holds ------------------------------- */

/*
 * Copies queued requests to the remote.  The ring's req_tail is the
 * consumer index whoever consumes (this call or a remote using mmap()), so
 * it is read once, checked against the kernel's own head and advanced here.
 */
static ssize_t mpdev_backend_read(struct file *file, char __user *buf,
				  size_t count, loff_t *ppos)
{
	struct mpdev_ctx *ctx = file->private_data;
	struct mpdev_ring *ring = ctx->ring;
	size_t max = count / sizeof(struct mpdev_request);
	u32 head, tail, n, i;
	ssize_t ret;

	if (!max)
		return -EINVAL;
	if (mutex_lock_interruptible(&ctx->read_lock))
		return -ERESTARTSYS;
	for (;;) {
		ret = 0;
		if (mpdev_failed(ctx))
			goto out;	/* end of file: the context is over */
		head = mpdev_req_head(ctx);
		tail = READ_ONCE(ring->hdr.req_tail);
		if (head - tail > MPDEV_RING_ENTRIES) {
			mpdev_fail(ctx, MPDEV_FAIL_MALFORMED);
			goto out;
		}
		if (head != tail)
			break;
		ret = -EAGAIN;
		if (file->f_flags & O_NONBLOCK)
			goto out;
		ret = wait_event_interruptible(ctx->req_wq,
					       mpdev_failed(ctx) ||
					       mpdev_req_head(ctx) != tail);
		if (ret)
			goto out;
	}

	n = min_t(u32, head - tail, max);
	for (i = 0; i < n; i++) {
		if (copy_to_user(buf + i * sizeof(struct mpdev_request),
				 &ring->req[(tail + i) % MPDEV_RING_ENTRIES],
				 sizeof(struct mpdev_request))) {
			ret = -EFAULT;
			goto out;
		}
	}
	/* Copied out before the producer may reuse the entries. */
	smp_store_release(&ring->hdr.req_tail, tail + n);
	if (wq_has_sleeper(&ctx->room_wq))
		wake_up_all(&ctx->room_wq);
	ret = n * sizeof(struct mpdev_request);
out:
	mutex_unlock(&ctx->read_lock);
	return ret;
}

/* Takes completions.  A malformed one fails the context (-EINVAL). */
static ssize_t mpdev_backend_write(struct file *file, const char __user *buf,
				   size_t count, loff_t *ppos)
{
	struct mpdev_ctx *ctx = file->private_data;
	struct mpdev_completion c[8];
	size_t done = 0;

	if (!count || count % sizeof(c[0])) {
		mpdev_fail(ctx, MPDEV_FAIL_MALFORMED);
		return -EINVAL;
	}
	while (done < count) {
		size_t len = min(count - done, sizeof(c));
		bool ok = true;
		unsigned int i;

		if (mpdev_failed(ctx))
			return done ? done : -EPIPE;
		if (copy_from_user(c, buf + done, len))
			return done ? done : -EFAULT;
		spin_lock(&ctx->cpl_lock);
		for (i = 0; ok && i < len / sizeof(c[0]); i++)
			ok = mpdev_complete_one(ctx, &c[i]);
		spin_unlock(&ctx->cpl_lock);
		if (!ok) {
			mpdev_fail(ctx, MPDEV_FAIL_MALFORMED);
			return -EINVAL;
		}
		done += len;
	}
	return done;
}

static __poll_t mpdev_backend_poll(struct file *file, poll_table *wait)
{
	struct mpdev_ctx *ctx = file->private_data;
	__poll_t mask = EPOLLOUT | EPOLLWRNORM;

	poll_wait(file, &ctx->req_wq, wait);
	if (mpdev_failed(ctx))
		return mask | EPOLLHUP;
	if (mpdev_req_head(ctx) != READ_ONCE(ctx->ring->hdr.req_tail))
		mask |= EPOLLIN | EPOLLRDNORM;
	return mask;
}

static int mpdev_backend_mmap(struct file *file, struct vm_area_struct *vma)
{
	struct mpdev_ctx *ctx = file->private_data;

	if (vma->vm_pgoff ||
	    vma->vm_end - vma->vm_start != MPDEV_RING_MMAP_SIZE ||
	    !(vma->vm_flags & VM_SHARED))
		return -EINVAL;
	if (vma->vm_flags & VM_EXEC)
		return -EPERM;
	vm_flags_clear(vma, VM_MAYEXEC);
	vm_flags_set(vma, VM_DONTEXPAND | VM_DONTDUMP);
	return remap_vmalloc_range(vma, ctx->ring, 0);
}

static long mpdev_backend_ioctl(struct file *file, unsigned int cmd,
				unsigned long arg)
{
	struct mpdev_ctx *ctx = file->private_data;

	switch (cmd) {
	case MPDEV_BACKEND_KICK:
		if (mpdev_failed(ctx))
			return -EPIPE;
		mpdev_reap(ctx);
		if (wq_has_sleeper(&ctx->room_wq))
			wake_up_all(&ctx->room_wq);
		return 0;
	case MPDEV_GET_API_VERSION:
		return MPDEV_API_VERSION;
	case MPDEV_ATTACH_VM:
	case MPDEV_SET_PARAMS:
	case MPDEV_GET_PARAMS:
	case MPDEV_ADD_REGION:
	case MPDEV_DEL_REGION:
	case MPDEV_CREATE_BACKEND:
	case MPDEV_GET_INFO:
		/* The remote may serve requests, never reconfigure. */
		return -EPERM;
	default:
		return -ENOTTY;
	}
}

static int mpdev_backend_release(struct inode *inode, struct file *file)
{
	struct mpdev_ctx *ctx = file->private_data;

	mpdev_fail(ctx, MPDEV_FAIL_BACKEND_CLOSED);
	mutex_lock(&ctx->lock);
	ctx->backend_open = false;
	mutex_unlock(&ctx->lock);
	mpdev_genl_event(ctx, MPDEV_EVENT_BACKEND_DETACHED, 0);
	mpdev_ctx_put(ctx);
	return 0;
}

static const struct file_operations mpdev_backend_fops = {
	.owner		= THIS_MODULE,
	.read		= mpdev_backend_read,
	.write		= mpdev_backend_write,
	.poll		= mpdev_backend_poll,
	.mmap		= mpdev_backend_mmap,
	.unlocked_ioctl	= mpdev_backend_ioctl,
	.compat_ioctl	= compat_ptr_ioctl,
	.release	= mpdev_backend_release,
	.llseek		= noop_llseek,
};

/* ---- control fd: what the VMM holds ---------------------------------- */

static int mpdev_attach_vm(struct mpdev_ctx *ctx, void __user *argp)
{
	struct mpdev_attach_vm a;
	struct file *file;
	struct kvm *kvm;

	if (copy_from_user(&a, argp, sizeof(a)))
		return -EFAULT;
	if (a.flags || a.reserved[0] || a.reserved[1])
		return -EINVAL;
	if (ctx->kvm)
		return -EBUSY;
	file = fget(a.vm_fd);
	if (!file)
		return -EBADF;
	kvm = mpdev_kvm_get_from_file(file);
	fput(file);
	if (!kvm)
		return -EINVAL;
	ctx->kvm = kvm;
	return 0;
}

static int mpdev_params(struct mpdev_ctx *ctx, void __user *argp, bool set)
{
	struct mpdev_params p;

	if (!set) {
		memset(&p, 0, sizeof(p));
		p.deadline_ns = ctx->deadline_ns;
		p.spin_ns = ctx->spin_ns;
		return copy_to_user(argp, &p, sizeof(p)) ? -EFAULT : 0;
	}
	if (copy_from_user(&p, argp, sizeof(p)))
		return -EFAULT;
	if (memchr_inv(p.reserved, 0, sizeof(p.reserved)))
		return -EINVAL;
	if (p.deadline_ns < MPDEV_MIN_DEADLINE_NS ||
	    p.deadline_ns > MPDEV_MAX_DEADLINE_NS || p.spin_ns > p.deadline_ns)
		return -EINVAL;
	WRITE_ONCE(ctx->deadline_ns, p.deadline_ns);
	WRITE_ONCE(ctx->spin_ns, p.spin_ns);
	return 0;
}

static struct mpdev_iodev *mpdev_find_region(struct mpdev_ctx *ctx, u32 id)
{
	struct mpdev_iodev *r;

	list_for_each_entry(r, &ctx->regions, node)
		if (r->id == id)
			return r;
	return NULL;
}

static enum kvm_bus mpdev_bus_of(struct mpdev_iodev *r)
{
	return r->space == MPDEV_SPACE_PIO ? KVM_PIO_BUS : KVM_MMIO_BUS;
}

static int mpdev_add_region(struct mpdev_ctx *ctx, void __user *argp)
{
	struct mpdev_iodev *r;
	struct mpdev_region a;
	int ret;

	if (copy_from_user(&a, argp, sizeof(a)))
		return -EFAULT;
	if (a.flags & ~MPDEV_REGION_FLAGS_ALL || a.reserved[0] ||
	    a.reserved[1] || a.space > MPDEV_SPACE_PIO || !a.size ||
	    a.size > INT_MAX || a.addr + a.size < a.addr ||
	    (a.space == MPDEV_SPACE_PIO && a.addr + a.size > 0x10000))
		return -EINVAL;
	if (!ctx->kvm)
		return -ENOTCONN;
	if (mpdev_find_region(ctx, a.id))
		return -EEXIST;
	if (ctx->nr_regions >= MPDEV_MAX_REGIONS)
		return -ENOSPC;

	r = kzalloc(sizeof(*r), GFP_KERNEL_ACCOUNT);
	if (!r)
		return -ENOMEM;
	r->stats = alloc_percpu(struct mpdev_stats);
	if (!r->stats) {
		ret = -ENOMEM;
		goto err_free;
	}
	kvm_iodevice_init(&r->dev, &mpdev_region_ops);
	r->ctx = ctx;
	r->addr = a.addr;
	r->size = a.size;
	r->id = a.id;
	r->space = a.space;
	r->flags = a.flags;
	ret = mpdev_bus_add(ctx->kvm, mpdev_bus_of(r), r->addr, r->size,
			    &r->dev);
	if (ret)
		goto err_free;
	r->on_bus = true;
	list_add_tail(&r->node, &ctx->regions);
	ctx->nr_regions++;
	return 0;

err_free:
	free_percpu(r->stats);
	kfree(r);
	return ret;
}

/*
 * Takes @r off the bus.  vCPUs waiting on one of its requests get
 * all-ones at once, so the SRCU grace period in mpdev_bus_del() is short;
 * a late answer from the remote is then ignored.
 */
static void mpdev_remove_region(struct mpdev_ctx *ctx, struct mpdev_iodev *r)
{
	unsigned int i;

	WRITE_ONCE(r->dead, true);
	smp_mb();	/* dead before the sweep; pairs with the waiter */
	spin_lock(&ctx->cpl_lock);
	for (i = 0; i < KVM_MAX_VCPUS; i++) {
		struct mpdev_slot *slot = &ctx->slots[i];

		if (slot->state == SLOT_PENDING && slot->region == r->id)
			mpdev_slot_finish(slot, ~0ULL, SLOT_ABORTED);
	}
	spin_unlock(&ctx->cpl_lock);
	wake_up_all(&ctx->room_wq);
	if (READ_ONCE(r->on_bus))
		mpdev_bus_del(ctx->kvm, mpdev_bus_of(r), &r->dev);
	list_del(&r->node);
	ctx->nr_regions--;
	free_percpu(r->stats);
	kfree(r);
}

static int mpdev_del_region(struct mpdev_ctx *ctx, void __user *argp)
{
	struct mpdev_iodev *r;
	struct mpdev_region a;

	if (copy_from_user(&a, argp, sizeof(a)))
		return -EFAULT;
	if (a.addr || a.size || a.space || a.flags || a.reserved[0] ||
	    a.reserved[1])
		return -EINVAL;
	r = mpdev_find_region(ctx, a.id);
	if (!r)
		return -ENOENT;
	mpdev_remove_region(ctx, r);
	return 0;
}

static int mpdev_create_backend(struct mpdev_ctx *ctx, void __user *argp)
{
	struct mpdev_backend_args a;
	int fd, flags = O_RDWR;

	if (copy_from_user(&a, argp, sizeof(a)))
		return -EFAULT;
	if (a.flags & ~(MPDEV_BACKEND_CLOEXEC | MPDEV_BACKEND_NONBLOCK) ||
	    memchr_inv(a.reserved, 0, sizeof(a.reserved)))
		return -EINVAL;
	/* One remote per context: requests must have a single consumer. */
	if (ctx->backend_created)
		return -EBUSY;
	if (a.flags & MPDEV_BACKEND_CLOEXEC)
		flags |= O_CLOEXEC;
	if (a.flags & MPDEV_BACKEND_NONBLOCK)
		flags |= O_NONBLOCK;
	kref_get(&ctx->ref);
	fd = anon_inode_getfd("[mpdev-backend]", &mpdev_backend_fops, ctx,
			      flags);
	if (fd < 0) {
		mpdev_ctx_put(ctx);
		return fd;
	}
	ctx->backend_created = true;
	ctx->backend_open = true;
	mpdev_genl_event(ctx, MPDEV_EVENT_BACKEND_ATTACHED, 0);
	return fd;
}

static int mpdev_get_info(struct mpdev_ctx *ctx, void __user *argp)
{
	struct mpdev_stats sum;
	struct mpdev_info info;

	memset(&info, 0, sizeof(info));
	/* As mpdev_failed(): counters of the failure are in before it. */
	info.fail_reason = smp_load_acquire(&ctx->fail_reason);
	info.state = info.fail_reason ? MPDEV_STATE_FAILED : MPDEV_STATE_OK;
	info.nr_regions = ctx->nr_regions;
	info.backend_attached = ctx->backend_open;
	info.vm_attached = !!ctx->kvm;
	info.ring_entries = MPDEV_RING_ENTRIES;
	mpdev_stats_sum(ctx->stats, &sum);
	info.counters.reads = sum.c[MPDEV_C_READS];
	info.counters.writes = sum.c[MPDEV_C_WRITES];
	info.counters.queue_full_waits = sum.c[MPDEV_C_QUEUE_FULL];
	info.counters.timeouts = sum.c[MPDEV_C_TIMEOUTS];
	info.counters.malformed = sum.c[MPDEV_C_MALFORMED];
	info.counters.failed_accesses = sum.c[MPDEV_C_FAILED];
	return copy_to_user(argp, &info, sizeof(info)) ? -EFAULT : 0;
}

static long mpdev_ctl_ioctl(struct file *file, unsigned int cmd,
			    unsigned long arg)
{
	struct mpdev_ctx *ctx = file->private_data;
	void __user *argp = (void __user *)arg;
	long ret;

	if (cmd == MPDEV_GET_API_VERSION)
		return MPDEV_API_VERSION;

	mutex_lock(&ctx->lock);
	switch (cmd) {
	case MPDEV_ATTACH_VM:
		ret = mpdev_attach_vm(ctx, argp);
		break;
	case MPDEV_SET_PARAMS:
		ret = mpdev_params(ctx, argp, true);
		break;
	case MPDEV_GET_PARAMS:
		ret = mpdev_params(ctx, argp, false);
		break;
	case MPDEV_ADD_REGION:
		ret = mpdev_add_region(ctx, argp);
		break;
	case MPDEV_DEL_REGION:
		ret = mpdev_del_region(ctx, argp);
		break;
	case MPDEV_CREATE_BACKEND:
		ret = mpdev_create_backend(ctx, argp);
		break;
	case MPDEV_GET_INFO:
		ret = mpdev_get_info(ctx, argp);
		break;
	default:
		ret = -ENOTTY;
		break;
	}
	mutex_unlock(&ctx->lock);
	return ret;
}

static int mpdev_ctl_open(struct inode *inode, struct file *file)
{
	struct mpdev_ctx *ctx;

	if (!capable(CAP_SYS_ADMIN))
		return -EPERM;
	ctx = kzalloc(sizeof(*ctx), GFP_KERNEL_ACCOUNT);
	if (!ctx)
		return -ENOMEM;
	ctx->ring = vmalloc_user(MPDEV_RING_MMAP_SIZE);
	if (!ctx->ring)
		goto err;
	ctx->slots = kvcalloc(KVM_MAX_VCPUS, sizeof(*ctx->slots),
			      GFP_KERNEL_ACCOUNT);
	if (!ctx->slots)
		goto err;
	ctx->stats = alloc_percpu(struct mpdev_stats);
	if (!ctx->stats)
		goto err;
	ctx->ring->hdr.entries = MPDEV_RING_ENTRIES;
	kref_init(&ctx->ref);
	mutex_init(&ctx->lock);
	mutex_init(&ctx->read_lock);
	spin_lock_init(&ctx->req_lock);
	spin_lock_init(&ctx->cpl_lock);
	init_waitqueue_head(&ctx->req_wq);
	init_waitqueue_head(&ctx->room_wq);
	INIT_LIST_HEAD(&ctx->regions);
	ctx->deadline_ns = MPDEV_DEF_DEADLINE_NS;
	ctx->spin_ns = MPDEV_DEF_SPIN_NS;
	ctx->id = atomic_inc_return(&mpdev_next_ctx_id);
	ctx->owner = task_tgid_vnr(current);
	ctx->net = get_net(current->nsproxy->net_ns);
	mutex_lock(&mpdev_ctxs_lock);
	list_add_tail(&ctx->node, &mpdev_ctxs);
	mutex_unlock(&mpdev_ctxs_lock);
	file->private_data = ctx;
	mpdev_genl_event(ctx, MPDEV_EVENT_CTX_CREATED, 0);
	return 0;
err:
	free_percpu(ctx->stats);
	kvfree(ctx->slots);
	vfree(ctx->ring);
	kfree(ctx);
	return -ENOMEM;
}

/* The VMM is gone: stop forwarding, leave the bus, drop the VM. */
static int mpdev_ctl_release(struct inode *inode, struct file *file)
{
	struct mpdev_ctx *ctx = file->private_data;
	struct mpdev_iodev *r, *tmp;

	mpdev_fail(ctx, MPDEV_FAIL_VMM_CLOSED);
	mutex_lock(&ctx->lock);
	list_for_each_entry_safe(r, tmp, &ctx->regions, node)
		mpdev_remove_region(ctx, r);
	if (ctx->kvm)
		kvm_put_kvm(ctx->kvm);
	ctx->kvm = NULL;
	mutex_unlock(&ctx->lock);
	mpdev_genl_event(ctx, MPDEV_EVENT_CTX_DESTROYED, 0);
	mpdev_ctx_put(ctx);
	return 0;
}

static const struct file_operations mpdev_ctl_fops = {
	.owner		= THIS_MODULE,
	.open		= mpdev_ctl_open,
	.release	= mpdev_ctl_release,
	.unlocked_ioctl	= mpdev_ctl_ioctl,
	.compat_ioctl	= compat_ptr_ioctl,
	.llseek		= noop_llseek,
};

static struct miscdevice mpdev_misc = {
	.minor	= MISC_DYNAMIC_MINOR,
	.name	= "mpdev",
	.fops	= &mpdev_ctl_fops,
	.mode	= 0600,
};

static int __init mpdev_init(void)
{
	int ret;

	ret = mpdev_genl_init();
	if (ret)
		return ret;
	ret = misc_register(&mpdev_misc);
	if (ret)
		goto err_genl;
	return 0;

err_genl:
	mpdev_genl_exit();
	return ret;
}

static void __exit mpdev_exit(void)
{
	misc_deregister(&mpdev_misc);
	mpdev_genl_exit();
}

module_init(mpdev_init);
module_exit(mpdev_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("Kernel-assisted multi-process device emulation for KVM");
