#!/usr/bin/env bash
# dumperd_copies_pg.sh - test/dumperd/copies_test.py (destinations, copies, fallback, retention, sync) with
# dumperd on PostgreSQL. Skipped without the pg service.
. "$(dirname "$0")/../lib/common.sh"
need_service pg
DUMPER_BIN=$DUMPER_BIN DUMPERD_TEST_STORE=pg python3 "$DUMPER_SRC/test/dumperd/copies_test.py"
