/* client.c - libcurl wrapper for the agent thread and the job process (see client.h). */
#include "agent/client.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "agent/proto.h"
#include "core/log.h"
#include "dp_version.h"

struct dp_client {
    CURL *h;
    CURLM *m; /* the easy handle runs in a multi handle so the abort flag is checked every 100 ms */
    char *base, *auth, *ca_file, *proxy;
    int insecure, no_keepalive;
    long connect_timeout_ms, timeout_ms;
    const atomic_int *abort_flag;
    /* per request */
    dp_buf *resp;
    size_t max_response;
    int overflow;
    char *etag;
    size_t etag_len;
};

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
    dp_client *c = ud;
    size_t len = size * n;
    if (c->etag && len > 5 && strncasecmp(p, "etag:", 5) == 0) {
        size_t i = 5, j = len;
        while (i < j && (p[i] == ' ' || p[i] == '\t'))
            i++;
        while (j > i && (p[j - 1] == '\r' || p[j - 1] == '\n' || p[j - 1] == ' '))
            j--;
        if (j - i < c->etag_len) {
            memcpy(c->etag, p + i, j - i);
            c->etag[j - i] = 0;
        }
    }
    return len;
}

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    dp_client *c = ud;
    size_t len = size * n;
    if (c->resp->len + len > c->max_response) {
        c->overflow = 1;
        return 0; /* makes curl fail with CURLE_WRITE_ERROR */
    }
    if (dp_buf_append(c->resp, p, len) < 0)
        return 0;
    return len;
}

static int on_progress(void *ud, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
    dp_client *c = ud;
    return (c->abort_flag && atomic_load(c->abort_flag)) || dp_interrupted ? 1 : 0;
}

/* Sockets are created close-on-exec so that no process the host later execs inherits them. */
static curl_socket_t open_socket(void *ud, curlsocktype purpose, struct curl_sockaddr *a)
{
    return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}

static int setup(dp_client *c)
{
    if (!c->m && !(c->m = curl_multi_init()))
        return -1;
    if (!(c->h = curl_easy_init()))
        return -1;
    CURL *h = c->h;
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_OPENSOCKETFUNCTION, open_socket);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, c);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, c);
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, c);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, c->connect_timeout_ms);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "dumper/" DP_VERSION_STRING);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, c->insecure ? 0L : 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, c->insecure ? 0L : 2L);
    if (c->ca_file)
        curl_easy_setopt(h, CURLOPT_CAINFO, c->ca_file);
    if (c->proxy)
        curl_easy_setopt(h, CURLOPT_PROXY, c->proxy);
    /* a server that trickles bytes is treated as down */
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, 30L);
    if (c->no_keepalive)
        curl_easy_setopt(h, CURLOPT_FORBID_REUSE, 1L);
    return 0;
}

dp_client *dp_client_new(const dp_client_opts *o)
{
    dp_client *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    size_t bl = strlen(o->api_base);
    while (bl && o->api_base[bl - 1] == '/')
        bl--;
    c->base = dp_strndup(o->api_base, bl);
    c->auth = o->app_key ? dp_asprintf("Authorization: Bearer %s", o->app_key) : NULL;
    c->ca_file = dp_strdup(o->ca_file);
    c->proxy = dp_strdup(o->proxy);
    c->insecure = o->insecure;
    c->no_keepalive = o->no_keepalive;
    c->connect_timeout_ms = o->connect_timeout_ms ? o->connect_timeout_ms : 5000;
    c->timeout_ms = o->timeout_ms ? o->timeout_ms : 15000;
    c->abort_flag = o->abort_flag;
    if (!c->base || (o->app_key && !c->auth) || (o->ca_file && !c->ca_file) || (o->proxy && !c->proxy) || setup(c)) {
        dp_client_free(c);
        return NULL;
    }
    return c;
}

void dp_client_free(dp_client *c)
{
    if (!c)
        return;
    if (c->h)
        curl_easy_cleanup(c->h);
    if (c->m)
        curl_multi_cleanup(c->m);
    dp_free_secret(c->auth);
    free(c->base);
    free(c->ca_file);
    free(c->proxy);
    free(c);
}

