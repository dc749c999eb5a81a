// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Host-side tests for mpdev-remote and mpqemu-run.
 *
 * The remote is the real binary, started on one end of a socketpair; the
 * test speaks the mpqemu wire format from the other end (wire_client.c)
 * the way QEMU 7.2's x-pci-proxy-dev does, then checks replies, guest RAM,
 * eventfds and the stats file.  The mpdev fast path is driven with a
 * SOCK_SEQPACKET socket standing in for the backend fd (blocking mode) and
 * a memfd standing in for the ring (busy-poll mode), the backend's ioctls
 * answered by tests/fake_mpdev.c (LD_PRELOAD): no kernel module.
 *
 * usage: test_remote PATH/mpdev-remote PATH/mpqemu-run PATH/fake_mpdev.so
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/mpdev.h>

#include "../../mpqemu-run/qemu_args.h"
#include "../testdev.h"
#include "mpqemu_proto.h"
#include "tap.h"
#include "wire_client.h"

#define BAR0	0xfebf0000ull
#define BAR1	0xc000ull
#define BAR2	0xfebe0000ull
#define ONES	(~0ull)
#define MSI_MAGIC	0x4653534du
#define MSI_KIND	1
/* testdev's MSI-X capability, after the 12-byte vendor one at 0x40. */
#define MSIX_CAP	0x4c
#define MSIX_CTL	(MSIX_CAP + 2)

static const char *remote_bin, *run_bin, *fake_so;
static char tmpdir[] = "/tmp/mpdev-test.XXXXXX";
static char fake_conf_path[256];

struct rproc {
	pid_t pid;
	int sock;
	char stats[256];
	char log[256];
};

/* Start mpdev-remote on a socketpair; extra args end with NULL. */
static bool start_remote(struct rproc *rp, const char *tag, int keep_fd, ...)
{
	const char *argv[32];
	char fdstr[16];
	int sv[2], n = 0;
	va_list ap;

	snprintf(rp->stats, sizeof(rp->stats), "%s/%s.stats", tmpdir, tag);
	snprintf(rp->log, sizeof(rp->log), "%s/%s.log", tmpdir, tag);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return false;
	snprintf(fdstr, sizeof(fdstr), "%d", sv[0]);
	argv[n++] = remote_bin;
	argv[n++] = "--fd";
	argv[n++] = fdstr;
	argv[n++] = "--stats-file";
	argv[n++] = rp->stats;
	va_start(ap, keep_fd);
	for (const char *a; (a = va_arg(ap, const char *)) && n < 30;)
		argv[n++] = a;
	va_end(ap);
	argv[n] = NULL;
	rp->pid = fork();
	if (rp->pid == 0) {
		int logfd = open(rp->log, O_WRONLY | O_CREAT | O_TRUNC, 0644);

		dup2(logfd, 2);
		/* The backend fd's ioctls come from tests/fake_mpdev.c. */
		setenv("LD_PRELOAD", fake_so, 1);
		setenv("FAKE_MPDEV_CONF", fake_conf_path, 1);
		fcntl(sv[0], F_SETFD, 0);
		if (keep_fd >= 0)
			fcntl(keep_fd, F_SETFD, 0);
		execv(remote_bin, (char **)argv);
		_exit(127);
	}
	close(sv[0]);
	rp->sock = sv[1];
	return rp->pid > 0;
}

/* Wait for the remote to exit (up to @ms); returns the wait status or -1. */
static int wait_exit(pid_t pid, int ms)
{
	for (int i = 0; i < ms / 10; i++) {
		int st;

		if (waitpid(pid, &st, WNOHANG) == pid)
			return st;
		usleep(10000);
	}
	return -1;
}

static int stop_remote(struct rproc *rp)
{
	int st;

	close(rp->sock);
	st = wait_exit(rp->pid, 5000);
	if (st < 0) {
		kill(rp->pid, SIGKILL);
		waitpid(rp->pid, NULL, 0);
	}
	return st;
}

/* Value of "key=" in a stats or text file; -1 if absent. */
static long long file_key(const char *path, const char *key)
{
	char line[256];
	size_t kl = strlen(key);
	FILE *f = fopen(path, "r");
	long long v = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, key, kl) && line[kl] == '=')
			v = atoll(line + kl + 1);
	}
	fclose(f);
	return v;
}

/* Whether @needle is in @path from byte @from on. */
static bool file_contains_from(const char *path, off_t from, const char *needle)
{
	char buf[65536];
	int fd = open(path, O_RDONLY);
	ssize_t n;

	if (fd < 0)
		return false;
	n = pread(fd, buf, sizeof(buf) - 1, from);
	close(fd);
	if (n < 0)
		return false;
	buf[n] = 0;
	return strstr(buf, needle) != NULL;
}

static bool file_contains(const char *path, const char *needle)
{
	return file_contains_from(path, 0, needle);
}

static off_t file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? st.st_size : 0;
}

/* Ask the remote for a stats dump and wait until the file shows @key. */
static long long stat_now(struct rproc *rp, const char *key)
{
	struct stat st0, st1;
	bool had = stat(rp->stats, &st0) == 0;

	kill(rp->pid, SIGUSR1);
	for (int i = 0; i < 200; i++) {
		usleep(5000);
		if (stat(rp->stats, &st1) == 0 &&
		    (!had || st1.st_ino != st0.st_ino))
			break;
	}
	return file_key(rp->stats, key);
}

static uint64_t eventfd_count(int efd)
{
	uint64_t v = 0;

	if (read(efd, &v, sizeof(v)) != sizeof(v))
		return 0;
	return v;
}

/* Program the BARs and enable decoding and bus mastering. */
static void setup_bars(int s)
{
	wc_cfg_write(s, 0x10, (uint32_t)BAR0, 4);
	wc_cfg_write(s, 0x14, (uint32_t)BAR1, 4);
	wc_cfg_write(s, 0x18, (uint32_t)BAR2, 4);
	wc_cfg_write(s, 0x04, 0x0007, 2);
}

static void test_config(int s)
{
	uint32_t sizes[7];
	bool io1 = false;

	ok(wc_cfg_read(s, 0x00, 2) == TESTDEV_VENDOR_ID, "vendor id (len 2)");
	ok(wc_cfg_read(s, 0x02, 2) == TESTDEV_DEVICE_ID, "device id (len 2)");
	ok(wc_cfg_read(s, 0x00, 4) ==
	   ((uint32_t)TESTDEV_DEVICE_ID << 16 | TESTDEV_VENDOR_ID), "ids (len 4)");
	ok(wc_cfg_read(s, 0x0a, 2) == (TESTDEV_CLASS >> 8), "class (as the proxy reads it)");
	ok(wc_cfg_read(s, 0x0e, 1) == 0, "header type 0");
	ok(wc_cfg_read(s, 0x3d, 1) == 1, "interrupt pin INTA");
	ok(wc_cfg_write(s, 0x3c, 0x0b, 1) == 0 && wc_cfg_read(s, 0x3c, 1) == 0x0b,
	   "interrupt line writable");
	ok(wc_cfg_read(s, 0x06, 2) & 0x10, "status: capability list");
	ok(wc_cfg_read(s, 0x40, 2) == 0x0009 && wc_cfg_read(s, 0x41, 1) == 0,
	   "MSI-X hidden until the proxy says it carries it: the vendor cap ends the list");
	ok(wc_msi_fds(s, MSI_MAGIC, MSI_KIND + 1, 0, 0, NULL, 0) == ~0ull &&
	   wc_cfg_read(s, 0x41, 1) == 0,
	   "MSI_FDS of kind MSI without fds (the proxy offers MSI): declined, MSI-X still hidden");
	ok(wc_msi_fds(s, MSI_MAGIC, MSI_KIND, 0, 0, NULL, 0) == 0,
	   "MSI_FDS without fds, total 0 (the proxy carries MSI-X): taken");
	{
		uint32_t cap = wc_cfg_read(s, 0x34, 1);
		uint32_t hdr = wc_cfg_read(s, cap, 2);
		uint32_t mx = hdr >> 8, mhdr = wc_cfg_read(s, mx, 2);

		ok(cap == 0x40 && (hdr & 0xff) == 0x09 && mx == 0x4c,
		   "capability list: vendor-specific cap at 0x%x, next 0x%x", cap, mx);
		ok(wc_cfg_read(s, cap + 4, 4) == TESTDEV_MAGIC, "vendor cap carries magic");
		ok((mhdr & 0xff) == 0x11 && (mhdr >> 8) == 0,
		   "capability list: MSI-X (0x11) at 0x%x ends the list (next 0x%x)",
		   mx, mhdr >> 8);
		ok(wc_cfg_read(s, mx + 2, 2) == TESTDEV_MSIX_VECTORS - 1,
		   "MSI-X: table size %d, disabled, unmasked (control 0x%04x)",
		   TESTDEV_MSIX_VECTORS, (unsigned)wc_cfg_read(s, mx + 2, 2));
		ok(wc_cfg_read(s, mx + 4, 4) == (TD_MSIX_TABLE | 2) &&
		   wc_cfg_read(s, mx + 8, 4) == (TD_MSIX_PBA | 2),
		   "MSI-X: table at BAR2+0x%x, PBA at BAR2+0x%x", TD_MSIX_TABLE, TD_MSIX_PBA);
		wc_cfg_write(s, mx + 2, 0xffff, 2);
		ok(wc_cfg_read(s, mx + 2, 2) == (0xc000 | (TESTDEV_MSIX_VECTORS - 1)),
		   "MSI-X: only Enable and Function Mask are writable (0x%04x)",
		   (unsigned)wc_cfg_read(s, mx + 2, 2));
		wc_cfg_write(s, mx + 2, 0, 2);
		wc_cfg_write(s, mx + 4, 0xffffffff, 4);
		wc_cfg_write(s, mx + 8, 0xffffffff, 4);
		wc_cfg_write(s, mx, 0xffff, 2);
		ok(wc_cfg_read(s, mx + 2, 2) == TESTDEV_MSIX_VECTORS - 1 &&
		   wc_cfg_read(s, mx + 4, 4) == (TD_MSIX_TABLE | 2) &&
		   wc_cfg_read(s, mx + 8, 4) == (TD_MSIX_PBA | 2) &&
		   wc_cfg_read(s, mx, 2) == 0x11,
		   "MSI-X: id, next, table and PBA words read-only");
	}
	ok(wc_cfg_write(s, 0x00, 0xffffffff, 4) == 0 &&
	   wc_cfg_read(s, 0x00, 2) == TESTDEV_VENDOR_ID, "ids read-only");

	/* The stock proxy's probe_pci_info(), step by step. */
	for (int i = 0; i < 7; i++) {
		uint32_t a = 0x10 + 4 * i, orig, v;

		orig = wc_cfg_read(s, a, 4);
		wc_cfg_write(s, a, 0xffffffff, 4);
		v = wc_cfg_read(s, a, 4);
		sizes[i] = ~(v & 0xfffffff0) + 1;
		wc_cfg_write(s, a, orig, 4);
		if (i == 1)
			io1 = v & 1;
	}
	ok(sizes[0] == 0x1000, "BAR0 sizes to 4 KiB (got 0x%x)", sizes[0]);
	ok(sizes[1] == 0x20 && io1, "BAR1 sizes to 32 bytes of I/O (got 0x%x)", sizes[1]);
	ok(sizes[2] == TESTDEV_BAR2_SIZE && !(wc_cfg_read(s, 0x18, 4) & 1),
	   "BAR2 (MSI-X table and PBA) sizes to 4 KiB of memory (got 0x%x)", sizes[2]);
	ok(!sizes[3] && !sizes[4] && !sizes[5] && !sizes[6],
	   "BARs 3-5 and dword 0x28 size to 0");
	ok(wc_cfg_read(s, 0x10, 4) == 0 && wc_cfg_read(s, 0x14, 4) == 1,
	   "BARs restored after probing");

	/* PCI 2.3 INTx masking: the bit must stick (uio_pci_generic checks). */
	wc_cfg_write(s, 0x04, 0x0400, 2);
	ok(wc_cfg_read(s, 0x04, 2) == 0x0400, "command bit 10 (Interrupt Disable) writable");
	wc_cfg_write(s, 0x04, 0, 2);
	ok(wc_cfg_read(s, 0x04, 2) == 0, "command cleared");

	ok(wc_cfg_read(s, 0xfc, 4) == 0, "last dword readable");
	ok(wc_cfg_read(s, 0xff, 1) == 0, "last byte readable");
	ok(wc_cfg_read(s, 0x100, 4) == ONES, "read past 256 bytes: all-ones");
	ok(wc_cfg_read(s, 0xfe, 4) == ONES, "read crossing the end: all-ones");
	ok(wc_cfg_read(s, 0x10, 3) == ONES, "read of length 3: all-ones");
	ok(wc_cfg_read(s, 0xffffffff, 4) == ONES, "read at 0xffffffff: all-ones");
	ok(wc_cfg_write(s, 0x200, 1, 4) == ONES, "write past 256 bytes answered all-ones");
}

