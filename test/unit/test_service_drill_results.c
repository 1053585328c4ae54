/* test_service_drill_results.c - drill results (server/service/drill_results.c, store/drill_results.c) fed with
 * REAL `dumper drill --json` documents: the test makes a SQLite backup with the built `dumper`, drills it (passed),
 * drills a copy whose manifest lies about a table's rows (failed, with the exact mismatch line) and a copy with a
 * damaged byte (error). Then: the decoder's limits at and past each (document size, mismatch lines and their
 * length, checks, every text member, numbers), refusals with one line, unknown members ignored; recording on
 * SQLite and PostgreSQL (a row per run, the drill_failed event raised once per failed run and fanned out to a
 * channel that subscribed to drills and not to one that did not, a backup of another app refused, a bad document
 * stores nothing), the evidence per backup and per database, an app's deletion taking its results along; and the
 * drill_overdue alert of an app with --drill-max-age (at and past the age, once, resolved by a passed drill only). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <cjson/cJSON.h>
#include <sqlite3.h>
#include <sys/wait.h>

#include "core/util.h"
#include "service/admin.h"
#include "service/alerts.h"
#include "service/drill_results.h"
#include "service/notify.h"
#include "store/apps.h"
#include "store/backups.h"
#include "store/databases.h"
#include "store/jobs.h"
#include "store_fixture.h"

#define T0 1800000000000LL

static char dir[64];
static char *doc_passed, *doc_failed, *doc_error; /* real `dumper drill --json` output */

