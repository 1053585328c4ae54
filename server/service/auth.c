/* auth.c - app keys (see auth.h). */
#include "service/auth.h"

#include <errno.h>
#include <inttypes.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "core/log.h"
#include "core/util.h"
#include "domain/ratelimit.h"
#include "io/filter.h"
#include "store/apps.h"

#define KEY_CACHE_MS 30000

int sd_key_new(char key[68], char hash[65], dp_err *err)
{
    unsigned char raw[32];
    if (getrandom(raw, sizeof raw, 0) != (ssize_t)sizeof raw)
        return dp_err_sys(err, DUMPER_EINTERNAL, errno, "unable to generate an app key");
    memcpy(key, "dk_", 3);
    for (int i = 0; i < 32; i++)
        snprintf(key + 3 + 2 * i, 3, "%02x", raw[i]);
    dp_memzero(raw, sizeof raw);
    dp_sha256_hex(key, strlen(key), hash);
    return 0;
}

static int key_hash_of(const char *key, char h[65])
{
    if (!key || strlen(key) != 67 || strncmp(key, "dk_", 3))
        return -1;
    dp_sha256_hex(key, 67, h);
    return 0;
}

typedef struct {
    const char *hash;
    int64_t app;
} hash_arg;

static int app_of_hash(sd_ctx *ctx, void *a_, sd_status *st)
{
    hash_arg *a = a_;
    char stored[65];
    SD_TRY(sd_store_app_by_key(ctx->db, a->hash, &a->app, stored, &st->err));
    if (a->app && CRYPTO_memcmp(stored, a->hash, 64) != 0)
        a->app = 0;
    return 0;
}

int sd_auth_app_of_hash(sd_ctx *ctx, const char key_hash[65], int64_t *app, sd_status *st)
{
    hash_arg a = {key_hash, 0};
    if (sd_txn(ctx, SD_TXN_NONE, app_of_hash, &a, st))
        return -1;
    *app = a.app;
    return 0;
}

static int unauthorized(sd_status *st) { return sd_fail(st, SD_UNAUTHORIZED, "missing or wrong app key"); }

static int lookup(sd_ctx *ctx, const char h[65], int64_t *app, sd_status *st)
{
    if (sd_auth_app_of_hash(ctx, h, app, st)) {
        sd_status un = SD_STATUS_INIT;
        *st = un;
        return sd_fail(st, SD_UNAVAILABLE, "state store unavailable");
    }
    return *app ? 0 : unauthorized(st);
}

int sd_auth_key(sd_ctx *ctx, const char *key, int64_t *app, sd_status *st)
{
    char h[65];
    return key_hash_of(key, h) ? unauthorized(st) : lookup(ctx, h, app, st);
}

int sd_auth_poll_key(sd_ctx *ctx, const char *key, int64_t *app, char hash[65], sd_status *st)
{
    if (key_hash_of(key, hash))
        return unauthorized(st);
    int64_t mono = dp_mono_ms();
    for (int i = 0; i < SD_KEY_CACHE; i++)
        if (ctx->keys[i].until > mono && CRYPTO_memcmp(ctx->keys[i].hash, hash, 64) == 0) {
            *app = ctx->keys[i].app;
            return 0;
        }
    if (lookup(ctx, hash, app, st))
        return -1;
    unsigned i = ctx->keys_next++ % SD_KEY_CACHE;
    memcpy(ctx->keys[i].hash, hash, 65);
    ctx->keys[i].app = *app;
    ctx->keys[i].until = mono + KEY_CACHE_MS;
    return 0;
}

void sd_auth_forget(sd_ctx *ctx, const char key_hash[65])
{
    for (int i = 0; i < SD_KEY_CACHE; i++)
        if (!strcmp(ctx->keys[i].hash, key_hash))
            ctx->keys[i].until = 0;
}

static pthread_mutex_t refused_mu = PTHREAD_MUTEX_INITIALIZER;
static sd_ratelimit refused_rl;

void sd_auth_log_refused(sd_ctx *ctx, const char *client, const char *path)
{
    int64_t more = 0;
    pthread_mutex_lock(&refused_mu);
    int report = sd_ratelimit_hit(&refused_rl, sd_ctx_now(ctx), SD_REFUSED_LOG_WINDOW_MS, &more);
    pthread_mutex_unlock(&refused_mu);
    if (!report)
        return;
    if (more)
        dp_warn("refused an app key from %s on %s (and %" PRId64 " more refused in the minute before; logged at most"
                " once a minute)", client, path, more);
    else
        dp_warn("refused an app key from %s on %s (missing, wrong or rotated; logged at most once a minute)", client,
                path);
}
