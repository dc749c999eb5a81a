// SPDX-License-Identifier: GPL-2.0
/*
 * mpdev-io - real I/O through a guest's block and network drivers.
 *
 * A small static tool for the nested guest of the end-to-end tests
 * (selftests/e2e), for the devices QEMU's own models provide from a remote
 * process or in-process (an LSI 53C895A with scsi-hd disks, NVMe,
 * virtio-blk, AHCI with ide-hd disks, an e1000 with -netdev user): it finds
 * disks by serial number, checks their PCI function's MSI-X or MSI and
 * interrupts, writes and reads back patterns with O_DIRECT, streams
 * self-describing records for the "remote killed mid-I/O" test, times
 * 4 KiB random I/O, and fetches a file over the NIC.  The same binary
 * checks the disk images host-side (verify-image, verify-stream).  Results
 * are TAP; see Documentation/mpdev/e2e.rst.
 *
 * usage: mpdev-io [--out stdout|debugcon[=PORT]] [--file] COMMAND [ARGS]
 * commands (in a run STEP the arguments are separated by ":"):
 *   disk SERIAL [SECS]   wait (default 30 s) for the disk whose serial is
 *                        SERIAL: a SCSI disk /dev/sdX (VPD page 0x80; an
 *                        ATA disk behind libata too, which answers it with
 *                        the ATA serial), an NVMe namespace /dev/nvmeXnY
 *                        (its controller's serial) or a virtio-blk disk
 *                        /dev/vdX
 *   pattern SERIAL SEED  O_DIRECT writes of 16 extents (4..256 KiB, offsets
 *                        from SEED and the disk size, with offset 0 and the
 *                        last 4 KiB), then generation-2 overwrites of two
 *                        extents and part of a third, fdatasync, read back
 *   stream SERIAL SEED [DELAY_MS]
 *                        64 KiB self-describing records at i * 64 KiB, one
 *                        "BLK-DONE i" after each write returned; at the first
 *                        error "BLK-ERROR i ERRNO" and then sleep forever; at
 *                        the disk's end "BLK-END N" and go on
 *   bench SERIAL randread|randwrite SECS [LABEL [QD]]
 *                        4 KiB random O_DIRECT I/O at queue depth QD
 *                        (default 1: pread/pwrite; more: Linux AIO) over the
 *                        disk's first GiB: one "BLKBENCH ..." line
 *   msix SERIAL [MIN]    the disk's PCI function (up from /sys/block/X/device)
 *                        has an MSI-X capability (config space), enabled,
 *                        the function not masked, and its vectors (msi_irqs/)
 *                        took at least MIN (default 1) interrupts, all CPUs
 *                        of /proc/interrupts: one "MSIX serial=S bdf=B
 *                        enabled=1 masked=0 entries=E vectors=N irqs=T" line
 *   msi SERIAL [MIN]     the same for plain MSI (capability ID 0x05): enabled
 *                        (Message Control bit 0), not every vector masked,
 *                        its vectors (msi_irqs/ in mode "msi") took at least
 *                        MIN interrupts: one "MSI serial=S bdf=B enabled=1
 *                        capable=C allocated=A addr64=0|1 maskbit=0|1
 *                        masked=0xM vectors=N irqs=T" line
 *   pci VVVV/DDDD [SECS] what the guest sees of the first function with that
 *                        ID: driver, BARs, MSI-X, MSI, interrupts, its kernel
 *                        messages and the disks under it (waiting up to SECS
 *                        for one), as comments and one "PCI id=... bdf=...
 *                        driver=... bar0_size=... disks=..." line; ok if
 *                        the function is there
 *   rom VVVV/DDDD SIZE SHA256
 *                        the expansion ROM of the first function with that
 *                        ID, read through sysfs: SIZE bytes with that
 *                        sha256, one "ROM bdf=B size=N sha256=H" line
 *   net URL SHA256       bring up the first ethernet interface as
 *                        10.0.2.15/24 via 10.0.2.2 (QEMU -netdev user),
 *                        ping 10.0.2.2, fetch URL, compare its sha256 (in a
 *                        STEP the URL may contain ":"; SHA256 is the last)
 *   fetch URL SHA256     only the last part: GET http://A.B.C.D[:PORT]/PATH
 *                        (our own HTTP/1.0 client), compare its sha256
 *   verify-image IMG SEED
 *                        host side: IMG holds exactly what pattern SEED left
 *                        on it, and zeros everywhere else
 *   verify-stream IMG SEED N
 *                        host side: records 0..N of stream SEED are intact;
 *                        how many more landed; nothing after those
 *   run STEP[,STEP...]   several commands in one TAP stream; a STEP is
 *                        COMMAND[:ARG[:ARG...]], e.g. pattern:e2edata:7
 *
 * Disks are named by SERIAL; with --file, SERIAL is a path instead (a plain
 * file or a block device; O_DIRECT when the file system has it), for a
 * host-side self-test (selftests/e2e/test-mpdev-io.sh); for msix and msi,
 * a file of config space (only the capability is checked then).
 *
 * Output: TAP; "# mpdev-io: CMD (uptime X s) ..." first, the plan last, and
 * run ends with "E2E-GUEST-DONE pass=P fail=F skip=S todo=T".  --out
 * debugcon (the default, but for verify-*, which default to stdout) writes
 * each line with one "rep outsb" to an I/O port (QEMU's isa-debugcon,
 * default 0xe9).  Exit status 0 when nothing failed, 1 when something did,
 * 2 on bad usage.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <arpa/inet.h>
#include <libaio.h>
#include <linux/fs.h>
#include <linux/pci_regs.h>
#include <netinet/in.h>
#include <scsi/sg.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/io.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "gout.h"

#define BLK		4096u		/* pattern granule and I/O alignment */
#define NEXT		16		/* extents of a pattern */
#define EXT_MAX_BLKS	64		/* 256 KiB */
#define REC		65536u		/* stream record */
#define REC_MAGIC	0x525453564544504dull	/* "MPDEVSTR" little-endian */
#define BENCH_SPAN	(1ull << 30)

/* ------------------------------------------------------------ misc */

static void __attribute__((noreturn)) sleep_forever(void)
{
	for (;;)
		pause();
}

static uint64_t parse_u64(const char *s, const char *what)
{
	char *end;
	uint64_t v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s || *end)
		usage_err("%s: bad number '%s'", what, s);
	return v;
}

static void *xalloc(size_t len)
{
	void *p;

	if (posix_memalign(&p, BLK, len))
		usage_err("out of memory (%zu bytes)", len);
	memset(p, 0, len);
	return p;
}

/* ------------------------------------------------- data and extents */

static uint64_t mix64(uint64_t x)	/* splitmix64's finalizer: a bijection */
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

static uint64_t rnd(uint64_t *s)	/* splitmix64 */
{
	*s += 0x9e3779b97f4a7c15ull;
	return mix64(*s);
}

/* The 8-byte word at absolute byte offset OFF of generation GEN. */
static uint64_t pat_word(uint64_t seed, uint64_t gen, uint64_t off)
{
	return mix64(seed * 0x9e3779b97f4a7c15ull + gen * 0xd1b54a32d192ed03ull + off);
}

static void pat_fill(uint64_t *buf, uint64_t seed, uint64_t gen, uint64_t off, size_t len)
{
	for (size_t i = 0; i < len / 8; i++)
		buf[i] = pat_word(seed, gen, off + i * 8);
}

/* Offset of the first word of BUF (at OFF) that differs, or UINT64_MAX. */
static uint64_t pat_check(const uint64_t *buf, uint64_t seed, uint64_t gen, uint64_t off,
			  size_t len)
{
	for (size_t i = 0; i < len / 8; i++)
		if (buf[i] != (gen ? pat_word(seed, gen, off + i * 8) : 0))
			return off + i * 8;
	return UINT64_MAX;
}

/*
 * The plan of "pattern SEED" on a disk of SIZE bytes, in 4 KiB blocks: the
 * disk is cut into 16 slots, extent k lies inside slot k (so they never
 * overlap and leave gaps), extent 0 at block 0 and extent 15 ending at the
 * last full block; 1..64 blocks each (extent 1 one block, extent 2 64 on a
 * disk of 8 MiB or more).  They are written in an order
 * shuffled by SEED, then three generation-2 writes follow: extents a and
 * b whole, a middle part of extent c.
 */
struct range { uint64_t blk, nblk; unsigned gen; };
struct plan {
	uint64_t nblk;			/* of the disk */
	struct range ext[NEXT];		/* the extents (gen 1) */
	struct range wr[NEXT + 3];	/* every write, in order */
	int nwr;
};

static int plan_make(struct plan *p, uint64_t seed, uint64_t size)
{
	uint64_t s = seed ^ 0x6d70646576696full, slot, maxlen;
	int order[NEXT], a, b, c, k;

	memset(p, 0, sizeof(*p));
	p->nblk = size / BLK;
	slot = p->nblk / NEXT;
	if (slot < 2)
		return -1;
	maxlen = slot / 2 < EXT_MAX_BLKS ? slot / 2 : EXT_MAX_BLKS;
	for (k = 0; k < NEXT; k++) {
		struct range *e = &p->ext[k];

		e->nblk = 1 + rnd(&s) % maxlen;
		if (k == 1)		/* the smallest and the largest, always */
			e->nblk = 1;
		else if (k == 2)
			e->nblk = maxlen;
		e->gen = 1;
		if (k == 0)
			e->blk = 0;
		else if (k == NEXT - 1)
			e->blk = p->nblk - e->nblk;
		else
			e->blk = k * slot + rnd(&s) % (slot - e->nblk + 1);
		order[k] = k;
	}
	for (k = NEXT - 1; k > 0; k--) {
		int j = rnd(&s) % (k + 1), t = order[k];

		order[k] = order[j];
		order[j] = t;
	}
	for (k = 0; k < NEXT; k++)
		p->wr[p->nwr++] = p->ext[order[k]];
	a = rnd(&s) % NEXT;
	do
		b = rnd(&s) % NEXT;
	while (b == a);
	for (k = 0; k < 64; k++) {
		c = rnd(&s) % NEXT;
		if (c != a && c != b && p->ext[c].nblk >= 2)
			break;
	}
	if (k == 64)	/* every other extent is one block: the third one whole */
		for (c = 0; c == a || c == b; c++)
			;
	p->wr[p->nwr++] = (struct range){ p->ext[a].blk, p->ext[a].nblk, 2 };
	p->wr[p->nwr++] = (struct range){ p->ext[b].blk, p->ext[b].nblk, 2 };
	if (p->ext[c].nblk >= 2)
		p->wr[p->nwr++] = (struct range){ p->ext[c].blk + p->ext[c].nblk / 4,
						  p->ext[c].nblk / 2, 2 };
	else
		p->wr[p->nwr++] = (struct range){ p->ext[c].blk, 1, 2 };
	return 0;
}

