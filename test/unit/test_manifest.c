/* test_manifest.c - the backup manifest: JSON round trip, and every invalid field rejected with
 * DUMPER_ECORRUPT and a message naming the backup. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <cjson/cJSON.h>

#include "core/util.h"
#include "crypto/bech32.h"
#include "io/filter.h"
#include "job/manifest.h"

static const char SHA[] = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

static void fill(dp_manifest *m)
{
    memset(m, 0, sizeof *m);
    m->name = strdup("app-20261126T094500.123Z.sql.zst");
    m->source_type = strdup("sqlite");
    m->format = strdup("sql");
    m->compression = strdup("zstd");
    m->size = 1234567;
    m->raw_size = 7654321;
    memcpy(m->sha256, SHA, 65);
    m->created_ms = 1795686300123; /* 2026-11-26T09:45:00.123Z */
    m->duration_ms = 42;
    m->dumper_version = strdup("0.1.0");
    m->database = strdup("sqlite:///var/app/db.sqlite3");
}

static void test_roundtrip(void **state)
{
    dp_manifest m, back;
    fill(&m);
    char *json = dp_manifest_to_json(&m);
    assert_non_null(json);
    dp_err err = {0};
    assert_int_equal(dp_manifest_parse(json, strlen(json), "x", &back, &err), 0);
    assert_string_equal(back.name, m.name);
    assert_string_equal(back.source_type, "sqlite");
    assert_string_equal(back.format, "sql");
    assert_string_equal(back.compression, "zstd");
    assert_int_equal(back.size, m.size);
    assert_int_equal(back.raw_size, m.raw_size);
    assert_string_equal(back.sha256, SHA);
    assert_int_equal(back.created_ms, m.created_ms); /* milliseconds survive */
    assert_int_equal(back.duration_ms, 42);
    assert_string_equal(back.dumper_version, "0.1.0");
    assert_string_equal(back.database, m.database);
    /* the human-readable time is there too */
    assert_non_null(strstr(json, "\"created_at\":\t\"2026-11-26T09:45:00Z\""));
    dp_manifest_free(&back);
    free(json);

    /* large sizes (> 4 GiB) and a manifest without the optional fields */
    m.size = 5ull << 40;
    m.raw_size = 9000000000000000ull;
    free(m.database);
    m.database = NULL;
    json = dp_manifest_to_json(&m);
    assert_int_equal(dp_manifest_parse(json, strlen(json), "x", &back, &err), 0);
    assert_int_equal(back.size, 5ull << 40);
    assert_int_equal(back.raw_size, 9000000000000000ull);
    assert_null(back.database);
    dp_manifest_free(&back);
    free(json);
    dp_manifest_free(&m);
    dp_manifest_free(NULL);
}

/* A minimal valid manifest, edited field by field. */
static const char BASE[] = "{\"dumper_manifest\":1,\"name\":\"a.sql.zst\",\"source_type\":\"sqlite\",\"format\":\"sql\","
                           "\"compression\":\"zstd\",\"size\":10,\"raw_size\":20,"
                           "\"sha256\":\"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\","
                           "\"created_at\":\"2026-11-26T09:45:00Z\"}";

