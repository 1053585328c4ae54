/* drill.c - `dumperd drill set|list|remove APP` (see cli.h): the app's drill policies (docs/dumperd.md
 * "Drills"). */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "http/drill_views.h"
#include "service/admin.h"
#include "service/drills.h"

#define DRILL_HEADER "ENVIRONMENT\tDATABASE\tMODE\tCRON\tTZ\tNEXT"
static void drill_line(const cJSON *o)
{
    printf("%s\t%s\t%s\t%s\t%s\t%s\n", sd_cli_jstr(o, "environment"), sd_cli_jstr(o, "database_key"),
           sd_cli_jstr(o, "mode"), sd_cli_jstr(o, "cron"), sd_cli_jstr(o, "tz"), sd_cli_jstr(o, "next"));
}

int sd_cli_drill(const sd_cli *a, sd_ctx *ctx, sd_status *st)
{
    const char *sub = a->npos ? a->pos[0] : "", *env = a->env ? a->env : "production";
    int64_t app = 0;
    if (a->npos != 2 || (strcmp(sub, "set") && strcmp(sub, "list") && strcmp(sub, "remove")))
        return sd_cli_usage_error("expected 'drill set|list|remove APP'%s", "");
    if (sd_app_find(ctx, a->pos[1], &app, st))
        return st->err.code;
    if (!strcmp(sub, "set")) {
        const char *warning = NULL;
        if (sd_drill_policy_set(ctx, app, env, a->dbkey, a->after_each_backup, a->cron, a->tz, &warning, st))
            return st->err.code;
        if (warning)
            fprintf(stderr, "dumperd: warning: %s\n", warning);
        if (a->after_each_backup)
            fprintf(stderr, "drill set: after each backup for %s%s%s\n", env, a->dbkey ? ", database " : "",
                    a->dbkey ? a->dbkey : "");
        else
            fprintf(stderr, "drill set: '%s' (%s) for %s%s%s\n", a->cron, a->tz ? a->tz : "UTC", env,
                    a->dbkey ? ", database " : "", a->dbkey ? a->dbkey : "");
        return 0;
    }
    if (!strcmp(sub, "remove")) {
        if (sd_drill_policy_remove(ctx, app, env, a->dbkey, st))
            return st->err.code;
        fprintf(stderr, "drill policy removed for %s%s%s\n", env, a->dbkey ? ", database " : "",
                a->dbkey ? a->dbkey : "");
        return 0;
    }
    sd_drill_policy_list l;
    if (sd_drill_policies(ctx, app, &l, st))
        return st->err.code;
    cJSON *arr = sd_view_drill_policies(&l, sd_ctx_now(ctx));
    sd_list_free(&l);
    if (!a->json && arr && cJSON_GetArraySize(arr))
        puts(DRILL_HEADER);
    return sd_cli_print_list(a, arr, drill_line);
}
