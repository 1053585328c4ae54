#!/usr/bin/env bash
# pg_parallel_restore.sh - `dumper restore --jobs N` of a custom-format PostgreSQL backup: the dump is
# spooled to a 0600 file in TMPDIR, pg_restore --jobs=N runs on it once the checksum passes, and the
# restored tables equal the source (rows, indexes, a foreign key, a sequence); the spool file is gone
# after success, after a failing pg_restore and after an interrupt (exit 17). Refusals, one line, exit 2:
# a plain (sql) backup, a non-postgresql target, --jobs out of 1..64.
. "$(dirname "$0")/../lib/common.sh"
. "$DUMPER_SRC/test/lib/sql.sh"
need_service pg

SRC=dp_par_src
pg_fresh $SRC
pgq $SRC >/dev/null <<'SQL'
CREATE TABLE a (id bigint PRIMARY KEY, v text NOT NULL);
CREATE TABLE b (id serial PRIMARY KEY, a_id bigint REFERENCES a(id), n numeric, at timestamptz);
CREATE INDEX b_a ON b (a_id);
CREATE TABLE c (k text PRIMARY KEY, doc jsonb);
INSERT INTO a SELECT g, md5(g::text) || repeat('x', g % 50) FROM generate_series(1, 60000) g;
INSERT INTO b (a_id, n, at) SELECT g % 60000 + 1, g / 7.0, timestamptz '2026-01-01' + g * interval '1 minute'
  FROM generate_series(1, 80000) g;
INSERT INTO c SELECT 'k' || g, jsonb_build_object('g', g) FROM generate_series(1, 5000) g;
SELECT setval('b_id_seq', 123456);
SQL
before=$(pg_fingerprint $SRC)
mkdir -p "$T/tmp"
export TMPDIR=$T/tmp

check "custom-format backup" "$DUMPER" backup "$(pg_url $SRC)" --to "$T/b" --format dump --json >"$T/b.json"
path=$(jq -r .path "$T/b.json")
check "plain backup" "$DUMPER" backup "$(pg_url $SRC)" --to "$T/p" >"$T/p.out"

# refusals: one line, exit 2, nothing touched
expect_fail 2 "--jobs with a plain backup" "$DUMPER" restore "$(cat "$T/p.out")" "$(pg_url dp_par_never)" --jobs 2
grep -q "dumper: restore of '.*' failed: --jobs needs a custom-format backup (taken with --format dump); this one is 'sql'" "$T/err" ||
  fail "plain backup: $(cat "$T/err")"
sqlite3 "$T/s.db" "CREATE TABLE t(x); INSERT INTO t VALUES (1);"
"$DUMPER" backup "sqlite://$T/s.db" --to "$T/s" >"$T/s.out" 2>/dev/null
expect_fail 2 "--jobs with sqlite" "$DUMPER" restore "$(cat "$T/s.out")" "sqlite://$T/s2.db" --jobs 2
grep -q "failed: --jobs is not supported for sqlite restores (only postgresql)" "$T/err" || fail "sqlite: $(cat "$T/err")"
[ ! -e "$T/s2.db" ] || fail "sqlite target created"
for bad in 0 65 x 2x -1 ""; do
  expect_fail 2 "--jobs '$bad'" "$DUMPER" restore "$path" "$(pg_url dp_par_never)" --jobs "$bad"
  [ "$(cat "$T/err")" = "dumper restore: invalid --jobs '$bad' (1..64) (see 'dumper restore --help')" ] ||
    fail "--jobs '$bad': $(cat "$T/err")"
done

# --jobs 2 and 64 (more jobs than tables), and 1 (the ordinary single-transaction restore)
for j in 2 64 1; do
  pg_fresh dp_par_dst
  check "restore --jobs $j" "$DUMPER" restore "$path" "$(pg_url dp_par_dst)" --jobs $j 2>/dev/null
  got=$(pg_fingerprint dp_par_dst)
  [ "$got" = "$before" ] || { diff <(echo "$before") <(echo "$got") >&2; fail "--jobs $j: tables differ"; }
  [ "$(pgq dp_par_dst -c "SELECT last_value FROM b_id_seq")" = 123456 ] || fail "--jobs $j: sequence not restored"
  [ "$(pgq dp_par_dst -c "SELECT count(*) FROM pg_indexes WHERE indexname = 'b_a'")" = 1 ] || fail "--jobs $j: index missing"
  [ "$(pgq dp_par_dst -c "SELECT count(*) FROM pg_constraint WHERE contype = 'f'")" = 1 ] || fail "--jobs $j: foreign key missing"
  [ -z "$(ls -A "$T/tmp")" ] || fail "--jobs $j left $(ls -A "$T/tmp")"
