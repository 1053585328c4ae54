/* app_set.c - `dumperd app set NAME ...`: an app's job policy (see cli.h, domain/job_policy.h) and its
 * --drill-max-age (service/drill_results.h). */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/util.h"
#include "http/views.h"
#include "service/admin.h"
#include "service/drill_results.h"
#include "service/job_policy.h"

/* The options given into a change: 0, or -1 with st filled (one line naming the option). */
static int change_of(const sd_cli *a, sd_job_policy *c, unsigned *fields, sd_status *st)
{
    char msg[DP_ERR_MSG_MAX];
    sd_job_policy_init(c);
    *fields = 0;
    if (a->nrecipients && a->no_recipients)
        return sd_fail(st, SD_INVALID, "--recipient and --no-recipients exclude each other");
    for (int i = 0; i < a->nrecipients; i++)
        if (sd_job_policy_add_recipient(c, a->recipients[i], msg, sizeof msg))
            return sd_fail(st, SD_INVALID, "%s", msg);
    if (a->nrecipients || a->no_recipients)
        *fields |= SD_JP_RECIPIENTS;
    if (a->nice) {
        char *end;
        errno = 0;
        long n = strtol(a->nice, &end, 10);
        if (!strcmp(a->nice, "unset"))
            c->nice = SD_NICE_UNSET;
        else if (errno || end == a->nice || *end || n < 0 || n > SD_NICE_MAX)
            return sd_fail(st, SD_INVALID, "invalid --nice '%.32s' (0 to %d, or unset)", a->nice, SD_NICE_MAX);
        else
            c->nice = (int)n;
        *fields |= SD_JP_NICE;
    }
    if (a->ionice) {
        if (strcmp(a->ionice, "unset") && sd_job_policy_ionice(a->ionice, c->ionice, msg, sizeof msg))
            return sd_fail(st, SD_INVALID, "%s", msg);
        *fields |= SD_JP_IONICE;
    }
    if (a->limit_rate) {
        if (strcmp(a->limit_rate, "unset") && sd_job_policy_rate(a->limit_rate, &c->limit_rate, msg, sizeof msg))
            return sd_fail(st, SD_INVALID, "%s", msg);
        *fields |= SD_JP_RATE;
    }
    return 0;
}

/* --drill-max-age HOURS|off into seconds: 0, or -1 with st filled. */
static int drill_max_age(const char *s, int64_t *out, sd_status *st)
{
    char *end;
    errno = 0;
    double h = strtod(s, &end);
    if (!strcmp(s, "off")) {
        *out = 0;
        return 0;
    }
    if (errno || end == s || *end || !(h >= 0 && h <= (double)(SD_DRILL_MAX_AGE_MAX / 3600)))
        return sd_fail(st, SD_INVALID, "invalid --drill-max-age '%.32s' (hours from 0 to %lld, or off)", s,
                       SD_DRILL_MAX_AGE_MAX / 3600);
    *out = (int64_t)(h * 3600);
    return 0;
}

int sd_cli_app_set(const sd_cli *a, sd_ctx *ctx, const char *name, sd_status *st)
{
    sd_job_policy change, now;
    unsigned fields;
    int64_t app = 0, max_age = 0;
    if (change_of(a, &change, &fields, st) || (a->drill_max_age && drill_max_age(a->drill_max_age, &max_age, st)) ||
        sd_app_find(ctx, name, &app, st))
        return st->err.code;
    if ((a->drill_max_age && sd_drill_max_age_set(ctx, app, max_age, st)) || sd_drill_max_age_get(ctx, app, &max_age, st))
        return st->err.code;
    if (fields ? sd_job_policy_set(ctx, app, &change, fields, &now, st) : sd_job_policy_get(ctx, app, &now, st))
        return st->err.code;
    if (a->json) {
        cJSON *o = cJSON_CreateObject();
        char *s = NULL;
        if (o && cJSON_AddStringToObject(o, "name", name)) {
            sd_view_job_policy(o, &now);
            if (max_age)
                cJSON_AddNumberToObject(o, "drill_max_age_hours", (double)max_age / 3600);
            else
                cJSON_AddNullToObject(o, "drill_max_age_hours");
        }
        if (o && (s = cJSON_Print(o)))
            printf("%s\n", s);
        free(s);
        cJSON_Delete(o);
        return s ? 0 : DUMPER_ENOMEM;
    }
    if (now.nrecipients)
        printf("recipients\t%d\n", now.nrecipients);
    else
        printf("recipients\tnone (backups are not encrypted)\n");
    for (int i = 0; i < now.nrecipients; i++)
        printf("recipient\t%s\n", now.recipients[i]);
    if (now.nice == SD_NICE_UNSET)
        printf("nice\tunset (the agent decides)\n");
    else
        printf("nice\t%d\n", now.nice);
    printf("ionice\t%s\n", now.ionice[0] ? now.ionice : "unset (the agent decides)");
    if (now.limit_rate)
        printf("limit_rate\t%lld\n", (long long)now.limit_rate);
    else
        printf("limit_rate\tunset (the agent decides)\n");
    if (max_age)
        printf("drill_max_age\t%g hours\n", (double)max_age / 3600);
    else
        printf("drill_max_age\toff (no alert for a database without a recent passed drill)\n");
    if (fields & SD_JP_RECIPIENTS)
        fprintf(stderr, "app '%s': %s; backups made before keep their recipients\n", name,
                now.nrecipients ? "new backups are encrypted to these recipients" : "new backups are not encrypted");
    return 0;
}
