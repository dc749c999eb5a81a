// SPDX-License-Identifier: GPL-2.0
/*
 * Introspection over generic netlink: the "mpdev" family.
 * Documentation/mpdev/netlink.rst describes the ABI.
 *
 * Access: every command reveals or changes state, so every one is
 * GENL_ADMIN_PERM, and binding to the events group needs CAP_NET_ADMIN
 * over the group's network namespace.  A caller sees only the contexts
 * opened in its own network namespace (ctx->net); events go to that
 * namespace only.
 *
 * Locking: a reader finds a context with mpdev_ctx_next() (mpdev.c: under
 * mpdev_ctxs_lock, with kref_get_unless_zero(), since a context whose last
 * reference is gone is about to leave the list), then reads the
 * context under ctx->lock, which keeps its region list, VM pointer and
 * backend state stable.  The two locks are never held together here.
 * Counters are per-CPU and summed without locks (racy against increments,
 * as counters may be); the reset baselines (stats_base) are read and
 * written under ctx->lock only.  Nothing here runs on the data path.
 *
 * Dumps resume by id, not by position: contexts in ascending context id,
 * regions of a context in ascending region id.  cb->args[0] is the id of
 * the context to continue with, cb->args[1] the first region id of it not
 * yet sent, so a context or region that comes or goes between two parts
 * of a dump never makes another one appear twice or not at all.
 *
 * Pids: MPDEV_A_OWNER_PID is the owner's tgid in the pid namespace of the
 * process that asks (doit, dumpit and recvmsg run in its context), 0 when
 * it is not visible there.  Events have no single reader; they carry the
 * number the opener had in its own namespace.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/pid.h>
#include <linux/pid_namespace.h>
#include <linux/sched.h>
#include <net/genetlink.h>
#include <net/sock.h>

#include "compat.h"
#include "mpdev.h"

/* Index in mpdev_genl_mcgrps. */
enum { MPDEV_GENL_GRP_EVENTS };

static_assert(MPDEV_LAT_BUCKETS == MPDEV_GENL_LAT_BUCKETS);
static_assert(MPDEV_NR_COUNTERS == 9, "map the new counter below");

static const u16 mpdev_genl_counter_attr[MPDEV_NR_COUNTERS] = {
	[MPDEV_C_READS]		= MPDEV_A_STATS_READS,
	[MPDEV_C_WRITES]	= MPDEV_A_STATS_WRITES,
	[MPDEV_C_QUEUE_FULL]	= MPDEV_A_STATS_QUEUE_FULL_WAITS,
	[MPDEV_C_TIMEOUTS]	= MPDEV_A_STATS_TIMEOUTS,
	[MPDEV_C_MALFORMED]	= MPDEV_A_STATS_MALFORMED,
	[MPDEV_C_FAILED]	= MPDEV_A_STATS_FAILED_ACCESSES,
	[MPDEV_C_STALE]		= MPDEV_A_STATS_STALE,
	[MPDEV_C_INTERRUPTED]	= MPDEV_A_STATS_INTERRUPTED,
	[MPDEV_C_BUS_LOST]	= MPDEV_A_STATS_BUS_LOST,
};

static struct genl_family mpdev_genl_family __ro_after_init;

/* The region of @ctx with the smallest id >= @min_id.  Under ctx->lock. */
static struct mpdev_iodev *mpdev_genl_next_region(struct mpdev_ctx *ctx,
						  u64 min_id)
{
	struct mpdev_iodev *r, *best = NULL;

	list_for_each_entry(r, &ctx->regions, node)
		if (r->id >= min_id && (!best || r->id < best->id))
			best = r;
	return best;
}

static size_t mpdev_genl_counts_size(void)
{
	return nla_total_size(0) +
	       MPDEV_NR_COUNTERS * nla_total_size_64bit(sizeof(u64));
}

static size_t mpdev_genl_stats_size(void)
{
	size_t bucket = nla_total_size(0) + nla_total_size(sizeof(u32)) +
			nla_total_size_64bit(sizeof(u64));

	return mpdev_genl_counts_size() + nla_total_size(0) +
	       MPDEV_LAT_BUCKETS * bucket;
}

/* Upper bound of one message holding all of @ctx.  Under ctx->lock. */
static size_t mpdev_genl_ctx_size(struct mpdev_ctx *ctx, bool stats)
{
	size_t region = nla_total_size(0) + 3 * nla_total_size(sizeof(u32)) +
			3 * nla_total_size_64bit(sizeof(u64));
	size_t size = 7 * nla_total_size(sizeof(u32)) +
		      2 * nla_total_size(sizeof(u8)) +
		      nla_total_size(KVM_STATS_NAME_SIZE) +
		      4 * nla_total_size_64bit(sizeof(u64));

	if (stats) {
		region += mpdev_genl_counts_size();
		size += mpdev_genl_stats_size();
	}
	return size + ctx->nr_regions * region;
}

