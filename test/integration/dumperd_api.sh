#!/usr/bin/env bash
# dumperd_api.sh - test/dumperd/api_test.py against dumperd on SQLite (the PostgreSQL run is dumperd_api_pg.sh).
. "$(dirname "$0")/../lib/common.sh"
DUMPER_BIN=$DUMPER_BIN DUMPERD_TEST_STORE=sqlite python3 "$DUMPER_SRC/test/dumperd/api_test.py"
