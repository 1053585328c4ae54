/*
 * rest.h - the use cases of the REST API (docs/api.md) that the operator's services (admin.h) do not already
 * cover: a filtered page of the catalog, and one job's state with its latest backup attempt. Manual backups,
 * schedules, retention and app views are admin.h's, shared with the CLI and the dashboard.
 */
#ifndef SD_SERVICE_REST_H
#define SD_SERVICE_REST_H

#include <stdint.h>

#include "service/ctx.h"
#include "store/backups.h"
#include "store/jobs.h"

/* The most entries one page holds. */
#define SD_PAGE_MAX 500

/* A page of the app's catalog, newest first; f->limit 1..SD_PAGE_MAX. *more = 1 when older entries match. */
int sd_backup_page(sd_ctx *ctx, int64_t app, const sd_backup_filter *f, sd_backup_list *out, int *more,
                   sd_status *st);
/* The app's job: SD_NOT_FOUND "unknown job 'j_N'" (another app's too). */
int sd_job_state_get(sd_ctx *ctx, int64_t app, int64_t job, sd_job_state *out, sd_status *st);
/* Where a job stands for a caller that waits for it: "pending" (not finished: queued, running, or waiting for
 * another attempt), "good" (done with a good backup) or "failed". */
const char *sd_job_result(const sd_job_state *j);

#endif
