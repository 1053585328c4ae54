#!/usr/bin/env bash
# agent_drill.sh - restore drills run by dumperd, end to end: real dumperd, a real `dumper agent` (with
# --drill-scratch and its password file), real SQLite and PostgreSQL. With `drill set --after-each-backup`
# every committed backup is followed by a drill job that the primary runs at the polite priority and whose
# passed result (compared with the manifest dumperd wrote from the commit's contents) lands in the store; a
# manifest that lies is recorded as failed with the mismatch line (a cron drill, on dumperd's test clock);
# a PostgreSQL drill without a scratch server reports a clear error; a drill never overlaps a backup of the
# same database (a drill queued while a second backup runs waits, and drills that newer backup). The
# scratch password never reaches dumperd, argv or a log. With scripted agents: one without the drill
# capability is never handed a drill; a drill job is never prepared as a backup; a lost drill runs once
# more, then fails; a late report is refused and not recorded.
. "$DUMPER_SRC/test/lib/common.sh"
. "$DUMPER_SRC/test/lib/agent.sh"
. "$DUMPER_SRC/test/lib/sql.sh"
need_service pg

export TMPDIR="$T/tmp"
mkdir -p "$TMPDIR"
sqlite3 "$T/app.db" "CREATE TABLE users(id INTEGER PRIMARY KEY, name TEXT);
  INSERT INTO users(name) VALUES ('a'), ('b'), ('c');
  CREATE TABLE blobs(id INTEGER PRIMARY KEY, b BLOB);"
DB=agent_drill_$$
pg_fresh "$DB"
pgq "$DB" -c "CREATE TABLE orders(id serial PRIMARY KEY, who text); INSERT INTO orders(who) SELECT 'c' || g FROM generate_series(1, 300) g;"
printf '%s\n' "$PW" >"$T/scratch.pw"
chmod 600 "$T/scratch.pw"

EPOCH=$(date -u -d 2026-11-26T02:59:00Z +%s)
start_dumperd dpd --primary-interval 1 --secondary-interval 2 --lease 30 --test-clock "$EPOCH"
sq() { sqlite3 -cmd ".timeout 5000" "$DPD_DATA/dumperd.db" "$1"; }
clock() { curl -sf -X POST -H "Authorization: Bearer $APP_KEY" -d "{\"now\": $1}" "$DPD_URL/api/v1/test/clock" >/dev/null ||
  fail "test clock"; }

start_agent() { # start_agent NAME [extra args]
  local name=$1; shift
  (cd "$T" && DUMPER_APP_KEY=$APP_KEY DUMPER_AGENT_MAX_RETRY_MS=2000 exec "$DUMPER" agent --api "$DPD_URL" \
     --database "sqlite://$T/app.db" --key app --database "$(pg_url "$DB")" --key pg \
     --log "$T/$name.agent.log" --debug "$@" </dev/null >"$T/$name.out" 2>&1) &
  AGENT_PID=$!
  AG_PIDS+=("$AGENT_PID")
  # (dumperd's clock is the test clock: `dumperd agents` on the wall clock would call every lease over)
  wait_until 20 "agent $name is primary" grep -qE "(registered with .* \(primary\)|role changed: now primary)" "$T/$name.agent.log"
}
stop_agent() { kill -TERM "$AGENT_PID"; wait "$AGENT_PID" || fail "agent exit $?"; }

# drill results of the store: "status|backup|job|compared|tables|rows"
results() { sq "SELECT status, backup_id, job_id, compared, table_count, row_count FROM drill_results ORDER BY id"; }
nresults() { sq "SELECT count(*) FROM drill_results"; }
good_id() { dpd backups shop --json | jq -r --arg k "$1" '[.[] | select(.status == "good" and .database_key == $k)] | .[0].backup_id | ltrimstr("b_")'; }

# --- a scratch URL with a password on the command line is refused (every local user reads argv) ---
expect_fail 2 "--drill-scratch with a password" env DUMPER_APP_KEY="$APP_KEY" "$DUMPER" agent --api "$DPD_URL" \
  --database "sqlite://$T/app.db" --drill-scratch "postgres://postgres:$PW@$PGH:$PGP/postgres"
