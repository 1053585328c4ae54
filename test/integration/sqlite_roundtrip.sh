#!/usr/bin/env bash
# sqlite_roundtrip.sh - backup -> verify -> restore of a SQLite database holding every kind of value
# and schema object, with every codec; the restored database must dump identically (`sqlite3 .dump`)
# and hold exactly the same values (hex of every value, rowids). Also: --json fields, list order.
. "$(dirname "$0")/../lib/common.sh"

DB="$T/app.db"
sqlite3 "$DB" >/dev/null <<'SQL'
PRAGMA journal_mode=WAL;
PRAGMA foreign_keys=ON;
PRAGMA user_version=42;
PRAGMA application_id=-7;
CREATE TABLE strict_t(id INTEGER PRIMARY KEY, name TEXT NOT NULL, score REAL, raw BLOB, any_v ANY) STRICT;
INSERT INTO strict_t VALUES (1, 'a', 1.5, x'00', 1), (2, 'b', NULL, NULL, 'text'), (3, 'c', 2.0, x'', 2.5);
CREATE TABLE kinds(id INTEGER PRIMARY KEY AUTOINCREMENT, i INTEGER, r REAL, t TEXT, b BLOB, n);
INSERT INTO kinds(i, r, t, b, n) VALUES
  (0, 0.1, 'plain', x'', NULL),
  (-9223372036854775808, 1e300, 'it''s "double" and ''single''', x'00ff00', 1),
  (9223372036854775807, -2.5e-308, 'line1
line2
;
END;', x'0001020304', 'x'),
  (42, 1.0, 'unicode: é € 😀 中文', zeroblob(3), 2.0),
  (NULL, 3.141592653589793, '', NULL, x'41'),
  (7, 1e-5, CAST(x'61006200' AS TEXT), x'3b0a27', 9e999),
  (8, -0.0, 'CREATE TABLE fake(x);', randomblob(1000), -9e999),
  (9, 123456789.123456789, char(9, 13, 10), x'00', '  ');
DELETE FROM kinds WHERE id = 5;
CREATE TABLE plain(a, b);
INSERT INTO plain VALUES (1, 'one'), (2, 'two'), (3, 'three'), (4, 'four');
DELETE FROM plain WHERE a IN (1, 3);
CREATE TABLE kv(k TEXT PRIMARY KEY, v) WITHOUT ROWID;
INSERT INTO kv VALUES ('b', 2), ('a', 1), ('c', NULL);
CREATE TABLE gen(x INTEGER, y AS (x * 2), z TEXT AS ('v' || x) STORED);
INSERT INTO gen(x) VALUES (1), (5), (NULL);
CREATE TABLE parent(id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL);
CREATE TABLE child(id INTEGER PRIMARY KEY, pid INTEGER NOT NULL REFERENCES parent(id) ON DELETE CASCADE,
                   CHECK (id > 0));
INSERT INTO parent VALUES (1, 'p1'), (2, 'p2');
INSERT INTO child VALUES (10, 1), (11, 2), (12, 2);
CREATE INDEX kinds_t ON kinds(t);
CREATE UNIQUE INDEX child_pid_id ON child(pid, id);
CREATE INDEX partial_idx ON kinds(i) WHERE i > 0;
CREATE VIEW kinds_view AS SELECT id, t FROM kinds WHERE i IS NOT NULL;
CREATE VIEW view_of_view AS SELECT count(*) AS c FROM kinds_view;
CREATE TABLE audit(msg TEXT);
CREATE TRIGGER kinds_ins AFTER INSERT ON kinds BEGIN
  INSERT INTO audit VALUES ('ins;
' || new.id);
END;
INSERT INTO kinds(i) VALUES (100);
CREATE VIRTUAL TABLE docs USING fts5(title, body);
INSERT INTO docs VALUES ('hello', 'the quick brown fox'), ('bye', 'jumps over; the lazy dog');
CREATE TABLE articles(body TEXT);
INSERT INTO articles VALUES ('alpha beta'), ('gamma delta'), ('epsilon');
DELETE FROM articles WHERE body = 'alpha beta';
CREATE VIRTUAL TABLE articles_fts USING fts5(body, content='articles', content_rowid='rowid');
INSERT INTO articles_fts(articles_fts) VALUES ('rebuild');
CREATE TABLE "odd ""name"" table"("col one" TEXT, "select" INTEGER);
INSERT INTO "odd ""name"" table" VALUES ('v', 1);
CREATE TABLE big(data BLOB);
INSERT INTO big VALUES (randomblob(3000000)), (zeroblob(2000000));
ANALYZE;
SQL

# Every value of every table as hex with its type (and the rowid where there is one).
values_of() {
  local db=$1 t cols
  sqlite3 "$db" "SELECT name FROM sqlite_schema WHERE type='table' AND name NOT LIKE 'sqlite_%' ORDER BY name" |
  while read -r t; do
    cols=$(sqlite3 "$db" "SELECT group_concat('typeof(\"' || name || '\") || '':'' || hex(\"' || name || '\")', ' || ''|'' || ') FROM pragma_table_xinfo('$t')")
    echo "== $t"
    sqlite3 "$db" "SELECT _rowid_, $cols FROM \"$(printf '%s' "$t" | sed 's/"/""/g')\" ORDER BY 1, 2" 2>/dev/null ||
      sqlite3 "$db" "SELECT $cols FROM \"$(printf '%s' "$t" | sed 's/"/""/g')\" ORDER BY 1"
  done
}

sqlite3 "$DB" .dump > "$T/src.dump"
values_of "$DB" > "$T/src.values"
grep -q "fts" "$T/src.dump" || fail "the fixture has no FTS table"
[ "$(wc -l < "$T/src.values")" -gt 30 ] || fail "fixture value listing too short"

n=0
for codec in zstd gzip none; do
  n=$((n + 1))
  out=$("$DUMPER" backup "sqlite://$DB" --to "$T/backups" --compress "$codec") || fail "backup ($codec) failed"
  case "$codec" in zstd) ext=.sql.zst ;; gzip) ext=.sql.gz ;; none) ext=.sql ;; esac
  [[ "$out" == "$T/backups/app-"*"$ext" ]] || fail "unexpected backup path '$out'"
  [ -f "$out" ] && [ -f "$out.json" ] || fail "backup or manifest missing for $out"
  [ "$(stat -c %a "$out")" = 600 ] || fail "backup file is not 0600"
  check "verify ($codec)" "$DUMPER" verify "$out" >"$T/verify.out"
  grep -q "^ok $out sha256:$(sha256sum "$out" | cut -d' ' -f1)\$" "$T/verify.out" || fail "verify output: $(cat "$T/verify.out")"
  target="$T/restored-$codec.db"
  check "restore ($codec)" "$DUMPER" restore "$out" "sqlite://$target" 2>"$T/restore.err"
  grep -q "^restored " "$T/restore.err" || fail "restore said: $(cat "$T/restore.err")"
  sqlite3 "$target" .dump > "$T/dst.dump"
  diff -u "$T/src.dump" "$T/dst.dump" >&2 || fail "restored .dump differs ($codec)"
  values_of "$target" > "$T/dst.values"
  diff -u "$T/src.values" "$T/dst.values" >&2 || fail "restored values differ ($codec)"
  [ "$(sqlite3 "$target" 'PRAGMA integrity_check')" = ok ] || fail "integrity_check failed"
  [ "$(sqlite3 "$target" 'PRAGMA foreign_key_check' | wc -l)" = 0 ] || fail "foreign keys broken"
  [ "$(sqlite3 "$target" "SELECT title FROM docs WHERE docs MATCH 'lazy'")" = bye ] || fail "fts5 search broken"
  [ "$(sqlite3 "$target" "SELECT body FROM articles_fts WHERE articles_fts MATCH 'gamma'")" = "gamma delta" ] ||
    fail "external-content fts5 points at the wrong rows"
  [ "$(sqlite3 "$target" "SELECT y, z FROM gen WHERE x = 5")" = "10|v5" ] || fail "generated columns broken"
  # AUTOINCREMENT continues where the source left off
  sqlite3 "$target" "INSERT INTO kinds(i) VALUES (1)"
  [ "$(sqlite3 "$target" 'SELECT max(id) FROM kinds')" = "$(( $(sqlite3 "$DB" 'SELECT seq FROM sqlite_sequence') + 1 ))" ] ||
    fail "AUTOINCREMENT sequence not restored"
  [ "$(sqlite3 "$target" 'SELECT count(*) FROM audit')" = 2 ] || fail "trigger not restored"
  [ "$(sqlite3 "$target" 'PRAGMA user_version; PRAGMA application_id' | tr '\n' ' ')" = "42 -7 " ] ||
    fail "user_version/application_id not restored"
  sleep 0.01