static void test_bars(struct rproc *rp)
{
	int s = rp->sock;
	static const unsigned sizes[] = { 1, 2, 4, 8 };
	bool all = true;

	ok(wc_bar_read(s, BAR0, 4, true) == ONES, "BAR0 does not decode before enabled");
	setup_bars(s);
	ok(wc_bar_read(s, BAR0 + TD_MAGIC, 4, true) == TESTDEV_MAGIC, "BAR0 magic");
	ok(wc_bar_read(s, BAR0 + TD_MAGIC, 8, true) ==
	   ((uint64_t)TESTDEV_VERSION << 32 | TESTDEV_MAGIC), "BAR0 magic+version, 8 bytes");
	ok(wc_bar_read(s, BAR0 + TD_MAGIC + 1, 1, true) == 'P', "BAR0 byte read");
	ok(wc_bar_read(s, BAR1 + TDIO_MAGIC, 4, false) == TESTDEV_MAGIC, "BAR1 (I/O) magic");
	ok(wc_bar_read(s, BAR0, 4, false) == ONES, "memory address in I/O space: all-ones");

	for (int k = 0; k < 4; k++) {
		unsigned sz = sizes[k];
		uint64_t v = 0x1122334455667788ull & (sz == 8 ? ~0ull : (1ull << (8 * sz)) - 1);

		for (uint64_t off = 0; off < TD_SCRATCH_SIZE; off += 0x38) {
			uint64_t a = BAR0 + TD_SCRATCH + (off & ~(uint64_t)(sz - 1));

			wc_bar_write(s, a, v ^ off, sz, true);
			all &= wc_bar_read(s, a, sz, true) == (v ^ off);
		}
	}
	ok(all, "BAR0 scratch: write/read at sizes 1, 2, 4, 8");
	wc_bar_write(s, BAR0 + TD_SCRATCH, 0x0807060504030201ull, 8, true);
	ok(wc_bar_read(s, BAR0 + TD_SCRATCH + 2, 2, true) == 0x0403,
	   "BAR0 scratch is little endian");
	all = true;
	for (int k = 0; k < 3; k++) {
		unsigned sz = sizes[k];

		wc_bar_write(s, BAR1 + TDIO_SCRATCH, 0xa5a5a5a5 >> (32 - 8 * sz), sz, false);
		all &= wc_bar_read(s, BAR1 + TDIO_SCRATCH, sz, false) ==
		       (0xa5a5a5a5u >> (32 - 8 * sz));
	}
	ok(all, "BAR1 (I/O) scratch at sizes 1, 2, 4");

	{
		uint64_t c0 = wc_bar_read(s, BAR0 + TD_COUNTER, 8, true);
		uint64_t c1 = wc_bar_read(s, BAR0 + TD_COUNTER, 8, true);
		uint64_t c2 = wc_bar_read(s, BAR0 + TD_COUNTER, 4, true);

		ok(c1 == c0 + 1 && c2 == c0 + 2, "counter increments once per read, any size");
		wc_bar_write(s, BAR0 + TD_COUNTER, 100, 8, true);
		ok(wc_bar_read(s, BAR0 + TD_COUNTER, 8, true) == 100 &&
		   wc_bar_read(s, BAR0 + TD_COUNTER, 8, true) == 101, "counter writable");
		c0 = wc_bar_read(s, BAR1 + TDIO_COUNTER, 4, false);
		ok(wc_bar_read(s, BAR1 + TDIO_COUNTER, 2, false) == ((c0 + 1) & 0xffff),
		   "I/O counter increments per read");
	}
	for (int i = 0; i < 5; i++)
		wc_bar_write(s, BAR0 + TD_DOORBELL, 0xd00d0000 + i, 4, true);
	ok(wc_bar_read(s, BAR0 + TD_DOORBELL_COUNT, 8, true) == 5 &&
	   wc_bar_read(s, BAR0 + TD_DOORBELL, 4, true) == 0xd00d0004,
	   "doorbell counts writes and keeps the last value");
	ok(wc_bar_read(s, BAR0 + TD_DOORBELL_COUNT, 8, true) == 5,
	   "doorbell reads have no side effect");

	ok(wc_bar_read(s, BAR0 + 0x1000, 4, true) == ONES, "read past BAR0: all-ones");
	ok(wc_bar_read(s, BAR0 + 0xffc, 8, true) == ONES, "read straddling BAR0's end: all-ones");
	ok(wc_bar_read(s, BAR0 - 4, 4, true) == ONES, "read below BAR0: all-ones");
	ok(wc_bar_read(s, BAR0, 3, true) == ONES, "read of size 3: all-ones");
	ok(wc_bar_read(s, BAR0, 16, true) == ONES, "read of size 16: all-ones");
	ok(wc_bar_read(s, BAR0, 0, true) == ONES, "read of size 0: all-ones");
	ok(wc_bar_read(s, BAR1 + 0x1e, 4, false) == ONES, "I/O read past BAR1: all-ones");
	ok(wc_bar_write(s, BAR0 + 0x2000, 1, 4, true) == ONES, "write past BAR0 answered all-ones");
	ok(wc_bar_read(s, 0xffffffffffffffffull, 8, true) == ONES, "read at 2^64-1: all-ones");
	ok(wc_bar_read(s, BAR0 + TD_MAGIC, 4, true) == TESTDEV_MAGIC, "device still answers");
	ok(stat_now(rp, "socket.bad_access") >= 9, "bad accesses counted");
}

static void test_dma(struct rproc *rp)
{
	int s = rp->sock;
	int mfd = memfd_create("guest-ram", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	int fds[2];
	uint64_t gpas[2] = { 0, 0x100000 }, sizes[2] = { 0x10000, 0x10000 };
	uint64_t offs[2] = { 0, 0x10000 };
	uint8_t *ram;
	bool same = true;

	if (ftruncate(mfd, 0x20000) < 0)
		return;
	ram = mmap(NULL, 0x20000, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
	for (int i = 0; i < 0x10000; i++)
		ram[i] = i * 7;
	/* Two fds for the one file, as QEMU sends one per section. */
	fds[0] = mfd;
	fds[1] = dup(mfd);
	ok(wc_sync_sysmem(s, 2, gpas, sizes, offs, fds) == 0 && wc_no_reply(s, 100),
	   "SYNC_SYSMEM gets no reply");
	close(fds[1]);

	wc_bar_write(s, BAR0 + TD_DMA_SRC, 0x100, 8, true);
	wc_bar_write(s, BAR0 + TD_DMA_DST, 0x100200, 8, true);
	wc_bar_write(s, BAR0 + TD_DMA_LEN, 0x1000, 4, true);
	wc_bar_write(s, BAR0 + TD_DMA_CMD, TD_DMA_CMD_GO, 4, true);
	ok(wc_bar_read(s, BAR0 + TD_DMA_STATUS, 4, true) == TD_DMA_ST_DONE, "DMA done");
	for (int i = 0; i < 0x1000; i++)
		same &= ram[0x10200 + i] == (uint8_t)((0x100 + i) * 7);
	ok(same, "DMA copied guest RAM across regions (memfd offsets honoured)");
	ok(wc_bar_read(s, BAR0 + TD_INT_STATUS, 4, true) & TD_INT_DMA_DONE,
	   "DMA done raises INT_STATUS");
	wc_bar_write(s, BAR0 + TD_INT_STATUS, TD_INT_ALL, 4, true);
	ok(wc_bar_read(s, BAR0 + TD_INT_STATUS, 4, true) == 0, "INT_STATUS is write-1-to-clear");

	/* Outside guest RAM: the hole between the regions, and past the end. */
	wc_bar_write(s, BAR0 + TD_DMA_SRC, 0xfff0, 8, true);
	wc_bar_write(s, BAR0 + TD_DMA_LEN, 0x20, 4, true);
	wc_bar_write(s, BAR0 + TD_DMA_CMD, TD_DMA_CMD_GO, 4, true);
	ok(wc_bar_read(s, BAR0 + TD_DMA_STATUS, 4, true) == TD_DMA_ST_ERROR,
	   "DMA reaching past a region: error status");
	wc_bar_write(s, BAR0 + TD_DMA_SRC, 0, 8, true);
	wc_bar_write(s, BAR0 + TD_DMA_DST, 0xfffffffffffff000ull, 8, true);
	wc_bar_write(s, BAR0 + TD_DMA_LEN, 0x2000, 4, true);
	wc_bar_write(s, BAR0 + TD_DMA_CMD, TD_DMA_CMD_GO, 4, true);
	ok(wc_bar_read(s, BAR0 + TD_DMA_STATUS, 4, true) == TD_DMA_ST_ERROR,
	   "DMA wrapping the address space: error status");
	wc_bar_write(s, BAR0 + TD_DMA_LEN, TD_DMA_MAX_LEN + 1, 4, true);
	wc_bar_write(s, BAR0 + TD_DMA_CMD, TD_DMA_CMD_GO, 4, true);
	ok(wc_bar_read(s, BAR0 + TD_DMA_STATUS, 4, true) == TD_DMA_ST_ERROR,
	   "DMA longer than the maximum: error status");
	/* Bus mastering off: no DMA. */
	wc_cfg_write(s, 0x04, 0x0003, 2);
	wc_bar_write(s, BAR0 + TD_DMA_SRC, 0, 8, true);
	wc_bar_write(s, BAR0 + TD_DMA_DST, 0x100000, 8, true);
	wc_bar_write(s, BAR0 + TD_DMA_LEN, 16, 4, true);
	wc_bar_write(s, BAR0 + TD_DMA_CMD, TD_DMA_CMD_GO, 4, true);
	ok(wc_bar_read(s, BAR0 + TD_DMA_STATUS, 4, true) == TD_DMA_ST_ERROR,
	   "DMA refused while bus mastering is disabled");
	wc_cfg_write(s, 0x04, 0x0007, 2);
	ok(stat_now(rp, "dma.faults") >= 3 && file_key(rp->stats, "gmem.regions") == 2,
	   "DMA faults counted, two regions mapped");

	/* A bad map empties the map (DMA fails) but the device lives on. */
	{
		uint64_t g = 0, sz = 0x40000, o = 0;
		int f = dup(mfd);

		ok(wc_sync_sysmem(s, 1, &g, &sz, &o, &f) == 0 && wc_no_reply(s, 100),
		   "SYNC_SYSMEM with a region past the file's end: no reply");
		close(f);
		ok(stat_now(rp, "gmem.regions") == 0, "bad region: map emptied");
		f = open("/dev/null", O_RDWR);
		sz = 0x1000;
		wc_sync_sysmem(s, 1, &g, &sz, &o, &f);
		close(f);
		ok(stat_now(rp, "gmem.regions") == 0, "non-file fd refused");
	}
	/* Restore a good map for later tests. */
	fds[0] = mfd;
	fds[1] = mfd;
	wc_sync_sysmem(s, 2, gpas, sizes, offs, fds);
	ok(stat_now(rp, "gmem.regions") == 2, "map replaced by the next SYNC_SYSMEM");
	/*
	 * The peer shrinks the (unsealed) file under the mapping: DMA must
	 * fail cleanly instead of the remote dying of SIGBUS.
	 */
	if (ftruncate(mfd, 0x8000) == 0) {
		wc_bar_write(s, BAR0 + TD_DMA_SRC, 0x100000, 8, true);
		wc_bar_write(s, BAR0 + TD_DMA_DST, 0x0, 8, true);
		wc_bar_write(s, BAR0 + TD_DMA_LEN, 0x100, 4, true);
		wc_bar_write(s, BAR0 + TD_DMA_CMD, TD_DMA_CMD_GO, 4, true);
		ok(wc_bar_read(s, BAR0 + TD_DMA_STATUS, 4, true) == TD_DMA_ST_ERROR,
		   "DMA from a truncated memfd: error status, no SIGBUS death");
		wc_bar_write(s, BAR0 + TD_DMA_SRC, 0x0, 8, true);
		wc_bar_write(s, BAR0 + TD_DMA_DST, 0x100, 8, true);
		wc_bar_write(s, BAR0 + TD_DMA_CMD, TD_DMA_CMD_GO, 4, true);
		ok(wc_bar_read(s, BAR0 + TD_DMA_STATUS, 4, true) == TD_DMA_ST_DONE,
		   "... and DMA within what is left still works");
		if (ftruncate(mfd, 0x20000) < 0)
			diag("ftruncate back failed");
	}
	munmap(ram, 0x20000);
	close(mfd);
}

static void test_intx(struct rproc *rp)
{
	int s = rp->sock;
	int irq = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	int res = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	uint64_t one = 1;

	/* Start from a quiet line (the DMA tests left error bits set). */
	wc_bar_write(s, BAR0 + TD_INT_STATUS, TD_INT_ALL, 4, true);
	ok(wc_set_irqfd(s, irq, res) == 0 && wc_no_reply(s, 100), "SET_IRQFD gets no reply");
	ok(eventfd_count(irq) == 0, "quiet line: no signal at SET_IRQFD");
	wc_bar_write(s, BAR0 + TD_INT_MASK, TD_INT_ALL, 4, true);
	wc_bar_write(s, BAR0 + TD_INT_RAISE, TD_INT_SOFT, 4, true);
	ok(eventfd_count(irq) == 1, "raising the line signals the irqfd");
	ok(wc_cfg_read(s, 0x06, 2) & 0x08, "status bit 3 (Interrupt Status) set");
	wc_bar_write(s, BAR0 + TD_INT_RAISE, TD_INT_SOFT, 4, true);
	ok(eventfd_count(irq) == 0, "no second signal while the line stays high");

	/* EOI while still high: KVM signals resample, the remote re-asserts. */
	ok(write(res, &one, 8) == 8, "resample (EOI) signalled");
	usleep(50000);
	ok(eventfd_count(irq) == 1, "resample with line high: irqfd re-signalled");
	ok(eventfd_count(res) == 0, "resample fd drained by the remote");

	wc_bar_write(s, BAR0 + TD_INT_STATUS, TD_INT_SOFT, 4, true);
	ok(!(wc_cfg_read(s, 0x06, 2) & 0x08), "ack clears Interrupt Status");
	ok(write(res, &one, 8) == 8 && wc_cfg_read(s, 0, 2) == TESTDEV_VENDOR_ID &&
	   eventfd_count(irq) == 0, "resample with line low: no signal");

	/* Interrupt Disable masks the line but not the status bit. */
	wc_cfg_write(s, 0x04, 0x0407, 2);
	wc_bar_write(s, BAR0 + TD_INT_RAISE, TD_INT_SOFT, 4, true);
	ok(eventfd_count(irq) == 0, "Interrupt Disable: no signal");
	ok(wc_cfg_read(s, 0x06, 2) & 0x08, "Interrupt Disable: status bit 3 still set");
	wc_cfg_write(s, 0x04, 0x0007, 2);
	ok(eventfd_count(irq) == 1, "clearing Interrupt Disable delivers the pending line");
	wc_bar_write(s, BAR0 + TD_INT_MASK, 0, 4, true);
	ok(!(wc_cfg_read(s, 0x06, 2) & 0x08), "device mask lowers the line");
	wc_bar_write(s, BAR0 + TD_INT_STATUS, TD_INT_ALL, 4, true);
	wc_bar_write(s, BAR0 + TD_INT_MASK, TD_INT_ALL, 4, true);

	/* DMA completion raises INTx too. */
	wc_bar_write(s, BAR0 + TD_DMA_SRC, 0, 8, true);
	wc_bar_write(s, BAR0 + TD_DMA_DST, 0x100000, 8, true);
	wc_bar_write(s, BAR0 + TD_DMA_LEN, 64, 4, true);
	wc_bar_write(s, BAR0 + TD_DMA_CMD, TD_DMA_CMD_GO, 4, true);
	ok(eventfd_count(irq) == 1, "DMA completion signals the irqfd");
	wc_bar_write(s, BAR0 + TD_INT_STATUS, TD_INT_ALL, 4, true);
	ok(stat_now(rp, "intx.resamples") == 2 && file_key(rp->stats, "intx.signals") == 4,
	   "INTx counters (signals 4, resamples 2)");

	/* A pipe is not an eventfd: refused, fds closed. */
	{
		int p[2], fds[2];
		char c;

		if (pipe(p) == 0) {
			fds[0] = p[1];
			fds[1] = p[1];
			wc_set_irqfd(s, fds[0], fds[1]);
			close(p[1]);
			wc_cfg_read(s, 0, 2);	/* sync */
			ok(read(p[0], &c, 1) == 0, "SET_IRQFD with a pipe: refused and closed");
			close(p[0]);
		}
	}
	close(irq);
	close(res);
}

static void test_reset(int s)
{
	int64_t sz = wc_reset(s);

	ok(sz == 0, "DEVICE_RESET answered by RET without payload (QEMU 7.2)");
	ok(wc_cfg_read(s, 0x04, 2) == 0 && wc_cfg_read(s, 0x10, 4) == 0 &&
	   wc_cfg_read(s, 0x14, 4) == 1, "reset clears command and BAR addresses");
	ok(wc_cfg_read(s, 0x00, 2) == TESTDEV_VENDOR_ID && wc_cfg_read(s, 0x3d, 1) == 1,
	   "reset keeps ids and pin");
	setup_bars(s);
	ok(wc_bar_read(s, BAR0 + TD_DOORBELL_COUNT, 8, true) == 0 &&
	   wc_bar_read(s, BAR0 + TD_INT_MASK, 4, true) == TD_INT_ALL,
	   "reset restores device registers");
}

/* Malformed input that keeps the stream in sync. */
static void test_malformed(struct rproc *rp)
{
	int s = rp->sock;
	uint8_t pl[192] = { 0 };
	uint64_t v, sz;
	int p[2];
	char c;

	ok(wc_send(s, 42, 0, NULL, 0, NULL, 0) == 0 && wc_no_reply(s, 100) &&
	   wc_cfg_read(s, 0, 2) == TESTDEV_VENDOR_ID, "unknown command dropped, stream in sync");
	ok(wc_send(s, -5, 4, pl, 4, NULL, 0) == 0 &&
	   wc_cfg_read(s, 0, 2) == TESTDEV_VENDOR_ID, "negative command dropped with its payload");
	wc_send(s, 3, 8, pl, 8, NULL, 0);	/* CFGREAD, wrong size */
	ok(wc_recv_ret(s, &v, &sz, 2000) == 1 && v == ONES && sz == 8,
	   "CFGREAD with a wrong payload size: all-ones");
	wc_send(s, 5, 192, pl, 192, NULL, 0);	/* BAR_READ, wrong size */
	ok(wc_recv_ret(s, &v, &sz, 2000) == 1 && v == ONES, "BAR_READ with 192 bytes: all-ones");
	wc_send(s, 1, 8, pl, 8, NULL, 0);	/* RET to the remote */
	ok(wc_no_reply(s, 100) && wc_cfg_read(s, 0, 2) == TESTDEV_VENDOR_ID,
	   "RET sent to the remote ignored");

	if (pipe(p) == 0) {
		wc_put64(pl, BAR0);
		wc_put32(pl + 16, 4);
		pl[20] = 1;
		wc_send(s, 5, 24, pl, 24, &p[1], 1);
		close(p[1]);
		ok(wc_recv_ret(s, &v, &sz, 2000) == 1 && v == ONES,
		   "BAR_READ carrying an fd: all-ones");
		ok(read(p[0], &c, 1) == 0, "... and the stray fd was closed");
		close(p[0]);
	}
	{
		int fds[12], r[2];

		if (pipe(r) == 0) {
			for (int i = 0; i < 12; i++)
				fds[i] = r[1];
			memset(pl, 0, sizeof(pl));
			wc_send(s, 0, 192, pl, 192, fds, 12);
			close(r[1]);
			wc_cfg_read(s, 0, 2);
			ok(read(r[0], &c, 1) == 0, "SYNC_SYSMEM with 12 fds: all closed");
			close(r[0]);
		}
	}
	wc_send(s, 6, 0, NULL, 0, NULL, 0);	/* SET_IRQFD without fds */
	ok(wc_no_reply(s, 100) && wc_cfg_read(s, 0, 2) == TESTDEV_VENDOR_ID,
	   "SET_IRQFD without fds rejected");
	wc_send(s, 7, 8, pl, 8, NULL, 0);	/* DEVICE_RESET with payload */
	ok(wc_recv_ret(s, &v, &sz, 2000) == 1 && v == ONES, "DEVICE_RESET with payload: all-ones");
	ok(stat_now(rp, "socket.bad_msgs") >= 8, "rejected messages counted (%lld)",
	   file_key(rp->stats, "socket.bad_msgs"));
}

/* ---- MSI-X ----------------------------------------------------------- */

/* Open fds of process @pid, all of them or only its eventfds; -1 on error. */
static int proc_fds(pid_t pid, bool eventfds_only)
{
	char dir[64], path[384], link[64];
	struct dirent *e;
	DIR *d;
	int n = 0;

	snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)pid);
	d = opendir(dir);
	if (!d)
		return -1;
	while ((e = readdir(d))) {
		ssize_t k;

		if (e->d_name[0] == '.')
			continue;
		if (!eventfds_only) {
			n++;
			continue;
		}
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		k = readlink(path, link, sizeof(link) - 1);
		if (k > 0) {
			link[k] = 0;
			n += !strcmp(link, "anon_inode:[eventfd]");
		}
	}
	closedir(d);
	return n;
}


