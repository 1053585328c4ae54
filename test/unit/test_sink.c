/* test_sink.c - sink chain semantics: write/end/commit/abort order, sticky errors, abort propagation,
 * freeing an uncommitted chain aborts it, the limit filter, interruption, fd/null/buffer sinks. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/util.h"
#include "io/filter.h"
#include "io/sink.h"

/* A recording terminal sink: counts calls, can fail on the nth write or at end/commit. */
typedef struct {
    int writes, ends, commits, aborts, destroys;
    int fail_write_at; /* 1-based; 0 = never */
    int fail_end, fail_commit;
    dp_buf data;
} rec_log;

typedef struct {
    dp_sink base;
    rec_log *log;
} rec_sink;

static int rec_write(dp_sink *s, const void *p, size_t n, dp_err *err)
{
    rec_log *l = ((rec_sink *)s)->log;
    l->writes++;
    if (l->fail_write_at && l->writes >= l->fail_write_at)
        return dp_err_set(err, DUMPER_EIO, "rec write %d failed", l->writes);
    dp_buf_append(&l->data, p, n);
    return 0;
}
static int rec_end(dp_sink *s, dp_err *err)
{
    rec_log *l = ((rec_sink *)s)->log;
    l->ends++;
    return l->fail_end ? dp_err_set(err, DUMPER_ENOSPC, "rec end failed") : 0;
}
static int rec_commit(dp_sink *s, dp_err *err)
{
    rec_log *l = ((rec_sink *)s)->log;
    l->commits++;
    return l->fail_commit ? dp_err_set(err, DUMPER_EEXIST, "rec commit failed") : 0;
}
static void rec_abort(dp_sink *s) { ((rec_sink *)s)->log->aborts++; }
static void rec_destroy(dp_sink *s) { ((rec_sink *)s)->log->destroys++; }
static const dp_sink_ops rec_ops = {.name = "rec",
                                    .write = rec_write,
                                    .end = rec_end,
                                    .commit = rec_commit,
                                    .abort = rec_abort,
                                    .destroy = rec_destroy};

static dp_sink *rec_new(rec_log *l)
{
    rec_sink *r = calloc(1, sizeof *r);
    assert_non_null(r);
    dp_sink_init(&r->base, &rec_ops, NULL);
    r->log = l;
    return &r->base;
}

/* A pass-through filter (the kind every real filter is) with its own counters. */
static int pf_write(dp_sink *s, const void *p, size_t n, dp_err *err) { return dp_sink_write(s->next, p, n, err); }
static int pf_end(dp_sink *s, dp_err *err) { return dp_sink_end(s->next, err); }
static const dp_sink_ops pf_ops = {.name = "pass", .write = pf_write, .end = pf_end};
static dp_sink *pass_new(dp_sink *next)
{
    dp_sink *s = calloc(1, sizeof *s);
    assert_non_null(s);
    dp_sink_init(s, &pf_ops, next);
    return s;
}

static void test_happy_path(void **state)
{
    rec_log l = {0};
    dp_sink *t = rec_new(&l), *a = pass_new(t), *head = pass_new(a);
    dp_err err = {0};
    assert_int_equal(dp_sink_write(head, "hello ", 6, &err), 0);
    assert_int_equal(dp_sink_write(head, "", 0, &err), 0); /* empty writes never reach the driver */
    assert_int_equal(dp_sink_write(head, "world", 5, &err), 0);
    assert_int_equal(l.writes, 2);
    assert_int_equal(head->bytes, 11);
    assert_int_equal(t->bytes, 11);
    assert_int_equal(dp_sink_end(head, &err), 0);
    assert_int_equal(l.ends, 1);
    assert_int_equal(dp_sink_end(head, &err), 0); /* idempotent */
    assert_int_equal(l.ends, 1);
    assert_int_equal(l.commits, 0); /* end does not publish */
    assert_int_equal(dp_sink_commit(head, &err), 0);
    assert_int_equal(l.commits, 1);
    assert_int_equal(dp_sink_commit(head, &err), 0); /* idempotent */
    assert_int_equal(l.commits, 1);
    assert_int_equal(head->state, DP_SINK_COMMITTED);
    assert_int_equal(t->state, DP_SINK_COMMITTED);
    /* writing after the end is an internal error, and sticks */
    assert_int_equal(dp_sink_write(head, "x", 1, &err), DUMPER_EINTERNAL);
    assert_non_null(strstr(err.msg, "closed"));
    dp_sink_free(head);
    assert_int_equal(l.aborts, 0); /* a committed chain is not aborted by free */
    assert_int_equal(l.destroys, 1);
    assert_int_equal(l.data.len, 11);
    assert_memory_equal(l.data.data, "hello world", 11);
    dp_buf_free(&l.data);
}

