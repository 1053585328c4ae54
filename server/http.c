/*
 * http.c - the agent API over libmicrohttpd (docs/protocol.md).
 *
 * libmicrohttpd runs a small pool of threads, each with its own epoll loop; a request is handled
 * entirely in the thread that accepted it, with that thread's own store connection (opened on first
 * use, kept for the server's life). Request bodies are bounded: JSON bodies are buffered up to 64 KiB
 * (a commit's up to 2 MiB: with S3 storage it lists every part's ETag),
 * part uploads stream into a temporary file up to max_part_size and are renamed into place only when
 * complete (and their optional checksum matches), which makes each part upload idempotent. Errors
 * detected from the headers alone (route, auth, sizes) are answered before the body is read.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <netdb.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "core/util.h"
#include "domain/names.h"
#include "http.h"
#include "job/manifest.h"
#include "site.h"
#include "storage/s3_upload.h"
#include "storage/storage.h"
#include "store.h"

#define MAX_JSON 65536
/* A commit to S3 storage lists every part's ETag: up to 10000 parts of about 75 bytes each, far more than
 * MAX_JSON. */
#define MAX_COMMIT_JSON (2 << 20) /* its parse tree may take ~30 times as much */

struct sd_http {
    struct MHD_Daemon *d;
    char *cert, *key;
    const sd_config *cfg;
    sd_clock *clock;
};

/* ---- per-thread service contexts ---- */

/* Each libmicrohttpd thread opens its own context (store connection) on first use and keeps it for the
 * server's life; sd_http_close_dbs closes them all after the server stopped. */
static pthread_mutex_t ctxs_lock = PTHREAD_MUTEX_INITIALIZER;
static sd_ctx *all_ctxs[256];
static int n_ctxs;
static _Thread_local sd_ctx *tl_ctx;

static sd_ctx *thread_ctx(const sd_http *h)
{
    if (tl_ctx)
        return tl_ctx;
    dp_err err = {0};
    sd_ctx *ctx = calloc(1, sizeof *ctx);
    if (!ctx || sd_ctx_open(ctx, h->cfg, h->clock, &err)) {
        dp_error("%s", err.code ? err.msg : "out of memory");
        if (ctx)
            sd_ctx_close(ctx);
        free(ctx);
        return NULL;
    }
    pthread_mutex_lock(&ctxs_lock);
    if (n_ctxs < (int)(sizeof all_ctxs / sizeof *all_ctxs))
        all_ctxs[n_ctxs++] = ctx;
    pthread_mutex_unlock(&ctxs_lock);
    tl_ctx = ctx;
    return ctx;
}

void sd_http_close_dbs(void)
{
    pthread_mutex_lock(&ctxs_lock);
    for (int i = 0; i < n_ctxs; i++) {
        sd_ctx_close(all_ctxs[i]);
        free(all_ctxs[i]);
    }
    n_ctxs = 0;
    pthread_mutex_unlock(&ctxs_lock);
}

static pthread_mutex_t tick_mutex = PTHREAD_MUTEX_INITIALIZER;
void sd_tick_lock(void) { pthread_mutex_lock(&tick_mutex); }
void sd_tick_unlock(void) { pthread_mutex_unlock(&tick_mutex); }

/* ---- requests ---- */

enum route {
    R_NONE,
    R_REGISTER,
    R_POLL,
    R_PREPARE,
    R_LIST,
    R_GET,
    R_PART,
    R_COMMIT,
    R_FAIL,
    R_DOWNLOAD,
    R_MANIFEST,
    R_CLOCK,
    R_PRESIGN,
    R_SITE, /* dashboard, its files and /metrics (site.c) */
};

typedef struct req {
    enum route route;
    int64_t app, id;
    char key_hash[65]; /* polls: checked by sd_poll */
    int part;
    int started, done;
    dp_buf body;
    size_t max_body; /* JSON routes */
    int too_large;
    /* part upload */
    int fd;
    char *tmp, *final;
    EVP_MD_CTX *md;
    uint64_t got, expect;
    int write_err;
    /* site */
    char *url, *method;
} req;

