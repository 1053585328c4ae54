/*
 * drills.h - restore drills run by dumperd (issue 15 item 3): the operator's drill policies, the drill jobs
 * they queue (after each committed backup, in the commit's own transaction; or on cron slots, in the
 * scheduler's pass), what happens to a lost drill job, and the agent's report of a drill's result, which is
 * stored by drill-evidence's sd_drill_record (service/drill_results.h).
 *
 * A drill job restores the database's latest good backup; it goes to the primary agent like a backup job,
 * only to one that registered the drill capability, never while a backup of the same database runs (and no
 * backup is handed out while its drill runs: store/jobs.h sd_store_job_pending). Rules: domain/drill.h.
 */
#ifndef SD_SERVICE_DRILLS_H
#define SD_SERVICE_DRILLS_H

#include <stddef.h>
#include <stdint.h>

#include "service/ctx.h"
#include "store/drills.h"

/* Set the drill policy of (app, env) or of its database dbkey (NULL: every database of env): after each
 * backup, or on cron slots in tz (NULL: UTC). SD_INVALID for a bad combination, expression or zone;
 * SD_NOT_FOUND for a database no agent registered. *warning: a static note (leap-day-only expression) or
 * NULL. */
int sd_drill_policy_set(sd_ctx *ctx, int64_t app, const char *env, const char *dbkey, int after_each,
                        const char *cron, const char *tz, const char **warning, sd_status *st);
/* Remove it: SD_NOT_FOUND when there is none. Queued drill jobs stay. */
int sd_drill_policy_remove(sd_ctx *ctx, int64_t app, const char *env, const char *dbkey, sd_status *st);
/* The app's policies; the caller frees with sd_list_free. */
int sd_drill_policies(sd_ctx *ctx, int64_t app, sd_drill_policy_list *out, sd_status *st);

/* Inside a commit's write transaction (service/commit.c): backup `backup` of database db_id is good. When an
 * after-each-backup policy applies, a drill job of it is queued, or the database's drill job that is still
 * pending drills this newer backup instead. */
int sd_drills_after_backup(sd_ctx *ctx, int64_t app, int64_t db_id, int64_t backup, int64_t now, sd_status *st);

/* The scheduler's pass: every cron policy due at now_s queues one drill of the latest good backup of each of
 * its databases that has no drill job open, and moves on to its next slot. */
int sd_drills_tick(sd_ctx *ctx, int64_t now_s, dp_err *err);

/* The agent's report: the `dumper drill --json` object of drill job `job` (of app), run by `agent`. The job
 * must be a drill job of the app (SD_NOT_FOUND), dispatched to this agent (SD_CONFLICT "... is dispatched to
 * another agent" or "... is no longer open"). The job is done first (a second report is a conflict), then the
 * result is recorded; an invalid document is recorded as an error result naming the problem, and answered
 * SD_INVALID. */
int sd_drill_job_report(sd_ctx *ctx, int64_t app, int64_t job, int64_t agent, const char *result_json, size_t len,
                        sd_status *st);

/* The job process's renewal while the drill runs (every third of the lease): the same checks as the report
 * (SD_NOT_FOUND, SD_CONFLICT); the lease then ends a job lease from now (*lease_until, ms). A drill longer than
 * the lease is not lost while its process lives. */
int sd_drill_job_renew(sd_ctx *ctx, int64_t app, int64_t job, int64_t agent, int64_t *lease_until, sd_status *st);

#endif
