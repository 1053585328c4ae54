/* drill.c - drill policies, capabilities and attempts (see drill.h). */
#include "domain/drill.h"

#include <stdio.h>
#include <string.h>

#include "domain/cron.h"

const char *sd_drill_mode_name(int mode)
{
    return mode == SD_DRILL_AFTER_BACKUP ? "after-each-backup" : mode == SD_DRILL_CRON ? "cron" : NULL;
}

int sd_drill_mode_parse(const char *s)
{
    if (s && !strcmp(s, "after-each-backup"))
        return SD_DRILL_AFTER_BACKUP;
    if (s && !strcmp(s, "cron"))
        return SD_DRILL_CRON;
    return SD_DRILL_NONE;
}

int sd_drill_policy_check(int after_each, const char *cron, const char *tz, char *msg, size_t msglen, int *leap_only)
{
    sd_cron c;
    char why[200];
    *leap_only = 0;
    if (after_each && cron) {
        snprintf(msg, msglen, "a drill policy is either --after-each-backup or --cron, not both");
        return -1;
    }
    if (!after_each && !cron) {
        snprintf(msg, msglen, "a drill policy needs --after-each-backup or --cron EXPR");
        return -1;
    }
    if (after_each) {
        if (tz) {
            snprintf(msg, msglen, "--tz goes with --cron");
            return -1;
        }
        return 0;
    }
    if (sd_cron_parse(cron, &c, why, sizeof why)) {
        snprintf(msg, msglen, "%s", why);
        return -1;
    }
    if (sd_cron_rarity(&c) == SD_CRON_NEVER) {
        snprintf(msg, msglen, "cron expression '%.100s' " SD_CRON_NEVER_MSG, cron);
        return -1;
    }
    if (tz && !sd_tz_valid(tz)) {
        snprintf(msg, msglen, "unknown time zone '%.64s'", tz);
        return -1;
    }
    *leap_only = sd_cron_rarity(&c) == SD_CRON_LEAP_ONLY;
    return 0;
}

int sd_drill_policy_pick(const int64_t *policy_db_ids, int n, int64_t db_id)
{
    int env = -1;
    for (int i = 0; i < n; i++) {
        if (db_id > 0 && policy_db_ids[i] == db_id)
            return i;
        if (policy_db_ids[i] == 0 && env < 0)
            env = i;
    }
    return env;
}

int64_t sd_capability_bit(const char *name)
{
    return name && !strcmp(name, "drill") ? SD_CAP_DRILL : 0;
}

int64_t sd_drill_slot(const int64_t *slots, int n)
{
    return n > 0 ? slots[n - 1] : 0;
}
