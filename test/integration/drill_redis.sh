#!/usr/bin/env bash
# drill_redis.sh - `dumper drill` of Redis backups: the RDB is restored to a file in a temporary
# directory and loaded by a throwaway redis-server on a unix socket (no TCP port), which parses every
# value; the keys of each database are reported. An RDB whose checksum is fine but which the server
# cannot load (a version it does not know, checksum off) fails the drill (9) with the server's line;
# --check is refused (4); nothing is left in the temporary directory.
. "$(dirname "$0")/../lib/common.sh"
. "$DUMPER_SRC/test/lib/agent.sh"
need_service redis
command -v redis-server >/dev/null || { echo "skip: no redis-server" >&2; exit 77; }
export TMPDIR="$T/tmp"
mkdir -p "$TMPDIR" "$T/r"
PORT=$(free_port)
{ echo "port $PORT"; echo "bind 127.0.0.1"; echo "dir $T/r"; echo 'save ""'; echo "appendonly no"
  echo "daemonize yes"; echo "pidfile $T/r/redis.pid"; echo "logfile $T/r/server.log"; } >"$T/r/redis.conf"
redis-server "$T/r/redis.conf" >/dev/null
for _ in $(seq 400); do redis-cli -p "$PORT" ping >/dev/null 2>&1 && break; sleep 0.05; done
RPID=$(cat "$T/r/redis.pid")
trap 'rc=$?; kill_ours KILL "$RPID"; (exit $rc); _cleanup' EXIT
redis-cli -p "$PORT" MSET a 1 b 2 c 3 >/dev/null
redis-cli -p "$PORT" -n 3 RPUSH list x y z >/dev/null
redis-cli -p "$PORT" -n 3 HSET h f v >/dev/null
redis-cli -p "$PORT" -n 12 SET k v >/dev/null
B=$("$DUMPER" backup "redis://127.0.0.1:$PORT" --to "$T/bk")
no_leftover() { [ -z "$(ls -A "$TMPDIR")" ] || fail "$1: left in TMPDIR: $(ls -A "$TMPDIR")"; }

"$DUMPER" drill "$B" >"$T/out" 2>"$T/err" || { cat "$T/out" "$T/err" >&2; fail "drill of a good backup"; }
grep -qx "drill passed: $B" "$T/out" || fail "no 'drill passed'"
grep -qx "  3 databases, 6 keys (the manifest records no contents: restore only)" "$T/out" || { cat "$T/out" >&2; fail "figures"; }
"$DUMPER" drill "$B" --json >"$T/json"
python3 - "$T/json" <<'PY' || fail "--json"
import json, sys
o = json.load(open(sys.argv[1]))
assert o["status"] == "passed" and o["rows"] == 6 and o["tables"] == 3 and o["scratch_server_version"].startswith("7"), o
PY
no_leftover "after a passed drill"
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
