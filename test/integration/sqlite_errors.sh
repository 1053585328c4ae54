#!/usr/bin/env bash
# sqlite_errors.sh - bad input gets one clear error line, the documented exit code, and leaves no file
# behind: corrupt/truncated backups (verify and restore: 9), missing database (5), malformed URL (3,
# never showing the password), unsupported database (4), non-empty target (6; --force replaces),
# unreadable/unwritable directories (as an unprivileged user), a full target (tmpfs: 8), usage (2).
. "$(dirname "$0")/../lib/common.sh"

DB="$T/app.db"
sqlite3 "$DB" >/dev/null <<'SQL'
CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT, b BLOB);
WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 2000)
INSERT INTO t SELECT i, 'value ' || i, randomblob(500) FROM c;
SQL
chmod 644 "$DB"
B="$T/backups"

# nothing at all in a directory (hidden files included)
empty_dir() { [ ! -e "$1" ] || [ -z "$(ls -A "$1")" ] || { ls -la "$1" >&2; fail "$2: '$1' is not empty"; }; }

# ---- corrupt, truncated, extended, manifest-less backups: verify and restore both refuse with 9
mk() { "$DUMPER" backup "sqlite://$DB" --to "$B" --name "$1" --compress "$2"; }
for codec in zstd gzip none; do
  flip=$(mk "flip-$codec" $codec); trunc=$(mk "trunc-$codec" $codec); ext=$(mk "ext-$codec" $codec)
  cut=$(mk "cut-$codec" $codec); noman=$(mk "noman-$codec" $codec)
  size=$(stat -c %s "$flip")
  python3 -c 'import sys; f=open(sys.argv[1],"r+b"); f.seek(int(sys.argv[2])); c=f.read(1); f.seek(int(sys.argv[2])); f.write(bytes([c[0]^0x04]))' \
    "$flip" $((size / 2))
  truncate -s -1 "$trunc"
  printf 'garbage' >> "$ext"
  truncate -s $(( $(stat -c %s "$cut") / 3 )) "$cut"
  rm "$noman.json"
  for bad in "$flip" "$trunc" "$ext" "$cut" "$noman"; do
    expect_fail 9 "verify $(basename "$bad")" "$DUMPER" verify "$bad"
    grep -q "^dumper: " "$T/err" || fail "error line lacks the 'dumper:' prefix"
    mkdir -p "$T/target"
    expect_fail 9 "restore $(basename "$bad")" "$DUMPER" restore "$bad" "sqlite://$T/target/x.db"
    grep -q "restore of" "$T/err" || fail "restore error does not say what failed: $(cat "$T/err")"
    empty_dir "$T/target" "restore of a corrupt backup"
  done
done
# a manifest-less backup (as downloaded from dumperd): the error says to pass --sha256, and with the
# sha256 of its bytes it verifies and restores; a wrong one is 9 with the target untouched
noman=$(ls "$B"/noman-zstd-*.sql.zst)
expect_fail 9 "verify without manifest" "$DUMPER" verify "$noman"
grep -q "has no manifest.*pass its sha256 with --sha256" "$T/err" || fail "no hint to pass --sha256: $(cat "$T/err")"
nsha=$(sha256sum <"$noman" | cut -c1-64)
"$DUMPER" verify "$noman" --sha256 "$nsha" >"$T/out" || fail "verify --sha256 of a manifest-less backup"
grep -q "^ok .* sha256:$nsha\$" "$T/out" || fail "verify --sha256 output: $(cat "$T/out")"
expect_fail 9 "restore with a wrong --sha256" "$DUMPER" restore "$noman" "sqlite://$T/target/x.db" --sha256 "$(echo "$nsha" | tr 0-9a-f 1-9a-f0)"
empty_dir "$T/target" "restore with a wrong --sha256"
expect_fail 2 "restore with a bad --sha256" "$DUMPER" restore "$noman" "sqlite://$T/target/x.db" --sha256 xyz
grep -q "invalid --sha256" "$T/err" || fail "bad --sha256 not named: $(cat "$T/err")"
"$DUMPER" restore "$noman" "sqlite://$T/target/x.db" --sha256 "$nsha" 2>"$T/err" || fail "restore --sha256: $(cat "$T/err")"
[ "$(sqlite3 "$T/target/x.db" 'select count(*) from sqlite_master')" -gt 0 ] || fail "restore --sha256 restored nothing"
rm -f "$T/target/x.db"
expect_fail 9 "verify truncated" "$DUMPER" verify "$B/$(ls "$B" | grep '^trunc-zstd.*zst$')"
grep -q "truncated" "$T/err" || fail "truncation not named: $(cat "$T/err")"
expect_fail 5 "verify a missing backup" "$DUMPER" verify "$B/nope-20260101T000000.000Z.sql.zst"
expect_fail 5 "restore a missing backup" "$DUMPER" restore "$B/nope.sql.zst" "sqlite://$T/target/x.db"
empty_dir "$T/target" "restore of a missing backup"

