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
    if (m->contents.known) {
        const dp_contents *c = &m->contents;
        cJSON *k = cJSON_AddObjectToObject(o, "contents");
        if (k && c->server_version)
            cJSON_AddStringToObject(k, "server_version", c->server_version);
        if (k && c->fingerprint[0])
            cJSON_AddStringToObject(k, "schema_fingerprint", c->fingerprint);
        if (k && c->migration)
            cJSON_AddStringToObject(k, "schema_migration", c->migration);
        cJSON *t = k ? cJSON_AddArrayToObject(k, "tables") : NULL;
        for (size_t i = 0; t && i < c->ntables; i++) {
            cJSON *e = cJSON_CreateObject();
            if (!e || !cJSON_AddItemToArray(t, e)) {
                cJSON_Delete(e);
                t = NULL;
                break;
            }
            cJSON_AddStringToObject(e, "name", c->tables[i].name);
            cJSON_AddNumberToObject(e, "rows", (double)c->tables[i].rows);
        }
        if (!t) {
            cJSON_Delete(o);
            return NULL;
        }
    }
    char *s = cJSON_Print(o);
    cJSON_Delete(o);
    return s;
}

/* ---- contents ---- */

int dp_contents_add(dp_contents *c, const char *name, const char *columns, uint64_t rows)
{
    if (c->ntables == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 16;
        dp_table_rows *t = realloc(c->tables, cap * sizeof *t);
        if (!t)
            return -1;
        c->tables = t;
        c->cap = cap;
    }
    dp_table_rows *e = &c->tables[c->ntables];
    e->rows = rows;
    e->name = strdup(name);
    e->columns = columns ? strdup(columns) : NULL;
    if (!e->name || (columns && !e->columns)) {
        free(e->name);
        free(e->columns);
        return -1;
    }
    c->ntables++;
    return 0;
}

static int cmp_table(const void *a, const void *b)
{
    return strcmp(((const dp_table_rows *)a)->name, ((const dp_table_rows *)b)->name);
}

dp_table_rows *dp_contents_find(dp_contents *c, const char *name)
{
    if (c->known) {
        dp_table_rows key = {.name = (char *)name};
        return c->ntables ? bsearch(&key, c->tables, c->ntables, sizeof key, cmp_table) : NULL;
    }
    for (size_t i = 0; i < c->ntables; i++)
        if (!strcmp(c->tables[i].name, name))
            return &c->tables[i];
    return NULL;
}

int dp_contents_finish(dp_contents *c)
{
    if (c->ntables > DP_CONTENTS_MAX_TABLES)
        return -1;
    if (c->ntables)
        qsort(c->tables, c->ntables, sizeof *c->tables, cmp_table);
    dp_buf listing = {0};
    int rc = 0;
    for (size_t i = 0; i < c->ntables && !rc; i++) {
        if (strlen(c->tables[i].name) > DP_CONTENTS_MAX_NAME || (i && !cmp_table(&c->tables[i - 1], &c->tables[i])))
            rc = -1;
        else if (dp_buf_printf(&listing, "%s\t%s\n", c->tables[i].name,
                               c->tables[i].columns ? c->tables[i].columns : "") < 0)
            rc = -1;
    }
    if (!rc) {
        dp_sha256_hex(listing.data ? listing.data : "", listing.len, c->fingerprint);
        for (size_t i = 0; i < c->ntables; i++) {
            free(c->tables[i].columns);
            c->tables[i].columns = NULL;
        }
        c->known = 1;
    }
    dp_buf_free(&listing);
    return rc;
}

void dp_contents_free(dp_contents *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->ntables; i++) {
        free(c->tables[i].name);
        free(c->tables[i].columns);
    }
    free(c->tables);
    free(c->server_version);
    free(c->migration);
    memset(c, 0, sizeof *c);
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

/* A short printable string (shown in reports): 1..DP_CONTENTS_MAX_STR bytes, no control bytes. */
static int short_str(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > DP_CONTENTS_MAX_STR)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return 0;
    return 1;
}

/* "contents": strictly; *why set on a bad one. -1 bad, -2 OOM. */
static int parse_contents(cJSON *k, dp_contents *c, const char **why)
{
    static const char *const strs[] = {"server_version", "schema_fingerprint", "schema_migration"};
    *why = "bad contents";
    if (!cJSON_IsObject(k))
        return -1;
    /* fields a later version adds are ignored, like the manifest's own */
    for (size_t i = 0; i < 3; i++) {
        cJSON *f = cJSON_GetObjectItemCaseSensitive(k, strs[i]);
        if (f && (!cJSON_IsString(f) || !short_str(f->valuestring)))
            return -1;
    }
    const char *ver = str_field(k, "server_version"), *fp = str_field(k, "schema_fingerprint"),
               *mig = str_field(k, "schema_migration");
    if (fp) {
        if (strlen(fp) != 64)
            return -1;
        for (int i = 0; i < 64; i++)
            if (!isxdigit((unsigned char)fp[i]) || isupper((unsigned char)fp[i]))
                return -1;
        memcpy(c->fingerprint, fp, 65);
    }
    cJSON *t = cJSON_GetObjectItemCaseSensitive(k, "tables");
    if (!cJSON_IsArray(t) || cJSON_GetArraySize(t) > DP_CONTENTS_MAX_TABLES)
        return -1;
    cJSON *e;
    const char *prev = NULL;
    cJSON_ArrayForEach(e, t)
    {
        const char *name = cJSON_IsObject(e) ? str_field(e, "name") : NULL;
        uint64_t rows = 0;
        if (!name || strlen(name) > DP_CONTENTS_MAX_NAME || num_field(e, "rows", &rows) ||
            (prev && strcmp(prev, name) >= 0)) {
            *why = "bad contents table";
            return -1;
        }
        if (dp_contents_add(c, name, NULL, rows))
            return -2;
        prev = name;
    }
    if ((ver && !(c->server_version = strdup(ver))) || (mig && !(c->migration = strdup(mig))))
        return -2;
    c->known = 1;
    return 0;
}

int dp_contents_parse(const char *json, size_t len, dp_contents *c, dp_err *err)
{
    memset(c, 0, sizeof *c);
    cJSON *o = len <= DP_MANIFEST_MAX ? cJSON_ParseWithLength(json, len) : NULL;
    const char *why = len > DP_MANIFEST_MAX ? "too large" : "not a JSON object";
    int rc = o ? parse_contents(o, c, &why) : -1;
    cJSON_Delete(o);
    if (!rc)
        return 0;
    dp_contents_free(c);
    return rc == -2 ? dp_err_set(err, DUMPER_ENOMEM, "out of memory")
                    : dp_err_set(err, DUMPER_ECORRUPT, "contents: %s", why);
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
    cJSON *contents = cJSON_GetObjectItemCaseSensitive(o, "contents");
    if (contents) {
        int crc = parse_contents(contents, &m->contents, &why);
        if (crc == -2)
            goto oom;
        if (crc)
            goto bad;
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
    dp_contents_free(&m->contents);
    memset(m, 0, sizeof *m);
}
