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
#include <poll.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "qemu_args.h"
#include "qmp.h"
#include "relay.h"
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
	const char *id;		/* remotes: the proxy id */
	char **argv;		/* remotes: the command line started */
};

struct proxy_opt {
	const char *id;
	char *const *cmd;	/* --remote-cmd PROG [ARG...], or NULL */
	int ncmd;
	bool mpdev;		/* --mpdev / --mpdev-for: gets a /dev/mpdev fd */
};

struct opts {
	const char *qemu;
	const char *remote;
	const char *remote_args[MAX_REMOTE_ARGS];
	int nremote_args;
	struct proxy_opt px[MAX_PROXIES];
	int nproxies;
	bool ram_check;
	bool mpdev_all;			/* --mpdev */
	const char *mpdev_for[MAX_PROXIES];	/* --mpdev-for */
	int nmpdev_for;
	const char *mpdev_path;
	const char *mpdev_prop;
	const char *run_dir;
	bool zero_patch;		/* --zero-patch */
	const char *qmp_path;		/* --qmp */
	int stop_timeout;
	int qemu_argc;
	char **qemu_argv;
};

static void usage(FILE *f)
{
	fprintf(f,
"usage: mpqemu-run [options] -- QEMU_ARGS...\n"
"\n"
"Run QEMU with x-pci-proxy-dev devices, each served by its own remote\n"
"process: mpdev-remote, or any command given with --remote-cmd.\n"
"\n"
"  --qemu PATH          QEMU binary (default: $MPQEMU_QEMU, else\n"
"                       qemu-system-x86_64 from PATH)\n"
"  --remote PATH        default remote binary, started as PATH --fd N ARGS\n"
"                       (default: mpdev-remote next to this program, else\n"
"                       from PATH)\n"
"  --remote-arg ARG     extra argument for every default remote (repeatable;\n"
"                       taken literally, no placeholders)\n"
"  --remote-cmd ID PROG [ARG...] ;\n"
"                       proxy ID's remote is the command PROG ARG..., up to\n"
"                       an argument that is exactly ';' (quote it from the\n"
"                       shell); implies --proxy ID; one per proxy\n"
"  --proxy ID           add a proxy device with QEMU id ID (repeatable;\n"
"                       default: one proxy, mpdev0)\n"
"  --run-dir DIR        remote ID's stdout+stderr go to DIR/ID.log; its pid\n"
"                       to DIR/ID.pid, its end to DIR/ID.exit (\"exit N\" or\n"
"                       \"signal N\" and the UTC time); DIR is created\n"
"  --no-ram-check       do not insist on shared memfd/file guest RAM\n"
"  --mpdev[=PATH]       open /dev/mpdev (or PATH) once per proxy and pass\n"
"                       it to a patched QEMU (see --mpdev-prop)\n"
"  --mpdev-for ID       the same for proxy ID only (repeatable); a proxy\n"
"                       with a stock remote must not get it\n"
"  --mpdev-path PATH    device for --mpdev-for (default /dev/mpdev)\n"
"  --mpdev-prop NAME    proxy property for that fd (default mpdev-fd)\n"
"  --zero-patch         mpdev with an unmodified QEMU (as root): relay each\n"
"                       proxy's socket, attach QEMU's KVM VM to mpdev, hand\n"
"                       the remote its backend and keep the BARs on KVM's\n"
"                       buses where QMP query-pci puts them; the remote must\n"
"                       understand MPDEV_BACKEND (mpdev-remote does)\n"
"  --qmp PATH           with --zero-patch: QEMU's QMP socket to use (QEMU_ARGS\n"
"                       create it); default: a monitor of our own is added\n"
"  --stop-timeout SEC   grace time before SIGKILL (default 5)\n"
"  -v, --verbose        print the command lines\n"
"  -h, --help           this text\n"
"\n"
"In a --remote-cmd command, inside any argument: @FD@ is the remote's end\n"
"of its socketpair (inherited), @ID@ the proxy id, @RUNDIR@ the --run-dir,\n"
"@@ a literal '@'; another @NAME@ is an error, and the command must use\n"
"@FD@.  Nothing else is interpreted: no shell, commas and quotes are\n"
"passed as they are.\n"
"\n"
"In QEMU_ARGS, @PROXY_FD@ / @PROXY_FD:ID@ become the proxy socket fd and\n"
"@MPDEV_FD@ / @MPDEV_FD:ID@ the /dev/mpdev fd; a proxy whose fd is not\n"
"mentioned gets '-device x-pci-proxy-dev,id=ID,fd=N' appended.\n"
"\n"
"Exit status: QEMU's (128+N if killed by signal N); 1 if a remote died\n"
"first (\"remote for proxy ID (pid N, PROG) exited with status S; stopping\n"
"QEMU\") or something failed to start; 2 on bad usage.\n");
}

