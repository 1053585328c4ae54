"""ops_test.py - dumperd's operational commands against running servers, on SQLite or PostgreSQL
(DUMPERD_TEST_STORE): app key rotation (admin command and dashboard API; the old key refused at once on
every server thread, the new key taking over the same agents), app delete (refused while the app has
backups, exit 6; --delete-backups removes catalog, files, manifests, parts, agents, schedules, jobs,
databases and alerts, and nothing of another app), and --listen over IPv6 ([::1], [::] dual stack) with
the loopback rule of /metrics. Standard library only."""
import http.client
import json
import os
import re
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "site"))
from harness import DUMPERD, Fail, check, eq, main, poll, register, run_backup  # noqa: E402
from site_test import Browserless  # noqa: E402

A = "/api/v1"
PASSWORD = "correct horse battery staple"


def sql(env, query):
    """Rows of a query on the test's state store (sqlite3 or psql), as lists of strings."""
    if env.store_kind == "pg":
        psql = os.path.join(os.environ.get("DUMPER_TEST_PG_BIN", ""), "psql")
        if not os.path.exists(psql):
            psql = "psql"
        out = subprocess.run([psql, "-h", "127.0.0.1", "-p", os.environ["DUMPER_TEST_PG_PORT"], "-U", "postgres",
                              "-d", env.pgdb, "-AtF", "|", "-c", query], env=env.env, capture_output=True,
                             text=True, check=True).stdout
    else:
        import sqlite3
        c = sqlite3.connect(os.path.join(env.data, "dumperd.db"))
        out = "\n".join("|".join("" if v is None else str(v) for v in row) for row in c.execute(query))
        c.close()
    return [line.split("|") for line in out.splitlines() if line]


def count(env, table, app_id):
    return int(sql(env, "SELECT COUNT(*) FROM %s WHERE app_id = %d" % (table, app_id))[0][0])


def app_id(env, name):
    rows = sql(env, "SELECT id FROM apps WHERE name = '%s'" % name)
    return int(rows[0][0]) if rows else None


def good_backup(env, s, key, agent, app, data):
    env.admin("backup", "now", app)
    job = poll(s, key, agent)["job"]
    check(job, "a job for %s" % app)
    run_backup(s, key, agent, job["job_id"], data=data)
    return [b for b in json.loads(env.admin("backups", app, "--json").stdout) if b["status"] == "good"]


def refused(s, key, agent, n=24):
    """Every one of n requests (spread over the server's threads by fresh connections) is 401."""
    for i in range(n):
        path, body = [(A + "/agents/poll", {"agent_id": agent}),
                      (A + "/agents/register", {"hostname": "h", "pid": 1, "environment": "production",
                                                "databases": []}),
                      (A + "/backups", None)][i % 3]
        s.err(401, "unauthorized", "POST" if body is not None else "GET", path, body, key)


