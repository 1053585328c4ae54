/*
 * alert_rules.h - when dumperd alerts, and how an alert is named and retried. Pure.
 *
 * Two conditions: a failed backup (alerted once, keyed "b_<backup id>"; failures older than a day when first
 * seen, e.g. from before alerts were configured, are not alerted) and a stale database: no good backup for
 * more than stale_after hours, counted from its newest good backup or, never backed up, from when it was
 * first known (registered, or its first attempt if earlier). A stale condition is keyed
 * "d_<database id>:<id of its newest good backup or 0>": it alerts once and stays quiet until a newer good
 * backup resolves it (one "backup_stale_resolved"); a later staleness is a new condition.
 *
 * Delivery: an undelivered alert is retried after 2 s, doubling up to 10 minutes, 12 attempts in all.
 */
#ifndef SD_ALERT_RULES_H
#define SD_ALERT_RULES_H

#include <stdint.h>

#define SD_ALERT_MAX_ATTEMPTS 12
#define SD_ALERT_FAILED_WINDOW_MS (86400 * 1000LL)
#define SD_ALERT_CLAIM_MS 60000 /* a delivery in progress: other passes and instances leave it alone */

/* When a database's staleness counts from (ms): its newest good backup's finish if it has one, else the
 * earlier of when it became known and its first attempt (if any). */
int64_t sd_stale_since(int has_good, int64_t last_good_ms, int64_t known_ms, int has_attempt,
                       int64_t first_attempt_ms);
/* 1 when a database stale since `since` is stale at `now`; stale_after_h <= 0 never is. */
int sd_is_stale(int64_t since, int64_t now, double stale_after_h);
/* The delay before the next attempt after `attempts` failed ones. */
int64_t sd_alert_retry_delay_ms(int64_t attempts);

/* Alert keys. */
void sd_alert_ref_failed(char out[32], int64_t backup);
void sd_alert_ref_stale(char out[64], int64_t db, int64_t newest_good);
/* 0 with the ids of a stale key, or -1. */
int sd_alert_ref_stale_parse(const char *ref, int64_t *db, int64_t *newest_good);

#endif
