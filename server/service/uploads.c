/* uploads.c - prepare, part checks, presigned parts and failures (see uploads.h). */
#include "service/uploads.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "domain/names.h"
#include "domain/retry.h"
#include "service/job_policy.h"
#include "service/parts.h"
#include "storage/s3_upload.h"
#include "store/agents.h"
#include "store/backups.h"
#include "store/jobs.h"

#define PRESIGN_EXPIRES_S 900

typedef struct {
    int64_t app;
    const sd_prepare_req *req;
    sd_prepare_res *res;
    int known;
} prep_arg;

static int agent_known(sd_ctx *ctx, void *a_, sd_status *st)
{
    prep_arg *a = a_;
    return sd_store_agent_of_app(ctx->db, a->req->agent, a->app, &a->known, &st->err);
}

static int prepare_txn(sd_ctx *ctx, void *a_, sd_status *st)
{
    prep_arg *a = a_;
    const sd_prepare_req *q = a->req;
    int64_t now = sd_ctx_now(ctx), lease = now + ctx->cfg->job_lease_ms;
    sd_job_prepare j;
    int found = 0;
    SD_TRY(sd_store_job_for_prepare(ctx->db, a->app, q->job, &j, &found, &st->err));
    if (!found)
        return sd_fail(st, SD_NOT_FOUND, "unknown job 'j_%" PRId64 "'", q->job);
    if (strcmp(j.state, "dispatched"))
        return sd_fail(st, SD_CONFLICT, "job 'j_%" PRId64 "' is %s, not open", q->job, j.state);
    /* a job taken back (lease expired, or its agent's process re-executed) and given to another agent: a late
     * job process of the old one must not start a second upload of it */
    if (j.agent != q->agent)
        return sd_fail(st, SD_CONFLICT, "job 'j_%" PRId64 "' is dispatched to another agent", q->job);
    if (!strcmp(j.backup_status, "running")) { /* the same attempt prepared again */
        a->res->backup = j.backup_id;
        snprintf(a->res->file_name, sizeof a->res->file_name, "%s", j.file_name);
        return sd_store_job_renew(ctx->db, q->job, lease, now, &st->err);
    }
    sd_job_policy pol;
    SD_TRY(sd_job_policy_load(ctx, a->app, &pol, st));
    const char *why = sd_job_policy_check_prepare(&pol, q->encryption, q->recipients.nrecipients);
    if (why)
        return sd_fail(st, SD_INVALID, "%s", why);
    char ext[40], recipients[SD_RECIPIENTS_TEXT_MAX + 1];
    sd_job_policy_recipients_text(&q->recipients, recipients);
    if (!q->ext)
        sd_extension_default(ext, q->format, q->compression);
    sd_backup_new b = {.app = a->app, .db_id = j.db_id, .job = q->job, .agent = q->agent, .now = now, .env = j.env,
                       .format = q->format, .compression = q->compression, .encryption = q->encryption,
                       .recipients = q->encryption ? recipients : NULL};
    SD_TRY(sd_store_backup_insert(ctx->db, &b, &a->res->backup, &st->err));
    sd_backup_file_name(a->res->file_name, j.app_name, j.env, j.db_key, now, a->res->backup, q->ext ? q->ext : ext);
    SD_TRY(sd_store_backup_set_file_name(ctx->db, a->res->backup, a->res->file_name, &st->err));
    return sd_store_job_attach_backup(ctx->db, q->job, a->res->backup, lease, now, &st->err);
}

typedef struct {
    int64_t backup;
    char *upload_id;
    char file_name[256];
    int found, won;
} upload_arg;

static int upload_get(sd_ctx *ctx, void *a_, sd_status *st)
{
    upload_arg *a = a_;
    free(a->upload_id);
    a->upload_id = NULL;
    return sd_store_backup_upload(ctx->db, a->backup, &a->upload_id, a->file_name, &a->found, &st->err);
}

