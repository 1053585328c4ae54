/* test_domain_schedule.c - which slots a scheduler pass produces (server/domain/schedule.c): a new schedule
 * starts now, every slot since the last one once, the catch-up window at its edge, the per-pass cap, the next
 * slot, and slots across a daylight saving change. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include <cmocka.h>

#include "domain/schedule.h"

static int64_t at(const char *iso)
{
    struct tm tm = {0};
    assert_non_null(strptime(iso, "%Y-%m-%dT%H:%M:%SZ", &tm));
    return (int64_t)timegm(&tm);
}

static sd_cron cron(const char *expr)
{
    sd_cron c;
    char msg[200];
    assert_int_equal(sd_cron_parse(expr, &c, msg, sizeof msg), 0);
    return c;
}

static int64_t slots[SD_SCHEDULE_MAX_SLOTS];

static void test_new_schedule_starts_now(void **state)
{
    sd_cron c = cron("*/30 * * * *");
    sd_due d = {.slots = slots};
    sd_schedule_due(&c, "UTC", 0, at("2027-01-01T10:45:00Z"), 86400, &d);
    assert_int_equal(d.n, 0); /* nothing from before it existed */
    assert_int_equal(d.next, at("2027-01-01T11:00:00Z"));
    assert_false(d.skipped);
}

static void test_slots_since_last(void **state)
{
    sd_cron c = cron("*/30 * * * *");
    sd_due d = {.slots = slots};
    /* last produced 10:00; at 11:30 exactly: 10:30, 11:00 and 11:30 (a slot at now is due) */
    sd_schedule_due(&c, "UTC", at("2027-01-01T10:00:00Z"), at("2027-01-01T11:30:00Z"), 86400, &d);
    assert_int_equal(d.n, 3);
    assert_int_equal(d.slots[0], at("2027-01-01T10:30:00Z"));
    assert_int_equal(d.slots[2], at("2027-01-01T11:30:00Z"));
    assert_int_equal(d.next, at("2027-01-01T12:00:00Z"));
    /* one second before the slot: not yet */
    sd_schedule_due(&c, "UTC", at("2027-01-01T10:00:00Z"), at("2027-01-01T10:29:59Z"), 86400, &d);
    assert_int_equal(d.n, 0);
    assert_int_equal(d.next, at("2027-01-01T10:30:00Z"));
}

static void test_catch_up_window(void **state)
{
    sd_cron c = cron("0 * * * *");
    sd_due d = {.slots = slots};
    int64_t now = at("2027-01-03T00:00:00Z");
    /* down for two days: only the last 24 hours, the slot exactly 24 h ago excluded (after the window start) */
    sd_schedule_due(&c, "UTC", at("2027-01-01T00:00:00Z"), now, 86400, &d);
    assert_true(d.skipped);
    assert_int_equal(d.n, 24);
    assert_int_equal(d.slots[0], at("2027-01-02T01:00:00Z"));
    assert_int_equal(d.slots[23], now);
    /* last slot exactly at the window's start: nothing skipped */
    sd_schedule_due(&c, "UTC", now - 86400, now, 86400, &d);
    assert_false(d.skipped);
    assert_int_equal(d.n, 24);
}

static void test_cap(void **state)
{
    sd_cron c = cron("* * * * *");
    sd_due d = {.slots = slots};
    int64_t now = at("2027-01-03T00:00:00Z");
    sd_schedule_due(&c, "UTC", now - 86400, now, 86400, &d); /* 1440 slots: under the cap */
    assert_int_equal(d.n, 1440);
    sd_schedule_due(&c, "UTC", now - 2 * 86400, now, 2 * 86400, &d);
    assert_int_equal(d.n, SD_SCHEDULE_MAX_SLOTS);
}

static void test_dst_and_horizon(void **state)
{
    /* 02:30 Europe/Paris over the spring change: the 28th fires at 03:00 CEST (01:00Z), once. */
    sd_cron c = cron("30 2 * * *");
    sd_due d = {.slots = slots};
    sd_schedule_due(&c, "Europe/Paris", at("2027-03-27T01:30:00Z"), at("2027-03-29T12:00:00Z"), 86400 * 3, &d);
    assert_int_equal(d.n, 2);
    assert_int_equal(d.slots[0], at("2027-03-28T01:00:00Z"));
    assert_int_equal(d.slots[1], at("2027-03-29T00:30:00Z"));
    /* no slot within the horizon: look again at the horizon */
    sd_cron feb30 = cron("0 0 30 2 *");
    int64_t now = at("2027-01-01T00:00:00Z");
    sd_schedule_due(&feb30, "UTC", now - 60, now, 86400, &d);
    assert_int_equal(d.n, 0);
    assert_int_equal(d.next, now + SD_SCHEDULE_HORIZON_S);
    int64_t next[5];
    assert_int_equal(sd_schedule_next(&feb30, "UTC", now, 5, next), 0);
    sd_cron daily = cron("0 3 * * *");
    assert_int_equal(sd_schedule_next(&daily, "UTC", now, 5, next), 5);
    assert_int_equal(next[0], at("2027-01-01T03:00:00Z"));
    assert_int_equal(next[4], at("2027-01-05T03:00:00Z"));
}

int main(void)
{
    setenv("TZ", "UTC", 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_new_schedule_starts_now), cmocka_unit_test(test_slots_since_last),
        cmocka_unit_test(test_catch_up_window),        cmocka_unit_test(test_cap),
        cmocka_unit_test(test_dst_and_horizon),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
