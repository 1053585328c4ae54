# test/lib/sql.sh - helpers for the PostgreSQL and MariaDB integration tests. Source after common.sh.
#   pg_url DB / my_url DB         URLs with the test password (scheme: postgres, mariadb)
#   pgq DB SQL...                 psql as the superuser over TCP (password from the environment)
#   myq SQL...                    mariadb as root over the socket
#   pg_fresh DB / my_fresh DB     drop and create an empty database
#   pg_fingerprint DB / my_fingerprint DB   one line per table: name, row count, md5 of the ordered rows
#   no_backup_left DIR            dumper list shows nothing and DIR has no non-hidden file

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
