/* site_storage.c - the dashboard's destinations page behind /ui/storage (issue 16; see site.h): list, add and
 * remove destinations, and an app's copies. The same services as `dumperd storage` and `dumperd copies`; the
 * JSON is the CLI's --json (http/storage_views.h): a credentials file's path is stored, never a secret. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "core/util.h"
#include "domain/names.h"
#include "http/respond.h"
#include "http/site.h"
#include "http/storage_views.h"
#include "http/views.h"
#include "service/admin.h"
#include "service/storages.h"

static enum MHD_Result failed(struct MHD_Connection *c, const sd_status *st)
{
    return sd_site_error(c, sd_http_status(st->outcome), sd_http_error_code(st->outcome),
                         st->outcome == SD_UNAVAILABLE || st->outcome == SD_INTERNAL ? "state store unavailable"
                                                                                     : st->err.msg);
}

/* An optional string field: absent, null or "" -> NULL (*bad = 1 when it is another type). */
static const char *opt_str(const cJSON *j, const char *k, int *bad)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, k);
    if (!v || cJSON_IsNull(v))
        return NULL;
    if (!cJSON_IsString(v)) {
        *bad = 1;
        return NULL;
    }
    return v->valuestring[0] ? v->valuestring : NULL;
}

/* An optional integer field in [lo, hi] (absent or null: 0). 0 when it is valid. */
static int opt_int(const cJSON *j, const char *k, int64_t lo, int64_t hi, int64_t *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, k);
    *out = 0;
    if (!v || cJSON_IsNull(v))
        return 0;
    if (!cJSON_IsNumber(v) || v->valuedouble < (double)lo || v->valuedouble > (double)hi ||
        v->valuedouble != (double)(int64_t)v->valuedouble)
        return -1;
    *out = (int64_t)v->valuedouble;
    return 0;
}

static enum MHD_Result add(struct MHD_Connection *c, sd_ctx *ctx, const cJSON *j, const char *user)
{
    static const char *const counts[] = {"keep_last", "daily", "weekly", "monthly"};
    int bad = 0;
    sd_storage_spec s = {.name = opt_str(j, "name", &bad),
                         .location = opt_str(j, "location", &bad),
                         .endpoint = opt_str(j, "endpoint", &bad),
                         .region = opt_str(j, "region", &bad),
                         .credentials_file = opt_str(j, "credentials_file", &bad),
                         .lock_mode = opt_str(j, "object_lock_mode", &bad)};
    const char *addressing = opt_str(j, "addressing", &bad);
    if (bad || !s.name || !s.location)
        return sd_site_error(c, 400, "invalid_request",
                             "fields: name and location (strings); endpoint, region, addressing, credentials_file,"
                             " object_lock_mode (strings or null)");
    if (addressing && strcmp(addressing, "auto") && strcmp(addressing, "path") && strcmp(addressing, "virtual"))
        return sd_site_error(c, 400, "invalid_request", "addressing must be auto, path or virtual");
    s.path_style = dp_streq(addressing, "path") ? 1 : dp_streq(addressing, "virtual") ? -1 : 0;
    int64_t *to[] = {&s.retention.keep_last, &s.retention.daily, &s.retention.weekly, &s.retention.monthly};
    for (int i = 0; i < 4; i++) {
        if (opt_int(j, counts[i], 0, 100000, to[i])) {
            char msg[96];
            snprintf(msg, sizeof msg, "%s must be an integer from 0 to 100000", counts[i]);
            return sd_site_error(c, 400, "invalid_request", msg);
        }
    }
    if (opt_int(j, "object_lock_days", 1, 36500, &s.lock_days))
        return sd_site_error(c, 400, "invalid_request", "object_lock_days must be an integer from 1 to 36500");
    sd_status st = SD_STATUS_INIT;
    if (sd_storage_add(ctx, &s, &st))
        return failed(c, &st);
    dp_info("site: storage '%s' added by user '%s'", s.name, user);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", s.name);
    return sd_site_json(c, 200, o, NULL);
}

enum MHD_Result sd_site_storage(struct MHD_Connection *c, sd_ctx *ctx, const char *p, int get, const cJSON *j,
                                const char *user)
{
    sd_status st = SD_STATUS_INIT;
    if (!*p && get) {
        sd_storage_list l;
        if (sd_storages(ctx, &l, &st))
            return failed(c, &st);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "first", ctx->cfg->storage);
        cJSON_AddItemToObject(o, "storages", sd_view_storages(&l));
        sd_list_free(&l);
        return sd_site_json(c, 200, o, NULL);
    }
    if (!*p)
        return add(c, ctx, j, user);
    if (!strncmp(p, "/copies/", 8) && get) {
        p += 8;
        int64_t app = sd_id_scan(&p, 0);
        sd_app_list a;
        sd_copy_list l;
        if (app <= 0 || *p)
            return sd_site_error(c, 404, "not_found", "no such endpoint");
        if (sd_app_get(ctx, app, &a, &st))
            return failed(c, &st);
        int n = a.n;
        sd_list_free(&a);
        if (!n)
            return sd_site_error(c, 404, "not_found", "no such app");
        if (sd_copies_of_app(ctx, app, 200, &l, &st))
            return failed(c, &st);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddItemToObject(o, "copies", sd_view_copies(&l));
        sd_list_free(&l);
        return sd_site_json(c, 200, o, NULL);
    }
    char name[65];
    size_t n = *p == '/' ? strcspn(p + 1, "/") : 0;
    if (get || !n || n > 64 || strcmp(p + 1 + n, "/delete"))
        return sd_site_error(c, 404, "not_found", "no such endpoint");
    memcpy(name, p + 1, n);
    name[n] = 0;
    if (sd_storage_remove(ctx, name, &st))
        return failed(c, &st);
    dp_info("site: storage '%s' removed by user '%s'", name, user);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", name);
    return sd_site_json(c, 200, o, NULL);
}
