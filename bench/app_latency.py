#!/usr/bin/env python3
"""app_latency.py DB SECONDS - an app-like request loop against a SQLite database for SECONDS: each request
is a point lookup plus a small aggregate (what a page of a Rails app asks its database), one at a time,
with a short think time between requests (1 ms: a server that is busy, not saturated). Prints "n p50_us
p99_us" for the requests that finished, and on stderr, after the window, where it ran: "app pid P session S
nice N autogroup /autogroup-G nice A" (bench/job_priority.sh checks that the app had a session, and so an
autogroup, of its own, as an app server started from a shell or by systemd has)."""
import os, random, sqlite3, sys, time

db, secs = sys.argv[1], float(sys.argv[2])
c = sqlite3.connect(db)
n = c.execute("SELECT max(id) FROM orders").fetchone()[0]
lat = []
end = time.monotonic() + secs
rnd = random.Random(7)
while time.monotonic() < end:
    k = rnd.randint(1, n - 200)
    t = time.perf_counter()
    c.execute("SELECT who, total FROM orders WHERE id = ?", (k,)).fetchall()
    c.execute("SELECT count(*), sum(total), max(length(note)) FROM orders WHERE id BETWEEN ? AND ?",
              (k, k + 200)).fetchall()
    lat.append((time.perf_counter() - t) * 1e6)
    time.sleep(0.001)
lat.sort()
p = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))]
print("%d %.0f %.0f" % (len(lat), p(0.50), p(0.99)))
try:
    with open("/proc/self/autogroup") as f:
        ag = f.read().strip()
except OSError:
    ag = "none"
print("app pid %d session %d nice %d autogroup %s" % (os.getpid(), os.getsid(0), os.nice(0), ag), file=sys.stderr)
