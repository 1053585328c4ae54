#!/bin/bash
# s3.sh - the S3 storage driver end to end against s3rver: backup (single PUT and parallel
# multipart), list, verify, restore; what landed checked with Debian's awscli (an independent
# client); every request's SigV4 signature checked by botocore (sigv4_proxy.py); fault injection
# (faulty_proxy.py: 500/503/resets/delays on ~20% of parts; persistent failure -> abort sent);
# kill -9 mid-upload leaves no object; bad bucket/endpoint/credentials fail with one line.
. "$DUMPER_SRC/test/lib/common.sh"
need_service s3
AWS=/usr/bin/aws
[ -x "$AWS" ] || { echo "skip: /usr/bin/aws missing" >&2; exit 77; }

export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER AWS_REGION=us-east-1
export AWS_ENDPOINT_URL=$DUMPER_TEST_S3_ENDPOINT
unset AWS_SESSION_TOKEN AWS_ENDPOINT_URL_S3 || true
B=$DUMPER_TEST_S3_BUCKET
RUN=run$$-$RANDOM               # a fresh prefix per run
awsq() { "$AWS" --endpoint-url "$DUMPER_TEST_S3_ENDPOINT" --region us-east-1 "$@"; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PIDS=()
stop_all() { kill_ours TERM "${PIDS[@]}"; }
trap 'rc=$?; stop_all; (exit $rc); _cleanup' EXIT  # keep common.sh's temp-dir handling
start_proxy() { # port cmd... : starts a proxy and waits until it answers
  local port=$1; shift
  "$@" </dev/null >"$T/proxy-$port.out" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$port/" && return 0; sleep 0.1; done
  fail "proxy on $port did not start"
}
obj_sha() { awsq s3 cp "s3://$B/$1" - | sha256sum | cut -d' ' -f1; }
obj_size() { awsq s3api head-object --bucket "$B" --key "$1" --query ContentLength --output text; }
manifest_field() { awsq s3 cp "s3://$B/$1.json" - | python3 -c "import json,sys; print(json.load(sys.stdin)['$2'])"; }

# Source databases: ~1 MB (one part) and ~17.5 MB of incompressible rows (4 parts of 5 MiB, stored as-is).
sqlite3 "$T/small.db" "create table t(a integer primary key, b); insert into t(b) select hex(randomblob(500)) from generate_series(1,1000);"
sqlite3 "$T/big.db" "create table t(a integer primary key, b); insert into t(b) select randomblob(1000) from generate_series(1,9000);"
rows() { sqlite3 "$1" "select count(*), sum(length(b)), sum(a) from t"; }

# 1. single PUT (fits one part) and multipart; independent check with awscli. Through a recording
# proxy (pass mode) to see the requests: s3rver's multipart ETags carry no "-<parts>" suffix.
PP=$(free_port)
start_proxy "$PP" python3 "$DUMPER_SRC/test/doubles/faulty_proxy.py" "$PP" "$DUMPER_TEST_S3_PORT" "$T/pass.log" pass
out=$(AWS_ENDPOINT_URL=http://127.0.0.1:$PP "$DUMPER" backup "sqlite://$T/small.db" --to "s3://$B/$RUN/plain" --json) || fail "small backup"
key=$(echo "$out" | python3 -c "import json,sys; print(json.load(sys.stdin)['path'][len('s3://$B/'):])")
sha=$(echo "$out" | python3 -c "import json,sys; print(json.load(sys.stdin)['sha256'])")
size=$(echo "$out" | python3 -c "import json,sys; print(json.load(sys.stdin)['size'])")
[ "$(obj_sha "$key")" = "$sha" ] || fail "single-put object sha256 differs from the manifest"
[ "$(obj_size "$key")" = "$size" ] || fail "single-put object size differs"

grep -q '?uploads' "$T/pass.log" && fail "a one-part backup used a multipart upload"
grep -q '^BADMD5' "$T/pass.log" && fail "a Content-MD5 header did not match its body"
grep -qE "^FWD PUT /$B/$RUN/plain/small-" "$T/pass.log" || fail "no single PUT seen"
out=$(AWS_ENDPOINT_URL=http://127.0.0.1:$PP "$DUMPER" backup "sqlite://$T/big.db" --to "s3://$B/$RUN/plain" -c none --part-size 5 --parallel 3 --json) || fail "multipart backup"
bkey=$(echo "$out" | python3 -c "import json,sys; print(json.load(sys.stdin)['path'][len('s3://$B/'):])")
bsha=$(echo "$out" | python3 -c "import json,sys; print(json.load(sys.stdin)['sha256'])")
bsize=$(echo "$out" | python3 -c "import json,sys; print(json.load(sys.stdin)['size'])")
[ "$bsize" -gt $((15 * 1024 * 1024)) ] || fail "big backup too small ($bsize) to need several parts"
[ "$(obj_sha "$bkey")" = "$bsha" ] || fail "multipart object sha256 differs from the manifest"
[ "$(obj_size "$bkey")" = "$bsize" ] || fail "multipart object size differs"
# 4 parts of up to 5 MiB: create, 4 part PUTs, complete
np=$(grep -E "^FWD PUT /$B/$RUN/plain/big-.*partNumber=" "$T/pass.log" | sed 's/.*partNumber=\([0-9]*\).*/\1/' | sort -u | wc -l)
[ "$np" = 4 ] || { cat "$T/pass.log"; fail "expected 4 parts, saw $np"; }
grep -qE "^FWD POST /$B/$RUN/plain/big-.*\?uploads" "$T/pass.log" || fail "no CreateMultipartUpload"
grep -qE "^FWD POST /$B/$RUN/plain/big-.*\?uploadId=" "$T/pass.log" || fail "no CompleteMultipartUpload"

# 2. list, verify, restore work like the local forms
"$DUMPER" list "s3://$B/$RUN/plain" >"$T/list" || fail "list"
[ "$(wc -l <"$T/list")" = 2 ] || { cat "$T/list"; fail "list should show 2 backups"; }
grep -q "s3://$B/$bkey" "$T/list" || fail "list misses the multipart backup"
"$DUMPER" verify "s3://$B/$bkey" >"$T/verify" || fail "verify"
grep -q "^ok s3://$B/$bkey sha256:$bsha" "$T/verify" || fail "verify output"
"$DUMPER" restore "s3://$B/$bkey" "sqlite://$T/restored.db" 2>/dev/null || fail "restore"
[ "$(rows "$T/restored.db")" = "$(rows "$T/big.db")" ] || fail "restored rows differ"
# corrupt the object behind dumper's back (same size): verify must say corrupt (9)
head -c "$bsize" /dev/zero | awsq s3 cp - "s3://$B/$bkey" >/dev/null
expect_fail 9 "verify of a corrupted object" "$DUMPER" verify "s3://$B/$bkey"
[ -z "$("$DUMPER" list "s3://$B/$RUN/empty")" ] || fail "list of an empty prefix"

# 3. pagination: ListObjectsV2 pages of 4 keys (DUMPER_S3_LIST_MAX_KEYS, a test hook; default 1000)
for i in 1 2 3; do
  "$DUMPER" backup "sqlite://$T/small.db" --to "s3://$B/$RUN/many" -n "db$i" >/dev/null || fail "backup $i"
done
echo x | awsq s3 cp - "s3://$B/$RUN/many/sub/other.txt" >/dev/null   # not a backup: not listed
DUMPER_S3_LIST_MAX_KEYS=4 "$DUMPER" list "s3://$B/$RUN/many" >"$T/many.list" || fail "list over several pages"
[ "$(wc -l <"$T/many.list")" = 3 ] || { cat "$T/many.list"; fail "paged list should show 3 backups"; }

# 4. every request signed correctly: botocore checks each signature (sigv4_proxy)
SP=$(free_port)
start_proxy "$SP" /usr/bin/python3 "$DUMPER_SRC/test/doubles/sigv4_proxy.py" "$SP" "$DUMPER_TEST_S3_PORT" S3RVER S3RVER "$T/sigv4.log"
out=$(AWS_ENDPOINT_URL=http://127.0.0.1:$SP "$DUMPER" backup "sqlite://$T/big.db" --to "s3://$B/$RUN/signed" -c none --part-size 5) ||
  { cat "$T/sigv4.log"; fail "backup through the signature-checking proxy"; }
AWS_ENDPOINT_URL=http://127.0.0.1:$SP "$DUMPER" verify "$out" >/dev/null || fail "verify through the signature-checking proxy"
DUMPER_S3_LIST_MAX_KEYS=4 AWS_ENDPOINT_URL=http://127.0.0.1:$SP "$DUMPER" list "s3://$B/$RUN/many" >"$T/many2.list" ||
  fail "list through the signature-checking proxy"
cmp -s "$T/many.list" "$T/many2.list" || fail "list through the proxy differs"
grep -q "continuation-token" "$T/sigv4.log" 2>/dev/null || grep -q "OK GET /$B" "$T/sigv4.log" || fail "no list request seen"
grep -q BAD "$T/sigv4.log" && { grep BAD "$T/sigv4.log" | head -3; fail "botocore rejected a signature"; }
# (the one unsigned "GET /" is start_proxy's readiness probe)
grep "UNSIGNED" "$T/sigv4.log" | grep -v '^UNSIGNED GET /$' >/dev/null && fail "an unsigned request was sent"
grep -q "OK PUT .*$RUN/signed" "$T/sigv4.log" || fail "no signed part upload seen by the proxy"
grep -q "OK POST .*$RUN/signed" "$T/sigv4.log" || fail "no signed create/complete seen by the proxy"
# a wrong secret is refused by the proxy: exit 11 (auth) with one line
expect_fail 11 "wrong secret" env AWS_SECRET_ACCESS_KEY=wrong AWS_ENDPOINT_URL=http://127.0.0.1:$SP \
  "$DUMPER" backup "sqlite://$T/small.db" --to "s3://$B/$RUN/signed"
grep -q "access denied" "$T/err" || fail "403 message: $(cat "$T/err")"
grep -q "wrong" "$T/err" && fail "the secret appears in the error message"

# 5. fault injection: ~20% of part uploads fail (500/503/reset) or are delayed 2 s
FP=$(free_port)
start_proxy "$FP" python3 "$DUMPER_SRC/test/doubles/faulty_proxy.py" "$FP" "$DUMPER_TEST_S3_PORT" "$T/faulty.log" flaky 0.25
sqlite3 "$T/flaky.db" "create table t(a integer primary key, b); insert into t(b) select randomblob(1000) from generate_series(1,30000);"
out=$(AWS_ENDPOINT_URL=http://127.0.0.1:$FP "$DUMPER" backup "sqlite://$T/flaky.db" --to "s3://$B/$RUN/flaky" -c none --part-size 5 --json) ||
  { cat "$T/faulty.log"; fail "backup through the faulty proxy"; }
fkey=$(echo "$out" | python3 -c "import json,sys; print(json.load(sys.stdin)['path'][len('s3://$B/'):])")
fsha=$(echo "$out" | python3 -c "import json,sys; print(json.load(sys.stdin)['sha256'])")
nf=$(grep -cE '^(F500|F503|RESET|DELAY) ' "$T/faulty.log" || true)
[ "$nf" -ge 2 ] || { cat "$T/faulty.log"; fail "the proxy injected only $nf faults"; }
grep -qE '^(F500|F503|RESET) ' "$T/faulty.log" || fail "no failing fault injected"
[ "$(obj_sha "$fkey")" = "$fsha" ] || fail "object stored through faults differs from the source stream"
local_sha=$("$DUMPER" backup "sqlite://$T/flaky.db" --to "$T/local" -c none --json | python3 -c "import json,sys; print(json.load(sys.stdin)['sha256'])")
[ "$local_sha" = "$fsha" ] || fail "flaky upload differs from a local backup of the same database"
note "faults injected: $nf of $(grep -c 'partNumber=' "$T/faulty.log") part requests"
kill "${PIDS[-1]}"

# 6. parts keep failing: the backup fails with one line, AbortMultipartUpload is sent, nothing is listed
FP2=$(free_port)
start_proxy "$FP2" python3 "$DUMPER_SRC/test/doubles/faulty_proxy.py" "$FP2" "$DUMPER_TEST_S3_PORT" "$T/fail.log" failparts
expect_fail 13 "backup whose parts always fail" env DUMPER_HTTP_MAX_ATTEMPTS=2 AWS_ENDPOINT_URL=http://127.0.0.1:$FP2 \
  "$DUMPER" backup "sqlite://$T/big.db" --to "s3://$B/$RUN/failing" -c none --part-size 5
grep -q "storage service error: HTTP 500" "$T/err" || fail "part failure message: $(cat "$T/err")"
grep -qE '^FWD DELETE .*uploadId=' "$T/fail.log" || { cat "$T/fail.log"; fail "no AbortMultipartUpload sent"; }
[ -z "$(awsq s3 ls "s3://$B/$RUN/failing/")" ] || fail "a failed upload left an object"

# 7. kill -9 mid-upload: no completed object (the incomplete upload stays invisible)
FP3=$(free_port)
start_proxy "$FP3" python3 "$DUMPER_SRC/test/doubles/faulty_proxy.py" "$FP3" "$DUMPER_TEST_S3_PORT" "$T/slow.log" slow 1
AWS_ENDPOINT_URL=http://127.0.0.1:$FP3 "$DUMPER" backup "sqlite://$T/big.db" --to "s3://$B/$RUN/killed" -c none --part-size 5 \
  >/dev/null 2>&1 &
dpid=$!
for _ in $(seq 300); do grep -q "/$RUN/killed/.*partNumber" "$T/slow.log" 2>/dev/null && break; sleep 0.1; done
grep -q "/$RUN/killed/.*partNumber" "$T/slow.log" || fail "the upload never reached a part"
kill -9 "$dpid"; wait "$dpid" 2>/dev/null || true
sleep 1.5  # let in-flight part requests reach s3rver
[ -z "$(awsq s3 ls "s3://$B/$RUN/killed/")" ] || fail "a killed upload left an object"
grep -q "uploadId=" "$T/slow.log" && ! grep -qE "POST .*uploadId=" "$T/slow.log" || fail "complete was sent by a killed upload"

# 7b. SIGTERM mid-upload: the upload is aborted (AbortMultipartUpload sent), exit 17, no object
: >"$T/slow.log"
AWS_ENDPOINT_URL=http://127.0.0.1:$FP3 "$DUMPER" backup "sqlite://$T/big.db" --to "s3://$B/$RUN/termed" -c none --part-size 5 \
  >/dev/null 2>"$T/term.err" &
dpid=$!
# (match this upload's parts: a late log line of the killed upload above may land after the truncation)
for _ in $(seq 300); do grep -q "/$RUN/termed/.*partNumber" "$T/slow.log" 2>/dev/null && break; sleep 0.1; done
grep -q "/$RUN/termed/.*partNumber" "$T/slow.log" || fail "SIGTERM: the upload never reached a part"
kill -TERM "$dpid"
rc=0; wait "$dpid" || rc=$?
[ "$rc" = 17 ] || { cat "$T/term.err"; fail "SIGTERM: exit $rc, expected 17"; }
grep -qE "^FWD DELETE /$B/$RUN/termed/.*uploadId=" "$T/slow.log" || { cat "$T/slow.log"; fail "SIGTERM: no abort sent"; }
[ -z "$(awsq s3 ls "s3://$B/$RUN/termed/")" ] || fail "an interrupted upload left an object"

# 8. a download whose connection drops mid-body resumes with a Range request (verify and restore)
FP4=$(free_port)
start_proxy "$FP4" python3 "$DUMPER_SRC/test/doubles/faulty_proxy.py" "$FP4" "$DUMPER_TEST_S3_PORT" "$T/drop.log" dropget
AWS_ENDPOINT_URL=http://127.0.0.1:$FP4 "$DUMPER" verify "s3://$B/$fkey" >/dev/null 2>"$T/drop.err" ||
  { cat "$T/drop.err" "$T/drop.log"; fail "verify across a dropped connection"; }
grep -q "^DROP GET /$B/$fkey after" "$T/drop.log" || { cat "$T/drop.log"; fail "the proxy dropped nothing"; }
half=$(sed -n "s|^DROP GET /$B/$fkey after \([0-9]*\) of.*|\1|p" "$T/drop.log")
grep -q "^GET /$B/$fkey range=bytes=$half-" "$T/drop.log" || { cat "$T/drop.log"; fail "no resume at byte $half"; }
AWS_ENDPOINT_URL=http://127.0.0.1:$FP4 "$DUMPER" restore "s3://$B/$RUN/plain/$(basename "$key")" "sqlite://$T/restored2.db" 2>/dev/null ||
  fail "restore across a dropped connection"
[ "$(rows "$T/restored2.db")" = "$(rows "$T/small.db")" ] || fail "rows restored across a dropped connection differ"

# 9. bad input: one line, documented exit codes
expect_fail 5 "wrong bucket" "$DUMPER" backup "sqlite://$T/small.db" --to "s3://no-such-bucket-$RUN/x"
grep -q "bucket 'no-such-bucket-$RUN' does not exist" "$T/err" || fail "wrong bucket message: $(cat "$T/err")"
DP=$(free_port)
expect_fail 12 "wrong endpoint" env DUMPER_HTTP_MAX_ATTEMPTS=2 "$DUMPER" backup "sqlite://$T/small.db" --to "s3://$B/x" --endpoint "http://127.0.0.1:$DP"
expect_fail 3 "endpoint without scheme" env AWS_ENDPOINT_URL=127.0.0.1:1 "$DUMPER" list "s3://$B/x"
expect_fail 5 "missing object" "$DUMPER" verify "s3://$B/$RUN/plain/nothing-here.sql.zst"
expect_fail 11 "no credentials" env -u AWS_ACCESS_KEY_ID "$DUMPER" list "s3://$B/$RUN"
grep -q "AWS_ACCESS_KEY_ID" "$T/err" || fail "no-credentials message"
note "ok"
