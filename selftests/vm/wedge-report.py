#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
#
# wedge-report.py - name the code each vCPU of a wedged test VM is in.
#
#   wedge-report.py DUMP HEARTBEAT KALLSYMS
#
# DUMP holds samples of QEMU's "info registers -a" (vm-run takes a few, a
# second or two apart), HEARTBEAT the test VM's heartbeat file (its
# "module" lines are /proc/modules), KALLSYMS the text symbols the VM wrote
# from /proc/kallsyms (may be missing: then modules only).  Prints one line
# per sample: each vCPU's RIP as symbol+offset [module], [module]+offset,
# or "not kernel text" (a nested guest's code, under TCG's SVM).  Exits 3
# if any RIP lies in the mpdev module (vm-run then never boots again).
import bisect
import re
import sys

if len(sys.argv) != 4:
    sys.exit("usage: wedge-report.py DUMP HEARTBEAT KALLSYMS")
dump, beat, kallsyms = sys.argv[1:]

mods = []  # (start, end, name)
with open(beat, errors="replace") as f:
    for line in f:
        w = line.split()
        if len(w) >= 7 and w[0] == "module":
            try:
                start = int(w[-1], 16) if w[-1].startswith("0x") else int(w[-2], 16)
                mods.append((start, start + int(w[2]), w[1]))
            except ValueError:
                pass

syms = []  # (address, name, module or None)
try:
    with open(kallsyms, errors="replace") as f:
        for line in f:
            w = line.split()
            if len(w) >= 3 and w[1] in "Tt":
                mod = w[3].strip("[]") if len(w) > 3 else None
                syms.append((int(w[0], 16), w[2], mod))
except OSError:
    pass
syms.sort()
addrs = [s[0] for s in syms]
# the kernel's own text ends at _etext
etext = max((s[0] for s in syms if s[1] == "_etext"), default=0)


def module_of(rip):
    for start, end, name in mods:
        if start <= rip < end:
            return name, rip - start
    return None, 0


def where(rip):
    mod, off = module_of(rip)
    i = bisect.bisect_right(addrs, rip) - 1
    if i >= 0 and (rip < etext or (mod and syms[i][2] == mod)):
        a, name, smod = syms[i]
        return "%s+0x%x%s" % (name, rip - a, " [%s]" % smod if smod else ""), mod
    if mod:
        return "[%s]+0x%x" % (mod, off), mod
    return "not kernel text", None


rc = 0
sample, cpu, out = 0, None, []
with open(dump, errors="replace") as f:
    for line in f:
        if line.startswith("--- sample"):
            if out:
                print("sample %d: %s" % (sample, "; ".join(out)))
            sample, out = sample + 1, []
        m = re.match(r"CPU#(\d+)", line)
        if m:
            cpu = m.group(1)
        m = re.search(r"\bRIP=([0-9a-f]+)", line)
        if m:
            rip = int(m.group(1), 16)
            text, mod = where(rip)
            out.append("cpu%s %016x %s" % (cpu, rip, text))
            if mod == "mpdev":
                rc = 3
        if "did not answer" in line:
            out.append(line.strip())
if out:
    print("sample %d: %s" % (sample, "; ".join(out)))
sys.exit(rc)
