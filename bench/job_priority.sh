#!/usr/bin/env bash
# bench/job_priority.sh - what a backup job costs the host app's latency at each job priority (issue 13
# item 1), in the same run, alternating, with medians:
#   none         the app alone (the baseline)
#   normal       `dumper backup` at the app's own priority (nice 0, I/O default, autogroup nice 0: the agent
#                with --nice keep --ionice none)
#   prefix       nice 10 and I/O best-effort 7, the session's autogroup left at nice 0 (the agent's default
#                before f123baa)
#   polite       nice 10, I/O best-effort 7 and the session's autogroup at nice 10 (the agent's default now)
#   polite_idle  nice 10, I/O class idle and the autogroup at nice 10 (--ionice idle)
# The app is bench/app_latency.py (a SQLite request loop, one request at a time, 1 ms think time) on its own
# database, in a session of its own (setsid: as an app server started from a shell or by systemd), so in an
# autogroup of its own at nice 0. The job backs up another SQLite database over and over for the whole
# window (restarted as soon as it ends), in a session of its own as the agent's spawn makes it (setsid), so
# in an autogroup of its own (sched_autogroup_enabled = 1: the CPU is shared between autogroups first, and
# nice ranks a process only inside its group). Priorities are applied as the agent's spawn does it
# (setpriority + ioprio_set, here through nice(1) and ionice(1), which make the same system calls; the
# autogroup's nice written to /proc/self/autogroup from inside the new session, as spawn.c's
# lower_autogroup). Before each window the script checks the running job's nice and autogroup (and after
# it the app's session and autogroup) and stops with an error if they are not what the mode says.
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

die() { echo "job_priority.sh: $*" >&2; exit 1; }
[ "$(cat /proc/sys/kernel/sched_autogroup_enabled 2>/dev/null)" = 1 ] ||
  echo "job_priority.sh: note: autogroup scheduling is off here: the autogroup's nice changes nothing" >&2
