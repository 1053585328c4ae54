"""lease_test.py - deploy-proof leases (issue 12) through real HTTP at dumperd's default intervals (primary 300 s,
secondary 3600 s, lease 900 s) on the test clock: a new secondary polls every ~10 s for ten minutes, then at
the lease's end plus 1..3 s; a stopping agent's release hands the lease to the next poller at once (only the
holder's release does); an agent of the same host and pid as the primary (a re-executed server) takes its
lease at registration, with the jobs its predecessor never started; and what an operator sees: registrations, refused keys (rate-limited, never the key),
agents gone silent (once each), the alive column, and `backup now` naming the environments with databases."""
import json
import re
import time
from harness import Fail, check, eq, main, poll, register

T0 = 1800000000


def between(x, lo, hi, msg):
    check(lo <= x <= hi, "%s: %r not in [%r, %r]" % (msg, x, lo, hi))


def log_lines(s, pattern):
    with open(s.log) as f:
        return [ln for ln in f.read().splitlines() if re.search(pattern, ln)]


def wait_log(s, pattern, n=1, secs=10):
    end = time.time() + secs
    while time.time() < end:
        got = log_lines(s, pattern)
        if len(got) >= n:
            return got
        time.sleep(0.05)
    raise Fail("dumperd log: expected %d line(s) matching %r, got %r" % (n, pattern, log_lines(s, pattern)))


def agents(env, app="shop"):
    return {a["agent_id"]: a for a in json.loads(env.admin("agents", app, "--json").stdout)}


