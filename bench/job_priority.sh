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
# With --app-busy N the app's session also runs N CPU-bound busy loops (the app server's other workers,
# forked by app_latency.py before the window, so in its session and autogroup; each ends with the window
# by itself): with N at least the number of cores the app's session wants all the CPU, and what the job
# gets is decided by the weights of the two autogroups (nice 0: 1024 against 1024, about half the machine
# each; the job's at nice 10: 110 against 1024, about a tenth). Besides the app's p50/p99 and requests, each
# window reports the busy loops' work (iterations per second summed, and their CPU in cores: CPU seconds
# over the window's seconds) and the backup job's CPU in cores (CPU seconds of the job loop's session over
# the window: the running dumper's utime + stime and the finished ones' through the loop's cutime +
# cstime, read just before and just after the window) and the backups it completed in the window: the
# direct evidence of the share.
#
#   bench/job_priority.sh [--size-mb N] [--secs S] [--runs R] [--app-busy N]     (defaults 300, 8, 3, 0)
#
# Env: DUMPER (default build/bin/dumper), BENCH_DIR (default /tmp/dumper-bench-prio; databases reused),
# BENCH_CPU (a CPU number: the app and the job both pinned to it with taskset, so that they contend for the
# same core whatever else the shared machine runs; default: not pinned), BENCH_MODES (the modes to run, in
# this order in each round; default "none normal prefix polite polite_idle").
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SIZE_MB=300 SECS=8 RUNS=3 BUSY=0
while [ $# -gt 0 ]; do
  case "$1" in
    --size-mb) SIZE_MB=$2; shift 2 ;;
    --secs) SECS=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    --app-busy) BUSY=$2; shift 2 ;;
    *) echo "usage: $0 [--size-mb N] [--secs S] [--runs R] [--app-busy N]" >&2; exit 2 ;;
  esac
