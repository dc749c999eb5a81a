// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * libFuzzer target: a hostile kernel behind the mpdev fast path.  The
 * ring geometry (what MPDEV_BACKEND_GET_RING would report), the header
 * word, every index the kernel owns and every request in the ring come
 * from the input, and the remote serves the ring through the real
 * mpdev_srv code down to the device model, under ASan and UBSan.
 *
 * Input:
 *   byte 0 bit 7 set: the next 64 bytes are a raw struct mpdev_ring_info;
 *              else 8 bytes pick a plausible geometry (power-of-two
 *              entries, entry sizes and offsets that often fit), so that
 *              the ring code itself is reached often;
 *   then records, op = byte % 6:
 *     0 req_head = u32       1 request at index u32 = 48 bytes
 *     2 cpl_tail = u32       3 kick_needed = u32
 *     4 serve the ring now   5 route 48 bytes as a request (no ring)
 *
 * Checked after every pass: the remote moved its request index by exactly
 * what it served and its completion index by no more, published exactly
 * its private indices, and a failed pass detached the ring; a route never
 * names a BAR out of range.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mpdev_srv.h"
#include "remote.h"
#include "testdev.h"
#include "util.h"

#define RAM_GPA		0x1000
#define RAM_SIZE	0x1000
#define MAX_MAP		(1u << 20)	/* what one input may make us allocate */

static uint8_t ram[RAM_SIZE];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint32_t get32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return v;
}

static void pick_geometry(const uint8_t *p, struct mpdev_ring_info *ri)
{
	uint64_t hdr = sizeof(struct mpdev_ring_hdr);
	uint64_t a, b;

	memset(ri, 0, sizeof(*ri));
	ri->entries = 1u << (p[0] % 14);		/* 1 .. 8192 */
	ri->req_entry_size = 40 + 8 * (p[1] % 6);	/* 40 .. 80 */
	ri->cpl_entry_size = 24 + 8 * (p[2] % 6);	/* 24 .. 64 */
	a = ri->entries * (uint64_t)ri->req_entry_size;
	b = ri->entries * (uint64_t)ri->cpl_entry_size;
	if (p[3] & 1) {		/* requests first */
		ri->req_offset = hdr + 8 * (p[4] % 4);
		ri->cpl_offset = ri->req_offset + a + 8 * (p[5] % 4);
	} else {
		ri->cpl_offset = hdr + 8 * (p[4] % 4);
		ri->req_offset = ri->cpl_offset + b + 8 * (p[5] % 4);
	}
	if (p[3] & 2)		/* now and then a slightly wrong one */
		ri->cpl_offset -= 8 * (p[6] % 3);
	ri->mmap_size = ((hdr + a + b + 64 + 4095) / 4096 + p[7] % 2) * 4096;
	if (p[3] & 4)
		ri->mmap_size -= 4096;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mpdev_ring_info ri;
	struct mpdev_ring_hdr *h;
	struct mpdev_srv s;
	struct remote *r;
	char err[200];
	void *map;

	log_silent = 1;
	if (size < 1)
		return 0;
	if (data[0] & 0x80) {
		if (size < 1 + sizeof(ri))
			return 0;
		memcpy(&ri, data + 1, sizeof(ri));
		data += 1 + sizeof(ri);
		size -= 1 + sizeof(ri);
	} else {
		if (size < 9)
			return 0;
		pick_geometry(data + 1, &ri);
		data += 9;
		size -= 9;
	}
	if (mpdev_srv_check_ring(&ri, 4096, err, sizeof(err)) < 0)
		return 0;
	/* What the check let through must lie inside the mapping. */
	if (ri.req_offset + (uint64_t)ri.entries * ri.req_entry_size > ri.mmap_size ||
	    ri.cpl_offset + (uint64_t)ri.entries * ri.cpl_entry_size > ri.mmap_size)
		abort();
	if (ri.mmap_size > MAX_MAP)
		return 0;
	map = aligned_alloc(4096, ri.mmap_size);
	if (!map)
		abort();
	memset(map, 0, ri.mmap_size);
	h = map;
	h->entries = ri.entries;
	if (size && (data[0] & 0xc0) == 0xc0)
		h->entries ^= data[0];	/* a header that disagrees */

	r = remote_new(&testdev_ops, NULL, err, sizeof(err));
	if (!r)
		abort();
	gmem_add_buffer(remote_gmem(r), RAM_GPA, ram, RAM_SIZE);
	mpdev_srv_init(&s);
	s.full_ms = 0;		/* a full completion ring fails at once */
	if (mpdev_srv_use_ring(&s, map, ri.mmap_size, &ri, err, sizeof(err)) < 0)
		goto out;

	while (size > 0 && s.ring.hdr) {
		uint8_t op = data[0] % 6;
		uint32_t idx;

		data++;
		size--;
		switch (op) {
		case 0:
		case 2:
		case 3:
			if (size < 4)
				goto out;
			idx = get32(data);
			if (op == 0)
				h->req_head = idx;
			else if (op == 2)
				h->cpl_tail = idx;
			else
				h->kick_needed = idx;
			data += 4;
			size -= 4;
			break;
		case 1:
			if (size < 4 + sizeof(struct mpdev_request))
				goto out;
			idx = get32(data) & (ri.entries - 1);
			memcpy((uint8_t *)map + ri.req_offset +
			       (size_t)idx * ri.req_entry_size, data + 4,
			       sizeof(struct mpdev_request));
			data += 4 + sizeof(struct mpdev_request);
			size -= 4 + sizeof(struct mpdev_request);
			break;
		case 4: {
			uint32_t tail0 = s.req_tail, cpl0 = s.cpl_head;
			int n = mpdev_srv_poll_ring(&s, r);

			if (n < 0) {
				if (s.ring.hdr)	/* a failure detaches */
					abort();
				break;
			}
			if (s.req_tail - tail0 != (uint32_t)n ||
			    s.cpl_head - cpl0 > (uint32_t)n ||
			    h->req_tail != s.req_tail ||
			    h->cpl_head != s.cpl_head)
				abort();
			break;
		}
		case 5: {
			struct mpdev_request q;
			uint64_t off;
			bool by_cookie;
			int bar;

			if (size < sizeof(q))
				goto out;
			memcpy(&q, data, sizeof(q));
			if (mpdev_srv_route(&s, &q, &bar, &off, &by_cookie) &&
			    (bar < 0 || bar >= MPDEV_SRV_MAX_REGIONS))
				abort();
			data += sizeof(q);
			size -= sizeof(q);
			break;
		}
		}
	}
out:
	mpdev_srv_detach(&s);	/* the map is not the server's: not unmapped */
	remote_free(r);
	free(map);
	return 0;
}
