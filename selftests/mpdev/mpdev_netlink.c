// SPDX-License-Identifier: GPL-2.0
/*
 * The mpdev generic netlink family: dumps match what the test set up,
 * counters match the accesses a raw KVM guest made, events arrive, only
 * privileged callers in the right network namespace are served, and
 * malformed requests get an extended-ack error and nothing else.
 *
 * Raw netlink sockets only (no libmnl), so the test has no dependency
 * beyond libc and the kselftest harness.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/capability.h>
#include <linux/genetlink.h>
#include <linux/netlink.h>

#include "../kselftest_harness.h"
#include "lib/kvm_guest.h"
#include "mpdev_util.h"

#define MMIO_BASE	0xd0000000ULL
#define PIO_BASE	0x6000ULL
#define MSG_MAX		8192
#define RX_BUF		65536
#define MAX_CTXS	32
#define MAX_REGIONS	80

/* ---- a minimal generic netlink client ---------------------------------- */

struct nlsock {
	int fd;
	uint32_t seq;
	/* Events not yet handed out (several may share a datagram). */
	uint8_t *evbuf;
	size_t have, pos;
};

struct msg {
	size_t len;
	union {
		struct nlmsghdr nlh;
		uint8_t buf[MSG_MAX];
	} u;
};

/* Bytes from one attribute to the next. */
#define ASTEP(a)	((size_t)NLA_ALIGN((a)->nla_len))

/* Everything one request brought back. */
struct reply {
	int err;		/* NLMSG_ERROR's error; 0 for an ack or DONE */
	bool acked;		/* an NLMSG_ERROR ended it */
	bool done;		/* an NLMSG_DONE ended it */
	bool capped_tlvs;	/* NLM_F_ACK_TLVS on the error */
	char ext_msg[256];
	bool has_offs, has_miss;
	uint32_t offs, miss_type;
	int nmsgs;		/* data messages */
	uint8_t *data[1024];	/* each a copy of one nlmsghdr + payload */
	int foreign;		/* messages for another sequence number */
};

static void reply_free(struct reply *r)
{
	int i;

	for (i = 0; i < r->nmsgs; i++)
		free(r->data[i]);
	memset(r, 0, sizeof(*r));
}

static int nls_open(struct nlsock *s)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	int one = 1;

	memset(s, 0, sizeof(*s));
	s->seq = 1000;
	s->fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_GENERIC);
	if (s->fd < 0)
		return -errno;
	if (bind(s->fd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    setsockopt(s->fd, SOL_NETLINK, NETLINK_EXT_ACK, &one,
		       sizeof(one)) ||
	    setsockopt(s->fd, SOL_NETLINK, NETLINK_CAP_ACK, &one,
		       sizeof(one))) {
		close(s->fd);
		s->fd = -1;
		return -errno;
	}
	return 0;
}

static void nls_close(struct nlsock *s)
{
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	free(s->evbuf);
	s->evbuf = NULL;
}

static void msg_init(struct msg *m, uint16_t type, uint16_t flags,
		     uint8_t cmd)
{
	struct genlmsghdr *g;

	memset(m, 0, sizeof(*m));
	m->u.nlh.nlmsg_type = type;
	m->u.nlh.nlmsg_flags = NLM_F_REQUEST | flags;
	g = NLMSG_DATA(&m->u.nlh);
	g->cmd = cmd;
	g->version = MPDEV_GENL_VERSION;
	m->len = NLMSG_HDRLEN + GENL_HDRLEN;
}

/* Appends an attribute; returns its offset from the message start. */
static uint32_t msg_put(struct msg *m, uint16_t type, const void *data,
			uint16_t len)
{
	struct nlattr *a = (struct nlattr *)(m->u.buf + m->len);
	uint32_t off = m->len;

	a->nla_type = type;
	a->nla_len = NLA_HDRLEN + len;
	if (len)
		memcpy((uint8_t *)a + NLA_HDRLEN, data, len);
	m->len += ASTEP(a);
	return off;
}

static uint32_t msg_put_u32(struct msg *m, uint16_t type, uint32_t v)
{
	return msg_put(m, type, &v, sizeof(v));
}

static int nls_send(struct nlsock *s, struct msg *m)
{
	m->u.nlh.nlmsg_len = m->len;
	m->u.nlh.nlmsg_seq = ++s->seq;
	if (send(s->fd, m->u.buf, m->len, 0) != (ssize_t)m->len)
		return -errno;
	return 0;
}

/* One datagram, waiting up to @ms; its length, 0 on timeout, or -errno. */
static ssize_t nls_recv(struct nlsock *s, void *buf, size_t size, int ms)
{
	struct pollfd pfd = { .fd = s->fd, .events = POLLIN };
	ssize_t n;

	if (poll(&pfd, 1, ms) <= 0)
		return 0;
	n = recv(s->fd, buf, size, MSG_TRUNC);
	if (n < 0)
		return -errno;
	if ((size_t)n > size)
		return -EMSGSIZE;	/* the test's buffer was too small */
	return n;
}

static void parse_extack(struct reply *r, const struct nlmsghdr *nh)
{
	const struct nlmsgerr *e = NLMSG_DATA(nh);
	size_t off = sizeof(*e);
	const uint8_t *p;
	size_t len;

	r->err = e->error;
	r->capped_tlvs = nh->nlmsg_flags & NLM_F_ACK_TLVS;
	if (!(nh->nlmsg_flags & NLM_F_CAPPED))
		off += e->msg.nlmsg_len - sizeof(e->msg);
	if (!r->capped_tlvs || NLMSG_HDRLEN + off > nh->nlmsg_len)
		return;
	p = (const uint8_t *)NLMSG_DATA(nh) + off;
	len = nh->nlmsg_len - NLMSG_HDRLEN - off;
	while (len >= NLA_HDRLEN) {
		const struct nlattr *a = (const void *)p;
		size_t alen = a->nla_len - NLA_HDRLEN;

		if (a->nla_len < NLA_HDRLEN || a->nla_len > len)
			break;
		switch (a->nla_type & NLA_TYPE_MASK) {
		case NLMSGERR_ATTR_MSG:
			snprintf(r->ext_msg, sizeof(r->ext_msg), "%.*s",
				 (int)alen, (const char *)(a + 1));
			break;
		case NLMSGERR_ATTR_OFFS:
			r->has_offs = alen == 4;
			memcpy(&r->offs, a + 1, 4);
			break;
		case NLMSGERR_ATTR_MISS_TYPE:
			r->has_miss = alen == 4;
			memcpy(&r->miss_type, a + 1, 4);
			break;
		}
		if (ASTEP(a) >= len)
			break;
		len -= ASTEP(a);
		p += ASTEP(a);
	}
}

/*
 * Sends @m and collects the answer until an NLMSG_ERROR or NLMSG_DONE
 * (or @ms of silence), each datagram read with a @bufsize buffer.
 * Returns 0 or -errno of the socket calls.
 */
static int nls_xact_buf(struct nlsock *s, struct msg *m, struct reply *r,
			size_t bufsize)
{
	uint8_t *buf = malloc(bufsize);
	int ret;

	memset(r, 0, sizeof(*r));
	r->err = 1;
	if (!buf)
		return -ENOMEM;
	ret = nls_send(s, m);
	while (!ret && !r->acked && !r->done) {
		ssize_t n = nls_recv(s, buf, bufsize, 5000);
		struct nlmsghdr *nh;
		size_t left;

		if (n <= 0) {
			ret = n ? n : -ETIMEDOUT;
			break;
		}
		left = n;
		for (nh = (void *)buf; NLMSG_OK(nh, left);
		     nh = NLMSG_NEXT(nh, left)) {
			if (nh->nlmsg_seq != s->seq) {
				r->foreign++;
				continue;
			}
			if (nh->nlmsg_type == NLMSG_ERROR) {
				parse_extack(r, nh);
				r->acked = true;
			} else if (nh->nlmsg_type == NLMSG_DONE) {
				memcpy(&r->err, NLMSG_DATA(nh), sizeof(int));
				r->done = true;
			} else if (r->nmsgs < 1024) {
				r->data[r->nmsgs] = malloc(nh->nlmsg_len);
				memcpy(r->data[r->nmsgs++], nh, nh->nlmsg_len);
			}
		}
	}
	free(buf);
	return ret;
}

static int nls_xact(struct nlsock *s, struct msg *m, struct reply *r)
{
	return nls_xact_buf(s, m, r, RX_BUF);
}

/* How many messages arrive within @ms (each datagram counted per message). */
static int nls_count_more(struct nlsock *s, int ms)
{
	uint8_t buf[RX_BUF];
	int count = 0;
	ssize_t n;

	while ((n = nls_recv(s, buf, sizeof(buf), ms)) > 0) {
		struct nlmsghdr *nh;
		size_t left = n;

		for (nh = (void *)buf; NLMSG_OK(nh, left);
		     nh = NLMSG_NEXT(nh, left))
			count++;
	}
	return count;
}

/* ---- attribute parsing --------------------------------------------------- */

/* Fills tb[0..max] (the last of each type wins); false if malformed. */
static bool attrs(const void *data, size_t len, const struct nlattr **tb,
		  int max)
{
	const uint8_t *p = data;

	memset(tb, 0, (max + 1) * sizeof(*tb));
	while (len >= NLA_HDRLEN) {
		const struct nlattr *a = (const void *)p;
		int type = a->nla_type & NLA_TYPE_MASK;

		if (a->nla_len < NLA_HDRLEN || a->nla_len > len)
			return false;
		if (type <= max)
			tb[type] = a;
		if (ASTEP(a) >= len)
			return true;
		len -= ASTEP(a);
		p += ASTEP(a);
	}
	return len == 0;
}

#define for_each_nested(a, nest, left)					\
	for (a = (const struct nlattr *)((nest) + 1),			\
	     left = (nest)->nla_len - NLA_HDRLEN;			\
	     left >= NLA_HDRLEN && a->nla_len >= NLA_HDRLEN &&		\
	     a->nla_len <= left;					\
	     left -= ASTEP(a) < left ?			\
		     ASTEP(a) : left,			\
	     a = (const struct nlattr *)((const uint8_t *)a +		\
					 ASTEP(a)))

static const void *payload(const struct nlattr *a)
{
	return (const uint8_t *)a + NLA_HDRLEN;
}

/* Typed getters: a missing or wrong-sized attribute sets *bad. */
static uint64_t get_uint(const struct nlattr *a, size_t size, bool *bad)
{
	uint64_t v = 0;

	if (!a || a->nla_len != NLA_HDRLEN + size) {
		*bad = true;
		return 0;
	}
	memcpy(&v, payload(a), size);	/* little endian */
	return v;
}

#define GET_U8(a, bad)	((uint8_t)get_uint(a, 1, bad))
#define GET_U16(a, bad)	((uint16_t)get_uint(a, 2, bad))
#define GET_U32(a, bad)	((uint32_t)get_uint(a, 4, bad))
#define GET_U64(a, bad)	get_uint(a, 8, bad)

/* ---- the family ---------------------------------------------------------- */

struct fam {
	uint16_t id;
	uint32_t version;
	uint32_t events_grp;
	uint32_t op_flags[MPDEV_CMD_MAX + 1];
	bool op_seen[MPDEV_CMD_MAX + 1];
};

