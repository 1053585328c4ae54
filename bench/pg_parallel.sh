#!/usr/bin/env bash
# bench/pg_parallel.sh - the moonshot's measurement (bench/README.md, "Moonshot"): a snapshot-
# synchronised parallel dump (bench/pg_parallel_dump.c: JOBS COPY streams on one exported snapshot,
# multiplexed into one output stream) against pg_dump -f /dev/null, in the same run, alternating,
# with medians (bench/lib.sh):
#   pg_null        pg_dump -f /dev/null
#   par_J          pg_parallel_dump with J jobs to /dev/null            (J in BENCH_PAR_JOBS, "1 2 4")
#   par_J_zstd1    the same, each worker compressing its records (zstd -1), to a file
#   dumper         dumper backup (the default pipeline), for reference
# Uses the database and server of bench/pg_backup.sh (run `bench/pg_backup.sh --generate-only` first;
# same BENCH_PG_PORT / BENCH_DIR). BENCH_RUNS (default 5).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOT/bench/lib.sh"
PORT=${BENCH_PG_PORT:-$(( ${DUMPER_TEST_PORT_BASE:-25500} + 90 ))}
DIR=${BENCH_DIR:-/tmp/dumper-bench-pg-$PORT}
RUNS=${BENCH_RUNS:-5}
DUMPER=${DUMPER:-$ROOT/build/bin/dumper}
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n1)
export PGPASSWORD=bench-pw PGHOST=127.0.0.1 PGPORT=$PORT PGUSER=postgres
[ -f "$DIR/data/PG_VERSION" ] || { echo "run bench/pg_backup.sh --generate-only first" >&2; exit 1; }
started=0
if ! runuser -u postgres -- "$PGBIN/pg_ctl" -D "$DIR/data" status >/dev/null 2>&1; then
  runuser -u postgres -- "$PGBIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w -t 60 \
    -o "-p $PORT -k $DIR -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off" start >/dev/null
  started=1
fi
BENCH_TMP=$(mktemp -d /tmp/dumper-bench-par.XXXXXX)
BENCH_RESULTS=$BENCH_TMP/results
cleanup() {
  rm -rf "$BENCH_TMP"
  [ $started = 0 ] || runuser -u postgres -- "$PGBIN/pg_ctl" -D "$DIR/data" -m fast -w stop >/dev/null 2>&1 || true
}
trap cleanup EXIT
cc -O2 -o "$BENCH_TMP/pgpd" "$ROOT/bench/pg_parallel_dump.c" $(pkg-config --cflags --libs libpq libzstd) -lpthread
CI="host=127.0.0.1 port=$PORT user=postgres dbname=bench"

bench_header
echo "tools: $(pg_dump --version); prototype bench/pg_parallel_dump.c; $("$DUMPER" --version)"
pg_dump -d bench -f /dev/null
for round in $(seq 1 "$RUNS"); do
  echo "bench: round $round/$RUNS" >&2
  bench_measure pg_null pg_dump -d bench -f /dev/null
  for j in ${BENCH_PAR_JOBS:-1 2 4}; do
    bench_measure "par_$j" "$BENCH_TMP/pgpd" "$CI" "$j" /dev/null 0
    bench_measure "par_${j}_zstd1" "$BENCH_TMP/pgpd" "$CI" "$j" "$BENCH_TMP/par.out" 1
  done
  rm -rf "$BENCH_TMP/d"
  bench_measure dumper "$DUMPER" backup "postgres://postgres@127.0.0.1:$PORT/bench" --to "$BENCH_TMP/d"
done
echo "prototype output with zstd -1 per worker: $(stat -c %s "$BENCH_TMP/par.out") bytes; dumper: $(stat -c %s "$BENCH_TMP"/d/*.zst) bytes"
echo
bench_summary pg_null
echo
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
