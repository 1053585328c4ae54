/* deliver.c - POST JSON with a timeout and retries, through lib/http's client (see deliver.h). */
#include "service/deliver.h"

#include <stdio.h>

#include "http/http.h"

#define MAX_HEADERS 16

/* One POST: 0 on a 2xx, 1 for a failure worth retrying, -1 for one that is not. */
static int post(dp_http *h, const char *url, const char *json, const sd_deliver_opts *o, char *why, size_t whylen)
{
    const char *hd[MAX_HEADERS + 2] = {"User-Agent: dumperd"};
    int n = 1;
    for (int i = 0; o->headers && o->headers[i] && n <= MAX_HEADERS; i++)
        hd[n++] = o->headers[i];
    hd[n] = NULL;
    long status = 0;
    dp_err err = {0};
    long timeout_ms = (o->timeout_s > 0 ? o->timeout_s : 10) * 1000;
    int rc = dp_http_post_json(h, url, json, hd, timeout_ms, 1, &status, &err);
    if (rc == 0 && status >= 200 && status <= 299)
        return 0;
    if (rc)
        snprintf(why, whylen, "%s", err.msg);
    else
        snprintf(why, whylen, "HTTP %ld", status);
    return dp_http_retryable(rc, status) && rc != DUMPER_EINTR ? 1 : -1;
}

int sd_deliver_json(const char *url, const char *json, const sd_deliver_opts *o, char *why, size_t whylen)
{
    static const sd_deliver_opts defaults = {0};
    if (!o)
        o = &defaults;
    dp_http *h = dp_http_new(&(dp_http_opts){
        .connect_timeout_ms = (o->connect_timeout_s > 0 ? o->connect_timeout_s : 5) * 1000,
        .timeout_ms = (o->timeout_s > 0 ? o->timeout_s : 10) * 1000,
        .max_attempts = 1,
        .ca_file = o->ca_file,
        .stop = o->stop});
    if (!h) {
        snprintf(why, whylen, "out of memory");
        return -1;
    }
    int attempts = o->attempts > 0 ? o->attempts : 1, rc = -1;
    long backoff = o->backoff_ms > 0 ? o->backoff_ms : 500;
    for (int i = 0; i < attempts; i++, backoff *= 2) {
        if (i && dp_sleep_ms(backoff, o->stop))
            break;
        if ((rc = post(h, url, json, o, why, whylen)) <= 0)
            break;
    }
    dp_http_free(h);
    return rc ? -1 : 0;
}
