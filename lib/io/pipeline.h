/*
 * pipeline.h - stages that make a sink chain run on several threads, and throttling.
 *
 * A chain (sink.h) is driven by one thread: a write returns only once every filter below has
 * consumed the bytes, so the reader, the compressor, the hash and the writer take turns. An async
 * stage cuts the chain in two: its write() copies the bytes into a bounded ring of fixed buffers and
 * returns; a worker thread of its own drains the ring into the rest of the chain. Each stage adds one
 * thread and `slots * slot_size` bytes, whatever the stream's length. The stage keeps the chain's
 * contract exactly (docs/architecture.md, "Threads in the pipeline"):
 *
 *   - errors travel both ways: a failure below the stage (in the worker) is sticky and is returned,
 *     with its message, by the producer's next write() or end(); a failure above it (the producer's)
 *     ends in dp_sink_abort()/dp_sink_free(), which cancels the worker, joins it, then aborts the
 *     rest of the chain from the caller's thread;
 *   - end() hands over the last bytes, waits until the worker has ended the chain below and joins
 *     it; commit() and abort() run on the caller's thread, after the worker is gone, so a storage
 *     writer is published or aborted by the thread that owns the chain, as without the stage;
 *   - dp_interrupted still stops everything: a producer waiting for a free buffer checks it, and
 *     the worker's writes check it as every sink write does.
 *
 * Worker threads block every signal (the CLI's handlers run on the thread that created the chain,
 * where blocking reads must see EINTR). Several stages may follow each other; each sink below a
 * stage is touched by exactly one thread at a time.
 */
#ifndef DP_PIPELINE_H
#define DP_PIPELINE_H

#include "io/sink.h"

#define DP_ASYNC_SLOTS 8
#define DP_ASYNC_SLOT_SIZE (256 * 1024)

/* An async stage in front of `next` (owned, like any filter's). slots >= 2 buffers of slot_size
 * bytes (0, 0: the defaults above). NULL when out of memory or the thread cannot start; `next` is
 * then still the caller's. */
dp_sink *dp_filter_async_new(dp_sink *next, size_t slots, size_t slot_size);

/* 1 when the current thread should stop what it is doing: the process was interrupted, or this is
 * the worker of an async stage that is being aborted. A sink that may block for long below a stage
 * (sleeping, retrying) polls it and fails with DUMPER_EINTR. */
int dp_io_cancelled(void);

/* Throttle: passes bytes on at no more than `rate` bytes per second on average (a token bucket with
 * 50 ms of burst: large writes are split and paced, so the output is smooth, not bursts of seconds).
 * It sleeps in the thread that writes into it, in slices of at most 100 ms, and fails with
 * DUMPER_EINTR when dp_io_cancelled(). rate must be 1..DP_RATE_MAX. */
dp_sink *dp_filter_throttle_new(uint64_t rate, dp_sink *next);

/* The largest rate accepted: 1 TiB/s. */
#define DP_RATE_MAX (1ull << 40)

/* Parse a rate as curl's --limit-rate does: a whole number of bytes per second, optionally followed
 * by one suffix K, M, G or T (either case, powers of 1024). 1..DP_RATE_MAX; anything else (empty,
 * 0, a sign, a fraction, an unknown or repeated suffix, too large) is DUMPER_EUSAGE with one line
 * naming `what` and the value. */
int dp_parse_rate(const char *s, const char *what, uint64_t *out, dp_err *err);

#endif
