#!/usr/bin/env bash
# PostgreSQL round trip: tables of many types, indexes, a view, a function with a trigger, a
# sequence; backup in plain (sql) and custom (dump) format, restore each into a fresh database and
# compare every table (row count + md5 of the ordered rows) and the schema objects. Also: passwords
# from the environment, option validation, refusal of a non-empty target.
. "$(dirname "$0")/../lib/common.sh"
. "$DUMPER_SRC/test/lib/sql.sh"
need_service pg

SRC=dp_rt_src
pg_fresh $SRC
pgq $SRC >/dev/null <<'SQL'
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE TABLE people (
  id bigserial PRIMARY KEY, name text NOT NULL, born date, score numeric(12,4), ratio double precision,
  active boolean DEFAULT true, tags text[], doc jsonb, photo bytea, uid uuid, feeling mood, seen timestamptz,
  span interval, net inet);
CREATE UNIQUE INDEX people_name ON people (lower(name));
CREATE INDEX people_doc ON people USING gin (doc);
CREATE TABLE orders (id serial PRIMARY KEY, person bigint REFERENCES people(id), amount numeric NOT NULL,
                     note varchar(200), created timestamp DEFAULT now());
CREATE INDEX orders_person ON orders (person);
CREATE TABLE audit (id serial PRIMARY KEY, person bigint, total numeric);
CREATE SCHEMA extra;
CREATE TABLE extra."Mixed Case" ("Key" int PRIMARY KEY, "välue" text);
CREATE TABLE empty_one (x int);
CREATE FUNCTION audit_order() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO audit (person, total) SELECT NEW.person, sum(amount) FROM orders WHERE person = NEW.person;
  RETURN NEW;
END $$;
CREATE TRIGGER orders_audit AFTER INSERT ON orders FOR EACH ROW EXECUTE FUNCTION audit_order();
CREATE VIEW big_spenders AS SELECT p.name, sum(o.amount) AS total FROM people p JOIN orders o ON o.person = p.id
  GROUP BY p.name HAVING sum(o.amount) > 100;
INSERT INTO people (name, born, score, ratio, tags, doc, photo, uid, feeling, seen, span, net)
SELECT 'person ' || g || CASE WHEN g % 7 = 0 THEN E' with \'quote\' and \\ and\ttab' ELSE '' END,
       date '1970-01-01' + g, g * 1.2345, g / 3.0, ARRAY['t' || g, NULL], jsonb_build_object('n', g, 'odd', g % 2 = 1),
       decode(md5(g::text), 'hex'), md5(g::text)::uuid, (ARRAY['sad','ok','happy']::mood[])[g % 3 + 1],
       timestamptz '2020-01-01 00:00:00+00' + g * interval '1 hour', g * interval '1 minute', '10.0.0.1'::inet + g
FROM generate_series(1, 3000) g;
INSERT INTO people (name) VALUES ('only a name'), (E'unicode: \u00e9\u00e8 \u4e2d\u6587 \U0001F600');
INSERT INTO orders (person, amount, note) SELECT g % 3000 + 1, g % 250, 'order ' || g FROM generate_series(1, 5000) g;
INSERT INTO extra."Mixed Case" SELECT g, 'v' || g FROM generate_series(1, 50) g;
SELECT setval('orders_id_seq', 7777);
SQL
before=$(pg_fingerprint $SRC)
[ "$(echo "$before" | wc -l)" = 5 ] || fail "expected 5 tables, got: $before"
echo "$before" | grep -q '^public.audit 5000 ' || fail "trigger did not fill audit: $before"

check_restored() { # DB
  local got; got=$(pg_fingerprint "$1")
  [ "$got" = "$before" ] || { diff <(echo "$before") <(echo "$got") >&2; fail "tables of $1 differ from the source"; }
  [ "$(pgq "$1" -c "SELECT count(*) FROM big_spenders")" = "$(pgq $SRC -c "SELECT count(*) FROM big_spenders")" ] ||
    fail "view big_spenders differs in $1"
  [ "$(pgq "$1" -c "SELECT last_value FROM orders_id_seq")" = 7777 ] || fail "sequence not restored in $1"
  [ "$(pgq "$1" -c "SELECT count(*) FROM pg_indexes WHERE indexname IN ('people_name','people_doc','orders_person')")" = 3 ] ||
    fail "indexes missing in $1"
  # The trigger and its function work in the restored database.
  pgq "$1" -c "INSERT INTO orders (person, amount) VALUES (1, 1000)"
  [ "$(pgq "$1" -c "SELECT count(*) FROM audit")" = 5001 ] || fail "trigger does not fire in $1"
}

