#!/usr/bin/env bash
# drill_sqlite.sh - `dumper drill` of SQLite backups: a good backup passes (figures, a true check);
# a manifest whose counts disagree, a backup that lost a table and a false check fail with exit 21
# and the exact mismatch lines; a corrupt backup fails with 9 (named a checksum mismatch); an
# encrypted backup drills with its identity, and a stranger's identity or none fails with 11; the
# throwaway directory is gone after each, and one a killed drill left (its process gone) is removed
# by the next drill.
. "$(dirname "$0")/../lib/common.sh"
. "$DUMPER_SRC/test/lib/drill.sh"

export TMPDIR="$T/tmp"
mkdir -p "$TMPDIR"
DB="$T/app.db"
sqlite3 "$DB" <<'SQL'
CREATE TABLE users(id INTEGER PRIMARY KEY, name TEXT);
INSERT INTO users(name) VALUES ('a'), ('b'), ('c');
CREATE TABLE orders(id INTEGER PRIMARY KEY, user_id INTEGER REFERENCES users(id), total REAL);
INSERT INTO orders VALUES (1, 1, 9.5), (2, 3, 1.25);
CREATE TABLE schema_migrations(version VARCHAR PRIMARY KEY);
INSERT INTO schema_migrations VALUES ('20250101000000'), ('20261126094500');
CREATE TABLE empty_t(x);
CREATE VIRTUAL TABLE docs USING fts5(body);
INSERT INTO docs VALUES ('hello world');
SQL
B=$("$DUMPER" backup "sqlite://$DB" --to "$T/bk")
M="$B.json"

# the manifest records the contents of the snapshot
python3 - "$M" <<'PY' || fail "manifest contents"
import json, sys
c = json.load(open(sys.argv[1]))["contents"]
rows = {t["name"]: t["rows"] for t in c["tables"]}
assert rows["users"] == 3 and rows["orders"] == 2 and rows["empty_t"] == 0 and rows["schema_migrations"] == 2, rows
assert "docs" not in rows and rows["docs_content"] == 1, rows   # a virtual table's rows live in its shadow tables
assert [t["name"] for t in c["tables"]] == sorted(rows), "tables not sorted"
assert c["schema_migration"] == "20261126094500" and len(c["schema_fingerprint"]) == 64 and c["server_version"]
PY

no_leftover() { [ -z "$(ls -A "$TMPDIR")" ] || fail "$1: left in TMPDIR: $(ls -A "$TMPDIR")"; }

echo "select count(*) = 3 from users" >"$T/users.sql"
echo "select count(*) > 5 from orders" >"$T/false.sql"
echo "select name from users" >"$T/text.sql"

# a good backup passes
"$DUMPER" drill "$B" --check "$T/users.sql" >"$T/out" || fail "drill of a good backup: exit $?"
grep -qx "drill passed: $B" "$T/out" || { cat "$T/out" >&2; fail "no 'drill passed' line"; }
grep -qx "  9 tables, 14 rows, compared with the manifest" "$T/out" || { cat "$T/out" >&2; fail "figures"; }
grep -qx "  newest schema migration 20261126094500" "$T/out" || fail "migration line"
grep -qx "  check $T/users.sql: true (1)" "$T/out" || { cat "$T/out" >&2; fail "check line"; }
no_leftover "after a passed drill"
"$DUMPER" drill "$B" --json >"$T/json" || fail "drill --json"
python3 - "$T/json" <<'PY' || fail "drill --json fields"
import json, sys
o = json.load(open(sys.argv[1]))
assert o["status"] == "passed" and o["compared"] is True and o["mismatches"] == [] and o["rows"] == 14, o
assert o["duration_ms"] >= o["restore_ms"] >= 0 and o["source_type"] == "sqlite", o
PY

# a false check, and a check that returns no boolean: exit 21
rc=0; "$DUMPER" drill "$B" --check "$T/false.sql" --check "$T/text.sql" >"$T/out" || rc=$?
[ "$rc" = 21 ] || fail "false check: exit $rc, expected 21"
grep -qx "drill FAILED: $B" "$T/out" || fail "no 'drill FAILED' line"
grep -qx "  check $T/false.sql: FAILED (0)" "$T/out" || { cat "$T/out" >&2; fail "false check line"; }
grep -qx "  check $T/text.sql: FAILED (a)" "$T/out" || { cat "$T/out" >&2; fail "text check line"; }
no_leftover "after a failed check"