def test_rotate(env, s):
    key1 = env.app("shop")
    a1 = register(s, key1, host="h1")["agent_id"]
    a2 = register(s, key1, host="h2")["agent_id"]
    for _ in range(24):  # a key verified on every thread: nothing may remember it after the rotation
        poll(s, key1, a1)
    p = env.admin("app", "rotate-key", "shop")
    key2 = p.stdout.strip()
    check(re.fullmatch(r"dk_[0-9a-f]{64}", key2) and key2 != key1, "rotated key: %r" % key2)
    check("shown only this once" in p.stderr and "old key is refused" in p.stderr, "rotate note: " + p.stderr)
    eq(len(p.stderr.strip().splitlines()), 1, "rotate-key says one line")
    refused(s, key1, a1)
    # the same agents carry on with the new key; the secondary stays secondary
    eq(poll(s, key2, a1)["role"], "primary", "primary with the new key")
    eq(poll(s, key2, a2)["role"], "secondary", "secondary with the new key")
    rows = sql(env, "SELECT key_hash FROM apps WHERE name = 'shop'")
    import hashlib
    eq(rows[0][0], hashlib.sha256(key2.encode()).hexdigest(), "the store holds the new key's SHA-256 only")
    p = env.admin("app", "rotate-key", "nope", ok=False)
    eq(p.returncode, 5, "rotate-key of an unknown app")
    check("no app named 'nope'" in p.stderr and p.stdout == "", "unknown app: " + p.stderr)
    p = env.admin("app", "rotate-key", ok=False)
    eq(p.returncode, 2, "rotate-key without a name")

    # the dashboard: POST with the session's CSRF token, the key in the answer once
    r = subprocess.run([DUMPERD, "user", "create", "admin"], input=PASSWORD + "\n", env=env.env,
                       capture_output=True, text=True)
    eq(r.returncode, 0, "user create: " + r.stderr)
    b = Browserless(s.port)
    eq(b.login("admin", PASSWORD)[0], 200, "login")
    sid = app_id(env, "shop")
    st, j, _ = b.post("/ui/apps/%d/key" % sid, {}, csrf=False)
    eq((st, j.get("error")), (403, "forbidden"), "rotate without CSRF")
    st, j, _ = b.req("POST", "/ui/apps/%d/key" % sid, {}, headers={"X-CSRF-Token": b.csrf, "Content-Type": "text/plain"})
    eq(st, 415, "rotate without a JSON body")
    st, j, _ = Browserless(s.port).post("/ui/apps/%d/key" % sid, {})
    eq(st, 401, "rotate without a session")
    refused(s, key1, a1, 3)
    poll(s, key2, a1)  # unchanged by the refused attempts
    st, j, _ = b.post("/ui/apps/%d/key" % sid, {})
    eq(st, 200, "rotate through the dashboard: %r" % (j,))
    key3 = j["key"]
    check(re.fullmatch(r"dk_[0-9a-f]{64}", key3) and key3 not in (key1, key2), "dashboard key: %r" % key3)
    eq((j["name"], j["id"]), ("shop", sid), "rotate answer names the app")
    refused(s, key2, a1)
    eq(poll(s, key3, a1)["role"], "primary", "poll with the dashboard's key")
    st, j, _ = b.post("/ui/apps/999999/key", {})
    eq(st, 404, "rotate an unknown app")
    st, j, _ = b.req("GET", "/ui/apps/%d" % sid)
    check(st == 200 and key3 not in json.dumps(j), "the app page does not show the key again")
    return key3, a1


