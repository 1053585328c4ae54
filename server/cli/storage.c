/* storage.c - `dumperd storage add|list|remove|sync` and `dumperd copies APP` (see cli.h, service/storages.h,
 * service/copies.h). */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "core/util.h"
#include "http/storage_views.h"
#include "service/admin.h"
#include "service/copies.h"
#include "service/storages.h"

static void storage_line(const cJSON *o)
{
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(o, "copies");
    printf("%s\t%s\tgood=%d\tpending=%d\tfailed=%d\n", sd_cli_jstr(o, "name"), sd_cli_jstr(o, "location"),
           (int)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(c, "good")),
           (int)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(c, "pending")),
           (int)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(c, "failed")));
}

static void copy_line(const cJSON *o)
{
    printf("%s\t%s\t%s\t%s\t%s\n", sd_cli_jstr(o, "backup_id"), sd_cli_jstr(o, "storage"), sd_cli_jstr(o, "state"),
           sd_cli_jstr(o, "updated_at"), sd_cli_jstr(o, "error"));
}

int sd_cli_storage(const char *cmd, const sd_cli *a, sd_ctx *ctx, sd_status *st)
{
    const char *sub = a->npos ? a->pos[0] : NULL;
    int rc;
    if (!strcmp(cmd, "copies")) {
        int64_t app = 0;
        sd_copy_list l;
        if (a->npos != 1)
            return sd_cli_usage_error("expected 'copies APP'%s", "");
        if (sd_app_find(ctx, a->pos[0], &app, st) || sd_copies_of_app(ctx, app, 1000, &l, st))
            return st->err.code;
        rc = sd_cli_print_list(a, sd_view_copies(&l), copy_line);
        sd_list_free(&l);
        return rc;
    }
    if (dp_streq(sub, "list") && a->npos == 1) {
        sd_storage_list l;
        if (sd_storages(ctx, &l, st))
            return st->err.code;
        rc = sd_cli_print_list(a, sd_view_storages(&l), storage_line);
        sd_list_free(&l);
        return rc;
    }
    if (dp_streq(sub, "add") && a->npos == 3) {
        if (a->path_style && a->virtual_host)
            return sd_cli_usage_error("--path-style and --virtual-host exclude each other%s", "");
        sd_storage_spec s = {.name = a->pos[1],
                             .location = a->pos[2],
                             .endpoint = a->endpoint,
                             .region = a->region,
                             .credentials_file = a->credentials_file,
                             .lock_mode = a->lock_mode,
                             .lock_days = a->lock_days,
                             .path_style = a->path_style ? 1 : a->virtual_host ? -1 : 0,
                             .retention = a->ret};
        if (sd_storage_add(ctx, &s, st))
            return st->err.code;
        fprintf(stderr, "storage '%s' added: every good backup from now on is copied to it (existing ones: dumperd"
                        " storage sync %s)\n", s.name, s.name);
        return 0;
    }
    if (dp_streq(sub, "remove") && a->npos == 2) {
        if (sd_storage_remove(ctx, a->pos[1], st))
            return st->err.code;
        fprintf(stderr, "storage '%s' removed; the copies stored there were left in place\n", a->pos[1]);
        return 0;
    }
    if (dp_streq(sub, "sync") && a->npos == 2) {
        int queued = 0, good = 0, failed = 0;
        if (sd_storage_sync(ctx, a->pos[1], &queued, &good, &failed, st))
            return st->err.code;
        fprintf(stderr, "storage '%s': %d copies queued, %d copied, %d failed%s\n", a->pos[1], queued, good, failed,
                failed ? " (run sync again, or let dumperd serve retry them)" : "");
        return failed ? DUMPER_ESTORAGE : 0;
    }
    return sd_cli_usage_error("expected 'storage add NAME LOCATION', 'storage list', 'storage remove NAME' or"
                              " 'storage sync NAME'%s", "");
}
