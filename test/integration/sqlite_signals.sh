#!/usr/bin/env bash
# sqlite_signals.sh - SIGINT/SIGTERM in the middle of a large backup (or restore) stop it with exit 17
# and one error line, leaving nothing under a final name and no hidden partial file. SIGKILL cannot
# be caught: it may leave a hidden partial, but never a file that looks like a good backup.
. "$(dirname "$0")/../lib/common.sh"

DB="$T/big.db"
sqlite3 "$DB" >/dev/null <<'SQL'
PRAGMA journal_mode=OFF;
CREATE TABLE blobs(id INTEGER PRIMARY KEY, data BLOB);
WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 50000)
INSERT INTO blobs SELECT i, randomblob(1500) FROM c;
SQL

# start a slow backup (gzip -9 of ~150 MB of hex), wait until it is streaming, send the signal
interrupt_backup() {
  local sig=$1 out="$T/out-$1"
  "$DUMPER" backup "sqlite://$DB" --to "$out" --compress gzip --level 9 >"$T/stdout" 2>"$T/stderr" &
  local pid=$!
  # wait for the hidden partial to grow past 1 MiB: the backup is in the middle of streaming
  for _ in $(seq 600); do
    local f
    f=$(find "$out" -name '.*partial*' -size +1M 2>/dev/null | head -1)
    [ -n "$f" ] && break
    sleep 0.05
  done
  kill -0 "$pid" 2>/dev/null || fail "$sig: the backup finished before it could be interrupted (make the database bigger)"
  kill -s "$sig" "$pid"
  local rc=0
  wait "$pid" || rc=$?
  echo "$rc"
}

for sig in INT TERM HUP; do
  rc=$(interrupt_backup $sig)
  [ "$rc" = 17 ] || { cat "$T/stderr" >&2; fail "SIG$sig: exit $rc, expected 17 (interrupted)"; }
  [ "$(wc -l < "$T/stderr")" = 1 ] || { cat "$T/stderr" >&2; fail "SIG$sig: expected one error line"; }
  grep -q "interrupted" "$T/stderr" || fail "SIG$sig: message: $(cat "$T/stderr")"
  [ -s "$T/stdout" ] && fail "SIG$sig: printed a backup path"
  [ -z "$(ls -A "$T/out-$sig")" ] || { ls -la "$T/out-$sig" >&2; fail "SIG$sig: files left behind"; }
done

# SIGKILL: no clean-up possible, but nothing under a final name and nothing listed
"$DUMPER" backup "sqlite://$DB" --to "$T/out-kill" --compress gzip --level 9 >/dev/null 2>&1 &
pid=$!
for _ in $(seq 600); do
  [ -n "$(find "$T/out-kill" -name '.*partial*' -size +1M 2>/dev/null)" ] && break
  sleep 0.05
done
kill -9 "$pid"; wait "$pid" 2>/dev/null || true
[ -z "$(ls "$T/out-kill")" ] || fail "SIGKILL left a file under a visible name: $(ls "$T/out-kill")"
[ -z "$("$DUMPER" list "$T/out-kill")" ] || fail "SIGKILL left something listed"

# an interrupted restore leaves neither the target nor a hidden temporary database
b=$("$DUMPER" backup "sqlite://$DB" --to "$T/good" --compress zstd) || fail "backup failed"
for sig in INT TERM; do
  mkdir -p "$T/restore-$sig"
  "$DUMPER" restore "$b" "sqlite://$T/restore-$sig/x.db" >/dev/null 2>"$T/stderr" &
  pid=$!
  # wait for the hidden temporary database of the restore pass (after the checksum pass)
  for _ in $(seq 600); do
    [ -n "$(find "$T/restore-$sig" -name '.x.db.restore-*' -size +1M 2>/dev/null)" ] && break
    sleep 0.05
  done
  kill -0 "$pid" 2>/dev/null || fail "restore finished before it could be interrupted"
  [ -n "$(find "$T/restore-$sig" -name '.x.db.restore-*')" ] || fail "no temporary database seen during the restore"
  kill -s "$sig" "$pid"
  rc=0; wait "$pid" || rc=$?
  [ "$rc" = 17 ] || { cat "$T/stderr" >&2; fail "restore SIG$sig: exit $rc, expected 17"; }
  [ "$(wc -l < "$T/stderr")" = 1 ] || { cat "$T/stderr" >&2; fail "restore SIG$sig: expected one error line"; }
  [ -z "$(ls -A "$T/restore-$sig")" ] || { ls -la "$T/restore-$sig" >&2; fail "restore SIG$sig left files"; }
done
exit 0
