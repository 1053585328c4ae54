"""notify_test.py - dumperd's notification channels against real local receivers (test/integration/dumperd_notify.sh).

Receivers: an HTTP catcher (http.server; /flaky answers its first request 500, /dead always 500) for the slack,
ntfy and webhook channels, and Debian's aiosmtpd as the SMTP server with STARTTLS (a self-signed certificate
dumperd trusts through --notify-ca-file) and AUTH LOGIN/PLAIN checked against the password dumperd reads from
--smtp-password-file; a second aiosmtpd without STARTTLS, which dumperd must refuse to send to.

Checks: `notify add` validation (one line, exit code); `notify list` shows no secret and no URL path; a failed
backup reaches each subscribed channel of its app exactly once (also after more passes), not the other app's
channel nor a size-only one; each message names app, environment, database, what happened and the dashboard
link; the webhook's X-Dumper-Signature verifies with Python's hmac (and not with another secret); the email
arrived over TLS, logged in, to both addresses; /flaky is retried and delivered once, /dead dies after
--notify-attempts and /metrics counts the dead letter; a sharp size drop against 4 earlier backups raises
backup_size_change (not a steady size); `notify test` delivers now or fails with one line (no STARTTLS, a wrong
login); the dashboard's /ui/notify lists, adds (secret once), tests and removes channels.
"""
import hashlib
import hmac
import http.server
import json
import os
import re
import socket
import ssl
import subprocess
import threading
import time

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from harness import DUMPERD, Fail, check, eq, main, poll, register, run_backup

SMTP_USER, SMTP_PASSWORD = "alerts", "s3cret-smtp-pw"


class Catcher(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        self.requests, self.lock = [], threading.Lock()
        super().__init__(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)
        self.thread.start()

    def on(self, path):
        with self.lock:
            return [r for r in self.requests if r["path"] == path]

    def wait(self, path, n, what, timeout=30):
        end = time.time() + timeout
        while time.time() < end:
            got = self.on(path)
            if len(got) >= n:
                return got
            time.sleep(0.1)
        raise Fail("catcher: timed out waiting for %d request(s) on %s (%s); got %r" % (n, path, what, self.on(path)))


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        srv = self.server
        with srv.lock:
            seen = len([r for r in srv.requests if r["path"] == self.path])
            srv.requests.append({"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()},
                                 "body": body})
        status = 500 if self.path == "/dead" or (self.path == "/flaky" and seen == 0) else 200
        self.send_response(status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *a):
        pass


class Mailbox:
    def __init__(self):
        self.mails = []

    async def handle_DATA(self, server, session, envelope):
        self.mails.append({"from": envelope.mail_from, "to": list(envelope.rcpt_tos),
                           "data": envelope.content.decode("utf-8", "replace"), "tls": session.ssl is not None,
                           "login": session.auth_data.login.decode() if session.authenticated and session.auth_data else None})
        return "250 OK"


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = auth_data.login == SMTP_USER.encode() and auth_data.password == SMTP_PASSWORD.encode()
    return AuthResult(success=ok, handled=False, auth_data=auth_data)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def smtp_server(tls, box, certdir):
    kw = {"authenticator": authenticator, "auth_require_tls": True}
    if tls:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(os.path.join(certdir, "cert.pem"), os.path.join(certdir, "key.pem"))
        kw.update(tls_context=ctx, require_starttls=True)
    for _ in range(5):
        c = Controller(box, hostname="127.0.0.1", port=free_port(), **kw)
        try:
            c.start()
            return c
        except Exception:  # the port was taken meanwhile
            continue
    raise Fail("unable to start aiosmtpd")


def dumperd_fails(env, args, code, line):
    p = env.admin(*args, ok=False)
    lines = p.stderr.strip().splitlines()
    if p.returncode != code or len(lines) != 1 or lines[0] != line:
        raise Fail("dumperd %s: exit %d %r, expected %d %r" % (" ".join(args), p.returncode, p.stderr, code, line))


def test(env):
    certdir = env.dir
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", os.path.join(certdir, "key.pem"), "-out",
                    os.path.join(certdir, "cert.pem")], check=True, capture_output=True)
    pwfile = os.path.join(env.dir, "smtp-password")
    with open(pwfile, "w") as f:
        f.write(SMTP_PASSWORD + "\n")
    os.chmod(pwfile, 0o600)
    web = Catcher()
    box, plainbox = Mailbox(), Mailbox()
    smtp, plain = smtp_server(True, box, certdir), smtp_server(False, plainbox, certdir)
    try:
        run(env, web, box, plainbox, smtp, plain, pwfile, certdir)
    finally:
        smtp.stop()
        plain.stop()
        web.shutdown()


