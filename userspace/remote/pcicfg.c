// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * PCI configuration space emulation with per-bit write masks.
 *
 * BAR sizing: QEMU 7.2's proxy (probe_pci_info() in hw/remote/proxy.c)
 * writes 0xffffffff to each of the six dwords at 0x10..0x24 and to 0x28,
 * reads back, and takes size = ~(val & 0xfffffff0) + 1 as a 32-bit BAR.
 * So every BAR here is 32 bits wide with all upper address bits writable
 * (also for I/O, or an I/O BAR would come out absurdly large), an absent
 * BAR reads 0 after the write (size 0), and 0x28 is read-only zero.
 *
 * Unless the device asks for a 64-bit memory BAR (pcicfg_bar.mem64): type
 * bits 0b10 in its low dword and the next register, all writable, as the
 * upper address half, sized and decoded together as firmware and Linux
 * (and the patched proxy) do.  Stock QEMU 7.2's proxy sizes such a BAR
 * wrongly, each dword on its own, so no device has one by default.
 */
#include "pcicfg.h"

#include <string.h>

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = v & 0xff;
	p[1] = v >> 8;
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (v >> (8 * i)) & 0xff;
}

static uint32_t get32(const uint8_t *p)
{
	return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24;
}

static bool is_pow2(uint32_t v)
{
	return v && !(v & (v - 1));
}

int pcicfg_init(struct pcicfg *c, const struct pcicfg_ident *id)
{
	memset(c, 0, sizeof(*c));

	put16(c->cfg + PCI_VENDOR_ID, id->vendor);
	put16(c->cfg + PCI_DEVICE_ID, id->device);
	c->cfg[PCI_REVISION_ID] = id->revision;
	c->cfg[PCI_CLASS_PROG] = id->class_code & 0xff;
	c->cfg[PCI_CLASS_PROG + 1] = (id->class_code >> 8) & 0xff;
	c->cfg[PCI_CLASS_PROG + 2] = (id->class_code >> 16) & 0xff;
	c->cfg[PCI_HEADER_TYPE] = 0;	/* type 0, single function */
	put16(c->cfg + PCI_SUBSYSTEM_VENDOR_ID, id->subsys_vendor);
	put16(c->cfg + PCI_SUBSYSTEM_ID, id->subsys);
	c->cfg[PCI_INTERRUPT_PIN] = id->int_pin;

	/* Command: decode enables, bus master, parity, SERR, INTx disable. */
	put16(c->wmask + PCI_COMMAND, PCI_COMMAND_IO | PCI_COMMAND_MEMORY |
	      PCI_COMMAND_MASTER | PCI_COMMAND_PARITY | PCI_COMMAND_SERR |
	      PCI_COMMAND_INTX_DISABLE);
	/* Status: error bits are RW1C; interrupt status and cap list RO. */
	put16(c->w1cmask + PCI_STATUS, 0xf900);
	c->wmask[PCI_CACHE_LINE_SIZE] = 0xff;
	c->wmask[PCI_LATENCY_TIMER] = 0xff;
	c->wmask[PCI_INTERRUPT_LINE] = 0xff;

	for (int i = 0; i < PCICFG_NUM_BARS; i++) {
		const struct pcicfg_bar *b = &id->bar[i];
		uint8_t *reg = c->cfg + PCI_BASE_ADDRESS_0 + 4 * i;

		c->bar[i] = *b;
		if (!b->size)
			continue;
		if (!is_pow2(b->size) || b->size < (b->io ? 4u : 16u) ||
		    (b->io && b->size > 256))
			return -1;
		if (b->io && (b->mem64 || b->prefetch))
			return -1;
		if (b->mem64 && (i + 1 >= PCICFG_NUM_BARS || id->bar[i + 1].size))
			return -1;
		put32(reg, b->io ? PCI_BASE_ADDRESS_SPACE_IO :
		      (b->mem64 ? PCI_BASE_ADDRESS_MEM_TYPE_64 : 0) |
		      (b->prefetch ? PCI_BASE_ADDRESS_MEM_PREFETCH : 0));
		put32(c->wmask + PCI_BASE_ADDRESS_0 + 4 * i, ~(b->size - 1));
		if (b->mem64) {
			/* The upper half: every address bit writable. */
			put32(c->wmask + PCI_BASE_ADDRESS_0 + 4 * (i + 1), ~0u);
			c->bar[++i] = (struct pcicfg_bar){ 0 };
		}
	}

	c->next_cap = 0x40;
	c->last_cap_next = NULL;
	return 0;
}

