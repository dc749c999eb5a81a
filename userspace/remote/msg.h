/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * mpqemu message parsing and validation, as pure functions: no I/O, no
 * global state.  The socket transport (link.c) and the fuzz target
 * (fuzz_msg.c) both go through these, so the fuzzer exercises exactly
 * the code that faces the untrusted peer.
 */
#ifndef REMOTE_MSG_H
#define REMOTE_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "mpqemu_proto.h"

/* A received message.  The remote owns @fds until it closes them. */
struct mpq_msg {
	int cmd;
	size_t size;
	union mpq_payload data;	/* zero past @size */
	int fds[MPQ_MAX_FDS];
	int nfds;
	bool extra_fds;		/* more fds arrived than MPQ_MAX_FDS (closed) */
};

/* What validation concluded. */
enum mpq_verdict {
	MPQ_VALID = 0,
	MPQ_BAD_FRAMING,	/* stream cannot be trusted: stop */
	MPQ_BAD_MESSAGE,	/* framing fine, message unusable: reject it */
};

/*
 * Check a raw header (MPQ_HDR_SIZE bytes).  On success fills @cmd and
 * @size; a size above MPQ_MAX_PAYLOAD is a framing error, since the stream
 * position after it cannot be trusted.  @why gets a static explanation.
 */
enum mpq_verdict mpq_parse_header(const void *hdr, int *cmd, size_t *size,
				  const char **why);

/*
 * Per-command checks of a complete message: payload size and fd count as
 * QEMU 7.2's proxy sends them.  Unknown commands are MPQ_BAD_MESSAGE.
 */
enum mpq_verdict mpq_validate(const struct mpq_msg *m, const char **why);

/* Whether the peer waits for a RET after sending @cmd (QEMU 7.2 rules). */
bool mpq_cmd_wants_reply(int cmd);

/* Printable command name, for logs. */
const char *mpq_cmd_name(int cmd);

/*
 * Decode one message from a contiguous buffer (header, then payload).
 * @fds/@nfds (at most MPQ_MAX_FDS of them; more sets extra_fds) are
 * attached to @m in every case, so the caller can close m->fds on error.
 * Returns bytes consumed (> 0), 0 if @len is too short for a whole
 * message, or -1 on a framing error (@why says why).  The message is not
 * validated: call mpq_validate().
 */
ssize_t mpq_decode(const uint8_t *buf, size_t len, const int *fds, int nfds,
		   struct mpq_msg *m, const char **why);

/*
 * Encode a RET reply into @out (at least MPQ_HDR_SIZE + 8 bytes).
 * @with_value false gives QEMU's zero-payload RET (DEVICE_RESET's answer).
 * Returns the byte count.
 */
size_t mpq_encode_ret(uint8_t *out, uint64_t value, bool with_value);

/* Encode any message (header + @size payload bytes). */
size_t mpq_encode(uint8_t *out, size_t outlen, int cmd, const void *payload,
		  size_t size);

#endif
