/* test_domain_drill_result.c - a drill result's pure rules (server/domain/drill_result.c): status names, text
 * members at and past their limit (cleaned of control and bidi characters), numbers at and past 0 and 2^53, the
 * consistency of a passed/errored result, the overdue rule (off, at and past the age, never passed) and its alert
 * keys both ways. The JSON decoding's limits are test_service_drill_results.c's. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "domain/drill_result.h"

static void test_status(void **state)
{
    sd_drill_status s = SD_DRILL_ERROR;
    assert_int_equal(sd_drill_status_parse("passed", &s), 0);
    assert_int_equal(s, SD_DRILL_PASSED);
    assert_int_equal(sd_drill_status_parse("failed", &s), 0);
    assert_int_equal(s, SD_DRILL_FAILED);
    assert_int_equal(sd_drill_status_parse("error", &s), 0);
    assert_int_equal(s, SD_DRILL_ERROR);
    assert_int_equal(sd_drill_status_parse("Passed", &s), -1);
    assert_int_equal(sd_drill_status_parse("", &s), -1);
    assert_int_equal(sd_drill_status_parse(NULL, &s), -1);
    assert_string_equal(sd_drill_status_name(SD_DRILL_FAILED), "failed");
    assert_string_equal(sd_drill_status_name((sd_drill_status)7), "error");
}

static void test_text(void **state)
{
    char msg[256], *s = malloc(SD_DRILL_TEXT_MAX + 2);
    memset(s, 'a', SD_DRILL_TEXT_MAX);
    s[SD_DRILL_TEXT_MAX] = 0;
    assert_int_equal(sd_drill_text(s, SD_DRILL_TEXT_MAX, SD_DRILL_TEXT_MAX, "error", msg, sizeof msg), 0); /* at */
    s[SD_DRILL_TEXT_MAX] = 'a';
    s[SD_DRILL_TEXT_MAX + 1] = 0;
    assert_int_equal(sd_drill_text(s, SD_DRILL_TEXT_MAX + 1, SD_DRILL_TEXT_MAX, "error", msg, sizeof msg), -1);
    assert_string_equal(msg, "drill result: error is longer than 1024 bytes");
    free(s);
    char t[] = "table 'a\nb\x1b[31m' \xe2\x80\xae" "x";
    assert_int_equal(sd_drill_text(t, strlen(t), 100, "a mismatch line", msg, sizeof msg), 0);
    assert_string_equal(t, "table 'a b [31m' x"); /* control characters become spaces, the override goes */
    /* not UTF-8: '?' each, so that cleaning is stable (a C1 control between stray bytes would otherwise leave
     * e2 80 ae, a right-to-left override, behind) */
    char u[] = "a\xff\xe2\xc2\x80\x80\xae\xc3\xa9\xed\xa0\x80\xf0\x9f\x98\x80\xe2\x80";
    assert_int_equal(sd_drill_text(u, strlen(u), 100, "error", msg, sizeof msg), 0);
    assert_string_equal(u, "a????\xc3\xa9???\xf0\x9f\x98\x80??");
    char again[64];
    snprintf(again, sizeof again, "%s", u);
    assert_int_equal(sd_drill_text(again, strlen(again), 100, "error", msg, sizeof msg), 0);
    assert_string_equal(again, u);
    char n[] = "ab";
    assert_int_equal(sd_drill_text(n, 3, 100, "target", msg, sizeof msg), -1); /* decoded with a NUL inside */
    assert_string_equal(msg, "drill result: target holds a NUL byte");
}

static void test_number(void **state)
{
    char msg[256];
    int64_t v = -1;
    assert_int_equal(sd_drill_number(0, "rows", &v, msg, sizeof msg), 0);
    assert_true(v == 0);
    assert_int_equal(sd_drill_number(SD_DRILL_NUMBER_MAX, "rows", &v, msg, sizeof msg), 0); /* at */
    assert_true(v == 9007199254740992LL);
    assert_int_equal(sd_drill_number(SD_DRILL_NUMBER_MAX * 2, "rows", &v, msg, sizeof msg), -1); /* past */
    assert_string_equal(msg, "drill result: rows is not a whole number from 0 to 2^53");
    assert_int_equal(sd_drill_number(-1, "duration_ms", &v, msg, sizeof msg), -1);
    assert_int_equal(sd_drill_number(1.5, "duration_ms", &v, msg, sizeof msg), -1);
    assert_int_equal(sd_drill_number(1e300, "duration_ms", &v, msg, sizeof msg), -1);
    double nan = strtod("nan", NULL);
    assert_int_equal(sd_drill_number(nan, "duration_ms", &v, msg, sizeof msg), -1);
}

