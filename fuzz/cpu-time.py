#!/usr/bin/env python3
"""Run a command and write the CPU seconds (user + system) its whole process tree used.

    fuzz/cpu-time.py OUT_FILE command [args...]

Why not /usr/bin/time: it counts only children that were waited for. AFL++'s fork server and its
persistent-mode child are killed at the end and never reaped, so nearly all of a campaign's CPU
time would go uncounted. This samples /proc instead: every process of the tree, live, with the
time of the children it has reaped. A process that starts and ends between two samples and whose
parent dies unreaped is missed, so the figure is a lower bound (and AFL++'s wall time an upper one
when the fuzzer shares its core).
"""
import os
import signal
import subprocess
import sys
import time

TICKS = os.sysconf("SC_CLK_TCK")


def stat(pid):
    """(parent pid, own + reaped children's CPU ticks) of a live process, or None."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            text = f.read()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after its last ')'.
    fields = text[text.rindex(")") + 2:].split()
    ppid = int(fields[1])
    utime, stime, cutime, cstime = (int(x) for x in fields[11:15])
    return ppid, utime + stime + cutime + cstime


def tree_ticks(root):
    """CPU ticks of root and every live descendant (with what each has reaped)."""
    procs = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            s = stat(int(name))
            if s:
                procs[int(name)] = s
    children = {}
    for pid, (ppid, _) in procs.items():
        children.setdefault(ppid, []).append(pid)
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        if pid in procs:
            total += procs[pid][1]
            todo.extend(children.get(pid, []))
    return total


def main():
    out, command = sys.argv[1], sys.argv[2:]
    child = subprocess.Popen(command)
    # Passed on, so that the tree is stopped with its parent.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda s, _f: child.send_signal(s))
    most = 0
    while child.poll() is None:
        # The tree's total only grows while its processes live; the last sample before the end
        # holds the fork server and its reaped children.
        most = max(most, tree_ticks(child.pid))
        time.sleep(0.5)
    usage = os.times()
    # What the command itself reaped (and what was waited for after the last sample).
    reaped = usage.children_user + usage.children_system
    with open(out, "w") as f:
        f.write(f"{max(most / TICKS, reaped):.0f}\n")
    sys.exit(child.returncode)


if __name__ == "__main__":
    main()
