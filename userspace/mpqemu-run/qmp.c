// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * A small QMP client: connect, negotiate, query-pci.
 *
 * QEMU's QMP is one JSON object a line ("\r\n" in practice: QEMU's
 * monitor_puts() turns every '\n' into "\r\n"), so the socket is read
 * into a buffer that is split on '\n' and each line is parsed on its own.
 * Only the default compact output is handled; a monitor with pretty=on
 * spreads one object over many lines and is not supported.  Every wait
 * is bounded by the caller's timeout and every line by QMP_MAX_LINE, so
 * a stuck or babbling QEMU cannot hang mpqemu-run or make it grow
 * without limit.
 *
 * The query-pci reply is checked against the QAPI schema (qapi/pci.json,
 * the same in QEMU 7.2 and 11.1): the walk down to the device needs only
 * "devices", "qdev_id" and "pci_bridge"; the device found is checked in
 * full.  Other devices' details are not looked at, so that something odd
 * about an unrelated device does not stop us.
 */
#define _GNU_SOURCE
#include "qmp.h"

#include <errno.h>
#include <jansson.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* query-pci replies run to tens of KiB; this only stops a runaway peer. */
#define QMP_MAX_LINE		(4u << 20)
#define QMP_BUF_INIT		(64u << 10)
#define QMP_RETRY_MS		50
/* PCI has 256 buses, so real topologies are far shallower than this. */
#define QMP_MAX_BRIDGE_DEPTH	32

struct qmp {
	int fd;
	unsigned long long next_id;
	char *buf;
	size_t len;		/* bytes in buf */
	size_t cap;
	size_t scanned;		/* buf[0..scanned) holds no '\n' */
};

/* One bounded operation: its deadline and what to call it in messages. */
struct qmp_wait {
	long long deadline;	/* CLOCK_MONOTONIC ms; -1: none */
	int timeout_ms;
	const char *what;
};

__attribute__((format(printf, 3, 4)))
static void seterr(char *err, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (!err || !len)
		return;
	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void wait_init(struct qmp_wait *w, int timeout_ms, const char *what)
{
	w->deadline = timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
	w->timeout_ms = timeout_ms;
	w->what = what;
}

/* Milliseconds left, for poll(): -1 when unbounded, 0 when past. */
static int wait_left(const struct qmp_wait *w)
{
	long long left;

	if (w->deadline < 0)
		return -1;
	left = w->deadline - now_ms();
	return left < 0 ? 0 : (int)left;
}

static void msleep(int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* ---- connection ------------------------------------------------------- */

static bool connect_retryable(int e)
{
	/*
	 * QEMU creates the socket during start-up: until then the path is
	 * missing (ENOENT) or left over from an earlier run (ECONNREFUSED).
	 * EAGAIN is a full listen backlog (the socket is non-blocking, so
	 * connect() does not sleep on it).
	 */
	return e == ENOENT || e == ECONNREFUSED || e == EAGAIN ||
	       e == EINPROGRESS || e == EINTR;
}

static int qmp_connect(const char *path, const struct qmp_wait *w, char *err,
		       size_t len)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	if (strlen(path) >= sizeof(sa.sun_path)) {
		seterr(err, len, "QMP socket path %s is too long (at most %zu bytes)",
		       path, sizeof(sa.sun_path) - 1);
		return -1;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);

	for (;;) {
		/* Non-blocking, so that writes too can be bounded by poll(). */
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		int e, left;

		if (fd < 0) {
			seterr(err, len, "socket: %s", strerror(errno));
			return -1;
		}
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			return fd;
		e = errno;
		close(fd);
		if (!connect_retryable(e)) {
			seterr(err, len, "connect to QMP socket %s: %s", path, strerror(e));
			return -1;
		}
		left = wait_left(w);
		if (left == 0) {
			seterr(err, len, "connect to QMP socket %s: %s (gave up after %d ms)",
			       path, strerror(e), w->timeout_ms);
			return -1;
		}
		msleep(left < 0 || left > QMP_RETRY_MS ? QMP_RETRY_MS : left);
	}
}

/* Wait for @events on the socket; 0, or -1 with @err set (timeout...). */
static int qmp_poll(struct qmp *q, short events, const struct qmp_wait *w,
		    char *err, size_t len)
{
	struct pollfd pfd = { .fd = q->fd, .events = events };

	for (;;) {
		int r = poll(&pfd, 1, wait_left(w));

		if (r > 0)
			return 0;
		if (r == 0) {
			seterr(err, len, "%s: no answer from QEMU within %d ms",
			       w->what, w->timeout_ms);
			return -1;
		}
		if (errno != EINTR) {
			seterr(err, len, "%s: poll: %s", w->what, strerror(errno));
			return -1;
		}
	}
}

static int qmp_send(struct qmp *q, const char *s, size_t n,
		    const struct qmp_wait *w, char *err, size_t len)
{
	while (n) {
		/* MSG_NOSIGNAL: a QEMU that went away is an error, not SIGPIPE. */
		ssize_t r = send(q->fd, s, n, MSG_NOSIGNAL);

		if (r > 0) {
			s += r;
			n -= r;
			continue;
		}
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (qmp_poll(q, POLLOUT, w, err, len))
				return -1;
			continue;
		}
		if (r < 0 && (errno == EPIPE || errno == ECONNRESET))
			seterr(err, len, "%s: QEMU closed the QMP connection", w->what);
		else
			seterr(err, len, "%s: send: %s", w->what,
			       r < 0 ? strerror(errno) : "wrote nothing");
		return -1;
	}
	return 0;
}

