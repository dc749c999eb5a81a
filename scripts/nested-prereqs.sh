# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# nested-prereqs.sh - sourced by scripts/demo.sh and scripts/bench.sh: make
# sure of what the test VM cannot build for itself (it sees the host
# read-only) before a run with nested guests.
#
#   nested_prereqs SAY [qemu|no-qemu]
#                        SAY is the caller's progress function.  Builds the
#                        patched QEMU when it is not cached (a no-op
#                        otherwise; not at all with no-qemu), the userspace
#                        tools, mpdevctl and the nested guest; exports
#                        MPDEV_QEMU_PATCHED.  Returns non-zero, after saying
#                        why, when a build fails.

nested_prereqs() {
	local say=$1 want_qemu=${2:-qemu} qemu=
	"$say" "host: checking the builds ($([ "$want_qemu" = qemu ] && echo 'patched QEMU, ')userspace, mpdevctl, nested guest)"
	if [ "$want_qemu" = qemu ] && ! qemu=$(userspace/qemu-patch/build-qemu.sh --print-path 2>/dev/null); then
		"$say" "host: building the patched QEMU (once; can take 10-20 minutes)"
		qemu=$(userspace/qemu-patch/build-qemu.sh | tail -n1) ||
			{ "$say" "FAILED: build-qemu.sh"; return 1; }
	fi
	qemu=$(printf '%s\n' "$qemu" | tail -n1)
	make -s -C userspace >&2 || { "$say" "FAILED: make -C userspace"; return 1; }
	make -s -C userspace/mpdevctl >&2 || { "$say" "FAILED: make -C userspace/mpdevctl"; return 1; }
	make -s -C selftests/e2e O="$PWD/build/e2e" >&2 ||
		{ "$say" "FAILED: make -C selftests/e2e"; return 1; }
	[ -f kmod/mpdev.ko ] || { "$say" "FAILED: kmod/mpdev.ko not built (make module)"; return 1; }
	[ -n "$qemu" ] || return 0
	export MPDEV_QEMU_PATCHED=$qemu
	"$say" "host: patched QEMU $qemu"
}
