#!/usr/bin/env bash
# Start/stop the servers the tests use, on loopback, with throwaway data directories.
#
#   scripts/services.sh start [pg] [mariadb] [redis] [s3]   (default: all)
#   scripts/services.sh stop
#   scripts/services.sh env        print the environment file path
#
# Ports: DUMPER_TEST_PORT_BASE (default 25400): PostgreSQL +0, MariaDB +1, Redis +2, S3 (s3rver) +3.
# Data: DUMPER_TEST_DIR (default /tmp/dumper-services-<port base>). `start` writes $DIR/env.sh with
# DUMPER_TEST_* variables (URLs, ports, the test password); tests read them from the environment.
set -euo pipefail

BASE=${DUMPER_TEST_PORT_BASE:-25400}
DIR=${DUMPER_TEST_DIR:-/tmp/dumper-services-$BASE}
PW=${DUMPER_TEST_PASSWORD:-dumper-test-pw}
PG_PORT=$BASE; MY_PORT=$((BASE + 1)); REDIS_PORT=$((BASE + 2)); S3_PORT=$((BASE + 3))
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)
ROOT=$(cd "$(dirname "$0")/.." && pwd)

log() { echo "services: $*" >&2; }

wait_for() { # wait_for SECONDS CMD...
  local t=$1; shift
  for _ in $(seq 1 $((t * 10))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  return 1
}

start_pg() {
  local d=$DIR/pg
  if [ -f "$d/data/postmaster.pid" ] && runuser -u postgres -- "$PGBIN/pg_ctl" -D "$d/data" status >/dev/null 2>&1; then
    log "postgresql already running on $PG_PORT"; return 0
  fi
  rm -rf "$d"; mkdir -p "$d"; chown postgres: "$d"; chmod 700 "$d"
  printf '%s\n' "$PW" > "$d/pw"; chown postgres: "$d/pw"
  runuser -u postgres -- "$PGBIN/initdb" -D "$d/data" -U postgres --pwfile="$d/pw" \
    --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >"$d/initdb.log" 2>&1
  rm -f "$d/pw"
  runuser -u postgres -- "$PGBIN/pg_ctl" -D "$d/data" -l "$d/server.log" -w -t 30 \
    -o "-p $PG_PORT -k $d -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off -c max_connections=200" start >/dev/null
  log "postgresql on 127.0.0.1:$PG_PORT (user postgres)"
}

stop_pg() {
  [ -d "$DIR/pg/data" ] || return 0
  runuser -u postgres -- "$PGBIN/pg_ctl" -D "$DIR/pg/data" -m immediate -w stop >/dev/null 2>&1 || true
}

start_mariadb() {
  local d=$DIR/mariadb
  if [ -f "$d/mariadb.pid" ] && kill -0 "$(cat "$d/mariadb.pid")" 2>/dev/null; then
    log "mariadb already running on $MY_PORT"; return 0
  fi
  rm -rf "$d"; mkdir -p "$d"
  mariadb-install-db --no-defaults --datadir="$d/data" --user=root --auth-root-authentication-method=normal \
    --skip-test-db >"$d/install.log" 2>&1
  (exec mariadbd --no-defaults --user=root --datadir="$d/data" --bind-address=127.0.0.1 --port="$MY_PORT" \
    --socket="$d/mariadb.sock" --pid-file="$d/mariadb.pid" --log-error="$d/server.log" \
    --innodb-flush-log-at-trx-commit=0 --innodb-buffer-pool-size=256M --skip-name-resolve \
    </dev/null >/dev/null 2>&1 &)
  wait_for 60 mariadb --no-defaults -uroot --socket="$d/mariadb.sock" -e 'select 1' || { log "mariadb did not start"; tail "$d/server.log" >&2; return 1; }
  mariadb --no-defaults -uroot --socket="$d/mariadb.sock" <<SQL
CREATE USER IF NOT EXISTS 'dumper'@'%' IDENTIFIED BY '$PW';
GRANT ALL PRIVILEGES ON *.* TO 'dumper'@'%' WITH GRANT OPTION;
FLUSH PRIVILEGES;
SQL
  log "mariadb on 127.0.0.1:$MY_PORT (user dumper)"
}

stop_mariadb() {
  local p=$DIR/mariadb/mariadb.pid
  [ -f "$p" ] || return 0
  local pid; pid=$(cat "$p" 2>/dev/null || true)
  [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null || true
}

start_redis() {
  local d=$DIR/redis
  if [ -f "$d/redis.pid" ] && kill -0 "$(cat "$d/redis.pid")" 2>/dev/null; then
    log "redis already running on $REDIS_PORT"; return 0
  fi
  rm -rf "$d"; mkdir -p "$d"
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes \
    --dir "$d" --pidfile "$d/redis.pid" --logfile "$d/server.log" --requirepass "$PW" >/dev/null
  wait_for 20 redis-cli -p "$REDIS_PORT" --no-auth-warning -a "$PW" ping || { log "redis did not start"; return 1; }
  log "redis on 127.0.0.1:$REDIS_PORT (password)"
}

stop_redis() {
  local p=$DIR/redis/redis.pid
  [ -f "$p" ] && kill "$(cat "$p")" 2>/dev/null || true
}

start_s3() {
  local d=$DIR/s3
  if [ -f "$d/s3rver.pid" ] && kill -0 "$(cat "$d/s3rver.pid")" 2>/dev/null; then
    log "s3rver already running on $S3_PORT"; return 0
  fi
  local node_dir=${DUMPER_NODE_DIR:-$ROOT/build/node}
  if [ ! -x "$node_dir/node_modules/.bin/s3rver" ]; then
    mkdir -p "$node_dir"
    (cd "$node_dir" && npm install --no-audit --no-fund --silent s3rver@3 >/dev/null 2>&1) || { log "npm install s3rver failed"; return 1; }
  fi
  rm -rf "$d"; mkdir -p "$d/data"
  # Fully detached (no inherited stdio) so callers reading our output never wait on s3rver.
  # --openssl-legacy-provider: s3rver encrypts ListObjectsV2 continuation tokens with DES, which
  # Node 20's OpenSSL 3 refuses otherwise (every truncated listing would fail with HTTP 500).
  # --service-endpoint localhost: virtual-host requests to <bucket>.s3.localhost (curl resolves
  # *.localhost to loopback) address <bucket>; requests to 127.0.0.1 stay path-style.
  NODE_OPTIONS=--openssl-legacy-provider setsid node "$node_dir/node_modules/s3rver/bin/s3rver.js" -d "$d/data" -a 127.0.0.1 -p "$S3_PORT" \
    --service-endpoint localhost --configure-bucket dumper-test --silent </dev/null >"$d/server.log" 2>&1 &
  echo $! > "$d/s3rver.pid"
  wait_for 30 curl -sf "http://127.0.0.1:$S3_PORT/" || { log "s3rver did not start"; cat "$d/server.log" >&2; return 1; }
  log "s3rver on 127.0.0.1:$S3_PORT (bucket dumper-test, keys S3RVER/S3RVER)"
}

stop_s3() {
  local p=$DIR/s3/s3rver.pid
  [ -f "$p" ] && kill "$(cat "$p")" 2>/dev/null || true
}

write_env() {
  cat > "$DIR/env.sh" <<ENV
export DUMPER_TEST_DIR='$DIR'
export DUMPER_TEST_PASSWORD='$PW'
export DUMPER_TEST_PG_PORT=$PG_PORT
export DUMPER_TEST_PG_HOST=127.0.0.1
export DUMPER_TEST_PG_SOCKET_DIR='$DIR/pg'
export DUMPER_TEST_PG_BIN='$PGBIN'
export DUMPER_TEST_MYSQL_PORT=$MY_PORT
export DUMPER_TEST_MYSQL_SOCKET='$DIR/mariadb/mariadb.sock'
export DUMPER_TEST_REDIS_PORT=$REDIS_PORT
export DUMPER_TEST_REDIS_DIR='$DIR/redis'
export DUMPER_TEST_S3_PORT=$S3_PORT
export DUMPER_TEST_S3_ENDPOINT='http://127.0.0.1:$S3_PORT'
export DUMPER_TEST_S3_VHOST_ENDPOINT='http://s3.localhost:$S3_PORT'
export DUMPER_TEST_S3_BUCKET=dumper-test
ENV
  for s in "${started[@]}"; do echo "export DUMPER_TEST_HAVE_$(echo "$s" | tr a-z A-Z)=1" >> "$DIR/env.sh"; done
}

cmd=${1:-}; shift || true
case "$cmd" in
  start)
    mkdir -p "$DIR"; chmod 755 "$DIR"
    want=("$@"); [ ${#want[@]} -gt 0 ] || want=(pg mariadb redis s3)
    started=()
    [ -f "$DIR/started" ] && mapfile -t started < "$DIR/started"
    for s in "${want[@]}"; do
      case "$s" in pg|mariadb|redis|s3) "start_$s"; started+=("$s");; *) log "unknown service $s"; exit 2;; esac
    done
    printf '%s\n' "${started[@]}" | sort -u > "$DIR/started"
    mapfile -t started < "$DIR/started"
    write_env
    echo "$DIR/env.sh"
    ;;
  stop)
    stop_s3; stop_redis; stop_mariadb; stop_pg
    rm -f "$DIR/started" "$DIR/env.sh"
    ;;
  env) echo "$DIR/env.sh" ;;
  *) echo "usage: $0 start [pg] [mariadb] [redis] [s3] | stop | env" >&2; exit 2 ;;
esac
