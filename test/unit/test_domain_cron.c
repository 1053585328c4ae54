/* test_domain_cron.c - dumperd's cron parser and slot search (server/domain/cron.c), including both daylight
 * saving changes of Europe/Paris. It links dumperd_core, the static library of server/. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "domain/cron.h"

static int64_t at(const char *iso)
{
    struct tm tm = {0};
    if (!strptime(iso, "%Y-%m-%dT%H:%M:%SZ", &tm))
        return -1;
    return (int64_t)timegm(&tm);
}

static void test_parse(void **state)
{
    (void)state;
    sd_cron c;
    char msg[200];
    assert_int_equal(sd_cron_parse("*/15 0-6,23 1 * 1-5", &c, msg, sizeof msg), 0);
    assert_true(c.min == ((1ULL << 0) | (1ULL << 15) | (1ULL << 30) | (1ULL << 45)));
    assert_true(c.hour == (0x7fu | (1u << 23)));
    assert_true(c.dom == (1u << 1));
    assert_true(c.mon == 0x1ffeu);
    assert_true(c.dow == 0x3eu);
    assert_false(c.dom_star);
    assert_false(c.dow_star);
    assert_int_equal(sd_cron_parse("0 0 * * 7", &c, msg, sizeof msg), 0);
    assert_true(c.dow == 1u); /* 7 is Sunday */
    assert_int_equal(sd_cron_parse("5/20 * * * *", &c, msg, sizeof msg), 0);
    assert_true(c.min == ((1ULL << 5) | (1ULL << 25) | (1ULL << 45)));
}

static void test_parse_errors(void **state)
{
    (void)state;
    static const char *bad[] = {"", "* * * *", "* * * * * *", "61 * * * *", "a * * * *", "5-1 * * * *",
                                "*/0 * * * *", "* 24 * * *", "* * 0 * *", "* * * 13 *", "* * * * 8", "1,,2 * * * *",
                                "-1 * * * *", "1- * * * *", "99999999999 * * * *"};
    sd_cron c;
    char msg[200];
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        msg[0] = 0;
        assert_int_equal(sd_cron_parse(bad[i], &c, msg, sizeof msg), -1);
        assert_true(strlen(msg) > 10);
    }
    sd_cron_parse("61 * * * *", &c, msg, sizeof msg);
    assert_string_equal(msg, "invalid minute field '61' in cron expression");
    /* the message is one line without control characters, whatever the expression holds (a field
     * or the whole expression was echoed as given: found by fuzz_dumperd_cron) */
    assert_int_equal(sd_cron_parse("0 0 * * *\n", &c, msg, sizeof msg), -1);
    assert_string_equal(msg, "cron expression contains control characters");
    assert_int_equal(sd_cron_parse("0 0 * * 1\x1b[2J", &c, msg, sizeof msg), -1);
    assert_string_equal(msg, "cron expression contains control characters");
    assert_int_equal(sd_cron_parse("0 0 * * 1\x7f", &c, msg, sizeof msg), -1);
    assert_string_equal(msg, "cron expression contains control characters");
    /* a tab separates fields; shown as a space */
    assert_int_equal(sd_cron_parse("0\t0 * *", &c, msg, sizeof msg), -1);
    assert_string_equal(msg, "cron expression '0 0 * *' needs 5 fields (minute hour day month weekday)");
    assert_int_equal(sd_cron_parse("0\t0\t*\t*\t1", &c, msg, sizeof msg), 0);
}

static int64_t next(const char *expr, const char *tz, const char *after)
{
    sd_cron c;
    char msg[200];
    assert_int_equal(sd_cron_parse(expr, &c, msg, sizeof msg), 0);
    return sd_cron_next(&c, tz, at(after), 400LL * 86400);
}

static void test_next_utc(void **state)
{
    (void)state;
    assert_int_equal(next("0 3 * * *", "UTC", "2026-11-26T10:00:00Z"), at("2026-11-27T03:00:00Z"));
    assert_int_equal(next("* * * * *", "UTC", "2026-11-26T10:00:00Z"), at("2026-11-26T10:01:00Z"));
    assert_int_equal(next("* * * * *", "UTC", "2026-11-26T10:00:59Z"), at("2026-11-26T10:01:00Z"));
    /* day of month OR day of week when both are restricted: the 13th or a Friday */
    assert_int_equal(next("0 0 13 * 5", "UTC", "2026-11-26T10:00:00Z"), at("2026-11-27T00:00:00Z"));
    assert_int_equal(next("0 0 13 * 5", "UTC", "2026-12-10T00:00:00Z"), at("2026-12-11T00:00:00Z"));
    assert_int_equal(next("0 0 13 * 5", "UTC", "2026-12-11T00:00:00Z"), at("2026-12-13T00:00:00Z"));
    assert_int_equal(next("0 0 29 2 *", "UTC", "2026-11-26T10:00:00Z"), -1); /* no Feb 29 within 400 days */
    assert_int_equal(next("0 0 30 2 *", "UTC", "2026-11-26T10:00:00Z"), -1);
}

