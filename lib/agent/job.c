/* job.c - the job process's side of a backup: prepare, stream parts, commit or fail (see job.h). */
#include "agent/job.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent/client.h"
#include "core/dburl.h"
#include "core/log.h"
#include "core/util.h"
#include "io/filter.h"
#include "io/pipeline.h"
#include "job/backup.h"

_Static_assert(DP_JOB_LIMIT_RATE_MAX == DP_RATE_MAX, "the job spec's limit_rate bound is the pipeline's");

uint64_t dp_job_part_size(uint64_t n, uint64_t initial, uint64_t max)
{
    uint64_t s = initial ? initial : DP_JOB_PART_SIZE;
    for (uint64_t k = 250; k < n && s < max; k += 250)
        s *= 2;
    return max && s > max ? max : s;
}

typedef struct job_ctx {
    const dp_job_spec *spec;
    dp_client *client;
    char backup_id[DP_API_ID_MAX];
    char *part_url; /* template with "{n}" */
    int s3;
    uint64_t max_part_size, max_parts;
} job_ctx;

static void sleep_ms(int64_t ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && !dp_interrupted)
        ;
}

static int retryable(long status) { return status == 408 || status == 429 || status >= 500; }

/* POST json to path with retries on network errors and 5xx. *out gets the 200 body parsed. */
static int api_json(job_ctx *j, const char *what, const char *path, cJSON *body, cJSON **out, dp_err *err)
{
    char *json = cJSON_PrintUnformatted(body);
    if (!json)
        return dp_err_set(err, DUMPER_ENOMEM, "out of memory");
    dp_buf resp = {0};
    int rc = 0;
    for (int attempt = 0;; attempt++) {
        dp_err e = {0};
        long status = 0;
        dp_http_req r = {.method = "POST", .path = path, .json = json};
        rc = dp_client_do(j->client, &r, &status, &resp, &e);
        if (!rc && status == 200) {
            *out = cJSON_ParseWithLength(resp.data, resp.len);
            if (!cJSON_IsObject(*out)) {
                cJSON_Delete(*out);
                *out = NULL;
                rc = dp_err_set(err, DUMPER_EPROTO, "%s: the control plane sent an invalid answer", what);
            }
            break;
        }
        int again = rc ? rc != DUMPER_EINTR : retryable(status);
        if (!rc) {
            char msg[256];
            dp_proto_error_message(resp.data, resp.len, msg, sizeof msg);
            int code = status == 401 ? DUMPER_EAUTH : status == 413 ? DUMPER_ETOOLARGE : DUMPER_EPROTO;
            e.code = 0;
            dp_err_set(&e, code, "%s refused by the control plane: HTTP %ld%s%s", what, status, msg[0] ? ": " : "", msg);
            rc = code;
        }
        if (!again || attempt + 1 >= DP_JOB_PART_ATTEMPTS || dp_interrupted) {
            *err = e;
            break;
        }
        dp_warn("%s; retrying", e.msg);
        sleep_ms((int64_t)dp_backoff_ms((unsigned)attempt, 1000, 30000, (uint32_t)rand()));
    }
    dp_buf_free(&resp);
    free(json);
    return rc;
}

/* ---- upload sink: numbered parts, one part buffered ---- */

typedef struct part_sink {
    dp_sink base;
    job_ctx *j;
    dp_buf part;
    uint64_t n;         /* parts uploaded */
    uint64_t cur_size;  /* size of the part being filled */
    cJSON *etags;       /* S3: [{"n":..,"size":..,"etag":..}] */
} part_sink;

static char *part_url_for(const char *tmpl, uint64_t n)
{
    const char *p = strstr(tmpl, "{n}");
    if (!p)
        return NULL;
    return dp_asprintf("%.*s%llu%s", (int)(p - tmpl), tmpl, (unsigned long long)n, p + 3);
}

