/* test_domain_job_policy.c - an app's job policy (server/domain/job_policy.c): recipients (valid, of other
 * kinds, bit-flipped, duplicated, at and past 16), their stored form both ways (a bad stored key refused),
 * I/O priorities, rates at and past their bounds, merging a change, and the prepare rule (an app with
 * recipients takes encrypted backups only). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "crypto/age.h"
#include "domain/job_policy.h"

/* n distinct valid recipients (made from identities) */
static void keys(char out[][DP_AGE_RECIPIENT_LEN + 1], int n)
{
    for (int i = 0; i < n; i++) {
        dp_age_identity id;
        dp_err e = {0};
        assert_int_equal(dp_age_identity_generate(&id, &e), 0);
        dp_age_recipient r;
        dp_age_identity_recipient(&id, &r);
        memcpy(out[i], r.str, sizeof r.str);
    }
}

static void test_recipients(void **state)
{
    char k[SD_MAX_RECIPIENTS + 1][DP_AGE_RECIPIENT_LEN + 1], msg[256];
    keys(k, SD_MAX_RECIPIENTS + 1);
    sd_job_policy p;
    sd_job_policy_init(&p);
    assert_int_equal(p.nice, SD_NICE_UNSET);
    for (int i = 0; i < SD_MAX_RECIPIENTS; i++)
        assert_int_equal(sd_job_policy_add_recipient(&p, k[i], msg, sizeof msg), 0);
    assert_int_equal(p.nrecipients, SD_MAX_RECIPIENTS); /* at the bound */
    assert_int_equal(sd_job_policy_add_recipient(&p, k[SD_MAX_RECIPIENTS], msg, sizeof msg), -1);
    assert_string_equal(msg, "too many recipients (at most 16)");
    sd_job_policy_init(&p);
    assert_int_equal(sd_job_policy_add_recipient(&p, k[0], msg, sizeof msg), 0);
    assert_int_equal(sd_job_policy_add_recipient(&p, k[0], msg, sizeof msg), -1);
    assert_non_null(strstr(msg, "is given twice"));
    char flipped[DP_AGE_RECIPIENT_LEN + 1];
    memcpy(flipped, k[1], sizeof flipped);
    flipped[20] = flipped[20] == 'q' ? 'p' : 'q';
    assert_int_equal(sd_job_policy_add_recipient(&p, flipped, msg, sizeof msg), -1);
    assert_non_null(strstr(msg, "malformed age recipient"));
    assert_int_equal(sd_job_policy_add_recipient(&p, "ssh-ed25519 AAAA", msg, sizeof msg), -1);
    assert_non_null(strstr(msg, "ssh-ed25519"));
    assert_int_equal(sd_job_policy_add_recipient(&p, "", msg, sizeof msg), -1);
    assert_int_equal(p.nrecipients, 1); /* refusals change nothing */
}

static void test_stored_form(void **state)
{
    char k[SD_MAX_RECIPIENTS][DP_AGE_RECIPIENT_LEN + 1], msg[256], text[SD_RECIPIENTS_TEXT_MAX + 1];
    keys(k, SD_MAX_RECIPIENTS);
    sd_job_policy p, q;
    sd_job_policy_init(&p);
    for (int i = 0; i < SD_MAX_RECIPIENTS; i++)
        assert_int_equal(sd_job_policy_add_recipient(&p, k[i], msg, sizeof msg), 0);
    sd_job_policy_recipients_text(&p, text);
    assert_int_equal(strlen(text), SD_RECIPIENTS_TEXT_MAX - 1); /* 16 keys, 15 spaces */
    sd_job_policy_init(&q);
    assert_int_equal(sd_job_policy_recipients_parse(&q, text, msg, sizeof msg), 0);
    assert_int_equal(q.nrecipients, SD_MAX_RECIPIENTS);
    assert_string_equal(q.recipients[15], k[15]);
    assert_int_equal(sd_job_policy_recipients_parse(&q, "", msg, sizeof msg), 0);
    assert_int_equal(q.nrecipients, 0);
    assert_int_equal(sd_job_policy_recipients_parse(&q, NULL, msg, sizeof msg), 0);
    /* a tampered store: a bad key refuses the whole list */
    char bad[200];
    snprintf(bad, sizeof bad, "%s AGE-SECRET-KEY-1XYZ", k[0]);
    assert_int_equal(sd_job_policy_recipients_parse(&q, bad, msg, sizeof msg), -1);
    assert_int_equal(q.nrecipients, 0);
    char longer[SD_RECIPIENTS_TEXT_MAX + 2];
    memset(longer, 'a', sizeof longer - 1);
    longer[sizeof longer - 1] = 0;
    assert_int_equal(sd_job_policy_recipients_parse(&q, longer, msg, sizeof msg), -1);
}

