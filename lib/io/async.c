/*
 * async.c - the async stage: a bounded ring of fixed buffers between a producer thread and a worker
 * thread that drives the rest of the chain (pipeline.h has the contract).
 *
 * Design. The ring has `nslots` buffers. The producer fills the slot at (head + count) % nslots and
 * publishes it (count++) when it is full or at end; the worker consumes the slot at head. Only the
 * producer touches the slot being filled and only the worker the slot at head while it writes it
 * out, so the bytes are copied without the lock held; the lock guards head, count and the flags. The
 * producer coalesces small writes (a pipe gives 64 KiB at a time, SQLite one line) into whole slots,
 * so the threads meet once per slot, not once per write.
 *
 * Waiting: the producer waits for a free slot (backpressure: a slow writer slows the dump tool,
 * memory stays bounded) with a 100 ms timed wait so that it sees dp_interrupted and the
 * cancellation of a stage above it; the worker waits for a slot, end or cancel.
 *
 * Shutdown: end() publishes the last partial slot, sets eof and waits until the worker has drained
 * the ring and ended `next` (or failed), then joins it. abort() sets cancel (the worker drops what is
 * queued and stops after its current write: a write blocked in a sink below returns once that sink
 * polls dp_io_cancelled() or dp_interrupted), joins it; dp_sink_abort() then aborts `next` from the
 * caller's thread. destroy() joins a worker still running (a chain freed without end/abort).
 */
#include "io/pipeline.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "core/util.h"

typedef struct {
    char *data;
    size_t len;
} slot;

typedef struct {
    dp_sink base;
    pthread_t thread;
    int running; /* thread started and not joined (producer's view) */
    pthread_mutex_t mu;
    pthread_cond_t to_worker;   /* a slot published, eof or cancel */
    pthread_cond_t to_producer; /* a slot freed, or the worker is done */
    slot *slots;
    size_t nslots, slot_size;
    size_t head, count;
    int eof;           /* producer ended: drain, then end next */
    atomic_int cancel; /* abort: stop at once */
    int done;          /* worker finished: ended next, failed or cancelled */
    int failed;        /* worker's error code (sticky), 0 while fine */
    dp_err werr;       /* worker's error record */
    /* debug counters: time each side waited for the other (ns), and how often */
    int64_t t_full, t_empty, t_start;
    uint64_t n_full, n_empty, n_slots;
} async_sink;

static _Thread_local atomic_int *tls_cancel;

int dp_io_cancelled(void) { return dp_interrupted || (tls_cancel && atomic_load(tls_cancel)); }

/* Copy the worker's error into the producer's record (first error wins there). */
static int worker_error(async_sink *a, dp_err *err)
{
    dp_err_set(err, a->werr.code ? a->werr.code : a->failed, "%s",
               a->werr.msg[0] ? a->werr.msg : dumper_strerror(a->failed));
    return a->failed;
}

/* Wait on to_producer for at most 100 ms. Returns DUMPER_EINTR when the producer must stop. Lock held. */
static int producer_wait(async_sink *a, dp_err *err)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_nsec += 100 * 1000 * 1000;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(&a->to_producer, &a->mu, &ts);
    if (dp_io_cancelled())
        return dp_err_set(err, DUMPER_EINTR, "interrupted");
    return 0;
}

static void *worker(void *arg)
{
    async_sink *a = arg;
    dp_sink *next = a->base.next;
    tls_cancel = &a->cancel;
    pthread_mutex_lock(&a->mu);
    for (;;) {
        if (!a->count && !a->eof && !atomic_load(&a->cancel)) {
            int64_t t0 = dp_mono_ns();
            while (!a->count && !a->eof && !atomic_load(&a->cancel))
                pthread_cond_wait(&a->to_worker, &a->mu);
            a->t_empty += dp_mono_ns() - t0;
            a->n_empty++;
        }
        if (atomic_load(&a->cancel))
            break;
        if (a->count) {
            slot *s = &a->slots[a->head];
            pthread_mutex_unlock(&a->mu);
            int rc = dp_sink_write(next, s->data, s->len, &a->werr);
            pthread_mutex_lock(&a->mu);
            s->len = 0;
            a->head = (a->head + 1) % a->nslots;
            a->count--;
            pthread_cond_signal(&a->to_producer);
            if (rc) {
                a->failed = rc;
                break;
            }
            continue;
        }
        /* eof and the ring is empty */
        pthread_mutex_unlock(&a->mu);
        int rc = dp_sink_end(next, &a->werr);
        pthread_mutex_lock(&a->mu);
        a->failed = rc;
        break;
    }
    a->done = 1;
    pthread_cond_signal(&a->to_producer);
    pthread_mutex_unlock(&a->mu);
    return NULL;
}

static void join(async_sink *a)
{
    if (!a->running)
        return;
    pthread_join(a->thread, NULL);
    a->running = 0;
}

