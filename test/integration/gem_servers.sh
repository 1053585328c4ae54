#!/usr/bin/env bash
# gem_servers.sh - the dumper gem end to end, the way a user installs it: the built .gem goes into
# the fixture Rails 6.1 app's vendor/cache, `bundle install --local` compiles the extension and the
# helper, `rails g dumper:install` writes the initializer (no master key: key from DUMPER_APP_KEY), and the app is
# booted against a real dumperd, PostgreSQL (DATABASE_URL), SQLite (relative path) and Redis
# (REDIS_URL) under every server of the matrix below. For each server (its own dumperd app):
#   - exactly the processes of the matrix register (by pid), exactly one is primary, no other
#     process runs an agent (workers forked from an agent's process report running: false)
#   - a manual backup of every database (primary, cache, redis) becomes good, while the app
#     answers every request made during the backup
#   - the server is stopped (TERM) or killed (KILL of its whole process group) while a backup job
#     runs: the backup still becomes good
#   - no "unknown child" in the server's output
# Before the servers: a rails console, a rails runner and a rake task (app initialized) run no agent.
# Then every SQLite backup restores equal; one backup of each PostgreSQL/Redis database restores
# equal, the others pass `dumper verify`.
#
# The matrix (also in docs/gem.md):
#   server                       processes that run an agent
#   puma (single), rails s       the server process
#   puma cluster, preload_app!   the master (workers are forked from it: no agent)
#   puma cluster, no preload     each worker (2), one of them primary
#   puma cluster, fork_worker    worker 0 (the others are forked from it)
#   unicorn, preload_app true    the master
#   unicorn, preload_app false   each worker (2)
#   thin, thin -d                the server process (thin -d: the daemon)
#   webrick (rails s -u webrick) the server process
#   passenger (builtin engine)   each application process (2), smart spawning (never the preloader)
#                                and direct spawning
#   resque stand-in worker       the worker (started before its first fork; per-job children: none),
#                                also with BACKGROUND=1 (the daemonized worker)
#   sidekiq                      the sidekiq process
. "$DUMPER_SRC/test/lib/common.sh"
. "$DUMPER_SRC/test/lib/agent.sh"
. "$DUMPER_SRC/test/lib/sql.sh"
. "$DUMPER_SRC/test/lib/gem.sh"
need_service pg
need_service redis
case "${DUMPER_BUILD:-}" in *asan*) note "skip: the gem builds its own (non-sanitized) libdumper; run once, in the normal build"; exit 77 ;; esac
for t in ruby bundle gem puma unicorn thin passenger sidekiq jq; do
  command -v "$t" >/dev/null || { note "skip: $t not installed (scripts/install-deps.sh)"; exit 77; }
done
SCENARIOS=${GEM_SCENARIOS:-"puma_single puma_rails_s puma_cluster puma_cluster_preload puma_fork_worker unicorn unicorn_preload thin thin_daemon webrick passenger passenger_direct resque resque_background sidekiq"}
PAR=${GEM_PARALLEL:-3}

# --- the gem, installed as a user would ---
unset RAILS_ENV
TPL="$T/template"
gem_fixture_app "$TPL"
EXT=$(cd "$TPL" && bundle exec ruby -e 'require "dumper"; abort(Dumper.native_error.to_s) unless Dumper.native?; print Dumper.helper_path') ||
  fail "the extension does not load"
[ -x "$EXT" ] || fail "the dumper helper is not installed next to the extension"
case "$EXT" in "$T/gems/"*) ;; *) fail "the helper is not in the installed gem: $EXT" ;; esac
(cd "$TPL" && bundle exec rails g dumper:install >"$T/generator.log" 2>&1) || { cat "$T/generator.log" >&2; fail "rails g dumper:install failed"; }
grep -qx 'Dumper::Agent.start' "$TPL/config/initializers/dumper.rb" || fail "generated initializer does not start the agent (key from credentials, then DUMPER_APP_KEY)"

