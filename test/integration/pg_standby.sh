#!/usr/bin/env bash
# pg_standby.sh - PostgreSQL host lists against two live servers: a private primary and a hot standby
# made from it with pg_basebackup (streaming replication), both started here. With the standby
# listed first, target_session_attrs=read-write backs up from the primary; standby and
# prefer-standby back up from the standby (pg_dump on a hot standby); each backup restores equal to
# the primary's data, and the tools were given exactly the server libpq chose. With the primary
# down, "any" falls over to the standby, and read-write fails with one line naming both attempts.
. "$(dirname "$0")/../lib/common.sh"
. "$DUMPER_SRC/test/lib/sql.sh"
need_service pg

PRI=$((PGP + 47)) STB=$((PGP + 48))
for p in $PRI $STB; do
  ! (: >"/dev/tcp/127.0.0.1/$p") 2>/dev/null || fail "port $p is in use"
done
KD="$T/pg"
mkdir -p "$KD"; chown postgres: "$KD"; chmod 700 "$KD"
printf '%s\n' "$PW" >"$KD/pw"; chown postgres: "$KD/pw"
pgctl() { runuser -u postgres -- "$PGBIN/pg_ctl" "$@"; }
stop_private() {
  local d
  for d in "$KD/standby" "$KD/primary"; do [ -f "$d/postmaster.pid" ] && pgctl -D "$d" -m immediate -w stop >/dev/null 2>&1; done
  return 0
}
trap 'rc=$?; stop_private; (exit $rc); _cleanup' EXIT

runuser -u postgres -- "$PGBIN/initdb" -D "$KD/primary" -U postgres --pwfile="$KD/pw" --auth-local=trust \
  --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >"$KD/initdb.log" 2>&1 || fail "initdb failed"
pgctl -D "$KD/primary" -l "$KD/primary.log" -w -t 60 \
  -o "-p $PRI -k $KD -c listen_addresses=127.0.0.1 -c fsync=off -c wal_level=replica -c max_wal_senders=4" \
  start >/dev/null || fail "the primary did not start: $(tail -5 "$KD/primary.log")"
# A query on one of the private servers.
kq() { local port=$1 db=$2; shift 2; PGPASSWORD=$PW psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U postgres -d "$db" -At "$@"; }
kfresh() { kq "$PRI" postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS \"$1\" WITH (FORCE)" -c "CREATE DATABASE \"$1\""; }
kprint() { # kprint PORT DB: every table's row count and md5 of its sorted rows
  local t
  kq "$1" "$2" -c "SELECT quote_ident(tablename) FROM pg_tables WHERE schemaname = 'public' ORDER BY 1" |
  while IFS= read -r t; do
    printf '%s %s %s\n' "$t" "$(kq "$1" "$2" -c "SELECT count(*) FROM $t")" \
      "$(kq "$1" "$2" -c "COPY (SELECT * FROM $t r ORDER BY r::text) TO STDOUT" | md5sum | cut -c1-32)"
  done
}
kq $PRI postgres -c "CREATE DATABASE shop"
kq $PRI shop <<'SQL'
CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL, price numeric(10,2));
INSERT INTO items SELECT g, 'item ' || g, g * 1.25 FROM generate_series(1, 4000) g;
CREATE TABLE notes AS SELECT g AS id, repeat(md5(g::text), 3) AS body FROM generate_series(1, 700) g;
SQL
want=$(kprint $PRI shop)
[ "$(printf '%s\n' "$want" | wc -l)" = 2 ] || fail "source fingerprint: $want"

# The standby: a base backup with recovery settings (-R), streaming from the primary.
PGPASSWORD=$PW runuser -u postgres -w PGPASSWORD -- "$PGBIN/pg_basebackup" -h 127.0.0.1 -p $PRI -U postgres \
  -D "$KD/standby" -R -X stream -c fast >"$KD/basebackup.log" 2>&1 || fail "pg_basebackup failed: $(tail -3 "$KD/basebackup.log")"
pgctl -D "$KD/standby" -l "$KD/standby.log" -w -t 60 -o "-p $STB -k $KD -c listen_addresses=127.0.0.1 -c hot_standby=on" \
  start >/dev/null || fail "the standby did not start: $(tail -5 "$KD/standby.log")"
[ "$(kq $STB postgres -c "SELECT pg_is_in_recovery()")" = t ] || fail "the standby is not in recovery"
for _ in $(seq 1 300); do [ "$(kprint $STB shop 2>/dev/null)" = "$want" ] && break; sleep 0.1; done
[ "$(kprint $STB shop)" = "$want" ] || fail "the standby did not catch up"

# Tools that record their arguments (test/lib/sql.sh), run with DUMPER_PG_BIN=$T/bin.
pg_recording_tools
pinned_to() { # pinned_to PORT WHAT: every tool run since the last call was given that server alone
  local port=$1 what=$2 n
  n=$(grep -c . "$T/argv.log" || true)
  [ "$n" -gt 0 ] || fail "$what: no tool ran"
  [ "$(grep -c "port='$port'" "$T/argv.log")" = "$n" ] || fail "$what: a tool not given port $port: $(cat "$T/argv.log")"
  ! grep -qF "$PW" "$T/argv.log" || fail "$what: the password is in a tool's argv"
  : >"$T/argv.log"
}
url() { echo "postgres://postgres:$PW@127.0.0.1:$1,127.0.0.1:$2/$3?$4"; }

i=0
for attrs in "read-write $STB $PRI $PRI" "standby $PRI $STB $STB" "prefer-standby $PRI $STB $STB"; do
  read -r tsa first second chosen <<<"$attrs"
  i=$((i + 1))
  path=$(DUMPER_PG_BIN="$T/bin" "$DUMPER" backup "$(url $first $second shop "target_session_attrs=$tsa")" \
    --to "$T/b$i" --format dump) || fail "backup with target_session_attrs=$tsa failed"
  pinned_to "$chosen" "backup ($tsa)"
  kfresh restored
  # Primary first: libpq stops at a server that refuses the database (the standby may not have
  # replayed CREATE DATABASE yet) instead of trying the next host.
  check "restore of the $tsa backup" env DUMPER_PG_BIN="$T/bin" "$DUMPER" restore "$path" \
    "$(url $PRI $STB restored target_session_attrs=read-write)"
  pinned_to "$PRI" "restore ($tsa backup)"
  got=$(kprint $PRI restored)
  [ "$got" = "$want" ] || fail "the $tsa backup restores different data: $got vs $want"
  note "target_session_attrs=$tsa, list $first,$second: dumped from $chosen, restores equal"
done

# The primary goes down: "any" falls over to the standby; read-write finds no server.
pgctl -D "$KD/primary" -m immediate -w stop >/dev/null || fail "could not stop the primary"
path=$(DUMPER_PG_BIN="$T/bin" "$DUMPER" backup "$(url $PRI $STB shop target_session_attrs=any)" --to "$T/b9") ||
  fail "backup with the primary down failed"
pinned_to "$STB" "backup with the primary down"
[ -n "$(DUMPER_PG_BIN="$T/bin" "$DUMPER" verify "$path")" ] || fail "the failover backup does not verify"
expect_clean_error 12 shop "read-write with the primary down" \
  "$DUMPER" backup "$(url $PRI $STB shop target_session_attrs=read-write)" --to "$T/b10"
grep -q "port $PRI failed" "$T/err" && grep -q "port $STB failed" "$T/err" ||
  fail "not every attempt is named: $(cat "$T/err")"
note "primary down: any -> dumped from the standby $STB"
