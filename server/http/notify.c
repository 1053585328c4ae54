/* notify.c - notification channels' JSON view and dashboard routes (see notify.h). */
#include "http/notify.h"

#include <microhttpd.h>
#include <string.h>

#include "core/log.h"
#include "core/util.h"
#include "domain/alert_rules.h"
#include "domain/names.h"
#include "http/respond.h"
#include "http/views.h"
#include "service/notify.h"

cJSON *sd_view_channels(const sd_channel_list *l)
{
    cJSON *arr = cJSON_CreateArray();
    for (int i = 0; arr && i < l->n; i++) {
        const sd_channel_row *r = &l->v[i];
        char url[256], on[64];
        sd_channel_url_display(r->url, url);
        sd_event_mask_format((int)r->events, on);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", r->name);
        cJSON_AddStringToObject(o, "kind", r->kind);
        cJSON_AddStringToObject(o, "url", url);
        if (r->to_addr)
            cJSON_AddStringToObject(o, "to", r->to_addr);
        else
            cJSON_AddNullToObject(o, "to");
        if (r->app)
            cJSON_AddStringToObject(o, "app", r->app);
        else
            cJSON_AddNullToObject(o, "app");
        cJSON_AddStringToObject(o, "on", on);
        sd_view_time(o, "created_at", r->created_at);
        cJSON_AddNumberToObject(o, "sent", (double)r->sent);
        cJSON_AddNumberToObject(o, "pending", (double)r->pending);
        cJSON_AddNumberToObject(o, "dead", (double)r->dead);
        cJSON_AddItemToArray(arr, o);
    }
    return arr;
}

static const char *jstr(const cJSON *j, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, k);
    return cJSON_IsString(v) && v->valuestring[0] ? v->valuestring : NULL;
}

static enum MHD_Result site_status(struct MHD_Connection *c, const sd_status *st)
{
    return sd_site_error(c, sd_http_status(st->outcome), sd_http_error_code(st->outcome), st->err.msg);
}

int sd_site_notify(struct MHD_Connection *c, sd_ctx *ctx, const char *p, int get, const cJSON *j)
{
    sd_status st = SD_STATUS_INIT;
    if (!*p && get) {
        sd_channel_list l;
        if (sd_channels(ctx, &l, &st))
            return site_status(c, &st);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddItemToObject(o, "channels", sd_view_channels(&l));
        sd_list_free(&l);
        return sd_site_json(c, 200, o, NULL);
    }
    if (!*p) {
        sd_channel_spec s = {.name = jstr(j, "name"), .kind = jstr(j, "kind"), .url = jstr(j, "url"),
                             .to = jstr(j, "to"), .app = jstr(j, "app"), .on = jstr(j, "on")};
        char secret[68];
        if (sd_channel_add(ctx, &s, secret, &st))
            return site_status(c, &st);
        dp_info("site: notification channel '%s' added", s.name);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", s.name);
        if (!strcmp(s.kind, "webhook"))
            cJSON_AddStringToObject(o, "secret", secret);
        dp_memzero(secret, sizeof secret);
        return sd_site_json(c, 200, o, NULL);
    }
    char name[65];
    size_t n = *p == '/' ? strcspn(p + 1, "/") : 0;
    if (get || !n || n > 64)
        return sd_site_error(c, 404, "not_found", "no such endpoint");
    memcpy(name, p + 1, n);
    name[n] = 0;
    const char *action = p + 1 + n;
    if (!strcmp(action, "/test")) {
        if (sd_channel_test(ctx, name, &st))
            return site_status(c, &st);
    } else if (!strcmp(action, "/delete")) {
        if (sd_channel_remove(ctx, name, &st))
            return site_status(c, &st);
        dp_info("site: notification channel '%s' removed", name);
    } else {
        return sd_site_error(c, 404, "not_found", "no such endpoint");
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", name);
    return sd_site_json(c, 200, o, NULL);
}
