// SPDX-License-Identifier: GPL-2.0
/*
 * mpdevctl: show mpdev contexts, regions, counters and events over the
 * "mpdev" generic netlink family.  Documentation/mpdev/mpdevctl.rst is the
 * manual page; Documentation/mpdev/netlink.rst describes the family.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libmnl/libmnl.h>
#include <linux/genetlink.h>
#include <linux/mpdev.h>
#include <linux/netlink.h>

#define RX_BUF_SIZE	32768	/* the kernel caps dump buffers here */

/* Exit codes (documented in mpdevctl.rst). */
enum {
	EXIT_OK = 0,
	EXIT_FAIL = 1,
	EXIT_USAGE = 2,
	EXIT_NOT_LOADED = 3,
	EXIT_NO_PERM = 4,
};

static const char *prog = "mpdevctl";

/* ---- decoded state ------------------------------------------------------- */

/*
 * The counters, in the order they are printed.  Context-only ones (the
 * kernel sends them in the context's stats nest only) are left out of the
 * regions' output; "malformed" stays there (always 0) as it always was.
 */
static const struct counter {
	unsigned int attr;	/* enum mpdev_genl_stats_attr */
	const char *json, *text;
	bool ctx_only;
} counters[] = {
	{ MPDEV_A_STATS_READS, "reads", "reads", false },
	{ MPDEV_A_STATS_WRITES, "writes", "writes", false },
	{ MPDEV_A_STATS_QUEUE_FULL_WAITS, "queue_full_waits",
	  "queue-full waits", false },
	{ MPDEV_A_STATS_TIMEOUTS, "timeouts", "timeouts", false },
	{ MPDEV_A_STATS_MALFORMED, "malformed", "malformed", false },
	{ MPDEV_A_STATS_FAILED_ACCESSES, "failed_accesses", "failed", false },
	{ MPDEV_A_STATS_STALE, "stale_completions", "stale", true },
	{ MPDEV_A_STATS_INTERRUPTED, "interrupted", "interrupted", false },
	{ MPDEV_A_STATS_BUS_LOST, "bus_lost", "bus-lost", true },
};

#define NR_COUNTERS	(sizeof(counters) / sizeof(counters[0]))

struct stats {
	bool present;
	uint64_t c[NR_COUNTERS];
	uint64_t lat[MPDEV_GENL_LAT_BUCKETS];	/* the context's only */
};

struct region {
	uint32_t id, space, flags;
	uint64_t base, size, cookie;
	struct stats st;
};

struct ctx {
	uint32_t id, owner, state, reason, nr_regions;
	bool vm, backend;
	char vm_name[64];
	uint64_t deadline_ns, spin_ns, intr_ns;
	uint32_t ring_entries, nr_slots;
	uint64_t footprint;
	struct stats st;
	size_t nreg;
	struct region *reg;
};

struct ctx_list {
	size_t n;
	struct ctx *v;
};

/* ---- netlink plumbing ---------------------------------------------------- */

static struct mnl_socket *nl;
static unsigned int portid;
static uint32_t seq;
static uint16_t family_id;
static uint32_t family_version;
static uint32_t events_grp;

/* The last error's extended-ack message, if the kernel sent one. */
static char ext_msg[256];

static void die_oom(void)
{
	fprintf(stderr, "%s: out of memory\n", prog);
	exit(EXIT_FAIL);
}

static int open_socket(void)
{
	int one = 1;

	nl = mnl_socket_open(NETLINK_GENERIC);
	if (!nl)
		return -errno;
	if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0)
		return -errno;
	portid = mnl_socket_get_portid(nl);
	/* Best effort: kernels without them just send less detail. */
	mnl_socket_setsockopt(nl, NETLINK_EXT_ACK, &one, sizeof(one));
	mnl_socket_setsockopt(nl, NETLINK_CAP_ACK, &one, sizeof(one));
	seq = time(NULL);
	return 0;
}

static int parse_err_tlv(const struct nlattr *a, void *data)
{
	(void)data;
	if (mnl_attr_get_type(a) == NLMSGERR_ATTR_MSG &&
	    !mnl_attr_validate(a, MNL_TYPE_NUL_STRING))
		snprintf(ext_msg, sizeof(ext_msg), "%s", mnl_attr_get_str(a));
	return MNL_CB_OK;
}

