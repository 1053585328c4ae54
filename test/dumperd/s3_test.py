"""s3_test.py - dumperd with S3 storage (s3rver from scripts/services.sh): prepare creates a multipart
upload, the agent PUTs parts to presigned URLs (it never sees the storage credentials), commit completes
the upload and dumperd reads it back to check size and sha256; a checksum mismatch deletes the object and
retries the job; download streams from S3 with the check, the manifest endpoint reads it from S3;
`dumper verify` works on the object; retention deletes from S3, and so does `app delete --delete-backups`."""
import hashlib
import http.client
import json
import os
import subprocess
import urllib.parse
import uuid
from harness import DUMPER, check, eq, main, poll, register

T0 = 1800000000


def put_url(url, data):
    u = urllib.parse.urlsplit(url)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
    c.request("PUT", u.path + ("?" + u.query if u.query else ""), body=data)
    r = c.getresponse()
    r.read()
    c.close()
    eq(r.status, 200, "PUT to the presigned URL")
    return r.getheader("ETag")


def upload(s, key, agent, job, data, sha=None, part=5 * 1024 * 1024):
    p = s.ok("POST", "/api/v1/backups/prepare", {"agent_id": agent, "job_id": job, "format": "sql",
                                                 "compression": "none"}, key)
    eq(p["upload"]["kind"], "s3", "upload kind")
    bid = p["backup_id"]
    eq(p["upload"]["presign_url"], "/api/v1/backups/%s/parts/{n}/presign" % bid, "presign url template")
    s.err(409, "conflict", "PUT", "/api/v1/backups/%s/parts/1" % bid, key=key, raw=b"x")
    parts = []
    for i, off in enumerate(range(0, len(data), part), 1):
        ps = s.ok("POST", "/api/v1/backups/%s/parts/%d/presign" % (bid, i), {}, key)
        check("S3RVER" not in ps["url"] or "X-Amz-Credential=S3RVER" in ps["url"], "only the access key id")
        check("X-Amz-Signature=" in ps["url"] and ps["method"] == "PUT", "presigned: %r" % ps)
        parts.append({"n": i, "etag": put_url(ps["url"], data[off:off + part])})
    body = {"size": len(data), "sha256": sha or hashlib.sha256(data).hexdigest(), "parts": parts,
            "duration_ms": 3, "source_type": "sqlite", "database": "sqlite:/x.db"}
    return p, s.call("POST", "/api/v1/backups/%s/commit" % bid, body, key)


