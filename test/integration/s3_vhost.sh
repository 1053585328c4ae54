#!/bin/bash
# s3_vhost.sh - virtual-host addressing (https://bucket.host/key) end to end against s3rver: backup
# (single PUT and multipart), list, verify and restore with DUMPER_S3_ADDRESSING=virtual or
# --virtual-host, then dumperd with an agent uploading to presigned part URLs; every request through
# sigv4_proxy.py (botocore recomputes each signature, header or query, over the bucket.host Host
# header); what landed checked path-style with Debian's awscli. s3rver runs with
# --service-endpoint localhost (scripts/services.sh), so <bucket>.s3.localhost names the bucket and
# curl resolves *.localhost to loopback.
. "$DUMPER_SRC/test/lib/common.sh"
need_service s3
AWS=/usr/bin/aws
[ -x "$AWS" ] || { echo "skip: /usr/bin/aws missing" >&2; exit 77; }
[ -n "${DUMPER_TEST_S3_VHOST_ENDPOINT:-}" ] || { echo "skip: services.sh predates virtual-host s3rver" >&2; exit 77; }

export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER AWS_REGION=us-east-1
unset AWS_SESSION_TOKEN AWS_ENDPOINT_URL_S3 DUMPER_S3_ADDRESSING || true
B=$DUMPER_TEST_S3_BUCKET
RUN=vhost$$-$RANDOM
awsq() { "$AWS" --endpoint-url "$DUMPER_TEST_S3_ENDPOINT" --region us-east-1 "$@"; }  # path-style, by IP
# s3rver itself must see a virtual-host request as its bucket (else nothing below means anything)
curl -sf "http://$B.s3.localhost:$DUMPER_TEST_S3_PORT/?list-type=2&max-keys=1" | grep -q "<Name>$B</Name>" ||
  { echo "skip: curl does not reach s3rver through $B.s3.localhost" >&2; exit 77; }

. "$DUMPER_SRC/test/lib/agent.sh"   # free_port, wait_port, wait_until, dumperd and host; kills AG_PIDS at exit
SP=$(free_port)
/usr/bin/python3 "$DUMPER_SRC/test/doubles/sigv4_proxy.py" "$SP" "$DUMPER_TEST_S3_PORT" S3RVER S3RVER "$T/sigv4.log" \
  </dev/null >"$T/proxy.out" 2>&1 &
AG_PIDS+=($!)
wait_port "$SP" || { cat "$T/proxy.out"; fail "sigv4 proxy did not start"; }
export AWS_ENDPOINT_URL=http://s3.localhost:$SP   # through the signature-checking proxy
VH="$B.s3.localhost:$SP"

json() { python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }
obj_sha() { awsq s3 cp "s3://$B/$1" - | sha256sum | cut -d' ' -f1; }
obj_size() { awsq s3api head-object --bucket "$B" --key "$1" --query ContentLength --output text; }
sqlite3 "$T/small.db" "create table t(a integer primary key, b); insert into t(b) select hex(randomblob(500)) from generate_series(1,1000);"
sqlite3 "$T/big.db" "create table t(a integer primary key, b); insert into t(b) select randomblob(1000) from generate_series(1,9000);"
rows() { sqlite3 "$1" "select count(*), sum(length(b)), sum(a) from t"; }

# 1. backups: one single PUT (environment), one multipart (--virtual-host); landed as awscli sees them
out=$(DUMPER_S3_ADDRESSING=virtual "$DUMPER" backup "sqlite://$T/small.db" --to "s3://$B/$RUN/vh" --json) ||
  { cat "$T/sigv4.log"; fail "single-PUT backup by virtual host"; }
