#!/usr/bin/env bash
# The whole test suite, as CI runs it (README: "run the tests").
#   1. start PostgreSQL, MariaDB, Redis and s3rver on loopback (scripts/services.sh)
#   2. build with warnings as errors; run every test (unit + integration) with CTest
#   3. run the unit tests under valgrind (no leaks, no errors)
#   4. build with ASan+UBSan; run every test again
#   5. the fuzz smoke run: the libFuzzer targets (clang, build-fuzz: they and what they link only),
#      each over its seed corpus and then for a few seconds (CTest label "fuzz"; test/fuzz/run.sh)
# Options: --no-asan, --no-valgrind, --no-fuzz (for quick local runs). Services are stopped at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
ASAN=1 VALGRIND=1 FUZZ=1
for a in "$@"; do
  case "$a" in
    --no-asan) ASAN=0 ;; --no-valgrind) VALGRIND=0 ;; --no-fuzz) FUZZ=0 ;;
    *) echo "unknown option $a" >&2; exit 2 ;;
  esac
done
JOBS=${JOBS:-2}

envfile=$(scripts/services.sh start)
trap 'scripts/services.sh stop >/dev/null 2>&1 || true' EXIT
# shellcheck disable=SC1090
. "$envfile"
export DUMPER_TEST_REQUIRE_SERVICES=1

step() { printf '\n==== %s ====\n' "$*"; }

step "build (warnings as errors)"
cmake -S . -B build -DDUMPER_WERROR=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$JOBS"

step "tests"
(cd build && ctest --output-on-failure -j"$JOBS")

if [ "$VALGRIND" = 1 ]; then
  step "unit tests under valgrind"
  for t in build/test/test_*; do
    [ -x "$t" ] || continue
    # the environment ctest gives them (test/CMakeLists.txt): some run the built dumper
    DUMPER_BIN="$PWD/build/bin" DUMPER_SRC="$PWD" DUMPER_BUILD="$PWD/build" valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect \
      --show-leak-kinds=definite,indirect "$t" >/dev/null 2>"$t.valgrind.log" || {
      cat "$t.valgrind.log"; echo "valgrind: $t failed"; exit 1; }
    echo "valgrind clean: $(basename "$t")"
  done
fi

if [ "$ASAN" = 1 ]; then
  step "build with ASan+UBSan"
  cmake -S . -B build-asan -DDUMPER_WERROR=ON -DDUMPER_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
  cmake --build build-asan -j"$JOBS"
  step "tests under ASan+UBSan"
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  (cd build-asan && ctest --output-on-failure -j"$JOBS")
fi
if [ "$FUZZ" = 1 ]; then
  # Any crash, leak, timeout, out-of-memory or sanitizer report fails the suite; the failing input
  # is kept in build-fuzz/fuzz-work/ (docs/testing.md, "Fuzzing").
  step "fuzz smoke run"
  cmake -S . -B build-fuzz -DDUMPER_FUZZ=ON -DCMAKE_C_COMPILER=clang -DDUMPER_WERROR=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
  cmake --build build-fuzz -j"$JOBS" --target fuzz
  (cd build-fuzz && ctest -L fuzz --output-on-failure -j"$JOBS")
fi
step "all tests passed"
