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
 *  - struct mpdev_iodev: one region, a kvm_io_device on the VM's MMIO or
 *    PIO bus.  Owned by the context, created and removed under ctx->lock.
 *    vCPUs may be inside its ops under kvm->srcu, so it is freed by an
 *    SRCU callback after it left the bus (kvm_bus.c), never waited for.
 *  - the ring: pages shared with the remote, set up with the backend; one
 *    FIFO of requests for the whole context (so the remote sees accesses
 *    in guest order) and one of completions.
 *  - slots: one per vCPU that ever waited, by vcpu index, in an xarray.  A
 *    vCPU has at most one access in flight, so its slot holds the id,
 *    state and answer of that access, and the vCPU's waiting budget for
 *    the current KVM exit.
 *
 * Locking:
 *  - ctx->lock (mutex): control operations (attach, regions, backend).
 *  - ctx->req_lock (spinlock): request producers; protects req_head,
 *    next_seq, the request ring entries being written, and the arming of
 *    a slot (IDLE -> PENDING).  A region's "dead" flag and the context's
 *    fail_reason are written under it too, so a producer that checks them
 *    under req_lock either sees them or has queued (and armed) before the
 *    writer takes the lock; the writer's sweep that follows, under
 *    cpl_lock, therefore finds every slot armed for the dead region or
 *    failed context.
 *  - ctx->cpl_lock (spinlock): slot answers (PENDING -> DONE/ABORTED, and
 *    the vCPU's own -> IDLE), the completion ring's consumer index.
 *  - ctx->read_lock (mutex): serialises read() consumers of the ring.
 *  The spinlocks never nest.  Slot fields armed under req_lock are read
 *  under cpl_lock by the completer: they are written with WRITE_ONCE()
 *  before a release store of the state and read after an acquire load of
 *  it, so a completer that sees PENDING sees the armed id and size.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/anon_inodes.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/hrtimer.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/nsproxy.h>
#include <linux/pid.h>
#include <linux/poll.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/vmalloc.h>
#include <net/net_namespace.h>

#include "compat.h"
#include "mpdev.h"

#define MPDEV_DEF_DEADLINE_NS	(2ULL * NSEC_PER_SEC)
#define MPDEV_DEF_SPIN_NS	(50ULL * NSEC_PER_USEC)
#define MPDEV_DEF_INTR_NS	(10ULL * NSEC_PER_MSEC)
/* A producer waiting for ring room re-reads the remote's index this often. */
#define MPDEV_ROOM_POLL_NS	(20ULL * NSEC_PER_USEC)

/*
 * Request ids: a per-context sequence number above the slot index, so the
 * kernel finds a completion's waiter without searching, and a stale or
 * forged id never matches a live request.  Ids of one slot grow with each
 * request.  Posted writes use a slot index no vCPU has (kvm_bus.c checks
 * that KVM_MAX_VCPUS stays below it).
 */
#define MPDEV_ID_SLOT_BITS	16
#define MPDEV_ID_SLOT_MASK	((1ULL << MPDEV_ID_SLOT_BITS) - 1)
#define MPDEV_ID_POSTED		MPDEV_ID_SLOT_MASK
static_assert(sizeof(struct mpdev_request) == 48);
static_assert(sizeof(struct mpdev_completion) == 32);
static_assert(sizeof(struct mpdev_ring_hdr) == 128);

#define MPDEV_FEATURES	(MPDEV_FEAT_RING_GEOMETRY | MPDEV_FEAT_REGION_COOKIE | \
			 MPDEV_FEAT_EXIT_DEADLINE | MPDEV_FEAT_INTR_GRACE | \
			 MPDEV_FEAT_STALE_CPL)

enum mpdev_slot_state {
	SLOT_IDLE,
	SLOT_PENDING,	/* waiting for the remote */
	SLOT_DONE,	/* answered; the vCPU has yet to pick it up */
	SLOT_ABORTED,	/* given up by a sweep (region removed, failure) */
};

struct mpdev_slot {
	u64 id;			/* the newest request armed here */
	u64 data;
	struct task_struct *task;
	u32 region;
	u8 size;
	u8 state;		/* enum mpdev_slot_state */
	/* The newest id was given up on: an answer to it is stale. */
	bool abandoned;
	/* The vCPU's waiting budget: only its own thread touches these. */
	u64 exit_seq;		/* mpdev_vcpu_exit_seq() it belongs to */
	u64 exit_used_ns;	/* time waited in that exit so far */
	u64 exit_intr_end;	/* a signal's grace in that exit ends here */
};

/* One access's wait: budget, deadline and signal grace. */
struct mpdev_wait {
	struct mpdev_slot *slot;
	u64 start;		/* 0 until the access first waits */
	u64 deadline;
	u64 intr_end;		/* U64_MAX until a signal is seen */
	bool room_waited;	/* counted as a queue-full wait */
};

/* Every context, for introspection. */
static LIST_HEAD(mpdev_ctxs);
static DEFINE_MUTEX(mpdev_ctxs_lock);
static u32 mpdev_last_ctx_id;	/* under mpdev_ctxs_lock */

static void mpdev_count_latency(struct mpdev_ctx *ctx, u64 ns)
{
	unsigned int b = ns ? min_t(unsigned int, ilog2(ns),
				    MPDEV_LAT_BUCKETS - 1) : 0;

	this_cpu_inc(ctx->stats->lat[b]);
}

/* Sums per-CPU counters; racy against increments, as counters may be. */
void mpdev_ctx_stats(struct mpdev_ctx *ctx, struct mpdev_stats *sum)
{
	unsigned int i;
	int cpu;

	memset(sum, 0, sizeof(*sum));
	for_each_possible_cpu(cpu) {
		const struct mpdev_stats *s = per_cpu_ptr(ctx->stats, cpu);

		for (i = 0; i < MPDEV_NR_COUNTERS; i++)
			sum->n.c[i] += READ_ONCE(s->n.c[i]);
		for (i = 0; i < MPDEV_LAT_BUCKETS; i++)
			sum->lat[i] += READ_ONCE(s->lat[i]);
	}
}

