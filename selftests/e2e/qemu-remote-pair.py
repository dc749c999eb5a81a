#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
#
# qemu-remote-pair.py - one run of QEMU's own remote with the patched VMM,
# for run-qemu-remote.sh (stdlib only):
#
#   qemu-remote-pair.py QEMU MODE OUTDIR [TIMEOUT] [MPDEVCTL]
#
# Two QEMUs on a socketpair: the remote (-machine x-remote, lsi53c895a,
# x-remote-object robj1) and the VMM (x-pci-proxy-dev, -accel kvm, memfd
# RAM, no guest kernel).  MODE: on or off (x-pci-proxy-dev mpdev=MODE, the
# remote in its default mpdev-mode=blocking), or poll (mpdev=on, the remote
# with mpdev-mode=poll: a thread busy-polls the ring; MPDEV_E2E_QR_SPIN_US
# sets its mpdev-poll-spin-us).  SeaBIOS probing the
# LSI controller is the guest's traffic.  Done when SeaBIOS's debug log
# (isa-debugcon 0x402, OUTDIR/bios.log) says "No bootable device" or
# "Booting from" AND the remote's counters are unchanged over 3 polls
# (1.5 s) - or, without the message, steady for 20 s.  Then (MPDEVCTL
# given) "mpdevctl show" / "show -j" into OUTDIR while both still run,
# then both QEMUs are stopped (SIGTERM, SIGKILL after 5 s; they get SIGKILL
# from PR_SET_PDEATHSIG should this helper itself be killed).
#
# Prints one JSON object on stdout: the counters, "done" (how it ended),
# "secs", "alive" (both still ran at the end), and exits 0 if it got counters.
import ctypes, json, os, signal, socket, subprocess, sys, time

qemu, mode, out = sys.argv[1], sys.argv[2], sys.argv[3]
limit = float(sys.argv[4]) if len(sys.argv) > 4 else 120
ctl = sys.argv[5] if len(sys.argv) > 5 else ""
accel = os.environ.get("MPDEV_E2E_ACCEL", "kvm")
os.makedirs(out, exist_ok=True)
qmp = os.path.join(out, "remote.qmp")
if os.path.exists(qmp):
    os.unlink(qmp)
PROPS = ["mpdev", "mpdev-reads", "mpdev-writes", "mpdev-errors",
         "socket-bar-reads", "socket-bar-writes", "mpdev-mode",
         "mpdev-poll-batches", "mpdev-poll-sleeps", "mpdev-kicks"]
robj = "x-remote-object,id=robj1,devid=lsi0,fd=%d"
proxy_mode = mode
if mode == "poll":
    proxy_mode = "on"
    robj += ",mpdev-mode=poll"
    if os.environ.get("MPDEV_E2E_QR_SPIN_US"):
        robj += ",mpdev-poll-spin-us=" + os.environ["MPDEV_E2E_QR_SPIN_US"]

a, b = socket.socketpair()
rcmd = [qemu, "-machine", "x-remote", "-nodefaults", "-display", "none",
        "-device", "lsi53c895a,id=lsi0",
        "-object", robj % a.fileno(),
        "-qmp", "unix:%s,server=on,wait=off" % qmp]
vcmd = [qemu, "-accel", accel, "-cpu", "host" if accel == "kvm" else "max",
        "-m", "128M",
        "-object", "memory-backend-memfd,id=mem,size=128M,share=on",
        "-machine", "q35,memory-backend=mem",
        "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
        "-serial", "none", "-boot", "menu=off",
        "-chardev", "file,id=bios,path=%s/bios.log" % out,
        "-device", "isa-debugcon,iobase=0x402,chardev=bios",
        "-device", "x-pci-proxy-dev,id=lsi0,fd=%d,mpdev=%s" % (b.fileno(), proxy_mode)]
with open(os.path.join(out, "cmdline.txt"), "w") as f:
    f.write("remote: %s\nvmm: %s\n" % (" ".join(rcmd), " ".join(vcmd)))
procs = []
libc = ctypes.CDLL(None, use_errno=True)


def die_with_us():
    # PR_SET_PDEATHSIG: a QEMU gets SIGKILL if this helper dies, even of SIGKILL
    libc.prctl(1, signal.SIGKILL, 0, 0, 0)


def stop(*_):
    for p in procs:
        if p.poll() is None:
            p.terminate()
    end = time.time() + 5
    for p in procs:
        try:
            p.wait(max(0.1, end - time.time()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def on_signal(*_):
    stop()
    sys.exit(3)


signal.signal(signal.SIGTERM, on_signal)
signal.signal(signal.SIGINT, on_signal)
signal.signal(signal.SIGHUP, on_signal)


def qmp_get():
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(5)
    s.connect(qmp)
    f = s.makefile("rw")
    f.readline()
    f.write(json.dumps({"execute": "qmp_capabilities"}) + "\n")
    f.flush()
    f.readline()
    res = {}
    for p in PROPS:
        f.write(json.dumps({"execute": "qom-get", "arguments":
                            {"path": "/objects/robj1", "property": p}}) + "\n")
        f.flush()
        while True:
            m = json.loads(f.readline())
            if "return" in m or "error" in m:
                break
        res[p] = m.get("return", m.get("error"))
    s.close()
    return res


def bios_done():
    try:
        with open(os.path.join(out, "bios.log"), errors="replace") as f:
            t = f.read()
    except OSError:
        return False
    return "No bootable device" in t or "Booting from" in t


res = {"done": "timeout"}
counters = None
t0 = time.time()
try:
    procs.append(subprocess.Popen(rcmd, pass_fds=[a.fileno()], stdin=subprocess.DEVNULL, preexec_fn=die_with_us,
                                  stdout=open(os.path.join(out, "remote.err"), "w"),
                                  stderr=subprocess.STDOUT))
    procs.append(subprocess.Popen(vcmd, pass_fds=[b.fileno()], stdin=subprocess.DEVNULL, preexec_fn=die_with_us,
                                  stdout=open(os.path.join(out, "vmm.err"), "w"),
                                  stderr=subprocess.STDOUT))
    a.close()
    b.close()
    last, same, since = None, 0, time.time()
    while time.time() - t0 < limit:
        time.sleep(0.5)
        if any(p.poll() is not None for p in procs):
            res["done"] = "exited"
            break
        try:
            c = qmp_get()
        except (OSError, ValueError):
            continue
        counters = c
        if c == last:
            same += 1
        else:
            last, same, since = c, 0, time.time()
        if bios_done() and same >= 3:
            res["done"] = "bios"
            break
        if time.time() - since >= 20 and c.get("mpdev-reads", 0) + c.get("socket-bar-reads", 0) > 0:
            res["done"] = "steady"
            break
    res["alive"] = all(p.poll() is None for p in procs)
    if ctl and res["alive"]:
        for args, name in ((["show"], "mpdevctl-show.txt"), (["show", "-j"], "mpdevctl-show.json")):
            with open(os.path.join(out, name), "w") as f:
                try:
                    subprocess.run([ctl] + args, stdout=f, stderr=subprocess.STDOUT, timeout=10)
                except (OSError, subprocess.TimeoutExpired) as e:
                    f.write("mpdevctl: %s\n" % e)
finally:
    stop()
res["secs"] = round(time.time() - t0, 1)
res["rc"] = [p.returncode for p in procs]
res.update(counters or {})
print(json.dumps(res))
sys.exit(0 if counters else 1)
