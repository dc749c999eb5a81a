// SPDX-License-Identifier: GPL-2.0
/*
 * Module lifetime: rmmod is refused while anything holds the module and
 * succeeds once everything is closed.  Runs last: it unloads mpdev and
 * loads it again from $MPDEV_KO so that the module is left as it was found.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../kselftest_harness.h"
#include "lib/kvm_guest.h"
#include "mpdev_util.h"

static int unload(void)
{
	return syscall(SYS_delete_module, "mpdev", O_NONBLOCK) ? -errno : 0;
}

static int load(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), ret;

	if (fd < 0)
		return -errno;
	ret = syscall(SYS_finit_module, fd, "", 0) ? -errno : 0;
	close(fd);
	return ret;
}

static int refcnt(void)
{
	FILE *f = fopen("/sys/module/mpdev/refcnt", "r");
	int n = -1;

	if (f) {
		if (fscanf(f, "%d", &n) != 1)
			n = -1;
		fclose(f);
	}
	return n;
}

TEST(rmmod_refused_while_in_use_then_succeeds)
{
	const char *ko = getenv("MPDEV_KO");
	struct kvm_guest *kg;
	const char *why;
	int ctl, backend;

	if (!ko)
		SKIP(return, "MPDEV_KO (path of mpdev.ko to reload) not set");
	if (!kg_kvm_usable(&why))
		SKIP(return, "no usable KVM: %s", why);
	ASSERT_EQ(0, refcnt()) TH_LOG("something still holds mpdev");

	kg = kg_create(1);
	ASSERT_NE(NULL, kg);
	ctl = mpdev_open();
	ASSERT_LE(0, ctl);
	ASSERT_EQ(0, mpdev_attach(ctl, kg_vm_fd(kg)));
	backend = mpdev_backend(ctl, 0);
	ASSERT_LE(0, backend);
	ASSERT_EQ(0, mpdev_add(ctl, 0, MPDEV_SPACE_MMIO, 0xd0000000, 64, 0));

	/* Control fd open: refused. */
	EXPECT_EQ(-EWOULDBLOCK, unload());
	close(ctl);
	/* Only the backend left: still refused. */
	EXPECT_EQ(-EWOULDBLOCK, unload());
	close(backend);
	kg_destroy(kg);
	/* Everything closed: no reference may be left behind. */
	EXPECT_EQ(0, refcnt());
	ASSERT_EQ(0, unload());
	ASSERT_EQ(0, load(ko));
	EXPECT_EQ(0, refcnt());
}

TEST_HARNESS_MAIN