# --- data ---
DB=gem_e2e_$$
pg_fresh "$DB"
# big enough that a backup takes a moment (the stop/kill-mid-backup checks need one in flight)
pgq "$DB" -c "CREATE TABLE items(id serial PRIMARY KEY, name text, note text);
              INSERT INTO items(name, note) SELECT 'item-' || g, md5(g::text) || md5((g * 7)::text) || md5((g * 13)::text)
              FROM generate_series(1, 600000) g;"
sqlite3 "$TPL/db/cache.sqlite3" "CREATE TABLE entries(k TEXT PRIMARY KEY, v TEXT);
  WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 300) INSERT INTO entries SELECT 'k' || i, 'v' || i FROM s;"
RP=$DUMPER_TEST_REDIS_PORT RDB=7
rcli() { REDISCLI_AUTH=$PW redis-cli --no-auth-warning -p "$RP" -n "$RDB" "$@"; }
rcli FLUSHDB >/dev/null
for i in $(seq 1 40); do echo "SET gem:$i value-$i"; done | rcli >/dev/null

start_dumperd dpd --primary-interval 1 --secondary-interval 2 --lease 3
export DATABASE_URL="$(pg_url "$DB")" REDIS_URL="redis://:$PW@127.0.0.1:$RP/$RDB" DUMPER_API_BASE="$DPD_URL"
export RAILS_ENV=production SECRET_KEY_BASE=$(printf 'k%.0s' $(seq 64)) MALLOC_ARENA_MAX=2

# --- no agent in a console, a runner, a rake task (the app is fully initialized in each) ---
cat >"$TPL/lib/tasks_probe.rake" <<'RAKE'
task probe: :environment do
  puts "rake running=#{Dumper::Agent.status[:running]}"
end
RAKE
mkdir -p "$TPL/lib/tasks" && mv "$TPL/lib/tasks_probe.rake" "$TPL/lib/tasks/probe.rake"
(
  cd "$TPL"
  export DUMPER_APP_KEY=dk_unused
  bundle exec rails runner 'puts "runner running=#{Dumper::Agent.status[:running]}"'
  echo 'puts "console running=#{Dumper::Agent.status[:running]}"' | bundle exec rails console
  bundle exec rake probe
) >"$T/contexts.out" 2>&1 || { cat "$T/contexts.out" >&2; fail "runner/console/rake failed"; }
for c in runner console rake; do
  grep -q "^$c running=false" "$T/contexts.out" || { cat "$T/contexts.out" >&2; fail "an agent runs in a $c"; }
done
grep -q "\[Dumper\] \[.*\] agent not started: running in a rails console" "$TPL/log/production.log" || fail "no console log line"
[ "$(grep -c "\[Dumper\] \[.*\] agent not started: " "$TPL/log/production.log")" = 3 ] || fail "expected 3 'agent not started' lines"
[ ! -e "$TPL/log/dumper_agent.log" ] || fail "an agent log was written by a console/runner/rake"
rm -f "$TPL/log/"*.log "$TPL/lib/tasks/probe.rake"

# --- helpers for one scenario (each runs in a subshell; "fail" ends that subshell) ---
children() { ps -o pid= --ppid "$1" | tr -d ' '; }
agents_json() { "$DUMPERD" agents "$1" --json --data "$DPD_DATA"; }
app_job_pids() { # dumper job processes whose cwd is the scenario's app
  local p
  for p in $(pgrep -f "^$EXT job --no-fork" || true); do
    [ "$(readlink "/proc/$p/cwd" 2>/dev/null)" = "$1" ] && echo "$p"
  done
  return 0
}
has_job() { [ -n "$(app_job_pids "$1")" ]; }
good_of() { "$DUMPERD" backups "$1" --json --data "$DPD_DATA" | jq '[.[] | select(.status == "good")] | length'; }

