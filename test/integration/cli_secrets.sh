#!/usr/bin/env bash
# cli_secrets.sh - secrets never sit in a command line. `dumper agent --app-key K` is refused (even
# masked, the key would be readable in /proc/PID/cmdline from exec until the overwrite) with one
# line naming DUMPER_APP_KEY and --app-key-file, and without echoing the key; the agent started with
# --app-key-file registers with a real dumperd while no /proc/*/cmdline holds the key. backup and
# restore take --password-file (a PostgreSQL role of this test's own, with a password no other
# test uses): no /proc/*/cmdline holds it while pg_dump and psql run, and it restores equal; a URL
# password plus --password-file, a missing or empty file are one-line errors. `dumper --help` no
# longer claims that a URL password never reaches argv.
. "$DUMPER_SRC/test/lib/common.sh"
. "$DUMPER_SRC/test/lib/agent.sh"
. "$DUMPER_SRC/test/lib/sql.sh"

# ---- the app key ----
start_dumperd dpd --primary-interval 1 --secondary-interval 2
expect_fail 2 "--app-key" timeout 20 env -u DUMPER_APP_KEY "$DUMPER" agent --app-key "$APP_KEY" --api "$DPD_URL" \
  --database "sqlite://$T/x.db"
grep -qF "pass it in DUMPER_APP_KEY or with --app-key-file FILE" "$T/err" || fail "--app-key: $(cat "$T/err")"
! grep -qF "$APP_KEY" "$T/err" || fail "the refusal shows the key"
expect_fail 2 "-k" env -u DUMPER_APP_KEY "$DUMPER" agent -k "$APP_KEY" --api "$DPD_URL" --database "sqlite://$T/x.db"
expect_fail 5 "missing key file" env -u DUMPER_APP_KEY "$DUMPER" agent --app-key-file "$T/nope" --api "$DPD_URL" \
  --database "sqlite://$T/x.db"
grep -qF "unable to read the app key file '$T/nope': No such file or directory" "$T/err" || fail "$(cat "$T/err")"
: >"$T/empty.key"
expect_fail 2 "empty key file" env -u DUMPER_APP_KEY "$DUMPER" agent --app-key-file "$T/empty.key" --api "$DPD_URL" \
  --database "sqlite://$T/x.db"

(umask 077; printf '%s\n' "$APP_KEY" >"$T/app.key")
sqlite3 "$T/x.db" "CREATE TABLE t(a); INSERT INTO t VALUES (1);"
(cd "$T" && exec env -u DUMPER_APP_KEY "$DUMPER" agent --api "$DPD_URL" --app-key-file "$T/app.key" \
   --database "sqlite://$T/x.db" --log "$T/agent.log" </dev/null >"$T/agent.out" 2>&1) &
AP=$!
AG_PIDS+=("$AP")
printf '%s\n' "$APP_KEY" >"$T/pattern"
scans=0
while ! [ "$("$DUMPERD" agents shop --json --data "$DPD_DATA" | jq length)" = 1 ]; do
  f=$(grep -laF -f "$T/pattern" /proc/[0-9]*/cmdline 2>/dev/null | head -n1 || true)
  [ -z "$f" ] || fail "the app key is in $f"
  scans=$((scans + 1))
  [ "$scans" -lt 300 ] || fail "the agent did not register: $(cat "$T/agent.log" "$T/agent.out")"
  kill -0 "$AP" 2>/dev/null || fail "the agent exited: $(cat "$T/agent.out")"
done
f=$(grep -laF -f "$T/pattern" /proc/[0-9]*/cmdline 2>/dev/null | head -n1 || true)
[ -z "$f" ] || fail "the app key is in $f"
kill -TERM "$AP"
wait "$AP" || fail "the agent did not stop cleanly"
note "agent registered with the key from a file ($scans scans of /proc/*/cmdline before)"

# ---- --password-file ----
need_service pg
SECRET="cli-secret-$$-$RANDOM"
ROLE=dp_cli_secrets
pgq postgres >/dev/null <<SQL
SET client_min_messages = warning;
DROP DATABASE IF EXISTS dp_cli_src WITH (FORCE);
DROP DATABASE IF EXISTS dp_cli_dst WITH (FORCE);
DROP ROLE IF EXISTS $ROLE;
CREATE ROLE $ROLE LOGIN PASSWORD '$SECRET';
CREATE DATABASE dp_cli_src OWNER $ROLE;
CREATE DATABASE dp_cli_dst OWNER $ROLE;
SQL
PGPASSWORD=$SECRET psql -X -q -h "$PGH" -p "$PGP" -U $ROLE dp_cli_src \
  -c "CREATE TABLE big AS SELECT g AS id, repeat(md5(g::text), 4) AS v FROM generate_series(1, 100000) g"
