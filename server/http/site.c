/* site.c - the dashboard's files and /ui endpoints (see site.h). */
#include "http/site.h"

#include <cjson/cJSON.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "core/util.h"
#include "domain/cron.h"
#include "domain/names.h"
#include "domain/schedule.h"
#include "domain/shell.h"
#include "http/api_decode.h"
#include "http/download.h"
#include "http/metrics.h"
#include "http/notify.h"
#include "http/respond.h"
#include "http/session.h"
#include "http/site_policy.h"
#include "http/views.h"
#include "http/views_drill.h"
#include "service/drill_results.h"
#include "service/admin.h"
#include "service/job_policy.h"

#define MAX_STATIC (1 << 20)

/* ---- static files ---- */

static const struct {
    const char *url, *file, *type;
    int public;
} statics[] = {
    {"/login.html", "login.html", "text/html; charset=utf-8", 1},
    {"/login.js", "login.js", "text/javascript; charset=utf-8", 1},
    {"/style.css", "style.css", "text/css; charset=utf-8", 1},
    {"/favicon.svg", "favicon.svg", "image/svg+xml", 1},
    {"/", "index.html", "text/html; charset=utf-8", 0},
    {"/index.html", "index.html", "text/html; charset=utf-8", 0},
    {"/app.js", "app.js", "text/javascript; charset=utf-8", 0},
    {"/chart.js", "chart.js", "text/javascript; charset=utf-8", 0},
};

static enum MHD_Result send_static(struct MHD_Connection *c, const sd_ctx *ctx, const char *file, const char *type)
{
    char *path = dp_asprintf("%s/%s", ctx->cfg->web_dir ? ctx->cfg->web_dir : ".", file);
    int fd = path ? open(path, O_RDONLY | O_CLOEXEC) : -1;
    struct stat sb;
    char *buf = NULL;
    if (fd < 0 || fstat(fd, &sb) < 0 || sb.st_size > MAX_STATIC || !(buf = malloc((size_t)sb.st_size + 1)) ||
        dp_read_full(fd, buf, (size_t)sb.st_size) != (ssize_t)sb.st_size) {
        dp_warn("site: unable to read '%s' (--web DIR)", path ? path : file);
        if (fd >= 0)
            close(fd);
        free(buf);
        free(path);
        return sd_site_error(c, 500, "internal", "dashboard file missing");
    }
    close(fd);
    free(path);
    return sd_site_reply(c, 200, type, buf, (size_t)sb.st_size, NULL);
}

/* ---- dashboard data ---- */

static enum MHD_Result unavailable(struct MHD_Connection *c)
{
    return sd_site_error(c, 503, "unavailable", "state store unavailable");
}

static enum MHD_Result apps_list(struct MHD_Connection *c, sd_ctx *ctx)
{
    sd_app_list l;
    sd_status st = SD_STATUS_INIT;
    if (sd_apps(ctx, &l, &st))
        return unavailable(c);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "apps", sd_view_app_summaries(&l));
    sd_list_free(&l);
    return sd_site_json(c, 200, o, NULL);
}

/* The app (n = 0: none), or -1 when the store failed. */
static int app_row(sd_ctx *ctx, int64_t app, sd_app_list *l)
{
    sd_status st = SD_STATUS_INIT;
    return sd_app_get(ctx, app, l, &st);
}

/* Each good backup's restore commands, built and shell-quoted here (domain/shell.h), so the page shows them
 * as they are: from the storage (a local directory on this host) and from the downloaded file. */