int dp_client_do(dp_client *c, const dp_http_req *r, long *status, dp_buf *resp, dp_err *err)
{
    *status = 0;
    dp_buf_reset(resp);
    if (!c->h || !c->m) { /* a previous setup failed: try again */
        if (c->h)
            curl_easy_cleanup(c->h);
        c->h = NULL;
        if (setup(c))
            return dp_err_set(err, DUMPER_ENOMEM, "unable to initialise libcurl");
    }
    int absolute = strncmp(r->path, "http://", 7) == 0 || strncmp(r->path, "https://", 8) == 0;
    char *url = absolute ? dp_strdup(r->path) : dp_asprintf("%s%s", c->base, r->path);
    /* an absolute URL on the API itself gets the key too; any other host (storage) never does */
    size_t bl = strlen(c->base);
    int api = !absolute || (strncmp(r->path, c->base, bl) == 0 && r->path[bl] == '/');
    if (!url)
        return dp_err_set(err, DUMPER_ENOMEM, "out of memory");
    struct curl_slist *hdrs = NULL, *t;
    int ok = 1;
#define ADD_HDR(s) (ok = ok && (t = curl_slist_append(hdrs, (s))) != NULL && (hdrs = t) != NULL)
    if (api) {
        ADD_HDR("X-Dumper-Api: " DP_API_VERSION);
        if (c->auth)
            ADD_HDR(c->auth);
    }
    if (r->json)
        ADD_HDR("Content-Type: application/json");
    else if (r->raw)
        ADD_HDR("Content-Type: application/octet-stream");
    ADD_HDR("Expect:"); /* no 100-continue round trip */
    if (r->extra_header)
        ADD_HDR(r->extra_header);
#undef ADD_HDR
    if (!ok) {
        curl_slist_free_all(hdrs);
        free(url);
        return dp_err_set(err, DUMPER_ENOMEM, "out of memory");
    }
    CURL *h = c->h;
    c->resp = resp;
    c->max_response = r->max_response ? r->max_response : DP_API_MAX_RESPONSE;
    c->overflow = 0;
    c->etag = r->etag;
    c->etag_len = r->etag_len;
    if (r->etag && r->etag_len)
        r->etag[0] = 0;
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, r->timeout_ms ? r->timeout_ms : c->timeout_ms);
    curl_easy_setopt(h, CURLOPT_HTTPGET, 1L); /* resets a previous POST/PUT body */
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, NULL);
    if (r->json || r->raw || strcmp(r->method, "GET") != 0) {
        const void *body = r->json ? (const void *)r->json : r->raw ? r->raw : "";
        size_t blen = r->json ? strlen(r->json) : r->raw ? r->rawlen : 0;
        curl_easy_setopt(h, CURLOPT_POST, 1L);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)blen);
        if (strcmp(r->method, "POST") != 0)
            curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, r->method);
    }
    CURLcode cc = CURLE_OK;
    if (curl_multi_add_handle(c->m, h) != CURLM_OK) {
        cc = CURLE_OUT_OF_MEMORY;
    } else {
        /* curl calls the progress callback only about once a second while a server is silent;
         * polling the multi handle every 100 ms makes dumper_agent_stop() prompt */
        int running = 1, aborted = 0;
        for (;;) {
            if (curl_multi_perform(c->m, &running) != CURLM_OK) {
                cc = CURLE_OUT_OF_MEMORY;
                break;
            }
            if (!running)
                break;
            if ((c->abort_flag && atomic_load(c->abort_flag)) || dp_interrupted) {
                aborted = 1;
                break;
            }
            if (curl_multi_poll(c->m, NULL, 0, 100, NULL) != CURLM_OK) {
                cc = CURLE_OUT_OF_MEMORY;
                break;
            }
        }
        if (aborted) {
            cc = CURLE_ABORTED_BY_CALLBACK;
        } else if (cc == CURLE_OK) {
            CURLMsg *msg;
            int left;
            while ((msg = curl_multi_info_read(c->m, &left)))
                if (msg->msg == CURLMSG_DONE && msg->easy_handle == h)
                    cc = msg->data.result;
        }
        curl_multi_remove_handle(c->m, h);
    }
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, NULL);
    curl_slist_free_all(hdrs);
    int rc = 0;
    /* the URL is logged without its query string: presigned URLs carry signatures there */
    char *q = strchr(url, '?');
    if (q)
        *q = 0;
    if (cc == CURLE_OK) {
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
    } else if (cc == CURLE_ABORTED_BY_CALLBACK) {
        rc = dp_err_set(err, DUMPER_EINTR, "request to %s aborted", url);
    } else if (c->overflow) {
        rc = dp_err_set(err, DUMPER_EPROTO, "answer from %s exceeds %zu bytes", url, c->max_response);
    } else if (cc == CURLE_OPERATION_TIMEDOUT) {
        rc = dp_err_set(err, DUMPER_ETIMEOUT, "request to %s timed out", url);
    } else if (cc == CURLE_OUT_OF_MEMORY || cc == CURLE_WRITE_ERROR) {
        rc = dp_err_set(err, DUMPER_ENOMEM, "out of memory reading the answer from %s", url);
    } else {
        rc = dp_err_set(err, DUMPER_ECONNECT, "request to %s failed: %s", url, curl_easy_strerror(cc));
    }
    c->resp = NULL;
    c->etag = NULL;
    free(url);
    return rc;
}
