/*
 * client.h - the control-plane client of the agent thread and of the job process: the API base,
 * the app key and the protocol headers (docs/protocol.md) over the one HTTP client (http/http.h),
 * with answers bounded to DP_API_MAX_RESPONSE.
 *
 * Paths starting with "/" are relative to the API base and carry the app key; absolute URLs
 * (presigned storage URLs) never get the app key unless they point at the API base itself.
 *
 * Threading: a client is one dp_http handle, owned by one thread (the agent's, or the job
 * process's main thread); a job's upload worker builds its requests with dp_client_url and
 * dp_client_headers (thread-safe: they only read the client) and sends them on its own handle.
 */
#ifndef DP_AGENT_CLIENT_H
#define DP_AGENT_CLIENT_H

#include "core/err.h"
#include "core/stop.h"
#include "http/http.h"

typedef struct dp_client_opts {
    const char *api_base; /* "http://host:port" (a trailing slash is dropped) */
    const char *app_key;  /* secret; copied */
    const char *ca_file, *proxy;
    int insecure;
    long connect_timeout_ms; /* 0 = 5000 */
    long timeout_ms;         /* whole request; 0 = 15000 */
    dp_stop *stop;           /* borrowed; a request in flight is aborted (DUMPER_EINTR) when requested */
    int no_keepalive;        /* close the connection after every request */
    int max_attempts;        /* per request, with the HTTP client's backoff; 0 = 1 (the agent thread
                                retries in its own loop) */
    int retry_log_level;     /* DP_LOG_* of the line logged per retry */
} dp_client_opts;

typedef struct dp_client dp_client;

/* NULL on OOM or when curl cannot be initialised. */
dp_client *dp_client_new(const dp_client_opts *o);
void dp_client_free(dp_client *c);

/* The HTTP options the client's own handle uses (for a worker thread's handle). */
const dp_http_opts *dp_client_http_opts(const dp_client *c);

/* path ("/api/v1/...") as an absolute URL, or an absolute URL copied. Caller frees; NULL on OOM. */
char *dp_client_url(const dp_client *c, const char *path);

/* Append to *hdrs the headers of a request to url: the API version and the app key when url is on
 * the API base, then content_type (e.g. "application/json") when not NULL. The caller frees *hdrs
 * with curl_slist_free_all (also after a failure). 0, or DUMPER_ENOMEM. */
int dp_client_headers(const dp_client *c, const char *url, const char *content_type, struct curl_slist **hdrs);

/*
 * POST a JSON body to path, on h (a worker thread's own handle) or, when h is NULL, on the client's.
 * Returns 0 when an answer arrived (any HTTP status: the caller decides; status and body in resp,
 * which the caller frees with dp_http_resp_free), else DUMPER_ECONNECT / DUMPER_ETIMEOUT /
 * DUMPER_EINTR (stopped) / DUMPER_EPROTO (oversized answer) / DUMPER_ENOMEM with err filled.
 * Retried per the handle's max_attempts.
 */
int dp_client_post(dp_client *c, dp_http *h, const char *path, const char *json, dp_http_resp *resp, dp_err *err);

#endif
