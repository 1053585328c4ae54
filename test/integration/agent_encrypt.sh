#!/usr/bin/env bash
# agent_encrypt.sh - end to end (issue 14): an app with age recipients set in dumperd (`dumperd app set
# --recipient`, two keys: one from `dumper keygen`, one from age-keygen) gets encrypted backups from its
# agent's job processes, for real SQLite and PostgreSQL databases holding a marker row. Then: the catalog
# and dumperd's manifest record "age" and both recipients; no file under dumperd's data directory holds the
# marker, raw or decompressed (a control plain backup shows the scan would see it); `dumper restore
# --identity` (either key) and the stock `age -d` + zstd restore the marker; a restore without an identity
# fails with one line naming the recipients; a bad recipient is refused by `dumperd app set`; clearing the
# recipients makes the next backup plaintext while the old one stays readable.
. "$DUMPER_SRC/test/lib/common.sh"
. "$DUMPER_SRC/test/lib/agent.sh"
. "$DUMPER_SRC/test/lib/sql.sh"
. "$DUMPER_SRC/test/lib/encrypt.sh"
need_service pg

MARK="zk-marker-$$-$RANDOM$RANDOM"
sqlite3 "$T/app.db" "CREATE TABLE secrets(id INTEGER PRIMARY KEY, v TEXT);
  INSERT INTO secrets(v) VALUES ('$MARK'), ('other');"
DB=agent_enc_$$
pg_fresh "$DB"
pgq "$DB" -c "CREATE TABLE secrets(id serial PRIMARY KEY, v text); INSERT INTO secrets(v) VALUES ('$MARK'), ('other');"
make_keys

start_dumperd dpd --primary-interval 1 --secondary-interval 2 --lease 5
# bad recipients: one line each, nothing stored
expect_fail 2 "an ssh key as recipient" dpd app set shop --recipient "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHxx"
grep -q "SSH keys (ssh-ed25519) are not supported as recipients" "$T/err" || fail "ssh refusal: $(cat "$T/err")"
expect_fail 2 "a bit-flipped recipient" dpd app set shop --recipient "${OPS%?}q"
grep -q "is a malformed age recipient" "$T/err" || fail "checksum refusal: $(cat "$T/err")"
[ "$(dpd app set shop --json | jq -c .recipients)" = "[]" ] || fail "a refused recipient was stored"
dpd app set shop --recipient "$OPS" --recipient "$REC" >"$T/set.out" 2>/dev/null || fail "app set --recipient"
[ "$(grep -c '^recipient	age1' "$T/set.out")" = 2 ] || fail "app set output: $(cat "$T/set.out")"
[ "$(dpd app set shop --json | jq -c .recipients)" = "[\"$OPS\",\"$REC\"]" ] || fail "recipients not stored"

start_host web --database "sqlite://$T/app.db" --database "$(pg_url "$DB")"
wait_until 20 "the agent registers as primary" sh -c "[ \"\$(curl -sf http://127.0.0.1:${HOST_PORT[web]}/status | jq -r .role)\" = primary ]"
dpd backup now shop >/dev/null || fail "backup now"
wait_until 60 "two good backups" sh -c "[ \$(\"$DUMPERD\" backups shop --json --data '$DPD_DATA' | jq '[.[] | select(.status==\"good\")] | length') = 2 ]"
dpd backups shop --json >"$T/cat.json"
[ "$(jq '[.[] | select(.encryption == "age" and (.file_name | endswith(".age")))] | length' "$T/cat.json")" = 2 ] ||
  fail "catalog: not two encrypted backups: $(cat "$T/cat.json")"
[ "$(jq -c '[.[].recipients] | unique' "$T/cat.json")" = "[[\"$OPS\",\"$REC\"]]" ] || fail "catalog recipients"
grep -q "AGE-SECRET-KEY" -r "$DPD_DATA" && fail "a secret key under dumperd's data directory"

# no plaintext anywhere under dumperd's data directory (store, storage, manifests, staging)
found=$(leaks "$DPD_DATA" "$MARK")
[ -z "$found" ] || fail "the marker is readable under dumperd's data directory: $found"
# control: the same scan sees the marker in a plain (compressed) backup of the same database
quiet_check "control backup" "$DUMPER" backup "sqlite://$T/app.db" --to "$T/control"
[ -n "$(leaks "$T/control" "$MARK")" ] || fail "control: the scan does not see a plaintext backup's marker"

for f in "$DPD_DATA"/backups/*.age; do
  [ "$(head -c 21 "$f")" = "age-encryption.org/v1" ] || fail "$f is not an age file"
  grep -q '"encryption":	"age"' "$f.json" || fail "dumperd's manifest of $f lacks the encryption"
  [ "$(grep -o "$OPS\|$REC" "$f.json" | wc -l)" = 2 ] || fail "dumperd's manifest of $f lacks the recipients"
  # the stock age tool decrypts it with the recovery key (from age-keygen)
  age -d -i "$T/rec.key" -o "$T/plain.zst" "$f" || fail "age -d $f"
  [ "$(zstd -qdc "$T/plain.zst" | grep -acF "$MARK")" = 1 ] || fail "age -d of $f: no marker"
  case "$f" in
  *sqlite-app*)
    quiet_check "restore --identity (sqlite)" "$DUMPER" restore "$f" "sqlite://$T/r.db" --identity "$T/ops.key"
    [ "$(sqlite3 "$T/r.db" "SELECT v FROM secrets WHERE id = 1")" = "$MARK" ] || fail "sqlite restore: no marker" ;;
  *postgresql*)
    pg_fresh "${DB}_r"
    quiet_check "restore --identity (postgresql)" "$DUMPER" restore "$f" "$(pg_url "${DB}_r")" --identity "$T/rec.key"
    [ "$(pgq "${DB}_r" -c "SELECT v FROM secrets WHERE id = 1")" = "$MARK" ] || fail "postgresql restore: no marker"
    pgq postgres -c "DROP DATABASE \"${DB}_r\" WITH (FORCE)" ;;
  *) fail "unexpected backup $f" ;;
  esac
  SQ_FILE=$f
done
mkdir "$T/tg"
expect_fail 11 "restore without an identity" env -u DUMPER_IDENTITY "$DUMPER" restore "$SQ_FILE" "sqlite://$T/tg/x.db"
grep -q "is encrypted (age) to $OPS, $REC: give an identity of one of them with --identity FILE" "$T/err" ||
  fail "restore without identity: $(cat "$T/err")"
[ -z "$(ls -A "$T/tg")" ] || fail "a target was made without an identity"

# a recipient change applies to new backups; old ones stay readable by the old identities
dpd app set shop --no-recipients >/dev/null 2>&1 || fail "app set --no-recipients"
dpd backup now shop --database sqlite-app >/dev/null
wait_until 60 "a third good backup" sh -c "[ \$(\"$DUMPERD\" backups shop --json --data '$DPD_DATA' | jq '[.[] | select(.status==\"good\")] | length') = 3 ]"
[ "$(dpd backups shop --json | jq -r '.[0].encryption')" = null ] || fail "the backup after --no-recipients is encrypted"
[ "$(dpd backups shop --json | jq -r '.[0].file_name')" = "${SQ_FILE##*/}" ] && fail "file name reused"
quiet_check "old backup still restores" "$DUMPER" restore "$SQ_FILE" "sqlite://$T/r2.db" --identity "$T/ops.key"
pgq postgres -c "DROP DATABASE \"$DB\" WITH (FORCE)"
note "ok: agent backups encrypted to 2 recipients (sqlite, postgresql); no marker under dumperd's data dir; dumper restore --identity and age -d decrypt"
