#!/usr/bin/env bash
# dumperd_s3.sh - test/dumperd/s3_test.py: dumperd with S3 storage (presigned part URLs) against s3rver.
. "$(dirname "$0")/../lib/common.sh"
need_service s3
DUMPER_BIN=$DUMPER_BIN DUMPERD_TEST_STORE=sqlite python3 "$DUMPER_SRC/test/dumperd/s3_test.py"
