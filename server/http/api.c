/* api.c - the agent API's routes and endpoints (see api.h). */
#include "http/api.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/util.h"
#include "domain/names.h"
#include "http/api_decode.h"
#include "http/download.h"
#include "http/metrics.h"
#include "http/respond.h"
#include "http/session.h"
#include "http/views.h"
#include "service/admin.h"
#include "service/auth.h"
#include "service/drills.h"
#include "service/parts.h"
#include "service/scheduler.h"

enum route { R_REGISTER, R_POLL, R_RELEASE, R_PREPARE, R_LIST, R_GET, R_PART, R_COMMIT, R_FAIL, R_DOWNLOAD, R_MANIFEST,
             R_CLOCK, R_PRESIGN, R_DRILL, R_RENEW };

struct sd_api_req {
    enum route route;
    int64_t app, id;   /* the key's app; the backup of /backups/b_<id>/... */
    char key_hash[65]; /* polls: checked by sd_agent_poll */
    int part;
    sd_part_upload *upload;
};

/* "/api/v1/backups/b_12/parts/3" and friends. Sets r->route; returns the HTTP method expected, or NULL. */
static const char *parse_route(sd_api_req *r, const sd_ctx *ctx, const char *url)
{
    static const char pre[] = "/api/v1/";
    static const struct {
        const char *path, *method;
        enum route route;
    } fixed[] = {{"agents/register", "POST", R_REGISTER},
                 {"agents/poll", "POST", R_POLL},
                 {"agents/release", "POST", R_RELEASE},
                 {"backups/prepare", "POST", R_PREPARE},
                 {"backups", "GET", R_LIST}},
      per_backup[] = {{"", "GET", R_GET},
                      {"/commit", "POST", R_COMMIT},
                      {"/fail", "POST", R_FAIL},
                      {"/download", "GET", R_DOWNLOAD},
                      {"/manifest", "GET", R_MANIFEST}};
    if (strncmp(url, pre, sizeof pre - 1))
        return NULL;
    const char *p = url + sizeof pre - 1;
    for (size_t i = 0; i < sizeof fixed / sizeof *fixed; i++)
        if (!strcmp(p, fixed[i].path)) {
            r->route = fixed[i].route;
            return fixed[i].method;
        }
    if (!strcmp(p, "test/clock") && ctx->cfg->test_clock) {
        r->route = R_CLOCK;
        return "POST";
    }
    if (!strncmp(p, "jobs/", 5)) { /* jobs/j_<id>/drill: a drill job's result; /renew: its lease */
        p += 5;
        if ((r->id = sd_id_scan(&p, 'j')) < 0 || (strcmp(p, "/drill") && strcmp(p, "/renew")))
            return NULL;
        r->route = strcmp(p, "/drill") ? R_RENEW : R_DRILL;
        return "POST";
    }
    if (strncmp(p, "backups/", 8))
        return NULL;
    p += 8;
    if ((r->id = sd_id_scan(&p, 'b')) < 0)
        return NULL;
    for (size_t i = 0; i < sizeof per_backup / sizeof *per_backup; i++)
        if (!strcmp(p, per_backup[i].path)) {
            r->route = per_backup[i].route;
            return per_backup[i].method;
        }
    if (strncmp(p, "/parts/", 7))
        return NULL;
    p += 7;
    if ((r->part = sd_part_number_scan(&p, SD_MAX_PARTS)) < 0)
        return NULL;
    if (!strcmp(p, "/presign")) {
        r->route = R_PRESIGN;
        return "POST";
    }
    if (*p)
        return NULL;
    r->route = R_PART;
    return "PUT";
}

/* The app key: "Authorization: Bearer KEY" or "X-Dumper-App-Key: KEY" (both: they must agree). */
static const char *app_key(struct MHD_Connection *c, int *conflict)
{
    const char *a = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    const char *x = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Dumper-App-Key");
    const char *bearer = NULL;
    *conflict = 0;
    if (a && !strncasecmp(a, "Bearer ", 7)) {
        bearer = a + 7;
        while (*bearer == ' ')
            bearer++;
    }
    if (bearer && x && strcmp(bearer, x))
        *conflict = 1;
    return bearer ? bearer : x;
}

