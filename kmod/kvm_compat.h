/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The one place where mpdev reaches into KVM.
 *
 * Why this exists: KVM routes in-kernel MMIO/PIO through a per-VM, sorted
 * array of ranges (struct kvm_io_bus), but kvm_io_bus_register_dev() and
 * kvm_io_bus_unregister_dev() are not exported to out-of-tree modules.
 * The bus itself is header-visible (struct kvm, struct kvm_io_bus,
 * kvm_get_bus()), so this file updates it exactly as those two functions
 * in the target kernel's virt/kvm/kvm_main.c do:
 *
 *  - writers hold kvm->slots_lock;
 *  - the new bus is a kmalloc()ed copy (header included, as KVM copies
 *    it), sorted with KVM's own kvm_io_bus_cmp();
 *  - it is published with rcu_assign_pointer(); vCPUs read the bus under
 *    kvm->srcu (srcu_dereference() in kvm_io_bus_read()/write());
 *  - the old bus is freed after an SRCU grace period:
 *      registration, 6.1 .. 6.12:  synchronize_srcu_expedited() + kfree()
 *      registration, 7.2:          call_srcu(&kvm->srcu, &bus->rcu, ...)
 *                                  whose callback kfree()s it
 *      removal, all of them:       synchronize_srcu_expedited() + kfree()
 *    KVM frees every bus with kfree() (after a grace period, or at VM
 *    destruction in kvm_io_bus_destroy()), so ours come from kmalloc().
 *
 * The 7.2 form is chosen by a Kbuild probe: struct kvm_io_bus has a
 * struct rcu_head (MPDEV_KVM_IO_BUS_RCU).  Our call_srcu() callback is
 * code in this module, so before the module can go, the context that
 * queued it waits for it with srcu_barrier() (mpdev_kvm_put()).
 *
 * Two deliberate differences from KVM, both on paths KVM's callers do not
 * share with us: we refuse a range that overlaps any device already on the
 * bus (KVM allows overlaps and tries devices in order), and when removal
 * cannot allocate the smaller bus we retry instead of dropping the whole
 * bus as kvm_io_bus_unregister_dev() does.
 *
 * If a kernel ever exports kvm_io_bus_register_dev() to all modules
 * (MPDEV_HAVE_KVM_IO_BUS_REGISTER_DEV), KVM's own functions are used and
 * nothing is mirrored.
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

/* Drops the reference mpdev_kvm_get_from_file() took. */
static void mpdev_kvm_put(struct kvm *kvm)
{
#if defined(MPDEV_KVM_IO_BUS_RCU) && !defined(MPDEV_HAVE_KVM_IO_BUS_REGISTER_DEV)
	/* Our mpdev_io_bus_free() callbacks must run while we are loaded. */
	srcu_barrier(&kvm->srcu);
#endif
	kvm_put_kvm(kvm);
}

static bool mpdev_ranges_overlap(gpa_t a, int alen, gpa_t b, int blen)
{
	/* KVM registers some devices with len 0 (match one address). */
	return a < b + max(blen, 1) && b < a + max(alen, 1);
}

#ifndef MPDEV_HAVE_KVM_IO_BUS_REGISTER_DEV
/* kvm_io_bus_cmp() from virt/kvm/kvm_main.c, the same in 6.1 .. 7.2. */
static int mpdev_io_bus_cmp(const struct kvm_io_range *r1,
			    const struct kvm_io_range *r2)
{
	gpa_t addr1 = r1->addr;
	gpa_t addr2 = r2->addr;

	if (addr1 < addr2)
		return -1;

	/* If r2->len == 0, match the exact address. */
	if (r2->len) {
		addr1 += r1->len;
		addr2 += r2->len;
	}

	if (addr1 > addr2)
		return 1;

	return 0;
}

#ifdef MPDEV_KVM_IO_BUS_RCU
/* __free_bus() from kvm_main.c. */
static void mpdev_io_bus_free(struct rcu_head *rcu)
{
	kfree(container_of(rcu, struct kvm_io_bus, rcu));
}
#endif

/* kvm_io_bus_register_dev(), statement for statement.  Under slots_lock. */
static int mpdev_io_bus_register_dev(struct kvm *kvm, enum kvm_bus bus_idx,
				     gpa_t addr, int len,
				     struct kvm_io_device *dev)
{
	struct kvm_io_bus *new_bus, *bus;
	struct kvm_io_range range;
	int i;

	lockdep_assert_held(&kvm->slots_lock);

	bus = kvm_get_bus(kvm, bus_idx);
	if (!bus)
		return -ENOMEM;

	/* exclude ioeventfd which is limited by maximum fd */
	if (bus->dev_count - bus->ioeventfd_count > NR_IOBUS_DEVS - 1)
		return -ENOSPC;

	new_bus = kmalloc(struct_size(bus, range, bus->dev_count + 1),
			  GFP_KERNEL_ACCOUNT);
	if (!new_bus)
		return -ENOMEM;

	range = (struct kvm_io_range) {
		.addr = addr,
		.len = len,
		.dev = dev,
	};

	for (i = 0; i < bus->dev_count; i++)
		if (mpdev_io_bus_cmp(&bus->range[i], &range) > 0)
			break;

	memcpy(new_bus, bus, sizeof(*bus) + i * sizeof(struct kvm_io_range));
	new_bus->dev_count++;
	new_bus->range[i] = range;
	memcpy(new_bus->range + i + 1, bus->range + i,
	       (bus->dev_count - i) * sizeof(struct kvm_io_range));
	rcu_assign_pointer(kvm->buses[bus_idx], new_bus);
#ifdef MPDEV_KVM_IO_BUS_RCU
	call_srcu(&kvm->srcu, &bus->rcu, mpdev_io_bus_free);
#else
	synchronize_srcu_expedited(&kvm->srcu);
	kfree(bus);
#endif
	return 0;
}

/*
 * kvm_io_bus_unregister_dev(), except that it waits for memory instead of
 * dropping the bus (see the top of this file).  Takes slots_lock.
 */
static bool mpdev_io_bus_unregister_dev(struct kvm *kvm, enum kvm_bus bus_idx,
					struct kvm_io_device *dev)
{
	struct kvm_io_bus *new_bus, *bus;
	int i;

	for (;;) {
		mutex_lock(&kvm->slots_lock);
		bus = kvm_get_bus(kvm, bus_idx);
		for (i = 0; bus && i < bus->dev_count; i++)
			if (bus->range[i].dev == dev)
				break;
		if (!bus || i == bus->dev_count) {
			mutex_unlock(&kvm->slots_lock);
			return false;
		}
		new_bus = kmalloc(struct_size(bus, range, bus->dev_count - 1),
				  GFP_KERNEL_ACCOUNT);
		if (new_bus)
			break;
		/* Rare: retry outside the lock rather than drop the bus. */
		mutex_unlock(&kvm->slots_lock);
		usleep_range(1000, 2000);
	}
	memcpy(new_bus, bus, struct_size(bus, range, i));
	new_bus->dev_count--;
	memcpy(new_bus->range + i, bus->range + i + 1,
	       flex_array_size(new_bus, range, new_bus->dev_count - i));
	rcu_assign_pointer(kvm->buses[bus_idx], new_bus);
	synchronize_srcu_expedited(&kvm->srcu);
	kfree(bus);
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
