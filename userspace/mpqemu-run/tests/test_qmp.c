// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Tests for mpqemu-run's QMP client (qmp.c).
 *
 * First the query-pci parser, on replies captured from a real QEMU and on
 * hand-made broken ones; then the client end to end against a fake QMP
 * server, a forked child listening on a UNIX socket in a mkdtemp
 * directory.  Waits are bounded by generous limits that only matter when
 * something is broken.  The timeout tests bound the wait from above with
 * seconds of slack; from below they check only what cannot be otherwise
 * (poll() waited out its timeout, a socket made after 200 ms was not
 * connected to sooner), so no result depends on how fast the machine is.
 *
 * usage: test_qmp
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../qmp.h"
#include "../../remote/tests/tap.h"

#define BOUND_MS	30000	/* upper bound for anything to happen */
#define SHORT_MS	300	/* the timeout the timeout tests use */
#define SLACK_MS	5000	/* "returned within the timeout", generously */

static char tmpdir[] = "/tmp/mpqemu-qmp-test.XXXXXX";

/*
 * The "return" member of a real query-pci reply, verbatim: captured from
 * Debian's QEMU 7.2 (1:7.2+dfsg-7+deb12u18) with
 *
 *   qemu-system-x86_64 -machine pc -accel tcg -display none -nodefaults \
 *     -m 128 -qmp stdio -device e1000,id=nic0 -device virtio-net-pci,id=vnet0 \
 *     -device pci-bridge,id=br0,chassis_nr=1,addr=5 \
 *     -device e1000,id=nic1,bus=br0,addr=3
 *
 * after qmp_capabilities, 4 s into SeaBIOS (so the BARs are assigned),
 * as the reply to {"execute":"query-pci","id":7}; the line ended in
 * "\r\n".  Debian sid's QEMU 11.1.3 gave a byte-identical reply.  The ROM
 * BARs (bar 6) stay unmapped: SeaBIOS does not leave them enabled.
 */
#define RUNNING_RETURN \
	"\"return\": [{\"bus\": 0, \"devices\": [{\"irq_pin\": 0, \"bus\": 0, " \
	"\"qdev_id\": \"\", \"slot\": 0, \"class_info\": {\"class\": 1536, " \
	"\"desc\": \"Host bridge\"}, \"id\": {\"device\": 4663, " \
	"\"subsystem-vendor\": 6900, \"vendor\": 32902, \"subsystem\": 4352}, " \
	"\"function\": 0, \"regions\": []}, {\"irq_pin\": 0, \"bus\": 0, " \
	"\"qdev_id\": \"\", \"slot\": 1, \"class_info\": {\"class\": 1537, " \
	"\"desc\": \"ISA bridge\"}, \"id\": {\"device\": 28672, " \
	"\"subsystem-vendor\": 6900, \"vendor\": 32902, \"subsystem\": 4352}, " \
	"\"function\": 0, \"regions\": []}, {\"irq_pin\": 0, \"bus\": 0, " \
	"\"qdev_id\": \"\", \"slot\": 1, \"class_info\": {\"class\": 257, " \
	"\"desc\": \"IDE controller\"}, \"id\": {\"device\": 28688, " \
	"\"subsystem-vendor\": 6900, \"vendor\": 32902, \"subsystem\": 4352}, " \
	"\"function\": 1, \"regions\": [{\"bar\": 4, \"size\": 16, \"address\": 53344, " \
	"\"type\": \"io\"}]}, {\"irq_pin\": 1, \"bus\": 0, \"qdev_id\": \"\", \"irq\": 9, " \
	"\"slot\": 1, \"class_info\": {\"class\": 1664, \"desc\": \"Bridge\"}, " \
	"\"id\": {\"device\": 28947, \"subsystem-vendor\": 6900, \"vendor\": 32902, " \
	"\"subsystem\": 4352}, \"function\": 3, \"regions\": []}, {\"irq_pin\": 1, " \
	"\"bus\": 0, \"qdev_id\": \"nic0\", \"irq\": 10, \"slot\": 2, " \
	"\"class_info\": {\"class\": 512, \"desc\": \"Ethernet controller\"}, " \
	"\"id\": {\"device\": 4110, \"subsystem-vendor\": 6900, \"vendor\": 32902, " \
	"\"subsystem\": 4352}, \"function\": 0, \"regions\": [{\"prefetch\": false, " \
	"\"mem_type_64\": false, \"bar\": 0, \"size\": 131072, " \
	"\"address\": 4268228608, \"type\": \"memory\"}, {\"bar\": 1, \"size\": 64, " \
	"\"address\": 53248, \"type\": \"io\"}, {\"prefetch\": false, " \
	"\"mem_type_64\": false, \"bar\": 6, \"size\": 262144, \"address\": -1, " \
	"\"type\": \"memory\"}]}, {\"irq_pin\": 1, \"bus\": 0, \"qdev_id\": \"vnet0\", " \
	"\"irq\": 11, \"slot\": 3, \"class_info\": {\"class\": 512, " \
	"\"desc\": \"Ethernet controller\"}, \"id\": {\"device\": 4096, " \
	"\"subsystem-vendor\": 6900, \"vendor\": 6900, \"subsystem\": 1}, " \
	"\"function\": 0, \"regions\": [{\"bar\": 0, \"size\": 32, \"address\": 53312, " \
	"\"type\": \"io\"}, {\"prefetch\": false, \"mem_type_64\": false, \"bar\": 1, " \
	"\"size\": 4096, \"address\": 4268359680, \"type\": \"memory\"}, " \
	"{\"prefetch\": true, \"mem_type_64\": true, \"bar\": 4, \"size\": 16384, " \
	"\"address\": 4271898624, \"type\": \"memory\"}, {\"prefetch\": false, " \
	"\"mem_type_64\": false, \"bar\": 6, \"size\": 262144, \"address\": -1, " \
	"\"type\": \"memory\"}]}, {\"irq_pin\": 1, \"bus\": 0, " \
	"\"pci_bridge\": {\"bus\": {\"prefetchable_range\": {\"limit\": 4271898623, " \
	"\"base\": 4269801472}, \"memory_range\": {\"limit\": 4267704319, " \
	"\"base\": 4265607168}, \"secondary\": 1, \"io_range\": {\"limit\": 53247, " \
	"\"base\": 49152}, \"number\": 0, \"subordinate\": 1}, " \
	"\"devices\": [{\"irq_pin\": 1, \"bus\": 1, \"qdev_id\": \"nic1\", \"irq\": 11, " \
	"\"slot\": 3, \"class_info\": {\"class\": 512, " \
	"\"desc\": \"Ethernet controller\"}, \"id\": {\"device\": 4110, " \
	"\"subsystem-vendor\": 6900, \"vendor\": 32902, \"subsystem\": 4352}, " \
	"\"function\": 0, \"regions\": [{\"prefetch\": false, " \
	"\"mem_type_64\": false, \"bar\": 0, \"size\": 131072, " \
	"\"address\": 4265869312, \"type\": \"memory\"}, {\"bar\": 1, \"size\": 64, " \
	"\"address\": 49152, \"type\": \"io\"}, {\"prefetch\": false, " \
	"\"mem_type_64\": false, \"bar\": 6, \"size\": 262144, \"address\": -1, " \
	"\"type\": \"memory\"}]}]}, \"qdev_id\": \"br0\", \"irq\": 10, \"slot\": 5, " \
	"\"class_info\": {\"class\": 1540, \"desc\": \"PCI bridge\"}, " \
	"\"id\": {\"device\": 1, \"vendor\": 6966}, \"function\": 0, " \
	"\"regions\": [{\"prefetch\": false, \"mem_type_64\": true, \"bar\": 0, " \
	"\"size\": 256, \"address\": 4268363776, \"type\": \"memory\"}]}]}]"

