/*
 * http.c - the libcurl client with timeouts, stop requests and the one retry policy (see http.h).
 */
#include "http/http.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "core/log.h"
#include "dp_version.h"

#define ERR_BODY_MAX (1024 * 1024)
/* A collected 2xx body (an S3 listing of 1000 keys of up to 1 KiB each, escaped) is kept whole or refused. */
#define OK_BODY_MAX (16 * 1024 * 1024)
#define POLL_MS 100 /* how often a running request looks at its stop */

struct dp_http {
    CURL *curl;
    CURLM *multi; /* drives curl so that a stop is seen within POLL_MS while a server is silent */
    dp_http_opts o;
    char *ca_file, *proxy; /* owned copies behind o.ca_file, o.proxy */
    unsigned seed;
};

typedef struct {
    const dp_http_req *req;
    dp_http_resp *resp;
    size_t sent;
    CURL *curl;
    size_t max_ok; /* a 2xx body over this is refused */
    int overflow;
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
    if (d.timeout_ms < 0)
        d.timeout_ms = 0;
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
    if (d.max_body == 0)
        d.max_body = OK_BODY_MAX;
    *out = d;
}

dp_http *dp_http_new(const dp_http_opts *opts)
{
    pthread_once(&global_once, global_init);
    dp_http *h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    dp_http_opts_resolve(opts, &h->o);
    h->ca_file = dp_strdup(h->o.ca_file);
    h->proxy = dp_strdup(h->o.proxy);
    h->o.ca_file = h->ca_file;
    h->o.proxy = h->proxy;
    h->curl = curl_easy_init();
    h->multi = curl_multi_init();
    if (!h->curl || !h->multi || (opts && opts->ca_file && !h->ca_file) || (opts && opts->proxy && !h->proxy)) {
        dp_http_free(h);
        return NULL;
    }
    h->seed = (unsigned)(dp_mono_ms() ^ (uintptr_t)h);
    return h;
}