/* The error an NLMSG_ERROR carries (0 for an ack); notes its message. */
static int parse_error(const struct nlmsghdr *nlh)
{
	const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);
	unsigned int off = sizeof(*e);

	if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(*e)))
		return -EPROTO;
	if (!(nlh->nlmsg_flags & NLM_F_CAPPED))
		off += e->msg.nlmsg_len - sizeof(e->msg);
	if ((nlh->nlmsg_flags & NLM_F_ACK_TLVS) &&
	    mnl_nlmsg_size(off) <= nlh->nlmsg_len)
		mnl_attr_parse(nlh, off, parse_err_tlv, NULL);
	return e->error;
}

typedef void (*msg_cb)(const struct nlmsghdr *nlh, void *data);

/*
 * Sends a request for @cmd of family @type (with a context id if @ctx_id,
 * or a family name for the controller) and feeds every answer to @cb.
 * Returns 0 or a negative errno, the kernel's or the socket's.
 */
static int request(uint16_t type, uint8_t cmd, uint16_t flags,
		   uint32_t ctx_id, const char *family, msg_cb cb, void *data)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	static char rx[RX_BUF_SIZE];
	struct genlmsghdr *g;
	struct nlmsghdr *nlh;
	uint32_t my_seq = ++seq;

	ext_msg[0] = '\0';
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST | flags;
	nlh->nlmsg_seq = my_seq;
	g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
	g->cmd = cmd;
	g->version = type == GENL_ID_CTRL ? 1 : MPDEV_GENL_VERSION;
	if (ctx_id)
		mnl_attr_put_u32(nlh, MPDEV_A_CTX_ID, ctx_id);
	if (family)
		mnl_attr_put_strz(nlh, CTRL_ATTR_FAMILY_NAME, family);
	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0)
		return -errno;

	for (;;) {
		ssize_t n = mnl_socket_recvfrom(nl, rx, sizeof(rx));
		const struct nlmsghdr *h;

		if (n < 0)
			return -errno;
		for (h = (void *)rx; mnl_nlmsg_ok(h, n);
		     h = mnl_nlmsg_next(h, (int *)&n)) {
			if (h->nlmsg_seq != my_seq || h->nlmsg_pid != portid)
				continue;
			if (h->nlmsg_type == NLMSG_ERROR)
				return parse_error(h);	/* the ack ends a do */
			if (h->nlmsg_type == NLMSG_DONE)
				return 0;		/* the end of a dump */
			if (cb)
				cb(h, data);
		}
	}
}

/* ---- the family ---------------------------------------------------------- */

static int parse_grp(const struct nlattr *a, void *data)
{
	const struct nlattr *tb[CTRL_ATTR_MCAST_GRP_MAX + 1] = { NULL };
	const struct nlattr *x;

	(void)data;
	mnl_attr_for_each_nested(x, a) {
		unsigned int t = mnl_attr_get_type(x);

		if (t <= CTRL_ATTR_MCAST_GRP_MAX)
			tb[t] = x;
	}
	if (tb[CTRL_ATTR_MCAST_GRP_NAME] && tb[CTRL_ATTR_MCAST_GRP_ID] &&
	    !mnl_attr_validate(tb[CTRL_ATTR_MCAST_GRP_NAME],
			       MNL_TYPE_NUL_STRING) &&
	    !mnl_attr_validate(tb[CTRL_ATTR_MCAST_GRP_ID], MNL_TYPE_U32) &&
	    !strcmp(mnl_attr_get_str(tb[CTRL_ATTR_MCAST_GRP_NAME]),
		    MPDEV_GENL_MCGRP_EVENTS))
		events_grp = mnl_attr_get_u32(tb[CTRL_ATTR_MCAST_GRP_ID]);
	return MNL_CB_OK;
}

static int parse_family_attr(const struct nlattr *a, void *data)
{
	const struct nlattr *x;

	(void)data;
	switch (mnl_attr_get_type(a)) {
	case CTRL_ATTR_FAMILY_ID:
		if (!mnl_attr_validate(a, MNL_TYPE_U16))
			family_id = mnl_attr_get_u16(a);
		break;
	case CTRL_ATTR_VERSION:
		if (!mnl_attr_validate(a, MNL_TYPE_U32))
			family_version = mnl_attr_get_u32(a);
		break;
	case CTRL_ATTR_MCAST_GROUPS:
		mnl_attr_for_each_nested(x, a)
			parse_grp(x, NULL);
		break;
	}
	return MNL_CB_OK;
}

