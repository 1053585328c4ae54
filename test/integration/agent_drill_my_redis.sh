#!/usr/bin/env bash
# agent_drill_my_redis.sh - restore drills run by dumperd of MariaDB and Redis backups, end to end: real
# dumperd, a real `dumper agent` with a MariaDB scratch server (--drill-scratch mariadb://... and its
# password file) and two real sources: a MariaDB database (2 tables, 40 + 0 rows) and a redis-server started
# here (5 keys in db0 and db3). With `drill set --after-each-backup` each backup is followed by a drill job
# whose passed result is in the store (MariaDB restored into a scratch database on the scratch server and
# dropped; Redis loaded by a throwaway redis-server on a unix socket: no scratch server needed); no scratch
# database, download or temporary directory is left, and the password is in no log or store.
. "$DUMPER_SRC/test/lib/common.sh"
. "$DUMPER_SRC/test/lib/agent.sh"
. "$DUMPER_SRC/test/lib/sql.sh"
. "$DUMPER_SRC/test/lib/drill.sh"
need_service mariadb
need_service redis
command -v redis-server >/dev/null || { echo "skip: no redis-server" >&2; exit 77; }

export TMPDIR="$T/tmp"
mkdir -p "$TMPDIR"
DB=agent_drill_my_$$
my_fresh "$DB"
myq "$DB" -e "CREATE TABLE orders(id int PRIMARY KEY, who varchar(20)); CREATE TABLE empty_t(x int);
  INSERT INTO orders SELECT seq, CONCAT('c', seq) FROM seq_1_to_40;"
printf '%s\n' "$PW" >"$T/scratch.pw"
chmod 600 "$T/scratch.pw"

start_drill_redis
redis-cli -p "$PORT" MSET a 1 b 2 c 3 >/dev/null
redis-cli -p "$PORT" -n 3 RPUSH l x y z >/dev/null
redis-cli -p "$PORT" -n 3 SADD s m n >/dev/null

start_dumperd dpd --primary-interval 1 --secondary-interval 2 --lease 30
sq() { sqlite3 -cmd ".timeout 5000" "$DPD_DATA/dumperd.db" "$1"; }
(cd "$T" && DUMPER_APP_KEY=$APP_KEY DUMPER_AGENT_MAX_RETRY_MS=2000 exec "$DUMPER" agent --api "$DPD_URL" \
   --database "$(my_url "$DB")" --key my --database "redis://127.0.0.1:$PORT" --key cache \
   --drill-scratch "mariadb://dumper@127.0.0.1:$MYP/mysql" --drill-scratch-password-file "$T/scratch.pw" \
   --log "$T/agent.log" --debug </dev/null >"$T/agent.out" 2>&1) &
AGENT_PID=$!
AG_PIDS+=("$AGENT_PID")
wait_until 20 "the agent is primary" grep -qE "(registered with .* \(primary\)|role changed: now primary)" "$T/agent.log"

dpd drill set shop --after-each-backup >/dev/null
for k in my cache; do dpd backup now shop --database "$k" >/dev/null; done
wait_until 90 "two drill results" sh -c "[ \$(sqlite3 -cmd '.timeout 5000' '$DPD_DATA/dumperd.db' 'SELECT count(*) FROM drill_results') = 2 ]"
good_id() { dpd backups shop --json | jq -r --arg k "$1" '[.[] | select(.status == "good" and .database_key == $k)] | .[0].backup_id | ltrimstr("b_")'; }
BM=$(good_id my) BR=$(good_id cache)
[ "$(sq "SELECT status, compared, table_count, row_count FROM drill_results WHERE backup_id = $BM")" = "passed|1|2|40" ] ||
  fail "mariadb drill: $(sq "SELECT status, compared, table_count, row_count, error FROM drill_results WHERE backup_id = $BM")"
[ "$(sq "SELECT status, compared, table_count, row_count FROM drill_results WHERE backup_id = $BR")" = "passed|1|2|5" ] ||
  fail "redis drill: $(sq "SELECT status, compared, table_count, row_count, error FROM drill_results WHERE backup_id = $BR")"
kill -TERM "$AGENT_PID"; wait "$AGENT_PID" || fail "agent exit $?"
[ -z "$(myq -e "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE 'dumper\_drill\_%'")" ] ||
  fail "a scratch database left"
[ -z "$(ls -A "$TMPDIR")" ] || fail "left in TMPDIR: $(ls -A "$TMPDIR")"
grep -qF "$PW" "$T"/*.log "$T"/*.out && fail "a password in a log"
grep -qF "$PW" "$DPD_DATA/dumperd.db" && fail "a password in the store"
myq -e "DROP DATABASE \`$DB\`"
note "ok: after-each-backup drills through dumperd passed (mariadb on a scratch server, redis)"
