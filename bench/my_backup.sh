#!/usr/bin/env bash
# bench/my_backup.sh - `dumper backup` and `dumper restore` of a MariaDB database against the shell
# pipelines a user would write, in the same run, alternating, with medians (like pg_backup.sh).
#
# Starts its own MariaDB (mariadbd from Debian) on loopback, data kept in $BENCH_DIR (the database is
# generated once), then measures RUNS rounds of, in this order each round:
#   my_null     mariadb-dump ... > /dev/null               (the floor: the dump tool alone)
#   my_zstd     mariadb-dump ... | zstd -3 > file          (what a user writes in a shell)
#   dumper      dumper backup mariadb://... --to DIR       (the default: zstd, adaptive level 1-3)
#   + each of BENCH_VARIANTS
# with the options dumper gives mariadb-dump (--single-transaction --routines --triggers --events
# --hex-blob --no-tablespaces), over TCP for all three; and with BENCH_RESTORE=1 (default), each into
# a freshly created empty database:
#   my_load     zstd -dc backup | mariadb --batch          (the baseline restore)
#   restore     dumper restore backup mariadb://...        (verify pass, then the restore)
#
# Env: BENCH_MY_PORT (default DUMPER_TEST_PORT_BASE + 91, else 25591), BENCH_DIR (default
#   /tmp/dumper-bench-my-<port>), BENCH_ROWS (rows of each of the two tables, default 3000000: ~1 GB
#   on disk, dump ~700 MB), BENCH_RUNS (5), BENCH_RESTORE (1), BENCH_RESTORE_RUNS (BENCH_RUNS), BENCH_VARIANTS (as in pg_backup.sh).
# Needs a built tree, mariadb-server, zstd and /usr/bin/time.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOT/bench/lib.sh"
PORT=${BENCH_MY_PORT:-$(( ${DUMPER_TEST_PORT_BASE:-25500} + 91 ))}
DIR=${BENCH_DIR:-/tmp/dumper-bench-my-$PORT}
ROWS=${BENCH_ROWS:-3000000}
RUNS=${BENCH_RUNS:-5}
DUMPER=${DUMPER:-$ROOT/build/bin/dumper}
PW=bench-pw
DB=bench
SOCK=$DIR/mariadb.sock
export MYSQL_PWD=$PW DUMPER_DB_PASSWORD=$PW
URL=mariadb://bench@127.0.0.1:$PORT
CONN=(--no-defaults --host=127.0.0.1 --port="$PORT" --user=bench --default-character-set=utf8mb4)
DUMP_OPTS=(--single-transaction --routines --triggers --events --hex-blob --no-tablespaces)

log() { echo "bench: $*" >&2; }
root() { env -u MYSQL_PWD mariadb --no-defaults -uroot --socket="$SOCK" "$@"; }

start_server() {
  if [ ! -d "$DIR/data/mysql" ]; then
    rm -rf "$DIR"; mkdir -p "$DIR"
    mariadb-install-db --no-defaults --datadir="$DIR/data" --user=root --auth-root-authentication-method=normal \
      --skip-test-db >"$DIR/install.log" 2>&1
  fi
  (exec mariadbd --no-defaults --user=root --datadir="$DIR/data" --bind-address=127.0.0.1 --port="$PORT" \
    --socket="$SOCK" --pid-file="$DIR/mariadb.pid" --log-error="$DIR/server.log" \
    --innodb-flush-log-at-trx-commit=0 --innodb-buffer-pool-size=1G --skip-name-resolve </dev/null >/dev/null 2>&1 &)
  for _ in $(seq 1 300); do root -e 'select 1' >/dev/null 2>&1 && break; sleep 0.1; done
  root -e "CREATE USER IF NOT EXISTS 'bench'@'%' IDENTIFIED BY '$PW'; GRANT ALL ON *.* TO 'bench'@'%'"
}
stop_server() {
  local pid
  pid=$(cat "$DIR/mariadb.pid" 2>/dev/null) || return 0
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
}
trap stop_server EXIT

start_server
if [ "$(root -N -B -e "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA='$DB'")" != 2 ] ||
   [ "$(root -N -B -e "SELECT COUNT(*) FROM $DB.notes")" != "$ROWS" ]; then
  log "generating $DB: 2 x $ROWS rows (once; kept in $DIR)"
  # Like pg_backup.sh: a pgbench-like accounts table (numbers and blank padding, compresses ~50:1)
  # and semi-random text (md5 hex, words, a variable tail; ~4:1).
  root <<SQL
