/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * mpdev: route a KVM guest's MMIO/PIO accesses to proxied BARs straight to
 * an out-of-process device model (the "remote"), without a detour through
 * the VMM's userspace.
 *
 * Two file descriptors:
 *
 *  - the control fd, /dev/mpdev (CAP_SYS_ADMIN).  One open file is one
 *    context: it attaches one KVM VM, owns a set of regions on that VM's
 *    MMIO and PIO buses and hands out one backend fd.
 *
 *  - the backend fd, created from the control fd and passed to the
 *    unprivileged remote.  It can only consume the context's requests and
 *    post completions: read()/write()/poll(), or a shared ring (mmap())
 *    that the remote may busy-poll without system calls.
 *
 * Documentation/mpdev/uapi.rst is the reference for every call below.
 */
#ifndef _UAPI_LINUX_MPDEV_H
#define _UAPI_LINUX_MPDEV_H

#include <linux/types.h>
#include <linux/ioctl.h>

/* Bumped on any incompatible change; MPDEV_GET_API_VERSION returns it. */
#define MPDEV_API_VERSION	1

#define MPDEV_IOC_MAGIC		0xB2

/* ---- control fd ------------------------------------------------------ */

/* Returns MPDEV_API_VERSION (as the ioctl's return value). */
#define MPDEV_GET_API_VERSION	_IO(MPDEV_IOC_MAGIC, 0x00)

/* Attach the KVM VM behind @vm_fd; at most once per context. */
struct mpdev_attach_vm {
	__s32 vm_fd;
	__u32 flags;		/* must be 0 */
	__u64 reserved[2];	/* must be 0 */
};

#define MPDEV_ATTACH_VM		_IOW(MPDEV_IOC_MAGIC, 0x01, struct mpdev_attach_vm)

/*
 * Request deadline and spin budget of the context (read-modify-write with
 * MPDEV_GET_PARAMS).  1 ms <= deadline_ns <= 60 s; spin_ns <= deadline_ns,
 * 0 sleeps at once.  Defaults: 2 s and 50 us.
 */
struct mpdev_params {
	__u64 deadline_ns;
	__u64 spin_ns;
	__u64 reserved[4];	/* must be 0 */
};

#define MPDEV_SET_PARAMS	_IOW(MPDEV_IOC_MAGIC, 0x02, struct mpdev_params)
#define MPDEV_GET_PARAMS	_IOR(MPDEV_IOC_MAGIC, 0x03, struct mpdev_params)

#define MPDEV_SPACE_MMIO	0
#define MPDEV_SPACE_PIO		1

/* Writes wait for a completion like reads do (the default is posted). */
#define MPDEV_REGION_NONPOSTED	(1U << 0)
#define MPDEV_REGION_FLAGS_ALL	MPDEV_REGION_NONPOSTED

/*
 * A range of guest-physical (MMIO) or port (PIO) addresses.  @id is chosen
 * by the VMM, unique in the context, and is what the remote sees in each
 * request.  Regions may not overlap each other or any other device on the
 * same KVM bus (EEXIST).  PIO regions must lie below 0x10000.
 */
struct mpdev_region {
	__u64 addr;
	__u64 size;
	__u32 id;
	__u16 space;		/* MPDEV_SPACE_* */
	__u16 flags;		/* MPDEV_REGION_* */
	__u64 reserved[2];	/* must be 0 */
};

#define MPDEV_ADD_REGION	_IOW(MPDEV_IOC_MAGIC, 0x04, struct mpdev_region)
/* Only @id is looked at; the other fields must be 0. */
#define MPDEV_DEL_REGION	_IOW(MPDEV_IOC_MAGIC, 0x05, struct mpdev_region)

/* flags for MPDEV_CREATE_BACKEND; the new fd is the ioctl's return value */
#define MPDEV_BACKEND_CLOEXEC	(1U << 0)
#define MPDEV_BACKEND_NONBLOCK	(1U << 1)
struct mpdev_backend_args {
	__u32 flags;
	__u32 reserved[3];	/* must be 0 */
};

