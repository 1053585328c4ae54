#!/usr/bin/env bash
# PostgreSQL host lists (libpq's postgres://h1:p1,h2:p2/db), and host/port as query parameters: a list with a dead port first and the
# live server second backs up and restores equal contents, in both formats, also with
# target_session_attrs=read-write (the test server is a primary); the tools are given the one
# server libpq connected to, never the list; target_session_attrs that the server does not meet and
# a list of dead hosts fail with one clear line naming every attempt and no password; no
# /proc/*/cmdline holds the password during a host-list backup.
. "$(dirname "$0")/../lib/common.sh"
. "$DUMPER_SRC/test/lib/sql.sh"
need_service pg

# Two ports nothing listens on.
DEAD1=$((PGP + 45)) DEAD2=$((PGP + 46))
for p in $DEAD1 $DEAD2; do
  ! (: >"/dev/tcp/127.0.0.1/$p") 2>/dev/null || fail "port $p is in use: pick other dead ports"
done
hosts_url() { echo "postgres://postgres:$PW@127.0.0.1:$DEAD1,$PGH:$PGP/$1${2:+?$2}"; }

DB=dp_hosts_src
pg_fresh $DB
pgq $DB <<'SQL'
CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL, price numeric(10,2));
INSERT INTO items SELECT g, 'item ' || g, g * 1.25 FROM generate_series(1, 3000) g;
CREATE TABLE notes AS SELECT g AS id, repeat(md5(g::text), 3) AS body FROM generate_series(1, 500) g;
SQL
want=$(pg_fingerprint $DB)
[ "$(printf '%s\n' "$want" | wc -l)" = 2 ] || fail "source fingerprint: $want"

# Tools that record their arguments (test/lib/sql.sh), run with DUMPER_PG_BIN=$T/bin.
pg_recording_tools
# Every tool run since the last call got the live server alone: host/port of the one libpq chose.
tools_pinned() {
  local what=$1 n
  n=$(grep -c . "$T/argv.log" || true)
  [ "$n" -gt 0 ] || fail "$what: no tool ran"
  grep -q "host='$PGH'" "$T/argv.log" || fail "$what: tool not given host $PGH: $(cat "$T/argv.log")"
  [ "$(grep -c "port='$PGP'" "$T/argv.log")" = "$n" ] || fail "$what: tool not given port $PGP: $(cat "$T/argv.log")"
  ! grep -q "$DEAD1\|,127\|,$PGP" "$T/argv.log" || fail "$what: a tool got the host list: $(cat "$T/argv.log")"
  ! grep -qF "$PW" "$T/argv.log" || fail "$what: the password is in a tool's argv"
  note "$what: $(cat "$T/argv.log")"
  : >"$T/argv.log"
}

i=0
for fmt in sql dump; do
  for params in "" "target_session_attrs=read-write&connect_timeout=5&application_name=dp_hosts"; do
    i=$((i + 1))
    path=$(DUMPER_PG_BIN="$T/bin" "$DUMPER" backup "$(hosts_url $DB "$params")" --to "$T/b$i" --format $fmt) ||
      fail "backup $i ($fmt, '$params') failed"
    tools_pinned "backup $i"
    # The manifest records the list, password redacted.
    "$DUMPER" list "$T/b$i" >"$T/list"
    ! grep -rqF "$PW" "$T/b$i" "$T/list" || fail "backup $i: the password is stored"
    pg_fresh dp_hosts_dst
    check "restore $i ($fmt, '$params')" env DUMPER_PG_BIN="$T/bin" "$DUMPER" restore "$path" \
      "$(hosts_url dp_hosts_dst "$params")"
    tools_pinned "restore $i"
    got=$(pg_fingerprint dp_hosts_dst)
    [ "$got" = "$want" ] || fail "restore $i ($fmt, '$params') differs: $got vs $want"
  done
done

