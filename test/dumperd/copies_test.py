"""copies_test.py - several destinations per backup (issue 16), on SQLite or PostgreSQL (DUMPERD_TEST_STORE):
`storage add/list/remove` (errors named, credentials never shown), every good backup copied by dumperd to
each destination (byte-equal, manifest too), a destination that is down (its directory replaced by a file)
retried with backoff, alerted once ("copy_behind") and caught up when it is back, per-destination retention
(keep-last 2 off-site while the first destination keeps everything), download and manifest falling back to
the next good copy after the first is deleted or corrupted (logged, "copy_fallback" alerted, the damaged
destination copy made again), `storage sync` of a late destination (within its retention, resumable after a
failure, idempotent), and with the S3 service an s3:// destination behind the botocore signature checker
(credentials from a file; down while its endpoint is stopped, caught up when it is back), and a second one on
the same service with Object Lock (headers sent and signed; the copy made server-side with CopyObject).
Standard library only."""
import hashlib
import json
import os
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from harness import Fail, check, eq, main, poll, register, run_backup  # noqa: E402
from ops_test import sql  # noqa: E402

A = "/api/v1"


def wait(what, fn, timeout=40):
    deadline = time.time() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.time() > deadline:
            raise Fail("timed out waiting for " + what)
        time.sleep(0.1)


def copies(env, app="shop"):
    return json.loads(env.admin("copies", app, "--json").stdout)


def state_of(env, bid, storage):
    for c in copies(env):
        if c["backup_id"] == bid and c["storage"] == storage:
            return c
    return None


def read(path):
    with open(path, "rb") as f:
        return f.read()


def backup(env, s, key, agent, data):
    env.admin("backup", "now", "shop")
    job = poll(s, key, agent)["job"]
    check(job, "a job")
    run_backup(s, key, agent, job["job_id"], data=data)
    b = json.loads(env.admin("backups", "shop", "--json").stdout)[0]
    eq(b["status"], "good", "backup committed")
    return b


def alerts(env, kind):
    return [r[0] for r in sql(env, "SELECT ref FROM alerts WHERE kind = '%s' ORDER BY id" % kind)]


def free_port():
    with socket.socket() as so:
        so.bind(("127.0.0.1", 0))
        return so.getsockname()[1]


def test_commands(env, d1, d2):
    p = env.admin("storage", "add", "off", d2, "--keep-last", "2")
    check("storage 'off' added" in p.stderr, "add says: " + p.stderr)
    p = env.admin("storage", "add", "off", d2 + "-x", ok=False)
    eq((p.returncode, p.stderr.strip()), (6, "dumperd: storage 'off' exists"), "same name")
    p = env.admin("storage", "add", "other", d2, ok=False)
    eq((p.returncode, p.stderr.strip()), (6, "dumperd: storage 'off' has the location '%s' already" % d2),
       "same location")
    p = env.admin("storage", "add", "first", d1, "--storage", d1, ok=False)
    eq((p.returncode, p.stderr.strip()), (6, "dumperd: '%s' is the first destination already (--storage)" % d1),
       "the first destination")
    p = env.admin("storage", "add", "rel", "relative/dir", ok=False)
    eq((p.returncode, p.stderr.strip()),
       (2, "dumperd: storage location 'relative/dir' must be an absolute directory or s3://bucket/prefix"), "relative")
    p = env.admin("storage", "add", "bad name", d2 + "-y", ok=False)
    eq(p.returncode, 2, "bad name: " + p.stderr)
    p = env.admin("storage", "add", "lk", d2 + "-z", "--object-lock-mode", "governance", "--object-lock-days", "3",
                  ok=False)
    check(p.returncode == 2 and "are for s3:// locations" in p.stderr, "object lock on a directory: " + p.stderr)
    p = env.admin("storage", "add", "cf", "s3://b/p", "--credentials-file", "/nonexistent/creds", ok=False)
    eq((p.returncode, p.stderr.strip()),
       (11, "dumperd: storage 'cf': unable to read the credentials file '/nonexistent/creds'"), "missing credentials")
    env.admin("storage", "add", "gone", d2 + "-gone")
    lst = json.loads(env.admin("storage", "list", "--json").stdout)
    eq([(x["name"], x["location"], x["kind"], x["retention"]["keep_last"], x["credentials"]) for x in lst],
       [("off", d2, "local", 2, "environment"), ("gone", d2 + "-gone", "local", 0, "environment")], "storage list")
    env.admin("storage", "remove", "gone")
    p = env.admin("storage", "remove", "gone", ok=False)
    eq((p.returncode, p.stderr.strip()), (5, "dumperd: unknown storage 'gone'"), "remove twice")
    out = env.admin("storage", "list").stdout
    eq(out, "off\t%s\tgood=0\tpending=0\tfailed=0\n" % d2, "storage list lines")


