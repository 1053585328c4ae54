/* test_domain_alert_rules.c - when dumperd alerts (server/domain/alert_rules.c): staleness at its boundary,
 * what it counts from, alert keys, and the delivery retry delays; event categories and --on lists; the backup
 * size rule at its thresholds (half and double the median, the minimum history and difference). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "domain/alert_rules.h"

static void test_stale(void **state)
{
    const int64_t h = 3600 * 1000LL, now = 1800000000000;
    assert_false(sd_is_stale(now - 26 * h, now, 26)); /* exactly the window: not yet */
    assert_true(sd_is_stale(now - 26 * h - 1, now, 26));
    assert_false(sd_is_stale(0, now, 0)); /* disabled */
    assert_false(sd_is_stale(0, now, -1));
    /* since: the newest good backup; never backed up: the earlier of known and first attempt */
    assert_int_equal(sd_stale_since(1, 500, 100, 1, 50), 500);
    assert_int_equal(sd_stale_since(0, 0, 100, 1, 50), 50);
    assert_int_equal(sd_stale_since(0, 0, 100, 1, 150), 100);
    assert_int_equal(sd_stale_since(0, 0, 100, 0, 0), 100);
}

static void test_refs(void **state)
{
    char r[64];
    sd_alert_ref_failed(r, 12);
    assert_string_equal(r, "b_12");
    sd_alert_ref_stale(r, 3, 0);
    assert_string_equal(r, "d_3:0");
    int64_t db = 0, good = 0;
    assert_int_equal(sd_alert_ref_stale_parse("d_3:0", &db, &good), 0);
    assert_true(db == 3 && good == 0);
    assert_int_equal(sd_alert_ref_stale_parse("d_3:17", &db, &good), 0);
    assert_true(db == 3 && good == 17);
    static const char *bad[] = {"d_3", "d_3:", "d_:1", "b_3:1", "d_3:x", "d_3:1:2", "d_3:-1", "d_0:1", ""};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_int_equal(sd_alert_ref_stale_parse(bad[i], &db, &good), -1);
}

static void test_delays(void **state)
{
    assert_int_equal(sd_alert_retry_delay_ms(0), 2000);
    assert_int_equal(sd_alert_retry_delay_ms(1), 4000);
    assert_int_equal(sd_alert_retry_delay_ms(8), 512000);
    assert_int_equal(sd_alert_retry_delay_ms(9), 600000); /* capped at 10 minutes */
    assert_int_equal(sd_alert_retry_delay_ms(11), 600000);
    assert_int_equal(sd_alert_retry_delay_ms(-1), 2000);
}

static void test_size_change(void **state)
{
    const int64_t r[] = {10000, 9000, 11000, 10000, 10500}; /* median 10000 */
    int64_t med = -1;
    assert_int_equal(sd_size_change(5000, r, 5, &med), SD_SIZE_DROPPED); /* exactly half */
    assert_int_equal(med, 10000);
    assert_int_equal(sd_size_change(5001, r, 5, &med), SD_SIZE_OK);
    assert_int_equal(sd_size_change(0, r, 5, &med), SD_SIZE_DROPPED);
    assert_int_equal(sd_size_change(20000, r, 5, &med), SD_SIZE_GREW); /* exactly double */
    assert_int_equal(sd_size_change(19999, r, 5, &med), SD_SIZE_OK);
    assert_int_equal(sd_size_change(10000, r, 5, &med), SD_SIZE_OK);
    /* history: 3 earlier backups are enough, 2 are not (and the median of an even count) */
    assert_int_equal(sd_size_change(100, r, 2, &med), SD_SIZE_OK);
    assert_int_equal(med, 0);
    assert_int_equal(sd_size_change(100, r, 3, &med), SD_SIZE_DROPPED);
    assert_int_equal(med, 10000);
    const int64_t even[] = {4000, 8000, 6000, 2000};
    assert_int_equal(sd_size_change(10000, even, 4, &med), SD_SIZE_GREW); /* median 5000 */
    assert_int_equal(med, 5000);
    assert_int_equal(sd_size_change(9999, even, 4, &med), SD_SIZE_OK);
    /* only the SD_SIZE_HISTORY most recent count (the first ones given) */
    const int64_t many[] = {100000, 100000, 100000, 100000, 100000, 1, 1, 1, 1};
    assert_int_equal(sd_size_change(100000, many, 9, &med), SD_SIZE_OK);
    assert_int_equal(med, 100000);
    /* the minimum difference: tiny databases jitter */
    const int64_t tiny[] = {1000, 1000, 1000};
    assert_int_equal(sd_size_change(0, tiny, 3, &med), SD_SIZE_OK);   /* 1000 bytes less: < 1024 */
    assert_int_equal(sd_size_change(2023, tiny, 3, &med), SD_SIZE_OK); /* grew 1023 */
    assert_int_equal(sd_size_change(2024, tiny, 3, &med), SD_SIZE_GREW);
    const int64_t small[] = {2048, 2048, 2048};
    assert_int_equal(sd_size_change(1024, small, 3, &med), SD_SIZE_DROPPED); /* half and 1024 less */
    assert_int_equal(sd_size_change(1025, small, 3, &med), SD_SIZE_OK);
    const int64_t zero[] = {0, 0, 0};
    assert_int_equal(sd_size_change(1 << 20, zero, 3, &med), SD_SIZE_OK); /* empty history: no ratio */
    const int64_t big[] = {INT64_MAX / 2, INT64_MAX / 2, INT64_MAX / 2};
    assert_int_equal(sd_size_change(INT64_MAX, big, 3, &med), SD_SIZE_GREW); /* no overflow */
}

