/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * mpqemu-run --zero-patch: the fast path for an unmodified VMM QEMU.
 *
 * mpqemu-run sits on each proxy's mpqemu socket, between QEMU and the
 * remote, and forwards every message both ways.  It owns the proxy's
 * mpdev context (attached to QEMU's own KVM VM fd, taken with
 * pidfd_getfd()), hands the backend to the remote itself, and keeps the
 * context's regions equal to where QEMU routes the proxy's BARs: a config
 * write that may move a BAR or change decoding first takes the BARs it
 * may affect off KVM's bus, then goes to the remote, and only after the
 * remote's answer, and before QEMU gets it, are the BARs added again where
 * QMP's query-pci says QEMU has them.  The guest's write does not complete
 * before its RET reaches QEMU, so no access the guest makes after it can
 * reach a stale region; and nothing of this depends on the remote.
 */
#ifndef MPQEMU_RUN_RELAY_H
#define MPQEMU_RUN_RELAY_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct qmp;

/* What every relay of one QEMU shares. */
struct zp_vmm {
	pid_t qemu_pid;		/* the process mpqemu-run started */
	int vm_fd;		/* our copy of QEMU's KVM VM fd, or -1 until a
				 * relay needs it (the first BAR write) */
	const char *mpdev_path;	/* /dev/mpdev */
	const char *qmp_path;	/* QEMU's QMP socket */
	struct qmp *qmp;	/* connected on first use */
	bool qmp_failed;	/* said so once; tried again each time */
	const char *run_dir;	/* for ID.zero-patch, or NULL */
};

struct relay;

/*
 * A relay for proxy @id between @qemu_fd (our end of QEMU's socket) and
 * @remote_fd (our end of the remote's); it owns both fds.  NULL (out of
 * memory) closes them.
 */
struct relay *relay_new(struct zp_vmm *v, const char *id, int qemu_fd,
			int remote_fd);
void relay_free(struct relay *r);

/* The two fds to poll for input: QEMU's side, then the remote's. */
int relay_qemu_fd(const struct relay *r);
int relay_remote_fd(const struct relay *r);

enum relay_status {
	RELAY_OK,
	RELAY_QEMU_GONE,	/* QEMU closed its socket or broke a message */
	RELAY_REMOTE_BAD,	/* the remote closed, stalled or sent garbage */
};

/* Relay one message from the side that is readable. */
enum relay_status relay_from_qemu(struct relay *r);
enum relay_status relay_from_remote(struct relay *r);

/* Why the last RELAY_REMOTE_BAD / RELAY_QEMU_GONE, for the log. */
const char *relay_why(const struct relay *r);

#endif
