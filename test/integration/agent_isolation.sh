#!/usr/bin/env bash
# agent_isolation.sh - the job process is isolated from its host and outlives it:
#   - during a backup no /proc/*/cmdline holds the database password;
#   - the job process holds none of the host's sockets (its listening socket included) and runs in
#     its own session, not as a child of the host;
#   - kill -9 of the host in the middle of the backup: the backup still completes, commits as good
#     in dumperd's catalog, and restores to equal contents.
. "$DUMPER_SRC/test/lib/common.sh"
. "$DUMPER_SRC/test/lib/agent.sh"
. "$DUMPER_SRC/test/lib/sql.sh"
need_service pg

DB=agent_iso_$$
pg_fresh "$DB"
# large enough that the backup runs for a few seconds
pgq "$DB" -c "CREATE TABLE big(id bigint PRIMARY KEY, a text, b text);
              INSERT INTO big SELECT g, md5(g::text), md5((g * 7)::text) FROM generate_series(1, 1500000) g;"

# a role with a password unique to this run, so the /proc scan cannot match another test's processes
SECRET="iso-secret-$$-$RANDOM$RANDOM"
ROLE=agent_iso_role_$$
pgq postgres -c "SET client_min_messages = warning" -c "DROP ROLE IF EXISTS $ROLE" -c "CREATE ROLE $ROLE LOGIN SUPERUSER PASSWORD '$SECRET'"
URL="postgres://$ROLE:$SECRET@$PGH:$PGP/$DB"

start_dumperd dpd --primary-interval 1 --secondary-interval 2 --lease 5
start_host web --database "$URL"
HP=${HOST_PID[web]}
wait_until 20 "the agent registers as primary" sh -c "[ \"\$(curl -sf http://127.0.0.1:${HOST_PORT[web]}/status | jq -r .role)\" = primary ]"
# the host's sockets (its listening socket and the agent's connection), by inode
# (`|| true`: a descriptor can close between the glob and readlink, e.g. the agent's poll connection;
# a failed last readlink would fail the pipeline under pipefail and end the test)
host_socks=$(for f in /proc/$HP/fd/*; do readlink "$f" || true; done 2>/dev/null | grep '^socket:' | sort -u || true)
[ -n "$host_socks" ] || fail "could not read the host's sockets"

dpd backup now shop >/dev/null
JP=
for _ in $(seq 600); do JP=$(job_pids | head -n1 || true); [ -n "$JP" ] && break; sleep 0.05; done
[ -n "$JP" ] || fail "no job process appeared"
# the job's descriptors: none of the host's sockets; a new session; not the host's child
job_fds=$(for f in /proc/$JP/fd/*; do readlink "$f" || true; done 2>/dev/null | sort -u)
[ -n "$job_fds" ] || fail "could not read the job's descriptors"
for s in $host_socks; do
  echo "$job_fds" | grep -qxF "$s" && fail "job process holds the host's $s"
done
sid=$(awk '{print $6}' "/proc/$JP/stat")
[ "$sid" != "$(awk '{print $6}' /proc/$HP/stat)" ] || fail "job process shares the host's session"
ppid=$(awk '{print $4}' "/proc/$JP/stat")
[ "$ppid" != "$HP" ] || fail "job process is a child of the host"
note "job $JP: session $sid, parent $ppid, descriptors: $(echo $job_fds)"
kill -9 "$HP"
# reap it: SIGKILL is not instant, and the host's own argv holds the URL with the password (the scan
# below must not find the host still dying)
wait "$HP" 2>/dev/null || true
kill -0 "$JP" 2>/dev/null || fail "the job finished before the host was killed: make the database bigger"
note "job process $JP running; host $HP killed with SIGKILL"

# no password in any command line, scanned repeatedly while the job runs (pg_dump included)
# (one grep over every argv per scan, the secret in a pattern file so that grep's own argv lacks it)
printf '%s\n' "$SECRET" >"$T/pattern"
scans=0
while kill -0 "$JP" 2>/dev/null && [ $scans -lt 20 ]; do
  hits=$(grep -laF -f "$T/pattern" /proc/[0-9]*/cmdline 2>/dev/null || true)
  [ -z "$hits" ] || fail "password in $(echo $hits): $(tr '\0' ' ' <"$(echo "$hits" | head -n1)" 2>/dev/null || true)"
  scans=$((scans + 1))
  sleep 0.1
done
note "$scans scans of /proc/*/cmdline: no password"

wait_until 180 "the backup commits as good after the host died" sh -c "[ \$(\"$DUMPERD\" backups shop --json --data '$DPD_DATA' | jq '[.[] | select(.status==\"good\")] | length') = 1 ]"
f=$(ls "$DPD_DATA"/backups/*.zst)
pg_fresh "${DB}_r"
quiet_check "restore" "$DUMPER" restore "$f" "$(pg_url "${DB}_r")"
[ "$(pg_fingerprint "${DB}_r")" = "$(pg_fingerprint "$DB")" ] || fail "restored database differs"
grep -qF -- "$SECRET" "$T"/*.log && fail "a password appears in a log"
pgq postgres -c "DROP DATABASE \"$DB\" WITH (FORCE)" -c "DROP DATABASE \"${DB}_r\" WITH (FORCE)" -c "DROP ROLE $ROLE"
note "ok: backup survived kill -9 of its host, committed good, restored equal"
