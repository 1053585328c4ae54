#!/usr/bin/env bash
# MariaDB consistency: a writer moves money between a_accounts and z_accounts (one InnoDB
# transaction per transfer, total constant) while the backup runs; a padding table dumped between
# the two keeps the dump long. The restored database must have the same total
# (--single-transaction). A negative control shows the writer breaks a non-snapshot copy.
. "$(dirname "$0")/../lib/common.sh"
. "$DUMPER_SRC/test/lib/sql.sh"
need_service mariadb

DB=dp_cons_src
my_fresh $DB
myq $DB <<'SQL'
CREATE TABLE a_accounts (id INT PRIMARY KEY, balance BIGINT NOT NULL) ENGINE=InnoDB;
CREATE TABLE z_accounts (id INT PRIMARY KEY, balance BIGINT NOT NULL) ENGINE=InnoDB;
INSERT INTO a_accounts SELECT seq, 1000 FROM seq_1_to_1000;
INSERT INTO z_accounts SELECT seq, 1000 FROM seq_1_to_1000;
CREATE TABLE m_padding (id INT PRIMARY KEY, v TEXT) ENGINE=InnoDB;
INSERT INTO m_padding SELECT seq, REPEAT(MD5(seq), 4) FROM seq_1_to_60000;
CREATE TABLE control (stop TINYINT NOT NULL) ENGINE=InnoDB;
INSERT INTO control VALUES (0);
CREATE TABLE progress (n BIGINT NOT NULL) ENGINE=InnoDB;
INSERT INTO progress VALUES (0);
DELIMITER //
CREATE PROCEDURE writer()
BEGIN
  DECLARE a INT; DECLARE z INT; DECLARE amt INT;
  WHILE (SELECT stop FROM control) = 0 DO
    SET a = 1 + FLOOR(RAND() * 1000), z = 1 + FLOOR(RAND() * 1000), amt = 1 + FLOOR(RAND() * 50);
    IF RAND() < 0.5 THEN SET amt = -amt; END IF;
    START TRANSACTION;
    UPDATE a_accounts SET balance = balance - amt WHERE id = a;
    UPDATE z_accounts SET balance = balance + amt WHERE id = z;
    UPDATE progress SET n = n + 1;
    COMMIT;
  END WHILE;
END //
DELIMITER ;
SQL
TOTAL=2000000
total_of() { myq "$1" -e "SELECT (SELECT SUM(balance) FROM a_accounts) + (SELECT SUM(balance) FROM z_accounts)"; }

myq $DB -e "CALL writer()" >"$T/writer.log" 2>&1 &
wpid=$!
stop_writer() { myq $DB -e "UPDATE control SET stop = 1" 2>/dev/null || true; wait $wpid 2>/dev/null || true; }
trap 'rc=$?; stop_writer; (exit $rc); _cleanup' EXIT
for _ in $(seq 1 600); do [ "$(myq $DB -e "SELECT n FROM progress")" -gt 50 ] && break; sleep 0.05; done
[ "$(myq $DB -e "SELECT n FROM progress")" -gt 50 ] || fail "the writer did not start: $(cat "$T/writer.log")"

torn=0
for _ in 1 2 3; do
  sa=$(myq $DB -e "SELECT SUM(balance) FROM a_accounts"); sleep 0.2
  sz=$(myq $DB -e "SELECT SUM(balance) FROM z_accounts")
  [ $((sa + sz)) != $TOTAL ] && torn=1 && break
done
[ $torn = 1 ] || fail "negative control: the writer does not seem to change anything"

n0=$(myq $DB -e "SELECT n FROM progress")
path=$("$DUMPER" backup "$(my_url $DB)" --to "$T/b" --level 15) || fail "backup failed"
n1=$(myq $DB -e "SELECT n FROM progress")
stop_writer
trap _cleanup EXIT
note "transfers during the backup: $((n1 - n0))"
[ $((n1 - n0)) -gt 100 ] || fail "the writer made only $((n1 - n0)) transfers during the backup"
[ "$(total_of $DB)" = $TOTAL ] || fail "the writer broke the invariant itself"

my_fresh dp_cons_dst
check "restore" "$DUMPER" restore "$path" "$(my_url dp_cons_dst)"
got=$(total_of dp_cons_dst)
[ "$got" = $TOTAL ] || fail "restored total is $got, expected $TOTAL: the backup is not a consistent snapshot"
[ "$(myq dp_cons_dst -e "SELECT COUNT(*) FROM a_accounts WHERE balance <> 1000")" -gt 0 ] ||
  fail "restored database shows no transfer at all"
[ "$(myq dp_cons_dst -e "SELECT COUNT(*) FROM m_padding")" = 60000 ] || fail "padding table incomplete"
myq -e "DROP DATABASE $DB; DROP DATABASE dp_cons_dst"
note ok
