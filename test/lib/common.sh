# test/lib/common.sh - shared helpers for integration tests (bash). Source it first:
#   . "$DUMPER_SRC/test/lib/common.sh"
# Gives: $DUMPER (the CLI), $T (a per-test temp dir, removed on success), fail, check, need_service.
# Ports: ctest runs two tests at once, so no two tests may share a fixed port. Fixed offsets from
# DUMPER_TEST_PORT_BASE: +0..+3 the services (scripts/services.sh), +22..+26 redis.sh, +40
# pg_failures.sh, +41 my_failures.sh, +42 mongodb.sh, +45..+46 pg_hosts.sh (dead), +47..+48
# pg_standby.sh. Anything else binds a free_port (agent.sh).
set -euo pipefail
# a command that fails under set -e names itself instead of ending the test silently
trap 'echo "FAIL [${TEST_NAME:-test}]: line $LINENO: command failed (exit $?): $BASH_COMMAND" >&2' ERR

: "${DUMPER_SRC:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
: "${DUMPER_BIN:=$DUMPER_SRC/build/bin}"
DUMPER="$DUMPER_BIN/dumper"
DUMPERD="$DUMPER_BIN/dumperd"
TEST_NAME=$(basename "${BASH_SOURCE[1]:-$0}" .sh)
T=$(mktemp -d "/tmp/dumper-test-$TEST_NAME.XXXXXX")
chmod 755 "$T"

# Services started by scripts/services.sh: load their environment if the caller did not.
if [ -z "${DUMPER_TEST_DIR:-}" ]; then
  envfile=$(DUMPER_TEST_PORT_BASE=${DUMPER_TEST_PORT_BASE:-25400} "$DUMPER_SRC/scripts/services.sh" env)
  # shellcheck disable=SC1090
  [ -f "$envfile" ] && . "$envfile"
fi

_cleanup() {
  local rc=$?
  if [ "$rc" = 0 ] || [ "$rc" = 77 ]; then rm -rf "$T"; else echo "test files kept in $T" >&2; fi
}
trap _cleanup EXIT

fail() { echo "FAIL [$TEST_NAME]: $*" >&2; exit 1; }

# kill_ours SIG PID... : signal each PID only while it is still this test's process: a child of this
# shell, or running inside $T (the daemons and hosts a test starts there). A pid that has exited may
# already belong to another test's process (pid_max is 32768 on these machines and the suite forks
# thousands of processes), so clean-up never signals a bare pid.
kill_ours() {
  local sig=$1 p s ppid cwd; shift
  for p in "$@"; do
    s=$(cat "/proc/$p/stat" 2>/dev/null) || continue
    s=${s##*) }; read -r _ ppid _ <<<"$s"
    cwd=$(readlink "/proc/$p/cwd" 2>/dev/null) || cwd=
    if [ "$ppid" = "$$" ] || { [ -n "$cwd" ] && [ "${cwd#"$T"}" != "$cwd" ]; }; then
      kill "-$sig" "$p" 2>/dev/null || true
    fi
  done
}
note() { echo "[$TEST_NAME] $*" >&2; }

# check "description" cmd...   (runs cmd, fails the test with the description if it fails)
check() { local d=$1; shift; "$@" || fail "$d"; }
# quiet_check "description" cmd...   (cmd's output hidden unless it fails; not `check ... >/dev/null
# 2>&1`, which hides fail's own message too and ends the test without a word)
quiet_check() { local d=$1; shift; "$@" >"$T/quiet.out" 2>&1 || { tail -20 "$T/quiet.out" >&2; fail "$d"; }; }

# dumperd_port LOG PID: the port of a `dumperd serve --listen 127.0.0.1:0` from its log line (waits up
# to 30 s; fails when dumperd exits first). Port 0 because a port picked beforehand could be taken by
# another test meanwhile. (The space after the number: a line being written is not read half.)
dumperd_port() {
  local log=$1 pid=$2 port= _
  for _ in $(seq 300); do
    port=$(sed -n 's/.*dumperd listening on https\{0,1\}:\/\/127\.0\.0\.1:\([0-9]*\) .*/\1/p' "$log" 2>/dev/null)
    [ -n "$port" ] && { echo "$port"; return 0; }
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  return 1
}

# expect_fail CODE "description" cmd...   (cmd must exit with CODE and print exactly one stderr line)
expect_fail() {
  local want=$1 d=$2; shift 2
  local rc=0
  "$@" >"$T/out" 2>"$T/err" || rc=$?
  [ "$rc" = "$want" ] || { cat "$T/err" >&2; fail "$d: exit $rc, expected $want"; }
  [ "$(wc -l <"$T/err")" = 1 ] || { cat "$T/err" >&2; fail "$d: expected one error line"; }
}

# need_service pg|mariadb|redis|s3 : skip (77) when not running, unless the suite requires it.
need_service() {
  local v="DUMPER_TEST_HAVE_$(echo "$1" | tr a-z A-Z)"
  if [ -z "${!v:-}" ]; then
    if [ -n "${DUMPER_TEST_REQUIRE_SERVICES:-}" ]; then fail "service $1 is not running (scripts/services.sh start $1)"; fi
    echo "skip: service $1 not running" >&2; exit 77
  fi
}
