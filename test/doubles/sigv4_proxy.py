#!/usr/bin/python3
"""(Copy of the project's shared tool ../shared/tools/sigv4_proxy.py, kept here so the S3 tests run
on a fresh checkout; this copy also forwards virtual-host requests: the Host name is kept.)
An S3 front that checks every request's AWS SigV4 signature with botocore (bundled in Debian's
awscli), then forwards it to an upstream S3-compatible server (s3rver, which checks none).
Usage: sigv4_proxy.py LISTEN_PORT UPSTREAM_PORT ACCESS_KEY SECRET_KEY LOGFILE
A request whose signature does not match gets 403 SignatureDoesNotMatch and a line in LOGFILE; a
good one is logged "OK METHOD PATH host=HOST[ presigned]" (HOST as sent, e.g. bucket.s3.localhost:port;
"presigned" when the signature was in the query string)."""
import sys, http.server, http.client, urllib.parse, re, threading
from awscli.botocore.session import Session  # noqa: F401  (import order resolves botocore.crt)
import botocore.auth as A
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

LISTEN, UP, AK, SK, LOG = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
lock = threading.Lock()
stats = {"ok": 0, "bad": 0, "unsigned": 0}

def log(msg):
    with lock:
        with open(LOG, "a") as f:
            f.write(msg + "\n")

def expected_header_sig(method, url, headers):
    auth = headers.get("Authorization", "")
    m = re.match(r"AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request, ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]+)", auth)
    if not m:
        return None, None
    ak, _date, region, service, signed, sig = m.groups()
    names = signed.split(";")
    hdrs = {n: headers.get(n, "") for n in names}
    req = AWSRequest(method=method, url=url, headers=hdrs)
    req.context["timestamp"] = headers.get("x-amz-date", "")
    signer = A.S3SigV4Auth(Credentials(AK, SK, headers.get("x-amz-security-token")), service, region)
    # sign exactly the headers the client declared
    signer.headers_to_sign = lambda r: _hdrs(r, names)
    cr = signer.canonical_request(req)
    sts = signer.string_to_sign(req, cr)
    return signer.signature(sts, req), sig

def _hdrs(req, names):
    from botocore.awsrequest import HTTPHeaders
    h = HTTPHeaders()
    for n in names:
        h[n] = req.headers.get(n, "")
    return h

def expected_query_sig(method, url, headers):
    u = urllib.parse.urlsplit(url)
    q = urllib.parse.parse_qsl(u.query, keep_blank_values=True)
    qd = dict(q)
    if "X-Amz-Signature" not in qd:
        return None, None
    cred = qd["X-Amz-Credential"].split("/")
    region, service = cred[2], cred[3]
    names = qd["X-Amz-SignedHeaders"].split(";")
    rest = [(k, v) for k, v in q if k != "X-Amz-Signature"]
    url2 = urllib.parse.urlunsplit((u.scheme, u.netloc, u.path, urllib.parse.urlencode(rest, quote_via=urllib.parse.quote, safe="-_.~"), ""))
    req = AWSRequest(method=method, url=url2, headers={n: headers.get(n, "") for n in names})
    req.context["timestamp"] = qd["X-Amz-Date"]
    signer = A.S3SigV4QueryAuth(Credentials(AK, SK, qd.get("X-Amz-Security-Token")), service, region, expires=int(qd.get("X-Amz-Expires", "3600")))
    signer.headers_to_sign = lambda r: _hdrs(r, names)
    req.headers["X-Amz-Content-SHA256"] = "UNSIGNED-PAYLOAD"
    cr = signer.canonical_request(req)
    # botocore's query canonical request puts the payload hash last; presigned S3 uses UNSIGNED-PAYLOAD
    cr = "\n".join(cr.split("\n")[:-1] + ["UNSIGNED-PAYLOAD"])
    sts = signer.string_to_sign(req, cr)
    return signer.signature(sts, req), qd["X-Amz-Signature"]

class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def handle_any(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        host = self.headers.get("Host", "127.0.0.1:%d" % LISTEN)
        url = "http://%s%s" % (host, self.path)
        hdrs = {k.lower(): v for k, v in self.headers.items()}
        hdrs["Authorization"] = self.headers.get("Authorization", "")
        presigned = ""
        try:
            exp, got = expected_header_sig(self.command, url, {**hdrs, **{k: v for k, v in self.headers.items()}})
            if exp is None:
                exp, got = expected_query_sig(self.command, url, hdrs)
                presigned = " presigned"
        except Exception as e:  # a malformed signature is a bad signature
            exp, got = "error:%s" % e, "x"
        if exp is None:
            stats["unsigned"] += 1
            log("UNSIGNED %s %s" % (self.command, self.path))
            return self.reply(403, b"<Error><Code>AccessDenied</Code></Error>")
        if exp != got:
            stats["bad"] += 1
            log("BAD %s %s expected=%s got=%s" % (self.command, self.path, exp, got))
            return self.reply(403, b"<Error><Code>SignatureDoesNotMatch</Code></Error>")
        stats["ok"] += 1
        lock = self.headers.get("x-amz-object-lock-mode")
        lock = " lock=%s until=%s" % (lock, self.headers.get("x-amz-object-lock-retain-until-date")) if lock else ""
        src = self.headers.get("x-amz-copy-source")
        log("OK %s %s host=%s%s%s%s" % (self.command, self.path.split("?")[0], host, presigned, lock,
                                        " copy=%s" % src if src else ""))
        c = http.client.HTTPConnection("127.0.0.1", UP, timeout=120)
        fwd = {k: v for k, v in self.headers.items() if k.lower() not in ("host",)}
        # keep the host name (a virtual-host request names its bucket there), with the upstream's port
        fwd["Host"] = "%s:%d" % (urllib.parse.urlsplit("//" + host).hostname or "127.0.0.1", UP)
        c.request(self.command, self.path, body=body, headers=fwd)
        r = c.getresponse()
        data = r.read()
        self.send_response(r.status)
        for k, v in r.getheaders():
            if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(k, v)
        # a HEAD answer has no body but the object's length (S3 stat reads it)
        head_len = r.getheader("Content-Length") if self.command == "HEAD" else None
        self.send_header("Content-Length", head_len if head_len is not None else str(len(data)))
        self.end_headers()
        self.wfile.write(data)
    def reply(self, code, body):
        self.send_response(code)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = handle_any

http.server.ThreadingHTTPServer(("127.0.0.1", LISTEN), H).serve_forever()