void dp_http_free(dp_http *h)
{
    if (!h)
        return;
    if (h->curl)
        curl_easy_cleanup(h->curl);
    if (h->multi)
        curl_multi_cleanup(h->multi);
    free(h->ca_file);
    free(h->proxy);
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
    int ok = status >= 200 && status < 300;
    if (x->req->on_data && ok) {
        int rc = x->req->on_data(x->req->ctx, status, p, n);
        if (rc) {
            x->resp->consumer_rc = rc;
            return 0;
        }
        return n;
    }
    size_t max_err = x->max_ok < ERR_BODY_MAX ? x->max_ok : ERR_BODY_MAX;
    if (x->resp->body.len + n > (ok ? x->max_ok : max_err)) {
        if (!ok) { /* keep the head of an oversized error body; enough for an error document */
            size_t room = max_err - x->resp->body.len;
            if (room && dp_buf_append(&x->resp->body, p, room) < 0)
                return 0;
            return n;
        }
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
        /* a new answer (after 100-continue or a redirect): forget earlier headers */
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

/* Sockets are created close-on-exec so that no process the host later execs inherits them. */
static curl_socket_t open_socket(void *ud, curlsocktype purpose, struct curl_sockaddr *a)
{
    return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
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

/* Runs the transfer set up on h->curl to its end, or until h's stop is requested. */
static CURLcode run(dp_http *h)
{
    if (curl_multi_add_handle(h->multi, h->curl) != CURLM_OK)
        return CURLE_OUT_OF_MEMORY;
    CURLcode cc = CURLE_OK;
    for (;;) {
        int running = 0;
        if (curl_multi_perform(h->multi, &running) != CURLM_OK) {
            cc = CURLE_OUT_OF_MEMORY;
            break;
        }
        if (!running) {
            CURLMsg *msg;
            int left;
            while ((msg = curl_multi_info_read(h->multi, &left)))
                if (msg->msg == CURLMSG_DONE && msg->easy_handle == h->curl)
                    cc = msg->data.result;
            break;
        }
        if (h->o.stop && dp_stop_requested(h->o.stop)) {
            cc = CURLE_ABORTED_BY_CALLBACK;
            break;
        }
        if (curl_multi_poll(h->multi, NULL, 0, POLL_MS, NULL) != CURLM_OK) {
            cc = CURLE_OUT_OF_MEMORY;
            break;
        }
    }
    curl_multi_remove_handle(h->multi, h->curl);
    return cc;
}

static void size_text(size_t n, char *out, size_t outlen)
{
    if (n % (1024 * 1024) == 0)
        snprintf(out, outlen, "%zu MiB", n >> 20);
    else if (n % 1024 == 0)
        snprintf(out, outlen, "%zu KiB", n >> 10);
    else
        snprintf(out, outlen, "%zu bytes", n);
}

int dp_http_perform(dp_http *h, const dp_http_req *req, dp_http_resp *resp, const char *what, dp_err *err)
{
    CURL *c = h->curl;
    xfer x = {.req = req, .resp = resp, .curl = c, .max_ok = req->max_body ? req->max_body : h->o.max_body};
    dp_http_resp_reset(resp);
    struct curl_slist *hdrs = NULL, *t;
    for (const struct curl_slist *l = req->headers; l; l = l->next) {
        if (!(t = curl_slist_append(hdrs, l->data)))
            break;
        hdrs = t;
    }
    if (!(t = curl_slist_append(hdrs, "Expect:"))) {
        curl_slist_free_all(hdrs);
        return dp_err_set(err, DUMPER_ENOMEM, "%s: out of memory", what);
    }
    hdrs = t;
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, open_socket);
    curl_easy_setopt(c, CURLOPT_URL, req->url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_USERAGENT, "dumper/" DP_VERSION_STRING);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, h->o.connect_timeout_ms);
    long timeout = req->timeout_ms ? req->timeout_ms : h->o.timeout_ms;
    if (timeout > 0)
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, h->o.stall_timeout_s);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, resp->curl_msg);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &x);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &x);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, h->o.insecure ? 0L : 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, h->o.insecure ? 0L : 2L);
    if (h->o.ca_file)
        curl_easy_setopt(c, CURLOPT_CAINFO, h->o.ca_file);
    if (h->o.proxy)
        curl_easy_setopt(c, CURLOPT_PROXY, h->o.proxy);
    if (h->o.no_keepalive)
        curl_easy_setopt(c, CURLOPT_FORBID_REUSE, 1L);
    if (h->o.big_buffers) {
        /* fewer callbacks and syscalls per multi-MiB part than curl's 64/16 KiB */
        curl_easy_setopt(c, CURLOPT_UPLOAD_BUFFERSIZE, 512L * 1024);
        curl_easy_setopt(c, CURLOPT_BUFFERSIZE, 256L * 1024);
    }
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
    CURLcode cc = run(h);
    resp->curl_code = (int)cc;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp->status);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(hdrs);
    if (x.overflow) {
        char sz[32];
        size_text(x.max_ok, sz, sizeof sz);
        return dp_err_set(err, DUMPER_EPROTO, "%s: the answer is over %s", what, sz);
    }
    if (resp->consumer_rc)
        return resp->consumer_rc; /* the consumer recorded its own error */
    if (cc == CURLE_ABORTED_BY_CALLBACK)
        return dp_err_set(err, DUMPER_EINTR, "%s: aborted", what);
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
    return status >= 500 || status == 429 || status == 408;
}

uint64_t dp_backoff_ms(unsigned attempt, uint64_t base_ms, uint64_t cap_ms, uint32_t rnd)
{
    if (base_ms == 0)
        base_ms = 1;
    if (cap_ms < base_ms)
        cap_ms = base_ms;
    uint64_t d = base_ms;
    for (unsigned i = 0; i < attempt && d < cap_ms; i++)
        d *= 2;
    if (d > cap_ms)
        d = cap_ms;
    uint64_t half = d / 2;
    return half + (uint64_t)rnd % (d - half + 1);
}

