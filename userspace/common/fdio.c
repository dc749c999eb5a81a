// SPDX-License-Identifier: GPL-2.0-or-later
/* Exact-length stream socket I/O carrying SCM_RIGHTS file descriptors. */
#define _GNU_SOURCE
#include "fdio.h"

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

void fdio_close_all(int *fds, int n)
{
	for (int i = 0; i < n; i++) {
		if (fds[i] >= 0)
			close(fds[i]);
		fds[i] = -1;
	}
}

/* Take the fds out of one recvmsg's control data; never leak one. */
static void collect_fds(struct msghdr *mh, int *fds, int max_fds, int *nfds,
			int *extra)
{
	struct cmsghdr *c;

	if (mh->msg_flags & MSG_CTRUNC)
		*extra = 1;	/* the kernel already dropped what did not fit */
	for (c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
		size_t n;
		const unsigned char *p = CMSG_DATA(c);

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < n; i++) {
			int fd;

			memcpy(&fd, p + i * sizeof(int), sizeof(int));
			if (fds && *nfds < max_fds) {
				fds[(*nfds)++] = fd;
			} else {
				close(fd);
				*extra = 1;
			}
		}
	}
}

ssize_t fdio_recv_full(int sock, void *buf, size_t len, int *fds,
		       int max_fds, int *nfds, int *extra_fds, int timeout_ms)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * FDIO_MAX_FDS)];
	} ctl;
	size_t got = 0;
	int dummy_n = 0, dummy_extra = 0;

	if (!nfds)
		nfds = &dummy_n;
	if (!extra_fds)
		extra_fds = &dummy_extra;
	*nfds = 0;
	*extra_fds = 0;

	while (got < len) {
		struct iovec iov = { (char *)buf + got, len - got };
		struct msghdr mh = {
			.msg_iov = &iov, .msg_iovlen = 1,
			.msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf),
		};
		ssize_t r;

		if (got > 0 && timeout_ms >= 0) {
			/* A peer that stalls mid-message must not wedge us. */
			struct pollfd p = { .fd = sock, .events = POLLIN };
			int pr = poll(&p, 1, timeout_ms);

			if (pr < 0 && errno == EINTR)
				continue;
			if (pr < 0)
				goto fail;
			if (pr == 0) {
				errno = ETIMEDOUT;
				goto fail;
			}
		}
		r = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			goto fail;
		}
		collect_fds(&mh, fds, max_fds, nfds, extra_fds);
		if (r == 0) {
			if (got == 0 && *nfds == 0)
				return 0;
			errno = EPROTO;
			goto fail;
		}
		got += (size_t)r;
	}
	return (ssize_t)len;

fail:
	if (fds)
		fdio_close_all(fds, *nfds);
	*nfds = 0;
	return -1;
}

int fdio_send2(int sock, const void *a, size_t alen, const void *b,
	       size_t blen, const int *fds, int nfds)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * FDIO_MAX_FDS)];
	} ctl;
	struct iovec iov[2] = {
		{ (void *)a, alen }, { (void *)b, blen },
	};
	int iovcnt = blen ? 2 : 1;
	struct iovec *cur = iov;
	int send_fds = nfds;

	if (nfds < 0 || nfds > FDIO_MAX_FDS) {
		errno = EINVAL;
		return -1;
	}
	while (iovcnt > 0) {
		struct msghdr mh = { .msg_iov = cur, .msg_iovlen = iovcnt };
		ssize_t r;

		if (send_fds) {
			struct cmsghdr *c;

			memset(&ctl, 0, sizeof(ctl));
			mh.msg_control = ctl.buf;
			mh.msg_controllen = CMSG_SPACE(sizeof(int) * send_fds);
			c = CMSG_FIRSTHDR(&mh);
			c->cmsg_level = SOL_SOCKET;
			c->cmsg_type = SCM_RIGHTS;
			c->cmsg_len = CMSG_LEN(sizeof(int) * send_fds);
			memcpy(CMSG_DATA(c), fds, sizeof(int) * send_fds);
		}
		r = sendmsg(sock, &mh, MSG_NOSIGNAL);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		send_fds = 0;	/* the fds went with the first byte */
		while (iovcnt > 0 && (size_t)r >= cur->iov_len) {
			r -= cur->iov_len;
			cur++;
			iovcnt--;
		}
		if (iovcnt > 0) {
			cur->iov_base = (char *)cur->iov_base + r;
			cur->iov_len -= r;
		}
	}
	return 0;
}

int fdio_send_full(int sock, const void *buf, size_t len, const int *fds,
		   int nfds)
{
	return fdio_send2(sock, buf, len, NULL, 0, fds, nfds);
}
