/*
 * throttle.c - the rate limit behind `--limit-rate` and the job spec's `limit_rate`.
 *
 * A token bucket in its "virtual scheduling" form (GCRA): every byte costs 1/rate seconds; `tat`
 * is the time at which everything passed so far will have been paid for. A piece goes out once it
 * would be paid for within the burst allowance (tat + its cost - now <= 50 ms), so the output is never
 * more than 50 ms ahead of the rate, and a write larger than that is split into pieces of 50 ms worth
 * (at tiny rates the first byte waits for its cost). Over a stream of N bytes the elapsed time is at
 * least N / rate - 50 ms. Sleeps are cut into slices of at most 100 ms that
 * check dp_io_cancelled(), so an interrupt or an abort of the chain is never held up.
 */
#include "io/pipeline.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/util.h"

#define BURST_NS 50000000.0 /* 50 ms */

typedef struct {
    dp_sink base;
    uint64_t rate;
    uint64_t piece; /* bytes of 50 ms, at least 1 */
    double tat;     /* ns on CLOCK_MONOTONIC */
} throttle_sink;

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* Sleep until the monotonic clock reaches `until` (ns), in slices of <= 100 ms. */
static int sleep_until(double until, dp_err *err)
{
    for (;;) {
        if (dp_io_cancelled())
            return dp_err_set(err, DUMPER_EINTR, "interrupted");
        double left = until - now_ns();
        if (left <= 0)
            return 0;
        if (left > 1e8)
            left = 1e8;
        struct timespec ts = {0, (long)left};
        nanosleep(&ts, NULL);
    }
}

static int throttle_write(dp_sink *s, const void *p, size_t n, dp_err *err)
{
    throttle_sink *t = (throttle_sink *)s;
    const char *c = p;
    while (n) {
        size_t k = n < t->piece ? n : (size_t)t->piece;
        double now = now_ns(), cost = (double)k * 1e9 / (double)t->rate;
        if (t->tat < now)
            t->tat = now;
        /* the piece may go once it ends within the burst allowance */
        if (t->tat + cost - now > BURST_NS && sleep_until(t->tat + cost - BURST_NS, err))
            return err->code;
        t->tat += cost;
        if (dp_sink_write(s->next, c, k, err))
            return err->code;
        c += k;
        n -= k;
    }
    return 0;
}

static int throttle_end(dp_sink *s, dp_err *err) { return dp_sink_end(s->next, err); }

static const dp_sink_ops throttle_ops = {.name = "throttle", .write = throttle_write, .end = throttle_end};

dp_sink *dp_filter_throttle_new(uint64_t rate, dp_sink *next)
{
    if (!rate || rate > DP_RATE_MAX || !next)
        return NULL;
    throttle_sink *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    dp_sink_init(&t->base, &throttle_ops, next);
    t->rate = rate;
    t->piece = rate / 20 ? rate / 20 : 1;
    t->tat = 0;
    return &t->base;
}

int dp_parse_rate(const char *s, const char *what, uint64_t *out, dp_err *err)
{
    const char *p = s ? s : "";
    uint64_t v = 0;
    int digits = 0, overflow = 0;
    for (; isdigit((unsigned char)*p); p++, digits++) {
        unsigned d = (unsigned)(*p - '0');
        if (v > (UINT64_MAX - d) / 10)
            overflow = 1;
        else
            v = v * 10 + d;
    }
    unsigned shift = 0;
    switch (*p) {
    case 'k': case 'K': shift = 10; p++; break;
    case 'm': case 'M': shift = 20; p++; break;
    case 'g': case 'G': shift = 30; p++; break;
    case 't': case 'T': shift = 40; p++; break;
    default: break;
    }
    if (!digits || *p)
        return dp_err_set(err, DUMPER_EUSAGE,
                          "invalid %s '%.40s': expected bytes per second, a whole number with an optional K, M, G "
                          "or T suffix (e.g. 500K, 10M)",
                          what, s ? s : "");
    if (!overflow && v > (DP_RATE_MAX >> shift))
        overflow = 1;
    if (overflow)
        return dp_err_set(err, DUMPER_EUSAGE, "invalid %s '%.40s': more than the maximum of 1T (1 TiB/s)", what, s);
    if (v == 0)
        return dp_err_set(err, DUMPER_EUSAGE,
                          "invalid %s '%.40s': the rate must be at least 1 byte per second (leave it out for no limit)",
                          what, s);
    *out = v << shift;
    return 0;
}
