#!/usr/bin/env bash
# dumperd_ops_pg.sh - test/dumperd/ops_test.py (key rotation, app delete, IPv6 listening) with dumperd on
# PostgreSQL. Skipped without the pg service.
. "$(dirname "$0")/../lib/common.sh"
need_service pg
DUMPER_BIN=$DUMPER_BIN DUMPERD_TEST_STORE=pg python3 "$DUMPER_SRC/test/dumperd/ops_test.py"
