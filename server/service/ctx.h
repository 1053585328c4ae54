/*
 * ctx.h - what a service call works with: the configuration, the clock, this thread's store connection and
 * storage handle, and its small caches. Each thread that calls services (an HTTP worker, the scheduler, the
 * alert thread, a CLI command) owns one context; a context is never shared between threads, so nothing in
 * it needs a lock.
 *
 * Transactions: every service runs its store calls through sd_txn, the one place where SD_RETRY (a
 * conflict: SQLite busy, PostgreSQL serialization failure or deadlock, a lost connection) is handled: the
 * whole function runs again after a short random sleep, in a new transaction.
 */
#ifndef SD_CTX_H
#define SD_CTX_H

#include <stdint.h>

#include "config/clock.h"
#include "config/config.h"
#include "core/err.h"
#include "service/status.h"
#include "storage/storage.h"
#include "store/db.h"

#define SD_KEY_CACHE 16

typedef struct sd_ctx {
    const sd_config *cfg;
    sd_clock *clock;
    sd_db *db;
    dp_storage *stg;                      /* this thread's storage, opened on first use (sd_ctx_storage) */
    const dp_storage_driver *storage_drv; /* the driver of cfg->storage, once known (serve knows it at start) */
    int storage_create;                   /* create a missing local directory when opening (serve) */
    unsigned seed;                        /* jitter */
    struct {                              /* recently seen app keys (service/auth.c) */
        char hash[65];
        int64_t app, until;
    } keys[SD_KEY_CACHE];
    unsigned keys_next;
} sd_ctx;

/* A context with its own store connection (cfg->store_url). 0 or an error code with err filled. */
int sd_ctx_open(sd_ctx *ctx, const sd_config *cfg, sd_clock *clock, dp_err *err);
/* Another thread's context like tmpl (configuration, clock, storage driver), with its own connection. */
int sd_ctx_open_like(sd_ctx *ctx, const sd_ctx *tmpl, dp_err *err);
/* Closes what the context owns (not cfg, not clock). */
void sd_ctx_close(sd_ctx *ctx);
/* Milliseconds since the epoch on the context's clock. */
int64_t sd_ctx_now(const sd_ctx *ctx);
/* A jitter factor in [0.9, 1.1] (domain/election.h). */
double sd_ctx_jitter(sd_ctx *ctx);

/* This thread's storage handle, opened once (S3: one HEAD of the bucket and one curl handle per thread).
 * NULL with err filled when it cannot be opened (tried again at the next call). */
dp_storage *sd_ctx_storage(sd_ctx *ctx, dp_err *err);
/* 1 when the storage is S3, whose uploads go to presigned part URLs: known from the storage driver
 * (storage_drv, else this thread's handle), never from the location's spelling. */
int sd_ctx_presigned(sd_ctx *ctx);

enum { SD_TXN_NONE, SD_TXN_READ, SD_TXN_WRITE };
/* A service step: store calls (0, SD_RETRY or an error code with st->err filled) and decisions (sd_fail).
 * Returns 0, or the first nonzero code (SD_RETRY, a store error, or -1 after sd_fail). */
typedef int (*sd_txn_fn)(sd_ctx *ctx, void *arg, sd_status *st);
/* Run fn in a transaction (SD_TXN_READ or SD_TXN_WRITE; SD_TXN_NONE: each statement on its own) and commit
 * it; SD_RETRY runs it again (up to 200 times, then SD_UNAVAILABLE "state store is busy, retry later"). A
 * store error becomes SD_INTERNAL with the store's message. 0 or -1 with st filled. */
int sd_txn(sd_ctx *ctx, int mode, sd_txn_fn fn, void *arg, sd_status *st);
/* Inside an sd_txn_fn: return a store call's code when it is not 0. */
#define SD_TRY(call)                                                                                                   \
    do {                                                                                                               \
        int try_rc_ = (call);                                                                                          \
        if (try_rc_)                                                                                                   \
            return try_rc_;                                                                                            \
    } while (0)

#endif
