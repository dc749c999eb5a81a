// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Remote core: what each mpqemu command does to the emulated function.
 *
 * Replies follow QEMU 7.2 (hw/remote/message.c): CFGREAD, CFGWRITE,
 * BAR_READ, BAR_WRITE answer with RET carrying a u64; DEVICE_RESET answers
 * with a RET without payload; SYNC_SYSMEM and SET_IRQFD are not answered.
 * Where QEMU's remote would shut down on a bad request, this one answers
 * all-ones (what a PCI master abort reads as) and carries on.
 *
 * MSI-X (a model that declares it): the core builds the capability, keeps
 * the eventfds of MSI_FDS (msix.c), applies the guest's Message Control
 * word after every config write and masks INTx while MSI-X is enabled.
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
	struct dm_msix msix_desc;	/* vectors 0: no MSI-X */
	uint8_t msix_cap;		/* its capability's offset */
	uint8_t msix_prev;		/* the list pointer that leads to it */
	bool msix_carried;		/* the proxy said it carries MSI-X */
	struct msix msix;
	struct remote_stats st;
	remote_backend_cb backend_cb;
	void *backend_opaque;
};

static uint16_t msix_flags(const struct remote *r)
{
	uint32_t v = 0;

	if (r->msix_cap)
		pcicfg_read(&r->cfg, r->msix_cap + PCI_MSIX_FLAGS, 2, &v);
	return v;
}

/* Hand msix.c the Message Control bits, as config space has them now. */
static void update_msix(struct remote *r)
{
	uint16_t f = msix_flags(r);

	if (r->msix.nvec)
		msix_control(&r->msix, f & PCI_MSIX_FLAGS_ENABLE,
			     f & PCI_MSIX_FLAGS_MASKALL);
}

/* With MSI-X enabled a function must not use INTx (PCI 3.0, 6.8.3.3). */
static void update_intx(struct remote *r)
{
	bool masked = (pcicfg_command(&r->cfg) & PCI_COMMAND_INTX_DISABLE) ||
		      (msix_flags(r) & PCI_MSIX_FLAGS_ENABLE);

	pcicfg_set_int_status(&r->cfg, r->dev_level);
	intx_set_level(&r->intx, r->dev_level && !masked);
}

static void host_set_irq(struct dm_host *h, bool level)
{
	struct remote *r = h->core;

	r->dev_level = level;
	update_intx(r);
}

static enum msix_result host_msix_notify(struct dm_host *h, unsigned int vector)
{
	struct remote *r = h->core;

	if (!r->msix.nvec)
		return MSIX_OFF;
	return msix_notify(&r->msix, vector);
}