static enum MHD_Result send_json(struct MHD_Connection *c, unsigned status, cJSON *o)
{
    char *s = o ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    if (!s) {
        s = dp_strdup("{\"error\":\"internal\",\"message\":\"out of memory\"}");
        status = 500;
        if (!s)
            return MHD_NO;
    }
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(s), s, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(s);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", "application/json");
    MHD_add_response_header(r, "X-Dumper-Api", "1");
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result send_err(struct MHD_Connection *c, unsigned status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static enum MHD_Result send_err(struct MHD_Connection *c, unsigned status, const char *code, const char *fmt, ...)
{
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "error", code);
    cJSON_AddStringToObject(o, "message", msg);
    return send_json(c, status, o);
}

static enum MHD_Result send_status(struct MHD_Connection *c, cJSON *o, const sd_status *st)
{
    if (o)
        return send_json(c, 200, o);
    if (st->http >= 500)
        dp_warn("request failed: %s", st->err.msg);
    return send_err(c, st->http ? (unsigned)st->http : 500, st->code ? st->code : "internal", "%s",
                    st->err.msg[0] ? st->err.msg : "internal error");
}

/* "/api/v1/backups/b_12/parts/3" and friends. Sets r->route; returns the HTTP method expected. */
static const char *parse_route(req *r, const sd_ctx *ctx, const char *url)
{
    static const char pre[] = "/api/v1/";
    if (strncmp(url, pre, sizeof pre - 1))
        return NULL;
    const char *p = url + sizeof pre - 1;
    if (!strcmp(p, "agents/register")) {
        r->route = R_REGISTER;
        return "POST";
    }
    if (!strcmp(p, "agents/poll")) {
        r->route = R_POLL;
        return "POST";
    }
    if (!strcmp(p, "backups/prepare")) {
        r->route = R_PREPARE;
        return "POST";
    }
    if (!strcmp(p, "backups")) {
        r->route = R_LIST;
        return "GET";
    }
    if (!strcmp(p, "test/clock") && ctx->cfg->test_clock) {
        r->route = R_CLOCK;
        return "POST";
    }
    if (strncmp(p, "backups/", 8))
        return NULL;
    p += 8;
    const char *end = p;
    if ((r->id = sd_id_scan(&end, 'b')) < 0)
        return NULL;
    if (!*end) {
        r->route = R_GET;
        return "GET";
    }
    if (!strcmp(end, "/commit")) {
        r->route = R_COMMIT;
        return "POST";
    }
    if (!strcmp(end, "/fail")) {
        r->route = R_FAIL;
        return "POST";
    }
    if (!strcmp(end, "/download")) {
        r->route = R_DOWNLOAD;
        return "GET";
    }
    if (!strcmp(end, "/manifest")) {
        r->route = R_MANIFEST;
        return "GET";
    }
    if (!strncmp(end, "/parts/", 7)) {
        end += 7;
        if ((r->part = sd_part_number_scan(&end, DP_S3_MAX_PARTS)) < 0)
            return NULL;
        if (!strcmp(end, "/presign")) {
            r->route = R_PRESIGN;
            return "POST";
        }
        if (*end)
            return NULL;
        r->route = R_PART;
        return "PUT";
    }
    return NULL;
}

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

static cJSON *parse_body(req *r, struct MHD_Connection *c, enum MHD_Result *ret)
{
    const char *end = NULL;
    cJSON *j = r->body.len ? cJSON_ParseWithLengthOpts(r->body.data, r->body.len + 1, &end, 1) : NULL;
    if (!j || !cJSON_IsObject(j)) {
        cJSON_Delete(j);
        *ret = send_err(c, 400, "invalid_json", "the request body must be a JSON object");
        return NULL;
    }
    return j;
}

/* ---- part upload ---- */

static int atoi_part(const char *s)
{
    int n = sd_part_number_scan(&s, DP_S3_MAX_PARTS);
    return *s ? -1 : n;
}

static int part_begin(req *r, sd_ctx *ctx, struct MHD_Connection *c, enum MHD_Result *ret)
{
    const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
    char *end;
    if (!cl || !*cl) {
        *ret = send_err(c, 411, "length_required", "part uploads need a Content-Length");
        return -1;
    }
    errno = 0;
    unsigned long long len = strtoull(cl, &end, 10);
    if (errno || *end || *cl == '-') {
        *ret = send_err(c, 400, "invalid_request", "bad Content-Length");
        return -1;
    }
    if (len > (unsigned long long)ctx->cfg->max_part_size) {
        *ret = send_err(c, 413, "too_large", "part is larger than max_part_size (%" PRId64 " bytes)",
                        ctx->cfg->max_part_size);
        return -1;
    }
    r->expect = len;
    if (sd_storage_is_s3(ctx)) {
        *ret = send_err(c, 409, "conflict", "storage is S3: upload parts to presigned URLs");
        return -1;
    }
    sd_status st = {0};
    if (sd_part_allowed(ctx, r->app, r->id, &st)) {
        *ret = send_status(c, NULL, &st);
        return -1;
    }
    char *dir = sd_parts_dir(ctx, r->id), *parent = dp_asprintf("%s/parts", ctx->cfg->data_dir);
    /* The parts already stored (other numbers) plus this one may not exceed max_filesize. */
    uint64_t others = 0;
    DIR *dh = dir ? opendir(dir) : NULL;
    if (dh) {
        struct dirent *de;
        while ((de = readdir(dh))) {
            struct stat sb;
            if (de->d_name[0] == '.' || atoi_part(de->d_name) == r->part)
                continue;
            if (fstatat(dirfd(dh), de->d_name, &sb, 0) == 0)
                others += (uint64_t)sb.st_size;
        }
        closedir(dh);
    }
    if (others + len > (uint64_t)ctx->cfg->max_filesize) {
        free(dir);
        free(parent);
        *ret = send_err(c, 413, "too_large", "the parts would exceed max_filesize (%" PRId64 " bytes)",
                        ctx->cfg->max_filesize);
        return -1;
    }
    if (parent)
        mkdir(parent, 0700);
    free(parent);
    if (dir)
        mkdir(dir, 0700);
    unsigned rnd = (unsigned)dp_mono_ms() ^ (unsigned)(uintptr_t)r;
    r->tmp = dir ? dp_asprintf("%s/.%d.tmp-%d-%x", dir, r->part, (int)getpid(), rnd) : NULL;
    r->final = dir ? dp_asprintf("%s/%d", dir, r->part) : NULL;
    free(dir);
    r->md = EVP_MD_CTX_new();
    if (!r->tmp || !r->final || !r->md || EVP_DigestInit_ex(r->md, EVP_sha256(), NULL) != 1 ||
        (r->fd = open(r->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0) {
        dp_warn("part upload: unable to create '%s': %s", r->tmp ? r->tmp : "?", strerror(errno));
        *ret = send_err(c, 500, "internal", "unable to store the part");
        return -1;
    }
    return 0;
}

static enum MHD_Result part_end(req *r, struct MHD_Connection *c)
{
    unsigned char d[32];
    unsigned dl = 0;
    char hex[65];
    /* A chunked body may differ from the Content-Length header (libmicrohttpd then ignores the header):
     * the client's error, before any of ours (a body too long stopped being written). */
    if (r->got != r->expect)
        return send_err(c, 400, "invalid_request", "part body has %" PRIu64 " bytes, its Content-Length says %" PRIu64,
                        r->got, r->expect);
    if (r->write_err || fsync(r->fd) < 0) {
        return send_err(c, 500, "internal", "unable to store the part");
    }
    close(r->fd);
    r->fd = -1;
    EVP_DigestFinal_ex(r->md, d, &dl);
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", d[i]);
    const char *want = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Dumper-Part-Sha256");
    if (want && strcasecmp(want, hex))
        return send_err(c, 422, "verification_failed", "part %d has sha256 %s, the header says %.64s", r->part, hex,
                        want);
    if (rename(r->tmp, r->final) < 0)
        return send_err(c, 500, "internal", "unable to store the part");
    free(r->tmp);
    r->tmp = NULL;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "part", r->part);
    cJSON_AddNumberToObject(o, "size", (double)r->got);
    cJSON_AddStringToObject(o, "sha256", hex);
    return send_json(c, 200, o);
}

/* ---- download ---- */

/* Queue resp (destroyed here) as a 200 attachment named `file`; sha: X-Dumper-Sha256, or NULL. */
static enum MHD_Result send_attachment(struct MHD_Connection *c, struct MHD_Response *resp, const char *type,
                                       const char *file, const char *sha)
{
    char disp[400];
    snprintf(disp, sizeof disp, "attachment; filename=\"%s\"", file);
    MHD_add_response_header(resp, "Content-Type", type);
    MHD_add_response_header(resp, "Content-Disposition", disp);
    if (sha)
        MHD_add_response_header(resp, "X-Dumper-Sha256", sha);
    MHD_add_response_header(resp, "X-Dumper-Api", "1");
    enum MHD_Result ret = MHD_queue_response(c, 200, resp);
    MHD_destroy_response(resp);
    return ret;
}

typedef struct {
    int fd;       /* local: the file; S3: the read end of a pipe fed by `pump` */
    int piped;
    pthread_t pump;
    int pump_started;
    char *key;
    uint64_t size, sent;
    EVP_MD_CTX *md;
    char sha[65];
    int wfd;
    const char *storage; /* the configuration's location */
} dl_state;

/* S3 downloads: the storage driver pushes the object into a pipe that the response reads. */
static void *pump_main(void *arg)
{
    dl_state *s = arg;
    dp_err err = {0};
    dp_storage *stg = NULL;
    dp_sink *sink = NULL;
    if (!dp_storage_open(s->storage, NULL, 0, &stg, &err) && (sink = dp_sink_fd_new(s->wfd))) {
        if (dp_storage_read(stg, s->key, sink, &err))
            dp_warn("download of '%s': %s", s->key, err.msg);
    } else if (err.code) {
        dp_warn("download of '%s': %s", s->key, err.msg);
    }
    if (sink)
        dp_sink_free(sink);
    if (stg)
        dp_storage_close(stg);
    close(s->wfd); /* EOF (early, on error: the response is then cut short) */
    s->wfd = -1;
    return NULL;
}

static ssize_t dl_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    dl_state *s = cls;
    if (s->sent >= s->size)
        return MHD_CONTENT_READER_END_OF_STREAM;
    if (max > s->size - s->sent)
        max = (size_t)(s->size - s->sent);
    ssize_t n = s->piped ? read(s->fd, buf, max) : pread(s->fd, buf, max, (off_t)pos);
    if (n <= 0)
        return MHD_CONTENT_READER_END_WITH_ERROR;
    EVP_DigestUpdate(s->md, buf, (size_t)n);
    s->sent += (uint64_t)n;
    if (s->sent == s->size) {
        /* Last chunk: check before handing it over, so a corrupt file never arrives complete. */
        unsigned char d[32];
        unsigned dl = 0;
        char hex[65];
        EVP_DigestFinal_ex(s->md, d, &dl);
        for (int i = 0; i < 32; i++)
            snprintf(hex + 2 * i, 3, "%02x", d[i]);
        if (strcmp(hex, s->sha)) {
            dp_error("download: stored file does not match its sha256 (%s, catalog %s); connection aborted", hex,
                     s->sha);
            return MHD_CONTENT_READER_END_WITH_ERROR;
        }
    }
    return n;
}

static void dl_free(void *cls)
{
    dl_state *s = cls;
    if (s->fd >= 0)
        close(s->fd); /* a pump blocked on a full pipe now gets EPIPE and stops */
    if (s->pump_started)
        pthread_join(s->pump, NULL);
    free(s->key);
    EVP_MD_CTX_free(s->md);
    free(s);
}

static char *storage_path(const sd_ctx *ctx, const char *file)
{
    const char *loc = ctx->cfg->storage;
    if (!strncmp(loc, "file://", 7))
        loc += 7;
    if (strstr(loc, "://"))
        return NULL;
    return dp_asprintf("%s/%s", loc, file);
}

static enum MHD_Result download(req *r, struct MHD_Connection *c, sd_ctx *ctx)
{
    sd_status st = {0};
    char *file = NULL, sha[65];
    uint64_t size = 0;
    if (sd_backup_file(ctx, r->app, r->id, &file, &size, sha, &st))
        return send_status(c, NULL, &st);
    char *path = sd_storage_is_s3(ctx) ? dp_strdup(file) : storage_path(ctx, file);
    dl_state *s = calloc(1, sizeof *s);
    enum MHD_Result ret;
    int pfd[2] = {-1, -1};
    if (s && path && sd_storage_is_s3(ctx)) {
        s->piped = 1;
        s->wfd = -1;
        if (pipe2(pfd, O_CLOEXEC) == 0) {
            s->fd = pfd[0];
            s->wfd = pfd[1];
            s->key = dp_strdup(file);
        } else {
            s->fd = -1;
        }
    } else if (s && path) {
        s->fd = open(path, O_RDONLY | O_CLOEXEC);
    }
    if (!s || !path || s->fd < 0 || (s->piped && !s->key) || !(s->md = EVP_MD_CTX_new()) ||
        EVP_DigestInit_ex(s->md, EVP_sha256(), NULL) != 1) {
        if (s && s->wfd > 0)
            close(s->wfd);
        if (s)
            free(s->key);
        dp_warn("download: unable to open backup '%s'", file);
        if (s && s->fd > 0)
            close(s->fd);
        if (s)
            EVP_MD_CTX_free(s->md);
        free(s);
        free(path);
        free(file);
        return send_err(c, 500, "internal", "backup file is missing from storage");
    }
    s->size = size;
    s->storage = ctx->cfg->storage;
    snprintf(s->sha, sizeof s->sha, "%s", sha);
    if (s->piped) {
        if (pthread_create(&s->pump, NULL, pump_main, s) != 0) {
            close(s->wfd);
            s->wfd = -1;
        } else {
            s->pump_started = 1;
        }
    }
    struct stat sb;
    if (!s->piped && fstat(s->fd, &sb) == 0 && (uint64_t)sb.st_size != size)
        dp_warn("download: '%s' has %lld bytes, the catalog says %" PRIu64, file, (long long)sb.st_size, size);
    struct MHD_Response *resp = MHD_create_response_from_callback(size, 256 * 1024, dl_read, s, dl_free);
    if (!resp) {
        dl_free(s);
        free(path);
        free(file);
        return MHD_NO;
    }
    ret = send_attachment(c, resp, "application/octet-stream", file, sha);
    free(path);
    free(file);
    return ret;
}

enum MHD_Result sd_http_download(struct MHD_Connection *c, sd_ctx *ctx, int64_t app, int64_t backup)
{
    req r = {.app = app, .id = backup};
    return download(&r, c, ctx);
}

/* The manifest stored beside a good backup (<file>.json), for a client that downloaded the file: with it
 * `dumper restore FILE URL` needs no --sha256. Sent only when it is valid and names the catalog's sha256. */
static enum MHD_Result manifest(struct MHD_Connection *c, sd_ctx *ctx, int64_t app, int64_t backup)
{
    sd_status st = {0};
    char *file = NULL, *mkey = NULL, *json = NULL, sha[65];
    uint64_t size = 0;
    size_t len = 0;
    if (sd_backup_file(ctx, app, backup, &file, &size, sha, &st))
        return send_status(c, NULL, &st);
    dp_storage *stg = NULL;
    dp_err err = {0};
    dp_manifest m = {0};
    int rc = (mkey = dp_asprintf("%s%s", file, DP_MANIFEST_SUFFIX)) ? 0 : DUMPER_ENOMEM;
    if (!rc)
        rc = dp_storage_open(ctx->cfg->storage, NULL, 0, &stg, &err);
    if (!rc)
        rc = dp_storage_get(stg, mkey, DP_MANIFEST_MAX, &json, &len, &err);
    if (!rc)
        rc = dp_manifest_parse(json, len, file, &m, &err);
    if (!rc && (strcmp(m.sha256, sha) || m.size != size))
        rc = dp_err_set(&err, DUMPER_ECORRUPT, "manifest of '%s' does not match the catalog", file);
    dp_manifest_free(&m);
    dp_storage_close(stg);
    enum MHD_Result ret;
    if (rc) {
        dp_warn("manifest of backup b_%" PRId64 ": %s", backup, err.msg[0] ? err.msg : "out of memory");
        free(json);
        ret = send_err(c, 500, "internal", "the backup's manifest is missing or invalid in storage");
    } else {
        struct MHD_Response *resp = MHD_create_response_from_buffer(len, json, MHD_RESPMEM_MUST_FREE);
        if (!resp) {
            free(json);
            ret = MHD_NO;
        } else {
            ret = send_attachment(c, resp, "application/json", mkey, NULL);
        }
    }
    free(mkey);
    free(file);
    return ret;
}

enum MHD_Result sd_http_manifest(struct MHD_Connection *c, sd_ctx *ctx, int64_t app, int64_t backup)
{
    return manifest(c, ctx, app, backup);
}

/* ---- dispatch ---- */

static int64_t query_id(struct MHD_Connection *c, const char *k, char prefix)
{
    const char *v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, k);
    int64_t id = 0;
    return v && sd_id_parse(v, prefix, &id) ? -1 : id;
}

