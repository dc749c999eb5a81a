// SPDX-License-Identifier: GPL-2.0
/*
 * mpdev: hand a KVM guest's accesses to proxied BARs straight to an
 * out-of-process device model.  See Documentation/mpdev/design.rst.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <uapi/linux/mpdev.h>

static long mpdev_ctl_ioctl(struct file *file, unsigned int cmd,
			    unsigned long arg)
{
	switch (cmd) {
	case MPDEV_GET_API_VERSION:
		return MPDEV_API_VERSION;
	default:
		return -ENOTTY;
	}
}

static int mpdev_ctl_open(struct inode *inode, struct file *file)
{
	if (!capable(CAP_SYS_ADMIN))
		return -EPERM;
	return 0;
}

static const struct file_operations mpdev_ctl_fops = {
	.owner		= THIS_MODULE,
	.open		= mpdev_ctl_open,
	.unlocked_ioctl	= mpdev_ctl_ioctl,
	.compat_ioctl	= compat_ptr_ioctl,
	.llseek		= noop_llseek,
};

static struct miscdevice mpdev_misc = {
	.minor	= MISC_DYNAMIC_MINOR,
	.name	= "mpdev",
	.fops	= &mpdev_ctl_fops,
	.mode	= 0600,
};

static int __init mpdev_init(void)
{
	return misc_register(&mpdev_misc);
}

static void __exit mpdev_exit(void)
{
	misc_deregister(&mpdev_misc);
}

module_init(mpdev_init);
module_exit(mpdev_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("Kernel-assisted multi-process device emulation for KVM");
MODULE_SOFTDEP("pre: kvm");
