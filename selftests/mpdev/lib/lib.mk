# SPDX-License-Identifier: GPL-2.0
#
# Raw-KVM guest library for the mpdev selftests (kvm_guest.h).
#
# Include it from the selftests Makefile:
#
#   KSFT_INC := <dir holding kselftest_harness.h and kselftest.h>
#   KG_OUT   := <build dir>            (default: $(OUTPUT), else .)
#   include lib/lib.mk
#   $(KG_OUT)/my_test: my_test.c $(KG_OBJS)
#           $(CC) $(KG_CFLAGS) -o $@ $^ $(KG_LDFLAGS) $(KG_LDLIBS)
#
# It defines:
#   KG_DIR      this directory (with a trailing /)
#   KG_SRCS     kvm_guest.c guest.S;  KG_HDRS  the headers they depend on
#   KG_OBJS     $(KG_OUT)/kvm_guest.o $(KG_OUT)/guest.o (rules included)
#   KG_CFLAGS   $(KG_WARN) -O2, -I for the library, $(KG_UAPI_CFLAGS)
#               and -isystem $(KSFT_INC): 6.1's kselftest_harness.h itself is
#               not -Wextra clean (write unsigned literals, e.g. ASSERT_EQ(8U,
#               n), when comparing with unsigned values: its macros compare
#               as is)
#   KG_WARN     -Wall -Wextra unless the includer set it first
#   KG_UAPI_CFLAGS  where linux/mpdev.h comes from; the includer may set it
#               first (selftests/mpdev/Makefile does), else -I this
#               repository's include/uapi (which holds nothing else)
#   KG_LDFLAGS  -static;  KG_LDLIBS  -pthread
#   KG_SELFTEST $(KG_OUT)/kg_selftest, the library's own kselftest
#
# If KSFT_INC is not set, it becomes $(KG_OUT)/ksft-inc and a rule unpacks
# the two kselftest headers there from $(KSFT_TARBALL) (Debian's
# linux-source-6.1 package), so the library also builds stand-alone:
#
#   make -f selftests/mpdev/lib/lib.mk KG_OUT=/tmp/kg        # kg_selftest

# Before anything else: decides whether this file is the top-level Makefile.
KG_STANDALONE := $(if $(filter 1,$(words $(MAKEFILE_LIST))),y)
KG_SAVED_GOAL := $(.DEFAULT_GOAL)

KG_DIR := $(dir $(lastword $(MAKEFILE_LIST)))
KG_UAPI_INC := $(abspath $(KG_DIR)../../../include/uapi)

KG_OUT ?= $(if $(OUTPUT),$(OUTPUT),.)
KSFT_TARBALL ?= /usr/src/linux-source-6.1.tar.xz

ifeq ($(strip $(KSFT_INC)),)
KSFT_INC := $(KG_OUT)/ksft-inc
KG_KSFT_HDRS := $(KSFT_INC)/kselftest_harness.h
$(KSFT_INC)/kselftest_harness.h:
	@mkdir -p $(KSFT_INC)
	tar -xJf $(KSFT_TARBALL) -C $(KSFT_INC) --strip-components=4 \
		linux-source-6.1/tools/testing/selftests/kselftest_harness.h \
		linux-source-6.1/tools/testing/selftests/kselftest.h
	@touch $@
else
KG_KSFT_HDRS :=
endif

CC ?= gcc
KG_SRCS := $(KG_DIR)kvm_guest.c $(KG_DIR)guest.S
KG_HDRS := $(KG_DIR)kvm_guest.h $(KG_DIR)kg_abi.h
KG_OBJS := $(KG_OUT)/kvm_guest.o $(KG_OUT)/guest.o
KG_UAPI_CFLAGS ?= -I$(KG_UAPI_INC)
KG_WARN ?= -Wall -Wextra
KG_CFLAGS := $(KG_WARN) -O2 -g -D_GNU_SOURCE -I$(KG_DIR) $(KG_UAPI_CFLAGS) \
	     -isystem $(KSFT_INC)
KG_LDFLAGS := -static
KG_LDLIBS := -pthread
KG_SELFTEST := $(KG_OUT)/kg_selftest

$(KG_OUT)/kvm_guest.o: $(KG_DIR)kvm_guest.c $(KG_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(KG_CFLAGS) -c -o $@ $<

$(KG_OUT)/guest.o: $(KG_DIR)guest.S $(KG_DIR)kg_abi.h
	@mkdir -p $(dir $@)
	$(CC) $(KG_CFLAGS) -c -o $@ $<

$(KG_SELFTEST): $(KG_DIR)kg_selftest.c $(KG_OBJS) $(KG_HDRS) $(KG_KSFT_HDRS)
	$(CC) $(KG_CFLAGS) -o $@ $< $(KG_OBJS) $(KG_LDFLAGS) $(KG_LDLIBS)

.PHONY: kg_selftest kg_clean
kg_selftest: $(KG_SELFTEST)
kg_clean:
	rm -f $(KG_OBJS) $(KG_SELFTEST)

# An included fragment must not steal the includer's default goal.
ifeq ($(KG_STANDALONE),y)
.DEFAULT_GOAL := kg_selftest
else
.DEFAULT_GOAL := $(KG_SAVED_GOAL)
endif
