// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * mpdev-remote: out-of-process PCI device for QEMU's x-pci-proxy-dev.
 *
 * Serves the mpqemu protocol on an inherited socket and, when given one, an
 * mpdev backend fd.  One thread: the device model is never entered twice
 * at once, and socket and fast-path accesses are serialised in arrival
 * order.  Needs no privileges: everything it touches arrives as an fd.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "devmodel.h"
#include "link.h"
#include "mpdev_srv.h"
#include "remote.h"
#include "util.h"

#define VERSION "0.1"

static volatile sig_atomic_t got_stop, got_usr1;
static int stop_signal;

/* Tell the CPU we are spinning (frees the sibling hyperthread). */
static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

struct opts {
	int sock;
	const char *device;
	const char *device_arg;
	int mpdev_fd;
	bool poll_ring;
	const char *stats_file;
	const char *user;
};

struct ctx {
	struct opts o;
	struct remote *r;
	struct mpdev_srv srv;
};

static void usage(FILE *f)
{
	fprintf(f,
"usage: mpdev-remote --fd N [options]\n"
"\n"
"Out-of-process PCI device for QEMU's x-pci-proxy-dev (mpqemu protocol).\n"
"\n"
"  --fd N             connected mpqemu stream socket (inherited fd)\n"
"  --device NAME      device model (default mpdev-testdev; 'help' lists)\n"
"  --device-arg STR   argument string for the device model\n"
"  --mpdev-fd N       inherited mpdev backend fd: serve the fast path now\n"
"                     (BAR from each request's cookie, else region id)\n"
"  --poll             serve mpdev by busy-polling its shared ring\n"
"                     (default: blocking poll()/read()/write())\n"
"  --stats-file PATH  write counters there on SIGUSR1 and at exit\n"
"  --user NAME        drop to this user and its group at start (as root)\n"
"  -v, --verbose      log every message\n"
"  -h, --help         this text\n"
"      --version      print the version\n"
"\n"
"SIGUSR1 dumps the counters to stderr (and the stats file).\n"
"SIGINT/SIGTERM/SIGHUP stop the remote.  Exit status: 0 when the peer\n"
"closed the socket, 128+N on signal N, 1 on a protocol or I/O error,\n"
"2 on bad usage.\n");
}

static void on_signal(int sig)
{
	if (sig == SIGUSR1) {
		got_usr1 = 1;
	} else {
		got_stop = 1;
		stop_signal = sig;
	}
}

static int parse_fd_arg(const char *s, const char *what)
{
	long v;

	if (!parse_int_range(s, 0, 1 << 20, &v)) {
		log_err("%s: '%s' is not a file descriptor number", what, s);
		return -1;
	}
	return (int)v;
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
	enum { O_FD = 256, O_DEVICE, O_DEVARG, O_MPDEV, O_POLL, O_STATS, O_USER,
	       O_VERSION };
	static const struct option lo[] = {
		{ "fd", required_argument, NULL, O_FD },
		{ "device", required_argument, NULL, O_DEVICE },
		{ "device-arg", required_argument, NULL, O_DEVARG },
		{ "mpdev-fd", required_argument, NULL, O_MPDEV },
		{ "poll", no_argument, NULL, O_POLL },
		{ "stats-file", required_argument, NULL, O_STATS },
		{ "user", required_argument, NULL, O_USER },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, O_VERSION },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	memset(o, 0, sizeof(*o));
	o->sock = -1;
	o->mpdev_fd = -1;
	o->device = "mpdev-testdev";
	while ((c = getopt_long(argc, argv, "vh", lo, NULL)) != -1) {
		switch (c) {
		case O_FD:
			if ((o->sock = parse_fd_arg(optarg, "--fd")) < 0)
				return -1;
			break;
		case O_DEVICE:
			o->device = optarg;
			break;
		case O_DEVARG:
			o->device_arg = optarg;
			break;
		case O_MPDEV:
			if ((o->mpdev_fd = parse_fd_arg(optarg, "--mpdev-fd")) < 0)
				return -1;
			break;
		case O_POLL:
			o->poll_ring = true;
			break;
		case O_STATS:
			o->stats_file = optarg;
			break;
		case O_USER:
			o->user = optarg;
			break;
		case 'v':
			log_verbose = 1;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		case O_VERSION:
			printf("mpdev-remote %s\n", VERSION);
			exit(0);
		default:
			return -1;
		}
	}
	if (optind < argc) {
		log_err("unexpected argument '%s'", argv[optind]);
		return -1;
	}
	if (!strcmp(o->device, "help")) {
		printf("device models:\n");
		devmodel_list(stdout);
		exit(0);
	}
	if (o->sock < 0) {
		log_err("--fd is required");
		return -1;
	}
	if (o->poll_ring && o->mpdev_fd < 0)
		log_info("--poll applies once an mpdev backend fd arrives");
	return 0;
}

