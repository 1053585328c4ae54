/* test_pipeline.c - the threaded pipeline (io/pipeline.h): the async stage keeps the sink contract
 * (bytes and order, end then commit, commit and abort on the caller's thread, sticky errors with their
 * message, abort from either side, interruption, tiny and huge writes, several stages in a row, with
 * a failure injected in each stage); the throttle's pacing, cancellation and rate parsing at and past
 * its bounds; the adaptive zstd level moving with the pace of the pipeline. */
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/util.h"
#include "io/filter.h"
#include "io/pipeline.h"
#include "io/sink.h"

/* ---- a recording terminal sink ---- */

typedef struct {
    int writes, ends, commits, aborts, destroys;
    int fail_write_at; /* 1-based; 0 = never */
    int fail_end, fail_commit;
    int block;          /* writes wait until dp_io_cancelled(), then fail with DUMPER_EINTR */
    unsigned sleep_us;  /* each write sleeps this long */
    pthread_t write_thread, end_thread, commit_thread, abort_thread;
    char events[64];    /* 'w' (first write only), 'e', 'c', 'a' in order */
    dp_buf data;
} rec_log;

typedef struct {
    dp_sink base;
    rec_log *log;
} rec_sink;

static void event(rec_log *l, char c)
{
    size_t n = strlen(l->events);
    if (n + 1 < sizeof l->events && !(c == 'w' && n && l->events[n - 1] == 'w'))
        l->events[n] = c;
}

static int rec_write(dp_sink *s, const void *p, size_t n, dp_err *err)
{
    rec_log *l = ((rec_sink *)s)->log;
    l->writes++;
    l->write_thread = pthread_self();
    event(l, 'w');
    if (l->sleep_us)
        usleep(l->sleep_us);
    if (l->block) {
        while (!dp_io_cancelled())
            usleep(1000);
        return dp_err_set(err, DUMPER_EINTR, "rec write cancelled");
    }
    if (l->fail_write_at && l->writes >= l->fail_write_at)
        return dp_err_set(err, DUMPER_EIO, "rec write %d failed", l->writes);
    return dp_buf_append(&l->data, p, n) < 0 ? dp_err_set(err, DUMPER_ENOMEM, "out of memory") : 0;
}
static int rec_end(dp_sink *s, dp_err *err)
{
    rec_log *l = ((rec_sink *)s)->log;
    l->ends++;
    l->end_thread = pthread_self();
    event(l, 'e');
    return l->fail_end ? dp_err_set(err, DUMPER_ENOSPC, "rec end failed") : 0;
}
static int rec_commit(dp_sink *s, dp_err *err)
{
    rec_log *l = ((rec_sink *)s)->log;
    l->commits++;
    l->commit_thread = pthread_self();
    event(l, 'c');
    return l->fail_commit ? dp_err_set(err, DUMPER_EEXIST, "rec commit failed") : 0;
}
static void rec_abort(dp_sink *s)
{
    rec_log *l = ((rec_sink *)s)->log;
    l->aborts++;
    l->abort_thread = pthread_self();
    event(l, 'a');
}
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

/* After dp_sink_free of a failed or abandoned chain: the terminal was aborted once, never committed,
 * and destroyed. Frees the log's data. */
static void assert_aborted_once(rec_log *l)
{
    assert_int_equal(l->aborts, 1);
    assert_int_equal(l->commits, 0);
    assert_int_equal(l->destroys, 1);
    dp_buf_free(&l->data);
}

/* A pass-through filter that fails its nth write (or its end) with a message naming it. */
typedef struct {
    dp_sink base;
    const char *name;
    int writes, fail_write_at, fail_end;
} fail_filter;

static int ff_write(dp_sink *s, const void *p, size_t n, dp_err *err)
{
    fail_filter *f = (fail_filter *)s;
    if (f->fail_write_at && ++f->writes >= f->fail_write_at)
        return dp_err_set(err, DUMPER_ECORRUPT, "%s failed at write %d", f->name, f->writes);
    return dp_sink_write(s->next, p, n, err);
}
static int ff_end(dp_sink *s, dp_err *err)
{
    fail_filter *f = (fail_filter *)s;
    if (f->fail_end)
        return dp_err_set(err, DUMPER_ECORRUPT, "%s failed at end", f->name);
    return dp_sink_end(s->next, err);
}
static const dp_sink_ops ff_ops = {.name = "fail", .write = ff_write, .end = ff_end};
static dp_sink *ff_new(const char *name, int fail_write_at, int fail_end, dp_sink *next)
{
    fail_filter *f = calloc(1, sizeof *f);
    assert_non_null(f);
    dp_sink_init(&f->base, &ff_ops, next);
    f->name = name;
    f->fail_write_at = fail_write_at;
    f->fail_end = fail_end;
    return &f->base;
}

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint64_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static unsigned char *pattern(size_t n)
{
    unsigned char *p = malloc(n ? n : 1);
    assert_non_null(p);
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)(i * 31 + (i >> 11));
    return p;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- async stage ---- */

/* Bytes arrive whole and in order whatever the write sizes: 1-byte writes, random sizes, one write
 * larger than the whole ring, an empty stream; end once, commit once, on the right threads. */
