"""rest_test.py - the REST API (docs/api.md) over real HTTP against a real dumperd:

1. API tokens from `dumperd token create|list|revoke`: printed once as the last word, stored hashed,
   expired and revoked ones refused.
2. The use cases end to end: trigger a backup (202 with job ids), follow the job to "good" while a simulated
   agent takes it, list backups with filters and pagination, download, schedules, retention.
3. docs/openapi.json against the server: every route the server registers (`dumperd api-routes`) is in
   the file with the same scope and app-key flag, and every route in the file is registered; every
   operation is called and its answer validated against the schema of its status code.
4. A table of credentials x routes: no token 401, wrong scope 403, another app 404, else the route's
   success status, each answer validated against the file.

Needs python3-jsonschema (scripts/install-deps.sh)."""
import hashlib
import json
import os
import re
import sqlite3

from harness import Fail, check, eq, main, poll, register, run_backup

try:
    import jsonschema
except ImportError:  # listed in scripts/install-deps.sh: a missing validator is a broken machine, not a skip
    raise SystemExit("rest_test: python3-jsonschema is required (scripts/install-deps.sh)")

SPEC_PATH = os.path.join(os.path.dirname(__file__), "../../docs/openapi.json")
SPEC = json.load(open(SPEC_PATH))
SCOPES = {"read": 1, "write": 2, "admin": 3}


def validate(status, body, method, path, ctype):
    """The answer against the OpenAPI operation's response for its status."""
    op = SPEC["paths"][path][method.lower()]
    resp = op["responses"].get(str(status))
    check(resp is not None, "%s %s: status %d is not described in openapi.json" % (method, path, status))
    if "$ref" in resp:
        resp = SPEC["components"]["responses"][resp["$ref"].split("/")[-1]]
    content = resp["content"]
    check(ctype.split(";")[0] in content, "%s %s %d: content type %r not in %r" % (method, path, status, ctype,
                                                                                  list(content)))
    if ctype.startswith("application/json"):
        schema = dict(content["application/json"]["schema"])
        schema["components"] = SPEC["components"]
        try:
            jsonschema.Draft202012Validator(schema).validate(body)
        except jsonschema.ValidationError as e:
            raise Fail("%s %s %d: answer does not match openapi.json: %s (%r)" % (method, path, status, e.message,
                                                                                 body))