static int presign(job_ctx *j, uint64_t n, char **url, dp_err *err)
{
    char *path = j->part_url ? part_url_for(j->part_url, n)
                             : dp_asprintf(DP_API_PREFIX "/backups/%s/parts/%llu/presign", j->backup_id,
                                           (unsigned long long)n);
    cJSON *body = cJSON_CreateObject(), *out = NULL;
    int rc = path && body ? api_json(j, "presigning a part", path, body, &out, err)
                          : dp_err_set(err, DUMPER_ENOMEM, "out of memory");
    const cJSON *u = cJSON_GetObjectItemCaseSensitive(out, "url");
    if (!rc && !(cJSON_IsString(u) && (strncmp(u->valuestring, "http://", 7) == 0 ||
                                       strncmp(u->valuestring, "https://", 8) == 0)))
        rc = dp_err_set(err, DUMPER_EPROTO, "presigning a part: the control plane sent no URL");
    if (!rc && !(*url = strdup(u->valuestring)))
        rc = dp_err_set(err, DUMPER_ENOMEM, "out of memory");
    cJSON_Delete(out);
    cJSON_Delete(body);
    free(path);
    return rc;
}

static int upload_part(part_sink *ps, dp_err *err)
{
    job_ctx *j = ps->j;
    uint64_t n = ps->n + 1;
    if (j->max_parts && n > j->max_parts)
        return dp_err_set(err, DUMPER_ETOOLARGE, "backup needs more than %llu parts", (unsigned long long)j->max_parts);
    char sha[65], hdr[96];
    dp_sha256_hex(ps->part.data ? ps->part.data : "", ps->part.len, sha);
    snprintf(hdr, sizeof hdr, "X-Dumper-Part-Sha256: %s", sha);
    char etag[256] = "";
    int rc = 0;
    for (int attempt = 0;; attempt++) {
        dp_err e = {0};
        char *url = NULL;
        if (j->s3)
            rc = presign(j, n, &url, &e);
        else if (!(url = part_url_for(j->part_url, n)))
            rc = dp_err_set(&e, DUMPER_ENOMEM, "out of memory");
        long status = 0;
        dp_buf resp = {0};
        if (!rc) {
            /* a part of 64 MiB at a slow 1 MiB/s still fits; a stalled transfer is cut by the low-speed limit */
            dp_http_req r = {.method = "PUT", .path = url, .raw = ps->part.data ? ps->part.data : "",
                             .rawlen = ps->part.len, .extra_header = j->s3 ? NULL : hdr, .timeout_ms = 600000,
                             .etag = etag, .etag_len = sizeof etag};
            rc = dp_client_do(j->client, &r, &status, &resp, &e);
        }
        free(url);
        int again = rc ? (rc != DUMPER_EINTR && rc != DUMPER_ENOMEM) : retryable(status);
        if (!rc && status >= 200 && status < 300) {
            dp_buf_free(&resp);
            break;
        }
        if (!rc) {
            char msg[256];
            dp_proto_error_message(resp.data, resp.len, msg, sizeof msg);
            rc = status == 413 ? DUMPER_ETOOLARGE : status == 401 || status == 403 ? DUMPER_EAUTH : DUMPER_ESTORAGE;
            dp_err_set(&e, rc, "upload of part %llu refused: HTTP %ld%s%s", (unsigned long long)n, status,
                       msg[0] ? ": " : "", msg);
        }
        dp_buf_free(&resp);
        if (!again || attempt + 1 >= DP_JOB_PART_ATTEMPTS || dp_interrupted) {
            *err = e;
            return rc;
        }
        dp_warn("%s; retrying part %llu", e.msg, (unsigned long long)n);
        rc = 0;
        sleep_ms((int64_t)dp_backoff_ms((unsigned)attempt, 1000, 30000, (uint32_t)rand()));
    }
    if (j->s3) {
        cJSON *o = cJSON_CreateObject();
        if (!o || !cJSON_AddItemToArray(ps->etags, o) || !cJSON_AddNumberToObject(o, "n", (double)n) ||
            !cJSON_AddNumberToObject(o, "size", (double)ps->part.len) || !cJSON_AddStringToObject(o, "etag", etag))
            return dp_err_set(err, DUMPER_ENOMEM, "out of memory");
    }
    dp_debug("part %llu uploaded (%zu bytes)", (unsigned long long)n, ps->part.len);
    ps->n = n;
    dp_buf_reset(&ps->part);
    ps->cur_size = dp_job_part_size(n + 1, DP_JOB_PART_SIZE, j->max_part_size);
    return 0;
}

