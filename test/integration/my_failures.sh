#!/usr/bin/env bash
# MariaDB failures: wrong password, unreachable server, missing database, missing dump tool, the
# dump tool failing, the server killed mid-dump. Each: the documented exit code, one error line
# naming the database with the password redacted, no backup left, no credentials file left.
. "$(dirname "$0")/../lib/common.sh"
. "$DUMPER_SRC/test/lib/sql.sh"
need_service mariadb

DB=dp_fail_src
my_fresh $DB
myq $DB -e "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(40)) ENGINE=InnoDB; INSERT INTO t SELECT seq, MD5(seq) FROM seq_1_to_1000"
mkdir -p "$T/tmp"
export TMPDIR="$T/tmp"

expect_clean_error 11 "$DB" "wrong password" "$DUMPER" backup "mariadb://dumper:Wr0ngSecret@127.0.0.1:$MYP/$DB" --to "$T/b1"
! grep -q Wr0ngSecret "$T/err" || fail "wrong password shown"
grep -q "Access denied" "$T/err" || fail "no reason given: $(cat "$T/err")"
no_backup_left "$T/b1"

expect_clean_error 12 "$DB" "unreachable server" "$DUMPER" backup "mysql://dumper:$PW@127.0.0.1:1/$DB" --to "$T/b2"
no_backup_left "$T/b2"

expect_clean_error 5 dp_no_such_db "missing database" "$DUMPER" backup "$(my_url dp_no_such_db)" --to "$T/b3"
no_backup_left "$T/b3"

expect_clean_error 20 "$DB" "missing dump tool" env DUMPER_MYSQL_BIN="$T/nowhere" "$DUMPER" backup "$(my_url $DB)" --to "$T/b4"
grep -q "mariadb-dump or mysqldump not found in $T/nowhere" "$T/err" || fail "unclear: $(cat "$T/err")"
no_backup_left "$T/b4"
good=$("$DUMPER" backup "$(my_url $DB)" --to "$T/good") || fail "backup failed"
my_fresh dp_fail_dst
expect_clean_error 20 dp_fail_dst "missing client for restore" env DUMPER_MYSQL_BIN="$T/nowhere" \
  "$DUMPER" restore "$good" "$(my_url dp_fail_dst)"
[ -z "$(myq -e "SHOW TABLES FROM dp_fail_dst")" ] || fail "failed restore changed the target"

# The dump tool fails: exit status + stderr tail (10).
expect_clean_error 10 "$DB" "dump tool error" "$DUMPER" backup "$(my_url $DB)" --to "$T/b5" --custom-options "--no-such-option"
grep -q "mariadb-dump failed (exit [0-9]*): .*unknown option" "$T/err" || fail "unclear: $(cat "$T/err")"
no_backup_left "$T/b5"
[ -z "$(ls -A "$T/tmp")" ] || fail "credentials file left behind: $(ls -A "$T/tmp")"

# Server killed mid-dump: a private server so the shared one keeps serving other tests.
KPORT=$((MYP + 40))
KD="$T/mykill"
mkdir -p "$KD"
mariadb-install-db --no-defaults --datadir="$KD/data" --user=root --auth-root-authentication-method=normal \
  --skip-test-db >"$KD/install.log" 2>&1 || fail "mariadb-install-db failed"
mariadbd --no-defaults --user=root --datadir="$KD/data" --bind-address=127.0.0.1 --port=$KPORT \
  --socket="$KD/sock" --pid-file="$KD/pid" --log-error="$KD/server.log" --innodb-buffer-pool-size=64M \
  --skip-name-resolve </dev/null >/dev/null 2>&1 &
kpid=$!
stop_private() { kill_ours KILL $kpid; wait $kpid 2>/dev/null || true; }
trap 'rc=$?; stop_private; (exit $rc); _cleanup' EXIT
for _ in $(seq 1 300); do mariadb --no-defaults -uroot --socket="$KD/sock" -e 'select 1' >/dev/null 2>&1 && break; sleep 0.1; done
mariadb --no-defaults -uroot --socket="$KD/sock" -e "
  CREATE USER 'dumper'@'%' IDENTIFIED BY '$PW'; GRANT ALL ON *.* TO 'dumper'@'%'; CREATE DATABASE big;
  CREATE TABLE big.t (id INT PRIMARY KEY, v TEXT) ENGINE=InnoDB;
  USE big; INSERT INTO big.t SELECT seq, REPEAT(MD5(seq), 8) FROM seq_1_to_200000;" || fail "could not fill the private server"
# Interrupted (SIGTERM): exit 17, the dump tool killed and reaped, no backup, no credentials file.
"$DUMPER" backup "mariadb://dumper:$PW@127.0.0.1:$KPORT/big" --to "$T/b7" --level 19 >"$T/int.out" 2>"$T/int.err" &
bpid=$!
for _ in $(seq 1 600); do pgrep -P $bpid -x mariadb-dump >/dev/null && break; sleep 0.05; done
dpid=$(pgrep -P $bpid -x mariadb-dump) || fail "mariadb-dump did not start"
[ -n "$(ls -A "$T/tmp")" ] || fail "no credentials file while the dump runs"
[ "$(stat -c %a "$T"/tmp/*)" = 600 ] || fail "credentials file mode is $(stat -c %a "$T"/tmp/*), not 600"
sleep 0.3
kill -TERM $bpid
rc=0; wait $bpid || rc=$?
[ "$rc" = 17 ] || { cat "$T/int.err" >&2; fail "interrupted backup: exit $rc, expected 17"; }
note "interrupted -> $(cat "$T/int.err")"
! kill -0 "$dpid" 2>/dev/null || fail "mariadb-dump $dpid survived the interrupted backup"
no_backup_left "$T/b7"
[ -z "$(ls -A "$T/tmp")" ] || fail "credentials file left behind after the interruption: $(ls -A "$T/tmp")"

"$DUMPER" backup "mariadb://dumper:$PW@127.0.0.1:$KPORT/big" --to "$T/b6" --level 19 >"$T/kill.out" 2>"$T/kill.err" &
bpid=$!
for _ in $(seq 1 600); do pgrep -P $bpid -x mariadb-dump >/dev/null && break; sleep 0.05; done
pgrep -P $bpid -x mariadb-dump >/dev/null || fail "mariadb-dump did not start"
sleep 0.5
stop_private
rc=0; wait $bpid || rc=$?
[ "$rc" = 10 ] || { cat "$T/kill.err" >&2; fail "server killed mid-dump: exit $rc, expected 10"; }
[ "$(wc -l <"$T/kill.err")" = 1 ] || { cat "$T/kill.err" >&2; fail "expected one error line"; }
grep -q "backup of 'mariadb://dumper:\*\*\*@127.0.0.1:$KPORT/big' failed: mariadb-dump failed (exit [0-9]*): " "$T/kill.err" ||
  fail "unclear: $(cat "$T/kill.err")"
note "server killed -> $(cat "$T/kill.err")"
no_backup_left "$T/b6"
[ -z "$(ls -A "$T/tmp")" ] || fail "credentials file left behind: $(ls -A "$T/tmp")"

myq -e "DROP DATABASE $DB; DROP DATABASE dp_fail_dst"
note ok
