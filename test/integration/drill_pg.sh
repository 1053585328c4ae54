#!/usr/bin/env bash
# drill_pg.sh - `dumper drill` of PostgreSQL backups (plain and custom) into scratch databases on
# the test server: good backups pass and leave the source untouched; counts that disagree and a
# false check fail (21); no scratch database is left after success, failure, SIGTERM (17), and one
# a drill killed with SIGKILL left is dropped by the next drill.
. "$(dirname "$0")/../lib/common.sh"
. "$DUMPER_SRC/test/lib/sql.sh"
. "$DUMPER_SRC/test/lib/drill.sh"
need_service pg

SRC=drill_src_$$
pg_fresh "$SRC"
pgq "$SRC" <<'SQL'
CREATE TABLE users(id serial PRIMARY KEY, name text NOT NULL);
INSERT INTO users(name) SELECT 'u' || g FROM generate_series(1, 500) g;
CREATE SCHEMA "Odd";
CREATE TABLE "Odd"."We ird"(a int, "b c" text);
INSERT INTO "Odd"."We ird" VALUES (1, E'two\nlines'), (2, 'COPY public.users (id) FROM stdin;'), (3, E'\\.');
CREATE TABLE schema_migrations(version varchar PRIMARY KEY);
INSERT INTO schema_migrations VALUES ('20250101000000'), ('20261126094500');
CREATE TABLE empty_t(x int);
SQL
export DUMPER_DB_PASSWORD=$PW
URL="postgres://postgres@$PGH:$PGP/$SRC"
SCRATCH="postgres://postgres@$PGH:$PGP/postgres"
before=$(pg_fingerprint "$SRC")
P=$("$DUMPER" backup "$URL" --to "$T/bk" 2>/dev/null)
C=$("$DUMPER" backup "$URL" --format dump --to "$T/bk" 2>/dev/null)

scratch_dbs() { pgq postgres -c "SELECT datname FROM pg_database WHERE datname LIKE 'dumper\_drill\_%' ORDER BY 1"; }
no_scratch() { [ -z "$(scratch_dbs)" ] || fail "$1: scratch databases left: $(scratch_dbs)"; }
no_scratch "before"

# both formats record the same contents: COPY rows counted in the stream, count(*) for custom
for b in "$P" "$C"; do
  python3 - "$b.json" <<'PY' || fail "manifest contents of $b"
import json, sys
c = json.load(open(sys.argv[1]))["contents"]
rows = {t["name"]: t["rows"] for t in c["tables"]}
assert rows == {"Odd.We ird": 3, "public.empty_t": 0, "public.schema_migrations": 2, "public.users": 500}, rows
assert c["schema_migration"] == "20261126094500" and len(c["schema_fingerprint"]) == 64, c
assert c["server_version"].startswith("15"), c
PY
done
[ "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["contents"]["schema_fingerprint"])' "$P.json")" = \
  "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["contents"]["schema_fingerprint"])' "$C.json")" ] ||
  fail "plain and custom fingerprints differ"

echo "select count(*) = 500 from users" >"$T/users.sql"
echo "select count(*) > 500 from users" >"$T/false.sql"
for b in "$P" "$C"; do
  "$DUMPER" drill "$b" --scratch "$SCRATCH" --check "$T/users.sql" >"$T/out" 2>"$T/err" || { cat "$T/out" "$T/err" >&2; fail "drill of $b"; }
  grep -qx "drill passed: $b" "$T/out" || fail "no 'drill passed' for $b"
  grep -qx "  4 tables, 505 rows, compared with the manifest" "$T/out" || { cat "$T/out" >&2; fail "figures of $b"; }
  grep -qx "  check $T/users.sql: true (t)" "$T/out" || { cat "$T/out" >&2; fail "check line of $b"; }
  no_scratch "after the drill of $b"
done
[ "$(pg_fingerprint "$SRC")" = "$before" ] || fail "the drills changed the source database"

# the scratch server's password from a file only (nothing in the environment): create, restore,
# count and drop all use it
printf '%s\n' "$PW" >"$T/pw"
env -u DUMPER_DB_PASSWORD -u PGPASSWORD "$DUMPER" drill "$P" --scratch "$SCRATCH" --password-file "$T/pw" >"$T/out" 2>"$T/err" ||
  { cat "$T/out" "$T/err" >&2; fail "drill with --password-file"; }
grep -qx "drill passed: $P" "$T/out" || fail "no 'drill passed' with --password-file"
no_scratch "after the drill with --password-file"

# a false check: 21, dropped
expect_drill 21 "false check" "  check $T/false.sql: FAILED (f)" "$P" --scratch "$SCRATCH" --check "$T/false.sql"
no_scratch "after a false check"

# counts that disagree: 21 with the line, dropped
E=$(edited_copy "$C" "Odd.We ird" 7)
expect_drill 21 "counts disagree" "  mismatch: table 'Odd.We ird': 7 rows in the manifest, 3 restored" "$E" --scratch "$SCRATCH"
no_scratch "after a mismatch"

# usage: no scratch server, a scratch server of another kind
expect_fail 2 "no --scratch" "$DUMPER" drill "$P"
grep -qx "dumper: a postgresql drill needs --scratch URL: a server where it may create and drop a database" "$T/err" || fail "no-scratch line"
expect_fail 2 "wrong scratch" "$DUMPER" drill "$P" --scratch "mysql://x@127.0.0.1:1/db"

# SIGTERM while a check runs: the check is cancelled, the scratch database dropped, exit 17
echo "select pg_sleep(60) is not null" >"$T/slow.sql"
wait_check() {
  local _
  for _ in $(seq 200); do
    [ -n "$(pgq postgres -c "SELECT 1 FROM pg_stat_activity WHERE datname LIKE 'dumper\_drill\_%' AND query LIKE '%pg_sleep(60)%'")" ] && return 0
    sleep 0.05
  done
  fail "the slow check never started"
}
"$DUMPER" drill "$P" --scratch "$SCRATCH" --check "$T/slow.sql" >"$T/out" 2>"$T/err" & pid=$!
wait_check
kill_ours TERM "$pid"
rc=0; wait "$pid" || rc=$?
[ "$rc" = 17 ] || { cat "$T/err" >&2; fail "SIGTERM: exit $rc, expected 17"; }
no_scratch "after SIGTERM"

# SIGKILL: the scratch database stays behind, the next drill drops it
"$DUMPER" drill "$P" --scratch "$SCRATCH" --check "$T/slow.sql" >/dev/null 2>&1 & pid=$!
wait_check
left=$(scratch_dbs)
kill_ours KILL "$pid"
wait "$pid" 2>/dev/null || true
[ -n "$left" ] && [ "$(scratch_dbs)" = "$left" ] || fail "SIGKILL left no scratch database to clean"
"$DUMPER" drill "$P" --scratch "$SCRATCH" >/dev/null 2>"$T/err" || { cat "$T/err" >&2; fail "drill after SIGKILL"; }
grep -q "drill: dropped the leftover scratch database '$left'" "$T/err" || { cat "$T/err" >&2; fail "no line about the leftover"; }
no_scratch "after the drill that followed SIGKILL"

pgq postgres -c "DROP DATABASE \"$SRC\""
echo ok
