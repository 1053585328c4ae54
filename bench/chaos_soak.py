#!/usr/bin/env python3
"""chaos_soak.py - deploy-proof agents under chaos (issue 12 item 2).

dumperd (SQLite store, local storage) on a fast test clock (one minute of server time every --step real
seconds) with a per-minute schedule, and --agents `dumper agent` processes, while a chaos loop keeps
SIGTERMing and SIGKILLing agents (each replaced by a new process, as a deploy or a crash would), SIGKILLing
the primary on purpose, SIGKILLing running job processes mid-backup, and restarting dumperd. Then the chaos
stops, the clock runs on until every slot produced is backed up, and the invariants are checked:

  - every minute slot from the schedule's start to its end has exactly one job, and exactly one good backup;
  - every good backup verifies (`dumper verify` of the stored file: size, checksum, format) and matches the
    catalog's sha256; no backup is left running; no file in storage that is not a good backup or its
    manifest, no part left in the parts directory;
  - never two primaries at once: every takeover dumperd logged happened at or after the end of the
    previous holder's lease (or was a release / the same process);
  - a lapsed lease is taken over within two clock steps of its end (one step is the clock's granularity;
    the second covers a poll cut short by a dumperd restart);
  - no slot waited longer than the lease + one clock step (the clock's granularity) + one agent poll per
    job the primary took before it (its own included) since the last failure before its first attempt
    started, counted from the slot or from that failure (a SIGKILL, which may have hit the primary; a
    killed job; a dumperd restart): failures in a row add up. An agent poll is counted in REAL time
    converted to server time (the agent sleeps the interval dumperd gives in real seconds: 1.1 s, the
    longest interval here with jitter, is 33 s of server time at --step 2), and dumperd hands out at most
    one job per poll (docs/protocol.md), so a backlog left by primaries killed in a row drains at one job
    per poll: see bench/README.md "Chaos soak" for the run that showed it.

The clock never moves twice within MIN_GAP real seconds (longer than the agents' longest poll interval):
when the chaos loop was held up (an agent slow to stop, a dumperd restart, a loaded machine) the clock
does not catch up with a burst of ticks no agent could see; such ticks are counted as late_ticks.

Usage: chaos_soak.py --seconds N [--agents 4] [--step 2] [--seed S] [--keep]
Prints one summary line (key=value) and exits 1 on any violation. Needs DUMPER_BIN (the build's bin/).
"""
import argparse
import bisect
import glob
import hashlib
import json
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../test/dumperd"))
from harness import DUMPER, Env  # noqa: E402

T0 = 1800000000  # a minute boundary (server time, seconds)
LEASE, PRIMARY_IV, JOB_LEASE = 120, 1, 300  # server seconds (two clock steps of lease)
# The agents sleep the intervals dumperd gives in real seconds: 1 s (primary, secondary and "more jobs
# pending" are all 1 s here) plus dumperd's jitter of up to 10 %.
POLL_REAL = 1.1
MIN_GAP = 1.2  # real seconds between two clock moves at least (> POLL_REAL: every agent polls in between)


