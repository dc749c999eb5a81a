// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * mpdev-testdev device model.
 *
 * Registers are described by a table (offset, width, kind); an access is
 * handled byte-wise against the table, so any size and alignment the core
 * lets through is served without out-of-bounds risk, and a side effect
 * (counter increment, doorbell count, DMA start) fires once per access
 * that touches its register, whatever the access size.  BAR4 (bar64=1)
 * is a second, 64-bit window on BAR0's registers.
 */
#include "testdev.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

enum reg_kind {
	R_CONST,	/* read-only value from get_reg() */
	R_RW,		/* plain storage */
	R_W1C,		/* INT_STATUS */
	R_INT_MASK,
	R_INT_RAISE,
	R_COUNTER,	/* read side effect */
	R_DOORBELL,
	R_DMA_CMD,
	R_PIO_COUNTER,
	R_MSIX_RAISE,
};

enum reg_id {
	REG_MAGIC, REG_VERSION, REG_FEATURES, REG_INT_STATUS, REG_INT_MASK,
	REG_INT_RAISE, REG_COUNTER, REG_DOORBELL, REG_DOORBELL_COUNT,
	REG_DMA_SRC, REG_DMA_DST, REG_DMA_LEN, REG_DMA_CMD, REG_DMA_STATUS,
	REG_DMA_COUNT, REG_PIO_MAGIC, REG_PIO_COUNTER, REG_MSIX_RAISE,
};

struct reg {
	uint32_t off;
	uint8_t width;
	uint8_t kind;
	uint8_t id;
};

static const struct reg bar0_regs[] = {
	{ TD_MAGIC,		4, R_CONST,	REG_MAGIC },
	{ TD_VERSION,		4, R_CONST,	REG_VERSION },
	{ TD_FEATURES,		4, R_CONST,	REG_FEATURES },
	{ TD_INT_STATUS,	4, R_W1C,	REG_INT_STATUS },
	{ TD_INT_MASK,		4, R_INT_MASK,	REG_INT_MASK },
	{ TD_INT_RAISE,		4, R_INT_RAISE,	REG_INT_RAISE },
	{ TD_COUNTER,		8, R_COUNTER,	REG_COUNTER },
	{ TD_DOORBELL,		8, R_DOORBELL,	REG_DOORBELL },
	{ TD_DOORBELL_COUNT,	8, R_CONST,	REG_DOORBELL_COUNT },
	{ TD_DMA_SRC,		8, R_RW,	REG_DMA_SRC },
	{ TD_DMA_DST,		8, R_RW,	REG_DMA_DST },
	{ TD_DMA_LEN,		4, R_RW,	REG_DMA_LEN },
	{ TD_DMA_CMD,		4, R_DMA_CMD,	REG_DMA_CMD },
	{ TD_DMA_STATUS,	4, R_CONST,	REG_DMA_STATUS },
	{ TD_DMA_COUNT,		4, R_CONST,	REG_DMA_COUNT },
	{ TD_MSIX_RAISE,	4, R_MSIX_RAISE, REG_MSIX_RAISE },
};

static const struct reg bar1_regs[] = {
	{ TDIO_MAGIC,		4, R_CONST,	  REG_PIO_MAGIC },
	{ TDIO_COUNTER,		4, R_PIO_COUNTER, REG_PIO_COUNTER },
};

struct testdev {
	struct dm_host *host;
	unsigned int msix_vectors;	/* 0: no MSI-X capability, no BAR2 */
	bool bar64;			/* BAR4: BAR0's registers, 64-bit */
	uint32_t int_status, int_mask;
	uint64_t counter;
	uint64_t doorbell_last, doorbell_count;
	uint64_t dma_src, dma_dst;
	uint32_t dma_len, dma_status, dma_count;
	uint32_t pio_counter;
	uint8_t scratch[TD_SCRATCH_SIZE];
	uint8_t pio_scratch[TDIO_SCRATCH_SIZE];
	uint8_t *bounce;		/* DMA bounce buffer */
	/* statistics (kept across reset) */
	struct testdev_stats {
		uint64_t dma_ok, dma_err, dma_bytes;
		uint64_t msix_raises;	/* MSIX_RAISE writes */
		uint64_t msix_intx;	/* of those, taken as INTx (MSI-X off) */
		uint64_t msix_events;	/* INT_STATUS events sent as a vector */
		uint64_t bar4_reads, bar4_writes;	/* accesses through BAR4 */
	} st;
};

