/* test_agent_proto.c - the agent's pure parts: intervals, protocol answers, job spec, URL check. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "agent/proto.h"
#include "core/dburl.h"
#include "core/util.h"
#include "source/source.h"

static void test_interval(void **state)
{
    assert_int_equal(dp_proto_interval_ms(300), 300000);
    assert_int_equal(dp_proto_interval_ms(287.4), 287400);
    assert_int_equal(dp_proto_interval_ms(0), DP_INTERVAL_MIN_MS);
    assert_int_equal(dp_proto_interval_ms(1e12), DP_INTERVAL_MAX_MS);
    assert_int_equal(dp_proto_interval_ms(-1), -1);
    assert_int_equal(dp_proto_interval_ms(0.0 / 0.0), -1);
}

static void test_ids(void **state)
{
    assert_true(dp_proto_valid_id("a_7f3c9e"));
    assert_false(dp_proto_valid_id(""));
    assert_false(dp_proto_valid_id("a/b"));
    assert_false(dp_proto_valid_id("a b"));
    assert_false(dp_proto_valid_id("a\"b"));
    char longid[80];
    memset(longid, 'a', sizeof longid - 1);
    longid[79] = 0;
    assert_false(dp_proto_valid_id(longid));
}

static void test_register_json_has_no_password(void **state)
{
    dp_agent_db dbs[2] = {{.url = "postgres://shop:s3cret@db1:5432/shop", .key = "primary"},
                          {.url = "redis://:hunter2@127.0.0.1:6379/0"}};
    dp_register_req r = {.hostname = "web-1", .pid = 42, .environment = "production", .dbs = dbs, .ndbs = 2};
    char *j = dp_proto_register_json(&r);
    assert_non_null(j);
    assert_null(strstr(j, "s3cret"));
    assert_null(strstr(j, "hunter2"));
    assert_null(strstr(j, "password"));
    assert_non_null(strstr(j, "\"type\":\"postgresql\""));
    assert_non_null(strstr(j, "\"key\":\"primary\""));
    assert_non_null(strstr(j, "\"user\":\"shop\""));
    assert_non_null(strstr(j, "\"port\":5432"));
    assert_non_null(strstr(j, "\"pid\":42"));
    assert_null(strstr(j, "capabilities")); /* an agent that runs no drills says nothing */
    free(j);
    r.drill = 1;
    j = dp_proto_register_json(&r);
    assert_non_null(strstr(j, "\"capabilities\":[\"drill\"]"));
    free(j);
    dp_agent_db bad = {.url = "nope://x"};
    r.dbs = &bad;
    r.ndbs = 1;
    assert_null(dp_proto_register_json(&r));
}

static void test_parse_register(void **state)
{
    const char *ok = "{\"agent_id\":\"a_1\",\"role\":\"primary\",\"interval\":287.4,\"lease\":900,"
                     "\"limits\":{\"max_filesize\":1099511627776,\"max_part_size\":67108864,\"max_parts\":10000},"
                     "\"databases\":[{\"key\":\"primary\",\"id\":\"d_12\"}],\"unknown\":[1,2]}";
    dp_register_resp r;
    dp_err e = {0};
    assert_int_equal(dp_proto_parse_register(ok, strlen(ok), 1, &r, &e), 0);
    assert_string_equal(r.agent_id, "a_1");
    assert_int_equal(r.role, DP_ROLE_PRIMARY);
    assert_int_equal(r.interval_ms, 287400);
    assert_true(r.limits.max_filesize == 1099511627776ULL);
    assert_string_equal(r.db_ids[0], "d_12");
    dp_register_resp_free(&r);
    /* database count mismatch, bad role, bad id, garbage, oversize, wrong types */
    const char *bad[] = {
        "{\"agent_id\":\"a_1\",\"role\":\"primary\",\"interval\":1,\"databases\":[]}",
        "{\"agent_id\":\"a_1\",\"role\":\"boss\",\"interval\":1,\"databases\":[{\"id\":\"d\"}]}",
        "{\"agent_id\":\"../x\",\"role\":\"primary\",\"interval\":1,\"databases\":[{\"id\":\"d\"}]}",
        "{\"agent_id\":\"a\",\"role\":\"primary\",\"interval\":\"1\",\"databases\":[{\"id\":\"d\"}]}",
        "{\"agent_id\":\"a\",\"role\":\"primary\",\"interval\":1,\"databases\":[{\"id\":7}]}",
        "{\"agent_id\":\"a\",\"role\":\"primary\",\"interval\":1,\"limits\":{\"max_filesize\":-5},\"databases\":[{\"id\":\"d\"}]}",
        "{\"agent_id\":\"a\",\"role\":\"primary\",\"interval\":1,\"limits\":7,\"databases\":[{\"id\":\"d\"}]}",
        "[1,2,3]", "\x01\x02garbage", "{\"agent_id\":", "",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        dp_err e2 = {0};
        assert_int_not_equal(dp_proto_parse_register(bad[i], strlen(bad[i]), 1, &r, &e2), 0);
        assert_int_equal(e2.code, DUMPER_EPROTO);
        assert_non_null(strstr(e2.msg, "register answer"));
        assert_null(r.db_ids);
    }
    char *huge = malloc(DP_API_MAX_RESPONSE + 10);
    memset(huge, ' ', DP_API_MAX_RESPONSE + 9);
    huge[0] = '{';
    huge[DP_API_MAX_RESPONSE + 8] = '}';
    huge[DP_API_MAX_RESPONSE + 9] = 0;
    dp_err e3 = {0};
    assert_int_equal(dp_proto_parse_register(huge, strlen(huge), 0, &r, &e3), DUMPER_EPROTO);
    assert_non_null(strstr(e3.msg, "oversized"));
    free(huge);
}

