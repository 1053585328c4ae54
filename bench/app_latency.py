#!/usr/bin/env python3
"""app_latency.py DB SECONDS [BUSY] - an app-like request loop against a SQLite database for SECONDS: each
request is a point lookup plus a small aggregate (what a page of a Rails app asks its database), one at a
time, with a short think time between requests (1 ms: a server that is busy, not saturated).

BUSY (default 0): the app server's other workers, BUSY CPU-bound loops forked by this process before the
window (so in its session and autogroup, as a pre-forking server's workers are), spinning until the window
ends (each checks the clock itself, so none outlives the window even if this process is killed; they also
get SIGKILL if this process dies first). They make the app's session want more CPU than the machine has,
so that what another session (a backup job) gets is decided by the scheduler's weights.

Prints on stdout "n p50_us p99_us busy_iter_per_s busy_cpu_s": the requests that finished, their median and
99th percentile, the busy loops' iterations per second summed and their CPU seconds (user + system, each
measured by the loop itself) summed (0 0 without BUSY). On stderr, after the window, where it ran: "app pid
P session S nice N autogroup /autogroup-G nice A" and, with BUSY, "busy K session S autogroup /autogroup-G
nice A" when all K loops ran in one session and autogroup ("busy K mixed" otherwise); bench/job_priority.sh
checks that the app and its busy loops had a session, and so an autogroup, of their own, as an app server
started from a shell or by systemd has."""
import ctypes, os, random, signal, sqlite3, sys, time

db, secs = sys.argv[1], float(sys.argv[2])
busy = int(sys.argv[3]) if len(sys.argv) > 3 else 0


def autogroup():
    try:
        with open("/proc/self/autogroup") as f:
            return f.read().strip()
    except OSError:
        return "none"


end = time.monotonic() + secs
workers = []  # (pid, read end of its pipe)
for _ in range(busy):
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
        t0 = time.monotonic()
        c0 = os.times()
        it = 0
        while time.monotonic() < end:
            for _ in range(20000):
                pass
            it += 20000
        c1 = os.times()
        el = time.monotonic() - t0
        msg = "%d %.3f %d %s\n" % (it / el, (c1.user - c0.user) + (c1.system - c0.system), os.getsid(0), autogroup())
        os.write(w, msg.encode())
        os._exit(0)
    os.close(w)
    workers.append((pid, r))

c = sqlite3.connect(db)
n = c.execute("SELECT max(id) FROM orders").fetchone()[0]
lat = []
rnd = random.Random(7)
while time.monotonic() < end:
    k = rnd.randint(1, n - 200)
    t = time.perf_counter()
    c.execute("SELECT who, total FROM orders WHERE id = ?", (k,)).fetchall()
    c.execute("SELECT count(*), sum(total), max(length(note)) FROM orders WHERE id BETWEEN ? AND ?",
              (k, k + 200)).fetchall()
    lat.append((time.perf_counter() - t) * 1e6)
    time.sleep(0.001)
ips, cpu, where = 0, 0.0, set()
for pid, r in workers:
    with os.fdopen(r) as f:
        parts = f.read().split(None, 3)
    os.waitpid(pid, 0)
    if len(parts) != 4:
        sys.exit("app_latency.py: busy loop %d reported nothing" % pid)
    ips += int(parts[0])
    cpu += float(parts[1])
    where.add((parts[2], parts[3].strip()))
lat.sort()
p = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))]
print("%d %.0f %.0f %d %.2f" % (len(lat), p(0.50), p(0.99), ips, cpu))
print("app pid %d session %d nice %d autogroup %s" % (os.getpid(), os.getsid(0), os.nice(0), autogroup()), file=sys.stderr)
if busy:
    if len(where) == 1:
        s, ag = where.pop()
        print("busy %d session %s autogroup %s" % (busy, s, ag), file=sys.stderr)
    else:
        print("busy %d mixed" % busy, file=sys.stderr)
