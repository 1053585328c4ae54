/*
 * tokens.h - API tokens in the store: name, SHA-256 of the token, scope, app (0: every app), creation,
 * expiry, last use, revocation. SQL only (see apps.h for the conventions); the rules are domain/tokens.h.
 */
#ifndef SD_STORE_TOKENS_H
#define SD_STORE_TOKENS_H

#include <stdint.h>

#include "core/err.h"
#include "store/db.h"

typedef struct sd_token_row {
    int64_t id, app_id, created_at, expires_at, last_used_at, revoked_at;
    const char *name, *scope, *app_name; /* app_name NULL: every app */
    const char *hash;                    /* sd_store_token_by_hash only */
} sd_token_row;

typedef struct sd_token_list {
    int n;
    sd_token_row *v;
    sd_res res_;
} sd_token_list;

typedef struct sd_token_new {
    const char *name, *hash, *scope;
    int64_t app_id, created_at, expires_at;
} sd_token_new;

int sd_store_token_insert(sd_db *db, const sd_token_new *t, int64_t *id, dp_err *err);
/* The token whose hash this is (n = 0 or 1), revoked or not, with its hash for a constant-time compare. */
int sd_store_token_by_hash(sd_db *db, const char *hash, sd_token_list *out, dp_err *err);
/* Every token by name (revoked ones too). */
int sd_store_token_list(sd_db *db, sd_token_list *out, dp_err *err);
/* Revoke by name or by id (name NULL): *found = 0 when there is no live token of that name/id. */
int sd_store_token_revoke(sd_db *db, const char *name, int64_t id, int64_t now, int *found, dp_err *err);
/* Note a use (at most once a minute per token: writes stay rare). */
int sd_store_token_used(sd_db *db, int64_t id, int64_t now, dp_err *err);

#endif