done

# --json: one object with the documented fields, matching the file
json=$("$DUMPER" backup "sqlite:$DB" --to "$T/backups" --json --name custom-name) || fail "backup --json failed"
[ "$(printf '%s\n' "$json" | wc -l)" = 1 ] || fail "--json printed more than one line"
python3 - "$json" "$T/backups" <<'PY' || fail "--json fields wrong: $json"
import hashlib, json, os, sys
o = json.loads(sys.argv[1])
for k in ("path", "size", "sha256", "format", "compression", "name", "raw_size", "created_at", "source_type"):
    assert k in o, k
p = o["path"]
assert p.startswith(sys.argv[2] + "/custom-name-") and p.endswith(".sql.zst"), p
assert o["name"] == os.path.basename(p)
assert o["size"] == os.path.getsize(p), (o["size"], os.path.getsize(p))
assert o["sha256"] == hashlib.sha256(open(p, "rb").read()).hexdigest()
assert o["format"] == "sql" and o["compression"] == "zstd" and o["source_type"] == "sqlite"
assert o["raw_size"] > o["size"]
m = json.load(open(p + ".json"))
assert m["sha256"] == o["sha256"] and m["size"] == o["size"] and m["dumper_manifest"] == 1
assert "database" in m and m["database"].startswith("sqlite:")
PY
vjson=$("$DUMPER" verify --json "$(printf '%s' "$json" | python3 -c 'import json,sys; print(json.load(sys.stdin)["path"])')") ||
  fail "verify --json failed"