[ "$(cat "$T/err")" = "dumper agent: --drill-scratch would put the scratch server's password in the command line: give it with --drill-scratch-password-file FILE (see 'dumper agent --help')" ] ||
  fail "scratch password refusal: $(cat "$T/err")"
grep -qF "$PW" "$T/err" && fail "the refusal shows the password"

# --- a PostgreSQL drill without a scratch server: a clear error result, not a silent skip ---
start_agent noscratch
dpd drill set shop --after-each-backup >/dev/null
dpd backup now shop --database pg >/dev/null
wait_until 60 "the drill of the pg backup is recorded" sh -c "[ \$(sqlite3 -cmd '.timeout 5000' '$DPD_DATA/dumperd.db' 'SELECT count(*) FROM drill_results') = 1 ]"
B=$(good_id pg)
[ "$(results)" = "error|$B|$(sq "SELECT job_id FROM drill_results")|0||" ] || fail "pg without scratch: $(results)"
err=$(sq "SELECT error FROM drill_results")
[ "$err" = "drill of backup b_$B: no drill scratch server is configured on the agent: a postgresql drill restores into a scratch database (dumper agent --drill-scratch URL, the agent option drill_scratch, the gem's drill_scratch:)" ] ||
  fail "error line: $err"
[ "$(sq "SELECT state FROM jobs WHERE kind = 'drill'")" = done ] || fail "the drill job is not done"
stop_agent

# --- with a scratch server: after each backup, a passed drill (SQLite and PostgreSQL) ---
start_agent main --drill-scratch "postgres://postgres@$PGH:$PGP/postgres" --drill-scratch-password-file "$T/scratch.pw"
tr '\0' ' ' <"/proc/$AGENT_PID/cmdline" | grep -qF "$PW" && fail "a password in the agent's argv"
for k in app pg; do dpd backup now shop --database "$k" >/dev/null; done
wait_until 90 "two more drill results" sh -c "[ \$(sqlite3 -cmd '.timeout 5000' '$DPD_DATA/dumperd.db' 'SELECT count(*) FROM drill_results') = 3 ]"
BA=$(good_id app) BP=$(good_id pg)
[ "$(sq "SELECT status, compared, table_count, row_count FROM drill_results WHERE backup_id = $BA")" = "passed|1|2|3" ] ||
  fail "sqlite drill: $(results)"
[ "$(sq "SELECT status, compared, table_count, row_count FROM drill_results WHERE backup_id = $BP")" = "passed|1|1|300" ] ||
  fail "pg drill: $(results)"
[ "$(sq "SELECT agent_id FROM drill_results WHERE backup_id = $BA")" = "$(sq "SELECT max(id) FROM agents")" ] ||
  fail "the drill's agent"
# the evidence: each backup's newest drill in `dumperd backups --json` (docs/drills.md "Evidence")
[ "$(dpd backups shop --json | jq -r --arg b "b_$BA" '.[] | select(.backup_id == $b) | [.drill.status, .drill.rows, .drill.job_id != null] | @tsv')" = "$(printf 'passed\t3\ttrue')" ] ||
  fail "evidence of b_$BA: $(dpd backups shop --json | jq -c --arg b "b_$BA" '.[] | select(.backup_id == $b) | .drill')"