def test(env):
    key = env.app("shop")
    s = env.serve("--threads", "2", clock=T0)
    s.any_key = key

    a = register(s, key, "h1", 10)
    eq(a["role"], "primary", "the first agent")
    wait_log(s, r"agent %s registered: app \d+, environment production, host h1, pid 10, 1 database, primary$"
             % a["agent_id"])
    b = register(s, key, "h2", 20)
    eq(b["role"], "secondary", "the second agent")
    between(b["interval"], 9, 11, "a new secondary polls every ~10 s (deploy window)")
    s.set_clock(T0 + 599)
    between(poll(s, key, b["agent_id"])["interval"], 9, 11, "599 s after registering: still in the window")
    # Past the window: at the lease's end (T0 + 900) plus 1..3 s, not after the secondary interval (3600 s).
    s.set_clock(T0 + 601)
    between(poll(s, key, b["agent_id"])["interval"], 900 - 601 + 1, 900 - 601 + 3, "at the lease's end + 1..3 s")
    s.set_clock(T0 + 700)  # a read-only poll (seen < 1 min ago) answers the same way
    between(poll(s, key, b["agent_id"])["interval"], 201, 203, "a read-only poll: at the lease's end")

    # Release: only the holder's ends the lease; the next poller is primary at once.
    eq(s.ok("POST", "/api/v1/agents/release", {"agent_id": b["agent_id"]}, key), {"released": False},
       "a secondary's release")
    eq(poll(s, key, a["agent_id"])["role"], "primary", "the primary keeps its lease after a secondary released")
    c = register(s, key, "h3", 30)
    eq(c["role"], "secondary", "a third agent while the lease is live")
    eq(s.ok("POST", "/api/v1/agents/release", {"agent_id": a["agent_id"]}, key), {"released": True},
       "the primary's release")
    wait_log(s, r"agent %s stopped and released its primary lease" % a["agent_id"])
    eq(poll(s, key, c["agent_id"])["role"], "primary", "the next poller after a release is primary at once")
    eq(poll(s, key, a["agent_id"])["role"], "secondary", "the released agent, if it polled again")
    s.err(404, "not_found", "POST", "/api/v1/agents/release", {"agent_id": "a_999999"}, key)
    s.err(400, "invalid_request", "POST", "/api/v1/agents/release", {"agent_id": 5}, key)

    # The same host and pid as the primary (puma's hot restart re-executes itself): takes over at registration.
    c2 = register(s, key, "h3", 30)
    eq(c2["role"], "primary", "the primary's process registering again takes over its lease")
    wait_log(s, r"agent %s \(h3 pid 30\) took over the lease of its predecessor %s" % (c2["agent_id"], c["agent_id"]))
    eq(poll(s, key, c["agent_id"])["role"], "secondary", "its predecessor is secondary")
    d = register(s, key, "h3", 31)
    eq(d["role"], "secondary", "another pid of that host")
    e = register(s, key, "h9", 30)
    eq(e["role"], "secondary", "that pid on another host")

    # Containers given one host name, each running the app as pid 1: the primary's host and pid, but another
    # process start (boot id : start ticks) is another process, not a re-exec: it stays secondary. The same
    # start (what a re-exec keeps) takes over; an agent that sends none is judged by host and pid, as before.
    boot = "0f3c2a9e-6f7d-4c1e-9a51-2b8e3f6d7c10"
    key4 = env.app("box")
    b1 = register(s, key4, "web", 1, process_start=boot + ":4242")
    eq(b1["role"], "primary", "the first container")
    b2 = register(s, key4, "web", 1, process_start=boot + ":9999")
    eq(b2["role"], "secondary", "another container with the primary's host name and pid 1")
    wait_log(s, r"agent %s \(web pid 1\) has the primary's host and pid but another process start \(%s:9999, the"
             r" primary's %s:4242\): not its predecessor, it stays secondary" % (b2["agent_id"], boot, boot))
    eq(poll(s, key4, b1["agent_id"])["role"], "primary", "the first container keeps its lease")
    b3 = register(s, key4, "web", 1, process_start="9a" + boot[2:] + ":4242")
    eq(b3["role"], "secondary", "the same start ticks on another boot (another machine)")
    b4 = register(s, key4, "web", 1, process_start=boot + ":4242")
    eq(b4["role"], "primary", "the primary re-executed in place (same start) takes over")
    wait_log(s, r"agent %s \(web pid 1\) took over the lease of its predecessor %s" % (b4["agent_id"], b1["agent_id"]))
    b5 = register(s, key4, "web", 1)
    eq(b5["role"], "primary", "an agent that sends no process start: host and pid decide")
    with_start = dict(hostname="web", pid=2, environment="production", databases=[])
    for bad in ("", "0F3C:1", "a;b", "x" * 3, boot + ":1 "):
        e4 = s.err(400, "invalid_request", "POST", "/api/v1/agents/register", dict(with_start, process_start=bad), key4)
        eq(e4["message"], "field 'process_start' must be 1-64 characters of [0-9a-f:-]", "process_start %r" % bad)
    e4 = s.err(400, "invalid_request", "POST", "/api/v1/agents/register", dict(with_start, process_start="1" * 65),
               key4)
    eq(e4["message"], "field 'process_start' must be a string of at most 64 bytes", "65 characters")
    e4 = s.err(400, "invalid_request", "POST", "/api/v1/agents/register", dict(with_start, process_start=7), key4)
    eq(e4["message"], "field 'process_start' must be a string of at most 64 bytes", "a number")
    eq(register(s, key4, "web", 3, process_start="1" * 64)["role"], "secondary", "64 characters")

    # A re-executed primary's jobs handed out but never started (no prepare yet) go to its successor; the old
    # process's late prepare of one is refused. A job already running stays where it is.
    key3 = env.app("pos")
    p1 = register(s, key3, "hp", 70)
    env.admin("backup", "now", "pos")
    j1 = poll(s, key3, p1["agent_id"])["job"]
    check(j1, "the primary gets the manual job")
    p2 = register(s, key3, "hp", 70)
    eq(p2["role"], "primary", "the re-executed process")
    j1b = poll(s, key3, p2["agent_id"])["job"]
    eq(j1b and j1b["job_id"], j1["job_id"], "the never started job handed to the successor")
    prep = {"job_id": j1["job_id"], "format": "sql", "compression": "none"}
    e1 = s.err(409, "conflict", "POST", "/api/v1/backups/prepare", dict(prep, agent_id=p1["agent_id"]), key3)
    eq(e1["message"], "job '%s' is dispatched to another agent" % j1["job_id"], "the late prepare's message")
    s.ok("POST", "/api/v1/backups/prepare", dict(prep, agent_id=p2["agent_id"]), key3)
    p3 = register(s, key3, "hp", 70)
    eq(p3["role"], "primary", "re-executed again")
    eq(poll(s, key3, p3["agent_id"])["job"], None, "a job with a backup running is not handed out again")

    # Alive: a stopped agent is not. (The admin command runs on the wall clock, before this test clock: the
    # silent side of alive is test_domain_election's; the real-clock part below checks yes/stopped again.)
    ag = agents(env)
    eq(ag[a["agent_id"]]["alive"], False, "a stopped agent is not alive")
    check("stopped_at" in ag[a["agent_id"]], "a stopped agent has stopped_at")
    eq(ag[c2["agent_id"]]["alive"], True, "a polling agent is alive")
    text = env.admin("agents", "shop").stdout.splitlines()
    eq(text[0], "AGENT\tENVIRONMENT\tROLE\tALIVE\tHOST\tPID\tDISPATCHER\tLAST SEEN", "agents header")
    row = [ln.split("\t") for ln in text[1:] if ln.startswith(a["agent_id"] + "\t")][0]
    eq(row[2:6], ["secondary", "stopped", "h1", "10"], "the stopped agent's row")
    row = [ln.split("\t") for ln in text[1:] if ln.startswith(c2["agent_id"] + "\t")][0]
    eq(row[2:4], ["primary", "yes"], "the primary's row")

    # Silence: 903 s (the lease + 3 s, the longest interval an agent is told) + 2 min without a poll.
    quiet = [x["agent_id"] for x in (c, d, e)]
    s.set_clock(T0 + 700 + 1023)
    eq(log_lines(s, r"has gone silent"), [], "not silent before the limit")
    poll(s, key, c2["agent_id"])  # the primary keeps polling
    s.set_clock(T0 + 700 + 1060)  # (dumperd looks for silent agents every 30 s)
    for ag_id in quiet:
        wait_log(s, r"agent %s of app shop \(environment production, host h\d, pid \d+\) has gone silent: last seen"
                 r" \d+ s ago" % ag_id)
    s.set_clock(T0 + 700 + 1100)
    time.sleep(1.2)  # (the serve loop's own passes run each second too)
    got = log_lines(s, r"has gone silent")
    for ag_id in quiet:
        eq(len([ln for ln in got if "agent %s " % ag_id in ln]), 1, "%s reported silent once" % ag_id)
    for x in (a, b):
        check(not [ln for ln in got if "agent %s " % x["agent_id"] in ln], "a stopped agent is never reported silent")
    check(not [ln for ln in got if "agent %s " % c2["agent_id"] in ln], "a polling agent is not silent")
    poll(s, key, c["agent_id"])  # back: reported again when it goes silent again
    s.set_clock(T0 + 700 + 1100 + 1024)
    wait_log(s, r"agent %s of app shop .* has gone silent" % c["agent_id"], n=2)

    # Refused keys: logged at most once a minute, with the client and endpoint, never the key.
    bad = "dk_" + "0" * 64
    for _ in range(3):
        s.err(401, "unauthorized", "POST", "/api/v1/agents/register", {"hostname": "h", "pid": 1,
                                                                      "environment": "production",
                                                                      "databases": []}, bad)
    s.err(401, "unauthorized", "POST", "/api/v1/agents/release", {"agent_id": a["agent_id"]}, bad)
    first = wait_log(s, r"refused an app key")
    eq(len(first), 1, "refused keys within a minute: one line")
    check("from 127.0.0.1 on /api/v1/agents/register" in first[0], "client and endpoint named: %r" % first[0])
    s.set_clock(T0 + 700 + 1100 + 1024 + 61)
    s.err(401, "unauthorized", "POST", "/api/v1/agents/poll", {"agent_id": a["agent_id"]}, bad)
    lines = wait_log(s, r"refused an app key", n=2)
    check("and 3 more refused in the minute before" in lines[1], "the count of suppressed lines: %r" % lines[1])
    with open(s.log) as f:
        check(bad not in f.read() and key not in open(s.log).read(), "an app key in dumperd's log")

    # backup now in an environment without databases names those with databases.
    key2 = env.app("blog")
    register(s, key2, "h1", 11, env="staging")
    p = env.admin("backup", "now", "blog", ok=False)
    eq(p.returncode, 5, "backup now without databases in production")
    eq(p.stderr.strip(), "dumperd: no database is known in environment 'production'; environments with databases:"
       " staging (use --env)", "backup now's message")

    # On the wall clock: alive, then stopped after its release.
    s.stop()
    s2 = env.serve("--threads", "2")
    k = register(s2, key, "w1", 40)
    eq(agents(env)[k["agent_id"]]["alive"], True, "a registered agent is alive (wall clock)")
    s2.ok("POST", "/api/v1/agents/release", {"agent_id": k["agent_id"]}, key)
    eq(agents(env)[k["agent_id"]]["alive"], False, "a released agent is not (wall clock)")


main(test)
