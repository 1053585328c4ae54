/* server.c - the libmicrohttpd server and request lifecycle (see server.h). */
#include "http/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <microhttpd.h>

#include "core/log.h"
#include "core/util.h"
#include "http/api.h"
#include "http/guard.h"
#include "http/respond.h"
#include "http/rest.h"
#include "http/site.h"

#define MAX_CTXS 256

struct sd_http {
    struct MHD_Daemon *d;
    sd_guard *guard;
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
    char *url, *method; /* site, REST */
    int rest;           /* the REST API (http/rest.h) */
} req;

/* A byte a path must never hold: a control character (what url_unescape leaves of a %00 or %0a too). */
static int bad_path(const char *url)
{
    for (const unsigned char *p = (const unsigned char *)url; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return 1;
    return 0;
}

static enum MHD_Result first_call(sd_http *h, struct MHD_Connection *c, req *r, const char *url, const char *method)
{
    sd_guard_headers(h->guard, c);
    if (bad_path(url)) {
        r->done = 1;
        return sd_reply_error(c, 400, "invalid_request", "control characters in the request path");
    }
    if (strncmp(url, "/api/", 5) || (r->rest = sd_rest_owns(url))) {
        /* The site (sessions instead of app keys; site.c decides what needs one) or the REST API (tokens). */
        r->url = dp_strdup(url);
        r->method = dp_strdup(method);
        r->max_body = r->rest ? SD_MAX_JSON : SD_SITE_MAX_BODY;
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
        if (!r->url || !r->method || (cl && strtoull(cl, NULL, 10) > r->max_body)) {
            r->done = 1;
            return sd_reply_error(c, 413, "too_large", "request body over %zu bytes", r->max_body);
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
    if (r->rest)
        return sd_rest_request(ctx, c, r->url, r->method, r->body.data, r->body.len);
    return sd_site_request(ctx, c, r->url, r->method, r->body.data, r->body.len);
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe)
{
    sd_http *h = cls;
    req *r = *con_cls;
    sd_guard_request_done(h->guard, c);
    if (!r)
        return;
    sd_api_free(r->api);
    free(r->url);
    free(r->method);
    dp_buf_free(&r->body);
    free(r);
    *con_cls = NULL;
}

/* "%HH" decoding of paths and query values, like libmicrohttpd's own, except that a value which decodes to a
 * control character (%00 would cut the path short: "/x%00/y" read as "/x") becomes a lone DEL, which
 * bad_path() and every validator of a query value refuse. */
static size_t url_unescape(void *cls, struct MHD_Connection *c, char *s)
{
    (void)cls;
    (void)c;
    size_t n = MHD_http_unescape(s);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) {
            s[0] = 0x7f;
            s[1] = 0;
            return 1;
        }
    return n;
}

/* libmicrohttpd's messages through our log, at most 5 a second: a flood of refused connections
 * ("Server reached connection limit") must not become a flood of log lines. */
static void mhd_log(void *cls, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    static int64_t second;
    static int n, dropped;
    int64_t now = dp_mono_ms() / 1000;
    pthread_mutex_lock(&lock);
    if (now != second) {
        if (dropped)
            dp_warn("http: %d more message(s) like the above not logged", dropped);
        second = now;
        n = dropped = 0;
    }
    int show = n++ < 5;
    dropped += !show;
    pthread_mutex_unlock(&lock);
    if (!show)
        return;
    char msg[300];
    vsnprintf(msg, sizeof msg, fmt, ap);
    msg[strcspn(msg, "\n")] = 0;
    dp_warn("http: %s", msg);
}

/* The connection limit: --max-connections, or 1024; either way at most half the descriptors this process may
 * open (the rest: store connections, storage handles, download pipes, the listener). */
static int conn_limit(const sd_config *cfg, unsigned *out, dp_err *err)
{
    struct rlimit rl;
    long fds = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY ? (long)rl.rlim_cur : 65536;
    long max = (fds - 64) / 2;
    if (max < 16)
        return dp_err_set(err, DUMPER_EUSAGE, "the descriptor limit (%ld, ulimit -n) is too small for dumperd serve",
                          fds);
    if (cfg->max_conns > max)
        return dp_err_set(err, DUMPER_EUSAGE,
                          "--max-connections %d is too close to the descriptor limit (%ld): at most %ld, or raise"
                          " ulimit -n", cfg->max_conns, fds, max);
    *out = cfg->max_conns ? (unsigned)cfg->max_conns : (unsigned)(max < 1024 ? max : 1024);
    return 0;
}

/* TLS 1.2 and 1.3 only, forward-secret key exchanges (ECDHE; TLS 1.3's are all forward secret) and AEAD
 * ciphers only (GnuTLS priority syntax: libmicrohttpd's TLS is GnuTLS). */
#define TLS_PRIORITIES                                                                                               \
    "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-KX-ALL:+ECDHE-RSA:+ECDHE-ECDSA:-CIPHER-ALL:+AES-256-GCM:"         \
    "+AES-128-GCM:+CHACHA20-POLY1305:-MAC-ALL:+AEAD:%SERVER_PRECEDENCE"

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
    sd_respond_hsts(h->cert != NULL);
    unsigned threads = cfg->threads > 0 ? (unsigned)cfg->threads : 4, limit = 0;
    if (conn_limit(cfg, &limit, err) || !(h->guard = sd_guard_start(cfg->header_timeout_ms))) {
        sd_http_stop(h);
        return err->code ? err->code : dp_err_set(err, DUMPER_ENOMEM, "unable to start the connection guard");
    }
    struct MHD_OptionItem tls[] = {{MHD_OPTION_HTTPS_MEM_CERT, 0, h->cert},
                                   {MHD_OPTION_HTTPS_MEM_KEY, 0, h->key},
                                   {MHD_OPTION_HTTPS_PRIORITIES, 0, (void *)TLS_PRIORITIES},
                                   {MHD_OPTION_END, 0, NULL}};
    /* Limits against hostile clients (docs/dumperd.md, "Security and limits"): connections in all and per
     * client address (libmicrohttpd refuses the ones past them at accept), an idle timeout, and the guard's
     * deadline for request headers. */
    h->d = MHD_start_daemon(flags, 0, NULL, NULL, handler, h, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
                            MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa, MHD_OPTION_THREAD_POOL_SIZE, threads,
                            MHD_OPTION_NOTIFY_COMPLETED, completed, h, MHD_OPTION_NOTIFY_CONNECTION,
                            sd_guard_notify, h->guard, MHD_OPTION_UNESCAPE_CALLBACK, url_unescape, NULL,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120, MHD_OPTION_CONNECTION_LIMIT, limit,
                            MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)cfg->max_conns_per_addr,
                            MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)4096, MHD_OPTION_ARRAY,
                            h->cert ? tls : tls + 3, MHD_OPTION_END);
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
    sd_guard_stop(h->guard);
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
