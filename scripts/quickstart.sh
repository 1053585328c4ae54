#!/usr/bin/env bash
# Quick start on a fresh Debian machine: install what is needed, build Dumper, run a real first backup
# with the CLI (SQLite database -> local backup directory, verified and restored), then run the whole
# system: dumperd on its embedded defaults (http://127.0.0.1:8477, state and backups under ./var), an
# app and an admin user for the dashboard, the example host (examples/host.c) with the embedded agent
# on the sample database, and a first backup through the agent. Prints the dashboard URL and login.
#
#   scripts/quickstart.sh          start (idempotent: a second run reuses what exists and runs)
#   scripts/quickstart.sh stop     stop the example host and dumperd
#
# Everything lands under ./var: sample.db, backups/, dumperd.db, dumperd.{pid,log}, quickstart/ (the
# app key, the host's pid and logs). Environment: DUMPER_QS_PORT (dumperd, default 8477),
# DUMPER_QS_HOST_PORT (example host, default 8480), DUMPER_QS_SKIP_DEPS=1 (skip apt).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
VAR=$ROOT/var
QS=$VAR/quickstart
PORT=${DUMPER_QS_PORT:-8477}
HOST_PORT=${DUMPER_QS_HOST_PORT:-8480}
URL=http://127.0.0.1:$PORT
DUMPER=$ROOT/build/bin/dumper
DUMPERD=$ROOT/build/bin/dumperd
HOST_BIN=$ROOT/build/bin/dumper-example-host
APP=quickstart

running() { # running PIDFILE NAME: the pid file names a live process whose command line has NAME
  [ -f "$1" ] || return 1
  local pid; pid=$(cat "$1")
  kill -0 "$pid" 2>/dev/null && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "$2"
}

stop_one() { # stop_one PIDFILE NAME
  if running "$1" "$2"; then
    local pid; pid=$(cat "$1")
    kill "$pid"
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    echo "stopped $2 (pid $pid)"
  fi
  rm -f "$1"
}

if [ "${1:-}" = stop ]; then
  stop_one "$QS/host.pid" dumper-example-host
  stop_one "$VAR/dumperd.pid" dumperd
  exit 0
elif [ -n "${1:-}" ] && [ "$1" != start ]; then
  echo "usage: scripts/quickstart.sh [start|stop]" >&2; exit 2
fi

[ -n "${DUMPER_QS_SKIP_DEPS:-}" ] || bash scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" >/dev/null

mkdir -p "$VAR" "$QS"
chmod 700 "$QS"
DB=$VAR/sample.db
if [ ! -s "$DB" ]; then
  sqlite3 "$DB" <<'SQL'
PRAGMA journal_mode=WAL;
CREATE TABLE users(id INTEGER PRIMARY KEY, email TEXT UNIQUE NOT NULL, created_at TEXT DEFAULT CURRENT_TIMESTAMP);
CREATE TABLE orders(id INTEGER PRIMARY KEY, user_id INTEGER REFERENCES users(id), total_cents INTEGER, note TEXT);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000)
INSERT INTO users(email) SELECT 'user' || i || '@example.com' FROM n;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5000)
INSERT INTO orders(user_id, total_cents, note) SELECT 1 + i % 1000, i * 37 % 10000, 'order #' || i FROM n;
CREATE INDEX orders_user ON orders(user_id);
SQL
fi

echo "== 1. the dumper CLI: backing up $DB"
BACKUP=$("$DUMPER" backup "sqlite://$DB" --to "$VAR/backups")
echo "   backup:   $BACKUP"
echo "   manifest: $BACKUP.json"
echo "== verifying"
"$DUMPER" verify "$BACKUP"
echo "== restoring into var/restored.db"
rm -f "$VAR/restored.db"
"$DUMPER" restore "$BACKUP" "sqlite://$VAR/restored.db"
if [ "$(sqlite3 "$DB" .dump | md5sum)" = "$(sqlite3 "$VAR/restored.db" .dump | md5sum)" ]; then
  echo "   restored database is identical to the source"
else
  echo "   restored database differs from the source" >&2; exit 1
fi

echo "== 2. the control plane: dumperd on $URL"
if running "$VAR/dumperd.pid" dumperd; then
  echo "   already running (pid $(cat "$VAR/dumperd.pid"))"