static int check_fds(const struct opts *o)
{
	struct stat st;
	int type;
	socklen_t len = sizeof(type);

	if (fstat(o->sock, &st) < 0 || !S_ISSOCK(st.st_mode) ||
	    getsockopt(o->sock, SOL_SOCKET, SO_TYPE, &type, &len) < 0 ||
	    type != SOCK_STREAM) {
		log_err("--fd %d is not an open stream socket", o->sock);
		return -1;
	}
	if (o->mpdev_fd >= 0 && fstat(o->mpdev_fd, &st) < 0) {
		log_err("--mpdev-fd %d is not open", o->mpdev_fd);
		return -1;
	}
	fd_set_cloexec(o->sock, true);
	if (o->mpdev_fd >= 0)
		fd_set_cloexec(o->mpdev_fd, true);
	return 0;
}

/* Drop to @user for good; refuse to go on if that cannot be done fully. */
static int drop_privileges(const char *user)
{
	struct passwd *pw = getpwnam(user);

	if (!pw) {
		log_err("--user: no user '%s'", user);
		return -1;
	}
	if (getuid() == pw->pw_uid && geteuid() == pw->pw_uid)
		return 0;
	if (setgroups(0, NULL) < 0 || setgid(pw->pw_gid) < 0 ||
	    setuid(pw->pw_uid) < 0) {
		log_err("--user %s: cannot switch user: %s", user, strerror(errno));
		return -1;
	}
	if (setuid(0) == 0) {
		log_err("--user %s: could regain root; refusing to run", user);
		return -1;
	}
	log_dbg("running as %s (uid %u)", user, (unsigned)pw->pw_uid);
	return 0;
}

static void write_stats(struct ctx *c, bool to_stderr)
{
	if (to_stderr) {
		fprintf(stderr, "# mpdev-remote stats pid=%d device=%s\n",
			(int)getpid(), remote_device_name(c->r));
		remote_dump_stats(c->r, stderr);
	}
	if (c->o.stats_file) {
		/* Write aside and rename, so readers never see half a file. */
		char tmp[4096];
		FILE *f;

		snprintf(tmp, sizeof(tmp), "%s.tmp.%d", c->o.stats_file,
			 (int)getpid());
		f = fopen(tmp, "w");
		if (!f) {
			log_err("stats file %s: %s", tmp, strerror(errno));
			return;
		}
		fprintf(f, "# mpdev-remote stats pid=%d device=%s\n",
			(int)getpid(), remote_device_name(c->r));
		remote_dump_stats(c->r, f);
		if (fclose(f) != 0 || rename(tmp, c->o.stats_file) != 0) {
			log_err("stats file %s: %s", c->o.stats_file, strerror(errno));
			unlink(tmp);
		}
	}
}

static uint64_t on_backend(void *opaque, int fd, const int *bar_of_region)
{
	struct ctx *c = opaque;

	return mpdev_srv_attach(&c->srv, fd, c->o.poll_ring, bar_of_region) ?
	       ~0ull : MPQ_MPDEV_OK;
}

/* Serves every request queued on the fast path right now. */
static void drain_fast_path(struct ctx *c)
{
	while (c->srv.fd >= 0) {
		int served = c->srv.ring_mode ?
			mpdev_srv_poll_ring(&c->srv, c->r) :
			mpdev_srv_serve_fd(&c->srv, c->r);

		if (served <= 0)
			break;
	}
}

/*
 * Wait for and handle one round of events.  @timeout_ms 0 only polls.
 * Returns 1 to go on, 0 to stop cleanly, -1 on error.
 */