static int async_write(dp_sink *s, const void *p, size_t n, dp_err *err)
{
    async_sink *a = (async_sink *)s;
    const char *c = p;
    while (n) {
        pthread_mutex_lock(&a->mu);
        if (a->count == a->nslots && !a->failed && !a->done) {
            int64_t t0 = dp_mono_ns();
            while (a->count == a->nslots && !a->failed && !a->done) {
                int rc = producer_wait(a, err);
                if (rc) {
                    pthread_mutex_unlock(&a->mu);
                    return rc;
                }
            }
            a->t_full += dp_mono_ns() - t0;
            a->n_full++;
        }
        if (a->failed || a->done) {
            int rc = a->failed ? worker_error(a, err)
                               : dp_err_set(err, DUMPER_EINTERNAL, "async stage: worker stopped early");
            pthread_mutex_unlock(&a->mu);
            return rc;
        }
        slot *f = &a->slots[(a->head + a->count) % a->nslots];
        pthread_mutex_unlock(&a->mu);
        /* The fill slot is the producer's alone until it is published. */
        size_t k = a->slot_size - f->len < n ? a->slot_size - f->len : n;
        memcpy(f->data + f->len, c, k);
        f->len += k;
        c += k;
        n -= k;
        if (f->len == a->slot_size) {
            pthread_mutex_lock(&a->mu);
            a->count++;
            a->n_slots++;
            pthread_cond_signal(&a->to_worker);
            pthread_mutex_unlock(&a->mu);
        }
    }
    return 0;
}

static int async_end(dp_sink *s, dp_err *err)
{
    async_sink *a = (async_sink *)s;
    pthread_mutex_lock(&a->mu);
    if (a->count < a->nslots && a->slots[(a->head + a->count) % a->nslots].len)
        a->count++;
    a->eof = 1;
    pthread_cond_signal(&a->to_worker);
    int rc = 0;
    while (!a->done && !(rc = producer_wait(a, err)))
        ;
    if (!rc && a->failed)
        rc = worker_error(a, err);
    pthread_mutex_unlock(&a->mu);
    if (!rc) {
        join(a);
        dp_debug("async stage: %llu slots over %lld ms; the producer waited %lld ms for a free slot (%llu times), "
                 "the worker %lld ms for a full one (%llu times)",
                 (unsigned long long)a->n_slots, (long long)((dp_mono_ns() - a->t_start) / 1000000),
                 (long long)(a->t_full / 1000000), (unsigned long long)a->n_full, (long long)(a->t_empty / 1000000),
                 (unsigned long long)a->n_empty);
    }
    return rc;
}

static void stop(async_sink *a)
{
    pthread_mutex_lock(&a->mu);
    atomic_store(&a->cancel, 1);
    pthread_cond_signal(&a->to_worker);
    pthread_mutex_unlock(&a->mu);
    join(a);
}

static void async_abort(dp_sink *s) { stop((async_sink *)s); }

static void async_destroy(dp_sink *s)
{
    async_sink *a = (async_sink *)s;
    stop(a);
    for (size_t i = 0; a->slots && i < a->nslots; i++)
        free(a->slots[i].data);
    free(a->slots);
    pthread_cond_destroy(&a->to_worker);
    pthread_cond_destroy(&a->to_producer);
    pthread_mutex_destroy(&a->mu);
}

static const dp_sink_ops async_ops = {
    .name = "async", .write = async_write, .end = async_end, .abort = async_abort, .destroy = async_destroy};

dp_sink *dp_filter_async_new(dp_sink *next, size_t slots, size_t slot_size)
{
    if (!slots)
        slots = DP_ASYNC_SLOTS;
    if (!slot_size)
        slot_size = DP_ASYNC_SLOT_SIZE;
    if (slots < 2 || !next)
        return NULL;
    async_sink *a = calloc(1, sizeof *a);
    if (!a)
        return NULL;
    a->nslots = slots;
    a->slot_size = slot_size;
    a->t_start = dp_mono_ns();
    atomic_init(&a->cancel, 0);
    pthread_condattr_t ca;
    int ok = pthread_condattr_init(&ca) == 0;
    ok = ok && pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) == 0;
    ok = ok && pthread_mutex_init(&a->mu, NULL) == 0;
    if (ok && pthread_cond_init(&a->to_worker, &ca) != 0) {
        pthread_mutex_destroy(&a->mu);
        ok = 0;
    }
    if (ok && pthread_cond_init(&a->to_producer, &ca) != 0) {
        pthread_cond_destroy(&a->to_worker);
        pthread_mutex_destroy(&a->mu);
        ok = 0;
    }
    pthread_condattr_destroy(&ca);
    if (!ok) {
        free(a);
        return NULL;
    }
    dp_sink_init(&a->base, &async_ops, next);
    a->slots = calloc(slots, sizeof *a->slots);
    for (size_t i = 0; a->slots && i < slots; i++)
        if (!(a->slots[i].data = malloc(slot_size)))
            goto fail;
    if (!a->slots)
        goto fail;
    /* The worker blocks every signal: they stay with the threads that created the chain. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&a->thread, NULL, worker, a);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc)
        goto fail;
    a->running = 1;
    return &a->base;
fail:
    a->base.next = NULL; /* not ours yet: the caller keeps `next` */
    async_destroy(&a->base);
    free(a);
    return NULL;
}
