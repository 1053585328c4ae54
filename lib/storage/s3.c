/*
 * s3.c - the S3-compatible storage driver: "s3://bucket/prefix".
 *
 * Requests are signed with SigV4 headers (http/sigv4.h) afresh on every attempt and sent through
 * http/http.h (timeouts, retries with backoff and jitter). Writers are the streaming multipart
 * uploader of s3_upload.h; reads stream a GET into the caller's sink and resume a dropped
 * connection with a Range request from the last byte delivered; list is ListObjectsV2 with
 * continuation tokens; remove is DELETE. Opening checks the bucket with a HEAD request (HeadBucket),
 * so a wrong bucket, endpoint or key fails at once with one clear line.
 *
 * Configuration: dp_storage_opts first, then the environment (AWS_ACCESS_KEY_ID,
 * AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_REGION / AWS_DEFAULT_REGION, AWS_ENDPOINT_URL_S3 /
 * AWS_ENDPOINT_URL, DUMPER_S3_ADDRESSING). Path-style addressing is the default with a custom endpoint
 * (s3rver, MinIO) and for bucket names with dots; otherwise virtual-host style, as AWS recommends.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/log.h"
#include "core/util.h"
#include "http/http.h"
#include "http/sigv4.h"
#include "io/filter.h"
#include "storage/s3_upload.h"
#include "storage/s3_xml.h"
#include "storage/storage.h"

typedef struct {
    dp_storage base;
    char *bucket;
    char *prefix;    /* "" or "dir/sub/" */
    char *base_url;  /* "https://host[:port]" as connected to */
    char *host;      /* Host header value */
    char *path_base; /* "" (virtual host) or "/bucket" (path style), after any endpoint path */
    char *region, *access_key, *secret_key, *token;
    uint64_t part_size;
    int parallel;
    char *lock_mode; /* Object Lock on writes (NULL: none) */
    int lock_days;
    dp_http_opts hopts;
    dp_http *h; /* for the thread driving the storage */
} s3_storage;

static int s3_accepts(const char *loc) { return strncmp(loc, "s3://", 5) == 0; }

static const char *env_first(const char *a, const char *b)
{
    const char *v = getenv(a);
    if ((!v || !*v) && b)
        v = getenv(b);
    return v && *v ? v : NULL;
}

static void s3_close(dp_storage *st)
{
    s3_storage *s = (s3_storage *)st;
    if (!s)
        return;
    dp_http_free(s->h);
    free(s->bucket);
    free(s->prefix);
    free(s->base_url);
    free(s->host);
    free(s->path_base);
    free(s->region);
    free(s->lock_mode);
    free(s->access_key);
    dp_free_secret(s->secret_key);
    dp_free_secret(s->token);
    free(s->base.location);
    free(s);
}

/* "s3://bucket/prefix" + key -> full object key (no leading slash). */
static char *object_key(s3_storage *s, const char *key) { return dp_asprintf("%s%s", s->prefix, key ? key : ""); }

/* Encoded request path for an object key (NULL key: the bucket). */
static char *object_path(s3_storage *s, const char *objkey)
{
    char *enc = dp_sigv4_uri_encode(objkey ? objkey : "", 0);
    char *p = enc ? dp_asprintf("%s/%s", s->path_base, enc) : NULL;
    free(enc);
    return p;
}

typedef struct {
    s3_storage *s;
    const char *method, *path, *query, *payload_hash, *md5, *range;
    const char *copy_source; /* CopyObject: "/bucket/key", encoded */
    char *url;
    struct curl_slist *hdrs;
} signed_req;

static int add_hdr(struct curl_slist **l, const char *name, const char *value)
{
    char *line = dp_asprintf("%s: %s", name, value);
    struct curl_slist *t = line ? curl_slist_append(*l, line) : NULL;
    free(line);
    if (!t)
        return -1;
    *l = t;
    return 0;
}

