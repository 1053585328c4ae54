#!/usr/bin/env bash
# agent_backup.sh - end to end: real dumperd, the example host embedding the agent, real SQLite,
# PostgreSQL and Redis. Manual ("backup now") and scheduled (cron slots, dumperd's test clock)
# backups land in dumperd's catalog as good, and each restores to contents equal to the source.
. "$DUMPER_SRC/test/lib/common.sh"
. "$DUMPER_SRC/test/lib/agent.sh"
. "$DUMPER_SRC/test/lib/sql.sh"
need_service pg
need_service redis

# --- sources ---
sqlite3 "$T/app.db" "CREATE TABLE items(id INTEGER PRIMARY KEY, name TEXT, price REAL);
  INSERT INTO items(name, price) SELECT 'item-' || value, value * 1.5 FROM generate_series(1, 500);" 2>/dev/null ||
  sqlite3 "$T/app.db" "CREATE TABLE items(id INTEGER PRIMARY KEY, name TEXT, price REAL);
  WITH RECURSIVE s(v) AS (SELECT 1 UNION ALL SELECT v + 1 FROM s WHERE v < 500)
  INSERT INTO items(name, price) SELECT 'item-' || v, v * 1.5 FROM s;"
DB=agent_e2e_$$
pg_fresh "$DB"
pgq "$DB" -c "CREATE TABLE orders(id serial PRIMARY KEY, who text, total numeric(10,2));
              INSERT INTO orders(who, total) SELECT 'c' || g, g * 3.25 FROM generate_series(1, 2000) g;"
RP=${DUMPER_TEST_REDIS_PORT}
rcli() { REDISCLI_AUTH=$PW redis-cli --no-auth-warning -p "$1" "${@:2}"; }
rcli "$RP" -n 3 FLUSHDB >/dev/null
for i in $(seq 1 50); do echo "SET key:$i value-$i"; done | rcli "$RP" -n 3 >/dev/null
rcli "$RP" -n 3 HSET h a 1 b 2 >/dev/null

# --- dumperd (test clock at 2026-11-26T02:59:00Z) + one host ---
EPOCH=$(date -u -d 2026-11-26T02:59:00Z +%s)
start_dumperd dpd --primary-interval 1 --secondary-interval 2 --lease 5 --test-clock "$EPOCH"
start_host web --database "sqlite://$T/app.db" --database "$(pg_url "$DB")" \
  --database "redis://:$PW@127.0.0.1:$RP/3"
wait_until 20 "the agent registers as primary" sh -c "[ \"\$(curl -sf http://127.0.0.1:${HOST_PORT[web]}/status | jq -r .role)\" = primary ]"
dpd agents shop --json > "$T/agents.json"
[ "$(jq length "$T/agents.json")" = 1 ] || fail "expected one agent"
grep -q "$PW" "$T/agents.json" && fail "a password reached dumperd"
# the database keys dumperd derived: sqlite-app, postgresql-<db>, redis-3
SQ=sqlite-app PG=postgresql-$DB RD=redis-3

# --- manual backups of every database ---
for k in $SQ $PG $RD; do dpd backup now shop --database "$k" >/dev/null || fail "backup now $k"; done
wait_until 60 "three good manual backups" sh -c "[ \$(\"$DUMPERD\" backups shop --json --data '$DPD_DATA' | jq '[.[] | select(.status==\"good\")] | length') -ge 3 ]"
for k in $SQ $PG $RD; do [ "$(good_backups "$k")" = 1 ] || fail "database $k: expected one good backup"; done

# --- scheduled: a daily 03:00 slot; move the clock past it ---
dpd schedule set shop --cron "0 3 * * *" --tz UTC >/dev/null || fail "schedule set"
clock() { curl -sf -X POST -H "Authorization: Bearer $APP_KEY" -d "{\"now\": $1}" "$DPD_URL/api/v1/test/clock" >/dev/null ||
  fail "test clock"; }
clock "$EPOCH" # the scheduler's first pass starts the schedule at 02:59
curl -sf -X POST -H "Authorization: Bearer $APP_KEY" -d "{\"now\": $((EPOCH + 120))}" "$DPD_URL/api/v1/test/clock" >/dev/null ||
  fail "test clock"
wait_until 60 "three scheduled backups" sh -c "[ \$(\"$DUMPERD\" backups shop --json --data '$DPD_DATA' | jq '[.[] | select(.status==\"good\")] | length') -ge 6 ]"
sleep 3 # nothing more may come: the slot is produced once
[ "$(good_backups)" = 6 ] || fail "expected exactly 6 good backups, got $(good_backups)"
[ "$(dpd backups shop --json | jq '[.[] | select(.status != "good")] | length')" = 0 ] || fail "a backup is not good"
[ "$(host_status web | jq .jobs_started)" = 6 ] || fail "expected 6 job processes"

# --- every backup restores to equal contents ---
want_sq=$(sqlite3 "$T/app.db" "SELECT count(*), sum(price), group_concat(name) FROM items")
want_pg=$(pg_fingerprint "$DB")
want_rd=$(for i in 1 25 50; do rcli "$RP" -n 3 GET key:$i; done; rcli "$RP" -n 3 HGETALL h; rcli "$RP" -n 3 DBSIZE)
n=0
for f in "$DPD_DATA"/backups/*.zst; do
  n=$((n + 1))
  case "$f" in
  *sqlite-app*)
    quiet_check "restore $f" "$DUMPER" restore "$f" "sqlite://$T/r$n.db"
    [ "$(sqlite3 "$T/r$n.db" "SELECT count(*), sum(price), group_concat(name) FROM items")" = "$want_sq" ] ||
      fail "sqlite restore differs" ;;
  *postgresql*)
    pg_fresh "${DB}_r$n"
    quiet_check "restore $f" "$DUMPER" restore "$f" "$(pg_url "${DB}_r$n")"
    [ "$(pg_fingerprint "${DB}_r$n")" = "$want_pg" ] || fail "postgresql restore differs"
    pgq postgres -c "DROP DATABASE \"${DB}_r$n\" WITH (FORCE)" ;;
  *redis*)
    mkdir -p "$T/rd$n"
    quiet_check "restore $f" "$DUMPER" restore "$f" "redis://127.0.0.1:1/3" --rdb-file "$T/rd$n/dump.rdb"
    p=$(free_port)
    redis-server --port "$p" --bind 127.0.0.1 --dir "$T/rd$n" --dbfilename dump.rdb --save '' --appendonly no \
      --daemonize yes --pidfile "$T/rd$n/pid" --logfile "$T/rd$n/log" >/dev/null
    wait_until 10 "restored redis" redis-cli -p "$p" ping
    AG_PIDS+=("$(cat "$T/rd$n/pid")")
    got=$(for i in 1 25 50; do redis-cli -p "$p" -n 3 GET key:$i; done; redis-cli -p "$p" -n 3 HGETALL h; redis-cli -p "$p" -n 3 DBSIZE)
    kill "$(cat "$T/rd$n/pid")"
    [ "$got" = "$want_rd" ] || fail "redis restore differs" ;;
  *) fail "unexpected backup file $f" ;;
  esac
done
[ "$n" = 6 ] || fail "expected 6 backup files, found $n"
grep -q "$PW" "$T"/*.log && fail "a password appears in a log"
pgq postgres -c "DROP DATABASE \"$DB\" WITH (FORCE)"
note "ok: 3 manual + 3 scheduled backups good and restored equal (sqlite, postgresql, redis)"