struct msix_rig {
	struct rproc rp;
	int s;
	int nvec;
	int v[16];		/* our ends of the vectors' eventfds */
	uint64_t seen[16];	/* signals read from each so far */
	int ev0, fd0;		/* the remote's eventfds / fds before MSI_FDS */
};

/* Read every vector's eventfd; true if exactly @want[i] came on each. */
static bool vec_counts(struct msix_rig *m, const uint64_t *want)
{
	bool good = true;

	for (int i = 0; i < m->nvec; i++) {
		uint64_t c = eventfd_count(m->v[i]);

		m->seen[i] += c;
		good &= c == (want ? want[i] : 0);
	}
	return good;
}

/* Only vector @vec signalled, @n times, since the last look. */
static bool only_vec(struct msix_rig *m, int vec, uint64_t n)
{
	uint64_t want[16] = { 0 };

	want[vec] = n;
	return vec_counts(m, want);
}

static void raise_vec(struct msix_rig *m, uint32_t vec)
{
	wc_bar_write(m->s, BAR0 + TD_MSIX_RAISE, vec, 4, true);
}

static bool rig_start(struct msix_rig *m, const char *tag, int nvec,
		      const char *devarg)
{
	memset(m, 0, sizeof(*m));
	m->nvec = nvec;
	for (int i = 0; i < 16; i++)
		m->v[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (!start_remote(&m->rp, tag, -1, devarg ? "--device-arg" : NULL, devarg,
			  NULL))
		return false;
	m->s = m->rp.sock;
	wc_cfg_read(m->s, 0, 2);	/* up and serving */
	m->ev0 = proc_fds(m->rp.pid, true);
	m->fd0 = proc_fds(m->rp.pid, false);
	return true;
}

static void rig_stop(struct msix_rig *m)
{
	stop_remote(&m->rp);
	for (int i = 0; i < 16; i++)
		close(m->v[i]);
}

/* The remote holds @n more eventfds (and fds) than before MSI_FDS. */
static bool holds(struct msix_rig *m, int n)
{
	return proc_fds(m->rp.pid, true) == m->ev0 + n &&
	       proc_fds(m->rp.pid, false) == m->fd0 + n;
}

/* MSI_FDS: what is taken, what is declined, and that declined fds close. */
static void test_msix_fds(void)
{
	struct msix_rig m;
	int s, p[2], fds[9];
	char c;

	if (!ok(rig_start(&m, "msix-fds", 8, NULL), "msix: remote started"))
		return;
	s = m.s;
	diag("remote holds %d fds, %d of them eventfds, before MSI_FDS", m.fd0, m.ev0);
	ok(wc_msi_fds(s, 0x12345678, MSI_KIND, 0, 8, m.v, 8) == ONES && holds(&m, 0),
	   "MSI_FDS with a bad magic: declined, its 8 fds closed");
	ok(wc_msi_fds(s, MSI_MAGIC, 3, 0, 8, m.v, 8) == ONES && holds(&m, 0),
	   "MSI_FDS of an unknown kind (3): declined, fds closed");
	ok(wc_msi_fds(s, MSI_MAGIC, MSI_KIND + 1, 0, 8, m.v, 8) == ONES && holds(&m, 0),
	   "MSI_FDS of kind MSI with 8 fds (no MSI capability here): declined, fds closed");
	ok(wc_msi_fds(s, MSI_MAGIC, MSI_KIND, 0, 7, m.v, 7) == ONES && holds(&m, 0),
	   "MSI_FDS with total 7 for an 8-vector table: declined, fds closed");
	ok(wc_msi_fds(s, MSI_MAGIC, MSI_KIND, 0, 9, m.v, 8) == ONES && holds(&m, 0),
	   "MSI_FDS with total 9 for an 8-vector table: declined, fds closed");
	ok(wc_msi_fds(s, MSI_MAGIC, MSI_KIND, 1, 8, m.v, 7) == ONES && holds(&m, 0),
	   "MSI_FDS starting at vector 1 (out of order): declined, fds closed");
	ok(wc_msi_fds(s, MSI_MAGIC, MSI_KIND, 4, 8, m.v, 5) == ONES && holds(&m, 0),
	   "MSI_FDS for vectors 4-8 of 8 (past the table): declined, fds closed");
	for (int i = 0; i < 9; i++)
		fds[i] = m.v[i % 8];
	ok(wc_msi_fds(s, MSI_MAGIC, MSI_KIND, 0, 8, fds, 9) == ONES && holds(&m, 0),
	   "MSI_FDS with 9 fds: declined, all closed");
	ok(wc_msi_fds(s, MSI_MAGIC, MSI_KIND, 0, 8, NULL, 0) == ONES,
	   "MSI_FDS without fds: declined");
	ok(wc_send(s, 0x4d51, 12, fds, 12, m.v, 8) == 0 &&
	   wc_recv_ret(s, &(uint64_t){ 0 }, &(uint64_t){ 0 }, 2000) == 1 && holds(&m, 0),
	   "MSI_FDS with a 12-byte payload: declined, fds closed");
	if (pipe(p) == 0) {
		for (int i = 0; i < 8; i++)
			fds[i] = i == 5 ? p[1] : m.v[i];
		ok(wc_msi_fds(s, MSI_MAGIC, MSI_KIND, 0, 8, fds, 8) == ONES && holds(&m, 0),
		   "MSI_FDS with a pipe among the eventfds: declined, fds closed");
		close(p[1]);
		ok(read(p[0], &c, 1) == 0, "... the pipe's copy too (EOF)");
		close(p[0]);
	}

	ok(wc_msi_fds(s, MSI_MAGIC, MSI_KIND, 0, 8, m.v, 8) == 0 && holds(&m, 8),
	   "MSI_FDS with all 8 eventfds in one message (QEMU's limit is 7): taken, held");
	ok(wc_msi_fds(s, MSI_MAGIC, MSI_KIND, 0, 8, m.v, 8) == 0 && holds(&m, 8),
	   "a new set from vector 0 replaces the old one (8 held, not 16)");
	ok(wc_msi_fds(s, MSI_MAGIC, MSI_KIND, 0, 9, m.v, 8) == ONES && holds(&m, 0),
	   "a declined message drops the whole set (0 held)");
	ok(wc_msi_fds(s, MSI_MAGIC, MSI_KIND, 0, 8, m.v, 8) == 0 && holds(&m, 8),
	   "... and a new set is taken again");
	{
		long long n = stat_now(&m.rp, "socket.msi_fds");
		long long held = file_key(m.rp.stats, "msix.fds");
		long long taken = file_key(m.rp.stats, "msix.fd_msgs");
		long long declined = file_key(m.rp.stats, "msix.declined");
		long long bad = file_key(m.rp.stats, "socket.bad_msgs");
		long long msi = file_key(m.rp.stats, "socket.msi_declined");

		/*
		 * 4 of the 17 failed validation (magic, kind, fd count, size);
		 * the MSI one is declined as such, not as a bad message.
		 */
		ok(n == 11 && held == 8 && taken == 3 && declined == 7 && bad == 11 && msi == 1,
		   "counters: socket.msi_fds %lld (11), msix.fds %lld (8), fd_msgs %lld (3), declined %lld (7), socket.bad_msgs %lld (11), socket.msi_declined %lld (1)",
		   n, held, taken, declined, bad, msi);
	}
	rig_stop(&m);

	/* 12 vectors: two messages, 8 + 4, in order. */
	if (!ok(rig_start(&m, "msix-12", 12, "msix=12"), "msix=12: remote started"))
		return;
	s = m.s;
	ok(wc_cfg_read(s, MSIX_CTL, 2) == 11 && (wc_cfg_read(s, 0x08, 4) >> 8) == TESTDEV_CLASS,
	   "msix=12: table size 12 in the capability");
	ok(wc_msi_fds(s, MSI_MAGIC, MSI_KIND, 8, 12, m.v + 8, 4) == ONES && holds(&m, 0),
	   "msix=12: vectors 8-11 before 0-7: declined");
	ok(wc_msi_fds(s, MSI_MAGIC, MSI_KIND, 0, 12, m.v, 8) == 0 && holds(&m, 8),
	   "msix=12: vectors 0-7 taken");
	ok(wc_msi_fds(s, MSI_MAGIC, MSI_KIND, 8, 12, m.v + 8, 5) == ONES && holds(&m, 0),
	   "msix=12: 5 fds from vector 8 (one past the end): declined, set dropped");
	ok(wc_msi_fds(s, MSI_MAGIC, MSI_KIND, 0, 12, m.v, 8) == 0 &&
	   wc_msi_fds(s, MSI_MAGIC, MSI_KIND, 8, 12, m.v + 8, 4) == 0 && holds(&m, 12),
	   "msix=12: vectors 0-7, then 8-11: all 12 taken");
	wc_cfg_write(s, 0x10, (uint32_t)BAR0, 4);
	wc_cfg_write(s, 0x04, 0x0007, 2);
	wc_cfg_write(s, MSIX_CTL, 0x8000, 2);
	raise_vec(&m, 11);
	raise_vec(&m, 8);
	{
		uint64_t want[16] = { 0 };

		want[8] = want[11] = 1;
		ok(vec_counts(&m, want), "msix=12: vectors 8 and 11 signal the second message's fds");
	}
	ok(wc_msi_fds(s, MSI_MAGIC, MSI_KIND, 4, 12, m.v + 4, 4) == ONES && holds(&m, 0),
	   "msix=12: vectors 4-7 again after the set: declined, set dropped");
	raise_vec(&m, 8);
	ok(vec_counts(&m, NULL) && stat_now(&m.rp, "msix.dropped") == 1,
	   "msix=12: without eventfds a vector goes nowhere (msix.dropped 1)");
	rig_stop(&m);

	/* No MSI-X at all. */
	if (!ok(rig_start(&m, "msix-0", 0, "msix=0"), "msix=0: remote started"))
		return;
	s = m.s;
	ok(wc_cfg_read(s, 0x34, 1) == 0x40 && wc_cfg_read(s, 0x41, 1) == 0,
	   "msix=0: the vendor capability is the only one");
	wc_cfg_write(s, 0x18, 0xffffffff, 4);
	ok(wc_cfg_read(s, 0x18, 4) == 0, "msix=0: no BAR2");
	wc_cfg_write(s, 0x10, (uint32_t)BAR0, 4);
	wc_cfg_write(s, 0x04, 0x0007, 2);
	ok(wc_bar_read(s, BAR0 + TD_FEATURES, 4, true) == 7, "msix=0: FEATURES without bit 3");
	ok(wc_msi_fds(s, MSI_MAGIC, MSI_KIND, 0, 8, m.v, 8) == ONES && holds(&m, 0),
	   "msix=0: MSI_FDS declined, fds closed");
	raise_vec(&m, 0);
	ok(wc_bar_read(s, BAR0 + TD_INT_STATUS, 4, true) == TD_INT_SOFT,
	   "msix=0: MSIX_RAISE sets INT_STATUS bit 2 (INTx)");
	rig_stop(&m);

	{
		struct rproc rp;
		int st;

		if (start_remote(&rp, "msix-bad", -1, "--device-arg", "msix=129", NULL)) {
			st = wait_exit(rp.pid, 3000);
			ok(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 1 &&
			   file_contains(rp.log, "msix=N"), "--device-arg msix=129 refused");
			close(rp.sock);
		}
		if (start_remote(&rp, "devarg-bad", -1, "--device-arg", "bogus", NULL)) {
			st = wait_exit(rp.pid, 3000);
			ok(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 1,
			   "--device-arg bogus refused");
			close(rp.sock);
		}
	}
}

/* Raising vectors: MSI-X Enable, Function Mask, INTx, reset, counters. */
static void test_msix_notify(void)
{
	struct msix_rig m;
	int s, irq = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	int res = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	uint64_t want[16] = { 0 };
	bool good;

	if (!ok(rig_start(&m, "msix-notify", 8, NULL), "msix: remote started"))
		goto out;
	s = m.s;
	setup_bars(s);
	wc_set_irqfd(s, irq, res);
	ok(wc_msi_fds(s, MSI_MAGIC, MSI_KIND, 0, 8, m.v, 8) == 0, "8 eventfds taken");
	ok(wc_bar_read(s, BAR0 + TD_FEATURES, 4, true) == 0xf, "FEATURES bit 3: MSI-X");

	/* Disabled: no message; testdev falls back to INTx. */
	raise_vec(&m, 3);
	ok(vec_counts(&m, NULL), "MSI-X disabled: MSIX_RAISE signals no vector");
	ok(wc_bar_read(s, BAR0 + TD_INT_STATUS, 4, true) == TD_INT_SOFT &&
	   eventfd_count(irq) == 1, "... testdev sets INT_STATUS bit 2 and INTx fires instead");
	wc_bar_write(s, BAR0 + TD_INT_STATUS, TD_INT_ALL, 4, true);

	/* Enabled. */
	wc_cfg_write(s, MSIX_CTL, 0x8000, 2);
	ok(wc_cfg_read(s, MSIX_CTL, 2) == 0x8007, "MSI-X enabled (control 0x8007)");
	raise_vec(&m, 5);
	ok(only_vec(&m, 5, 1), "enabled: MSIX_RAISE 5 -> vector 5's eventfd reads 1, no other");
	good = true;
	for (int i = 0; i < 8; i++) {
		raise_vec(&m, i);
		good &= only_vec(&m, i, 1);
	}
	ok(good, "enabled: each of vectors 0-7 signals its own eventfd once");
	for (int i = 0; i < 3; i++)
		raise_vec(&m, 2);
	ok(only_vec(&m, 2, 3), "three raises of vector 2 before the read: it reads 3");
	wc_bar_write(s, BAR0 + TD_MSIX_RAISE, 6, 1, true);
	ok(only_vec(&m, 6, 1), "a 1-byte write of MSIX_RAISE raises vector 6");
	raise_vec(&m, 8);
	raise_vec(&m, 0xffffffff);
	ok(vec_counts(&m, NULL), "vectors 8 and 0xffffffff do not exist: nothing signalled");
	ok(eventfd_count(irq) == 0, "no INTx for any of that");

	/* INT_STATUS events go out as vector 0; INTx stays low meanwhile. */
	wc_bar_write(s, BAR0 + TD_INT_RAISE, TD_INT_SOFT, 4, true);
	ok(only_vec(&m, 0, 1) && eventfd_count(irq) == 0,
	   "enabled: INT_RAISE sends vector 0, and no INTx");
	ok(wc_cfg_read(s, 0x06, 2) & 0x08, "... Interrupt Status still mirrors the level");
	wc_bar_write(s, BAR0 + TD_DMA_LEN, 0, 4, true);
	wc_bar_write(s, BAR0 + TD_DMA_CMD, TD_DMA_CMD_GO, 4, true);
	ok(only_vec(&m, 0, 1), "enabled: DMA completion sends vector 0");
	wc_bar_write(s, BAR0 + TD_INT_MASK, 0, 4, true);
	wc_bar_write(s, BAR0 + TD_INT_RAISE, TD_INT_SOFT, 4, true);
	ok(vec_counts(&m, NULL), "INT_MASK 0: INT_RAISE sends nothing");
	wc_bar_write(s, BAR0 + TD_INT_MASK, TD_INT_ALL, 4, true);
	/* The level is high now: turning MSI-X off lets INTx through. */
	wc_cfg_write(s, MSIX_CTL, 0, 2);
	ok(eventfd_count(irq) == 1, "MSI-X disabled with INT_STATUS set: INTx asserted");
	wc_bar_write(s, BAR0 + TD_INT_STATUS, TD_INT_ALL, 4, true);
	wc_cfg_write(s, MSIX_CTL, 0x8000, 2);

	/* Function Mask: held, once per vector, sent on unmask. */
	wc_cfg_write(s, MSIX_CTL, 0xc000, 2);
	ok(wc_cfg_read(s, MSIX_CTL, 2) == 0xc007, "function masked (control 0xc007)");
	raise_vec(&m, 1);
	raise_vec(&m, 1);
	raise_vec(&m, 4);
	ok(vec_counts(&m, NULL), "masked: raises of vectors 1, 1, 4 signal nothing");
	ok(stat_now(&m.rp, "msix.pending") == 2 && file_key(m.rp.stats, "msix.held") == 3,
	   "masked: 2 vectors pending, 3 raises held");
	wc_cfg_write(s, MSIX_CTL, 0x8000, 2);
	memset(want, 0, sizeof(want));
	want[1] = want[4] = 1;
	ok(vec_counts(&m, want), "unmasked: vectors 1 and 4 signalled once each");
	ok(stat_now(&m.rp, "msix.pending") == 0 && file_key(m.rp.stats, "msix.flushed") == 2,
	   "unmasked: nothing pending, 2 flushed");
	wc_cfg_write(s, MSIX_CTL + 1, 0xc0, 1);
	raise_vec(&m, 6);
	wc_cfg_write(s, MSIX_CTL + 1, 0x80, 1);
	ok(only_vec(&m, 6, 1), "byte writes of the control word mask and unmask too");

	/* Pending survives MSI-X being turned off and on again. */
	wc_cfg_write(s, MSIX_CTL, 0xc000, 2);
	raise_vec(&m, 7);
	wc_cfg_write(s, MSIX_CTL, 0x0000, 2);
	ok(vec_counts(&m, NULL), "masked, then disabled: vector 7 still not sent");
	wc_cfg_write(s, MSIX_CTL, 0x4000, 2);
	wc_cfg_write(s, MSIX_CTL, 0xc000, 2);
	ok(vec_counts(&m, NULL), "enabled but still masked: not sent");
	wc_cfg_write(s, MSIX_CTL, 0x8000, 2);
	ok(only_vec(&m, 7, 1), "enabled and unmasked: vector 7 sent");

	/* The table and PBA are the VMM's: they never reach testdev. */
	ok(wc_bar_read(s, BAR2 + TD_MSIX_TABLE, 4, true) == 0 &&
	   wc_bar_write(s, BAR2 + TD_MSIX_TABLE + 12, 0, 4, true) == 0 &&
	   wc_bar_read(s, BAR2 + TD_MSIX_PBA, 8, true) == 0 &&
	   wc_bar_read(s, BAR2 + 0x400, 4, true) == 0,
	   "BAR2: table and PBA read 0 here, writes ignored");
	{
		long long n = stat_now(&m.rp, "msix.table_accesses");

		ok(n == 3, "BAR2: 3 table/PBA accesses counted, not the one beside them (%lld)",
		   n);
	}

	/* Reset: MSI-X off and nothing pending, but the eventfds stay. */
	wc_cfg_write(s, MSIX_CTL, 0xc000, 2);
	raise_vec(&m, 3);
	ok(wc_reset(s) == 0 && wc_cfg_read(s, MSIX_CTL, 2) == 7,
	   "DEVICE_RESET clears Enable and Function Mask");
	setup_bars(s);
	wc_cfg_write(s, MSIX_CTL, 0x8000, 2);
	ok(vec_counts(&m, NULL) && stat_now(&m.rp, "msix.fds") == 8 &&
	   file_key(m.rp.stats, "msix.pending") == 0,
	   "after reset: the held vector is gone, the 8 eventfds stay");
	raise_vec(&m, 3);
	ok(only_vec(&m, 3, 1), "after reset: vector 3 signals again");

	{
		long long raised = stat_now(&m.rp, "msix.raised");
		long long sig = file_key(m.rp.stats, "msix.signalled");
		long long held = file_key(m.rp.stats, "msix.held");
		long long fl = file_key(m.rp.stats, "msix.flushed");
		long long dr = file_key(m.rp.stats, "msix.dropped");
		long long writes = file_key(m.rp.stats, "dev.msix_raises");
		long long intx = file_key(m.rp.stats, "dev.msix_intx");
		long long events = file_key(m.rp.stats, "dev.msix_events");
		uint64_t total = 0;
		char key[32];

		good = true;
		for (int i = 0; i < 8; i++) {
			snprintf(key, sizeof(key), "msix.vec%d.signalled", i);
			good &= file_key(m.rp.stats, key) == (long long)m.seen[i];
			total += m.seen[i];
		}
		ok(good && (long long)total == sig,
		   "per-vector counters match what the eventfds read (%llu in all)",
		   (unsigned long long)total);
		ok(raised == sig - fl + held + dr,
		   "raised %lld = signalled %lld - flushed %lld + held %lld + dropped %lld",
		   raised, sig, fl, held, dr);
		ok(writes == 23 && intx == 1 && events == 2,
		   "testdev counters: %lld MSIX_RAISE writes (23), %lld taken as INTx (1), %lld INT_STATUS events sent (2)",
		   writes, intx, events);
	}
	rig_stop(&m);
out:
	close(irq);
	close(res);
}

/* Framing errors end the remote cleanly, with a message. */
static void test_fatal(void)
{
	struct rproc rp;
	uint8_t junk[8] = { 0 };
	int st;

	if (start_remote(&rp, "fatal1", -1, NULL)) {
		wc_send(rp.sock, 3, 1u << 20, NULL, 0, NULL, 0);
		st = wait_exit(rp.pid, 3000);
		ok(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 1 &&
		   file_contains(rp.log, "payload size"), "oversized payload: exit 1 with a message");
		close(rp.sock);
	}
	if (start_remote(&rp, "fatal2", -1, NULL)) {
		if (write(rp.sock, junk, 5) != 5)
			diag("short write");
		shutdown(rp.sock, SHUT_WR);
		st = wait_exit(rp.pid, 3000);
		ok(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 1 &&
		   file_contains(rp.log, "closed mid-message"), "truncated header: exit 1");
		close(rp.sock);
	}
	if (start_remote(&rp, "fatal3", -1, NULL)) {
		wc_send(rp.sock, 2, 12, junk, 4, NULL, 0);	/* 8 of 12 bytes missing */
		shutdown(rp.sock, SHUT_WR);
		st = wait_exit(rp.pid, 3000);
		ok(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 1, "truncated payload: exit 1");
		close(rp.sock);
	}
	if (start_remote(&rp, "eof", -1, NULL)) {
		wc_cfg_read(rp.sock, 0, 2);
		st = stop_remote(&rp);
		ok(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0 &&
		   file_key(rp.stats, "socket.cfg_read") == 1,
		   "EOF between messages: exit 0, stats written at exit");
	}
	if (start_remote(&rp, "sigterm", -1, NULL)) {
		wc_cfg_read(rp.sock, 0, 2);	/* handlers are in place now */
		kill(rp.pid, SIGTERM);
		st = wait_exit(rp.pid, 3000);
		ok(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 128 + SIGTERM &&
		   file_key(rp.stats, "socket.cfg_read") == 1,
		   "SIGTERM: orderly exit with status 143, stats written");
		close(rp.sock);
	}
}

/* ---- the mpdev fast path -------------------------------------------- */

/*
 * The backend fd's ioctls (MPDEV_GET_FEATURES, MPDEV_BACKEND_GET_RING,
 * MPDEV_BACKEND_KICK) come from tests/fake_mpdev.c, preloaded into the
 * remote, configured through this file.
 */
static void fake_conf(const char *fmt, ...)
{
	FILE *f = fopen(fake_conf_path, "w");
	va_list ap;

	if (!f)
		return;
	va_start(ap, fmt);
	vfprintf(f, fmt, ap);
	va_end(ap);
	fclose(f);
}

/* Requests as the kernel module would queue them. */
static struct mpdev_request req(uint64_t id, uint32_t region, uint64_t off,
				uint8_t size, bool write, uint64_t data, bool reply)
{
	struct mpdev_request q = {
		.id = id, .offset = off, .data = data, .region = region,
		.size = size, .vcpu = 0,
		.flags = (write ? MPDEV_REQ_WRITE : 0) |
			 (reply ? MPDEV_REQ_NEEDS_REPLY : 0),
	};
	return q;
}

static struct mpdev_request creq(uint64_t id, uint32_t region, uint64_t cookie,
				 uint64_t off, uint8_t size, bool write,
				 uint64_t data, bool reply)
{
	struct mpdev_request q = req(id, region, off, size, write, data, reply);

	q.cookie = cookie;
	return q;
}

static int read_cpls(int fd, struct mpdev_completion *c, int max)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	ssize_t n;

	if (poll(&p, 1, 3000) != 1)
		return 0;
	n = read(fd, c, sizeof(*c) * max);
	return n < 0 ? 0 : (int)(n / sizeof(*c));
}

