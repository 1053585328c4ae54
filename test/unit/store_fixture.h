/*
 * store_fixture.h - a fresh state store for the tests of dumperd's layers (test_store_*, test_service_*):
 * an SQLite file in a temporary directory, or a fresh PostgreSQL database on the test service (started by
 * scripts/services.sh; DUMPER_TEST_HAVE_PG), dropped afterwards. Header-only: each test is one program.
 */
#ifndef STORE_FIXTURE_H
#define STORE_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/backups.h"
#include "store/db.h"
#include "store/schema.h"

typedef struct store_fixture {
    int pg;
    char dir[64];   /* SQLite: the temporary directory */
    char pgdb[64];  /* PostgreSQL: the database created for the test */
    char url[256];  /* the store URL */
    char admin[256];/* PostgreSQL: the maintenance database's URL */
} store_fixture;

/* The first cell of a query without parameters, as a number (test helpers' COUNT(*)); -1 on an error. */
static inline int64_t store_fixture_count(sd_db *db, const char *sql)
{
    sd_res r;
    dp_err err = {0};
    if (sd_q(db, &r, &err, sql, ""))
        return -1;
    int64_t n = sd_geti(&r, 0, 0);
    sd_res_free(&r);
    return n;
}

/* A good backup of database db_id of app (environment production, job `job`) stored as `file` with sha256 `sha`,
 * at `at` (ms); its id, or 0 on an error. */
static inline int64_t store_fixture_good_backup(sd_db *db, int64_t app, int64_t db_id, int64_t job, const char *file,
                                                const char *sha, int64_t at)
{
    dp_err err = {0};
    int64_t id = 0;
    sd_backup_new b = {.app = app, .db_id = db_id, .job = job, .agent = 1, .env = "production", .now = at};
    sd_backup_done d = {.size = 10, .sha256 = sha, .now = at};
    if (sd_store_backup_insert(db, &b, &id, &err) || sd_store_backup_set_file_name(db, id, file, &err) ||
        sd_store_backup_good(db, id, &d, &err))
        return 0;
    return id;
}

static int store_fixture_have_pg(void) { return getenv("DUMPER_TEST_HAVE_PG") && getenv("DUMPER_TEST_PG_PORT"); }

/* 0 with f ready (not migrated), or -1. */
static int store_fixture_open(store_fixture *f, int pg)
{
    static int serial;
    memset(f, 0, sizeof *f);
    f->pg = pg;
    if (!pg) {
        snprintf(f->dir, sizeof f->dir, "/tmp/dumperd-unit.XXXXXX");
        if (!mkdtemp(f->dir))
            return -1;
        snprintf(f->url, sizeof f->url, "sqlite:%s/dumperd.db", f->dir);
        return 0;
    }
    if (getenv("DUMPER_TEST_PASSWORD"))
        setenv("PGPASSWORD", getenv("DUMPER_TEST_PASSWORD"), 1);
    snprintf(f->admin, sizeof f->admin, "postgres://postgres@127.0.0.1:%s/postgres", getenv("DUMPER_TEST_PG_PORT"));
    snprintf(f->pgdb, sizeof f->pgdb, "dumperd_unit_%d_%d", (int)getpid(), ++serial);
    snprintf(f->url, sizeof f->url, "postgres://postgres@127.0.0.1:%s/%s", getenv("DUMPER_TEST_PG_PORT"), f->pgdb);
    sd_db *db = NULL;
    dp_err err = {0};
    char sql[128];
    snprintf(sql, sizeof sql, "CREATE DATABASE %s", f->pgdb);
    int rc = sd_db_open(f->admin, &db, &err) || sd_exec(db, sql, &err);
    if (rc)
        fprintf(stderr, "store fixture: %s\n", err.msg);
    sd_db_close(db);
    return rc ? -1 : 0;
}

static void store_fixture_close(store_fixture *f)
{
    if (!f->pg) {
        char p[128];
        snprintf(p, sizeof p, "%s/dumperd.db", f->dir);
        unlink(p);
        snprintf(p, sizeof p, "%s/dumperd.db-wal", f->dir);
        unlink(p);
        snprintf(p, sizeof p, "%s/dumperd.db-shm", f->dir);
        unlink(p);
        rmdir(f->dir);
        return;
    }
    sd_db *db = NULL;
    dp_err err = {0};
    char sql[128];
    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", f->pgdb);
    if (sd_db_open(f->admin, &db, &err) || sd_exec(db, sql, &err))
        fprintf(stderr, "store fixture: %s\n", err.msg);
    sd_db_close(db);
}

#endif
