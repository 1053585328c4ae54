/* proto.c - building and validating the agent's protocol messages and the job spec (pure). */
#include "agent/proto.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/dburl.h"
#include "core/util.h"

/* The length of s when every character is of [A-Za-z0-9_.-], else 0. */
static size_t label_len(const char *s)
{
    size_t n = 0;
    for (const char *p = s; p && *p; p++, n++) {
        char c = *p;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
              c == '-'))
            return 0;
    }
    return n;
}

int dp_proto_valid_id(const char *s)
{
    size_t n = label_len(s);
    return n > 0 && n < DP_API_ID_MAX;
}

int dp_proto_valid_file_name(const char *s)
{
    size_t n = label_len(s);
    return n > 0 && n <= DP_JOB_FILE_NAME_MAX && *s != '.';
}

int dp_proto_valid_sha256(const char *s)
{
    return s && strlen(s) == 64 && strspn(s, "0123456789abcdef") == 64;
}

int dp_proto_valid_recipient(const char *s)
{
    static const char bech32[] = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";
    if (!s || strlen(s) != DP_JOB_RECIPIENT_LEN || strncmp(s, "age1", 4) != 0)
        return 0;
    for (const char *p = s + 4; *p; p++)
        if (!strchr(bech32, *p))
            return 0;
    return 1;
}

int dp_proto_parse_ionice(const char *s, int *ioclass, int *iolevel)
{
    const char *lvl = NULL;
    if (!s)
        return -1;
    if (!strcmp(s, "none") || !strcmp(s, "idle")) {
        *ioclass = s[0] == 'n' ? DP_IOPRIO_NONE : DP_IOPRIO_IDLE;
        *iolevel = 0;
        return 0;
    }
    if (!strncmp(s, "best-effort", 11))
        lvl = s + 11;
    else if (!strncmp(s, "be", 2))
        lvl = s + 2;
    if (!lvl || !(!*lvl || (lvl[0] == ':' && lvl[1] >= '0' && lvl[1] <= '7' && !lvl[2])))
        return -1;
    *ioclass = DP_IOPRIO_BE;
    *iolevel = *lvl ? lvl[1] - '0' : 4;
    return 0;
}

void dp_job_priority(int agent_nice, int agent_ioclass, int agent_iolevel, const dp_job_policy *app, dp_job_prio *out)
{
    out->nice = DP_JOB_DEFAULT_NICE;
    out->ioclass = DP_JOB_DEFAULT_IOCLASS;
    out->iolevel = DP_JOB_DEFAULT_IOLEVEL;
    if (agent_nice != DP_PRIO_UNSET)
        out->nice = agent_nice;
    else if (app && app->nice != DP_PRIO_UNSET)
        out->nice = app->nice;
    if (agent_ioclass != DP_PRIO_UNSET) {
        out->ioclass = agent_ioclass;
        out->iolevel = agent_iolevel;
    } else if (app && app->ioclass != DP_PRIO_UNSET) {
        out->ioclass = app->ioclass;
        out->iolevel = app->iolevel;
    }
}

/* "recipients": absent or null (none), or an array of at most DP_JOB_MAX_RECIPIENTS recipients. */
static int get_recipients(const cJSON *o, dp_job_recipient *out, int *n, const char *what, int code, dp_err *err)
{
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(o, "recipients"), *k;
    *n = 0;
    if (!r || cJSON_IsNull(r))
        return 0;
    if (!cJSON_IsArray(r) || cJSON_GetArraySize(r) > DP_JOB_MAX_RECIPIENTS)
        return dp_err_set(err, code, "invalid %s: bad 'recipients'", what);
    cJSON_ArrayForEach(k, r)
    {
        if (!cJSON_IsString(k) || !dp_proto_valid_recipient(k->valuestring))
            return dp_err_set(err, code, "invalid %s: bad 'recipients'", what);
        memcpy(out[(*n)++], k->valuestring, DP_JOB_RECIPIENT_LEN + 1);
    }
    return 0;
}

