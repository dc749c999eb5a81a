/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Command-line handling for mpqemu-run, as pure functions (unit tested):
 * the guest-RAM check, QEMU's placeholder / -device rewriting and the
 * remotes' command lines (--remote-cmd).
 */
#ifndef MPQEMU_RUN_QEMU_ARGS_H
#define MPQEMU_RUN_QEMU_ARGS_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Guest RAM must be a shared, fd-backed memory backend, or QEMU's proxy
 * cannot pass it to the remote (SYNC_SYSMEM carries fds).  Accepts
 * memory-backend-memfd (shared by default) and memory-backend-file with
 * share=on, used as -machine memory-backend=ID or by every -numa memdev.
 * Returns 0, or -1 with an explanation and a fix in @msg.
 */
int qa_check_shared_ram(int argc, char *const *argv, char *msg, size_t len);

struct qa_proxy {
	const char *id;		/* QEMU device id */
	int fd;			/* QEMU's end of the socketpair */
	int mpdev_fd;		/* /dev/mpdev fd for a patched QEMU, or -1 */
};

/*
 * Build QEMU's argv: @qemu, then @argv with placeholders replaced, then a
 * "-device x-pci-proxy-dev,id=ID,fd=N" for every proxy whose fd no
 * placeholder mentions.  Placeholders, anywhere inside an argument:
 *   @PROXY_FD@  @PROXY_FD:ID@  @MPDEV_FD@  @MPDEV_FD:ID@
 * (the forms without ID need exactly one proxy).  When a proxy has an
 * mpdev fd and its -device is generated, ",@mpdev_prop=M" is added.
 * Returns a NULL-terminated malloc'ed array (free with qa_free_argv) or
 * NULL with @err set.
 */
char **qa_build_argv(const char *qemu, int argc, char *const *argv,
		     const struct qa_proxy *p, int np, const char *mpdev_prop,
		     char *err, size_t errlen);
void qa_free_argv(char **argv);

/*
 * The end of a "--remote-cmd ID PROG [ARG...] ;" command: the index in
 * @argv (of @argc) of the first argument that is exactly ";", or -1.
 */
int qa_cmd_end(int argc, char *const *argv);

/* What the placeholders of a remote's command line stand for. */
struct qa_remote_vars {
	const char *id;		/* @ID@: the proxy id */
	int fd;			/* @FD@: the remote's end of its socketpair */
	const char *rundir;	/* @RUNDIR@: --run-dir, or NULL without one */
};

/*
 * Build a remote's argv from @argv (PROG and its arguments, @argc of
 * them): each argument is copied byte for byte except for placeholders,
 * replaced wherever they appear inside it (several per argument allowed):
 *   @FD@  @ID@  @RUNDIR@   and  @@  for a literal '@'.
 * "@NAME@" with NAME made of A-Z, 0-9 and '_' (starting with a letter) is
 * a placeholder; an unknown NAME is an error, and so is @RUNDIR@ without
 * a run dir and a command line that never mentions @FD@.  Any other '@'
 * is kept.  Returns a NULL-terminated malloc'ed array (free with
 * qa_free_argv) or NULL with @err set.
 */
char **qa_build_remote_argv(int argc, char *const *argv,
			    const struct qa_remote_vars *v, char *err,
			    size_t errlen);

#endif
