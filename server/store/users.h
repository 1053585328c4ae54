/*
 * users.h - dashboard users (name and password hash) and their sessions (the SHA-256 of the browser's token,
 * a CSRF token, an absolute expiry). SQL only (see apps.h for the conventions); hashing and checking
 * passwords is service/users.c.
 */
#ifndef SD_STORE_USERS_H
#define SD_STORE_USERS_H

#include <stdint.h>

#include "core/err.h"
#include "store/db.h"

typedef struct sd_name_list {
    int n;
    const char **v;
    sd_res res_;
} sd_name_list;

typedef struct sd_session_row {
    int64_t user, expires_at;
    char name[80];
    char csrf[65];
    char token_hash[65];
} sd_session_row;

/* The user's id (0: none) and, when pw_hash is not NULL, its password hash (malloc'd; NULL: no user). */
int sd_store_user_find(sd_db *db, const char *name, int64_t *id, char **pw_hash, dp_err *err);
int sd_store_user_insert(sd_db *db, const char *name, const char *pw_hash, int64_t now, dp_err *err);
int sd_store_user_set_password(sd_db *db, int64_t id, const char *pw_hash, dp_err *err);
/* The user and its sessions. */
int sd_store_user_delete(sd_db *db, int64_t id, dp_err *err);
int sd_store_user_names(sd_db *db, sd_name_list *out, dp_err *err);

int sd_store_session_insert(sd_db *db, const char *token_hash, int64_t user, const char *csrf, int64_t now,
                            int64_t expires_at, dp_err *err);
/* The session with this token hash, with its user's name (*found = 0: none). */
int sd_store_session_get(sd_db *db, const char *token_hash, sd_session_row *out, int *found, dp_err *err);
int sd_store_session_delete(sd_db *db, const char *token_hash, dp_err *err);
int sd_store_session_delete_user(sd_db *db, int64_t user, dp_err *err);
/* Sessions that expired before now. */
int sd_store_session_sweep(sd_db *db, int64_t now, dp_err *err);

#endif
