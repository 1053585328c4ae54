#!/usr/bin/env bash
# dumperd_rest_pg.sh - test/dumperd/rest_test.py against dumperd on PostgreSQL (skips without the pg service).
. "$(dirname "$0")/../lib/common.sh"
need_service pg
DUMPER_BIN=$DUMPER_BIN DUMPERD_TEST_STORE=pg python3 "$DUMPER_SRC/test/dumperd/rest_test.py"