static int resolve(struct nlsock *s, struct fam *f)
{
	const struct nlattr *tb[CTRL_ATTR_MAX + 1], *a, *b;
	struct reply r;
	struct msg m;
	bool bad = false;
	size_t left, left2;
	int ret;

	memset(f, 0, sizeof(*f));
	msg_init(&m, GENL_ID_CTRL, NLM_F_ACK, CTRL_CMD_GETFAMILY);
	msg_put(&m, CTRL_ATTR_FAMILY_NAME, MPDEV_GENL_NAME,
		sizeof(MPDEV_GENL_NAME));
	ret = nls_xact(s, &m, &r);
	if (!ret)
		ret = r.err;
	if (!ret && r.nmsgs != 1)
		ret = -EPROTO;
	if (ret)
		goto out;
	if (!attrs(NLMSG_DATA(r.data[0]) + GENL_HDRLEN,
		   ((struct nlmsghdr *)r.data[0])->nlmsg_len - NLMSG_HDRLEN -
		   GENL_HDRLEN, tb, CTRL_ATTR_MAX)) {
		ret = -EPROTO;
		goto out;
	}
	f->id = GET_U16(tb[CTRL_ATTR_FAMILY_ID], &bad);
	f->version = GET_U32(tb[CTRL_ATTR_VERSION], &bad);
	if (tb[CTRL_ATTR_MCAST_GROUPS]) {
		for_each_nested(a, tb[CTRL_ATTR_MCAST_GROUPS], left) {
			const struct nlattr *g[CTRL_ATTR_MCAST_GRP_MAX + 1];

			if (!attrs(payload(a), a->nla_len - NLA_HDRLEN, g,
				   CTRL_ATTR_MCAST_GRP_MAX) ||
			    !g[CTRL_ATTR_MCAST_GRP_NAME])
				continue;
			if (!strcmp(payload(g[CTRL_ATTR_MCAST_GRP_NAME]),
				    MPDEV_GENL_MCGRP_EVENTS))
				f->events_grp =
					GET_U32(g[CTRL_ATTR_MCAST_GRP_ID], &bad);
		}
	}
	if (tb[CTRL_ATTR_OPS]) {
		for_each_nested(b, tb[CTRL_ATTR_OPS], left2) {
			const struct nlattr *o[CTRL_ATTR_OP_MAX + 1];
			uint32_t id;

			if (!attrs(payload(b), b->nla_len - NLA_HDRLEN, o,
				   CTRL_ATTR_OP_MAX))
				continue;
			id = GET_U32(o[CTRL_ATTR_OP_ID], &bad);
			if (id > MPDEV_CMD_MAX)
				continue;
			f->op_seen[id] = true;
			f->op_flags[id] = GET_U32(o[CTRL_ATTR_OP_FLAGS], &bad);
		}
	}
	if (bad)
		ret = -EPROTO;
out:
	reply_free(&r);
	return ret;
}

/* ---- decoded replies ----------------------------------------------------- */

/* The u64 counters of a stats nest, in the order of enum S_*. */
static const uint16_t stat_attr[] = {
	MPDEV_A_STATS_READS, MPDEV_A_STATS_WRITES,
	MPDEV_A_STATS_QUEUE_FULL_WAITS, MPDEV_A_STATS_TIMEOUTS,
	MPDEV_A_STATS_MALFORMED, MPDEV_A_STATS_FAILED_ACCESSES,
	MPDEV_A_STATS_STALE, MPDEV_A_STATS_INTERRUPTED,
	MPDEV_A_STATS_BUS_LOST,
};
#define NR_STATS	(int)(sizeof(stat_attr) / sizeof(stat_attr[0]))
enum { S_READS, S_WRITES, S_QFULL, S_TIMEOUTS, S_MALFORMED, S_FAILED,
       S_STALE, S_INTR, S_BUS_LOST };
/*
 * Counters the header calls "context only": a region's nest may leave
 * them out (or send 0, which the tests check where it matters).
 */
#define CTX_ONLY_STAT(i)	((i) == S_STALE || (i) == S_BUS_LOST)

struct t_stats {
	bool present;
	bool has_hist;		/* a READ_LATENCY nest came with it */
	uint64_t c[NR_STATS];
	uint64_t lat[MPDEV_GENL_LAT_BUCKETS];
	uint64_t lat_sum;
	int lowest, highest;	/* non-empty buckets, -1 if none */
};

struct t_region {
	uint32_t id, space, flags;
	uint64_t base, size, cookie;
	struct t_stats st;
	int times;		/* how often it came back */
};

struct t_ctx {
	uint32_t id, owner, state, reason, nr_regions;
	uint32_t ring_entries, nr_slots;
	uint8_t vm, backend;
	bool has_vm_name;
	char vm_name[64];
	uint64_t deadline, spin, intr, footprint;
	struct t_stats st;
	unsigned int nreg;
	struct t_region reg[MAX_REGIONS];
	int msgs;		/* messages it came in */
	bool ordered;		/* regions came in ascending id order */
	uint32_t last_id;
	bool inconsistent;	/* its attributes changed between messages */
};

struct t_dump {
	unsigned int n;
	struct t_ctx ctx[MAX_CTXS];
	int msgs;
	bool bad;		/* malformed or unexpected content */
};

/*
 * A stats nest: every counter, and the read latency histogram that only
 * the context's nest has (@region: a region's, which must not have one).
 */
static void parse_stats(const struct nlattr *nest, struct t_stats *st,
			bool region, bool *bad)
{
	const struct nlattr *tb[MPDEV_A_STATS_MAX + 1], *b;
	size_t left;
	int i;

	memset(st, 0, sizeof(*st));
	st->lowest = st->highest = -1;
	if (!nest)
		return;
	st->present = true;
	if (!(nest->nla_type & NLA_F_NESTED) ||
	    !attrs(payload(nest), nest->nla_len - NLA_HDRLEN, tb,
		   MPDEV_A_STATS_MAX)) {
		*bad = true;
		return;
	}
	for (i = 0; i < NR_STATS; i++)
		if (!region || !CTX_ONLY_STAT(i) || tb[stat_attr[i]])
			st->c[i] = GET_U64(tb[stat_attr[i]], bad);
	st->has_hist = !!tb[MPDEV_A_STATS_READ_LATENCY];
	if (st->has_hist == region) {
		*bad = true;
		return;
	}
	if (region)
		return;
	for_each_nested(b, tb[MPDEV_A_STATS_READ_LATENCY], left) {
		const struct nlattr *bt[MPDEV_A_BUCKET_MAX + 1];
		uint32_t log2;
		uint64_t n;

		if ((b->nla_type & NLA_TYPE_MASK) != MPDEV_A_HIST_BUCKET ||
		    !attrs(payload(b), b->nla_len - NLA_HDRLEN, bt,
			   MPDEV_A_BUCKET_MAX)) {
			*bad = true;
			continue;
		}
		log2 = GET_U32(bt[MPDEV_A_BUCKET_LOG2], bad);
		n = GET_U64(bt[MPDEV_A_BUCKET_COUNT], bad);
		/* Only non-empty buckets, each once. */
		if (log2 >= MPDEV_GENL_LAT_BUCKETS || !n || st->lat[log2]) {
			*bad = true;
			continue;
		}
		st->lat[log2] = n;
		st->lat_sum += n;
		if (st->lowest < 0 || (int)log2 < st->lowest)
			st->lowest = log2;
		if ((int)log2 > st->highest)
			st->highest = log2;
	}
}

/* Returns the region as recorded in @c, or NULL if malformed. */
static struct t_region *parse_region(const struct nlattr *nest,
				     struct t_ctx *c, bool *bad)
{
	const struct nlattr *tb[MPDEV_A_REGION_MAX + 1];
	struct t_region tmp, *r = NULL;
	unsigned int i;

	memset(&tmp, 0, sizeof(tmp));
	if (!(nest->nla_type & NLA_F_NESTED) ||
	    !attrs(payload(nest), nest->nla_len - NLA_HDRLEN, tb,
		   MPDEV_A_REGION_MAX)) {
		*bad = true;
		return NULL;
	}
	tmp.id = GET_U32(tb[MPDEV_A_REGION_ID], bad);
	tmp.space = GET_U32(tb[MPDEV_A_REGION_SPACE], bad);
	tmp.base = GET_U64(tb[MPDEV_A_REGION_BASE], bad);
	tmp.size = GET_U64(tb[MPDEV_A_REGION_SIZE], bad);
	tmp.flags = GET_U32(tb[MPDEV_A_REGION_FLAGS], bad);
	tmp.cookie = GET_U64(tb[MPDEV_A_REGION_COOKIE], bad);
	parse_stats(tb[MPDEV_A_REGION_STATS], &tmp.st, true, bad);
	if (c->nreg && tmp.id <= c->last_id)
		c->ordered = false;
	c->last_id = tmp.id;
	for (i = 0; i < c->nreg; i++)
		if (c->reg[i].id == tmp.id)
			r = &c->reg[i];
	if (r) {
		r->times++;
		return r;
	}
	if (c->nreg == MAX_REGIONS) {
		*bad = true;
		return NULL;
	}
	tmp.times = 1;
	c->reg[c->nreg] = tmp;
	return &c->reg[c->nreg++];
}

/* Decodes one context (or part of one) into @d, merging by id. */
static void parse_ctx_msg(const struct nlmsghdr *nh, struct t_dump *d,
			  uint8_t want_cmd)
{
	const struct genlmsghdr *g = NLMSG_DATA(nh);
	const struct nlattr *tb[MPDEV_A_MAX + 1];
	const uint8_t *p = (const uint8_t *)g + GENL_HDRLEN;
	size_t len = nh->nlmsg_len - NLMSG_HDRLEN - GENL_HDRLEN;
	struct t_ctx tmp, *c = NULL;
	unsigned int i;
	bool bad = false;

	d->msgs++;
	if (g->cmd != want_cmd || !attrs(p, len, tb, MPDEV_A_MAX)) {
		d->bad = true;
		return;
	}
	memset(&tmp, 0, sizeof(tmp));
	tmp.id = GET_U32(tb[MPDEV_A_CTX_ID], &bad);
	tmp.owner = GET_U32(tb[MPDEV_A_OWNER_PID], &bad);
	tmp.vm = GET_U8(tb[MPDEV_A_VM_ATTACHED], &bad);
	tmp.backend = GET_U8(tb[MPDEV_A_BACKEND_ATTACHED], &bad);
	tmp.state = GET_U32(tb[MPDEV_A_STATE], &bad);
	tmp.reason = GET_U32(tb[MPDEV_A_FAIL_REASON], &bad);
	tmp.deadline = GET_U64(tb[MPDEV_A_DEADLINE_NS], &bad);
	tmp.spin = GET_U64(tb[MPDEV_A_SPIN_NS], &bad);
	tmp.intr = GET_U64(tb[MPDEV_A_INTR_NS], &bad);
	tmp.nr_regions = GET_U32(tb[MPDEV_A_NR_REGIONS], &bad);
	tmp.ring_entries = GET_U32(tb[MPDEV_A_RING_ENTRIES], &bad);
	tmp.nr_slots = GET_U32(tb[MPDEV_A_NR_SLOTS], &bad);
	tmp.footprint = GET_U64(tb[MPDEV_A_FOOTPRINT], &bad);
	if (tb[MPDEV_A_VM_NAME]) {
		tmp.has_vm_name = true;
		snprintf(tmp.vm_name, sizeof(tmp.vm_name), "%.*s",
			 (int)(tb[MPDEV_A_VM_NAME]->nla_len - NLA_HDRLEN),
			 (const char *)payload(tb[MPDEV_A_VM_NAME]));
	}
	parse_stats(tb[MPDEV_A_STATS], &tmp.st, false, &bad);
	/* Stats only where asked for. */
	if (tmp.st.present != (want_cmd == MPDEV_CMD_STATS_GET))
		bad = true;
	/* Events' attribute never in a context message. */
	if (tb[MPDEV_A_EVENT])
		bad = true;

	for (i = 0; i < d->n; i++)
		if (d->ctx[i].id == tmp.id)
			c = &d->ctx[i];
	if (!c) {
		if (d->n == MAX_CTXS) {
			d->bad = true;
			return;
		}
		c = &d->ctx[d->n++];
		*c = tmp;
		c->ordered = true;
	} else if (c->owner != tmp.owner || c->nr_regions != tmp.nr_regions ||
		   c->vm != tmp.vm || c->state != tmp.state) {
		c->inconsistent = true;
	}
	c->msgs++;

	/* Regions: every MPDEV_A_REGION at the top level. */
	while (len >= NLA_HDRLEN) {
		const struct nlattr *a = (const void *)p;

		if (a->nla_len < NLA_HDRLEN || a->nla_len > len)
			break;
		if ((a->nla_type & NLA_TYPE_MASK) == MPDEV_A_REGION) {
			struct t_region *r = parse_region(a, c, &bad);

			if (r && r->st.present !=
			    (want_cmd == MPDEV_CMD_STATS_GET))
				bad = true;
		}
		if (ASTEP(a) >= len)
			break;
		len -= ASTEP(a);
		p += ASTEP(a);
	}
	if (bad)
		d->bad = true;
}

