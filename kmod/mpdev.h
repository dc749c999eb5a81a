/* SPDX-License-Identifier: GPL-2.0 */
/*
 * mpdev: private declarations shared by the module's units.
 *
 *   mpdev.c    contexts, the data path, the backend and control fds
 *   netlink.c  the "mpdev" generic netlink family (introspection, events)
 *   kvm_bus.c  the one unit that touches KVM's internals
 *
 * Documentation/mpdev/design.rst explains the design, uapi.rst the ABI.
 */
#ifndef MPDEV_H
#define MPDEV_H

#include <linux/kref.h>
#include <linux/kvm_host.h>
#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/percpu.h>
#include <linux/rcupdate.h>
#include <linux/spinlock.h>
#include <linux/types.h>
#include <linux/wait.h>
#include <linux/xarray.h>
#include <kvm/iodev.h>
#include <uapi/linux/mpdev.h>

#define MPDEV_MAX_REGIONS	64
#define MPDEV_LAT_BUCKETS	32
#define MPDEV_SLOT_CACHE	8

enum mpdev_counter {
	MPDEV_C_READS,
	MPDEV_C_WRITES,
	MPDEV_C_QUEUE_FULL,
	MPDEV_C_TIMEOUTS,
	MPDEV_C_MALFORMED,
	MPDEV_C_FAILED,
	MPDEV_C_STALE,
	MPDEV_C_INTERRUPTED,
	MPDEV_C_BUS_LOST,
	MPDEV_NR_COUNTERS
};

/* Per-CPU, so that counting costs the data path no shared cache line. */
struct mpdev_counts {
	u64 c[MPDEV_NR_COUNTERS];
};

/* The context's counters and its read-latency histogram (per-CPU). */
struct mpdev_stats {
	struct mpdev_counts n;
	u64 lat[MPDEV_LAT_BUCKETS];	/* reads: [2^b, 2^(b+1)) ns */
};

/*
 * What a replaced bus array or a removed region needs to be freed once no
 * vCPU can see it: an SRCU callback on the VM's kvm->srcu (kvm_bus.c).
 * Embedded in each region, so removing one allocates nothing for it.
 */
struct mpdev_retire {
	struct rcu_head rcu;
	void *bus;			/* struct kvm_io_bus to kfree(), or NULL */
	void (*free)(struct mpdev_retire *rt);	/* then this, or NULL */
};

struct mpdev_ctx;
struct mpdev_slot;

/* One region: a kvm_io_device on the VM's MMIO or PIO bus. */
struct mpdev_iodev {
	struct kvm_io_device dev;
	struct mpdev_ctx *ctx;
	struct list_head node;	/* ctx->regions, under ctx->lock */
	u64 addr;
	u64 size;
	u64 cookie;
	u32 id;
	u16 space;
	u16 flags;
	/* Being removed: no request is queued for it; written under req_lock. */
	bool dead;
	/*
	 * On KVM's bus.  Written only under kvm->slots_lock: by the bus
	 * updates in kvm_bus.c and by KVM calling our destructor when it
	 * drops a bus it could not shrink.
	 */
	bool on_bus;
	struct mpdev_counts __percpu *stats;
	struct mpdev_counts stats_base;	/* netlink reset baseline; ctx->lock */
	struct mpdev_retire retire;
};

struct mpdev_ctx {
	struct kref ref;
	struct list_head node;	/* mpdev_ctxs, under mpdev_ctxs_lock */
	u32 id;			/* for introspection; never reused */
	struct pid *owner;	/* tgid that opened /dev/mpdev */
	pid_t owner_vnr;	/* its number in its own pid namespace */
	struct net *net;	/* netns of the opener, for introspection */
	struct mutex lock;	/* control operations, see mpdev.c */
	struct kvm *kvm;
	struct list_head regions;
	unsigned int nr_regions;
	bool backend_created;
	bool backend_open;

	u64 deadline_ns;
	u64 spin_ns;
	u64 intr_ns;
	int fail_reason;	/* enum mpdev_fail_reason; set once, req_lock */

