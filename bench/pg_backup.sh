#!/usr/bin/env bash
# bench/pg_backup.sh - `dumper backup` of a ~1 GB PostgreSQL database against pg_dump.
#
# Starts its own PostgreSQL 15 on loopback (data kept in $BENCH_DIR so the pgbench data is
# generated only once), then in one run measures wall time and peak RSS (/usr/bin/time -v) of:
#   1. pg_dump > /dev/null                      (the floor: what the dump tool alone costs)
#   2. pg_dump | gzip > file                    (how the original Ruby agent worked)
#   3. dumper backup postgres://... --to DIR    (zstd, the default)
# and prints a Markdown table with each time's ratio to (1).
#
#   bench/pg_backup.sh                 generate if needed, measure, stop the server
#   bench/pg_backup.sh --generate-only
#   BENCH_SCALE=70 BENCH_PG_PORT=25590 BENCH_DIR=/tmp/dumper-bench-pg BENCH_RUNS=1
# Needs a built tree (build/bin/dumper), pgbench and /usr/bin/time (package `time`).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PORT=${BENCH_PG_PORT:-25590}
DIR=${BENCH_DIR:-/tmp/dumper-bench-pg}
SCALE=${BENCH_SCALE:-70}
RUNS=${BENCH_RUNS:-1}
DUMPER=${DUMPER:-$ROOT/build/bin/dumper}
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n1)
PW=bench-pw
export PGPASSWORD=$PW PGHOST=127.0.0.1 PGPORT=$PORT PGUSER=postgres
DB=bench

log() { echo "bench: $*" >&2; }

start_server() {
  if [ ! -f "$DIR/data/PG_VERSION" ]; then
    rm -rf "$DIR"; mkdir -p "$DIR"; chown postgres: "$DIR"; chmod 700 "$DIR"
    printf '%s\n' "$PW" >"$DIR/pw"; chown postgres: "$DIR/pw"
    runuser -u postgres -- "$PGBIN/initdb" -D "$DIR/data" -U postgres --pwfile="$DIR/pw" \
      --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >"$DIR/initdb.log" 2>&1
    rm -f "$DIR/pw"
  fi
  runuser -u postgres -- "$PGBIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w -t 60 \
    -o "-p $PORT -k $DIR -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off" start >/dev/null
}
stop_server() { runuser -u postgres -- "$PGBIN/pg_ctl" -D "$DIR/data" -m fast -w stop >/dev/null 2>&1 || true; }
trap stop_server EXIT

start_server
if [ "$(psql -d postgres -Atc "SELECT count(*) FROM pg_database WHERE datname='$DB'")" != 1 ] ||
   [ "$(psql -d $DB -Atc "SELECT count(*) FROM pg_tables WHERE tablename='pgbench_accounts'")" != 1 ] ||
   [ "$(psql -d $DB -Atc "SELECT count(*) FROM pgbench_branches")" != "$SCALE" ]; then
  log "generating pgbench scale $SCALE (once; kept in $DIR)"
  psql -d postgres -qc "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB"
  pgbench -i -q -s "$SCALE" "$DB" >"$DIR/pgbench-init.log" 2>&1
  psql -d $DB -qc "VACUUM ANALYZE"
fi
[ "${1:-}" = --generate-only ] && exit 0
[ -x "$DUMPER" ] || { log "build dumper first ($DUMPER)"; exit 1; }

OUT=$(mktemp -d /tmp/dumper-bench-out.XXXXXX)
trap 'rm -rf "$OUT"; stop_server' EXIT

dbsize=$(psql -d $DB -Atc "SELECT pg_size_pretty(pg_database_size('$DB'))")
# measure NAME CMD: wall seconds and peak RSS (KiB) of CMD and its children (wait4's maxrss is the
# largest of the process and its waited-for descendants).
measure() {
  local name=$1; shift
  /usr/bin/time -v -o "$OUT/time" "$@" >/dev/null 2>"$OUT/stderr" || { cat "$OUT/stderr" >&2; log "$name failed"; exit 1; }
  local wall rss
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,a,":"); s=0; for(i=1;i<=n;i++) s=s*60+a[i]; print s}' "$OUT/time")
  rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$OUT/time")
  echo "$name $wall $rss"
}

# Warm the page cache so the first measurement is not penalised.
pg_dump -d $DB >/dev/null

results=()
for r in $(seq 1 "$RUNS"); do
  results+=("$(measure pg_dump_null pg_dump -d $DB -f /dev/null)")
  results+=("$(measure pg_dump_gzip bash -c "pg_dump -d $DB | gzip > '$OUT/dump.sql.gz'")")
  gz=$(stat -c %s "$OUT/dump.sql.gz"); rm -f "$OUT/dump.sql.gz"
  rm -rf "$OUT/dumper"
  results+=("$(measure dumper_backup "$DUMPER" backup "postgres://postgres@127.0.0.1:$PORT/$DB" --to "$OUT/dumper")")
  zs=$(stat -c %s "$OUT"/dumper/*.zst)
done

raw=$(pg_dump -d $DB | wc -c)
printf '\nmachine: %s, %s cores, %s; load before: %s\n' "$(uname -srm)" "$(nproc)" \
  "$(awk '/MemTotal/ {printf "%.0f GiB RAM", $2/1048576}' /proc/meminfo)" "$(cut -d' ' -f1-3 /proc/loadavg)"
printf 'database: pgbench scale %s, %s on disk, plain dump %s bytes; gzip %s bytes, zstd %s bytes\n\n' \
  "$SCALE" "$dbsize" "$raw" "$gz" "$zs"
floor=$(printf '%s\n' "${results[@]}" | awk '$1=="pg_dump_null" {s+=$2; n++} END {print s/n}')
echo "| command | wall s | peak RSS MiB | time / pg_dump>/dev/null |"
echo "|---|---|---|---|"
printf '%s\n' "${results[@]}" | awk -v f="$floor" '{printf "| %s | %.2f | %.1f | %.2fx |\n", $1, $2, $3/1024, $2/f}'