static enum MHD_Result part_begin(sd_ctx *ctx, struct MHD_Connection *c, sd_api_req *r)
{
    const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
    char *end;
    if (!cl || !*cl)
        return sd_reply_error(c, 411, "length_required", "part uploads need a Content-Length");
    errno = 0;
    unsigned long long len = strtoull(cl, &end, 10);
    if (errno || *end || *cl == '-')
        return sd_reply_error(c, 400, "invalid_request", "bad Content-Length");
    sd_status st = SD_STATUS_INIT;
    if (sd_part_begin(ctx, r->app, r->id, r->part, len, &r->upload, &st))
        return sd_reply_status(c, &st);
    return MHD_YES;
}

static void log_refused(sd_ctx *ctx, struct MHD_Connection *c, const char *url)
{
    char addr[INET6_ADDRSTRLEN];
    sd_http_client_addr(c, addr);
    sd_auth_log_refused(ctx, addr, url);
}

enum MHD_Result sd_api_begin(sd_ctx *ctx, struct MHD_Connection *c, const char *url, const char *method,
                             sd_api_req **out, size_t *max_body)
{
    sd_api_req *r = calloc(1, sizeof *r);
    enum MHD_Result ret;
    *out = NULL;
    if (!r)
        return MHD_NO;
    const char *want = parse_route(r, ctx, url);
    if (!want) {
        ret = sd_reply_error(c, 404, "not_found", "no such endpoint");
        goto answered;
    }
    if (strcmp(method, want) && !(r->route == R_DOWNLOAD && !strcmp(method, "HEAD"))) {
        ret = sd_reply_error(c, 405, "method_not_allowed", "use %s for this endpoint", want);
        goto answered;
    }
    const char *v = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Dumper-Api");
    if (v && strcmp(v, "1")) {
        ret = sd_reply_error(c, 400, "unsupported_api_version", "this server speaks API version 1");
        goto answered;
    }
    int conflict;
    const char *key = app_key(c, &conflict);
    sd_status st = SD_STATUS_INIT;
    int rc = conflict ? sd_fail(&st, SD_UNAUTHORIZED, "missing or wrong app key")
             : r->route == R_POLL || r->route == R_RELEASE ? sd_auth_poll_key(ctx, key, &r->app, r->key_hash, &st)
                                  : sd_auth_key(ctx, key, &r->app, &st);
    if (rc) {
        if (st.outcome == SD_UNAUTHORIZED)
            log_refused(ctx, c, url);
        ret = st.outcome == SD_UNAUTHORIZED ? sd_reply_status(c, &st)
                                            : sd_reply_error(c, 503, "unavailable", "state store unavailable");
        goto answered;
    }
    if (r->route == R_PART) {
        if ((ret = part_begin(ctx, c, r)) != MHD_YES || !r->upload)
            goto answered;
        *max_body = 0;
    } else {
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
        *max_body = r->route == R_COMMIT ? SD_MAX_COMMIT_JSON : r->route == R_DRILL ? SD_MAX_DRILL_JSON : SD_MAX_JSON;
        if (cl && strtoull(cl, NULL, 10) > *max_body) {
            ret = sd_reply_error(c, 413, "too_large", "request body over %zu bytes", *max_body);
            goto answered;
        }
    }
    *out = r;
    return MHD_YES;
answered:
    sd_api_free(r);
    return ret;
}

void sd_api_body(sd_api_req *r, const char *p, size_t n)
{
    if (r->upload)
        sd_part_write(r->upload, p, n);
}

static enum MHD_Result part_end(struct MHD_Connection *c, sd_api_req *r)
{
    sd_status st = SD_STATUS_INIT;
    uint64_t size = 0;
    char sha[65];
    const char *want = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Dumper-Part-Sha256");
    if (sd_part_finish(r->upload, want, &size, sha, &st))
        return sd_reply_status(c, &st);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "part", r->part);
    cJSON_AddNumberToObject(o, "size", (double)size);
    cJSON_AddStringToObject(o, "sha256", sha);
    return sd_reply_json(c, 200, o);
}