# the manifest dumperd wrote holds what the backup holds (from the commit)
jq -e '.contents.tables == [{"name": "blobs", "rows": 0}, {"name": "users", "rows": 3}]' \
  "$DPD_DATA"/backups/*"-b$BA".sql.zst.json >/dev/null || fail "manifest contents"
grep -qE "drill job j_[0-9]+ \(after-backup\) of backup b_$BA of database app: started job process [0-9]+ \(nice 10, I/O best-effort:7\)" \
  "$T/main.agent.log" || fail "no polite drill job line"
[ -z "$(ls -A "$TMPDIR")" ] || fail "left in TMPDIR: $(ls -A "$TMPDIR")"
[ "$(pgq postgres -c "SELECT count(*) FROM pg_database WHERE datname LIKE 'dumper_drill_%'")" = 0 ] || fail "a scratch database left"

# --- a manifest that lies: a cron drill of the latest backup fails with the mismatch line ---
python3 - "$DPD_DATA"/backups/*"-b$BA".sql.zst.json <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
[t for t in m["contents"]["tables"] if t["name"] == "users"][0]["rows"] = 4
json.dump(m, open(sys.argv[1], "w"))
PY
dpd drill set shop --database app --cron "0 3 * * *" >/dev/null
clock "$EPOCH" # the policy starts at 02:59
clock $((EPOCH + 120))
wait_until 60 "the cron drill is recorded" sh -c "[ \$(sqlite3 -cmd '.timeout 5000' '$DPD_DATA/dumperd.db' 'SELECT count(*) FROM drill_results') = 4 ]"
[ "$(sq "SELECT status, backup_id, mismatches FROM drill_results ORDER BY id DESC LIMIT 1")" = \
  "failed|$BA|[\"table 'users': 4 rows in the manifest, 3 restored\"]" ] || fail "lying manifest: $(results)"
[ "$(sq "SELECT reason FROM jobs WHERE kind = 'drill' ORDER BY id DESC LIMIT 1")" = schedule ] || fail "cron drill reason"
[ "$(dpd backups shop --json | jq -c --arg b "b_$BA" '.[] | select(.backup_id == $b) | [.drill.status, .drill.mismatches]')" = \
  "[\"failed\",[\"table 'users': 4 rows in the manifest, 3 restored\"]]" ] || fail "evidence of the failed drill"
clock $((EPOCH + 180)) # the slot is produced once
sleep 2
[ "$(nresults)" = 4 ] || fail "the cron slot drilled twice"

# --- no overlap: a drill queued while the next backup of the database runs waits for it ---
dpd drill set shop --database app --after-each-backup >/dev/null
sqlite3 "$T/app.db" "INSERT INTO blobs(b) SELECT randomblob(8000) FROM (SELECT 1 UNION SELECT 2 UNION SELECT 3 UNION SELECT 4 UNION SELECT 5);"
dpd app set shop --limit-rate 8K >/dev/null # each backup of app takes ~5 s; drills are not rate limited
dpd backup now shop --database app >/dev/null
dpd backup now shop --database app >/dev/null
wait_until 120 "a drill after the two backups" sh -c "[ \$(sqlite3 -cmd '.timeout 5000' '$DPD_DATA/dumperd.db' 'SELECT count(*) FROM drill_results') = 5 ]"
wait_until 30 "both backups good" sh -c "[ \$(\"$DUMPERD\" backups shop --json --data '$DPD_DATA' | jq '[.[] | select(.database_key == \"app\" and .status == \"good\")] | length') = 3 ]"
B2=$(good_id app)
# the drill queued by the first commit waited while the second backup ran, then drilled the newer backup
[ "$(sq "SELECT status, backup_id FROM drill_results ORDER BY id DESC LIMIT 1")" = "passed|$B2" ] || fail "overlap: $(results)"
python3 - "$T/main.agent.log" <<'PY' || fail "a drill and a backup of 'app' overlapped"
import re, sys
spans, open_ = [], {}
for n, line in enumerate(open(sys.argv[1])):
    m = re.search(r"(drill )?job (j_\d+) \(\S+\) (?:of backup b_\d+ )?(?:of|for) database app: started job process", line)
    if m: open_[m.group(2)] = (n, bool(m.group(1)))
    m = re.search(r"job (j_\d+): (backup b_\d+ committed|drill result reported)", line)
    if m and m.group(1) in open_:
        s, drill = open_.pop(m.group(1)); spans.append((s, n, drill))
assert len(spans) >= 4, spans
for a in spans:
    for b in spans:
        if a[2] != b[2] and a[0] < b[1] and b[0] < a[1]:
            sys.exit("overlap %r %r" % (a, b))
PY
grep -qF "$PW" "$T"/*.log "$T"/*.out && fail "a password in a log"
grep -qF "$PW" "$DPD_DATA/dumperd.db" && fail "a password in the store"
stop_agent

# --- capabilities and attempts, with scripted agents (the protocol as a client speaks it) ---
api() { curl -sf -X POST -H "Authorization: Bearer $APP_KEY" -d "$2" "$DPD_URL/api/v1/$1"; }
reg() { api agents/register "{\"hostname\":\"$1\",\"pid\":4242,\"environment\":\"production\",$2\"databases\":[{\"key\":\"app\",\"type\":\"sqlite\",\"name\":\"app\"}]}" | jq -r .agent_id; }
poll() { api agents/poll "{\"agent_id\":\"$1\"}"; }
dpd drill set shop --database app --cron "0 5 * * *" >/dev/null
clock $((EPOCH + 7200)) # 04:59: the changed policy starts
clock $((EPOCH + 7320)) # 05:01: one drill of app's latest backup
[ "$(sq "SELECT count(*) FROM jobs WHERE kind = 'drill' AND state = 'pending'")" = 1 ] || fail "no cron drill queued"
OLD=$(reg old "")
[ "$(poll "$OLD" | jq -c '[.role, .job]')" = '["primary",null]' ] || fail "an agent without the drill capability was handed a drill"
api agents/release "{\"agent_id\":\"$OLD\"}" >/dev/null
NEW=$(reg new '"capabilities":["drill"],')
poll "$NEW" >"$T/poll1.json"
jq -e --arg b "b_$B2" '.job.kind == "drill" and .job.attempt == 1 and .job.reason == "schedule" and .job.drill.backup_id == $b' \
  "$T/poll1.json" >/dev/null || fail "drill job offer: $(cat "$T/poll1.json")"
DJ=$(jq -r '.job.job_id | ltrimstr("j_")' "$T/poll1.json")
# a drill job cannot be prepared as a backup
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H "Authorization: Bearer $APP_KEY" \
  -d "{\"agent_id\":\"$NEW\",\"job_id\":\"j_$DJ\",\"format\":\"sql\"}" "$DPD_URL/api/v1/backups/prepare")
[ "$code" = 404 ] || fail "prepare of a drill job: HTTP $code"
# its lease lapses: once more (attempt 2, retry), then failed; never a third time
clock $((EPOCH + 7320 + 3601))
[ "$(sq "SELECT state, attempt, reason FROM jobs WHERE id = $DJ")" = "pending|2|retry" ] || fail "lost drill: $(sq "SELECT state, attempt FROM jobs WHERE id = $DJ")"
poll "$NEW" | jq -e '.job.attempt == 2 and .job.kind == "drill"' >/dev/null || fail "the drill's second attempt"
clock $((EPOCH + 7320 + 7202))
[ "$(sq "SELECT state, attempt FROM jobs WHERE id = $DJ")" = "failed|2" ] || fail "lost twice: $(sq "SELECT state, attempt FROM jobs WHERE id = $DJ")"
# a report after that is refused; a report of another agent's drill too
code=$(curl -s -o "$T/late.json" -w '%{http_code}' -X POST -H "Authorization: Bearer $APP_KEY" \
  -d "{\"agent_id\":\"$NEW\",\"result\":{\"status\":\"passed\",\"compared\":false,\"restore_ms\":1,\"duration_ms\":1,\"mismatches\":[],\"checks\":[]}}" \
  "$DPD_URL/api/v1/jobs/j_$DJ/drill")
[ "$code" = 409 ] && [ "$(jq -r .message "$T/late.json")" = "drill job 'j_$DJ' is no longer open (failed)" ] ||
  fail "late report: HTTP $code $(cat "$T/late.json")"
[ "$(nresults)" = 5 ] || fail "a late report was recorded"
pgq postgres -c "DROP DATABASE \"$DB\" WITH (FORCE)"
note "ok: after-each-backup drills passed (sqlite, postgresql), a lying manifest failed, no scratch: error, no overlap"