static int add_recipients(cJSON *o, const dp_job_recipient *r, int n)
{
    cJSON *arr = n ? cJSON_AddArrayToObject(o, "recipients") : NULL;
    if (n && !arr)
        return 0;
    for (int i = 0; i < n; i++) {
        cJSON *k = cJSON_CreateString(r[i]);
        if (!k || !cJSON_AddItemToArray(arr, k)) {
            cJSON_Delete(k);
            return 0;
        }
    }
    return 1;
}

/* The rest of a job offer's policy: nice, ionice and limit_rate, each absent or null when unset. */
static int get_policy(const cJSON *j, dp_job_policy *p, const char *what, dp_err *err)
{
    const cJSON *nice = cJSON_GetObjectItemCaseSensitive(j, "nice");
    const cJSON *io = cJSON_GetObjectItemCaseSensitive(j, "ionice");
    const cJSON *rate = cJSON_GetObjectItemCaseSensitive(j, "limit_rate");
    p->nice = p->ioclass = DP_PRIO_UNSET;
    if (get_recipients(j, p->recipients, &p->nrecipients, "poll answer from the control plane", DUMPER_EPROTO, err))
        return err->code;
    if (nice && !cJSON_IsNull(nice)) {
        if (!cJSON_IsNumber(nice) || nice->valuedouble < 0 || nice->valuedouble > 19 ||
            nice->valuedouble != (double)(int)nice->valuedouble)
            return dp_err_set(err, DUMPER_EPROTO, "invalid %s from the control plane: bad 'nice'", what);
        p->nice = (int)nice->valuedouble;
    }
    if (io && !cJSON_IsNull(io) &&
        (!cJSON_IsString(io) || dp_proto_parse_ionice(io->valuestring, &p->ioclass, &p->iolevel)))
        return dp_err_set(err, DUMPER_EPROTO, "invalid %s from the control plane: bad 'ionice'", what);
    if (rate && !cJSON_IsNull(rate)) {
        if (!cJSON_IsNumber(rate) || !(rate->valuedouble >= (double)DP_LIMIT_RATE_MIN) ||
            !(rate->valuedouble <= (double)DP_JOB_LIMIT_RATE_MAX))
            return dp_err_set(err, DUMPER_EPROTO, "invalid %s from the control plane: bad 'limit_rate'", what);
        p->limit_rate = (uint64_t)rate->valuedouble;
    }
    return 0;
}

int64_t dp_proto_interval_ms(double secs)
{
    if (!isfinite(secs) || secs < 0)
        return -1;
    double ms = secs * 1000.0;
    if (ms < DP_INTERVAL_MIN_MS)
        return DP_INTERVAL_MIN_MS;
    if (ms > (double)DP_INTERVAL_MAX_MS)
        return DP_INTERVAL_MAX_MS;
    return (int64_t)ms;
}

const char *dp_proto_fail_code(int code)
{
    switch (code) {
    case DUMPER_ESOURCE: return "source_failed";
    case DUMPER_ETOOL: return "tool_missing";
    case DUMPER_ETOOLARGE: return "too_large";
    case DUMPER_EAUTH: return "auth_failed";
    case DUMPER_ECONNECT: return "connect_failed";
    case DUMPER_ESTORAGE: return "upload_failed";
    case DUMPER_EPROTO: return "protocol_error";
    case DUMPER_ETIMEOUT: return "timeout";
    case DUMPER_EINTR: return "interrupted";
    case DUMPER_EUNSUPPORTED: return "unsupported";
    case DUMPER_EURL: return "bad_url";
    case DUMPER_ENOENT: return "not_found";
    case DUMPER_ENOMEM: return "out_of_memory";
    case DUMPER_EIO: case DUMPER_ENOSPC: return "io_error";
    case DUMPER_EUSAGE: return "bad_job";
    default: return "internal";
    }
}

/* ---- register ---- */

static int add_str(cJSON *o, const char *k, const char *v)
{
    return !v || cJSON_AddStringToObject(o, k, v) != NULL;
}