/*
 * The next line from QEMU, parsed: a JSON object, or NULL with @err set.
 * Blank lines are skipped.
 */
static json_t *qmp_read_msg(struct qmp *q, const struct qmp_wait *w,
			    char *err, size_t len)
{
	for (;;) {
		char *nl = memchr(q->buf + q->scanned, '\n', q->len - q->scanned);
		ssize_t r;

		if (nl) {
			size_t n = nl - q->buf, used = n + 1;
			json_error_t je;
			json_t *m = NULL;

			if (n && q->buf[n - 1] == '\r')
				n--;
			/*
			 * json_loadb() and not json_loads(): a NUL inside the
			 * line is an error, not a silent end of it.
			 */
			if (n)
				m = json_loadb(q->buf, n, JSON_REJECT_DUPLICATES, &je);
			memmove(q->buf, q->buf + used, q->len - used);
			q->len -= used;
			q->scanned = 0;
			if (!n)
				continue;
			if (!m) {
				seterr(err, len, "%s: malformed JSON from QEMU: %s (column %d)",
				       w->what, je.text, je.column);
				return NULL;
			}
			if (!json_is_object(m)) {
				json_decref(m);
				seterr(err, len, "%s: QEMU sent JSON that is not an object",
				       w->what);
				return NULL;
			}
			return m;
		}
		q->scanned = q->len;
		if (q->len >= QMP_MAX_LINE) {
			seterr(err, len, "%s: QMP line longer than %u bytes", w->what,
			       QMP_MAX_LINE);
			return NULL;
		}
		if (q->len == q->cap) {
			size_t cap = q->cap * 2;
			char *p;

			if (cap > QMP_MAX_LINE)
				cap = QMP_MAX_LINE;
			p = realloc(q->buf, cap);
			if (!p) {
				seterr(err, len, "%s: out of memory", w->what);
				return NULL;
			}
			q->buf = p;
			q->cap = cap;
		}
		if (qmp_poll(q, POLLIN, w, err, len))
			return NULL;
		r = read(q->fd, q->buf + q->len, q->cap - q->len);
		if (r > 0) {
			q->len += r;
		} else if (r == 0) {
			seterr(err, len, "%s: QEMU closed the QMP connection", w->what);
			return NULL;
		} else if (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK) {
			seterr(err, len, "%s: read: %s", w->what, strerror(errno));
			return NULL;
		}
	}
}

