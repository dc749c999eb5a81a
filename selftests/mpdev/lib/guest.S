/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Guest program for kvm_guest.c.  It is assembled into the test binary and
 * copied byte for byte into guest memory, so it must be position independent
 * (no absolute references: everything the loop needs comes from the command
 * block at %rdi, including the addresses of the access routines, which the
 * host computes from the offsets of their symbols).
 *
 * Entry state (set by the host): 64-bit mode, %rdi = command block,
 * %rsp = top of this vCPU's stack, interrupts off.
 */
#include "kg_abi.h"

	.section .rodata.kg_guest, "a"
	.code64
	.balign	16
	.globl	kg_guest_code_start
kg_guest_code_start:

	.globl	kg_guest_entry
kg_guest_entry:
	/*
	 * The host resumes the vCPU after the OUT once it has written the
	 * next command, so the loop needs no other handshake.
	 */
1:	call	kg_guest_cmd
	xor	%eax, %eax			/* KG_STATUS_DONE */
	mov	$KG_ABI_DONE_PORT, %edx
	out	%al, %dx
	jmp	1b

/*
 * Registers in the loop: r8 = i, r9 = count, r10 = value(i), r11 = stride,
 * r12/r13 = write/read routine, r14/r15 = values/latency arrays, rbx = XOR,
 * rbp = TSC at the start of the access, rsi = address.  Everything else the
 * loop keeps in the command block (L1 hits, noise next to a VM exit).
 */
kg_guest_cmd:
	cmpq	$KG_ABI_OP_STRING, KG_B_OP(%rdi)
	jae	kg_guest_string
	mov	KG_B_COUNT(%rdi), %r9
	mov	KG_B_VALUE(%rdi), %r10
	mov	KG_B_STRIDE(%rdi), %r11
	mov	KG_B_WRFN(%rdi), %r12
	mov	KG_B_RDFN(%rdi), %r13
	mov	KG_B_VALUES(%rdi), %r14
	mov	KG_B_LAT(%rdi), %r15
	xor	%r8d, %r8d
	xor	%ebx, %ebx
	lfence
	rdtsc
	shl	$32, %rdx
	or	%rdx, %rax
	mov	%rax, KG_B_TSC_START(%rdi)

.Lloop:
	cmp	%r9, %r8
	jae	.Lend
	mov	KG_B_ADDR(%rdi), %rsi
	add	KG_B_OFF(%rdi), %rsi

	/* lfence before rdtsc: the TSC is read after earlier work retired */
	cmp	KG_B_MAXLAT(%rdi), %r8
	jae	1f
	lfence
	rdtsc
	shl	$32, %rdx
	or	%rdx, %rax
	mov	%rax, %rbp
1:
	cmpq	$KG_ABI_OP_READ, KG_B_OP(%rdi)
	je	2f
	mov	%r10, %rax
	call	*%r12
	cmpq	$KG_ABI_OP_WRITE, KG_B_OP(%rdi)
	je	3f
2:	call	*%r13
3:
	/*
	 * Stop the clock.  lfence;rdtsc rather than rdtscp, which would #UD
	 * if the host's CPUID lacks it; the access itself was a VM exit, so
	 * it has completed by now anyway.
	 */
	cmp	KG_B_MAXLAT(%rdi), %r8
	jae	4f
	push	%rax
	lfence
	rdtsc
	lfence
	shl	$32, %rdx
	or	%rdx, %rax
	sub	%rbp, %rax
	mov	%rax, (%r15,%r8,8)
	pop	%rax
4:
	cmpq	$KG_ABI_OP_WRITE, KG_B_OP(%rdi)
	je	.Lnext
	/* a value was read (zero-extended by the routine) */
	xor	%rax, %rbx
	add	%rax, KG_B_SUM(%rdi)
	cmp	KG_B_MAXVAL(%rdi), %r8
	jae	5f
	mov	%rax, (%r14,%r8,8)
5:
	cmpq	$KG_ABI_OP_MIXED, KG_B_OP(%rdi)
	jne	.Lnext
	mov	%r10, %rdx
	and	KG_B_MASK(%rdi), %rdx
	cmp	%rdx, %rax
	je	.Lnext
	cmpq	$0, KG_B_MISMATCH(%rdi)
	jne	6f
	mov	%r8, KG_B_FIRSTBAD(%rdi)
6:	incq	KG_B_MISMATCH(%rdi)

.Lnext:
	add	%r11, %r10
	mov	KG_B_OFF(%rdi), %rax
	add	KG_B_ASTRIDE(%rdi), %rax
	cmp	KG_B_ASPAN(%rdi), %rax
	jb	7f
	sub	KG_B_ASPAN(%rdi), %rax
7:	mov	%rax, KG_B_OFF(%rdi)
	inc	%r8
	/* progress is visible to the host even if the command fails */
	mov	%r8, KG_B_DONE(%rdi)
	jmp	.Lloop

.Lend:
	mov	%rbx, KG_B_XOR(%rdi)
	lfence
	rdtsc
	shl	$32, %rdx
	or	%rdx, %rax
	mov	%rax, KG_B_TSC_END(%rdi)
	ret

/*
 * A string command: ONE rep-prefixed instruction does all KG_B_COUNT
 * iterations, so that KVM emulates them in as few exits as it does for a
 * real guest (kvm_guest.h says how many).  The routine at KG_B_RDFN runs
 * it with %rcx = count, %rdx = port (KG_B_ADDR), %rsi = KG_B_SSRC and
 * %rdi = KG_B_SDST; DF is clear.  KG_B_DONE is the number of iterations
 * done (count - the %rcx left), KG_B_XOR/SUM are the host's business.
 */
