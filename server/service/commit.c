/* commit.c - assembling, verifying and publishing a backup (see commit.h). */
#include "service/commit.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "domain/names.h"
#include "io/filter.h"
#include "domain/job_policy.h"
#include "job/manifest.h"
#include "service/drills.h"
#include "service/parts.h"
#include "service/retention.h"
#include "service/uploads.h"
#include "storage/s3_upload.h"
#include "store/backups.h"
#include "store/jobs.h"
#include "store/storages.h"

typedef struct {
    int64_t app, backup;
    const sd_commit_req *req;
    sd_backup_job b;
    char fmt[20], comp[20];
    dp_contents contents; /* req->contents parsed (contents.known = 0: none) */
} commit_arg;

/* The entry and its job; a running one must still have its job open. */
static int load(sd_ctx *ctx, commit_arg *a, sd_status *st)
{
    int found = 0;
    SD_TRY(sd_store_backup_job(ctx->db, a->app, a->backup, &a->b, &found, &st->err));
    if (!found)
        return sd_fail(st, SD_NOT_FOUND, "unknown backup 'b_%" PRId64 "'", a->backup);
    if (!strcmp(a->b.status, "running") && strcmp(a->b.job_state, "dispatched"))
        return sd_fail(st, SD_CONFLICT, "the job of backup 'b_%" PRId64 "' is no longer open (lease expired)",
                       a->backup);
    return 0;
}

static int check_txn(sd_ctx *ctx, void *a_, sd_status *st)
{
    commit_arg *a = a_;
    SD_TRY(load(ctx, a, st));
    if (strcmp(a->b.status, "running") && strcmp(a->b.status, "good"))
        return sd_fail(st, SD_CONFLICT, "backup 'b_%" PRId64 "' is %s", a->backup, a->b.status);
    if (strcmp(a->b.status, "running"))
        return 0;
    int64_t now = sd_ctx_now(ctx);
    return sd_store_job_renew(ctx->db, a->b.job_id, now + ctx->cfg->job_lease_ms, now, &st->err);
}

static int good_txn(sd_ctx *ctx, void *a_, sd_status *st)
{
    commit_arg *a = a_;
    SD_TRY(load(ctx, a, st));
    if (strcmp(a->b.status, "running"))
        return sd_fail(st, SD_CONFLICT, "backup 'b_%" PRId64 "' is %s", a->backup, a->b.status);
    int64_t now = sd_ctx_now(ctx);
    sd_backup_done d = {a->req->size, a->req->duration_ms, a->req->raw_size, now, a->req->sha256};
    if (!strcmp(a->comp, "none"))
        d.raw_size = a->req->size;
    SD_TRY(sd_store_backup_good(ctx->db, a->backup, &d, &st->err));
    SD_TRY(sd_store_copy_enqueue_backup(ctx->db, a->backup, dp_now_ms(), now, &st->err)); /* service/copies.h */
    SD_TRY(sd_drills_after_backup(ctx, a->app, a->b.db_id, a->backup, now, st));          /* service/drills.h */
    return sd_store_job_finish(ctx->db, a->b.job_id, "done", now, &st->err);
}

static char *manifest_json(sd_ctx *ctx, const commit_arg *a)
{
    const sd_commit_req *q = a->req;
    dp_manifest m = {0};
    m.name = (char *)a->b.file_name;
    m.source_type = q->source_type && sd_label_valid(q->source_type, 32) ? (char *)q->source_type : "unknown";
    m.format = (char *)a->fmt;
    m.compression = (char *)a->comp;
    m.size = (uint64_t)q->size;
    m.raw_size = (uint64_t)(!strcmp(a->comp, "none") ? q->size : q->raw_size);
    snprintf(m.sha256, sizeof m.sha256, "%s", q->sha256);
    m.created_ms = sd_ctx_now(ctx);
    m.duration_ms = q->duration_ms;
    m.dumper_version = (char *)dumper_version();
    m.database = q->database ? (char *)q->database : "";
    m.contents = a->contents; /* borrowed: m is not freed */
    /* the recipients prepare recorded (validated then): a manifest says what a backup is encrypted to */
    char *keys[SD_MAX_RECIPIENTS], buf[sizeof a->b.recipients];
    snprintf(buf, sizeof buf, "%s", a->b.recipients);
    char *save = NULL;
    for (char *t = strtok_r(buf, " ", &save); t && m.nrecipients < SD_MAX_RECIPIENTS; t = strtok_r(NULL, " ", &save))
        keys[m.nrecipients++] = t;
    if (!strcmp(a->b.encryption, "age") && m.nrecipients) {
        m.encryption = "age";
        m.recipients = keys;
    } else {
        m.nrecipients = 0;
    }
    return dp_manifest_to_json(&m);
}

static int storage_of(sd_ctx *ctx, dp_storage **stg, sd_status *st)
{
    dp_err err = {0};
    if (!(*stg = sd_ctx_storage(ctx, &err)))
        return sd_fail(st, SD_INTERNAL, "storage: %s", err.msg);
    return 0;
}