#define MPDEV_CREATE_BACKEND	_IOW(MPDEV_IOC_MAGIC, 0x06, struct mpdev_backend_args)

/* Why a context stopped forwarding accesses (mpdev_info.fail_reason). */
enum mpdev_fail_reason {
	MPDEV_FAIL_NONE = 0,
	MPDEV_FAIL_TIMEOUT,		/* a request passed its deadline */
	MPDEV_FAIL_BACKEND_CLOSED,	/* the remote closed the backend fd */
	MPDEV_FAIL_MALFORMED,		/* bad completion or ring index */
	MPDEV_FAIL_VMM_CLOSED,		/* the control fd was closed */
};

/* Context counters; every field only grows. */
struct mpdev_counters {
	__u64 reads;
	__u64 writes;
	__u64 queue_full_waits;
	__u64 timeouts;
	__u64 malformed;
	__u64 failed_accesses;	/* answered all-ones / dropped after failure */
	__u64 reserved[10];
};

#define MPDEV_STATE_OK		0
#define MPDEV_STATE_FAILED	1
struct mpdev_info {
	__u32 state;		/* MPDEV_STATE_* */
	__u32 fail_reason;	/* enum mpdev_fail_reason */
	__u32 nr_regions;
	__u32 backend_attached;
	__u32 vm_attached;
	__u32 ring_entries;
	__u64 reserved[4];
	struct mpdev_counters counters;
};

#define MPDEV_GET_INFO		_IOR(MPDEV_IOC_MAGIC, 0x07, struct mpdev_info)

/* ---- backend fd ------------------------------------------------------ */

#define MPDEV_REQ_WRITE		(1U << 0)	/* else a read */
#define MPDEV_REQ_NEEDS_REPLY	(1U << 1)	/* reads and non-posted writes */

/*
 * One guest access.  @data holds a write's value (little endian, the low
 * @size bytes).  Requests arrive in guest order for the whole context.
 */
struct mpdev_request {
	__u64 id;		/* echo it in the completion */
	__u64 offset;		/* from the region's base */
	__u64 data;
	__u32 region;		/* mpdev_region.id */
	__u16 vcpu;		/* KVM vcpu_id that made the access */
	__u8 size;		/* 1, 2, 4 or 8 */
	__u8 flags;		/* MPDEV_REQ_* */
};

/* The device could not serve the access: the guest reads all-ones. */
#define MPDEV_CPL_ERROR		(1U << 0)

/*
 * Answer to a request with MPDEV_REQ_NEEDS_REPLY.  @size must echo the
 * request's size; anything else, an unknown @id or non-zero reserved
 * fields fail the context (MPDEV_FAIL_MALFORMED).
 */
struct mpdev_completion {
	__u64 id;
	__u64 data;		/* a read's value, little endian */
	__u8 size;
	__u8 flags;		/* MPDEV_CPL_* */
	__u16 reserved0;
	__u32 reserved1;
	__u64 reserved2;
};

/*
 * The shared ring, mmap()ed from the backend fd at offset 0, length
 * MPDEV_RING_MMAP_SIZE.  The kernel owns req_head and cpl_tail and never
 * reads them back; the remote owns req_tail and cpl_head, and the kernel
 * reads each of them once per use and checks it against its own copy.
 * Indices are free-running u32 counters; an entry lives at index % entries.
 *
 * Requests: the kernel writes req[req_head % n] then advances req_head
 * (release).  The remote reads entries below req_head (acquire) and advances
 * req_tail when done with them.
 *
 * Completions: the remote writes cpl[cpl_head % n] then advances cpl_head
 * (release).  A vCPU waiting for a reply reaps completions itself while it
 * spins.  Before it sleeps it sets kick_needed; a remote that sees
 * kick_needed != 0 after advancing cpl_head (full barrier in between) calls
 * MPDEV_BACKEND_KICK.  A remote that only uses write() for completions
 * never needs to kick.
 */
