/* test_service_drills.c - drills run by dumperd through the service and store layers (server/service/drills.c) on
 * SQLite and, with the pg service, PostgreSQL: policies (an unknown database, removal), drills queued after a
 * backup (once per backup, a waiting one retargeted to the newer backup, none without a policy or with a cron
 * one), cron drills queued once per pass and slot (none while one is open), and the agent's report: an unknown
 * job, another agent's, a passed result stored once (a second report refused), a bad document stored as an
 * error naming the problem. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "domain/drill.h"
#include "service/admin.h"
#include "service/drill_results.h"
#include "service/drills.h"
#include "store/agents.h"
#include "store/backups.h"
#include "store/databases.h"
#include "store/jobs.h"
#include "store_fixture.h"

#define PASSED "{\"backup\":\"f\",\"status\":\"passed\",\"compared\":true,\"restore_ms\":5,\"duration_ms\":9,\"tables\":2," \
               "\"rows\":3,\"mismatches\":[],\"checks\":[]}"

typedef struct {
    int64_t app, db_id, backup;
} after_arg;

static int after_txn(sd_ctx *ctx, void *a_, sd_status *st)
{
    after_arg *a = a_;
    return sd_drills_after_backup(ctx, a->app, a->db_id, a->backup, sd_ctx_now(ctx), st);
}

static void after(sd_ctx *ctx, int64_t app, int64_t db_id, int64_t backup)
{
    after_arg a = {app, db_id, backup};
    sd_status st = SD_STATUS_INIT;
    assert_int_equal(sd_txn(ctx, SD_TXN_WRITE, after_txn, &a, &st), 0);
}

static int64_t good_backup(sd_db *db, int64_t app, int64_t db_id, int64_t n)
{
    char file[32];
    snprintf(file, sizeof file, "f%lld.sql.zst", (long long)n);
    int64_t id = store_fixture_good_backup(db, app, db_id, 0, file, "ab", 1000);
    assert_int_not_equal(id, 0);
    return id;
}

static int64_t count(sd_db *db, const char *sql) { return store_fixture_count(db, sql); }

static int64_t drill_of(sd_db *db, int64_t job)
{
    sd_res r;
    dp_err err = {0};
    assert_int_equal(sd_q(db, &r, &err, "SELECT backup_id FROM drill_jobs WHERE job_id = ?", "i", job), 0);
    int64_t b = sd_geti(&r, 0, 0);
    sd_res_free(&r);
    return b;
}

static void drills(int pg)
{
    store_fixture f;
    sd_config cfg;
    sd_ctx ctx;
    dp_err err = {0};
    char key[68];
    int64_t app = 0, d1 = 0, d2 = 0, agent = 0, other = 0, job = 0;
    int more = 0;
    if (pg && !store_fixture_have_pg())
        skip();
    assert_int_equal(store_fixture_open(&f, pg), 0);
    sd_config_defaults(&cfg);
    assert_int_equal(sd_config_paths(&cfg, "/nonexistent", f.url, "/nonexistent/backups"), 0);
    if (sd_ctx_open(&ctx, &cfg, NULL, &err) || sd_schema_migrate(ctx.db, &err))
        fail_msg("%s", err.msg);
    sd_status st = SD_STATUS_INIT;
    assert_int_equal(sd_app_create(&ctx, "shop", key, &app, &st), 0);
    sd_dbinfo i1 = {.key = "app", .type = "sqlite"}, i2 = {.key = "pg", .type = "postgresql"};
    assert_int_equal(sd_store_database_upsert(ctx.db, app, "production", &i1, 1000, &d1, &err), 0);
    assert_int_equal(sd_store_database_upsert(ctx.db, app, "production", &i2, 1000, &d2, &err), 0);
    sd_agent_info ai = {.hostname = "web-1", .env = "production", .pid = 42};
    assert_int_equal(sd_store_agent_insert(ctx.db, app, &ai, 1000, &agent, &err), 0);
    assert_int_equal(sd_store_agent_insert(ctx.db, app, &ai, 1000, &other, &err), 0);
    assert_int_equal(sd_store_agent_set_caps(ctx.db, agent, SD_CAP_DRILL, &err), 0);

    /* policies */
    const char *warning = NULL;
    assert_int_equal(sd_drill_policy_set(&ctx, app, "production", "nope", 1, NULL, NULL, &warning, &st), -1);
    assert_int_equal(st.outcome, SD_NOT_FOUND);
    assert_string_equal(st.err.msg,
                        "database 'nope' is not known in environment 'production' (an agent must register it first)");
    st = (sd_status)SD_STATUS_INIT;
    assert_int_equal(sd_drill_policy_set(&ctx, app, "production", NULL, 0, NULL, NULL, &warning, &st), -1);
    assert_int_equal(st.outcome, SD_INVALID);
    st = (sd_status)SD_STATUS_INIT;
    assert_int_equal(sd_drill_policy_remove(&ctx, app, "production", NULL, &st), -1);
    assert_int_equal(st.outcome, SD_NOT_FOUND);
    assert_string_equal(st.err.msg, "no drill policy for production");
    st = (sd_status)SD_STATUS_INIT;

    /* no policy: a backup queues nothing */
    int64_t b1 = good_backup(ctx.db, app, d1, 1);
    after(&ctx, app, d1, b1);
    assert_int_equal(count(ctx.db, "SELECT COUNT(*) FROM jobs WHERE kind = 'drill'"), 0);
    /* after each backup (the environment's): one drill per backup; a waiting one drills the newer backup */
    assert_int_equal(sd_drill_policy_set(&ctx, app, "production", NULL, 1, NULL, NULL, &warning, &st), 0);
    assert_null(warning);
    after(&ctx, app, d1, b1);
    after(&ctx, app, d1, b1); /* the same commit again: nothing more */
    assert_int_equal(count(ctx.db, "SELECT COUNT(*) FROM jobs WHERE kind = 'drill'"), 1);
    int64_t b2 = good_backup(ctx.db, app, d1, 2);
    after(&ctx, app, d1, b2);
    assert_int_equal(count(ctx.db, "SELECT COUNT(*) FROM jobs WHERE kind = 'drill'"), 1);
    assert_int_equal(sd_store_job_pending(ctx.db, app, "production", agent, &job, &more, &err), 0);
    assert_int_equal(drill_of(ctx.db, job), b2);
    /* d2's own cron policy wins over the environment's: its backups queue no drill */
    assert_int_equal(sd_drill_policy_set(&ctx, app, "production", "pg", 0, "* * * * *", "UTC", &warning, &st), 0);
    int64_t p1 = good_backup(ctx.db, app, d2, 3);
    after(&ctx, app, d2, p1);
    assert_int_equal(count(ctx.db, "SELECT COUNT(*) FROM jobs WHERE kind = 'drill'"), 1);
    sd_drill_policy_list l;
    assert_int_equal(sd_drill_policies(&ctx, app, &l, &st), 0);
    assert_int_equal(l.n, 2);
    sd_list_free(&l);

    /* cron: the first pass starts the policy, the next queues one drill of the latest backup, once */
    assert_int_equal(sd_drills_tick(&ctx, 1800000000, &err), 0);
    assert_int_equal(count(ctx.db, "SELECT COUNT(*) FROM jobs WHERE kind = 'drill'"), 1);
    assert_int_equal(sd_drills_tick(&ctx, 1800000000 + 180, &err), 0); /* three slots due: one drill */
    assert_int_equal(count(ctx.db, "SELECT COUNT(*) FROM jobs WHERE kind = 'drill' AND reason = 'schedule'"), 1);
    assert_int_equal(sd_drills_tick(&ctx, 1800000000 + 180, &err), 0);
    assert_int_equal(sd_drills_tick(&ctx, 1800000000 + 240, &err), 0); /* one is open: none more */
    assert_int_equal(count(ctx.db, "SELECT COUNT(*) FROM jobs WHERE kind = 'drill' AND reason = 'schedule'"), 1);
    assert_int_equal(count(ctx.db, "SELECT COUNT(*) FROM drill_jobs dj JOIN jobs j ON j.id = dj.job_id"
                                   " WHERE j.reason = 'schedule' AND dj.slot = 1800000000 + 180"), 1);

    /* the report */
    assert_int_equal(sd_store_job_dispatch(ctx.db, job, agent, sd_ctx_now(&ctx) + 60000, 0, &err), 0);
    assert_int_equal(sd_drill_job_report(&ctx, app, 999, agent, PASSED, strlen(PASSED), &st), -1);
    assert_int_equal(st.outcome, SD_NOT_FOUND);
    st = (sd_status)SD_STATUS_INIT;
    assert_int_equal(sd_drill_job_report(&ctx, app + 1, job, agent, PASSED, strlen(PASSED), &st), -1);
    assert_int_equal(st.outcome, SD_NOT_FOUND); /* another app's */
    st = (sd_status)SD_STATUS_INIT;
    assert_int_equal(sd_drill_job_report(&ctx, app, job, other, PASSED, strlen(PASSED), &st), -1);
    assert_int_equal(st.outcome, SD_CONFLICT);
    char want[100];
    snprintf(want, sizeof want, "job 'j_%lld' is dispatched to another agent", (long long)job);
    assert_string_equal(st.err.msg, want);
    st = (sd_status)SD_STATUS_INIT;
    assert_int_equal(sd_drill_job_report(&ctx, app, job, agent, PASSED, strlen(PASSED), &st), 0);
    assert_int_equal(sd_drill_job_report(&ctx, app, job, agent, PASSED, strlen(PASSED), &st), -1);
    assert_int_equal(st.outcome, SD_CONFLICT);
    snprintf(want, sizeof want, "drill job 'j_%lld' is no longer open (done)", (long long)job);
    assert_string_equal(st.err.msg, want);
    st = (sd_status)SD_STATUS_INIT;
    sd_drill_list dl;
    assert_int_equal(sd_drill_of_backup(&ctx, app, b2, 10, &dl, &st), 0);
    assert_int_equal(dl.n, 1);
    assert_string_equal(dl.v[0].status, "passed");
    assert_int_equal(dl.v[0].job_id, job);
    assert_int_equal(dl.v[0].agent_id, agent);
    sd_list_free(&dl);

    /* a bad document: refused, and stored as an error naming the problem */
    int64_t cron_job = 0;
    assert_int_equal(sd_store_job_pending(ctx.db, app, "production", agent, &cron_job, &more, &err), 0);
    assert_int_not_equal(cron_job, 0);
    assert_int_equal(sd_store_job_dispatch(ctx.db, cron_job, agent, sd_ctx_now(&ctx) + 60000, 0, &err), 0);
    const char *bad = "{\"status\":\"maybe\"}";
    assert_int_equal(sd_drill_job_report(&ctx, app, cron_job, agent, bad, strlen(bad), &st), -1);
    assert_int_equal(st.outcome, SD_INVALID);
    st = (sd_status)SD_STATUS_INIT;
    assert_int_equal(sd_drill_of_backup(&ctx, app, p1, 10, &dl, &st), 0);
    assert_int_equal(dl.n, 1);
    assert_string_equal(dl.v[0].status, "error");
    assert_non_null(dl.v[0].error);
    assert_int_equal(strncmp(dl.v[0].error, "the agent's drill report was refused: ", 38), 0);
    sd_list_free(&dl);

    assert_int_equal(sd_drill_policy_remove(&ctx, app, "production", "pg", &st), 0);
    assert_int_equal(sd_drill_policies(&ctx, app, &l, &st), 0);
    assert_int_equal(l.n, 1);
    sd_list_free(&l);
    sd_ctx_close(&ctx);
    sd_config_free(&cfg);
    store_fixture_close(&f);
}

static void test_sqlite(void **state)
{
    (void)state;
    drills(0);
}
static void test_pg(void **state)
{
    (void)state;
    drills(1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_sqlite), cmocka_unit_test(test_pg)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
