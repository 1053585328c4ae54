#!/usr/bin/env bash
# dumperd_service.sh - running dumperd as a service (docs/operations.md): `serve --config FILE` takes every
# setting from the file and flags override it, a bad file is one error line naming file and line (never a
# value); `backup-state OUT` copies the SQLite state while serve runs and writes (a second process creates apps
# meanwhile), the copy restored into a fresh data dir serves the same apps and keys; the systemd unit passes
# `systemd-analyze verify` and `security --offline` (where systemd-analyze exists).
. "$DUMPER_SRC/test/lib/common.sh"
. "$DUMPER_SRC/test/lib/agent.sh"
PIDS=()
trap 'kill_ours TERM "${PIDS[@]}"; _cleanup' EXIT

# --- the config file
D=$T/conf
mkdir -p "$D"
KEY=$("$DUMPERD" app create shop --data "$D" 2>/dev/null)
printf 'secret-token-0123456789abcdef\n' >"$T/metrics-token"
cat >"$T/dumperd.conf" <<CONF
# test configuration
data = $D
listen = 127.0.0.1:0
primary-interval = 7
lease = 10
metrics-token-file = $T/metrics-token
threads = 2
CONF
"$DUMPERD" serve --config "$T/dumperd.conf" --primary-interval 6 </dev/null >"$T/conf.log" 2>&1 &
PIDS+=($!)
port=$(dumperd_port "$T/conf.log" "$!") || { cat "$T/conf.log" >&2; fail "serve --config did not start"; }
url=http://127.0.0.1:$port
# lease from the file (10 s, not the default 900); the flag's primary interval (6 s) overrides the file's (7 s),
# else serve would refuse a lease under 1.5 x the interval (checked below)
curl -sf -H "Authorization: Bearer $KEY" -H 'X-Dumper-Api: 1' -H 'Content-Type: application/json' \
  -d '{"hostname":"h","pid":1,"environment":"production","databases":[]}' "$url/api/v1/agents/register" >"$T/reg.json" \
  || fail "register with the key of the config file's data dir"
jq -e '.lease == 10' "$T/reg.json" >/dev/null || fail "lease: the file overrides the default: $(cat "$T/reg.json")"
# metrics-token-file from the file: /metrics needs the token
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer wrong-token-0123456789" "$url/metrics")
[ "$code" = 401 ] || fail "/metrics with a wrong token: $code (the file's metrics token not applied?)"
curl -sf -H "Authorization: Bearer secret-token-0123456789abcdef" "$url/metrics" >/dev/null || fail "/metrics with the token"
kill_ours TERM "${PIDS[@]}"
expect_fail 2 "the file's interval without the flag" "$DUMPERD" serve --config "$T/dumperd.conf"
grep -qxF "dumperd: --lease must be at least 1.5 x --primary-interval" "$T/err" || fail "lease check: $(cat "$T/err")"

# bad files: exit 2, one line naming the file and line; a value is never quoted
printf 'listen = 127.0.0.1:0\nalert-webhook = https://hooks.example/T0/SECRETPART\nthreads = many\n' >"$T/bad1.conf"
expect_fail 2 "bad value" "$DUMPERD" serve --config "$T/bad1.conf" --data "$D"
grep -qxF "dumperd: config file '$T/bad1.conf': line 3: invalid --threads 'many' (dumperd --help)" "$T/err" \
  || fail "bad value line: $(cat "$T/err")"
printf 'listen = a\nlisten = b\n' >"$T/bad2.conf"
expect_fail 2 "duplicate key" "$DUMPERD" serve --config "$T/bad2.conf" --data "$D"
grep -qxF "dumperd: config file '$T/bad2.conf': line 2: 'listen' given twice (first on line 1) (dumperd --help)" "$T/err" \
  || fail "duplicate line: $(cat "$T/err")"
printf 'json = 1\n' >"$T/bad3.conf"
expect_fail 2 "not a serve key" "$DUMPERD" app list --config "$T/bad3.conf" --data "$D"
grep -qxF "dumperd: config file '$T/bad3.conf': line 1: unknown key 'json' (dumperd --help)" "$T/err" || fail "unknown key: $(cat "$T/err")"
printf 'store = "postgres://u:hunter2@h/d\n' >"$T/bad4.conf"
expect_fail 2 "unterminated quote" "$DUMPERD" serve --config "$T/bad4.conf" --data "$D"
grep -q hunter2 "$T/err" && fail "a value was quoted in the error: $(cat "$T/err")"
expect_fail 2 "missing file" "$DUMPERD" serve --config "$T/none.conf" --data "$D"
grep -qxF "dumperd: unable to read config file '$T/none.conf': No such file or directory (dumperd --help)" "$T/err" \
  || fail "missing file: $(cat "$T/err")"
# other commands read the paths from the file too
printf 'data = %s\n' "$D" >"$T/paths.conf"
"$DUMPERD" app list --config "$T/paths.conf" | grep -q '^shop' || fail "app list --config did not find the data dir"