# start_server NAME DIR PORT: sets SRV_PID (the process that owns the agent or the master); the
# server runs in its own process group (job control) so that a kill -9 of the group takes every worker.
start_server() {
  set -m # job control: the server gets its own process group, whose id is $!
  local s=$1 dir=$2 port=$3
  local pidf="$dir/tmp/server.pid"
  cd "$dir"
  case "$s" in
  puma_single) exec bundle exec puma -C config/puma_single.rb ;;
  puma_cluster) exec env PRELOAD=0 bundle exec puma -C config/puma_cluster.rb ;;
  puma_cluster_preload) exec env PRELOAD=1 bundle exec puma -C config/puma_cluster.rb ;;
  puma_fork_worker) exec env FORK_WORKER=1 bundle exec puma -C config/puma_cluster.rb ;;
  unicorn) exec env PRELOAD=0 bundle exec unicorn -c config/unicorn.rb -E production ;;
  unicorn_preload) exec env PRELOAD=1 bundle exec unicorn -c config/unicorn.rb -E production ;;
  thin) exec bundle exec thin start -e production -a 127.0.0.1 -p "$port" ;;
  thin_daemon) exec bundle exec thin start -d -P "$pidf" -l "$dir/log/thin.log" -e production -a 127.0.0.1 -p "$port" ;;
  webrick) exec bundle exec rails server -u webrick -e production -b 127.0.0.1 -p "$port" ;;
  puma_rails_s) exec bundle exec rails server -u puma -e production -b 127.0.0.1 -p "$port" ;;
  passenger) exec passenger start --engine=builtin --address 127.0.0.1 --port "$port" -e production \
               --spawn-method smart --min-instances 2 --max-pool-size 2 --pid-file "$pidf" --log-file "$dir/log/passenger.log" ;;
  passenger_direct) exec passenger start --engine=builtin --address 127.0.0.1 --port "$port" -e production \
               --spawn-method direct --min-instances 2 --max-pool-size 2 --pid-file "$pidf" --log-file "$dir/log/passenger.log" ;;
  resque) exec env QUEUE='*' bundle exec ruby script/resque_worker.rb ;;
  resque_background) exec env QUEUE='*' BACKGROUND=1 bundle exec ruby script/resque_worker.rb ;;
  sidekiq) exec bundle exec sidekiq -e production -C config/sidekiq.yml ;;
  esac </dev/null >"$dir/server.out" 2>&1 &
  SRV_PID=$! SRV_PGID=$!
  cd "$T"
}

# expected_pids NAME: the pids that must run an agent, per the matrix
expected_pids() {
  case "$1" in
  puma_cluster | unicorn) children "$SRV_PID" | sort ;;
  puma_fork_worker) pgrep -f "^puma: cluster worker 0: $SRV_PID " ;; # workers 1.. are forked from worker 0
  passenger*) pgrep -f "^Passenger RubyApp: $2\$" | sort ;; # application processes (not the preloader)
  *) echo "$SRV_PID" ;;
  esac
}

