/* drill_record.c - `dumperd drill-record APP BACKUP [FILE|-]`: record a restore drill run by hand (`dumper drill
 * --json` output) as the backup's evidence, through the same service as an agent's report (service/
 * drill_results.h). */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/util.h"
#include "domain/names.h"
#include "http/views_drill.h"
#include "service/admin.h"
#include "service/drill_results.h"

/* The whole file (or stdin), at most one byte more than a document may have (the service refuses it). */
static int slurp(const char *path, dp_buf *b, sd_status *st)
{
    FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
    if (!f)
        return sd_fail(st, SD_NOT_FOUND, "unable to read the drill result '%s': %s", path, strerror(errno));
    char chunk[65536];
    size_t n;
    while (b->len <= SD_DRILL_DOC_MAX && (n = fread(chunk, 1, sizeof chunk, f)) > 0)
        if (dp_buf_append(b, chunk, n)) {
            if (f != stdin)
                fclose(f);
            return sd_fail(st, SD_INTERNAL, "out of memory");
        }
    int bad = ferror(f);
    if (f != stdin)
        fclose(f);
    return bad ? sd_fail(st, SD_INTERNAL, "unable to read the drill result '%s'", path) : 0;
}

int sd_cli_drill_record(const sd_cli *a, sd_ctx *ctx, sd_status *st)
{
    int64_t app = 0, backup = 0, id = 0;
    if (a->npos < 2 || a->npos > 3)
        return sd_cli_usage_error("expected 'drill-record APP BACKUP [FILE|-]'%s", "");
    if (sd_id_parse(a->pos[1], 'b', &backup) && sd_id_parse(a->pos[1], 0, &backup))
        return sd_cli_usage_error("invalid backup '%.40s' (b_<id>)", a->pos[1]);
    if (sd_app_find(ctx, a->pos[0], &app, st))
        return st->err.code;
    dp_buf b = {0};
    const char *path = a->npos == 3 ? a->pos[2] : "-";
    int rc = slurp(path, &b, st) || sd_drill_record_id(ctx, app, backup, 0, 0, b.data ? b.data : "", b.len, &id, st);
    dp_buf_free(&b);
    if (rc)
        return st->err.code;
    sd_drill_list l;
    if (sd_drill_of_backup(ctx, app, backup, 1, &l, st))
        return st->err.code;
    if (a->json && l.n) {
        cJSON *o = sd_view_drill(&l.v[0]);
        char *s = o ? cJSON_Print(o) : NULL;
        if (s)
            printf("%s\n", s);
        free(s);
        cJSON_Delete(o);
    }
    if (l.n)
        fprintf(stderr, "drill r_%lld of backup b_%lld recorded: %s\n", (long long)id, (long long)backup,
                l.v[0].status);
    sd_list_free(&l);
    return 0;
}
