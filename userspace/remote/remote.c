// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Remote core: what each mpqemu command does to the emulated function.
 *
 * Replies follow QEMU 7.2 (hw/remote/message.c): CFGREAD, CFGWRITE,
 * BAR_READ, BAR_WRITE answer with RET carrying a u64; DEVICE_RESET answers
 * with a RET without payload; SYNC_SYSMEM and SET_IRQFD are not answered.
 * Where QEMU's remote would shut down on a bad request, this one answers
 * all-ones (what a PCI master abort reads as) and carries on.
 */
#define _GNU_SOURCE
#include "remote.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fdio.h"
#include "util.h"

struct remote {
	const struct devmodel_ops *ops;
	void *dev;
	struct dm_host host;
	struct pcicfg cfg;
	struct guestmem gmem;
	struct intx intx;
	bool dev_level;			/* the device's INTx output */
	struct remote_stats st;
	remote_backend_cb backend_cb;
	void *backend_opaque;
};

static void update_intx(struct remote *r)
{
	bool masked = pcicfg_command(&r->cfg) & PCI_COMMAND_INTX_DISABLE;

	pcicfg_set_int_status(&r->cfg, r->dev_level);
	intx_set_level(&r->intx, r->dev_level && !masked);
}

static void host_set_irq(struct dm_host *h, bool level)
{
	struct remote *r = h->core;

	r->dev_level = level;
	update_intx(r);
}

/* DMA is bus mastering: refused while the guest has not enabled it. */
static bool master_enabled(struct remote *r)
{
	return pcicfg_command(&r->cfg) & PCI_COMMAND_MASTER;
}

static int host_dma_read(struct dm_host *h, uint64_t gpa, void *buf, size_t len)
{
	struct remote *r = h->core;

	if (!master_enabled(r) || gmem_read(&r->gmem, gpa, buf, len)) {
		r->st.dma_faults++;
		log_dbg("DMA read of %zu bytes at 0x%llx refused", len,
			(unsigned long long)gpa);
		return -1;
	}
	return 0;
}

static int host_dma_write(struct dm_host *h, uint64_t gpa, const void *buf,
			  size_t len)
{
	struct remote *r = h->core;

	if (!master_enabled(r) || gmem_write(&r->gmem, gpa, buf, len)) {
		r->st.dma_faults++;
		log_dbg("DMA write of %zu bytes at 0x%llx refused", len,
			(unsigned long long)gpa);
		return -1;
	}
	return 0;
}

struct remote *remote_new(const struct devmodel_ops *ops, const char *args,
			  char *err, size_t errlen)
{
	struct remote *r = calloc(1, sizeof(*r));
	struct pcicfg_ident id;

	if (!r) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	r->ops = ops;
	r->host.core = r;
	r->host.dma_read = host_dma_read;
	r->host.dma_write = host_dma_write;
	r->host.set_irq = host_set_irq;
	gmem_init(&r->gmem);
	intx_init(&r->intx);

	r->dev = ops->create(&r->host, args, err, errlen);
	if (!r->dev) {
		free(r);
		return NULL;
	}
	ops->ident(r->dev, &id);
	if (pcicfg_init(&r->cfg, &id) < 0) {
		snprintf(err, errlen, "%s: invalid BAR layout", ops->name);
		ops->destroy(r->dev);
		free(r);
		return NULL;
	}
	if (ops->cfg_init)
		ops->cfg_init(r->dev, &r->cfg);
	update_intx(r);
	return r;
}

void remote_free(struct remote *r)
{
	if (!r)
		return;
	r->ops->destroy(r->dev);
	gmem_clear(&r->gmem);
	intx_close(&r->intx);
	free(r);
}

void remote_set_backend_cb(struct remote *r, remote_backend_cb cb, void *opaque)
{
	r->backend_cb = cb;
	r->backend_opaque = opaque;
}

struct remote_stats *remote_stats(struct remote *r) { return &r->st; }
struct intx *remote_intx(struct remote *r) { return &r->intx; }
struct guestmem *remote_gmem(struct remote *r) { return &r->gmem; }
const char *remote_device_name(const struct remote *r) { return r->ops->name; }

uint32_t remote_bar_size(const struct remote *r, int bar)
{
	if (bar < 0 || bar >= PCICFG_NUM_BARS)
		return 0;
	return r->cfg.bar[bar].size;
}

bool remote_bar_access(struct remote *r, int bar, uint64_t off, unsigned size,
		       bool write, uint64_t *val)
{
	uint32_t bsize = remote_bar_size(r, bar);
	uint64_t mask;

	if (!bsize || (size != 1 && size != 2 && size != 4 && size != 8) ||
	    off >= bsize || size > bsize - off) {
		if (!write)
			*val = ~0ull;
		return false;
	}
	mask = size == 8 ? ~0ull : (1ull << (8 * size)) - 1;
	if (write)
		r->ops->bar_write(r->dev, bar, off, *val & mask, size);
	else
		*val = r->ops->bar_read(r->dev, bar, off, size) & mask;
	return true;
}

