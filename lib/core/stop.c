/* stop.c - stop requests and the one sleep (see stop.h). */
#include "core/stop.h"

#include <errno.h>
#include <time.h>

#include "core/util.h"

#define SLICE_MS 100 /* how often a sleep looks at dp_interrupted */

void dp_stop_init(dp_stop *s, int interruptible)
{
    atomic_store(&s->requested, 0);
    s->interruptible = interruptible;
    pthread_mutex_init(&s->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->cv, &ca);
    pthread_condattr_destroy(&ca);
}

void dp_stop_destroy(dp_stop *s)
{
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
}

void dp_stop_request(dp_stop *s)
{
    pthread_mutex_lock(&s->mu);
    atomic_store(&s->requested, 1);
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

void dp_stop_clear(dp_stop *s) { atomic_store(&s->requested, 0); }

int dp_stop_requested(const dp_stop *s)
{
    if (s && atomic_load(&s->requested))
        return 1;
    return (!s || s->interruptible) && dp_interrupted;
}

static void add_ms(struct timespec *ts, int64_t ms)
{
    int64_t ns = (int64_t)ts->tv_nsec + (ms % 1000) * 1000000;
    ts->tv_sec += (time_t)(ms / 1000 + ns / 1000000000);
    ts->tv_nsec = (long)(ns % 1000000000);
}

int dp_sleep_ms(int64_t ms, dp_stop *s)
{
    int watch_signal = !s || s->interruptible;
    int64_t end = dp_mono_ms() + (ms > 0 ? ms : 0);
    for (;;) {
        if (dp_stop_requested(s))
            return 1;
        int64_t left = end - dp_mono_ms();
        if (left <= 0)
            return 0;
        int64_t step = watch_signal && left > SLICE_MS ? SLICE_MS : left;
        if (!s) {
            struct timespec ts = {(time_t)(step / 1000), (long)(step % 1000) * 1000000L};
            nanosleep(&ts, NULL); /* EINTR: the loop looks at dp_interrupted */
            continue;
        }
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        add_ms(&ts, step);
        pthread_mutex_lock(&s->mu);
        while (!atomic_load(&s->requested))
            if (pthread_cond_timedwait(&s->cv, &s->mu, &ts) == ETIMEDOUT)
                break;
        pthread_mutex_unlock(&s->mu);
    }
}