static void test_events(void **state)
{
    int m = 0;
    char out[64];
    assert_int_equal(sd_event_category("backup_failed"), SD_EV_FAILURE);
    assert_int_equal(sd_event_category("backup_stale_resolved"), SD_EV_STALE);
    assert_int_equal(sd_event_category("backup_size_change"), SD_EV_SIZE);
    assert_int_equal(sd_event_category("drill_failed"), SD_EV_DRILL);
    assert_int_equal(sd_event_category("storage_behind"), SD_EV_STORAGE);
    assert_int_equal(sd_event_category("test"), 0);
    assert_int_equal(sd_event_category(NULL), 0);
    assert_int_equal(sd_event_mask_parse("failure,stale", &m), 0);
    assert_int_equal(m, SD_EV_FAILURE | SD_EV_STALE);
    sd_event_mask_format(m, out);
    assert_string_equal(out, "failure,stale");
    assert_int_equal(sd_event_mask_parse("storage,drill,size,failure,stale", &m), 0);
    assert_int_equal(m, SD_EV_ALL);
    sd_event_mask_format(m, out);
    assert_string_equal(out, "failure,stale,size,drill,storage");
    assert_int_equal(sd_event_mask_parse("all", &m), 0);
    assert_int_equal(m, SD_EV_ALL);
    m = 7;
    assert_int_equal(sd_event_mask_parse("failure,", &m), -1);
    assert_int_equal(sd_event_mask_parse(",failure", &m), -1);
    assert_int_equal(sd_event_mask_parse("failures", &m), -1);
    assert_int_equal(sd_event_mask_parse("fail", &m), -1);
    assert_int_equal(sd_event_mask_parse("", &m), -1);
    assert_int_equal(sd_event_mask_parse(NULL, &m), -1);
    assert_int_equal(m, 7); /* untouched on error */
    char longlist[260];
    memset(longlist, 0, sizeof longlist);
    for (int i = 0; i < 25; i++)
        memcpy(longlist + i * 8, "failure,", 8);
    memcpy(longlist + 200, "stale", 5); /* 205 bytes */
    assert_int_equal(sd_event_mask_parse(longlist, &m), -1);
    longlist[199] = 0; /* "failure,...,failure" without the last comma: 199 bytes */
    assert_int_equal(sd_event_mask_parse(longlist, &m), 0);
    assert_true(sd_channel_kind_valid("slack") && sd_channel_kind_valid("email") && sd_channel_kind_valid("ntfy") &&
                sd_channel_kind_valid("webhook"));
    assert_false(sd_channel_kind_valid("Slack"));
    assert_false(sd_channel_kind_valid(""));
    assert_false(sd_channel_kind_valid(NULL));
    sd_alert_ref_size(out, 42);
    assert_string_equal(out, "s_42");
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_stale), cmocka_unit_test(test_refs),
                                       cmocka_unit_test(test_delays), cmocka_unit_test(test_size_change),
                                       cmocka_unit_test(test_events)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
