#!/usr/bin/env bash
# gem_deploy_hook.sh - the deploy hook of the gem against a real dumperd, from the fixture Rails 6.1 app
# (test/gem/app, the built .gem installed through vendor/cache) with its agent running in puma:
#   1. before any agent registered a database: `bin/rails dumper:backup` exits 1 naming why
#   2. `bin/rails dumper:backup` (app key from DUMPER_APP_KEY, as the agent) queues a backup of both
#      databases (primary, cache), waits, prints each job good and exits 0; the catalog has both good, and
#      the primary's backup restores to the rows the app holds
#   3. `Dumper.backup!(wait: true, database: "cache")` from `rails runner` returns the good job
#   4. an API token (DUMPER_API_TOKEN, write scope, app-scoped) instead of the app key works the same; a
#      read token is refused (exit 1, HTTP 403); a wrong app key: exit 1, HTTP 401
#   5. a backup that fails (the cache database file is gone): exit 1 with the job, its error code
#   6. no agent takes the job (the server stopped): exit 1 after DUMPER_BACKUP_TIMEOUT seconds
. "$DUMPER_SRC/test/lib/common.sh"
. "$DUMPER_SRC/test/lib/agent.sh"
. "$DUMPER_SRC/test/lib/gem.sh"
case "${DUMPER_BUILD:-}" in *asan*) note "skip: the gem builds its own (non-sanitized) libdumper; run once, in the normal build"; exit 77 ;; esac
for t in ruby bundle gem jq sqlite3 puma; do command -v "$t" >/dev/null || { note "skip: $t not installed"; exit 77; }; done

unset DUMPER_API_BASE DUMPER_APP_KEY DUMPER_API_TOKEN RAILS_MASTER_KEY DUMPER_DEBUG DUMPER_BACKUP_TIMEOUT
APP="$T/app"
gem_fixture_app "$APP"
echo 'Dumper::Agent.start' >"$APP/config/initializers/dumper.rb"
sqlite3 "$APP/db/primary.sqlite3" "CREATE TABLE items(id INTEGER PRIMARY KEY, total INTEGER);
  WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 500) INSERT INTO items SELECT i, i * 3 FROM s;"
sqlite3 "$APP/db/cache.sqlite3" "CREATE TABLE entries(k TEXT PRIMARY KEY, v TEXT); INSERT INTO entries VALUES ('a', 'b');"

start_dumperd dpd --primary-interval 1 --secondary-interval 2 --lease 3
export RAILS_ENV=production DATABASE_URL="sqlite3:$APP/db/primary.sqlite3" DUMPER_API_BASE="$DPD_URL"
export DUMPER_APP_KEY=$APP_KEY SECRET_KEY_BASE=$(printf 'k%.0s' $(seq 64)) MALLOC_ARENA_MAX=2

hook() { # hook NAME [ENV=VALUE...]: bin/rails dumper:backup; its exit code in $T/NAME.rc, output in $T/NAME.out
  local name=$1 rc=0; shift
  (cd "$APP" && env "$@" bundle exec bin/rails dumper:backup) >"$T/$name.out" 2>&1 || rc=$?
  echo "$rc" >"$T/$name.rc"
}
expect_out() { # expect_out NAME RC REGEX: exit code and a line of the output
  local name=$1 rc=$2 re=$3
  [ "$(cat "$T/$name.rc")" = "$rc" ] || { cat "$T/$name.out" >&2; fail "$name: exit $(cat "$T/$name.rc"), expected $rc"; }
  grep -Eq -- "$re" "$T/$name.out" || { cat "$T/$name.out" >&2; fail "$name: no line matching /$re/"; }
}

# 1. no agent yet
hook none
expect_out none 1 "^\[Dumper\] POST /api/v1/apps/shop/backups: HTTP 404: no database is known in environment 'production' \(no agent registered one\)$"

