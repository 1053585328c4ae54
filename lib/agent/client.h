/*
 * client.h - the HTTP client of the agent thread and of the job process: one libcurl easy handle per
 * owner (never shared across threads), CURLOPT_NOSIGNAL, short timeouts, bounded response bodies,
 * close-on-exec sockets, and an abort flag checked every 100 ms while a request runs (the easy
 * handle is driven through a multi handle), so that dumper_agent_stop() interrupts a request in
 * flight within about 100 ms.
 *
 * Paths starting with "/" are relative to the API base and carry the app key; absolute URLs
 * (presigned storage URLs) never get the app key.
 */
#ifndef DP_AGENT_CLIENT_H
#define DP_AGENT_CLIENT_H

#include <stdatomic.h>
#include <stddef.h>

#include "core/err.h"
#include "core/util.h"

typedef struct dp_client_opts {
    const char *api_base; /* "http://host:port" (a trailing slash is dropped) */
    const char *app_key;  /* secret; copied */
    const char *ca_file, *proxy;
    int insecure;
    long connect_timeout_ms; /* 0 = 5000 */
    long timeout_ms;         /* whole request; 0 = 15000 */
    const atomic_int *abort_flag; /* borrowed; nonzero aborts a request (DUMPER_EINTR) */
    int no_keepalive;        /* close the connection after every request (the handles, with their
                                CA store and TLS session cache, are kept: resumption stays cheap) */
} dp_client_opts;

typedef struct dp_client dp_client;

typedef struct dp_http_req {
    const char *method;       /* "GET", "POST", "PUT" */
    const char *path;         /* "/api/v1/..." or an absolute URL */
    const char *json;         /* JSON body, or NULL */
    const void *raw;          /* raw body (PUT of a part), or NULL */
    size_t rawlen;
    const char *extra_header; /* one "Name: value" header, or NULL */
    long timeout_ms;          /* 0 = the client's */
    size_t max_response;      /* 0 = DP_API_MAX_RESPONSE */
    char *etag;               /* if not NULL, receives the ETag response header (quotes kept), or "" */
    size_t etag_len;
} dp_http_req;

/* NULL on OOM or when curl cannot be initialised. */
dp_client *dp_client_new(const dp_client_opts *o);
void dp_client_free(dp_client *c);
/*
 * Perform one request. On a transport failure returns DUMPER_ECONNECT / DUMPER_ETIMEOUT /
 * DUMPER_EINTR (aborted) / DUMPER_EPROTO (oversized answer) with err filled. Otherwise returns 0 with
 * *status set (any HTTP status: the caller decides) and the body in resp (reset first).
 */
int dp_client_do(dp_client *c, const dp_http_req *r, long *status, dp_buf *resp, dp_err *err);

#endif