done
case $BUSY in '' | *[!0-9]*) echo "job_priority.sh: --app-busy wants a number, not '$BUSY'" >&2; exit 2 ;; esac
MODES=${BENCH_MODES:-none normal prefix polite polite_idle}
for m in $MODES; do
  case $m in none | normal | prefix | polite | polite_idle) ;; *) echo "job_priority.sh: unknown mode '$m'" >&2; exit 2 ;; esac
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
HZ=$(getconf CLK_TCK)
# session_ticks SID: the CPU ticks (user + system) of session SID's processes so far: each live process's
# utime + stime, and the leader's cutime + cstime (the children it has waited for: the finished backups;
# their wrappers exec the job, so the job is the loop's child)
session_ticks() {
  local t=0 p st
  for p in $(ps -o pid= -s "$1" 2>/dev/null); do
    st=$(cat "/proc/$p/stat" 2>/dev/null) || continue
    set -- ${st##*) }
    t=$((t + ${12} + ${13}))
    [ "$p" != "$pid" ] || t=$((t + ${14} + ${15}))
  done
  echo "$t"
}
backups_done() { if [ -f "$DIR/done" ]; then wc -l <"$DIR/done"; else echo 0; fi; }

# backup_loop AGNICE PREFIX...: back up big.db under the given priority wrapper until killed, in a session
# (and process group) of its own, so that the whole loop, wrapper and job included, ends with one kill; the
# session's autogroup gets nice AGNICE (0: left as the kernel made it) from inside the session before the
# first backup, as the agent's job process does it before exec
PIN=()
[ -z "${BENCH_CPU:-}" ] || PIN=(taskset -c "$BENCH_CPU")
pid=""
backup_loop() {
  setsid "${PIN[@]}" bash -c '[ "$3" = 0 ] || echo "$3" >/proc/self/autogroup || exit 97
    while :; do rm -rf "$1/out"; "${@:4}" "$2" backup "sqlite://$1/big.db" --to "$1/out" >/dev/null 2>&1 && echo >>"$1/done" || true; done' \
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
  for mode in $MODES; do
    JOB_AG=""""
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
    tk0=0 bk0=0
    [ -z "$pid" ] || { tk0=$(session_ticks "$pid"); bk0=$(backups_done); }
    t0=$(date +%s.%N)
    out=$(setsid -w "${PIN[@]}" python3 "$ROOT/bench/app_latency.py" "$DIR/app.db" "$SECS" "$BUSY" 2>"$DIR/app.err") ||
      die "$mode: app_latency.py failed: $(cat "$DIR/app.err")"
    t1=$(date +%s.%N)
    tk1=0 bk1=0
    [ -z "$pid" ] || { tk1=$(session_ticks "$pid"); bk1=$(backups_done); }
    stop_loop
    job=$(awk -v a="$tk0" -v b="$tk1" -v hz="$HZ" -v t0="$t0" -v t1="$t1" 'BEGIN { printf "%.2f", (b - a) / hz / (t1 - t0) }')
    read -r nreq p50 p99 bips bcpu <<<"$out"
    bcores=$(awk -v c="$bcpu" -v s="$SECS" 'BEGIN { printf "%.2f", c / s }')
    # "app pid P session S nice N autogroup /autogroup-G nice A"
    read -r _ _ apid _ asid _ anice _ aag _ aagnice <"$DIR/app.err" || die "$mode: app_latency.py said: $(cat "$DIR/app.err")"
    [ "$apid" = "$asid" ] || die "$mode: the app (pid $apid) ran in session $asid, not its own"
    [ "$aag nice $aagnice" != "$ME_AG" ] || die "$mode: the app shared this script's autogroup ($ME_AG)"
    [ "$aag nice $aagnice" != "$JOB_AG" ] || die "$mode: the app shared the job's autogroup ($JOB_AG)"
    [ "$anice $aagnice" = "0 0" ] || die "$mode: the app ran at nice $anice, autogroup nice $aagnice (expected 0 and 0)"
    left=$(ps -o pid=,args= -s "$apid" || true)
    [ -z "$left" ] || die "$mode: processes left in the app's session after the window: $left"
    if [ "$BUSY" -gt 0 ]; then
      # "busy K session S autogroup /autogroup-G nice A": every busy loop in the app's session and autogroup
      busyline=$(sed -n 2p "$DIR/app.err")
      [ "$busyline" = "busy $BUSY session $apid autogroup $aag nice $aagnice" ] ||
        die "$mode: the busy loops did not run in the app's session $apid and autogroup $aag: '$busyline'"
    fi
    load=$(cut -d' ' -f1 /proc/loadavg)
    # mode requests p50 p99 load busy-iterations/s busy-cores job-cores backups-completed
    echo "$mode $nreq $p50 $p99 $load $bips $bcores $job $((bk1 - bk0))" | tee -a "$RES" >&2
  done
done
trap - EXIT
echo "load average (1/5/15 min) at start: $LOAD_START; at end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "date: $(date -u +%Y-%m-%dT%H:%MZ); pinned to CPU: ${BENCH_CPU:-no}; busy loops in the app's session: $BUSY; machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); kernel $(uname -r); I/O scheduler of the data disk: $(cat /sys/block/$(lsblk -no pkname "$(df --output=source "$DIR" | tail -1)" 2>/dev/null || echo x)/queue/scheduler 2>/dev/null || echo unknown)"
echo "| job priority | runs | median p50 us | median p99 us | p99 / none | median requests | median busy M iter/s | median busy cores | median job cores | median backups done | median load |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
base99=$(awk '$1 == "none" {print $4}' "$RES" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
for mode in $MODES; do
  awk -v m="$mode" -v b="${base99:-0}" '$1 == m {n++; p50[n]=$3; p99[n]=$4; req[n]=$2; ld[n]=$5; ips[n]=$6; bc[n]=$7; jc[n]=$8; bk[n]=$9}
    function med(a, n,   i, j, t) { for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
      return a[int((n + 1) / 2)] }
    END { m99 = med(p99, n); printf "| %s | %d | %d | %d | %s | %d | %.1f | %.2f | %.2f | %d | %s |\n", m, n, med(p50, n), m99,
      (b > 0 ? sprintf("%.2f", m99 / b) : "-"), med(req, n), med(ips, n) / 1e6, med(bc, n), med(jc, n), med(bk, n), med(ld, n) }' "$RES"
done