scenario() {
  local s=$1 dir="$T/app_$1" port key
  cp -r "$TPL" "$dir"
  port=$(free_port)
  key=$("$DUMPERD" app create "$s" --data "$DPD_DATA" 2>/dev/null) || fail "$s: app create"
  export DUMPER_APP_KEY=$key PORT=$port PIDFILE="$dir/tmp/server.pid"
  local t0=$SECONDS
  start_server "$s" "$dir" "$port"
  echo "$SRV_PID" >"$T/$s.pgid"
  # ready: HTTP answers (job workers: the agent registers)
  case "$s" in *_daemon | *_background) # daemonized: the server's pid and process group are in its pid file
    wait_until 60 "$s: pid file" test -s "$dir/tmp/server.pid"
    SRV_PID=$(cat "$dir/tmp/server.pid")
    SRV_PGID=$(ps -o pgid= -p "$SRV_PID" | tr -d ' '); echo "$SRV_PGID" >"$T/$s.pgid" ;;
  esac
  if [ "${s%%_*}" = resque ] || [ "$s" = sidekiq ]; then
    wait_until 180 "$s: an agent registers" sh -c "[ \$(\"$DUMPERD\" agents $s --json --data '$DPD_DATA' | jq length) -ge 1 ]"
  else
    wait_until 180 "$s: the app answers" sh -c "curl -sf --max-time 5 http://127.0.0.1:$port/ | grep -qx ok"
    if [ "${s%%_*}" = passenger ]; then # --min-instances 2: wait for both application processes
      wait_until 60 "$s: two application processes" sh -c "[ \$(pgrep -fc '^Passenger RubyApp: $dir\$') = 2 ]"
    fi
  fi
  local boot=$((SECONDS - t0))
  local want; want=$(expected_pids "$s" "$dir")
  local nwant; nwant=$(echo "$want" | grep -c .)
  [ "$nwant" -ge 1 ] || fail "$s: no process found to expect an agent in"
  wait_until 40 "$s: $nwant agent(s) registered, one primary" sh -c \
    "j=\$(\"$DUMPERD\" agents $s --json --data '$DPD_DATA'); [ \$(echo \"\$j\" | jq length) -ge $nwant ] && [ \$(echo \"\$j\" | jq '[.[] | select(.role==\"primary\")] | length') = 1 ]"
  sleep 3 # longer than the secondary interval: any other agent would have registered by now
  agents_json "$s" >"$T/$s.agents.json"
  local got; got=$(jq '.[].pid' "$T/$s.agents.json" | sort)
  [ "$got" = "$want" ] || fail "$s: agents registered by pids [$(echo $got)], expected [$(echo $want)]"
  [ "$(jq '[.[] | select(.role == "primary")] | length' "$T/$s.agents.json")" = 1 ] || fail "$s: not exactly one primary"
  jq -e --arg d "$s" 'all(.[]; .dispatcher == ($d | sub("_.*"; "")))' "$T/$s.agents.json" >/dev/null ||
    fail "$s: dispatcher reported as $(jq -c '[.[].dispatcher]' "$T/$s.agents.json")"
  grep -q "$PW" "$T/$s.agents.json" && fail "$s: a password reached dumperd"
  # the gem's decisions are in the Rails log, one "agent starting" line per agent process
  local p; for p in $want; do
    grep -q "\[Dumper\] \[.*\] agent starting in ${s%%_*} process $p " "$dir/log/production.log" ||
      fail "$s: no 'agent starting' line for $p in the Rails log"
  done
  grep "\[Dumper\]" "$dir/log/production.log" | grep -F -- "$PW" >/dev/null && fail "$s: a password in the Rails log"
  # forked workers of an agent's process run none
  if [ "$s" = puma_cluster_preload ] || [ "$s" = unicorn_preload ] || [ "$s" = puma_fork_worker ]; then
    for _ in $(seq 12); do curl -sf --max-time 5 "http://127.0.0.1:$port/dumper"; echo; done >"$T/$s.worker_status"
    jq -e --argjson w "[$(echo $want | tr ' ' ,)]" 'select(.running == true and (.pid as $p | $w | index($p) | not))' \
      "$T/$s.worker_status" >/dev/null && fail "$s: a forked worker runs an agent"
    [ "$(jq .pid "$T/$s.worker_status" | sort -u | grep -vc "^$SRV_PID\$")" -ge 1 ] || [ "$s" = puma_fork_worker ] || fail "$s: no worker answered"
  fi
  if [ "${s%%_*}" = resque ]; then
    wait_until 20 "resque: per-job children ran" sh -c "[ \$(grep -c agent_running '$dir/log/jobs.log') -ge 3 ]"
    grep -q "agent_running true" "$dir/log/jobs.log" && fail "resque: a per-job child runs an agent"
  fi

  # manual backup of every database while the app serves requests
  "$DUMPERD" backup now "$s" --data "$DPD_DATA" >/dev/null || fail "$s: backup now"
  local n=0 bad=0 end=$((SECONDS + 90))
  while [ "$(good_of "$s")" -lt 3 ]; do
    [ $SECONDS -lt $end ] || fail "$s: 3 good backups not reached ($(good_of "$s"))"
    if [ "${s%%_*}" != resque ] && [ "$s" != sidekiq ]; then
      n=$((n + 1)); curl -sf --max-time 5 "http://127.0.0.1:$port/" | grep -qx ok || bad=$((bad + 1))
    fi
    sleep 0.1
  done
  [ "$bad" = 0 ] || fail "$s: $bad of $n requests failed during the backup"
  "$DUMPERD" backups "$s" --json --data "$DPD_DATA" | jq -r '.[] | [.database_key, .status] | @tsv' | sort >"$T/$s.keys"
  printf 'cache\tgood\nprimary\tgood\nredis\tgood\n' | cmp -s - "$T/$s.keys" || fail "$s: backups: $(cat "$T/$s.keys")"

  # stop (TERM) or kill (-9, the whole group) the server while a backup job runs
  local how=TERM
  case "$s" in puma_cluster_preload | unicorn | thin | resque | passenger* | thin_daemon) how=KILL ;; esac
  "$DUMPERD" backup now "$s" --database primary --data "$DPD_DATA" >/dev/null || fail "$s: backup now (2)"
  wait_until 30 "$s: a job process runs" has_job "$dir"
  local jobs; jobs=$(app_job_pids "$dir")
  if [ "${s%%_*}" = passenger ]; then # passenger daemonizes its watchdog and core into their own session
    local pp; pp=$(pgrep -f "^Passenger (RubyApp|AppPreloader): $dir\$" | tr '\n' ' ' || true)
    local core; core=$(ps -o ppid= -p "$(pgrep -f "^Passenger AppPreloader: $dir\$" | head -1)" 2>/dev/null | tr -d ' ' || true)
    kill -KILL $pp $core 2>/dev/null || true
    (cd "$dir" && passenger stop --pid-file "$dir/tmp/server.pid" >/dev/null 2>&1) || true
  elif [ "$how" = KILL ]; then kill -KILL -- "-$SRV_PGID" 2>/dev/null || true
  else kill -TERM "$SRV_PID" 2>/dev/null || true; fi
  local alive=0 j; for j in $jobs; do kill -0 "$j" 2>/dev/null && alive=$((alive + 1)); done
  wait_until 60 "$s: the backup started before the $how becomes good" sh -c "[ \$(\"$DUMPERD\" backups $s --json --data '$DPD_DATA' | jq '[.[] | select(.status==\"good\")] | length') = 4 ]"
  # the server is gone (TERM: graceful stop within 30 s)
  wait_until 30 "$s: the server exits after $how" sh -c "! kill -0 $SRV_PID 2>/dev/null"
  if [ "$how" = TERM ]; then kill -KILL -- "-$SRV_PGID" 2>/dev/null || true; fi
  grep -i "unknown child\|reaped unknown\|unknown process\|worker=unknown" "$dir/server.out" "$dir/log/"*.log 2>/dev/null &&
    fail "$s: the server reaped a process it did not start"
  [ -z "$(app_job_pids "$dir")" ] || sleep 2
  echo "$s boot=${boot}s agents=$nwant pids=$(echo $got | tr ' ' ,) requests_during_backup=$n/$n stop=$how job_alive_after_$how=$alive" >"$T/$s.result"
}

