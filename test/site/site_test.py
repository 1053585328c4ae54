"""site_test.py - the Dumper site over real HTTP (no browser): users and password storage, login,
sessions (cookie flags, expiry, logout), CSRF, what is reachable without a session, app creation,
backup now / schedule / retention through /ui/, downloads (checksum, another app's backup, path
traversal), /metrics through a strict text-format parser (and its token), and webhook alerts for a
failed backup and a stale database (retried after a failing delivery, each stale condition once).
Standard library only; reuses test/dumperd/harness.py."""
import hashlib
import http.client
import json
import os
import re
import sqlite3
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "dumperd"))
sys.path.insert(0, os.path.dirname(__file__))
from harness import Fail, check, eq, main, poll, register, run_backup  # noqa: E402
import prom_strict_parser as prom  # noqa: E402

T0 = 1800000000  # 2027-01-15T08:00:00Z
PASSWORD = "correct horse battery staple"


class Hook:
    """A webhook receiver: answers the first delivery of each event with 500 (to exercise retries)."""

    def __init__(self):
        self.events, self.attempts = [], {}
        hook = self

        class H(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                try:
                    ev = json.loads(body)
                except ValueError:
                    ev = {"bad": body[:200]}
                k = (ev.get("event"), ev.get("backup_id") or ev.get("database"), ev.get("last_good_at"))
                hook.attempts[k] = hook.attempts.get(k, 0) + 1
                if hook.attempts[k] == 1:
                    self.send_response(500)
                    self.end_headers()
                    return
                hook.events.append(ev)
                self.send_response(204)
                self.end_headers()

            def log_message(self, *a):
                pass

        self.srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.port = self.srv.server_address[1]
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def wait(self, pred, what, timeout=30):
        end = time.time() + timeout
        while time.time() < end:
            got = [e for e in self.events if pred(e)]
            if got:
                return got
            time.sleep(0.1)
        raise Fail("webhook: timed out waiting for %s; got %r" % (what, self.events))


class Browserless:
    """A cookie-holding client for the site."""

    def __init__(self, port):
        self.port, self.cookie, self.csrf = port, None, None

    def req(self, method, path, body=None, headers=None, raw=None, cookie=True):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        h = dict(headers or {})
        if cookie and self.cookie:
            h["Cookie"] = "dumper_session=" + self.cookie
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        if data is not None and "Content-Type" not in h:
            h["Content-Type"] = "application/json"
        c.request(method, path, body=data, headers=h)
        r = c.getresponse()
        payload = r.read()
        hdrs = {k.lower(): v for k, v in r.getheaders()}
        c.close()
        j = None
        if hdrs.get("content-type", "").startswith("application/json"):
            j = json.loads(payload)
        return r.status, j if j is not None else payload, hdrs

    def post(self, path, body, csrf=True, **kw):
        h = kw.pop("headers", {})
        if csrf and self.csrf:
            h["X-CSRF-Token"] = self.csrf
        return self.req("POST", path, body, headers=h, **kw)

    def login(self, user, password):
        st, j, h = self.req("POST", "/ui/login", {"user": user, "password": password}, cookie=False)
        if st == 200:
            m = re.match(r"dumper_session=([0-9a-f]{64});", h.get("set-cookie", ""))
            check(m, "session cookie: %r" % h.get("set-cookie"))
            self.cookie, self.csrf = m.group(1), j["csrf"]
        return st, j, h


def expect(got, status, what, code=None):
    st, j, h = got
    if st != status or (code and (not isinstance(j, dict) or j.get("error") != code)):
        raise Fail("%s: expected %d %s, got %d %r" % (what, status, code or "", st, j if isinstance(j, dict) else j[:200]))
    return j


def test_parser():
    """The parser refuses what it should (so a pass below means something)."""
    good = '# HELP a_total x\n# TYPE a_total counter\na_total{x="1"} 3\n# TYPE s summary\ns_sum 1\ns_count 2\n'
    fams = prom.parse(good)
    eq(prom.value(fams, "a_total", x="1"), 3.0, "parser: value")
    bad = ["a 1",                                             # no final newline
           "a{x=\"1} 1\n", "a{x=\"\\q\"} 1\n", "1a 1\n", "a 1 2 3\n", "a one\n",
           "# TYPE a counter\n# TYPE a counter\n", "a 1\n# TYPE a gauge\n", "a 1\nb 1\na{x=\"2\"} 1\n",
           "a 1\na 2\n", "# TYPE a counter\na -1\n", "a{x=\"1\",x=\"2\"} 1\n",
           "# TYPE a summary\na 1\n", "# TYPE a wrong\n"]
    for b in bad:
        try:
            prom.parse(b)
        except ValueError:
            continue
        raise Fail("strict parser accepted %r" % b)


def test(env):
    import subprocess
    test_parser()
    # --- users: password from stdin, slow salted hash, never the password itself ---
    p = env.admin("user", "create", "admin", ok=False)  # stdin is empty: no password
    check(p.returncode == 2, "user create without a password: exit %d" % p.returncode)
    from harness import DUMPERD
    r = subprocess.run([DUMPERD, "user", "create", "admin"], input="short\n", env=env.env, capture_output=True,
                       text=True)
    eq(r.returncode, 2, "too short a password")
    r = subprocess.run([DUMPERD, "user", "create", "admin"], input=PASSWORD + "\n", env=env.env,
                       capture_output=True, text=True)
    eq(r.returncode, 0, "user create: " + r.stderr)
    r = subprocess.run([DUMPERD, "user", "create", "admin"], input=PASSWORD + "\n", env=env.env,
                       capture_output=True, text=True)
    eq(r.returncode, 6, "user create twice")
    if env.store_kind == "sqlite":
        db = sqlite3.connect(os.path.join(env.data, "dumperd.db"))
        (stored,) = db.execute("SELECT pw_hash FROM users WHERE name = 'admin'").fetchone()
        db.close()
    else:
        psql = os.path.join(os.environ["DUMPER_TEST_PG_BIN"], "psql")
        stored = subprocess.run([psql if os.path.exists(psql) else "psql", "-h", "127.0.0.1", "-p",
                                 os.environ["DUMPER_TEST_PG_PORT"], "-U", "postgres", "-d", env.pgdb, "-Atc",
                                 "SELECT pw_hash FROM users WHERE name = 'admin'"], env=env.env, capture_output=True,
                                text=True).stdout.strip()
    check(re.fullmatch(r"pbkdf2-sha256\$600000\$[0-9a-f]{32}\$[0-9a-f]{64}", stored), "stored hash: %r" % stored)
    check(PASSWORD not in stored, "password stored in clear")

    shop_key = env.app("shop")
    other_key = env.app("other")
    hook = Hook()
    s = env.serve("--primary-interval", "60", "--lease", "120", "--session-ttl", "3",
                  "--alert-webhook", "http://127.0.0.1:%d/hook" % hook.port, "--stale-after", "0.01",
                  "--alert-check", "0.3", clock=T0)
    s.any_key = shop_key
    b = Browserless(s.port)

    # --- nothing without a session but the login page, its assets and the agent API ---
    st, _, h = b.req("GET", "/")
    check(st == 303 and h.get("location") == "/login.html", "GET / without a session: %d %r" % (st, h))
    for path in ("/index.html", "/app.js", "/chart.js"):
        st, body, h = b.req("GET", path)
        check(st == 303 and b"dumper" not in body.lower(), "%s without a session: %d" % (path, st))
    for path in ("/login.html", "/login.js", "/style.css", "/favicon.svg"):
        st, body, h = b.req("GET", path)
        check(st == 200 and len(body) > 50, "%s: %d" % (path, st))
        check("default-src 'self'" in h.get("content-security-policy", ""), "CSP on " + path)
        eq(h.get("x-frame-options"), "DENY", "X-Frame-Options on " + path)
    for path in ("/ui/me", "/ui/apps", "/ui/apps/1", "/ui/apps/1/backups/b_1/download", "/ui/apps/1/backups/b_1/manifest",
                 "/ui/cron?expr=*+*+*+*+*"):
        expect(b.req("GET", path), 401, path + " without a session", "unauthorized")
    expect(b.post("/ui/apps", {"name": "x"}), 401, "create app without a session", "unauthorized")
    expect(b.req("GET", "/server/site.c"), 404, "source files are not served", "not_found")
    expect(b.req("GET", "/../../etc/passwd"), 404, "traversal in a static path", "not_found")

    # --- login ---
    st, j, h = b.login("admin", "wrong password")
    check(st == 401 and "set-cookie" not in h and j["error"] == "unauthorized", "wrong password: %d %r" % (st, j))
    msg_wrong = j["message"]
    st, j, h = b.login("nobody", PASSWORD)
    check(st == 401 and "set-cookie" not in h, "unknown user: %d" % st)
    eq(j["message"], msg_wrong, "unknown user and wrong password look the same")
    expect(b.req("GET", "/ui/login"), 405, "GET /ui/login", "method_not_allowed")
    expect(b.req("POST", "/ui/login", raw=b"user=admin&password=x",
                 headers={"Content-Type": "application/x-www-form-urlencoded"}), 415, "form-encoded login")
    # throttling: 10 failures per client and user within a minute, then 429 before any password work
    for i in range(10):
        eq(b.login("victim", "guess %d" % i)[0], 401, "failed login %d" % i)
    st, j, h = b.login("victim", "guess 10")
    check(st == 429 and j["error"] == "too_many_requests" and "set-cookie" not in h, "11th failure: %d %r" % (st, j))
    st, j, h = b.login("admin", PASSWORD)
    eq(st, 200, "login")
    ck = h["set-cookie"]
    for flag in ("HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=3"):
        check(flag in ck, "cookie flag %s: %r" % (flag, ck))
    check("Secure" not in ck, "no Secure flag on plain HTTP")
    eq(expect(b.req("GET", "/ui/me"), 200, "me")["user"], "admin", "me")
    st, body, _ = b.req("GET", "/")
    check(st == 200 and b"app.js" in body, "index with a session")

    # --- CSRF ---
    expect(b.post("/ui/apps", {"name": "x"}, csrf=False), 403, "create app without CSRF token", "forbidden")
    expect(b.post("/ui/apps", {"name": "x"}, headers={"X-CSRF-Token": "0" * 64}, csrf=False), 403,
           "create app with a wrong CSRF token", "forbidden")
    expect(b.post("/ui/apps", None, raw=b"name=x", headers={"Content-Type": "text/plain"}), 415, "text/plain POST")
    expect(b.post("/ui/logout", {}, csrf=False), 403, "logout without CSRF token", "forbidden")
    st, j, _ = b.req("GET", "/ui/apps")
    check(st == 200 and "x" not in [a["name"] for a in j["apps"]], "nothing was created without CSRF")

    # --- apps ---
    expect(b.post("/ui/apps", {"name": "bad name/.."}), 400, "bad app name", "invalid_request")
    expect(b.post("/ui/apps", {"name": "shop"}), 409, "duplicate app", "conflict")
    j = expect(b.post("/ui/apps", {"name": "blog"}), 200, "create app")
    check(re.fullmatch(r"dk_[0-9a-f]{64}", j["key"]), "new key: %r" % j)
    blog_key = j["key"]
    register(s, blog_key, "blog-1", 7)  # the key works on the agent API
    apps = {a["name"]: a for a in expect(b.req("GET", "/ui/apps"), 200, "apps")["apps"]}
    eq(sorted(apps), ["blog", "other", "shop"], "apps list")
    eq(apps["blog"]["agents"], 1, "blog's agent")
    shop, other = apps["shop"]["id"], apps["other"]["id"]
    detail = expect(b.req("GET", "/ui/apps/%d" % apps["blog"]["id"]), 200, "blog detail")
    check(blog_key not in json.dumps(detail), "the key is shown only once")

    # --- agents, backup now, a good and a failed backup ---
    r1 = register(s, shop_key, "web-1", 4242, dbs=[{"key": "main", "type": "sqlite", "name": "app.db"}])
    ro = register(s, other_key, "o-1", 9, dbs=[{"key": "main", "type": "sqlite", "name": "o.db"}])
    j = expect(b.post("/ui/apps/%d/backup" % shop, {"environment": "production"}), 200, "backup now")
    eq(j["queued"], 1, "backup now queued")
    expect(b.post("/ui/apps/%d/backup" % shop, {"database": "nope"}), 404, "backup now of an unknown database")
    job = poll(s, shop_key, r1["agent_id"])["job"]
    check(job and job["reason"] == "manual", "manual job: %r" % job)
    data = os.urandom(3000) + b"the backup"
    run_backup(s, shop_key, r1["agent_id"], job["job_id"], data=data, parts=2)
    expect(b.post("/ui/apps/%d/backup" % other, {}), 200, "backup now (other)")
    jo = poll(s, other_key, ro["agent_id"])["job"]
    po = s.ok("POST", "/api/v1/backups/prepare", {"agent_id": ro["agent_id"], "job_id": jo["job_id"],
                                                 "format": "sql", "compression": "none"}, other_key)
    s.ok("POST", "/api/v1/backups/%s/fail" % po["backup_id"], {"code": "source", "message": "disk full"}, other_key)

    d = expect(b.req("GET", "/ui/apps/%d" % shop), 200, "shop detail")
    eq([(a["hostname"], a["pid"], a["role"], a["dispatcher"]) for a in d["agents"]], [("web-1", 4242, "primary", "test")],
       "agents")
    eq([(x["key"], x["type"]) for x in d["databases"]], [("main", "sqlite")], "databases")
    good = [x for x in d["backups"] if x["status"] == "good"]
    eq(len(good), 1, "one good backup")
    g = good[0]
    eq((g["size"], g["sha256"]), (len(data), hashlib.sha256(data).hexdigest()), "size and checksum")
    check(d["storage_location"].startswith("/"), "storage location is absolute")
    do = expect(b.req("GET", "/ui/apps/%d" % other), 200, "other detail")
    f = [x for x in do["backups"] if x["status"] == "failed"]
    check(f and f[0]["error_message"] == "disk full", "failed backup with its message: %r" % do["backups"])

    # --- downloads ---
    st, body, h = b.req("GET", "/ui/apps/%d/backups/%s/download" % (shop, g["backup_id"]))
    eq(st, 200, "download")
    eq(hashlib.sha256(body).hexdigest(), g["sha256"], "downloaded bytes' checksum")
    eq(h.get("x-dumper-sha256"), g["sha256"], "checksum header")
    st, man, h = b.req("GET", "/ui/apps/%d/backups/%s/manifest" % (shop, g["backup_id"]))
    eq(st, 200, "manifest")
    eq((man["sha256"], man["name"]), (g["sha256"], g["file_name"]), "the manifest of the download")
    for path in ["/ui/apps/%d/backups/%s/manifest" % (other, g["backup_id"]),
                 "/ui/apps/%d/backups/%s/manifest" % (other, f[0]["backup_id"]),
                 "/ui/apps/%d/backups/b_999/manifest" % shop]:
        st, body, h = b.req("GET", path)
        check(st in (404, 409) and isinstance(body, dict) and "sha256" not in body, "%s: %d %r" % (path, st, body))
    # the shop's backup through another app's URL, an unknown id, a failed backup, traversal: refused
    for path in ["/ui/apps/%d/backups/%s/download" % (other, g["backup_id"]),
                 "/ui/apps/%d/backups/b_999/download" % shop,
                 "/ui/apps/%d/backups/%s/download" % (other, f[0]["backup_id"]),
                 "/ui/apps/%d/backups/b_1/../../../../etc/passwd" % shop,
                 "/ui/apps/%d/backups/..%%2f..%%2fdumperd.db/download" % shop,
                 "/ui/apps/%d/backups/b_1%%2f..%%2f..%%2fdumperd.db/download" % shop,
                 "/ui/apps/%d/backups/%s/download/../../../dumperd.db" % (shop, g["backup_id"]),
                 "/ui/apps/999/backups/%s/download" % g["backup_id"],
                 "/ui/apps/-1/backups/%s/download" % g["backup_id"]]:
        st, body, h = b.req("GET", path)
        check(st in (404, 409) and isinstance(body, dict) and "content-disposition" not in h,
              "%s: %d %r" % (path, st, body))
        check("SQLite" not in json.dumps(body) and "root:" not in json.dumps(body), "leak in " + path)

    # --- destinations (issue 16): /ui/storage, the same services as `dumperd storage` ---
    b.login("admin", PASSWORD)  # (sessions last 3 s here)
    off = os.path.join(env.dir, "offsite")
    eq(expect(b.req("GET", "/ui/storage"), 200, "storage list")["storages"], [], "no destination yet")
    expect(b.post("/ui/storage", {"name": "off1", "location": off}, csrf=False), 403, "add storage without CSRF",
           "forbidden")
    expect(b.post("/ui/storage", {"name": "off1", "location": off},
                  headers={"X-CSRF-Token": "0" * 64}, csrf=False), 403, "add storage with a wrong CSRF token")
    check(not os.path.exists(off), "nothing was created without CSRF")
    for body, code, msg in [
            ({"location": off}, 400, "fields: name and location (strings); endpoint, region, addressing,"
                                     " credentials_file, object_lock_mode (strings or null)"),
            ({"name": "off1", "location": 5}, 400, None),
            ({"name": "a/b", "location": off}, 400, "invalid storage name 'a/b' (1-64 of A-Z a-z 0-9 _ . -)"),
            ({"name": "off1", "location": "relative/dir"}, 400,
             "storage location 'relative/dir' must be an absolute directory or s3://bucket/prefix"),
            ({"name": "off1", "location": off, "keep_last": -1}, 400, "keep_last must be an integer from 0 to 100000"),
            ({"name": "off1", "location": off, "daily": 100001}, 400, "daily must be an integer from 0 to 100000"),
            ({"name": "off1", "location": off, "monthly": "3"}, 400, "monthly must be an integer from 0 to 100000"),
            ({"name": "off1", "location": off, "addressing": "sideways"}, 400, "addressing must be auto, path or virtual"),
            ({"name": "off1", "location": off, "object_lock_days": 36501}, 400,
             "object_lock_days must be an integer from 1 to 36500"),
            ({"name": "off1", "location": off, "credentials_file": "/etc/passwd"}, 400,
             "--endpoint, --region, --path-style, --virtual-host, --credentials-file and --object-lock-mode are for"
             " s3:// locations"),
            ({"name": "s3x", "location": "s3://bkt/p", "object_lock_mode": "forever", "object_lock_days": 3}, 400,
             "invalid --object-lock-mode 'forever' (governance or compliance)"),
            ({"name": "s3x", "location": "s3://bkt/p", "endpoint": "http://127.0.0.1:9",
              "credentials_file": os.path.join(env.dir, "no-such-file")}, 502,
             "storage 's3x': unable to read the credentials file '%s'" % os.path.join(env.dir, "no-such-file")),
            ({"name": "dup", "location": d["storage_location"]}, 409,
             "'%s' is the first destination already (--storage)" % d["storage_location"])]:
        st, j, _ = b.post("/ui/storage", body)
        check(st == code and (msg is None or j.get("message") == msg) and "\n" not in j.get("message", ""),
              "refused storage %r: %d %r" % (body, st, j))
    check(not os.path.exists(off), "nothing was created by a refused add")
    j = expect(b.post("/ui/storage", {"name": "off1", "location": off, "keep_last": 3, "monthly": 12,
                                      "addressing": None, "endpoint": ""}), 200, "add storage")
    eq(j, {"name": "off1"}, "add answer")
    check(os.path.isdir(off), "the destination directory was created")
    expect(b.post("/ui/storage", {"name": "off1", "location": off + "2"}), 409, "duplicate storage name", "conflict")
    lst = expect(b.req("GET", "/ui/storage"), 200, "storage list")
    eq(lst["first"], d["storage_location"], "the first destination (--storage)")
    eq([(x["name"], x["location"], x["kind"], x["credentials"], x["retention"], x["object_lock"]) for x in lst["storages"]],
       [("off1", off, "local", "environment", {"keep_last": 3, "daily": 0, "weekly": 0, "monthly": 12}, None)],
       "the destination as listed")
    eq(json.loads(env.admin("storage", "list", "--json").stdout), lst["storages"], "the CLI lists the same")
    # an app's copies: the good backup, copied by `storage sync` (or by serve's copier first)
    env.admin("storage", "sync", "off1")
    cps = expect(b.req("GET", "/ui/storage/copies/%d" % shop), 200, "shop's copies")["copies"]
    eq([(x["backup_id"], x["storage"], x["state"]) for x in cps], [(g["backup_id"], "off1", "good")], "shop's copies")
    eq(expect(b.req("GET", "/ui/storage/copies/%d" % other), 200, "other's copies")["copies"], [], "other's copies")
    expect(b.req("GET", "/ui/storage/copies/999"), 404, "copies of an unknown app", "not_found")
    expect(b.req("GET", "/ui/storage/off1/delete"), 404, "GET delete", "not_found")
    expect(b.post("/ui/storage/off1/delete", {}, csrf=False), 403, "remove storage without CSRF", "forbidden")
    expect(b.post("/ui/storage/nope/delete", {}), 404, "remove an unknown storage", "not_found")
    expect(b.post("/ui/storage/off1/delete", {}), 200, "remove storage")
    eq(expect(b.req("GET", "/ui/storage"), 200, "storage list")["storages"], [], "removed")
    check(os.listdir(off), "the copies stored there were left in place")

    # --- schedules and retention ---
    j = expect(b.req("GET", "/ui/cron?expr=30+2+*+*+*&tz=Europe/Paris"), 200, "cron preview")
    eq(j["next"][0], "2027-01-16T01:30:00Z", "next run of 02:30 Paris (test clock 2027-01-15T08:00Z)")
    eq(len(j["next"]), 5, "five next runs")
    expect(b.req("GET", "/ui/cron?expr=61+*+*+*+*"), 400, "bad cron preview", "invalid_request")
    expect(b.req("GET", "/ui/cron?expr=*+*+*+*+*&tz=Mars/Base"), 400, "bad zone preview", "invalid_request")
    expect(b.post("/ui/apps/%d/schedule" % shop, {"cron": "*/15 * * * *", "tz": "Europe/Paris"}), 200, "schedule")
    expect(b.post("/ui/apps/%d/schedule" % shop, {"cron": "* * *", "tz": "UTC"}), 400, "bad cron", "invalid_request")
    expect(b.post("/ui/apps/%d/schedule" % shop, {"cron": "* * * * *", "tz": "No/Where"}), 400, "bad tz")
    sch = expect(b.req("GET", "/ui/apps/%d" % shop), 200, "detail")["schedules"]
    check(len(sch) == 1 and sch[0]["cron"] == "*/15 * * * *" and sch[0]["tz"] == "Europe/Paris" and
          sch[0]["next"][0] == "2027-01-15T08:15:00Z", "schedule stored with next runs: %r" % sch)
    expect(b.post("/ui/apps/%d/retention" % shop, {"keep_last": 5, "daily": 7, "weekly": 4, "monthly": 0}), 200,
           "retention")
    expect(b.post("/ui/apps/%d/retention" % shop, {"keep_last": -1}), 400, "negative retention")
    expect(b.post("/ui/apps/%d/retention" % shop, {"keep_last": "5"}), 400, "string retention")
    eq(expect(b.req("GET", "/ui/apps/%d" % shop), 200, "detail")["app"]["retention"],
       {"keep_last": 5, "daily": 7, "weekly": 4, "monthly": 0}, "retention stored")

    # --- job policy (the Encryption card): public keys only, each bad member one 400 ---
    k1 = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"
    eq(expect(b.req("GET", "/ui/apps/%d" % shop), 200, "detail")["app"]["policy"],
       {"recipients": [], "nice": None, "ionice": None, "limit_rate": None}, "policy unset")
    eq(expect(b.post("/ui/apps/%d/policy" % shop, {"recipients": [k1], "limit_rate": "10M"}), 200, "policy"),
       {"recipients": [k1], "nice": None, "ionice": None, "limit_rate": 10485760}, "policy answer")
    expect(b.post("/ui/apps/%d/policy" % shop, {"recipients": ["AGE-SECRET-KEY-1" + "Q" * 58]}), 400,
           "a secret key as recipient", "invalid_request")
    expect(b.post("/ui/apps/%d/policy" % shop, {"recipients": [k1[:-1] + "q"]}), 400, "bit-flipped recipient")
    expect(b.post("/ui/apps/%d/policy" % shop, {"nice": 20}), 400, "nice 20")
    expect(b.post("/ui/apps/%d/policy" % shop, {"recipients": []}, csrf=False), 403, "policy without CSRF")
    eq(expect(b.req("GET", "/ui/apps/%d" % shop), 200, "detail")["app"]["policy"]["recipients"], [k1],
       "refused changes left the policy alone")
    expect(b.post("/ui/apps/%d/policy" % shop, {"recipients": None, "limit_rate": None}), 200, "policy cleared")

    # --- metrics ---
    st, body, h = b.req("GET", "/metrics", cookie=False)
    eq(st, 200, "metrics from loopback")
    check(h["content-type"].startswith("text/plain; version=0.0.4"), "metrics content type")
    fams = prom.parse(body.decode())
    for fam in ("dumper_backups", "dumper_last_good_backup_timestamp_seconds", "dumper_last_good_backup_size_bytes",
                "dumper_last_good_backup_duration_seconds", "dumper_backup_size_bytes",
                "dumper_backup_duration_seconds", "dumper_agents", "dumper_agent_polls_total", "dumper_job_lag_seconds",
                "dumper_jobs_pending"):
        check(fam in fams and fams[fam]["help"], "metric family %s" % fam)
    lab = dict(app="shop", environment="production", database="main")
    eq(prom.value(fams, "dumper_backups", status="good", **lab), 1.0, "good backups of shop")
    eq(prom.value(fams, "dumper_backups", app="other", environment="production", database="main", status="failed"),
       1.0, "failed backups of other")
    eq(prom.value(fams, "dumper_last_good_backup_timestamp_seconds", **lab), float(T0), "last good time (test clock)")
    eq(prom.value(fams, "dumper_last_good_backup_size_bytes", **lab), float(len(data)), "last good size")
    eq(prom.value(fams, "dumper_backup_size_bytes_count", app="shop"), 1.0, "size summary count")
    eq(prom.value(fams, "dumper_agents", app="shop", environment="production", role="primary"), 1.0, "primaries")
    check(prom.value(fams, "dumper_agent_polls_total") >= 2, "polls counted")
    eq(prom.value(fams, "dumper_jobs_pending", app="shop"), 0.0, "no pending job")

    # --- alerts: the failed backup (first delivery answered 500, then retried) ---
    ev = hook.wait(lambda e: e.get("event") == "backup_failed", "the failed backup alert")[0]
    eq((ev["app"], ev["database"], ev["backup_id"], ev["error_message"]), ("other", "main", po["backup_id"], "disk full"),
       "failed backup alert")
    check(hook.attempts[("backup_failed", po["backup_id"], None)] == 2, "delivered on the second attempt")
    # stale: 0.01 h = 36 s without a good backup, on the test clock
    s.set_clock(T0 + 30)
    time.sleep(1.2)
    check(not [e for e in hook.events if e.get("event") == "backup_stale"], "nothing is stale after 30 s")
    s.set_clock(T0 + 40)
    ev = hook.wait(lambda e: e.get("event") == "backup_stale" and e["app"] == "shop", "shop stale")[0]
    eq(ev["last_good_at"], "2027-01-15T08:00:00Z", "stale alert names the last good backup")
    hook.wait(lambda e: e.get("event") == "backup_stale" and e["app"] == "other", "other stale (never backed up)")
    # (each alert's first delivery is refused: blog's retry may come a moment after other's)
    hook.wait(lambda e: e.get("event") == "backup_stale" and e["app"] == "blog", "blog stale (never backed up)")
    time.sleep(2.5)  # several more passes: still once per condition
    check(not [e for e in hook.events if e.get("event") == "backup_stale_resolved"], "nothing resolved yet")
    stale = [(e["app"], e["database"], e["last_good_at"]) for e in hook.events if e.get("event") == "backup_stale"]
    eq(sorted(stale, key=str), sorted([("shop", "main", "2027-01-15T08:00:00Z"), ("other", "main", None),
                                       ("blog", "main", None)], key=str), "each stale database alerted once")
    # a new good backup resolves it; staleness after that one is a new condition
    b.login("admin", PASSWORD)  # (sessions last 3 s here)
    expect(b.post("/ui/apps/%d/backup" % shop, {}), 200, "backup now")
    job = poll(s, shop_key, r1["agent_id"])["job"]
    run_backup(s, shop_key, r1["agent_id"], job["job_id"], data=b"second", parts=1)
    ev = hook.wait(lambda e: e.get("event") == "backup_stale_resolved" and e["app"] == "shop", "shop resolved")[0]
    eq((ev["database"], ev["last_good_at"]), ("main", "2027-01-15T08:00:40Z"), "resolved by the newer backup")
    s.set_clock(T0 + 90)
    hook.wait(lambda e: e.get("event") == "backup_stale" and e["app"] == "shop" and
              e["last_good_at"] == "2027-01-15T08:00:40Z", "shop stale again after its newer backup")

    # --- logout, then the old cookie is dead ---
    b.login("admin", PASSWORD)
    old = b.cookie
    st, j, h = b.post("/ui/logout", {})
    check(st == 200 and "Max-Age=0" in h.get("set-cookie", ""), "logout clears the cookie")
    b.cookie = old
    expect(b.req("GET", "/ui/apps"), 401, "the logged-out session", "unauthorized")
    # --- expiry (--session-ttl 3) ---
    b.login("admin", PASSWORD)
    expect(b.req("GET", "/ui/apps"), 200, "fresh session")
    time.sleep(3.3)
    expect(b.req("GET", "/ui/apps"), 401, "expired session", "unauthorized")
    expect(b.post("/ui/apps", {"name": "late"}), 401, "expired session POST", "unauthorized")
    # a new password ends existing sessions
    b.login("admin", PASSWORD)
    r = subprocess.run([DUMPERD, "user", "passwd", "admin"], input=PASSWORD + "2\n", env=env.env,
                       capture_output=True, text=True)
    eq(r.returncode, 0, "user passwd")
    expect(b.req("GET", "/ui/apps"), 401, "session after a password change", "unauthorized")

    # --- the metrics token ---
    with tempfile.NamedTemporaryFile("w", dir=env.dir, delete=False) as tf:
        tf.write("metrics-token-0123456789\n")
    s2 = env.serve("--metrics-token-file", tf.name)
    b2 = Browserless(s2.port)
    expect(b2.req("GET", "/metrics"), 401, "metrics without the token", "unauthorized")
    expect(b2.req("GET", "/metrics", headers={"Authorization": "Bearer metrics-token-012345678X"}), 401, "wrong token")
    st, body, _ = b2.req("GET", "/metrics", headers={"Authorization": "Bearer metrics-token-0123456789"})
    check(st == 200 and prom.parse(body.decode()), "metrics with the token")

    # --- nothing secret in the logs ---
    s.stop()
    s2.stop()
    for srv in (s, s2):
        log = open(srv.log).read()
        for secret in (PASSWORD, shop_key, other_key, blog_key, "metrics-token-0123456789", old):
            check(secret not in log, "a secret in the server log")
    resolved = [e for e in hook.events if e.get("event") == "backup_stale_resolved"]
    eq([(e["app"], e["database"]) for e in resolved], [("shop", "main")], "exactly one resolved event")


if __name__ == "__main__":
    main(test)
