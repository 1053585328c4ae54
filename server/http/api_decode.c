/* api_decode.c - agent API request bodies into structs (see api_decode.h). */
#include "http/api_decode.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "domain/drill.h"
#include "domain/names.h"
#include "domain/secrets.h"

static int invalid(sd_status *st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int invalid(sd_status *st, const char *fmt, ...)
{
    char msg[DP_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return sd_fail(st, SD_INVALID, "%s", msg);
}

static int opt_str(const cJSON *o, const char *k, const char **out, size_t max, sd_status *st)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    *out = NULL;
    if (!v || cJSON_IsNull(v))
        return 0;
    if (!cJSON_IsString(v) || strlen(v->valuestring) > max)
        return invalid(st, "field '%s' must be a string of at most %zu bytes", k, max);
    /* Stored strings are shown by `dumperd agents` and the dashboard: no control or bidi characters. */
    const char *problem = sd_text_problem(v->valuestring);
    if (problem)
        return invalid(st, "field '%s' contains %s", k, problem);
    *out = v->valuestring;
    return 0;
}

static int req_str(const cJSON *o, const char *k, const char **out, size_t max, sd_status *st)
{
    if (opt_str(o, k, out, max, st))
        return -1;
    if (!*out || !**out)
        return invalid(st, "field '%s' is required", k);
    return 0;
}

static int opt_int(const cJSON *o, const char *k, int64_t *out, int64_t lo, int64_t hi, int required, sd_status *st)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (!v || cJSON_IsNull(v))
        return required ? invalid(st, "field '%s' is required", k) : 0;
    /* The range first: converting a double outside int64_t's (1e300) is undefined behaviour. */
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= (double)lo && v->valuedouble <= (double)hi) ||
        v->valuedouble != (double)(int64_t)v->valuedouble)
        return invalid(st, "field '%s' must be an integer in %" PRId64 "..%" PRId64, k, lo, hi);
    *out = (int64_t)v->valuedouble;
    return 0;
}

/* "x_<id>": a required string; an unparsable one names nothing (404). */
static int req_id(const cJSON *o, const char *k, char prefix, int64_t *id, sd_status *st)
{
    const char *s;
    if (req_str(o, k, &s, 32, st))
        return -1;
    if (sd_id_parse(s, prefix, id))
        return sd_fail(st, SD_NOT_FOUND, "unknown %s '%.32s'", k, s);
    return 0;
}

static const char *const db_types[] = {"postgresql", "mysql", "mariadb", "mongodb", "redis", "sqlite", NULL};

static int decode_database(const cJSON *d, int i, sd_register_body *b, sd_status *st)
{
    sd_dbinfo *x = &b->dbs[i];
    if (!cJSON_IsObject(d))
        return invalid(st, "databases[%d] must be an object", i);
    if (cJSON_GetObjectItemCaseSensitive(d, "password"))
        return invalid(st, "databases[%d]: passwords are never sent to dumperd", i);
    if (req_str(d, "type", &x->type, 32, st) || opt_str(d, "key", &x->key, 64, st) ||
        opt_str(d, "host", &x->host, 255, st) || opt_str(d, "name", &x->name, 255, st) ||
        opt_str(d, "user", &x->user, 255, st) || opt_int(d, "port", &x->port, 0, 65535, 0, st)) {
        dp_err_prefix(&st->err, "databases[%d]", i);
        return -1;
    }
    /* Host, name and user end up in the restore commands shown to operators (quoted there too); a name may
     * hold a space (a SQLite path), nothing else of the shell's. */
    static const char *const shown[] = {"host", "name", "user"};
    const char *vals[] = {x->host, x->name, x->user};
    for (int k = 0; k < 3; k++) {
        const char *problem = vals[k] ? sd_shell_problem(vals[k], k == 1) : NULL;
        if (problem)
            return invalid(st, "databases[%d]: field '%s' contains %s", i, shown[k], problem);
    }
    int known = 0;
    for (int t = 0; db_types[t]; t++)
        known |= !strcmp(db_types[t], x->type);
    if (!known)
        return invalid(st, "databases[%d]: unknown type '%.32s'", i, x->type);
    if (x->key && !sd_label_valid(x->key, 64))
        return invalid(st, "databases[%d]: 'key' must be 1-64 characters of [A-Za-z0-9_.-]", i);
    if (!x->key) {
        sd_db_key_derive(b->derived[i], x->type, x->name);
        x->key = b->derived[i];
    }
    for (int j = 0; j < i; j++)
        if (!strcmp(b->dbs[j].key, x->key))
            return invalid(st, "databases[%d]: key '%s' appears twice", i, x->key);
    return 0;
}

