/*
 * store.h - dumperd's state: apps, agents and the primary election, databases, schedules, jobs,
 * the backup catalog and retention. Every operation is one transaction (retried on conflicts) over a
 * sd_db connection, so SQLite and PostgreSQL share the same logic; answers are cJSON objects shaped
 * like docs/protocol.md.
 *
 * Exactly-once guarantees live in the schema, not in process memory: one row per (app, environment)
 * in `primaries` (never two primaries), a unique (schedule, slot, database) index on `jobs` (one job
 * per slot), and conditional updates on job states (one dispatch per job).
 */
#ifndef SD_STORE_H
#define SD_STORE_H

#include <cjson/cJSON.h>
#include <stdint.h>

#include "core/err.h"
#include "service/ctx.h"
#include "store/db.h"


/* Errors carry an HTTP status as well: st_err(err, 404, "not_found", ...) in store.c. */
typedef struct sd_status {
    int http;          /* 0 = ok */
    const char *code;  /* "not_found", ... */
    dp_err err;
} sd_status;

/* Admin. */
int sd_app_create(sd_ctx *ctx, const char *name, char key[68], dp_err *err);
int sd_app_id(sd_ctx *ctx, const char *name, int64_t *id, dp_err *err);
cJSON *sd_app_list(sd_ctx *ctx, dp_err *err);
/* A new key for the app, stored hashed like at creation; the old key is refused from the next request on
 * (see sd_auth). The caller shows the key once. */
int sd_app_rotate_key(sd_ctx *ctx, int64_t app, char key[68], dp_err *err);
/* Deletes an app with its agents, databases, schedules, jobs, catalog and their alerts. Refuses with
 * DUMPER_EEXIST while it has backups (good or running) unless delete_backups, which then removes their
 * files and manifests from storage (as retention does) after the catalog: *removed of them; *left could
 * not be removed (each a warning). Running backups lose their parts (or S3 upload). */
int sd_app_delete(sd_ctx *ctx, int64_t app, int delete_backups, int *removed, int *left, dp_err *err);
int sd_schedule_set(sd_ctx *ctx, int64_t app, const char *env, const char *dbkey, const char *cron, const char *tz,
                    dp_err *err);
int sd_retention_set(sd_ctx *ctx, int64_t app, int64_t last, int64_t daily, int64_t weekly, int64_t monthly, dp_err *err);
/* Manual jobs for every database of app/env (or one). Returns how many were queued in *n. */
int sd_backup_now(sd_ctx *ctx, int64_t app, const char *env, const char *dbkey, int *n, dp_err *err);
cJSON *sd_agents(sd_ctx *ctx, int64_t app, dp_err *err);
/* Schedules with their next five slots (computed now). */
cJSON *sd_schedules(sd_ctx *ctx, int64_t app, dp_err *err);
cJSON *sd_backups(sd_ctx *ctx, int64_t app, int64_t db_id, int limit, dp_err *err);

/* Agent API. The key's SHA-256 is looked up in the store on every request: 0 and *app on success, 1 for
 * a wrong key, else a store error. */
int sd_auth(sd_ctx *ctx, const char *key, int64_t *app, dp_err *err);
/* For polls: *app may come from a per-thread cache of recent keys, and sd_poll checks key_hash (filled
 * here) against the app's current key in its own query (401 if it is no longer the app's). */
int sd_auth_poll(sd_ctx *ctx, const char *key, int64_t *app, char key_hash[65], dp_err *err);
cJSON *sd_register(sd_ctx *ctx, int64_t app, const cJSON *req, sd_status *st);
cJSON *sd_poll(sd_ctx *ctx, int64_t app, const char *key_hash, int64_t agent, sd_status *st);
cJSON *sd_prepare(sd_ctx *ctx, int64_t app, const cJSON *req, sd_status *st);
/* A part may be uploaded: backup is the app's and running. Renews the job lease. */
int sd_part_allowed(sd_ctx *ctx, int64_t app, int64_t backup, sd_status *st);
/* S3 storage: a presigned URL for part n of the backup's multipart upload. */
cJSON *sd_presign(sd_ctx *ctx, int64_t app, int64_t backup, int part, sd_status *st);
int sd_storage_is_s3(const sd_ctx *ctx);
cJSON *sd_commit(sd_ctx *ctx, int64_t app, int64_t backup, const cJSON *req, sd_status *st);
cJSON *sd_fail(sd_ctx *ctx, int64_t app, int64_t backup, const cJSON *req, sd_status *st);
cJSON *sd_backup_get(sd_ctx *ctx, int64_t app, int64_t backup, sd_status *st);
/* For download: the stored path of a good backup, its size and sha256. */
int sd_backup_file(sd_ctx *ctx, int64_t app, int64_t backup, char **file_name, uint64_t *size, char sha[65],
                   sd_status *st);

/* Scheduler pass: expire job leases, produce due slots. */
int sd_tick(sd_ctx *ctx, dp_err *err);

/* Paths of a backup's uploaded parts. */
char *sd_parts_dir(const sd_ctx *ctx, int64_t backup);
void sd_parts_remove(const sd_ctx *ctx, int64_t backup);

#endif
