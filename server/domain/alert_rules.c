/* alert_rules.c - alert conditions, keys and retry delays (see alert_rules.h). */
#include "domain/alert_rules.h"

#include <inttypes.h>
#include <stdio.h>

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