DROP DATABASE IF EXISTS $DB; CREATE DATABASE $DB; USE $DB;
CREATE TABLE accounts (aid INT PRIMARY KEY, bid INT NOT NULL, abalance INT NOT NULL, filler CHAR(84)) ENGINE=InnoDB;
CREATE TABLE notes (id INT PRIMARY KEY, author INT NOT NULL, body TEXT, amount BIGINT, at DATETIME) ENGINE=InnoDB;
INSERT INTO accounts SELECT seq, 1 + seq DIV 100000, 0, '' FROM seq_1_to_$ROWS;
INSERT INTO notes SELECT seq, seq % 5000,
  CONCAT(MD5(seq), ' ', ELT(1 + seq % 10, 'the','order','shipped','late','customer','asked','for','a','refund','again'),
         ' ', MD5(seq * 7), ' ', ELT(1 + (seq DIV 7) % 6, 'today','yesterday','by mail','twice','politely','in person'),
         ' ', SUBSTR(MD5(seq * 13), 1, 1 + seq % 32)),
  FLOOR(RAND(seq) * 1e9), TIMESTAMP '2026-01-01 00:00:00' - INTERVAL seq SECOND
  FROM seq_1_to_$ROWS;
SQL
fi
[ "${1:-}" = --generate-only ] && exit 0
[ -x "$DUMPER" ] || { log "build dumper first ($DUMPER)"; exit 1; }

BENCH_TMP=$(mktemp -d /tmp/dumper-bench-out.XXXXXX)
BENCH_RESULTS=$BENCH_TMP/results
trap 'rm -rf "$BENCH_TMP"; stop_server' EXIT

bench_header
echo "tools: $(mariadb-dump --version | head -n1); $("$DUMPER" --version); zstd $(zstd -V | grep -o 'v[0-9.]*' | head -n1)"
echo "database $DB: $(root -N -B -e "SELECT ROUND(SUM(DATA_LENGTH + INDEX_LENGTH) / 1048576) FROM information_schema.TABLES WHERE TABLE_SCHEMA='$DB'") MiB in InnoDB (2 x $ROWS rows)"
mariadb-dump "${CONN[@]}" "${DUMP_OPTS[@]}" $DB >/dev/null # warm the buffer pool
for round in $(seq 1 "$RUNS"); do
  log "backup round $round/$RUNS"
  bench_measure my_null mariadb-dump "${CONN[@]}" "${DUMP_OPTS[@]}" --result-file=/dev/null $DB
  bench_measure my_zstd bash -c "mariadb-dump ${CONN[*]} ${DUMP_OPTS[*]} $DB | zstd -3 -q > '$BENCH_TMP/shell.sql.zst'"
  bench_dumper_backup "$URL/$DB"
  bench_variants "$URL/$DB"
done
backup=$BENCH_BACKUP
raw=$(mariadb-dump "${CONN[@]}" "${DUMP_OPTS[@]}" $DB | wc -c)
echo "plain dump $raw bytes; mariadb-dump | zstd -3: $(stat -c %s "$BENCH_TMP/shell.sql.zst") bytes; dumper: $BENCH_BACKUP_SIZE bytes"
echo
bench_summary my_null my_zstd

if [ "${BENCH_RESTORE:-1}" = 1 ]; then
  BENCH_RESULTS=$BENCH_TMP/restore-results
  fresh() { root -e "DROP DATABASE IF EXISTS bench_restore; CREATE DATABASE bench_restore"; }
  for round in $(seq 1 "${BENCH_RESTORE_RUNS:-$RUNS}"); do
    log "restore round $round/${BENCH_RESTORE_RUNS:-$RUNS}"
    fresh
    bench_measure my_load bash -c "zstd -dc '$backup' | mariadb ${CONN[*]} --batch bench_restore"
    fresh
    bench_measure restore "$DUMPER" restore "$backup" "$URL/bench_restore"
  done
  [ "$(root -N -B -e "SELECT COUNT(*), SUM(amount) FROM bench_restore.notes")" = \
    "$(root -N -B -e "SELECT COUNT(*), SUM(amount) FROM $DB.notes")" ] || { log "restored database differs"; exit 1; }
  root -e "DROP DATABASE IF EXISTS bench_restore"
  echo
  bench_summary my_load
fi
echo
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
