/* test_domain_secrets.c - passwords in URLs (server/domain/secrets.c): the one scanner behind refusing an
 * unredacted database URL, warning about a --store password and masking libpq's messages. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "domain/secrets.h"

static void test_has_password(void **state)
{
    static const char *with[] = {"postgres://app:s3cret@db/x", "mysql://u:p@h:3306/d?ssl=1",
                                 "postgresql://db/x?user=u&password=hunter2", "redis://:pw@cache:6379/0",
                                 "postgres://app:p@ss@db/x", "mongodb://u:****@h/d"};
    for (size_t i = 0; i < sizeof with / sizeof *with; i++)
        assert_true(sd_url_has_password(with[i]));
    static const char *without[] = {"postgres://app:***@db/x", "postgres://app:xxxxx@db/x", "postgres://app@db/x",
                                    "postgres://db/x", "sqlite:///srv/app.db", "postgres://db/x?password=***",
                                    "postgres://app:@db/x", "postgres://db/a:b@c", "", "not a url"};
    for (size_t i = 0; i < sizeof without / sizeof *without; i++)
        assert_false(sd_url_has_password(without[i]));
}

static void test_spans(void **state)
{
    sd_span s[4];
    const char *u = "postgres://app:pw1@db/x?password=pw2&sslmode=require#password=pw3";
    assert_int_equal(sd_url_password_spans(u, s, 4), 3);
    assert_int_equal(s[0].n, 3);
    assert_memory_equal(s[0].p, "pw1", 3);
    assert_int_equal(s[1].n, 3);
    assert_memory_equal(s[1].p, "pw2", 3);
    assert_int_equal(sd_url_password_spans(u, s, 1), 1);
    assert_int_equal(sd_url_password_spans(NULL, s, 4), 0);
}

static void test_mask(void **state)
{
    char msg[200] = "invalid percent-encoded token: \"s3cret%ZZ\" near s3cret and hunter2";
    sd_mask_url_passwords("postgres://app:s3cret%ZZ@db/x?password=hunter2", msg);
    assert_string_equal(msg, "invalid percent-encoded token: \"*********\" near s3cret and *******");
    char msg2[64] = "nothing to hide";
    sd_mask_url_passwords("postgres://app:@db/x", msg2); /* empty password: nothing masked */
    assert_string_equal(msg2, "nothing to hide");
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_has_password), cmocka_unit_test(test_spans),
                                       cmocka_unit_test(test_mask)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
