/*
 * stats.h - the numbers /metrics exports, read from the store in one pass (store/stats.h), plus the
 * undelivered alerts. The HTTP layer renders them (http/metrics.c) with its own process-local counters.
 */
#ifndef SD_STATS_H
#define SD_STATS_H

#include <stdint.h>

#include "service/ctx.h"
#include "store/stats.h"

typedef struct sd_stats {
    int64_t now;
    sd_stat_list backups, last_good, good_totals, agents, pending;
    int64_t alerts_undelivered;
} sd_stats;

int sd_stats_collect(sd_ctx *ctx, sd_stats *out, sd_status *st);
void sd_stats_free(sd_stats *s);

#endif
