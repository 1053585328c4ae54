/* views_drill.c - drill evidence as JSON (see views_drill.h). */
#include "http/views_drill.h"

#include <string.h>

#include "domain/names.h"
#include "http/views.h"
#include "service/drill_results.h"

/* A stored JSON array (written by service/drill_results.c); [] if it does not parse. */
static cJSON *stored_array(const char *s)
{
    cJSON *a = s ? cJSON_Parse(s) : NULL;
    if (cJSON_IsArray(a))
        return a;
    cJSON_Delete(a);
    return cJSON_CreateArray();
}

static void num_or_null(cJSON *o, const char *k, int has, int64_t v)
{
    if (has)
        cJSON_AddNumberToObject(o, k, (double)v);
    else
        cJSON_AddNullToObject(o, k);
}

cJSON *sd_view_drill(const sd_drill_row *r)
{
    cJSON *o = cJSON_CreateObject();
    sd_view_id(o, "drill_id", 'r', r->id);
    cJSON_AddStringToObject(o, "status", r->status);
    sd_view_time(o, "started_at", r->started_at);
    sd_view_time(o, "finished_at", r->finished_at);
    cJSON_AddNumberToObject(o, "duration_ms", (double)r->duration_ms);
    cJSON_AddNumberToObject(o, "restore_ms", (double)r->restore_ms);
    num_or_null(o, "backup_ms", r->backup_ms > 0, r->backup_ms);
    cJSON_AddBoolToObject(o, "compared", r->compared);
    num_or_null(o, "tables", r->has_figures, r->tables);
    num_or_null(o, "rows", r->has_figures, r->rows);
    cJSON_AddNumberToObject(o, "mismatch_count", (double)r->mismatch_count);
    cJSON_AddItemToObject(o, "mismatches", stored_array(r->mismatches));
    cJSON_AddItemToObject(o, "checks", stored_array(r->checks));
    if (r->error)
        cJSON_AddStringToObject(o, "error", r->error);
    else
        cJSON_AddNullToObject(o, "error");
    if (r->job_id > 0)
        sd_view_id(o, "job_id", 'j', r->job_id);
    else
        cJSON_AddNullToObject(o, "job_id");
    return o;
}

void sd_view_backups_add_drills(cJSON *arr, const sd_drill_list *l)
{
    cJSON *b;
    cJSON_ArrayForEach(b, arr)
    {
        int64_t id = 0;
        const sd_drill_row *r = NULL;
        if (!sd_id_parse(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(b, "backup_id")), 'b', &id))
            r = sd_drill_find(l, id);
        cJSON_AddItemToObject(b, "drill", r ? sd_view_drill(r) : cJSON_CreateNull());
    }
}

int sd_view_backups_drills(sd_ctx *ctx, int64_t app, cJSON *arr, sd_status *st)
{
    sd_drill_list l;
    if (sd_drill_latest_of_app(ctx, app, &l, st))
        return -1;
    sd_view_backups_add_drills(arr, &l);
    sd_list_free(&l);
    return 0;
}

void sd_view_databases_add_verification(cJSON *arr, const sd_drill_db_list *l)
{
    cJSON *d;
    cJSON_ArrayForEach(d, arr)
    {
        int64_t id = 0;
        const sd_drill_db_row *r = NULL;
        if (!sd_id_parse(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(d, "database_id")), 'd', &id))
            for (int i = 0; l && i < l->n && !r; i++)
                if (l->v[i].db_id == id)
                    r = &l->v[i];
        cJSON *v = cJSON_AddObjectToObject(d, "verification");
        if (r && r->has_passed)
            sd_view_time(v, "last_verified_at", r->last_passed_at);
        else
            cJSON_AddNullToObject(v, "last_verified_at");
        cJSON_AddNumberToObject(v, "drills", r ? (double)r->drills : 0);
        cJSON_AddNumberToObject(v, "drill_failures", r ? (double)r->failures : 0);
        if (r && r->latest_status) {
            cJSON_AddStringToObject(v, "latest_drill_status", r->latest_status);
            sd_view_time(v, "latest_drill_at", r->latest_at);
        } else {
            cJSON_AddNullToObject(v, "latest_drill_status");
            cJSON_AddNullToObject(v, "latest_drill_at");
        }
    }
}
