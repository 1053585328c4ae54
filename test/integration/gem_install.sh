#!/usr/bin/env bash
# gem_install.sh - installing the dumper gem: the .gem carries libdumper's sources; `gem install`
# compiles the extension and the `dumper` helper into the installed gem (the helper runs); the
# extension that every app process loads links the agent library alone (ldd: no database client
# library, no libarchive), while the helper carries the engine; a
# missing system library stops the install with the Debian packages to install; with
# DUMPER_NO_EXTENSION=1 the gem installs without the agent, and a Rails app using it still boots
# under puma and serves requests while Dumper::Agent.start logs why it did nothing.
. "$DUMPER_SRC/test/lib/common.sh"
. "$DUMPER_SRC/test/lib/agent.sh"
for t in ruby gem bundle puma; do command -v "$t" >/dev/null || { note "skip: $t not installed"; exit 77; }; done
GEMFILE=$("$DUMPER_SRC/gem/build.sh" "$T/pkg") || fail "gem build failed"
tar -xOf "$GEMFILE" data.tar.gz | tar -tz >"$T/contents"
for f in ext/dumper/extconf.rb ext/dumper/dumper_ext.c ext/dumper/libdumper/include/dumper.h \
  ext/dumper/libdumper/lib/agent/agent.c ext/dumper/libdumper/lib/agent-sources.txt ext/dumper/libdumper/cli/main.c lib/dumper.rb \
  lib/generators/dumper/install/templates/dumper.rb.tt; do
  grep -qx "$f" "$T/contents" || fail "the gem lacks $f"
done
DEFAULT_PATH=$(ruby -e 'print Gem.default_path.join(":")')

# 1. a normal install: extension + helper inside the installed gem
GEM_HOME="$T/g1" MAKEFLAGS=-j2 gem install --local --no-document "$GEMFILE" >"$T/i1.log" 2>&1 || { tail -20 "$T/i1.log" >&2; fail "gem install failed"; }
HELPER=$(GEM_HOME="$T/g1" GEM_PATH="$T/g1:$DEFAULT_PATH" ruby -e 'require "dumper"; abort(Dumper.native_error.to_s) unless Dumper.native?; print Dumper.helper_path') ||
  fail "the installed extension does not load"
case "$HELPER" in "$T/g1/gems/dumper-"*/lib/dumper/dumper | "$T/g1/extensions/"*/dumper/dumper) ;; *) fail "helper at an unexpected place: $HELPER" ;; esac
"$HELPER" --help >/dev/null 2>&1 || fail "the installed helper does not run"
"$HELPER" --help >"$T/help" 2>&1 || true
grep -q "job\|agent" "$T/help" || fail "the helper is not the dumper CLI"
EXT=$(GEM_HOME="$T/g1" GEM_PATH="$T/g1:$DEFAULT_PATH" ruby -e 'require "dumper"; print $LOADED_FEATURES.grep(%r{/dumper/dumper_ext\.so$}).first')
[ -f "$EXT" ] || fail "no loaded dumper_ext.so ($EXT)"
ldd "$EXT" >"$T/ldd.ext"
ldd "$HELPER" >"$T/ldd.helper"
ENGINE_LIBS='libpq|libmariadb|libmysqlclient|libmongoc|libbson|libmongocrypt|hiredis|libsqlite3|libarchive'
if grep -E "$ENGINE_LIBS" "$T/ldd.ext" >"$T/bad"; then
  cat "$T/bad" >&2
  fail "the extension loads engine libraries into the app process"
fi
grep -q libcurl "$T/ldd.ext" || fail "the extension does not link libcurl (ldd check broken?)"
[ "$(grep -cE "$ENGINE_LIBS" "$T/ldd.helper")" -ge 7 ] || { cat "$T/ldd.helper" >&2; fail "the helper lacks the engine's libraries"; }

# 2. a missing system library: a clear message naming the Debian packages, no half install
rc=0
GEM_HOME="$T/g2" PKG_CONFIG_LIBDIR="$T/nothing" gem install --local --no-document "$GEMFILE" >"$T/i2.log" 2>&1 || rc=$?
[ "$rc" != 0 ] || fail "install succeeded without the system libraries"
grep -q "dumper: missing system libraries" "$T/i2.log" || { cat "$T/i2.log" >&2; fail "no missing-library message"; }
grep -q "sudo apt-get install libcurl4-openssl-dev libcjson-dev libpq-dev" "$T/i2.log" || fail "the message does not name the Debian packages"

# 3. DUMPER_NO_EXTENSION=1: installs; an app using it boots and serves; the gem says why there is no agent
cp -r "$DUMPER_SRC/test/gem/app" "$T/app"
rm -rf "$T/app/log"/* "$T/app/Gemfile.lock" "$T/app/config/initializers/dumper.rb"
mkdir -p "$T/app/vendor/cache" "$T/app/log" "$T/app/tmp"
cp "$GEMFILE" "$T/app/vendor/cache/"
export GEM_HOME="$T/g3" GEM_PATH="$T/g3:$DEFAULT_PATH"
unset BUNDLE_PATH BUNDLE_GEMFILE
(cd "$T/app" && DUMPER_NO_EXTENSION=1 bundle install --local --no-cache >"$T/i3.log" 2>&1) || { tail -20 "$T/i3.log" >&2; fail "bundle install failed"; }
cat >"$T/app/config/initializers/dumper.rb" <<'RUBY'
Dumper::Agent.start(app_key: "dk_test", api_base: "http://127.0.0.1:1")
RUBY
sqlite3 "$T/app/db/cache.sqlite3" "CREATE TABLE entries(k)"
port=$(free_port)
# primary: a SQLite file here (the test needs no PostgreSQL)
(cd "$T/app" && DATABASE_URL="sqlite3:$T/app/db/primary.sqlite3" RAILS_ENV=production PORT=$port \
  exec bundle exec puma -C config/puma_single.rb </dev/null >"$T/puma.out" 2>&1) &
PUMA=$!
AG_PIDS+=("$PUMA")
sqlite3 "$T/app/db/primary.sqlite3" "CREATE TABLE items(id INTEGER PRIMARY KEY); INSERT INTO items VALUES (1)"
wait_until 120 "the app answers" sh -c "curl -sf http://127.0.0.1:$port/ | grep -qx ok"
curl -sf "http://127.0.0.1:$port/dumper" | jq -e '.running == false' >/dev/null || fail "an agent runs without the extension"
grep -q "\[Dumper\] \[.*\] agent not started: the dumper native extension could not be loaded" "$T/app/log/production.log" ||
  { grep Dumper "$T/app/log/production.log" >&2; fail "no log line saying why the agent did not start"; }
kill -TERM "$PUMA"; wait "$PUMA" || true
note "ok: gem with libdumper sources; extension without engine libraries; helper installed at ${HELPER#$T/}; missing-library message; no-extension app boots"
