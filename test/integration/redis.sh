#!/usr/bin/env bash
# redis.sh - Redis source against real redis-server 7 instances started here (own config files, so
# no password ever sits in a command line): round trip over SYNC and over the BGSAVE fallback,
# loading the restored RDB into a fresh server and comparing every key, value and TTL; failures
# (wrong password, unreachable, server killed mid-transfer, corrupt/short snapshot from a test
# double) give one redacted error line, the documented exit code and no backup left behind.
. "$DUMPER_SRC/test/lib/common.sh"
need_service redis
command -v redis-server >/dev/null || fail "redis-server missing"

PW="nosql-secret-$$-$RANDOM"
export REDISCLI_AUTH=$PW                # for redis-cli and dumper: never in argv
BASEP=$(( ${DUMPER_TEST_REDIS_PORT:-25402} + 20 ))
P_MAIN=$BASEP P_FRESH=$((BASEP + 1)) P_NOSYNC=$((BASEP + 2)) P_KILL=$((BASEP + 3)) P_DOUBLE=$((BASEP + 4))
PIDS=()

start_redis() { # start_redis NAME PORT [extra config lines...]
  local name=$1 port=$2; shift 2
  mkdir -p "$T/$name"
  { echo "port $port"; echo "bind 127.0.0.1"; echo "dir $T/$name"; echo "dbfilename dump.rdb"
    echo "save \"\""; echo "appendonly no"; echo "daemonize yes"; echo "pidfile $T/$name/redis.pid"
    echo "logfile $T/$name/server.log"; echo "requirepass $PW"; printf '%s\n' "$@"; } > "$T/$name/redis.conf"
  chmod 600 "$T/$name/redis.conf"
  redis-server "$T/$name/redis.conf" >/dev/null
  for _ in $(seq 400); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.05; done
  redis-cli -p "$port" ping | grep -q PONG || fail "redis $name did not start"
  PIDS+=("$(cat "$T/$name/redis.pid")")
}
stop_all() { kill_ours KILL "${PIDS[@]}"; }
trap 'rc=$?; stop_all; (exit $rc); _cleanup' EXIT

populate() { # populate PORT
  local port=$1
  {
    echo 'SELECT 0'
    echo 'SET s1 "hello world"'
    echo 'SET bin "\x00\x01\xfe\xff binary\r\n"'
    echo 'SET n 12345'
    printf 'SET big %s\n' "$(head -c 6000 /dev/zero | tr '\0' 'x')"
    echo 'SET ttl1 expiring EX 3600'
    echo 'HSET h f1 v1 f2 v2 f3 "with space"'
    echo 'EXPIRE h 7200'
    printf 'HSET bighash'; for i in $(seq 600); do printf ' f%d val%d' "$i" "$i"; done; echo
    echo 'RPUSH l a b c "d e" a'
    printf 'RPUSH biglist'; for i in $(seq 1000); do printf ' item%d' "$i"; done; echo
    echo 'SADD set x y z'
    echo 'SADD intset 3 1 2 100000'
    printf 'SADD bigset'; for i in $(seq 700); do printf ' m%d' "$i"; done; echo
    echo 'ZADD z 1 one 2.5 two -3 minus 1 uno'
    printf 'ZADD bigz'; for i in $(seq 300); do printf ' %d z%d' "$i" "$i"; done; echo
    echo 'XADD st 1-1 a 1 b 2'
    echo 'XADD st 2-0 c 3'
    echo 'SELECT 3'
    echo 'SET other "in db three"'
    echo 'HSET h3 a b'
    echo 'PEXPIRE h3 900000'
  } | redis-cli -p "$port" >/dev/null
}

# Every key of every database: type, value (sorted where order is not part of the type), TTL flag.
dump_keys() { # dump_keys PORT
  local port=$1 db k t
  for db in $(seq 0 15); do
    for k in $(redis-cli -p "$port" -n "$db" --scan | sort); do
      t=$(redis-cli -p "$port" -n "$db" TYPE "$k")
      echo "== db$db $k $t"
      case $t in
        string) redis-cli --no-raw -p "$port" -n "$db" GET "$k" ;;
        hash) redis-cli --no-raw -p "$port" -n "$db" HGETALL "$k" | sed 's/^ *[0-9]*) //' | paste - - | sort ;;
        list) redis-cli --no-raw -p "$port" -n "$db" LRANGE "$k" 0 -1 ;;
        set) redis-cli --no-raw -p "$port" -n "$db" SMEMBERS "$k" | sed 's/^ *[0-9]*) //' | sort ;;
        zset) redis-cli --no-raw -p "$port" -n "$db" ZRANGE "$k" 0 -1 WITHSCORES ;;
        stream) redis-cli --no-raw -p "$port" -n "$db" XRANGE "$k" - + ;;
        *) fail "unexpected type $t" ;;
      esac
      local ttl; ttl=$(redis-cli -p "$port" -n "$db" PTTL "$k")
      if [ "$ttl" -gt 0 ]; then echo "ttl yes"; else echo "ttl $ttl"; fi
    done
  done
}