# The gem's form for a socket directory: host and port as query parameters, which libpq prefers
# to the authority's; the tool then gets that socket directory (and no IP address).
SOCK=${DUMPER_TEST_PG_SOCKET_DIR:-}
if [ -n "$SOCK" ]; then
  DUMPER_PG_BIN="$T/bin" DUMPER_DB_PASSWORD=$PW "$DUMPER" backup \
    "postgres://postgres@/$DB?host=$(urlenc "$SOCK")&port=$PGP" --to "$T/bsock" >/dev/null ||
    fail "backup through the socket directory failed"
  grep -q "host='$SOCK' port='$PGP'" "$T/argv.log" || fail "socket: tool not given $SOCK: $(cat "$T/argv.log")"
  ! grep -q "hostaddr" "$T/argv.log" || fail "socket: an IP address given: $(cat "$T/argv.log")"
  : >"$T/argv.log"
fi

# A live server that does not meet target_session_attrs: refused, the reason given per host.
expect_clean_error 12 "$DB" "primary with target_session_attrs=standby" \
  "$DUMPER" backup "$(hosts_url $DB target_session_attrs=standby)" --to "$T/bs"
grep -q "port $PGP failed: server is not in hot standby mode" "$T/err" || fail "no reason given: $(cat "$T/err")"
no_backup_left "$T/bs"

# Only dead hosts: exit 12, one line naming every attempt, nothing left behind.
expect_clean_error 12 "$DB" "only dead hosts" \
  "$DUMPER" backup "postgres://postgres:$PW@127.0.0.1:$DEAD1,[::1]:$DEAD2/$DB?target_session_attrs=read-write" \
  --to "$T/bd"
grep -q "127.0.0.1:$DEAD1,\[::1\]:$DEAD2/$DB" "$T/err" || fail "the hosts are not named: $(cat "$T/err")"
grep -q "port $DEAD1 failed: Connection refused; .*port $DEAD2 failed: Connection refused" "$T/err" ||
  fail "not every attempt is named: $(cat "$T/err")"
no_backup_left "$T/bd"
expect_clean_error 12 "$DB" "restore to dead hosts" \
  "$DUMPER" restore "$path" "postgres://postgres:$PW@127.0.0.1:$DEAD1,127.0.0.1:$DEAD2/dp_hosts_dst"

# A malformed list is a URL error (3), the password redacted.
expect_clean_error 3 "$DB" "bad port in the list" "$DUMPER" backup "postgres://postgres:$PW@127.0.0.1:99999,$PGH:$PGP/$DB" \
  --to "$T/bm"

# No cmdline holds the password while a host-list backup runs (password in the URL argument).
# A role of its own with a password no other test uses: the scan covers every process on the
# machine, and concurrent tests legitimately pass the shared test password to psql and dumper.
SECRET="dp-hosts-$$-$RANDOM-Se#cr@t"
pgq postgres -c "SET client_min_messages = warning" -c "DROP ROLE IF EXISTS dp_hosts_user" \
  -c "CREATE ROLE dp_hosts_user LOGIN PASSWORD \$pw\$$SECRET\$pw\$" -c "GRANT pg_read_all_data TO dp_hosts_user"
pgq $DB -c "CREATE TABLE big AS SELECT g AS id, repeat(md5(g::text), 4) AS v FROM generate_series(1, 20000) g"
# pg_dump waits ~2 s for a lock held meanwhile: long enough to be seen (the pipeline's buffers would
# take all of this table at once)
pg_hold_lock $DB big 2
"$DUMPER" backup "postgres://dp_hosts_user:$(urlenc "$SECRET")@127.0.0.1:$DEAD1,$PGH:$PGP/$DB?target_session_attrs=read-write" \
  --to "$T/bp" >"$T/bp.out" 2>"$T/bp.err" &
bpid=$!
wait_tool pg_dump $DB $bpid
seen=$(watch_cmdlines "$SECRET" pg_dump $DB $bpid)
wait $bpid || { cat "$T/bp.err" >&2; fail "host-list backup for the cmdline scan failed"; }
wait "$HOLD_PID" || true
[ "$seen" -gt 0 ] || fail "pg_dump was never seen running: the scan proves nothing"
note "$seen scans while pg_dump ran, password in no cmdline"

pgq postgres -c "DROP DATABASE $DB WITH (FORCE)" -c "DROP DATABASE dp_hosts_dst WITH (FORCE)" -c "DROP ROLE dp_hosts_user"
note ok
