/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Introspection over generic netlink: the "mpdev" family.
 * Part of mpdev.c's translation unit (kbuild builds mpdev.ko from the one
 * file the layout names), included after the core structures.
 * Documentation/mpdev/netlink.rst describes the ABI.
 *
 * Access: every command reveals or changes state, so every one is
 * GENL_ADMIN_PERM, and binding to the events group needs CAP_NET_ADMIN
 * over the group's network namespace.  A caller sees only the contexts
 * opened in its own network namespace (ctx->net); events go to that
 * namespace only.
 *
 * Locking: a reader finds a context under mpdev_ctxs_lock and takes a
 * reference with kref_get_unless_zero() (a context whose last reference is
 * gone is about to leave the list), drops mpdev_ctxs_lock, then reads the
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
 */
#ifndef MPDEV_GENL_H
#define MPDEV_GENL_H

#include <net/genetlink.h>
#include <net/sock.h>

/* Index in mpdev_genl_mcgrps. */
enum { MPDEV_GENL_GRP_EVENTS };

static_assert(MPDEV_LAT_BUCKETS == MPDEV_GENL_LAT_BUCKETS);
static_assert(MPDEV_NR_COUNTERS == 6, "map the new counter below");

static const u16 mpdev_genl_counter_attr[MPDEV_NR_COUNTERS] = {
	[MPDEV_C_READS]		= MPDEV_A_STATS_READS,
	[MPDEV_C_WRITES]	= MPDEV_A_STATS_WRITES,
	[MPDEV_C_QUEUE_FULL]	= MPDEV_A_STATS_QUEUE_FULL_WAITS,
	[MPDEV_C_TIMEOUTS]	= MPDEV_A_STATS_TIMEOUTS,
	[MPDEV_C_MALFORMED]	= MPDEV_A_STATS_MALFORMED,
	[MPDEV_C_FAILED]	= MPDEV_A_STATS_FAILED_ACCESSES,
};

static struct genl_family mpdev_genl_family __ro_after_init;
static void mpdev_ctx_put(struct mpdev_ctx *ctx);

/*
 * The context of @net with the smallest id >= @min_id, with a reference
 * the caller drops with mpdev_ctx_put(), or NULL.
 */
static struct mpdev_ctx *mpdev_genl_next_ctx(struct net *net, u64 min_id)
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

static size_t mpdev_genl_stats_size(void)
{
	size_t bucket = nla_total_size(0) + nla_total_size(sizeof(u32)) +
			nla_total_size_64bit(sizeof(u64));

	return nla_total_size(0) +
	       MPDEV_NR_COUNTERS * nla_total_size_64bit(sizeof(u64)) +
	       nla_total_size(0) + MPDEV_LAT_BUCKETS * bucket;
}

/* Upper bound of one message holding all of @ctx.  Under ctx->lock. */
static size_t mpdev_genl_ctx_size(struct mpdev_ctx *ctx, bool stats)
{
	size_t region = nla_total_size(0) + 3 * nla_total_size(sizeof(u32)) +
			2 * nla_total_size_64bit(sizeof(u64));
	size_t size = 5 * nla_total_size(sizeof(u32)) +
		      2 * nla_total_size(sizeof(u8)) +
		      nla_total_size(KVM_STATS_NAME_SIZE) +
		      2 * nla_total_size_64bit(sizeof(u64));

	if (stats) {
		region += mpdev_genl_stats_size();
		size += mpdev_genl_stats_size();
	}
	return size + ctx->nr_regions * region;
}

