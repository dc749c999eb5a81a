/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A small QMP client for mpqemu-run --zero-patch: where QEMU has placed
 * the BARs of an x-pci-proxy-dev (query-pci), from a QMP socket of the
 * VMM.  JSON through jansson.  QEMU is trusted to say where it routes the
 * device; the caller still checks what it is told (see relay.c).
 */
#ifndef MPQEMU_RUN_QMP_H
#define MPQEMU_RUN_QMP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define QMP_MAX_BARS	7	/* BAR0..5 and the expansion ROM (bar 6) */

struct qmp_bar {
	int bar;		/* 0..5, 6 for the ROM */
	bool io;		/* "type": "io"; else "memory" */
	bool mem64;		/* "mem_type_64" */
	bool prefetch;		/* "prefetch" */
	bool mapped;		/* false when QEMU reports address -1 */
	uint64_t addr;		/* guest-physical address or port */
	uint64_t size;
};

struct qmp_pci_dev {
	int bus, slot, function;
	char qdev_id[64];
	int nbars;
	struct qmp_bar bars[QMP_MAX_BARS];	/* in QEMU's order */
};

struct qmp;

/*
 * Connect to the QMP UNIX socket @path, read the greeting and leave
 * negotiation mode (qmp_capabilities).  Retries the connection until
 * @timeout_ms have passed (QEMU creates the socket at start-up), every
 * 50 ms while the path is missing or refuses connections; one deadline
 * covers the connection, the greeting and negotiation (-1: no limit).
 * QEMU serves one QMP client at a time: while another is connected the
 * greeting waits until it leaves, or this times out.  NULL with @err set
 * on failure.
 */
struct qmp *qmp_open(const char *path, int timeout_ms, char *err, size_t len);
void qmp_close(struct qmp *q);

/*
 * Run query-pci and find the device whose qdev_id is @qdev_id, on any
 * bus.  Asynchronous events in between are skipped.  Returns 0 and fills
 * @out, 1 if no such device, -1 with @err set (no answer within
 * @timeout_ms, the connection gone, malformed JSON, an error reply, a
 * malformed device entry).  @out is zeroed unless 0 is returned.
 *
 * Devices behind a PCI bridge are listed by QEMU only once the guest
 * (its firmware) has numbered the bridge's secondary bus: before that,
 * e.g. under -S, such a device is not found (1).  Each command carries
 * a new id, so after a timeout a late reply is skipped; after any other
 * -1 the stream may be out of step and the caller should close.
 */
int qmp_query_pci_dev(struct qmp *q, const char *qdev_id,
		      struct qmp_pci_dev *out, int timeout_ms, char *err,
		      size_t len);

/*
 * The parsing half of qmp_query_pci_dev(), for the tests: @json is one
 * complete QMP reply line ({"return": [...]}).  Same return values.
 */
int qmp_parse_query_pci(const char *json, const char *qdev_id,
			struct qmp_pci_dev *out, char *err, size_t len);

#endif
