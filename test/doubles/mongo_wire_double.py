#!/usr/bin/python3
"""mongo_wire_double.py - a MongoDB wire-protocol TEST DOUBLE (not MongoDB).

No MongoDB server can be installed on the machines this project is tested on, so the real libmongoc
code in lib/source/mongodb.c is tested against this in-memory stand-in. It speaks enough of the wire
protocol for what libmongoc 1.23 (and pymongo 3.11, used by the tests as an independent client)
send: the OP_QUERY isMaster handshake answered with OP_REPLY, and OP_MSG (body section and document
sequences) for hello/isMaster, buildInfo, saslStart (always "Authentication failed"), ping, listDatabases, listCollections, listIndexes,
find/getMore/killCursors, insert, create, createIndexes, drop, dropDatabase, endSessions, and aggregate
with exactly one $count stage (what a drill counts documents with; any other pipeline is refused).

Documents are stored as the raw BSON bytes the client sent, and returned byte for byte, so a round
trip test compares exact encodings. find supports an empty filter or top-level equality only; no
authentication, no transactions, no sorting. It is a standalone server (no replica set).

    mongo_wire_double.py PORT [READYFILE]

MONGO_DOUBLE_DIE_AFTER_GETMORES=N in the environment makes the process exit abruptly (like a crash)
on the N+1th getMore: a server dying in the middle of a dump, deterministically.
"""
import datetime
import os
import socketserver
import struct
import sys
import threading
import uuid

import bson
from bson.codec_options import CodecOptions
from bson.int64 import Int64
from bson.raw_bson import RawBSONDocument
from bson.son import SON

RAW = CodecOptions(document_class=RawBSONDocument)
OP_REPLY, OP_QUERY, OP_MSG = 1, 2004, 2013
MAX_BATCH_BYTES = 4 * 1024 * 1024

lock = threading.Lock()
# dbs[db][coll] = {"docs": [RawBSONDocument], "indexes": [SON], "options": SON, "uuid": UUID}
dbs = {}
cursors = {}  # id -> (ns, remaining docs)
next_cursor = [1000]
next_conn = [1]
getmores = [0]


class CmdError(Exception):
    def __init__(self, code, msg, name="CommandFailed"):
        super().__init__(msg)
        self.code, self.msg, self.name = code, msg, name


def coll_entry(db, name, create=True):
    d = dbs.setdefault(db, {}) if create else dbs.get(db, {})
    if name not in d:
        if not create:
            return None
        d[name] = {"docs": [], "options": SON(), "uuid": uuid.uuid4(),
                   "indexes": [SON([("v", 2), ("key", SON([("_id", 1)])), ("name", "_id_")])]}
    return d[name]


def plain(v):
    """RawBSONDocument -> SON (recursively) for fields the double inspects or echoes."""
    if isinstance(v, RawBSONDocument):
        return bson.decode(v.raw, CodecOptions(document_class=SON))
    return v


def matches(doc, flt):
    if not flt:
        return True
    d = bson.decode(doc.raw, CodecOptions(document_class=SON))
    for k, v in flt.items():
        if k not in d or d[k] != v:
            return False
    return True


def take_batch(docs, n):
    out, size = [], 0
    while docs and len(out) < n and (size < MAX_BATCH_BYTES or not out):
        d = docs.pop(0)
        out.append(d)
        size += len(d.raw) if isinstance(d, RawBSONDocument) else len(bson.encode(d))
    return out


def hello_reply():
    next_conn[0] += 1
    return SON([("helloOk", True), ("ismaster", True), ("isWritablePrimary", True),
                ("maxBsonObjectSize", 16777216), ("maxMessageSizeBytes", 48000000), ("maxWriteBatchSize", 100000),
                ("localTime", datetime.datetime.now(datetime.timezone.utc)), ("logicalSessionTimeoutMinutes", 30),
                ("connectionId", next_conn[0]), ("minWireVersion", 0), ("maxWireVersion", 13),
                ("readOnly", False), ("ok", 1.0)])