/* Build signed headers for one request; used per attempt and by upload workers (thread-safe). */
static int sign_into(s3_storage *s, const char *method, const char *path, const char *query, const char *payload_hash,
                     const char *md5, const char *range, const char *copy_source, struct curl_slist **out, dp_err *err)
{
    char amzdate[17], until[24];
    dp_sigv4_amzdate(dp_now_ms() / 1000, amzdate);
    dp_sigv4_header h[9];
    size_t n = 0;
    if (copy_source)
        h[n++] = (dp_sigv4_header){"x-amz-copy-source", copy_source};
    /* Object Lock headers on the requests that create objects: PutObject and CreateMultipartUpload. */
    if (s->lock_mode && ((!strcmp(method, "PUT") && (!query || !*query)) ||
                         (!strcmp(method, "POST") && query && !strcmp(query, "uploads")))) {
        dp_stamp_rfc3339(dp_now_ms() + (int64_t)s->lock_days * 86400000, until);
        h[n++] = (dp_sigv4_header){"x-amz-object-lock-mode", s->lock_mode};
        h[n++] = (dp_sigv4_header){"x-amz-object-lock-retain-until-date", until};
    }
    h[n++] = (dp_sigv4_header){"host", s->host};
    h[n++] = (dp_sigv4_header){"x-amz-date", amzdate};
    h[n++] = (dp_sigv4_header){"x-amz-content-sha256", payload_hash};
    if (md5)
        h[n++] = (dp_sigv4_header){"content-md5", md5};
    if (range)
        h[n++] = (dp_sigv4_header){"range", range};
    if (s->token)
        h[n++] = (dp_sigv4_header){"x-amz-security-token", s->token};
    dp_sigv4_creds c = {s->access_key, s->secret_key, s->token, s->region, "s3"};
    char *auth = dp_sigv4_authorization(&c, amzdate, method, path, query, h, n, payload_hash, NULL);
    struct curl_slist *l = NULL;
    int bad = !auth;
    for (size_t i = 0; !bad && i < n; i++)
        bad = add_hdr(&l, h[i].name, h[i].value) < 0;
    bad = bad || add_hdr(&l, "Authorization", auth) < 0;
    free(auth);
    if (bad) {
        curl_slist_free_all(l);
        return dp_err_set(err, DUMPER_ENOMEM, "out of memory");
    }
    *out = l;
    return 0;
}

static int prepare_signed(void *ctx, dp_http_req *req, dp_err *err)
{
    signed_req *r = ctx;
    curl_slist_free_all(r->hdrs);
    r->hdrs = NULL;
    int rc = sign_into(r->s, r->method, r->path, r->query, r->payload_hash, r->md5, r->range, r->copy_source,
                       &r->hdrs, err);
    req->headers = r->hdrs;
    return rc;
}

/* A signed request with retries. path is encoded; query is encoded or NULL. */
static int s3_send(s3_storage *s, dp_http *h, const char *method, const char *path, const char *query,
                   const void *body, size_t len, const char *md5, const char *range,
                   int (*on_data)(void *, long, const void *, size_t), void *dctx, dp_http_resp *resp, const char *what, dp_err *err)
{
    char hash[65];
    if (body && len)
        dp_sha256_hex(body, len, hash);
    else
        memcpy(hash, DP_SHA256_EMPTY, 65);
    signed_req r = {.s = s, .method = method, .path = path, .query = query, .payload_hash = hash, .md5 = md5,
                    .range = range};
    r.url = dp_asprintf("%s%s%s%s", s->base_url, path, query && *query ? "?" : "", query && *query ? query : "");
    if (!r.url)
        return dp_err_set(err, DUMPER_ENOMEM, "out of memory");
    dp_http_req req = {.method = method, .url = r.url, .body = body, .body_len = len, .on_data = on_data, .ctx = dctx};
    int rc = on_data ? (prepare_signed(&r, &req, err) || dp_http_perform(h, &req, resp, what, err))
                     : dp_http_do(h, &req, prepare_signed, &r, resp, what, err);
    if (on_data && rc)
        rc = err->code ? err->code : rc;
    curl_slist_free_all(r.hdrs);
    free(r.url);
    return rc;
}

static char *shown(s3_storage *s, const char *key) { return dp_asprintf("s3://%s/%s%s", s->bucket, s->prefix, key); }

/* ---- one object: its request path and name, one request on it ---- */

typedef struct {
    char *path; /* encoded request path */
    char *what; /* "s3://bucket/prefix/key", for messages */
    dp_http_resp resp;
} obj_req;

/* Names key's object in o; o can be given to obj_done whatever this returns. */
static int obj_name(s3_storage *s, const char *key, obj_req *o, dp_err *err)
{
    memset(o, 0, sizeof *o);
    char *ok = object_key(s, key);
    o->path = ok ? object_path(s, ok) : NULL;
    o->what = shown(s, key);
    free(ok);
    return o->path && o->what ? 0 : dp_err_set(err, DUMPER_ENOMEM, "out of memory");
}

/* Names key's object and sends one bodiless request on it (with retries); the answer is in o->resp. */
static int obj_request(s3_storage *s, const char *method, const char *key, obj_req *o, dp_err *err)
{
    int rc = obj_name(s, key, o, err);
    return rc ? rc : s3_send(s, s->h, method, o->path, NULL, NULL, 0, NULL, NULL, NULL, NULL, &o->resp, o->what, err);
}

static void obj_done(obj_req *o)
{
    dp_http_resp_free(&o->resp);
    free(o->path);
    free(o->what);
}

/* ---- listing ---- */

