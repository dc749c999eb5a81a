/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The mpqemu wire format: what QEMU 7.2's x-pci-proxy-dev and a remote
 * device process exchange over a UNIX stream socket.
 *
 * Written from the protocol as QEMU 7.2 puts it on the wire
 * (hw/remote/mpqemu-link.c, hw/remote/message.c, hw/remote/proxy.c,
 * hw/remote/proxy-memory-listener.c); no QEMU code is used.  Each message is
 *
 *     header   { int cmd; size_t size; }        host-endian, padded to the
 *                                               alignment of uint64_t
 *     payload  @size bytes                      0 .. MPQ_MAX_PAYLOAD
 *     fds      SCM_RIGHTS on the header bytes    0 .. MPQ_MAX_FDS
 *
 * Native C types are used on purpose: the layout is QEMU's host ABI layout,
 * so it is 16 bytes of header on x86-64 and whatever the same types give on
 * another host.
 *
 * MPQ_CMD_MPDEV_BACKEND and MPQ_CMD_MSI_FDS are this project's extensions
 * (see Documentation/mpdev/remote.rst); stock QEMU never sends them.
 */
#ifndef MPQEMU_PROTO_H
#define MPQEMU_PROTO_H

#include <stddef.h>
#include <stdint.h>

/* Commands, numbered as QEMU 7.2's MPQemuCmd enum. */
enum mpq_cmd {
	MPQ_CMD_SYNC_SYSMEM	= 0,	/* fds: guest RAM; no reply */
	MPQ_CMD_RET		= 1,	/* reply, remote -> proxy */
	MPQ_CMD_PCI_CFGWRITE	= 2,	/* reply RET */
	MPQ_CMD_PCI_CFGREAD	= 3,	/* reply RET (value) */
	MPQ_CMD_BAR_WRITE	= 4,	/* reply RET */
	MPQ_CMD_BAR_READ	= 5,	/* reply RET (value) */
	MPQ_CMD_SET_IRQFD	= 6,	/* fds: irqfd, resamplefd; no reply */
	MPQ_CMD_DEVICE_RESET	= 7,	/* reply RET with no payload */
	MPQ_CMD_QEMU72_MAX	= 8,	/* QEMU 7.2's MPQEMU_CMD_MAX */

	/*
	 * mpdev extension: hand the remote an mpdev backend fd.  Far above
	 * QEMU's range so a future upstream command cannot collide with it.
	 */
	MPQ_CMD_MPDEV_BACKEND	= 0x4d50,	/* 'MP'; reply RET (status) */
	/* The eventfds that raise the MSI-X vectors; reply RET (status). */
	MPQ_CMD_MSI_FDS		= 0x4d51,
};

#define MPQ_MAX_FDS		8	/* QEMU's REMOTE_MAX_FDS */

/* SYNC_SYSMEM: one entry per fd; QEMU's SyncSysmemMsg. */
struct mpq_sync_sysmem {
	uint64_t gpas[MPQ_MAX_FDS];
	uint64_t sizes[MPQ_MAX_FDS];
	int64_t offsets[MPQ_MAX_FDS];	/* off_t with 64-bit file offsets */
};

/* PCI_CFGREAD / PCI_CFGWRITE; QEMU's PciConfDataMsg. */
struct mpq_pci_conf {
	uint32_t addr;
	uint32_t val;
	int len;
};

/*
 * BAR_READ / BAR_WRITE; QEMU's BarAccessMsg.  @addr is the guest-physical
 * address (memory BAR) or port (I/O BAR) the proxy's BAR is mapped at plus
 * the offset: the remote decodes it against its own BAR registers.
 * @memory is a C bool on the wire: read it as a byte, never as bool.
 */
struct mpq_bar_access {
	uint64_t addr;
	uint64_t val;
	unsigned int size;
	uint8_t memory;
	uint8_t pad[3];
};

/*
 * MPDEV_BACKEND payload, with exactly one fd: the backend fd.  Each map
 * entry says which BAR a region id stands for, for requests that carry no
 * cookie (below).  The QEMU patch registers region id == BAR index, so the
 * map is the identity in practice; it is sent anyway so the convention is
 * checked, not assumed.
 */
#define MPQ_MPDEV_MAGIC		0x5644504du	/* "MPDV" little endian */
#define MPQ_MPDEV_VERSION	1
#define MPQ_MPDEV_MAX_MAP	6
struct mpq_mpdev_backend {
	uint32_t magic;
	uint32_t version;
	uint32_t flags;		/* must be 0 */
	uint32_t nr_map;	/* <= MPQ_MPDEV_MAX_MAP */
	struct {
		uint32_t region_id;
		uint32_t bar;	/* 0..5 */
	} map[MPQ_MPDEV_MAX_MAP];
};