static struct proxy_opt *find_proxy(struct opts *o, const char *id)
{
	for (int i = 0; i < o->nproxies; i++)
		if (!strcmp(o->px[i].id, id))
			return &o->px[i];
	return NULL;
}

/* The proxy @id, added if new; NULL (said why) if it cannot be. */
static struct proxy_opt *add_proxy(struct opts *o, const char *opt,
				   const char *id)
{
	struct proxy_opt *p = find_proxy(o, id);

	if (p)
		return p;
	if (o->nproxies == MAX_PROXIES) {
		log_err("at most %d proxies", MAX_PROXIES);
		return NULL;
	}
	/* '/' because the id names files in --run-dir. */
	if (!*id || strpbrk(id, ",=@ /")) {
		log_err("%s '%s': an id may not be empty or contain "
			"',', '=', '@', '/' or spaces", opt, id);
		return NULL;
	}
	p = &o->px[o->nproxies++];
	p->id = id;
	return p;
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
	enum { O_QEMU = 256, O_REMOTE, O_RARG, O_RCMD, O_PROXY, O_RUNDIR,
	       O_NORAM, O_MPDEV, O_MPFOR, O_MPATH, O_MPROP, O_STOP, O_ZP,
	       O_QMP };
	static const struct option lo[] = {
		{ "qemu", required_argument, NULL, O_QEMU },
		{ "remote", required_argument, NULL, O_REMOTE },
		{ "remote-arg", required_argument, NULL, O_RARG },
		{ "remote-cmd", required_argument, NULL, O_RCMD },
		{ "proxy", required_argument, NULL, O_PROXY },
		{ "run-dir", required_argument, NULL, O_RUNDIR },
		{ "no-ram-check", no_argument, NULL, O_NORAM },
		{ "mpdev", optional_argument, NULL, O_MPDEV },
		{ "mpdev-for", required_argument, NULL, O_MPFOR },
		{ "mpdev-path", required_argument, NULL, O_MPATH },
		{ "mpdev-prop", required_argument, NULL, O_MPROP },
		{ "stop-timeout", required_argument, NULL, O_STOP },
		{ "zero-patch", no_argument, NULL, O_ZP },
		{ "qmp", required_argument, NULL, O_QMP },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct proxy_opt *p;
	char err[1024];
	long v;
	int c, end;

	memset(o, 0, sizeof(*o));
	o->qemu = getenv("MPQEMU_QEMU");
	if (!o->qemu || !*o->qemu)
		o->qemu = "qemu-system-x86_64";
	o->ram_check = true;
	o->mpdev_path = "/dev/mpdev";
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
		case O_RCMD:
			/*
			 * The command is argv[optind..] up to a lone ";", none
			 * of it ours: skip getopt past it.
			 */
			end = qa_cmd_end(argc - optind, argv + optind);
			if (end < 0) {
				log_err("--remote-cmd %s: no ';' argument ends the "
					"command (write ';' or \\; in a shell)", optarg);
				return -1;
			}
			if (end == 0) {
				log_err("--remote-cmd %s: empty command", optarg);
				return -1;
			}
			p = add_proxy(o, "--remote-cmd", optarg);
			if (!p)
				return -1;
			if (p->cmd) {
				log_err("--remote-cmd %s given twice", optarg);
				return -1;
			}
			p->cmd = argv + optind;
			p->ncmd = end;
			optind += end + 1;
			break;
		case O_PROXY:
			if (find_proxy(o, optarg) && !find_proxy(o, optarg)->cmd) {
				log_err("--proxy %s given twice", optarg);
				return -1;
			}
			if (!add_proxy(o, "--proxy", optarg))
				return -1;
			break;
		case O_RUNDIR:
			if (!*optarg) {
				log_err("--run-dir: empty path");
				return -1;
			}
			o->run_dir = optarg;
			break;
		case O_NORAM:
			o->ram_check = false;
			break;
		case O_MPDEV:
			o->mpdev_all = true;
			if (optarg)
				o->mpdev_path = optarg;
			break;
		case O_MPFOR:
			if (o->nmpdev_for == MAX_PROXIES) {
				log_err("too many --mpdev-for");
				return -1;
			}
			o->mpdev_for[o->nmpdev_for++] = optarg;
			break;
		case O_MPATH:
			o->mpdev_path = optarg;
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
		case O_ZP:
			o->zero_patch = true;
			break;
		case O_QMP:
			if (!*optarg) {
				log_err("--qmp: empty path");
				return -1;
			}
			o->qmp_path = optarg;
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
		add_proxy(o, "--proxy", "mpdev0");

	if (o->zero_patch && (o->mpdev_all || o->nmpdev_for)) {
		log_err("--zero-patch serves every proxy through mpdev with a stock "
			"QEMU; --mpdev/--mpdev-for are for the patched one");
		return -1;
	}
	if (o->qmp_path && !o->zero_patch) {
		log_err("--qmp is for --zero-patch");
		return -1;
	}
	if (o->mpdev_all && o->nmpdev_for) {
		log_err("--mpdev gives every proxy a /dev/mpdev fd; for only some, "
			"use --mpdev-for alone");
		return -1;
	}
	for (int i = 0; i < o->nmpdev_for; i++) {
		p = find_proxy(o, o->mpdev_for[i]);
		if (!p) {
			log_err("--mpdev-for %s: no such proxy (give --proxy or "
				"--remote-cmd)", o->mpdev_for[i]);
			return -1;
		}
		p->mpdev = true;
	}
	for (int i = 0; i < o->nproxies; i++) {
		struct qa_remote_vars rv = { o->px[i].id, 0, o->run_dir };
		char **a;

		if (o->mpdev_all)
			o->px[i].mpdev = true;
		if (!o->px[i].cmd)
			continue;
		/* Placeholder mistakes are usage errors: find them now. */
		a = qa_build_remote_argv(o->px[i].ncmd, o->px[i].cmd, &rv, err,
					 sizeof(err));
		if (!a) {
			log_err("%s", err);
			return -1;
		}
		qa_free_argv(a);
	}
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
 * fork+exec with @keep fds inherited and the signal mask restored, stdout
 * and stderr on @out_fd unless it is -1.  An exec failure comes back
 * through a CLOEXEC pipe so it is reported here, plainly, instead of as a
 * mysterious exit status 127.
 */
static pid_t spawn(char *const *argv, const int *keep, int nkeep,
		   bool own_pgrp, const sigset_t *mask, int out_fd, bool tied)
{
	pid_t parent = getpid(), pid;
	int pfd[2], err = 0;
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
		/*
		 * Tied to us: without mpqemu-run the relay is gone, so the
		 * device is too; SIGTERM stops QEMU (and the remote) cleanly.
		 */
		if (tied && (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0 ||
			     getppid() != parent))
			_exit(127);
		for (int s = 1; s < NSIG; s++)
			sigaction(s, &sa, NULL);
		sigprocmask(SIG_SETMASK, mask, NULL);
		if (out_fd >= 0 && (dup2(out_fd, 1) < 0 || dup2(out_fd, 2) < 0)) {
			err = errno;
			n = write(pfd[1], &err, sizeof(err));
			_exit(127);
		}
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

/* DIR/ID.SUFFIX */
static void run_path(const struct opts *o, const char *id, const char *suffix,
		     char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s.%s", o->run_dir, id, suffix);
}

/*
 * Write @text to DIR/ID.SUFFIX through a temporary file and rename(), so
 * whoever waits for the file never reads half of it.
 */
static int write_run_file(const struct opts *o, const char *id,
			  const char *suffix, const char *text)
{
	char path[PATH_MAX], tmp[PATH_MAX + 16];
	size_t len = strlen(text);
	int fd;

	run_path(o, id, suffix, path, sizeof(path));
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, text, len) != (ssize_t)len || close(fd) < 0 ||
	    rename(tmp, path) < 0) {
		log_err("cannot write %s: %s", path, strerror(errno));
		if (fd >= 0)
			unlink(tmp);
		return -1;
	}
	return 0;
}

/* DIR/ID.exit: "exit N" or "signal N", and the UTC time. */
static void write_exit_file(const struct opts *o, const struct child *c)
{
	char line[128], when[64];
	struct timespec ts;
	struct tm tm;

	if (!o->run_dir)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	if (WIFSIGNALED(c->status))
		snprintf(line, sizeof(line), "signal %d %s.%03ldZ\n",
			 WTERMSIG(c->status), when, ts.tv_nsec / 1000000);
	else
		snprintf(line, sizeof(line), "exit %d %s.%03ldZ\n",
			 WEXITSTATUS(c->status), when, ts.tv_nsec / 1000000);
	write_run_file(o, c->id, "exit", line);
}

static int make_run_dir(const char *dir)
{
	struct stat st;

	if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
		log_err("--run-dir: cannot create %s: %s", dir, strerror(errno));
		return -1;
	}
	if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
		log_err("--run-dir: %s is not a directory", dir);
		return -1;
	}
	return 0;
}

