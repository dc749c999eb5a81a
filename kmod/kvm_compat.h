/* SPDX-License-Identifier: GPL-2.0 */
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
 *  - the replaced copy is freed with kfree() once no vCPU can still hold
 *    it.  KVM itself frees buses with kfree() (after a grace period, or in
 *    kvm_io_bus_destroy() at VM teardown), so ours must come from
 *    kmalloc().  We always wait with synchronize_srcu_expedited(): 7.2's
 *    own registration defers the free with call_srcu() instead, but
 *    waiting is equally correct there and leaves no callback of ours
 *    queued in KVM when the module goes.
 *
 * Two deliberate differences from KVM: we refuse a range that overlaps any
 * device already on the bus (KVM allows overlaps and tries devices in
 * turn), and when removal cannot allocate the smaller copy we retry
 * instead of dropping the whole bus as kvm_io_bus_unregister_dev() does.
 *
 * If a kernel ever exports kvm_io_bus_register_dev() to all modules
 * (MPDEV_HAVE_KVM_IO_BUS_REGISTER_DEV), KVM's own functions are used and
 * nothing here touches the bus.
 *
 * From KVM we need only kvm_get_kvm()/kvm_put_kvm(); the VM file is
 * recognised with file_is_kvm() where it is exported to all modules.
 * No symbol lookups, no kernel patch.  The upstream path that retires this
 * file is an exported registration call or ioregionfd: see
 * Documentation/mpdev/design.rst and kernels.rst.
 */
#ifndef MPDEV_KVM_COMPAT_H
#define MPDEV_KVM_COMPAT_H

#include <linux/kvm_host.h>
#include <linux/magic.h>
#include <linux/slab.h>
#include <linux/delay.h>
#include <kvm/iodev.h>

/* Returns the VM behind @file with a reference held, or NULL. */
static struct kvm *mpdev_kvm_get_from_file(struct file *file)
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
	 * sets kvm_vm_fops.owner to the vendor module that calls it.
	 */
	const char *owner;

	if (file->f_inode->i_sb->s_magic != ANON_INODE_FS_MAGIC ||
	    strcmp(file->f_path.dentry->d_name.name, "kvm-vm") ||
	    !file->f_op->owner)
		return NULL;
	owner = file->f_op->owner->name;
	if (strcmp(owner, "kvm") && strcmp(owner, "kvm_amd") &&
	    strcmp(owner, "kvm_intel"))
		return NULL;
#endif
	kvm = file->private_data;
	/* The open VM file keeps @kvm alive while we take our own ref. */
	kvm_get_kvm(kvm);
	return kvm;
}

