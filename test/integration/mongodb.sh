#!/usr/bin/env bash
# mongodb.sh - MongoDB source: the real libmongoc code against test/doubles/mongo_wire_double.py, a
# wire-protocol TEST DOUBLE (no MongoDB server can be installed here; see docs/sources-nosql.md).
# pymongo (Debian's python3-pymongo) is the independent client that writes the data and reads it
# back. Checks: the tar layout (mongodump's <db>/<coll>.bson + .metadata.json, parts for big
# collections), a round trip into another database name comparing every document byte for byte,
# indexes and options, the non-empty target rule and --force, and failures (unreachable server,
# server killed mid-dump) with one error line and no backup left.
. "$DUMPER_SRC/test/lib/common.sh"
PY=/usr/bin/python3
$PY -c 'import bson, pymongo' 2>/dev/null || { echo "skip: python3-pymongo not installed" >&2; exit 77; }

PORT=$(( ${DUMPER_TEST_PORT_BASE:-25400} + 42 )) # fixed offsets are listed in test/lib/common.sh
URL="mongodb://127.0.0.1:$PORT"
start_double() {
  rm -f "$T/ready"
  MONGO_DOUBLE_DIE_AFTER_GETMORES=${MONGO_DOUBLE_DIE_AFTER_GETMORES:--1} \
    $PY "$DUMPER_SRC/test/doubles/mongo_wire_double.py" "$PORT" "$T/ready" </dev/null >"$T/double.log" 2>&1 &
  DPID=$!
  for _ in $(seq 100); do [ -f "$T/ready" ] && return 0; sleep 0.05; done
  fail "test double did not start"
}
stop_double() { if [ -n "$DPID" ]; then kill_ours TERM "$DPID"; wait "$DPID" 2>/dev/null || true; fi; DPID=""; }
trap 'rc=$?; stop_double; (exit $rc); _cleanup' EXIT
no_backup_left() { [ -z "$(find "$1" -type f 2>/dev/null)" ] || { ls -la "$1" >&2; fail "$2: files left in $1"; }; }

cat > "$T/mongo.py" <<'PYEOF'
import datetime, json, os, sys, uuid, glob
import bson, pymongo
from bson import ObjectId, Decimal128, Int64, Binary, Code, Regex, Timestamp, MinKey, MaxKey, DBRef, SON
from bson.raw_bson import RawBSONDocument

url, cmd = sys.argv[1], sys.argv[2]
c = pymongo.MongoClient(url, serverSelectionTimeoutMS=5000, document_class=RawBSONDocument)

def fail(msg):
    print("FAIL: " + msg, file=sys.stderr); sys.exit(1)

if cmd == "populate":
    app = c.app
    docs = []
    for i in range(400):
        docs.append(SON([("_id", ObjectId()), ("n", i), ("f", 1.5 * i), ("neg", -i), ("l", Int64(2**40 + i)),
            ("dec", Decimal128("%d.10" % i)), ("t", datetime.datetime(2020, 1, 1) + datetime.timedelta(seconds=i)),
            ("bin", Binary(b"\x00\xff" * (i % 7))), ("uuid", Binary(uuid.UUID(int=i).bytes, 4)),
            ("s", "h\u00e9llo \u2603 %d" % i), ("nul", None), ("yes", i % 2 == 0),
            ("arr", [1, "a", {"x": None}, [2.5]]), ("sub", {"a": {"b": [True, False], "c": "d"}}),
            ("re", Regex("^a.*", "i")), ("ts", Timestamp(1600000000, i)), ("mn", MinKey()), ("mx", MaxKey()),
            ("code", Code("function(){return 1}")), ("pad", "x" * (i * 3))]))
    app.orders.insert_many(docs)
    app.users.insert_many([{"_id": i, "email": "u%d@example.com" % i, "age": i % 90, "city": "c%d" % (i % 5)}
                           for i in range(50)])
    app.users.create_index([("email", 1)], name="email_1", unique=True)
    app.users.create_index([("city", 1), ("age", -1)], name="city_age")
    app.users.create_index([("age", 1)], name="age_ttl", expireAfterSeconds=3600)
    app.create_collection("log", capped=True, size=65536)
    app.log.insert_one({"_id": 1, "msg": "started"})
    app.create_collection("empty")
    # Non-ASCII and longer than a ustar name field: exercises pax headers; '/' and '%' are escaped.
    app["n\u00e4me/with%odd " + "x" * 110].insert_many([{"_id": i} for i in range(3)])
    c.other.things.insert_one({"_id": "only", "v": 1})
