/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kvm_guest: a minimal raw-KVM guest for the mpdev selftests and benchmark.
 *
 * kg_create() makes a KVM VM with one RAM slot at GPA 0 and N vCPUs that
 * start directly in 64-bit long mode (no firmware, no irqchip).  Each vCPU
 * runs a tiny program (guest.S) that executes one *command* from its command
 * block -- "do @count accesses of @size bytes at @addr in MMIO or PIO space"
 * -- and then reports completion with an OUT to KG_DONE_PORT.  kg_run() fills
 * the command block, runs KVM_RUN until that report, and hands every other
 * MMIO/PIO exit to an optional exit handler (in-process device emulation).
 *
 * Guest-physical layout (all identity mapped with 2 MiB pages, 0..4 GiB):
 *
 *   0x000000 - 0x1fffff  common: GDT+TSS, IDT, page tables, guest code
 *   0x200000 * (1 + v)   vCPU v's 2 MiB window: command block, stack,
 *                        values array, latency array (the upper 1 MiB,
 *                        values and latencies, is also the string buffer)
 *
 * RAM ends at kg_mem_size() = 2 MiB * (1 + nr_vcpus) (at most 34 MiB); every
 * GPA above it up to 4 GiB is mapped uncached (PCD|PWT) and is MMIO: any
 * address in 0x10000000..0xffffffff is free for MMIO regions (0xfffbc000 -
 * 0xfffbefff may be taken by KVM_SET_TSS_ADDR on Intel hosts).
 *
 * Reserved port: KG_DONE_PORT (0xf4).  Do not put ioeventfds or mpdev PIO
 * regions on it: the guest's "done" report would be swallowed.
 *
 * Threads: every function that takes a vcpu index may be called from one
 * thread per vCPU concurrently (kg_run() on vCPU 0 and 1 from two threads is
 * the normal use).  kg_create/kg_destroy/kg_set_exit_handler/kg_close_vm_fd
 * must not race with kg_run().
 *
 * Errors: functions return a negative errno (or NULL with errno set).  After
 * a failed kg_run(), kg_strerror() tells what happened in words (exit reason,
 * address, guest exception) for test logs.
 */
#ifndef MPDEV_SELFTEST_KVM_GUEST_H
#define MPDEV_SELFTEST_KVM_GUEST_H

#include <stdbool.h>
#include <stdint.h>
#include <linux/kvm.h>

#define KG_MAX_VCPUS		16
/* Entries in each vCPU's values array and in its latency array. */
#define KG_MAX_SAMPLES		65536
/* The guest writes its status byte here when a command ends. */
#define KG_DONE_PORT		0xf4

/* Same numbers as MPDEV_SPACE_MMIO / MPDEV_SPACE_PIO. */
#define KG_SPACE_MMIO		0
#define KG_SPACE_PIO		1

enum kg_op {
	KG_OP_READ = 0,		/* read @count times */
	KG_OP_WRITE = 1,	/* write value(i) @count times */
	/*
	 * Each iteration writes value(i) and then reads the same address back
	 * (2 accesses).  The guest counts reads that differ from what it just
	 * wrote (kg_result.mismatches): a memory-like device must give 0.
	 */
	KG_OP_MIXED = 2,
	/*
	 * String commands: ONE rep-prefixed guest instruction makes all
	 * @count accesses of @size bytes, between the device and the vCPU's
	 * string buffer (kg_result.buf; page aligned, KG_REP_MAX_BYTES).
	 *   KG_OP_REP_READ   PIO: rep ins{b,w,l} from port @addr;
	 *                    MMIO: rep movs{b,w,l,q} from @addr, @addr + size,
	 *                    ... into the buffer.
	 *   KG_OP_REP_WRITE  PIO: rep outs to port @addr; MMIO: rep movs from
	 *                    the buffer to @addr, @addr + size, ...  The
	 *                    buffer holds value(i) (see @value) beforehand.
	 * kg_result.done is the number of iterations the instruction did;
	 * xor and sum are over the elements read (zero-extended).  flags,
	 * addr_stride and addr_span must be 0.
	 *
	 * How KVM splits one such instruction into exits (arch/x86/kvm/
	 * emulate.c and x86.c, identical in 6.1 and 6.12): string I/O and
	 * MMIO always go through the instruction emulator, which runs on the
	 * vCPU thread inside one kvm->srcu read-side section per exit
	 * (vcpu_run() drops SRCU only while the guest itself runs), so every
	 * access of one exit delays synchronize_srcu() on the VM
	 * (KVM_SET_USER_MEMORY_REGION, KVM_IOEVENTFD, bus updates) until
	 * the last of them is done.
	 *
	 *  - rep ins: pio_in_emulated() refills a 1 KiB read-ahead buffer
	 *    with n = min(RCX, 1024 / size, bytes from RDI to the end of its
	 *    page) elements in one call, and emulator_pio_in_out() makes n
	 *    kvm_io_bus_read() calls in a row for it.  The emulator then
	 *    stores them, RCX -= n, and re-enters the guest when the buffer
	 *    is used up, with RIP still on the instruction if RCX != 0: one
	 *    exit per KiB.  With this page-aligned buffer, rep insb of N
	 *    bytes is ceil(N / 1024) exits of up to 1024 in-kernel reads
	 *    each (rep insl: 256 reads of 4 bytes per exit).  If an
	 *    in-kernel device takes the first read of a refill, the others
	 *    must be in-kernel too: a later one no device claims reads 0
	 *    (KVM assumes the device was removed meanwhile); if none takes
	 *    the first, all n go to userspace as ONE KVM_EXIT_IO with
	 *    io.count = n.
	 *  - rep outs and rep movs (MMIO either way): one element per
	 *    emulator iteration, and x86_emulate_insn() restarts within the
	 *    same exit (EMULATION_RESTART) while RCX & 0x3ff != 0: the guest
	 *    is re-entered each time RCX reaches a multiple of 1024.  So a
	 *    count <= 1024 is one exit, 1024 * k is k exits of 1024 accesses.
	 *    An access no in-kernel device claims ends the exit and goes to
	 *    userspace by itself (KVM_EXIT_IO count 1, or KVM_EXIT_MMIO);
	 *    the instruction then goes on from there.
	 *  - KVM looks at pending signals (and immediate_exit) only between
	 *    guest entries, never inside one exit's accesses.
	 * kg_selftest checks what userspace can see of this (exits per KiB of
	 * rep ins, one exit per unclaimed element otherwise, 2048 outsb into
	 * an ioeventfd without a single exit to userspace).
	 */
	KG_OP_REP_READ = 3,
	KG_OP_REP_WRITE = 4,
};

