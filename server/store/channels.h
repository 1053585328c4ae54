/*
 * channels.h - notification channels and their deliveries (SQL only; see apps.h for the conventions).
 *
 * A channel: a unique name, a kind (slack, email, ntfy, webhook: domain/alert_rules.h), its target (url, and
 * to_addr for email), the app it is for (0: every app), the event categories it wants (a mask) and, for
 * webhooks, the secret that signs its requests. Each alert is fanned out when it is raised: one delivery row
 * per matching channel, unique by (alert, channel), so an alert reaches a channel once; a row is claimed by
 * one delivery pass at a time, retried later on failure, and dead (counted in /metrics) after its last
 * attempt. The rules are domain/alert_rules.h, fan-out, formatting and delivery service/notify.c.
 */
#ifndef SD_STORE_CHANNELS_H
#define SD_STORE_CHANNELS_H

#include <stdint.h>

#include "core/err.h"
#include "store/db.h"

typedef struct sd_channel_row {
    int64_t id, app_id, events, created_at;
    int64_t sent, pending, dead; /* deliveries (sd_store_channels only) */
    const char *name, *kind, *url, *to_addr, *secret; /* to_addr may be NULL */
    const char *app;                                  /* the app's name; NULL for every app */
} sd_channel_row;

typedef struct sd_channel_list {
    int n;
    sd_channel_row *v;
    sd_res res_;
} sd_channel_list;

/* A delivery due, with its alert and channel. */
typedef struct sd_delivery_row {
    int64_t id, attempts, next_try, alert_id;
    const char *alert_kind, *alert_ref, *payload;
    const char *channel, *kind, *url, *to_addr, *secret;
} sd_delivery_row;

typedef struct sd_delivery_list {
    int n;
    sd_delivery_row *v;
    sd_res res_;
} sd_delivery_list;

int sd_store_channel_insert(sd_db *db, const char *name, const char *kind, const char *url, const char *to_addr,
                            int64_t app_id, int64_t events, const char *secret, int64_t now, int64_t *id, dp_err *err);
/* The channel named name (0 or 1 rows). */
int sd_store_channel_find(sd_db *db, const char *name, sd_channel_list *out, dp_err *err);
/* Every channel, by name, with its delivery counts. */
int sd_store_channels(sd_db *db, sd_channel_list *out, dp_err *err);
/* Deletes the channel and its deliveries. */
int sd_store_channel_delete(sd_db *db, int64_t id, dp_err *err);

/* One delivery per channel for this app (by name) or every app whose mask has `category`: *n rows. */
int sd_store_delivery_fanout(sd_db *db, int64_t alert_id, const char *app, int64_t category, int64_t next_try, int *n,
                             dp_err *err);
/* One delivery to one channel (notify test). */
int sd_store_delivery_insert(sd_db *db, int64_t alert_id, int64_t channel_id, int64_t next_try, dp_err *err);
/* Deliveries due at now (not sent, not dead), oldest first, at most limit. */
int sd_store_delivery_due(sd_db *db, int64_t now, int limit, sd_delivery_list *out, dp_err *err);
/* The delivery rows of one alert (notify test waits on it): 0 or 1 of them for the channel. */
int sd_store_delivery_get(sd_db *db, int64_t alert_id, int64_t channel_id, sd_delivery_list *out, int64_t *sent_at,
                          int64_t *dead_at, dp_err *err);
/* Claim a delivery until `until` if its next try is still next_try: *won = 0 when another pass took it. */
int sd_store_delivery_claim(sd_db *db, int64_t id, int64_t next_try, int64_t until, int *won, dp_err *err);
int sd_store_delivery_sent(sd_db *db, int64_t id, int64_t attempts, int64_t now, dp_err *err);
/* A failed attempt: retried at next_try, or dead (now) when dead is set. */
int sd_store_delivery_failed(sd_db *db, int64_t id, int64_t attempts, int64_t next_try, int dead, int64_t now,
                             const char *why, dp_err *err);
/* Counts for /metrics: deliveries pending, dead, sent. */
int sd_store_delivery_counts(sd_db *db, int64_t *pending, int64_t *dead, int64_t *sent, dp_err *err);

/* The size rule's inputs: good backups with a size and id > after_id that finished after since, by id, at
 * most limit; and the sizes of a database's good backups before one, newest first. */
typedef struct sd_sized_row {
    int64_t backup, app_id, db_id, size, finished_at;
    const char *app, *env, *db_key;
} sd_sized_row;

typedef struct sd_sized_list {
    int n;
    sd_sized_row *v;
    sd_res res_;
} sd_sized_list;

int sd_store_sized_backups(sd_db *db, int64_t after_id, int64_t since, int limit, sd_sized_list *out, dp_err *err);
int sd_store_size_history(sd_db *db, int64_t db_id, int64_t before_id, int limit, int64_t *sizes, int *n, dp_err *err);

#endif
