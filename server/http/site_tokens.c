/* site_tokens.c - the dashboard's API token page behind /ui/tokens (see site.h): list, create (the token is
 * answered once), revoke. The same services as `dumperd token`. */
#include <cjson/cJSON.h>
#include <string.h>

#include "core/log.h"
#include "core/util.h"
#include "domain/names.h"
#include "http/respond.h"
#include "http/site.h"
#include "http/views.h"
#include "service/tokens.h"

static enum MHD_Result failed(struct MHD_Connection *c, const sd_status *st)
{
    return sd_site_error(c, sd_http_status(st->outcome), sd_http_error_code(st->outcome),
                         st->outcome == SD_UNAVAILABLE || st->outcome == SD_INTERNAL ? "state store unavailable"
                                                                                     : st->err.msg);
}

static enum MHD_Result create(struct MHD_Connection *c, sd_ctx *ctx, const cJSON *j, const char *user)
{
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(j, "name");
    const cJSON *scope = cJSON_GetObjectItemCaseSensitive(j, "scope");
    const cJSON *app = cJSON_GetObjectItemCaseSensitive(j, "app");
    const cJSON *days = cJSON_GetObjectItemCaseSensitive(j, "expires_days");
    if (!cJSON_IsString(name) || !cJSON_IsString(scope) || (app && !cJSON_IsNull(app) && !cJSON_IsString(app)) ||
        (days && !cJSON_IsNull(days) &&
         (!cJSON_IsNumber(days) || days->valuedouble != (double)(int64_t)days->valuedouble)))
        return sd_site_error(c, 400, "invalid_request",
                             "fields: name and scope (strings), app (a name or null), expires_days (an integer)");
    sd_token_spec spec = {name->valuestring, scope->valuestring,
                          cJSON_IsString(app) && app->valuestring[0] ? app->valuestring : NULL,
                          cJSON_IsNumber(days) ? (int64_t)days->valuedouble : 0};
    char token[68];
    int64_t id = 0;
    sd_status st = SD_STATUS_INIT;
    if (sd_token_create(ctx, &spec, token, &id, &st))
        return failed(c, &st);
    dp_info("site: token '%s' (%s) created by user '%s'", spec.name, spec.scope, user);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "id", (double)id);
    cJSON_AddStringToObject(o, "name", spec.name);
    cJSON_AddStringToObject(o, "token", token);
    dp_memzero(token, sizeof token);
    return sd_site_json(c, 200, o, NULL);
}

enum MHD_Result sd_site_tokens(struct MHD_Connection *c, sd_ctx *ctx, const char *p, int get, const cJSON *j,
                               const char *user)
{
    sd_status st = SD_STATUS_INIT;
    if (!strcmp(p, "tokens") && get) {
        sd_token_list l;
        if (sd_tokens(ctx, &l, &st))
            return failed(c, &st);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddItemToObject(o, "tokens", sd_view_tokens(&l, sd_ctx_now(ctx)));
        sd_list_free(&l);
        return sd_site_json(c, 200, o, NULL);
    }
    if (!strcmp(p, "tokens") && !get)
        return create(c, ctx, j, user);
    if (!strncmp(p, "tokens/", 7) && !get) {
        p += 7;
        int64_t id = sd_id_scan(&p, 0);
        if (id > 0 && !strcmp(p, "/revoke")) {
            if (sd_token_revoke(ctx, NULL, id, &st))
                return failed(c, &st);
            dp_info("site: token %lld revoked by user '%s'", (long long)id, user);
            cJSON *o = cJSON_CreateObject();
            cJSON_AddBoolToObject(o, "ok", 1);
            return sd_site_json(c, 200, o, NULL);
        }
    }
    return sd_site_error(c, 404, "not_found", "no such endpoint");
}