static void test_commit_implies_end(void **state)
{
    rec_log l = {0};
    dp_sink *head = pass_new(rec_new(&l));
    dp_err err = {0};
    assert_int_equal(dp_sink_write(head, "a", 1, &err), 0);
    assert_int_equal(dp_sink_commit(head, &err), 0);
    assert_int_equal(l.ends, 1);
    assert_int_equal(l.commits, 1);
    dp_sink_free(head);
    dp_buf_free(&l.data);
}

static void test_sticky_write_error(void **state)
{
    rec_log l = {.fail_write_at = 2};
    dp_sink *t = rec_new(&l), *head = pass_new(pass_new(t));
    dp_err err = {0};
    assert_int_equal(dp_sink_write(head, "one", 3, &err), 0);
    assert_int_equal(dp_sink_write(head, "two", 3, &err), DUMPER_EIO);
    assert_string_equal(err.msg, "rec write 2 failed");
    assert_int_equal(head->failed, DUMPER_EIO);
    assert_int_equal(t->failed, DUMPER_EIO);
    assert_int_equal(head->bytes, 3); /* failed bytes are not counted */
    /* every later call fails with the same code and never reaches the driver again */
    dp_err err2 = {0};
    assert_int_equal(dp_sink_write(head, "three", 5, &err2), DUMPER_EIO);
    assert_int_equal(dp_sink_end(head, &err2), DUMPER_EIO);
    assert_int_equal(dp_sink_commit(head, &err2), DUMPER_EIO);
    assert_int_equal(l.writes, 2);
    assert_int_equal(l.ends, 0);
    assert_int_equal(l.commits, 0);
    /* the first error wins: the record keeps the root cause */
    assert_int_equal(dp_sink_write(head, "x", 1, &err), DUMPER_EIO);
    assert_string_equal(err.msg, "rec write 2 failed");
    dp_sink_free(head); /* uncommitted: aborted */
    assert_int_equal(l.aborts, 1);
    assert_int_equal(l.destroys, 1);
    dp_buf_free(&l.data);
}

static void test_end_and_commit_errors(void **state)
{
    rec_log l = {.fail_end = 1};
    dp_sink *head = pass_new(rec_new(&l));
    dp_err err = {0};
    assert_int_equal(dp_sink_write(head, "a", 1, &err), 0);
    assert_int_equal(dp_sink_end(head, &err), DUMPER_ENOSPC);
    assert_int_equal(dp_sink_commit(head, &err), DUMPER_ENOSPC);
    assert_int_equal(l.commits, 0);
    dp_sink_free(head);
    assert_int_equal(l.aborts, 1);
    dp_buf_free(&l.data);

    rec_log m = {.fail_commit = 1};
    head = pass_new(rec_new(&m));
    dp_err err2 = {0};
    assert_int_equal(dp_sink_write(head, "a", 1, &err2), 0);
    assert_int_equal(dp_sink_commit(head, &err2), DUMPER_EEXIST);
    assert_string_equal(err2.msg, "rec commit failed");
    assert_int_not_equal(head->state, DP_SINK_COMMITTED);
    dp_sink_free(head); /* a failed commit leaves the chain uncommitted: free aborts it */
    assert_int_equal(m.aborts, 1);
    dp_buf_free(&m.data);
}