static int part_write(dp_sink *s, const void *p, size_t len, dp_err *err)
{
    part_sink *ps = (part_sink *)s;
    const char *c = p;
    if (ps->part.cap < ps->cur_size + 1) {
        /* exactly one part (+ the NUL dp_buf keeps), not the next power of two */
        char *d = realloc(ps->part.data, (size_t)ps->cur_size + 1);
        if (!d)
            return dp_err_set(err, DUMPER_ENOMEM, "out of memory buffering a part");
        ps->part.data = d;
        ps->part.cap = (size_t)ps->cur_size + 1;
    }
    while (len) {
        size_t room = (size_t)(ps->cur_size - ps->part.len);
        size_t k = len < room ? len : room;
        if (dp_buf_append(&ps->part, c, k) < 0)
            return dp_err_set(err, DUMPER_ENOMEM, "out of memory buffering a part");
        c += k;
        len -= k;
        if (ps->part.len >= ps->cur_size) {
            int rc = upload_part(ps, err);
            if (rc)
                return rc;
        }
    }
    return 0;
}

static int part_end(dp_sink *s, dp_err *err)
{
    part_sink *ps = (part_sink *)s;
    if (ps->part.len || ps->n == 0)
        return upload_part(ps, err);
    return 0;
}

static void part_destroy(dp_sink *s)
{
    part_sink *ps = (part_sink *)s;
    dp_buf_free(&ps->part);
    cJSON_Delete(ps->etags);
}

static const dp_sink_ops part_ops = {.name = "upload", .write = part_write, .end = part_end, .destroy = part_destroy};

/* ---- the job ---- */

static void report_fail(job_ctx *j, int code, const char *msg)
{
    char *path = dp_asprintf(DP_API_PREFIX "/backups/%s/fail", j->backup_id);
    cJSON *body = cJSON_CreateObject(), *out = NULL;
    dp_err e = {0};
    if (path && body && cJSON_AddStringToObject(body, "code", dp_proto_fail_code(code)) &&
        cJSON_AddStringToObject(body, "message", msg) && !api_json(j, "reporting the failure", path, body, &out, &e))
        dp_info("backup %s reported as failed (%s)", j->backup_id, dp_proto_fail_code(code));
    else
        dp_error("unable to report the failure of backup %s: %s", j->backup_id, e.msg[0] ? e.msg : "out of memory");
    cJSON_Delete(out);
    cJSON_Delete(body);
    free(path);
}

