#!/usr/bin/env bash
# bench/gem_rss.sh [OLD_REF] [RUNS] - what `require "dumper"` and a running agent add to the RSS of a
# Ruby process that already has openssl, pg and json loaded (a typical Rails app), old build vs new
# build in the same run.
#
# Builds the gem of the working tree (new) and of git OLD_REF (default main; its tree exported with
# bench/build_ref.sh, no checkout), installs each into a GEM_HOME of its own (gem install compiles
# the extension and the helper, as a user's install does), and starts a real dumperd (this build's).
# Then RUNS times (default 7), alternating old and new, a fresh ruby process:
#   1. requires openssl, pg and json, runs GC, reads VmRSS from /proc/self/status    (before)
#   2. require "dumper"                                                                (required)
#   3. Dumper::Agent.start(...) (the public API; DUMPER_DISPATCHER=puma stands in for the app
#      server) with one database against dumperd, waits until the agent is registered and has
#      polled, then sleeps 2 s                                                           (agent)
# and, for scale, the same process shape loading only libcurl and cJSON with Fiddle (the floor of
# any agent that speaks HTTP). Reports medians in KiB. Target: agent - before <= 2.5 MiB (2560 KiB).
# Needs a build in build/ (for dumperd), ruby, gem and ruby-pg.
set -euo pipefail
cd "$(dirname "$0")/.."
OLD_REF=${1:-main}
RUNS=${2:-7}
B=${DUMPER_BIN:-$PWD/build/bin}
W=$(mktemp -d /tmp/dumper-bench-gem.XXXXXX)
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; rm -rf "$W"' EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
waitport() { for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.1; done; return 1; }
DEFAULT_PATH=$(ruby -e 'print Gem.default_path.join(":")')

# the two gems, installed
OLD_SRC=$(bench/build_ref.sh "$OLD_REF" "${GEM_BENCH_OLD_DIR:-/tmp/dumper-bench-ref-$(git rev-parse --short "$OLD_REF")}" 2>/dev/null) ||
  OLD_SRC=
if [ -z "$OLD_SRC" ]; then # a tree that does not build with cmake here still has a gem
  OLD_SRC="$W/oldsrc"
  mkdir -p "$OLD_SRC"
  git archive "$OLD_REF" | tar -x -C "$OLD_SRC"
fi
for v in old new; do
  src=$PWD
  [ "$v" = old ] && src=$OLD_SRC
  gemfile=$("$src/gem/build.sh" "$W/pkg-$v")
  GEM_HOME="$W/gems-$v" MAKEFLAGS=-j"$(nproc)" gem install --local --no-document "$gemfile" >"$W/install-$v.log" 2>&1 ||
    { tail -20 "$W/install-$v.log" >&2; exit 1; }
done

# dumperd
DP=$(port)
KEY=$("$B/dumperd" app create bench --data "$W/d" 2>/dev/null)
"$B/dumperd" serve --data "$W/d" --listen "127.0.0.1:$DP" --primary-interval 1 --secondary-interval 2 --lease 3 \
  </dev/null >"$W/dumperd.log" 2>&1 &
PIDS+=($!)
waitport "$DP"
sqlite3 "$W/app.db" "CREATE TABLE t(a); INSERT INTO t VALUES (1);"

cat >"$W/measure.rb" <<'RUBY'
require "openssl"
require "pg"
require "json"
def rss = File.read("/proc/self/status")[/^VmRSS:\s+(\d+)/, 1].to_i
GC.start
before = rss
if ENV["FLOOR"]
  require "fiddle"
  Fiddle.dlopen("libcurl.so.4")
  Fiddle.dlopen("libcjson.so.1")
  puts "#{before} #{rss} #{rss}"
  exit
end
require "dumper"
abort(Dumper.native_error.to_s) unless Dumper.native?
required = rss
# the gem's public API, as an initializer calls it (no Rails here: DUMPER_DISPATCHER says "app server")
ENV["DUMPER_DISPATCHER"] = "puma"
Dumper::Agent.start(app_key: ENV["KEY"], api_base: ENV["API"], log_file: ENV["LOG"],
                    databases: [{url: "sqlite://#{ENV['DB']}", key: "app"}])
t0 = Time.now
sleep 0.05 until %w[primary secondary].include?(Dumper::Agent.status[:role]) || Time.now - t0 > 20
abort("the agent did not register: #{File.read(ENV['LOG']) rescue '-'}") unless %w[primary secondary].include?(Dumper::Agent.status[:role])
sleep 2 # a poll or two at the 1 s interval
agent = rss
Dumper::Agent.stop
puts "#{before} #{required} #{agent}"
RUBY

run() { # run old|new|floor -> "before required agent"
  local v=$1 gh=$W/gems-new env=()
  [ "$v" = old ] && gh=$W/gems-old
  [ "$v" = floor ] && env=(FLOOR=1)
  env "${env[@]}" GEM_HOME="$gh" GEM_PATH="$gh:$DEFAULT_PATH" KEY="$KEY" API="http://127.0.0.1:$DP" DB="$W/app.db" \
    LOG="$W/agent-$v.log" ruby "$W/measure.rb"
}
for i in $(seq "$RUNS"); do
  for v in old new floor; do
    run "$v" >>"$W/$v.txt"
  done
done
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : int((a[NR/2] + a[NR/2+1]) / 2)}'; }
col() { awk -v c="$2" '{print $c}' "$W/$1.txt" | median; }
dcol() { awk -v c="$2" '{print $c - $1}' "$W/$1.txt" | median; }
load=$(cut -d' ' -f1-3 /proc/loadavg)
cat <<OUT
gem RSS ($(date -u +%FT%TZ), $(nproc) cores, load $load, $(ruby -e 'print RUBY_DESCRIPTION'), $RUNS runs each, medians in KiB)
old = $OLD_REF ($(git rev-parse --short "$OLD_REF")), new = working tree ($(git rev-parse --short HEAD)$(git diff --quiet HEAD || echo +changes))
                        before    +require  +agent     require-before  agent-before
old                     $(printf '%-9s %-9s %-10s %-15s %s' "$(col old 1)" "$(col old 2)" "$(col old 3)" "$(dcol old 2)" "$(dcol old 3)")
new                     $(printf '%-9s %-9s %-10s %-15s %s' "$(col new 1)" "$(col new 2)" "$(col new 3)" "$(dcol new 2)" "$(dcol new 3)")
libcurl+cJSON (dlopen)  $(printf '%-9s %-9s %-10s %-15s %s' "$(col floor 1)" "$(col floor 2)" "-" "$(dcol floor 2)" "-")
target: new agent-before <= 2560 KiB
OUT
