# test/lib/agent.sh - helpers for the agent's end-to-end tests. Source after common.sh.
#   free_port                         a free TCP port on 127.0.0.1
#   start_dumperd NAME [serve args]   dumperd with its own data dir $T/NAME on a port it picks;
#                                     sets DPD_URL, DPD_DATA, DPD_PID; creates app "shop", key in APP_KEY
#   dpd ARGS...                       dumperd admin command on that data dir
#   start_host NAME [host args]       the example host (examples/host.c) with the agent; sets
#                                     HOST_PORT[NAME], HOST_PID[NAME]; its agent log is $T/NAME.agent.log;
#                                     the agent logs at DEBUG unless HOST_DEBUG=0
#   host_status NAME                  the host's GET /status JSON
#   wait_until SECONDS "what" CMD...  polls CMD every 0.2 s
#   kill_jobs                         kills leftover `dumper job` processes started from $T
PY=/usr/bin/python3; [ -x "$PY" ] || PY=python3
HOST_BIN="$DUMPER_BIN/dumper-example-host"
declare -A HOST_PORT HOST_PID
AG_PIDS=()

free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

wait_port() { # wait_port PORT   (up to 30 s: an ASan build on a loaded machine starts slowly)
  for _ in $(seq 300); do
    (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

wait_until() { # wait_until SECONDS "what" CMD...
  local secs=$1 what=$2; shift 2
  local end=$((SECONDS + secs))
  while ! "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $end ] || fail "timed out after ${secs}s waiting for: $what"
    sleep 0.2
  done
}

start_dumperd() { # start_dumperd NAME [serve args...]
  local name=$1; shift
  DPD_DATA="$T/$name"
  mkdir -p "$DPD_DATA"
  APP_KEY=$("$DUMPERD" app create shop --data "$DPD_DATA" 2>/dev/null)
  [ -n "$APP_KEY" ] || fail "dumperd app create failed"
  "$DUMPERD" serve --data "$DPD_DATA" --listen "127.0.0.1:0" "$@" </dev/null >"$T/$name.log" 2>&1 &
  DPD_PID=$!
  AG_PIDS+=("$DPD_PID")
  local port
  port=$(dumperd_port "$T/$name.log" "$DPD_PID") || { cat "$T/$name.log" >&2; fail "dumperd did not start"; }
  DPD_URL="http://127.0.0.1:$port"
}

dpd() { "$DUMPERD" "$@" --data "$DPD_DATA"; }

start_host() { # start_host NAME [host args...]
  local name=$1; shift
  local port; port=$(free_port)
  (cd "$T" && DUMPER_APP_KEY=$APP_KEY exec "$HOST_BIN" --port "$port" --api "$DPD_URL" --dumper "$DUMPER" \
      --log "$T/$name.agent.log" $([ "${HOST_DEBUG:-1}" = 0 ] || echo --debug) "$@" </dev/null >"$T/$name.host.log" 2>&1) &
  HOST_PID[$name]=$!
  HOST_PORT[$name]=$port
  AG_PIDS+=("$!")
  wait_port "$port" || { cat "$T/$name.host.log" >&2; fail "host $name did not start"; }
}

host_status() { curl -sf --max-time 5 "http://127.0.0.1:${HOST_PORT[$1]}/status"; }
host_role() { host_status "$1" | jq -r .role; }

# Processes running `dumper job --no-fork` (the agent's job processes on Linux) whose working directory is $T (the hosts run there).
# (Fast even on a loaded machine: one pgrep, then builtins only. A scan forking per /proc entry took
# longer than a whole backup in the ASan build, and missed the job process.)
job_pids() {
  local p args
  for p in $(pgrep -f -- "job --no-fork" || true); do
    [ "/proc/$p/cwd" -ef "$T" ] 2>/dev/null || continue
    mapfile -d '' -t args 2>/dev/null <"/proc/$p/cmdline" || continue
    [ "${#args[@]}" = 3 ] && [ "${args[0]}" = "$DUMPER" ] && [ "${args[1]}" = job ] && [ "${args[2]}" = --no-fork ] || continue
    echo "$p"
  done
}

kill_jobs() { local p; for p in $(job_pids); do kill -9 "$p" 2>/dev/null || true; done; }

agent_cleanup() {
  local rc=$? p
  kill_ours KILL "${AG_PIDS[@]}"
  for p in "${AG_PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  kill_jobs
  (exit $rc)
  _cleanup
}
trap agent_cleanup EXIT

# good_backups [DATABASE_KEY]: number of good backups in the catalog
good_backups() {
  dpd backups shop --json | jq --arg k "${1:-}" '[.[] | select(.status == "good") | select($k == "" or .database_key == $k)] | length'
}