static int list_page(s3_storage *s, const char *token, int max_keys, dp_s3_list_page *page, dp_err *err)
{
    char *ep = dp_sigv4_uri_encode(s->prefix, 1);
    char *et = token ? dp_sigv4_uri_encode(token, 1) : NULL;
    char *q = ep ? dp_asprintf("list-type=2&max-keys=%d&prefix=%s%s%s", max_keys, ep, et ? "&continuation-token=" : "",
                               et ? et : "")
                 : NULL;
    char *path = dp_asprintf("%s/", s->path_base);
    dp_http_resp resp = {0};
    int rc;
    if (!q || !path) {
        rc = dp_err_set(err, DUMPER_ENOMEM, "out of memory");
        goto done;
    }
    if ((rc = s3_send(s, s->h, "GET", path, q, NULL, 0, NULL, NULL, NULL, NULL, &resp, s->base.location, err)))
        goto done;
    if (resp.status != 200) {
        rc = dp_s3_error_from_response(resp.status, resp.body.data, resp.body.len, s->base.location, err);
        goto done;
    }
    rc = dp_s3_xml_parse_list(resp.body.data, resp.body.len, s->prefix, page, err);
done:
    dp_http_resp_free(&resp);
    free(ep);
    free(et);
    free(q);
    free(path);
    return rc;
}

static int s3_list(dp_storage *st, dp_object_info **items, size_t *n, dp_err *err)
{
    s3_storage *s = (s3_storage *)st;
    dp_object_info *all = NULL;
    size_t count = 0;
    char *token = NULL;
    int rc = 0;
    /* Test hook: small pages exercise pagination without thousands of objects. */
    const char *mk = getenv("DUMPER_S3_LIST_MAX_KEYS");
    int page_keys = mk ? (int)strtol(mk, NULL, 10) : 1000;
    if (page_keys < 1 || page_keys > 1000)
        page_keys = 1000;
    for (;;) {
        dp_s3_list_page page;
        if ((rc = list_page(s, token, page_keys, &page, err)))
            break;
        if (page.n) {
            dp_object_info *g = realloc(all, (count + page.n) * sizeof *g);
            if (!g) {
                dp_s3_list_page_free(&page);
                rc = dp_err_set(err, DUMPER_ENOMEM, "out of memory");
                break;
            }
            all = g;
            memcpy(all + count, page.items, page.n * sizeof *g);
            count += page.n;
            free(page.items);
            page.items = NULL;
            page.n = 0;
        }
        free(token);
        token = page.next_token;
        page.next_token = NULL;
        int more = page.truncated;
        dp_s3_list_page_free(&page);
        if (!more)
            break;
    }
    free(token);
    if (rc) {
        dp_object_info_free(all, count);
        return rc;
    }
    *items = all;
    *n = count;
    return 0;
}

/* ---- open ---- */

static int parse_endpoint(s3_storage *s, const char *ep, dp_err *err)
{
    const char *rest;
    int https;
    if (strncasecmp(ep, "https://", 8) == 0) {
        https = 1;
        rest = ep + 8;
    } else if (strncasecmp(ep, "http://", 7) == 0) {
        https = 0;
        rest = ep + 7;
    } else {
        return dp_err_set(err, DUMPER_EURL, "invalid s3 endpoint '%s' (expected http:// or https://)", ep);
    }
    size_t hl = strcspn(rest, "/?#");
    if (!hl || rest[hl] == '?' || rest[hl] == '#' || memchr(rest, '@', hl))
        return dp_err_set(err, DUMPER_EURL, "invalid s3 endpoint '%s'", ep);
    char *hostport = dp_strndup(rest, hl);
    char *epath = dp_strdup(rest + hl);
    if (!hostport || !epath) {
        free(hostport);
        free(epath);
        return dp_err_set(err, DUMPER_ENOMEM, "out of memory");
    }
    for (char *c = hostport; *c; c++)
        if (*c >= 'A' && *c <= 'Z')
            *c = (char)(*c - 'A' + 'a');
    while (*epath && epath[strlen(epath) - 1] == '/')
        epath[strlen(epath) - 1] = 0;
    /* The Host header drops a default port, as clients (and botocore) do. */
    char *colon = strrchr(hostport, ':');
    if (colon && !strchr(colon, ']') &&
        ((https && strcmp(colon, ":443") == 0) || (!https && strcmp(colon, ":80") == 0)))
        *colon = 0;
    const char *scheme = https ? "https" : "http";
    if (s->path_base && (hostport[0] == '[' || strspn(hostport, "0123456789.:") == strlen(hostport))) {
        free(hostport);
        free(epath);
        return dp_err_set(err, DUMPER_EURL,
                          "virtual-host s3 addressing needs a host name, not an IP address, in the endpoint '%s'", ep);
    }
    if (s->path_base) { /* virtual host: bucket.host */
        s->host = dp_asprintf("%s.%s", s->bucket, hostport);
        free(s->path_base);
        s->path_base = dp_strdup(epath);
    } else {
        s->host = dp_strdup(hostport);
        s->path_base = dp_asprintf("%s/%s", epath, s->bucket);
    }
    s->base_url = s->host ? dp_asprintf("%s://%s", scheme, s->host) : NULL;
    free(hostport);
    free(epath);
    if (!s->host || !s->path_base || !s->base_url)
        return dp_err_set(err, DUMPER_ENOMEM, "out of memory");
    return 0;
}