static enum MHD_Result finish(req *r, struct MHD_Connection *c, sd_ctx *ctx)
{
    sd_status st = {0};
    enum MHD_Result ret = MHD_YES;
    if (!ctx)
        return send_err(c, 503, "unavailable", "state store unavailable");
    if (r->route == R_PART)
        return part_end(r, c);
    if (r->route == R_SITE)
        return sd_site_request(c, r->url, r->method, r->body.data, r->body.len, ctx);
    if (r->route == R_LIST) {
        int64_t dbid = query_id(c, "database_id", 'd');
        const char *lim = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "limit");
        int limit = lim ? (int)strtol(lim, NULL, 10) : 0;
        if (dbid < 0)
            return send_err(c, 404, "not_found", "unknown database_id");
        cJSON *arr = sd_backups(ctx, r->app, dbid, limit, &st.err);
        if (!arr)
            return send_err(c, 500, "internal", "state store error");
        cJSON *o = cJSON_CreateObject();
        cJSON_AddItemToObject(o, "backups", arr);
        return send_json(c, 200, o);
    }
    if (r->route == R_GET)
        return send_status(c, sd_backup_get(ctx, r->app, r->id, &st), &st);
    if (r->route == R_DOWNLOAD)
        return download(r, c, ctx);
    if (r->route == R_MANIFEST)
        return manifest(c, ctx, r->app, r->id);
    if (r->route == R_PRESIGN)
        return send_status(c, sd_presign(ctx, r->app, r->id, r->part, &st), &st);
    cJSON *j = parse_body(r, c, &ret);
    if (!j)
        return ret;
    cJSON *out = NULL;
    switch (r->route) {
    case R_REGISTER:
        out = sd_register(ctx, r->app, j, &st);
        sd_count_register();
        break;
    case R_POLL: {
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(j, "agent_id");
        int64_t id = 0;
        if (!cJSON_IsString(a)) {
            st.http = 400;
            st.code = "invalid_request";
            snprintf(st.err.msg, sizeof st.err.msg, "field 'agent_id' is required");
            break;
        }
        if (sd_id_parse(a->valuestring, 'a', &id)) {
            st.http = 404;
            st.code = "not_found";
            snprintf(st.err.msg, sizeof st.err.msg, "unknown agent (register again)");
            break;
        }
        out = sd_poll(ctx, r->app, r->key_hash, id, &st);
        sd_count_poll();
        break;
    }
    case R_PREPARE:
        out = sd_prepare(ctx, r->app, j, &st);
        break;
    case R_COMMIT:
        out = sd_commit(ctx, r->app, r->id, j, &st);
        break;
    case R_FAIL:
        out = sd_fail(ctx, r->app, r->id, j, &st);
        break;
    case R_CLOCK: {
        const cJSON *n = cJSON_GetObjectItemCaseSensitive(j, "now");
        if (!cJSON_IsNumber(n) || n->valuedouble < 0 || n->valuedouble > 1e11) {
            st.http = 400;
            st.code = "invalid_request";
            snprintf(st.err.msg, sizeof st.err.msg, "field 'now' must be seconds since the epoch");
            break;
        }
        sd_tick_lock();
        sd_clock_set_ms(ctx->clock, (int64_t)(n->valuedouble * 1000));
        dp_err e = {0};
        int rc = sd_tick(ctx, &e);
        sd_tick_unlock();
        if (rc) {
            st.http = 500;
            st.code = "internal";
            snprintf(st.err.msg, sizeof st.err.msg, "%s", e.msg);
            break;
        }
        out = cJSON_CreateObject();
        cJSON_AddNumberToObject(out, "now", n->valuedouble);
        break;
    }
    default:
        st.http = 404;
        st.code = "not_found";
        snprintf(st.err.msg, sizeof st.err.msg, "no such endpoint");
    }
    cJSON_Delete(j);
    return send_status(c, out, &st);
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                               const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
    req *r = *con_cls;
    sd_ctx *ctx = thread_ctx(cls);
    if (!r) {
        r = calloc(1, sizeof *r);
        if (!r)
            return MHD_NO;
        r->fd = -1;
        *con_cls = r;
        if (strncmp(url, "/api/", 5)) {
            /* The site: sessions instead of app keys (site.c decides what needs one). */
            r->route = R_SITE;
            r->url = dp_strdup(url);
            r->method = dp_strdup(method);
            const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
            if (!r->url || !r->method || (cl && strtoull(cl, NULL, 10) > MAX_JSON)) {
                r->done = 1;
                return send_err(c, 413, "too_large", "request body over %d bytes", MAX_JSON);
            }
            return MHD_YES;
        }
        if (!ctx) {
            r->done = 1;
            return send_err(c, 503, "unavailable", "state store unavailable");
        }
        const char *want = parse_route(r, ctx, url);
        if (!want) {
            r->done = 1;
            return send_err(c, 404, "not_found", "no such endpoint");
        }
        if (strcmp(method, want) && !(r->route == R_DOWNLOAD && !strcmp(method, "HEAD"))) {
            r->done = 1;
            return send_err(c, 405, "method_not_allowed", "use %s for this endpoint", want);
        }
        const char *v = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Dumper-Api");
        if (v && strcmp(v, "1")) {
            r->done = 1;
            return send_err(c, 400, "unsupported_api_version", "this server speaks API version 1");
        }
        int conflict;
        const char *key = app_key(c, &conflict);
        dp_err err = {0};
        int rc = conflict                ? 1
                 : r->route == R_POLL ? sd_auth_poll(ctx, key, &r->app, r->key_hash, &err)
                                      : sd_auth(ctx, key, &r->app, &err);
        if (rc) {
            r->done = 1;
            if (rc > 0)
                return send_err(c, 401, "unauthorized", "missing or wrong app key");
            return send_err(c, 503, "unavailable", "state store unavailable");
        }
        if (r->route == R_PART) {
            enum MHD_Result ret = MHD_YES;
            if (part_begin(r, ctx, c, &ret)) {
                r->done = 1;
                return ret;
            }
        } else {
            const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
            r->max_body = r->route == R_COMMIT ? MAX_COMMIT_JSON : MAX_JSON;
            if (cl && strtoull(cl, NULL, 10) > r->max_body) {
                r->done = 1;
                return send_err(c, 413, "too_large", "request body over %zu bytes", r->max_body);
            }
        }
        return MHD_YES;
    }
    if (r->done) {
        *upload_size = 0; /* an answer is queued: discard the rest */
        return MHD_YES;
    }
    if (*upload_size) {
        if (r->route == R_PART) {
            r->got += *upload_size;
            if (r->got > r->expect)
                r->write_err = 1;
            else if (!r->write_err) {
                if (dp_write_all(r->fd, upload, *upload_size) < 0)
                    r->write_err = 1;
                EVP_DigestUpdate(r->md, upload, *upload_size);
            }
        } else if (r->body.len + *upload_size > (r->max_body ? r->max_body : MAX_JSON)) {
            r->too_large = 1;
        } else if (!r->too_large && dp_buf_append(&r->body, upload, *upload_size)) {
            r->too_large = 1;
        }
        *upload_size = 0;
        return MHD_YES;
    }
    r->done = 1;
    if (r->too_large)
        return send_err(c, 413, "too_large", "request body over %zu bytes", r->max_body ? r->max_body : MAX_JSON);
    return finish(r, c, ctx);
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe)
{
    req *r = *con_cls;
    if (!r)
        return;
    if (r->fd >= 0)
        close(r->fd);
    if (r->tmp)
        unlink(r->tmp);
    free(r->tmp);
    free(r->final);
    free(r->url);
    free(r->method);
    EVP_MD_CTX_free(r->md);
    dp_buf_free(&r->body);
    free(r);
    *con_cls = NULL;
}

