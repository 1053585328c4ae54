/*
 * s3_upload.c - streaming multipart upload engine (design in s3_upload.h).
 *
 * Buffers move between three places under one mutex: the free stack, the work queue (full parts
 * waiting for a worker) and the workers' hands; the filling buffer belongs to the driving thread.
 * The first error (a part that failed after its retries, or a begin/complete failure) wins and is
 * sticky: workers skip queued parts and the driving thread sees it on its next write or end.
 */
#include "storage/s3_upload.h"

#include <openssl/evp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/util.h"
#include "storage/s3_xml.h"

typedef struct {
    unsigned char *data;
    size_t cap, len;
    int part;
} pbuf;

typedef struct uploader {
    dp_sink base;
    dp_s3_upload_opts o;
    char *what;
    const dp_s3_upload_ops *ops;
    void *ctx;

    pthread_mutex_t mu;
    pthread_cond_t cv;
    pbuf *bufs;
    int nbufs;
    int *freestk, nfree;
    int *queue, qhead, qlen;
    int inflight;
    int stop;
    dp_stop halt; /* requested by abort: transfers in flight and retry waits end at once */
    int failed;
    dp_err ferr;

    pthread_t *th;
    int nth;

    pbuf *cur;          /* filling (driving thread only) */
    int next_part;      /* number the filling buffer will get */
    int nparts;         /* parts handed to workers */
    char **etags;       /* [max_parts] */
    uint64_t *sizes;    /* [max_parts] */
    int begun, completed;
    uint64_t total;
} uploader;

uint64_t dp_s3_part_size(uint64_t initial, uint64_t max, int part_number)
{
    if (!max || max > DP_S3_MAX_PART)
        max = DP_S3_MAX_PART;
    uint64_t s = initial ? initial : DP_S3_DEFAULT_PART;
    for (int k = (part_number - 1) / 1000; k > 0 && s < max; k--)
        s *= 2;
    return s > max ? max : s;
}

uint64_t dp_s3_max_object(uint64_t initial, uint64_t max)
{
    uint64_t t = 0;
    for (int p = 1; p <= DP_S3_MAX_PARTS; p += 1000)
        t += 1000 * dp_s3_part_size(initial, max, p);
    return t;
}

static void md5_b64(const void *p, size_t n, char out[25])
{
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int dl = 0;
    EVP_Digest(p, n, d, &dl, EVP_md5(), NULL);
    EVP_EncodeBlock((unsigned char *)out, d, (int)dl);
}

/* One line from an error body: "HTTP 403 AccessDenied: Request has expired". */
int dp_s3_error_from_response(long status, const char *body, size_t n, const char *what, dp_err *err)
{
    char *code = body ? dp_s3_xml_tag(body, n, "Code") : NULL;
    char *msg = body ? dp_s3_xml_tag(body, n, "Message") : NULL;
    for (char *c = msg; c && *c; c++)
        if ((unsigned char)*c < 0x20)
            *c = ' ';
    int dc;
    const char *hint = "";
    if (status == 401 || status == 403) {
        dc = DUMPER_EAUTH;
        hint = "access denied: ";
    } else if (status == 404 || dp_streq(code, "NoSuchBucket") || dp_streq(code, "NoSuchKey")) {
        dc = DUMPER_ENOENT;
        hint = dp_streq(code, "NoSuchBucket") ? "bucket does not exist: " : "not found: ";
    } else if (status == 301 || status == 307 || dp_streq(code, "PermanentRedirect")) {
        dc = DUMPER_ESTORAGE; /* AWS: the bucket lives in another region */
        hint = "wrong region or endpoint for this bucket (set AWS_REGION or --region): ";
    } else if (status >= 500 || status == 429) {
        dc = DUMPER_ESTORAGE;
        hint = "storage service error: ";
    } else if (status >= 400) {
        dc = DUMPER_ESTORAGE;
    } else {
        dc = DUMPER_EPROTO;
        hint = "unexpected response: ";
    }
    int rc = dp_err_set(err, dc, "%s: %sHTTP %ld%s%s%s%s", what, hint, status, code ? " " : "", code ? code : "",
                        msg && *msg ? ": " : "", msg && *msg ? msg : "");
    free(code);
    free(msg);
    return rc;
}

int dp_s3_complete_result(long status, const char *body, size_t n, const char *what, dp_err *err)
{
    if (status == 200 && !(body && memmem(body, n, "<Error>", 7)))
        return 0;
    return dp_s3_error_from_response(status == 200 ? 500 : status, body, n, what, err);
}

/* One part's request, named afresh for every attempt by ops.part. */
typedef struct {
    uploader *u;
    dp_http *h;
    const pbuf *b;
    const char *md5; /* NULL: no Content-MD5 */
    char *url;
    struct curl_slist *hdrs;
} part_req;