# ---- missing database: 5, and no backup directory content
expect_fail 5 "missing database" "$DUMPER" backup "sqlite://$T/missing.db" --to "$T/b2"
grep -q "missing.db" "$T/err" || fail "the missing database is not named"
empty_dir "$T/b2" "backup of a missing database"
expect_fail 5 "missing relative database" "$DUMPER" backup "sqlite:missing-rel.db" --to "$T/b2"
# not a database: 10
printf 'not a database at all, just text that is long enough..........................................' > "$T/junk.db"
expect_fail 10 "not a database" "$DUMPER" backup "sqlite://$T/junk.db" --to "$T/b2"
empty_dir "$T/b2" "backup of a non-database"

# ---- malformed URLs: 3, the password never shown
for url in 'postgres://admin:S3cretPw@db:notaport/app' 'postgres://admin:S3cret/Pw@db/app' \
           'mysql://admin:S3cretPw#x@db/app' 'postgres:admin:S3cretPw@db/app' 'redis://:S3cretPw@h/x' \
           'ftp://admin:S3cretPw@h/x' 'sqlite://host/x.db' 'sqlite:' 'no-scheme' 'postgres://h:0/x' \
           'mongodb://u:S3cretPw@[zz]/x'; do
  expect_fail 3 "malformed url $url" "$DUMPER" backup "$url" --to "$T/b2"
  grep -q "S3cret" "$T/err" && fail "password shown: $(cat "$T/err")"
  grep -q "malformed database url" "$T/err" || fail "unclear message: $(cat "$T/err")"
  expect_fail 3 "restore to malformed url $url" "$DUMPER" restore "$flip" "$url"
  grep -q "S3cret" "$T/err" && fail "password shown on restore: $(cat "$T/err")"
done
empty_dir "$T/b2" "malformed url"

# ---- recognised but unsupported databases: 4 while their driver is a placeholder
unsupported=0
for url in 'postgres://u:S3cretPw@127.0.0.1:1/app' 'mysql://u:S3cretPw@127.0.0.1:1/app' 'mariadb://127.0.0.1:1/app' \
           'redis://127.0.0.1:1/0' 'mongodb://127.0.0.1:1/app'; do
  rc=0; "$DUMPER" backup "$url" --to "$T/b2" >"$T/out" 2>"$T/err" || rc=$?
  grep -q "S3cret" "$T/err" && fail "password shown: $(cat "$T/err")"
  [ "$(wc -l < "$T/err")" = 1 ] || { cat "$T/err" >&2; fail "$url: expected one error line"; }
  if grep -q "not supported" "$T/err"; then
    [ "$rc" = 4 ] || fail "$url: 'not supported' with exit $rc"
    unsupported=$((unsupported + 1))
  else
    # a real driver now: it must fail to connect to port 1, not claim a URL problem
    [ "$rc" != 0 ] && [ "$rc" != 3 ] || fail "$url: exit $rc"
  fi
  rc=0; "$DUMPER" restore "$flip" "$url" >"$T/out" 2>"$T/err" || rc=$?
  [ "$rc" != 0 ] && [ "$(wc -l < "$T/err")" = 1 ] || fail "restore into $url: exit $rc"
done
note "$unsupported database types still unsupported (exit 4 checked for them)"
empty_dir "$T/b2" "unsupported database"