static void test_abort_propagates(void **state)
{
    rec_log l = {0};
    dp_sink *t = rec_new(&l), *mid = pass_new(t), *head = pass_new(mid);
    dp_err err = {0};
    assert_int_equal(dp_sink_write(head, "abc", 3, &err), 0);
    dp_sink_abort(head);
    assert_int_equal(l.aborts, 1);
    assert_int_equal(head->state, DP_SINK_ABORTED);
    assert_int_equal(mid->state, DP_SINK_ABORTED);
    assert_int_equal(t->state, DP_SINK_ABORTED);
    dp_sink_abort(head); /* idempotent */
    assert_int_equal(l.aborts, 1);
    /* nothing works after an abort */
    dp_err err2 = {0};
    assert_int_not_equal(dp_sink_write(head, "x", 1, &err2), 0);
    assert_int_not_equal(dp_sink_commit(head, &err2), 0);
    assert_int_equal(l.commits, 0);
    dp_sink_free(head);
    assert_int_equal(l.aborts, 1); /* free does not abort twice */
    assert_int_equal(l.destroys, 1);
    dp_buf_free(&l.data);
    dp_sink_abort(NULL);
    dp_sink_free(NULL);
}

/* dp_sink_fail: the chain is aborted first, then a sink with an explain op amends the owner's error
 * (what a restore target did about a failure it never saw, e.g. behind a thread boundary). */
static void explain_note(dp_sink *s, dp_err *err)
{
    assert_int_equal(s->state, DP_SINK_ABORTED); /* explained after the abort, never before */
    char msg[DP_ERR_MSG_MAX + 16];
    snprintf(msg, sizeof msg, "%s; cleaned up", err->msg);
    int code = err->code;
    dp_err_clear(err);
    dp_err_set(err, code, "%s", msg);
}
static const dp_sink_ops ex_ops = {.name = "explain", .write = pf_write, .end = pf_end, .explain = explain_note};

static void test_fail_explains(void **state)
{
    rec_log l = {0};
    dp_sink *ex = calloc(1, sizeof *ex);
    assert_non_null(ex);
    dp_sink_init(ex, &ex_ops, rec_new(&l));
    dp_sink *head = pass_new(pass_new(ex));
    dp_err err = {0};
    assert_int_equal(dp_sink_write(head, "abc", 3, &err), 0);
    dp_err_set(&err, DUMPER_EINTR, "interrupted");
    dp_sink_fail(head, &err);
    assert_int_equal(l.aborts, 1);
    assert_int_equal(err.code, DUMPER_EINTR);
    assert_string_equal(err.msg, "interrupted; cleaned up");
    dp_sink_free(head);
    assert_int_equal(l.aborts, 1);
    assert_int_equal(l.destroys, 1);
    dp_buf_free(&l.data);
}

static void test_free_uncommitted_aborts(void **state)
{
    /* open, ended-but-not-committed: both abort on free */
    for (int ended = 0; ended < 2; ended++) {
        rec_log l = {0};
        dp_sink *head = pass_new(pass_new(rec_new(&l)));
        dp_err err = {0};
        assert_int_equal(dp_sink_write(head, "abc", 3, &err), 0);
        if (ended)
            assert_int_equal(dp_sink_end(head, &err), 0);
        dp_sink_free(head);
        assert_int_equal(l.aborts, 1);
        assert_int_equal(l.commits, 0);
        assert_int_equal(l.destroys, 1);
        dp_buf_free(&l.data);
    }
}

static void test_limit(void **state)
{
    rec_log l = {0};
    dp_sink *lim = dp_filter_limit_new(10, rec_new(&l));
    assert_non_null(lim);
    dp_err err = {0};
    assert_int_equal(dp_sink_write(lim, "12345", 5, &err), 0);
    assert_int_equal(dp_sink_write(lim, "67890", 5, &err), 0); /* exactly the limit is fine */
    assert_int_equal(dp_sink_write(lim, "1", 1, &err), DUMPER_ETOOLARGE);
    assert_non_null(strstr(err.msg, "size limit"));
    assert_int_equal(l.data.len, 10); /* nothing past the limit went through */
    dp_sink_free(lim);
    assert_int_equal(l.aborts, 1);
    dp_buf_free(&l.data);

    rec_log m = {0};
    lim = dp_filter_limit_new(10, rec_new(&m));
    dp_err err2 = {0};
    assert_int_equal(dp_sink_write(lim, "1234567890x", 11, &err2), DUMPER_ETOOLARGE); /* one big write */
    assert_int_equal(m.writes, 0);
    dp_sink_free(lim);
    dp_buf_free(&m.data);

    rec_log k = {0};
    lim = dp_filter_limit_new(10, rec_new(&k));
    dp_err err3 = {0};
    assert_int_equal(dp_sink_write(lim, "123", 3, &err3), 0);
    assert_int_equal(dp_sink_commit(lim, &err3), 0);
    assert_int_equal(k.commits, 1);
    dp_sink_free(lim);
    dp_buf_free(&k.data);
}

