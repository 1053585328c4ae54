#!/usr/bin/env bash
# PostgreSQL failures: wrong password, unreachable server, missing database, missing pg_dump,
# incompatible pg_dump, pg_dump failing, server killed mid-dump. Each: the documented exit code,
# one error line naming the database with the password redacted, and no backup left behind.
. "$(dirname "$0")/../lib/common.sh"
. "$DUMPER_SRC/test/lib/sql.sh"
need_service pg

DB=dp_fail_src
pg_fresh $DB
pgq $DB -c "CREATE TABLE t AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, 1000) g"

# Wrong password: 11; neither password in the message.
expect_clean_error 11 "$DB" "wrong password" "$DUMPER" backup "postgres://postgres:Wr0ngSecret@$PGH:$PGP/$DB" --to "$T/b1"
! grep -q Wr0ngSecret "$T/err" || fail "wrong password shown"
grep -q "password authentication failed" "$T/err" || fail "no reason given: $(cat "$T/err")"
no_backup_left "$T/b1"

# Unreachable server (nothing listens on port 1): 12.
expect_clean_error 12 "$DB" "unreachable server" "$DUMPER" backup "postgres://postgres:$PW@127.0.0.1:1/$DB" --to "$T/b2"
grep -q "Connection refused" "$T/err" || fail "no reason given: $(cat "$T/err")"
no_backup_left "$T/b2"

# Missing database: 5.
expect_clean_error 5 dp_no_such_db "missing database" "$DUMPER" backup "$(pg_url dp_no_such_db)" --to "$T/b3"
no_backup_left "$T/b3"

# Missing dump tool: 20.
expect_clean_error 20 "$DB" "missing pg_dump" env DUMPER_PG_BIN="$T/nowhere" "$DUMPER" backup "$(pg_url $DB)" --to "$T/b4"
grep -q "pg_dump not found in $T/nowhere" "$T/err" || fail "unclear: $(cat "$T/err")"
no_backup_left "$T/b4"
# Same with an empty PATH and no /usr/lib/postgresql search (DUMPER_PG_BIN set to an empty dir).
mkdir -p "$T/emptybin"
expect_clean_error 20 "$DB" "empty tool dir" env DUMPER_PG_BIN="$T/emptybin" "$DUMPER" backup "$(pg_url $DB)" --to "$T/b4"

# Incompatible pg_dump (older major than the server): 20, naming what was found.
mkdir -p "$T/oldbin"
cat >"$T/oldbin/pg_dump" <<'SH'
#!/bin/sh
[ "$1" = --version ] && { echo "pg_dump (PostgreSQL) 9.6.24"; exit 0; }
echo "this old pg_dump must not be run" >&2; exit 1
SH
chmod +x "$T/oldbin/pg_dump"
expect_clean_error 20 "$DB" "incompatible pg_dump" env DUMPER_PG_BIN="$T/oldbin" "$DUMPER" backup "$(pg_url $DB)" --to "$T/b5"
grep -q "no pg_dump compatible with server version 1[0-9]* (found: $T/oldbin/pg_dump 9.6)" "$T/err" || fail "unclear: $(cat "$T/err")"
no_backup_left "$T/b5"

# pg_dump itself fails: its exit status and stderr tail make the message (10).
expect_clean_error 10 "$DB" "pg_dump error" "$DUMPER" backup "$(pg_url $DB)" --to "$T/b6" \
  --custom-options "--strict-names --table=no_such_table"
grep -q "pg_dump failed (exit 1): pg_dump: error: no matching tables were found" "$T/err" || fail "unclear: $(cat "$T/err")"
no_backup_left "$T/b6"

# A pg_dump killed by a signal (a fake one that dies after some output): 10, and nothing left.
mkdir -p "$T/killbin"
cat >"$T/killbin/pg_dump" <<SH
#!/bin/sh
[ "\$1" = --version ] && exec "$PGBIN/pg_dump" --version
head -c 300000 /dev/urandom; echo "pg_dump: error: simulated crash" >&2; kill -9 \$\$
SH
chmod +x "$T/killbin/pg_dump"
expect_clean_error 10 "$DB" "pg_dump killed" env DUMPER_PG_BIN="$T/killbin" "$DUMPER" backup "$(pg_url $DB)" --to "$T/b7"
grep -q "pg_dump was killed by signal 9: pg_dump: error: simulated crash" "$T/err" || fail "unclear: $(cat "$T/err")"
no_backup_left "$T/b7"