static void error_reply(json_t *m, const struct qmp_wait *w, char *err,
			size_t len)
{
	json_t *e = json_object_get(m, "error");
	const char *desc = json_string_value(json_object_get(e, "desc"));
	const char *cls = json_string_value(json_object_get(e, "class"));

	seterr(err, len, "%s: QEMU says: %s (%s)", w->what,
	       desc ? desc : "(error without a description)",
	       cls ? cls : "no class");
}

/*
 * Run @cmd and return QEMU's reply to it (an object with "return"), or
 * NULL with @err set, an error reply included.  The id tells our reply
 * apart from events and from a late answer to an earlier command that
 * timed out.
 */
static json_t *qmp_exec(struct qmp *q, const char *cmd,
			const struct qmp_wait *w, char *err, size_t len)
{
	unsigned long long id = q->next_id++;
	char line[128];
	int n = snprintf(line, sizeof(line), "{\"execute\": \"%s\", \"id\": %llu}\n",
			 cmd, id);

	if (n < 0 || (size_t)n >= sizeof(line)) {
		seterr(err, len, "%s: command too long", w->what);
		return NULL;
	}
	if (qmp_send(q, line, n, w, err, len))
		return NULL;
	for (;;) {
		json_t *m = qmp_read_msg(q, w, err, len);
		json_t *jid;

		if (!m)
			return NULL;
		if (json_object_get(m, "event")) {
			json_decref(m);
			continue;
		}
		jid = json_object_get(m, "id");
		/*
		 * QEMU leaves the id out only when it could not read the
		 * request at all; every command we send has one, so an error
		 * without an id is about ours.
		 */
		if (!jid && json_object_get(m, "error")) {
			error_reply(m, w, err, len);
			json_decref(m);
			return NULL;
		}
		if (!json_is_integer(jid) || json_integer_value(jid) != (json_int_t)id) {
			json_decref(m);
			continue;
		}
		if (json_object_get(m, "error")) {
			error_reply(m, w, err, len);
			json_decref(m);
			return NULL;
		}
		if (!json_object_get(m, "return")) {
			seterr(err, len, "%s: reply has neither \"return\" nor \"error\"",
			       w->what);
			json_decref(m);
			return NULL;
		}
		return m;
	}
}

void qmp_close(struct qmp *q)
{
	if (!q)
		return;
	if (q->fd >= 0)
		close(q->fd);
	free(q->buf);
	free(q);
}

struct qmp *qmp_open(const char *path, int timeout_ms, char *err, size_t len)
{
	struct qmp_wait w;
	struct qmp *q = calloc(1, sizeof(*q));
	json_t *m;

	/* One deadline for the connection, the greeting and negotiation. */
	wait_init(&w, timeout_ms, "QMP greeting");
	if (!q || !(q->buf = malloc(QMP_BUF_INIT))) {
		seterr(err, len, "out of memory");
		free(q);
		return NULL;
	}
	q->cap = QMP_BUF_INIT;
	q->next_id = 1;
	q->fd = qmp_connect(path, &w, err, len);
	if (q->fd < 0)
		goto fail;

	/* {"QMP": {"version": ..., "capabilities": [...]}} */
	m = qmp_read_msg(q, &w, err, len);
	if (!m)
		goto fail;
	if (!json_is_object(json_object_get(m, "QMP"))) {
		json_decref(m);
		seterr(err, len, "%s is not a QMP socket: first line is not a QMP greeting",
		       path);
		goto fail;
	}
	json_decref(m);

	w.what = "qmp_capabilities";
	m = qmp_exec(q, "qmp_capabilities", &w, err, len);
	if (!m)
		goto fail;
	if (!json_is_object(json_object_get(m, "return"))) {
		json_decref(m);
		seterr(err, len, "qmp_capabilities: \"return\" is not an object");
		goto fail;
	}
	json_decref(m);
	return q;
fail:
	qmp_close(q);
	return NULL;
}

/* ---- query-pci -------------------------------------------------------- */

/* Where in the reply we are, for messages: "return[0].devices[3]". */
struct where {
	char s[256];
};

