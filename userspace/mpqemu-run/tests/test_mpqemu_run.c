// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Tests for mpqemu-run's --remote-cmd / --run-dir / --mpdev-for.
 *
 * Unit tests of the remote command-line building (qemu_args.c), then the
 * real mpqemu-run binary with stand-ins: /bin/sh scripts as "QEMU" and as
 * the remotes (mpqemu-run itself runs no shell; only the test's fake
 * children are scripts).  Nothing here waits a fixed time for something
 * to happen: the tests wait for files and exits, with generous upper
 * bounds that only matter when something is broken.
 *
 * usage: test_mpqemu_run PATH/mpqemu-run
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../qemu_args.h"
#include "../../remote/tests/tap.h"

#define BOUND_MS	30000	/* upper bound for anything to happen */

static const char *run_bin;
static char tmpdir[] = "/tmp/mpqemu-run-test.XXXXXX";

/* ---- helpers -------------------------------------------------------- */

static void msleep(int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* The whole file (malloc'ed, NUL-terminated) or NULL. */
static char *slurp(const char *path)
{
	char *buf = NULL;
	size_t len = 0;
	ssize_t n;
	int fd = open(path, O_RDONLY);

	if (fd < 0)
		return NULL;
	do {
		char *p = realloc(buf, len + 4097);

		if (!p) {
			free(buf);
			close(fd);
			return NULL;
		}
		buf = p;
		n = read(fd, buf + len, 4096);
		if (n > 0)
			len += n;
	} while (n > 0);
	close(fd);
	buf[len] = 0;
	return buf;
}

static bool file_has(const char *path, const char *needle)
{
	char *s = slurp(path);
	bool r = s && strstr(s, needle);

	free(s);
	return r;
}

static bool file_starts(const char *path, const char *prefix)
{
	char *s = slurp(path);
	bool r = s && !strncmp(s, prefix, strlen(prefix));

	free(s);
	return r;
}

static bool file_is(const char *path, const char *want)
{
	char *s = slurp(path);
	bool r = s && !strcmp(s, want);

	if (s && !r)
		diag("%s is:\n%s# wanted:\n%s", path, s, want);
	free(s);
	return r;
}

/* Wait until @path exists (written by rename, so complete). */
static bool wait_file(const char *path)
{
	for (int i = 0; i < BOUND_MS / 5; i++) {
		if (access(path, F_OK) == 0)
			return true;
		msleep(5);
	}
	diag("%s never appeared", path);
	return false;
}

/* Wait until @path holds exactly @text. */
static bool wait_file_is(const char *path, const char *text)
{
	for (int i = 0; i < BOUND_MS / 5; i++) {
		char *s = slurp(path);
		bool r = s && !strcmp(s, text);

		free(s);
		if (r)
			return true;
		msleep(5);
	}
	diag("%s never held '%s'", path, text);
	return false;
}

/* Wait status of @pid, or -1 (and it is killed) past the bound. */
static int wait_exit(pid_t pid)
{
	int st;

	for (int i = 0; i < BOUND_MS / 5; i++) {
		if (waitpid(pid, &st, WNOHANG) == pid)
			return st;
		msleep(5);
	}
	diag("pid %d did not exit; killing it", (int)pid);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	return -1;
}

/* Start mpqemu-run with @argv, stdout+stderr to @errlog. */
static pid_t start_tool(char *const *argv, const char *errlog)
{
	pid_t pid = fork();

	if (pid == 0) {
		int fd = open(errlog, O_WRONLY | O_CREAT | O_TRUNC, 0644);

		dup2(fd, 2);
		dup2(fd, 1);
		execv(argv[0], argv);
		_exit(127);
	}
	return pid;
}

static int run_tool(char *const *argv, const char *errlog)
{
	pid_t pid = start_tool(argv, errlog);

	return pid < 0 ? -1 : wait_exit(pid);
}

static bool exited(int st, int code)
{
	return st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == code;
}

static void write_script(const char *path, const char *body)
{
	FILE *f = fopen(path, "w");

	if (!f)
		return;
	fprintf(f, "#!/bin/sh\n%s\n", body);
	fclose(f);
	chmod(path, 0755);
}

static long read_long(const char *path)
{
	char *s = slurp(path);
	long v = s ? strtol(s, NULL, 10) : -1;

	free(s);
	return v;
}

/* The line of @text (one argument a line) that starts with @prefix. */
static bool arg_line(const char *text, const char *prefix, char *out, size_t len)
{
	size_t plen = strlen(prefix);

	for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
		size_t n = strcspn(l, "\n");

		if (n >= plen && !strncmp(l, prefix, plen) && n < len) {
			memcpy(out, l, n);
			out[n] = 0;
			return true;
		}
	}
	return false;
}

/* ---- unit tests: the remote command line ------------------------------ */

static bool argv_is(char **a, char *const *want)
{
	int i;

	if (!a)
		return false;
	for (i = 0; want[i]; i++)
		if (!a[i] || strcmp(a[i], want[i]))
			return false;
	return !a[i];
}

static void test_remote_argv(void)
{
	struct qa_remote_vars v = { "lsi0", 5, "/run/vm1" };
	struct qa_remote_vars norun = { "lsi0", 5, NULL };
	char err[512];
	char **a;

	{
		char *cmd[] = { "x", "a", ";", "b", ";" };
		char *none[] = { "x", "a;", "';'", " ;" };

		ok(qa_cmd_end(5, cmd) == 2 && qa_cmd_end(4, none) == -1 &&
		   qa_cmd_end(0, cmd) == -1,
		   "cmd end: the first lone ';', none in 'a;' \"';'\" ' ;'");
	}
	{
		char *in[] = { "qemu-system-x86_64", "-machine", "x-remote",
			       "-object", "x-remote-object,id=robj0,devid=@ID@,fd=@FD@",
			       "-qmp", "unix:@RUNDIR@/@ID@.qmp,server=on,wait=off" };
		char *want[] = { "qemu-system-x86_64", "-machine", "x-remote",
				 "-object", "x-remote-object,id=robj0,devid=lsi0,fd=5",
				 "-qmp", "unix:/run/vm1/lsi0.qmp,server=on,wait=off", NULL };

		a = qa_build_remote_argv(7, in, &v, err, sizeof(err));
		ok(argv_is(a, want), "remote argv: @FD@ @ID@ @RUNDIR@, several per argument");
		qa_free_argv(a);
	}
	{
		char *in[] = { "@FD@@FD@", "@@", "a@@b", "@@FD@", "x@@@ID@",
			       "user@host", "a@b@c", "@5@", "@", "@FD", "fd@", "@fd@" };
		char *want[] = { "55", "@", "a@b", "@FD@", "x@lsi0",
				 "user@host", "a@b@c", "@5@", "@", "@FD", "fd@", "@fd@",
				 NULL };

		a = qa_build_remote_argv(12, in, &v, err, sizeof(err));
		ok(argv_is(a, want), "remote argv: @@ is '@', other '@' kept as they are");
		qa_free_argv(a);
	}
	{
		char *in[] = { "prog", "--fd=@FD@", "a,b=c,,d", "\"dq\" 'sq'", "sp ace",
			       "", "back\\slash $HOME `id` *", "tab\there\nnewline",
			       ";x", "--", "-device", "%s%n" };
		char *want[] = { "prog", "--fd=5", "a,b=c,,d", "\"dq\" 'sq'", "sp ace",
				 "", "back\\slash $HOME `id` *", "tab\there\nnewline",
				 ";x", "--", "-device", "%s%n", NULL };

		a = qa_build_remote_argv(12, in, &v, err, sizeof(err));
		ok(argv_is(a, want),
		   "remote argv: commas, quotes, spaces, empty, shell characters byte-exact");
		qa_free_argv(a);
	}
	{
		char *in[] = { "prog", "--fd", "@FD@", "--x=@FDX@" };

		a = qa_build_remote_argv(4, in, &v, err, sizeof(err));
		ok(!a && strstr(err, "unknown placeholder @FDX@") && strstr(err, "@@"),
		   "remote argv: unknown @FDX@ refused, names it and @@ (%s)", err);
	}
	{
		char *in[] = { "prog", "-object", "x-remote-object,id=r,devid=lsi0,fd=3" };

		a = qa_build_remote_argv(3, in, &v, err, sizeof(err));
		ok(!a && strstr(err, "@FD@") && strstr(err, "lsi0"),
		   "remote argv: no @FD@ refused (%s)", err);
	}
	{
		char *in[] = { "prog", "--fd", "@@FD@" };

		a = qa_build_remote_argv(3, in, &v, err, sizeof(err));
		ok(!a && strstr(err, "never mentions @FD@"),
		   "remote argv: an escaped @@FD@ does not count as @FD@");
	}
	{
		char *in[] = { "prog", "--fd", "@FD@", "--log=@RUNDIR@/x" };

		a = qa_build_remote_argv(4, in, &norun, err, sizeof(err));
		ok(!a && strstr(err, "--run-dir"), "remote argv: @RUNDIR@ without --run-dir refused");
	}
	{
		a = qa_build_remote_argv(0, NULL, &v, err, sizeof(err));
		ok(!a && strstr(err, "empty"), "remote argv: empty command refused");
	}
	{
		char *in[] = { "prog", "--fd", "@FD@", "--stats-file", "@RUNDIR@/@ID@.stats" };
		struct qa_remote_vars v0 = { "a", 7, "/d" }, v1 = { "b", 9, "/d" };
		char *want0[] = { "prog", "--fd", "7", "--stats-file", "/d/a.stats", NULL };
		char *want1[] = { "prog", "--fd", "9", "--stats-file", "/d/b.stats", NULL };
		char **a0 = qa_build_remote_argv(5, in, &v0, err, sizeof(err));
		char **a1 = qa_build_remote_argv(5, in, &v1, err, sizeof(err));

		ok(argv_is(a0, want0) && argv_is(a1, want1) && !strcmp(in[2], "@FD@"),
		   "remote argv: several remotes from one template, template untouched");
		qa_free_argv(a0);
		qa_free_argv(a1);
	}
}

/* ---- integration: the binary with stand-in children -------------------- */

static void test_usage_errors(void)
{
	char log[256];
	int st;

	snprintf(log, sizeof(log), "%s/usage.log", tmpdir);
	{
		char *a[] = { (char *)run_bin, "--remote-cmd", "r0", "/bin/true", "@FD@",
			      "--", "-m", "1G", NULL };

		st = run_tool(a, log);
		ok(exited(st, 2) && file_has(log, "no ';'"), "--remote-cmd without ';': exit 2");
	}
	{
		char *a[] = { (char *)run_bin, "--no-ram-check", "--remote-cmd", "r0",
			      "/bin/true", "--fd=@FD@", "@BOGUS@", ";", "--", "-x", NULL };

		st = run_tool(a, log);
		ok(exited(st, 2) && file_has(log, "unknown placeholder @BOGUS@"),
		   "unknown placeholder: exit 2");
	}
	{
		char *a[] = { (char *)run_bin, "--no-ram-check", "--remote-cmd", "r0",
			      "/bin/true", "fd=3", ";", "--", "-x", NULL };

		st = run_tool(a, log);
		ok(exited(st, 2) && file_has(log, "never mentions @FD@"),
		   "remote command without @FD@: exit 2");
	}
	{
		char *a[] = { (char *)run_bin, "--no-ram-check", "--remote-cmd", "r0",
			      "/bin/true", "@FD@", "@RUNDIR@", ";", "--", "-x", NULL };

		st = run_tool(a, log);
		ok(exited(st, 2) && file_has(log, "needs --run-dir"),
		   "@RUNDIR@ without --run-dir: exit 2");
	}
	{
		char *a[] = { (char *)run_bin, "--no-ram-check", "--remote-cmd", "r0", ";",
			      "--", "-x", NULL };

		st = run_tool(a, log);
		ok(exited(st, 2) && file_has(log, "empty command"), "empty --remote-cmd: exit 2");
	}
	{
		char *a[] = { (char *)run_bin, "--no-ram-check",
			      "--remote-cmd", "r0", "/bin/true", "@FD@", ";",
			      "--remote-cmd", "r0", "/bin/true", "@FD@", ";", "--", "-x", NULL };

		st = run_tool(a, log);
		ok(exited(st, 2) && file_has(log, "given twice"), "--remote-cmd ID twice: exit 2");
	}
	{
		char *a[] = { (char *)run_bin, "--no-ram-check", "--proxy", "a",
			      "--mpdev-for", "b", "--", "-x", NULL };

		st = run_tool(a, log);
		ok(exited(st, 2) && file_has(log, "--mpdev-for b: no such proxy"),
		   "--mpdev-for an unknown proxy: exit 2");
	}
	{
		char *a[] = { (char *)run_bin, "--no-ram-check", "--proxy", "a", "--mpdev",
			      "--mpdev-for", "a", "--", "-x", NULL };

		st = run_tool(a, log);
		ok(exited(st, 2), "--mpdev with --mpdev-for: exit 2");
	}
	{
		char *a[] = { (char *)run_bin, "--no-ram-check", "--remote-cmd", "a/b",
			      "/bin/true", "@FD@", ";", "--", "-x", NULL };

		st = run_tool(a, log);
		ok(exited(st, 2) && file_has(log, "'/'"), "proxy id with '/': exit 2");
	}
	{
		char *a[] = { (char *)run_bin, "--no-ram-check", "--qemu", "/bin/true",
			      "--remote-cmd", "r0", "/nonexistent/remote", "@FD@", ";",
			      "--", "-x", NULL };

		st = run_tool(a, log);
		ok(exited(st, 1) && file_has(log, "cannot start the remote for proxy r0, "
					     "/nonexistent/remote"),
		   "missing remote program: named, exit 1");
	}
}

/*
 * Three proxies: r0 and r1 with --remote-cmd scripts, d0 with the default
 * remote (--remote, a script standing in for mpdev-remote) and the only
 * /dev/mpdev fd (/dev/null standing in).  The fake QEMU writes "hello-ID"
 * into each proxy socket and exits 0; each remote logs what it got, its
 * arguments and the EOF.
 */
static void test_run(void)
{
	char dir[256], qemu[256], defrem[256], log[256], path[512], want[4096];
	char body[1024], *s;
	long pid;
	int st;
	bool all;
	static const char remote_sh[] =
		"trap '' TERM\n"
		"fd=$1; id=$2; dir=$3; shift 3\n"
		"[ -S /proc/self/fd/$fd ] && echo fd-ok || echo fd-missing\n"
		"echo \"pid $$ id $id dir $dir\"\n"
		"echo \"stderr of $id\" >&2\n"
		"for a; do printf '[%s]\\n' \"$a\"; done\n"
		"eval \"exec 3<&$fd\"\n"
		"echo ready >&3\n"
		"while IFS= read -r l <&3; do echo \"got $l\"; done\n"
		"echo eof";

	snprintf(dir, sizeof(dir), "%s/run", tmpdir);
	snprintf(qemu, sizeof(qemu), "%s/fake-qemu", tmpdir);
	snprintf(defrem, sizeof(defrem), "%s/fake-default-remote", tmpdir);
	snprintf(log, sizeof(log), "%s/run.log", tmpdir);
	want[0] = 0;
		/*
	 * For every "-device x-pci-proxy-dev,id=ID,fd=N...": wait for the
	 * remote's "ready" (sent once it ignores the SIGTERM that mpqemu-run
	 * sends the remotes when QEMU is gone), then "hello-ID" into N.
	 */
	snprintf(body, sizeof(body),
		 "printf '%%s\\n' \"$@\" > %s/qemu.args\n"
		 "for a; do\n"
		 "  case $a in x-pci-proxy-dev,id=*)\n"
		 "    id=${a#*id=}; id=${id%%%%,*}\n"
		 "    fd=${a#*,fd=}; fd=${fd%%%%,*}\n"
		 "    eval \"read -r r <&$fd\" && [ \"$r\" = ready ] || exit 8\n"
		 "    eval \"echo hello-$id >&$fd\" || exit 9 ;;\n"
		 "  esac\n"
		 "done\n"
		 "exit 0", tmpdir);
	write_script(qemu, body);
	write_script(defrem,
		     "trap '' TERM\n"
		     "echo \"default $*\"\n"
		     "[ -S /proc/self/fd/$2 ] && echo fd-ok\n"
		     "eval \"exec 3<&$2\"\n"
		     "echo ready >&3\n"
		     "while IFS= read -r l <&3; do echo \"got $l\"; done\n"
		     "echo eof");
	/* A stale end from an earlier run must go. */
	mkdir(dir, 0755);
	snprintf(path, sizeof(path), "%s/r0.exit", dir);
	write_script(path, "stale");

	{
		char *a[] = { (char *)run_bin, "--qemu", qemu, "--run-dir", dir,
			      "--remote-cmd", "r0", "/bin/sh", "-c", (char *)remote_sh, "sh",
			      "@FD@", "@ID@", "@RUNDIR@",
			      "a,b=c,,d", "\"dq\" 'sq'", "sp ace", "", "$HOME `id` *",
			      "tab\there", "mail@host", "@@ID@", "--", ";",
			      "--proxy", "d0", "--remote", defrem, "--remote-arg", "x,y z",
			      "--remote-cmd", "r1", "/bin/sh", "-c", (char *)remote_sh, "sh",
			      "@FD@", "@ID@", "@RUNDIR@", "unix:@RUNDIR@/@ID@.qmp,server=on", ";",
			      "--mpdev-for", "d0", "--mpdev-path", "/dev/null",
			      "--",
			      "-object", "memory-backend-memfd,id=mem,size=64M",
			      "-machine", "q35,memory-backend=mem", NULL };

		st = run_tool(a, log);
	}
	ok(exited(st, 0), "three remotes, QEMU exits 0: exit 0");

	snprintf(path, sizeof(path), "%s/r0.pid", dir);
	pid = read_long(path);
	snprintf(want, sizeof(want),
		 "fd-ok\n"
		 "pid %ld id r0 dir %s\n"
		 "stderr of r0\n"
		 "[a,b=c,,d]\n[\"dq\" 'sq']\n[sp ace]\n[]\n[$HOME `id` *]\n"
		 "[tab\there]\n[mail@host]\n[@ID@]\n[--]\n"
		 "got hello-r0\n"
		 "eof\n", pid, dir);
	snprintf(path, sizeof(path), "%s/r0.log", dir);
	ok(pid > 0 && file_is(path, want),
	   "r0.log: the fd was a socket, stdout+stderr, arguments byte-exact, "
	   "QEMU's bytes arrived, EOF at QEMU's exit; pid matches r0.pid");

	snprintf(path, sizeof(path), "%s/r1.pid", dir);
	pid = read_long(path);
	snprintf(want, sizeof(want),
		 "fd-ok\npid %ld id r1 dir %s\nstderr of r1\n"
		 "[unix:%s/r1.qmp,server=on]\ngot hello-r1\neof\n", pid, dir, dir);
	snprintf(path, sizeof(path), "%s/r1.log", dir);
	ok(pid > 0 && file_is(path, want), "r1.log: its own socket, id and @RUNDIR@/@ID@");

	snprintf(path, sizeof(path), "%s/d0.log", dir);
	s = slurp(path);
	ok(s && !strncmp(s, "default --fd ", 13) && strstr(s, " x,y z\nfd-ok\ngot hello-d0\neof\n"),
	   "d0 (no --remote-cmd): default remote as REMOTE --fd N ARGS, logged too");
	free(s);

	all = true;
	for (int i = 0; i < 3; i++) {
		static const char *const ids[] = { "r0", "r1", "d0" };
		struct stat stt;

		snprintf(path, sizeof(path), "%s/%s.exit", dir, ids[i]);
		/* "exit 0 2025-01-02T03:04:05.678Z" */
		s = slurp(path);
		if (!s || strncmp(s, "exit 0 20", 9) || s[17] != 'T' ||
		    strlen(s) != strlen("exit 0 2025-01-02T03:04:05.678Z\n")) {
			diag("%s: %s", path, s ? s : "(missing)");
			all = false;
		}
		free(s);
		snprintf(path, sizeof(path), "%s/%s.log", dir, ids[i]);
		if (stat(path, &stt) < 0 || (stt.st_mode & 0777) != 0644)
			all = false;
	}
	ok(all, "ID.exit written for each remote (\"exit 0 <UTC time>\"), logs 0644");

	snprintf(path, sizeof(path), "%s/qemu.args", tmpdir);
	s = slurp(path);
	{
		char r0[128], r1[128], d0[128];

		ok(arg_line(s, "x-pci-proxy-dev,id=r0,fd=", r0, sizeof(r0)) &&
		   arg_line(s, "x-pci-proxy-dev,id=r1,fd=", r1, sizeof(r1)) &&
		   arg_line(s, "x-pci-proxy-dev,id=d0,fd=", d0, sizeof(d0)) &&
		   !strstr(r0, "mpdev") && !strstr(r1, "mpdev") && strstr(d0, ",mpdev-fd="),
		   "QEMU gets a -device per proxy; --mpdev-for d0: only d0's has mpdev-fd=");
	}
	free(s);
}

/*
 * A remote killed with SIGKILL while QEMU runs: mpqemu-run names it (pid,
 * program, signal, log), stops QEMU with SIGTERM and exits 1; r0.exit
 * says "signal 9".
 */
static void test_remote_killed(void)
{
	char dir[256], qemu[256], log[256], path[512], want[1024], body[2048];
	static const char remote_sh[] =
		"eval \"exec 3<&$1\"\n"
		"echo up\n"
		"while read -r l <&3; do :; done";
	pid_t tool;
	long pid;
	int st;

	snprintf(dir, sizeof(dir), "%s/kill", tmpdir);
	snprintf(qemu, sizeof(qemu), "%s/fake-qemu-wait", tmpdir);
	snprintf(log, sizeof(log), "%s/kill.log", tmpdir);
	/* Ready once the trap is set; SIGTERM is the only way out. */
	snprintf(body, sizeof(body),
		 "sleep 100000 & s=$!\n"
		 "trap 'kill $s; echo term > %s/qemu.term.tmp; mv %s/qemu.term.tmp %s/qemu.term; exit 0' TERM\n"
		 "echo ready > %s/qemu.ready.tmp; mv %s/qemu.ready.tmp %s/qemu.ready\n"
		 "wait\n"
		 "exit 7", dir, dir, dir, dir, dir, dir);
	write_script(qemu, body);

	{
		char *a[] = { (char *)run_bin, "--qemu", qemu, "--run-dir", dir,
			      "--stop-timeout", "600", "--no-ram-check",
			      "--remote-cmd", "r0", "/bin/sh", "-c", (char *)remote_sh, "r0", "@FD@", ";",
			      "--remote-cmd", "r1", "/bin/sh", "-c", (char *)remote_sh, "r1", "@FD@", ";",
			      "--", "-nographic", NULL };

		tool = start_tool(a, log);
	}
	snprintf(path, sizeof(path), "%s/qemu.ready", dir);
	snprintf(want, sizeof(want), "%s/r0.log", dir);
	if (!ok(tool > 0 && wait_file(path) && wait_file_is(want, "up\n"),
		"fake QEMU and r0 up")) {
		if (tool > 0) {
			kill(tool, SIGKILL);
			waitpid(tool, NULL, 0);
		}
		return;
	}
	snprintf(path, sizeof(path), "%s/r0.pid", dir);
	pid = read_long(path);
	ok(pid > 0 && kill((pid_t)pid, SIGKILL) == 0, "r0 (pid %ld from r0.pid) killed with SIGKILL",
	   pid);
	st = wait_exit(tool);
	ok(exited(st, 1), "mpqemu-run exits 1");
	snprintf(want, sizeof(want),
		 "mpqemu-run: remote for proxy r0 (pid %ld, /bin/sh) was killed by signal 9; "
		 "stopping QEMU (log: %s/r0.log)\n", pid, dir);
	ok(file_has(log, want), "the message names proxy, pid, program, signal and log");
	snprintf(path, sizeof(path), "%s/qemu.term", dir);
	ok(file_is(path, "term\n"), "QEMU was stopped with SIGTERM");
	snprintf(path, sizeof(path), "%s/r0.exit", dir);
	ok(file_starts(path, "signal 9 20"), "r0.exit: \"signal 9 <time>\"");
	snprintf(path, sizeof(path), "%s/r1.exit", dir);
	ok(file_starts(path, "exit 0 ") || file_starts(path, "signal 15 "),
	   "r1.exit: ended with QEMU");
	snprintf(path, sizeof(path), "%s/r0.log", dir);
	ok(file_is(path, "up\n"), "r0.log has r0's output, kept after its death");
}

/* ---- --zero-patch: the relay, with stand-ins speaking the protocol ----- */

/*
 * Python stand-ins (the wire format needs bytes and SCM_RIGHTS, which a
 * shell cannot do).  Both sides write what they saw to files; no KVM is
 * involved: nothing here touches a BAR register, so mpqemu-run never
 * looks for the VM and only relays.
 */
static const char zp_common_py[] =
	"import os, socket, struct, sys, time\n"
	"def send(s, cmd, payload=b'', fds=()):\n"
	"    socket.send_fds(s, [struct.pack('<i4xQ', cmd, len(payload)) + payload], list(fds))\n"
	"def exact(s, n, fds):\n"
	"    buf = b''\n"
	"    while len(buf) < n:\n"
	"        d, f, _, _ = socket.recv_fds(s, n - len(buf), 16)\n"
	"        if not d:\n"
	"            raise EOFError\n"
	"        buf += d\n"
	"        fds += f\n"
	"    return buf\n"
	"def recv(s):\n"
	"    fds = []\n"
	"    cmd, size = struct.unpack('<i4xQ', exact(s, 16, fds))\n"
	"    return cmd, exact(s, size, fds) if size else b'', fds\n"
	"def note(name, text):\n"
	"    path = os.path.join(os.environ['ZP_OUT'], name)\n"
	"    open(path + '.tmp', 'w').write(text)\n"
	"    os.rename(path + '.tmp', path)\n";

/* QEMU: a CFGREAD, two fds with SET_IRQFD, a CFGREAD the remote botches. */
static const char zp_qemu_py[] =
	"import signal\n"
	"signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})\n"
	"dev = [a for a in sys.argv if a.startswith('x-pci-proxy-dev,')][0]\n"
	"s = socket.socket(fileno=int(dev.split('fd=')[1].split(',')[0]))\n"
	"note('qemu.args', '\\n'.join(sys.argv[1:]) + '\\n')\n"
	"send(s, 3, struct.pack('<IIi', 0, 0, 4))\n"
	"cmd, p, fds = recv(s)\n"
	"note('qemu.ret', '%d %x %d\\n' % (cmd, struct.unpack('<Q', p)[0], len(fds)))\n"
	"r, w = os.pipe()\n"
	"send(s, 6, b'', [r, w])\n"
	"send(s, 3, struct.pack('<IIi', 4, 0, 2))\n"
	"try:\n"
	"    recv(s)\n"
	"    note('qemu.end', 'answered\\n')\n"
	"except EOFError:\n"
	"    note('qemu.end', 'eof\\n')\n"
	"signal.sigwait({signal.SIGTERM})\n";

/* The remote: answers with an fd (not for QEMU), then with garbage. */
static const char zp_remote_py[] =
	"s = socket.socket(fileno=int(sys.argv[sys.argv.index('--fd') + 1]))\n"
	"cmd, p, fds = recv(s)\n"
	"r, w = os.pipe()\n"
	"send(s, 1, struct.pack('<Q', 0x1234), [r])\n"
	"cmd, p, fds = recv(s)\n"
	"note('remote.irqfd', '%d %d\\n' % (cmd, len(fds)))\n"
	"cmd, p, fds = recv(s)\n"
	"s.sendall(struct.pack('<i4xQ', 1, 100000))\n"
	"time.sleep(100000)\n";

static void write_py(const char *path, const char *body)
{
	FILE *f = fopen(path, "w");

	if (!f)
		return;
	fprintf(f, "#!/usr/bin/python3\n%s%s", zp_common_py, body);
	fclose(f);
	chmod(path, 0755);
}

static void test_zero_patch_relay(void)
{
	char dir[256], qemu[256], remote[256], log[256], path[512];
	pid_t tool;
	int st;

	/* python3 is part of the build's dependencies (make deps). */
	if (!ok(access("/usr/bin/python3", X_OK) == 0,
		"--zero-patch: /usr/bin/python3 for the stand-ins"))
		return;
	snprintf(dir, sizeof(dir), "%s/zp", tmpdir);
	mkdir(dir, 0755);
	snprintf(qemu, sizeof(qemu), "%s/fake-qemu.py", tmpdir);
	snprintf(remote, sizeof(remote), "%s/fake-remote.py", tmpdir);
	snprintf(log, sizeof(log), "%s/zp.log", tmpdir);
	write_py(qemu, zp_qemu_py);
	write_py(remote, zp_remote_py);
	setenv("ZP_OUT", dir, 1);
	{
		char *a[] = { (char *)run_bin, "--qemu", qemu, "--remote", remote,
			      "--zero-patch", "--run-dir", dir, "--no-ram-check",
			      "--", "-nographic", NULL };

		tool = start_tool(a, log);
	}
	st = tool > 0 ? wait_exit(tool) : -1;
	ok(exited(st, 1), "--zero-patch: mpqemu-run exits 1 when the remote breaks the protocol");
	snprintf(path, sizeof(path), "%s/qemu.args", dir);
	ok(file_has(path, "\n-chardev\nsocket,id=mpqemu-run-qmp,path=/tmp/mpqemu-run.") &&
	   file_has(path, "\n-mon\nchardev=mpqemu-run-qmp,mode=control\n"),
	   "--zero-patch: QEMU gets a QMP monitor of ours");
	snprintf(path, sizeof(path), "%s/qemu.ret", dir);
	ok(file_is(path, "1 1234 0\n"),
	   "relay: the remote's RET reached QEMU, without the fd the remote sent along");
	snprintf(path, sizeof(path), "%s/remote.irqfd", dir);
	ok(file_is(path, "6 2\n"), "relay: SET_IRQFD reached the remote with its 2 fds");
	ok(file_has(log, "mpqemu-run: zero-patch: the remote: payload size larger than any message (cmd 1); stopping the remote for proxy mpdev0\n"),
	   "relay: a remote that sends an oversized message is named and stopped");
	snprintf(path, sizeof(path), "%s/qemu.end", dir);
	ok(file_is(path, "eof\n"),
	   "relay: QEMU's request is answered by EOF, not left waiting");
	snprintf(path, sizeof(path), "%s/mpdev0.exit", dir);
	ok(file_starts(path, "signal 9 "), "mpdev0.exit: the remote was killed (signal 9)");
	ok(file_has(log, "remote for proxy mpdev0 (pid ") &&
	   file_has(log, "was killed by signal 9; stopping QEMU"),
	   "then QEMU is stopped as for any dead remote");
	snprintf(path, sizeof(path), "%s/mpdev0.zero-patch", dir);
	ok(file_has(path, "vm_attached=0\nbackend=0\ncfg_writes=0\n"),
	   "mpdev0.zero-patch: no BAR written, so no VM taken and no backend");
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s PATH/mpqemu-run\n", argv[0]);
		return 2;
	}
	run_bin = argv[1];
	signal(SIGPIPE, SIG_IGN);
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	diag("logs in %s", tmpdir);
	test_remote_argv();
	test_usage_errors();
	test_run();
	test_remote_killed();
	test_zero_patch_relay();
	if (!tap_fail) {
		/* Keep the logs only when something failed. */
		char cmd[128];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
		if (system(cmd) != 0)
			diag("could not remove %s", tmpdir);
	}
	return tap_done();
}