static int bucket_name_ok(const char *b)
{
    size_t n = strlen(b);
    if (n < 3 || n > 63)
        return 0;
    for (const char *c = b; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '-' || *c == '.' || *c == '_' ||
              (*c >= 'A' && *c <= 'Z')))
            return 0;
    return 1;
}

static int s3_open(const char *location, const dp_storage_opts *opts, int create, dp_storage **out, dp_err *err)
{
    s3_storage *s = calloc(1, sizeof *s);
    int rc = 0;
    if (!s)
        return dp_err_set(err, DUMPER_ENOMEM, "out of memory");
    s->base.drv = &dp_storage_s3;
    const char *p = location + 5;
    size_t bl = strcspn(p, "/");
    s->bucket = dp_strndup(p, bl);
    const char *pre = p[bl] ? p + bl + 1 : "";
    while (*pre == '/')
        pre++;
    char *pfx = dp_strdup(pre);
    if (!s->bucket || !pfx) {
        free(pfx);
        rc = dp_err_set(err, DUMPER_ENOMEM, "out of memory");
        goto fail;
    }
    while (*pfx && pfx[strlen(pfx) - 1] == '/')
        pfx[strlen(pfx) - 1] = 0;
    s->prefix = *pfx ? dp_asprintf("%s/", pfx) : dp_strdup("");
    s->base.location = *pfx ? dp_asprintf("s3://%s/%s", s->bucket, pfx) : dp_asprintf("s3://%s", s->bucket);
    free(pfx);
    if (!s->prefix || !s->base.location) {
        rc = dp_err_set(err, DUMPER_ENOMEM, "out of memory");
        goto fail;
    }
    if (!bucket_name_ok(s->bucket)) {
        rc = dp_err_set(err, DUMPER_EURL, "invalid s3 bucket name in '%s'", location);
        goto fail;
    }
    if (*s->prefix && !dp_storage_key_valid(s->base.location + 5 + bl + 1)) {
        rc = dp_err_set(err, DUMPER_EURL, "invalid s3 prefix in '%s'", location);
        goto fail;
    }
    const char *region = opts->region ? opts->region : env_first("AWS_REGION", "AWS_DEFAULT_REGION");
    s->region = dp_strdup(region ? region : "us-east-1");
    const char *ak = opts->access_key ? opts->access_key : env_first("AWS_ACCESS_KEY_ID", NULL);
    const char *sk = opts->secret_key ? opts->secret_key : env_first("AWS_SECRET_ACCESS_KEY", NULL);
    const char *tok = opts->session_token ? opts->session_token : env_first("AWS_SESSION_TOKEN", NULL);
    if (!ak || !sk) {
        rc = dp_err_set(err, DUMPER_EAUTH,
                        "no s3 credentials for '%s' (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)",
                        s->base.location);
        goto fail;
    }
    s->access_key = dp_strdup(ak);
    s->secret_key = dp_strdup(sk);
    s->token = tok ? dp_strdup(tok) : NULL;
    const char *ep = opts->endpoint ? opts->endpoint : env_first("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL");
    char *aws_ep = NULL;
    if (!ep && s->region)
        ep = aws_ep = dp_asprintf("https://s3.%s.amazonaws.com", s->region);
    if (!s->region || !s->access_key || !s->secret_key || (tok && !s->token) || !ep) {
        free(aws_ep);
        rc = dp_err_set(err, DUMPER_ENOMEM, "out of memory");
        goto fail;
    }
    int style = opts->path_style;
    const char *as = style ? NULL : env_first("DUMPER_S3_ADDRESSING", NULL);
    if (as && strcmp(as, "auto") != 0) {
        if (strcmp(as, "path") == 0)
            style = 1;
        else if (strcmp(as, "virtual") == 0)
            style = -1;
        else {
            free(aws_ep);
            rc = dp_err_set(err, DUMPER_EUSAGE, "invalid DUMPER_S3_ADDRESSING '%s' (use path, virtual or auto)", as);
            goto fail;
        }
    }
    int path_style = style > 0 || (style == 0 && (!aws_ep || strchr(s->bucket, '.')));
    if (!path_style)
        s->path_base = dp_strdup(""); /* marks virtual-host style for parse_endpoint */
    rc = parse_endpoint(s, ep, err);
    free(aws_ep);
    if (rc)
        goto fail;
    s->part_size = opts->part_size;
    s->parallel = opts->parallel;
    if (opts->lock_mode && opts->lock_days > 0) {
        if (!(s->lock_mode = dp_strdup(opts->lock_mode))) {
            rc = dp_err_set(err, DUMPER_ENOMEM, "out of memory");
            goto fail;
        }
        s->lock_days = opts->lock_days;
    }
    dp_http_opts_resolve(NULL, &s->hopts);
    s->hopts.big_buffers = 1; /* objects and parts of many MiB */
    if (!(s->h = dp_http_new(&s->hopts))) {
        rc = dp_err_set(err, DUMPER_ENOMEM, "out of memory");
        goto fail;
    }
    /* Check bucket, endpoint and credentials now (HeadBucket): one clear error before any work. */
    dp_http_resp resp = {0};
    rc = s3_send(s, s->h, "HEAD", *s->path_base ? s->path_base : "/", NULL, NULL, 0, NULL, NULL, NULL, NULL, &resp,
                 s->base.location, err);
    if (!rc && resp.status == 404)
        rc = dp_err_set(err, DUMPER_ENOENT, "%s: bucket '%s' does not exist", s->base.location, s->bucket);
    else if (!rc && resp.status != 200)
        rc = dp_s3_error_from_response(resp.status, NULL, 0, s->base.location, err);
    dp_http_resp_free(&resp);
    if (rc)
        goto fail;
    *out = &s->base;
    return 0;
fail:
    s3_close(&s->base);
    return rc;
}

