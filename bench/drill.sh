#!/usr/bin/env bash
# bench/drill.sh - time of `dumper drill` against the time of the backup it drills, on the same data
# (issue 15's goal: drill <= 1.5x backup).
#
# Alternates BENCH_RUNS rounds (a backup, then drills of that backup) per source and prints the medians:
#   PostgreSQL: a pgbench database of scale BENCH_SCALE (made once), plain and custom format; the
#               drill restores into a scratch database on the same server.
#   SQLite:     a file of BENCH_SQLITE_ROWS rows (made once).
#   Redis:      BENCH_REDIS_KEYS keys of 64 bytes in a redis-server of its own (port BENCH_REDIS_PORT,
#               default the port base + 9), loaded from BENCH_DIR/redis/dump.rdb (made once).
# With DUMPER_REF (a baseline build, e.g. bench/build_ref.sh main DIR), each round also drills with it
# (the two drills in alternating order), so old and new are timed under the same load.
# Uses the test services (scripts/services.sh start; DUMPER_TEST_PORT_BASE as for the tests).
#   BENCH_SCALE=10 BENCH_RUNS=5 BENCH_SQLITE_ROWS=1000000 BENCH_REDIS_KEYS=1000000 BENCH_DIR=/tmp/dumper-bench-drill
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SCALE=${BENCH_SCALE:-10}
RUNS=${BENCH_RUNS:-5}
ROWS=${BENCH_SQLITE_ROWS:-1000000}
DIR=${BENCH_DIR:-/tmp/dumper-bench-drill}
DUMPER=${DUMPER:-$ROOT/build/bin/dumper}
REF=${DUMPER_REF:-}
KEYS=${BENCH_REDIS_KEYS:-1000000}
envfile=$(DUMPER_TEST_PORT_BASE=${DUMPER_TEST_PORT_BASE:-25400} "$ROOT/scripts/services.sh" env)
# shellcheck disable=SC1090
. "$envfile"
export PGPASSWORD=$DUMPER_TEST_PASSWORD DUMPER_DB_PASSWORD=$DUMPER_TEST_PASSWORD
export PGHOST=127.0.0.1 PGPORT=$DUMPER_TEST_PG_PORT PGUSER=postgres
DB=bench_drill
mkdir -p "$DIR"
log() { echo "bench: $*" >&2; }

if [ "$(psql -X -d postgres -Atc "SELECT count(*) FROM pg_database WHERE datname='$DB'")" != 1 ] ||
   [ "$(psql -X -d $DB -Atc "SELECT count(*) FROM pgbench_branches" 2>/dev/null)" != "$SCALE" ]; then
  log "generating pgbench scale $SCALE"
  psql -X -d postgres -qc "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB"
  pgbench -i -q -s "$SCALE" "$DB" >"$DIR/pgbench-init.log" 2>&1
  psql -X -d $DB -qc "VACUUM ANALYZE"
fi
if [ "$(sqlite3 "$DIR/app.db" "SELECT count(*) FROM t" 2>/dev/null)" != "$ROWS" ]; then
  log "generating $ROWS sqlite rows"
  rm -f "$DIR/app.db"
  sqlite3 "$DIR/app.db" "CREATE TABLE t(id INTEGER PRIMARY KEY, a TEXT, b REAL);
    WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < $ROWS)
    INSERT INTO t SELECT x, hex(randomblob(16)), x * 1.5 FROM c;"
fi

RPORT=${BENCH_REDIS_PORT:-$((${DUMPER_TEST_PORT_BASE:-25400} + 9))}
mkdir -p "$DIR/redis"
redis-server --port "$RPORT" --bind 127.0.0.1 --dir "$DIR/redis" --save "" --appendonly no --daemonize yes \
  --pidfile "$DIR/redis/pid" --logfile "$DIR/redis/log"
trap 'kill "$(cat "$DIR/redis/pid")" 2>/dev/null || true' EXIT
for _ in $(seq 600); do [ "$(redis-cli -p "$RPORT" ping 2>/dev/null)" = PONG ] && break; sleep 0.1; done
if [ "$(redis-cli -p "$RPORT" DBSIZE)" != "$KEYS" ]; then
  log "generating $KEYS redis keys"
  redis-cli -p "$RPORT" FLUSHALL >/dev/null
  awk -v n="$KEYS" 'BEGIN { v = sprintf("%064d", 0); for (i = 0; i < n; i++) printf "SET key:%d %s%d\r\n", i, v, i }' |
    redis-cli -p "$RPORT" --pipe >/dev/null
  redis-cli -p "$RPORT" SAVE >/dev/null
fi

median() { sort -n | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
now() { date +%s.%N; }

# pair NAME URL [backup options]: RUNS x (backup, drill[, reference drill]); medians and ratios
pair() {
  local name=$1 url=$2; shift 2
  local b d r t0 t1 path out="$DIR/out" i
  : >"$DIR/$name.b"; : >"$DIR/$name.d"; : >"$DIR/$name.r"
  drill_with() { # BINARY FILE
    local s e; s=$(now)
    "$1" drill "$path" --scratch "postgres://postgres@127.0.0.1:$PGPORT/postgres" >/dev/null 2>&1 ||
      log "$name: drill with $1 failed"
    e=$(now); echo "$e - $s" | bc >>"$2"
  }
  for i in $(seq "$RUNS"); do
    rm -rf "$out"
    t0=$(now)
    path=$("$DUMPER" backup "$url" --to "$out" "$@" 2>/dev/null)
    t1=$(now)
    echo "$t1 - $t0" | bc >>"$DIR/$name.b"
    if [ -n "$REF" ] && [ $((i % 2)) = 0 ]; then drill_with "$REF" "$DIR/$name.r"; fi
    drill_with "$DUMPER" "$DIR/$name.d"
    if [ -n "$REF" ] && [ $((i % 2)) = 1 ]; then drill_with "$REF" "$DIR/$name.r"; fi
  done
  b=$(median <"$DIR/$name.b"); d=$(median <"$DIR/$name.d")
  if [ -n "$REF" ]; then
    r=$(median <"$DIR/$name.r")
    printf '| %s | %.2f s | %.2f s (%.2fx) | %.2f s (%.2fx) |\n' "$name" "$b" "$r" "$(echo "$r / $b" | bc -l)" "$d" \
      "$(echo "$d / $b" | bc -l)"
  else
    printf '| %s | %.2f s | %.2f s | %.2fx |\n' "$name" "$b" "$d" "$(echo "$d / $b" | bc -l)"
  fi
}

log "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
if [ -n "$REF" ]; then
  echo "| data | backup (median of $RUNS) | drill, baseline (/ backup) | drill (/ backup) |"
else
  echo "| data | backup (median of $RUNS) | drill (median of $RUNS) | drill / backup |"
fi
echo "|---|---|---|---|"
pair "PostgreSQL pgbench scale $SCALE, plain" "postgres://postgres@127.0.0.1:$PGPORT/$DB"
pair "PostgreSQL pgbench scale $SCALE, custom" "postgres://postgres@127.0.0.1:$PGPORT/$DB" --format dump
pair "SQLite $ROWS rows" "sqlite://$DIR/app.db"
pair "Redis $KEYS keys" "redis://127.0.0.1:$RPORT"
log "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