char *dp_proto_register_json(const dp_register_req *r)
{
    char *out = NULL;
    cJSON *o = cJSON_CreateObject(), *dbs = NULL;
    if (!o)
        return NULL;
    int ok = add_str(o, "hostname", r->hostname ? r->hostname : "unknown") &&
             cJSON_AddNumberToObject(o, "pid", (double)r->pid) && add_str(o, "agent_version", r->agent_version) &&
             add_str(o, "app_name", r->app_name) && add_str(o, "environment", r->environment) &&
             add_str(o, "framework", r->framework) && add_str(o, "dispatcher", r->dispatcher) &&
             add_str(o, "process_start", r->process_start) &&
             (dbs = cJSON_AddArrayToObject(o, "databases")) != NULL;
    cJSON *caps = ok && r->drill ? cJSON_AddArrayToObject(o, "capabilities") : NULL;
    if (ok && r->drill)
        ok = caps && cJSON_AddItemToArray(caps, cJSON_CreateString("drill"));
    for (size_t i = 0; ok && i < r->ndbs; i++) {
        dp_dburl u;
        dp_err e = {0};
        if (dp_dburl_parse(r->dbs[i].url, &u, &e)) {
            ok = 0;
            break;
        }
        cJSON *d = cJSON_CreateObject();
        char *name = u.type == DP_DB_SQLITE ? dp_dburl_short_name(&u) : dp_strdup(u.dbname);
        /* never u.password: the server refuses a password field and must never see one */
        ok = d && cJSON_AddItemToArray(dbs, d) && add_str(d, "key", r->dbs[i].key) &&
             add_str(d, "type", dp_db_type_name(u.type)) && add_str(d, "host", u.host) &&
             (!u.port || cJSON_AddNumberToObject(d, "port", u.port)) && add_str(d, "name", name) &&
             add_str(d, "user", u.user);
        free(name);
        dp_dburl_free(&u);
    }
    if (ok)
        out = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return out;
}

static int get_id(const cJSON *o, const char *k, char out[DP_API_ID_MAX], int required, const char *what, dp_err *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    out[0] = 0;
    if (!v || cJSON_IsNull(v)) {
        if (required)
            return dp_err_set(err, DUMPER_EPROTO, "invalid %s from the control plane: missing '%s'", what, k);
        return 0;
    }
    if (!cJSON_IsString(v) || !dp_proto_valid_id(v->valuestring))
        return dp_err_set(err, DUMPER_EPROTO, "invalid %s from the control plane: bad '%s'", what, k);
    memcpy(out, v->valuestring, strlen(v->valuestring) + 1);
    return 0;
}

static int get_role(const cJSON *o, int *role, const char *what, dp_err *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "role");
    if (cJSON_IsString(v) && strcmp(v->valuestring, "primary") == 0)
        *role = DP_ROLE_PRIMARY;
    else if (cJSON_IsString(v) && strcmp(v->valuestring, "secondary") == 0)
        *role = DP_ROLE_SECONDARY;
    else
        return dp_err_set(err, DUMPER_EPROTO, "invalid %s from the control plane: bad 'role'", what);
    return 0;
}

static int get_interval(const cJSON *o, int64_t *ms, const char *what, dp_err *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "interval");
    *ms = cJSON_IsNumber(v) ? dp_proto_interval_ms(v->valuedouble) : -1;
    if (*ms < 0)
        return dp_err_set(err, DUMPER_EPROTO, "invalid %s from the control plane: bad 'interval'", what);
    return 0;
}

/* An optional non-negative integer member; def when absent. */
static int get_u64(const cJSON *o, const char *k, uint64_t def, uint64_t *out, const char *what, dp_err *err)
{
    const cJSON *v = o ? cJSON_GetObjectItemCaseSensitive(o, k) : NULL;
    if (!v || cJSON_IsNull(v)) {
        *out = def;
        return 0;
    }
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || v->valuedouble < 0 || v->valuedouble > 9.0e15)
        return dp_err_set(err, DUMPER_EPROTO, "invalid %s from the control plane: bad '%s'", what, k);
    *out = (uint64_t)v->valuedouble;
    return 0;
}