static int service(struct ctx *c, int timeout_ms, const sigset_t *waitmask)
{
	struct pollfd p[3];
	struct intx *x = remote_intx(c->r);
	bool fd_mode = c->srv.fd >= 0 && !c->srv.ring_mode;
	struct timespec ts = { timeout_ms / 1000, (timeout_ms % 1000) * 1000000L };
	int n = 0, i_sock, i_res = -1, i_mp = -1, rc;

	i_sock = n;
	p[n++] = (struct pollfd){ .fd = c->o.sock, .events = POLLIN };
	if (x->resamplefd >= 0) {
		i_res = n;
		p[n++] = (struct pollfd){ .fd = x->resamplefd, .events = POLLIN };
	}
	if (c->srv.fd >= 0) {
		/* In ring mode only for hang-up: the context failed. */
		i_mp = n;
		p[n++] = (struct pollfd){ .fd = c->srv.fd,
					  .events = fd_mode ? POLLIN : 0 };
	}
	rc = ppoll(p, n, timeout_ms < 0 ? NULL : &ts, waitmask);
	if (rc < 0)
		return errno == EINTR ? 1 : -1;
	/* The fast path first: vCPUs are spinning on it. */
	if (i_mp >= 0 && p[i_mp].revents) {
		if (p[i_mp].revents & (POLLERR | POLLHUP | POLLNVAL) &&
		    (!fd_mode || !(p[i_mp].revents & POLLIN))) {
			log_err("mpdev backend hung up; serving the socket path only");
			mpdev_srv_detach(&c->srv);
		} else {
			mpdev_srv_serve_fd(&c->srv, c->r);
		}
	}
	if (i_res >= 0 && p[i_res].revents)
		intx_resample(x);
	if (p[i_sock].revents) {
		enum link_status st;

		/*
		 * PCI ordering: a config access must not pass the guest's
		 * earlier posted BAR writes, which may still sit in the
		 * mpdev queue.  Everything queued before the socket message
		 * was sent is in the queue by now: drain it first.
		 */
		drain_fast_path(c);
		st = link_serve_one(c->o.sock, c->r);

		if (st == LINK_EOF) {
			log_info("peer closed the connection");
			return 0;
		}
		if (st == LINK_ERROR)
			return -1;
	}
	return 1;
}

static int run(struct ctx *c)
{
	sigset_t block, orig;
	unsigned int idle = 0;
	int rc = 1;

	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGHUP);
	sigaddset(&block, SIGUSR1);
	sigprocmask(SIG_BLOCK, &block, &orig);

	while (rc > 0) {
		if (c->srv.fd >= 0 && c->srv.ring_mode) {
			/*
			 * Busy-poll: the ring every round, the socket (and the
			 * signals, unblocked inside ppoll) every 256 idle rounds.
			 */
			int served = mpdev_srv_poll_ring(&c->srv, c->r);

			if (served > 0) {
				idle = 0;
				continue;
			}
			if (served == 0 && ++idle % 256) {
				cpu_relax();
				continue;
			}
			rc = service(c, 0, &orig);
		} else {
			rc = service(c, -1, &orig);
		}
		if (got_usr1) {
			got_usr1 = 0;
			write_stats(c, true);
		}
		if (got_stop) {
			log_info("stopping on %s", strsignal(stop_signal));
			/* 128+N like a shell: a supervisor can tell it from EOF. */
			return 128 + stop_signal;
		}
	}
	return rc < 0 ? 1 : 0;
}

int main(int argc, char **argv)
{
	struct ctx c;
	struct sigaction sa;
	const struct devmodel_ops *ops;
	char err[256];
	int status;

	log_init("mpdev-remote");
	memset(&c, 0, sizeof(c));
	if (parse_opts(argc, argv, &c.o) < 0) {
		usage(stderr);
		return 2;
	}
	ops = devmodel_find(c.o.device);
	if (!ops) {
		log_err("unknown device model '%s'; known:", c.o.device);
		devmodel_list(stderr);
		return 2;
	}
	if (check_fds(&c.o) < 0)
		return 2;
	if (c.o.user && drop_privileges(c.o.user) < 0)
		return 1;
	/* Nothing we run needs to gain privileges, ever. */
	prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	c.r = remote_new(ops, c.o.device_arg, err, sizeof(err));
	if (!c.r) {
		log_err("%s", err);
		return 1;
	}
	mpdev_srv_init(&c.srv);
	remote_set_backend_cb(c.r, on_backend, &c);
	if (c.o.mpdev_fd >= 0 &&
	    mpdev_srv_attach(&c.srv, c.o.mpdev_fd, c.o.poll_ring, NULL) < 0) {
		remote_free(c.r);
		return 1;
	}
	log_dbg("serving %s on fd %d", ops->name, c.o.sock);

	status = run(&c);
	write_stats(&c, log_verbose);
	mpdev_srv_detach(&c.srv);
	remote_free(c.r);
	close(c.o.sock);
	return status;
}
