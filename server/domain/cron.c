/*
 * cron.c - cron parsing and slot search in a time zone.
 *
 * Local time comes from the C library's TZ database: localtime_r after setting TZ. TZ is process
 * state, so every evaluation holds one mutex; TZ is set to "UTC" once at start so later setenv calls
 * only replace an existing entry (glibc never frees the old string, so a concurrent getenv in another
 * library stays safe).
 */
#include <ctype.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "domain/cron.h"

static pthread_mutex_t tz_lock = PTHREAD_MUTEX_INITIALIZER;

static int parse_num(const char **p, int *v)
{
    if (!isdigit((unsigned char)**p))
        return -1;
    long n = 0;
    while (isdigit((unsigned char)**p)) {
        n = n * 10 + (**p - '0');
        if (n > 1000)
            return -1;
        (*p)++;
    }
    *v = (int)n;
    return 0;
}

/* One field: "*", "*\/n", "a", "a-b", "a-b/n", comma lists. */
static int parse_field(const char *s, int lo, int hi, uint64_t *bits, int *star)
{
    *bits = 0;
    *star = (strcmp(s, "*") == 0);
    const char *p = s;
    for (;;) {
        int a, b, step = 1;
        if (*p == '*') {
            a = lo;
            b = hi;
            p++;
        } else {
            if (parse_num(&p, &a))
                return -1;
            b = a;
            if (*p == '-') {
                p++;
                if (parse_num(&p, &b))
                    return -1;
            }
        }
        if (*p == '/') {
            p++;
            if (parse_num(&p, &step) || step < 1)
                return -1;
            if (b == a && s[0] != '*')
                b = hi;
        }
        if (a < lo || b > hi || a > b)
            return -1;
        for (int i = a; i <= b; i += step)
            *bits |= 1ULL << i;
        if (*p == ',') {
            p++;
            continue;
        }
        return *p ? -1 : 0;
    }
}

int sd_cron_parse(const char *expr, sd_cron *c, char *msg, size_t msglen)
{
    static const char *names[5] = {"minute", "hour", "day of month", "month", "day of week"};
    static const int lo[5] = {0, 0, 1, 1, 0}, hi[5] = {59, 23, 31, 12, 7};
    char f[5][64];
    int n = 0;
    const char *p = expr;
    char shown[101]; /* expr in messages: one line */
    memset(c, 0, sizeof *c);
    for (size_t i = 0; expr[i]; i++)
        if (((unsigned char)expr[i] < 0x20 && expr[i] != '\t') || expr[i] == 0x7f) {
            snprintf(msg, msglen, "cron expression contains control characters");
            return -1;
        }
    snprintf(shown, sizeof shown, "%s", expr);
    for (char *t = shown; *t; t++)
        if (*t == '\t')
            *t = ' ';
    while (*p) {
        while (*p == ' ' || *p == '\t')
            p++;
        if (!*p)
            break;
        if (n == 5) {
            snprintf(msg, msglen, "cron expression '%s' has more than 5 fields", shown);
            return -1;
        }
        size_t len = 0;
        while (p[len] && p[len] != ' ' && p[len] != '\t')
            len++;
        if (len >= sizeof f[n]) {
            snprintf(msg, msglen, "cron field %d is too long", n + 1);
            return -1;
        }
        memcpy(f[n], p, len);
        f[n][len] = 0;
        p += len;
        n++;
    }
    if (n != 5) {
        snprintf(msg, msglen, "cron expression '%s' needs 5 fields (minute hour day month weekday)", shown);
        return -1;
    }
    uint64_t bits[5];
    int star[5];
    for (int i = 0; i < 5; i++) {
        if (parse_field(f[i], lo[i], hi[i], &bits[i], &star[i])) {
            snprintf(msg, msglen, "invalid %s field '%s' in cron expression", names[i], f[i]);
            return -1;
        }
    }
    c->min = bits[0];
    c->hour = (uint32_t)bits[1];
    c->dom = (uint32_t)bits[2];
    c->mon = (uint32_t)bits[3];
    c->dow = (uint32_t)(bits[4] & 0x7f) | ((bits[4] >> 7) & 1); /* 7 = Sunday */
    c->dom_star = star[2];
    c->dow_star = star[4];
    return 0;
}

static int day_matches(const sd_cron *c, const struct tm *t)
{
    if (!(c->mon & (1u << (t->tm_mon + 1))))
        return 0;
    int d = (c->dom >> t->tm_mday) & 1, w = (c->dow >> t->tm_wday) & 1;
    if (c->dom_star || c->dow_star)
        return d && w;
    return d || w; /* both restricted: either (classic cron) */
}

static int wall_matches(const sd_cron *c, time_t wall)
{
    struct tm t;
    gmtime_r(&wall, &t);
    return day_matches(c, &t) && ((c->hour >> t.tm_hour) & 1) && ((c->min >> t.tm_min) & 1);
}

