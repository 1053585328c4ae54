"""api_test.py - the agent API over real HTTP: the happy path (register, poll, prepare, numbered parts,
commit, download, `dumper verify`/`dumper restore` on the published file) and every error case of
docs/protocol.md. Runs against the store named by DUMPERD_TEST_STORE (sqlite or pg)."""
import hashlib
import json
import os
import socket
import sqlite3
import subprocess
import time
from harness import (DUMPER, DUMPERD, Fail, check, eq, main, poll, register, run_backup)

T0 = 1800000000  # 2027-01-15T08:00:00Z


def raw_http(port, data, timeout=5):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(data)
        out = b""
        while True:
            try:
                b = s.recv(65536)
            except (ConnectionResetError, socket.timeout):
                break
            if not b:
                break
            out += b
        return out
    finally:
        s.close()


def test(env):
    key = env.app("shop")
    other = env.app("other")
    env.admin("app", "create", "shop", ok=False)
    p = env.admin("app", "create", "shop", ok=False)
    eq(p.returncode, 6, "duplicate app exit code")
    check("already exists" in p.stderr, "duplicate app message: " + p.stderr)
    # an empty TLS certificate or key file is refused with a message (it crashed serve)
    empty = os.path.join(env.dir, "empty.pem")
    open(empty, "w").close()
    p = subprocess.run([DUMPERD, "serve", "--listen", "127.0.0.1:0", "--tls-cert", empty, "--tls-key", empty],
                       env=env.env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
    eq(p.returncode, 2, "serve with an empty TLS certificate: " + p.stderr)
    check("empty file '%s'" % empty in p.stderr, "empty TLS certificate message: " + p.stderr)
    # a bad state store URL: the error names no password (libpq quotes a bad percent-encoded token back)
    for url in ["postgress://u:s3cretA@h/db", "postgresql://u:s3cret%ZZB@127.0.0.1:1/db",
                "postgresql://127.0.0.1:1/db?password=s3cret%ZZC&user=u"]:
        p = subprocess.run([DUMPERD, "app", "list"], env=dict(env.env, DUMPERD_STORE=url), stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, timeout=60)
        check(p.returncode != 0 and "state store" in p.stderr and "s3cret" not in p.stderr + p.stdout,
              "store URL %s: exit %d, %r" % (url, p.returncode, p.stderr))
    s = env.serve("--primary-interval", "60", "--lease", "120", "--job-lease", "600", "--max-part-size", "4096",
                  "--max-filesize", "100000", clock=T0)
    s.any_key = key
    A = "/api/v1"

    # --- auth and envelope ---
    s.err(401, "unauthorized", "POST", A + "/agents/poll", {"agent_id": "a_1"})
    s.err(401, "unauthorized", "POST", A + "/agents/poll", {"agent_id": "a_1"}, "dk_" + "0" * 64)
    s.err(401, "unauthorized", "POST", A + "/agents/poll", {"agent_id": "a_1"}, "short")
    s.err(401, "unauthorized", "POST", A + "/agents/poll", {"agent_id": "a_1"}, key,
          headers={"X-Dumper-App-Key": other})
    s.err(400, "unsupported_api_version", "POST", A + "/agents/poll", {"agent_id": "a_1"}, key,
          headers={"X-Dumper-Api": "2"})
    s.err(404, "not_found", "GET", "/nope", key=key)
    s.err(404, "not_found", "POST", A + "/test/nope", {}, key)
    s.err(405, "method_not_allowed", "GET", A + "/agents/poll", key=key)
    s.err(400, "invalid_json", "POST", A + "/agents/register", key=key, raw=b'{"hostname":', 
          headers={"Content-Type": "application/json"})
    s.err(400, "invalid_json", "POST", A + "/agents/register", key=key, raw=b'[1,2]',
          headers={"Content-Type": "application/json"})
    s.err(400, "invalid_json", "POST", A + "/agents/register", key=key, raw=b'',
          headers={"Content-Type": "application/json"})
    s.err(400, "invalid_json", "POST", A + "/agents/register", key=key, raw=b'{"a":1}\x00{"b":2}',
          headers={"Content-Type": "application/json"})
    s.err(413, "too_large", "POST", A + "/agents/register", key=key, raw=b'{"x":"' + b"a" * 70000 + b'"}',
          headers={"Content-Type": "application/json"})
    # the same without Content-Length (chunked): refused once the buffer limit is passed
    body = b'{"x":"' + b"a" * 70000 + b'"}'
    req = (b"POST /api/v1/agents/register HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + key.encode() +
           b"\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n" +
           b"%x\r\n" % len(body) + body + b"\r\n0\r\n\r\n")
    out = raw_http(s.port, req)
    check(out.startswith(b"HTTP/1.1 413"), "chunked oversized body: %r" % out[:100])
    # the key in X-Dumper-App-Key works too
    st, j, _ = s.call("POST", A + "/agents/poll", {"agent_id": "a_999"}, headers={"X-Dumper-App-Key": key})
    eq(st, 404, "poll with X-Dumper-App-Key of an unknown agent")

    # --- register validation ---
    good = {"hostname": "web-1", "pid": 42, "environment": "production", "databases": []}
    for field, val in [("hostname", None), ("hostname", 5), ("pid", "42"), ("pid", 0), ("pid", 1.5), ("pid", 1e300),
                       ("pid", -1e300),
                       ("environment", "prod env"), ("environment", ""), ("databases", {}), ("databases", None)]:
        b = dict(good)
        if val is None:
            del b[field]
        else:
            b[field] = val
        s.err(400, "invalid_request", "POST", A + "/agents/register", b, key)
    s.err(400, "invalid_request", "POST", A + "/agents/register", dict(good, hostname="web\x1b[31m"), key)
    for dbs in [[{"type": "oracle"}], [{"type": "postgresql", "password": "x"}], ["x"],
                [{"type": "redis", "port": 70000}], [{"type": "redis", "key": "a/b"}],
                [{"type": "redis", "key": "k"}, {"type": "sqlite", "key": "k"}], [{"type": "redis"}] * 65]:
        b = dict(good, databases=dbs)
        s.err(400, "invalid_request", "POST", A + "/agents/register", b, key)

    dbs = [{"key": "main", "type": "postgresql", "host": "db1", "port": 5432, "name": "shop", "user": "shop"},
           {"type": "redis", "host": "127.0.0.1", "port": 6379, "name": "0"}]
    r1 = register(s, key, "web-1", 100, dbs=dbs)
    eq(r1["role"], "primary", "first agent's role")
    check(r1["agent_id"].startswith("a_"), "agent id")
    eq([d["key"] for d in r1["databases"]], ["main", "redis-0"], "database keys")
    eq(r1["limits"]["max_part_size"], 4096, "limits.max_part_size")
    eq(r1["limits"]["max_filesize"], 100000, "limits.max_filesize")
    eq(r1["server_time"], "2027-01-15T08:00:00Z", "server_time follows the test clock")
    r2 = register(s, key, "web-2", 101, dbs=dbs)
    eq(r2["role"], "secondary", "second agent's role")
    eq(r2["databases"], r1["databases"], "same database ids for the same keys")
    # a new secondary polls every ~10 s during its first 10 minutes (issue 12; lease_test.py has the rest)
    check(9 <= r2["interval"] <= 11, "a new secondary's interval with jitter: %r" % r2["interval"])
    a1, a2 = r1["agent_id"], r2["agent_id"]
    ro = register(s, other, "x", 1, dbs=[{"key": "main", "type": "sqlite"}])

    # --- poll ---
    pr = poll(s, key, a1)
    eq(pr["role"], "primary", "primary poll")
    check(54 <= pr["interval"] <= 66, "primary interval with jitter: %r" % pr["interval"])
    eq(pr["job"], None, "no job yet")
    s.err(404, "not_found", "POST", A + "/agents/poll", {"agent_id": ro["agent_id"]}, key)
    for bad in ["a_0", "a_-1", "a_x", "b_1", "a_", "a_99999999999999999999", 7]:
        st, j, _ = s.call("POST", A + "/agents/poll", {"agent_id": bad}, key)
        check(st in (400, 404) and j.get("error"), "poll %r: %d %r" % (bad, st, j))
    s.err(400, "invalid_request", "POST", A + "/agents/poll", {}, key)

    # --- a manual backup, end to end ---
    p = env.admin("backup", "now", "shop", "--database", "main")
    check("1 backup job" in p.stderr, "backup now output: " + p.stderr)
    env.admin("backup", "now", "shop", "--database", "nope", ok=False)
    eq(poll(s, key, a2)["job"], None, "a secondary never gets a job")
    pr = poll(s, key, a1)
    job = pr["job"]
    check(job and job["database_key"] == "main" and job["reason"] == "manual" and job["attempt"] == 1,
          "job for the primary: %r" % pr)
    eq(poll(s, key, a1)["job"], None, "a job is handed out once")

    # a real SQLite dump made by `dumper backup`, uploaded as parts, must restore
    src = os.path.join(env.dir, "src.db")
    c = sqlite3.connect(src)
    c.execute("create table t (id integer primary key, v text)")
    c.executemany("insert into t (v) values (?)", [("row %d %s" % (i, os.urandom(8).hex()),) for i in range(2000)])
    c.commit()
    c.close()
    local = os.path.join(env.dir, "local")
    out = subprocess.run([DUMPER, "backup", "sqlite://" + src, "--to", local, "--json"], capture_output=True,
                         text=True, check=True)
    info = json.loads(out.stdout)
    data = open(info["path"], "rb").read()
    check(len(data) > 4096, "dump needs several parts (%d bytes)" % len(data))

    s.err(404, "not_found", "POST", A + "/backups/prepare", {"agent_id": a1, "job_id": "j_999"}, key)
    s.err(404, "not_found", "POST", A + "/backups/prepare", {"agent_id": a1, "job_id": job["job_id"]}, other)
    s.err(404, "not_found", "POST", A + "/backups/prepare", {"agent_id": ro["agent_id"], "job_id": job["job_id"]},
          key)
    s.err(400, "invalid_request", "POST", A + "/backups/prepare",
          {"agent_id": a1, "job_id": job["job_id"], "compression": "lz4"}, key)
    s.err(400, "invalid_request", "POST", A + "/backups/prepare",
          {"agent_id": a1, "job_id": job["job_id"], "extension": "../x"}, key)
    prep = s.ok("POST", A + "/backups/prepare", {"agent_id": a1, "job_id": job["job_id"], "format": info["format"],
                                                 "compression": info["compression"],
                                                 "extension": "%s.zst" % info["format"]}, key)
    prep2 = s.ok("POST", A + "/backups/prepare", {"agent_id": a1, "job_id": job["job_id"],
                                                  "format": info["format"], "compression": info["compression"]}, key)
    eq(prep2["backup_id"], prep["backup_id"], "prepare is idempotent while uploading")
    bid = prep["backup_id"]
    check(prep["file_name"].startswith("shop-production-main-") and prep["file_name"].endswith(".sql.zst"),
          "file name: " + prep["file_name"])
    eq(prep["upload"]["kind"], "local", "upload kind")
    eq(prep["upload"]["part_url"], "/api/v1/backups/%s/parts/{n}" % bid, "part url")

    def part_url(n, b=bid):
        return A + "/backups/%s/parts/%s" % (b, n)
    chunks = [data[i:i + 4096] for i in range(0, len(data), 4096)]
    # error cases on parts
    s.err(413, "too_large", "PUT", part_url(1), key=key, raw=b"x" * 4097)
    s.err(404, "not_found", "PUT", part_url(0), key=key, raw=b"x")
    s.err(404, "not_found", "PUT", part_url(10001), key=key, raw=b"x")
    s.err(404, "not_found", "PUT", part_url("01"), key=key, raw=b"x")
    s.err(404, "not_found", "PUT", part_url(1, "b_999"), key=key, raw=b"x")
    s.err(404, "not_found", "PUT", part_url(1), key=other, raw=b"x")
    s.err(409, "conflict", "POST", part_url(1) + "/presign", {}, key)
    s.err(404, "not_found", "POST", part_url(1) + "/nope", {}, key)
    s.err(422, "verification_failed", "PUT", part_url(1), key=key, raw=chunks[0],
          headers={"X-Dumper-Part-Sha256": "0" * 64})
    req = (b"PUT " + part_url(1).encode() + b" HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + key.encode() +
           b"\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nabc\r\n0\r\n\r\n")
    check(raw_http(s.port, req).startswith(b"HTTP/1.1 411"), "part without Content-Length")
    # a chunked body that does not match its Content-Length (a client error, not the server's): 400
    for chunk in [b"hello", b"h"]:
        out = raw_http(s.port, req.replace(b"\r\nTransfer", b"\r\nContent-Length: 3\r\nTransfer")
                       .replace(b"3\r\nabc", b"%x\r\n%s" % (len(chunk), chunk)))
        check(out.startswith(b"HTTP/1.1 400") and b"part body has %d bytes, its Content-Length says 3" % len(chunk)
              in out, "chunked part of %d bytes with Content-Length 3: %r" % (len(chunk), out[:300]))
    # upload every part, part 1 twice (idempotent), first with wrong bytes
    s.ok("PUT", part_url(1), key=key, raw=b"garbage")
    for i, ch in enumerate(chunks, 1):
        r = s.ok("PUT", part_url(i), key=key, raw=ch,
                 headers={"X-Dumper-Part-Sha256": hashlib.sha256(ch).hexdigest()})
        eq(r["size"], len(ch), "part size")
    sha = hashlib.sha256(data).hexdigest()
    commit = {"size": len(data), "sha256": sha, "parts": len(chunks), "duration_ms": 12, "raw_size": info["raw_size"],
              "source_type": "sqlite", "database": "sqlite:" + src}
    s.err(400, "invalid_request", "POST", A + "/backups/%s/commit" % bid, dict(commit, sha256="xyz"), key)
    s.err(400, "invalid_request", "POST", A + "/backups/%s/commit" % bid,
          {k: v for k, v in commit.items() if k != "raw_size"}, key)
    s.err(400, "invalid_request", "POST", A + "/backups/%s/commit" % bid,
          dict(commit, database="postgresql://u:secret@h/db"), key)
    s.err(413, "too_large", "POST", A + "/backups/%s/commit" % bid, dict(commit, size=100001), key)
    s.err(400, "invalid_request", "POST", A + "/backups/%s/commit" % bid, dict(commit, size=1e300), key)
    # With S3 storage a commit lists every part's ETag: about 75 bytes a part, over 64 KiB from ~900 parts.
    # A commit's body may have 2 MiB (here the parts beyond the uploaded ones are missing: 422, not 413).
    etags = [{"n": i, "size": 67108864, "etag": '"%s"' % hashlib.md5(b"%d" % i).hexdigest()} for i in range(1, 10001)]
    big = dict(commit, parts=etags)
    check(len(json.dumps(big)) > 700000, "commit body of 10000 parts: %d bytes" % len(json.dumps(big)))
    j = s.err(422, "verification_failed", "POST", A + "/backups/%s/commit" % bid, big, key)
    check("part %d of backup" % (len(chunks) + 1) in j["message"], "10000 parts: " + j["message"])
    head = (b"POST " + (A + "/backups/%s/commit" % bid).encode() + b" HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
            key.encode() + b"\r\nConnection: close\r\n")
    out = raw_http(s.port, head + b"Content-Length: %d\r\n\r\n" % ((2 << 20) + 1))
    check(out.startswith(b"HTTP/1.1 413") and b"2097152 bytes" in out, "commit over 2 MiB: %r" % out[:200])
    body = b'{"x":"' + b"a" * (2 << 20) + b'"}'
    out = raw_http(s.port, head + b"Transfer-Encoding: chunked\r\n\r\n%x\r\n" % len(body) + body + b"\r\n0\r\n\r\n")
    check(out.startswith(b"HTTP/1.1 413") and b"2097152 bytes" in out, "chunked commit over 2 MiB: %r" % out[:200])
    s.err(422, "verification_failed", "POST", A + "/backups/%s/commit" % bid, dict(commit, sha256="0" * 64), key)
    s.err(422, "verification_failed", "POST", A + "/backups/%s/commit" % bid, dict(commit, size=len(data) - 1), key)
    s.err(422, "verification_failed", "POST", A + "/backups/%s/commit" % bid, dict(commit, size=len(data) + 1), key)
    s.err(422, "verification_failed", "POST", A + "/backups/%s/commit" % bid,
          dict(commit, parts=len(chunks) + 1), key)
    s.err(404, "not_found", "POST", A + "/backups/b_999/commit", commit, key)
    s.err(404, "not_found", "POST", A + "/backups/%s/commit" % bid, commit, other)
    storage = os.path.join(env.data, "backups")
    eq(sorted(os.listdir(storage)), [], "failed commits publish nothing")
    s.err(409, "conflict", "GET", A + "/backups/%s/download" % bid, key=key)
    s.err(409, "conflict", "GET", A + "/backups/%s/manifest" % bid, key=key)
    r = s.ok("POST", A + "/backups/%s/commit" % bid, commit, key)
    eq((r["status"], r["size"], r["sha256"]), ("good", len(data), sha), "commit answer")
    r = s.ok("POST", A + "/backups/%s/commit" % bid, commit, key)
    eq(r["status"], "good", "commit again is idempotent")
    s.err(409, "conflict", "POST", A + "/backups/%s/commit" % bid, dict(commit, sha256="1" * 64), key)
    s.err(409, "conflict", "POST", A + "/backups/%s/fail" % bid, {"code": "x"}, key)
    check(not os.path.exists(os.path.join(env.data, "parts", bid)), "parts removed after commit")
    files = sorted(os.listdir(storage))
    eq(files, [prep["file_name"], prep["file_name"] + ".json"], "published file and manifest")
    # the CLI verifies and restores what dumperd published
    path = os.path.join(storage, prep["file_name"])
    v = subprocess.run([DUMPER, "verify", path], capture_output=True, text=True)
    eq(v.returncode, 0, "dumper verify: " + v.stderr)
    dst = os.path.join(env.dir, "restored.db")
    v = subprocess.run([DUMPER, "restore", path, "sqlite://" + dst], capture_output=True, text=True)
    eq(v.returncode, 0, "dumper restore: " + v.stderr)
    eq(sqlite3.connect(dst).execute("select count(*), max(substr(v, 1, 7)) from t").fetchone(), (2000, "row 999"),
       "restored contents")

    # download streams the same bytes with the checksum
    st, body, h = s.call("GET", A + "/backups/%s/download" % bid, key=key)
    eq(st, 200, "download status")
    eq(body, data, "downloaded bytes")
    eq(h.get("X-Dumper-Sha256"), sha, "download checksum header")
    s.err(404, "not_found", "GET", A + "/backups/%s/download" % bid, key=other)
    s.err(404, "not_found", "GET", A + "/backups/b_999/download", key=key)
    s.err(401, "unauthorized", "GET", A + "/backups/%s/download" % bid)
    s.err(404, "not_found", "GET", A + "/backups/b_1%2F..%2F..%2Fetc/download", key=key)
    eq(h.get("Content-Disposition"), 'attachment; filename="%s"' % prep["file_name"], "download file name")
    # the downloaded file alone (no manifest) verifies and restores with the catalog's sha256; without
    # it the one error line says to pass it; a wrong one is refused with 9 and the target untouched
    dl_dir = os.path.join(env.dir, "downloads")
    os.makedirs(dl_dir, exist_ok=True)
    dl = os.path.join(dl_dir, prep["file_name"])
    with open(dl, "wb") as f:
        f.write(body)
    v = subprocess.run([DUMPER, "verify", dl], capture_output=True, text=True)
    check(v.returncode == 9 and "--sha256" in v.stderr and v.stderr.count("\n") == 1,
          "verify without manifest: %d %s" % (v.returncode, v.stderr))
    v = subprocess.run([DUMPER, "verify", dl, "--sha256", sha], capture_output=True, text=True)
    eq(v.returncode, 0, "dumper verify --sha256 of the download: " + v.stderr)
    dst2 = os.path.join(env.dir, "restored-dl.db")
    v = subprocess.run([DUMPER, "restore", dl, "sqlite://" + dst2, "--sha256", "0" * 64], capture_output=True,
                       text=True)
    check(v.returncode == 9 and not os.path.exists(dst2), "restore with a wrong sha256: %d %s" % (v.returncode, v.stderr))
    v = subprocess.run([DUMPER, "restore", dl, "sqlite://" + dst2, "--sha256", sha], capture_output=True, text=True)
    eq(v.returncode, 0, "dumper restore --sha256 of the download: " + v.stderr)
    eq(sqlite3.connect(dst2).execute("select count(*), max(substr(v, 1, 7)) from t").fetchone(), (2000, "row 999"),
       "restored contents of the download")
    # the manifest, for the download: the stored one (the catalog's sha256, the file's name)
    st, man, mh = s.call("GET", A + "/backups/%s/manifest" % bid, key=key)
    eq(st, 200, "manifest status")
    eq((man["sha256"], man["size"], man["name"], man["source_type"]), (sha, len(data), prep["file_name"], "sqlite"),
       "served manifest")
    eq(mh.get("Content-Disposition"), 'attachment; filename="%s.json"' % prep["file_name"], "manifest file name")
    with open(os.path.join(storage, prep["file_name"] + ".json"), "rb") as f:
        eq(json.loads(f.read()), man, "served manifest is the stored one")
    s.err(404, "not_found", "GET", A + "/backups/%s/manifest" % bid, key=other)
    s.err(404, "not_found", "GET", A + "/backups/b_999/manifest", key=key)
    s.err(401, "unauthorized", "GET", A + "/backups/%s/manifest" % bid)
    s.err(405, "method_not_allowed", "POST", A + "/backups/%s/manifest" % bid, {}, key)
    meta = s.ok("GET", A + "/backups/%s" % bid, key=key)
    eq((meta["status"], meta["size"], meta["database_key"], meta["duration_ms"]), ("good", len(data), "main", 12),
       "catalog entry")
    lst = s.ok("GET", A + "/backups", key=key)
    eq([b["backup_id"] for b in lst["backups"]], [bid], "catalog list")
    eq(s.ok("GET", A + "/backups", key=other)["backups"], [], "other app's catalog is empty")
    cli = json.loads(env.admin("backups", "shop", "--json").stdout)
    eq([(b["backup_id"], b["status"], b["sha256"]) for b in cli], [(bid, "good", sha)], "dumperd backups --json")
    agents = json.loads(env.admin("agents", "shop", "--json").stdout)
    eq(sorted((a["hostname"], a["role"]) for a in agents), [("web-1", "primary"), ("web-2", "secondary")],
       "dumperd agents --json")

    # corrupt the stored file: the download is cut short, never delivered whole
    with open(path, "r+b") as f:
        f.seek(100)
        b0 = f.read(1)
        f.seek(100)
        f.write(bytes([b0[0] ^ 1]))
    try:
        st, body, h = s.call("GET", A + "/backups/%s/download" % bid, key=key)
        check(st != 200 or body != data and len(body) < len(data), "a corrupt backup must not download whole")
    except Exception as e:  # IncompleteRead / connection reset: what we want
        check("Incomplete" in type(e).__name__ or isinstance(e, (ConnectionError, OSError)), repr(e))

    # --- fail: reported by the job, retried per policy ---
    env.admin("backup", "now", "shop", "--database", "redis-0")
    job = poll(s, key, a1)["job"]
    check(job and job["database_key"] == "redis-0", "second job")
    prep = s.ok("POST", A + "/backups/prepare", {"agent_id": a1, "job_id": job["job_id"]}, key)
    for i in range(1, 25):  # 24 x 4096 = 98304 bytes of parts; max_filesize is 100000
        s.ok("PUT", A + "/backups/%s/parts/%d" % (prep["backup_id"], i), key=key, raw=b"p" * 4096)
    s.err(413, "too_large", "PUT", A + "/backups/%s/parts/25" % prep["backup_id"], key=key, raw=b"p" * 4096)
    s.ok("PUT", A + "/backups/%s/parts/24" % prep["backup_id"], key=key, raw=b"p" * 4096)  # replacing is fine
    s.ok("PUT", A + "/backups/%s/parts/25" % prep["backup_id"], key=key, raw=b"p" * 1000)
    s.err(400, "invalid_request", "POST", A + "/backups/%s/fail" % prep["backup_id"], {"message": "x"}, key)
    s.err(400, "invalid_request", "POST", A + "/backups/%s/fail" % prep["backup_id"], {"code": "x", "message": 5},
          key)
    r = s.ok("POST", A + "/backups/%s/fail" % prep["backup_id"], {"code": "source_failed",
                                                                 "message": "redis: connection refused"}, key)
    eq(r["status"], "failed", "fail answer")
    s.ok("POST", A + "/backups/%s/fail" % prep["backup_id"], {"code": "source_failed"}, key)
    check(not os.path.exists(os.path.join(env.data, "parts", prep["backup_id"])), "parts removed after fail")
    s.err(409, "conflict", "PUT", A + "/backups/%s/parts/1" % prep["backup_id"], key=key, raw=b"x")
    meta = s.ok("GET", A + "/backups/%s" % prep["backup_id"], key=key)
    eq((meta["status"], meta["error_code"], meta["error_message"]), ("failed", "source_failed",
                                                                     "redis: connection refused"), "failed entry")
    job2 = poll(s, key, a1)["job"]
    eq((job2["job_id"], job2["reason"], job2["attempt"]), (job["job_id"], "retry", 2), "failed job retried")

    # --- job lease: neither commit nor fail in time -> lost, retried, then failed for good ---
    prep = s.ok("POST", A + "/backups/prepare", {"agent_id": a1, "job_id": job2["job_id"]}, key)
    s.set_clock(T0 + 601)
    meta = s.ok("GET", A + "/backups/%s" % prep["backup_id"], key=key)
    eq((meta["status"], meta["error_code"]), ("failed", "lost"), "lost backup")
    s.err(409, "conflict", "POST", A + "/backups/%s/commit" % prep["backup_id"],
          {"size": 1, "sha256": "0" * 64, "parts": 1}, key)
    s.err(409, "conflict", "POST", A + "/backups/prepare", {"agent_id": a1, "job_id": job2["job_id"]}, key)
    job3 = poll(s, key, a1)["job"]
    eq((job3["job_id"], job3["attempt"]), (job["job_id"], 3), "lost job retried")
    s.set_clock(T0 + 1300)
    eq(poll(s, key, a1)["job"], None, "no fourth attempt")
    # the lease was renewed by the poll at T0+601, so a1 is still primary
    eq(poll(s, key, a1)["role"], "primary", "primary keeps its lease by polling")

    # --- a failure no retry can fix (too_large, auth_failed, ...) fails the job at once ---
    env.admin("backup", "now", "shop", "--database", "redis-0")
    job = poll(s, key, a1)["job"]
    eq((job["database_key"], job["attempt"]), ("redis-0", 1), "job for the permanent failure")
    prep = s.ok("POST", A + "/backups/prepare", {"agent_id": a1, "job_id": job["job_id"]}, key)
    s.ok("POST", A + "/backups/%s/fail" % prep["backup_id"], {"code": "too_large", "message": "over the limit"}, key)
    eq(poll(s, key, a1)["job"], None, "a too_large failure is not retried")
    meta = s.ok("GET", A + "/backups/%s" % prep["backup_id"], key=key)
    eq((meta["status"], meta["error_code"]), ("failed", "too_large"), "permanent failure entry")

    # --- hostile input never crashes the server ---
    import random
    rnd = random.Random(5)
    for i in range(300):
        path = rnd.choice([A + "/agents/register", A + "/agents/poll", A + "/backups/prepare",
                           A + "/backups/%s/commit" % bid, A + "/backups/%s/fail" % bid])
        body = rnd.choice([
            bytes(rnd.getrandbits(8) for _ in range(rnd.randint(0, 200))),
            json.dumps({"hostname": rnd.choice(["", "x" * 300, None, 1, [], {}]), "pid": rnd.choice([1, -1, 1e300, "x"]),
                        "environment": rnd.choice(["p", "", None, 5, "\u00e9"]), "databases": rnd.choice([[], [{}], None, [1], "x"]),
                        "agent_id": rnd.choice(["a_1", "a_" + "9" * 30, None, {}, "a_1\u0000"]), "job_id": rnd.choice(["j_1", None, 3]),
                        "size": rnd.choice([0, -1, 1e20, "x", None]), "sha256": rnd.choice(["0" * 64, None, "g" * 64]),
                        "parts": rnd.choice([0, 1, 10001, -5, [], [1], None]), "code": rnd.choice(["", "x", None, 1])}).encode()])
        st, j, _ = s.call("POST", path, key=key, raw=body, headers={"Content-Type": "application/json"})
        check(st < 500, "fuzz %d: %s -> %d %r" % (i, body[:80], st, j))
    for junk in [b"\x00\x01\x02garbage\r\n\r\n", b"GET / HTTP/9.9\r\n\r\n", b"POST /api/v1/agents/poll HTTP/1.1\r\n" +
                 b"X: " + b"y" * 100000 + b"\r\n\r\n", b"PUT /api/v1/backups/b_1/parts/1 HTTP/1.1\r\nContent-Length: -5\r\n\r\n"]:
        raw_http(s.port, junk)
    eq(poll(s, key, a1)["role"], "primary", "server alive after hostile input")

    # PostgreSQL drops every dumperd connection (as in a server restart; terminating only this test's
    # database's backends keeps other tests on the shared server undisturbed): dumperd reconnects.
    if env.store_kind == "pg":
        psql = os.path.join(os.environ["DUMPER_TEST_PG_BIN"], "psql")
        out = subprocess.run([psql, "-h", "127.0.0.1", "-p", os.environ["DUMPER_TEST_PG_PORT"], "-U", "postgres",
                              "-d", "postgres", "-qAtc", "SELECT count(pg_terminate_backend(pid)) FROM "
                              "pg_stat_activity WHERE datname = '%s'" % env.pgdb], env=env.env, check=True,
                             capture_output=True, text=True).stdout
        check(int(out.strip()) >= 2, "dumperd's connections were terminated (%r)" % out)
        for i in range(3):
            eq(poll(s, key, a1)["role"], "primary", "poll after losing the PostgreSQL connections (%d)" % i)
        env.admin("backup", "now", "shop", "--database", "main")
        check(poll(s, key, a1)["job"], "a job after losing the PostgreSQL connections")


main(test)