# 1. Plain SQL (default), password in the URL.
out=$("$DUMPER" backup "$(pg_url $SRC)" --to "$T/b" --json)
echo "$out" | grep -q '"format":"sql"' || fail "default format is not sql: $out"
path=$(echo "$out" | sed 's/.*"path":"\([^"]*\)".*/\1/')
[ -f "$path" ] || fail "backup $path missing"
# (Decompressed to a file first: with pipefail, `zstd | grep -q` fails when grep stops early.)
zstd -qdc "$path" >"$T/dump.sql"
grep -q '^CREATE TRIGGER orders_audit' "$T/dump.sql" || fail "plain dump has no trigger"
! grep -qF "$PW" "$T/dump.sql" || fail "password inside the dump"
pg_fresh dp_rt_sql
check "restore sql" "$DUMPER" restore "$path" "$(pg_url dp_rt_sql)"
check_restored dp_rt_sql

# 2. Non-empty target refused (6); --force is accepted (a plain dump then fails on existing objects).
expect_fail 6 "restore into a non-empty database" "$DUMPER" restore "$path" "$(pg_url dp_rt_sql)"
grep -q "target database 'dp_rt_sql' is not empty" "$T/err" || fail "unclear refusal: $(cat "$T/err")"
expect_fail 10 "restore --force over existing objects" "$DUMPER" restore --force "$path" "$(pg_url dp_rt_sql)"
grep -q "psql .*(exit 3): .*already exists" "$T/err" || fail "psql error not reported: $(cat "$T/err")"
# ...and the failed single transaction left the database as it was.
[ "$(pgq dp_rt_sql -c "SELECT count(*) FROM audit")" = 5001 ] || fail "failed restore changed the target"

# 3. Custom format via custom_options (the original gem's '-Fc --no-acl --no-owner'); password from
#    PGPASSWORD, not the URL.
out=$(PGPASSWORD=$PW "$DUMPER" backup "postgres://postgres@$PGH:$PGP/$SRC" --to "$T/b" \
      --custom-options "-Fc --no-acl --no-owner" --json)
echo "$out" | grep -q '"format":"dump"' || fail "-Fc did not give format dump: $out"
path=$(echo "$out" | sed 's/.*"path":"\([^"]*\)".*/\1/')
case "$path" in *.dump.zst) ;; *) fail "unexpected name $path" ;; esac
[ "$(zstd -qdc "$path" | head -c 5 || true)" = PGDMP ] || fail "not a custom-format archive"
pg_fresh dp_rt_dump
check "restore dump (password from DUMPER_DB_PASSWORD)" env DUMPER_DB_PASSWORD="$PW" \
  "$DUMPER" restore "$path" "postgres://postgres@$PGH:$PGP/dp_rt_dump"
check_restored dp_rt_dump

# --force with a custom-format backup replaces the archive's objects (pg_restore --clean).
expect_fail 6 "restore dump into a non-empty database" "$DUMPER" restore "$path" "$(pg_url dp_rt_dump)"
check "restore --force of a dump" "$DUMPER" restore --force "$path" "$(pg_url dp_rt_dump)"
[ "$(pg_fingerprint dp_rt_dump)" = "$before" ] || fail "--force restore of a dump differs from the source"

# 4. --format dump with the same result.
path=$("$DUMPER" backup "$(pg_url $SRC)" --to "$T/b" --format dump --name fmt)
case "$path" in */fmt-*.dump.zst) ;; *) fail "unexpected name $path" ;; esac
pg_fresh dp_rt_dump2
check "restore --format dump" "$DUMPER" restore "$path" "$(pg_url dp_rt_dump2)"
check_restored dp_rt_dump2

# 5. Options dumper owns or cannot stream are refused before anything runs (2).
for bad in "-f /tmp/x" "--file=/tmp/x" "-j 4" "-Fd" "--format=tar" "-W" "-h otherhost" "-Z 5" "'unbalanced" "--format sql -Fc"; do
  expect_fail 2 "custom options '$bad'" "$DUMPER" backup "$(pg_url $SRC)" --to "$T/refused" --custom-options "$bad"
done
expect_fail 2 "--format sql with -Fc" "$DUMPER" backup "$(pg_url $SRC)" --to "$T/refused" --format sql -o -Fc
expect_fail 2 "unknown format" "$DUMPER" backup "$(pg_url $SRC)" --to "$T/refused" --format xml
[ ! -e "$T/refused" ] || [ -z "$(ls "$T/refused")" ] || fail "refused backups left files"

# 6. A restore of a sql backup needs the target database to exist.
expect_fail 5 "restore into a missing database" "$DUMPER" restore "$(ls "$T"/b/dp_rt_src-*.sql.zst | head -n1)" "$(pg_url dp_rt_missing)"

expect_fail 2 "--rdb-file with postgresql" "$DUMPER" restore --rdb-file "$T/x.rdb" "$(ls "$T"/b/dp_rt_src-*.sql.zst | head -n1)" "$(pg_url dp_rt_missing)"

for db in $SRC dp_rt_sql dp_rt_dump dp_rt_dump2; do pgq postgres -c "DROP DATABASE \"$db\" WITH (FORCE)"; done
note ok
