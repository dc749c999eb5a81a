// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * LD_PRELOAD shim for the unit tests: answers the backend fd's mpdev
 * ioctls for the stand-ins the tests use (a SOCK_SEQPACKET socket for
 * read()/write(), a memfd for the ring), which have no such ioctls.
 * Every other ioctl goes to the kernel.
 *
 * $FAKE_MPDEV_CONF names a file, read again at every call, of lines
 *
 *   features HEX | fail        MPDEV_GET_FEATURES (default: every bit)
 *   ring ENTRIES REQ_SIZE CPL_SIZE REQ_OFF CPL_OFF MMAP_SIZE [FLAGS] | fail
 *                              MPDEV_BACKEND_GET_RING (default: fail)
 *
 * MPDEV_BACKEND_KICK always succeeds.  Without $FAKE_MPDEV_CONF the shim
 * passes everything through.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/mpdev.h>

int ioctl(int fd, unsigned long req, ...);

struct conf {
	int features_fail;
	unsigned long long features;
	int have_ring;
	struct mpdev_ring_info ring;
};

static void read_conf(const char *path, struct conf *c)
{
	char line[256];
	FILE *f = fopen(path, "r");

	memset(c, 0, sizeof(*c));
	c->features = ~0ull;
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long v[6];
		unsigned int fl = 0;

		if (!strncmp(line, "features fail", 13))
			c->features_fail = 1;
		else if (sscanf(line, "features %llx", &c->features) == 1)
			c->features_fail = 0;
		else if (!strncmp(line, "ring fail", 9))
			c->have_ring = 0;
		else if (sscanf(line, "ring %llu %llu %llu %llu %llu %llu %u",
				&v[0], &v[1], &v[2], &v[3], &v[4], &v[5],
				&fl) >= 6) {
			c->have_ring = 1;
			c->ring.entries = (__u32)v[0];
			c->ring.req_entry_size = (__u32)v[1];
			c->ring.cpl_entry_size = (__u32)v[2];
			c->ring.req_offset = v[3];
			c->ring.cpl_offset = v[4];
			c->ring.mmap_size = v[5];
			c->ring.flags = fl;
		}
	}
	fclose(f);
}

int ioctl(int fd, unsigned long req, ...)
{
	const char *path = getenv("FAKE_MPDEV_CONF");
	struct conf c;
	va_list ap;
	void *arg;

	va_start(ap, req);
	arg = va_arg(ap, void *);
	va_end(ap);
	if (!path || (req != MPDEV_GET_FEATURES &&
		      req != MPDEV_BACKEND_GET_RING &&
		      req != MPDEV_BACKEND_KICK))
		return (int)syscall(SYS_ioctl, fd, req, arg);
	if (req == MPDEV_BACKEND_KICK)
		return 0;	/* the test reaps by itself */
	read_conf(path, &c);
	switch (req) {
	case MPDEV_GET_FEATURES:
		if (c.features_fail) {
			errno = ENOTTY;
			return -1;
		} else {
			struct mpdev_features *f = arg;

			memset(f, 0, sizeof(*f));
			f->features = c.features;
			f->region_flags = MPDEV_REGION_FLAGS_ALL;
			f->backend_flags = MPDEV_BACKEND_FLAGS_ALL;
			f->max_regions = 64;
			f->ring_min_entries = MPDEV_RING_MIN_ENTRIES;
			f->ring_max_entries = MPDEV_RING_MAX_ENTRIES;
			f->ring_default_entries = MPDEV_RING_DEFAULT_ENTRIES;
			f->min_deadline_ns = MPDEV_MIN_DEADLINE_NS;
			f->max_deadline_ns = MPDEV_MAX_DEADLINE_NS;
			f->max_spin_ns = MPDEV_MAX_SPIN_NS;
		}
		return 0;
	case MPDEV_BACKEND_GET_RING:
		if (!c.have_ring) {
			errno = ENOTTY;
			return -1;
		}
		memcpy(arg, &c.ring, sizeof(c.ring));
		return 0;
	default:
		return 0;
	}
}
