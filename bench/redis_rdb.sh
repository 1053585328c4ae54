#!/usr/bin/env bash
# bench/redis_rdb.sh - Redis snapshot transfer: `dumper backup` against `redis-cli --rdb`, in the same
# run, alternating, with medians (bench/lib.sh):
#   rdb_file    redis-cli --rdb FILE                       (the floor: the same transfer, no compression)
#   rdb_zstd    redis-cli --rdb - | zstd -3 > file         (what a user writes in a shell)
#   dumper      dumper backup redis://... --to DIR         (the default: zstd, adaptive level 1-3)
#   dumper_none dumper backup --compress none
#   + each of BENCH_VARIANTS ("label|ENV=V ...|args;...", as in pg_backup.sh)
# Every run includes the server's fork + BGSAVE, which SYNC and --rdb both trigger. The server runs
# with repl-diskless-sync-delay 0: redis-cli --rdb asks for a diskless transfer, which Redis 7 starts
# only after waiting that long (default 5 s) for more replicas; dumper's plain SYNC gets a disk-target
# BGSAVE, so with the default the baselines measured a 5 s server-side wait, not the transfer.
#
#   bench/redis_rdb.sh [KEYS] [VALUE_BYTES]     (default 2000000 keys of 100 bytes, ~230 MB RDB)
#
# Starts a throwaway redis-server on 127.0.0.1:$((DUMPER_TEST_PORT_BASE+92)) (default 25592) with
# rdbcompression off, filled with DEBUG POPULATE (values are repetitive: the RDB compresses ~10:1).
# Env: DUMPER (default build/bin/dumper), BENCH_RUNS (default 5).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOT/bench/lib.sh"
DUMPER=${DUMPER:-$ROOT/build/bin/dumper}
KEYS=${1:-2000000} VSIZE=${2:-100}
RUNS=${BENCH_RUNS:-5}
PORT=$(( ${DUMPER_TEST_PORT_BASE:-25500} + 92 ))
BENCH_TMP=$(mktemp -d /tmp/dumper-bench-redis.XXXXXX)
BENCH_RESULTS=$BENCH_TMP/results
redis-server --port "$PORT" --bind 127.0.0.1 --save '' --appendonly no --rdbcompression no \
  --enable-debug-command yes --repl-diskless-sync-delay 0 --dir "$BENCH_TMP" --daemonize yes --pidfile "$BENCH_TMP/redis.pid" \
  --logfile "$BENCH_TMP/log" >/dev/null
stop() {
  local pid
  pid=$(cat "$BENCH_TMP/redis.pid" 2>/dev/null) && kill "$pid" 2>/dev/null
  for _ in $(seq 50); do [ -n "${pid:-}" ] && kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  rm -rf "$BENCH_TMP"
}
trap stop EXIT
for _ in $(seq 100); do redis-cli -p "$PORT" ping >/dev/null 2>&1 && break; sleep 0.05; done
redis-cli -p "$PORT" DEBUG POPULATE "$KEYS" key "$VSIZE" >/dev/null

bench_header
echo "tools: $(redis-server --version | awk '{print $1, $2, $3}'); $("$DUMPER" --version); zstd $(zstd -V | grep -o 'v[0-9.]*' | head -n1)"
redis-cli -p "$PORT" --rdb "$BENCH_TMP/probe.rdb" >/dev/null 2>&1
echo "rdb: $(stat -c %s "$BENCH_TMP/probe.rdb") bytes ($KEYS keys x $VSIZE B)"
rm -f "$BENCH_TMP/probe.rdb"
for round in $(seq 1 "$RUNS"); do
  echo "bench: round $round/$RUNS" >&2
  bench_measure rdb_file redis-cli -p "$PORT" --rdb "$BENCH_TMP/cli.rdb"
  rm -f "$BENCH_TMP/cli.rdb"
  bench_measure rdb_zstd bash -c "redis-cli -p $PORT --rdb - 2>/dev/null | zstd -3 -q > '$BENCH_TMP/cli.rdb.zst'"
  bench_dumper_backup "redis://127.0.0.1:$PORT"
  BENCH_VARIANTS="dumper_none||--compress none;${BENCH_VARIANTS:-}" bench_variants "redis://127.0.0.1:$PORT"
done
echo "redis-cli --rdb - | zstd -3: $(stat -c %s "$BENCH_TMP/cli.rdb.zst") bytes; dumper: $BENCH_BACKUP_SIZE bytes"
echo
bench_summary rdb_file rdb_zstd
echo
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
