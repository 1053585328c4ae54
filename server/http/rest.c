/* rest.c - the REST API's routes and endpoints (see rest.h). */
#include "http/rest.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/util.h"
#include "domain/names.h"
#include "http/api.h"
#include "http/api_decode.h"
#include "http/download.h"
#include "http/path.h"
#include "http/respond.h"
#include "http/views.h"
#include "http/views_drill.h"
#include "service/drill_results.h"
#include "service/admin.h"
#include "service/rest.h"
#include "service/tokens.h"

/* The most job ids one manual backup answers (one per database of the environment). */
#define MAX_TRIGGERED 256

typedef struct call {
    struct MHD_Connection *c;
    sd_ctx *ctx;
    const sd_principal *who;
    int64_t app, id;   /* the app of {app}; the id of {backup} or {job} */
    const cJSON *body; /* a JSON object, or NULL */
} call;

typedef enum MHD_Result (*handler)(call *k);

static enum MHD_Result unavailable(struct MHD_Connection *c)
{
    return sd_reply_error(c, 503, "unavailable", "state store unavailable");
}

static enum MHD_Result bad(struct MHD_Connection *c, const char *msg)
{
    return sd_reply_error(c, 400, "invalid_request", "%s", msg);
}

static const char *jstr(const cJSON *j, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, k);
    return cJSON_IsString(v) && v->valuestring[0] ? v->valuestring : NULL;
}

static const char *query(struct MHD_Connection *c, const char *k)
{
    const char *v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, k);
    return v && *v ? v : NULL;
}

/* ---- endpoints ---- */

static enum MHD_Result apps_list(call *k)
{
    sd_app_list l;
    sd_status st = SD_STATUS_INIT;
    if (sd_apps(k->ctx, &l, &st))
        return unavailable(k->c);
    /* An app-scoped credential sees its own app only. */
    int keep = 0;
    for (int i = 0; i < l.n; i++)
        if (!k->who->app || l.v[i].id == k->who->app)
            l.v[keep++] = l.v[i];
    l.n = keep;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "apps", sd_view_app_summaries(&l));
    sd_list_free(&l);
    return sd_reply_json(k->c, 200, o);
}

static enum MHD_Result app_reply(call *k, unsigned status)
{
    sd_app_list a;
    sd_status st = SD_STATUS_INIT;
    if (sd_app_get(k->ctx, k->app, &a, &st) || !a.n) {
        sd_list_free(&a);
        return unavailable(k->c);
    }
    cJSON *o = sd_view_app(&a.v[0]);
    sd_list_free(&a);
    return sd_reply_json(k->c, status, o);
}

static enum MHD_Result app_get(call *k) { return app_reply(k, 200); }

static enum MHD_Result app_create(call *k)
{
    const char *name = jstr(k->body, "name");
    if (!name || !sd_label_valid(name, 64))
        return bad(k->c, "field 'name': an app name is 1-64 characters of [A-Za-z0-9_.-]");
    char key[68];
    sd_status st = SD_STATUS_INIT;
    if (sd_app_create(k->ctx, name, key, &k->app, &st))
        return sd_reply_status(k->c, &st);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "id", (double)k->app);
    cJSON_AddStringToObject(o, "name", name);
    cJSON_AddStringToObject(o, "key", key);
    dp_memzero(key, sizeof key);
    return sd_reply_json(k->c, 201, o);
}

static enum MHD_Result databases(call *k)
{
    sd_database_list l;
    sd_status st = SD_STATUS_INIT;
    sd_drill_db_list ev;
    if (sd_databases(k->ctx, k->app, &l, &st))
        return sd_reply_status(k->c, &st);
    if (sd_drill_databases(k->ctx, k->app, &ev, &st)) {
        sd_list_free(&l);
        return sd_reply_status(k->c, &st);
    }
    cJSON *o = cJSON_CreateObject(), *arr = sd_view_databases(&l);
    cJSON_AddItemToObject(o, "databases", arr);
    sd_view_databases_add_verification(arr, &ev);
    sd_list_free(&l);
    sd_list_free(&ev);
    return sd_reply_json(k->c, 200, o);
}