static void family_cb(const struct nlmsghdr *nlh, void *data)
{
	(void)data;
	mnl_attr_parse(nlh, GENL_HDRLEN, parse_family_attr, NULL);
}

/* Finds the family, or exits with a clear word on why it cannot. */
static void resolve_family(void)
{
	int ret = open_socket();

	if (ret) {
		fprintf(stderr, "%s: cannot open a generic netlink socket: %s\n",
			prog, strerror(-ret));
		exit(EXIT_FAIL);
	}
	ret = request(GENL_ID_CTRL, CTRL_CMD_GETFAMILY, NLM_F_ACK, 0,
		      MPDEV_GENL_NAME, family_cb, NULL);
	if (ret == -ENOENT || (!ret && !family_id)) {
		fprintf(stderr,
			"%s: the mpdev module is not loaded (no generic netlink family \"%s\");\n"
			"%s: load it first: modprobe mpdev, or insmod mpdev.ko\n",
			prog, MPDEV_GENL_NAME, prog);
		exit(EXIT_NOT_LOADED);
	}
	if (ret) {
		fprintf(stderr, "%s: cannot look up the mpdev family: %s\n",
			prog, strerror(-ret));
		exit(EXIT_FAIL);
	}
	if (family_version > MPDEV_GENL_VERSION)
		fprintf(stderr,
			"%s: warning: the kernel speaks mpdev netlink version %u, this tool version %u; what it does not know it leaves out\n",
			prog, family_version, MPDEV_GENL_VERSION);
}

/* Exits with a message fit for the error of a request. */
static void fail(const char *what, int err, uint32_t ctx_id)
{
	if (err == -EPERM) {
		fprintf(stderr,
			"%s: %s: permission denied: mpdev introspection needs CAP_NET_ADMIN (run as root)\n",
			prog, what);
		exit(EXIT_NO_PERM);
	}
	if (err == -ENOENT && ctx_id)
		fprintf(stderr, "%s: %s: no context %u in this network namespace\n",
			prog, what, ctx_id);
	else
		fprintf(stderr, "%s: %s: %s%s%s%s\n", prog, what,
			strerror(-err), ext_msg[0] ? " (kernel: " : "", ext_msg,
			ext_msg[0] ? ")" : "");
	exit(EXIT_FAIL);
}

/* ---- decoding contexts --------------------------------------------------- */

static bool get_u8(const struct nlattr *a, bool *v)
{
	if (mnl_attr_validate(a, MNL_TYPE_U8))
		return false;
	*v = mnl_attr_get_u8(a);
	return true;
}

static bool get_u32(const struct nlattr *a, uint32_t *v)
{
	if (mnl_attr_validate(a, MNL_TYPE_U32))
		return false;
	*v = mnl_attr_get_u32(a);
	return true;
}

static bool get_u64(const struct nlattr *a, uint64_t *v)
{
	if (mnl_attr_validate(a, MNL_TYPE_U64))
		return false;
	*v = mnl_attr_get_u64(a);
	return true;
}

static void parse_bucket(const struct nlattr *nest, struct stats *st)
{
	const struct nlattr *a;
	uint32_t log2 = UINT32_MAX;
	uint64_t n = 0;

	mnl_attr_for_each_nested(a, nest) {
		if (mnl_attr_get_type(a) == MPDEV_A_BUCKET_LOG2)
			get_u32(a, &log2);
		else if (mnl_attr_get_type(a) == MPDEV_A_BUCKET_COUNT)
			get_u64(a, &n);
	}
	if (log2 < MPDEV_GENL_LAT_BUCKETS)
		st->lat[log2] = n;
}

static void parse_stats(const struct nlattr *nest, struct stats *st)
{
	const struct nlattr *a, *b;

	memset(st, 0, sizeof(*st));
	st->present = true;
	mnl_attr_for_each_nested(a, nest) {
		unsigned int t = mnl_attr_get_type(a);
		size_t i;

		for (i = 0; i < NR_COUNTERS; i++)
			if (counters[i].attr == t)
				get_u64(a, &st->c[i]);
		if (t == MPDEV_A_STATS_READ_LATENCY)
			mnl_attr_for_each_nested(b, a)
				if (mnl_attr_get_type(b) ==
				    MPDEV_A_HIST_BUCKET)
					parse_bucket(b, st);
	}
}

