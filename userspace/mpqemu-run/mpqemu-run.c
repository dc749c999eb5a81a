// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * mpqemu-run: start QEMU with x-pci-proxy-dev devices and their remote
 * device processes, wired together by socketpairs, and keep their lives
 * tied: the remotes stop when QEMU exits, and QEMU is stopped (with a clear
 * message) when a remote dies.  SIGINT/SIGTERM/SIGHUP are forwarded to QEMU.
 *
 * The remotes run in their own process group, so a terminal's ^C reaches
 * QEMU (which shuts down and closes the sockets) and not the remotes,
 * which would otherwise look like crashes.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "qemu_args.h"
#include "util.h"

#define MAX_PROXIES	16
#define MAX_REMOTE_ARGS	64
#define KILL_GRACE_S	10	/* after SIGKILL, before giving up on a child */

struct child {
	pid_t pid;
	const char *what;	/* "QEMU" or "remote for proxy X" */
	char label[96];
	bool done;
	int status;
};

struct opts {
	const char *qemu;
	const char *remote;
	const char *remote_args[MAX_REMOTE_ARGS];
	int nremote_args;
	const char *proxy_ids[MAX_PROXIES];
	int nproxies;
	bool ram_check;
	const char *mpdev_path;		/* NULL: no --mpdev */
	const char *mpdev_prop;
	int stop_timeout;
	int qemu_argc;
	char **qemu_argv;
};