/* Size of each vCPU's string buffer (KG_OP_REP_*): count * size <= this. */
#define KG_REP_MAX_BYTES	0x100000

/* kg_cmd.flags */
#define KG_F_VALUES	(1U << 0)	/* store each value read (see max_samples) */
#define KG_F_LAT	(1U << 1)	/* store each iteration's TSC latency */

struct kg_cmd {
	uint32_t op;		/* enum kg_op */
	uint32_t space;		/* KG_SPACE_* */
	uint64_t addr;		/* GPA (MMIO) or port (PIO) of access 0 */
	uint32_t size;		/* 1, 2, 4, 8 (MMIO); 1, 2, 4 (PIO) */
	uint32_t flags;		/* KG_F_* */
	uint64_t count;		/* iterations; 0 is allowed (no access) */
	/*
	 * value(i) = value + i * stride, truncated to @size bytes.  stride 0
	 * writes the same value every time.
	 */
	uint64_t value;
	uint64_t stride;
	/*
	 * addr(i) = addr + (i * addr_stride) mod addr_span, to sweep the
	 * offsets of a region.  addr_stride 0: always @addr.  addr_span 0:
	 * no wrap (addr + i * addr_stride).
	 */
	uint64_t addr_stride;
	uint64_t addr_span;
	/*
	 * Record values/latencies of the first max_samples iterations only
	 * (0: KG_MAX_SAMPLES, the most there is room for).
	 */
	uint32_t max_samples;
	uint32_t reserved;	/* 0 */
};

struct kg_result {
	uint64_t done;		/* iterations completed */
	uint64_t xor;		/* XOR of all values read (zero-extended) */
	uint64_t sum;		/* sum mod 2^64 of all values read */
	uint64_t mismatches;	/* KG_OP_MIXED: reads != the value just written */
	uint64_t first_mismatch;/* iteration of the first one (if mismatches) */
	uint64_t tsc_total;	/* guest TSC cycles for the whole loop */
	/*
	 * Accesses passed to the exit handler (a PIO exit of io.count n
	 * counts n).
	 */
	uint64_t exits;
	/*
	 * Point into guest memory: valid until the next kg_run() on this vCPU
	 * or kg_destroy().  values[i] is the value read in iteration i;
	 * lat[i] the guest-TSC cycles of iteration i's access(es), measured
	 * with lfence;rdtsc before and after (see kg_tsc_reliable()).
	 */
	const uint64_t *values;
	uint64_t nr_values;
	const uint64_t *lat;
	uint64_t nr_lat;
	/*
	 * KVM_RUN calls that returned with an MMIO/PIO exit for the handler
	 * (not the done report): a string command's userspace exits.
	 */
	uint64_t kvm_exits;
	/*
	 * String commands: the vCPU's string buffer in guest memory (valid as
	 * values above) and the bytes the instruction moved (done * size).
	 */
	const void *buf;
	uint64_t buf_bytes;
};

/* A guest MMIO or PIO access that exited to userspace. */
struct kg_access {
	int space;		/* KG_SPACE_* */
	bool is_write;
	uint64_t addr;		/* GPA or port */
	uint32_t size;		/* 1..8 */
	/* write: the value written.  read: set it to the value to return. */
	uint64_t data;
};

struct kvm_guest;

/*
 * Called on the vCPU's own thread (the one in kg_run()) for each MMIO/PIO
 * exit that is not the done report.  Return 0 to resume the guest or a
 * negative errno to make kg_run() fail with it.  A read's data is pre-set to
 * all-ones, like an unclaimed bus.
 */
