#!/usr/bin/env bash
# sqlite_memory.sh - memory stays bounded: the peak RSS of a backup does not grow with the database
# (many rows: well under 64 MiB) and a big value costs about its own size once, not several copies.
# Measured with /usr/bin/time; skipped for sanitizer builds (their shadow memory dominates RSS).
. "$(dirname "$0")/../lib/common.sh"

[ -x /usr/bin/time ] || { echo "skip: /usr/bin/time missing (apt-get install time)" >&2; exit 77; }
libs=$(ldd "$DUMPER" 2>/dev/null || true) # not piped into grep -q: pipefail + SIGPIPE would hide a match
if grep -Eq 'libasan|libubsan|libtsan' <<<"$libs"; then
  echo "skip: sanitizer build" >&2; exit 77
fi

peak_kib() { # peak_kib cmd... -> max RSS in KiB of cmd
  /usr/bin/time -f '%M' -o "$T/rss" "$@" >/dev/null 2>"$T/stderr" || { cat "$T/stderr" >&2; fail "$* failed"; }
  cat "$T/rss"
}

# ~80 MB of rows: the backup's peak must not follow the size
sqlite3 "$T/rows.db" >/dev/null <<'SQL'
PRAGMA journal_mode=OFF;
CREATE TABLE t(id INTEGER PRIMARY KEY, txt TEXT, b BLOB);
WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 40000)
INSERT INTO t SELECT i, printf('%.*c', 500, 'x') || i, randomblob(1500) FROM c;
SQL
small=$(peak_kib "$DUMPER" backup "sqlite://$T/rows.db" --to "$T/b1")
note "backup of $(( $(stat -c %s "$T/rows.db") / 1048576 )) MiB of rows: peak RSS $((small / 1024)) MiB"
[ "$small" -lt $((48 * 1024)) ] || fail "backup peak RSS $((small / 1024)) MiB (bound: 48 MiB here, 64 MiB required)"
restore=$(peak_kib "$DUMPER" restore "$(ls "$T"/b1/*.zst)" "sqlite://$T/rows-restored.db")
note "restore: peak RSS $((restore / 1024)) MiB"
[ "$restore" -lt $((64 * 1024)) ] || fail "restore peak RSS $((restore / 1024)) MiB"

# a 40 MB blob and a 40 MB text: about one copy of the value (SQLite's), not the hex text too.
# (Separate tables: SQLite keeps each result column's buffer for the life of the statement.)
sqlite3 "$T/big.db" "CREATE TABLE big(b BLOB); CREATE TABLE bigt(t TEXT);
  INSERT INTO big VALUES (randomblob(40000000)), (x'00'); INSERT INTO bigt VALUES (printf('%.*c', 40000000, 'q'));"
big=$(peak_kib "$DUMPER" backup "sqlite://$T/big.db" --to "$T/b2" --compress none)
note "backup with a 40 MB value: peak RSS $((big / 1024)) MiB"
[ "$big" -lt $((40 * 1024 + 24 * 1024)) ] || fail "a 40 MB value took $((big / 1024)) MiB (more than one copy)"
"$DUMPER" restore "$(ls "$T"/b2/*.sql)" "sqlite://$T/big-restored.db" 2>/dev/null || fail "restore of big values failed"
q="SELECT sum(length(b)), hex(substr(max(b), 1, 64)), (SELECT length(t) || substr(t, -3) FROM bigt) FROM big"
[ "$(sqlite3 "$T/big-restored.db" "$q")" = "$(sqlite3 "$T/big.db" "$q")" ] || fail "big values not restored"
exit 0
