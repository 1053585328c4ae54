#!/usr/bin/env bash
# gem_unit.sh - the dumper gem's Minitest unit tests (gem/test/test_*.rb): configuration
# precedence, stack detection across config shapes, start/start_if gating, generator output.
# They need no native extension (a fake records what the gem hands to the C agent).
. "$DUMPER_SRC/test/lib/common.sh"
command -v ruby >/dev/null || { note "skip: ruby not installed (scripts/install-deps.sh)"; exit 77; }
ruby -e 'require "rails/generators"' 2>/dev/null || { note "skip: rails not installed"; exit 77; }
cd "$DUMPER_SRC/gem"
ruby -Ilib -Itest -e 'Dir["test/test_*.rb"].sort.each { |f| require File.expand_path(f) }' >"$T/out" 2>&1 ||
  { cat "$T/out" >&2; fail "gem unit tests failed"; }
grep -E "^[0-9]+ runs" "$T/out" >&2
grep -qE " 0 failures, 0 errors" "$T/out" || { cat "$T/out" >&2; fail "gem unit tests failed"; }
