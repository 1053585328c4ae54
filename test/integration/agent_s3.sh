#!/usr/bin/env bash
# agent_s3.sh - dumperd with S3 storage (s3rver): the job process uploads every part straight to a
# presigned S3 URL obtained from dumperd (it never holds storage credentials: none in its
# environment here), commits with the ETags; the backup is good, spans several parts, and the
# download from dumperd decompresses to the database's exact dump. The job's peak RSS stays under
# 64 MiB for a backup larger than that (the uploader holds two 8 MiB parts; skipped in sanitizer
# builds, whose shadow memory dominates RSS).
. "$DUMPER_SRC/test/lib/common.sh"
. "$DUMPER_SRC/test/lib/agent.sh"
need_service s3

# ~70 MB of incompressible rows: nine parts of 8 MiB, more than the job's memory bound
"$PY" - "$T/app.db" <<'PY'
import os, sqlite3, sys
c = sqlite3.connect(sys.argv[1]); c.execute("CREATE TABLE b(id INTEGER PRIMARY KEY, x BLOB)")
c.executemany("INSERT INTO b(x) VALUES (?)", [(os.urandom(1000),) for _ in range(70000)]); c.commit()
PY
LOC="s3://$DUMPER_TEST_S3_BUCKET/agent-$$-$RANDOM"
# storage credentials for dumperd only: unset before the host (and so its job processes) starts
export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER AWS_REGION=us-east-1 AWS_ENDPOINT_URL="$DUMPER_TEST_S3_ENDPOINT"
unset AWS_SESSION_TOKEN
start_dumperd dpd --primary-interval 1 --secondary-interval 2 --lease 3 --storage "$LOC"
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_REGION AWS_ENDPOINT_URL
start_host web --database "sqlite://$T/app.db"
grep -q AWS_SECRET "/proc/${HOST_PID[web]}/environ" && fail "the host has storage credentials"
wait_until 20 "primary" sh -c "curl -sf http://127.0.0.1:${HOST_PORT[web]}/status | jq -e '.role == \"primary\"'"
dpd backup now shop >/dev/null
wait_until 90 "the S3 backup is good" sh -c "[ \$(\"$DUMPERD\" backups shop --json --data '$DPD_DATA' | jq '[.[] | select(.status==\"good\")] | length') = 1 ]"
grep -q "upload: s3" "$T/web.agent.log" || fail "the job did not upload to presigned S3 URLs"
# dumperd marks the backup good before the job process logs its commit line: wait for the line
wait_until 10 "the job's commit line" grep -q "committed: [0-9]* bytes in [0-9]* parts" "$T/web.agent.log"
parts=$(grep -o "committed: [0-9]* bytes in [0-9]* parts" "$T/web.agent.log" | awk '{print $5}')
[ "${parts:-0}" -ge 9 ] || fail "expected at least 9 parts, got ${parts:-none}"
peak=$(grep -o "committed: .*, peak RSS [0-9]* KiB" "$T/web.agent.log" | sed 's/.*peak RSS \([0-9]*\) KiB/\1/')
libs=$(ldd "$DUMPER" 2>/dev/null || true)
if grep -Eq 'libasan|libubsan' <<<"$libs"; then
  note "job peak RSS $((peak / 1024)) MiB (sanitizer build: not checked)"
else
  [ "${peak:-999999}" -lt $((64 * 1024)) ] || fail "the job's peak RSS was ${peak:-?} KiB for a $(( $(stat -c %s "$T/app.db") / 1048576 )) MiB database (bound: 64 MiB)"
fi
id=$(dpd backups shop --json | jq -r '.[0].backup_id')
curl -sf -H "Authorization: Bearer $APP_KEY" -o "$T/dl.zst" "$DPD_URL/api/v1/backups/$id/download" || fail "download"
[ "$(sha256sum <"$T/dl.zst" | cut -c1-64)" = "$(dpd backups shop --json | jq -r '.[0].sha256')" ] || fail "sha256 differs"
zstd -qdc "$T/dl.zst" > "$T/dump.sql"
sqlite3 "$T/r.db" < "$T/dump.sql"
[ "$(sqlite3 "$T/r.db" 'SELECT count(*), sum(length(x)), max(id) FROM b')" = \
  "$(sqlite3 "$T/app.db" 'SELECT count(*), sum(length(x)), max(id) FROM b')" ] || fail "restored rows differ"
[ "$(sqlite3 "$T/r.db" 'SELECT hex(x) FROM b WHERE id = 12345')" = "$(sqlite3 "$T/app.db" 'SELECT hex(x) FROM b WHERE id = 12345')" ] ||
  fail "restored row differs"
note "ok: S3 backup through presigned part URLs, $parts parts, job peak RSS $((peak / 1024)) MiB, good, restores equal"
