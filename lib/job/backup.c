/* backup.c - the backup/verify/restore/list pipelines over any source and storage driver. */
#include "job/backup.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "core/util.h"
#include "io/pipeline.h"

/* ---- progress filter ---- */

typedef struct {
    dp_sink base;
    dp_progress_fn fn;
    void *ctx;
    int64_t last;
} progress_sink;

static int progress_write(dp_sink *s, const void *p, size_t n, dp_err *err)
{
    progress_sink *ps = (progress_sink *)s;
    int rc = dp_sink_write(s->next, p, n, err);
    int64_t now = dp_mono_ms();
    if (!rc && now - ps->last >= 250) {
        ps->last = now;
        ps->fn(ps->ctx, s->bytes + n, 0);
    }
    return rc;
}

static int progress_end(dp_sink *s, dp_err *err)
{
    progress_sink *ps = (progress_sink *)s;
    int rc = dp_sink_end(s->next, err);
    ps->fn(ps->ctx, s->bytes, 1);
    return rc;
}

static const dp_sink_ops progress_ops = {.name = "progress", .write = progress_write, .end = progress_end};

static dp_sink *progress_new(dp_progress_fn fn, void *ctx, dp_sink *next)
{
    progress_sink *ps = calloc(1, sizeof *ps);
    if (!ps)
        return NULL;
    dp_sink_init(&ps->base, &progress_ops, next);
    ps->fn = fn;
    ps->ctx = ctx;
    ps->last = dp_mono_ms();
    return &ps->base;
}

/* A borrowed-sink adapter: lets a chain end in a sink the caller keeps owning. Abort and free of
 * the chain do not reach the borrowed sink; the caller aborts it. */
typedef struct {
    dp_sink base;
    dp_sink *target;
} borrow_sink;

static int borrow_write(dp_sink *s, const void *p, size_t n, dp_err *err)
{
    return dp_sink_write(((borrow_sink *)s)->target, p, n, err);
}
static int borrow_end(dp_sink *s, dp_err *err) { return dp_sink_end(((borrow_sink *)s)->target, err); }
static int borrow_commit(dp_sink *s, dp_err *err) { return 0; }
static const dp_sink_ops borrow_ops = {.name = "borrow", .write = borrow_write, .end = borrow_end, .commit = borrow_commit};

static dp_sink *borrow_new(dp_sink *target)
{
    borrow_sink *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    dp_sink_init(&b->base, &borrow_ops, NULL);
    b->target = target;
    return &b->base;
}

char *dp_backup_key(const char *name, int64_t created_ms, const char *format, dp_codec codec)
{
    char stamp[24];
    dp_stamp_compact(created_ms, stamp);
    const char *ext = dp_codec_ext(codec);
    return dp_asprintf("%s-%s.%s%s%s", name, stamp, format, *ext ? "." : "", ext);
}

/* The pipeline's threads (docs/architecture.md, "Threads in the pipeline"). Backup: the producer (the
 * source driver reading its dump tool) compresses in its own thread (zstd's worker threads take that
 * off it when 3 or more cores are online, filter.c) and hands the compressed bytes through an async
 * stage to a thread that hashes, throttles and writes. Restore and verify: read and hash in one
 * thread, decompress into the target in another. DUMPER_PIPELINE=0 runs everything in the caller's
 * thread; =2 adds a stage between the producer and the compressor (measured no faster on 2 cores:
 * bench/README.md). For measurements, and as a way out. */
static int pipeline_stages(void)
{
    const char *v = getenv("DUMPER_PIPELINE");
    return v && (!strcmp(v, "0") || !strcmp(v, "2")) ? v[0] - '0' : 1;
}

int dp_backup_stream(const dp_dburl *url, const dp_source_driver *drv, const dp_source_opts *src, dp_codec codec,
                     int level, uint64_t max_size, uint64_t limit_rate, dp_progress_fn progress, void *progress_ctx,
                     dp_sink *writer, dp_manifest *m, dp_err *err)
{
    return dp_backup_stream_age(url, drv, src, codec, level, NULL, 0, max_size, limit_rate, progress, progress_ctx,
                                writer, m, err);
}

/* The manifest's record of encryption: "age" and the recipients' age1... strings (each once). */
static int manifest_set_age(dp_manifest *m, const dp_age_recipient *r, size_t n)
{
    if (!(m->encryption = dp_strdup("age")) || !(m->recipients = calloc(n, sizeof *m->recipients)))
        return -1;
    for (size_t i = 0; i < n; i++) {
        size_t k = 0;
        while (k < m->nrecipients && strcmp(m->recipients[k], r[i].str) != 0)
            k++;
        if (k < m->nrecipients)
            continue;
        if (!(m->recipients[m->nrecipients] = dp_strdup(r[i].str)))
            return -1;
        m->nrecipients++;
    }
    return 0;
}

