#!/usr/bin/env bash
# drill_redis.sh - `dumper drill` of Redis backups: the RDB is restored to a file in a temporary
# directory and loaded by a throwaway redis-server on a unix socket (no TCP port), which parses every
# value; the keys of each database are compared with the counts the backup recorded in its manifest
# (a walk over the same RDB bytes): every value type and encoding Redis 7.0 writes (strings plain,
# integer and LZF-compressed; lists, sets, sorted sets and hashes small and large; intsets; streams
# with consumer groups and pending entries, and an emptied stream), in several databases, and keys
# whose TTL ran out between the backup and the drill (the throwaway server is a replica: it keeps
# them, so the drill does not fail for time passing). A manifest that lies about a count or a
# database fails the drill (21) with the exact mismatch lines. An RDB whose checksum is fine but
# which the server cannot load (a version it does not know, checksum off) fails the drill (9) with
# the server's line; --check is refused (4); nothing is left in the temporary directory.
. "$(dirname "$0")/../lib/common.sh"
. "$DUMPER_SRC/test/lib/agent.sh"
. "$DUMPER_SRC/test/lib/drill.sh"
need_service redis
command -v redis-server >/dev/null || { echo "skip: no redis-server" >&2; exit 77; }
export TMPDIR="$T/tmp"
mkdir -p "$TMPDIR"
start_drill_redis
R() { redis-cli -p "$PORT" "$@" >/dev/null; }
# db0: 3 strings (plain, integer, LZF-compressed) and one of every small and large encoding
R MSET a 1 b 12345 c "$(printf 'x%.0s' $(seq 300))"
R RPUSH small_list x y z
R RPUSH big_list $(seq 1000)
R SADD small_set a b
R SADD int_set 1 2 3
R SADD big_set $(seq 200 | sed 's/^/m/')
R ZADD small_zset 1 a 2 b
R ZADD big_zset $(seq 200 | sed 's/.*/& m&/')
R HSET small_hash f v
R HSET big_hash $(seq 200 | sed 's/.*/f& v&/')
R XADD stream '*' f v
R XADD stream '*' f w
R XGROUP CREATE stream grp 0
R XREADGROUP GROUP grp alice COUNT 1 STREAMS stream '>'
R XADD emptied 1-1 f v
R XDEL emptied 1-1
# db3: 2 keys; db12: 1 key; db15: 3 keys whose TTL runs out before the drill
R -n 3 RPUSH list x y z
R -n 3 HSET h f v
R -n 12 SET k v
R -n 15 SET t1 v PX 1500
R -n 15 SET t2 v PX 1500
R -n 15 HSET t3 f v
R -n 15 PEXPIRE t3 1500
B=$("$DUMPER" backup "redis://127.0.0.1:$PORT" --to "$T/bk")
no_leftover() { [ -z "$(ls -A "$TMPDIR")" ] || fail "$1: left in TMPDIR: $(ls -A "$TMPDIR")"; }
python3 - "$B.json" <<'PY' || fail "manifest contents"
import json, sys
c = json.load(open(sys.argv[1]))["contents"]
want = [{"name": "db0", "rows": 14}, {"name": "db12", "rows": 1}, {"name": "db15", "rows": 3}, {"name": "db3", "rows": 2}]
assert c["tables"] == want, c
assert c["server_version"].startswith("7.") and "schema_fingerprint" not in c, c
PY
# wait until the source server has expired the TTL keys: they are gone everywhere but in the backup
for _ in $(seq 100); do [ "$(redis-cli -p "$PORT" -n 15 DBSIZE)" = 0 ] && break; sleep 0.05; done
[ "$(redis-cli -p "$PORT" -n 15 DBSIZE)" = 0 ] || fail "the TTL keys did not expire"

"$DUMPER" drill "$B" >"$T/out" 2>"$T/err" || { cat "$T/out" "$T/err" >&2; fail "drill of a good backup"; }
grep -qx "drill passed: $B" "$T/out" || fail "no 'drill passed'"
grep -qx "  4 databases, 20 keys, compared with the manifest" "$T/out" || { cat "$T/out" >&2; fail "figures"; }
"$DUMPER" drill "$B" --json >"$T/json"
python3 - "$T/json" <<'PY' || fail "--json"
import json, sys
o = json.load(open(sys.argv[1]))
assert o["status"] == "passed" and o["compared"] is True and o["mismatches"] == [], o
assert o["rows"] == 20 and o["tables"] == 4 and o["scratch_server_version"].startswith("7"), o
assert o["source_server_version"] == o["scratch_server_version"], o
PY
no_leftover "after a passed drill"

# a manifest that lies: one key more in db0, db12 gone, a database the backup does not hold
mkdir "$T/lie"
E="$T/lie/$(basename "$B")"
cp "$B" "$E"
python3 - "$B.json" "$E.json" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
m["contents"]["tables"] = [{"name": "db0", "rows": 15}, {"name": "db15", "rows": 3}, {"name": "db3", "rows": 2},
                           {"name": "db4", "rows": 7}]
json.dump(m, open(sys.argv[2], "w"))
PY
rc=0; "$DUMPER" drill "$E" >"$T/out" 2>"$T/err" || rc=$?
[ "$rc" = 21 ] || { cat "$T/out" "$T/err" >&2; fail "lying manifest: exit $rc, expected 21"; }
grep -qx "drill FAILED: $E" "$T/out" || fail "no 'drill FAILED' line"
cat >"$T/want" <<'EOF2'
  mismatch: database 'db0': 15 keys in the manifest, 14 restored
  mismatch: database 'db12' was restored but is not in the manifest
  mismatch: database 'db4' (7 keys in the manifest) is missing from the restored server
EOF2
grep mismatch "$T/out" >"$T/got" || true
diff "$T/want" "$T/got" >&2 || fail "mismatch lines"
no_leftover "after a failed drill"
[ -z "$(pgrep -f "redis-server.*$TMPDIR" || true)" ] || fail "the throwaway redis-server still runs"

# an RDB of a version this redis-server does not know, checksum off (a zero trailer: dumper's own
# check accepts it), stored with a matching sha256: the server refuses it, the drill fails
mkdir "$T/newer"
N="$T/newer/$(basename "$B")"
python3 - "$B" "$N" <<'PY'
import hashlib, json, subprocess, sys
raw = bytearray(subprocess.run(["zstd", "-dcq", sys.argv[1]], capture_output=True, check=True).stdout)
raw[5:9] = b"0099"
raw[-8:] = bytes(8)
open(sys.argv[2] + ".raw", "wb").write(raw)
subprocess.run(["zstd", "-q", "-f", sys.argv[2] + ".raw", "-o", sys.argv[2]], check=True)
data = open(sys.argv[2], "rb").read()
m = json.load(open(sys.argv[1] + ".json"))
m.update(size=len(data), raw_size=len(raw), sha256=hashlib.sha256(data).hexdigest())
json.dump(m, open(sys.argv[2] + ".json", "w"))
PY
expect_fail 9 "an rdb the server cannot load" "$DUMPER" drill "$N"
grep -q "^dumper: redis-server refused the restored rdb: .*Fatal error loading the DB" "$T/err" || { cat "$T/err" >&2; fail "refusal line"; }
no_leftover "after a refused rdb"

echo "select 1" >"$T/c.sql"
expect_fail 4 "--check on redis" "$DUMPER" drill "$B" --check "$T/c.sql"
grep -qx "dumper: redis drills take no --check" "$T/err" || fail "check refusal line"
echo ok
