/* test_domain_ratelimit.c - one report per window (server/domain/ratelimit.c): the first event reports, the
 * next within the window (to its last millisecond) are counted, the first after it reports with that count. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "domain/ratelimit.h"

static void test_window(void **state)
{
    sd_ratelimit r = {0};
    int64_t n = -1, t = 1800000000000;
    assert_int_equal(sd_ratelimit_hit(&r, t, 60000, &n), 1);
    assert_int_equal(n, 0);
    assert_int_equal(sd_ratelimit_hit(&r, t, 60000, &n), 0);
    assert_int_equal(sd_ratelimit_hit(&r, t + 59999, 60000, &n), 0); /* last ms of the window */
    assert_int_equal(sd_ratelimit_hit(&r, t + 60000, 60000, &n), 1); /* window over */
    assert_int_equal(n, 2);
    assert_int_equal(sd_ratelimit_hit(&r, t + 60001, 60000, &n), 0);
    assert_int_equal(sd_ratelimit_hit(&r, t + 200000, 60000, &n), 1);
    assert_int_equal(n, 1);
}

/* A clock that goes back reports at once instead of staying silent until it catches up. */
static void test_clock_back(void **state)
{
    sd_ratelimit r = {0};
    int64_t n = -1, t = 1800000000000;
    assert_int_equal(sd_ratelimit_hit(&r, t, 60000, &n), 1);
    assert_int_equal(sd_ratelimit_hit(&r, t - 1, 60000, &n), 1);
    assert_int_equal(n, 0);
    /* time 0 is a time like any other */
    sd_ratelimit z = {0};
    assert_int_equal(sd_ratelimit_hit(&z, 0, 60000, &n), 1);
    assert_int_equal(sd_ratelimit_hit(&z, 1, 60000, &n), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_window), cmocka_unit_test(test_clock_back)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
