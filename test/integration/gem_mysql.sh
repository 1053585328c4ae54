#!/usr/bin/env bash
# gem_mysql.sh - the dumper gem end to end on MySQL/MariaDB: the fixture Rails 6.1 app (gem installed
# as in gem_servers.sh: the built .gem in vendor/cache, `bundle install --local`, `rails g
# dumper:install`), with `gem "mysql2"` added and its primary database on the MariaDB of
# scripts/services.sh, booted under puma (single) against a real dumperd, twice:
#   hash  database.yml `adapter: mysql2` with host/port/username/password/database keys (the gem's
#         hash-config path), the password written literally in the YAML
#   url   DATABASE_URL=mysql2://user:<percent-encoded password>@127.0.0.1:PORT/DB
# The app's user has a password with awkward characters (space, @ : / ? # & = + ; quotes, backslash,
# and "%41", which must not be percent-decoded) that is unique to this run. For each boot:
#   - the agent registers (one primary) and dumperd's databases JSON (the dashboard's /ui/apps/ID)
#     shows the database as type mysql with host, port, name and user
#   - a manual `dumperd backup now` becomes good while every HTTP request to the app (each one a
#     query on MariaDB) is answered, and while it runs no /proc/*/cmdline on the machine holds the
#     password (mariadb-dump must be seen running, else the scan proves nothing)
#   - the password is nowhere in dumperd's agents, databases or backups JSON, log/dumper_agent.log,
#     log/production.log or the server's output (the Rails log shows the URL redacted)
#   - the backup, downloaded from dumperd's API (sha256 checked against the catalog and the header),
#     decompresses to a mariadb-dump of the database without the password, and restores with
#     `dumper restore FILE URL --sha256 <the catalog's>` into a fresh MariaDB database equal to the
#     source, table by table (row count and checksum of the rows): hash mode with the downloaded file
#     alone (without --sha256 the error says to pass it), url mode with the manifest from
#     GET /api/v1/backups/{id}/manifest beside it (checked: no password, the catalog's sha256)
. "$DUMPER_SRC/test/lib/common.sh"
. "$DUMPER_SRC/test/lib/agent.sh"
. "$DUMPER_SRC/test/lib/sql.sh"
. "$DUMPER_SRC/test/lib/gem.sh"
need_service mariadb
case "${DUMPER_BUILD:-}" in *asan*) note "skip: the gem builds its own (non-sanitized) libdumper; run once, in the normal build"; exit 77 ;; esac
for t in ruby bundle gem puma jq curl mariadb; do
  command -v "$t" >/dev/null || { note "skip: $t not installed (scripts/install-deps.sh)"; exit 77; }
done
ruby -e 'require "mysql2"' 2>/dev/null || { note "skip: ruby-mysql2 not installed (scripts/install-deps.sh)"; exit 77; }

# --- the gem, installed as a user would, into a copy of the fixture app with mysql2 ---
unset RAILS_ENV DATABASE_URL REDIS_URL
APP="$T/app"
gem_fixture_app "$APP" 'gem "mysql2"'
EXT=$(cd "$APP" && bundle exec ruby -e 'require "dumper"; abort(Dumper.native_error.to_s) unless Dumper.native?; print Dumper.helper_path') ||
  fail "the extension does not load"
(cd "$APP" && bundle exec ruby -e 'require "mysql2"; print Mysql2::VERSION' >"$T/mysql2.version") || fail "mysql2 does not load in the bundle"
(cd "$APP" && bundle exec rails g dumper:install >"$T/generator.log" 2>&1) || { cat "$T/generator.log" >&2; fail "rails g dumper:install failed"; }
grep -qx 'Dumper::Agent.start' "$APP/config/initializers/dumper.rb" || fail "generated initializer does not start the agent"

