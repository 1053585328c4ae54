"""hardening_test.py - dumperd against hostile clients, over real sockets (issue 11, items 3 and 5): the
per-address and total connection limits at and past them (a flood from one address does not lock out
another), the request header deadline against a silent and a trickling (slowloris) client, the login
limiter (not reset by another user's successful login, a new X-Forwarded-For, a new session, or throwaway
user names), control characters in paths (400, never a shortened route). Standard library only."""
import http.client
import json
import os
import re
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from harness import DUMPERD, Fail, check, eq, main  # noqa: E402

PASSWORD = "correct horse battery staple"


def sock_from(addr, port):
    """A TCP connection to dumperd from a chosen loopback source address."""
    s = socket.socket()
    s.bind((addr, 0))
    s.connect(("127.0.0.1", port))
    return s


def http_on(s, path="/login.html", timeout=5, extra=b""):
    """One GET on an open socket: the status, or None when the server closed or did not answer."""
    s.settimeout(timeout)
    try:
        s.sendall(b"GET " + path.encode() + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n" + extra + b"\r\n")
        data = b""
        while b"\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                return None
            data += chunk
        return int(data.split(b" ", 2)[1])
    except (socket.timeout, ConnectionError):
        return None


def closed_by_server(s, within):
    """True when the server ends the connection (EOF or reset) within `within` seconds."""
    s.settimeout(within)
    try:
        return s.recv(1) == b""
    except ConnectionError:
        return True
    except socket.timeout:
        return False


def wait_closed(s, within):
    end = time.time() + within
    while time.time() < end:
        if closed_by_server(s, 0.2):
            return True
    return False


def test_per_address(env):
    s = env.serve("--max-connections-per-address", "4", "--max-connections", "100")
    held = [sock_from("127.0.0.2", s.port) for _ in range(4)]
    for i, h in enumerate(held):  # at the limit: every one is served (and kept alive)
        eq(http_on(h), 200, "connection %d of 4 from 127.0.0.2" % (i + 1))
    extra = sock_from("127.0.0.2", s.port)  # past it: closed at once
    check(wait_closed(extra, 5), "a 5th connection from 127.0.0.2 was not refused")
    eq(http_on(sock_from("127.0.0.3", s.port)), 200, "another address while 127.0.0.2 is at its limit")
    held[0].close()  # a slot frees: 127.0.0.2 is served again
    deadline = time.time() + 10
    while True:
        if http_on(sock_from("127.0.0.2", s.port), timeout=2) == 200:
            break
        check(time.time() < deadline, "127.0.0.2 not served again after one of its connections closed")
        time.sleep(0.1)
    for h in held[1:]:
        h.close()
    s.stop()


def test_total(env):
    # One thread: libmicrohttpd divides the total among its threads.
    s = env.serve("--threads", "1", "--max-connections", "6", "--max-connections-per-address", "3")
    held = [sock_from(a, s.port) for a in ("127.0.0.2", "127.0.0.3") for _ in range(3)]
    for i, h in enumerate(held):
        eq(http_on(h), 200, "connection %d of 6 in all" % (i + 1))
    late = sock_from("127.0.0.4", s.port)
    eq(http_on(late, timeout=2), None, "a 7th connection in all was served")
    held[0].close()
    ok = False
    for _ in range(50):
        if http_on(sock_from("127.0.0.4", s.port), timeout=2) == 200:
            ok = True
            break
        time.sleep(0.1)
    check(ok, "a new client not served after a slot freed")
    for h in held[1:]:
        h.close()
    s.stop()
    p = env.admin("serve", "--max-connections", "999999", ok=False)
    eq(p.returncode, 2, "--max-connections over the descriptor budget: exit")
    check(re.fullmatch(r"dumperd: --max-connections 999999 is too close to the descriptor limit \(\d+\): at most"
                       r" \d+, or raise ulimit -n\n", p.stderr), "message: %r" % p.stderr)


def test_header_deadline(env):
    s = env.serve("--header-timeout", "2")
    t0 = time.time()
    silent = sock_from("127.0.0.5", s.port)
    trickle = sock_from("127.0.0.6", s.port)
    trickle.sendall(b"GET /login.html HTTP/1.1\r\n")
    closed = False
    while time.time() - t0 < 12:  # a header byte every 0.5 s: never idle, never complete
        try:
            trickle.sendall(b"X")
        except (BrokenPipeError, ConnectionError):
            closed = True
            break
        if closed_by_server(trickle, 0.5):
            closed = True
            break
    took = time.time() - t0
    check(closed, "a trickling client kept its connection for %.1f s" % took)
    check(1.5 <= took <= 8, "trickling client closed after %.1f s (deadline 2 s)" % took)
    check(wait_closed(silent, 4), "a silent client was not closed")
    # A prompt client is served, twice on one kept-alive connection.
    k = sock_from("127.0.0.7", s.port)
    eq(http_on(k), 200, "a prompt request")
    time.sleep(0.5)
    eq(http_on(k), 200, "a second request on the kept-alive connection")
    log = open(s.log).read()
    check("whose request headers did not arrive within 2000 ms" in log, "no log line for the closed connections")
    s.stop()


def test_control_paths(env):
    s = env.serve()
    for path in ("/login.html%00.js", "/login.html%00", "/ui/apps%00/1", "/api/v1/agents/register%00x",
                 "/login.html%0a", "/login%0d.html", "/%7f", "/metrics%00"):
        st, j, _ = s.call("GET", path)
        eq(st, 400, "GET %s" % path)
        eq(j, {"error": "invalid_request", "message": "control characters in the request path"}, "GET %s" % path)
    st, _, _ = s.call("GET", "/login.html%2e")  # an ordinary escape still decodes
    eq(st, 404, "GET /login.html%2e")
    st, _, _ = s.call("GET", "/login%2ehtml")
    eq(st, 200, "GET /login%2ehtml")
    s.stop()


def login(s, user, password, src="127.0.0.1", headers=None, cookie=None):
    c = http.client.HTTPConnection("127.0.0.1", s.port, timeout=60, source_address=(src, 0))
    h = {"Content-Type": "application/json"}
    h.update(headers or {})
    if cookie:
        h["Cookie"] = "dumper_session=" + cookie
    c.request("POST", "/ui/login", body=json.dumps({"user": user, "password": password}), headers=h)
    r = c.getresponse()
    r.read()
    ck = re.match(r"dumper_session=([0-9a-f]{64});", r.getheader("Set-Cookie") or "")
    c.close()
    return r.status, ck.group(1) if ck else None


def test_login_limiter(env):
    for u in ("admin", "bob"):
        r = subprocess.run([DUMPERD, "user", "create", u], input=PASSWORD + "\n", env=env.env,
                           capture_output=True, text=True, timeout=60)
        eq(r.returncode, 0, "user create " + u + ": " + r.stderr)
    s = env.serve()
    for i in range(10):
        eq(login(s, "admin", "wrong %d" % i)[0], 401, "failed login %d" % (i + 1))
    eq(login(s, "admin", PASSWORD)[0], 429, "the right password after 10 failures")
    st, bob = login(s, "bob", PASSWORD)  # another account logs in from the same address
    eq(st, 200, "bob logs in")
    eq(login(s, "admin", PASSWORD)[0], 429, "after bob's successful login")
    eq(login(s, "admin", PASSWORD, headers={"X-Forwarded-For": "10.9.8.7", "X-Real-IP": "10.9.8.7"})[0], 429,
       "with a new X-Forwarded-For")
    eq(login(s, "admin", PASSWORD, cookie=bob)[0], 429, "with a session cookie")
    eq(login(s, "admin", PASSWORD, src="127.0.0.8")[0], 200, "admin from another address")
    # Throwaway user names: the address is blocked after 30 failures in all; admin stays blocked.
    codes = [login(s, "junk%d" % i, "x", src="127.0.0.9")[0] for i in range(32)]
    eq(codes, [401] * 30 + [429] * 2, "throwaway user names from one address")
    eq(login(s, "bob", PASSWORD, src="127.0.0.9")[0], 429, "that address, even with a right password")
    eq(login(s, "admin", PASSWORD)[0], 429, "admin from the first address after the flood")
    s.stop()


def run(env):
    test_control_paths(env)
    test_per_address(env)
    test_total(env)
    test_header_deadline(env)
    test_login_limiter(env)


main(run)
