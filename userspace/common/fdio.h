/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Stream-socket I/O with SCM_RIGHTS: exact-length reads and writes that
 * carry file descriptors on their first byte, as the mpqemu protocol
 * (and QEMU's qio_channel_*_full_all) does.
 */
#ifndef MPDEV_FDIO_H
#define MPDEV_FDIO_H

#include <stddef.h>
#include <sys/types.h>

/* Most fds accepted in one message; more is a protocol error. */
#define FDIO_MAX_FDS	16

/*
 * Read exactly @len bytes.  Fds that arrive with any of the bytes are
 * stored in @fds (up to @max_fds, the count in *@nfds); fds beyond that, or
 * when @fds is NULL, are closed and flagged by *@extra_fds = 1.
 * @timeout_ms bounds the wait for each chunk after the first byte
 * (-1 = forever); the first byte is waited for without bound only when
 * @first_block is set.
 *
 * Returns @len, 0 on EOF before the first byte, or -1 with errno
 * (EPROTO for EOF in the middle, ETIMEDOUT, ...).  On error every fd
 * received is closed and *@nfds is 0.
 */
ssize_t fdio_recv_full(int sock, void *buf, size_t len, int *fds,
		       int max_fds, int *nfds, int *extra_fds,
		       int timeout_ms);

/* Write exactly @len bytes; @nfds fds ride on the first byte.  0 or -1. */
int fdio_send_full(int sock, const void *buf, size_t len,
		   const int *fds, int nfds);

/* Two buffers in one message (header + payload), fds on the first. */
int fdio_send2(int sock, const void *a, size_t alen, const void *b,
	       size_t blen, const int *fds, int nfds);

/* Close every fd in @fds[0..n). */
void fdio_close_all(int *fds, int n);

#endif