void pcicfg_reset(struct pcicfg *c)
{
	/* Writable bits go back to 0, except the BAR type bits (read-only). */
	for (int i = 0; i < PCICFG_SIZE; i++)
		c->cfg[i] &= ~(c->wmask[i] | c->w1cmask[i]);
	c->cfg[PCI_STATUS] &= ~PCI_STATUS_INTERRUPT;
}

uint8_t pcicfg_add_cap(struct pcicfg *c, uint8_t cap_id, const void *body,
		       uint8_t body_len, const void *wmask)
{
	unsigned int off = c->next_cap;

	if (off < 0x40 || off + 2u + body_len > PCICFG_SIZE)
		return 0;
	c->cfg[off] = cap_id;
	c->cfg[off + 1] = 0;
	if (body_len)
		memcpy(c->cfg + off + 2, body, body_len);
	if (wmask)
		memcpy(c->wmask + off + 2, wmask, body_len);
	if (c->last_cap_next)
		*c->last_cap_next = off;
	else
		c->cfg[PCI_CAPABILITY_LIST] = off;
	c->last_cap_next = &c->cfg[off + 1];
	c->cfg[PCI_STATUS] |= PCI_STATUS_CAP_LIST;
	/* Capabilities are dword aligned. */
	c->next_cap = (off + 2 + body_len + 3) & ~3u;
	return off;
}

static bool access_ok(uint32_t addr, int len)
{
	if (len != 1 && len != 2 && len != 4)
		return false;
	if (addr >= PCICFG_SIZE || addr + (uint32_t)len > PCICFG_SIZE)
		return false;
	/* Config cycles cannot cross a dword; reject what hardware cannot do. */
	return (addr & 3) + (uint32_t)len <= 4;
}

bool pcicfg_read(const struct pcicfg *c, uint32_t addr, int len, uint32_t *val)
{
	uint32_t v = 0;

	if (!access_ok(addr, len))
		return false;
	for (int i = 0; i < len; i++)
		v |= (uint32_t)c->cfg[addr + i] << (8 * i);
	*val = v;
	return true;
}

bool pcicfg_write(struct pcicfg *c, uint32_t addr, uint32_t val, int len)
{
	if (!access_ok(addr, len))
		return false;
	for (int i = 0; i < len; i++) {
		uint8_t b = (val >> (8 * i)) & 0xff;
		uint32_t a = addr + i;

		c->cfg[a] = (c->cfg[a] & ~c->wmask[a]) | (b & c->wmask[a]);
		c->cfg[a] &= ~(b & c->w1cmask[a]);
	}
	return true;
}

uint16_t pcicfg_command(const struct pcicfg *c)
{
	return c->cfg[PCI_COMMAND] | c->cfg[PCI_COMMAND + 1] << 8;
}

void pcicfg_set_int_status(struct pcicfg *c, bool level)
{
	if (level)
		c->cfg[PCI_STATUS] |= PCI_STATUS_INTERRUPT;
	else
		c->cfg[PCI_STATUS] &= ~PCI_STATUS_INTERRUPT;
}

uint64_t pcicfg_bar_base(const struct pcicfg *c, int i)
{
	uint32_t v = get32(c->cfg + PCI_BASE_ADDRESS_0 + 4 * i);

	if (c->bar[i].io)
		return v & ~3u;
	if (c->bar[i].mem64 && i + 1 < PCICFG_NUM_BARS)
		return (uint64_t)get32(c->cfg + PCI_BASE_ADDRESS_0 + 4 * (i + 1)) << 32 |
		       (v & ~15u);
	return v & ~15u;
}

int pcicfg_decode(const struct pcicfg *c, bool memory, uint64_t addr,
		  unsigned int size, uint64_t *off)
{
	uint16_t cmd = pcicfg_command(c);

	if (memory ? !(cmd & PCI_COMMAND_MEMORY) : !(cmd & PCI_COMMAND_IO))
		return -1;
	for (int i = 0; i < PCICFG_NUM_BARS; i++) {
		const struct pcicfg_bar *b = &c->bar[i];
		uint64_t base;

		if (!b->size || b->io == memory)
			continue;
		base = pcicfg_bar_base(c, i);
		/* Unsigned arithmetic: addr below base wraps to a huge offset. */
		if (addr - base < b->size && size <= b->size - (addr - base)) {
			*off = addr - base;
			return i;
		}
	}
	return -1;
}
