#!/usr/bin/env bash
# gem_restarts.sh - the dumper gem across the restarts of a deploy, against dumperd at its DEFAULT intervals
# (primary 300 s, secondary 3600 s, lease 900 s; issue 12): before, a restarted app had no primary for up
# to ~75 minutes. The fixture Rails app (SQLite) under real servers, one dumperd app per scenario:
#   puma_term     puma (single) TERM, then started again: the stopping agent releases its lease (agent log),
#                 the new process registers as primary at once
#   puma_usr2     puma's hot restart (USR2: re-exec, same pid, no exit handler): the new agent of the same
#                 host and pid takes over its predecessor's lease at registration
#   puma_touch    `touch tmp/restart.txt` with Rails' `plugin :tmp_restart`: the same hot restart
#   puma_phased   puma cluster without preload (an agent in each of 2 workers), phased restart (USR1):
#                 the workers are replaced one by one; a new worker is primary within seconds
#   unicorn_usr2  unicorn (preload_app: the agent in the master) USR2 starts a new master beside the old
#                 one (secondary, polling every ~10 s while new), QUIT to the old master releases its lease:
#                 the new master is primary within seconds
#   passenger_restart, passenger_touch
#                 Passenger (builtin engine, smart spawning, 2 application processes, an agent in each):
#                 `passenger-config restart-app DIR`, and `touch tmp/restart.txt` + a request. Open source
#                 Passenger has no rolling restart (`--rolling-restart` is "Enterprise only" in
#                 `passenger-config restart-app --help`): it stops all the app's processes (each releases its
#                 agent in at_exit) and spawns new ones: a new process is the primary within seconds
#   resque_term   the forking job worker (test/gem/app/lib/resque_standin.rb: Resque's worker lifecycle and
#                 hook API; Resque itself is not packaged) stopped as a deploy does (TERM: the worker ends
#                 its loop and exits, releasing its lease), then a new worker started: primary at once; no
#                 per-job child of either worker ever runs an agent
# Each ends with exactly one primary among the live agents, and a manual backup queued during the restart
# becomes good exactly once.
. "$DUMPER_SRC/test/lib/common.sh"
. "$DUMPER_SRC/test/lib/agent.sh"
. "$DUMPER_SRC/test/lib/gem.sh"
case "${DUMPER_BUILD:-}" in *asan*) note "skip: the gem builds its own (non-sanitized) libdumper; run once, in the normal build"; exit 77 ;; esac
for t in ruby bundle gem puma unicorn passenger passenger-config jq sqlite3; do command -v "$t" >/dev/null || { note "skip: $t not installed"; exit 77; }; done

unset DUMPER_API_BASE DUMPER_APP_KEY RAILS_MASTER_KEY DUMPER_DEBUG RAILS_ENV
TPL="$T/template"
gem_fixture_app "$TPL"
(cd "$TPL" && bundle exec rails g dumper:install >"$T/generator.log" 2>&1) || { cat "$T/generator.log" >&2; fail "rails g dumper:install failed"; }
printf '%s\n' 'bind "tcp://127.0.0.1:#{ENV.fetch("PORT")}"' 'environment "production"' 'threads 2, 4' \
  'pidfile ENV["PIDFILE"]' 'plugin :tmp_restart' >"$TPL/config/puma_deploy.rb"
sqlite3 "$TPL/db/primary.sqlite3" "CREATE TABLE items(id INTEGER PRIMARY KEY, name TEXT); INSERT INTO items(name) VALUES ('a'), ('b');"
sqlite3 "$TPL/db/cache.sqlite3" "CREATE TABLE c(a); INSERT INTO c VALUES (1);"
start_dumperd dpd # default intervals
export RAILS_ENV=production DUMPER_API_BASE="$DPD_URL" SECRET_KEY_BASE=$(printf 'k%.0s' $(seq 64)) MALLOC_ARENA_MAX=2

declare -A GROUPS_STARTED
# RESTART_SCENARIOS="a b": only these (default: all)
runs() { case " ${RESTART_SCENARIOS:-all} " in *" all "* | *" $1 "*) return 0 ;; esac; return 1; }
cleanup_servers() {
  local g d; for g in "${!GROUPS_STARTED[@]}"; do kill -KILL -- "-$g" 2>/dev/null || true; done
  for d in "$T"/app_passenger_*; do # passenger daemonizes its watchdog and core into their own session
    [ -f "$d/tmp/server.pid" ] && (cd "$d" && passenger stop --pid-file tmp/server.pid >/dev/null 2>&1) || true
  done
}
trap 'rc=$?; set +e; cleanup_servers; (exit $rc); agent_cleanup' EXIT

