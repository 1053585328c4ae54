/* test_domain_election.c - dumperd's election policy without HTTP or a store (server/domain/election.c):
 * who is primary, a lease exactly at its expiry, the read-only poll, poll intervals and agent expiry. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "domain/election.h"

static void test_elect(void **state)
{
    const int64_t now = 1800000000000;
    sd_lease held = {.agent = 7, .until = now + 1};
    assert_int_equal(sd_elect(NULL, 7, now), SD_ELECT_TAKE); /* nobody ever was */
    assert_int_equal(sd_elect(&held, 7, now), SD_ELECT_RENEW);
    assert_int_equal(sd_elect(&held, 8, now), SD_ELECT_SECONDARY); /* live by one millisecond */
    held.until = now;                                              /* exactly at expiry: expired */
    assert_int_equal(sd_elect(&held, 8, now), SD_ELECT_TAKE_OVER);
    held.until = now - 1;
    assert_int_equal(sd_elect(&held, 8, now), SD_ELECT_TAKE_OVER);
    /* The primary asking again after its lease lapsed renews it (nobody took it meanwhile). */
    assert_int_equal(sd_elect(&held, 7, now), SD_ELECT_RENEW);
    assert_true(sd_elect_is_primary(SD_ELECT_TAKE) && sd_elect_is_primary(SD_ELECT_RENEW) &&
                sd_elect_is_primary(SD_ELECT_TAKE_OVER));
    assert_false(sd_elect_is_primary(SD_ELECT_SECONDARY));
}

/* Two agents with a tie on everything but their ids: the first to ask takes the lease, the second (same
 * millisecond) finds it live and stays secondary; the store's one row per (app, env) makes it exclusive. */
static void test_elect_tie(void **state)
{
    const int64_t now = 1800000000000, lease = 900000;
    sd_elect_action first = sd_elect(NULL, 1, now);
    assert_int_equal(first, SD_ELECT_TAKE);
    sd_lease row = {1, now + lease};
    assert_int_equal(sd_elect(&row, 2, now), SD_ELECT_SECONDARY);
    assert_int_equal(sd_elect(&row, 2, now + lease - 1), SD_ELECT_SECONDARY);
    assert_int_equal(sd_elect(&row, 2, now + lease), SD_ELECT_TAKE_OVER);
}

static void test_poll_read_only(void **state)
{
    const int64_t now = 1800000000000;
    sd_lease held = {.agent = 7, .until = now + 1};
    assert_true(sd_poll_read_only(&held, 8, now - 59999, now));
    assert_false(sd_poll_read_only(&held, 8, now - SD_LAST_SEEN_REFRESH_MS, now)); /* refresh last_seen */
    assert_false(sd_poll_read_only(&held, 7, now, now));                           /* the primary renews */
    assert_false(sd_poll_read_only(NULL, 8, now, now));                            /* nobody: elect */
    held.until = now;                                                              /* expired: take over */
    assert_false(sd_poll_read_only(&held, 8, now, now));
}

static void test_intervals(void **state)
{
    const int64_t now_ms = 1800000000000;
    /* secondary: its interval, jittered */
    assert_true(sd_poll_interval(0, 1, 0, now_ms, 300, 3600, 1.0) == 3600);
    assert_true(sd_poll_interval(0, 0, 0, now_ms, 300, 3600, 0.9) == 3600 * 0.9);
    /* primary: more jobs waiting -> 1 s */
    assert_true(sd_poll_interval(1, 1, 0, now_ms, 300, 3600, 1.1) == 1);
    assert_true(sd_poll_interval(1, 0, 0, now_ms, 300, 3600, 1.0) == 300);
    /* shortened to the next slot (+1 s), never below 1 s, never lengthened */
    assert_true(sd_poll_interval(1, 0, now_ms / 1000 + 60, now_ms, 300, 3600, 1.0) == 61);
    assert_true(sd_poll_interval(1, 0, now_ms / 1000 - 5, now_ms, 300, 3600, 1.0) == 1);
    assert_true(sd_poll_interval(1, 0, now_ms / 1000 + 10000, now_ms, 300, 3600, 1.0) == 300);
    assert_true(sd_register_interval(1, 3600, 1.1) == 1);
    assert_true(sd_register_interval(0, 3600, 1.1) == 3600 * 1.1);
    unsigned seed = 42;
    for (int i = 0; i < 10000; i++) {
        double j = sd_jitter(&seed);
        assert_true(j >= 0.9 && j <= 1.1);
    }
}

/* A re-executed process (same host and pid) takes over its predecessor's live lease at registration;
 * anybody else stays secondary; it changes nothing when the lease is lapsed, absent or already its own. */
static void test_elect_register(void **state)
{
    const int64_t now = 1800000000000;
    sd_lease held = {.agent = 7, .until = now + 1};
    assert_int_equal(sd_elect_register(&held, 8, 1, now), SD_ELECT_TAKE_OVER);
    assert_int_equal(sd_elect_register(&held, 8, 0, now), SD_ELECT_SECONDARY);
    assert_int_equal(sd_elect_register(&held, 7, 1, now), SD_ELECT_RENEW);
    assert_int_equal(sd_elect_register(NULL, 8, 1, now), SD_ELECT_TAKE);
    held.until = now;
    assert_int_equal(sd_elect_register(&held, 8, 0, now), SD_ELECT_TAKE_OVER);
}

