#!/usr/bin/env bash
# agent_standalone.sh - `dumper agent` (the agent as a foreground process, e.g. on a Redis host)
# against real dumperd and Redis: the app key comes from DUMPER_APP_KEY (not argv), a manual backup
# becomes good, SIGTERM stops it promptly with status 0; a wrong key exits 11 after one log line.
. "$DUMPER_SRC/test/lib/common.sh"
. "$DUMPER_SRC/test/lib/agent.sh"
need_service redis

PW=${DUMPER_TEST_PASSWORD:-dumper-test-pw}
RP=$DUMPER_TEST_REDIS_PORT
REDISCLI_AUTH=$PW redis-cli --no-auth-warning -p "$RP" -n 5 SET standalone yes >/dev/null
start_dumperd dpd --primary-interval 1 --secondary-interval 2 --lease 3
# the password travels in the environment, the key too: neither in argv
(cd "$T" && REDISCLI_AUTH=$PW DUMPER_APP_KEY=$APP_KEY exec "$DUMPER" agent --api "$DPD_URL" \
   --database "redis://127.0.0.1:$RP/5" --key cache --log "$T/standalone.agent.log" --debug \
   </dev/null >"$T/standalone.out" 2>&1) &
AP=$!
AG_PIDS+=("$AP")
wait_until 20 "the standalone agent registers" sh -c "[ \$(\"$DUMPERD\" agents shop --json --data '$DPD_DATA' | jq length) = 1 ]"
[ "$(dpd agents shop --json | jq -r '.[0].dispatcher')" = dumper-agent ] || fail "dispatcher not reported"
tr '\0' ' ' <"/proc/$AP/cmdline" | grep -q "$APP_KEY" && fail "app key in argv"
dpd backup now shop --database cache >/dev/null
wait_until 30 "the backup is good" sh -c "[ \$(\"$DUMPERD\" backups shop --json --data '$DPD_DATA' | jq '[.[] | select(.status==\"good\")] | length') = 1 ]"
t0=$(date +%s%N)
kill -TERM "$AP"
rc=0; wait "$AP" || rc=$?
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
[ "$rc" = 0 ] || fail "dumper agent exited $rc on SIGTERM"
[ "$ms" -lt 2000 ] || fail "dumper agent took ${ms} ms to stop"
grep -q "agent stopped" "$T/standalone.agent.log" || fail "no 'agent stopped' line"

# wrong key: exit 11 (DUMPER_EAUTH)
rc=0
DUMPER_APP_KEY=dk_wrong timeout 20 "$DUMPER" agent --api "$DPD_URL" --database "sqlite://$T/x.db" \
  --log "$T/wrong.agent.log" >/dev/null 2>"$T/wrong.err" || rc=$?
[ "$rc" = 11 ] || fail "wrong key: exit $rc, expected 11"
[ "$(grep -c ERROR "$T/wrong.agent.log")" = 1 ] || fail "wrong key: expected one error line in the log"
[ "$(wc -l <"$T/wrong.err")" = 1 ] || fail "wrong key: expected one line on stderr"
expect_fail 2 "missing key" env -u DUMPER_APP_KEY "$DUMPER" agent --api "$DPD_URL" --database "sqlite://$T/x.db"
note "ok: standalone agent backed up redis; stopped ${ms} ms after SIGTERM"