void mpdev_region_stats(struct mpdev_iodev *r, struct mpdev_counts *sum)
{
	unsigned int i;
	int cpu;

	memset(sum, 0, sizeof(*sum));
	for_each_possible_cpu(cpu) {
		const struct mpdev_counts *s = per_cpu_ptr(r->stats, cpu);

		for (i = 0; i < MPDEV_NR_COUNTERS; i++)
			sum->c[i] += READ_ONCE(s->c[i]);
	}
}

/* Kernel memory the context holds, for MPDEV_GET_INFO and netlink. */
u64 mpdev_ctx_footprint(struct mpdev_ctx *ctx)
{
	u64 cpus = num_possible_cpus();

	return sizeof(*ctx) + cpus * sizeof(struct mpdev_stats) +
	       (u64)ctx->ring_nr_pages * (PAGE_SIZE + sizeof(struct page *)) +
	       (u64)atomic_read(&ctx->nr_slots) * sizeof(struct mpdev_slot) +
	       (u64)ctx->nr_regions * (sizeof(struct mpdev_iodev) +
				       cpus * sizeof(struct mpdev_counts));
}

/*
 * The context of @net with the smallest id >= @min_id, with a reference
 * the caller drops with mpdev_ctx_put(), or NULL.
 */
struct mpdev_ctx *mpdev_ctx_next(struct net *net, u64 min_id)
{
	struct mpdev_ctx *ctx, *best;

	mutex_lock(&mpdev_ctxs_lock);
retry:
	best = NULL;
	list_for_each_entry(ctx, &mpdev_ctxs, node) {
		if (ctx->id < min_id || !net_eq(ctx->net, net) ||
		    !kref_read(&ctx->ref) || (best && best->id < ctx->id))
			continue;
		best = ctx;
	}
	/* Its last reference went meanwhile: it is no candidate any more. */
	if (best && !kref_get_unless_zero(&best->ref))
		goto retry;
	mutex_unlock(&mpdev_ctxs_lock);
	return best;
}

/* Frees what mpdev_ring_alloc() set up, also half of it; no ring after. */
static void mpdev_ring_free(struct mpdev_ctx *ctx)
{
	unsigned int i;

	if (ctx->ring)
		vunmap(ctx->ring);
	/* A mapping of the remote's holds its own page references. */
	for (i = 0; ctx->ring_pages && i < ctx->ring_nr_pages; i++)
		if (ctx->ring_pages[i])
			put_page(ctx->ring_pages[i]);
	kvfree(ctx->ring_pages);
	ctx->ring = NULL;
	ctx->ring_pages = NULL;
	ctx->ring_nr_pages = 0;
	ctx->ring_mask = 0;
	memset(&ctx->ring_info, 0, sizeof(ctx->ring_info));
}

static void mpdev_ctx_free(struct kref *ref)
{
	struct mpdev_ctx *ctx = container_of(ref, struct mpdev_ctx, ref);
	struct mpdev_slot *slot;
	unsigned long i;

	mutex_lock(&mpdev_ctxs_lock);
	list_del(&ctx->node);
	mutex_unlock(&mpdev_ctxs_lock);
	put_net(ctx->net);
	put_pid(ctx->owner);
	free_percpu(ctx->stats);
	xa_for_each(&ctx->slots, i, slot)
		kfree(slot);
	xa_destroy(&ctx->slots);
	mpdev_ring_free(ctx);
	kfree(ctx);
}

void mpdev_ctx_put(struct mpdev_ctx *ctx)
{
	kref_put(&ctx->ref, mpdev_ctx_free);
}

static bool mpdev_failed(struct mpdev_ctx *ctx)
{
	/* Pairs with the release in mpdev_fail(). */
	return smp_load_acquire(&ctx->fail_reason) != MPDEV_FAIL_NONE;
}

static struct mpdev_ring_hdr *mpdev_hdr(struct mpdev_ctx *ctx)
{
	return ctx->ring;
}

static struct mpdev_request *mpdev_req_entry(struct mpdev_ctx *ctx, u32 i)
{
	return ctx->ring + ctx->ring_info.req_offset +
	       (size_t)(i & ctx->ring_mask) * sizeof(struct mpdev_request);
}

static struct mpdev_completion *mpdev_cpl_entry(struct mpdev_ctx *ctx, u32 i)
{
	return ctx->ring + ctx->ring_info.cpl_offset +
	       (size_t)(i & ctx->ring_mask) * sizeof(struct mpdev_completion);
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
		WRITE_ONCE(slot->abandoned, true);
	slot->data = data;
	/* Pairs with the waiter's acquire of state: data first. */
	smp_store_release(&slot->state, state);
	wake_up_process(slot->task);
}

/*
 * Answers, with all-ones, every vCPU waiting on region @region_id (or on
 * any region, if @all).  The caller has set the dead flag or fail_reason
 * under req_lock, so no slot can be armed for them after this sweep.
 */
static void mpdev_sweep(struct mpdev_ctx *ctx, bool all, u32 region_id)
{
	struct mpdev_slot *slot;
	unsigned long i;

	spin_lock(&ctx->cpl_lock);
	xa_for_each(&ctx->slots, i, slot) {
		/* Pairs with the arming in mpdev_enqueue(): state, then region. */
		if (smp_load_acquire(&slot->state) == SLOT_PENDING &&
		    (all || READ_ONCE(slot->region) == region_id))
			mpdev_slot_finish(slot, ~0ULL, SLOT_ABORTED);
	}
	spin_unlock(&ctx->cpl_lock);
	wake_up_all(&ctx->room_wq);
}

/*
 * Stops the context for good: every waiting vCPU gets all-ones now, later
 * accesses are answered without the remote, readers see end-of-file.
 * Must be called in process context with the task running: it may send a
 * netlink event (GFP_KERNEL).
 */
