/* test_service_alerts.c - alert detection (server/service/alerts.c) over a real store (SQLite, and
 * PostgreSQL with the pg service), with injected store faults: whichever store call of a detection pass
 * fails, the pass reports the error or has raised every alert due; a store error is never taken for "already
 * alerted", and the next pass raises each alert exactly once. Also the alert rules end to end: a failed backup
 * alerts, one older than a day does not, a stale database alerts and its resolution follows a good backup. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "service/alerts.h"
#include "store/apps.h"
#include "store/backups.h"
#include "store/databases.h"
#include "store/jobs.h"
#include "store_fixture.h"

#define T0 1800000000000LL /* the test clock (ms) */
#define HOUR (3600 * 1000LL)

typedef struct {
    store_fixture f;
    sd_config cfg;
    sd_clock clock;
    sd_ctx ctx;
    int64_t app, stale_db, fresh_db, failed_backup;
} world;

static int64_t count(sd_db *db, const char *sql)
{
    sd_res r;
    dp_err err = {0};
    assert_int_equal(sd_q(db, &r, &err, sql, ""), 0);
    int64_t n = sd_geti(&r, 0, 0);
    sd_res_free(&r);
    return n;
}

/* An app with two databases, neither ever backed up well: "main", known for 30 hours (stale after 26 h), and
 * "cache", known for 2 hours but whose first attempt, a failure two days ago, counts (also stale), and whose
 * second attempt failed an hour ago. */
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
    int64_t job = 0, old = 0;
    sd_dbinfo stale = {.key = "main", .type = "sqlite"}, fresh = {.key = "cache", .type = "redis"};
    assert_int_equal(sd_store_app_insert(db, "shop", "hash", T0 - 40 * HOUR, &w->app, &err), 0);
    assert_int_equal(sd_store_database_upsert(db, w->app, "production", &stale, T0 - 30 * HOUR, &w->stale_db, &err), 0);
    assert_int_equal(sd_store_database_upsert(db, w->app, "production", &fresh, T0 - 2 * HOUR, &w->fresh_db, &err), 0);
    assert_int_equal(sd_store_job_insert_manual(db, w->app, "production", w->fresh_db, T0 - 2 * HOUR, &err), 0);
    job = count(db, "SELECT MAX(id) FROM jobs");
    sd_backup_new b = {.app = w->app, .db_id = w->fresh_db, .job = job, .agent = 1, .env = "production"};
    b.now = T0 - 49 * HOUR;
    assert_int_equal(sd_store_backup_insert(db, &b, &old, &err), 0);
    assert_int_equal(sd_store_backup_failed(db, old, "source_failed", "old", T0 - 48 * HOUR, &err), 0);
    b.now = T0 - 2 * HOUR;
    assert_int_equal(sd_store_backup_insert(db, &b, &w->failed_backup, &err), 0);
    assert_int_equal(sd_store_backup_failed(db, w->failed_backup, "source_failed", "connection refused", T0 - HOUR,
                                            &err),
                     0);
}

static void world_close(world *w)
{
    sd_ctx_close(&w->ctx);
    sd_config_free(&w->cfg);
    store_fixture_close(&w->f);
}

static int64_t alerts(world *w, const char *kind)
{
    sd_res r;
    dp_err err = {0};
    assert_int_equal(sd_q(w->ctx.db, &r, &err, "SELECT COUNT(*) FROM alerts WHERE kind = ?", "s", kind), 0);
    int64_t n = sd_geti(&r, 0, 0);
    sd_res_free(&r);
    return n;
}

static void rules(int pg)
{
    world w;
    dp_err err = {0};
    world_open(&w, pg);
    assert_int_equal(sd_alerts_detect(&w.ctx, &err), 0);
    assert_int_equal(alerts(&w, "backup_failed"), 1); /* the recent one; the two-day-old one is not alerted */
    sd_res r;
    assert_int_equal(sd_q(w.ctx.db, &r, &err, "SELECT ref, payload FROM alerts WHERE kind = 'backup_stale' ORDER BY id",
                          ""),
                     0);
    assert_int_equal(r.rows, 2);
    char want[64];
    snprintf(want, sizeof want, "d_%lld:0", (long long)w.stale_db);
    assert_string_equal(sd_get(&r, 0, 0), want);
    snprintf(want, sizeof want, "d_%lld:0", (long long)w.fresh_db);
    assert_string_equal(sd_get(&r, 1, 0), want);
    assert_non_null(strstr(sd_get(&r, 0, 1), "\"text\":\"Dumper: shop/main (production) has had no good backup for"
                                             " more than 26 hours\""));
    sd_res_free(&r);
    assert_int_equal(sd_alerts_detect(&w.ctx, &err), 0); /* again: nothing new */
    assert_int_equal(count(w.ctx.db, "SELECT COUNT(*) FROM alerts"), 3);
    /* a good backup of "main" resolves its condition, once */
    int64_t b = 0;
    sd_backup_new nb = {.app = w.app, .db_id = w.stale_db, .job = 1, .agent = 1, .env = "production", .now = T0};
    sd_backup_done d = {.size = 1, .sha256 = "x", .now = T0 + 1000};
    assert_int_equal(sd_store_backup_insert(w.ctx.db, &nb, &b, &err), 0);
    assert_int_equal(sd_store_backup_good(w.ctx.db, b, &d, &err), 0);
    assert_int_equal(sd_alerts_detect(&w.ctx, &err), 0);
    assert_int_equal(sd_alerts_detect(&w.ctx, &err), 0);
    assert_int_equal(alerts(&w, "backup_stale_resolved"), 1);
    world_close(&w);
}

/* Whichever store call of a pass fails: the pass says so, or every alert due exists; then a clean pass leaves
 * each alert exactly once. */
static void faults(int pg)
{
    world w;
    world_open(&w, pg);
    int errors = 0;
    for (int nth = 1; nth < 40; nth++) {
        dp_err err = {0};
        sd_q(w.ctx.db, NULL, &err, "DELETE FROM alerts", "");
        sd_db_inject_faults(w.ctx.db, nth, 0);
        int rc = sd_alerts_detect(&w.ctx, &err);
        sd_db_inject_faults(w.ctx.db, 0, 0);
        if (rc) {
            assert_string_equal(err.msg, "state store: injected fault");
            errors++;
        } else if (alerts(&w, "backup_failed") != 1 || alerts(&w, "backup_stale") != 2) {
            fail_msg("store fault %d: the pass reported success without raising every alert (failed %lld, stale %lld)",
                     nth, (long long)alerts(&w, "backup_failed"), (long long)alerts(&w, "backup_stale"));
        }
        dp_err_clear(&err);
        assert_int_equal(sd_alerts_detect(&w.ctx, &err), 0);
        assert_int_equal(alerts(&w, "backup_failed"), 1);
        assert_int_equal(alerts(&w, "backup_stale"), 2);
    }
    assert_true(errors >= 5); /* each of the pass's store calls was hit */
    world_close(&w);
}

static void test_sqlite_rules(void **state) { rules(0); }
static void test_sqlite_faults(void **state) { faults(0); }

static void test_pg_rules(void **state)
{
    if (!store_fixture_have_pg())
        skip();
    rules(1);
}

static void test_pg_faults(void **state)
{
    if (!store_fixture_have_pg())
        skip();
    faults(1);
}

int main(void)
{
    setenv("TZ", "UTC", 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sqlite_rules), cmocka_unit_test(test_sqlite_faults),
        cmocka_unit_test(test_pg_rules),     cmocka_unit_test(test_pg_faults),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
