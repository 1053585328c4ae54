/*
 * scheduler.h - the scheduler pass that every `serve` process runs once a second: it expires job leases (the
 * attempt is lost, the job requeued per domain/retry.h) and produces the due slots of every schedule
 * (domain/schedule.h) as jobs, each slot once across passes and instances (the store's unique index). Passes
 * of one process are serialised (the test clock's endpoint runs one too).
 */
#ifndef SD_SCHEDULER_H
#define SD_SCHEDULER_H

#include <stdint.h>

#include "service/ctx.h"

/* One pass at the context's clock. 0, or an error code with err filled. */
int sd_scheduler_tick(sd_ctx *ctx, dp_err *err);
/* Tests: move the (frozen) clock to now_ms and run a pass, with no other pass in between. */
int sd_scheduler_tick_at(sd_ctx *ctx, int64_t now_ms, dp_err *err);

#endif