static void mpdev_fail(struct mpdev_ctx *ctx, int reason)
{
	static const u8 event[] = {
		[MPDEV_FAIL_TIMEOUT]		= MPDEV_EVENT_DEADLINE,
		[MPDEV_FAIL_BACKEND_CLOSED]	= MPDEV_EVENT_REMOTE_GONE,
		[MPDEV_FAIL_MALFORMED]		= MPDEV_EVENT_MALFORMED,
		[MPDEV_FAIL_BUS_LOST]		= MPDEV_EVENT_BUS,
		[MPDEV_FAIL_BUS_CONFLICT]	= MPDEV_EVENT_BUS,
	};

	spin_lock(&ctx->req_lock);
	if (ctx->fail_reason) {
		spin_unlock(&ctx->req_lock);
		return;
	}
	/* Counted before anyone can see the failure. */
	if (reason == MPDEV_FAIL_MALFORMED)
		mpdev_count(ctx, NULL, MPDEV_C_MALFORMED);
	/* Pairs with mpdev_failed(). */
	smp_store_release(&ctx->fail_reason, reason);
	spin_unlock(&ctx->req_lock);

	mpdev_sweep(ctx, true, 0);
	wake_up_all(&ctx->req_wq);
	if (reason < ARRAY_SIZE(event) && event[reason])
		mpdev_genl_event(ctx, event[reason], reason);
}

/* The slot of vcpu index @idx, or NULL.  Slots live as long as the context. */
static struct mpdev_slot *mpdev_slot_find(struct mpdev_ctx *ctx,
					  unsigned long idx)
{
	if (idx < MPDEV_SLOT_CACHE)
		/* Address dependency: pairs with the release in _get(). */
		return READ_ONCE(ctx->slot_cache[idx]);
	return xa_load(&ctx->slots, idx);
}

/*
 * Applies one completion, copied out of remote-controlled memory by the
 * caller.  Returns false if it is malformed.  Called with cpl_lock held.
 */
static bool mpdev_complete_one(struct mpdev_ctx *ctx,
			       const struct mpdev_completion *c)
{
	struct mpdev_slot *slot;
	u64 newest;
	u8 state;

	if (c->flags & ~MPDEV_CPL_ERROR || c->reserved0 || c->reserved1 ||
	    c->reserved2)
		return false;
	slot = mpdev_slot_find(ctx, c->id & MPDEV_ID_SLOT_MASK);
	if (!slot)
		return false;		/* no vCPU ever waited there */
	/* Pairs with the release in mpdev_enqueue(): state, then fields. */
	state = smp_load_acquire(&slot->state);
	newest = READ_ONCE(slot->id);
	if (c->id < newest) {
		/* Ids of a slot grow: an older one was given up on. */
		mpdev_count(ctx, NULL, MPDEV_C_STALE);
		return true;
	}
	if (c->id > newest)
		return false;		/* never issued */
	if (state != SLOT_PENDING) {
		if (!READ_ONCE(slot->abandoned))
			return false;	/* answered already */
		mpdev_count(ctx, NULL, MPDEV_C_STALE);
		return true;
	}
	if (c->size != READ_ONCE(slot->size))
		return false;
	mpdev_slot_finish(slot, c->flags & MPDEV_CPL_ERROR ? ~0ULL : c->data,
			  SLOT_DONE);
	return true;
}

/*
 * Consumes the completion ring.  Every value the remote wrote is read once
 * into a private copy and checked before use.  Returns false if something
 * was malformed: the caller fails the context (once it is running again,
 * if it had set its task state to sleep).
 */
static bool mpdev_reap(struct mpdev_ctx *ctx)
{
	struct mpdev_ring_hdr *hdr = mpdev_hdr(ctx);
	u32 head, tail, entries = ctx->ring_info.entries;
	bool ok = true;

	/* Lockless peek: the common "nothing new" case takes no lock. */
	if (READ_ONCE(hdr->cpl_head) == READ_ONCE(ctx->cpl_tail))
		return true;

	spin_lock(&ctx->cpl_lock);
	tail = ctx->cpl_tail;
	/* Pairs with the remote's release: entries below head are written. */
	head = smp_load_acquire(&hdr->cpl_head);
	if (head - tail > entries) {
		ok = false;
		head = tail;
	}
	while (tail != head) {
		const struct mpdev_completion *e = mpdev_cpl_entry(ctx, tail);
		struct mpdev_completion c;

		c.id = READ_ONCE(e->id);
		c.data = READ_ONCE(e->data);
		c.size = READ_ONCE(e->size);
		c.flags = READ_ONCE(e->flags);
		c.reserved0 = READ_ONCE(e->reserved0);
		c.reserved1 = READ_ONCE(e->reserved1);
		c.reserved2 = READ_ONCE(e->reserved2);
		tail++;
		if (!mpdev_complete_one(ctx, &c)) {
			ok = false;
			break;
		}
	}
	WRITE_ONCE(ctx->cpl_tail, tail);
	WRITE_ONCE(hdr->cpl_tail, tail);
	spin_unlock(&ctx->cpl_lock);
	return ok;
}

static void mpdev_reap_or_fail(struct mpdev_ctx *ctx)
{
	if (!mpdev_reap(ctx))
		mpdev_fail(ctx, MPDEV_FAIL_MALFORMED);
}

/* Sleeps until woken, a signal (if interruptible) or @until (ktime ns). */
static void mpdev_sleep_until(u64 until)
{
	ktime_t expires = ns_to_ktime(until);

	schedule_hrtimeout_range_clock(&expires, 10 * NSEC_PER_USEC,
				       HRTIMER_MODE_ABS, CLOCK_MONOTONIC);
}

/*
 * The vCPU's slot, created on its first wait.  Sleeps (allocation); NULL
 * if memory is short, and the access then fails without the remote.
 */
static struct mpdev_slot *mpdev_slot_get(struct mpdev_ctx *ctx,
					 struct kvm_vcpu *vcpu)
{
	unsigned long idx = mpdev_vcpu_index(vcpu);
	struct mpdev_slot *slot;

	slot = mpdev_slot_find(ctx, idx);
	if (likely(slot))
		return slot;
	slot = kzalloc(sizeof(*slot), GFP_KERNEL_ACCOUNT);
	if (!slot)
		return NULL;
	slot->exit_seq = mpdev_vcpu_exit_seq(vcpu) - 1;
	/* Only this vCPU's thread creates slot @idx. */
	if (xa_insert(&ctx->slots, idx, slot, GFP_KERNEL_ACCOUNT)) {
		kfree(slot);
		return NULL;
	}
	if (idx < MPDEV_SLOT_CACHE)
		/* Initialised before found (xa_insert() orders the xarray). */
		smp_store_release(&ctx->slot_cache[idx], slot);
	atomic_inc(&ctx->nr_slots);
	return slot;
}

