/* retention.c - keep-last and grandfather-father-son retention (see retention.h). */
#include "domain/retention.h"

#include <stdlib.h>
#include <time.h>

int sd_retention_active(const sd_retention *p)
{
    return p->keep_last > 0 || p->daily > 0 || p->weekly > 0 || p->monthly > 0;
}

void sd_retention_keep(const sd_retention *p, const int64_t *created_ms, int n, unsigned char *keep)
{
    int64_t lastday = -1, lastweek = -1, lastmonth = -1, nd = 0, nw = 0, nm = 0;
    for (int i = 0; i < n; i++) {
        time_t t = (time_t)(created_ms[i] / 1000);
        struct tm tm;
        char wk[16];
        gmtime_r(&t, &tm);
        strftime(wk, sizeof wk, "%G%V", &tm); /* ISO year and week */
        int64_t day = (int64_t)(tm.tm_year + 1900) * 1000 + tm.tm_yday, week = strtoll(wk, NULL, 10),
                month = (int64_t)(tm.tm_year + 1900) * 100 + tm.tm_mon;
        keep[i] = !sd_retention_active(p) || i == 0 || i < p->keep_last;
        /* The first backup seen of a day (week, month) is its newest. */
        if (day != lastday && nd < p->daily) {
            keep[i] = 1;
            nd++;
        }
        if (week != lastweek && nw < p->weekly) {
            keep[i] = 1;
            nw++;
        }
        if (month != lastmonth && nm < p->monthly) {
            keep[i] = 1;
            nm++;
        }
        lastday = day;
        lastweek = week;
        lastmonth = month;
    }
}
