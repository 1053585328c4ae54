#!/usr/bin/env bash
# Passwords never reach a command line: while a PostgreSQL and a MariaDB backup run, no
# /proc/*/cmdline contains the password, plain or percent-encoded (and the dump tool was seen
# running meanwhile), with the password in the environment (as docs/sources.md recommends) and in
# the URL argument (dumper hides it in its own argv). The passwords are
# awkward on purpose (quotes, backslash, '#', spaces, '@') to exercise the URL decoding (restore
# takes them in the URL) and the MariaDB option-file escaping; the option file lives only while
# the tool runs.
. "$(dirname "$0")/../lib/common.sh"
. "$DUMPER_SRC/test/lib/sql.sh"

# The scan can see a password: a decoy process with one in its argv is found.
printf '%s\n' 'decoy-Se\cr#t' >"$T/pattern"
python3 -c 'import time; time.sleep(30)' 'x decoy-Se\cr#t' &
decoy=$!
# (until python3 has exec'd, the forked child's argv is bash's: poll instead of a fixed sleep)
found=0
for _ in $(seq 1 300); do
  grep -qlaF -f "$T/pattern" /proc/[0-9]*/cmdline 2>/dev/null && { found=1; break; }
  kill -0 $decoy 2>/dev/null || break
  sleep 0.05
done
[ $found = 1 ] || fail "the cmdline scan cannot find a decoy password"
kill $decoy; wait $decoy 2>/dev/null || true

ran=0
if [ -n "${DUMPER_TEST_HAVE_PG:-}" ]; then
  ran=1
  SECRET='Pg"Se\cr#t '"'"'x@:/zz91'
  pgq postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS dp_secret WITH (FORCE)" \
    -c "DROP ROLE IF EXISTS dp_secret_user" -c "CREATE ROLE dp_secret_user LOGIN PASSWORD \$pw\$$SECRET\$pw\$" \
    -c "CREATE DATABASE dp_secret OWNER dp_secret_user"
  pgq dp_secret -c "SET ROLE dp_secret_user" \
    -c "CREATE TABLE t AS SELECT g AS id, repeat(md5(g::text), 4) AS v FROM generate_series(1, 20000) g"
  # the dump tool waits ~2 s for a lock held meanwhile: long enough to be seen (the pipeline's buffers
  # would take all of this table at once)
  pg_hold_lock dp_secret t 2
  PGPASSWORD=$SECRET "$DUMPER" backup "postgres://dp_secret_user@$PGH:$PGP/dp_secret" --to "$T/pg" \
    >"$T/pg.out" 2>"$T/pg.err" &
  bpid=$!
  seen=$(watch_cmdlines "$SECRET" pg_dump dp_secret $bpid)
  wait $bpid || { cat "$T/pg.err" >&2; fail "postgresql backup with an awkward password failed"; }
  wait "$HOLD_PID" || true
  [ "$seen" -gt 0 ] || fail "pg_dump was never seen running: the scan proves nothing"
  note "postgresql: $seen scans while pg_dump ran, password in no cmdline"
  # A password inside the URL argument: dumper overwrites it in its own argv at start-up, so once
  # the dump runs no cmdline shows it either (only the instant between exec and that is exposed).
  pg_hold_lock dp_secret t 2
  "$DUMPER" backup "postgres://dp_secret_user:$(urlenc "$SECRET")@$PGH:$PGP/dp_secret" --to "$T/pg2" \
    >"$T/pg2.out" 2>"$T/pg2.err" &
  bpid=$!
  wait_tool pg_dump dp_secret $bpid
  seen=$(watch_cmdlines "$SECRET" pg_dump dp_secret $bpid)
  wait $bpid || { cat "$T/pg2.err" >&2; fail "postgresql backup with the password in the url failed"; }
  wait "$HOLD_PID" || true
  [ "$seen" -gt 0 ] || fail "pg_dump was never seen running (password in the url)"
  note "postgresql, password in the url: $seen scans, password in no cmdline"
  # The awkward password also works for restore (psql gets it the same way).
  pgq postgres -c "CREATE DATABASE dp_secret2 OWNER dp_secret_user"
  check "restore with the awkward password" "$DUMPER" restore "$(cat "$T/pg.out")" \
    "postgres://dp_secret_user:$(urlenc "$SECRET")@$PGH:$PGP/dp_secret2"
  [ "$(pgq dp_secret2 -c "SELECT count(*) FROM t")" = 20000 ] || fail "restore incomplete"
  pgq postgres -c "DROP DATABASE dp_secret WITH (FORCE)" -c "DROP DATABASE dp_secret2 WITH (FORCE)" \
    -c "DROP ROLE dp_secret_user"
fi

if [ -n "${DUMPER_TEST_HAVE_MARIADB:-}" ]; then
  ran=1
  SECRET='My"Se\cr#t '"'"'x@:/qq73'
  sqlpw=$(printf '%s' "$SECRET" | sed "s/\\\\/\\\\\\\\/g; s/'/''/g")
  myq -e "DROP DATABASE IF EXISTS dp_secret; DROP DATABASE IF EXISTS dp_secret2; DROP USER IF EXISTS 'dp_secret_user'@'%';
          CREATE USER 'dp_secret_user'@'%' IDENTIFIED BY '$sqlpw'; CREATE DATABASE dp_secret;
          CREATE DATABASE dp_secret2; GRANT ALL ON dp_secret.* TO 'dp_secret_user'@'%';
          GRANT ALL ON dp_secret2.* TO 'dp_secret_user'@'%';
          CREATE TABLE dp_secret.t (id INT PRIMARY KEY, v TEXT) ENGINE=InnoDB;
          USE dp_secret; INSERT INTO dp_secret.t SELECT seq, REPEAT(MD5(seq), 4) FROM seq_1_to_20000;"
  mkdir -p "$T/tmp"
  my_hold_lock dp_secret t 2
  TMPDIR="$T/tmp" DUMPER_DB_PASSWORD=$SECRET "$DUMPER" backup "mariadb://dp_secret_user@127.0.0.1:$MYP/dp_secret" \
    --to "$T/my" >"$T/my.out" 2>"$T/my.err" &
  bpid=$!
  seen=$(watch_cmdlines "$SECRET" mariadb-dump dp_secret $bpid)
  wait $bpid || { cat "$T/my.err" >&2; fail "mariadb backup with an awkward password failed"; }
  wait "$HOLD_PID" || true
  [ "$seen" -gt 0 ] || fail "mariadb-dump was never seen running: the scan proves nothing"
  [ -z "$(ls -A "$T/tmp")" ] || fail "credentials file left behind: $(ls -A "$T/tmp")"
  note "mariadb: $seen scans while mariadb-dump ran, password in no cmdline, option file removed"
  check "restore with the awkward password" env TMPDIR="$T/tmp" "$DUMPER" restore "$(cat "$T/my.out")" \
    "mariadb://dp_secret_user:$(urlenc "$SECRET")@127.0.0.1:$MYP/dp_secret2"
  [ "$(myq -e "SELECT COUNT(*) FROM dp_secret2.t")" = 20000 ] || fail "restore incomplete"
  [ -z "$(ls -A "$T/tmp")" ] || fail "credentials file left behind after restore"
  myq -e "DROP DATABASE dp_secret; DROP DATABASE dp_secret2; DROP USER 'dp_secret_user'@'%'"
fi
[ $ran = 1 ] || { need_service pg; }
note ok
