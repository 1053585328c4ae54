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

/*
 * Events and channels. Every alert kind belongs to one category, the unit a notification channel subscribes to
 * (`dumperd notify add ... --on failure,stale`): failure (backup_failed), stale (backup_stale,
 * backup_stale_resolved), size (backup_size_change), drill (drill_failed), storage (storage_behind: a copy
 * destination falling behind). A kind not listed belongs to none and reaches only the global --alert-webhook.
 */
enum {
    SD_EV_FAILURE = 1,
    SD_EV_STALE = 2,
    SD_EV_SIZE = 4,
    SD_EV_DRILL = 8,
    SD_EV_STORAGE = 16,
    SD_EV_ALL = 31,
};
/* The category bit of an alert kind, 0 when none. */
int sd_event_category(const char *kind);
/* "failure,stale" into a mask; "all" = SD_EV_ALL. 0 and the mask, or -1 (an unknown or empty name, a
 * list over 200 bytes). */
int sd_event_mask_parse(const char *list, int *mask);
/* The mask as a list ("failure,stale"), in the order above; out holds 64 bytes. */
void sd_event_mask_format(int mask, char out[64]);

/* Channel kinds (`--kind`): 1 when known. */
int sd_channel_kind_valid(const char *kind);

/*
 * Backup size against recent backups: a backup of a database that has at least SD_SIZE_MIN_HISTORY earlier
 * good backups (the most recent SD_SIZE_HISTORY count) is compared with their median. At most half of it
 * ("dropped": a truncated dump looks exactly like this) or at least twice it ("grew") is an event, when the
 * difference is also at least SD_SIZE_MIN_DELTA bytes (tiny databases jitter by more than half).
 */
#define SD_SIZE_HISTORY 5
#define SD_SIZE_MIN_HISTORY 3
#define SD_SIZE_MIN_DELTA 1024
enum { SD_SIZE_OK = 0, SD_SIZE_DROPPED = -1, SD_SIZE_GREW = 1 };
/* The verdict for `size` against recent[0..n) (any order); *median gets the median (0 with too little
 * history). */
int sd_size_change(int64_t size, const int64_t *recent, int n, int64_t *median);

/* Alert keys. */
void sd_alert_ref_failed(char out[32], int64_t backup);
void sd_alert_ref_stale(char out[64], int64_t db, int64_t newest_good);
void sd_alert_ref_size(char out[32], int64_t backup); /* "s_<backup id>" */
/* 0 with the ids of a stale key, or -1. */
int sd_alert_ref_stale_parse(const char *ref, int64_t *db, int64_t *newest_good);

#endif
