// SPDX-License-Identifier: GPL-2.0
/*
 * The control device itself: present, opens and closes, answers its version,
 * refuses unknown ioctls and unprivileged openers.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/capability.h>
#include <linux/mpdev.h>

#include "kselftest_harness.h"

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

TEST(api_version)
{
	int fd = open("/dev/mpdev", O_RDWR);

	ASSERT_LE(0, fd);
	EXPECT_EQ(MPDEV_API_VERSION, ioctl(fd, MPDEV_GET_API_VERSION));
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
