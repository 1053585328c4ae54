#!/usr/bin/env bash
# bench/pg_backup.sh - `dumper backup` of a ~1 GB PostgreSQL database against pg_dump.
#
# Starts its own PostgreSQL 15 on loopback (data kept in $BENCH_DIR so the pgbench data is
# generated only once), then in one run measures wall time and peak RSS (/usr/bin/time -v) of:
#   1. pg_dump > /dev/null                      (the floor: what the dump tool alone costs)
#   2. pg_dump | gzip > file                    (how the original Ruby agent worked)
#   3. dumper backup postgres://... --to DIR    (zstd, the default)
#   4. the same with DUMPER_ZSTD_THREADS=2      (zstd compressing in 2 worker threads)
# and prints a Markdown table with each time's ratio to (1).
#
#   bench/pg_backup.sh                 generate if needed, measure, stop the server
#   bench/pg_backup.sh --generate-only
#   BENCH_SCALE=70 BENCH_PG_PORT=25590 BENCH_DIR=/tmp/dumper-bench-pg BENCH_RUNS=3
#   BENCH_TEXT=1   also measure a less compressible database (5 M rows of md5 text, ~600 MB)
# Needs a built tree (build/bin/dumper), pgbench and /usr/bin/time (package `time`).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PORT=${BENCH_PG_PORT:-25590}
DIR=${BENCH_DIR:-/tmp/dumper-bench-pg}
SCALE=${BENCH_SCALE:-70}
RUNS=${BENCH_RUNS:-3}
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

# run_set DB LABEL: RUNS rounds of the three commands, then a summary (median wall, max RSS).
run_set() {
  local db=$1 label=$2 results=() gz zs raw dbsize
  dbsize=$(psql -d "$db" -Atc "SELECT pg_size_pretty(pg_database_size('$db'))")
  pg_dump -d "$db" >/dev/null # warm the page cache so the first measurement is not penalised
  for _ in $(seq 1 "$RUNS"); do
    results+=("$(measure pg_dump_null pg_dump -d "$db" -f /dev/null)")
    results+=("$(measure pg_dump_gzip bash -c "pg_dump -d $db | gzip > '$OUT/dump.sql.gz'")")
    gz=$(stat -c %s "$OUT/dump.sql.gz"); rm -f "$OUT/dump.sql.gz"
    rm -rf "$OUT/dumper"
    results+=("$(measure dumper_backup "$DUMPER" backup "postgres://postgres@127.0.0.1:$PORT/$db" --to "$OUT/dumper")")
    zs=$(stat -c %s "$OUT"/dumper/*.zst)
    rm -rf "$OUT/dumper"
    results+=("$(measure dumper_backup_zstd_threads_2 env DUMPER_ZSTD_THREADS=2 "$DUMPER" backup "postgres://postgres@127.0.0.1:$PORT/$db" --to "$OUT/dumper")")
  done
  raw=$(pg_dump -d "$db" | wc -c)
  printf '\n### %s\n\n' "$label"
  printf 'database %s: %s on disk, plain dump %s bytes; pg_dump|gzip %s bytes; dumper (zstd) %s bytes\n\n' \
    "$db" "$dbsize" "$raw" "$gz" "$zs"
  echo "| command | runs | median wall s | min-max wall s | peak RSS MiB | median / pg_dump>/dev/null |"
  echo "|---|---|---|---|---|---|"
  printf '%s\n' "${results[@]}" | sort -k1,1 -k2,2n | awk '
    { n[$1]++; w[$1, n[$1]] = $2; if ($3 > r[$1]) r[$1] = $3; if (!($1 in order)) { order[$1] = ++k; names[k] = $1 } }
    END {
      for (i = 1; i <= k; i++) { c = names[i]; m = n[c]; med[c] = (m % 2) ? w[c, (m + 1) / 2] : (w[c, m / 2] + w[c, m / 2 + 1]) / 2 }
      split("pg_dump_null pg_dump_gzip dumper_backup dumper_backup_zstd_threads_2", want, " ")
      for (i = 1; i <= 4; i++) { c = want[i]
        printf "| %s | %d | %.2f | %.2f-%.2f | %.1f | %.2fx |\n", c, n[c], med[c], w[c, 1], w[c, n[c]], r[c] / 1024, med[c] / med["pg_dump_null"] }
    }'
}

date -u +"date: %Y-%m-%dT%H:%M:%SZ"
printf 'machine: %s, %s cores (shared with other jobs), %s; load before: %s\n' "$(uname -srm)" "$(nproc)" \
  "$(awk '/MemTotal/ {printf "%.0f GiB RAM", $2/1048576}' /proc/meminfo)" "$(cut -d' ' -f1-3 /proc/loadavg)"
printf 'tools: %s; %s; gzip %s\n' "$(pg_dump --version)" "$("$DUMPER" --version)" "$(gzip --version | head -n1 | awk '{print $2}')"
run_set $DB "pgbench scale $SCALE"
if [ -n "${BENCH_TEXT:-}" ]; then
  # Less compressible data: pgbench rows are mostly blank padding, so compression costs little.
  if [ "$(psql -d postgres -Atc "SELECT count(*) FROM pg_database WHERE datname='bench_text'")" != 1 ]; then
    log "generating bench_text (once)"
    psql -d postgres -qc "CREATE DATABASE bench_text"
    psql -d bench_text -qc "CREATE TABLE t AS SELECT g AS id, md5(g::text) || ' ' || md5((g * 7)::text) AS a,
                            (random() * 1e9)::bigint AS b, now() - g * interval '1 second' AS c
                            FROM generate_series(1, 5000000) g" -c "VACUUM ANALYZE t"
  fi
  run_set bench_text "bench_text: 5 M rows of md5 text, numbers and timestamps (less compressible)"
fi
printf '\nload after: %s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
