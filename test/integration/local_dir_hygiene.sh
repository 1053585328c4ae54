#!/usr/bin/env bash
# local_dir_hygiene.sh - a backup directory over time. `dumper list` warns (one stderr line each)
# about what it skips: a file named like a backup without a manifest, an invalid manifest, a manifest
# whose backup is gone (other files are none of its business). A one-byte flip is a "checksum
# mismatch" in verify and restore. A later backup into the same directory removes the hidden partial
# file of a SIGKILLed one, but never the partial of a live backup (it holds a lock: here a backup
# stopped with SIGSTOP, which then completes), nor a young one, nor one whose pid still runs (an
# older dumper took no lock) unless it is a day old, nor files that are not partials.
. "$(dirname "$0")/../lib/common.sh"

DB="$T/big.db"
sqlite3 "$DB" >/dev/null <<'SQL'
PRAGMA journal_mode=OFF;
CREATE TABLE blobs(id INTEGER PRIMARY KEY, data BLOB);
WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 20000)
INSERT INTO blobs SELECT i, randomblob(1500) FROM c;
SQL
D="$T/backups"

# ---- list warnings ----
good=$("$DUMPER" backup "sqlite://$DB" --to "$D" --name good)
cp "$good" "$D/copied-20260101T000000.000Z.sql.zst"                  # no manifest
cp "$good" "$D/garbled-20260102T000000.000Z.sql.zst"; echo '{nope' >"$D/garbled-20260102T000000.000Z.sql.zst.json"
cp "$good.json" "$D/orphan-20260103T000000.000Z.sql.zst.json"        # its backup is gone
echo "not a backup" >"$D/notes.txt"
"$DUMPER" list "$D" >"$T/list" 2>"$T/list.err" || fail "list failed: $(cat "$T/list.err")"
[ "$(wc -l <"$T/list")" = 1 ] && grep -q "/good-" "$T/list" || fail "list shows: $(cat "$T/list")"
[ "$(wc -l <"$T/list.err")" = 3 ] || fail "expected three warnings: $(cat "$T/list.err")"
grep -q "WARN  skipping '$D/copied-20260101T000000.000Z.sql.zst': it has no manifest" "$T/list.err" ||
  fail "no warning for the backup without a manifest: $(cat "$T/list.err")"
grep -q "WARN  skipping '$D/garbled-20260102T000000.000Z.sql.zst': .*manifest" "$T/list.err" ||
  fail "no warning for the invalid manifest: $(cat "$T/list.err")"
grep -q "WARN  skipping the manifest '$D/orphan-20260103T000000.000Z.sql.zst.json': its backup 'orphan-20260103T000000.000Z.sql.zst' is missing" \
  "$T/list.err" || fail "no warning for the orphan manifest: $(cat "$T/list.err")"
! grep -q notes "$T/list.err" || fail "a warning about a file that is no backup"
rm -f "$D"/copied-* "$D"/garbled-* "$D"/orphan-* "$D/notes.txt"

# ---- a flipped byte ----
cp "$good" "$T/flip.sql.zst"; cp "$good.json" "$T/flip.sql.zst.json"
printf '\x55' | dd of="$T/flip.sql.zst" bs=1 seek=1000 conv=notrunc status=none
expect_fail 9 "verify of a flipped byte" "$DUMPER" verify "$T/flip.sql.zst"
grep -q "is corrupt (checksum mismatch): sha256 [0-9a-f]* does not match the manifest" "$T/err" || fail "$(cat "$T/err")"
expect_fail 9 "restore of a flipped byte" "$DUMPER" restore "$T/flip.sql.zst" "sqlite://$T/flip.db"
grep -q "checksum mismatch" "$T/err" && ! grep -q truncated "$T/err" || fail "$(cat "$T/err")"

# ---- stale partial files ----
partials() { find "$D" -maxdepth 1 -name '.*.partial-*' -printf '%f\n' | sort; }
# start_stopped NAME: a backup into $D (a child of this shell, so that it is reaped), stopped with
# SIGSTOP once its partial file exists; its pid in STOPPED
start_stopped() {
  "$DUMPER" backup "sqlite://$DB" --to "$D" --name "$1" --compress gzip --level 9 >"$T/$1.out" 2>"$T/$1.err" &
  STOPPED=$!
  local _
  for _ in $(seq 600); do
    [ -n "$(find "$D" -maxdepth 1 -name ".$1-*.partial-$STOPPED-*" -size +100k)" ] && break
    sleep 0.02
  done
  kill -STOP "$STOPPED"
  [ -n "$(find "$D" -maxdepth 1 -name ".$1-*.partial-$STOPPED-*")" ] || fail "$1: no partial file while it ran"
}
age() { touch -d "$1" "$D"/$2; } # age WHEN GLOB: backdate partial files

start_stopped killed
kill -KILL "$STOPPED"; wait "$STOPPED" 2>/dev/null || true
stale=$(partials)
[ -n "$stale" ] || fail "the killed backup left no partial"
start_stopped live
live=$STOPPED
trap 'rc=$?; kill -KILL "$live" "${SLEEP:-}" 2>/dev/null || true; (exit $rc); _cleanup' EXIT
age '-2 minutes' ".*.partial-*"
sleep 300 >/dev/null 2>&1 &
SLEEP=$!
: >"$D/.older.sql.zst.partial-$SLEEP-0badc0de"                 # no lock, but its pid runs
: >"$D/.ancient.sql.zst.partial-$SLEEP-0badc0df"               # no lock, its pid runs, a day old
: >"$D/.young.sql.zst.partial-999999-0badc0de"                 # no lock, dead pid, but young
: >"$D/.notes.partial-x"; : >"$D/.x.db.restore-1-00000000"     # not partials of ours
age '-2 minutes' ".older.*"; age '-25 hours' ".ancient.*"; age '-2 minutes' ".notes.*"; age '-2 minutes' ".x.db.*"
"$DUMPER" backup "sqlite://$T/big.db" --to "$D" --name later --compress none >/dev/null
left=$(partials)
! grep -qxF "$stale" <<<"$left" || fail "the killed backup's partial is still there"
grep -q "^\.live-.*\.partial-$live-" <<<"$left" || fail "the live backup's partial was removed"
grep -qx "\.older\.sql\.zst\.partial-$SLEEP-0badc0de" <<<"$left" || fail "a partial whose pid runs was removed"
! grep -q "^\.ancient" <<<"$left" || fail "a day-old partial was kept"
grep -q "^\.young" <<<"$left" || fail "a young partial was removed"
[ -e "$D/.notes.partial-x" ] && [ -e "$D/.x.db.restore-1-00000000" ] || fail "files that are not partials were removed"
kill "$SLEEP"; wait "$SLEEP" 2>/dev/null || true
kill -CONT "$live"
wait "$live" || fail "the live backup failed after the sweep: $(cat "$T/live.err")"
quiet_check "the live backup verifies" "$DUMPER" verify "$(cat "$T/live.out")"
echo "ok"