# the app in puma, its agent primary
PORT=$(free_port)
(cd "$APP" && PORT=$PORT exec bundle exec puma -C config/puma_single.rb) </dev/null >"$T/puma.out" 2>&1 &
SRV=$!
AG_PIDS+=("$SRV")
wait_until 120 "the app answers" sh -c "curl -sf --max-time 5 http://127.0.0.1:$PORT/ | grep -qx ok"
wait_until 60 "the agent is primary" sh -c "[ \"\$(\"$DUMPERD\" agents shop --json --data '$DPD_DATA' | jq -r '.[0].role')\" = primary ]"

# 2. the rake task with the app key
t0=$SECONDS
hook good
expect_out good 0 "^\[Dumper\] backup of shop \(production\) queued: j_[0-9]+, j_[0-9]+$"
expect_out good 0 "^\[Dumper\] j_[0-9]+ \(primary\): good, b_[0-9]+$"
expect_out good 0 "^\[Dumper\] j_[0-9]+ \(cache\): good, b_[0-9]+$"
note "dumper:backup of two databases: $((SECONDS - t0)) s (boot included)"
dpd backups shop --json >"$T/backups.json"
[ "$(jq '[.[] | select(.status == "good")] | length' "$T/backups.json")" = 2 ] || { cat "$T/backups.json" >&2; fail "two good backups expected"; }
primary_file=$(jq -r '[.[] | select(.database_key == "primary")][0].file_name' "$T/backups.json")
"$DUMPER" restore "$DPD_DATA/backups/$primary_file" "sqlite://$T/restored.db" >"$T/restore.out" 2>&1 ||
  { cat "$T/restore.out" >&2; fail "restore of the primary's backup"; }
[ "$(sqlite3 "$T/restored.db" 'SELECT COUNT(*), SUM(total) FROM items')" = "500|375750" ] || fail "restored rows differ"

# 3. Dumper.backup! from Ruby
(cd "$APP" && bundle exec rails runner 'r = Dumper.backup!(wait: true, database: "cache", out: nil); puts "result=#{r[:jobs].values.join(",")} app=#{r[:app]}"') \
  >"$T/runner.out" 2>&1 || { cat "$T/runner.out" >&2; fail "Dumper.backup! raised"; }
grep -qx "result=good app=shop" "$T/runner.out" || { cat "$T/runner.out" >&2; fail "Dumper.backup! result"; }

# 4. API tokens instead of the app key; a wrong key
WTOK=$(dpd token create deploy --scope write --app shop 2>/dev/null)
RTOK=$(dpd token create reader --scope read 2>/dev/null)
hook token DUMPER_APP_KEY= DUMPER_API_TOKEN="$WTOK" DUMPER_BACKUP_DATABASE=cache
expect_out token 0 "^\[Dumper\] j_[0-9]+ \(cache\): good, b_[0-9]+$"
hook reader DUMPER_APP_KEY= DUMPER_API_TOKEN="$RTOK" DUMPER_APP=shop
expect_out reader 1 "^\[Dumper\] POST /api/v1/apps/shop/backups: HTTP 403: this token's scope \(read\) does not allow POST /api/v1/apps/\{app\}/backups \(needs write\)$"
hook wrongkey DUMPER_APP_KEY="dk_$(printf '0%.0s' $(seq 64))"
expect_out wrongkey 1 "^\[Dumper\] GET /api/v1/apps: HTTP 401: missing or wrong app key$"

# 5. a backup that fails
mv "$APP/db/cache.sqlite3" "$APP/db/cache.sqlite3.away"
hook failed
expect_out failed 1 "^\[Dumper\] j_[0-9]+ \(cache\): failed \(not_found: "
expect_out failed 1 "^\[Dumper\] backup failed: j_[0-9]+ \(see above and \`dumperd backups\`\)$"
mv "$APP/db/cache.sqlite3.away" "$APP/db/cache.sqlite3"

# 6. no agent takes the job
kill_ours TERM "$SRV"
wait "$SRV" 2>/dev/null || true
t0=$SECONDS
hook timeout DUMPER_BACKUP_TIMEOUT=3
expect_out timeout 1 "^\[Dumper\] backup not finished after 3 s: j_[0-9]+, j_[0-9]+ still pending \(is an agent of this app running\? DUMPER_BACKUP_TIMEOUT raises the limit\)$"
note "ok"