static int prepare(job_ctx *j, const char *format, dp_codec codec, uint64_t *max_filesize, dp_err *err)
{
    const char *ext = dp_codec_ext(codec);
    char *extension = dp_asprintf("%s%s%s", format, *ext ? "." : "", ext);
    cJSON *body = cJSON_CreateObject(), *out = NULL;
    int rc = 0;
    if (!extension || !body || !cJSON_AddStringToObject(body, "agent_id", j->spec->agent_id) ||
        !cJSON_AddStringToObject(body, "job_id", j->spec->job_id) || !cJSON_AddStringToObject(body, "format", format) ||
        !cJSON_AddStringToObject(body, "compression", dp_codec_name(codec)) ||
        !cJSON_AddStringToObject(body, "extension", extension)) {
        rc = dp_err_set(err, DUMPER_ENOMEM, "out of memory");
        goto cleanup;
    }
    if ((rc = api_json(j, "backup prepare", DP_API_PREFIX "/backups/prepare", body, &out, err)))
        goto cleanup;
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(out, "backup_id");
    const cJSON *up = cJSON_GetObjectItemCaseSensitive(out, "upload");
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(up, "kind");
    const cJSON *purl = cJSON_GetObjectItemCaseSensitive(up, "part_url");
    const cJSON *psurl = cJSON_GetObjectItemCaseSensitive(up, "presign_url");
    const cJSON *mfs = cJSON_GetObjectItemCaseSensitive(out, "max_filesize");
    const cJSON *mps = cJSON_GetObjectItemCaseSensitive(up, "max_part_size");
    const cJSON *mpn = cJSON_GetObjectItemCaseSensitive(up, "max_parts");
    if (!cJSON_IsString(id) || !dp_proto_valid_id(id->valuestring) || !cJSON_IsString(kind)) {
        rc = dp_err_set(err, DUMPER_EPROTO, "backup prepare: the control plane sent an invalid answer");
        goto cleanup;
    }
    memcpy(j->backup_id, id->valuestring, strlen(id->valuestring) + 1);
    if (strcmp(kind->valuestring, "s3") == 0) {
        j->s3 = 1;
        /* parts (8 MiB and up) already exceed S3's 5 MiB minimum; the template is optional */
        if (cJSON_IsString(psurl) && strstr(psurl->valuestring, "{n}") && psurl->valuestring[0] == '/' &&
            !(j->part_url = strdup(psurl->valuestring))) {
            rc = dp_err_set(err, DUMPER_ENOMEM, "out of memory");
            goto cleanup;
        }
    } else if (strcmp(kind->valuestring, "local") == 0 && cJSON_IsString(purl) && strstr(purl->valuestring, "{n}") &&
               (purl->valuestring[0] == '/' || strncmp(purl->valuestring, "http", 4) == 0)) {
        if (!(j->part_url = strdup(purl->valuestring))) {
            rc = dp_err_set(err, DUMPER_ENOMEM, "out of memory");
            goto cleanup;
        }
    } else {
        rc = dp_err_set(err, DUMPER_EPROTO, "backup prepare: unknown upload target '%.32s'", kind->valuestring);
        goto cleanup;
    }
    /* (a double over UINT64_MAX, 1e300, converted to an integer is undefined behaviour: such limits are ignored) */
    if (cJSON_IsNumber(mfs) && mfs->valuedouble >= 1 && mfs->valuedouble <= 9.0e15 &&
        (!*max_filesize || (uint64_t)mfs->valuedouble < *max_filesize))
        *max_filesize = (uint64_t)mfs->valuedouble;
    if (cJSON_IsNumber(mps) && mps->valuedouble >= 1024 && mps->valuedouble <= 9.0e15 &&
        (!j->max_part_size || (uint64_t)mps->valuedouble < j->max_part_size))
        j->max_part_size = (uint64_t)mps->valuedouble;
    if (cJSON_IsNumber(mpn) && mpn->valuedouble >= 1 && mpn->valuedouble <= 9.0e15)
        j->max_parts = (uint64_t)mpn->valuedouble;
cleanup:
    cJSON_Delete(out);
    cJSON_Delete(body);
    free(extension);
    return rc;
}

static int commit(job_ctx *j, const dp_manifest *m, part_sink *ps, dp_err *err)
{
    char *path = dp_asprintf(DP_API_PREFIX "/backups/%s/commit", j->backup_id);
    cJSON *body = cJSON_CreateObject(), *out = NULL;
    int rc = 0;
    if (!path || !body || !cJSON_AddNumberToObject(body, "size", (double)m->size) ||
        !cJSON_AddStringToObject(body, "sha256", m->sha256) ||
        !cJSON_AddNumberToObject(body, "duration_ms", (double)m->duration_ms) ||
        !cJSON_AddNumberToObject(body, "raw_size", (double)m->raw_size) ||
        !cJSON_AddStringToObject(body, "source_type", m->source_type) ||
        !cJSON_AddStringToObject(body, "database", m->database)) {
        rc = dp_err_set(err, DUMPER_ENOMEM, "out of memory");
        goto cleanup;
    }
    if (j->s3) {
        cJSON_AddItemToObject(body, "parts", ps->etags);
        ps->etags = NULL;
    } else {
        cJSON_AddNumberToObject(body, "parts", (double)ps->n);
    }
    if ((rc = api_json(j, "backup commit", path, body, &out, err)))
        goto cleanup;
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(out, "status");
    if (!cJSON_IsString(st) || strcmp(st->valuestring, "good") != 0)
        rc = dp_err_set(err, DUMPER_EPROTO, "backup commit: the control plane did not mark the backup good");
cleanup:
    cJSON_Delete(out);
    cJSON_Delete(body);
    free(path);
    return rc;
}