/* The generation block BLK finally holds: 0 (never written), 1 or 2. */
static unsigned plan_gen(const struct plan *p, uint64_t blk)
{
	unsigned g = 0;

	for (int i = 0; i < p->nwr; i++)
		if (blk >= p->wr[i].blk && blk < p->wr[i].blk + p->wr[i].nblk)
			g = p->wr[i].gen;
	return g;
}

static const char *ext_kind(const struct plan *p, const struct range *e)
{
	unsigned g0 = plan_gen(p, e->blk), mixed = 0;

	for (uint64_t b = e->blk; b < e->blk + e->nblk; b++)
		if (plan_gen(p, b) != g0)
			mixed = 1;
	return mixed ? "gen 1+2" : g0 == 2 ? "gen 2" : "gen 1";
}

/* Check LEN bytes at OFF in BUF against the plan; first bad offset or MAX. */
static uint64_t plan_check(const struct plan *p, uint64_t seed, const void *buf, uint64_t off,
			   size_t len)
{
	for (size_t d = 0; d < len; d += BLK) {
		uint64_t o = off + d, bad;

		bad = pat_check((const uint64_t *)((const char *)buf + d), seed,
				plan_gen(p, o / BLK), o, BLK);
		if (bad != UINT64_MAX)
			return bad;
	}
	return UINT64_MAX;
}

/* ------------------------------------------------------------- disks */

static bool opt_file;		/* SERIAL is a path */

struct disk {
	char serial[64];
	char dev[64];		/* /dev/sdX or the path */
	char name[32];
	uint64_t size;
};
static struct disk disks[16];
static int ndisks;

static int read_attr(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY), n;

	if (fd < 0)
		return -1;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = 0;
	return n;
}

static void trim(char *s)
{
	size_t n = strlen(s), i = 0;

	while (n && (s[n - 1] == ' ' || s[n - 1] == '\n' || s[n - 1] == 0))
		s[--n] = 0;
	while (s[i] == ' ')
		i++;
	memmove(s, s + i, n - i + 1);
}

/* A unit serial number page (VPD 0x80): 4 header bytes, then the serial. */
static int vpd80_serial(const unsigned char *pg, int n, char *out, size_t len)
{
	int l;

	if (n < 4 || pg[1] != 0x80)
		return -1;
	l = (pg[2] << 8 | pg[3]);
	if (l > n - 4)
		l = n - 4;
	if ((size_t)l >= len)
		l = len - 1;
	memcpy(out, pg + 4, l);
	out[l] = 0;
	trim(out);
	return 0;
}

/*
 * The serial of /sys/block/NAME: an NVMe namespace (nvmeXnY) has its
 * controller's (device/serial, space-padded), a virtio-blk disk (vdX) its
 * own (serial); a SCSI disk (sdX) has sysfs vpd_pg80, else an INQUIRY by
 * SG_IO.  Other block devices have none here.
 */
static int disk_serial(const char *name, char *out, size_t len)
{
	unsigned char pg[252];
	char path[PATH_MAX];
	int fd, n;

	if (!strncmp(name, "nvme", 4) || !strncmp(name, "vd", 2)) {
		snprintf(path, sizeof(path), "/sys/block/%s/%sserial", name,
			 name[0] == 'n' ? "device/" : "");
		if (read_attr(path, out, len) <= 0)
			return -1;
		trim(out);
		return *out ? 0 : -1;
	}
	if (strncmp(name, "sd", 2))
		return -1;
	snprintf(path, sizeof(path), "/sys/block/%s/device/vpd_pg80", name);
	fd = open(path, O_RDONLY);
	if (fd >= 0) {
		n = read(fd, pg, sizeof(pg));
		close(fd);
		if (n > 0 && vpd80_serial(pg, n, out, len) == 0)
			return 0;
	}
	snprintf(path, sizeof(path), "/dev/%s", name);
	fd = open(path, O_RDONLY | O_NONBLOCK);
	if (fd < 0)
		return -1;
	{
		unsigned char cdb[6] = { 0x12, 1, 0x80, 0, sizeof(pg), 0 }, sense[32];
		struct sg_io_hdr h = {
			.interface_id = 'S', .dxfer_direction = SG_DXFER_FROM_DEV,
			.cmd_len = sizeof(cdb), .mx_sb_len = sizeof(sense),
			.dxfer_len = sizeof(pg), .dxferp = pg, .cmdp = cdb,
			.sbp = sense, .timeout = 5000,
		};

		n = ioctl(fd, SG_IO, &h);
		close(fd);
		if (n < 0 || h.status || h.host_status || h.driver_status)
			return -1;
		return vpd80_serial(pg, sizeof(pg) - h.resid, out, len);
	}
}

static struct disk *disk_known(const char *serial)
{
	for (int i = 0; i < ndisks; i++)
		if (!strcmp(disks[i].serial, serial))
			return &disks[i];
	return NULL;
}

/* One look through /sys/block for SERIAL. */
static struct disk *disk_scan(const char *serial)
{
	struct disk *d = disk_known(serial), nd = { 0 };
	char path[PATH_MAX], buf[64], ser[64];
	struct dirent *de;
	DIR *dir;

	if (d)
		return d;
	if (ndisks == (int)(sizeof(disks) / sizeof(disks[0])))
		return NULL;
	if (opt_file) {
		struct stat st;
		int fd = open(serial, O_RDONLY);

		if (fd < 0)
			return NULL;
		if (fstat(fd, &st) == 0 && S_ISBLK(st.st_mode)) {
			if (ioctl(fd, BLKGETSIZE64, &nd.size) < 0)
				nd.size = 0;
		} else {
			nd.size = st.st_size;
		}
		close(fd);
		snprintf(nd.dev, sizeof(nd.dev), "%s", serial);
		snprintf(nd.name, sizeof(nd.name), "file");
		goto found;
	}
	dir = opendir("/sys/block");
	if (!dir)
		return NULL;
	while ((de = readdir(dir))) {
		if (disk_serial(de->d_name, ser, sizeof(ser)) || strcmp(ser, serial))
			continue;
		snprintf(path, sizeof(path), "/sys/block/%s/size", de->d_name);
		if (read_attr(path, buf, sizeof(buf)) <= 0)
			continue;
		nd.size = strtoull(buf, NULL, 10) * 512;
		if (!nd.size)
			continue;	/* not revalidated yet */
		snprintf(nd.name, sizeof(nd.name), "%s", de->d_name);
		snprintf(nd.dev, sizeof(nd.dev), "/dev/%s", de->d_name);
		break;
	}
	closedir(dir);
	if (!nd.size)
		return NULL;
found:
	snprintf(nd.serial, sizeof(nd.serial), "%s", serial);
	disks[ndisks] = nd;
	return &disks[ndisks++];
}

static struct disk *disk_need(const char *serial, const char *cmd)
{
	struct disk *d = disk_scan(serial);

	if (!d)
		tap(false, "%s: no disk with serial %s (a disk step first?)", cmd, serial);
	return d;
}

/* Open for O_DIRECT I/O; a --file on a file system without it goes without. */
static int disk_open(struct disk *d, int flags, const char *cmd)
{
	int fd = open(d->dev, flags | O_DIRECT);

	if (fd < 0 && errno == EINVAL && opt_file) {
		fd = open(d->dev, flags);
		if (fd >= 0)
			diag("%s: %s without O_DIRECT", cmd, d->dev);
	}
	if (fd < 0)
		tap(false, "%s: open %s: %s", cmd, d->dev, strerror(errno));
	return fd;
}

/* Whole transfers; -1 with errno on an error, EIO for a short one. */
static int xpio(int fd, bool wr, void *buf, size_t len, uint64_t off)
{
	while (len) {
		ssize_t n = wr ? pwrite(fd, buf, len, off) : pread(fd, buf, len, off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO;
			return -1;
		}
		buf = (char *)buf + n;
		len -= n;
		off += n;
	}
	return 0;
}

static int cmd_disk(int argc, char **argv)
{
	unsigned secs = argc > 2 ? parse_u64(argv[2], "disk SECS") : 30;
	uint64_t t0 = now_ns(), end = t0 + secs * 1000000000ull;
	char path[PATH_MAX], model[64] = "";
	struct disk *d;

	if (argc < 2 || argc > 3)
		usage_err("disk SERIAL [SECS]");
	while (!(d = disk_scan(argv[1])) && now_ns() < end)
		msleep(100);
	if (!d)
		return !tap(false, "disk %s: none within %u s", argv[1], secs);
	if (!opt_file) {
		snprintf(path, sizeof(path), "/sys/block/%s/device/model", d->name);
		read_attr(path, model, sizeof(model));
		trim(model);
	}
	tap(true, "disk %s: %s, %" PRIu64 " bytes (%" PRIu64 " MiB)%s%s, after %.1f s",
	    d->serial, d->dev, d->size, d->size >> 20, *model ? ", " : "", model,
	    (now_ns() - t0) / 1e9);
	return 0;
}

/* ----------------------------------------------------------- pattern */

static int cmd_pattern(int argc, char **argv)
{
	uint64_t seed, t0, bytes = 0;
	struct plan p;
	struct disk *d;
	void *buf;
	int fd, i, bad = 0;

	if (argc != 3)
		usage_err("pattern SERIAL SEED");
	seed = parse_u64(argv[2], "pattern SEED");
	d = disk_need(argv[1], "pattern");
	if (!d)
		return 1;
	if (plan_make(&p, seed, d->size) < 0)
		return !tap(false, "pattern: disk %s of %" PRIu64 " bytes is too small",
			    d->serial, d->size);
	fd = disk_open(d, O_RDWR, "pattern");
	if (fd < 0)
		return 1;
	buf = xalloc(EXT_MAX_BLKS * BLK);

	t0 = now_ns();
	for (i = 0; i < p.nwr; i++) {
		const struct range *w = &p.wr[i];

		if (i == NEXT) {
			tap(!bad, "pattern %s seed %" PRIu64 ": wrote %d extents, %" PRIu64
			    " KiB, gen 1 (offset 0 to the last 4 KiB at %" PRIu64 ")",
			    d->serial, seed, NEXT, bytes >> 10, (p.nblk - 1) * BLK);
			bad = 0, bytes = 0;
		}
		pat_fill(buf, seed, w->gen, w->blk * BLK, w->nblk * BLK);
		if (xpio(fd, true, buf, w->nblk * BLK, w->blk * BLK) < 0) {
			tap(false, "pattern: write %" PRIu64 "+%" PRIu64 " KiB: %s",
			    w->blk * BLK, w->nblk * 4, strerror(errno));
			bad++;
		}
		bytes += w->nblk * BLK;
	}
	tap(!bad, "pattern %s: overwrote 2 extents and part of a third, %" PRIu64 " KiB, gen 2",
	    d->serial, bytes >> 10);
	if (fdatasync(fd) < 0)
		tap(false, "pattern %s: fdatasync: %s", d->serial, strerror(errno));
	else
		tap(true, "pattern %s: fdatasync", d->serial);
	diag("pattern %s: writes took %.3f s", d->serial, (now_ns() - t0) / 1e9);

	t0 = now_ns();
	for (i = 0; i < NEXT; i++) {
		const struct range *e = &p.ext[i];
		uint64_t off = e->blk * BLK, len = e->nblk * BLK, at;

		memset(buf, 0, len);
		if (xpio(fd, false, buf, len, off) < 0) {
			tap(false, "pattern %s: read extent %d at %" PRIu64 ": %s", d->serial, i,
			    off, strerror(errno));
			continue;
		}
		at = plan_check(&p, seed, buf, off, len);
		if (at == UINT64_MAX)
			tap(true, "pattern %s: extent %d at %" PRIu64 ", %" PRIu64 " KiB, %s reads back",
			    d->serial, i, off, len >> 10, ext_kind(&p, e));
		else
			tap(false, "pattern %s: extent %d at %" PRIu64 ", %" PRIu64
			    " KiB, %s: mismatch at offset %" PRIu64 " (%016" PRIx64 ")",
			    d->serial, i, off, len >> 10, ext_kind(&p, e), at,
			    ((uint64_t *)buf)[(at - off) / 8]);
	}
	diag("pattern %s: reads took %.3f s", d->serial, (now_ns() - t0) / 1e9);
	free(buf);
	close(fd);
	return 0;
}

