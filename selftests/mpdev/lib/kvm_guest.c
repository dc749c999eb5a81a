// SPDX-License-Identifier: GPL-2.0
/*
 * kvm_guest: a minimal raw-KVM guest for the mpdev selftests.  See
 * kvm_guest.h for the API and the guest memory layout.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <x86intrin.h>

#include "kvm_guest.h"
#include "kg_abi.h"

/* ---- guest physical layout --------------------------------------------- */

#define SZ_2M		0x200000ULL
#define PAGE		0x1000ULL

#define GPA_GDT		0x1000ULL	/* 5 descriptors: null, code, data, TSS(2) */
#define GPA_TSS		0x1800ULL	/* 104-byte 64-bit TSS, never used */
#define GPA_IDT		0x2000ULL
#define GPA_PML4	0x3000ULL
#define GPA_PDPT	0x4000ULL
#define GPA_PD		0x5000ULL	/* 4 page directories: 0..4 GiB */
#define NR_PD		4
#define GPA_CODE	0x10000ULL
#define CODE_MAX	0x10000ULL

/* vCPU v's window starts at SZ_2M * (1 + v). */
#define VOFF_BLOCK	0x0ULL
#define VOFF_STACK_TOP	0x10000ULL	/* stack: 60 KiB below this */
#define VOFF_VALUES	0x100000ULL
#define VOFF_LAT	0x180000ULL
#define VOFF_REPBUF	VOFF_VALUES	/* string buffer: values + latencies */

#define SEL_CODE	0x08
#define SEL_DATA	0x10
#define SEL_TSS		0x18

#define PTE_P		(1ULL << 0)
#define PTE_RW		(1ULL << 1)
#define PTE_PWT		(1ULL << 3)
#define PTE_PCD		(1ULL << 4)
#define PTE_PS		(1ULL << 7)

#define CR0_PE		(1ULL << 0)
#define CR0_MP		(1ULL << 1)
#define CR0_ET		(1ULL << 4)
#define CR0_NE		(1ULL << 5)
#define CR0_WP		(1ULL << 16)
#define CR0_PG		(1ULL << 31)
#define CR4_PAE		(1ULL << 5)
#define EFER_LME	(1ULL << 8)
#define EFER_LMA	(1ULL << 10)

/* What the guest sees at each KG_B_* offset. */
struct kg_block {
	uint64_t op, wrfn, rdfn, addr, astride, aspan, value, stride, mask;
	uint64_t count, values, lat, maxval, maxlat, ssrc, sdst;
	uint64_t done, xor, sum, mismatch, firstbad, tsc_start, tsc_end, off;
};

#define CHECK_OFF(f, o) _Static_assert(offsetof(struct kg_block, f) == (o), #f)
CHECK_OFF(op, KG_B_OP);
CHECK_OFF(wrfn, KG_B_WRFN);
CHECK_OFF(rdfn, KG_B_RDFN);
CHECK_OFF(addr, KG_B_ADDR);
CHECK_OFF(astride, KG_B_ASTRIDE);
CHECK_OFF(aspan, KG_B_ASPAN);
CHECK_OFF(value, KG_B_VALUE);
CHECK_OFF(stride, KG_B_STRIDE);
CHECK_OFF(mask, KG_B_MASK);
CHECK_OFF(count, KG_B_COUNT);
CHECK_OFF(values, KG_B_VALUES);
CHECK_OFF(lat, KG_B_LAT);
CHECK_OFF(maxval, KG_B_MAXVAL);
CHECK_OFF(maxlat, KG_B_MAXLAT);
CHECK_OFF(ssrc, KG_B_SSRC);
CHECK_OFF(sdst, KG_B_SDST);
CHECK_OFF(done, KG_B_DONE);
CHECK_OFF(xor, KG_B_XOR);
CHECK_OFF(sum, KG_B_SUM);
CHECK_OFF(mismatch, KG_B_MISMATCH);
CHECK_OFF(firstbad, KG_B_FIRSTBAD);
CHECK_OFF(tsc_start, KG_B_TSC_START);
CHECK_OFF(tsc_end, KG_B_TSC_END);
CHECK_OFF(off, KG_B_OFF);
_Static_assert(sizeof(struct kg_block) == KG_B_SIZE, "kg_block size");
_Static_assert(KG_ABI_DONE_PORT == KG_DONE_PORT, "done port");
_Static_assert(KG_ABI_OP_READ == KG_OP_READ && KG_ABI_OP_WRITE == KG_OP_WRITE &&
	       KG_ABI_OP_MIXED == KG_OP_MIXED &&
	       KG_ABI_OP_STRING == KG_OP_REP_READ &&
	       KG_OP_REP_WRITE == KG_OP_REP_READ + 1, "ops");
