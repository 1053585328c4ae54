#!/usr/bin/env bash
# dumperd_drill_evidence.sh - restore drills' evidence end to end with real `dumper drill --json` output
# (test/dumperd/drill_evidence_test.py): backups --json, the REST API, the dashboard's JSON, /metrics, the drill
# alerts on a webhook channel; SQLite store.
. "$(dirname "$0")/../lib/common.sh"
DUMPER_BIN=$DUMPER_BIN DUMPERD_TEST_STORE=sqlite python3 "$DUMPER_SRC/test/dumperd/drill_evidence_test.py"