/*
 * MSI_FDS payload, with 1..MPQ_MAX_FDS eventfds: those of vectors @first
 * to @first + nfds - 1 of the @total (the device's MSI-X table size) that
 * the patched proxy emulates.  It sends them in order from vector 0, in
 * ceil(total / 8) messages, and each is answered with RET: 0 when taken,
 * all-ones when declined (the proxy then hides MSI-X from the guest).  The
 * remote raises vector v by writing 1 to eventfd v; the table, the PBA and
 * per-vector masking are the proxy's.  Kind MPQ_MSI_FDS_MSI is the same for
 * plain MSI (patch 0011); our device models have no MSI capability, so
 * the remote declines it, and the proxy keeps MSI hidden.
 */
#define MPQ_MSI_FDS_MAGIC	0x4653534du	/* "MSSF" little endian */
#define MPQ_MSI_FDS_MSIX	1
#define MPQ_MSI_FDS_MSI		2
struct mpq_msi_fds {
	uint32_t magic;
	uint32_t kind;		/* MPQ_MSI_FDS_MSIX or MPQ_MSI_FDS_MSI */
	uint32_t first;
	uint32_t total;
};

/*
 * mpdev_region.cookie of the regions the QEMU patch registers; the kernel
 * hands it back in every request (mpdev_request.cookie).  It says which BAR
 * the region belongs to and where in that BAR it starts, so that a region
 * may cover only part of a BAR and its id need not be a BAR index:
 *
 *   bit  63      MPQ_MPDEV_COOKIE_BAR: the cookie names a BAR
 *   bits 56..62  0
 *   bits 48..55  the BAR index, 0..5
 *   bits  0..47  the offset of the region's first byte in that BAR
 *
 * A request then goes to that BAR at cookie offset + request offset.  A
 * request whose cookie is 0 (a VMM that sets none, or a kernel without
 * MPDEV_FEAT_REGION_COOKIE) goes by region id through the MPDEV_BACKEND
 * map, from the BAR's start.  Any other cookie is refused.
 */
#define MPQ_MPDEV_COOKIE_BAR		(1ull << 63)
#define MPQ_MPDEV_COOKIE_RSVD		(0x7full << 56)
#define MPQ_MPDEV_COOKIE_BAR_SHIFT	48
#define MPQ_MPDEV_COOKIE_BAR_MASK	0xffu
#define MPQ_MPDEV_COOKIE_OFF_MASK	((1ull << 48) - 1)
#define MPQ_MPDEV_COOKIE(bar, off)	(MPQ_MPDEV_COOKIE_BAR | \
	((uint64_t)(bar) << MPQ_MPDEV_COOKIE_BAR_SHIFT) | \
	((uint64_t)(off) & MPQ_MPDEV_COOKIE_OFF_MASK))

/* Payload union: its size is QEMU's largest accepted payload. */
union mpq_payload {
	uint64_t u64;
	struct mpq_pci_conf pci_conf;
	struct mpq_sync_sysmem sync_sysmem;
	struct mpq_bar_access bar_access;
	struct mpq_mpdev_backend mpdev;
	struct mpq_msi_fds msi_fds;
	uint8_t bytes[sizeof(struct mpq_sync_sysmem)];
};

/* Header followed by the payload, as QEMU lays out MPQemuMsg's front. */
struct mpq_wire {
	int cmd;
	size_t size;
	union mpq_payload data;
};

#define MPQ_HDR_SIZE		offsetof(struct mpq_wire, data)
#define MPQ_MAX_PAYLOAD		sizeof(union mpq_payload)

/* Status values in the RET answering MPDEV_BACKEND and MSI_FDS. */
#define MPQ_MPDEV_OK		0

#if defined(__x86_64__)
/* Checked against QEMU 7.2 built for x86-64. */
_Static_assert(MPQ_HDR_SIZE == 16, "mpqemu header is 16 bytes on x86-64");
_Static_assert(sizeof(struct mpq_pci_conf) == 12, "PciConfDataMsg");
_Static_assert(sizeof(struct mpq_bar_access) == 24, "BarAccessMsg");
_Static_assert(sizeof(struct mpq_sync_sysmem) == 192, "SyncSysmemMsg");
_Static_assert(MPQ_MAX_PAYLOAD == 192, "MPQemuMsg.data");
#endif
_Static_assert(sizeof(struct mpq_msi_fds) == 16, "MsiFdsMsg");
_Static_assert(sizeof(struct mpq_mpdev_backend) <= sizeof(struct mpq_sync_sysmem),
	       "extension payload must not grow the union");

#endif /* MPQEMU_PROTO_H */
