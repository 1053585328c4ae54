/* test_argv.c - shell-like splitting of custom_options: words, quotes, escapes, no expansion, errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "core/argv.h"

/* Split s and compare with the expected words (NULL-terminated). */
static void expect_words(const char *s, const char *const *want)
{
    char **v = NULL;
    size_t n = 99;
    dp_err err = {0};
    assert_int_equal(dp_argv_split(s, "custom options", &v, &n, &err), 0);
    assert_non_null(v);
    size_t i = 0;
    for (; want[i]; i++) {
        assert_non_null(v[i]);
        assert_string_equal(v[i], want[i]);
    }
    assert_null(v[i]);
    assert_int_equal(n, i);
    assert_int_equal(dp_argv_count(v), i);
    dp_argv_free(v);
}

static void expect_error(const char *s, const char *msg)
{
    char **v = (char **)1;
    dp_err err = {0};
    assert_int_equal(dp_argv_split(s, "custom options", &v, NULL, &err), DUMPER_EUSAGE);
    assert_null(v);
    assert_string_equal(err.msg, msg);
}

static void test_plain_words(void **state)
{
    expect_words("-Fc --no-acl --no-owner", (const char *[]){"-Fc", "--no-acl", "--no-owner", NULL});
    expect_words("  \t a \n  b  ", (const char *[]){"a", "b", NULL});
    expect_words("", (const char *[]){NULL});
    expect_words("   ", (const char *[]){NULL});
    expect_words(NULL, (const char *[]){NULL});
}

static void test_quotes(void **state)
{
    expect_words("--exclude-table='my table'", (const char *[]){"--exclude-table=my table", NULL});
    expect_words("'a\"b' \"c'd\"", (const char *[]){"a\"b", "c'd", NULL});
    expect_words("'' \"\" x", (const char *[]){"", "", "x", NULL});
    expect_words("a'b'\"c\"d", (const char *[]){"abcd", NULL});
    expect_words("'a\\b'", (const char *[]){"a\\b", NULL}); /* no escapes in single quotes */
    expect_words("\"a\\\"b\\\\c\\d\"", (const char *[]){"a\"b\\c\\d", NULL});
}

static void test_backslash(void **state)
{
    expect_words("a\\ b c", (const char *[]){"a b", "c", NULL});
    expect_words("\\'x", (const char *[]){"'x", NULL});
    expect_words("a\\\nb", (const char *[]){"ab", NULL});
    expect_words("a \\\n b", (const char *[]){"a", "b", NULL});
}

static void test_no_expansion(void **state)
{
    expect_words("$HOME `id` ~ *.sql a;b|c&d>e", (const char *[]){"$HOME", "`id`", "~", "*.sql", "a;b|c&d>e", NULL});
    expect_words("\"$(rm -rf /)\"", (const char *[]){"$(rm -rf /)", NULL});
}

static void test_errors(void **state)
{
    expect_error("-Fc 'abc", "invalid custom options: unterminated single quote");
    expect_error("\"abc", "invalid custom options: unterminated double quote");
    expect_error("abc\\", "invalid custom options: trailing backslash");
    expect_error("\"a\\\"", "invalid custom options: unterminated double quote");
}

static void test_many_words(void **state)
{
    char s[2000] = "";
    for (int i = 0; i < 300; i++)
        memcpy(s + 2 * i, "x ", 3);
    char **v = NULL;
    size_t n = 0;
    dp_err err = {0};
    assert_int_equal(dp_argv_split(s, "x", &v, &n, &err), 0);
    assert_int_equal(n, 300);
    assert_string_equal(v[299], "x");
    assert_null(v[300]);
    dp_argv_free(v);
    dp_argv_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_words), cmocka_unit_test(test_quotes),   cmocka_unit_test(test_backslash),
        cmocka_unit_test(test_no_expansion), cmocka_unit_test(test_errors), cmocka_unit_test(test_many_words),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