/*
 * Starts the wait of one access: what is left of the vCPU's budget for
 * this KVM exit becomes its deadline.  Returns false if there is no slot.
 */
static bool mpdev_wait_start(struct mpdev_ctx *ctx, struct kvm_vcpu *vcpu,
			     struct mpdev_wait *w)
{
	u64 seq = mpdev_vcpu_exit_seq(vcpu), budget;
	struct mpdev_slot *slot = w->slot;

	if (!slot) {
		slot = mpdev_slot_get(ctx, vcpu);
		if (!slot)
			return false;
		w->slot = slot;
	}
	if (slot->exit_seq != seq) {
		slot->exit_seq = seq;
		slot->exit_used_ns = 0;
		slot->exit_intr_end = U64_MAX;
	}
	budget = READ_ONCE(ctx->deadline_ns);
	budget = slot->exit_used_ns < budget ? budget - slot->exit_used_ns : 0;
	w->start = ktime_get_ns();
	w->deadline = w->start + budget;
	/* One grace per exit: a "rep ins" does not get one per access. */
	w->intr_end = slot->exit_intr_end;
	return true;
}

/* Ends the wait: its time is charged to the exit's budget. */
static void mpdev_wait_end(struct mpdev_wait *w, u64 now)
{
	if (w->start)
		w->slot->exit_used_ns += now - w->start;
}

/*
 * What a pending signal does to a wait: a fatal one ends it now (true); a
 * non-fatal one leaves the rest of the exit intr_ns more, counted from when
 * it is first seen.
 */
static bool mpdev_wait_signal(struct mpdev_ctx *ctx, struct mpdev_wait *w,
			      u64 now)
{
	if (fatal_signal_pending(current))
		return true;
	if (w->intr_end == U64_MAX) {
		w->intr_end = min(w->deadline, now + READ_ONCE(ctx->intr_ns));
		w->slot->exit_intr_end = w->intr_end;
	}
	return false;
}

/* The state to sleep in: interruptible until a signal has been seen. */
static unsigned int mpdev_wait_state(const struct mpdev_wait *w)
{
	return w->intr_end == U64_MAX ? TASK_INTERRUPTIBLE : TASK_KILLABLE;
}

enum mpdev_wait_result {
	MPDEV_WAIT_GO,		/* keep waiting */
	MPDEV_WAIT_STOP,	/* region dead, context failed, fatal signal */
	MPDEV_WAIT_INTR,	/* a non-fatal signal's grace is over */
	MPDEV_WAIT_TIMEOUT,	/* the exit's budget is used up */
};

/* Whether a waiting vCPU must stop, and why. */
static int mpdev_wait_check(struct mpdev_ctx *ctx, struct mpdev_iodev *r,
			    struct mpdev_wait *w, u64 now)
{
	if (mpdev_failed(ctx) || READ_ONCE(r->dead))
		return MPDEV_WAIT_STOP;
	if (signal_pending(current) && mpdev_wait_signal(ctx, w, now))
		return MPDEV_WAIT_STOP;
	if (now >= w->intr_end)
		return now >= w->deadline ? MPDEV_WAIT_TIMEOUT : MPDEV_WAIT_INTR;
	if (now >= w->deadline)
		return MPDEV_WAIT_TIMEOUT;
	return MPDEV_WAIT_GO;
}

/*
 * Waits for room in the full request ring.  Returns 0 to try again, or an
 * MPDEV_WAIT_* reason to give up.  @tail is the consumer index that was
 * seen full.
 */
static int mpdev_room_wait(struct mpdev_ctx *ctx, struct mpdev_iodev *r,
			   struct kvm_vcpu *vcpu, struct mpdev_wait *w,
			   u32 tail)
{
	DEFINE_WAIT(wait);
	int why;
	u64 now;

	if (!w->room_waited) {
		w->room_waited = true;
		mpdev_count(ctx, r, MPDEV_C_QUEUE_FULL);
	}
	/* A posted write starts its budget only now. */
	if (!w->start && !mpdev_wait_start(ctx, vcpu, w))
		return MPDEV_WAIT_STOP;
	prepare_to_wait(&ctx->room_wq, &wait, mpdev_wait_state(w));
	/* Re-check after queueing ourselves: a wakeup may have come. */
	now = ktime_get_ns();
	why = mpdev_wait_check(ctx, r, w, now);
	if (why == MPDEV_WAIT_GO &&
	    READ_ONCE(mpdev_hdr(ctx)->req_tail) == tail)
		/*
		 * read() and MPDEV_BACKEND_KICK wake us; a remote that
		 * consumes through the mapped ring does not, so re-check
		 * its index at a short interval.
		 */
		mpdev_sleep_until(min3(w->deadline, w->intr_end,
				       now + MPDEV_ROOM_POLL_NS));
	finish_wait(&ctx->room_wq, &wait);
	return why == MPDEV_WAIT_GO ? 0 : why;
}

/*
 * Queues one request in guest order and, for accesses that want a reply,
 * arms the vCPU's slot w->slot.  Waits for room while the ring is full,
 * within the exit's budget.  Returns 0, or an MPDEV_WAIT_* reason if the
 * request was not queued.
 */