/* Local storage: parts 1..n into the storage under the file name, checking size and sha256. */
static int assemble(sd_ctx *ctx, const commit_arg *a, sd_status *st)
{
    const sd_commit_req *q = a->req;
    dp_err err = {0};
    dp_storage *stg = NULL;
    dp_sink *w = NULL, *sha = NULL;
    char *mkey = NULL, *mjson = NULL, got[65];
    char buf[65536];
    uint64_t total = 0;
    int rc = 0, manifest_written = 0;
    if (storage_of(ctx, &stg, st))
        return -1;
    /* Every part present first: a missing one is the agent's to re-upload, not a storage error. */
    for (int n = 1; n <= q->nparts; n++)
        if (!sd_part_exists(ctx, a->backup, n))
            return sd_fail(st, SD_VERIFY_FAILED, "part %d of backup 'b_%" PRId64 "' was not uploaded", n, a->backup);
    if (!(mjson = manifest_json(ctx, a)) || !(mkey = dp_asprintf("%s%s", a->b.file_name, DP_MANIFEST_SUFFIX))) {
        rc = sd_fail(st, SD_INTERNAL, "out of memory");
        goto cleanup;
    }
    if (dp_storage_put(stg, mkey, mjson, strlen(mjson), &err)) {
        rc = sd_fail(st, SD_INTERNAL, "storage: %s", err.msg);
        goto cleanup;
    }
    manifest_written = 1;
    if (dp_storage_writer(stg, a->b.file_name, &w, &err) || !(sha = dp_filter_sha256_new(w))) {
        rc = sd_fail(st, SD_INTERNAL, "storage: %s", err.code ? err.msg : "out of memory");
        if (!sha && w)
            dp_sink_free(w);
        goto cleanup;
    }
    for (int n = 1; n <= q->nparts && !rc; n++) {
        FILE *fp = sd_part_open(ctx, a->backup, n);
        if (!fp) {
            rc = sd_fail(st, SD_VERIFY_FAILED, "part %d of backup 'b_%" PRId64 "' is unreadable", n, a->backup);
            break;
        }
        size_t k;
        while ((k = fread(buf, 1, sizeof buf, fp)) > 0) {
            total += k;
            if (total > (uint64_t)q->size || dp_sink_write(sha, buf, k, &err))
                break;
        }
        fclose(fp);
        if (err.code)
            rc = sd_fail(st, SD_INTERNAL, "storage: %s", err.msg);
        else if (total > (uint64_t)q->size)
            rc = sd_fail(st, SD_VERIFY_FAILED,
                         "backup 'b_%" PRId64 "' has more than the %" PRId64 " bytes the commit says", a->backup,
                         q->size);
    }
    if (!rc && total != (uint64_t)q->size)
        rc = sd_fail(st, SD_VERIFY_FAILED, "backup 'b_%" PRId64 "' has %" PRIu64 " bytes, the commit says %" PRId64,
                     a->backup, total, q->size);
    if (!rc && dp_sink_end(sha, &err))
        rc = sd_fail(st, SD_INTERNAL, "storage: %s", err.msg);
    if (!rc) {
        dp_filter_sha256_hex(sha, got);
        if (strcmp(got, q->sha256))
            rc = sd_fail(st, SD_VERIFY_FAILED, "backup 'b_%" PRId64 "' has sha256 %s, the commit says %s", a->backup,
                         got, q->sha256);
    }
    if (!rc && dp_sink_commit(sha, &err))
        rc = sd_fail(st, SD_INTERNAL, "storage: %s", err.msg);
cleanup:
    if (sha) {
        if (rc)
            dp_sink_abort(sha);
        dp_sink_free(sha);
    }
    if (rc && manifest_written) {
        dp_err ignore = {0};
        dp_storage_remove(stg, mkey, &ignore);
    }
    free(mkey);
    free(mjson);
    return rc;
}

