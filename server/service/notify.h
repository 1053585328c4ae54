/*
 * notify.h - notification channels: the operator's channels (slack, email, ntfy, webhook; for one app or every
 * app; for some event categories), raising an event (recorded once per (kind, ref), fanned out to the matching
 * channels in the same transaction), formatting it for each kind, and delivering it once per channel with
 * retries (the alert thread, service/alerts.c, runs sd_notify_deliver_pass; `notify test` one delivery now).
 *
 * Messages name the app, environment, database, what happened and the dashboard link
 * (<public-url>/#/app/<id>). Formats:
 * - slack: incoming-webhook JSON {"text": ..., "username": "Dumper"} (Mattermost, Discord's /slack, ...);
 * - ntfy: https://server/TOPIC: ntfy's JSON publishing (POST to the server's root: topic, title, message,
 *   click, tags);
 * - webhook: the event's JSON payload (the one --alert-webhook gets), signed: X-Dumper-Signature:
 *   sha256=<hex HMAC-SHA256(channel secret, "<X-Dumper-Timestamp>.<body>")>, with X-Dumper-Event,
 *   X-Dumper-Delivery (unique per delivery: a receiver drops a repeat) and X-Dumper-Timestamp (unix seconds:
 *   a receiver refuses old ones);
 * - email: a text mail through smtp:// (STARTTLS required) or smtps:// (lib/http/smtp.h) to the channel's
 *   addresses, the login user in the URL, the password from serve's --smtp-password-file or
 *   $DUMPERD_SMTP_PASSWORD (never stored, never shown).
 *
 * Events other services raise: "drill_failed" (category drill) and "storage_behind" (category storage), with
 * sd_event_raise inside their own sd_txn step.
 */
#ifndef SD_NOTIFY_H
#define SD_NOTIFY_H

#include <cjson/cJSON.h>
#include <stdint.h>

#include "core/stop.h"
#include "service/ctx.h"
#include "store/channels.h"

typedef struct sd_event {
    const char *kind;     /* "backup_failed", "drill_failed", "storage_behind", ... (domain/alert_rules.h) */
    const char *ref;      /* unique per condition: a (kind, ref) is raised once */
    int64_t app_id;       /* for the dashboard link; 0: none */
    const char *app, *env, *database; /* database may be NULL */
    const char *text;     /* what happened, one line, without the app/env/database prefix */
    cJSON *fields;        /* optional: more payload fields (an object); always consumed */
} sd_event;

/* Inside a service step: records the event unless (kind, ref) exists and fans it out to its channels. *raised
 * (optional) is 1 when it was new. */
int sd_event_raise(sd_ctx *ctx, const sd_event *ev, int *raised, sd_status *st);

/* The operator's channels. add: SD_INVALID for a bad name, kind, URL, address or --on list, SD_NOT_FOUND for
 * an unknown app, SD_CONFLICT when the name exists; secret gets the webhook signing secret (shown once). */
typedef struct sd_channel_spec {
    const char *name, *kind, *url, *to, *app, *on; /* app, on, to may be NULL (every app, every event) */
} sd_channel_spec;
int sd_channel_add(sd_ctx *ctx, const sd_channel_spec *spec, char secret[68], sd_status *st);
int sd_channels(sd_ctx *ctx, sd_channel_list *out, sd_status *st);
int sd_channel_remove(sd_ctx *ctx, const char *name, sd_status *st);
/* Sends a test event to the channel now (one attempt; recorded like any delivery): 0 when delivered, else
 * SD_STORAGE_FAILED with the reason. */
int sd_channel_test(sd_ctx *ctx, const char *name, sd_status *st);
/* "https://hooks.slack.com/..." for display: the URL's scheme, user and host only. out holds 256 bytes. */
void sd_channel_url_display(const char *url, char out[256]);

/* One delivery pass over due deliveries (the alert thread). */
void sd_notify_deliver_pass(sd_ctx *ctx, dp_stop *stop);

/* The webhook signature header value for body at ts: "sha256=<64 hex>". out holds 72 bytes. */
void sd_notify_sign(const char *secret, int64_t ts, const char *body, char out[72]);

#endif