/* Host side: open IMG and its size; -1 after a failed TAP line. */
static int open_image(const char *img, uint64_t *size, const char *cmd)
{
	struct stat st;
	int fd = open(img, O_RDONLY);

	if (fd < 0 || fstat(fd, &st) < 0) {
		tap(false, "%s: open %s: %s", cmd, img, strerror(errno));
		return -1;
	}
	*size = st.st_size;
	if (S_ISBLK(st.st_mode) && ioctl(fd, BLKGETSIZE64, size) < 0)
		*size = 0;
	return fd;
}

static int cmd_verify_image(int argc, char **argv)
{
	const size_t chunk = 1 << 20;
	uint64_t seed, size, off, bad_ext = UINT64_MAX, bad_zero = UINT64_MAX;
	int fd, i, bad_ei = -1;
	struct plan p;
	char *buf;

	if (argc != 3)
		usage_err("verify-image IMG SEED");
	seed = parse_u64(argv[2], "verify-image SEED");
	fd = open_image(argv[1], &size, "verify-image");
	if (fd < 0)
		return 1;
	if (!tap(plan_make(&p, seed, size) == 0, "verify-image %s: %" PRIu64 " bytes, seed %" PRIu64,
		 argv[1], size, seed))
		return 1;
	buf = xalloc(chunk);
	for (off = 0; off < p.nblk * BLK; off += chunk) {
		size_t len = p.nblk * BLK - off < chunk ? p.nblk * BLK - off : chunk;

		if (xpio(fd, false, buf, len, off) < 0) {
			tap(false, "verify-image: read at %" PRIu64 ": %s", off, strerror(errno));
			free(buf);
			return 1;
		}
		for (size_t d = 0; d < len; d += BLK) {
			uint64_t o = off + d, b = o / BLK, at;
			unsigned g = plan_gen(&p, b);

			at = pat_check((uint64_t *)(buf + d), seed, g, o, BLK);
			if (at == UINT64_MAX)
				continue;
			if (g && bad_ext == UINT64_MAX) {
				bad_ext = at;
				for (i = 0; i < NEXT; i++)
					if (b >= p.ext[i].blk && b < p.ext[i].blk + p.ext[i].nblk)
						bad_ei = i;
				diag("verify-image: first mismatch in extent %d at offset %" PRIu64
				     ": %016" PRIx64 ", want %016" PRIx64 " (gen %u)", bad_ei, at,
				     ((uint64_t *)buf)[(at - off) / 8], pat_word(seed, g, at), g);
			}
			if (!g && bad_zero == UINT64_MAX) {
				bad_zero = at;
				diag("verify-image: first non-zero byte outside the extents near offset %"
				     PRIu64 ": %016" PRIx64, at, ((uint64_t *)buf)[(at - off) / 8]);
			}
		}
	}
	free(buf);
	close(fd);
	for (i = 0; i < NEXT; i++)
		diag("extent %d at %" PRIu64 ", %" PRIu64 " KiB, %s", i, p.ext[i].blk * BLK,
		     p.ext[i].nblk * 4, ext_kind(&p, &p.ext[i]));
	if (bad_ext == UINT64_MAX)
		tap(true, "verify-image: all %d extents hold their final data", NEXT);
	else
		tap(false, "verify-image: extent %d: first mismatch at offset %" PRIu64, bad_ei, bad_ext);
	if (bad_zero == UINT64_MAX)
		tap(true, "verify-image: zeros everywhere else");
	else
		tap(false, "verify-image: data outside the extents: first at offset %" PRIu64, bad_zero);
	return 0;
}

/* ------------------------------------------------------------ stream */

/* Record I: magic, seed, i, checksum of words 4.. (pattern gen 0x5354). */
static bool rec_fill(uint64_t *r, uint64_t seed, uint64_t i, bool check)
{
	uint64_t h = seed ^ i, bad = 0;

	for (size_t j = 4; j < REC / 8; j++) {
		uint64_t w = pat_word(seed, 0x5354, i * REC + j * 8);

		if (check)
			bad |= r[j] ^ w;
		else
			r[j] = w;
		h = mix64(h ^ w);
	}
	if (check)
		return !bad && r[0] == REC_MAGIC && r[1] == seed && r[2] == i && r[3] == h;
	r[0] = REC_MAGIC;
	r[1] = seed;
	r[2] = i;
	r[3] = h;
	return 1;
}

static int cmd_stream(int argc, char **argv)
{
	unsigned delay = argc > 3 ? parse_u64(argv[3], "stream DELAY_MS") : 0;
	uint64_t seed, i, n, t0;
	struct disk *d;
	void *buf;
	int fd;

	if (argc < 3 || argc > 4)
		usage_err("stream SERIAL SEED [DELAY_MS]");
	seed = parse_u64(argv[2], "stream SEED");
	d = disk_need(argv[1], "stream");
	if (!d)
		return 1;
	fd = disk_open(d, O_RDWR, "stream");
	if (fd < 0)
		return 1;
	buf = xalloc(REC);
	n = d->size / REC;
	diag("stream %s seed %" PRIu64 ": %" PRIu64 " records of 64 KiB", d->serial, seed, n);
	t0 = now_ns();
	for (i = 0; i < n; i++) {
		rec_fill(buf, seed, i, false);
		if (xpio(fd, true, buf, REC, i * REC) < 0) {
			int e = errno;

			say("BLK-ERROR %" PRIu64 " %d", i, e);
			diag("stream %s: record %" PRIu64 ": %s; sleeping", d->serial, i, strerror(e));
			sleep_forever();
		}
		say("BLK-DONE %" PRIu64, i);
		if (delay)
			msleep(delay);
	}
	say("BLK-END %" PRIu64, n);
	free(buf);
	close(fd);
	tap(true, "stream %s: %" PRIu64 " records to the disk's end in %.1f s", d->serial, n,
	    (now_ns() - t0) / 1e9);
	return 0;
}

static int cmd_verify_stream(int argc, char **argv)
{
	uint64_t seed, want, size, nrec, i, first_bad = UINT64_MAX, more = 0, torn = 0;
	uint64_t dirty = UINT64_MAX;
	bool after = false;
	uint64_t *r;
	int fd;

	if (argc != 4)
		usage_err("verify-stream IMG SEED N");
	seed = parse_u64(argv[2], "verify-stream SEED");
	want = parse_u64(argv[3], "verify-stream N");
	fd = open_image(argv[1], &size, "verify-stream");
	if (fd < 0)
		return 1;
	nrec = size / REC;
	r = xalloc(REC);
	/*
	 * 0..N intact; then the records that landed after the last BLK-DONE the
	 * host saw (intact, in a row), perhaps one torn (in flight), then zeros:
	 * the writes are sequential at queue depth 1.
	 */
	for (i = 0; i < nrec; i++) {
		bool ok, zero;

		if (xpio(fd, false, r, REC, i * REC) < 0) {
			tap(false, "verify-stream: read record %" PRIu64 ": %s", i, strerror(errno));
			free(r);
			return 1;
		}
		ok = rec_fill(r, seed, i, true);
		zero = !ok;
		for (size_t j = 0; j < REC / 8 && zero; j++)
			zero = !r[j];
		if (i <= want) {
			if (!ok && first_bad == UINT64_MAX) {
				first_bad = i;
				diag("verify-stream: record %" PRIu64 " is %s: %016" PRIx64 " %016"
				     PRIx64 " %016" PRIx64, i, zero ? "zeros" : "damaged", r[0], r[1], r[2]);
			}
			continue;
		}
		if (!after) {
			if (ok) {
				more++;
				continue;
			}
			after = true;
			if (!zero) {
				torn = 1;
				continue;
			}
		}
		if (!zero && dirty == UINT64_MAX)
			dirty = i;
	}
	free(r);
	close(fd);
	if (want >= nrec)
		return !tap(false, "verify-stream %s: record %" PRIu64 " is past the end (%" PRIu64
			    " records)", argv[1], want, nrec);
	if (first_bad == UINT64_MAX)
		tap(true, "verify-stream %s: records 0..%" PRIu64 " intact", argv[1], want);
	else
		tap(false, "verify-stream %s: records 0..%" PRIu64 ": record %" PRIu64 " is not intact",
		    argv[1], want, first_bad);
	say("BLK-BEYOND %" PRIu64 " torn=%" PRIu64, more, torn);
	diag("verify-stream: %" PRIu64 " more record(s) landed after %" PRIu64 "%s", more, want,
	     torn ? ", then a torn one" : "");
	if (dirty == UINT64_MAX)
		tap(true, "verify-stream %s: nothing written after record %" PRIu64, argv[1],
		    want + more + torn);
	else
		tap(false, "verify-stream %s: data in record %" PRIu64 ", past the last one written (%"
		    PRIu64 ")", argv[1], dirty, want + more + torn);
	return 0;
}

/* ------------------------------------------------------------- bench */

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Latencies of one bench case, in ns. */
struct lat {
	uint64_t *v;
	size_t n, cap;
};

static void lat_add(struct lat *l, uint64_t ns)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 65536;
		l->v = realloc(l->v, l->cap * sizeof(*l->v));
		if (!l->v)
			usage_err("out of memory");
	}
	l->v[l->n++] = ns;
}

