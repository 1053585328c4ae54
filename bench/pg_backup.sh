#!/usr/bin/env bash
# bench/pg_backup.sh - `dumper backup` and `dumper restore` of a pgbench + text PostgreSQL database
# against the shell pipelines a user would write, in the same run, alternating, with medians.
#
# Starts its own PostgreSQL 15 on loopback (data kept in $BENCH_DIR: the database is generated once),
# then measures RUNS rounds of, in this order each round:
#   pg_null     pg_dump -f /dev/null                          (the floor: the dump tool alone)
#   pg_zstd     pg_dump | zstd -3 > file                      (what a user writes in a shell)
#   dumper      dumper backup postgres://... --to DIR         (the default: zstd, adaptive level 1-3)
#   + each of BENCH_VARIANTS
# and with BENCH_RESTORE=1 (default) RUNS rounds of, each into a freshly created empty database:
#   psql_load   zstd -dc backup | psql -1 -v ON_ERROR_STOP=1  (the baseline restore)
#   restore     dumper restore backup postgres://...          (verify pass, then the restore)
#   pg_restore_jN  zstd -dc custom > f; pg_restore -j N f     (BENCH_JOBS=N > 1, default 2: the same
#                                                               by hand, from a --format dump backup)
#   restore_jN  dumper restore custom postgres://... --jobs N
# Every line measured carries wall time, CPU (user+sys of the tree's waited-for processes: not the
# server's backend), peak RSS and the load average before it; the summary tables give medians and
# ratios to pg_null and pg_zstd (backup) or psql_load (restore).
#
#   bench/pg_backup.sh                     generate if needed, measure, stop the server
#   bench/pg_backup.sh --generate-only
# Env: BENCH_PG_PORT (default DUMPER_TEST_PORT_BASE + 90, else 25590), BENCH_DIR (default
#   /tmp/dumper-bench-pg-<port>), BENCH_SCALE (pgbench scale, default 35), BENCH_TEXT_ROWS (rows of
#   semi-random text, default 3000000: ~1 GB in all, dump ~760 MB), BENCH_RUNS (default 5),
#   BENCH_RESTORE (1), BENCH_RESTORE_RUNS (default BENCH_RUNS), BENCH_JOBS (2; 1 = no parallel restore rows), BENCH_VARIANTS: extra dumper backups, ';'-separated "label|ENV=V ...|args",
#   e.g. 'level3||--level 3;single|DUMPER_PIPELINE=0|'. BENCH_NICE=N: every measured command under
#   nice -n N (bench/lib.sh). BENCH_LOAD=N: N busy loops in sessions of their own run during the
#   backup rounds (bench_load_start in bench/lib.sh), a load the run can repeat.
# Needs a built tree (build/bin/dumper), pgbench, zstd and /usr/bin/time (package `time`).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOT/bench/lib.sh"
PORT=${BENCH_PG_PORT:-$(( ${DUMPER_TEST_PORT_BASE:-25500} + 90 ))}
DIR=${BENCH_DIR:-/tmp/dumper-bench-pg-$PORT}
SCALE=${BENCH_SCALE:-35}
TEXT_ROWS=${BENCH_TEXT_ROWS:-3000000}
RUNS=${BENCH_RUNS:-5}
JOBS=${BENCH_JOBS:-2}
DUMPER=${DUMPER:-$ROOT/build/bin/dumper}
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n1)
PW=bench-pw
export PGPASSWORD=$PW PGHOST=127.0.0.1 PGPORT=$PORT PGUSER=postgres
DB=bench
URL=postgres://postgres@127.0.0.1:$PORT

log() { echo "bench: $*" >&2; }

start_server() {
  if [ ! -f "$DIR/data/PG_VERSION" ]; then
    rm -rf "$DIR"; mkdir -p "$DIR"; chown postgres: "$DIR"; chmod 700 "$DIR"
    printf '%s\n' "$PW" >"$DIR/pw"; chown postgres: "$DIR/pw"
    runuser -u postgres -- "$PGBIN/initdb" -D "$DIR/data" -U postgres --pwfile="$DIR/pw" \
      --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >"$DIR/initdb.log" 2>&1
    rm -f "$DIR/pw"
  fi
  if ! runuser -u postgres -- "$PGBIN/pg_ctl" -D "$DIR/data" status >/dev/null 2>&1; then
    runuser -u postgres -- "$PGBIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w -t 60 \
      -o "-p $PORT -k $DIR -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off" start >/dev/null
  fi
}
stop_server() { runuser -u postgres -- "$PGBIN/pg_ctl" -D "$DIR/data" -m fast -w stop >/dev/null 2>&1 || true; }
trap stop_server EXIT

