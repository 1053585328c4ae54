/* test_domain_retry.c - dumperd's job retry policy (server/domain/retry.c): the failure codes no retry can
 * fix, and requeueing until the last attempt. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "domain/retry.h"

static void test_permanent(void **state)
{
    static const char *perm[] = {"too_large", "auth_failed", "tool_missing", "unsupported",
                                 "bad_url",   "bad_job",     "not_found"};
    for (size_t i = 0; i < sizeof perm / sizeof *perm; i++)
        assert_true(sd_failure_permanent(perm[i]));
    static const char *retry[] = {"lost", "source_failed", "upload_failed", "verification_failed", "", "TOO_LARGE",
                                  "too_large ", "x"};
    for (size_t i = 0; i < sizeof retry / sizeof *retry; i++)
        assert_false(sd_failure_permanent(retry[i]));
    assert_false(sd_failure_permanent(NULL));
}

static void test_requeue(void **state)
{
    assert_true(sd_retry_requeue(1, 3, 0));
    assert_true(sd_retry_requeue(2, 3, 0));
    assert_false(sd_retry_requeue(3, 3, 0)); /* the last attempt failed: the job fails */
    assert_false(sd_retry_requeue(1, 3, 1)); /* permanent: at once */
    assert_false(sd_retry_requeue(1, 1, 0));
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_permanent), cmocka_unit_test(test_requeue)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