def test(env):
    d1, d2 = os.path.join(env.dir, "first"), os.path.join(env.dir, "off")
    test_commands(env, d1, d2)
    key = env.app("shop")
    s = env.serve("--storage", d1)
    s.any_key = key
    agent = register(s, key)["agent_id"]

    # --- every good backup copied, equal bytes and manifest ---
    data1 = b"first backup\n" * 1000
    b1 = backup(env, s, key, agent, data1)
    bid1, f1 = b1["backup_id"], b1["file_name"]
    c = wait("copy of b1", lambda: (state_of(env, bid1, "off") or {}).get("state") == "good" and state_of(env, bid1,
                                                                                                        "off"))
    eq((c["attempts"], c["error"]), (0, None), "copy row")
    check(read(os.path.join(d2, f1)) == data1, "copy equals the backup")
    eq(read(os.path.join(d2, f1 + ".json")), read(os.path.join(d1, f1 + ".json")), "manifest copied")

    # --- a destination down: retried with backoff, alerted once, caught up when back ---
    os.rename(d2, d2 + ".away")
    with open(d2, "w") as f:
        f.write("not a directory")
    data2 = b"second backup\n" * 1000
    b2 = backup(env, s, key, agent, data2)
    bid2, f2 = b2["backup_id"], b2["file_name"]
    c = wait("a failed copy", lambda: (state_of(env, bid2, "off") or {}).get("state") == "failed" and state_of(
        env, bid2, "off"))
    check(c["error"] and "storage 'off'" in c["error"], "the copy's error names the storage: %r" % c["error"])
    wait("the copy_behind alert", lambda: alerts(env, "copy_behind"), timeout=30)
    eq(alerts(env, "copy_behind"), ["%s@off" % bid2], "alerted once")
    eq(state_of(env, bid2, "off")["attempts"], 3, "three attempts so far")
    os.unlink(d2)
    os.rename(d2 + ".away", d2)
    wait("the copy catching up", lambda: (state_of(env, bid2, "off") or {}).get("state") == "good", timeout=30)
    check(read(os.path.join(d2, f2)) == data2, "caught-up copy equals the backup")
    eq(alerts(env, "copy_behind"), ["%s@off" % bid2], "no second alert")

    # --- retention per destination: keep-last 2 there, everything in the first destination ---
    data3 = b"third backup\n" * 1000
    b3 = backup(env, s, key, agent, data3)
    bid3, f3 = b3["backup_id"], b3["file_name"]
    wait("copy of b3", lambda: (state_of(env, bid3, "off") or {}).get("state") == "good")
    wait("retention off-site", lambda: (state_of(env, bid1, "off") or {}).get("state") == "deleted")
    check(not os.path.exists(os.path.join(d2, f1)) and not os.path.exists(os.path.join(d2, f1 + ".json")),
          "the oldest copy removed off-site")
    check(os.path.exists(os.path.join(d2, f2)) and os.path.exists(os.path.join(d2, f3)), "two newest kept off-site")
    check(all(os.path.exists(os.path.join(d1, f)) for f in (f1, f2, f3)), "the first destination keeps all")

    # --- fallback: the first copy deleted, then a copy corrupted in place ---
    os.unlink(os.path.join(d1, f3))
    st, body, _ = s.call("GET", A + "/backups/%s/download" % bid3, key=key)
    eq((st, hashlib.sha256(body).hexdigest()), (200, hashlib.sha256(data3).hexdigest()), "download from 'off'")
    wait("copy_fallback alert", lambda: "%s@--storage" % bid3 in alerts(env, "copy_fallback"))
    check("backup %s in storage '--storage'" % bid3 in open(s.log).read(), "the fallback is logged")
    man = s.ok("GET", A + "/backups/%s/manifest" % bid3, key=key)
    eq(man["sha256"], hashlib.sha256(data3).hexdigest(), "manifest from 'off'")
    # a same-size corruption of the first copy of b2: found by its checksum before anything is sent
    with open(os.path.join(d1, f2), "r+b") as f:
        f.seek(7)
        f.write(b"X")
    st, body, _ = s.call("GET", A + "/backups/%s/download" % bid2, key=key)
    eq((st, hashlib.sha256(body).hexdigest()), (200, hashlib.sha256(data2).hexdigest()),
       "download of b2 from 'off' after corruption of the first copy")
    # and a corrupted copy in 'off' (b3, whose first copy is gone): nothing good is left, never sent whole
    with open(os.path.join(d2, f3), "r+b") as f:
        f.seek(7)
        f.write(b"X")
    try:  # (the cut-short response is not always closed at once: a short timeout, also a failure to deliver)
        st, body, _ = s.call("GET", A + "/backups/%s/download" % bid3, key=key, timeout=3)
        check(st != 200 or body != data3 and len(body) < len(data3), "a corrupt last copy must not download whole")
    except Exception as e:  # IncompleteRead / connection reset / timeout: what we want
        check("Incomplete" in type(e).__name__ or isinstance(e, (ConnectionError, OSError)), repr(e))
    check("download: stored file does not match its sha256" in open(s.log).read(), "the corrupt last copy logged")

    # heal what the fallback checks damaged (the catalog still calls those copies good)
    for path, data in ((os.path.join(d1, f3), data3), (os.path.join(d2, f3), data3), (os.path.join(d1, f2), data2)):
        with open(path, "wb") as f:
            f.write(data)

    # --- sync of a late destination: within its retention, resumable, idempotent (dumperd serve stopped: the
    # command does the copies itself) ---
    s.stop()
    d3 = os.path.join(env.dir, "late")
    env.admin("storage", "add", "late", d3, "--keep-last", "2")
    with open(os.path.join(env.dir, "late-blocker"), "w"):
        pass
    os.rename(d3, d3 + ".away")
    os.rename(os.path.join(env.dir, "late-blocker"), d3)
    p = env.admin("storage", "sync", "late", ok=False)
    eq(p.returncode, 13, "sync with the destination down: " + p.stderr)
    check("storage 'late': 2 copies queued, 0 copied, 2 failed" in p.stderr, "sync says: " + p.stderr)
    os.unlink(d3)
    os.rename(d3 + ".away", d3)
    p = env.admin("storage", "sync", "late")
    eq(p.stderr.strip().splitlines()[-1], "storage 'late': 2 copies queued, 2 copied, 0 failed", "resumed sync")
    eq(sorted(c["backup_id"] for c in copies(env) if c["storage"] == "late" and c["state"] == "good"),
       sorted([bid2, bid3]), "late copies in the catalog")
    eq(sorted(os.listdir(d3)), sorted([f2, f2 + ".json", f3, f3 + ".json"]), "the two newest in the late one")
    check(read(os.path.join(d3, f2)) == data2, "late copy equals the backup")
    p = env.admin("storage", "sync", "late")
    eq(p.stderr.strip(), "storage 'late': 0 copies queued, 0 copied, 0 failed", "sync again: nothing to do (and says"
       " nothing else)")
    s.start()
    retention_waits(env, s, key, agent, d1, d2)
    if os.environ.get("DUMPER_TEST_HAVE_S3") and env.store_kind == "sqlite":
        test_s3(env, s, key, agent, d1, lambda: delete_all(env, s, (d1, d2, d3)))
    else:
        delete_all(env, s, (d1, d2, d3))


