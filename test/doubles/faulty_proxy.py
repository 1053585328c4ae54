#!/usr/bin/python3
"""Test double: an HTTP proxy in front of an S3-compatible server (s3rver) that injects faults into
part uploads (PUT ...?partNumber=N&uploadId=...) and records every request it sees.
Usage: faulty_proxy.py LISTEN_PORT UPSTREAM_PORT LOGFILE MODE [ARG]
MODE:
  flaky [SHARE]   a SHARE (default 0.2) of part uploads fail: in turn HTTP 500, HTTP 503, a connection
                  reset (RST before any response) or a 2 s delay (then forwarded); deterministic (seeded)
  failparts       every part upload gets HTTP 500 (the client gives up and must abort)
  slow [SECONDS]  every part upload is delayed SECONDS (default 1) before being forwarded
  dropget         the first GET of each object (no query string) is cut after half its body (the
                  connection closes); later GETs are forwarded (logged with their Range header)
  pass            forward everything
  record DIR      forward everything, and keep the body of the first POST to each path in DIR (the file
                  named by the path, its "b_<digits>" as "b_N" and "/" as "_"; test/fuzz/make_corpus.sh)
Like S3 (and unlike s3rver), a Content-MD5 header that does not match the body gets 400 BadDigest
(logged as BADMD5). Every request is logged to LOGFILE as "<VERB> <method> <path-and-query>" where VERB is FWD or a fault
(F500, F503, RESET, DELAY); abort requests (DELETE ...?uploadId=) appear as FWD DELETE lines."""
import sys, os, re, socket, struct, time, random, threading, http.server, http.client, hashlib, base64

LISTEN, UP, LOG, MODE = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
ARG = sys.argv[5] if len(sys.argv) > 5 else None
lock = threading.Lock()
rng = random.Random(42)
counter = {"parts": 0}
dropped = set()
FAULTS = ["F500", "F503", "RESET", "DELAY"]

def log(msg):
    with lock:
        with open(LOG, "a") as f:
            f.write(msg + "\n")

def decide(method, path):
    if method != "PUT" or "partNumber=" not in path:
        return None
    with lock:
        counter["parts"] += 1
        n = counter["parts"]
        hit = rng.random() < float(ARG or 0.2)
    if MODE == "failparts":
        return "F500"
    if MODE == "slow":
        return "SLOW"
    if MODE == "flaky" and hit:
        return FAULTS[n % len(FAULTS)]
    return None

class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def handle_any(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        md5 = self.headers.get("Content-MD5")
        if md5 is not None and md5 != base64.b64encode(hashlib.md5(body).digest()).decode():
            log("BADMD5 %s %s" % (self.command, self.path))
            return self.reply(400, b"<Error><Code>BadDigest</Code><Message>Content-MD5 mismatch</Message></Error>")
        if MODE == "record" and self.command == "POST" and body:
            route = re.sub(r"b_[0-9]+", "b_N", self.path.split("?")[0]).strip("/").replace("/", "_")
            with lock:
                if not os.path.exists(os.path.join(ARG, route)):
                    with open(os.path.join(ARG, route), "wb") as f:
                        f.write(body)
        fault = decide(self.command, self.path)
        log("%s %s %s" % (fault or "FWD", self.command, self.path))
        if fault in ("F500", "F503"):
            code = int(fault[1:])
            msg = b"<Error><Code>%s</Code><Message>injected</Message></Error>" % (b"InternalError" if code == 500 else b"SlowDown")
            return self.reply(code, msg)
        if fault == "RESET":
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
            self.close_connection = True
            return
        if MODE == "dropget" and self.command == "GET":
            if "?" not in self.path and self.path not in dropped:
                with lock:
                    dropped.add(self.path)
                return self.forward(body, cut=True)
            log("GET %s range=%s" % (self.path, self.headers.get("Range", "")))
        if fault == "DELAY":
            time.sleep(2)
        if fault == "SLOW":
            time.sleep(float(ARG or 1))
        self.forward(body)

    def forward(self, body, cut=False):
        c = http.client.HTTPConnection("127.0.0.1", UP, timeout=120)
        fwd = {k: v for k, v in self.headers.items() if k.lower() != "host"}
        fwd["Host"] = self.headers.get("Host", "127.0.0.1:%d" % UP)
        c.request(self.command, self.path, body=body, headers=fwd)
        r = c.getresponse()
        data = r.read()
        self.send_response(r.status)
        for k, v in r.getheaders():
            if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(k, v)
        cl = r.getheader("Content-Length") if self.command == "HEAD" else None
        self.send_header("Content-Length", cl if cl is not None else str(len(data)))
        self.end_headers()
        if cut and len(data) > 1:
            log("DROP %s %s after %d of %d bytes" % (self.command, self.path, len(data) // 2, len(data)))
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)  # clean FIN: the client gets exactly half
            self.connection.close()
            self.close_connection = True
            return
        if self.command != "HEAD":
            self.wfile.write(data)
    def reply(self, code, body):
        self.send_response(code)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = handle_any

http.server.ThreadingHTTPServer.daemon_threads = True
http.server.ThreadingHTTPServer(("127.0.0.1", LISTEN), H).serve_forever()