/* ?limit=N&before=b_N&status=S&environment=E&database=KEY */
static enum MHD_Result backups_list(call *k)
{
    sd_backup_filter f = {.limit = 50};
    const char *v;
    if ((v = query(k->c, "limit"))) {
        char *end;
        errno = 0;
        long n = strtol(v, &end, 10);
        if (errno || *end || n < 1 || n > SD_PAGE_MAX)
            return bad(k->c, "parameter 'limit' is an integer from 1 to 500");
        f.limit = (int)n;
    }
    if ((v = query(k->c, "before")) && sd_id_parse(v, 'b', &f.before))
        return bad(k->c, "parameter 'before' is a backup id (b_N, the 'next' of the previous page)");
    static const char *statuses[] = {"running", "good", "failed", "deleted"};
    if ((f.status = query(k->c, "status"))) {
        size_t i = 0;
        while (i < 4 && strcmp(f.status, statuses[i]))
            i++;
        if (i == 4)
            return bad(k->c, "parameter 'status' is running, good, failed or deleted");
    }
    if (((f.env = query(k->c, "environment")) && !sd_label_valid(f.env, 64)) ||
        ((f.db_key = query(k->c, "database")) && !sd_label_valid(f.db_key, 64)))
        return bad(k->c, "parameters 'environment' and 'database' are 1-64 characters of [A-Za-z0-9_.-]");
    sd_backup_list l;
    int more = 0;
    sd_status st = SD_STATUS_INIT;
    if (sd_backup_page(k->ctx, k->app, &f, &l, &more, &st))
        return sd_reply_status(k->c, &st);
    cJSON *o = cJSON_CreateObject(), *arr = sd_view_backups(&l);
    cJSON_AddItemToObject(o, "backups", arr);
    if (sd_view_backups_drills(k->ctx, k->app, arr, &st)) {
        sd_list_free(&l);
        cJSON_Delete(o);
        return sd_reply_status(k->c, &st);
    }
    if (more && l.n)
        sd_view_id(o, "next", 'b', l.v[l.n - 1].id);
    else
        cJSON_AddNullToObject(o, "next");
    sd_list_free(&l);
    return sd_reply_json(k->c, 200, o);
}

/* {"environment": E, "database": KEY}: 202 with the queued jobs' ids. */
static enum MHD_Result backup_trigger(call *k)
{
    const char *env = jstr(k->body, "environment"), *dbkey = jstr(k->body, "database");
    if (!env)
        env = "production";
    if (!sd_label_valid(env, 64) || (dbkey && !sd_label_valid(dbkey, 64)))
        return bad(k->c, "fields 'environment' and 'database' are 1-64 characters of [A-Za-z0-9_.-]");
    int64_t ids[MAX_TRIGGERED];
    int n = 0;
    sd_status st = SD_STATUS_INIT;
    if (sd_backup_now_jobs(k->ctx, k->app, env, dbkey, ids, MAX_TRIGGERED, &n, &st))
        return sd_reply_status(k->c, &st);
    cJSON *o = cJSON_CreateObject();
    cJSON *jobs = cJSON_AddArrayToObject(o, "jobs");
    for (int i = 0; i < n && i < MAX_TRIGGERED; i++) {
        char b[32];
        sd_id_format(b, 'j', ids[i]);
        cJSON_AddItemToArray(jobs, cJSON_CreateString(b));
    }
    cJSON_AddNumberToObject(o, "queued", n);
    cJSON_AddStringToObject(o, "environment", env);
    return sd_reply_json(k->c, 202, o);
}

static enum MHD_Result backup_get(call *k)
{
    sd_backup_list l;
    sd_status st = SD_STATUS_INIT;
    if (sd_backup_get(k->ctx, k->app, k->id, &l, &st))
        return sd_reply_status(k->c, &st);
    cJSON *o = l.n ? sd_view_backup(&l.v[0]) : NULL;
    sd_list_free(&l);
    /* its newest drill, as in the list */
    sd_drill_list d;
    if (o && sd_drill_of_backup(k->ctx, k->app, k->id, 1, &d, &st)) {
        cJSON_Delete(o);
        return sd_reply_status(k->c, &st);
    }
    if (o) {
        cJSON_AddItemToObject(o, "drill", d.n ? sd_view_drill(&d.v[0]) : cJSON_CreateNull());
        sd_list_free(&d);
    }
    return o ? sd_reply_json(k->c, 200, o) : sd_reply_error(k->c, 404, "not_found", "unknown backup 'b_%lld'",
                                                            (long long)k->id);
}

static enum MHD_Result backup_download(call *k) { return sd_http_download(k->c, k->ctx, k->app, k->id); }

