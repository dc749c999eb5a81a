/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A test-side mpqemu client.  It lays messages out byte by byte from the
 * x86-64 layout of QEMU 7.2's MPQemuMsg (not from mpqemu_proto.h), so the
 * tests check the remote against the wire format, not against itself.
 */
#ifndef TEST_WIRE_CLIENT_H
#define TEST_WIRE_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Send raw: header {cmd, size} + payload + fds. 0 or -1. */
int wc_send(int sock, int32_t cmd, uint64_t size, const void *payload,
	    size_t payload_len, const int *fds, int nfds);

/*
 * Wait up to @timeout_ms for a RET; returns 1 with *@val (0 when the RET
 * has no payload) and *@size, 0 on timeout, -1 on EOF/garbage.
 */
int wc_recv_ret(int sock, uint64_t *val, uint64_t *size, int timeout_ms);

/* True if nothing arrives within @timeout_ms. */
bool wc_no_reply(int sock, int timeout_ms);

/* Requests that expect a RET; return the value or ~0 on a transport error. */
uint64_t wc_cfg_read(int sock, uint32_t addr, int len);
uint64_t wc_cfg_write(int sock, uint32_t addr, uint32_t val, int len);
uint64_t wc_bar_read(int sock, uint64_t addr, unsigned size, bool memory);
uint64_t wc_bar_write(int sock, uint64_t addr, uint64_t val, unsigned size,
		      bool memory);
/* DEVICE_RESET: returns the RET's payload size (QEMU sends 0) or -1. */
int64_t wc_reset(int sock);

/*
 * MSI_FDS (extension): the RET's value (0 taken, all-ones declined), or
 * all-ones minus one when no 8-byte RET came.
 */
uint64_t wc_msi_fds(int sock, uint32_t magic, uint32_t kind, uint32_t first,
		    uint32_t total, const int *fds, int nfds);

/* No-reply messages. */
int wc_sync_sysmem(int sock, int n, const uint64_t *gpas, const uint64_t *sizes,
		   const uint64_t *offsets, const int *fds);
int wc_set_irqfd(int sock, int irqfd, int resamplefd);

/* Payload builders for hand-made (malformed) messages. */
void wc_put32(uint8_t *p, uint32_t v);
void wc_put64(uint8_t *p, uint64_t v);
uint64_t wc_get64(const uint8_t *p);

#endif