static void test_async_bytes_and_order(void **state)
{
    size_t sizes[] = {0, 1, 4095, 65536, 3 * 1024 * 1024 + 17};
    for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
        for (int mode = 0; mode < 3; mode++) { /* one write, 1-byte writes (small streams), random chunks */
            size_t n = sizes[si];
            if (mode == 1 && n > 65536)
                continue;
            unsigned char *p = pattern(n);
            rec_log l = {0};
            /* a small ring: 3 slots of 1000 bytes, so every size wraps it many times */
            dp_sink *head = dp_filter_async_new(rec_new(&l), 3, 1000);
            assert_non_null(head);
            dp_err err = {0};
            size_t off = 0;
            while (off < n) {
                size_t k = mode == 0 ? n : mode == 1 ? 1 : 1 + next_rand() % 5000;
                if (k > n - off)
                    k = n - off;
                assert_int_equal(dp_sink_write(head, p + off, k, &err), 0);
                off += k;
            }
            assert_int_equal(dp_sink_end(head, &err), 0);
            assert_int_equal(l.ends, 1);
            assert_int_equal(l.commits, 0); /* end does not publish */
            assert_true(pthread_equal(l.end_thread, pthread_self()) == 0); /* the worker ended it */
            assert_int_equal(dp_sink_commit(head, &err), 0);
            assert_int_equal(l.commits, 1);
            assert_true(pthread_equal(l.commit_thread, pthread_self())); /* commit: the caller's thread */
            assert_int_equal(head->bytes, n);
            assert_int_equal(head->next->bytes, n);
            assert_int_equal(l.data.len, n);
            if (n)
                assert_memory_equal(l.data.data, p, n);
            assert_int_equal(l.writes, (int)((n + 999) / 1000)); /* whole slots: one write each */
            assert_string_equal(l.events, n ? "wec" : "ec");
            dp_sink_free(head);
            assert_int_equal(l.aborts, 0);
            assert_int_equal(l.destroys, 1);
            dp_buf_free(&l.data);
            free(p);
        }
    }
}

/* The default ring (DP_ASYNC_SLOTS x DP_ASYNC_SLOT_SIZE) with a 64 MiB stream in pipe-sized writes. */
static void test_async_default_ring_large(void **state)
{
    size_t chunk = 65536, total = 64u << 20;
    unsigned char *p = pattern(chunk);
    dp_sink *null = dp_sink_null_new();
    dp_sink *sha = dp_filter_sha256_new(null);
    dp_sink *head = dp_filter_async_new(sha, 0, 0);
    assert_non_null(head);
    dp_sink *ref = dp_filter_sha256_new(NULL);
    dp_err err = {0};
    for (size_t off = 0; off < total; off += chunk) {
        assert_int_equal(dp_sink_write(head, p, chunk, &err), 0);
        assert_int_equal(dp_sink_write(ref, p, chunk, &err), 0);
    }
    assert_int_equal(dp_sink_end(head, &err), 0);
    assert_int_equal(dp_sink_end(ref, &err), 0);
    char a[65], b[65];
    assert_int_equal(dp_filter_sha256_hex(sha, a), 0);
    assert_int_equal(dp_filter_sha256_hex(ref, b), 0);
    assert_string_equal(a, b);
    assert_int_equal(null->bytes, total);
    assert_int_equal(dp_sink_commit(head, &err), 0);
    dp_sink_free(head);
    dp_sink_free(ref);
    free(p);
}

/* A write failing below the stage: the producer gets the code and the message at a later write or at
 * end, the error sticks, nothing is committed, and freeing aborts the terminal once. */
static void test_async_downstream_write_error(void **state)
{
    for (int at = 1; at <= 4; at++) {
        rec_log l = {.fail_write_at = at};
        dp_sink *head = dp_filter_async_new(rec_new(&l), 2, 100);
        dp_err err = {0};
        char buf[100];
        memset(buf, 'x', sizeof buf);
        int rc = 0, i;
        for (i = 0; i < 1000 && !rc; i++)
            rc = dp_sink_write(head, buf, sizeof buf, &err);
        if (!rc)
            rc = dp_sink_end(head, &err);
        assert_int_equal(rc, DUMPER_EIO);
        char want[64];
        snprintf(want, sizeof want, "rec write %d failed", at);
        assert_string_equal(err.msg, want);
        assert_int_equal(head->failed, DUMPER_EIO);
        dp_err e2 = {0};
        assert_int_equal(dp_sink_write(head, "y", 1, &e2), DUMPER_EIO); /* sticky */
        assert_int_equal(dp_sink_end(head, &e2), DUMPER_EIO);
        assert_int_equal(dp_sink_commit(head, &e2), DUMPER_EIO);
        assert_int_equal(l.writes, at); /* nothing reached the failed sink after its failure */
        assert_int_equal(l.ends, 0);
        dp_sink_free(head);
        assert_true(pthread_equal(l.abort_thread, pthread_self())); /* aborted by the chain's owner */
        assert_aborted_once(&l);
    }
}

/* end failing below the stage, and commit failing below it. */
static void test_async_end_and_commit_errors(void **state)
{
    rec_log l = {.fail_end = 1};
    dp_sink *head = dp_filter_async_new(rec_new(&l), 0, 0);
    dp_err err = {0};
    assert_int_equal(dp_sink_write(head, "abc", 3, &err), 0);
    assert_int_equal(dp_sink_end(head, &err), DUMPER_ENOSPC);
    assert_string_equal(err.msg, "rec end failed");
    assert_int_equal(dp_sink_commit(head, &err), DUMPER_ENOSPC);
    assert_int_equal(l.commits, 0);
    dp_sink_free(head);
    assert_int_equal(l.aborts, 1);
    assert_string_equal(l.events, "wea");
    dp_buf_free(&l.data);

    rec_log l2 = {.fail_commit = 1};
    head = dp_filter_async_new(rec_new(&l2), 0, 0);
    dp_err e2 = {0};
    assert_int_equal(dp_sink_write(head, "abc", 3, &e2), 0);
    assert_int_equal(dp_sink_commit(head, &e2), DUMPER_EEXIST); /* commit implies end */
    assert_string_equal(e2.msg, "rec commit failed");
    assert_int_equal(l2.ends, 1);
    dp_sink_free(head);
    assert_int_equal(l2.aborts, 1);
    assert_string_equal(l2.events, "weca");
    dp_buf_free(&l2.data);
}