static void test_parse_poll(void **state)
{
    const char *nojob = "{\"role\":\"secondary\",\"interval\":3600,\"job\":null}";
    dp_poll_resp p;
    dp_err e = {0};
    assert_int_equal(dp_proto_parse_poll(nojob, strlen(nojob), &p, &e), 0);
    assert_int_equal(p.role, DP_ROLE_SECONDARY);
    assert_int_equal(p.interval_ms, 3600000);
    assert_false(p.has_job);
    const char *job = "{\"role\":\"primary\",\"interval\":60,\"job\":{\"job_id\":\"j_88\",\"database_id\":\"d_12\","
                      "\"database_key\":\"primary\",\"reason\":\"schedule\",\"attempt\":1}}";
    assert_int_equal(dp_proto_parse_poll(job, strlen(job), &p, &e), 0);
    assert_true(p.has_job);
    assert_string_equal(p.job.job_id, "j_88");
    assert_string_equal(p.job.database_id, "d_12");
    assert_string_equal(p.job.database_key, "primary");
    assert_string_equal(p.job.reason, "schedule");
    const char *bad[] = {"{\"role\":\"primary\",\"interval\":60,\"job\":{\"database_id\":\"d\"}}",
                         "{\"role\":\"primary\",\"interval\":60,\"job\":\"now\"}",
                         "{\"role\":\"primary\",\"interval\":-1}", "{\"interval\":60}", "null"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        dp_err e2 = {0};
        assert_int_equal(dp_proto_parse_poll(bad[i], strlen(bad[i]), &p, &e2), DUMPER_EPROTO);
    }
}

/* Drill jobs: "kind": "drill" with the backup; an unknown kind or a bad backup refuses the whole answer, so no
 * job this agent does not know runs as a backup. */
#define SHA "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
static void test_parse_poll_drill(void **state)
{
    (void)state;
    static const char sha[] = SHA;
    char body[1024];
    dp_poll_resp p;
    dp_err e = {0};
    snprintf(body, sizeof body,
             "{\"role\":\"primary\",\"interval\":1,\"job\":{\"job_id\":\"j_9\",\"database_id\":\"d_1\",\"type\":\"sqlite\","
             "\"reason\":\"after-backup\",\"kind\":\"drill\",\"drill\":{\"backup_id\":\"b_7\","
             "\"file_name\":\"shop-production-app-20261126T100500.123Z-b7.sql.zst\",\"sha256\":\"%s\"}}}",
             sha);
    assert_int_equal(dp_proto_parse_poll(body, strlen(body), &p, &e), 0);
    assert_int_equal(p.job.kind, DP_JOB_DRILL);
    assert_string_equal(p.job.backup_id, "b_7");
    assert_string_equal(p.job.file_name, "shop-production-app-20261126T100500.123Z-b7.sql.zst");
    assert_string_equal(p.job.sha256, sha);
    assert_string_equal(p.job.type, "sqlite");
    assert_string_equal(p.job.reason, "after-backup");
    assert_int_equal(p.job.lease_ms, 0); /* no "lease": no renewal */
    /* "lease" in seconds: 1..864000 is kept (ms), anything else ignored (no renewal, the job still runs) */
    const char *leases[] = {"3", "1", "864000", "0.5", "864001", "-1", "\"60\"", "null"};
    const int64_t want[] = {3000, 1000, 864000000, 0, 0, 0, 0, 0};
    for (size_t i = 0; i < sizeof leases / sizeof *leases; i++) {
        char b[256];
        snprintf(b, sizeof b, "{\"role\":\"primary\",\"interval\":1,\"job\":{\"job_id\":\"j_9\",\"database_id\":\"d_1\","
                 "\"lease\":%s}}", leases[i]);
        assert_int_equal(dp_proto_parse_poll(b, strlen(b), &p, &e), 0);
        assert_int_equal(p.job.lease_ms, want[i]);
    }
    const char *backup = "{\"role\":\"primary\",\"interval\":1,\"job\":{\"job_id\":\"j_9\",\"database_id\":\"d_1\","
                         "\"kind\":\"backup\"}}";
    assert_int_equal(dp_proto_parse_poll(backup, strlen(backup), &p, &e), 0);
    assert_int_equal(p.job.kind, DP_JOB_BACKUP);
    const char *bad[] = {"\"kind\":\"restore\"", "\"kind\":7", "\"kind\":\"drill\"",
                         "\"kind\":\"drill\",\"drill\":{\"backup_id\":\"b_7\",\"file_name\":\"../x\",\"sha256\":\"" SHA "\"}",
                         "\"kind\":\"drill\",\"drill\":{\"backup_id\":\"b_7\",\"file_name\":\"a/b\",\"sha256\":\"" SHA "\"}",
                         "\"kind\":\"drill\",\"drill\":{\"backup_id\":\"b/7\",\"file_name\":\"x\",\"sha256\":\"" SHA "\"}",
                         "\"kind\":\"drill\",\"drill\":{\"backup_id\":\"b_7\",\"file_name\":\"x\",\"sha256\":\"ABC\"}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char whole[1024];
        dp_err e2 = {0};
        snprintf(whole, sizeof whole, "{\"role\":\"primary\",\"interval\":1,\"job\":{\"job_id\":\"j_9\","
                 "\"database_id\":\"d_1\",%s}}", bad[i]);
        assert_int_equal(dp_proto_parse_poll(whole, strlen(whole), &p, &e2), DUMPER_EPROTO);
        assert_non_null(strstr(e2.msg, i < 2 ? "unknown job kind" : "bad 'drill'"));
    }
    /* file names: plain, at most DP_JOB_FILE_NAME_MAX */
    char name[DP_JOB_FILE_NAME_MAX + 2];
    memset(name, 'a', sizeof name - 1);
    name[sizeof name - 1] = 0;
    assert_false(dp_proto_valid_file_name(name));
    name[DP_JOB_FILE_NAME_MAX] = 0;
    assert_true(dp_proto_valid_file_name(name));
    assert_false(dp_proto_valid_file_name(".."));
    assert_false(dp_proto_valid_file_name(""));
    assert_false(dp_proto_valid_file_name(".hidden"));
}