static const struct t_ctx *find_ctx(const struct t_dump *d, uint32_t id)
{
	unsigned int i;

	for (i = 0; i < d->n; i++)
		if (d->ctx[i].id == id)
			return &d->ctx[i];
	return NULL;
}

static const struct t_region *find_region(const struct t_ctx *c, uint32_t id)
{
	unsigned int i;

	for (i = 0; c && i < c->nreg; i++)
		if (c->reg[i].id == id)
			return &c->reg[i];
	return NULL;
}

/*
 * A GET (@cmd) for context @id, or a dump of all (@id 0) or filtered
 * (@filter): decoded into @d.  Returns the request's error (0 on success).
 */
static int get(struct nlsock *s, const struct fam *f, uint8_t cmd,
	       bool dump, uint32_t id, struct t_dump *d, size_t bufsize)
{
	struct reply r;
	struct msg m;
	int ret, i;

	memset(d, 0, sizeof(*d));
	msg_init(&m, f->id, dump ? NLM_F_DUMP : NLM_F_ACK, cmd);
	if (id)
		msg_put_u32(&m, MPDEV_A_CTX_ID, id);
	ret = nls_xact_buf(s, &m, &r, bufsize);
	if (!ret)
		ret = r.err;
	/* A do ends with an ack, a dump with DONE; never anything else. */
	if (!ret && (dump ? !r.done : !r.acked))
		ret = -EPROTO;
	if (!ret && r.foreign)
		ret = -EPROTO;
	for (i = 0; !ret && i < r.nmsgs; i++) {
		const struct nlmsghdr *nh = (void *)r.data[i];

		if (nh->nlmsg_type != f->id ||
		    !!(nh->nlmsg_flags & NLM_F_MULTI) != dump)
			d->bad = true;
		parse_ctx_msg(nh, d, cmd);
	}
	reply_free(&r);
	return ret;
}

static int stats_reset(struct nlsock *s, const struct fam *f, uint32_t id)
{
	struct reply r;
	struct msg m;
	int ret;

	msg_init(&m, f->id, NLM_F_ACK, MPDEV_CMD_STATS_RESET);
	if (id)
		msg_put_u32(&m, MPDEV_A_CTX_ID, id);
	ret = nls_xact(s, &m, &r);
	if (!ret)
		ret = r.err;
	if (!ret && (r.nmsgs || !r.acked))
		ret = -EPROTO;
	reply_free(&r);
	return ret;
}

/* The highest context id in the caller's namespace (0 if none). */
static uint32_t max_ctx_id(struct nlsock *s, const struct fam *f)
{
	struct t_dump *d = calloc(1, sizeof(*d));
	uint32_t max = 0;
	unsigned int i;

	if (d && !get(s, f, MPDEV_CMD_CTX_GET, true, 0, d, RX_BUF))
		for (i = 0; i < d->n; i++)
			if (d->ctx[i].id > max)
				max = d->ctx[i].id;
	free(d);
	return max;
}

/* ---- events -------------------------------------------------------------- */

struct t_event {
	uint32_t type, ctx, owner, reason;
};

static int join_events(struct nlsock *s, const struct fam *f)
{
	uint32_t grp = f->events_grp;

	if (setsockopt(s->fd, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &grp,
		       sizeof(grp)))
		return -errno;
	return 0;
}

/* The next event within @ms: 1, 0 on timeout, -EPROTO if malformed. */
static int next_event(struct nlsock *s, const struct fam *f, int ms,
		      struct t_event *ev)
{
	const struct nlattr *tb[MPDEV_A_MAX + 1];
	const struct nlmsghdr *nh;
	const struct genlmsghdr *g;
	bool bad = false;

	if (!s->evbuf)
		s->evbuf = malloc(RX_BUF);
	if (!s->evbuf)
		return -ENOMEM;
	if (s->pos >= s->have) {
		ssize_t n = nls_recv(s, s->evbuf, RX_BUF, ms);

		if (n <= 0)
			return n;
		s->have = n;
		s->pos = 0;
	}
	nh = (const void *)(s->evbuf + s->pos);
	if (!NLMSG_OK(nh, s->have - s->pos)) {
		s->have = s->pos = 0;
		return -EPROTO;
	}
	s->pos += NLMSG_ALIGN(nh->nlmsg_len);
	g = NLMSG_DATA(nh);
	if (nh->nlmsg_type != f->id || g->cmd != MPDEV_CMD_EVENT ||
	    nh->nlmsg_seq != 0 ||
	    !attrs((const uint8_t *)g + GENL_HDRLEN,
		   nh->nlmsg_len - NLMSG_HDRLEN - GENL_HDRLEN, tb, MPDEV_A_MAX))
		return -EPROTO;
	memset(ev, 0, sizeof(*ev));
	ev->type = GET_U32(tb[MPDEV_A_EVENT], &bad);
	ev->ctx = GET_U32(tb[MPDEV_A_CTX_ID], &bad);
	ev->owner = GET_U32(tb[MPDEV_A_OWNER_PID], &bad);
	if (tb[MPDEV_A_FAIL_REASON])
		ev->reason = GET_U32(tb[MPDEV_A_FAIL_REASON], &bad);
	return bad ? -EPROTO : 1;
}

#define EXPECT_EVENT(s, f, t, id, why) do {				\
	struct t_event __ev;						\
	int __r = next_event(s, f, 5000, &__ev);			\
									\
	ASSERT_EQ(1, __r) TH_LOG("no event %d for ctx %u", t, id);	\
	EXPECT_EQ(t, __ev.type);					\
	EXPECT_EQ(id, __ev.ctx);					\
	EXPECT_EQ((uint32_t)getpid(), __ev.owner);			\
	EXPECT_EQ(why, __ev.reason);					\
} while (0)

/* ---- the fixture --------------------------------------------------------- */

FIXTURE(nl) {
	struct nlsock s;
	struct fam f;
	struct kvm_guest *kg;
	int ctl[4];
	int backend;
	struct tr tr;
	bool tr_on;
	struct t_dump *d, *d2;
};

FIXTURE_SETUP(nl)
{
	const char *why;
	int i;

	self->s.fd = -1;
	self->backend = -1;
	for (i = 0; i < 4; i++)
		self->ctl[i] = -1;
	if (access("/dev/mpdev", F_OK))
		SKIP(return, "mpdev.ko is not loaded");
	if (!kg_kvm_usable(&why))
		SKIP(return, "no usable KVM: %s", why);
	self->d = calloc(1, sizeof(*self->d));
	self->d2 = calloc(1, sizeof(*self->d2));
	ASSERT_NE(NULL, self->d);
	ASSERT_NE(NULL, self->d2);
	ASSERT_EQ(0, nls_open(&self->s));
	ASSERT_EQ(0, resolve(&self->s, &self->f));
}

FIXTURE_TEARDOWN(nl)
{
	int i;

	if (self->tr_on)
		tr_stop(&self->tr, true);
	else if (self->backend >= 0)
		close(self->backend);
	for (i = 0; i < 4; i++)
		if (self->ctl[i] >= 0)
			close(self->ctl[i]);
	if (self->kg)
		kg_destroy(self->kg);
	nls_close(&self->s);
	free(self->d);
	free(self->d2);
}

/* Opens /dev/mpdev as ctl[@k] and returns the new context's id. */
static uint32_t open_ctx(FIXTURE_DATA(nl) *self, int k)
{
	uint32_t before = max_ctx_id(&self->s, &self->f);
	uint32_t after;

	self->ctl[k] = mpdev_open();
	if (self->ctl[k] < 0)
		return 0;
	after = max_ctx_id(&self->s, &self->f);
	return after > before ? after : 0;
}

static struct kg_cmd cmd(int op, int space, uint64_t addr, unsigned int size,
			 uint64_t count)
{
	struct kg_cmd c = {
		.op = op, .space = space, .addr = addr, .size = size,
		.count = count, .value = 0x1234, .stride = 1,
	};

	return c;
}

static int run(FIXTURE_DATA(nl) *self, int op, int space, uint64_t addr,
	       unsigned int size, uint64_t count)
{
	struct kg_cmd c = cmd(op, space, addr, size, count);
	struct kg_result res;
	int ret = kg_run(self->kg, 0, &c, &res);

	if (!ret && (res.done != count || res.exits))
		ret = -EIO;
	return ret;
}

/* Child-side checks report the number of the first one that failed. */
#define CHILD_CHECK(n, cond) do { if (!(cond)) _exit(n); } while (0)

static int child_status(pid_t pid)
{
	int status;

	if (waitpid(pid, &status, 0) != pid)
		return -1;
	if (!WIFEXITED(status))
		return 1000 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
	return WEXITSTATUS(status);
}

/* ---- tests --------------------------------------------------------------- */

/* The family, its version, its group and its operations, as documented. */
TEST_F(nl, family_is_registered)
{
	uint32_t get_flags = GENL_ADMIN_PERM | GENL_CMD_CAP_DO |
			     GENL_CMD_CAP_DUMP | GENL_CMD_CAP_HASPOL;

	EXPECT_LE(GENL_MIN_ID, self->f.id);
	EXPECT_EQ(MPDEV_GENL_VERSION, self->f.version);
	EXPECT_NE(0, self->f.events_grp);
	EXPECT_TRUE(self->f.op_seen[MPDEV_CMD_CTX_GET]);
	EXPECT_TRUE(self->f.op_seen[MPDEV_CMD_STATS_GET]);
	EXPECT_TRUE(self->f.op_seen[MPDEV_CMD_STATS_RESET]);
	EXPECT_FALSE(self->f.op_seen[MPDEV_CMD_EVENT]);
	EXPECT_EQ(get_flags, self->f.op_flags[MPDEV_CMD_CTX_GET]);
	EXPECT_EQ(get_flags, self->f.op_flags[MPDEV_CMD_STATS_GET]);
	EXPECT_EQ(GENL_ADMIN_PERM | GENL_CMD_CAP_DO | GENL_CMD_CAP_HASPOL,
		  self->f.op_flags[MPDEV_CMD_STATS_RESET]);
}

