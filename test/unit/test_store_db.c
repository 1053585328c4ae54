/* test_store_db.c - dumperd's store connection layer and schema (server/store/db.c, schema.c) on SQLite and,
 * with the pg service running, on PostgreSQL: versioned migrations (a fresh store, a store from before
 * versions, a store newer than this dumperd), out-of-memory results never read as SQL NULL, injected query
 * faults, and no password in a connection error. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "store_fixture.h"

static sd_db *open_store(store_fixture *f, int pg)
{
    sd_db *db = NULL;
    dp_err err = {0};
    assert_int_equal(store_fixture_open(f, pg), 0);
    if (sd_db_open(f->url, &db, &err))
        fail_msg("%s", err.msg);
    return db;
}

static int64_t version(sd_db *db)
{
    int64_t v = -1;
    dp_err err = {0};
    assert_int_equal(sd_schema_version(db, &v, &err), 0);
    return v;
}

static void migrations(int pg)
{
    store_fixture f;
    sd_db *db = open_store(&f, pg);
    dp_err err = {0};
    sd_res r;
    assert_true(sd_schema_latest() >= 1);
    assert_int_equal(version(db), 0);
    assert_int_equal(sd_schema_migrate(db, &err), 0);
    assert_int_equal(version(db), sd_schema_latest());
    assert_int_equal(sd_schema_migrate(db, &err), 0); /* again: nothing to do */
    assert_int_equal(version(db), sd_schema_latest());
    assert_int_equal(sd_q(db, &r, &err, "SELECT COUNT(*) FROM schema_version", ""), 0);
    assert_int_equal(sd_geti(&r, 0, 0), sd_schema_latest()); /* each migration once */
    sd_res_free(&r);
    assert_int_equal(sd_q(db, NULL, &err, "INSERT INTO apps (name, key_hash, created_at) VALUES ('a', 'h', 1)", ""), 0);

    /* A store from before versions (migration 1's tables, no schema_version) is adopted as version 1, its rows
     * kept, and the later migrations applied: undo them here (each later migration's columns). */
    assert_int_equal(sd_exec(db, "DROP TABLE schema_version", &err), 0);
    assert_int_equal(sd_exec(db, "ALTER TABLE agents DROP COLUMN stopped_at", &err), 0);
    assert_int_equal(sd_exec(db, "ALTER TABLE agents DROP COLUMN silent_at", &err), 0);
    assert_int_equal(sd_exec(db, "ALTER TABLE jobs DROP COLUMN kind", &err), 0);   /* drills run by dumperd */
    assert_int_equal(sd_exec(db, "ALTER TABLE agents DROP COLUMN caps", &err), 0);
    assert_int_equal(sd_exec(db, "ALTER TABLE agents DROP COLUMN process_start", &err), 0);
    assert_int_equal(sd_schema_migrate(db, &err), 0);
    assert_int_equal(version(db), sd_schema_latest());
    assert_int_equal(sd_q(db, &r, &err, "SELECT name FROM apps", ""), 0);
    assert_int_equal(r.rows, 1);
    assert_string_equal(sd_get(&r, 0, 0), "a");
    sd_res_free(&r);

    /* A store newer than this dumperd is refused, untouched. */
    assert_int_equal(sd_q(db, NULL, &err, "INSERT INTO schema_version (version) VALUES (?)", "i", sd_schema_latest() + 1),
                     0);
    assert_int_equal(sd_schema_migrate(db, &err), DUMPER_EUNSUPPORTED);
    char want[200];
    snprintf(want, sizeof want,
             "the state store has schema version %lld, newer than this dumperd knows (%lld): use a newer dumperd",
             (long long)sd_schema_latest() + 1, (long long)sd_schema_latest());
    assert_string_equal(err.msg, want);
    sd_db_close(db);
    store_fixture_close(&f);
}

/* Every result cell that cannot be copied fails the query with DUMPER_ENOMEM and an empty result: never a row
 * with a NULL where the database had a value. */