static cJSON *limits(const sd_config *cfg)
{
    cJSON *l = cJSON_CreateObject();
    cJSON_AddNumberToObject(l, "max_filesize", (double)cfg->max_filesize);
    cJSON_AddNumberToObject(l, "max_part_size", (double)cfg->max_part_size);
    cJSON_AddNumberToObject(l, "max_parts", SD_MAX_PARTS);
    cJSON_AddNumberToObject(l, "max_json", SD_MAX_JSON);
    return l;
}

static cJSON *do_register(sd_ctx *ctx, sd_api_req *r, const cJSON *j, sd_status *st)
{
    sd_register_body *b = malloc(sizeof *b);
    int64_t ids[SD_MAX_DATABASES];
    sd_register_res res = {.db_ids = ids};
    cJSON *out = NULL;
    if (!b) {
        sd_fail(st, SD_INTERNAL, "out of memory");
        return NULL;
    }
    sd_metrics_count_register();
    if (!sd_decode_register(j, b, st) && !sd_agent_register(ctx, r->app, &b->req, &res, st)) {
        out = cJSON_CreateObject();
        sd_view_id(out, "agent_id", 'a', res.agent);
        cJSON_AddStringToObject(out, "role", res.primary ? "primary" : "secondary");
        cJSON_AddNumberToObject(out, "interval", res.interval);
        cJSON_AddNumberToObject(out, "lease", (double)res.lease_s);
        cJSON_AddItemToObject(out, "limits", limits(ctx->cfg));
        cJSON *arr = cJSON_AddArrayToObject(out, "databases");
        for (int k = 0; k < b->req.ndbs; k++) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "key", b->dbs[k].key);
            sd_view_id(o, "id", 'd', ids[k]);
            cJSON_AddItemToArray(arr, o);
        }
        sd_view_time(out, "server_time", res.now);
    }
    free(b);
    return out;
}

static cJSON *do_poll(sd_ctx *ctx, sd_api_req *r, const cJSON *j, sd_status *st)
{
    int64_t agent = 0;
    sd_poll_res res;
    if (sd_decode_poll(j, &agent, st))
        return NULL;
    sd_metrics_count_poll();
    if (sd_agent_poll(ctx, r->app, r->key_hash, agent, &res, st))
        return NULL;
    cJSON *out = cJSON_CreateObject();
    cJSON_AddStringToObject(out, "role", res.primary ? "primary" : "secondary");
    cJSON_AddNumberToObject(out, "interval", res.interval);
    cJSON_AddNumberToObject(out, "lease", (double)res.lease_s);
    sd_view_time(out, "server_time", res.now);
    if (res.has_job) {
        cJSON *job = sd_view_job(&res.job, res.job_lease_s);
        sd_view_job_policy(job, &res.policy);
        cJSON_AddItemToObject(out, "job", job);
    } else
        cJSON_AddNullToObject(out, "job");
    return out;
}

/* A gracefully stopping agent: {"agent_id"} -> {"released": true when it held the primary lease}. */
static cJSON *do_release(sd_ctx *ctx, sd_api_req *r, const cJSON *j, sd_status *st)
{
    int64_t agent = 0;
    int released = 0;
    if (sd_decode_poll(j, &agent, st) || sd_agent_release(ctx, r->app, r->key_hash, agent, &released, st))
        return NULL;
    cJSON *out = cJSON_CreateObject();
    cJSON_AddBoolToObject(out, "released", released);
    return out;
}

static cJSON *do_prepare(sd_ctx *ctx, sd_api_req *r, const cJSON *j, sd_status *st)
{
    sd_prepare_req q;
    sd_prepare_res res;
    if (sd_decode_prepare(j, &q, st) || sd_backup_prepare(ctx, r->app, &q, &res, st))
        return NULL;
    cJSON *out = cJSON_CreateObject();
    char url[80];
    sd_view_id(out, "backup_id", 'b', res.backup);
    cJSON_AddStringToObject(out, "file_name", res.file_name);
    cJSON_AddNumberToObject(out, "max_filesize", (double)res.max_filesize);
    cJSON *u = cJSON_AddObjectToObject(out, "upload");
    if (res.presigned) {
        cJSON_AddStringToObject(u, "kind", "s3");
        snprintf(url, sizeof url, "/api/v1/backups/b_%" PRId64 "/parts/{n}/presign", res.backup);
        cJSON_AddStringToObject(u, "presign_url", url);
        cJSON_AddNumberToObject(u, "min_part_size", SD_S3_MIN_PART);
    } else {
        cJSON_AddStringToObject(u, "kind", "local");
        snprintf(url, sizeof url, "/api/v1/backups/b_%" PRId64 "/parts/{n}", res.backup);
        cJSON_AddStringToObject(u, "part_url", url);
    }
    cJSON_AddNumberToObject(u, "max_part_size", (double)res.max_part_size);
    cJSON_AddNumberToObject(u, "max_parts", SD_MAX_PARTS);
    return out;
}