# --- MariaDB: a database and a user of this run; the password is unique to it ---
DB=gem_my_$$ USR=gem_my_$$
SECRET="gm-$$-$RANDOM "'p@ss:w/rd?#&=+%41;"\x '"'"'q'
ENC=$(S=$SECRET "$PY" -c 'import os, urllib.parse; print(urllib.parse.quote(os.environ["S"], safe=""))') # not in argv
printf '%s\n%s\n' "$SECRET" "$ENC" >"$T/secret.pat" # grep -f: no grep's argv holds the password
sqlpw=$(printf '%s' "$SECRET" | sed "s/\\\\/\\\\\\\\/g; s/'/''/g")
yamlpw=${SECRET//\'/\'\'} # YAML single quotes: the password literally, only ' doubled
my_cleanup() { myq -e "DROP DATABASE IF EXISTS \`$DB\`; DROP DATABASE IF EXISTS \`${DB}_hash\`;
  DROP DATABASE IF EXISTS \`${DB}_url\`; DROP USER IF EXISTS '$USR'@'%'" 2>/dev/null || true; }
my_cleanup
# on stdin: the mariadb client's argv holds no password
myq <<SQL
CREATE USER '$USR'@'%' IDENTIFIED BY '$sqlpw';
CREATE DATABASE \`$DB\`;
GRANT ALL ON \`$DB\`.* TO '$USR'@'%';
USE \`$DB\`;
CREATE TABLE items(id INT PRIMARY KEY AUTO_INCREMENT, name VARCHAR(64) NOT NULL, note TEXT, price DECIMAL(10,2),
  created_at DATETIME(6)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
INSERT INTO items(name, note, price, created_at)
  SELECT CONCAT('item-', seq), CONCAT(MD5(seq), MD5(seq * 7), MD5(seq * 13)), seq / 100,
         TIMESTAMP('2024-01-01 00:00:00') + INTERVAL seq SECOND
  FROM seq_1_to_300000;
CREATE TABLE notes(k VARCHAR(32) PRIMARY KEY, body MEDIUMTEXT, data BLOB, flag BOOLEAN)
  ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
INSERT INTO notes VALUES ('quotes', 'it''s "quoted" \\\\ back\\\\slash', NULL, 1),
  ('utf8', 'héllo wörld ✓ 日本 🎉', X'00FF10', 0), ('null', NULL, X'', NULL),
  ('newline', 'line1\nline2\ttab', UNHEX(MD5('x')), 1);
CREATE TABLE empty_one(id INT PRIMARY KEY) ENGINE=InnoDB;
SQL
WANT=$(my_fingerprint "$DB")
[ "$(echo "$WANT" | wc -l)" = 3 ] || fail "expected 3 tables in the source: $WANT"

start_dumperd dpd --primary-interval 1 --secondary-interval 2 --lease 3
# a dashboard user: /ui/apps/ID is dumperd's JSON of the databases the agents reported
UIPW="ui-$$-$RANDOM-pw"
printf '%s\n' "$UIPW" | "$DUMPERD" user create admin --data "$DPD_DATA" >/dev/null 2>&1 || fail "dumperd user create"
jq -n --arg p "$UIPW" '{user: "admin", password: $p}' >"$T/login.json"
curl -sf -c "$T/jar" -H 'Content-Type: application/json' --data @"$T/login.json" "$DPD_URL/ui/login" >/dev/null || fail "dashboard login"
export DUMPER_API_BASE="$DPD_URL" RAILS_ENV=production SECRET_KEY_BASE=$(printf 'k%.0s' $(seq 64)) MALLOC_ARENA_MAX=2

# --- helpers ---
app_job_pids() { # dumper job processes whose cwd is the app
  local p
  for p in $(pgrep -f "^$EXT job --no-fork" || true); do
    [ "$(readlink "/proc/$p/cwd" 2>/dev/null)" = "$APP" ] && echo "$p"
  done
  return 0
}
no_job() { [ -z "$(app_job_pids)" ]; }
good_of() { "$DUMPERD" backups "$1" --json --data "$DPD_DATA" | jq '[.[] | select(.status == "good")] | length'; }
app_id() { curl -sf -b "$T/jar" "$DPD_URL/ui/apps" | jq -er --arg n "$1" '.apps[] | select(.name == $n) | .id'; }
# the password (or its URL form) in FILE...? (grep -f: the pattern is in a file, not an argv)
has_secret() { grep -qaF -f "$T/secret.pat" "$@"; }
dump_running() { pgrep -f "^(mariadb-dump|mysqldump) .*$DB( |\$)" >/dev/null; }

write_database_yml() { # hash | url
  if [ "$1" = hash ]; then
    cat >"$APP/config/database.yml" <<YML
# primary: MariaDB from the keys below (the gem builds its URL from the configuration hash)
production:
  primary:
    adapter: mysql2
    host: 127.0.0.1
    port: $MYP
    username: $USR
    password: '$yamlpw'
    database: $DB
    encoding: utf8mb4
YML
  else
    cat >"$APP/config/database.yml" <<'YML'
# primary: MariaDB from DATABASE_URL
production:
  primary:
    adapter: mysql2
    encoding: utf8mb4
YML
  fi
}

PUMA=
stop_app() {
  [ -n "$PUMA" ] || return 0
  kill -TERM "$PUMA" 2>/dev/null || true
  local _
  for _ in $(seq 150); do kill -0 "$PUMA" 2>/dev/null || break; sleep 0.2; done
  kill -KILL "$PUMA" 2>/dev/null || true
  wait "$PUMA" 2>/dev/null || true
  PUMA=
}
gem_trap() { local rc=$? p; set +e; stop_app; for p in $(app_job_pids); do kill -9 "$p"; done; my_cleanup; (exit $rc); agent_cleanup; }
trap gem_trap EXIT

# boot MODE: one boot of the app, its backup checked; leaves the downloaded backup in $T/MODE.dl
boot() {
  local mode=$1 port key id
  write_database_yml "$mode"
  rm -f "$APP/log/"*.log
  port=$(free_port)
  key=$("$DUMPERD" app create "my_$mode" --data "$DPD_DATA" 2>/dev/null) || fail "$mode: app create"
  # the server in the background; DATABASE_URL only in the url boot (in its environment, not argv)
  (
    cd "$APP"
    if [ "$mode" = url ]; then export DATABASE_URL="mysql2://$USR:$ENC@127.0.0.1:$MYP/$DB"; fi
    DUMPER_APP_KEY=$key PORT=$port PIDFILE="$APP/tmp/server.pid" exec bundle exec puma -C config/puma_single.rb
  ) </dev/null >"$APP/log/server.out" 2>&1 &
  PUMA=$!
  local t0=$SECONDS
  wait_until 180 "$mode: the app answers" sh -c "curl -sf --max-time 5 http://127.0.0.1:$port/ | grep -qx ok"
  wait_until 40 "$mode: the agent registers as primary" sh -c \
    "\"$DUMPERD\" agents my_$mode --json --data '$DPD_DATA' | jq -e 'length == 1 and .[0].role == \"primary\"'"
  local boot=$((SECONDS - t0))
  "$DUMPERD" agents "my_$mode" --json --data "$DPD_DATA" >"$T/$mode.agents.json"
  [ "$(jq '.[0].pid' "$T/$mode.agents.json")" = "$PUMA" ] || fail "$mode: the agent is not puma's process ($PUMA): $(cat "$T/$mode.agents.json")"
  curl -sf "http://127.0.0.1:$port/dumper" | jq -e '.running == true' >/dev/null || fail "$mode: /dumper does not show a running agent"
  grep -q "\[Dumper\] \[.*\] agent starting in puma process $PUMA .*databases: primary=mysql://$USR:\*\*\*@127.0.0.1:$MYP/$DB\$" \
    "$APP/log/production.log" || { grep Dumper "$APP/log/production.log" >&2; fail "$mode: no 'agent starting' line with the redacted URL"; }

  # dumperd's databases JSON: the MariaDB database, described, without its password
  id=$(app_id "my_$mode") || fail "$mode: no app my_$mode in /ui/apps"
  curl -sf -b "$T/jar" "$DPD_URL/ui/apps/$id" >"$T/$mode.app.json" || fail "$mode: GET /ui/apps/$id"
  jq -e --arg db "$DB" --arg u "$USR" --argjson p "$MYP" '.databases | length == 1 and (.[0] | .key == "primary"
      and .type == "mysql" and .host == "127.0.0.1" and .port == $p and .name == $db and .user == $u
      and .environment == "production")' "$T/$mode.app.json" >/dev/null ||
    fail "$mode: dumperd's databases: $(jq -c .databases "$T/$mode.app.json")"

  # a manual backup while the app serves requests; no password in any process's argv meanwhile
  "$DUMPERD" backup now "my_$mode" --data "$DPD_DATA" >"$T/$mode.now" 2>&1 || fail "$mode: backup now: $(cat "$T/$mode.now")"
  local n=0 bad=0 seen=0 scans=0 f end=$((SECONDS + 120))
  while [ "$(good_of "my_$mode")" -lt 1 ]; do
    [ $SECONDS -lt $end ] || fail "$mode: the backup did not become good: $("$DUMPERD" backups "my_$mode" --json --data "$DPD_DATA")"
    f=$(grep -laF -f "$T/secret.pat" /proc/[0-9]*/cmdline 2>/dev/null | head -n1 || true)
    [ -z "$f" ] || fail "$mode: the password is in $f: $(tr '\0' ' ' <"$f" 2>/dev/null | cut -c1-80)"
    scans=$((scans + 1))
    dump_running && seen=$((seen + 1))
    n=$((n + 1)); curl -sf --max-time 5 "http://127.0.0.1:$port/" | grep -qx ok || bad=$((bad + 1))
    sleep 0.05
  done
  [ "$bad" = 0 ] || fail "$mode: $bad of $n requests failed during the backup"
  [ "$seen" -gt 0 ] || fail "$mode: mariadb-dump was never seen running ($scans scans): the argv scan proves nothing"
  "$DUMPERD" backups "my_$mode" --json --data "$DPD_DATA" >"$T/$mode.backups.json"
  [ "$(jq -r '[.[] | [.database_key, .status]] | @json' "$T/$mode.backups.json")" = '[["primary","good"]]' ] ||
    fail "$mode: backups: $(cat "$T/$mode.backups.json")"
  curl -sf -b "$T/jar" "$DPD_URL/ui/apps/$id" >"$T/$mode.app2.json" || fail "$mode: GET /ui/apps/$id"
  "$DUMPERD" agents "my_$mode" --json --data "$DPD_DATA" >"$T/$mode.agents2.json"
  wait_until 10 "$mode: the job process ends" no_job
  for f in "$T/$mode".*.json "$T/dpd.log" "$APP/log/dumper_agent.log" "$APP/log/production.log" "$APP/log/server.out"; do
    [ -f "$f" ] || fail "$mode: $f missing"
    ! has_secret "$f" || fail "$mode: the password is in ${f#$T/}"
  done
  grep -q "mysql" "$APP/log/dumper_agent.log" || fail "$mode: the agent log does not mention the mysql database"

  # download from dumperd's API (the app key in a header file, not in curl's argv)
  local bid sha; bid=$(jq -r '.[0].backup_id' "$T/$mode.backups.json"); sha=$(jq -r '.[0].sha256' "$T/$mode.backups.json")
  printf 'Authorization: Bearer %s\n' "$key" >"$T/$mode.auth"
  mkdir -p "$T/$mode.dl"
  curl -sf -H @"$T/$mode.auth" -D "$T/$mode.headers" -o "$T/$mode.dl/$(jq -r '.[0].file_name' "$T/$mode.backups.json")" \
    "$DPD_URL/api/v1/backups/$bid/download" || fail "$mode: download $bid"
  local dl; dl=$(echo "$T/$mode.dl"/*)
  [ "$(sha256sum <"$dl" | cut -c1-64)" = "$sha" ] || fail "$mode: the download's sha256 differs from the catalog's"
  grep -qi "^x-dumper-sha256: $sha" "$T/$mode.headers" || fail "$mode: X-Dumper-Sha256 header differs"
  # the name the browser saves is the catalog's file name, which `dumper restore` reads the format from
  grep -qi "^content-disposition: attachment; filename=\"${dl##*/}\"" "$T/$mode.headers" ||
    fail "$mode: Content-Disposition does not name ${dl##*/}: $(grep -i disposition "$T/$mode.headers")"
  echo "$sha" >"$T/$mode.sha"
  # decompressed: a mariadb-dump of the database, without the password
  zstd -qdc "$dl" >"$T/$mode.sql" || fail "$mode: the download does not decompress"
  grep -q "^-- MariaDB dump .*\|^-- MySQL dump " "$T/$mode.sql" || fail "$mode: not a mariadb-dump: $(head -c 300 "$T/$mode.sql")"
  grep -q "^-- Host: 127.0.0.1 *Database: $DB\$" "$T/$mode.sql" || fail "$mode: the dump is not of $DB"
  ! has_secret "$dl" "$T/$mode.sql" || fail "$mode: the password is in the backup"
  rm -f "$T/$mode.sql"
  if [ "$mode" = hash ]; then
    # the download alone has no manifest: dumper says to pass the catalog's sha256 (restore below does)
    expect_fail 9 "$mode: verify without manifest or --sha256" "$DUMPER" verify "$dl"
    grep -q "pass its sha256 with --sha256" "$T/err" || fail "$mode: no --sha256 hint: $(cat "$T/err")"
    "$DUMPER" verify "$dl" --sha256 "$sha" >/dev/null 2>"$T/err" || fail "$mode: verify --sha256: $(cat "$T/err")"
  else
    # the manifest served beside the download: restore then checks --sha256 against it too
    curl -sf -H @"$T/$mode.auth" -o "$dl.json" "$DPD_URL/api/v1/backups/$bid/manifest" || fail "$mode: GET manifest of $bid"
    jq -e --arg s "$sha" --arg u "mysql://$USR:***@127.0.0.1:$MYP/$DB" --arg n "${dl##*/}" \
      '.source_type == "mysql" and .sha256 == $s and .database == $u and .name == $n' \
      "$dl.json" >/dev/null || fail "$mode: manifest: $(cat "$dl.json")"
    ! has_secret "$dl.json" || fail "$mode: the password is in the manifest"
  fi

  stop_app
  echo "$mode boot=${boot}s requests_during_backup=$n/$n scans=$scans dump_seen=$seen size=$(stat -c %s "$dl")" >"$T/$mode.result"
}

boot hash
boot url

# --- restores: each downloaded backup into a fresh database, compared table by table ---
for mode in hash url; do
  my_fresh "${DB}_$mode"
  dl=$(echo "$T/$mode.dl"/*.zst)
  DUMPER_DB_PASSWORD=$PW quiet_check "$mode: dumper restore" "$DUMPER" restore "$dl" "mariadb://dumper@127.0.0.1:$MYP/${DB}_$mode" \
    --sha256 "$(cat "$T/$mode.sha")"
  got=$(my_fingerprint "${DB}_$mode")
  [ "$got" = "$WANT" ] || fail "$mode: the restored database differs:
$(diff <(echo "$WANT") <(echo "$got"))"
  note "ok: $(cat "$T/$mode.result") restored equal"
done
note "ok: mysql2 $(cat "$T/mysql2.version"): hash and DATABASE_URL configurations registered, backed up, restored equal ($(echo "$WANT" | awk '{printf "%s%s=%s rows", sep, $1, $2; sep=", "}'))"
