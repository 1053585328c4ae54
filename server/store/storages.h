/*
 * storages.h - the destinations added beside --storage (`dumperd storage add`), and the copy catalog: one
 * row per (backup, destination) with its state (pending: not tried yet; good: copied and verified there;
 * failed: the last attempt failed, tried again at next_try; deleted: removed by the destination's retention),
 * attempts, next try and last error. The first copy of a backup is the backup itself (backups.status, in
 * --storage); copies are the others. SQL only (see apps.h for the conventions).
 */
#ifndef SD_STORE_STORAGES_H
#define SD_STORE_STORAGES_H

#include <stdint.h>

#include "core/err.h"
#include "domain/retention.h"
#include "store/db.h"

typedef struct sd_storage_row {
    int64_t id, path_style, lock_days, created_at;
    const char *name, *location, *endpoint, *region, *credentials_file, *lock_mode; /* last four may be NULL */
    sd_retention retention;
    int64_t pending, good, failed; /* sd_store_storage_list only: copies by state (failed: also pending retries) */
} sd_storage_row;

typedef struct sd_storage_list {
    int n;
    sd_storage_row *v;
    sd_res res_;
} sd_storage_list;

/* A copy to make (or a copy of a backup, for downloads): the backup's catalog fields and the destination. */
typedef struct sd_copy_row {
    int64_t backup, storage, attempts, next_try, updated_at, app, db_id, size, created_at;
    const char *file_name, *sha256, *backup_status, *state, *error, *storage_name, *location; /* error: NULL */
} sd_copy_row;

typedef struct sd_copy_list {
    int n;
    sd_copy_row *v;
    sd_res res_;
} sd_copy_list;

int sd_store_storage_insert(sd_db *db, const sd_storage_row *s, int64_t now, int64_t *id, dp_err *err);
/* Removes the destination and its copy rows (not the stored objects). *found = 0 when there was none. */
int sd_store_storage_delete(sd_db *db, const char *name, int *found, dp_err *err);
/* Every destination by id (with copy counts), or the one named `name` (NULL: all). */
int sd_store_storage_list(sd_db *db, const char *name, sd_storage_list *out, dp_err *err);
/* One destination by id (n = 0 or 1). */
int sd_store_storage_get(sd_db *db, int64_t id, sd_storage_list *out, dp_err *err);

/* A pending copy of a just-committed backup in every destination, due at next_try (wall clock). */
int sd_store_copy_enqueue_backup(sd_db *db, int64_t backup, int64_t next_try, int64_t now, dp_err *err);
/* A pending copy of backup in one destination unless it has a row there; failed rows are due at once.
 * *added = 1 when a row was added or made due. */
int sd_store_copy_enqueue(sd_db *db, int64_t backup, int64_t storage, int64_t now, int *added, dp_err *err);
/* Copies in state pending or failed due at now (storage 0: every destination), oldest first, at most limit. */
int sd_store_copy_due(sd_db *db, int64_t now, int64_t storage, int limit, sd_copy_list *out, dp_err *err);
/* Claim a due copy until `until` if its next try is still next_try: *won = 0 when another worker has it. */
int sd_store_copy_claim(sd_db *db, int64_t backup, int64_t storage, int64_t next_try, int64_t until, int *won,
                        dp_err *err);
/* The outcome of an attempt: good (error NULL) or failed with the next try. */
int sd_store_copy_result(sd_db *db, int64_t backup, int64_t storage, const char *state, int64_t attempts,
                         int64_t next_try, const char *error, int64_t now, dp_err *err);
/* A good copy leaves the catalog (the destination's retention): *changed = 0 when it was no longer good. */
int sd_store_copy_mark_deleted(sd_db *db, int64_t backup, int64_t storage, int *changed, dp_err *err);
/* The copies of one backup of the app, by destination id (every state). */
int sd_store_copy_of_backup(sd_db *db, int64_t app, int64_t backup, sd_copy_list *out, dp_err *err);
/* The copies of the app's backups, newest backup first, at most limit rows. */
int sd_store_copy_of_app(sd_db *db, int64_t app, int limit, sd_copy_list *out, dp_err *err);
/* The good copies of a database in a destination, newest backup first (ties: higher id first). */
int sd_store_copy_good_of_database(sd_db *db, int64_t storage, int64_t db_id, sd_copy_list *out, dp_err *err);
/* The database's backups with a copy not made yet (pending or failed): id only, by id. The first destination's
 * retention keeps them: a backup is not deleted there before it is somewhere else. */
int sd_store_copy_unfinished_of_database(sd_db *db, int64_t db_id, sd_copy_list *out, dp_err *err);
/* The newest backup of a database with a good first copy or a good copy anywhere (*backup = 0: none). */
int sd_store_copy_newest_of_database(sd_db *db, int64_t db_id, int64_t *backup, dp_err *err);
/* The backups that have a good first copy or a good copy anywhere, per database, newest first: backup,
 * db_id, created_at, file_name, sha256, size (for `storage sync`). */
int sd_store_copy_sync_candidates(sd_db *db, sd_copy_list *out, dp_err *err);

#endif