int dp_backup_stream_age(const dp_dburl *url, const dp_source_driver *drv, const dp_source_opts *src, dp_codec codec,
                         int level, const dp_age_recipient *recipients, size_t nrecipients, uint64_t max_size,
                         uint64_t limit_rate, dp_progress_fn progress, void *progress_ctx, dp_sink *writer,
                         dp_manifest *m, dp_err *err)
{
    int rc = 0;
    const char *format = NULL;
    if (nrecipients > DP_MANIFEST_MAX_RECIPIENTS)
        return dp_err_set(err, DUMPER_EUSAGE, "too many recipients (at most %d)", DP_MANIFEST_MAX_RECIPIENTS);
    if ((rc = drv->resolve_format(url, src, &format, err)))
        return rc;
    /* Built from the storage end up; each constructor owns what it wraps, so on a NULL the chain
     * built so far (`tail`) is freed. */
    dp_sink *sha = NULL, *head = NULL, *comp = NULL, *tail = borrow_new(writer), *s;
    if (tail && limit_rate)
        tail = (s = dp_filter_throttle_new(limit_rate, tail)) ? s : (dp_sink_free(tail), NULL);
    if (tail && max_size)
        tail = (s = dp_filter_limit_new(max_size, tail)) ? s : (dp_sink_free(tail), NULL);
    if (tail)
        tail = sha = (s = dp_filter_sha256_new(tail)) ? s : (dp_sink_free(tail), NULL);
    if (tail && pipeline_stages() >= 1)
        tail = (s = dp_filter_async_new(tail, 0, 0)) ? s : (dp_sink_free(tail), NULL);
    /* encryption: after compression (ciphertext does not compress), before the stored-bytes checksum */
    if (tail && nrecipients)
        tail = (s = dp_age_encrypt_new(recipients, nrecipients, tail)) ? s : (dp_sink_free(tail), NULL);
    if (tail)
        tail = comp = (s = dp_filter_compress_new(codec, level, tail)) ? s : (dp_sink_free(tail), NULL);
    if (tail && pipeline_stages() >= 2)
        tail = (s = dp_filter_async_new(tail, 0, 0)) ? s : (dp_sink_free(tail), NULL);
    if (tail && progress)
        tail = (s = progress_new(progress, progress_ctx, tail)) ? s : (dp_sink_free(tail), NULL);
    if (!(head = tail))
        return dp_err_set(err, DUMPER_ENOMEM, "out of memory");
    int64_t start = dp_mono_ms();
    dp_contents contents = {0};
    dp_source_opts with_contents = *src;
    with_contents.contents = &contents;
    rc = drv->backup(url, &with_contents, head, err);
    if (!rc)
        rc = dp_sink_end(head, err);
    if (!rc) {
        m->format = dp_strdup(format);
        m->compression = dp_strdup(dp_codec_name(codec));
        m->source_type = dp_strdup(drv->name);
        m->raw_size = comp->bytes;
        m->size = sha->bytes;
        m->duration_ms = dp_mono_ms() - start;
        m->database = dp_dburl_redacted(url);
        m->dumper_version = dp_strdup(dumper_version());
        dp_filter_sha256_hex(sha, m->sha256);
        if (contents.known) {
            m->contents = contents;
            memset(&contents, 0, sizeof contents);
        }
        if (!m->format || !m->compression || !m->source_type || !m->database || !m->dumper_version ||
            (nrecipients && manifest_set_age(m, recipients, nrecipients)))
            rc = dp_err_set(err, DUMPER_ENOMEM, "out of memory");
    }
    dp_contents_free(&contents);
    /* The borrow sink has no downstream: freeing the chain (which aborts it on failure) never
     * reaches the caller's writer. */
    dp_sink_free(head);
    return rc;
}

/* A password given apart from the URL (dp_source_opts.password) takes the URL password's place. */
static int url_password(dp_dburl *url, const dp_source_opts *src, dp_err *err)
{
    if (!src->password)
        return 0;
    if (url->password)
        return dp_err_set(err, DUMPER_EUSAGE, "the database url holds a password and another was given apart from it: "
                                              "give one");
    if (!(url->password = dp_strdup(src->password)))
        return dp_err_set(err, DUMPER_ENOMEM, "out of memory");
    return 0;
}