static int mpdev_enqueue(struct mpdev_ctx *ctx, struct mpdev_iodev *r,
			 struct kvm_vcpu *vcpu, struct mpdev_wait *w,
			 u64 offset, u64 data, u8 size, u8 flags)
{
	struct mpdev_ring_hdr *hdr = mpdev_hdr(ctx);
	u32 entries = ctx->ring_info.entries;
	struct mpdev_slot *slot = (flags & MPDEV_REQ_NEEDS_REPLY) ?
				  w->slot : NULL;
	int why;

	for (;;) {
		struct mpdev_request *e;
		u32 head, tail, used;

		/* Lockless first: a failed context answers without the lock. */
		if (mpdev_failed(ctx) || READ_ONCE(r->dead))
			return MPDEV_WAIT_STOP;
		spin_lock(&ctx->req_lock);
		/* Both are written under req_lock: see the top of the file. */
		if (ctx->fail_reason || r->dead) {
			spin_unlock(&ctx->req_lock);
			return MPDEV_WAIT_STOP;
		}
		head = ctx->req_head;
		tail = READ_ONCE(hdr->req_tail);
		used = head - tail;
		if (used < entries) {
			u64 id = (++ctx->next_seq << MPDEV_ID_SLOT_BITS) |
				 (slot ? mpdev_vcpu_index(vcpu) :
					 MPDEV_ID_POSTED);

			if (slot) {
				/* Armed before the remote can see the id. */
				WRITE_ONCE(slot->id, id);
				WRITE_ONCE(slot->size, size);
				WRITE_ONCE(slot->region, r->id);
				WRITE_ONCE(slot->abandoned, false);
				slot->task = current;
				/* Fields before state, for the completer. */
				smp_store_release(&slot->state, SLOT_PENDING);
			}
			e = mpdev_req_entry(ctx, head);
			e->id = id;
			e->offset = offset;
			e->data = data;
			e->cookie = r->cookie;
			e->region = r->id;
			e->vcpu = mpdev_vcpu_id(vcpu);
			e->size = size;
			e->flags = flags;
			e->reserved0 = 0;
			e->reserved1 = 0;
			/* Entry before index: for read() ... */
			smp_store_release(&ctx->req_head, head + 1);
			/* ... and for a remote polling the ring. */
			smp_store_release(&hdr->req_head, head + 1);
			spin_unlock(&ctx->req_lock);
			if (wq_has_sleeper(&ctx->req_wq))
				wake_up_interruptible_poll(&ctx->req_wq,
							   EPOLLIN | EPOLLRDNORM);
			return 0;
		}
		spin_unlock(&ctx->req_lock);

		if (used > entries) {
			/* The remote moved req_tail past what we produced. */
			mpdev_fail(ctx, MPDEV_FAIL_MALFORMED);
			return MPDEV_WAIT_STOP;
		}
		why = mpdev_room_wait(ctx, r, vcpu, w, tail);
		if (why)
			return why;
	}
}

/*
 * Waits for the answer to the request armed in w->slot and returns it
 * (all-ones if there will be none).  Spins first for the context's budget,
 * reaping the completion ring itself so that a busy-polling remote needs no
 * system call; then sleeps until the remote answers, the region or context
 * goes, a signal's grace ends or the exit's budget is used up.
 */
static u64 mpdev_wait_reply(struct mpdev_ctx *ctx, struct mpdev_iodev *r,
			    struct mpdev_wait *w)
{
	u64 spin_end = w->start + READ_ONCE(ctx->spin_ns), now, data;
	struct mpdev_ring_hdr *hdr = mpdev_hdr(ctx);
	struct mpdev_slot *slot = w->slot;
	int why = MPDEV_WAIT_GO;
	bool bad = false;

	for (;;) {
		mpdev_reap_or_fail(ctx);
		/* Pairs with mpdev_slot_finish(): state after data. */
		if (smp_load_acquire(&slot->state) != SLOT_PENDING)
			goto done;
		now = ktime_get_ns();
		why = mpdev_wait_check(ctx, r, w, now);
		if (why != MPDEV_WAIT_GO)
			goto done;
		/* A signal ends the spinning: the grace is spent asleep. */
		if (need_resched() || now >= spin_end ||
		    w->intr_end != U64_MAX)
			break;
		cpu_relax();
	}

	spin_lock(&ctx->cpl_lock);
	if (ctx->sleepers++ == 0)
		WRITE_ONCE(hdr->kick_needed, 1);
	spin_unlock(&ctx->cpl_lock);
	for (;;) {
		/* Full barrier: kick_needed is visible before we re-check. */
		set_current_state(mpdev_wait_state(w));
		if (!mpdev_reap(ctx)) {
			bad = true;
			break;
		}
		/* Pairs with mpdev_slot_finish(), as above. */
		if (smp_load_acquire(&slot->state) != SLOT_PENDING)
			break;
		now = ktime_get_ns();
		why = mpdev_wait_check(ctx, r, w, now);
		if (why != MPDEV_WAIT_GO)
			break;
		mpdev_sleep_until(min(w->deadline, w->intr_end));
	}
	__set_current_state(TASK_RUNNING);
	spin_lock(&ctx->cpl_lock);
	if (--ctx->sleepers == 0)
		WRITE_ONCE(hdr->kick_needed, 0);
	spin_unlock(&ctx->cpl_lock);
	/* Only now, running again, may we fail the context (it may sleep). */
	if (bad)
		mpdev_fail(ctx, MPDEV_FAIL_MALFORMED);

done:
	spin_lock(&ctx->cpl_lock);
	if (slot->state == SLOT_PENDING) {
		WRITE_ONCE(slot->abandoned, true);
		slot->data = ~0ULL;
	} else {
		why = MPDEV_WAIT_GO;	/* answered at the last moment */
	}
	data = slot->data;
	slot->state = SLOT_IDLE;
	spin_unlock(&ctx->cpl_lock);