static cJSON *parse_object(const char *body, size_t len, const char *what, dp_err *err)
{
    if (!body || len == 0 || len > DP_API_MAX_RESPONSE) {
        dp_err_set(err, DUMPER_EPROTO, "invalid %s from the control plane: %s body", what, len ? "oversized" : "empty");
        return NULL;
    }
    cJSON *o = cJSON_ParseWithLength(body, len);
    if (!cJSON_IsObject(o)) {
        cJSON_Delete(o);
        dp_err_set(err, DUMPER_EPROTO, "invalid %s from the control plane: not a JSON object", what);
        return NULL;
    }
    return o;
}

int dp_proto_parse_register(const char *body, size_t len, size_t expected_dbs, dp_register_resp *out, dp_err *err)
{
    static const char what[] = "register answer";
    memset(out, 0, sizeof *out);
    cJSON *o = parse_object(body, len, what, err);
    if (!o)
        return err->code;
    int rc = 0;
    const cJSON *lim = cJSON_GetObjectItemCaseSensitive(o, "limits");
    if ((rc = get_id(o, "agent_id", out->agent_id, 1, what, err)) || (rc = get_role(o, &out->role, what, err)) ||
        (rc = get_interval(o, &out->interval_ms, what, err)))
        goto cleanup;
    if (lim && !cJSON_IsObject(lim)) {
        rc = dp_err_set(err, DUMPER_EPROTO, "invalid %s from the control plane: bad 'limits'", what);
        goto cleanup;
    }
    if ((rc = get_u64(lim, "max_filesize", 0, &out->limits.max_filesize, what, err)) ||
        (rc = get_u64(lim, "max_part_size", 0, &out->limits.max_part_size, what, err)) ||
        (rc = get_u64(lim, "max_parts", 0, &out->limits.max_parts, what, err)))
        goto cleanup;
    const cJSON *dbs = cJSON_GetObjectItemCaseSensitive(o, "databases");
    if (!cJSON_IsArray(dbs) || (size_t)cJSON_GetArraySize(dbs) != expected_dbs) {
        rc = dp_err_set(err, DUMPER_EPROTO, "invalid %s from the control plane: 'databases' does not match", what);
        goto cleanup;
    }
    if (expected_dbs && !(out->db_ids = calloc(expected_dbs, sizeof *out->db_ids))) {
        rc = dp_err_set(err, DUMPER_ENOMEM, "out of memory");
        goto cleanup;
    }
    out->ndbs = expected_dbs;
    size_t i = 0;
    const cJSON *d;
    cJSON_ArrayForEach(d, dbs)
    {
        if (!cJSON_IsObject(d) || (rc = get_id(d, "id", out->db_ids[i], 1, what, err))) {
            rc = dp_err_set(err, DUMPER_EPROTO, "invalid %s from the control plane: bad database entry", what);
            goto cleanup;
        }
        i++;
    }
cleanup:
    cJSON_Delete(o);
    if (rc)
        dp_register_resp_free(out);
    return rc;
}

void dp_register_resp_free(dp_register_resp *r)
{
    free(r->db_ids);
    r->db_ids = NULL;
    r->ndbs = 0;
}

/* "kind": absent or "backup"; "drill" with "drill": {"backup_id", "file_name", "sha256"}; anything else is
 * refused (a job this agent does not know is never run as something else). */
static int get_kind(const cJSON *j, dp_job_offer *job, const char *what, dp_err *err)
{
    const cJSON *k = cJSON_GetObjectItemCaseSensitive(j, "kind");
    job->kind = DP_JOB_BACKUP;
    if (!k || cJSON_IsNull(k) || (cJSON_IsString(k) && !strcmp(k->valuestring, "backup")))
        return 0;
    if (!cJSON_IsString(k) || strcmp(k->valuestring, "drill"))
        return dp_err_set(err, DUMPER_EPROTO, "invalid %s from the control plane: unknown job kind '%.32s'", what,
                          cJSON_IsString(k) ? k->valuestring : "?");
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(j, "drill");
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(d, "file_name");
    const cJSON *h = cJSON_GetObjectItemCaseSensitive(d, "sha256");
    dp_err idle = {0}; /* one message for every bad member of "drill" */
    if (!cJSON_IsObject(d) || get_id(d, "backup_id", job->backup_id, 1, what, &idle) || !cJSON_IsString(f) ||
        !dp_proto_valid_file_name(f->valuestring) || !cJSON_IsString(h) || !dp_proto_valid_sha256(h->valuestring))
        return dp_err_set(err, DUMPER_EPROTO, "invalid %s from the control plane: bad 'drill'", what);
    memcpy(job->file_name, f->valuestring, strlen(f->valuestring) + 1);
    memcpy(job->sha256, h->valuestring, 65);
    job->kind = DP_JOB_DRILL;
    return 0;
}