# start NAME: the server of scenario NAME in its own process group, in $DIR; SRV_PID
start() {
  set -m
  case "$1" in
  puma*) (cd "$DIR" && exec bundle exec puma -C config/puma_deploy.rb </dev/null >>"$DIR/server.out" 2>&1) & ;;
  unicorn*) (cd "$DIR" && PRELOAD=1 exec bundle exec unicorn -c config/unicorn.rb -E production </dev/null >>"$DIR/server.out" 2>&1) & ;;
  passenger*) (cd "$DIR" && exec passenger start --engine=builtin --address 127.0.0.1 --port "$PORT" -e production \
    --spawn-method smart --min-instances 2 --max-pool-size 2 --pid-file "$PIDFILE" --log-file "$DIR/log/passenger.log" \
    </dev/null >>"$DIR/server.out" 2>&1) & ;;
  resque*) (cd "$DIR" && QUEUE='*' exec bundle exec ruby script/resque_worker.rb </dev/null >>"$DIR/server.out" 2>&1) & ;;
  esac
  SRV_PID=$!
  set +m
  GROUPS_STARTED[$SRV_PID]=1
}
agents() { "$DUMPERD" agents "$APPNAME" --json --data "$DPD_DATA"; }
# the role of the newest registration of a pid
role_of() { agents | jq -r --argjson p "$1" '[.[] | select(.pid == $p)] | last | .role // "none"'; }
registrations_of() { agents | jq --argjson p "$1" '[.[] | select(.pid == $p)] | length'; }
is_primary() { [ "$(role_of "$1")" = primary ]; }
primaries() { agents | jq '[.[] | select(.role == "primary")] | length'; }
good() { "$DUMPERD" backups "$APPNAME" --json --data "$DPD_DATA" | jq '[.[] | select(.status == "good")] | length'; }
answers() { curl -sf --max-time 5 "http://127.0.0.1:$PORT/" | grep -qx ok; }

setup() { # setup NAME: an app dir, a dumperd app, the server started and its agent primary
  APPNAME=$1 DIR="$T/app_$1"
  cp -r "$TPL" "$DIR"
  DUMPER_APP_KEY=$("$DUMPERD" app create "$APPNAME" --data "$DPD_DATA" 2>/dev/null) || fail "$1: app create"
  export DUMPER_APP_KEY DATABASE_URL="sqlite3:$DIR/db/primary.sqlite3" PORT=$(free_port) PIDFILE="$DIR/tmp/server.pid"
  start "$1"
  case "$1" in
  resque*) wait_until 180 "$1: the worker's agent is primary" is_primary "$SRV_PID" ;; # no HTTP
  passenger*)
    wait_until 180 "$1: the app answers" answers
    wait_until 60 "$1: two application processes" sh -c "[ \$(pgrep -fc '^Passenger RubyApp: $DIR\$') = 2 ]"
    wait_until 30 "$1: two agents, one primary" sh -c "[ \$(\"$DUMPERD\" agents $APPNAME --json --data '$DPD_DATA' | jq '[.[] | select(.alive)] | length') = 2 ] && [ \$(\"$DUMPERD\" agents $APPNAME --json --data '$DPD_DATA' | jq '[.[] | select(.role == \"primary\")] | length') = 1 ]" ;;
  *)
    wait_until 180 "$1: the app answers" answers
    wait_until 30 "$1: its agent is primary" is_primary "$SRV_PID" ;;
  esac
}
# primary_among PIDS_JSON: exactly one primary, and it is one of these (new) processes
primary_among() { agents | jq -e --argjson n "$1" '[.[] | select(.role == "primary")] | length == 1 and (.[0].pid as $p | $n | index($p) != null)' >/dev/null; }

# after_restart NAME T0: one primary among the agents alive; a backup queued meanwhile becomes good, once
after_restart() {
  local took=$(( SECONDS - $2 ))
  wait_until 30 "$1: exactly one primary" sh -c "[ \$(\"$DUMPERD\" agents $APPNAME --json --data '$DPD_DATA' | jq '[.[] | select(.role == \"primary\")] | length') = 1 ]"
  wait_until 60 "$1: the backups queued during the restart are good" sh -c "[ \$(\"$DUMPERD\" backups $APPNAME --json --data '$DPD_DATA' | jq '[.[] | select(.status == \"good\")] | length') = 2 ]"
  sleep 2
  [ "$(good)" = 2 ] || fail "$1: $(good) good backups, expected 2 (primary and cache, once each)"
  echo "$1: primary ${took}s after the restart began" >>"$T/results"
  kill -KILL -- "-$SRV_PID" 2>/dev/null || true
}

