/* ctx.c - service contexts (see ctx.h). */
#include "service/ctx.h"

#include <string.h>

int sd_ctx_open(sd_ctx *ctx, const sd_config *cfg, sd_clock *clock, dp_err *err)
{
    memset(ctx, 0, sizeof *ctx);
    ctx->cfg = cfg;
    ctx->clock = clock;
    return sd_db_open(cfg->store_url, &ctx->db, err);
}

void sd_ctx_close(sd_ctx *ctx)
{
    sd_db_close(ctx->db);
    ctx->db = NULL;
}

int64_t sd_ctx_now(const sd_ctx *ctx) { return sd_clock_now_ms(ctx->clock); }
