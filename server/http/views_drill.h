/*
 * views_drill.h - the JSON shapes of restore drills' evidence (issue 15; docs/drills.md "Evidence"), shared by
 * `dumperd backups --json`, the REST API and the dashboard like views.h:
 * - a backup's "drill": null (never drilled) or its newest drill: drill_id, status (passed, failed, error),
 *   started_at, finished_at, duration_ms, restore_ms, backup_ms, compared, tables, rows (null when the drill did
 *   not get that far), mismatch_count, mismatches (the first 100 lines), checks [{name, passed, result}], error,
 *   job_id (null: not from a drill job);
 * - a database's "verification": last_verified_at (finish of the newest passed drill, null: never), drills,
 *   drill_failures (runs not passed), latest_drill_status, latest_drill_at (null: never drilled).
 */
#ifndef SD_VIEWS_DRILL_H
#define SD_VIEWS_DRILL_H

#include <cjson/cJSON.h>

#include "service/ctx.h"
#include "store/drill_results.h"

cJSON *sd_view_drill(const sd_drill_row *r);
/* Every backup object of arr (sd_view_backups) gets its "drill" from l (null when l has none for it). */
void sd_view_backups_add_drills(cJSON *arr, const sd_drill_list *l);
/* The same, reading the app's newest drills: 0, or -1 with st filled (arr unchanged). */
int sd_view_backups_drills(sd_ctx *ctx, int64_t app, cJSON *arr, sd_status *st);
/* Every database object of arr (sd_view_databases: "database_id") gets its "verification" from l. */
void sd_view_databases_add_verification(cJSON *arr, const sd_drill_db_list *l);

#endif