static enum MHD_Result job_get(call *k)
{
    sd_job_state j;
    sd_status st = SD_STATUS_INIT;
    if (sd_job_state_get(k->ctx, k->app, k->id, &j, &st))
        return sd_reply_status(k->c, &st);
    cJSON *o = cJSON_CreateObject();
    sd_view_id(o, "job_id", 'j', j.id);
    sd_view_id(o, "database_id", 'd', j.db_id);
    cJSON_AddStringToObject(o, "database_key", j.db_key);
    cJSON_AddStringToObject(o, "environment", j.env);
    cJSON_AddStringToObject(o, "reason", j.reason);
    cJSON_AddStringToObject(o, "state", j.state);
    cJSON_AddStringToObject(o, "result", sd_job_result(&j));
    cJSON_AddNumberToObject(o, "attempt", (double)j.attempt);
    if (j.backup_id) {
        sd_view_id(o, "backup_id", 'b', j.backup_id);
        cJSON_AddStringToObject(o, "backup_status", j.backup_status);
    } else {
        cJSON_AddNullToObject(o, "backup_id");
        cJSON_AddNullToObject(o, "backup_status");
    }
    if (j.error_code[0]) {
        cJSON_AddStringToObject(o, "error_code", j.error_code);
        cJSON_AddStringToObject(o, "error_message", j.error_message);
    } else {
        cJSON_AddNullToObject(o, "error_code");
        cJSON_AddNullToObject(o, "error_message");
    }
    sd_view_time(o, "created_at", j.created_at);
    sd_view_time(o, "updated_at", j.updated_at);
    return sd_reply_json(k->c, 200, o);
}

static enum MHD_Result schedules_reply(call *k)
{
    sd_schedule_views v;
    sd_status st = SD_STATUS_INIT;
    if (sd_schedules(k->ctx, k->app, &v, &st))
        return sd_reply_status(k->c, &st);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "schedules", sd_view_schedules(&v));
    sd_schedule_views_free(&v);
    return sd_reply_json(k->c, 200, o);
}

/* {"environment": E, "database": KEY, "cron": EXPR, "tz": ZONE}: the app's schedules after the change. */
static enum MHD_Result schedule_set(call *k)
{
    const char *env = jstr(k->body, "environment"), *dbkey = jstr(k->body, "database");
    const char *cron = jstr(k->body, "cron"), *tz = jstr(k->body, "tz");
    if (!env)
        env = "production";
    if (!sd_label_valid(env, 64) || (dbkey && !sd_label_valid(dbkey, 64)))
        return bad(k->c, "fields 'environment' and 'database' are 1-64 characters of [A-Za-z0-9_.-]");
    if (!cron || strlen(cron) > 200 || (tz && strlen(tz) > 64))
        return bad(k->c, "field 'cron' is required (at most 200 characters; 'tz' at most 64)");
    sd_status st = SD_STATUS_INIT;
    const char *warning = NULL; /* February 29 only: accepted; the dashboard and the CLI show the warning */
    if (sd_schedule_set(k->ctx, k->app, env, dbkey, cron, tz ? tz : "UTC", &warning, &st))
        return sd_reply_status(k->c, &st);
    return schedules_reply(k);
}

/* {"keep_last": N, "daily": N, "weekly": N, "monthly": N}: the app with its new policy. */
static enum MHD_Result retention_set(call *k)
{
    sd_retention r;
    if (sd_decode_retention(k->body, &r))
        return bad(k->c, "retention counts are integers from 0 to 100000");
    sd_status st = SD_STATUS_INIT;
    if (sd_retention_set(k->ctx, k->app, &r, &st))
        return sd_reply_status(k->c, &st);
    return app_reply(k, 200);
}

/* ---- routing ---- */

enum { R, W, A, K = 1, G = 1 };
#define NEED(scope, key_ok, global) {(sd_scope)(SD_SCOPE_READ + (scope)), key_ok, global}

static const struct {
    sd_rest_route_info info;
    handler fn;
} routes[] = {
    {{"GET", "/api/v1/apps", NEED(R, K, G)}, apps_list},
    {{"POST", "/api/v1/apps", NEED(A, 0, G)}, app_create},
    {{"GET", "/api/v1/apps/{app}", NEED(R, 0, 0)}, app_get},
    {{"GET", "/api/v1/apps/{app}/databases", NEED(R, 0, 0)}, databases},
    {{"GET", "/api/v1/apps/{app}/backups", NEED(R, 0, 0)}, backups_list},
    {{"POST", "/api/v1/apps/{app}/backups", NEED(W, K, 0)}, backup_trigger},
    {{"GET", "/api/v1/apps/{app}/backups/{backup}", NEED(R, 0, 0)}, backup_get},
    {{"GET", "/api/v1/apps/{app}/backups/{backup}/download", NEED(R, 0, 0)}, backup_download},
    {{"GET", "/api/v1/apps/{app}/jobs/{job}", NEED(R, K, 0)}, job_get},
    {{"GET", "/api/v1/apps/{app}/schedules", NEED(R, 0, 0)}, schedules_reply},
    {{"PUT", "/api/v1/apps/{app}/schedules", NEED(W, 0, 0)}, schedule_set},
    {{"PUT", "/api/v1/apps/{app}/retention", NEED(W, 0, 0)}, retention_set},
};
#define NROUTES (sizeof routes / sizeof *routes)

const sd_rest_route_info *sd_rest_routes(int *n)
{
    static sd_rest_route_info infos[NROUTES];
    for (size_t i = 0; i < NROUTES; i++)
        infos[i] = routes[i].info;
    *n = (int)NROUTES;
    return infos;
}