int dp_backup_run(const dp_backup_req *req, dp_backup_result *res, dp_err *err)
{
    memset(res, 0, sizeof *res);
    dp_dburl url;
    int rc = dp_dburl_parse(req->db_url, &url, err);
    if (rc)
        return rc;
    if ((rc = url_password(&url, &req->src, err))) {
        dp_dburl_free(&url);
        return rc;
    }
    dp_storage *st = NULL;
    dp_sink *writer = NULL;
    char *name = NULL, *manifest_key = NULL, *json = NULL;
    int manifest_written = 0;
    const dp_source_driver *drv = dp_source_for(url.type);
    const char *format = NULL;
    if (!drv) {
        rc = dp_err_set(err, DUMPER_EINTERNAL, "no driver for %s", dp_db_type_name(url.type));
        goto done;
    }
    if ((rc = drv->resolve_format(&url, &req->src, &format, err)))
        goto done;
    if (!(drv->features & DP_SOURCE_FEAT_BACKUP)) {
        rc = dp_err_set(err, DUMPER_EUNSUPPORTED, "%s backups are not supported", drv->name);
        goto done;
    }
    if (drv->check && (rc = drv->check(&url, &req->src, err)))
        goto done;
    name = req->name ? dp_strdup(req->name) : dp_dburl_short_name(&url);
    if (!name) {
        rc = dp_err_set(err, DUMPER_ENOMEM, "out of memory");
        goto done;
    }
    if ((rc = dp_storage_open(req->storage, req->storage_opts, 1, &st, err)))
        goto done;
    res->m.created_ms = dp_now_ms();
    res->key = dp_backup_key(name, res->m.created_ms, format, req->codec);
    if (res->key && req->nrecipients) {
        char *k = dp_asprintf("%s" DP_BACKUP_AGE_SUFFIX, res->key);
        free(res->key);
        res->key = k;
    }
    res->m.name = dp_strdup(res->key);
    manifest_key = res->key ? dp_asprintf("%s%s", res->key, DP_MANIFEST_SUFFIX) : NULL;
    if (!res->key || !res->m.name || !manifest_key) {
        rc = dp_err_set(err, DUMPER_ENOMEM, "out of memory");
        goto done;
    }
    if ((rc = dp_storage_writer(st, res->key, &writer, err)))
        goto done;
    if ((rc = dp_backup_stream_age(&url, drv, &req->src, req->codec, req->level, req->recipients, req->nrecipients,
                                   req->max_size, req->limit_rate, req->progress, req->progress_ctx, writer, &res->m,
                                   err)))
        goto done;
    if (!(json = dp_manifest_to_json(&res->m))) {
        rc = dp_err_set(err, DUMPER_ENOMEM, "out of memory");
        goto done;
    }
    if ((rc = dp_storage_put(st, manifest_key, json, strlen(json), err)))
        goto done;
    manifest_written = 1;
    if ((rc = dp_sink_commit(writer, err)))
        goto done;
    res->path = strcmp(st->location, ".") == 0 ? dp_strdup(res->key) : dp_asprintf("%s/%s", st->location, res->key);
done:
    if (rc) {
        char *red = dp_dburl_redacted(&url);
        dp_err_prefix(err, "backup of '%s' failed", red ? red : "?");
        free(red);
        dp_sink_abort(writer);
        if (manifest_written) {
            dp_err ignore = {0};
            dp_storage_remove(st, manifest_key, &ignore);
        }
    }
    dp_sink_free(writer);
    dp_storage_close(st);
    dp_dburl_free(&url);
    free(name);
    free(manifest_key);
    free(json);
    if (rc) {
        dp_backup_result_free(res);
    }
    return rc;
}

void dp_backup_result_free(dp_backup_result *res)
{
    free(res->key);
    free(res->path);
    dp_manifest_free(&res->m);
    memset(res, 0, sizeof *res);
}

/* The manifest of key. *missing is set when the object exists but has no manifest (err then says so,
 * DUMPER_ECORRUPT). */
static int manifest_get(dp_storage *st, const char *key, dp_manifest *m, int *missing, dp_err *err)
{
    char *mkey = dp_asprintf("%s%s", key, DP_MANIFEST_SUFFIX), *json = NULL;
    size_t len = 0;
    *missing = 0;
    if (!mkey)
        return dp_err_set(err, DUMPER_ENOMEM, "out of memory");
    dp_err e2 = {0};
    int rc = dp_storage_get(st, mkey, DP_MANIFEST_MAX, &json, &len, &e2);
    if (rc == DUMPER_ENOENT) {
        dp_object_info info;
        dp_err e3 = {0};
        if (dp_storage_stat(st, key, &info, &e3) == DUMPER_ENOENT)
            rc = dp_err_set(err, DUMPER_ENOENT, "backup '%s/%s' not found", st->location, key);
        else {
            free(info.key);
            *missing = 1;
            rc = dp_err_set(err, DUMPER_ECORRUPT, "backup '%s/%s' has no manifest ('%s' is missing)", st->location,
                            key, mkey);
        }
    } else if (rc) {
        *err = e2;
    } else {
        rc = dp_manifest_parse(json, len, key, m, err);
    }
    free(json);
    free(mkey);
    return rc;
}

int dp_backup_manifest(dp_storage *st, const char *key, dp_manifest *m, dp_err *err)
{
    int missing;
    return manifest_get(st, key, m, &missing, err);
}

