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
# Each ends with exactly one primary among the live agents, and a manual backup queued during the restart
# becomes good exactly once.
. "$DUMPER_SRC/test/lib/common.sh"
. "$DUMPER_SRC/test/lib/agent.sh"
. "$DUMPER_SRC/test/lib/gem.sh"
case "${DUMPER_BUILD:-}" in *asan*) note "skip: the gem builds its own (non-sanitized) libdumper; run once, in the normal build"; exit 77 ;; esac
for t in ruby bundle gem puma unicorn jq sqlite3; do command -v "$t" >/dev/null || { note "skip: $t not installed"; exit 77; }; done

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
cleanup_servers() { local g; for g in "${!GROUPS_STARTED[@]}"; do kill -KILL -- "-$g" 2>/dev/null || true; done; }
trap 'rc=$?; set +e; cleanup_servers; (exit $rc); agent_cleanup' EXIT

# start NAME: the server of scenario NAME in its own process group, in $DIR; SRV_PID
start() {
  set -m
  case "$1" in
  puma*) (cd "$DIR" && exec bundle exec puma -C config/puma_deploy.rb </dev/null >>"$DIR/server.out" 2>&1) & ;;
  unicorn*) (cd "$DIR" && PRELOAD=1 exec bundle exec unicorn -c config/unicorn.rb -E production </dev/null >>"$DIR/server.out" 2>&1) & ;;
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
  wait_until 180 "$1: the app answers" answers
  wait_until 30 "$1: its agent is primary" is_primary "$SRV_PID"
}

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

# ---- puma: hot restart (USR2), and touch tmp/restart.txt: the same pid re-executes ----
for how in usr2 touch; do
  setup "puma_$how"
  pid=$SRV_PID
  "$DUMPERD" backup now "$APPNAME" --data "$DPD_DATA" >/dev/null
  t0=$SECONDS
  if [ $how = usr2 ]; then kill -USR2 "$pid"; else sleep 1; touch "$DIR/tmp/restart.txt"; fi
  wait_until 180 "puma_$how: the re-executed server registers again" sh -c "[ \$(\"$DUMPERD\" agents $APPNAME --json --data '$DPD_DATA' | jq --argjson p $pid '[.[] | select(.pid == \$p)] | length') = 2 ]"
  [ "$(role_of "$pid")" = primary ] || fail "puma_$how: the re-executed agent is $(role_of "$pid")"
  grep -q "took over the lease of its predecessor" "$T/dpd.log" || fail "puma_$how: dumperd did not log the takeover"
  after_restart "puma_$how" $t0
done

# ---- puma cluster (no preload: an agent per worker), phased restart (USR1): workers replaced one by one ----
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

# ---- unicorn: USR2 (a new master beside the old), then QUIT to the old master ----
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
note "$(cat "$T/results")"