# Server killed mid-dump: a private server (so the shared one keeps serving other tests) with a
# table big enough that the dump is still running when the server goes down.
KPORT=$((PGP + 40))
KD="$T/pgkill"
mkdir -p "$KD"; chown postgres: "$KD"; chmod 700 "$KD"
printf '%s\n' "$PW" >"$KD/pw"; chown postgres: "$KD/pw"
runuser -u postgres -- "$PGBIN/initdb" -D "$KD/data" -U postgres --pwfile="$KD/pw" --auth-local=trust \
  --auth-host=scram-sha-256 >"$KD/initdb.log" 2>&1 || fail "initdb failed"
runuser -u postgres -- "$PGBIN/pg_ctl" -D "$KD/data" -l "$KD/server.log" -w -t 30 \
  -o "-p $KPORT -k $KD -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null || fail "private server did not start"
stop_private() { runuser -u postgres -- "$PGBIN/pg_ctl" -D "$KD/data" -m immediate -w stop >/dev/null 2>&1 || true; }
trap 'rc=$?; stop_private; (exit $rc); _cleanup' EXIT
PGPASSWORD=$PW psql -X -q -h 127.0.0.1 -p $KPORT -U postgres -d postgres -v ON_ERROR_STOP=1 \
  -c "CREATE TABLE big AS SELECT g AS id, repeat(md5(g::text), 8) AS v FROM generate_series(1, 250000) g" ||
  fail "could not fill the private server"
# A slow compression level keeps the dump running for a few seconds.

# Interrupted (SIGTERM, as a service manager would): exit 17, pg_dump killed and reaped, nothing left.
"$DUMPER" backup "postgres://postgres:$PW@127.0.0.1:$KPORT/postgres" --to "$T/b9" --level 19 >"$T/int.out" 2>"$T/int.err" &
bpid=$!
# (Match the dump itself, not the short `pg_dump --version` probes that precede it.)
for _ in $(seq 1 600); do pgrep -P $bpid -f "port='$KPORT'" >/dev/null && break; sleep 0.05; done
dpid=$(pgrep -P $bpid -f "port='$KPORT'") || fail "pg_dump did not start"
sleep 0.3
kill -TERM $bpid
rc=0; wait $bpid || rc=$?
[ "$rc" = 17 ] || { cat "$T/int.err" >&2; fail "interrupted backup: exit $rc, expected 17"; }
[ "$(wc -l <"$T/int.err")" = 1 ] || { cat "$T/int.err" >&2; fail "expected one error line"; }
note "interrupted -> $(cat "$T/int.err")"
! kill -0 "$dpid" 2>/dev/null || fail "pg_dump $dpid survived the interrupted backup"
no_backup_left "$T/b9"

"$DUMPER" backup "postgres://postgres:$PW@127.0.0.1:$KPORT/postgres" --to "$T/b8" --level 19 >"$T/kill.out" 2>"$T/kill.err" &
bpid=$!
for _ in $(seq 1 600); do pgrep -f "port='$KPORT'" >/dev/null && break; sleep 0.05; done
pgrep -f "port='$KPORT'" >/dev/null || fail "pg_dump did not start"
sleep 0.5
stop_private
rc=0; wait $bpid || rc=$?
[ "$rc" = 10 ] || { cat "$T/kill.err" >&2; fail "server killed mid-dump: exit $rc, expected 10"; }
[ "$(wc -l <"$T/kill.err")" = 1 ] || { cat "$T/kill.err" >&2; fail "expected one error line"; }
grep -q "backup of 'postgres://postgres:\*\*\*@127.0.0.1:$KPORT/postgres' failed: pg_dump failed (exit 1): pg_dump: error:" "$T/kill.err" ||
  fail "unclear: $(cat "$T/kill.err")"
note "server killed -> $(cat "$T/kill.err")"
no_backup_left "$T/b8"
! pgrep -f "port='$KPORT'" >/dev/null || fail "a pg_dump is still running"

pgq postgres -c "DROP DATABASE $DB WITH (FORCE)"
note ok