/* BASE with `field` replaced by raw JSON `value` (NULL removes it). */
static char *edit(const char *field, const char *value)
{
    cJSON *o = cJSON_Parse(BASE);
    assert_non_null(o);
    cJSON_DeleteItemFromObjectCaseSensitive(o, field);
    if (value) {
        cJSON *v = cJSON_Parse(value);
        assert_non_null(v);
        cJSON_AddItemToObject(o, field, v);
    }
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

static void expect_ok(const char *json)
{
    dp_manifest m;
    dp_err err = {0};
    if (dp_manifest_parse(json, strlen(json), "b", &m, &err))
        fail_msg("rejected %s: %s", json, err.msg);
    dp_manifest_free(&m);
}

static void expect_bad(const char *json, size_t len, const char *why)
{
    dp_manifest m;
    dp_err err = {0};
    int rc = dp_manifest_parse(json, len, "app.sql.zst", &m, &err);
    if (rc != DUMPER_ECORRUPT)
        fail_msg("accepted (%d) %.*s", rc, (int)len, json);
    assert_non_null(strstr(err.msg, "manifest of 'app.sql.zst' is invalid"));
    if (why && !strstr(err.msg, why))
        fail_msg("message '%s' lacks '%s' for %.*s", err.msg, why, (int)len, json);
    /* nothing allocated is left in m */
    assert_null(m.name);
    assert_null(m.source_type);
    assert_null(m.format);
}

static void bad_field(const char *field, const char *value, const char *why)
{
    char *s = edit(field, value);
    expect_bad(s, strlen(s), why);
    free(s);
}

static void test_valid_variants(void **state)
{
    expect_ok(BASE);
    char *s = edit("compression", "\"gzip\"");
    expect_ok(s);
    free(s);
    s = edit("compression", "\"none\"");
    expect_ok(s);
    free(s);
    s = edit("size", "0"); /* an empty stored object is possible in theory */
    expect_ok(s);
    free(s);
    s = edit("created_at", "\"2026-11-26T09:45:00.123Z\"");
    expect_ok(s);
    free(s);
    s = edit("unknown_future_field", "{\"x\":[1,2]}"); /* forward compatible */
    expect_ok(s);
    free(s);
    s = edit("duration_ms", "17");
    expect_ok(s);
    free(s);
    /* created_ms, when present, wins over created_at (keeps milliseconds) */
    s = edit("created_ms", "1795686300123");
    dp_manifest m;
    dp_err err = {0};
    assert_int_equal(dp_manifest_parse(s, strlen(s), "b", &m, &err), 0);
    assert_int_equal(m.created_ms, 1795686300123);
    dp_manifest_free(&m);
    free(s);
}

static void test_invalid_fields(void **state)
{
    /* not JSON / not an object */
    expect_bad("", 0, "not a JSON object");
    expect_bad("{", 1, "not a JSON object");
    expect_bad("[]", 2, "not a JSON object");
    expect_bad("null", 4, "not a JSON object");
    expect_bad("\"str\"", 5, "not a JSON object");
    expect_bad("{}", 2, NULL);
    /* the length is honoured: a valid manifest cut short is invalid */
    expect_bad(BASE, strlen(BASE) - 1, "not a JSON object");
    /* trailing garbage after the object */
    char *tg = dp_asprintf("%s garbage", BASE);
    expect_bad(tg, strlen(tg), NULL);
    free(tg);
    tg = dp_asprintf("%s{}", BASE);
    expect_bad(tg, strlen(tg), NULL);
    free(tg);

    /* version */
    bad_field("dumper_manifest", NULL, "version");
    bad_field("dumper_manifest", "2", "version");
    bad_field("dumper_manifest", "0", "version");
    bad_field("dumper_manifest", "\"1\"", "version");
    bad_field("dumper_manifest", "1.5", "version");
    /* required strings: missing, wrong type, empty */
    static const char *const strings[] = {"name", "source_type", "format", "compression", "sha256", "created_at"};
    for (size_t i = 0; i < sizeof strings / sizeof strings[0]; i++) {
        bad_field(strings[i], NULL, NULL);
        bad_field(strings[i], "42", NULL);
        bad_field(strings[i], "null", NULL);
        bad_field(strings[i], "\"\"", NULL);
        bad_field(strings[i], "[\"sqlite\"]", NULL);
    }
    bad_field("compression", "\"lz4\"", "compression");
    bad_field("compression", "\"ZSTD\"", "compression");
    /* sha256: length, case, alphabet */
    bad_field("sha256", "\"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a0\"", "sha256");
    bad_field("sha256", "\"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a088\"", "sha256");
    bad_field("sha256", "\"9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08\"", "sha256");
    bad_field("sha256", "\"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00ag8\"", "sha256");
    /* sizes: missing, negative, fractional, absurd, wrong type */
    static const char *const sizes[] = {"size", "raw_size"};
    for (size_t i = 0; i < 2; i++) {
        bad_field(sizes[i], NULL, "size");
        bad_field(sizes[i], "-1", "size");
        bad_field(sizes[i], "1.5", "size");
        bad_field(sizes[i], "1e300", "size");
        bad_field(sizes[i], "\"10\"", "size");
        bad_field(sizes[i], "true", "size");
    }
    /* time stamps */
    bad_field("created_at", "\"yesterday\"", "created_at");
    bad_field("created_at", "\"2026-11-26 09:45:00\"", "created_at");
    bad_field("created_at", "\"2026-11-26T09:45:00+01:00\"", "created_at");
    bad_field("created_at", "\"2026-11-26T09:45:00Zjunk\"", "created_at");
    bad_field("created_ms", "-5", NULL);
    bad_field("created_ms", "\"x\"", NULL);
    bad_field("created_ms", "1.5", NULL);
    /* year 10000 and later: created_at, written from created_ms, would not read back (found by
     * fuzz_manifest: 1795686300123111 is in the year 58872); the last millisecond of 9999 reads back */
    bad_field("created_ms", "1795686300123111", "created_ms");
    bad_field("created_ms", "253402300800000", "created_ms");
    {
        char *ok = edit("created_ms", "253402300799999");
        dp_manifest m, back;
        dp_err e = {0};
        assert_int_equal(dp_manifest_parse(ok, strlen(ok), "ok", &m, &e), 0);
        char *json = dp_manifest_to_json(&m);
        assert_non_null(json);
        assert_int_equal(dp_manifest_parse(json, strlen(json), "again", &back, &e), 0);
        assert_int_equal(back.created_ms, 253402300799999LL);
        free(json);
        dp_manifest_free(&back);
        dp_manifest_free(&m);
        free(ok);
    }
    /* created_ms does not excuse a broken created_at */
    char *s = edit("created_ms", "1795686300123");
    cJSON *o = cJSON_Parse(s);
    cJSON_ReplaceItemInObjectCaseSensitive(o, "created_at", cJSON_CreateString("garbage"));
    char *s2 = cJSON_PrintUnformatted(o);
    expect_bad(s2, strlen(s2), "created_at");
    free(s2);
    cJSON_Delete(o);
    free(s);
    /* optional fields: wrong type when present */
    bad_field("duration_ms", "-1", NULL);
    bad_field("duration_ms", "\"fast\"", NULL);
    bad_field("dumper_version", "1", NULL);
    bad_field("database", "{}", NULL);
}

#define R1 "age1eeah82ppgkmklxz6zp74vj9uxdwu9pgdss5apvhk0zst56pr4qysvrez97"
#define R2 "age1vpqptwjadc2kfw5gp2tcp6vhzyvz3dvensgf5r566g46hl3f5a5suyfda4"

/* BASE with encryption "age" and the recipients given as raw JSON. */
static char *edit_enc(const char *enc, const char *recips)
{
    cJSON *o = cJSON_Parse(BASE);
    if (enc)
        cJSON_AddItemToObject(o, "encryption", cJSON_Parse(enc));
    if (recips)
        cJSON_AddItemToObject(o, "recipients", cJSON_Parse(recips));
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

static void test_encryption(void **state)
{
    /* round trip of an encrypted backup's manifest: encryption and recipients, never anything else */
    dp_manifest m, back;
    fill(&m);
    m.encryption = strdup("age");
    m.recipients = calloc(2, sizeof *m.recipients);
    m.recipients[0] = strdup(R1);
    m.recipients[1] = strdup(R2);
    m.nrecipients = 2;
    char *json = dp_manifest_to_json(&m);
    dp_err err = {0};
    assert_int_equal(dp_manifest_parse(json, strlen(json), "x", &back, &err), 0);
    assert_string_equal(back.encryption, "age");
    assert_int_equal(back.nrecipients, 2);
    assert_string_equal(back.recipients[0], R1);
    assert_string_equal(back.recipients[1], R2);
    assert_null(strstr(json, "SECRET"));
    dp_manifest_free(&back);
    free(json);
    dp_manifest_free(&m);
    /* an old manifest: not encrypted */
    assert_int_equal(dp_manifest_parse(BASE, strlen(BASE), "x", &back, &err), 0);
    assert_null(back.encryption);
    assert_int_equal(back.nrecipients, 0);
    assert_null(strstr(BASE, "encryption"));
    dp_manifest_free(&back);

    static const struct {
        const char *enc, *recips;
    } bad[] = {
        {"\"aes\"", "[\"" R1 "\"]"},                     /* unknown encryption */
        {"\"AGE\"", "[\"" R1 "\"]"},
        {"1", "[\"" R1 "\"]"},
        {"\"age\"", NULL},                                /* no recipients */
        {"\"age\"", "[]"},
        {"\"age\"", "\"" R1 "\""},                       /* not an array */
        {NULL, "[\"" R1 "\"]"},                            /* recipients without encryption */
        {"\"age\"", "[1]"},
        {"\"age\"", "[\"" R1 "\", \"" R1 "\"]"},          /* duplicate */
        {"\"age\"", "[\"age1eeah82ppgkmklxz6zp74vj9uxdwu9pgdss5apvhk0zst56pr4qysvrez98\"]"}, /* checksum */
        {"\"age\"", "[\"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHsKLqeplhpW alice\"]"},
        {"\"age\"", "[\"AGE1EEAH82PPGKMKLXZ6ZP74VJ9UXDWU9PGDSS5APVHK0ZST56PR4QYSVREZ97\"]"}, /* not canonical */
        {"\"age\"", "[\"age1\\u001b[31mred\"]"},            /* terminal escapes never reach a message */
        {"\"age\"", "[\"AGE-SECRET-KEY-1FXGP68WZ2SSTHWHUQK0Y3KL30K0AJH2SDRX7RXP2ER7KEVSYZD4S3PH8L0\"]"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *j = edit_enc(bad[i].enc, bad[i].recips);
        expect_bad(j, strlen(j), NULL);
        free(j);
    }
    /* 64 recipients at most: 64 distinct ones pass, a 65th does not */
    dp_buf b = {0};
    dp_buf_puts(&b, "[");
    for (int i = 0; i < 65; i++) {
        uint8_t pk[32] = {(uint8_t)i, 1, 2, 3};
        char r[70];

        assert_int_equal(dp_bech32_encode("age", pk, 32, 0, r, sizeof r), 0);
        if (i == 64) {
            dp_buf_puts(&b, "]");
            char *j = edit_enc("\"age\"", b.data);
            dp_manifest mm;
            assert_int_equal(dp_manifest_parse(j, strlen(j), "x", &mm, &err), 0);
            assert_int_equal(mm.nrecipients, 64);
            dp_manifest_free(&mm);
            free(j);
            b.data[--b.len] = 0;
        }
        dp_buf_printf(&b, "%s\"%s\"", i ? "," : "", r);
    }
    dp_buf_puts(&b, "]");
    char *j = edit_enc("\"age\"", b.data);
    expect_bad(j, strlen(j), "bad recipients");
    free(j);
    dp_buf_free(&b);
}

static void test_embedded_nul(void **state)
{
    /* a NUL inside the buffer must not let a prefix pass as the whole manifest */
    size_t n = strlen(BASE);
    char *buf = malloc(n + 10);
    memcpy(buf, BASE, n);
    memcpy(buf + n, "\0garbage!", 9);
    expect_bad(buf, n + 9, NULL);
    free(buf);
}

/* contents: written sorted with a fingerprint of the listing, read back exactly; a manifest without
 * them (every older one) stays valid and unknown; bad contents are rejected */
static void test_contents(void **state)
{
    dp_manifest m, back;
    fill(&m);
    dp_contents *c = &m.contents;
    assert_int_equal(dp_contents_add(c, "users", "id,name", 3), 0);
    assert_int_equal(dp_contents_add(c, "orders", "id,total", 0), 0);
    assert_int_equal(dp_contents_add(c, "Odd \"x\"", "", 9000000000000000ull), 0);
    assert_non_null(dp_contents_find(c, "orders"));
    assert_null(dp_contents_find(c, "nope"));
    c->server_version = strdup("15.14");
    c->migration = strdup("20261126094500");
    assert_int_equal(dp_contents_finish(c), 0);
    assert_int_equal(c->known, 1);
    assert_string_equal(c->tables[0].name, "Odd \"x\""); /* bytewise order */
    assert_string_equal(c->tables[2].name, "users");
    assert_null(c->tables[2].columns);
    /* the fingerprint is the SHA-256 of the sorted listing */
    const char listing[] = "Odd \"x\"\t\norders\tid,total\nusers\tid,name\n";
    char want[65];
    dp_sha256_hex(listing, strlen(listing), want);
    assert_string_equal(c->fingerprint, want);
    assert_int_equal(dp_contents_find(c, "users")->rows, 3);

    char *json = dp_manifest_to_json(&m);
    dp_err err = {0};
    assert_int_equal(dp_manifest_parse(json, strlen(json), "x", &back, &err), 0);
    assert_int_equal(back.contents.known, 1);
    assert_int_equal(back.contents.ntables, 3);
    assert_string_equal(back.contents.tables[1].name, "orders");
    assert_int_equal(back.contents.tables[0].rows, 9000000000000000ull);
    assert_string_equal(back.contents.fingerprint, want);
    assert_string_equal(back.contents.server_version, "15.14");
    assert_string_equal(back.contents.migration, "20261126094500");
    assert_int_equal(dp_contents_find(&back.contents, "users")->rows, 3);
    dp_manifest_free(&back);
    free(json);
    dp_manifest_free(&m);

    /* a repeated name cannot be finished */
    dp_contents d = {0};
    assert_int_equal(dp_contents_add(&d, "t", NULL, 1), 0);
    assert_int_equal(dp_contents_add(&d, "t", NULL, 2), 0);
    assert_int_equal(dp_contents_finish(&d), -1);
    assert_int_equal(d.known, 0);
    dp_contents_free(&d);

    /* older manifests: no contents, still valid */
    assert_int_equal(dp_manifest_parse(BASE, strlen(BASE), "x", &back, &err), 0);
    assert_int_equal(back.contents.known, 0);
    dp_manifest_free(&back);
    /* an empty database, and fields a later version adds */
    char *s = edit("contents", "{\"tables\":[],\"later\":1}");
    expect_ok(s);
    free(s);
    static const char *const bad[] = {
        "[]", "{}", "{\"tables\":{}}", "{\"tables\":[1]}", "{\"tables\":[{\"rows\":1}]}",
        "{\"tables\":[{\"name\":\"a\"}]}", "{\"tables\":[{\"name\":\"a\",\"rows\":-1}]}",
        "{\"tables\":[{\"name\":\"a\",\"rows\":1.5}]}", "{\"tables\":[{\"name\":\"\",\"rows\":1}]}",
        "{\"tables\":[{\"name\":\"b\",\"rows\":1},{\"name\":\"a\",\"rows\":1}]}",
        "{\"tables\":[{\"name\":\"a\",\"rows\":1},{\"name\":\"a\",\"rows\":1}]}",
        "{\"tables\":[],\"schema_fingerprint\":\"abc\"}",
        "{\"tables\":[],\"schema_fingerprint\":\"9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08\"}",
        "{\"tables\":[],\"server_version\":\"a\\nb\"}", "{\"tables\":[],\"schema_migration\":5}",
        "{\"tables\":[],\"server_version\":\"\"}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        bad_field("contents", bad[i], "bad contents");
}

/* the limits: DP_CONTENTS_MAX_TABLES tables and names of DP_CONTENTS_MAX_NAME bytes pass, one more
 * does not; a manifest that large still fits DP_MANIFEST_MAX */
static void test_contents_limits(void **state)
{
    dp_manifest m, back;
    dp_err err = {0};
    fill(&m);
    char name[DP_CONTENTS_MAX_NAME + 2];
    for (int i = 0; i < DP_CONTENTS_MAX_TABLES; i++) {
        memset(name, 'x', DP_CONTENTS_MAX_NAME);
        snprintf(name, sizeof name, "%06d", i);
        name[6] = 'x';
        name[DP_CONTENTS_MAX_NAME] = 0;
        assert_int_equal(dp_contents_add(&m.contents, name, NULL, (uint64_t)i), 0);
    }
    assert_int_equal(dp_contents_finish(&m.contents), 0);
    char *json = dp_manifest_to_json(&m);
    assert_true(strlen(json) < DP_MANIFEST_MAX);
    assert_int_equal(dp_manifest_parse(json, strlen(json), "x", &back, &err), 0);
    assert_int_equal(back.contents.ntables, DP_CONTENTS_MAX_TABLES);
    dp_manifest_free(&back);
    free(json);
    /* one table more */
    m.contents.known = 0;
    assert_int_equal(dp_contents_add(&m.contents, "zzz", NULL, 1), 0);
    assert_int_equal(dp_contents_finish(&m.contents), -1);
    m.contents.known = 1;
    json = dp_manifest_to_json(&m);
    expect_bad(json, strlen(json), "bad contents");
    free(json);
    dp_manifest_free(&m);
    /* a name one byte too long */
    memset(name, 'a', DP_CONTENTS_MAX_NAME + 1);
    name[DP_CONTENTS_MAX_NAME + 1] = 0;
    char *v = dp_asprintf("{\"tables\":[{\"name\":\"%s\",\"rows\":1}]}", name);
    bad_field("contents", v, "bad contents table");
    free(v);
    name[DP_CONTENTS_MAX_NAME] = 0;
    v = dp_asprintf("{\"tables\":[{\"name\":\"%s\",\"rows\":1}]}", name);
    char *s = edit("contents", v);
    expect_ok(s);
    free(s);
    free(v);
}

/* A "contents" object alone (a job's commit to dumperd): the manifest's rules, one line naming the problem. */
static void test_contents_alone(void **state)
{
    (void)state;
    dp_contents c;
    dp_err err = {0};
    const char *ok = "{\"server_version\":\"15.4\",\"tables\":[{\"name\":\"a\",\"rows\":3},{\"name\":\"b\",\"rows\":0}]}";
    assert_int_equal(dp_contents_parse(ok, strlen(ok), &c, &err), 0);
    assert_true(c.known);
    assert_int_equal(c.ntables, 2);
    assert_string_equal(c.tables[0].name, "a");
    assert_true(c.tables[0].rows == 3);
    assert_string_equal(c.server_version, "15.4");
    dp_contents_free(&c);
    const char *bad[] = {"[]", "{}", "{\"tables\":[{\"name\":\"b\",\"rows\":1},{\"name\":\"a\",\"rows\":1}]}",
                         "{\"tables\":[{\"name\":\"a\",\"rows\":-1}]}", "{\"tables\":[],\"schema_fingerprint\":\"ABC\"}",
                         "not json"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        dp_err e2 = {0};
        assert_int_equal(dp_contents_parse(bad[i], strlen(bad[i]), &c, &e2), DUMPER_ECORRUPT);
        assert_int_equal(strncmp(e2.msg, "contents: ", 10), 0);
        assert_false(c.known);
        assert_null(c.tables);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_valid_variants),
        cmocka_unit_test(test_invalid_fields),
        cmocka_unit_test(test_embedded_nul),
        cmocka_unit_test(test_encryption),
        cmocka_unit_test(test_contents),
        cmocka_unit_test(test_contents_limits),
        cmocka_unit_test(test_contents_alone),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