# autogroup_of PID: "/autogroup-N nice X" (empty if the process is gone)
autogroup_of() { cat "/proc/$1/autogroup" 2>/dev/null || true; }
# session_of PID: the session id (field 6 of /proc/PID/stat, counted after the command's closing parenthesis)
session_of() { local st; st=$(cat "/proc/$1/stat" 2>/dev/null) || return 0; set -- ${st##*) }; echo "$4"; }
ME_AG=$(autogroup_of $$)

# backup_loop AGNICE PREFIX...: back up big.db under the given priority wrapper until killed, in a session
# (and process group) of its own, so that the whole loop, wrapper and job included, ends with one kill; the
# session's autogroup gets nice AGNICE (0: left as the kernel made it) from inside the session before the
# first backup, as the agent's job process does it before exec
PIN=()
[ -z "${BENCH_CPU:-}" ] || PIN=(taskset -c "$BENCH_CPU")
pid=""
backup_loop() {
  setsid "${PIN[@]}" bash -c '[ "$3" = 0 ] || echo "$3" >/proc/self/autogroup || exit 97
    while :; do rm -rf "$1/out"; "${@:4}" "$2" backup "sqlite://$1/big.db" --to "$1/out" >/dev/null 2>&1 || true; done' \
    _ "$DIR" "$DUMPER" "$@" &
  pid=$!
}
stop_loop() {
  [ -n "$pid" ] || return 0
  kill -- "-$pid" 2>/dev/null || true # the loop's process group: the loop, the wrapper, the job
  wait "$pid" 2>/dev/null || true
  pid=""
}
trap stop_loop EXIT

# check_job MODE NICE AGNICE: the loop is a session leader in an autogroup other than this script's, at
# autogroup nice AGNICE, and a running `dumper` of it has nice NICE and the same autogroup; prints that
# autogroup, fails loudly otherwise
check_job() {
  local mode=$1 nice=$2 agnice=$3 ag jp="" jag="" jni=""
  [ -d "/proc/$pid" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$pid/status" ||
    die "$mode: the backup loop $pid is gone (could it not write its autogroup's nice?)"
  [ "$(session_of "$pid")" = "$pid" ] || die "$mode: the backup loop $pid is not in a session of its own (session $(session_of "$pid"))"
  ag=$(autogroup_of "$pid")
  [ -n "$ag" ] || die "$mode: no /proc/$pid/autogroup (a kernel without autogroups?)"
  [ "$ag" != "$ME_AG" ] || die "$mode: the job's session shares this script's autogroup ($ag)"
  [ "${ag##* nice }" = "$agnice" ] || die "$mode: the job's autogroup is '$ag', expected nice $agnice"
  for _ in $(seq 100); do # a backup is under way almost all the time: catch one that lives through the reads
    jp=$(ps -o pid=,comm= -s "$pid" | awk '$2 == "dumper" {print $1; exit}')
    if [ -n "$jp" ]; then
      jag=$(autogroup_of "$jp")
      jni=$(ps -o ni= -p "$jp" | tr -d ' ') || true
      [ -d "/proc/$jp" ] && [ -n "$jag" ] && [ -n "$jni" ] && break
      jp=""
    fi
    sleep 0.05
  done
  [ -n "$jp" ] || die "$mode: no dumper process in the job's session $pid"
  [ "$jag" = "$ag" ] || die "$mode: the dumper process $jp is in '$jag', its session in '$ag'"
  [ "$jni" = "$nice" ] || die "$mode: the dumper process $jp runs at nice $jni, expected $nice"
  echo "$mode: job $jp, session $pid, nice $nice, I/O $(ionice -p "$jp" 2>/dev/null || echo '?'), $ag" >&2
  JOB_AG=$ag
}

RES="$DIR/results.txt"
: >"$RES"
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
for r in $(seq "$RUNS"); do
  for mode in none normal prefix polite polite_idle; do
    JOB_AG=""
    case $mode in
      normal) backup_loop 0 env ;;
      prefix) backup_loop 0 nice -n 10 ionice -c 2 -n 7 ;;
      polite) backup_loop 10 nice -n 10 ionice -c 2 -n 7 ;;
      polite_idle) backup_loop 10 nice -n 10 ionice -c 3 ;;
    esac
    if [ -n "$pid" ]; then
      sleep 1 # the backup is under way before the window opens
      case $mode in
        normal) check_job "$mode" 0 0 ;;
        prefix) check_job "$mode" 10 0 ;;
        *) check_job "$mode" 10 10 ;;
      esac
    fi
    out=$(setsid -w "${PIN[@]}" python3 "$ROOT/bench/app_latency.py" "$DIR/app.db" "$SECS" 2>"$DIR/app.err") ||
      die "$mode: app_latency.py failed: $(cat "$DIR/app.err")"
    stop_loop
    # "app pid P session S nice N autogroup /autogroup-G nice A"
    read -r _ _ apid _ asid _ anice _ aag _ aagnice <"$DIR/app.err" || die "$mode: app_latency.py said: $(cat "$DIR/app.err")"
    [ "$apid" = "$asid" ] || die "$mode: the app (pid $apid) ran in session $asid, not its own"
    [ "$aag nice $aagnice" != "$ME_AG" ] || die "$mode: the app shared this script's autogroup ($ME_AG)"
    [ "$aag nice $aagnice" != "$JOB_AG" ] || die "$mode: the app shared the job's autogroup ($JOB_AG)"
    [ "$anice $aagnice" = "0 0" ] || die "$mode: the app ran at nice $anice, autogroup nice $aagnice (expected 0 and 0)"
    load=$(cut -d' ' -f1 /proc/loadavg)
    echo "$mode $out $load" | tee -a "$RES" >&2
  done
done
trap - EXIT
echo "load average (1/5/15 min) at start: $LOAD_START; at end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "date: $(date -u +%Y-%m-%dT%H:%MZ); pinned to CPU: ${BENCH_CPU:-no}; machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); kernel $(uname -r); I/O scheduler of the data disk: $(cat /sys/block/$(lsblk -no pkname "$(df --output=source "$DIR" | tail -1)" 2>/dev/null || echo x)/queue/scheduler 2>/dev/null || echo unknown)"
echo "| job priority | runs | median p50 us | median p99 us | p99 / none | median requests | median load |"
echo "|---|---|---|---|---|---|---|"
base99=$(awk '$1 == "none" {print $4}' "$RES" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
for mode in none normal prefix polite polite_idle; do
  awk -v m="$mode" -v b="$base99" '$1 == m {n++; p50[n]=$3; p99[n]=$4; req[n]=$2; ld[n]=$5}
    function med(a, n,   i, j, t) { for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
      return a[int((n + 1) / 2)] }
    END { m99 = med(p99, n); printf "| %s | %d | %d | %d | %.2f | %d | %s |\n", m, n, med(p50, n), m99, m99 / b, med(req, n), med(ld, n) }' "$RES"
done
