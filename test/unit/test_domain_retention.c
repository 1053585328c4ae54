/* test_domain_retention.c - dumperd's retention policy without HTTP or a store (server/domain/retention.c):
 * keep-last, grandfather-father-son buckets at their UTC boundaries (midnight, ISO weeks across a year end,
 * months), ties in time, and that the newest good backup is never deleted. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "domain/retention.h"

static int64_t at(const char *iso)
{
    struct tm tm = {0};
    const char *rest = strptime(iso, "%Y-%m-%dT%H:%M:%S", &tm);
    assert_non_null(rest);
    int64_t ms = (int64_t)timegm(&tm) * 1000;
    if (*rest == '.')
        ms += strtol(rest + 1, NULL, 10);
    return ms;
}

/* keep[] of the given times (newest first) as a string of 0/1. */
static const char *keep_of(sd_retention p, const char *const *times, int n)
{
    static char out[64];
    int64_t t[64];
    unsigned char k[64];
    for (int i = 0; i < n; i++)
        t[i] = at(times[i]);
    memset(k, 7, sizeof k);
    sd_retention_keep(&p, t, n, k);
    for (int i = 0; i < n; i++) {
        assert_true(k[i] == 0 || k[i] == 1);
        out[i] = (char)('0' + k[i]);
    }
    out[n] = 0;
    return out;
}

static void test_no_policy_keeps_all(void **state)
{
    const char *t[] = {"2027-01-03T00:00:00", "2027-01-02T00:00:00", "2027-01-01T00:00:00"};
    sd_retention none = {0};
    assert_false(sd_retention_active(&none));
    assert_string_equal(keep_of(none, t, 3), "111");
    sd_retention p = {.weekly = 1};
    assert_true(sd_retention_active(&p));
    sd_retention_keep(&p, NULL, 0, NULL); /* nothing to decide */
}

static void test_keep_last(void **state)
{
    const char *t[] = {"2027-01-01T05:00:00", "2027-01-01T04:00:00", "2027-01-01T03:00:00", "2027-01-01T02:00:00"};
    assert_string_equal(keep_of((sd_retention){.keep_last = 2}, t, 4), "1100");
    assert_string_equal(keep_of((sd_retention){.keep_last = 1}, t, 4), "1000");
    assert_string_equal(keep_of((sd_retention){.keep_last = 9}, t, 4), "1111");
    /* the newest is kept whatever else the policy says */
    assert_string_equal(keep_of((sd_retention){.keep_last = 1}, t, 1), "1");
}

static void test_daily_midnight(void **state)
{
    /* 23:59:59.999 and 00:00:00.000 are two days; each day keeps its newest backup. */
    const char *t[] = {"2027-01-02T00:00:00.000", "2027-01-01T23:59:59.999", "2027-01-01T12:00:00.000",
                       "2026-12-31T23:00:00.000", "2026-12-30T01:00:00.000"};
    assert_string_equal(keep_of((sd_retention){.daily = 2}, t, 5), "11000");
    assert_string_equal(keep_of((sd_retention){.daily = 3}, t, 5), "11010");
    assert_string_equal(keep_of((sd_retention){.daily = 9}, t, 5), "11011");
}

static void test_weekly_iso_year_end(void **state)
{
    /* 2027-01-01 (Friday) is in ISO week 2026-W53 with 2026-12-28..31; 2027-01-04 (Monday) starts 2027-W01. */
    const char *t[] = {"2027-01-04T00:00:00", "2027-01-03T23:59:59", "2027-01-01T10:00:00", "2026-12-28T00:00:00",
                       "2026-12-27T23:59:59"};
    assert_string_equal(keep_of((sd_retention){.weekly = 1}, t, 5), "10000");
    assert_string_equal(keep_of((sd_retention){.weekly = 2}, t, 5), "11000");
    assert_string_equal(keep_of((sd_retention){.weekly = 3}, t, 5), "11001");
}

static void test_monthly_boundaries(void **state)
{
    const char *t[] = {"2027-03-01T00:00:00", "2027-02-28T23:59:59", "2027-02-01T00:00:00", "2027-01-31T23:59:59",
                       "2026-12-31T23:59:59"};
    assert_string_equal(keep_of((sd_retention){.monthly = 2}, t, 5), "11000");
    assert_string_equal(keep_of((sd_retention){.monthly = 4}, t, 5), "11011");
}

static void test_combined_and_ties(void **state)
{
    /* keep-last 1 + daily 2 + weekly 1 over a week with two backups per day; the two newest share one
     * millisecond (a tie: the catalog orders the higher id first, and that one is the day's newest). */
    const char *t[] = {"2027-01-06T10:00:00", "2027-01-06T10:00:00", "2027-01-05T10:00:00",
                       "2027-01-05T09:00:00", "2027-01-04T10:00:00", "2027-01-03T10:00:00"};
    assert_string_equal(keep_of((sd_retention){.keep_last = 1, .daily = 2, .weekly = 1}, t, 6), "101000");
    /* weekly 2: the newest of the previous ISO week (Sunday 2027-01-03) too */
    assert_string_equal(keep_of((sd_retention){.keep_last = 1, .daily = 2, .weekly = 2}, t, 6), "101001");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_policy_keeps_all), cmocka_unit_test(test_keep_last),
        cmocka_unit_test(test_daily_midnight),      cmocka_unit_test(test_weekly_iso_year_end),
        cmocka_unit_test(test_monthly_boundaries),  cmocka_unit_test(test_combined_and_ties),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
