#!/usr/bin/env bash
# sqlite_progress.sh - the progress line (bytes, rate) appears on a terminal and never on a pipe or in
# a file. The terminal is a pty from script(1); that part is skipped when script is missing.
. "$(dirname "$0")/../lib/common.sh"

DB="$T/app.db"
sqlite3 "$DB" >/dev/null <<'SQL'
CREATE TABLE blobs(id INTEGER PRIMARY KEY, data BLOB);
WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 20000)
INSERT INTO blobs SELECT i, randomblob(1000) FROM c;
SQL

# pipe and file: stdout has only the path, stderr nothing at all
"$DUMPER" backup "sqlite://$DB" --to "$T/b" --compress gzip --level 9 2>"$T/err" | cat > "$T/out"
[ -s "$T/err" ] && { od -c "$T/err" | head >&2; fail "backup wrote to stderr on a pipe"; }
[ "$(wc -l < "$T/out")" = 1 ] || fail "backup stdout: $(cat "$T/out")"
b=$(cat "$T/out")
"$DUMPER" verify "$b" 2>"$T/err" | cat >/dev/null
[ -s "$T/err" ] && fail "verify wrote to stderr on a pipe"
"$DUMPER" restore "$b" "sqlite://$T/r1.db" 2>&1 | cat > "$T/all"
grep -q $'\r' "$T/all" && fail "restore printed progress on a pipe"
grep -q $'\033' "$T/all" && fail "restore printed escape codes on a pipe"
grep -q "^restored " "$T/all" || fail "restore: $(cat "$T/all")"

if ! command -v script >/dev/null; then
  note "skip: script(1) not installed, terminal part not tested"
  exit 0
fi
# a terminal: progress lines with sizes and a rate, cleared at the end; the path still printed
script -q -e -c "'$DUMPER' backup 'sqlite://$DB' --to '$T/b' --compress gzip --level 9" /dev/null </dev/null > "$T/tty" ||
  fail "backup on a terminal failed: $(cat "$T/tty")"
grep -q $'\033\[K' "$T/tty" || { od -c "$T/tty" | head >&2; fail "no progress line on a terminal"; }
grep -aEq '[0-9.]+ (B|KiB|MiB)  +[0-9.]+ (B|KiB|MiB)/s' "$T/tty" || { od -c "$T/tty" | head >&2; fail "progress line lacks bytes and rate"; }
# the last progress update is erased (CR, clear line) before the path is printed on a line of its own
tr '\r' '\n' < "$T/tty" | sed 's/^\x1b\[K//' | grep -aE "^$T/b/app-[0-9TZ.]+\.sql\.gz\$" >/dev/null ||
  fail "the path line is mixed with progress"
script -q -e -c "'$DUMPER' verify '$b'" /dev/null </dev/null > "$T/tty2" || fail "verify on a terminal failed"
grep -q $'\033\[K' "$T/tty2" || fail "verify: no progress on a terminal"
grep -aq "^ok " <(tr '\r' '\n' < "$T/tty2" | sed 's/\x1b\[K//g') || fail "verify result missing on a terminal"
exit 0
