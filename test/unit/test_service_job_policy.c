/* test_service_job_policy.c - an app's job policy through the service and store layers (server/service/
 * job_policy.c, store/job_policy.c) on SQLite and PostgreSQL: unset by default, a change keeps the fields it
 * does not name, a tampered stored key fails the read (SD_INTERNAL: never a job in plaintext), deleting the app
 * deletes its policy; and the dashboard's request decoder (http/site_policy.c) with bad members. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "http/site_policy.h"
#include "service/admin.h"
#include "service/job_policy.h"
#include "store_fixture.h"

#define K1 "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"

static void policy(int pg)
{
    store_fixture f;
    sd_config cfg;
    sd_ctx ctx;
    dp_err err = {0};
    char key[68], msg[256];
    int64_t app = 0;
    assert_int_equal(store_fixture_open(&f, pg), 0);
    sd_config_defaults(&cfg);
    assert_int_equal(sd_config_paths(&cfg, "/nonexistent", f.url, "/nonexistent/backups"), 0);
    if (sd_ctx_open(&ctx, &cfg, NULL, &err) || sd_schema_migrate(ctx.db, &err))
        fail_msg("%s", err.msg);
    sd_status st = SD_STATUS_INIT;
    assert_int_equal(sd_app_create(&ctx, "shop", key, &app, &st), 0);
    sd_job_policy p, c;
    assert_int_equal(sd_job_policy_get(&ctx, app, &p, &st), 0);
    assert_int_equal(p.nrecipients, 0);
    assert_int_equal(p.nice, SD_NICE_UNSET);
    assert_string_equal(p.ionice, "");
    assert_true(p.limit_rate == 0);

    sd_job_policy_init(&c);
    assert_int_equal(sd_job_policy_add_recipient(&c, K1, msg, sizeof msg), 0);
    c.nice = 12;
    assert_int_equal(sd_job_policy_set(&ctx, app, &c, SD_JP_RECIPIENTS | SD_JP_NICE, &p, &st), 0);
    sd_job_policy_init(&c);
    snprintf(c.ionice, sizeof c.ionice, "best-effort:7");
    c.limit_rate = 1 << 20;
    assert_int_equal(sd_job_policy_set(&ctx, app, &c, SD_JP_IONICE | SD_JP_RATE, &p, &st), 0);
    assert_int_equal(sd_job_policy_get(&ctx, app, &p, &st), 0);
    assert_int_equal(p.nrecipients, 1); /* kept: not named by the second change */
    assert_string_equal(p.recipients[0], K1);
    assert_int_equal(p.nice, 12);
    assert_string_equal(p.ionice, "best-effort:7");
    assert_true(p.limit_rate == 1 << 20);

    /* a tampered store: the read fails rather than handing out a job without its recipients */
    assert_int_equal(sd_q(ctx.db, NULL, &err, "UPDATE app_job_policy SET recipients = 'ssh-rsa AAAA'", ""), 0);
    assert_int_equal(sd_job_policy_get(&ctx, app, &p, &st), -1);
    assert_int_equal(st.outcome, SD_INTERNAL);
    assert_non_null(strstr(st.err.msg, "bad stored recipients"));

    int removed = 0, left = 0;
    st = (sd_status)SD_STATUS_INIT;
    assert_int_equal(sd_app_delete(&ctx, app, 0, &removed, &left, &st), 0);
    sd_res r;
    assert_int_equal(sd_q(ctx.db, &r, &err, "SELECT COUNT(*) FROM app_job_policy", ""), 0);
    assert_int_equal(sd_geti(&r, 0, 0), 0);
    sd_res_free(&r);
    sd_ctx_close(&ctx);
    sd_config_free(&cfg);
    store_fixture_close(&f);
}

static void test_sqlite_policy(void **state) { policy(0); }

static void test_pg_policy(void **state)
{
    if (!store_fixture_have_pg())
        skip();
    policy(1);
}

static void test_decode(void **state)
{
    struct {
        const char *json;
        const char *err; /* NULL: accepted */
        unsigned fields;
    } cases[] = {
        {"{}", NULL, 0},
        {"{\"recipients\":[\"" K1 "\"],\"nice\":null,\"ionice\":\"idle\",\"limit_rate\":\"10M\"}", NULL,
         SD_JP_RECIPIENTS | SD_JP_NICE | SD_JP_IONICE | SD_JP_RATE},
        {"{\"recipients\":null}", NULL, SD_JP_RECIPIENTS},
        {"{\"limit_rate\":65536}", NULL, SD_JP_RATE},
        {"[]", "a JSON object is expected", 0},
        {"{\"recipients\":\"" K1 "\"}", "'recipients' is an array of at most 16 age recipients", 0},
        {"{\"recipients\":[7]}", "'recipients' holds age recipients (age1...)", 0},
        {"{\"recipients\":[\"AGE-SECRET-KEY-1QQQ\"]}", "recipient is a secret key", 0},
        {"{\"nice\":20}", "'nice' is an integer from 0 to 19, or null", 0},
        {"{\"nice\":2.5}", "'nice' is an integer from 0 to 19, or null", 0},
        {"{\"ionice\":\"rt\"}", "invalid I/O priority 'rt'", 0},
        {"{\"ionice\":1}", "'ionice' is idle, best-effort[:0-7], none, or null", 0},
        {"{\"limit_rate\":100}", "invalid rate '100'", 0},
        {"{\"limit_rate\":true}", "'limit_rate' is bytes per second", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        cJSON *j = cJSON_Parse(cases[i].json);
        sd_job_policy c;
        unsigned fields = 99;
        char msg[256] = "";
        int rc = sd_decode_job_policy(j, &c, &fields, msg, sizeof msg);
        if (cases[i].err) {
            if (rc != -1 || !strstr(msg, cases[i].err))
                fail_msg("%s: rc %d, '%s'", cases[i].json, rc, msg);
        } else if (rc || fields != cases[i].fields) {
            fail_msg("%s: rc %d, fields %u, '%s'", cases[i].json, rc, fields, msg);
        }
        cJSON_Delete(j);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sqlite_policy),
        cmocka_unit_test(test_pg_policy),
        cmocka_unit_test(test_decode),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
