/*
 * alerts.h - alerts on a failed backup, on a database without a good backup for too long and on a backup whose
 * size dropped or grew sharply (domain/alert_rules.h), sent as JSON to the global webhook (--alert-webhook,
 * service/deliver.h) and to the notification channels that want them (service/notify.h).
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
/* The alert thread (detection, the global webhook if configured, the channels' deliveries): a context like tmpl (its store connection is opened in
 * the thread). */
int sd_alerts_start(const sd_ctx *tmpl, dp_err *err);
void sd_alerts_stop(void);
/* An alert raised by a service outside detection (the copy worker, a download's fallback): o (consumed)
 * holds its fields and a "text" line; inserted once per (kind, ref), delivered by the alert thread. 0 or -1
 * with st filled. */
struct cJSON;
int sd_alert_raise(sd_ctx *ctx, const char *kind, const char *ref, struct cJSON *o, sd_status *st);

#endif
