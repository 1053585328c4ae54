#!/usr/bin/env bash
# agent_register_errors.sh - what the agent logs (at its default level, no debug) when registration
# fails in ways other than a refused key: an HTTP 500 from dumperd, an HTML 404 and an HTML 200 from a
# web server that is not dumperd, nothing listening on the port, and a TLS certificate the agent does
# not trust. The servers are fake_api.py, a TEST DOUBLE of dumperd (the real dumperd never answers
# like this on purpose). Each agent retries several times (the servers count the attempts; backoff
# capped at 1 s); for each kind of failure it logs exactly one WARN line, with the exact message and a
# hint where dumperd is not what answers, and no ERROR line; an untrusted certificate does not stop
# the agent as a refused key would. Nothing claims "started" before registration: the first line
# says "agent starting" and no "registered" line comes while it fails. A change of failure is one
# more WARN line; success is one INFO "registered ... after N failed attempts" line; a poll failure
# after registration is one WARN and recovery one INFO line.
. "$DUMPER_SRC/test/lib/common.sh"
. "$DUMPER_SRC/test/lib/agent.sh"

sqlite3 "$T/app.db" "CREATE TABLE t(a); INSERT INTO t VALUES (1);"
APP_KEY=dk_fake_key_for_the_test_double
export DUMPER_AGENT_MAX_RETRY_MS=1000 # backoff cap: an attempt every 0.5-1 s
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=127.0.0.1 -days 1 \
  -keyout "$T/tls.key" -out "$T/tls.crt" >/dev/null 2>&1 || fail "openssl req failed"

declare -A URL
start_fake() { # start_fake NAME MODE [--tls]: fake API with its own state dir $T/fake-NAME
  local name=$1 mode=$2 port scheme=http
  port=$(free_port)
  mkdir -p "$T/fake-$name"
  if [ "${3:-}" = --tls ]; then
    scheme=https
    "$PY" "$DUMPER_SRC/test/lib/fake_api.py" "$port" "$T/fake-$name" --tls "$T/tls.crt" "$T/tls.key" </dev/null >>"$T/fake-$name.log" 2>&1 &
  else
    "$PY" "$DUMPER_SRC/test/lib/fake_api.py" "$port" "$T/fake-$name" </dev/null >>"$T/fake-$name.log" 2>&1 &
  fi
  AG_PIDS+=("$!")
  wait_port "$port" || fail "fake API $name did not start"
  URL[$name]="$scheme://127.0.0.1:$port"
  set_mode "$name" "$mode"
}
set_mode() { curl -sfk -X POST "${URL[$1]}/_mode/$2" >/dev/null || fail "fake API $1: mode $2"; }
attempts() { # attempts NAME: registration requests (TLS: connections) the fake API has seen
  local f="$T/fake-$1/requests.log" n
  [ -f "$f" ] || { echo 0; return; }
  if [ "$1" = tls ]; then n=$(grep -c "^TLS accept" "$f" || true); else n=$(grep -c "^POST /api/v1/agents/register " "$f" || true); fi
  echo "${n:-0}"
}
lines() { # lines NAME LEVEL: how many lines of that level the agent logged
  local n; n=$(grep -c "^[^ ]* \[[0-9]*\] $2 " "$T/$1.agent.log" || true); echo "${n:-0}"
}
RETRY='retrying in [0-9.]+ s, then with backoff up to 1 s \(logged again when the failure changes\)$'
# the exact WARN line of a failure: NAME then the message as an extended regex
expect_warn() { # expect_warn NAME N REGEX: exactly N WARN lines, the last one matching REGEX
  local got; got=$(lines "$1" WARN)
  [ "$got" = "$2" ] || { cat "$T/$1.agent.log" >&2; fail "$1: $got WARN lines, expected $2"; }
  grep " WARN " "$T/$1.agent.log" | tail -1 | grep -Eq " WARN  $3" ||
    { grep " WARN " "$T/$1.agent.log" >&2; fail "$1: the WARN line does not match: $3"; }
}
no_claims() { # the agent said it is starting, nothing about having started or registered, no error
  head -1 "$T/$1.agent.log" | grep -Eq " INFO  agent starting \(dumper [^,]+, api ${URL[$1]}, environment production, 1 database\)$" ||
    { cat "$T/$1.agent.log" >&2; fail "$1: the first line is not 'agent starting'"; }
  if grep -Ei "started|registered" "$T/$1.agent.log" >"$T/claims"; then cat "$T/claims" >&2; fail "$1: claims success before registration"; fi
  [ "$(lines "$1" ERROR)" = 0 ] || { cat "$T/$1.agent.log" >&2; fail "$1: an ERROR line"; }
}

