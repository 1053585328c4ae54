/*
 * test_http_api_decode.c - the agent API's request bodies as http/api_decode.c reads them (the
 * rules fuzz_dumperd_api checks on any input; here the cases it found). Links dumperd_core.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "domain/names.h"
#include "http/api_decode.h"

static cJSON *parse(const char *s)
{
    cJSON *j = cJSON_Parse(s);
    assert_non_null(j);
    return j;
}

/* A database registered without a key gets a label of at most 64 characters, whatever its name's
 * length: "<type>-" and 60 characters of the name made up to 71 before, a key no dashboard or CLI
 * request (labels of 1-64) could name again. Found by fuzz_dumperd_api. */
static void test_register_derived_key_is_a_label(void **state)
{
    (void)state;
    char body[512], name[81];
    memset(name, 'n', 80);
    name[80] = 0;
    snprintf(body, sizeof body,
             "{\"hostname\":\"web-1\",\"pid\":1,\"environment\":\"production\",\"databases\":["
             "{\"type\":\"postgresql\",\"name\":\"%s\"},{\"type\":\"sqlite\",\"name\":\"app.db\"},"
             "{\"type\":\"redis\"}]}",
             name);
    cJSON *j = parse(body);
    static sd_register_body b;
    sd_status st = SD_STATUS_INIT;
    assert_int_equal(sd_decode_register(j, &b, &st), 0);
    assert_int_equal(b.req.ndbs, 3);
    assert_int_equal(strlen(b.dbs[0].key), 64);
    assert_true(sd_label_valid(b.dbs[0].key, 64));
    assert_int_equal(strncmp(b.dbs[0].key, "postgresql-nnnn", 15), 0);
    assert_string_equal(b.dbs[1].key, "sqlite-app.db");
    assert_string_equal(b.dbs[2].key, "redis-default");
    cJSON_Delete(j);
}

/* An S3 part's etag with a control character is malformed (left NULL for the service to name), DEL
 * included: it was let through (found by fuzz_dumperd_api). */
static void test_commit_etag_control_characters(void **state)
{
    (void)state;
    cJSON *j = parse("{\"size\":1,\"sha256\":\"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\","
                     "\"parts\":[{\"n\":1,\"etag\":\"\\\"ok\\\"\"},{\"n\":2,\"etag\":\"a\\u007fb\"},"
                     "{\"n\":3,\"etag\":\"a\\u001fb\"},{\"n\":5,\"etag\":\"c\"}]}");
    sd_commit_body b;
    sd_status st = SD_STATUS_INIT;
    assert_int_equal(sd_decode_commit(j, 100, &b, &st), 0);
    assert_int_equal(b.req.nparts, 4);
    assert_true(b.req.parts_listed);
    assert_string_equal(b.req.etags[0], "\"ok\"");
    assert_null(b.req.etags[1]);
    assert_null(b.req.etags[2]);
    assert_null(b.req.etags[3]); /* "n" is not 4 */
    sd_commit_body_free(&b);
    cJSON_Delete(j);
}

/* Capabilities (since drills): absent (an old agent: none), "drill" known, unknown names ignored, at most 16
 * names of 1-32 label characters: at and past each limit. */
static void test_register_capabilities(void **state)
{
    (void)state;
    static sd_register_body b;
    static const struct {
        const char *caps;
        int ok;
        int64_t bits;
    } cases[] = {
        {"", 1, 0},
        {",\"capabilities\":null", 1, 0},
        {",\"capabilities\":[]", 1, 0},
        {",\"capabilities\":[\"drill\"]", 1, 1},
        {",\"capabilities\":[\"teleport\",\"drill\",\"x.y-z_1\"]", 1, 1},
        {",\"capabilities\":[\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"drill\"]", 1, 1},
        {",\"capabilities\":[\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"drill\"]", 0, 0},
        {",\"capabilities\":[\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"]", 1, 0},
        {",\"capabilities\":[\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"]", 0, 0},
        {",\"capabilities\":\"drill\"", 0, 0},
        {",\"capabilities\":[7]", 0, 0},
        {",\"capabilities\":[\"dr ill\"]", 0, 0},
        {",\"capabilities\":[\"\"]", 0, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char body[1024];
        snprintf(body, sizeof body, "{\"hostname\":\"web-1\",\"pid\":1,\"environment\":\"production\",\"databases\":[]%s}",
                 cases[i].caps);
        cJSON *j = parse(body);
        sd_status st = SD_STATUS_INIT;
        int rc = sd_decode_register(j, &b, &st);
        if (cases[i].ok) {
            assert_int_equal(rc, 0);
            assert_int_equal(b.req.caps, cases[i].bits);
        } else {
            assert_int_not_equal(rc, 0);
            assert_int_equal(st.outcome, SD_INVALID);
            assert_non_null(strstr(st.err.msg, "field 'capabilities' must"));
        }
        cJSON_Delete(j);
    }
}

/* A drill job's report: the agent's id and the result object. */
static void test_drill_report(void **state)
{
    (void)state;
    int64_t agent = 0;
    const cJSON *result = NULL;
    cJSON *j = parse("{\"agent_id\":\"a_7\",\"result\":{\"status\":\"passed\"}}");
    sd_status st = SD_STATUS_INIT;
    assert_int_equal(sd_decode_drill_report(j, &agent, &result, &st), 0);
    assert_int_equal(agent, 7);
    assert_true(cJSON_IsObject(result));
    cJSON_Delete(j);
    const char *bad[] = {"{\"result\":{}}", "{\"agent_id\":\"a_7\"}", "{\"agent_id\":\"a_7\",\"result\":\"passed\"}",
                         "{\"agent_id\":\"a_7\",\"result\":[]}"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        sd_status s2 = SD_STATUS_INIT;
        j = parse(bad[i]);
        assert_int_not_equal(sd_decode_drill_report(j, &agent, &result, &s2), 0);
        assert_int_equal(s2.outcome, SD_INVALID);
        cJSON_Delete(j);
    }
    j = parse("{\"agent_id\":\"x_7\",\"result\":{}}");
    sd_status s3 = SD_STATUS_INIT;
    assert_int_not_equal(sd_decode_drill_report(j, &agent, &result, &s3), 0);
    assert_int_equal(s3.outcome, SD_NOT_FOUND);
    cJSON_Delete(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_register_derived_key_is_a_label),
        cmocka_unit_test(test_commit_etag_control_characters),
                                       cmocka_unit_test(test_register_capabilities), cmocka_unit_test(test_drill_report),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