# --- backup-state while serve runs and writes
S=$T/state
mkdir -p "$S"
KEY=$("$DUMPERD" app create shop --data "$S" 2>/dev/null)
"$DUMPERD" serve --data "$S" --listen 127.0.0.1:0 </dev/null >"$T/state.log" 2>&1 &
SPID=$!
PIDS+=($SPID)
port=$(dumperd_port "$T/state.log" "$SPID") || { cat "$T/state.log" >&2; fail "serve did not start"; }
url=http://127.0.0.1:$port
( for i in $(seq 1 40); do "$DUMPERD" app create "w$i" --data "$S" >/dev/null 2>&1 || exit 1; done ) &
WPID=$!
PIDS+=($WPID)
for i in 1 2 3; do
  "$DUMPERD" backup-state "$T/copy$i.db" --data "$S" 2>"$T/bs.err" || fail "backup-state while serving: $(cat "$T/bs.err")"
  grep -qxF "state store copied to '$T/copy$i.db'" "$T/bs.err" || fail "backup-state message: $(cat "$T/bs.err")"
done
wait "$WPID" || fail "the concurrent writer failed"
[ "$(stat -c %a "$T/copy3.db")" = 600 ] || fail "the copy is not mode 0600"
ls "$T" | grep -q partial && fail "a partial file was left"
for i in 1 2 3; do
  [ "$(sqlite3 "$T/copy$i.db" 'PRAGMA integrity_check')" = ok ] || fail "copy $i is not intact"
done
expect_fail 6 "existing OUT" "$DUMPERD" backup-state "$T/copy1.db" --data "$S"
grep -qxF "dumperd: '$T/copy1.db' exists; backup-state never overwrites a file" "$T/err" || fail "exists: $(cat "$T/err")"
"$DUMPERD" backup-state "$T/final.db" --data "$S" 2>/dev/null || fail "final backup-state"
kill_ours TERM "$SPID"

# restore: the copy as the store of a fresh data dir; dumperd starts on it with the same apps and key
R=$T/restored
mkdir -p "$R"
cp "$T/final.db" "$R/dumperd.db"
[ "$("$DUMPERD" app list --data "$R" | wc -l)" = 41 ] || fail "restored store: $("$DUMPERD" app list --data "$R" | wc -l) apps, expected 41"
"$DUMPERD" serve --data "$R" --listen 127.0.0.1:0 </dev/null >"$T/restored.log" 2>&1 &
PIDS+=($!)
port=$(dumperd_port "$T/restored.log" "$!") || { cat "$T/restored.log" >&2; fail "serve on the restored state did not start"; }
curl -sf -H "Authorization: Bearer $KEY" -H 'X-Dumper-Api: 1' -H 'Content-Type: application/json' \
  -d '{"hostname":"h","pid":1,"environment":"production","databases":[]}' \
  "http://127.0.0.1:$port/api/v1/agents/register" >/dev/null || fail "the app key is refused by the restored dumperd"
kill_ours TERM "${PIDS[@]}"

# --- the systemd unit
UNIT=$DUMPER_SRC/dist/systemd/dumperd.service
for d in 'NoNewPrivileges=yes' 'ProtectSystem=strict' 'StateDirectory=dumperd' 'DynamicUser=yes' 'ProtectHome=yes' \
  'ExecStart=/usr/local/bin/dumperd serve --config /etc/dumperd.conf' 'CapabilityBoundingSet='; do
  grep -qxF "$d" "$UNIT" || fail "the unit lacks $d"
done
if command -v systemd-analyze >/dev/null; then
  sed "s#/usr/local/bin/dumperd#$DUMPERD#" "$UNIT" >"$T/dumperd.service"
  systemd-analyze verify "$T/dumperd.service" >"$T/verify.out" 2>&1 || { cat "$T/verify.out" >&2; fail "systemd-analyze verify"; }
  if grep -F "$T/dumperd.service" "$T/verify.out"; then fail "systemd-analyze verify warns about the unit"; fi
  systemd-analyze security --offline=true "$T/dumperd.service" >"$T/security.out" 2>&1 || true
  level=$(sed -n 's/.*Overall exposure level for dumperd.service: \([0-9.]*\).*/\1/p' "$T/security.out")
  [ -n "$level" ] || { cat "$T/security.out" >&2; fail "no exposure level"; }
  awk -v l="$level" 'BEGIN { exit !(l <= 2.0) }' || fail "exposure level $level above 2.0"
  note "systemd-analyze: verify clean, exposure $level"
else
  note "systemd-analyze not installed: unit verification skipped"
fi
# the example config is a valid config file with serve keys only
sed "s#/var/lib/dumperd#$T/example#" "$DUMPER_SRC/dist/dumperd.conf" >"$T/example.conf"
"$DUMPERD" app list --config "$T/example.conf" >/dev/null 2>"$T/ex.err" || fail "dist/dumperd.conf: $(cat "$T/ex.err")"
note ok
