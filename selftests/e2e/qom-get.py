#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
#
# qom-get.py - read QOM properties over a QEMU's QMP socket (stdlib only):
#
#   qom-get.py SOCKET PATH PROP [PROP...]
#   qom-get.py SOCKET --hmp COMMAND
#
# Prints "PROP=VALUE" per property (booleans as true/false, strings bare)
# and exits 0, or prints why it could not and exits 1.  A property QEMU
# does not know is printed as "PROP=?" and makes the exit status 1: a
# remote without the mpdev series has none of its counters, and a runner
# must not read that as zero.  With --hmp it prints the output of one HMP
# command (human-monitor-command).  Waits up to 10 s for the socket to
# appear.
import json
import os
import socket
import sys
import time

if len(sys.argv) < 4:
    sys.exit("usage: qom-get.py SOCKET PATH PROP [PROP...]")
path, obj, props = sys.argv[1], sys.argv[2], sys.argv[3:]
end = time.time() + 10
while not os.path.exists(path) and time.time() < end:
    time.sleep(0.1)
try:
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(10)
    s.connect(path)
    f = s.makefile("rw")
    f.readline()  # the greeting
    f.write(json.dumps({"execute": "qmp_capabilities"}) + "\n")
    f.flush()
    f.readline()
except (OSError, ValueError) as e:
    sys.exit("qom-get: %s: %s" % (path, e))


def call(cmd, args):
    f.write(json.dumps({"execute": cmd, "arguments": args}) + "\n")
    f.flush()
    while True:  # skip asynchronous events
        line = f.readline()
        if not line:
            sys.exit("qom-get: %s: QEMU closed the monitor" % path)
        m = json.loads(line)
        if "return" in m or "error" in m:
            return m


if obj == "--hmp":
    m = call("human-monitor-command", {"command-line": " ".join(props)})
    print(m.get("return", m))
    sys.exit(0 if "return" in m else 1)

rc = 0
for p in props:
    m = call("qom-get", {"path": obj, "property": p})
    if "return" in m:
        v = m["return"]
        print("%s=%s" % (p, json.dumps(v) if isinstance(v, bool) else v))
    else:
        print("%s=?" % p)
        rc = 1
sys.exit(rc)
