/*
 * backups.h - the backup catalog: one entry per attempt of a job (running, then good or failed; deleted by
 * retention or app delete), with its file name in storage, format, compression, size, sha256, duration and,
 * on S3, its multipart upload. SQL only (see apps.h for the conventions).
 */
#ifndef SD_STORE_BACKUPS_H
#define SD_STORE_BACKUPS_H

#include <stdint.h>

#include "core/err.h"
#include "store/db.h"

/* A catalog entry with its job's state: what part uploads, presign, commit and fail check. */
typedef struct sd_backup_job {
    char status[16];    /* running, good, failed, deleted */
    char job_state[16]; /* pending, dispatched, done, failed */
    int64_t job_id, job_backup_id, db_id;
    char file_name[256];
    char sha256[65];   /* "" before commit */
    char format[20];   /* "" when none was given */
    char compression[20];
    char encryption[8];   /* "" plaintext, "age" */
    char recipients[1100]; /* space-separated age1... keys (domain/job_policy.h: at most 16 * 63) */
} sd_backup_job;

typedef struct sd_backup_row {
    int64_t id, db_id, size, duration_ms, created_at, finished_at;
    int has_size, has_duration;
    const char *db_key, *env, *status, *file_name, *sha256, *error_code, *error_message,
        *upload_id; /* may be NULL (db_key: the database was deleted) */
    const char *encryption, *recipients; /* NULL: plaintext; "age" and the space-separated age1... keys */
} sd_backup_row;

typedef struct sd_backup_list {
    int n;
    sd_backup_row *v;
    sd_res res_;
} sd_backup_list;

typedef struct sd_backup_new {
    int64_t app, db_id, job, agent, now;
    const char *env, *format, *compression; /* format, compression may be NULL */
    const char *encryption, *recipients;    /* NULL: plaintext */
} sd_backup_new;

typedef struct sd_backup_done {
    int64_t size, duration_ms, raw_size, now;
    const char *sha256;
} sd_backup_done;

/* A running entry (file name set later: it holds the id), with its encryption (table backup_encryption) when
 * b->encryption is set. */
int sd_store_backup_insert(sd_db *db, const sd_backup_new *b, int64_t *id, dp_err *err);
int sd_store_backup_set_file_name(sd_db *db, int64_t id, const char *file_name, dp_err *err);
/* The app's entry `id` with its job; *found = 0 when there is none. */
int sd_store_backup_job(sd_db *db, int64_t app, int64_t id, sd_backup_job *out, int *found, dp_err *err);
/* The multipart upload of an entry: *upload_id (malloc'd; NULL: none yet) and its file name. */
int sd_store_backup_upload(sd_db *db, int64_t id, char **upload_id, char file_name[256], int *found, dp_err *err);
/* Record the upload unless one is recorded already: *won = 0 when another caller's came first. */
int sd_store_backup_set_upload(sd_db *db, int64_t id, const char *upload_id, int *won, dp_err *err);
int sd_store_backup_good(sd_db *db, int64_t id, const sd_backup_done *d, dp_err *err);
int sd_store_backup_failed(sd_db *db, int64_t id, const char *code, const char *message, int64_t now, dp_err *err);
/* A running entry whose job lease lapsed. */
int sd_store_backup_lost(sd_db *db, int64_t id, int64_t now, dp_err *err);
/* A good entry leaves the catalog (retention): *changed = 0 when it was no longer good. */
int sd_store_backup_mark_deleted(sd_db *db, int64_t id, int *changed, dp_err *err);
/* The app's entries, newest first (db_id 0: every database), at most limit. */
int sd_store_backup_list(sd_db *db, int64_t app, int64_t db_id, int limit, sd_backup_list *out, dp_err *err);
/* One entry of the app (n = 0 or 1). */
int sd_store_backup_get(sd_db *db, int64_t app, int64_t id, sd_backup_list *out, dp_err *err);
/* The good entries of a database, newest first (ties: higher id first): id, file_name, created_at. */
int sd_store_backup_good_of_database(sd_db *db, int64_t app, int64_t db_id, sd_backup_list *out, dp_err *err);
/* The app's good and running entries by id: id, file_name, status, upload_id. */
int sd_store_backup_live_of_app(sd_db *db, int64_t app, sd_backup_list *out, dp_err *err);
/* The newest good entry of a database with an id above `after` (*found = 0: none): its id and finish. */
int sd_store_backup_newest_good_after(sd_db *db, int64_t db_id, int64_t after, int64_t *id, int64_t *finished_at,
                                      int *found, dp_err *err);

/* A page of the catalog for the REST API: newest first by id, only ids below `before` (0: from the newest),
 * optionally one status, environment or database key; at most limit. */
typedef struct sd_backup_filter {
    int64_t before;
    const char *status, *env, *db_key; /* NULL: any */
    int limit;
} sd_backup_filter;
int sd_store_backup_page(sd_db *db, int64_t app, const sd_backup_filter *f, sd_backup_list *out, dp_err *err);

#endif
