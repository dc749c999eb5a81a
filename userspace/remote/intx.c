// SPDX-License-Identifier: GPL-2.0-or-later
/* INTx through irqfd + resamplefd (level semantics). */
#include "intx.h"

#include <errno.h>
#include <stdint.h>
#include <unistd.h>

#include "util.h"

void intx_init(struct intx *x)
{
	x->irqfd = -1;
	x->resamplefd = -1;
	x->asserted = false;
	x->signals = 0;
	x->resamples = 0;
}

static void signal_irqfd(struct intx *x)
{
	uint64_t one = 1;

	if (x->irqfd < 0)
		return;
	/* An eventfd write only fails if the counter would overflow. */
	if (write(x->irqfd, &one, sizeof(one)) != sizeof(one) && errno != EAGAIN)
		log_err("irqfd write failed: %m");
	x->signals++;
}

void intx_set_fds(struct intx *x, int irqfd, int resamplefd)
{
	intx_close(x);
	x->irqfd = irqfd;
	x->resamplefd = resamplefd;
	/* A line already high must reach the new irqfd. */
	if (x->asserted)
		signal_irqfd(x);
}

void intx_close(struct intx *x)
{
	close_fd(&x->irqfd);
	close_fd(&x->resamplefd);
}

void intx_set_level(struct intx *x, bool level)
{
	if (level && !x->asserted) {
		x->asserted = true;
		signal_irqfd(x);
	} else if (!level) {
		/* KVM lowers the line itself at EOI; nothing to send. */
		x->asserted = false;
	}
}

void intx_resample(struct intx *x)
{
	uint64_t v;

	if (x->resamplefd < 0)
		return;
	/* Non-blocking or not, poll() said it is readable. */
	if (read(x->resamplefd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		return;
	x->resamples++;
	if (x->asserted)
		signal_irqfd(x);
}