static const char reply_running[] = "{" RUNNING_RETURN ", \"id\": 7}";

/*
 * The same QEMU 7.2 command line with -S (no firmware has run), trimmed
 * to nic0 and br0.  Every BAR is unmapped ("address": -1), and br0 has no
 * "devices" at all: QEMU lists a bridge's devices only once the guest
 * has given it a secondary bus number, so nic1 cannot be found yet.
 * QEMU 11.1.3 again gave the same bytes (before trimming).
 */
#define STOPPED_RETURN \
	"\"return\": [{\"bus\": 0, \"devices\": [{\"irq_pin\": 1, " \
	"\"bus\": 0, \"qdev_id\": \"nic0\", \"irq\": 0, \"slot\": 2, " \
	"\"class_info\": {\"class\": 512, \"desc\": \"Ethernet controller\"}, " \
	"\"id\": {\"device\": 4110, \"subsystem-vendor\": 6900, \"vendor\": 32902, " \
	"\"subsystem\": 4352}, \"function\": 0, \"regions\": [{\"prefetch\": false, " \
	"\"mem_type_64\": false, \"bar\": 0, \"size\": 131072, \"address\": -1, " \
	"\"type\": \"memory\"}, {\"bar\": 1, \"size\": 64, \"address\": -1, " \
	"\"type\": \"io\"}, {\"prefetch\": false, \"mem_type_64\": false, \"bar\": 6, " \
	"\"size\": 262144, \"address\": -1, \"type\": \"memory\"}]}, {\"irq_pin\": 1, \"bus\": 0, " \
	"\"pci_bridge\": {\"bus\": {\"prefetchable_range\": {\"limit\": 1048575, " \
	"\"base\": 0}, \"memory_range\": {\"limit\": 1048575, \"base\": 0}, " \
	"\"secondary\": 0, \"io_range\": {\"limit\": 4095, \"base\": 0}, " \
	"\"number\": 0, \"subordinate\": 0}}, \"qdev_id\": \"br0\", \"irq\": 0, " \
	"\"slot\": 5, \"class_info\": {\"class\": 1540, \"desc\": \"PCI bridge\"}, " \
	"\"id\": {\"device\": 1, \"vendor\": 6966}, \"function\": 0, " \
	"\"regions\": [{\"prefetch\": false, \"mem_type_64\": true, \"bar\": 0, " \
	"\"size\": 256, \"address\": -1, \"type\": \"memory\"}]}]}]"

static const char reply_stopped[] = "{" STOPPED_RETURN ", \"id\": 7}";

/* QEMU 7.2's greeting and an event, as it sent them. */
#define GREETING \
	"{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 22, \"minor\": 2, " \
	"\"major\": 7}, \"package\": \"Debian 1:7.2+dfsg-7+deb12u18+b3\"}, " \
	"\"capabilities\": [\"oob\"]}}\r\n"
#define EVENT \
	"{\"timestamp\": {\"seconds\": 1796156621, \"microseconds\": 741990}, " \
	"\"event\": \"RESUME\"}\r\n"

#define UNMAPPED	UINT64_MAX

/* ---- helpers -------------------------------------------------------- */