int sd_decode_register(const cJSON *j, sd_register_body *out, sd_status *st)
{
    sd_agent_info *a = &out->req.agent;
    memset(out, 0, sizeof *out);
    if (req_str(j, "hostname", &a->hostname, 255, st) || opt_int(j, "pid", &a->pid, 1, INT32_MAX, 1, st) ||
        req_str(j, "environment", &a->env, 64, st) || opt_str(j, "agent_version", &a->version, 64, st) ||
        opt_str(j, "app_name", &a->app_name, 255, st) || opt_str(j, "framework", &a->framework, 255, st) ||
        opt_str(j, "dispatcher", &a->dispatcher, 255, st) ||
        opt_str(j, "process_start", &a->process_start, SD_PROCESS_START_MAX, st))
        return -1;
    if (a->process_start && (!*a->process_start || strspn(a->process_start, "0123456789abcdef:-") !=
                                                       strlen(a->process_start)))
        return invalid(st, "field 'process_start' must be 1-%d characters of [0-9a-f:-]", SD_PROCESS_START_MAX);
    if (!sd_label_valid(a->env, 64))
        return invalid(st, "field 'environment' must be 1-64 characters of [A-Za-z0-9_.-]");
    const char *problem = sd_shell_problem(a->hostname, 0);
    if (problem)
        return invalid(st, "field 'hostname' contains %s", problem);
    /* "capabilities": what the agent runs besides backups (["drill"]); absent for agents from before drills,
     * which are never handed a drill job. Names this dumperd does not know are ignored. */
    const cJSON *caps = cJSON_GetObjectItemCaseSensitive(j, "capabilities"), *c;
    if (caps && !cJSON_IsNull(caps)) {
        if (!cJSON_IsArray(caps) || cJSON_GetArraySize(caps) > SD_MAX_CAPABILITIES)
            return invalid(st, "field 'capabilities' must be an array of at most %d names", SD_MAX_CAPABILITIES);
        cJSON_ArrayForEach(c, caps)
        {
            if (!cJSON_IsString(c) || !sd_label_valid(c->valuestring, 32))
                return invalid(st, "field 'capabilities' must hold names of 1-32 characters of [A-Za-z0-9_.-]");
            out->req.caps |= sd_capability_bit(c->valuestring);
        }
    }
    const cJSON *dbs = cJSON_GetObjectItemCaseSensitive(j, "databases");
    if (!cJSON_IsArray(dbs))
        return invalid(st, "field 'databases' must be an array");
    if (cJSON_GetArraySize(dbs) > SD_MAX_DATABASES)
        return invalid(st, "at most %d databases per agent", SD_MAX_DATABASES);
    const cJSON *d;
    cJSON_ArrayForEach(d, dbs)
    {
        if (decode_database(d, out->req.ndbs, out, st))
            return -1;
        out->req.ndbs++;
    }
    out->req.dbs = out->dbs;
    return 0;
}

int sd_decode_poll(const cJSON *j, int64_t *agent, sd_status *st)
{
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(j, "agent_id");
    if (!cJSON_IsString(a))
        return invalid(st, "field 'agent_id' is required");
    if (sd_id_parse(a->valuestring, 'a', agent))
        return sd_fail(st, SD_NOT_FOUND, "unknown agent (register again)");
    return 0;
}

/* "encryption": "age" with "recipients": ["age1...", ...] (each a valid X25519 key, at most SD_MAX_RECIPIENTS),
 * or neither. */
