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

/*
 * Ioctl type 0xB9: free in the kernel's
 * Documentation/userspace-api/ioctl/ioctl-number.rst (checked in 6.1 and
 * 6.12; 0xB2, used before, belongs to powerpc's papr-vpd/papr-sysparm).
 *
 * Growing the ABI: there is no version number.  Userspace asks
 * MPDEV_GET_FEATURES what this kernel has; every structure has flags and
 * reserved fields that must be zero, so a kernel refuses (EINVAL) what it
 * does not know instead of ignoring it, and a newer kernel gives reserved
 * fields a meaning only under a new flag or feature bit.
 */
#define MPDEV_IOC_MAGIC		0xB9

/* ---- both fds --------------------------------------------------------- */

/* Feature bits (mpdev_features.features). */
/* MPDEV_CREATE_BACKEND takes ring_entries; the ring's layout is reported. */
#define MPDEV_FEAT_RING_GEOMETRY	(1ULL << 0)
/* mpdev_region.cookie is delivered in every request (mpdev_request.cookie). */
#define MPDEV_FEAT_REGION_COOKIE	(1ULL << 1)
/* The deadline bounds all waiting in one KVM exit, not each access. */
#define MPDEV_FEAT_EXIT_DEADLINE	(1ULL << 2)
/* mpdev_params.intr_ns: how long a wait lasts once a signal is pending. */
#define MPDEV_FEAT_INTR_GRACE		(1ULL << 3)
/* Late answers to abandoned requests are ignored and counted (stale). */
#define MPDEV_FEAT_STALE_CPL		(1ULL << 4)

/* What this kernel supports.  Never fails on a valid fd. */
struct mpdev_features {
	__u64 features;		/* MPDEV_FEAT_* */
	__u32 region_flags;	/* MPDEV_REGION_* that ADD_REGION accepts */
	__u32 backend_flags;	/* MPDEV_BACKEND_* that CREATE_BACKEND accepts */
	__u32 max_regions;	/* per context */
	__u32 ring_min_entries;	/* ring_entries: a power of two in */
	__u32 ring_max_entries;	/* [min, max]; 0 picks the default */
	__u32 ring_default_entries;
	__u64 min_deadline_ns;	/* mpdev_params limits */
	__u64 max_deadline_ns;
	__u64 max_spin_ns;
	__u64 reserved[8];
};

#define MPDEV_GET_FEATURES	_IOR(MPDEV_IOC_MAGIC, 0x00, struct mpdev_features)

/* ---- control fd ------------------------------------------------------ */

/* Attach the KVM VM behind @vm_fd; at most once per context. */
struct mpdev_attach_vm {
	__s32 vm_fd;
	__u32 flags;		/* must be 0 */
	__u64 reserved[2];	/* must be 0 */
};

#define MPDEV_ATTACH_VM		_IOW(MPDEV_IOC_MAGIC, 0x01, struct mpdev_attach_vm)

/*
 * Timing of the context (read-modify-write with MPDEV_GET_PARAMS).
 *
 * deadline_ns: the most a vCPU waits inside mpdev during one KVM exit, for
 * all the accesses of that exit together (a "rep insb" is one exit and up
 * to thousands of accesses), answers and room in the ring alike.
 * spin_ns: how long a waiting vCPU busy-polls before it sleeps;
 * at most MPDEV_MAX_SPIN_NS, 0 sleeps at once.
 * intr_ns: once a signal is pending for the vCPU thread (QEMU kicks vCPUs
 * with one to pause them), a read waits at most this much longer; then it
 * completes with all-ones and counts as interrupted, and the context stays
 * healthy.  At most deadline_ns.
 */
