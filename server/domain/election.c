/* election.c - primary election, poll intervals and agent expiry (see election.h). */
#include "domain/election.h"

#include <stdlib.h>

sd_elect_action sd_elect(const sd_lease *current, int64_t agent, int64_t now)
{
    if (!current)
        return SD_ELECT_TAKE;
    if (current->agent == agent)
        return SD_ELECT_RENEW;
    if (current->until <= now)
        return SD_ELECT_TAKE_OVER;
    return SD_ELECT_SECONDARY;
}

int sd_elect_is_primary(sd_elect_action a) { return a != SD_ELECT_SECONDARY; }

int sd_poll_read_only(const sd_lease *current, int64_t agent, int64_t last_seen, int64_t now)
{
    return current && current->agent != agent && current->until > now && now - last_seen < SD_LAST_SEEN_REFRESH_MS;
}

double sd_poll_interval(int primary, int more_jobs, int64_t next_slot_s, int64_t now_ms, double primary_s,
                        double secondary_s, double jitter)
{
    if (!primary)
        return secondary_s * jitter;
    if (more_jobs)
        return 1;
    double iv = primary_s * jitter;
    if (next_slot_s > 0) {
        double until = (double)(next_slot_s * 1000 - now_ms) / 1000.0 + 1;
        if (until < 1)
            until = 1;
        if (until < iv)
            iv = until;
    }
    return iv;
}

double sd_register_interval(int primary, double secondary_s, double jitter)
{
    return primary ? 1 : secondary_s * jitter;
}

double sd_jitter(unsigned *seed) { return 0.9 + 0.2 * ((double)rand_r(seed) / RAND_MAX); }

int64_t sd_agent_keep_ms(double secondary_s)
{
    int64_t keep = 7 * 86400 * 1000LL;
    if (secondary_s * 3000 > (double)keep)
        keep = (int64_t)(secondary_s * 3000);
    return keep;
}
