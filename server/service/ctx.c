/* ctx.c - service contexts and the transaction helper (see ctx.h). */
#include "service/ctx.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/util.h"
#include "domain/election.h"
#include "storage/s3_upload.h"

int sd_ctx_open(sd_ctx *ctx, const sd_config *cfg, sd_clock *clock, dp_err *err)
{
    memset(ctx, 0, sizeof *ctx);
    ctx->cfg = cfg;
    ctx->clock = clock;
    ctx->seed = (unsigned)dp_mono_ms() ^ (unsigned)(uintptr_t)ctx;
    return sd_db_open(cfg->store_url, &ctx->db, err);
}

int sd_ctx_open_like(sd_ctx *ctx, const sd_ctx *tmpl, dp_err *err)
{
    int rc = sd_ctx_open(ctx, tmpl->cfg, tmpl->clock, err);
    ctx->storage_drv = tmpl->storage_drv;
    ctx->storage_create = tmpl->storage_create;
    return rc;
}

void sd_ctx_close(sd_ctx *ctx)
{
    sd_db_close(ctx->db);
    dp_storage_close(ctx->stg);
    ctx->db = NULL;
    ctx->stg = NULL;
}

int64_t sd_ctx_now(const sd_ctx *ctx) { return sd_clock_now_ms(ctx->clock); }

double sd_ctx_jitter(sd_ctx *ctx) { return sd_jitter(&ctx->seed); }

dp_storage *sd_ctx_storage(sd_ctx *ctx, dp_err *err)
{
    if (!ctx->stg && !dp_storage_open(ctx->cfg->storage, NULL, ctx->storage_create, &ctx->stg, err))
        ctx->storage_drv = ctx->stg->drv;
    return ctx->stg;
}

int sd_ctx_presigned(sd_ctx *ctx)
{
    if (!ctx->storage_drv) {
        dp_err ignore = {0};
        sd_ctx_storage(ctx, &ignore);
    }
    return ctx->storage_drv == &dp_storage_s3;
}

int sd_txn(sd_ctx *ctx, int mode, sd_txn_fn fn, void *arg, sd_status *st)
{
    for (int attempt = 0; attempt < 200; attempt++) {
        int rc = mode == SD_TXN_NONE ? 0 : sd_txn_begin(ctx->db, mode == SD_TXN_WRITE, &st->err);
        if (!rc) {
            rc = fn(ctx, arg, st);
            if (mode != SD_TXN_NONE) {
                if (!rc)
                    rc = sd_txn_commit(ctx->db, &st->err);
                else
                    sd_txn_rollback(ctx->db);
            }
        }
        if (rc != SD_RETRY) {
            if (rc && st->outcome == SD_OK) {
                st->outcome = SD_INTERNAL;
                if (!st->err.code)
                    st->err.code = DUMPER_EINTERNAL;
            }
            return rc ? -1 : 0;
        }
        st->outcome = SD_OK;
        dp_err_clear(&st->err);
        struct timespec ts = {0, (long)(1000000L + (rand_r(&ctx->seed) % 4000000))};
        nanosleep(&ts, NULL);
    }
    return sd_fail(st, SD_UNAVAILABLE, "state store is busy, retry later");
}