static void parse_region(const struct nlattr *nest, struct ctx *c)
{
	struct region r = { 0 };
	const struct nlattr *a;
	size_t i;

	mnl_attr_for_each_nested(a, nest) {
		switch (mnl_attr_get_type(a)) {
		case MPDEV_A_REGION_ID:
			get_u32(a, &r.id);
			break;
		case MPDEV_A_REGION_SPACE:
			get_u32(a, &r.space);
			break;
		case MPDEV_A_REGION_BASE:
			get_u64(a, &r.base);
			break;
		case MPDEV_A_REGION_SIZE:
			get_u64(a, &r.size);
			break;
		case MPDEV_A_REGION_FLAGS:
			get_u32(a, &r.flags);
			break;
		case MPDEV_A_REGION_COOKIE:
			get_u64(a, &r.cookie);
			break;
		case MPDEV_A_REGION_STATS:
			parse_stats(a, &r.st);
			break;
		}
	}
	/* A dump never repeats a region; be robust if a kernel did. */
	for (i = 0; i < c->nreg; i++)
		if (c->reg[i].id == r.id)
			return;
	c->reg = realloc(c->reg, (c->nreg + 1) * sizeof(*c->reg));
	if (!c->reg)
		die_oom();
	c->reg[c->nreg++] = r;
}

/* One message: a context, or the next part of one (merged by id). */
static void ctx_cb(const struct nlmsghdr *nlh, void *data)
{
	struct ctx_list *l = data;
	struct ctx tmp = { 0 }, *c = NULL;
	const struct nlattr *a;
	bool have_id = false;
	size_t i;

	mnl_attr_for_each(a, nlh, GENL_HDRLEN) {
		if (mnl_attr_get_type(a) == MPDEV_A_CTX_ID)
			have_id = get_u32(a, &tmp.id);
	}
	if (!have_id)
		return;
	for (i = 0; i < l->n; i++)
		if (l->v[i].id == tmp.id)
			c = &l->v[i];
	if (!c) {
		l->v = realloc(l->v, (l->n + 1) * sizeof(*l->v));
		if (!l->v)
			die_oom();
		c = &l->v[l->n++];
		*c = tmp;
	}
	mnl_attr_for_each(a, nlh, GENL_HDRLEN) {
		switch (mnl_attr_get_type(a)) {
		case MPDEV_A_OWNER_PID:
			get_u32(a, &c->owner);
			break;
		case MPDEV_A_VM_ATTACHED:
			get_u8(a, &c->vm);
			break;
		case MPDEV_A_VM_NAME:
			if (!mnl_attr_validate(a, MNL_TYPE_NUL_STRING))
				snprintf(c->vm_name, sizeof(c->vm_name), "%s",
					 mnl_attr_get_str(a));
			break;
		case MPDEV_A_BACKEND_ATTACHED:
			get_u8(a, &c->backend);
			break;
		case MPDEV_A_STATE:
			get_u32(a, &c->state);
			break;
		case MPDEV_A_FAIL_REASON:
			get_u32(a, &c->reason);
			break;
		case MPDEV_A_DEADLINE_NS:
			get_u64(a, &c->deadline_ns);
			break;
		case MPDEV_A_SPIN_NS:
			get_u64(a, &c->spin_ns);
			break;
		case MPDEV_A_INTR_NS:
			get_u64(a, &c->intr_ns);
			break;
		case MPDEV_A_RING_ENTRIES:
			get_u32(a, &c->ring_entries);
			break;
		case MPDEV_A_NR_SLOTS:
			get_u32(a, &c->nr_slots);
			break;
		case MPDEV_A_FOOTPRINT:
			get_u64(a, &c->footprint);
			break;
		case MPDEV_A_NR_REGIONS:
			get_u32(a, &c->nr_regions);
			break;
		case MPDEV_A_STATS:
			parse_stats(a, &c->st);
			break;
		case MPDEV_A_REGION:
			parse_region(a, c);
			break;
		}
	}
}

static int cmp_ctx(const void *a, const void *b)
{
	const struct ctx *x = a, *y = b;

	return x->id < y->id ? -1 : x->id > y->id;
}

static int cmp_region(const void *a, const void *b)
{
	const struct region *x = a, *y = b;

	return x->id < y->id ? -1 : x->id > y->id;
}

