/* job.c - the job process's side of a backup: prepare, stream parts, commit or fail (see job.h). */
#include "agent/job.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "agent/client.h"
#include "core/dburl.h"
#include "core/log.h"
#include "core/util.h"
#include "crypto/age.h"
#include "io/filter.h"
#include "io/pipeline.h"
#include "job/backup.h"
#include "job/manifest.h"
#include "storage/s3_upload.h"

_Static_assert(DP_JOB_LIMIT_RATE_MAX == DP_RATE_MAX, "the job spec's limit_rate bound is the pipeline's");

typedef struct job_ctx {
    const dp_job_spec *spec;
    dp_client *client;
    char backup_id[DP_API_ID_MAX];
    char *part_url; /* template with "{n}" */
    int s3;
    uint64_t max_part_size, max_parts;
    const dp_manifest *m; /* the finished stream's, set before the upload is committed */
    int nparts;           /* parts committed */
} job_ctx;

/* POST json to path (on h: a worker's handle; NULL: the client's), with the client's retries on
 * network errors and 5xx. *out gets the 200 body parsed. */
static int api_json(job_ctx *j, dp_http *h, const char *what, const char *path, cJSON *body, cJSON **out, dp_err *err)
{
    char *json = cJSON_PrintUnformatted(body);
    if (!json)
        return dp_err_set(err, DUMPER_ENOMEM, "out of memory");
    dp_http_resp resp = {0};
    int rc = dp_client_post(j->client, h, path, json, &resp, err);
    if (!rc && resp.status == 200) {
        *out = cJSON_ParseWithLength(resp.body.data, resp.body.len);
        if (!cJSON_IsObject(*out)) {
            cJSON_Delete(*out);
            *out = NULL;
            rc = dp_err_set(err, DUMPER_EPROTO, "%s: the control plane sent an invalid answer", what);
        }
    } else if (!rc) {
        char msg[256];
        dp_proto_error_message(resp.body.data, resp.body.len, msg, sizeof msg);
        int code = resp.status == 401 ? DUMPER_EAUTH : resp.status == 413 ? DUMPER_ETOOLARGE : DUMPER_EPROTO;
        rc = dp_err_set(err, code, "%s refused by the control plane: HTTP %ld%s%s", what, resp.status,
                        msg[0] ? ": " : "", msg);
    }
    dp_http_resp_free(&resp);
    free(json);
    return rc;
}

/* ---- the upload: dp_s3_upload's callbacks ---- */

static char *part_url_for(const char *tmpl, uint64_t n)
{
    const char *p = strstr(tmpl, "{n}");
    if (!p)
        return NULL;
    return dp_asprintf("%.*s%llu%s", (int)(p - tmpl), tmpl, (unsigned long long)n, p + 3);
}

