// SPDX-License-Identifier: GPL-2.0
/*
 * The one place where mpdev reaches into KVM.
 *
 * Why this exists: KVM routes in-kernel MMIO/PIO through a per-VM, sorted
 * array of ranges (struct kvm_io_bus), but kvm_io_bus_register_dev() and
 * kvm_io_bus_unregister_dev() are not exported to out-of-tree modules.
 * The bus itself is header-visible (struct kvm, struct kvm_io_bus,
 * kvm_get_bus()), and KVM's readers and writers follow one protocol on
 * every kernel from 6.1 to 7.2, which this file keeps:
 *
 *  - writers hold kvm->slots_lock and never change a published bus: they
 *    publish a new kmalloc()ed copy with rcu_assign_pointer();
 *  - vCPUs look the bus up under kvm->srcu (srcu_dereference()) and find a
 *    device by binary search, so the copy stays sorted by start address;
 *  - a replaced copy is freed with kfree() once no vCPU can still hold it.
 *    KVM frees buses with kfree() too (when it replaces one of ours, or in
 *    kvm_io_bus_destroy() at VM teardown), so ours come from kmalloc().
 *
 * We never wait for that grace period: the old copy (and a removed
 * region, whose ops a vCPU may still be running) is handed to call_srcu()
 * on kvm->srcu, as 7.2's own kvm_io_bus_register_dev() does.  So adding or
 * removing a region never waits for vCPUs that are blocked, up to their
 * deadline, on other regions or other contexts of the VM.  Before the
 * context drops its VM reference, mpdev_bus_quiesce() runs srcu_barrier(),
 * so no callback of ours is left queued when KVM cleans up its SRCU or
 * when the module goes.
 *
 * Two deliberate differences from KVM: we refuse a range that overlaps any
 * device already on the bus (KVM allows overlaps and tries devices in
 * turn; a range nested in another confuses its binary search), and a
 * removal's smaller copy is allocated with __GFP_NOFAIL instead of
 * dropping the whole bus as kvm_io_bus_unregister_dev() does when its
 * allocation fails.  When KVM drops a bus holding our regions, it calls
 * their destructor: mpdev.c fails the context (MPDEV_FAIL_BUS_LOST).
 *
 * If a kernel ever exports kvm_io_bus_register_dev() to all modules
 * (MPDEV_HAVE_KVM_IO_BUS_REGISTER_DEV), KVM's own functions are used.
 *
 * The three vCPU fields the data path reads (vcpu_idx, vcpu_id and the
 * exit counter) are one-line inlines in mpdev.h, next to the prototypes of
 * this file, because they are read on every access.
 *
 * From KVM we need only kvm_get_kvm()/kvm_put_kvm(); the VM file is
 * recognised with file_is_kvm() where it is exported to all modules.
 * No symbol lookups, no kernel patch.  The upstream path that retires this
 * file is an exported registration call or ioregionfd: see
 * Documentation/mpdev/design.rst and kernels.rst.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/file.h>
#include <linux/fs.h>
#include <linux/kvm_host.h>
#include <linux/magic.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/srcu.h>

#include "mpdev.h"

/* Request ids name the slot (a vcpu index) in 16 bits; see mpdev.c. */
static_assert(KVM_MAX_VCPUS < 0xffff);
/* struct mpdev_request.vcpu holds any vcpu_id. */
static_assert(KVM_MAX_VCPU_IDS - 1 <= U32_MAX);

/* Returns the VM behind @file with a reference held, or NULL. */
struct kvm *mpdev_kvm_get_from_file(struct file *file)
{
	struct kvm *kvm;

#ifdef MPDEV_HAVE_FILE_IS_KVM
	if (!file_is_kvm(file))
		return NULL;
#else
	/*
	 * Kbuild probes Module.symvers: from 6.18 on, file_is_kvm() is
	 * exported only to kvm-amd/kvm-intel.
	 * A VM file is the anon inode "kvm-vm" (anon_inode_getfile() in
	 * kvm_dev_ioctl_create_vm()) whose fops belong to KVM: kvm_init()
	 * sets kvm_vm_fops.owner to the vendor module that calls it, and
	 * it stays NULL when KVM is built into the kernel.
	 */
	const struct module *owner;

	if (file->f_inode->i_sb->s_magic != ANON_INODE_FS_MAGIC ||
	    strcmp(file->f_path.dentry->d_name.name, "kvm-vm"))
		return NULL;
	owner = file->f_op->owner;
	if (!owner) {
		if (!IS_BUILTIN(CONFIG_KVM))
			return NULL;
	} else if (strcmp(owner->name, "kvm") &&
		   strcmp(owner->name, "kvm_amd") &&
		   strcmp(owner->name, "kvm_intel")) {
		return NULL;
	}
#endif
	kvm = file->private_data;
	/* The open VM file keeps @kvm alive while we take our own ref. */
	kvm_get_kvm(kvm);
	return kvm;
}