/* ---- stat, remove ---- */

static int64_t parse_http_date(const char *v)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    if (!v || !strptime(v, "%a, %d %b %Y %H:%M:%S", &tm))
        return -1;
    return (int64_t)timegm(&tm) * 1000;
}

static int s3_stat(dp_storage *st, const char *key, dp_object_info *info, dp_err *err)
{
    obj_req o;
    int rc = obj_request((s3_storage *)st, "HEAD", key, &o, err);
    if (rc) {
    } else if (o.resp.status == 404) {
        rc = dp_err_set(err, DUMPER_ENOENT, "%s: not found", o.what);
    } else if (o.resp.status != 200) {
        rc = dp_s3_error_from_response(o.resp.status, NULL, 0, o.what, err);
    } else {
        info->key = dp_strdup(key);
        info->size = o.resp.content_length >= 0 ? (uint64_t)o.resp.content_length : 0;
        info->mtime_ms = parse_http_date(o.resp.last_modified);
        if (!info->key)
            rc = dp_err_set(err, DUMPER_ENOMEM, "out of memory");
    }
    obj_done(&o);
    return rc;
}

static int s3_remove(dp_storage *st, const char *key, dp_err *err)
{
    obj_req o;
    int rc = obj_request((s3_storage *)st, "DELETE", key, &o, err);
    if (!rc && o.resp.status != 204 && o.resp.status != 200 && o.resp.status != 404)
        rc = dp_s3_error_from_response(o.resp.status, o.resp.body.data, o.resp.body.len, o.what, err);
    obj_done(&o);
    return rc;
}

/* ---- read: streaming GET, resumed with Range after a dropped connection ---- */

typedef struct {
    dp_sink *to;
    dp_err *err;
    uint64_t delivered; /* bytes given to the sink */
    uint64_t asked;     /* first byte requested by this attempt (Range) */
    uint64_t seen;      /* body bytes received by this attempt */
} read_ctx;

static int on_object_data(void *ctx, long status, const void *p, size_t n)
{
    read_ctx *r = ctx;
    /* A server that ignored our Range answers 200 with the whole object: drop what we have. */
    uint64_t start = status == 206 ? r->asked : 0;
    uint64_t pos = start + r->seen;
    r->seen += n;
    if (pos < r->delivered) {
        uint64_t k = r->delivered - pos;
        if (k >= n)
            return 0;
        p = (const char *)p + k;
        n -= (size_t)k;
    }
    int rc = dp_sink_write(r->to, p, n, r->err);
    if (!rc)
        r->delivered += n;
    return rc;
}