static void check_fastpath_batch(int be, const char *how)
{
	struct mpdev_request q[6];
	struct mpdev_completion c[8];
	int n;

	q[0] = req(10, 0, TD_MAGIC, 4, false, 0, true);
	q[1] = req(11, 0, TD_SCRATCH + 8, 8, true, 0xfeedfacecafebeefull, false);
	q[2] = req(12, 0, TD_SCRATCH + 8, 8, false, 0, true);
	q[3] = req(13, 1, TDIO_MAGIC, 4, false, 0, true);
	q[4] = req(14, 5, 0, 4, false, 0, true);		/* no such region */
	q[5] = req(15, 0, 0xffe, 4, false, 0, true);		/* crosses BAR end */
	n = write(be, q, sizeof(q));
	ok(n == sizeof(q), "%s: batch of 6 48-byte requests queued", how);
	n = read_cpls(be, c, 8);
	ok(n == 5, "%s: 5 completions (posted write has none), got %d", how, n);
	if (n != 5)
		return;
	ok(c[0].id == 10 && c[0].data == TESTDEV_MAGIC && c[0].size == 4 && !c[0].flags,
	   "%s: read of BAR0 magic", how);
	ok(c[1].id == 12 && c[1].data == 0xfeedfacecafebeefull && c[1].size == 8,
	   "%s: posted write then read, in order", how);
	ok(c[2].id == 13 && c[2].data == TESTDEV_MAGIC, "%s: region 1 = BAR1", how);
	ok(c[3].id == 14 && c[3].flags == MPDEV_CPL_ERROR && c[3].data == ONES,
	   "%s: unknown region -> error completion", how);
	ok(c[4].id == 15 && c[4].flags == MPDEV_CPL_ERROR && c[4].size == 4,
	   "%s: out-of-range offset -> error completion echoing size", how);
}

