/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Small helpers shared by the userspace tools: logging and number parsing. */
#ifndef MPDEV_UTIL_H
#define MPDEV_UTIL_H

#include <stdbool.h>
#include <stdint.h>

/* Prefix for every message, e.g. "mpdev-remote". */
void log_init(const char *prog);
extern int log_verbose;
/* Set to drop error/info lines too (the fuzzer sets it). */
extern int log_silent;

void log_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_dbg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Strict parsers: whole string, no sign surprises, range-checked. */
bool parse_u64(const char *s, uint64_t *out);
bool parse_int_range(const char *s, long min, long max, long *out);

/* Clear or set FD_CLOEXEC; returns -1 with errno on failure. */
int fd_set_cloexec(int fd, bool on);

/* Close @fd if it is >= 0 and set it to -1. */
void close_fd(int *fd);

#endif