def run_command(body, seqs):
    name = next(iter(body.keys()))
    lname = name.lower()
    db = body.get("$db", "admin")
    if lname in ("hello", "ismaster"):
        return hello_reply()
    if lname == "ping" or lname == "endsessions" or lname == "killallsessions":
        return SON([("ok", 1.0)])
    if lname == "buildinfo":
        return SON([("version", "5.0.0-test-double"), ("versionArray", [5, 0, 0, 0]), ("ok", 1.0)])
    if lname == "listdatabases":
        names = sorted(set(list(dbs.keys()) + ["admin", "config", "local"]))
        out = [SON([("name", n), ("sizeOnDisk", 4096.0), ("empty", not dbs.get(n))]) for n in names]
        return SON([("databases", out), ("totalSize", 4096.0 * len(out)), ("ok", 1.0)])
    if lname == "listcollections":
        flt = plain(body.get("filter")) or {}
        out = []
        for cname, c in sorted(dbs.get(db, {}).items()):
            if "name" in flt and flt["name"] != cname:
                continue
            info = SON([("name", cname), ("type", "collection"), ("options", c["options"]),
                        ("info", SON([("readOnly", False), ("uuid", bson.Binary.from_uuid(c["uuid"]))])),
                        ("idIndex", c["indexes"][0])])
            out.append(info)
        return cursor_reply(db + ".$cmd.listCollections", out, body)
    if lname == "listindexes":
        c = coll_entry(db, body[name], create=False)
        if c is None:
            raise CmdError(26, "ns does not exist: %s.%s" % (db, body[name]), "NamespaceNotFound")
        return cursor_reply("%s.%s" % (db, body[name]), list(c["indexes"]), body)
    if lname == "find":
        c = coll_entry(db, body[name], create=False)
        flt = plain(body.get("filter")) or {}
        docs = [d for d in (c["docs"] if c else []) if matches(d, flt)]
        lim = int(body.get("limit", 0) or 0)
        if lim:
            docs = docs[:abs(lim)]
        return cursor_reply("%s.%s" % (db, body[name]), docs, body, single=bool(body.get("singleBatch")))
    if lname == "aggregate":
        pipeline = [plain(st) for st in body.get("pipeline", [])]
        if len(pipeline) != 1 or list(pipeline[0].keys()) != ["$count"]:
            raise CmdError(40324, "the test double runs only a single $count stage", "NotImplemented")
        c = coll_entry(db, body[name], create=False)
        n = len(c["docs"]) if c else 0
        out = [SON([(pipeline[0]["$count"], n)])] if n else []  # $count gives no document for none
        return cursor_reply("%s.%s" % (db, body[name]), out, body)
    if lname == "getmore":
        die_after = int(os.environ.get("MONGO_DOUBLE_DIE_AFTER_GETMORES", "-1"))
        getmores[0] += 1
        if die_after >= 0 and getmores[0] > die_after:
            os._exit(3)
        cid = int(body[name])
        if cid not in cursors:
            raise CmdError(43, "cursor id %d not found" % cid, "CursorNotFound")
        ns, rest = cursors[cid]
        batch = take_batch(rest, int(body.get("batchSize", 0) or 1 << 30))
        if not rest:
            del cursors[cid]
            cid = 0
        return SON([("cursor", SON([("id", Int64(cid)), ("ns", ns), ("nextBatch", batch)])), ("ok", 1.0)])
    if lname == "killcursors":
        killed = []
        for cid in body.get("cursors", []):
            if cursors.pop(int(cid), None) is not None:
                killed.append(Int64(int(cid)))
        return SON([("cursorsKilled", killed), ("cursorsNotFound", []), ("cursorsAlive", []),
                    ("cursorsUnknown", []), ("ok", 1.0)])
    if lname == "insert":
        docs = list(body.get("documents", [])) + list(seqs.get("documents", []))
        c = coll_entry(db, body[name])
        for d in docs:
            if not isinstance(d, RawBSONDocument):
                d = RawBSONDocument(bson.encode(d))
            if "_id" not in d:
                raise CmdError(2, "document without _id")
            c["docs"].append(d)
        return SON([("n", len(docs)), ("ok", 1.0)])
    if lname == "create":
        if body[name] in dbs.get(db, {}):
            raise CmdError(48, "Collection already exists. NS: %s.%s" % (db, body[name]), "NamespaceExists")
        c = coll_entry(db, body[name])
        # Like a server, keep the collection's options only, not the command's generic fields
        # ($db, $readPreference, $clusterTime, lsid, writeConcern, ...).
        c["options"] = SON((k, plain(v)) for k, v in plain(body).items()
                           if k != name and not k.startswith("$") and k not in ("lsid", "writeConcern"))
        return SON([("ok", 1.0)])
    if lname == "createindexes":
        c = coll_entry(db, body[name])
        before = len(c["indexes"])
        for spec in body.get("indexes", []):
            spec = plain(spec)
            if not any(i["name"] == spec["name"] for i in c["indexes"]):
                s = SON([("v", 2)])
                s.update((k, v) for k, v in spec.items() if k != "v")
                c["indexes"].append(s)
        return SON([("numIndexesBefore", before), ("numIndexesAfter", len(c["indexes"])), ("ok", 1.0)])
    if lname == "drop":
        if body[name] not in dbs.get(db, {}):
            raise CmdError(26, "ns not found", "NamespaceNotFound")
        del dbs[db][body[name]]
        return SON([("nIndexesWas", 1), ("ns", "%s.%s" % (db, body[name])), ("ok", 1.0)])
    if lname == "dropdatabase":
        dbs.pop(db, None)
        return SON([("dropped", db), ("ok", 1.0)])
    if lname in ("saslstart", "authenticate"):
        # The double has no users: every credential is wrong, like a bad password on a real server.
        raise CmdError(18, "Authentication failed.", "AuthenticationFailed")
    if lname == "getlasterror" or lname == "getlog":
        return SON([("ok", 1.0)])
    raise CmdError(59, "no such command: '%s'" % name, "CommandNotFound")