/* Same host and pid: the same process only when both start stamps agree (a re-exec keeps it); a container
 * with the same host name and pid 1 as the primary's has another start (or another boot id); an agent that
 * sends none (an older one) is judged by host and pid alone. */
static void test_same_process_start(void **state)
{
    (void)state;
    const char *a = "0f3c2a9e-6f7d-4c1e-9a51-2b8e3f6d7c10:123456";
    assert_int_equal(sd_same_process_start(a, "0f3c2a9e-6f7d-4c1e-9a51-2b8e3f6d7c10:123456"), 1);
    assert_int_equal(sd_same_process_start(a, "0f3c2a9e-6f7d-4c1e-9a51-2b8e3f6d7c10:123457"), 0);
    assert_int_equal(sd_same_process_start(a, "9a3c2a9e-6f7d-4c1e-9a51-2b8e3f6d7c10:123456"), 0);
    assert_int_equal(sd_same_process_start(a, "0f3c2a9e-6f7d-4c1e-9a51-2b8e3f6d7c10:12345"), 0);
    assert_int_equal(sd_same_process_start(NULL, a), 1);
    assert_int_equal(sd_same_process_start(a, NULL), 1);
    assert_int_equal(sd_same_process_start("", a), 1);
    assert_int_equal(sd_same_process_start(a, ""), 1);
}

/* A release ends only the releasing agent's own lease, live or lapsed; the lease it leaves (until = the
 * release's time) is taken over by the next agent asking at that very millisecond. */
static void test_release(void **state)
{
    const int64_t now = 1800000000000;
    sd_lease held = {.agent = 7, .until = now + 900000};
    assert_true(sd_release_applies(&held, 7));
    assert_false(sd_release_applies(&held, 8));
    assert_false(sd_release_applies(NULL, 7));
    held.until = now - 1;
    assert_true(sd_release_applies(&held, 7));
    sd_lease released = {.agent = 7, .until = now};
    assert_int_equal(sd_elect(&released, 8, now), SD_ELECT_TAKE_OVER);
}

/* A secondary comes back when the lease ends plus 1..3 s, capped by its interval; often while new. */
static void test_secondary_interval(void **state)
{
    const int64_t now = 1800000000000, old = now - SD_DEPLOY_WINDOW_MS; /* registered exactly a window ago */
    /* lease ends in 900 s: at 901 s (jitter 0.9), 903 s (jitter 1.1) */
    assert_true(sd_secondary_interval(now + 900000, old, now, 3600, 0.9) == 901);
    assert_true(sd_secondary_interval(now + 900000, old, now, 3600, 1.1) == 900 + 1 + (1.1 - 0.9) * 10);
    /* a secondary interval shorter than the lease wins */
    assert_true(sd_secondary_interval(now + 900000, old, now, 60, 1.0) == 60);
    /* a lease ending now or lapsed: 1 s plus jitter; never below 1 s */
    assert_true(sd_secondary_interval(now, old, now, 3600, 0.9) == 1);
    assert_true(sd_secondary_interval(now - 5000, old, now, 3600, 0.9) == 1);
    assert_true(sd_secondary_interval(now + 900000, old, now, 0.5, 1.0) == 1);
    /* within the deploy window (one ms before its end): every 10 s, jittered */
    assert_true(sd_secondary_interval(now + 900000, old + 1, now, 3600, 1.0) == SD_DEPLOY_POLL_S);
    assert_true(sd_secondary_interval(now + 900000, now, now, 3600, 0.9) == SD_DEPLOY_POLL_S * 0.9);
    /* ... unless the lease ends sooner */
    assert_true(sd_secondary_interval(now + 2000, now, now, 3600, 0.9) == 3);
}

/* Alive: seen less than the longest interval it can be told (+10 %) plus two minutes ago, not stopped. */
static void test_agent_alive(void **state)
{
    /* defaults: primary 300 s, secondary 3600 s, lease 900 s -> the secondary's 903 s is longest */
    int64_t after = sd_agent_silent_after_ms(300, 3600, 900000);
    assert_int_equal(after, 903000 + 120000);
    /* a short secondary interval (1 s) and lease (3 s): the primary's 1.1 * 300 s */
    assert_int_equal(sd_agent_silent_after_ms(300, 1, 3000), 330000 + 120000);
    const int64_t now = 1800000000000;
    assert_true(sd_agent_alive(0, now - after + 1, now, after));
    assert_false(sd_agent_alive(0, now - after, now, after));
    assert_false(sd_agent_alive(1, now, now, after));
}

static void test_agent_keep(void **state)
{
    assert_int_equal(sd_agent_keep_ms(3600), 7 * 86400 * 1000LL);
    assert_int_equal(sd_agent_keep_ms(7 * 86400 / 3.0), 7 * 86400 * 1000LL);
    assert_int_equal(sd_agent_keep_ms(3 * 86400), 9 * 86400 * 1000LL); /* three secondary intervals */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_elect),      cmocka_unit_test(test_elect_tie), cmocka_unit_test(test_poll_read_only),
        cmocka_unit_test(test_intervals), cmocka_unit_test(test_agent_keep),
        cmocka_unit_test(test_elect_register), cmocka_unit_test(test_same_process_start),
        cmocka_unit_test(test_release),
        cmocka_unit_test(test_secondary_interval), cmocka_unit_test(test_agent_alive),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