/* "YYYYMMDDTHHMMSS.mmmZ" (dp_stamp_compact) -> ms, or -1. */
static int64_t parse_stamp(const char *s)
{
    static const char pat[] = "99999999T999999.999Z";
    for (int i = 0; pat[i]; i++)
        if (pat[i] == '9' ? !isdigit((unsigned char)s[i]) : s[i] != pat[i])
            return -1;
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    int v[7] = {0}, off[7] = {0, 4, 6, 9, 11, 13, 16}, len[7] = {4, 2, 2, 2, 2, 2, 3};
    for (int k = 0; k < 7; k++)
        for (int i = 0; i < len[k]; i++)
            v[k] = v[k] * 10 + (s[off[k] + i] - '0');
    tm.tm_year = v[0] - 1900;
    tm.tm_mon = v[1] - 1;
    tm.tm_mday = v[2];
    tm.tm_hour = v[3];
    tm.tm_min = v[4];
    tm.tm_sec = v[5];
    time_t t = timegm(&tm);
    if (t < 0)
        return -1;
    int64_t ms = (int64_t)t * 1000 + v[6];
    char back[24];
    dp_stamp_compact(ms, back); /* timegm normalizes month 13 and the like: a round trip catches them */
    return memcmp(back, s, 20) == 0 ? ms : -1;
}

int dp_backup_parse_name(const char *key, char **format, dp_codec *codec, int64_t *created_ms, dp_err *err)
{
    const char *base = strrchr(key, '/');
    base = base ? base + 1 : key;
    size_t n = strlen(base);
    dp_codec c = DP_CODEC_NONE;
    if (n > 4 && !memcmp(base + n - 4, DP_BACKUP_AGE_SUFFIX, 4))
        n -= 4; /* encrypted: the caller sees it from the key's suffix */
    if (n > 4 && !memcmp(base + n - 4, ".zst", 4)) {
        c = DP_CODEC_ZSTD;
        n -= 4;
    } else if (n > 3 && !memcmp(base + n - 3, ".gz", 3)) {
        c = DP_CODEC_GZIP;
        n -= 3;
    }
    const char *dot = n ? memrchr(base, '.', n) : NULL;
    char fmt[17] = "";
    size_t flen = dot ? (size_t)(base + n - dot - 1) : 0;
    if (dot && flen >= 1 && flen < sizeof fmt) {
        memcpy(fmt, dot + 1, flen);
        fmt[flen] = 0;
    }
    /* the stem: "<name>-<stamp>", or "<app>-<env>-<db>-<stamp>-b<id>" as dumperd names backups */
    size_t sl = dot ? (size_t)(dot - base) : 0, j = sl;
    while (j > 0 && isdigit((unsigned char)base[j - 1]))
        j--;
    if (j < sl && j >= 2 && base[j - 1] == 'b' && base[j - 2] == '-')
        sl = j - 2;
    int64_t ms = sl >= 22 && base[sl - 21] == '-' ? parse_stamp(base + sl - 20) : -1;
    if (!fmt[0] || ms < 0)
        return dp_err_set(err, DUMPER_EUSAGE,
                          "cannot tell the format and compression of '%s' from its name (expected "
                          "<name>-<UTC timestamp>.<format>[.zst|.gz][.age] as dumper and dumperd name backups, e.g. "
                          "shop-20261126T120000.000Z.sql.zst): keep the name it was downloaded with",
                          base);
    if (!dp_source_known_format(fmt))
        return dp_err_set(err, DUMPER_EUSAGE, "unknown backup format '%s' in the name '%s'", fmt, base);
    if (!(*format = strdup(fmt)))
        return dp_err_set(err, DUMPER_ENOMEM, "out of memory");
    *codec = c;
    if (created_ms)
        *created_ms = ms;
    return 0;
}

/* An expected sha256: 64 hex digits, either case. Lower-cased into out. */
static int parse_sha256(const char *hex, char out[65], dp_err *err)
{
    size_t i = 0;
    for (; hex[i] && i < 64; i++) {
        if (!isxdigit((unsigned char)hex[i]))
            break;
        out[i] = (char)tolower((unsigned char)hex[i]);
    }
    if (i != 64 || hex[i])
        return dp_err_set(err, DUMPER_EUSAGE, "invalid sha256 '%.80s': expected 64 hex digits", hex);
    out[64] = 0;
    return 0;
}

/* The manifest of key, checked against `sha256` when given. Without a manifest (a file downloaded from
 * dumperd) and with `sha256`: one made from the file name, the object's size and that sha256; its
 * raw_size is unknown (*made = 1) and its source_type is `source_type` (NULL: unknown, ""). */
