/* server.c - the libmicrohttpd server and request lifecycle (see server.h). */
#include "http/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>

#include "core/log.h"
#include "core/util.h"
#include "http/api.h"
#include "http/respond.h"
#include "http/site.h"

#define MAX_CTXS 256

struct sd_http {
    struct MHD_Daemon *d;
    char *cert, *key;
    const sd_ctx *tmpl;
    pthread_mutex_t lock; /* ctxs */
    sd_ctx *ctxs[MAX_CTXS];
    int nctxs;
};

/* This thread's context, opened on first use (NULL when the store cannot be opened). */
static _Thread_local sd_ctx *tl_ctx;

static sd_ctx *thread_ctx(sd_http *h)
{
    if (tl_ctx)
        return tl_ctx;
    dp_err err = {0};
    sd_ctx *ctx = calloc(1, sizeof *ctx);
    if (!ctx || sd_ctx_open_like(ctx, h->tmpl, &err)) {
        dp_error("%s", err.code ? err.msg : "out of memory");
        if (ctx)
            sd_ctx_close(ctx);
        free(ctx);
        return NULL;
    }
    pthread_mutex_lock(&h->lock);
    if (h->nctxs < MAX_CTXS)
        h->ctxs[h->nctxs++] = ctx;
    pthread_mutex_unlock(&h->lock);
    tl_ctx = ctx;
    return ctx;
}

typedef struct req {
    sd_api_req *api; /* the agent API; NULL: the site */
    int done;        /* an answer is queued: discard the rest */
    dp_buf body;
    size_t max_body; /* buffered bodies; 0: streamed (part uploads) */
    int too_large;
    char *url, *method; /* site */
} req;

static enum MHD_Result first_call(sd_http *h, struct MHD_Connection *c, req *r, const char *url, const char *method)
{
    if (strncmp(url, "/api/", 5)) {
        /* The site: sessions instead of app keys (site.c decides what needs one). */
        r->url = dp_strdup(url);
        r->method = dp_strdup(method);
        r->max_body = SD_SITE_MAX_BODY;
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
        if (!r->url || !r->method || (cl && strtoull(cl, NULL, 10) > SD_SITE_MAX_BODY)) {
            r->done = 1;
            return sd_reply_error(c, 413, "too_large", "request body over %d bytes", SD_SITE_MAX_BODY);
        }
        return MHD_YES;
    }
    sd_ctx *ctx = thread_ctx(h);
    if (!ctx) {
        r->done = 1;
        return sd_reply_error(c, 503, "unavailable", "state store unavailable");
    }
    enum MHD_Result ret = sd_api_begin(ctx, c, url, method, &r->api, &r->max_body);
    r->done = !r->api;
    return ret;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                               const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
    sd_http *h = cls;
    req *r = *con_cls;
    if (!r) {
        if (!(r = calloc(1, sizeof *r)))
            return MHD_NO;
        *con_cls = r;
        return first_call(h, c, r, url, method);
    }
    if (r->done) {
        *upload_size = 0; /* an answer is queued: discard the rest */
        return MHD_YES;
    }
    if (*upload_size) {
        if (r->api && !r->max_body)
            sd_api_body(r->api, upload, *upload_size);
        else if (r->body.len + *upload_size > r->max_body || (!r->too_large && dp_buf_append(&r->body, upload,
                                                                                              *upload_size)))
            r->too_large = 1;
        *upload_size = 0;
        return MHD_YES;
    }
    r->done = 1;
    if (r->too_large)
        return sd_reply_error(c, 413, "too_large", "request body over %zu bytes", r->max_body);
    sd_ctx *ctx = thread_ctx(h);
    if (!ctx)
        return sd_reply_error(c, 503, "unavailable", "state store unavailable");
    if (r->api)
        return sd_api_finish(ctx, c, r->api, r->body.data, r->body.len);
    return sd_site_request(ctx, c, r->url, r->method, r->body.data, r->body.len);
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe)
{
    req *r = *con_cls;
    if (!r)
        return;
    sd_api_free(r->api);
    free(r->url);
    free(r->method);
    dp_buf_free(&r->body);
    free(r);
    *con_cls = NULL;
}

static char *slurp(const char *path, dp_err *err)
{
    FILE *f = fopen(path, "rb");
    dp_buf b = {0};
    char buf[4096];
    size_t n;
    if (!f) {
        dp_err_sys(err, DUMPER_ENOENT, errno, "unable to read '%s'", path);
        return NULL;
    }
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        if (dp_buf_append(&b, buf, n) < 0)
            break;
    int bad = ferror(f) || n > 0;
    fclose(f);
    if (bad || !b.len) { /* the caller must never see NULL without an error */
        if (b.data)
            dp_memzero(b.data, b.len); /* part of a key */
        dp_buf_free(&b);
        dp_err_set(err, bad ? DUMPER_EIO : DUMPER_EUSAGE, "%s '%s'", bad ? "unable to read" : "empty file", path);
        return NULL;
    }
    return b.data;
}

