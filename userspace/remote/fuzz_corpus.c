// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Writes the seed corpus for fuzz_msg into a directory: realistic message
 * sequences (the stock proxy's probe, BAR programming, every register,
 * DMA, INTx, MSI-X, reset, the mpdev extensions) plus a few broken ones.  Seeds
 * are generated, never committed as binary files.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "msg.h"
#include "testdev.h"

struct seed {
	uint8_t buf[16384];
	size_t len;
};

static void msg(struct seed *s, int nfds, int cmd, const void *pl, size_t size)
{
	if (s->len + 1 + MPQ_HDR_SIZE + size > sizeof(s->buf))
		return;
	s->buf[s->len++] = (uint8_t)nfds;
	s->len += mpq_encode(s->buf + s->len, sizeof(s->buf) - s->len, cmd, pl, size);
}

static void cfg(struct seed *s, int cmd, uint32_t addr, uint32_t val, int len)
{
	struct mpq_pci_conf c = { .addr = addr, .val = val, .len = len };

	msg(s, 0, cmd, &c, sizeof(c));
}

static void bar(struct seed *s, int cmd, uint64_t addr, uint64_t val, unsigned size,
		bool memory)
{
	struct mpq_bar_access a = { .addr = addr, .val = val, .size = size,
				    .memory = memory };

	msg(s, 0, cmd, &a, sizeof(a));
}

static void direct(struct seed *s, int b, int size, int write, uint64_t off, uint64_t val)
{
	if (s->len + 20 > sizeof(s->buf))
		return;
	s->buf[s->len++] = 0x80;
	s->buf[s->len++] = (uint8_t)b;
	s->buf[s->len++] = (uint8_t)size;
	s->buf[s->len++] = (uint8_t)write;
	memcpy(s->buf + s->len, &off, 8);
	memcpy(s->buf + s->len + 8, &val, 8);
	s->len += 16;
}

static void setup(struct seed *s)
{
	cfg(s, MPQ_CMD_PCI_CFGWRITE, 0x10, 0xfebf0000, 4);
	cfg(s, MPQ_CMD_PCI_CFGWRITE, 0x14, 0xc000, 4);
	cfg(s, MPQ_CMD_PCI_CFGWRITE, 0x04, 0x0007, 2);
}