/* One bench case: what it needs and what went wrong. */
struct bench {
	int fd;
	bool wr;
	uint64_t nblk, seed, secs;
	struct lat lat;
	size_t errs;
	int err;		/* errno of the first error */
	double el;		/* seconds measured */
};

#define BENCH_WARM_NS	500000000ull
#define BENCH_QD_MAX	64u

static void bench_err(struct bench *b, int e)
{
	if (!b->errs++)
		b->err = e;
}

/* Queue depth 1: one pread/pwrite at a time. */
static void bench_sync(struct bench *b)
{
	uint64_t t0 = now_ns(), tend = t0 + BENCH_WARM_NS;
	bool warm = true;
	void *buf = xalloc(BLK);

	pat_fill(buf, 0x62656e6368ull, 1, 0, BLK);
	for (;;) {
		uint64_t off = rnd(&b->seed) % b->nblk * BLK, a, z;

		a = now_ns();
		if (a >= tend) {
			if (!warm)
				break;
			warm = false;	/* measure from here */
			t0 = a;
			tend = a + b->secs * 1000000000ull;
		}
		if ((b->wr ? pwrite(b->fd, buf, BLK, off) : pread(b->fd, buf, BLK, off)) != BLK) {
			bench_err(b, errno ? errno : EIO);
			if (b->errs > 10)
				break;
			continue;
		}
		z = now_ns();
		if (!warm)
			lat_add(&b->lat, z - a);
	}
	b->el = (now_ns() - t0) / 1e9;
	free(buf);
}

/* @cb: the next request of @b, at a new random offset */
static void bench_prep(struct bench *b, struct iocb *cb, void *buf)
{
	uint64_t off = rnd(&b->seed) % b->nblk * BLK;

	if (b->wr)
		io_prep_pwrite(cb, b->fd, buf, BLK, off);
	else
		io_prep_pread(cb, b->fd, buf, BLK, off);
}

/*
 * Queue depth QD: Linux AIO (libaio) keeps QD O_DIRECT requests in flight,
 * each slot resubmitted with a new offset as it completes.  A latency is
 * from io_submit() to the io_getevents() that reaped it; the measured
 * window counts the requests that completed in it.
 */
static void bench_aio(struct bench *b, unsigned int qd)
{
	struct iocb cb[BENCH_QD_MAX], *cbp[BENCH_QD_MAX];
	struct io_event ev[BENCH_QD_MAX];
	uint64_t sub[BENCH_QD_MAX], t0, tend, now;
	void *buf[BENCH_QD_MAX];
	io_context_t ctx = 0;
	unsigned int busy = 0;
	bool warm = true;
	int r;

	r = io_setup(qd, &ctx);
	if (r < 0) {
		bench_err(b, -r);
		return;
	}
	for (unsigned int i = 0; i < qd; i++) {
		buf[i] = xalloc(BLK);
		pat_fill(buf[i], 0x62656e6368ull, 1, 0, BLK);
	}
	t0 = now_ns();
	tend = t0 + BENCH_WARM_NS;
	for (unsigned int i = 0; i < qd; i++) {
		bench_prep(b, &cb[i], buf[i]);
		cbp[i] = &cb[i];
		sub[i] = now_ns();
	}
	r = io_submit(ctx, qd, cbp);
	if (r != (int)qd) {
		bench_err(b, r < 0 ? -r : EAGAIN);
		goto out;
	}
	busy = qd;
	while (busy) {
		int got = io_getevents(ctx, 1, qd, ev, NULL);

		if (got < 0) {
			if (got == -EINTR)
				continue;
			bench_err(b, -got);
			break;
		}
		now = now_ns();
		if (now >= tend && warm) {
			warm = false;	/* measure from here */
			t0 = now;
			tend = now + b->secs * 1000000000ull;
		}
		for (int k = 0; k < got; k++) {
			unsigned int i = ev[k].obj - cb;

			if (ev[k].res != BLK)
				bench_err(b, (long)ev[k].res < 0 ? -(long)ev[k].res : EIO);
			else if (!warm && now < tend)
				lat_add(&b->lat, now - sub[i]);
			if (now >= tend && !warm) {
				busy--;		/* drain */
				continue;
			}
			if (b->errs > 10) {
				busy--;
				continue;
			}
			bench_prep(b, &cb[i], buf[i]);
			sub[i] = now_ns();
			r = io_submit(ctx, 1, &cbp[i]);
			if (r != 1) {
				bench_err(b, r < 0 ? -r : EAGAIN);
				busy--;
			}
		}
	}
	now = now_ns();
	b->el = ((now < tend ? now : tend) - t0) / 1e9;
out:
	io_destroy(ctx);
	for (unsigned int i = 0; i < qd; i++)
		free(buf[i]);
}

static int cmd_bench(int argc, char **argv)
{
	struct bench b = { .seed = 0x6d7064657662656eull };
	const char *label;
	unsigned int qd = 1;
	struct disk *d;
	uint64_t span;
	size_t n;

	if (argc < 4 || argc > 6)
		usage_err("bench SERIAL randread|randwrite SECS [LABEL [QD]]");
	if (!strcmp(argv[2], "randread"))
		b.wr = false;
	else if (!strcmp(argv[2], "randwrite"))
		b.wr = true;
	else
		usage_err("bench: randread or randwrite, not %s", argv[2]);
	b.secs = parse_u64(argv[3], "bench SECS");
	label = argc > 4 && argv[4][0] ? argv[4] : argv[1];
	if (argc > 5)
		qd = parse_u64(argv[5], "bench QD");
	if (qd < 1 || qd > BENCH_QD_MAX)
		usage_err("bench: queue depth 1 to %u, not %u", BENCH_QD_MAX, qd);
	d = disk_need(argv[1], "bench");
	if (!d)
		return 1;
	b.fd = disk_open(d, b.wr ? O_RDWR : O_RDONLY, "bench");
	if (b.fd < 0)
		return 1;
	span = d->size < BENCH_SPAN ? d->size : BENCH_SPAN;
	b.nblk = span / BLK;
	if (qd == 1)
		bench_sync(&b);
	else
		bench_aio(&b, qd);
	close(b.fd);
	n = b.lat.n;
	if (n)
		qsort(b.lat.v, n, sizeof(*b.lat.v), cmp_u64);
	say("BLKBENCH label=%s rw=%s bs=%u qd=%u n=%zu secs=%.2f iops=%.0f p50_ns=%" PRIu64
	    " p99_ns=%" PRIu64 " min_ns=%" PRIu64 " max_ns=%" PRIu64, label, argv[2], BLK, qd, n,
	    b.el, n && b.el > 0 ? n / b.el : 0, n ? b.lat.v[n / 2] : 0,
	    n ? b.lat.v[n * 99 / 100] : 0, n ? b.lat.v[0] : 0, n ? b.lat.v[n - 1] : 0);
	free(b.lat.v);
	if (b.errs)
		return !tap(false, "bench %s %s qd %u: %zu I/O error(s), first: %s", label, argv[2],
			    qd, b.errs, strerror(b.err ? b.err : EIO));
	tap(n > 0, "bench %s %s qd %u: %zu I/Os in %.1f s", label, argv[2], qd, n, b.el);
	return 0;
}

/* --------------------------------------------------------------- PCI */

#define CFG_MAX		4096		/* PCIe config space, extended part too */
#define MAX_VEC		64		/* MSI-X IRQs counted per function */

/* Up to LEN bytes of PATH (sysfs config reads stop at its end); -1 on error. */
static ssize_t read_bytes(const char *path, void *buf, size_t len)
{
	int fd = open(path, O_RDONLY), e;
	size_t got = 0;

	if (fd < 0)
		return -1;
	while (got < len) {
		ssize_t n = read(fd, (char *)buf + got, len - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			e = errno;
			close(fd);
			errno = e;
			return -1;
		}
		if (!n)
			break;
		got += n;
	}
	close(fd);
	return got;
}

static bool is_bdf(const char *s)
{
	unsigned dom, bus, dev, fn;
	int n = -1;

	return sscanf(s, "%4x:%2x:%2x.%1x%n", &dom, &bus, &dev, &fn, &n) == 4 &&
	       n == (int)strlen(s) && n == 12;
}

/* The PCI function a sysfs device PATH sits under: its DDDD:BB:DD.F into BDF. */
static int pci_parent(const char *path, char *bdf, size_t len)
{
	char real[PATH_MAX], cfg[PATH_MAX + 8], *p;
	struct stat st;

	if (!realpath(path, real))
		return -1;
	while ((p = strrchr(real, '/')) && p != real) {
		snprintf(cfg, sizeof(cfg), "%s/config", real);
		if (is_bdf(p + 1) && stat(cfg, &st) == 0) {
			snprintf(bdf, len, "%s", p + 1);
			return 0;
		}
		*p = 0;
	}
	return -1;
}

struct msix {
	unsigned cap;			/* offset of the capability; 0: none */
	unsigned ctrl;			/* Message Control */
	unsigned entries;		/* table size */
	unsigned tbir, pbir;		/* BARs of the table and the PBA */
	uint32_t toff, poff;		/* and their offsets in them */
	char why[160];			/* no capability or a bad list: why */
};

/* The MSI capability (ID 0x05), as the guest programmed it. */
struct msi {
	unsigned cap;			/* offset of the capability; 0: none */
	unsigned ctrl;			/* Message Control */
	unsigned capable, allocated;	/* messages: Multiple Message Capable, Enable */
	bool addr64, maskbit;		/* 64-bit address, per-vector masking */
	uint64_t addr;			/* Message Address */
	unsigned data;			/* Message Data */
	uint32_t mask, pending;		/* with maskbit */
	char why[160];			/* no capability or a bad list: why */
};

static uint32_t le32(const unsigned char *p)
{
	return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24;
}

static unsigned le16(const unsigned char *p)
{
	return p[0] | p[1] << 8;
}

/*
 * Walk the capability list of config space CFG (LEN bytes) to the first
 * capability with ID (NAME in messages) and at least SIZE bytes: 0 with
 * *OFF its offset, or 0 with *OFF 0 (WHY: not there, and the IDs seen);
 * -1 (why in WHY) if the list is malformed, leaves the LEN bytes, or the
 * capability is cut off.
 */
