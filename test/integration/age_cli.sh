#!/usr/bin/env bash
# age_cli.sh - encrypted backups through the CLI, and interop with the stock age tool (Debian's age):
# keygen (age-keygen's format, 0600, never overwritten; age-keygen -y agrees), a backup to several
# recipients decrypts with `age -d -i`, a zstd dump encrypted with `age -r` restores with `dumper
# restore`, identities from either tool work with both; verify with and without a key; restore without
# or with the wrong identity (11, one line naming the recipients, no target); tampering (truncated at
# chunk boundaries, chunks swapped, bits flipped, also with a forged manifest: 9, one line, no target);
# unusable keys (2, one line, no secret shown); list; key rotation.
. "$(dirname "$0")/../lib/common.sh"
command -v age >/dev/null && command -v age-keygen >/dev/null || fail "the age tool is missing (scripts/install-deps.sh)"
command -v sqlite3 >/dev/null || fail "sqlite3 missing"

# A database whose compressed dump spans several 64 KiB age chunks (random blobs do not compress).
DB="$T/app.db"
sqlite3 "$DB" "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT, b BLOB);
  WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 4000)
  INSERT INTO t SELECT i, 'secret-row-' || i, randomblob(64) FROM n;"
sqlite3 "$DB" .dump >"$T/want.sql"
same_db() { sqlite3 "$1" .dump >"$T/got.sql"; cmp -s "$T/want.sql" "$T/got.sql" || fail "$2: restored database differs"; }

# ---- keygen ----
"$DUMPER" keygen --out "$T/ops.key" >"$T/ops.pub" 2>"$T/keygen.err" || { cat "$T/keygen.err" >&2; fail "keygen"; }
OPS=$(cat "$T/ops.pub")
[[ $OPS =~ ^age1[02-9ac-hj-np-z]{58}$ ]] || fail "keygen printed '$OPS', not one recipient"
[ ! -s "$T/keygen.err" ] || fail "keygen wrote to stderr: $(cat "$T/keygen.err")"
[ "$(stat -c %a "$T/ops.key")" = 600 ] || fail "identity file mode $(stat -c %a "$T/ops.key")"
sed -n 1p "$T/ops.key" | grep -Eq '^# created: [0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z$' || fail "line 1: $(sed -n 1p "$T/ops.key")"
[ "$(sed -n 2p "$T/ops.key")" = "# public key: $OPS" ] || fail "line 2 of the identity file"
sed -n 3p "$T/ops.key" | grep -Eq '^AGE-SECRET-KEY-1[02-9AC-HJ-NP-Z]{58}$' || fail "line 3 is not a secret key"
[ "$(wc -l <"$T/ops.key")" = 3 ] || fail "identity file has $(wc -l <"$T/ops.key") lines"
[ "$(age-keygen -y "$T/ops.key")" = "$OPS" ] || fail "age-keygen -y disagrees with dumper keygen"
cp "$T/ops.key" "$T/ops.key.orig"
expect_fail 6 "keygen over an existing file" "$DUMPER" keygen --out "$T/ops.key"
grep -q "identity file '$T/ops.key' already exists: not overwritten" "$T/err" || fail "keygen refusal: $(cat "$T/err")"
cmp -s "$T/ops.key" "$T/ops.key.orig" || fail "keygen changed an existing identity file"
expect_fail 2 "keygen without --out" "$DUMPER" keygen
expect_fail 5 "keygen into a missing directory" "$DUMPER" keygen --out "$T/nodir/k"
# an identity from age-keygen: the offline recovery key
age-keygen -o "$T/recovery.key" 2>/dev/null
REC=$(age-keygen -y "$T/recovery.key")
printf '# recovery key, kept offline\n\n%s\n' "$REC" >"$T/recipients.txt"