static void update_irq(struct testdev *d)
{
	d->host->set_irq(d->host, (d->int_status & d->int_mask) != 0);
}

/*
 * An interrupt event: latch @bits in INT_STATUS; INTx follows the level
 * (the core keeps it low while MSI-X is enabled), and with MSI-X enabled
 * each event that INT_MASK lets through sends vector TD_MSIX_VEC_INT.
 */
static void raise_int(struct testdev *d, uint32_t bits)
{
	d->int_status |= bits;
	update_irq(d);
	if ((bits & d->int_mask) && d->host->msix_enabled(d->host)) {
		d->st.msix_events++;
		d->host->msix_notify(d->host, TD_MSIX_VEC_INT);
	}
}

/* MSIX_RAISE: the vector, or with MSI-X disabled INT_STATUS bit 2. */
static void msix_raise(struct testdev *d, uint32_t vector)
{
	d->st.msix_raises++;
	if (d->host->msix_notify(d->host, vector) == MSIX_OFF) {
		d->st.msix_intx++;
		raise_int(d, TD_INT_SOFT);
	}
}

static uint64_t get_reg(struct testdev *d, int id)
{
	switch (id) {
	case REG_MAGIC:
	case REG_PIO_MAGIC:		return TESTDEV_MAGIC;
	case REG_VERSION:		return TESTDEV_VERSION;
	case REG_FEATURES:
		return TD_FEAT_DMA | TD_FEAT_PIO | TD_FEAT_INTX |
		       (d->msix_vectors ? TD_FEAT_MSIX : 0) |
		       (d->bar64 ? TD_FEAT_BAR64 : 0);
	case REG_INT_STATUS:		return d->int_status;
	case REG_INT_MASK:		return d->int_mask;
	case REG_COUNTER:		return d->counter;
	case REG_DOORBELL:		return d->doorbell_last;
	case REG_DOORBELL_COUNT:	return d->doorbell_count;
	case REG_DMA_SRC:		return d->dma_src;
	case REG_DMA_DST:		return d->dma_dst;
	case REG_DMA_LEN:		return d->dma_len;
	case REG_DMA_STATUS:		return d->dma_status;
	case REG_DMA_COUNT:		return d->dma_count;
	case REG_PIO_COUNTER:		return d->pio_counter;
	default:			return 0;	/* write-only */
	}
}

/*
 * The DMA engine: copy dma_len bytes from dma_src to dma_dst, both guest
 * physical, through a bounce buffer so overlapping ranges behave like
 * memmove.  Synchronous: done before the GO write returns.
 */
static void dma_run(struct testdev *d)
{
	uint32_t len = d->dma_len;
	bool ok = len <= TD_DMA_MAX_LEN;

	if (ok && len) {
		ok = d->host->dma_read(d->host, d->dma_src, d->bounce, len) == 0 &&
		     d->host->dma_write(d->host, d->dma_dst, d->bounce, len) == 0;
	}
	d->dma_count++;
	if (ok) {
		d->dma_status = TD_DMA_ST_DONE;
		d->st.dma_ok++;
		d->st.dma_bytes += len;
		raise_int(d, TD_INT_DMA_DONE);
	} else {
		d->dma_status = TD_DMA_ST_ERROR;
		d->st.dma_err++;
		raise_int(d, TD_INT_DMA_ERROR);
	}
}

