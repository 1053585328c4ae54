/* alert_rules.c - alert conditions, keys and retry delays (see alert_rules.h). */
#include "domain/alert_rules.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "domain/names.h"

int64_t sd_stale_since(int has_good, int64_t last_good_ms, int64_t known_ms, int has_attempt,
                       int64_t first_attempt_ms)
{
    if (has_good)
        return last_good_ms;
    return has_attempt && first_attempt_ms < known_ms ? first_attempt_ms : known_ms;
}

int sd_is_stale(int64_t since, int64_t now, double stale_after_h)
{
    return stale_after_h > 0 && now - since > (int64_t)(stale_after_h * 3600 * 1000);
}

int64_t sd_alert_retry_delay_ms(int64_t attempts)
{
    int64_t delay = 2000LL << (attempts < 9 ? (attempts > 0 ? attempts : 0) : 9);
    return delay > 600000 ? 600000 : delay;
}

void sd_alert_ref_failed(char out[32], int64_t backup) { sd_id_format(out, 'b', backup); }

void sd_alert_ref_stale(char out[64], int64_t db, int64_t newest_good)
{
    snprintf(out, 64, "d_%" PRId64 ":%" PRId64, db, newest_good);
}

int sd_alert_ref_stale_parse(const char *ref, int64_t *db, int64_t *newest_good)
{
    const char *p = ref;
    int64_t d = sd_id_scan(&p, 'd');
    if (d < 0 || *p++ != ':')
        return -1;
    if (p[0] == '0' && !p[1]) {
        *newest_good = 0;
    } else if (sd_id_parse(p, 0, newest_good)) {
        return -1;
    }
    *db = d;
    return 0;
}

void sd_alert_ref_size(char out[32], int64_t backup) { snprintf(out, 32, "s_%" PRId64, backup); }

static const struct {
    const char *name;
    int bit;
} categories[] = {{"failure", SD_EV_FAILURE}, {"stale", SD_EV_STALE}, {"size", SD_EV_SIZE},
                  {"drill", SD_EV_DRILL},     {"storage", SD_EV_STORAGE}};

int sd_event_category(const char *kind)
{
    static const struct {
        const char *kind;
        int bit;
    } kinds[] = {{"backup_failed", SD_EV_FAILURE},     {"backup_stale", SD_EV_STALE},
                 {"backup_stale_resolved", SD_EV_STALE}, {"backup_size_change", SD_EV_SIZE},
                 {"drill_failed", SD_EV_DRILL},          {"drill_overdue", SD_EV_DRILL},
                 {"drill_overdue_resolved", SD_EV_DRILL},          {"storage_behind", SD_EV_STORAGE},
                 {"copy_behind", SD_EV_STORAGE},         {"copy_fallback", SD_EV_STORAGE}};
    for (size_t i = 0; kind && i < sizeof kinds / sizeof *kinds; i++)
        if (!strcmp(kind, kinds[i].kind))
            return kinds[i].bit;
    return 0;
}

int sd_event_mask_parse(const char *list, int *mask)
{
    if (!list || !*list || strlen(list) > 200)
        return -1;
    int m = 0;
    for (const char *p = list;;) {
        size_t n = strcspn(p, ",");
        int bit = 0;
        if (n == 3 && !strncmp(p, "all", 3))
            bit = SD_EV_ALL;
        for (size_t i = 0; !bit && i < sizeof categories / sizeof *categories; i++)
            if (strlen(categories[i].name) == n && !strncmp(p, categories[i].name, n))
                bit = categories[i].bit;
        if (!bit)
            return -1;
        m |= bit;
        if (!p[n])
            break;
        p += n + 1;
    }
    *mask = m;
    return 0;
}

void sd_event_mask_format(int mask, char out[64])
{
    size_t len = 0;
    out[0] = 0;
    for (size_t i = 0; i < sizeof categories / sizeof *categories; i++)
        if (mask & categories[i].bit)
            len += (size_t)snprintf(out + len, 64 - len, "%s%s", len ? "," : "", categories[i].name);
}

int sd_channel_kind_valid(const char *kind)
{
    static const char *const kinds[] = {"slack", "email", "ntfy", "webhook"};
    for (size_t i = 0; kind && i < sizeof kinds / sizeof *kinds; i++)
        if (!strcmp(kind, kinds[i]))
            return 1;
    return 0;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

int sd_size_change(int64_t size, const int64_t *recent, int n, int64_t *median)
{
    *median = 0;
    if (n < SD_SIZE_MIN_HISTORY)
        return SD_SIZE_OK;
    int64_t v[SD_SIZE_HISTORY];
    if (n > SD_SIZE_HISTORY)
        n = SD_SIZE_HISTORY;
    memcpy(v, recent, (size_t)n * sizeof *v);
    qsort(v, (size_t)n, sizeof *v, cmp_i64);
    int64_t m = n % 2 ? v[n / 2] : v[n / 2 - 1] + (v[n / 2] - v[n / 2 - 1]) / 2;
    *median = m;
    if (m <= 0 || size < 0)
        return SD_SIZE_OK;
    /* size <= m/2 and size >= 2m, without overflow or rounding: 2*size <= m, size - m >= m */
    if (size <= m / 2 && m - size >= SD_SIZE_MIN_DELTA)
        return SD_SIZE_DROPPED;
    if (size - m >= m && size - m >= SD_SIZE_MIN_DELTA)
        return SD_SIZE_GREW;
    return SD_SIZE_OK;
}
