/* test_domain_tokens.c - API token rules (server/domain/tokens.c): scope names, the access table of
 * credential x route x app, token spelling at and past its limits, lifetimes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "domain/tokens.h"

static void test_scope_names(void **state)
{
    assert_int_equal(sd_scope_parse("read"), SD_SCOPE_READ);
    assert_int_equal(sd_scope_parse("write"), SD_SCOPE_WRITE);
    assert_int_equal(sd_scope_parse("admin"), SD_SCOPE_ADMIN);
    static const char *bad[] = {"", "Read", "app-key", "readx", "adm", " read"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_int_equal(sd_scope_parse(bad[i]), SD_SCOPE_NONE);
    assert_int_equal(sd_scope_parse(NULL), SD_SCOPE_NONE);
    for (int s = SD_SCOPE_READ; s <= SD_SCOPE_ADMIN; s++)
        assert_int_equal(sd_scope_parse(sd_scope_name((sd_scope)s)), s);
    assert_string_equal(sd_scope_name(SD_SCOPE_APP_KEY), "app-key");
    assert_string_equal(sd_scope_name((sd_scope)99), "");
}

/* Every credential kind against every kind of route, on its own app, another app, and no app. */
static void test_access_table(void **state)
{
    const sd_route_need rd = {SD_SCOPE_READ, 0, 0}, wr = {SD_SCOPE_WRITE, 0, 0}, ad = {SD_SCOPE_ADMIN, 0, 0},
                        trig = {SD_SCOPE_WRITE, 1, 0}, job = {SD_SCOPE_READ, 1, 0}, list = {SD_SCOPE_READ, 1, 1},
                        create = {SD_SCOPE_ADMIN, 0, 1};
    const sd_route_need *routes[] = {&rd, &wr, &ad, &trig, &job, &list, &create};
    enum { OK = SD_ACCESS_OK, NO = SD_ACCESS_FORBIDDEN, NF = SD_ACCESS_NOT_FOUND };
    static const struct {
        sd_principal p;
        int64_t app;
        int want[7]; /* rd wr ad trig job list create */
    } rows[] = {
        {{SD_SCOPE_READ, 0}, 5, {OK, NO, NO, NO, OK, OK, NO}},
        {{SD_SCOPE_WRITE, 0}, 5, {OK, OK, NO, OK, OK, OK, NO}},
        {{SD_SCOPE_ADMIN, 0}, 5, {OK, OK, OK, OK, OK, OK, OK}},
        {{SD_SCOPE_READ, 5}, 5, {OK, NO, NO, NO, OK, OK, NO}},
        {{SD_SCOPE_ADMIN, 5}, 5, {OK, OK, OK, OK, OK, OK, NO}},
        {{SD_SCOPE_READ, 5}, 6, {NF, NF, NF, NF, NF, NF, NF}},
        {{SD_SCOPE_ADMIN, 5}, 6, {NF, NF, NF, NF, NF, NF, NF}},
        {{SD_SCOPE_APP_KEY, 5}, 5, {NO, NO, NO, OK, OK, OK, NO}},
        {{SD_SCOPE_APP_KEY, 5}, 6, {NF, NF, NF, NF, NF, NF, NF}},
        {{SD_SCOPE_APP_KEY, 5}, 0, {NO, NO, NO, NO, NO, OK, NO}},
        {{SD_SCOPE_NONE, 0}, 5, {NO, NO, NO, NO, NO, NO, NO}},
    };
    for (size_t i = 0; i < sizeof rows / sizeof *rows; i++)
        for (int r = 0; r < 7; r++) {
            int64_t app = routes[r]->global ? 0 : rows[i].app;
            if (routes[r]->global && rows[i].app == 6)
                app = 6; /* an app-scoped token naming another app on a global route (none exists yet) */
            sd_access got = sd_access_check(&rows[i].p, routes[r], app);
            if ((int)got != rows[i].want[r])
                fail_msg("row %zu route %d: got %d, want %d", i, r, (int)got, rows[i].want[r]);
        }
}

static void test_well_formed(void **state)
{
    char t[80] = "dt_";
    memset(t + 3, 'a', 64);
    t[67] = 0;
    assert_true(sd_token_well_formed(t));
    t[66] = 'F'; /* uppercase is not ours */
    assert_false(sd_token_well_formed(t));
    t[66] = 'a';
    t[67] = 'a'; /* one past */
    t[68] = 0;
    assert_false(sd_token_well_formed(t));
    t[66] = 0; /* one short */
    assert_false(sd_token_well_formed(t));
    assert_false(sd_token_well_formed(NULL));
    assert_false(sd_token_well_formed(""));
    t[66] = 'a';
    t[67] = 0;
    t[1] = 'k'; /* an app key's prefix */
    assert_false(sd_token_well_formed(t));
}

static void test_lifetime(void **state)
{
    assert_true(sd_token_live(0, 0, 123));
    assert_true(sd_token_live(1000, 0, 999));
    assert_false(sd_token_live(1000, 0, 1000)); /* at the expiry: over */
    assert_false(sd_token_live(0, 5, 1));
    assert_int_equal(sd_token_expiry(1000, 0), 0);
    assert_int_equal(sd_token_expiry(1000, 1), 1000 + 86400000);
    assert_int_equal(sd_token_expiry(0, SD_TOKEN_MAX_DAYS), (int64_t)SD_TOKEN_MAX_DAYS * 86400000);
    assert_int_equal(sd_token_expiry(0, SD_TOKEN_MAX_DAYS + 1), -1);
    assert_int_equal(sd_token_expiry(0, -1), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_scope_names), cmocka_unit_test(test_access_table),
                                       cmocka_unit_test(test_well_formed), cmocka_unit_test(test_lifetime)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