__attribute__((format(printf, 3, 4)))
static void where_sub(struct where *to, const struct where *from,
		      const char *fmt, ...)
{
	size_t n = strlen(from->s);
	va_list ap;

	memcpy(to->s, from->s, n + 1);
	if (n >= sizeof(to->s) - 1)
		return;
	va_start(ap, fmt);
	vsnprintf(to->s + n, sizeof(to->s) - n, fmt, ap);
	va_end(ap);
}

static int get_int(json_t *o, const char *key, long long min, long long max,
		   long long *out, const struct where *at, char *err, size_t len)
{
	json_t *v = json_object_get(o, key);

	if (!v) {
		seterr(err, len, "query-pci: %s: \"%s\" missing", at->s, key);
		return -1;
	}
	/* jansson reads 1.0 or 1e3 as a real: QEMU never sends those. */
	if (!json_is_integer(v)) {
		seterr(err, len, "query-pci: %s: \"%s\" is not an integer", at->s, key);
		return -1;
	}
	*out = json_integer_value(v);
	if (*out < min || *out > max) {
		seterr(err, len, "query-pci: %s: \"%s\" is %lld, not in %lld..%lld",
		       at->s, key, *out, min, max);
		return -1;
	}
	return 0;
}

/* An optional bool: absent is false. */
static int get_opt_bool(json_t *o, const char *key, bool *out,
			const struct where *at, char *err, size_t len)
{
	json_t *v = json_object_get(o, key);

	*out = false;
	if (!v)
		return 0;
	if (!json_is_boolean(v)) {
		seterr(err, len, "query-pci: %s: \"%s\" is not a boolean", at->s, key);
		return -1;
	}
	*out = json_is_true(v);
	return 0;
}

/* One PciMemoryRegion. */
static int parse_region(json_t *r, struct qmp_bar *b, const struct where *at,
			char *err, size_t len)
{
	const char *type;
	long long v;

	if (!json_is_object(r)) {
		seterr(err, len, "query-pci: %s is not an object", at->s);
		return -1;
	}
	if (get_int(r, "bar", 0, QMP_MAX_BARS - 1, &v, at, err, len))
		return -1;
	b->bar = v;

	type = json_string_value(json_object_get(r, "type"));
	if (!type) {
		seterr(err, len, "query-pci: %s: \"type\" missing or not a string", at->s);
		return -1;
	}
	if (!strcmp(type, "io")) {
		b->io = true;
	} else if (!strcmp(type, "memory")) {
		b->io = false;
	} else {
		seterr(err, len, "query-pci: %s: \"type\" is \"%s\", not \"io\" or \"memory\"",
		       at->s, type);
		return -1;
	}

	/*
	 * "address" is QEMU's pcibus_t (uint64_t) stored in an int64, so
	 * an address above 2^63 comes out negative and the unmapped marker,
	 * all ones, as -1.  A JSON number past INT64_MAX is a parse error in
	 * jansson already, and a real is refused by get_int().
	 */
	if (get_int(r, "address", INT64_MIN, INT64_MAX, &v, at, err, len))
		return -1;
	b->addr = (uint64_t)v;
	b->mapped = b->addr != UINT64_MAX;

	if (get_int(r, "size", 0, INT64_MAX, &v, at, err, len))
		return -1;
	b->size = v;
	/* QEMU asserts BAR sizes are powers of two (pci_register_bar()). */
	if (!b->size || (b->size & (b->size - 1))) {
		seterr(err, len, "query-pci: %s: size %llu is not a power of two",
		       at->s, (unsigned long long)b->size);
		return -1;
	}
	/* And it never reports a mapping that wraps (pci_bar_address()). */
	if (b->mapped && b->addr + b->size - 1 < b->addr) {
		seterr(err, len, "query-pci: %s: address 0x%llx + size 0x%llx wraps",
		       at->s, (unsigned long long)b->addr,
		       (unsigned long long)b->size);
		return -1;
	}

	if (get_opt_bool(r, "prefetch", &b->prefetch, at, err, len) ||
	    get_opt_bool(r, "mem_type_64", &b->mem64, at, err, len))
		return -1;
	if (b->io && (b->prefetch || b->mem64)) {
		seterr(err, len, "query-pci: %s: an io BAR cannot be prefetchable or 64-bit",
		       at->s);
		return -1;
	}
	if (b->bar == 6 && b->io) {
		seterr(err, len, "query-pci: %s: the expansion ROM (bar 6) is reported as io",
		       at->s);
		return -1;
	}
	if (b->mem64 && b->bar >= 5) {
		seterr(err, len, "query-pci: %s: bar %d cannot be 64-bit%s", at->s, b->bar,
		       b->bar == 6 ? " (the ROM BAR is 32-bit)" : " (it is the last BAR)");
		return -1;
	}
	return 0;
}