# ---- puma: TERM, then start again (a plain deploy) ----
if runs puma_term; then
setup puma_term
old=$SRV_PID
"$DUMPERD" backup now "$APPNAME" --data "$DPD_DATA" >/dev/null
t0=$SECONDS
kill -TERM "$old"
wait_until 30 "puma_term: the old server exits" sh -c "! kill -0 $old 2>/dev/null"
grep -q "released its registration and its primary lease" "$DIR/log/dumper_agent.log" ||
  fail "puma_term: no release in the agent log: $(tail -3 "$DIR/log/dumper_agent.log")"
[ "$(agents | jq --argjson p "$old" '.[] | select(.pid == $p) | .alive')" = false ] || fail "puma_term: the stopped agent is listed alive"
start puma_term
wait_until 180 "puma_term: the new server answers" answers
wait_until 30 "puma_term: the new agent registers" sh -c "[ \"\$(\"$DUMPERD\" agents $APPNAME --json --data '$DPD_DATA' | jq --argjson p $SRV_PID '[.[] | select(.pid == \$p)] | length')\" -ge 1 ]"
[ "$(role_of "$SRV_PID")" = primary ] || fail "puma_term: the new agent registered as $(role_of "$SRV_PID")"
after_restart puma_term $t0
fi

# ---- puma: hot restart (USR2), and touch tmp/restart.txt: the same pid re-executes ----
for how in usr2 touch; do
  runs "puma_$how" || continue
  setup "puma_$how"
  pid=$SRV_PID
  "$DUMPERD" backup now "$APPNAME" --data "$DPD_DATA" >/dev/null
  t0=$SECONDS
  if [ $how = usr2 ]; then kill -USR2 "$pid"; else sleep 1; touch "$DIR/tmp/restart.txt"; fi
  wait_until 180 "puma_$how: the re-executed server registers again" sh -c "[ \$(\"$DUMPERD\" agents $APPNAME --json --data '$DPD_DATA' | jq --argjson p $pid '[.[] | select(.pid == \$p)] | length') = 2 ]"
  [ "$(role_of "$pid")" = primary ] || fail "puma_$how: the re-executed agent is $(role_of "$pid")"
  grep -q "took over the lease of its predecessor" "$T/dpd.log" || fail "puma_$how: dumperd did not log the takeover"
  # both registrations sent the same process start (execve keeps boot id and start time): the takeover
  # needs it (another container with the same host name and pid 1 has another one; docs/agent.md)
  starts=$(sqlite3 "$DPD_DATA/dumperd.db" "SELECT DISTINCT process_start FROM agents WHERE pid = $pid AND app_id = (SELECT id FROM apps WHERE name = '$APPNAME')")
  [[ "$starts" =~ ^[0-9a-f-]{36}:[0-9]+$ ]] || fail "puma_$how: the re-executed process's starts: [$starts]"
  after_restart "puma_$how" $t0
done

# ---- puma cluster (no preload: an agent per worker), phased restart (USR1): workers replaced one by one ----
if runs puma_phased; then
APPNAME=puma_phased DIR="$T/app_puma_phased"
cp -r "$TPL" "$DIR"
DUMPER_APP_KEY=$("$DUMPERD" app create "$APPNAME" --data "$DPD_DATA" 2>/dev/null) || fail "puma_phased: app create"
export DUMPER_APP_KEY DATABASE_URL="sqlite3:$DIR/db/primary.sqlite3" PORT=$(free_port) PIDFILE="$DIR/tmp/server.pid"
set -m
(cd "$DIR" && PRELOAD=0 exec bundle exec puma -C config/puma_cluster.rb </dev/null >>"$DIR/server.out" 2>&1) &
SRV_PID=$!
set +m
GROUPS_STARTED[$SRV_PID]=1
wait_until 180 "puma_phased: the app answers" answers
wait_until 60 "puma_phased: two workers registered, one primary" sh -c "[ \$(\"$DUMPERD\" agents $APPNAME --json --data '$DPD_DATA' | jq length) = 2 ] && [ \$(\"$DUMPERD\" agents $APPNAME --json --data '$DPD_DATA' | jq '[.[] | select(.role == \"primary\")] | length') = 1 ]"
old_workers=$(agents | jq -c '[.[].pid]')
"$DUMPERD" backup now "$APPNAME" --data "$DPD_DATA" >/dev/null
t0=$SECONDS
kill -USR1 "$SRV_PID"
wait_until 240 "puma_phased: two new workers registered" sh -c "[ \$(\"$DUMPERD\" agents $APPNAME --json --data '$DPD_DATA' | jq length) -ge 4 ]"
wait_until 60 "puma_phased: a new worker is primary" sh -c "\"$DUMPERD\" agents $APPNAME --json --data '$DPD_DATA' | jq -e --argjson o '$old_workers' '[.[] | select(.role == \"primary\" and (.pid as \$p | \$o | index(\$p) | not))] | length == 1' >/dev/null"
agents >"$T/phased.agents.json"
after_restart puma_phased $t0
fi

