#!/usr/bin/env bash
# test/fuzz/make_corpus.sh - write the seed corpora of test/fuzz/corpus/ from real components, so
# the seeds are what the parsers meet in practice: answers of a real dumperd and s3rver, the request
# bodies of a real agent session (recorded by a proxy in front of dumperd), a
# snapshot and a SYNC reply of a real redis-server, archives of GNU tar, Python's tarfile and
# `dumper backup` itself, BSON from pymongo, dumps of sqlite3 and `dumper backup`, streams of gzip
# and zstd. The results are committed; rerun this when a format changes.
#
#   test/fuzz/make_corpus.sh [fuzz_NAME...]     (default: every target below)
#
# Needs the normal build (build/bin: dumper, dumperd, dumper-example-host; BIN=... for another)
# and, for fuzz_s3_xml and fuzz_rdb, the services: DUMPER_TEST_PORT_BASE=N scripts/services.sh start.
# Each target's files are named by what they are; files this script does not write (inputs a
# finding added, merged inputs) are left alone. Kept small: every file under the target's -max_len.
set -euo pipefail
SRC=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${BIN:-$SRC/build/bin}
OUT=${OUT:-$SRC/test/fuzz/corpus} # OUT=DIR writes elsewhere (to compare)
W=$(mktemp -d /tmp/dumper-make-corpus.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$W"; }
trap cleanup EXIT
say() { echo "make_corpus: $*" >&2; }
services_env() {
  local envfile
  envfile=$(DUMPER_TEST_PORT_BASE=${DUMPER_TEST_PORT_BASE:?set DUMPER_TEST_PORT_BASE} "$SRC/scripts/services.sh" env)
  [ -f "$envfile" ] || { say "services not running (scripts/services.sh start)"; exit 1; }
  # shellcheck disable=SC1090
  . "$envfile"
}

# start_dumperd DATA LOG [serve flags...]: a dumperd on a free port, in DPD_PORT (not in a subshell:
# its pid goes to PIDS)
start_dumperd() {
  local data=$1 log=$2 i
  shift 2
  "$BIN/dumperd" serve --data "$data" --listen 127.0.0.1:0 "$@" </dev/null >"$log" 2>&1 &
  PIDS+=($!)
  for i in $(seq 100); do
    DPD_PORT=$(sed -n 's/.*listening on http:\/\/127\.0\.0\.1:\([0-9]*\) .*/\1/p' "$log")
    [ -n "$DPD_PORT" ] && return 0
    sleep 0.1
  done
  say "dumperd did not start"; cat "$log" >&2; exit 1
}

# ---- fuzz_agent_proto: a real dumperd's answers and a real agent's job spec ----
gen_fuzz_agent_proto() {
  local d=$OUT/fuzz_agent_proto data=$W/dpd key port url i
  mkdir -p "$d" "$data"
  key=$("$BIN/dumperd" app create shop --data "$data" 2>/dev/null)
  start_dumperd "$data" "$W/dpd.log"
  port=$DPD_PORT
  url=http://127.0.0.1:$port
  api() { # api PATH BODY [KEY]
    curl -s --max-time 10 -H "Authorization: Bearer ${3-$key}" -H 'Content-Type: application/json' \
      --data-binary "$2" "$url/api/v1/$1"
  }
  local reg='{"hostname":"web-1","pid":4242,"agent_version":"0.1.0","app_name":"shop","environment":"production",
"framework":"rails 7.1","dispatcher":"puma","databases":[{"key":"primary","type":"postgresql","host":"db1","port":5432,
"name":"shop","user":"shop"},{"type":"redis","host":"127.0.0.1","port":6379,"name":"0"}]}'
  api agents/register "$reg" >"$d/register_primary_2dbs"
  local agent
  agent=$(jq -r .agent_id "$d/register_primary_2dbs")
  api agents/register '{"hostname":"web-2","pid":7,"environment":"production","databases":[{"type":"sqlite","name":"app.db"}]}' \
    >"$d/register_secondary_1db"
  api agents/register '{"hostname":"web-3","pid":8,"environment":"staging","databases":[]}' >"$d/register_0dbs"
  api agents/poll "{\"agent_id\":\"$agent\"}" >"$d/poll_idle"
  "$BIN/dumperd" backup now shop --env production --database primary --data "$data" >/dev/null 2>&1
  api agents/poll "{\"agent_id\":\"$agent\"}" >"$d/poll_job"
  api agents/poll "{\"agent_id\":\"$(jq -r .agent_id "$d/register_secondary_1db")\"}" >"$d/poll_secondary"
  api agents/poll '{"agent_id":"a_unknown"}' >"$d/error_404"
  api agents/poll '{"agent_id":' >"$d/error_400"
  api agents/poll "{\"agent_id\":\"$agent\"}" dk_wrong >"$d/error_401"
  # the job spec a real agent hands its job process: the example host (another app, so that it is
  # primary) with a "dumper" that keeps its stdin (key and password are this throwaway instance's)
  key=$("$BIN/dumperd" app create blog --data "$data" 2>/dev/null)
  printf '#!/bin/sh\ncat > %s/spec\n' "$W" >"$W/capture"
  chmod +x "$W/capture"
  local hport
  hport=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  (cd "$W" && DUMPER_APP_KEY=$key exec "$BIN/dumper-example-host" --port "$hport" --api "$url" --dumper "$W/capture" \
    --database 'postgres://shop:s3cret%21@db1:5432/shop?sslmode=require' --key primary </dev/null >"$W/host.log" 2>&1) &
  PIDS+=($!)
  for i in $(seq 100); do grep -q 'registered with' "$W/host.log" && break; sleep 0.1; done
  "$BIN/dumperd" backup now blog --env production --data "$data" >/dev/null 2>&1
  for i in $(seq 300); do [ -s "$W/spec" ] && break; sleep 0.1; done
  [ -s "$W/spec" ] || { say "no job spec captured"; cat "$W/host.log" >&2; exit 1; }
  sleep 0.2
  cp "$W/spec" "$d/jobspec"
  jq -c '.format="dump" | .custom_options="--no-owner --exclude-table=logs" | .max_filesize=1099511627776
         | .max_part_size=67108864 | .max_parts=10000 | .proxy="http://proxy:3128" | .debug=true' \
    "$W/spec" >"$d/jobspec_all_fields"
}