static cJSON *do_commit(sd_ctx *ctx, sd_api_req *r, const cJSON *j, sd_status *st)
{
    sd_commit_body b;
    sd_commit_res res;
    cJSON *out = NULL;
    if (!sd_decode_commit(j, ctx->cfg->max_filesize, &b, st) && !sd_backup_commit(ctx, r->app, r->id, &b.req, &res, st)) {
        out = cJSON_CreateObject();
        sd_view_id(out, "backup_id", 'b', r->id);
        cJSON_AddStringToObject(out, "status", "good");
        cJSON_AddNumberToObject(out, "size", (double)b.req.size);
        cJSON_AddStringToObject(out, "sha256", b.req.sha256);
        cJSON_AddStringToObject(out, "file_name", res.file_name);
    }
    sd_commit_body_free(&b);
    return out;
}

static cJSON *do_fail(sd_ctx *ctx, sd_api_req *r, const cJSON *j, sd_status *st)
{
    const char *code, *message;
    char msg[1001];
    if (sd_decode_fail(j, &code, &message, msg, st) || sd_backup_fail(ctx, r->app, r->id, code, message, st))
        return NULL;
    cJSON *out = cJSON_CreateObject();
    sd_view_id(out, "backup_id", 'b', r->id);
    cJSON_AddStringToObject(out, "status", "failed");
    return out;
}

/* A drill job's result (service/drills.h): {"agent_id", "result"} -> {"job_id", "recorded": true}. */
static cJSON *do_drill(sd_ctx *ctx, sd_api_req *r, const cJSON *j, sd_status *st)
{
    int64_t agent = 0;
    const cJSON *result = NULL;
    if (sd_decode_drill_report(j, &agent, &result, st))
        return NULL;
    char *doc = cJSON_PrintUnformatted(result);
    if (!doc) {
        sd_fail(st, SD_INTERNAL, "out of memory");
        return NULL;
    }
    int rc = sd_drill_job_report(ctx, r->app, r->id, agent, doc, strlen(doc), st);
    free(doc);
    if (rc)
        return NULL;
    cJSON *out = cJSON_CreateObject();
    sd_view_id(out, "job_id", 'j', r->id);
    cJSON_AddBoolToObject(out, "recorded", 1);
    return out;
}

/* A running drill job's lease (service/drills.h): {"agent_id"} -> {"job_id", "lease_until"}. */
static cJSON *do_renew(sd_ctx *ctx, sd_api_req *r, const cJSON *j, sd_status *st)
{
    int64_t agent = 0, until = 0;
    if (sd_decode_poll(j, &agent, st) || sd_drill_job_renew(ctx, r->app, r->id, agent, &until, st))
        return NULL;
    cJSON *out = cJSON_CreateObject();
    sd_view_id(out, "job_id", 'j', r->id);
    sd_view_time(out, "lease_until", until);
    return out;
}

/* Tests only (serve --test-clock): set the clock and run a scheduler pass. */
static cJSON *do_clock(sd_ctx *ctx, const cJSON *j, sd_status *st)
{
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(j, "now");
    dp_err e = {0};
    if (!cJSON_IsNumber(n) || n->valuedouble < 0 || n->valuedouble > 1e11) {
        sd_fail(st, SD_INVALID, "field 'now' must be seconds since the epoch");
        return NULL;
    }
    if (sd_scheduler_tick_at(ctx, (int64_t)(n->valuedouble * 1000), &e)) {
        sd_fail(st, SD_INTERNAL, "%s", e.msg);
        return NULL;
    }
    cJSON *out = cJSON_CreateObject();
    cJSON_AddNumberToObject(out, "now", n->valuedouble);
    return out;
}

