#!/usr/bin/env bash
# dumperd_rest.sh - test/dumperd/rest_test.py (API tokens, the REST API against docs/openapi.json, credentials x
# routes) against dumperd on SQLite; dumperd_rest_pg.sh runs it on PostgreSQL.
. "$(dirname "$0")/../lib/common.sh"
DUMPER_BIN=$DUMPER_BIN DUMPERD_TEST_STORE=sqlite python3 "$DUMPER_SRC/test/dumperd/rest_test.py"