	if (why == MPDEV_WAIT_TIMEOUT) {
		mpdev_count(ctx, r, MPDEV_C_TIMEOUTS);
		mpdev_fail(ctx, MPDEV_FAIL_TIMEOUT);
	} else if (why == MPDEV_WAIT_INTR) {
		mpdev_count(ctx, r, MPDEV_C_INTERRUPTED);
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
	struct mpdev_wait w = { };
	u64 offset, data = 0, now;
	int why;

	if (!vcpu || addr < r->addr || (len != 1 && len != 2 && len != 4 &&
					len != 8))
		return -EOPNOTSUPP;
	offset = addr - r->addr;
	if (offset >= r->size || len > r->size - offset)
		return -EOPNOTSUPP;

	mpdev_count(ctx, r, write ? MPDEV_C_WRITES : MPDEV_C_READS);
	if (write)
		memcpy(&data, val, len);	/* x86: little endian */
	/* A posted write starts its budget only if it has to wait. */
	if (reply && !mpdev_wait_start(ctx, vcpu, &w)) {
		why = MPDEV_WAIT_STOP;
	} else if (reply && w.start >= w.intr_end) {
		/* A signal's grace ended earlier in this exit: not queued. */
		why = MPDEV_WAIT_INTR;
	} else {
		why = mpdev_enqueue(ctx, r, vcpu, &w, offset, data, len,
				    (write ? MPDEV_REQ_WRITE : 0) |
				    (reply ? MPDEV_REQ_NEEDS_REPLY : 0));
	}
	if (why) {
		if (why == MPDEV_WAIT_TIMEOUT) {
			mpdev_count(ctx, r, MPDEV_C_TIMEOUTS);
			mpdev_fail(ctx, MPDEV_FAIL_TIMEOUT);
		} else if (why == MPDEV_WAIT_INTR) {
			mpdev_count(ctx, r, MPDEV_C_INTERRUPTED);
		}
		mpdev_count(ctx, r, MPDEV_C_FAILED);
		data = ~0ULL;
	} else if (reply) {
		data = mpdev_wait_reply(ctx, r, &w);
	}
	if (w.start) {
		now = ktime_get_ns();
		mpdev_wait_end(&w, now);
		if (!write && !why)
			mpdev_count_latency(ctx, now - w.start);
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
 * KVM calls this, under kvm->slots_lock, only if it tears the bus down
 * with the device still on it: we hold a VM reference, so that means KVM
 * dropped a bus it could not shrink (its own allocation failed while it
 * removed another device).  Accesses to the region now exit to the VMM,
 * so the context must say it no longer serves them.  The region stays
 * ours to free.
 */
static void mpdev_region_destructor(struct kvm_io_device *dev)
{
	struct mpdev_iodev *r = container_of(dev, struct mpdev_iodev, dev);

	r->on_bus = false;
	mpdev_count(r->ctx, r, MPDEV_C_BUS_LOST);
	mpdev_fail(r->ctx, MPDEV_FAIL_BUS_LOST);
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
	struct mpdev_ring_hdr *hdr = mpdev_hdr(ctx);
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
		tail = READ_ONCE(hdr->req_tail);
		if (head - tail > ctx->ring_info.entries) {
			mutex_unlock(&ctx->read_lock);
			mpdev_fail(ctx, MPDEV_FAIL_MALFORMED);
			return 0;
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
	for (i = 0; i < n; i++)
		if (copy_to_user(buf + i * sizeof(struct mpdev_request),
				 mpdev_req_entry(ctx, tail + i),
				 sizeof(struct mpdev_request)))
			break;
	if (!i) {
		ret = -EFAULT;
		goto out;
	}
	/* What was copied is consumed: never delivered twice. */
	smp_store_release(&hdr->req_tail, tail + i);
	if (wq_has_sleeper(&ctx->room_wq))
		wake_up_all(&ctx->room_wq);
	ret = i * sizeof(struct mpdev_request);
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

	if (!count)
		return 0;
	if (count % sizeof(c[0])) {
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
	/*
	 * Pairs with the barrier in wq_has_sleeper() of the producer: either
	 * it sees our entry on req_wq and wakes us, or we see its req_head.
	 * add_wait_queue() alone lets the load below pass the list update
	 * (as in sock_poll_wait()); a remote sleeping in poll() then missed
	 * a request until the vCPU's deadline failed the context.
	 */
	smp_mb();
	if (mpdev_failed(ctx))
		return mask | EPOLLHUP;
	if (mpdev_req_head(ctx) != READ_ONCE(mpdev_hdr(ctx)->req_tail))
		mask |= EPOLLIN | EPOLLRDNORM;
	return mask;
}

static int mpdev_backend_mmap(struct file *file, struct vm_area_struct *vma)
{
	struct mpdev_ctx *ctx = file->private_data;
	unsigned long nr = ctx->ring_nr_pages;

	if (vma->vm_pgoff ||
	    vma->vm_end - vma->vm_start != ctx->ring_info.mmap_size ||
	    !(vma->vm_flags & VM_SHARED))
		return -EINVAL;
	if (vma->vm_flags & VM_EXEC)
		return -EPERM;
	vm_flags_clear(vma, VM_MAYEXEC);
	vm_flags_set(vma, VM_DONTEXPAND | VM_DONTDUMP);
	return vm_insert_pages(vma, vma->vm_start, ctx->ring_pages, &nr);
}

static int mpdev_get_features(void __user *argp)
{
	struct mpdev_features f = {
		.features		= MPDEV_FEATURES,
		.region_flags		= MPDEV_REGION_FLAGS_ALL,
		.backend_flags		= MPDEV_BACKEND_FLAGS_ALL,
		.max_regions		= MPDEV_MAX_REGIONS,
		.ring_min_entries	= MPDEV_RING_MIN_ENTRIES,
		.ring_max_entries	= MPDEV_RING_MAX_ENTRIES,
		.ring_default_entries	= MPDEV_RING_DEFAULT_ENTRIES,
		.min_deadline_ns	= MPDEV_MIN_DEADLINE_NS,
		.max_deadline_ns	= MPDEV_MAX_DEADLINE_NS,
		.max_spin_ns		= MPDEV_MAX_SPIN_NS,
	};

	return copy_to_user(argp, &f, sizeof(f)) ? -EFAULT : 0;
}

static long mpdev_backend_ioctl(struct file *file, unsigned int cmd,
				unsigned long arg)
{
	struct mpdev_ctx *ctx = file->private_data;
	void __user *argp = (void __user *)arg;

	switch (cmd) {
	case MPDEV_BACKEND_KICK:
		if (mpdev_failed(ctx))
			return -EPIPE;
		mpdev_reap_or_fail(ctx);
		if (wq_has_sleeper(&ctx->room_wq))
			wake_up_all(&ctx->room_wq);
		return 0;
	case MPDEV_BACKEND_GET_RING:
		return copy_to_user(argp, &ctx->ring_info,
				    sizeof(ctx->ring_info)) ? -EFAULT : 0;
	case MPDEV_GET_FEATURES:
		return mpdev_get_features(argp);
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
		p.intr_ns = ctx->intr_ns;
		return copy_to_user(argp, &p, sizeof(p)) ? -EFAULT : 0;
	}
	if (copy_from_user(&p, argp, sizeof(p)))
		return -EFAULT;
	if (memchr_inv(p.reserved, 0, sizeof(p.reserved)))
		return -EINVAL;
	if (p.deadline_ns < MPDEV_MIN_DEADLINE_NS ||
	    p.deadline_ns > MPDEV_MAX_DEADLINE_NS ||
	    p.spin_ns > MPDEV_MAX_SPIN_NS || p.intr_ns > p.deadline_ns)
		return -EINVAL;
	WRITE_ONCE(ctx->deadline_ns, p.deadline_ns);
	WRITE_ONCE(ctx->spin_ns, p.spin_ns);
	WRITE_ONCE(ctx->intr_ns, p.intr_ns);
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

/* Frees a region once no vCPU can be inside it (an SRCU callback). */
static void mpdev_region_free(struct mpdev_retire *rt)
{
	struct mpdev_iodev *r = container_of(rt, struct mpdev_iodev, retire);

	free_percpu(r->stats);
	kfree(r);
}

/*
 * Fails the context if KVM now has another device inside one of its
 * regions (an ioeventfd the VMM added later).  Under ctx->lock.
 */
void mpdev_ctx_check_bus(struct mpdev_ctx *ctx)
{
	struct mpdev_iodev *r;

	if (!ctx->kvm || mpdev_failed(ctx))
		return;
	list_for_each_entry(r, &ctx->regions, node) {
		if (mpdev_bus_conflict(ctx->kvm, r)) {
			pr_warn_ratelimited("context %u: another KVM device is inside region %u at 0x%llx\n",
					    ctx->id, r->id, r->addr);
			mpdev_fail(ctx, MPDEV_FAIL_BUS_CONFLICT);
			return;
		}
	}
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
	if (!ctx->kvm || !ctx->backend_created)
		return -ENOTCONN;
	if (mpdev_find_region(ctx, a.id))
		return -EEXIST;
	if (ctx->nr_regions >= MPDEV_MAX_REGIONS)
		return -ENOSPC;
	mpdev_ctx_check_bus(ctx);

	r = kzalloc(sizeof(*r), GFP_KERNEL_ACCOUNT);
	if (!r)
		return -ENOMEM;
	r->stats = alloc_percpu_gfp(struct mpdev_counts, GFP_KERNEL_ACCOUNT);
	if (!r->stats) {
		ret = -ENOMEM;
		goto err_free;
	}
	kvm_iodevice_init(&r->dev, &mpdev_region_ops);
	r->ctx = ctx;
	r->addr = a.addr;
	r->size = a.size;
	r->cookie = a.cookie;
	r->id = a.id;
	r->space = a.space;
	r->flags = a.flags;
	r->retire.free = mpdev_region_free;
	ret = mpdev_bus_add(ctx->kvm, r);
	if (ret)
		goto err_free;
	list_add_tail(&r->node, &ctx->regions);
	ctx->nr_regions++;
	return 0;

err_free:
	free_percpu(r->stats);
	kfree(r);
	return ret;
}

/*
 * Takes @r off the bus.  From now on no request is queued for it, and
 * vCPUs waiting on one of its requests get all-ones at once (a late
 * answer from the remote is then stale).  The region itself is freed
 * after the SRCU grace period, without waiting for it here.
 *
 * Off the bus first, dead second: a vCPU that finds @r dead (under
 * req_lock) looks the bus up afresh at its next exit and misses @r, so
 * each vCPU loses at most the one access it had in flight.
 */
static void mpdev_remove_region(struct mpdev_ctx *ctx, struct mpdev_iodev *r)
{
	mpdev_bus_unlink(ctx->kvm, r);
	spin_lock(&ctx->req_lock);
	WRITE_ONCE(r->dead, true);
	spin_unlock(&ctx->req_lock);
	mpdev_sweep(ctx, false, r->id);
	list_del(&r->node);
	ctx->nr_regions--;
	mpdev_bus_retire(ctx->kvm, r);
}

static int mpdev_del_region(struct mpdev_ctx *ctx, void __user *argp)
{
	struct mpdev_iodev *r;
	struct mpdev_region a;

	if (copy_from_user(&a, argp, sizeof(a)))
		return -EFAULT;
	if (a.addr || a.size || a.cookie || a.space || a.flags ||
	    a.reserved[0] || a.reserved[1])
		return -EINVAL;
	r = mpdev_find_region(ctx, a.id);
	if (!r)
		return -ENOENT;
	mpdev_remove_region(ctx, r);
	mpdev_ctx_check_bus(ctx);
	return 0;
}

/*
 * The shared ring: header, requests, completions, each part starting on a
 * cache line, in pages of our own (charged to the caller's memory cgroup)
 * that the remote maps with vm_insert_pages().
 */
static int mpdev_ring_alloc(struct mpdev_ctx *ctx, u32 entries)
{
	struct mpdev_ring_info *ri = &ctx->ring_info;
	unsigned int i, nr;

	ri->entries = entries;
	ri->req_entry_size = sizeof(struct mpdev_request);
	ri->cpl_entry_size = sizeof(struct mpdev_completion);
	ri->req_offset = sizeof(struct mpdev_ring_hdr);
	ri->cpl_offset = ri->req_offset +
			 (u64)entries * sizeof(struct mpdev_request);
	ri->mmap_size = PAGE_ALIGN(ri->cpl_offset +
				   (u64)entries * sizeof(struct mpdev_completion));
	nr = ri->mmap_size >> PAGE_SHIFT;

	ctx->ring_pages = kvcalloc(nr, sizeof(*ctx->ring_pages),
				   GFP_KERNEL_ACCOUNT);
	if (!ctx->ring_pages)
		goto err;
	ctx->ring_nr_pages = nr;
	for (i = 0; i < nr; i++) {
		ctx->ring_pages[i] = alloc_page(GFP_KERNEL_ACCOUNT | __GFP_ZERO);
		if (!ctx->ring_pages[i])
			goto err;
	}
	ctx->ring = vmap(ctx->ring_pages, nr, VM_MAP, PAGE_KERNEL);
	if (!ctx->ring)
		goto err;
	ctx->ring_mask = entries - 1;
	mpdev_hdr(ctx)->entries = entries;
	return 0;
err:
	mpdev_ring_free(ctx);
	return -ENOMEM;
}

static int mpdev_create_backend(struct mpdev_ctx *ctx, void __user *argp)
{
	struct mpdev_backend_args a;
	int fd, ret, flags = O_RDWR;
	u32 entries;

	if (copy_from_user(&a, argp, sizeof(a)))
		return -EFAULT;
	/* a.ring is output only. */
	if (a.flags & ~MPDEV_BACKEND_FLAGS_ALL ||
	    memchr_inv(a.reserved, 0, sizeof(a.reserved)))
		return -EINVAL;
	entries = a.ring_entries ?: MPDEV_RING_DEFAULT_ENTRIES;
	if (!is_power_of_2(entries) || entries < MPDEV_RING_MIN_ENTRIES ||
	    entries > MPDEV_RING_MAX_ENTRIES)
		return -EINVAL;
	/* One remote per context: requests must have a single consumer. */
	if (ctx->backend_created)
		return -EBUSY;
	ret = mpdev_ring_alloc(ctx, entries);
	if (ret)
		return ret;
	a.ring = ctx->ring_info;
	a.ring_entries = entries;
	if (copy_to_user(argp, &a, sizeof(a))) {
		ret = -EFAULT;
		goto err_ring;
	}
	if (a.flags & MPDEV_BACKEND_CLOEXEC)
		flags |= O_CLOEXEC;
	if (a.flags & MPDEV_BACKEND_NONBLOCK)
		flags |= O_NONBLOCK;
	kref_get(&ctx->ref);
	fd = anon_inode_getfd("[mpdev-backend]", &mpdev_backend_fops, ctx,
			      flags);
	if (fd < 0) {
		mpdev_ctx_put(ctx);	/* not the last: the control fd has one */
		ret = fd;
		goto err_ring;
	}
	ctx->backend_created = true;
	ctx->backend_open = true;
	mpdev_genl_event(ctx, MPDEV_EVENT_BACKEND_ATTACHED, 0);
	return fd;

err_ring:
	mpdev_ring_free(ctx);
	return ret;
}

static int mpdev_get_info(struct mpdev_ctx *ctx, void __user *argp)
{
	struct mpdev_stats sum;
	struct mpdev_info info;

	mpdev_ctx_check_bus(ctx);
	memset(&info, 0, sizeof(info));
	/* As mpdev_failed(): counters of the failure are in before it. */
	info.fail_reason = smp_load_acquire(&ctx->fail_reason);
	info.state = info.fail_reason ? MPDEV_STATE_FAILED : MPDEV_STATE_OK;
	info.nr_regions = ctx->nr_regions;
	info.backend_attached = ctx->backend_open;
	info.vm_attached = !!ctx->kvm;
	info.ring_entries = ctx->ring_info.entries;
	info.nr_slots = atomic_read(&ctx->nr_slots);
	info.footprint_bytes = mpdev_ctx_footprint(ctx);
	mpdev_ctx_stats(ctx, &sum);
	info.counters.reads = sum.n.c[MPDEV_C_READS];
	info.counters.writes = sum.n.c[MPDEV_C_WRITES];
	info.counters.queue_full_waits = sum.n.c[MPDEV_C_QUEUE_FULL];
	info.counters.timeouts = sum.n.c[MPDEV_C_TIMEOUTS];
	info.counters.malformed = sum.n.c[MPDEV_C_MALFORMED];
	info.counters.failed_accesses = sum.n.c[MPDEV_C_FAILED];
	info.counters.stale_completions = sum.n.c[MPDEV_C_STALE];
	info.counters.interrupted = sum.n.c[MPDEV_C_INTERRUPTED];
	info.counters.bus_lost = sum.n.c[MPDEV_C_BUS_LOST];
	return copy_to_user(argp, &info, sizeof(info)) ? -EFAULT : 0;
}

static long mpdev_ctl_ioctl(struct file *file, unsigned int cmd,
			    unsigned long arg)
{
	struct mpdev_ctx *ctx = file->private_data;
	void __user *argp = (void __user *)arg;
	long ret;

	if (cmd == MPDEV_GET_FEATURES)
		return mpdev_get_features(argp);

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
	ctx->stats = alloc_percpu_gfp(struct mpdev_stats, GFP_KERNEL_ACCOUNT);
	if (!ctx->stats) {
		kfree(ctx);
		return -ENOMEM;
	}
	kref_init(&ctx->ref);
	mutex_init(&ctx->lock);
	mutex_init(&ctx->read_lock);
	spin_lock_init(&ctx->req_lock);
	spin_lock_init(&ctx->cpl_lock);
	init_waitqueue_head(&ctx->req_wq);
	init_waitqueue_head(&ctx->room_wq);
	INIT_LIST_HEAD(&ctx->regions);
	xa_init(&ctx->slots);
	ctx->deadline_ns = MPDEV_DEF_DEADLINE_NS;
	ctx->spin_ns = MPDEV_DEF_SPIN_NS;
	ctx->intr_ns = MPDEV_DEF_INTR_NS;
	ctx->owner = get_pid(task_tgid(current));
	ctx->owner_vnr = task_tgid_vnr(current);
	ctx->net = get_net(current->nsproxy->net_ns);

	mutex_lock(&mpdev_ctxs_lock);
	/* Ids never repeat while the module is loaded. */
	if (mpdev_last_ctx_id == INT_MAX) {
		mutex_unlock(&mpdev_ctxs_lock);
		put_net(ctx->net);
		put_pid(ctx->owner);
		free_percpu(ctx->stats);
		kfree(ctx);
		return -ENOSPC;
	}
	ctx->id = ++mpdev_last_ctx_id;
	list_add_tail(&ctx->node, &mpdev_ctxs);
	mutex_unlock(&mpdev_ctxs_lock);
	file->private_data = ctx;
	mpdev_genl_event(ctx, MPDEV_EVENT_CTX_CREATED, 0);
	return 0;
}

/* The VMM is gone: stop forwarding, leave the bus, drop the VM. */
static int mpdev_ctl_release(struct inode *inode, struct file *file)
{
	struct mpdev_ctx *ctx = file->private_data;
	struct mpdev_iodev *r, *tmp;
	struct kvm *kvm;

	mpdev_fail(ctx, MPDEV_FAIL_VMM_CLOSED);
	mutex_lock(&ctx->lock);
	list_for_each_entry_safe(r, tmp, &ctx->regions, node)
		mpdev_remove_region(ctx, r);
	kvm = ctx->kvm;
	ctx->kvm = NULL;
	mutex_unlock(&ctx->lock);
	if (kvm) {
		/* Our SRCU callbacks have run: regions freed, no callback left. */
		mpdev_bus_quiesce(kvm);
		mpdev_kvm_put(kvm);
	}
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
