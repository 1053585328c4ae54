#!/usr/bin/env bash
# bench/sqlite_backup.sh - back up a generated ~1 GB SQLite database with `dumper backup` (zstd,
# the default) and compare it with the baseline `sqlite3 DB .dump > /dev/null` in the same run:
# wall time, CPU time, throughput (database bytes per second) and peak RSS (/usr/bin/time -v).
# Also restores the backup, next to `zstd -dc backup | sqlite3 new.db`.
#
#   bench/sqlite_backup.sh [--size-mb N] [--keep]
#
# Env: DUMPER_BIN (default build/bin), BENCH_DIR (default /tmp/dumper-bench-sqlite; the generated
# database is reused across runs when its size matches). Fails if the backup's peak RSS is 64 MiB
# or more. Prints a Markdown table to paste into bench/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE_MB=1024 KEEP=0
while [ $# -gt 0 ]; do
  case "$1" in
    --size-mb) SIZE_MB=$2; shift 2 ;;
    --keep) KEEP=1; shift ;;
    *) echo "usage: $0 [--size-mb N] [--keep]" >&2; exit 2 ;;
  esac
done
DUMPER_BIN=${DUMPER_BIN:-build/bin}
DUMPER="$DUMPER_BIN/dumper"
[ -x "$DUMPER" ] || { echo "build first: $DUMPER missing" >&2; exit 1; }
command -v sqlite3 >/dev/null || { echo "sqlite3 missing (scripts/install-deps.sh)" >&2; exit 1; }
command -v zstd >/dev/null || { echo "zstd missing (apt-get install zstd)" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "/usr/bin/time missing (apt-get install time; scripts/install-deps.sh)" >&2; exit 1; }

BENCH_DIR=${BENCH_DIR:-/tmp/dumper-bench-sqlite}
mkdir -p "$BENCH_DIR"
DB="$BENCH_DIR/bench-${SIZE_MB}mb.db"
OUT="$BENCH_DIR/out"

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
DB_BYTES=$(stat -c %s "$DB")

# run LABEL cmd... : wall seconds and max RSS (KiB) from /usr/bin/time -v
run() {
  local label=$1; shift
  sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true
  /usr/bin/time -v -o "$BENCH_DIR/$label.time" "$@"
  local wall rss
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,a,":"); s=0; for(i=1;i<=n;i++) s=s*60+a[i]; print s}' "$BENCH_DIR/$label.time")
  rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$BENCH_DIR/$label.time")
  cpu=$(awk -F': ' '/User time|System time/ {s += $2} END {printf "%.2f", s}' "$BENCH_DIR/$label.time")
  echo "$label $wall $rss $cpu"
}

rm -rf "$OUT"; mkdir -p "$OUT"
r_dump=$(run sqlite3_dump sh -c "sqlite3 '$DB' .dump > /dev/null")
r_backup=$(run dumper_backup sh -c "'$DUMPER' backup 'sqlite://$DB' --to '$OUT' --json > '$BENCH_DIR/backup.json'")
r_none=$(run dumper_backup_none sh -c "'$DUMPER' backup 'sqlite://$DB' --to '$OUT' --compress none > /dev/null")
backup_path=$(sed -n 's/.*"path":"\([^"]*\)".*/\1/p' "$BENCH_DIR/backup.json")
# restore of the zstd backup (verifies the checksum first, then rebuilds the database), next to
# feeding the same dump to the sqlite3 shell
rm -f "$BENCH_DIR/restored.db" "$BENCH_DIR/shell.db"
r_restore=$(run dumper_restore sh -c "'$DUMPER' restore '$backup_path' 'sqlite://$BENCH_DIR/restored.db' 2>/dev/null")
r_shell=$(run sqlite3_load sh -c "zstd -dc '$backup_path' | sqlite3 '$BENCH_DIR/shell.db'")
[ "$(sqlite3 "$BENCH_DIR/restored.db" 'SELECT count(*) FROM files')" = "$(sqlite3 "$DB" 'SELECT count(*) FROM files')" ] ||
  { echo "FAIL: restored database differs" >&2; exit 1; }