static void add_restore_commands(cJSON *arr, const sd_backup_list *bl, const sd_database_list *dl, const char *storage,
                                 int s3)
{
    char *loc = s3 ? NULL : realpath(storage, NULL);
    if (!loc)
        loc = dp_strdup(storage);
    size_t n = loc ? strlen(loc) : 0;
    while (n > 1 && loc[n - 1] == '/')
        loc[--n] = 0;
    for (int i = 0; i < bl->n && i < cJSON_GetArraySize(arr); i++) {
        const sd_backup_row *b = &bl->v[i];
        if (!b->file_name)
            continue;
        const sd_database_row *d = NULL;
        for (int k = 0; k < dl->n && !d; k++)
            if (dl->v[k].id == b->db_id)
                d = &dl->v[k];
        sd_restore_target t = {0};
        if (d)
            t = (sd_restore_target){d->type, d->host, d->name, d->user, d->has_port ? d->port : 0};
        cJSON *o = cJSON_GetArrayItem(arr, i);
        char *cmd = loc ? sd_restore_command(loc, b->file_name, d ? &t : NULL, NULL) : NULL;
        char *dl_cmd = sd_restore_command(NULL, b->file_name, d ? &t : NULL, b->sha256);
        if (b->encryption) { /* the identity file of one of its recipients (dumperd holds none) */
            char *c1 = cmd ? dp_asprintf("%s --identity KEY_FILE", cmd) : NULL;
            char *c2 = dl_cmd ? dp_asprintf("%s --identity KEY_FILE", dl_cmd) : NULL;
            free(cmd);
            free(dl_cmd);
            cmd = c1;
            dl_cmd = c2;
        }
        if (cmd)
            cJSON_AddStringToObject(o, "restore_command", cmd);
        if (dl_cmd)
            cJSON_AddStringToObject(o, "restore_download_command", dl_cmd);
        free(cmd);
        free(dl_cmd);
    }
    free(loc);
}

static enum MHD_Result app_detail(struct MHD_Connection *c, sd_ctx *ctx, int64_t app)
{
    sd_app_list a;
    if (app_row(ctx, app, &a))
        return unavailable(c);
    if (!a.n) {
        sd_list_free(&a);
        return sd_site_error(c, 404, "not_found", "no such app");
    }
    sd_status st = SD_STATUS_INIT;
    sd_agent_list agents = {0};
    sd_database_list dbs = {0};
    sd_schedule_views sched = {0};
    sd_backup_list backups = {0};
    sd_job_policy pol;
    sd_drill_list drills = {0};
    sd_drill_db_list ev = {0};
    int failed = sd_agents(ctx, app, &agents, &st) || sd_databases(ctx, app, &dbs, &st) ||
                 sd_schedules(ctx, app, &sched, &st) || sd_backups(ctx, app, 0, 500, &backups, &st) ||
                 sd_drill_latest_of_app(ctx, app, &drills, &st) || sd_drill_databases(ctx, app, &ev, &st);
    cJSON *o = NULL;
    if (!failed) {
        o = cJSON_CreateObject();
        char b[24];
        cJSON *ao = sd_view_app(&a.v[0]);
        cJSON_AddItemToObject(o, "app", ao);
        if (ao && !sd_job_policy_get(ctx, app, &pol, &st))
            sd_view_job_policy(cJSON_AddObjectToObject(ao, "policy"), &pol);
        cJSON_AddItemToObject(o, "agents", sd_view_agents(&agents));
        cJSON *dbarr = sd_view_databases(&dbs);
        cJSON_AddItemToObject(o, "databases", dbarr);
        sd_view_databases_add_verification(dbarr, &ev);
        cJSON_AddItemToObject(o, "schedules", sd_view_schedules(&sched));
        cJSON *barr = sd_view_backups(&backups);
        cJSON_AddItemToObject(o, "backups", barr);
        sd_view_backups_add_drills(barr, &drills);
        add_restore_commands(cJSON_GetObjectItemCaseSensitive(o, "backups"), &backups, &dbs, ctx->cfg->storage,
                             sd_ctx_presigned(ctx));
        dp_stamp_rfc3339(sd_ctx_now(ctx), b);
        cJSON_AddStringToObject(o, "server_time", b);
        int s3 = sd_ctx_presigned(ctx);
        cJSON_AddStringToObject(o, "storage", s3 ? "s3" : "local");
        /* Where `dumper restore` finds the files (on the dumperd host; S3 without credentials). */
        char *abs = s3 ? NULL : realpath(ctx->cfg->storage, NULL);
        cJSON_AddStringToObject(o, "storage_location", abs ? abs : ctx->cfg->storage);
        free(abs);
    }
    sd_list_free(&a);
    sd_list_free(&agents);
    sd_list_free(&dbs);
    sd_schedule_views_free(&sched);
    sd_list_free(&backups);
    sd_list_free(&drills);
    sd_list_free(&ev);
    return o ? sd_site_json(c, 200, o, NULL) : unavailable(c);
}