typedef int (*kg_exit_fn)(struct kvm_guest *kg, int vcpu,
			  struct kg_access *acc, void *opaque);

/*
 * Whether this host's /dev/kvm can run kg guests.  Returns false with a
 * reason (for SKIP()) when /dev/kvm is missing, unusable, or is the
 * paravirtual kvm_pvm of the build machines (it hangs ordinary guests).
 * KG_FORCE_KVM=1 in the environment bypasses the kvm_pvm check.
 */
bool kg_kvm_usable(const char **why);

/*
 * 1 <= nr_vcpus <= KG_MAX_VCPUS.  NULL with errno on failure.  Each vCPU
 * runs one empty command before this returns, so a guest that cannot run
 * fails here (EIO) rather than in the first test step.
 */
struct kvm_guest *kg_create(int nr_vcpus);
/* Closes every fd and unmaps everything (vCPUs, then VM, then /dev/kvm). */
void kg_destroy(struct kvm_guest *kg);

int kg_vm_fd(struct kvm_guest *kg);		/* -1 after kg_close_vm_fd() */
int kg_vcpu_fd(struct kvm_guest *kg, int vcpu);
int kg_nr_vcpus(struct kvm_guest *kg);
struct kvm_run *kg_vcpu_run(struct kvm_guest *kg, int vcpu);
/*
 * Close only the VM fd, early.  The vCPUs keep the VM alive and kg_run()
 * still works; VM ioctls (kg_ioeventfd) fail.  For close-order tests.
 */
void kg_close_vm_fd(struct kvm_guest *kg);

/*
 * Host address of @vcpu's string buffer (KG_REP_MAX_BYTES, page aligned)
 * and its guest-physical address.  kg_run() overwrites it for a string
 * command (zeroes for KG_OP_REP_READ, value(i) for KG_OP_REP_WRITE).
 */
void *kg_rep_buf(struct kvm_guest *kg, int vcpu, uint64_t *gpa);

/* Guest RAM: host address and size of the slot at GPA 0. */
void *kg_mem(struct kvm_guest *kg, uint64_t *size);
uint64_t kg_mem_size(struct kvm_guest *kg);

void kg_set_exit_handler(struct kvm_guest *kg, kg_exit_fn fn, void *opaque);

/*
 * Run one command on @vcpu to completion.  @res may be NULL.  Returns 0, or
 * a negative errno: -EINVAL bad command, -EIO unexpected exit or guest
 * exception (see kg_strerror()), the handler's own error, or a failed
 * KVM_RUN.  After a failure the vCPU is reset before its next command.
 */
int kg_run(struct kvm_guest *kg, int vcpu, const struct kg_cmd *cmd,
	   struct kg_result *res);
/* What made the last kg_run() on @vcpu fail ("" if it did not). */
const char *kg_strerror(struct kvm_guest *kg, int vcpu);

/*
 * Register a KVM ioeventfd: guest writes of @size bytes (0: any size, MMIO
 * only) to @addr signal a new eventfd (EFD_NONBLOCK) in the kernel, with no
 * exit.  @datamatch NULL: any value.  Returns the eventfd or -errno; close
 * it after kg_ioeventfd_del() or kg_destroy().
 */
int kg_ioeventfd(struct kvm_guest *kg, int space, uint64_t addr,
		 uint32_t size, const uint64_t *datamatch);
int kg_ioeventfd_del(struct kvm_guest *kg, int efd, int space, uint64_t addr,
		     uint32_t size, const uint64_t *datamatch);
/* Reads (and resets) an eventfd's counter; 0 if nothing was signalled. */
uint64_t kg_eventfd_count(int efd);

/*
 * Guest TSC frequency in kHz: KVM_GET_TSC_KHZ, or a calibration of the host
 * TSC against CLOCK_MONOTONIC if that fails (guest TSC = host TSC + offset
 * when KVM does not scale it).
 */
uint64_t kg_tsc_khz(struct kvm_guest *kg);
double kg_tsc_to_ns(struct kvm_guest *kg, uint64_t cycles);

/*
 * Whether guest TSC deltas can be trusted across time the vCPU thread spends
 * outside the guest (in an exit handler, asleep in the kernel, preempted).
 * True when KVM uses its master clock (KVM_GET_CLOCK: KVM_CLOCK_TSC_STABLE),
 * i.e. the host runs on a stable TSC.  When the host kernel has marked its
 * TSC unstable (the TCG test VM with more than one CPU does so unless booted
 * with tsc=reliable), KVM restarts the guest TSC from its last value at each
 * vcpu_load and only roughly catches up: a 3 ms sleep in an exit handler was
 * seen as 0.1 ms.  Benchmarks must check this before trusting latencies.
 */
bool kg_tsc_reliable(struct kvm_guest *kg);

/* For benchmarks: the p-th percentile (0..100) of n samples (sorts a copy). */
uint64_t kg_percentile(const uint64_t *samples, uint64_t n, double p);

#endif /* MPDEV_SELFTEST_KVM_GUEST_H */