/* Run argv, its stdout into *out (NUL-terminated); the exit status. */
static int run(char *const argv[], char **out)
{
    int p[2];
    assert_int_equal(pipe(p), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (!pid) {
        dup2(p[1], 1);
        close(p[0]);
        close(p[1]);
        execv(argv[0], argv);
        _exit(127);
    }
    close(p[1]);
    dp_buf b = {0};
    char chunk[4096];
    ssize_t n;
    while ((n = read(p[0], chunk, sizeof chunk)) > 0)
        dp_buf_append(&b, chunk, (size_t)n);
    close(p[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    *out = b.data ? b.data : dp_strdup("");
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void sh(const char *cmd) { assert_int_equal(system(cmd), 0); }

/* A copy of backup b (and its manifest) in dir/sub; edit: manifest's users rows -> 4, or damage a byte. */
static char *copy_backup(const char *b, const char *sub, int lie)
{
    char *d = dp_asprintf("%s/%s", dir, sub), *cmd = dp_asprintf("mkdir -p '%s' && cp '%s' '%s.json' '%s/'", d, b, b, d);
    sh(cmd);
    free(cmd);
    const char *base = strrchr(b, '/') + 1;
    char *c = dp_asprintf("%s/%s", d, base);
    free(d);
    if (lie) {
        char *mpath = dp_asprintf("%s.json", c), text[65536];
        FILE *in = fopen(mpath, "rb");
        assert_non_null(in);
        size_t len = fread(text, 1, sizeof text - 1, in);
        fclose(in);
        text[len] = 0;
        cJSON *m = cJSON_Parse(text), *t;
        assert_non_null(m);
        cJSON_ArrayForEach(t, cJSON_GetObjectItem(cJSON_GetObjectItem(m, "contents"), "tables"))
        {
            if (!strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(t, "name")), "users"))
                cJSON_SetNumberValue(cJSON_GetObjectItem(t, "rows"), 4);
        }
        char *s = cJSON_PrintUnformatted(m);
        FILE *f = fopen(mpath, "w");
        fputs(s, f);
        fclose(f);
        free(s);
        cJSON_Delete(m);
        free(mpath);
    } else {
        FILE *f = fopen(c, "r+b");
        assert_non_null(f);
        fseek(f, 20, SEEK_SET);
        fputc(0, f);
        fclose(f);
    }
    return c;
}

static int make_docs(void **state)
{
    const char *bin = getenv("DUMPER_BIN");
    if (!bin) {
        fprintf(stderr, "DUMPER_BIN is not set (ctest sets it: the built dumper's directory)\n");
        return -1;
    }
    snprintf(dir, sizeof dir, "/tmp/dumperd-drill-unit.XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    char *db = dp_asprintf("%s/app.db", dir), *url = dp_asprintf("sqlite://%s", db),
         *to = dp_asprintf("%s/bk", dir), *dumper = dp_asprintf("%s/dumper", bin), *out = NULL;
    sqlite3 *s = NULL;
    if (sqlite3_open(db, &s) ||
        sqlite3_exec(s,
                     "CREATE TABLE users(id INTEGER PRIMARY KEY, name TEXT);"
                     "INSERT INTO users(name) VALUES ('a'), ('b'), ('c');"
                     "CREATE TABLE orders(id INTEGER PRIMARY KEY, total REAL); INSERT INTO orders VALUES (1, 9.5);",
                     NULL, NULL, NULL))
        return -1;
    sqlite3_close(s);
    char *bk[] = {dumper, "backup", url, "--to", to, NULL};
    if (run(bk, &out))
        return -1;
    out[strcspn(out, "\n")] = 0;
    char *b = out;
    setenv("TMPDIR", dir, 1);
    char *d1[] = {dumper, "drill", b, "--json", NULL};
    int rc1 = run(d1, &doc_passed);
    char *lie = copy_backup(b, "lie", 1), *bad = copy_backup(b, "bad", 0);
    char *d2[] = {dumper, "drill", lie, "--json", NULL}, *d3[] = {dumper, "drill", bad, "--json", NULL};
    int rc2 = run(d2, &doc_failed), rc3 = run(d3, &doc_error);
    fprintf(stderr, "drill documents (exit %d, %d, %d):\n%s%s%s", rc1, rc2, rc3, doc_passed, doc_failed, doc_error);
    free(lie);
    free(bad);
    free(out);
    free(db);
    free(url);
    free(to);
    free(dumper);
    return rc1 == 0 && rc2 == 21 && rc3 == 9 ? 0 : -1;
}

static int free_docs(void **state)
{
    free(doc_passed);
    free(doc_failed);
    free(doc_error);
    char *cmd = dp_asprintf("rm -rf '%s'", dir);
    sh(cmd);
    free(cmd);
    return 0;
}

static int parse(const char *json, sd_drill_doc *d, char *msg)
{
    return sd_drill_doc_parse(json, strlen(json), d, msg, 256);
}

/* The real documents decode to what the drills found. */
static void test_real_documents(void **state)
{
    sd_drill_doc d;
    char msg[256];
    assert_int_equal(parse(doc_passed, &d, msg), 0);
    assert_int_equal(d.status, SD_DRILL_PASSED);
    assert_true(d.compared && d.has_figures && d.tables == 2 && d.rows == 4 && d.nmismatches == 0);
    assert_string_equal(d.source_type, "sqlite");
    assert_true(d.duration_ms >= d.restore_ms);
    sd_drill_doc_free(&d);
    assert_int_equal(parse(doc_failed, &d, msg), 0);
    assert_int_equal(d.status, SD_DRILL_FAILED);
    assert_int_equal(d.nmismatches, 1);
    assert_int_equal(d.nkept, 1);
    assert_string_equal(d.mismatches[0], "table 'users': 4 rows in the manifest, 3 restored");
    sd_drill_doc_free(&d);
    assert_int_equal(parse(doc_error, &d, msg), 0);
    assert_int_equal(d.status, SD_DRILL_ERROR);
    assert_non_null(d.error);
    assert_true(strlen(d.error) > 10);
    sd_drill_doc_free(&d);
}

/* {"status":..., "duration_ms": 5, <extra>} */
static char *doc(const char *status, const char *extra)
{
    return dp_asprintf("{\"status\":\"%s\",\"duration_ms\":5%s%s}", status, *extra ? "," : "", extra);
}

static void expect_refused(char *json, const char *want)
{
    sd_drill_doc d;
    char msg[256] = "";
    int rc = sd_drill_doc_parse(json, strlen(json), &d, msg, sizeof msg);
    if (rc != -1 || strcmp(msg, want))
        fail_msg("expected '%s', got %d '%s' for %.200s", want, rc, msg, json);
    free(json);
}

static void expect_ok(char *json, sd_drill_doc *d)
{
    char msg[256] = "";
    if (sd_drill_doc_parse(json, strlen(json), d, msg, sizeof msg))
        fail_msg("refused: %s (%.200s)", msg, json);
    free(json);
}

/* a JSON string of n times c */
static char *str(size_t n, char c)
{
    char *s = malloc(n + 3);
    s[0] = '"';
    memset(s + 1, c, n);
    s[n + 1] = '"';
    s[n + 2] = 0;
    return s;
}

/* The member pre + a JSON string + post accepted with a string of max bytes, refused with one more
 * (message want), in a document of that status; *d: the accepted document, for the caller to look at
 * and free. */
static void at_and_past(const char *status, const char *pre, const char *post, size_t max, const char *want,
                        sd_drill_doc *d)
{
    char *at = str(max, 'x'), *past = str(max + 1, 'x'), *m1 = dp_asprintf("%s%s%s", pre, at, post),
         *m2 = dp_asprintf("%s%s%s", pre, past, post);
    expect_refused(doc(status, m2), want);
    expect_ok(doc(status, m1), d);
    free(at);
    free(past);
    free(m1);
    free(m2);
}

/* A text member at its limit accepted, one byte past it refused (in a document of that status). */
static void text_limit(const char *status, const char *member, size_t max)
{
    sd_drill_doc d;
    char *pre = dp_asprintf("\"%s\":", member),
         *want = dp_asprintf("drill result: %s is longer than %zu bytes", member, max);
    at_and_past(status, pre, "", max, want, &d);
    sd_drill_doc_free(&d);
    free(want);
    free(pre);
}

static void test_limits(void **state)
{
    sd_drill_doc d;
    /* each text member at and past its limit ("error" status needs an error: give one when testing others) */
    text_limit("error", "error", SD_DRILL_TEXT_MAX);
    text_limit("passed", "source_type", SD_DRILL_SHORT_MAX);
    text_limit("passed", "target", SD_DRILL_SHORT_MAX);
    text_limit("passed", "schema_migration", SD_DRILL_SHORT_MAX);
    text_limit("passed", "scratch_server_version", SD_DRILL_NAME_MAX);
    text_limit("passed", "source_server_version", SD_DRILL_NAME_MAX);

    /* mismatch lines: their length, and their number (the first SD_DRILL_MISMATCHES_KEPT kept) */
    at_and_past("failed", "\"mismatches\":[", "]", SD_DRILL_TEXT_MAX,
                "drill result: a mismatch line is longer than 1024 bytes", &d);
    assert_int_equal((int)strlen(d.mismatches[0]), SD_DRILL_TEXT_MAX);
    sd_drill_doc_free(&d);
    dp_buf b = {0};
    dp_buf_puts(&b, "\"mismatches\":[");
    for (int i = 0; i < SD_DRILL_MISMATCHES_MAX; i++)
        dp_buf_puts(&b, i ? ",\"m\"" : "\"first\"");
    dp_buf_puts(&b, "]");
    expect_ok(doc("failed", (char *)b.data), &d);
    assert_int_equal(d.nmismatches, SD_DRILL_MISMATCHES_MAX);
    assert_int_equal(d.nkept, SD_DRILL_MISMATCHES_KEPT);
    assert_string_equal(d.mismatches[0], "first");
    sd_drill_doc_free(&d);
    b.len -= 1; /* the closing "]" */
    dp_buf_puts(&b, ",\"m\"]");
    expect_refused(doc("failed", (char *)b.data), "drill result: more than 20000 mismatches");
    dp_buf_free(&b);
    expect_refused(doc("failed", "\"mismatches\":[1]"), "drill result: mismatch 1 is not a string");
    expect_refused(doc("failed", "\"mismatches\":\"x\""), "drill result: mismatches is not an array");

    /* checks: their number, name and result */
    b = (dp_buf){0};
    dp_buf_puts(&b, "\"checks\":[");
    for (int i = 0; i < SD_DRILL_CHECKS_MAX; i++)
        dp_buf_puts(&b, i ? ",{\"name\":\"c.sql\",\"passed\":true,\"result\":\"1\"}" : "{\"name\":\"c.sql\",\"passed\":true}");
    dp_buf_puts(&b, "]");
    expect_ok(doc("passed", (char *)b.data), &d);
    assert_int_equal(d.nchecks, SD_DRILL_CHECKS_MAX);
    sd_drill_doc_free(&d);
    b.len -= 1;
    dp_buf_puts(&b, ",{\"name\":\"c.sql\",\"passed\":true}]");
    expect_refused(doc("passed", (char *)b.data), "drill result: more than 64 checks");
    dp_buf_free(&b);
    at_and_past("failed", "\"checks\":[{\"name\":", ",\"passed\":false}]", SD_DRILL_CHECK_NAME_MAX,
                "drill result: name is longer than 4096 bytes", &d);
    sd_drill_doc_free(&d);
    at_and_past("failed", "\"checks\":[{\"name\":\"c\",\"passed\":false,\"result\":", "}]", SD_DRILL_RESULT_MAX,
                "drill result: result is longer than 199 bytes", &d);
    sd_drill_doc_free(&d);
    expect_refused(doc("failed", "\"checks\":[{\"name\":\"c\"}]"),
                   "drill result: check 1 is not an object with a boolean passed");
    expect_refused(doc("failed", "\"checks\":[{\"passed\":true}]"), "drill result: check 1 has no name");

    /* numbers */
    expect_ok(doc("passed", "\"tables\":9007199254740992,\"rows\":0"), &d);
    assert_true(d.has_figures && d.tables == 9007199254740992LL);
    sd_drill_doc_free(&d);
    expect_refused(doc("passed", "\"tables\":9007199254740994,\"rows\":0"),
                   "drill result: tables is not a whole number from 0 to 2^53");
    expect_refused(doc("passed", "\"rows\":-1,\"tables\":1"), "drill result: rows is not a whole number from 0 to 2^53");
    expect_refused(doc("passed", "\"restore_ms\":1.5"), "drill result: restore_ms is not a whole number from 0 to 2^53");
    expect_refused(doc("passed", "\"backup_ms\":\"5\""), "drill result: backup_ms is not a number");
    expect_refused(doc("passed", "\"tables\":1"), "drill result: tables and rows go together");
    expect_refused(dp_strdup("{\"status\":\"passed\"}"), "drill result: duration_ms is missing");
    expect_refused(dp_strdup("{\"status\":\"passed\",\"duration_ms\":1e400}"), "drill result: duration_ms is not a whole number from 0 to 2^53");

    /* the document as a whole */
    expect_refused(dp_strdup("{\"duration_ms\":1}"), "drill result: status is not passed, failed or error");
    expect_refused(doc("PASSED", ""), "drill result: status is not passed, failed or error");
    expect_refused(dp_strdup("[]"), "drill result: not a JSON object");
    expect_refused(dp_strdup("{\"status\":\"passed\",\"duration_ms\":1} {}"), "drill result: not a JSON object");
    expect_refused(dp_strdup("{\"status\":\"passed\",\"duration_ms\":1"), "drill result: not a JSON object");
    expect_refused(doc("passed", "\"compared\":1"), "drill result: compared is not a boolean");
    expect_refused(doc("passed", "\"error\":7"), "drill result: error is not a string");
    expect_refused(doc("passed", "\"mismatches\":[\"x\"]"), "drill result: a passed drill with 1 mismatches");
    char msg[256];
    assert_int_equal(sd_drill_doc_parse("{\"status\":\"passed\",\"duration_ms\":1}\0x", 38, &d, msg, sizeof msg), -1);
    assert_string_equal(msg, "drill result: holds a NUL byte");
    assert_int_equal(sd_drill_doc_parse("", 0, &d, msg, sizeof msg), -1);
    assert_string_equal(msg, "drill result: empty");
    /* nesting deeper than cJSON takes, in a member we would ignore: refused, not a crash */
    b = (dp_buf){0};
    dp_buf_puts(&b, "{\"status\":\"passed\",\"duration_ms\":1,\"x\":");
    for (int i = 0; i < 5000; i++)
        dp_buf_puts(&b, "[");
    for (int i = 0; i < 5000; i++)
        dp_buf_puts(&b, "]");
    dp_buf_puts(&b, "}");
    expect_refused((char *)b.data, "drill result: not a JSON object");
    /* unknown members ignored, null members absent, control characters cleaned */
    expect_ok(doc("passed", "\"future\":{\"a\":[1,2]},\"target\":\"t\\u001b[0m\\n\",\"error\":null"), &d);
    assert_string_equal(d.target, "t [0m ");
    assert_null(d.error);
    sd_drill_doc_free(&d);

    /* the document's size at and past the limit (padded with spaces) */
    char *base = doc("passed", "");
    size_t n = strlen(base);
    char *big = malloc(SD_DRILL_DOC_MAX + 2);
    memset(big, ' ', SD_DRILL_DOC_MAX + 1);
    memcpy(big, base, n);
    big[SD_DRILL_DOC_MAX] = 0;
    assert_int_equal(sd_drill_doc_parse(big, SD_DRILL_DOC_MAX, &d, msg, sizeof msg), 0);
    sd_drill_doc_free(&d);
    big[SD_DRILL_DOC_MAX + 1] = 0;
    assert_int_equal(sd_drill_doc_parse(big, SD_DRILL_DOC_MAX + 1, &d, msg, sizeof msg), -1);
    assert_string_equal(msg, "drill result: longer than 4194304 bytes");
    free(big);
    free(base);
}

/* ---- recording ---- */

typedef struct {
    store_fixture f;
    sd_config cfg;
    sd_clock clock;
    sd_ctx ctx;
    int64_t app, other, db, backup, other_backup;
} world;

static int64_t count(sd_db *db, const char *sql, int64_t arg)
{
    sd_res r;
    dp_err err = {0};
    assert_int_equal(sd_q(db, &r, &err, sql, "i", arg), 0);
    int64_t n = sd_geti(&r, 0, 0);
    sd_res_free(&r);
    return n;
}

static int64_t good_backup(world *w, int64_t app, int64_t dbid, int64_t at)
{
    dp_err err = {0};
    int64_t job = 0, id = 0;
    assert_int_equal(sd_store_job_insert_manual(w->ctx.db, app, "production", dbid, at, &job, &err), 0);
    sd_backup_new b = {.app = app, .db_id = dbid, .job = job, .agent = 1, .env = "production", .now = at};
    assert_int_equal(sd_store_backup_insert(w->ctx.db, &b, &id, &err), 0);
    sd_backup_done done = {.size = 10, .duration_ms = 300, .raw_size = 20, .now = at + 1000, .sha256 = "ab"};
    assert_int_equal(sd_store_backup_good(w->ctx.db, id, &done, &err), 0);
    return id;
}

static void world_open(world *w, int pg)
{
    dp_err err = {0};
    memset(w, 0, sizeof *w);
    assert_int_equal(store_fixture_open(&w->f, pg), 0);
    sd_config_defaults(&w->cfg);
    assert_int_equal(sd_config_paths(&w->cfg, "/nonexistent-data", w->f.url, "/nonexistent-storage"), 0);
    sd_clock_init(&w->clock, 1, T0);
    if (sd_ctx_open(&w->ctx, &w->cfg, &w->clock, &err) || sd_schema_migrate(w->ctx.db, &err))
        fail_msg("%s", err.msg);
    sd_db *db = w->ctx.db;
    sd_dbinfo main_db = {.key = "main", .type = "sqlite"};
    int64_t odb = 0;
    assert_int_equal(sd_store_app_insert(db, "shop", "hash1", T0 - 3600000, &w->app, &err), 0);
    assert_int_equal(sd_store_app_insert(db, "blog", "hash2", T0 - 3600000, &w->other, &err), 0);
    assert_int_equal(sd_store_database_upsert(db, w->app, "production", &main_db, T0 - 3600000, &w->db, &err), 0);
    assert_int_equal(sd_store_database_upsert(db, w->other, "production", &main_db, T0 - 3600000, &odb, &err), 0);
    w->backup = good_backup(w, w->app, w->db, T0 - 600000);
    w->other_backup = good_backup(w, w->other, odb, T0 - 600000);
}

static void world_close(world *w)
{
    sd_ctx_close(&w->ctx);
    sd_config_free(&w->cfg);
    store_fixture_close(&w->f);
}

static void record(int pg)
{
    world w;
    world_open(&w, pg);
    sd_status st = SD_STATUS_INIT;
    char secret[68];
    sd_channel_spec drills = {.name = "drills", .kind = "webhook", .url = "http://127.0.0.1:9/drills", .on = "drill"},
                    fails = {.name = "fails", .kind = "webhook", .url = "http://127.0.0.1:9/fails", .on = "failure"};
    assert_int_equal(sd_channel_add(&w.ctx, &drills, secret, &st), 0);
    assert_int_equal(sd_channel_add(&w.ctx, &fails, secret, &st), 0);

    /* passed: stored, no event */
    int64_t passed = 0, failed = 0, errored = 0;
    assert_int_equal(sd_drill_record_id(&w.ctx, w.app, w.backup, 7, 0, doc_passed, strlen(doc_passed), &passed, &st),
                     0);
    assert_int_equal(count(w.ctx.db, "SELECT COUNT(*) FROM alerts WHERE kind = 'drill_failed' AND ? = 0", 0), 0);
    sd_drill_list l = {0};
    assert_int_equal(sd_drill_of_backup(&w.ctx, w.app, w.backup, 10, &l, &st), 0);
    assert_int_equal(l.n, 1);
    assert_true(l.v[0].id == passed && l.v[0].agent_id == 7 && l.v[0].job_id == 0);
    assert_string_equal(l.v[0].status, "passed");
    assert_string_equal(l.v[0].db_key, "main");
    assert_true(l.v[0].has_figures && l.v[0].tables == 2 && l.v[0].rows == 4 && l.v[0].compared);
    assert_true(l.v[0].finished_at == T0 && l.v[0].started_at == T0 - l.v[0].duration_ms);
    assert_string_equal(l.v[0].mismatches, "[]");
    sd_list_free(&l);

    /* failed, then errored: stored, one drill_failed event each, fanned out to the drill channel only */
    sd_clock_set_ms(&w.clock, T0 + 60000);
    assert_int_equal(sd_drill_record_id(&w.ctx, w.app, w.backup, 7, 3, doc_failed, strlen(doc_failed), &failed, &st),
                     0);
    sd_clock_set_ms(&w.clock, T0 + 120000);
    assert_int_equal(sd_drill_record_id(&w.ctx, w.app, w.backup, 7, 4, doc_error, strlen(doc_error), &errored, &st),
                     0);
    assert_int_equal(count(w.ctx.db, "SELECT COUNT(*) FROM alerts WHERE kind = 'drill_failed' AND ? = 0", 0), 2);
    sd_res r;
    dp_err err = {0};
    char ref[32];
    sd_drill_ref_failed(ref, failed);
    assert_int_equal(sd_q(w.ctx.db, &r, &err, "SELECT payload FROM alerts WHERE kind = 'drill_failed' AND ref = ?",
                          "s", ref),
                     0);
    assert_int_equal(r.rows, 1);
    char *want = dp_asprintf("\"text\":\"Dumper: restore drill of backup b_%lld of shop/main (production) failed:"
                             " table 'users': 4 rows in the manifest, 3 restored\"",
                             (long long)w.backup);
    if (!strstr(sd_get(&r, 0, 0), want))
        fail_msg("payload %s lacks %s", sd_get(&r, 0, 0), want);
    assert_non_null(strstr(sd_get(&r, 0, 0), "\"mismatch_count\":1"));
    free(want);
    sd_res_free(&r);
    assert_int_equal(count(w.ctx.db,
                           "SELECT COUNT(*) FROM deliveries v JOIN channels c ON c.id = v.channel_id JOIN alerts a ON"
                           " a.id = v.alert_id WHERE a.kind = 'drill_failed' AND c.name = 'drills' AND ? = 0",
                           0),
                     2);
    assert_int_equal(count(w.ctx.db,
                           "SELECT COUNT(*) FROM deliveries v JOIN channels c ON c.id = v.channel_id WHERE c.name ="
                           " 'fails' AND ? = 0",
                           0),
                     0);

    /* the evidence: the newest drill per backup; per database the newest passed, failures, the newest status */
    assert_int_equal(sd_drill_latest_of_app(&w.ctx, w.app, &l, &st), 0);
    assert_int_equal(l.n, 1);
    assert_true(sd_drill_find(&l, w.backup)->id == errored);
    assert_string_equal(sd_drill_find(&l, w.backup)->status, "error");
    assert_non_null(sd_drill_find(&l, w.backup)->error);
    assert_false(sd_drill_find(&l, w.backup)->has_figures);
    assert_null(sd_drill_find(&l, w.other_backup));
    sd_list_free(&l);
    assert_int_equal(sd_drill_of_backup(&w.ctx, w.app, w.backup, 10, &l, &st), 0);
    assert_int_equal(l.n, 3);
    assert_true(l.v[0].id == errored && l.v[1].id == failed && l.v[2].id == passed);
    assert_int_equal(l.v[1].mismatch_count, 1);
    assert_string_equal(l.v[1].mismatches, "[\"table 'users': 4 rows in the manifest, 3 restored\"]");
    sd_list_free(&l);
    sd_drill_db_list dl = {0};
    assert_int_equal(sd_drill_databases(&w.ctx, 0, &dl, &st), 0);
    assert_int_equal(dl.n, 2);
    assert_string_equal(dl.v[0].app, "blog"); /* by app name */
    assert_false(dl.v[0].has_passed);
    assert_null(dl.v[0].latest_status);
    assert_true(dl.v[0].has_good && dl.v[0].first_good_at == T0 - 600000 + 1000);
    assert_string_equal(dl.v[1].app, "shop");
    assert_true(dl.v[1].has_passed && dl.v[1].last_passed_at == T0 && dl.v[1].last_passed_id == passed);
    assert_true(dl.v[1].failures == 2 && dl.v[1].drills == 3 && dl.v[1].latest_id == errored);
    assert_string_equal(dl.v[1].latest_status, "error");
    sd_list_free(&dl);

    /* refused: a backup of another app, an unknown one, a bad document; nothing stored */
    int64_t before = count(w.ctx.db, "SELECT COUNT(*) FROM drill_results WHERE ? = 0", 0);
    st = (sd_status)SD_STATUS_INIT;
    assert_int_equal(sd_drill_record(&w.ctx, w.app, w.other_backup, 7, 0, doc_passed, strlen(doc_passed), &st), -1);
    assert_int_equal(st.outcome, SD_NOT_FOUND);
    want = dp_asprintf("unknown backup 'b_%lld'", (long long)w.other_backup);
    assert_string_equal(st.err.msg, want);
    free(want);
    st = (sd_status)SD_STATUS_INIT;
    assert_int_equal(sd_drill_record(&w.ctx, w.app, 999999, 7, 0, doc_passed, strlen(doc_passed), &st), -1);
    assert_int_equal(st.outcome, SD_NOT_FOUND);
    st = (sd_status)SD_STATUS_INIT;
    assert_int_equal(sd_drill_record(&w.ctx, w.app, w.backup, 7, 0, "{\"status\":\"passed\"}", 19, &st), -1);
    assert_int_equal(st.outcome, SD_INVALID);
    assert_string_equal(st.err.msg, "drill result: duration_ms is missing");
    assert_int_equal(st.err.code, DUMPER_EUSAGE);
    assert_true(count(w.ctx.db, "SELECT COUNT(*) FROM drill_results WHERE ? = 0", 0) == before);

    /* deleting the app (its backups gone first) takes its results and their alerts along */
    int removed = 0, left = 0;
    dp_err derr = {0};
    assert_int_equal(sd_q(w.ctx.db, NULL, &derr, "UPDATE backups SET status = 'deleted' WHERE app_id = ?", "i", w.app), 0);
    st = (sd_status)SD_STATUS_INIT;
    assert_int_equal(sd_app_delete(&w.ctx, w.app, 0, &removed, &left, &st), 0);
    assert_int_equal(count(w.ctx.db, "SELECT COUNT(*) FROM drill_results WHERE ? = 0", 0), 0);
    assert_int_equal(count(w.ctx.db, "SELECT COUNT(*) FROM alerts WHERE kind = 'drill_failed' AND ? = 0", 0), 0);
    world_close(&w);
}

static int64_t alerts_of(world *w, const char *kind, const char *ref)
{
    sd_res r;
    dp_err err = {0};
    assert_int_equal(sd_q(w->ctx.db, &r, &err, "SELECT COUNT(*) FROM alerts WHERE kind = ? AND (? = '' OR ref = ?)",
                          "sss", kind, ref ? ref : "", ref ? ref : ""),
                     0);
    int64_t n = sd_geti(&r, 0, 0);
    sd_res_free(&r);
    return n;
}

/* The "no passed drill for too long" alert: off by default, raised once past the app's --drill-max-age (counted
 * from the first good backup), not resolved by a failed drill, resolved by a passed one, raised again when that
 * one grows old; fanned out to the drill channel. */
static void overdue(int pg)
{
    world w;
    dp_err err = {0};
    world_open(&w, pg);
    sd_status st = SD_STATUS_INIT;
    char secret[68], ref[64];
    sd_channel_spec drills = {.name = "drills", .kind = "webhook", .url = "http://127.0.0.1:9/drills", .on = "drill"};
    assert_int_equal(sd_channel_add(&w.ctx, &drills, secret, &st), 0);
    const int64_t first_good = T0 - 600000 + 1000;
    sd_clock_set_ms(&w.clock, first_good + 10 * 3600000LL);
    assert_int_equal(sd_alerts_detect(&w.ctx, &err), 0);
    assert_int_equal(alerts_of(&w, "drill_overdue", NULL), 0); /* off by default */
    int64_t age = -1;
    assert_int_equal(sd_drill_max_age_set(&w.ctx, w.app, 3600, &st), 0);
    assert_int_equal(sd_drill_max_age_get(&w.ctx, w.app, &age, &st), 0);
    assert_true(age == 3600);
    assert_int_equal(sd_drill_max_age_set(&w.ctx, w.app, SD_DRILL_MAX_AGE_MAX + 1, &st), -1);
    assert_int_equal(st.outcome, SD_INVALID);
    st = (sd_status)SD_STATUS_INIT;
    sd_clock_set_ms(&w.clock, first_good + 3600000); /* at the age: not yet */
    assert_int_equal(sd_alerts_detect(&w.ctx, &err), 0);
    assert_int_equal(alerts_of(&w, "drill_overdue", NULL), 0);
    sd_clock_set_ms(&w.clock, first_good + 3600001); /* past it */
    assert_int_equal(sd_alerts_detect(&w.ctx, &err), 0);
    assert_int_equal(sd_alerts_detect(&w.ctx, &err), 0); /* once */
    sd_drill_ref_overdue(ref, w.db, 0);
    assert_int_equal(alerts_of(&w, "drill_overdue", ref), 1);
    assert_int_equal(alerts_of(&w, "drill_overdue", NULL), 1); /* not the other app's (no --drill-max-age) */
    sd_res r;
    assert_int_equal(sd_q(w.ctx.db, &r, &err, "SELECT payload FROM alerts WHERE ref = ?", "s", ref), 0);
    assert_non_null(strstr(sd_get(&r, 0, 0), "\"text\":\"Dumper: shop/main (production) has had no passed restore"
                                             " drill for more than 1 hours\""));
    sd_res_free(&r);
    assert_int_equal(store_fixture_count(w.ctx.db, "SELECT COUNT(*) FROM deliveries v JOIN alerts a ON a.id ="
                                                   " v.alert_id WHERE a.kind = 'drill_overdue'"),
                     1);

    /* a failed drill does not resolve it; a passed one does (once) */
    assert_int_equal(sd_drill_record(&w.ctx, w.app, w.backup, 7, 0, doc_failed, strlen(doc_failed), &st), 0);
    assert_int_equal(sd_alerts_detect(&w.ctx, &err), 0);
    assert_int_equal(alerts_of(&w, "drill_overdue_resolved", NULL), 0);
    int64_t passed = 0;
    assert_int_equal(sd_drill_record_id(&w.ctx, w.app, w.backup, 7, 0, doc_passed, strlen(doc_passed), &passed, &st),
                     0);
    assert_int_equal(sd_alerts_detect(&w.ctx, &err), 0);
    assert_int_equal(sd_alerts_detect(&w.ctx, &err), 0);
    assert_int_equal(alerts_of(&w, "drill_overdue_resolved", ref), 1);
    assert_int_equal(alerts_of(&w, "drill_overdue", NULL), 1);

    /* that passed drill grows old: a new condition */
    sd_clock_set_ms(&w.clock, sd_ctx_now(&w.ctx) + 3600001);
    assert_int_equal(sd_alerts_detect(&w.ctx, &err), 0);
    sd_drill_ref_overdue(ref, w.db, passed);
    assert_int_equal(alerts_of(&w, "drill_overdue", ref), 1);

    /* off again: nothing new */
    assert_int_equal(sd_drill_max_age_set(&w.ctx, w.app, 0, &st), 0);
    sd_clock_set_ms(&w.clock, sd_ctx_now(&w.ctx) + 100 * 3600000LL);
    assert_int_equal(sd_drill_record(&w.ctx, w.app, w.backup, 7, 0, doc_passed, strlen(doc_passed), &st), 0);
    sd_clock_set_ms(&w.clock, sd_ctx_now(&w.ctx) + 100 * 3600000LL);
    assert_int_equal(sd_alerts_detect(&w.ctx, &err), 0);
    assert_int_equal(alerts_of(&w, "drill_overdue", NULL), 2);
    world_close(&w);
}

static void test_sqlite_overdue(void **state) { overdue(0); }

static void test_pg_overdue(void **state)
{
    if (!store_fixture_have_pg())
        skip();
    overdue(1);
}

static void test_sqlite_record(void **state) { record(0); }

static void test_pg_record(void **state)
{
    if (!store_fixture_have_pg())
        skip();
    record(1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_real_documents), cmocka_unit_test(test_limits),
                                       cmocka_unit_test(test_sqlite_record), cmocka_unit_test(test_pg_record),
                                       cmocka_unit_test(test_sqlite_overdue), cmocka_unit_test(test_pg_overdue)};
    return cmocka_run_group_tests(tests, make_docs, free_docs);
}