done

# --force over the restored database (pg_restore --clean --if-exists --jobs)
pgq dp_par_dst -c "DELETE FROM c WHERE k = 'k1'"
check "restore --jobs 2 --force" "$DUMPER" restore "$path" "$(pg_url dp_par_dst)" --jobs 2 --force 2>/dev/null
[ "$(pg_fingerprint dp_par_dst)" = "$before" ] || fail "--force --jobs 2: tables differ"

# a failing pg_restore: a role that may not create tables in the target
pg_fresh dp_par_dst
pgq postgres -c "SET client_min_messages = warning" -c "DROP ROLE IF EXISTS dp_par_nocreate" \
  -c "CREATE ROLE dp_par_nocreate LOGIN PASSWORD '$PW'" >/dev/null
pgq dp_par_dst -c "REVOKE CREATE ON SCHEMA public FROM PUBLIC" >/dev/null
rc=0
"$DUMPER" restore "$path" "postgres://dp_par_nocreate:$PW@$PGH:$PGP/dp_par_dst" --jobs 2 >"$T/out" 2>"$T/err" || rc=$?
[ "$rc" = 10 ] || { cat "$T/err" >&2; fail "a failing pg_restore --jobs: exit $rc, expected 10"; }
[ "$(wc -l <"$T/err")" = 1 ] || { cat "$T/err" >&2; fail "expected one error line"; }
grep -q "pg_restore failed (exit 1): .*permission denied" "$T/err" || fail "pg_restore's error not named: $(cat "$T/err")"
if grep -qF "$PW" "$T/err"; then fail "the password is in the error"; fi
[ -z "$(ls -A "$T/tmp")" ] || fail "a failed restore left $(ls -A "$T/tmp")"

# interrupted while pg_restore runs (blocked on a lock another session holds): exit 17, one line,
# pg_restore gone, the spool file removed
pg_fresh dp_par_dst
pgq dp_par_dst -c "CREATE TABLE a (id int)" >/dev/null
pgq dp_par_dst -c "BEGIN; LOCK TABLE a; SELECT pg_sleep(120)" >/dev/null 2>&1 &
locker=$!
for _ in $(seq 1 100); do
  [ "$(pgq postgres -c "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database
                         WHERE d.datname = 'dp_par_dst' AND l.mode = 'AccessExclusiveLock' AND l.granted")" -gt 0 ] && break
  sleep 0.05
done
"$DUMPER" restore "$path" "$(pg_url dp_par_dst)" --jobs 2 --force >"$T/out" 2>"$T/err" &
rpid=$!
blocked=0
for _ in $(seq 1 400); do
  blocked=$(pgq postgres -c "SELECT count(*) FROM pg_stat_activity WHERE datname = 'dp_par_dst'
                             AND wait_event_type = 'Lock' AND application_name = 'pg_restore'")
  [ "$blocked" -gt 0 ] && break
  sleep 0.05
done
[ "$blocked" -gt 0 ] || { cat "$T/err" >&2; kill_ours TERM $rpid $locker; fail "pg_restore --jobs never waited for the lock"; }
kill -TERM $rpid
rc=0; wait $rpid || rc=$?
kill_ours TERM $locker; wait $locker 2>/dev/null || true
[ "$rc" = 17 ] || { cat "$T/err" >&2; fail "interrupted restore --jobs: exit $rc, expected 17"; }
[ "$(wc -l <"$T/err")" = 1 ] || { cat "$T/err" >&2; fail "expected one error line"; }
[ -z "$(ls -A "$T/tmp")" ] || fail "an interrupted restore left $(ls -A "$T/tmp")"
gone=0
for _ in $(seq 1 100); do pgrep -f "pg_restore.*dp_par_dst" >/dev/null || { gone=1; break; }; sleep 0.05; done
[ $gone = 1 ] || fail "pg_restore still runs after the interrupt"

pgq postgres -c "SET client_min_messages = warning" -c "DROP DATABASE $SRC WITH (FORCE)" \
  -c "DROP DATABASE IF EXISTS dp_par_dst WITH (FORCE)" -c "DROP ROLE dp_par_nocreate" >/dev/null
exit 0
