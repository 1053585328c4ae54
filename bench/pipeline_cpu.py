#!/usr/bin/env python3
"""bench/pipeline_cpu.py - where a backup pipeline's time goes, per thread: CPU time and time spent
waiting for a CPU (runnable, not running), from /proc/PID/task/TID/schedstat, for a command's whole
process tree and for the database server's backends it starts (children of the postmaster that
appear while it runs). The rest of a thread's wall time is sleep (waiting for a pipe, a socket, a
lock). Sampled every 20 ms (a thread that lives less than that may be missed; the last 20 ms of a
thread's time may be).

  bench/pipeline_cpu.py LABEL POSTMASTER_PID CMD...   (POSTMASTER_PID 0: no server side)

Prints "LABEL wall S load L", then one line per thread with more than 5 ms of CPU:
  comm pid/tid cpu S rqwait S slices N vol N invol N
(slices: times it got a CPU; vol/invol: voluntary (it blocked) and involuntary (preempted)
context switches), then the totals. Needs a kernel with schedstat (CONFIG_SCHED_INFO)."""
import os
import subprocess
import sys
import time


def children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    label, pm, cmd = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
    before = set(children(pm)) if pm else set()
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
    seen = {}

    def sample():
        todo = [p.pid] + ([c for c in children(pm) if c not in before] if pm else [])
        while todo:
            pid = todo.pop()
            todo += children(pid)
            try:
                tids = os.listdir(f"/proc/{pid}/task")
            except OSError:
                continue
            for t in tids:
                try:
                    with open(f"/proc/{pid}/task/{t}/schedstat") as f:
                        run, wait, slices = map(int, f.read().split())
                    with open(f"/proc/{pid}/task/{t}/status") as f:
                        st = f.read()
                except (OSError, ValueError):
                    continue
                comm = st.split("\n", 1)[0].split(":", 1)[1].strip()
                vol = int(st.split("\nvoluntary_ctxt_switches:")[1].split()[0])
                inv = int(st.split("nonvoluntary_ctxt_switches:")[1].split()[0])
                seen[(pid, int(t))] = (comm, run, wait, slices, vol, inv)

    while p.poll() is None:
        sample()
        time.sleep(0.02)
    wall = time.monotonic() - t0
    with open("/proc/loadavg") as f:
        load = f.read().split()[0]
    print(f"{label} wall {wall:.2f} load {load} exit {p.returncode}")
    cpu = wait = 0
    for (pid, t), (comm, run, w, sl, vol, inv) in sorted(seen.items()):
        if run < 5e6:
            continue
        cpu += run
        wait += w
        print(f"  {comm:16s} {pid:>7}/{t:<7} cpu {run / 1e9:6.2f} rqwait {w / 1e9:6.2f} slices {sl:7d} "
              f"vol {vol:7d} invol {inv:6d}")
    print(f"  {'total':32s} cpu {cpu / 1e9:6.2f} rqwait {wait / 1e9:6.2f}")
    sys.exit(p.returncode)


if __name__ == "__main__":
    main()