int dp_proto_parse_poll(const char *body, size_t len, dp_poll_resp *out, dp_err *err)
{
    static const char what[] = "poll answer";
    memset(out, 0, sizeof *out);
    cJSON *o = parse_object(body, len, what, err);
    if (!o)
        return err->code;
    int rc = 0;
    if ((rc = get_role(o, &out->role, what, err)) || (rc = get_interval(o, &out->interval_ms, what, err)))
        goto cleanup;
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, "job");
    if (j && !cJSON_IsNull(j)) {
        if (!cJSON_IsObject(j)) {
            rc = dp_err_set(err, DUMPER_EPROTO, "invalid %s from the control plane: bad 'job'", what);
            goto cleanup;
        }
        if ((rc = get_id(j, "job_id", out->job.job_id, 1, what, err)) ||
            (rc = get_id(j, "database_id", out->job.database_id, 1, what, err)) ||
            (rc = get_id(j, "database_key", out->job.database_key, 0, what, err)))
            goto cleanup;
        const cJSON *r = cJSON_GetObjectItemCaseSensitive(j, "reason");
        if (cJSON_IsString(r) && strlen(r->valuestring) < sizeof out->job.reason && dp_proto_valid_id(r->valuestring))
            memcpy(out->job.reason, r->valuestring, strlen(r->valuestring) + 1);
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "type");
        if (cJSON_IsString(t) && strlen(t->valuestring) < sizeof out->job.type && dp_proto_valid_id(t->valuestring))
            memcpy(out->job.type, t->valuestring, strlen(t->valuestring) + 1);
        if ((rc = get_policy(j, &out->job.policy, what, err)) || (rc = get_kind(j, &out->job, what, err)))
            goto cleanup;
        /* "lease" (seconds; absent from older servers): a drill renews its job every third of it. A bad one is
         * ignored like an unknown reason: the job runs without renewal. */
        const cJSON *l = cJSON_GetObjectItemCaseSensitive(j, "lease");
        if (cJSON_IsNumber(l) && l->valuedouble >= 1 && l->valuedouble <= 864000.0)
            out->job.lease_ms = (int64_t)(l->valuedouble * 1000);
        out->has_job = 1;
    }
cleanup:
    cJSON_Delete(o);
    return rc;
}

void dp_proto_error_message(const char *body, size_t len, char *out, size_t outlen)
{
    if (!outlen)
        return;
    out[0] = 0;
    if (!body || !len || len > DP_API_MAX_RESPONSE)
        return;
    cJSON *o = cJSON_ParseWithLength(body, len);
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, "message");
    if (!cJSON_IsString(m))
        m = cJSON_GetObjectItemCaseSensitive(o, "error");
    if (cJSON_IsString(m)) {
        size_t n = 0;
        for (const unsigned char *p = (const unsigned char *)m->valuestring; *p && n + 1 < outlen && n < 200; p++)
            out[n++] = (*p >= 0x20 && *p < 0x7f) ? (char)*p : '?';
        out[n] = 0;
    }
    cJSON_Delete(o);
}

/* ---- job spec ---- */

