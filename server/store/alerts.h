/*
 * alerts.h - alert state: one row per alert, unique by (kind, key), with its JSON payload and delivery
 * state (attempts, next try, sent, last error); and the reads that detection needs (failed backups, the
 * staleness of every database, open stale conditions). SQL only (see apps.h for the conventions); the
 * rules are domain/alert_rules.h, detection and delivery service/alerts.c.
 */
#ifndef SD_STORE_ALERTS_H
#define SD_STORE_ALERTS_H

#include <stdint.h>

#include "core/err.h"
#include "store/db.h"

typedef struct sd_alert_row {
    int64_t id, attempts, next_try;
    const char *kind, *ref, *payload;
} sd_alert_row;

typedef struct sd_alert_list {
    int n;
    sd_alert_row *v;
    sd_res res_;
} sd_alert_list;

typedef struct sd_failed_row {
    int64_t backup, finished_at;
    const char *app, *env, *db_key, *error_code, *error_message; /* db_key, error_* may be NULL */
} sd_failed_row;

typedef struct sd_failed_list {
    int n;
    sd_failed_row *v;
    sd_res res_;
} sd_failed_list;

/* A database's staleness inputs. */
typedef struct sd_staleness_row {
    int64_t db_id, known_at, newest_good, last_good_at, first_attempt; /* newest_good: its id, 0 if none */
    int has_good, has_attempt;
    const char *app, *env, *db_key;
} sd_staleness_row;

typedef struct sd_staleness_list {
    int n;
    sd_staleness_row *v;
    sd_res res_;
} sd_staleness_list;

/* A new alert (nothing when (kind, ref) exists). */
int sd_store_alert_insert(sd_db *db, const char *kind, const char *ref, const char *payload, int64_t now,
                          int64_t next_try, dp_err *err);
int sd_store_alert_exists(sd_db *db, const char *kind, const char *ref, int *yes, dp_err *err);
/* Failed backups that finished after `since`, by id. */
int sd_store_alert_failed_backups(sd_db *db, int64_t since, sd_failed_list *out, dp_err *err);
/* Every database with its app, newest good backup and first attempt. */
int sd_store_alert_staleness(sd_db *db, sd_staleness_list *out, dp_err *err);
/* Stale alerts without their resolution yet: ref, payload. */
int sd_store_alert_open_stale(sd_db *db, sd_alert_list *out, dp_err *err);
/* Undelivered alerts due at now with attempts left, oldest first, at most limit. */
int sd_store_alert_due(sd_db *db, int64_t now, int64_t max_attempts, int limit, sd_alert_list *out, dp_err *err);
/* Claim an alert for delivery until `until` if its next try is still `next_try`: *won = 0 when another pass
 * or instance claimed it. */
int sd_store_alert_claim(sd_db *db, int64_t id, int64_t next_try, int64_t until, int *won, dp_err *err);
int sd_store_alert_sent(sd_db *db, int64_t id, int64_t attempts, int64_t now, dp_err *err);
int sd_store_alert_retry_later(sd_db *db, int64_t id, int64_t attempts, int64_t next_try, const char *why,
                               dp_err *err);
int sd_store_alert_undelivered(sd_db *db, int64_t *n, dp_err *err);

#endif
