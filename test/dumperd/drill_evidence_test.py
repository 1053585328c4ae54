"""drill_evidence_test.py - restore drills' evidence end to end (issue 15 item 4; docs/drills.md "Evidence"), with
REAL `dumper drill --json` documents: a SQLite database backed up by the built `dumper`, the same bytes uploaded to
dumperd through the agent API (two catalog backups), `dumper drill --json` run on the backup (passed) and on a copy
whose manifest lies about a table's rows (failed), both recorded with `dumperd drill-record` (sd_drill_record).

Checks, over real HTTP: `dumperd backups --json` (each backup's newest drill with its figures and mismatch lines,
the DRILL column), the REST API (backup list, one backup, databases' verification; a read token), the dashboard's
JSON (/ui/apps/ID: backups' drill, databases' last verified restore), /metrics through the strict text-format
parser (last verified restore time = the passed drill's finish, drills and failures counted, latest passed), and
the alerts reaching a webhook channel subscribed to drills (drill_failed with the mismatch; with
`app set --drill-max-age`: drill_overdue once the database went too long without a passed drill, and
drill_overdue_resolved after the passed one); refusals of drill-record (bad document, another app's backup).
"""
import calendar
import hashlib
import http.server
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "site"))
from harness import DUMPER, DUMPERD, Fail, check, eq, main, poll, register  # noqa: E402
from site_test import Browserless  # noqa: E402
import prom_strict_parser as prom  # noqa: E402

PASSWORD = "correct horse battery staple"


