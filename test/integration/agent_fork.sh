#!/usr/bin/env bash
# agent_fork.sh - a unicorn-style host: the master starts the agent, then forks workers that serve
# HTTP. Only the master's agent registers; workers see no agent (status: not running) and serve
# requests normally; the master's agent keeps working (a manual backup becomes good); the master,
# which reaps any child with waitpid(-1) like unicorn, never sees the agent's job processes.
. "$DUMPER_SRC/test/lib/common.sh"
. "$DUMPER_SRC/test/lib/agent.sh"

sqlite3 "$T/app.db" "CREATE TABLE t(a); INSERT INTO t VALUES (1), (2), (3);"
start_dumperd dpd --primary-interval 1 --secondary-interval 2 --lease 3
start_host master --database "sqlite://$T/app.db" --workers 3
MP=${HOST_PID[master]}
wait_until 20 "the master's agent registers" sh -c "[ \$(\"$DUMPERD\" agents shop --json --data '$DPD_DATA' | jq length) -ge 1 ]"
sleep 3 # workers would have registered by now if they ran an agent
dpd agents shop --json > "$T/agents.json"
[ "$(jq length "$T/agents.json")" = 1 ] || fail "expected one registered agent, got $(jq length "$T/agents.json")"
[ "$(jq '.[0].pid' "$T/agents.json")" = "$MP" ] || fail "the registered agent is not the master's"
[ "$(jq -r '.[0].role' "$T/agents.json")" = primary ] || fail "the master's agent is not primary"

# workers answer, and none runs an agent
for i in $(seq 60); do host_status master; done > "$T/statuses"
[ "$(wc -l <"$T/statuses")" = 60 ] || fail "workers did not answer every request"
jq -e 'select(.running != 0)' "$T/statuses" >/dev/null && fail "a worker reports a running agent"
[ "$(jq .pid "$T/statuses" | sort -u | grep -vc "^$MP\$")" -ge 2 ] || fail "expected at least two workers answering"
jq -e "select(.pid == $MP)" "$T/statuses" >/dev/null && fail "the master answered a request"
for i in $(seq 20); do curl -sf "http://127.0.0.1:${HOST_PORT[master]}/" | grep -qx ok || fail "request $i failed"; done

WORKERS=$(jq .pid "$T/statuses" | sort -u)
AG_PIDS+=($WORKERS) # killed at the end too, whatever happens to the master
# worker threads: one per worker process (the agent's thread lives in the master only)
for w in $(jq .pid "$T/statuses" | sort -u); do
  [ "$(ls /proc/$w/task | wc -l)" = 1 ] || fail "worker $w has $(ls /proc/$w/task | wc -l) threads"
done
[ "$(ls /proc/$MP/task | wc -l)" -ge 2 ] || fail "the master has no agent thread"

# the master's agent still works after the fork
for i in 1 2 3; do
  dpd backup now shop >/dev/null
  wait_until 30 "backup $i is good" sh -c "[ \$(\"$DUMPERD\" backups shop --json --data '$DPD_DATA' | jq '[.[] | select(.status==\"good\")] | length') = $i ]"
done
grep "unknown child" "$T/master.host.log" && fail "the master reaped a job process"
kill -TERM "$MP"
rc=0; wait "$MP" || rc=$?
[ "$rc" = 0 ] || { cat "$T/master.host.log" >&2; fail "master exited with $rc after SIGTERM"; }
note "ok: one agent (master $MP), $(jq .pid "$T/statuses" | sort -u | wc -l) workers served, 3 backups good"