static void test_ionice_and_rate(void **state)
{
    char out[16], msg[256];
    int64_t r = 0;
    assert_int_equal(sd_job_policy_ionice("idle", out, msg, sizeof msg), 0);
    assert_string_equal(out, "idle");
    assert_int_equal(sd_job_policy_ionice("none", out, msg, sizeof msg), 0);
    assert_int_equal(sd_job_policy_ionice("best-effort", out, msg, sizeof msg), 0);
    assert_string_equal(out, "best-effort:4");
    assert_int_equal(sd_job_policy_ionice("be:7", out, msg, sizeof msg), 0);
    assert_string_equal(out, "best-effort:7");
    assert_int_equal(sd_job_policy_ionice("best-effort:0", out, msg, sizeof msg), 0);
    const char *bad[] = {"be:8", "be:-1", "best-effort:77", "realtime", "rt:0", "", "IDLE", "be:", "idle2"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_int_equal(sd_job_policy_ionice(bad[i], out, msg, sizeof msg), -1);
    assert_non_null(strstr(msg, "invalid I/O priority"));
    assert_int_equal(sd_job_policy_rate("10M", &r, msg, sizeof msg), 0);
    assert_int_equal(r, 10 * 1024 * 1024);
    assert_int_equal(sd_job_policy_rate("1K", &r, msg, sizeof msg), 0); /* the lower bound */
    assert_int_equal(r, 1024);
    assert_int_equal(sd_job_policy_rate("1024G", &r, msg, sizeof msg), 0); /* the upper bound */
    assert_int_equal(r, INT64_C(1) << 40);
    assert_int_equal(sd_job_policy_rate("none", &r, msg, sizeof msg), 0);
    assert_int_equal(r, 0);
    const char *badr[] = {"1023", "1025G", "-5M", "10X", "", "M", "+5M", " 5M", "99999999999999999999"};
    for (size_t i = 0; i < sizeof badr / sizeof *badr; i++)
        assert_int_equal(sd_job_policy_rate(badr[i], &r, msg, sizeof msg), -1);
    assert_non_null(strstr(msg, "invalid rate"));
}

static void test_merge_and_prepare(void **state)
{
    char k[1][DP_AGE_RECIPIENT_LEN + 1], msg[256];
    keys(k, 1);
    sd_job_policy p, c;
    sd_job_policy_init(&p);
    sd_job_policy_init(&c);
    assert_int_equal(sd_job_policy_add_recipient(&c, k[0], msg, sizeof msg), 0);
    c.nice = 7;
    sd_job_policy_merge(&p, &c, SD_JP_NICE);
    assert_int_equal(p.nice, 7);
    assert_int_equal(p.nrecipients, 0); /* not named: kept */
    sd_job_policy_merge(&p, &c, SD_JP_RECIPIENTS);
    assert_int_equal(p.nrecipients, 1);
    assert_null(sd_job_policy_check_prepare(&p, "age", 1));
    assert_non_null(strstr(sd_job_policy_check_prepare(&p, NULL, 0), "upgrade the agent"));
    assert_non_null(sd_job_policy_check_prepare(&p, "age", 0));
    assert_non_null(sd_job_policy_check_prepare(&p, "aes", 1));
    sd_job_policy_init(&c);
    sd_job_policy_merge(&p, &c, SD_JP_RECIPIENTS); /* cleared */
    assert_null(sd_job_policy_check_prepare(&p, NULL, 0));
    assert_null(sd_job_policy_check_prepare(&p, "age", 2)); /* an agent may still encrypt */
    assert_non_null(sd_job_policy_check_prepare(&p, NULL, 1));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_recipients),
        cmocka_unit_test(test_stored_form),
        cmocka_unit_test(test_ionice_and_rate),
        cmocka_unit_test(test_merge_and_prepare),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
