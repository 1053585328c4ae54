/*
 * stop.h - a stop request that sleeping and transferring threads honour, and the one sleep.
 *
 * Every wait of libdumper that may last (the agent's poll interval, a retry's backoff) is
 * dp_sleep_ms(): it ends at once when its dp_stop is requested (a condition variable, so the agent
 * thread of a host process sleeps for minutes without waking up in between), and, for an
 * interruptible stop or none at all, within 100 ms of dp_interrupted being set by a signal handler
 * (a handler cannot signal a condition variable, so those sleeps look every 100 ms). The HTTP client
 * (http/http.h) checks the same stop every 100 ms while a request runs.
 *
 * Interruptible or not: the CLI's processes (`dumper backup`, `dumper job`) turn SIGINT/SIGTERM into
 * dp_interrupted, and their sleeps and transfers end with it. The agent thread of a host process
 * owns no signal: its stop is not interruptible, only dumper_agent_stop() requests it.
 *
 * Threading: dp_stop_request, dp_stop_requested and dp_sleep_ms may be called from any thread.
 * A dp_stop must outlive every thread sleeping on it.
 */
#ifndef DP_STOP_H
#define DP_STOP_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

typedef struct dp_stop {
    atomic_int requested;
    int interruptible; /* dp_interrupted counts as a request */
    pthread_mutex_t mu;
    pthread_cond_t cv; /* CLOCK_MONOTONIC */
} dp_stop;

/* Initialise (not requested). Also re-initialises one in a forked child (its lock may have been
 * held by a thread that does not exist there). */
void dp_stop_init(dp_stop *s, int interruptible);
void dp_stop_destroy(dp_stop *s);
/* Request the stop and wake every dp_sleep_ms() on s at once. */
void dp_stop_request(dp_stop *s);
/* Withdraw the request (before the stop is reused). */
void dp_stop_clear(dp_stop *s);
/* 1 when s is requested, or when s is interruptible (or NULL) and dp_interrupted is set. */
int dp_stop_requested(const dp_stop *s);

/* Sleep ms milliseconds, or less when the stop is requested (see above; s may be NULL: then only
 * dp_interrupted ends it early). Returns 1 when it ended early because of a stop, else 0. */
int dp_sleep_ms(int64_t ms, dp_stop *s);

#endif
