/* election.c - primary election, poll intervals and agent expiry (see election.h). */
#include "domain/election.h"

#include <stdlib.h>
#include <string.h>

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

sd_elect_action sd_elect_register(const sd_lease *current, int64_t agent, int same_process, int64_t now)
{
    sd_elect_action a = sd_elect(current, agent, now);
    return a == SD_ELECT_SECONDARY && same_process ? SD_ELECT_TAKE_OVER : a;
}

int sd_same_process_start(const char *holder, const char *registering)
{
    if (!holder || !*holder || !registering || !*registering)
        return 1;
    return !strcmp(holder, registering);
}

int sd_release_applies(const sd_lease *current, int64_t agent) { return current && current->agent == agent; }

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

double sd_secondary_interval(int64_t lease_until, int64_t registered_at, int64_t now_ms, double secondary_s,
                             double jitter)
{
    double iv = secondary_s * jitter;
    double rest = lease_until > now_ms ? (double)(lease_until - now_ms) / 1000.0 : 0;
    double at_expiry = rest + 1 + (jitter - 0.9) * 10;
    if (at_expiry < iv)
        iv = at_expiry;
    if (now_ms - registered_at < SD_DEPLOY_WINDOW_MS && SD_DEPLOY_POLL_S * jitter < iv)
        iv = SD_DEPLOY_POLL_S * jitter;
    return iv < 1 ? 1 : iv;
}

double sd_jitter(unsigned *seed) { return 0.9 + 0.2 * ((double)rand_r(seed) / RAND_MAX); }

int64_t sd_agent_keep_ms(double secondary_s)
{
    int64_t keep = 7 * 86400 * 1000LL;
    if (secondary_s * 3000 > (double)keep)
        keep = (int64_t)(secondary_s * 3000);
    return keep;
}

int64_t sd_agent_silent_after_ms(double primary_s, double secondary_s, int64_t lease_ms)
{
    double secondary = (double)lease_ms / 1000.0 + 3;
    if (secondary_s * 1.1 < secondary)
        secondary = secondary_s * 1.1;
    double longest = primary_s * 1.1 > secondary ? primary_s * 1.1 : secondary;
    return (int64_t)(longest * 1000) + SD_LAST_SEEN_REFRESH_MS + 60000;
}

int sd_agent_alive(int stopped, int64_t last_seen, int64_t now, int64_t silent_after_ms)
{
    return !stopped && now - last_seen < silent_after_ms;
}
