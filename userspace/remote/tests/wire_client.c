// SPDX-License-Identifier: GPL-2.0-or-later
/* Test-side mpqemu client with a hand-written x86-64 wire layout. */
#define _GNU_SOURCE
#include "wire_client.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

/* QEMU 7.2 on x86-64: int cmd @0, 4 bytes padding, size_t size @8. */
#define HDR 16

void wc_put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = v >> (8 * i);
}

void wc_put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = v >> (8 * i);
}

uint64_t wc_get64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

int wc_send(int sock, int32_t cmd, uint64_t size, const void *payload,
	    size_t payload_len, const int *fds, int nfds)
{
	uint8_t hdr[HDR] = { 0 };
	char ctl[CMSG_SPACE(sizeof(int) * 32)];
	struct iovec iov[2] = { { hdr, HDR }, { (void *)payload, payload_len } };
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = payload_len ? 2 : 1 };
	ssize_t want = HDR + payload_len, r;

	wc_put32(hdr, (uint32_t)cmd);
	wc_put64(hdr + 8, size);
	if (nfds) {
		struct cmsghdr *c;

		memset(ctl, 0, sizeof(ctl));
		mh.msg_control = ctl;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	r = sendmsg(sock, &mh, MSG_NOSIGNAL);
	return r == want ? 0 : -1;
}

static int read_full(int sock, uint8_t *buf, size_t len, int timeout_ms)
{
	size_t got = 0;

	while (got < len) {
		struct pollfd p = { .fd = sock, .events = POLLIN };
		ssize_t r;

		if (poll(&p, 1, timeout_ms) <= 0)
			return got ? -1 : 0;
		r = read(sock, buf + got, len - got);
		if (r <= 0)
			return -1;
		got += r;
	}
	return 1;
}

int wc_recv_ret(int sock, uint64_t *val, uint64_t *size, int timeout_ms)
{
	uint8_t hdr[HDR], pl[8];
	int r = read_full(sock, hdr, HDR, timeout_ms);
	uint64_t sz;

	if (r <= 0)
		return r;
	sz = wc_get64(hdr + 8);
	if (hdr[0] != 1 || hdr[1] || hdr[2] || hdr[3] || (sz != 0 && sz != 8))
		return -1;	/* not a RET, or an odd size */
	*size = sz;
	*val = 0;
	if (sz) {
		if (read_full(sock, pl, 8, timeout_ms) <= 0)
			return -1;
		*val = wc_get64(pl);
	}
	return 1;
}

bool wc_no_reply(int sock, int timeout_ms)
{
	struct pollfd p = { .fd = sock, .events = POLLIN };

	return poll(&p, 1, timeout_ms) == 0;
}

static uint64_t call(int sock, int32_t cmd, const void *pl, size_t len)
{
	uint64_t v, sz;

	if (wc_send(sock, cmd, len, pl, len, NULL, 0) < 0)
		return ~0ull;
	if (wc_recv_ret(sock, &v, &sz, 5000) != 1)
		return ~0ull;
	return v;
}

/* PciConfDataMsg: u32 addr @0, u32 val @4, int len @8; 12 bytes. */
static uint64_t cfg(int sock, int32_t cmd, uint32_t addr, uint32_t val, int len)
{
	uint8_t p[12];

	wc_put32(p, addr);
	wc_put32(p + 4, val);
	wc_put32(p + 8, (uint32_t)len);
	return call(sock, cmd, p, sizeof(p));
}

uint64_t wc_cfg_read(int sock, uint32_t addr, int len)
{
	return cfg(sock, 3, addr, 0, len);
}

uint64_t wc_cfg_write(int sock, uint32_t addr, uint32_t val, int len)
{
	return cfg(sock, 2, addr, val, len);
}

/* BarAccessMsg: u64 addr @0, u64 val @8, unsigned size @16, bool @20; 24. */
static uint64_t bar(int sock, int32_t cmd, uint64_t addr, uint64_t val,
		    unsigned size, bool memory)
{
	uint8_t p[24] = { 0 };

	wc_put64(p, addr);
	wc_put64(p + 8, val);
	wc_put32(p + 16, size);
	p[20] = memory;
	return call(sock, cmd, p, sizeof(p));
}

uint64_t wc_bar_read(int sock, uint64_t addr, unsigned size, bool memory)
{
	return bar(sock, 5, addr, 0, size, memory);
}

uint64_t wc_bar_write(int sock, uint64_t addr, uint64_t val, unsigned size,
		      bool memory)
{
	return bar(sock, 4, addr, val, size, memory);
}

int64_t wc_reset(int sock)
{
	uint64_t v, sz;

	if (wc_send(sock, 7, 0, NULL, 0, NULL, 0) < 0)
		return -1;
	if (wc_recv_ret(sock, &v, &sz, 5000) != 1)
		return -1;
	return (int64_t)sz;
}

/* SyncSysmemMsg: gpas[8] @0, sizes[8] @64, offsets[8] @128; 192 bytes. */
int wc_sync_sysmem(int sock, int n, const uint64_t *gpas, const uint64_t *sizes,
		   const uint64_t *offsets, const int *fds)
{
	uint8_t p[192] = { 0 };

	for (int i = 0; i < n && i < 8; i++) {
		wc_put64(p + 8 * i, gpas[i]);
		wc_put64(p + 64 + 8 * i, sizes[i]);
		wc_put64(p + 128 + 8 * i, offsets[i]);
	}
	return wc_send(sock, 0, sizeof(p), p, sizeof(p), fds, n);
}

int wc_set_irqfd(int sock, int irqfd, int resamplefd)
{
	int fds[2] = { irqfd, resamplefd };

	return wc_send(sock, 6, 0, NULL, 0, fds, 2);
}

/*
 * MsiFdsMsg (the patched proxy's MPQEMU_CMD_MSI_FDS, 0x4d51): u32 magic @0,
 * u32 kind @4, u32 first @8, u32 total @12; 16 bytes, 1..8 eventfds.
 */
uint64_t wc_msi_fds(int sock, uint32_t magic, uint32_t kind, uint32_t first,
		    uint32_t total, const int *fds, int nfds)
{
	uint8_t p[16];
	uint64_t v, sz;

	wc_put32(p, magic);
	wc_put32(p + 4, kind);
	wc_put32(p + 8, first);
	wc_put32(p + 12, total);
	if (wc_send(sock, 0x4d51, sizeof(p), p, sizeof(p), fds, nfds) < 0)
		return ~0ull - 1;
	if (wc_recv_ret(sock, &v, &sz, 5000) != 1 || sz != 8)
		return ~0ull - 1;
	return v;
}