static int load_manifest(dp_storage *st, const char *key, const char *sha256, const char *source_type,
                         dp_manifest *m, int *made, dp_err *err)
{
    char want[65] = "";
    int missing = 0, rc;
    *made = 0;
    memset(m, 0, sizeof *m);
    if (sha256 && (rc = parse_sha256(sha256, want, err)))
        return rc;
    dp_err e = {0};
    rc = manifest_get(st, key, m, &missing, &e);
    if (!rc) {
        if (sha256 && strcmp(want, m->sha256) != 0) {
            rc = dp_err_set(err, DUMPER_ECORRUPT,
                            "backup '%s' is not the expected one: its manifest says sha256 %s, expected %s", key,
                            m->sha256, want);
            dp_manifest_free(m);
        }
        return rc;
    }
    if (!missing) {
        *err = e;
        return rc;
    }
    if (!sha256) /* unverifiable, like a corrupt backup (exit 9), with the way out */
        return dp_err_set(err, DUMPER_ECORRUPT,
                          "backup '%s' has no manifest ('%s%s' is missing; a download from dumperd has none): "
                          "pass its sha256 with --sha256 HEX (the dashboard and dumperd's catalog show it)",
                          key, key, DP_MANIFEST_SUFFIX);
    dp_codec codec;
    if ((rc = dp_backup_parse_name(key, &m->format, &codec, &m->created_ms, err)))
        return rc;
    dp_object_info info;
    if ((rc = dp_storage_stat(st, key, &info, err))) {
        dp_manifest_free(m);
        return rc;
    }
    free(info.key);
    m->size = info.size;
    memcpy(m->sha256, want, sizeof want);
    m->name = dp_strdup(key);
    m->compression = dp_strdup(dp_codec_name(codec));
    m->source_type = dp_strdup(source_type ? source_type : "");
    /* encrypted by its name; to whom is unknown without a manifest (nrecipients 0) */
    int age = dp_str_has_suffix(key, DP_BACKUP_AGE_SUFFIX);
    if (age)
        m->encryption = dp_strdup("age");
    if (!m->name || !m->compression || !m->source_type || (age && !m->encryption)) {
        dp_manifest_free(m);
        return dp_err_set(err, DUMPER_ENOMEM, "out of memory");
    }
    *made = 1;
    return 0;
}

/* A shield between the checksum and the decompressor of a verify pass: when decompression fails
 * (a flipped byte, a cut stream), the shield keeps the first error and swallows the rest of the
 * bytes, so the checksum still sees the whole object and the failure can be named for what it is:
 * a checksum mismatch, a short object, or a stream that was corrupt when it was stored. */
typedef struct {
    dp_sink base;
    dp_err saved;
} shield_sink;

static int shield_write(dp_sink *s, const void *p, size_t n, dp_err *err)
{
    shield_sink *sh = (shield_sink *)s;
    (void)err;
    if (!sh->saved.code)
        dp_sink_write(s->next, p, n, &sh->saved);
    return 0;
}

static int shield_end(dp_sink *s, dp_err *err)
{
    shield_sink *sh = (shield_sink *)s;
    if (sh->saved.code)
        return dp_err_set(err, sh->saved.code, "%s", sh->saved.msg);
    return dp_sink_end(s->next, err);
}

static const dp_sink_ops shield_ops = {.name = "shield", .write = shield_write, .end = shield_end};

/* Stream key from storage through sha256 into `to` (owned chain, ended here). Compares size and
 * sha256 against the manifest (made: one made from the file name and the sha256 given). `verify`:
 * `to` only checks the stream (a decompressor into nothing): read the whole object even when it
 * fails, to report a checksum mismatch as such. Otherwise (a restore) the first error of the target
 * stops the read and is reported as it is. */
static int check_pass(dp_storage *st, const char *key, const dp_manifest *m, int made, dp_sink *to, int verify,
                      dp_progress_fn progress, void *ctx, dp_err *err)
{
    /* Reading and hashing in this thread, decompressing (and feeding the restore target) in the async
     * stage's worker: the verify pass takes the longer of the two instead of their sum. In a verify
     * pass the shield sits in front of the async stage, so the worker's first error (it comes back on
     * a later write or at the end) stops nothing: the checksum still sees the whole object. */
    dp_sink *after_sha = to;
    if (pipeline_stages() && !(after_sha = dp_filter_async_new(to, 0, 0))) {
        dp_sink_free(to);
        return dp_err_set(err, DUMPER_ENOMEM, "out of memory");
    }
    if (verify) {
        shield_sink *sh = calloc(1, sizeof *sh);
        if (!sh) {
            dp_sink_free(after_sha);
            return dp_err_set(err, DUMPER_ENOMEM, "out of memory");
        }
        dp_sink_init(&sh->base, &shield_ops, after_sha);
        after_sha = &sh->base;
    }
    dp_sink *sha = dp_filter_sha256_new(after_sha);
    if (!sha) {
        dp_sink_free(after_sha);
        return dp_err_set(err, DUMPER_ENOMEM, "out of memory");
    }
    dp_sink *head = progress ? progress_new(progress, ctx, sha) : sha;
    if (!head) {
        dp_sink_free(sha);
        return dp_err_set(err, DUMPER_ENOMEM, "out of memory");
    }
    int rc = dp_storage_read(st, key, head, err);
    if (!rc)
        rc = dp_sink_end(head, err);
    char hex[65] = "";
    if (!rc || (verify && (rc == DUMPER_ECORRUPT || rc == DUMPER_EAUTH))) {
        /* Name what happened: a short or long object, different bytes; only when the stored bytes are
         * the ones the manifest describes is the decompressor's own complaint the news. */
        dp_filter_sha256_hex(sha, hex);
        int failed = rc;
        char saved_msg[DP_ERR_MSG_MAX];
        snprintf(saved_msg, sizeof saved_msg, "%s", err->msg);
        dp_err_clear(err);
        rc = 0;
        if (sha->bytes < m->size)
            rc = dp_err_set(err, DUMPER_ECORRUPT, "backup '%s' is truncated: %llu of %llu bytes", key,
                            (unsigned long long)sha->bytes, (unsigned long long)m->size);
        else if (sha->bytes != m->size)
            rc = dp_err_set(err, DUMPER_ECORRUPT, "backup '%s' has %llu bytes, its manifest says %llu", key,
                            (unsigned long long)sha->bytes, (unsigned long long)m->size);
        else if (strcmp(hex, m->sha256) != 0)
            rc = dp_err_set(err, DUMPER_ECORRUPT,
                            "backup '%s' is corrupt (checksum mismatch): sha256 %s does not match %s (%s)", key, hex,
                            made ? "the expected sha256" : "the manifest", m->sha256);
        else if (failed == DUMPER_EAUTH) /* no identity opened it: verify_pass names the recipients */
            rc = dp_err_set(err, failed, "%s", saved_msg);
        else if (failed)
            rc = dp_err_set(err, failed, "backup '%s' matches its checksum but was stored damaged (%s)", key,
                            strncmp(saved_msg, "backup is ", 10) == 0 ? saved_msg + 10 : saved_msg);
    }
    if (rc && strncmp(err->msg, "backup is ", 10) == 0) {
        /* a filter's "backup is corrupt: ..." names the backup: "backup 'KEY' is corrupt: ..." */
        char tmp[DP_ERR_MSG_MAX];
        snprintf(tmp, sizeof tmp, "backup '%s' %s", key, err->msg + 7);
        memcpy(err->msg, tmp, sizeof tmp);
    }
    if (rc) {
        /* aborts the chain, including a restore target, which may add what it did about it (the
         * MariaDB target dropping what the dump created) */
        dp_sink_fail(head, err);
        dp_sink_free(head);
        return err->code ? err->code : rc;
    }
    for (dp_sink *s = head; s && s != to; s = s->next)
        s->state = DP_SINK_COMMITTED;
    /* Caller commits `to`; detach it from the filters before freeing them. */
    for (dp_sink *s = head; s; s = s->next)
        if (s->next == to) {
            s->next = NULL;
            break;
        }
    dp_sink_free(head);
    return 0;
}