/* Requests that name their BAR by cookie (region ids that are no BAR). */
static void check_fastpath_cookie(int be, const char *how)
{
	struct mpdev_request q[9];
	struct mpdev_completion c[12];
	int n;

	/* A region of BAR0 that starts at the scratch area, id 77. */
	q[0] = creq(20, 77, MPQ_MPDEV_COOKIE(0, TD_SCRATCH), 0x10, 8, true,
		    0x1122334455667788ull, false);
	q[1] = req(21, 0, TD_SCRATCH + 0x10, 8, false, 0, true);	/* cookie 0 */
	q[2] = creq(22, 200, MPQ_MPDEV_COOKIE(1, 0), TDIO_MAGIC, 4, false, 0, true);
	q[3] = creq(23, 0, MPQ_MPDEV_COOKIE(0, 0) | (1ull << 60), 0, 4, false, 0, true);
	q[4] = creq(24, 0, 1, 0, 4, false, 0, true);			/* no tag */
	q[5] = creq(25, 0, MPQ_MPDEV_COOKIE(3, 0), 0, 4, false, 0, true);
	q[6] = creq(26, 0, MPQ_MPDEV_COOKIE(6, 0), 0, 4, false, 0, true);
	q[7] = creq(27, 0, MPQ_MPDEV_COOKIE(0, MPQ_MPDEV_COOKIE_OFF_MASK),
		    ~0ull - 2, 4, false, 0, true);			/* wraps */
	q[8] = creq(28, 0, MPQ_MPDEV_COOKIE(0, TESTDEV_BAR0_SIZE - 4), 4, 4,
		    false, 0, true);					/* past BAR0 */
	n = write(be, q, sizeof(q));
	ok(n == sizeof(q), "%s: 9 requests with cookies queued", how);
	n = read_cpls(be, c, 12);
	ok(n == 8, "%s: 8 completions, got %d", how, n);
	if (n != 8)
		return;
	ok(c[0].id == 21 && c[0].data == 0x1122334455667788ull && !c[0].flags,
	   "%s: write by cookie (BAR0 + 0x100, region 77) seen by region 0", how);
	ok(c[1].id == 22 && c[1].data == TESTDEV_MAGIC && !c[1].flags,
	   "%s: cookie BAR1 with region id 200", how);
	ok(c[2].id == 23 && c[2].flags == MPDEV_CPL_ERROR &&
	   c[3].id == 24 && c[3].flags == MPDEV_CPL_ERROR,
	   "%s: cookie with reserved bits or without its tag refused", how);
	ok(c[4].id == 25 && c[4].flags == MPDEV_CPL_ERROR &&
	   c[5].id == 26 && c[5].flags == MPDEV_CPL_ERROR,
	   "%s: cookie naming an absent BAR or BAR 6 refused", how);
	ok(c[6].id == 27 && c[6].flags == MPDEV_CPL_ERROR && c[6].data == ONES &&
	   c[7].id == 28 && c[7].flags == MPDEV_CPL_ERROR,
	   "%s: cookie offset + request offset that wraps or leaves the BAR refused",
	   how);
}

static void test_fastpath_fd(void)
{
	struct rproc rp;
	int sp[2];
	char fdstr[16];

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0)
		return;
	fake_conf("features %llx\n", (unsigned long long)MPDEV_FEAT_REGION_COOKIE);
	snprintf(fdstr, sizeof(fdstr), "%d", sp[0]);
	if (!start_remote(&rp, "fast-fd", sp[0], "--mpdev-fd", fdstr, NULL))
		return;
	close(sp[0]);
	setup_bars(rp.sock);
	check_fastpath_batch(sp[1], "--mpdev-fd");
	/* The same device behind both paths: socket sees the fast path's writes. */
	ok(wc_bar_read(rp.sock, BAR0 + TD_SCRATCH + 8, 8, true) == 0xfeedfacecafebeefull,
	   "socket path sees state written over the fast path");
	ok(stat_now(&rp, "mpdev.reads") == 5 && file_key(rp.stats, "mpdev.writes") == 1 &&
	   file_key(rp.stats, "socket.bar_read") == 1 &&
	   file_key(rp.stats, "socket.bar_write") == 0 &&
	   file_key(rp.stats, "mpdev.completions") == 5 &&
	   file_key(rp.stats, "mpdev.by_cookie") == 0,
	   "per-path counters: fast path 5 reads/1 write, socket 1 read, none by cookie");
	check_fastpath_cookie(sp[1], "--mpdev-fd");
	{
		long long by_cookie = stat_now(&rp, "mpdev.by_cookie");
		long long bad = file_key(rp.stats, "mpdev.bad_requests");

		/* Routed by cookie: 20, 22, 25 (BAR3), 28 (past BAR0). */
		ok(by_cookie == 4 && bad == 2 + 6,
		   "cookie counters: 4 requests routed by cookie, 8 refused in all (%lld, %lld)",
		   by_cookie, bad);
	}
	close(sp[1]);
	usleep(100000);
	ok(wc_cfg_read(rp.sock, 0, 2) == TESTDEV_VENDOR_ID &&
	   file_contains(rp.log, "fast path stopped"),
	   "backend closed: socket path goes on, message logged");
	stop_remote(&rp);

	/* An fd that does not answer MPDEV_GET_FEATURES is not ours. */
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0)
		return;
	fake_conf("features fail\n");
	snprintf(fdstr, sizeof(fdstr), "%d", sp[0]);
	if (!start_remote(&rp, "fast-nofeat", sp[0], "--mpdev-fd", fdstr, NULL))
		return;
	close(sp[0]);
	{
		int st = wait_exit(rp.pid, 3000);

		ok(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 1 &&
		   file_contains(rp.log, "not an mpdev backend fd"),
		   "--mpdev-fd without MPDEV_GET_FEATURES: refused, exit 1");
		if (st < 0)
			stop_remote(&rp);
		else
			close(rp.sock);
	}
	close(sp[1]);
}

static void test_fastpath_msg(void)
{
	struct rproc rp;
	struct mpq_mpdev_backend b = {
		.magic = MPQ_MPDEV_MAGIC, .version = MPQ_MPDEV_VERSION, .nr_map = 2,
		.map = { { 0, 0 }, { 1, 1 } },
	};
	uint64_t v, sz;
	int sp[2];

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0)
		return;
	fake_conf("features %llx\n", ~0ull);
	if (!start_remote(&rp, "fast-msg", -1, NULL))
		return;
	setup_bars(rp.sock);
	wc_send(rp.sock, MPQ_CMD_MPDEV_BACKEND, sizeof(b), &b, sizeof(b), &sp[0], 1);
	close(sp[0]);
	ok(wc_recv_ret(rp.sock, &v, &sz, 2000) == 1 && v == 0,
	   "MPDEV_BACKEND message accepted (RET 0)");
	check_fastpath_batch(sp[1], "MPDEV_BACKEND");
	check_fastpath_cookie(sp[1], "MPDEV_BACKEND");
	b.map[1].bar = 3;	/* BAR3 does not exist */
	{
		int sp2[2];

		if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp2) == 0) {
			char c;

			wc_send(rp.sock, MPQ_CMD_MPDEV_BACKEND, sizeof(b), &b, sizeof(b),
				&sp2[0], 1);
			close(sp2[0]);
			ok(wc_recv_ret(rp.sock, &v, &sz, 2000) == 1 && v == ONES &&
			   read(sp2[1], &c, 1) == 0,
			   "MPDEV_BACKEND mapping a missing BAR: refused, fd closed");
			close(sp2[1]);
		}
	}
	b.map[1].bar = 1;
	{
		int sp2[2];

		fake_conf("features fail\n");
		if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp2) == 0) {
			char c;

			wc_send(rp.sock, MPQ_CMD_MPDEV_BACKEND, sizeof(b), &b, sizeof(b),
				&sp2[0], 1);
			close(sp2[0]);
			ok(wc_recv_ret(rp.sock, &v, &sz, 2000) == 1 && v == ONES &&
			   read(sp2[1], &c, 1) == 0,
			   "MPDEV_BACKEND with an fd that has no MPDEV_GET_FEATURES: refused, fd closed");
			close(sp2[1]);
		}
	}
	b.magic = 0;
	wc_send(rp.sock, MPQ_CMD_MPDEV_BACKEND, sizeof(b), &b, sizeof(b), &sp[1], 1);
	ok(wc_recv_ret(rp.sock, &v, &sz, 2000) == 1 && v == ONES,
	   "MPDEV_BACKEND with a bad magic: refused");
	close(sp[1]);
	stop_remote(&rp);
}