static void out_of_memory(int pg)
{
    store_fixture f;
    sd_db *db = open_store(&f, pg);
    dp_err err = {0};
    sd_res r;
    assert_int_equal(sd_exec(db, "CREATE TABLE t (a TEXT, b TEXT); INSERT INTO t VALUES ('x', 'y'), ('z', NULL)", &err),
                     0);
    for (int nth = 1; nth <= 3; nth++) { /* three non-NULL cells */
        dp_err_clear(&err);
        sd_db_inject_faults(db, 0, nth);
        assert_int_equal(sd_q(db, &r, &err, "SELECT a, b FROM t ORDER BY a", ""), DUMPER_ENOMEM);
        assert_string_equal(err.msg, "out of memory");
        assert_int_equal(r.rows, 0);
        assert_null(r.cells);
    }
    sd_db_inject_faults(db, 0, 4); /* past the last copy: the result is whole */
    dp_err_clear(&err);
    assert_int_equal(sd_q(db, &r, &err, "SELECT a, b FROM t ORDER BY a", ""), 0);
    assert_int_equal(r.rows, 2);
    assert_string_equal(sd_get(&r, 0, 1), "y");
    assert_null(sd_get(&r, 1, 1)); /* a real NULL stays NULL */
    sd_res_free(&r);
    sd_db_inject_faults(db, 0, 0);
    sd_db_close(db);
    store_fixture_close(&f);
}

static void query_faults(int pg)
{
    store_fixture f;
    sd_db *db = open_store(&f, pg);
    dp_err err = {0};
    sd_res r;
    sd_db_inject_faults(db, 2, 0);
    assert_int_equal(sd_q(db, &r, &err, "SELECT 1", ""), 0);
    sd_res_free(&r);
    assert_int_equal(sd_q(db, &r, &err, "SELECT 1", ""), DUMPER_EINTERNAL);
    assert_string_equal(err.msg, "state store: injected fault");
    dp_err_clear(&err);
    assert_int_equal(sd_q(db, &r, &err, "SELECT 1", ""), 0);
    sd_res_free(&r);
    sd_db_close(db);
    store_fixture_close(&f);
}

static void test_sqlite_migrations(void **state) { migrations(0); }
static void test_sqlite_out_of_memory(void **state) { out_of_memory(0); }
static void test_sqlite_query_faults(void **state) { query_faults(0); }

static void test_pg_migrations(void **state)
{
    if (!store_fixture_have_pg())
        skip();
    migrations(1);
}

static void test_pg_out_of_memory(void **state)
{
    if (!store_fixture_have_pg())
        skip();
    out_of_memory(1);
}

static void test_pg_query_faults(void **state)
{
    if (!store_fixture_have_pg())
        skip();
    query_faults(1);
}

/* libpq quotes a bad URL back; the password never reaches the message. */
static void test_pg_error_hides_password(void **state)
{
    sd_db *db = NULL;
    dp_err err = {0};
    assert_int_equal(sd_db_open("postgres://app:s3cret%ZZ@127.0.0.1:1/x", &db, &err), DUMPER_ECONNECT);
    assert_null(db);
    assert_non_null(strstr(err.msg, "unable to connect to the state store: "));
    assert_null(strstr(err.msg, "s3cret"));
    dp_err_clear(&err);
    assert_int_equal(sd_db_open("postgresql://127.0.0.1:1/x?password=hunter2%G&user=app", &db, &err), DUMPER_ECONNECT);
    assert_null(strstr(err.msg, "hunter2"));
    dp_err_clear(&err);
    assert_int_equal(sd_db_open("mysql://app:pw@h/x", &db, &err), DUMPER_EUSAGE);
    assert_string_equal(err.msg, "unknown state store 'mysql:...' (expected sqlite:PATH or postgres://...)");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sqlite_migrations), cmocka_unit_test(test_sqlite_out_of_memory),
        cmocka_unit_test(test_sqlite_query_faults), cmocka_unit_test(test_pg_migrations),
        cmocka_unit_test(test_pg_out_of_memory), cmocka_unit_test(test_pg_query_faults),
        cmocka_unit_test(test_pg_error_hides_password),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
