// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * mpqemu-run --zero-patch: one proxy's mpqemu socket relayed between an
 * unmodified QEMU and a remote that understands MPDEV_BACKEND, with the
 * proxy's BARs kept on KVM's buses through mpdev (see relay.h for why the
 * removal is synchronous with the guest's config write).
 *
 * Trust: QEMU (the VMM) is trusted to say where it routes the device, but
 * what QMP says is still checked against the config writes QEMU forwarded
 * (the guest's own values): a BAR goes to mpdev only where the guest put
 * it, with decoding on.  The remote is not trusted at all: nothing it
 * sends decides which regions exist, and it can only break its own
 * device (all-ones, as with a dead remote).
 */
#define _GNU_SOURCE
#include "relay.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <linux/mpdev.h>

#include "fdio.h"
#include "msg.h"
#include "mpqemu_proto.h"
#include "qmp.h"
#include "util.h"

#define MSG_REST_MS	2000	/* the rest of a message, once it started */
#define BACKEND_REPLY_MS 10000	/* the remote's answer to MPDEV_BACKEND */
#define QMP_FIRST_MS	5000	/* connecting, the first time */
#define QMP_RETRY_MS	200	/* later, after a failure: do not stall a vCPU */
#define QMP_QUERY_MS	2000
#define NBARS		6	/* the expansion ROM stays on the socket */
#define CFG_SHADOW	0x40	/* the header: command, BARs, ROM */
#define MAX_OWED	16

struct wire_msg {
	uint8_t hdr[MPQ_HDR_SIZE];
	uint8_t payload[MPQ_MAX_PAYLOAD];
	int cmd;
	size_t size;
	int fds[FDIO_MAX_FDS];
	int nfds;
};

struct bar_reg {
	bool on;		/* registered with mpdev */
	bool io;
	uint64_t addr, size;
};

struct relay {
	struct zp_vmm *v;
	char id[64];
	int qfd, rfd;
	int ctl;		/* the mpdev context, -1 before set-up */
	bool backend;		/* the remote took it */
	bool cookies;		/* MPDEV_FEAT_REGION_COOKIE */
	char why[640];

	/* Config bytes as QEMU forwarded the guest's writes; known[] says
	 * which were ever written since the last reset. */
	uint8_t cfg[CFG_SHADOW];
	bool known[CFG_SHADOW];

	struct bar_reg bar[NBARS];

	/* Per reply the remote owes QEMU: refresh the regions after it? */
	bool owed[MAX_OWED];
	int owed_head, nowed;
	bool refresh_lost;	/* owed[] overflowed: refresh on any reply */

	struct {
		unsigned long cfg_writes, bar_cfg_writes, resets, qmp_queries;
		unsigned long added, removed, refused;
	} st;
	char last_refusal[200];
};

/* ---- QEMU's VM fd ---------------------------------------------------- */

static bool is_kvm_vm_fd(pid_t pid, const char *fdname)
{
	char path[320], link[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/fd/%s", (int)pid, fdname);
	n = readlink(path, link, sizeof(link) - 1);
	if (n <= 0)
		return false;
	link[n] = 0;
	return !strcmp(link, "anon_inode:kvm-vm");
}

/* The first fd of @pid that is a KVM VM, or -1. */
static int find_vm_fd(pid_t pid)
{
	char path[64];
	struct dirent *de;
	DIR *d;
	int fd = -1;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	d = opendir(path);
	if (!d)
		return -1;
	while (fd < 0 && (de = readdir(d)))
		if (de->d_name[0] != '.' && is_kvm_vm_fd(pid, de->d_name))
			fd = atoi(de->d_name);
	closedir(d);
	return fd;
}

/*
 * @pid or one of its descendants (a wrapper such as a chroot helper may
 * have forked QEMU) holding a KVM VM fd: its pid, and the fd in *@fd.
 */
static pid_t find_vm_holder(pid_t pid, int *fd, int depth)
{
	char path[320], buf[512], *tok, *save;
	struct dirent *de;
	DIR *d;
	FILE *f;
	pid_t found = 0;

	*fd = find_vm_fd(pid);
	if (*fd >= 0)
		return pid;
	if (depth >= 4)
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	d = opendir(path);
	if (!d)
		return 0;
	while (!found && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%s/children",
			 (int)pid, de->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		if (fgets(buf, sizeof(buf), f))
			for (tok = strtok_r(buf, " \n", &save); tok && !found;
			     tok = strtok_r(NULL, " \n", &save))
				found = find_vm_holder(atoi(tok), fd, depth + 1);
		fclose(f);
	}
	closedir(d);
	return found;
}

/*
 * Find QEMU's KVM VM fd (a descriptor of QEMU or of a descendant whose
 * link is anon_inode:kvm-vm), waiting up to @timeout_ms for QEMU to
 * create it, and take a copy with pidfd_getfd().  0, or -1 with @err.
 */
static int zp_take_vm_fd(struct zp_vmm *v, int timeout_ms, char *err,
			 size_t len)
{
	struct timespec t0, t;
	pid_t holder = 0;
	int pidfd, fd = -1;
	long ms;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		holder = find_vm_holder(v->qemu_pid, &fd, 0);
		if (holder > 0)
			break;
		clock_gettime(CLOCK_MONOTONIC, &t);
		ms = (t.tv_sec - t0.tv_sec) * 1000 +
		     (t.tv_nsec - t0.tv_nsec) / 1000000;
		if (ms >= timeout_ms || kill(v->qemu_pid, 0) < 0) {
			snprintf(err, len, "QEMU (pid %d) has no KVM VM fd "
				 "(anon_inode:kvm-vm) after %ld ms: is it running "
				 "with -accel kvm?", (int)v->qemu_pid, ms);
			return -1;
		}
		usleep(20 * 1000);
	}
	/* pidfd_getfd() needs ptrace rights over QEMU: root, in practice. */
	pidfd = (int)syscall(SYS_pidfd_open, holder, 0);
	if (pidfd < 0) {
		snprintf(err, len, "pidfd_open(%d): %s", (int)holder,
			 strerror(errno));
		return -1;
	}
	v->vm_fd = (int)syscall(SYS_pidfd_getfd, pidfd, fd, 0);
	close(pidfd);
	if (v->vm_fd < 0) {
		snprintf(err, len, "pidfd_getfd(QEMU pid %d, fd %d): %s%s",
			 (int)holder, fd, strerror(errno),
			 errno == EPERM ? " (--zero-patch needs root, or "
			 "CAP_SYS_PTRACE over QEMU)" : "");
		return -1;
	}
	fd_set_cloexec(v->vm_fd, true);
	return 0;
}

/* ---- bookkeeping ----------------------------------------------------- */

const char *relay_why(const struct relay *r)
{
	return r->why;
}

int relay_qemu_fd(const struct relay *r)
{
	return r->qfd;
}

int relay_remote_fd(const struct relay *r)
{
	return r->rfd;
}

static int nregions(const struct relay *r)
{
	int n = 0;

	for (int i = 0; i < NBARS; i++)
		n += r->bar[i].on;
	return n;
}

/* DIR/ID.zero-patch, whole or not at all (tests read it while we run). */
static void write_stats(const struct relay *r)
{
	char path[4096], tmp[4200];
	FILE *f;

	if (!r->v->run_dir)
		return;
	snprintf(path, sizeof(path), "%s/%s.zero-patch", r->v->run_dir, r->id);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "we");
	if (!f)
		return;
	fprintf(f, "vm_attached=%d\nbackend=%d\ncfg_writes=%lu\n"
		"bar_cfg_writes=%lu\nresets=%lu\nqmp_queries=%lu\n"
		"regions_added=%lu\nregions_removed=%lu\nregions_now=%d\n"
		"refused=%lu\nlast_refusal=%s\n",
		r->ctl >= 0, r->backend, r->st.cfg_writes, r->st.bar_cfg_writes,
		r->st.resets, r->st.qmp_queries, r->st.added, r->st.removed,
		nregions(r), r->st.refused, r->last_refusal);
	if (fclose(f) == 0)
		rename(tmp, path);
	else
		unlink(tmp);
}

struct relay *relay_new(struct zp_vmm *v, const char *id, int qemu_fd,
			int remote_fd)
{
	struct relay *r = calloc(1, sizeof(*r));

	if (!r) {
		close(qemu_fd);
		close(remote_fd);
		return NULL;
	}
	r->v = v;
	snprintf(r->id, sizeof(r->id), "%s", id);
	r->qfd = qemu_fd;
	r->rfd = remote_fd;
	r->ctl = -1;
	write_stats(r);
	return r;
}

void relay_free(struct relay *r)
{
	if (!r)
		return;
	close_fd(&r->qfd);
	close_fd(&r->rfd);
	/* Closing the context takes every region off KVM's buses. */
	close_fd(&r->ctl);
	free(r);
}

/* ---- messages -------------------------------------------------------- */

static void msg_drop_fds(struct wire_msg *m)
{
	fdio_close_all(m->fds, m->nfds);
	m->nfds = 0;
}

/*
 * One whole message from @fd, which is readable (or is waited for up to
 * @first_ms when that is >= 0).  0, or -1 with @r->why: EOF, a stall, a
 * size beyond any message, more fds than the protocol allows.
 */
static int msg_read(struct relay *r, int fd, struct wire_msg *m,
		    int first_ms, const char *who)
{
	int more[FDIO_MAX_FDS], nmore = 0, extra = 0, extra2 = 0;
	const char *bad = NULL;
	struct pollfd p = { .fd = fd, .events = POLLIN };
	ssize_t n;

	m->nfds = 0;
	if (first_ms >= 0) {
		int pr;

		do {
			pr = poll(&p, 1, first_ms);
		} while (pr < 0 && errno == EINTR);
		if (pr == 0) {
			snprintf(r->why, sizeof(r->why), "%s: no message in %d ms",
				 who, first_ms);
			return -1;
		}
	}
	n = fdio_recv_full(fd, m->hdr, MPQ_HDR_SIZE, m->fds, MPQ_MAX_FDS,
			   &m->nfds, &extra, MSG_REST_MS);
	if (n <= 0) {
		snprintf(r->why, sizeof(r->why), "%s: %s", who,
			 n == 0 ? "closed its socket" : strerror(errno));
		return -1;
	}
	if (mpq_parse_header(m->hdr, &m->cmd, &m->size, &bad) != MPQ_VALID) {
		snprintf(r->why, sizeof(r->why), "%s: %s (cmd %d)", who, bad,
			 m->cmd);
		msg_drop_fds(m);
		return -1;
	}
	if (m->size) {
		n = fdio_recv_full(fd, m->payload, m->size, more, FDIO_MAX_FDS,
				   &nmore, &extra2, MSG_REST_MS);
		if (n <= 0) {
			snprintf(r->why, sizeof(r->why), "%s: %s in a message",
				 who, n == 0 ? "EOF" : strerror(errno));
			msg_drop_fds(m);
			return -1;
		}
		for (int i = 0; i < nmore; i++) {
			if (m->nfds < MPQ_MAX_FDS)
				m->fds[m->nfds++] = more[i];
			else
				close(more[i]), extra = 1;
		}
	}
	if (extra || extra2) {
		snprintf(r->why, sizeof(r->why), "%s: more than %d fds with %s",
			 who, MPQ_MAX_FDS, mpq_cmd_name(m->cmd));
		msg_drop_fds(m);
		return -1;
	}
	return 0;
}

/* Forward @m to @fd and close our copies of its fds. */
static int msg_send(struct relay *r, int fd, struct wire_msg *m,
		    const char *who)
{
	int ret = fdio_send2(fd, m->hdr, MPQ_HDR_SIZE, m->payload, m->size,
			     m->fds, m->nfds);

	if (ret < 0)
		snprintf(r->why, sizeof(r->why), "to %s: %s", who,
			 strerror(errno));
	msg_drop_fds(m);
	return ret;
}

/* ---- regions --------------------------------------------------------- */

static void bar_del(struct relay *r, int i)
{
	struct mpdev_region a = { .id = (uint32_t)i };

	if (!r->bar[i].on)
		return;
	/*
	 * Synchronous: when the ioctl returns, no vCPU can reach the region
	 * any more (KVM's bus update waits for its SRCU readers).
	 */
	if (ioctl(r->ctl, MPDEV_DEL_REGION, &a) < 0)
		log_err("zero-patch: proxy %s: removing BAR %d: %s", r->id, i,
			strerror(errno));
	r->bar[i].on = false;
	r->st.removed++;
	log_dbg("zero-patch: proxy %s: BAR %d off mpdev", r->id, i);
}

static void refuse(struct relay *r, int bar, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void refuse(struct relay *r, int bar, const char *fmt, ...)
{
	va_list ap;
	char why[160];

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	r->st.refused++;
	snprintf(r->last_refusal, sizeof(r->last_refusal), "BAR %d: %s", bar,
		 why);
	log_info("zero-patch: proxy %s: refusing BAR %d from QMP: %s; it stays "
		 "on the socket path", r->id, bar, why);
}

static uint32_t cfg_dword(const struct relay *r, unsigned int off)
{
	return (uint32_t)r->cfg[off] | (uint32_t)r->cfg[off + 1] << 8 |
	       (uint32_t)r->cfg[off + 2] << 16 | (uint32_t)r->cfg[off + 3] << 24;
}

static bool cfg_known(const struct relay *r, unsigned int off, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++)
		if (!r->known[off + i])
			return false;
	return true;
}

/*
 * Is what QMP says about BAR @b where the guest programmed it?  The
 * address must be the BAR register's (both halves for a 64-bit BAR), the
 * space's decode bit set, the size a power of two the address is aligned
 * to, inside the space.  false (refused, said why) otherwise.
 */
static bool bar_checks_out(struct relay *r, const struct qmp_bar *b)
{
	unsigned int reg = 0x10 + 4 * b->bar;
	uint64_t want;

	if (!b->size || (b->size & (b->size - 1)) || b->size > INT32_MAX) {
		refuse(r, b->bar, "size 0x%llx is not a power of two up to 2 GiB",
		       (unsigned long long)b->size);
		return false;
	}
	if (b->addr & (b->size - 1) || b->addr + b->size < b->addr ||
	    (b->io && b->addr + b->size > 0x10000)) {
		refuse(r, b->bar, "0x%llx+0x%llx is not a place for it",
		       (unsigned long long)b->addr, (unsigned long long)b->size);
		return false;
	}
	if (!cfg_known(r, 0x04, 1) || !cfg_known(r, reg, 4) ||
	    (b->mem64 && (b->bar == NBARS - 1 || !cfg_known(r, reg + 4, 4)))) {
		refuse(r, b->bar, "the guest has not programmed it (or its "
		       "decoding) since QEMU started or reset it");
		return false;
	}
	if (!(r->cfg[0x04] & (b->io ? 0x1 : 0x2))) {
		refuse(r, b->bar, "QMP says mapped at 0x%llx, but the guest "
		       "turned %s decoding off", (unsigned long long)b->addr,
		       b->io ? "I/O" : "memory");
		return false;
	}
	want = cfg_dword(r, reg) & (b->io ? ~0x3u : ~0xfu);
	if (b->mem64)
		want |= (uint64_t)cfg_dword(r, reg + 4) << 32;
	want &= ~(b->size - 1);
	if (want != b->addr) {
		refuse(r, b->bar, "QMP says 0x%llx+0x%llx, the guest programmed "
		       "0x%llx", (unsigned long long)b->addr,
		       (unsigned long long)b->size, (unsigned long long)want);
		return false;
	}
	return true;
}

static void bar_add(struct relay *r, const struct qmp_bar *b)
{
	struct mpdev_region a = {
		.addr = b->addr,
		.size = b->size,
		.id = (uint32_t)b->bar,
		.space = b->io ? MPDEV_SPACE_PIO : MPDEV_SPACE_MMIO,
		/* PCI: memory writes are posted, I/O writes are not. */
		.flags = b->io ? MPDEV_REGION_NONPOSTED : 0,
	};
	struct bar_reg *br = &r->bar[b->bar];

	if (r->cookies)
		a.cookie = MPQ_MPDEV_COOKIE(b->bar, 0);
	if (ioctl(r->ctl, MPDEV_ADD_REGION, &a) < 0) {
		refuse(r, b->bar, "mpdev refused 0x%llx+0x%llx: %s",
		       (unsigned long long)b->addr, (unsigned long long)b->size,
		       strerror(errno));
		return;
	}
	br->on = true;
	br->io = b->io;
	br->addr = b->addr;
	br->size = b->size;
	r->st.added++;
	log_dbg("zero-patch: proxy %s: BAR %d (%s 0x%llx+0x%llx) on mpdev",
		r->id, b->bar, b->io ? "pio" : "mmio",
		(unsigned long long)b->addr, (unsigned long long)b->size);
}

/* QMP, connected on first use; NULL (said once) when it cannot be. */
static struct qmp *get_qmp(struct relay *r)
{
	struct zp_vmm *v = r->v;
	char err[512];

	if (v->qmp)
		return v->qmp;
	v->qmp = qmp_open(v->qmp_path, v->qmp_failed ? QMP_RETRY_MS :
			  QMP_FIRST_MS, err, sizeof(err));
	if (!v->qmp && !v->qmp_failed)
		log_info("zero-patch: proxy %s: QMP %s: %s; its BARs stay on the "
			 "socket path", r->id, v->qmp_path, err);
	v->qmp_failed = !v->qmp;
	return v->qmp;
}

/* query-pci for our device; 0, or -1 (said why). */
static int query_dev(struct relay *r, struct qmp_pci_dev *dev)
{
	struct qmp *q = get_qmp(r);
	char err[512];
	int ret;

	if (!q)
		return -1;
	r->st.qmp_queries++;
	ret = qmp_query_pci_dev(q, r->id, dev, QMP_QUERY_MS, err, sizeof(err));
	if (ret == 1)
		snprintf(err, sizeof(err), "query-pci lists no device '%s'",
			 r->id);
	if (ret) {
		log_info("zero-patch: proxy %s: QMP %s: %s; its BARs stay on the "
			 "socket path", r->id, r->v->qmp_path, err);
		/* A connection out of step is useless: start afresh. */
		qmp_close(q);
		r->v->qmp = NULL;
		r->v->qmp_failed = true;
		return -1;
	}
	return 0;
}

/* Make the regions what QEMU says, where it checks out. */
static void refresh(struct relay *r)
{
	struct qmp_pci_dev dev;
	bool seen[NBARS] = { false };

	if (r->ctl < 0 || !r->backend)
		return;
	/*
	 * Nothing can be mapped before the guest turns decoding on (after a
	 * reset the command byte is unknown again), and the proxy's own
	 * sizing writes come from QEMU's main thread during realize, when
	 * QMP cannot answer: do not ask then.
	 */
	if (!cfg_known(r, 0x04, 1) || !(r->cfg[0x04] & 0x3)) {
		for (int i = 0; i < NBARS; i++)
			bar_del(r, i);
		write_stats(r);
		return;
	}
	if (query_dev(r, &dev) < 0) {
		for (int i = 0; i < NBARS; i++)
			bar_del(r, i);
		write_stats(r);
		return;
	}
	for (int k = 0; k < dev.nbars; k++) {
		const struct qmp_bar *b = &dev.bars[k];
		struct bar_reg *br;

		if (b->bar < 0 || b->bar >= NBARS)
			continue;
		br = &r->bar[b->bar];
		seen[b->bar] = true;
		if (!b->mapped || !bar_checks_out(r, b)) {
			bar_del(r, b->bar);
			continue;
		}
		if (br->on && br->addr == b->addr && br->size == b->size &&
		    br->io == b->io)
			continue;
		bar_del(r, b->bar);
		bar_add(r, b);
	}
	for (int i = 0; i < NBARS; i++)
		if (!seen[i])
			bar_del(r, i);
	write_stats(r);
}

/* ---- mpdev set-up ---------------------------------------------------- */

static int setup_fail(struct relay *r, char *err, size_t len, const char *what)
{
	snprintf(err, len, "proxy %s: %s: %s", r->id, what, strerror(errno));
	close_fd(&r->ctl);
	return -1;
}

/*
 * Open mpdev, attach QEMU's VM, create the backend and hand it to the
 * remote (MPDEV_BACKEND, whose answer is read here and not forwarded).
 * Called at the first config write that touches a BAR, with nothing else
 * owed.  0, or -1 with @err (the remote declining is an error: it must
 * understand the message).
 */
static int relay_setup_mpdev(struct relay *r, char *err, size_t len)
{
	struct mpdev_features f = { 0 };
	struct mpdev_attach_vm at = { .vm_fd = r->v->vm_fd };
	struct mpdev_backend_args ba = { .flags = MPDEV_BACKEND_CLOEXEC };
	struct wire_msg m = { 0 };
	struct mpq_wire w = { .cmd = MPQ_CMD_MPDEV_BACKEND };
	struct mpq_mpdev_backend *b = &w.data.mpdev;
	uint64_t status;
	int bfd;

	r->ctl = open(r->v->mpdev_path, O_RDWR | O_CLOEXEC);
	if (r->ctl < 0)
		return setup_fail(r, err, len, r->v->mpdev_path);
	if (ioctl(r->ctl, MPDEV_GET_FEATURES, &f) < 0)
		return setup_fail(r, err, len, "MPDEV_GET_FEATURES");
	if (!(f.region_flags & MPDEV_REGION_NONPOSTED)) {
		errno = EOPNOTSUPP;
		return setup_fail(r, err, len, "the kernel lacks non-posted regions");
	}
	r->cookies = f.features & MPDEV_FEAT_REGION_COOKIE;
	if (ioctl(r->ctl, MPDEV_ATTACH_VM, &at) < 0)
		return setup_fail(r, err, len, "MPDEV_ATTACH_VM (QEMU's VM)");
	bfd = ioctl(r->ctl, MPDEV_CREATE_BACKEND, &ba);
	if (bfd < 0)
		return setup_fail(r, err, len, "MPDEV_CREATE_BACKEND");

	/* Region id = BAR index, as the patched proxy does. */
	b->magic = MPQ_MPDEV_MAGIC;
	b->version = MPQ_MPDEV_VERSION;
	w.size = sizeof(*b);
	memcpy(m.hdr, &w, MPQ_HDR_SIZE);
	memcpy(m.payload, b, sizeof(*b));
	m.size = sizeof(*b);
	m.fds[0] = bfd;
	m.nfds = 1;
	/* msg_send() closes our copy: the kernel sees the remote go. */
	if (msg_send(r, r->rfd, &m, "the remote") < 0) {
		snprintf(err, len, "proxy %s: MPDEV_BACKEND %.300s", r->id, r->why);
		close_fd(&r->ctl);
		return -1;
	}
	if (msg_read(r, r->rfd, &m, BACKEND_REPLY_MS, "the remote") < 0) {
		snprintf(err, len, "proxy %s: no answer to MPDEV_BACKEND (%.300s)",
			 r->id, r->why);
		close_fd(&r->ctl);
		return -1;
	}
	msg_drop_fds(&m);
	status = ~0ULL;
	if (m.cmd == MPQ_CMD_RET && m.size == sizeof(status))
		memcpy(&status, m.payload, sizeof(status));
	if (status != MPQ_MPDEV_OK) {
		snprintf(err, len, "the remote for proxy %s declined the mpdev "
			 "backend (%s, status 0x%llx): it must understand "
			 "MPQEMU_CMD_MPDEV_BACKEND (mpdev-remote, or QEMU with "
			 "the mpdev series)", r->id, mpq_cmd_name(m.cmd),
			 (unsigned long long)status);
		close_fd(&r->ctl);
		return -1;
	}
	r->backend = true;
	log_info("zero-patch: proxy %s: QEMU's KVM VM (pid %d) attached to "
		 "mpdev, backend handed to the remote", r->id,
		 (int)r->v->qemu_pid);
	write_stats(r);
	return 0;
}

/* ---- the relay ------------------------------------------------------- */

/*
 * A config write from QEMU (the guest's, already applied to QEMU's own
 * copy): which BARs may it move or turn off?  A bit per BAR; updates the
 * shadow.  Bytes that keep their value change nothing, so the guest's
 * frequent command writes (bus master, INTx disable) leave the regions be.
 */
static unsigned int cfg_write(struct relay *r, const struct mpq_pci_conf *c)
{
	unsigned int hit = 0;

	if (c->len != 1 && c->len != 2 && c->len != 4)
		return 0;
	for (int i = 0; i < c->len; i++) {
		uint32_t off = c->addr + (uint32_t)i;
		uint8_t v = (uint8_t)(c->val >> (8 * i));
		bool same;

		if (off >= CFG_SHADOW)
			continue;
		same = r->known[off] && r->cfg[off] == v;
		if (off == 0x04 && (!r->known[off] || ((r->cfg[off] ^ v) & 0x3)))
			hit |= (1u << NBARS) - 1;
		else if (off >= 0x10 && off < 0x28 && !same)
			/* This BAR, or the 64-bit BAR below whose top it is. */
			hit |= (3u << ((off - 0x10) / 4)) >> 1;
		r->cfg[off] = v;
		r->known[off] = true;
	}
	return hit & ((1u << NBARS) - 1);
}

static void owe(struct relay *r, bool refresh_after)
{
	if (r->nowed == MAX_OWED) {
		r->refresh_lost = true;
		return;
	}
	r->owed[(r->owed_head + r->nowed++) % MAX_OWED] = refresh_after;
}

enum relay_status relay_from_qemu(struct relay *r)
{
	struct wire_msg m;
	unsigned int hit = 0;
	char err[512];

	if (msg_read(r, r->qfd, &m, -1, "QEMU") < 0)
		return RELAY_QEMU_GONE;
	if (m.cmd == MPQ_CMD_PCI_CFGWRITE && m.size >= sizeof(struct mpq_pci_conf)) {
		struct mpq_pci_conf c;

		memcpy(&c, m.payload, sizeof(c));
		r->st.cfg_writes++;
		hit = cfg_write(r, &c);
		if (hit)
			r->st.bar_cfg_writes++;
		/*
		 * The guest is about to map the device: set mpdev up now,
		 * while this vCPU waits and nothing else is owed (the proxy
		 * has one request out at a time).
		 */
		if (hit && r->ctl < 0 && !r->nowed) {
			if (r->v->vm_fd < 0) {
				if (zp_take_vm_fd(r->v, 5000, err, sizeof(err)) < 0) {
					snprintf(r->why, sizeof(r->why), "%s", err);
					msg_drop_fds(&m);
					return RELAY_REMOTE_BAD;
				}
			}
			if (relay_setup_mpdev(r, err, sizeof(err)) < 0) {
				snprintf(r->why, sizeof(r->why), "%s", err);
				msg_drop_fds(&m);
				return RELAY_REMOTE_BAD;
			}
		}
		for (int i = 0; i < NBARS; i++)
			if (hit & (1u << i))
				bar_del(r, i);
		if (hit)
			write_stats(r);
	} else if (m.cmd == MPQ_CMD_DEVICE_RESET) {
		/*
		 * QEMU resets the config space itself; the main thread sends
		 * this with the VM paused and waits, so QMP cannot answer
		 * now.  Nothing is mapped after a reset anyway: everything
		 * off, and on again only when the guest programs the BARs.
		 */
		r->st.resets++;
		for (int i = 0; i < NBARS; i++)
			bar_del(r, i);
		memset(r->known, 0, sizeof(r->known));
		write_stats(r);
	}
	if (mpq_cmd_wants_reply(m.cmd))
		owe(r, hit != 0);
	if (msg_send(r, r->rfd, &m, "the remote") < 0)
		return RELAY_REMOTE_BAD;
	return RELAY_OK;
}

enum relay_status relay_from_remote(struct relay *r)
{
	struct wire_msg m;
	bool refresh_now = false;

	if (msg_read(r, r->rfd, &m, -1, "the remote") < 0)
		return RELAY_REMOTE_BAD;
	/* The remote has no business sending fds to QEMU. */
	msg_drop_fds(&m);
	if (m.cmd == MPQ_CMD_RET && r->nowed) {
		refresh_now = r->owed[r->owed_head];
		r->owed_head = (r->owed_head + 1) % MAX_OWED;
		r->nowed--;
	}
	if (r->refresh_lost && m.cmd == MPQ_CMD_RET) {
		refresh_now = true;
		r->refresh_lost = false;
	}
	/*
	 * Before QEMU gets the answer, so before the guest's config write
	 * completes.  What the remote sent does not matter here: QMP and
	 * the guest's own values decide.
	 */
	if (refresh_now)
		refresh(r);
	if (msg_send(r, r->qfd, &m, "QEMU") < 0)
		return RELAY_QEMU_GONE;
	return RELAY_OK;
}