/*
 * --device-arg bar64=1: BAR4 a 64-bit memory BAR (BAR5 its upper half)
 * serving BAR0's registers; sized as firmware and the patched proxy size
 * it, decoded with both halves, only while memory decode is on.
 */
#define BAR4	0x123456000ull	/* above 4 GiB */
#define BAR4_MOVED	0x200000000ull

/* The 64-bit size of BAR4 as firmware probes it; restores the BAR. */
static uint64_t probe_bar64(int s, uint32_t *lo, uint32_t *hi)
{
	uint32_t o_lo = wc_cfg_read(s, 0x20, 4), o_hi = wc_cfg_read(s, 0x24, 4);

	wc_cfg_write(s, 0x20, 0xffffffff, 4);
	*lo = wc_cfg_read(s, 0x20, 4);
	wc_cfg_write(s, 0x24, 0xffffffff, 4);
	*hi = wc_cfg_read(s, 0x24, 4);
	wc_cfg_write(s, 0x20, o_lo, 4);
	wc_cfg_write(s, 0x24, o_hi, 4);
	return ~((uint64_t)*hi << 32 | (*lo & ~0xfu)) + 1;
}

static void set_bar4(int s, uint64_t addr)
{
	uint16_t cmd = wc_cfg_read(s, 0x04, 2);

	/* Decode off while the halves change, as firmware does. */
	wc_cfg_write(s, 0x04, cmd & ~2u, 2);
	wc_cfg_write(s, 0x20, (uint32_t)addr, 4);
	wc_cfg_write(s, 0x24, (uint32_t)(addr >> 32), 4);
	wc_cfg_write(s, 0x04, cmd, 2);
}

/* A remote with @devarg refuses to start (exit 1, the usage in its log). */
static void devarg_refused(const char *devarg)
{
	struct rproc rp;
	int st;

	if (!start_remote(&rp, "devarg-bad", -1, "--device-arg", devarg, NULL))
		return;
	st = wait_exit(rp.pid, 3000);
	ok(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 1 &&
	   file_contains(rp.log, "bar64=0|1"), "--device-arg %s refused", devarg);
	if (st < 0)
		stop_remote(&rp);
	else
		close(rp.sock);
}

static void test_bar64(void)
{
	static const unsigned sizes[] = { 1, 2, 4, 8 };
	struct rproc rp;
	uint32_t lo, hi, sz32[7];
	uint64_t v, sz;
	long long r0, w0;
	bool all = true;
	int s;

	/* Without the argument nothing changes: no BAR4, no BAR5. */
	if (ok(start_remote(&rp, "bar64-off", -1, NULL), "bar64: remote without the argument started")) {
		s = rp.sock;
		wc_cfg_write(s, 0x20, 0xffffffff, 4);
		wc_cfg_write(s, 0x24, 0xffffffff, 4);
		ok(wc_cfg_read(s, 0x20, 4) == 0 && wc_cfg_read(s, 0x24, 4) == 0,
		   "bar64: without the argument BAR4 and BAR5 are unimplemented (read 0 after all-ones)");
		setup_bars(s);
		wc_cfg_write(s, 0x20, (uint32_t)BAR4, 4);
		wc_cfg_write(s, 0x24, (uint32_t)(BAR4 >> 32), 4);
		ok(wc_bar_read(s, BAR0 + TD_FEATURES, 4, true) == 0xf &&
		   wc_bar_read(s, BAR4 + TD_MAGIC, 4, true) == ONES &&
		   wc_bar_read(s, (uint32_t)BAR4 + TD_MAGIC, 4, true) == ONES,
		   "bar64: without the argument FEATURES reads 0xf, nothing decodes at BAR4's address");
		ok(stat_now(&rp, "dev.bar4_reads") == -1 &&
		   file_key(rp.stats, "dev.msix_events") == 0,
		   "bar64: without the argument no BAR4 counters in the stats");
		stop_remote(&rp);
	}

	if (!ok(start_remote(&rp, "bar64", -1, "--device-arg", "bar64=1", NULL),
		"bar64=1: remote started"))
		return;
	s = rp.sock;
	ok(wc_cfg_read(s, 0x20, 4) == 0x4 && wc_cfg_read(s, 0x24, 4) == 0,
	   "bar64=1: BAR4 reads 0x%08x (memory, type 0b10 = 64-bit, not prefetchable), BAR5 0x%08x",
	   (uint32_t)wc_cfg_read(s, 0x20, 4), (uint32_t)wc_cfg_read(s, 0x24, 4));
	sz = probe_bar64(s, &lo, &hi);
	ok(lo == 0xfffff004, "bar64=1: all-ones to the low dword reads the size mask with the type bits (0x%08x)", lo);
	ok(hi == 0xffffffff, "bar64=1: all-ones to the high dword reads 0xffffffff (0x%08x)", hi);
	ok(sz == TESTDEV_BAR4_SIZE, "bar64=1: the two halves size BAR4 to 4 KiB (0x%llx)",
	   (unsigned long long)sz);
	ok(wc_cfg_read(s, 0x20, 4) == 0x4 && wc_cfg_read(s, 0x24, 4) == 0,
	   "bar64=1: BAR4 restored after probing");
	wc_cfg_write(s, 0x20, 0x0000000b, 4);
	ok(wc_cfg_read(s, 0x20, 4) == 0x4,
	   "bar64=1: type and prefetch bits read-only (0xb written, 0x%08x read)",
	   (uint32_t)wc_cfg_read(s, 0x20, 4));
	/* The stock proxy's probe: the other BARs are what they were. */
	for (int i = 0; i < 7; i++) {
		uint32_t a = 0x10 + 4 * i, orig = wc_cfg_read(s, a, 4);

		wc_cfg_write(s, a, 0xffffffff, 4);
		sz32[i] = ~(wc_cfg_read(s, a, 4) & 0xfffffff0) + 1;
		wc_cfg_write(s, a, orig, 4);
	}
	ok(sz32[0] == TESTDEV_BAR0_SIZE && sz32[1] == TESTDEV_BAR1_SIZE &&
	   sz32[2] == TESTDEV_BAR2_SIZE && !sz32[3] && !sz32[6],
	   "bar64=1: BAR0-3 and dword 0x28 as without it");

	setup_bars(s);
	wc_cfg_write(s, 0x04, 0x0005, 2);		/* memory decode off */
	wc_cfg_write(s, 0x20, (uint32_t)BAR4, 4);
	wc_cfg_write(s, 0x24, (uint32_t)(BAR4 >> 32), 4);
	ok(wc_cfg_read(s, 0x20, 4) == ((uint32_t)BAR4 | 4) &&
	   wc_cfg_read(s, 0x24, 4) == (uint32_t)(BAR4 >> 32),
	   "bar64=1: BAR4 at 0x%llx: low dword 0x%08x, high 0x%08x",
	   (unsigned long long)BAR4, (uint32_t)wc_cfg_read(s, 0x20, 4),
	   (uint32_t)wc_cfg_read(s, 0x24, 4));
	ok(wc_bar_read(s, BAR4 + TD_MAGIC, 4, true) == ONES,
	   "bar64=1: BAR4 does not decode with command bit 1 (memory) clear");
	wc_cfg_write(s, 0x04, 0x0007, 2);
	ok(wc_bar_read(s, BAR4 + TD_MAGIC, 4, true) == TESTDEV_MAGIC &&
	   wc_bar_read(s, BAR4 + TD_MAGIC, 8, true) ==
	   ((uint64_t)TESTDEV_VERSION << 32 | TESTDEV_MAGIC),
	   "bar64=1: magic and version at BAR4 above 4 GiB (4 and 8 bytes)");
	ok(wc_bar_read(s, BAR4 + TD_FEATURES, 4, true) == (0xf | TD_FEAT_BAR64) &&
	   wc_bar_read(s, BAR0 + TD_FEATURES, 4, true) == (0xf | TD_FEAT_BAR64),
	   "bar64=1: FEATURES bit 4 (BAR4) set, through BAR4 and BAR0");
	ok(wc_bar_read(s, (uint32_t)BAR4 + TD_MAGIC, 4, true) == ONES &&
	   wc_bar_read(s, BAR4 + TESTDEV_BAR4_SIZE, 4, true) == ONES &&
	   wc_bar_read(s, BAR4 + TESTDEV_BAR4_SIZE - 4, 8, true) == ONES &&
	   wc_bar_read(s, BAR4 + TD_MAGIC, 4, false) == ONES,
	   "bar64=1: the low dword's address alone, past BAR4's end and I/O space reach nothing");
	for (int k = 0; k < 4; k++) {
		unsigned n = sizes[k];
		uint64_t p = 0x8877665544332211ull & (n == 8 ? ~0ull : (1ull << (8 * n)) - 1);

		for (uint64_t off = 0; off < TD_SCRATCH_SIZE; off += 0x28) {
			uint64_t a = TD_SCRATCH + (off & ~(uint64_t)(n - 1));

			wc_bar_write(s, BAR4 + a, p ^ off, n, true);
			all &= wc_bar_read(s, BAR4 + a, n, true) == (p ^ off);
			all &= wc_bar_read(s, BAR0 + a, n, true) == (p ^ off);
		}
	}
	ok(all, "bar64=1: BAR4 scratch round trips at 1/2/4/8 bytes, the same bytes in BAR0");
	wc_bar_write(s, BAR0 + TD_SCRATCH, 0x0102030405060708ull, 8, true);
	ok(wc_bar_read(s, BAR4 + TD_SCRATCH, 8, true) == 0x0102030405060708ull,
	   "bar64=1: written through BAR0, read through BAR4");
	v = wc_bar_read(s, BAR0 + TD_DOORBELL_COUNT, 8, true);
	for (int i = 0; i < 3; i++)
		wc_bar_write(s, BAR4 + TD_DOORBELL, 0xb4000000 + i, 4, true);
	ok(wc_bar_read(s, BAR4 + TD_DOORBELL_COUNT, 8, true) == v + 3 &&
	   wc_bar_read(s, BAR0 + TD_DOORBELL, 4, true) == 0xb4000002,
	   "bar64=1: doorbell writes through BAR4 count (%llu -> %llu)",
	   (unsigned long long)v,
	   (unsigned long long)wc_bar_read(s, BAR0 + TD_DOORBELL_COUNT, 8, true));
	v = wc_bar_read(s, BAR4 + TD_COUNTER, 8, true);
	ok(wc_bar_read(s, BAR4 + TD_COUNTER, 4, true) == ((v + 1) & 0xffffffff) &&
	   wc_bar_read(s, BAR0 + TD_COUNTER, 8, true) == v + 2,
	   "bar64=1: COUNTER's read side effect once per BAR4 access");

	/* The device's own count of BAR4 accesses: exact. */
	r0 = stat_now(&rp, "dev.bar4_reads");
	w0 = file_key(rp.stats, "dev.bar4_writes");
	wc_bar_read(s, BAR4 + TD_MAGIC, 4, true);
	wc_bar_read(s, BAR4 + TD_SCRATCH, 8, true);
	wc_bar_write(s, BAR4 + TD_SCRATCH, 1, 1, true);
	wc_bar_read(s, BAR0 + TD_MAGIC, 4, true);	/* not BAR4 */
	wc_bar_read(s, (uint32_t)BAR4, 4, true);	/* nothing */
	ok(r0 > 0 && w0 > 0 && stat_now(&rp, "dev.bar4_reads") == r0 + 2 &&
	   file_key(rp.stats, "dev.bar4_writes") == w0 + 1,
	   "bar64=1: dev.bar4_reads/writes count BAR4's accesses only (%lld+2, %lld+1)",
	   r0, w0);

	/* Moving it: the high dword alone moves the BAR by 4 GiB steps. */
	set_bar4(s, BAR4_MOVED);
	ok(wc_bar_read(s, BAR4_MOVED + TD_MAGIC, 4, true) == TESTDEV_MAGIC &&
	   wc_bar_read(s, BAR4 + TD_MAGIC, 4, true) == ONES &&
	   wc_bar_read(s, BAR4_MOVED + TD_SCRATCH, 8, true) == 0x0102030405060701ull,
	   "bar64=1: moved to 0x%llx: served there with its state, dead at 0x%llx",
	   (unsigned long long)BAR4_MOVED, (unsigned long long)BAR4);
	wc_cfg_write(s, 0x04, 0x0005, 2);
	ok(wc_bar_read(s, BAR4_MOVED + TD_MAGIC, 4, true) == ONES &&
	   wc_bar_read(s, BAR0 + TD_MAGIC, 4, true) == ONES,
	   "bar64=1: memory decode off: neither BAR4 nor BAR0 answers");
	wc_cfg_write(s, 0x04, 0x0007, 2);

	ok(wc_reset(s) == 0 && wc_cfg_read(s, 0x20, 4) == 0x4 &&
	   wc_cfg_read(s, 0x24, 4) == 0 && wc_cfg_read(s, 0x04, 2) == 0,
	   "bar64=1: DEVICE_RESET clears both halves (type bits stay) and command");
	setup_bars(s);
	set_bar4(s, BAR4);
	ok(wc_bar_read(s, BAR4 + TD_SCRATCH, 8, true) == 0 &&
	   wc_bar_read(s, BAR4 + TD_DOORBELL_COUNT, 8, true) == 0,
	   "bar64=1: after reset BAR4 serves the reset registers");
	ok(stop_remote(&rp) == 0, "bar64=1: remote exits 0 at EOF");

	/* The fast path: BAR4 by region id (= BAR) and by its cookie. */
	{
		struct mpdev_request q[3];
		struct mpdev_completion c[4];
		int sp[2], n;
		char fdstr[16];

		if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0)
			return;
		fake_conf("features %llx\n", (unsigned long long)MPDEV_FEAT_REGION_COOKIE);
		snprintf(fdstr, sizeof(fdstr), "%d", sp[0]);
		if (start_remote(&rp, "bar64-fast", sp[0], "--mpdev-fd", fdstr,
				 "--device-arg", "msix=0,bar64=1", NULL)) {
			close(sp[0]);
			s = rp.sock;
			ok(wc_cfg_read(s, 0x18, 4) == 0 && wc_cfg_read(s, 0x20, 4) == 0x4 &&
			   wc_cfg_read(s, 0x34, 1) == 0x40 && wc_cfg_read(s, 0x41, 1) == 0,
			   "msix=0,bar64=1: no BAR2, no MSI-X capability, BAR4 64-bit");
			setup_bars(s);
			set_bar4(s, BAR4);
			q[0] = req(40, 4, TD_MAGIC, 4, false, 0, true);
			q[1] = creq(41, 9, MPQ_MPDEV_COOKIE(4, TD_SCRATCH), 8, 8, true,
				    0xb4b4b4b4c0c0c0c0ull, false);
			q[2] = req(42, 4, TD_SCRATCH + 8, 8, false, 0, true);
			n = write(sp[1], q, sizeof(q));
			n = n == sizeof(q) ? read_cpls(sp[1], c, 4) : -1;
			ok(n == 2 && c[0].id == 40 && c[0].data == TESTDEV_MAGIC && !c[0].flags &&
			   c[1].id == 42 && c[1].data == 0xb4b4b4b4c0c0c0c0ull && !c[1].flags,
			   "msix=0,bar64=1 fast path: region 4 and cookie BAR4 reach BAR4 (%d completions)",
			   n);
			ok(wc_bar_read(s, BAR4 + TD_SCRATCH + 8, 8, true) == 0xb4b4b4b4c0c0c0c0ull &&
			   wc_bar_read(s, BAR4 + TD_FEATURES, 4, true) == (7 | TD_FEAT_BAR64),
			   "msix=0,bar64=1: the socket path sees it at 0x%llx; FEATURES 0x17",
			   (unsigned long long)BAR4);
			ok(stat_now(&rp, "dev.bar4_reads") == 4 &&
			   file_key(rp.stats, "dev.bar4_writes") == 1 &&
			   file_key(rp.stats, "mpdev.reads") == 2 &&
			   file_key(rp.stats, "mpdev.writes") == 1 &&
			   file_key(rp.stats, "mpdev.by_cookie") == 1,
			   "msix=0,bar64=1: BAR4 counters 4 reads/1 write, 2+1 of them over mpdev, 1 by cookie");
			stop_remote(&rp);
		} else {
			close(sp[0]);
		}
		close(sp[1]);
	}

	/* bar64=0 is the default layout; the argument list is checked. */
	if (start_remote(&rp, "bar64-0", -1, "--device-arg", "bar64=0,msix=8", NULL)) {
		wc_cfg_write(rp.sock, 0x20, 0xffffffff, 4);
		ok(wc_cfg_read(rp.sock, 0x20, 4) == 0 && wc_cfg_read(rp.sock, 0x4e, 2) == 7,
		   "bar64=0,msix=8: no BAR4, 8 MSI-X vectors");
		stop_remote(&rp);
	}
	devarg_refused("bar64=2");
	devarg_refused("bar64=1,bogus");
	devarg_refused("bar64=1,");
	devarg_refused(",bar64=1");
	devarg_refused("bar64=1,,msix=2");
	devarg_refused("bar64");
}