/* REMOTE --fd N [--remote-arg...], for a proxy without --remote-cmd. */
static char **default_remote_argv(const struct opts *o, int fd)
{
	char **a = calloc(o->nremote_args + 4, sizeof(*a));
	int n = 0;

	if (!a)
		return NULL;
	a[n++] = strdup(o->remote);
	a[n++] = strdup("--fd");
	if (asprintf(&a[n++], "%d", fd) < 0)
		a[n - 1] = NULL;
	for (int k = 0; k < o->nremote_args; k++)
		a[n++] = strdup(o->remote_args[k]);
	for (int k = 0; k < n; k++) {
		if (!a[k]) {
			for (int j = 0; j < n; j++)
				free(a[j]);
			free(a);
			return NULL;
		}
	}
	return a;
}

/* A remote ended while QEMU runs: report it; true if QEMU must stop. */
static bool remote_ended(const struct opts *o, const struct child *c)
{
	char how[64], logp[PATH_MAX + 16] = "";

	if (WIFEXITED(c->status) && WEXITSTATUS(c->status) == 0) {
		/* It saw EOF: QEMU closed the socket (device unplugged). */
		log_info("%s (pid %d, %s) exited with status 0: QEMU closed its socket",
			 c->what, (int)c->pid, c->argv[0]);
		return false;
	}
	if (WIFEXITED(c->status))
		snprintf(how, sizeof(how), "exited with status %d",
			 WEXITSTATUS(c->status));
	else if (WIFSIGNALED(c->status))
		snprintf(how, sizeof(how), "was killed by signal %d",
			 WTERMSIG(c->status));
	else
		snprintf(how, sizeof(how), "stopped (status 0x%x)", c->status);
	if (o->run_dir) {
		snprintf(logp, sizeof(logp), " (log: ");
		run_path(o, c->id, "log", logp + 7, sizeof(logp) - 8);
		strcat(logp, ")");
	}
	log_info("%s (pid %d, %s) %s; stopping QEMU%s", c->what, (int)c->pid,
		 c->argv[0], how, logp);
	return true;
}

