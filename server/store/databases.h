/*
 * databases.h - the databases aggregate: the databases ("servers") agents report, one row per (app,
 * environment, key), updated at each registration. SQL only (see apps.h for the conventions).
 */
#ifndef SD_STORE_DATABASES_H
#define SD_STORE_DATABASES_H

#include <stdint.h>

#include "core/err.h"
#include "store/db.h"

/* A database as an agent reports it (never a password). */
typedef struct sd_dbinfo {
    const char *key, *type, *host, *name, *user; /* host, name, user may be NULL */
    int64_t port;                                /* 0: none given */
} sd_dbinfo;

typedef struct sd_database_row {
    int64_t id, port, updated_at, last_good_at;
    int has_port, has_last_good;
    const char *env, *key, *type, *host, *name, *user; /* host, name, user may be NULL */
} sd_database_row;

typedef struct sd_database_list {
    int n;
    sd_database_row *v;
    sd_res res_;
} sd_database_list;

/* A list of ids. */
typedef struct sd_id_list {
    int n;
    int64_t *v;
    sd_res res_;
} sd_id_list;

/* Insert or update (app, env, key); *id is its id. */
int sd_store_database_upsert(sd_db *db, int64_t app, const char *env, const sd_dbinfo *d, int64_t now, int64_t *id,
                             dp_err *err);
/* *id = 0 when (app, env, key) is unknown. */
int sd_store_database_find(sd_db *db, int64_t app, const char *env, const char *key, int64_t *id, dp_err *err);
/* The databases of an environment, by id. */
int sd_store_database_ids(sd_db *db, int64_t app, const char *env, sd_id_list *out, dp_err *err);
/* The databases of an environment without a schedule of their own, by id. */
int sd_store_database_unscheduled(sd_db *db, int64_t app, const char *env, sd_id_list *out, dp_err *err);
/* *yes = 1 when the database still exists. */
int sd_store_database_exists(sd_db *db, int64_t id, int *yes, dp_err *err);
/* The app's databases by environment and key, each with its newest good backup's finish. */
int sd_store_database_list(sd_db *db, int64_t app, sd_database_list *out, dp_err *err);

#endif