static int cap_find(const unsigned char *cfg, size_t len, unsigned id, const char *name,
		    size_t size, unsigned *off, char *why, size_t wlen)
{
	unsigned ptr, n = 0;
	int w;

	*off = 0;
	*why = 0;
	if (len < PCI_STD_HEADER_SIZEOF) {
		snprintf(why, wlen, "config space of %zu bytes, not even the %d-byte header", len,
			 PCI_STD_HEADER_SIZEOF);
		return -1;
	}
	if (!(cfg[PCI_STATUS] & PCI_STATUS_CAP_LIST)) {
		snprintf(why, wlen, "no capability list (status 0x%04x)", le16(cfg + PCI_STATUS));
		return 0;
	}
	w = snprintf(why, wlen, "no %s capability (IDs:", name);
	ptr = cfg[(cfg[PCI_HEADER_TYPE] & 0x7f) == PCI_HEADER_TYPE_CARDBUS ?
		  PCI_CB_CAPABILITY_LIST : PCI_CAPABILITY_LIST] & ~3u;
	for (; ptr; ptr = cfg[ptr + PCI_CAP_LIST_NEXT] & ~3u) {
		if (ptr < PCI_STD_HEADER_SIZEOF) {
			snprintf(why, wlen, "capability pointer 0x%02x points into the header", ptr);
			return -1;
		}
		if (ptr + PCI_CAP_FLAGS > len) {
			snprintf(why, wlen, "capability at 0x%02x is past the %zu bytes read", ptr, len);
			return -1;
		}
		if (++n > 48) {		/* 48 capabilities of 4 bytes fill 192 */
			snprintf(why, wlen, "capability list loops (at 0x%02x)", ptr);
			return -1;
		}
		if (cfg[ptr + PCI_CAP_LIST_ID] != id) {
			if (w > 0 && (size_t)w < wlen - 8)
				w += snprintf(why + w, wlen - w, " 0x%02x", cfg[ptr + PCI_CAP_LIST_ID]);
			continue;
		}
		if (ptr + size > len) {
			snprintf(why, wlen, "%s capability at 0x%02x cut off at %zu bytes", name, ptr,
				 len);
			return -1;
		}
		*off = ptr;
		*why = 0;
		return 0;
	}
	if (w > 0 && (size_t)w < wlen - 2)
		snprintf(why + w, wlen - w, "%s)", n ? "" : " none");
	return 0;
}

/* The MSI-X capability of CFG into M: as cap_find (M->cap 0: none). */
static int msix_parse(const unsigned char *cfg, size_t len, struct msix *m)
{
	unsigned p;

	memset(m, 0, sizeof(*m));
	if (cap_find(cfg, len, PCI_CAP_ID_MSIX, "MSI-X", PCI_CAP_MSIX_SIZEOF, &m->cap, m->why,
		     sizeof(m->why)) < 0)
		return -1;
	p = m->cap;
	if (!p)
		return 0;
	m->ctrl = le16(cfg + p + PCI_MSIX_FLAGS);
	m->entries = (m->ctrl & PCI_MSIX_FLAGS_QSIZE) + 1;
	m->tbir = le32(cfg + p + PCI_MSIX_TABLE) & PCI_MSIX_TABLE_BIR;
	m->toff = le32(cfg + p + PCI_MSIX_TABLE) & PCI_MSIX_TABLE_OFFSET;
	m->pbir = le32(cfg + p + PCI_MSIX_PBA) & PCI_MSIX_PBA_BIR;
	m->poff = le32(cfg + p + PCI_MSIX_PBA) & PCI_MSIX_PBA_OFFSET;
	return 0;
}

/*
 * The MSI capability of CFG into M: as cap_find (M->cap 0: none).  Its
 * size follows from Message Control: 10 bytes, 14 with a 64-bit address,
 * 10 more with per-vector masking (mask and pending bits).
 */
static int msi_parse(const unsigned char *cfg, size_t len, struct msi *m)
{
	unsigned p, size;

	memset(m, 0, sizeof(*m));
	if (cap_find(cfg, len, PCI_CAP_ID_MSI, "MSI", PCI_MSI_FLAGS + 2, &m->cap, m->why,
		     sizeof(m->why)) < 0)
		return -1;
	p = m->cap;
	if (!p)
		return 0;
	m->ctrl = le16(cfg + p + PCI_MSI_FLAGS);
	m->addr64 = m->ctrl & PCI_MSI_FLAGS_64BIT;
	m->maskbit = m->ctrl & PCI_MSI_FLAGS_MASKBIT;
	m->capable = 1u << ((m->ctrl & PCI_MSI_FLAGS_QMASK) >> 1);
	m->allocated = 1u << ((m->ctrl & PCI_MSI_FLAGS_QSIZE) >> 4);
	size = (m->addr64 ? PCI_MSI_DATA_64 : PCI_MSI_DATA_32) + 2;
	if (m->maskbit)
		size = (m->addr64 ? PCI_MSI_PENDING_64 : PCI_MSI_PENDING_32) + 4;
	if (p + size > len) {
		snprintf(m->why, sizeof(m->why), "MSI capability at 0x%02x (%u bytes) cut off at %zu bytes",
			 p, size, len);
		m->cap = 0;
		return -1;
	}
	m->addr = le32(cfg + p + PCI_MSI_ADDRESS_LO);
	if (m->addr64)
		m->addr |= (uint64_t)le32(cfg + p + PCI_MSI_ADDRESS_HI) << 32;
	m->data = le16(cfg + p + (m->addr64 ? PCI_MSI_DATA_64 : PCI_MSI_DATA_32));
	if (m->maskbit) {
		m->mask = le32(cfg + p + (m->addr64 ? PCI_MSI_MASK_64 : PCI_MSI_MASK_32));
		m->pending = le32(cfg + p + (m->addr64 ? PCI_MSI_PENDING_64 : PCI_MSI_PENDING_32));
	}
	return 0;
}

/* The mask bits of MSI's allocated messages; 0 without per-vector masking. */
static uint32_t msi_masked(const struct msi *m)
{
	return m->maskbit ? m->mask & (m->allocated >= 32 ? ~0u : (1u << m->allocated) - 1) : 0;
}

static int cmp_uint(const void *a, const void *b)
{
	unsigned x = *(const unsigned *)a, y = *(const unsigned *)b;

	return x < y ? -1 : x > y;
}

/*
 * BDF's IRQs from its msi_irqs/ whose mode file says MODE ("msix" or
 * "msi"): up to MAX into IRQS, sorted; how many in all, -1 without the
 * directory (no MSI or MSI-X in use).
 */
static int msi_irqs(const char *bdf, const char *mode, unsigned *irqs, int max)
{
	char path[PATH_MAX], m[16];
	struct dirent *de;
	int n = 0;
	DIR *dir;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/msi_irqs", bdf);
	dir = opendir(path);
	if (!dir)
		return -1;
	while ((de = readdir(dir))) {
		char *end;
		unsigned long irq = strtoul(de->d_name, &end, 10);

		if (*end || end == de->d_name)
			continue;
		snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/msi_irqs/%s", bdf, de->d_name);
		if (read_attr(path, m, sizeof(m)) <= 0)
			continue;
		trim(m);
		if (strcmp(m, mode))
			continue;
		if (n < max)
			irqs[n] = irq;
		n++;
	}
	closedir(dir);
	qsort(irqs, n < max ? n : max, sizeof(*irqs), cmp_uint);
	return n;
}

/*
 * The interrupts IRQS[0..N) took, summed over all CPUs, from
 * /proc/interrupts; each one's into COUNT (if not NULL, -1 for an IRQ
 * that is not listed).  -1 if the file cannot be read or parsed.
 */
static long long irq_counts(const unsigned *irqs, int n, long long *count)
{
	FILE *f = fopen("/proc/interrupts", "r");
	char *line = NULL, *p, *e;
	long long sum = 0;
	size_t cap = 0;
	int ncpu = 0, i;

	if (!f)
		return -1;
	for (i = 0; count && i < n; i++)
		count[i] = -1;
	/* "           CPU0       CPU1": one column per CPU */
	if (getline(&line, &cap, f) < 0) {
		sum = -1;
		goto out;
	}
	for (p = line; (p = strstr(p, "CPU")); p += 3)
		ncpu++;
	if (!ncpu) {
		sum = -1;
		goto out;
	}
	while (getline(&line, &cap, f) > 0) {
		unsigned long irq;
		long long c = 0;

		for (p = line; *p == ' '; p++)
			;
		if (*p < '0' || *p > '9')
			continue;	/* NMI:, LOC:, ... */
		irq = strtoul(p, &e, 10);
		if (*e != ':')
			continue;
		for (i = 0; i < n && irqs[i] != irq; i++)
			;
		if (i == n)
			continue;
		p = e + 1;
		for (int k = 0; k < ncpu; k++) {
			unsigned long long v = strtoull(p, &e, 10);

			if (e == p)
				break;		/* the chip's name: fewer columns */
			c += v;
			p = e;
		}
		if (count)
			count[i] = c;
		sum += c;
	}
out:
	free(line);
	fclose(f);
	return sum;
}

/* What MSI-X control bits say, for a TAP line. */
static const char *msix_state(const struct msix *m)
{
	if (!(m->ctrl & PCI_MSIX_FLAGS_ENABLE))
		return "MSI-X not enabled";
	if (m->ctrl & PCI_MSIX_FLAGS_MASKALL)
		return "MSI-X enabled but the function masked";
	return "MSI-X enabled";
}

static void msix_diag(const char *who, const char *bdf, const struct msix *m)
{
	diag("%s: %s: MSI-X capability at 0x%02x, control 0x%04x (enable %u, function mask %u), "
	     "%u entries, table BAR%u+0x%x, PBA BAR%u+0x%x", who, bdf, m->cap, m->ctrl,
	     !!(m->ctrl & PCI_MSIX_FLAGS_ENABLE), !!(m->ctrl & PCI_MSIX_FLAGS_MASKALL), m->entries,
	     m->tbir, m->toff, m->pbir, m->poff);
}

/* What MSI's control bits (and mask bits) say, for a TAP line. */
static const char *msi_state(const struct msi *m)
{
	if (!(m->ctrl & PCI_MSI_FLAGS_ENABLE))
		return "MSI not enabled";
	if (m->maskbit && msi_masked(m) == (m->allocated >= 32 ? ~0u : (1u << m->allocated) - 1))
		return "MSI enabled but every vector masked";
	return "MSI enabled";
}

static void msi_diag(const char *who, const char *bdf, const struct msi *m)
{
	char mask[64] = "no per-vector masking";

	if (m->maskbit)
		snprintf(mask, sizeof(mask), "mask 0x%08x, pending 0x%08x", m->mask, m->pending);
	diag("%s: %s: MSI capability at 0x%02x, control 0x%04x (enable %u, %u of %u messages, "
	     "%s address), address 0x%0*" PRIx64 ", data 0x%04x, %s", who, bdf, m->cap, m->ctrl,
	     !!(m->ctrl & PCI_MSI_FLAGS_ENABLE), m->allocated, m->capable,
	     m->addr64 ? "64-bit" : "32-bit", m->addr64 ? 16 : 8, m->addr, m->data, mask);
}

