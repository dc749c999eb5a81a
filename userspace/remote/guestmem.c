// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Guest RAM mapping for DMA.
 *
 * QEMU 7.2 (proxy_memory_listener_commit() in
 * hw/remote/proxy-memory-listener.c) sends the complete list of RAM
 * sections on every memory topology commit, so a SYNC_SYSMEM replaces the
 * map rather than amending it (as remote_sysmem_reconfig() does).
 *
 * The peer controls the files: it could shrink one after we map it, and an
 * access past the end of a shared file mapping raises SIGBUS.  QEMU's memfd
 * backend seals its files against shrinking by default; for a file that is
 * not sealed, copies run under a sigsetjmp() guard that turns SIGBUS into a
 * DMA error.
 */
#define _GNU_SOURCE
#include "guestmem.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/*
 * volatile: the store before the copy must not be dropped as dead (it is
 * overwritten right after memcpy(), which the compiler knows does not read
 * it); only the signal handler does.
 */
static __thread sigjmp_buf *volatile gmem_jmp;
static bool sigbus_installed;

static void sigbus_handler(int sig, siginfo_t *si, void *uc)
{
	(void)si;
	(void)uc;
	if (gmem_jmp)
		siglongjmp(*gmem_jmp, 1);
	/* Not ours: die the way SIGBUS normally does. */
	signal(sig, SIG_DFL);
	raise(sig);
}

static void install_sigbus(void)
{
	struct sigaction sa;

	if (sigbus_installed)
		return;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = sigbus_handler;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGBUS, &sa, NULL) == 0)
		sigbus_installed = true;
}

void gmem_init(struct guestmem *g)
{
	memset(g, 0, sizeof(*g));
}

void gmem_clear(struct guestmem *g)
{
	for (int i = 0; i < g->n; i++) {
		if (g->r[i].map_base)
			munmap(g->r[i].map_base, g->r[i].map_len);
	}
	memset(g, 0, sizeof(*g));
}

static bool overlaps(const struct guestmem *g, uint64_t gpa, uint64_t size)
{
	for (int i = 0; i < g->n; i++) {
		const struct gmem_region *r = &g->r[i];

		if (gpa < r->gpa + r->size && r->gpa < gpa + size)
			return true;
	}
	return false;
}

int gmem_add_buffer(struct guestmem *g, uint64_t gpa, void *buf, uint64_t size)
{
	struct gmem_region *r;

	if (g->n >= GMEM_MAX_REGIONS || !size || gpa + size < gpa ||
	    overlaps(g, gpa, size))
		return -1;
	r = &g->r[g->n++];
	memset(r, 0, sizeof(*r));
	r->gpa = gpa;
	r->size = size;
	r->host = buf;
	return 0;
}

static int map_one(struct guestmem *g, uint64_t gpa, uint64_t size,
		   int64_t offset, int fd, char *err, size_t errlen)
{
	long page = sysconf(_SC_PAGESIZE);
	struct gmem_region *r;
	struct stat st;
	uint64_t aligned, delta;
	void *p;
	int seals;

	if (!size || gpa + size < gpa) {
		snprintf(err, errlen, "region at gpa 0x%llx has bad size 0x%llx",
			 (unsigned long long)gpa, (unsigned long long)size);
		return -1;
	}
	if (offset < 0 || (uint64_t)offset + size < (uint64_t)offset) {
		snprintf(err, errlen, "region at gpa 0x%llx has bad offset",
			 (unsigned long long)gpa);
		return -1;
	}
	if (overlaps(g, gpa, size)) {
		snprintf(err, errlen, "region at gpa 0x%llx overlaps another",
			 (unsigned long long)gpa);
		return -1;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "fd for gpa 0x%llx is not a regular file/memfd",
			 (unsigned long long)gpa);
		return -1;
	}
	if ((uint64_t)offset + size > (uint64_t)st.st_size) {
		snprintf(err, errlen, "region at gpa 0x%llx ends past its file",
			 (unsigned long long)gpa);
		return -1;
	}
	aligned = (uint64_t)offset & ~((uint64_t)page - 1);
	delta = (uint64_t)offset - aligned;
	if (size + delta > SIZE_MAX) {
		snprintf(err, errlen, "region too large");
		return -1;
	}
	p = mmap(NULL, size + delta, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
		 (off_t)aligned);
	if (p == MAP_FAILED) {
		snprintf(err, errlen, "mmap of gpa 0x%llx failed: %s",
			 (unsigned long long)gpa, strerror(errno));
		return -1;
	}
	r = &g->r[g->n++];
	r->gpa = gpa;
	r->size = size;
	r->map_base = p;
	r->map_len = size + delta;
	r->host = (uint8_t *)p + delta;
	seals = fcntl(fd, F_GET_SEALS);
	r->guarded = seals < 0 || !(seals & F_SEAL_SHRINK);
	if (r->guarded)
		install_sigbus();
	return 0;
}