static void fetch(uint8_t cmd, uint32_t ctx_id, struct ctx_list *l)
{
	int ret;
	size_t i;

	memset(l, 0, sizeof(*l));
	if (ctx_id)
		ret = request(family_id, cmd, NLM_F_ACK, ctx_id, NULL, ctx_cb,
			      l);
	else
		ret = request(family_id, cmd, NLM_F_DUMP, 0, NULL, ctx_cb, l);
	if (ret)
		fail(cmd == MPDEV_CMD_CTX_GET ? "show" : "stats", ret, ctx_id);
	qsort(l->v, l->n, sizeof(*l->v), cmp_ctx);
	for (i = 0; i < l->n; i++)
		qsort(l->v[i].reg, l->v[i].nreg, sizeof(*l->v[i].reg),
		      cmp_region);
}

static void free_list(struct ctx_list *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->v[i].reg);
	free(l->v);
}

/* ---- words and numbers --------------------------------------------------- */

static const char *reason_name(uint32_t r, char *buf, size_t len)
{
	static const char *const names[] = {
		[MPDEV_FAIL_NONE] = "none",
		[MPDEV_FAIL_TIMEOUT] = "timeout",
		[MPDEV_FAIL_BACKEND_CLOSED] = "backend-closed",
		[MPDEV_FAIL_MALFORMED] = "malformed",
		[MPDEV_FAIL_VMM_CLOSED] = "vmm-closed",
		[MPDEV_FAIL_BUS_LOST] = "bus-lost",
		[MPDEV_FAIL_BUS_CONFLICT] = "bus-conflict",
	};

	if (r < sizeof(names) / sizeof(names[0]) && names[r])
		return names[r];
	snprintf(buf, len, "reason-%u", r);
	return buf;
}

static const char *event_name(uint32_t e, char *buf, size_t len)
{
	static const char *const names[] = {
		[MPDEV_EVENT_CTX_CREATED] = "ctx-created",
		[MPDEV_EVENT_CTX_DESTROYED] = "ctx-destroyed",
		[MPDEV_EVENT_BACKEND_ATTACHED] = "backend-attached",
		[MPDEV_EVENT_BACKEND_DETACHED] = "backend-detached",
		[MPDEV_EVENT_REMOTE_GONE] = "remote-gone",
		[MPDEV_EVENT_DEADLINE] = "deadline",
		[MPDEV_EVENT_MALFORMED] = "malformed",
		[MPDEV_EVENT_BUS] = "bus",
	};

	if (e < sizeof(names) / sizeof(names[0]) && names[e])
		return names[e];
	snprintf(buf, len, "event-%u", e);
	return buf;
}

static const char *space_name(uint32_t s)
{
	return s == MPDEV_SPACE_MMIO ? "mmio" : s == MPDEV_SPACE_PIO ? "pio" :
	       "?";
}

/* 1500 -> "1.5us": nanoseconds in the largest unit that keeps it >= 1. */
static const char *fmt_ns(uint64_t ns, char *buf, size_t len)
{
	if (ns < 1000)
		snprintf(buf, len, "%" PRIu64 "ns", ns);
	else if (ns < 1000000)
		snprintf(buf, len, "%.4gus", ns / 1e3);
	else if (ns < 1000000000)
		snprintf(buf, len, "%.4gms", ns / 1e6);
	else
		snprintf(buf, len, "%.4gs", ns / 1e9);
	return buf;
}

/* 41984 -> "41KiB": bytes in the largest binary unit that keeps it >= 1. */
static const char *fmt_bytes(uint64_t b, char *buf, size_t len)
{
	static const char *const unit[] = { "KiB", "MiB", "GiB", "TiB" };
	double v = b;
	int u = -1;

	if (b < 1024) {
		snprintf(buf, len, "%" PRIu64 "B", b);
		return buf;
	}
	while (v >= 1024 && u < 3) {
		v /= 1024;
		u++;
	}
	snprintf(buf, len, "%.4g%s", v, unit[u]);
	return buf;
}

static void json_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char ch = *s;

		if (ch == '"' || ch == '\\')
			printf("\\%c", ch);
		else if (ch < 0x20)
			printf("\\u%04x", ch);
		else
			putchar(ch);
	}
	putchar('"');
}

/* ---- show ---------------------------------------------------------------- */