/*
 * The IRQs of BDF's msi_irqs/ in MODE ("msix" or "msi") and their
 * interrupts: how many vectors, or -1 (TAP'd).
 */
static int vec_count(const char *who, const char *bdf, const char *mode, long long *total)
{
	const char *kind = strcmp(mode, "msix") ? "MSI" : "MSI-X";
	unsigned irqs[MAX_VEC];
	long long cnt[MAX_VEC];
	int nv = msi_irqs(bdf, mode, irqs, MAX_VEC), k;

	*total = 0;
	if (nv <= 0)
		return nv < 0 ? 0 : nv;
	if (nv > MAX_VEC)
		diag("%s: %s: %d %s vectors, counting the first %d", who, bdf, nv, kind, MAX_VEC);
	*total = irq_counts(irqs, nv < MAX_VEC ? nv : MAX_VEC, cnt);
	if (*total < 0) {
		tap(false, "%s: %s: cannot read /proc/interrupts", who, bdf);
		return -1;
	}
	for (k = 0; k < nv && k < MAX_VEC; k++)
		diag("%s: %s: %s IRQ %u: %lld interrupt(s)%s", who, bdf, kind, irqs[k], cnt[k],
		     cnt[k] < 0 ? " (not in /proc/interrupts)" : "");
	return nv;
}

/*
 * The config space of SERIAL's PCI function (the disk's, up from
 * /sys/block/NAME/device; with --file SERIAL is a config-space file) into
 * CFG, its BDF ("file" with --file) into BDF: the bytes read, or -1 (TAP'd).
 */
static ssize_t disk_fn_config(const char *cmd, const char *serial, char *bdf, size_t blen,
			      unsigned char *cfg, size_t clen)
{
	char path[PATH_MAX];
	struct disk *d;
	ssize_t n;

	snprintf(bdf, blen, "file");
	if (opt_file) {
		snprintf(path, sizeof(path), "%s", serial);
	} else {
		d = disk_need(serial, cmd);
		if (!d)
			return -1;
		snprintf(path, sizeof(path), "/sys/block/%s/device", d->name);
		if (pci_parent(path, bdf, blen) < 0) {
			tap(false, "%s %s: %s is not under a PCI function", cmd, serial, path);
			return -1;
		}
		snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/config", bdf);
	}
	n = read_bytes(path, cfg, clen);
	if (n < 0)
		tap(false, "%s %s: read %s: %s", cmd, serial, path, strerror(errno));
	return n;
}

/*
 * msix SERIAL [MIN]: the disk's PCI function has MSI-X on, its vectors
 * took at least MIN interrupts.  With --file, SERIAL is a config-space
 * file: only the capability is checked.
 */
static int cmd_msix(int argc, char **argv)
{
	static unsigned char cfg[CFG_MAX];
	uint64_t min = argc > 2 ? parse_u64(argv[2], "msix MIN") : 1;
	char bdf[32];
	long long total;
	struct msix m;
	ssize_t n;
	bool on;
	int nv;

	if (argc < 2 || argc > 3)
		usage_err("msix SERIAL [MIN]");
	n = disk_fn_config("msix", argv[1], bdf, sizeof(bdf), cfg, sizeof(cfg));
	if (n < 0)
		return 1;
	if (msix_parse(cfg, n, &m) < 0 || !m.cap)
		return !tap(false, "msix %s: %s: %s", argv[1], bdf, m.why);
	msix_diag("msix", bdf, &m);
	on = (m.ctrl & PCI_MSIX_FLAGS_ENABLE) && !(m.ctrl & PCI_MSIX_FLAGS_MASKALL);
	if (opt_file) {
		say("MSIX serial=%s bdf=file enabled=%u masked=%u entries=%u vectors=- irqs=-", argv[1],
		    !!(m.ctrl & PCI_MSIX_FLAGS_ENABLE), !!(m.ctrl & PCI_MSIX_FLAGS_MASKALL), m.entries);
		return !tap(on, "msix %s: %s, %u entries (config space only)", argv[1], msix_state(&m),
			    m.entries);
	}
	nv = vec_count("msix", bdf, "msix", &total);
	if (nv < 0)
		return 1;
	say("MSIX serial=%s bdf=%s enabled=%u masked=%u entries=%u vectors=%d irqs=%lld", argv[1], bdf,
	    !!(m.ctrl & PCI_MSIX_FLAGS_ENABLE), !!(m.ctrl & PCI_MSIX_FLAGS_MASKALL), m.entries, nv,
	    total);
	return !tap(on && nv > 0 && total >= 0 && (uint64_t)total >= min,
		    "msix %s: %s: %s, %d of %u vectors in use, %lld interrupts (want >= %" PRIu64 ")",
		    argv[1], bdf, msix_state(&m), nv, m.entries, total, min);
}

/*
 * msi SERIAL [MIN]: the disk's PCI function has plain MSI on (not every
 * vector masked), its vectors (msi_irqs/ in mode "msi") took at least MIN
 * interrupts.  With --file, SERIAL is a config-space file: only the
 * capability is checked.
 */
static int cmd_msi(int argc, char **argv)
{
	static unsigned char cfg[CFG_MAX];
	uint64_t min = argc > 2 ? parse_u64(argv[2], "msi MIN") : 1;
	char bdf[32], vecs[24] = "-", irqs[24] = "-";
	long long total = 0;
	struct msi m;
	ssize_t n;
	bool on;
	int nv = 0;

	if (argc < 2 || argc > 3)
		usage_err("msi SERIAL [MIN]");
	n = disk_fn_config("msi", argv[1], bdf, sizeof(bdf), cfg, sizeof(cfg));
	if (n < 0)
		return 1;
	if (msi_parse(cfg, n, &m) < 0 || !m.cap)
		return !tap(false, "msi %s: %s: %s", argv[1], bdf, m.why);
	msi_diag("msi", bdf, &m);
	on = !strcmp(msi_state(&m), "MSI enabled");
	if (!opt_file) {
		nv = vec_count("msi", bdf, "msi", &total);
		if (nv < 0)
			return 1;
		snprintf(vecs, sizeof(vecs), "%d", nv);
		snprintf(irqs, sizeof(irqs), "%lld", total);
	}
	say("MSI serial=%s bdf=%s enabled=%u capable=%u allocated=%u addr64=%u maskbit=%u "
	    "masked=0x%x vectors=%s irqs=%s", argv[1], bdf, !!(m.ctrl & PCI_MSI_FLAGS_ENABLE),
	    m.capable, m.allocated, m.addr64, m.maskbit, msi_masked(&m), vecs, irqs);
	if (opt_file)
		return !tap(on, "msi %s: %s, %u of %u messages (config space only)", argv[1],
			    msi_state(&m), m.allocated, m.capable);
	return !tap(on && nv > 0 && total >= 0 && (uint64_t)total >= min,
		    "msi %s: %s: %s, %d vector(s) in use (%u of %u messages enabled), %lld interrupts "
		    "(want >= %" PRIu64 ")", argv[1], bdf, msi_state(&m), nv, m.allocated, m.capable,
		    total, min);
}

/* Does MSG name a PCI function other than BDF? */
static bool names_other_fn(const char *msg, const char *bdf)
{
	char b[13];

	for (const char *p = msg; strlen(p) >= 12; p++) {
		snprintf(b, sizeof(b), "%.12s", p);
		if (is_bdf(b) && strcmp(b, bdf))
			return true;
	}
	return false;
}

/* The next record of /dev/kmsg (FD): its text in REC, 0 at the end. */
static int kmsg_next(int fd, char *rec, size_t len, char **msg)
{
	for (;;) {
		ssize_t n = read(fd, rec, len - 1);

		if (n < 0 && errno == EPIPE)	/* overwritten meanwhile: go on */
			continue;
		if (n <= 0)
			return 0;		/* EAGAIN: the end */
		rec[n] = 0;
		*msg = strchr(rec, ';');
		if (!*msg)
			continue;
		(*msg)++;
		(*msg)[strcspn(*msg, "\n")] = 0;
		return 1;
	}
}

/*
 * The kernel's messages about the function, as comments: those naming it,
 * or naming none other but one of its names -- drivers that spoke of it
 * ("nvme 0000:00:01.0: ..." makes "nvme ..." one) and its child devices
 * ("virtio0:").
 */
static void kmsg_diag(const char *who, const char *bdf)
{
	char rec[1024], names[8][32], path[PATH_MAX], *msg;
	int fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK), nn = 0, shown = 0;
	struct dirent *de;
	DIR *dir;

	if (fd < 0)
		return;
	while (nn < 8 && kmsg_next(fd, rec, sizeof(rec), &msg)) {
		char *sp = strchr(msg, ' ');
		int k;

		if (!sp || strncmp(sp + 1, bdf, strlen(bdf)) || sp[1 + strlen(bdf)] != ':' ||
		    sp - msg >= 31 || !strncmp(msg, "pci ", 4))
			continue;
		snprintf(names[nn], sizeof(names[nn]), "%.*s ", (int)(sp - msg), msg);
		for (k = 0; k < nn && strcmp(names[k], names[nn]); k++)
			;
		nn += k == nn;
	}
	close(fd);
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s", bdf);
	dir = opendir(path);
	while (dir && nn < 8 && (de = readdir(dir))) {
		size_t l = strlen(de->d_name);

		if (de->d_type == DT_DIR && l && l < 30 && de->d_name[l - 1] >= '0' &&
		    de->d_name[l - 1] <= '9' && !is_bdf(de->d_name))
			snprintf(names[nn++], sizeof(names[0]), "%s:", de->d_name);
	}
	if (dir)
		closedir(dir);
	fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK);
	if (fd < 0)
		return;
	while (shown < 24 && kmsg_next(fd, rec, sizeof(rec), &msg)) {
		bool named = strstr(msg, bdf);

		for (int k = 0; !named && k < nn; k++)
			named = names[k][strlen(names[k]) - 1] == ' ' ?
				!strncmp(msg, names[k], strlen(names[k])) : !!strstr(msg, names[k]);
		if (named && (strstr(msg, bdf) || !names_other_fn(msg, bdf))) {
			diag("%s: kernel: %s", who, msg);
			shown++;
		}
	}
	close(fd);
}

/*
 * pci VVVV/DDDD [SECS]: what the guest sees of the first function with
 * that ID: its driver, BARs (sysfs resource), MSI-X, MSI, interrupts and
 * the disks under it (waiting up to SECS for one).  Comments and one line:
 * PCI id=... bdf=... driver=... bar0_size=... ... disks=...
 */
