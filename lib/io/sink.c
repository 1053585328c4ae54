/* sink.c - the sink chain mechanics and the trivial sinks. */
#include "io/sink.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/util.h"

void dp_sink_init(dp_sink *s, const dp_sink_ops *ops, dp_sink *next)
{
    s->ops = ops;
    s->next = next;
    s->bytes = 0;
    s->failed = 0;
    s->state = DP_SINK_OPEN;
}

int dp_sink_write(dp_sink *s, const void *p, size_t n, dp_err *err)
{
    if (s->failed)
        return err && err->code ? err->code : s->failed;
    if (s->state != DP_SINK_OPEN)
        return s->failed = dp_err_set(err, DUMPER_EINTERNAL, "write to a closed %s sink", s->ops->name);
    if (dp_interrupted)
        return s->failed = dp_err_set(err, DUMPER_EINTR, "interrupted");
    if (n == 0)
        return 0;
    int r = s->ops->write(s, p, n, err);
    if (r) {
        s->failed = r;
        return r;
    }
    s->bytes += n;
    return 0;
}

int dp_sink_end(dp_sink *s, dp_err *err)
{
    if (s->failed)
        return err && err->code ? err->code : s->failed;
    if (s->state != DP_SINK_OPEN)
        return 0;
    int r = s->ops->end(s, err);
    if (r)
        return s->failed = r;
    s->state = DP_SINK_ENDED;
    return 0;
}

int dp_sink_default_commit(dp_sink *s, dp_err *err) { return s->next ? dp_sink_commit(s->next, err) : 0; }

int dp_sink_commit(dp_sink *s, dp_err *err)
{
    if (s->failed)
        return err && err->code ? err->code : s->failed;
    if (s->state == DP_SINK_COMMITTED)
        return 0;
    if (s->state == DP_SINK_OPEN) {
        int r = dp_sink_end(s, err);
        if (r)
            return r;
    }
    if (s->state != DP_SINK_ENDED)
        return dp_err_set(err, DUMPER_EINTERNAL, "commit of an aborted %s sink", s->ops->name);
    int r = s->ops->commit ? s->ops->commit(s, err) : dp_sink_default_commit(s, err);
    if (r)
        return s->failed = r;
    s->state = DP_SINK_COMMITTED;
    return 0;
}

void dp_sink_abort(dp_sink *s)
{
    if (!s || s->state == DP_SINK_COMMITTED || s->state == DP_SINK_ABORTED)
        return;
    if (s->ops->abort)
        s->ops->abort(s);
    s->state = DP_SINK_ABORTED;
    if (!s->failed)
        s->failed = DUMPER_EINTR;
    if (s->next)
        dp_sink_abort(s->next);
}

void dp_sink_fail(dp_sink *s, dp_err *err)
{
    dp_sink_abort(s);
    for (; s; s = s->next)
        if (s->ops->explain)
            s->ops->explain(s, err);
}

void dp_sink_free(dp_sink *s)
{
    while (s) {
        if (s->state != DP_SINK_COMMITTED)
            dp_sink_abort(s);
        dp_sink *next = s->next;
        if (s->ops->destroy)
            s->ops->destroy(s);
        free(s);
        s = next;
    }
}

/* fd sink */
typedef struct {
    dp_sink base;
    int fd;
} fd_sink;

static int fd_write(dp_sink *s, const void *p, size_t n, dp_err *err)
{
    fd_sink *f = (fd_sink *)s;
    if (dp_write_all(f->fd, p, n) < 0) {
        int e = errno;
        return dp_err_sys(err, e == EPIPE ? DUMPER_EIO : dp_err_code_for_errno(e), e, "unable to write output");
    }
    return 0;
}
static int noop_end(dp_sink *s, dp_err *err) { return 0; }
static const dp_sink_ops fd_ops = {.name = "fd", .write = fd_write, .end = noop_end};

dp_sink *dp_sink_fd_new(int fd)
{
    fd_sink *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    dp_sink_init(&f->base, &fd_ops, NULL);
    f->fd = fd;
    return &f->base;
}

static int null_write(dp_sink *s, const void *p, size_t n, dp_err *err) { return 0; }
static const dp_sink_ops null_ops = {.name = "null", .write = null_write, .end = noop_end};

dp_sink *dp_sink_null_new(void)
{
    dp_sink *s = calloc(1, sizeof *s);
    if (s)
        dp_sink_init(s, &null_ops, NULL);
    return s;
}

typedef struct {
    dp_sink base;
    dp_buf *b;
} buf_sink;

static int buf_write(dp_sink *s, const void *p, size_t n, dp_err *err)
{
    if (dp_buf_append(((buf_sink *)s)->b, p, n) < 0)
        return dp_err_set(err, DUMPER_ENOMEM, "out of memory");
    return 0;
}
static const dp_sink_ops buf_ops = {.name = "buffer", .write = buf_write, .end = noop_end};

dp_sink *dp_sink_buf_new(dp_buf *b)
{
    buf_sink *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    dp_sink_init(&s->base, &buf_ops, NULL);
    s->b = b;
    return &s->base;
}

typedef struct {
    dp_sink base;
    uint64_t max;
} limit_sink;

static int limit_write(dp_sink *s, const void *p, size_t n, dp_err *err)
{
    limit_sink *l = (limit_sink *)s;
    if (s->bytes + n > l->max) {
        char h[32];
        dp_human_size(l->max, h, sizeof h);
        return dp_err_set(err, DUMPER_ETOOLARGE, "backup exceeds the size limit of %s", h);
    }
    return dp_sink_write(s->next, p, n, err);
}
static int pass_end(dp_sink *s, dp_err *err) { return dp_sink_end(s->next, err); }
static const dp_sink_ops limit_ops = {.name = "limit", .write = limit_write, .end = pass_end};

dp_sink *dp_filter_limit_new(uint64_t max, dp_sink *next)
{
    limit_sink *l = calloc(1, sizeof *l);
    if (!l)
        return NULL;
    dp_sink_init(&l->base, &limit_ops, next);
    l->max = max;
    return &l->base;
}

int dp_sink_pump_fd(int fd, dp_sink *to, const char *what, dp_err *err)
{
    char *buf = malloc(DP_IO_CHUNK);
    if (!buf)
        return dp_err_set(err, DUMPER_ENOMEM, "out of memory");
    int rc = 0;
    for (;;) {
        ssize_t r = read(fd, buf, DP_IO_CHUNK);
        if (r < 0) {
            if (errno == EINTR && !dp_interrupted)
                continue;
            rc = errno == EINTR ? dp_err_set(err, DUMPER_EINTR, "interrupted")
                                : dp_err_sys(err, DUMPER_EIO, errno, "unable to read %s", what);
            break;
        }
        if (r == 0)
            break;
        if ((rc = dp_sink_write(to, buf, (size_t)r, err)))
            break;
    }
    free(buf);
    return rc;
}
