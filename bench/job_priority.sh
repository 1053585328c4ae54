#!/usr/bin/env bash
# bench/job_priority.sh - what a backup job costs the host app's latency at each job priority (issue 13
# item 1), in the same run, alternating, with medians:
#   none       the app alone (the baseline)
#   normal     while `dumper backup` runs at the app's own priority (nice 0, I/O best-effort default)
#   polite     at the agent's default: nice 10 and I/O class idle
#   polite_be7 nice 10 and I/O best-effort level 7 (the alternative default)
# The app is bench/app_latency.py (a SQLite request loop, one request at a time, 1 ms think time) on its own
# database; the job backs up another SQLite database over and over for the whole window (restarted as soon
# as it ends). Priorities are applied the way the agent's spawn does it (setpriority + ioprio_set, here
# through nice(1) and ionice(1), which make the same system calls).
#
#   bench/job_priority.sh [--size-mb N] [--secs S] [--runs R]     (defaults 300, 8, 3)
#
# Env: DUMPER (default build/bin/dumper), BENCH_DIR (default /tmp/dumper-bench-prio; databases reused),
# BENCH_CPU (a CPU number: the app and the job both pinned to it with taskset, so that they contend for the
# same core whatever else the shared machine runs; default: not pinned).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SIZE_MB=300 SECS=8 RUNS=3
while [ $# -gt 0 ]; do
  case "$1" in
    --size-mb) SIZE_MB=$2; shift 2 ;;
    --secs) SECS=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    *) echo "usage: $0 [--size-mb N] [--secs S] [--runs R]" >&2; exit 2 ;;
  esac
done
DUMPER=${DUMPER:-$ROOT/build/bin/dumper}
DIR=${BENCH_DIR:-/tmp/dumper-bench-prio}
[ -x "$DUMPER" ] || { echo "build first: $DUMPER missing" >&2; exit 1; }
mkdir -p "$DIR"
if [ ! -f "$DIR/app.db" ]; then
  python3 - "$DIR/app.db" <<'PY'
import random, sqlite3, sys
c = sqlite3.connect(sys.argv[1]); r = random.Random(1)
c.execute("CREATE TABLE orders(id INTEGER PRIMARY KEY, who TEXT, total REAL, note TEXT)")
c.executemany("INSERT INTO orders(who, total, note) VALUES (?, ?, ?)",
              (("c%d" % r.randint(1, 9999), r.random() * 100, "n" * r.randint(10, 200)) for _ in range(200000)))
c.commit()
PY
fi
want=$((SIZE_MB * 1024 * 1024))
if [ ! -f "$DIR/big.db" ] || [ "$(stat -c %s "$DIR/big.db")" -lt $((want * 9 / 10)) ]; then
  rm -f "$DIR/big.db"
  python3 - "$DIR/big.db" "$want" <<'PY'
import os, random, sqlite3, sys
c = sqlite3.connect(sys.argv[1]); want = int(sys.argv[2]); r = random.Random(2)
c.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, a TEXT, b BLOB)")
words = ["alpha", "beta", "gamma", "delta", "order", "shipped", "paid", "user", "item", "total"]
while os.path.getsize(sys.argv[1]) < want:
    c.executemany("INSERT INTO t(a, b) VALUES (?, ?)",
                  ((" ".join(r.choice(words) for _ in range(40)), os.urandom(200)) for _ in range(20000)))
    c.commit()
PY
fi
cat "$DIR/big.db" "$DIR/app.db" >/dev/null # warm the page cache once

# backup_loop PREFIX...: back up big.db under the given priority wrapper until killed; in a session (and
# process group) of its own, so that the whole loop, wrapper and job included, ends with one kill
PIN=()
[ -z "${BENCH_CPU:-}" ] || PIN=(taskset -c "$BENCH_CPU")
backup_loop() {
  setsid "${PIN[@]}" bash -c 'while :; do rm -rf "$1/out"; "${@:3}" "$2" backup "sqlite://$1/big.db" --to "$1/out" >/dev/null 2>&1 || true; done' \
    _ "$DIR" "$DUMPER" "$@" &
  pid=$!
}

RES="$DIR/results.txt"
: >"$RES"
for r in $(seq "$RUNS"); do
  for mode in none normal polite polite_be7; do
    pid=""
    case $mode in
      normal) backup_loop env ;;
      polite) backup_loop nice -n 10 ionice -c 3 ;;
      polite_be7) backup_loop nice -n 10 ionice -c 2 -n 7 ;;
    esac
    [ -z "$pid" ] || sleep 1 # the backup is under way before the window opens
    out=$("${PIN[@]}" python3 "$ROOT/bench/app_latency.py" "$DIR/app.db" "$SECS")
    if [ -n "$pid" ]; then
      kill -- "-$pid" 2>/dev/null || true # the loop's process group: the loop, the wrapper, the job
      wait "$pid" 2>/dev/null || true
    fi
    load=$(cut -d' ' -f1 /proc/loadavg)
    echo "$mode $out $load" | tee -a "$RES" >&2
  done
done
echo "date: $(date -u +%Y-%m-%dT%H:%MZ); pinned to CPU: ${BENCH_CPU:-no}; machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); kernel $(uname -r); I/O scheduler of the data disk: $(cat /sys/block/$(lsblk -no pkname "$(df --output=source "$DIR" | tail -1)" 2>/dev/null || echo x)/queue/scheduler 2>/dev/null || echo unknown)"
echo "| job priority | runs | median p50 us | median p99 us | p99 / none | median requests | median load |"
echo "|---|---|---|---|---|---|---|"
base99=$(awk '$1 == "none" {print $4}' "$RES" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
for mode in none normal polite polite_be7; do
  awk -v m="$mode" -v b="$base99" '$1 == m {n++; p50[n]=$3; p99[n]=$4; req[n]=$2; ld[n]=$5}
    function med(a, n,   i, j, t) { for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
      return a[int((n + 1) / 2)] }
    END { m99 = med(p99, n); printf "| %s | %d | %d | %d | %.2f | %d | %s |\n", m, n, med(p50, n), m99, m99 / b, med(req, n), med(ld, n) }' "$RES"
done