int gmem_sync(struct guestmem *g, int n, const uint64_t *gpas,
	      const uint64_t *sizes, const int64_t *offsets, int *fds,
	      char *err, size_t errlen)
{
	int ret = 0;

	gmem_clear(g);
	if (n < 0 || n > GMEM_MAX_REGIONS) {
		snprintf(err, errlen, "bad region count %d", n);
		ret = -1;
	}
	for (int i = 0; !ret && i < n; i++) {
		if (map_one(g, gpas[i], sizes[i], offsets[i], fds[i], err,
			    errlen) < 0) {
			gmem_clear(g);
			ret = -1;
		}
	}
	for (int i = 0; i < n && i < GMEM_MAX_REGIONS; i++) {
		if (fds[i] >= 0)
			close(fds[i]);
		fds[i] = -1;
	}
	return ret;
}

/* The region holding @gpa, or NULL. */
static struct gmem_region *find(struct guestmem *g, uint64_t gpa)
{
	for (int i = 0; i < g->n; i++) {
		if (gpa - g->r[i].gpa < g->r[i].size)
			return &g->r[i];
	}
	return NULL;
}

/*
 * Copy one chunk under the SIGBUS guard.  volatile: the values must
 * survive the siglongjmp.
 */
static int guarded_copy(void *dst, const void *src, size_t len, bool guarded)
{
	sigjmp_buf jb;
	sigjmp_buf *volatile saved = gmem_jmp;

	if (!guarded) {
		memcpy(dst, src, len);
		return 0;
	}
	if (sigsetjmp(jb, 1)) {
		gmem_jmp = saved;
		return -1;
	}
	gmem_jmp = &jb;
	memcpy(dst, src, len);
	gmem_jmp = saved;
	return 0;
}

/* Walk [gpa, gpa+len) region by region; adjacent regions may be spanned. */
static int gmem_copy(struct guestmem *g, uint64_t gpa, uint8_t *buf,
		     size_t len, bool to_guest)
{
	if (gpa + len < gpa)
		return -1;
	/* Check the whole range first so a bad DMA touches nothing. */
	for (uint64_t a = gpa, left = len; left;) {
		struct gmem_region *r = find(g, a);
		uint64_t chunk;

		if (!r)
			return -1;
		chunk = r->size - (a - r->gpa);
		if (chunk > left)
			chunk = left;
		a += chunk;
		left -= chunk;
	}
	while (len) {
		struct gmem_region *r = find(g, gpa);
		uint64_t off, chunk;

		if (!r)
			return -1;
		off = gpa - r->gpa;
		chunk = r->size - off;
		if (chunk > len)
			chunk = len;
		if (to_guest ? guarded_copy(r->host + off, buf, chunk, r->guarded)
			     : guarded_copy(buf, r->host + off, chunk, r->guarded))
			return -1;
		gpa += chunk;
		buf += chunk;
		len -= chunk;
	}
	return 0;
}

int gmem_read(struct guestmem *g, uint64_t gpa, void *buf, size_t len)
{
	return gmem_copy(g, gpa, buf, len, false);
}

int gmem_write(struct guestmem *g, uint64_t gpa, const void *buf, size_t len)
{
	return gmem_copy(g, gpa, (uint8_t *)buf, len, true);
}
