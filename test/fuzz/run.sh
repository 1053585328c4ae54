#!/usr/bin/env bash
# test/fuzz/run.sh - run the libFuzzer targets of test/fuzz/ (docs/testing.md, "Fuzzing").
#
#   test/fuzz/run.sh [options] [fuzz_NAME...]        (default: every target the build has)
#
#   --build DIR      the fuzz build (default build-fuzz):
#                      cmake -S . -B build-fuzz -DDUMPER_FUZZ=ON -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug
#                      cmake --build build-fuzz -j2 --target fuzz
#   --smoke          the test suite's run (CTest label "fuzz"): the committed seeds, then --time
#                    seconds (default 12) of fuzzing from a fresh scratch corpus
#   --time S, --minutes M
#                    how long each target fuzzes (default: 12 s with --smoke, else 10 minutes)
#   --jobs N         targets fuzzed at once (default 1; these machines have 2 shared cores: 2 at most)
#   --work DIR       scratch corpora, logs and crashing inputs (default <build>/fuzz-work). A long run
#                    keeps its scratch corpus (a copy of the seeds plus what it found), so a second
#                    run goes on where the first stopped
#   --merge          afterwards, add the scratch inputs that reach new coverage to the committed
#                    corpus test/fuzz/corpus/<target>/ (libFuzzer -merge=1: only what adds features,
#                    within the target's -max_len; the committed seeds all stay)
#
# Every run: -timeout=20 s per input, -rss_limit_mb=2048, the target's dictionary
# (test/fuzz/<target>.dict) and flags (test/fuzz/<target>.options, which come last and win). A crash,
# leak, timeout, out-of-memory or sanitizer report fails the target: its log tail and the saved
# input (<work>/<target>-crash-...) are printed; the fix goes in with a unit test and the input in
# the target's seeds. Each long run appends "date target seconds-run runs result" to <work>/hours.tsv.
# Exit status: 0 when every target ran clean, 1 otherwise, 2 on a usage error.
set -uo pipefail
SRC=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=$SRC/build-fuzz SMOKE=0 SECONDS_EACH= JOBS=1 WORK= MERGE=0
NAMES=()
usage() { sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
    --build) BUILD=$2; shift ;;
    --smoke) SMOKE=1 ;;
    --time) SECONDS_EACH=$2; shift ;;
    --minutes) SECONDS_EACH=$(($2 * 60)); shift ;;
    --jobs) JOBS=$2; shift ;;
    --work) WORK=$2; shift ;;
    --merge) MERGE=1 ;;
    -h|--help) usage ;;
    fuzz_*) NAMES+=("$1") ;;
    *) echo "run.sh: unknown argument '$1'" >&2; usage ;;
  esac
  shift
done
[ -n "$SECONDS_EACH" ] || SECONDS_EACH=$([ "$SMOKE" = 1 ] && echo 12 || echo 600)
case "$SECONDS_EACH$JOBS" in *[!0-9]*) echo "run.sh: --time/--minutes/--jobs take whole numbers" >&2; exit 2 ;; esac
BUILD=$(cd "$BUILD" 2>/dev/null && pwd) || { echo "run.sh: no fuzz build at $BUILD (see --help)" >&2; exit 2; }
: "${WORK:=$BUILD/fuzz-work}"
mkdir -p "$WORK"
if [ ${#NAMES[@]} -eq 0 ]; then
  for f in "$SRC"/test/fuzz/fuzz_*.c; do
    n=$(basename "$f" .c)
    [ -x "$BUILD/test/$n" ] && NAMES+=("$n")
  done
fi
[ ${#NAMES[@]} -gt 0 ] || { echo "run.sh: no fuzz targets built in $BUILD/test" >&2; exit 2; }

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

# flags NAME: the libFuzzer flags of one target, defaults first, the target's own last
flags() {
  local n=$1 f
  echo "-timeout=20 -rss_limit_mb=2048 -print_final_stats=1"
  [ -f "$SRC/test/fuzz/$n.dict" ] && echo "-dict=$SRC/test/fuzz/$n.dict"
  f=$SRC/test/fuzz/$n.options
  [ -f "$f" ] && sed 's/#.*//' "$f"
}

# one NAME: fuzz one target; prints one summary line, returns non-zero on any finding
one() {
  local n=$1 bin=$BUILD/test/$1 seeds=$SRC/test/fuzz/corpus/$1 mode dir log rc runs
  mode=$([ "$SMOKE" = 1 ] && echo smoke || echo long)
  dir=$WORK/$mode/$n
  log=$WORK/$n.$mode.log
  [ -x "$bin" ] || { echo "FAIL $n: $bin not built"; return 1; }
  [ "$SMOKE" = 1 ] && rm -rf "$dir"
  mkdir -p "$dir"
  # a copy of the seeds: libFuzzer writes into (and may reduce) its corpus directory
  [ -d "$seeds" ] && cp -n "$seeds"/* "$dir"/ 2>/dev/null
  touch "$WORK/$n.$mode.start" # inputs saved by this run are newer (those of earlier runs stay)
  local t0=$SECONDS
  # shellcheck disable=SC2046
  "$bin" $(flags "$n") -max_total_time="$SECONDS_EACH" -artifact_prefix="$WORK/$n-" "$dir" >"$log" 2>&1
  rc=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  if [ "$mode" = long ]; then
    printf '%s\t%s\t%s\t%s\t%s\n' "$(date -u +%FT%TZ)" "$n" "$((SECONDS - t0))" "${runs:-?}" \
      "$([ $rc = 0 ] && echo clean || echo "FAILED rc=$rc")" >>"$WORK/hours.tsv"
  fi
  if [ $rc != 0 ] || grep -q -e '^==[0-9]*==ERROR' -e 'runtime error:' -e '^SUMMARY: ' "$log"; then
    echo "FAIL $n (exit $rc; log $log)"
    grep -n -m1 -e '^==[0-9]*==ERROR' -e 'runtime error:' -e 'ERROR: libFuzzer' "$log"
    tail -40 "$log"
    find "$WORK" -maxdepth 1 -name "$n-*" -newer "$WORK/$n.$mode.start" | sed 's/^/input: /'
    return 1
  fi
  echo "ok   $n: ${runs:-?} runs in ${SECONDS_EACH}s, corpus $(ls "$dir" | wc -l) inputs" \
    "($(sed -n 's/.*\(cov: [0-9]* ft: [0-9]*\).*/\1/p' "$log" | tail -1))"
  if [ "$MERGE" = 1 ]; then
    mkdir -p "$seeds"
    local before after
    before=$(ls "$seeds" | wc -l)
    # shellcheck disable=SC2046
    "$bin" $(flags "$n" | grep -e '-max_len' -e '-dict' -e '-timeout' -e '-rss') -merge=1 "$seeds" "$dir" \
      >"$WORK/$n.merge.log" 2>&1 || { echo "FAIL $n: merge failed (log $WORK/$n.merge.log)"; return 1; }
    after=$(ls "$seeds" | wc -l)
    echo "     $n: merged $((after - before)) inputs into test/fuzz/corpus/$n ($(du -sh "$seeds" | cut -f1))"
  fi
  return 0
}

failed=0
running=0
for n in "${NAMES[@]}"; do
  if [ "$running" -ge "$JOBS" ]; then
    wait -n || failed=1
    running=$((running - 1))
  fi
  one "$n" &
  running=$((running + 1))
done
while [ "$running" -gt 0 ]; do
  wait -n || failed=1
  running=$((running - 1))
done
exit $failed
