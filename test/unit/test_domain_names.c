/* test_domain_names.c - dumperd's names and ids (server/domain/names.c): labels, "x_<id>" ids at and past
 * INT64_MAX, part numbers at and past 10,000, compression names, extensions and backup file names. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "domain/names.h"

static void test_labels(void **state)
{
    assert_true(sd_label_valid("production", 64));
    assert_true(sd_label_valid("a.B-c_9", 64));
    char l64[65];
    memset(l64, 'x', 64);
    l64[64] = 0;
    assert_true(sd_label_valid(l64, 64));
    assert_false(sd_label_valid(l64, 63));
    assert_false(sd_label_valid("", 64));
    assert_false(sd_label_valid(NULL, 64));
    assert_false(sd_label_valid("a b", 64));
    assert_false(sd_label_valid("a/b", 64));
    assert_false(sd_label_valid("é", 64));
    char s[] = "my app/é!";
    sd_label_sanitize(s);
    assert_string_equal(s, "my_app____");
}

/* What registration refuses in agent-sent text, and how fail messages are cleaned. */
static void test_text(void **state)
{
    assert_null(sd_text_problem("db1.example.com"));
    assert_null(sd_text_problem("caf\xc3\xa9 \xe2\x80\xa9")); /* é, U+2029: printable enough */
    assert_string_equal(sd_text_problem("a\nb"), "control characters");
    assert_string_equal(sd_text_problem("a\x7f"), "control characters");
    assert_string_equal(sd_text_problem("a\xc2\x85"), "control characters");             /* U+0085 NEL */
    assert_string_equal(sd_text_problem("a\xc2\x9b" "31m"), "control characters");        /* U+009B CSI */
    assert_null(sd_text_problem("a\xc2\xa0"));                                            /* U+00A0 */
    static const char *bidi[] = {"\xe2\x80\xaa", "\xe2\x80\xab", "\xe2\x80\xac", "\xe2\x80\xad",
                                 "\xe2\x80\xae", "\xe2\x81\xa6", "\xe2\x81\xa7", "\xe2\x81\xa8",
                                 "\xe2\x81\xa9"};
    for (size_t i = 0; i < sizeof bidi / sizeof *bidi; i++)
        assert_string_equal(sd_text_problem(bidi[i]), "bidirectional override characters");
    assert_null(sd_text_problem("\xe2\x80\xa9\xe2\x81\xa5\xe2\x81\xaa")); /* the neighbours */
    static const char *meta[] = {"a`b", "$x", "a;b", "a&b", "a|b", "a<b", "a>b", "(a)", "a\\b", "a\"b", "a'b",
                                 "a*", "a?", "[a]", "{a}", "a!", "#a", "~a"};
    for (size_t i = 0; i < sizeof meta / sizeof *meta; i++)
        assert_string_equal(sd_shell_problem(meta[i], 1), "shell metacharacters");
    assert_string_equal(sd_shell_problem("a b", 0), "shell metacharacters");
    assert_null(sd_shell_problem("/srv/My Apps/db.sqlite3", 1));
    assert_null(sd_shell_problem("db-1.internal:5432,db-2", 0));
    assert_null(sd_shell_problem("::1", 0));
    assert_string_equal(sd_shell_problem("a\tb", 1), "control characters");
    char m[] = "boom\x1b[2J\r\nnext\xe2\x80\xae\xc2\x9b" "end";
    sd_text_clean(m);
    assert_string_equal(m, "boom [2J  nextend");
    char cut[] = "ok \xe2\x82"; /* a 3-byte sequence cut after 2 */
    sd_text_clean(cut);
    assert_string_equal(cut, "ok ");
    char whole[] = "ok \xe2\x82\xac";
    sd_text_clean(whole);
    assert_string_equal(whole, "ok \xe2\x82\xac");
    assert_true(sd_app_name_valid("shop-2.prod_x"));
    assert_false(sd_app_name_valid("shop;rm"));
    assert_false(sd_app_name_valid("shop app"));
    assert_false(sd_app_name_valid(""));
    assert_true(sd_scope_valid("production", NULL));
    assert_false(sd_scope_valid("prod$x", NULL));
    assert_false(sd_scope_valid("production", "a b"));
}

/* A derived key is a label of at most 64 characters (it was "<type>-" plus 60 of the name: up to 71,
 * which no dashboard or CLI request could name again; found by fuzz_dumperd_api). */