static bool mpdev_ranges_overlap(gpa_t a, int alen, gpa_t b, int blen)
{
	/* KVM registers some devices with len 0 (match one address). */
	return a < b + max(blen, 1) && b < a + max(alen, 1);
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
					 const struct kvm_io_range *ins)
{
	int n = bus->dev_count + (ins ? 1 : -1);
	int tail = bus->dev_count - pos - (ins ? 0 : 1);
	struct kvm_io_bus *nbus;

	nbus = kmalloc(struct_size(nbus, range, n), GFP_KERNEL_ACCOUNT);
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
 * Puts @nbus in the place of @bus and frees @bus once no vCPU can be
 * looking at it (nor at a device only it holds).  Under slots_lock.
 */
static void mpdev_bus_replace(struct kvm *kvm, enum kvm_bus idx,
			      struct kvm_io_bus *bus, struct kvm_io_bus *nbus)
{
	rcu_assign_pointer(kvm->buses[idx], nbus);
	synchronize_srcu_expedited(&kvm->srcu);
	kfree(bus);
}

/* Under slots_lock; the caller has checked that nothing overlaps. */
static int mpdev_io_bus_register_dev(struct kvm *kvm, enum kvm_bus idx,
				     gpa_t addr, int len,
				     struct kvm_io_device *dev)
{
	struct kvm_io_range range = { .addr = addr, .len = len, .dev = dev };
	struct kvm_io_bus *bus, *nbus;
	int pos;

	lockdep_assert_held(&kvm->slots_lock);
	bus = kvm_get_bus(kvm, idx);
	if (!bus)
		return -ENOMEM;	/* KVM dropped the bus after an OOM */
	/* KVM's own limit; ioeventfds are bounded by the fd limit instead. */
	if (bus->dev_count - bus->ioeventfd_count >= NR_IOBUS_DEVS)
		return -ENOSPC;
	/*
	 * Nothing overlaps the new range, so every entry that starts after it
	 * also ends after it: the first such entry is where it goes.
	 */
	for (pos = 0; pos < bus->dev_count; pos++)
		if (bus->range[pos].addr > addr)
			break;
	nbus = mpdev_bus_copy(bus, pos, &range);
	if (!nbus)
		return -ENOMEM;
	mpdev_bus_replace(kvm, idx, bus, nbus);
	return 0;
}

/* Takes slots_lock.  False if @dev is not (or no longer) on the bus. */
static bool mpdev_io_bus_unregister_dev(struct kvm *kvm, enum kvm_bus idx,
					struct kvm_io_device *dev)
{
	struct kvm_io_bus *bus, *nbus;
	int pos;

	for (;;) {
		mutex_lock(&kvm->slots_lock);
		bus = kvm_get_bus(kvm, idx);
		for (pos = 0; bus && pos < bus->dev_count; pos++)
			if (bus->range[pos].dev == dev)
				break;
		if (!bus || pos == bus->dev_count) {
			mutex_unlock(&kvm->slots_lock);
			return false;
		}
		nbus = mpdev_bus_copy(bus, pos, NULL);
		if (nbus)
			break;
		/* Rare: retry outside the lock rather than drop the bus. */
		mutex_unlock(&kvm->slots_lock);
		usleep_range(1000, 2000);
	}
	mpdev_bus_replace(kvm, idx, bus, nbus);
	mutex_unlock(&kvm->slots_lock);
	return true;
}
#endif /* !MPDEV_HAVE_KVM_IO_BUS_REGISTER_DEV */

/*
 * Inserts @dev for [@addr, @addr + @len) on bus @idx.  Fails with -EEXIST
 * if any device on that bus overlaps the range.
 */
static int mpdev_bus_add(struct kvm *kvm, enum kvm_bus idx, gpa_t addr,
			 int len, struct kvm_io_device *dev)
{
	struct kvm_io_bus *bus;
	int i, ret = 0;

	mutex_lock(&kvm->slots_lock);
	bus = kvm_get_bus(kvm, idx);
	for (i = 0; bus && i < bus->dev_count; i++) {
		const struct kvm_io_range *r = &bus->range[i];

		if (mpdev_ranges_overlap(addr, len, r->addr, r->len)) {
			ret = -EEXIST;
			goto out;
		}
	}
#ifdef MPDEV_HAVE_KVM_IO_BUS_REGISTER_DEV
	ret = kvm_io_bus_register_dev(kvm, idx, addr, len, dev);
#else
	ret = mpdev_io_bus_register_dev(kvm, idx, addr, len, dev);
#endif
out:
	mutex_unlock(&kvm->slots_lock);
	return ret;
}

/*
 * Removes @dev from bus @idx.  Returns false if it was not there (KVM
 * destroyed the bus and called the device's destructor already).
 * Removal cannot fail: a device left on the bus would outlive its module.
 */
static bool mpdev_bus_del(struct kvm *kvm, enum kvm_bus idx,
			  struct kvm_io_device *dev)
{
#ifdef MPDEV_HAVE_KVM_IO_BUS_REGISTER_DEV
	/*
	 * KVM's own call takes @dev off the bus even when it fails: it then
	 * drops the whole bus.  6.12 and later also call @dev's destructor.
	 */
	mutex_lock(&kvm->slots_lock);
	kvm_io_bus_unregister_dev(kvm, idx, dev);
	mutex_unlock(&kvm->slots_lock);
	return true;
#else
	return mpdev_io_bus_unregister_dev(kvm, idx, dev);
#endif
}

#endif /* MPDEV_KVM_COMPAT_H */
