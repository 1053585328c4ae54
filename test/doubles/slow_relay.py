#!/usr/bin/python3
"""Test double: a TCP relay in front of a server (dumperd) whose answers reach the client at most RATE
bytes per second per connection (what the client sends goes through at once). Stands for a slow link, so a
download, and the drill reading it, lasts longer than a job's lease. Logs nothing.
Usage: slow_relay.py LISTEN_PORT UPSTREAM_PORT RATE"""
import socket, sys, threading, time

LISTEN, UP, RATE = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
TICK = 0.05

def pump(src, dst, rate):
    try:
        while True:
            data = src.recv(max(1, int(rate * TICK)) if rate else 65536)
            if not data:
                break
            dst.sendall(data)
            if rate:
                time.sleep(TICK)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

def serve(client):
    try:
        up = socket.create_connection(("127.0.0.1", UP))
    except OSError:
        client.close()
        return
    threading.Thread(target=pump, args=(client, up, 0), daemon=True).start()
    pump(up, client, RATE)

srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", LISTEN))
srv.listen(64)
while True:
    c, _ = srv.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
