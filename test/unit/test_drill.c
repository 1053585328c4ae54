/* test_drill.c - the pure parts of restore drills: comparing what a manifest recorded with what a
 * restore holds (the exact lines), scratch database names, and which leftovers may go. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "job/drill.h"

static void make(dp_contents *c, const char *const *names, const uint64_t *rows, size_t n, const char *mig)
{
    memset(c, 0, sizeof *c);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(dp_contents_add(c, names[i], "a,b", rows[i]), 0);
    c->migration = mig ? strdup(mig) : NULL;
    assert_int_equal(dp_contents_finish(c), 0);
}

static void lines_free(char **l, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(l[i]);
    free(l);
}

static void test_compare(void **state)
{
    static const char *const want_names[] = {"users", "orders", "bad\nname"};
    static const uint64_t want_rows[] = {3, 2, 1};
    dp_contents want, got;
    make(&want, want_names, want_rows, 3, "20261126094500");
    char **l;
    size_t n;
    /* equal: nothing */
    make(&got, want_names, want_rows, 3, "20261126094500");
    assert_int_equal(dp_drill_compare(&want, &got, &l, &n), 0);
    assert_int_equal(n, 0);
    assert_null(l);
    dp_contents_free(&got);
    /* a count differs, a table lost, one more, another migration */
    static const char *const got_names[] = {"users", "bad\nname", "extra"};
    static const uint64_t got_rows[] = {4, 1, 0};
    make(&got, got_names, got_rows, 3, NULL);
    assert_int_equal(dp_drill_compare(&want, &got, &l, &n), 0);
    assert_int_equal(n, 5);
    assert_string_equal(l[0], "table 'extra' was restored but is not in the manifest");
    assert_string_equal(l[1], "table 'orders' (2 rows in the manifest) is missing from the restored database");
    assert_string_equal(l[2], "table 'users': 3 rows in the manifest, 4 restored");
    assert_non_null(strstr(l[3], "schema fingerprint differs (manifest "));
    assert_string_equal(l[4], "newest schema migration differs (manifest 20261126094500, restored none)");
    lines_free(l, n);
    dp_contents_free(&got);
    /* a name with a control byte is shown on one line */
    static const uint64_t other_rows[] = {3, 2, 5};
    make(&got, want_names, other_rows, 3, "20261126094500");
    assert_int_equal(dp_drill_compare(&want, &got, &l, &n), 0);
    assert_int_equal(n, 1);
    assert_string_equal(l[0], "table 'bad?name': 1 rows in the manifest, 5 restored");
    lines_free(l, n);
    dp_contents_free(&got);
    dp_contents_free(&want);
}

/* Redis's words: databases and keys */
static void test_compare_redis(void **state)
{
    static const char *const want_names[] = {"db0", "db3"};
    static const uint64_t want_rows[] = {15, 2};
    static const char *const got_names[] = {"db0", "db12"};
    static const uint64_t got_rows[] = {14, 1};
    dp_contents want, got;
    make(&want, want_names, want_rows, 2, NULL);
    make(&got, got_names, got_rows, 2, NULL);
    want.fingerprint[0] = got.fingerprint[0] = 0; /* Redis records none */
    char **l;
    size_t n;
    assert_int_equal(dp_drill_compare_as(&want, &got, "database", "keys", "server", &l, &n), 0);
    assert_int_equal(n, 3);
    assert_string_equal(l[0], "database 'db0': 15 keys in the manifest, 14 restored");
    assert_string_equal(l[1], "database 'db12' was restored but is not in the manifest");
    assert_string_equal(l[2], "database 'db3' (2 keys in the manifest) is missing from the restored server");
    lines_free(l, n);
    dp_contents_free(&got);
    dp_contents_free(&want);
}

static void test_names(void **state)
{
    char host[9];
    long pid;
    int64_t stamp;
    assert_int_equal(dp_drill_parse_name("dumper_drill_5bce98f7_30555_1796304739", host, &pid, &stamp), 0);
    assert_string_equal(host, "5bce98f7");
    assert_int_equal(pid, 30555);
    assert_int_equal(stamp, 1796304739);
    static const char *const bad[] = {"dumper_drill_", "dumper_drill_5bce98f7_1_", "dumper_drill_5bce98f_1_2",
                                      "dumper_drill_5BCE98F7_1_2", "dumper_drill_5bce98f7_x_2",
                                      "dumper_drill_5bce98f7_0_2", "dumper_drill_5bce98f7_1_2x", "app_production",
                                      "dumper_drill_5bce98f7_-1_2"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (!dp_drill_parse_name(bad[i], host, &pid, &stamp))
            fail_msg("'%s' taken for a scratch database", bad[i]);
}

static void test_stale(void **state)
{
    pid_t child = fork();
    if (child == 0)
        _exit(0);
    waitpid(child, NULL, 0);
    int64_t now = 1796304739;
    /* this host: a dead process's leftover goes, a live one stays (also this very process) */
    assert_int_equal(dp_drill_stale("aaaaaaaa", (long)child, now, "aaaaaaaa", now), 1);
    assert_int_equal(dp_drill_stale("aaaaaaaa", (long)getppid(), now, "aaaaaaaa", now), 0);
    assert_int_equal(dp_drill_stale("aaaaaaaa", (long)getpid(), now, "aaaaaaaa", now), 0);
    /* another host's: only by age, at the limit and past it */
    assert_int_equal(dp_drill_stale("bbbbbbbb", (long)child, now, "aaaaaaaa", now + DP_DRILL_STALE_S), 0);
    assert_int_equal(dp_drill_stale("bbbbbbbb", (long)child, now, "aaaaaaaa", now + DP_DRILL_STALE_S + 1), 1);
    assert_int_equal(dp_drill_stale("aaaaaaaa", (long)getpid(), now, "aaaaaaaa", now + DP_DRILL_STALE_S + 1), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_compare),
        cmocka_unit_test(test_compare_redis),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_stale),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
