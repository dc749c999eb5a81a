// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * libFuzzer target: untrusted bytes through the message parser, the
 * validator and the remote core, down to config space, BAR decoding, the
 * device model, DMA, INTx and MSI-X -- everything the socket peer can reach.
 *
 * Input: a sequence of records.
 *   sel < 0x80:  (sel % 11) fresh eventfds ride with the message that
 *                follows (header + payload, as on the wire), so wrong fd
 *                counts, extra fds and fds of the wrong kind are covered.
 *   sel >= 0x80: a direct access as the mpdev path makes it:
 *                bar u8, size u8, write u8, offset u64, value u64.
 * Guest RAM is a 64 KiB buffer at gpa 0x1000 (until a SYNC_SYSMEM replaces
 * the map).  After each input every fd the target created must be closed.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "fdio.h"
#include "msg.h"
#include "remote.h"
#include "testdev.h"
#include "util.h"

#define RAM_GPA		0x1000
#define RAM_SIZE	0x10000
#define MAX_CREATED	256

static uint8_t ram[RAM_SIZE];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint64_t get64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int created[MAX_CREATED], ncreated = 0;
	struct remote *r;
	char err[128];

	log_silent = 1;
	r = remote_new(&testdev_ops, NULL, err, sizeof(err));
	if (!r)
		abort();
	gmem_add_buffer(remote_gmem(r), RAM_GPA, ram, RAM_SIZE);

	while (size > 0) {
		uint8_t sel = *data++;

		size--;
		if (sel & 0x80) {
			uint64_t off, val;
			bool write;
			unsigned sz;
			int bar;

			if (size < 19)
				break;
			bar = data[0] % 8;	/* includes absent BARs 3..7 */
			sz = data[1];
			write = data[2] & 1;
			off = get64(data + 3);
			val = get64(data + 11);
			remote_bar_access(r, bar, off, sz, write, &val);
			data += 19;
			size -= 19;
		} else {
			int fds[16], nfds = sel % 11;
			struct mpq_msg m;
			struct mpq_reply reply;
			const char *why;
			ssize_t used;

			for (int i = 0; i < nfds; i++) {
				fds[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
				if (fds[i] < 0 || ncreated == MAX_CREATED)
					abort();
				created[ncreated++] = fds[i];
			}
			used = mpq_decode(data, size, fds, nfds, &m, &why);
			/* Fds past MPQ_MAX_FDS are not in the message: the
			 * transport closes them (link.c does the same). */
			for (int i = MPQ_MAX_FDS; i < nfds; i++)
				close(fds[i]);
			if (used <= 0) {
				fdio_close_all(m.fds, m.nfds);
				break;
			}
			data += used;
			size -= used;
			if (!remote_handle_msg(r, &m, &reply))
				break;
			/* The RET would go out here; its encoding is exercised too. */
			if (reply.send) {
				uint8_t out[MPQ_HDR_SIZE + 8];

				mpq_encode_ret(out, reply.value, reply.with_value);
			}
		}
	}
	remote_free(r);

	/* No fd handed to the remote may outlive it. */
	for (int i = 0; i < ncreated; i++) {
		if (fcntl(created[i], F_GETFD) != -1)
			abort();
	}
	return 0;
}
