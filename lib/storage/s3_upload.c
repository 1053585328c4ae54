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
    atomic_int cancel; /* stops transfers in flight (abort) */
    int failed;
    dp_err ferr;

    pthread_t *th;
    int nth;

    pbuf *cur;          /* filling (driving thread only) */
    int next_part;      /* number the filling buffer will get */
    int nparts;         /* parts handed to workers */
    char **etags;       /* [DP_S3_MAX_PARTS] */
    int begun, completed;
    uint64_t total;
} uploader;

uint64_t dp_s3_part_size(uint64_t initial, int part_number)
{
    uint64_t s = initial ? initial : DP_S3_DEFAULT_PART;
    for (int k = (part_number - 1) / 1000; k > 0 && s < DP_S3_MAX_PART; k--)
        s *= 2;
    return s > DP_S3_MAX_PART ? DP_S3_MAX_PART : s;
}

uint64_t dp_s3_max_object(uint64_t initial)
{
    uint64_t t = 0;
    for (int p = 1; p <= DP_S3_MAX_PARTS; p += 1000)
        t += 1000 * dp_s3_part_size(initial, p);
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

/* PUT one part (any thread). On success *etag is the part's ETag. */
static int upload_part(uploader *u, dp_http *h, const pbuf *b, char **etag, dp_err *err)
{
    char md5[25], *url = NULL, *what = dp_asprintf("%s part %d", u->what, b->part);
    struct curl_slist *hdrs = NULL, *t;
    dp_http_resp resp = {0};
    int rc;
    if (!what)
        return dp_err_set(err, DUMPER_ENOMEM, "out of memory");
    md5_b64(b->data, b->len, md5);
    if ((rc = u->ops->part(u->ctx, b->part, b->data, b->len, md5, &url, &hdrs, err)))
        goto done;
    char *h1 = dp_asprintf("Content-MD5: %s", md5);
    if (!h1 || !(t = curl_slist_append(hdrs, h1)) || !(hdrs = t) || !(t = curl_slist_append(hdrs, "Expect:")) ||
        !(hdrs = t)) {
        free(h1);
        rc = dp_err_set(err, DUMPER_ENOMEM, "out of memory");
        goto done;
    }
    free(h1);
    dp_http_req req = {
        .method = "PUT", .url = url, .headers = hdrs, .body = b->data, .body_len = b->len, .cancel = &u->cancel};
    if ((rc = dp_http_do(h, &req, NULL, NULL, &resp, what, err)))
        goto done;
    if (resp.status != 200) {
        rc = dp_s3_error_from_response(resp.status, resp.body.data, resp.body.len, what, err);
        goto done;
    }
    if (!resp.etag || !*resp.etag) {
        rc = dp_err_set(err, DUMPER_EPROTO, "%s: no ETag in the response", what);
        goto done;
    }
    if (resp.attempts > 1)
        dp_info("%s: stored after %d attempts", what, resp.attempts);
    *etag = resp.etag;
    resp.etag = NULL;
done:
    dp_http_resp_free(&resp);
    curl_slist_free_all(hdrs);
    free(url);
    free(what);
    return rc;
}

static void *worker(void *arg)
{
    uploader *u = arg;
    dp_http *h = dp_http_new(&u->o.http);
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
            if (u->next_part >= DP_S3_MAX_PARTS)
                return dp_err_set(err, DUMPER_ETOOLARGE, "%s: object exceeds %d parts", u->what, DP_S3_MAX_PARTS);
            int rc = dispatch(u, err);
            if (rc)
                return rc;
        }
        if (!u->cur) {
            int rc = take_buffer(u, (size_t)dp_s3_part_size(u->o.part_size, u->next_part), err);
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
    rc = u->ops->complete(u->ctx, u->nparts, u->etags, u->total, err);
    if (!rc)
        u->completed = 1;
    return rc;
}

static void stop_workers(uploader *u)
{
    pthread_mutex_lock(&u->mu);
    u->stop = 1;
    atomic_store(&u->cancel, 1);
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
        u->ops->abort(u->ctx);
        u->begun = 0;
    }
}

static void up_destroy(dp_sink *s)
{
    uploader *u = (uploader *)s;
    stop_workers(u);
    if (u->begun && !u->completed)
        u->ops->abort(u->ctx);
    if (u->ops->free_ctx)
        u->ops->free_ctx(u->ctx);
    for (int i = 0; u->bufs && i < u->nbufs; i++)
        free(u->bufs[i].data);
    if (u->etags)
        for (int i = 0; i < DP_S3_MAX_PARTS; i++)
            free(u->etags[i]);
    free(u->etags);
    free(u->bufs);
    free(u->freestk);
    free(u->queue);
    free(u->th);
    free(u->what);
    pthread_mutex_destroy(&u->mu);
    pthread_cond_destroy(&u->cv);
}

static const dp_sink_ops up_ops = {
    .name = "s3", .write = up_write, .end = up_end, .commit = up_commit, .abort = up_abort, .destroy = up_destroy};

int dp_s3_upload_new(const dp_s3_upload_opts *opts, const dp_s3_upload_ops *ops, void *ctx, dp_sink **out,
                     dp_err *err)
{
    *out = NULL;
    if (!ops || !ops->part || !ops->complete || !ops->abort)
        return dp_err_set(err, DUMPER_EINTERNAL, "s3 upload: incomplete callbacks");
    uploader *u = calloc(1, sizeof *u);
    if (!u)
        return dp_err_set(err, DUMPER_ENOMEM, "out of memory");
    dp_sink_init(&u->base, &up_ops, NULL);
    pthread_mutex_init(&u->mu, NULL);
    pthread_cond_init(&u->cv, NULL);
    u->o = *opts;
    if (!u->o.part_size)
        u->o.part_size = DP_S3_DEFAULT_PART;
    if (u->o.part_size > DP_S3_MAX_PART)
        u->o.part_size = DP_S3_MAX_PART;
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
    u->etags = calloc(DP_S3_MAX_PARTS, sizeof *u->etags);
    if (!u->what || !u->bufs || !u->freestk || !u->queue || !u->th || !u->etags) {
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