static enum MHD_Result app_create(struct MHD_Connection *c, sd_ctx *ctx, const cJSON *j)
{
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(j, "name");
    if (!cJSON_IsString(n) || !sd_app_name_valid(n->valuestring))
        return sd_site_error(c, 400, "invalid_request", SD_APP_NAME_RULE);
    char key[68];
    int64_t id = 0;
    sd_status st = SD_STATUS_INIT;
    if (sd_app_create(ctx, n->valuestring, key, &id, &st))
        return st.outcome == SD_CONFLICT ? sd_site_error(c, 409, "conflict", "an app with this name exists")
                                         : unavailable(c);
    dp_info("site: app '%s' created", n->valuestring);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "id", (double)id);
    cJSON_AddStringToObject(o, "name", n->valuestring);
    cJSON_AddStringToObject(o, "key", key);
    dp_memzero(key, sizeof key);
    return sd_site_json(c, 200, o, NULL);
}

static const char *jstr(const cJSON *j, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, k);
    return cJSON_IsString(v) && v->valuestring[0] ? v->valuestring : NULL;
}

static enum MHD_Result rotate_key(struct MHD_Connection *c, sd_ctx *ctx, int64_t app, const char *user)
{
    char key[68];
    sd_status st = SD_STATUS_INIT;
    if (sd_app_rotate_key(ctx, app, key, &st))
        return st.outcome == SD_NOT_FOUND ? sd_site_error(c, 404, "not_found", "no such app") : unavailable(c);
    sd_app_list a;
    cJSON *o = NULL; /* the key is answered even if this read fails */
    if (!app_row(ctx, app, &a) && a.n)
        o = sd_view_app(&a.v[0]);
    else if ((o = cJSON_CreateObject()))
        cJSON_AddNumberToObject(o, "id", (double)app);
    cJSON_AddStringToObject(o, "key", key);
    dp_memzero(key, sizeof key);
    dp_info("site: app '%s' got a new key (user '%s')", a.n ? a.v[0].name : "?", user);
    sd_list_free(&a);
    return sd_site_json(c, 200, o, NULL);
}

