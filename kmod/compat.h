/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Core-kernel API differences between the kernels mpdev builds against
 * (Debian 12's 6.1, 6.12 and sid's 7.2; Documentation/mpdev/kernels.rst).
 * Everything that touches KVM is in kvm_bus.c instead.
 *
 * Each difference is selected by a feature probe in Kbuild (a grep of the
 * target kernel's headers), not by LINUX_VERSION_CODE, so a stable kernel
 * that backported the newer API takes the newer path.  Where the newer API
 * can be written on top of the older one, the newer name is provided here
 * and mpdev.c uses only the newer name.
 */
#ifndef MPDEV_COMPAT_H
#define MPDEV_COMPAT_H

#include <linux/mm.h>
#include <net/genetlink.h>

/*
 * 6.3 made vma->vm_flags read-only and added setters that also check the
 * mmap lock.  Before them, the flags were written directly.
 */
#ifndef MPDEV_HAVE_VM_FLAGS_SET
static inline void vm_flags_set(struct vm_area_struct *vma, vm_flags_t flags)
{
	vma->vm_flags |= flags;
}

static inline void vm_flags_clear(struct vm_area_struct *vma,
				  vm_flags_t flags)
{
	vma->vm_flags &= ~flags;
}
#endif

/*
 * The parsed attributes of a dump request.  6.6 gave dumps a struct
 * genl_info of their own (genl_info_dump()); before, the attributes hung
 * off struct genl_dumpit_info.
 */
static inline struct nlattr **
mpdev_genl_dump_attrs(struct netlink_callback *cb)
{
#ifdef MPDEV_HAVE_GENL_INFO_DUMP
	return genl_info_dump(cb)->attrs;
#else
	return genl_dumpit_info(cb)->attrs;
#endif
}

#endif /* MPDEV_COMPAT_H */
