/*
 * ratelimit.h - a log line at most once per window: the first event of a window is reported at once with the
 * number of events suppressed since the last report; the others are counted. Pure state; the caller holds
 * whatever lock its threads need and passes the time.
 */
#ifndef SD_RATELIMIT_H
#define SD_RATELIMIT_H

#include <stdint.h>

typedef struct sd_ratelimit {
    int64_t last;      /* ms of the last report; 0: never */
    int64_t suppressed; /* events since then, not reported */
} sd_ratelimit;

/* One event at now (ms). 1: report it now, *suppressed = events suppressed since the last report (the
 * counter restarts); 0: suppressed (a report happened less than window_ms ago). */
int sd_ratelimit_hit(sd_ratelimit *r, int64_t now, int64_t window_ms, int64_t *suppressed);

#endif