def retention_waits(env, s, key, agent, d1, d2):
    """The first destination's retention (keep-last 1) keeps a backup until its copies are made."""
    env.admin("retention", "set", "shop", "--keep-last", "1")
    os.rename(d2, d2 + ".away")
    with open(d2, "w") as f:
        f.write("not a directory")
    bx = backup(env, s, key, agent, b"waits for its copy\n" * 100)
    wait("bx's copy failing", lambda: (state_of(env, bx["backup_id"], "off") or {}).get("state") == "failed")
    backup(env, s, key, agent, b"a newer one\n" * 100)  # its commit applies keep-last 1
    status = {b["backup_id"]: b["status"] for b in json.loads(env.admin("backups", "shop", "--json").stdout)}
    eq(status[bx["backup_id"]], "good", "a backup not yet copied everywhere is kept")
    check(os.path.exists(os.path.join(d1, bx["file_name"])), "and its file")
    check(list(status.values()).count("deleted") >= 3, "older ones, copied everywhere, deleted: %r" % status)
    os.unlink(d2)
    os.rename(d2 + ".away", d2)
    wait("bx's copy", lambda: (state_of(env, bx["backup_id"], "off") or {}).get("state") == "good", timeout=30)
    env.admin("retention", "set", "shop")  # keep everything again