start_fake e500 500
start_fake notfound notfound
start_fake html html
start_fake tls ok --tls
CLOSED=$(free_port) # nothing listens here (yet)
URL[closed]="http://127.0.0.1:$CLOSED"
URL[closed_dbg]=${URL[closed]}
for n in e500 notfound html tls closed; do
  DPD_URL=${URL[$n]} HOST_DEBUG=0 start_host "$n" --database "sqlite://$T/app.db"
done
# the same closed port with debug: shows that the retries happen (each a DEBUG line)
DPD_URL=${URL[closed]} start_host closed_dbg --database "sqlite://$T/app.db"

for n in e500 notfound html tls; do
  wait_until 40 "$n: 4 registration attempts" sh -c "[ \$(grep -c '^\(POST /api/v1/agents/register\|TLS accept\)' '$T/fake-$n/requests.log' 2>/dev/null || echo 0) -ge 4 ]"
done
wait_until 40 "closed port: 4 attempts" sh -c "[ \$(grep -c ' DEBUG .*Couldn.t connect to server; retrying in .* (attempt [0-9]*)\$' '$T/closed_dbg.agent.log') -ge 3 ]"
u=${URL[e500]}; expect_warn e500 1 "registration at $u failed: HTTP 500: database is locked; $RETRY"
u=${URL[notfound]}; expect_warn notfound 1 "registration at $u failed: HTTP 404 \(this is not dumperd's agent API: check the API base URL\); $RETRY"
expect_warn html 1 "invalid register answer from the control plane: not a JSON object \(this is not dumperd's agent API: check the API base URL\); $RETRY"
u=${URL[tls]}; expect_warn tls 1 "POST $u/api/v1/agents/register: SSL certificate problem: self.signed certificate \(the server's TLS certificate is not trusted: check the API base URL or give the agent a CA file\); $RETRY"
u=${URL[closed]}
for n in closed closed_dbg; do
  expect_warn "$n" 1 "POST $u/api/v1/agents/register: Failed to connect to 127.0.0.1 port $CLOSED after [0-9]+ ms: Couldn't connect to server; $RETRY"
done
for n in e500 notfound html tls closed closed_dbg; do no_claims "$n"; done
[ "$(host_status tls | jq -c '[.running, .disabled, .role]')" = '[1,0,"starting"]' ] ||
  fail "tls: an untrusted certificate stopped the agent: $(host_status tls)"
note "one WARN line per kind over $(attempts e500)/$(attempts notfound)/$(attempts html)/$(attempts tls) attempts (500/404/html/tls)"

# the failure changes: one more WARN line, again once over several attempts
before=$(attempts e500)
set_mode e500 notfound
wait_until 40 "e500: 4 more attempts" sh -c "[ \$(grep -c '^POST /api/v1/agents/register ' '$T/fake-e500/requests.log') -ge $((before + 4)) ]"
u=${URL[e500]}; expect_warn e500 2 "registration at $u failed: HTTP 404 \(this is not dumperd's agent API: check the API base URL\); $RETRY"

# dumperd answers: one INFO line, the role, and nothing more to warn about
set_mode e500 ok
set_mode notfound ok
mkdir -p "$T/fake-closed"
"$PY" "$DUMPER_SRC/test/lib/fake_api.py" "$CLOSED" "$T/fake-closed" </dev/null >>"$T/fake-closed.log" 2>&1 &
AG_PIDS+=("$!")
for n in e500 notfound closed closed_dbg; do
  wait_until 30 "$n: registered" sh -c "curl -sf http://127.0.0.1:${HOST_PORT[$n]}/status | jq -e '.role == \"primary\" and .last_error == 0'"
  u=${URL[$n]}
  [ "$(grep -cE " INFO  registered with $u as agent a_[0-9]+ \(primary\) after [0-9]+ failed attempts, next poll in 1\.0 s$" "$T/$n.agent.log")" = 1 ] ||
    { cat "$T/$n.agent.log" >&2; fail "$n: no single 'registered ... after N failed attempts' line"; }
  grep -q "agent started" "$T/$n.agent.log" && fail "$n: 'agent started' logged"
  [ "$(lines "$n" ERROR)" = 0 ] || fail "$n: an ERROR line"
done

# a poll that fails after registration: one WARN line, recovery one INFO line
set_mode e500 500
wait_until 40 "e500: 4 failed polls" sh -c "[ \$(grep -c '^POST /api/v1/agents/poll 500' '$T/fake-e500/requests.log') -ge 4 ]"
u=${URL[e500]}; expect_warn e500 3 "poll at $u failed: HTTP 500: database is locked; $RETRY"
set_mode e500 ok
wait_until 30 "e500: polls again" grep -q " INFO  control plane reachable again after [0-9]* failed attempts$" "$T/e500.agent.log"
[ "$(lines e500 WARN)" = 3 ] || fail "e500: more WARN lines after recovery"
note "ok"