/* S3: a fresh presigned URL for part n, asked for on the calling worker's handle. */
static int presign(job_ctx *j, dp_http *h, int n, char **url, dp_err *err)
{
    char *path = j->part_url ? part_url_for(j->part_url, (uint64_t)n)
                             : dp_asprintf(DP_API_PREFIX "/backups/%s/parts/%d/presign", j->backup_id, n);
    cJSON *body = cJSON_CreateObject(), *out = NULL;
    int rc = path && body ? api_json(j, h, "presigning a part", path, body, &out, err)
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

static int job_part(void *ctx, dp_http *h, int n, const void *data, size_t len, const char *md5, char **url,
                    struct curl_slist **hdrs, dp_err *err)
{
    job_ctx *j = ctx;
    if (j->s3)
        return presign(j, h, n, url, err); /* a storage URL: no app key, no other header */
    char *path = part_url_for(j->part_url, (uint64_t)n);
    *url = path ? dp_client_url(j->client, path) : NULL;
    free(path);
    if (!*url || dp_client_headers(j->client, *url, "application/octet-stream", hdrs))
        return dp_err_set(err, DUMPER_ENOMEM, "out of memory");
    char sha[65], line[96];
    dp_sha256_hex(data, len, sha);
    snprintf(line, sizeof line, "X-Dumper-Part-Sha256: %s", sha);
    struct curl_slist *t = curl_slist_append(*hdrs, line);
    if (!t)
        return dp_err_set(err, DUMPER_ENOMEM, "out of memory");
    *hdrs = t;
    return 0;
}

static int job_part_error(void *ctx, int n, long status, const char *body, size_t len, dp_err *err)
{
    job_ctx *j = ctx;
    char what[48];
    snprintf(what, sizeof what, "upload of part %d", n);
    if (j->s3) /* the storage's own error document */
        return dp_s3_error_from_response(status, body, len, what, err);
    char msg[256];
    dp_proto_error_message(body, len, msg, sizeof msg);
    int rc = status == 413 ? DUMPER_ETOOLARGE : status == 401 || status == 403 ? DUMPER_EAUTH : DUMPER_ESTORAGE;
    return dp_err_set(err, rc, "%s refused: HTTP %ld%s%s", what, status, msg[0] ? ": " : "", msg);
}

/* What the backup holds (the manifest's "contents", for dumperd's manifest: drills compare with it), when it
 * fits the commit's body (2 MiB with room for 10,000 S3 ETags); else left out with a warning: the backup is
 * good anyway, and its drills restore without comparing. */
#define DP_JOB_CONTENTS_MAX (1024 * 1024)
static void add_contents(cJSON *body, const dp_manifest *m)
{
    char *mj = dp_manifest_to_json(m), *cj = NULL;
    cJSON *mo = mj ? cJSON_Parse(mj) : NULL;
    cJSON *c = mo ? cJSON_DetachItemFromObjectCaseSensitive(mo, "contents") : NULL;
    if (c && (cj = cJSON_PrintUnformatted(c)) && strlen(cj) <= DP_JOB_CONTENTS_MAX &&
        cJSON_AddItemToObject(body, "contents", c))
        c = NULL;
    else
        dp_warn("backup %s: what it holds is not sent to the control plane (%s): its drills will not compare",
                m->name ? m->name : "?", cj ? "over 1 MiB" : "out of memory");
    cJSON_Delete(c);
    cJSON_Delete(mo);
    free(cj);
    free(mj);
}

/* The upload's completion is the backup's commit at dumperd. */
static int job_complete(void *ctx, int nparts, char *const *etags, const uint64_t *sizes, uint64_t total,
                        dp_err *err)
{
    job_ctx *j = ctx;
    const dp_manifest *m = j->m;
    char *path = dp_asprintf(DP_API_PREFIX "/backups/%s/commit", j->backup_id);
    cJSON *body = cJSON_CreateObject(), *out = NULL, *parts = NULL;
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
    if (m->contents.known)
        add_contents(body, m);
    if (j->s3) {
        if (!(parts = cJSON_AddArrayToObject(body, "parts"))) {
            rc = dp_err_set(err, DUMPER_ENOMEM, "out of memory");
            goto cleanup;
        }
        for (int i = 0; i < nparts; i++) {
            cJSON *o = cJSON_CreateObject();
            if (!o || !cJSON_AddItemToArray(parts, o) || !cJSON_AddNumberToObject(o, "n", i + 1) ||
                !cJSON_AddNumberToObject(o, "size", (double)sizes[i]) || !cJSON_AddStringToObject(o, "etag", etags[i])) {
                rc = dp_err_set(err, DUMPER_ENOMEM, "out of memory");
                goto cleanup;
            }
        }
    } else if (!cJSON_AddNumberToObject(body, "parts", nparts)) {
        rc = dp_err_set(err, DUMPER_ENOMEM, "out of memory");
        goto cleanup;
    }
    if ((rc = api_json(j, NULL, "backup commit", path, body, &out, err)))
        goto cleanup;
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(out, "status");
    if (!cJSON_IsString(st) || strcmp(st->valuestring, "good") != 0)
        rc = dp_err_set(err, DUMPER_EPROTO, "backup commit: the control plane did not mark the backup good");
    else
        j->nparts = nparts;
cleanup:
    cJSON_Delete(out);
    cJSON_Delete(body);
    free(path);
    return rc;
}

static const dp_s3_upload_ops upload_ops = {.part = job_part, .part_error = job_part_error, .complete = job_complete};

/* ---- the job ---- */

static void report_fail(job_ctx *j, int code, const char *msg)
{
    char *path = dp_asprintf(DP_API_PREFIX "/backups/%s/fail", j->backup_id);
    cJSON *body = cJSON_CreateObject(), *out = NULL;
    dp_err e = {0};
    if (path && body && cJSON_AddStringToObject(body, "code", dp_proto_fail_code(code)) &&
        cJSON_AddStringToObject(body, "message", msg) && !api_json(j, NULL, "reporting the failure", path, body, &out, &e))
        dp_info("backup %s reported as failed (%s)", j->backup_id, dp_proto_fail_code(code));
    else
        dp_error("unable to report the failure of backup %s: %s", j->backup_id, e.msg[0] ? e.msg : "out of memory");
    cJSON_Delete(out);
    cJSON_Delete(body);
    free(path);
}

/* With recipients: "encryption": "age" and the recipients, so that dumperd records them (and refuses a
 * plaintext backup for an app that has recipients). */
static int add_encryption(cJSON *body, const dp_job_spec *s)
{
    if (!s->nrecipients)
        return 1;
    cJSON *arr = cJSON_AddArrayToObject(body, "recipients");
    if (!arr || !cJSON_AddStringToObject(body, "encryption", "age"))
        return 0;
    for (int i = 0; i < s->nrecipients; i++) {
        cJSON *k = cJSON_CreateString(s->recipients[i]);
        if (!k || !cJSON_AddItemToArray(arr, k)) {
            cJSON_Delete(k);
            return 0;
        }
    }
    return 1;
}

static int prepare(job_ctx *j, const char *format, dp_codec codec, uint64_t *max_filesize, dp_err *err)
{
    const char *ext = dp_codec_ext(codec);
    char *extension = dp_asprintf("%s%s%s%s", format, *ext ? "." : "", ext,
                                  j->spec->nrecipients ? DP_BACKUP_AGE_SUFFIX : "");
    cJSON *body = cJSON_CreateObject(), *out = NULL;
    int rc = 0;
    if (!extension || !body || !cJSON_AddStringToObject(body, "agent_id", j->spec->agent_id) ||
        !cJSON_AddStringToObject(body, "job_id", j->spec->job_id) || !cJSON_AddStringToObject(body, "format", format) ||
        !cJSON_AddStringToObject(body, "compression", dp_codec_name(codec)) ||
        !cJSON_AddStringToObject(body, "extension", extension) || !add_encryption(body, j->spec)) {
        rc = dp_err_set(err, DUMPER_ENOMEM, "out of memory");
        goto cleanup;
    }
    if ((rc = api_json(j, NULL, "backup prepare", DP_API_PREFIX "/backups/prepare", body, &out, err)))
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

int dp_job_run(const dp_job_spec *spec, dp_err *err)
{
    if (spec->kind == DP_JOB_DRILL)
        return dp_drill_job_run(spec, err);
    job_ctx j = {.spec = spec, .max_part_size = spec->max_part_size, .max_parts = spec->max_parts};
    dp_dburl url;
    dp_sink *up = NULL;
    dp_stop stop; /* SIGINT/SIGTERM (dp_interrupted) abort a request in flight */
    dp_stop_init(&stop, 1);
    dp_manifest m;
    memset(&m, 0, sizeof m);
    dp_age_recipient recipients[DP_JOB_MAX_RECIPIENTS];
    int rc = dp_dburl_parse(spec->db_url, &url, err);
    if (rc) {
        dp_stop_destroy(&stop);
        return rc;
    }
    char *red = dp_dburl_redacted(&url);
    dp_info("job %s: backup of %s (%s)", spec->job_id, red ? red : "?", spec->reason ? spec->reason : "job");
    dp_source_opts src = {.format = spec->format, .custom_options = spec->custom_options};
    const dp_source_driver *drv = dp_source_for(url.type);
    const char *format = NULL;
    uint64_t max_filesize = spec->max_filesize;
    dp_client_opts co = {.api_base = spec->api_base, .app_key = spec->app_key, .ca_file = spec->ca_file,
                         .proxy = spec->proxy, .insecure = spec->insecure, .timeout_ms = 60000, .stop = &stop,
                         .max_attempts = DP_JOB_ATTEMPTS, .retry_log_level = DP_LOG_WARN};
    if (!(j.client = dp_client_new(&co))) {
        rc = dp_err_set(err, DUMPER_ENOMEM, "unable to initialise libcurl");
        goto cleanup;
    }
    if (!drv) {
        rc = dp_err_set(err, DUMPER_EUNSUPPORTED, "no driver for %s", dp_db_type_name(url.type));
        goto cleanup;
    }
    /* the agent checked their form; the key itself (checksum, curve point) is checked here, before any byte */
    for (int i = 0; i < spec->nrecipients; i++) {
        char what[32];
        snprintf(what, sizeof what, "job recipient %d", i + 1);
        if ((rc = dp_age_recipient_parse(spec->recipients[i], what, &recipients[i], err))) {
            dp_err_prefix(err, "job %s", spec->job_id);
            goto cleanup; /* nothing prepared: the job lease lapses at dumperd */
        }
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
    /* one part fills while the previous one uploads: two parts of memory at most */
    char what[DP_API_ID_MAX + 8];
    snprintf(what, sizeof what, "backup %s", j.backup_id);
    dp_s3_upload_opts uo = {.part_size = DP_JOB_PART_SIZE, .max_part_size = j.max_part_size,
                            .max_parts = j.max_parts && j.max_parts < DP_S3_MAX_PARTS ? (int)j.max_parts : 0,
                            .parallel = 1, .no_content_md5 = !j.s3, .no_etag = !j.s3,
                            .http = *dp_client_http_opts(j.client), .what = what};
    /* a part of 64 MiB at a slow 1 MiB/s still fits; a stalled transfer is cut by the stall timeout */
    uo.http.timeout_ms = 600000;
    if ((rc = dp_s3_upload_new(&uo, &upload_ops, &j, &up, err)))
        goto report;
    m.created_ms = dp_now_ms();
    if ((rc = dp_backup_stream_age(&url, drv, &src, DP_CODEC_ZSTD, 0, recipients, (size_t)spec->nrecipients,
                                   max_filesize, spec->limit_rate, NULL, NULL, up, &m, err)))
        goto report;
    j.m = &m;
    if ((rc = dp_sink_commit(up, err)))
        goto report;
    struct rusage ru;
    long peak_kib = getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_maxrss : 0;
    dp_info("job %s: backup %s committed: %llu bytes in %d part%s, %lld ms, peak RSS %ld KiB", spec->job_id,
            j.backup_id, (unsigned long long)m.size, j.nparts, j.nparts == 1 ? "" : "s", (long long)m.duration_ms,
            peak_kib);
    goto cleanup;
report:
    dp_sink_abort(up); /* no part upload goes on after the failure is reported */
    if (red && err->code != DUMPER_EPROTO)
        dp_err_prefix(err, "backup of '%s' failed", red);
    if (j.backup_id[0])
        report_fail(&j, rc, err->msg);
cleanup:
    dp_sink_free(up);
    dp_manifest_free(&m);
    dp_client_free(j.client);
    dp_stop_destroy(&stop);
    free(j.part_url);
    free(red);
    dp_dburl_free(&url);
    return rc;
}