/* S3: complete the agent's multipart upload, then read the object back to check size and sha256. */
static int assemble_s3(sd_ctx *ctx, const commit_arg *a, sd_status *st)
{
    const sd_commit_req *q = a->req;
    int n = q->parts_listed ? q->nparts : 0, rc = 0, published = 0;
    char *mjson = NULL, *mkey = NULL, *upload_id = NULL, got[65] = "", fn[256];
    dp_storage *stg = NULL;
    dp_sink *sha = NULL;
    dp_err err = {0};
    if (n < 1 || n > SD_MAX_PARTS)
        return sd_fail(st, SD_INVALID, "field 'parts' must be an array of {\"n\", \"etag\"} for S3 storage");
    for (int i = 0; i < n; i++)
        if (!q->etags[i])
            return sd_fail(st, SD_INVALID, "parts[%d] must be {\"n\": %d, \"etag\": \"...\"}", i, i + 1);
    if ((rc = sd_backup_upload_id(ctx, a->backup, &upload_id, fn, st)))
        goto cleanup;
    if (!upload_id) {
        rc = sd_fail(st, SD_CONFLICT, "backup 'b_%" PRId64 "' has no upload", a->backup);
        goto cleanup;
    }
    if (!(mjson = manifest_json(ctx, a)) || !(mkey = dp_asprintf("%s%s", a->b.file_name, DP_MANIFEST_SUFFIX))) {
        rc = sd_fail(st, SD_INTERNAL, "out of memory");
        goto cleanup;
    }
    if ((rc = storage_of(ctx, &stg, st)))
        goto cleanup;
    if (dp_storage_put(stg, mkey, mjson, strlen(mjson), &err)) {
        rc = sd_fail(st, SD_STORAGE_FAILED, "storage: %s", err.msg);
        goto cleanup;
    }
    if (dp_s3_complete_upload(stg, a->b.file_name, upload_id, n, (char *const *)q->etags, &err)) {
        dp_err ignore = {0};
        dp_storage_remove(stg, mkey, &ignore);
        rc = sd_fail(st, SD_VERIFY_FAILED, "completing the upload failed: %s", err.msg);
        goto cleanup;
    }
    published = 1;
    if (!(sha = dp_filter_sha256_new(dp_sink_null_new()))) {
        rc = sd_fail(st, SD_INTERNAL, "out of memory");
        goto cleanup;
    }
    if (dp_storage_read(stg, a->b.file_name, sha, &err) || dp_sink_end(sha, &err)) {
        rc = sd_fail(st, SD_STORAGE_FAILED, "reading back the upload: %s", err.msg);
        goto cleanup;
    }
    dp_filter_sha256_hex(sha, got);
    if (sha->bytes != (uint64_t)q->size || strcmp(got, q->sha256))
        rc = sd_fail(st, SD_VERIFY_FAILED,
                     "backup 'b_%" PRId64 "' has %" PRIu64 " bytes with sha256 %s, the commit says %" PRId64 " and %s",
                     a->backup, sha->bytes, got, q->size, q->sha256);
cleanup:
    if (rc && published) {
        dp_err ignore = {0};
        dp_storage_remove(stg, a->b.file_name, &ignore);
        dp_storage_remove(stg, mkey, &ignore);
        /* The upload is gone: fail this attempt so the job is retried. */
        sd_status fs = SD_STATUS_INIT;
        sd_backup_record_failure(ctx, a->app, a->backup, "verification_failed", st->err.msg, &fs);
    }
    if (sha)
        dp_sink_free(sha);
    free(upload_id);
    free(mjson);
    free(mkey);
    return rc ? -1 : 0;
}

/* The rest of a first commit: assemble, verify, publish (with the manifest), mark good. */
static int commit_good(sd_ctx *ctx, commit_arg *a, sd_status *st)
{
    snprintf(a->fmt, sizeof a->fmt, "%s", a->b.format[0] ? a->b.format : "dump");
    snprintf(a->comp, sizeof a->comp, "%s", a->b.compression[0] ? a->b.compression : "none");
    /* The manifest's raw_size is checked by `dumper verify`: required for compressed backups. */
    if (!a->req->has_raw_size && strcmp(a->comp, "none"))
        return sd_fail(st, SD_INVALID, "field 'raw_size' is required for a %s-compressed backup", a->comp);
    if (sd_ctx_presigned(ctx) ? assemble_s3(ctx, a, st) : assemble(ctx, a, st))
        return -1;
    if (sd_txn(ctx, SD_TXN_WRITE, good_txn, a, st)) {
        /* Lost the race with a lease expiry: unpublish what we wrote. */
        dp_err ignore = {0};
        dp_storage *stg = st->outcome == SD_CONFLICT ? sd_ctx_storage(ctx, &ignore) : NULL;
        if (stg)
            sd_backup_remove_stored(stg, a->b.file_name, &ignore);
        return -1;
    }
    sd_parts_remove(ctx, a->backup);
    sd_retention_apply(ctx, a->app, a->b.db_id);
    return 0;
}

int sd_backup_commit(sd_ctx *ctx, int64_t app, int64_t backup, const sd_commit_req *req, sd_commit_res *res,
                     sd_status *st)
{
    commit_arg a = {.app = app, .backup = backup, .req = req};
    if (req->size > ctx->cfg->max_filesize)
        return sd_fail(st, SD_TOO_LARGE, "backup is larger than max_filesize");
    if (sd_txn(ctx, SD_TXN_WRITE, check_txn, &a, st))
        return -1;
    snprintf(res->file_name, sizeof res->file_name, "%s", a.b.file_name);
    if (!strcmp(a.b.status, "good")) {
        /* Idempotent re-commit: the same checksum is fine, another one is a conflict. */
        if (strcmp(a.b.sha256, req->sha256))
            return sd_fail(st, SD_CONFLICT, "backup 'b_%" PRId64 "' is already committed", backup);
        return 0;
    }
    dp_err cerr = {0};
    if (req->contents && dp_contents_parse(req->contents, strlen(req->contents), &a.contents, &cerr))
        return sd_fail(st, cerr.code == DUMPER_ENOMEM ? SD_INTERNAL : SD_INVALID, "field 'contents' is invalid: %s",
                       cerr.msg);
    int rc = commit_good(ctx, &a, st);
    dp_contents_free(&a.contents);
    return rc;
}