/* The producer gives up (its own error, before end): freeing the chain cancels the worker, aborts
 * the terminal once, never commits; also with a full ring and a worker blocked in a slow write. */
static void test_async_abort_from_producer(void **state)
{
    for (int blocked = 0; blocked < 2; blocked++) {
        rec_log l = {.block = blocked};
        dp_sink *head = dp_filter_async_new(rec_new(&l), 2, 10);
        dp_err err = {0};
        /* blocked: the first slot goes to the worker, which blocks in its write; the second fills */
        assert_int_equal(dp_sink_write(head, "0123456789abcdefghij", blocked ? 20 : 15, &err), 0);
        double t0 = now_s();
        dp_sink_abort(head);
        assert_true(now_s() - t0 < 5.0);
        assert_int_equal(head->state, DP_SINK_ABORTED);
        assert_int_equal(l.aborts, 1);
        assert_int_equal(l.commits, 0);
        assert_int_equal(l.ends, 0);
        dp_err e2 = {0};
        assert_int_equal(dp_sink_write(head, "x", 1, &e2), DUMPER_EINTR);
        dp_sink_free(head);
        assert_aborted_once(&l); /* not twice */
    }
    /* freed without end or abort: the same */
    rec_log l = {0};
    dp_sink *head = dp_filter_async_new(rec_new(&l), 0, 0);
    dp_err err = {0};
    assert_int_equal(dp_sink_write(head, "abc", 3, &err), 0);
    dp_sink_free(head);
    assert_aborted_once(&l);
}

/* A producer waiting for a free slot sees dp_interrupted; the worker's writes see it too. */
static void test_async_interrupted(void **state)
{
    rec_log l = {.block = 1};
    dp_sink *head = dp_filter_async_new(rec_new(&l), 2, 10);
    dp_err err = {0};
    assert_int_equal(dp_sink_write(head, "0123456789", 10, &err), 0); /* the worker takes it and blocks */
    assert_int_equal(dp_sink_write(head, "0123456789", 10, &err), 0); /* the second slot */
    dp_interrupted = 1;
    double t0 = now_s();
    assert_int_equal(dp_sink_write(head, "x", 1, &err), DUMPER_EINTR);
    assert_true(now_s() - t0 < 5.0);
    assert_string_equal(err.msg, "interrupted");
    dp_sink_free(head);
    dp_interrupted = 0;
    assert_aborted_once(&l);

    /* interrupted while the producer waits in end for a blocked worker */
    rec_log l2 = {.block = 1};
    head = dp_filter_async_new(rec_new(&l2), 2, 10);
    dp_err e2 = {0};
    assert_int_equal(dp_sink_write(head, "0123456789", 10, &e2), 0);
    dp_interrupted = 1;
    assert_int_equal(dp_sink_end(head, &e2), DUMPER_EINTR);
    dp_sink_free(head);
    dp_interrupted = 0;
    assert_int_equal(l2.aborts, 1);
    assert_int_equal(l2.ends, 0);
    dp_buf_free(&l2.data);
}

/* Three stages: producer -> A -> async -> B -> async -> C -> terminal. A failure injected in each
 * stage (at a write and at end) reaches the producer with its message; the terminal is aborted once
 * and never committed. Without a failure the bytes arrive intact. */
static void test_async_stages_errors(void **state)
{
    const char *names[] = {"A", "B", "C", "terminal"};
    size_t n = 300000;
    unsigned char *p = pattern(n);
    for (int where = -1; where < 4; where++) {
        for (int at_end = 0; at_end < 2; at_end++) {
            if (where < 0 && at_end)
                continue;
            rec_log l = {0};
            if (where == 3)
                l.fail_write_at = at_end ? 0 : 5, l.fail_end = at_end;
            dp_sink *t = rec_new(&l);
            dp_sink *c = ff_new("C", where == 2 && !at_end ? 5 : 0, where == 2 && at_end, t);
            dp_sink *a2 = dp_filter_async_new(c, 3, 4096);
            dp_sink *b = ff_new("B", where == 1 && !at_end ? 5 : 0, where == 1 && at_end, a2);
            dp_sink *a1 = dp_filter_async_new(b, 3, 8192);
            dp_sink *head = ff_new("A", where == 0 && !at_end ? 5 : 0, where == 0 && at_end, a1);
            assert_non_null(a1);
            assert_non_null(a2);
            dp_err err = {0};
            int rc = 0;
            for (size_t off = 0; off < n && !rc; off += 1000)
                rc = dp_sink_write(head, p + off, n - off < 1000 ? n - off : 1000, &err);
            if (!rc)
                rc = dp_sink_commit(head, &err);
            if (where < 0) {
                assert_int_equal(rc, 0);
                assert_int_equal(l.data.len, n);
                assert_memory_equal(l.data.data, p, n);
                assert_string_equal(l.events, "wec");
            } else {
                char want[64];
                if (where == 3)
                    snprintf(want, sizeof want, at_end ? "rec end failed" : "rec write 5 failed");
                else if (at_end)
                    snprintf(want, sizeof want, "%s failed at end", names[where]);
                else
                    snprintf(want, sizeof want, "%s failed at write 5", names[where]);
                if (strcmp(err.msg, want) != 0)
                    fail_msg("stage %s (%s): got %d '%s'", names[where], at_end ? "end" : "write", rc, err.msg);
                assert_int_equal(l.commits, 0);
            }
            dp_sink_free(head);
            assert_int_equal(l.aborts, where < 0 ? 0 : 1);
            assert_int_equal(l.destroys, 1);
            dp_buf_free(&l.data);
        }
    }
    free(p);
}