/* The counters of @sum since @base, into the open nest.  */
static int mpdev_genl_put_counts(struct sk_buff *skb,
				 const struct mpdev_counts *sum,
				 const struct mpdev_counts *base)
{
	unsigned int i;

	for (i = 0; i < MPDEV_NR_COUNTERS; i++)
		if (nla_put_u64_64bit(skb, mpdev_genl_counter_attr[i],
				      sum->c[i] - base->c[i],
				      MPDEV_A_STATS_PAD))
			return -EMSGSIZE;
	return 0;
}

/* The context's counters and histogram since its baseline.  ctx->lock. */
static int mpdev_genl_put_ctx_stats(struct sk_buff *skb,
				    struct mpdev_ctx *ctx)
{
	const struct mpdev_stats *base = &ctx->stats_base;
	struct nlattr *nest, *hist, *bucket;
	struct mpdev_stats sum;
	unsigned int i;

	mpdev_ctx_stats(ctx, &sum);
	nest = nla_nest_start(skb, MPDEV_A_STATS);
	if (!nest)
		return -EMSGSIZE;
	if (mpdev_genl_put_counts(skb, &sum.n, &base->n))
		goto cancel;
	hist = nla_nest_start(skb, MPDEV_A_STATS_READ_LATENCY);
	if (!hist)
		goto cancel;
	for (i = 0; i < MPDEV_LAT_BUCKETS; i++) {
		u64 n = sum.lat[i] - base->lat[i];

		if (!n)
			continue;
		bucket = nla_nest_start(skb, MPDEV_A_HIST_BUCKET);
		if (!bucket || nla_put_u32(skb, MPDEV_A_BUCKET_LOG2, i) ||
		    nla_put_u64_64bit(skb, MPDEV_A_BUCKET_COUNT, n,
				      MPDEV_A_BUCKET_PAD))
			goto cancel;
		nla_nest_end(skb, bucket);
	}
	nla_nest_end(skb, hist);
	nla_nest_end(skb, nest);
	return 0;

cancel:
	nla_nest_cancel(skb, nest);
	return -EMSGSIZE;
}

/* A region's counters since its baseline (no histogram).  ctx->lock. */
static int mpdev_genl_put_region_stats(struct sk_buff *skb,
				       struct mpdev_iodev *r)
{
	struct mpdev_counts sum;
	struct nlattr *nest;

	mpdev_region_stats(r, &sum);
	nest = nla_nest_start(skb, MPDEV_A_REGION_STATS);
	if (!nest)
		return -EMSGSIZE;
	if (mpdev_genl_put_counts(skb, &sum, &r->stats_base)) {
		nla_nest_cancel(skb, nest);
		return -EMSGSIZE;
	}
	nla_nest_end(skb, nest);
	return 0;
}

static int mpdev_genl_put_region(struct sk_buff *skb, struct mpdev_iodev *r,
				 bool stats)
{
	struct nlattr *nest;

	nest = nla_nest_start(skb, MPDEV_A_REGION);
	if (!nest)
		return -EMSGSIZE;
	if (nla_put_u32(skb, MPDEV_A_REGION_ID, r->id) ||
	    nla_put_u32(skb, MPDEV_A_REGION_SPACE, r->space) ||
	    nla_put_u64_64bit(skb, MPDEV_A_REGION_BASE, r->addr,
			      MPDEV_A_REGION_PAD) ||
	    nla_put_u64_64bit(skb, MPDEV_A_REGION_SIZE, r->size,
			      MPDEV_A_REGION_PAD) ||
	    nla_put_u32(skb, MPDEV_A_REGION_FLAGS, r->flags) ||
	    nla_put_u64_64bit(skb, MPDEV_A_REGION_COOKIE, r->cookie,
			      MPDEV_A_REGION_PAD) ||
	    (stats && mpdev_genl_put_region_stats(skb, r))) {
		nla_nest_cancel(skb, nest);
		return -EMSGSIZE;
	}
	nla_nest_end(skb, nest);
	return 0;
}

/*
 * One message about @ctx with its regions from id *@next on, as many as
 * fit.  Returns 0 when the last region is in; 1 when the message ended
 * early, *@next being the first region id left out; -EMSGSIZE when not
 * even the context's own attributes fit (nothing is left in @skb).
 * Called with ctx->lock held.
 */
