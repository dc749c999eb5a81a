/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The one place where mpdev reaches into KVM.
 *
 * Why this exists: KVM routes in-kernel MMIO/PIO through a per-VM, sorted
 * array of ranges (struct kvm_io_bus), but kvm_io_bus_register_dev() is not
 * exported to out-of-tree modules.  The bus itself is header-visible
 * (struct kvm, struct kvm_io_bus, kvm_get_bus()), so we update it with the
 * same protocol KVM's own registration uses: writers hold kvm->slots_lock,
 * build a new sorted copy, publish it with rcu_assign_pointer(), wait for
 * vCPUs to leave the old one with synchronize_srcu_expedited(&kvm->srcu)
 * (they read the bus under kvm->srcu), then kfree() the old copy (KVM frees
 * buses with kfree() as well, so ours must come from kmalloc()).
 *
 * From KVM we need only kvm_get_kvm()/kvm_put_kvm(); the VM file is
 * recognised with file_is_kvm() where it is exported to all modules.
 * No symbol lookups, no kernel patch.  The upstream path that retires this
 * file is an exported registration call or ioregionfd: see
 * Documentation/mpdev/design.rst.
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
	 * A VM file is the anon inode "kvm-vm" whose fops belong to KVM
	 * (the kvm module, or the vendor module that embeds it).
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

/*
 * Inserts @dev for [@addr, @addr + @len) on bus @idx.  Fails with -EEXIST
 * if any device on that bus overlaps the range.
 */
static int mpdev_bus_add(struct kvm *kvm, enum kvm_bus idx, gpa_t addr,
			 int len, struct kvm_io_device *dev)
{
	struct kvm_io_bus *bus, *nbus;
	int i, pos, ret = 0;

	mutex_lock(&kvm->slots_lock);
	bus = kvm_get_bus(kvm, idx);
	if (!bus) {
		/* KVM drops a whole bus when it cannot shrink it. */
		ret = -ENOMEM;
		goto out;
	}
	if (bus->dev_count - bus->ioeventfd_count > NR_IOBUS_DEVS - 1) {
		ret = -ENOSPC;
		goto out;
	}
	pos = bus->dev_count;
	for (i = 0; i < bus->dev_count; i++) {
		const struct kvm_io_range *r = &bus->range[i];

		if (mpdev_ranges_overlap(addr, len, r->addr, r->len)) {
			ret = -EEXIST;
			goto out;
		}
		/* Keep KVM's order: by start, then by end. */
		if (pos == bus->dev_count &&
		    (r->addr > addr ||
		     (r->addr == addr && r->addr + r->len > addr + len)))
			pos = i;
	}
	nbus = kmalloc(struct_size(bus, range, bus->dev_count + 1),
		       GFP_KERNEL_ACCOUNT);
	if (!nbus) {
		ret = -ENOMEM;
		goto out;
	}
	nbus->dev_count = bus->dev_count + 1;
	nbus->ioeventfd_count = bus->ioeventfd_count;
	memcpy(nbus->range, bus->range, pos * sizeof(bus->range[0]));
	nbus->range[pos].addr = addr;
	nbus->range[pos].len = len;
	nbus->range[pos].dev = dev;
	memcpy(nbus->range + pos + 1, bus->range + pos,
	       (bus->dev_count - pos) * sizeof(bus->range[0]));
	rcu_assign_pointer(kvm->buses[idx], nbus);
	synchronize_srcu_expedited(&kvm->srcu);
	kfree(bus);
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
	struct kvm_io_bus *bus, *nbus;
	int i;

	for (;;) {
		mutex_lock(&kvm->slots_lock);
		bus = kvm_get_bus(kvm, idx);
		for (i = 0; bus && i < bus->dev_count; i++)
			if (bus->range[i].dev == dev)
				break;
		if (!bus || i == bus->dev_count) {
			mutex_unlock(&kvm->slots_lock);
			return false;
		}
		nbus = kmalloc(struct_size(bus, range, bus->dev_count - 1),
			       GFP_KERNEL_ACCOUNT);
		if (nbus)
			break;
		/* Rare: retry outside the lock rather than drop the bus. */
		mutex_unlock(&kvm->slots_lock);
		usleep_range(1000, 2000);
	}
	nbus->dev_count = bus->dev_count - 1;
	nbus->ioeventfd_count = bus->ioeventfd_count;
	memcpy(nbus->range, bus->range, i * sizeof(bus->range[0]));
	memcpy(nbus->range + i, bus->range + i + 1,
	       (nbus->dev_count - i) * sizeof(bus->range[0]));
	rcu_assign_pointer(kvm->buses[idx], nbus);
	synchronize_srcu_expedited(&kvm->srcu);
	kfree(bus);
	mutex_unlock(&kvm->slots_lock);
	return true;
}

#endif /* MPDEV_KVM_COMPAT_H */
