#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
#
# qmp-liar.py - a QMP proxy that lies about one BAR (stdlib only), for
# run-mpdev.sh's zero-patch test of mpqemu-run's distrust of QMP:
#
#   qmp-liar.py [--dev ID] [--bar N] [--shift BYTES] [--once] LISTEN REAL
#
# Listens on the UNIX socket LISTEN; for each client, connects to QEMU's
# QMP socket REAL (waiting up to 30 s for it to appear) and passes the
# traffic through: the client's bytes to QEMU untouched, QEMU's replies
# and events to the client line by line (the greeting, qmp_capabilities'
# reply, events, everything).  One reply is rewritten: in every query-pci
# reply, the address of BAR N (default 0) of the device whose qdev_id is
# ID (default mpdev0, mpqemu-run's default proxy) is moved by BYTES
# (default 0x100000); everything else stays as QEMU said it.  A BAR QEMU
# reports unmapped (address -1) is left alone.
#
# Each rewrite is logged on stderr, e.g.
#   qmp-liar: query-pci 3: mpdev0 BAR0 0xfe000000 -> 0xfe100000
#
# A session ends when either side closes; the program then ends too if
# QEMU's side closed (QEMU is gone) or with --once, else it waits for the
# next client (QEMU's monitor takes one client at a time, and a client
# may reconnect).  It also ends, with status 1, when REAL cannot be
# reached.
import argparse
import json
import os
import selectors
import socket
import sys
import time

UNMAPPED = (1 << 64) - 1  # QEMU's PCI_BAR_UNMAPPED as query-pci prints it


def log(msg):
    print("qmp-liar: " + msg, file=sys.stderr, flush=True)


def lie_devices(devices, a, tag):
    """Shift BAR a.bar of the device a.dev in a query-pci device list
    (and on the buses behind bridges); returns the number changed."""
    n = 0
    for d in devices:
        if d.get("qdev_id") == a.dev:
            for r in d.get("regions", []):
                addr = r.get("address")
                if r.get("bar") != a.bar or not isinstance(addr, int):
                    continue
                if addr in (UNMAPPED, -1):
                    log("%s: %s BAR%d unmapped, left alone" % (tag, a.dev, a.bar))
                    continue
                r["address"] = (addr + a.shift) & UNMAPPED
                log("%s: %s BAR%d 0x%x -> 0x%x" % (tag, a.dev, a.bar, addr, r["address"]))
                n += 1
        bridge = d.get("pci_bridge")
        if isinstance(bridge, dict):
            n += lie_devices(bridge.get("devices", []), a, tag)
    return n


def rewrite(line, a, state):
    """One line from QEMU: a query-pci reply gets the lie, anything else
    (greeting, other replies, events, what does not parse) goes as it is."""
    body = line.rstrip(b"\r\n")
    end = line[len(body):]
    try:
        msg = json.loads(body)
    except ValueError:
        return line
    ret = msg.get("return") if isinstance(msg, dict) else None
    # query-pci's reply, and only it: a list of buses with devices.
    if not (isinstance(ret, list) and ret and
            all(isinstance(b, dict) and "bus" in b and "devices" in b for b in ret)):
        return line
    state["queries"] += 1
    tag = "query-pci %d" % state["queries"]
    if not sum(lie_devices(b["devices"], a, tag) for b in ret):
        log("%s: no mapped %s BAR%d in the reply, passed unchanged" % (tag, a.dev, a.bar))
        return line
    return json.dumps(msg, separators=(",", ":")).encode() + end


def connect_real(path, timeout):
    end = time.monotonic() + timeout
    while True:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(path)
            return s
        except OSError as e:
            s.close()
            if time.monotonic() >= end:
                log("cannot connect to %s: %s" % (path, e))
                return None
            time.sleep(0.1)


def session(client, real, a, state):
    """Relay until either side closes; True if QEMU's side closed."""
    sel = selectors.DefaultSelector()
    sel.register(client, selectors.EVENT_READ, "client")
    sel.register(real, selectors.EVENT_READ, "real")
    pending = b""  # QEMU's output up to its next newline
    try:
        while True:
            for key, _ in sel.select():
                try:
                    data = key.fileobj.recv(65536)
                except OSError:
                    data = b""
                if key.data == "client":
                    if not data:
                        log("client closed")
                        return False
                    real.sendall(data)
                    continue
                if not data:
                    if pending:
                        client.sendall(pending)
                    log("QEMU closed its monitor")
                    return True
                pending += data
                while b"\n" in pending:
                    line, pending = pending.split(b"\n", 1)
                    client.sendall(rewrite(line + b"\n", a, state))
    except OSError as e:  # a send to a side that is gone
        log("connection lost: %s" % e)
        return False
    finally:
        sel.close()


def main():
    p = argparse.ArgumentParser(description="QMP proxy that shifts one BAR in query-pci replies")
    p.add_argument("--dev", default="mpdev0", help="qdev_id of the device (default mpdev0)")
    p.add_argument("--bar", type=int, default=0, help="BAR to lie about (default 0)")
    p.add_argument("--shift", type=lambda s: int(s, 0), default=0x100000,
                   help="bytes added to its address (default 0x100000)")
    p.add_argument("--once", action="store_true", help="end after the first session")
    p.add_argument("listen")
    p.add_argument("real")
    a = p.parse_args()

    try:
        os.unlink(a.listen)
    except FileNotFoundError:
        pass
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(a.listen)
    srv.listen(1)
    log("listening on %s for %s, %s BAR%d shifted by 0x%x" % (a.listen, a.real, a.dev, a.bar, a.shift))
    state = {"queries": 0}
    while True:
        client, _ = srv.accept()
        real = connect_real(a.real, 30)
        if real is None:
            client.close()
            return 1
        log("client connected, relaying to %s" % a.real)
        qemu_gone = session(client, real, a, state)
        client.close()
        real.close()
        if qemu_gone or a.once:
            return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
