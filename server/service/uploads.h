/*
 * uploads.h - a backup attempt from prepare to fail: prepare opens a catalog entry (and, on S3, a multipart
 * upload), parts go to the staging area (parts.h) or, on S3, straight to presigned part URLs, and fail
 * records the agent's error and requeues the job per domain/retry.h. Commit is commit.h.
 */
#ifndef SD_UPLOADS_H
#define SD_UPLOADS_H

#include <stdint.h>

#include "domain/job_policy.h"
#include "service/ctx.h"

typedef struct sd_prepare_req {
    int64_t agent, job;
    const char *format, *compression, *ext; /* validated (domain/names.h); ext NULL: the default */
    const char *encryption;                 /* NULL (plaintext) or "age" */
    sd_job_policy recipients;               /* recipients[] only: the keys the job encrypts to, validated */
} sd_prepare_req;

typedef struct sd_prepare_res {
    int64_t backup;
    char file_name[256];
    int presigned;   /* S3: parts go to presigned URLs */
    int64_t max_filesize, max_part_size;
} sd_prepare_res;

typedef struct sd_presign_res {
    int part;
    char *url; /* malloc'd */
    long expires_in;
} sd_presign_res;

/* A catalog entry for the job's attempt (the existing one when the job already has a running attempt), with
 * its file name; the job's lease is renewed. */
/* SD_INVALID when the backup does not satisfy the app's job policy (an app with recipients takes encrypted
 * backups only); the catalog entry records the encryption and its recipients. */
int sd_backup_prepare(sd_ctx *ctx, int64_t app, const sd_prepare_req *req, sd_prepare_res *res, sd_status *st);
/* The backup is the app's and uploading; renews its job's lease. */
int sd_backup_part_allowed(sd_ctx *ctx, int64_t app, int64_t backup, sd_status *st);
/* S3: a presigned URL for part n of the backup's multipart upload (15 minutes). */
int sd_backup_presign(sd_ctx *ctx, int64_t app, int64_t backup, int part, sd_presign_res *res, sd_status *st);
/* The agent's failure report: the attempt fails, the job is requeued unless the code is permanent or the
 * attempts are spent; its parts or S3 upload are removed. Idempotent. message may be NULL. */
int sd_backup_fail(sd_ctx *ctx, int64_t app, int64_t backup, const char *code, const char *message, sd_status *st);

/* The failure of an attempt in the catalog and its job (sd_backup_fail without removing parts or uploads). */
int sd_backup_record_failure(sd_ctx *ctx, int64_t app, int64_t backup, const char *code, const char *message,
                             sd_status *st);
/* Inside a write transaction: fail (or lose) a job's current attempt: requeue while attempts remain (of
 * max_attempts; 0: the configured number), unless permanent. Shared with the scheduler's lease expiry (drill
 * jobs: SD_DRILL_MAX_ATTEMPTS). */
int sd_job_attempt_failed(sd_ctx *ctx, int64_t job, int64_t now, int permanent, int64_t max_attempts, int *requeued,
                          sd_status *st);
/* A backup's S3 multipart upload: *upload_id (malloc'd; NULL: none yet) and the backup's file name. */
int sd_backup_upload_id(sd_ctx *ctx, int64_t backup, char **upload_id, char file_name[256], sd_status *st);
/* Best effort: abort a failed or lost backup's S3 multipart upload. */
void sd_backup_abort_upload(sd_ctx *ctx, int64_t backup);

#endif
