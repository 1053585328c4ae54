#!/usr/bin/env bash
# restore_hostile_pg.sh - planted PostgreSQL backups (zstd + a manifest whose sha256 matches: what
# anyone with an app key can upload) run no client-side command: psql meta-commands (\!, \copy to,
# \o |prog, \i, \ir, \g file, \w, \setenv, \gexec, \c) at a statement start, after \unrestrict with
# the dump's own key, with CRLF line ends, are refused by the \restrict fence (exit 9, one line
# naming the line of the dump), the single transaction rolls back and the target stays empty, no
# file appears. Inside COPY data or a string the same text is data. A NUL byte is refused. A dump
# that commits on its own is named in the error. pg_restore reads only the custom format (a planted
# tar archive is refused) and sends the archive's SQL to the server only. Server-side file access
# fails for the (recommended) non-superuser role; a superuser or pg_write_server_files member gets a
# warning after a restore and a note in a failure's line. Real pg_dump output (with its own
# \restrict lines) still restores.
. "$(dirname "$0")/../lib/common.sh"
. "$DUMPER_SRC/test/lib/sql.sh"
. "$DUMPER_SRC/test/lib/plant.sh"
need_service pg

B="$T/backups"; C="$T/canary"
mkdir -p "$C"; chmod 777 "$C" # writable by the server's user too: a file appearing would be seen
R=dp_hostile; TGT=dp_hostile_t; OTHER=dp_hostile_other
pgq postgres >/dev/null <<SQL
SET client_min_messages = warning;
DROP DATABASE IF EXISTS $TGT WITH (FORCE);
DROP DATABASE IF EXISTS $OTHER WITH (FORCE);
DROP DATABASE IF EXISTS dp_hostile_src WITH (FORCE);
DROP ROLE IF EXISTS $R;
DROP ROLE IF EXISTS ${R}_files;
CREATE ROLE $R LOGIN PASSWORD '$PW';
CREATE ROLE ${R}_files LOGIN PASSWORD '$PW' IN ROLE pg_write_server_files;
CREATE DATABASE $OTHER;
SQL
pgq $OTHER -c "CREATE TABLE victim(x text); INSERT INTO victim VALUES ('untouched')"
printf 'CREATE TABLE leaked(x text);\nINSERT INTO leaked VALUES (%s);\n' "'secret'" >"$T/secret.sql"
fresh_target() { pg_fresh $TGT; pgq postgres -c "ALTER DATABASE $TGT OWNER TO ${1:-$R}"; }
url_as() { echo "postgres://$1:$PW@$PGH:$PGP/$TGT"; }
objects() {
  pgq $TGT -c "SELECT (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_(toast|temp)')
    + (SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
       WHERE n.nspname NOT IN ('pg_catalog', 'information_schema'))
    + (SELECT count(*) FROM pg_namespace WHERE nspname NOT IN ('public', 'information_schema') AND nspname !~ '^pg_')"
}

head='SET client_encoding = '"'"'UTF8'"'"';
CREATE TABLE public.t (a text);
'
# refused CODE "name" "message part" [FORMAT] < planted dump: one line, no note (a plain role),
# nothing changed: no file, the other database, the target still empty
state() { tree_state "$C" "$T/secret.sql"; echo "target objects: $(objects)"; } # the other database: at the end
refused() {
  local code=$1 name=$2 want=$3 fmt=${4:-sql} b
  b=$(plant "$B" "$name" postgresql "$fmt")
  restore_refused "$code" "$name" "$want" "$b" "$(url_as $R)"
  ! grep -qF "(note:" "$T/err" || fail "$name: a note for a plain role: $(cat "$T/err")"
}
meta() { refused 9 "$1" "holds a psql meta-command (a backslash command) at line $2"; }
fresh_target # every refused restore leaves it empty, as checked