/* Filters on both sides of a stage: zstd in the worker, decompressed back equal. */
static void test_async_with_compression(void **state)
{
    size_t n = 5u << 20;
    unsigned char *p = pattern(n);
    dp_buf z = {0}, back = {0};
    dp_err err = {0};
    dp_sink *head = dp_filter_async_new(dp_filter_compress_new(DP_CODEC_ZSTD, 0, dp_sink_buf_new(&z)), 0, 0);
    for (size_t off = 0; off < n; off += 70000)
        assert_int_equal(dp_sink_write(head, p + off, n - off < 70000 ? n - off : 70000, &err), 0);
    assert_int_equal(dp_sink_commit(head, &err), 0);
    dp_sink_free(head);
    dp_sink *d = dp_filter_async_new(dp_filter_decompress_new(DP_CODEC_ZSTD, dp_sink_buf_new(&back)), 2, 1000);
    assert_int_equal(dp_sink_write(d, z.data, z.len, &err), 0);
    assert_int_equal(dp_sink_commit(d, &err), 0);
    dp_sink_free(d);
    assert_int_equal(back.len, n);
    assert_memory_equal(back.data, p, n);
    /* a corrupt stream: the decompressor's error (in the worker) reaches the producer */
    z.data[z.len / 2] ^= 0x55;
    dp_buf_reset(&back);
    d = dp_filter_async_new(dp_filter_decompress_new(DP_CODEC_ZSTD, dp_sink_buf_new(&back)), 2, 1000);
    int rc = dp_sink_write(d, z.data, z.len, &err);
    if (!rc)
        rc = dp_sink_end(d, &err);
    assert_int_equal(rc, DUMPER_ECORRUPT);
    assert_non_null(strstr(err.msg, "backup is corrupt: zstd"));
    dp_sink_free(d);
    dp_buf_free(&z);
    dp_buf_free(&back);
    free(p);
}

static void test_async_bad_args(void **state)
{
    dp_sink *n = dp_sink_null_new();
    assert_null(dp_filter_async_new(n, 1, 100)); /* a ring needs two slots */
    assert_null(dp_filter_async_new(NULL, 0, 0));
    dp_sink_free(n); /* still the caller's */
}

/* ---- throttle ---- */