static int s3_read(dp_storage *st, const char *key, dp_sink *to, dp_err *err)
{
    s3_storage *s = (s3_storage *)st;
    obj_req o;
    read_ctx r = {.to = to, .err = err};
    int rc = obj_name(s, key, &o, err);
    if (rc) {
        obj_done(&o);
        return rc;
    }
    for (int attempt = 1;; attempt++) {
        char range[64];
        if (r.delivered)
            snprintf(range, sizeof range, "bytes=%llu-", (unsigned long long)r.delivered);
        dp_err e = {0};
        r.err = &e;
        uint64_t before = r.delivered;
        r.asked = r.delivered;
        r.seen = 0;
        rc = s3_send(s, s->h, "GET", o.path, NULL, NULL, 0, NULL, r.delivered ? range : NULL, on_object_data, &r, &o.resp,
                     o.what, &e);
        if (!rc && (o.resp.status == 200 || o.resp.status == 206)) {
            r.err = err;
            break;
        }
        if (o.resp.consumer_rc) { /* the downstream sink failed: not a network problem */
            rc = dp_err_set(err, e.code, "%s", e.msg);
            break;
        }
        int retry = rc ? dp_http_retryable(rc, 0) : dp_http_retryable(0, o.resp.status);
        if (!retry || attempt >= s->hopts.max_attempts || dp_interrupted) {
            if (rc)
                rc = dp_err_set(err, e.code, "%s", e.msg);
            else if (o.resp.status == 404)
                rc = dp_err_set(err, DUMPER_ENOENT, "%s: not found", o.what);
            else
                rc = dp_s3_error_from_response(o.resp.status, o.resp.body.data, o.resp.body.len, o.what, err);
            break;
        }
        if (r.delivered > before)
            attempt = 0; /* progress was made: the connection dropped mid-body; resume afresh */
        dp_info("%s: %s; resuming at byte %llu", o.what, rc ? e.msg : "server error",
                (unsigned long long)r.delivered);
        dp_sleep_ms((int64_t)dp_backoff_ms(attempt > 0 ? (unsigned)attempt - 1 : 0, (uint64_t)s->hopts.backoff_base_ms,
                                           (uint64_t)s->hopts.backoff_max_ms, (uint32_t)dp_mono_ms()),
                    NULL);
    }
    obj_done(&o);
    return rc;
}

/* ---- multipart upload operations (shared by the writer and the control-plane helpers) ---- */

static int create_upload(s3_storage *s, const char *path, const char *what, char **upload_id, dp_err *err)
{
    dp_http_resp resp = {0};
    int rc = s3_send(s, s->h, "POST", path, "uploads", NULL, 0, NULL, NULL, NULL, NULL, &resp, what, err);
    if (!rc && resp.status != 200)
        rc = dp_s3_error_from_response(resp.status, resp.body.data, resp.body.len, what, err);
    if (!rc) {
        *upload_id = dp_s3_xml_tag(resp.body.data, resp.body.len, "UploadId");
        if (!*upload_id || !**upload_id)
            rc = dp_err_set(err, DUMPER_EPROTO, "%s: no UploadId in the CreateMultipartUpload response", what);
    }
    dp_http_resp_free(&resp);
    return rc;
}

static char *upload_query(const char *upload_id, int part)
{
    char *e = dp_sigv4_uri_encode(upload_id, 1);
    char *q = !e ? NULL : part ? dp_asprintf("partNumber=%d&uploadId=%s", part, e) : dp_asprintf("uploadId=%s", e);
    free(e);
    return q;
}

static int complete_upload(s3_storage *s, const char *path, const char *what, const char *upload_id, int n,
                           char *const *etags, dp_err *err)
{
    char *q = upload_query(upload_id, 0);
    char *body = dp_s3_xml_complete_body(n, etags);
    dp_http_resp resp = {0};
    int rc;
    if (!q || !body) {
        rc = dp_err_set(err, DUMPER_ENOMEM, "out of memory");
        goto done;
    }
    if ((rc = s3_send(s, s->h, "POST", path, q, body, strlen(body), NULL, NULL, NULL, NULL, &resp, what, err)))
        goto done;
    rc = dp_s3_complete_result(resp.status, resp.body.data, resp.body.len, what, err);
done:
    dp_http_resp_free(&resp);
    free(q);
    free(body);
    return rc;
}

static int abort_upload(s3_storage *s, const char *path, const char *what, const char *upload_id, dp_err *err)
{
    char *q = upload_query(upload_id, 0);
    dp_http_resp resp = {0};
    int rc = q ? s3_send(s, s->h, "DELETE", path, q, NULL, 0, NULL, NULL, NULL, NULL, &resp, what, err)
               : dp_err_set(err, DUMPER_ENOMEM, "out of memory");
    if (!rc && resp.status != 204 && resp.status != 200 && resp.status != 404)
        rc = dp_s3_error_from_response(resp.status, resp.body.data, resp.body.len, what, err);
    dp_http_resp_free(&resp);
    free(q);
    return rc;
}

/* ---- writer ---- */

typedef struct {
    s3_storage *s;
    char *path, *what, *upload_id;
} wctx;

static int w_begin(void *ctx, dp_err *err)
{
    wctx *w = ctx;
    return create_upload(w->s, w->path, w->what, &w->upload_id, err);
}

static int w_part(void *ctx, dp_http *h, int part, const void *data, size_t len, const char *md5, char **url,
                  struct curl_slist **headers, dp_err *err)
{
    wctx *w = ctx;
    char hash[65];
    dp_sha256_hex(data, len, hash);
    char *q = upload_query(w->upload_id, part);
    int rc = q ? sign_into(w->s, "PUT", w->path, q, hash, md5, NULL, NULL, headers, err)
               : dp_err_set(err, DUMPER_ENOMEM, "out of memory");
    if (!rc && !(*url = dp_asprintf("%s%s?%s", w->s->base_url, w->path, q)))
        rc = dp_err_set(err, DUMPER_ENOMEM, "out of memory");
    free(q);
    return rc;
}