int sd_backup_upload_id(sd_ctx *ctx, int64_t backup, char **upload_id, char file_name[256], sd_status *st)
{
    upload_arg a = {.backup = backup};
    *upload_id = NULL;
    if (sd_txn(ctx, SD_TXN_NONE, upload_get, &a, st))
        return -1;
    *upload_id = a.upload_id;
    snprintf(file_name, 256, "%s", a.file_name);
    return 0;
}

static int upload_set(sd_ctx *ctx, void *a_, sd_status *st)
{
    upload_arg *a = a_;
    return sd_store_backup_set_upload(ctx->db, a->backup, a->upload_id, &a->won, &st->err);
}

/* The backup's multipart upload, created on first use (S3). */
static int ensure_upload(sd_ctx *ctx, int64_t backup, sd_status *st)
{
    upload_arg a = {.backup = backup};
    dp_err err = {0};
    if (sd_txn(ctx, SD_TXN_NONE, upload_get, &a, st))
        return -1;
    if (a.upload_id) {
        free(a.upload_id);
        return 0;
    }
    dp_storage *stg = sd_ctx_storage(ctx, &err);
    if (!stg)
        return sd_fail(st, SD_INTERNAL, "storage: %s", err.msg);
    if (dp_s3_create_upload(stg, a.file_name, &a.upload_id, &err))
        return sd_fail(st, SD_STORAGE_FAILED, "storage: %s", err.msg);
    int rc = sd_txn(ctx, SD_TXN_NONE, upload_set, &a, st);
    if (!rc && !a.won) /* a concurrent prepare created one first: keep theirs */
        dp_s3_abort_upload(stg, a.file_name, a.upload_id, &err);
    free(a.upload_id);
    return rc;
}

int sd_backup_prepare(sd_ctx *ctx, int64_t app, const sd_prepare_req *req, sd_prepare_res *res, sd_status *st)
{
    prep_arg a = {.app = app, .req = req, .res = res};
    memset(res, 0, sizeof *res);
    if (sd_txn(ctx, SD_TXN_NONE, agent_known, &a, st))
        return -1;
    if (!a.known)
        return sd_fail(st, SD_NOT_FOUND, "unknown agent 'a_%" PRId64 "'", req->agent);
    if (sd_txn(ctx, SD_TXN_WRITE, prepare_txn, &a, st))
        return -1;
    res->presigned = sd_ctx_presigned(ctx);
    if (res->presigned && ensure_upload(ctx, res->backup, st))
        return -1;
    res->max_filesize = ctx->cfg->max_filesize;
    res->max_part_size = ctx->cfg->max_part_size;
    return 0;
}

typedef struct {
    int64_t app, backup;
} bk_arg;

static int part_txn(sd_ctx *ctx, void *a_, sd_status *st)
{
    bk_arg *a = a_;
    sd_backup_job b;
    int found = 0;
    SD_TRY(sd_store_backup_job(ctx->db, a->app, a->backup, &b, &found, &st->err));
    if (!found)
        return sd_fail(st, SD_NOT_FOUND, "unknown backup 'b_%" PRId64 "'", a->backup);
    if (strcmp(b.status, "running") || strcmp(b.job_state, "dispatched"))
        return sd_fail(st, SD_CONFLICT, "backup 'b_%" PRId64 "' is %s, not uploading", a->backup, b.status);
    int64_t now = sd_ctx_now(ctx);
    return sd_store_job_renew(ctx->db, b.job_id, now + ctx->cfg->job_lease_ms, now, &st->err);
}

int sd_backup_part_allowed(sd_ctx *ctx, int64_t app, int64_t backup, sd_status *st)
{
    bk_arg a = {app, backup};
    return sd_txn(ctx, SD_TXN_WRITE, part_txn, &a, st);
}

