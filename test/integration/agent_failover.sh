#!/usr/bin/env bash
# agent_failover.sh - three hosts of one app, each embedding the agent, against real dumperd:
#   A (real clock): exactly one primary; kill -9 it: a secondary is promoted within the lease (plus
#     one secondary poll interval), and the next backup runs exactly once, on the new primary.
#   B (dumperd's test clock): an hourly schedule over 8 simulated hours, the primary killed half way:
#     every slot produces exactly one job process and one good backup; no slot runs twice.
. "$DUMPER_SRC/test/lib/common.sh"
. "$DUMPER_SRC/test/lib/agent.sh"

sqlite3 "$T/app.db" "CREATE TABLE t(a); INSERT INTO t VALUES (1), (2), (3);"
LEASE=3 SEC_INT=1
count_primaries() {
  local n=0 h
  for h in "$@"; do [ "$(host_role "$h" 2>/dev/null)" = primary ] && n=$((n + 1)); done
  echo $n
}
jobs_in_logs() { cat "$T"/*.agent.log | grep -c "started job process" || true; }

# ---- A: election and promotion in real time ----
start_dumperd dpdA --primary-interval 1 --secondary-interval $SEC_INT --lease $LEASE
for h in h1 h2 h3; do start_host $h --database "sqlite://$T/app.db"; done
wait_until 20 "three registered agents" sh -c "[ \$(\"$DUMPERD\" agents shop --json --data '$DPD_DATA' | jq length) = 3 ]"
wait_until 20 "one primary" sh -c "for h in ${HOST_PORT[h1]} ${HOST_PORT[h2]} ${HOST_PORT[h3]}; do curl -sf http://127.0.0.1:\$h/status; done | grep -c '\"role\":\"primary\"' | grep -qx 1"
for i in $(seq 10); do
  n=$(count_primaries h1 h2 h3)
  [ "$n" = 1 ] || fail "sample $i: $n primaries"
  [ "$(dpd agents shop --json | jq '[.[] | select(.role == "primary")] | length')" = 1 ] || fail "dumperd lists more than one primary"
  sleep 0.3
done
P=
for h in h1 h2 h3; do [ "$(host_role $h)" = primary ] && P=$h; done
note "primary: $P (pid ${HOST_PID[$P]})"
kill -9 "${HOST_PID[$P]}"
t0=$(date +%s.%N)
LIVE=()
for h in h1 h2 h3; do [ "$h" != "$P" ] && LIVE+=("$h"); done
wait_until 30 "a secondary is promoted" sh -c "for h in ${HOST_PORT[${LIVE[0]}]} ${HOST_PORT[${LIVE[1]}]}; do curl -sf http://127.0.0.1:\$h/status; done | grep -q '\"role\":\"primary\"'"
t1=$(date +%s.%N)
took=$(echo "$t1 - $t0" | bc)
limit=$((LEASE + SEC_INT + 3))
note "promotion after ${took}s (lease ${LEASE}s, secondary interval ${SEC_INT}s)"
[ "$(echo "$took <= $limit" | bc)" = 1 ] || fail "promotion took ${took}s, more than ${limit}s"
[ "$(count_primaries "${LIVE[@]}")" = 1 ] || fail "not exactly one primary after promotion"
before=$(jobs_in_logs)
dpd backup now shop >/dev/null
wait_until 30 "the backup after failover is good" sh -c "[ \$(\"$DUMPERD\" backups shop --json --data '$DPD_DATA' | jq '[.[] | select(.status==\"good\")] | length') = 1 ]"
sleep 2
[ "$(( $(jobs_in_logs) - before ))" = 1 ] || fail "the backup after failover ran $(( $(jobs_in_logs) - before )) times"
[ "$(dpd backups shop --json | jq length)" = 1 ] || fail "more than one backup in the catalog"
for h in "${LIVE[@]}"; do kill -9 "${HOST_PID[$h]}"; done
kill "$DPD_PID"

# ---- B: many scheduled slots, exactly once each, primary killed half way ----
EPOCH=$(date -u -d 2026-11-26T00:30:00Z +%s)
rm -f "$T"/*.agent.log
start_dumperd dpdB --primary-interval 1 --secondary-interval $SEC_INT --lease $LEASE --test-clock "$EPOCH"
for h in b1 b2 b3; do start_host $h --database "sqlite://$T/app.db"; done
wait_until 20 "three registered agents" sh -c "[ \$(\"$DUMPERD\" agents shop --json --data '$DPD_DATA' | jq length) = 3 ]"
dpd schedule set shop --cron "0 * * * *" --tz UTC >/dev/null
clock() { curl -sf -X POST -H "Authorization: Bearer $APP_KEY" -d "{\"now\": $1}" "$DPD_URL/api/v1/test/clock" >/dev/null ||
  fail "test clock"; }
clock "$EPOCH"
ROUNDS=8 LIVEB=(b1 b2 b3)
for r in $(seq 1 $ROUNDS); do
  clock $((EPOCH + r * 3600))
  wait_until 30 "slot $r backed up" sh -c "[ \$(\"$DUMPERD\" backups shop --json --data '$DPD_DATA' | jq '[.[] | select(.status==\"good\")] | length') -ge $r ]"
  if [ "$r" = 4 ]; then
    # A host's own /status lags up to one poll behind dumperd: each jump of the test clock lapses
    # the lease, so the next agent to poll is promoted while the old primary, until its next poll,
    # still reports "primary". Wait until the hosts agree on exactly one, then kill that one.
    for _ in $(seq 1 75); do [ "$(count_primaries "${LIVEB[@]}")" = 1 ] && break; sleep 0.2; done
    [ "$(count_primaries "${LIVEB[@]}")" = 1 ] || fail "the hosts do not agree on one primary"
    for h in "${LIVEB[@]}"; do
      if [ "$(host_role $h)" = primary ]; then kill -9 "${HOST_PID[$h]}"; note "round $r: killed primary $h"; K=$h; break; fi
    done
    [ -n "${K:-}" ] || fail "no primary to kill"
    NL=(); for h in "${LIVEB[@]}"; do [ "$h" != "$K" ] && NL+=("$h"); done; LIVEB=("${NL[@]}")
  fi
done
sleep 3 # late duplicates would show up here
good=$(dpd backups shop --json | jq '[.[] | select(.status=="good")] | length')
all=$(dpd backups shop --json | jq length)
runs=$(jobs_in_logs)
[ "$good" = $ROUNDS ] || fail "expected $ROUNDS good backups, got $good"
[ "$all" = $ROUNDS ] || fail "expected $ROUNDS backups in the catalog, got $all"
[ "$runs" = $ROUNDS ] || fail "expected $ROUNDS job processes, got $runs"
# (the last clock jump lapsed the lease: the hosts agree on one primary again after their next polls)
one_primary() { [ "$(count_primaries "${LIVEB[@]}")" = 1 ]; }
wait_until 30 "exactly one primary at the end" one_primary
note "ok: $ROUNDS slots -> $runs job runs, $good good backups; promotion in ${took}s"
