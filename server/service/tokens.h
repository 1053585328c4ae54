/*
 * tokens.h - API tokens as an operator sees them (create, list, revoke: the dumperd token commands and the
 * dashboard) and the REST API's check of a bearer credential. A token is shown once at creation; the store
 * keeps only its SHA-256 (like app keys, service/auth.h), looked up on every request so a revoked token or
 * one past its expiry is refused at once by every dumperd sharing the store.
 */
#ifndef SD_SERVICE_TOKENS_H
#define SD_SERVICE_TOKENS_H

#include <stdint.h>

#include "domain/tokens.h"
#include "service/ctx.h"
#include "store/tokens.h"

typedef struct sd_token_spec {
    const char *name;  /* a label: 1-64 characters of [A-Za-z0-9_.-] */
    const char *scope; /* read, write, admin */
    const char *app;   /* an app's name, or NULL: every app */
    int64_t days;      /* lifetime; 0: never expires */
} sd_token_spec;

/* A new token (shown once) and its id. SD_INVALID for a bad name, scope or lifetime ("...") , SD_NOT_FOUND
 * for an unknown app, SD_CONFLICT "token 'NAME' already exists". */
int sd_token_create(sd_ctx *ctx, const sd_token_spec *spec, char token[68], int64_t *id, sd_status *st);
/* Every token, revoked ones too (never their hashes' use: that is for the check). */
int sd_tokens(sd_ctx *ctx, sd_token_list *out, sd_status *st);
/* Revoke by name (or by id when name is NULL): SD_NOT_FOUND "no live token named '...'". */
int sd_token_revoke(sd_ctx *ctx, const char *name, int64_t id, sd_status *st);

/* The credential of "Authorization: Bearer X" on the REST API: an API token (its scope and app) or an app key
 * (SD_SCOPE_APP_KEY on its app). SD_UNAUTHORIZED "missing, wrong, expired or revoked token" otherwise;
 * SD_UNAVAILABLE when the store cannot tell. */
int sd_auth_bearer(sd_ctx *ctx, const char *bearer, sd_principal *out, sd_status *st);

#endif
