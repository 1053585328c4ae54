#!/usr/bin/env bash
# MariaDB round trip (mariadb:// and mysql:// URLs): tables of many types, indexes, a foreign key,
# a view, a function, a procedure, a trigger and an event; back up, restore into a fresh database,
# compare every table (row count + md5 of the sorted rows) and the routines/triggers/events. Also:
# password from MYSQL_PWD, option validation, refusal of a non-empty target, --force.
. "$(dirname "$0")/../lib/common.sh"
. "$DUMPER_SRC/test/lib/sql.sh"
need_service mariadb

SRC=dp_rt_src
my_fresh $SRC
myq $SRC <<'SQL'
CREATE TABLE people (
  id BIGINT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(200) NOT NULL, born DATE, score DECIMAL(12,4),
  ratio DOUBLE, active TINYINT(1) DEFAULT 1, doc JSON, photo BLOB, feeling ENUM('sad','ok','happy'),
  seen DATETIME(3), stamp TIMESTAMP NULL, flags BIT(8), note TEXT CHARACTER SET utf8mb4,
  UNIQUE KEY people_name (name), KEY people_born (born)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
CREATE TABLE orders (id INT AUTO_INCREMENT PRIMARY KEY, person BIGINT NOT NULL, amount DECIMAL(10,2) NOT NULL,
  created DATETIME DEFAULT CURRENT_TIMESTAMP, KEY orders_person (person),
  CONSTRAINT orders_fk FOREIGN KEY (person) REFERENCES people (id)) ENGINE=InnoDB;
CREATE TABLE audit (id INT AUTO_INCREMENT PRIMARY KEY, person BIGINT, total DECIMAL(12,2)) ENGINE=InnoDB;
CREATE TABLE `odd name` (`k` INT PRIMARY KEY, `välue` VARCHAR(20)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
CREATE TABLE empty_one (x INT PRIMARY KEY) ENGINE=InnoDB;
DELIMITER //
CREATE FUNCTION doubled(x INT) RETURNS INT DETERMINISTIC RETURN x * 2 //
CREATE PROCEDURE bump(IN p BIGINT) BEGIN UPDATE people SET score = score + 1 WHERE id = p; END //
CREATE TRIGGER orders_audit AFTER INSERT ON orders FOR EACH ROW
  INSERT INTO audit (person, total) SELECT NEW.person, SUM(amount) FROM orders WHERE person = NEW.person //
DELIMITER ;
CREATE EVENT nightly ON SCHEDULE EVERY 1 DAY DISABLE DO DELETE FROM audit WHERE total < 0;
CREATE VIEW big_spenders AS SELECT p.name, SUM(o.amount) AS total FROM people p JOIN orders o ON o.person = p.id
  GROUP BY p.name HAVING SUM(o.amount) > 100;
INSERT INTO people (name, born, score, ratio, doc, photo, feeling, seen, stamp, flags, note)
SELECT CONCAT('person ', seq, IF(seq % 7 = 0, ' with \'quote\' and \\ and\ttab', '')),
       DATE('1970-01-01') + INTERVAL seq DAY, seq * 1.2345, seq / 3, JSON_OBJECT('n', seq, 'odd', seq % 2 = 1),
       UNHEX(MD5(seq)), ELT(seq % 3 + 1, 'sad', 'ok', 'happy'), TIMESTAMP('2020-01-01') + INTERVAL seq SECOND,
       IF(seq % 5 = 0, NULL, TIMESTAMP('2021-01-01') + INTERVAL seq MINUTE), seq % 256,
       IF(seq % 11 = 0, 'unicode: éè 中文 😀', NULL)
FROM seq_1_to_3000;
INSERT INTO orders (person, amount) SELECT seq % 3000 + 1, seq % 250 FROM seq_1_to_4000;
INSERT INTO `odd name` SELECT seq, CONCAT('v', seq) FROM seq_1_to_50;
SQL
before=$(my_fingerprint $SRC)
[ "$(echo "$before" | wc -l)" = 5 ] || fail "expected 5 tables, got: $before"
echo "$before" | grep -q '^audit 4000 ' || fail "trigger did not fill audit: $before"
objects() { myq -e "SELECT CONCAT(ROUTINE_TYPE, ' ', ROUTINE_NAME) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA='$1'
                    UNION ALL SELECT CONCAT('TRIGGER ', TRIGGER_NAME) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA='$1'
                    UNION ALL SELECT CONCAT('EVENT ', EVENT_NAME) FROM information_schema.EVENTS WHERE EVENT_SCHEMA='$1'
                    UNION ALL SELECT CONCAT('VIEW ', TABLE_NAME) FROM information_schema.VIEWS WHERE TABLE_SCHEMA='$1'" | sort; }
objs=$(objects $SRC)
[ "$(echo "$objs" | wc -l)" = 5 ] || fail "expected 5 schema objects, got: $objs"

check_restored() { # DB
  local got; got=$(my_fingerprint "$1")
  [ "$got" = "$before" ] || { diff <(echo "$before") <(echo "$got") >&2; fail "tables of $1 differ from the source"; }
  [ "$(objects "$1")" = "$objs" ] || fail "routines/triggers/events/views differ in $1: $(objects "$1")"
  [ "$(myq "$1" -e "SELECT COUNT(*) FROM big_spenders")" = "$(myq $SRC -e "SELECT COUNT(*) FROM big_spenders")" ] ||
    fail "view differs in $1"
  [ "$(myq "$1" -e "SELECT doubled(21)")" = 42 ] || fail "function does not work in $1"
  myq "$1" -e "INSERT INTO orders (person, amount) VALUES (1, 1000)"
  [ "$(myq "$1" -e "SELECT COUNT(*) FROM audit")" = 4001 ] || fail "trigger does not fire in $1"
}

# 1. mariadb:// with the password in the URL.
out=$("$DUMPER" backup "$(my_url $SRC)" --to "$T/b" --json)
echo "$out" | grep -q '"format":"sql"' || fail "format is not sql: $out"
echo "$out" | grep -q '"source_type":"mysql"' || fail "source type: $out"
path=$(echo "$out" | sed 's/.*"path":"\([^"]*\)".*/\1/')
# (Decompressed to a file first: with pipefail, `zstd | grep -q` fails when grep stops early.)
zstd -qdc "$path" >"$T/dump.sql"
! grep -qF "$PW" "$T/dump.sql" || fail "password inside the dump"
grep -q 'CREATE.*EVENT.*nightly' "$T/dump.sql" || fail "no event in the dump"
! grep -q 'CREATE DATABASE' "$T/dump.sql" || fail "the dump names its database"
my_fresh dp_rt_dst
check "restore" "$DUMPER" restore "$path" "$(my_url dp_rt_dst)"
check_restored dp_rt_dst

# 2. Non-empty target: refused (6); --force replaces the tables (the dump drops them first).
expect_fail 6 "restore into a non-empty database" "$DUMPER" restore "$path" "$(my_url dp_rt_dst)"
grep -q "target database 'dp_rt_dst' is not empty" "$T/err" || fail "unclear refusal: $(cat "$T/err")"
check "restore --force" "$DUMPER" restore --force "$path" "$(my_url dp_rt_dst)"
[ "$(my_fingerprint dp_rt_dst)" = "$before" ] || fail "--force restore differs"

# 3. mysql:// with the password from MYSQL_PWD.
path=$(MYSQL_PWD=$PW "$DUMPER" backup "mysql://dumper@127.0.0.1:$MYP/$SRC" --to "$T/b" --name viaenv)
case "$path" in */viaenv-*.sql.zst) ;; *) fail "unexpected name $path" ;; esac
my_fresh dp_rt_dst2
check "restore (DUMPER_DB_PASSWORD)" env DUMPER_DB_PASSWORD="$PW" "$DUMPER" restore "$path" "mysql://dumper@127.0.0.1:$MYP/dp_rt_dst2"
check_restored dp_rt_dst2

# 4. Custom options: passed through, or refused when dumper owns them (2).
path=$("$DUMPER" backup "$(my_url $SRC)" --to "$T/b" --custom-options "--skip-comments --ignore-table=$SRC.empty_one")
zstd -qdc "$path" >"$T/dump.sql"
grep -q 'CREATE TABLE `people`' "$T/dump.sql" || fail "custom-options dump lacks a table"
! grep -q 'empty_one' "$T/dump.sql" || fail "--ignore-table not applied"
! grep -q '^-- Table structure' "$T/dump.sql" || fail "--skip-comments not applied"
for bad in "-r /tmp/x" "--result-file=/tmp/x" "-pfoo" "--password=foo" "--defaults-file=/etc/x" "--tab=/tmp" "-h other" "--all-databases" "'open"; do
  expect_fail 2 "custom options '$bad'" "$DUMPER" backup "$(my_url $SRC)" --to "$T/refused" --custom-options "$bad"
done
expect_fail 2 "format dump" "$DUMPER" backup "$(my_url $SRC)" --to "$T/refused" --format dump
expect_fail 2 "no database in the url" "$DUMPER" backup "mariadb://dumper:$PW@127.0.0.1:$MYP" --to "$T/refused"
[ ! -e "$T/refused" ] || [ -z "$(ls "$T/refused")" ] || fail "refused backups left files"
expect_fail 5 "restore into a missing database" "$DUMPER" restore "$path" "$(my_url dp_rt_missing)"

expect_fail 2 "--rdb-file with mariadb" "$DUMPER" restore --rdb-file "$T/x.rdb" "$path" "$(my_url dp_rt_dst2)"

myq -e "DROP DATABASE $SRC; DROP DATABASE dp_rt_dst; DROP DATABASE dp_rt_dst2"
note ok