char *dp_job_spec_to_json(const dp_job_spec *s)
{
    cJSON *o = cJSON_CreateObject();
    char *out = NULL;
    if (!o)
        return NULL;
    int ok = add_str(o, "api_base", s->api_base) && add_str(o, "app_key", s->app_key) &&
             add_str(o, "ca_file", s->ca_file) && add_str(o, "proxy", s->proxy) &&
             cJSON_AddBoolToObject(o, "insecure", s->insecure) && cJSON_AddBoolToObject(o, "debug", s->debug) &&
             add_str(o, "agent_id", s->agent_id) && add_str(o, "job_id", s->job_id) &&
             add_str(o, "database_id", s->database_id) && add_str(o, "database_key", s->database_key) &&
             add_str(o, "reason", s->reason) && add_str(o, "db_url", s->db_url) && add_str(o, "format", s->format) &&
             add_str(o, "custom_options", s->custom_options) &&
             cJSON_AddNumberToObject(o, "max_filesize", (double)s->max_filesize) &&
             cJSON_AddNumberToObject(o, "max_part_size", (double)s->max_part_size) &&
             cJSON_AddNumberToObject(o, "max_parts", (double)s->max_parts) &&
             add_recipients(o, s->recipients, s->nrecipients) &&
             (!s->limit_rate || cJSON_AddNumberToObject(o, "limit_rate", (double)s->limit_rate)) &&
             (s->kind != DP_JOB_DRILL || cJSON_AddStringToObject(o, "kind", "drill")) &&
             add_str(o, "backup_id", s->backup_id) && add_str(o, "file_name", s->file_name) &&
             add_str(o, "sha256", s->sha256) && add_str(o, "source_type", s->source_type) &&
             add_str(o, "scratch_url", s->scratch_url) && add_str(o, "scratch_password", s->scratch_password) &&
             (!s->lease_ms || cJSON_AddNumberToObject(o, "lease_ms", (double)s->lease_ms));
    cJSON *ids = ok && s->nidentities ? cJSON_AddArrayToObject(o, "identities") : NULL;
    for (size_t i = 0; ok && i < s->nidentities; i++) {
        cJSON *v = cJSON_CreateString(s->identities[i]);
        ok = ids && v && cJSON_AddItemToArray(ids, v);
        if (!ok)
            cJSON_Delete(v);
    }
    if (ok)
        out = cJSON_PrintUnformatted(o);
    /* wipe the copies of the secrets cJSON made */
    const char *secrets[] = {"app_key", "db_url", "scratch_url", "scratch_password"};
    for (size_t i = 0; i < sizeof secrets / sizeof *secrets; i++) {
        cJSON *v = cJSON_GetObjectItemCaseSensitive(o, secrets[i]);
        if (cJSON_IsString(v))
            dp_memzero(v->valuestring, strlen(v->valuestring));
    }
    cJSON_Delete(o);
    return out;
}

static int spec_str(const cJSON *o, const char *k, int required, char **out, dp_err *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (!v || cJSON_IsNull(v)) {
        if (required)
            return dp_err_set(err, DUMPER_EUSAGE, "invalid job spec: missing '%s'", k);
        return 0;
    }
    if (!cJSON_IsString(v) || !*v->valuestring)
        return dp_err_set(err, DUMPER_EUSAGE, "invalid job spec: bad '%s'", k);
    if (!(*out = strdup(v->valuestring)))
        return dp_err_set(err, DUMPER_ENOMEM, "out of memory");
    return 0;
}

static int spec_bool(const cJSON *o, const char *k, int *out, dp_err *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (!v || cJSON_IsNull(v))
        return 0;
    if (!cJSON_IsBool(v))
        return dp_err_set(err, DUMPER_EUSAGE, "invalid job spec: bad '%s'", k);
    *out = cJSON_IsTrue(v);
    return 0;
}

static int spec_kind(const cJSON *o, int *kind, dp_err *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "kind");
    *kind = DP_JOB_BACKUP;
    if (!v || cJSON_IsNull(v) || (cJSON_IsString(v) && !strcmp(v->valuestring, "backup")))
        return 0;
    if (cJSON_IsString(v) && !strcmp(v->valuestring, "drill")) {
        *kind = DP_JOB_DRILL;
        return 0;
    }
    return dp_err_set(err, DUMPER_EUSAGE, "invalid job spec: bad 'kind'");
}

