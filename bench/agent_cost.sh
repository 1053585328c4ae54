#!/usr/bin/env bash
# bench/agent_cost.sh [SECONDS] [OLD_REF] - what the embedded agent costs its host process, new build
# vs an old one in the same run.
#
# Runs the example host (examples/host.c) of this build and of git OLD_REF (default main, exported
# and built by bench/build_ref.sh), each twice at the same time: without the agent (baseline) and
# with it, polling one real dumperd (this build's). The poll interval is shortened to 1 s (the
# agent's floor) so that SECONDS of measurement hold ~SECONDS polls; CPU per poll is then scaled to a
# day at the default intervals (primary 300 s, primary at the 60 s minimum, secondary 3600 s).
# Reports, per build:
#   - RSS of the host with and without the agent (after warm-up and again at the end: no growth)
#   - threads added
#   - CPU (user+sys of every thread, from /proc/PID/task/*/schedstat) per poll and per day
# Needs a release build in build/ (cmake --build build). Targets: RSS delta < 2 MiB, CPU < 1 s/day,
# and the new host's RSS with the agent not above the old one's.
# AGENT_BENCH_TLS=1 runs dumperd over https (self-signed certificate, verified through --ca-file).
# AGENT_BENCH_OLD_BIN=DIR uses an old build's bin directory instead of building OLD_REF.
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-120}
OLD_REF=${2:-main}
TLS=${AGENT_BENCH_TLS:-0} # 1: dumperd over https with a self-signed certificate
B=${DUMPER_BIN:-$PWD/build/bin}
if [ -n "${AGENT_BENCH_OLD_BIN:-}" ]; then
  OB=$AGENT_BENCH_OLD_BIN
else
  OB=$(dirname "$(bench/build_ref.sh "$OLD_REF" "/tmp/dumper-bench-ref-$(git rev-parse --short "$OLD_REF")")")/build/bin
fi
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
declare -A KEY # one app per build: both agents are primaries, polling every second
KEY[new]=$("$B/dumperd" app create bench-new --data "$W/d" 2>/dev/null)
KEY[old]=$("$B/dumperd" app create bench-old --data "$W/d" 2>/dev/null)
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

declare -A BASE HOST
for v in new old; do
  bin=$B
  [ "$v" = old ] && bin=$OB
  P0=$(port); P1=$(port)
  "$bin/dumper-example-host" --port "$P0" --no-agent </dev/null >"$W/base-$v.log" 2>&1 &
  BASE[$v]=$!; PIDS+=($!)
  DUMPER_APP_KEY=${KEY[$v]} "$bin/dumper-example-host" --port "$P1" --api "$SCHEME://127.0.0.1:$DP" \
    --database "sqlite://$W/app.db" --dumper "$bin/dumper" --log "$W/agent-$v.log" --debug "${CAARGS[@]}" \
    </dev/null >"$W/host-$v.log" 2>&1 &
  HOST[$v]=$!; PIDS+=($!)
  waitport "$P0"; waitport "$P1"
done
sleep 5 # registration and first polls: libcurl and its TLS stack are initialised
declare -A rss_b0 rss_a0 polls0 cpu0 cpub0 rss_b1 rss_a1 polls1 cpu1 cpub1
for v in new old; do
  rss_b0[$v]=$(rss_kib ${BASE[$v]}) rss_a0[$v]=$(rss_kib ${HOST[$v]})
  polls0[$v]=$(grep -c "poll:" "$W/agent-$v.log" || true)
  cpu0[$v]=$(cpu_ns ${HOST[$v]}) cpub0[$v]=$(cpu_ns ${BASE[$v]})
done
sleep "$SECS"
echo "agent cost ($(date -u +%FT%TZ), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), $(uname -r), ${SECS}s, polls at 1 s, $SCHEME)"
echo "old = $OLD_REF ($(git rev-parse --short "$OLD_REF"), $OB), new = $(git rev-parse --short HEAD)$(git diff --quiet HEAD || echo +changes) ($B)"
for v in new old; do
  cpu1=$(cpu_ns ${HOST[$v]}) cpub1=$(cpu_ns ${BASE[$v]})
  polls1=$(grep -c "poll:" "$W/agent-$v.log" || true)
  rss_base1=$(rss_kib ${BASE[$v]}) rss_agent1=$(rss_kib ${HOST[$v]})
  thr_base=$(threads ${BASE[$v]}) thr_agent=$(threads ${HOST[$v]})
  polls=$((polls1 - ${polls0[$v]}))
  cpu_s=$(echo "scale=6; ($cpu1 - ${cpu0[$v]}) / 1000000000" | bc)
  base_cpu_s=$(echo "scale=6; ($cpub1 - ${cpub0[$v]}) / 1000000000" | bc)
  per_poll_ms=$(echo "scale=6; $cpu_s * 1000 / $polls" | bc)
  day300=$(echo "scale=9; $cpu_s / $polls * 86400 / 300" | bc)
  day60=$(echo "scale=9; $cpu_s / $polls * 86400 / 60" | bc)
  day3600=$(echo "scale=9; $cpu_s / $polls * 86400 / 3600" | bc)
  cat <<OUT
--- $v build: $polls polls
RSS without agent:      ${rss_b0[$v]} KiB (end: $rss_base1 KiB)
RSS with agent:         ${rss_a0[$v]} KiB (end: $rss_agent1 KiB)
RSS delta:              $((rss_agent1 - rss_base1)) KiB   (target < 2048 KiB)
threads:                $thr_base without, $thr_agent with (+$((thr_agent - thr_base)))
CPU over ${SECS}s:      ${cpu_s}s with agent, ${base_cpu_s}s baseline (idle host)
CPU per poll:           ${per_poll_ms} ms
CPU per day, primary at 300 s (default): ${day300} s   (target < 1 s)
CPU per day, primary at 60 s (minimum):  ${day60} s
CPU per day, secondary at 3600 s:        ${day3600} s
OUT
done
