/*
 * auth.h - app keys: making them, and finding the app of the key an agent presents. Keys are "dk_" and 64
 * hex digits (32 random bytes from getrandom); the store keeps only their SHA-256, compared in constant
 * time. Future credentials (API tokens with scopes) are checked here too, their rows kept in the store.
 */
#ifndef SD_AUTH_H
#define SD_AUTH_H

#include <stdint.h>

#include "service/ctx.h"

/* A fresh app key and its SHA-256 (the only thing stored). */
int sd_key_new(char key[68], char hash[65], dp_err *err);

/* The app whose current key this is, looked up in the store on every call (so a key rotated or an app
 * deleted by any process or instance is refused at once). SD_UNAUTHORIZED "missing or wrong app key" for
 * anything else; SD_UNAVAILABLE when the store cannot tell. */
int sd_auth_key(sd_ctx *ctx, const char *key, int64_t *app, sd_status *st);
/* For polls, the hot path: *app may come from this context's cache of keys seen in the last 30 s, and
 * key_hash is filled for sd_agent_poll, whose own query checks it against the app's current key: the cache
 * saves a round trip without ever accepting an old key. */
int sd_auth_poll_key(sd_ctx *ctx, const char *key, int64_t *app, char key_hash[65], sd_status *st);
/* Forget a key hash from this context's cache (it was refused). */
void sd_auth_forget(sd_ctx *ctx, const char key_hash[65]);
/* Log a refused app key (never the key): one WARN line a minute at most in this process, naming the client
 * address and the endpoint, and how many more were refused since the last line. */
#define SD_REFUSED_LOG_WINDOW_MS 60000
void sd_auth_log_refused(sd_ctx *ctx, const char *client, const char *path);
/* The app of a key hash, from the store: *app = 0 when none (no cache). */
int sd_auth_app_of_hash(sd_ctx *ctx, const char key_hash[65], int64_t *app, sd_status *st);

#endif