static void test_interrupted(void **state)
{
    rec_log l = {0};
    dp_sink *head = pass_new(rec_new(&l));
    dp_err err = {0};
    assert_int_equal(dp_sink_write(head, "a", 1, &err), 0);
    dp_interrupted = 1;
    assert_int_equal(dp_sink_write(head, "b", 1, &err), DUMPER_EINTR);
    dp_interrupted = 0;
    assert_int_equal(dp_sink_write(head, "c", 1, &err), DUMPER_EINTR); /* sticky */
    assert_int_equal(l.data.len, 1);
    dp_sink_free(head);
    assert_int_equal(l.aborts, 1);
    dp_buf_free(&l.data);
}

static void test_builtin_sinks(void **state)
{
    dp_err err = {0};
    dp_sink *n = dp_sink_null_new();
    assert_int_equal(dp_sink_write(n, "abc", 3, &err), 0);
    assert_int_equal(dp_sink_commit(n, &err), 0);
    assert_int_equal(n->bytes, 3);
    dp_sink_free(n);

    dp_buf b = {0};
    dp_sink *bs = dp_sink_buf_new(&b);
    assert_int_equal(dp_sink_write(bs, "abc", 3, &err), 0);
    assert_int_equal(dp_sink_write(bs, "de", 2, &err), 0);
    assert_int_equal(dp_sink_commit(bs, &err), 0);
    dp_sink_free(bs);
    assert_string_equal(b.data, "abcde"); /* borrowed buffer survives the sink */
    dp_buf_free(&b);

    /* fd sink into a pipe, and pump_fd out of another */
    int p[2];
    assert_int_equal(pipe(p), 0);
    dp_sink *fs = dp_sink_fd_new(p[1]);
    assert_int_equal(dp_sink_write(fs, "pipe data", 9, &err), 0);
    assert_int_equal(dp_sink_commit(fs, &err), 0);
    dp_sink_free(fs);
    assert_int_equal(fcntl(p[1], F_GETFD), 0); /* borrowed: still open */
    close(p[1]);
    dp_buf got = {0};
    dp_sink *gs = dp_sink_buf_new(&got);
    assert_int_equal(dp_sink_pump_fd(p[0], gs, "pipe", &err), 0);
    assert_int_equal(gs->state, DP_SINK_OPEN); /* pump does not end */
    close(p[0]);
    dp_sink_free(gs);
    assert_string_equal(got.data, "pipe data");
    dp_buf_free(&got);

    /* a write error on the fd sink: /dev/full gives ENOSPC */
    int full = open("/dev/full", O_WRONLY | O_CLOEXEC);
    if (full >= 0) {
        dp_sink *f = dp_sink_fd_new(full);
        dp_err e2 = {0};
        assert_int_equal(dp_sink_write(f, "x", 1, &e2), DUMPER_ENOSPC);
        assert_non_null(strstr(e2.msg, "No space left"));
        dp_sink_free(f);
        close(full);
    }
    /* a read error while pumping: a directory fd */
    int dfd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    dp_sink *ns = dp_sink_null_new();
    dp_err e3 = {0};
    assert_int_equal(dp_sink_pump_fd(dfd, ns, "the root", &e3), DUMPER_EIO);
    assert_non_null(strstr(e3.msg, "unable to read the root"));
    close(dfd);
    dp_sink_free(ns);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_happy_path),          cmocka_unit_test(test_commit_implies_end),
        cmocka_unit_test(test_sticky_write_error),  cmocka_unit_test(test_end_and_commit_errors),
        cmocka_unit_test(test_abort_propagates),    cmocka_unit_test(test_free_uncommitted_aborts),
        cmocka_unit_test(test_limit),               cmocka_unit_test(test_interrupted),
        cmocka_unit_test(test_builtin_sinks),         cmocka_unit_test(test_fail_explains),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
