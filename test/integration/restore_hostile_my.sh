#!/usr/bin/env bash
# restore_hostile_my.sh - planted MariaDB backups (zstd + a manifest whose sha256 matches: what
# anyone with an app key can upload) run no client command: system, \!, source, \., tee, \T, pager,
# \P, connect, \r, \e reach the server as SQL (a syntax error, exit 10) or are refused as unknown
# commands (exit 9, one line naming the command and its line); LOAD DATA LOCAL INFILE cannot read a
# client file; a NUL byte is refused. MySQL cannot roll DDL back, so whatever the dump created in
# the empty target before it failed is dropped again: the target is left empty, no file appears,
# the other database is untouched. Client-command text inside strings stays data. A user granted
# only on the target cannot write another database or a server file; a user with global privileges
# gets a note in a failure's line and a warning after a restore. Real mariadb-dump output (with its
# sandbox line) still restores equal.
. "$(dirname "$0")/../lib/common.sh"
. "$DUMPER_SRC/test/lib/sql.sh"
. "$DUMPER_SRC/test/lib/plant.sh"
need_service mariadb

B="$T/backups"; C="$T/canary"
mkdir -p "$C"; chmod 777 "$C"
U=dp_hostile; TGT=dp_hostile_t; OTHER=dp_hostile_other
myq <<SQL
DROP DATABASE IF EXISTS $TGT; CREATE DATABASE $TGT;
DROP DATABASE IF EXISTS $OTHER; CREATE DATABASE $OTHER;
CREATE TABLE $OTHER.victim (x text); INSERT INTO $OTHER.victim VALUES ('untouched');
DROP USER IF EXISTS '$U'@'%';
CREATE USER '$U'@'%' IDENTIFIED BY '$PW';
GRANT ALL PRIVILEGES ON \`$TGT\`.* TO '$U'@'%';
SQL
printf 'CREATE TABLE leaked (x text);\nINSERT INTO leaked VALUES (%s);\n' "'secret'" >"$T/secret.sql"
URL="mariadb://$U:$PW@127.0.0.1:$MYP/$TGT"
objects() {
  myq -e "SELECT (SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA='$TGT')
    + (SELECT COUNT(*) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA='$TGT')
    + (SELECT COUNT(*) FROM information_schema.EVENTS WHERE EVENT_SCHEMA='$TGT')"
}
state() {
  tree_state "$C" "$T/secret.sql"
  myq -e "SELECT GROUP_CONCAT(x) FROM $OTHER.victim UNION ALL SELECT GROUP_CONCAT(TABLE_NAME) FROM
    information_schema.TABLES WHERE TABLE_SCHEMA = '$OTHER' UNION ALL SELECT
    (SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA='$TGT')
    + (SELECT COUNT(*) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA='$TGT')
    + (SELECT COUNT(*) FROM information_schema.EVENTS WHERE EVENT_SCHEMA='$TGT')"
}

# A prefix that creates objects of every kind first, so a refusal has something to clean up.
head=$(cat <<'SQL'
/*!40101 SET NAMES utf8mb4 */;
CREATE TABLE t (a text);
INSERT INTO t VALUES ('kept?');
CREATE VIEW v AS SELECT a FROM t;
DELIMITER ;;
CREATE PROCEDURE p() BEGIN SELECT 1; END ;;
DELIMITER ;
SQL
)$'\n'
# refused CODE "name" "message part" < planted dump: one line, no note (a user granted on the
# target only), nothing changed: no file, the other database, the target still empty
refused() {
  local code=$1 name=$2 want=$3 b
  b=$(plant "$B" "$name" mysql sql)
  restore_refused "$code" "$name" "$want" "$b" "$URL"
  ! grep -qF "(note:" "$T/err" || fail "$name: a note for a user granted on the target only: $(cat "$T/err")"
}
cleaned="the objects the dump had created were dropped, the target is empty again"
syntax() { refused 10 "$1" "You have an error in your SQL syntax"; grep -qF "$cleaned" "$T/err" || fail "$1: $(cat "$T/err")"; }
command() { refused 9 "$1" "backup holds a client command ('$2') at line $3: a restore runs none, refused; $cleaned"; }

printf '%ssystem id > %s/system\n' "$head" "$C" | syntax system
printf '%s\\! id > %s/bang\n' "$head" "$C" | command bang '\!' 8
printf '%ssource %s\n' "$head" "$T/secret.sql" | syntax source
printf '%s\\. %s\n' "$head" "$T/secret.sql" | command source_short '\.' 8
printf '%stee %s/tee\nSELECT 1;\n' "$head" "$C" | syntax tee
printf '%s\\T %s/tee2\nSELECT 1;\n' "$head" "$C" | command tee_short '\T' 8
printf '%spager cat > %s/pager\nSELECT 1;\n' "$head" "$C" | syntax pager
printf '%s\\P cat > %s/pager2\nSELECT 1;\n' "$head" "$C" | command pager_short '\P' 8
printf '%sconnect %s 127.0.0.1\nINSERT INTO victim VALUES (1);\n' "$head" "$OTHER" | syntax connect
printf '%s\\r %s 127.0.0.1\n' "$head" "$OTHER" | command connect_short '\r' 8
printf '%s\\e\n' "$head" | command edit '\e' 8
printf '%sINSERT INTO t VALUES (1);\\! id > %s/same_line\n' "$head" "$C" | command after_statement '\!' 8
printf '%s\n\\! id > %s/crlf\r\nSELECT 1;\r\n' "$(printf '%s' "$head" | sed 's/$/\r/')" "$C" | command crlf '\!' 8
printf "%sINSERT INTO t VALUES ('it''s;\n');\n\\\\! id > %s/quote\n" "$head" "$C" | command after_odd_quote '\!' 10
printf '%sSELECT 1;\0\\! id > %s/nul\n' "$head" "$C" | refused 9 nul_byte "holds a NUL byte at offset"
printf "%sLOAD DATA LOCAL INFILE '%s' INTO TABLE t;\n" "$head" "$T/secret.sql" |
  refused 10 load_data_local "disabled the local infile capability"
# the grants are the fence for SQL: another database, a server file
printf '%sUSE %s;\nINSERT INTO victim VALUES (%s);\n' "$head" "$OTHER" "'planted'" | refused 10 use_other "Access denied"
printf '%sCREATE TABLE %s.planted (x int);\n' "$head" "$OTHER" | refused 10 qualified_other "command denied"
printf "%sSELECT 'x' INTO OUTFILE '%s/outfile';\n" "$head" "$C" | refused 10 into_outfile "Access denied"

# A client that cannot be fenced (no --sandbox: MariaDB before 10.5.25/10.6.18/10.11.8) is refused.
mkdir -p "$T/oldbin"
printf '#!/bin/sh\necho "mariadb: unknown option '"'"'--sandbox'"'"'" >&2\nexit 7\n' >"$T/oldbin/mariadb"
chmod +x "$T/oldbin/mariadb"
b=$(printf '%sSELECT 1;\n' "$head" | plant "$B" old_client mysql sql)
DUMPER_MYSQL_BIN="$T/oldbin" expect_fail 20 "a client without --sandbox" "$DUMPER" restore "$b" "$URL"
grep -qF "the client cannot refuse the commands a backup may hold (--sandbox needs MariaDB" "$T/err" ||
  fail "old client: $(cat "$T/err")"
[ "$(objects)" = 0 ] || fail "old client: the target holds $(objects) objects"

# An interrupted restore into the empty target leaves it empty too.
b=$( { printf 'CREATE TABLE big (id int PRIMARY KEY, v text);\n'
       seq 1 400000 | sed 's/.*/INSERT INTO big VALUES (&, REPEAT("x", 200));/'; } | plant "$B" interrupted mysql sql)
"$DUMPER" restore "$b" "$URL" >"$T/int.out" 2>"$T/int.err" &
RPID=$!
for _ in $(seq 600); do [ "$(myq -e "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA='$TGT'")" != 0 ] && break; sleep 0.05; done
kill -INT "$RPID"
rc=0; wait "$RPID" || rc=$?
[ "$rc" = 17 ] && [ "$(wc -l <"$T/int.err")" = 1 ] || fail "interrupted restore: exit $rc: $(cat "$T/int.err")"
grep -qF "$cleaned" "$T/int.err" || fail "interrupted restore: $(cat "$T/int.err")"
[ "$(objects)" = 0 ] || fail "the interrupted restore left $(objects) objects"

# Client commands inside strings are data.
b=$(printf "%sINSERT INTO t VALUES ('\\\\\\\\! id > %s/x'), ('system id'), ('source %s');\n" "$head" "$C" "$T/secret.sql" |
  plant "$B" data_only mysql sql)
quiet_check "restore of client commands inside strings" "$DUMPER" restore "$b" "$URL"
[ "$(myq -e "SELECT COUNT(*) FROM $TGT.t WHERE a LIKE '%id%' OR a LIKE 'source%'")" = 3 ] ||
  fail "data rows not restored: $(myq -e "SELECT a FROM $TGT.t")"
[ -z "$(ls -A "$C")" ] || fail "data_only: the canary directory holds $(ls -A "$C")"
my_fresh $TGT

# A user with global privileges: a note in a failure's line, a warning after a restore.
b=$(printf '%s\\! id > %s/dumper\n' "$head" "$C" | plant "$B" global_user mysql sql)
expect_fail 9 "as a user with global privileges" "$DUMPER" restore "$b" "$(my_url $TGT)"
grep -qF "(note: restored as 'dumper@%' with FILE, SUPER, privileges on every database)" "$T/err" ||
  fail "no note for global privileges: $(cat "$T/err")"
[ "$(objects)" = 0 ] || fail "the target holds $(objects) objects"
b=$(printf '%sINSERT INTO t VALUES (1);\n' "$head" | plant "$B" fine mysql sql)
"$DUMPER" restore "$b" "$(my_url $TGT)" 2>"$T/err"
grep -q "WARN  restored as 'dumper@%' with FILE, SUPER, privileges on every database: SQL in a backup runs" "$T/err" ||
  fail "no warning: $(cat "$T/err")"
my_fresh $TGT
"$DUMPER" restore "$b" "$URL" 2>"$T/err"
! grep -q WARN "$T/err" || fail "a warning for a user granted on the target only: $(cat "$T/err")"

# Real mariadb-dump output (its first line is the sandbox comment) with backslashes in its data.
my_fresh dp_hostile_src
myq dp_hostile_src -e "CREATE TABLE s (id int PRIMARY KEY, x text); INSERT INTO s VALUES (1, '\\\\! id'), (2, 'system id'), (3, 'a\\0b');"
"$DUMPER" backup "$(my_url dp_hostile_src)" --to "$T/real" >"$T/path"
zstd -dc "$(cat "$T/path")" | head -1 | grep -q 'enable the sandbox mode' || fail "no sandbox line in mariadb-dump's output"
my_fresh $TGT
quiet_check "restore of a real dump" "$DUMPER" restore "$(cat "$T/path")" "$URL"
[ "$(my_fingerprint $TGT)" = "$(my_fingerprint dp_hostile_src)" ] || fail "restored data differs"
[ -z "$(ls -A "$C")" ] || fail "the canary directory holds $(ls -A "$C")"
echo "ok"
