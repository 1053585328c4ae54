#!/usr/bin/env bash
# agent_drill_renew.sh - a drill run by dumperd that lasts longer than the job's lease keeps its job
# (docs/drills.md "Drills run by dumperd"): dumperd with --job-lease 3 (real clock), a real `dumper agent`
# reaching it through a slow link (test/doubles/slow_relay.py: answers at 100 KB/s) and a real SQLite
# database whose backup (150 random blobs of 4 KB) takes ~6 s to download, twice the lease. The drill job
# process renews the lease (POST /api/v1/jobs/{id}/renew, every third of the lease), so the job is done on
# its first attempt with a passed result, and dumperd never calls it lost (without the renewal: "drill job
# j_N lost (lease expired)", a second attempt). The renew endpoint refuses a job no longer open (409, with
# the report's line), an unknown one (404) and a body without an agent (400).
. "$DUMPER_SRC/test/lib/common.sh"
. "$DUMPER_SRC/test/lib/agent.sh"

export TMPDIR="$T/tmp"
mkdir -p "$TMPDIR"
sqlite3 "$T/app.db" "CREATE TABLE blobs(id INTEGER PRIMARY KEY, b BLOB);
  WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 150) INSERT INTO blobs(b) SELECT randomblob(4000) FROM n;"

start_dumperd dpd --primary-interval 1 --secondary-interval 2 --lease 30 --job-lease 3
sq() { sqlite3 -cmd ".timeout 5000" "$DPD_DATA/dumperd.db" "$1"; }
RP=$(free_port)
"$PY" "$DUMPER_SRC/test/doubles/slow_relay.py" "$RP" "${DPD_URL##*:}" 100000 </dev/null >"$T/relay.out" 2>&1 &
AG_PIDS+=($!)
wait_port "$RP" || fail "the relay did not start"

(cd "$T" && DUMPER_APP_KEY=$APP_KEY DUMPER_AGENT_MAX_RETRY_MS=2000 exec "$DUMPER" agent --api "http://127.0.0.1:$RP" \
   --database "sqlite://$T/app.db" --key app --log "$T/agent.log" --debug </dev/null >"$T/agent.out" 2>&1) &
AGENT_PID=$!
AG_PIDS+=("$AGENT_PID")
wait_until 20 "the agent is primary" grep -qE "(registered with .* \(primary\)|role changed: now primary)" "$T/agent.log"

dpd drill set shop --after-each-backup >/dev/null
dpd backup now shop --database app >/dev/null
wait_until 90 "the drill result" sh -c "[ \$(sqlite3 -cmd '.timeout 5000' '$DPD_DATA/dumperd.db' 'SELECT count(*) FROM drill_results') = 1 ]"
J=$(sq "SELECT job_id FROM drill_results")
[ "$(sq "SELECT status, compared, table_count, row_count FROM drill_results")" = "passed|1|1|150" ] ||
  fail "drill: $(sq "SELECT status, error FROM drill_results")"
[ "$(sq "SELECT state, attempt FROM jobs WHERE id = $J")" = "done|1" ] || fail "drill job: $(sq "SELECT state, attempt, reason FROM jobs WHERE id = $J")"
grep -q "lost (lease expired)" "$T/dpd.log" && fail "a job was lost: $(grep "lost (lease" "$T/dpd.log")"
# the drill lasted longer than the lease, and renewed it (each renewal logged at debug level)
s=$(grep -m1 "job j_$J: drill of backup" "$T/agent.log" | cut -c1-23) e=$(grep -m1 "job j_$J: drill result reported" "$T/agent.log" | cut -c1-23)
[ $(( $(date -d "$e" +%s) - $(date -d "$s" +%s) )) -ge 5 ] || fail "the drill was not slower than the lease ($s .. $e)"
[ "$(grep -c "job j_$J: lease renewed" "$T/agent.log")" -ge 2 ] || fail "no renewals in the agent's log"
kill -TERM "$AGENT_PID"; wait "$AGENT_PID" || fail "agent exit $?"

# --- the endpoint's refusals (the report's checks) ---
api() { curl -s -o "$T/r.json" -w '%{http_code}' -X POST -H "Authorization: Bearer $APP_KEY" -d "$2" "$DPD_URL/api/v1/$1"; }
A=$(sq "SELECT agent_id FROM jobs WHERE id = $J")
code=$(api "jobs/j_$J/renew" "{\"agent_id\":\"a_$A\"}")
[ "$code" = 409 ] && [ "$(jq -r .message "$T/r.json")" = "drill job 'j_$J' is no longer open (done)" ] || fail "renew of a done job: $code $(cat "$T/r.json")"
code=$(api "jobs/j_99999/renew" "{\"agent_id\":\"a_$A\"}")
[ "$code" = 404 ] && [ "$(jq -r .message "$T/r.json")" = "unknown drill job 'j_99999'" ] || fail "renew of no job: $code $(cat "$T/r.json")"
code=$(api "jobs/j_$J/renew" "{}")
[ "$code" = 400 ] || fail "renew without agent: $code $(cat "$T/r.json")"
note "ok: a drill twice as long as the job lease renewed it and was recorded on its first attempt"
