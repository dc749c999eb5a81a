// SPDX-License-Identifier: GPL-2.0-or-later
/* MSI-X vectors through the proxy's eventfds (enable, function mask). */
#include "msix.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

void msix_zero(struct msix *x)
{
	memset(x, 0, sizeof(*x));
}

int msix_init(struct msix *x, unsigned int nvec)
{
	msix_zero(x);
	if (!nvec || nvec > MSIX_MAX_VECTORS)
		return -1;
	x->fd = malloc(nvec * sizeof(*x->fd));
	x->pending = calloc(nvec, sizeof(*x->pending));
	x->vec_signals = calloc(nvec, sizeof(*x->vec_signals));
	if (!x->fd || !x->pending || !x->vec_signals) {
		msix_free(x);
		return -1;
	}
	for (unsigned int i = 0; i < nvec; i++)
		x->fd[i] = -1;
	x->nvec = nvec;
	return 0;
}

static void close_set(struct msix *x)
{
	for (unsigned int i = 0; i < x->got; i++)
		close_fd(&x->fd[i]);
	x->got = 0;
}

void msix_free(struct msix *x)
{
	close_set(x);
	free(x->fd);
	free(x->pending);
	free(x->vec_signals);
	msix_zero(x);
}

void msix_decline(struct msix *x, const int *fds, int n)
{
	for (int i = 0; i < n; i++)
		close(fds[i]);
	/* A broken set is no set: the proxy gives MSI-X up anyway. */
	close_set(x);
	x->declined++;
}

int msix_take_fds(struct msix *x, uint32_t first, uint32_t total,
		  const int *fds, int n, const char **why)
{
	*why = NULL;
	if (!x->nvec)
		*why = "the device has no MSI-X";
	else if (total != x->nvec)
		*why = "total is not the device's MSI-X table size";
	else if (n < 1 || (unsigned int)n > total || first > total - n)
		*why = "vectors past the end of the table";
	else if (first && first != x->got)
		*why = "vectors out of order";
	if (*why) {
		msix_decline(x, fds, n);
		return -1;
	}
	if (!first)
		close_set(x);
	for (int i = 0; i < n; i++)
		x->fd[first + i] = fds[i];
	x->got = first + n;
	x->fd_msgs++;
	return 0;
}

static bool signal_vector(struct msix *x, unsigned int v)
{
	uint64_t one = 1;

	/* EAGAIN: the counter is full, so an interrupt is due anyway. */
	if (write(x->fd[v], &one, sizeof(one)) != sizeof(one) && errno != EAGAIN) {
		log_err("MSI-X vector %u: eventfd write failed: %m", v);
		return false;
	}
	x->signalled++;
	x->vec_signals[v]++;
	return true;
}

static void flush_pending(struct msix *x)
{
	for (unsigned int v = 0; v < x->nvec; v++) {
		if (!x->pending[v])
			continue;
		x->pending[v] = false;
		if (x->fd[v] >= 0 && signal_vector(x, v))
			x->flushed++;
		else
			x->dropped++;
	}
}

void msix_control(struct msix *x, bool enabled, bool masked)
{
	x->enabled = enabled;
	x->masked = masked;
	if (enabled && !masked)
		flush_pending(x);
}

enum msix_result msix_notify(struct msix *x, unsigned int vector)
{
	x->raised++;
	if (!x->enabled) {
		x->dropped++;
		return MSIX_OFF;
	}
	if (vector >= x->nvec || x->fd[vector] < 0) {
		x->dropped++;
		return MSIX_DROPPED;
	}
	if (x->masked) {
		x->pending[vector] = true;
		x->held++;
		return MSIX_PENDING;
	}
	if (!signal_vector(x, vector)) {
		x->dropped++;
		return MSIX_DROPPED;
	}
	return MSIX_SENT;
}

void msix_reset(struct msix *x)
{
	if (x->nvec)
		memset(x->pending, 0, x->nvec * sizeof(*x->pending));
	x->enabled = false;
	x->masked = false;
}

unsigned int msix_pending(const struct msix *x)
{
	unsigned int n = 0;

	for (unsigned int v = 0; v < x->nvec; v++)
		n += x->pending[v];
	return n;
}

void msix_dump_stats(const struct msix *x, FILE *f)
{
#define P(name, val) fprintf(f, "msix." name "=%llu\n", (unsigned long long)(val))
	P("vectors", x->nvec);
	P("fds", x->got);
	P("enabled", x->enabled);
	P("masked", x->masked);
	P("raised", x->raised);
	P("signalled", x->signalled);
	P("held", x->held);
	P("flushed", x->flushed);
	P("dropped", x->dropped);
	P("pending", msix_pending(x));
	P("fd_msgs", x->fd_msgs);
	P("declined", x->declined);
#undef P
	for (unsigned int v = 0; v < x->nvec; v++)
		fprintf(f, "msix.vec%u.signalled=%llu\n", v,
			(unsigned long long)x->vec_signals[v]);
}