/* The first PCI function with ID @vid:@did into @bdf ("" if none). */
static void find_fn(unsigned int vid, unsigned int did, char *bdf, size_t len)
{
	char path[PATH_MAX], buf[64];
	struct dirent *de;
	DIR *dir;

	*bdf = 0;
	dir = opendir("/sys/bus/pci/devices");
	while (dir && !*bdf && (de = readdir(dir))) {
		unsigned int v = 0, dv = 0;

		if (!is_bdf(de->d_name))
			continue;
		snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/vendor", de->d_name);
		if (read_attr(path, buf, sizeof(buf)) > 0)
			v = strtoul(buf, NULL, 16);
		snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/device", de->d_name);
		if (read_attr(path, buf, sizeof(buf)) > 0)
			dv = strtoul(buf, NULL, 16);
		if (v == vid && dv == did)
			snprintf(bdf, len, "%s", de->d_name);
	}
	if (dir)
		closedir(dir);
}

static int cmd_pci(int argc, char **argv)
{
	static unsigned char cfg[CFG_MAX];
	unsigned vid, did, secs = argc > 2 ? parse_u64(argv[2], "pci SECS") : 0;
	char bdf[32] = "", path[PATH_MAX], buf[256], drv[64] = "", blks[128] = "";
	char bars[512] = "", bsum[256] = "";	/* the BARs: for the PCI line, for TAP */
	size_t bw = 0, sw = 0;
	uint64_t t0 = now_ns(), end = t0 + secs * 1000000000ull;
	char vsum[96] = "no MSI-X", isum[96] = "no MSI", xsum[64] = "";	/* for TAP */
	long long total = 0, msi_total = 0, intx_count = -1;
	unsigned intx = 0;
	struct dirent *de;
	struct msix m;
	struct msi mi;
	ssize_t n;
	DIR *dir;
	int nv = 0, msi_nv = 0;
	FILE *f;

	if (argc < 2 || argc > 3 || sscanf(argv[1], "%x%*[:/]%x", &vid, &did) != 2)
		usage_err("pci VVVV/DDDD [SECS]");
	find_fn(vid, did, bdf, sizeof(bdf));
	if (!*bdf)
		return !tap(false, "pci %04x:%04x: no such function", vid, did);

	/* the disks under it, waiting for one up to SECS */
	for (;;) {
		size_t w = 0;

		*blks = 0;
		dir = opendir("/sys/block");
		while (dir && (de = readdir(dir))) {
			char b[32];

			if (de->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "/sys/block/%s/device", de->d_name);
			if (pci_parent(path, b, sizeof(b)) || strcmp(b, bdf) ||
			    strlen(de->d_name) + 2 > sizeof(blks) - w)
				continue;
			w += snprintf(blks + w, sizeof(blks) - w, "%s%s", w ? "/" : "", de->d_name);
		}
		if (dir)
			closedir(dir);
		if (*blks || now_ns() >= end)
			break;
		msleep(200);
	}

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver", bdf);
	n = readlink(path, buf, sizeof(buf) - 1);
	if (n > 0) {
		buf[n] = 0;
		snprintf(drv, sizeof(drv), "%s", strrchr(buf, '/') ? strrchr(buf, '/') + 1 : buf);
	}
	/* start end flags, one line per resource: BARs 0..5 first */
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/resource", bdf);
	f = fopen(path, "r");
	for (int i = 0; f && i < PCI_STD_NUM_BARS && fgets(buf, sizeof(buf), f); i++) {
		unsigned long long r[3];

		if (sscanf(buf, "%llx %llx %llx", &r[0], &r[1], &r[2]) != 3)
			break;
		if (r[1] && bw < sizeof(bars))
			bw += snprintf(bars + bw, sizeof(bars) - bw,
				       " bar%d_start=0x%llx bar%d_size=%llu bar%d_flags=0x%llx", i, r[0], i,
				       r[1] - r[0] + 1, i, r[2]);
		if (r[1] && sw < sizeof(bsum))
			sw += snprintf(bsum + sw, sizeof(bsum) - sw, "%sBAR%d %llu %s%s", sw ? ", " : "",
				       i, r[1] - r[0] + 1 >= 1024 ? (r[1] - r[0] + 1) >> 10 : r[1] - r[0] + 1,
				       r[1] - r[0] + 1 >= 1024 ? "KiB" : "bytes",
				       r[2] & 0x100 ? " I/O" : r[2] & 0x100000 ? " 64-bit" : "");
		if (r[1])
			diag("pci %s: BAR%d: 0x%llx-0x%llx (%llu KiB), flags 0x%llx: %s%s%s", bdf, i,
			     r[0], r[1], (r[1] - r[0] + 1) >> 10, r[2],
			     r[2] & 0x100 ? "I/O" : "memory",
			     r[2] & 0x100000 ? ", 64-bit" : (r[2] & 0x100) ? "" : ", 32-bit",
			     r[2] & 0x2000 ? ", prefetchable" : "");
	}
	if (f)
		fclose(f);

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/config", bdf);
	n = read_bytes(path, cfg, sizeof(cfg));
	if (n < 0)
		return !tap(false, "pci %s: read %s: %s", bdf, path, strerror(errno));
	if (msix_parse(cfg, n, &m) < 0)
		return !tap(false, "pci %s: %s", bdf, m.why);
	if (m.cap) {
		msix_diag("pci", bdf, &m);
		nv = vec_count("pci", bdf, "msix", &total);
		if (nv < 0)
			return 1;
		snprintf(vsum, sizeof(vsum), "%s, %d vector(s), %lld interrupts", msix_state(&m), nv,
			 total);
	} else {
		diag("pci %s: %s", bdf, m.why);
	}
	if (msi_parse(cfg, n, &mi) == 0 && mi.cap) {
		msi_diag("pci", bdf, &mi);
		msi_nv = vec_count("pci", bdf, "msi", &msi_total);
		if (msi_nv < 0)
			return 1;
		snprintf(isum, sizeof(isum), "%s, %d vector(s), %lld interrupts", msi_state(&mi),
			 msi_nv, msi_total);
	} else {
		diag("pci %s: %s", bdf, mi.why);
	}
	/*
	 * INTx: the function's irq, if it has a pin -- unless MSI is on: sysfs
	 * irq then shows the first MSI vector's IRQ.
	 */
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/irq", bdf);
	if (cfg[PCI_INTERRUPT_PIN] && !(mi.cap && (mi.ctrl & PCI_MSI_FLAGS_ENABLE)) &&
	    read_attr(path, buf, sizeof(buf)) > 0) {
		intx = strtoul(buf, NULL, 10);
		if (intx)	/* -1: not requested (MSI-X on, or no driver) */
			irq_counts(&intx, 1, &intx_count);
		if (intx_count >= 0)
			snprintf(xsum, sizeof(xsum), ", INTx IRQ %u: %lld interrupts", intx, intx_count);
	}
	kmsg_diag("pci", bdf);
	say("PCI id=%04x:%04x bdf=%s driver=%s%s msix=%u msix_enabled=%u msix_masked=%u "
	    "msix_entries=%u vectors=%d irqs=%lld msi=%u msi_enabled=%u msi_vectors=%d msi_irqs=%lld "
	    "intx_irq=%u intx_count=%lld disks=%s", vid, did, bdf, *drv ? drv : "none", bars,
	    !!m.cap, !!(m.ctrl & PCI_MSIX_FLAGS_ENABLE), !!(m.ctrl & PCI_MSIX_FLAGS_MASKALL),
	    m.entries, nv, total, !!mi.cap, !!(mi.ctrl & PCI_MSI_FLAGS_ENABLE), msi_nv, msi_total,
	    intx, intx_count, *blks ? blks : "none");
	tap(true, "pci %04x:%04x: %s, driver %s, %s, %s, %s%s; disks: %s%s", vid, did, bdf,
	    *drv ? drv : "none", *bsum ? bsum : "no BARs", vsum, isum, xsum, *blks ? blks : "none",
	    *blks || !secs ? "" : " (after the wait)");
	return 0;
}

/* --------------------------------------------------------------- net */

/* Run ARGV (busybox applets), output into OUT; exit status, 128+signal or -1. */
static int run_cmd(char *out, size_t len, char *const argv[])
{
	int pfd[2], st;
	size_t got = 0;
	pid_t pid;

	if (pipe(pfd) < 0)
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (!pid) {
		dup2(pfd[1], 1);
		dup2(pfd[1], 2);
		close(pfd[0]);
		close(pfd[1]);
		execv(argv[0], argv);
		_exit(127);
	}
	close(pfd[1]);
	for (;;) {
		char tmp[512];
		ssize_t n = read(pfd[0], tmp, sizeof(tmp));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (out && got + 1 < len) {
			size_t c = (size_t)n < len - 1 - got ? (size_t)n : len - 1 - got;

			memcpy(out + got, tmp, c);
			got += c;
		}
	}
	if (out && len)
		out[got] = 0;
	close(pfd[0]);
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* The last line of OUT, for a TAP description. */
static const char *last_line(char *out)
{
	char *p;

	trim(out);
	p = strrchr(out, '\n');
	return p ? p + 1 : out;
}

#define BB "/bin/busybox"

/*
 * GET http://A.B.C.D[:PORT]/PATH (no names: the guest has no resolver) into
 * FILE with HTTP/1.0; the body's length, or -1 with the reason in WHY.
 * Our own client: Debian 12's static busybox wget dies of SIGSEGV when it
 * cannot connect, which tells nothing.
 */
static long long http_get(const char *url, const char *file, char *why, size_t wlen)
{
	struct timeval tv = { 30, 0 };
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(80) };
	char host[64], req[700], *buf = NULL, *body;
	const char *p = url, *path;
	size_t len = 0, cap = 0;
	long long clen = -1, ret = -1;
	int s = -1, fd, code;

	if (!strncmp(p, "http://", 7))
		p += 7;
	path = strchr(p, '/');
	snprintf(host, sizeof(host), "%.*s", (int)(path ? path - p : (long)strlen(p)), p);
	if (!path)
		path = "/";
	{
		char *c = strchr(host, ':');

		if (c) {
			*c = 0;
			sa.sin_port = htons(atoi(c + 1));
		}
		if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
			snprintf(why, wlen, "not an IPv4 address: %s", host);
			return -1;
		}
		if (c)
			*c = ':';
	}
	s = socket(AF_INET, SOCK_STREAM, 0);
	if (s < 0 || setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0 ||
	    connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		snprintf(why, wlen, "connect: %s", strerror(errno));
		goto out;
	}
	snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: %s\r\nConnection: close\r\n\r\n",
		 path, host);
	if (write(s, req, strlen(req)) != (ssize_t)strlen(req)) {
		snprintf(why, wlen, "send: %s", strerror(errno));
		goto out;
	}
	for (;;) {
		ssize_t n;

		if (cap - len < 65536) {
			cap = cap ? cap * 2 : 1 << 20;
			buf = realloc(buf, cap + 1);
			if (!buf)
				usage_err("out of memory");
		}
		n = read(s, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			snprintf(why, wlen, "receive after %zu bytes: %s", len, strerror(errno));
			goto out;
		}
		if (!n)
			break;
		len += n;
	}
	buf[len] = 0;
	body = strstr(buf, "\r\n\r\n");
	if (!body || sscanf(buf, "HTTP/%*d.%*d %d", &code) != 1) {
		snprintf(why, wlen, "no HTTP response (%zu bytes)", len);
		goto out;
	}
	*body = 0;
	body += 4;
	if (code != 200) {
		snprintf(why, wlen, "HTTP status %d", code);
		goto out;
	}
	for (char *h = strcasestr(buf, "\r\ncontent-length:"); h; h = NULL)
		clen = atoll(h + 17);
	len -= body - buf;
	if (clen >= 0 && (size_t)clen != len) {
		snprintf(why, wlen, "got %zu bytes of %lld", len, clen);
		goto out;
	}
	fd = open(file, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || write(fd, body, len) != (ssize_t)len) {
		snprintf(why, wlen, "write %s: %s", file, strerror(errno));
		if (fd >= 0)
			close(fd);
		goto out;
	}
	close(fd);
	ret = len;
