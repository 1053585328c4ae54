#!/usr/bin/env bash
# agent_priority.sh - issue 13 item 1 and 3 with real dumperd: the agent's job processes run politely, as read
# from the real running job process (/proc/PID/stat's nice, the kernel's I/O priority via `ionice -p`):
#   1. by default nice 10 and I/O best-effort level 7 (the example host embedding the agent, no settings);
#   2. with the app's policy from dumperd (`dumperd app set --nice 15 --ionice idle`);
#   3. with the agent's own options (`dumper agent --nice 5 --ionice best-effort:3`), which win over the app's.
# The app's `--limit-rate` reaches the job through the job spec: a backup of ~192 KiB of random bytes at
# 64 KiB/s takes at least two seconds (and lives long enough to be inspected).
. "$DUMPER_SRC/test/lib/common.sh"
. "$DUMPER_SRC/test/lib/agent.sh"
command -v ionice >/dev/null || { echo "skip: no ionice (util-linux)" >&2; exit 77; }
[ "$(ionice -p $$ 2>/dev/null)" ] || { echo "skip: ionice cannot read I/O priorities here" >&2; exit 77; }
"$PY" - "$T/app.db" <<'PY'
import os, sqlite3, sys
c = sqlite3.connect(sys.argv[1]); c.execute("CREATE TABLE b(id INTEGER PRIMARY KEY, x BLOB)")
c.executemany("INSERT INTO b(x) VALUES (?)", [(os.urandom(1024),) for _ in range(192)]); c.commit()
PY
start_dumperd dpd --primary-interval 1 --secondary-interval 2 --lease 3
dpd app set shop --limit-rate 64K >/dev/null 2>&1 || fail "app set --limit-rate"
[ "$(dpd app set shop --json | jq .limit_rate)" = 65536 ] || fail "limit rate not stored"
expect_fail 2 "a bad --nice" dpd app set shop --nice 20
grep -q "invalid --nice '20' (0 to 19, or unset)" "$T/err" || fail "bad nice: $(cat "$T/err")"
expect_fail 2 "a realtime --ionice" dpd app set shop --ionice rt:0
grep -q "invalid I/O priority 'rt:0'" "$T/err" || fail "bad ionice: $(cat "$T/err")"

# prio N: the nice and I/O priority of the running job process of the Nth backup, once it runs
prio() {
  local pid=""
  dpd backup now shop >/dev/null || fail "backup now"
  for _ in $(seq 150); do
    pid=$(job_pids | head -n1)
    [ -n "$pid" ] && break
    sleep 0.1
  done
  [ -n "$pid" ] || fail "no job process seen for backup $1"
  local nice io
  nice=$(awk '{print $19}' "/proc/$pid/stat") || fail "job process $pid vanished (the limit rate did not hold it)"
  io=$(ionice -p "$pid") || fail "ionice -p $pid"
  # the job's own session is its own autogroup where the kernel has them: the group is niced too
  if [ -r "/proc/$pid/autogroup" ] && [ "$(cat /proc/sys/kernel/sched_autogroup_enabled 2>/dev/null)" = 1 ]; then
    local ag
    ag=$(sed -n 's/.* nice \(-*[0-9]*\)$/\1/p' "/proc/$pid/autogroup")
    [ "$ag" = "$nice" ] || fail "job process $pid: autogroup $(cat "/proc/$pid/autogroup"), expected nice $nice"
  fi
  wait_until 30 "backup $1 is good" sh -c "[ \$(\"$DUMPERD\" backups shop --json --data '$DPD_DATA' | jq '[.[] | select(.status==\"good\")] | length') = $1 ]"
  echo "$nice/$io"
}

start_host web --database "sqlite://$T/app.db"
wait_until 20 "primary" sh -c "curl -sf http://127.0.0.1:${HOST_PORT[web]}/status | jq -e '.role == \"primary\"'"
got=$(prio 1)
[ "$got" = "10/best-effort: prio 7" ] || fail "default job priority: $got, expected nice 10 and I/O best-effort 7"
ms=$(dpd backups shop --json | jq '.[0].duration_ms')
size=$(dpd backups shop --json | jq '.[0].size')
[ "$size" -gt $((150 * 1024)) ] || fail "the backup is only $size bytes: too small to time"
[ "$ms" -ge $((size * 1000 / 65536 * 8 / 10)) ] || fail "limit rate not applied: $size bytes in $ms ms (64 KiB/s)"
grep -q "started job process [0-9]* (nice 10, I/O best-effort:7)" "$T/web.agent.log" || fail "agent log lacks the priority"

dpd app set shop --nice 15 --ionice idle >/dev/null 2>&1 || fail "app set --nice --ionice"
got=$(prio 2)
[ "$got" = "15/idle" ] || fail "the app's job priority: $got, expected 15/idle"
kill_ours TERM "${HOST_PID[web]}"
wait "${HOST_PID[web]}" 2>/dev/null || true

expect_fail 2 "dumper agent --nice 0" "$DUMPER" agent --nice 0 --database "sqlite://$T/app.db"
grep -q "invalid --nice '0' (1 to 19, or keep)" "$T/err" || fail "agent --nice 0: $(cat "$T/err")"
(cd "$T" && DUMPER_APP_KEY=$APP_KEY exec "$DUMPER" agent --api "$DPD_URL" --database "sqlite://$T/app.db" \
   --nice 5 --ionice best-effort:3 --log "$T/standalone.agent.log" </dev/null >"$T/standalone.out" 2>&1) &
AG_PIDS+=("$!")
wait_until 30 "the standalone agent is primary" sh -c "[ \"\$(\"$DUMPERD\" agents shop --json --data '$DPD_DATA' | jq -r '[.[] | select(.role == \"primary\")][0].dispatcher')\" = dumper-agent ]"
got=$(prio 3)
[ "$got" = "5/best-effort: prio 3" ] || fail "the agent's job priority: $got, expected 5/best-effort: prio 3"
note "ok: job processes at nice 10/best-effort 7 by default, the app's 15/idle from dumperd, the agent's 5/be:3 winning; limit rate from dumperd applied ($size bytes in $ms ms)"
