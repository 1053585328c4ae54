#!/usr/bin/env bash
# age_sources.sh - encrypted round trips for every source against the real servers: SQLite,
# PostgreSQL (sql and dump formats), MariaDB, Redis (a server of its own, the restored RDB loaded
# into a fresh one) and MongoDB (its wire-protocol TEST DOUBLE, no server installable here); and a
# multipart backup to S3 (s3rver). Each
# backup is encrypted to a recipient, holds no plaintext, decrypts with the age tool, and restores
# with the identity into a target equal to the source. A source whose service is not running is
# skipped (failed when DUMPER_TEST_REQUIRE_SERVICES is set).
. "$(dirname "$0")/../lib/common.sh"
. "$DUMPER_SRC/test/lib/sql.sh"
. "$DUMPER_SRC/test/lib/agent.sh"
command -v age >/dev/null || fail "the age tool is missing (scripts/install-deps.sh)"

"$DUMPER" keygen --out "$T/id.key" >"$T/id.pub"
R=$(cat "$T/id.pub")
PIDS=()
trap 'rc=$?; kill_ours KILL "${PIDS[@]}"; (exit $rc); _cleanup' EXIT

have() { # have SERVICE: running, or skipped with a note (a failure when services are required)
  local v="DUMPER_TEST_HAVE_$(echo "$1" | tr a-z A-Z)"
  [ -n "${!v:-}" ] && return 0
  [ -z "${DUMPER_TEST_REQUIRE_SERVICES:-}" ] || fail "service $1 is not running"
  note "skip $1: not running"; return 1
}

# enc_backup URL MARKER [backup args]: an encrypted backup; prints its path. MARKER is a string of the
# data that must not appear in the stored bytes, but must in what age decrypts.
enc_backup() {
  local url=$1 marker=$2 p; shift 2
  p=$("$DUMPER" backup "$url" --to "$T/b" --recipient "$R" "$@") || fail "encrypted backup of $url"
  case $p in *.age) ;; *) fail "backup name $p does not end in .age";; esac
  grep -q "\"recipients\":	\[\"$R\"\]" "$p.json" || fail "manifest of $p lacks the recipient"
  ! grep -qF "$marker" "$p" || fail "plaintext '$marker' in $p"
  age -d -i "$T/id.key" -o "$T/plain.tmp" "$p" || fail "age cannot decrypt $p"
  case $p in
    *.zst.age) zstd -qdc "$T/plain.tmp" >"$T/plain.out" ;;
    *.gz.age) gzip -dc "$T/plain.tmp" >"$T/plain.out" ;;
    *) mv "$T/plain.tmp" "$T/plain.out" ;;
  esac
  grep -qaF "$marker" "$T/plain.out" || fail "'$marker' not in the decrypted dump of $p"
  "$DUMPER" verify "$p" -i "$T/id.key" >/dev/null || fail "verify $p"
  echo "$p"
}

# ---- SQLite ----
sqlite3 "$T/app.db" "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t VALUES (1, 'sqlite-marker'), (2, NULL);"
p=$(enc_backup "sqlite://$T/app.db" sqlite-marker --compress gzip)
quiet_check "sqlite restore" "$DUMPER" restore "$p" "sqlite://$T/restored.db" -i "$T/id.key"
[ "$(sqlite3 "$T/restored.db" .dump)" = "$(sqlite3 "$T/app.db" .dump)" ] || fail "sqlite: restored database differs"
note "sqlite ok"

# ---- PostgreSQL, both formats ----
if have pg; then
  SRC=dp_age_src
  pg_fresh $SRC
  pgq $SRC >/dev/null <<'SQL'
CREATE TABLE people (id serial PRIMARY KEY, name text, doc jsonb, photo bytea);
INSERT INTO people (name, doc, photo) SELECT 'pg-marker ' || g, jsonb_build_object('n', g), decode(md5(g::text), 'hex')
  FROM generate_series(1, 2000) g;
