/* test_pg_copy.c - COPY rows counted in a plain pg_dump stream: names as pg_dump quotes them, the
 * end marker, rows that look like headers or markers, streams cut anywhere, and what is not a
 * complete dump. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "source/pg_copy.h"

static const char DUMP[] = "--\n-- PostgreSQL database dump\n--\n"
                           "CREATE TABLE public.users (id integer, name text);\n"
                           "COPY public.users (id, name) FROM stdin;\n"
                           "1\tCOPY public.other (a) FROM stdin;\n"
                           "2\ttwo\\nlines\n"
                           "3\t\\\\.\n"
                           "\\.\n"
                           "\n"
                           "COPY \"Odd\".\"We \"\"ird\" (a, \"b c\") FROM stdin;\n"
                           "1\tx\n"
                           "\\.\n"
                           "COPY public.empty (x) FROM stdin;\n"
                           "\\.\n"
                           "COPY public.nocols  FROM stdin;\n"
                           "\n"
                           "\n"
                           "\\.\n"
                           "COPY public.unlisted (x) FROM stdin;\n"
                           "7\n"
                           "\\.\n"
                           "-- done\n";

static void setup_contents(dp_contents *c)
{
    memset(c, 0, sizeof *c);
    static const char *const names[] = {"public.users", "Odd.We \"ird", "public.empty", "public.nocols", "public.gone"};
    for (size_t i = 0; i < 5; i++)
        assert_int_equal(dp_contents_add(c, names[i], NULL, 99), 0);
}

static void count_in_steps(size_t step)
{
    dp_contents c;
    setup_contents(&c);
    dp_pg_copy_counter k;
    dp_pg_copy_init(&k, &c);
    size_t n = strlen(DUMP);
    for (size_t off = 0; off < n; off += step)
        dp_pg_copy_feed(&k, DUMP + off, n - off < step ? n - off : step);
    assert_int_equal(k.blocks, 5);
    assert_int_equal(dp_pg_copy_finish(&k), 0);
    assert_int_equal(dp_contents_find(&c, "public.users")->rows, 3);
    assert_int_equal(dp_contents_find(&c, "Odd.We \"ird")->rows, 1);
    assert_int_equal(dp_contents_find(&c, "public.empty")->rows, 0);
    assert_int_equal(dp_contents_find(&c, "public.nocols")->rows, 2);
    assert_int_equal(dp_contents_find(&c, "public.gone")->rows, 99); /* no block: untouched */
    dp_contents_free(&c);
}

static void test_counts(void **state)
{
    for (size_t step = 1; step <= 40; step++)
        count_in_steps(step);
    count_in_steps(strlen(DUMP));
}

static void test_header_names(void **state)
{
    static const struct {
        const char *line, *want;
    } cases[] = {
        {"COPY public.t (a) FROM stdin;", "public.t"},
        {"COPY \"S\".\"a.b\" (a) FROM stdin;", "S.a.b"},
        {"COPY \"\"\"\".\"x\"\"\" (a) FROM stdin;", "\".x\""},
        {"COPY public.t  FROM stdin;", "public.t"},
        {"COPY t (a) FROM stdin;", NULL},             /* pg_dump always qualifies */
        {"COPY public.t (a) FROM stdout;", NULL},
        {"COPY public.\"t (a) FROM stdin;", NULL},    /* unterminated quote */
        {"COPY .t (a) FROM stdin;", NULL},
        {"copy public.t (a) FROM stdin;", NULL},
        {"COPY public.t(a) FROM stdin;", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *got = dp_pg_copy_table(cases[i].line, strlen(cases[i].line));
        if (cases[i].want) {
            assert_non_null(got);
            assert_string_equal(got, cases[i].want);
        } else if (got) {
            fail_msg("'%s' read as '%s'", cases[i].line, got);
        }
        free(got);
    }
}

static void test_incomplete(void **state)
{
    dp_contents c;
    setup_contents(&c);
    dp_pg_copy_counter k;
    /* a block that never ends */
    dp_pg_copy_init(&k, &c);
    const char open_block[] = "COPY public.users (id) FROM stdin;\n1\n2\n";
    dp_pg_copy_feed(&k, open_block, strlen(open_block));
    assert_int_equal(dp_pg_copy_finish(&k), -1);
    /* a last line without its newline */
    dp_pg_copy_init(&k, &c);
    dp_pg_copy_feed(&k, "SET x;\nSELECT", 13);
    assert_int_equal(dp_pg_copy_finish(&k), -1);
    /* a header longer than the limit: cannot tell (at the limit it is read) */
    dp_buf big = {0};
    dp_buf_puts(&big, "COPY public.users (");
    while (big.len < DP_PG_COPY_MAX_HEADER - 14)
        dp_buf_puts(&big, "a");
    dp_buf_puts(&big, ") FROM stdin;\n");
    assert_int_equal(big.len, DP_PG_COPY_MAX_HEADER);
    dp_pg_copy_init(&k, &c);
    dp_pg_copy_feed(&k, big.data, big.len);
    dp_pg_copy_feed(&k, "5\n\\.\n", 5);
    assert_int_equal(dp_pg_copy_finish(&k), 0);
    assert_int_equal(dp_contents_find(&c, "public.users")->rows, 1);
    dp_buf_reset(&big);
    dp_buf_puts(&big, "COPY public.users (");
    while (big.len < DP_PG_COPY_MAX_HEADER - 13)
        dp_buf_puts(&big, "a");
    dp_buf_puts(&big, ") FROM stdin;\n");
    dp_pg_copy_init(&k, &c);
    dp_pg_copy_feed(&k, big.data, big.len);
    assert_int_equal(k.bad, 1);
    assert_int_equal(dp_pg_copy_finish(&k), -1);
    dp_buf_free(&big);
    /* a long line that is no header costs no memory */
    dp_pg_copy_init(&k, &c);
    char line[4096];
    memset(line, 'x', sizeof line);
    for (int i = 0; i < 1000; i++)
        dp_pg_copy_feed(&k, line, sizeof line);
    dp_pg_copy_feed(&k, "\n", 1);
    assert_true(k.head.cap < 64);
    assert_int_equal(dp_pg_copy_finish(&k), 0);
    dp_contents_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counts),
        cmocka_unit_test(test_header_names),
        cmocka_unit_test(test_incomplete),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
