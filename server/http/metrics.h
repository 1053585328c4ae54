/*
 * metrics.h - /metrics in the Prometheus text format (0.0.4): the catalog and agents from the store
 * (service/stats.h) and this process's counters. Allowed with the metrics token (Authorization: Bearer),
 * else to loopback clients, or with a dashboard session.
 */
#ifndef SD_METRICS_H
#define SD_METRICS_H

#include <microhttpd.h>

#include "service/ctx.h"

/* Process-local counters the agent API bumps. Any thread. */
void sd_metrics_count_poll(void);
void sd_metrics_count_register(void);

enum MHD_Result sd_metrics_reply(struct MHD_Connection *c, sd_ctx *ctx);

#endif