_Static_assert(KG_MAX_SAMPLES * 8 <= VOFF_LAT - VOFF_VALUES &&
	       VOFF_LAT + KG_MAX_SAMPLES * 8 <= SZ_2M, "sample arrays");
_Static_assert(VOFF_REPBUF % PAGE == 0 && VOFF_REPBUF + KG_REP_MAX_BYTES <= SZ_2M,
	       "string buffer");

/* ---- state --------------------------------------------------------------- */

struct kg_vcpu {
	int fd;
	struct kvm_run *run;
	struct kg_block *blk;		/* host view of the command block */
	uint64_t gpa;			/* start of the vCPU's window */
	bool needs_reset;		/* a command was abandoned midway */
	uint32_t rep_size;		/* element size of a string command */
	char err[256];
};

struct kvm_guest {
	int kvm_fd, vm_fd;
	int nr_vcpus;
	size_t run_size;
	uint8_t *mem;
	uint64_t mem_size;
	kg_exit_fn handler;
	void *opaque;
	uint64_t tsc_khz;		/* cached by kg_tsc_khz() */
	struct kg_vcpu vcpu[KG_MAX_VCPUS];
};

static uint64_t gva(const char *sym)
{
	return GPA_CODE + (uint64_t)(sym - kg_guest_code_start);
}

static void *hva(struct kvm_guest *kg, uint64_t gpa)
{
	return kg->mem + gpa;
}

static void set_err(struct kg_vcpu *v, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(v->err, sizeof(v->err), fmt, ap);
	va_end(ap);
}

/* ---- probing ------------------------------------------------------------- */

bool kg_kvm_usable(const char **why)
{
	static const char *reason;
	const char *force = getenv("KG_FORCE_KVM");
	int fd, ok = 0;

	/*
	 * The build machines' /dev/kvm is kvm_pvm, which opens and answers
	 * ioctls but hangs ordinary guests in KVM_RUN: refuse it up front.
	 */
	if (!(force && !strcmp(force, "1")) && !access("/sys/module/kvm_pvm", F_OK)) {
		reason = "/dev/kvm is kvm_pvm (paravirtual, runs no ordinary guest); run inside the test VM";
		goto out;
	}
	fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		reason = "cannot open /dev/kvm";
		goto out;
	}
	if (ioctl(fd, KVM_GET_API_VERSION, 0) != KVM_API_VERSION)
		reason = "unexpected KVM API version";
	else if (ioctl(fd, KVM_CHECK_EXTENSION, KVM_CAP_USER_MEMORY) <= 0 ||
		 ioctl(fd, KVM_CHECK_EXTENSION, KVM_CAP_IOEVENTFD) <= 0)
		reason = "KVM lacks user memory or ioeventfd";
	else
		ok = 1;
	close(fd);
out:
	if (why)
		*why = ok ? "" : reason;
	return ok;
}

/* ---- creation ------------------------------------------------------------ */

static void build_tables(struct kvm_guest *kg)
{
	uint64_t *gdt = hva(kg, GPA_GDT), *pml4 = hva(kg, GPA_PML4);
	uint64_t *pdpt = hva(kg, GPA_PDPT), *pd = hva(kg, GPA_PD);
	uint64_t *idt = hva(kg, GPA_IDT);
	uint64_t i;

	/*
	 * Descriptors must match the hidden parts set in sregs: the CPU reads
	 * the code descriptor again when it delivers an exception.
	 */
	gdt[0] = 0;
	gdt[SEL_CODE / 8] = 0x00af9b000000ffffULL;	/* 64-bit code, DPL 0 */
	gdt[SEL_DATA / 8] = 0x00cf93000000ffffULL;	/* flat data */
	/* 16-byte busy 64-bit TSS descriptor: VMX refuses entry without TR */
	gdt[SEL_TSS / 8] = 0x67 | ((GPA_TSS & 0xffffff) << 16) |
			   (0x8bULL << 40) | ((GPA_TSS >> 24 & 0xff) << 56);
	gdt[SEL_TSS / 8 + 1] = GPA_TSS >> 32;

	/* 64-bit interrupt gates, present, DPL 0, no IST */
	for (i = 0; i < KG_NR_EXC; i++) {
		uint64_t h = gva(kg_guest_exc_stubs) + i * KG_EXC_STUB_SIZE;

		idt[2 * i] = (h & 0xffff) | ((uint64_t)SEL_CODE << 16) |
			     (0x8eULL << 40) | ((h >> 16 & 0xffff) << 48);
		idt[2 * i + 1] = h >> 32;
	}

	/*
	 * Identity map of 0..4 GiB with 2 MiB pages (1 GiB pages would need
	 * the guest CPUID to advertise them).  Beyond RAM is MMIO: uncached.
	 */
	pml4[0] = GPA_PDPT | PTE_P | PTE_RW;
	for (i = 0; i < NR_PD; i++)
		pdpt[i] = (GPA_PD + i * PAGE) | PTE_P | PTE_RW;
	for (i = 0; i < NR_PD * 512; i++) {
		uint64_t a = i * SZ_2M;

		pd[i] = a | PTE_P | PTE_RW | PTE_PS;
		if (a >= kg->mem_size)
			pd[i] |= PTE_PCD | PTE_PWT;
	}

	memcpy(hva(kg, GPA_CODE), kg_guest_code_start,
	       kg_guest_code_end - kg_guest_code_start);
}