# ---- backup to both; age decrypts it; dumper restores it with either identity ----
bk=$("$DUMPER" backup "sqlite://$DB" --to "$T/b" --recipient "$OPS" --recipients-file "$T/recipients.txt" --json)
path=$(echo "$bk" | sed 's/.*"path":"\([^"]*\)".*/\1/')
case $path in *.sql.zst.age) ;; *) fail "encrypted backup name: $path";; esac
echo "$bk" | grep -q "\"encryption\":\"age\",\"recipients\":\[\"$OPS\",\"$REC\"\]" || fail "--json: $bk"
grep -q '"encryption":	"age"' "$path.json" || fail "manifest lacks encryption"
[ "$(grep -o 'age1[02-9a-z]*' "$path.json" | wc -l)" = 2 ] || fail "manifest should list 2 recipients"
! grep -q 'AGE-SECRET' "$path.json" || fail "a secret key in the manifest"
[ "$(head -c 22 "$path")" = "age-encryption.org/v1" ] || fail "not an age file"
grep -c secret-row "$path" >/dev/null && fail "plaintext in the encrypted backup"
for key in ops recovery; do
  age -d -i "$T/$key.key" -o "$T/$key.sql.zst" "$path" || fail "age -d with the $key identity"
  zstd -qdc "$T/$key.sql.zst" | sqlite3 "$T/age-$key.db" || fail "age-decrypted dump does not load"
  same_db "$T/age-$key.db" "age -d -i $key"
done
quiet_check "restore --identity (dumper keygen)" "$DUMPER" restore "$path" "sqlite://$T/r1.db" --identity "$T/ops.key"
same_db "$T/r1.db" "restore with the ops identity"
quiet_check "restore with DUMPER_IDENTITY (age-keygen)" env DUMPER_IDENTITY="$T/recovery.key" "$DUMPER" restore "$path" "sqlite://$T/r2.db"
same_db "$T/r2.db" "restore with the recovery identity"

# ---- a zstd dump encrypted by age -r restores with dumper (no manifest: --sha256) ----
stamp=$(date -u +%Y%m%dT%H%M%S.000Z)
ext="$T/ext/shop-$stamp.sql.zst.age"
mkdir -p "$T/ext"
sqlite3 "$DB" .dump | zstd -q | age -r "$OPS" -r "$REC" >"$ext"
esha=$(sha256sum "$ext" | cut -c1-64)
"$DUMPER" verify "$ext" --sha256 "$esha" >"$T/out" 2>/dev/null || fail "key-less verify of an age -r file"
"$DUMPER" verify "$ext" --sha256 "$esha" -i "$T/ops.key" --json >"$T/out" || fail "verify of an age -r file"
grep -q '"raw_size":[1-9]' "$T/out" || fail "verify --json did not find the size: $(cat "$T/out")"
quiet_check "restore of an age -r file" "$DUMPER" restore "$ext" "sqlite://$T/r3.db" --sha256 "$esha" -i "$T/recovery.key"
same_db "$T/r3.db" "restore of an age -r file"
# age's files of exactly four 64 KiB chunks and of nothing (the last-chunk rule), read by dumper
# (named as uncompressed dumps: verify then reports the plaintext size)
for n in 262144 0; do
  f="$T/ext/raw$n-$stamp.sql.age"
  head -c "$n" /dev/urandom | age -r "$OPS" -o "$f"
  "$DUMPER" verify "$f" --sha256 "$(sha256sum "$f" | cut -c1-64)" -i "$T/ops.key" --json >"$T/out" ||
    fail "verify of age's $n-byte file"
  grep -q "\"raw_size\":$n," "$T/out" || fail "age's $n-byte file: $(cat "$T/out")"
done
"$DUMPER" keygen --out "$T/tmp.key" >/dev/null

# ---- verify ----
"$DUMPER" verify "$path" >"$T/out" 2>"$T/err" || fail "key-less verify"
grep -q "^ok $path sha256:" "$T/out" || fail "verify output: $(cat "$T/out")"
grep -q "checked as stored" "$T/err" || fail "key-less verify says nothing about the key: $(cat "$T/err")"
"$DUMPER" verify "$path" -i "$T/ops.key" >"$T/out" 2>"$T/err" || fail "verify with the identity"
[ ! -s "$T/err" ] || fail "verify with a key printed: $(cat "$T/err")"
expect_fail 11 "verify with a stranger's identity" "$DUMPER" verify "$path" -i "$T/tmp.key"
grep -q "is encrypted to $OPS, $REC; none of the identities given matches (their recipients: $(age-keygen -y "$T/tmp.key"))" "$T/err" ||
  fail "no-match message: $(cat "$T/err")"

