/* SPDX-License-Identifier: GPL-2.0 */
/*
 * gout - what the e2e guest tools (mpdev-guest, mpdev-io) share: TAP
 * output to stdout or to QEMU's isa-debugcon, the "run STEP,STEP" loop and
 * a few clock helpers.  A debugcon line is one "rep outsb", one exit,
 * instead of several exits per character on a 16550 console.
 */
#ifndef E2E_GOUT_H
#define E2E_GOUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

extern const char *gout_prog;	/* the tool's name, for messages */
extern int out_port;		/* 0: stdout; else an isa-debugcon port */
extern int t_num, t_fail, t_skip, t_todo;	/* TAP state of the run */

void emit(const char *s, size_t n);
void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
#define diag(...) say("# " __VA_ARGS__)
bool tap(bool ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void tap_skip(const char *why, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A check known to fail in this setup: a TODO directive, no failure. */
bool tap_todo(bool ok, const char *why, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void usage_err(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));

uint64_t now_ns(void);
double uptime(void);
void msleep(unsigned int ms);

/* --out SPEC: "stdout" or "debugcon[=PORT]"; 0, or 2 after a message. */
int gout_set(const char *spec);
/*
 * "run STEP[,STEP...]": each STEP is CMD[:ARG...], handed to @dispatch;
 * the commands named in @not_steps (NULL-terminated) cannot be steps.
 */
int gout_run(int argc, char **argv, int (*dispatch)(int argc, char **argv),
	     const char *const *not_steps);
/* The plan, E2E-GUEST-DONE after "run", and the exit status. */
int gout_finish(const char *cmd, int r);

#endif