/* A drill's spec: no source URL, the backup, the scratch server's secrets; round trip and refusals. */
static void test_job_spec_drill(void **state)
{
    (void)state;
    static const char sha[] = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    dp_job_spec s = {.api_base = "http://127.0.0.1:8477", .app_key = "dk_abc", .agent_id = "a_1", .job_id = "j_2",
                     .kind = DP_JOB_DRILL, .backup_id = "b_3", .file_name = "f.sql.zst", .sha256 = (char *)sha,
                     .source_type = "postgresql", .scratch_url = "postgres://drill@s/postgres",
                     .scratch_password = "s3cret"};
    char *j = dp_job_spec_to_json(&s);
    assert_non_null(j);
    dp_job_spec t;
    dp_err e = {0};
    assert_int_equal(dp_job_spec_parse(j, strlen(j), &t, &e), 0);
    assert_int_equal(t.kind, DP_JOB_DRILL);
    assert_null(t.db_url);
    assert_string_equal(t.backup_id, "b_3");
    assert_string_equal(t.file_name, "f.sql.zst");
    assert_string_equal(t.sha256, sha);
    assert_string_equal(t.source_type, "postgresql");
    assert_string_equal(t.scratch_url, "postgres://drill@s/postgres");
    assert_string_equal(t.scratch_password, "s3cret");
    dp_job_spec_free(&t);
    dp_free_secret(j);
    const char *bad[] = {
        "{\"api_base\":\"http://x\",\"app_key\":\"k\",\"agent_id\":\"a\",\"job_id\":\"j\",\"kind\":\"drill\"}",
        "{\"api_base\":\"http://x\",\"app_key\":\"k\",\"agent_id\":\"a\",\"job_id\":\"j\",\"kind\":\"nope\",\"db_url\":\"sqlite:x\"}",
        "{\"api_base\":\"http://x\",\"app_key\":\"k\",\"agent_id\":\"a\",\"job_id\":\"j\",\"kind\":\"drill\",\"backup_id\":\"b_1\","
        "\"file_name\":\"../f\",\"sha256\":\"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\"}",
        "{\"api_base\":\"http://x\",\"app_key\":\"k\",\"agent_id\":\"a\",\"job_id\":\"j\"}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        dp_err e2 = {0};
        assert_int_equal(dp_job_spec_parse(bad[i], strlen(bad[i]), &t, &e2), DUMPER_EUSAGE);
    }
}