static int w_complete(void *ctx, int n, char *const *etags, const uint64_t *sizes, uint64_t total, dp_err *err)
{
    wctx *w = ctx;
    int rc = complete_upload(w->s, w->path, w->what, w->upload_id, n, etags, err);
    if (!rc)
        dp_debug("%s: stored %llu bytes in %d parts", w->what, (unsigned long long)total, n);
    return rc;
}

static void w_abort(void *ctx)
{
    wctx *w = ctx;
    if (!w->upload_id)
        return;
    dp_err e = {0};
    int rc = abort_upload(w->s, w->path, w->what, w->upload_id, &e);
    if (rc && strstr(e.msg, "HTTP 405") && strstr(e.msg, "MethodNotAllowed"))
        dp_debug("%s: this server does not implement AbortMultipartUpload", w->what); /* s3rver */
    else if (rc)
        dp_warn("%s: unable to abort the multipart upload (%s); a bucket lifecycle rule removes it later", w->what,
                e.msg);
}

static int w_put_single(void *ctx, const void *data, size_t len, const char *md5, dp_err *err)
{
    wctx *w = ctx;
    dp_http_resp resp = {0};
    int rc = s3_send(w->s, w->s->h, "PUT", w->path, NULL, data, len, md5, NULL, NULL, NULL, &resp, w->what, err);
    if (!rc && resp.status != 200)
        rc = dp_s3_error_from_response(resp.status, resp.body.data, resp.body.len, w->what, err);
    dp_http_resp_free(&resp);
    return rc;
}

static void w_free(void *ctx)
{
    wctx *w = ctx;
    free(w->path);
    free(w->what);
    free(w->upload_id);
    free(w);
}

static const dp_s3_upload_ops writer_ops = {.begin = w_begin,
                                            .part = w_part,
                                            .complete = w_complete,
                                            .abort = w_abort,
                                            .put_single = w_put_single,
                                            .free_ctx = w_free};

static int s3_writer(dp_storage *st, const char *key, dp_sink **out, dp_err *err)
{
    s3_storage *s = (s3_storage *)st;
    obj_req o;
    int rc = obj_name(s, key, &o, err);
    wctx *w = rc ? NULL : calloc(1, sizeof *w);
    if (!w) {
        obj_done(&o);
        return rc ? rc : dp_err_set(err, DUMPER_ENOMEM, "out of memory");
    }
    w->s = s;
    w->path = o.path; /* the writer keeps the name; o has no response to free */
    w->what = o.what;
    /* Refuse to replace an existing object, like the local driver. */
    dp_object_info info = {0};
    dp_err e = {0};
    rc = s3_stat(st, key, &info, &e);
    free(info.key);
    if (rc == 0)
        rc = dp_err_set(err, DUMPER_EEXIST, "backup '%s' already exists", w->what);
    else if (rc != DUMPER_ENOENT)
        rc = dp_err_set(err, e.code, "%s", e.msg);
    else
        rc = 0;
    if (rc) {
        w_free(w);
        return rc;
    }
    dp_s3_upload_opts uo = {.part_size = s->part_size, .parallel = s->parallel, .http = s->hopts, .what = w->what};
    rc = dp_s3_upload_new(&uo, &writer_ops, w, out, err);
    if (rc)
        w_free(w);
    return rc;
}

/* ---- control-plane helpers (s3_upload.h) ---- */

static int need_s3(dp_storage *st, const char *key, dp_err *err)
{
    if (!st || st->drv != &dp_storage_s3)
        return dp_err_set(err, DUMPER_EUSAGE, "not an s3 storage");
    if (!dp_storage_key_valid(key))
        return dp_err_set(err, DUMPER_EUSAGE, "invalid backup name '%s'", key ? key : "");
    return 0;
}

/* Runs body, which may use s and o (o.path, o.what), on key's object and returns its result. */
#define WITH_OBJECT(st, key, body)                                                                                    \
    do {                                                                                                              \
        s3_storage *s = (s3_storage *)(st);                                                                           \
        obj_req o;                                                                                                    \
        int rc = obj_name(s, key, &o, err);                                                                           \
        if (!rc)                                                                                                      \
            rc = (body);                                                                                              \
        obj_done(&o);                                                                                                 \
        return rc;                                                                                                    \
    } while (0)

int dp_s3_create_upload(dp_storage *st, const char *key, char **upload_id, dp_err *err)
{
    if (need_s3(st, key, err))
        return err->code;
    WITH_OBJECT(st, key, create_upload(s, o.path, o.what, upload_id, err));
}

int dp_s3_complete_upload(dp_storage *st, const char *key, const char *upload_id, int nparts, char *const *etags,
                          dp_err *err)
{
    if (need_s3(st, key, err))
        return err->code;
    WITH_OBJECT(st, key, complete_upload(s, o.path, o.what, upload_id, nparts, etags, err));
}

