// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * mpqemu message parsing and validation (pure functions).
 *
 * The rules mirror what QEMU 7.2 sends and checks (mpqemu_msg_recv() and
 * mpqemu_msg_valid() in hw/remote/mpqemu-link.c), with two deliberate
 * differences, both lenient where QEMU would tear the device down:
 *  - SYNC_SYSMEM with 0..8 fds is accepted (QEMU's check rejects 8, an
 *    off-by-one against its own sender, and 0, which its sender can emit),
 *    and so is MSI_FDS (extension) with 0..8;
 *  - any rejected message leaves the stream usable when its framing is
 *    intact, so one bad message costs one all-ones reply, not the device.
 */
#include "msg.h"

#include <string.h>

enum mpq_verdict mpq_parse_header(const void *hdr, int *cmd, size_t *size,
				  const char **why)
{
	struct mpq_wire w;

	memcpy(&w, hdr, MPQ_HDR_SIZE);
	*cmd = w.cmd;
	*size = w.size;
	if (w.size > MPQ_MAX_PAYLOAD) {
		*why = "payload size larger than any message";
		return MPQ_BAD_FRAMING;
	}
	return MPQ_VALID;
}

bool mpq_cmd_wants_reply(int cmd)
{
	switch (cmd) {
	case MPQ_CMD_PCI_CFGWRITE:
	case MPQ_CMD_PCI_CFGREAD:
	case MPQ_CMD_BAR_WRITE:
	case MPQ_CMD_BAR_READ:
	case MPQ_CMD_DEVICE_RESET:
	case MPQ_CMD_MPDEV_BACKEND:
	case MPQ_CMD_MSI_FDS:
		return true;
	default:
		/* SYNC_SYSMEM and SET_IRQFD are sent with mpqemu_msg_send() */
		return false;
	}
}

const char *mpq_cmd_name(int cmd)
{
	switch (cmd) {
	case MPQ_CMD_SYNC_SYSMEM:	return "SYNC_SYSMEM";
	case MPQ_CMD_RET:		return "RET";
	case MPQ_CMD_PCI_CFGWRITE:	return "PCI_CFGWRITE";
	case MPQ_CMD_PCI_CFGREAD:	return "PCI_CFGREAD";
	case MPQ_CMD_BAR_WRITE:		return "BAR_WRITE";
	case MPQ_CMD_BAR_READ:		return "BAR_READ";
	case MPQ_CMD_SET_IRQFD:		return "SET_IRQFD";
	case MPQ_CMD_DEVICE_RESET:	return "DEVICE_RESET";
	case MPQ_CMD_MPDEV_BACKEND:	return "MPDEV_BACKEND";
	case MPQ_CMD_MSI_FDS:		return "MSI_FDS";
	default:			return "unknown";
	}
}

enum mpq_verdict mpq_validate(const struct mpq_msg *m, const char **why)
{
	size_t want_size;
	int min_fds, max_fds;

	if (m->extra_fds) {
		*why = "too many file descriptors";
		return MPQ_BAD_MESSAGE;
	}
	if (m->nfds < 0 || m->nfds > MPQ_MAX_FDS || m->size > MPQ_MAX_PAYLOAD) {
		*why = "corrupt message";
		return MPQ_BAD_MESSAGE;
	}

	switch (m->cmd) {
	case MPQ_CMD_SYNC_SYSMEM:
		want_size = sizeof(struct mpq_sync_sysmem);
		min_fds = 0;
		max_fds = MPQ_MAX_FDS;
		break;
	case MPQ_CMD_PCI_CFGWRITE:
	case MPQ_CMD_PCI_CFGREAD:
		want_size = sizeof(struct mpq_pci_conf);
		min_fds = max_fds = 0;
		break;
	case MPQ_CMD_BAR_WRITE:
	case MPQ_CMD_BAR_READ:
		want_size = sizeof(struct mpq_bar_access);
		min_fds = max_fds = 0;
		break;
	case MPQ_CMD_SET_IRQFD:
		want_size = 0;
		min_fds = max_fds = 2;
		break;
	case MPQ_CMD_DEVICE_RESET:
		want_size = 0;
		min_fds = max_fds = 0;
		break;
	case MPQ_CMD_MPDEV_BACKEND:
		want_size = sizeof(struct mpq_mpdev_backend);
		min_fds = max_fds = 1;
		break;
	case MPQ_CMD_MSI_FDS:
		/*
		 * All 8: QEMU's own receiver refuses 8, we do not.  None: the
		 * proxy says it carries MSI-X (remote.c checks total is 0).
		 */
		want_size = sizeof(struct mpq_msi_fds);
		min_fds = 0;
		max_fds = MPQ_MAX_FDS;
		break;
	case MPQ_CMD_RET:
		*why = "RET sent to the remote";
		return MPQ_BAD_MESSAGE;
	default:
		*why = "unknown command";
		return MPQ_BAD_MESSAGE;
	}