/* Counters since the baseline @base, as nest @type.  Under ctx->lock. */
static int mpdev_genl_put_stats(struct sk_buff *skb, int type,
				struct mpdev_stats __percpu *pcpu,
				const struct mpdev_stats *base)
{
	struct nlattr *nest, *hist, *bucket;
	struct mpdev_stats sum;
	unsigned int i;

	mpdev_stats_sum(pcpu, &sum);
	nest = nla_nest_start(skb, type);
	if (!nest)
		return -EMSGSIZE;
	for (i = 0; i < MPDEV_NR_COUNTERS; i++)
		if (nla_put_u64_64bit(skb, mpdev_genl_counter_attr[i],
				      sum.c[i] - base->c[i], MPDEV_A_STATS_PAD))
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
	    (stats && mpdev_genl_put_stats(skb, MPDEV_A_REGION_STATS, r->stats,
					   &r->stats_base))) {
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
	int fail = READ_ONCE(ctx->fail_reason);
	bool stats = cmd == MPDEV_CMD_STATS_GET;
	struct mpdev_iodev *r;
	void *hdr;

	hdr = genlmsg_put(skb, portid, seq, &mpdev_genl_family, flags, cmd);
	if (!hdr)
		return -EMSGSIZE;
	if (nla_put_u32(skb, MPDEV_A_CTX_ID, ctx->id) ||
	    nla_put_u32(skb, MPDEV_A_OWNER_PID, ctx->owner) ||
	    nla_put_u8(skb, MPDEV_A_VM_ATTACHED, !!ctx->kvm) ||
	    (ctx->kvm &&
	     nla_put_string(skb, MPDEV_A_VM_NAME, ctx->kvm->stats_id)) ||
	    nla_put_u8(skb, MPDEV_A_BACKEND_ATTACHED, ctx->backend_open) ||
	    nla_put_u32(skb, MPDEV_A_STATE,
			fail ? MPDEV_STATE_FAILED : MPDEV_STATE_OK) ||
	    nla_put_u32(skb, MPDEV_A_FAIL_REASON, fail) ||
	    nla_put_u64_64bit(skb, MPDEV_A_DEADLINE_NS, ctx->deadline_ns,
			      MPDEV_A_PAD) ||
	    nla_put_u64_64bit(skb, MPDEV_A_SPIN_NS, ctx->spin_ns,
			      MPDEV_A_PAD) ||
	    nla_put_u32(skb, MPDEV_A_NR_REGIONS, ctx->nr_regions) ||
	    (stats && mpdev_genl_put_stats(skb, MPDEV_A_STATS, ctx->stats,
					   &ctx->stats_base))) {
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
	ctx = mpdev_genl_next_ctx(genl_info_net(info), id);
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

	while ((ctx = mpdev_genl_next_ctx(net, cb->args[0]))) {
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
	mpdev_stats_sum(ctx->stats, &ctx->stats_base);
	list_for_each_entry(r, &ctx->regions, node)
		mpdev_stats_sum(r->stats, &r->stats_base);
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
	while ((ctx = mpdev_genl_next_ctx(net, next))) {
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

static int mpdev_genl_init(void)
{
	return genl_register_family(&mpdev_genl_family);
}

static void mpdev_genl_exit(void)
{
	genl_unregister_family(&mpdev_genl_family);
}

/*
 * Announces @ev about @ctx in the context's netns.  Process context, no
 * spinlock held: may sleep.  Best effort: with no listener nothing is
 * built, and a listener whose socket buffer is full loses the event (its
 * recv() then fails with ENOBUFS).
 */
static void mpdev_genl_event(struct mpdev_ctx *ctx, enum mpdev_event ev,
			     int reason)
{
	struct sk_buff *skb;
	void *hdr;

	if (!genl_has_listeners(&mpdev_genl_family, ctx->net,
				MPDEV_GENL_GRP_EVENTS))
		return;
	skb = genlmsg_new(4 * nla_total_size(sizeof(u32)), GFP_KERNEL);
	if (!skb)
		return;
	hdr = genlmsg_put(skb, 0, 0, &mpdev_genl_family, 0, MPDEV_CMD_EVENT);
	if (!hdr || nla_put_u32(skb, MPDEV_A_EVENT, ev) ||
	    nla_put_u32(skb, MPDEV_A_CTX_ID, ctx->id) ||
	    nla_put_u32(skb, MPDEV_A_OWNER_PID, ctx->owner) ||
	    (reason && nla_put_u32(skb, MPDEV_A_FAIL_REASON, reason))) {
		nlmsg_free(skb);
		return;
	}
	genlmsg_end(skb, hdr);
	genlmsg_multicast_netns(&mpdev_genl_family, ctx->net, skb, 0,
				MPDEV_GENL_GRP_EVENTS, GFP_KERNEL);
}

#endif /* MPDEV_GENL_H */
