#!/usr/bin/env bash
# gem_credentials.sh - where the app key lives in a real Rails 6.1 app set up by the generator, and
# which key the agent uses, against a real dumperd. The fixture app (test/gem/app) gets the built
# .gem through vendor/cache and `bundle install --local` (the extension and helper are compiled);
# each boot is the app's production environment with DUMPER_DISPATCHER=puma (the agent starts as in
# a puma server) and ends once the agent is primary or disabled (key refused). DUMPER_API_BASE is
# never set: dumperd's address reaches the agent only through `--api-base`.
#   1. a master key from `rails credentials:edit`: `rails g dumper:install KEY --api-base URL` stores
#      KEY encrypted (rails credentials:show has it) and in no plain file of the app tree (logs
#      included) nor its output; the initializer has no key; with DUMPER_APP_KEY set to a wrong key
#      the agent uses the credentials (primary) and the Rails log names the ignored variable
#   2. rotation: `dumperd app rotate-key`, the generator again with the new key: the initializer is
#      kept (skip), the credentials get the new key, the agent registers with it
#   3. no master key: the generator stores nothing and says how to set DUMPER_APP_KEY; with it set
#      the agent registers; `--force --api-base` re-creates the initializer with the address
#   4. an app_key: argument in a hand-written initializer beats DUMPER_APP_KEY (the key is refused;
#      the log names the ignored variable)
# The Rails log says "agent starting" with where the key came from, the agent log "registered".
. "$DUMPER_SRC/test/lib/common.sh"
. "$DUMPER_SRC/test/lib/agent.sh"
. "$DUMPER_SRC/test/lib/gem.sh"
case "${DUMPER_BUILD:-}" in *asan*) note "skip: the gem builds its own (non-sanitized) libdumper; run once, in the normal build"; exit 77 ;; esac
for t in ruby bundle gem jq; do command -v "$t" >/dev/null || { note "skip: $t not installed"; exit 77; }; done

unset DUMPER_API_BASE DUMPER_APP_KEY RAILS_MASTER_KEY DUMPER_DEBUG
APP="$T/app"
gem_fixture_app "$APP"
cat >"$APP/script/dumper_probe.rb" <<'RUBY'
# Boots the app (production) and waits until the agent is registered or its key refused.
require_relative "../config/environment"
deadline = Time.now + 60
loop do
  s = Dumper::Agent.status
  if s[:disabled] || %w[primary secondary].include?(s[:role]) || Time.now > deadline
    puts "role=#{s[:role]} disabled=#{s[:disabled]}"
    break
  end
  sleep 0.1
end
RUBY

start_dumperd dpd --primary-interval 1 --secondary-interval 2 --lease 3
KEY1=$APP_KEY
export RAILS_ENV=production DATABASE_URL="sqlite3:$APP/db/primary.sqlite3" DUMPER_DISPATCHER=puma
export SECRET_KEY_BASE=$(printf 'k%.0s' $(seq 64)) MALLOC_ARENA_MAX=2

gen() { # gen NAME ARGS...: rails g dumper:install ARGS, output in $T/gen-NAME.out
  local name=$1; shift
  (cd "$APP" && bundle exec rails g dumper:install "$@") >"$T/gen-$name.out" 2>&1 || { cat "$T/gen-$name.out" >&2; fail "$name: the generator failed"; }
}
boot() { # boot NAME [ENV=VALUE...]: the probe's "role=... disabled=..." line
  local name=$1; shift
  rm -f "$APP/log/production.log" "$APP/log/dumper_agent.log"
  (cd "$APP" && env "$@" bundle exec ruby script/dumper_probe.rb) >"$T/boot-$name.out" 2>&1 || { cat "$T/boot-$name.out" >&2; fail "$name: the app did not boot"; }
  cp "$APP/log/production.log" "$T/boot-$name.production.log"
  cp "$APP/log/dumper_agent.log" "$T/boot-$name.agent.log" 2>/dev/null || true
  tail -1 "$T/boot-$name.out"
}
expect_boot() { # expect_boot NAME "role=... disabled=..." [ENV=VALUE...]
  local name=$1 want=$2 got; shift 2
  got=$(boot "$name" "$@")
  [ "$got" = "$want" ] || { cat "$T/boot-$name.production.log" "$T/boot-$name.agent.log" >&2 2>/dev/null; fail "$name: $got, expected $want"; }
}
rails_log_has() { # rails_log_has NAME REGEX: a [Dumper] line of that boot's Rails log matches
  grep -Eq "\[Dumper\] \[[^]]+\] $2" "$T/boot-$1.production.log" || { grep Dumper "$T/boot-$1.production.log" >&2; fail "$1: no Rails log line matching: $2"; }
}
no_plain_key() { # no_plain_key KEY WHAT: no file of the app tree (logs, tmp, config) holds KEY in plain text
  if grep -rlF -- "$1" "$APP" >"$T/leaks"; then cat "$T/leaks" >&2; fail "$2: the app key is in a plain file"; fi
  if grep -lF -- "$1" "$T"/gen-*.out >"$T/leaks"; then cat "$T/leaks" >&2; fail "$2: the generator printed the app key"; fi
}