def test_delete(env, s, shop_key, shop_agent):
    storage = os.path.join(env.data, "backups")
    good_backup(env, s, shop_key, shop_agent, "shop", b"shop data\n")
    shop_files = sorted(os.listdir(storage))
    shop_id = app_id(env, "shop")
    shop_rows = {t: count(env, t, shop_id) for t in ("agents", "dbs", "backups", "jobs", "primaries")}

    key = env.app("blog")
    bid = app_id(env, "blog")
    a1 = register(s, key, host="b1")["agent_id"]
    register(s, key, host="b2")
    goods = good_backup(env, s, key, a1, "blog", b"blog data one\n")
    goods = good_backup(env, s, key, a1, "blog", b"blog data two\n")
    eq(len(goods), 2, "two good backups of blog")
    names = [g["file_name"] for g in goods]
    for n in names:
        check(os.path.exists(os.path.join(storage, n)) and os.path.exists(os.path.join(storage, n + ".json")),
              "backup and manifest stored: " + n)
    env.admin("schedule", "set", "blog", "--cron", "0 3 * * *")
    env.admin("backup", "now", "blog")  # a pending job
    # a running backup with a part uploaded
    env.admin("backup", "now", "blog")
    job = poll(s, key, a1)["job"]
    prep = s.ok("POST", A + "/backups/prepare", {"agent_id": a1, "job_id": job["job_id"], "format": "sql",
                                                 "compression": "none"}, key)
    s.ok("PUT", A + "/backups/%s/parts/1" % prep["backup_id"], key=key, raw=b"partial")
    parts = os.path.join(env.data, "parts", "b_" + prep["backup_id"][2:])
    check(os.path.exists(os.path.join(parts, "1")), "the part is stored")
    # an alert row for one of the app's backups (as server/domain/alert_rules.c names them)
    sql(env, "INSERT INTO alerts (kind, ref, payload, created_at, next_try) VALUES ('backup_failed', 'b_%s', '{}', 1, 1)"
        % goods[0]["backup_id"][2:])
    for t in ("agents", "dbs", "schedules", "jobs", "backups", "primaries"):
        check(count(env, t, bid) > 0, "blog has %s before the delete" % t)

    p = env.admin("app", "delete", "blog", ok=False)
    eq(p.returncode, 6, "delete refused while the app has backups")
    eq(p.stderr.strip(), "dumperd: app 'blog' not deleted: the app has 3 backup(s); to delete them with it:"
       " dumperd app delete blog --delete-backups", "refusal line")
    eq(app_id(env, "blog"), bid, "the app is still there")
    poll(s, key, a1)
    for n in names:
        check(os.path.exists(os.path.join(storage, n)), "nothing removed on refusal")
    p = env.admin("app", "delete", "nope", "--delete-backups", ok=False)
    eq(p.returncode, 5, "delete of an unknown app")

    # another storage than serve's: the files are not found there, nothing is deleted
    elsewhere = os.path.join(env.dir, "elsewhere")
    os.mkdir(elsewhere)
    p = env.admin("app", "delete", "blog", "--delete-backups", "--storage", elsewhere, ok=False)
    eq(p.returncode, 5, "delete with the wrong --storage")
    check(p.stderr.startswith("dumperd: backup 'blog-production-main-") and "is not in storage '%s'; nothing deleted"
          % elsewhere in p.stderr and len(p.stderr.strip().splitlines()) == 1, "wrong storage line: " + p.stderr)
    eq(app_id(env, "blog"), bid, "the app is still there")
    eq(count(env, "backups", bid), 3, "blog's catalog is kept")

    p = env.admin("app", "delete", "blog", "--delete-backups")
    eq(p.stderr.strip(), "app 'blog' deleted with its agents, databases, schedules, jobs and catalog;"
       " 2 backup(s) removed from storage", "delete message")
    eq(app_id(env, "blog"), None, "the app row is gone")
    for t in ("agents", "dbs", "schedules", "jobs", "backups", "primaries"):
        eq(count(env, t, bid), 0, "blog's %s after the delete" % t)
    eq(sql(env, "SELECT COUNT(*) FROM alerts WHERE ref = 'b_%s'" % goods[0]["backup_id"][2:]), [["0"]],
       "the app's alerts")
    for n in names:
        check(not os.path.exists(os.path.join(storage, n)) and not os.path.exists(os.path.join(storage, n + ".json")),
              "backup and manifest removed: " + n)
    check(not os.path.exists(parts), "the running backup's parts are removed")
    refused(s, key, a1)
    s.err(401, "unauthorized", "PUT", A + "/backups/%s/parts/2" % prep["backup_id"], key=key, raw=b"more")
    # the other app is untouched
    eq(sorted(os.listdir(storage)), shop_files, "shop's files")
    eq({t: count(env, t, shop_id) for t in shop_rows}, shop_rows, "shop's rows")
    poll(s, shop_key, shop_agent)
    eq([a["name"] for a in json.loads(env.admin("app", "list", "--json").stdout)], ["shop"], "app list")

    # without backups no flag is needed; the name can be used again
    key = env.app("blog")
    register(s, key)
    eq(json.loads(env.admin("agents", "blog", "--json").stdout)[0]["hostname"], "h", "new blog's agent")
    p = env.admin("app", "delete", "blog")
    eq(p.stderr.strip(), "app 'blog' deleted with its agents, databases, schedules, jobs and catalog",
       "delete without backups")
    refused(s, key, "a_1", 3)


def have_ipv6_loopback():
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as t:
            t.bind(("::1", 0))
        return True
    except OSError:
        return False


