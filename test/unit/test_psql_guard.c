/* test_psql_guard.c - the \restrict fence around plain dumps fed to psql (lib/source/psql_guard.c):
 * pg_dump's own \restrict and final \unrestrict lines are dropped (in any chunking, CRLF too, line
 * numbers kept), everything else passes untouched (a \restrict after a statement, an \unrestrict
 * in the middle or with another key, an unbalanced tail); the prelude key is random; which psql
 * versions know \restrict; the full version parser. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "source/postgres.h"
#include "source/psql_guard.h"

#define KEY "Ba3EJe0ZWUSE8kooBEqMsFGEDxN9Ilkgaqh9fcn5chBOuEc8DbyvfGfGgocBAVj"

/* The guard's output for `in` fed in pieces of `step` bytes (0: all at once). Caller frees. */
static char *guard(const char *in, size_t step)
{
    dp_psql_guard g;
    dp_buf out = {0};
    dp_psql_guard_init(&g);
    size_t n = strlen(in);
    for (size_t off = 0; off < n;) {
        size_t k = step && n - off > step ? step : n - off;
        assert_int_equal(dp_psql_guard_feed(&g, in + off, k, &out), 0);
        off += k;
    }
    assert_int_equal(dp_psql_guard_finish(&g, &out), 0);
    dp_psql_guard_free(&g);
    dp_buf_puts(&out, "");
    return out.data;
}

/* in -> want for every chunk size from 1 to 40 and all at once. */
static void expect(const char *in, const char *want)
{
    for (size_t step = 0; step <= 40; step++) {
        char *got = guard(in, step);
        if (strcmp(got, want) != 0)
            fail_msg("step %zu:\n--- in\n%s\n--- got\n%s\n--- want\n%s", step, in, got, want);
        free(got);
    }
}

static void test_pg_dump_lines_dropped(void **state)
{
    (void)state;
    expect("--\n-- PostgreSQL database dump\n--\n\n\\restrict " KEY "\n\nSET x = 1;\nCOPY t FROM stdin;\n1\n\\.\n\n"
           "--\n-- done\n--\n\n\\unrestrict " KEY "\n\n",
           "--\n-- PostgreSQL database dump\n--\n\n\n\nSET x = 1;\nCOPY t FROM stdin;\n1\n\\.\n\n--\n-- done\n--\n\n"
           "\n");
    /* CRLF, trailing blanks, no newline at the very end */
    expect("\\restrict " KEY " \r\nSELECT 1;\r\n\\unrestrict " KEY "\r\n  \r\n",
           "\nSELECT 1;\r\n\n");
    expect("\\restrict " KEY "\nSELECT 1;\n\\unrestrict " KEY, "\nSELECT 1;\n\n");
}

static void test_everything_else_passes(void **state)
{
    (void)state;
    /* no \restrict of its own (pg_dump before 15.14): untouched, a final \unrestrict included */
    const char *plain[] = {
        "SET x = 1;\n\\! id\n",
        "SELECT 1;\n\\restrict " KEY "\nSELECT 2;\n",   /* not before the first statement */
        "  \\restrict " KEY "\nSELECT 1;\n",            /* not at the start of its line */
        "/* c */\n\\restrict " KEY "\nSELECT 1;\n",     /* a block comment is not a header line */
        "\\restrict not-a-key!\nSELECT 1;\n",           /* pg_dump's keys are alphanumeric */
        "SELECT 1;\n\\unrestrict " KEY "\n",            /* no \restrict at the start: no key known */
        "",
        "no newline at all",
    };
    for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++)
        expect(plain[i], plain[i]);
    /* with the dump's key known, only the final line goes: one in the middle, another key, a
     * prefix of the key, or anything after it keeps the line (psql then refuses it) */
    expect("\\restrict " KEY "\nSELECT 1;\n\\unrestrict " KEY "\n\\! id\n",
           "\nSELECT 1;\n\\unrestrict " KEY "\n\\! id\n");
    expect("\\restrict " KEY "\nSELECT 1;\n\\unrestrict other\n", "\nSELECT 1;\n\\unrestrict other\n");
    expect("\\restrict " KEY "\nSELECT 1;\n\\unrestrict Ba3EJ\n", "\nSELECT 1;\n\\unrestrict Ba3EJ\n");
    expect("\\restrict " KEY "\nSELECT 1;\n\\unrestrict " KEY "x\n", "\nSELECT 1;\n\\unrestrict " KEY "x\n");
    expect("\\restrict " KEY "\nSELECT 1;\n\\unrestrict " KEY " \\! id\n",
           "\nSELECT 1;\n\\unrestrict " KEY " \\! id\n");
    /* the candidate must start a line even when the line's start was passed on in an earlier
     * chunk (found by fuzz_psql_guard) */
    expect("\\restrict " KEY "\nSELECT 1;\n\\unrestri\xf8\\unrestrict " KEY "\n\n",
           "\nSELECT 1;\n\\unrestri\xf8\\unrestrict " KEY "\n\n");
    /* a second \restrict is a body line */
    expect("\\restrict " KEY "\n\\restrict " KEY "\n", "\n\\restrict " KEY "\n");
}

