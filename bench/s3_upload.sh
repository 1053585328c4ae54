#!/bin/bash
# s3_upload.sh - 1 GiB stream to s3rver on loopback: dumper's S3 writer vs `aws s3 cp` (Debian's
# awscli 2.9) on the same bytes, same run; wall time and peak RSS of each (/usr/bin/time -v).
#   DUMPER_TEST_PORT_BASE=25700 bench/s3_upload.sh [SIZE_MIB] [RUNS]
# Needs a build (build/lib/libdumper.a) and s3rver (scripts/services.sh start s3).
#
# The stream: SIZE_MIB of incompressible bytes (openssl rand) written once to /dev/shm, then read
# from stdin by both clients (`bench/s3_put` = dp_storage_open + dp_storage_writer + pump stdin,
# the exact writer `dumper backup` uses; `aws s3 cp - s3://...`). Both get the same bytes through
# a pipe from the same file, so neither can seek or know the size up front.
# Why not `dumper backup` of a 1 GiB database: a dump's own cost (formatting, compression) would hide
# the upload; the writer measured here is the one `dumper backup --to s3://` streams into.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SIZE=${1:-1024}
RUNS=${2:-2}
BASE=${DUMPER_TEST_PORT_BASE:-25400}
. "$("$ROOT/scripts/services.sh" env)" 2>/dev/null || true
: "${DUMPER_TEST_S3_ENDPOINT:?start s3rver first: DUMPER_TEST_PORT_BASE=$BASE scripts/services.sh start s3}"
export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER AWS_REGION=us-east-1 AWS_ENDPOINT_URL=$DUMPER_TEST_S3_ENDPOINT
B=$DUMPER_TEST_S3_BUCKET
W=$(mktemp -d /dev/shm/dumper-bench-s3.XXXXXX)
trap 'rm -rf "$W"' EXIT

cc -O2 -I"$ROOT/lib" -I"$ROOT/include" -I"$ROOT/build/lib/generated" "$ROOT/bench/s3_put.c" -o "$W/s3_put" \
  "$ROOT/build/lib/libdumper.a" $(pkg-config --libs libcurl libcjson libpq libmariadb libmongoc-1.0 libbson-1.0 hiredis libzstd zlib openssl sqlite3 libarchive) -lpthread -lm
openssl rand -out "$W/data" $((SIZE * 1024 * 1024))
SHA=$(sha256sum "$W/data" | cut -d' ' -f1)

measure() { # name cmd... : prints "name wall_s rss_mib"
  local name=$1; shift
  /usr/bin/time -v -o "$W/time" bash -c "$* < '$W/data'" >/dev/null 2>"$W/err" || { cat "$W/err" >&2; echo "$name failed" >&2; exit 1; }
  local wall rss
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,a,":"); s=0; for(i=1;i<=n;i++) s=s*60+a[i]; print s}' "$W/time")
  rss=$(awk -F': ' '/Maximum resident set size/ {printf "%.1f", $2/1024}' "$W/time")
  echo "$name $wall $rss"
}
check() { # key: the stored object must have the source's sha256
  local got
  got=$(/usr/bin/aws --endpoint-url "$DUMPER_TEST_S3_ENDPOINT" s3 cp "s3://$B/$1" - | sha256sum | cut -d' ' -f1)
  [ "$got" = "$SHA" ] || { echo "sha256 mismatch for $1" >&2; exit 1; }
  /usr/bin/aws --endpoint-url "$DUMPER_TEST_S3_ENDPOINT" s3 rm --quiet "s3://$B/$1"
}

echo "# $(date -u +%FT%TZ) $(nproc) cores, $(uname -r), ${SIZE} MiB, part 8 MiB, 4 parallel (dumper); awscli defaults (8 MiB, 10 threads)"
for r in $(seq "$RUNS"); do
  measure "dumper_s3_put" "'$W/s3_put' s3://$B/bench dumper-$r.bin 8 4"; check "bench/dumper-$r.bin"
  measure "aws_s3_cp" "/usr/bin/aws --endpoint-url $DUMPER_TEST_S3_ENDPOINT s3 cp --only-show-errors - s3://$B/bench/aws-$r.bin"; check "bench/aws-$r.bin"
done
