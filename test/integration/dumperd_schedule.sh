#!/usr/bin/env bash
# dumperd_schedule.sh - test/dumperd/schedule_test.py against dumperd on SQLite (the PostgreSQL run is dumperd_schedule_pg.sh).
. "$(dirname "$0")/../lib/common.sh"
DUMPER_BIN=$DUMPER_BIN DUMPERD_TEST_STORE=sqlite python3 "$DUMPER_SRC/test/dumperd/schedule_test.py"