def test(env):
    # the file's schemas are valid JSON Schema (OpenAPI 3.1 uses draft 2020-12), every $ref resolves
    for name, schema in SPEC["components"]["schemas"].items():
        jsonschema.Draft202012Validator.check_schema(schema)
    for ref in re.findall(r'"\$ref": "#/([^"]+)"', json.dumps(SPEC)):
        node = SPEC
        for part in ref.split("/"):
            check(part in node, "dangling $ref #/%s in openapi.json" % ref)
            node = node[part]
    key = env.app("shop")
    other_key = env.app("other")

    # --- tokens from the command line ---
    made = {}
    for scope in SCOPES:
        for app in (None, "shop", "other"):
            name = scope + ("@" + app if app else "")
            args = ["token", "create", name.replace("@", "-"), "--scope", scope] + (["--app", app] if app else [])
            p = env.admin(*args)
            tok = p.stdout.split()[-1]
            check(re.fullmatch(r"dt_[0-9a-f]{64}", tok), "token format: %r" % p.stdout)
            eq(p.stdout, tok + "\n", "the token is the only thing on stdout")
            check(tok not in p.stderr, "the token appears once")
            made[name] = tok
    p = env.admin("token", "create", "read", "--scope", "read", ok=False)
    eq((p.returncode, p.stderr.strip()), (6, "dumperd: token 'read' already exists (revoked tokens keep their names)"),
       "duplicate token")
    p = env.admin("token", "create", "x", "--scope", "root", ok=False)
    eq((p.returncode, p.stderr.strip()), (2, "dumperd: unknown scope 'root' (read, write or admin)"), "bad scope")
    p = env.admin("token", "create", "x", "--scope", "read", "--app", "nope", ok=False)
    eq((p.returncode, p.stderr.strip()), (5, "dumperd: no app named 'nope' (dumperd app list)"), "unknown app")
    p = env.admin("token", "create", "x", "--scope", "read", "--expires", "3651", ok=False)
    eq(p.returncode, 2, "--expires past 3650 days")
    # an expired token: created at a clock 25 years back with one day to live
    expired = env.admin("token", "create", "old", "--scope", "admin", "--expires", "1", "--test-clock",
                        "1000000000").stdout.split()[-1]
    revoked = env.admin("token", "create", "gone", "--scope", "admin").stdout.split()[-1]
    env.admin("token", "revoke", "gone")
    p = env.admin("token", "revoke", "gone", ok=False)
    eq((p.returncode, p.stderr.strip()), (5, "dumperd: no live token named 'gone' (dumperd token list)"), "revoke twice")
    lst = json.loads(env.admin("token", "list", "--json").stdout)
    states = {t["name"]: (t["scope"], t["app"], t["state"]) for t in lst}
    eq(states["read-shop"], ("read", "shop", "live"), "token list: app-scoped")
    eq(states["admin"], ("admin", None, "live"), "token list: every app")
    eq(states["old"][2], "expired", "token list: expired")
    eq(states["gone"][2], "revoked", "token list: revoked")
    # stored hashed: no token in the store, its SHA-256 is
    db = sqlite3.connect(os.path.join(env.data, "dumperd.db")) if env.store_kind == "sqlite" else None
    if db:
        rows = db.execute("SELECT name, token_hash FROM api_tokens").fetchall()
        db.close()
        hashes = {n: h for n, h in rows}
        eq(hashes["admin"], hashlib.sha256(made["admin"].encode()).hexdigest(), "stored hash")
        raw = open(os.path.join(env.data, "dumperd.db"), "rb").read()
        check(made["admin"].encode() not in raw, "a token is stored in clear")

    s = env.serve("--primary-interval", "60", "--lease", "120", "--job-lease", "600")
    A = "/api/v1/apps"
    admin, write, read = made["admin"], made["write"], made["read"]

    # --- the use cases ---
    def call(method, path, tok, body=None, **kw):
        st, j, h = s.call(method, path, body, tok, **kw)
        return st, j, h

    def ok(method, path, tok, body=None, want=200, spec=None):
        st, j, h = call(method, path, tok, body)
        if st != want:
            raise Fail("%s %s: %d %r, expected %d" % (method, path, st, j, want))
        if spec:
            validate(st, j, method, spec, h.get("Content-Type", ""))
        return j

    def err(want, code, method, path, tok, body=None, msg=None):
        st, j, h = call(method, path, tok, body)
        if st != want or not isinstance(j, dict) or j.get("error") != code:
            raise Fail("%s %s: expected %d %s, got %d %r" % (method, path, want, code, st, j))
        if msg is not None:
            eq(j["message"], msg, "%s %s message" % (method, path))
        return j

    err(401, "unauthorized", "GET", A, None,
        msg="an API token is required (Authorization: Bearer TOKEN; dumperd token create)")
    st, _, h = call("GET", A, None)
    eq(h.get("WWW-Authenticate"), 'Bearer realm="dumperd"', "401 names the scheme")
    err(401, "unauthorized", "GET", A, expired, msg="missing, wrong, expired or revoked token")
    err(401, "unauthorized", "GET", A, revoked, msg="missing, wrong, expired or revoked token")
    err(401, "unauthorized", "GET", A, "dt_" + "0" * 64)
    err(401, "unauthorized", "GET", A, admin[:-1])
    err(401, "unauthorized", "GET", A, "dk_" + "0" * 64, msg="missing or wrong app key")
    err(404, "not_found", "GET", "/api/v1/apps/shop/nothing", admin, msg="no such endpoint")
    err(405, "method_not_allowed", "DELETE", A + "/shop/backups", admin, msg="use GET, POST for this endpoint")
    err(404, "not_found", "GET", A + "/nope", admin, msg="no app named 'nope'")
    eq([a["name"] for a in ok("GET", A, admin)["apps"]], ["other", "shop"], "an admin token sees every app")
    eq([a["name"] for a in ok("GET", A, made["read@shop"])["apps"]], ["shop"], "an app-scoped token sees its app")
    eq([a["name"] for a in ok("GET", A, other_key)["apps"]], ["other"], "an app key sees its own app")
    err(404, "not_found", "GET", A + "/other", made["admin@shop"], msg="no app named 'other'")
    err(403, "forbidden", "PUT", A + "/shop/retention", read, {"keep_last": 1},
        msg="this token's scope (read) does not allow PUT /api/v1/apps/{app}/retention (needs write)")
    err(403, "forbidden", "GET", A + "/shop/backups", key,
        msg="an app key may only list its app, trigger backups and read their jobs; use an API token")

    # trigger before any agent registered a database
    err(404, "not_found", "POST", A + "/shop/backups", write, {},
        msg="no database is known in environment 'production' (no agent registered one)")
    agent = register(s, key, dbs=[{"key": "main", "type": "sqlite", "name": "app.db"},
                                  {"key": "cache", "type": "sqlite", "name": "cache.db"}])["agent_id"]
    register(s, other_key)
    err(404, "not_found", "POST", A + "/shop/backups", write, {"database": "nope"},
        msg="database 'nope' is not known in environment 'production'")
    err(400, "invalid_request", "POST", A + "/shop/backups", write, {"environment": "bad env"})
    st, j, h = s.call("POST", A + "/shop/backups", raw=b"{}", key=write, headers={"Content-Type": "text/plain"})
    eq((st, j.get("error")), (415, "unsupported_media_type"), "a body that is not JSON")
    validate(st, j, "POST", "/api/v1/apps/{app}/backups", h.get("Content-Type", ""))
    st, j, _ = s.call("POST", A + "/shop/backups", raw=b"[1]", key=write, headers={"Content-Type": "application/json"})
    eq((st, j.get("error")), (400, "invalid_json"), "a body that is not an object")
    t = ok("POST", A + "/shop/backups", write, {"database": "main"}, want=202, spec="/api/v1/apps/{app}/backups")
    eq((t["queued"], len(t["jobs"]), t["environment"]), (1, 1, "production"), "one job")
    job = t["jobs"][0]
    j = ok("GET", A + "/shop/jobs/" + job, key, spec="/api/v1/apps/{app}/jobs/{job}")  # the app key may follow it
    eq((j["state"], j["result"], j["backup_id"], j["reason"], j["database_key"]), ("pending", "pending", None,
                                                                                   "manual", "main"), "queued job")
    err(404, "not_found", "GET", A + "/other/jobs/" + job, admin, msg="unknown job '%s'" % job)
    err(404, "not_found", "GET", A + "/shop/jobs/" + job, other_key, msg="no app named 'shop'")
    pr = poll(s, key, agent)
    eq(pr["job"]["job_id"], job, "the agent takes the REST job")
    data = b"-- a dump\nCREATE TABLE t (x);\n"
    c = run_backup(s, key, agent, job, data=data)
    j = ok("GET", A + "/shop/jobs/" + job, read)
    eq((j["state"], j["result"], j["backup_id"], j["backup_status"]), ("done", "good", c["backup_id"], "good"),
       "finished job")
    # both databases: two jobs; one good, one failed
    t = ok("POST", A + "/shop/backups", key, None, want=202)
    eq(t["queued"], 2, "a job per database")
    ids = []
    for _ in range(2):
        pj = poll(s, key, agent)["job"]
        check(pj and pj["job_id"] in t["jobs"], "the agent takes the queued jobs: %r" % pj)
        if pj["database_key"] == "cache":
            p = s.ok("POST", "/api/v1/backups/prepare", {"agent_id": agent, "job_id": pj["job_id"], "format": "sql",
                                                          "compression": "none"}, key)
            s.ok("POST", "/api/v1/backups/%s/fail" % p["backup_id"], {"code": "auth_failed", "message": "no"}, key)
            failed_job = pj["job_id"]
        else:
            ids.append(run_backup(s, key, agent, pj["job_id"], data=data)["backup_id"])
    j = ok("GET", A + "/shop/jobs/" + failed_job, key)
    eq((j["state"], j["result"], j["backup_status"], j["error_code"], j["error_message"]),
       ("failed", "failed", "failed", "auth_failed", "no"), "failed job")
    for _ in range(3):
        t = ok("POST", A + "/shop/backups", write, {"database": "main"}, want=202)
        pj = poll(s, key, agent)["job"]
        ids.append(run_backup(s, key, agent, pj["job_id"], data=data)["backup_id"])
    # pagination: 5 good + 1 failed, newest first
    spec = "/api/v1/apps/{app}/backups"
    all_ = ok("GET", A + "/shop/backups", read, spec=spec)
    eq(len(all_["backups"]), 6, "every backup")
    eq(all_["next"], None, "one page")
    seen, nxt, pages = [], None, 0
    while True:
        q = A + "/shop/backups?limit=2" + ("&before=" + nxt if nxt else "")
        pg = ok("GET", q, read, spec=spec)
        seen += [b["backup_id"] for b in pg["backups"]]
        pages += 1
        nxt = pg["next"]
        if not nxt:
            break
    eq(seen, [b["backup_id"] for b in all_["backups"]], "pages in order, nothing twice")
    eq(pages, 3, "three pages of two")
    eq([b["status"] for b in ok("GET", A + "/shop/backups?status=failed", read)["backups"]], ["failed"], "status")
    eq({b["database_key"] for b in ok("GET", A + "/shop/backups?database=main", read)["backups"]}, {"main"},
       "database filter")
    eq(ok("GET", A + "/shop/backups?environment=staging", read)["backups"], [], "environment filter")
    for q, m in [("limit=0", "parameter 'limit' is an integer from 1 to 500"),
                 ("limit=501", "parameter 'limit' is an integer from 1 to 500"),
                 ("before=12", "parameter 'before' is a backup id (b_N, the 'next' of the previous page)"),
                 ("status=ok", "parameter 'status' is running, good, failed or deleted")]:
        err(400, "invalid_request", "GET", A + "/shop/backups?" + q, read, msg=m)
    eq(len(ok("GET", A + "/shop/backups?limit=500", read)["backups"]), 6, "limit at its maximum")
    # download
    bid = ids[-1]
    st, body, h = call("GET", A + "/shop/backups/%s/download" % bid, read)
    eq((st, body), (200, data), "download")
    eq(h.get("X-Dumper-Sha256"), hashlib.sha256(data).hexdigest(), "download checksum header")
    err(404, "not_found", "GET", A + "/other/backups/%s/download" % bid, admin)
    # schedules and retention
    sch = ok("PUT", A + "/shop/schedules", write, {"cron": "0 3 * * *", "tz": "Europe/Berlin"},
             spec="/api/v1/apps/{app}/schedules")
    eq([(x["environment"], x["cron"], x["tz"], len(x["next"])) for x in sch["schedules"]],
       [("production", "0 3 * * *", "Europe/Berlin", 5)], "schedule set")
    check("warning" not in sch, "no warning for an ordinary schedule")
    leap = ok("PUT", A + "/shop/schedules", write, {"cron": "0 3 29 2 *", "environment": "leap"},
              spec="/api/v1/apps/{app}/schedules")
    check("February 29" in leap.get("warning", ""), "a Feb-29-only schedule is accepted with its warning: %r" % leap)
    err(400, "invalid_request", "PUT", A + "/shop/schedules", write, {"cron": "61 * * * *"})
    err(400, "invalid_json", "PUT", A + "/shop/schedules", write, None, msg="this endpoint needs a JSON object body")
    r = ok("PUT", A + "/shop/retention", write, {"keep_last": 7, "daily": 3})
    eq(r["retention"], {"keep_last": 7, "daily": 3, "weekly": 0, "monthly": 0}, "retention set")
    err(400, "invalid_request", "PUT", A + "/shop/retention", write, {"keep_last": -1},
        msg="retention counts are integers from 0 to 100000")
    eq(ok("GET", A + "/shop", read)["retention"]["keep_last"], 7, "retention read back")
    created = ok("POST", A, admin, {"name": "newapp"}, want=201, spec="/api/v1/apps")
    check(re.fullmatch(r"dk_[0-9a-f]{64}", created["key"]), "created app's key")
    err(409, "conflict", "POST", A, admin, {"name": "newapp"})
    err(403, "forbidden", "POST", A, made["admin@shop"], {"name": "x2"})

    # --- the OpenAPI file covers exactly the registered routes ---
    lines = env.admin("api-routes").stdout.split("\n")
    registered = {}
    for line in filter(None, lines):
        m, path, scope, appkey = line.split(" ")
        registered[(m, path)] = (scope, appkey == "app-key")
    described = {}
    for path, ops in SPEC["paths"].items():
        for m, op in ops.items():
            described[(m.upper(), path)] = (op["x-dumper-scope"], op["x-dumper-app-key"])
    eq(sorted(set(registered) - set(described)), [], "registered routes missing from openapi.json")
    eq(sorted(set(described) - set(registered)), [], "routes in openapi.json the server does not register")
    for r_ in registered:
        eq(described[r_], registered[r_], "scope and app-key flag of %s %s" % r_)

    # --- every operation, called and validated; then credentials x routes ---
    job_id = job
    counter = [0]

    def request_for(m, path):
        """A valid request for the route on app shop: (url, body)."""
        url = path.replace("{app}", "shop").replace("{backup}", bid).replace("{job}", job_id)
        if (m, path) == ("POST", "/api/v1/apps"):
            counter[0] += 1
            return url, {"name": "made%d" % counter[0]}
        bodies = {("POST", "/api/v1/apps/{app}/backups"): {"database": "main"},
                  ("PUT", "/api/v1/apps/{app}/schedules"): {"cron": "15 4 * * *"},
                  ("PUT", "/api/v1/apps/{app}/retention"): {"keep_last": 7, "daily": 3}}
        return url, bodies.get((m, path))

    def success(m, path):
        codes = [int(c) for c in SPEC["paths"][path][m.lower()]["responses"] if c.startswith("2")]
        eq(len(codes), 1, "one success status for %s %s" % (m, path))
        return codes[0]

    creds = dict(made)
    creds.update({"none": None, "expired": expired, "revoked": revoked, "appkey@shop": key,
                  "appkey@other": other_key})

    def expect(cred, m, path):
        if cred in ("none", "expired", "revoked"):
            return 401
        scope, appkey_ok = registered[(m, path)]
        global_ = "{app}" not in path
        cred_app = cred.split("@")[1] if "@" in cred else None
        if cred_app and not global_ and cred_app != "shop":
            return 404
        if cred.startswith("appkey"):
            return success(m, path) if appkey_ok else 403
        have = SCOPES[cred.split("@")[0]]
        if have < SCOPES[scope]:
            return 403
        if cred_app and global_ and SCOPES[scope] > SCOPES["read"]:
            return 403
        return success(m, path)

    checked = 0
    for (m, path) in sorted(registered):
        for cred, tok in sorted(creds.items()):
            url, body = request_for(m, path)
            want = expect(cred, m, path)
            st, j, h = call(m, url, tok, body)
            if st != want:
                raise Fail("%s %s as %s: got %d %r, expected %d" % (m, url, cred, st, j, want))
            validate(st, j, m, path, h.get("Content-Type", ""))
            checked += 1
    eq(checked, len(registered) * len(creds), "every credential on every route")
    print("rest_test: %d routes x %d credentials checked against openapi.json" % (len(registered), len(creds)))


main(test)
