#!/usr/bin/env bash
# agent_api_faults.sh - the agent against a control plane that is down, answers garbage, answers
# huge bodies, answers slowly or not at all, or refuses the key. The API here is fake_api.py, a
# TEST DOUBLE (the real dumperd never misbehaves like this on purpose). For every fault:
#   - the host's own request latency is unchanged: medians of interleaved requests to a host with
#     the agent and to a baseline host without it, measured in this test, compared with a generous
#     ratio (no absolute timings);
#   - the agent recovers once the API behaves again;
#   - stop is prompt even with a request hanging; a 401 stops the agent with one clear log line.
. "$DUMPER_SRC/test/lib/common.sh"
. "$DUMPER_SRC/test/lib/agent.sh"

sqlite3 "$T/app.db" "CREATE TABLE t(a); INSERT INTO t VALUES (1);"
APORT=$(free_port)
DPD_URL="http://127.0.0.1:$APORT"
APP_KEY=dk_fake_key_for_the_test_double
export DUMPER_AGENT_MAX_RETRY_MS=2000 # backoff cap, so recovery is quick
N=${AGENT_LATENCY_N:-150}
RATIO=3

start_fake() {
  "$PY" "$DUMPER_SRC/test/lib/fake_api.py" "$APORT" "$T" </dev/null >>"$T/fake.log" 2>&1 &
  FAKE_PID=$!
  AG_PIDS+=("$FAKE_PID")
  wait_port "$APORT" || fail "fake API did not start"
}
mode() { curl -sf -X POST "$DPD_URL/_mode/$1" >/dev/null || fail "fake API: mode $1"; }
polls() { curl -sf "$DPD_URL/_stats" | jq '.polls + .registers'; }
compare() { # compare WHAT: agent host vs baseline host, medians
  local m; m=$("$PY" "$DUMPER_SRC/test/lib/latency.py" "${HOST_PORT[web]}" "${HOST_PORT[base]}" "$N") || fail "$1: requests failed"
  set -- "$1" $m
  note "$1: median ${2}us with the agent, ${3}us baseline"
  [ "$(echo "$2 <= $RATIO * $3 + 200" | bc)" = 1 ] || fail "$1: host latency ${2}us vs baseline ${3}us"
}
recovered() { # the agent polls successfully again
  local before; before=$(polls)
  wait_until 40 "the agent recovers" sh -c "[ \$(curl -sf $DPD_URL/_stats | jq '.polls + .registers') -gt $before ] && curl -sf http://127.0.0.1:${HOST_PORT[web]}/status | jq -e '.last_error == 0 and .running == 1'"
}

# API down from the start: the host starts, serves, and the agent registers once the API appears
start_host web --database "sqlite://$T/app.db"
start_host base --no-agent
sleep 2
[ "$(host_status web | jq .running)" = 1 ] || fail "agent not running"
[ "$(host_status web | jq .role)" = '"starting"' ] || fail "agent should still be starting"
compare "API down (connection refused)"
start_fake
wait_until 20 "registration once the API is up" sh -c "curl -sf http://127.0.0.1:${HOST_PORT[web]}/status | jq -e '.role == \"primary\"'"
compare "API healthy"

for m in garbage huge slow hang; do
  mode "$m"
  sleep 2
  compare "API $m"
  [ "$(host_status web | jq .running)" = 1 ] || fail "agent died on $m"
  mode ok
  recovered
  note "recovered from $m"
done

# the API process dies, then comes back
kill -9 "$FAKE_PID"
sleep 2
compare "API killed"
start_fake
recovered
note "recovered after the API restarted"

# a job still works after all that, and a part upload refused once (503) is retried
mode flakyparts
curl -sf -X POST "$DPD_URL/_job" >/dev/null
wait_until 60 "a backup through the fake API" sh -c "curl -sf $DPD_URL/_stats | jq -e '.committed == 1'"
curl -sf "$DPD_URL/_stats" | jq -e '.part_errors >= 1 and .failed == 0' >/dev/null || fail "no part was retried"
grep -q "part 1: HTTP 503; retrying" "$T/web.agent.log" || fail "no part retry in the log"
# limits no integer holds (1e300) in the prepare answer are ignored (converting them was undefined behaviour)
mode hugelimits
curl -sf -X POST "$DPD_URL/_job" >/dev/null
wait_until 60 "a backup with limits of 1e300" sh -c "curl -sf $DPD_URL/_stats | jq -e '.committed == 2'"
mode ok

# stop is prompt while a request hangs
mode hang
sleep 2
t0=$(date +%s%N)
kill -TERM "${HOST_PID[web]}"
while kill -0 "${HOST_PID[web]}" 2>/dev/null; do
  [ $(( ($(date +%s%N) - t0) / 1000000 )) -lt 5000 ] || fail "host did not exit within 5 s of SIGTERM"
  sleep 0.05
done
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
rc=0; wait "${HOST_PID[web]}" || rc=$?
[ "$rc" = 0 ] || { cat "$T/web.host.log" >&2; fail "host exited with $rc after SIGTERM (sanitizer report above?)"; }
note "host exited ${ms} ms after SIGTERM with a request hanging"
[ "$ms" -lt 1200 ] || fail "dumper_agent_stop took ${ms} ms"

# 401: one clear line, agent stopped, host still serving
mode 401
start_host web2 --database "sqlite://$T/app.db"
HOST_PORT[web]=${HOST_PORT[web2]}
wait_until 20 "the agent disables itself" sh -c "curl -sf http://127.0.0.1:${HOST_PORT[web2]}/status | jq -e '.disabled == 1 and .running == 0'"
[ "$(grep -c "refused the app key" "$T/web2.agent.log")" = 1 ] || fail "expected one 'refused the app key' line"
grep -c "ERROR" "$T/web2.agent.log" | grep -qx 1 || fail "expected exactly one error line"
compare "agent disabled by 401"
grep -q "$APP_KEY" "$T"/*.agent.log && fail "the app key appears in a log"
note "ok"