static int mpdev_genl_fill_ctx(struct sk_buff *skb, struct mpdev_ctx *ctx,
			       u32 portid, u32 seq, int flags, u8 cmd,
			       u64 *next)
{
	bool stats = cmd == MPDEV_CMD_STATS_GET;
	struct mpdev_iodev *r;
	void *hdr;
	int fail;

	/* The answer must not say "ok" about a region KVM hides. */
	mpdev_ctx_check_bus(ctx);
	fail = READ_ONCE(ctx->fail_reason);
	hdr = genlmsg_put(skb, portid, seq, &mpdev_genl_family, flags, cmd);
	if (!hdr)
		return -EMSGSIZE;
	if (nla_put_u32(skb, MPDEV_A_CTX_ID, ctx->id) ||
	    nla_put_u32(skb, MPDEV_A_OWNER_PID,
			pid_nr_ns(ctx->owner, task_active_pid_ns(current))) ||
	    nla_put_u8(skb, MPDEV_A_VM_ATTACHED, !!ctx->kvm) ||
	    (ctx->kvm &&
	     nla_put_string(skb, MPDEV_A_VM_NAME,
			    mpdev_kvm_name(ctx->kvm))) ||
	    nla_put_u8(skb, MPDEV_A_BACKEND_ATTACHED, ctx->backend_open) ||
	    nla_put_u32(skb, MPDEV_A_STATE,
			fail ? MPDEV_STATE_FAILED : MPDEV_STATE_OK) ||
	    nla_put_u32(skb, MPDEV_A_FAIL_REASON, fail) ||
	    nla_put_u64_64bit(skb, MPDEV_A_DEADLINE_NS, ctx->deadline_ns,
			      MPDEV_A_PAD) ||
	    nla_put_u64_64bit(skb, MPDEV_A_SPIN_NS, ctx->spin_ns,
			      MPDEV_A_PAD) ||
	    nla_put_u64_64bit(skb, MPDEV_A_INTR_NS, ctx->intr_ns,
			      MPDEV_A_PAD) ||
	    nla_put_u32(skb, MPDEV_A_NR_REGIONS, ctx->nr_regions) ||
	    nla_put_u32(skb, MPDEV_A_RING_ENTRIES, ctx->ring_info.entries) ||
	    nla_put_u32(skb, MPDEV_A_NR_SLOTS, atomic_read(&ctx->nr_slots)) ||
	    nla_put_u64_64bit(skb, MPDEV_A_FOOTPRINT,
			      mpdev_ctx_footprint(ctx), MPDEV_A_PAD) ||
	    (stats && mpdev_genl_put_ctx_stats(skb, ctx))) {
		genlmsg_cancel(skb, hdr);
		return -EMSGSIZE;
	}
	while ((r = mpdev_genl_next_region(ctx, *next))) {
		if (mpdev_genl_put_region(skb, r, stats)) {
			genlmsg_end(skb, hdr);
			return 1;
		}
		*next = (u64)r->id + 1;
	}
	genlmsg_end(skb, hdr);
	return 0;
}

/* The context MPDEV_A_CTX_ID names in the caller's netns, referenced. */
static struct mpdev_ctx *mpdev_genl_lookup(struct genl_info *info)
{
	struct nlattr *attr = info->attrs[MPDEV_A_CTX_ID];
	struct mpdev_ctx *ctx;
	u32 id;

	if (GENL_REQ_ATTR_CHECK(info, MPDEV_A_CTX_ID)) {
		GENL_SET_ERR_MSG(info, "missing context id (MPDEV_A_CTX_ID)");
		return ERR_PTR(-EINVAL);
	}
	id = nla_get_u32(attr);
	ctx = mpdev_ctx_next(genl_info_net(info), id);
	if (ctx && ctx->id != id) {
		mpdev_ctx_put(ctx);
		ctx = NULL;
	}
	if (!ctx) {
		NL_SET_ERR_MSG_ATTR(info->extack, attr,
				    "no such context in this network namespace");
		return ERR_PTR(-ENOENT);
	}
	return ctx;
}

