/*
 * http.h - the one HTTP client of Dumper (libcurl): the agent's control-plane requests, the job
 * process's uploads, the S3 storage driver, and any other request a program of ours sends. Nothing
 * else calls curl_easy_init.
 *
 * A handle (dp_http) is one libcurl easy handle driven through a multi handle of its own, so that a
 * request in flight notices a stop request (core/stop.h) within 100 ms, even while the server is
 * silent. Every handle sets CURLOPT_NOSIGNAL (timeouts never raise SIGALRM in a host process) and
 * opens its sockets close-on-exec (no process a host execs inherits them). TLS: the system store,
 * or opts.ca_file; opts.insecure turns verification off. curl_global_init runs once, on the first
 * dp_http_new(). The CA store and TLS sessions are cached on the handle between requests.
 *
 * Threading: a handle belongs to one thread at a time (libcurl's rule for easy handles); every
 * thread that sends requests owns its own.
 *
 * Retries, one policy for every caller: dp_http_do() repeats a request whose body is in memory on
 * connection failures, resets, timeouts, HTTP 5xx, 429 and 408 (dp_http_retryable), up to
 * max_attempts, sleeping dp_backoff_ms() between attempts in dp_sleep_ms() (so a stop request or,
 * for an interruptible stop, SIGINT/SIGTERM cuts the wait short). A request that streams its answer
 * into a consumer (on_data) is never repeated here, because the consumer may already hold part of
 * the body: callers resume it with a Range request.
 */
#ifndef DP_HTTP_H
#define DP_HTTP_H

#include <curl/curl.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/stop.h"
#include "core/util.h"

typedef struct dp_http dp_http;

typedef struct dp_http_opts {
    long connect_timeout_ms; /* default 10 s */
    long timeout_ms;         /* whole request; default none (the stall timeout still applies) */
    long stall_timeout_s;    /* abort a transfer that moves < 1 byte/s for this long; default 60 */
    int max_attempts;        /* dp_http_do; default 5 (DUMPER_HTTP_MAX_ATTEMPTS in the environment overrides) */
    long backoff_base_ms;    /* first retry waits within [base/2, base]; default 200 */
    long backoff_max_ms;     /* cap of the doubling; default 10000 */
    int retry_log_level;     /* level of the line logged per retry (DP_LOG_*); default DP_LOG_DEBUG */
    size_t max_body;         /* largest 2xx answer collected in memory (more: DUMPER_EPROTO); error
                                answers keep their first min(max_body, 1 MiB) bytes; default 16 MiB */
    const char *ca_file;     /* PEM bundle; default: the system store. Copied */
    const char *proxy;       /* default: libcurl's environment handling (http_proxy, ...). Copied */
    int insecure;            /* nonzero: no TLS verification */
    int no_keepalive;        /* close the connection after every request (the handle, its CA store
                                and TLS session cache are kept) */
    int big_buffers;         /* 512 KiB upload / 256 KiB download buffers, for multi-MiB bodies
                                (default: libcurl's, which a host process's agent keeps small) */
    dp_stop *stop;           /* borrowed; requested: the request in flight fails with DUMPER_EINTR
                                within 100 ms and no retry follows. NULL: nothing aborts a
                                transfer, retry sleeps still end on dp_interrupted */
} dp_http_opts;

typedef struct dp_http_req {
    const char *method;         /* GET, HEAD, PUT, POST, DELETE */
    const char *url;
    struct curl_slist *headers; /* borrowed; "Expect:" (no 100-continue round trip) is added */
    const void *body;           /* request body (PUT/POST), borrowed; may be NULL */
    size_t body_len;
    long timeout_ms;            /* 0: the handle's */
    size_t max_body;            /* 0: the handle's */
    int max_attempts;           /* dp_http_do; 0: the handle's */
    /* Optional streaming consumer of a 2xx answer: returns 0 to go on, non-zero to stop the
     * transfer (the request then fails with that code and is not retried). status tells 200 from
     * 206 (a server may ignore Range). Error answers (non-2xx) are always collected into
     * resp->body instead. */
    int (*on_data)(void *ctx, long status, const void *p, size_t n);
    void *ctx;
} dp_http_req;

typedef struct dp_http_resp {
    long status;            /* 0 when no HTTP answer arrived */
    dp_buf body;            /* collected body when not streamed (see max_body) */
    char *etag;             /* ETag answer header, quotes kept; NULL if absent */
    int64_t content_length; /* -1 if absent */
    char *last_modified;
    int curl_code;          /* CURLcode of the last attempt */
    int consumer_rc;        /* non-zero when on_data stopped the transfer */
    int attempts;
    char curl_msg[CURL_ERROR_SIZE];
} dp_http_resp;

/* NULL on out of memory or when libcurl cannot be initialised. opts may be NULL (defaults). */
dp_http *dp_http_new(const dp_http_opts *opts);
void dp_http_free(dp_http *h);

void dp_http_resp_reset(dp_http_resp *r);
void dp_http_resp_free(dp_http_resp *r);

/* One attempt. Returns 0 when an HTTP answer arrived (any status; look at resp->status), or an
 * error code (DUMPER_ECONNECT, DUMPER_ETIMEOUT, DUMPER_EINTR when stopped, DUMPER_EPROTO for an
 * oversized answer, DUMPER_EAUTH for a refused TLS certificate, DUMPER_ENOMEM, DUMPER_EIO) with err
 * filled as "<what>: <reason>". resp is reset first. */
int dp_http_perform(dp_http *h, const dp_http_req *req, dp_http_resp *resp, const char *what, dp_err *err);

/* Attempts with retries (see above). Returns 0 when an answer arrived that is not retryable or the
 * attempts are used up (the caller checks the status), else the last transport error. `prepare`,
 * when set, runs before every attempt (to sign the request afresh, or fetch a fresh presigned URL:
 * it may send requests of its own on the same handle); its error ends the request at once. */
int dp_http_do(dp_http *h, dp_http_req *req, int (*prepare)(void *ctx, dp_http_req *req, dp_err *err), void *pctx,
               dp_http_resp *resp, const char *what, dp_err *err);

/*
 * POST a JSON body with the retry policy: the call a service needs to deliver a notification.
 * h: the calling thread's handle, or NULL for a one-off handle with default options.
 * extra_headers: NULL-terminated "Name: value" lines, or NULL. timeout_ms, max_attempts: 0 = the
 * handle's. Returns 0 when an answer arrived (*status set, whatever it is; the body is discarded),
 * else the transport error with err filled ("<scheme://host:port>: <reason>": messages never show
 * the URL's path, query or credentials, where webhook URLs keep their secrets).
 */
int dp_http_post_json(dp_http *h, const char *url, const char *json, const char *const *extra_headers, long timeout_ms,
                      int max_attempts, long *status, dp_err *err);

/* Is this outcome worth another attempt? rc is dp_http_perform's result. Pure. */
int dp_http_retryable(int rc, long status);

/*
 * Pure: the wait before retry number attempt+1 (attempt 0 = the first retry, or the first
 * consecutive failure of a loop): base * 2^attempt capped at cap, then "equal jitter", uniformly
 * in [d/2, d] using rnd (any 32-bit random number), so a retry never comes at once and a crowd of
 * clients spreads out. The one backoff of Dumper: HTTP retries and the agent's poll loop.
 */
uint64_t dp_backoff_ms(unsigned attempt, uint64_t base_ms, uint64_t cap_ms, uint32_t rnd);

/* Effective options after defaults and environment. */
void dp_http_opts_resolve(const dp_http_opts *in, dp_http_opts *out);

#endif
