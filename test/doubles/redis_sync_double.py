#!/usr/bin/python3
"""redis_sync_double.py - a TEST DOUBLE of a Redis master that serves a broken snapshot.

Real Redis never sends a bad RDB on purpose, so the checks dumper makes on the replication stream
(length, CRC-64 trailer) are exercised against this double:

    redis_sync_double.py PORT RDBFILE MODE READYFILE
      MODE corrupt  send the full announced length, one content byte flipped (checksum mismatch)
      MODE short    announce the real length, send half of it, close (server dies mid-transfer)
      MODE nullrdb  send a snapshot that is not an RDB at all

It answers AUTH and PING with +OK/+PONG, sends two "\\n" keepalives before the "$<len>" header like a
saving master, serves one SYNC and exits. It writes READYFILE once listening.
"""
import socket
import sys


def main():
    port, rdbfile, mode, ready = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
    data = open(rdbfile, "rb").read()
    if mode == "corrupt":
        b = bytearray(data)
        b[len(b) // 2] ^= 0x01
        data = bytes(b)
    elif mode == "nullrdb":
        data = b"NOTANRDB" + data[8:]
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", port))
    srv.listen(4)
    open(ready, "w").close()
    while True:
        conn, _ = srv.accept()
        buf = b""
        done = False
        while not done:
            chunk = conn.recv(4096)
            if not chunk:
                break
            buf += chunk
            while True:
                if buf.startswith(b"SYNC\r\n"):
                    buf = buf[6:]
                    conn.sendall(b"\n\n$%d\r\n" % len(data))
                    conn.sendall(data if mode != "short" else data[: len(data) // 2])
                    done = True
                    break
                if not buf.startswith(b"*"):
                    break
                # A RESP array command: *N\r\n($len\r\narg\r\n)*N
                parts = buf.split(b"\r\n")
                n = int(parts[0][1:])
                if len(parts) < 1 + 2 * n + 1:
                    break
                cmd = parts[2].upper()
                consumed = sum(len(p) + 2 for p in parts[: 1 + 2 * n])
                buf = buf[consumed:]
                conn.sendall(b"+PONG\r\n" if cmd == b"PING" else b"+OK\r\n")
        conn.close()
        if done:
            return


if __name__ == "__main__":
    main()
