/*
 * apps.h - the apps aggregate: an app, the SHA-256 of its current key, its retention policy; and deleting an
 * app with everything it owns. SQL only: C structs out, no policy (the services decide), no status codes.
 * Every function returns 0, SD_RETRY (a conflict: the caller's transaction runs again) or an error code
 * with err filled.
 */
#ifndef SD_STORE_APPS_H
#define SD_STORE_APPS_H

#include <stdint.h>

#include "core/err.h"
#include "domain/retention.h"
#include "store/db.h"

typedef struct sd_app_row {
    int64_t id;
    const char *name;
    int64_t created_at;
    sd_retention retention;
    /* sd_store_app_list only: */
    int64_t agents, databases, failed; /* counts (failed: failed backups) */
    int has_last_good;
    int64_t last_good_at; /* finish of the newest good backup */
} sd_app_row;

typedef struct sd_app_list {
    int n;
    sd_app_row *v;
    sd_res res_;
} sd_app_list;

int sd_store_app_insert(sd_db *db, const char *name, const char *key_hash, int64_t now, int64_t *id, dp_err *err);
/* *id = 0 when there is no such app. */
int sd_store_app_id(sd_db *db, const char *name, int64_t *id, dp_err *err);
/* The app whose key hashes to key_hash: *id (0: none) and the stored hash, for a constant-time compare. */
int sd_store_app_by_key(sd_db *db, const char *key_hash, int64_t *id, char stored[65], dp_err *err);
/* *found = 0 when the app no longer exists. */
int sd_store_app_set_key(sd_db *db, int64_t id, const char *key_hash, int *found, dp_err *err);
int sd_store_app_set_retention(sd_db *db, int64_t id, const sd_retention *r, dp_err *err);
/* One app (n = 0 or 1): id, name, created_at, retention. */
int sd_store_app_get(sd_db *db, int64_t id, sd_app_list *out, dp_err *err);
/* Every app by name, with its counts. */
int sd_store_app_list(sd_db *db, sd_app_list *out, dp_err *err);
/* The app and everything it owns: agents, primaries, databases, schedules, jobs, catalog, and the alerts that
 * name its backups and databases. */
int sd_store_app_delete(sd_db *db, int64_t id, dp_err *err);

#endif
