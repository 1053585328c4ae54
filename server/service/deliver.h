/*
 * deliver.h - delivering a notification: POST a JSON body to a URL (http or https), with a timeout and
 * retries of transient failures, stoppable from another thread. The one place dumperd's services speak HTTP
 * as a client: its libcurl calls are to be replaced by the shared client of lib/http (one retry and backoff
 * policy) here and nowhere else. Notification channels (one URL per channel, per app) will deliver through it.
 */
#ifndef SD_DELIVER_H
#define SD_DELIVER_H

#include <stdatomic.h>
#include <stddef.h>

typedef struct sd_deliver_opts {
    long timeout_s;         /* whole request; 0: 10 */
    long connect_timeout_s; /* 0: 5 */
    int attempts;           /* 1 + retries of a connection failure, a timeout, 5xx or 429; 0: 1 */
    long backoff_ms;        /* before the first retry, doubling; 0: 500 */
    const atomic_int *stop; /* optional: nonzero makes a transfer (or a wait) give up at once */
} sd_deliver_opts;

/* 0 when the URL answered 2xx; else -1 with why (one line: curl's error or "HTTP <status>"). Each call uses
 * its own connection (a delivery thread owns it). */
int sd_deliver_json(const char *url, const char *json, const sd_deliver_opts *o, char *why, size_t whylen);

#endif
