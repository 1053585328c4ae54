/*
 * server.h - dumperd's HTTP server on libmicrohttpd: the agent API (api.h) under /api/ and the site
 * (site.h) everywhere else, on one listener, HTTP or HTTPS.
 *
 * libmicrohttpd runs a small pool of threads, each with its own epoll loop; a request is handled entirely in
 * the thread that accepted it, with that thread's own service context (store connection, storage handle),
 * opened on first use and kept for the server's life. Request bodies are bounded (JSON bodies are buffered up
 * to their route's limit; part uploads stream), and errors detected from the headers alone are answered
 * before the body is read.
 */
#ifndef SD_HTTP_SERVER_H
#define SD_HTTP_SERVER_H

#include "core/err.h"
#include "service/ctx.h"

typedef struct sd_http sd_http;

/* Listen on tmpl->cfg->listen (HOST:PORT, [IPv6]:PORT or a name; port 0 picks one) with tmpl->cfg's threads
 * and TLS files. Each thread's context is like tmpl; tmpl must outlive the server. */
int sd_http_start(const sd_ctx *tmpl, sd_http **out, dp_err *err);
/* The bound port (useful with port 0). */
int sd_http_port(sd_http *h);
/* Stops the server and closes the threads' contexts. NULL is a no-op. */
void sd_http_stop(sd_http *h);

#endif