static enum MHD_Result app_post(struct MHD_Connection *c, sd_ctx *ctx, int64_t app, const char *what, const cJSON *j,
                                const char *user)
{
    sd_app_list a;
    int none = app_row(ctx, app, &a) || !a.n;
    sd_list_free(&a);
    if (none)
        return sd_site_error(c, 404, "not_found", "no such app");
    if (!strcmp(what, "key"))
        return rotate_key(c, ctx, app, user);
    if (!strcmp(what, "policy"))
        return sd_site_policy_post(c, ctx, app, j, user);
    const char *env = jstr(j, "environment"), *dbkey = jstr(j, "database");
    if (!env)
        env = "production";
    if (!sd_scope_valid(env, dbkey))
        return sd_site_error(c, 400, "invalid_request", SD_SCOPE_RULE);
    sd_status st = SD_STATUS_INIT;
    if (!strcmp(what, "schedule")) {
        const char *cron = jstr(j, "cron"), *tz = jstr(j, "tz");
        if (!cron || strlen(cron) > 200 || (tz && strlen(tz) > 64))
            return sd_site_error(c, 400, "invalid_request", "field 'cron' is required");
        const char *warning = NULL;
        if (!sd_schedule_set(ctx, app, env, dbkey, cron, tz ? tz : "UTC", &warning, &st) && warning) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddBoolToObject(o, "ok", 1);
            cJSON_AddStringToObject(o, "warning", warning);
            return sd_site_json(c, 200, o, NULL);
        }
    } else if (!strcmp(what, "retention")) {
        sd_retention r;
        if (sd_decode_retention(j, &r))
            return sd_site_error(c, 400, "invalid_request", "retention counts are integers from 0 to 100000");
        sd_retention_set(ctx, app, &r, &st);
    } else if (!strcmp(what, "backup")) {
        int n = 0;
        if (!sd_backup_now(ctx, app, env, dbkey, &n, &st)) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddNumberToObject(o, "queued", n);
            return sd_site_json(c, 200, o, NULL);
        }
    } else {
        return sd_site_error(c, 404, "not_found", "no such endpoint");
    }
    if (st.outcome == SD_INVALID)
        return sd_site_error(c, 400, "invalid_request", st.err.msg);
    if (st.outcome == SD_NOT_FOUND)
        return sd_site_error(c, 404, "not_found", st.err.msg);
    if (st.outcome != SD_OK)
        return unavailable(c);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddBoolToObject(o, "ok", 1);
    return sd_site_json(c, 200, o, NULL);
}

/* GET /ui/cron?expr=...&tz=...: the next run times of a schedule being edited. */
static enum MHD_Result cron_preview(struct MHD_Connection *c, const sd_ctx *ctx)
{
    const char *expr = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "expr");
    const char *tz = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "tz");
    if (!tz || !*tz)
        tz = "UTC";
    sd_cron cr;
    char msg[200];
    if (!expr || strlen(expr) > 200 || sd_cron_parse(expr, &cr, msg, sizeof msg))
        return sd_site_error(c, 400, "invalid_request", expr ? msg : "parameter 'expr' is required");
    if (strlen(tz) > 64 || !sd_tz_valid(tz))
        return sd_site_error(c, 400, "invalid_request", "unknown time zone");
    int rarity = sd_cron_rarity(&cr);
    if (rarity == SD_CRON_NEVER)
        return sd_site_error(c, 400, "invalid_request", "this cron expression " SD_CRON_NEVER_MSG);
    cJSON *o = cJSON_CreateObject();
    if (rarity == SD_CRON_LEAP_ONLY)
        cJSON_AddStringToObject(o, "warning", "this schedule " SD_CRON_LEAP_MSG);
    cJSON *next = cJSON_AddArrayToObject(o, "next");
    int64_t slots[5];
    int n = sd_schedule_next(&cr, tz, sd_ctx_now(ctx) / 1000, 5, slots);
    for (int k = 0; k < n; k++) {
        char b[24];
        dp_stamp_rfc3339(slots[k] * 1000, b);
        cJSON_AddItemToArray(next, cJSON_CreateString(b));
    }
    return sd_site_json(c, 200, o, NULL);
}

/* ---- routing ---- */

/* /ui/apps/<id>/...: the app's page, its actions, its backups' downloads. */
static enum MHD_Result app_routes(struct MHD_Connection *c, sd_ctx *ctx, const char *p, int get, const cJSON *j,
                                  const sd_session *s)
{
    int64_t app = sd_id_scan(&p, 0);
    if (app > 0 && !*p && get)
        return app_detail(c, ctx, app);
    if (app > 0 && *p == '/' && !get)
        return app_post(c, ctx, app, p + 1, j, s->name);
    if (app > 0 && !strncmp(p, "/backups/", 9) && get) {
        p += 9;
        int64_t b = sd_id_scan(&p, 'b');
        if (b > 0 && !strcmp(p, "/download"))
            return sd_http_download(c, ctx, app, b);
        if (b > 0 && !strcmp(p, "/manifest"))
            return sd_http_manifest(c, ctx, app, b);
    }
    return sd_site_error(c, 404, "not_found", "no such endpoint");
}