def cursor_reply(ns, docs, body, single=False):
    bs = int((plain(body.get("cursor")) or {}).get("batchSize", 0) or body.get("batchSize", 0) or 101)
    docs = list(docs)
    first = take_batch(docs, bs)
    cid = 0
    if docs and not single:
        next_cursor[0] += 1
        cid = next_cursor[0]
        cursors[cid] = (ns, docs)
    return SON([("cursor", SON([("id", Int64(cid)), ("ns", ns), ("firstBatch", first)])), ("ok", 1.0)])


def error_reply(e):
    return SON([("ok", 0.0), ("errmsg", e.msg), ("code", e.code), ("codeName", e.name)])


def handle(body, seqs):
    with lock:
        try:
            return run_command(body, seqs)
        except CmdError as e:
            return error_reply(e)
        except Exception as e:  # a bug in the double: answer, don't hang the client
            return error_reply(CmdError(1, "test double error: %r" % (e,), "InternalError"))


def cstring(data, off):
    end = data.index(b"\0", off)
    return data[off:end].decode(), end + 1


class Handler(socketserver.BaseRequestHandler):
    def recv_exact(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.request.recv(n - len(buf))
            if not chunk:
                return None
            buf += chunk
        return buf

    def handle(self):
        req_id = 1
        while True:
            head = self.recv_exact(16)
            if not head:
                return
            length, rid, _, op = struct.unpack("<iiii", head)
            data = self.recv_exact(length - 16)
            if data is None:
                return
            if op == OP_QUERY:
                _, off = struct.unpack_from("<i", data, 0)[0], 4
                coll, off = cstring(data, off)
                off += 8
                size = struct.unpack_from("<i", data, off)[0]
                q = bson.decode(data[off:off + size], RAW)
                if "$query" in q:
                    q = q["$query"]
                body = SON(plain(q))
                body["$db"] = coll.split(".")[0]
                reply = bson.encode(handle(body, {}))
                msg = struct.pack("<iqii", 0, 0, 0, 1) + reply
                self.request.sendall(struct.pack("<iiii", 16 + len(msg), req_id, rid, OP_REPLY) + msg)
            elif op == OP_MSG:
                flags = struct.unpack_from("<I", data, 0)[0]
                end = len(data) - (4 if flags & 1 else 0)
                off, body, seqs = 4, None, {}
                while off < end:
                    kind = data[off]
                    off += 1
                    if kind == 0:
                        size = struct.unpack_from("<i", data, off)[0]
                        body = bson.decode(data[off:off + size], RAW)
                        off += size
                    else:
                        size = struct.unpack_from("<i", data, off)[0]
                        send = off + size
                        ident, p = cstring(data, off + 4)
                        seqs[ident] = bson.decode_all(data[p:send], RAW)
                        off = send
                reply = handle(body, seqs)
                if flags & 2:  # moreToCome: the client wants no answer
                    continue
                msg = struct.pack("<IB", 0, 0) + bson.encode(reply)
                self.request.sendall(struct.pack("<iiii", 16 + len(msg), req_id, rid, OP_MSG) + msg)
            else:
                return
            req_id += 1


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


def main():
    port = int(sys.argv[1])
    srv = Server(("127.0.0.1", port), Handler)
    if len(sys.argv) > 2:
        open(sys.argv[2], "w").close()
    srv.serve_forever()


if __name__ == "__main__":
    main()