static void test_db_key_derive(void **state)
{
    (void)state;
    char k[65], name[101];
    sd_db_key_derive(k, "postgresql", "shop/main");
    assert_string_equal(k, "postgresql-shop_main");
    sd_db_key_derive(k, "redis", NULL);
    assert_string_equal(k, "redis-default");
    sd_db_key_derive(k, "sqlite", "");
    assert_string_equal(k, "sqlite-default");
    memset(name, 'n', 100);
    name[100] = 0;
    static const char *const types[] = {"postgresql", "mysql", "mariadb", "mongodb", "redis", "sqlite"};
    for (size_t i = 0; i < sizeof types / sizeof *types; i++) {
        sd_db_key_derive(k, types[i], name);
        assert_int_equal(strlen(k), 64);
        assert_true(sd_label_valid(k, 64));
        assert_int_equal(strncmp(k, types[i], strlen(types[i])), 0);
        assert_int_equal(k[strlen(types[i])], '-');
    }
    /* a name that fits is kept whole: 64 characters exactly */
    name[64 - 7] = 0;
    sd_db_key_derive(k, "sqlite", name);
    assert_int_equal(strlen(k), 64);
    assert_int_equal(k[63], 'n');
}

static void test_ids(void **state)
{
    int64_t id = 0;
    assert_int_equal(sd_id_parse("b_12", 'b', &id), 0);
    assert_int_equal(id, 12);
    assert_int_equal(sd_id_parse("a_9223372036854775807", 'a', &id), 0);
    assert_true(id == INT64_MAX);
    static const char *bad[] = {"a_9223372036854775808", "a_0", "a_", "a", "b_1", "a_-1", "a_+1", "a_ 1", "a_1 ",
                                "a_1x", "A_1", "a-1", "", "a__1"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_int_equal(sd_id_parse(bad[i], 'a', &id), -1);
    assert_int_equal(sd_id_parse(NULL, 'a', &id), -1);
    assert_int_equal(sd_id_parse("007", 0, &id), 0); /* leading zeros read as the number */
    assert_int_equal(id, 7);
    const char *p = "b_42/download";
    assert_int_equal(sd_id_scan(&p, 'b'), 42);
    assert_string_equal(p, "/download");
    p = "b_/x";
    assert_int_equal(sd_id_scan(&p, 'b'), -1);
    assert_string_equal(p, "b_/x");
    char out[32];
    sd_id_format(out, 'j', 5);
    assert_string_equal(out, "j_5");
}

static void test_part_numbers(void **state)
{
    const char *p = "10000";
    assert_int_equal(sd_part_number_scan(&p, 10000), 10000);
    assert_string_equal(p, "");
    static const char *bad[] = {"10001", "0", "01", "+1", "-1", "", "x", "99999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        p = bad[i];
        assert_int_equal(sd_part_number_scan(&p, 10000), -1);
        assert_ptr_equal(p, bad[i]);
    }
    p = "3/presign";
    assert_int_equal(sd_part_number_scan(&p, 10000), 3);
    assert_string_equal(p, "/presign");
}

static void test_codecs_and_extensions(void **state)
{
    assert_true(sd_compression_valid("zstd") && sd_compression_valid("gzip") && sd_compression_valid("none"));
    assert_false(sd_compression_valid("zst") || sd_compression_valid("gz") || sd_compression_valid("ZSTD") ||
                 sd_compression_valid("") || sd_compression_valid("xz"));
    assert_true(sd_extension_valid("sql.zst") && sd_extension_valid("a") && sd_extension_valid("0123456789abcdef"));
    static const char *bad[] = {"", ".zst", "sql.", "sql..zst", "SQL", "sql/zst", "0123456789abcdefg", "a b"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_false(sd_extension_valid(bad[i]));
    assert_false(sd_extension_valid(NULL));
    char ext[40];
    sd_extension_default(ext, "sql", "zstd");
    assert_string_equal(ext, "sql.zst");
    sd_extension_default(ext, "rdb", "gzip");
    assert_string_equal(ext, "rdb.gz");
    sd_extension_default(ext, NULL, NULL);
    assert_string_equal(ext, "dump");
    sd_extension_default(ext, "tar", "none");
    assert_string_equal(ext, "tar");
}

static void test_file_names(void **state)
{
    char name[256];
    /* 2026-11-26T09:45:00.123Z */
    sd_backup_file_name(name, "my shop", "production", "pg-main", 1795686300123LL, 42, "sql.zst");
    assert_string_equal(name, "my_shop-production-pg-main-20261126T094500.123Z-b42.sql.zst");
    char app[100];
    memset(app, 'a', 99);
    app[99] = 0;
    sd_backup_file_name(name, app, "e", "k", 0, 1, "x");
    assert_int_equal(strlen(name), 64 + strlen("-e-k-19700101T000000.000Z-b1.x")); /* the app cut at 64 */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_labels), cmocka_unit_test(test_text), cmocka_unit_test(test_db_key_derive),
        cmocka_unit_test(test_ids), cmocka_unit_test(test_part_numbers),
        cmocka_unit_test(test_codecs_and_extensions), cmocka_unit_test(test_file_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
