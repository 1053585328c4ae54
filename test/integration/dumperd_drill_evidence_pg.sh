#!/usr/bin/env bash
# dumperd_drill_evidence_pg.sh - dumperd_drill_evidence.sh on a PostgreSQL state store (skips without the pg service).
. "$(dirname "$0")/../lib/common.sh"
need_service pg
DUMPER_BIN=$DUMPER_BIN DUMPERD_TEST_STORE=pg python3 "$DUMPER_SRC/test/dumperd/drill_evidence_test.py"
