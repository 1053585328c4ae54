/* test_domain_drill.c - drill policies' rules (server/domain/drill.c): modes, the checks of a policy (the cron
 * rules of schedules, --tz only with --cron, exactly one of the two), which policy applies to a database,
 * capabilities, the attempts of a drill job, and the one slot a pass drills. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "domain/drill.h"
#include "domain/retry.h"

static void test_modes(void **state)
{
    (void)state;
    assert_string_equal(sd_drill_mode_name(SD_DRILL_AFTER_BACKUP), "after-each-backup");
    assert_string_equal(sd_drill_mode_name(SD_DRILL_CRON), "cron");
    assert_null(sd_drill_mode_name(SD_DRILL_NONE));
    assert_int_equal(sd_drill_mode_parse("after-each-backup"), SD_DRILL_AFTER_BACKUP);
    assert_int_equal(sd_drill_mode_parse("cron"), SD_DRILL_CRON);
    assert_int_equal(sd_drill_mode_parse("Cron"), SD_DRILL_NONE);
    assert_int_equal(sd_drill_mode_parse(""), SD_DRILL_NONE);
    assert_int_equal(sd_drill_mode_parse(NULL), SD_DRILL_NONE);
}

static void test_policy_check(void **state)
{
    (void)state;
    char msg[300];
    int leap = 7;
    assert_int_equal(sd_drill_policy_check(1, NULL, NULL, msg, sizeof msg, &leap), 0);
    assert_int_equal(leap, 0);
    assert_int_equal(sd_drill_policy_check(0, "0 3 * * *", "Europe/Paris", msg, sizeof msg, &leap), 0);
    assert_int_equal(sd_drill_policy_check(0, "0 3 * * *", NULL, msg, sizeof msg, &leap), 0);
    assert_int_equal(sd_drill_policy_check(0, "0 3 29 2 *", NULL, msg, sizeof msg, &leap), 0);
    assert_int_equal(leap, 1);
    struct {
        int after;
        const char *cron, *tz, *msg;
    } bad[] = {
        {1, "0 3 * * *", NULL, "a drill policy is either --after-each-backup or --cron, not both"},
        {0, NULL, NULL, "a drill policy needs --after-each-backup or --cron EXPR"},
        {0, NULL, "UTC", "a drill policy needs --after-each-backup or --cron EXPR"},
        {1, NULL, "UTC", "--tz goes with --cron"},
        {0, "0 3 30 2 *", NULL,
         "cron expression '0 3 30 2 *' never fires: no month it names has the day(s) of the month it names"},
        {0, "0 3 * * *", "Mars/Olympus", "unknown time zone 'Mars/Olympus'"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_int_equal(sd_drill_policy_check(bad[i].after, bad[i].cron, bad[i].tz, msg, sizeof msg, &leap), -1);
        assert_string_equal(msg, bad[i].msg);
    }
    /* a bad expression: the cron parser's own line */
    assert_int_equal(sd_drill_policy_check(0, "61 * * * *", NULL, msg, sizeof msg, &leap), -1);
    assert_non_null(strstr(msg, "minute"));
}

static void test_pick(void **state)
{
    (void)state;
    int64_t env_and_own[] = {0, 12}, own_first[] = {12, 0}, env_only[] = {0}, other[] = {13};
    assert_int_equal(sd_drill_policy_pick(env_and_own, 2, 12), 1); /* the database's own wins */
    assert_int_equal(sd_drill_policy_pick(own_first, 2, 12), 0);
    assert_int_equal(sd_drill_policy_pick(env_and_own, 2, 14), 0); /* another database: the environment's */
    assert_int_equal(sd_drill_policy_pick(env_only, 1, 12), 0);
    assert_int_equal(sd_drill_policy_pick(other, 1, 12), -1);
    assert_int_equal(sd_drill_policy_pick(NULL, 0, 12), -1);
}

static void test_capabilities_attempts_slots(void **state)
{
    (void)state;
    assert_int_equal(sd_capability_bit("drill"), SD_CAP_DRILL);
    assert_int_equal(sd_capability_bit("Drill"), 0);
    assert_int_equal(sd_capability_bit("teleport"), 0);
    assert_int_equal(sd_capability_bit(NULL), 0);
    /* a lost attempt runs again, SD_DRILL_MAX_ATTEMPTS (2) in all, through the jobs' retry rule */
    assert_int_equal(SD_DRILL_MAX_ATTEMPTS, 2);
    assert_true(sd_retry_requeue(1, SD_DRILL_MAX_ATTEMPTS, 0));
    assert_false(sd_retry_requeue(2, SD_DRILL_MAX_ATTEMPTS, 0));
    int64_t slots[] = {100, 160, 220};
    assert_int_equal(sd_drill_slot(slots, 3), 220); /* several missed slots: one drill, of the newest */
    assert_int_equal(sd_drill_slot(slots, 1), 100);
    assert_int_equal(sd_drill_slot(slots, 0), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_modes), cmocka_unit_test(test_policy_check),
                                       cmocka_unit_test(test_pick), cmocka_unit_test(test_capabilities_attempts_slots)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