	/* The shared ring (set up with the backend, never changed after). */
	void *ring;
	struct page **ring_pages;
	unsigned int ring_nr_pages;
	struct mpdev_ring_info ring_info;
	u32 ring_mask;		/* ring_info.entries - 1 */

	/* vCPU slots by vcpu index, created on a vCPU's first wait. */
	struct xarray slots;
	/* The first slots again, found without walking the xarray. */
	struct mpdev_slot *slot_cache[MPDEV_SLOT_CACHE];
	atomic_t nr_slots;

	spinlock_t req_lock;	/* request producers, see mpdev.c */
	u32 req_head;		/* private copy; the ring's is for the remote */
	u64 next_seq;
	wait_queue_head_t req_wq;	/* backend readers and pollers */
	wait_queue_head_t room_wq;	/* producers waiting for ring room */

	spinlock_t cpl_lock;	/* slot answers and the completion ring */
	u32 cpl_tail;
	unsigned int sleepers;	/* vCPUs asleep on a reply (kick_needed) */

	struct mutex read_lock;	/* read() consumers */
	struct mpdev_stats __percpu *stats;
	struct mpdev_stats stats_base;	/* netlink reset baseline; ctx->lock */
};

static inline void mpdev_count(struct mpdev_ctx *ctx, struct mpdev_iodev *r,
			       enum mpdev_counter c)
{
	this_cpu_inc(ctx->stats->n.c[c]);
	if (r)
		this_cpu_inc(r->stats->c[c]);
}

/* mpdev.c, for netlink.c */
struct mpdev_ctx *mpdev_ctx_next(struct net *net, u64 min_id);
void mpdev_ctx_put(struct mpdev_ctx *ctx);
void mpdev_ctx_stats(struct mpdev_ctx *ctx, struct mpdev_stats *sum);
void mpdev_region_stats(struct mpdev_iodev *r, struct mpdev_counts *sum);
u64 mpdev_ctx_footprint(struct mpdev_ctx *ctx);
void mpdev_ctx_check_bus(struct mpdev_ctx *ctx);

/* netlink.c */
int mpdev_genl_init(void);
void mpdev_genl_exit(void);
void mpdev_genl_event(struct mpdev_ctx *ctx, enum mpdev_event ev,
		      int reason);

/* kvm_bus.c */
struct kvm *mpdev_kvm_get_from_file(struct file *file);
void mpdev_kvm_put(struct kvm *kvm);
const char *mpdev_kvm_name(struct kvm *kvm);
int mpdev_bus_add(struct kvm *kvm, struct mpdev_iodev *r);
void mpdev_bus_unlink(struct kvm *kvm, struct mpdev_iodev *r);
void mpdev_bus_retire(struct kvm *kvm, struct mpdev_iodev *r);
bool mpdev_bus_conflict(struct kvm *kvm, struct mpdev_iodev *r);
void mpdev_bus_quiesce(struct kvm *kvm);

/*
 * The vCPU fields the data path reads, inline because they are read on
 * every access; like kvm_bus.c, they depend on KVM's internals.
 */
static inline unsigned int mpdev_vcpu_index(struct kvm_vcpu *vcpu)
{
	return vcpu->vcpu_idx;
}

static inline u32 mpdev_vcpu_id(struct kvm_vcpu *vcpu)
{
	return vcpu->vcpu_id;
}

/*
 * Changes whenever the vCPU has been back in the guest: x86 counts every
 * VM exit in vcpu->stat.exits (vcpu_enter_guest(), 6.1 to 7.2).  Read and
 * written only on the vCPU's own thread.  All accesses that KVM emulates
 * for one exit (a "rep ins" read-ahead, up to 1024 iterations of a string
 * MMIO instruction) see the same value.
 */
static inline u64 mpdev_vcpu_exit_seq(struct kvm_vcpu *vcpu)
{
	return vcpu->stat.exits;
}

#endif /* MPDEV_H */