/* What a dump and a get return is exactly what the test set up. */
TEST_F(nl, dump_matches_setup)
{
	const struct t_ctx *c1, *c2;
	const struct t_region *r;
	struct mpdev_info info[2];
	uint32_t id1, id2;
	char vm_name[64];

	self->kg = kg_create(1);
	ASSERT_NE(NULL, self->kg);
	id1 = open_ctx(self, 0);
	ASSERT_NE(0, id1);
	ASSERT_EQ(0, mpdev_attach(self->ctl[0], kg_vm_fd(self->kg)));
	ASSERT_EQ(0, mpdev_set_params(self->ctl[0], 300000000ULL, 1234,
				      4000000ULL));
	self->backend = mpdev_backend_ring(self->ctl[0],
					   MPDEV_BACKEND_CLOEXEC, 64, NULL);
	ASSERT_LE(0, self->backend);
	ASSERT_EQ(0, mpdev_add_cookie(self->ctl[0], 3, MPDEV_SPACE_MMIO,
				      MMIO_BASE, 0x1000, 0,
				      0x8000000000000003ULL));
	ASSERT_EQ(0, mpdev_add(self->ctl[0], 1, MPDEV_SPACE_MMIO,
			       MMIO_BASE + 0x2000, 0x100,
			       MPDEV_REGION_NONPOSTED));
	ASSERT_EQ(0, mpdev_add_cookie(self->ctl[0], 7, MPDEV_SPACE_PIO,
				      PIO_BASE, 0x20, 0, 7));
	id2 = open_ctx(self, 1);
	ASSERT_LT(id1, id2);

	ASSERT_EQ(0, get(&self->s, &self->f, MPDEV_CMD_CTX_GET, true, 0,
			 self->d, RX_BUF));
	ASSERT_EQ(0, mpdev_info(self->ctl[0], &info[0]));
	ASSERT_EQ(0, mpdev_info(self->ctl[1], &info[1]));
	EXPECT_FALSE(self->d->bad);
	c1 = find_ctx(self->d, id1);
	c2 = find_ctx(self->d, id2);
	ASSERT_NE(NULL, c1);
	ASSERT_NE(NULL, c2);

	snprintf(vm_name, sizeof(vm_name), "kvm-%d", getpid());
	EXPECT_EQ((uint32_t)getpid(), c1->owner);
	EXPECT_EQ(1, c1->vm);
	EXPECT_TRUE(c1->has_vm_name);
	EXPECT_STREQ(vm_name, c1->vm_name);
	EXPECT_EQ(1, c1->backend);
	EXPECT_EQ(MPDEV_STATE_OK, c1->state);
	EXPECT_EQ(MPDEV_FAIL_NONE, c1->reason);
	EXPECT_EQ(300000000ULL, c1->deadline);
	EXPECT_EQ(1234ULL, c1->spin);
	EXPECT_EQ(4000000ULL, c1->intr);
	EXPECT_EQ(64, c1->ring_entries);
	EXPECT_EQ(0, c1->nr_slots);
	EXPECT_LT(0, c1->footprint);
	EXPECT_EQ(info[0].footprint_bytes, c1->footprint);
	EXPECT_EQ(3, c1->nr_regions);
	EXPECT_EQ(3, c1->nreg);
	EXPECT_TRUE(c1->ordered);
	EXPECT_EQ(1, c1->reg[0].id);
	r = find_region(c1, 3);
	ASSERT_NE(NULL, r);
	EXPECT_EQ(MPDEV_SPACE_MMIO, r->space);
	EXPECT_EQ(MMIO_BASE, r->base);
	EXPECT_EQ(0x1000, r->size);
	EXPECT_EQ(0, r->flags);
	EXPECT_EQ(0x8000000000000003ULL, r->cookie);
	EXPECT_EQ(1, r->times);
	r = find_region(c1, 1);
	ASSERT_NE(NULL, r);
	EXPECT_EQ(MPDEV_SPACE_MMIO, r->space);
	EXPECT_EQ(MMIO_BASE + 0x2000, r->base);
	EXPECT_EQ(0x100, r->size);
	EXPECT_EQ(MPDEV_REGION_NONPOSTED, r->flags);
	EXPECT_EQ(0, r->cookie);
	r = find_region(c1, 7);
	ASSERT_NE(NULL, r);
	EXPECT_EQ(MPDEV_SPACE_PIO, r->space);
	EXPECT_EQ(PIO_BASE, r->base);
	EXPECT_EQ(0x20, r->size);
	EXPECT_EQ(7, r->cookie);

	EXPECT_EQ((uint32_t)getpid(), c2->owner);
	EXPECT_EQ(0, c2->vm);
	EXPECT_FALSE(c2->has_vm_name);
	EXPECT_EQ(0, c2->backend);
	EXPECT_EQ(MPDEV_STATE_OK, c2->state);
	EXPECT_EQ(2000000000ULL, c2->deadline);
	EXPECT_EQ(50000ULL, c2->spin);
	EXPECT_EQ(10000000ULL, c2->intr);
	EXPECT_EQ(0, c2->ring_entries);
	EXPECT_EQ(0, c2->nr_slots);
	EXPECT_EQ(info[1].footprint_bytes, c2->footprint);
	EXPECT_EQ(0, c2->nr_regions);
	EXPECT_EQ(0, c2->nreg);

	/* A get of one context says the same as the dump. */
	ASSERT_EQ(0, get(&self->s, &self->f, MPDEV_CMD_CTX_GET, false, id1,
			 self->d2, RX_BUF));
	EXPECT_FALSE(self->d2->bad);
	ASSERT_EQ(1, self->d2->n);
	EXPECT_EQ(1, self->d2->msgs);
	c2 = &self->d2->ctx[0];
	EXPECT_EQ(id1, c2->id);
	EXPECT_STREQ(c1->vm_name, c2->vm_name);
	EXPECT_EQ(c1->nreg, c2->nreg);
	EXPECT_EQ(0, memcmp(c1->reg, c2->reg, sizeof(c1->reg)));

	/* A filtered dump: that context only. */
	ASSERT_EQ(0, get(&self->s, &self->f, MPDEV_CMD_CTX_GET, true, id2,
			 self->d2, RX_BUF));
	ASSERT_EQ(1, self->d2->n);
	EXPECT_EQ(id2, self->d2->ctx[0].id);

	/* The backend goes: detached, failed, and why. */
	close(self->backend);
	self->backend = -1;
	ASSERT_EQ(0, mpdev_del(self->ctl[0], 1));
	ASSERT_EQ(0, get(&self->s, &self->f, MPDEV_CMD_CTX_GET, false, id1,
			 self->d, RX_BUF));
	c1 = &self->d->ctx[0];
	EXPECT_EQ(0, c1->backend);
	EXPECT_EQ(MPDEV_STATE_FAILED, c1->state);
	EXPECT_EQ(MPDEV_FAIL_BACKEND_CLOSED, c1->reason);
	EXPECT_EQ(2, c1->nr_regions);
	EXPECT_EQ(NULL, find_region(c1, 1));

	/* Closed contexts leave the dump; a get of one is ENOENT. */
	close(self->ctl[1]);
	self->ctl[1] = -1;
	ASSERT_EQ(0, get(&self->s, &self->f, MPDEV_CMD_CTX_GET, true, 0,
			 self->d, RX_BUF));
	EXPECT_NE(NULL, find_ctx(self->d, id1));
	EXPECT_EQ(NULL, find_ctx(self->d, id2));
	EXPECT_EQ(-ENOENT, get(&self->s, &self->f, MPDEV_CMD_CTX_GET, false,
			       id2, self->d, RX_BUF));
	close(self->ctl[0]);
	self->ctl[0] = -1;
	ASSERT_EQ(0, get(&self->s, &self->f, MPDEV_CMD_CTX_GET, true, 0,
			 self->d, RX_BUF));
	EXPECT_EQ(NULL, find_ctx(self->d, id1));
}

/*
 * Contexts with many regions need several messages each when the reader's
 * buffer is small: every region still comes back exactly once, in order.
 */
TEST_F_TIMEOUT(nl, dump_resumes_across_messages, 300)
{
	struct nlsock small = { .fd = -1 };
	int backends[3] = { -1, -1, -1 };
	uint32_t ids[3];
	unsigned int k, i;
	int ret;

	self->kg = kg_create(1);
	ASSERT_NE(NULL, self->kg);
	for (k = 0; k < 3; k++) {
		ids[k] = open_ctx(self, k);
		ASSERT_NE(0, ids[k]);
		ASSERT_EQ(0, mpdev_attach(self->ctl[k], kg_vm_fd(self->kg)));
		backends[k] = mpdev_backend(self->ctl[k], MPDEV_BACKEND_CLOEXEC);
		ASSERT_LE(0, backends[k]);
		/* Ids added out of order: replies sort them. */
		for (i = 0; i < 64; i++) {
			ASSERT_EQ(0, mpdev_add_cookie(self->ctl[k],
						      100 + (i * 37) % 64,
						      MPDEV_SPACE_MMIO,
						      0xc0000000ULL +
						      k * 0x100000 +
						      i * 0x1000, 0x100 + i, 0,
						      (uint64_t)k << 32 | i))
				TH_LOG("ctx %u region %u", k, i);
		}
	}
	/*
	 * The kernel sizes dump buffers by the largest recv() the socket has
	 * seen, so a socket that only ever reads 4 KiB at a time.
	 */
	ASSERT_EQ(0, nls_open(&small));
	ret = get(&small, &self->f, MPDEV_CMD_STATS_GET, true, 0, self->d,
		  4096);
	nls_close(&small);
	ASSERT_EQ(0, ret);
	EXPECT_FALSE(self->d->bad);
	/* 3 contexts of ~10 KiB each in 4 KiB datagrams. */
	EXPECT_LT(6, self->d->msgs);
	for (k = 0; k < 3; k++) {
		const struct t_ctx *c = find_ctx(self->d, ids[k]);

		ASSERT_NE(NULL, c);
		EXPECT_LT(1, c->msgs);
		EXPECT_FALSE(c->inconsistent);
		EXPECT_TRUE(c->ordered);
		EXPECT_EQ(64, c->nr_regions);
		ASSERT_EQ(64, c->nreg);
		for (i = 0; i < 64; i++) {
			const struct t_region *r = &c->reg[i];
			unsigned int n = (r->base & 0xfffff) / 0x1000;

			EXPECT_EQ(100 + i, r->id);
			EXPECT_EQ(1, r->times);
			EXPECT_EQ(100 + (n * 37) % 64, r->id);
			EXPECT_EQ(0x100 + n, r->size);
			EXPECT_EQ(0xc0000000ULL + k * 0x100000, r->base &
				  ~0xfffffULL);
			EXPECT_EQ((uint64_t)k << 32 | n, r->cookie);
			EXPECT_TRUE(r->st.present);
			EXPECT_FALSE(r->st.has_hist);
		}
		EXPECT_TRUE(c->st.has_hist);
	}
	/* The same with a large buffer: one message per context. */
	ASSERT_EQ(0, get(&self->s, &self->f, MPDEV_CMD_CTX_GET, true, ids[1],
			 self->d, RX_BUF));
	ASSERT_EQ(1, self->d->n);
	EXPECT_EQ(1, self->d->msgs);
	EXPECT_EQ(64, self->d->ctx[0].nreg);
	/* A get builds one message with everything, stats included. */
	ASSERT_EQ(0, get(&self->s, &self->f, MPDEV_CMD_STATS_GET, false,
			 ids[2], self->d, RX_BUF));
	ASSERT_EQ(1, self->d->msgs);
	EXPECT_EQ(64, self->d->ctx[0].nreg);
	for (k = 0; k < 3; k++)
		close(backends[k]);
}

static void expect_zero_stats(struct __test_metadata *_metadata,
			      const struct t_stats *st)
{
	int i;

	ASSERT_TRUE(st->present);
	for (i = 0; i < NR_STATS; i++) {
		EXPECT_EQ(0, st->c[i]) TH_LOG("counter %d", i);
	}
	EXPECT_EQ(0, st->lat_sum);
}

/* Opens ctl[@k] on self->kg's VM with a backend (self->backend). */
static uint32_t open_ctx_backend(FIXTURE_DATA(nl) *self, int k)
{
	uint32_t id = open_ctx(self, k);

	if (!id || mpdev_attach(self->ctl[k], kg_vm_fd(self->kg)))
		return 0;
	self->backend = mpdev_backend(self->ctl[k], MPDEV_BACKEND_CLOEXEC);
	return self->backend < 0 ? 0 : id;
}