# --- run the scenarios, PAR at a time ---
gem_cleanup() {
  local s
  for s in $SCENARIOS; do [ -f "$T/$s.pgid" ] && kill -KILL -- "-$(cat "$T/$s.pgid")" 2>/dev/null || true; done
  for s in passenger passenger_direct; do
    [ -f "$T/app_$s/tmp/server.pid" ] && (cd "$T/app_$s" && passenger stop --pid-file tmp/server.pid >/dev/null 2>&1) || true
  done
}
gem_trap() { local rc=$?; set +e; gem_cleanup; (exit $rc); agent_cleanup; }
trap gem_trap EXIT
pids=()
for s in $SCENARIOS; do
  ( set -E; trap 'echo "FAIL [$s]: command failed at line $LINENO"' ERR; scenario "$s" ) >"$T/$s.log" 2>&1 &
  pids+=("$!")
  AG_PIDS+=("$!")
  while [ "$(jobs -rp | wc -l)" -ge "$PAR" ]; do sleep 0.5; done
done
for p in "${pids[@]}"; do wait "$p" || true; done
gem_cleanup
failed=0
for s in $SCENARIOS; do
  if [ -f "$T/$s.result" ]; then note "ok: $(cat "$T/$s.result")"
  else failed=1; note "FAILED: $s"; tail -5 "$T/$s.log" >&2; tail -20 "$T/app_$s/server.out" >&2 2>/dev/null || true; fi
