/* test_store_storages.c - destinations and the copy catalog (server/store/storages.c) on SQLite and, with the
 * pg service, PostgreSQL: a destination's row (no secret in it, unique name), a committed backup's pending
 * copy in every destination, due copies and the claim that two workers cannot both win, results (failed with
 * its next try, good), the destination's good copies newest first, the database's newest backup with a good
 * copy anywhere (also after its first copy is deleted), enqueue for sync (idempotent; failed made due), and
 * removal taking the destination's copy rows with it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "store/backups.h"
#include "store/storages.h"
#include "store_fixture.h"

#define T0 1800000000000LL

static int64_t good_backup(sd_db *db, int64_t db_id, int64_t at)
{
    dp_err err = {0};
    int64_t id = 0;
    sd_backup_new b = {.app = 1, .db_id = db_id, .job = 1, .agent = 1, .env = "production", .now = at};
    sd_backup_done d = {.size = 10, .sha256 = "ab", .now = at};
    assert_int_equal(sd_store_backup_insert(db, &b, &id, &err), 0);
    assert_int_equal(sd_store_backup_set_file_name(db, id, "f", &err), 0);
    assert_int_equal(sd_store_backup_good(db, id, &d, &err), 0);
    return id;
}

static void catalog(int pg)
{
    store_fixture f;
    sd_db *db = NULL;
    dp_err err = {0};
    if (pg && !store_fixture_have_pg())
        skip();
    assert_int_equal(store_fixture_open(&f, pg), 0);
    if (sd_db_open(f.url, &db, &err) || sd_schema_migrate(db, &err))
        fail_msg("%s", err.msg);
    sd_storage_row off = {.name = "off", .location = "/srv/off", .retention = {.keep_last = 2}},
                   s3 = {.name = "cloud", .location = "s3://b/p", .endpoint = "http://127.0.0.1:9", .path_style = 1,
                         .credentials_file = "/etc/dumper/s3.creds", .lock_mode = "compliance", .lock_days = 30};
    int64_t id_off = 0, id_s3 = 0, dup = 0;
    assert_int_equal(sd_store_storage_insert(db, &off, T0, &id_off, &err), 0);
    assert_int_equal(sd_store_storage_insert(db, &s3, T0, &id_s3, &err), 0);
    assert_int_not_equal(sd_store_storage_insert(db, &off, T0, &dup, &err), 0); /* the name is unique */
    sd_storage_list l;
    assert_int_equal(sd_store_storage_list(db, NULL, &l, &err), 0);
    assert_int_equal(l.n, 2);
    assert_string_equal(l.v[1].name, "cloud");
    assert_string_equal(l.v[1].endpoint, "http://127.0.0.1:9");
    assert_string_equal(l.v[1].credentials_file, "/etc/dumper/s3.creds");
    assert_string_equal(l.v[1].lock_mode, "compliance");
    assert_int_equal(l.v[1].lock_days, 30);
    assert_int_equal(l.v[1].path_style, 1);
    assert_int_equal(l.v[0].retention.keep_last, 2);
    assert_null(l.v[0].endpoint);
    sd_list_free(&l);
    assert_int_equal(sd_store_storage_list(db, "off", &l, &err), 0);
    assert_int_equal(l.n, 1);
    sd_list_free(&l);

    /* Two backups of database 7, committed: a pending copy each in both destinations. */
    int64_t b1 = good_backup(db, 7, T0), b2 = good_backup(db, 7, T0 + 1000);
    assert_int_equal(sd_store_copy_enqueue_backup(db, b1, 100, T0, &err), 0);
    assert_int_equal(sd_store_copy_enqueue_backup(db, b2, 200, T0, &err), 0);
    sd_copy_list due;
    assert_int_equal(sd_store_copy_due(db, 150, 0, 20, &due, &err), 0);
    assert_int_equal(due.n, 2); /* b1's two; b2's are due at 200 */
    assert_int_equal(due.v[0].backup, b1);
    assert_string_equal(due.v[0].state, "pending");
    assert_string_equal(due.v[0].sha256, "ab");
    assert_int_equal(due.v[0].size, 10);
    sd_list_free(&due);
    assert_int_equal(sd_store_copy_due(db, 300, id_s3, 20, &due, &err), 0);
    assert_int_equal(due.n, 2); /* one destination */
    sd_list_free(&due);

    /* The claim: one winner. */
    int won = 0;
    assert_int_equal(sd_store_copy_claim(db, b1, id_off, 100, 5000, &won, &err), 0);
    assert_true(won);
    assert_int_equal(sd_store_copy_claim(db, b1, id_off, 100, 5000, &won, &err), 0);
    assert_false(won);
    assert_int_equal(sd_store_copy_result(db, b1, id_off, "failed", 1, 7000, "down", T0, &err), 0);
    assert_int_equal(sd_store_copy_due(db, 6000, id_off, 20, &due, &err), 0);
    assert_int_equal(due.n, 1); /* b2 only: b1 waits for its next try */
    sd_list_free(&due);
    assert_int_equal(sd_store_copy_due(db, 7000, id_off, 20, &due, &err), 0);
    assert_int_equal(due.n, 2); /* by next try: b2 (200), then b1 (7000) */
    assert_int_equal(due.v[1].backup, b1);
    assert_string_equal(due.v[1].state, "failed");
    assert_string_equal(due.v[1].error, "down");
    assert_int_equal(due.v[1].attempts, 1);
    assert_null(due.v[0].error);
    sd_list_free(&due);

    /* Sync's enqueue: an existing pending row is left alone, a failed one made due, a missing one added. */
    int added = 0;
    assert_int_equal(sd_store_copy_enqueue(db, b2, id_off, 50, &added, &err), 0);
    assert_false(added);
    assert_int_equal(sd_store_copy_enqueue(db, b1, id_off, 50, &added, &err), 0);
    assert_true(added);
    assert_int_equal(store_fixture_count(db, "SELECT MIN(next_try) FROM copies WHERE state = 'failed'"), 50);

    /* Good copies in 'off', newest first; retention's mark. */
    assert_int_equal(sd_store_copy_result(db, b1, id_off, "good", 1, 0, NULL, T0, &err), 0);
    assert_int_equal(sd_store_copy_result(db, b2, id_off, "good", 0, 0, NULL, T0, &err), 0);
    sd_copy_list good;
    assert_int_equal(sd_store_copy_good_of_database(db, id_off, 7, &good, &err), 0);
    assert_int_equal(good.n, 2);
    assert_int_equal(good.v[0].backup, b2);
    assert_string_equal(good.v[0].storage_name, "off");
    assert_string_equal(good.v[0].location, "/srv/off");
    sd_list_free(&good);
    int changed = 0;
    assert_int_equal(sd_store_copy_mark_deleted(db, b2, id_off, &changed, &err), 0);
    assert_true(changed);
    assert_int_equal(sd_store_copy_mark_deleted(db, b2, id_off, &changed, &err), 0);
    assert_false(changed);

    /* The newest backup with a good copy somewhere: b2's first copy is good; deleted there and with no good copy,
     * b1 (good in 'off') is the newest. */
    int64_t newest = 0;
    assert_int_equal(sd_store_copy_newest_of_database(db, 7, &newest, &err), 0);
    assert_int_equal(newest, b2);
    assert_int_equal(sd_store_backup_mark_deleted(db, b2, &changed, &err), 0);
    assert_int_equal(sd_store_backup_mark_deleted(db, b1, &changed, &err), 0);
    assert_int_equal(sd_store_copy_newest_of_database(db, 7, &newest, &err), 0);
    assert_int_equal(newest, b1);
    sd_copy_list cand;
    assert_int_equal(sd_store_copy_sync_candidates(db, &cand, &err), 0);
    assert_int_equal(cand.n, 1);
    assert_int_equal(cand.v[0].backup, b1);
    sd_list_free(&cand);
    sd_copy_list mine;
    assert_int_equal(sd_store_copy_of_backup(db, 1, b1, &mine, &err), 0);
    assert_int_equal(mine.n, 2);
    sd_list_free(&mine);
    assert_int_equal(sd_store_copy_of_backup(db, 2, b1, &mine, &err), 0); /* another app's: nothing */
    assert_int_equal(mine.n, 0);
    sd_list_free(&mine);

    /* Removal takes the destination's rows. */
    int found = 0;
    assert_int_equal(sd_store_storage_delete(db, "off", &found, &err), 0);
    assert_true(found);
    assert_int_equal(sd_store_storage_delete(db, "off", &found, &err), 0);
    assert_false(found);
    assert_int_equal(store_fixture_count(db, "SELECT COUNT(*) FROM copies"), 2); /* cloud's two */
    sd_db_close(db);
    store_fixture_close(&f);
}

static void test_sqlite(void **state) { catalog(0); }
static void test_pg(void **state) { catalog(1); }

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_sqlite), cmocka_unit_test(test_pg)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