/* Local wall time of UTC instant t, as seconds since the epoch of a UTC clock showing it. */
static time_t wall_of(time_t t, struct tm *tm)
{
    localtime_r(&t, tm);
    return timegm(tm);
}

/* The longest fall back of the TZ database since 1970: Antarctica/Casey's 3 hours (2010). */
#define MAX_FALL_BACK_S (4 * 3600)

/* Did the local clock already show wall time w (or a later one) before instant t? After a fall back
 * of F, the wall times of the last F before it are shown again: a time shown twice fires once. Each
 * earlier minute is looked at, as a fall back need not be an hour (Australia/Lord_Howe's is 30
 * minutes, Antarctica/Troll's 2 hours). */
static int shown_before(int64_t t, time_t w)
{
    struct tm tp;
    /* Only after a larger UTC offset: look for one every 15 minutes first (two changes of the TZ
     * database are never that close), then at every minute. */
    int larger = 0;
    for (int64_t back = 60; back <= MAX_FALL_BACK_S && !larger; back += 900)
        larger = wall_of((time_t)(t - back), &tp) - (t - back) > w - t;
    for (int64_t back = 60; larger && back <= MAX_FALL_BACK_S; back += 60)
        if (wall_of((time_t)(t - back), &tp) >= w)
            return 1;
    return 0;
}

/* jump when instant t (wall time w) and t + jump have the same UTC offset, else 60 (seconds). */
static int64_t same_offset(int64_t t, time_t w, int64_t jump)
{
    struct tm tj;
    return wall_of((time_t)(t + jump), &tj) - (t + jump) == w - t ? jump : 60;
}

static void set_tz(const char *tz)
{
    setenv("TZ", tz, 1);
    tzset();
}

int sd_tz_valid(const char *tz)
{
    if (!tz || !*tz || strlen(tz) > 64 || strstr(tz, ".."))
        return 0;
    if (!strcmp(tz, "UTC"))
        return 1;
    if (tz[0] == '/' || tz[0] == ':')
        return 0;
    /* a TZif file: a directory ("Europe") or another file there ("zone.tab") would be accepted by
     * access() and then silently read as UTC by the C library */
    char path[128], magic[4];
    snprintf(path, sizeof path, "/usr/share/zoneinfo/%s", tz);
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return 0;
    struct stat st;
    int ok = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && read(fd, magic, 4) == 4 && !memcmp(magic, "TZif", 4);
    close(fd);
    return ok;
}

int64_t sd_cron_next(const sd_cron *c, const char *tz, int64_t after, int64_t horizon)
{
    int64_t t = (after / 60 + 1) * 60, end = after + horizon, found = -1;
    pthread_mutex_lock(&tz_lock);
    set_tz(tz && *tz ? tz : "UTC");
    while (t <= end) {
        struct tm tm, tp;
        time_t w = wall_of((time_t)t, &tm);
        time_t wp = wall_of((time_t)(t - 60), &tp);
        if (w - wp == 60) {
            /* Ordinary minute: skip the rest of a local day or hour that cannot match, unless the UTC
             * offset changes on the way (the jump assumes 60-minute hours and 24-hour days: across a
             * spring change it would land past the next day's first hour); then minute by minute. */
            if (!day_matches(c, &tm)) {
                t += same_offset(t, w, (int64_t)(24 * 60 - tm.tm_hour * 60 - tm.tm_min) * 60);
                continue;
            }
            if (!((c->hour >> tm.tm_hour) & 1)) {
                t += same_offset(t, w, (int64_t)(60 - tm.tm_min) * 60);
                continue;
            }
            if (((c->min >> tm.tm_min) & 1) && !shown_before(t, w)) {
                found = t;
                break;
            }
        } else if (w - wp > 60) {
            /* Spring forward: wall times wp+60 .. w all map to this instant. */
            for (time_t x = wp + 60; x <= w; x += 60)
                if (wall_matches(c, x)) {
                    found = t;
                    break;
                }
            if (found >= 0)
                break;
        } else if (wall_matches(c, w) && !shown_before(t, w)) {
            found = t; /* not reached in practice: w <= wp means a repeated minute */
            break;
        }
        t += 60;
    }
    set_tz("UTC");
    pthread_mutex_unlock(&tz_lock);
    return found;
}

int sd_cron_rarity(const sd_cron *c)
{
    /* Only a day-of-month restriction under an unrestricted weekday can name days no month has; with a
     * weekday restriction, every month has every weekday. */
    if (c->dom_star || !c->dow_star || (c->dow & 0x7f) != 0x7f)
        return SD_CRON_NORMAL;
    static const int days[13] = {0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap_only = 0;
    for (int m = 1; m <= 12; m++) {
        if (!(c->mon & (1u << m)))
            continue;
        for (int d = 1; d <= days[m]; d++)
            if (c->dom & (1u << d))
                return SD_CRON_NORMAL;
        if (m == 2 && (c->dom & (1u << 29)))
            leap_only = 1;
    }
    return leap_only ? SD_CRON_LEAP_ONLY : SD_CRON_NEVER;
}