/* The drill identities (paths only: at most DP_JOB_MAX_IDENTITIES, absolute, printable) and the lease. */
static void test_job_spec_identities(void **state)
{
    (void)state;
    static const char sha[] = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    char *paths[DP_JOB_MAX_IDENTITIES + 1];
    char names[DP_JOB_MAX_IDENTITIES + 1][16];
    for (int i = 0; i <= DP_JOB_MAX_IDENTITIES; i++) {
        snprintf(names[i], sizeof names[i], "/k/%d.key", i);
        paths[i] = names[i];
    }
    dp_job_spec s = {.api_base = "http://x", .app_key = "k", .agent_id = "a_1", .job_id = "j_2", .kind = DP_JOB_DRILL,
                     .backup_id = "b_3", .file_name = "f.sql.zst", .sha256 = (char *)sha, .identities = paths,
                     .nidentities = DP_JOB_MAX_IDENTITIES, .lease_ms = 3000};
    char *j = dp_job_spec_to_json(&s);
    assert_non_null(j);
    assert_null(strstr(j, "AGE-SECRET"));
    dp_job_spec t;
    dp_err e = {0};
    assert_int_equal(dp_job_spec_parse(j, strlen(j), &t, &e), 0); /* at the limit */
    assert_int_equal(t.nidentities, DP_JOB_MAX_IDENTITIES);
    assert_string_equal(t.identities[DP_JOB_MAX_IDENTITIES - 1], "/k/7.key");
    assert_int_equal(t.lease_ms, 3000);
    dp_job_spec_free(&t);
    dp_free_secret(j);
    s.nidentities = DP_JOB_MAX_IDENTITIES + 1; /* past it */
    j = dp_job_spec_to_json(&s);
    assert_int_equal(dp_job_spec_parse(j, strlen(j), &t, &e), DUMPER_EUSAGE);
    assert_string_equal(e.msg, "invalid job spec: bad 'identities'");
    dp_free_secret(j);
    const char *bad[] = {"[]", "[\"rel.key\"]", "[\"/a\\nb\"]", "[1]", "[\"\"]", "{}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *doc = dp_asprintf("{\"api_base\":\"http://x\",\"app_key\":\"k\",\"agent_id\":\"a\",\"job_id\":\"j\","
                                "\"kind\":\"drill\",\"backup_id\":\"b_1\",\"file_name\":\"f\",\"sha256\":\"%s\","
                                "\"identities\":%s}",
                                sha, bad[i]);
        dp_err e2 = {0};
        assert_int_equal(dp_job_spec_parse(doc, strlen(doc), &t, &e2), DUMPER_EUSAGE);
        assert_string_equal(e2.msg, "invalid job spec: bad 'identities'");
        free(doc);
    }
    const char *lease = "{\"api_base\":\"http://x\",\"app_key\":\"k\",\"agent_id\":\"a\",\"job_id\":\"j\",\"db_url\":"
                        "\"sqlite:x\",\"lease_ms\":-1}";
    assert_int_equal(dp_job_spec_parse(lease, strlen(lease), &t, &e), DUMPER_EUSAGE);
}

static void test_error_message(void **state)
{
    char out[64];
    const char *b = "{\"error\":\"unauthorized\",\"message\":\"bad\\nkey\"}";
    dp_proto_error_message(b, strlen(b), out, sizeof out);
    assert_string_equal(out, "bad?key");
    dp_proto_error_message("garbage", 7, out, sizeof out);
    assert_string_equal(out, "");
    b = "{\"error\":\"not_found\"}";
    dp_proto_error_message(b, strlen(b), out, sizeof out);
    assert_string_equal(out, "not_found");
}

static void test_job_spec_roundtrip(void **state)
{
    dp_job_spec s = {.api_base = "http://127.0.0.1:8477", .app_key = "dk_abc", .agent_id = "a_1", .job_id = "j_2",
                     .database_id = "d_3", .db_url = "postgres://u:pw@h/db", .format = "dump",
                     .custom_options = "--no-owner", .max_filesize = 1ULL << 40, .max_part_size = 1 << 26,
                     .max_parts = 10000, .debug = 1};
    char *j = dp_job_spec_to_json(&s);
    assert_non_null(j);
    dp_job_spec t;
    dp_err e = {0};
    assert_int_equal(dp_job_spec_parse(j, strlen(j), &t, &e), 0);
    assert_string_equal(t.api_base, s.api_base);
    assert_string_equal(t.app_key, "dk_abc");
    assert_string_equal(t.db_url, "postgres://u:pw@h/db");
    assert_string_equal(t.format, "dump");
    assert_string_equal(t.custom_options, "--no-owner");
    assert_true(t.max_filesize == 1ULL << 40);
    assert_int_equal(t.debug, 1);
    assert_null(t.ca_file);
    dp_job_spec_free(&t);
    dp_free_secret(j);
    const char *bad[] = {"{}", "[]", "{\"api_base\":\"ftp://x\",\"app_key\":\"k\",\"agent_id\":\"a\",\"job_id\":\"j\",\"db_url\":\"sqlite:x\"}",
                         "{\"api_base\":\"http://x\",\"app_key\":\"k\",\"agent_id\":\"a/b\",\"job_id\":\"j\",\"db_url\":\"sqlite:x\"}",
                         "{\"api_base\":\"http://x\",\"app_key\":7,\"agent_id\":\"a\",\"job_id\":\"j\",\"db_url\":\"sqlite:x\"}",
                         "{\"api_base\":\"http://x\",\"app_key\":\"k\",\"agent_id\":\"a\",\"job_id\":\"j\",\"db_url\":\"sqlite:x\",\"max_filesize\":-1}",
                         "{\"api_base\":\"http://x\",\"app_key\":\"k\",\"agent_id\":\"a\",\"job_id\":\"j\",\"db_url\":\"sqlite:x\",\"debug\":\"yes\"}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        dp_err e2 = {0};
        assert_int_equal(dp_job_spec_parse(bad[i], strlen(bad[i]), &t, &e2), DUMPER_EUSAGE);
        assert_non_null(strstr(e2.msg, "invalid job spec"));
        assert_null(strstr(e2.msg, "k\""));
    }
}

