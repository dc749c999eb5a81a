/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The mpqemu socket transport: read one message, send one reply. */
#ifndef REMOTE_LINK_H
#define REMOTE_LINK_H

#include "msg.h"
#include "remote.h"

/* How long the rest of a message may take once its first byte is in. */
#define LINK_MSG_TIMEOUT_MS	10000

enum link_status {
	LINK_OK,
	LINK_EOF,		/* peer closed between messages */
	LINK_ERROR,		/* broken framing or I/O error: drop the peer */
};

/*
 * Receive one message (blocking; call when the socket is readable).
 * The fds land in @m; framing problems close them and return LINK_ERROR.
 */
enum link_status link_recv(int sock, struct mpq_msg *m);

/* Send the RET described by @reply, if any.  0 or -1. */
int link_reply(int sock, const struct mpq_reply *reply);

/* Receive, handle and answer one message. */
enum link_status link_serve_one(int sock, struct remote *r);

#endif