static enum MHD_Result ui(struct MHD_Connection *c, sd_ctx *ctx, const char *p, int get, const cJSON *j)
{
    if (!strcmp(p, "login"))
        return !get ? sd_http_login(c, ctx, j) : sd_site_error(c, 405, "method_not_allowed", "use POST");
    sd_session s;
    if (!sd_http_session(c, ctx, &s))
        return sd_site_error(c, 401, "unauthorized", "log in first");
    if (!get && !sd_http_csrf_ok(c, &s))
        return sd_site_error(c, 403, "forbidden", "missing or wrong CSRF token");
    if (!strcmp(p, "logout") && !get)
        return sd_http_logout(c, ctx, &s);
    if (!strcmp(p, "me") && get) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "user", s.name);
        cJSON_AddStringToObject(o, "csrf", s.csrf);
        return sd_site_json(c, 200, o, NULL);
    }
    if (!strcmp(p, "cron") && get)
        return cron_preview(c, ctx);
    if (!strcmp(p, "apps"))
        return get ? apps_list(c, ctx) : app_create(c, ctx, j);
    if (!strncmp(p, "apps/", 5))
        return app_routes(c, ctx, p + 5, get, j, &s);
    if (!strncmp(p, "notify", 6) && (!p[6] || p[6] == '/'))
        return (enum MHD_Result)sd_site_notify(c, ctx, p + 6, get, j);
    if (!strncmp(p, "tokens", 6))
        return sd_site_tokens(c, ctx, p, get, j, s.name);
    if (!strncmp(p, "storage", 7) && (!p[7] || p[7] == '/'))
        return sd_site_storage(c, ctx, p + 7, get, j, s.name);
    return sd_site_error(c, 404, "not_found", "no such endpoint");
}

enum MHD_Result sd_site_request(sd_ctx *ctx, struct MHD_Connection *c, const char *url, const char *method,
                                const char *body, size_t len)
{
    int get = !strcmp(method, "GET") || !strcmp(method, "HEAD"), post = !strcmp(method, "POST");
    if (!strcmp(url, "/metrics"))
        return get ? sd_metrics_reply(c, ctx) : sd_site_error(c, 405, "method_not_allowed", "use GET");
    for (size_t i = 0; i < sizeof statics / sizeof *statics; i++) {
        if (strcmp(url, statics[i].url))
            continue;
        if (!get)
            return sd_site_error(c, 405, "method_not_allowed", "use GET");
        sd_session s;
        if (!statics[i].public && !sd_http_session(c, ctx, &s))
            return sd_site_redirect(c, "/login.html");
        return send_static(c, ctx, statics[i].file, statics[i].type);
    }
    if (strncmp(url, "/ui/", 4))
        return sd_site_error(c, 404, "not_found", "no such page");
    cJSON *j = NULL;
    if (post) {
        /* A JSON body (and its content type) on every POST: a cross-site form cannot send one. */
        const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
        if (!ct || strncasecmp(ct, "application/json", 16))
            return sd_site_error(c, 415, "unsupported_media_type", "POST bodies are application/json");
        const char *end = NULL;
        j = len ? cJSON_ParseWithLengthOpts(body, len + 1, &end, 1) : NULL;
        if (!cJSON_IsObject(j)) {
            cJSON_Delete(j);
            return sd_site_error(c, 400, "invalid_json", "the request body must be a JSON object");
        }
    } else if (!get) {
        return sd_site_error(c, 405, "method_not_allowed", "use GET or POST");
    }
    enum MHD_Result ret = ui(c, ctx, url + 4, get, j);
    cJSON_Delete(j);
    return ret;
}