rm -f "$BENCH_DIR/restored.db" "$BENCH_DIR/shell.db"
backup_size=$(sed -n 's/.*"size":\([0-9]*\).*/\1/p' "$BENCH_DIR/backup.json")
raw_size=$(sed -n 's/.*"raw_size":\([0-9]*\).*/\1/p' "$BENCH_DIR/backup.json")

read -r _ w_dump rss_dump c_dump <<<"$r_dump"
read -r _ w_backup rss_backup c_backup <<<"$r_backup"
read -r _ w_none rss_none c_none <<<"$r_none"
read -r _ w_restore rss_restore c_restore <<<"$r_restore"
read -r _ w_shell rss_shell c_shell <<<"$r_shell"
mb() { awk -v b="$1" 'BEGIN {printf "%.0f", b / 1048576}'; }
rate() { awk -v b="$1" -v s="$2" 'BEGIN {printf "%.0f", (s > 0 ? b / 1048576 / s : 0)}'; }

cat <<TXT
date: $(date -u +%Y-%m-%dT%H:%M:%SZ)
machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1), load before run: $(cut -d' ' -f1-3 /proc/loadavg)
sqlite: $(sqlite3 --version | cut -d' ' -f1), dumper: $("$DUMPER" --version)
database: $(mb "$DB_BYTES") MiB; dump text: $(mb "$raw_size") MiB; backup (zstd): $(mb "$backup_size") MiB

| command | wall s | CPU s (user+sys) | MiB/s (db size / wall) | peak RSS MiB |
|---|---|---|---|---|
| sqlite3 DB .dump > /dev/null | $w_dump | $c_dump | $(rate "$DB_BYTES" "$w_dump") | $(awk -v k="$rss_dump" 'BEGIN {printf "%.1f", k/1024}') |
| dumper backup (zstd -3, default) | $w_backup | $c_backup | $(rate "$DB_BYTES" "$w_backup") | $(awk -v k="$rss_backup" 'BEGIN {printf "%.1f", k/1024}') |
| dumper backup --compress none | $w_none | $c_none | $(rate "$DB_BYTES" "$w_none") | $(awk -v k="$rss_none" 'BEGIN {printf "%.1f", k/1024}') |
| dumper restore (verify + rebuild) | $w_restore | $c_restore | $(rate "$DB_BYTES" "$w_restore") | $(awk -v k="$rss_restore" 'BEGIN {printf "%.1f", k/1024}') |
| zstd -dc backup \| sqlite3 new.db | $w_shell | $c_shell | $(rate "$DB_BYTES" "$w_shell") | $(awk -v k="$rss_shell" 'BEGIN {printf "%.1f", k/1024}') |

ratio dumper (zstd) / sqlite3 .dump: wall $(awk -v a="$w_backup" -v b="$w_dump" 'BEGIN {printf "%.2f", a / b}'), CPU $(awk -v a="$c_backup" -v b="$c_dump" 'BEGIN {printf "%.2f", a / b}')
ratio dumper (none) / sqlite3 .dump: wall $(awk -v a="$w_none" -v b="$w_dump" 'BEGIN {printf "%.2f", a / b}'), CPU $(awk -v a="$c_none" -v b="$c_dump" 'BEGIN {printf "%.2f", a / b}')
ratio dumper restore / sqlite3 load: wall $(awk -v a="$w_restore" -v b="$w_shell" 'BEGIN {printf "%.2f", a / b}'), CPU $(awk -v a="$c_restore" -v b="$c_shell" 'BEGIN {printf "%.2f", a / b}')
TXT

[ "$KEEP" = 1 ] || rm -rf "$OUT"
if [ "$rss_backup" -ge $((64 * 1024)) ] || [ "$rss_none" -ge $((64 * 1024)) ]; then
  echo "FAIL: dumper backup peak RSS ${rss_backup}/${rss_none} KiB >= 64 MiB" >&2
  exit 1
fi