elif cmd == "layout":  # layout DIR: check the extracted tar
    d = sys.argv[3]
    dirs = sorted(os.listdir(d))
    if dirs != ["app", "other"]:
        fail("databases in tar: %r" % dirs)
    files = sorted(os.listdir(os.path.join(d, "app")))
    for want in ["orders.metadata.json", "users.bson", "users.metadata.json", "log.bson", "empty.bson"]:
        if want not in files:
            fail("missing app/%s in %r" % (want, files))
    parts = sorted(f for f in files if f.startswith("orders.bson."))
    if len(parts) < 3 or "orders.bson" in files:
        fail("orders should be split into parts: %r" % files)
    data = b"".join(open(os.path.join(d, "app", p), "rb").read() for p in parts)
    orders = bson.decode_all(data)
    if len(orders) != 400 or [o["n"] for o in orders] != list(range(400)):
        fail("orders parts do not hold the 400 documents in order")
    for p in parts:  # every part is whole documents
        bson.decode_all(open(os.path.join(d, "app", p), "rb").read())
    if len(bson.decode_all(open(os.path.join(d, "app", "users.bson"), "rb").read())) != 50:
        fail("users.bson")
    if os.path.getsize(os.path.join(d, "app", "empty.bson")) != 0:
        fail("empty.bson not empty")
    meta = json.load(open(os.path.join(d, "app", "users.metadata.json")))
    names = sorted(ix["name"] for ix in meta["indexes"])
    if names != ["_id_", "age_ttl", "city_age", "email_1"] or meta["collectionName"] != "users" or meta["type"] != "collection":
        fail("users metadata: %r" % meta)
    email = [ix for ix in meta["indexes"] if ix["name"] == "email_1"][0]
    if email["unique"] is not True or email["key"] != {"email": {"$numberInt": "1"}}:
        fail("email_1 index spec: %r" % email)
    if len(meta.get("uuid", "")) != 32:
        fail("uuid missing from metadata")
    log = json.load(open(os.path.join(d, "app", "log.metadata.json")))
    if log["options"].get("capped") is not True:
        fail("capped option lost: %r" % log)
    print("layout ok: %d files, orders in %d parts" % (len(files), len(parts)))
elif cmd == "compare":  # compare SRCDB DSTDB
    a, b = c[sys.argv[3]], c[sys.argv[4]]
    if sorted(a.list_collection_names()) != sorted(b.list_collection_names()):
        fail("collections differ: %r vs %r" % (a.list_collection_names(), b.list_collection_names()))
    total = 0
    for name in a.list_collection_names():
        x = [d.raw for d in a[name].find()]
        y = [d.raw for d in b[name].find()]
        if x != y:
            fail("documents of %s differ (%d vs %d)" % (name, len(x), len(y)))
        total += len(x)
        ix = lambda db: sorted(json.dumps({k: v for k, v in dict(i).items() if k not in ("v", "ns")},
                                          sort_keys=True, default=str) for i in db[name].list_indexes())
        if ix(a) != ix(b):
            fail("indexes of %s differ: %r vs %r" % (name, ix(a), ix(b)))
        oa = a.command("listCollections", filter={"name": name})["cursor"]["firstBatch"][0]["options"]
        ob = b.command("listCollections", filter={"name": name})["cursor"]["firstBatch"][0]["options"]
        if oa != ob:
            fail("options of %s differ: %r vs %r" % (name, oa, ob))
    if total < 450:
        fail("too few documents compared: %d" % total)
    print("compare ok: %d documents" % total)
elif cmd == "drop":
    c.drop_database(sys.argv[3])
elif cmd == "big":
    c.big.blobs.insert_many([{"_id": i, "p": os.urandom(2000)} for i in range(8000)])
PYEOF

start_double
check "populate" $PY "$T/mongo.py" "$URL/" populate