# a manifest whose counts disagree with the backup
E=$(edited_copy "$B" users 4)
expect_drill 21 "counts disagree" "  mismatch: table 'users': 4 rows in the manifest, 3 restored" "$E"
[ "$(grep -c mismatch "$T/out")" = 1 ] || fail "one mismatch expected"

# a backup that lost a table: the dump without 'orders', stored with a checksum that matches it
mkdir "$T/lost"
L="$T/lost/$(basename "$B")"
zstd -dcq "$B" | grep -v '"\{0,1\}orders"\{0,1\}' | zstd -q -o "$L"
python3 - "$M" "$L" <<'PY'
import hashlib, json, os, subprocess, sys
m = json.load(open(sys.argv[1]))
data = open(sys.argv[2], "rb").read()
m["size"] = len(data); m["sha256"] = hashlib.sha256(data).hexdigest()
m["raw_size"] = len(subprocess.run(["zstd", "-dcq", sys.argv[2]], capture_output=True, check=True).stdout)
json.dump(m, open(sys.argv[2] + ".json", "w"))
PY
rc=0; "$DUMPER" drill "$L" >"$T/out" || rc=$?
[ "$rc" = 21 ] || { cat "$T/out" >&2; fail "lost table: exit $rc, expected 21"; }
grep -qx "  mismatch: table 'orders' (2 rows in the manifest) is missing from the restored database" "$T/out" ||
  { cat "$T/out" >&2; fail "missing table line"; }
grep -q "  mismatch: schema fingerprint differs" "$T/out" || fail "fingerprint line"
no_leftover "after a lost table"

# a corrupt backup: the restore refuses it (9), one error line, nothing left
mkdir "$T/bad"
cp "$B" "$M" "$T/bad/"
X="$T/bad/$(basename "$B")"
printf '\x00' | dd of="$X" bs=1 seek=20 conv=notrunc status=none
expect_fail 9 "corrupt backup" "$DUMPER" drill "$X"
# one pass (no verify pass first): the damage is still named for what it is
grep -q "^dumper: restore into the scratch target failed: .* is corrupt (checksum mismatch)" "$T/err" ||
  { cat "$T/err" >&2; fail "corrupt: error line"; }
no_leftover "after a corrupt backup"

# an encrypted backup: drilled with its identity; with a stranger's (the one-pass restore still
# names the key question, exit 11) or none, refused with one line; nothing left
"$DUMPER" keygen --out "$T/ops.key" >"$T/ops.pub"
"$DUMPER" keygen --out "$T/stranger.key" >/dev/null
A=$("$DUMPER" backup "sqlite://$DB" --to "$T/enc" --recipient "$(cat "$T/ops.pub")")
"$DUMPER" drill "$A" -i "$T/ops.key" >"$T/out" 2>"$T/err" || { cat "$T/out" "$T/err" >&2; fail "encrypted drill"; }
grep -qx "drill passed: $A" "$T/out" || fail "encrypted drill: no 'drill passed'"
expect_fail 11 "a stranger's identity" "$DUMPER" drill "$A" -i "$T/stranger.key"
grep -q "^dumper: restore into the scratch target failed: .* is encrypted to $(cat "$T/ops.pub"); none of the identities given matches" "$T/err" ||
  { cat "$T/err" >&2; fail "stranger's identity line"; }
no_leftover "after a stranger's identity"
expect_fail 11 "no identity" env -u DUMPER_IDENTITY "$DUMPER" drill "$A"
no_leftover "after no identity"

# the leftover of a killed drill (its process gone) goes with the next drill; a live one stays
sleep 0 & dead=$!; wait "$dead"
mkdir "$TMPDIR/dumper-drill-$dead-AbCdEf" "$TMPDIR/dumper-drill-$$-live01"
touch "$TMPDIR/dumper-drill-$dead-AbCdEf/drill.db"
"$DUMPER" drill "$B" >/dev/null 2>"$T/err" || fail "drill after a leftover"
[ ! -e "$TMPDIR/dumper-drill-$dead-AbCdEf" ] || fail "the leftover of a dead drill is still there"
[ -d "$TMPDIR/dumper-drill-$$-live01" ] || fail "a live drill's directory was removed"
rmdir "$TMPDIR/dumper-drill-$$-live01"

# usage errors
expect_fail 2 "no backup" "$DUMPER" drill
expect_fail 5 "missing check file" "$DUMPER" drill "$B" --check "$T/nope.sql"
echo ok