/* A poll answer's job with the app's policy (n recipients; bounded at 16; a bad member refuses the job). */
static char *poll_with(int n, const char *extra)
{
    static const char k[] = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p";
    dp_buf b = {0};
    dp_buf_puts(&b, "{\"role\":\"primary\",\"interval\":60,\"job\":{\"job_id\":\"j_1\",\"database_id\":\"d_1\","
                    "\"recipients\":[");
    for (int i = 0; i < n; i++) {
        dp_buf_puts(&b, i ? ",\"" : "\"");
        dp_buf_puts(&b, k);
        dp_buf_puts(&b, "\"");
    }
    dp_buf_puts(&b, "]");
    dp_buf_puts(&b, extra);
    dp_buf_puts(&b, "}}");
    return b.data;
}

static void test_job_policy(void **state)
{
    dp_poll_resp p;
    dp_err e = {0};
    char *j = poll_with(0, "");
    assert_int_equal(dp_proto_parse_poll(j, strlen(j), &p, &e), 0);
    assert_int_equal(p.job.policy.nrecipients, 0);
    assert_int_equal(p.job.policy.nice, DP_PRIO_UNSET);
    assert_int_equal(p.job.policy.ioclass, DP_PRIO_UNSET);
    assert_true(p.job.policy.limit_rate == 0);
    free(j);
    j = poll_with(DP_JOB_MAX_RECIPIENTS, ",\"nice\":10,\"ionice\":\"best-effort:7\",\"limit_rate\":1048576");
    assert_int_equal(dp_proto_parse_poll(j, strlen(j), &p, &e), 0); /* at the bound */
    assert_int_equal(p.job.policy.nrecipients, DP_JOB_MAX_RECIPIENTS);
    assert_string_equal(p.job.policy.recipients[15], "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p");
    assert_int_equal(p.job.policy.nice, 10);
    assert_int_equal(p.job.policy.ioclass, DP_IOPRIO_BE);
    assert_int_equal(p.job.policy.iolevel, 7);
    assert_true(p.job.policy.limit_rate == 1048576);
    free(j);
    j = poll_with(DP_JOB_MAX_RECIPIENTS + 1, ""); /* past it */
    dp_err e4 = {0};
    assert_int_equal(dp_proto_parse_poll(j, strlen(j), &p, &e4), DUMPER_EPROTO);
    assert_string_equal(e4.msg, "invalid poll answer from the control plane: bad 'recipients'");
    free(j);
    const char *bad_extra[] = {",\"nice\":20", ",\"nice\":-1", ",\"nice\":1.5", ",\"nice\":\"5\"",
                               ",\"ionice\":\"realtime\"", ",\"ionice\":\"be:8\"", ",\"ionice\":3",
                               ",\"limit_rate\":1023", ",\"limit_rate\":1e300", ",\"limit_rate\":\"10M\""};
    for (size_t i = 0; i < sizeof bad_extra / sizeof *bad_extra; i++) {
        dp_err e2 = {0};
        j = poll_with(1, bad_extra[i]);
        assert_int_equal(dp_proto_parse_poll(j, strlen(j), &p, &e2), DUMPER_EPROTO);
        assert_non_null(strstr(e2.msg, "invalid poll answer from the control plane: bad '"));
        free(j);
    }
    const char *bad_keys[] = {"\"AGE-SECRET-KEY-1QQ\"", "\"ssh-ed25519 AAAA\"", "7", "null",
                              "\"age1QL3Z7HJY54PW3HYWW5AYYFG7ZQGVC7W3J2ELW8ZMRJ2KG5SFN9AQMCAC8P\"",
                              "\"age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8\"",
                              "\"age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8pp\"",
                              "\"age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcacbo\""}; /* 'o': not Bech32 */
    for (size_t i = 0; i < sizeof bad_keys / sizeof *bad_keys; i++) {
        char body[512];
        snprintf(body, sizeof body,
                 "{\"role\":\"primary\",\"interval\":60,\"job\":{\"job_id\":\"j_1\",\"database_id\":\"d_1\","
                 "\"recipients\":[%s]}}", bad_keys[i]);
        dp_err e2 = {0};
        assert_int_equal(dp_proto_parse_poll(body, strlen(body), &p, &e2), DUMPER_EPROTO);
    }
    const char *notarr = "{\"role\":\"primary\",\"interval\":60,\"job\":{\"job_id\":\"j_1\",\"database_id\":\"d_1\","
                         "\"recipients\":\"age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p\"}}";
    dp_err e5 = {0};
    assert_int_equal(dp_proto_parse_poll(notarr, strlen(notarr), &p, &e5), DUMPER_EPROTO);

    /* the job spec carries them; its parser is as strict */
    dp_job_spec s = {.api_base = "http://x", .app_key = "k", .agent_id = "a", .job_id = "j", .db_url = "sqlite:x",
                     .nrecipients = 2};
    memcpy(s.recipients[0], "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p", DP_JOB_RECIPIENT_LEN + 1);
    memcpy(s.recipients[1], "age1lggyhqrw2nlhcxprm67z43rta597azn8gknawjehu9d9dl0jq3yqqvfafg", DP_JOB_RECIPIENT_LEN + 1);
    char *sj = dp_job_spec_to_json(&s);
    dp_job_spec t;
    assert_int_equal(dp_job_spec_parse(sj, strlen(sj), &t, &e), 0);
    assert_int_equal(t.nrecipients, 2);
    assert_string_equal(t.recipients[1], s.recipients[1]);
    dp_job_spec_free(&t);
    dp_free_secret(sj);
    s.nrecipients = 0;
    sj = dp_job_spec_to_json(&s);
    assert_null(strstr(sj, "recipients")); /* plaintext: the member is left out */
    dp_free_secret(sj);
    const char *bad_spec = "{\"api_base\":\"http://x\",\"app_key\":\"k\",\"agent_id\":\"a\",\"job_id\":\"j\","
                           "\"db_url\":\"sqlite:x\",\"recipients\":[\"ssh-rsa AAAA\"]}";
    dp_err e3 = {0};
    assert_int_equal(dp_job_spec_parse(bad_spec, strlen(bad_spec), &t, &e3), DUMPER_EUSAGE);
    assert_string_equal(e3.msg, "invalid job spec: bad 'recipients'");
}