# ---- restore without a matching identity: 11, one line naming the recipients, no target ----
mkdir "$T/tg"
expect_fail 11 "restore without an identity" env -u DUMPER_IDENTITY "$DUMPER" restore "$path" "sqlite://$T/tg/x.db"
grep -q "is encrypted (age) to $OPS, $REC: give an identity of one of them with --identity FILE (or DUMPER_IDENTITY)" "$T/err" ||
  fail "message: $(cat "$T/err")"
expect_fail 11 "restore with a stranger's identity" "$DUMPER" restore "$path" "sqlite://$T/tg/x.db" -i "$T/tmp.key"
grep -q "$OPS, $REC" "$T/err" || fail "recipients not named: $(cat "$T/err")"
! grep -q "AGE-SECRET" "$T/err" || fail "a secret in the error"
[ -z "$(ls -A "$T/tg")" ] || fail "a failed restore left $(ls -A "$T/tg")"

# ---- tampering: 9, one line, nothing made ----
size=$(stat -c %s "$path")
hlen=$(grep -abo -- '^--- ' "$path" | head -1 | cut -d: -f1)
hlen=$((hlen + 48)) # "--- " + 43 + "\n"
pay=$((hlen + 16))
[ "$size" -gt $((pay + 3 * 65552)) ] || fail "the backup is too small for the chunk tests ($size bytes)"
tamper() { # tamper NAME: copies the backup and its manifest to $T/t/NAME.sql.zst.age (prints the path)
  mkdir -p "$T/t"
  local p="$T/t/$1-$stamp.sql.zst.age"
  cp "$path" "$p"; cp "$path.json" "$p.json"
  sed -i "s/\"name\":	\"[^\"]*\"/\"name\":	\"$(basename "$p")\"/" "$p.json"
  echo "$p"
}
forge() { # forge FILE: make the manifest's size and sha256 match the tampered file
  local s; s=$(sha256sum "$1" | cut -c1-64)
  sed -i "s/\"sha256\":	\"[0-9a-f]*\"/\"sha256\":	\"$s\"/; s/\"size\":	[0-9]*/\"size\":	$(stat -c %s "$1")/" "$1.json"
}
flip() { # flip FILE OFFSET
  local b; b=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' ')
  printf "$(printf '\\%03o' $((b ^ 1)))" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}
expect_tamper() { # expect_tamper FILE WHAT
  for forged in 0 1; do
    [ "$forged" = 1 ] && forge "$1"
    expect_fail 9 "$2 (forged manifest: $forged)" "$DUMPER" restore "$1" "sqlite://$T/tg/x.db" -i "$T/ops.key"
    [ -z "$(ls -A "$T/tg")" ] || fail "$2: the restore left $(ls -A "$T/tg")"
    expect_fail 9 "verify $2 (forged manifest: $forged)" "$DUMPER" verify "$1" -i "$T/ops.key"
  done
}
for k in 1 2 3; do
  p=$(tamper "cut$k"); truncate -s $((pay + k * 65552)) "$p"
  expect_tamper "$p" "truncated after chunk $k"
  grep -q "truncated\|final age chunk" "$T/err" || fail "truncation at a chunk boundary: $(cat "$T/err")"
