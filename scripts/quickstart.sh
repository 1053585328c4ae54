#!/usr/bin/env bash
# Quick start on a fresh Debian machine: install what is needed, build Dumper, and run a real first
# backup on the embedded defaults (SQLite database -> local backup directory), verify and restore it.
# Everything lands under ./var (sample database, backups, restored copy).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

bash scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" >/dev/null
DUMPER=$ROOT/build/bin/dumper

mkdir -p var
DB=$ROOT/var/sample.db
if [ ! -s "$DB" ]; then
  sqlite3 "$DB" <<'SQL'
PRAGMA journal_mode=WAL;
CREATE TABLE users(id INTEGER PRIMARY KEY, email TEXT UNIQUE NOT NULL, created_at TEXT DEFAULT CURRENT_TIMESTAMP);
CREATE TABLE orders(id INTEGER PRIMARY KEY, user_id INTEGER REFERENCES users(id), total_cents INTEGER, note TEXT);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000)
INSERT INTO users(email) SELECT 'user' || i || '@example.com' FROM n;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5000)
INSERT INTO orders(user_id, total_cents, note) SELECT 1 + i % 1000, i * 37 % 10000, 'order #' || i FROM n;
CREATE INDEX orders_user ON orders(user_id);
SQL
fi

echo "== backing up $DB"
BACKUP=$("$DUMPER" backup "sqlite://$DB" --to "$ROOT/var/backups")
echo "   backup:   $BACKUP"
echo "   manifest: $BACKUP.json"
echo "== verifying"
"$DUMPER" verify "$BACKUP"
echo "== restoring into var/restored.db"
rm -f "$ROOT/var/restored.db"
"$DUMPER" restore "$BACKUP" "sqlite://$ROOT/var/restored.db"
if [ "$(sqlite3 "$DB" .dump | md5sum)" = "$(sqlite3 "$ROOT/var/restored.db" .dump | md5sum)" ]; then
  echo "   restored database is identical to the source"
else
  echo "   restored database differs from the source" >&2; exit 1
fi
echo "== backups in var/backups (newest first)"
"$DUMPER" list "$ROOT/var/backups"
cat <<TXT

Done. The dumper CLI is build/bin/dumper ('build/bin/dumper --help').
  sample database:   var/sample.db
  backups:           var/backups/
  restored copy:     var/restored.db
TXT