static struct kvm_cpuid2 *supported_cpuid(int kvm_fd)
{
	struct kvm_cpuid2 *c;
	int n;

	for (n = 64; n <= 4096; n *= 2) {
		c = calloc(1, sizeof(*c) + n * sizeof(c->entries[0]));
		if (!c)
			return NULL;
		c->nent = n;
		if (!ioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, c))
			return c;
		free(c);
		if (errno != E2BIG)
			return NULL;
	}
	return NULL;
}

static void seg(struct kvm_segment *s, uint16_t sel, uint8_t type, int code)
{
	memset(s, 0, sizeof(*s));
	s->selector = sel;
	s->limit = 0xffffffff;
	s->type = type;
	s->present = 1;
	s->s = 1;
	s->g = 1;
	s->l = code;
	s->db = !code;
}

/* Registers of a vCPU about to start its command loop. */
static int reset_regs(struct kg_vcpu *v)
{
	struct kvm_regs regs;

	memset(&regs, 0, sizeof(regs));
	regs.rip = gva(kg_guest_entry);
	regs.rsp = v->gpa + VOFF_STACK_TOP;
	regs.rdi = v->gpa + VOFF_BLOCK;
	regs.rflags = 0x2;		/* IF=0: nothing may interrupt the loop */
	return ioctl(v->fd, KVM_SET_REGS, &regs);
}

static int setup_vcpu(struct kvm_guest *kg, int idx, struct kvm_cpuid2 *cpuid)
{
	struct kg_vcpu *v = &kg->vcpu[idx];
	struct kvm_sregs sregs;

	v->gpa = SZ_2M * (1 + idx);
	v->blk = hva(kg, v->gpa + VOFF_BLOCK);
	v->fd = ioctl(kg->vm_fd, KVM_CREATE_VCPU, idx);
	if (v->fd < 0)
		return -1;
	v->run = mmap(NULL, kg->run_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		      v->fd, 0);
	if (v->run == MAP_FAILED) {
		v->run = NULL;
		return -1;
	}
	/* before the sregs: KVM checks EFER.LME and CR3 against the CPUID */
	if (ioctl(v->fd, KVM_SET_CPUID2, cpuid))
		return -1;
	if (ioctl(v->fd, KVM_GET_SREGS, &sregs))
		return -1;
	seg(&sregs.cs, SEL_CODE, 11, 1);
	seg(&sregs.ds, SEL_DATA, 3, 0);
	sregs.es = sregs.fs = sregs.gs = sregs.ss = sregs.ds;
	memset(&sregs.tr, 0, sizeof(sregs.tr));
	sregs.tr.selector = SEL_TSS;
	sregs.tr.base = GPA_TSS;
	sregs.tr.limit = 0x67;
	sregs.tr.type = 11;
	sregs.tr.present = 1;
	memset(&sregs.ldt, 0, sizeof(sregs.ldt));
	sregs.ldt.type = 2;
	sregs.ldt.unusable = 1;
	sregs.gdt.base = GPA_GDT;
	sregs.gdt.limit = SEL_TSS + 16 - 1;
	sregs.idt.base = GPA_IDT;
	sregs.idt.limit = KG_NR_EXC * 16 - 1;
	sregs.cr0 = CR0_PE | CR0_MP | CR0_ET | CR0_NE | CR0_WP | CR0_PG;
	sregs.cr3 = GPA_PML4;
	sregs.cr4 = CR4_PAE;
	sregs.efer = EFER_LME | EFER_LMA;
	if (ioctl(v->fd, KVM_SET_SREGS, &sregs))
		return -1;
	return reset_regs(v);
}

struct kvm_guest *kg_create(int nr_vcpus)
{
	struct kvm_userspace_memory_region slot;
	struct kvm_cpuid2 *cpuid = NULL;
	struct kvm_guest *kg;
	int i, err;

	if (nr_vcpus < 1 || nr_vcpus > KG_MAX_VCPUS ||
	    kg_guest_code_end - kg_guest_code_start > (long)CODE_MAX ||
	    kg_guest_exc_stubs_end - kg_guest_exc_stubs != KG_NR_EXC * KG_EXC_STUB_SIZE) {
		errno = EINVAL;
		return NULL;
	}
	kg = calloc(1, sizeof(*kg));
	if (!kg)
		return NULL;
	kg->vm_fd = -1;
	for (i = 0; i < KG_MAX_VCPUS; i++)
		kg->vcpu[i].fd = -1;

