/* tokens.c - API tokens (see tokens.h). */
#include "service/tokens.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "core/util.h"
#include "domain/names.h"
#include "io/filter.h"
#include "service/auth.h"
#include "store/apps.h"

typedef struct {
    const sd_token_spec *spec;
    const char *hash;
    int64_t expires_at, id;
} create_arg;

static int create_txn(sd_ctx *ctx, void *a_, sd_status *st)
{
    create_arg *a = a_;
    int64_t app = 0;
    if (a->spec->app) {
        SD_TRY(sd_store_app_id(ctx->db, a->spec->app, &app, &st->err));
        if (!app)
            return sd_fail(st, SD_NOT_FOUND, "no app named '%s' (dumperd app list)", a->spec->app);
    }
    sd_token_list l = {0};
    int rc = sd_store_token_list(ctx->db, &l, &st->err); /* few rows: an operator's tokens */
    for (int i = 0; !rc && i < l.n; i++)
        if (!strcmp(l.v[i].name, a->spec->name))
            rc = sd_fail(st, SD_CONFLICT, "token '%s' already exists (revoked tokens keep their names)", a->spec->name);
    sd_list_free(&l);
    if (rc)
        return rc;
    sd_token_new t = {a->spec->name, a->hash, a->spec->scope, app, sd_ctx_now(ctx), a->expires_at};
    return sd_store_token_insert(ctx->db, &t, &a->id, &st->err);
}

int sd_token_create(sd_ctx *ctx, const sd_token_spec *spec, char token[68], int64_t *id, sd_status *st)
{
    if (!spec->name || !sd_label_valid(spec->name, 64))
        return sd_fail(st, SD_INVALID, "a token name is 1-64 characters of [A-Za-z0-9_.-]");
    if (sd_scope_parse(spec->scope) == SD_SCOPE_NONE)
        return sd_fail(st, SD_INVALID, "unknown scope '%s' (read, write or admin)", spec->scope ? spec->scope : "");
    int64_t expires = sd_token_expiry(sd_ctx_now(ctx), spec->days);
    if (expires < 0)
        return sd_fail(st, SD_INVALID, "a token lives 1 to %d days (0 or none: it never expires)", SD_TOKEN_MAX_DAYS);
    unsigned char raw[32];
    if (getrandom(raw, sizeof raw, 0) != (ssize_t)sizeof raw)
        return sd_fail_code(st, SD_INTERNAL, DUMPER_EINTERNAL, "unable to generate a token: %s", strerror(errno));
    memcpy(token, "dt_", 3);
    for (int i = 0; i < 32; i++)
        snprintf(token + 3 + 2 * i, 3, "%02x", raw[i]);
    dp_memzero(raw, sizeof raw);
    char hash[65];
    dp_sha256_hex(token, 67, hash);
    create_arg a = {spec, hash, expires, 0};
    if (sd_txn(ctx, SD_TXN_WRITE, create_txn, &a, st)) {
        dp_memzero(token, 68);
        return -1;
    }
    *id = a.id;
    return 0;
}

static int list_txn(sd_ctx *ctx, void *out, sd_status *st)
{
    sd_list_free((sd_token_list *)out);
    return sd_store_token_list(ctx->db, out, &st->err);
}

int sd_tokens(sd_ctx *ctx, sd_token_list *out, sd_status *st)
{
    memset(out, 0, sizeof *out);
    return sd_txn(ctx, SD_TXN_NONE, list_txn, out, st);
}

typedef struct {
    const char *name;
    int64_t id;
} revoke_arg;

static int revoke_txn(sd_ctx *ctx, void *a_, sd_status *st)
{
    revoke_arg *a = a_;
    int found = 0;
    SD_TRY(sd_store_token_revoke(ctx->db, a->name, a->id, sd_ctx_now(ctx), &found, &st->err));
    if (found)
        return 0;
    if (a->name)
        return sd_fail(st, SD_NOT_FOUND, "no live token named '%s' (dumperd token list)", a->name);
    return sd_fail(st, SD_NOT_FOUND, "no live token with id %lld", (long long)a->id);
}

int sd_token_revoke(sd_ctx *ctx, const char *name, int64_t id, sd_status *st)
{
    revoke_arg a = {name, id};
    return sd_txn(ctx, SD_TXN_WRITE, revoke_txn, &a, st);
}

typedef struct {
    char hash[65];
    sd_principal p;
    int64_t id, last_used;
} bearer_arg;

static int bearer_txn(sd_ctx *ctx, void *a_, sd_status *st)
{
    bearer_arg *a = a_;
    sd_token_list l = {0};
    SD_TRY(sd_store_token_by_hash(ctx->db, a->hash, &l, &st->err));
    a->p.scope = SD_SCOPE_NONE;
    if (l.n == 1 && l.v[0].hash && CRYPTO_memcmp(l.v[0].hash, a->hash, 64) == 0 &&
        sd_token_live(l.v[0].expires_at, l.v[0].revoked_at, sd_ctx_now(ctx))) {
        a->p.scope = sd_scope_parse(l.v[0].scope);
        a->p.app = l.v[0].app_id;
        a->id = l.v[0].id;
        a->last_used = l.v[0].last_used_at;
    }
    sd_list_free(&l);
    return 0;
}

static int used_txn(sd_ctx *ctx, void *a_, sd_status *st)
{
    bearer_arg *a = a_;
    return sd_store_token_used(ctx->db, a->id, sd_ctx_now(ctx), &st->err);
}

static int unavailable(sd_status *st)
{
    *st = (sd_status)SD_STATUS_INIT;
    return sd_fail(st, SD_UNAVAILABLE, "state store unavailable");
}

int sd_auth_bearer(sd_ctx *ctx, const char *bearer, sd_principal *out, sd_status *st)
{
    out->scope = SD_SCOPE_NONE;
    out->app = 0;
    if (bearer && !strncmp(bearer, "dk_", 3)) {
        int64_t app = 0;
        if (sd_auth_key(ctx, bearer, &app, st))
            return -1;
        out->scope = SD_SCOPE_APP_KEY;
        out->app = app;
        return 0;
    }
    if (!sd_token_well_formed(bearer))
        return sd_fail(st, SD_UNAUTHORIZED, "missing, wrong, expired or revoked token");
    bearer_arg a = {.id = 0};
    dp_sha256_hex(bearer, 67, a.hash);
    if (sd_txn(ctx, SD_TXN_NONE, bearer_txn, &a, st))
        return unavailable(st);
    if (a.p.scope == SD_SCOPE_NONE)
        return sd_fail(st, SD_UNAUTHORIZED, "missing, wrong, expired or revoked token");
    if (a.last_used < sd_ctx_now(ctx) - 60000) {
        sd_status ignore = SD_STATUS_INIT; /* bookkeeping: a busy store must not refuse the request */
        sd_txn(ctx, SD_TXN_WRITE, used_txn, &a, &ignore);
    }
    *out = a.p;
    return 0;
}