# ---- tar layout (uncompressed backup, small part size so a collection is split) ----
bk=$(DUMPER_MONGO_PART_BYTES=40000 "$DUMPER" backup "$URL" --to "$T/b1" --compress none)
case $bk in *.tar) ;; *) fail "backup name $bk is not .tar";; esac
mkdir "$T/x" && tar -xf "$bk" -C "$T/x" || fail "tar cannot extract the backup"
check "tar layout" $PY "$T/mongo.py" "$URL/" layout "$T/x"

# ---- round trip of one database into another name ----
bk2=$("$DUMPER" backup "$URL/app" --to "$T/b2" --json | sed 's/.*"path":"\([^"]*\)".*/\1/')
"$DUMPER" verify "$bk2" >/dev/null || fail "verify"
check "restore into app_copy" "$DUMPER" restore "$bk2" "$URL/app_copy"
check "app == app_copy" $PY "$T/mongo.py" "$URL/" compare app app_copy

# Non-empty target: refused, then --force drops and restores.
expect_fail 6 "non-empty target" "$DUMPER" restore "$bk2" "$URL/app_copy"
grep -q "app_copy" "$T/err" && grep -q -- "--force" "$T/err" || fail "unclear non-empty error: $(cat "$T/err")"
check "restore --force" "$DUMPER" restore "$bk2" "$URL/app_copy" --force
check "app == app_copy after --force" $PY "$T/mongo.py" "$URL/" compare app app_copy

# A backup of all databases restores under the original names (multi-part collections included).
expect_fail 2 "several databases into one name" "$DUMPER" restore "$bk" "$URL/one"
check "drop app_copy" $PY "$T/mongo.py" "$URL/" drop app_copy
check "drop app" $PY "$T/mongo.py" "$URL/" drop app
check "drop other" $PY "$T/mongo.py" "$URL/" drop other
check "drop one" $PY "$T/mongo.py" "$URL/" drop one
check "restore all" "$DUMPER" restore "$bk" "$URL"
check "restore app_copy again" "$DUMPER" restore "$bk2" "$URL/app_copy"
check "app == app_copy (multi-part restore)" $PY "$T/mongo.py" "$URL/" compare app app_copy

# ---- failures ----
expect_fail 2 "unknown format" "$DUMPER" backup "$URL/app" --to "$T/f0" --format bson
# The double refuses every credential: the wrong-password path, password from the environment.
expect_fail 11 "wrong password" env DUMPER_DB_PASSWORD=env-s3cret "$DUMPER" backup "mongodb://someone@127.0.0.1:$PORT/app" --to "$T/f0"
grep -q "mongodb at 127.0.0.1:$PORT: authentication failed" "$T/err" || fail "unclear auth error: $(cat "$T/err")"
grep -q "env-s3cret" "$T/err" && fail "password in error"
no_backup_left "$T/f0" "wrong password"
stop_double
expect_fail 12 "unreachable" "$DUMPER" backup "mongodb://u:s3cret-pw@127.0.0.1:$PORT/app" --to "$T/f1"
grep -q "cannot connect to mongodb at 127.0.0.1:$PORT" "$T/err" || fail "unclear error: $(cat "$T/err")"
grep -q "s3cret-pw" "$T/err" && fail "password in error"
no_backup_left "$T/f1" "unreachable"

# Server killed mid-dump: the double exits abruptly on the 3rd getMore of the 16 MB collection.
MONGO_DOUBLE_DIE_AFTER_GETMORES=2 start_double
check "big collection" $PY "$T/mongo.py" "$URL/" big
rc=0; "$DUMPER" backup "$URL/big" --to "$T/f2" >/dev/null 2>"$T/kill.err" || rc=$?
[ "$rc" = 10 ] || { cat "$T/kill.err" >&2; fail "killed server: exit $rc, expected 10"; }
[ "$(wc -l <"$T/kill.err")" = 1 ] || { cat "$T/kill.err" >&2; fail "expected one error line"; }
grep -q "mongodb at 127.0.0.1:$PORT" "$T/kill.err" || fail "error does not name the server: $(cat "$T/kill.err")"
no_backup_left "$T/f2" "killed server"
note "killed mid-dump: $(cat "$T/kill.err")"
echo "mongodb: ok"