key=$(echo "$out" | json path); key=${key#s3://$B/}
[ "$(obj_sha "$key")" = "$(echo "$out" | json sha256)" ] || fail "single-PUT object sha256 differs from the manifest"
[ "$(obj_size "$key")" = "$(echo "$out" | json size)" ] || fail "single-PUT object size differs"
out=$("$DUMPER" backup "sqlite://$T/big.db" --to "s3://$B/$RUN/vh" --virtual-host -c none --part-size 5 --json) ||
  { cat "$T/sigv4.log"; fail "multipart backup by virtual host"; }
bkey=$(echo "$out" | json path); bkey=${bkey#s3://$B/}
bsha=$(echo "$out" | json sha256)
[ "$(echo "$out" | json size)" -gt $((10 * 1024 * 1024)) ] || fail "big backup too small to need several parts"
[ "$(obj_sha "$bkey")" = "$bsha" ] || fail "multipart object sha256 differs from the manifest"
[ "$(obj_size "$bkey")" = "$(echo "$out" | json size)" ] || fail "multipart object size differs"
awsq s3 cp "s3://$B/$bkey.json" - | grep -q "\"sha256\":[[:space:]]*\"$bsha\"" || fail "manifest not stored beside the multipart backup"

# the requests really were virtual-host ones: bucket in the Host header, not in the path
grep -q "^OK PUT /$RUN/vh/small-.* host=$VH$" "$T/sigv4.log" || { cat "$T/sigv4.log"; fail "no virtual-host single PUT"; }
grep -q "^OK PUT /$RUN/vh/big-.* host=$VH$" "$T/sigv4.log" || fail "no virtual-host part upload"
grep -q "^OK POST /$RUN/vh/big-.* host=$VH$" "$T/sigv4.log" || fail "no virtual-host create/complete"
grep -q "^OK HEAD / host=$VH$" "$T/sigv4.log" || fail "no virtual-host HeadBucket"

# 2. list, verify, restore by virtual host (environment: these commands take no addressing option)
export DUMPER_S3_ADDRESSING=virtual
"$DUMPER" list "s3://$B/$RUN/vh" >"$T/list" || fail "list by virtual host"
[ "$(wc -l <"$T/list")" = 2 ] || { cat "$T/list"; fail "list should show 2 backups"; }
grep -q "s3://$B/$bkey" "$T/list" || fail "list misses the multipart backup"
grep -q "^OK GET / host=$VH$" "$T/sigv4.log" || fail "no virtual-host ListObjectsV2"
"$DUMPER" verify "s3://$B/$bkey" >"$T/verify" || fail "verify by virtual host"
grep -q "^ok s3://$B/$bkey sha256:$bsha" "$T/verify" || fail "verify output: $(cat "$T/verify")"
grep -q "^OK GET /$bkey host=$VH$" "$T/sigv4.log" || fail "no virtual-host GET of the object"
"$DUMPER" restore "s3://$B/$bkey" "sqlite://$T/restored.db" 2>/dev/null || fail "restore by virtual host"
[ "$(rows "$T/restored.db")" = "$(rows "$T/big.db")" ] || fail "restored rows differ"
# straight to s3rver too (no proxy in between rewriting anything)
AWS_ENDPOINT_URL=$DUMPER_TEST_S3_VHOST_ENDPOINT "$DUMPER" list "s3://$B/$RUN/vh" >"$T/list2" || fail "list straight to s3rver"
cmp -s "$T/list" "$T/list2" || fail "lists through the proxy and straight differ"

# 3. every signature right (botocore over the bucket.host Host header), nothing unsigned, no path-style request
grep -q BAD "$T/sigv4.log" && { grep BAD "$T/sigv4.log" | head -3; fail "botocore rejected a virtual-host signature"; }
grep UNSIGNED "$T/sigv4.log" | grep -qv '^UNSIGNED GET /$' && fail "an unsigned request was sent"
grep '^OK ' "$T/sigv4.log" | grep -v " host=$VH$" && fail "a request was not virtual-host, or was presigned"
[ "$(grep -c '^OK ' "$T/sigv4.log")" -ge 12 ] || fail "too few signed requests seen: $(grep -c '^OK ' "$T/sigv4.log")"

# 4. errors: a wrong secret is refused on the signature (11), a wrong bucket is its own host (5),
# an IP endpoint cannot carry a bucket name (3), an unknown addressing style or both options (2)
expect_fail 11 "wrong secret" env AWS_SECRET_ACCESS_KEY=wrong "$DUMPER" list "s3://$B/$RUN/vh"
grep -q "access denied" "$T/err" || fail "403 message: $(cat "$T/err")"
grep -q "^BAD HEAD / " "$T/sigv4.log" || fail "the proxy did not refuse the wrong signature"
expect_fail 5 "wrong bucket" env AWS_ENDPOINT_URL=$DUMPER_TEST_S3_VHOST_ENDPOINT "$DUMPER" list "s3://no-such-bucket-$RUN/x"
grep -q "bucket 'no-such-bucket-$RUN' does not exist" "$T/err" || fail "wrong bucket message: $(cat "$T/err")"
expect_fail 3 "virtual host on an IP endpoint" env AWS_ENDPOINT_URL=$DUMPER_TEST_S3_ENDPOINT "$DUMPER" list "s3://$B/$RUN/vh"
grep -q "needs a host name" "$T/err" || fail "IP endpoint message: $(cat "$T/err")"
expect_fail 2 "unknown addressing" env DUMPER_S3_ADDRESSING=vhost "$DUMPER" list "s3://$B/$RUN/vh"
grep -q "DUMPER_S3_ADDRESSING 'vhost'" "$T/err" || fail "addressing message: $(cat "$T/err")"
expect_fail 2 "both addressing options" "$DUMPER" backup "sqlite://$T/small.db" --to "s3://$B/$RUN/x" --path-style --virtual-host
grep -q "exclude each other" "$T/err" || fail "both options message: $(cat "$T/err")"
# path style is still the default with a custom endpoint, and DUMPER_S3_ADDRESSING=path forces it
: >"$T/sigv4.log"
env -u DUMPER_S3_ADDRESSING AWS_ENDPOINT_URL=http://127.0.0.1:$SP "$DUMPER" list "s3://$B/$RUN/vh" >"$T/list3" || fail "path-style list"
DUMPER_S3_ADDRESSING=path "$DUMPER" list "s3://$B/$RUN/vh" >"$T/list4" || fail "forced path-style list"
cmp -s "$T/list" "$T/list3" && cmp -s "$T/list" "$T/list4" || fail "path-style lists differ"
grep -q "^OK GET /$B/ host=127.0.0.1:$SP$" "$T/sigv4.log" || fail "no default path-style list"
grep -q "^OK GET /$B/ host=s3.localhost:$SP$" "$T/sigv4.log" || fail "no forced path-style list"

# 5. dumperd on virtual-host addressing, its agent uploading to presigned part URLs (no credentials in
# the host): dumperd's own requests and the agent's presigned PUTs all pass the signature check
: >"$T/sigv4.log"
start_dumperd dpd --primary-interval 1 --secondary-interval 2 --lease 3 --storage "s3://$B/$RUN/agent"
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
start_host web --database "sqlite://$T/big.db"
export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER   # for awscli below
wait_until 20 "primary" sh -c "curl -sf http://127.0.0.1:${HOST_PORT[web]}/status | jq -e '.role == \"primary\"'"
dpd backup now shop >/dev/null
wait_until 90 "the S3 backup is good" sh -c "[ \$(\"$DUMPERD\" backups shop --json --data '$DPD_DATA' | jq '[.[] | select(.status==\"good\")] | length') = 1 ]"
grep -q "upload: s3" "$T/web.agent.log" || fail "the job did not upload to presigned S3 URLs"
file=$(dpd backups shop --json | jq -r '.[0].file_name')
[ "$(obj_sha "$RUN/agent/$file")" = "$(dpd backups shop --json | jq -r '.[0].sha256')" ] ||
  fail "the object dumperd stored differs from its catalog sha256"
np=$(grep -c "^OK PUT /$RUN/agent/$file host=$VH presigned$" "$T/sigv4.log" || true)
[ "$np" -ge 2 ] || { cat "$T/sigv4.log"; fail "expected 2 or more presigned virtual-host part PUTs, saw $np"; }
grep -q "^OK POST /$RUN/agent/$file host=$VH$" "$T/sigv4.log" || fail "no virtual-host create/complete by dumperd"
grep -q BAD "$T/sigv4.log" && { grep BAD "$T/sigv4.log" | head -3; fail "botocore rejected a signature"; }
grep -q UNSIGNED "$T/sigv4.log" && fail "an unsigned request was sent"
grep '^OK ' "$T/sigv4.log" | grep -v " host=$VH\( presigned\)\?$" && fail "a request was not virtual-host"
note "ok: $(grep -c . "$T/list") backups by virtual host; the agent's $np presigned parts by virtual host"