static void show_text(const struct ctx_list *l)
{
	char b1[32], b2[32], b3[32], mb[32], rb[32], ring[16];
	size_t i, k;

	if (!l->n) {
		printf("no mpdev contexts\n");
		return;
	}
	printf("%-5s %-8s %-14s %-9s %-6s %-15s %-9s %-9s %-9s %-5s %-5s %-9s %s\n",
	       "CTX", "OWNER", "VM", "BACKEND", "STATE", "REASON", "DEADLINE",
	       "SPIN", "INTR", "RING", "SLOTS", "MEMORY", "REGIONS");
	for (i = 0; i < l->n; i++) {
		const struct ctx *c = &l->v[i];

		if (c->ring_entries)
			snprintf(ring, sizeof(ring), "%u", c->ring_entries);
		else
			snprintf(ring, sizeof(ring), "-");
		printf("%-5u %-8u %-14s %-9s %-6s %-15s %-9s %-9s %-9s %-5s %-5u %-9s %u\n",
		       c->id, c->owner, c->vm ? c->vm_name : "-",
		       c->backend ? "attached" : "-",
		       c->state == MPDEV_STATE_OK ? "ok" : "failed",
		       c->reason ? reason_name(c->reason, rb, sizeof(rb)) : "-",
		       fmt_ns(c->deadline_ns, b1, sizeof(b1)),
		       fmt_ns(c->spin_ns, b2, sizeof(b2)),
		       fmt_ns(c->intr_ns, b3, sizeof(b3)), ring, c->nr_slots,
		       fmt_bytes(c->footprint, mb, sizeof(mb)), c->nr_regions);
		if (c->nreg)
			printf("      %-8s %-5s %-18s %-12s %-18s %s\n", "REGION",
			       "SPACE", "BASE", "SIZE", "COOKIE", "FLAGS");
		for (k = 0; k < c->nreg; k++) {
			const struct region *r = &c->reg[k];

			printf("      %-8u %-5s 0x%-16" PRIx64 " 0x%-10" PRIx64
			       " 0x%-16" PRIx64 " %s\n", r->id,
			       space_name(r->space), r->base, r->size, r->cookie,
			       r->flags & MPDEV_REGION_NONPOSTED ?
			       "non-posted" : "posted");
		}
	}
}

static void json_ctx_head(const struct ctx *c)
{
	char rb[32];

	printf("{\"id\":%u,\"owner_pid\":%u,\"vm_attached\":%s,\"vm\":",
	       c->id, c->owner, c->vm ? "true" : "false");
	if (c->vm)
		json_str(c->vm_name);
	else
		printf("null");
	printf(",\"backend_attached\":%s,\"state\":\"%s\",\"fail_reason\":",
	       c->backend ? "true" : "false",
	       c->state == MPDEV_STATE_OK ? "ok" : "failed");
	if (c->reason)
		json_str(reason_name(c->reason, rb, sizeof(rb)));
	else
		printf("null");
	printf(",\"deadline_ns\":%" PRIu64 ",\"spin_ns\":%" PRIu64
	       ",\"nr_regions\":%u,\"intr_ns\":%" PRIu64
	       ",\"ring_entries\":%u,\"nr_slots\":%u,\"footprint_bytes\":%"
	       PRIu64, c->deadline_ns, c->spin_ns, c->nr_regions, c->intr_ns,
	       c->ring_entries, c->nr_slots, c->footprint);
}

static void json_region_head(const struct region *r)
{
	printf("{\"id\":%u,\"space\":\"%s\",\"base\":%" PRIu64
	       ",\"size\":%" PRIu64 ",\"nonposted\":%s,\"cookie\":%" PRIu64,
	       r->id, space_name(r->space), r->base, r->size,
	       r->flags & MPDEV_REGION_NONPOSTED ? "true" : "false", r->cookie);
}

/* A context's stats (@ctx) or a region's: no histogram, no context-only counters. */
static void json_stats(const struct stats *st, bool ctx)
{
	bool first = true;
	size_t i;
	int b;

	printf(",\"stats\":{");
	for (i = 0; i < NR_COUNTERS; i++) {
		if (counters[i].ctx_only && !ctx)
			continue;
		printf("%s\"%s\":%" PRIu64, i ? "," : "", counters[i].json,
		       st->c[i]);
	}
	if (!ctx) {
		printf("}");
		return;
	}
	printf(",\"read_latency_ns\":[");
	for (b = 0; b < MPDEV_GENL_LAT_BUCKETS; b++) {
		if (!st->lat[b])
			continue;
		/* Bucket 0 also holds 0 ns; the last one has no upper end. */
		printf("%s{\"from\":%" PRIu64 ",\"to\":", first ? "" : ",",
		       b ? (uint64_t)1 << b : 0);
		if (b == MPDEV_GENL_LAT_BUCKETS - 1)
			printf("null");
		else
			printf("%" PRIu64, (uint64_t)1 << (b + 1));
		printf(",\"count\":%" PRIu64 "}", st->lat[b]);
		first = false;
	}
	printf("]}");
}