static void set_reg(struct testdev *d, const struct reg *r, uint64_t v,
		    uint64_t written_bits)
{
	switch (r->id) {
	case REG_INT_STATUS:
		d->int_status &= ~(uint32_t)(v & written_bits);
		update_irq(d);
		break;
	case REG_INT_MASK:
		d->int_mask = v & TD_INT_ALL;
		update_irq(d);
		break;
	case REG_INT_RAISE:
		raise_int(d, v & written_bits & TD_INT_ALL);
		break;
	case REG_MSIX_RAISE:
		msix_raise(d, (uint32_t)(v & written_bits));
		break;
	case REG_COUNTER:		d->counter = v; break;
	case REG_DOORBELL:
		d->doorbell_last = v;
		d->doorbell_count++;
		break;
	case REG_DMA_SRC:		d->dma_src = v; break;
	case REG_DMA_DST:		d->dma_dst = v; break;
	case REG_DMA_LEN:		d->dma_len = (uint32_t)v; break;
	case REG_DMA_CMD:
		if (v & written_bits & TD_DMA_CMD_GO)
			dma_run(d);
		break;
	case REG_PIO_COUNTER:		d->pio_counter = (uint32_t)v; break;
	default:			break;	/* read-only */
	}
}

/* Bytes [off, off+size) of the register file described by @regs. */
static uint64_t regs_read(struct testdev *d, const struct reg *regs, size_t n,
			  uint64_t off, unsigned size)
{
	uint64_t val = 0;

	for (size_t i = 0; i < n; i++) {
		const struct reg *r = &regs[i];
		uint64_t rv;

		if (off >= r->off + r->width || off + size <= r->off)
			continue;
		rv = get_reg(d, r->id);
		for (unsigned b = 0; b < size; b++) {
			uint64_t a = off + b;

			if (a >= r->off && a < r->off + r->width)
				val |= ((rv >> (8 * (a - r->off))) & 0xff) << (8 * b);
		}
		/* Read side effects, once per access. */
		if (r->kind == R_COUNTER)
			d->counter++;
		else if (r->kind == R_PIO_COUNTER)
			d->pio_counter++;
	}
	return val;
}

static void regs_write(struct testdev *d, const struct reg *regs, size_t n,
		       uint64_t off, uint64_t val, unsigned size)
{
	for (size_t i = 0; i < n; i++) {
		const struct reg *r = &regs[i];
		uint64_t rv, bits = 0;

		if (off >= r->off + r->width || off + size <= r->off)
			continue;
		/* Merge the written bytes into the current value. */
		rv = (r->kind == R_INT_RAISE || r->kind == R_DMA_CMD ||
		      r->kind == R_W1C || r->kind == R_MSIX_RAISE) ?
		     0 : get_reg(d, r->id);
		for (unsigned b = 0; b < size; b++) {
			uint64_t a = off + b;

			if (a >= r->off && a < r->off + r->width) {
				unsigned sh = 8 * (a - r->off);

				rv &= ~(0xffull << sh);
				rv |= ((val >> (8 * b)) & 0xff) << sh;
				bits |= 0xffull << sh;
			}
		}
		set_reg(d, r, rv, bits);
	}
}

static uint64_t bytes_read(const uint8_t *p, unsigned size)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < size; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

static void bytes_write(uint8_t *p, uint64_t v, unsigned size)
{
	for (unsigned i = 0; i < size; i++)
		p[i] = (v >> (8 * i)) & 0xff;
}

/*
 * The scratch areas take whole accesses only; an access straddling the
 * edge of one is served by the register file (reads 0, writes dropped).
 */
static bool in_area(uint64_t off, unsigned size, uint64_t start, uint64_t len)
{
	return off >= start && off - start <= len && size <= len - (off - start);
}

