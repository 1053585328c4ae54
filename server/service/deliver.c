/* deliver.c - POST JSON with a timeout and retries (see deliver.h). */
#include "service/deliver.h"

#include <curl/curl.h>
#include <stdio.h>
#include <time.h>

static int xfer_cb(void *p, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
    const atomic_int *stop = p;
    return stop && atomic_load(stop) ? 1 : 0;
}

static size_t discard(char *p, size_t s, size_t n, void *u) { return s * n; }

/* One POST: 0 on a 2xx, 1 for a failure worth retrying, -1 for one that is not. */
static int post(CURL *h, const char *url, const char *json, const sd_deliver_opts *o, char *why, size_t whylen)
{
    struct curl_slist *hd = curl_slist_append(NULL, "Content-Type: application/json");
    hd = curl_slist_append(hd, "User-Agent: dumperd");
    curl_easy_reset(h);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, json);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, o->timeout_s > 0 ? o->timeout_s : 10L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, o->connect_timeout_s > 0 ? o->connect_timeout_s : 5L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, xfer_cb);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, (void *)o->stop);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    CURLcode cc = curl_easy_perform(h);
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(hd);
    if (cc != CURLE_OK) {
        snprintf(why, whylen, "%s", curl_easy_strerror(cc));
        return cc == CURLE_COULDNT_CONNECT || cc == CURLE_OPERATION_TIMEDOUT || cc == CURLE_RECV_ERROR ||
                       cc == CURLE_SEND_ERROR || cc == CURLE_GOT_NOTHING || cc == CURLE_COULDNT_RESOLVE_HOST
                   ? 1
                   : -1;
    }
    if (status < 200 || status > 299) {
        snprintf(why, whylen, "HTTP %ld", status);
        return status >= 500 || status == 429 ? 1 : -1;
    }
    return 0;
}

/* Sleep ms unless stopped; 0, or -1 when stopped. */
static int wait_ms(long ms, const atomic_int *stop)
{
    for (long waited = 0; waited < ms; waited += 50) {
        if (stop && atomic_load(stop))
            return -1;
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
    }
    return 0;
}

int sd_deliver_json(const char *url, const char *json, const sd_deliver_opts *o, char *why, size_t whylen)
{
    static const sd_deliver_opts defaults = {0};
    if (!o)
        o = &defaults;
    CURL *h = curl_easy_init();
    if (!h) {
        snprintf(why, whylen, "out of memory");
        return -1;
    }
    int attempts = o->attempts > 0 ? o->attempts : 1, rc = -1;
    long backoff = o->backoff_ms > 0 ? o->backoff_ms : 500;
    for (int i = 0; i < attempts; i++, backoff *= 2) {
        if (i && wait_ms(backoff, o->stop))
            break;
        if ((rc = post(h, url, json, o, why, whylen)) <= 0)
            break;
    }
    curl_easy_cleanup(h);
    return rc ? -1 : 0;
}
