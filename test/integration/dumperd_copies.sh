#!/usr/bin/env bash
# dumperd_copies.sh - test/dumperd/copies_test.py: several destinations per backup (two directories and, with
# the s3 service, an s3:// destination behind the signature checker) with dumperd on SQLite.
. "$(dirname "$0")/../lib/common.sh"
DUMPER_BIN=$DUMPER_BIN DUMPERD_TEST_STORE=sqlite python3 "$DUMPER_SRC/test/dumperd/copies_test.py"
