#!/usr/bin/env bash
# restore_hostile_sqlite.sh - a planted SQLite backup (zstd + a manifest whose sha256 matches: what
# anyone with an app key can upload) runs nothing outside its target: ATTACH of another database
# (dumperd.db), VACUUM INTO, load_extension, file pragmas, fts3_tokenizer pointers, temporary
# objects, shell dot-commands, a NUL byte, CRLF line ends, a forged schema. Each is refused with
# one line (exit 9, or 10 where SQLite itself rejects the syntax), no file appears anywhere, the
# target is left as it was (absent, or unchanged under --force). Statements that merely look
# dangerous inside a string stay data, and a planted trigger does not fire during the restore.
. "$(dirname "$0")/../lib/common.sh"
. "$DUMPER_SRC/test/lib/plant.sh"

B="$T/backups"; C="$T/canary"; V="$T/victim"; D="$T/target"
mkdir -p "$C" "$V" "$D"
# the issue's scenario: dumperd's own state database on the same host
sqlite3 "$V/dumperd.db" "CREATE TABLE users(name TEXT, pw TEXT); INSERT INTO users VALUES ('admin', 'h');"

good_prefix=$(cat <<'SQL'
PRAGMA foreign_keys=OFF;
BEGIN TRANSACTION;
CREATE TABLE t(a);
INSERT INTO "t"(rowid,"a") VALUES(1,'kept');
SQL
)$'\n'

# refused CODE "name" "message part" [restore options...] < planted SQL: one line, no file changed
# anywhere (the canary and victim directories, the target's: no hidden file left there either)
state() { tree_state "$C" "$V" "$D"; }
refused() {
  local code=$1 name=$2 want=$3 b; shift 3
  b=$(plant "$B" "$name" sqlite sql)
  restore_refused "$code" "$name" "$want" "$b" "sqlite://$D/app.db" "$@"
}

