/* client.c - the control-plane client over the one HTTP client (see client.h). */
#include "agent/client.h"

#include <stdlib.h>
#include <string.h>

#include "agent/proto.h"
#include "core/util.h"

struct dp_client {
    dp_http *h;
    dp_http_opts o;
    char *base, *auth;
};

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
    dp_http_opts ho = {.connect_timeout_ms = o->connect_timeout_ms ? o->connect_timeout_ms : 5000,
                       .timeout_ms = o->timeout_ms ? o->timeout_ms : 15000,
                       /* a server that trickles bytes is treated as down */
                       .stall_timeout_s = 30,
                       .max_attempts = o->max_attempts > 0 ? o->max_attempts : 1,
                       .backoff_base_ms = 1000,
                       .backoff_max_ms = 30000,
                       .retry_log_level = o->retry_log_level,
                       .max_body = DP_API_MAX_RESPONSE,
                       .ca_file = o->ca_file,
                       .proxy = o->proxy,
                       .insecure = o->insecure,
                       .no_keepalive = o->no_keepalive,
                       .stop = o->stop};
    c->h = dp_http_new(&ho);
    if (!c->base || (o->app_key && !c->auth) || !c->h) {
        dp_client_free(c);
        return NULL;
    }
    dp_http_opts_resolve(&ho, &c->o);
    return c;
}

void dp_client_free(dp_client *c)
{
    if (!c)
        return;
    dp_http_free(c->h);
    dp_free_secret(c->auth);
    free(c->base);
    free(c);
}

const dp_http_opts *dp_client_http_opts(const dp_client *c) { return &c->o; }

static int absolute(const char *p) { return strncmp(p, "http://", 7) == 0 || strncmp(p, "https://", 8) == 0; }

char *dp_client_url(const dp_client *c, const char *path)
{
    return absolute(path) ? dp_strdup(path) : dp_asprintf("%s%s", c->base, path);
}

int dp_client_headers(const dp_client *c, const char *url, const char *content_type, struct curl_slist **hdrs)
{
    /* an absolute URL on the API itself gets the key too; any other host (storage) never does */
    size_t bl = strlen(c->base);
    int api = strncmp(url, c->base, bl) == 0 && url[bl] == '/';
    char *ct = content_type ? dp_asprintf("Content-Type: %s", content_type) : NULL;
    const char *lines[] = {api ? "X-Dumper-Api: " DP_API_VERSION : NULL, api ? c->auth : NULL, ct};
    int rc = content_type && !ct ? DUMPER_ENOMEM : 0;
    struct curl_slist *t;
    for (size_t i = 0; !rc && i < sizeof lines / sizeof lines[0]; i++) {
        if (!lines[i])
            continue;
        if ((t = curl_slist_append(*hdrs, lines[i])))
            *hdrs = t;
        else
            rc = DUMPER_ENOMEM;
    }
    free(ct);
    return rc;
}

int dp_client_post(dp_client *c, dp_http *h, const char *path, const char *json, dp_http_resp *resp, dp_err *err)
{
    char *url = dp_client_url(c, path);
    struct curl_slist *hdrs = NULL;
    /* messages name the URL without its query string: presigned URLs carry signatures there */
    char *what = url ? dp_asprintf("POST %.*s", (int)strcspn(url, "?"), url) : NULL;
    int rc;
    if (!url || !what || dp_client_headers(c, url, "application/json", &hdrs)) {
        rc = dp_err_set(err, DUMPER_ENOMEM, "out of memory");
    } else {
        dp_http_req r = {.method = "POST", .url = url, .headers = hdrs, .body = json, .body_len = strlen(json)};
        rc = dp_http_do(h ? h : c->h, &r, NULL, NULL, resp, what, err);
    }
    curl_slist_free_all(hdrs);
    free(what);
    free(url);
    return rc;
}