static enum MHD_Result list(sd_ctx *ctx, struct MHD_Connection *c, sd_api_req *r)
{
    const char *d = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "database_id");
    const char *lim = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "limit");
    int64_t db_id = 0;
    sd_backup_list l;
    sd_status st = SD_STATUS_INIT;
    if (d && sd_id_parse(d, 'd', &db_id))
        return sd_reply_error(c, 404, "not_found", "unknown database_id");
    if (sd_backups(ctx, r->app, db_id, lim ? (int)strtol(lim, NULL, 10) : 0, &l, &st))
        return sd_reply_error(c, 500, "internal", "state store error");
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "backups", sd_view_backups(&l));
    sd_list_free(&l);
    return sd_reply_json(c, 200, o);
}

static enum MHD_Result get(sd_ctx *ctx, struct MHD_Connection *c, sd_api_req *r)
{
    sd_backup_list l;
    sd_status st = SD_STATUS_INIT;
    if (sd_backup_get(ctx, r->app, r->id, &l, &st))
        return sd_reply_status(c, &st);
    cJSON *o = sd_view_backup(&l.v[0]);
    sd_list_free(&l);
    return sd_reply_json(c, 200, o);
}

static enum MHD_Result presign(sd_ctx *ctx, struct MHD_Connection *c, sd_api_req *r)
{
    sd_status st = SD_STATUS_INIT;
    sd_presign_res res;
    if (sd_backup_presign(ctx, r->app, r->id, r->part, &res, &st)) {
        free(res.url);
        return sd_reply_status(c, &st);
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "part", res.part);
    cJSON_AddStringToObject(o, "url", res.url);
    cJSON_AddStringToObject(o, "method", "PUT");
    cJSON_AddNumberToObject(o, "expires_in", (double)res.expires_in);
    free(res.url);
    return sd_reply_json(c, 200, o);
}

enum MHD_Result sd_api_finish(sd_ctx *ctx, struct MHD_Connection *c, sd_api_req *r, const char *body, size_t len)
{
    switch (r->route) {
    case R_PART: return part_end(c, r);
    case R_LIST: return list(ctx, c, r);
    case R_GET: return get(ctx, c, r);
    case R_DOWNLOAD: return sd_http_download(c, ctx, r->app, r->id);
    case R_MANIFEST: return sd_http_manifest(c, ctx, r->app, r->id);
    case R_PRESIGN: return presign(ctx, c, r);
    default: break;
    }
    const char *end = NULL;
    cJSON *j = len ? cJSON_ParseWithLengthOpts(body, len + 1, &end, 1) : NULL;
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return sd_reply_error(c, 400, "invalid_json", "the request body must be a JSON object");
    }
    sd_status st = SD_STATUS_INIT;
    cJSON *out = NULL;
    switch (r->route) {
    case R_REGISTER: out = do_register(ctx, r, j, &st); break;
    case R_POLL: out = do_poll(ctx, r, j, &st); break;
    case R_RELEASE: out = do_release(ctx, r, j, &st); break;
    case R_PREPARE: out = do_prepare(ctx, r, j, &st); break;
    case R_COMMIT: out = do_commit(ctx, r, j, &st); break;
    case R_FAIL: out = do_fail(ctx, r, j, &st); break;
    case R_CLOCK: out = do_clock(ctx, j, &st); break;
    case R_DRILL: out = do_drill(ctx, r, j, &st); break;
    case R_RENEW: out = do_renew(ctx, r, j, &st); break;
    default: sd_fail(&st, SD_NOT_FOUND, "no such endpoint");
    }
    cJSON_Delete(j);
    if (!out && st.outcome == SD_UNAUTHORIZED) /* a poll with a key rotated meanwhile */
        log_refused(ctx, c, r->route == R_POLL ? "/api/v1/agents/poll" : "/api/v1/agents/release");
    return out ? sd_reply_json(c, 200, out) : sd_reply_status(c, &st);
}

void sd_api_free(sd_api_req *r)
{
    if (!r)
        return;
    sd_part_free(r->upload);
    free(r);
}
