#!/usr/bin/env bash
# Install the Debian packages Dumper's build and test suite need.
# Idempotent and non-interactive; safe to run again. Needs root (or sudo).
set -euo pipefail

PKGS=(
  # build
  build-essential cmake pkg-config git
  libcurl4-openssl-dev libcjson-dev libpq-dev libmariadb-dev libmongoc-dev libbson-dev
  libhiredis-dev libzstd-dev zlib1g-dev libssl-dev libsqlite3-dev libmicrohttpd-dev
  libarchive-dev libcmocka-dev
  # tools the tests and sources drive
  sqlite3 postgresql postgresql-client mariadb-server mariadb-client redis-server redis-tools
  python3 python3-pymongo python3-jsonschema valgrind awscli curl ca-certificates tzdata zstd
  # a real SMTP server (with STARTTLS and AUTH) for dumperd's email notifications (dumperd_notify.sh)
  python3-aiosmtpd
  # the age tool: encrypted backups must interoperate with it both ways (test/integration/age_*.sh)
  age
  # benchmarks (bench/): /usr/bin/time -v for peak RSS, wrk + nginx for dumperd's poll benchmark;
  # fuzzing (test/fuzz): clang with libFuzzer
  time wrk nginx-light clang
  jq bc openssl  # agent end-to-end tests and bench/agent_cost.sh
  # the Ruby gem and its end-to-end tests (Debian's Rails 6.1 and app servers; `rails` itself
  # pulls node packages, ruby-rails is the framework without them; ruby-mysql2 for gem_mysql)
  ruby ruby-dev bundler rake ruby-rails ruby-minitest ruby-pg ruby-mysql2 ruby-sqlite3 ruby-redis
  puma unicorn thin passenger ruby-sidekiq ruby-webrick procps
  # the dashboard's browser tests (test/integration/site_browser.sh: headless Chromium driven by
  # playwright-core from npm)
  chromium nodejs
)
# Debian's nodejs ships npm separately; NodeSource's nodejs bundles it (and conflicts with Debian's npm).
command -v npm >/dev/null 2>&1 || PKGS+=(npm)

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all packages present"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# policy-rc.d keeps Debian from starting the servers it installs: tests start their own.
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
  $SUDO chmod +x /usr/sbin/policy-rc.d
  trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
fi
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
