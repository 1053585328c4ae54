"""harness.py - helpers for dumperd's integration tests: start servers, call the API over real HTTP,
run admin commands, simulated agents. Python 3 standard library only.

Stores: DUMPERD_TEST_STORE=sqlite (default) or pg (needs the services env: DUMPER_TEST_PG_*; each test
gets a fresh database; the password goes through PGPASSWORD, never argv).
"""
import hashlib
import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid

BIN = os.environ.get("DUMPER_BIN") or os.path.join(os.path.dirname(__file__), "../../build/bin")
DUMPERD = os.path.join(BIN, "dumperd")
DUMPER = os.path.join(BIN, "dumper")
NAME = os.path.basename(sys.argv[0]).replace(".py", "")


class Fail(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Fail(msg)


def eq(got, want, msg):
    if got != want:
        raise Fail("%s: got %r, expected %r" % (msg, got, want))


class Env:
    """A data directory plus a state store (SQLite file or a fresh PostgreSQL database)."""

    def __init__(self, store=None):
        self.store_kind = store or os.environ.get("DUMPERD_TEST_STORE", "sqlite")
        self.dir = tempfile.mkdtemp(prefix="dumperd-%s-%s-" % (NAME, self.store_kind))
        self.data = os.path.join(self.dir, "var")
        self.env = dict(os.environ)
        self.env["DUMPERD_DATA"] = self.data
        self.servers = []
        if self.store_kind == "pg":
            if not os.environ.get("DUMPER_TEST_HAVE_PG"):
                shutil.rmtree(self.dir, ignore_errors=True)
                print("skip: service pg not running", file=sys.stderr)
                sys.exit(77)
            self.pgdb = "dumperd_" + uuid.uuid4().hex[:10]
            self.env["PGPASSWORD"] = os.environ["DUMPER_TEST_PASSWORD"]
            psql = os.path.join(os.environ["DUMPER_TEST_PG_BIN"], "psql")
            if not os.path.exists(psql):
                psql = "psql"
            subprocess.run([psql, "-h", "127.0.0.1", "-p", os.environ["DUMPER_TEST_PG_PORT"], "-U", "postgres",
                            "-d", "postgres", "-qc", "CREATE DATABASE %s" % self.pgdb], env=self.env, check=True)
            self.env["DUMPERD_STORE"] = "postgres://postgres@127.0.0.1:%s/%s" % (
                os.environ["DUMPER_TEST_PG_PORT"], self.pgdb)
        else:
            self.env.pop("DUMPERD_STORE", None)

    def admin(self, *args, ok=True):
        p = subprocess.run([DUMPERD] + list(args), env=self.env, capture_output=True, text=True, timeout=60)
        if ok and p.returncode != 0:
            raise Fail("dumperd %s: exit %d: %s" % (" ".join(args), p.returncode, p.stderr.strip()))
        return p

    def app(self, name):
        key = self.admin("app", "create", name).stdout.strip()
        check(re.fullmatch(r"dk_[0-9a-f]{64}", key), "app key format: %r" % key)
        return key

    def serve(self, *args, clock=None):
        s = Server(self, list(args), clock)
        self.servers.append(s)
        return s

    def close(self, ok):
        for s in self.servers:
            s.stop()
        if ok:
            shutil.rmtree(self.dir, ignore_errors=True)
        else:
            print("test files kept in %s" % self.dir, file=sys.stderr)


class Server:
    def __init__(self, env, args, clock):
        self.env = env
        self.args = args
        self.clock = clock
        self.log = os.path.join(env.dir, "dumperd-%d.log" % len(env.servers))
        self.start()

    def start(self):
        cmd = [DUMPERD, "serve", "--listen", "127.0.0.1:0"] + self.args
        if self.clock is not None:
            cmd += ["--test-clock", str(int(self.clock))]
        self.logf = open(self.log, "a")
        offset = self.logf.tell()
        self.proc = subprocess.Popen(cmd, env=self.env.env, stdin=subprocess.DEVNULL, stdout=self.logf,
                                     stderr=subprocess.STDOUT)
        deadline = time.time() + 20
        self.port = None
        while time.time() < deadline and self.port is None:
            if self.proc.poll() is not None:
                raise Fail("dumperd serve exited %d: %s" % (self.proc.returncode, open(self.log).read()))
            with open(self.log) as f:
                f.seek(offset)
                lines = f.read().splitlines()
            for line in lines:
                m = re.search(r"listening on http://127\.0\.0\.1:(\d+) ", line)  # (the space: not a line half written)
                if m:
                    self.port = int(m.group(1))
            time.sleep(0.05)
        check(self.port, "dumperd did not start: " + open(self.log).read())

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                rc = self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                raise Fail("dumperd did not stop on SIGTERM")
            self.logf.close()
            if rc != 0:
                raise Fail("dumperd exited %d on SIGTERM: %s" % (rc, open(self.log).read()[-3000:]))
        self.proc = None

    def restart(self, clock=None):
        self.stop()
        if clock is not None:
            self.clock = clock
        self.start()

    def call(self, method, path, body=None, key=None, headers=None, raw=None, timeout=30):
        """(status, parsed JSON or raw bytes, response headers)."""
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        h = {"X-Dumper-Api": "1"}
        if key:
            h["Authorization"] = "Bearer " + key
        if headers:
            h.update(headers)
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        if data is not None and "Content-Type" not in h:
            h["Content-Type"] = "application/json" if raw is None else "application/octet-stream"
        c.request(method, path, body=data, headers=h)
        r = c.getresponse()
        payload = r.read()
        hdrs = dict(r.getheaders())
        c.close()
        ct = hdrs.get("Content-Type", "")
        if ct.startswith("application/json"):
            try:
                return r.status, json.loads(payload), hdrs
            except ValueError:
                raise Fail("%s %s: response is not JSON: %r" % (method, path, payload[:200]))
        return r.status, payload, hdrs

    def ok(self, method, path, body=None, key=None, **kw):
        st, j, _ = self.call(method, path, body, key, **kw)
        if st != 200:
            raise Fail("%s %s: %d %s" % (method, path, st, j))
        return j

    def err(self, want_status, want_code, method, path, body=None, key=None, **kw):
        st, j, _ = self.call(method, path, body, key, **kw)
        if st != want_status or not isinstance(j, dict) or j.get("error") != want_code or not j.get("message"):
            raise Fail("%s %s: expected %d %s, got %d %r" % (method, path, want_status, want_code, st, j))
        return j

    def set_clock(self, t):
        return self.ok("POST", "/api/v1/test/clock", {"now": t}, self.any_key)


def register(s, key, host="h", pid=1, env="production", dbs=None, **extra):
    """extra: more fields of the body (e.g. process_start)."""
    if dbs is None:
        dbs = [{"key": "main", "type": "sqlite", "name": "app.db"}]
    return s.ok("POST", "/api/v1/agents/register", dict({"hostname": host, "pid": pid, "environment": env,
                                                         "agent_version": "test", "framework": "test",
                                                         "dispatcher": "test", "databases": dbs}, **extra), key)


def poll(s, key, agent):
    return s.ok("POST", "/api/v1/agents/poll", {"agent_id": agent}, key)


def run_backup(s, key, agent, job, data=b"hello world\n", parts=2):
    """What a job process does: prepare, upload numbered parts, commit. Returns the commit answer."""
    p = s.ok("POST", "/api/v1/backups/prepare", {"agent_id": agent, "job_id": job, "format": "sql",
                                                 "compression": "none"}, key)
    bid = p["backup_id"]
    n = max(1, parts)
    step = (len(data) + n - 1) // n or 1
    chunks = [data[i:i + step] for i in range(0, len(data), step)] or [b""]
    for i, ch in enumerate(chunks, 1):
        s.ok("PUT", "/api/v1/backups/%s/parts/%d" % (bid, i), key=key, raw=ch)
    return s.ok("POST", "/api/v1/backups/%s/commit" % bid,
                {"size": len(data), "sha256": hashlib.sha256(data).hexdigest(), "parts": len(chunks),
                 "duration_ms": 5, "source_type": "sqlite", "database": "sqlite:/tmp/app.db"}, key)


def main(fn):
    env = Env()
    ok = False
    try:
        fn(env)
        ok = True
    except Fail as e:
        print("FAIL [%s/%s]: %s" % (NAME, env.store_kind, e), file=sys.stderr)
    except Exception:
        import traceback
        traceback.print_exc()
        print("FAIL [%s/%s]: exception" % (NAME, env.store_kind), file=sys.stderr)
    except SystemExit:  # a skip (77) from inside the test: nothing to keep
        ok = True
        raise
    finally:
        try:
            env.close(ok)
        except Fail as e:
            print("FAIL [%s/%s]: %s" % (NAME, env.store_kind, e), file=sys.stderr)
            ok = False
    sys.exit(0 if ok else 1)