printf '%s\\! id > %s/bang\nINSERT INTO t VALUES (1);\n' "$head" "$C" | meta bang 3
printf "%s\\\\copy (SELECT 'x') TO '%s/copy'\n" "$head" "$C" | meta copy_to 3
printf '%s\\o |id > %s/pipe\nSELECT 1;\n' "$head" "$C" | meta output_pipe 3
printf '%s\\o %s/outfile\nSELECT 1;\n' "$head" "$C" | meta output_file 3
printf '%s\\i %s\n' "$head" "$T/secret.sql" | meta include 3
printf '%s\\ir ../secret.sql\n' "$head" | meta include_relative 3
printf '%sSELECT 1 \\g %s/g\n' "$head" "$C" | meta g_file 3
printf '%sSELECT 1;\n\\w %s/w\n' "$head" "$C" | meta write_buffer 4
printf "%s\\\\setenv PAGER 'touch %s/pager'\n" "$head" "$C" | meta setenv 3
printf "%sSELECT '\\\\! touch %s/gexec' \\\\gexec\n" "$head" "$C" | meta gexec 3
printf '%s\\c %s\nINSERT INTO victim VALUES (1);\n' "$head" "$OTHER" | meta connect_other 3
# the dump's own key does not lift our restriction: \restrict K at the top, \unrestrict K later
printf '\\restrict guessedkey\n%s\\unrestrict guessedkey\n\\! id > %s/unrestrict\n' "$head" "$C" |
  meta unrestrict_own_key 4
printf '\\restrict K1\n%s\\unrestrict K1\n\\! id > %s/after_final\n' "$head" "$C" | meta after_final_unrestrict 4
printf 'SET search_path = public;\r\nCREATE TABLE public.t (a text);\r\n\\! id > %s/crlf\r\nSELECT 1;\r\n' "$C" | meta crlf 3
# a lone carriage return is no line break for psql: the command follows a statement on its line
printf 'CREATE TABLE public.t (a text);\r\\! id > %s/cr\n' "$C" | meta cr_same_line 1
printf '%sSELECT 1;\0\\! id > %s/nul\n' "$head" "$C" | refused 9 nul_byte "holds a NUL byte at offset"
# an unbalanced quote: psql is inside a string at the end of the input; nothing runs
printf "%sSELECT 'it''s;\n\\\\! id > %s/quote\n" "$head" "$C" | refused 10 odd_quote "psql"
# server-side file access needs rights the restoring role does not have
printf "%sCOPY t FROM PROGRAM 'id > %s/program';\n" "$head" "$C" |
  refused 10 copy_program "must be superuser or have privileges of the pg_execute_server_program role"
printf "%sCOPY t TO '%s/server_file';\n" "$head" "$C" | refused 10 copy_to_server_file "must be superuser or have privileges of the pg_write_server_files role"
printf "%sSELECT lo_export(lo_from_bytea(0, 'x'), '%s/lo');\n" "$head" "$C" | refused 10 lo_export "permission denied"

# A psql without \restrict (before 13.22/14.19/15.14/16.10/17.6) is refused before it runs anything.
mkdir -p "$T/oldbin"
printf '#!/bin/sh\n[ "$1" = --version ] && { echo "psql (PostgreSQL) 15.13"; exit 0; }\ntouch %s/old_psql_ran\nexit 1\n' "$C" \
  >"$T/oldbin/psql"
chmod +x "$T/oldbin/psql"
printf '%sINSERT INTO t VALUES (1);\n' "$head" | DUMPER_PG_BIN="$T/oldbin" \
  refused 20 old_psql "(version 15.13) cannot refuse the meta-commands a backup may hold (\\restrict needs psql 13.22"

# Inside COPY data and inside a string the same bytes are data: restored as text, nothing runs.
fresh_target
b=$(printf '%sCOPY t (a) FROM stdin;\n\\! id > %s/copydata\n\\.\nINSERT INTO t VALUES (E'"'"'\\n\\\\! id > %s/string\\n'"'"');\n' \
  "$head" "$C" "$C" | plant "$B" data_only postgresql sql)
quiet_check "restore of meta-commands inside data" "$DUMPER" restore "$b" "$(url_as $R)"
[ "$(pgq $TGT -c "SELECT count(*) FROM t WHERE a LIKE '%! id >%'")" = 2 ] || fail "the data rows were not restored"
[ -z "$(ls -A "$C")" ] || fail "data_only: the canary directory holds $(ls -A "$C")"

# A dump that commits on its own ends the single transaction: the failure says what is left.
b=$(printf '%sCOMMIT;\n\\! id > %s/commit\n' "$head" "$C" | plant "$B" self_commit postgresql sql)
fresh_target
expect_fail 9 "self-committing dump" "$DUMPER" restore "$b" "$(url_as $R)"
grep -qF "the dump committed 1 object before it failed: drop and recreate the database" "$T/err" ||
  fail "a self-committed object was not named: $(cat "$T/err")"
