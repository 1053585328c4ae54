#!/usr/bin/env bash
# agent_deploy.sh - a deploy with `dumper agent` at dumperd's default intervals (primary 300 s, secondary
# 3600 s, lease 900 s; issue 12): the new agent starts before the old one stops (secondary, polling every
# ~10 s while new), SIGTERM of the primary releases its lease, and the new agent is primary within seconds
# and takes the backup queued during the deploy, exactly once. Then kill -9 (no release) with a 4 s lease and the default
# 3600 s secondary interval: a secondary takes over within the lease and a few seconds.
. "$DUMPER_SRC/test/lib/common.sh"
. "$DUMPER_SRC/test/lib/agent.sh"

sqlite3 "$T/app.db" "CREATE TABLE t(a); INSERT INTO t VALUES (1), (2), (3);"
start_agent() { # start_agent NAME: a `dumper agent` process; sets AGENT_PID[NAME]
  (cd "$T" && DUMPER_APP_KEY=$APP_KEY exec "$DUMPER" agent --api "$DPD_URL" --database "sqlite://$T/app.db" \
     --key main --log "$T/$1.agent.log" </dev/null >"$T/$1.out" 2>&1) &
  AGENT_PID[$1]=$!
  AG_PIDS+=("$!")
  wait_until 20 "agent $1 registers" grep -q "registered with" "$T/$1.agent.log"
}
declare -A AGENT_PID
role_of() { dpd agents shop --json | jq -r --argjson p "${AGENT_PID[$1]}" '[.[] | select(.pid == $p)] | last | .role'; }
is_primary() { [ "$(role_of "$1")" = primary ]; }

# ---- a deploy: new process first, then SIGTERM to the old one; a backup queued meanwhile runs at once ----
start_dumperd dpd
start_agent old
grep -q "(primary)" "$T/old.agent.log" || fail "the first agent is not primary: $(cat "$T/old.agent.log")"
# the agent sends its process start (boot id : start ticks, field 22 of /proc/PID/stat), which a re-exec keeps
# and another container's pid 1 does not: the same-host-and-pid takeover needs it to match (docs/agent.md)
want_start="$(cat /proc/sys/kernel/random/boot_id):$(sed 's/.*) //' "/proc/${AGENT_PID[old]}/stat" | cut -d' ' -f20)"
got_start=$(sqlite3 "$DPD_DATA/dumperd.db" "SELECT process_start FROM agents WHERE pid = ${AGENT_PID[old]}")
[ "$got_start" = "$want_start" ] || fail "process_start sent: '$got_start', expected '$want_start'"
# a new primary polls once at once (interval 1 s), then in ~300 s: wait for that first poll, else on a slow
# machine it can take the backup queued below before the SIGTERM (seen under load: the new agent ran nothing)
wait_until 20 "the old primary's first poll" sh -c "[ \"\$(sqlite3 '$DPD_DATA/dumperd.db' 'SELECT last_seen > registered_at FROM agents WHERE pid = ${AGENT_PID[old]}')\" = 1 ]"
start_agent new
grep -Eq "\(secondary\), next poll in (9|10|11)\.[0-9] s" "$T/new.agent.log" ||
  fail "a new secondary should poll again in ~10 s: $(grep registered "$T/new.agent.log")"
# a backup queued during the deploy: the old primary would take it at its next poll (in 300 s), but stops
dpd backup now shop >/dev/null
t0=$(date +%s%N)
kill -TERM "${AGENT_PID[old]}"
rc=0; wait "${AGENT_PID[old]}" || rc=$?
[ "$rc" = 0 ] || fail "the old agent exited $rc on SIGTERM"
grep -q "released its registration and its primary lease" "$T/old.agent.log" ||
  fail "no release in the old agent's log: $(tail -3 "$T/old.agent.log")"
grep -q "agent a_[0-9]* stopped and released its primary lease" "$T/dpd.log" || fail "dumperd did not log the release"
[ "$(dpd agents shop --json | jq -r --argjson p "${AGENT_PID[old]}" '.[] | select(.pid == $p) | .alive')" = false ] ||
  fail "the stopped agent is listed alive"
wait_until 15 "the new agent is primary" is_primary new
took=$(( ($(date +%s%N) - t0) / 1000000 ))
grep -q "role changed: now primary" "$T/new.agent.log" || fail "the new agent did not learn it is primary"
wait_until 30 "the backup after the deploy is good" sh -c "[ \$(\"$DUMPERD\" backups shop --json --data '$DPD_DATA' | jq '[.[] | select(.status==\"good\")] | length') = 1 ]"
# (dumperd marks the backup good before a slow agent may have logged its job line)
wait_until 20 "the new agent logs its job" grep -q "started job process" "$T/new.agent.log"
sleep 1
[ "$(grep -c "started job process" "$T/new.agent.log")" = 1 ] || fail "the new agent ran $(grep -c "started job process" "$T/new.agent.log") jobs"
! grep -q "started job process" "$T/old.agent.log" || fail "the old agent ran a job"
kill -TERM "${AGENT_PID[new]}"; wait "${AGENT_PID[new]}" || true
kill "$DPD_PID"; wait "$DPD_PID" || true

# ---- kill -9 of the primary: no release; the lease (4 s) lapses, the secondary comes back at its end ----
start_dumperd dpd9 --lease 4 --primary-interval 1
start_agent p9
start_agent s9
is_primary p9 || fail "p9 is not primary"
kill -9 "${AGENT_PID[p9]}"
t1=$(date +%s%N)
wait_until 20 "the secondary takes over" is_primary s9
ms=$(( ($(date +%s%N) - t1) / 1000000 ))
# the lease (4 s) + 1..3 s of jitter + a poll's latency on a loaded machine
[ "$ms" -le 9000 ] || fail "takeover after kill -9 took ${ms} ms (lease 4 s)"
note "ok: primary handed over ${took} ms after SIGTERM at default intervals; ${ms} ms after kill -9 with a 4 s lease"
