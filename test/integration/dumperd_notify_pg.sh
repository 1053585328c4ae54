#!/usr/bin/env bash
# dumperd_notify_pg.sh - test/dumperd/notify_test.py (notification channels against an HTTP catcher and aiosmtpd)
# with dumperd on PostgreSQL. Skipped without the pg service.
. "$(dirname "$0")/../lib/common.sh"
need_service pg
DUMPERD_TEST_STORE=pg bash "$DUMPER_SRC/test/integration/dumperd_notify.sh"
