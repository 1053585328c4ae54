/*
 * alerts.h - alerts on a failed backup and on a database without a good backup for too long
 * (domain/alert_rules.h), sent as JSON to the webhook (service/deliver.h).
 *
 * One background thread per `serve` process (never a request thread) with its own context. Each pass (every
 * --alert-check seconds) first detects: it inserts one row per alert into the store, unique by (kind, key),
 * so an alert exists once however many passes or dumperd instances see the condition; then it delivers:
 * every undelivered row is claimed (a conditional update, so two instances don't both send it), POSTed, and
 * on failure retried later with backoff. A store error ends the pass with the error (it runs again at the
 * next one): it never counts as "already alerted".
 */
#ifndef SD_ALERTS_H
#define SD_ALERTS_H

#include <stdatomic.h>

#include "service/ctx.h"

/* One detection pass at the context's clock. 0, or an error code with err filled. */
int sd_alerts_detect(sd_ctx *ctx, dp_err *err);
/* The alert thread, when a webhook is configured: a context like tmpl (its store connection is opened in
 * the thread). */
int sd_alerts_start(const sd_ctx *tmpl, dp_err *err);
void sd_alerts_stop(void);

#endif