static int decode_encryption(const cJSON *j, sd_prepare_req *out, sd_status *st)
{
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(j, "recipients");
    char msg[DP_ERR_MSG_MAX];
    sd_job_policy_init(&out->recipients);
    if (opt_str(j, "encryption", &out->encryption, 16, st))
        return -1;
    if (out->encryption && strcmp(out->encryption, "age"))
        return invalid(st, "field 'encryption' must be \"age\"");
    if (!r || cJSON_IsNull(r))
        return out->encryption ? invalid(st, "field 'recipients' is required with 'encryption'") : 0;
    if (!out->encryption)
        return invalid(st, "field 'recipients' needs 'encryption'");
    if (!cJSON_IsArray(r) || cJSON_GetArraySize(r) < 1 || cJSON_GetArraySize(r) > SD_MAX_RECIPIENTS)
        return invalid(st, "field 'recipients' must be an array of 1 to %d age recipients", SD_MAX_RECIPIENTS);
    const cJSON *k;
    cJSON_ArrayForEach(k, r)
    {
        if (!cJSON_IsString(k) || strlen(k->valuestring) > 100)
            return invalid(st, "field 'recipients' must hold age recipients");
        if (sd_job_policy_add_recipient(&out->recipients, k->valuestring, msg, sizeof msg))
            return invalid(st, "field 'recipients': %s", msg);
    }
    return 0;
}

int sd_decode_prepare(const cJSON *j, sd_prepare_req *out, sd_status *st)
{
    memset(out, 0, sizeof *out);
    if (req_id(j, "agent_id", 'a', &out->agent, st) || req_id(j, "job_id", 'j', &out->job, st) ||
        opt_str(j, "format", &out->format, 16, st) || opt_str(j, "compression", &out->compression, 16, st) ||
        opt_str(j, "extension", &out->ext, 16, st))
        return -1;
    if (out->format && !sd_label_valid(out->format, 16))
        return invalid(st, "field 'format' must be a short label");
    if (out->compression && !sd_compression_valid(out->compression))
        return invalid(st, "field 'compression' must be zstd, gzip or none");
    if (out->ext && !sd_extension_valid(out->ext))
        return invalid(st, "field 'extension' must be 1-16 characters of [a-z0-9.]");
    return decode_encryption(j, out, st);
}

