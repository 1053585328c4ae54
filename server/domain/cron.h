/*
 * cron.h - 5-field cron expressions evaluated in a time zone (IANA name, e.g. "Europe/Paris").
 *
 * A slot is a UTC minute whose local wall time matches the expression. Daylight saving time:
 * a wall time that does not exist (spring forward) fires at the first minute after the jump; a wall
 * time that happens twice (fall back) fires only the first time. Parsing is pure; evaluation switches
 * the process's TZ under a lock (see cron.c).
 */
#ifndef SD_CRON_H
#define SD_CRON_H

#include <stddef.h>
#include <stdint.h>

typedef struct sd_cron {
    uint64_t min;   /* bits 0-59 */
    uint32_t hour;  /* bits 0-23 */
    uint32_t dom;   /* bits 1-31 */
    uint32_t mon;   /* bits 1-12 */
    uint32_t dow;   /* bits 0-6, Sunday = 0 */
    int dom_star, dow_star;
} sd_cron;

/* 0 on success; -1 with a message in msg (one line) otherwise. */
int sd_cron_parse(const char *expr, sd_cron *c, char *msg, size_t msglen);
/* Is `tz` a zone the TZ database knows? ("UTC" always is.) */
int sd_tz_valid(const char *tz);
/* The first slot strictly after `after` (seconds since the epoch), searching at most `horizon`
 * seconds ahead; -1 if none. */
int64_t sd_cron_next(const sd_cron *c, const char *tz, int64_t after, int64_t horizon);

#endif