# ---- restore target rules: 6 without --force, --force replaces
good=$("$DUMPER" backup "sqlite://$DB" --to "$B" --name good)
sqlite3 "$T/existing.db" "CREATE TABLE mine(x); INSERT INTO mine VALUES (42);"
expect_fail 6 "restore over a non-empty target" "$DUMPER" restore "$good" "sqlite://$T/existing.db"
grep -q -- "--force" "$T/err" || fail "the error does not mention --force"
[ "$(sqlite3 "$T/existing.db" 'SELECT x FROM mine')" = 42 ] || fail "the refused target was touched"
"$DUMPER" restore --force "$good" "sqlite://$T/existing.db" 2>/dev/null || fail "restore --force failed"
[ "$(sqlite3 "$T/existing.db" 'SELECT count(*) FROM t')" = 2000 ] || fail "--force did not restore"
sqlite3 "$T/existing.db" 'SELECT name FROM sqlite_schema' | grep '^mine$' >/dev/null && fail "--force kept the old table"
ls -A "$T" | grep '^\.existing' >/dev/null && fail "restore left a hidden file"
expect_fail 5 "restore into a missing directory" "$DUMPER" restore "$good" "sqlite://$T/no/such/dir/x.db"
grep -q "$T/no/such/dir/x.db" "$T/err" || fail "the target is not named: $(cat "$T/err")"
: > "$T/empty.db"
"$DUMPER" restore "$good" "sqlite://$T/empty.db" 2>/dev/null || fail "restore into an empty file failed"
[ "$(sqlite3 "$T/empty.db" 'SELECT count(*) FROM t')" = 2000 ] || fail "restore into an empty file"

# ---- usage errors: 2
rc=0; "$DUMPER" >/dev/null 2>"$T/err" || rc=$?
[ "$rc" = 2 ] && grep -q "^usage: dumper" "$T/err" || fail "no arguments: exit $rc, usage expected on stderr"
expect_fail 2 "unknown command" "$DUMPER" frobnicate
expect_fail 2 "backup without --to" "$DUMPER" backup "sqlite://$DB"
expect_fail 2 "backup without url" "$DUMPER" backup --to "$T/b2"
expect_fail 2 "unknown option" "$DUMPER" backup --bogus "sqlite://$DB" --to "$T/b2"
expect_fail 2 "bad codec" "$DUMPER" backup "sqlite://$DB" --to "$T/b2" --compress lz4
expect_fail 2 "bad level" "$DUMPER" backup "sqlite://$DB" --to "$T/b2" --level 0
expect_fail 2 "gzip level" "$DUMPER" backup "sqlite://$DB" --to "$T/b2" --compress gzip --level 12
expect_fail 2 "bad name" "$DUMPER" backup "sqlite://$DB" --to "$T/b2" --name ../x
expect_fail 2 "hidden name" "$DUMPER" backup "sqlite://$DB" --to "$T/b2" --name .hidden
expect_fail 2 "empty name" "$DUMPER" backup "sqlite://$DB" --to "$T/b2" --name ''
expect_fail 2 "option without value" "$DUMPER" backup "sqlite://$DB" --to
expect_fail 2 "restore arity" "$DUMPER" restore "$good"
expect_fail 2 "verify arity" "$DUMPER" verify
expect_fail 2 "list arity" "$DUMPER" list
expect_fail 5 "list a missing dir" "$DUMPER" list "$T/no-such-dir"
empty_dir "$T/b2" "usage errors"