/* Per-context and per-region counters are the guest's accesses exactly. */
TEST_F_TIMEOUT(nl, counters_match_guest_accesses, 120)
{
	const struct t_ctx *c;
	const struct t_region *r0, *r1;
	struct mpdev_info info;
	uint32_t id;
	int b;

	self->kg = kg_create(1);
	ASSERT_NE(NULL, self->kg);
	id = open_ctx_backend(self, 0);
	ASSERT_NE(0, id);
	ASSERT_EQ(0, mpdev_add(self->ctl[0], 0, MPDEV_SPACE_MMIO, MMIO_BASE,
			       256, 0));
	ASSERT_EQ(0, mpdev_add(self->ctl[0], 1, MPDEV_SPACE_PIO, PIO_BASE, 16,
			       0));
	ASSERT_EQ(0, tr_start(&self->tr, self->backend, TR_BLOCKING, 1000));
	self->tr_on = true;

	ASSERT_EQ(0, get(&self->s, &self->f, MPDEV_CMD_STATS_GET, false, id,
			 self->d, RX_BUF));
	expect_zero_stats(_metadata, &self->d->ctx[0].st);

	ASSERT_EQ(0, run(self, KG_OP_READ, KG_SPACE_MMIO, MMIO_BASE, 4, 40));
	ASSERT_EQ(0, run(self, KG_OP_WRITE, KG_SPACE_MMIO, MMIO_BASE + 8, 2,
			 25));
	ASSERT_EQ(0, run(self, KG_OP_MIXED, KG_SPACE_MMIO, MMIO_BASE + 16, 8,
			 6));
	ASSERT_EQ(0, run(self, KG_OP_READ, KG_SPACE_PIO, PIO_BASE + 1, 1, 10));
	ASSERT_EQ(0, run(self, KG_OP_WRITE, KG_SPACE_PIO, PIO_BASE + 4, 4, 7));
	ASSERT_TRUE(tr_wait_requests(&self->tr, 40 + 25 + 12 + 10 + 7, 5000));

	ASSERT_EQ(0, get(&self->s, &self->f, MPDEV_CMD_STATS_GET, false, id,
			 self->d, RX_BUF));
	EXPECT_FALSE(self->d->bad);
	c = &self->d->ctx[0];
	r0 = find_region(c, 0);
	r1 = find_region(c, 1);
	ASSERT_NE(NULL, r0);
	ASSERT_NE(NULL, r1);
	EXPECT_EQ(40 + 6 + 10, c->st.c[S_READS]);
	EXPECT_EQ(25 + 6 + 7, c->st.c[S_WRITES]);
	EXPECT_EQ(40 + 6, r0->st.c[S_READS]);
	EXPECT_EQ(25 + 6, r0->st.c[S_WRITES]);
	EXPECT_EQ(10, r1->st.c[S_READS]);
	EXPECT_EQ(7, r1->st.c[S_WRITES]);
	for (b = S_QFULL; b < NR_STATS; b++) {
		EXPECT_EQ(0, c->st.c[b]) TH_LOG("counter %d", b);
		EXPECT_EQ(0, r0->st.c[b]) TH_LOG("counter %d", b);
		EXPECT_EQ(0, r1->st.c[b]) TH_LOG("counter %d", b);
	}
	/* One latency sample per read, in the context's histogram only. */
	EXPECT_EQ(c->st.c[S_READS], c->st.lat_sum);
	EXPECT_FALSE(r0->st.has_hist);
	EXPECT_FALSE(r1->st.has_hist);
	/* vCPU 0 waited for answers: one slot. */
	EXPECT_EQ(1, c->nr_slots);
	/* A round trip through a remote thread takes more than 256 ns. */
	EXPECT_LE(8, c->st.lowest);
	EXPECT_GT(31, c->st.highest);
	TH_LOG("read latency buckets 2^%d .. 2^%d ns", c->st.lowest,
	       c->st.highest);

	/* The ioctl counts the same. */
	ASSERT_EQ(0, mpdev_info(self->ctl[0], &info));
	EXPECT_EQ(c->st.c[S_READS], info.counters.reads);
	EXPECT_EQ(c->st.c[S_WRITES], info.counters.writes);
	EXPECT_EQ(info.nr_slots, c->nr_slots);
	EXPECT_EQ(info.ring_entries, c->ring_entries);

	/* A dump says the same as the get. */
	ASSERT_EQ(0, get(&self->s, &self->f, MPDEV_CMD_STATS_GET, true, id,
			 self->d2, RX_BUF));
	ASSERT_EQ(1, self->d2->n);
	EXPECT_EQ(0, memcmp(&c->st, &self->d2->ctx[0].st, sizeof(c->st)));

	/* Reset: netlink counts from zero, the ioctl from the start. */
	ASSERT_EQ(0, stats_reset(&self->s, &self->f, id));
	ASSERT_EQ(0, get(&self->s, &self->f, MPDEV_CMD_STATS_GET, false, id,
			 self->d, RX_BUF));
	c = &self->d->ctx[0];
	expect_zero_stats(_metadata, &c->st);
	expect_zero_stats(_metadata, &find_region(c, 0)->st);
	expect_zero_stats(_metadata, &find_region(c, 1)->st);
	ASSERT_EQ(0, mpdev_info(self->ctl[0], &info));
	EXPECT_EQ(56, info.counters.reads);
	EXPECT_EQ(38, info.counters.writes);

	ASSERT_EQ(0, run(self, KG_OP_READ, KG_SPACE_PIO, PIO_BASE, 2, 5));
	ASSERT_EQ(0, get(&self->s, &self->f, MPDEV_CMD_STATS_GET, false, id,
			 self->d, RX_BUF));
	c = &self->d->ctx[0];
	EXPECT_EQ(5, c->st.c[S_READS]);
	EXPECT_EQ(5, c->st.lat_sum);
	EXPECT_FALSE(find_region(c, 1)->st.has_hist);
	EXPECT_EQ(0, c->st.c[S_WRITES]);
	EXPECT_EQ(0, find_region(c, 0)->st.c[S_READS]);
	EXPECT_EQ(5, find_region(c, 1)->st.c[S_READS]);

	/* Reset of every context (no id). */
	ASSERT_EQ(0, stats_reset(&self->s, &self->f, 0));
	ASSERT_EQ(0, get(&self->s, &self->f, MPDEV_CMD_STATS_GET, false, id,
			 self->d, RX_BUF));
	expect_zero_stats(_metadata, &self->d->ctx[0].st);
	EXPECT_EQ(-ENOENT, stats_reset(&self->s, &self->f, 0x7fffffff));
}

/* Queue-full waits, timeouts and failed accesses, with their latency. */
TEST_F_TIMEOUT(nl, counters_on_failure, 120)
{
	/* Just above 2^27 ns: the read that times out lands in 27 or 28. */
	const uint64_t deadline = 140ULL * 1000 * 1000;
	const struct t_ctx *c;
	const struct t_region *r;
	struct mpdev_ring_info ri;
	struct mpdev_info info;
	uint32_t id;

	self->kg = kg_create(1);
	ASSERT_NE(NULL, self->kg);
	id = open_ctx(self, 0);
	ASSERT_NE(0, id);
	ASSERT_EQ(0, mpdev_attach(self->ctl[0], kg_vm_fd(self->kg)));
	ASSERT_EQ(0, mpdev_set_params(self->ctl[0], 5ULL * 1000 * 1000 * 1000,
				      0));
	self->backend = mpdev_backend_ring(self->ctl[0], MPDEV_BACKEND_CLOEXEC,
					   0, &ri);
	ASSERT_LE(0, self->backend);
	ASSERT_EQ(0, mpdev_add(self->ctl[0], 5, MPDEV_SPACE_MMIO, MMIO_BASE,
			       256, 0));

	/* Nobody serves: the write after a full ring waits for room. */
	{
		struct kg_cmd k = cmd(KG_OP_WRITE, KG_SPACE_MMIO, MMIO_BASE,
				      4, ri.entries + 1);
		struct kg_result res;
		pid_t pid = fork();

		ASSERT_LE(0, pid);
		if (pid == 0) {
			size_t len = (ri.entries + 1) *
				     (size_t)ri.req_entry_size;
			struct mpdev_request *q = malloc(len);
			uint64_t end = now_ns() + 4000000000ULL;

			/* Serve once the vCPU waits for room, from afar. */
			do {
				if (mpdev_info(self->ctl[0], &info))
					_exit(1);
				usleep(1000);
			} while (!info.counters.queue_full_waits &&
				 now_ns() < end);
			if (!q || read(self->backend, q, len) <= 0)
				_exit(2);
			_exit(0);
		}
		ASSERT_EQ(0, kg_run(self->kg, 0, &k, &res));
		ASSERT_EQ(0, child_status(pid));
	}
	ASSERT_EQ(0, tr_start(&self->tr, self->backend, TR_BLOCKING, 1000));
	self->tr_on = true;
	ASSERT_EQ(0, mpdev_set_params(self->ctl[0], deadline, 0));
	self->tr.b.stall = true;
	/* Times out; then three reads fail at once. */
	ASSERT_EQ(0, run(self, KG_OP_READ, KG_SPACE_MMIO, MMIO_BASE, 4, 1));
	ASSERT_EQ(0, run(self, KG_OP_READ, KG_SPACE_MMIO, MMIO_BASE, 4, 3));

	ASSERT_EQ(0, get(&self->s, &self->f, MPDEV_CMD_STATS_GET, false, id,
			 self->d, RX_BUF));
	c = &self->d->ctx[0];
	r = find_region(c, 5);
	ASSERT_NE(NULL, r);
	EXPECT_EQ(MPDEV_STATE_FAILED, c->state);
	EXPECT_EQ(MPDEV_FAIL_TIMEOUT, c->reason);
	EXPECT_EQ(ri.entries + 1, c->st.c[S_WRITES]);
	EXPECT_EQ(1, c->st.c[S_QFULL]);
	EXPECT_EQ(1, r->st.c[S_QFULL]);
	EXPECT_EQ(4, c->st.c[S_READS]);
	EXPECT_EQ(4, r->st.c[S_READS]);
	EXPECT_EQ(1, c->st.c[S_TIMEOUTS]);
	EXPECT_EQ(1, r->st.c[S_TIMEOUTS]);
	EXPECT_EQ(3, c->st.c[S_FAILED]);
	EXPECT_EQ(3, r->st.c[S_FAILED]);
	EXPECT_EQ(0, c->st.c[S_MALFORMED]);
	EXPECT_EQ(0, c->st.c[S_STALE]);
	EXPECT_EQ(0, c->st.c[S_INTR]);
	EXPECT_EQ(0, c->st.c[S_BUS_LOST]);
	/* Only the read that waited has a latency: the deadline, and more. */
	EXPECT_EQ(1, c->st.lat_sum);
	EXPECT_FALSE(r->st.has_hist);
	EXPECT_LE(27, c->st.lowest);
	EXPECT_GE(28, c->st.lowest);
	ASSERT_EQ(0, mpdev_info(self->ctl[0], &info));
	EXPECT_EQ(info.counters.queue_full_waits, c->st.c[S_QFULL]);
	EXPECT_EQ(info.counters.timeouts, c->st.c[S_TIMEOUTS]);
	EXPECT_EQ(info.counters.failed_accesses, c->st.c[S_FAILED]);
}

/* Create, backend attach, remote killed, detach, destroy: in order. */
TEST_F_TIMEOUT(nl, events_lifecycle_and_remote_kill, 60)
{
	struct nlsock ev = { .fd = -1 };
	struct t_event e;
	int status;
	uint32_t id;
	pid_t pid;

	ASSERT_EQ(0, nls_open(&ev));
	ASSERT_EQ(0, join_events(&ev, &self->f));
	self->kg = kg_create(1);
	ASSERT_NE(NULL, self->kg);

	id = open_ctx(self, 0);
	ASSERT_NE(0, id);
	EXPECT_EVENT(&ev, &self->f, MPDEV_EVENT_CTX_CREATED, id, 0);
	ASSERT_EQ(0, mpdev_attach(self->ctl[0], kg_vm_fd(self->kg)));
	self->backend = mpdev_backend(self->ctl[0], 0);
	ASSERT_LE(0, self->backend);
	EXPECT_EVENT(&ev, &self->f, MPDEV_EVENT_BACKEND_ATTACHED, id, 0);

	/* The remote is a process holding the only backend fd: kill it. */
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		char q[4096];

		/* Blocks: nothing is ever queued. */
		ssize_t n = read(self->backend, q, sizeof(q));

		_exit(n < 0 ? 1 : 2);
	}
	close(self->backend);
	self->backend = -1;
	usleep(100 * 1000);
	EXPECT_EQ(0, nls_count_more(&ev, 0));
	kill(pid, SIGKILL);
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFSIGNALED(status));
	EXPECT_EVENT(&ev, &self->f, MPDEV_EVENT_REMOTE_GONE, id,
		     MPDEV_FAIL_BACKEND_CLOSED);
	EXPECT_EVENT(&ev, &self->f, MPDEV_EVENT_BACKEND_DETACHED, id, 0);

	close(self->ctl[0]);
	self->ctl[0] = -1;
	EXPECT_EVENT(&ev, &self->f, MPDEV_EVENT_CTX_DESTROYED, id, 0);
	/* Nothing more. */
	EXPECT_EQ(0, next_event(&ev, &self->f, 300, &e));
	nls_close(&ev);
}