def other_ipv4():
    """A local non-loopback IPv4 address (to be a non-loopback client), or None."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            u.connect(("192.0.2.1", 9))
            a = u.getsockname()[0]
        return None if a.startswith("127.") else a
    except OSError:
        return None


def serve6(env, listen, name):
    log = os.path.join(env.dir, name + ".log")
    proc = subprocess.Popen([DUMPERD, "serve", "--listen", listen], env=env.env, stdin=subprocess.DEVNULL,
                            stdout=open(log, "w"), stderr=subprocess.STDOUT)
    end = time.time() + 20
    while time.time() < end:
        m = re.search(r"listening on http://(\S+):(\d+) ", open(log).read())
        if m:
            return proc, m.group(1), int(m.group(2)), log
        check(proc.poll() is None, "dumperd --listen %s exited: %s" % (listen, open(log).read()))
        time.sleep(0.05)
    proc.kill()
    raise Fail("dumperd --listen %s did not start" % listen)


def get(host, port, path, key=None, body=None, source=None):
    """(status, body bytes) of one request to host (IPv4 or IPv6 literal), from source if given."""
    c = http.client.HTTPConnection(host, port, timeout=10, source_address=(source, 0) if source else None)
    h = {"X-Dumper-Api": "1"}
    if key:
        h["Authorization"] = "Bearer " + key
    if body is not None:
        h["Content-Type"] = "application/json"
    c.request("POST" if body is not None else "GET", path, json.dumps(body).encode() if body is not None else None, h)
    r = c.getresponse()
    out = r.status, r.read()
    c.close()
    return out


def test_ipv6(env):
    for bad, msg in [("::1:8477", "goes in brackets"), ("[::1]8477", "expects [IPv6]:PORT"),
                     ("[::1", "expects [IPv6]:PORT"), ("[localhost]:0", "not an IPv6 address"),
                     ("[]:0", "expects HOST:PORT"), ("[::1]:x", "invalid port")]:
        p = env.admin("serve", "--listen", bad, ok=False)
        eq(p.returncode, 2, "--listen %s" % bad)
        check(msg in p.stderr and len(p.stderr.strip().splitlines()) == 1, "--listen %s: %s" % (bad, p.stderr))
    if not have_ipv6_loopback():
        print("note: no IPv6 loopback on this machine: the IPv6 listen tests are skipped", file=sys.stderr)
        return
    key = env.app("six")
    proc, host, port, log = serve6(env, "[::1]:0", "six")
    try:
        eq(host, "[::1]", "listen line host")
        st, body = get("::1", port, A + "/agents/register", key, {"hostname": "v6", "pid": 1,
                                                              "environment": "production", "databases": []})
        check(st == 200 and json.loads(body)["role"] == "primary", "register over ::1: %d %r" % (st, body))
        agent = json.loads(body)["agent_id"]
        st, body = get("::1", port, "/metrics")
        check(st == 200 and b"dumper_agent_registrations_total 1" in body, "metrics from ::1: %d %r" % (st, body[:200]))
        try:
            get("127.0.0.1", port, "/metrics")
            raise Fail("[::1] also answered on 127.0.0.1")
        except ConnectionRefusedError:
            pass
    finally:
        proc.terminate()
        eq(proc.wait(30), 0, "exit on SIGTERM")
    proc, host, port, log = serve6(env, "[::]:0", "any")
    try:
        eq(host, "[::]", "listen line host")
        st, _ = get("::1", port, "/metrics")
        eq(st, 200, "metrics from ::1 on [::]")
        st, _ = get("127.0.0.1", port, "/metrics")  # dual stack: the client is ::ffff:127.0.0.1
        eq(st, 200, "metrics from 127.0.0.1 (mapped) on [::]")
        st, body = get("127.0.0.1", port, A + "/agents/poll", key, {"agent_id": agent})
        eq(st, 200, "poll over IPv4 on [::]: %r" % body)
        other = other_ipv4()
        if other:
            st, body = get(other, port, "/metrics", source=other)
            eq(st, 401, "metrics from a non-loopback client (%s, mapped)" % other)
        else:
            print("note: no non-loopback IPv4 address: that /metrics refusal is not tested here", file=sys.stderr)
    finally:
        proc.terminate()
        eq(proc.wait(30), 0, "exit on SIGTERM")


def test_prune(env):
    """Every process start registers a new agent: a registration forgets the app's agents not seen
    for a week, never the primary; a forgotten agent gets 404 on its poll (and registers again)."""
    T0 = 1800000000
    s = env.serve(clock=T0)
    key = env.app("prunes")
    s.any_key = key  # the test clock endpoint takes any valid app key
    a1 = register(s, key, "old-1", 11)["agent_id"]
    a2 = register(s, key, "old-2", 12)["agent_id"]
    s.set_clock(T0 + 6 * 86400)
    a3 = register(s, key, "six-days", 13)["agent_id"]
    hosts = sorted(a["hostname"] for a in json.loads(env.admin("agents", "prunes", "--json").stdout))
    eq(hosts, ["old-1", "old-2", "six-days"], "agents seen within a week are kept")
    s.set_clock(T0 + 8 * 86400)
    a4 = register(s, key, "new-1", 14)
    eq(a4["role"], "primary", "the old primary's lease has lapsed")
    hosts = sorted(a["hostname"] for a in json.loads(env.admin("agents", "prunes", "--json").stdout))
    eq(hosts, ["new-1", "six-days"], "agents not seen for a week are forgotten")
    s.err(404, "not_found", "POST", A + "/agents/poll", {"agent_id": a2}, key)
    again = register(s, key, "old-2", 12)
    check(again["agent_id"] not in (a1, a2, a3), "a forgotten agent registers again with a new id")
    s.stop()


def test(env):
    s = env.serve()
    key, agent = test_rotate(env, s)
    test_delete(env, s, key, agent)
    test_ipv6(env)
    test_prune(env)
    s.stop()
    log = open(s.log).read()
    check("got a new key" in log, "the dashboard rotation is logged")
    check(not re.search(r"dk_[0-9a-f]{64}", log), "an app key in the server log")


if __name__ == "__main__":
    main(test)