int sd_backup_presign(sd_ctx *ctx, int64_t app, int64_t backup, int part, sd_presign_res *res, sd_status *st)
{
    upload_arg a = {.backup = backup};
    dp_err err = {0};
    memset(res, 0, sizeof *res);
    if (!sd_ctx_presigned(ctx))
        return sd_fail(st, SD_CONFLICT, "storage is local: PUT parts to dumperd");
    if (sd_backup_part_allowed(ctx, app, backup, st) || sd_txn(ctx, SD_TXN_NONE, upload_get, &a, st))
        return -1;
    if (!a.upload_id)
        return sd_fail(st, SD_CONFLICT, "backup 'b_%" PRId64 "' has no upload (prepare it first)", backup);
    dp_storage *stg = sd_ctx_storage(ctx, &err);
    int rc = 0;
    if (!stg)
        rc = sd_fail(st, SD_INTERNAL, "storage: %s", err.msg);
    else if (dp_s3_presign(stg, "PUT", a.file_name, a.upload_id, part, PRESIGN_EXPIRES_S, &res->url, &err))
        rc = sd_fail(st, SD_INTERNAL, "storage: %s", err.msg);
    res->part = part;
    res->expires_in = PRESIGN_EXPIRES_S;
    free(a.upload_id);
    return rc;
}

void sd_backup_abort_upload(sd_ctx *ctx, int64_t backup)
{
    upload_arg a = {.backup = backup};
    sd_status st = SD_STATUS_INIT;
    dp_err err = {0};
    if (!sd_ctx_presigned(ctx) || sd_txn(ctx, SD_TXN_NONE, upload_get, &a, &st) || !a.upload_id)
        return;
    dp_storage *stg = sd_ctx_storage(ctx, &err);
    if (stg && dp_s3_abort_upload(stg, a.file_name, a.upload_id, &err))
        dp_debug("abort of upload for b_%" PRId64 ": %s", backup, err.msg);
    free(a.upload_id);
}

int sd_job_attempt_failed(sd_ctx *ctx, int64_t job, int64_t now, int permanent, int64_t max_attempts, int *requeued,
                          sd_status *st)
{
    int64_t attempt = 0;
    SD_TRY(sd_store_job_attempt(ctx->db, job, &attempt, &st->err));
    *requeued = sd_retry_requeue(attempt, max_attempts ? max_attempts : ctx->cfg->max_attempts, permanent);
    if (*requeued)
        return sd_store_job_requeue(ctx->db, job, now, &st->err);
    return sd_store_job_finish(ctx->db, job, "failed", now, &st->err);
}

typedef struct {
    int64_t app, backup;
    const char *code, *message;
    int requeued;
} fail_arg;

static int fail_txn(sd_ctx *ctx, void *a_, sd_status *st)
{
    fail_arg *a = a_;
    int64_t now = sd_ctx_now(ctx);
    sd_backup_job b;
    int found = 0;
    SD_TRY(sd_store_backup_job(ctx->db, a->app, a->backup, &b, &found, &st->err));
    if (!found)
        return sd_fail(st, SD_NOT_FOUND, "unknown backup 'b_%" PRId64 "'", a->backup);
    if (!strcmp(b.status, "failed"))
        return 0; /* reported twice */
    if (strcmp(b.status, "running"))
        return sd_fail(st, SD_CONFLICT, "backup 'b_%" PRId64 "' is %s", a->backup, b.status);
    SD_TRY(sd_store_backup_failed(ctx->db, a->backup, a->code, a->message, now, &st->err));
    /* The job moved on (its lease lapsed and another attempt runs): only this attempt fails. */
    if (!strcmp(b.job_state, "dispatched") && b.job_backup_id == a->backup)
        return sd_job_attempt_failed(ctx, b.job_id, now, sd_failure_permanent(a->code), 0, &a->requeued, st);
    return 0;
}

int sd_backup_record_failure(sd_ctx *ctx, int64_t app, int64_t backup, const char *code, const char *message,
                             sd_status *st)
{
    fail_arg a = {app, backup, code, message, 0};
    return sd_txn(ctx, SD_TXN_WRITE, fail_txn, &a, st);
}

int sd_backup_fail(sd_ctx *ctx, int64_t app, int64_t backup, const char *code, const char *message, sd_status *st)
{
    if (sd_backup_record_failure(ctx, app, backup, code, message, st))
        return -1;
    sd_parts_remove(ctx, backup);
    sd_backup_abort_upload(ctx, backup);
    return 0;
}
