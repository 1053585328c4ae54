#!/usr/bin/env bash
# bench/agent_cost.sh [SECONDS] - what the embedded agent costs its host process.
#
# Runs the example host (examples/host.c) twice in the same run: without the agent (baseline) and
# with it, polling a real dumperd. The poll interval is shortened to 1 s (the agent's floor) so that
# SECONDS of measurement hold ~SECONDS polls; CPU per poll is then scaled to a day at the default
# intervals (primary 300 s, primary at the 60 s minimum, secondary 3600 s). Reports:
#   - RSS of the host with and without the agent (after warm-up and again at the end: no growth)
#   - threads added
#   - CPU (user+sys of every thread, from /proc/PID/stat) per poll and per day
# Needs a release build in build/ (cmake --build build). Targets: RSS delta < 2 MiB, CPU < 1 s/day.
# AGENT_BENCH_TLS=1 runs dumperd over https (self-signed certificate, verified through --ca-file).
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-120}
TLS=${AGENT_BENCH_TLS:-0} # 1: dumperd over https with a self-signed certificate
B=${DUMPER_BIN:-$PWD/build/bin}
W=$(mktemp -d /tmp/dumper-bench-agent.XXXXXX)
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; rm -rf "$W"' EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
waitport() { for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.1; done; return 1; }
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
threads() { awk '/^Threads/ {print $2}' "/proc/$1/status"; }
# CPU time in ns of every live thread (schedstat: ns resolution; /proc/PID/stat has 10 ms ticks)
cpu_ns() { cat /proc/"$1"/task/*/schedstat | awk '{s += $1} END {printf "%d\n", s}'; }

sqlite3 "$W/app.db" "CREATE TABLE t(a); INSERT INTO t VALUES (1);"
DP=$(port)
KEY=$("$B/dumperd" app create bench --data "$W/d" 2>/dev/null)
SCHEME=http TLSARGS=() CAARGS=()
if [ "$TLS" = 1 ]; then
  openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
    -keyout "$W/key.pem" -out "$W/cert.pem" >/dev/null 2>&1
  SCHEME=https TLSARGS=(--tls-cert "$W/cert.pem" --tls-key "$W/key.pem") CAARGS=(--ca-file "$W/cert.pem")
fi
"$B/dumperd" serve --data "$W/d" --listen "127.0.0.1:$DP" --primary-interval 1 --secondary-interval 2 --lease 3 \
  "${TLSARGS[@]}" </dev/null >"$W/dumperd.log" 2>&1 &
PIDS+=($!)
waitport "$DP"

P0=$(port); P1=$(port)
"$B/dumper-example-host" --port "$P0" --no-agent </dev/null >"$W/base.log" 2>&1 &
BASE=$!; PIDS+=($BASE)
DUMPER_APP_KEY=$KEY "$B/dumper-example-host" --port "$P1" --api "$SCHEME://127.0.0.1:$DP" --database "sqlite://$W/app.db" \
  --dumper "$B/dumper" --log "$W/agent.log" --debug "${CAARGS[@]}" </dev/null >"$W/host.log" 2>&1 &
HOST=$!; PIDS+=($HOST)
waitport "$P0"; waitport "$P1"
sleep 5 # registration and first polls: libcurl and its TLS stack are initialised
rss_base0=$(rss_kib $BASE) rss_agent0=$(rss_kib $HOST)
polls0=$(grep -c "poll:" "$W/agent.log" || true)
cpu0=$(cpu_ns $HOST) cpub0=$(cpu_ns $BASE)
sleep "$SECS"
cpu1=$(cpu_ns $HOST) cpub1=$(cpu_ns $BASE)
polls1=$(grep -c "poll:" "$W/agent.log" || true)
rss_base1=$(rss_kib $BASE) rss_agent1=$(rss_kib $HOST)
thr_base=$(threads $BASE) thr_agent=$(threads $HOST)
polls=$((polls1 - polls0))
cpu_s=$(echo "scale=6; ($cpu1 - $cpu0) / 1000000000" | bc)
base_cpu_s=$(echo "scale=6; ($cpub1 - $cpub0) / 1000000000" | bc)
per_poll_ms=$(echo "scale=6; $cpu_s * 1000 / $polls" | bc)
day300=$(echo "scale=9; $cpu_s / $polls * 86400 / 300" | bc)
day60=$(echo "scale=9; $cpu_s / $polls * 86400 / 60" | bc)
day3600=$(echo "scale=9; $cpu_s / $polls * 86400 / 3600" | bc)
cat <<OUT
agent cost ($(date -u +%FT%TZ), $(nproc) cores, $(uname -r), ${SECS}s, $polls polls at 1 s, $SCHEME)
RSS without agent:      $rss_base0 KiB (end: $rss_base1 KiB)
RSS with agent:         $rss_agent0 KiB (end: $rss_agent1 KiB)
RSS delta:              $((rss_agent1 - rss_base1)) KiB   (target < 2048 KiB)
threads:                $thr_base without, $thr_agent with (+$((thr_agent - thr_base)))
CPU over ${SECS}s:      ${cpu_s}s with agent, ${base_cpu_s}s baseline (idle host)
CPU per poll:           ${per_poll_ms} ms
CPU per day, primary at 300 s (default): ${day300} s   (target < 1 s)
CPU per day, primary at 60 s (minimum):  ${day60} s
CPU per day, secondary at 3600 s:        ${day3600} s
OUT
