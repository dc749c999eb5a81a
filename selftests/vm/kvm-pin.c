// SPDX-License-Identifier: GPL-2.0
/*
 * kvm-pin - keep KVM's static keys switched on for the life of the test VM.
 *
 * KVM flips static keys when the first VM is created and the last one is
 * destroyed (preempt notifiers), when a vCPU without an in-kernel local
 * APIC comes or goes, and when a local APIC is created, enabled or freed.
 * Each flip live-patches kernel text, and under QEMU 7.2's multi-threaded
 * TCG another vCPU can then run a stale int3 ("Oops: int3", or a soft
 * lockup on 6.1; see Documentation/mpdev/testing.rst).  vm-run starts this
 * program once, before the command, when the test VM runs multi-threaded:
 * it holds
 *
 *   - a VM with an in-kernel irqchip and one vCPU whose local APIC stays
 *     software-disabled (never runs) and is hardware-disabled through
 *     MSR_IA32_APICBASE: preempt notifiers and both APIC keys stay on;
 *   - a VM without an irqchip and one vCPU: the "vCPU without a local
 *     APIC" key stays on;
 *
 * so later VMs never move a key's count through zero.  The parent returns
 * once all of that is in place (0) or has failed (1, with the reason); a
 * child keeps the file descriptors open until the VM powers off.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define MSR_IA32_APICBASE	0x1b
#define APICBASE_BSP		(1ULL << 8)
#define APICBASE_DEFAULT	0xfee00000ULL

static int fail(const char *what)
{
	fprintf(stderr, "kvm-pin: %s: %s\n", what, strerror(errno));
	return -1;
}

/* One VM with one vCPU; with_irqchip also disables the vCPU's APIC. */
static int pin_vm(int kvm, int with_irqchip)
{
	struct {
		struct kvm_msrs hdr;
		struct kvm_msr_entry entry;
	} msrs;
	int vm, vcpu;

	vm = ioctl(kvm, KVM_CREATE_VM, 0);
	if (vm < 0)
		return fail("KVM_CREATE_VM");
	if (with_irqchip && ioctl(vm, KVM_CREATE_IRQCHIP, 0) < 0)
		return fail("KVM_CREATE_IRQCHIP");
	vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
	if (vcpu < 0)
		return fail("KVM_CREATE_VCPU");
	if (!with_irqchip)
		return 0;
	memset(&msrs, 0, sizeof(msrs));
	msrs.hdr.nmsrs = 1;
	msrs.entry.index = MSR_IA32_APICBASE;
	msrs.entry.data = APICBASE_DEFAULT | APICBASE_BSP;	/* enable bit clear */
	if (ioctl(vcpu, KVM_SET_MSRS, &msrs) != 1)
		return fail("KVM_SET_MSRS(APIC base, disabled)");
	return 0;
}

int main(void)
{
	int kvm, ready[2];
	char status = 1;
	pid_t pid;

	if (pipe(ready) < 0 || (pid = fork()) < 0) {
		fail("pipe/fork");
		return 1;
	}
	if (pid > 0) {
		/* The child's verdict; EOF without one means it died. */
		close(ready[1]);
		if (read(ready[0], &status, 1) != 1)
			status = 1;
		return status;
	}

	close(ready[0]);
	setsid();
	kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm < 0)
		fail("/dev/kvm");
	else if (!pin_vm(kvm, 1) && !pin_vm(kvm, 0))
		status = 0;
	if (write(ready[1], &status, 1) != 1 || status)
		return 1;
	close(ready[1]);
	/* stdio is the console: nothing more to say, hold until power-off. */
	for (;;)
		pause();
}