static void test_bounded(void **state)
{
    (void)state;
    /* a megabyte of blanks after the final line: not a pg_dump tail, passed on as is */
    size_t n = 1 << 20;
    const char *head = "\\restrict " KEY "\nSELECT 1;\n\\unrestrict " KEY "\n";
    char *in = malloc(strlen(head) + n + 1);
    strcpy(in, head);
    memset(in + strlen(head), ' ', n);
    in[strlen(head) + n] = 0;
    char *got = guard(in, 4096);
    assert_int_equal(strlen(got), strlen(in) - strlen("\\restrict " KEY)); /* only the header line went */
    assert_non_null(strstr(got, "\\unrestrict " KEY));
    free(got);
    free(in);
    /* a header line without an end is body after 4 KiB, not held forever */
    dp_psql_guard g;
    dp_buf out = {0};
    dp_psql_guard_init(&g);
    char chunk[1000];
    memset(chunk, '-', sizeof chunk);
    for (int i = 0; i < 10; i++)
        assert_int_equal(dp_psql_guard_feed(&g, chunk, sizeof chunk, &out), 0);
    assert_true(out.len >= 5000);
    dp_psql_guard_free(&g);
    dp_buf_free(&out);
}

static void test_prelude(void **state)
{
    (void)state;
    char a[80], b[80];
    assert_int_equal(dp_psql_guard_prelude(a), 0);
    assert_int_equal(dp_psql_guard_prelude(b), 0);
    assert_int_equal(strlen(a), 10 + 64 + 1);
    assert_memory_equal(a, "\\restrict ", 10);
    assert_int_equal(strspn(a + 10, "0123456789abcdef"), 64);
    assert_int_equal(a[74], '\n');
    assert_string_not_equal(a, b);
}

static void test_versions(void **state)
{
    (void)state;
    assert_int_equal(dp_pg_parse_tool_version_full("psql (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)\n"), 150018);
    assert_int_equal(dp_pg_parse_tool_version_full("psql (PostgreSQL) 17.2\n"), 170002);
    assert_int_equal(dp_pg_parse_tool_version_full("psql (PostgreSQL) 9.6.24\n"), 90624);
    assert_int_equal(dp_pg_parse_tool_version_full("psql (PostgreSQL) 10beta1\n"), 100000);
    assert_int_equal(dp_pg_parse_tool_version_full("garbage"), -1);
    assert_int_equal(dp_pg_parse_tool_version_full(NULL), -1);
    static const struct {
        int v, ok;
    } cases[] = {{150013, 0}, {150014, 1}, {150018, 1}, {130021, 0}, {130022, 1}, {140018, 0}, {140019, 1},
                 {160009, 0}, {160010, 1}, {170005, 0}, {170006, 1}, {180000, 1}, {190001, 1}, {120022, 0},
                 {90624, 0},  {-1, 0}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        if (dp_psql_restricts(cases[i].v) != cases[i].ok)
            fail_msg("version %d: restricts %d", cases[i].v, !cases[i].ok);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pg_dump_lines_dropped), cmocka_unit_test(test_everything_else_passes),
        cmocka_unit_test(test_bounded),               cmocka_unit_test(test_prelude),
        cmocka_unit_test(test_versions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