static char *slurp(const char *path, dp_err *err)
{
    FILE *f = fopen(path, "rb");
    dp_buf b = {0};
    char buf[4096];
    size_t n;
    if (!f) {
        dp_err_sys(err, DUMPER_ENOENT, errno, "unable to read '%s'", path);
        return NULL;
    }
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        if (dp_buf_append(&b, buf, n) < 0)
            break;
    int bad = ferror(f) || n > 0;
    fclose(f);
    if (bad || !b.len) { /* the caller must never see NULL without an error */
        if (b.data)
            dp_memzero(b.data, b.len); /* part of a key */
        dp_buf_free(&b);
        dp_err_set(err, bad ? DUMPER_EIO : DUMPER_EUSAGE, "%s '%s'", bad ? "unable to read" : "empty file", path);
        return NULL;
    }
    return b.data;
}

int sd_http_start(const sd_http_opts *o, sd_http **out, dp_err *err)
{
    char host[256];
    const char *colon = strrchr(o->listen, ':'), *hs = o->listen, *he = colon;
    int bracketed = o->listen[0] == '[';
    if (bracketed) { /* [IPv6]:PORT */
        hs++;
        he = strchr(hs, ']');
        if (!he || he[1] != ':')
            return dp_err_set(err, DUMPER_EUSAGE, "--listen expects [IPv6]:PORT, not '%s'", o->listen);
        colon = he + 1;
    }
    if (!colon || he == hs || (size_t)(he - hs) >= sizeof host)
        return dp_err_set(err, DUMPER_EUSAGE, "--listen expects HOST:PORT, not '%s'", o->listen);
    memcpy(host, hs, (size_t)(he - hs));
    host[he - hs] = 0;
    if (!bracketed && strchr(host, ':'))
        return dp_err_set(err, DUMPER_EUSAGE, "--listen: an IPv6 address goes in brackets ([%s]:PORT)", host);
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end || port < 0 || port > 65535 || end == colon + 1)
        return dp_err_set(err, DUMPER_EUSAGE, "invalid port in --listen '%s'", o->listen);
    /* A name resolves to its IPv4 address when it has one (as before IPv6 support), else to IPv6. */
    struct addrinfo hints = {.ai_family = bracketed ? AF_INET6 : AF_INET, .ai_socktype = SOCK_STREAM,
                             .ai_flags = bracketed ? AI_NUMERICHOST : 0},
                    *ai = NULL;
    if (getaddrinfo(host, NULL, &hints, &ai) || !ai) {
        hints.ai_family = AF_INET6;
        if (bracketed || getaddrinfo(host, NULL, &hints, &ai) || !ai)
            return dp_err_set(err, DUMPER_EUSAGE, "unable to resolve '%s' (%s)", host,
                              bracketed ? "not an IPv6 address" : "IPv4 or IPv6 address, or name");
    }
    struct sockaddr_storage sa = {0};
    int v6 = ai->ai_family == AF_INET6;
    memcpy(&sa, ai->ai_addr, ai->ai_addrlen < sizeof sa ? ai->ai_addrlen : sizeof sa);
    freeaddrinfo(ai);
    if (v6)
        ((struct sockaddr_in6 *)&sa)->sin6_port = htons((uint16_t)port);
    else
        ((struct sockaddr_in *)&sa)->sin_port = htons((uint16_t)port);

    sd_http *h = calloc(1, sizeof *h);
    if (!h)
        return dp_err_set(err, DUMPER_ENOMEM, "out of memory");
    h->cfg = o->cfg;
    h->clock = o->clock;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ERROR_LOG | MHD_USE_TURBO;
    if (v6) /* [::] takes IPv4 clients too (as ::ffff:a.b.c.d) */
        flags |= MHD_USE_DUAL_STACK;
    int threads = o->threads > 0 ? o->threads : 4;
    if (o->tls_cert || o->tls_key) {
        if (!o->tls_cert || !o->tls_key) {
            free(h);
            return dp_err_set(err, DUMPER_EUSAGE, "--tls-cert and --tls-key go together");
        }
        if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
            free(h);
            return dp_err_set(err, DUMPER_EUNSUPPORTED, "this libmicrohttpd has no TLS support");
        }
        if (!(h->cert = slurp(o->tls_cert, err)) || !(h->key = slurp(o->tls_key, err))) {
            free(h->cert);
            free(h);
            return err->code;
        }
        flags |= MHD_USE_TLS;
    }
    if (h->cert)
        h->d = MHD_start_daemon(flags, 0, NULL, NULL, handler, h, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
                                MHD_OPTION_THREAD_POOL_SIZE, (unsigned)threads, MHD_OPTION_NOTIFY_COMPLETED, completed,
                                NULL, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120, MHD_OPTION_CONNECTION_LIMIT,
                                (unsigned)20000, MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)4096,
                                MHD_OPTION_HTTPS_MEM_CERT, h->cert, MHD_OPTION_HTTPS_MEM_KEY, h->key, MHD_OPTION_END);
    else
        h->d = MHD_start_daemon(flags, 0, NULL, NULL, handler, h, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
                                MHD_OPTION_THREAD_POOL_SIZE, (unsigned)threads, MHD_OPTION_NOTIFY_COMPLETED, completed,
                                NULL, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120, MHD_OPTION_CONNECTION_LIMIT,
                                (unsigned)20000, MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)4096, MHD_OPTION_END);
    if (!h->d) {
        free(h->cert);
        free(h->key);
        free(h);
        return dp_err_set(err, DUMPER_EIO, "unable to listen on %s (address in use?)", o->listen);
    }
    *out = h;
    return 0;
}

int sd_http_port(sd_http *h)
{
    const union MHD_DaemonInfo *i = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
    return i ? i->port : 0;
}

void sd_http_stop(sd_http *h)
{
    if (!h)
        return;
    MHD_stop_daemon(h->d);
    if (h->key)
        dp_memzero(h->key, strlen(h->key));
    free(h->cert);
    free(h->key);
    free(h);
}