kg_guest_string:
	lfence
	rdtsc
	shl	$32, %rdx
	or	%rdx, %rax
	mov	%rax, KG_B_TSC_START(%rdi)
	push	%rdi
	mov	KG_B_RDFN(%rdi), %rax
	mov	KG_B_COUNT(%rdi), %rcx
	mov	KG_B_ADDR(%rdi), %rdx
	mov	KG_B_SSRC(%rdi), %rsi
	mov	KG_B_SDST(%rdi), %rdi
	cld
	call	*%rax
	pop	%rdi
	mov	KG_B_COUNT(%rdi), %rax
	sub	%rcx, %rax
	mov	%rax, KG_B_DONE(%rdi)
	lfence
	rdtsc
	shl	$32, %rdx
	or	%rdx, %rax
	mov	%rax, KG_B_TSC_END(%rdi)
	ret

	.globl	kg_guest_rep_insb, kg_guest_rep_insw, kg_guest_rep_insl
	.globl	kg_guest_rep_outsb, kg_guest_rep_outsw, kg_guest_rep_outsl
	.globl	kg_guest_rep_movsb, kg_guest_rep_movsw, kg_guest_rep_movsl
	.globl	kg_guest_rep_movsq
kg_guest_rep_insb:
	rep insb
	ret
kg_guest_rep_insw:
	rep insw
	ret
kg_guest_rep_insl:
	rep insl
	ret
kg_guest_rep_outsb:
	rep outsb
	ret
kg_guest_rep_outsw:
	rep outsw
	ret
kg_guest_rep_outsl:
	rep outsl
	ret
kg_guest_rep_movsb:
	rep movsb
	ret
kg_guest_rep_movsw:
	rep movsw
	ret
kg_guest_rep_movsl:
	rep movsl
	ret
kg_guest_rep_movsq:
	rep movsq
	ret

/*
 * Access routines: address/port in %rsi, value in/out in %rax (reads
 * zero-extend).  Plain MOV/IN/OUT so that KVM's emulator sees the simplest
 * instructions.
 */
	.globl	kg_guest_mmio_rd1, kg_guest_mmio_rd2, kg_guest_mmio_rd4, kg_guest_mmio_rd8
	.globl	kg_guest_mmio_wr1, kg_guest_mmio_wr2, kg_guest_mmio_wr4, kg_guest_mmio_wr8
	.globl	kg_guest_pio_rd1, kg_guest_pio_rd2, kg_guest_pio_rd4
	.globl	kg_guest_pio_wr1, kg_guest_pio_wr2, kg_guest_pio_wr4
kg_guest_mmio_rd1:
	xor	%eax, %eax
	movb	(%rsi), %al
	ret
kg_guest_mmio_rd2:
	xor	%eax, %eax
	movw	(%rsi), %ax
	ret
kg_guest_mmio_rd4:
	movl	(%rsi), %eax
	ret
kg_guest_mmio_rd8:
	movq	(%rsi), %rax
	ret
kg_guest_mmio_wr1:
	movb	%al, (%rsi)
	ret
kg_guest_mmio_wr2:
	movw	%ax, (%rsi)
	ret
kg_guest_mmio_wr4:
	movl	%eax, (%rsi)
	ret
kg_guest_mmio_wr8:
	movq	%rax, (%rsi)
	ret
kg_guest_pio_rd1:
	mov	%esi, %edx
	xor	%eax, %eax
	inb	%dx, %al
	ret
kg_guest_pio_rd2:
	mov	%esi, %edx
	xor	%eax, %eax
	inw	%dx, %ax
	ret
kg_guest_pio_rd4:
	mov	%esi, %edx
	inl	%dx, %eax
	ret
kg_guest_pio_wr1:
	mov	%esi, %edx
	outb	%al, %dx
	ret
kg_guest_pio_wr2:
	mov	%esi, %edx
	outw	%ax, %dx
	ret
kg_guest_pio_wr4:
	mov	%esi, %edx
	outl	%eax, %dx
	ret

/*
 * Exception stubs, KG_EXC_STUB_SIZE bytes apart so that the host can fill
 * the IDT from one symbol.  Without them any guest fault would be a silent
 * triple fault (KVM_EXIT_SHUTDOWN); with them kg_run() can say which
 * exception hit at which RIP.
 */
	.macro	kg_exc_stub vec
	.balign	KG_EXC_STUB_SIZE
	/* these vectors push an error code themselves */
	.if !((\vec == 8) || ((\vec >= 10) && (\vec <= 14)) || (\vec == 17) || (\vec == 21) || (\vec == 29) || (\vec == 30))
	pushq	$0
	.endif
	pushq	$\vec
	jmp	kg_guest_exc_common
	.endm

	.balign	KG_EXC_STUB_SIZE
	.globl	kg_guest_exc_stubs
kg_guest_exc_stubs:
	.altmacro
	.set	vec, 0
	.rept	KG_NR_EXC
	kg_exc_stub %vec
	.set	vec, vec + 1
	.endr
	.noaltmacro
	.balign	KG_EXC_STUB_SIZE
	.globl	kg_guest_exc_stubs_end
kg_guest_exc_stubs_end:

kg_guest_exc_common:
	pop	%rbx				/* vector */
	pop	%rcx				/* error code */
	mov	(%rsp), %rsi			/* faulting RIP */
	mov	%cr2, %r8
	mov	$KG_STATUS_EXCEPTION, %eax
	mov	$KG_ABI_DONE_PORT, %edx
	out	%al, %dx
	/* the host resets the vCPU before it runs it again */
1:	hlt
	jmp	1b

	.globl	kg_guest_code_end
kg_guest_code_end:

	.section .note.GNU-stack, "", @progbits