/* MPDEV_CMD_CTX_GET and MPDEV_CMD_STATS_GET for one context. */
static int mpdev_genl_get_doit(struct sk_buff *skb, struct genl_info *info)
{
	u8 cmd = info->genlhdr->cmd;
	struct mpdev_ctx *ctx;
	struct sk_buff *msg;
	u64 next = 0;
	int ret;

	ctx = mpdev_genl_lookup(info);
	if (IS_ERR(ctx))
		return PTR_ERR(ctx);

	mutex_lock(&ctx->lock);
	msg = genlmsg_new(mpdev_genl_ctx_size(ctx, cmd == MPDEV_CMD_STATS_GET),
			  GFP_KERNEL);
	if (!msg) {
		ret = -ENOMEM;
		goto out_unlock;
	}
	ret = mpdev_genl_fill_ctx(msg, ctx, info->snd_portid, info->snd_seq,
				  0, cmd, &next);
	/* The message was sized for all of it. */
	if (WARN_ON_ONCE(ret)) {
		ret = -EMSGSIZE;
		goto out_free;
	}
	mutex_unlock(&ctx->lock);
	mpdev_ctx_put(ctx);
	return genlmsg_reply(msg, info);

out_free:
	nlmsg_free(msg);
out_unlock:
	mutex_unlock(&ctx->lock);
	mpdev_ctx_put(ctx);
	return ret;
}

/* The same as dumps: every context of the netns, or the one filtered. */
static int mpdev_genl_get_dumpit(struct sk_buff *skb,
				 struct netlink_callback *cb)
{
	const struct genl_dumpit_info *info = genl_dumpit_info(cb);
	struct nlattr *filter = mpdev_genl_dump_attrs(cb)[MPDEV_A_CTX_ID];
	struct net *net = sock_net(skb->sk);
	struct mpdev_ctx *ctx;
	int ret = 0;

	if (filter && cb->args[0] < nla_get_u32(filter))
		cb->args[0] = nla_get_u32(filter);

	while ((ctx = mpdev_ctx_next(net, cb->args[0]))) {
		u32 id = ctx->id;
		u64 next;

		if (filter && id != nla_get_u32(filter)) {
			mpdev_ctx_put(ctx);
			break;
		}
		if (id != cb->args[0]) {
			cb->args[0] = id;
			cb->args[1] = 0;
		}
		next = cb->args[1];
		mutex_lock(&ctx->lock);
		ret = mpdev_genl_fill_ctx(skb, ctx,
					  NETLINK_CB(cb->skb).portid,
					  cb->nlh->nlmsg_seq, NLM_F_MULTI,
					  info->op.cmd, &next);
		mutex_unlock(&ctx->lock);
		mpdev_ctx_put(ctx);
		if (ret == 1)
			cb->args[1] = next;	/* a region id, < 2^32 */
		if (ret)
			break;
		cb->args[0] = (u64)id + 1;
		cb->args[1] = 0;
	}
	/* Nothing at all fit in an empty buffer: do not loop forever. */
	if (ret < 0 && !skb->len)
		return ret;
	return skb->len;
}

/* Under nothing; takes ctx->lock. */
static void mpdev_genl_reset_ctx(struct mpdev_ctx *ctx)
{
	struct mpdev_iodev *r;

	mutex_lock(&ctx->lock);
	mpdev_ctx_stats(ctx, &ctx->stats_base);
	list_for_each_entry(r, &ctx->regions, node)
		mpdev_region_stats(r, &r->stats_base);
	mutex_unlock(&ctx->lock);
}

/*
 * A baseline snapshot, not a write to the counters: other CPUs' per-CPU
 * counters are never written, and MPDEV_GET_INFO keeps counting from 0.
 */
static int mpdev_genl_reset_doit(struct sk_buff *skb, struct genl_info *info)
{
	struct net *net = genl_info_net(info);
	struct mpdev_ctx *ctx;
	u64 next = 0;

	if (info->attrs[MPDEV_A_CTX_ID]) {
		ctx = mpdev_genl_lookup(info);
		if (IS_ERR(ctx))
			return PTR_ERR(ctx);
		mpdev_genl_reset_ctx(ctx);
		mpdev_ctx_put(ctx);
		return 0;
	}
	while ((ctx = mpdev_ctx_next(net, next))) {
		next = (u64)ctx->id + 1;
		mpdev_genl_reset_ctx(ctx);
		mpdev_ctx_put(ctx);
	}
	return 0;
}

/*
 * Context ids come from an int counter starting at 1.  Not const: 6.1's
 * nla_policy points to a mutable range (later kernels take either).
 */
static struct netlink_range_validation mpdev_genl_id_range __ro_after_init = {
	.min = 1,
	.max = INT_MAX,
};

/* Every request takes at most a context id; anything else is refused. */
static const struct nla_policy mpdev_genl_ctx_policy[MPDEV_A_CTX_ID + 1] = {
	[MPDEV_A_CTX_ID] = NLA_POLICY_FULL_RANGE(NLA_U32, &mpdev_genl_id_range),
};

