#!/usr/bin/env bash
# PostgreSQL consistency: a writer moves money between a_accounts and z_accounts (one transaction
# per transfer, total constant) while the backup runs; a padding table dumped between the two
# keeps the dump long. The restored database must have the same total. A negative control (the two
# tables read at different moments) shows the writer really breaks a non-snapshot copy.
. "$(dirname "$0")/../lib/common.sh"
. "$DUMPER_SRC/test/lib/sql.sh"
need_service pg

DB=dp_cons_src
pg_fresh $DB
pgq $DB <<'SQL'
CREATE TABLE a_accounts (id int PRIMARY KEY, balance bigint NOT NULL);
CREATE TABLE z_accounts (id int PRIMARY KEY, balance bigint NOT NULL);
INSERT INTO a_accounts SELECT g, 1000 FROM generate_series(1, 1000) g;
INSERT INTO z_accounts SELECT g, 1000 FROM generate_series(1, 1000) g;
CREATE TABLE m_padding AS SELECT g AS id, repeat(md5(g::text), 4) AS v FROM generate_series(1, 60000) g;
CREATE TABLE control (stop boolean NOT NULL);
INSERT INTO control VALUES (false);
CREATE TABLE progress (n bigint NOT NULL);
INSERT INTO progress VALUES (0);
SQL
TOTAL=2000000
total_of() { pgq "$1" -c "SELECT (SELECT sum(balance) FROM a_accounts) + (SELECT sum(balance) FROM z_accounts)"; }

pgq $DB >"$T/writer.log" 2>&1 <<'SQL' &
DO $$
DECLARE a int; z int; amt int;
BEGIN
  LOOP
    EXIT WHEN (SELECT stop FROM control);
    a := 1 + floor(random() * 1000); z := 1 + floor(random() * 1000); amt := 1 + floor(random() * 50);
    IF random() < 0.5 THEN amt := -amt; END IF;
    UPDATE a_accounts SET balance = balance - amt WHERE id = a;
    UPDATE z_accounts SET balance = balance + amt WHERE id = z;
    UPDATE progress SET n = n + 1;
    COMMIT;
  END LOOP;
END $$;
SQL
wpid=$!
stop_writer() { pgq $DB -c "UPDATE control SET stop = true" 2>/dev/null || true; wait $wpid 2>/dev/null || true; }
trap 'rc=$?; stop_writer; (exit $rc); _cleanup' EXIT
for _ in $(seq 1 600); do [ "$(pgq $DB -c "SELECT n FROM progress")" -gt 50 ] && break; sleep 0.05; done
[ "$(pgq $DB -c "SELECT n FROM progress")" -gt 50 ] || fail "the writer did not start: $(cat "$T/writer.log")"

# Negative control: reading the tables at two moments sees a torn total.
torn=0
for _ in 1 2 3; do
  sa=$(pgq $DB -c "SELECT sum(balance) FROM a_accounts"); sleep 0.2
  sz=$(pgq $DB -c "SELECT sum(balance) FROM z_accounts")
  [ $((sa + sz)) != $TOTAL ] && torn=1 && break
done
[ $torn = 1 ] || fail "negative control: the writer does not seem to change anything"

n0=$(pgq $DB -c "SELECT n FROM progress")
path=$("$DUMPER" backup "$(pg_url $DB)" --to "$T/b" --level 15) || fail "backup failed"
n1=$(pgq $DB -c "SELECT n FROM progress")
stop_writer
trap _cleanup EXIT
note "transfers during the backup: $((n1 - n0))"
[ $((n1 - n0)) -gt 100 ] || fail "the writer made only $((n1 - n0)) transfers during the backup"
[ "$(total_of $DB)" = $TOTAL ] || fail "the writer broke the invariant itself"

pg_fresh dp_cons_dst
check "restore" "$DUMPER" restore "$path" "$(pg_url dp_cons_dst)"
got=$(total_of dp_cons_dst)
[ "$got" = $TOTAL ] || fail "restored total is $got, expected $TOTAL: the backup is not a consistent snapshot"
[ "$(pgq dp_cons_dst -c "SELECT count(*) FROM a_accounts WHERE balance <> 1000")" -gt 0 ] ||
  fail "restored database shows no transfer at all"
[ "$(pgq dp_cons_dst -c "SELECT count(*) FROM m_padding")" = 60000 ] || fail "padding table incomplete"
pgq postgres -c "DROP DATABASE $DB WITH (FORCE)" -c "DROP DATABASE dp_cons_dst WITH (FORCE)"
note ok