static bool host_msix_enabled(struct dm_host *h)
{
	struct remote *r = h->core;

	return msix_flags(r) & PCI_MSIX_FLAGS_ENABLE;
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

static bool msix_range_ok(const struct pcicfg *c, int bar, uint32_t off,
			  uint32_t len)
{
	return bar >= 0 && bar < PCICFG_NUM_BARS && c->bar[bar].size &&
	       !c->bar[bar].io && !(off & PCI_MSIX_BIR_MASK) &&
	       off < c->bar[bar].size && len <= c->bar[bar].size - off;
}

/* The table and PBA sizes of @m's layout. */
static uint32_t msix_table_len(const struct dm_msix *m)
{
	return m->vectors * PCI_MSIX_ENTRY_SIZE;
}

static uint32_t msix_pba_len(const struct dm_msix *m)
{
	return (m->vectors + 63) / 64 * 8;
}

/* The config offset of the capability list pointer that leads to MSI-X */
static uint8_t msix_prev_ptr(struct remote *r)
{
	uint8_t ptr = PCI_CAPABILITY_LIST;
	uint32_t v;

	for (int n = 0; n < 48; n++) {
		if (!pcicfg_read(&r->cfg, ptr, 1, &v) || (v & ~3u) < 0x40)
			return 0;
		if ((v & ~3u) == r->msix_cap)
			return ptr;
		ptr = (v & ~3u) + PCI_CAP_LIST_NEXT;
	}
	return 0;
}

/*
 * A stock proxy does not carry MSI-X: its guest would enable it and wait
 * for interrupts that never come.  Until the proxy says it carries it
 * (MSI_FDS without fds), the list skips the capability, so the guest's
 * driver uses INTx, as QEMU's own remote does.
 */
static void msix_hide(const struct remote *r, uint32_t addr, int len,
		      uint32_t *v)
{
	uint32_t next;

	if (!r->msix_cap || r->msix_carried || !r->msix_prev ||
	    r->msix_prev < addr || r->msix_prev >= addr + (uint32_t)len ||
	    !pcicfg_read(&r->cfg, r->msix_cap + PCI_CAP_LIST_NEXT, 1, &next))
		return;
	*v &= ~(0xffu << ((r->msix_prev - addr) * 8));
	*v |= (next & 0xfc) << ((r->msix_prev - addr) * 8);
}

/* Check the model's MSI-X layout and add the capability. */
static int add_msix(struct remote *r, char *err, size_t errlen)
{
	const struct dm_msix *m = &r->msix_desc;
	uint32_t tlen, plen;
	uint8_t body[PCI_MSIX_CAP_SIZE - 2], wmask[PCI_MSIX_CAP_SIZE - 2] = { 0 };

	if (m->vectors > MSIX_MAX_VECTORS) {
		snprintf(err, errlen, "%s: %u MSI-X vectors (at most %u)",
			 r->ops->name, m->vectors, MSIX_MAX_VECTORS);
		return -1;
	}
	tlen = msix_table_len(m);
	plen = msix_pba_len(m);
	if (!msix_range_ok(&r->cfg, m->table_bar, m->table_off, tlen) ||
	    !msix_range_ok(&r->cfg, m->pba_bar, m->pba_off, plen) ||
	    (m->table_bar == m->pba_bar && m->table_off < m->pba_off + plen &&
	     m->pba_off < m->table_off + tlen)) {
		snprintf(err, errlen,
			 "%s: MSI-X table (BAR%d+0x%x) or PBA (BAR%d+0x%x) not 8-byte aligned inside a memory BAR, or overlapping",
			 r->ops->name, m->table_bar, m->table_off, m->pba_bar,
			 m->pba_off);
		return -1;
	}
	body[0] = (m->vectors - 1) & 0xff;
	body[1] = (m->vectors - 1) >> 8;
	/* Enable and Function Mask are the guest's; the rest is read-only. */
	wmask[1] = (PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL) >> 8;
	for (int i = 0; i < 4; i++) {
		uint32_t t = m->table_off | m->table_bar, p = m->pba_off | m->pba_bar;

		body[2 + i] = (t >> (8 * i)) & 0xff;
		body[6 + i] = (p >> (8 * i)) & 0xff;
	}
	r->msix_cap = pcicfg_add_cap(&r->cfg, PCI_CAP_ID_MSIX, body, sizeof(body),
				     wmask);
	if (!r->msix_cap) {
		snprintf(err, errlen, "%s: no room for the MSI-X capability",
			 r->ops->name);
		return -1;
	}
	r->msix_prev = msix_prev_ptr(r);
	if (msix_init(&r->msix, m->vectors) < 0) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

/* Whether a BAR access touches the MSI-X table or PBA (the VMM's). */
static bool msix_claims(const struct remote *r, int bar, uint64_t off,
			unsigned int size)
{
	const struct dm_msix *m = &r->msix_desc;

	if (!r->msix.nvec)
		return false;
	return (bar == m->table_bar && off < m->table_off + msix_table_len(m) &&
		m->table_off < off + size) ||
	       (bar == m->pba_bar && off < m->pba_off + msix_pba_len(m) &&
		m->pba_off < off + size);
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
	r->host.msix_notify = host_msix_notify;
	r->host.msix_enabled = host_msix_enabled;
	gmem_init(&r->gmem);
	intx_init(&r->intx);
	msix_zero(&r->msix);

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
	if (ops->msix)
		ops->msix(r->dev, &r->msix_desc);
	if (r->msix_desc.vectors && add_msix(r, err, errlen) < 0) {
		ops->destroy(r->dev);
		msix_free(&r->msix);
		free(r);
		return NULL;
	}
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
	msix_free(&r->msix);
	free(r);
}

void remote_set_backend_cb(struct remote *r, remote_backend_cb cb, void *opaque)
{
	r->backend_cb = cb;
	r->backend_opaque = opaque;
}

struct remote_stats *remote_stats(struct remote *r) { return &r->st; }
struct intx *remote_intx(struct remote *r) { return &r->intx; }
struct msix *remote_msix(struct remote *r) { return &r->msix; }
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
	if (msix_claims(r, bar, off, size)) {
		r->st.msix_table_accesses++;
		if (!write)
			*val = 0;
		return true;
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

static void do_msi_fds(struct remote *r, struct mpq_msg *m,
		       struct mpq_reply *reply)
{
	/* Read once: the checks and the use below see the same values. */
	const struct mpq_msi_fds f = m->data.msi_fds;
	const char *why = NULL;
	int n = m->nfds;

	if (f.kind == MPQ_MSI_FDS_MSI) {
		/*
		 * The proxy offers to carry plain MSI: our device models have
		 * no MSI capability, so say no (to any fds too) and leave the
		 * MSI-X set alone; the proxy keeps MSI hidden.
		 */
		for (int i = 0; i < n; i++)
			close(m->fds[i]);
		m->nfds = 0;
		log_dbg("MSI_FDS: MSI declined (no device here has MSI)");
		r->st.sock_msi_declined++;
		reply->value = ~0ull;
		return;
	}
	if (!n && !f.total) {
		/* The proxy carries MSI-X: show it the capability now. */
		r->msix_carried = true;
		return;
	}
	if (!n)
		why = "no eventfds";
	for (int i = 0; i < n && !why; i++) {
		if (!looks_like_eventfd(m->fds[i]))
			why = "the fds are not eventfds";
	}
	if (why)
		msix_decline(&r->msix, m->fds, n);
	else if (!msix_take_fds(&r->msix, f.first, f.total, m->fds, n, &why)) {
		/* Never let a full counter or odd fd block the device loop. */
		for (int i = 0; i < n; i++)
			fcntl(m->fds[i], F_SETFL,
			      fcntl(m->fds[i], F_GETFL) | O_NONBLOCK);
		log_dbg("MSI-X: eventfds of vectors %u-%u of %u taken", f.first,
			f.first + n - 1, f.total);
	}
	m->nfds = 0;	/* msix.c owns them now, or closed them */
	if (why) {
		log_err("MSI_FDS with %d eventfds from vector %u of %u declined: %s",
			n, f.first, f.total, why);
		r->st.sock_bad_msgs++;
		reply->value = ~0ull;
	}
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
			msix_hide(r, c->addr, c->len, &v);
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
			/* Interrupt Disable or MSI-X control may have changed. */
			update_msix(r);
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
		msix_reset(&r->msix);
		r->ops->reset(r->dev);
		update_intx(r);
		break;
	case MPQ_CMD_MPDEV_BACKEND:
		r->st.sock_mpdev_backend++;
		do_mpdev_backend(r, m, reply);
		break;
	case MPQ_CMD_MSI_FDS:
		r->st.sock_msi_fds++;
		do_msi_fds(r, m, reply);
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
	P("socket.msi_fds", sock_msi_fds);
	P("socket.msi_declined", sock_msi_declined);
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
	P("msix.table_accesses", msix_table_accesses);
#undef P
	fprintf(f, "intx.signals=%llu\n", (unsigned long long)r->intx.signals);
	fprintf(f, "intx.resamples=%llu\n", (unsigned long long)r->intx.resamples);
	fprintf(f, "intx.level=%d\n", r->dev_level);
	msix_dump_stats(&r->msix, f);
	if (r->ops->dump_stats)
		r->ops->dump_stats(r->dev, f);
}