int sd_rest_owns(const char *url) { return !strcmp(url, "/api/v1/apps") || !strncmp(url, "/api/v1/apps/", 13); }

/* "Authorization: Bearer X". */
static const char *bearer(struct MHD_Connection *c)
{
    const char *a = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    if (!a || strncasecmp(a, "Bearer ", 7))
        return NULL;
    a += 7;
    while (*a == ' ')
        a++;
    return *a ? a : NULL;
}

static enum MHD_Result unauthorized(struct MHD_Connection *c, const char *msg)
{
    struct MHD_Response *r;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "error", "unauthorized");
    cJSON_AddStringToObject(o, "message", msg);
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!s || !(r = MHD_create_response_from_buffer(strlen(s), s, MHD_RESPMEM_MUST_FREE))) {
        free(s);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", "application/json");
    MHD_add_response_header(r, "X-Dumper-Api", "1");
    MHD_add_response_header(r, "WWW-Authenticate", "Bearer realm=\"dumperd\"");
    enum MHD_Result ret = MHD_queue_response(c, 401, r);
    MHD_destroy_response(r);
    return ret;
}

enum MHD_Result sd_rest_request(sd_ctx *ctx, struct MHD_Connection *c, const char *url, const char *method,
                                const char *body, size_t len)
{
    const char *m = !strcmp(method, "HEAD") ? "GET" : method;
    sd_path_vars mt = {{0}, 0};
    int route = -1, path_known = 0;
    char allow[40] = "";
    for (size_t i = 0; i < NROUTES && route < 0; i++) {
        sd_path_vars t;
        if (!sd_path_fits(routes[i].info.path, url, &t))
            continue;
        path_known = 1;
        if (!strcmp(routes[i].info.method, m)) {
            route = (int)i;
            mt = t;
        } else {
            size_t n = strlen(allow);
            snprintf(allow + n, sizeof allow - n, "%s%s", n ? ", " : "", routes[i].info.method);
        }
    }
    if (route < 0)
        return path_known ? sd_reply_error(c, 405, "method_not_allowed", "use %s for this endpoint", allow)
                          : sd_reply_error(c, 404, "not_found", "no such endpoint");
    const char *cred = bearer(c);
    if (!cred)
        return unauthorized(c, "an API token is required (Authorization: Bearer TOKEN; dumperd token create)");
    sd_principal who;
    sd_status st = SD_STATUS_INIT;
    if (sd_auth_bearer(ctx, cred, &who, &st))
        return st.outcome == SD_UNAUTHORIZED ? unauthorized(c, st.err.msg) : unavailable(c);
    call k = {.c = c, .ctx = ctx, .who = &who, .id = mt.id};
    if (mt.app[0]) {
        sd_status fst = SD_STATUS_INIT;
        if (sd_app_find(ctx, mt.app, &k.app, &fst) && fst.outcome != SD_NOT_FOUND)
            return unavailable(c);
        if (!k.app)
            return sd_reply_error(c, 404, "not_found", "no app named '%s'", mt.app);
    }
    const sd_route_need *need = &routes[route].info.need;
    switch (sd_access_check(&who, need, k.app)) {
    case SD_ACCESS_NOT_FOUND: return sd_reply_error(c, 404, "not_found", "no app named '%s'", mt.app);
    case SD_ACCESS_FORBIDDEN:
        if (who.scope == SD_SCOPE_APP_KEY)
            return sd_reply_error(c, 403, "forbidden",
                                  "an app key may only list its app, trigger backups and read their jobs; use an API token");
        return sd_reply_error(c, 403, "forbidden", "this token's scope (%s%s) does not allow %s %s (needs %s%s)",
                              sd_scope_name(who.scope), who.app ? ", one app" : "", method, routes[route].info.path,
                              sd_scope_name(need->scope), need->global && who.app ? " on every app" : "");
    case SD_ACCESS_OK: break;
    }
    cJSON *j = NULL;
    if (len) {
        const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
        if (!ct || strncasecmp(ct, "application/json", 16))
            return sd_reply_error(c, 415, "unsupported_media_type", "request bodies are application/json");
        j = cJSON_ParseWithLength(body, len);
        if (!cJSON_IsObject(j)) {
            cJSON_Delete(j);
            return sd_reply_error(c, 400, "invalid_json", "the request body must be a JSON object");
        }
    }
    if (!j && (!strcmp(m, "PUT") || routes[route].fn == app_create))
        return sd_reply_error(c, 400, "invalid_json", "this endpoint needs a JSON object body");
    k.body = j;
    enum MHD_Result ret = routes[route].fn(&k);
    cJSON_Delete(j);
    return ret;
}