class Catcher(http.server.ThreadingHTTPServer):
    """Webhook channels' deliveries by path (answers 200)."""
    daemon_threads = True

    def __init__(self):
        self.requests, self.lock = [], threading.Lock()
        catcher = self

        class H(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with catcher.lock:
                    catcher.requests.append((self.path, json.loads(body)))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass

        super().__init__(("127.0.0.1", 0), H)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def on(self, path):
        with self.lock:
            return [b for p, b in self.requests if p == path]

    def wait(self, path, n, what, timeout=30):
        end = time.time() + timeout
        while time.time() < end:
            got = self.on(path)
            if len(got) >= n:
                return got
            time.sleep(0.1)
        raise Fail("webhook: timed out waiting for %s on %s; got %r" % (what, path, self.on(path)))


def upload(s, key, agent, job, data, raw_size):
    """What a job process does with a real .sql.zst: prepare, one part, commit."""
    p = s.ok("POST", "/api/v1/backups/prepare", {"agent_id": agent, "job_id": job, "format": "sql",
                                                 "compression": "zstd"}, key)
    bid = p["backup_id"]
    s.ok("PUT", "/api/v1/backups/%s/parts/1" % bid, key=key, raw=data)
    s.ok("POST", "/api/v1/backups/%s/commit" % bid,
         {"size": len(data), "sha256": hashlib.sha256(data).hexdigest(), "raw_size": raw_size, "parts": 1, "duration_ms": 5,
          "source_type": "sqlite", "database": "sqlite:/tmp/app.db"}, key)
    return bid


def drill(path, tmp, want_rc):
    p = subprocess.run([DUMPER, "drill", path, "--json"], capture_output=True, text=True, timeout=120,
                       env=dict(os.environ, TMPDIR=tmp))
    eq(p.returncode, want_rc, "dumper drill %s: exit (stderr %s)" % (path, p.stderr.strip()))
    return p.stdout


def stamp(s):
    return calendar.timegm(time.strptime(s, "%Y-%m-%dT%H:%M:%SZ"))


def test(env):
    work = os.path.join(env.dir, "work")
    tmp = os.path.join(work, "tmp")
    os.makedirs(tmp)
    db = os.path.join(work, "app.db")
    c = sqlite3.connect(db)
    c.executescript("CREATE TABLE users(id INTEGER PRIMARY KEY, name TEXT); INSERT INTO users(name) VALUES ('a'),"
                    " ('b'), ('c'); CREATE TABLE orders(id INTEGER PRIMARY KEY, total REAL);"
                    " INSERT INTO orders VALUES (1, 9.5);")
    c.commit()
    c.close()
    backup = subprocess.run([DUMPER, "backup", "sqlite://" + db, "--to", os.path.join(work, "bk")],
                            capture_output=True, text=True, check=True).stdout.strip()
    lie_dir = os.path.join(work, "lie")
    os.makedirs(lie_dir)
    lie = os.path.join(lie_dir, os.path.basename(backup))
    shutil.copy(backup, lie)
    m = json.load(open(backup + ".json"))
    for t in m["contents"]["tables"]:
        if t["name"] == "users":
            t["rows"] = 4
    json.dump(m, open(lie + ".json", "w"))
    passed_doc, failed_doc = drill(backup, tmp, 0), drill(lie, tmp, 21)
    open(os.path.join(work, "passed.json"), "w").write(passed_doc)
    open(os.path.join(work, "failed.json"), "w").write(failed_doc)
    eq(os.listdir(tmp), [], "the drills left nothing in TMPDIR")

    web = Catcher()
    hook = "http://127.0.0.1:%d" % web.server_address[1]
    key, other_key = env.app("shop"), env.app("blog")
    env.admin("notify", "add", "drills", "--kind", "webhook", "--url", hook + "/drills", "--on", "drill")
    env.admin("notify", "add", "failures", "--kind", "webhook", "--url", hook + "/failures", "--on", "failure")
    s = env.serve("--alert-check", "1")
    s.any_key = key
    agent = register(s, key)["agent_id"]
    env.admin("backup", "now", "shop")
    job = poll(s, key, agent)["job"]
    check(job, "a job")
    data = open(backup, "rb").read()
    raw = m["raw_size"]
    b1 = upload(s, key, agent, job["job_id"], data, raw)
    env.admin("backup", "now", "shop")
    b2 = upload(s, key, agent, poll(s, key, agent)["job"]["job_id"], data, raw)
    other_agent = register(s, other_key, host="o")["agent_id"]
    env.admin("backup", "now", "blog")
    ob = upload(s, other_key, other_agent, poll(s, other_key, other_agent)["job"]["job_id"], data, raw)

    # refusals: one line, exit code, nothing recorded
    p = env.admin("drill-record", "shop", ob, os.path.join(work, "passed.json"), ok=False)
    eq((p.returncode, p.stderr.strip()), (5, "dumperd: unknown backup '%s'" % ob), "another app's backup")
    open(os.path.join(work, "bad.json"), "w").write('{"status":"passed","duration_ms":1,"mismatches":["x"]}')
    p = env.admin("drill-record", "shop", b1, os.path.join(work, "bad.json"), ok=False)
    eq((p.returncode, p.stderr.strip()), (2, "dumperd: drill result: a passed drill with 1 mismatches"), "bad document")
    out = json.loads(env.admin("backups", "shop", "--json").stdout)
    check(all(b["drill"] is None for b in out), "nothing recorded by a refusal: %r" % out)

    # the failed drill on b2: recorded, drill_failed reaches the drill channel (not the failure one)
    p = env.admin("drill-record", "shop", b2, os.path.join(work, "failed.json"), "--json")
    failed = json.loads(p.stdout)
    eq(failed["status"], "failed", "drill-record --json")
    ev = web.wait("/drills", 1, "drill_failed")[0]
    eq(ev["event"], "drill_failed", "event kind")
    eq((ev["app"], ev["environment"], ev["database"], ev["backup_id"], ev["drill_id"]),
       ("shop", "production", "main", b2, failed["drill_id"]), "event names the drill")
    eq(ev["text"], "Dumper: restore drill of backup %s of shop/main (production) failed: table 'users': 4 rows in"
       " the manifest, 3 restored" % b2, "event text")
    eq(ev["mismatches"], ["table 'users': 4 rows in the manifest, 3 restored"], "event mismatches")

    # no passed drill for longer than --drill-max-age (0.001 h: 3 whole seconds, counted from the first good backup)
    p = env.admin("app", "set", "shop", "--drill-max-age", "0.001", "--json")
    eq(round(json.loads(p.stdout)["drill_max_age_hours"] * 3600, 6), 3.0, "app set --drill-max-age --json (whole s)")
    got = web.wait("/drills", 2, "drill_overdue")
    ev = got[1]
    eq(ev["event"], "drill_overdue", "overdue kind")
    eq((ev["app"], ev["database"], ev["last_verified_at"], ev["latest_drill_status"]), ("shop", "main", None, "failed"),
       "overdue payload")
    check(ev["text"].startswith("Dumper: shop/main (production) has had no passed restore drill for more than"
                                " 0.000833333 hours"), "overdue text: %r" % ev["text"])

    # the passed drill on b1 resolves it
    env.admin("drill-record", "shop", b1, os.path.join(work, "passed.json"))
    got = web.wait("/drills", 3, "drill_overdue_resolved")
    ev = got[2]
    eq((ev["event"], ev["database"]), ("drill_overdue_resolved", "main"), "resolved")
    env.admin("app", "set", "shop", "--drill-max-age", "off")
    eq(web.on("/failures"), [], "nothing on the failure channel")

    # dumperd backups --json and the text listing
    out = {b["backup_id"]: b for b in json.loads(env.admin("backups", "shop", "--json").stdout)}
    d1, d2 = out[b1]["drill"], out[b2]["drill"]
    eq((d1["status"], d1["tables"], d1["rows"], d1["mismatch_count"], d1["mismatches"], d1["compared"], d1["job_id"]),
       ("passed", 2, 4, 0, [], True, None), "b1's drill")
    doc = json.loads(passed_doc)
    eq((d1["duration_ms"], d1["restore_ms"]), (doc["duration_ms"], doc["restore_ms"]), "b1's drill times")
    eq((d2["status"], d2["mismatch_count"], d2["mismatches"]),
       ("failed", 1, ["table 'users': 4 rows in the manifest, 3 restored"]), "b2's drill")
    check(re.fullmatch(r"r_\d+", d1["drill_id"]) and stamp(d1["finished_at"]) >= stamp(d2["finished_at"]), "drill ids")
    lines = env.admin("backups", "shop").stdout.splitlines()
    eq(lines[0].split("\t")[-1], "DRILL", "DRILL column")
    drills = {ln.split("\t")[0]: ln.split("\t")[-1] for ln in lines[1:]}
    eq((drills[b1], drills[b2]), ("passed", "failed"), "DRILL column values")

    # the REST API (a read token)
    tok = env.admin("token", "create", "reader", "--scope", "read").stdout.strip().split()[-1]
    h = {"Authorization": "Bearer " + tok}
    st, j, _ = s.call("GET", "/api/v1/apps/shop/backups", headers=h)
    eq(st, 200, "REST backups")
    rest = {b["backup_id"]: b["drill"] for b in j["backups"]}
    eq((rest[b1], rest[b2]), (d1, d2), "REST backups: the same drill objects")
    st, j, _ = s.call("GET", "/api/v1/apps/shop/backups/" + b2, headers=h)
    eq((st, j["drill"]), (200, d2), "REST backup")
    st, j, _ = s.call("GET", "/api/v1/apps/shop/databases", headers=h)
    v = j["databases"][0]["verification"]
    eq((v["last_verified_at"], v["drills"], v["drill_failures"], v["latest_drill_status"]),
       (d1["finished_at"], 2, 1, "passed"), "REST verification")

    # the dashboard's JSON
    r = subprocess.run([DUMPERD, "user", "create", "admin"],
                       input=PASSWORD + "\n", env=env.env, capture_output=True, text=True)
    eq(r.returncode, 0, "user create: " + r.stderr)
    site = Browserless(s.port)
    eq(site.login("admin", PASSWORD)[0], 200, "login")
    st, apps, _ = site.req("GET", "/ui/apps")
    app_id = [a for a in apps["apps"] if a["name"] == "shop"][0]["id"]
    st, j, _ = site.req("GET", "/ui/apps/%s" % app_id)
    eq(st, 200, "dashboard app")
    ui = {b["backup_id"]: b["drill"] for b in j["backups"]}
    eq((ui[b1], ui[b2]), (d1, d2), "dashboard backups: the same drill objects")
    eq(j["databases"][0]["verification"], v, "dashboard database verification")

    # /metrics (loopback, strict parser)
    st, body, hd = s.call("GET", "/metrics")
    eq(st, 200, "metrics")
    fams = prom.parse(body.decode())
    lab = {"app": "shop", "environment": "production", "database": "main"}
    t = prom.value(fams, "dumper_last_verified_restore_timestamp_seconds", **lab)
    eq(int(t or 0), stamp(d1["finished_at"]), "last verified restore = the passed drill's finish (ms in the metric)")
    eq(prom.value(fams, "dumper_drill_failures_total", **lab), 1.0, "failures")
    eq(prom.value(fams, "dumper_drills_total", **lab), 2.0, "drills")
    eq(prom.value(fams, "dumper_last_drill_passed", **lab), 1.0, "latest passed")
    blog = {"app": "blog", "environment": "production", "database": "main"}
    eq(prom.value(fams, "dumper_drill_failures_total", **blog), 0.0, "blog: no failures")
    check(not [x for x in fams["dumper_last_verified_restore_timestamp_seconds"]["samples"] if x[1]["app"] == "blog"],
          "blog: never verified, no timestamp")
    eq(fams["dumper_drill_failures_total"]["type"], "counter", "failures is a counter")


if __name__ == "__main__":
    main(test)