#define MPDEV_RING_ENTRIES	256
struct mpdev_ring_hdr {
	__u32 req_head;
	__u32 entries;		/* MPDEV_RING_ENTRIES, for the remote */
	__u32 cpl_tail;
	__u32 kick_needed;
	__u32 pad0[12];		/* kernel-written cache line ends here */
	__u32 req_tail;
	__u32 cpl_head;
	__u32 pad1[14];		/* remote-written cache line */
};

struct mpdev_ring {
	struct mpdev_ring_hdr hdr;
	struct mpdev_request req[MPDEV_RING_ENTRIES];
	struct mpdev_completion cpl[MPDEV_RING_ENTRIES];
};

/* Page-rounded size of struct mpdev_ring: 128 + 2 * 256 * 32 bytes. */
#define MPDEV_RING_MMAP_SIZE	(5 * 4096)

/* Reap the completion ring now and wake the vCPUs that it answers. */
#define MPDEV_BACKEND_KICK	_IO(MPDEV_IOC_MAGIC, 0x40)

/* ---- generic netlink family (Documentation/mpdev/netlink.rst) ------- */

#define MPDEV_GENL_NAME		"mpdev"
#define MPDEV_GENL_VERSION	1
#define MPDEV_GENL_MCGRP_EVENTS	"events"

/* What the events multicast group announces. */
enum mpdev_event {
	MPDEV_EVENT_CTX_CREATED = 1,
	MPDEV_EVENT_CTX_DESTROYED,
	MPDEV_EVENT_BACKEND_ATTACHED,
	MPDEV_EVENT_BACKEND_DETACHED,
	MPDEV_EVENT_REMOTE_GONE,	/* backend closed while the VMM runs */
	MPDEV_EVENT_DEADLINE,		/* a request passed its deadline */
	MPDEV_EVENT_MALFORMED,		/* the remote broke the protocol */
};

/*
 * Commands.  Every one needs CAP_NET_ADMIN and sees only the contexts
 * opened in the caller's network namespace.  Replies carry one context
 * per message (enum mpdev_genl_attr); a dump may split a context with
 * many regions over several messages, each with the context's attributes
 * and some of its regions (in region id order, each region once).
 *
 * Compatibility: numbers are never reused or reordered; new attributes
 * and commands are added at the end.  Requests are validated strictly:
 * unknown attributes are refused.
 */
enum mpdev_genl_cmd {
	MPDEV_CMD_UNSPEC,
	/*
	 * do: MPDEV_A_CTX_ID required; dump: MPDEV_A_CTX_ID optional (a
	 * filter).  Reply: the context's attributes and MPDEV_A_REGION nests.
	 */
	MPDEV_CMD_CTX_GET,
	/* As MPDEV_CMD_CTX_GET, plus MPDEV_A_STATS and MPDEV_A_REGION_STATS. */
	MPDEV_CMD_STATS_GET,
	/*
	 * do: zero the counters seen through netlink (MPDEV_GET_INFO keeps
	 * counting from the start) of the context MPDEV_A_CTX_ID, or of every
	 * context in the namespace without it.
	 */
	MPDEV_CMD_STATS_RESET,
	/* Notification on the "events" group; not a request. */
	MPDEV_CMD_EVENT,

	__MPDEV_CMD_MAX,
	MPDEV_CMD_MAX = __MPDEV_CMD_MAX - 1
};

