#!/usr/bin/env bash
# drill_my.sh - `dumper drill` of MariaDB backups into scratch databases on the test server: rows
# counted from the dump's INSERT stream (both its line layouts, awkward strings and names), a good
# backup passes and leaves the source untouched; counts that disagree and a false check fail (21);
# no scratch database is left, and one a killed drill left (its process gone) is dropped.
. "$(dirname "$0")/../lib/common.sh"
. "$DUMPER_SRC/test/lib/sql.sh"
. "$DUMPER_SRC/test/lib/drill.sh"
need_service mariadb

SRC=drill_src_$$
my_fresh "$SRC"
myq "$SRC" <<'SQL'
CREATE TABLE users(id int PRIMARY KEY AUTO_INCREMENT, name text, b blob);
INSERT INTO users(name, b) VALUES ('a''(x', 0x00), ('b\\', NULL), ('c);(', ''), ('INSERT INTO `users` VALUES (9);', NULL);
INSERT INTO users(name) SELECT CONCAT('u', seq) FROM seq_1_to_2000;
CREATE TABLE `we ird`(x int);
INSERT INTO `we ird` VALUES (1), (2);
CREATE TABLE schema_migrations(version varchar(20) PRIMARY KEY);
INSERT INTO schema_migrations VALUES ('20250101000000'), ('20261126094500');
CREATE TABLE empty_t(x int);
SQL
export DUMPER_DB_PASSWORD=$PW
URL="mariadb://dumper@127.0.0.1:$MYP/$SRC"
SCRATCH="mariadb://dumper@127.0.0.1:$MYP/mysql"
before=$(my_fingerprint "$SRC")
B=$("$DUMPER" backup "$URL" --to "$T/bk")
python3 - "$B.json" <<'PY' || fail "manifest contents"
import json, sys
c = json.load(open(sys.argv[1]))["contents"]
rows = {t["name"]: t["rows"] for t in c["tables"]}
assert rows == {"empty_t": 0, "schema_migrations": 2, "users": 2004, "we ird": 2}, rows
assert c["schema_migration"] == "20261126094500" and "MariaDB" in c["server_version"], c
PY

scratch_dbs() { myq -e "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE 'dumper\_drill\_%'"; }
no_scratch() { [ -z "$(scratch_dbs)" ] || fail "$1: scratch databases left: $(scratch_dbs)"; }

echo "select count(*) = 2004 from users" >"$T/users.sql"
echo "select count(*) > 2004 from users" >"$T/false.sql"
"$DUMPER" drill "$B" --scratch "$SCRATCH" --check "$T/users.sql" >"$T/out" 2>"$T/err" || { cat "$T/out" "$T/err" >&2; fail "drill"; }
grep -qx "drill passed: $B" "$T/out" || fail "no 'drill passed'"
grep -qx "  4 tables, 2008 rows, compared with the manifest" "$T/out" || { cat "$T/out" >&2; fail "figures"; }
grep -qx "  check $T/users.sql: true (1)" "$T/out" || { cat "$T/out" >&2; fail "check line"; }
no_scratch "after a passed drill"
[ "$(my_fingerprint "$SRC")" = "$before" ] || fail "the drill changed the source database"

expect_drill 21 "false check" "  check $T/false.sql: FAILED (0)" "$B" --scratch "$SCRATCH" --check "$T/false.sql"
no_scratch "after a false check"

E=$(edited_copy "$B" "we ird" 3)
expect_drill 21 "counts disagree" "  mismatch: table 'we ird': 3 rows in the manifest, 2 restored" "$E" --scratch "$SCRATCH"
no_scratch "after a mismatch"

# a scratch database a killed drill of this host left (its pid gone) is dropped by the next drill
sleep 0 & dead=$!; wait "$dead"
host=$(printf '%s' "$(hostname)" | sha256sum | cut -c1-8)
left="dumper_drill_${host}_${dead}_$(date +%s)"
myq -e "CREATE DATABASE \`$left\`"
"$DUMPER" drill "$B" --scratch "$SCRATCH" >/dev/null 2>"$T/err" || { cat "$T/err" >&2; fail "drill after a leftover"; }
grep -q "drill: dropped the leftover scratch database '$left'" "$T/err" || { cat "$T/err" >&2; fail "no line about the leftover"; }
no_scratch "after the drill that followed a leftover"

myq -e "DROP DATABASE \`$SRC\`"
echo ok