# ---- fuzz_s3_xml: s3rver's answers (listings, errors, initiate/complete multipart) and two shaped
# like AWS's (namespace, quoted ETags as entities) ----
gen_fuzz_s3_xml() {
  services_env
  local d=$OUT/fuzz_s3_xml s3=http://127.0.0.1:$DUMPER_TEST_S3_PORT b=fuzz-corpus-$$ k
  mkdir -p "$d"
  s3c() { curl -s --max-time 10 --aws-sigv4 aws:amz:us-east-1:s3 --user S3RVER:S3RVER -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' "$@"; }
  s3c -X PUT "$s3/$b" >/dev/null
  for k in 'b/shop-2026.sql.zst' 'b/shop-2026.sql.zst.manifest.json' 'b/dir/' 'b/a&b<c>.dump' 'other/x' \
           'b/caf%C3%A9.rdb'; do
    s3c -X PUT --data-binary "x$k" "$s3/$b/$k" >/dev/null
  done
  s3c "$s3/$b?list-type=2&prefix=b%2F" >"$d/list_prefix"
  s3c "$s3/$b?list-type=2" >"$d/list_all"
  s3c "$s3/$b?list-type=2&max-keys=2" >"$d/list_truncated"
  s3c "$s3/$b?list-type=2&prefix=none%2F" >"$d/list_empty"
  s3c "$s3/$b/missing" -o /dev/null
  s3c "$s3/$b?uploads" -X POST -o /dev/null
  s3c -X POST "$s3/$b/b/big.zst?uploads" >"$d/initiate_multipart"
  local id etag
  id=$(sed -n 's/.*<UploadId>\([^<]*\)<.*/\1/p' "$d/initiate_multipart")
  etag=$(s3c -X PUT -D - --data-binary 'part one' "$s3/$b/b/big.zst?partNumber=1&uploadId=$id" -o /dev/null |
         sed -n 's/^[Ee][Tt]ag: *\([^\r]*\).*/\1/p')
  s3c -X POST --data-binary "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>$etag</ETag></Part></CompleteMultipartUpload>" \
    "$s3/$b/b/big.zst?uploadId=$id" >"$d/complete_multipart"
  s3c -X POST --data-binary '<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>"0"</ETag></Part></CompleteMultipartUpload>' \
    "$s3/$b/b/big2.zst?uploadId=nosuchupload" >"$d/complete_error"
  s3c "$s3/$b/b/missing.zst?x-id=GetObject" >"$d/error_nosuchkey"
  s3c "$s3/nosuchbucket-$$?list-type=2" >"$d/error_nosuchbucket"
  for k in 'b/shop-2026.sql.zst' 'b/shop-2026.sql.zst.manifest.json' 'b/dir/' 'b/a&b<c>.dump' 'other/x' 'b/caf%C3%A9.rdb' 'b/big.zst'; do
    s3c -X DELETE "$s3/$b/$k" >/dev/null
  done
  s3c -X DELETE "$s3/$b" >/dev/null
  # shaped like AWS's documented answers (https://docs.aws.amazon.com/AmazonS3/latest/API/)
  cat >"$d/aws_list_v2_truncated" <<'EOF'
<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>bucket</Name><Prefix>b/</Prefix><KeyCount>2</KeyCount><MaxKeys>2</MaxKeys><IsTruncated>true</IsTruncated><Contents><Key>b/shop-production-primary-20261126T100500.123Z-b501.sql.zst</Key><LastModified>2026-11-26T10:05:07.000Z</LastModified><ETag>&quot;599bab3ed2c697f1d26842727561fd94&quot;</ETag><Size>857</Size><StorageClass>STANDARD</StorageClass></Contents><Contents><Key>b/shop-production-primary-20261126T100500.123Z-b501.sql.zst.manifest.json</Key><LastModified>2026-11-26T10:05:08.000Z</LastModified><ETag>&quot;9b2cf535f27731c974343645a3985328-2&quot;</ETag><Size>412</Size><StorageClass>STANDARD</StorageClass></Contents><NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken></ListBucketResult>
EOF
  cat >"$d/aws_error_expired" <<'EOF'
<?xml version="1.0" encoding="UTF-8"?>
<Error><Code>AccessDenied</Code><Message>Request has expired</Message><X-Amz-Expires>900</X-Amz-Expires><Expires>2026-11-26T10:20:00Z</Expires><ServerTime>2026-11-26T10:25:00Z</ServerTime><RequestId>4442587FB7D0A2F9</RequestId><HostId>kX1m...</HostId></Error>
EOF
  cat >"$d/aws_complete_200_error" <<'EOF'
<?xml version="1.0" encoding="UTF-8"?>

<Error><Code>InternalError</Code><Message>We encountered an internal error. Please try again.</Message><RequestId>656c76696e6727732072657175657374</RequestId><HostId>Uuag1LuByRx9e6j5Onimru9pO4ZVKnJ2Qz7/C1NPcfTWAtRPfTaOFg==</HostId></Error>
EOF
}

# ---- fuzz_rdb: a real redis-server's snapshots and its raw answers to SYNC/PSYNC and INFO ----
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
gen_fuzz_rdb() {
  local d=$OUT/fuzz_rdb port
  mkdir -p "$d"
  start_redis() { # start_redis [server options]: a redis-server of its own on a free port, in $port
    local i
    port=$(free_port)
    mkdir -p "$W/redis-$port"
    redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$W/redis-$port" \
      --daemonize no "$@" </dev/null >"$W/redis-$port.log" 2>&1 &
    PIDS+=($!)
    for i in $(seq 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && return 0; sleep 0.1; done
    say "redis-server did not start"; cat "$W/redis-$port.log" >&2; exit 1
  }
  start_redis
  rc() { redis-cli -p "$port" "$@" >/dev/null; }
  redis-cli -p "$port" --rdb "$d/rdb_empty" >/dev/null 2>&1
  rc set greeting 'hello world'
  rc set counter 42
  rc set ttl 'goes away' EX 86400
  rc rpush queue job1 job2 job3
  rc hset user:1 name ada email 'ada@example.com' visits 7
  rc sadd tags red green blue
  rc zadd scores 1.5 alice 2 bob -3 carol
  rc xadd events '*' kind login user ada
  rc select 3
  rc -n 3 set other-db 'in db 3'
  redis-cli -p "$port" --rdb "$d/rdb_v10_types" >/dev/null 2>&1
  # raw replies, as a backup reads them from the socket
  raw() { # raw COMMAND... : the reply bytes to the commands, up to the end of the snapshot
    /usr/bin/python3 - "$port" "$@" <<'PY'
import socket, sys
port = int(sys.argv[1]); cmds = sys.argv[2:]
s = socket.create_connection(("127.0.0.1", port)); s.settimeout(10)
s.sendall("".join(c + "\r\n" for c in cmds).encode())
buf = b""
def need(n):
    global buf
    while len(buf) < n:
        k = s.recv(65536)
        if not k: return False
        buf += k
    return True
# every reply line before the snapshot (+OK, +FULLRESYNC, keepalives), then "$len" and len bytes
pos = 0
while True:
    while b"\n" not in buf[pos:]:
        if not need(len(buf) + 1): sys.stdout.buffer.write(buf); sys.exit(0)
    nl = buf.index(b"\n", pos); line = buf[pos:nl]; pos = nl + 1
    if line.startswith(b"$"):
        need(pos + int(line[1:].strip())); sys.stdout.buffer.write(buf[:pos + int(line[1:].strip())]); break
    if line.startswith(b"-") or (line.startswith(b":") and not cmds[-1].startswith(("SYNC", "PSYNC"))):
        sys.stdout.buffer.write(buf[:pos]); break
PY
  }
  raw SYNC >"$d/sync_reply"
  raw 'PSYNC ? -1' >"$d/psync_fullresync_reply"
  rc acl setuser nosync on '>pw' '~*' '&*' '+@all' -sync -psync
  raw 'AUTH nosync pw' SYNC | tail -c +6 >"$d/sync_refused"
  # keepalives: the "\n" a server sends each second while its BGSAVE runs (too fast to happen here)
  { printf '\n\n\n'; cat "$d/sync_reply"; } >"$d/sync_reply_keepalives"
  redis-cli -p "$port" info persistence >"$d/info_persistence"
  start_redis --rdbchecksum no
  rc set greeting 'written without a checksum'
  raw SYNC >"$d/sync_reply_no_checksum"
}

# ---- a real `dumper backup` of MongoDB (against the wire-protocol TEST DOUBLE: no MongoDB server
# can be installed here) as an uncompressed tar: seeds of fuzz_tar_reader and fuzz_mongo_restore ----
mongo_backup_tar() { # mongo_backup_tar OUT: small collections, an index, a capped collection, a long
  # non-ASCII name (pax headers), '/' and '%' escapes, and a collection in three parts
  [ -s "$W/mongo.tar" ] || {
    local port i
    port=$(free_port)
    /usr/bin/python3 "$SRC/test/doubles/mongo_wire_double.py" "$port" "$W/mongo.ready" </dev/null >"$W/mongo.log" 2>&1 &
    PIDS+=($!)
    for i in $(seq 100); do [ -f "$W/mongo.ready" ] && break; sleep 0.1; done
    /usr/bin/python3 - "$port" <<'PY'
import sys, datetime, uuid
import pymongo
from bson import ObjectId, Decimal128, Int64, Binary, Regex, Timestamp, MinKey, MaxKey, Code
c = pymongo.MongoClient("mongodb://127.0.0.1:%s" % sys.argv[1], serverSelectionTimeoutMS=5000)
app = c.app
app.users.insert_many([{"_id": i, "email": "u%d@example.com" % i, "age": 20 + i} for i in range(3)])
app.users.create_index([("email", 1)], name="email_1", unique=True)
app.users.create_index([("age", 1)], name="age_ttl", expireAfterSeconds=3600)
app.create_collection("log", capped=True, size=65536)
app.log.insert_one({"_id": 1, "msg": "started", "at": datetime.datetime(2026, 11, 26, 10, 5)})
app.create_collection("empty")
app.types.insert_one({"_id": ObjectId("5f1e0c5a9d3b2a1c0b0a0908"), "dec": Decimal128("1.10"), "l": Int64(2**40),
                      "bin": Binary(b"\x00\xff"), "uuid": Binary(uuid.UUID(int=7).bytes, 4), "re": Regex("^a", "i"),
                      "ts": Timestamp(1600000000, 1), "mn": MinKey(), "mx": MaxKey(), "code": Code("x"), "nul": None,
                      "arr": [1, "a", {"x": [2.5]}]})
app["n\u00e4me/with%odd " + "x" * 100].insert_one({"_id": 1})
app.parts.insert_many([{"_id": i, "pad": "p" * 300} for i in range(10)])
c.other.things.insert_one({"_id": "only"})
PY
    DUMPER_MONGO_PART_BYTES=1024 "$BIN/dumper" backup "mongodb://127.0.0.1:$port" --to "$W/mbk" -c none -n mongo \
      >/dev/null
    cp "$W"/mbk/mongo-*.tar "$W/mongo.tar"
  }
  cp "$W/mongo.tar" "$1"
  chmod 644 "$1"
}

# ---- fuzz_tar_reader: archives of GNU tar (ustar, gnu, pax, v7), Python's tarfile (pax with a
# global header, GNU long names) and `dumper backup` of MongoDB ----
gen_fuzz_tar_reader() {
  local d=$OUT/fuzz_tar_reader t=$W/tree f
  mkdir -p "$d" "$t/dump/app"
  printf 'hello\n' >"$t/dump/app/a.bson"
  printf '{"options":{}}' >"$t/dump/app/a.metadata.json"
  : >"$t/dump/app/empty.bson"
  head -c 1500 /dev/zero | tr '\0' 'z' >"$t/dump/app/big.bson"
  ln -s a.bson "$t/dump/app/link.bson"
  ln "$t/dump/app/a.bson" "$t/dump/app/hard.bson"
  f="$t/dump/app/$(printf 'l%.0s' $(seq 120)).bson"
  printf 'long\n' >"$f"
  for fmt in gnu ustar pax v7; do
    (cd "$t" && tar --format=$fmt -b 1 --owner=0 --group=0 --mtime=@1764000000 -cf "$d/gnutar_$fmt" dump 2>/dev/null) ||
      (cd "$t" && tar --format=$fmt -b 1 --owner=0 --group=0 --mtime=@1764000000 -cf "$d/gnutar_$fmt" \
        --exclude '*llll*' dump)
  done
  (cd "$t" && tar -b 1 -cf "$d/gnutar_empty" -T /dev/null)
  /usr/bin/python3 - "$d" <<'PY'
import io, sys, tarfile
d = sys.argv[1]
def add(t, name, data):
    i = tarfile.TarInfo(name); i.size = len(data); i.mtime = 1764000000; t.addfile(i, io.BytesIO(data))
with tarfile.open(d + "/pytar_pax_global", "w", format=tarfile.PAX_FORMAT, pax_headers={"comment": "global"}) as t:
    add(t, "dump/app/n\u00e4me.bson", b"\x05\x00\x00\x00\x00")
    add(t, "dump/app/" + "y" * 200 + ".bson", b"")
with tarfile.open(d + "/pytar_gnu_longname", "w", format=tarfile.GNU_FORMAT) as t:
    add(t, "dump/" + "z" * 150 + "/c.bson", b"\x05\x00\x00\x00\x00")
PY
  mongo_backup_tar "$d/dumper_mongodb_backup"
}

# ---- fuzz_mongo_restore: the same `dumper backup` tar, and archives planted like
# test/integration/restore_hostile_mongo.sh's ----
gen_fuzz_mongo_restore() {
  local d=$OUT/fuzz_mongo_restore
  mkdir -p "$d"
  mongo_backup_tar "$d/dumper_mongodb_backup"
  /usr/bin/python3 - "$d" <<'PY'
import io, json, sys, tarfile
import bson
d = sys.argv[1]
def tar(name, entries):
    with tarfile.open(d + "/" + name, "w", format=tarfile.PAX_FORMAT) as t:
        for path, data in entries:
            i = tarfile.TarInfo(path); i.size = len(data); i.mtime = 1764000000; t.addfile(i, io.BytesIO(data))
meta = lambda opts, ix: json.dumps({"options": opts, "indexes": ix, "uuid": "00" * 16, "collectionName": "c",
                                    "type": "collection"}).encode()
docs = bson.encode({"_id": 1, "a": "x"}) + bson.encode({"_id": 2, "b": [1.5, None]})
tar("planted_dollar_db_option", [("app/c.metadata.json", meta({"$db": "admin"}, [])), ("app/c.bson", docs)])
tar("planted_view", [("app/v.metadata.json", meta({"viewOn": "c", "pipeline": []}, []))])
tar("planted_system_db", [("admin/users.bson", docs)])
tar("planted_dotdot", [("../app/c.bson", docs)])
tar("planted_nul_coll", [("app/a%00b.bson", docs)])
tar("index_specs", [("app/c.metadata.json", meta({"capped": True, "size": 4096},
    [{"v": 2, "key": {"_id": 1}, "name": "_id_"}, {"v": 2, "key": {"e": 1}, "name": "e_1", "ns": "app.c", "unique": True}])),
    ("app/c.bson", docs)])
tar("doc_cut_across_parts", [("app/c.bson.000", docs[:9]), ("app/c.bson.001", docs[9:])])
PY
}

# ---- fuzz_mongo_reply: listCollections entries and index specs (BSON, by pymongo's encoder) in the
# shapes MongoDB 6 answers with, and as the wire-protocol TEST DOUBLE answers ----
gen_fuzz_mongo_reply() {
  local d=$OUT/fuzz_mongo_reply
  mkdir -p "$d"
  /usr/bin/python3 - "$d" <<'PY'
import sys, uuid
import bson
from bson import Binary, Int64, SON
d = sys.argv[1]
U = Binary(uuid.UUID("0123456789abcdef0123456789abcdef").bytes, 4)
def put(name, *docs):
    open(d + "/" + name, "wb").write(b"".join(bson.encode(x) for x in docs))
idx = SON([("v", 2), ("key", SON([("_id", 1)])), ("name", "_id_")])
put("collection_plain", SON([("name", "users"), ("type", "collection"), ("options", {}),
    ("info", SON([("readOnly", False), ("uuid", U)])), ("idIndex", idx)]), idx,
    SON([("v", 2), ("key", SON([("email", 1)])), ("name", "email_1"), ("unique", True)]))
put("collection_capped", SON([("name", "log"), ("type", "collection"),
    ("options", SON([("capped", True), ("size", Int64(65536)), ("max", 1000)])),
    ("info", SON([("readOnly", False), ("uuid", U)])), ("idIndex", idx)]), idx)
put("collection_validator", SON([("name", "orders"), ("type", "collection"),
    ("options", SON([("validator", SON([("qty", SON([("$gte", 0)]))])), ("validationLevel", "strict"),
                     ("collation", SON([("locale", "fr"), ("strength", 2)]))])),
    ("info", SON([("readOnly", False), ("uuid", U)]))]),
    SON([("v", 2), ("key", SON([("city", 1), ("age", -1)])), ("name", "city_age"), ("ns", "app.orders")]),
    SON([("v", 2), ("key", SON([("at", 1)])), ("name", "ttl"), ("expireAfterSeconds", 3600)]))
put("view", SON([("name", "v"), ("type", "view"), ("options", SON([("viewOn", "users"), ("pipeline", [])])),
    ("info", SON([("readOnly", True)]))]))
put("timeseries", SON([("name", "ts"), ("type", "timeseries"),
    ("options", SON([("timeseries", SON([("timeField", "t"), ("granularity", "seconds")]))])),
    ("info", SON([("readOnly", False)]))]))
PY
}

# ---- fuzz_sqlite_restore: dumps of a real database by `dumper backup` and by sqlite3 .dump, and
# planted dumps like test/integration/restore_hostile_sqlite.sh's, aimed at the target's neighbours
# (victim.db beside it, ../outside.db next door: see fuzz_sqlite_restore.c) ----
gen_fuzz_sqlite_restore() {
  local d=$OUT/fuzz_sqlite_restore db=$W/app.db
  mkdir -p "$d"
  sqlite3 "$db" <<'SQL'
PRAGMA user_version=7;
CREATE TABLE users(id INTEGER PRIMARY KEY AUTOINCREMENT, email TEXT UNIQUE NOT NULL, born REAL, pic BLOB);
INSERT INTO users(email, born, pic) VALUES('ada@example.com', 1815.12, x'89504e47'), ('it''s;
tricky', -0.0, NULL);
CREATE TABLE kv(k TEXT PRIMARY KEY, v ANY) STRICT, WITHOUT ROWID;
INSERT INTO kv VALUES('nul', CAST(x'610062' AS TEXT)), ('big', 1e308), ('int', 9223372036854775807);
CREATE TABLE g(a INTEGER, b INTEGER GENERATED ALWAYS AS (a * 2) STORED);
INSERT INTO g(a) VALUES(21);
CREATE INDEX users_born ON users(born);
CREATE VIEW adults AS SELECT email FROM users WHERE born < 2000;
CREATE TRIGGER users_log AFTER INSERT ON users BEGIN INSERT INTO kv VALUES('last', new.email); END;
CREATE VIRTUAL TABLE notes USING fts5(body);
INSERT INTO notes VALUES('full text search');
SQL
  "$BIN/dumper" backup "sqlite://$db" --to "$W/sbk" -c none -n app >/dev/null
  cp "$W"/sbk/app-*.sql "$d/dumper_backup.sql"
  chmod 644 "$d/dumper_backup.sql"
  sqlite3 "$db" .dump >"$d/sqlite3_dump.sql"
  local good="PRAGMA foreign_keys=OFF;
BEGIN TRANSACTION;
CREATE TABLE t(a);
INSERT INTO \"t\"(rowid,\"a\") VALUES(1,'kept');
"
  plant() { printf '%s%s\n' "$good" "$2" >"$d/planted_$1.sql"; }
  plant attach_victim "ATTACH DATABASE 'victim.db' AS v;
INSERT INTO v.users VALUES('mallory','admin');
COMMIT;"
  plant attach_uri "ATTACH 'file:../outside.db?mode=rwc' AS x;
CREATE TABLE x.t(a);
COMMIT;"
  plant vacuum_into "COMMIT;
VACUUM INTO 'copy.db';"
  plant load_extension "SELECT load_extension('./evil.so');
COMMIT;"
  plant view_load_extension "CREATE VIEW v AS SELECT load_extension('./evil.so') AS x;
COMMIT;"
  plant journal_wal "COMMIT;
PRAGMA journal_mode=WAL;"
  plant temp_store_directory "PRAGMA temp_store_directory='..';
COMMIT;"
  plant temp_table "CREATE TEMP TABLE tt(a);
COMMIT;"
  plant forged_schema "PRAGMA writable_schema=ON;
INSERT INTO sqlite_schema(type,name,tbl_name,rootpage,sql) VALUES('table','t2','t2',2,'CREATE TABLE t2(a)');
PRAGMA writable_schema=OFF;
COMMIT;"
  plant after_odd_quote "INSERT INTO t VALUES('it''s;
');
ATTACH 'victim.db' AS d;
COMMIT;"
  plant endless "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c;
COMMIT;"
  plant zeroblob "INSERT INTO t VALUES(zeroblob(1000000000));
COMMIT;"
  printf '%s' "$good" >"$d/truncated.sql"
}

# ---- fuzz_decompress: what `dumper backup` stores (-c zstd and -c gzip) and streams of the gzip
# and zstd tools: several members/frames, no checksum, a skippable frame, windows at and past the
# 128 MiB cap ----
gen_fuzz_decompress() {
  local d=$OUT/fuzz_decompress db=$W/z.db plain=$W/plain.sql
  mkdir -p "$d"
  sqlite3 "$db" "CREATE TABLE t(a, b); INSERT INTO t VALUES(1, 'hello'), (2, x'00ff'), (3, 'world');"
  "$BIN/dumper" backup "sqlite://$db" --to "$W/zbk" -c zstd -n z >/dev/null
  "$BIN/dumper" backup "sqlite://$db" --to "$W/zbk" -c gzip -n z >/dev/null
  cp "$W"/zbk/z-*.sql.zst "$d/dumper_backup.sql.zst"
  cp "$W"/zbk/z-*.sql.gz "$d/dumper_backup.sql.gz"
  chmod 644 "$d"/dumper_backup.*
  sqlite3 "$db" .dump >"$plain"
  gzip -9 -n -c "$plain" >"$d/gzip.gz"
  { gzip -n -c "$plain"; printf 'second member\n' | gzip -n -c; } >"$d/gzip_two_members.gz"
  : | gzip -n -c >"$d/gzip_empty.gz"
  zstd -q -19 -c "$plain" >"$d/zstd.zst"
  zstd -q --no-check -c "$plain" >"$d/zstd_no_checksum.zst"
  { zstd -q -c "$plain"; printf 'second frame\n' | zstd -q -c; } >"$d/zstd_two_frames.zst"
  : | zstd -q -c >"$d/zstd_empty.zst"
  # a skippable frame (magic 0x184D2A50, 4 bytes of payload) before a real one
  { printf '\x50\x2a\x4d\x18\x04\x00\x00\x00skip'; zstd -q -c "$plain"; } >"$d/zstd_skippable.zst"
  # streamed (size unknown), so the header keeps the window asked for: 2^27 decodes, 2^28 must not
  cat "$plain" | zstd -q --long=27 -c >"$d/zstd_window_27.zst"
  cat "$plain" | zstd -q --long=28 -c >"$d/zstd_window_28.zst"
}

# ---- fuzz_dumperd_api: the request bodies of a real agent session (recorded by a proxy in front of
# dumperd: the example host with the real dumper backs up a SQLite database, and fails on a missing one),
# the shapes a real agent does not send here (S3 parts, every optional field, derived keys) ----
gen_fuzz_dumperd_api() {
  local d=$OUT/fuzz_dumperd_api data=$W/api-dpd rec=$W/api-rec key port pport hport url
  mkdir -p "$d" "$data" "$rec"
  key=$("$BIN/dumperd" app create shop --data "$data" 2>/dev/null)
  start_dumperd "$data" "$W/api-dpd.log" --primary-interval 1
  port=$DPD_PORT
  pport=$(free_port)
  # the recording proxy (a TEST DOUBLE's pass-through mode): the first POST body of each route is kept
  /usr/bin/python3 "$SRC/test/doubles/faulty_proxy.py" "$pport" "$port" "$W/api-proxy.log" record "$rec" \
    >"$W/api-proxy.out" 2>&1 &
  PIDS+=($!)
  url=http://127.0.0.1:$pport
  for i in $(seq 100); do curl -s -o /dev/null "$url/" && break; sleep 0.1; done
  sqlite3 "$W/app.db" "CREATE TABLE items(id INTEGER PRIMARY KEY, name TEXT); INSERT INTO items(name) VALUES ('a'), ('b');"
  hport=$(free_port)
  (cd "$W" && DUMPER_APP_KEY=$key exec "$BIN/dumper-example-host" --port "$hport" --api "$url" --dumper "$BIN/dumper" \
    --database "sqlite://$W/app.db" --database "sqlite://$W/missing/none.db" </dev/null >"$W/api-host.log" 2>&1) &
  PIDS+=($!)
  for _ in $(seq 100); do [ -s "$rec/api_v1_agents_poll" ] && break; sleep 0.1; done
  "$BIN/dumperd" backup now shop --env production --data "$data" >/dev/null 2>&1
  for _ in $(seq 300); do
    [ -s "$rec/api_v1_backups_b_N_commit" ] && [ -s "$rec/api_v1_backups_b_N_fail" ] && break
    sleep 0.1
  done
  local r
  for r in agents_register agents_poll backups_prepare backups_b_N_commit backups_b_N_fail; do
    [ -s "$rec/api_v1_$r" ] || { say "no $r body recorded"; cat "$W/api-host.log" "$W/api-dpd.log" >&2; ls "$rec" >&2; exit 1; }
    cp "$rec/api_v1_$r" "$d/agent_$r"
  done
  # what this session did not send: keys given, every optional field, S3 parts, the limits' edges
  printf '%s' '{"hostname":"web-1.example.com","pid":2147483647,"agent_version":"0.1.0","app_name":"shop","environment":"production","framework":"rails 7.1","dispatcher":"puma","databases":[{"key":"primary","type":"postgresql","host":"db1","port":5432,"name":"shop","user":"shop"},{"type":"mysql","host":"db2","port":3306,"name":"shop_0123456789_0123456789_0123456789_0123456789_0123456789_x"},{"type":"mariadb","name":"shop/é"},{"type":"mongodb","host":"m","port":27017,"name":"app"},{"type":"redis","host":"127.0.0.1","port":6379,"name":"0"},{"type":"sqlite"}]}' >"$d/register_all_types"
  printf '%s' '{"hostname":"h","pid":1,"environment":"e","databases":[{"type":"postgresql","password":"x"}]}' >"$d/register_password"
  printf '%s' '{"size":12582912,"sha256":"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08","raw_size":50000000,"duration_ms":1234,"source_type":"postgresql","database":"postgres://shop:***@db1:5432/shop","parts":[{"n":1,"etag":"\"5d41402abc4b2a76b9719d911017c592\""},{"n":2,"etag":"\"7d793037a0760186574b0282f2f435e7\""},{"n":3,"etag":"x"}]}' >"$d/commit_s3_parts"
  printf '%s' '{"size":1,"sha256":"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08","parts":10000,"database":"postgres://shop:s3cret@db1/shop"}' >"$d/commit_password_url"
  printf '%s' '{"agent_id":"a_1","job_id":"j_9223372036854775807","format":"dump","compression":"gzip","extension":"dump.gz"}' >"$d/prepare_all_fields"
  printf '%s' '{"code":"source_failed","message":"pg_dump: error: connection to server at \"db1\" failed\u001b[2J\u0000"}' >"$d/fail_control"
  printf '%s' 'b_0012/parts/10000' >"$d/route_ids"
}

# ---- fuzz_dumperd_cron: 8 bytes of start time (little-endian seconds, the target adds 2 days), the zone
# byte (the target's list), the expression, optionally "\n" and a zone name. The expressions of the docs
# and tests around the daylight saving changes of the listed zones, and the zone names a user may type ----
gen_fuzz_dumperd_cron() {
  local d=$OUT/fuzz_dumperd_cron
  mkdir -p "$d"
  /usr/bin/python3 - "$d" <<'PY'
import calendar, struct, sys, time
d = sys.argv[1]
zones = ["UTC", "Europe/Paris", "America/New_York", "Australia/Lord_Howe", "Antarctica/Troll", "Asia/Kathmandu",
         "Pacific/Apia", "Africa/Casablanca", "America/Santiago", "Pacific/Chatham", "Asia/Kolkata",
         "America/St_Johns", "Europe/London", "Australia/Sydney", "America/Havana", "Asia/Tehran"]
def seed(name, start, zone, expr, tzname=None):
    t = calendar.timegm(time.strptime(start, "%Y-%m-%dT%H:%M")) - 2 * 86400
    body = struct.pack("<Q", t) + bytes([zones.index(zone)]) + expr.encode()
    if tzname is not None:
        body += b"\n" + tzname.encode()
    open(f"{d}/{name}", "wb").write(body)
seed("daily_utc", "2026-11-26T10:00", "UTC", "0 3 * * *")
seed("every_minute", "2026-11-26T10:00", "UTC", "* * * * *")
seed("dom_or_dow", "2026-12-10T00:00", "UTC", "0 0 13 * 5")
seed("feb_29", "2026-11-26T10:00", "UTC", "0 0 29 2 *")
seed("feb_30_never", "2026-11-26T10:00", "UTC", "0 0 30 2 *")
seed("steps_lists", "2026-11-26T10:00", "UTC", "*/15 0-6,23 1 * 1-5")
seed("paris_spring", "2027-03-27T12:00", "Europe/Paris", "30 2 * * *")
seed("paris_autumn", "2026-10-24T12:00", "Europe/Paris", "30 2 * * *")
seed("new_york_weekdays", "2026-11-27T20:00", "America/New_York", "0 9 * * 1-5")
seed("lord_howe_autumn", "2026-04-04T00:00", "Australia/Lord_Howe", "59 1 * * *")
seed("lord_howe_spring", "2026-10-03T00:00", "Australia/Lord_Howe", "15 2 * * *")
seed("troll_autumn", "2026-10-24T00:00", "Antarctica/Troll", "30 1,2 * * *")
seed("apia_skipped_day", "2011-12-28T00:00", "Pacific/Apia", "0 12 * * *")
seed("casablanca_ramadan", "2026-02-14T00:00", "Africa/Casablanca", "0 2 * * *")
seed("santiago_midnight", "2026-04-04T00:00", "America/Santiago", "0 0 * * *")
seed("chatham_quarter", "2026-04-04T00:00", "Pacific/Chatham", "45 2 * * 0")
seed("kathmandu_offset", "2026-11-26T00:00", "Asia/Kathmandu", "0 9 * * *")
seed("sunday_as_7", "2026-11-26T00:00", "UTC", "0 0 * * 7")
seed("tz_named", "2026-03-28T00:00", "UTC", "30 2 * * *", "Europe/Berlin")
seed("tz_directory", "2026-03-28T00:00", "UTC", "30 2 * * *", "Europe")
seed("tz_other_file", "2026-03-28T00:00", "UTC", "30 2 * * *", "zone.tab")
seed("tz_traversal", "2026-03-28T00:00", "UTC", "30 2 * * *", "../../etc/passwd")
seed("bad_field", "2026-11-26T10:00", "UTC", "61 * * * *")
seed("bad_newline", "2026-11-26T10:00", "UTC", "0 0 * * 1\x1b[2J")
PY
}

gen_fuzz_dumperd_drill_result() {
  # real `dumper drill --json` documents of a SQLite backup: passed (with a true check), failed (a manifest
  # that lies about a table's rows, a false check), error (a damaged byte), plus a few hostile edits
  local d=$OUT/fuzz_dumperd_drill_result s=$W/drill
  mkdir -p "$d" "$s/tmp"
  sqlite3 "$s/app.db" "CREATE TABLE users(id INTEGER PRIMARY KEY, name TEXT); INSERT INTO users(name) VALUES ('a'),('b');
    CREATE TABLE \"we\"\"ird
name\"(x); INSERT INTO \"we\"\"ird
name\" VALUES (1);"
  local b
  b=$("$BIN/dumper" backup "sqlite://$s/app.db" --to "$s/bk")
  echo "select count(*) = 2 from users" >"$s/true.sql"
  echo "select count(*) > 5 from users" >"$s/false.sql"
  TMPDIR=$s/tmp "$BIN/dumper" drill "$b" --json --check "$s/true.sql" >"$d/passed_check" || true
  mkdir "$s/lie" "$s/bad"
  cp "$b" "$b.json" "$s/lie/"
  cp "$b" "$b.json" "$s/bad/"
  /usr/bin/python3 - "$s/lie/$(basename "$b").json" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
for t in m["contents"]["tables"]:
    t["rows"] += 1
json.dump(m, open(sys.argv[1], "w"))
PY
  TMPDIR=$s/tmp "$BIN/dumper" drill "$s/lie/$(basename "$b")" --json --check "$s/false.sql" >"$d/failed" || true
  printf '\x00' | dd of="$s/bad/$(basename "$b")" bs=1 seek=20 conv=notrunc status=none
  TMPDIR=$s/tmp "$BIN/dumper" drill "$s/bad/$(basename "$b")" --json >"$d/error" || true
  /usr/bin/python3 - "$d" <<'PY'
import json, sys
d = sys.argv[1]
o = json.load(open(d + "/failed"))
o["mismatches"] = o["mismatches"] * 120
open(d + "/failed_many", "w").write(json.dumps(o))
o = json.load(open(d + "/passed_check"))
o["mismatches"] = ["x"]
open(d + "/passed_inconsistent", "w").write(json.dumps(o))
o = json.load(open(d + "/passed_check"))
o["rows"] = 9007199254740993
o["target"] = "t\u202e\u0007x"
o["future"] = {"nested": [[[]]]}
open(d + "/numbers_text", "w").write(json.dumps(o))
PY
}

NAMES=("$@")
[ ${#NAMES[@]} -gt 0 ] || NAMES=($(declare -F | sed -n 's/^declare -f gen_//p'))
for n in "${NAMES[@]}"; do
  declare -F "gen_$n" >/dev/null || { say "no generator for $n"; exit 2; }
  say "$n"
  "gen_$n"
done