static void test_parse_rate(void **state)
{
    struct {
        const char *in;
        uint64_t want; /* 0 = refused */
    } cases[] = {
        {"1", 1},
        {"500K", 500 * 1024},
        {"500k", 500 * 1024},
        {"10M", 10u << 20},
        {"10m", 10u << 20},
        {"2G", 2ull << 30},
        {"1T", 1ull << 40},
        {"1024G", 1ull << 40},
        {"1099511627776", 1ull << 40},
        {"007", 7},
        {"0", 0},
        {"0K", 0},
        {"", 0},
        {"K", 0},
        {"-1", 0},
        {"+1", 0},
        {" 1", 0},
        {"1 ", 0},
        {"1.5M", 0},
        {"10MB", 0},
        {"10KK", 0},
        {"10X", 0},
        {"1P", 0},
        {"1025G", 0},
        {"2T", 0},
        {"1099511627777", 0},
        {"18446744073709551615", 0},
        {"18446744073709551616", 0},
        {"99999999999999999999999999K", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint64_t v = 12345;
        dp_err err = {0};
        int rc = dp_parse_rate(cases[i].in, "--limit-rate", &v, &err);
        if (cases[i].want) {
            if (rc || v != cases[i].want)
                fail_msg("'%s': rc %d, %llu (%s)", cases[i].in, rc, (unsigned long long)v, err.msg);
        } else {
            if (rc != DUMPER_EUSAGE)
                fail_msg("'%s' accepted as %llu", cases[i].in, (unsigned long long)v);
            assert_int_equal(v, 12345); /* untouched */
            assert_non_null(strstr(err.msg, "invalid --limit-rate '"));
            assert_null(strchr(err.msg, '\n'));
        }
    }
    dp_err err = {0};
    uint64_t v;
    dp_parse_rate("0", "--limit-rate", &v, &err);
    assert_string_equal(err.msg, "invalid --limit-rate '0': the rate must be at least 1 byte per second (leave it "
                                 "out for no limit)");
    dp_err_clear(&err);
    dp_parse_rate("2T", "--limit-rate", &v, &err);
    assert_string_equal(err.msg, "invalid --limit-rate '2T': more than the maximum of 1T (1 TiB/s)");
    dp_err_clear(&err);
    dp_parse_rate("10MB", "--limit-rate", &v, &err);
    assert_string_equal(err.msg, "invalid --limit-rate '10MB': expected bytes per second, a whole number with an "
                                 "optional K, M, G or T suffix (e.g. 500K, 10M)");
    dp_err_clear(&err);
    assert_int_equal(dp_parse_rate(NULL, "limit_rate", &v, &err), DUMPER_EUSAGE);
    assert_null(dp_filter_throttle_new(0, NULL));
    dp_sink *n = dp_sink_null_new();
    assert_null(dp_filter_throttle_new(0, n));
    assert_null(dp_filter_throttle_new(DP_RATE_MAX + 1, n));
    dp_sink *t = dp_filter_throttle_new(DP_RATE_MAX, n);
    assert_non_null(t);
    dp_sink_free(t);
}

/* 400 KiB at 1 MiB/s: at least N/rate - 50 ms of burst, no piece larger than 50 ms worth, and
 * the bytes intact. The upper bound is loose: a loaded machine only makes it slower. */
static void test_throttle_pace(void **state)
{
    size_t n = 400 * 1024;
    uint64_t rate = 1u << 20;
    unsigned char *p = pattern(n);
    rec_log l = {0};
    dp_sink *t = dp_filter_throttle_new(rate, rec_new(&l));
    dp_err err = {0};
    double t0 = now_s();
    assert_int_equal(dp_sink_write(t, p, 300 * 1024, &err), 0);
    assert_int_equal(dp_sink_write(t, p + 300 * 1024, n - 300 * 1024, &err), 0);
    assert_int_equal(dp_sink_commit(t, &err), 0);
    double el = now_s() - t0;
    double want = (double)n / (double)rate - 0.05;
    if (el < want - 0.01)
        fail_msg("400 KiB at 1 MiB/s took %.3f s, expected at least %.3f s", el, want);
    assert_true(el < want + 5.0);
    assert_int_equal(l.data.len, n);
    assert_memory_equal(l.data.data, p, n);
    assert_true(l.writes >= (int)(n / (rate / 20))); /* split into pieces of 50 ms worth */
    dp_sink_free(t);
    dp_buf_free(&l.data);
    free(p);

    /* rate 2: a byte per half second; 2 bytes take 1 s less the 50 ms allowance */
    rec_log l1 = {0};
    t = dp_filter_throttle_new(2, rec_new(&l1));
    t0 = now_s();
    assert_int_equal(dp_sink_write(t, "ab", 2, &err), 0);
    el = now_s() - t0;
    assert_true(el >= 0.94 && el < 6.0);
    assert_int_equal(l1.writes, 2);
    dp_sink_free(t);
    dp_buf_free(&l1.data);
}

/* Like the CLI: a signal handler sets dp_interrupted; a helper thread sends the signal later. */
static void on_usr1(int sig) { dp_interrupted = 1; }
static void *interrupt_later(void *arg)
{
    usleep(200000);
    pthread_kill(*(pthread_t *)arg, SIGUSR1);
    return NULL;
}

/* A throttle sleeping below an async stage: aborting the chain does not wait for the sleep, and an
 * interrupt stops a throttle sleeping in the caller's thread. */
static void test_throttle_cancel(void **state)
{
    rec_log l = {0};
    dp_sink *head = dp_filter_async_new(dp_filter_throttle_new(1, rec_new(&l)), 2, 10);
    dp_err err = {0};
    assert_int_equal(dp_sink_write(head, "0123456789", 10, &err), 0); /* 10 s of work at 1 B/s */
    usleep(200000);
    double t0 = now_s();
    dp_sink_free(head);
    assert_true(now_s() - t0 < 2.0);
    assert_true(l.data.len < 10);
    assert_aborted_once(&l);

    /* "a" at 1 B/s goes after 0.95 s; an interrupt 200 ms in stops the sleep */
    rec_log l2 = {0};
    dp_sink *t = dp_filter_throttle_new(1, rec_new(&l2));
    pthread_t th, self = pthread_self();
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;
    sigaction(SIGUSR1, &sa, NULL);
    assert_int_equal(pthread_create(&th, NULL, interrupt_later, &self), 0);
    t0 = now_s();
    assert_int_equal(dp_sink_write(t, "a", 1, &err), DUMPER_EINTR);
    double el = now_s() - t0;
    pthread_join(th, NULL);
    dp_interrupted = 0;
    assert_true(el >= 0.15 && el < 0.8);
    assert_int_equal(l2.data.len, 0);
    dp_sink_free(t);
    assert_int_equal(l2.aborts, 1);
    dp_buf_free(&l2.data);
}

/* ---- adaptive zstd level ---- */

/* A terminal that can be made slow while the test runs. */
typedef struct {
    dp_sink base;
    unsigned sleep_us;
    dp_buf *out;
} slow_sink;
static int slow_write(dp_sink *s, const void *p, size_t n, dp_err *err)
{
    slow_sink *w = (slow_sink *)s;
    if (w->sleep_us)
        usleep(w->sleep_us);
    return dp_buf_append(w->out, p, n) < 0 ? dp_err_set(err, DUMPER_ENOMEM, "out of memory") : 0;
}
static int slow_end(dp_sink *s, dp_err *err) { return 0; }
static const dp_sink_ops slow_ops = {.name = "slow", .write = slow_write, .end = slow_end};

/* Text that compresses about 3:1 and costs zstd real work. */
static unsigned char *text(size_t n)
{
    static const char *words[] = {"select", "order", "42", "customer", "late", "refund", "NULL", "3.14", "\n"};
    unsigned char *p = malloc(n);
    assert_non_null(p);
    for (size_t i = 0; i < n;) {
        if (next_rand() % 3 == 0) {
            char hex[17];
            snprintf(hex, sizeof hex, "%016llx", (unsigned long long)next_rand());
            for (size_t k = 0; k < 16 && i < n; k++)
                p[i++] = (unsigned char)hex[k];
        } else {
            const char *w = words[next_rand() % 9];
            for (size_t k = 0; w[k] && i < n; k++)
                p[i++] = (unsigned char)w[k];
        }
        if (i < n)
            p[i++] = ' ';
    }
    return p;
}

/* Feed `kib` KiB of `src` (len bytes, repeated from its start) in 256 KiB writes, sleeping `idle_us`
 * between writes; the same bytes are appended to `orig` afterwards (not while timing). */
static void feed(dp_sink *z, const unsigned char *src, size_t len, size_t kib, unsigned idle_us, dp_buf *orig)
{
    dp_err err = {0};
    size_t chunk = 256 * 1024;
    for (size_t off = 0; off < kib * 1024; off += chunk) {
        assert_int_equal(dp_sink_write(z, src + (off % len), chunk, &err), 0);
        if (idle_us)
            usleep(idle_us);
    }
    for (size_t off = 0; orig && off < kib * 1024; off += chunk)
        dp_buf_append(orig, src + (off % len), chunk);
}

static int64_t verdict3(int64_t wall, int64_t zstd, int64_t out) { return dp_zstd_adapt_verdict(wall, zstd, -1, out, -1); }
static int64_t verdict4(int64_t wall, int64_t zstd, int64_t cpu, int64_t out) { return dp_zstd_adapt_verdict(wall, zstd, cpu, out, -1); }
#define dp_zstd_adapt_verdict verdict3

/* Commit and free compressor z (writing into out), then decompress out: it must equal orig. */
static void commit_and_compare(dp_sink *z, dp_buf *out, const dp_buf *orig)
{
    dp_err err = {0};
    dp_buf back = {0};
    assert_int_equal(dp_sink_commit(z, &err), 0);
    dp_sink_free(z);
    dp_sink *d = dp_filter_decompress_new(DP_CODEC_ZSTD, dp_sink_buf_new(&back));
    assert_int_equal(dp_sink_write(d, out->data, out->len, &err), 0);
    assert_int_equal(dp_sink_commit(d, &err), 0);
    dp_sink_free(d);
    assert_int_equal(back.len, orig->len);
    assert_memory_equal(back.data, orig->data, orig->len);
    dp_buf_free(&back);
}

static void test_zstd_adapt_verdict(void **state)
{
    const int64_t ms = 1000000;
    /* idle under 10%: this stage sets the pace; zstd or the output, whichever takes longer, decides */
    assert_int_equal(dp_zstd_adapt_verdict(100 * ms, 95 * ms, 1 * ms), -1);
    assert_int_equal(dp_zstd_adapt_verdict(100 * ms, 50 * ms, 45 * ms), -1);
    assert_int_equal(dp_zstd_adapt_verdict(100 * ms, 45 * ms, 50 * ms), +1);
    assert_int_equal(dp_zstd_adapt_verdict(100 * ms, 5 * ms, 94 * ms), +1);
    assert_int_equal(dp_zstd_adapt_verdict(100 * ms, 91 * ms, 0), -1);     /* idle 9% */
    /* idle 10% or more: raise only when zstd could take twice as long */
    assert_int_equal(dp_zstd_adapt_verdict(100 * ms, 90 * ms, 0), 0);      /* idle 10% */
    assert_int_equal(dp_zstd_adapt_verdict(100 * ms, 50 * ms, 0), 0);      /* idle 50% = zstd */
    assert_int_equal(dp_zstd_adapt_verdict(100 * ms, 49 * ms, 0), +1);
    assert_int_equal(dp_zstd_adapt_verdict(100 * ms, 20 * ms, 30 * ms), +1);
    assert_int_equal(dp_zstd_adapt_verdict(100 * ms, 40 * ms, 40 * ms), 0);
    assert_int_equal(dp_zstd_adapt_verdict(100 * ms, 0, 0), +1);
    assert_int_equal(dp_zstd_adapt_verdict(0, 0, 0), 0); /* nothing measurable: keep */
#undef dp_zstd_adapt_verdict
#define dp_zstd_adapt_verdict verdict4
    /* CPU contention: zstd got the CPU for less than 80% of its wall time -> lower, whatever else */
    assert_int_equal(dp_zstd_adapt_verdict(100 * ms, 30 * ms, 23 * ms, 0), -1);  /* idle 70% */
    assert_int_equal(dp_zstd_adapt_verdict(100 * ms, 30 * ms, 24 * ms, 0), +1);  /* 80%: not contended */
    assert_int_equal(dp_zstd_adapt_verdict(100 * ms, 25 * ms, 10 * ms, 0), +1);  /* zstd 25%: too little to matter */
    assert_int_equal(dp_zstd_adapt_verdict(100 * ms, 26 * ms, 10 * ms, 0), -1);
    assert_int_equal(dp_zstd_adapt_verdict(100 * ms, 40 * ms, 31 * ms, 58 * ms), -1); /* output-bound */
    assert_int_equal(dp_zstd_adapt_verdict(100 * ms, 40 * ms, 32 * ms, 58 * ms), +1);
    assert_int_equal(dp_zstd_adapt_verdict(100 * ms, 95 * ms, 95 * ms, 1 * ms), -1); /* busy, uncontended */
    assert_int_equal(dp_zstd_adapt_verdict(100 * ms, 50 * ms, 50 * ms, 0), 0);
    assert_int_equal(dp_zstd_adapt_verdict(100 * ms, 50 * ms, -1, 0), 0); /* CPU not considered */
#undef dp_zstd_adapt_verdict
    /* Spare CPU: a raise needs at least as much idle CPU on the machine (all cores) as zstd took; a
     * lower or a keep does not depend on it */
    assert_int_equal(dp_zstd_adapt_verdict(100 * ms, 20 * ms, 20 * ms, 0, 20 * ms), +1); /* waits for the dump */
    assert_int_equal(dp_zstd_adapt_verdict(100 * ms, 20 * ms, 20 * ms, 0, 19 * ms), 0);  /* ... on busy cores */
    assert_int_equal(dp_zstd_adapt_verdict(100 * ms, 20 * ms, 20 * ms, 0, 0), -1); /* saturated: lower */
    assert_int_equal(dp_zstd_adapt_verdict(100 * ms, 20 * ms, 20 * ms, 0, -1), +1);      /* unknown: raise */
    assert_int_equal(dp_zstd_adapt_verdict(100 * ms, 5 * ms, 5 * ms, 94 * ms, 5 * ms), +1); /* output-bound */
    assert_int_equal(dp_zstd_adapt_verdict(100 * ms, 5 * ms, 5 * ms, 94 * ms, 4 * ms), 0);
    assert_int_equal(dp_zstd_adapt_verdict(100 * ms, 95 * ms, 95 * ms, 1 * ms, 0), -1);  /* busy: lower */
    assert_int_equal(dp_zstd_adapt_verdict(100 * ms, 95 * ms, 95 * ms, 1 * ms, 200 * ms), -1);
    assert_int_equal(dp_zstd_adapt_verdict(100 * ms, 30 * ms, 23 * ms, 0, 200 * ms), -1); /* contended */
    assert_int_equal(dp_zstd_adapt_verdict(100 * ms, 50 * ms, 50 * ms, 0, 200 * ms), 0);
    assert_int_equal(dp_zstd_adapt_verdict(100 * ms, 0, 0, 0, 0), +1); /* zstd took nothing: free */
    /* Saturated: under a quarter of zstd's time idle on the machine, zstd a tenth of the window or
     * more -> lower, even while waiting for the input */
    assert_int_equal(dp_zstd_adapt_verdict(100 * ms, 20 * ms, 20 * ms, 0, 4 * ms), -1);
    assert_int_equal(dp_zstd_adapt_verdict(100 * ms, 20 * ms, 20 * ms, 0, 5 * ms), 0);
    assert_int_equal(dp_zstd_adapt_verdict(100 * ms, 11 * ms, 11 * ms, 0, 0), -1);
    assert_int_equal(dp_zstd_adapt_verdict(100 * ms, 10 * ms, 10 * ms, 0, 0), 0); /* a tenth: too little */
    assert_int_equal(dp_zstd_adapt_verdict(100 * ms, 20 * ms, 20 * ms, 0, -1), +1); /* unknown */
}

/* Fixed verdicts: the level's moves without timing. */
static int lower(int64_t w, int64_t c, int64_t u, int64_t o, int64_t s) { return -1; }
static int raise_(int64_t w, int64_t c, int64_t u, int64_t o, int64_t s) { return +1; }
static int flip_state;
static int flip(int64_t w, int64_t c, int64_t u, int64_t o, int64_t s) { return (flip_state ^= 1) ? -1 : +1; }

/* A buffer with room for the whole test's output: appends never reallocate, which would count as
 * time in the sinks below. */
static dp_buf roomy(void)
{
    dp_buf b = {malloc(64u << 20), 0, 64u << 20};
    assert_non_null(b.data);
    return b;
}

/* The level moves one step per two equal verdicts, stays between its bounds, a fixed level never
 * moves; several frames at several levels decompress as one stream. Then real verdicts where they
 * are robust on a loaded machine and under valgrind: compression-bound (no idle, a fast output)
 * goes down; output-bound (100 ms per output write) goes up. */
static void test_zstd_adaptive(void **state)
{
    setenv("DUMPER_ZSTD_THREADS", "0", 1); /* the same on any number of cores */
    size_t len = 4u << 20;
    unsigned char *src = text(len + (256 * 1024));
    dp_buf out = roomy(), orig = {0};
    slow_sink *w = calloc(1, sizeof *w);
    assert_non_null(w);
    dp_sink_init(&w->base, &slow_ops, NULL);
    w->out = &out;
    dp_sink *z = dp_filter_compress_new(DP_CODEC_ZSTD, DP_LEVEL_ADAPT(1, 3), &w->base);
    assert_non_null(z);
    unsigned changes = 0;
    assert_int_equal(dp_filter_zstd_level(z, &changes), 3); /* starts at the best ratio asked for */
    dp_filter_zstd_adapt_config(z, 1u << 20, 0, lower);
    feed(z, src, len, 3 * 1024, 0, &orig); /* 3 windows: one step */
    assert_int_equal(dp_filter_zstd_level(z, &changes), 2);
    feed(z, src, len, 5 * 1024, 0, &orig); /* 8 windows: at the minimum, and no further */
    assert_int_equal(dp_filter_zstd_level(z, &changes), 1);
    assert_int_equal(changes, 2);
    dp_filter_zstd_adapt_config(z, 1u << 20, 0, flip); /* alternating verdicts never move it */
    feed(z, src, len, 6 * 1024, 0, &orig);
    assert_int_equal(dp_filter_zstd_level(z, &changes), 1);
    assert_int_equal(changes, 2);
    dp_filter_zstd_adapt_config(z, 1u << 20, 0, raise_);
    feed(z, src, len, 8 * 1024, 0, &orig); /* up to the maximum, and no further */
    assert_int_equal(dp_filter_zstd_level(z, &changes), 3);
    assert_int_equal(changes, 4);
    /* real verdicts: compression-bound, from 3: it goes down. With the CPU rules on: on a loaded
     * machine a preemption between two writes lands in "idle" (a 1 MiB window is a few ms of CPU,
     * about one time slice), so idle alone said "raise" there; zstd waiting for a CPU, or no spare
     * CPU in the machine, says "lower" whatever the idle share. */
    dp_filter_zstd_adapt_config(z, 1u << 20, 1, NULL);
    feed(z, src, len, 16 * 1024, 0, &orig);
    assert_true(dp_filter_zstd_level(z, NULL) < 3);
    /* forced to 1, then output-bound: up to 3 (that lower after the raises was a flap: a raise now
     * needs 4 windows in a row) */
    dp_filter_zstd_adapt_config(z, 1u << 20, 0, lower);
    feed(z, src, len, 4 * 1024, 0, &orig);
    assert_int_equal(dp_filter_zstd_level(z, NULL), 1);
    dp_filter_zstd_adapt_config(z, 1u << 20, 0, NULL);
    w->sleep_us = 100000;
    feed(z, src, len, 9 * 1024, 0, &orig);
    assert_int_equal(dp_filter_zstd_level(z, NULL), 3);
    commit_and_compare(z, &out, &orig);
    /* flaps: each lower right after a raise doubles the raise verdicts the next raise needs, up to 16 */
    z = dp_filter_compress_new(DP_CODEC_ZSTD, DP_LEVEL_ADAPT(1, 3), dp_sink_null_new());
    dp_filter_zstd_adapt_config(z, 1u << 20, 0, lower);
    feed(z, src, len, 4 * 1024, 0, NULL);
    assert_int_equal(dp_filter_zstd_level(z, NULL), 1); /* two lowers, no raise before: no flap */
    static const int need[] = {2, 4, 8, 16, 16};
    for (int i = 0; i < 5; i++) {
        dp_filter_zstd_adapt_config(z, 1u << 20, 0, raise_);
        feed(z, src, len, (size_t)(need[i] - 1) * 1024, 0, NULL);
        assert_int_equal(dp_filter_zstd_level(z, NULL), 1); /* one window short */
        feed(z, src, len, 1024, 0, NULL);
        assert_int_equal(dp_filter_zstd_level(z, NULL), 2);
        dp_filter_zstd_adapt_config(z, 1u << 20, 0, lower);
        feed(z, src, len, 2 * 1024, 0, NULL); /* a lower needs 2, whatever the flaps */
        assert_int_equal(dp_filter_zstd_level(z, NULL), 1);
    }
    dp_sink_free(z);
    /* a fixed level never changes, whatever the verdicts */
    z = dp_filter_compress_new(DP_CODEC_ZSTD, 3, dp_sink_null_new());
    dp_filter_zstd_adapt_config(z, 1u << 20, 0, lower);
    feed(z, src, len, 6 * 1024, 0, NULL);
    assert_int_equal(dp_filter_zstd_level(z, &changes), 3);
    assert_int_equal(changes, 0);
    dp_sink_free(z);
    /* gzip has no adaptive level; other sinks have no zstd level */
    dp_sink *n = dp_sink_null_new();
    assert_null(dp_filter_compress_new(DP_CODEC_GZIP, DP_LEVEL_ADAPT(1, 3), n));
    assert_int_equal(dp_filter_zstd_level(n, NULL), -1);
    dp_sink_free(n);
    /* the default is adaptive between 1 and 3 */
    z = dp_filter_compress_new(DP_CODEC_ZSTD, 0, dp_sink_null_new());
    assert_int_equal(dp_filter_zstd_level(z, NULL), DP_ZSTD_ADAPT_MAX);
    dp_filter_zstd_adapt_config(z, 1u << 20, 0, lower);
    feed(z, src, len, 8 * 1024, 0, NULL);
    assert_int_equal(dp_filter_zstd_level(z, NULL), DP_ZSTD_ADAPT_MIN);
    dp_sink_free(z);
    dp_buf_free(&out);
    dp_buf_free(&orig);
    free(src);
}

/* zstd's worker threads (DUMPER_ZSTD_THREADS; by default on 3+ cores) with the adaptive level: level
 * changes end frames while jobs are in flight, and the frames decompress equal. */
static void test_zstd_threads(void **state)
{
    setenv("DUMPER_ZSTD_THREADS", "2", 1);
    size_t len = 4u << 20;
    unsigned char *src = text(len + (256 * 1024));
    dp_buf out = roomy(), orig = {0};
    dp_sink *z = dp_filter_compress_new(DP_CODEC_ZSTD, DP_LEVEL_ADAPT(1, 3), dp_sink_buf_new(&out));
    assert_non_null(z);
    dp_filter_zstd_adapt_config(z, 1u << 20, 0, lower);
    feed(z, src, len, 6 * 1024, 0, &orig);
    assert_int_equal(dp_filter_zstd_level(z, NULL), 1);
    dp_filter_zstd_adapt_config(z, 1u << 20, 0, raise_);
    feed(z, src, len, 6 * 1024, 0, &orig);
    assert_int_equal(dp_filter_zstd_level(z, NULL), 3);
    commit_and_compare(z, &out, &orig);
    dp_buf_free(&out);
    dp_buf_free(&orig);
    free(src);
    unsetenv("DUMPER_ZSTD_THREADS");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_async_bytes_and_order),
        cmocka_unit_test(test_async_default_ring_large),
        cmocka_unit_test(test_async_downstream_write_error),
        cmocka_unit_test(test_async_end_and_commit_errors),
        cmocka_unit_test(test_async_abort_from_producer),
        cmocka_unit_test(test_async_interrupted),
        cmocka_unit_test(test_async_stages_errors),
        cmocka_unit_test(test_async_with_compression),
        cmocka_unit_test(test_async_bad_args),
        cmocka_unit_test(test_parse_rate),
        cmocka_unit_test(test_throttle_pace),
        cmocka_unit_test(test_throttle_cancel),
        cmocka_unit_test(test_zstd_adapt_verdict),
        cmocka_unit_test(test_zstd_adaptive),
        cmocka_unit_test(test_zstd_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
