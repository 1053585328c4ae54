/* storage_views.c - JSON shapes of destinations and copies (see storage_views.h). */
#include "http/storage_views.h"

#include <string.h>

#include "http/views.h"

cJSON *sd_view_storages(const sd_storage_list *l)
{
    cJSON *arr = cJSON_CreateArray();
    for (int i = 0; arr && i < l->n; i++) {
        const sd_storage_row *s = &l->v[i];
        cJSON *o = cJSON_CreateObject(), *r, *c;
        cJSON_AddStringToObject(o, "name", s->name);
        cJSON_AddStringToObject(o, "location", s->location);
        cJSON_AddStringToObject(o, "kind", !strncmp(s->location, "s3://", 5) ? "s3" : "local");
        if (s->endpoint)
            cJSON_AddStringToObject(o, "endpoint", s->endpoint);
        if (s->region)
            cJSON_AddStringToObject(o, "region", s->region);
        cJSON_AddStringToObject(o, "addressing", s->path_style > 0 ? "path" : s->path_style < 0 ? "virtual" : "auto");
        cJSON_AddStringToObject(o, "credentials", s->credentials_file ? "file" : "environment");
        r = cJSON_AddObjectToObject(o, "retention");
        cJSON_AddNumberToObject(r, "keep_last", (double)s->retention.keep_last);
        cJSON_AddNumberToObject(r, "daily", (double)s->retention.daily);
        cJSON_AddNumberToObject(r, "weekly", (double)s->retention.weekly);
        cJSON_AddNumberToObject(r, "monthly", (double)s->retention.monthly);
        if (s->lock_mode) {
            cJSON *k = cJSON_AddObjectToObject(o, "object_lock");
            cJSON_AddStringToObject(k, "mode", s->lock_mode);
            cJSON_AddNumberToObject(k, "days", (double)s->lock_days);
        } else {
            cJSON_AddNullToObject(o, "object_lock");
        }
        c = cJSON_AddObjectToObject(o, "copies");
        cJSON_AddNumberToObject(c, "pending", (double)s->pending);
        cJSON_AddNumberToObject(c, "good", (double)s->good);
        cJSON_AddNumberToObject(c, "failed", (double)s->failed);
        sd_view_time(o, "created_at", s->created_at);
        cJSON_AddItemToArray(arr, o);
    }
    return arr;
}

cJSON *sd_view_copies(const sd_copy_list *l)
{
    cJSON *arr = cJSON_CreateArray();
    for (int i = 0; arr && i < l->n; i++) {
        const sd_copy_row *c = &l->v[i];
        cJSON *o = cJSON_CreateObject();
        sd_view_id(o, "backup_id", 'b', c->backup);
        cJSON_AddStringToObject(o, "storage", c->storage_name);
        cJSON_AddStringToObject(o, "state", c->state);
        cJSON_AddNumberToObject(o, "attempts", (double)c->attempts);
        if (c->error)
            cJSON_AddStringToObject(o, "error", c->error);
        else
            cJSON_AddNullToObject(o, "error");
        sd_view_time(o, "updated_at", c->updated_at);
        cJSON_AddItemToArray(arr, o);
    }
    return arr;
}