static int name_part(void *ctx, dp_http_req *req, dp_err *err)
{
    part_req *r = ctx;
    free(r->url);
    curl_slist_free_all(r->hdrs);
    r->url = NULL;
    r->hdrs = NULL;
    int rc = r->u->ops->part(r->u->ctx, r->h, r->b->part, r->b->data, r->b->len, r->md5, &r->url, &r->hdrs, err);
    if (rc)
        return rc;
    if (r->md5) {
        char line[40];
        snprintf(line, sizeof line, "Content-MD5: %s", r->md5);
        struct curl_slist *t = curl_slist_append(r->hdrs, line);
        if (!t)
            return dp_err_set(err, DUMPER_ENOMEM, "out of memory");
        r->hdrs = t;
    }
    req->url = r->url;
    req->headers = r->hdrs;
    return 0;
}

/* PUT one part (any thread), with retries. On success *etag is the part's ETag ("" with no_etag). */
static int upload_part(uploader *u, dp_http *h, const pbuf *b, char **etag, dp_err *err)
{
    char md5[25], *what = dp_asprintf("%s part %d", u->what, b->part);
    dp_http_resp resp = {0};
    int rc;
    if (!what)
        return dp_err_set(err, DUMPER_ENOMEM, "out of memory");
    if (!u->o.no_content_md5)
        md5_b64(b->data, b->len, md5);
    part_req pr = {.u = u, .h = h, .b = b, .md5 = u->o.no_content_md5 ? NULL : md5};
    dp_http_req req = {.method = "PUT", .body = b->data, .body_len = b->len};
    if ((rc = dp_http_do(h, &req, name_part, &pr, &resp, what, err)))
        goto done;
    if (resp.status != 200) {
        rc = u->ops->part_error ? u->ops->part_error(u->ctx, b->part, resp.status, resp.body.data, resp.body.len, err)
                                : dp_s3_error_from_response(resp.status, resp.body.data, resp.body.len, what, err);
        goto done;
    }
    if (!u->o.no_etag && (!resp.etag || !*resp.etag)) {
        rc = dp_err_set(err, DUMPER_EPROTO, "%s: no ETag in the response", what);
        goto done;
    }
    if (resp.attempts > 1)
        dp_info("%s: stored after %d attempts", what, resp.attempts);
    if (u->o.no_etag) {
        if (!(*etag = dp_strdup("")))
            rc = dp_err_set(err, DUMPER_ENOMEM, "out of memory");
    } else {
        *etag = resp.etag;
        resp.etag = NULL;
    }
done:
    dp_http_resp_free(&resp);
    curl_slist_free_all(pr.hdrs);
    free(pr.url);
    free(what);
    return rc;
}

static void *worker(void *arg)
{
    uploader *u = arg;
    dp_http_opts ho = u->o.http;
    ho.stop = &u->halt;
    ho.big_buffers = 1;
    dp_http *h = dp_http_new(&ho);
    pthread_mutex_lock(&u->mu);
    for (;;) {
        while (!u->qlen && !u->stop)
            pthread_cond_wait(&u->cv, &u->mu);
        if (!u->qlen)
            break;
        int idx = u->queue[u->qhead];
        u->qhead = (u->qhead + 1) % u->nbufs;
        u->qlen--;
        u->inflight++;
        int skip = u->failed;
        pthread_mutex_unlock(&u->mu);

        dp_err e = {0};
        char *etag = NULL;
        int rc = 0;
        if (!skip)
            rc = h ? upload_part(u, h, &u->bufs[idx], &etag, &e) : dp_err_set(&e, DUMPER_ENOMEM, "out of memory");

        pthread_mutex_lock(&u->mu);
        if (rc && !u->failed) {
            u->failed = rc;
            u->ferr = e;
        } else if (!rc && !skip) {
            u->etags[u->bufs[idx].part - 1] = etag;
            u->sizes[u->bufs[idx].part - 1] = u->bufs[idx].len;
            etag = NULL;
        }
        free(etag);
        u->freestk[u->nfree++] = idx;
        u->inflight--;
        pthread_cond_broadcast(&u->cv);
    }
    pthread_mutex_unlock(&u->mu);
    dp_http_free(h);
    return NULL;
}

static int fail_from_workers(uploader *u, dp_err *err)
{
    /* called with mu held */
    return dp_err_set(err, u->failed, "%s", u->ferr.msg);
}

