#!/usr/bin/env python3
"""latency.py PORT_A PORT_B N - N interleaved GET / requests to two local HTTP servers (one
connection per request, like a browser without keep-alive); prints the two medians in microseconds.
Interleaving makes both series see the same machine load, so their ratio is meaningful."""
import socket, statistics, sys, time

def one(port):
    t = time.perf_counter()
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    data = b""
    while True:
        b = s.recv(4096)
        if not b:
            break
        data += b
    s.close()
    if not data.endswith(b"ok\n"):
        raise SystemExit("bad answer from port %d" % port)
    return (time.perf_counter() - t) * 1e6

a, b, n = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
ta, tb = [], []
for _ in range(n):
    ta.append(one(a))
    tb.append(one(b))
print("%.0f %.0f" % (statistics.median(ta), statistics.median(tb)))