static const struct genl_ops mpdev_genl_ops[] = {
	{
		.cmd		= MPDEV_CMD_CTX_GET,
		.flags		= GENL_ADMIN_PERM,
		.policy		= mpdev_genl_ctx_policy,
		.maxattr	= MPDEV_A_CTX_ID,
		.doit		= mpdev_genl_get_doit,
		.dumpit		= mpdev_genl_get_dumpit,
	},
	{
		.cmd		= MPDEV_CMD_STATS_GET,
		.flags		= GENL_ADMIN_PERM,
		.policy		= mpdev_genl_ctx_policy,
		.maxattr	= MPDEV_A_CTX_ID,
		.doit		= mpdev_genl_get_doit,
		.dumpit		= mpdev_genl_get_dumpit,
	},
	{
		.cmd		= MPDEV_CMD_STATS_RESET,
		.flags		= GENL_ADMIN_PERM,
		.policy		= mpdev_genl_ctx_policy,
		.maxattr	= MPDEV_A_CTX_ID,
		.doit		= mpdev_genl_reset_doit,
	},
};

/*
 * Events name contexts and their owners' pids: listening takes
 * CAP_NET_ADMIN too.  Stable kernels older than the flag (6.1.y before its
 * backport) let anyone in the namespace listen.
 */
#ifdef GENL_MCAST_CAP_NET_ADMIN
#define MPDEV_GENL_MCAST_FLAGS	GENL_MCAST_CAP_NET_ADMIN
#else
#define MPDEV_GENL_MCAST_FLAGS	0
#endif

static const struct genl_multicast_group mpdev_genl_mcgrps[] = {
	[MPDEV_GENL_GRP_EVENTS] = {
		.name	= MPDEV_GENL_MCGRP_EVENTS,
		.flags	= MPDEV_GENL_MCAST_FLAGS,
	},
};

static struct genl_family mpdev_genl_family __ro_after_init = {
	.name		= MPDEV_GENL_NAME,
	.version	= MPDEV_GENL_VERSION,
	.netnsok	= true,
	/* Our own locks suffice; do not hold genl_mutex while we sleep. */
	.parallel_ops	= true,
	.module		= THIS_MODULE,
	.ops		= mpdev_genl_ops,
	.n_ops		= ARRAY_SIZE(mpdev_genl_ops),
	.mcgrps		= mpdev_genl_mcgrps,
	.n_mcgrps	= ARRAY_SIZE(mpdev_genl_mcgrps),
};

int mpdev_genl_init(void)
{
	return genl_register_family(&mpdev_genl_family);
}

void mpdev_genl_exit(void)
{
	genl_unregister_family(&mpdev_genl_family);
}

/*
 * Announces @ev about @ctx in the context's netns.  Process context, no
 * spinlock held, task running: it allocates with GFP_KERNEL.  (A vCPU
 * that is about to sleep for an answer sets its task state first; the
 * data path fails a context only after setting it back to running, and
 * the warning below keeps it so.)  Best effort: with no listener nothing
 * is built, and a listener whose socket buffer is full loses the event
 * (its recv() then fails with ENOBUFS).
 */
void mpdev_genl_event(struct mpdev_ctx *ctx, enum mpdev_event ev, int reason)
{
	struct sk_buff *skb;
	void *hdr;

	might_sleep();
	if (WARN_ON_ONCE(!task_is_running(current)))
		__set_current_state(TASK_RUNNING);

	if (!genl_has_listeners(&mpdev_genl_family, ctx->net,
				MPDEV_GENL_GRP_EVENTS))
		return;
	skb = genlmsg_new(4 * nla_total_size(sizeof(u32)), GFP_KERNEL);
	if (!skb)
		return;
	hdr = genlmsg_put(skb, 0, 0, &mpdev_genl_family, 0, MPDEV_CMD_EVENT);
	if (!hdr || nla_put_u32(skb, MPDEV_A_EVENT, ev) ||
	    nla_put_u32(skb, MPDEV_A_CTX_ID, ctx->id) ||
	    nla_put_u32(skb, MPDEV_A_OWNER_PID, ctx->owner_vnr) ||
	    (reason && nla_put_u32(skb, MPDEV_A_FAIL_REASON, reason))) {
		nlmsg_free(skb);
		return;
	}
	genlmsg_end(skb, hdr);
	genlmsg_multicast_netns(&mpdev_genl_family, ctx->net, skb, 0,
				MPDEV_GENL_GRP_EVENTS, GFP_KERNEL);
}