done
p=$(tamper cutmid); truncate -s $((pay + 65552 + 100)) "$p"; expect_tamper "$p" "truncated inside chunk 2"
p=$(tamper swap)
dd if="$path" of="$p" bs=1 skip=$((pay + 65552)) seek="$pay" count=65552 conv=notrunc status=none
dd if="$path" of="$p" bs=1 skip="$pay" seek=$((pay + 65552)) count=65552 conv=notrunc status=none
expect_tamper "$p" "chunks 1 and 2 swapped"
grep -q "chunk 1 does not authenticate" "$T/err" || fail "swap: $(cat "$T/err")"
p=$(tamper payflip); flip "$p" $((pay + 2 * 65552 + 5)); expect_tamper "$p" "bit flipped in chunk 3"
grep -q "chunk 3 does not authenticate" "$T/err" || fail "flip: $(cat "$T/err")"
p=$(tamper tagflip); flip "$p" $((size - 1)); expect_tamper "$p" "bit flipped in the last tag"
# a MAC that is still canonical base64, only wrong (a flipped bit may leave the alphabet instead)
p=$(tamper macflip)
if [ "$(dd if="$p" bs=1 skip=$((hlen - 10)) count=1 status=none)" = A ]; then c=B; else c=A; fi
printf '%s' "$c" | dd of="$p" bs=1 seek=$((hlen - 10)) conv=notrunc status=none
expect_tamper "$p" "the header MAC changed"
grep -q "header MAC does not match" "$T/err" || fail "mac flip: $(cat "$T/err")"
p=$(tamper introflip); flip "$p" 3; expect_tamper "$p" "bit flipped in the intro line"
p=$(tamper nonceflip); flip "$p" $((hlen + 3)); expect_tamper "$p" "bit flipped in the payload nonce"
# a changed stanza with the manifest as stored: the checksum says corrupt (9)
p=$(tamper stanzaflip); flip "$p" 40
expect_fail 9 "bit flipped in a recipient stanza" "$DUMPER" restore "$p" "sqlite://$T/tg/x.db" -i "$T/ops.key"
[ -z "$(ls -A "$T/tg")" ] || fail "stanza flip: the restore left files"

# ---- keys that cannot be used: one line, exit 2 (5 for a missing file), no secret shown ----
SECRET=$(sed -n 3p "$T/ops.key")
other() { if [ "${1: -1}" = "$2" ]; then echo "$3"; else echo "$2"; fi; } # a last character it does not have
bad_recipient() { # bad_recipient VALUE MESSAGE
  expect_fail 2 "recipient '$1'" "$DUMPER" backup "sqlite://$DB" --to "$T/nob" --recipient "$1"
  grep -qF "$2" "$T/err" || fail "recipient '$1': $(cat "$T/err")"
  ! grep -q "AGE-SECRET-KEY-1[0-9A-Z]" "$T/err" || fail "a secret key in the error"
}
bad_recipient "${OPS%?}$(other "$OPS" x y)" "is a malformed age recipient (invalid checksum)"
bad_recipient "${OPS:0:20}" "is a malformed age recipient"
bad_recipient "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHsKLqeplhpW+uObz5dvMgjz1OxfM/XXUB+VHtZ6isGN a@b" \
  "SSH keys (ssh-ed25519) are not supported as recipients; use an age X25519 recipient"