int dp_job_spec_parse(const char *json, size_t len, dp_job_spec *s, dp_err *err)
{
    memset(s, 0, sizeof *s);
    if (!json || !len || len > DP_JOB_SPEC_MAX)
        return dp_err_set(err, DUMPER_EUSAGE, "invalid job spec: %s", len ? "too large" : "empty");
    cJSON *o = cJSON_ParseWithLength(json, len);
    int rc = 0;
    if (!cJSON_IsObject(o)) {
        rc = dp_err_set(err, DUMPER_EUSAGE, "invalid job spec: not a JSON object");
        goto cleanup;
    }
    dp_err e2 = {0};
    if ((rc = spec_str(o, "api_base", 1, &s->api_base, err)) || (rc = spec_str(o, "app_key", 1, &s->app_key, err)) ||
        (rc = spec_str(o, "ca_file", 0, &s->ca_file, err)) || (rc = spec_str(o, "proxy", 0, &s->proxy, err)) ||
        (rc = spec_bool(o, "insecure", &s->insecure, err)) || (rc = spec_bool(o, "debug", &s->debug, err)) ||
        (rc = spec_str(o, "agent_id", 1, &s->agent_id, err)) || (rc = spec_str(o, "job_id", 1, &s->job_id, err)) ||
        (rc = spec_str(o, "database_id", 0, &s->database_id, err)) ||
        (rc = spec_str(o, "database_key", 0, &s->database_key, err)) ||
        (rc = spec_str(o, "reason", 0, &s->reason, err)) || (rc = spec_kind(o, &s->kind, err)) ||
        (rc = spec_str(o, "db_url", s->kind == DP_JOB_BACKUP, &s->db_url, err)) ||
        (rc = spec_str(o, "backup_id", s->kind == DP_JOB_DRILL, &s->backup_id, err)) ||
        (rc = spec_str(o, "file_name", s->kind == DP_JOB_DRILL, &s->file_name, err)) ||
        (rc = spec_str(o, "sha256", s->kind == DP_JOB_DRILL, &s->sha256, err)) ||
        (rc = spec_str(o, "source_type", 0, &s->source_type, err)) ||
        (rc = spec_str(o, "scratch_url", 0, &s->scratch_url, err)) ||
        (rc = spec_str(o, "scratch_password", 0, &s->scratch_password, err)) ||
        (rc = spec_str(o, "format", 0, &s->format, err)) ||
        (rc = spec_str(o, "custom_options", 0, &s->custom_options, err)) ||
        (rc = get_u64(o, "max_filesize", 0, &s->max_filesize, "job spec", &e2)) ||
        (rc = get_u64(o, "max_part_size", 0, &s->max_part_size, "job spec", &e2)) ||
        (rc = get_u64(o, "max_parts", 0, &s->max_parts, "job spec", &e2))) {
        if (e2.code)
            rc = dp_err_set(err, DUMPER_EUSAGE, "invalid job spec: bad size limit");
        goto cleanup;
    }
    if ((rc = get_recipients(o, s->recipients, &s->nrecipients, "job spec", DUMPER_EUSAGE, err)))
        goto cleanup;
    /* limit_rate: whole bytes per second; absent, null or 0 = no limit. Range-checked as a double
     * before the conversion (1e300 must not reach an integer); whole when the conversion round-trips
     * (no libm in the agent library). */
    const cJSON *lr = cJSON_GetObjectItemCaseSensitive(o, "limit_rate");
    if (lr && !cJSON_IsNull(lr)) {
        if (!cJSON_IsNumber(lr) || !(lr->valuedouble >= 0) || lr->valuedouble > (double)DP_JOB_LIMIT_RATE_MAX ||
            lr->valuedouble != (double)(uint64_t)lr->valuedouble) {
            rc = dp_err_set(err, DUMPER_EUSAGE, "invalid job spec: bad 'limit_rate' (bytes per second, 0..%llu)",
                            (unsigned long long)DP_JOB_LIMIT_RATE_MAX);
            goto cleanup;
        }
        s->limit_rate = (uint64_t)lr->valuedouble;
    }
    /* "identities": absolute, printable paths (the job process reads the files; the keys are not in the spec) */
    const cJSON *ids = cJSON_GetObjectItemCaseSensitive(o, "identities"), *id;
    if (ids && !cJSON_IsNull(ids)) {
        int n = cJSON_GetArraySize(ids);
        if (!cJSON_IsArray(ids) || n < 1 || n > DP_JOB_MAX_IDENTITIES || !(s->identities = calloc((size_t)n, sizeof(char *)))) {
            rc = dp_err_set(err, cJSON_IsArray(ids) && n >= 1 && n <= DP_JOB_MAX_IDENTITIES ? DUMPER_ENOMEM : DUMPER_EUSAGE,
                            "invalid job spec: bad 'identities'");
            goto cleanup;
        }
        cJSON_ArrayForEach(id, ids) {
            const char *p = cJSON_IsString(id) ? id->valuestring : NULL;
            size_t i = 0;
            while (p && p[i] && (unsigned char)p[i] >= 0x20 && p[i] != 0x7f)
                i++;
            if (!p || p[0] != '/' || p[i] || i > 4096) {
                rc = dp_err_set(err, DUMPER_EUSAGE, "invalid job spec: bad 'identities'");
                goto cleanup;
            }
            if (!(s->identities[s->nidentities++] = strdup(p))) {
                rc = dp_err_set(err, DUMPER_ENOMEM, "out of memory");
                goto cleanup;
            }
        }
    }
    uint64_t lease = 0;
    if (get_u64(o, "lease_ms", 0, &lease, "job spec", &e2)) {
        rc = dp_err_set(err, DUMPER_EUSAGE, "invalid job spec: bad 'lease_ms'");
        goto cleanup;
    }
    s->lease_ms = (int64_t)lease;
    if (s->kind == DP_JOB_DRILL && (!dp_proto_valid_id(s->backup_id) || !dp_proto_valid_file_name(s->file_name) ||
                                    !dp_proto_valid_sha256(s->sha256))) {
        rc = dp_err_set(err, DUMPER_EUSAGE, "invalid job spec: bad drill backup");
        goto cleanup;
    }
    if (!dp_proto_valid_id(s->agent_id) || !dp_proto_valid_id(s->job_id) ||
        (s->database_id && !dp_proto_valid_id(s->database_id))) {
        rc = dp_err_set(err, DUMPER_EUSAGE, "invalid job spec: bad id");
        goto cleanup;
    }
    if (strncmp(s->api_base, "http://", 7) != 0 && strncmp(s->api_base, "https://", 8) != 0) {
        rc = dp_err_set(err, DUMPER_EUSAGE, "invalid job spec: api_base must be an http(s) URL");
        goto cleanup;
    }
cleanup:
    if (o) {
        const char *secrets[] = {"app_key", "db_url", "scratch_url", "scratch_password"};
        for (size_t i = 0; i < sizeof secrets / sizeof *secrets; i++) {
            cJSON *v = cJSON_GetObjectItemCaseSensitive(o, secrets[i]);
            if (cJSON_IsString(v))
                dp_memzero(v->valuestring, strlen(v->valuestring));
        }
    }
    cJSON_Delete(o);
    if (rc)
        dp_job_spec_free(s);
    return rc;
}

void dp_job_spec_free(dp_job_spec *s)
{
    dp_free_secret(s->app_key);
    dp_free_secret(s->db_url);
    dp_free_secret(s->scratch_url);
    dp_free_secret(s->scratch_password);
    for (size_t i = 0; i < s->nidentities; i++)
        free(s->identities[i]);
    free(s->identities);
    char **plain[] = {&s->api_base, &s->ca_file, &s->proxy, &s->agent_id, &s->job_id, &s->database_id,
                      &s->database_key, &s->reason, &s->format, &s->custom_options, &s->backup_id, &s->file_name,
                      &s->sha256, &s->source_type};
    for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++) {
        free(*plain[i]);
        *plain[i] = NULL;
    }
    memset(s, 0, sizeof *s);
}
