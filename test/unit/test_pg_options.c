/* test_pg_options.c - the pure parts of the PostgreSQL source: pg_dump version parsing, choosing
 * a compatible pg_dump for a server version, and reading format/custom options. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "core/argv.h"
#include "source/postgres.h"
#include "source/source.h"

static void test_parse_version(void **state)
{
    assert_int_equal(dp_pg_parse_tool_version("pg_dump (PostgreSQL) 15.14 (Debian 15.14-0+deb12u1)\n"), 150000);
    assert_int_equal(dp_pg_parse_tool_version("pg_dump (PostgreSQL) 17.2\n"), 170000);
    assert_int_equal(dp_pg_parse_tool_version("pg_dump (PostgreSQL) 9.6.24\n"), 90600);
    assert_int_equal(dp_pg_parse_tool_version("pg_dump (PostgreSQL) 10beta1\n"), 100000);
    assert_int_equal(dp_pg_parse_tool_version("13.1"), 130000);
    assert_int_equal(dp_pg_parse_tool_version("garbage"), -1);
    assert_int_equal(dp_pg_parse_tool_version(""), -1);
    assert_int_equal(dp_pg_parse_tool_version(NULL), -1);
    assert_int_equal(dp_pg_major_num(150004), 150000);
    assert_int_equal(dp_pg_major_num(90624), 90600);
}

static void test_pick(void **state)
{
    int tools[] = {170000, 150000, 160000};
    /* Server 15: the closest newer-or-equal major (15), not the newest. */
    assert_int_equal(dp_pg_pick_tool(150004, tools, 3), 1);
    assert_int_equal(dp_pg_pick_tool(160001, tools, 3), 2);
    assert_int_equal(dp_pg_pick_tool(170000, tools, 3), 0);
    /* A newer server than any tool: none (pg_dump refuses newer servers). */
    assert_int_equal(dp_pg_pick_tool(180000, tools, 3), -1);
    /* Old servers are read by new tools. */
    assert_int_equal(dp_pg_pick_tool(90624, tools, 3), 1);
    int old[] = {90600, -1};
    assert_int_equal(dp_pg_pick_tool(150000, old, 2), -1);
    assert_int_equal(dp_pg_pick_tool(90605, old, 2), 0);
    assert_int_equal(dp_pg_pick_tool(150000, NULL, 0), -1);
    int tie[] = {150000, 150000};
    assert_int_equal(dp_pg_pick_tool(150000, tie, 2), 0);
}

/* Resolve format + custom options through the driver's resolve_format. */
static int resolve(const char *format, const char *custom, const char **fmt, dp_err *err)
{
    dp_dburl url = {.type = DP_DB_POSTGRES, .scheme = "postgres"};
    dp_source_opts o = {.format = format, .custom_options = custom};
    *fmt = NULL;
    return dp_source_postgres.resolve_format(&url, &o, fmt, err);
}

static void expect_format(const char *format, const char *custom, const char *want)
{
    const char *fmt;
    dp_err err = {0};
    int rc = resolve(format, custom, &fmt, &err);
    if (rc)
        fail_msg("format %s / '%s': %s", format ? format : "-", custom ? custom : "", err.msg);
    assert_string_equal(fmt, want);
}

static void expect_usage(const char *format, const char *custom, const char *msg_part)
{
    const char *fmt;
    dp_err err = {0};
    assert_int_equal(resolve(format, custom, &fmt, &err), DUMPER_EUSAGE);
    if (!strstr(err.msg, msg_part))
        fail_msg("'%s' not in '%s'", msg_part, err.msg);
}

static void test_formats(void **state)
{
    expect_format(NULL, NULL, "sql");
    expect_format("", "", "sql");
    expect_format("sql", NULL, "sql");
    expect_format("plain", NULL, "sql");
    expect_format("dump", NULL, "dump");
    expect_format("custom", NULL, "dump");
    /* The original gem's custom_options give the custom format. */
    expect_format(NULL, "-Fc --no-acl --no-owner", "dump");
    expect_format(NULL, "-F c", "dump");
    expect_format(NULL, "--format=custom", "dump");
    expect_format(NULL, "--format custom -Z 3", "dump");
    expect_format(NULL, "-OxFc", "dump"); /* bundled short options */
    expect_format(NULL, "-Fp", "sql");
    expect_format("dump", "-Fc", "dump");
    expect_format(NULL, "-t 'my table' -n public --exclude-table-data=logs", "sql");
    expect_format(NULL, "-tF", "sql"); /* 'F' is the argument of -t here, not a format */
}

static void test_refused(void **state)
{
    expect_usage("xml", NULL, "unknown postgresql format 'xml'");
    expect_usage("sql", "-Fc", "conflicts");
    expect_usage("dump", "--format=plain", "conflicts");
    expect_usage(NULL, "-Fd", "cannot be streamed");
    expect_usage(NULL, "--format=tar", "cannot be streamed");
    expect_usage(NULL, "-Fz", "unknown pg_dump format 'z'");
    expect_usage(NULL, "-f out.sql", "'-f' is not allowed");
    expect_usage(NULL, "--file=x", "'--file=x' is not allowed");
    expect_usage(NULL, "-j4", "'-j' is not allowed");
    expect_usage(NULL, "-OW", "'-W' is not allowed");
    expect_usage(NULL, "--password", "not allowed");
    expect_usage(NULL, "-h elsewhere", "not allowed");
    expect_usage(NULL, "--dbname=other", "not allowed");
    expect_usage(NULL, "-Z5", "would compress a plain dump");
    expect_usage(NULL, "-F", "needs a value");
    expect_usage(NULL, "--format", "needs a value");
    expect_usage(NULL, "mydb", "is not an option");
    expect_usage(NULL, "-Fc 'open", "unterminated single quote");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_version),
        cmocka_unit_test(test_pick),
        cmocka_unit_test(test_formats),
        cmocka_unit_test(test_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
