/*
 * http.c - libcurl easy-handle wrapper with timeouts and retries (see http.h).
 */
#include "http/http.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/log.h"

#define ERR_BODY_MAX (1024 * 1024)
/* A collected 2xx body (an S3 listing of 1000 keys of up to 1 KiB each, escaped) is kept whole or refused. */
#define OK_BODY_MAX (16 * 1024 * 1024)

struct dp_http {
    CURL *curl;
    dp_http_opts o;
    unsigned seed;
};

typedef struct {
    const dp_http_req *req;
    dp_http_resp *resp;
    size_t sent;
    CURL *curl;
    int overflow; /* a 2xx body over OK_BODY_MAX */
} xfer;

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static void global_init(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }

void dp_http_opts_resolve(const dp_http_opts *in, dp_http_opts *out)
{
    dp_http_opts d = {0};
    if (in)
        d = *in;
    if (d.connect_timeout_ms <= 0)
        d.connect_timeout_ms = 10000;
    if (d.stall_timeout_s <= 0)
        d.stall_timeout_s = 60;
    if (d.max_attempts <= 0) {
        const char *e = getenv("DUMPER_HTTP_MAX_ATTEMPTS");
        long v = e ? strtol(e, NULL, 10) : 0;
        d.max_attempts = v > 0 && v < 100 ? (int)v : 5;
    }
    if (d.backoff_base_ms <= 0)
        d.backoff_base_ms = 200;
    if (d.backoff_max_ms <= 0)
        d.backoff_max_ms = 10000;
    *out = d;
}

dp_http *dp_http_new(const dp_http_opts *opts)
{
    pthread_once(&global_once, global_init);
    dp_http *h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    h->curl = curl_easy_init();
    if (!h->curl) {
        free(h);
        return NULL;
    }
    dp_http_opts_resolve(opts, &h->o);
    h->seed = (unsigned)(dp_mono_ms() ^ (uintptr_t)h);
    return h;
}

void dp_http_free(dp_http *h)
{
    if (!h)
        return;
    curl_easy_cleanup(h->curl);
    free(h);
}

void dp_http_resp_reset(dp_http_resp *r)
{
    dp_buf_reset(&r->body);
    free(r->etag);
    free(r->last_modified);
    r->etag = r->last_modified = NULL;
    r->status = 0;
    r->content_length = -1;
    r->curl_code = 0;
    r->consumer_rc = 0;
    r->curl_msg[0] = 0;
}

void dp_http_resp_free(dp_http_resp *r)
{
    dp_http_resp_reset(r);
    dp_buf_free(&r->body);
}

static size_t on_read(char *buf, size_t size, size_t nitems, void *ud)
{
    xfer *x = ud;
    size_t left = x->req->body_len - x->sent, n = size * nitems;
    if (n > left)
        n = left;
    if (n)
        memcpy(buf, (const char *)x->req->body + x->sent, n);
    x->sent += n;
    return n;
}

static int on_seek(void *ud, curl_off_t off, int origin)
{
    xfer *x = ud;
    if (origin != SEEK_SET || off < 0 || (size_t)off > x->req->body_len)
        return CURL_SEEKFUNC_CANTSEEK;
    x->sent = (size_t)off;
    return CURL_SEEKFUNC_OK;
}

static size_t on_write(char *p, size_t size, size_t nmemb, void *ud)
{
    xfer *x = ud;
    size_t n = size * nmemb;
    long status = 0;
    curl_easy_getinfo(x->curl, CURLINFO_RESPONSE_CODE, &status);
    if (x->req->on_data && status >= 200 && status < 300) {
        int rc = x->req->on_data(x->req->ctx, status, p, n);
        if (rc) {
            x->resp->consumer_rc = rc;
            return 0;
        }
        return n;
    }
    int ok = status >= 200 && status < 300;
    if (x->resp->body.len + n > (ok ? OK_BODY_MAX : ERR_BODY_MAX)) {
        if (!ok)
            return n; /* keep the head of an oversized error body; enough for an error document */
        x->overflow = 1; /* never a silently truncated answer */
        return 0;
    }
    if (dp_buf_append(&x->resp->body, p, n) < 0) {
        x->resp->consumer_rc = DUMPER_ENOMEM;
        return 0;
    }
    return n;
}

static char *header_value(const char *line, size_t n, const char *name)
{
    size_t nl = strlen(name);
    if (n <= nl + 1 || strncasecmp(line, name, nl) != 0 || line[nl] != ':')
        return NULL;
    const char *v = line + nl + 1, *e = line + n;
    while (v < e && (*v == ' ' || *v == '\t'))
        v++;
    while (e > v && (e[-1] == '\r' || e[-1] == '\n' || e[-1] == ' '))
        e--;
    return dp_strndup(v, (size_t)(e - v));
}

static size_t on_header(char *p, size_t size, size_t nmemb, void *ud)
{
    xfer *x = ud;
    size_t n = size * nmemb;
    char *v;
    if (n > 5 && strncmp(p, "HTTP/", 5) == 0) {
        /* a new response (after 100-continue or a redirect): forget earlier headers */
        free(x->resp->etag);
        free(x->resp->last_modified);
        x->resp->etag = x->resp->last_modified = NULL;
        x->resp->content_length = -1;
    } else if ((v = header_value(p, n, "etag"))) {
        free(x->resp->etag);
        x->resp->etag = v;
    } else if ((v = header_value(p, n, "last-modified"))) {
        free(x->resp->last_modified);
        x->resp->last_modified = v;
    } else if ((v = header_value(p, n, "content-length"))) {
        char *end;
        long long cl = strtoll(v, &end, 10);
        x->resp->content_length = (*v && !*end && cl >= 0) ? cl : -1;
        free(v);
    }
    return n;
}