/* "age1a, age1b and 3 more" (for messages): up to `show` of n strings. */
static void join_keys(dp_buf *b, char *const *keys, size_t n, size_t show)
{
    for (size_t i = 0; i < n && i < show; i++)
        dp_buf_printf(b, "%s%s", i ? ", " : "", keys[i]);
    if (n > show)
        dp_buf_printf(b, " and %zu more", n - show);
}

/* No identity given unwraps the backup's file key (or none was given): one line naming whom it is
 * encrypted to (from the manifest) and the recipients of the identities given (EAUTH); or, when the
 * manifest lists one of those, a changed backup (ECORRUPT). */
static int no_identity(const char *key, const dp_manifest *m, const dp_backup_read_opts *o, dp_err *err)
{
    dp_buf to = {0}, given = {0};
    size_t nids = o ? o->nidentities : 0;
    char rs[2][DP_AGE_RECIPIENT_LEN + 1], *rp[2] = {rs[0], rs[1]};
    for (size_t i = 0; i < nids && i < 2; i++) {
        dp_age_recipient r;
        dp_age_identity_recipient(&o->identities[i], &r);
        memcpy(rs[i], r.str, sizeof r.str);
    }
    /* an identity whose recipient the manifest lists did not open the header: the header (or the
     * manifest) was changed, not a question of keys */
    for (size_t i = 0; i < nids; i++) {
        dp_age_recipient r;
        dp_age_identity_recipient(&o->identities[i], &r);
        for (size_t k = 0; k < m->nrecipients; k++)
            if (!strcmp(m->recipients[k], r.str)) {
                dp_err_clear(err);
                return dp_err_set(err, DUMPER_ECORRUPT,
                                  "backup '%s' is corrupt: its manifest lists %s, an identity given, but no recipient "
                                  "stanza of its age header opens with it",
                                  key, r.str);
            }
    }
    join_keys(&to, m->recipients, m->nrecipients, 4);
    join_keys(&given, rp, nids, 2);
    const char *t = to.data ? to.data : "", *g = given.data ? given.data : "";
    dp_err_clear(err);
    int rc;
    if (!nids)
        rc = dp_err_set(err, DUMPER_EAUTH,
                        "backup '%s' is encrypted (age)%s%s: give an identity of one of them with --identity FILE (or "
                        "DUMPER_IDENTITY)",
                        key, *t ? " to " : "", t);
    else if (*t)
        rc = dp_err_set(err, DUMPER_EAUTH,
                        "backup '%s' is encrypted to %s; none of the identities given matches (their recipients: %s)",
                        key, t, g);
    else
        rc = dp_err_set(err, DUMPER_EAUTH,
                        "backup '%s' is encrypted (age) and none of the identities given matches its recipients (the "
                        "identities' recipients: %s)",
                        key, g);
    dp_buf_free(&to);
    dp_buf_free(&given);
    return rc;
}