static void test_consistency(void **state)
{
    char msg[256], line[] = "mismatch", name[] = "c.sql";
    sd_drill_doc d = {.status = SD_DRILL_PASSED};
    assert_int_equal(sd_drill_doc_check(&d, msg, sizeof msg), 0);
    d.nmismatches = 2;
    assert_int_equal(sd_drill_doc_check(&d, msg, sizeof msg), -1);
    assert_string_equal(msg, "drill result: a passed drill with 2 mismatches");
    d.status = SD_DRILL_FAILED; /* a failure may have them */
    assert_int_equal(sd_drill_doc_check(&d, msg, sizeof msg), 0);
    sd_drill_check_doc c = {.name = name, .passed = 0};
    d = (sd_drill_doc){.status = SD_DRILL_PASSED, .checks = &c, .nchecks = 1};
    assert_int_equal(sd_drill_doc_check(&d, msg, sizeof msg), -1);
    assert_string_equal(msg, "drill result: a passed drill with a failed check");
    d = (sd_drill_doc){.status = SD_DRILL_PASSED, .error = line};
    assert_int_equal(sd_drill_doc_check(&d, msg, sizeof msg), -1);
    assert_string_equal(msg, "drill result: a passed drill with an error");
    d = (sd_drill_doc){.status = SD_DRILL_ERROR};
    assert_int_equal(sd_drill_doc_check(&d, msg, sizeof msg), -1);
    assert_string_equal(msg, "drill result: status 'error' without an error");
    d.error = line;
    assert_int_equal(sd_drill_doc_check(&d, msg, sizeof msg), 0);
}

static void test_overdue(void **state)
{
    const int64_t day = 86400, now = 1800000000000LL;
    assert_int_equal(sd_drill_overdue(1, now - 1000, 0, now, 0), 0); /* off */
    assert_int_equal(sd_drill_overdue(0, 0, 0, now, -5), 0);
    assert_int_equal(sd_drill_overdue(1, now - day * 1000, 0, now, day), 0); /* at the age: not yet */
    assert_int_equal(sd_drill_overdue(1, now - day * 1000 - 1, 0, now, day), 1); /* past it */
    /* never passed: counted from the first good backup, not from the epoch */
    assert_int_equal(sd_drill_overdue(0, 0, now - 1000, now, day), 0);
    assert_int_equal(sd_drill_overdue(0, 0, now - 2 * day * 1000, now, day), 1);
    char ref[64];
    int64_t db = 0, passed = -1;
    sd_drill_ref_overdue(ref, 12, 0);
    assert_string_equal(ref, "v_12:0");
    assert_int_equal(sd_drill_ref_overdue_parse(ref, &db, &passed), 0);
    assert_true(db == 12 && passed == 0);
    sd_drill_ref_overdue(ref, 3, 99);
    assert_int_equal(sd_drill_ref_overdue_parse(ref, &db, &passed), 0);
    assert_true(db == 3 && passed == 99);
    assert_int_equal(sd_drill_ref_overdue_parse("d_3:99", &db, &passed), -1);
    assert_int_equal(sd_drill_ref_overdue_parse("v_3:", &db, &passed), -1);
    assert_int_equal(sd_drill_ref_overdue_parse("v_3:9x", &db, &passed), -1);
    char r[32];
    sd_drill_ref_failed(r, 41);
    assert_string_equal(r, "r_41");
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_status), cmocka_unit_test(test_text),
                                       cmocka_unit_test(test_number), cmocka_unit_test(test_consistency),
                                       cmocka_unit_test(test_overdue)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