static uint64_t testdev_bar_read(void *opaque, int bar, uint64_t off,
				 unsigned size)
{
	struct testdev *d = opaque;

	/* BAR4 (bar64=1; the core only lets it through then) is BAR0 again. */
	if (bar == TESTDEV_BAR64) {
		d->st.bar4_reads++;
		bar = 0;
	}
	if (bar == 0) {
		if (in_area(off, size, TD_SCRATCH, TD_SCRATCH_SIZE))
			return bytes_read(d->scratch + (off - TD_SCRATCH), size);
		return regs_read(d, bar0_regs,
				 sizeof(bar0_regs) / sizeof(bar0_regs[0]), off, size);
	}
	if (bar == 1) {
		if (in_area(off, size, TDIO_SCRATCH, TDIO_SCRATCH_SIZE))
			return bytes_read(d->pio_scratch + (off - TDIO_SCRATCH), size);
		return regs_read(d, bar1_regs,
				 sizeof(bar1_regs) / sizeof(bar1_regs[0]), off, size);
	}
	/* BAR2: the core keeps the MSI-X table and PBA; nothing else here. */
	return 0;
}

static void testdev_bar_write(void *opaque, int bar, uint64_t off,
			      uint64_t val, unsigned size)
{
	struct testdev *d = opaque;

	if (bar == TESTDEV_BAR64) {
		d->st.bar4_writes++;
		bar = 0;
	}
	if (bar == 0) {
		if (in_area(off, size, TD_SCRATCH, TD_SCRATCH_SIZE))
			bytes_write(d->scratch + (off - TD_SCRATCH), val, size);
		else
			regs_write(d, bar0_regs,
				   sizeof(bar0_regs) / sizeof(bar0_regs[0]),
				   off, val, size);
	} else if (bar == 1) {
		if (in_area(off, size, TDIO_SCRATCH, TDIO_SCRATCH_SIZE))
			bytes_write(d->pio_scratch + (off - TDIO_SCRATCH), val, size);
		else
			regs_write(d, bar1_regs,
				   sizeof(bar1_regs) / sizeof(bar1_regs[0]),
				   off, val, size);
	}
}

static void testdev_reset(void *opaque)
{
	struct testdev *d = opaque;
	struct dm_host *host = d->host;
	uint8_t *bounce = d->bounce;
	unsigned int vectors = d->msix_vectors;
	bool bar64 = d->bar64;
	struct testdev_stats st = d->st;

	memset(d, 0, sizeof(*d));
	d->host = host;
	d->bounce = bounce;
	d->msix_vectors = vectors;
	d->bar64 = bar64;
	d->st = st;
	d->int_mask = TD_INT_ALL;
	update_irq(d);
}

/*
 * --device-arg: "KEY=VALUE[,KEY=VALUE...]" with msix=N (MSI-X vectors) and
 * bar64=0|1 (BAR4).  Returns false on anything else.
 */
static bool parse_args(const char *args, long *vectors, long *bar64)
{
	char buf[128], *tok, *save = NULL;

	if (!args || !*args)
		return true;
	if (strlen(args) >= sizeof(buf) || args[strlen(args) - 1] == ',')
		return false;
	snprintf(buf, sizeof(buf), "%s", args);
	if (buf[0] == ',' || strstr(buf, ",,"))
		return false;
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (!strncmp(tok, "msix=", 5)) {
			if (!parse_int_range(tok + 5, 0, TESTDEV_MSIX_MAX, vectors))
				return false;
		} else if (!strncmp(tok, "bar64=", 6)) {
			if (!parse_int_range(tok + 6, 0, 1, bar64))
				return false;
		} else {
			return false;
		}
	}
	return true;
}

