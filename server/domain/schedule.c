/* schedule.c - the slots a scheduler pass produces (see schedule.h). */
#include "domain/schedule.h"

void sd_schedule_due(const sd_cron *c, const char *tz, int64_t last_slot, int64_t now_s, int64_t catchup_s,
                     sd_due *due)
{
    int64_t from = last_slot ? last_slot : now_s;
    due->n = 0;
    due->skipped = 0;
    if (from < now_s - catchup_s) {
        due->skipped = 1;
        from = now_s - catchup_s;
    }
    for (int64_t t = from; due->n < SD_SCHEDULE_MAX_SLOTS;) {
        int64_t s = sd_cron_next(c, tz, t, now_s - t);
        if (s < 0 || s > now_s)
            break;
        due->slots[due->n++] = s;
        t = s;
    }
    due->next = sd_cron_next(c, tz, now_s, SD_SCHEDULE_HORIZON_S);
    if (due->next < 0)
        due->next = now_s + SD_SCHEDULE_HORIZON_S; /* none within the horizon: look again then */
}

int sd_schedule_next(const sd_cron *c, const char *tz, int64_t after, int n, int64_t *out)
{
    int k = 0;
    for (int64_t t = after; k < n; k++) {
        if ((t = sd_cron_next(c, tz, t, SD_SCHEDULE_HORIZON_S)) < 0)
            break;
        out[k] = t;
    }
    return k;
}
