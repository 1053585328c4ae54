/* login_limit.c - the login limiter's table (see login_limit.h). */
#include "domain/login_limit.h"

#include <stdio.h>
#include <string.h>

static int live(const sd_login_limit *l, int i, int64_t now)
{
    return l->slot[i].key[0] && now - l->slot[i].since < SD_LOGIN_WINDOW_MS;
}

static int blocked(const sd_login_limit *l, int i, int64_t now)
{
    return live(l, i, now) && l->slot[i].fails >= l->slot[i].max;
}

int sd_login_allowed(const sd_login_limit *l, const char *pair, const char *addr, int64_t now_ms)
{
    for (int i = 0; i < SD_LOGIN_SLOTS; i++)
        if ((!strcmp(l->slot[i].key, pair) || !strcmp(l->slot[i].key, addr)) && blocked(l, i, now_ms))
            return 0;
    return 1;
}

/* The slot of key, or a new one; *reused is set when a blocked entry had to give its slot. */
static int slot_for(sd_login_limit *l, const char *key, int64_t now, int *reused)
{
    int best = -1, oldest = 0;
    for (int i = 0; i < SD_LOGIN_SLOTS; i++)
        if (l->slot[i].key[0] && !strcmp(l->slot[i].key, key))
            return i;
    for (int i = 0; i < SD_LOGIN_SLOTS; i++) {
        if (!live(l, i, now))
            return i;
        if (!blocked(l, i, now) && (best < 0 || l->slot[i].fails < l->slot[best].fails))
            best = i;
        if (l->slot[i].since < l->slot[oldest].since)
            oldest = i;
    }
    if (best < 0) {
        *reused = 1;
        best = oldest; /* the one whose window ends first */
    }
    return best;
}

static void count(sd_login_limit *l, const char *key, int max, int64_t now, int *reused)
{
    int i = slot_for(l, key, now, reused);
    if (strcmp(l->slot[i].key, key) || !live(l, i, now)) {
        snprintf(l->slot[i].key, sizeof l->slot[i].key, "%s", key);
        l->slot[i].fails = 0;
        l->slot[i].since = now;
    }
    l->slot[i].max = max;
    l->slot[i].fails++;
}

int sd_login_failed(sd_login_limit *l, const char *pair, const char *addr, int64_t now_ms)
{
    int reused = 0;
    count(l, pair, SD_LOGIN_MAX, now_ms, &reused);
    count(l, addr, SD_LOGIN_ADDR_MAX, now_ms, &reused);
    return reused;
}