/* --listen HOST:PORT, [IPv6]:PORT or NAME:PORT into an address. */
static int listen_addr(const char *listen, struct sockaddr_storage *sa, int *v6, dp_err *err)
{
    char host[256];
    const char *colon = strrchr(listen, ':'), *hs = listen, *he = colon;
    int bracketed = listen[0] == '[';
    if (bracketed) { /* [IPv6]:PORT */
        hs++;
        he = strchr(hs, ']');
        if (!he || he[1] != ':')
            return dp_err_set(err, DUMPER_EUSAGE, "--listen expects [IPv6]:PORT, not '%s'", listen);
        colon = he + 1;
    }
    if (!colon || he == hs || (size_t)(he - hs) >= sizeof host)
        return dp_err_set(err, DUMPER_EUSAGE, "--listen expects HOST:PORT, not '%s'", listen);
    memcpy(host, hs, (size_t)(he - hs));
    host[he - hs] = 0;
    if (!bracketed && strchr(host, ':'))
        return dp_err_set(err, DUMPER_EUSAGE, "--listen: an IPv6 address goes in brackets ([%s]:PORT)", host);
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end || port < 0 || port > 65535 || end == colon + 1)
        return dp_err_set(err, DUMPER_EUSAGE, "invalid port in --listen '%s'", listen);
    /* A name resolves to its IPv4 address when it has one (as before IPv6 support), else to IPv6. */
    struct addrinfo hints = {.ai_family = bracketed ? AF_INET6 : AF_INET, .ai_socktype = SOCK_STREAM,
                             .ai_flags = bracketed ? AI_NUMERICHOST : 0},
                    *ai = NULL;
    if (getaddrinfo(host, NULL, &hints, &ai) || !ai) {
        hints.ai_family = AF_INET6;
        if (bracketed || getaddrinfo(host, NULL, &hints, &ai) || !ai)
            return dp_err_set(err, DUMPER_EUSAGE, "unable to resolve '%s' (%s)", host,
                              bracketed ? "not an IPv6 address" : "IPv4 or IPv6 address, or name");
    }
    memset(sa, 0, sizeof *sa);
    *v6 = ai->ai_family == AF_INET6;
    memcpy(sa, ai->ai_addr, ai->ai_addrlen < sizeof *sa ? ai->ai_addrlen : sizeof *sa);
    freeaddrinfo(ai);
    if (*v6)
        ((struct sockaddr_in6 *)sa)->sin6_port = htons((uint16_t)port);
    else
        ((struct sockaddr_in *)sa)->sin_port = htons((uint16_t)port);
    return 0;
}

int sd_http_start(const sd_ctx *tmpl, sd_http **out, dp_err *err)
{
    const sd_config *cfg = tmpl->cfg;
    struct sockaddr_storage sa;
    int v6 = 0;
    if (listen_addr(cfg->listen, &sa, &v6, err))
        return err->code;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ERROR_LOG | MHD_USE_TURBO;
    if (v6) /* [::] takes IPv4 clients too (as ::ffff:a.b.c.d) */
        flags |= MHD_USE_DUAL_STACK;
    if (cfg->tls_cert || cfg->tls_key) {
        if (!cfg->tls_cert || !cfg->tls_key)
            return dp_err_set(err, DUMPER_EUSAGE, "--tls-cert and --tls-key go together");
        if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES)
            return dp_err_set(err, DUMPER_EUNSUPPORTED, "this libmicrohttpd has no TLS support");
        flags |= MHD_USE_TLS;
    }
    sd_http *h = calloc(1, sizeof *h);
    if (!h)
        return dp_err_set(err, DUMPER_ENOMEM, "out of memory");
    h->tmpl = tmpl;
    pthread_mutex_init(&h->lock, NULL);
    if ((flags & MHD_USE_TLS) && (!(h->cert = slurp(cfg->tls_cert, err)) || !(h->key = slurp(cfg->tls_key, err)))) {
        sd_http_stop(h);
        return err->code;
    }
    unsigned threads = cfg->threads > 0 ? (unsigned)cfg->threads : 4;
    struct MHD_OptionItem tls[] = {{MHD_OPTION_HTTPS_MEM_CERT, 0, h->cert},
                                   {MHD_OPTION_HTTPS_MEM_KEY, 0, h->key},
                                   {MHD_OPTION_END, 0, NULL}};
    h->d = MHD_start_daemon(flags, 0, NULL, NULL, handler, h, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
                            MHD_OPTION_THREAD_POOL_SIZE, threads, MHD_OPTION_NOTIFY_COMPLETED, completed, NULL,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120, MHD_OPTION_CONNECTION_LIMIT, (unsigned)20000,
                            MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)4096, MHD_OPTION_ARRAY,
                            h->cert ? tls : tls + 2, MHD_OPTION_END);
    if (!h->d) {
        sd_http_stop(h);
        return dp_err_set(err, DUMPER_EIO, "unable to listen on %s (address in use?)", cfg->listen);
    }
    *out = h;
    return 0;
}

int sd_http_port(sd_http *h)
{
    const union MHD_DaemonInfo *i = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
    return i ? i->port : 0;
}

void sd_http_stop(sd_http *h)
{
    if (!h)
        return;
    if (h->d)
        MHD_stop_daemon(h->d);
    for (int i = 0; i < h->nctxs; i++) {
        sd_ctx_close(h->ctxs[i]);
        free(h->ctxs[i]);
    }
    pthread_mutex_destroy(&h->lock);
    if (h->key)
        dp_memzero(h->key, strlen(h->key));
    free(h->cert);
    free(h->key);
    free(h);
}
