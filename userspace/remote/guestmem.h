/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Guest RAM as the proxy describes it with SYNC_SYSMEM: up to eight
 * (gpa, size, fd, offset) regions, mmap()ed shared.  Every DMA goes through
 * gmem_read()/gmem_write(), which check the whole range against the map
 * and survive a peer that truncates the file under us (SIGBUS).
 */
#ifndef REMOTE_GUESTMEM_H
#define REMOTE_GUESTMEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GMEM_MAX_REGIONS	8

struct gmem_region {
	uint64_t gpa;
	uint64_t size;
	uint8_t *host;		/* host address of gpa */
	void *map_base;		/* what mmap() returned (page aligned) */
	size_t map_len;
	bool guarded;		/* file may shrink: copy under SIGBUS guard */
};

struct guestmem {
	struct gmem_region r[GMEM_MAX_REGIONS];
	int n;
};

void gmem_init(struct guestmem *g);

/* Drop every mapping. */
void gmem_clear(struct guestmem *g);

/*
 * Replace the whole map.  Closes the @fds (the mappings keep what they
 * need).  On any invalid region the map ends up empty and @err says why;
 * returns 0 or -1.
 */
int gmem_sync(struct guestmem *g, int n, const uint64_t *gpas,
	      const uint64_t *sizes, const int64_t *offsets, int *fds,
	      char *err, size_t errlen);

/*
 * Map a caller-owned buffer at @gpa (tests and the fuzzer): never
 * unmapped by gmem_clear().
 */
int gmem_add_buffer(struct guestmem *g, uint64_t gpa, void *buf, uint64_t size);

/* Copy between guest RAM and @buf; -1 if any byte is outside the map. */
int gmem_read(struct guestmem *g, uint64_t gpa, void *buf, size_t len);
int gmem_write(struct guestmem *g, uint64_t gpa, const void *buf, size_t len);

#endif
