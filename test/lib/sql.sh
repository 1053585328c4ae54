# test/lib/sql.sh - helpers for the PostgreSQL and MariaDB integration tests. Source after common.sh.
#   pg_url DB / my_url DB         URLs with the test password (scheme: postgres, mariadb)
#   pgq DB SQL...                 psql as the superuser over TCP (password from the environment)
#   myq SQL...                    mariadb as root over the socket
#   pg_fresh DB / my_fresh DB     drop and create an empty database
#   pg_fingerprint DB / my_fingerprint DB   one line per table: name, row count, md5 of the ordered rows
#   no_backup_left DIR            dumper list shows nothing and DIR has no non-hidden file
#   cons_writer_start / cons_writer_stop / cons_torn / cons_backup   the consistency tests' writer
#                                 (pg_consistency, my_consistency; see below)
#   pg_recording_tools            $T/bin/{pg_dump,psql,pg_restore} log their argv to $T/argv.log
#   urlenc STRING                 percent-encode STRING for a URL (every reserved character)
#   wait_tool TOOL DB PID         wait (up to 5 s) until PID has a child TOOL working on DB
#   watch_cmdlines SECRET TOOL DB PID   fail if any /proc/*/cmdline shows SECRET while PID runs;
#                                 print how many scans saw TOOL (a child of PID) working on DB
#   pg_hold_lock DB TABLE SECS / my_hold_lock DB TABLE SECS   hold an exclusive lock on TABLE for
#                                 SECS in the background (returns once it is held; HOLD_PID): a dump
#                                 tool started meanwhile waits for it, so it is seen running whatever
#                                 the size of the pipeline's buffers

PW=${DUMPER_TEST_PASSWORD:-dumper-test-pw}
PGH=${DUMPER_TEST_PG_HOST:-127.0.0.1}
PGP=${DUMPER_TEST_PG_PORT:-25400}
MYP=${DUMPER_TEST_MYSQL_PORT:-25401}
PGBIN=${DUMPER_TEST_PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n1)}

pg_url() { echo "postgres://postgres:$PW@$PGH:$PGP/$1"; }
my_url() { echo "mariadb://dumper:$PW@127.0.0.1:$MYP/$1"; }

pgq() { local db=$1; shift; PGPASSWORD=$PW psql -X -q -v ON_ERROR_STOP=1 -h "$PGH" -p "$PGP" -U postgres -d "$db" -At "$@"; }
myq() { mariadb --no-defaults --default-character-set=utf8mb4 -uroot --socket="$DUMPER_TEST_MYSQL_SOCKET" -N -B "$@"; }

pg_fresh() { pgq postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS \"$1\" WITH (FORCE)" -c "CREATE DATABASE \"$1\""; }
my_fresh() { myq -e "DROP DATABASE IF EXISTS \`$1\`; CREATE DATABASE \`$1\`"; }

pg_fingerprint() {
  local db=$1 t
  pgq "$db" -c "SELECT quote_ident(schemaname) || '.' || quote_ident(tablename) FROM pg_tables
                WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1" |
  while IFS= read -r t; do
    printf '%s %s %s\n' "$t" "$(pgq "$db" -c "SELECT count(*) FROM $t")" \
      "$(pgq "$db" -c "COPY (SELECT * FROM $t r ORDER BY r::text) TO STDOUT" | md5sum | cut -c1-32)"
  done
}