done
[ "$failed" = 0 ] || fail "some servers failed"

# --- restores ---
want_sq=$(sqlite3 "$TPL/db/cache.sqlite3" "SELECT count(*), group_concat(k || '=' || v) FROM entries")
want_pg=$(pg_fingerprint "$DB")
# sidekiq keeps its own keys in the same Redis database: compare the app's keys only
want_rd=$(rcli --scan --pattern 'gem:*' | sort | md5sum; rcli GET gem:1; rcli GET gem:40)
first=1 n=0
for s in $SCENARIOS; do
  while IFS=$'\t' read -r key file; do
    n=$((n + 1)); f="$DPD_DATA/backups/$file"
    case "$key" in
    cache)
      quiet_check "restore $file" "$DUMPER" restore "$f" "sqlite://$T/r$n.db"
      [ "$(sqlite3 "$T/r$n.db" "SELECT count(*), group_concat(k || '=' || v) FROM entries")" = "$want_sq" ] || fail "$file: sqlite restore differs" ;;
    primary)
      if [ "$first" = 1 ]; then
        pg_fresh "${DB}_r"
        quiet_check "restore $file" "$DUMPER" restore "$f" "$(pg_url "${DB}_r")"
        [ "$(pg_fingerprint "${DB}_r")" = "$want_pg" ] || fail "$file: postgresql restore differs"
        pgq postgres -c "DROP DATABASE \"${DB}_r\" WITH (FORCE)"
      else quiet_check "verify $file" "$DUMPER" verify "$f"; fi ;;
    redis)
      if [ "$first" = 1 ]; then
        mkdir -p "$T/rd"
        quiet_check "restore $file" "$DUMPER" restore "$f" "redis://127.0.0.1:1/$RDB" --rdb-file "$T/rd/dump.rdb"
        p=$(free_port)
        redis-server --port "$p" --bind 127.0.0.1 --dir "$T/rd" --dbfilename dump.rdb --save '' --appendonly no \
          --daemonize yes --pidfile "$T/rd/pid" --logfile "$T/rd/log" >/dev/null
        wait_until 10 "restored redis" redis-cli -p "$p" ping
        got_rd=$(redis-cli -p "$p" -n "$RDB" --scan --pattern 'gem:*' | sort | md5sum; redis-cli -p "$p" -n "$RDB" GET gem:1; redis-cli -p "$p" -n "$RDB" GET gem:40)
        kill "$(cat "$T/rd/pid")"
        [ "$got_rd" = "$want_rd" ] || fail "$file: redis restore differs"
      else quiet_check "verify $file" "$DUMPER" verify "$f"; fi ;;
    esac
  done < <("$DUMPERD" backups "$s" --json --data "$DPD_DATA" | jq -r '.[] | select(.status == "good") | [.database_key, .file_name] | @tsv')
  first=0
done
note "ok: $n backups restored or verified; $(echo $SCENARIOS | wc -w) servers"
pgq postgres -c "DROP DATABASE IF EXISTS \"$DB\" WITH (FORCE)" >/dev/null
