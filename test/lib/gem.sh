# test/lib/gem.sh - the gem's end-to-end tests install the gem as a user would. Source after common.sh.
#   gem_fixture_app DIR [GEMFILE LINE...]
#       builds the .gem once per test ($T/pkg, path in GEMFILE), points GEM_HOME at an empty
#       $T/gems (so no installed copy of the same version is used instead: docs/gem.md), copies the
#       fixture app test/gem/app to DIR without logs, databases, initializer or lock file, puts the
#       .gem into DIR/vendor/cache, appends the given lines to its Gemfile, and runs
#       `bundle install --local --no-cache`, which compiles the extension and the helper.
gem_fixture_app() {
  local dir=$1 line t0
  shift
  if [ -z "${GEMFILE:-}" ]; then GEMFILE=$("$DUMPER_SRC/gem/build.sh" "$T/pkg") || fail "gem build failed"; fi
  export GEM_HOME="$T/gems"
  GEM_PATH="$T/gems:$(ruby -e 'print Gem.default_path.join(":")')"
  export GEM_PATH
  unset BUNDLE_PATH BUNDLE_GEMFILE
  cp -r "$DUMPER_SRC/test/gem/app" "$dir"
  rm -rf "$dir/log"/* "$dir/tmp"/* "$dir/db"/* "$dir/config/initializers/dumper.rb" "$dir/Gemfile.lock"
  mkdir -p "$dir/vendor/cache" "$dir/log" "$dir/tmp" "$dir/db"
  cp "$GEMFILE" "$dir/vendor/cache/"
  for line in "$@"; do echo "$line" >>"$dir/Gemfile"; done
  t0=$SECONDS
  (cd "$dir" && MAKEFLAGS=-j2 bundle install --local --no-cache >"$T/bundle.log" 2>&1) ||
    { tail -30 "$T/bundle.log" >&2; fail "bundle install --local failed"; }
  note "bundle install --local (compiles the extension and the helper): $((SECONDS - t0)) s"
}
