#!/usr/bin/env bash
# bench/redis_rdb.sh - Redis snapshot transfer: `dumper backup` vs `redis-cli --rdb` (the floor).
#
#   bench/redis_rdb.sh [KEYS] [VALUE_BYTES]     (default 2000000 keys of 100 bytes, ~250 MB RDB)
#
# Starts a throwaway redis-server on 127.0.0.1:$((DUMPER_TEST_PORT_BASE+30)) (default 25430) with
# rdbcompression off, fills it with DEBUG POPULATE, then measures wall time and peak RSS (GNU time)
# of: redis-cli --rdb FILE (the floor: same transfer, no checks, no compression); dumper backup --compress none; dumper backup (default zstd).
# Needs build/bin/dumper. Prints one line per run.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DUMPER=${DUMPER:-$ROOT/build/bin/dumper}
KEYS=${1:-2000000} VSIZE=${2:-100}
PORT=$(( ${DUMPER_TEST_PORT_BASE:-25400} + 30 ))
W=$(mktemp -d /tmp/dumper-bench-redis.XXXXXX)
redis-server --port "$PORT" --bind 127.0.0.1 --save '' --appendonly no --rdbcompression no \
  --enable-debug-command yes --dir "$W" --daemonize yes --pidfile "$W/redis.pid" --logfile "$W/log" >/dev/null
trap 'kill "$(cat "$W/redis.pid")" 2>/dev/null || true; sleep 0.5; rm -rf "$W"' EXIT
for _ in $(seq 100); do redis-cli -p "$PORT" ping >/dev/null 2>&1 && break; sleep 0.05; done
redis-cli -p "$PORT" DEBUG POPULATE "$KEYS" key "$VSIZE" >/dev/null
run() { # run LABEL CMD...
  local t0 t1 label=$1; shift
  t0=$(date +%s.%N)
  /usr/bin/time -f "%M" -o "$W/rss" "$@" >/dev/null 2>"$W/err" || { cat "$W/err"; exit 1; }
  t1=$(date +%s.%N)
  printf '%-34s %7.2f s  peak RSS %6d KiB\n' "$label" "$(echo "$t1 - $t0" | bc)" "$(cat "$W/rss")" >&2
}
redis-cli -p "$PORT" --rdb "$W/probe.rdb" >/dev/null 2>&1
echo "rdb size: $(stat -c %s "$W/probe.rdb") bytes ($KEYS keys x $VSIZE B)" >&2; rm -f "$W/probe.rdb"
for i in 1 2; do
  run "redis-cli --rdb FILE" redis-cli -p "$PORT" --rdb "$W/cli.rdb"; rm -f "$W/cli.rdb"
  run "dumper backup --compress none" "$DUMPER" backup "redis://127.0.0.1:$PORT" --to "$W/b" --compress none
  run "dumper backup (zstd default)" "$DUMPER" backup "redis://127.0.0.1:$PORT" --to "$W/b"
  rm -rf "$W/b"
done
