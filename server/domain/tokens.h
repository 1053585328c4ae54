/*
 * tokens.h - the rules of API tokens, without I/O: scopes and what each allows, the token's spelling, its
 * lifetime, and who may touch an app. A token is "dt_" and 64 hex digits (32 random bytes; the store keeps
 * only its SHA-256, like app keys); it carries one scope and optionally one app.
 *
 * Scopes are ordered: read < write < admin; a route names the least scope it needs (http/rest.c's table).
 * An app-scoped token sees its app only: every other app is "not found" to it (404, never 403, so a token
 * cannot learn which app names exist). An app key presented to the REST API is a credential of its own kind
 * (SD_SCOPE_APP_KEY): its app only, and only the routes that say so (list apps: its own, to learn its name;
 * trigger a backup; read its jobs), so a deploy needs no second secret and an app key gains nothing an agent
 * could not already do.
 */
#ifndef SD_DOMAIN_TOKENS_H
#define SD_DOMAIN_TOKENS_H

#include <stdint.h>

typedef enum sd_scope {
    SD_SCOPE_NONE = 0,
    SD_SCOPE_APP_KEY, /* an app key: only routes flagged for it */
    SD_SCOPE_READ,
    SD_SCOPE_WRITE,
    SD_SCOPE_ADMIN
} sd_scope;

/* The longest lifetime `--expires DAYS` accepts (ten years). */
#define SD_TOKEN_MAX_DAYS 3650

/* "read", "write", "admin" -> the scope; SD_SCOPE_NONE for anything else. */
sd_scope sd_scope_parse(const char *s);
/* The scope's name ("app-key" for SD_SCOPE_APP_KEY, "" for none). */
const char *sd_scope_name(sd_scope s);

/* What a credential may do. */
typedef struct sd_principal {
    sd_scope scope;
    int64_t app; /* 0: every app */
} sd_principal;

/* A route's needs: the least scope (SD_SCOPE_READ..ADMIN), and whether an app key may call it. */
typedef struct sd_route_need {
    sd_scope scope;
    int app_key_ok;
    int global; /* no app in the path (app list, app create): an app-scoped token sees only its own */
} sd_route_need;

typedef enum sd_access { SD_ACCESS_OK, SD_ACCESS_FORBIDDEN, SD_ACCESS_NOT_FOUND } sd_access;

/* May p call a route with these needs on `app` (0: a route without an app)? Another app than the
 * credential's is NOT_FOUND before any scope is looked at; a scope too low is FORBIDDEN. An app-scoped
 * credential on a global route that creates something (admin) is FORBIDDEN. */
sd_access sd_access_check(const sd_principal *p, const sd_route_need *need, int64_t app);

/* A token's spelling: "dt_" + 64 lowercase hex digits. 1 or 0. */
int sd_token_well_formed(const char *token);
/* A token is valid at `now` (ms) unless revoked or expired (expires_at 0: never). */
int sd_token_live(int64_t expires_at, int64_t revoked_at, int64_t now);
/* --expires DAYS into expires_at (ms): days 0 means never (0); -1 for days outside 0..SD_TOKEN_MAX_DAYS. */
int64_t sd_token_expiry(int64_t now, int64_t days);

#endif