static int is_hex64(const char *s)
{
    if (!s || strlen(s) != 64)
        return 0;
    for (int i = 0; i < 64; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return 1;
}

/* S3 parts: [{"n": 1, "etag": "..."}, ...]; a malformed entry stays NULL (the service names it, S3 only). */
static int decode_etags(const cJSON *parts, sd_commit_body *out, sd_status *st)
{
    int n = cJSON_GetArraySize(parts), i = 0;
    if (n < 1 || n > SD_MAX_PARTS)
        return 0;
    if (!(out->etags = calloc((size_t)n, sizeof *out->etags)))
        return sd_fail(st, SD_INTERNAL, "out of memory");
    const cJSON *o;
    cJSON_ArrayForEach(o, parts) /* not cJSON_GetArrayItem(i): quadratic over 10000 parts */
    {
        const cJSON *pn = cJSON_GetObjectItemCaseSensitive(o, "n");
        const cJSON *et = cJSON_GetObjectItemCaseSensitive(o, "etag");
        int ok = cJSON_IsNumber(pn) && pn->valuedouble == i + 1 && cJSON_IsString(et) && *et->valuestring &&
                 strlen(et->valuestring) <= 200;
        for (const char *c = ok ? et->valuestring : ""; *c; c++)
            ok &= (unsigned char)*c >= 0x20 && *c != 0x7f;
        out->etags[i++] = ok ? et->valuestring : NULL;
    }
    out->req.etags = out->etags;
    return 0;
}

int sd_decode_commit(const cJSON *j, int64_t max_filesize, sd_commit_body *out, sd_status *st)
{
    sd_commit_req *q = &out->req;
    int64_t nparts = 0;
    memset(out, 0, sizeof *out);
    if (opt_int(j, "size", &q->size, 0, INT64_C(1) << 60, 1, st) || req_str(j, "sha256", &q->sha256, 64, st) ||
        opt_int(j, "duration_ms", &q->duration_ms, 0, INT64_C(1) << 50, 0, st) ||
        opt_int(j, "raw_size", &q->raw_size, 0, INT64_C(1) << 60, 0, st) ||
        opt_str(j, "database", &q->database, 1000, st))
        return -1;
    q->has_raw_size = cJSON_GetObjectItemCaseSensitive(j, "raw_size") != NULL;
    if (q->size > max_filesize)
        return sd_fail(st, SD_TOO_LARGE, "backup is larger than max_filesize");
    if (!is_hex64(q->sha256))
        return invalid(st, "field 'sha256' must be 64 lowercase hex digits");
    if (q->database && sd_url_has_password(q->database))
        return invalid(st, "field 'database' must be a redacted URL (no password)");
    const cJSON *src = cJSON_GetObjectItemCaseSensitive(j, "source_type");
    q->source_type = cJSON_IsString(src) ? src->valuestring : NULL;
    const cJSON *parts = cJSON_GetObjectItemCaseSensitive(j, "parts");
    if (cJSON_IsArray(parts)) {
        nparts = cJSON_GetArraySize(parts);
        q->parts_listed = 1;
    } else if (opt_int(j, "parts", &nparts, 0, SD_MAX_PARTS, 1, st)) {
        return -1;
    }
    if (nparts > SD_MAX_PARTS)
        return invalid(st, "at most %d parts", SD_MAX_PARTS);
    q->nparts = (int)nparts;
    /* "contents" (since drills): what the backup holds, for its manifest; checked by the service */
    const cJSON *contents = cJSON_GetObjectItemCaseSensitive(j, "contents");
    if (contents && !cJSON_IsNull(contents)) {
        if (!cJSON_IsObject(contents))
            return invalid(st, "field 'contents' must be an object");
        if (!(out->contents = cJSON_PrintUnformatted(contents)))
            return sd_fail(st, SD_INTERNAL, "out of memory");
        q->contents = out->contents;
    }
    return q->parts_listed ? decode_etags(parts, out, st) : 0;
}

void sd_commit_body_free(sd_commit_body *b)
{
    free(b->etags);
    b->etags = NULL;
    free(b->contents);
    b->contents = NULL;
}

int sd_decode_fail(const cJSON *j, const char **code, const char **message, char msg[1001], sd_status *st)
{
    *message = NULL;
    if (req_str(j, "code", code, 64, st))
        return -1;
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(j, "message");
    if (m && !cJSON_IsNull(m) && !cJSON_IsString(m))
        return invalid(st, "field 'message' must be a string");
    if (cJSON_IsString(m)) {
        snprintf(msg, 1001, "%s", m->valuestring);
        sd_text_clean(msg); /* shown by `dumperd backups` on a terminal and in the dashboard */
        *message = msg;
    }
    return 0;
}

int sd_decode_retention(const cJSON *j, sd_retention *out)
{
    int64_t v[4];
    static const char *k[] = {"keep_last", "daily", "weekly", "monthly"};
    for (int i = 0; i < 4; i++) {
        const cJSON *x = cJSON_GetObjectItemCaseSensitive(j, k[i]);
        v[i] = 0;
        if (!x || cJSON_IsNull(x))
            continue;
        if (!cJSON_IsNumber(x) || x->valuedouble < 0 || x->valuedouble > 100000 ||
            x->valuedouble != (double)(int64_t)x->valuedouble)
            return -1;
        v[i] = (int64_t)x->valuedouble;
    }
    *out = (sd_retention){v[0], v[1], v[2], v[3]};
    return 0;
}

int sd_decode_drill_report(const cJSON *j, int64_t *agent, const cJSON **result, sd_status *st)
{
    if (req_id(j, "agent_id", 'a', agent, st))
        return -1;
    *result = cJSON_GetObjectItemCaseSensitive(j, "result");
    if (!cJSON_IsObject(*result))
        return invalid(st, "field 'result' must be the drill's JSON object");
    return 0;
}
