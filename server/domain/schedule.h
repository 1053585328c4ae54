/*
 * schedule.h - which slots of a schedule a scheduler pass produces. Pure (over domain/cron.h).
 *
 * A schedule remembers the last slot it produced. A pass at `now` produces every slot after it up to now,
 * each once (the store's unique index makes that hold across passes and instances). Catch-up policy: after
 * downtime, missed slots of the last catchup_s seconds (24 hours) are produced; older ones are skipped. A
 * new or changed schedule (last slot 0) starts at the pass's now: no slots from before it existed.
 */
#ifndef SD_SCHEDULE_H
#define SD_SCHEDULE_H

#include <stdint.h>

#include "domain/cron.h"

#define SD_SCHEDULE_HORIZON_S (400LL * 86400) /* how far ahead a next slot is looked for */
#define SD_SCHEDULE_MAX_SLOTS 1500            /* slots one pass produces for one schedule, at most */

typedef struct sd_due {
    int64_t *slots; /* caller's array of SD_SCHEDULE_MAX_SLOTS */
    int n;          /* slots due, oldest first (seconds since the epoch) */
    int64_t next;   /* the first slot after now; now + horizon when none within it */
    int skipped;    /* 1 when slots before the catch-up window were dropped */
} sd_due;

/* The slots due at now_s for a schedule that produced up to last_slot (0: new). */
void sd_schedule_due(const sd_cron *c, const char *tz, int64_t last_slot, int64_t now_s, int64_t catchup_s,
                     sd_due *due);
/* Up to n slots strictly after `after`, within the horizon; returns how many. */
int sd_schedule_next(const sd_cron *c, const char *tz, int64_t after, int n, int64_t *out);

#endif