no_backup_left() { # no_backup_left DIR WHAT
  [ -z "$(find "$1" -type f 2>/dev/null)" ] || { ls -la "$1" >&2; fail "$2: files left in $1"; }
}

# Load an RDB into a fresh server and compare with the expected key dump.
load_and_compare() { # load_and_compare RDB EXPECTED WHAT
  local rdb=$1 want=$2 what=$3
  rm -rf "$T/fresh"; mkdir -p "$T/fresh"; cp "$rdb" "$T/fresh/dump.rdb"
  start_redis fresh "$P_FRESH"
  dump_keys "$P_FRESH" > "$T/got.txt"
  local fpid; fpid=$(cat "$T/fresh/redis.pid")
  redis-cli -p "$P_FRESH" shutdown nosave >/dev/null 2>&1 || true
  # the next load_and_compare reuses the port: wait until this server is gone, not just silent
  for _ in $(seq 400); do kill -0 "$fpid" 2>/dev/null || break; sleep 0.05; done
  ! kill -0 "$fpid" 2>/dev/null || fail "$what: the fresh redis did not shut down"
  diff -u "$want" "$T/got.txt" >&2 || fail "$what: restored keys differ"
  [ "$(grep -c '^== ' "$T/got.txt")" -ge 17 ] || fail "$what: too few keys restored"
}

# ---- round trip over SYNC ----
start_redis main "$P_MAIN"
populate "$P_MAIN"
dump_keys "$P_MAIN" > "$T/want.txt"
grep -q '^ttl yes' "$T/want.txt" || fail "test data has no TTLs"
out=$("$DUMPER" backup "redis://127.0.0.1:$P_MAIN/0" --to "$T/b1" --json)
echo "$out" | grep -q '"format":"rdb"' || fail "format is not rdb: $out"
bk=$(echo "$out" | sed 's/.*"path":"\([^"]*\)".*/\1/')
check "verify" "$DUMPER" verify "$bk" >/dev/null
"$DUMPER" restore "$bk" "redis://127.0.0.1:$P_MAIN" --rdb-file "$T/restored.rdb" 2>"$T/restore.err" ||
  { cat "$T/restore.err" >&2; fail "restore"; }
grep -q 'CONFIG GET dir' "$T/restore.err" || fail "restore printed no loading instructions"
head -c 9 "$T/restored.rdb" | grep -q '^REDIS00' || fail "restored file is not an rdb"
load_and_compare "$T/restored.rdb" "$T/want.txt" "sync round trip"
note "sync round trip ok ($(grep -c '^== ' "$T/want.txt") keys)"

# Restore refuses an existing file unless --force; without --rdb-file it says what to do.
expect_fail 6 "restore over existing file" "$DUMPER" restore "$bk" "redis://127.0.0.1" --rdb-file "$T/restored.rdb"
check "restore --force" "$DUMPER" restore "$bk" "redis://127.0.0.1" --rdb-file "$T/restored.rdb" --force 2>/dev/null
expect_fail 2 "restore without --rdb-file" "$DUMPER" restore "$bk" "redis://127.0.0.1"
grep -q -- '--rdb-file' "$T/err" || fail "missing --rdb-file hint: $(cat "$T/err")"

# Password from DUMPER_DB_PASSWORD works too.
check "DUMPER_DB_PASSWORD" env -u REDISCLI_AUTH DUMPER_DB_PASSWORD="$PW" "$DUMPER" backup "redis://127.0.0.1:$P_MAIN" --to "$T/b2" >/dev/null

# ---- failures: one line, exit code, redacted, nothing left ----
expect_fail 11 "wrong password" "$DUMPER" backup "redis://:wrong-pw@127.0.0.1:$P_MAIN" --to "$T/f1"
grep -q "127.0.0.1:$P_MAIN" "$T/err" || fail "error does not name the server: $(cat "$T/err")"
grep -q 'wrong-pw' "$T/err" && fail "password shown in error"
grep -q 'authentication failed' "$T/err" || fail "unclear auth error: $(cat "$T/err")"
no_backup_left "$T/f1" "wrong password"
expect_fail 11 "no password" env -u REDISCLI_AUTH "$DUMPER" backup "redis://127.0.0.1:$P_MAIN" --to "$T/f1"
expect_fail 12 "unreachable" "$DUMPER" backup "redis://127.0.0.1:$P_DOUBLE" --to "$T/f2"
grep -q "cannot connect to redis at 127.0.0.1:$P_DOUBLE" "$T/err" || fail "unclear connect error: $(cat "$T/err")"
no_backup_left "$T/f2" "unreachable"
expect_fail 4 "rediss" "$DUMPER" backup "rediss://127.0.0.1:$P_MAIN" --to "$T/f2"
expect_fail 2 "unknown format" "$DUMPER" backup "redis://127.0.0.1:$P_MAIN" --to "$T/f2" --format aof

# ---- BGSAVE fallback: SYNC and PSYNC renamed away, server on loopback ----
start_redis nosync "$P_NOSYNC" 'rename-command SYNC ""' 'rename-command PSYNC ""'
populate "$P_NOSYNC"
dump_keys "$P_NOSYNC" > "$T/want-nosync.txt"
bk2=$(DUMPER_DEBUG=1 "$DUMPER" backup "redis://localhost:$P_NOSYNC" --to "$T/b3" 2>"$T/nosync.log") ||
  { cat "$T/nosync.log" >&2; fail "fallback backup"; }
