#!/usr/bin/env bash
# agent_drill_age.sh - restore drills run by dumperd of ENCRYPTED backups (docs/drills.md "Drills run by
# dumperd"): an app with age recipients (`dumperd app set --recipient`, keys from `dumper keygen` and
# age-keygen), a real `dumper agent` and a real SQLite database. With `dumper agent --drill-identity FILE`
# the after-each-backup drill of the encrypted backup passes (compared: 1 table, 2 rows); without one it is
# recorded as an error naming the backup's recipients. The identity never reaches dumperd's store, argv of
# the job process, or a log; only its path is in the job spec. A --drill-identity the agent cannot read
# stops the agent at start with one line.
. "$DUMPER_SRC/test/lib/common.sh"
. "$DUMPER_SRC/test/lib/agent.sh"
. "$DUMPER_SRC/test/lib/encrypt.sh"

export TMPDIR="$T/tmp"
mkdir -p "$TMPDIR"
sqlite3 "$T/app.db" "CREATE TABLE secrets(id INTEGER PRIMARY KEY, v TEXT); INSERT INTO secrets(v) VALUES ('x'), ('y');"
make_keys
SECRET=$(grep -o 'AGE-SECRET-KEY-1[0-9A-Z]*' "$T/ops.key")
[ -n "$SECRET" ] || fail "no secret key in ops.key"

start_dumperd dpd --primary-interval 1 --secondary-interval 2 --lease 30
sq() { sqlite3 -cmd ".timeout 5000" "$DPD_DATA/dumperd.db" "$1"; }
nresults() { sq "SELECT count(*) FROM drill_results"; }
dpd app set shop --recipient "$OPS" --recipient "$REC" >/dev/null 2>&1 || fail "app set --recipient"
dpd drill set shop --after-each-backup >/dev/null

start_agent() { # start_agent NAME [extra args]
  local name=$1; shift
  (cd "$T" && DUMPER_APP_KEY=$APP_KEY DUMPER_AGENT_MAX_RETRY_MS=2000 exec "$DUMPER" agent --api "$DPD_URL" \
     --database "sqlite://$T/app.db" --key app --log "$T/$name.agent.log" --debug "$@" </dev/null >"$T/$name.out" 2>&1) &
  AGENT_PID=$!
  AG_PIDS+=("$AGENT_PID")
  wait_until 20 "agent $name is primary" grep -qE "(registered with .* \(primary\)|role changed: now primary)" "$T/$name.agent.log"
}
stop_agent() { kill -TERM "$AGENT_PID"; wait "$AGENT_PID" || fail "agent exit $?"; }
drilled() { wait_until 60 "$1 drill result(s)" sh -c "[ \$(sqlite3 -cmd '.timeout 5000' '$DPD_DATA/dumperd.db' 'SELECT count(*) FROM drill_results') = $1 ]"; }

# --- an identity file `dumper agent` cannot read: not started, one line (read once at start) ---
expect_fail 5 "--drill-identity missing" env DUMPER_APP_KEY="$APP_KEY" "$DUMPER" agent --api "$DPD_URL" \
  --database "sqlite://$T/app.db" --drill-identity "$T/nope.key"
grep -qxF "dumper: unable to open identity file '$T/nope.key': No such file or directory" "$T/err" ||
  fail "missing identity: $(cat "$T/err")"

# --- without an identity: an error result naming the recipients ---
start_agent noid
dpd backup now shop --database app >/dev/null
drilled 1
B=$(sq "SELECT backup_id FROM drill_results")
[ "$(sq "SELECT status, compared FROM drill_results")" = "error|0" ] || fail "without identity: $(sq "SELECT * FROM drill_results")"
err=$(sq "SELECT error FROM drill_results")
TO=$(jq -r '.recipients | join(", ")' "$DPD_DATA"/backups/*"-b$B".sql.zst.age.json)
[ "$err" = "drill of backup b_$B: the backup is encrypted (age) to $TO and the agent has no drill identity (dumper agent --drill-identity FILE, the agent option drill_identities, the gem's drill_identity:)" ] ||
  fail "error line without identity: $err"
case "$TO" in *"$OPS"*) ;; *) fail "recipients: $TO" ;; esac
case "$TO" in *"$REC"*) ;; *) fail "recipients: $TO" ;; esac
stop_agent

# --- with --drill-identity (a relative path: the agent makes it absolute for the job process) ---
start_agent withid --drill-identity ops.key
dpd backup now shop --database app >/dev/null
drilled 2
B2=$(sq "SELECT backup_id FROM drill_results ORDER BY id DESC LIMIT 1")
[ "$B2" != "$B" ] || fail "the second drill drilled the first backup"
[ "$(dpd backups shop --json | jq -r --arg b "b_$B2" '.[] | select(.backup_id == $b) | .encryption')" = age ] ||
  fail "the drilled backup is not encrypted"
[ "$(sq "SELECT status, compared, table_count, row_count FROM drill_results ORDER BY id DESC LIMIT 1")" = "passed|1|1|2" ] ||
  fail "with identity: $(sq "SELECT status, error FROM drill_results ORDER BY id DESC LIMIT 1")"
stop_agent

# the key itself is nowhere but in its file
grep -rqF "$SECRET" "$DPD_DATA" "$T"/*.log "$T"/*.out && fail "the identity leaked"
[ -z "$(ls -A "$TMPDIR")" ] || fail "left in TMPDIR: $(ls -A "$TMPDIR")"
note "ok: encrypted drills through dumperd: passed with --drill-identity, error naming the recipients without"