static void show_json(const struct ctx_list *l, bool stats)
{
	size_t i, k;

	printf("[");
	for (i = 0; i < l->n; i++) {
		const struct ctx *c = &l->v[i];

		printf("%s", i ? "," : "");
		json_ctx_head(c);
		if (stats)
			json_stats(&c->st, true);
		printf(",\"regions\":[");
		for (k = 0; k < c->nreg; k++) {
			printf("%s", k ? "," : "");
			json_region_head(&c->reg[k]);
			if (stats)
				json_stats(&c->reg[k].st, false);
			printf("}");
		}
		printf("]}");
	}
	printf("]\n");
}

/* ---- stats --------------------------------------------------------------- */

static void stats_text_one(const struct stats *st, const char *indent,
			   bool ctx)
{
	uint64_t max = 0;
	char b1[32], b2[32];
	size_t k;
	int i;

	printf("%s", indent);
	for (k = 0; k < NR_COUNTERS; k++) {
		if (counters[k].ctx_only && !ctx)
			continue;
		printf("%s%s %" PRIu64, k ? "  " : "", counters[k].text,
		       st->c[k]);
	}
	printf("\n");
	if (!ctx)
		return;
	for (i = 0; i < MPDEV_GENL_LAT_BUCKETS; i++)
		if (st->lat[i] > max)
			max = st->lat[i];
	if (!max)
		return;
	printf("%sread latency:\n", indent);
	for (i = 0; i < MPDEV_GENL_LAT_BUCKETS; i++) {
		int bar;

		if (!st->lat[i])
			continue;
		bar = (int)((st->lat[i] * 40 + max - 1) / max);
		fmt_ns(i ? (uint64_t)1 << i : 0, b1, sizeof(b1));
		if (i == MPDEV_GENL_LAT_BUCKETS - 1)
			snprintf(b2, sizeof(b2), "...");
		else
			fmt_ns((uint64_t)1 << (i + 1), b2, sizeof(b2));
		printf("%s  [%8s, %8s) %12" PRIu64 " %.*s\n", indent, b1, b2,
		       st->lat[i], bar,
		       "########################################");
	}
}

static void stats_text(const struct ctx_list *l)
{
	char rb[32];
	size_t i, k;

	if (!l->n) {
		printf("no mpdev contexts\n");
		return;
	}
	for (i = 0; i < l->n; i++) {
		const struct ctx *c = &l->v[i];

		printf("ctx %u (owner %u, %s, %s%s%s)\n", c->id, c->owner,
		       c->vm ? c->vm_name : "no VM",
		       c->state == MPDEV_STATE_OK ? "ok" : "failed: ",
		       c->reason ? reason_name(c->reason, rb, sizeof(rb)) : "",
		       "");
		stats_text_one(&c->st, "  ", true);
		for (k = 0; k < c->nreg; k++) {
			const struct region *r = &c->reg[k];

			printf("  region %u (%s 0x%" PRIx64 ", 0x%" PRIx64
			       " bytes)\n", r->id, space_name(r->space),
			       r->base, r->size);
			stats_text_one(&r->st, "    ", false);
		}
	}
}

/* ---- monitor ------------------------------------------------------------- */

static bool json_out;

static void event_cb(const struct nlmsghdr *nlh, void *data)
{
	const struct genlmsghdr *g = mnl_nlmsg_get_payload(nlh);
	uint32_t ev = 0, id = 0, owner = 0, reason = 0;
	const struct nlattr *a;
	char eb[32], rb[32];

	(void)data;
	if (nlh->nlmsg_type != family_id || g->cmd != MPDEV_CMD_EVENT)
		return;
	mnl_attr_for_each(a, nlh, GENL_HDRLEN) {
		switch (mnl_attr_get_type(a)) {
		case MPDEV_A_EVENT:
			get_u32(a, &ev);
			break;
		case MPDEV_A_CTX_ID:
			get_u32(a, &id);
			break;
		case MPDEV_A_OWNER_PID:
			get_u32(a, &owner);
			break;
		case MPDEV_A_FAIL_REASON:
			get_u32(a, &reason);
			break;
		}
	}
	if (json_out) {
		printf("{\"event\":\"%s\",\"ctx\":%u,\"owner_pid\":%u",
		       event_name(ev, eb, sizeof(eb)), id, owner);
		if (reason)
			printf(",\"reason\":\"%s\"",
			       reason_name(reason, rb, sizeof(rb)));
		printf("}\n");
	} else {
		printf("%-17s ctx %u owner %u", event_name(ev, eb, sizeof(eb)),
		       id, owner);
		if (reason)
			printf(" reason %s", reason_name(reason, rb,
							 sizeof(rb)));
		printf("\n");
	}
	fflush(stdout);
}