/* limit_rate: absent/null/0 = no limit, whole numbers up to DP_JOB_LIMIT_RATE_MAX, round trip. */
static void test_job_spec_limit_rate(void **state)
{
    static const char base[] = "{\"api_base\":\"http://x\",\"app_key\":\"k\",\"agent_id\":\"a\",\"job_id\":\"j\","
                               "\"db_url\":\"sqlite:x\"";
    struct {
        const char *v; /* NULL: absent */
        int ok;
        uint64_t want;
    } cases[] = {{NULL, 1, 0},        {"null", 1, 0},        {"0", 1, 0},           {"1", 1, 1},
                 {"1048576", 1, 1048576}, {"1099511627776", 1, DP_JOB_LIMIT_RATE_MAX},
                 {"1099511627777", 0, 0}, {"1e300", 0, 0},    {"-1", 0, 0},          {"1.5", 0, 0},
                 {"\"1M\"", 0, 0},      {"true", 0, 0},     {"[1]", 0, 0}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char json[512];
        if (cases[i].v)
            snprintf(json, sizeof json, "%s,\"limit_rate\":%s}", base, cases[i].v);
        else
            snprintf(json, sizeof json, "%s}", base);
        dp_job_spec t;
        dp_err e = {0};
        int rc = dp_job_spec_parse(json, strlen(json), &t, &e);
        if (cases[i].ok) {
            if (rc || t.limit_rate != cases[i].want)
                fail_msg("limit_rate %s: rc %d, %llu (%s)", cases[i].v ? cases[i].v : "absent", rc,
                         (unsigned long long)t.limit_rate, e.msg);
            dp_job_spec_free(&t);
        } else {
            if (rc != DUMPER_EUSAGE)
                fail_msg("limit_rate %s accepted", cases[i].v);
            assert_string_equal(e.msg, "invalid job spec: bad 'limit_rate' (bytes per second, 0..1099511627776)");
        }
    }
    dp_job_spec s = {.api_base = "http://x", .app_key = "k", .agent_id = "a", .job_id = "j", .db_url = "sqlite:x",
                     .limit_rate = DP_JOB_LIMIT_RATE_MAX};
    char *j = dp_job_spec_to_json(&s);
    assert_non_null(strstr(j, "\"limit_rate\":1099511627776"));
    dp_job_spec t;
    dp_err e = {0};
    assert_int_equal(dp_job_spec_parse(j, strlen(j), &t, &e), 0);
    assert_true(t.limit_rate == DP_JOB_LIMIT_RATE_MAX);
    dp_job_spec_free(&t);
    dp_free_secret(j);
    s.limit_rate = 0; /* no limit: not in the spec at all */
    j = dp_job_spec_to_json(&s);
    assert_null(strstr(j, "limit_rate"));
    dp_free_secret(j);
}

