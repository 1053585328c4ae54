#!/usr/bin/python3
"""Independent reference for the SigV4 unit tests: presigns a URL and signs a request with the
botocore bundled in Debian's awscli, for a fixed timestamp.
  botocore_presign.py presign METHOD URL REGION EXPIRES AMZDATE AK SK [TOKEN]
  botocore_presign.py auth METHOD URL REGION AMZDATE PAYLOAD_HASH AK SK [HEADER:VALUE ...]
Prints the presigned URL, or the Authorization header value."""
import sys, datetime, types
from awscli.botocore.session import Session  # noqa: F401  (import order resolves botocore.crt)
import botocore.auth as A
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.awsrequest import HTTPHeaders

def freeze(amzdate):
    fixed = datetime.datetime.strptime(amzdate, "%Y%m%dT%H%M%SZ")
    class Frozen(datetime.datetime):
        @classmethod
        def utcnow(cls):
            return fixed
    A.datetime = types.SimpleNamespace(datetime=Frozen)

def main():
    mode = sys.argv[1]
    if mode == "presign":
        method, url, region, expires, amzdate, ak, sk = sys.argv[2:9]
        tok = sys.argv[9] if len(sys.argv) > 9 else None
        req = AWSRequest(method=method, url=url, headers={})
        freeze(amzdate)
        A.S3SigV4QueryAuth(Credentials(ak, sk, tok), "s3", region, expires=int(expires)).add_auth(req)
        print(req.url)
    else:
        method, url, region, amzdate, payload, ak, sk = sys.argv[2:9]
        hdrs = dict(h.split(":", 1) for h in sys.argv[9:])
        req = AWSRequest(method=method, url=url, headers=hdrs)
        req.headers["X-Amz-Content-SHA256"] = payload
        req.context["timestamp"] = amzdate
        signer = A.S3SigV4Auth(Credentials(ak, sk), "s3", region)
        names = sorted(set([k.lower() for k in hdrs] + ["host", "x-amz-date", "x-amz-content-sha256"]))
        def hts(r):
            h = HTTPHeaders()
            for n in names:
                if n == "host":
                    h[n] = A._host_from_url(r.url) if hasattr(A, "_host_from_url") else r.url.split("/")[2]
                elif n == "x-amz-date":
                    h[n] = amzdate
                else:
                    h[n] = r.headers.get(n, "")
            return h
        signer.headers_to_sign = hts
        req.headers["X-Amz-Date"] = amzdate
        cr = signer.canonical_request(req)
        sts = signer.string_to_sign(req, cr)
        sig = signer.signature(sts, req)
        print("AWS4-HMAC-SHA256 Credential=%s/%s/%s/s3/aws4_request, SignedHeaders=%s, Signature=%s"
              % (ak, amzdate[:8], region, ";".join(names), sig))

main()