/* The device found: every field we report, checked. */
static int parse_device(json_t *d, struct qmp_pci_dev *out,
			const struct where *at, char *err, size_t len)
{
	json_t *regions = json_object_get(d, "regions"), *r;
	unsigned int seen = 0;
	long long v;
	size_t i;

	if (get_int(d, "bus", 0, 255, &v, at, err, len))
		return -1;
	out->bus = v;
	if (get_int(d, "slot", 0, 31, &v, at, err, len))
		return -1;
	out->slot = v;
	if (get_int(d, "function", 0, 7, &v, at, err, len))
		return -1;
	out->function = v;

	if (!json_is_array(regions)) {
		seterr(err, len, "query-pci: %s: \"regions\" missing or not an array", at->s);
		return -1;
	}
	if (json_array_size(regions) > QMP_MAX_BARS) {
		seterr(err, len, "query-pci: %s: %zu regions, more than the %d a PCI device has",
		       at->s, json_array_size(regions), QMP_MAX_BARS);
		return -1;
	}
	json_array_foreach(regions, i, r) {
		struct qmp_bar *b = &out->bars[i];
		struct where rat;

		where_sub(&rat, at, ".regions[%zu]", i);
		if (parse_region(r, b, &rat, err, len))
			return -1;
		if (seen & (1u << b->bar)) {
			seterr(err, len, "query-pci: %s: bar %d listed twice", rat.s, b->bar);
			return -1;
		}
		seen |= 1u << b->bar;
	}
	out->nbars = i;

	/* A 64-bit BAR takes the next BAR register for its upper half. */
	for (i = 0; i < (size_t)out->nbars; i++) {
		const struct qmp_bar *b = &out->bars[i];

		if (b->mem64 && (seen & (1u << (b->bar + 1)))) {
			seterr(err, len, "query-pci: %s: bar %d is 64-bit, yet bar %d is listed too",
			       at->s, b->bar, b->bar + 1);
			return -1;
		}
	}
	return 0;
}

struct pci_find {
	const char *qdev_id;
	json_t *dev;		/* the match (borrowed from the reply) */
	struct where at;	/* and where it is */
};

/* A "devices" list, bridges followed down. */
static int walk_devices(json_t *devs, const struct where *at, int depth,
			struct pci_find *f, char *err, size_t len)
{
	json_t *d;
	size_t i;

	if (!json_is_array(devs)) {
		seterr(err, len, "query-pci: %s: \"devices\" missing or not an array", at->s);
		return -1;
	}
	json_array_foreach(devs, i, d) {
		struct where dat, bat;
		const char *id;
		json_t *br, *sub;

		where_sub(&dat, at, ".devices[%zu]", i);
		if (!json_is_object(d)) {
			seterr(err, len, "query-pci: %s is not an object", dat.s);
			return -1;
		}
		id = json_string_value(json_object_get(d, "qdev_id"));
		if (!id) {
			seterr(err, len, "query-pci: %s: \"qdev_id\" missing or not a string",
			       dat.s);
			return -1;
		}
		if (!strcmp(id, f->qdev_id)) {
			/* qdev ids are unique; two means we cannot tell which. */
			if (f->dev) {
				seterr(err, len, "query-pci: two devices with qdev_id \"%s\" (%s and %s)",
				       id, f->at.s, dat.s);
				return -1;
			}
			f->dev = d;
			f->at = dat;
		}
		br = json_object_get(d, "pci_bridge");
		if (!br)
			continue;
		where_sub(&bat, &dat, ".pci_bridge");
		if (!json_is_object(br)) {
			seterr(err, len, "query-pci: %s is not an object", bat.s);
			return -1;
		}
		/*
		 * "devices" is optional: QEMU lists a bridge's devices only
		 * once the guest has given it a secondary bus number, so
		 * before the firmware has run (-S) they are not there at all.
		 */
		sub = json_object_get(br, "devices");
		if (!sub)
			continue;
		if (depth >= QMP_MAX_BRIDGE_DEPTH) {
			seterr(err, len, "query-pci: %s: bridges nested deeper than %d",
			       bat.s, QMP_MAX_BRIDGE_DEPTH);
			return -1;
		}
		if (walk_devices(sub, &bat, depth + 1, f, err, len))
			return -1;
	}
	return 0;
}