	if (m->size != want_size) {
		*why = "wrong payload size for command";
		return MPQ_BAD_MESSAGE;
	}
	if (m->nfds < min_fds || m->nfds > max_fds) {
		*why = "wrong number of file descriptors for command";
		return MPQ_BAD_MESSAGE;
	}

	/* Field checks that do not need device state. */
	if (m->cmd == MPQ_CMD_MPDEV_BACKEND) {
		const struct mpq_mpdev_backend *b = &m->data.mpdev;

		if (b->magic != MPQ_MPDEV_MAGIC || b->version != MPQ_MPDEV_VERSION ||
		    b->flags != 0 || b->nr_map > MPQ_MPDEV_MAX_MAP) {
			*why = "bad MPDEV_BACKEND header";
			return MPQ_BAD_MESSAGE;
		}
		for (uint32_t i = 0; i < b->nr_map; i++) {
			if (b->map[i].bar >= MPQ_MPDEV_MAX_MAP) {
				*why = "MPDEV_BACKEND maps a region to a bad BAR";
				return MPQ_BAD_MESSAGE;
			}
		}
	}
	if (m->cmd == MPQ_CMD_MSI_FDS) {
		const struct mpq_msi_fds *f = &m->data.msi_fds;

		if (f->magic != MPQ_MSI_FDS_MAGIC ||
		    (f->kind != MPQ_MSI_FDS_MSIX && f->kind != MPQ_MSI_FDS_MSI)) {
			*why = "bad MSI_FDS header (magic or kind)";
			return MPQ_BAD_MESSAGE;
		}
	}
	return MPQ_VALID;
}

ssize_t mpq_decode(const uint8_t *buf, size_t len, const int *fds, int nfds,
		   struct mpq_msg *m, const char **why)
{
	memset(m, 0, sizeof(*m));
	for (int i = 0; i < MPQ_MAX_FDS; i++)
		m->fds[i] = -1;
	/* Attach the fds first: whatever happens, the caller closes m->fds. */
	if (nfds > MPQ_MAX_FDS) {
		m->extra_fds = true;
		nfds = MPQ_MAX_FDS;	/* the caller closes the rest */
	}
	for (int i = 0; i < nfds; i++)
		m->fds[i] = fds[i];
	m->nfds = nfds < 0 ? 0 : nfds;

	if (len < MPQ_HDR_SIZE)
		return 0;
	if (mpq_parse_header(buf, &m->cmd, &m->size, why) != MPQ_VALID)
		return -1;
	if (len - MPQ_HDR_SIZE < m->size)
		return 0;
	memcpy(&m->data, buf + MPQ_HDR_SIZE, m->size);
	return (ssize_t)(MPQ_HDR_SIZE + m->size);
}

size_t mpq_encode(uint8_t *out, size_t outlen, int cmd, const void *payload,
		  size_t size)
{
	struct mpq_wire w;

	if (size > MPQ_MAX_PAYLOAD || outlen < MPQ_HDR_SIZE + size)
		return 0;
	memset(&w, 0, sizeof(w));
	w.cmd = cmd;
	w.size = size;
	memcpy(out, &w, MPQ_HDR_SIZE);
	if (size)
		memcpy(out + MPQ_HDR_SIZE, payload, size);
	return MPQ_HDR_SIZE + size;
}

size_t mpq_encode_ret(uint8_t *out, uint64_t value, bool with_value)
{
	return mpq_encode(out, MPQ_HDR_SIZE + sizeof(value), MPQ_CMD_RET,
			  &value, with_value ? sizeof(value) : 0);
}