/* A request past its deadline; a remote that breaks the protocol. */
TEST_F_TIMEOUT(nl, events_deadline_and_malformed, 60)
{
	struct nlsock ev = { .fd = -1 };
	struct t_event e;
	uint32_t id;
	int k;

	ASSERT_EQ(0, nls_open(&ev));
	ASSERT_EQ(0, join_events(&ev, &self->f));
	self->kg = kg_create(1);
	ASSERT_NE(NULL, self->kg);

	for (k = 0; k < 2; k++) {
		id = open_ctx(self, k);
		ASSERT_NE(0, id);
		ASSERT_EQ(0, mpdev_attach(self->ctl[k], kg_vm_fd(self->kg)));
		ASSERT_EQ(0, mpdev_set_params(self->ctl[k], 50000000ULL, 0));
		self->backend = mpdev_backend(self->ctl[k], 0);
		ASSERT_LE(0, self->backend);
		ASSERT_EQ(0, mpdev_add(self->ctl[k], 0, MPDEV_SPACE_MMIO,
				       MMIO_BASE, 64, 0));
		ASSERT_EQ(0, tr_start(&self->tr, self->backend, TR_BLOCKING,
				      100));
		self->tr_on = true;
		EXPECT_EVENT(&ev, &self->f, MPDEV_EVENT_CTX_CREATED, id, 0);
		EXPECT_EVENT(&ev, &self->f, MPDEV_EVENT_BACKEND_ATTACHED, id,
			     0);
		if (k == 0)
			self->tr.b.stall = true;
		else
			self->tr.b.bad = TR_BAD_ID;
		ASSERT_EQ(0, run(self, KG_OP_READ, KG_SPACE_MMIO, MMIO_BASE,
				 4, 1));
		if (k == 0)
			EXPECT_EVENT(&ev, &self->f, MPDEV_EVENT_DEADLINE, id,
				     MPDEV_FAIL_TIMEOUT);
		else
			EXPECT_EVENT(&ev, &self->f, MPDEV_EVENT_MALFORMED, id,
				     MPDEV_FAIL_MALFORMED);
		/* The remote closes after the failure: no "remote gone". */
		tr_stop(&self->tr, true);
		self->tr_on = false;
		self->backend = -1;
		EXPECT_EVENT(&ev, &self->f, MPDEV_EVENT_BACKEND_DETACHED, id,
			     0);
		ASSERT_EQ(0, get(&self->s, &self->f, MPDEV_CMD_STATS_GET,
				 false, id, self->d, RX_BUF));
		EXPECT_EQ(k ? 1 : 0, self->d->ctx[0].st.c[S_MALFORMED]);
		/* Malformed completions count on the context only. */
		EXPECT_EQ(0, self->d->ctx[0].reg[0].st.c[S_MALFORMED]);
		EXPECT_EQ(k ? 0 : 1, self->d->ctx[0].st.c[S_TIMEOUTS]);
		close(self->ctl[k]);
		self->ctl[k] = -1;
		EXPECT_EVENT(&ev, &self->f, MPDEV_EVENT_CTX_DESTROYED, id, 0);
	}
	EXPECT_EQ(0, next_event(&ev, &self->f, 300, &e));
	nls_close(&ev);
}

/*
 * MPDEV_A_OWNER_PID is the owner's pid in the requester's pid namespace
 * (0 if the owner is not visible there); an event carries it as the
 * opener sees it.  A child in a new pid namespace (pid 1 there) opens a
 * context: we see its pid, it sees 1 for its own and 0 for ours.
 */
TEST_F_TIMEOUT(nl, owner_pid_in_requesters_pidns, 60)
{
	struct nlsock ev = { .fd = -1 };
	int to_child[2], to_parent[2];
	uint32_t mine, theirs = 0;
	struct t_event e;
	pid_t mid, inner = 0;
	char x = 'g';

	ASSERT_EQ(0, nls_open(&ev));
	ASSERT_EQ(0, join_events(&ev, &self->f));
	mine = open_ctx(self, 0);
	ASSERT_NE(0, mine);
	EXPECT_EVENT(&ev, &self->f, MPDEV_EVENT_CTX_CREATED, mine, 0);
	ASSERT_EQ(0, pipe(to_child));
	ASSERT_EQ(0, pipe(to_parent));
	mid = fork();
	ASSERT_LE(0, mid);
	if (mid == 0) {
		pid_t pid;

		close(self->ctl[0]);
		CHILD_CHECK(2, !unshare(CLONE_NEWPID));
		pid = fork();
		CHILD_CHECK(3, pid >= 0);
		if (pid == 0) {
			struct nlsock s = { .fd = -1 };
			struct t_dump *d = calloc(1, sizeof(*d));
			struct fam f;
			uint32_t id;
			int ctl;

			close(to_child[1]);
			close(to_parent[0]);
			CHILD_CHECK(4, d && getpid() == 1);
			CHILD_CHECK(5, !nls_open(&s) && !resolve(&s, &f));
			/* Ours: its owner is not visible here. */
			CHILD_CHECK(6, !get(&s, &f, MPDEV_CMD_CTX_GET, false,
					    mine, d, RX_BUF) && d->n == 1 &&
				    d->ctx[0].owner == 0);
			id = max_ctx_id(&s, &f);
			ctl = mpdev_open();
			CHILD_CHECK(7, ctl >= 0);
			CHILD_CHECK(8, max_ctx_id(&s, &f) > id);
			id = max_ctx_id(&s, &f);
			/* Its own, as it sees itself. */
			CHILD_CHECK(9, !get(&s, &f, MPDEV_CMD_CTX_GET, false,
					    id, d, RX_BUF) && d->n == 1 &&
				    d->ctx[0].owner == 1);
			CHILD_CHECK(10, write(to_parent[1], &id, sizeof(id)) ==
				    sizeof(id));
			CHILD_CHECK(11, read(to_child[0], &x, 1) == 1);
			close(ctl);
			_exit(0);
		}
		/* Its pid as the test sees it, then its status. */
		CHILD_CHECK(12, write(to_parent[1], &pid, sizeof(pid)) ==
			    sizeof(pid));
		_exit(child_status(pid));
	}
	close(to_child[0]);
	close(to_parent[1]);
	if (read(to_parent[0], &inner, sizeof(inner)) != sizeof(inner) ||
	    read(to_parent[0], &theirs, sizeof(theirs)) != sizeof(theirs)) {
		EXPECT_EQ(0, child_status(mid));
		ASSERT_TRUE(false) TH_LOG("the child gave up early");
	}
	ASSERT_EQ(0, get(&self->s, &self->f, MPDEV_CMD_CTX_GET, false,
			 theirs, self->d, RX_BUF));
	EXPECT_EQ((uint32_t)inner, self->d->ctx[0].owner);
	ASSERT_EQ(0, get(&self->s, &self->f, MPDEV_CMD_CTX_GET, false,
			 mine, self->d, RX_BUF));
	EXPECT_EQ((uint32_t)getpid(), self->d->ctx[0].owner);
	/* The event says what the opener saw: pid 1. */
	ASSERT_EQ(1, next_event(&ev, &self->f, 5000, &e));
	EXPECT_EQ(MPDEV_EVENT_CTX_CREATED, e.type);
	EXPECT_EQ(theirs, e.ctx);
	EXPECT_EQ(1, e.owner);
	ASSERT_EQ(1, write(to_child[1], &x, 1));
	EXPECT_EQ(0, child_status(mid));
	ASSERT_EQ(1, next_event(&ev, &self->f, 5000, &e));
	EXPECT_EQ(MPDEV_EVENT_CTX_DESTROYED, e.type);
	EXPECT_EQ(theirs, e.ctx);
	EXPECT_EQ(1, e.owner);
	nls_close(&ev);
}

/* Only the contexts and events of the caller's network namespace. */
TEST_F_TIMEOUT(nl, netns_isolation, 60)
{
	struct nlsock ev = { .fd = -1 };
	int to_child[2], to_parent[2];
	uint32_t mine, theirs = 0;
	char x;
	pid_t pid;

	ASSERT_EQ(0, nls_open(&ev));
	ASSERT_EQ(0, join_events(&ev, &self->f));
	ASSERT_EQ(0, pipe(to_child));
	ASSERT_EQ(0, pipe(to_parent));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		struct nlsock s = { .fd = -1 }, cev = { .fd = -1 };
		struct t_dump *d = calloc(1, sizeof(*d));
		struct t_event e;
		struct fam f;
		uint32_t id;
		int ctl;

		close(to_child[1]);
		close(to_parent[0]);
		CHILD_CHECK(2, d && !unshare(CLONE_NEWNET));
		CHILD_CHECK(3, !nls_open(&s) && !resolve(&s, &f));
		CHILD_CHECK(4, !nls_open(&cev) && !join_events(&cev, &f));
		/* Empty: the parent's contexts live in another netns. */
		CHILD_CHECK(5, !get(&s, &f, MPDEV_CMD_CTX_GET, true, 0, d,
				    RX_BUF) && d->n == 0);
		CHILD_CHECK(6, write(to_parent[1], "r", 1) == 1);
		CHILD_CHECK(7, read(to_child[0], &x, 1) == 1);
		/* The parent opened one: not seen here, nor its events. */
		CHILD_CHECK(8, !get(&s, &f, MPDEV_CMD_CTX_GET, true, 0, d,
				    RX_BUF) && d->n == 0);
		CHILD_CHECK(9, next_event(&cev, &f, 300, &e) == 0);
		ctl = mpdev_open();
		CHILD_CHECK(10, ctl >= 0);
		CHILD_CHECK(11, next_event(&cev, &f, 5000, &e) == 1 &&
			    e.type == MPDEV_EVENT_CTX_CREATED &&
			    e.owner == (uint32_t)getpid());
		id = e.ctx;
		CHILD_CHECK(12, !get(&s, &f, MPDEV_CMD_CTX_GET, true, 0, d,
				     RX_BUF) && d->n == 1 &&
			    d->ctx[0].id == id);
		CHILD_CHECK(13, write(to_parent[1], &id, sizeof(id)) ==
			    sizeof(id));
		CHILD_CHECK(14, read(to_child[0], &x, 1) == 1);
		close(ctl);
		_exit(0);
	}
	/* Only the child holds these ends: its exit reads as end of file. */
	close(to_child[0]);
	close(to_parent[1]);
	if (read(to_parent[0], &x, 1) != 1) {
		EXPECT_EQ(0, child_status(pid));
		ASSERT_TRUE(false) TH_LOG("the child gave up early");
	}
	mine = open_ctx(self, 0);
	ASSERT_NE(0, mine);
	EXPECT_EVENT(&ev, &self->f, MPDEV_EVENT_CTX_CREATED, mine, 0);
	ASSERT_EQ(1, write(to_child[1], "g", 1));
	if (read(to_parent[0], &theirs, sizeof(theirs)) != sizeof(theirs)) {
		EXPECT_EQ(0, child_status(pid));
		ASSERT_TRUE(false) TH_LOG("the child gave up early");
	}
	/* Their context: not in our dump, not gettable, no event here. */
	EXPECT_LT(mine, theirs);
	ASSERT_EQ(0, get(&self->s, &self->f, MPDEV_CMD_CTX_GET, true, 0,
			 self->d, RX_BUF));
	EXPECT_NE(NULL, find_ctx(self->d, mine));
	EXPECT_EQ(NULL, find_ctx(self->d, theirs));
	EXPECT_EQ(-ENOENT, get(&self->s, &self->f, MPDEV_CMD_CTX_GET, false,
			       theirs, self->d, RX_BUF));
	EXPECT_EQ(-ENOENT, stats_reset(&self->s, &self->f, theirs));
	ASSERT_EQ(1, write(to_child[1], "q", 1));
	EXPECT_EQ(0, child_status(pid));
	EXPECT_EQ(0, nls_count_more(&ev, 300));
	nls_close(&ev);
}

