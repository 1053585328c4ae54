/* test_domain_login_limit.c - the login limiter's table (server/domain/login_limit.c): a pair blocked at
 * SD_LOGIN_MAX failures and not before, an address at SD_LOGIN_ADDR_MAX whatever the user names, the window's
 * end, and a blocked entry that a flood of throwaway user names from many addresses cannot push out. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "domain/login_limit.h"

static void test_pair_at_and_past(void **state)
{
    sd_login_limit *l = calloc(1, sizeof *l);
    for (int i = 0; i < SD_LOGIN_MAX - 1; i++)
        sd_login_failed(l, "a|admin", "a", 1000);
    assert_true(sd_login_allowed(l, "a|admin", "a", 1000)); /* at MAX - 1 */
    sd_login_failed(l, "a|admin", "a", 1000);
    assert_false(sd_login_allowed(l, "a|admin", "a", 1000)); /* at MAX */
    assert_true(sd_login_allowed(l, "a|bob", "a", 1000));     /* another user from there */
    assert_true(sd_login_allowed(l, "b|admin", "b", 1000));   /* the user from elsewhere */
    assert_false(sd_login_allowed(l, "a|admin", "a", 1000 + SD_LOGIN_WINDOW_MS - 1));
    assert_true(sd_login_allowed(l, "a|admin", "a", 1000 + SD_LOGIN_WINDOW_MS));
    free(l);
}

static void test_address(void **state)
{
    sd_login_limit *l = calloc(1, sizeof *l);
    char pair[64];
    for (int i = 0; i < SD_LOGIN_ADDR_MAX - 1; i++) {
        snprintf(pair, sizeof pair, "a|u%d", i);
        sd_login_failed(l, pair, "a", 5);
    }
    assert_true(sd_login_allowed(l, "a|admin", "a", 5));
    sd_login_failed(l, "a|x", "a", 5);
    assert_false(sd_login_allowed(l, "a|admin", "a", 5)); /* every user name from that address */
    assert_true(sd_login_allowed(l, "b|admin", "b", 5));
    free(l);
}

/* The old table (256 slots, the oldest evicted) forgot a block after 256 throwaway names. */
static void test_flood_cannot_evict(void **state)
{
    sd_login_limit *l = calloc(1, sizeof *l);
    for (int i = 0; i < SD_LOGIN_MAX; i++)
        sd_login_failed(l, "victim|admin", "victim", 0);
    char pair[64], addr[32];
    int reused = 0;
    /* Each attacker address stops counting once blocked, as the server refuses it before counting. */
    for (int a = 0; a < 300; a++) {
        snprintf(addr, sizeof addr, "x%d", a);
        for (int i = 0; i < 40; i++) {
            snprintf(pair, sizeof pair, "x%d|junk%d", a, i);
            if (sd_login_allowed(l, pair, addr, 10 + a))
                reused |= sd_login_failed(l, pair, addr, 10 + a);
        }
    }
    assert_false(sd_login_allowed(l, "victim|admin", "victim", 20000));
    assert_false(reused); /* unblocked throwaway entries were always there to give their slots */
    free(l);
}

/* Every slot blocked: the oldest block gives its slot, and the caller is told (it warns). */
static void test_full_of_blocks(void **state)
{
    sd_login_limit *l = calloc(1, sizeof *l);
    char pair[64], addr[64];
    for (int i = 0; i < SD_LOGIN_SLOTS / 2; i++) {
        snprintf(pair, sizeof pair, "P%d", i);
        snprintf(addr, sizeof addr, "A%d", i);
        for (int k = 0; k < SD_LOGIN_ADDR_MAX; k++)
            assert_int_equal(sd_login_failed(l, pair, addr, 100 + i), 0);
    }
    assert_false(sd_login_allowed(l, "P0", "A0", 700));
    assert_int_equal(sd_login_failed(l, "new", "newaddr", 700), 1);
    assert_true(sd_login_allowed(l, "P0", "elsewhere", 700)); /* the oldest block gave its slot */
    assert_false(sd_login_allowed(l, "P1", "elsewhere", 700)); /* the next one did not */
    assert_false(sd_login_allowed(l, "other", "A1", 700));
    free(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pair_at_and_past),
        cmocka_unit_test(test_address),
        cmocka_unit_test(test_flood_cannot_evict),
        cmocka_unit_test(test_full_of_blocks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
