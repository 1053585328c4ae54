#!/usr/bin/env bash
# restore_hostile_redis.sh - a Redis restore only writes the RDB file it is given (--rdb-file) and
# sends nothing to any server, whatever the snapshot holds. A real snapshot (redis-server 7, taken
# by `dumper backup`) with keys and values spelling commands (CONFIG SET dir ..., raw RESP) and a
# Lua function library restores byte for byte into that one file; the server named in the URL sees
# no command (INFO commandstats, CONFIG GET dir unchanged). Planted non-RDB bytes (a shell script) and
# an RDB with a wrong CRC-64 are refused with one line (exit 9) and leave no file.
. "$(dirname "$0")/../lib/common.sh"
. "$DUMPER_SRC/test/lib/plant.sh"
. "$DUMPER_SRC/test/lib/agent.sh"
need_service redis

C="$T/canary"; O="$T/restored"; B="$T/backups"
mkdir -p "$C" "$O" "$T/r"
PORT=$(free_port)
{ echo "port $PORT"; echo "bind 127.0.0.1"; echo "dir $T/r"; echo "dbfilename dump.rdb"; echo 'save ""'
  echo "appendonly no"; echo "daemonize yes"; echo "pidfile $T/r/redis.pid"; echo "logfile $T/r/server.log"; } >"$T/r/redis.conf"
redis-server "$T/r/redis.conf" >/dev/null
for _ in $(seq 400); do redis-cli -p "$PORT" ping >/dev/null 2>&1 && break; sleep 0.05; done
RPID=$(cat "$T/r/redis.pid")
trap 'rc=$?; kill_ours KILL "$RPID"; (exit $rc); _cleanup' EXIT
rc() { redis-cli -p "$PORT" "$@"; }

rc SET "CONFIG SET dir $C" x >/dev/null
rc SET resp $'\r\n*4\r\n$6\r\nCONFIG\r\n$3\r\nSET\r\n$3\r\ndir\r\n$'"${#C}"$'\r\n'"$C"$'\r\n' >/dev/null
rc SET "../../$C/key" "SAVE" >/dev/null
rc FUNCTION LOAD "#!lua name=planted
redis.register_function('touch', function() return redis.call('CONFIG', 'SET', 'dir', '$C') end)" >/dev/null
"$DUMPER" backup "redis://127.0.0.1:$PORT" --to "$B" >"$T/path"
# what the server was asked, except the INFO and CONFIG GET asked here
served() { rc INFO commandstats | grep -v -e '^cmdstat_info:' -e '^cmdstat_config|get:' -e '^#' | tr -d '\r'; rc CONFIG GET dir; }
before=$(served; tree_state "$C")

quiet_check "restore of a snapshot spelling commands" "$DUMPER" restore "$(cat "$T/path")" "redis://127.0.0.1:$PORT" \
  --rdb-file "$O/dump.rdb"
zstd -dc "$(cat "$T/path")" | cmp - "$O/dump.rdb" || fail "the rdb file is not the snapshot's bytes"
[ "$(ls -A "$O")" = "dump.rdb" ] || fail "the output directory holds $(ls -A "$O")"
diff <(echo "$before") <(served; tree_state "$C") >&2 || fail "the server got commands or files changed"

# refused CODE name "message part" < planted bytes: one line, no file anywhere, no command sent
state() { served; tree_state "$C"; ls -A "$O"; }
refused() {
  local code=$1 name=$2 want=$3 b
  b=$(plant "$B" "$name" redis rdb)
  restore_refused "$code" "$name" "$want" "$b" "redis://127.0.0.1:$PORT" --rdb-file "$O/$name.rdb"
}
printf '#!/bin/sh\ntouch %s/shell\n' "$C" | refused 9 shell_script "is not an rdb snapshot (bad header)"
{ zstd -dc "$(cat "$T/path")" | head -c -1; printf 'X'; } | refused 9 bad_crc "rdb checksum mismatch"
echo "ok"
