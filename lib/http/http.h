/*
 * http.h - a small libcurl wrapper for the storage drivers: one handle per thread, timeouts,
 * retries with exponential backoff and full jitter.
 *
 * Threading: a dp_http handle belongs to one thread at a time (libcurl's rule for easy handles);
 * each upload worker owns its own. Every handle sets CURLOPT_NOSIGNAL, so timeouts never raise
 * SIGALRM in a host process. curl_global_init runs once, on the first dp_http_new().
 *
 * Retries: dp_http_do() repeats a request whose body is in memory (rewindable) on connection
 * failures, resets, timeouts, HTTP 5xx and 429, sleeping dp_http_backoff_ms() between attempts.
 * A request that streams its response into a consumer (on_data) is never repeated here, because
 * the consumer may already hold part of the body: callers resume it with a Range request.
 */
#ifndef DP_HTTP_H
#define DP_HTTP_H

#include <curl/curl.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/util.h"

typedef struct dp_http dp_http;

typedef struct dp_http_opts {
    long connect_timeout_ms; /* default 10 s */
    long stall_timeout_s;    /* abort a transfer that moves < 1 byte/s for this long; default 60 */
    int max_attempts;        /* default 5 (DUMPER_HTTP_MAX_ATTEMPTS in the environment overrides) */
    long backoff_base_ms;    /* default 200 */
    long backoff_max_ms;     /* default 10000 */
} dp_http_opts;

typedef struct dp_http_req {
    const char *method; /* GET, HEAD, PUT, POST, DELETE */
    const char *url;
    struct curl_slist *headers; /* borrowed */
    const void *body;           /* request body (PUT/POST), borrowed; may be NULL */
    size_t body_len;
    /* Optional streaming consumer of a 2xx response body: returns 0 to go on, non-zero to stop
     * the transfer (the request then fails with that code and is not retried). status tells 200
     * from 206 (a server may ignore Range). Error bodies
     * (non-2xx) are always collected into resp->body instead. */
    int (*on_data)(void *ctx, long status, const void *p, size_t n);
    void *ctx;
    /* Optional: set (from another thread) to stop the transfer now; it then fails with
     * DUMPER_EINTR and is not retried. */
    const atomic_int *cancel;
} dp_http_req;

typedef struct dp_http_resp {
    long status;          /* 0 when no HTTP response arrived */
    dp_buf body;          /* collected body when not streamed: a 2xx one whole (over 16 MiB: DUMPER_EPROTO),
                           * an error's first 1 MiB */
    char *etag;           /* ETag response header, quotes kept; NULL if absent */
    int64_t content_length; /* -1 if absent */
    char *last_modified;
    int curl_code;        /* CURLcode of the last attempt */
    int consumer_rc;      /* non-zero when on_data stopped the transfer */
    int attempts;
    char curl_msg[CURL_ERROR_SIZE];
} dp_http_resp;

/* NULL on out of memory. opts may be NULL (defaults). */
dp_http *dp_http_new(const dp_http_opts *opts);
void dp_http_free(dp_http *h);

void dp_http_resp_reset(dp_http_resp *r);
void dp_http_resp_free(dp_http_resp *r);

/* One attempt. Returns 0 when an HTTP response arrived (any status; look at resp->status), or a
 * transport error code (DUMPER_ECONNECT, DUMPER_ETIMEOUT, DUMPER_EIO) with err filled naming
 * `what`. resp is reset first. */
int dp_http_perform(dp_http *h, const dp_http_req *req, dp_http_resp *resp, const char *what, dp_err *err);

/* Attempts with retries (see above). Returns 0 when a response arrived that is not retryable
 * (caller checks the status), else the last transport error. `prepare`, when set, runs before
 * every attempt (to sign the request afresh). */
int dp_http_do(dp_http *h, dp_http_req *req, int (*prepare)(void *ctx, dp_http_req *req, dp_err *err), void *pctx,
               dp_http_resp *resp, const char *what, dp_err *err);

/* Is this outcome worth another attempt? rc is dp_http_perform's result. */
int dp_http_retryable(int rc, long status);

/* Pure: the sleep before attempt `attempt` (1 = first retry): full jitter over an exponentially
 * growing window, min(max_ms, base_ms * 2^(attempt-1)) * r01, where r01 is in [0,1). */
long dp_http_backoff_ms(int attempt, long base_ms, long max_ms, double r01);

/* Sleep ms milliseconds (stops early when dp_interrupted is set). */
void dp_http_sleep_ms(long ms);

/* Effective options after defaults and environment. */
void dp_http_opts_resolve(const dp_http_opts *in, dp_http_opts *out);

#endif