# ---- unicorn: USR2 (a new master beside the old), then QUIT to the old master ----
if runs unicorn_usr2; then
setup unicorn_usr2
old=$SRV_PID
kill -USR2 "$old"
wait_until 180 "unicorn_usr2: the new master registers" sh -c "[ \$(\"$DUMPERD\" agents $APPNAME --json --data '$DPD_DATA' | jq length) -ge 2 ]"
new=$(agents | jq --argjson p "$old" '[.[] | select(.pid != $p)] | last | .pid')
[ "$(role_of "$new")" = secondary ] || fail "unicorn_usr2: the new master is $(role_of "$new") beside the live old one"
"$DUMPERD" backup now "$APPNAME" --data "$DPD_DATA" >/dev/null
t0=$SECONDS
kill -QUIT "$old"
wait_until 60 "unicorn_usr2: the old master exits" sh -c "! kill -0 $old 2>/dev/null"
wait_until 20 "unicorn_usr2: the new master is primary" is_primary "$new"
SRV_PID=$new # (its process group is the old one's)
after_restart unicorn_usr2 $t0
kill -KILL -- "-$old" 2>/dev/null || true
fi

# ---- passenger: restart-app (a blocking restart: open source has no rolling one), touch tmp/restart.txt ----
app_pids() { pgrep -f "^Passenger RubyApp: $DIR\$" | sort | jq -sc .; }
for how in restart touch; do
  runs "passenger_$how" || continue
  setup "passenger_$how"
  old=$(app_pids)
  "$DUMPERD" backup now "$APPNAME" --data "$DPD_DATA" >/dev/null
  t0=$SECONDS
  if [ $how = restart ]; then
    (cd "$DIR" && passenger-config restart-app "$DIR" >"$T/passenger_restart.out" 2>&1) ||
      fail "passenger_restart: passenger-config restart-app: $(cat "$T/passenger_restart.out")"
  else
    touch "$DIR/tmp/restart.txt"
  fi
  # new application processes (a request spawns them; restart.txt is checked on a request)
  wait_until 120 "passenger_$how: two new application processes" sh -c "curl -s --max-time 5 -o /dev/null http://127.0.0.1:$PORT/; n=\$(pgrep -f '^Passenger RubyApp: $DIR\$' | sort | jq -sc --argjson o '$old' '[.[] | select(. as \$p | \$o | index(\$p) | not)] | length'); [ \"\$n\" = 2 ]"
  new=$(app_pids)
  wait_until 30 "passenger_$how: a new application process is the primary" primary_among "$new"
  [ "$(agents | jq --argjson o "$old" '[.[] | select(.pid as $p | $o | index($p))] | all(.alive | not)')" = true ] ||
    fail "passenger_$how: an old application process's agent is still alive: $(agents | jq -c .)"
  [ "$(grep -c "released its registration and its primary lease" "$DIR/log/dumper_agent.log")" -ge 1 ] ||
    fail "passenger_$how: the old primary released nothing: $(tail -5 "$DIR/log/dumper_agent.log")"
  after_restart "passenger_$how" $t0
  (cd "$DIR" && passenger stop --pid-file "$PIDFILE" >/dev/null 2>&1) || true
done

# ---- a forking job worker (Resque's lifecycle): TERM, then a new worker ----
if runs resque_term; then
setup resque_term
old=$SRV_PID
"$DUMPERD" backup now "$APPNAME" --data "$DPD_DATA" >/dev/null
wait_until 20 "resque_term: per-job children ran" sh -c "[ \$(grep -c agent_running '$DIR/log/jobs.log') -ge 3 ]"
t0=$SECONDS
kill -TERM "$old"
wait_until 30 "resque_term: the old worker exits" sh -c "! kill -0 $old 2>/dev/null"
grep -q "released its registration and its primary lease" "$DIR/log/dumper_agent.log" ||
  fail "resque_term: no release in the agent log: $(tail -3 "$DIR/log/dumper_agent.log")"
start resque_term
wait_until 60 "resque_term: the new worker's agent is primary" is_primary "$SRV_PID"
n0=$(grep -c "pid" "$DIR/log/jobs.log")
wait_until 20 "resque_term: the new worker's children ran" sh -c "[ \$(grep -c pid '$DIR/log/jobs.log') -ge $((n0 + 3)) ]"
! grep -q "agent_running true" "$DIR/log/jobs.log" || fail "resque_term: a per-job child runs an agent: $(grep -m1 'agent_running true' "$DIR/log/jobs.log")"
[ "$(agents | jq '[.[] | select(.alive)] | length')" = 1 ] || fail "resque_term: agents alive: $(agents | jq -c .)"
after_restart resque_term $t0
fi
note "$(cat "$T/results")"
