// SPDX-License-Identifier: GPL-2.0
/* gout - output and run loop shared by the e2e guest tools (gout.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/io.h>
#include <time.h>

#include "gout.h"

const char *gout_prog = "guest";
int out_port;
int t_num, t_fail, t_skip, t_todo;

void emit(const char *s, size_t n)
{
	if (!out_port) {
		fwrite(s, 1, n, stdout);
		fflush(stdout);
		return;
	}
	/* One string-I/O exit per chunk (KVM batches "rep outsb"). */
	__asm__ volatile("rep outsb"
			 : "+S"(s), "+c"(n)
			 : "d"((uint16_t)out_port)
			 : "memory");
}

void say(const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if (n > (int)sizeof(buf) - 2)
		n = sizeof(buf) - 2;
	buf[n++] = '\n';
	emit(buf, n);
}

/* One TAP line: DIRECTIVE is "" or " # SKIP why" / " # TODO why". */
static void tap_line(bool ok, const char *directive, const char *fmt, va_list ap)
{
	char d[768];

	vsnprintf(d, sizeof(d), fmt, ap);
	t_num++;
	say("%sok %d - %s%s", ok ? "" : "not ", t_num, d, directive);
}

bool tap(bool ok, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	tap_line(ok, "", fmt, ap);
	va_end(ap);
	if (!ok)
		t_fail++;
	return ok;
}

void tap_skip(const char *why, const char *fmt, ...)
{
	char dir[256];
	va_list ap;

	snprintf(dir, sizeof(dir), " # SKIP %s", why);
	va_start(ap, fmt);
	tap_line(true, dir, fmt, ap);
	va_end(ap);
	t_skip++;
}

bool tap_todo(bool ok, const char *why, const char *fmt, ...)
{
	char dir[256];
	va_list ap;

	snprintf(dir, sizeof(dir), " # TODO %s", why);
	va_start(ap, fmt);
	tap_line(ok, dir, fmt, ap);
	va_end(ap);
	t_todo++;
	return ok;
}

void usage_err(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", gout_prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (see the header of %s.c)\n", gout_prog);
	exit(2);
}

uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

double uptime(void)
{
	FILE *f = fopen("/proc/uptime", "r");
	double u = 0;

	if (f) {
		if (fscanf(f, "%lf", &u) != 1)
			u = 0;
		fclose(f);
	}
	return u;
}

void msleep(unsigned int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

int gout_set(const char *spec)
{
	if (!strcmp(spec, "stdout")) {
		out_port = 0;
		return 0;
	}
	if (strncmp(spec, "debugcon", 8) || (spec[8] && spec[8] != '='))
		usage_err("--out stdout or debugcon[=PORT]");
	out_port = spec[8] == '=' ? strtoul(spec + 9, NULL, 0) : 0xe9;
	if (ioperm(out_port, 1, 1) < 0) {
		fprintf(stderr, "%s: ioperm(0x%x): %s\n", gout_prog, out_port, strerror(errno));
		return 2;
	}
	return 0;
}

int gout_run(int argc, char **argv, int (*dispatch)(int argc, char **argv),
	     const char *const *not_steps)
{
	char *list, *step, *save = NULL;

	if (argc != 2)
		usage_err("run: want one STEP[,STEP...] argument");
	list = strdup(argv[1]);
	if (!list)
		usage_err("run: out of memory");
	for (step = strtok_r(list, ",", &save); step; step = strtok_r(NULL, ",", &save)) {
		char *av[32], *a, *s2 = NULL;
		int ac = 0, f0 = t_fail;
		uint64_t t0 = now_ns();

		for (a = strtok_r(step, ":", &s2); a && ac < 31; a = strtok_r(NULL, ":", &s2))
			av[ac++] = a;
		av[ac] = NULL;
		if (!ac)
			continue;
		if (!strcmp(av[0], "run"))
			usage_err("run: run cannot be a step");
		for (const char *const *n = not_steps; n && *n; n++)
			if (!strcmp(av[0], *n))
				usage_err("run: %s cannot be a step", av[0]);
		diag("step %s (uptime %.1f s)", av[0], uptime());
		dispatch(ac, av);
		diag("step %s: %s, %.1f s", av[0], t_fail == f0 ? "passed" : "FAILED",
		     (now_ns() - t0) / 1e9);
	}
	free(list);
	return 0;
}

int gout_finish(const char *cmd, int r)
{
	say("1..%d", t_num);
	if (!strcmp(cmd, "run"))
		say("E2E-GUEST-DONE pass=%d fail=%d skip=%d todo=%d",
		    t_num - t_fail - t_skip - t_todo, t_fail, t_skip, t_todo);
	if (out_port)
		printf("%s: %d checks, %d failed, %d skipped\n", gout_prog, t_num, t_fail, t_skip);
	return t_fail || r ? 1 : 0;
}
