#!/usr/bin/env bash
# dumperd_hardening.sh - dumperd against hostile clients over real sockets: connection limits, the header
# deadline, the login limiter, control characters in paths (test/dumperd/hardening_test.py).
. "$(dirname "$0")/../lib/common.sh"
DUMPER_BIN=$DUMPER_BIN DUMPERD_TEST_STORE=sqlite python3 "$DUMPER_SRC/test/dumperd/hardening_test.py"