static void test_next_dst(void **state)
{
    (void)state;
    /* Spring forward, 2027-03-28 02:00 CET -> 03:00 CEST: 02:30 does not exist, fires at 03:00 CEST. */
    assert_int_equal(next("30 2 * * *", "Europe/Paris", "2027-03-27T12:00:00Z"), at("2027-03-28T01:00:00Z"));
    assert_int_equal(next("30 2 * * *", "Europe/Paris", "2027-03-28T01:00:00Z"), at("2027-03-29T00:30:00Z"));
    /* Fall back, 2026-10-25 03:00 CEST -> 02:00 CET: 02:30 happens twice, fires the first time only. */
    assert_int_equal(next("30 2 * * *", "Europe/Paris", "2026-10-24T12:00:00Z"), at("2026-10-25T00:30:00Z"));
    assert_int_equal(next("30 2 * * *", "Europe/Paris", "2026-10-25T00:30:00Z"), at("2026-10-26T01:30:00Z"));
    /* Fall backs other than an hour (found by fuzz_dumperd_cron: these fired twice). Lord Howe,
     * 2026-04-05 02:00 +11 -> 01:30 +10:30: 01:59 happens twice (14:59Z, 15:29Z on the 4th), fires once. */
    assert_int_equal(next("59 1 * * *", "Australia/Lord_Howe", "2026-04-04T14:59:00Z"), at("2026-04-05T15:29:00Z"));
    /* The first hour after a spring change's day (found by fuzz_dumperd_cron: skipping a 23-hour day
     * as 24 hours landed at 01:00 the next day, so Monday 00:30 after the change was missed and the
     * next week's came instead). */
    assert_int_equal(next("30 0 * * 1", "America/New_York", "2027-03-13T12:00:00Z"), at("2027-03-15T04:30:00Z"));
    assert_int_equal(next("30 0 * * 1", "Europe/Paris", "2027-03-27T12:00:00Z"), at("2027-03-28T22:30:00Z"));
    assert_int_equal(next("0 0 13 3 *", "America/New_York", "2034-03-12T02:57:04Z"), at("2034-03-13T04:00:00Z"));
    /* Troll, 2026-10-25 03:00 +02 -> 01:00 +00: 01:30 and 02:30 happen twice, each fires once. */
    assert_int_equal(next("30 2 * * *", "Antarctica/Troll", "2026-10-25T00:30:00Z"), at("2026-10-26T02:30:00Z"));
    assert_int_equal(next("30 1 * * *", "Antarctica/Troll", "2026-10-24T23:30:00Z"), at("2026-10-26T01:30:00Z"));
    /* Ordinary days keep local time. */
    assert_int_equal(next("0 9 * * 1-5", "America/New_York", "2026-11-27T20:00:00Z"), at("2026-11-30T14:00:00Z"));
    assert_int_equal(next("0 9 * * *", "Asia/Kolkata", "2026-11-26T00:00:00Z"), at("2026-11-26T03:30:00Z"));
}

/* Expressions that can never fire are refused by their callers; February 29 alone is warned about. */
static void test_rarity(void **state)
{
    static const struct {
        const char *expr;
        int want;
    } cases[] = {
        {"0 0 30 2 *", SD_CRON_NEVER},      {"0 0 31 2 *", SD_CRON_NEVER},       {"0 0 30,31 2 *", SD_CRON_NEVER},
        {"0 0 31 4,6,9,11 *", SD_CRON_NEVER}, {"0 0 29 2 *", SD_CRON_LEAP_ONLY}, {"0 0 29-31 2 *", SD_CRON_LEAP_ONLY},
        {"0 0 28 2 *", SD_CRON_NORMAL},     {"0 0 31 4,5 *", SD_CRON_NORMAL},   {"0 0 30 2 1", SD_CRON_NORMAL},
        {"0 0 29 2 1-5", SD_CRON_NORMAL},   {"0 0 * 2 *", SD_CRON_NORMAL},      {"0 0 30 * *", SD_CRON_NORMAL},
        {"0 0 31 */2 *", SD_CRON_NORMAL},   {"0 0 30 2 */1", SD_CRON_NORMAL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        sd_cron c;
        char msg[200];
        assert_int_equal(sd_cron_parse(cases[i].expr, &c, msg, sizeof msg), 0);
        if (sd_cron_rarity(&c) != cases[i].want)
            fail_msg("%s: rarity %d, want %d", cases[i].expr, sd_cron_rarity(&c), cases[i].want);
        /* NEVER agrees with the evaluator: no slot within 8 years (two leap days). */
        int64_t next = sd_cron_next(&c, "UTC", 1800000000, 8LL * 366 * 86400);
        if ((cases[i].want == SD_CRON_NEVER) != (next < 0))
            fail_msg("%s: next slot %lld", cases[i].expr, (long long)next);
    }
}

static void test_tz_valid(void **state)
{
    (void)state;
    assert_true(sd_tz_valid("UTC"));
    assert_true(sd_tz_valid("Europe/Paris"));
    assert_false(sd_tz_valid("Mars/Olympus"));
    assert_false(sd_tz_valid("../../etc/passwd"));
    assert_false(sd_tz_valid("/etc/localtime"));
    assert_false(sd_tz_valid(":Europe/Paris"));
    assert_false(sd_tz_valid(""));
    assert_false(sd_tz_valid(NULL));
    /* only zone files: a directory or another file of the database was accepted, then read as UTC by
     * the C library (found by fuzz_dumperd_cron) */
    assert_false(sd_tz_valid("America"));
    assert_false(sd_tz_valid("Europe"));
    assert_false(sd_tz_valid("."));
    assert_false(sd_tz_valid("zone.tab"));
    assert_false(sd_tz_valid("tzdata.zi"));
    assert_true(sd_tz_valid("America/New_York"));
    assert_true(sd_tz_valid("Etc/GMT+12"));
}

int main(void)
{
    setenv("TZ", "UTC", 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),       cmocka_unit_test(test_parse_errors), cmocka_unit_test(test_next_utc),
        cmocka_unit_test(test_next_dst),    cmocka_unit_test(test_tz_valid), cmocka_unit_test(test_rarity),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
