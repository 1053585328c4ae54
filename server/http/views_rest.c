/* views_rest.c - the JSON shapes of API tokens and of jobs as the REST API shows them (see views.h). */
#include "http/views.h"

#include "domain/tokens.h"

cJSON *sd_view_tokens(const sd_token_list *l, int64_t now)
{
    cJSON *arr = cJSON_CreateArray();
    for (int i = 0; i < l->n; i++) {
        const sd_token_row *t = &l->v[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "id", (double)t->id);
        cJSON_AddStringToObject(o, "name", t->name);
        cJSON_AddStringToObject(o, "scope", t->scope);
        if (t->app_id && t->app_name)
            cJSON_AddStringToObject(o, "app", t->app_name);
        else
            cJSON_AddNullToObject(o, "app");
        sd_view_time(o, "created_at", t->created_at);
        sd_view_time(o, "expires_at", t->expires_at);
        sd_view_time(o, "last_used_at", t->last_used_at);
        sd_view_time(o, "revoked_at", t->revoked_at);
        cJSON_AddStringToObject(o, "state", t->revoked_at                                       ? "revoked"
                                            : sd_token_live(t->expires_at, 0, now) ? "live"
                                                                                   : "expired");
        cJSON_AddItemToArray(arr, o);
    }
    return arr;
}