#define MPDEV_MIN_DEADLINE_NS	1000000ULL		/* 1 ms */
#define MPDEV_MAX_DEADLINE_NS	60000000000ULL		/* 60 s */
#define MPDEV_MAX_SPIN_NS	1000000ULL		/* 1 ms */
struct mpdev_params {
	__u64 deadline_ns;	/* default 2 s */
	__u64 spin_ns;		/* default 50 us */
	__u64 intr_ns;		/* default 10 ms */
	__u64 reserved[3];	/* must be 0 */
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
 * request, with @cookie: an opaque value the VMM picks so that the remote
 * can map a request to its device without another message (for example
 * the BAR number and the region's offset in that BAR, when a region covers
 * only part of a BAR).  Regions may not overlap each other or any other
 * device on the same KVM bus (EEXIST).  PIO regions must lie below
 * 0x10000.  The backend must exist first (MPDEV_CREATE_BACKEND).
 */
struct mpdev_region {
	__u64 addr;
	__u64 size;
	__u64 cookie;
	__u32 id;
	__u16 space;		/* MPDEV_SPACE_* */
	__u16 flags;		/* MPDEV_REGION_* */
	__u64 reserved[2];	/* must be 0 */
};

#define MPDEV_ADD_REGION	_IOW(MPDEV_IOC_MAGIC, 0x04, struct mpdev_region)
/* Only @id is looked at; the other fields must be 0. */
#define MPDEV_DEL_REGION	_IOW(MPDEV_IOC_MAGIC, 0x05, struct mpdev_region)

/*
 * Where the parts of the shared ring are in the backend's mapping.  The
 * remote maps mmap_size bytes at offset 0 and finds struct mpdev_ring_hdr
 * at 0, request i at req_offset + (i % entries) * req_entry_size and
 * completion i at cpl_offset + (i % entries) * cpl_entry_size.  Entry
 * sizes may grow in later kernels (new fields at the end); a remote reads
 * the prefix it knows of a request and zeroes the bytes of a completion
 * entry beyond the fields it knows.  read() delivers requests of
 * req_entry_size bytes too.  A remote refuses flags it does not know.
 */
struct mpdev_ring_info {
	__u32 entries;		/* of each ring; a power of two */
	__u32 req_entry_size;
	__u32 cpl_entry_size;
	__u32 flags;		/* 0 */
	__u64 req_offset;
	__u64 cpl_offset;
	__u64 mmap_size;	/* a multiple of the page size */
	__u64 reserved[3];
};

/* flags for MPDEV_CREATE_BACKEND; the new fd is the ioctl's return value */
#define MPDEV_BACKEND_CLOEXEC	(1U << 0)
#define MPDEV_BACKEND_NONBLOCK	(1U << 1)
#define MPDEV_BACKEND_FLAGS_ALL	(MPDEV_BACKEND_CLOEXEC | MPDEV_BACKEND_NONBLOCK)

#define MPDEV_RING_MIN_ENTRIES		16
#define MPDEV_RING_MAX_ENTRIES		4096
#define MPDEV_RING_DEFAULT_ENTRIES	256
struct mpdev_backend_args {
	__u32 flags;		/* MPDEV_BACKEND_* */
	__u32 ring_entries;	/* in: power of two, or 0 for the default */
	__u64 reserved[2];	/* must be 0 */
	struct mpdev_ring_info ring;	/* out: as MPDEV_BACKEND_GET_RING */
};

#define MPDEV_CREATE_BACKEND	_IOWR(MPDEV_IOC_MAGIC, 0x06, struct mpdev_backend_args)

/* Why a context stopped forwarding accesses (mpdev_info.fail_reason). */
enum mpdev_fail_reason {
	MPDEV_FAIL_NONE = 0,
	MPDEV_FAIL_TIMEOUT,		/* an exit's waiting passed the deadline */
	MPDEV_FAIL_BACKEND_CLOSED,	/* the remote closed the backend fd */
	MPDEV_FAIL_MALFORMED,		/* bad completion or ring index */
	MPDEV_FAIL_VMM_CLOSED,		/* the control fd was closed */
	MPDEV_FAIL_BUS_LOST,		/* KVM dropped a bus with our regions */
	MPDEV_FAIL_BUS_CONFLICT,	/* a KVM device was put inside a region */
};

/* Context counters; every field only grows. */
struct mpdev_counters {
	__u64 reads;
	__u64 writes;
	__u64 queue_full_waits;
	__u64 timeouts;
	__u64 malformed;
	__u64 failed_accesses;	/* answered all-ones / dropped without the remote */
	__u64 stale_completions;	/* late answers to abandoned requests */
	__u64 interrupted;	/* reads cut short by a pending signal */
	__u64 bus_lost;		/* regions KVM took off its bus by itself */
	__u64 reserved[7];
};

#define MPDEV_STATE_OK		0
#define MPDEV_STATE_FAILED	1
struct mpdev_info {
	__u32 state;		/* MPDEV_STATE_* */
	__u32 fail_reason;	/* enum mpdev_fail_reason */
	__u32 nr_regions;
	__u32 backend_attached;
	__u32 vm_attached;
	__u32 ring_entries;	/* 0 until the backend exists */
	__u32 nr_slots;		/* vCPUs that have made a waiting access */
	__u32 reserved0;
	__u64 footprint_bytes;	/* kernel memory the context holds */
	__u64 reserved[2];
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
	__u64 cookie;		/* mpdev_region.cookie */
	__u32 region;		/* mpdev_region.id */
	__u32 vcpu;		/* KVM vcpu_id that made the access */
	__u8 size;		/* 1, 2, 4 or 8 */
	__u8 flags;		/* MPDEV_REQ_* */
	__u16 reserved0;
	__u32 reserved1;
};

/* The device could not serve the access: the guest reads all-ones. */
#define MPDEV_CPL_ERROR		(1U << 0)

/*
 * Answer to a request with MPDEV_REQ_NEEDS_REPLY.  @size must echo the
 * request's size.  An id that was never issued, a second answer to an
 * answered request, a wrong size or non-zero reserved fields fail the
 * context (MPDEV_FAIL_MALFORMED); an answer to a request the kernel has
 * given up on (region removed, signal, deadline) is ignored and counted
 * as stale.
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
 * The shared ring: mmap() the backend fd at offset 0 for
 * mpdev_ring_info.mmap_size bytes (MPDEV_BACKEND_GET_RING); the header is
 * at offset 0, the entries where mpdev_ring_info says.  The kernel owns
 * req_head and cpl_tail and never reads them back; the remote owns
 * req_tail and cpl_head, and the kernel reads each of them once per use
 * and checks it against its own copy.  Indices are free-running u32
 * counters; an entry lives at index % entries.
 *
 * Requests: the kernel writes request req_head then advances req_head
 * (release).  The remote reads entries below req_head (acquire) and advances
 * req_tail when done with them.
 *
 * Completions: the remote writes completion cpl_head then advances cpl_head
 * (release).  A vCPU waiting for a reply reaps completions itself while it
 * spins.  Before it sleeps it sets kick_needed; a remote that sees
 * kick_needed != 0 after advancing cpl_head (full barrier in between) calls
 * MPDEV_BACKEND_KICK.  A remote that only uses write() for completions
 * never needs to kick.
 */
struct mpdev_ring_hdr {
	__u32 req_head;
	__u32 entries;		/* mpdev_ring_info.entries */
	__u32 cpl_tail;
	__u32 kick_needed;
	__u32 pad0[12];		/* kernel-written cache line ends here */
	__u32 req_tail;
	__u32 cpl_head;
	__u32 pad1[14];		/* remote-written cache line */
};

/* Reap the completion ring now and wake the vCPUs that it answers. */
#define MPDEV_BACKEND_KICK	_IO(MPDEV_IOC_MAGIC, 0x40)
/* The ring's geometry, as MPDEV_CREATE_BACKEND reported it. */
#define MPDEV_BACKEND_GET_RING	_IOR(MPDEV_IOC_MAGIC, 0x41, struct mpdev_ring_info)

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
	MPDEV_EVENT_BUS,		/* KVM's bus lost or hid a region */
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
	/*
	 * u32: tgid that opened /dev/mpdev, in the requester's pid namespace
	 * (0 if it is not visible there); in events, in the namespace of the
	 * process that opened it.
	 */
	MPDEV_A_OWNER_PID,
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
	MPDEV_A_INTR_NS,	/* u64: mpdev_params.intr_ns */
	MPDEV_A_RING_ENTRIES,	/* u32: 0 until the backend exists */
	MPDEV_A_NR_SLOTS,	/* u32: mpdev_info.nr_slots */
	MPDEV_A_FOOTPRINT,	/* u64: mpdev_info.footprint_bytes */

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
	MPDEV_A_REGION_COOKIE,	/* u64: mpdev_region.cookie */

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
	MPDEV_A_STATS_READ_LATENCY,	/* nest (mpdev_genl_hist_attr); context only */
	MPDEV_A_STATS_STALE,		/* context only */
	MPDEV_A_STATS_INTERRUPTED,
	MPDEV_A_STATS_BUS_LOST,		/* context only */

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
