#!/usr/bin/env bash
# dumperd_notify.sh - notification channels (slack, ntfy, webhook with HMAC, email over SMTP with STARTTLS and
# AUTH) against real local receivers: an HTTP catcher and Debian's aiosmtpd (test/dumperd/notify_test.py).
. "$DUMPER_SRC/test/lib/common.sh"
/usr/bin/python3 -c 'import aiosmtpd' 2>/dev/null || {
  [ -z "${DUMPER_TEST_REQUIRE_SERVICES:-}" ] || fail "python3-aiosmtpd is not installed (scripts/install-deps.sh)"
  echo "skip: python3-aiosmtpd not installed" >&2; exit 77; }
DUMPER_BIN=$DUMPER_BIN DUMPERD_TEST_STORE=${DUMPERD_TEST_STORE:-sqlite} /usr/bin/python3 "$DUMPER_SRC/test/dumperd/notify_test.py" \
  || fail "notify_test.py"