/* A request from a caller without CAP_NET_ADMIN: EPERM, nothing else. */
static int unprivileged_checks(void)
{
	struct nlsock s = { .fd = -1 };
	struct reply r;
	struct msg m;
	struct fam f;
	int cmds[] = { MPDEV_CMD_CTX_GET, MPDEV_CMD_STATS_GET,
		       MPDEV_CMD_STATS_RESET };
	unsigned int i;
	uint32_t grp;

	/* The family itself is public: a tool can tell "not allowed". */
	CHILD_CHECK(20, !nls_open(&s) && !resolve(&s, &f));
	for (i = 0; i < 3; i++) {
		msg_init(&m, f.id, NLM_F_ACK, cmds[i]);
		msg_put_u32(&m, MPDEV_A_CTX_ID, 1);
		CHILD_CHECK(21 + i, !nls_xact(&s, &m, &r) && r.acked &&
			    r.err == -EPERM && !r.nmsgs);
		reply_free(&r);
	}
	msg_init(&m, f.id, NLM_F_DUMP, MPDEV_CMD_CTX_GET);
	CHILD_CHECK(25, !nls_xact(&s, &m, &r) && r.acked &&
		    r.err == -EPERM && !r.nmsgs && !r.done);
	reply_free(&r);
	msg_init(&m, f.id, NLM_F_DUMP, MPDEV_CMD_STATS_GET);
	CHILD_CHECK(26, !nls_xact(&s, &m, &r) && r.acked &&
		    r.err == -EPERM && !r.nmsgs);
	reply_free(&r);
	CHILD_CHECK(27, nls_count_more(&s, 100) == 0);
	grp = f.events_grp;
	CHILD_CHECK(28, setsockopt(s.fd, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP,
				   &grp, sizeof(grp)) < 0 && errno == EPERM);
	return 0;
}

/* Drops CAP_NET_ADMIN from every set, staying uid 0. */
static int drop_net_admin(void)
{
	struct __user_cap_header_struct h = {
		.version = _LINUX_CAPABILITY_VERSION_3,
	};
	struct __user_cap_data_struct d[2];

	if (syscall(SYS_capget, &h, d))
		return -1;
	d[0].effective &= ~(1U << CAP_NET_ADMIN);
	d[0].permitted &= ~(1U << CAP_NET_ADMIN);
	d[0].inheritable &= ~(1U << CAP_NET_ADMIN);
	return syscall(SYS_capset, &h, d);
}

TEST_F(nl, unprivileged_caller_refused)
{
	uint32_t id;
	pid_t pid;

	/* There is something to see, and to reset. */
	id = open_ctx(self, 0);
	ASSERT_NE(0, id);

	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		/* nobody: no capabilities at all. */
		CHILD_CHECK(2, !setgroups(0, NULL) &&
			    !setresgid(65534, 65534, 65534) &&
			    !setresuid(65534, 65534, 65534));
		_exit(unprivileged_checks());
	}
	EXPECT_EQ(0, child_status(pid));

	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		/* root without CAP_NET_ADMIN. */
		CHILD_CHECK(3, !drop_net_admin());
		_exit(unprivileged_checks());
	}
	EXPECT_EQ(0, child_status(pid));

	/* Still there, still served to the privileged. */
	ASSERT_EQ(0, get(&self->s, &self->f, MPDEV_CMD_CTX_GET, false, id,
			 self->d, RX_BUF));
	EXPECT_EQ(id, self->d->ctx[0].id);
}

/*
 * Sends @m (adding NLM_F_ACK) and expects exactly one answer: an
 * NLMSG_ERROR with @err and an extack message, then silence.
 */
static void expect_rejected(struct __test_metadata *_metadata,
			    struct nlsock *s, struct msg *m, int err,
			    bool want_msg, const char *what, bool log)
{
	struct reply r;

	m->u.nlh.nlmsg_flags |= NLM_F_ACK;
	ASSERT_EQ(0, nls_xact(s, m, &r)) TH_LOG("%s", what);
	EXPECT_TRUE(r.acked) TH_LOG("%s", what);
	EXPECT_EQ(err, r.err) TH_LOG("%s: %s", what, r.ext_msg);
	EXPECT_EQ(0, r.nmsgs) TH_LOG("%s", what);
	EXPECT_FALSE(r.done) TH_LOG("%s", what);
	if (want_msg) {
		EXPECT_TRUE(r.capped_tlvs) TH_LOG("%s", what);
		EXPECT_NE(0, strlen(r.ext_msg)) TH_LOG("%s", what);
	}
	EXPECT_EQ(0, nls_count_more(s, 50)) TH_LOG("%s", what);
	if (log)
		TH_LOG("%-24s -> %d \"%s\"", what, r.err, r.ext_msg);
	reply_free(&r);
}

/* Wrong types, missing and oversized attributes: an error and nothing. */
TEST_F(nl, malformed_requests_get_extack)
{
	static const uint8_t big[4000];
	uint8_t cmds[] = { MPDEV_CMD_CTX_GET, MPDEV_CMD_STATS_GET,
			   MPDEV_CMD_STATS_RESET };
	struct reply r;
	struct msg m;
	uint64_t v64 = 1;
	uint16_t v16 = 1;
	uint32_t id, off;
	unsigned int i;
	int dump;

	id = open_ctx(self, 0);
	ASSERT_NE(0, id);

	/* A do without the context id: which attribute is missing. */
	msg_init(&m, self->f.id, 0, MPDEV_CMD_CTX_GET);
	ASSERT_EQ(0, nls_xact(&self->s, &m, &r));
	EXPECT_EQ(-EINVAL, r.err);
	EXPECT_TRUE(r.has_miss);
	EXPECT_EQ(MPDEV_A_CTX_ID, r.miss_type);
	EXPECT_NE(NULL, strstr(r.ext_msg, "missing"));
	EXPECT_EQ(0, r.nmsgs);
	reply_free(&r);
	msg_init(&m, self->f.id, 0, MPDEV_CMD_STATS_GET);
	expect_rejected(_metadata, &self->s, &m, -EINVAL, true,
			"stats get without id", true);

	for (i = 0; i < 3; i++) {
		for (dump = 0; dump < 2; dump++) {
			uint16_t fl = dump ? NLM_F_DUMP : 0;

			if (dump && cmds[i] == MPDEV_CMD_STATS_RESET)
				continue;
			/* Wrong attribute types (sizes). */
			msg_init(&m, self->f.id, fl, cmds[i]);
			off = msg_put(&m, MPDEV_A_CTX_ID, &v64, sizeof(v64));
			ASSERT_EQ(0, nls_xact(&self->s, &m, &r));
			EXPECT_EQ(-EINVAL, r.err);
			EXPECT_TRUE(r.has_offs);
			EXPECT_EQ(off, r.offs);
			EXPECT_EQ(0, r.nmsgs);
			EXPECT_FALSE(r.done);
			reply_free(&r);
			msg_init(&m, self->f.id, fl, cmds[i]);
			msg_put(&m, MPDEV_A_CTX_ID, &v16, sizeof(v16));
			expect_rejected(_metadata, &self->s, &m, -EINVAL, true,
					"u16 for a u32", i == 0 && !dump);
			msg_init(&m, self->f.id, fl, cmds[i]);
			msg_put(&m, MPDEV_A_CTX_ID, NULL, 0);
			expect_rejected(_metadata, &self->s, &m, -EINVAL, true,
					"empty u32", i == 0 && !dump);
			/* Oversized: a huge payload, values out of range. */
			msg_init(&m, self->f.id, fl, cmds[i]);
			msg_put(&m, MPDEV_A_CTX_ID, big, sizeof(big));
			expect_rejected(_metadata, &self->s, &m, -EINVAL, true,
					"4000-byte id", i == 0 && !dump);
			msg_init(&m, self->f.id, fl, cmds[i]);
			msg_put_u32(&m, MPDEV_A_CTX_ID, 0x80000000U);
			expect_rejected(_metadata, &self->s, &m, -ERANGE, true,
					"id above INT_MAX", i == 0 && !dump);
			msg_init(&m, self->f.id, fl, cmds[i]);
			msg_put_u32(&m, MPDEV_A_CTX_ID, 0);
			expect_rejected(_metadata, &self->s, &m, -ERANGE, true,
					"id 0", i == 0 && !dump);
			/* Attributes the request does not take. */
			msg_init(&m, self->f.id, fl, cmds[i]);
			msg_put_u32(&m, MPDEV_A_CTX_ID, id);
			msg_put_u32(&m, MPDEV_A_STATE, 0);
			expect_rejected(_metadata, &self->s, &m, -EINVAL, true,
					"reply-only attribute", i == 0 && !dump);
			msg_init(&m, self->f.id, fl, cmds[i]);
			msg_put_u32(&m, 300, 0);
			expect_rejected(_metadata, &self->s, &m, -EINVAL, true,
					"unknown attribute type", i == 0 && !dump);
			msg_init(&m, self->f.id, fl, cmds[i]);
			msg_put(&m, MPDEV_A_PAD, NULL, 0);
			expect_rejected(_metadata, &self->s, &m, -EINVAL, true,
					"padding attribute", i == 0 && !dump);
			/* Truncated: an attribute longer than the message. */
			msg_init(&m, self->f.id, fl, cmds[i]);
			msg_put_u32(&m, MPDEV_A_CTX_ID, id);
			((struct nlattr *)(m.u.buf + m.len - 8))->nla_len = 64;
			expect_rejected(_metadata, &self->s, &m, -EINVAL, true,
					"truncated attribute", i == 0 && !dump);
			/* Header rules of new families. */
			msg_init(&m, self->f.id, fl, cmds[i]);
			((struct genlmsghdr *)NLMSG_DATA(&m.u.nlh))->reserved = 1;
			expect_rejected(_metadata, &self->s, &m, -EINVAL, true,
					"genl reserved field", i == 0 && !dump);
			msg_init(&m, self->f.id, fl | NLM_F_APPEND, cmds[i]);
			expect_rejected(_metadata, &self->s, &m, -EINVAL, true,
					"stray nlmsg flags", i == 0 && !dump);
		}
	}
	/* No such context: ENOENT, pointing at the attribute. */
	msg_init(&m, self->f.id, NLM_F_ACK, MPDEV_CMD_CTX_GET);
	off = msg_put_u32(&m, MPDEV_A_CTX_ID, 0x7ffffff0);
	ASSERT_EQ(0, nls_xact(&self->s, &m, &r));
	EXPECT_EQ(-ENOENT, r.err);
	EXPECT_TRUE(r.has_offs);
	EXPECT_EQ(off, r.offs);
	EXPECT_NE(0, strlen(r.ext_msg));
	reply_free(&r);
	/* Commands nobody may send. */
	msg_init(&m, self->f.id, 0, MPDEV_CMD_EVENT);
	expect_rejected(_metadata, &self->s, &m, -EOPNOTSUPP, false,
			"event command", true);
	msg_init(&m, self->f.id, NLM_F_DUMP, MPDEV_CMD_STATS_RESET);
	expect_rejected(_metadata, &self->s, &m, -EOPNOTSUPP, false,
			"reset as a dump", true);
	msg_init(&m, self->f.id, 0, 200);
	expect_rejected(_metadata, &self->s, &m, -EOPNOTSUPP, false,
			"unknown command", true);
	/* A message too short for its generic netlink header. */
	msg_init(&m, self->f.id, 0, MPDEV_CMD_CTX_GET);
	m.len = NLMSG_HDRLEN + 2;
	expect_rejected(_metadata, &self->s, &m, -EINVAL, false,
			"short genl header", true);

	/* The context is untouched and the socket still works. */
	ASSERT_EQ(0, get(&self->s, &self->f, MPDEV_CMD_CTX_GET, false, id,
			 self->d, RX_BUF));
	EXPECT_EQ(id, self->d->ctx[0].id);
	EXPECT_EQ(MPDEV_STATE_OK, self->d->ctx[0].state);
}

