/* users.c - dashboard users, passwords and sessions (see users.h). */
#include "service/users.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "core/util.h"
#include "domain/names.h"
#include "io/filter.h"

#define PW_ITER 600000u

static int random_hex(char *out, size_t nbytes)
{
    unsigned char raw[64];
    if (nbytes > sizeof raw || getrandom(raw, nbytes, 0) != (ssize_t)nbytes)
        return -1;
    for (size_t i = 0; i < nbytes; i++)
        snprintf(out + 2 * i, 3, "%02x", raw[i]);
    dp_memzero(raw, sizeof raw);
    return 0;
}

static int unhex(const char *s, unsigned char *out, size_t n)
{
    if (strlen(s) != 2 * n)
        return -1;
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        if (sscanf(s + 2 * i, "%2x", &v) != 1)
            return -1;
        out[i] = (unsigned char)v;
    }
    return 0;
}

static int pbkdf2(const char *pw, const unsigned char salt[16], unsigned iter, unsigned char out[32])
{
    return PKCS5_PBKDF2_HMAC(pw, (int)strlen(pw), salt, 16, (int)iter, EVP_sha256(), 32, out) == 1 ? 0 : -1;
}

/* "pbkdf2-sha256$ITER$SALT$HASH" (hex). */
static char *pw_hash(const char *password, unsigned iterations)
{
    unsigned char salt[16], h[32];
    char salth[33], hh[65];
    if (getrandom(salt, sizeof salt, 0) != (ssize_t)sizeof salt || pbkdf2(password, salt, iterations, h))
        return NULL;
    for (int i = 0; i < 16; i++)
        snprintf(salth + 2 * i, 3, "%02x", salt[i]);
    for (int i = 0; i < 32; i++)
        snprintf(hh + 2 * i, 3, "%02x", h[i]);
    dp_memzero(h, sizeof h);
    return dp_asprintf("pbkdf2-sha256$%u$%s$%s", iterations, salth, hh);
}

static int pw_verify(const char *password, const char *stored)
{
    unsigned char salt[16], want[32], got[32];
    char salth[33], hh[65];
    unsigned iter = 0;
    int ok = 0;
    if (!stored || sscanf(stored, "pbkdf2-sha256$%u$%32[0-9a-f]$%64[0-9a-f]", &iter, salth, hh) != 3 ||
        iter < 1000 || iter > 100000000 || unhex(salth, salt, 16) || unhex(hh, want, 32)) {
        /* Same work as a real check, so a missing user is not told apart by timing. */
        memset(salt, 0, sizeof salt);
        pbkdf2(password, salt, PW_ITER, got);
        return 0;
    }
    if (!pbkdf2(password, salt, iter, got))
        ok = CRYPTO_memcmp(got, want, 32) == 0;
    dp_memzero(got, sizeof got);
    return ok;
}

typedef struct {
    const char *name, *hash;
    int create;
    int64_t id;
    char *pw_hash;
} user_arg;

static int set_txn(sd_ctx *ctx, void *a_, sd_status *st)
{
    user_arg *a = a_;
    SD_TRY(sd_store_user_find(ctx->db, a->name, &a->id, NULL, &st->err));
    if (a->create && a->id)
        return sd_fail(st, SD_CONFLICT, "user '%s' already exists", a->name);
    if (!a->create && !a->id)
        return sd_fail(st, SD_NOT_FOUND, "no user named '%s'", a->name);
    if (a->create)
        return sd_store_user_insert(ctx->db, a->name, a->hash, dp_now_ms(), &st->err);
    /* A new password ends the user's sessions. */
    SD_TRY(sd_store_user_set_password(ctx->db, a->id, a->hash, &st->err));
    return sd_store_session_delete_user(ctx->db, a->id, &st->err);
}

int sd_user_set(sd_ctx *ctx, const char *name, const char *password, int create, sd_status *st)
{
    if (!sd_label_valid(name, 64))
        return sd_fail(st, SD_INVALID, "user names are 1-64 characters of [A-Za-z0-9_.-]");
    if (strlen(password) < 8)
        return sd_fail(st, SD_INVALID, "the password must have at least 8 characters");
    char *h = pw_hash(password, PW_ITER);
    if (!h)
        return sd_fail(st, SD_INTERNAL, "unable to hash the password");
    user_arg a = {.name = name, .hash = h, .create = create};
    int rc = sd_txn(ctx, SD_TXN_WRITE, set_txn, &a, st);
    free(h);
    return rc;
}