# --- 1. with a master key, as `rails credentials:edit` makes it ---
(cd "$APP" && EDITOR=true bundle exec rails credentials:edit) >"$T/credentials-edit.out" 2>&1 || { cat "$T/credentials-edit.out" >&2; fail "rails credentials:edit failed"; }
[ -s "$APP/config/master.key" ] && [ -s "$APP/config/credentials.yml.enc" ] || fail "rails credentials:edit made no master key"
gen store "$KEY1" --api-base "$DPD_URL"
grep -q "update  config/credentials.yml.enc (dumper.app_key, encrypted with config/master.key)" "$T/gen-store.out" || { cat "$T/gen-store.out" >&2; fail "store: no credentials line"; }
grep -qx "Dumper::Agent.start(api_base: \"$DPD_URL\")" "$APP/config/initializers/dumper.rb" || { cat "$APP/config/initializers/dumper.rb" >&2; fail "store: the initializer does not start with the API base"; }
(cd "$APP" && bundle exec rails credentials:show) >"$T/show.out" 2>&1 || fail "rails credentials:show failed"
grep -q "^secret_key_base: " "$T/show.out" || fail "store: the credentials lost secret_key_base"
[ "$(grep -A1 '^dumper:$' "$T/show.out" | tail -1)" = "  app_key: \"$KEY1\"" ] || fail "store: the credentials do not hold the key"
rm -f "$T/show.out"
expect_boot creds "role=primary disabled=false" DUMPER_APP_KEY=dk_wrong_key_in_the_environment
rails_log_has creds "DUMPER_APP_KEY is set but ignored: the app key comes from credentials \(dumper\.app_key\), which comes first"
rails_log_has creds "agent starting in puma process [0-9]+ \(environment production, api $DPD_URL, app key from credentials \(dumper\.app_key\); registration and its failures are logged to $APP/log/dumper_agent.log\)"
grep -Eq " INFO  registered with $DPD_URL as agent [^ ]+ \(primary\), next poll in 1\.0 s$" "$T/boot-creds.agent.log" || fail "creds: no 'registered' line in the agent log"
grep -q "agent started" "$T/boot-creds.production.log" "$T/boot-creds.agent.log" && fail "creds: 'agent started' logged"
no_plain_key "$KEY1" "credentials"

# --- 2. rotation: the generator again with the new key ---
KEY2=$(dpd app rotate-key shop 2>/dev/null) || fail "rotate-key failed"
[ -n "$KEY2" ] && [ "$KEY2" != "$KEY1" ] || fail "rotate-key gave no new key"
cp "$APP/config/initializers/dumper.rb" "$T/initializer.before"
gen rotate "$KEY2"
grep -q "skip  config/initializers/dumper.rb exists; run with --force to re-create it" "$T/gen-rotate.out" || { cat "$T/gen-rotate.out" >&2; fail "rotate: the initializer was not skipped"; }
cmp -s "$T/initializer.before" "$APP/config/initializers/dumper.rb" || fail "rotate: the initializer changed without --force"
expect_boot rotated "role=primary disabled=false"
no_plain_key "$KEY2" "rotation"

# --- 3. no master key: nothing stored, DUMPER_APP_KEY; --force --api-base ---
rm -f "$APP/config/master.key" "$APP/config/credentials.yml.enc" "$APP/config/initializers/dumper.rb"
KEY3=$(dpd app rotate-key shop 2>/dev/null) || fail "rotate-key failed"
gen nomaster "$KEY3"
grep -q "This app has no master key (config/master.key or RAILS_MASTER_KEY), so the app key was not stored" "$T/gen-nomaster.out" || { cat "$T/gen-nomaster.out" >&2; fail "nomaster: no message"; }
grep -q "^  export DUMPER_APP_KEY=<the app key>" "$T/gen-nomaster.out" || fail "nomaster: the message does not say how to set DUMPER_APP_KEY"
[ ! -e "$APP/config/credentials.yml.enc" ] || fail "nomaster: credentials written"
grep -qx "Dumper::Agent.start" "$APP/config/initializers/dumper.rb" || fail "nomaster: unexpected initializer"
gen force --force --api-base "$DPD_URL"
grep -q "force  config/initializers/dumper.rb" "$T/gen-force.out" || { cat "$T/gen-force.out" >&2; fail "force: not re-created"; }
grep -qx "Dumper::Agent.start(api_base: \"$DPD_URL\")" "$APP/config/initializers/dumper.rb" || fail "force: no api_base"
expect_boot env "role=primary disabled=false" DUMPER_APP_KEY="$KEY3"
rails_log_has env "agent starting in puma process [0-9]+ \(environment production, api $DPD_URL, app key from DUMPER_APP_KEY; "
if grep -q "set but ignored" "$T/boot-env.production.log"; then fail "env: a conflict reported where there is none"; fi
no_plain_key "$KEY3" "no master key"

# --- 4. an argument beats DUMPER_APP_KEY ---
cat >"$APP/config/initializers/dumper.rb" <<RUBY
Dumper::Agent.start(app_key: "dk_stale_key_in_the_initializer", api_base: "$DPD_URL")
RUBY
expect_boot argument "role=none disabled=true" DUMPER_APP_KEY="$KEY3"
rails_log_has argument "DUMPER_APP_KEY is set but ignored: the app key comes from the app_key: argument, which comes first"
grep -q "refused the app key (HTTP 401)" "$T/boot-argument.agent.log" || fail "argument: the stale key was not the one refused"
note "ok"