CREATE INDEX people_name ON people (name);
CREATE VIEW named AS SELECT name FROM people WHERE id < 10;
SQL
  before=$(pg_fingerprint $SRC)
  for fmt in sql dump; do
    p=$(enc_backup "$(pg_url $SRC)" "pg-marker 1" --format $fmt)
    case $p in *.$fmt.zst.age) ;; *) fail "pg $fmt name: $p";; esac
    pg_fresh dp_age_$fmt
    quiet_check "pg $fmt restore" "$DUMPER" restore "$p" "$(pg_url dp_age_$fmt)" -i "$T/id.key"
    [ "$(pg_fingerprint dp_age_$fmt)" = "$before" ] || fail "pg $fmt: restored tables differ"
    [ "$(pgq dp_age_$fmt -c "SELECT count(*) FROM named")" = 9 ] || fail "pg $fmt: view missing"
    # without the identity: 11 and the target stays empty
    pg_fresh dp_age_none
    expect_fail 11 "pg $fmt restore without identity" env -u DUMPER_IDENTITY "$DUMPER" restore "$p" "$(pg_url dp_age_none)"
    [ "$(pgq dp_age_none -c "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")" = 0 ] ||
      fail "pg $fmt: a refused restore touched the target"
  done
  pgq postgres -c "DROP DATABASE $SRC" -c "DROP DATABASE dp_age_sql" -c "DROP DATABASE dp_age_dump" -c "DROP DATABASE dp_age_none"
  note "postgresql ok"
fi

# ---- MariaDB ----
if have mariadb; then
  SRC=dp_age_src
  my_fresh $SRC
  myq $SRC <<'SQL'
CREATE TABLE people (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(100), doc JSON, photo BLOB) ENGINE=InnoDB;
INSERT INTO people (name, doc, photo) SELECT CONCAT('my-marker ', seq), JSON_OBJECT('n', seq), UNHEX(MD5(seq))
  FROM seq_1_to_2000;
CREATE VIEW named AS SELECT name FROM people WHERE id < 10;
SQL
  before=$(my_fingerprint $SRC)
  p=$(enc_backup "$(my_url $SRC)" "my-marker 1")
  my_fresh dp_age_dst
  quiet_check "mariadb restore" "$DUMPER" restore "$p" "$(my_url dp_age_dst)" -i "$T/id.key"
  [ "$(my_fingerprint dp_age_dst)" = "$before" ] || fail "mariadb: restored tables differ"
  [ "$(myq -e "SELECT COUNT(*) FROM dp_age_dst.named")" = 9 ] || fail "mariadb: view missing"
  myq -e "DROP DATABASE $SRC; DROP DATABASE dp_age_dst"
  note "mariadb ok"
fi

# ---- Redis: a server of its own ----
if command -v redis-server >/dev/null; then
  start_redis() { # start_redis NAME PORT
    mkdir -p "$T/$1"
    printf 'port %s\nbind 127.0.0.1\ndir %s\ndbfilename dump.rdb\nsave ""\nappendonly no\ndaemonize yes\npidfile %s\nlogfile %s\n' \
      "$2" "$T/$1" "$T/$1/redis.pid" "$T/$1/server.log" >"$T/$1/redis.conf"
    redis-server "$T/$1/redis.conf" >/dev/null
    for _ in $(seq 400); do redis-cli -p "$2" ping >/dev/null 2>&1 && break; sleep 0.05; done
    redis-cli -p "$2" ping | grep -q PONG || fail "redis $1 did not start"
    PIDS+=("$(cat "$T/$1/redis.pid")")
  }
  keys() { # every key and its value, one redis-cli call for the values
    local k; mapfile -t k < <(redis-cli -p "$1" --scan | sort)
    [ "${#k[@]}" -gt 0 ] || return 0
    paste -d ' ' <(printf '%s\n' "${k[@]}") <(redis-cli -p "$1" --raw MGET "${k[@]}")
  }
  P1=$(free_port); start_redis main "$P1"
  for i in $(seq 200); do echo "SET k$i redis-marker-$i"; done | redis-cli -p "$P1" >/dev/null
  keys "$P1" >"$T/redis.want"
  p=$(enc_backup "redis://127.0.0.1:$P1" redis-marker-7)
  mkdir -p "$T/fresh"
  quiet_check "redis restore" "$DUMPER" restore "$p" "redis://127.0.0.1:$P1" --rdb-file "$T/fresh/dump.rdb" -i "$T/id.key"
  P2=$(free_port); start_redis fresh "$P2"
  keys "$P2" >"$T/redis.got"
  diff -u "$T/redis.want" "$T/redis.got" >&2 || fail "redis: restored keys differ"
  [ "$(wc -l <"$T/redis.got")" = 200 ] || fail "redis: $(wc -l <"$T/redis.got") keys restored"
  note "redis ok"
