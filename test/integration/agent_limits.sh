#!/usr/bin/env bash
# agent_limits.sh - max_filesize from dumperd is enforced by the job process while streaming: a
# backup larger than the limit fails with code too_large in the catalog (no good backup, no file),
# after at most the limit (plus one part) was sent; a database that fits still backs up.
. "$DUMPER_SRC/test/lib/common.sh"
. "$DUMPER_SRC/test/lib/agent.sh"

# ~2 MB of incompressible data
"$PY" - "$T/big.db" <<'PY'
import os, sqlite3, sys
c = sqlite3.connect(sys.argv[1]); c.execute("CREATE TABLE b(x BLOB)")
c.executemany("INSERT INTO b VALUES (?)", [(os.urandom(1000),) for _ in range(2000)]); c.commit()
PY
sqlite3 "$T/small.db" "CREATE TABLE t(a); INSERT INTO t VALUES (1);"
start_dumperd dpd --primary-interval 1 --secondary-interval 2 --lease 3 --max-filesize 65536
start_host web --database "sqlite://$T/big.db" --key big --database "sqlite://$T/small.db" --key small
wait_until 20 "primary" sh -c "curl -sf http://127.0.0.1:${HOST_PORT[web]}/status | jq -e '.role == \"primary\"'"
dpd backup now shop --database small >/dev/null
wait_until 30 "the small backup is good" sh -c "[ \$(\"$DUMPERD\" backups shop --json --data '$DPD_DATA' | jq '[.[] | select(.status==\"good\")] | length') = 1 ]"
dpd backup now shop --database big >/dev/null
# too_large is a failure no retry can fix: dumperd fails the job at once (no second attempt)
wait_until 120 "the big backup fails" sh -c "\"$DUMPERD\" backups shop --json --data '$DPD_DATA' | jq -e '[.[] | select(.database_key==\"big\")] | length >= 1 and all(.status != \"running\")'"
sleep 3 # three primary poll intervals: a retry, if dumperd made one, would have been handed out by now
dpd backups shop --json > "$T/catalog.json"
[ "$(jq '[.[] | select(.database_key=="big")] | length' "$T/catalog.json")" = 1 ] || fail "expected exactly 1 attempt of the big backup (too_large is not retried)"
jq -e '[.[] | select(.database_key=="big" and .status=="good")] | length == 0' "$T/catalog.json" >/dev/null || fail "a too-large backup became good"
jq -e '[.[] | select(.database_key=="big")] | all(.status == "failed" and .error_code == "too_large")' "$T/catalog.json" >/dev/null ||
  { cat "$T/catalog.json" >&2; fail "expected error code too_large"; }
# the job process logs its error after reporting the failure to dumperd: wait for the line
wait_until 20 "the size-limit line in the log" grep -q "exceeds the size limit" "$T/web.agent.log"
ls "$DPD_DATA"/backups | grep -q big && fail "a file of the failed backup is left in storage"
note "ok: max_filesize enforced while streaming (too_large), small backup good"