else
  # Short poll intervals so the demo's backups start within seconds (production default: 300 s).
  setsid "$DUMPERD" serve --data "$VAR" --listen "127.0.0.1:$PORT" --primary-interval 5 --lease 15 \
    </dev/null >>"$VAR/dumperd.log" 2>&1 &
  echo $! >"$VAR/dumperd.pid"
  for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.1; done
  running "$VAR/dumperd.pid" dumperd || { tail -5 "$VAR/dumperd.log" >&2; echo "dumperd did not start" >&2; exit 1; }
  echo "   started (pid $(cat "$VAR/dumperd.pid"), log var/dumperd.log)"
fi

if [ -s "$QS/app.key" ]; then
  echo "   app '$APP' exists (key in var/quickstart/app.key)"
else
  if "$DUMPERD" app list --data "$VAR" | cut -f1 | grep -qx "$APP"; then
    echo "app '$APP' exists but var/quickstart/app.key is gone: remove var/ to start over" >&2; exit 1
  fi
  (umask 077 && "$DUMPERD" app create "$APP" --data "$VAR" >"$QS/app.key" 2>/dev/null)
  echo "   app '$APP' created (key in var/quickstart/app.key)"
fi
PASSWORD=""
if "$DUMPERD" user list --data "$VAR" | grep -qx admin; then
  echo "   dashboard user 'admin' exists (forgot the password? build/bin/dumperd user passwd admin)"
else
  PASSWORD=$(head -c 15 /dev/urandom | base64 | tr -d '/+=')
  printf '%s\n' "$PASSWORD" | "$DUMPERD" user create admin --data "$VAR" 2>/dev/null
  echo "   dashboard user 'admin' created"
fi

echo "== 3. the example host with the embedded agent on var/sample.db"
if running "$QS/host.pid" dumper-example-host; then
  echo "   already running (pid $(cat "$QS/host.pid"))"
else
  (cd "$QS" && DUMPER_APP_KEY=$(cat "$QS/app.key") exec setsid "$HOST_BIN" --port "$HOST_PORT" --api "$URL" \
     --dumper "$DUMPER" --database "sqlite://$DB" --key main --log "$QS/agent.log" \
     </dev/null >>"$QS/host.log" 2>&1) &
  echo $! >"$QS/host.pid"
  sleep 0.3
  running "$QS/host.pid" dumper-example-host || { tail -5 "$QS/host.log" >&2; echo "the example host did not start" >&2; exit 1; }
  echo "   started (pid $(cat "$QS/host.pid"), http://127.0.0.1:$HOST_PORT/, agent log var/quickstart/agent.log)"
fi
for i in $(seq 150); do
  "$DUMPERD" agents "$APP" --data "$VAR" 2>/dev/null | grep -q primary && break
  [ "$i" = 150 ] && { tail -5 "$QS/agent.log" >&2; echo "the agent did not register" >&2; exit 1; }
  sleep 0.2
done
echo "   the agent registered as primary"

echo "== 4. a first backup through the agent"
good() { "$DUMPERD" backups "$APP" --data "$VAR" 2>/dev/null | awk -F'\t' '$4 == "good"' | wc -l; }
before=$(good)
"$DUMPERD" backup now "$APP" --data "$VAR"
for i in $(seq 300); do
  [ "$(good)" -gt "$before" ] && break
  if [ "$i" = 300 ]; then tail -5 "$QS/agent.log" >&2; echo "no good backup after 60 s" >&2; exit 1; fi
  sleep 0.2
done
"$DUMPERD" backups "$APP" --data "$VAR" | head -1 | awk -F'\t' '{printf "   %s %s %s, %s bytes: %s\n", $1, $3, $4, $5, $6}'

cat <<TXT

Done. Dumper is running:
  dashboard:         $URL/
  login:             admin / ${PASSWORD:-(the password printed by the first run)}
  app:               $APP (key in var/quickstart/app.key)
  example host:      http://127.0.0.1:$HOST_PORT/  (agent log var/quickstart/agent.log)
  dumperd log:       var/dumperd.log
  metrics:           $URL/metrics
  CLI backups:       var/backups/ (dumper list var/backups)
Stop everything:     scripts/quickstart.sh stop
TXT
[ -z "$PASSWORD" ] || echo "The password is shown only this once."