/* A memfd playing the kernel's shared ring, laid out as @ri says. */
struct fring {
	int mfd;
	unsigned char *base;
	size_t len;
	struct mpdev_ring_info ri;
	struct mpdev_ring_hdr *h;
};

static bool fring_new(struct fring *f, uint32_t entries, uint32_t rsz, uint32_t csz,
		      uint64_t roff, uint64_t coff, uint64_t msize, uint32_t hdr_entries)
{
	memset(f, 0, sizeof(*f));
	f->ri = (struct mpdev_ring_info){
		.entries = entries, .req_entry_size = rsz, .cpl_entry_size = csz,
		.req_offset = roff, .cpl_offset = coff, .mmap_size = msize,
	};
	/* Big enough for any geometry the tests offer, valid or not. */
	f->len = msize > 65536 ? msize : 65536;
	f->mfd = memfd_create("ring", MFD_CLOEXEC);
	if (f->mfd < 0 || ftruncate(f->mfd, f->len) < 0)
		return false;
	f->base = mmap(NULL, f->len, PROT_READ | PROT_WRITE, MAP_SHARED, f->mfd, 0);
	if (f->base == MAP_FAILED)
		return false;
	/* Stale bytes everywhere: the remote must zero what it does not know. */
	memset(f->base, 0xa5, f->len);
	f->h = (struct mpdev_ring_hdr *)f->base;
	memset(f->h, 0, sizeof(*f->h));
	f->h->entries = hdr_entries;
	fake_conf("features %llx\nring %u %u %u %llu %llu %llu\n", ~0ull, entries, rsz,
		  csz, (unsigned long long)roff, (unsigned long long)coff,
		  (unsigned long long)msize);
	return true;
}

static void fring_free(struct fring *f)
{
	if (f->base && f->base != MAP_FAILED)
		munmap(f->base, f->len);
	if (f->mfd >= 0)
		close(f->mfd);
}

static void fring_put_req(struct fring *f, uint32_t idx, const struct mpdev_request *q)
{
	memcpy(f->base + f->ri.req_offset + (idx % f->ri.entries) * f->ri.req_entry_size,
	       q, sizeof(*q));
}

static const unsigned char *fring_cpl(struct fring *f, uint32_t idx)
{
	return f->base + f->ri.cpl_offset + (idx % f->ri.entries) * f->ri.cpl_entry_size;
}

/* Reap every completion posted; checks ids come in order, tails are zero. */
static void fring_reap(struct fring *f, uint64_t *next_id, bool *good)
{
	uint32_t head = __atomic_load_n(&f->h->cpl_head, __ATOMIC_ACQUIRE);

	while (f->h->cpl_tail != head) {
		const unsigned char *p = fring_cpl(f, f->h->cpl_tail);
		struct mpdev_completion c;

		memcpy(&c, p, sizeof(c));
		*good &= c.id == *next_id && c.size == 8 && !c.flags;
		for (size_t k = sizeof(c); k < f->ri.cpl_entry_size; k++)
			*good &= !p[k];
		*next_id += 1;
		while (*next_id % 3 == 0)	/* ids of posted writes */
			*next_id += 1;
		__atomic_store_n(&f->h->cpl_tail, f->h->cpl_tail + 1, __ATOMIC_RELEASE);
	}
}

/* 600 requests through a ring of @f's geometry, several laps. */
static void ring_run(struct fring *f, const char *how)
{
	struct rproc rp;
	char fdstr[16], tag[32];
	uint32_t head = 0, n = f->ri.entries;
	uint64_t next_id = 1;
	bool good = true;

	snprintf(fdstr, sizeof(fdstr), "%d", f->mfd);
	snprintf(tag, sizeof(tag), "ring-%u", n);
	if (!start_remote(&rp, tag, f->mfd, "--mpdev-fd", fdstr, "--poll", NULL))
		return;
	setup_bars(rp.sock);
	for (int i = 0; i < 600; i++) {
		/* Ids 3, 6, 9...: posted writes (no reply); the rest read. */
		bool w = (i + 1) % 3 == 0;
		struct mpdev_request q = creq(i + 1, 9, i % 2 ? MPQ_MPDEV_COOKIE(0, TD_SCRATCH) : 0,
					      (i % 2 ? 0 : TD_SCRATCH) + 8 * (i % 32), 8, w,
					      0x5a00 + i, !w);

		q.region = i % 2 ? 9 : 0;
		while (head - __atomic_load_n(&f->h->req_tail, __ATOMIC_ACQUIRE) >= n) {
			fring_reap(f, &next_id, &good);
			usleep(100);
		}
		fring_put_req(f, head, &q);
		__atomic_store_n(&f->h->req_head, ++head, __ATOMIC_RELEASE);
		/* Reap completions as a vCPU would. */
		fring_reap(f, &next_id, &good);
	}
	for (int i = 0; i < 2000 && f->h->cpl_tail < 400; i++) {
		fring_reap(f, &next_id, &good);
		usleep(1000);
	}
	ok(good && f->h->cpl_tail == 400 && f->h->req_tail == 600,
	   "%s: 600 requests consumed, 400 completions in order with zeroed tails (cpl %u, req_tail %u)",
	   how, f->h->cpl_tail, f->h->req_tail);
	ok(wc_bar_read(rp.sock, BAR0 + TD_SCRATCH + 8 * (599 % 32), 8, true) == 0x5a00 + 599,
	   "%s: last posted write visible to the socket path", how);
	ok(stat_now(&rp, "mpdev.reads") == 400 && file_key(rp.stats, "mpdev.writes") == 200 &&
	   file_key(rp.stats, "mpdev.by_cookie") == 300 &&
	   file_key(rp.stats, "mpdev.bad_requests") == 0,
	   "%s: counters (400 reads, 200 writes, 300 by cookie, none refused)", how);
	/* A corrupt head: the ring is dropped, the socket path goes on. */
	__atomic_store_n(&f->h->req_head, f->h->req_tail + n + 1, __ATOMIC_RELEASE);
	usleep(100000);
	ok(wc_cfg_read(rp.sock, 0, 2) == TESTDEV_VENDOR_ID &&
	   file_contains(rp.log, "not within a ring"),
	   "%s: head one past a ring detected, socket path alive", how);
	stop_remote(&rp);
}

static void test_fastpath_ring(void)
{
	struct fring f;

	/* The kernel's default: 256 entries of 48 and 32 bytes, back to back. */
	if (fring_new(&f, 256, 48, 32, 128, 128 + 256 * 48, 24576, 256))
		ring_run(&f, "ring 256x48/32");
	fring_free(&f);
	/*
	 * What a later kernel may do: 16 entries, larger entries, completions
	 * first, gaps, more pages than needed.  Nothing is compiled in.
	 */
	if (fring_new(&f, 16, 64, 48, 1024, 256, 8192, 16))
		ring_run(&f, "ring 16x64/48, completions first");
	fring_free(&f);
}

/* Geometries the remote must refuse; each answered RET all-ones. */
static void test_fastpath_ring_refused(void)
{
	static const struct {
		const char *what, *conf, *log;
		uint32_t hdr_entries;
	} bad[] = {
		{ "no MPDEV_GET_FEATURES", "features fail\n", "not an mpdev backend fd", 256 },
		{ "no MPDEV_FEAT_RING_GEOMETRY", "features 2\nring 256 48 32 128 12416 24576\n",
		  "no ring geometry", 256 },
		{ "MPDEV_BACKEND_GET_RING failing", "ring fail\n", "MPDEV_BACKEND_GET_RING", 256 },
		{ "unknown ring flags", "ring 256 48 32 128 12416 24576 1\n", "unknown ring flags", 256 },
		{ "entries not a power of two", "ring 100 48 32 128 4928 8192\n", "power of two", 100 },
		{ "no entries", "ring 0 48 32 128 128 4096\n", "power of two", 0 },
		{ "requests smaller than 48 bytes", "ring 256 40 32 128 10368 24576\n",
		  "entry sizes", 256 },
		{ "unaligned entry size", "ring 256 52 32 128 13440 24576\n", "entry sizes", 256 },
		{ "mmap_size not page-sized", "ring 256 48 32 128 12416 20700\n", "not a multiple", 256 },
		{ "mmap_size far too large", "ring 256 48 32 128 12416 137438953472\n",
		  "not a multiple", 256 },
		{ "completion ring past the mapping", "ring 256 48 32 128 16392 24576\n", "leaves", 256 },
		{ "offset past the mapping", "ring 256 48 32 128 18446744073709551608 24576\n",
		  "past the", 256 },
		{ "rings overlapping", "ring 256 48 32 128 1024 24576\n", "overlap", 256 },
		{ "request ring inside the header", "ring 256 48 32 64 12416 24576\n",
		  "inside the header", 256 },
		{ "header disagreeing on entries", "ring 256 48 32 128 12416 24576\n",
		  "ring header says", 128 },
	};
	struct mpq_mpdev_backend b = {
		.magic = MPQ_MPDEV_MAGIC, .version = MPQ_MPDEV_VERSION, .nr_map = 1,
		.map = { { 0, 0 } },
	};
	struct rproc rp;
	struct fring f;
	uint64_t v, sz;

	fake_conf("features %llx\n", ~0ull);
	if (!start_remote(&rp, "ring-refused", -1, "--poll", NULL))
		return;
	setup_bars(rp.sock);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (!fring_new(&f, 256, 48, 32, 128, 12416, 24576, bad[i].hdr_entries)) {
			fring_free(&f);
			continue;
		}
		off_t from = file_size(rp.log);

		fake_conf("%s", bad[i].conf);
		wc_send(rp.sock, MPQ_CMD_MPDEV_BACKEND, sizeof(b), &b, sizeof(b), &f.mfd, 1);
		ok(wc_recv_ret(rp.sock, &v, &sz, 2000) == 1 && v == ONES &&
		   file_contains_from(rp.log, from, bad[i].log),
		   "ring refused: %s (RET all-ones, '%s' logged)", bad[i].what, bad[i].log);
		fring_free(&f);
	}
	/* And the same remote takes a good one afterwards. */
	if (fring_new(&f, 256, 48, 32, 128, 12416, 24576, 256)) {
		struct mpdev_request q = req(1, 0, TD_MAGIC, 4, false, 0, true);
		struct mpdev_completion c;

		wc_send(rp.sock, MPQ_CMD_MPDEV_BACKEND, sizeof(b), &b, sizeof(b), &f.mfd, 1);
		ok(wc_recv_ret(rp.sock, &v, &sz, 2000) == 1 && v == 0,
		   "ring: a good geometry after the bad ones is taken (RET 0)");
		fring_put_req(&f, 0, &q);
		__atomic_store_n(&f.h->req_head, 1, __ATOMIC_RELEASE);
		for (int i = 0; i < 300 && !__atomic_load_n(&f.h->cpl_head, __ATOMIC_ACQUIRE); i++)
			usleep(10000);
		memcpy(&c, fring_cpl(&f, 0), sizeof(c));
		ok(f.h->cpl_head == 1 && c.id == 1 && c.data == TESTDEV_MAGIC && !c.flags,
		   "ring: and serves from it (BAR0 magic)");
	}
	stop_remote(&rp);
	fring_free(&f);
}