int dp_job_run(const dp_job_spec *spec, dp_err *err)
{
    job_ctx j = {.spec = spec, .max_part_size = spec->max_part_size, .max_parts = spec->max_parts};
    dp_dburl url;
    part_sink *ps = NULL;
    dp_manifest m;
    memset(&m, 0, sizeof m);
    int rc = dp_dburl_parse(spec->db_url, &url, err);
    if (rc)
        return rc;
    char *red = dp_dburl_redacted(&url);
    dp_info("job %s: backup of %s (%s)", spec->job_id, red ? red : "?", spec->reason ? spec->reason : "job");
    dp_source_opts src = {.format = spec->format, .custom_options = spec->custom_options};
    const dp_source_driver *drv = dp_source_for(url.type);
    const char *format = NULL;
    uint64_t max_filesize = spec->max_filesize;
    dp_client_opts co = {.api_base = spec->api_base, .app_key = spec->app_key, .ca_file = spec->ca_file,
                         .proxy = spec->proxy, .insecure = spec->insecure, .timeout_ms = 60000};
    if (!(j.client = dp_client_new(&co))) {
        rc = dp_err_set(err, DUMPER_ENOMEM, "unable to initialise libcurl");
        goto cleanup;
    }
    if (!drv) {
        rc = dp_err_set(err, DUMPER_EUNSUPPORTED, "no driver for %s", dp_db_type_name(url.type));
        goto cleanup;
    }
    if ((rc = drv->resolve_format(&url, &src, &format, err)))
        goto report;
    if ((rc = prepare(&j, format, DP_CODEC_ZSTD, &max_filesize, err))) {
        dp_err_prefix(err, "job %s", spec->job_id);
        goto cleanup; /* no backup to report the failure on; the job lease lapses at dumperd */
    }
    dp_info("job %s: backup %s prepared (upload: %s)", spec->job_id, j.backup_id, j.s3 ? "s3" : "control plane");
    if (!(drv->features & DP_SOURCE_FEAT_BACKUP)) {
        rc = dp_err_set(err, DUMPER_EUNSUPPORTED, "%s backups are not supported", drv->name);
        goto report;
    }
    if (drv->check && (rc = drv->check(&url, &src, err)))
        goto report;
    if (!(ps = calloc(1, sizeof *ps)) || !(ps->etags = cJSON_CreateArray())) {
        rc = dp_err_set(err, DUMPER_ENOMEM, "out of memory");
        goto report;
    }
    dp_sink_init(&ps->base, &part_ops, NULL);
    ps->j = &j;
    ps->cur_size = dp_job_part_size(1, DP_JOB_PART_SIZE, j.max_part_size);
    m.created_ms = dp_now_ms();
    if ((rc = dp_backup_stream(&url, drv, &src, DP_CODEC_ZSTD, 0, max_filesize, spec->limit_rate, NULL, NULL,
                                 &ps->base, &m, err)))
        goto report;
    if ((rc = commit(&j, &m, ps, err)))
        goto report;
    dp_info("job %s: backup %s committed: %llu bytes in %llu part%s, %lld ms", spec->job_id, j.backup_id,
            (unsigned long long)m.size, (unsigned long long)ps->n, ps->n == 1 ? "" : "s", (long long)m.duration_ms);
    goto cleanup;
report:
    if (red && err->code != DUMPER_EPROTO)
        dp_err_prefix(err, "backup of '%s' failed", red);
    if (j.backup_id[0])
        report_fail(&j, rc, err->msg);
cleanup:
    if (ps)
        dp_sink_free(&ps->base);
    dp_manifest_free(&m);
    dp_client_free(j.client);
    free(j.part_url);
    free(red);
    dp_dburl_free(&url);
    return rc;
}