static int delete_txn(sd_ctx *ctx, void *a_, sd_status *st)
{
    user_arg *a = a_;
    SD_TRY(sd_store_user_find(ctx->db, a->name, &a->id, NULL, &st->err));
    if (!a->id)
        return sd_fail(st, SD_NOT_FOUND, "no user named '%s'", a->name);
    return sd_store_user_delete(ctx->db, a->id, &st->err);
}

int sd_user_delete(sd_ctx *ctx, const char *name, sd_status *st)
{
    user_arg a = {.name = name};
    return sd_txn(ctx, SD_TXN_WRITE, delete_txn, &a, st);
}

static int names_read(sd_ctx *ctx, void *out, sd_status *st)
{
    sd_list_free((sd_name_list *)out);
    return sd_store_user_names(ctx->db, out, &st->err);
}

int sd_user_names(sd_ctx *ctx, sd_name_list *out, sd_status *st)
{
    memset(out, 0, sizeof *out);
    return sd_txn(ctx, SD_TXN_NONE, names_read, out, st);
}

static int credentials(sd_ctx *ctx, void *a_, sd_status *st)
{
    user_arg *a = a_;
    free(a->pw_hash);
    a->pw_hash = NULL;
    return sd_store_user_find(ctx->db, a->name, &a->id, &a->pw_hash, &st->err);
}

typedef struct {
    const sd_session *s;
    int64_t now, ttl_ms;
} login_arg;

static int session_txn(sd_ctx *ctx, void *a_, sd_status *st)
{
    login_arg *a = a_;
    dp_err ignore = {0};
    sd_store_session_sweep(ctx->db, a->now, &ignore); /* best effort */
    return sd_store_session_insert(ctx->db, a->s->token_hash, a->s->user, a->s->csrf, a->now, a->now + a->ttl_ms,
                                   &st->err);
}

int sd_session_login(sd_ctx *ctx, const char *user, const char *password, int64_t ttl_ms, char token[65],
                     sd_session *s, sd_status *st)
{
    user_arg a = {.name = user};
    memset(s, 0, sizeof *s);
    if (sd_txn(ctx, SD_TXN_NONE, credentials, &a, st)) {
        free(a.pw_hash);
        sd_status un = SD_STATUS_INIT;
        *st = un;
        return sd_fail(st, SD_UNAVAILABLE, "state store unavailable");
    }
    int ok = pw_verify(password, a.pw_hash) && a.id > 0;
    free(a.pw_hash);
    if (!ok)
        return sd_fail(st, SD_UNAUTHORIZED, "wrong user name or password");
    if (random_hex(token, 32) || random_hex(s->csrf, 32))
        return sd_fail(st, SD_INTERNAL, "no randomness");
    dp_sha256_hex(token, 64, s->token_hash);
    s->user = a.id;
    snprintf(s->name, sizeof s->name, "%s", user);
    login_arg l = {s, dp_now_ms(), ttl_ms};
    if (sd_txn(ctx, SD_TXN_NONE, session_txn, &l, st)) {
        dp_memzero(token, 65);
        sd_status un = SD_STATUS_INIT;
        *st = un;
        return sd_fail(st, SD_UNAVAILABLE, "state store unavailable");
    }
    s->expires_at = l.now + ttl_ms;
    return 0;
}

typedef struct {
    sd_session *s;
    int found;
} find_arg;

static int session_read(sd_ctx *ctx, void *a_, sd_status *st)
{
    find_arg *a = a_;
    return sd_store_session_get(ctx->db, a->s->token_hash, a->s, &a->found, &st->err);
}

int sd_session_find(sd_ctx *ctx, const char *token, sd_session *s)
{
    char th[65];
    if (!token || strlen(token) != 64)
        return 0;
    dp_sha256_hex(token, 64, th);
    memset(s, 0, sizeof *s);
    memcpy(s->token_hash, th, sizeof th);
    find_arg a = {s, 0};
    sd_status st = SD_STATUS_INIT;
    if (sd_txn(ctx, SD_TXN_NONE, session_read, &a, &st) || !a.found)
        return 0;
    if (CRYPTO_memcmp(s->token_hash, th, 64) == 0 && s->expires_at > dp_now_ms())
        return 1;
    sd_session_logout(ctx, s); /* expired */
    return 0;
}

static int session_delete(sd_ctx *ctx, void *a_, sd_status *st)
{
    const sd_session *s = a_;
    return sd_store_session_delete(ctx->db, s->token_hash, &st->err);
}

void sd_session_logout(sd_ctx *ctx, const sd_session *s)
{
    sd_status st = SD_STATUS_INIT;
    sd_txn(ctx, SD_TXN_NONE, session_delete, (void *)s, &st);
}