bad_recipient "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQDULTit0KUehbi a@b" "SSH keys (ssh-rsa) are not supported"
bad_recipient "age1pq1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq" "post-quantum hybrid recipients (age1pq1...) are not supported"
bad_recipient "age1yubikey1qwt50d05nh5vutpdzmlg5wn80xq5negm4uj9ghv0snvdd3yysf5yw3rhl3t" "age plugin and tag recipients"
bad_recipient "scrypt" "passphrase (scrypt) encryption is not supported"
bad_recipient "$SECRET" "is a secret key (an identity), not a recipient"
bad_recipient "" "is not an age recipient"
printf '%s\nssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHsKLqeplhpW a@b\n' "$OPS" >"$T/bad-recipients.txt"
expect_fail 2 "recipients file with an ssh key" "$DUMPER" backup "sqlite://$DB" --to "$T/nob" --recipients-file "$T/bad-recipients.txt"
grep -q "recipients file '$T/bad-recipients.txt' line 2: SSH keys (ssh-ed25519)" "$T/err" || fail "recipients file: $(cat "$T/err")"
expect_fail 5 "missing recipients file" "$DUMPER" backup "sqlite://$DB" --to "$T/nob" --recipients-file "$T/none.txt"
[ ! -e "$T/nob" ] || fail "a refused backup made its directory"
bad_identity() { # bad_identity CONTENT MESSAGE
  printf '%s\n' "$1" >"$T/bad.key"
  expect_fail 2 "identity file: $2" "$DUMPER" restore "$path" "sqlite://$T/tg/x.db" --identity "$T/bad.key"
  grep -qF "$2" "$T/err" || fail "identity '$2': $(cat "$T/err")"
  ! grep -q "AGE-SECRET-KEY-1[0-9A-Z]" "$T/err" || fail "a secret key in the error"
  [ -z "$(ls -A "$T/tg")" ] || fail "a refused identity left files"
}
bad_identity "-----BEGIN OPENSSH PRIVATE KEY-----
b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW
-----END OPENSSH PRIVATE KEY-----" "is a PEM/SSH private key; SSH keys are not supported"
bad_identity "$(printf 'age-encryption.org/v1\n-> scrypt c2FsdHNhbHRzYWx0c2FsdA 18\nAAAA\n--- AAAA')" "is itself encrypted (age -p); decrypt it first"
bad_identity "$OPS" "line 1 is a recipient (a public key), not an identity"
bad_identity "${SECRET%?}$(other "$SECRET" Q P)" "line 1 is a malformed age identity"
bad_identity "AGE-PLUGIN-YUBIKEY-1QQQQQQQQQ" "age plugin identities (AGE-PLUGIN-...) are not supported"
bad_identity "AGE-SECRET-KEY-PQ-1QQQQQQQQQ" "post-quantum identities (AGE-SECRET-KEY-PQ-1...) are not supported"
bad_identity "hunter2" "line 1 is not an age identity"
! grep -q hunter2 "$T/err" || fail "identity file content in the error"
bad_identity "# nothing here" "holds no identity"
expect_fail 2 "DUMPER_IDENTITY of the wrong kind" env DUMPER_IDENTITY="$T/ops.pub" "$DUMPER" restore "$path" "sqlite://$T/tg/x.db"
grep -q "^dumper: DUMPER_IDENTITY: identity file '$T/ops.pub' line 1 is a recipient" "$T/err" || fail "env: $(cat "$T/err")"
expect_fail 5 "missing identity file" "$DUMPER" verify "$path" --identity "$T/none.key"

# ---- list ----
"$DUMPER" list "$T/b" >"$T/list"
grep -q "  sqlite+age  *$path\$" "$T/list" || fail "list: $(cat "$T/list")"
"$DUMPER" list --json "$T/b" >"$T/list.json"
grep -q '"encryption":"age"' "$T/list.json" || fail "list --json: $(cat "$T/list.json")"

# ---- rotation: a new recipient for new backups; old backups stay readable by the old identity ----
"$DUMPER" keygen --out "$T/ops2.key" >"$T/ops2.pub"
new=$("$DUMPER" backup "sqlite://$DB" --to "$T/b" --recipient "$(cat "$T/ops2.pub")" --recipients-file "$T/recipients.txt")
expect_fail 11 "new backup with the retired key" "$DUMPER" restore "$new" "sqlite://$T/tg/x.db" -i "$T/ops.key"
quiet_check "old backup with the retired key" "$DUMPER" restore "$path" "sqlite://$T/rot1.db" -i "$T/ops.key"
quiet_check "new backup with the new key" "$DUMPER" restore "$new" "sqlite://$T/rot2.db" -i "$T/ops2.key"
quiet_check "both with both keys" "$DUMPER" restore "$path" "sqlite://$T/rot3.db" -i "$T/ops2.key" -i "$T/ops.key"
quiet_check "new backup with the recovery key" "$DUMPER" restore "$new" "sqlite://$T/rot4.db" -i "$T/recovery.key"
same_db "$T/rot2.db" "rotation"
echo "age_cli: ok"