/* Which priority a job gets: the agent's own setting, else the app's, else nice 10 and I/O best-effort 7. */
static void test_job_priority(void **state)
{
    dp_job_prio p;
    dp_job_policy app = {.nice = DP_PRIO_UNSET, .ioclass = DP_PRIO_UNSET};
    dp_job_priority(DP_PRIO_UNSET, DP_PRIO_UNSET, 0, NULL, &p);
    assert_int_equal(p.nice, 10);
    assert_int_equal(p.ioclass, DP_IOPRIO_BE);
    assert_int_equal(p.iolevel, 7);
    dp_job_priority(DP_PRIO_UNSET, DP_PRIO_UNSET, 0, &app, &p);
    assert_int_equal(p.nice, 10);
    assert_int_equal(p.ioclass, DP_IOPRIO_BE);
    assert_int_equal(p.iolevel, 7);
    app.ioclass = DP_IOPRIO_IDLE;
    dp_job_priority(DP_PRIO_UNSET, DP_PRIO_UNSET, 0, &app, &p);
    assert_int_equal(p.ioclass, DP_IOPRIO_IDLE);
    app.nice = 15;
    app.ioclass = DP_IOPRIO_BE;
    app.iolevel = 6;
    dp_job_priority(DP_PRIO_UNSET, DP_PRIO_UNSET, 0, &app, &p);
    assert_int_equal(p.nice, 15);
    assert_int_equal(p.ioclass, DP_IOPRIO_BE);
    assert_int_equal(p.iolevel, 6);
    dp_job_priority(5, DP_IOPRIO_BE, 3, &app, &p); /* the agent wins */
    assert_int_equal(p.nice, 5);
    assert_int_equal(p.iolevel, 3);
    dp_job_priority(0, DP_IOPRIO_NONE, 0, &app, &p); /* the agent keeps the host's */
    assert_int_equal(p.nice, 0);
    assert_int_equal(p.ioclass, DP_IOPRIO_NONE);
    int c = -5, l = -5;
    assert_int_equal(dp_proto_parse_ionice("be", &c, &l), 0);
    assert_int_equal(c, DP_IOPRIO_BE);
    assert_int_equal(l, 4);
    assert_int_equal(dp_proto_parse_ionice("none", &c, &l), 0);
    assert_int_equal(c, DP_IOPRIO_NONE);
    assert_int_equal(dp_proto_parse_ionice("realtime", &c, &l), -1);
    assert_int_equal(dp_proto_parse_ionice("best-effort:8", &c, &l), -1);
    assert_int_equal(dp_proto_parse_ionice(NULL, &c, &l), -1);
}

/* The agent accepts a database URL without loading any driver into the host: every scheme the URL
 * parser knows must be one the engine (the `dumper` executable that runs jobs) backs up. */
static void test_schemes_have_drivers(void **state)
{
    static const char *urls[] = {"sqlite:x.db",        "sqlite3:x.db",        "postgres://h/d",  "postgresql://h/d",
                                 "postgis://h/d",      "mysql://h/d",         "mysql2://h/d",    "mariadb://h/d",
                                 "trilogy://h/d",      "redis://h/0",         "rediss://h/0",    "mongodb://h/d",
                                 "mongodb+srv://h/d"};
    int seen[DP_DB__COUNT] = {0};
    for (size_t i = 0; i < sizeof urls / sizeof urls[0]; i++) {
        dp_dburl u;
        dp_err err = {0};
        if (dp_dburl_parse(urls[i], &u, &err))
            fail_msg("%s: %s", urls[i], err.msg);
        const dp_source_driver *d = dp_source_for(u.type);
        assert_non_null(d);
        assert_true(d->features & DP_SOURCE_FEAT_BACKUP);
        seen[u.type] = 1;
        dp_dburl_free(&u);
    }
    for (int t = 0; t < DP_DB__COUNT; t++)
        assert_true(seen[t]);
    /* and the URL check of dumper_agent_start() refuses what the parser refuses, with its message */
    char log[] = "/tmp/dumper-test-agent-proto-XXXXXX";
    int fd = mkstemp(log);
    assert_true(fd >= 0);
    close(fd);
    dumper_agent_opts o = DUMPER_AGENT_OPTS_INIT;
    o.app_key = "dk_x";
    o.api_base = "http://127.0.0.1:1";
    o.log_file = log;
    dumper_database db = {.url = "nope://h/d"};
    o.databases = &db;
    o.ndatabases = 1;
    assert_int_equal(dumper_agent_start(&o), DUMPER_EUSAGE);
    char buf[1024] = "";
    fd = open(log, O_RDONLY);
    assert_true(read(fd, buf, sizeof buf - 1) > 0);
    close(fd);
    unlink(log);
    if (!strstr(buf, "agent not started: database 1: malformed database url 'nope://h/d': unknown scheme"))
        fail_msg("%s", buf);
}