static void msleep(int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool bar_is(const struct qmp_pci_dev *d, int i, int bar, bool io,
		   bool mem64, bool prefetch, uint64_t addr, uint64_t size)
{
	const struct qmp_bar *b = &d->bars[i];
	bool mapped = addr != UNMAPPED;

	if (i < d->nbars && b->bar == bar && b->io == io && b->mem64 == mem64 &&
	    b->prefetch == prefetch && b->mapped == mapped && b->addr == addr &&
	    b->size == size)
		return true;
	diag("bars[%d]: bar %d io %d mem64 %d prefetch %d mapped %d addr 0x%llx size 0x%llx",
	     i, b->bar, b->io, b->mem64, b->prefetch, b->mapped,
	     (unsigned long long)b->addr, (unsigned long long)b->size);
	return false;
}

static bool dev_is(const struct qmp_pci_dev *d, int bus, int slot, int fn,
		   const char *id, int nbars)
{
	if (d->bus == bus && d->slot == slot && d->function == fn &&
	    !strcmp(d->qdev_id, id) && d->nbars == nbars)
		return true;
	diag("device %02x:%02x.%d \"%s\" with %d bars", d->bus, d->slot,
	     d->function, d->qdev_id, d->nbars);
	return false;
}

/* @regions (JSON text) as the regions of "dev0" at 00:04.0. */
static int parse_regions(const char *regions, struct qmp_pci_dev *d,
			 char *err, size_t len)
{
	char json[4096];

	snprintf(json, sizeof(json),
		 "{\"return\": [{\"bus\": 0, \"devices\": [{\"bus\": 0, \"slot\": 4, "
		 "\"function\": 0, \"qdev_id\": \"dev0\", \"regions\": [%s]}]}]}",
		 regions);
	return qmp_parse_query_pci(json, "dev0", d, err, len);
}

/* -1, a message with @want in it, and nothing left in @d. */
static bool refused(int r, const struct qmp_pci_dev *d, const char *err,
		    const char *want)
{
	static const struct qmp_pci_dev zero;

	if (r == -1 && strstr(err, want) && !memcmp(d, &zero, sizeof(zero)))
		return true;
	diag("r = %d, err '%s', wanted '%s'", r, err, want);
	return false;
}

/* ---- the parser ------------------------------------------------------- */

static void test_parse_real(void)
{
	struct qmp_pci_dev d;
	char err[512] = "";
	int r;

	r = qmp_parse_query_pci(reply_running, "nic0", &d, err, sizeof(err));
	ok(r == 0 && dev_is(&d, 0, 2, 0, "nic0", 3) &&
	   bar_is(&d, 0, 0, false, false, false, 0xfe680000, 0x20000) &&
	   bar_is(&d, 1, 1, true, false, false, 0xd000, 0x40) &&
	   bar_is(&d, 2, 6, false, false, false, UNMAPPED, 0x40000),
	   "real 7.2 reply: e1000 nic0 at 00:02.0, BAR0 mem, BAR1 io, ROM unmapped (%s)",
	   r ? err : "");

	r = qmp_parse_query_pci(reply_running, "vnet0", &d, err, sizeof(err));
	ok(r == 0 && dev_is(&d, 0, 3, 0, "vnet0", 4) &&
	   bar_is(&d, 0, 0, true, false, false, 0xd040, 0x20) &&
	   bar_is(&d, 1, 1, false, false, false, 0xfe6a0000, 0x1000) &&
	   bar_is(&d, 2, 4, false, true, true, 0xfea00000, 0x4000) &&
	   bar_is(&d, 3, 6, false, false, false, UNMAPPED, 0x40000),
	   "real 7.2 reply: virtio-net vnet0, 64-bit prefetchable BAR4 (%s)", r ? err : "");

	r = qmp_parse_query_pci(reply_running, "nic1", &d, err, sizeof(err));
	ok(r == 0 && dev_is(&d, 1, 3, 0, "nic1", 3) &&
	   bar_is(&d, 0, 0, false, false, false, 0xfe440000, 0x20000) &&
	   bar_is(&d, 1, 1, true, false, false, 0xc000, 0x40) &&
	   bar_is(&d, 2, 6, false, false, false, UNMAPPED, 0x40000),
	   "real 7.2 reply: nic1 behind pci-bridge br0, at 01:03.0 (%s)", r ? err : "");

	r = qmp_parse_query_pci(reply_running, "br0", &d, err, sizeof(err));
	ok(r == 0 && dev_is(&d, 0, 5, 0, "br0", 1) &&
	   bar_is(&d, 0, 0, false, true, false, 0xfe6a1000, 0x100),
	   "real 7.2 reply: the bridge itself (%s)", r ? err : "");

	r = qmp_parse_query_pci(reply_running, "nosuch", &d, err, sizeof(err));
	ok(r == 1, "real 7.2 reply: no such device -> 1");
	r = qmp_parse_query_pci(reply_running, "nic", &d, err, sizeof(err));
	ok(r == 1, "real 7.2 reply: a prefix of a qdev_id does not match");

	r = qmp_parse_query_pci(reply_stopped, "nic0", &d, err, sizeof(err));
	ok(r == 0 && dev_is(&d, 0, 2, 0, "nic0", 3) &&
	   bar_is(&d, 0, 0, false, false, false, UNMAPPED, 0x20000) &&
	   bar_is(&d, 1, 1, true, false, false, UNMAPPED, 0x40) &&
	   bar_is(&d, 2, 6, false, false, false, UNMAPPED, 0x40000),
	   "real 7.2 reply under -S: address -1 is mapped=false (%s)", r ? err : "");

	r = qmp_parse_query_pci(reply_stopped, "nic1", &d, err, sizeof(err));
	ok(r == 1, "real 7.2 reply under -S: a bridge without \"devices\" hides nic1 -> 1");
}

static void test_parse_synthetic(void)
{
	struct qmp_pci_dev d;
	char err[512] = "", json[4096];
	int r;

	r = parse_regions("{\"bar\": 2, \"type\": \"memory\", \"address\": -4294967296, "
			  "\"size\": 4096, \"mem_type_64\": true}", &d, err, sizeof(err));
	ok(r == 0 && dev_is(&d, 0, 4, 0, "dev0", 1) &&
	   bar_is(&d, 0, 2, false, true, false, 0xffffffff00000000ull, 0x1000),
	   "address above 2^63 (negative int64) is mapped, as uint64 (%s)", r ? err : "");

	r = parse_regions("{\"bar\": 0, \"type\": \"memory\", \"address\": 4096, "
			  "\"size\": 4096}", &d, err, sizeof(err));
	ok(r == 0 && bar_is(&d, 0, 0, false, false, false, 0x1000, 0x1000),
	   "memory BAR without prefetch/mem_type_64: both false (%s)", r ? err : "");

	r = parse_regions("", &d, err, sizeof(err));
	ok(r == 0 && dev_is(&d, 0, 4, 0, "dev0", 0), "no regions: found, 0 BARs");

	r = parse_regions("{\"bar\": 0, \"type\": \"memory\", \"address\": -1, \"size\": 16}, "
			  "{\"bar\": 1, \"type\": \"io\", \"address\": -1, \"size\": 16}, "
			  "{\"bar\": 2, \"type\": \"memory\", \"address\": -1, \"size\": 16}, "
			  "{\"bar\": 3, \"type\": \"io\", \"address\": -1, \"size\": 16}, "
			  "{\"bar\": 4, \"type\": \"memory\", \"address\": -1, \"size\": 16}, "
			  "{\"bar\": 5, \"type\": \"io\", \"address\": -1, \"size\": 16}, "
			  "{\"bar\": 6, \"type\": \"memory\", \"address\": 65536, \"size\": 65536}",
			  &d, err, sizeof(err));
	ok(r == 0 && d.nbars == 7 && bar_is(&d, 5, 5, true, false, false, UNMAPPED, 16) &&
	   bar_is(&d, 6, 6, false, false, false, 0x10000, 0x10000),
	   "all 7 BARs, a mapped ROM as bar 6 (%s)", r ? err : "");

	/* Two bridges deep, on the second root bus (a pxb, say). */
	r = qmp_parse_query_pci(
		"{\"return\": [{\"bus\": 0, \"devices\": []}, {\"bus\": 128, \"devices\": ["
		"{\"bus\": 128, \"slot\": 0, \"function\": 0, \"qdev_id\": \"b1\", \"regions\": [], "
		" \"pci_bridge\": {\"bus\": {}, \"devices\": ["
		"  {\"bus\": 129, \"slot\": 1, \"function\": 0, \"qdev_id\": \"b2\", \"regions\": [],"
		"   \"pci_bridge\": {\"bus\": {}, \"devices\": ["
		"    {\"bus\": 130, \"slot\": 31, \"function\": 7, \"qdev_id\": \"deep\","
		"     \"regions\": [{\"bar\": 3, \"type\": \"io\", \"address\": 49152, \"size\": 256}]}"
		"]}}]}}]}]}", "deep", &d, err, sizeof(err));
	ok(r == 0 && dev_is(&d, 130, 31, 7, "deep", 1) &&
	   bar_is(&d, 0, 3, true, false, false, 0xc000, 0x100),
	   "device behind two bridges on a second root bus (%s)", r ? err : "");

	/* Only the device found is checked in full. */
	r = qmp_parse_query_pci(
		"{\"return\": [{\"bus\": 0, \"devices\": ["
		"{\"qdev_id\": \"odd\", \"slot\": \"x\", \"regions\": \"junk\"},"
		"{\"bus\": 0, \"slot\": 9, \"function\": 0, \"qdev_id\": \"dev0\", \"regions\": []}"
		"]}]}", "dev0", &d, err, sizeof(err));
	ok(r == 0 && dev_is(&d, 0, 9, 0, "dev0", 0),
	   "an odd unrelated device does not get in the way (%s)", r ? err : "");

	/* The "return" with an id and "\r" after it, as a line from QEMU. */
	snprintf(json, sizeof(json), "%s\r\n", reply_stopped);
	r = qmp_parse_query_pci(json, "br0", &d, err, sizeof(err));
	ok(r == 0 && bar_is(&d, 0, 0, false, true, false, UNMAPPED, 0x100),
	   "trailing \"\\r\\n\" accepted (%s)", r ? err : "");
}

static const struct {
	const char *name, *regions, *want;
} bad_regions[] = {
	{ "bar 7", "{\"bar\": 7, \"type\": \"memory\", \"address\": -1, \"size\": 16}",
	  "\"bar\" is 7, not in 0..6" },
	{ "bar -1", "{\"bar\": -1, \"type\": \"memory\", \"address\": -1, \"size\": 16}",
	  "\"bar\" is -1" },
	{ "bar a string", "{\"bar\": \"0\", \"type\": \"memory\", \"address\": -1, \"size\": 16}",
	  "\"bar\" is not an integer" },
	{ "bar a real", "{\"bar\": 1.0, \"type\": \"memory\", \"address\": -1, \"size\": 16}",
	  "\"bar\" is not an integer" },
	{ "bar missing", "{\"type\": \"memory\", \"address\": -1, \"size\": 16}",
	  "\"bar\" missing" },
	{ "type missing", "{\"bar\": 0, \"address\": -1, \"size\": 16}",
	  "\"type\" missing or not a string" },
	{ "type a number", "{\"bar\": 0, \"type\": 1, \"address\": -1, \"size\": 16}",
	  "\"type\" missing or not a string" },
	{ "type \"mem\"", "{\"bar\": 0, \"type\": \"mem\", \"address\": -1, \"size\": 16}",
	  "\"type\" is \"mem\", not \"io\" or \"memory\"" },
	{ "address missing", "{\"bar\": 0, \"type\": \"io\", \"size\": 16}",
	  "\"address\" missing" },
	{ "address a real", "{\"bar\": 0, \"type\": \"io\", \"address\": 4096.5, \"size\": 16}",
	  "\"address\" is not an integer" },
	{ "address a huge real",
	  "{\"bar\": 0, \"type\": \"io\", \"address\": 1.8446744073709552e19, \"size\": 16}",
	  "\"address\" is not an integer" },
	/* The all-ones pcibus_t written out unsigned: jansson refuses it. */
	{ "address 18446744073709551615",
	  "{\"bar\": 0, \"type\": \"io\", \"address\": 18446744073709551615, \"size\": 16}",
	  "malformed JSON" },
	{ "size missing", "{\"bar\": 0, \"type\": \"io\", \"address\": -1}",
	  "\"size\" missing" },
	{ "size negative", "{\"bar\": 0, \"type\": \"io\", \"address\": -1, \"size\": -4096}",
	  "\"size\" is -4096" },
	{ "size 0", "{\"bar\": 0, \"type\": \"io\", \"address\": -1, \"size\": 0}",
	  "size 0 is not a power of two" },
	{ "size 3000", "{\"bar\": 0, \"type\": \"io\", \"address\": -1, \"size\": 3000}",
	  "size 3000 is not a power of two" },
	{ "address + size wraps",
	  "{\"bar\": 0, \"type\": \"memory\", \"mem_type_64\": true, \"address\": -8192, "
	  "\"size\": 16384}", "wraps" },
	{ "prefetch a string",
	  "{\"bar\": 0, \"type\": \"memory\", \"address\": -1, \"size\": 16, \"prefetch\": \"yes\"}",
	  "\"prefetch\" is not a boolean" },
	{ "mem_type_64 a number",
	  "{\"bar\": 0, \"type\": \"memory\", \"address\": -1, \"size\": 16, \"mem_type_64\": 1}",
	  "\"mem_type_64\" is not a boolean" },
	{ "64-bit io BAR",
	  "{\"bar\": 0, \"type\": \"io\", \"address\": -1, \"size\": 16, \"mem_type_64\": true}",
	  "an io BAR cannot be prefetchable or 64-bit" },
	{ "ROM as io", "{\"bar\": 6, \"type\": \"io\", \"address\": -1, \"size\": 16}",
	  "the expansion ROM (bar 6) is reported as io" },
	{ "64-bit ROM",
	  "{\"bar\": 6, \"type\": \"memory\", \"address\": -1, \"size\": 16, \"mem_type_64\": true}",
	  "bar 6 cannot be 64-bit" },
	{ "64-bit BAR5",
	  "{\"bar\": 5, \"type\": \"memory\", \"address\": -1, \"size\": 16, \"mem_type_64\": true}",
	  "bar 5 cannot be 64-bit" },
	{ "64-bit BAR0 and a BAR1",
	  "{\"bar\": 0, \"type\": \"memory\", \"address\": -1, \"size\": 16, \"mem_type_64\": true}, "
	  "{\"bar\": 1, \"type\": \"io\", \"address\": -1, \"size\": 16}",
	  "bar 0 is 64-bit, yet bar 1 is listed too" },
	{ "duplicated bar",
	  "{\"bar\": 1, \"type\": \"io\", \"address\": -1, \"size\": 16}, "
	  "{\"bar\": 1, \"type\": \"io\", \"address\": -1, \"size\": 16}",
	  "bar 1 listed twice" },
	{ "8 regions",
	  "{\"bar\": 0, \"type\": \"io\", \"address\": -1, \"size\": 16}, "
	  "{\"bar\": 1, \"type\": \"io\", \"address\": -1, \"size\": 16}, "
	  "{\"bar\": 2, \"type\": \"io\", \"address\": -1, \"size\": 16}, "
	  "{\"bar\": 3, \"type\": \"io\", \"address\": -1, \"size\": 16}, "
	  "{\"bar\": 4, \"type\": \"io\", \"address\": -1, \"size\": 16}, "
	  "{\"bar\": 5, \"type\": \"io\", \"address\": -1, \"size\": 16}, "
	  "{\"bar\": 6, \"type\": \"memory\", \"address\": -1, \"size\": 16}, "
	  "{\"bar\": 0, \"type\": \"io\", \"address\": -1, \"size\": 16}",
	  "8 regions, more than the 7" },
	{ "region not an object", "5", "regions[0] is not an object" },
};

#define DEV(fields) \
	"{\"return\": [{\"bus\": 0, \"devices\": [{" fields "}]}]}"
#define DEV0 "\"bus\": 0, \"slot\": 4, \"function\": 0, \"qdev_id\": \"dev0\""

static const struct {
	const char *name, *json, *want;
} bad_replies[] = {
	{ "truncated JSON", "{\"return\": [", "malformed JSON" },
	{ "duplicated key", "{\"return\": [], \"return\": []}", "malformed JSON" },
	{ "not an object", "[]", "not a JSON object" },
	{ "no \"return\"", "{\"id\": 1}", "\"return\" missing or not an array" },
	{ "\"return\" an object", "{\"return\": {}}", "\"return\" missing or not an array" },
	{ "bus entry not an object", "{\"return\": [1]}", "return[0] is not an object" },
	{ "PciInfo without bus", "{\"return\": [{\"devices\": []}]}", "return[0]: \"bus\" missing" },
	{ "PciInfo without devices", "{\"return\": [{\"bus\": 0}]}",
	  "return[0]: \"devices\" missing or not an array" },
	{ "device not an object", "{\"return\": [{\"bus\": 0, \"devices\": [3]}]}",
	  "return[0].devices[0] is not an object" },
	{ "qdev_id missing", DEV("\"bus\": 0, \"slot\": 4, \"function\": 0, \"regions\": []"),
	  "\"qdev_id\" missing or not a string" },
	{ "qdev_id a number", DEV("\"qdev_id\": 5, \"regions\": []"),
	  "\"qdev_id\" missing or not a string" },
	{ "slot missing", DEV("\"bus\": 0, \"function\": 0, \"qdev_id\": \"dev0\", \"regions\": []"),
	  "\"slot\" missing" },
	{ "slot a string",
	  DEV("\"bus\": 0, \"slot\": \"4\", \"function\": 0, \"qdev_id\": \"dev0\", \"regions\": []"),
	  "\"slot\" is not an integer" },
	{ "slot 32",
	  DEV("\"bus\": 0, \"slot\": 32, \"function\": 0, \"qdev_id\": \"dev0\", \"regions\": []"),
	  "\"slot\" is 32, not in 0..31" },
	{ "function 8",
	  DEV("\"bus\": 0, \"slot\": 1, \"function\": 8, \"qdev_id\": \"dev0\", \"regions\": []"),
	  "\"function\" is 8, not in 0..7" },
	{ "bus 256",
	  DEV("\"bus\": 256, \"slot\": 1, \"function\": 0, \"qdev_id\": \"dev0\", \"regions\": []"),
	  "\"bus\" is 256, not in 0..255" },
	{ "regions missing", DEV(DEV0), "\"regions\" missing or not an array" },
	{ "regions an object", DEV(DEV0 ", \"regions\": {}"), "\"regions\" missing or not an array" },
	{ "pci_bridge an array", DEV(DEV0 ", \"regions\": [], \"pci_bridge\": []"),
	  "devices[0].pci_bridge is not an object" },
	{ "bridge devices an object",
	  DEV(DEV0 ", \"regions\": [], \"pci_bridge\": {\"bus\": {}, \"devices\": {}}"),
	  "devices[0].pci_bridge: \"devices\" missing or not an array" },
	{ "two devices with the qdev_id",
	  DEV("\"bus\": 0, \"slot\": 1, \"function\": 0, \"qdev_id\": \"br\", \"regions\": [], "
	      "\"pci_bridge\": {\"bus\": {}, \"devices\": [{" DEV0 ", \"regions\": []}]}}, {"
	      DEV0 ", \"regions\": []"),
	  "two devices with qdev_id \"dev0\" (return[0].devices[0].pci_bridge.devices[0] "
	  "and return[0].devices[1])" },
};

static void test_parse_malformed(void)
{
	struct qmp_pci_dev d;
	char err[512], json[8192], id[80];
	size_t i;
	int r, n;

	for (i = 0; i < sizeof(bad_regions) / sizeof(bad_regions[0]); i++) {
		memset(&d, 0xaa, sizeof(d));
		err[0] = 0;
		r = parse_regions(bad_regions[i].regions, &d, err, sizeof(err));
		ok(refused(r, &d, err, bad_regions[i].want), "malformed region, %s: -1 (%s)",
		   bad_regions[i].name, err);
	}
	for (i = 0; i < sizeof(bad_replies) / sizeof(bad_replies[0]); i++) {
		memset(&d, 0xaa, sizeof(d));
		err[0] = 0;
		r = qmp_parse_query_pci(bad_replies[i].json, "dev0", &d, err, sizeof(err));
		ok(refused(r, &d, err, bad_replies[i].want), "malformed reply, %s: -1 (%s)",
		   bad_replies[i].name, err);
	}

	/* 40 bridges, one inside the other. */
	n = snprintf(json, sizeof(json), "{\"return\": [{\"bus\": 0, \"devices\": [");
	for (i = 0; i < 40; i++)
		n += snprintf(json + n, sizeof(json) - n,
			      "{\"qdev_id\": \"b%zu\", \"pci_bridge\": {\"devices\": [", i);
	n += snprintf(json + n, sizeof(json) - n, "{\"qdev_id\": \"dev0\"}");
	for (i = 0; i < 40; i++)
		n += snprintf(json + n, sizeof(json) - n, "]}}");
	snprintf(json + n, sizeof(json) - n, "]}]}");
	memset(&d, 0xaa, sizeof(d));
	r = qmp_parse_query_pci(json, "dev0", &d, err, sizeof(err));
	ok(refused(r, &d, err, "bridges nested deeper than"), "40 nested bridges: -1 (%s)", err);

	memset(&d, 0xaa, sizeof(d));
	r = qmp_parse_query_pci(reply_running, "", &d, err, sizeof(err));
	ok(refused(r, &d, err, "empty"), "empty qdev id refused: \"\" is every anonymous device");
	memset(id, 'x', 64);
	id[64] = 0;
	memset(&d, 0xaa, sizeof(d));
	r = qmp_parse_query_pci(reply_running, id, &d, err, sizeof(err));
	ok(refused(r, &d, err, "longer than 63 bytes"), "a 64-byte qdev id refused (%s)", err);
}

/* ---- the client against a fake QMP server ------------------------------ */

enum srv_mode {
	SRV_OK,			/* events and stray replies around the real ones */
	SRV_ERROR,		/* query-pci gets an error reply */
	SRV_NOID_ERROR,		/* ... an error without an id */
	SRV_SILENT,		/* query-pci never answered */
	SRV_CLOSE,		/* the connection closed instead */
	SRV_GARBAGE,		/* a line that is not JSON */
	SRV_LONG_LINE,		/* 5 MiB with no newline */
	SRV_NO_GREETING,	/* accepts and says nothing */
	SRV_BAD_GREETING,	/* something that is not QMP */
	SRV_CAPS_ERROR,		/* qmp_capabilities refused */
	SRV_LATE,		/* the socket appears only after 200 ms */
	SRV_LATE_LISTEN,	/* bound at once (ECONNREFUSED), listening later */
};

static void srv_write(int fd, const char *s, size_t n)
{
	while (n) {
		ssize_t r = write(fd, s, n);

		if (r <= 0) {
			if (r < 0 && errno == EINTR)
				continue;
			_exit(0);	/* the client is gone: that is its business */
		}
		s += r;
		n -= r;
	}
}

__attribute__((format(printf, 2, 3)))
static void srv_say(int fd, const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		_exit(4);
	srv_write(fd, s, n);
	free(s);
}

/* Read until the client closes, then end. */
static void __attribute__((noreturn)) srv_drain(int fd)
{
	char c[4096];

	while (read(fd, c, sizeof(c)) > 0)
		;
	_exit(0);
}

/*
 * The next request line; it must run @cmd.  Its id in *@id.  Ends the
 * server on EOF, and with status 3 (the connection closed, so the test
 * sees it) on anything unexpected.
 */
static void srv_request(int fd, const char *cmd, unsigned long long *id)
{
	char line[512], want[128];
	const char *p;
	size_t n = 0;

	for (;;) {
		ssize_t r = read(fd, line + n, 1);

		if (r <= 0)
			_exit(n ? 3 : 0);
		if (line[n] == '\n')
			break;
		if (++n == sizeof(line) - 1)
			_exit(3);
	}
	line[n] = 0;
	snprintf(want, sizeof(want), "\"execute\": \"%s\"", cmd);
	p = strstr(line, "\"id\": ");
	if (!strstr(line, want) || !p)
		_exit(3);
	*id = strtoull(p + 6, NULL, 10);
}

static void __attribute__((noreturn)) srv_main(const char *path, enum srv_mode mode)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	unsigned long long id, prev = 0;
	int ls, fd, n;

	alarm(BOUND_MS / 1000);		/* never outlive a broken test */
	if (mode == SRV_LATE)
		msleep(200);
	ls = socket(AF_UNIX, SOCK_STREAM, 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (ls < 0 || bind(ls, (struct sockaddr *)&sa, sizeof(sa)))
		_exit(5);
	if (mode == SRV_LATE_LISTEN)
		msleep(200);
	if (listen(ls, 1))
		_exit(5);
	fd = accept(ls, NULL, NULL);
	if (fd < 0)
		_exit(5);
	close(ls);

	if (mode == SRV_NO_GREETING)
		srv_drain(fd);
	if (mode == SRV_BAD_GREETING) {
		srv_say(fd, "{\"hello\": \"world\"}\r\n");
		srv_drain(fd);
	}
	srv_say(fd, GREETING);
	srv_request(fd, "qmp_capabilities", &id);
	if (mode == SRV_CAPS_ERROR) {
		srv_say(fd, "{\"id\": %llu, \"error\": {\"class\": \"CommandNotFound\", "
			"\"desc\": \"Capabilities negotiation is already complete\"}}\r\n", id);
		srv_drain(fd);
	}
	srv_say(fd, "{\"return\": {}, \"id\": %llu}\r\n", id);

	for (n = 0;; n++) {
		prev = id;
		srv_request(fd, "query-pci", &id);
		if (id <= prev) {
			srv_say(fd, "{\"id\": %llu, \"error\": {\"class\": \"GenericError\", "
				"\"desc\": \"id %llu after %llu\"}}\r\n", id, id, prev);
			continue;
		}
		switch (mode) {
		case SRV_OK:
			break;
		case SRV_ERROR:
			srv_say(fd, EVENT "{\"id\": %llu, \"error\": {\"class\": \"GenericError\", "
				"\"desc\": \"no PCI bus here\"}}\r\n", id);
			continue;
		case SRV_NOID_ERROR:
			srv_say(fd, "{\"error\": {\"class\": \"GenericError\", \"desc\": "
				"\"JSON parse error, invalid keyword 'x'\"}}\r\n");
			continue;
		case SRV_SILENT:
			srv_drain(fd);
		case SRV_CLOSE:
			srv_say(fd, EVENT);
			_exit(0);
		case SRV_GARBAGE:
			srv_say(fd, "{\"return\": [}\r\n");
			continue;
		case SRV_LONG_LINE: {
			static char chunk[64 << 10];

			memset(chunk, 'a', sizeof(chunk));
			srv_say(fd, "{\"event\": \"X\", \"data\": \"");
			for (int i = 0; i < 80; i++)	/* 5 MiB */
				srv_write(fd, chunk, sizeof(chunk));
			srv_drain(fd);
		}
		default:
			_exit(6);
		}

		/* SRV_OK */
		if (n == 0) {
			/*
			 * An event far bigger than the client's first buffer,
			 * a late reply to the previous command and one with
			 * an id of another type; then the reply, in pieces.
			 */
			static char pad[300 << 10];
			char reply[sizeof(reply_running) + 64];
			int len;

			memset(pad, 'p', sizeof(pad) - 1);
			srv_say(fd, "{\"timestamp\": {\"seconds\": 1, \"microseconds\": 2}, "
				"\"event\": \"BIG\", \"data\": {\"pad\": \"%s\"}}\r\n", pad);
			srv_say(fd, EVENT "{\"return\": [], \"id\": %llu}\r\n"
				"{\"return\": [], \"id\": \"%llu\"}\r\n", id - 1, id);
			len = snprintf(reply, sizeof(reply), "{" RUNNING_RETURN ", \"id\": %llu}\r\n",
				       id);
			srv_write(fd, reply, 1);
			msleep(5);
			srv_write(fd, reply + 1, 1000);
			msleep(5);
			srv_write(fd, reply + 1001, len - 1001);
		} else if (n == 1) {
			/* The reply and an event after it in one write. */
			srv_say(fd, "{" STOPPED_RETURN ", \"id\": %llu}\r\n" EVENT, id);
		} else {
			srv_say(fd, "\r\n{\"return\": [], \"id\": %llu}\n", id);
		}
	}
}

static int sock_n;

/* A fresh socket path in tmpdir and a fake server for it. */
static pid_t start_srv(enum srv_mode mode, char *path, size_t len)
{
	pid_t pid;

	snprintf(path, len, "%s/qmp%d.sock", tmpdir, sock_n++);
	pid = fork();
	if (pid == 0)
		srv_main(path, mode);
	return pid;
}

/* The server's wait status (killed if it does not end in time). */
static int stop_srv(pid_t pid)
{
	int st;

	if (pid <= 0)
		return -1;
	for (int i = 0; i < BOUND_MS / 5; i++) {
		if (waitpid(pid, &st, WNOHANG) == pid)
			return st;
		msleep(5);
	}
	diag("fake server %d did not end; killing it", (int)pid);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	return -1;
}

static bool exited0(int st)
{
	if (st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return true;
	diag("fake server wait status %d", st);
	return false;
}

static void test_client_ok(void)
{
	struct qmp_pci_dev d;
	char path[256], err[512] = "";
	struct qmp *q;
	pid_t pid;
	int r;

	pid = start_srv(SRV_OK, path, sizeof(path));
	q = qmp_open(path, BOUND_MS, err, sizeof(err));
	ok(q != NULL, "client: greeting and qmp_capabilities (%s)", q ? "" : err);
	if (!q) {
		kill(pid, SIGKILL);
		stop_srv(pid);
		return;
	}
	r = qmp_query_pci_dev(q, "vnet0", &d, BOUND_MS, err, sizeof(err));
	ok(r == 0 && dev_is(&d, 0, 3, 0, "vnet0", 4) &&
	   bar_is(&d, 2, 4, false, true, true, 0xfea00000, 0x4000),
	   "client: 300 KiB event, stray replies skipped, reply in pieces (%s)",
	   r ? err : "");
	r = qmp_query_pci_dev(q, "nic0", &d, BOUND_MS, err, sizeof(err));
	ok(r == 0 && dev_is(&d, 0, 2, 0, "nic0", 3) &&
	   bar_is(&d, 0, 0, false, false, false, UNMAPPED, 0x20000),
	   "client: second query, a larger id (%s)", r ? err : "");
	r = qmp_query_pci_dev(q, "nic0", &d, BOUND_MS, err, sizeof(err));
	ok(r == 1, "client: an event left in the buffer, a blank line, not found -> 1 (%s)",
	   r < 0 ? err : "");
	qmp_close(q);
	ok(exited0(stop_srv(pid)), "client: the server saw well-formed requests");
}

static void test_client_errors(void)
{
	static const struct {
		enum srv_mode mode;
		const char *name, *want;
	} cases[] = {
		{ SRV_ERROR, "error reply", "query-pci: QEMU says: no PCI bus here (GenericError)" },
		{ SRV_NOID_ERROR, "error reply without an id",
		  "QEMU says: JSON parse error, invalid keyword 'x'" },
		{ SRV_CLOSE, "connection closed", "query-pci: QEMU closed the QMP connection" },
		{ SRV_GARBAGE, "a line that is not JSON", "query-pci: malformed JSON from QEMU" },
		{ SRV_LONG_LINE, "a 5 MiB line", "QMP line longer than 4194304 bytes" },
	};
	struct qmp_pci_dev d;
	char path[256], err[512];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		pid_t pid = start_srv(cases[i].mode, path, sizeof(path));
		struct qmp *q = qmp_open(path, BOUND_MS, err, sizeof(err));
		int r = -2;

		if (q)
			r = qmp_query_pci_dev(q, "nic0", &d, BOUND_MS, err, sizeof(err));
		ok(r == -1 && strstr(err, cases[i].want) && d.nbars == 0,
		   "client: %s -> -1 (%s)", cases[i].name, err);
		qmp_close(q);
		kill(pid, SIGKILL);
		stop_srv(pid);
	}
}

static void test_client_timeouts(void)
{
	struct qmp_pci_dev d;
	char path[256], err[512] = "";
	long long t0, dt;
	struct qmp *q;
	pid_t pid;
	int r;

	pid = start_srv(SRV_SILENT, path, sizeof(path));
	q = qmp_open(path, BOUND_MS, err, sizeof(err));
	t0 = now_ms();
	r = q ? qmp_query_pci_dev(q, "nic0", &d, SHORT_MS, err, sizeof(err)) : -2;
	dt = now_ms() - t0;
	ok(r == -1 && strstr(err, "query-pci: no answer from QEMU within 300 ms") &&
	   dt >= SHORT_MS - 50 && dt < SLACK_MS,
	   "client: a server that never answers -> -1 after the timeout (%lld ms; %s)", dt, err);
	qmp_close(q);
	stop_srv(pid);

	pid = start_srv(SRV_NO_GREETING, path, sizeof(path));
	t0 = now_ms();
	q = qmp_open(path, SHORT_MS, err, sizeof(err));
	dt = now_ms() - t0;
	ok(!q && strstr(err, "QMP greeting: no answer from QEMU within 300 ms") && dt < SLACK_MS,
	   "client: no greeting -> NULL within the timeout (%lld ms; %s)", dt, err);
	qmp_close(q);
	stop_srv(pid);

	snprintf(path, sizeof(path), "%s/nobody.sock", tmpdir);
	t0 = now_ms();
	q = qmp_open(path, SHORT_MS, err, sizeof(err));
	dt = now_ms() - t0;
	ok(!q && strstr(err, "No such file or directory (gave up after 300 ms)") &&
	   dt >= SHORT_MS - 50 && dt < SLACK_MS,
	   "client: no socket ever -> NULL after retrying for the timeout (%lld ms; %s)",
	   dt, err);
	qmp_close(q);
}

static void test_client_open(void)
{
	char path[256], err[512] = "", longpath[200];
	struct qmp *q;
	long long t0, dt;
	pid_t pid;

	t0 = now_ms();
	pid = start_srv(SRV_LATE, path, sizeof(path));
	q = qmp_open(path, BOUND_MS, err, sizeof(err));
	dt = now_ms() - t0;
	ok(q && dt >= 200, "client: qmp_open retries until the socket appears (%lld ms; %s)",
	   dt, q ? "" : err);
	qmp_close(q);
	stop_srv(pid);

	t0 = now_ms();
	pid = start_srv(SRV_LATE_LISTEN, path, sizeof(path));
	q = qmp_open(path, BOUND_MS, err, sizeof(err));
	dt = now_ms() - t0;
	ok(q && dt >= 200, "client: ... and past ECONNREFUSED until it listens (%lld ms; %s)",
	   dt, q ? "" : err);
	qmp_close(q);
	stop_srv(pid);

	pid = start_srv(SRV_BAD_GREETING, path, sizeof(path));
	q = qmp_open(path, BOUND_MS, err, sizeof(err));
	ok(!q && strstr(err, "is not a QMP socket"), "client: not a QMP greeting -> NULL (%s)",
	   err);
	qmp_close(q);
	kill(pid, SIGKILL);
	stop_srv(pid);

	pid = start_srv(SRV_CAPS_ERROR, path, sizeof(path));
	q = qmp_open(path, BOUND_MS, err, sizeof(err));
	ok(!q && strstr(err, "qmp_capabilities: QEMU says: Capabilities negotiation"),
	   "client: qmp_capabilities refused -> NULL (%s)", err);
	qmp_close(q);
	kill(pid, SIGKILL);
	stop_srv(pid);

	memset(longpath, 'x', sizeof(longpath) - 1);
	longpath[0] = '/';
	longpath[sizeof(longpath) - 1] = 0;
	q = qmp_open(longpath, BOUND_MS, err, sizeof(err));
	ok(!q && strstr(err, "is too long"), "client: a path too long for sun_path -> NULL");
	qmp_close(q);

	/* Not a path QEMU can still create: no retrying. */
	snprintf(path, sizeof(path), "%s/file", tmpdir);
	fclose(fopen(path, "w"));
	snprintf(path, sizeof(path), "%s/file/qmp.sock", tmpdir);
	t0 = now_ms();
	q = qmp_open(path, BOUND_MS, err, sizeof(err));
	dt = now_ms() - t0;
	ok(!q && strstr(err, "Not a directory") && !strstr(err, "gave up") && dt < SLACK_MS,
	   "client: ENOTDIR is not retried (%s)", err);
	qmp_close(q);
}

int main(int argc, char **argv)
{
	if (argc != 1) {
		fprintf(stderr, "usage: %s\n", argv[0]);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	test_parse_real();
	test_parse_synthetic();
	test_parse_malformed();
	test_client_ok();
	test_client_errors();
	test_client_timeouts();
	test_client_open();
	{
		char cmd[128];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
		if (system(cmd) != 0)
			diag("could not remove %s", tmpdir);
	}
	return tap_done();
}