/* The reply object of query-pci: {"return": [PciInfo...]}. */
static int parse_query_pci(json_t *reply, const char *qdev_id,
			   struct qmp_pci_dev *out, char *err, size_t len)
{
	json_t *ret = json_object_get(reply, "return"), *bus;
	struct pci_find f = { .qdev_id = qdev_id };
	struct qmp_pci_dev dev;
	size_t i;

	memset(out, 0, sizeof(*out));
	/* "" is every device without an id=, so it names none. */
	if (!*qdev_id) {
		seterr(err, len, "query-pci: empty qdev id");
		return -1;
	}
	if (strlen(qdev_id) >= sizeof(out->qdev_id)) {
		seterr(err, len, "query-pci: qdev id \"%s\" is longer than %zu bytes",
		       qdev_id, sizeof(out->qdev_id) - 1);
		return -1;
	}
	if (!json_is_array(ret)) {
		seterr(err, len, "query-pci: \"return\" missing or not an array");
		return -1;
	}
	json_array_foreach(ret, i, bus) {
		struct where at;
		long long v;

		snprintf(at.s, sizeof(at.s), "return[%zu]", i);
		if (!json_is_object(bus)) {
			seterr(err, len, "query-pci: %s is not an object", at.s);
			return -1;
		}
		if (get_int(bus, "bus", 0, 255, &v, &at, err, len))
			return -1;
		if (walk_devices(json_object_get(bus, "devices"), &at, 0, &f, err, len))
			return -1;
	}
	if (!f.dev)
		return 1;

	memset(&dev, 0, sizeof(dev));
	if (parse_device(f.dev, &dev, &f.at, err, len))
		return -1;
	memcpy(dev.qdev_id, qdev_id, strlen(qdev_id) + 1);
	*out = dev;
	return 0;
}

int qmp_parse_query_pci(const char *json, const char *qdev_id,
			struct qmp_pci_dev *out, char *err, size_t len)
{
	json_error_t je;
	json_t *m = json_loads(json, JSON_REJECT_DUPLICATES, &je);
	int r;

	if (!m) {
		memset(out, 0, sizeof(*out));
		seterr(err, len, "query-pci: malformed JSON: %s (column %d)", je.text,
		       je.column);
		return -1;
	}
	if (!json_is_object(m)) {
		memset(out, 0, sizeof(*out));
		seterr(err, len, "query-pci: reply is not a JSON object");
		json_decref(m);
		return -1;
	}
	r = parse_query_pci(m, qdev_id, out, err, len);
	json_decref(m);
	return r;
}

int qmp_query_pci_dev(struct qmp *q, const char *qdev_id,
		      struct qmp_pci_dev *out, int timeout_ms, char *err,
		      size_t len)
{
	struct qmp_wait w;
	json_t *m;
	int r;

	memset(out, 0, sizeof(*out));
	wait_init(&w, timeout_ms, "query-pci");
	m = qmp_exec(q, "query-pci", &w, err, len);
	if (!m)
		return -1;
	r = parse_query_pci(m, qdev_id, out, err, len);
	json_decref(m);
	return r;
}