static void test_unprivileged(void)
{
	struct rproc rp;
	char path[64], line[128];
	FILE *f;
	long uid = -1;

	if (geteuid() != 0) {
		/* Already unprivileged: every other test proved the point. */
		ok(true, "# SKIP --user needs root (the suite already ran unprivileged)");
		return;
	}
	chmod(tmpdir, 0777);
	if (!start_remote(&rp, "nobody", -1, "--user", "nobody", NULL))
		return;
	ok(wc_cfg_read(rp.sock, 0, 2) == TESTDEV_VENDOR_ID, "--user nobody: serves config");
	snprintf(path, sizeof(path), "/proc/%d/status", (int)rp.pid);
	f = fopen(path, "r");
	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, "Uid:", 4))
			uid = strtol(line + 4, NULL, 10);
	if (f)
		fclose(f);
	ok(uid == 65534, "--user nobody: runs as uid 65534 (got %ld)", uid);
	stop_remote(&rp);
}

/* ---- mpqemu-run ---------------------------------------------------- */

static void test_qemu_args(void)
{
	char msg[1024], err[256];
	char *good[] = { "-object", "memory-backend-memfd,id=mem,size=1G",
			 "-machine", "q35,memory-backend=mem" };
	char *numa[] = { "-object", "memory-backend-file,id=m0,size=1G,mem-path=/dev/shm/x,share=on",
			 "-numa", "node,memdev=m0" };
	char *noshare[] = { "-object", "memory-backend-memfd,id=mem,size=1G,share=off",
			    "-M", "q35,memory-backend=mem" };
	char *ram[] = { "-object", "memory-backend-ram,id=mem,size=1G",
			"-machine", "memory-backend=mem" };
	char *none[] = { "-m", "1G" };
	char *file_noshare[] = { "--object", "memory-backend-file,id=m,size=1G,mem-path=/x",
				 "--machine", "pc,memory-backend=m" };
	struct qa_proxy p1[1] = { { "mpdev0", 7, -1 } };
	struct qa_proxy p2[2] = { { "a", 7, -1 }, { "b", 9, 11 } };
	char *args1[] = { "-nographic" };
	char *args2[] = { "-device", "x-pci-proxy-dev,id=mine,fd=@PROXY_FD@", "-x", "a@b" };
	char *args3[] = { "-device", "x-pci-proxy-dev,id=b,fd=@PROXY_FD:b@,mpdev=@MPDEV_FD:b@" };
	char **out;

	ok(qa_check_shared_ram(4, good, msg, sizeof(msg)) == 0, "RAM check: memfd backend accepted");
	ok(qa_check_shared_ram(4, numa, msg, sizeof(msg)) == 0, "RAM check: shared file as numa memdev");
	ok(qa_check_shared_ram(4, noshare, msg, sizeof(msg)) < 0 && strstr(msg, "share=on"),
	   "RAM check: memfd share=off refused");
	ok(qa_check_shared_ram(4, ram, msg, sizeof(msg)) < 0 && strstr(msg, "no fd"),
	   "RAM check: memory-backend-ram refused");
	ok(qa_check_shared_ram(2, none, msg, sizeof(msg)) < 0 &&
	   strstr(msg, "memory-backend-memfd"), "RAM check: plain -m refused with the fix");
	ok(qa_check_shared_ram(4, file_noshare, msg, sizeof(msg)) < 0,
	   "RAM check: --object file without share refused");

	out = qa_build_argv("qemu", 1, args1, p1, 1, "mpdev-fd", err, sizeof(err));
	ok(out && !strcmp(out[0], "qemu") && !strcmp(out[2], "-device") &&
	   !strcmp(out[3], "x-pci-proxy-dev,id=mpdev0,fd=7") && !out[4],
	   "argv: -device appended");
	qa_free_argv(out);
	out = qa_build_argv("qemu", 4, args2, p1, 1, "mpdev-fd", err, sizeof(err));
	ok(out && !strcmp(out[2], "x-pci-proxy-dev,id=mine,fd=7") && !strcmp(out[4], "a@b") &&
	   !out[5], "argv: @PROXY_FD@ replaced, no -device added, other @ kept");
	qa_free_argv(out);
	out = qa_build_argv("qemu", 2, args3, p2, 2, "mpdev-fd", err, sizeof(err));
	ok(out && !strcmp(out[2], "x-pci-proxy-dev,id=b,fd=9,mpdev=11") &&
	   !strcmp(out[4], "x-pci-proxy-dev,id=a,fd=7") && !out[5],
	   "argv: named placeholders; proxy a appended");
	qa_free_argv(out);
	out = qa_build_argv("qemu", 4, args2, p2, 2, "mpdev-fd", err, sizeof(err));
	ok(!out && strstr(err, "ambiguous"), "argv: @PROXY_FD@ with two proxies refused");
	out = qa_build_argv("qemu", 1, args1, p2, 2, "mpdev-fd", err, sizeof(err));
	ok(out && !strcmp(out[5], "x-pci-proxy-dev,id=b,fd=9,mpdev-fd=11"),
	   "argv: generated -device carries the mpdev fd property");
	qa_free_argv(out);
}

/* Run mpqemu-run with @argv; capture stderr; return wait status. */
static int run_tool(char *const *argv, const char *errlog, int timeout_ms, pid_t *pidp,
		    int sig_after_ms, int sig)
{
	pid_t pid = fork();
	int st;

	if (pid == 0) {
		int fd = open(errlog, O_WRONLY | O_CREAT | O_TRUNC, 0644);

		dup2(fd, 2);
		dup2(fd, 1);
		execv(argv[0], argv);
		_exit(127);
	}
	if (pidp)
		*pidp = pid;
	if (sig_after_ms) {
		usleep(sig_after_ms * 1000);
		kill(pid, sig);
	}
	st = wait_exit(pid, timeout_ms);
	if (st < 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
	return st;
}

static void write_script(const char *path, const char *body)
{
	FILE *f = fopen(path, "w");

	if (!f)
		return;
	fprintf(f, "#!/bin/sh\n%s\n", body);
	fclose(f);
	chmod(path, 0755);
}

static void test_mpqemu_run(void)
{
	char fake_ok[256], fake_sleep[256], fake_trap[256], log[256], args_out[256], body[512];
	char *mem[] = { "-object", "memory-backend-memfd,id=mem,size=64M",
			"-machine", "q35,memory-backend=mem" };
	int st;

	snprintf(log, sizeof(log), "%s/run.log", tmpdir);
	snprintf(args_out, sizeof(args_out), "%s/qemu-args", tmpdir);
	snprintf(fake_ok, sizeof(fake_ok), "%s/fake-qemu-ok", tmpdir);
	snprintf(fake_sleep, sizeof(fake_sleep), "%s/fake-qemu-sleep", tmpdir);
	snprintf(fake_trap, sizeof(fake_trap), "%s/fake-qemu-trap", tmpdir);
	/* Checks that the fd in the last argument is a socket, then exits. */
	snprintf(body, sizeof(body),
		 "echo \"$@\" > %s\n"
		 "for a; do last=$a; done\n"
		 "fd=${last##*fd=}\n"
		 "[ -S /proc/self/fd/$fd ] || exit 9\n"
		 "exit 0", args_out);
	write_script(fake_ok, body);
	write_script(fake_sleep, "sleep 30");
	write_script(fake_trap, "trap 'exit 3' TERM\nsleep 30 & wait");

	{
		char *a[] = { (char *)run_bin, NULL };

		st = run_tool(a, log, 3000, NULL, 0, 0);
		ok(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 2 && file_contains(log, "usage"),
		   "mpqemu-run without arguments: usage, exit 2");
	}
	{
		char *a[] = { (char *)run_bin, "--bogus", "--", "x", NULL };

		st = run_tool(a, log, 3000, NULL, 0, 0);
		ok(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 2, "unknown option: exit 2");
	}
	{
		char *a[] = { (char *)run_bin, "--qemu", fake_ok, "--", "-m", "1G", NULL };

		st = run_tool(a, log, 3000, NULL, 0, 0);
		ok(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 2 &&
		   file_contains(log, "memory-backend-memfd"),
		   "private guest RAM: refused with the fix, exit 2");
	}
	{
		char *a[] = { (char *)run_bin, "--qemu", fake_ok, "--remote", (char *)remote_bin,
			      "--", mem[0], mem[1], mem[2], mem[3], NULL };

		st = run_tool(a, log, 5000, NULL, 0, 0);
		ok(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0 &&
		   file_contains(args_out, "-device x-pci-proxy-dev,id=mpdev0,fd="),
		   "QEMU gets a socket fd in -device x-pci-proxy-dev; its exit 0 is ours");
	}
	{
		char *a[] = { (char *)run_bin, "--qemu", fake_sleep, "--remote", "/bin/false",
			      "--", mem[0], mem[1], mem[2], mem[3], NULL };
		struct timespec t0, t1;

		clock_gettime(CLOCK_MONOTONIC, &t0);
		st = run_tool(a, log, 10000, NULL, 0, 0);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		ok(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 1 &&
		   file_contains(log, "exited with status 1; stopping QEMU") &&
		   t1.tv_sec - t0.tv_sec < 5,
		   "remote dies: QEMU stopped with a message, exit 1");
	}
	{
		char *a[] = { (char *)run_bin, "--qemu", fake_trap, "--remote", (char *)remote_bin,
			      "--", mem[0], mem[1], mem[2], mem[3], NULL };

		st = run_tool(a, log, 8000, NULL, 500, SIGTERM);
		ok(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 3 &&
		   file_contains(log, "passing it to QEMU"),
		   "SIGTERM forwarded to QEMU; QEMU's exit status returned");
	}
	{
		char *a[] = { (char *)run_bin, "--qemu", "/nonexistent/qemu", "--remote",
			      (char *)remote_bin, "--", mem[0], mem[1], mem[2], mem[3], NULL };

		st = run_tool(a, log, 5000, NULL, 0, 0);
		ok(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 1 &&
		   file_contains(log, "cannot start QEMU"), "missing QEMU binary: clear error");
	}
	{
		char *a[] = { (char *)run_bin, "--qemu", fake_ok, "--mpdev=/nonexistent/mpdev",
			      "--", mem[0], mem[1], mem[2], mem[3], NULL };

		st = run_tool(a, log, 5000, NULL, 0, 0);
		ok(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 1 &&
		   file_contains(log, "cannot open /nonexistent/mpdev"),
		   "--mpdev without the device: clear error");
	}
}

int main(int argc, char **argv)
{
	struct rproc rp;

	if (argc != 4) {
		fprintf(stderr, "usage: %s PATH/mpdev-remote PATH/mpqemu-run PATH/fake_mpdev.so\n",
			argv[0]);
		return 2;
	}
	remote_bin = argv[1];
	run_bin = argv[2];
	fake_so = argv[3];
	signal(SIGPIPE, SIG_IGN);
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	diag("logs in %s", tmpdir);
	snprintf(fake_conf_path, sizeof(fake_conf_path), "%s/fake_mpdev.conf", tmpdir);

	if (ok(start_remote(&rp, "main", -1, NULL), "remote started")) {
		test_config(rp.sock);
		test_bars(&rp);
		test_dma(&rp);
		test_intx(&rp);
		test_reset(rp.sock);
		test_malformed(&rp);
		ok(stop_remote(&rp) == 0, "remote exits 0 at EOF");
	}
	test_msix_fds();
	test_msix_notify();
	test_fatal();
	test_fastpath_fd();
	test_fastpath_msg();
	test_bar64();
	test_fastpath_ring();
	test_fastpath_ring_refused();
	test_unprivileged();
	test_qemu_args();
	test_mpqemu_run();
	if (!tap_fail) {
		/* Keep the logs only when something failed. */
		char cmd[128];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
		if (system(cmd) != 0)
			diag("could not remove %s", tmpdir);
	}
	return tap_done();
}
