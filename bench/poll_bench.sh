#!/usr/bin/env bash
# poll_bench.sh - dumperd's poll endpoint under load: wrk drives POST /api/v1/agents/poll as 10,000
# distinct registered agents against dumperd on SQLite, then nginx serving a small static file on the same
# machine in the same run as the baseline. Prints requests/s, p50/p99 latency and the ratio.
#   bench/poll_bench.sh [--duration S] [--connections N] [--agents N] [--threads N] [--store pg]
# Needs wrk and nginx (scripts/install-deps.sh). Ports: DUMPER_BENCH_PORT (default 25810) and +1.
set -euo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
BIN=${DUMPER_BIN:-$SRC/build/bin}
DUR=10 CONN=16 AGENTS=10000 THREADS=1 SERVER_THREADS=2 STORE=sqlite
while [ $# -gt 0 ]; do
  case $1 in
    --duration) DUR=$2; shift 2 ;;
    --connections) CONN=$2; shift 2 ;;
    --agents) AGENTS=$2; shift 2 ;;
    --threads) THREADS=$2; shift 2 ;;
    --server-threads) SERVER_THREADS=$2; shift 2 ;;
    --store) STORE=$2; shift 2 ;;
    *) echo "usage: $0 [--duration S] [--connections N] [--agents N] [--threads N] [--server-threads N] [--store sqlite|pg]" >&2; exit 2 ;;
  esac
done
command -v wrk >/dev/null || { echo "poll_bench: wrk is not installed (scripts/install-deps.sh)" >&2; exit 1; }
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
PORT=${DUMPER_BENCH_PORT:-25810}
W=$(mktemp -d /tmp/dumperd-bench.XXXXXX)
DPID= NPID=
cleanup() {
  [ -n "$DPID" ] && kill "$DPID" 2>/dev/null && wait "$DPID" 2>/dev/null || true
  [ -n "$NPID" ] && kill "$NPID" 2>/dev/null && wait "$NPID" 2>/dev/null || true
  rm -rf "$W"
}
trap cleanup EXIT
export DUMPERD_DATA=$W/var
if [ "$STORE" = pg ]; then
  : "${DUMPER_TEST_PG_PORT:?source the services env (scripts/services.sh start pg)}"
  export PGPASSWORD=$DUMPER_TEST_PASSWORD
  db=dumperd_bench_$$
  "$DUMPER_TEST_PG_BIN/psql" -h 127.0.0.1 -p "$DUMPER_TEST_PG_PORT" -U postgres -d postgres -qc "CREATE DATABASE $db"
  export DUMPERD_STORE="postgres://postgres@127.0.0.1:$DUMPER_TEST_PG_PORT/$db"
fi
APP_KEY=$("$BIN/dumperd" app create bench 2>/dev/null)
export APP_KEY
"$BIN/dumperd" serve --listen 127.0.0.1:$PORT --threads "$SERVER_THREADS" --primary-interval 60 --lease 3600 \
  </dev/null >"$W/dumperd.log" 2>&1 &
DPID=$!
for _ in $(seq 100); do grep -q listening "$W/dumperd.log" && break; sleep 0.05; done
read -r FIRST LAST < <(python3 "$SRC/bench/poll_bench_register.py" $PORT "$AGENTS")
export FIRST_AGENT=$FIRST AGENTS
# warm-up, then the measured run
wrk -t"$THREADS" -c"$CONN" -d2s -s "$SRC/bench/poll_bench.lua" http://127.0.0.1:$PORT/ >/dev/null
# CPU time (utime+stime clock ticks) of the server processes, to report CPU per request: robust to
# other load on the machine, unlike latency.
ticks() { local t=0 p; for p in "$@"; do t=$((t + $(awk '{print $14 + $15}' /proc/"$p"/stat))); done; echo $t; }
HZ=$(getconf CLK_TCK)
c0=$(ticks $DPID)
D=$(wrk -t"$THREADS" -c"$CONN" -d"${DUR}s" --latency -s "$SRC/bench/poll_bench.lua" http://127.0.0.1:$PORT/ | grep ^RESULT)
DCPU=$(( $(ticks $DPID) - c0 ))
kill "$DPID"; wait "$DPID" 2>/dev/null || true; DPID=

# nginx baseline: a static file the size of a poll answer
mkdir -p "$W/nginx/html" "$W/nginx/logs"
printf '{"role":"secondary","interval":3512.3,"lease":3600,"server_time":"2026-11-26T10:00:00Z","job":null}' >"$W/nginx/html/poll.json"
cat >"$W/nginx/nginx.conf" <<NG
daemon off;
worker_processes $SERVER_THREADS;
pid $W/nginx/nginx.pid;
error_log $W/nginx/logs/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  server { listen 127.0.0.1:$((PORT + 1)); root $W/nginx/html; location / { } }
}
NG
"$NGINX" -p "$W/nginx" -c "$W/nginx/nginx.conf" </dev/null >"$W/nginx/out.log" 2>&1 &
NPID=$!
sleep 0.5
wrk -t"$THREADS" -c"$CONN" -d2s http://127.0.0.1:$((PORT + 1))/poll.json >/dev/null
NPIDS="$NPID $(pgrep -P "$NPID" | tr '\n' ' ')"
c0=$(ticks $NPIDS)
N=$(wrk -t"$THREADS" -c"$CONN" -d"${DUR}s" --latency -s "$SRC/bench/static_bench.lua" http://127.0.0.1:$((PORT + 1))/poll.json | grep ^RESULT)
NCPU=$(( $(ticks $NPIDS) - c0 ))
kill "$NPID"; wait "$NPID" 2>/dev/null || true; NPID=

val() { echo "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }
echo "machine: $(nproc) cores, $(uname -sr), load average $(cut -d" " -f1-3 /proc/loadavg), $(date -u +%Y-%m-%dT%H:%MZ); store $STORE; $AGENTS agents; wrk -t$THREADS -c$CONN -d${DUR}s; dumperd --threads $SERVER_THREADS, nginx worker_processes $SERVER_THREADS"
echo "dumperd poll:  $(val "$D" rps) req/s  p50 $(val "$D" p50_ms) ms  p99 $(val "$D" p99_ms) ms  non-2xx $(val "$D" non2xx)  errors $(val "$D" errors)"
echo "nginx static:  $(val "$N" rps) req/s  p50 $(val "$N" p50_ms) ms  p99 $(val "$N" p99_ms) ms"
us_per() { python3 -c "print('%.1f' % ($1 * 1e6 / $HZ / $2))"; }
echo "server CPU per request: dumperd $(us_per "$DCPU" "$(val "$D" requests)") us, nginx $(us_per "$NCPU" "$(val "$N" requests)") us"
echo "ratio dumperd/nginx: $(python3 -c "print('%.2f' % ($(val "$D" rps) / $(val "$N" rps)))")"
[ "$(val "$D" non2xx)" = 0 ] || { echo "poll_bench: dumperd answered non-2xx" >&2; exit 1; }
