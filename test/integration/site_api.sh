#!/usr/bin/env bash
# site_api.sh - the Dumper site without a browser: users, sessions, CSRF, /ui/ endpoints, downloads,
# /metrics (strict text-format parser) and webhook alerts (test/site/site_test.py).
. "$(dirname "$0")/../lib/common.sh"
DUMPER_BIN=$DUMPER_BIN DUMPERD_TEST_STORE=sqlite python3 "$DUMPER_SRC/test/site/site_test.py"
