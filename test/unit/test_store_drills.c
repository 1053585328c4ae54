/* test_store_drills.c - drill policies and drill jobs (server/store/drills.c, the drill parts of jobs.c) on SQLite
 * and, with the pg service, PostgreSQL: a policy per environment or database (replaced, listed, removed), which
 * may apply to a database, due cron policies moved on only once; the newest good backup; a drill job's row, its
 * uniqueness per (policy, slot, backup), retargeting, its view for the agent, its finish (once, by its agent);
 * and the dispatch rules: a drill only to an agent with the drill capability, never beside a backup of the same
 * database (nor a backup beside a drill), a drill job never prepared as a backup nor undelivered. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "domain/drill.h"
#include "store/agents.h"
#include "store/backups.h"
#include "store/databases.h"
#include "store/drills.h"
#include "store/jobs.h"
#include "store_fixture.h"

#define T0 1800000000000LL

static int64_t good_backup(sd_db *db, int64_t db_id, int64_t job, const char *file, const char *sha)
{
    int64_t id = store_fixture_good_backup(db, 1, db_id, job, file, sha, T0);
    assert_int_not_equal(id, 0);
    return id;
}

static int64_t pending(sd_db *db, int64_t agent, int *more)
{
    dp_err err = {0};
    int64_t job = -1;
    assert_int_equal(sd_store_job_pending(db, 1, "production", agent, &job, more, &err), 0);
    return job;
}

static void drills(int pg)
{
    store_fixture f;
    sd_db *db = NULL;
    dp_err err = {0};
    if (pg && !store_fixture_have_pg())
        skip();
    assert_int_equal(store_fixture_open(&f, pg), 0);
    if (sd_db_open(f.url, &db, &err) || sd_schema_migrate(db, &err))
        fail_msg("%s", err.msg);
    int64_t d1 = 0, d2 = 0, old_agent = 0, agent = 0;
    sd_dbinfo i1 = {.key = "app", .type = "sqlite", .name = "app"}, i2 = {.key = "pg", .type = "postgresql"};
    assert_int_equal(sd_store_database_upsert(db, 1, "production", &i1, T0, &d1, &err), 0);
    assert_int_equal(sd_store_database_upsert(db, 1, "production", &i2, T0, &d2, &err), 0);
    sd_agent_info ai = {.hostname = "web-1", .env = "production", .pid = 42};
    assert_int_equal(sd_store_agent_insert(db, 1, &ai, T0, &old_agent, &err), 0);
    assert_int_equal(sd_store_agent_insert(db, 1, &ai, T0, &agent, &err), 0);
    assert_int_equal(sd_store_agent_set_caps(db, agent, SD_CAP_DRILL, &err), 0);

    /* policies: the environment's after each backup, d1's own on cron; a set replaces */
    assert_int_equal(sd_store_drill_policy_set(db, 1, "production", 0, SD_DRILL_CRON, "0 3 * * *", "UTC", T0, &err), 0);
    assert_int_equal(sd_store_drill_policy_set(db, 1, "production", 0, SD_DRILL_AFTER_BACKUP, NULL, NULL, T0, &err), 0);
    assert_int_equal(sd_store_drill_policy_set(db, 1, "production", d1, SD_DRILL_CRON, "0 4 * * *", "Europe/Paris", T0,
                                               &err), 0);
    sd_drill_policy_list l;
    assert_int_equal(sd_store_drill_policy_list(db, 1, &l, &err), 0);
    assert_int_equal(l.n, 2);
    assert_int_equal(l.v[0].mode, SD_DRILL_AFTER_BACKUP);
    assert_null(l.v[0].db_key);
    assert_string_equal(l.v[0].cron, "");
    assert_int_equal(l.v[1].mode, SD_DRILL_CRON);
    assert_string_equal(l.v[1].db_key, "app");
    assert_string_equal(l.v[1].tz, "Europe/Paris");
    int64_t env_policy = l.v[0].id, own_policy = l.v[1].id;
    sd_list_free(&l);
    assert_int_equal(sd_store_drill_policy_list(db, 2, &l, &err), 0); /* another app: none */
    assert_int_equal(l.n, 0);
    sd_list_free(&l);
    assert_int_equal(sd_store_drill_policy_candidates(db, 1, d1, &l, &err), 0);
    assert_int_equal(l.n, 2);
    sd_list_free(&l);
    assert_int_equal(sd_store_drill_policy_candidates(db, 1, d2, &l, &err), 0);
    assert_int_equal(l.n, 1);
    assert_int_equal(l.v[0].id, env_policy);
    sd_list_free(&l);
    sd_id_list ids;
    assert_int_equal(sd_store_drill_undrilled_dbs(db, 1, "production", &ids, &err), 0);
    assert_int_equal(ids.n, 1); /* d1 has its own */
    assert_int_equal(ids.v[0], d2);
    sd_list_free(&ids);

    /* due cron policies (next slot 0: due at once), moved on once */
    assert_int_equal(sd_store_drill_policy_due(db, 1000, &l, &err), 0);
    assert_int_equal(l.n, 1);
    assert_int_equal(l.v[0].id, own_policy);
    sd_list_free(&l);
    assert_int_equal(sd_store_drill_policy_advance(db, own_policy, 0, 1000, 5000, &err), 0);
    assert_int_equal(sd_store_drill_policy_advance(db, own_policy, 0, 1000, 9000, &err), 0); /* lost the race */
    int64_t last = 0;
    int found = 0;
    assert_int_equal(sd_store_drill_policy_last_slot(db, own_policy, &last, &found, &err), 0);
    assert_true(found);
    assert_int_equal(last, 1000);
    assert_int_equal(store_fixture_count(db, "SELECT next_slot FROM drill_policies WHERE db_id > 0"), 5000);
    assert_int_equal(sd_store_drill_policy_due(db, 4999, &l, &err), 0);
    assert_int_equal(l.n, 0);
    sd_list_free(&l);

    /* the newest good backup */
    int64_t b = 0;
    assert_int_equal(sd_store_drill_latest_good(db, d1, &b, &err), 0);
    assert_int_equal(b, 0);
    int64_t b1 = good_backup(db, d1, 0, "a-b1.sql.zst", "11"), b2 = good_backup(db, d1, 0, "a-b2.sql.zst", "22");
    assert_int_equal(sd_store_drill_latest_good(db, d1, &b, &err), 0);
    assert_int_equal(b, b2);

    /* a drill job: once per (policy, slot, backup); open; retargeted; its view */
    int64_t dj = 0, open = 0;
    int yes = 1, is_pending = 0, more = 0;
    assert_int_equal(sd_store_drill_job_exists(db, env_policy, 0, b1, &yes, &err), 0);
    assert_false(yes);
    assert_int_equal(sd_store_drill_job_insert(db, 1, "production", d1, b1, env_policy, 0, "after-backup", T0, &dj,
                                               &err), 0);
    assert_int_equal(sd_store_drill_job_exists(db, env_policy, 0, b1, &yes, &err), 0);
    assert_true(yes);
    assert_int_not_equal(sd_store_drill_job_insert(db, 1, "production", d1, b1, env_policy, 0, "after-backup", T0,
                                                   &open, &err), 0); /* the unique index */
    dp_err_clear(&err);
    /* (the failed insert's job row stays in this test's autocommit store: drop it) */
    assert_int_equal(sd_q(db, NULL, &err, "DELETE FROM jobs WHERE id NOT IN (SELECT job_id FROM drill_jobs)", ""), 0);
    assert_int_equal(sd_store_drill_job_open(db, d1, &open, &is_pending, &err), 0);
    assert_int_equal(open, dj);
    assert_true(is_pending);
    assert_int_equal(sd_store_drill_job_retarget(db, dj, b2, T0 + 1, &err), 0);
    sd_job_view v;
    assert_int_equal(sd_store_job_view(db, dj, &v, &found, &err), 0);
    assert_true(found);
    assert_string_equal(v.kind, "drill");
    assert_int_equal(v.backup_id, b2);
    assert_string_equal(v.file_name, "a-b2.sql.zst");
    assert_string_equal(v.sha256, "22");
    assert_string_equal(v.reason, "after-backup");
    assert_string_equal(v.type, "sqlite");
    int drill = 0;
    assert_int_equal(sd_store_job_is_drill(db, dj, &drill, &err), 0);
    assert_true(drill);

    /* dispatch: not to an agent without the drill capability; never beside a backup of its database */
    assert_int_equal(pending(db, old_agent, &more), 0);
    assert_int_equal(pending(db, agent, &more), dj);
    int64_t bj = 0, bj2 = 0;
    assert_int_equal(sd_store_job_insert_manual(db, 1, "production", d1, T0, &bj, &err), 0);
    assert_int_equal(sd_store_job_insert_manual(db, 1, "production", d2, T0, &bj2, &err), 0);
    assert_int_equal(pending(db, old_agent, &more), bj); /* an old agent still gets backups */
    assert_int_equal(sd_store_job_dispatch(db, bj, agent, T0 + 60000, T0, &err), 0);
    assert_int_equal(pending(db, agent, &more), bj2); /* the drill of d1 waits for d1's backup; d2 goes on */
    assert_false(more);
    assert_int_equal(sd_store_job_finish(db, bj, "done", T0, &err), 0);
    assert_int_equal(pending(db, agent, &more), dj);
    assert_int_equal(sd_store_job_dispatch(db, dj, agent, T0 + 60000, T0, &err), 0);
    int64_t bj3 = 0;
    assert_int_equal(sd_store_job_insert_manual(db, 1, "production", d1, T0, &bj3, &err), 0);
    assert_int_equal(pending(db, agent, &more), bj2); /* nor a backup of d1 beside its drill */
    assert_true(more == 0);
    /* a drill job is never prepared as a backup, nor handed out again when its agent re-executes */
    sd_job_prepare jp;
    assert_int_equal(sd_store_job_for_prepare(db, 1, dj, &jp, &found, &err), 0);
    assert_false(found);
    assert_int_equal(sd_store_jobs_undeliver(db, agent, T0, &err), 0);
    assert_int_equal(store_fixture_count(db, "SELECT COUNT(*) FROM jobs WHERE kind = 'drill' AND state = 'dispatched'"), 1);
    sd_expired_list ex;
    assert_int_equal(sd_store_job_expired(db, T0 + 60001, 10, &ex, &err), 0);
    assert_int_equal(ex.n, 1);
    assert_int_equal(ex.v[0].job, dj);
    assert_true(ex.v[0].drill);
    sd_list_free(&ex);

    /* the report: only its agent finishes it, once */
    sd_drill_job_row row;
    assert_int_equal(sd_store_drill_job_get(db, 1, dj, &row, &found, &err), 0);
    assert_true(found);
    assert_int_equal(row.backup_id, b2);
    assert_int_equal(row.agent, agent);
    assert_string_equal(row.state, "dispatched");
    assert_int_equal(sd_store_drill_job_get(db, 2, dj, &row, &found, &err), 0); /* another app's */
    assert_false(found);
    assert_int_equal(sd_store_drill_job_get(db, 1, bj, &row, &found, &err), 0); /* a backup job */
    assert_false(found);
    int done = 1;
    assert_int_equal(sd_store_drill_job_finish(db, dj, old_agent, T0, &done, &err), 0);
    assert_false(done);
    assert_int_equal(sd_store_drill_job_finish(db, dj, agent, T0, &done, &err), 0);
    assert_true(done);
    assert_int_equal(sd_store_drill_job_finish(db, dj, agent, T0, &done, &err), 0);
    assert_false(done);
    assert_int_equal(sd_store_drill_job_open(db, d1, &open, &is_pending, &err), 0);
    assert_int_equal(open, 0);

    /* removal */
    int removed = 0;
    assert_int_equal(sd_store_drill_policy_remove(db, 1, "production", d1, &removed, &err), 0);
    assert_true(removed);
    assert_int_equal(sd_store_drill_policy_remove(db, 1, "production", d1, &removed, &err), 0);
    assert_false(removed);
    sd_db_close(db);
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