/* A malformed reset changes nothing. */
TEST_F_TIMEOUT(nl, malformed_reset_resets_nothing, 60)
{
	struct reply r;
	struct msg m;
	uint64_t v64;
	uint32_t id;

	self->kg = kg_create(1);
	ASSERT_NE(NULL, self->kg);
	id = open_ctx_backend(self, 0);
	ASSERT_NE(0, id);
	ASSERT_EQ(0, mpdev_add(self->ctl[0], 0, MPDEV_SPACE_MMIO, MMIO_BASE,
			       64, 0));
	ASSERT_EQ(0, tr_start(&self->tr, self->backend, TR_BLOCKING, 100));
	self->tr_on = true;
	ASSERT_EQ(0, run(self, KG_OP_READ, KG_SPACE_MMIO, MMIO_BASE, 4, 9));

	v64 = id;
	msg_init(&m, self->f.id, NLM_F_ACK, MPDEV_CMD_STATS_RESET);
	msg_put(&m, MPDEV_A_CTX_ID, &v64, sizeof(v64));
	ASSERT_EQ(0, nls_xact(&self->s, &m, &r));
	EXPECT_EQ(-EINVAL, r.err);
	reply_free(&r);
	msg_init(&m, self->f.id, NLM_F_ACK, MPDEV_CMD_STATS_RESET);
	msg_put_u32(&m, MPDEV_A_CTX_ID, id);
	msg_put_u32(&m, MPDEV_A_NR_REGIONS, 0);
	ASSERT_EQ(0, nls_xact(&self->s, &m, &r));
	EXPECT_EQ(-EINVAL, r.err);
	reply_free(&r);
	ASSERT_EQ(0, get(&self->s, &self->f, MPDEV_CMD_STATS_GET, false, id,
			 self->d, RX_BUF));
	EXPECT_EQ(9, self->d->ctx[0].st.c[S_READS]);
	EXPECT_EQ(9, self->d->ctx[0].reg[0].st.c[S_READS]);
}

/* ---- mpdevctl, the tool, against the same kernel ------------------------ */

/* The tool: $MPDEVCTL, or the one built in this repository. */
static const char *mpdevctl_path(void)
{
	const char *p = getenv("MPDEVCTL");

	if (p)
		return p;
	return access("userspace/mpdevctl/mpdevctl", X_OK) ? NULL :
	       "userspace/mpdevctl/mpdevctl";
}

/*
 * Runs mpdevctl with @args (NULL-terminated, after the program name), as
 * uid @uid if not 0; its stdout and stderr together into @out.  Returns
 * its exit status, or -1.
 */
static int mpdevctl(uid_t uid, char *out, size_t len, const char *const *args)
{
	const char *argv[8] = { "mpdevctl" };
	int p[2], i, status;
	size_t have = 0;
	ssize_t n;
	pid_t pid;

	for (i = 0; args[i] && i < 6; i++)
		argv[i + 1] = args[i];
	if (pipe(p))
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		dup2(p[1], 1);
		dup2(p[1], 2);
		if (uid && (setgroups(0, NULL) || setresgid(uid, uid, uid) ||
			    setresuid(uid, uid, uid)))
			_exit(127);
		execv(mpdevctl_path(), (char *const *)argv);
		_exit(127);
	}
	close(p[1]);
	while (have + 1 < len &&
	       (n = read(p[0], out + have, len - 1 - have)) > 0)
		have += n;
	out[have] = '\0';
	close(p[0]);
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

#define OUT_MAX	65536

TEST_F_TIMEOUT(nl, mpdevctl_tool, 120)
{
	char *out = calloc(1, OUT_MAX), want[256], ids[16];
	const char *tool = mpdevctl_path();
	int mon[2], flags, i;
	size_t have = 0;
	uint32_t id, id2;
	pid_t mpid;

	if (!tool)
		SKIP(return, "mpdevctl not built (make -C userspace/mpdevctl)");
	ASSERT_NE(NULL, out);
	self->kg = kg_create(1);
	ASSERT_NE(NULL, self->kg);
	/* CLOEXEC: the tool must not hold the remote's end. */
	id = open_ctx_backend(self, 0);
	ASSERT_NE(0, id);
	snprintf(ids, sizeof(ids), "%u", id);
	ASSERT_EQ(0, mpdev_add(self->ctl[0], 2, MPDEV_SPACE_MMIO, MMIO_BASE,
			       0x100, MPDEV_REGION_NONPOSTED));
	ASSERT_EQ(0, mpdev_add(self->ctl[0], 4, MPDEV_SPACE_PIO, PIO_BASE,
			       0x10, 0));
	ASSERT_EQ(0, tr_start(&self->tr, self->backend, TR_BLOCKING, 100));
	self->tr_on = true;
	ASSERT_EQ(0, run(self, KG_OP_READ, KG_SPACE_PIO, PIO_BASE, 2, 7));

	/* show, as a table and as JSON. */
	ASSERT_EQ(0, mpdevctl(0, out, OUT_MAX,
			      (const char *[]){ "show", NULL }));
	TH_LOG("show:\n%s", out);
	snprintf(want, sizeof(want), "kvm-%d", getpid());
	EXPECT_NE(NULL, strstr(out, want)) TH_LOG("%s", out);
	EXPECT_NE(NULL, strstr(out, "non-posted")) TH_LOG("%s", out);
	EXPECT_NE(NULL, strstr(out, "0xd0000000")) TH_LOG("%s", out);
	ASSERT_EQ(0, mpdevctl(0, out, OUT_MAX,
			      (const char *[]){ "show", "-j", ids, NULL }));
	TH_LOG("show -j %u: %s", id, out);
	snprintf(want, sizeof(want),
		 "[{\"id\":%u,\"owner_pid\":%d,\"vm_attached\":true,\"vm\":\"kvm-%d\",\"backend_attached\":true,\"state\":\"ok\",\"fail_reason\":null,",
		 id, getpid(), getpid());
	EXPECT_EQ(0, strncmp(out, want, strlen(want))) TH_LOG("%s", out);
	EXPECT_NE(NULL, strstr(out, "\"intr_ns\":10000000,\"ring_entries\":256,\"nr_slots\":1,\"footprint_bytes\":"))
		TH_LOG("%s", out);
	EXPECT_NE(NULL, strstr(out, "{\"id\":2,\"space\":\"mmio\",\"base\":3489660928,\"size\":256,\"nonposted\":true,\"cookie\":0}"));
	EXPECT_NE(NULL, strstr(out, "{\"id\":4,\"space\":\"pio\",\"base\":24576,\"size\":16,\"nonposted\":false,\"cookie\":0}"));

	/* stats: the guest's 7 reads, then --reset, then 0. */
	ASSERT_EQ(0, mpdevctl(0, out, OUT_MAX,
			      (const char *[]){ "stats", "-j", ids, NULL }));
	EXPECT_NE(NULL, strstr(out, "\"stats\":{\"reads\":7,\"writes\":0,"))
		TH_LOG("%s", out);
	ASSERT_EQ(0, mpdevctl(0, out, OUT_MAX,
			      (const char *[]){ "stats", "--reset", ids,
						NULL }));
	EXPECT_NE(NULL, strstr(out, "reads 7")) TH_LOG("%s", out);
	EXPECT_NE(NULL, strstr(out, "read latency:")) TH_LOG("%s", out);
	TH_LOG("stats --reset %u:\n%s", id, out);
	ASSERT_EQ(0, mpdevctl(0, out, OUT_MAX,
			      (const char *[]){ "stats", "-j", ids, NULL }));
	EXPECT_NE(NULL, strstr(out, "\"stats\":{\"reads\":0,\"writes\":0,"))
		TH_LOG("%s", out);
	EXPECT_NE(NULL, strstr(out, "\"read_latency_ns\":[]"));

	/* Errors that say what is wrong. */
	EXPECT_EQ(1, mpdevctl(0, out, OUT_MAX,
			      (const char *[]){ "show", "2147483000",
						NULL }));
	EXPECT_NE(NULL, strstr(out, "no context 2147483000")) TH_LOG("%s", out);
	EXPECT_EQ(4, mpdevctl(65534, out, OUT_MAX,
			      (const char *[]){ "show", NULL }));
	EXPECT_NE(NULL, strstr(out, "permission denied")) TH_LOG("%s", out);
	EXPECT_EQ(4, mpdevctl(65534, out, OUT_MAX,
			      (const char *[]){ "monitor", NULL }));
	EXPECT_EQ(2, mpdevctl(0, out, OUT_MAX,
			      (const char *[]){ "frobnicate", NULL }));

	/* monitor -j: wait until it listens, then watch a lifecycle. */
	ASSERT_EQ(0, pipe(mon));
	mpid = fork();
	ASSERT_LE(0, mpid);
	if (mpid == 0) {
		dup2(mon[1], 1);
		execl(tool, "mpdevctl", "monitor", "-j", (char *)NULL);
		_exit(127);
	}
	close(mon[1]);
	flags = fcntl(mon[0], F_GETFL);
	fcntl(mon[0], F_SETFL, flags | O_NONBLOCK);
	for (i = 0; i < 100 && !have; i++) {
		ssize_t n;

		close(mpdev_open());	/* an event, once it listens */
		usleep(100 * 1000);
		n = read(mon[0], out, OUT_MAX - 1);
		if (n > 0)
			have = n;
	}
	ASSERT_NE(0, have) TH_LOG("mpdevctl monitor printed nothing");
	usleep(200 * 1000);
	while (read(mon[0], out, OUT_MAX - 1) > 0)
		;
	id2 = open_ctx(self, 1);
	ASSERT_NE(0, id2);
	close(self->ctl[1]);
	self->ctl[1] = -1;
	tr_stop(&self->tr, true);	/* the remote goes: remote-gone */
	self->tr_on = false;
	self->backend = -1;
	have = 0;
	for (i = 0; i < 50; i++) {
		ssize_t n = read(mon[0], out + have, OUT_MAX - 1 - have);

		if (n > 0)
			have += n;
		out[have] = '\0';
		if (strstr(out, "backend-detached"))
			break;
		usleep(100 * 1000);
	}
	kill(mpid, SIGTERM);
	waitpid(mpid, NULL, 0);
	close(mon[0]);
	TH_LOG("monitor -j:\n%s", out);
	snprintf(want, sizeof(want),
		 "{\"event\":\"ctx-created\",\"ctx\":%u,\"owner_pid\":%d}\n"
		 "{\"event\":\"ctx-destroyed\",\"ctx\":%u,\"owner_pid\":%d}\n",
		 id2, getpid(), id2, getpid());
	EXPECT_NE(NULL, strstr(out, want));
	snprintf(want, sizeof(want),
		 "{\"event\":\"remote-gone\",\"ctx\":%u,\"owner_pid\":%d,\"reason\":\"backend-closed\"}\n"
		 "{\"event\":\"backend-detached\",\"ctx\":%u,\"owner_pid\":%d}\n",
		 id, getpid(), id, getpid());
	EXPECT_NE(NULL, strstr(out, want));
	free(out);
}

TEST_HARNESS_MAIN