my_fingerprint() {
  local db=$1 t
  myq -e "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA='$db' AND TABLE_TYPE='BASE TABLE' ORDER BY 1" |
  while IFS= read -r t; do
    printf '%s %s %s\n' "$t" "$(myq -e "SELECT COUNT(*) FROM \`$db\`.\`$t\`")" \
      "$(myq -e "SELECT * FROM \`$db\`.\`$t\`" | LC_ALL=C sort | md5sum | cut -c1-32)"
  done
}

no_backup_left() {
  local dir=$1
  if [ -d "$dir" ]; then
    [ -z "$("$DUMPER" list "$dir")" ] || fail "dumper list $dir shows a backup: $("$DUMPER" list "$dir")"
    [ -z "$(ls "$dir")" ] || fail "files left in $dir: $(ls "$dir")"
  fi
}

# expect_clean_error CODE DB-NAME "description" cmd... : exit CODE, one stderr line naming the
# database with the password redacted, no password anywhere in it.
expect_clean_error() {
  local code=$1 name=$2 d=$3; shift 3
  expect_fail "$code" "$d" "$@"
  grep -q "$name" "$T/err" || { cat "$T/err" >&2; fail "$d: error does not name $name"; }
  grep -q ':\*\*\*@' "$T/err" || { cat "$T/err" >&2; fail "$d: error does not show the redacted url"; }
  ! grep -qF "$PW" "$T/err" || fail "$d: the password appears in the error"
  note "$d -> $(cat "$T/err")"
}

# pg_recording_tools: $T/bin/{pg_dump,psql,pg_restore} append their arguments (not those of a
# --version probe) to $T/argv.log, then run the real tool under the same name. Point dumper at them
# with DUMPER_PG_BIN=$T/bin.
pg_recording_tools() {
  local tool
  mkdir -p "$T/bin"
  for tool in pg_dump psql pg_restore; do
    cat >"$T/bin/$tool" <<SH
#!/bin/bash
[ "\$1" = --version ] || printf '%s\n' "$tool \$*" >>"$T/argv.log"
exec -a $tool "$PGBIN/$tool" "\$@"
SH
    chmod +x "$T/bin/$tool"
  done
}

urlenc() { python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$1"; }

# The dump itself (its argv names the database), not a `--version` probe.
_tool_running() { pgrep -P "$3" -f "^$1 .*$2" >/dev/null; }

wait_tool() {
  local _
  for _ in $(seq 1 100); do _tool_running "$1" "$2" "$3" && return 0; sleep 0.05; done
  return 0
}

pg_hold_lock() {
  local db=$1 t=$2 secs=$3 _
  pgq "$db" -c "BEGIN" -c "LOCK TABLE $t IN ACCESS EXCLUSIVE MODE" -c "SELECT pg_sleep($secs)" -c "COMMIT" \
    >/dev/null 2>&1 &
  HOLD_PID=$!
  for _ in $(seq 1 200); do
    [ "$(pgq "$db" -c "SELECT count(*) FROM pg_locks WHERE relation = '$t'::regclass
                         AND mode = 'AccessExclusiveLock' AND granted")" = 1 ] && return 0
    sleep 0.05
  done
  fail "could not lock $db.$t"
}

my_hold_lock() {
  local db=$1 t=$2 secs=$3 _
  myq -e "LOCK TABLES \`$db\`.\`$t\` WRITE; SELECT SLEEP($secs); UNLOCK TABLES" >/dev/null 2>&1 &
  HOLD_PID=$!
  for _ in $(seq 1 200); do
    [ -n "$(myq -e "SHOW OPEN TABLES FROM \`$db\` WHERE \`Table\` = '$t' AND In_use > 0")" ] && return 0
    sleep 0.05
  done
  fail "could not lock $db.$t"
}

watch_cmdlines() {
  local secret=$1 tool=$2 db=$3 pid=$4 seen=0 f
  # A pattern file: grep's own argv must not hold the secret. Both the password and its URL form.
  printf '%s\n%s\n' "$secret" "$(urlenc "$secret")" >"$T/pattern"
  while kill -0 "$pid" 2>/dev/null; do
    # One grep over every argv (arguments are NUL-separated; the secret lies within one of them).
    f=$(grep -laF -f "$T/pattern" /proc/[0-9]*/cmdline 2>/dev/null | head -n1 || true)
    [ -z "$f" ] || fail "password found in $f"
    _tool_running "$tool" "$db" "$pid" && seen=$((seen + 1))
    sleep 0.05
  done
  echo $seen
}

# The consistency tests' writer. Their database holds a_accounts and z_accounts (sums add up to
# TOTAL), control(stop) and progress(n); the writer moves money between the two tables, one
# transaction per transfer, counting transfers in progress.n, until control.stop is set.
#   cons_writer_start Q F DB ARGS...  run `Q DB ARGS...` (the writer; stdin passed on) in the
#       background, stopped on exit; returns once it made 50 transfers (or after 5 s). Q is the
#       engine's query function (pgq, myq), F its "run this statement" option (-c, -e).
#   cons_writer_stop                  set control.stop and wait for the writer
#   cons_torn TOTAL                   negative control: the tables read 0.2 s apart do not add up
#   cons_backup URL DIR               `dumper backup URL --to DIR` during the writes (the backup's
#       path in CONS_PATH), then stop the writer and check it made > 100 transfers meanwhile.
#       Not in $(...): it stops the writer and resets the EXIT trap of the test's own shell.
cons_writer_start() {
  CONS_Q=$1 CONS_F=$2 CONS_DB=$3
  shift 3
  "$CONS_Q" "$CONS_DB" "$@" <&0 >"$T/writer.log" 2>&1 &
  CONS_PID=$!
  trap 'rc=$?; cons_writer_stop; (exit $rc); _cleanup' EXIT
  local _
  for _ in $(seq 1 600); do
    [ "$(_cons_q "SELECT n FROM progress")" -gt 50 ] && break
    sleep 0.05
  done
  [ "$(_cons_q "SELECT n FROM progress")" -gt 50 ] || fail "the writer did not start: $(cat "$T/writer.log")"
}
_cons_q() { "$CONS_Q" "$CONS_DB" "$CONS_F" "$1"; }
cons_writer_stop() { _cons_q "UPDATE control SET stop = true" 2>/dev/null || true; wait "$CONS_PID" 2>/dev/null || true; }

cons_torn() {
  local total=$1 sa sz _
  for _ in 1 2 3; do
    sa=$(_cons_q "SELECT sum(balance) FROM a_accounts"); sleep 0.2
    sz=$(_cons_q "SELECT sum(balance) FROM z_accounts")
    [ $((sa + sz)) != "$total" ] && return 0
  done
  fail "negative control: the writer does not seem to change anything"
}

cons_backup() {
  local url=$1 dir=$2 n0 n1
  n0=$(_cons_q "SELECT n FROM progress")
  CONS_PATH=$("$DUMPER" backup "$url" --to "$dir" --level 15) || fail "backup failed"
  n1=$(_cons_q "SELECT n FROM progress")
  cons_writer_stop
  trap _cleanup EXIT
  note "transfers during the backup: $((n1 - n0))"
  [ $((n1 - n0)) -gt 100 ] || fail "the writer made only $((n1 - n0)) transfers during the backup"
}