# ---- permissions: as an unprivileged user (root bypasses them)
as_user() { "$@"; }
if [ "$(id -u)" = 0 ]; then
  if command -v setpriv >/dev/null && setpriv --reuid=nobody --regid=nogroup --clear-groups true 2>/dev/null; then
    as_user() { setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"; }
  else
    as_user() { return 77; }
  fi
fi
if as_user true; then
  mkdir -p "$T/ro" "$T/noread"
  cp "$good" "$good.json" "$T/noread/"
  chmod 555 "$T/ro"; chmod 711 "$T/noread"; chmod 600 "$T/noread/"*
  [ "$(id -u)" = 0 ] && chown root "$T/noread/"*
  expect_fail 7 "backup into an unwritable dir" as_user "$DUMPER" backup "sqlite://$DB" --to "$T/ro"
  grep -q "$T/ro" "$T/err" || fail "the directory is not named: $(cat "$T/err")"
  empty_dir "$T/ro" "unwritable dir"
  expect_fail 7 "backup into an unwritable parent" as_user "$DUMPER" backup "sqlite://$DB" --to "$T/ro/sub"
  empty_dir "$T/ro" "unwritable parent"
  rc=0; as_user "$DUMPER" list "$T/noread" >"$T/out" 2>"$T/err" || rc=$?
  [ "$rc" != 0 ] && [ "$(wc -l < "$T/err")" = 1 ] || fail "list of an unreadable dir: exit $rc"
  rc=0; as_user "$DUMPER" verify "$T/noread/$(basename "$good")" >"$T/out" 2>"$T/err" || rc=$?
  [ "$rc" != 0 ] && [ "$rc" != 9 ] && [ "$(wc -l < "$T/err")" = 1 ] || fail "verify of an unreadable backup: exit $rc $(cat "$T/err")"
  chmod 644 "$T/noread/"*
  rc=0; as_user "$DUMPER" restore "$T/noread/$(basename "$good")" "sqlite://$T/ro/x.db" >"$T/out" 2>"$T/err" || rc=$?
  [ "$rc" != 0 ] && [ "$(wc -l < "$T/err")" = 1 ] || fail "restore into an unwritable dir: exit $rc $(cat "$T/err")"
  empty_dir "$T/ro" "restore into an unwritable dir"
  chmod 700 "$T/ro" "$T/noread"

  # A stale libmongoc counters file of another user (a root process killed earlier, its pid reused
  # by a program run as someone else) must not add a stray stderr line (lib/core/preinit.h). Plant
  # such files for the next pids, run as nobody until one run lands on a planted pid.
  if [ "$(id -u)" = 0 ] && [ -d /dev/shm ]; then
    first=$(sh -c 'echo $$')
    # builtins only (umask, not chmod): a fork per file would use up the very pids being planted
    (umask 077; for ((p = first; p <= first + 1500; p++)); do
      [ -e "/dev/shm/mongoc-$p" ] || { : >"/dev/shm/mongoc-$p" && echo "$p"; }
    done) >"$T/planted" 2>/dev/null || true
    hit=0
    for _ in $(seq 1 20); do
      as_user sh -c 'echo $$; exec "$1" backup "sqlite:///no/such.db" --to /tmp' sh "$DUMPER" >"$T/out" 2>"$T/err" || true
      grep -qx "$(head -n1 "$T/out")" "$T/planted" || continue
      hit=1
      break
    done
    while read -r p; do rm -f "/dev/shm/mongoc-$p"; done <"$T/planted"
    if [ "$hit" = 1 ]; then
      [ "$(wc -l <"$T/err")" = 1 ] || { cat "$T/err" >&2; fail "a stale counters file of another user adds a stderr line"; }
      note "a run as nobody on a stale counters file of root: one error line"
    else
      note "no run landed on a planted pid: the stale-counters check proved nothing"
    fi
  fi
else
  note "skipping permission checks (no unprivileged user)"
fi

# ---- a full target: tmpfs of 256 KiB (root only)
if [ "$(id -u)" = 0 ] && mkdir -p "$T/full" && mount -t tmpfs -o size=256k tmpfs "$T/full" 2>/dev/null; then
  trap 'umount -l "$T/full" 2>/dev/null || true; _cleanup' EXIT
  for codec in none zstd; do
    expect_fail 8 "backup to a full disk ($codec)" "$DUMPER" backup "sqlite://$DB" --to "$T/full" --compress $codec
    grep -q "No space left" "$T/err" || fail "ENOSPC not reported: $(cat "$T/err")"
    empty_dir "$T/full" "backup to a full disk"
  done
  expect_fail 8 "restore to a full disk" "$DUMPER" restore "$good" "sqlite://$T/full/x.db"
  empty_dir "$T/full" "restore to a full disk"
  umount -l "$T/full"
else
  note "skipping full-disk checks (needs root to mount a tmpfs)"
fi
exit 0