else
  [ -z "${DUMPER_TEST_REQUIRE_SERVICES:-}" ] || fail "redis-server missing"
fi

# ---- MongoDB: the wire-protocol TEST DOUBLE ----
if "$PY" -c 'import bson, pymongo' 2>/dev/null; then
  MP=$(free_port)
  "$PY" "$DUMPER_SRC/test/doubles/mongo_wire_double.py" "$MP" "$T/mongo.ready" </dev/null >"$T/mongo.log" 2>&1 &
  MPID=$!
  PIDS+=("$MPID")
  for _ in $(seq 100); do [ -f "$T/mongo.ready" ] && break; sleep 0.05; done
  [ -f "$T/mongo.ready" ] || fail "mongo test double did not start"
  cat >"$T/mongo.py" <<'PYEOF'
import sys, pymongo
from bson.raw_bson import RawBSONDocument
c = pymongo.MongoClient(sys.argv[1], serverSelectionTimeoutMS=5000, document_class=RawBSONDocument)
if sys.argv[2] == "populate":
    c.app.items.insert_many([{"_id": i, "s": "mongo-marker %d" % i, "b": bytes([i % 256]) * 20} for i in range(300)])
    c.app.items.create_index([("s", 1)], name="s_1")
else:
    a = [d.raw for d in c.app.items.find()]
    b = [d.raw for d in c.copy.items.find()]
    if a != b or len(a) != 300:
        sys.exit("documents differ: %d vs %d" % (len(a), len(b)))
    if sorted(i["name"] for i in c.copy.items.list_indexes()) != ["_id_", "s_1"]:
        sys.exit("indexes differ")
PYEOF
  check "mongo populate" "$PY" "$T/mongo.py" "mongodb://127.0.0.1:$MP/" populate
  p=$(enc_backup "mongodb://127.0.0.1:$MP/app" "mongo-marker 1")
  quiet_check "mongodb restore" "$DUMPER" restore "$p" "mongodb://127.0.0.1:$MP/copy" -i "$T/id.key"
  check "mongodb compare" "$PY" "$T/mongo.py" "mongodb://127.0.0.1:$MP/" compare
  kill_ours TERM "$MPID"; wait "$MPID" 2>/dev/null || true
  note "mongodb (test double) ok"
else
  [ -z "${DUMPER_TEST_REQUIRE_SERVICES:-}" ] || fail "python3-pymongo missing"
fi
# ---- S3 storage (s3rver): the encrypted stream goes to an object store like any other ----
if have s3; then
  sqlite3 "$T/big.db" "CREATE TABLE t(a INTEGER PRIMARY KEY, b); INSERT INTO t(b) SELECT randomblob(1000) FROM generate_series(1, 12000);"
  p=$(env AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER AWS_REGION=us-east-1 AWS_ENDPOINT_URL="$DUMPER_TEST_S3_ENDPOINT"     "$DUMPER" backup "sqlite://$T/big.db" --to "s3://$DUMPER_TEST_S3_BUCKET/age-$$-$RANDOM" --recipient "$R" --part-size 5) ||
    fail "encrypted backup to s3"
  case $p in s3://*.sql.zst.age) ;; *) fail "s3 backup name $p";; esac
  s3env=(env AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER AWS_REGION=us-east-1 AWS_ENDPOINT_URL="$DUMPER_TEST_S3_ENDPOINT")
  quiet_check "key-less verify on s3" "${s3env[@]}" "$DUMPER" verify "$p"
  quiet_check "verify on s3" "${s3env[@]}" "$DUMPER" verify "$p" -i "$T/id.key"
  quiet_check "restore from s3" "${s3env[@]}" "$DUMPER" restore "$p" "sqlite://$T/big-restored.db" -i "$T/id.key"
  sum() { sqlite3 "$1" "SELECT count(*), hex(sha3_query('SELECT a, b FROM t ORDER BY a'))"; }
  [ "$(sum "$T/big-restored.db")" = "$(sum "$T/big.db")" ] || fail "s3: restored database differs"
  note "s3 ok (multipart: $(( $(stat -c %s "$T/big.db") / 1048576 )) MiB database)"
fi
echo "age_sources: ok"