def run(env, web, box, plainbox, smtp, plain, pwfile, certdir):
    u = "http://127.0.0.1:%d" % web.server_address[1]
    shop_key, other_key = env.app("shop"), env.app("other")

    # --- add: validation (exit 2 usage, 5 not found, 6 exists), one line each
    bad = [(["--kind", "teams", "--url", u], "dumperd: invalid --kind 'teams' (slack, email, ntfy or webhook)"),
           (["--kind", "slack", "--url", "ftp://x/y"], "dumperd: a slack channel's --url starts with https:// or http://"),
           (["--kind", "email", "--url", "smtp://127.0.0.1:25"],
            "dumperd: an email channel needs --to ADDR[,ADDR] (at most 10 addresses)"),
           (["--kind", "email", "--url", "smtp://u:hunter2@127.0.0.1:25", "--to", "a@b"],
            "dumperd: the --url of an email channel holds no password (serve's --smtp-password-file or"
            " DUMPERD_SMTP_PASSWORD gives it)"),
           (["--kind", "webhook", "--url", u, "--on", "failure,typo"],
            "dumperd: invalid --on 'failure,typo' (a list of failure, stale, size, drill, storage, or all)"),
           (["--kind", "ntfy", "--url", u + "/"], "dumperd: an ntfy channel's --url is https://SERVER/TOPIC (topic: 1-64 of A-Z a-z 0-9 _ -)"),
           (["--kind", "ntfy", "--url", u + "/" + "t" * 65], "dumperd: an ntfy channel's --url is https://SERVER/TOPIC"
            " (topic: 1-64 of A-Z a-z 0-9 _ -)"),
           (["--kind", "slack", "--url", u, "--to", "a@b"], "dumperd: --to is for email channels")]
    for args, line in bad:
        dumperd_fails(env, ["notify", "add", "x"] + args, 2, line)
    dumperd_fails(env, ["notify", "add", "x", "--kind", "slack", "--url", u, "--app", "nope"], 5,
                  "dumperd: no app named 'nope' (dumperd app list)")
    p = env.admin("notify", "add", "hook", "--kind", "webhook", "--url", u + "/hook", "--app", "shop", "--on", "failure,size")
    secret = p.stdout.strip().split()[-1]
    check(re.fullmatch(r"ws_[0-9a-f]{64}", secret), "webhook secret printed once as the last word: %r" % p.stdout)
    dumperd_fails(env, ["notify", "add", "hook", "--kind", "slack", "--url", u], 6,
                  "dumperd: a notification channel named 'hook' exists")
    adds = [("chat", "slack", u + "/slack/T000/B000/XXXXsecretpath", ["--on", "failure"]),
            ("phone", "ntfy", u + "/ntfy/dumper-alerts", ["--on", "failure"]),
            ("mail", "email", "smtp://%s@127.0.0.1:%d" % (SMTP_USER, smtp.port),
             ["--to", "ops@example.com, dba@example.com", "--on", "failure"]),
            ("otherhook", "webhook", u + "/other", ["--app", "other"]),
            ("flaky", "webhook", u + "/flaky", ["--on", "failure"]),
            ("dead", "webhook", u + "/dead", ["--on", "failure"]),
            ("sizeonly", "slack", u + "/sizeonly", ["--on", "size"]),
            ("topic64", "ntfy", u + "/" + "t" * 64, ["--on", "drill"]),  # the longest ntfy topic
            ("plainmail", "email", "smtp://%s@127.0.0.1:%d" % (SMTP_USER, plain.port), ["--to", "x@example.com", "--on", "drill"]),
            ("badlogin", "email", "smtp://wrong@127.0.0.1:%d" % smtp.port, ["--to", "x@example.com", "--on", "drill"])]
    for name, kind, url, more in adds:
        env.admin("notify", "add", name, "--kind", kind, "--url", url, *more)
    listing = env.admin("notify", "list").stdout
    check(secret not in listing and "secretpath" not in listing and "dumper-alerts" not in listing,
          "notify list shows no secret or URL path: %r" % listing)
    check(re.search(r"^chat\tslack\thttp://127\.0\.0\.1:\d+/\.\.\.\t-\tapp=\*\ton=failure\t", listing, re.M),
          "chat's line: %r" % listing)
    check(re.search(r"^hook\twebhook\t.*\tapp=shop\ton=failure,size\t", listing, re.M), "hook's line: %r" % listing)

    s = env.serve("--alert-check", "0.2", "--notify-attempts", "3", "--public-url", "https://dumper.example.com/",
                  "--smtp-password-file", pwfile, "--notify-ca-file", os.path.join(certdir, "cert.pem"),
                  "--smtp-from", "dumperd@example.com")
    dash = "https://dumper.example.com/#/app/1"  # shop is the first app of a fresh store

    # --- a failed backup of shop
    r1 = register(s, shop_key, "web-1", 4242, dbs=[{"key": "main", "type": "sqlite", "name": "app.db"}])
    env.admin("backup", "now", "shop")
    job = poll(s, shop_key, r1["agent_id"])["job"]
    po = s.ok("POST", "/api/v1/backups/prepare", {"agent_id": r1["agent_id"], "job_id": job["job_id"],
                                                 "format": "sql", "compression": "none"}, shop_key)
    s.ok("POST", "/api/v1/backups/%s/fail" % po["backup_id"], {"code": "source", "message": "disk full"}, shop_key)

    hook = web.wait("/hook", 1, "webhook")[0]
    body = hook["body"]
    ev = json.loads(body)
    eq((ev["event"], ev["app"], ev["environment"], ev["database"], ev["backup_id"], ev["dashboard_url"]),
       ("backup_failed", "shop", "production", "main", po["backup_id"], dash), "webhook payload")
    check("disk full" in ev["text"] and "shop/main (production)" in ev["text"], "webhook text: %r" % ev["text"])
    h = hook["headers"]
    eq(h["x-dumper-event"], "backup_failed", "X-Dumper-Event")
    ts = h["x-dumper-timestamp"]
    check(abs(int(ts) - time.time()) < 120, "X-Dumper-Timestamp is now: %r" % ts)
    want = "sha256=" + hmac.new(secret.encode(), ts.encode() + b"." + body, hashlib.sha256).hexdigest()
    eq(h["x-dumper-signature"], want, "X-Dumper-Signature verified with hmac")
    forged = "sha256=" + hmac.new(b"ws_" + b"0" * 64, ts.encode() + b"." + body, hashlib.sha256).hexdigest()
    check(not hmac.compare_digest(h["x-dumper-signature"], forged), "another secret does not verify")
    check(re.fullmatch(r"\d+", h["x-dumper-delivery"]), "X-Dumper-Delivery: %r" % h.get("x-dumper-delivery"))

    chat = json.loads(web.wait("/slack/T000/B000/XXXXsecretpath", 1, "slack")[0]["body"])
    eq(chat["username"], "Dumper", "slack username")
    check("shop/main (production) failed: disk full" in chat["text"] and ("<%s|Open in Dumper>" % dash) in chat["text"],
          "slack text: %r" % chat["text"])
    nt = json.loads(web.wait("/ntfy/", 1, "ntfy (posted to the server's root)")[0]["body"])
    eq((nt["topic"], nt["title"], nt["click"], nt["tags"]),
       ("dumper-alerts", "Dumper: backup_failed shop/main (production)", dash, ["warning"]), "ntfy message")
    check("disk full" in nt["message"], "ntfy text: %r" % nt["message"])
    end = time.time() + 30
    while not box.mails and time.time() < end:
        time.sleep(0.1)
    check(box.mails, "no mail arrived; dumperd log: %s" % open(s.log).read()[-2000:])
    m = box.mails[0]
    eq((m["from"], sorted(m["to"]), m["tls"], m["login"]),
       ("dumperd@example.com", ["dba@example.com", "ops@example.com"], True, SMTP_USER), "mail envelope, TLS, login")
    check("Subject: Dumper: backup_failed shop/main (production)" in m["data"], "mail subject: %r" % m["data"][:600])
    check("Dashboard: " + dash in m["data"] and "disk full" in m["data"] and "Environment: production" in m["data"],
          "mail body: %r" % m["data"])

    # retried once, then delivered; the dead channel gives up after 3 attempts (2 s + 4 s of backoff)
    flaky = web.wait("/flaky", 2, "flaky retried")
    eq([json.loads(r["body"])["event"] for r in flaky], ["backup_failed"] * 2, "the retry is the same event")
    check(flaky[0]["headers"]["x-dumper-delivery"] == flaky[1]["headers"]["x-dumper-delivery"],
          "a retry keeps its delivery id")
    web.wait("/dead", 3, "dead channel's attempts", timeout=40)
    end = time.time() + 20
    while time.time() < end:
        st, metrics, _ = s.call("GET", "/metrics")
        if b"dumper_notifications_dead_letters_total 1\n" in metrics:
            break
        time.sleep(0.2)
    check(b"dumper_notifications_dead_letters_total 1\n" in metrics, "dead letter in /metrics: %r" % metrics[-800:])
    check(b"# TYPE dumper_notifications_dead_letters_total counter" in metrics, "dead letters' type")
    # once: more passes change nothing
    time.sleep(1.5)
    for path, n in [("/hook", 1), ("/slack/T000/B000/XXXXsecretpath", 1), ("/ntfy/", 1), ("/flaky", 2), ("/dead", 3),
                    ("/other", 0), ("/sizeonly", 0)]:
        eq(len(web.on(path)), n, "requests on %s" % path)
    eq(len(box.mails), 1, "mails")
    eq(len(plainbox.mails), 0, "mails to the server without STARTTLS")
    listing = env.admin("notify", "list").stdout
    check(re.search(r"^dead\t.*\tsent=0\tpending=0\tdead=1$", listing, re.M), "dead's counts: %r" % listing)
    check(re.search(r"^flaky\t.*\tsent=1\tpending=0\tdead=0$", listing, re.M), "flaky's counts: %r" % listing)
    log = open(s.log).read()
    check(SMTP_PASSWORD not in log and secret not in log, "no secret in dumperd's log")
    check("counted as a dead letter" in log, "the dead letter is logged")

    # --- size: 4 good backups of 8 KiB, then one of 1 KiB (at most half the median, 7 KiB less)
    def good(data):
        env.admin("backup", "now", "shop")
        j = poll(s, shop_key, r1["agent_id"])["job"]
        return run_backup(s, shop_key, r1["agent_id"], j["job_id"], data=data, parts=1)

    for i in range(4):
        good(os.urandom(8192))
    time.sleep(1.0)  # passes over the steady backups: nothing
    eq(len(web.on("/sizeonly")), 0, "no size event for steady sizes")
    small = good(os.urandom(1024))
    sz = json.loads(web.wait("/sizeonly", 1, "size event")[0]["body"])
    check("is 1024 bytes, at most half the median of its 4 previous good backups (8192 bytes): check that it is complete" in sz["text"],
          "size text: %r" % sz["text"])
    hk = [json.loads(r["body"]) for r in web.wait("/hook", 2, "size event to the hook")]
    ev = hk[1]
    eq((ev["event"], ev["change"], ev["size"], ev["median_size"], ev["compared_with"], ev["backup_id"]),
       ("backup_size_change", "dropped", 1024, 8192, 4, small["backup_id"]), "size event payload")
    eq(len(web.on("/slack/T000/B000/XXXXsecretpath")), 1, "chat (failure only) gets no size event")

    # --- notify test: delivered now; refused without STARTTLS; a wrong login
    p = env.admin("notify", "test", "chat")
    eq(p.stderr.strip(), "test notification delivered to 'chat'", "notify test")
    t = json.loads(web.on("/slack/T000/B000/XXXXsecretpath")[-1]["body"])
    check("a test of the notification channel 'chat'" in t["text"], "test text: %r" % t["text"])
    p = env.admin("notify", "test", "plainmail", ok=False)
    check(p.returncode != 0 and len(p.stderr.strip().splitlines()) == 1 and
          p.stderr.startswith("dumperd: channel 'plainmail': smtp server '127.0.0.1:%d': " % plain.port),
          "no STARTTLS: %d %r" % (p.returncode, p.stderr))
    eq(len(plainbox.mails), 0, "nothing sent in clear text")
    p = env.admin("notify", "test", "badlogin", ok=False)
    check(p.returncode != 0 and "smtp server '127.0.0.1:%d'" % smtp.port in p.stderr and SMTP_PASSWORD not in p.stderr,
          "wrong login: %d %r" % (p.returncode, p.stderr))
    dumperd_fails(env, ["notify", "test", "nope"], 5, "dumperd: no notification channel named 'nope' (dumperd notify list)")

    # --- the dashboard
    subprocess.run([DUMPERD, "user", "create", "admin"], input="a-long-password-1\n", text=True, env=env.env,
                   check=True, capture_output=True)
    b = Site(s.port)
    b.login("admin", "a-long-password-1")
    st, j = b.req("GET", "/ui/notify")
    eq(st, 200, "GET /ui/notify")
    names = [c["name"] for c in j["channels"]]
    check("chat" in names and "hook" in names, "channels on the dashboard: %r" % names)
    check(secret not in json.dumps(j) and "secretpath" not in json.dumps(j), "no secret on the dashboard")
    st, j = b.req("POST", "/ui/notify", {"name": "web", "kind": "webhook", "url": u + "/web", "on": "failure"})
    eq(st, 200, "add from the dashboard: %r" % j)
    check(re.fullmatch(r"ws_[0-9a-f]{64}", j.get("secret", "")), "the secret once: %r" % j)
    st, j = b.req("POST", "/ui/notify", {"name": "web2", "kind": "webhook", "url": u + "/web"}, csrf=False)
    eq(st, 403, "no CSRF token")
    st, j = b.req("POST", "/ui/notify", {"name": "x", "kind": "slack", "url": "ftp://x"})
    eq((st, j["error"]), (400, "invalid_request"), "bad url from the dashboard")
    st, j = b.req("POST", "/ui/notify/web/test", {})
    eq(st, 200, "test from the dashboard: %r" % j)
    eq(json.loads(web.wait("/web", 1, "dashboard test")[0]["body"])["event"], "test", "dashboard test event")
    st, j = b.req("POST", "/ui/notify/dead/test", {})
    eq((st, j["error"]), (502, "storage_failed"), "a failing test from the dashboard: %r" % j)
    st, j = b.req("POST", "/ui/notify/web/delete", {})
    eq(st, 200, "remove from the dashboard")
    check("web\t" not in env.admin("notify", "list").stdout, "removed")
    env.admin("notify", "remove", "chat")
    dumperd_fails(env, ["notify", "remove", "chat"], 5, "dumperd: no notification channel named 'chat' (dumperd notify list)")


class Site:
    def __init__(self, port):
        import http.client
        self.hc, self.port, self.cookie, self.csrf = http.client, port, None, None

    def req(self, method, path, body=None, csrf=True):
        c = self.hc.HTTPConnection("127.0.0.1", self.port, timeout=30)
        h = {}
        if self.cookie:
            h["Cookie"] = "dumper_session=" + self.cookie
        if body is not None:
            h["Content-Type"] = "application/json"
            if csrf and self.csrf:
                h["X-CSRF-Token"] = self.csrf
        c.request(method, path, body=json.dumps(body).encode() if body is not None else None, headers=h)
        r = c.getresponse()
        data, hdrs = r.read(), {k.lower(): v for k, v in r.getheaders()}
        c.close()
        self.last_headers = hdrs
        return r.status, json.loads(data) if data else {}

    def login(self, user, pw):
        st, j = self.req("POST", "/ui/login", {"user": user, "password": pw})
        m = re.match(r"dumper_session=([0-9a-f]{64});", self.last_headers.get("set-cookie", ""))
        check(st == 200 and m, "login: %d %r" % (st, j))
        self.cookie, self.csrf = m.group(1), j["csrf"]


if __name__ == "__main__":
    main(test)