static int on_progress(void *ud, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
    xfer *x = ud;
    return x->req->cancel && atomic_load(x->req->cancel) ? 1 : 0;
}

static int map_curl(CURLcode c)
{
    switch (c) {
    case CURLE_ABORTED_BY_CALLBACK: return DUMPER_EINTR;
    case CURLE_OPERATION_TIMEDOUT: return DUMPER_ETIMEOUT;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
    case CURLE_SSL_CONNECT_ERROR: return DUMPER_ECONNECT;
    case CURLE_PEER_FAILED_VERIFICATION: return DUMPER_EAUTH;
    case CURLE_OUT_OF_MEMORY: return DUMPER_ENOMEM;
    default: return DUMPER_EIO;
    }
}

int dp_http_perform(dp_http *h, const dp_http_req *req, dp_http_resp *resp, const char *what, dp_err *err)
{
    CURL *c = h->curl;
    xfer x = {.req = req, .resp = resp, .curl = c};
    dp_http_resp_reset(resp);
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_URL, req->url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, h->o.connect_timeout_ms);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, h->o.stall_timeout_s);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, resp->curl_msg);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &x);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &x);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, req->headers);
    curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
    if (req->cancel) {
        curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
        curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
        curl_easy_setopt(c, CURLOPT_XFERINFODATA, &x);
    }
    /* Bigger buffers than curl's 64/16 KiB: fewer callbacks and syscalls per multi-MiB part. */
    curl_easy_setopt(c, CURLOPT_UPLOAD_BUFFERSIZE, 512L * 1024);
    curl_easy_setopt(c, CURLOPT_BUFFERSIZE, 256L * 1024);
    const char *m = req->method;
    if (strcmp(m, "HEAD") == 0) {
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    } else if (strcmp(m, "PUT") == 0) {
        curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(c, CURLOPT_READDATA, &x);
        curl_easy_setopt(c, CURLOPT_SEEKFUNCTION, on_seek);
        curl_easy_setopt(c, CURLOPT_SEEKDATA, &x);
        curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)req->body_len);
    } else if (strcmp(m, "POST") == 0) {
        curl_easy_setopt(c, CURLOPT_POST, 1L);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, req->body ? (const char *)req->body : "");
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
    } else if (strcmp(m, "GET") != 0) {
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, m);
    }
    CURLcode cc = curl_easy_perform(c);
    resp->curl_code = (int)cc;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp->status);
    if (x.overflow)
        return dp_err_set(err, DUMPER_EPROTO, "%s: the answer is over %d MiB", what, OK_BODY_MAX >> 20);
    if (resp->consumer_rc)
        return resp->consumer_rc; /* the consumer recorded its own error */
    if (cc != CURLE_OK) {
        if (!resp->curl_msg[0])
            snprintf(resp->curl_msg, sizeof resp->curl_msg, "%s", curl_easy_strerror(cc));
        return dp_err_set(err, map_curl(cc), "%s: %s", what, resp->curl_msg);
    }
    return 0;
}

int dp_http_retryable(int rc, long status)
{
    if (rc == DUMPER_ETIMEOUT || rc == DUMPER_EIO || rc == DUMPER_ECONNECT)
        return 1;
    if (rc)
        return 0;
    return status >= 500 || status == 429;
}

long dp_http_backoff_ms(int attempt, long base_ms, long max_ms, double r01)
{
    if (attempt < 1)
        return 0;
    long w = base_ms;
    for (int i = 1; i < attempt && w < max_ms; i++)
        w *= 2;
    if (w > max_ms)
        w = max_ms;
    if (r01 < 0)
        r01 = 0;
    if (r01 >= 1)
        r01 = 0.999999;
    return (long)((double)w * r01);
}

void dp_http_sleep_ms(long ms)
{
    while (ms > 0 && !dp_interrupted) {
        long step = ms > 100 ? 100 : ms;
        struct timespec ts = {step / 1000, (step % 1000) * 1000000L};
        nanosleep(&ts, NULL);
        ms -= step;
    }
}

int dp_http_do(dp_http *h, dp_http_req *req, int (*prepare)(void *ctx, dp_http_req *req, dp_err *err), void *pctx,
               dp_http_resp *resp, const char *what, dp_err *err)
{
    int rc = 0;
    for (int attempt = 1;; attempt++) {
        dp_err e = {0};
        if (prepare && (rc = prepare(pctx, req, &e)))
            return dp_err_set(err, e.code, "%s", e.msg);
        rc = dp_http_perform(h, req, resp, what, &e);
        resp->attempts = attempt;
        if (!dp_http_retryable(rc, resp->status) || req->on_data || attempt >= h->o.max_attempts ||
            (req->cancel && atomic_load(req->cancel))) {
            if (rc)
                dp_err_set(err, e.code, "%s", e.msg);
            return rc;
        }
        if (dp_interrupted)
            return dp_err_set(err, DUMPER_EINTR, "interrupted");
        long ms = dp_http_backoff_ms(attempt, h->o.backoff_base_ms, h->o.backoff_max_ms,
                                     (double)rand_r(&h->seed) / ((double)RAND_MAX + 1.0));
        if (rc)
            dp_debug("%s; retrying in %ld ms", e.msg, ms);
        else
            dp_debug("%s: HTTP %ld; retrying in %ld ms", what, resp->status, ms);
        dp_http_sleep_ms(ms);
    }
}
