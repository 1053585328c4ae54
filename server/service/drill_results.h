/*
 * drill_results.h - restore drills' results (issue 15): recording one an agent reported (`dumper drill --json`,
 * untrusted), and the evidence read from them (per backup, per database) for `dumperd backups --json`, the API,
 * the dashboard and /metrics. The rules and limits are domain/drill_result.h.
 */
#ifndef SD_SERVICE_DRILL_RESULTS_H
#define SD_SERVICE_DRILL_RESULTS_H

#include <stddef.h>
#include <stdint.h>

#include "domain/drill_result.h"
#include "service/ctx.h"
#include "store/drill_results.h"

/* Decode a `dumper drill --json` document (at most SD_DRILL_DOC_MAX bytes, one JSON object; unknown members
 * ignored) into *d and check it (domain/drill_result.h). 0, or -1 with one line in msg ("drill result: ...");
 * *d is freed on failure. Pure apart from allocation (fuzzed: test/fuzz/fuzz_dumperd_drill_result.c). */
int sd_drill_doc_parse(const char *json, size_t len, sd_drill_doc *d, char *msg, size_t msglen);

/* Record one drill run of backup `backup` of app `app` (reported by `agent` for drill job `job`, 0 when not
 * from a job). `result_json` is the `dumper drill --json` document, untrusted. Validates it, stores it, raises
 * the "drill_failed" event (service/notify.h) when status is not "passed". Returns 0, or sets *st (SD_INVALID
 * with a one-line message for a bad document; SD_NOT_FOUND for a backup of another app) and returns -1.
 * id (may be NULL) gets the stored result's id. */
int sd_drill_record(sd_ctx *ctx, int64_t app, int64_t backup, int64_t agent, int64_t job, const char *result_json,
                    size_t len, sd_status *st);
int sd_drill_record_id(sd_ctx *ctx, int64_t app, int64_t backup, int64_t agent, int64_t job,
                       const char *result_json, size_t len, int64_t *id, sd_status *st);

/* The newest drill of each backup of the app (for backup lists), and the drills of one backup (newest first,
 * at most limit). */
int sd_drill_latest_of_app(sd_ctx *ctx, int64_t app, sd_drill_list *out, sd_status *st);
int sd_drill_of_backup(sd_ctx *ctx, int64_t app, int64_t backup, int limit, sd_drill_list *out, sd_status *st);
/* The evidence per database (every app's when app is 0). */
int sd_drill_databases(sd_ctx *ctx, int64_t app, sd_drill_db_list *out, sd_status *st);
/* The row of the list for backup id, or NULL. */
const sd_drill_row *sd_drill_find(const sd_drill_list *l, int64_t backup);

/* An app's --drill-max-age (seconds; 0: off): set (SD_INVALID past SD_DRILL_MAX_AGE_MAX) and read. */
#define SD_DRILL_MAX_AGE_MAX (3650LL * 86400)
int sd_drill_max_age_set(sd_ctx *ctx, int64_t app, int64_t max_age_s, sd_status *st);
int sd_drill_max_age_get(sd_ctx *ctx, int64_t app, int64_t *max_age_s, sd_status *st);

/* The alert thread's drill rules, inside its detection pass (service/alerts.c): every database of an app with a
 * --drill-max-age, with a good backup, and without a passed drill for longer (domain sd_drill_overdue) raises
 * "drill_overdue" (once per condition, ref "v_<db>:<newest passed drill or 0>"); an open one whose database has
 * passed a drill since raises "drill_overdue_resolved" (same ref). Store codes as an sd_txn step. */
int sd_drill_alerts_detect(sd_ctx *ctx, int64_t now, sd_status *st);

#endif