/* Get a free buffer of at least `size` bytes (blocks while all are in use). */
static int take_buffer(uploader *u, size_t size, dp_err *err)
{
    pthread_mutex_lock(&u->mu);
    while (!u->nfree && !u->failed)
        pthread_cond_wait(&u->cv, &u->mu);
    if (u->failed) {
        int rc = fail_from_workers(u, err);
        pthread_mutex_unlock(&u->mu);
        return rc;
    }
    int idx = u->freestk[--u->nfree];
    pthread_mutex_unlock(&u->mu);
    pbuf *b = &u->bufs[idx];
    if (b->cap < size) {
        free(b->data);
        b->cap = 0;
        if (!(b->data = malloc(size))) {
            pthread_mutex_lock(&u->mu);
            u->freestk[u->nfree++] = idx;
            pthread_mutex_unlock(&u->mu);
            return dp_err_set(err, DUMPER_ENOMEM, "out of memory for a %zu-byte upload part", size);
        }
        b->cap = size;
    }
    b->len = 0;
    b->part = u->next_part;
    u->cur = b;
    return 0;
}

static int start(uploader *u, dp_err *err)
{
    if (u->begun)
        return 0;
    if (u->ops->begin) {
        int rc = u->ops->begin(u->ctx, err);
        if (rc)
            return rc;
    }
    u->begun = 1;
    for (; u->nth < u->o.parallel; u->nth++)
        if (pthread_create(&u->th[u->nth], NULL, worker, u) != 0) {
            if (u->nth == 0)
                return dp_err_set(err, DUMPER_ENOMEM, "unable to start upload threads");
            break;
        }
    return 0;
}

static int dispatch(uploader *u, dp_err *err)
{
    int rc = start(u, err);
    if (rc)
        return rc;
    pthread_mutex_lock(&u->mu);
    if (u->failed) {
        rc = fail_from_workers(u, err);
        pthread_mutex_unlock(&u->mu);
        return rc;
    }
    u->queue[(u->qhead + u->qlen) % u->nbufs] = (int)(u->cur - u->bufs);
    u->qlen++;
    u->nparts = u->cur->part;
    u->cur = NULL;
    u->next_part++;
    pthread_cond_broadcast(&u->cv);
    pthread_mutex_unlock(&u->mu);
    return 0;
}

static int up_write(dp_sink *s, const void *p, size_t n, dp_err *err)
{
    uploader *u = (uploader *)s;
    const unsigned char *in = p;
    while (n) {
        if (u->cur && u->cur->len == u->cur->cap) {
            /* full and more data follows: this part goes now */
            if (u->next_part >= u->o.max_parts)
                return dp_err_set(err, DUMPER_ETOOLARGE, "%s: object exceeds %d parts", u->what, u->o.max_parts);
            int rc = dispatch(u, err);
            if (rc)
                return rc;
        }
        if (!u->cur) {
            int rc = take_buffer(u, (size_t)dp_s3_part_size(u->o.part_size, u->o.max_part_size, u->next_part), err);
            if (rc)
                return rc;
        }
        size_t k = u->cur->cap - u->cur->len;
        if (k > n)
            k = n;
        memcpy(u->cur->data + u->cur->len, in, k);
        u->cur->len += k;
        in += k;
        n -= k;
        u->total += k;
    }
    return 0;
}

/* Wait until every queued part is stored (or the upload failed). */
static int drain(uploader *u, dp_err *err)
{
    int rc = 0;
    pthread_mutex_lock(&u->mu);
    while ((u->qlen || u->inflight) && !u->failed)
        pthread_cond_wait(&u->cv, &u->mu);
    if (u->failed)
        rc = fail_from_workers(u, err);
    pthread_mutex_unlock(&u->mu);
    return rc;
}

static int up_end(dp_sink *s, dp_err *err)
{
    uploader *u = (uploader *)s;
    if (!u->begun)
        return 0; /* fits in one part: sent at commit, so nothing is visible before */
    if (u->cur && u->cur->len) {
        int rc = dispatch(u, err);
        if (rc)
            return rc;
    }
    return drain(u, err);
}

static int up_commit(dp_sink *s, dp_err *err)
{
    uploader *u = (uploader *)s;
    int rc = 0;
    if (!u->begun && u->ops->put_single) {
        char md5[25];
        const void *data = u->cur ? (const void *)u->cur->data : (const void *)"";
        size_t len = u->cur ? u->cur->len : 0;
        md5_b64(data, len, md5);
        rc = u->ops->put_single(u->ctx, data, len, md5, err);
        if (!rc)
            u->completed = 1;
        return rc;
    }
    if (!u->begun) {
        /* one-part multipart upload (presigned mode) */
        if (!u->cur && (rc = take_buffer(u, 1, err)))
            return rc;
        if ((rc = dispatch(u, err)) || (rc = drain(u, err)))
            return rc;
    }
    for (int i = 0; i < u->nparts; i++)
        if (!u->etags[i])
            return dp_err_set(err, DUMPER_EINTERNAL, "%s: part %d has no ETag", u->what, i + 1);
    rc = u->ops->complete(u->ctx, u->nparts, u->etags, u->sizes, u->total, err);
    if (!rc)
        u->completed = 1;
    return rc;
}

