#!/usr/bin/env bash
# agent_encrypt_s3.sh - end to end (issue 14) with S3 storage (s3rver): an app with an age recipient gets an
# encrypted backup whose parts the job process puts straight to presigned URLs. Neither s3rver's data
# directory (objects, multipart parts) nor dumperd's holds a marker row, raw or decompressed (a control plain
# backup to the same bucket shows the scan would see it); the download from dumperd decrypts with `age -d`
# and restores with `dumper restore --identity`.
. "$DUMPER_SRC/test/lib/common.sh"
. "$DUMPER_SRC/test/lib/agent.sh"
. "$DUMPER_SRC/test/lib/encrypt.sh"
need_service s3
S3DATA="$DUMPER_TEST_DIR/s3/data"
[ -d "$S3DATA" ] || fail "no s3rver data directory at $S3DATA"

MARK="zk-s3-marker-$$-$RANDOM$RANDOM"
sqlite3 "$T/app.db" "CREATE TABLE secrets(id INTEGER PRIMARY KEY, v TEXT); INSERT INTO secrets(v) VALUES ('$MARK');"
make_keys
LOC="s3://$DUMPER_TEST_S3_BUCKET/enc-$$-$RANDOM"
export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER AWS_REGION=us-east-1 AWS_ENDPOINT_URL="$DUMPER_TEST_S3_ENDPOINT"
unset AWS_SESSION_TOKEN
start_dumperd dpd --primary-interval 1 --secondary-interval 2 --lease 3 --storage "$LOC"
dpd app set shop --recipient "$REC" >/dev/null 2>&1 || fail "app set --recipient"
# control first (with the storage credentials): a plain backup to the bucket is visible to the scan
quiet_check "control backup" "$DUMPER" backup "sqlite://$T/app.db" --to "$LOC-control"
[ -n "$(leaks "$S3DATA" "$MARK")" ] || fail "control: the scan does not see a plaintext backup in s3rver"
find "$S3DATA" -path "*/${LOC##*/}-control/*" -delete # (no delete command: s3rver's files directly)
[ -z "$(leaks "$S3DATA" "$MARK")" ] || fail "control backup left in s3rver"
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_REGION AWS_ENDPOINT_URL

start_host web --database "sqlite://$T/app.db"
wait_until 20 "primary" sh -c "curl -sf http://127.0.0.1:${HOST_PORT[web]}/status | jq -e '.role == \"primary\"'"
dpd backup now shop >/dev/null
wait_until 60 "the S3 backup is good" sh -c "[ \$(\"$DUMPERD\" backups shop --json --data '$DPD_DATA' | jq '[.[] | select(.status==\"good\")] | length') = 1 ]"
grep -q "upload: s3" "$T/web.agent.log" || fail "the job did not upload to presigned S3 URLs"
[ "$(dpd backups shop --json | jq -c '[.[0].encryption, .[0].recipients]')" = "[\"age\",[\"$REC\"]]" ] ||
  fail "catalog: $(dpd backups shop --json)"
found=$(leaks "$S3DATA" "$MARK"; leaks "$DPD_DATA" "$MARK")
[ -z "$found" ] || fail "the marker is readable in storage: $found"

id=$(dpd backups shop --json | jq -r '.[0].backup_id')
name=$(dpd backups shop --json | jq -r '.[0].file_name')
curl -sf -H "Authorization: Bearer $APP_KEY" -o "$T/$name" "$DPD_URL/api/v1/backups/$id/download" || fail "download"
age -d -i "$T/rec.key" -o "$T/plain.zst" "$T/$name" || fail "age -d of the download"
[ "$(zstd -qdc "$T/plain.zst" | grep -acF "$MARK")" = 1 ] || fail "age -d: no marker"
sha=$(dpd backups shop --json | jq -r '.[0].sha256')
quiet_check "restore --identity of the download" "$DUMPER" restore "$T/$name" "sqlite://$T/r.db" --sha256 "$sha" \
  --identity "$T/rec.key"
[ "$(sqlite3 "$T/r.db" 'SELECT v FROM secrets')" = "$MARK" ] || fail "restore: no marker"
note "ok: encrypted agent backup through presigned S3 parts; no marker in s3rver or dumperd's data dir; age -d and dumper restore --identity decrypt"