start_server
if [ "$(psql -d postgres -Atc "SELECT count(*) FROM pg_database WHERE datname='$DB'")" != 1 ] ||
   [ "$(psql -d $DB -Atc "SELECT count(*) FROM pg_tables WHERE tablename IN ('pgbench_accounts', 'notes')")" != 2 ] ||
   [ "$(psql -d $DB -Atc "SELECT count(*) FROM pgbench_branches")" != "$SCALE" ] ||
   [ "$(psql -d $DB -Atc "SELECT count(*) FROM notes")" != "$TEXT_ROWS" ]; then
  log "generating pgbench scale $SCALE + $TEXT_ROWS rows of text (once; kept in $DIR)"
  psql -d postgres -qc "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB"
  pgbench -i -q -s "$SCALE" "$DB" >"$DIR/pgbench-init.log" 2>&1
  # Semi-random text: two md5 hex strings, words from small vocabularies, a variable-length tail, a
  # random number and a timestamp per row. The dump compresses ~4:1 (pgbench's blank-padded rows
  # ~100:1), so compression costs about as much CPU as the dump itself.
  psql -d $DB -qc "CREATE TABLE notes AS SELECT g AS id, (g % 5000) AS author,
    md5(g::text) || ' ' || (ARRAY['the','order','shipped','late','customer','asked','for','a','refund','again'])[1 + g % 10]
    || ' ' || md5((g * 7)::text) || ' ' || (ARRAY['today','yesterday','by mail','twice','politely','in person'])[1 + (g / 7) % 6]
    || ' ' || substr(md5((g * 13)::text), 1, 1 + g % 32) AS body,
    (random() * 1e9)::bigint AS amount, timestamp '2026-01-01' - g * interval '1 second' AS at
    FROM generate_series(1, $TEXT_ROWS) g" -c "VACUUM ANALYZE"
fi
[ "${1:-}" = --generate-only ] && exit 0
[ -x "$DUMPER" ] || { log "build dumper first ($DUMPER)"; exit 1; }

BENCH_TMP=$(mktemp -d /tmp/dumper-bench-out.XXXXXX)
BENCH_RESULTS=$BENCH_TMP/results
trap 'bench_load_stop; rm -rf "$BENCH_TMP"; stop_server' EXIT
bench_header
[ "${BENCH_LOAD:-0}" -gt 0 ] && echo "added load: ${BENCH_LOAD} busy loops, each in its own session, during the backup rounds"
pg_dump -d $DB -f /dev/null # warm the page cache so the first measurement is not penalised
[ "${BENCH_LOAD:-0}" -gt 0 ] && { bench_load_start "$BENCH_LOAD"; sleep 5; }
echo "tools: $(pg_dump --version); $("$DUMPER" --version); zstd $(zstd -V | grep -o 'v[0-9.]*' | head -n1)"
echo "database $DB: $(psql -d $DB -Atc "SELECT pg_size_pretty(pg_database_size('$DB'))") on disk (pgbench scale $SCALE + $TEXT_ROWS rows of text)"
for round in $(seq 1 "$RUNS"); do
  log "backup round $round/$RUNS"
  bench_measure pg_null pg_dump -d $DB -f /dev/null
  bench_measure pg_zstd bash -c "pg_dump -d $DB | zstd -3 -q > '$BENCH_TMP/shell.sql.zst'"
  bench_dumper_backup "$URL/$DB"
  bench_variants "$URL/$DB"
done
bench_load_stop
backup=$BENCH_BACKUP
raw=$(pg_dump -d $DB | wc -c)
echo "plain dump $raw bytes; pg_dump | zstd -3: $(stat -c %s "$BENCH_TMP/shell.sql.zst") bytes; dumper: $BENCH_BACKUP_SIZE bytes"
echo
bench_summary pg_null pg_zstd

if [ "${BENCH_RESTORE:-1}" = 1 ]; then
  BENCH_RESULTS=$BENCH_TMP/restore-results
  fresh() { psql -d postgres -qc "DROP DATABASE IF EXISTS bench_restore" -c "CREATE DATABASE bench_restore"; }
  if [ "$JOBS" -gt 1 ]; then
    "$DUMPER" backup "$URL/$DB" --to "$BENCH_TMP/custom" --format dump >/dev/null
    custom=$(ls "$BENCH_TMP"/custom/*.dump.zst)
  fi
  for round in $(seq 1 "${BENCH_RESTORE_RUNS:-$RUNS}"); do
    log "restore round $round/${BENCH_RESTORE_RUNS:-$RUNS}"
    fresh
    bench_measure psql_load bash -c "zstd -dc '$backup' | psql -X -q -1 -v ON_ERROR_STOP=1 -d bench_restore"
    fresh
    bench_measure restore "$DUMPER" restore "$backup" "$URL/bench_restore"
    if [ "$JOBS" -gt 1 ]; then
      fresh
      bench_measure pg_restore_j$JOBS bash -c "zstd -dc '$custom' > '$BENCH_TMP/c.dump' && pg_restore -j $JOBS --exit-on-error -d bench_restore '$BENCH_TMP/c.dump'; rc=\$?; rm -f '$BENCH_TMP/c.dump'; exit \$rc"
      fresh
      bench_measure restore_j$JOBS "$DUMPER" restore "$custom" "$URL/bench_restore" --jobs "$JOBS"
    fi
  done
  [ "$(psql -d bench_restore -Atc "SELECT count(*), sum(amount) FROM notes")" = \
    "$(psql -d $DB -Atc "SELECT count(*), sum(amount) FROM notes")" ] || { log "restored database differs"; exit 1; }
  psql -d postgres -qc "DROP DATABASE IF EXISTS bench_restore"
  echo
  bench_summary psql_load
fi
echo
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