void mpdev_kvm_put(struct kvm *kvm)
{
	kvm_put_kvm(kvm);
}

/* KVM's stats id, "kvm-<pid>", for introspection. */
const char *mpdev_kvm_name(struct kvm *kvm)
{
	return kvm->stats_id;
}

static enum kvm_bus mpdev_bus_idx(const struct mpdev_iodev *r)
{
	return r->space == MPDEV_SPACE_PIO ? KVM_PIO_BUS : KVM_MMIO_BUS;
}

static bool mpdev_ranges_overlap(gpa_t a, u64 alen, gpa_t b, u64 blen)
{
	/* KVM registers some devices with len 0 (match one address). */
	return a < b + max_t(u64, blen, 1) && b < a + max_t(u64, alen, 1);
}

static void mpdev_retire_cb(struct rcu_head *head)
{
	struct mpdev_retire *rt = container_of(head, struct mpdev_retire, rcu);

	kfree(rt->bus);
	if (rt->free)
		rt->free(rt);
}

static void mpdev_retire_kfree(struct mpdev_retire *rt)
{
	kfree(rt);
}

/* After @rt's bus and owner can no longer be seen by any vCPU: free them. */
static void mpdev_retire(struct kvm *kvm, struct mpdev_retire *rt)
{
	call_srcu(&kvm->srcu, &rt->rcu, mpdev_retire_cb);
}

void mpdev_bus_quiesce(struct kvm *kvm)
{
	srcu_barrier(&kvm->srcu);
}

#ifndef MPDEV_HAVE_KVM_IO_BUS_REGISTER_DEV
/*
 * A copy of @bus with @ins put in at @pos, or (@ins NULL) with the entry at
 * @pos left out.  The fields before the range array are copied as they are:
 * counts, and on 7.2 an rcu_head that KVM sets up only when it retires a
 * bus.
 */
static struct kvm_io_bus *mpdev_bus_copy(const struct kvm_io_bus *bus,
					 int pos,
					 const struct kvm_io_range *ins,
					 gfp_t gfp)
{
	int n = bus->dev_count + (ins ? 1 : -1);
	int tail = bus->dev_count - pos - (ins ? 0 : 1);
	struct kvm_io_bus *nbus;

	nbus = kmalloc(struct_size(nbus, range, n), gfp);
	if (!nbus)
		return NULL;
	memcpy(nbus, bus, offsetof(struct kvm_io_bus, range));
	nbus->dev_count = n;
	memcpy(nbus->range, bus->range, flex_array_size(nbus, range, pos));
	if (ins)
		nbus->range[pos] = *ins;
	memcpy(nbus->range + pos + !!ins, bus->range + pos + !ins,
	       flex_array_size(nbus, range, tail));
	return nbus;
}

/*
 * The smaller copy for a removal, which must not fail (a device left on
 * the bus would outlive its module).  __GFP_NOFAIL for what the page
 * allocator accepts it for (order 0 and 1, i.e. up to ~340 devices on the
 * bus); a bigger bus is retried without it first, because the page
 * allocator warns about __GFP_NOFAIL above order 1.
 */
static struct kvm_io_bus *mpdev_bus_shrunk(const struct kvm_io_bus *bus,
					   int pos)
{
	size_t size = struct_size(bus, range, bus->dev_count - 1);
	struct kvm_io_bus *nbus;
	int i;

	if (size <= PAGE_SIZE << 1)
		return mpdev_bus_copy(bus, pos, NULL,
				      GFP_KERNEL_ACCOUNT | __GFP_NOFAIL);
	for (i = 0; i < 3; i++) {
		nbus = mpdev_bus_copy(bus, pos, NULL, GFP_KERNEL_ACCOUNT |
				      __GFP_RETRY_MAYFAIL | __GFP_NOWARN);
		if (nbus)
			return nbus;
	}
	return mpdev_bus_copy(bus, pos, NULL, GFP_KERNEL | __GFP_NOFAIL);
}
#endif /* !MPDEV_HAVE_KVM_IO_BUS_REGISTER_DEV */

/*
 * Puts @r on its bus.  Fails with -EEXIST if any device there overlaps
 * its range, -ENOSPC if KVM's bus is full, -ENOMEM.
 */
