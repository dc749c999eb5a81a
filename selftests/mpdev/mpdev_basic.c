// SPDX-License-Identifier: GPL-2.0
/*
 * The control device itself: present, opens and closes, reports its
 * features, refuses unknown ioctls (the old API-version call included) and
 * unprivileged openers.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/capability.h>
#include <linux/mpdev.h>

#include "../kselftest_harness.h"

TEST(module_present)
{
	struct stat st;

	ASSERT_EQ(0, access("/sys/module/mpdev", F_OK))
		TH_LOG("mpdev.ko is not loaded");
	ASSERT_EQ(0, stat("/dev/mpdev", &st));
	EXPECT_TRUE(S_ISCHR(st.st_mode));
	/* Root only: no group or other access. */
	EXPECT_EQ(0, st.st_mode & 077);
}

TEST(open_close)
{
	int i;

	for (i = 0; i < 3; i++) {
		int fd = open("/dev/mpdev", O_RDWR);

		ASSERT_LE(0, fd);
		EXPECT_EQ(0, close(fd));
	}
}

/* Feature discovery: what this ABI has, and its limits as the header says. */
TEST(features)
{
	const uint64_t all = MPDEV_FEAT_RING_GEOMETRY |
			     MPDEV_FEAT_REGION_COOKIE |
			     MPDEV_FEAT_EXIT_DEADLINE | MPDEV_FEAT_INTR_GRACE |
			     MPDEV_FEAT_STALE_CPL;
	struct mpdev_features f, again;
	unsigned int i;
	int fd = open("/dev/mpdev", O_RDWR);

	ASSERT_LE(0, fd);
	memset(&f, 0xa5, sizeof(f));
	ASSERT_EQ(0, ioctl(fd, MPDEV_GET_FEATURES, &f));
	EXPECT_EQ(all, f.features & all);
	EXPECT_EQ(MPDEV_REGION_FLAGS_ALL, f.region_flags);
	EXPECT_EQ(MPDEV_BACKEND_FLAGS_ALL, f.backend_flags);
	/* The netlink tests add 64 regions to one context. */
	EXPECT_LE(64U, f.max_regions);
	EXPECT_EQ(MPDEV_RING_MIN_ENTRIES, f.ring_min_entries);
	EXPECT_EQ(MPDEV_RING_MAX_ENTRIES, f.ring_max_entries);
	EXPECT_EQ(MPDEV_RING_DEFAULT_ENTRIES, f.ring_default_entries);
	EXPECT_EQ(MPDEV_MIN_DEADLINE_NS, f.min_deadline_ns);
	EXPECT_EQ(MPDEV_MAX_DEADLINE_NS, f.max_deadline_ns);
	EXPECT_EQ(MPDEV_MAX_SPIN_NS, f.max_spin_ns);
	for (i = 0; i < sizeof(f.reserved) / sizeof(f.reserved[0]); i++) {
		EXPECT_EQ(0ULL, f.reserved[i]) TH_LOG("reserved[%u]", i);
	}
	/* It changes nothing and says the same each time. */
	ASSERT_EQ(0, ioctl(fd, MPDEV_GET_FEATURES, &again));
	EXPECT_EQ(0, memcmp(&f, &again, sizeof(f)));
	close(fd);
}

TEST(api_version_is_gone)
{
	int fd = open("/dev/mpdev", O_RDWR);

	ASSERT_LE(0, fd);
	/* MPDEV_GET_API_VERSION of the first ABI: _IO(0xB2, 0x00). */
	EXPECT_EQ(-1, ioctl(fd, _IO(0xB2, 0x00)));
	EXPECT_EQ(ENOTTY, errno);
	close(fd);
}

TEST(unknown_ioctl_enotty)
{
	int fd = open("/dev/mpdev", O_RDWR);

	ASSERT_LE(0, fd);
	EXPECT_EQ(-1, ioctl(fd, _IO(MPDEV_IOC_MAGIC, 0x3f)));
	EXPECT_EQ(ENOTTY, errno);
	/* Another subsystem's number. */
	EXPECT_EQ(-1, ioctl(fd, _IO(0xAE, 0x00)));
	EXPECT_EQ(ENOTTY, errno);
	close(fd);
}

/* Drops every capability, then tries to open: must get EPERM. */
TEST(open_denied_without_cap_sys_admin)
{
	pid_t pid = fork();
	int status;

	ASSERT_LE(0, pid);
	if (pid == 0) {
		struct __user_cap_header_struct h = {
			.version = _LINUX_CAPABILITY_VERSION_3,
		};
		struct __user_cap_data_struct d[2] = { 0 };
		int fd;

		/* Keep root's uid (so file modes allow it) but no caps. */
		if (syscall(SYS_capset, &h, d))
			_exit(10);
		fd = open("/dev/mpdev", O_RDWR);
		if (fd >= 0)
			_exit(11);
		_exit(errno == EPERM ? 0 : 12);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status))
		TH_LOG("10: capset failed, 11: open succeeded, 12: wrong errno");
}

/* As an ordinary user the file mode already refuses. */
TEST(open_denied_as_nobody)
{
	pid_t pid = fork();
	int status;

	ASSERT_LE(0, pid);
	if (pid == 0) {
		if (setgid(65534) || setuid(65534))
			_exit(10);
		_exit(open("/dev/mpdev", O_RDWR) < 0 &&
		      (errno == EACCES || errno == EPERM) ? 0 : 11);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status));
}

TEST_HARNESS_MAIN