def delete_all(env, s, dirs):
    """app delete --delete-backups removes the copies in every destination too."""
    s.stop()
    p = env.admin("app", "delete", "shop", "--delete-backups", "--storage", dirs[0])
    check("backup(s) removed from storage" in p.stderr and "could not be" not in p.stderr, "app delete: " + p.stderr)
    for d in dirs:
        eq([f for f in os.listdir(d) if f.startswith("shop-")], [], "nothing of shop left in " + d)
    eq(sql(env, "SELECT COUNT(*) FROM copies"), [["0"]], "no copy rows left")


def test_s3(env, s, key, agent, d1, then):
    port = free_port()
    log = os.path.join(env.dir, "sigv4.log")
    proxy_cmd = ["/usr/bin/python3", os.path.join(os.path.dirname(__file__), "..", "doubles", "sigv4_proxy.py"),
                 str(port), os.environ["DUMPER_TEST_S3_PORT"], "S3RVER", "S3RVER", log]

    def start_proxy():
        pr = subprocess.Popen(proxy_cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        def up():
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                return True
            except OSError:
                return False
        wait("the sigv4 proxy", up, timeout=20)
        return pr

    proxy = start_proxy()
    try:
        creds = os.path.join(env.dir, "s3.creds")
        with open(creds, "w") as f:
            f.write("# test\nAWS_ACCESS_KEY_ID=S3RVER\nAWS_SECRET_ACCESS_KEY=S3RVER\n")
        os.chmod(creds, 0o600)
        loc = "s3://%s/copies-%d" % (os.environ["DUMPER_TEST_S3_BUCKET"], os.getpid())
        env.admin("storage", "add", "cloud", loc, "--endpoint", "http://127.0.0.1:%d" % port, "--path-style",
                  "--credentials-file", creds)
        # Object Lock: s3rver ignores the headers, so the signature checker shows that they are sent and signed
        p = env.admin("storage", "add", "vault", loc + "-vault", "--endpoint", "http://127.0.0.1:%d" % port,
                      "--path-style", "--credentials-file", creds, "--object-lock-mode", "sealed",
                      "--object-lock-days", "2", ok=False)
        eq((p.returncode, p.stderr.strip()),
           (2, "dumperd: invalid --object-lock-mode 'sealed' (governance or compliance)"), "lock mode")
        env.admin("storage", "add", "vault", loc + "-vault", "--endpoint", "http://127.0.0.1:%d" % port,
                  "--path-style", "--credentials-file", creds, "--object-lock-mode", "compliance",
                  "--object-lock-days", "2")
        out = env.admin("storage", "list", "--json").stdout
        check("S3RVER" not in out and "cloud" in out, "no credential in storage list")
        vault = [x for x in json.loads(out) if x["name"] == "vault"][0]
        eq((vault["object_lock"], vault["credentials"], vault["addressing"]),
           ({"mode": "compliance", "days": 2}, "file", "path"), "vault in storage list")
        data = b"s3 copy\n" * 5000
        b = backup(env, s, key, agent, data)
        bid = b["backup_id"]
        wait("the copies", lambda: all((state_of(env, bid, n) or {}).get("state") == "good" for n in
                                       ("off", "late", "cloud", "vault")))
        locked = [x for x in open(log).read().splitlines() if x.startswith("OK PUT") and "-vault/" in x]
        eq(sorted(x.split()[2].rsplit("/", 1)[1] for x in locked), [b["file_name"], b["file_name"] + ".json"],
           "the vault's writes")
        want = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 2 * 86400))
        check(all(" lock=COMPLIANCE until=%sT" % want in x for x in locked), "object lock headers: %r" % locked)
        # the vault is on the same service as 'cloud': its backup was copied server-side from there
        eq([x.split(" copy=")[1] for x in locked if " copy=" in x],
           ["/%s/%s/%s" % (os.environ["DUMPER_TEST_S3_BUCKET"], loc.split("/", 3)[3], b["file_name"])],
           "server-side copy from 'cloud'")
        check(not [x for x in open(log).read().splitlines() if x.startswith("OK PUT") and "-vault/" not in x and
                   "lock=" in x], "no lock headers on the other destination")
        # served from S3 when the directory copies are gone
        os.unlink(os.path.join(d1, b["file_name"]))
        for c in copies(env):
            if c["backup_id"] == bid and c["storage"] in ("off", "late"):
                path = os.path.join(env.dir, c["storage"], b["file_name"])
                if os.path.exists(path):
                    os.unlink(path)
        st, body, _ = s.call("GET", A + "/backups/%s/download" % bid, key=key)
        eq((st, hashlib.sha256(body).hexdigest()), (200, hashlib.sha256(data).hexdigest()), "download from S3")
        with open(os.path.join(d1, b["file_name"]), "wb") as f:  # (app delete checks the first destination)
            f.write(data)
        # down (endpoint stopped) then back
        proxy.terminate()
        proxy.wait(10)
        data2 = b"s3 copy while down\n" * 100
        b2 = backup(env, s, key, agent, data2)
        wait("a failed s3 copy", lambda: (state_of(env, b2["backup_id"], "cloud") or {}).get("state") == "failed")
        proxy = start_proxy()
        wait("the s3 copy catching up", lambda: (state_of(env, b2["backup_id"], "cloud") or {}).get("state") == "good",
             timeout=30)
        lines = open(log).read().splitlines()
        check(lines and not [x for x in lines if not x.startswith("OK ")], "every S3 request signed right: %r" % [
            x for x in lines if not x.startswith("OK ")][:3])
        check([x for x in lines if x.startswith("OK PUT")], "the copy went through the proxy")
        then()
        deletes = [x for x in open(log).read().splitlines() if x.startswith("OK DELETE")]
        check([x for x in deletes if "-vault/" in x] and [x for x in deletes if "-vault/" not in x],
              "copies deleted in both S3 destinations: %r" % deletes)
    finally:
        proxy.terminate()
        proxy.wait(10)


if __name__ == "__main__":
    main(test)