out:
	free(buf);
	if (s >= 0)
		close(s);
	return ret;
}

/* @file's SHA-256 in hex into @got (65 bytes), by busybox sha256sum. */
static int sha256_file(char *file, char *got)
{
	char *bb[] = { BB, "sha256sum", file, NULL }, *cu[] = { "/usr/bin/sha256sum", file, NULL };
	char out[256];
	int rc = run_cmd(out, sizeof(out), access(BB, X_OK) ? cu : bb);

	*got = 0;
	if (!rc)
		snprintf(got, 65, "%.64s", out);
	return rc;
}

/* Fetch URL over HTTP, compare its SHA-256. */
static int fetch(const char *url, const char *sha)
{
	char file[64], out[2048];
	uint64_t t0;
	int rc;

	snprintf(file, sizeof(file), "/tmp/mpdev-io.%d", (int)getpid());
	{
		long long got;
		double el;

		unlink(file);
		t0 = now_ns();
		got = http_get(url, file, out, sizeof(out));
		el = (now_ns() - t0) / 1e9;
		if (got < 0)
			return !tap(false, "fetch %s: %s (after %.2f s)", url, out, el);
		tap(true, "fetched %s: %lld bytes in %.2f s (%.2f MB/s)", url, got, el,
		    el > 0 ? got / el / 1e6 : 0.0);
	}
	{
		char got[65];

		rc = sha256_file(file, got);
		tap(!rc && !strcasecmp(got, sha), "fetch: sha256 %s%s%s", got,
		    strcasecmp(got, sha) ? ", want " : "", strcasecmp(got, sha) ? sha : "");
	}
	unlink(file);
	return 0;
}

/* The URL of a STEP was split at its ":": put it together again. */
static void join_url(char *url, size_t len, int argc, char **argv)
{
	*url = 0;
	for (int i = 1; i < argc - 1; i++)
		snprintf(url + strlen(url), len - strlen(url), "%s%s", i > 1 ? ":" : "", argv[i]);
}

static int cmd_fetch(int argc, char **argv)
{
	char url[512];

	if (argc < 3)
		usage_err("fetch URL SHA256");
	join_url(url, sizeof(url), argc, argv);
	return fetch(url, argv[argc - 1]);
}

static int cmd_net(int argc, char **argv)
{
	char url[512], out[2048], ifname[16] = "", path[PATH_MAX], mac[32] = "";
	uint64_t t0 = now_ns(), end = t0 + 20000000000ull;
	int rc;

	if (argc < 3)
		usage_err("net URL SHA256");
	join_url(url, sizeof(url), argc, argv);

	while (!*ifname) {
		DIR *dir = opendir("/sys/class/net");
		struct dirent *de;

		while (dir && (de = readdir(dir))) {
			char t[16];

			if (de->d_name[0] == '.' || !strcmp(de->d_name, "lo"))
				continue;
			snprintf(path, sizeof(path), "/sys/class/net/%s/type", de->d_name);
			if (read_attr(path, t, sizeof(t)) > 0 && atoi(t) == 1 &&	/* ARPHRD_ETHER */
			    strlen(de->d_name) < sizeof(ifname)) {
				strcpy(ifname, de->d_name);
				break;
			}
		}
		if (dir)
			closedir(dir);
		if (*ifname || now_ns() >= end)
			break;
		msleep(100);
	}
	if (!tap(*ifname, "net: ethernet interface %s%s after %.1f s", *ifname ? ifname : "(none)",
		 *ifname ? "" : " within 20 s", (now_ns() - t0) / 1e9))
		return 1;
	snprintf(path, sizeof(path), "/sys/class/net/%s/address", ifname);
	read_attr(path, mac, sizeof(mac));
	trim(mac);
	{
		char *up[] = { BB, "ip", "link", "set", ifname, "up", NULL };
		char *addr[] = { BB, "ip", "addr", "add", "10.0.2.15/24", "dev", ifname, NULL };
		char *route[] = { BB, "ip", "route", "add", "default", "via", "10.0.2.2", NULL };

		rc = run_cmd(out, sizeof(out), up);
		if (!rc)
			rc = run_cmd(out, sizeof(out), addr);
		if (!rc)
			rc = run_cmd(out, sizeof(out), route);
		if (!tap(!rc, "net: %s (%s) up as 10.0.2.15/24 via 10.0.2.2%s%s", ifname, mac,
			 rc ? ": " : "", rc ? last_line(out) : ""))
			return 1;
	}
	{
		char *ping[] = { BB, "ping", "-c", "3", "-W", "5", "10.0.2.2", NULL };

		t0 = now_ns();
		rc = run_cmd(out, sizeof(out), ping);
		tap(!rc, "net: ping 10.0.2.2: %s (%.1f s)", last_line(out), (now_ns() - t0) / 1e9);
	}
	return fetch(url, argv[argc - 1]);
}

/* --------------------------------------------------------------- ROM */
/* "1" or "0" into sysfs attribute @path */
static int put_attr(const char *path, const char *v)
{
	int fd = open(path, O_WRONLY), r = -1;

	if (fd >= 0) {
		r = write(fd, v, strlen(v)) == (ssize_t)strlen(v) ? 0 : -1;
		close(fd);
	}
	return r;
}

/*
 * The function's expansion ROM as the guest's kernel reads it (sysfs
 * "rom": enabled, read, disabled): SIZE bytes with SHA256.  Behind the
 * proxy this is the VMM's ROM BAR, sized by probing the remote, its reads
 * served by the remote's device.
 */
static int cmd_rom(int argc, char **argv)
{
	char bdf[32], path[PATH_MAX], file[64], got[65];
	static char buf[65536];
	unsigned int vid, did;
	long long total = 0;
	uint64_t want, t0;
	int in, fd, rc, err = 0;
	ssize_t n = 0;

	if (argc != 4 || sscanf(argv[1], "%x%*[:/]%x", &vid, &did) != 2)
		usage_err("rom VVVV/DDDD SIZE SHA256");
	want = parse_u64(argv[2], "rom SIZE");
	find_fn(vid, did, bdf, sizeof(bdf));
	if (!*bdf)
		return !tap(false, "rom %04x:%04x: no such function", vid, did);
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/rom", bdf);
	if (put_attr(path, "1") < 0)
		return !tap(false, "rom %s: enabling %s: %s", bdf, path, strerror(errno));
	snprintf(file, sizeof(file), "/tmp/mpdev-io.rom.%d", (int)getpid());
	t0 = now_ns();
	in = open(path, O_RDONLY);
	fd = open(file, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	while (in >= 0 && fd >= 0 && (n = read(in, buf, sizeof(buf))) > 0) {
		if (write(fd, buf, n) != n) {
			err = errno ? errno : EIO;
			break;
		}
		total += n;
	}
	if (!err && (in < 0 || fd < 0 || n < 0))
		err = errno;
	if (in >= 0)
		close(in);
	if (fd >= 0)
		close(fd);
	put_attr(path, "0");
	if (err) {
		unlink(file);
		return !tap(false, "rom %s: reading %s: %s", bdf, path, strerror(err));
	}
	rc = sha256_file(file, got);
	unlink(file);
	say("ROM bdf=%s size=%lld sha256=%s", bdf, total, *got ? got : "-");
	return !tap((uint64_t)total == want && !rc && !strcasecmp(got, argv[3]),
		    "rom %s: the guest read the expansion ROM, %lld bytes (want %" PRIu64 ") in %.2f s, sha256 %s%s%s",
		    bdf, total, want, (now_ns() - t0) / 1e9, *got ? got : "-",
		    strcasecmp(got, argv[3]) ? ", want " : "", strcasecmp(got, argv[3]) ? argv[3] : "");
}

/* --------------------------------------------------------------- run */

static int dispatch(int argc, char **argv);

static int cmd_run(int argc, char **argv)
{
	return gout_run(argc, argv, dispatch, NULL);
}

static const struct {
	const char *name;
	int (*fn)(int argc, char **argv);
} commands[] = {
	{ "disk", cmd_disk }, { "pattern", cmd_pattern }, { "stream", cmd_stream },
	{ "bench", cmd_bench }, { "msix", cmd_msix }, { "msi", cmd_msi }, { "pci", cmd_pci },
	{ "rom", cmd_rom },
	{ "net", cmd_net }, { "fetch", cmd_fetch }, { "verify-image", cmd_verify_image },
	{ "verify-stream", cmd_verify_stream }, { "run", cmd_run },
};

static int dispatch(int argc, char **argv)
{
	for (unsigned i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(argv[0], commands[i].name))
			return commands[i].fn(argc, argv);
	usage_err("unknown command '%s'", argv[0]);
}

int main(int argc, char **argv)
{
	const char *out = NULL;
	int i, r;

	gout_prog = "mpdev-io";

	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "--out") && i + 1 < argc)
			out = argv[++i];
		else if (!strcmp(a, "--file"))
			opt_file = true;
		else if (!strcmp(a, "-h") || !strcmp(a, "--help"))
			usage_err("usage");
		else
			usage_err("unknown option %s", a);
	}
	if (i >= argc)
		usage_err("no command");
	if (!out)	/* the host-side checks print to stdout */
		out = strncmp(argv[i], "verify-", 7) ? "debugcon" : "stdout";
	r = gout_set(out);
	if (r)
		return r;

	say("# mpdev-io: %s (uptime %.1f s)%s%s", argv[i], uptime(), i + 1 < argc ? " " : "",
	    i + 1 < argc ? argv[i + 1] : "");
	r = dispatch(argc - i, argv + i);
	return gout_finish(argv[i], r);
}
