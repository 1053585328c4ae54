#!/usr/bin/env bash
# sqlite_concurrent.sh - back up a WAL database while another process keeps writing to it. Each
# writer transaction moves money between accounts and appends to a ledger, keeping invariants across
# three tables; every restored backup must satisfy them (a consistent snapshot, not a torn read).
. "$(dirname "$0")/../lib/common.sh"

DB="$T/bank.db"
sqlite3 "$DB" >/dev/null <<'SQL'
PRAGMA journal_mode=WAL;
CREATE TABLE accounts(id INTEGER PRIMARY KEY, balance INTEGER NOT NULL);
CREATE TABLE ledger(seq INTEGER PRIMARY KEY, src INTEGER, dst INTEGER, amount INTEGER, note TEXT);
CREATE TABLE meta(k TEXT PRIMARY KEY, n INTEGER);
CREATE TABLE filler(data BLOB);
WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 20)
INSERT INTO accounts SELECT i, 1000 FROM c;
INSERT INTO meta VALUES ('transfers', 0);
WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 6000)
INSERT INTO filler SELECT randomblob(4000) FROM c;
SQL

cat > "$T/writer.py" <<'PY'
import os, random, sqlite3, sys, time
db, stop, ready = sys.argv[1], sys.argv[2], sys.argv[3]
con = sqlite3.connect(db, timeout=30, isolation_level=None)
n = 0
while not os.path.exists(stop):
    a, b = random.sample(range(1, 21), 2)
    amt = random.randint(1, 50)
    con.execute("BEGIN IMMEDIATE")
    con.execute("UPDATE accounts SET balance = balance - ? WHERE id = ?", (amt, a))
    con.execute("INSERT INTO ledger(src, dst, amount, note) VALUES (?, ?, ?, ?)", (a, b, amt, "x" * random.randint(0, 200)))
    con.execute("UPDATE accounts SET balance = balance + ? WHERE id = ?", (amt, b))
    con.execute("UPDATE meta SET n = n + 1 WHERE k = 'transfers'")
    if n % 50 == 0:
        con.execute("INSERT INTO filler VALUES (randomblob(2000))")
    con.execute("COMMIT")
    n += 1
    if n == 20:
        open(ready, "w").close()
print(n)
PY

python3 "$T/writer.py" "$DB" "$T/stop" "$T/ready" > "$T/writer.out" 2>"$T/writer.err" &
writer=$!
trap 'touch "$T/stop"; wait $writer 2>/dev/null || true; _cleanup' EXIT
for _ in $(seq 100); do [ -f "$T/ready" ] && break; sleep 0.1; done
[ -f "$T/ready" ] || fail "writer did not start: $(cat "$T/writer.err")"

check_invariants() {
  local db=$1
  [ "$(sqlite3 "$db" 'PRAGMA integrity_check')" = ok ] || fail "$db: integrity_check"
  [ "$(sqlite3 "$db" 'SELECT sum(balance) FROM accounts')" = 20000 ] || fail "$db: money created or lost"
  [ "$(sqlite3 "$db" "SELECT (SELECT count(*) FROM ledger) = (SELECT n FROM meta WHERE k = 'transfers')")" = 1 ] ||
    fail "$db: ledger and counter disagree (torn snapshot)"
  local bad
  bad=$(sqlite3 "$db" "SELECT count(*) FROM accounts a WHERE balance != 1000
          + coalesce((SELECT sum(amount) FROM ledger WHERE dst = a.id), 0)
          - coalesce((SELECT sum(amount) FROM ledger WHERE src = a.id), 0)")
  [ "$bad" = 0 ] || fail "$db: $bad balances disagree with the ledger"
}

before=$(sqlite3 "$DB" 'SELECT n FROM meta')
for i in 1 2 3; do
  b=$("$DUMPER" backup "sqlite://$DB" --to "$T/backups" --compress "$( [ $i = 2 ] && echo gzip || echo zstd)") ||
    fail "backup $i during writes failed"
  check "verify $i" "$DUMPER" verify "$b" >/dev/null
  check "restore $i" "$DUMPER" restore "$b" "sqlite://$T/restored-$i.db" 2>/dev/null
  check_invariants "$T/restored-$i.db"
  echo "backup $i: $(sqlite3 "$T/restored-$i.db" 'SELECT n FROM meta') transfers" >&2
done
after=$(sqlite3 "$DB" 'SELECT n FROM meta')
touch "$T/stop"
wait $writer || fail "writer failed: $(cat "$T/writer.err")"
[ "$after" -gt "$before" ] || fail "the writer made no progress during the backups ($before -> $after)"
# the writer was never blocked for long: it kept committing during the backups
n1=$(sqlite3 "$T/restored-1.db" 'SELECT n FROM meta'); n3=$(sqlite3 "$T/restored-3.db" 'SELECT n FROM meta')
[ "$n3" -gt "$n1" ] || fail "snapshots did not advance ($n1 -> $n3): writer blocked?"
check_invariants "$DB"
exit 0