static void *testdev_create(struct dm_host *host, const char *args, char *err,
			    size_t errlen)
{
	struct testdev *d;
	long vectors = TESTDEV_MSIX_VECTORS, bar64 = 0;

	if (!parse_args(args, &vectors, &bar64)) {
		snprintf(err, errlen,
			 "mpdev-testdev: bad argument '%s' (takes msix=N, N = 0..%d MSI-X vectors, and bar64=0|1, comma-separated)",
			 args, TESTDEV_MSIX_MAX);
		return NULL;
	}
	d = calloc(1, sizeof(*d));
	if (!d || !(d->bounce = malloc(TD_DMA_MAX_LEN))) {
		free(d);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	d->host = host;
	d->msix_vectors = (unsigned int)vectors;
	d->bar64 = bar64 != 0;
	testdev_reset(d);
	return d;
}

static void testdev_destroy(void *opaque)
{
	struct testdev *d = opaque;

	if (d) {
		free(d->bounce);
		free(d);
	}
}

static void testdev_ident(void *opaque, struct pcicfg_ident *id)
{
	struct testdev *d = opaque;

	memset(id, 0, sizeof(*id));
	id->vendor = TESTDEV_VENDOR_ID;
	id->device = TESTDEV_DEVICE_ID;
	id->subsys_vendor = TESTDEV_VENDOR_ID;
	id->subsys = TESTDEV_DEVICE_ID;
	id->revision = TESTDEV_REVISION;
	id->class_code = TESTDEV_CLASS;
	id->int_pin = 1;
	id->bar[0].size = TESTDEV_BAR0_SIZE;
	id->bar[1].size = TESTDEV_BAR1_SIZE;
	id->bar[1].io = true;
	if (d->msix_vectors)
		id->bar[2].size = TESTDEV_BAR2_SIZE;
	if (d->bar64) {
		/* BAR4 and BAR5 as its upper half; registers: no prefetch. */
		id->bar[TESTDEV_BAR64].size = TESTDEV_BAR4_SIZE;
		id->bar[TESTDEV_BAR64].mem64 = true;
	}
}

/* The MSI-X table at the start of BAR2, the PBA in its second half. */
static void testdev_msix(void *opaque, struct dm_msix *m)
{
	struct testdev *d = opaque;

	m->vectors = d->msix_vectors;
	m->table_bar = 2;
	m->table_off = TD_MSIX_TABLE;
	m->pba_bar = 2;
	m->pba_off = TD_MSIX_PBA;
}

/* A vendor-specific capability carrying the device's magic and version. */
static void testdev_cfg_init(void *opaque, struct pcicfg *cfg)
{
	uint8_t body[10] = { 12 };	/* cap length, then magic, version */

	(void)opaque;
	bytes_write(body + 2, TESTDEV_MAGIC, 4);
	bytes_write(body + 6, TESTDEV_VERSION, 4);
	/* body[1] reserved */
	pcicfg_add_cap(cfg, PCI_CAP_ID_VNDR, body, sizeof(body), NULL);
}

static void testdev_dump_stats(void *opaque, FILE *f)
{
	struct testdev *d = opaque;

	fprintf(f, "dev.counter=%llu\n", (unsigned long long)d->counter);
	fprintf(f, "dev.doorbell_count=%llu\n",
		(unsigned long long)d->doorbell_count);
	fprintf(f, "dev.dma_ok=%llu\n", (unsigned long long)d->st.dma_ok);
	fprintf(f, "dev.dma_errors=%llu\n", (unsigned long long)d->st.dma_err);
	fprintf(f, "dev.dma_bytes=%llu\n", (unsigned long long)d->st.dma_bytes);
	fprintf(f, "dev.msix_raises=%llu\n",
		(unsigned long long)d->st.msix_raises);
	fprintf(f, "dev.msix_intx=%llu\n", (unsigned long long)d->st.msix_intx);
	fprintf(f, "dev.msix_events=%llu\n",
		(unsigned long long)d->st.msix_events);
	if (d->bar64) {
		fprintf(f, "dev.bar4_reads=%llu\n",
			(unsigned long long)d->st.bar4_reads);
		fprintf(f, "dev.bar4_writes=%llu\n",
			(unsigned long long)d->st.bar4_writes);
	}
}

const struct devmodel_ops testdev_ops = {
	.name		= "mpdev-testdev",
	.summary	= "test device: scratch, counter, doorbell, DMA, INTx, MSI-X; BAR0 MMIO 4K, BAR1 PIO 32, BAR2 MSI-X 4K; bar64=1: BAR4 64-bit 4K",
	.create		= testdev_create,
	.destroy	= testdev_destroy,
	.ident		= testdev_ident,
	.cfg_init	= testdev_cfg_init,
	.msix		= testdev_msix,
	.bar_read	= testdev_bar_read,
	.bar_write	= testdev_bar_write,
	.reset		= testdev_reset,
	.dump_stats	= testdev_dump_stats,
};