int dp_http_do(dp_http *h, dp_http_req *req, int (*prepare)(void *ctx, dp_http_req *req, dp_err *err), void *pctx,
               dp_http_resp *resp, const char *what, dp_err *err)
{
    int max = req->max_attempts > 0 ? req->max_attempts : h->o.max_attempts;
    for (int attempt = 1;; attempt++) {
        dp_err e = {0};
        int rc;
        if (prepare && (rc = prepare(pctx, req, &e)))
            return dp_err_set(err, e.code, "%s", e.msg);
        rc = dp_http_perform(h, req, resp, what, &e);
        resp->attempts = attempt;
        if (!dp_http_retryable(rc, resp->status) || req->on_data || attempt >= max) {
            if (rc)
                dp_err_set(err, e.code, "%s", e.msg);
            return rc;
        }
        if (dp_stop_requested(h->o.stop))
            return dp_err_set(err, DUMPER_EINTR, "%s: interrupted", what);
        uint64_t ms = dp_backoff_ms((unsigned)attempt - 1, (uint64_t)h->o.backoff_base_ms,
                                    (uint64_t)h->o.backoff_max_ms, (uint32_t)rand_r(&h->seed));
        if (rc)
            dp_log(h->o.retry_log_level, "%s; retrying in %.1f s (attempt %d of %d)", e.msg, (double)ms / 1000.0,
                   attempt + 1, max);
        else
            dp_log(h->o.retry_log_level, "%s: HTTP %ld; retrying in %.1f s (attempt %d of %d)", what, resp->status,
                   (double)ms / 1000.0, attempt + 1, max);
        if (dp_sleep_ms((int64_t)ms, h->o.stop))
            return dp_err_set(err, DUMPER_EINTR, "%s: interrupted", what);
    }
}

/* "scheme://host[:port]" of url, without credentials, path or query: webhook URLs carry their
 * secret in the path (Slack's) or the query, and messages must not. */
static char *url_origin(const char *url)
{
    const char *sep = strstr(url, "://");
    const char *host = sep ? sep + 3 : url;
    size_t hl = strcspn(host, "/?#");
    const char *at = memchr(host, '@', hl);
    if (at) {
        hl -= (size_t)(at + 1 - host);
        host = at + 1;
    }
    return dp_asprintf("%.*s%.*s", sep ? (int)(sep + 3 - url) : 0, url, (int)hl, host);
}

int dp_http_post_json(dp_http *h, const char *url, const char *json, const char *const *extra_headers, long timeout_ms,
                      int max_attempts, long *status, dp_err *err)
{
    *status = 0;
    dp_http *own = h ? NULL : dp_http_new(NULL);
    if (!h && !(h = own))
        return dp_err_set(err, DUMPER_ENOMEM, "unable to initialise libcurl");
    char *what = url_origin(url);
    struct curl_slist *hdrs = what ? curl_slist_append(NULL, "Content-Type: application/json") : NULL, *t;
    int rc = hdrs ? 0 : dp_err_set(err, DUMPER_ENOMEM, "out of memory");
    for (size_t i = 0; !rc && extra_headers && extra_headers[i]; i++) {
        if (!(t = curl_slist_append(hdrs, extra_headers[i])))
            rc = dp_err_set(err, DUMPER_ENOMEM, "out of memory");
        else
            hdrs = t;
    }
    dp_http_resp resp = {0};
    if (!rc) {
        dp_http_req req = {.method = "POST", .url = url, .headers = hdrs, .body = json, .body_len = strlen(json),
                           .timeout_ms = timeout_ms, .max_attempts = max_attempts};
        rc = dp_http_do(h, &req, NULL, NULL, &resp, what, err);
        *status = resp.status;
    }
    dp_http_resp_free(&resp);
    curl_slist_free_all(hdrs);
    free(what);
    dp_http_free(own);
    return rc;
}