int mpdev_bus_add(struct kvm *kvm, struct mpdev_iodev *r)
{
	enum kvm_bus idx = mpdev_bus_idx(r);
	struct kvm_io_bus *bus;
	int i, ret = 0;
#ifndef MPDEV_HAVE_KVM_IO_BUS_REGISTER_DEV
	struct kvm_io_range range = {
		.addr = r->addr, .len = r->size, .dev = &r->dev,
	};
	struct mpdev_retire *rt;
	struct kvm_io_bus *nbus;
	int pos;

	rt = kzalloc(sizeof(*rt), GFP_KERNEL_ACCOUNT);
	if (!rt)
		return -ENOMEM;
	rt->free = mpdev_retire_kfree;
#endif

	mutex_lock(&kvm->slots_lock);
	bus = kvm_get_bus(kvm, idx);
	if (!bus) {
		ret = -ENOMEM;	/* KVM dropped the bus after an OOM */
		goto out;
	}
	for (i = 0; i < bus->dev_count; i++) {
		const struct kvm_io_range *o = &bus->range[i];

		if (mpdev_ranges_overlap(r->addr, r->size, o->addr, o->len)) {
			ret = -EEXIST;
			goto out;
		}
	}
#ifdef MPDEV_HAVE_KVM_IO_BUS_REGISTER_DEV
	ret = kvm_io_bus_register_dev(kvm, idx, r->addr, r->size, &r->dev);
#else
	/* KVM's own limit; ioeventfds are bounded by the fd limit instead. */
	if (bus->dev_count - bus->ioeventfd_count >= NR_IOBUS_DEVS) {
		ret = -ENOSPC;
		goto out;
	}
	/*
	 * Nothing overlaps the new range, so every entry that starts after it
	 * also ends after it: the first such entry is where it goes.
	 */
	for (pos = 0; pos < bus->dev_count; pos++)
		if (bus->range[pos].addr > r->addr)
			break;
	nbus = mpdev_bus_copy(bus, pos, &range, GFP_KERNEL_ACCOUNT);
	if (!nbus) {
		ret = -ENOMEM;
		goto out;
	}
	rcu_assign_pointer(kvm->buses[idx], nbus);
	rt->bus = bus;
	mpdev_retire(kvm, rt);
	rt = NULL;
#endif
	/* Under slots_lock, like the destructor's clear. */
	if (!ret)
		r->on_bus = true;
out:
	mutex_unlock(&kvm->slots_lock);
#ifndef MPDEV_HAVE_KVM_IO_BUS_REGISTER_DEV
	kfree(rt);
#endif
	return ret;
}

/*
 * Takes @r off its bus (unless KVM already dropped it): a vCPU that looks
 * the bus up from now on misses it.  The old array, and @r, stay valid
 * for vCPUs already inside until mpdev_bus_retire().  Cannot fail.
 */
void mpdev_bus_unlink(struct kvm *kvm, struct mpdev_iodev *r)
{
	enum kvm_bus idx = mpdev_bus_idx(r);
#ifndef MPDEV_HAVE_KVM_IO_BUS_REGISTER_DEV
	struct kvm_io_bus *bus;
	int pos;

	mutex_lock(&kvm->slots_lock);
	r->retire.bus = NULL;
	bus = kvm_get_bus(kvm, idx);
	if (r->on_bus && bus) {
		for (pos = 0; pos < bus->dev_count; pos++)
			if (bus->range[pos].dev == &r->dev)
				break;
		if (!WARN_ON_ONCE(pos == bus->dev_count)) {
			rcu_assign_pointer(kvm->buses[idx],
					   mpdev_bus_shrunk(bus, pos));
			r->retire.bus = bus;
		}
	}
	r->on_bus = false;
	mutex_unlock(&kvm->slots_lock);
#else
	/*
	 * KVM's own call takes @dev off the bus even when it fails: it then
	 * drops the whole bus.  It waits for the grace period itself.
	 */
	mutex_lock(&kvm->slots_lock);
	if (r->on_bus)
		kvm_io_bus_unregister_dev(kvm, idx, &r->dev);
	r->on_bus = false;
	r->retire.bus = NULL;
	mutex_unlock(&kvm->slots_lock);
#endif
}

/*
 * Frees @r's old bus array and @r itself (r->retire.free) once no vCPU
 * can be inside its ops any more.  Does not wait for that.
 */
void mpdev_bus_retire(struct kvm *kvm, struct mpdev_iodev *r)
{
	mpdev_retire(kvm, &r->retire);
}

/*
 * Whether another device now overlaps @r on its bus.  We refuse overlaps
 * when a region is added, but KVM lets the VMM put an ioeventfd anywhere
 * later, and a range nested in ours makes KVM's binary search miss one
 * of the two for some addresses.  Under the context's lock.
 */
bool mpdev_bus_conflict(struct kvm *kvm, struct mpdev_iodev *r)
{
	struct kvm_io_bus *bus;
	bool found = false;
	int i, idx;

	idx = srcu_read_lock(&kvm->srcu);
	bus = srcu_dereference(kvm->buses[mpdev_bus_idx(r)], &kvm->srcu);
	for (i = 0; bus && i < bus->dev_count; i++) {
		const struct kvm_io_range *o = &bus->range[i];

		if (o->dev != &r->dev &&
		    mpdev_ranges_overlap(r->addr, r->size, o->addr, o->len)) {
			found = true;
			break;
		}
	}
	srcu_read_unlock(&kvm->srcu, idx);
	return found;
}
