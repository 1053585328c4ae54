#!/usr/bin/env bash
# site_api_pg.sh - test/site/site_test.py with dumperd on PostgreSQL (sessions, users and alerts in the
# shared store). Skipped without the pg service.
. "$(dirname "$0")/../lib/common.sh"
need_service pg
DUMPER_BIN=$DUMPER_BIN DUMPERD_TEST_STORE=pg python3 "$DUMPER_SRC/test/site/site_test.py"
