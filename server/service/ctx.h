/*
 * ctx.h - what a service call works with: the configuration, the clock and this thread's store
 * connection. Each thread that calls services (an HTTP worker, the scheduler, the alert thread, a CLI
 * command) owns one context; a context is never shared between threads.
 */
#ifndef SD_CTX_H
#define SD_CTX_H

#include <stdint.h>

#include "config/clock.h"
#include "config/config.h"
#include "core/err.h"
#include "store/db.h"

typedef struct sd_ctx {
    const sd_config *cfg;
    sd_clock *clock;
    sd_db *db;
} sd_ctx;

/* A context with its own store connection (cfg->store_url). 0 or an error code with err filled. */
int sd_ctx_open(sd_ctx *ctx, const sd_config *cfg, sd_clock *clock, dp_err *err);
/* Closes what the context owns (not cfg, not clock). */
void sd_ctx_close(sd_ctx *ctx);
/* Milliseconds since the epoch on the context's clock. */
int64_t sd_ctx_now(const sd_ctx *ctx);

#endif
