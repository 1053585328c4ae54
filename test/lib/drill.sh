# test/lib/drill.sh - helpers for the drill tests (drill_sqlite, drill_pg, drill_my, drill_redis, agent_drill_my_redis). Source after common.sh.
#   edited_copy BACKUP TABLE ROWS        a copy of BACKUP whose manifest says TABLE has ROWS rows; prints its path
#   expect_drill CODE "desc" LINE args   `dumper drill args` exits CODE and prints LINE (exactly) on stdout
#   start_drill_redis                    a redis-server of this test (no password, no persistence) in $T/r on
#                                        a free port: sets PORT and RPID, and kills it when the test exits
#                                        (needs free_port: agent.sh)

edited_copy() {
  local b=$1 table=$2 rows=$3 d
  d=$(mktemp -d "$T/edited.XXXXXX")
  cp "$b" "$b.json" "$d/"
  python3 - "$d/$(basename "$b").json" "$table" "$rows" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
hit = [t for t in m["contents"]["tables"] if t["name"] == sys.argv[2]]
assert hit, "no table " + sys.argv[2]
hit[0]["rows"] = int(sys.argv[3])
json.dump(m, open(sys.argv[1], "w"))
PY
  echo "$d/$(basename "$b")"
}

start_drill_redis() {
  mkdir -p "$T/r"
  PORT=$(free_port)
  { echo "port $PORT"; echo "bind 127.0.0.1"; echo "dir $T/r"; echo 'save ""'; echo "appendonly no"
    echo "daemonize yes"; echo "pidfile $T/r/redis.pid"; echo "logfile $T/r/server.log"; } >"$T/r/redis.conf"
  redis-server "$T/r/redis.conf" >/dev/null
  for _ in $(seq 400); do redis-cli -p "$PORT" ping >/dev/null 2>&1 && break; sleep 0.05; done
  RPID=$(cat "$T/r/redis.pid")
  trap 'rc=$?; kill_ours KILL "$RPID"; (exit $rc); _cleanup' EXIT
}

expect_drill() {
  local want=$1 d=$2 line=$3 rc=0; shift 3
  "$DUMPER" drill "$@" >"$T/out" 2>"$T/err" || rc=$?
  [ "$rc" = "$want" ] || { cat "$T/out" "$T/err" >&2; fail "$d: exit $rc, expected $want"; }
  grep -qxF -- "$line" "$T/out" || { cat "$T/out" >&2; fail "$d: no line '$line'"; }
}