def test(env):
    if not os.environ.get("DUMPER_TEST_HAVE_S3"):
        print("skip: service s3 not running", file=__import__("sys").stderr)
        raise SystemExit(77)
    env.env.update(AWS_ACCESS_KEY_ID="S3RVER", AWS_SECRET_ACCESS_KEY="S3RVER", AWS_REGION="us-east-1",
                   AWS_ENDPOINT_URL=os.environ["DUMPER_TEST_S3_ENDPOINT"])
    env.env.pop("AWS_SESSION_TOKEN", None)
    loc = "s3://%s/dumperd-%s" % (os.environ["DUMPER_TEST_S3_BUCKET"], uuid.uuid4().hex[:8])
    key = env.app("shop")
    env.admin("retention", "set", "shop", "--keep-last", "1")
    s = env.serve("--storage", loc, clock=T0)
    s.any_key = key
    agent = register(s, key, "web-1", 1, dbs=[{"key": "main", "type": "sqlite"}])["agent_id"]

    # a checksum mismatch found after completion: object deleted, attempt failed, job retried
    env.admin("backup", "now", "shop")
    job = poll(s, key, agent)["job"]
    data = os.urandom(6 * 1024 * 1024 + 7)
    p, (st, j, _) = upload(s, key, agent, job["job_id"], data, sha="0" * 64)
    eq((st, j.get("error")), (422, "verification_failed"), "wrong sha256 on S3")
    meta = s.ok("GET", "/api/v1/backups/%s" % p["backup_id"], key=key)
    eq((meta["status"], meta["error_code"]), ("failed", "verification_failed"), "failed after read-back")
    v = subprocess.run([DUMPER, "verify", "%s/%s" % (loc, p["file_name"])], env=env.env, capture_output=True,
                       text=True)
    check(v.returncode != 0, "the mismatched object is gone")
    job2 = poll(s, key, agent)["job"]
    eq((job2["job_id"], job2["attempt"]), (job["job_id"], 2), "job retried")

    # the real thing
    p, (st, j, _) = upload(s, key, agent, job2["job_id"], data)
    eq((st, j.get("status")), (200, "good"), "commit on S3: %r" % j)
    path = "%s/%s" % (loc, p["file_name"])
    v = subprocess.run([DUMPER, "verify", path], env=env.env, capture_output=True, text=True)
    eq(v.returncode, 0, "dumper verify on the S3 object: " + v.stderr)
    st, body, h = s.call("GET", "/api/v1/backups/%s/download" % p["backup_id"], key=key)
    eq((st, len(body), h.get("X-Dumper-Sha256")), (200, len(data), hashlib.sha256(data).hexdigest()),
       "download from S3")
    eq(body, data, "downloaded bytes")
    man = s.ok("GET", "/api/v1/backups/%s/manifest" % p["backup_id"], key=key)
    eq((man["name"], man["sha256"], man["size"]), (p["file_name"], hashlib.sha256(data).hexdigest(), len(data)),
       "manifest from S3")

    # fail aborts; a second good backup makes retention (keep-last 1) delete the first from S3
    env.admin("backup", "now", "shop")
    job3 = poll(s, key, agent)["job"]
    p3 = s.ok("POST", "/api/v1/backups/prepare", {"agent_id": agent, "job_id": job3["job_id"]}, key)
    s.ok("POST", "/api/v1/backups/%s/parts/1/presign" % p3["backup_id"], {}, key)
    s.ok("POST", "/api/v1/backups/%s/fail" % p3["backup_id"], {"code": "source_failed"}, key)
    job4 = poll(s, key, agent)["job"]
    data2 = os.urandom(1000)
    p4, (st, j, _) = upload(s, key, agent, job4["job_id"], data2)
    eq(st, 200, "second commit")
    v = subprocess.run([DUMPER, "verify", path], env=env.env, capture_output=True, text=True)
    check(v.returncode != 0, "retention removed the older backup from S3")
    v = subprocess.run([DUMPER, "verify", "%s/%s" % (loc, p4["file_name"])], env=env.env, capture_output=True,
                       text=True)
    eq(v.returncode, 0, "the newest backup stays: " + v.stderr)
    cat = json.loads(env.admin("backups", "shop", "--json").stdout)
    eq([b["status"] for b in cat], ["good", "failed", "deleted", "failed"], "catalog")

    # app delete: refused while a backup exists; --delete-backups removes the object from S3
    d = env.admin("app", "delete", "shop", ok=False)
    eq(d.returncode, 6, "app delete refused: " + d.stderr)
    d = env.admin("app", "delete", "shop", "--delete-backups", ok=False)  # without serve's --storage
    check(d.returncode == 5 and "nothing deleted (give app delete serve's --storage)" in d.stderr,
          "app delete looking in the wrong storage: %d %s" % (d.returncode, d.stderr))
    poll(s, key, agent)
    d = env.admin("app", "delete", "shop", "--delete-backups", "--storage", loc)
    check("1 backup(s) removed from storage" in d.stderr, "app delete on S3: " + d.stderr)
    v = subprocess.run([DUMPER, "verify", "%s/%s" % (loc, p4["file_name"])], env=env.env, capture_output=True,
                       text=True)
    check(v.returncode != 0, "app delete removed the backup from S3")
    s.err(401, "unauthorized", "POST", "/api/v1/agents/poll", {"agent_id": agent}, key)


main(test)