class Soak:
    def __init__(self, a):
        self.a = a
        self.rng = random.Random(a.seed)
        self.env = Env("sqlite")
        self.dir = self.env.dir
        self.now = T0
        self.counts = dict(sigterm=0, sigkill=0, kill_primary=0, kill_job=0, dumperd_restarts=0, agent_starts=0,
                           late_ticks=0)
        self.load = ["%.1f" % os.getloadavg()[0]]
        self.agents = {}  # pid -> Popen
        self.n = 0
        self.key = self.env.app("shop")
        self.db = os.path.join(self.dir, "app.db")
        con = sqlite3.connect(self.db)
        con.execute("CREATE TABLE t(a, b)")
        # a few MB: a backup takes long enough (~0.3 s) for the chaos to hit some mid-upload
        con.executemany("INSERT INTO t VALUES (?, ?)", [(i, os.urandom(24).hex()) for i in range(a.rows)])
        con.commit()
        con.close()
        self.s = self.env.serve("--primary-interval", str(PRIMARY_IV), "--secondary-interval", "1", "--lease",
                                str(LEASE), "--job-lease", str(JOB_LEASE), "--threads", "4", clock=self.now)
        self.s.any_key = self.key
        # a restarted dumperd comes back on the same port (as behind a fixed address): the agents carry on
        self.s.args += ["--listen", "127.0.0.1:%d" % self.s.port]
        self.disturbed = []  # server times of chaos that may delay a slot (job killed, dumperd restarted)
        # every chaos event and clock move, real and server time: the timeline of a violation is rebuilt
        # from it, the agent logs (agent-N.log), dumperd's (dumperd-N.log) and the store's jobs and backups
        self.events = open(os.path.join(self.dir, "chaos.log"), "a", buffering=1)

    def event(self, what, disturbs=False):
        t = time.time()
        self.events.write("%s.%03dZ server=%d %s\n" % (time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)),
                                                       int(t * 1000) % 1000, self.now, what))
        if disturbs:
            self.disturbed.append(self.now)

    # ---- agents ----
    def start_agent(self):
        self.n += 1
        log = os.path.join(self.dir, "agent-%d.log" % self.n)
        env = dict(self.env.env, DUMPER_APP_KEY=self.key, DUMPER_AGENT_MAX_RETRY_MS="1000")
        p = subprocess.Popen([DUMPER, "agent", "--api", "http://127.0.0.1:%d" % self.s.port, "--database",
                              "sqlite://" + self.db, "--key", "main", "--log", log], cwd=self.dir, env=env,
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.agents[p.pid] = p
        self.counts["agent_starts"] += 1
        self.event("start agent pid %d (agent-%d.log)" % (p.pid, self.n))

    def reap(self):
        for pid, p in list(self.agents.items()):
            if p.poll() is not None:
                del self.agents[pid]

    def stop_agent(self, pid, sig):
        p = self.agents.pop(pid)
        p.send_signal(sig)
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
            raise SystemExit("agent %d did not stop within 10 s of signal %d" % (pid, sig))

    def primary_pid(self):
        try:
            ag = json.loads(self.env.admin("agents", "shop", "--json").stdout)
        except Exception:  # noqa: the store may be busy under chaos; no primary known then
            return None
        for x in ag:
            if x["role"] == "primary" and x["pid"] in self.agents:
                return x["pid"]
        return None

    def job_pids(self):
        out = []
        for d in glob.glob("/proc/[0-9]*"):
            try:
                if os.readlink(d + "/cwd") != self.dir:
                    continue
                args = open(d + "/cmdline", "rb").read().split(b"\0")
            except OSError:
                continue
            if len(args) >= 3 and args[1] == b"job" and args[2] == b"--no-fork":
                out.append(int(d[6:]))
        return out

    # ---- the clock ----
    def tick(self):
        self.now += 60
        try:
            self.s.set_clock(self.now)
        except Exception as e:  # noqa
            raise SystemExit("set clock: %s" % e)
        self.event("clock")

    # ---- chaos ----
    def chaos(self):
        r = self.rng.random()
        self.reap()
        pids = sorted(self.agents)
        if r < 0.30 and pids:
            pid = self.rng.choice(pids)
            self.stop_agent(pid, signal.SIGTERM)
            self.counts["sigterm"] += 1
            self.event("sigterm agent pid %d" % pid)
        elif r < 0.55 and pids:
            pid = self.rng.choice(pids)
            self.stop_agent(pid, signal.SIGKILL)
            self.counts["sigkill"] += 1
            self.event("sigkill agent pid %d" % pid, disturbs=True)  # maybe the primary: its lease must lapse
        elif r < 0.70:
            p = self.primary_pid()
            if p:
                self.stop_agent(p, signal.SIGKILL)
                self.counts["kill_primary"] += 1
                self.event("sigkill primary pid %d" % p, disturbs=True)
        elif r < 0.80:
            jp = self.job_pids()
            if jp:
                try:
                    pid = self.rng.choice(jp)
                    os.kill(pid, signal.SIGKILL)
                    self.counts["kill_job"] += 1
                    self.event("sigkill job pid %d" % pid, disturbs=True)
                except ProcessLookupError:
                    pass
        elif r < 0.85:
            port = self.s.port
            self.s.restart(clock=self.now)
            if self.s.port != port:
                raise SystemExit("dumperd came back on port %d, not %d" % (self.s.port, port))
            self.counts["dumperd_restarts"] += 1
            self.event("dumperd restarted", disturbs=True)
        # replace what died: between 2 and agents+1 processes, sometimes after a pause (a slow deploy)
        while len(self.agents) < self.a.agents and self.rng.random() < 0.8:
            self.start_agent()
        if len(self.agents) < 1:
            self.start_agent()

    # ---- the run ----
    def run(self):
        self.env.admin("schedule", "set", "shop", "--cron", "* * * * *")
        for _ in range(self.a.agents):
            self.start_agent()
        self.s.set_clock(self.now)
        start = time.time()
        next_tick = start + self.a.step
        while time.time() - start < self.a.seconds:
            time.sleep(self.rng.uniform(0.2, 1.5))
            self.chaos()
            if time.time() >= next_tick:
                self.tick()
                next_tick += self.a.step
                if time.time() + MIN_GAP > next_tick:  # held up: no burst of ticks the agents cannot see
                    if time.time() > next_tick:
                        self.counts["late_ticks"] += 1
                    next_tick = time.time() + MIN_GAP
        self.chaos_end = self.now
        self.load.append("%.1f" % os.getloadavg()[0])
        # calm: agents replaced, the clock runs on until every slot up to the end is backed up
        self.reap()
        while len(self.agents) < 2:
            self.start_agent()
        deadline = time.time() + 120 + JOB_LEASE / 60 * self.a.step * 2
        while True:
            if self.settled():
                break
            if time.time() > deadline:
                raise SystemExit("not settled: %r" % self.unsettled)
            time.sleep(self.a.step)
            self.tick()
        # the last slots produced meanwhile: let them finish without moving the clock
        end = time.time() + 60
        while not self.settled(all_jobs=True) and time.time() < end:
            time.sleep(0.5)
        self.last_clock = self.now
        for pid in list(self.agents):
            self.stop_agent(pid, signal.SIGTERM)
        self.s.stop()

    def q(self, sql, *args):
        con = sqlite3.connect(os.path.join(self.env.data, "dumperd.db"), timeout=30)
        try:
            return con.execute(sql, args).fetchall()
        finally:
            con.close()

    def settled(self, all_jobs=False):
        limit = self.now if all_jobs else self.chaos_end
        self.unsettled = self.q("SELECT id, slot, state FROM jobs WHERE slot <= ? AND state <> 'done' ORDER BY id",
                                limit)
        return not self.unsettled and not self.q("SELECT id FROM backups WHERE status = 'running'")

    # ---- invariants ----
    def check(self):
        v = []
        sched = self.q("SELECT id FROM schedules")
        jobs = self.q("SELECT id, slot, state, attempt FROM jobs WHERE schedule_id > 0 ORDER BY slot")
        slots = [j[1] for j in jobs]
        first, last = T0 + 60, max(slots) if slots else T0
        want = list(range(first, last + 1, 60))
        if len(sched) != 1:
            v.append("schedules: %r" % sched)
        if slots != want:
            missing = sorted(set(want) - set(slots))
            v.append("slots: %d jobs for %d minutes (missing %r, duplicates %d)" % (
                len(slots), len(want), missing[:5], len(slots) - len(set(slots))))
        for j in jobs:
            if j[2] != "done":
                v.append("job %d (slot %d) ended %s" % (j[0], j[1], j[2]))
        good = self.q("SELECT b.job_id, b.file_name, b.sha256, b.size FROM backups b JOIN jobs j ON j.id = b.job_id"
                      " WHERE b.status = 'good' AND j.schedule_id > 0")
        per_job = {}
        for g in good:
            per_job.setdefault(g[0], []).append(g)
        for j in jobs:
            n = len(per_job.get(j[0], []))
            if n != 1:
                v.append("slot %d: %d good backups" % (j[1], n))
        others = self.q("SELECT status, COUNT(*) FROM backups WHERE status <> 'good' GROUP BY status")
        if any(s == "running" for s, _ in others):
            v.append("backups left running: %r" % others)
        # storage: the good files and their manifests, nothing else; no parts
        store = os.path.join(self.env.data, "backups")
        files = set()
        for root, _, names in os.walk(store):
            for nm in names:
                files.add(os.path.relpath(os.path.join(root, nm), store))
        want_files = set()
        for g in good:
            want_files.add(g[1])
            want_files.add(g[1] + ".json")
        extra = sorted(f for f in files - want_files)
        if extra:
            v.append("files in storage that are no good backup: %r" % extra[:5])
        if want_files - files:
            v.append("good backups missing in storage: %r" % sorted(want_files - files)[:5])
        parts = [os.path.join(r, n) for r, _, ns in os.walk(os.path.join(self.env.data, "parts")) for n in ns]
        if parts:
            v.append("parts left: %r" % parts[:5])
        for g in good:
            path = os.path.join(store, g[1])
            if not os.path.exists(path):
                continue
            if hashlib.sha256(open(path, "rb").read()).hexdigest() != g[2] or os.path.getsize(path) != g[3]:
                v.append("%s: does not match its catalog entry" % g[1])
        verify_fail = 0
        for g in good:  # verify every good backup (they are small)
            p = subprocess.run([DUMPER, "verify", os.path.join(store, g[1])], capture_output=True, text=True,
                               env=self.env.env)
            if p.returncode != 0:
                verify_fail += 1
                v.append("dumper verify %s: %s" % (g[1], p.stderr.strip()[:200]))
        # waits: from the slot, or from the last failure before it started (a SIGKILL that may have hit the
        # primary, a killed job, a dumperd restart), to its first attempt (the first backup's created_at);
        # allowed: the lease, a clock step, and one agent poll (real time, in server time) per attempt the
        # primary started since then up to this one (one job per poll: a backlog drains one per poll)
        poll_ms = POLL_REAL * 60 / self.a.step * 1000
        attempts = self.q("SELECT created_at, id, job_id FROM backups ORDER BY created_at, id")
        order = [(a[0], a[1]) for a in attempts]
        first_of = {}
        for i, a in enumerate(attempts):
            first_of.setdefault(a[2], i)
        waits, late, max_ahead = [], [], 0
        for j in jobs:
            i = first_of.get(j[0])
            began = attempts[i][0] if i is not None else 0
            w = began - j[1] * 1000
            waits.append(w)
            since = max([j[1]] + [d for d in self.disturbed if d * 1000 <= began])
            ahead = i - bisect.bisect_left(order, (since * 1000, 0)) if i is not None else 0
            max_ahead = max(max_ahead, ahead)
            if began - since * 1000 > LEASE * 1000 + 60000 + poll_ms * (1 + ahead):
                late.append((j[1], w // 1000, (began - since * 1000) // 1000, ahead))
        if late:
            v.append("slots waited longer than lease + a step + one poll per job taken before it after the last"
                     " failure (slot, wait s, since the failure s, jobs taken before it): %r" % late[:5])
        # never two primaries at once: every takeover after the previous lease ended
        # and a lapsed (or released) lease taken over within two clock steps of its end
        takeovers = overlaps = max_gap = 0
        for log in sorted(glob.glob(os.path.join(self.dir, "dumperd-*.log"))):
            for ln in open(log):
                m = re.search(r"is now the primary .*the lease of a_\d+ ended at (\d+), now (\d+)\)", ln)
                if m:
                    takeovers += 1
                    gap = int(m.group(2)) - int(m.group(1))
                    if gap < 0:
                        overlaps += 1
                        v.append("overlap: " + ln.strip())
                    elif gap > 120000:
                        v.append("takeover %d s after the lease's end: %s" % (gap // 1000, ln.strip()))
                    max_gap = max(max_gap, gap)
        self.summary = dict(seconds=self.a.seconds, agents=self.a.agents, seed=self.a.seed,
                            slots=len(slots), good=len(good), failed_attempts=sum(n for _, n in others),
                            retries=sum(j[3] - 1 for j in jobs), takeovers=takeovers, overlaps=overlaps,
                            max_takeover_delay_s=max_gap // 1000, max_jobs_ahead=max_ahead, load="/".join(self.load),
                            max_wait_s=max(waits) // 1000 if waits else 0,
                            median_wait_s=sorted(waits)[len(waits) // 2] // 1000 if waits else 0,
                            verify_failures=verify_fail, violations=len(v), **self.counts)
        return v


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--agents", type=int, default=4)
    ap.add_argument("--step", type=float, default=2.0, help="real seconds per minute of server time")
    ap.add_argument("--seed", type=int, default=int(time.time()))
    ap.add_argument("--rows", type=int, default=60000, help="rows of the SQLite database backed up")
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()
    s = Soak(a)
    ok = False
    try:
        s.run()
        v = s.check()
        print("chaos_soak " + " ".join("%s=%s" % kv for kv in s.summary.items()))
        for x in v:
            print("VIOLATION: " + x, file=sys.stderr)
        ok = not v
    finally:
        for p in s.agents.values():
            p.kill()
        for p in s.job_pids():
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            s.env.close(ok and not a.keep)
        except Exception as e:  # noqa
            print("closing: %s" % e, file=sys.stderr)
    sys.exit(0 if ok else 1)


main()