/* The verify pass over a loaded manifest. Without a manifest (made) the uncompressed size is not
 * known beforehand: it is filled in from the decompression instead of checked. An encrypted backup
 * is decrypted (every chunk authenticated) with the identities given, or only checked (header,
 * chunk framing) without them. */
static int verify_pass(dp_storage *st, const char *key, dp_manifest *m, int made, const dp_backup_read_opts *o,
                       dp_progress_fn progress, void *ctx, dp_err *err)
{
    int rc, codec = dp_codec_parse(m->compression);
    size_t nids = m->encryption && o ? o->nidentities : 0;
    int keyless = m->encryption && !nids;
    dp_sink *null = dp_sink_null_new();
    dp_sink *dec = null && !keyless ? dp_filter_decompress_new((dp_codec)codec, null) : null;
    dp_sink *head = dec && m->encryption ? dp_age_decrypt_new(nids ? o->identities : NULL, nids, dec) : dec;
    if (!head) {
        dp_sink_free(dec ? dec : null);
        return dp_err_set(err, DUMPER_ENOMEM, "out of memory");
    }
    rc = check_pass(st, key, m, made, head, 1, progress, ctx, err);
    if (rc == DUMPER_EAUTH) /* the checksum matched (check_pass): a question of keys */
        return no_identity(key, m, o, err);
    if (!rc) {
        if (keyless)
            ; /* ciphertext only: the uncompressed size is not known here */
        else if (made)
            m->raw_size = null->bytes;
        else if (null->bytes != m->raw_size)
            rc = dp_err_set(err, DUMPER_ECORRUPT, "backup '%s' decompresses to %llu bytes, its manifest says %llu",
                            key, (unsigned long long)null->bytes, (unsigned long long)m->raw_size);
        dp_sink_commit(head, err);
        dp_sink_free(head);
    }
    return rc;
}

int dp_backup_verify(dp_storage *st, const char *key, const char *sha256, dp_manifest *out, dp_progress_fn progress,
                     void *ctx, dp_err *err)
{
    dp_backup_read_opts o = {.sha256 = sha256, .progress = progress, .progress_ctx = ctx};
    return dp_backup_verify_opts(st, key, &o, out, err);
}

int dp_backup_verify_opts(dp_storage *st, const char *key, const dp_backup_read_opts *o, dp_manifest *out, dp_err *err)
{
    dp_manifest m;
    int made;
    int rc = load_manifest(st, key, o->sha256, NULL, &m, &made, err);
    if (rc)
        return rc;
    rc = verify_pass(st, key, &m, made, o, o->progress, o->progress_ctx, err);
    if (rc || !out)
        dp_manifest_free(&m);
    else
        *out = m;
    return rc;
}

int dp_backup_restore(dp_storage *st, const char *key, const char *sha256, const char *db_url,
                      const dp_source_opts *src, dp_progress_fn progress, void *ctx, dp_err *err)
{
    dp_backup_read_opts o = {.sha256 = sha256, .progress = progress, .progress_ctx = ctx};
    return dp_backup_restore_opts(st, key, &o, db_url, src, err);
}

