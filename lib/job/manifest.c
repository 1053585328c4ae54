/* manifest.c - backup manifest (de)serialization with cJSON. */
#include "job/manifest.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "crypto/age.h"
#include "io/filter.h"

char *dp_manifest_to_json(const dp_manifest *m)
{
    char created[24];
    dp_stamp_rfc3339(m->created_ms, created);
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON_AddNumberToObject(o, "dumper_manifest", 1);
    cJSON_AddStringToObject(o, "name", m->name ? m->name : "");
    cJSON_AddStringToObject(o, "source_type", m->source_type ? m->source_type : "");
    cJSON_AddStringToObject(o, "format", m->format ? m->format : "");
    cJSON_AddStringToObject(o, "compression", m->compression ? m->compression : "none");
    cJSON_AddNumberToObject(o, "size", (double)m->size);
    cJSON_AddNumberToObject(o, "raw_size", (double)m->raw_size);
    cJSON_AddStringToObject(o, "sha256", m->sha256);
    cJSON_AddStringToObject(o, "created_at", created);
    cJSON_AddNumberToObject(o, "created_ms", (double)m->created_ms);
    cJSON_AddNumberToObject(o, "duration_ms", (double)m->duration_ms);
    cJSON_AddStringToObject(o, "dumper_version", m->dumper_version ? m->dumper_version : dumper_version());
    if (m->database)
        cJSON_AddStringToObject(o, "database", m->database);
    if (m->encryption) {
        cJSON_AddStringToObject(o, "encryption", m->encryption);
        cJSON *r = cJSON_AddArrayToObject(o, "recipients");
        for (size_t i = 0; r && i < m->nrecipients; i++)
            cJSON_AddItemToArray(r, cJSON_CreateString(m->recipients[i]));
    }
    char *s = cJSON_Print(o);
    cJSON_Delete(o);
    return s;
}

/* A required field: a non-empty string, else NULL. */
static const char *str_field(cJSON *o, const char *k)
{
    cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) && v->valuestring[0] ? v->valuestring : NULL;
}

/* An optional string field: 0 if absent or a string (*out NULL or the string), -1 otherwise. */
static int opt_str_field(cJSON *o, const char *k, const char **out)
{
    cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    *out = NULL;
    if (!v)
        return 0;
    if (!cJSON_IsString(v))
        return -1;
    *out = v->valuestring;
    return 0;
}

/* A non-negative integer below 2^53 (exact in a double). -1 if absent or anything else. */
static int num_field(cJSON *o, const char *k, uint64_t *out)
{
    cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= 0) || v->valuedouble > 9.0e15 ||
        v->valuedouble != (double)(uint64_t)v->valuedouble)
        return -1;
    *out = (uint64_t)v->valuedouble;
    return 0;
}