/* CopyObject: PUT on the destination's key with x-amz-copy-source naming the source object. */
static int copy_object(s3_storage *d, s3_storage *src, const char *key, const char *path, const char *what,
                       dp_err *err)
{
    char *srckey = object_key(src, key);
    char *enc = srckey ? dp_sigv4_uri_encode(srckey, 0) : NULL;
    char *source = enc ? dp_asprintf("/%s/%s", src->bucket, enc) : NULL;
    signed_req r = {.s = d, .method = "PUT", .path = path, .payload_hash = DP_SHA256_EMPTY, .copy_source = source};
    r.url = source ? dp_asprintf("%s%s", d->base_url, path) : NULL;
    dp_http_resp resp = {0};
    int rc = 0;
    if (!r.url)
        rc = dp_err_set(err, DUMPER_ENOMEM, "out of memory");
    if (!rc) {
        dp_http_req req = {.method = "PUT", .url = r.url};
        rc = dp_http_do(d->h, &req, prepare_signed, &r, &resp, what, err);
    }
    /* S3 may answer 200 with an <Error> body when the copy fails late. */
    if (!rc && (resp.status != 200 || (resp.body.data && strstr(resp.body.data, "<Error>"))))
        rc = dp_s3_error_from_response(resp.status == 200 ? 500 : resp.status, resp.body.data, resp.body.len, what,
                                       err);
    dp_http_resp_free(&resp);
    curl_slist_free_all(r.hdrs);
    free(r.url);
    free(source);
    free(enc);
    free(srckey);
    return rc;
}

/* The service's host: the Host header without a virtual-host bucket's "bucket." in front. */
static const char *service_host(const s3_storage *s)
{
    size_t bl = strlen(s->bucket);
    return !*s->path_base && !strncmp(s->host, s->bucket, bl) && s->host[bl] == '.' ? s->host + bl + 1 : s->host;
}

int dp_s3_same_service(const dp_storage *a, const dp_storage *b)
{
    if (!a || !b || a->drv != &dp_storage_s3 || b->drv != &dp_storage_s3)
        return 0;
    const s3_storage *x = (const s3_storage *)a, *y = (const s3_storage *)b;
    return !strcmp(service_host(x), service_host(y)) && !strncmp(x->base_url, y->base_url, 6) &&
           !strcmp(x->region, y->region) && !strcmp(x->access_key, y->access_key);
}

int dp_s3_copy_object(dp_storage *dst, dp_storage *src, const char *key, dp_err *err)
{
    if (need_s3(dst, key, err) || need_s3(src, key, err))
        return err->code;
    if (!dp_s3_same_service(dst, src))
        return dp_err_set(err, DUMPER_EUNSUPPORTED, "not the same s3 service");
    WITH_OBJECT(dst, key, copy_object(s, (s3_storage *)src, key, o.path, o.what, err));
}

int dp_s3_abort_upload(dp_storage *st, const char *key, const char *upload_id, dp_err *err)
{
    if (need_s3(st, key, err))
        return err->code;
    WITH_OBJECT(st, key, abort_upload(s, o.path, o.what, upload_id, err));
}

static int presign(s3_storage *s, const char *path, const char *method, const char *upload_id, int part,
                   long expires_s, char **url, dp_err *err)
{
    if (expires_s < 1 || expires_s > 604800)
        return dp_err_set(err, DUMPER_EUSAGE, "presigned url lifetime must be 1..604800 seconds");
    char *q = upload_id ? upload_query(upload_id, part) : NULL;
    char amzdate[17];
    dp_sigv4_amzdate(dp_now_ms() / 1000, amzdate);
    dp_sigv4_creds c = {s->access_key, s->secret_key, s->token, s->region, "s3"};
    *url = (!upload_id || q) ? dp_sigv4_presign(&c, amzdate, expires_s, method, s->base_url, s->host, path, q) : NULL;
    free(q);
    return *url ? 0 : dp_err_set(err, DUMPER_ENOMEM, "out of memory");
}

int dp_s3_presign(dp_storage *st, const char *method, const char *key, const char *upload_id, int part_number,
                  long expires_s, char **url, dp_err *err)
{
    *url = NULL;
    if (need_s3(st, key, err))
        return err->code;
    WITH_OBJECT(st, key, presign(s, o.path, method, upload_id, part_number, expires_s, url, err));
}

const dp_storage_driver dp_storage_s3 = {
    .name = "s3",
    .features = DP_STORAGE_FEAT_LIST | DP_STORAGE_FEAT_REMOVE | DP_STORAGE_FEAT_READ,
    .accepts = s3_accepts,
    .open = s3_open,
    .writer = s3_writer,
    .read = s3_read,
    .stat = s3_stat,
    .list = s3_list,
    .remove = s3_remove,
    .close = s3_close,
};