static void test_fail_codes(void **state)
{
    assert_string_equal(dp_proto_fail_code(DUMPER_ETOOLARGE), "too_large");
    assert_string_equal(dp_proto_fail_code(DUMPER_ESOURCE), "source_failed");
    assert_string_equal(dp_proto_fail_code(12345), "internal");
}

static void test_public_api_validation(void **state)
{
    /* invalid options are refused without starting anything */
    assert_int_equal(dumper_agent_start(NULL), DUMPER_EUSAGE);
    dumper_agent_opts o = DUMPER_AGENT_OPTS_INIT;
    o.log_file = "/dev/null";
    assert_int_equal(dumper_agent_start(&o), DUMPER_EUSAGE); /* no key */
    o.app_key = "dk_x";
    o.api_base = "ftp://x";
    assert_int_equal(dumper_agent_start(&o), DUMPER_EUSAGE);
    o.api_base = "http://127.0.0.1:1";
    dumper_database db = {.url = "nope://"};
    o.databases = &db;
    o.ndatabases = 1;
    assert_int_equal(dumper_agent_start(&o), DUMPER_EUSAGE);
    o.environment = "bad env";
    db.url = "sqlite:x.db";
    assert_int_equal(dumper_agent_start(&o), DUMPER_EUSAGE);
    dumper_agent_status st = {.size = sizeof st};
    assert_int_equal(dumper_agent_status_get(&st), 0);
    assert_int_equal(st.running, 0);
    assert_int_equal(dumper_agent_stop(), DUMPER_ENOENT);
    /* start (nothing listens on port 1: it retries), busy, stop within a second */
    o.environment = NULL;
    assert_int_equal(dumper_agent_start(&o), 0);
    assert_int_equal(dumper_agent_start(&o), DUMPER_EBUSY);
    assert_int_equal(dumper_agent_status_get(&st), 0);
    assert_int_equal(st.running, 1);
    int64_t t0 = dp_mono_ms();
    assert_int_equal(dumper_agent_stop(), 0);
    assert_true(dp_mono_ms() - t0 < 1500);
    assert_int_equal(dumper_agent_status_get(&st), 0);
    assert_int_equal(st.running, 0);
    assert_string_equal(dumper_agent_role_name(DUMPER_AGENT_PRIMARY), "primary");
}

/* In a forked child no agent runs, nothing is locked, and the child may start its own; the
 * parent's agent carries on. */
static void test_fork(void **state)
{
    dumper_agent_opts o = DUMPER_AGENT_OPTS_INIT;
    o.app_key = "dk_x";
    o.api_base = "http://127.0.0.1:1";
    o.log_file = "/dev/null";
    assert_int_equal(dumper_agent_start(&o), 0);
    for (int round = 0; round < 20; round++) {
        int pfd[2];
        assert_int_equal(pipe(pfd), 0);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            dumper_agent_status st = {.size = sizeof st};
            int bad = dumper_agent_status_get(&st) != 0 || st.running != 0 || st.role != DUMPER_AGENT_NONE;
            bad |= dumper_agent_stop() != DUMPER_ENOENT;
            bad |= dumper_agent_start(&o) != 0; /* the child may run its own */
            dumper_agent_status_get(&st);
            bad |= st.running != 1;
            bad |= dumper_agent_stop() != 0;
            char verdict = bad ? 'F' : 'K';
            if (write(pfd[1], &verdict, 1) != 1)
                _exit(1);
            /* SIGKILL, not exit: the parent's agent state is deliberately left behind in a child, and
             * if the parent's thread was mid-request its buffers are unreachable here (valgrind
             * would report them as leaks of the child) */
            raise(SIGKILL);
        }
        close(pfd[1]);
        char verdict = 0;
        assert_int_equal(read(pfd[0], &verdict, 1), 1);
        close(pfd[0]);
        assert_int_equal(verdict, 'K');
        int status = 0;
        assert_int_equal(waitpid(pid, &status, 0), pid);
    }
    dumper_agent_status st = {.size = sizeof st};
    dumper_agent_status_get(&st);
    assert_int_equal(st.running, 1);
    assert_int_equal(dumper_agent_stop(), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_interval),
        cmocka_unit_test(test_ids),             cmocka_unit_test(test_register_json_has_no_password),
        cmocka_unit_test(test_parse_register),  cmocka_unit_test(test_parse_poll), cmocka_unit_test(test_job_policy), cmocka_unit_test(test_job_priority),
        cmocka_unit_test(test_error_message),   cmocka_unit_test(test_job_spec_roundtrip),
        cmocka_unit_test(test_job_spec_identities),
        cmocka_unit_test(test_job_spec_limit_rate),
        cmocka_unit_test(test_parse_poll_drill), cmocka_unit_test(test_job_spec_drill),
        cmocka_unit_test(test_schemes_have_drivers), cmocka_unit_test(test_fail_codes),
        cmocka_unit_test(test_public_api_validation), cmocka_unit_test(test_fork),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