static int save(const char *dir, const char *name, const struct seed *s)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (!f || fwrite(s->buf, 1, s->len, f) != s->len || fclose(f)) {
		fprintf(stderr, "gen_corpus: %s: %s\n", path, strerror(errno));
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct seed *s = calloc(1, sizeof(*s));
	int rc = 0;

	if (argc != 2 || !s) {
		fprintf(stderr, "usage: gen_corpus DIR\n");
		return 2;
	}

	/* The stock proxy's start-up: ids, then BAR sizing of 7 dwords. */
	s->len = 0;
	msg(s, 2, MPQ_CMD_SET_IRQFD, NULL, 0);
	cfg(s, MPQ_CMD_PCI_CFGREAD, 0x00, 0, 2);
	cfg(s, MPQ_CMD_PCI_CFGREAD, 0x02, 0, 2);
	cfg(s, MPQ_CMD_PCI_CFGREAD, 0x0a, 0, 2);
	cfg(s, MPQ_CMD_PCI_CFGREAD, 0x2e, 0, 2);
	for (int i = 0; i < 7; i++) {
		cfg(s, MPQ_CMD_PCI_CFGREAD, 0x10 + 4 * i, 0, 4);
		cfg(s, MPQ_CMD_PCI_CFGWRITE, 0x10 + 4 * i, 0xffffffff, 4);
		cfg(s, MPQ_CMD_PCI_CFGREAD, 0x10 + 4 * i, 0, 4);
		cfg(s, MPQ_CMD_PCI_CFGWRITE, 0x10 + 4 * i, 0, 4);
	}
	msg(s, 0, MPQ_CMD_DEVICE_RESET, NULL, 0);
	rc |= save(argv[1], "probe", s);

	/* Every BAR0/BAR1 register at every size. */
	s->len = 0;
	setup(s);
	for (unsigned off = 0; off < 0x60; off += 4)
		for (unsigned sz = 1; sz <= 8; sz *= 2) {
			bar(s, MPQ_CMD_BAR_WRITE, 0xfebf0000 + off, 0x0123456789abcdefull, sz, true);
			bar(s, MPQ_CMD_BAR_READ, 0xfebf0000 + off, 0, sz, true);
		}
	for (unsigned off = 0; off < 0x20; off += 2)
		bar(s, MPQ_CMD_BAR_READ, 0xc000 + off, 0, 2, false);
	bar(s, MPQ_CMD_BAR_WRITE, 0xfebf0000 + TD_SCRATCH + 3, 0x55, 1, true);
	rc |= save(argv[1], "registers", s);

	/* DMA inside the fuzzer's RAM buffer, with INTx wired. */
	s->len = 0;
	msg(s, 2, MPQ_CMD_SET_IRQFD, NULL, 0);
	setup(s);
	bar(s, MPQ_CMD_BAR_WRITE, 0xfebf0000 + TD_DMA_SRC, 0x1000, 8, true);
	bar(s, MPQ_CMD_BAR_WRITE, 0xfebf0000 + TD_DMA_DST, 0x8000, 8, true);
	bar(s, MPQ_CMD_BAR_WRITE, 0xfebf0000 + TD_DMA_LEN, 0x100, 4, true);
	bar(s, MPQ_CMD_BAR_WRITE, 0xfebf0000 + TD_DMA_CMD, 1, 4, true);
	bar(s, MPQ_CMD_BAR_READ, 0xfebf0000 + TD_DMA_STATUS, 0, 4, true);
	bar(s, MPQ_CMD_BAR_WRITE, 0xfebf0000 + TD_INT_STATUS, 7, 4, true);
	cfg(s, MPQ_CMD_PCI_CFGWRITE, 0x04, 0x0407, 2);
	bar(s, MPQ_CMD_BAR_WRITE, 0xfebf0000 + TD_INT_RAISE, 4, 4, true);
	cfg(s, MPQ_CMD_PCI_CFGREAD, 0x04, 0, 4);
	rc |= save(argv[1], "dma-intx", s);

	/* Guest RAM map (the fuzzer's fds are eventfds: refused) and mpdev. */
	s->len = 0;
	{
		struct mpq_sync_sysmem m = { .gpas = { 0, 0x100000 },
					     .sizes = { 0xa0000, 0x1000000 },
					     .offsets = { 0, 0x100000 } };
		struct mpq_mpdev_backend b = { .magic = MPQ_MPDEV_MAGIC,
					       .version = MPQ_MPDEV_VERSION,
					       .nr_map = 2,
					       .map = { { 0, 0 }, { 1, 1 } } };

		msg(s, 2, MPQ_CMD_SYNC_SYSMEM, &m, sizeof(m));
		msg(s, 1, MPQ_CMD_MPDEV_BACKEND, &b, sizeof(b));
		msg(s, 9, MPQ_CMD_SYNC_SYSMEM, &m, sizeof(m));
	}
	rc |= save(argv[1], "sysmem-mpdev", s);

	/* The mpdev path's direct accesses. */
	s->len = 0;
	setup(s);
	direct(s, 0, 4, 0, TD_MAGIC, 0);
	direct(s, 0, 8, 1, TD_SCRATCH, 0x1122334455667788ull);
	direct(s, 0, 8, 0, TD_COUNTER, 0);
	direct(s, 1, 4, 0, 4, 0);
	direct(s, 0, 4, 1, TD_DMA_CMD, 1);
	direct(s, 3, 4, 0, 0, 0);
	direct(s, 0, 8, 0, 0xffc, 0);
	rc |= save(argv[1], "direct", s);

	/*
	 * MSI-X: the patched proxy's eventfds (8 in one message), the guest
	 * enabling, masking and unmasking, vectors raised in each state, the
	 * table and PBA touched, a reset; then sets that must be declined.
	 */
	s->len = 0;
	{
		struct mpq_msi_fds f = { .magic = MPQ_MSI_FDS_MAGIC,
					 .kind = MPQ_MSI_FDS_MSIX, .first = 0,
					 .total = TESTDEV_MSIX_VECTORS };

		msg(s, 2, MPQ_CMD_SET_IRQFD, NULL, 0);
		msg(s, 8, MPQ_CMD_MSI_FDS, &f, sizeof(f));
		setup(s);
		cfg(s, MPQ_CMD_PCI_CFGWRITE, 0x18, 0xfebe0000, 4);
		bar(s, MPQ_CMD_BAR_WRITE, 0xfebf0000 + TD_MSIX_RAISE, 1, 4, true);
		cfg(s, MPQ_CMD_PCI_CFGWRITE, 0x4e, 0x8000, 2);
		for (unsigned v = 0; v < 10; v++)
			bar(s, MPQ_CMD_BAR_WRITE, 0xfebf0000 + TD_MSIX_RAISE, v, 4, true);
		bar(s, MPQ_CMD_BAR_WRITE, 0xfebf0000 + TD_INT_RAISE, 4, 4, true);
		cfg(s, MPQ_CMD_PCI_CFGWRITE, 0x4e, 0xc000, 2);
		bar(s, MPQ_CMD_BAR_WRITE, 0xfebf0000 + TD_MSIX_RAISE, 3, 4, true);
		bar(s, MPQ_CMD_BAR_READ, 0xfebe0000 + TD_MSIX_TABLE, 0, 4, true);
		bar(s, MPQ_CMD_BAR_READ, 0xfebe0000 + TD_MSIX_PBA, 0, 8, true);
		cfg(s, MPQ_CMD_PCI_CFGWRITE, 0x4f, 0x80, 1);
		cfg(s, MPQ_CMD_PCI_CFGREAD, 0x4c, 0, 4);
		msg(s, 0, MPQ_CMD_DEVICE_RESET, NULL, 0);
		f.first = 4;
		msg(s, 4, MPQ_CMD_MSI_FDS, &f, sizeof(f));
		f.first = 0;
		f.total = 9;
		msg(s, 8, MPQ_CMD_MSI_FDS, &f, sizeof(f));
		f.total = TESTDEV_MSIX_VECTORS;
		f.magic = 0;
		msg(s, 1, MPQ_CMD_MSI_FDS, &f, sizeof(f));
	}
	rc |= save(argv[1], "msix", s);

	/* Broken: wrong sizes, wrong fds, a RET, an unknown command. */
	s->len = 0;
	msg(s, 0, MPQ_CMD_PCI_CFGREAD, "\0\0\0\0\0\0\0\0", 8);
	msg(s, 1, MPQ_CMD_BAR_READ, (uint8_t[24]){ 0 }, 24);
	msg(s, 0, MPQ_CMD_RET, "\0\0\0\0\0\0\0\0", 8);
	msg(s, 0, 42, NULL, 0);
	msg(s, 3, MPQ_CMD_SET_IRQFD, NULL, 0);
	cfg(s, MPQ_CMD_PCI_CFGREAD, 0xfe, 0, 4);
	cfg(s, MPQ_CMD_PCI_CFGWRITE, 0x100, 0, 4);
	rc |= save(argv[1], "broken", s);

	free(s);
	return rc ? 1 : 0;
}
