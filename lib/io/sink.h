/*
 * sink.h - the byte pipeline: source -> filters -> storage.
 *
 * Everything downstream of a producer is a dp_sink. A producer pushes bytes with dp_sink_write(),
 * then calls dp_sink_end() (flush: after it every byte is durable but not yet published), then
 * dp_sink_commit() (publish: rename into place, complete the upload, ...). On any failure the owner
 * calls dp_sink_abort(), which must leave nothing that looks like a good result. dp_sink_free()
 * releases resources; freeing a sink that was neither committed nor aborted aborts it.
 *
 * A filter owns its downstream sink: end/commit/abort/free propagate down the chain. Errors are
 * sticky (like Redis rio): after the first failure every write returns the same code.
 *
 * Sinks are not thread-safe; one thread drives a pipeline.
 */
#ifndef DP_SINK_H
#define DP_SINK_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

typedef struct dp_sink dp_sink;

typedef struct dp_sink_ops {
    const char *name;
    /* Required. Consume n bytes. */
    int (*write)(dp_sink *s, const void *p, size_t n, dp_err *err);
    /* Required. End of stream: flush everything downstream and call dp_sink_end(next). */
    int (*end)(dp_sink *s, dp_err *err);
    /* Optional (default: propagate). Publish the result. */
    int (*commit)(dp_sink *s, dp_err *err);
    /* Optional (default: propagate). Discard everything; must not fail. */
    void (*abort)(dp_sink *s);
    /* Optional. Free private state (not next; dp_sink_free handles the chain). */
    void (*destroy)(dp_sink *s);
    /* Optional. Called by dp_sink_fail() after the chain was aborted for a failure that did not come
     * from this sink (an interrupt noticed by the reader, a read error): add to err what this sink did
     * about it (a restore target's clean-up). A sink that reported the failure itself adds nothing. */
    void (*explain)(dp_sink *s, dp_err *err);
} dp_sink_ops;

enum { DP_SINK_OPEN = 0, DP_SINK_ENDED, DP_SINK_COMMITTED, DP_SINK_ABORTED };

struct dp_sink {
    const dp_sink_ops *ops;
    dp_sink *next;     /* owned; NULL for terminal sinks */
    uint64_t bytes;    /* bytes accepted by this sink */
    int failed;        /* sticky error code */
    int state;
};

/* Initialise the common part of a sink embedded at the start of an implementation struct. */
void dp_sink_init(dp_sink *s, const dp_sink_ops *ops, dp_sink *next);

int dp_sink_write(dp_sink *s, const void *p, size_t n, dp_err *err);
int dp_sink_end(dp_sink *s, dp_err *err);
int dp_sink_commit(dp_sink *s, dp_err *err);
void dp_sink_abort(dp_sink *s);
/* Abort the chain for the failure in err, then let every sink in it explain (see dp_sink_ops.explain).
 * With a thread boundary in the chain, the downstream sinks may never see the failure themselves. */
void dp_sink_fail(dp_sink *s, dp_err *err);
/* Free the whole chain; aborts it first unless committed. NULL is a no-op. */
void dp_sink_free(dp_sink *s);

/* Default pass-through behaviour for filters. */
int dp_sink_default_commit(dp_sink *s, dp_err *err);

/* Terminal sinks. */
/* Writes to a file descriptor (borrowed: never closed). */
dp_sink *dp_sink_fd_new(int fd);
/* Discards everything (counts bytes). */
dp_sink *dp_sink_null_new(void);
/* Appends to a dp_buf (borrowed). For tests and small objects. */
struct dp_buf;
dp_sink *dp_sink_buf_new(struct dp_buf *b);

/* Limits: fails with DUMPER_ETOOLARGE once more than max bytes pass. */
dp_sink *dp_filter_limit_new(uint64_t max, dp_sink *next);

/* Pump a file descriptor into a sink until EOF (does not end the sink). */
int dp_sink_pump_fd(int fd, dp_sink *to, const char *what, dp_err *err);

#define DP_IO_CHUNK (128 * 1024)

#endif
