/*
 * deliver.h - delivering a notification: POST a JSON body to a URL (http or https), with a timeout and
 * retries of transient failures, stoppable from another thread. The requests go through the one HTTP client of
 * lib/http (dp_http_post_json: timeouts, close-on-exec sockets, stop requests); this file adds the retry loop
 * of a delivery (a few quick attempts; the alert thread's own schedule retries over minutes). dumperd has no
 * libcurl code of its own (test/integration/dumperd_layers.sh).
 */
#ifndef SD_DELIVER_H
#define SD_DELIVER_H

#include <stddef.h>

#include "core/stop.h"

typedef struct sd_deliver_opts {
    long timeout_s;             /* whole request; 0: 10 */
    long connect_timeout_s;     /* 0: 5 */
    int attempts;               /* 1 + retries of a connection failure, a timeout, 5xx, 429 or 408; 0: 1 */
    long backoff_ms;            /* before the first retry, doubling; 0: 500 */
    dp_stop *stop;              /* optional: a request makes a transfer (or a wait) give up at once */
    const char *const *headers; /* optional extra "Name: value" lines, NULL-terminated (borrowed) */
    const char *ca_file;        /* optional PEM bundle for https (default: the system store) */
} sd_deliver_opts;

/* 0 when the URL answered 2xx; else -1 with why (one line: the client's error, which never shows the URL's
 * path or credentials, or "HTTP <status>"). Each call uses its own connection (a delivery thread owns it). */
int sd_deliver_json(const char *url, const char *json, const sd_deliver_opts *o, char *why, size_t whylen);

#endif
