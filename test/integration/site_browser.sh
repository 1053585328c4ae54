#!/usr/bin/env bash
# site_browser.sh - the dashboard in headless Chromium (test/browser/dashboard.test.js, playwright-core):
# a real dumperd, a real example host with the agent, a real backup. Screenshots: build/artifacts/site/.
# Skips (77) without Chromium unless DUMPER_TEST_REQUIRE_SERVICES is set.
. "$(dirname "$0")/../lib/common.sh"
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
if [ ! -x "$CHROMIUM" ] || ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  [ -z "${DUMPER_TEST_REQUIRE_SERVICES:-}" ] || fail "chromium, node or npm missing (scripts/install-deps.sh)"
  echo "skip: chromium, node or npm missing" >&2; exit 77
fi
NODE_DIR=${DUMPER_NODE_DIR:-$DUMPER_SRC/build/node}
if [ ! -f "$NODE_DIR/node_modules/playwright-core/package.json" ]; then
  mkdir -p "$NODE_DIR"
  (cd "$NODE_DIR" && npm install --no-audit --no-fund --silent playwright-core@1 >/dev/null 2>&1) ||
    fail "npm install playwright-core failed"
fi
ARTIFACTS=${DUMPER_ARTIFACTS:-$DUMPER_BIN/../artifacts}/site
rm -rf "$ARTIFACTS"; mkdir -p "$ARTIFACTS"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
PASSWORD=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
printf '%s\n' "$PASSWORD" | "$DUMPERD" user create admin --data "$T/var" 2>/dev/null || fail "user create"
sqlite3 "$T/sample.db" "CREATE TABLE users(id INTEGER PRIMARY KEY, email TEXT);
  WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000)
  INSERT INTO users(email) SELECT 'user' || i || '@example.com' FROM n;"
# Short poll intervals so "Back up now" is picked up within seconds.
"$DUMPERD" serve --data "$T/var" --listen "127.0.0.1:0" --primary-interval 1 --lease 5 </dev/null >"$T/dumperd.log" 2>&1 &
DPID=$!
stop_dumperd() { local rc=$?; kill_ours TERM "$DPID"; wait "$DPID" 2>/dev/null || true; (exit $rc); _cleanup; }
trap stop_dumperd EXIT
PORT=$(dumperd_port "$T/dumperd.log" "$DPID") || { cat "$T/dumperd.log" >&2; fail "dumperd did not start"; }

rc=0
SITE_URL="http://127.0.0.1:$PORT" SITE_USER=admin SITE_PASSWORD=$PASSWORD ARTIFACTS=$ARTIFACTS TMPDIR_TEST=$T \
  HOST_BIN="$DUMPER_BIN/dumper-example-host" HOST_PORT=$(free_port) DUMPER=$DUMPER SAMPLE_DB="$T/sample.db" \
  DUMPERD=$DUMPERD DUMPERD_DATA="$T/var" \
  CHROMIUM=$CHROMIUM NODE_PATH="$NODE_DIR/node_modules" PLAYWRIGHT_CORE="$NODE_DIR/node_modules/playwright-core" \
  timeout 180 node "$DUMPER_SRC/test/browser/dashboard.test.js" || rc=$?
if [ "$rc" != 0 ]; then
  tail -20 "$T/dumperd.log" >&2; tail -20 "$T/agent.log" >&2 2>/dev/null || true
  fail "browser test failed (screenshots in $ARTIFACTS)"
fi
kill "$DPID"; drc=0; wait "$DPID" || drc=$?
[ "$drc" = 0 ] || { tail -20 "$T/dumperd.log" >&2; fail "dumperd exited $drc on SIGTERM"; }
! grep -q "$PASSWORD" "$T/dumperd.log" || fail "the password is in dumperd's log"
ls "$ARTIFACTS"/*.png >/dev/null || fail "no screenshots"
