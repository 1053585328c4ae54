#!/usr/bin/env bash
# bench/sqlite_backup.sh - `dumper backup` and `dumper restore` of a generated SQLite database against
# the sqlite3 shell, in the same run, alternating, with medians (bench/lib.sh):
#   sq_null     sqlite3 DB .dump > /dev/null               (the floor: the dump alone)
#   sq_zstd     sqlite3 DB .dump | zstd -3 > file          (what a user writes in a shell)
#   dumper      dumper backup sqlite://DB --to DIR         (the default: zstd, adaptive level 1-3)
#   + each of BENCH_VARIANTS ("label|ENV=V ...|args;...", as in pg_backup.sh)
# and (BENCH_RESTORE=1, default) each into a new file:
#   sq_load     zstd -dc backup | sqlite3 new.db
#   restore     dumper restore backup sqlite://new.db     (verify pass, then the rebuild)
#
#   bench/sqlite_backup.sh [--size-mb N]       (default 1024)
#
# Env: DUMPER (default build/bin/dumper), BENCH_DIR (default /tmp/dumper-bench-sqlite; the generated
# database is reused while its size matches), BENCH_RUNS (default 5). The page cache is warmed once,
# not dropped (the machine is shared). BENCH_RESTORE_RUNS (default BENCH_RUNS). Fails if a dumper backup's peak RSS reaches 64 MiB.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOT/bench/lib.sh"
SIZE_MB=1024
while [ $# -gt 0 ]; do
  case "$1" in
    --size-mb) SIZE_MB=$2; shift 2 ;;
    *) echo "usage: $0 [--size-mb N]" >&2; exit 2 ;;
  esac
done
DUMPER=${DUMPER:-$ROOT/build/bin/dumper}
RUNS=${BENCH_RUNS:-5}
[ -x "$DUMPER" ] || { echo "build first: $DUMPER missing" >&2; exit 1; }
for t in sqlite3 zstd /usr/bin/time; do command -v $t >/dev/null || { echo "$t missing (scripts/install-deps.sh)" >&2; exit 1; }; done

DIR=${BENCH_DIR:-/tmp/dumper-bench-sqlite}
mkdir -p "$DIR"
DB="$DIR/bench-${SIZE_MB}mb.db"

# Three tables, ~45% random blobs (incompressible), ~45% generated text (partly compressible),
# the rest numbers. One recursive CTE per table inside one transaction, journal off: ~1 min per GB.
generate() {
  local rows_files=$((SIZE_MB * 167)) rows_events=$((SIZE_MB * 2000)) rows_users=$((SIZE_MB * 333))
  rm -f "$DB" "$DB.tmp"
  echo "generating $DB (~${SIZE_MB} MB)..." >&2
  sqlite3 "$DB.tmp" >/dev/null <<SQL
PRAGMA journal_mode=OFF;
PRAGMA synchronous=OFF;
PRAGMA cache_size=-65536;
BEGIN;
CREATE TABLE users(id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT, score REAL, created_at INTEGER);
CREATE TABLE events(id INTEGER PRIMARY KEY, user_id INTEGER REFERENCES users(id), kind TEXT, payload TEXT,
                    amount REAL, at INTEGER);
CREATE TABLE files(id INTEGER PRIMARY KEY, name TEXT, mime TEXT, data BLOB);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $rows_users)
INSERT INTO users SELECT i, 'user ' || i || ' ' || hex(randomblob(6)), 'user' || i || '@example.com',
  abs(random() % 100000) / 100.0, 1700000000 + i FROM n;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $rows_events)
INSERT INTO events SELECT i, 1 + abs(random() % $rows_users),
  CASE i % 4 WHEN 0 THEN 'login' WHEN 1 THEN 'purchase' WHEN 2 THEN 'view' ELSE 'logout' END,
  '{"page":"/products/' || (i % 977) || '","ref":"' || hex(randomblob(16)) || '","agent":"Mozilla/5.0 (X11; Linux x86_64)","n":' || i || '}',
  (random() % 1000000) / 100.0, 1700000000 + i * 7 FROM n;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $rows_files)
INSERT INTO files SELECT i, 'file-' || i || '.bin', 'application/octet-stream', randomblob(2048 + abs(random() % 512)) FROM n;
CREATE INDEX events_user ON events(user_id);
COMMIT;
SQL
  mv "$DB.tmp" "$DB"
}
[ -f "$DB" ] || generate

BENCH_TMP=$(mktemp -d "$DIR/out.XXXXXX")
BENCH_RESULTS=$BENCH_TMP/results
trap 'rm -rf "$BENCH_TMP"' EXIT

bench_header
echo "tools: sqlite3 $(sqlite3 --version | cut -d' ' -f1); $("$DUMPER" --version); zstd $(zstd -V | grep -o 'v[0-9.]*' | head -n1)"
echo "database: $(( $(stat -c %s "$DB") / 1048576 )) MiB"
cat "$DB" >/dev/null # warm the page cache once
for round in $(seq 1 "$RUNS"); do
  echo "bench: backup round $round/$RUNS" >&2
  bench_measure sq_null sh -c "sqlite3 '$DB' .dump > /dev/null"
  bench_measure sq_zstd sh -c "sqlite3 '$DB' .dump | zstd -3 -q > '$BENCH_TMP/shell.sql.zst'"
  bench_dumper_backup "sqlite://$DB"
  bench_variants "sqlite://$DB"
done
backup=$BENCH_BACKUP
raw=$(jq -r .raw_size "$backup.json")
echo "dump text $raw bytes; sqlite3 .dump | zstd -3: $(stat -c %s "$BENCH_TMP/shell.sql.zst") bytes; dumper: $(stat -c %s "$backup") bytes"
echo
bench_summary sq_null sq_zstd
rss_max=$(awk '$1 != "sq_null" && $1 != "sq_zstd" && $4 > m {m = $4} END {print m + 0}' "$BENCH_RESULTS")

if [ "${BENCH_RESTORE:-1}" = 1 ]; then
  BENCH_RESULTS=$BENCH_TMP/restore-results
  for round in $(seq 1 "${BENCH_RESTORE_RUNS:-$RUNS}"); do
    echo "bench: restore round $round/${BENCH_RESTORE_RUNS:-$RUNS}" >&2
    rm -f "$BENCH_TMP/shell.db" "$BENCH_TMP/restored.db"
    bench_measure sq_load sh -c "zstd -dc '$backup' | sqlite3 '$BENCH_TMP/shell.db'"
    bench_measure restore "$DUMPER" restore "$backup" "sqlite://$BENCH_TMP/restored.db"
  done
  [ "$(sqlite3 "$BENCH_TMP/restored.db" 'SELECT count(*), sum(length(data)) FROM files')" = \
    "$(sqlite3 "$DB" 'SELECT count(*), sum(length(data)) FROM files')" ] || { echo "FAIL: restored database differs" >&2; exit 1; }
  echo
  bench_summary sq_load
fi
echo
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
if [ "$rss_max" -ge $((64 * 1024)) ]; then
  echo "FAIL: dumper backup peak RSS $rss_max KiB >= 64 MiB" >&2
  exit 1
fi