(umask 077; printf '%s\n' "$SECRET" >"$T/pw")
URL="postgres://$ROLE@$PGH:$PGP"
unset PGPASSWORD DUMPER_DB_PASSWORD
"$DUMPER" backup "$URL/dp_cli_src" --to "$T/b" --level 19 --password-file "$T/pw" >"$T/path" 2>"$T/backup.err" &
BP=$!
seen=$(watch_cmdlines "$SECRET" pg_dump dp_cli_src "$BP")
wait "$BP" || fail "backup with --password-file: $(cat "$T/backup.err")"
[ "$seen" -gt 0 ] || fail "pg_dump was never seen running: the scan proves nothing"
# psql must stay alive while the scans run, whatever the pipeline's buffers hold: another session's
# uncommitted CREATE TABLE big (invisible, so the target still counts as empty) makes the dump's own
# CREATE TABLE big wait for it; the holder is terminated (rolled back) after the scans.
PGAPPNAME="dp_hold_$$" pgq dp_cli_dst -c "BEGIN" -c "CREATE TABLE public.big (id int)" -c "SELECT pg_sleep(120)" \
  -c "ROLLBACK" >/dev/null 2>&1 &
HOLD_PID=$!
for _ in $(seq 1 200); do
  [ "$(pgq postgres -c "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'dp_hold_$$' AND query LIKE '%pg_sleep%'")" = 1 ] && break
  sleep 0.05
done
"$DUMPER" restore "$(cat "$T/path")" "$URL/dp_cli_dst" --password-file /dev/stdin <"$T/pw" 2>"$T/restore.err" &
RP=$!
wait_tool psql dp_cli_dst "$RP"
_tool_running psql dp_cli_dst "$RP" || { pg_release_hold; fail "psql was never seen running: the scan would prove nothing"; }
kill -STOP "$RP"
printf '%s\n%s\n' "$SECRET" "$(urlenc "$SECRET")" >"$T/pattern"
for seen2 in 1 2 3; do
  f=$(grep -laF -f "$T/pattern" /proc/[0-9]*/cmdline 2>/dev/null | head -n1 || true)
  [ -z "$f" ] || { kill -CONT "$RP"; fail "password found in $f"; }
done
_tool_running psql dp_cli_dst "$RP" || { kill -CONT "$RP"; pg_release_hold; fail "psql ended during the scans"; }
kill -CONT "$RP"
pg_release_hold
wait "$HOLD_PID" || true
wait "$RP" || fail "restore with --password-file: $(cat "$T/restore.err")"
[ "$(PGPASSWORD=$SECRET psql -X -At -h "$PGH" -p "$PGP" -U $ROLE dp_cli_dst -c 'SELECT count(*) FROM big')" = 100000 ] ||
  fail "restored table differs"
note "--password-file: pg_dump seen in $seen scans, psql in $seen2, no password in any cmdline"
expect_fail 2 "a URL password and --password-file" "$DUMPER" backup "postgres://$ROLE:urlpw9z@$PGH:$PGP/dp_cli_src" \
  --to "$T/b2" --password-file "$T/pw"
grep -qF "the database url holds a password and another was given apart from it" "$T/err" || fail "$(cat "$T/err")"
! grep -qF -e "$SECRET" -e urlpw9z "$T/err" || fail "a password in the error"
expect_fail 5 "missing password file" "$DUMPER" restore "$(cat "$T/path")" "$URL/dp_cli_dst" --password-file "$T/nope"
printf '\n\n' >"$T/blank"
expect_fail 2 "blank password file" "$DUMPER" backup "$URL/dp_cli_src" --to "$T/b2" --password-file "$T/blank"
grep -qF "the password file '$T/blank' must hold one non-empty line" "$T/err" || fail "$(cat "$T/err")"
[ ! -e "$T/b2" ] || [ -z "$(ls -A "$T/b2")" ] || fail "a refused backup left files"

# ---- what --help says ----
"$DUMPER" --help >"$T/help"
! grep -q "never reach argv" "$T/help" || fail "--help still claims passwords never reach argv"
grep -q -- "--password-file FILE or DUMPER_DB_PASSWORD" "$T/help" || fail "--help does not offer --password-file"
! grep -q -- "--app-key KEY" "$T/help" || fail "--help still shows --app-key KEY"
echo "ok"
