#!/usr/bin/env python3
"""fake_api.py - TEST DOUBLE of dumperd's agent API (docs/protocol.md), for the agent's tests only.

It implements just enough of the protocol (register, poll, prepare, part upload, commit, fail) for
one agent, and can MISBEHAVE on purpose, which the real dumperd never does: answer garbage, answer
slowly, refuse the key. The real dumperd is used for every end-to-end test of backups; this double
exists for the failure modes.

  fake_api.py PORT STATEDIR [--tls CERT KEY]
Control (no auth): POST /_mode/<ok|garbage|slow|401|huge|hang|flakyparts|hugelimits|500|notfound|html>
(flakyparts: the first upload of every part gets 503 and a dropped body, the retry succeeds; hugelimits:
prepare answers limits of 1e300; 500: dumperd-style JSON 500 errors; notfound and html: what a web server
that is not dumperd answers, an HTML 404 page or an HTML 200 page), POST /_job (queue a backup job for
the first database), GET /_stats (JSON counters). Every API request is appended to STATEDIR/requests.log.
--tls: HTTPS with that certificate; every accepted connection is logged as "TLS accept" (a client that
refuses the certificate sends no request).
"""
import hashlib, json, os, ssl, sys, threading, time
from http.server import ThreadingHTTPServer, BaseHTTPRequestHandler

PORT, STATE = int(sys.argv[1]), sys.argv[2]
lock = threading.Lock()
st = {"mode": "ok", "registers": 0, "polls": 0, "agents": {}, "jobs": [], "next": 1, "backups": {},
      "committed": 0, "failed": 0, "pids": []}


def log(line):
    with open(os.path.join(STATE, "requests.log"), "a") as f:
        f.write(line + "\n")


class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def send(self, code, obj=None, raw=None):
        body = raw if raw is not None else json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def do_GET(self):
        self.body()
        if self.path == "/_stats":
            with lock:
                return self.send(200, {k: st[k] for k in ("mode", "registers", "polls", "committed", "failed", "pids")} | {"part_errors": st.get("part_errors", 0)})
        self.send(404, {"error": "not_found", "message": "no such path"})

    def do_PUT(self):
        return self.do_POST()

    def do_POST(self):
        data = self.body()
        p = self.path
        if p.startswith("/_mode/"):
            with lock:
                st["mode"] = p[len("/_mode/"):]
            return self.send(200, {"mode": st["mode"]})
        if p == "/_job":
            with lock:
                jid = "j_%d" % st["next"]; st["next"] += 1
                st["jobs"].append(jid)
            return self.send(200, {"job_id": jid})
        mode = st["mode"]
        log("%s %s %s" % (self.command, p, mode))
        if mode == "slow":
            time.sleep(20)
        if mode == "hang":
            time.sleep(3600)
        if mode == "garbage":
            return self.send(200, raw=os.urandom(512))
        if mode == "huge":
            return self.send(200, raw=b"{" + b" " * (2 << 20) + b"}")
        if mode == "401":
            return self.send(401, {"error": "unauthorized", "message": "bad key"})
        if mode == "500":
            return self.send(500, {"error": "internal", "message": "database is locked"})
        if mode in ("notfound", "html"):
            page = b"<!DOCTYPE html><html><body><h1>%s</h1></body></html>" % (b"Not Found" if mode == "notfound" else b"Welcome")
            self.send_response(404 if mode == "notfound" else 200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            return self.wfile.write(page)
        if not (self.headers.get("Authorization") or "").startswith("Bearer dk_"):
            return self.send(401, {"error": "unauthorized", "message": "missing key"})
        try:
            req = json.loads(data) if p.startswith("/api/v1/") and "/parts/" not in p else None
        except ValueError:
            return self.send(400, {"error": "invalid_json", "message": "bad json"})
        with lock:
            if p == "/api/v1/agents/register":
                st["registers"] += 1
                st["pids"].append(req["pid"])
                aid = "a_%d" % st["next"]; st["next"] += 1
                st["agents"][aid] = req
                ids = [{"key": d.get("key", "db"), "id": "d_%d" % i} for i, d in enumerate(req["databases"])]
                return self.send(200, {"agent_id": aid, "role": "primary", "interval": 1, "lease": 900,
                                       "limits": {"max_filesize": 1 << 40, "max_part_size": 1 << 20, "max_parts": 10000},
                                       "databases": ids})
            if p == "/api/v1/agents/poll":
                st["polls"] += 1
                if req.get("agent_id") not in st["agents"]:
                    return self.send(404, {"error": "not_found", "message": "unknown agent"})
                job = None
                if st["jobs"]:
                    job = {"job_id": st["jobs"].pop(0), "database_id": "d_0", "reason": "manual"}
                return self.send(200, {"role": "primary", "interval": 1, "job": job})
            if p == "/api/v1/backups/prepare":
                bid = "b_%d" % st["next"]; st["next"] += 1
                st["backups"][bid] = {}
                huge = mode == "hugelimits"  # numbers no integer holds: the job ignores them
                return self.send(200, {"backup_id": bid, "file_name": bid, "max_filesize": 1e300 if huge else 1 << 40,
                                       "upload": {"kind": "local", "part_url": "/api/v1/backups/%s/parts/{n}" % bid,
                                                  "max_part_size": 1e300 if huge else 1 << 20,
                                                  "max_parts": 1e300 if huge else 10000}})
            if "/parts/" in p:
                bid, n = p.split("/")[4], int(p.split("/")[6])
                if mode == "flakyparts" and (bid, n) not in st.setdefault("flaked", set()):
                    st["flaked"].add((bid, n))
                    st["part_errors"] = st.get("part_errors", 0) + 1
                    return self.send(503, {"error": "unavailable", "message": "try again"})
                st["backups"][bid][n] = data
                return self.send(200, {"part": n, "size": len(data)})
            if p.endswith("/commit"):
                bid = p.split("/")[4]
                parts = st["backups"][bid]
                blob = b"".join(parts[i] for i in sorted(parts))
                if hashlib.sha256(blob).hexdigest() != req["sha256"] or len(blob) != req["size"]:
                    return self.send(422, {"error": "verification_failed", "message": "mismatch"})
                with open(os.path.join(STATE, bid + ".bin"), "wb") as f:
                    f.write(blob)
                st["committed"] += 1
                return self.send(200, {"backup_id": bid, "status": "good"})
            if p.endswith("/fail"):
                st["failed"] += 1
                return self.send(200, {"status": "failed"})
        self.send(404, {"error": "not_found", "message": "no such path"})


class Server(ThreadingHTTPServer):
    daemon_threads = True
    tls = None

    def get_request(self):
        sock, addr = self.socket.accept()
        if self.tls is None:
            return sock, addr
        log("TLS accept")
        # the handshake runs in the handler's thread, on its first read: a client refusing the
        # certificate does not hold up the others
        return self.tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), addr


srv = Server(("127.0.0.1", PORT), H)
if len(sys.argv) > 5 and sys.argv[3] == "--tls":
    srv.tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    srv.tls.load_cert_chain(sys.argv[4], sys.argv[5])
srv.serve_forever()