int dp_manifest_parse(const char *json, size_t len, const char *what, dp_manifest *m, dp_err *err)
{
    memset(m, 0, sizeof *m);
    const char *end = NULL;
    cJSON *o = cJSON_ParseWithLengthOpts(json, len, &end, 0);
    const char *why = NULL;
    if (!o || !cJSON_IsObject(o)) {
        why = "not a JSON object";
        goto bad;
    }
    /* one object and nothing after it but white space */
    for (; end && end < json + len; end++)
        if (!strchr(" \t\r\n", *end) || !*end) {
            why = "trailing data after the JSON object";
            goto bad;
        }
    uint64_t ver = 0, created = 0, dur = 0;
    if (num_field(o, "dumper_manifest", &ver) || ver != 1) {
        why = "unknown manifest version";
        goto bad;
    }
    const char *name = str_field(o, "name"), *type = str_field(o, "source_type"), *fmt = str_field(o, "format"),
               *comp = str_field(o, "compression"), *sha = str_field(o, "sha256"),
               *created_at = str_field(o, "created_at");
    if (!name || !type || !fmt || !comp || !sha || !created_at) {
        why = "missing field";
        goto bad;
    }
    if (dp_codec_parse(comp) < 0) {
        why = "unknown compression";
        goto bad;
    }
    if (strlen(sha) != 64) {
        why = "bad sha256";
        goto bad;
    }
    for (int i = 0; i < 64; i++)
        if (!isxdigit((unsigned char)sha[i]) || isupper((unsigned char)sha[i])) {
            why = "bad sha256";
            goto bad;
        }
    if (num_field(o, "size", &m->size) || num_field(o, "raw_size", &m->raw_size)) {
        why = "bad size";
        goto bad;
    }
    /* created_at is always checked; created_ms (optional) keeps the milliseconds */
    if ((m->created_ms = dp_parse_rfc3339(created_at)) < 0) {
        why = "bad created_at";
        goto bad;
    }
    if (cJSON_GetObjectItemCaseSensitive(o, "created_ms")) {
        /* before 10000-01-01: created_at, written from it, has a four-digit year (strptime's %Y reads
         * no more); a later time would give a manifest that does not read back */
        if (num_field(o, "created_ms", &created) || created >= DP_MANIFEST_MAX_CREATED_MS) {
            why = "bad created_ms";
            goto bad;
        }
        m->created_ms = (int64_t)created;
    }
    if (cJSON_GetObjectItemCaseSensitive(o, "duration_ms")) {
        if (num_field(o, "duration_ms", &dur)) {
            why = "bad duration_ms";
            goto bad;
        }
        m->duration_ms = (int64_t)dur;
    }
    const char *version = NULL, *database = NULL;
    if (opt_str_field(o, "dumper_version", &version) || opt_str_field(o, "database", &database)) {
        why = "bad dumper_version or database";
        goto bad;
    }
    /* encryption: "age" with 1..64 distinct X25519 recipients in their canonical form (they are shown
     * in messages, so nothing else may pass) */
    cJSON *enc = cJSON_GetObjectItemCaseSensitive(o, "encryption"),
          *recips = cJSON_GetObjectItemCaseSensitive(o, "recipients");
    if (enc || recips) {
        int n = cJSON_GetArraySize(recips);
        if (!cJSON_IsString(enc) || strcmp(enc->valuestring, "age") != 0) {
            why = "unknown encryption";
            goto bad;
        }
        if (!cJSON_IsArray(recips) || n < 1 || n > DP_MANIFEST_MAX_RECIPIENTS) {
            why = "bad recipients";
            goto bad;
        }
        if (!(m->recipients = calloc((size_t)n, sizeof *m->recipients)))
            goto oom;
        cJSON *it;
        cJSON_ArrayForEach(it, recips)
        {
            dp_age_recipient r;
            dp_err ignore = {0};
            if (!cJSON_IsString(it) || dp_age_recipient_parse(it->valuestring, "recipient", &r, &ignore) ||
                strcmp(r.str, it->valuestring) != 0) {
                why = "bad recipients";
                goto bad;
            }
            for (size_t k = 0; k < m->nrecipients; k++)
                if (!strcmp(m->recipients[k], r.str)) {
                    why = "bad recipients";
                    goto bad;
                }
            if (!(m->recipients[m->nrecipients] = strdup(r.str)))
                goto oom;
            m->nrecipients++;
        }
        if (!(m->encryption = strdup("age")))
            goto oom;
    }
    memcpy(m->sha256, sha, 65);
    m->name = strdup(name);
    m->source_type = strdup(type);
    m->format = strdup(fmt);
    m->compression = strdup(comp);
    m->dumper_version = dp_strdup(version);
    m->database = dp_strdup(database);
    cJSON_Delete(o);
    if (!m->name || !m->source_type || !m->format || !m->compression) {
        dp_manifest_free(m);
        return dp_err_set(err, DUMPER_ENOMEM, "out of memory");
    }
    return 0;
bad:
    cJSON_Delete(o);
    dp_manifest_free(m);
    return dp_err_set(err, DUMPER_ECORRUPT, "manifest of '%s' is invalid: %s", what, why);
oom:
    cJSON_Delete(o);
    dp_manifest_free(m);
    return dp_err_set(err, DUMPER_ENOMEM, "out of memory");
}

void dp_manifest_free(dp_manifest *m)
{
    if (!m)
        return;
    free(m->name);
    free(m->source_type);
    free(m->format);
    free(m->compression);
    free(m->dumper_version);
    free(m->database);
    free(m->encryption);
    for (size_t i = 0; i < m->nrecipients; i++)
        free(m->recipients[i]);
    free(m->recipients);
    memset(m, 0, sizeof *m);
}