[ -z "$(ls -A "$C")" ] || fail "self_commit: the canary directory holds $(ls -A "$C")"

fresh_target
# Custom format: pg_restore reads nothing but a custom archive from its input. A tar archive (whose
# pg_restore reading could be steered by its member names) is refused; SQL in the archive's table of
# contents goes to the server, where a backslash command is a syntax error.
pg_fresh dp_hostile_src
pgq postgres -c "ALTER DATABASE dp_hostile_src OWNER TO $R"
pgq dp_hostile_src -c "SET ROLE $R" -c "CREATE TABLE t(a integer); INSERT INTO t VALUES (1)"
PGPASSWORD=$PW "$PGBIN/pg_dump" -h "$PGH" -p "$PGP" -U postgres -Ft dp_hostile_src | refused 10 tar_archive "did not find magic string" dump
PGPASSWORD=$PW "$PGBIN/pg_dump" -h "$PGH" -p "$PGP" -U postgres -Fc -Z0 dp_hostile_src | cat >"$T/c.dump"
python3 - "$T/c.dump" "\\! id > $C/toc;" <<'PY' | refused 10 toc_meta_command 'syntax error at or near "\"' dump
import struct, sys
d = open(sys.argv[1], "rb").read()
old = b"CREATE TABLE public.t (\n    a integer\n);\n"
new = sys.argv[2].encode() + b"\n"
i = d.index(old)
assert d[i - 5:i] == b"\x00" + struct.pack("<I", len(old))   # the string's length prefix
sys.stdout.buffer.write(d[:i - 5] + b"\x00" + struct.pack("<I", len(new)) + new + d[i + len(old):])
PY

# Roles that reach beyond the database: a note in a failure's one line, a warning after a restore.
b=$(printf '%s\\! id > %s/su\n' "$head" "$C" | plant "$B" as_superuser postgresql sql)
fresh_target
expect_fail 9 "as the superuser" "$DUMPER" restore "$b" "$(pg_url $TGT)"
grep -qF "(note: restored as 'postgres', a superuser)" "$T/err" ||
  fail "no superuser note: $(cat "$T/err")"
fresh_target ${R}_files
expect_fail 9 "as a pg_write_server_files member" "$DUMPER" restore "$b" "$(url_as ${R}_files)"
grep -qF "(note: restored as '${R}_files', a member of pg_write_server_files)" "$T/err" || fail "no member note: $(cat "$T/err")"
b=$(printf '%sINSERT INTO t VALUES (1);\n' "$head" | plant "$B" fine postgresql sql)
fresh_target
"$DUMPER" restore "$b" "$(pg_url $TGT)" 2>"$T/err"
grep -q "WARN  restored as 'postgres', a superuser: SQL in a backup runs with the role's rights" "$T/err" ||
  fail "no superuser warning: $(cat "$T/err")"
fresh_target
"$DUMPER" restore "$b" "$(url_as $R)" 2>"$T/err"
! grep -q WARN "$T/err" || fail "a warning for a plain role: $(cat "$T/err")"

# Real pg_dump output (15.14+ writes its own \restrict K ... \unrestrict K) with backslashes in its
# data restores equal, in both formats.
pgq dp_hostile_src -c "SET ROLE $R" -c "CREATE TABLE s(x text); INSERT INTO s VALUES (E'\\\\! id'), (E'line\\n\\\\unrestrict x'), ('\\restrict y')"
for fmt in sql dump; do
  "$DUMPER" backup "$(pg_url dp_hostile_src)" --to "$T/real" --format $fmt >"$T/path"
  grep -q '^\\restrict ' <(zstd -dc "$(cat "$T/path")") || [ $fmt = dump ] || fail "pg_dump wrote no \\restrict line"
  fresh_target
  quiet_check "restore of a real $fmt dump" "$DUMPER" restore "$(cat "$T/path")" "$(url_as $R)"
  [ "$(pg_fingerprint $TGT)" = "$(pg_fingerprint dp_hostile_src)" ] || fail "$fmt: restored data differs"
done
[ -z "$(ls -A "$C")" ] || fail "the canary directory holds $(ls -A "$C")"
[ "$(pgq $OTHER -c "SELECT x FROM victim")" = untouched ] || fail "the other database changed"
echo "ok"