/* Accept only eventfds (when /proc tells): a pipe could block our writes. */
static bool looks_like_eventfd(int fd)
{
	char path[64], link[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0)
		return true;	/* no /proc: cannot tell, O_NONBLOCK still protects */
	link[n] = 0;
	return !strcmp(link, "anon_inode:[eventfd]");
}

static void do_set_irqfd(struct remote *r, struct mpq_msg *m)
{
	int irqfd = m->fds[0], rfd = m->fds[1];

	m->fds[0] = m->fds[1] = -1;
	m->nfds = 0;
	if (!looks_like_eventfd(irqfd) || !looks_like_eventfd(rfd)) {
		log_err("SET_IRQFD: fds are not eventfds; INTx stays disconnected");
		close(irqfd);
		close(rfd);
		r->st.sock_bad_msgs++;
		return;
	}
	/* Never let a full counter or odd fd block the device loop. */
	fcntl(irqfd, F_SETFL, fcntl(irqfd, F_GETFL) | O_NONBLOCK);
	fcntl(rfd, F_SETFL, fcntl(rfd, F_GETFL) | O_NONBLOCK);
	intx_set_fds(&r->intx, irqfd, rfd);
	log_dbg("INTx wired to irqfd %d, resamplefd %d", irqfd, rfd);
}

static void do_sync_sysmem(struct remote *r, struct mpq_msg *m)
{
	const struct mpq_sync_sysmem *s = &m->data.sync_sysmem;
	char err[160];

	if (gmem_sync(&r->gmem, m->nfds, s->gpas, s->sizes, s->offsets, m->fds,
		      err, sizeof(err)) < 0) {
		log_err("SYNC_SYSMEM rejected, guest RAM unmapped (DMA will fail): %s",
			err);
		r->st.sock_bad_msgs++;
	}
	m->nfds = 0;	/* gmem_sync closed them */
	r->st.gmem_regions = r->gmem.n;
	for (int i = 0; i < r->gmem.n; i++)
		log_dbg("guest RAM: gpa 0x%llx size 0x%llx",
			(unsigned long long)r->gmem.r[i].gpa,
			(unsigned long long)r->gmem.r[i].size);
}

static void do_mpdev_backend(struct remote *r, struct mpq_msg *m,
			     struct mpq_reply *reply)
{
	const struct mpq_mpdev_backend *b = &m->data.mpdev;
	int bar_of_region[MPQ_MPDEV_MAX_MAP];
	int fd = m->fds[0];

	m->fds[0] = -1;
	m->nfds = 0;
	for (int i = 0; i < MPQ_MPDEV_MAX_MAP; i++)
		bar_of_region[i] = -1;
	for (uint32_t i = 0; i < b->nr_map; i++) {
		/* Region ids double as table indices: keep them small. */
		if (b->map[i].region_id >= MPQ_MPDEV_MAX_MAP ||
		    !remote_bar_size(r, b->map[i].bar)) {
			log_err("MPDEV_BACKEND: region %u -> BAR %u not usable",
				b->map[i].region_id, b->map[i].bar);
			close(fd);
			r->st.sock_bad_msgs++;
			reply->value = ~0ull;
			return;
		}
		bar_of_region[b->map[i].region_id] = (int)b->map[i].bar;
	}
	if (!r->backend_cb) {
		close(fd);
		reply->value = ~0ull;
		return;
	}
	reply->value = r->backend_cb(r->backend_opaque, fd, bar_of_region);
}

bool remote_handle_msg(struct remote *r, struct mpq_msg *m,
		       struct mpq_reply *reply)
{
	const char *why = NULL;
	bool keep = true;

	r->st.sock_msgs++;
	memset(reply, 0, sizeof(*reply));
	reply->send = mpq_cmd_wants_reply(m->cmd);
	reply->with_value = m->cmd != MPQ_CMD_DEVICE_RESET;

	if (mpq_validate(m, &why) != MPQ_VALID) {
		log_err("rejected %s (cmd %d, size %zu, %d fds): %s",
			mpq_cmd_name(m->cmd), m->cmd, m->size, m->nfds, why);
		r->st.sock_bad_msgs++;
		/* Answer so a waiting peer does not hang; the stream is intact. */
		reply->value = ~0ull;
		reply->with_value = true;
		goto out;
	}

