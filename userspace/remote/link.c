// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * mpqemu socket transport.
 *
 * QEMU 7.2 sends a message with one writev carrying the header and the
 * payload, the fds attached (qio_channel_writev_full_all() in
 * mpqemu_msg_send()), and reads the header first, then the payload
 * (mpqemu_msg_recv()).  We do the same: the fds come with the header
 * bytes; fds arriving with payload bytes are a protocol error.
 */
#include "link.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "fdio.h"
#include "util.h"

enum link_status link_recv(int sock, struct mpq_msg *m)
{
	int fds[FDIO_MAX_FDS], nfds = 0, extra = 0, pfds[1], pn = 0, pextra = 0;
	uint8_t hdr[MPQ_HDR_SIZE];
	const char *why = NULL;
	ssize_t n;

	memset(m, 0, sizeof(*m));
	for (int i = 0; i < MPQ_MAX_FDS; i++)
		m->fds[i] = -1;

	n = fdio_recv_full(sock, hdr, sizeof(hdr), fds, FDIO_MAX_FDS, &nfds,
			   &extra, LINK_MSG_TIMEOUT_MS);
	if (n == 0)
		return LINK_EOF;
	if (n < 0) {
		log_err("reading message header: %s",
			errno == EPROTO ? "connection closed mid-message" :
			strerror(errno));
		return LINK_ERROR;
	}
	if (mpq_parse_header(hdr, &m->cmd, &m->size, &why) != MPQ_VALID) {
		log_err("bad message header (cmd %d, size %zu): %s; dropping peer",
			m->cmd, m->size, why);
		fdio_close_all(fds, nfds);
		return LINK_ERROR;
	}
	if (m->size) {
		n = fdio_recv_full(sock, &m->data, m->size, pfds, 1, &pn, &pextra,
				   LINK_MSG_TIMEOUT_MS);
		if (n <= 0) {
			log_err("reading %zu-byte payload of %s: %s", m->size,
				mpq_cmd_name(m->cmd),
				n == 0 || errno == EPROTO ?
				"connection closed mid-message" : strerror(errno));
			fdio_close_all(fds, nfds);
			return LINK_ERROR;
		}
		if (pn || pextra) {
			fdio_close_all(pfds, pn);
			extra = 1;	/* reject the message, keep the stream */
		}
	}
	/* Keep up to MPQ_MAX_FDS; anything beyond is closed and flagged. */
	for (int i = 0; i < nfds; i++) {
		if (i < MPQ_MAX_FDS)
			m->fds[i] = fds[i];
		else
			close(fds[i]);
	}
	m->nfds = nfds < MPQ_MAX_FDS ? nfds : MPQ_MAX_FDS;
	m->extra_fds = extra || nfds > MPQ_MAX_FDS;
	return LINK_OK;
}

int link_reply(int sock, const struct mpq_reply *reply)
{
	uint8_t buf[MPQ_HDR_SIZE + sizeof(uint64_t)];
	size_t len;

	if (!reply->send)
		return 0;
	len = mpq_encode_ret(buf, reply->value, reply->with_value);
	if (fdio_send_full(sock, buf, len, NULL, 0) < 0) {
		log_err("sending reply: %s", strerror(errno));
		return -1;
	}
	return 0;
}

enum link_status link_serve_one(int sock, struct remote *r)
{
	struct mpq_msg m;
	struct mpq_reply reply;
	enum link_status st = link_recv(sock, &m);

	if (st != LINK_OK)
		return st;
	log_dbg("<- %s size %zu fds %d", mpq_cmd_name(m.cmd), m.size, m.nfds);
	if (!remote_handle_msg(r, &m, &reply))
		return LINK_ERROR;
	if (link_reply(sock, &reply) < 0)
		return LINK_ERROR;
	return LINK_OK;
}