static void stop_workers(uploader *u)
{
    pthread_mutex_lock(&u->mu);
    u->stop = 1;
    dp_stop_request(&u->halt);
    if (!u->failed) {
        u->failed = DUMPER_EINTR;
        dp_err_set(&u->ferr, DUMPER_EINTR, "%s: upload aborted", u->what);
    }
    pthread_cond_broadcast(&u->cv);
    pthread_mutex_unlock(&u->mu);
    for (int i = 0; i < u->nth; i++)
        pthread_join(u->th[i], NULL);
    u->nth = 0;
}

static void up_abort(dp_sink *s)
{
    uploader *u = (uploader *)s;
    stop_workers(u);
    if (u->begun && !u->completed) {
        if (u->ops->abort)
            u->ops->abort(u->ctx);
        u->begun = 0;
    }
}

static void up_destroy(dp_sink *s)
{
    uploader *u = (uploader *)s;
    stop_workers(u);
    if (u->begun && !u->completed && u->ops->abort)
        u->ops->abort(u->ctx);
    if (u->ops->free_ctx)
        u->ops->free_ctx(u->ctx);
    for (int i = 0; u->bufs && i < u->nbufs; i++)
        free(u->bufs[i].data);
    if (u->etags)
        for (int i = 0; i < u->o.max_parts; i++)
            free(u->etags[i]);
    free(u->etags);
    free(u->sizes);
    free(u->bufs);
    free(u->freestk);
    free(u->queue);
    free(u->th);
    free(u->what);
    pthread_mutex_destroy(&u->mu);
    pthread_cond_destroy(&u->cv);
    dp_stop_destroy(&u->halt);
}

static const dp_sink_ops up_ops = {
    .name = "s3", .write = up_write, .end = up_end, .commit = up_commit, .abort = up_abort, .destroy = up_destroy};

int dp_s3_upload_new(const dp_s3_upload_opts *opts, const dp_s3_upload_ops *ops, void *ctx, dp_sink **out,
                     dp_err *err)
{
    *out = NULL;
    if (!ops || !ops->part || !ops->complete)
        return dp_err_set(err, DUMPER_EINTERNAL, "s3 upload: incomplete callbacks");
    uploader *u = calloc(1, sizeof *u);
    if (!u)
        return dp_err_set(err, DUMPER_ENOMEM, "out of memory");
    dp_sink_init(&u->base, &up_ops, NULL);
    pthread_mutex_init(&u->mu, NULL);
    pthread_cond_init(&u->cv, NULL);
    dp_stop_init(&u->halt, 1);
    u->o = *opts;
    if (!u->o.max_part_size || u->o.max_part_size > DP_S3_MAX_PART)
        u->o.max_part_size = DP_S3_MAX_PART;
    if (!u->o.part_size)
        u->o.part_size = DP_S3_DEFAULT_PART;
    if (u->o.part_size > u->o.max_part_size)
        u->o.part_size = u->o.max_part_size;
    if (u->o.max_parts <= 0 || u->o.max_parts > DP_S3_MAX_PARTS)
        u->o.max_parts = DP_S3_MAX_PARTS;
    if (u->o.parallel <= 0)
        u->o.parallel = DP_S3_DEFAULT_PARALLEL;
    if (u->o.parallel > 64)
        u->o.parallel = 64;
    u->what = dp_strdup(opts->what ? opts->what : "s3 object");
    u->o.what = u->what;
    u->ops = ops;
    u->ctx = ctx;
    u->nbufs = u->o.parallel + 1;
    u->next_part = 1;
    u->bufs = calloc((size_t)u->nbufs, sizeof *u->bufs);
    u->freestk = calloc((size_t)u->nbufs, sizeof *u->freestk);
    u->queue = calloc((size_t)u->nbufs, sizeof *u->queue);
    u->th = calloc((size_t)u->o.parallel, sizeof *u->th);
    u->etags = calloc((size_t)u->o.max_parts, sizeof *u->etags);
    u->sizes = calloc((size_t)u->o.max_parts, sizeof *u->sizes);
    if (!u->what || !u->bufs || !u->freestk || !u->queue || !u->th || !u->etags || !u->sizes) {
        u->ops = &(const dp_s3_upload_ops){0}; /* nothing begun: no callbacks needed */
        up_destroy(&u->base);
        free(u);
        return dp_err_set(err, DUMPER_ENOMEM, "out of memory");
    }
    for (int i = 0; i < u->nbufs; i++)
        u->freestk[u->nfree++] = i;
    *out = &u->base;
    return 0;
}