python3 -c 'import json,sys; o=json.loads(sys.argv[1]); assert len(o["sha256"]) == 64' "$vjson" || fail "verify --json: $vjson"

# list: newest first, hidden files and manifests not listed as backups
touch "$T/backups/.app-20991231T000000.000Z.sql.zst.partial-1-2"
"$DUMPER" list "$T/backups" > "$T/list.out" || fail "list failed"
[ "$(wc -l < "$T/list.out")" = 4 ] || { cat "$T/list.out" >&2; fail "list should show 4 backups"; }
awk '{print $NF}' "$T/list.out" > "$T/list.paths"
# names sort by time; custom-name sorts first alphabetically but is the newest, so compare by created time
"$DUMPER" list --json "$T/backups" | python3 -c '
import json, sys
items = [json.loads(l) for l in sys.stdin]
assert len(items) == 4, len(items)
stamps = [i["name"].rsplit("-", 1)[1] for i in items]
assert stamps == sorted(stamps, reverse=True), stamps
assert items[0]["name"].startswith("custom-name-"), items[0]["name"]
for i in items:
    for k in ("path", "size", "sha256", "format", "compression"):
        assert k in i
' || fail "list --json not newest first"
head -1 "$T/list.paths" | grep custom-name >/dev/null || fail "list: newest first expected"
grep -q partial "$T/list.out" && fail "list shows a hidden partial file"

# help and version
"$DUMPER" --version | grep -E '^dumper [0-9]+\.[0-9]+\.[0-9]+$' >/dev/null || fail "--version"
for c in backup restore verify list; do
  "$DUMPER" "$c" --help | grep "^usage: dumper $c" >/dev/null || fail "$c --help"
done
"$DUMPER" --help | grep "Exit codes" >/dev/null || fail "--help lacks exit codes"
exit 0