static void usage(FILE *f)
{
	fprintf(f,
"usage: mpqemu-run [options] -- QEMU_ARGS...\n"
"\n"
"Run QEMU with x-pci-proxy-dev devices served by mpdev-remote processes.\n"
"\n"
"  --qemu PATH          QEMU binary (default: $MPQEMU_QEMU, else\n"
"                       qemu-system-x86_64 from PATH)\n"
"  --remote PATH        remote binary (default: mpdev-remote next to this\n"
"                       program, else from PATH)\n"
"  --remote-arg ARG     extra argument for every remote (repeatable)\n"
"  --proxy ID           add a proxy device with QEMU id ID (repeatable;\n"
"                       default: one proxy, mpdev0)\n"
"  --no-ram-check       do not insist on shared memfd/file guest RAM\n"
"  --mpdev[=PATH]       open PATH (default /dev/mpdev) once per proxy and\n"
"                       pass it to a patched QEMU (see --mpdev-prop)\n"
"  --mpdev-prop NAME    proxy property for that fd (default mpdev-fd)\n"
"  --stop-timeout SEC   grace time before SIGKILL (default 5)\n"
"  -v, --verbose        print the command lines\n"
"  -h, --help           this text\n"
"\n"
"In QEMU_ARGS, @PROXY_FD@ / @PROXY_FD:ID@ become the proxy socket fd and\n"
"@MPDEV_FD@ / @MPDEV_FD:ID@ the /dev/mpdev fd; a proxy whose fd is not\n"
"mentioned gets '-device x-pci-proxy-dev,id=ID,fd=N' appended.\n"
"\n"
"Exit status: QEMU's (128+N if killed by signal N); 1 if a remote died\n"
"first or something failed to start; 2 on bad usage.\n");
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
	enum { O_QEMU = 256, O_REMOTE, O_RARG, O_PROXY, O_NORAM, O_MPDEV,
	       O_MPROP, O_STOP };
	static const struct option lo[] = {
		{ "qemu", required_argument, NULL, O_QEMU },
		{ "remote", required_argument, NULL, O_REMOTE },
		{ "remote-arg", required_argument, NULL, O_RARG },
		{ "proxy", required_argument, NULL, O_PROXY },
		{ "no-ram-check", no_argument, NULL, O_NORAM },
		{ "mpdev", optional_argument, NULL, O_MPDEV },
		{ "mpdev-prop", required_argument, NULL, O_MPROP },
		{ "stop-timeout", required_argument, NULL, O_STOP },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	long v;
	int c;

	memset(o, 0, sizeof(*o));
	o->qemu = getenv("MPQEMU_QEMU");
	if (!o->qemu || !*o->qemu)
		o->qemu = "qemu-system-x86_64";
	o->ram_check = true;
	o->mpdev_prop = "mpdev-fd";
	o->stop_timeout = 5;
	/* '+': stop at the first non-option, QEMU's arguments are not ours. */
	while ((c = getopt_long(argc, argv, "+vh", lo, NULL)) != -1) {
		switch (c) {
		case O_QEMU:
			o->qemu = optarg;
			break;
		case O_REMOTE:
			o->remote = optarg;
			break;
		case O_RARG:
			if (o->nremote_args == MAX_REMOTE_ARGS) {
				log_err("too many --remote-arg");
				return -1;
			}
			o->remote_args[o->nremote_args++] = optarg;
			break;
		case O_PROXY:
			if (o->nproxies == MAX_PROXIES) {
				log_err("at most %d proxies", MAX_PROXIES);
				return -1;
			}
			if (!*optarg || strpbrk(optarg, ",=@ ")) {
				log_err("--proxy '%s': an id may not be empty or contain "
					"',', '=', '@' or spaces", optarg);
				return -1;
			}
			for (int i = 0; i < o->nproxies; i++) {
				if (!strcmp(o->proxy_ids[i], optarg)) {
					log_err("--proxy %s given twice", optarg);
					return -1;
				}
			}
			o->proxy_ids[o->nproxies++] = optarg;
			break;
		case O_NORAM:
			o->ram_check = false;
			break;
		case O_MPDEV:
			o->mpdev_path = optarg ? optarg : "/dev/mpdev";
			break;
		case O_MPROP:
			o->mpdev_prop = optarg;
			break;
		case O_STOP:
			if (!parse_int_range(optarg, 0, 3600, &v)) {
				log_err("--stop-timeout: '%s' is not 0..3600", optarg);
				return -1;
			}
			o->stop_timeout = (int)v;
			break;
		case 'v':
			log_verbose = 1;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			return -1;
		}
	}
	/* getopt_long() consumes the "--" itself; insist that it was there. */
	if (optind < 2 || strcmp(argv[optind - 1], "--")) {
		log_err("expected '--' before the QEMU arguments");
		return -1;
	}
	if (optind >= argc) {
		log_err("no QEMU arguments after '--'");
		return -1;
	}
	o->qemu_argc = argc - optind;
	o->qemu_argv = argv + optind;
	if (!o->nproxies)
		o->proxy_ids[o->nproxies++] = "mpdev0";
	return 0;
}

/* mpdev-remote beside our own binary, if there is one. */
static const char *default_remote(void)
{
	static char path[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", path, sizeof(path) - 32);
	char *slash;

	if (n > 0) {
		path[n] = 0;
		slash = strrchr(path, '/');
		if (slash) {
			strcpy(slash + 1, "mpdev-remote");
			if (access(path, X_OK) == 0)
				return path;
		}
	}
	return "mpdev-remote";
}

static void print_cmd(const char *what, char *const *argv)
{
	char line[4096];
	size_t n = 0;

	for (int i = 0; argv[i] && n < sizeof(line) - 1; i++)
		n += snprintf(line + n, sizeof(line) - n, "%s%s", i ? " " : "",
			      argv[i]);
	log_info("%s: %s", what, line);
}

/*
 * fork+exec with @keep fds inherited and the signal mask restored.  An exec
 * failure comes back through a CLOEXEC pipe so it is reported here,
 * plainly, instead of as a mysterious exit status 127.
 */
static pid_t spawn(char *const *argv, const int *keep, int nkeep,
		   bool own_pgrp, const sigset_t *mask)
{
	int pfd[2], err = 0;
	pid_t pid;
	ssize_t n;

	if (pipe2(pfd, O_CLOEXEC) < 0)
		return -1;
	pid = fork();
	if (pid < 0) {
		close(pfd[0]);
		close(pfd[1]);
		return -1;
	}
	if (pid == 0) {
		struct sigaction sa = { .sa_handler = SIG_DFL };

		close(pfd[0]);
		if (own_pgrp)
			setpgid(0, 0);
		for (int s = 1; s < NSIG; s++)
			sigaction(s, &sa, NULL);
		sigprocmask(SIG_SETMASK, mask, NULL);
		for (int i = 0; i < nkeep; i++)
			fd_set_cloexec(keep[i], false);
		execvp(argv[0], argv);
		err = errno;
		n = write(pfd[1], &err, sizeof(err));
		(void)n;
		_exit(127);
	}
	close(pfd[1]);
	do {
		n = read(pfd[0], &err, sizeof(err));
	} while (n < 0 && errno == EINTR);
	close(pfd[0]);
	if (n == sizeof(err)) {
		waitpid(pid, NULL, 0);
		errno = err;
		return -1;
	}
	return pid;
}

static void describe_status(int status, char *buf, size_t len)
{
	if (WIFEXITED(status))
		snprintf(buf, len, "exited with status %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(buf, len, "was killed by signal %d (%s)", WTERMSIG(status),
			 strsignal(WTERMSIG(status)));
	else
		snprintf(buf, len, "stopped (status 0x%x)", status);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void kill_child(struct child *c, int sig)
{
	if (c->pid > 0 && !c->done)
		kill(c->pid, sig);
}

/*
 * A child that outlives SIGKILL is stuck in the kernel: name it with its
 * state and wait channel, the first things to look at.
 */
static void report_stuck(const struct child *c)
{
	char path[64], state[64] = "?", wchan[64] = "?", line[128];
	FILE *f;

	if (c->pid <= 0 || c->done)
		return;
	snprintf(path, sizeof(path), "/proc/%d/status", (int)c->pid);
	f = fopen(path, "r");
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "State: %63[^\n]", state) == 1)
			break;
	if (f)
		fclose(f);
	snprintf(path, sizeof(path), "/proc/%d/wchan", (int)c->pid);
	f = fopen(path, "r");
	if (f) {
		if (!fgets(wchan, sizeof(wchan), f))
			snprintf(wchan, sizeof(wchan), "?");
		fclose(f);
	}
	log_err("%s (pid %d) still there %d s after SIGKILL (state %s, wchan %s); giving up on it",
		c->what, (int)c->pid, KILL_GRACE_S, state, wchan);
}

int main(int argc, char **argv)
{
	struct opts o;
	struct child qemu = { .what = "QEMU" }, rem[MAX_PROXIES];
	struct qa_proxy px[MAX_PROXIES];
	int qemu_keep[2 * MAX_PROXIES], nkeep = 0;
	sigset_t block, orig;
	char err[1024], buf[128];
	char **qargv = NULL;
	double deadline = 0;
	bool killed = false;
	bool remote_failed = false;
	int exit_status = 1;

	log_init("mpqemu-run");
	if (parse_opts(argc, argv, &o) < 0) {
		usage(stderr);
		return 2;
	}
	if (!o.remote)
		o.remote = default_remote();
	if (o.ram_check &&
	    qa_check_shared_ram(o.qemu_argc, o.qemu_argv, err, sizeof(err)) < 0) {
		log_err("%s", err);
		return 2;
	}

	/* Signals are taken synchronously with sigtimedwait() below. */
	sigemptyset(&block);
	sigaddset(&block, SIGCHLD);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGHUP);
	sigprocmask(SIG_BLOCK, &block, &orig);
	signal(SIGPIPE, SIG_IGN);

	memset(rem, 0, sizeof(rem));
	for (int i = 0; i < o.nproxies; i++) {
		int sv[2];
		const char *rargv[MAX_REMOTE_ARGS + 4];
		char fdstr[16];
		int n = 0;

		px[i].id = o.proxy_ids[i];
		px[i].mpdev_fd = -1;
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
			log_err("socketpair: %s", strerror(errno));
			goto stop_all;
		}
		px[i].fd = sv[1];
		qemu_keep[nkeep++] = sv[1];
		if (o.mpdev_path) {
			px[i].mpdev_fd = open(o.mpdev_path, O_RDWR | O_CLOEXEC);
			if (px[i].mpdev_fd < 0) {
				log_err("--mpdev: cannot open %s: %s (is mpdev.ko "
					"loaded, and are you allowed to open it?)",
					o.mpdev_path, strerror(errno));
				close(sv[0]);
				goto stop_all;
			}
			qemu_keep[nkeep++] = px[i].mpdev_fd;
		}
		snprintf(fdstr, sizeof(fdstr), "%d", sv[0]);
		rargv[n++] = o.remote;
		rargv[n++] = "--fd";
		rargv[n++] = fdstr;
		for (int k = 0; k < o.nremote_args; k++)
			rargv[n++] = o.remote_args[k];
		rargv[n] = NULL;
		snprintf(rem[i].label, sizeof(rem[i].label),
			 "remote for proxy %s", px[i].id);
		rem[i].what = rem[i].label;
		if (log_verbose)
			print_cmd(rem[i].label, (char *const *)rargv);
		rem[i].pid = spawn((char *const *)rargv, &sv[0], 1, true, &orig);
		close(sv[0]);
		if (rem[i].pid < 0) {
			log_err("cannot start remote %s: %s", o.remote, strerror(errno));
			goto stop_all;
		}
	}

	qargv = qa_build_argv(o.qemu, o.qemu_argc, o.qemu_argv, px, o.nproxies,
			      o.mpdev_prop, err, sizeof(err));
	if (!qargv) {
		log_err("%s", err);
		goto stop_all;
	}
	if (log_verbose)
		print_cmd("QEMU", qargv);
	qemu.pid = spawn(qargv, qemu_keep, nkeep, false, &orig);
	if (qemu.pid < 0) {
		log_err("cannot start QEMU %s: %s", o.qemu, strerror(errno));
		goto stop_all;
	}
	/* QEMU and the remotes hold their ends now; drop ours. */
	for (int i = 0; i < nkeep; i++)
		close(qemu_keep[i]);
	nkeep = 0;

	for (;;) {
		bool remotes_left = false;
		struct timespec ts = { 0, 200 * 1000 * 1000 };
		siginfo_t si;
		int sig, status;
		pid_t pid;

		for (int i = 0; i < o.nproxies; i++)
			remotes_left |= rem[i].pid > 0 && !rem[i].done;
		if (qemu.done && !remotes_left)
			break;

		sig = sigtimedwait(&block, &si, &ts);
		if (sig == SIGINT || sig == SIGTERM || sig == SIGHUP) {
			if (!qemu.done) {
				log_info("got %s, passing it to QEMU", strsignal(sig));
				kill_child(&qemu, sig);
			}
			if (!deadline)
				deadline = now() + o.stop_timeout;
		}

		/*
		 * Reap QEMU first: when it exits, the remotes see EOF and exit
		 * too, and both may be pending here in either order.
		 */
		if (!qemu.done && waitpid(qemu.pid, &status, WNOHANG) == qemu.pid) {
			qemu.done = true;
			qemu.status = status;
			log_dbg("QEMU exited");
			/* The remotes see EOF; the signal covers a stuck one. */
			for (int i = 0; i < o.nproxies; i++)
				kill_child(&rem[i], SIGTERM);
			if (!deadline)
				deadline = now() + o.stop_timeout;
		}
		while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
			struct child *c = NULL;

			for (int i = 0; i < o.nproxies; i++)
				if (pid == rem[i].pid)
					c = &rem[i];
			if (!c)
				continue;
			c->done = true;
			c->status = status;
			if (qemu.done)
				continue;
			describe_status(status, buf, sizeof(buf));
			if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
				/* It saw EOF: QEMU closed the socket (device unplugged). */
				log_info("%s (pid %d) %s: QEMU closed its socket",
					 c->what, (int)pid, buf);
				continue;
			}
			log_err("%s (pid %d) %s; stopping QEMU", c->what, (int)pid, buf);
			remote_failed = true;
			kill_child(&qemu, SIGTERM);
			if (!deadline)
				deadline = now() + o.stop_timeout;
		}

		if (deadline && now() > deadline && killed) {
			report_stuck(&qemu);
			for (int i = 0; i < o.nproxies; i++)
				report_stuck(&rem[i]);
			break;
		}
		if (deadline && now() > deadline) {
			log_err("children still running %d s after stop; killing them",
				o.stop_timeout);
			kill_child(&qemu, SIGKILL);
			for (int i = 0; i < o.nproxies; i++)
				kill_child(&rem[i], SIGKILL);
			killed = true;
			deadline = now() + KILL_GRACE_S;
		}
	}

	if (!qemu.done)
		exit_status = 1;	/* stuck, said above */
	else if (WIFEXITED(qemu.status))
		exit_status = WEXITSTATUS(qemu.status);
	else if (WIFSIGNALED(qemu.status))
		exit_status = 128 + WTERMSIG(qemu.status);
	if (remote_failed)
		exit_status = 1;
	else if (exit_status && qemu.done) {
		describe_status(qemu.status, buf, sizeof(buf));
		log_info("QEMU %s", buf);
	}
	qa_free_argv(qargv);
	return exit_status;

stop_all:
	/* Start-up failed part way: take down whatever was started. */
	for (int i = 0; i < nkeep; i++)
		close(qemu_keep[i]);
	for (int i = 0; i < o.nproxies; i++)
		kill_child(&rem[i], SIGTERM);
	for (int i = 0; i < o.nproxies; i++)
		if (rem[i].pid > 0)
			waitpid(rem[i].pid, NULL, 0);
	qa_free_argv(qargv);
	return 1;
}
