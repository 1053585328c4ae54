/*
 * drill_results.h - the drill_results table: one row per drill run of a backup (domain/drill_result.h says
 * what the values mean; the service validates them before they get here). SQL only (see apps.h for the
 * conventions). Times in ms.
 */
#ifndef SD_STORE_DRILL_RESULTS_H
#define SD_STORE_DRILL_RESULTS_H

#include <stdint.h>

#include "core/err.h"
#include "store/alerts.h"
#include "store/db.h"

/* A row to insert. Strings may be NULL (SQL NULL) except status, mismatches and checks (JSON arrays). */
typedef struct sd_drill_new {
    int64_t app, db_id, backup, job, agent;
    const char *env, *status, *error;
    int64_t started_at, finished_at, duration_ms, restore_ms, backup_ms;
    int compared, has_figures;
    int64_t tables, rows, mismatch_count;
    const char *mismatches, *checks;
    const char *source_type, *target, *scratch_server_version, *source_server_version, *schema_migration;
} sd_drill_new;

typedef struct sd_drill_row {
    int64_t id, db_id, backup_id, job_id, agent_id;
    const char *env, *db_key, *status, *error; /* error, db_key may be NULL */
    int64_t started_at, finished_at, duration_ms, restore_ms, backup_ms;
    int compared, has_figures;
    int64_t tables, rows, mismatch_count;
    const char *mismatches, *checks; /* JSON arrays as stored */
    const char *source_type, *target, *scratch_server_version, *source_server_version, *schema_migration;
} sd_drill_row;

typedef struct sd_drill_list {
    int n;
    sd_drill_row *v;
    sd_res res_;
} sd_drill_list;

int sd_store_drill_insert(sd_db *db, const sd_drill_new *r, int64_t *id, dp_err *err);
/* The drills of one backup of the app, newest first, at most limit. */
int sd_store_drill_of_backup(sd_db *db, int64_t app, int64_t backup, int limit, sd_drill_list *out, dp_err *err);
/* The newest drill of each backup of the app that has one (any order). */
int sd_store_drill_latest_of_app(sd_db *db, int64_t app, sd_drill_list *out, dp_err *err);

/* Per database (every app's when app is 0), ordered by app name, environment, key: the newest passed drill,
 * the failed (or errored) drills counted, the newest drill, and the first good backup's finish (from when a
 * database that never passed a drill counts as unverified). */
typedef struct sd_drill_db_row {
    int64_t app_id, db_id;
    const char *app, *env, *db_key;
    int has_passed;
    int64_t last_passed_at, last_passed_id; /* finished_at and id of the newest passed drill */
    int64_t failures, drills;               /* drills not passed; all drills */
    const char *latest_status;              /* NULL: never drilled */
    int64_t latest_at, latest_id;
    int has_good;
    int64_t first_good_at;
    int64_t max_age_s; /* the app's --drill-max-age (0: off) */
} sd_drill_db_row;

typedef struct sd_drill_db_list {
    int n;
    sd_drill_db_row *v;
    sd_res res_;
} sd_drill_db_list;

int sd_store_drill_databases(sd_db *db, int64_t app, sd_drill_db_list *out, dp_err *err);

/* The app's --drill-max-age in seconds (0: off, also without a row), and setting it. */
int sd_store_drill_max_age_get(sd_db *db, int64_t app, int64_t *max_age_s, dp_err *err);
int sd_store_drill_max_age_put(sd_db *db, int64_t app, int64_t max_age_s, dp_err *err);
/* Open "drill_overdue" alerts (without their "drill_overdue_resolved"): ref and payload (store/alerts.h rows). */
int sd_store_drill_open_overdue(sd_db *db, sd_alert_list *out, dp_err *err);

#endif