refused 9 attach_dumperd "ATTACH (or VACUUM) of '$V/dumperd.db'" <<SQL
${good_prefix}ATTACH DATABASE '$V/dumperd.db' AS d;
INSERT INTO d.users VALUES ('planted', 'x');
COMMIT;
SQL
refused 9 attach_uri "ATTACH (or VACUUM) of 'file:$C/uri.db?mode=rwc'" <<SQL
${good_prefix}ATTACH 'file:$C/uri.db?mode=rwc' AS x;
CREATE TABLE x.t(a);
COMMIT;
SQL
refused 9 vacuum_into "ATTACH (or VACUUM) of '$C/copy.db'" <<SQL
${good_prefix}COMMIT;
VACUUM INTO '$C/copy.db';
SQL
refused 9 load_extension "the function load_extension()" <<SQL
${good_prefix}SELECT load_extension('$C/evil.so');
COMMIT;
SQL
# in a view the untrusted schema stops it before the authorizer sees it
refused 10 view_load_extension "unsafe use of load_extension()" <<SQL
${good_prefix}CREATE VIEW v AS SELECT load_extension('$C/evil.so') AS x;
INSERT INTO t SELECT x FROM v;
COMMIT;
SQL
refused 9 fts3_tokenizer "the function fts3_tokenizer()" <<SQL
${good_prefix}SELECT fts3_tokenizer('simple', x'4141414141414141');
COMMIT;
SQL
refused 9 journal_wal "PRAGMA journal_mode=WAL" <<SQL
${good_prefix}COMMIT;
PRAGMA journal_mode=WAL;
SQL
refused 9 temp_store_directory "PRAGMA temp_store_directory" <<SQL
PRAGMA temp_store_directory='$C';
${good_prefix}COMMIT;
SQL
refused 9 temp_table "use of database 'temp'" <<SQL
${good_prefix}CREATE TEMP TABLE tt(a);
COMMIT;
SQL
refused 9 detach "DETACH of 'main'" <<SQL
${good_prefix}DETACH DATABASE main;
COMMIT;
SQL
refused 9 schema_delete "a delete from sqlite_master" <<SQL
${good_prefix}PRAGMA writable_schema=ON;
DELETE FROM sqlite_schema;
COMMIT;
SQL
# two tables on one b-tree, written through writable_schema: quick_check refuses the result
refused 9 forged_schema "malformed" <<SQL
${good_prefix}PRAGMA writable_schema=ON;
INSERT INTO sqlite_schema(type,name,tbl_name,rootpage,sql) VALUES('table','t2','t2',2,'CREATE TABLE t2(a)');
PRAGMA writable_schema=OFF;
COMMIT;
SQL
# after a string holding an odd quote and a ';' at a line end: the ATTACH is a statement of its own
refused 9 after_odd_quote "ATTACH (or VACUUM) of '$V/dumperd.db'" <<SQL
${good_prefix}INSERT INTO t VALUES('it''s;
');
ATTACH '$V/dumperd.db' AS d;
COMMIT;
SQL
# the sqlite3 shell's dot-commands mean nothing to the library: a syntax error, not a command
refused 10 shell_dot_command 'near ".": syntax error' <<SQL
.shell touch $C/shell
.output $C/out.txt
${good_prefix}COMMIT;
SQL
refused 10 readfile "no such function: readfile" <<SQL
${good_prefix}INSERT INTO t VALUES (readfile('/etc/passwd'));
COMMIT;
SQL
# a NUL byte would end the C string SQLite sees and drop the rest of the line unseen
printf '%sSELECT 1;\0ATTACH %s AS d;\nCOMMIT;\n' "$good_prefix" "'$V/dumperd.db'" |
  refused 9 nul_byte "holds a NUL byte at offset"
# CRLF line ends: no statement ends at ";\r\n", so nothing runs, not even the ATTACH
printf '%s' "$good_prefix" | sed 's/$/\r/' >"$T/crlf.sql"
printf "ATTACH '%s' AS d;\r\nCOMMIT;\r\n" "$V/dumperd.db" >>"$T/crlf.sql"
refused 9 crlf "ends in the middle of a statement" <"$T/crlf.sql"

# --force over an existing database: a refused dump leaves it exactly as it was
sqlite3 "$D/app.db" "CREATE TABLE mine(x); INSERT INTO mine VALUES ('still here');"
refused 9 force_keeps_target "ATTACH (or VACUUM) of '$V/dumperd.db'" --force <<SQL
${good_prefix}ATTACH '$V/dumperd.db' AS d;
COMMIT;
SQL
[ "$(sqlite3 "$D/app.db" 'SELECT x FROM mine')" = "still here" ] || fail "the --force target changed"
[ "$(ls -A "$D")" = "app.db" ] || fail "the target directory holds $(ls -A "$D")"
rm -f "$D/app.db"

# A planted endless query still stops on SIGINT: exit 17, one line, no target.
b=$(printf '%sWITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c;\nCOMMIT;\n' \
  "$good_prefix" | plant "$B" endless sqlite sql)
"$DUMPER" restore "$b" "sqlite://$D/app.db" >"$T/endless.out" 2>"$T/endless.err" &
pid=$!
for _ in $(seq 600); do [ -n "$(ls -A "$D")" ] && break; sleep 0.05; done # its hidden file exists: it runs
sleep 0.5 # well inside the endless statement
kill -INT "$pid"
rc=0; wait "$pid" || rc=$?
[ "$rc" = 17 ] && [ "$(wc -l <"$T/endless.err")" = 1 ] && grep -q "interrupted" "$T/endless.err" ||
  fail "endless query: exit $rc: $(cat "$T/endless.err")"
[ -z "$(ls -A "$D")" ] || fail "endless query: the target directory holds $(ls -A "$D")"

# Data that looks like commands stays data; a planted trigger is restored but does not fire.
b=$(plant "$B" data_only sqlite sql <<SQL
${good_prefix}INSERT INTO t VALUES('ATTACH ''$V/dumperd.db'' AS d;
VACUUM INTO ''$C/x.db'';
.shell touch $C/y');
CREATE TABLE log(x);
CREATE TRIGGER tr AFTER INSERT ON t BEGIN INSERT INTO log VALUES (new.a); END;
INSERT INTO t VALUES ('fires?');
COMMIT;
SQL
)
before=$(tree_state "$C" "$V")
quiet_check "restore of data that looks like commands" "$DUMPER" restore "$b" "sqlite://$D/app.db"
[ "$(sqlite3 "$D/app.db" "SELECT count(*) FROM t WHERE a LIKE 'ATTACH%'")" = 1 ] || fail "the string was not restored"
[ "$(sqlite3 "$D/app.db" "SELECT count(*) FROM log")" = 0 ] || fail "the planted trigger fired during the restore"
[ "$(sqlite3 "$D/app.db" "SELECT count(*) FROM sqlite_schema WHERE type='trigger'")" = 1 ] || fail "trigger not restored"
[ "$before" = "$(tree_state "$C" "$V")" ] || fail "data_only: files changed outside the target"
[ -z "$(ls -A "$C")" ] || fail "data_only: the canary directory holds $(ls -A "$C")"
echo "ok"