/* Message-level attributes: one context, or one event. */
enum mpdev_genl_attr {
	MPDEV_A_UNSPEC,
	MPDEV_A_PAD,
	MPDEV_A_CTX_ID,		/* u32, 1..INT_MAX, never reused */
	MPDEV_A_OWNER_PID,	/* u32: tgid that opened /dev/mpdev */
	MPDEV_A_VM_ATTACHED,	/* u8: 0 or 1 */
	MPDEV_A_VM_NAME,	/* string: KVM's stats id, "kvm-<pid>" */
	MPDEV_A_BACKEND_ATTACHED,	/* u8: backend fd open */
	MPDEV_A_STATE,		/* u32: MPDEV_STATE_* */
	MPDEV_A_FAIL_REASON,	/* u32: enum mpdev_fail_reason */
	MPDEV_A_DEADLINE_NS,	/* u64 */
	MPDEV_A_SPIN_NS,	/* u64 */
	MPDEV_A_NR_REGIONS,	/* u32: regions of the context in all */
	MPDEV_A_REGION,		/* nest (mpdev_genl_region_attr), repeated */
	MPDEV_A_STATS,		/* nest (mpdev_genl_stats_attr) */
	MPDEV_A_EVENT,		/* u32: enum mpdev_event */

	__MPDEV_A_MAX,
	MPDEV_A_MAX = __MPDEV_A_MAX - 1
};

enum mpdev_genl_region_attr {
	MPDEV_A_REGION_UNSPEC,
	MPDEV_A_REGION_PAD,
	MPDEV_A_REGION_ID,	/* u32: mpdev_region.id */
	MPDEV_A_REGION_SPACE,	/* u32: MPDEV_SPACE_* */
	MPDEV_A_REGION_BASE,	/* u64: GPA or port */
	MPDEV_A_REGION_SIZE,	/* u64 */
	MPDEV_A_REGION_FLAGS,	/* u32: MPDEV_REGION_* */
	MPDEV_A_REGION_STATS,	/* nest (mpdev_genl_stats_attr) */

	__MPDEV_A_REGION_MAX,
	MPDEV_A_REGION_MAX = __MPDEV_A_REGION_MAX - 1
};

/* Counters since the last MPDEV_CMD_STATS_RESET; each is a u64. */
enum mpdev_genl_stats_attr {
	MPDEV_A_STATS_UNSPEC,
	MPDEV_A_STATS_PAD,
	MPDEV_A_STATS_READS,
	MPDEV_A_STATS_WRITES,
	MPDEV_A_STATS_QUEUE_FULL_WAITS,
	MPDEV_A_STATS_TIMEOUTS,
	MPDEV_A_STATS_MALFORMED,	/* context only: 0 on regions */
	MPDEV_A_STATS_FAILED_ACCESSES,
	MPDEV_A_STATS_READ_LATENCY,	/* nest (mpdev_genl_hist_attr) */

	__MPDEV_A_STATS_MAX,
	MPDEV_A_STATS_MAX = __MPDEV_A_STATS_MAX - 1
};

/* Read latency: a log2 histogram; only buckets with a count are sent. */
#define MPDEV_GENL_LAT_BUCKETS	32
enum mpdev_genl_hist_attr {
	MPDEV_A_HIST_UNSPEC,
	MPDEV_A_HIST_BUCKET,	/* nest (mpdev_genl_bucket_attr), repeated */

	__MPDEV_A_HIST_MAX,
	MPDEV_A_HIST_MAX = __MPDEV_A_HIST_MAX - 1
};

enum mpdev_genl_bucket_attr {
	MPDEV_A_BUCKET_UNSPEC,
	MPDEV_A_BUCKET_PAD,
	/*
	 * u32 b: reads that took [2^b, 2^(b+1)) ns, from the request being
	 * queued to the answer; bucket 0 also holds 0 ns, the last bucket
	 * everything longer.
	 */
	MPDEV_A_BUCKET_LOG2,
	MPDEV_A_BUCKET_COUNT,	/* u64 */

	__MPDEV_A_BUCKET_MAX,
	MPDEV_A_BUCKET_MAX = __MPDEV_A_BUCKET_MAX - 1
};

#endif /* _UAPI_LINUX_MPDEV_H */
