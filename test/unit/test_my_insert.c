/* test_my_insert.c - rows counted in a mysqldump / mariadb-dump stream: both line layouts, strings
 * holding parentheses, quotes, backslashes and semicolons, backquoted names, streams cut anywhere,
 * and a statement left open. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "source/my_insert.h"

static const char DUMP[] = "-- MariaDB dump\n"
                           "/*!40101 SET NAMES utf8mb4 */;\n"
                           "CREATE TABLE `users` (`id` int, `name` text);\n"
                           "INSERT INTO `users` VALUES (1,'a\\'(x',0x00),(2,'b\\\\',NULL),(3,'c);(',''),(4,')',1.5);\n"
                           "INSERT INTO `users` VALUES (5,'INSERT INTO `users` VALUES (9);\\n(8)');\n"
                           "INSERT INTO `we``ird` VALUES\n"
                           "(1),\n"
                           "(2);\n"
                           "INSERT INTO `unlisted` VALUES (1);\n"
                           "INSERT INTO `users` (`id`) VALUES (7);\n"
                           "  INSERT INTO `users` VALUES (6);\n"
                           "-- Dump completed\n";

static void setup_contents(dp_contents *c)
{
    memset(c, 0, sizeof *c);
    static const char *const names[] = {"users", "we`ird", "empty"};
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(dp_contents_add(c, names[i], NULL, 0), 0);
}

static void count_in_steps(size_t step)
{
    dp_contents c;
    setup_contents(&c);
    dp_my_insert_counter k;
    dp_my_insert_init(&k, &c);
    size_t n = strlen(DUMP);
    for (size_t off = 0; off < n; off += step)
        dp_my_insert_feed(&k, DUMP + off, n - off < step ? n - off : step);
    assert_int_equal(dp_my_insert_finish(&k), 0);
    assert_int_equal(k.statements, 4); /* a column list or an indented line is not the tools' form */
    assert_int_equal(dp_contents_find(&c, "users")->rows, 5);
    assert_int_equal(dp_contents_find(&c, "we`ird")->rows, 2);
    assert_int_equal(dp_contents_find(&c, "empty")->rows, 0);
    dp_contents_free(&c);
}

static void test_counts(void **state)
{
    for (size_t step = 1; step <= 40; step++)
        count_in_steps(step);
    count_in_steps(strlen(DUMP));
}

static void test_open_and_limits(void **state)
{
    dp_contents c;
    setup_contents(&c);
    dp_my_insert_counter k;
    dp_my_insert_init(&k, &c);
    const char open_stmt[] = "INSERT INTO `users` VALUES (1,'x";
    dp_my_insert_feed(&k, open_stmt, strlen(open_stmt));
    assert_int_equal(dp_my_insert_finish(&k), -1);
    /* names up to DP_MY_INSERT_MAX_NAME bytes are read, longer ones make the counts unknown */
    for (int extra = 0; extra <= 1; extra++) {
        dp_buf b = {0};
        dp_buf_puts(&b, "INSERT INTO `");
        for (int i = 0; i < DP_MY_INSERT_MAX_NAME + extra; i++)
            dp_buf_puts(&b, "n");
        dp_buf_puts(&b, "` VALUES (1);\n");
        dp_my_insert_init(&k, &c);
        dp_my_insert_feed(&k, b.data, b.len);
        assert_int_equal(dp_my_insert_finish(&k), extra ? -1 : 0);
        dp_buf_free(&b);
    }
    dp_contents_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counts),
        cmocka_unit_test(test_open_and_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