/*
 * --zero-patch without --qmp: a QMP monitor of our own on a socket in a
 * private directory (QEMU creates it at start-up, before any device).
 */
static int add_qmp_monitor(char ***argvp, const char *sock)
{
	char *add[4] = { NULL };
	char **a = *argvp, **na;
	int n = 0;

	while (a[n])
		n++;
	add[0] = strdup("-chardev");
	if (asprintf(&add[1], "socket,id=mpqemu-run-qmp,path=%s,server=on,wait=off",
		     sock) < 0)
		add[1] = NULL;
	add[2] = strdup("-mon");
	add[3] = strdup("chardev=mpqemu-run-qmp,mode=control");
	na = realloc(a, (n + 5) * sizeof(*a));
	if (!na || !add[0] || !add[1] || !add[2] || !add[3]) {
		for (int i = 0; i < 4; i++)
			free(add[i]);
		if (na)
			*argvp = na;
		return -1;
	}
	memcpy(na + n, add, sizeof(add));
	na[n + 4] = NULL;
	*argvp = na;
	return 0;
}

/*
 * One relay's turn.  QEMU's side gone: drop the relay, so that the
 * remote sees EOF as if QEMU had closed it.  The remote's side broken:
 * say why and kill the remote; its death then stops QEMU as any remote's
 * does, and dropping the relay answers QEMU at once (EOF, all-ones)
 * instead of leaving a vCPU waiting for a reply that will never come.
 */