	kg->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kg->kvm_fd < 0)
		goto fail;
	if (ioctl(kg->kvm_fd, KVM_GET_API_VERSION, 0) != KVM_API_VERSION) {
		errno = ENOTSUP;
		goto fail;
	}
	kg->run_size = ioctl(kg->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if ((long)kg->run_size <= 0)
		goto fail;
	kg->vm_fd = ioctl(kg->kvm_fd, KVM_CREATE_VM, 0);
	if (kg->vm_fd < 0)
		goto fail;
	/*
	 * Only Intel needs it (real-mode TSS) and it is harmless elsewhere;
	 * QEMU uses the same address.  Failure does not matter in long mode.
	 */
	ioctl(kg->vm_fd, KVM_SET_TSS_ADDR, 0xfffbd000UL);

	kg->mem_size = SZ_2M * (1 + nr_vcpus);
	kg->mem = mmap(NULL, kg->mem_size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (kg->mem == MAP_FAILED) {
		kg->mem = NULL;
		goto fail;
	}
	build_tables(kg);
	memset(&slot, 0, sizeof(slot));
	slot.slot = 0;
	slot.guest_phys_addr = 0;
	slot.memory_size = kg->mem_size;
	slot.userspace_addr = (uintptr_t)kg->mem;
	if (ioctl(kg->vm_fd, KVM_SET_USER_MEMORY_REGION, &slot))
		goto fail;

	cpuid = supported_cpuid(kg->kvm_fd);
	if (!cpuid)
		goto fail;
	for (i = 0; i < nr_vcpus; i++) {
		kg->nr_vcpus = i + 1;	/* so that kg_destroy() cleans it */
		if (setup_vcpu(kg, i, cpuid))
			goto fail;
	}
	free(cpuid);
	cpuid = NULL;
	/*
	 * One empty command per vCPU: proves the guest runs, and makes KVM
	 * settle its master clock now that every vCPU exists.
	 */
	for (i = 0; i < nr_vcpus; i++) {
		struct kg_cmd nop = { .op = KG_OP_READ, .space = KG_SPACE_PIO, .size = 1 };

		if (kg_run(kg, i, &nop, NULL)) {
			fprintf(stderr, "%s: %s\n", __func__, kg->vcpu[i].err);
			errno = EIO;
			goto fail;
		}
	}
	return kg;

fail:
	err = errno ? errno : EIO;
	free(cpuid);
	kg_destroy(kg);
	errno = err;
	return NULL;
}

void kg_destroy(struct kvm_guest *kg)
{
	int i;

	if (!kg)
		return;
	for (i = 0; i < kg->nr_vcpus; i++) {
		struct kg_vcpu *v = &kg->vcpu[i];

		if (v->run)
			munmap(v->run, kg->run_size);
		if (v->fd >= 0)
			close(v->fd);
	}
	if (kg->vm_fd >= 0)
		close(kg->vm_fd);
	/* after the vCPUs and VM: KVM pins the slot's pages until then */
	if (kg->mem)
		munmap(kg->mem, kg->mem_size);
	if (kg->kvm_fd >= 0)
		close(kg->kvm_fd);
	free(kg);
}

/* ---- accessors ----------------------------------------------------------- */

int kg_vm_fd(struct kvm_guest *kg)
{
	return kg->vm_fd;
}

int kg_vcpu_fd(struct kvm_guest *kg, int vcpu)
{
	return vcpu >= 0 && vcpu < kg->nr_vcpus ? kg->vcpu[vcpu].fd : -1;
}

int kg_nr_vcpus(struct kvm_guest *kg)
{
	return kg->nr_vcpus;
}

struct kvm_run *kg_vcpu_run(struct kvm_guest *kg, int vcpu)
{
	return vcpu >= 0 && vcpu < kg->nr_vcpus ? kg->vcpu[vcpu].run : NULL;
}

void kg_close_vm_fd(struct kvm_guest *kg)
{
	if (kg->vm_fd >= 0)
		close(kg->vm_fd);
	kg->vm_fd = -1;
}

void *kg_rep_buf(struct kvm_guest *kg, int vcpu, uint64_t *gpa)
{
	if (vcpu < 0 || vcpu >= kg->nr_vcpus)
		return NULL;
	if (gpa)
		*gpa = kg->vcpu[vcpu].gpa + VOFF_REPBUF;
	return hva(kg, kg->vcpu[vcpu].gpa + VOFF_REPBUF);
}

void *kg_mem(struct kvm_guest *kg, uint64_t *size)
{
	if (size)
		*size = kg->mem_size;
	return kg->mem;
}

uint64_t kg_mem_size(struct kvm_guest *kg)
{
	return kg->mem_size;
}

void kg_set_exit_handler(struct kvm_guest *kg, kg_exit_fn fn, void *opaque)
{
	kg->handler = fn;
	kg->opaque = opaque;
}

const char *kg_strerror(struct kvm_guest *kg, int vcpu)
{
	if (vcpu < 0 || vcpu >= kg->nr_vcpus)
		return "no such vCPU";
	return kg->vcpu[vcpu].err;
}

/* ---- running ------------------------------------------------------------- */

static uint64_t size_mask(uint32_t size)
{
	return size == 8 ? ~0ULL : (1ULL << (8 * size)) - 1;
}

/* A string command (KG_OP_REP_*): one rep-prefixed instruction. */
static int fill_block_rep(struct kvm_guest *kg, struct kg_vcpu *v,
			  const struct kg_cmd *c)
{
	static const char *const ins[9] = {
		[1] = kg_guest_rep_insb, [2] = kg_guest_rep_insw,
		[4] = kg_guest_rep_insl,
	};
	static const char *const outs[9] = {
		[1] = kg_guest_rep_outsb, [2] = kg_guest_rep_outsw,
		[4] = kg_guest_rep_outsl,
	};
	static const char *const movs[9] = {
		[1] = kg_guest_rep_movsb, [2] = kg_guest_rep_movsw,
		[4] = kg_guest_rep_movsl, [8] = kg_guest_rep_movsq,
	};
	uint64_t buf = v->gpa + VOFF_REPBUF, bytes, i;
	bool rd = c->op == KG_OP_REP_READ;
	struct kg_block *b = v->blk;
	uint8_t *h = hva(kg, buf);
	const char *fn;

	fn = c->space == KG_SPACE_PIO ? (rd ? ins : outs)[c->size] :
	     c->space == KG_SPACE_MMIO ? movs[c->size] : NULL;
	if (!fn || c->flags || c->addr_stride || c->addr_span ||
	    c->count > KG_REP_MAX_BYTES / c->size) {
		set_err(v, "bad string command (space %u size %u count %llu flags %#x)",
			c->space, c->size, (unsigned long long)c->count, c->flags);
		return -EINVAL;
	}
	bytes = c->count * c->size;
	if (c->space == KG_SPACE_MMIO && c->count &&
	    (c->addr < kg->mem_size || c->addr + bytes > NR_PD * 512 * SZ_2M ||
	     c->addr + bytes < c->addr)) {
		set_err(v, "MMIO range %#llx+%#llx is not all MMIO below 4 GiB",
			(unsigned long long)c->addr, (unsigned long long)bytes);
		return -EINVAL;
	}
	if (c->space == KG_SPACE_PIO && c->addr > 0xffff) {
		set_err(v, "port %#llx", (unsigned long long)c->addr);
		return -EINVAL;
	}
	if (rd) {
		memset(h, 0, bytes);
	} else {
		for (i = 0; i < c->count; i++) {
			uint64_t val = (c->value + i * c->stride) & size_mask(c->size);

			memcpy(h + i * c->size, &val, c->size);	/* little endian */
		}
	}
	memset(b, 0, sizeof(*b));
	b->op = c->op;
	b->rdfn = gva(fn);
	b->addr = c->addr;		/* %rdx: the port */
	b->count = c->count;
	b->mask = size_mask(c->size);
	v->rep_size = c->size;
	if (c->space == KG_SPACE_MMIO && rd) {
		b->ssrc = c->addr;
		b->sdst = buf;
	} else if (c->space == KG_SPACE_MMIO) {
		b->ssrc = buf;
		b->sdst = c->addr;
	} else {
		b->ssrc = b->sdst = buf;
	}
	return 0;
}

static int fill_block(struct kvm_guest *kg, struct kg_vcpu *v,
		      const struct kg_cmd *c)
{
	static const char *const mmio_rd[9] = {
		[1] = kg_guest_mmio_rd1, [2] = kg_guest_mmio_rd2,
		[4] = kg_guest_mmio_rd4, [8] = kg_guest_mmio_rd8,
	};
	static const char *const mmio_wr[9] = {
		[1] = kg_guest_mmio_wr1, [2] = kg_guest_mmio_wr2,
		[4] = kg_guest_mmio_wr4, [8] = kg_guest_mmio_wr8,
	};
	static const char *const pio_rd[9] = {
		[1] = kg_guest_pio_rd1, [2] = kg_guest_pio_rd2,
		[4] = kg_guest_pio_rd4,
	};
	static const char *const pio_wr[9] = {
		[1] = kg_guest_pio_wr1, [2] = kg_guest_pio_wr2,
		[4] = kg_guest_pio_wr4,
	};
	struct kg_block *b = v->blk;
	const char *rd, *wr;
	uint64_t max;

	if (c->size <= 8 && !c->reserved && !c->max_samples &&
	    (c->op == KG_OP_REP_READ || c->op == KG_OP_REP_WRITE))
		return fill_block_rep(kg, v, c);
	if (c->size > 8 || c->op > KG_OP_MIXED || c->reserved ||
	    c->max_samples > KG_MAX_SAMPLES ||
	    (c->flags & ~(KG_F_VALUES | KG_F_LAT))) {
		set_err(v, "bad command (op %u size %u flags %#x)", c->op,
			c->size, c->flags);
		return -EINVAL;
	}
	if (c->space == KG_SPACE_MMIO) {
		rd = mmio_rd[c->size];
		wr = mmio_wr[c->size];
		/* RAM is not MMIO: the accesses would never exit */
		if (c->count && c->addr < kg->mem_size) {
			set_err(v, "MMIO address %#llx is guest RAM",
				(unsigned long long)c->addr);
			return -EINVAL;
		}
	} else if (c->space == KG_SPACE_PIO) {
		rd = pio_rd[c->size];
		wr = pio_wr[c->size];
	} else {
		rd = wr = NULL;
	}
	if (!rd || (c->addr_span && c->addr_stride >= c->addr_span)) {
		set_err(v, "bad command (space %u size %u addr_stride %llu addr_span %llu)",
			c->space, c->size, (unsigned long long)c->addr_stride,
			(unsigned long long)c->addr_span);
		return -EINVAL;
	}

	memset(b, 0, sizeof(*b));
	b->op = c->op;
	b->wrfn = gva(wr);
	b->rdfn = gva(rd);
	b->addr = c->addr;
	b->astride = c->addr_stride;
	b->aspan = c->addr_span ? c->addr_span : ~0ULL;
	b->value = c->value;
	b->stride = c->stride;
	b->mask = size_mask(c->size);
	b->count = c->count;
	b->values = v->gpa + VOFF_VALUES;
	b->lat = v->gpa + VOFF_LAT;
	max = c->max_samples ? c->max_samples : KG_MAX_SAMPLES;
	b->maxval = (c->flags & KG_F_VALUES) ? max : 0;
	b->maxlat = (c->flags & KG_F_LAT) ? max : 0;
	return 0;
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

static void fill_result(struct kvm_guest *kg, struct kg_vcpu *v,
			struct kg_result *r, uint64_t exits,
			uint64_t kvm_exits)
{
	struct kg_block *b = v->blk;

	memset(r, 0, sizeof(*r));
	r->exits = exits;
	r->kvm_exits = kvm_exits;
	if (b->op >= KG_OP_REP_READ) {
		const uint8_t *h = hva(kg, v->gpa + VOFF_REPBUF);
		uint32_t size = v->rep_size;
		uint64_t i, n = min_u64(b->done, b->count);

		r->done = b->done;
		r->tsc_total = b->tsc_end - b->tsc_start;
		r->buf = h;
		r->buf_bytes = n * size;
		for (i = 0; b->op == KG_OP_REP_READ && i < n; i++) {
			uint64_t val = 0;

			memcpy(&val, h + i * size, size);
			r->xor ^= val;
			r->sum += val;
		}
		return;
	}
	r->done = b->done;
	r->xor = b->xor;
	r->sum = b->sum;
	r->mismatches = b->mismatch;
	r->first_mismatch = b->firstbad;
	r->tsc_total = b->tsc_end - b->tsc_start;
	r->values = hva(kg, v->gpa + VOFF_VALUES);
	r->nr_values = b->op == KG_OP_WRITE ? 0 : min_u64(b->done, b->maxval);
	r->lat = hva(kg, v->gpa + VOFF_LAT);
	r->nr_lat = min_u64(b->done, b->maxlat);
}

/*
 * Put an abandoned vCPU back at the top of its loop.  KVM first has to
 * finish the exit it reported (KVM_RUN with immediate_exit completes a
 * pending MMIO/PIO and returns EINTR without running the guest), or the
 * completion would land on the new registers.
 */
static int reset_vcpu(struct kg_vcpu *v)
{
	v->run->immediate_exit = 1;
	/* -EINTR expected; whatever else comes back, the new RIP wins */
	(void)ioctl(v->fd, KVM_RUN, 0);
	v->run->immediate_exit = 0;
	if (reset_regs(v))
		return -errno;
	v->needs_reset = false;
	return 0;
}

/* An MMIO/PIO exit that is not the done report: ask the handler. */
static int handle_access(struct kvm_guest *kg, int idx, struct kg_vcpu *v,
			 uint64_t *exits)
{
	struct kvm_run *run = v->run;
	struct kg_access acc;
	uint32_t n, count = 1;
	uint8_t *data;
	int ret;

	memset(&acc, 0, sizeof(acc));
	if (run->exit_reason == KVM_EXIT_MMIO) {
		acc.space = KG_SPACE_MMIO;
		acc.is_write = run->mmio.is_write;
		acc.addr = run->mmio.phys_addr;
		acc.size = run->mmio.len;
		data = run->mmio.data;
	} else {
		acc.space = KG_SPACE_PIO;
		acc.is_write = run->io.direction == KVM_EXIT_IO_OUT;
		acc.addr = run->io.port;
		acc.size = run->io.size;
		data = (uint8_t *)run + run->io.data_offset;
		count = run->io.count;	/* >1 only for string I/O */
	}
	if (acc.size < 1 || acc.size > 8) {
		set_err(v, "vCPU %d: %s access of size %u at %#llx", idx,
			acc.space == KG_SPACE_MMIO ? "MMIO" : "PIO", acc.size,
			(unsigned long long)acc.addr);
		return -EIO;
	}
	if (!kg->handler) {
		set_err(v, "vCPU %d: unhandled %s %s of size %u at %#llx", idx,
			acc.space == KG_SPACE_MMIO ? "MMIO" : "PIO",
			acc.is_write ? "write" : "read", acc.size,
			(unsigned long long)acc.addr);
		return -EIO;
	}
	for (n = 0; n < count; n++, data += acc.size) {
		/* x86 is little endian: the low @size bytes of data */
		acc.data = acc.is_write ? 0 : ~0ULL;
		if (acc.is_write)
			memcpy(&acc.data, data, acc.size);
		(*exits)++;
		ret = kg->handler(kg, idx, &acc, kg->opaque);
		if (ret) {
			set_err(v, "vCPU %d: exit handler failed (%d) on %s %s at %#llx",
				idx, ret, acc.space == KG_SPACE_MMIO ? "MMIO" : "PIO",
				acc.is_write ? "write" : "read",
				(unsigned long long)acc.addr);
			return ret < 0 ? ret : -EIO;
		}
		if (!acc.is_write)
			memcpy(data, &acc.data, acc.size);
	}
	return 0;
}

static int guest_exception(struct kg_vcpu *v, int idx)
{
	struct kvm_regs regs;

	if (ioctl(v->fd, KVM_GET_REGS, &regs)) {
		set_err(v, "vCPU %d: guest exception (registers unreadable)", idx);
		return -EIO;
	}
	set_err(v, "vCPU %d: guest exception %llu (error code %#llx) at RIP %#llx, CR2 %#llx",
		idx, (unsigned long long)regs.rbx, (unsigned long long)regs.rcx,
		(unsigned long long)regs.rsi, (unsigned long long)regs.r8);
	return -EIO;
}

static int unexpected_exit(struct kg_vcpu *v, int idx)
{
	struct kvm_run *run = v->run;

	switch (run->exit_reason) {
	case KVM_EXIT_SHUTDOWN:
		set_err(v, "vCPU %d: guest shutdown (triple fault)", idx);
		break;
	case KVM_EXIT_FAIL_ENTRY:
		set_err(v, "vCPU %d: VM entry failed, reason %#llx", idx,
			(unsigned long long)run->fail_entry.hardware_entry_failure_reason);
		break;
	case KVM_EXIT_INTERNAL_ERROR:
		set_err(v, "vCPU %d: KVM internal error, suberror %u (ndata %u, data0 %#llx)",
			idx, run->internal.suberror, run->internal.ndata,
			(unsigned long long)(run->internal.ndata ? run->internal.data[0] : 0));
		break;
	default:
		set_err(v, "vCPU %d: unexpected exit reason %u", idx, run->exit_reason);
	}
	return -EIO;
}

int kg_run(struct kvm_guest *kg, int vcpu, const struct kg_cmd *cmd,
	   struct kg_result *res)
{
	struct kg_vcpu *v;
	uint64_t exits = 0, kvm_exits = 0;
	int ret;

	if (!kg || vcpu < 0 || vcpu >= kg->nr_vcpus || !cmd)
		return -EINVAL;
	v = &kg->vcpu[vcpu];
	v->err[0] = 0;
	if (v->needs_reset) {
		ret = reset_vcpu(v);
		if (ret) {
			set_err(v, "vCPU %d: reset failed: %s", vcpu, strerror(-ret));
			return ret;
		}
	}
	ret = fill_block(kg, v, cmd);
	if (ret)
		return ret;

	for (;;) {
		struct kvm_run *run = v->run;

		if (ioctl(v->fd, KVM_RUN, 0) < 0) {
			/* a signal for this thread: just go back in */
			if (errno == EINTR || errno == EAGAIN)
				continue;
			ret = -errno;
			set_err(v, "vCPU %d: KVM_RUN: %s", vcpu, strerror(errno));
			break;
		}
		if (run->exit_reason == KVM_EXIT_INTR)
			continue;
		if (run->exit_reason == KVM_EXIT_IO &&
		    run->io.port == KG_DONE_PORT &&
		    run->io.direction == KVM_EXIT_IO_OUT && run->io.size == 1) {
			uint8_t st = *((uint8_t *)run + run->io.data_offset);

			if (st == KG_STATUS_DONE) {
				ret = 0;
			} else if (st == KG_STATUS_EXCEPTION) {
				ret = guest_exception(v, vcpu);
			} else {
				set_err(v, "vCPU %d: bad status %u from guest", vcpu, st);
				ret = -EIO;
			}
			break;
		}
		if (run->exit_reason == KVM_EXIT_MMIO ||
		    run->exit_reason == KVM_EXIT_IO) {
			kvm_exits++;
			ret = handle_access(kg, vcpu, v, &exits);
			if (ret)
				break;
			continue;
		}
		ret = unexpected_exit(v, vcpu);
		break;
	}
	/* anything but a clean done leaves the guest mid-command */
	if (ret)
		v->needs_reset = true;
	if (res)
		fill_result(kg, v, res, exits, kvm_exits);
	return ret;
}

/* ---- ioeventfd ----------------------------------------------------------- */

static int ioeventfd(struct kvm_guest *kg, int efd, int space, uint64_t addr,
		     uint32_t size, const uint64_t *datamatch, bool deassign)
{
	struct kvm_ioeventfd io;

	memset(&io, 0, sizeof(io));
	io.addr = addr;
	io.len = size;
	io.fd = efd;
	if (space == KG_SPACE_PIO)
		io.flags |= KVM_IOEVENTFD_FLAG_PIO;
	else if (space != KG_SPACE_MMIO)
		return -EINVAL;
	if (datamatch) {
		io.flags |= KVM_IOEVENTFD_FLAG_DATAMATCH;
		io.datamatch = *datamatch;
	}
	if (deassign)
		io.flags |= KVM_IOEVENTFD_FLAG_DEASSIGN;
	return ioctl(kg->vm_fd, KVM_IOEVENTFD, &io) ? -errno : 0;
}

int kg_ioeventfd(struct kvm_guest *kg, int space, uint64_t addr,
		 uint32_t size, const uint64_t *datamatch)
{
	int efd, ret;

	efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (efd < 0)
		return -errno;
	ret = ioeventfd(kg, efd, space, addr, size, datamatch, false);
	if (ret) {
		close(efd);
		return ret;
	}
	return efd;
}

int kg_ioeventfd_del(struct kvm_guest *kg, int efd, int space, uint64_t addr,
		     uint32_t size, const uint64_t *datamatch)
{
	return ioeventfd(kg, efd, space, addr, size, datamatch, true);
}

uint64_t kg_eventfd_count(int efd)
{
	uint64_t n;

	if (read(efd, &n, sizeof(n)) != sizeof(n))
		return 0;
	return n;
}

/* ---- time ---------------------------------------------------------------- */

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static uint64_t calibrate_tsc_khz(void)
{
	uint64_t t0, c0, t1, c1;

	t0 = now_ns();
	c0 = __rdtsc();
	do {
		t1 = now_ns();
	} while (t1 - t0 < 20000000);	/* 20 ms */
	c1 = __rdtsc();
	return (c1 - c0) * 1000000ULL / (t1 - t0);
}

uint64_t kg_tsc_khz(struct kvm_guest *kg)
{
	long khz;

	if (kg->tsc_khz)
		return kg->tsc_khz;
	khz = ioctl(kg->vcpu[0].fd, KVM_GET_TSC_KHZ, 0);
	kg->tsc_khz = khz > 0 ? (uint64_t)khz : calibrate_tsc_khz();
	if (!kg->tsc_khz)
		kg->tsc_khz = 1;
	return kg->tsc_khz;
}

double kg_tsc_to_ns(struct kvm_guest *kg, uint64_t cycles)
{
	return (double)cycles * 1e6 / (double)kg_tsc_khz(kg);
}

bool kg_tsc_reliable(struct kvm_guest *kg)
{
	struct kvm_clock_data clk;

	memset(&clk, 0, sizeof(clk));
	if (kg->vm_fd < 0 || ioctl(kg->vm_fd, KVM_GET_CLOCK, &clk))
		return false;
	return clk.flags & KVM_CLOCK_TSC_STABLE;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

uint64_t kg_percentile(const uint64_t *samples, uint64_t n, double p)
{
	uint64_t *s, rank, v;

	if (!n)
		return 0;
	s = malloc(n * sizeof(*s));
	if (!s)
		return 0;
	memcpy(s, samples, n * sizeof(*s));
	qsort(s, n, sizeof(*s), cmp_u64);
	/* nearest rank: the smallest sample with at least p% at or below it */
	if (p <= 0)
		rank = 0;
	else if (p >= 100)
		rank = n - 1;
	else {
		double r = p / 100.0 * (double)n;

		rank = (uint64_t)r;
		if ((double)rank < r)
			rank++;			/* ceil */
		rank = rank ? rank - 1 : 0;
	}
	v = s[rank];
	free(s);
	return v;
}
