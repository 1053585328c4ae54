#!/usr/bin/env bash
# dumperd_ops.sh - app key rotation, app delete and IPv6 listening against running dumperd servers on SQLite
# (test/dumperd/ops_test.py); then a real agent (the example host) whose key is rotated stops at its next
# poll with one clear log line while its host keeps serving.
. "$DUMPER_SRC/test/lib/common.sh"
. "$DUMPER_SRC/test/lib/agent.sh"
DUMPER_BIN=$DUMPER_BIN DUMPERD_TEST_STORE=sqlite "$PY" "$DUMPER_SRC/test/dumperd/ops_test.py" || fail "ops_test.py"

sqlite3 "$T/app.db" "CREATE TABLE t(a); INSERT INTO t VALUES (1);"
start_dumperd dpd --primary-interval 1 --secondary-interval 2 --lease 3
start_host web --database "sqlite://$T/app.db"
wait_until 30 "the agent becomes primary" sh -c "curl -sf http://127.0.0.1:${HOST_PORT[web]}/status | jq -e '.role == \"primary\"'"
new_key=$(dpd app rotate-key shop 2>"$T/rotate.err") || fail "rotate-key: $(cat "$T/rotate.err")"
[[ $new_key =~ ^dk_[0-9a-f]{64}$ ]] || fail "rotated key format"
wait_until 20 "the agent stops on the 401" sh -c "curl -sf http://127.0.0.1:${HOST_PORT[web]}/status | jq -e '.disabled == 1 and .running == 0'"
[ "$(grep -c "refused the app key" "$T/web.agent.log")" = 1 ] || fail "expected one 'refused the app key' line"
[ "$(grep -c "ERROR" "$T/web.agent.log")" = 1 ] || fail "expected exactly one error line: $(grep ERROR "$T/web.agent.log")"
curl -sf "http://127.0.0.1:${HOST_PORT[web]}/status" >/dev/null || fail "the host stopped serving"
# the same host with the new key: registers and is primary again
HOST_PID_OLD=${HOST_PID[web]}
APP_KEY=$new_key start_host web2 --database "sqlite://$T/app.db"
wait_until 30 "the new key's agent becomes primary" sh -c "curl -sf http://127.0.0.1:${HOST_PORT[web2]}/status | jq -e '.role == \"primary\"'"
grep -q "refused" "$T/web2.agent.log" && fail "the new key was refused"
grep -qE "dk_[0-9a-f]{64}" "$T"/*.log && fail "an app key appears in a log"
note "ok (old host pid $HOST_PID_OLD kept serving)"