	switch (m->cmd) {
	case MPQ_CMD_PCI_CFGREAD: {
		const struct mpq_pci_conf *c = &m->data.pci_conf;
		uint32_t v;

		r->st.sock_cfg_read++;
		if (pcicfg_read(&r->cfg, c->addr, c->len, &v)) {
			reply->value = v;
		} else {
			log_err("config read at 0x%x len %d rejected", c->addr, c->len);
			r->st.sock_bad_access++;
			reply->value = ~0ull;
		}
		break;
	}
	case MPQ_CMD_PCI_CFGWRITE: {
		const struct mpq_pci_conf *c = &m->data.pci_conf;

		r->st.sock_cfg_write++;
		if (pcicfg_write(&r->cfg, c->addr, c->val, c->len)) {
			/* Interrupt Disable may have changed. */
			update_intx(r);
			if (r->ops->cfg_written)
				r->ops->cfg_written(r->dev, &r->cfg, c->addr, c->val,
						    c->len);
		} else {
			log_err("config write at 0x%x len %d rejected", c->addr, c->len);
			r->st.sock_bad_access++;
			reply->value = ~0ull;
		}
		break;
	}
	case MPQ_CMD_BAR_READ:
	case MPQ_CMD_BAR_WRITE: {
		const struct mpq_bar_access *a = &m->data.bar_access;
		bool write = m->cmd == MPQ_CMD_BAR_WRITE;
		uint64_t off, val = a->val;
		int bar;

		if (write)
			r->st.sock_bar_write++;
		else
			r->st.sock_bar_read++;
		bar = pcicfg_decode(&r->cfg, a->memory != 0, a->addr, a->size, &off);
		if (bar < 0 || !remote_bar_access(r, bar, off, a->size, write, &val)) {
			log_err("BAR %s of %u bytes at %s 0x%llx hits no BAR",
				write ? "write" : "read", a->size,
				a->memory ? "memory" : "port",
				(unsigned long long)a->addr);
			r->st.sock_bad_access++;
			reply->value = ~0ull;
			break;
		}
		reply->value = write ? 0 : val;
		break;
	}
	case MPQ_CMD_SYNC_SYSMEM:
		r->st.sock_sync_sysmem++;
		do_sync_sysmem(r, m);
		break;
	case MPQ_CMD_SET_IRQFD:
		r->st.sock_set_irqfd++;
		do_set_irqfd(r, m);
		break;
	case MPQ_CMD_DEVICE_RESET:
		r->st.sock_reset++;
		pcicfg_reset(&r->cfg);
		r->ops->reset(r->dev);
		update_intx(r);
		break;
	case MPQ_CMD_MPDEV_BACKEND:
		r->st.sock_mpdev_backend++;
		do_mpdev_backend(r, m, reply);
		break;
	default:
		keep = false;	/* mpq_validate() let an unknown command through */
		break;
	}
out:
	/* Whatever was not taken over above is closed here. */
	fdio_close_all(m->fds, m->nfds);
	m->nfds = 0;
	return keep;
}

void remote_dump_stats(struct remote *r, FILE *f)
{
	const struct remote_stats *s = &r->st;

#define P(name, field) fprintf(f, name "=%llu\n", (unsigned long long)s->field)
	P("socket.msgs", sock_msgs);
	P("socket.cfg_read", sock_cfg_read);
	P("socket.cfg_write", sock_cfg_write);
	P("socket.bar_read", sock_bar_read);
	P("socket.bar_write", sock_bar_write);
	P("socket.sync_sysmem", sock_sync_sysmem);
	P("socket.set_irqfd", sock_set_irqfd);
	P("socket.reset", sock_reset);
	P("socket.mpdev_backend", sock_mpdev_backend);
	P("socket.bad_msgs", sock_bad_msgs);
	P("socket.bad_access", sock_bad_access);
	P("mpdev.reads", mpdev_reads);
	P("mpdev.writes", mpdev_writes);
	P("mpdev.batches", mpdev_batches);
	P("mpdev.fd_batches", mpdev_fd_batches);
	P("mpdev.ring_batches", mpdev_ring_batches);
	P("mpdev.completions", mpdev_completions);
	P("mpdev.kicks", mpdev_kicks);
	P("mpdev.bad_requests", mpdev_bad_requests);
	P("mpdev.by_cookie", mpdev_by_cookie);
	P("dma.faults", dma_faults);
	P("gmem.regions", gmem_regions);
#undef P
	fprintf(f, "intx.signals=%llu\n", (unsigned long long)r->intx.signals);
	fprintf(f, "intx.resamples=%llu\n", (unsigned long long)r->intx.resamples);
	fprintf(f, "intx.level=%d\n", r->dev_level);
	if (r->ops->dump_stats)
		r->ops->dump_stats(r->dev, f);
}
