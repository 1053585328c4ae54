/* test_domain_alert_rules.c - when dumperd alerts (server/domain/alert_rules.c): staleness at its boundary,
 * what it counts from, alert keys, and the delivery retry delays. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

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

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_stale), cmocka_unit_test(test_refs),
                                       cmocka_unit_test(test_delays)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
