# SPDX-License-Identifier: GPL-2.0
#
# mpdev: kernel-assisted multi-process QEMU.
#
#   make deps     install build/test dependencies (Debian 12, root)
#   make          build the module, the userspace tools and the selftests
#   make check    host unit tests + kselftests in the test VM; last line is
#                 "N passed, N failed, N skipped"
#   make demo     the main job, in the test VM
#   make bench    latency benchmarks (ratios), in the test VM: nested guest
#                 (stock / mpdev / in-process) and raw KVM; results in
#                 build/bench/latest (BENCH_ARGS=--update-doc: also the doc)
#   make check-kernels  build + kselftests on 6.1, 6.12 and sid (7.2) in the
#                 test VM; rewrites the table in Documentation/mpdev/kernels.rst
#   make lint     checkpatch.pl --strict on the module, the UAPI header and
#                 the e2e guest driver
#   make C=1      build with sparse (kbuild's own switch)
#
# KDIR: the kernel build tree to build against.  Default: the running
# kernel's, if it has one, else the installed Debian 6.1 headers.

KDIR ?= $(firstword $(wildcard /lib/modules/$(shell uname -r)/build) \
	$(shell ls -d /usr/src/linux-headers-6.1.*-amd64 2>/dev/null | sort -V | tail -n 1))
BUILD := $(CURDIR)/build
KSFT_INC := $(BUILD)/ksft
LINUX_SOURCE ?= $(lastword $(sort $(wildcard /usr/src/linux-source-6.1.tar.*)))

all: module userspace selftests e2e-guest

deps:
	scripts/install-deps.sh

module:
	@test -n "$(KDIR)" || { echo "mpdev: no kernel headers; run 'make deps'" >&2; exit 1; }
	$(MAKE) -C kmod KDIR=$(KDIR)

userspace:
	$(MAKE) -C userspace
	$(MAKE) -C userspace/mpdevctl

# The nested guest of the end-to-end tests (the test VM sees us read-only).
e2e-guest: userspace
	$(MAKE) -C selftests/e2e O=$(BUILD)/e2e

# The kselftest harness comes from Debian's linux-source-6.1 at build time.
$(KSFT_INC)/kselftest_harness.h:
	@test -n "$(LINUX_SOURCE)" || { echo "mpdev: linux-source-6.1 missing; run 'make deps'" >&2; exit 1; }
	mkdir -p $(KSFT_INC)
	tar -xf $(LINUX_SOURCE) -C $(KSFT_INC) --strip-components=4 \
		linux-source-6.1/tools/testing/selftests/kselftest_harness.h \
		linux-source-6.1/tools/testing/selftests/kselftest.h
	touch $@

selftests: $(KSFT_INC)/kselftest_harness.h $(BUILD)/vm/kvm-pin
	$(MAKE) -C selftests/mpdev KSFT_INC=$(KSFT_INC) OUTPUT=$(BUILD)/selftests

# Holds KVM's static keys in a test VM under multi-threaded TCG (vm-run).
$(BUILD)/vm/kvm-pin: selftests/vm/kvm-pin.c
	@mkdir -p $(@D)
	$(CC) -O2 -Wall -Wextra -Werror -o $@ $<

$(BUILD)/checkpatch/scripts/checkpatch.pl:
	@test -n "$(LINUX_SOURCE)" || { echo "mpdev: linux-source-6.1 missing; run 'make deps'" >&2; exit 1; }
	mkdir -p $(BUILD)/checkpatch
	tar -xf $(LINUX_SOURCE) -C $(BUILD)/checkpatch --strip-components=1 \
		linux-source-6.1/scripts/checkpatch.pl \
		linux-source-6.1/scripts/spelling.txt \
		linux-source-6.1/scripts/const_structs.checkpatch
	touch $@

lint: $(BUILD)/checkpatch/scripts/checkpatch.pl
	perl $< --no-tree --strict --terse -f kmod/mpdev.c kmod/netlink.c kmod/kvm_bus.c kmod/*.h include/uapi/linux/mpdev.h \
		selftests/e2e/guest/mpdev_msix.c \
		| tee $(BUILD)/checkpatch.log
	@! grep -qE 'ERROR|WARNING|CHECK' $(BUILD)/checkpatch.log

sparse:
	$(MAKE) -C kmod KDIR=$(KDIR) C=2 2>&1 | tee $(BUILD)/sparse.log
	@! grep -E 'warning|error' $(BUILD)/sparse.log

check: deps
	scripts/check.sh

check-kernels: deps selftests
	scripts/kernels.sh --update-doc

demo: deps all
	scripts/demo.sh

bench: deps all
	scripts/bench.sh $(BENCH_ARGS)

clean:
	$(MAKE) -C kmod KDIR=$(KDIR) clean
	$(MAKE) -C userspace clean
	$(MAKE) -C userspace/mpdevctl clean
	rm -rf $(BUILD)

.PHONY: all deps module userspace e2e-guest selftests lint sparse check check-kernels demo bench clean
