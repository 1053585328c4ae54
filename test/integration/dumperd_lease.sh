#!/usr/bin/env bash
# dumperd_lease.sh - test/dumperd/lease_test.py (releases, same-process takeover, secondary intervals, alive,
# silent agents, refused keys) against dumperd on SQLite.
. "$(dirname "$0")/../lib/common.sh"
DUMPER_BIN=$DUMPER_BIN DUMPERD_TEST_STORE=sqlite python3 "$DUMPER_SRC/test/dumperd/lease_test.py"