int dp_backup_restore_opts(dp_storage *st, const char *key, const dp_backup_read_opts *o, const char *db_url,
                           const dp_source_opts *src, dp_err *err)
{
    dp_dburl url;
    dp_manifest m;
    int made = 0;
    memset(&m, 0, sizeof m);
    int rc = dp_dburl_parse(db_url, &url, err);
    if (rc)
        return rc;
    if ((rc = url_password(&url, src, err))) {
        dp_dburl_free(&url);
        return rc;
    }
    const dp_source_driver *drv = dp_source_for(url.type);
    dp_sink *target = NULL, *dec = NULL, *head = NULL;
    /* Without a manifest the source type is the target's: the format from the name must fit it. */
    if ((rc = load_manifest(st, key, o->sha256, drv ? drv->name : NULL, &m, &made, err)))
        goto done;
    if (!drv || !(drv->features & DP_SOURCE_FEAT_RESTORE)) {
        const char *fmt;
        if (drv && drv->resolve_format(&url, src, &fmt, err))
            rc = err->code;
        else
            rc = dp_err_set(err, DUMPER_EUNSUPPORTED, "restoring %s databases is not supported",
                            dp_db_type_name(url.type));
        goto done;
    }
    if (src->jobs > 1 && !(drv->features & DP_SOURCE_FEAT_RESTORE_JOBS)) {
        rc = dp_err_set(err, DUMPER_EUSAGE, "--jobs is not supported for %s restores (only postgresql)", drv->name);
        goto done;
    }
    if (strcmp(m.source_type, drv->name) != 0) {
        rc = dp_err_set(err, DUMPER_EUSAGE, "backup '%s' is a %s backup and cannot be restored into %s", key,
                        m.source_type, drv->name);
        goto done;
    }
    if (!dp_source_restores(drv, m.format)) {
        rc = dp_err_set(err, DUMPER_EUSAGE, "backup '%s' is a '%s' backup, which %s cannot restore", key, m.format,
                        drv->name);
        goto done;
    }
    if (m.encryption && !o->nidentities) {
        rc = no_identity(key, &m, o, err);
        goto done;
    }
    /* Pass 1: the checksum and every age chunk, before the target is touched (a throwaway target:
     * while it is fed, below). */
    if (!o->one_pass && (rc = verify_pass(st, key, &m, made, o, NULL, NULL, err)))
        goto done;
    /* Pass 2: restore; publish only if the bytes hashed equal again. */
    if ((rc = drv->restore(&url, src, m.format, &target, err)))
        goto done;
    dec = dp_filter_decompress_new((dp_codec)dp_codec_parse(m.compression), target);
    head = dec && m.encryption ? dp_age_decrypt_new(o->identities, o->nidentities, dec) : dec;
    if (!head) {
        dp_sink_free(dec ? dec : target);
        rc = dp_err_set(err, DUMPER_ENOMEM, "out of memory");
        goto done;
    }
    /* check_pass frees the chain (aborting the target) on failure. */
    rc = check_pass(st, key, &m, made, head, 0, o->progress, o->progress_ctx, err);
    if (!rc && o->one_pass && !made && target->bytes != m.raw_size) {
        /* what the verify pass checks; decrypted and decompressed bytes all reached the target */
        rc = dp_err_set(err, DUMPER_ECORRUPT, "backup '%s' decompresses to %llu bytes, its manifest says %llu", key,
                        (unsigned long long)target->bytes, (unsigned long long)m.raw_size);
        dp_sink_fail(head, err);
        dp_sink_free(head);
    } else if (!rc) {
        rc = dp_sink_commit(head, err);
        dp_sink_free(head); /* aborts the target if the commit failed */
    } else if (o->one_pass && rc != DUMPER_EINTR) {
        /* name the cause: the backup's damage (or a key question) rather than the target's complaint */
        dp_err restore_err = *err, verr = {0};
        dp_backup_read_opts vo = *o;
        vo.progress = NULL;
        int vrc = verify_pass(st, key, &m, made, &vo, NULL, NULL, &verr);
        if (vrc && vrc != DUMPER_EINTR && vrc != DUMPER_ENOMEM)
            *err = verr;
        else
            *err = restore_err;
        rc = err->code;
    }
done:
    if (rc) {
        char *red = dp_dburl_redacted(&url);
        dp_err_prefix(err, "restore of '%s' into '%s' failed", key, red ? red : "?");
        free(red);
    }
    dp_manifest_free(&m);
    dp_dburl_free(&url);
    return rc;
}

static int cmp_newest(const void *a, const void *b)
{
    const dp_manifest *x = a, *y = b;
    if (x->created_ms != y->created_ms)
        return x->created_ms < y->created_ms ? 1 : -1;
    return strcmp(y->name, x->name);
}

int dp_backup_list(dp_storage *st, dp_manifest **items, size_t *n, dp_err *err)
{
    dp_object_info *objs = NULL;
    size_t nobj = 0;
    *items = NULL;
    *n = 0;
    int rc = dp_storage_list(st, &objs, &nobj, err);
    if (rc)
        return rc;
    dp_manifest *out = calloc(nobj ? nobj : 1, sizeof *out);
    size_t count = 0;
    if (!out) {
        dp_object_info_free(objs, nobj);
        return dp_err_set(err, DUMPER_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < nobj; i++) {
        const char *k = objs[i].key;
        if (dp_str_has_suffix(k, DP_MANIFEST_SUFFIX)) {
            /* a manifest whose backup is gone (a half-deleted backup, a copy of the .json only) */
            size_t kl = strlen(k) - strlen(DP_MANIFEST_SUFFIX);
            int found = 0;
            for (size_t j = 0; j < nobj && !found; j++)
                found = strlen(objs[j].key) == kl && !strncmp(objs[j].key, k, kl);
            if (!found)
                dp_warn("skipping the manifest '%s/%s': its backup '%.*s' is missing", st->location, k, (int)kl, k);
            continue;
        }
        dp_err e = {0};
        int missing = 0;
        if (manifest_get(st, k, &out[count], &missing, &e) == 0) {
            /* the manifest's own name must match where it is */
            free(out[count].name);
            out[count].name = strdup(k);
            count++;
        } else if (e.code == DUMPER_ENOENT) {
            /* removed while listing */
        } else if (missing) {
            char *fmt = NULL;
            dp_codec codec;
            dp_err ignore = {0};
            /* named like a backup: say why it is not listed; any other file is none of ours */
            if (dp_backup_parse_name(k, &fmt, &codec, NULL, &ignore) == 0)
                dp_warn("skipping '%s/%s': it has no manifest (verify or restore it with --sha256)", st->location, k);
            free(fmt);
        } else {
            dp_warn("skipping '%s/%s': %s", st->location, k, e.msg);
        }
    }
    dp_object_info_free(objs, nobj);
    qsort(out, count, sizeof *out, cmp_newest);
    *items = out;
    *n = count;
    return 0;
}

void dp_backup_list_free(dp_manifest *items, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dp_manifest_free(&items[i]);
    free(items);
}