grep -q 'falling back to BGSAVE' "$T/nosync.log" || fail "fallback not taken"
check "fallback restore" "$DUMPER" restore "$bk2" "redis://localhost" --rdb-file "$T/nosync.rdb" 2>/dev/null
load_and_compare "$T/nosync.rdb" "$T/want-nosync.txt" "bgsave fallback round trip"
note "bgsave fallback ok"

# An ACL user (user in the URL, password from REDISCLI_AUTH) without +sync: NOPERM on SYNC, so the
# loopback fallback is taken; the snapshot equals the main server's data.
redis-cli -p "$P_MAIN" ACL SETUSER backup on ">$PW" '~*' '&*' +@all -sync -psync >/dev/null
bk3=$(DUMPER_DEBUG=1 "$DUMPER" backup "redis://backup@127.0.0.1:$P_MAIN" --to "$T/b4" 2>"$T/acl.log") ||
  { cat "$T/acl.log" >&2; fail "acl user backup"; }
grep -q 'NOPERM' "$T/acl.log" && grep -q 'falling back to BGSAVE' "$T/acl.log" || fail "acl user: fallback not taken"
check "acl restore" "$DUMPER" restore "$bk3" "redis://127.0.0.1" --rdb-file "$T/acl.rdb" 2>/dev/null
load_and_compare "$T/acl.rdb" "$T/want.txt" "acl user round trip"
note "acl user without +sync ok"

# ---- corrupt / short / non-RDB snapshots from a test double ----
for mode in corrupt:9 short:10 nullrdb:9; do
  m=${mode%:*} code=${mode#*:}
  rm -f "$T/double.ready"
  /usr/bin/python3 "$DUMPER_SRC/test/doubles/redis_sync_double.py" "$P_DOUBLE" "$T/restored.rdb" "$m" "$T/double.ready" \
    </dev/null >"$T/double.log" 2>&1 &
  dpid=$!
  for _ in $(seq 400); do [ -f "$T/double.ready" ] && break; sleep 0.05; done
  [ -f "$T/double.ready" ] || fail "$m: the test double did not start: $(cat "$T/double.log")"
  expect_fail "$code" "snapshot $m" "$DUMPER" backup "redis://127.0.0.1:$P_DOUBLE" --to "$T/f-$m"
  grep -q "redis at 127.0.0.1:$P_DOUBLE" "$T/err" || fail "$m: error does not name the server"
  no_backup_left "$T/f-$m" "snapshot $m"
  note "snapshot $m: $(cat "$T/err")"
  kill "$dpid" 2>/dev/null || true; wait "$dpid" 2>/dev/null || true
done

# ---- server killed mid-transfer of a large snapshot; no password in any cmdline meanwhile ----
start_redis kill "$P_KILL" 'rdbcompression no' 'enable-debug-command yes'
redis-cli -p "$P_KILL" DEBUG POPULATE 1000000 key 200 >/dev/null
kpid=$(cat "$T/kill/redis.pid")
printf '%s\n' "$PW" > "$T/pw.pattern"
"$DUMPER" backup "redis://127.0.0.1:$P_KILL" --to "$T/f3" --compress none >/dev/null 2>"$T/kill.err" &
bpid=$!
seen_running=0 killed=0
for _ in $(seq 3000); do
  kill -0 "$bpid" 2>/dev/null || break
  seen_running=1
  # No process (dumper, redis, anyone) shows the password in its command line.
  # (The pattern comes from a file: grep's own argv must not hold it either.)
  # (not `grep -l ... | grep -q .`: under pipefail a SIGPIPE of the first grep would hide a match)
  hits=$(grep -l -a -F -f "$T/pw.pattern" /proc/[0-9]*/cmdline 2>/dev/null || true)
  [ -z "$hits" ] || fail "password visible in a cmdline: $(echo "$hits" | head -3)"
  rchar=$(awk '/^rchar/ {print $2}' "/proc/$bpid/io" 2>/dev/null || echo 0)
  if [ "${rchar:-0}" -gt 30000000 ]; then kill -9 "$kpid"; killed=1; break; fi
  sleep 0.01
done
rc=0; wait "$bpid" || rc=$?
[ "$seen_running" = 1 ] && [ "$killed" = 1 ] || fail "backup finished before the server could be killed"
[ "$rc" = 10 ] || { cat "$T/kill.err" >&2; fail "killed server: exit $rc, expected 10"; }
[ "$(wc -l <"$T/kill.err")" = 1 ] || { cat "$T/kill.err" >&2; fail "killed server: expected one error line"; }
grep -q "connection lost after [0-9]* of [0-9]* snapshot bytes" "$T/kill.err" || fail "unclear error: $(cat "$T/kill.err")"
no_backup_left "$T/f3" "killed server"
note "killed mid-transfer: $(cat "$T/kill.err")"
echo "redis: ok"
