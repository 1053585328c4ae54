/* test_config_conffile.c - dumperd's configuration file parser (server/config/conffile.c): keys and values,
 * comments, quotes, blank and CRLF lines; hostile input: NUL bytes, control characters, a duplicate key, a
 * missing '=', an unterminated quote, and the limits (size, line length, entries, key length) at and past
 * them. Error lines name the line and never quote a value. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config/conffile.h"

static sd_conf c;
static char why[200];
static char *buf;

/* Parse a copy of s (len bytes, may hold NULs). The copy is kept until the next call. */
static int parse_n(const char *s, size_t len)
{
    free(buf);
    buf = malloc(len + 1);
    memcpy(buf, s, len);
    why[0] = 0;
    return sd_conf_parse(buf, len, &c, why, sizeof why);
}

static int parse(const char *s) { return parse_n(s, strlen(s)); }

static void test_entries(void **state)
{
    assert_int_equal(parse("# dumperd\n\nlisten = 0.0.0.0:8477\n  store=sqlite:/var/lib/dumperd/d.db  \r\n"
                           "alert-webhook = \"https://h/x # not a comment\"   # a comment\n\tthreads\t=\t8"),
                     0);
    assert_int_equal(c.n, 4);
    assert_string_equal(c.v[0].key, "listen");
    assert_string_equal(c.v[0].value, "0.0.0.0:8477");
    assert_int_equal(c.v[0].line, 3);
    assert_string_equal(c.v[1].key, "store");
    assert_string_equal(c.v[1].value, "sqlite:/var/lib/dumperd/d.db");
    assert_string_equal(c.v[2].value, "https://h/x # not a comment");
    assert_string_equal(c.v[3].key, "threads");
    assert_string_equal(c.v[3].value, "8");
    assert_int_equal(c.v[3].line, 6);
    assert_int_equal(parse(""), 0);
    assert_int_equal(c.n, 0);
    assert_int_equal(parse("\n\n# only comments\n"), 0);
    assert_int_equal(c.n, 0);
    assert_int_equal(parse("web = a=b\n"), 0); /* the first '=' separates */
    assert_string_equal(c.v[0].value, "a=b");
}

static void test_bad_lines(void **state)
{
    assert_int_equal(parse("listen\n"), -1);
    assert_string_equal(why, "line 1: expected '=' after the key");
    assert_int_equal(parse("\n= x\n"), -1);
    assert_string_equal(why, "line 2: expected 'key = value' (keys are lowercase option names)");
    assert_int_equal(parse("Listen = x\n"), -1);
    assert_string_equal(why, "line 1: expected 'key = value' (keys are lowercase option names)");
    assert_int_equal(parse("--listen = x\n"), 0); /* dashes are part of a key; args.c refuses unknown keys */
    assert_int_equal(parse("listen =\n"), -1);
    assert_string_equal(why, "line 1: empty value");
    assert_int_equal(parse("listen = \"\"\n"), -1);
    assert_string_equal(why, "line 1: empty value");
    assert_int_equal(parse("store = \"postgres://u:secret@h/d\n"), -1);
    assert_string_equal(why, "line 1: unterminated quoted value");
    assert_int_equal(parse("store = \"postgres://u:secret@h/d\" x\n"), -1);
    assert_string_equal(why, "line 1: text after the quoted value");
    assert_int_equal(parse("listen = a\nthreads = 2\nlisten = b\n"), -1);
    assert_string_equal(why, "line 3: 'listen' given twice (first on line 1)");
    assert_int_equal(parse_n("listen = a\0b\n", 13), -1);
    assert_string_equal(why, "contains a NUL byte");
    assert_int_equal(parse("listen = a\033[2Jb\n"), -1);
    assert_string_equal(why, "line 1: control character");
    assert_null(strstr(why, "secret"));
}

static void test_limits(void **state)
{
    /* Size: 64 KiB is accepted, one byte more is not. */
    char *big = malloc(SD_CONF_MAX_BYTES + 2);
    memset(big, '\n', SD_CONF_MAX_BYTES + 1);
    assert_int_equal(parse_n(big, SD_CONF_MAX_BYTES), 0);
    assert_int_equal(parse_n(big, SD_CONF_MAX_BYTES + 1), -1);
    assert_string_equal(why, "larger than 64 KiB");
    /* Line length: 4096 bytes accepted, 4097 not. */
    char line[SD_CONF_MAX_LINE + 2];
    memset(line, 'v', sizeof line);
    memcpy(line, "web = ", 6);
    assert_int_equal(parse_n(line, SD_CONF_MAX_LINE), 0);
    assert_int_equal(strlen(c.v[0].value), SD_CONF_MAX_LINE - 6);
    assert_int_equal(parse_n(line, SD_CONF_MAX_LINE + 1), -1);
    assert_string_equal(why, "line 1: line longer than 4096 bytes");
    /* Entries: 64 accepted, 65 not. */
    size_t n = 0;
    for (int i = 0; i < SD_CONF_MAX_ENTRIES + 1; i++)
        n += (size_t)snprintf(big + n, 32, "k%d = v\n", i);
    size_t sixty_four = (size_t)(strstr(big, "k64 =") - big);
    assert_int_equal(parse_n(big, sixty_four), 0);
    assert_int_equal(c.n, SD_CONF_MAX_ENTRIES);
    assert_int_equal(parse_n(big, n), -1);
    assert_string_equal(why, "line 65: too many entries");
    /* Key length: 40 accepted, 41 not. */
    char key[SD_CONF_MAX_KEY + 8];
    memset(key, 'k', SD_CONF_MAX_KEY);
    memcpy(key + SD_CONF_MAX_KEY, "=v", 3);
    assert_int_equal(parse(key), 0);
    memset(key, 'k', SD_CONF_MAX_KEY + 1);
    memcpy(key + SD_CONF_MAX_KEY + 1, "=v", 3);
    assert_int_equal(parse(key), -1);
    free(big);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_entries), cmocka_unit_test(test_bad_lines),
                                       cmocka_unit_test(test_limits)};
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    free(buf);
    return rc;
}