static int monitor(void)
{
	static char rx[RX_BUF_SIZE];

	if (!events_grp) {
		fprintf(stderr, "%s: the mpdev family has no \"%s\" group\n",
			prog, MPDEV_GENL_MCGRP_EVENTS);
		return EXIT_FAIL;
	}
	if (mnl_socket_setsockopt(nl, NETLINK_ADD_MEMBERSHIP, &events_grp,
				  sizeof(events_grp)) < 0) {
		if (errno == EPERM) {
			fprintf(stderr,
				"%s: monitor: permission denied: mpdev events need CAP_NET_ADMIN (run as root)\n",
				prog);
			return EXIT_NO_PERM;
		}
		fprintf(stderr, "%s: monitor: cannot join the events group: %s\n",
			prog, strerror(errno));
		return EXIT_FAIL;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	for (;;) {
		ssize_t n = mnl_socket_recvfrom(nl, rx, sizeof(rx));
		const struct nlmsghdr *h;

		if (n < 0 && errno == ENOBUFS) {
			fprintf(stderr, "%s: monitor: events were lost (receive buffer overrun)\n",
				prog);
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			fprintf(stderr, "%s: monitor: %s\n", prog,
				strerror(errno));
			return EXIT_FAIL;
		}
		for (h = (void *)rx; mnl_nlmsg_ok(h, n);
		     h = mnl_nlmsg_next(h, (int *)&n))
			event_cb(h, NULL);
	}
}

/* ---- main ---------------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: %s show [-j] [CTX]         contexts and their regions\n"
		"       %s stats [-j] [--reset] [CTX]  counters and read latency\n"
		"       %s monitor [-j]            print events as they arrive\n"
		"\n"
		"  -j, --json   JSON output (monitor: one object per line)\n"
		"  --reset      after printing, zero the counters (of CTX, or all)\n"
		"  CTX          one context id; default: every context of this\n"
		"               network namespace\n"
		"  -h, --help   this text\n",
		prog, prog, prog);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "reset", no_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *cmd = NULL;
	bool reset = false;
	uint32_t ctx_id = 0;
	struct ctx_list l;
	int c, ret;

	while ((c = getopt_long(argc, argv, "jh", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			json_out = true;
			break;
		case 'r':
			reset = true;
			break;
		case 'h':
			usage(stdout);
			return EXIT_OK;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind < argc)
		cmd = argv[optind++];
	if (optind < argc) {
		char *end;
		unsigned long v;

		errno = 0;
		v = strtoul(argv[optind], &end, 0);
		if (errno || *end || !v || v > 0x7fffffff) {
			fprintf(stderr, "%s: bad context id '%s'\n", prog,
				argv[optind]);
			return EXIT_USAGE;
		}
		ctx_id = v;
		optind++;
	}
	if (!cmd || optind < argc ||
	    (strcmp(cmd, "show") && strcmp(cmd, "stats") &&
	     strcmp(cmd, "monitor")) ||
	    (reset && strcmp(cmd, "stats")) ||
	    (ctx_id && !strcmp(cmd, "monitor"))) {
		usage(stderr);
		return EXIT_USAGE;
	}

	resolve_family();
	if (!strcmp(cmd, "monitor"))
		return monitor();

	if (!strcmp(cmd, "show")) {
		fetch(MPDEV_CMD_CTX_GET, ctx_id, &l);
		if (json_out)
			show_json(&l, false);
		else
			show_text(&l);
	} else {
		fetch(MPDEV_CMD_STATS_GET, ctx_id, &l);
		if (json_out)
			show_json(&l, true);
		else
			stats_text(&l);
		if (reset) {
			ret = request(family_id, MPDEV_CMD_STATS_RESET,
				      NLM_F_ACK, ctx_id, NULL, NULL, NULL);
			if (ret)
				fail("stats --reset", ret, ctx_id);
		}
	}
	free_list(&l);
	return fflush(stdout) ? EXIT_FAIL : EXIT_OK;
}