static void relay_step(struct relay **relays, int i, short qrev, short rrev,
		       struct child *remote, bool qemu_done)
{
	enum relay_status st = RELAY_OK;

	if (qrev & (POLLIN | POLLHUP | POLLERR))
		st = relay_from_qemu(relays[i]);
	if (st == RELAY_OK && (rrev & (POLLIN | POLLHUP | POLLERR)))
		st = relay_from_remote(relays[i]);
	if (st == RELAY_OK)
		return;
	/* Once QEMU is gone, the remotes are being stopped: no news. */
	if (st == RELAY_REMOTE_BAD && !remote->done && !qemu_done) {
		log_info("zero-patch: %s; stopping the %s", relay_why(relays[i]),
			 remote->what);
		kill_child(remote, SIGKILL);
	} else {
		log_dbg("zero-patch: relay of proxy %s: %s", remote->id,
			relay_why(relays[i]));
	}
	relay_free(relays[i]);
	relays[i] = NULL;
}

static void zp_cleanup(struct relay **relays, int n, struct zp_vmm *v,
		       const char *qmp_dir)	/* NULL if none was made */
{
	char path[96];

	for (int i = 0; i < n; i++) {
		relay_free(relays[i]);
		relays[i] = NULL;
	}
	if (v->qmp)
		qmp_close(v->qmp);
	v->qmp = NULL;
	close_fd(&v->vm_fd);
	/* Our own monitor's socket and its directory, if made. */
	if (qmp_dir) {
		snprintf(path, sizeof(path), "%s/qmp", qmp_dir);
		unlink(path);
		rmdir(qmp_dir);
	}
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
	struct relay *relays[MAX_PROXIES] = { NULL };
	struct zp_vmm vmm = { .vm_fd = -1 };
	char qmp_dir[] = "/tmp/mpqemu-run.XXXXXX", qmp_sock[64] = "";
	bool qmp_made = false;
	double deadline = 0;
	bool killed = false;
	int sfd;
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
	if (o.run_dir && make_run_dir(o.run_dir) < 0)
		return 1;

	/* Signals are taken synchronously through a signalfd below. */
	sigemptyset(&block);
	sigaddset(&block, SIGCHLD);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGHUP);
	sigprocmask(SIG_BLOCK, &block, &orig);
	signal(SIGPIPE, SIG_IGN);
	sfd = signalfd(-1, &block, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0) {
		log_err("signalfd: %s", strerror(errno));
		return 1;
	}
	vmm.mpdev_path = o.mpdev_path;
	vmm.qmp_path = o.qmp_path;
	vmm.run_dir = o.run_dir;

	memset(rem, 0, sizeof(rem));
	for (int i = 0; i < o.nproxies; i++) {
		struct proxy_opt *po = &o.px[i];
		char path[PATH_MAX + 16];
		int sv[2], log_fd = -1;

		px[i].id = po->id;
		px[i].mpdev_fd = -1;
		rem[i].id = po->id;
		snprintf(rem[i].label, sizeof(rem[i].label),
			 "remote for proxy %s", po->id);
		rem[i].what = rem[i].label;
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
			log_err("socketpair: %s", strerror(errno));
			goto stop_all;
		}
		if (o.zero_patch) {
			/* QEMU - us - the remote: sv[1] is ours, qv[0] too. */
			int qv[2];

			if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, qv) < 0) {
				log_err("socketpair: %s", strerror(errno));
				close(sv[0]);
				close(sv[1]);
				goto stop_all;
			}
			relays[i] = relay_new(&vmm, po->id, qv[0], sv[1]);
			if (!relays[i]) {
				log_err("out of memory");
				close(sv[0]);
				close(qv[1]);
				goto stop_all;
			}
			sv[1] = qv[1];
		}
		px[i].fd = sv[1];
		qemu_keep[nkeep++] = sv[1];
		if (po->mpdev) {
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
		if (po->cmd) {
			struct qa_remote_vars rv = { po->id, sv[0], o.run_dir };

			rem[i].argv = qa_build_remote_argv(po->ncmd, po->cmd, &rv,
							   err, sizeof(err));
			if (!rem[i].argv)
				log_err("%s", err);
		} else {
			rem[i].argv = default_remote_argv(&o, sv[0]);
			if (!rem[i].argv)
				log_err("out of memory");
		}
		if (!rem[i].argv) {
			close(sv[0]);
			goto stop_all;
		}
		if (o.run_dir) {
			/* No stale end from an earlier run. */
			run_path(&o, po->id, "exit", path, sizeof(path));
			unlink(path);
			run_path(&o, po->id, "log", path, sizeof(path));
			log_fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
				      0644);
			if (log_fd < 0) {
				log_err("cannot create %s: %s", path, strerror(errno));
				close(sv[0]);
				goto stop_all;
			}
		}
		if (log_verbose)
			print_cmd(rem[i].label, rem[i].argv);
		rem[i].pid = spawn(rem[i].argv, &sv[0], 1, true, &orig, log_fd,
				   o.zero_patch);
		close(sv[0]);
		if (log_fd >= 0)
			close(log_fd);
		if (rem[i].pid < 0) {
			log_err("cannot start the %s, %s: %s", rem[i].label,
				rem[i].argv[0], strerror(errno));
			goto stop_all;
		}
		if (o.run_dir) {
			snprintf(buf, sizeof(buf), "%d\n", (int)rem[i].pid);
			if (write_run_file(&o, po->id, "pid", buf) < 0)
				goto stop_all;
		}
	}

	qargv = qa_build_argv(o.qemu, o.qemu_argc, o.qemu_argv, px, o.nproxies,
			      o.mpdev_prop, err, sizeof(err));
	if (!qargv) {
		log_err("%s", err);
		goto stop_all;
	}
	if (o.zero_patch && !o.qmp_path) {
		if (!mkdtemp(qmp_dir)) {
			log_err("mkdtemp %s: %s", qmp_dir, strerror(errno));
			goto stop_all;
		}
		qmp_made = true;
		snprintf(qmp_sock, sizeof(qmp_sock), "%s/qmp", qmp_dir);
		vmm.qmp_path = qmp_sock;
		if (add_qmp_monitor(&qargv, qmp_sock) < 0) {
			log_err("out of memory");
			goto stop_all;
		}
	}
	if (log_verbose)
		print_cmd("QEMU", qargv);
	qemu.pid = spawn(qargv, qemu_keep, nkeep, false, &orig, -1,
			 o.zero_patch);
	if (qemu.pid < 0) {
		log_err("cannot start QEMU %s: %s", o.qemu, strerror(errno));
		goto stop_all;
	}
	vmm.qemu_pid = qemu.pid;
	/* QEMU and the remotes hold their ends now; drop ours. */
	for (int i = 0; i < nkeep; i++)
		close(qemu_keep[i]);
	nkeep = 0;

	for (;;) {
		struct pollfd pf[1 + 2 * MAX_PROXIES];
		struct signalfd_siginfo si;
		bool remotes_left = false;
		int np = 0, status;
		pid_t pid;

		for (int i = 0; i < o.nproxies; i++)
			remotes_left |= rem[i].pid > 0 && !rem[i].done;
		if (qemu.done && !remotes_left)
			break;

		pf[np++] = (struct pollfd){ .fd = sfd, .events = POLLIN };
		for (int i = 0; i < o.nproxies; i++) {
			if (!relays[i])
				continue;
			pf[np++] = (struct pollfd){ .fd = relay_qemu_fd(relays[i]),
						    .events = POLLIN };
			pf[np++] = (struct pollfd){ .fd = relay_remote_fd(relays[i]),
						    .events = POLLIN };
		}
		if (poll(pf, np, 200) < 0 && errno != EINTR) {
			log_err("poll: %s", strerror(errno));
			sleep(1);
		}
		while (read(sfd, &si, sizeof(si)) == sizeof(si)) {
			int sig = (int)si.ssi_signo;

			if (sig != SIGINT && sig != SIGTERM && sig != SIGHUP)
				continue;
			if (!qemu.done) {
				log_info("got %s, passing it to QEMU", strsignal(sig));
				kill_child(&qemu, sig);
			}
			if (!deadline)
				deadline = now() + o.stop_timeout;
		}
		for (int i = 0, k = 1; i < o.nproxies; i++) {
			if (!relays[i])
				continue;
			relay_step(relays, i, pf[k].revents, pf[k + 1].revents,
				   &rem[i], qemu.done);
			k += 2;
		}

		/*
		 * Reap QEMU first: when it exits, the remotes see EOF and exit
		 * too, and both may be pending here in either order.
		 */
		pid = qemu.done ? 0 : waitpid(qemu.pid, &status, WNOHANG);
		for (;;) {
			struct child *c = NULL;

			if (pid == qemu.pid && !qemu.done) {
				qemu.done = true;
				qemu.status = status;
				log_dbg("QEMU exited");
				/* The remotes see EOF; the signal covers a stuck one. */
				for (int i = 0; i < o.nproxies; i++)
					kill_child(&rem[i], SIGTERM);
				if (!deadline)
					deadline = now() + o.stop_timeout;
			}
			/*
			 * QEMU may turn zombie only now, after a remote: this
			 * waitpid() reaps it as well, so it is handled above.
			 */
			pid = waitpid(-1, &status, WNOHANG);
			if (pid <= 0)
				break;
			if (pid == qemu.pid)
				continue;
			for (int i = 0; i < o.nproxies; i++)
				if (pid == rem[i].pid)
					c = &rem[i];
			if (!c)
				continue;
			c->done = true;
			c->status = status;
			write_exit_file(&o, c);
			if (qemu.done || !remote_ended(&o, c))
				continue;
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
	for (int i = 0; i < o.nproxies; i++)
		qa_free_argv(rem[i].argv);
	zp_cleanup(relays, o.nproxies, &vmm, qmp_made ? qmp_dir : NULL);
	return exit_status;

stop_all:
	/* Start-up failed part way: take down whatever was started. */
	for (int i = 0; i < nkeep; i++)
		close(qemu_keep[i]);
	for (int i = 0; i < o.nproxies; i++)
		kill_child(&rem[i], SIGTERM);
	for (int i = 0; i < o.nproxies; i++) {
		if (rem[i].pid > 0 && waitpid(rem[i].pid, &rem[i].status, 0) > 0) {
			rem[i].done = true;
			write_exit_file(&o, &rem[i]);
		}
		qa_free_argv(rem[i].argv);
	}
	qa_free_argv(qargv);
	zp_cleanup(relays, o.nproxies, &vmm, qmp_made ? qmp_dir : NULL);
	return 1;
}
