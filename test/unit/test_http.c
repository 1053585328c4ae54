/*
 * test_http.c - lib/http (the one HTTP client) and core/stop (the one sleep) against a loopback
 * server: how much of an answer's body is kept, the retry policy (backoff, what is retried, a
 * request named afresh per attempt), a stop request ending a hanging request and a sleep at once.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/stop.h"
#include "http/http.h"

#define MAX_CONNS 8

/* A loopback server answering one request per connection: statuses[i] for the i-th (0: accept,
 * read the request and never answer, until the test closes it), with `len` bytes of 'a'. */
typedef struct {
    int lfd;
    int port;
    int statuses[MAX_CONNS];
    int nconns;
    size_t len;
    char reqs[MAX_CONNS][4096]; /* each request's head and body (truncated) */
    int served;
    int hang_fd;
    pthread_t t;
} srv;

static void *serve(void *arg)
{
    srv *s = arg;
    for (int i = 0; i < s->nconns; i++) {
        int c = accept(s->lfd, NULL, NULL);
        if (c < 0)
            return NULL;
        char *req = s->reqs[i];
        size_t got = 0;
        /* read until the head and a body of Content-Length (bodies here are small) */
        for (;;) {
            ssize_t n = recv(c, req + got, 4095 - got, 0);
            if (n <= 0)
                break;
            got += (size_t)n;
            req[got] = 0;
            char *end = strstr(req, "\r\n\r\n");
            const char *cl = strcasestr(req, "content-length:");
            if (end && (!cl || cl > end || got - (size_t)(end + 4 - req) >= (size_t)strtoul(cl + 15, NULL, 10)))
                break;
            if (got >= 4095)
                break;
        }
        s->served = i + 1;
        if (!s->statuses[i]) {
            s->hang_fd = c; /* never answered; the test closes it */
            continue;
        }
        char head[160];
        int hl = snprintf(head, sizeof head, "HTTP/1.1 %d X\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
                          s->statuses[i], s->len);
        send(c, head, (size_t)hl, MSG_NOSIGNAL);
        char *body = malloc(65536);
        memset(body, 'a', 65536);
        for (size_t sent = 0; sent < s->len;) {
            size_t k = s->len - sent < 65536 ? s->len - sent : 65536;
            ssize_t n = send(c, body, k, MSG_NOSIGNAL);
            if (n <= 0)
                break; /* the client gave up */
            sent += (size_t)n;
        }
        free(body);
        close(c);
    }
    return NULL;
}

static void srv_start(srv *s)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    s->hang_fd = -1;
    s->lfd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(s->lfd >= 0);
    assert_int_equal(bind(s->lfd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(s->lfd, MAX_CONNS), 0);
    assert_int_equal(getsockname(s->lfd, (struct sockaddr *)&a, &al), 0);
    s->port = ntohs(a.sin_port);
    assert_int_equal(pthread_create(&s->t, NULL, serve, s), 0);
}

static void srv_stop(srv *s)
{
    pthread_join(s->t, NULL);
    if (s->hang_fd >= 0)
        close(s->hang_fd);
    close(s->lfd);
}

/* GET an answer of `status` with `len` body bytes; returns dp_http_perform's code. */
static int fetch(int status, size_t len, dp_http_resp *resp, dp_err *err)
{
    srv s = {.statuses = {status}, .nconns = 1, .len = len};
    srv_start(&s);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/x", s.port);
    dp_http_opts o = {.max_attempts = 1};
    dp_http *h = dp_http_new(&o);
    assert_non_null(h);
    dp_http_req req = {.method = "GET", .url = url};
    int rc = dp_http_perform(h, &req, resp, "fetching x", err);
    dp_http_free(h);
    srv_stop(&s);
    return rc;
}

/* A successful answer is never cut short silently (an S3 listing over 1 MiB lost its tail). */
static void test_ok_body_whole(void **state)
{
    (void)state;
    dp_http_resp r = {0};
    dp_err err = {0};
    size_t len = 3u << 20;
    assert_int_equal(fetch(200, len, &r, &err), 0);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.body.len, len);
    assert_int_equal(r.body.data[len - 1], 'a');
    dp_http_resp_free(&r);
}

/* Past the limit for a successful answer: an error that says so, not a prefix. */
static void test_ok_body_too_large(void **state)
{
    (void)state;
    dp_http_resp r = {0};
    dp_err err = {0};
    assert_int_equal(fetch(200, (16u << 20) + 1, &r, &err), DUMPER_EPROTO);
    assert_non_null(strstr(err.msg, "fetching x: the answer is over 16 MiB"));
    dp_http_resp_free(&r);
}

/* An error answer keeps its head (enough for an error document); the transfer itself succeeds. */
static void test_error_body_head(void **state)
{
    (void)state;
    dp_http_resp r = {0};
    dp_err err = {0};
    assert_int_equal(fetch(500, 3u << 20, &r, &err), 0);
    assert_int_equal(r.status, 500);
    assert_int_equal(r.body.len, 1u << 20);
    dp_http_resp_free(&r);
}

/* A handle's own limit (the agent's 64 KiB): a larger answer is refused, an error's head kept. */
static void test_handle_max_body(void **state)
{
    (void)state;
    srv s = {.statuses = {200, 503}, .nconns = 2, .len = 65537};
    srv_start(&s);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/api", s.port);
    dp_http_opts o = {.max_attempts = 1, .max_body = 64 * 1024};
    dp_http *h = dp_http_new(&o);
    dp_http_req req = {.method = "GET", .url = url};
    dp_http_resp r = {0};
    dp_err err = {0};
    assert_int_equal(dp_http_perform(h, &req, &r, "asking", &err), DUMPER_EPROTO);
    assert_string_equal(err.msg, "asking: the answer is over 64 KiB");
    dp_err_clear(&err);
    assert_int_equal(dp_http_perform(h, &req, &r, "asking", &err), 0);
    assert_int_equal(r.status, 503);
    assert_int_equal(r.body.len, 64 * 1024);
    dp_http_resp_free(&r);
    dp_http_free(h);
    srv_stop(&s);
}

/* The one backoff: doubling, capped, equal jitter (never at once), no overflow. */
static void test_backoff(void **state)
{
    (void)state;
    /* attempt 0: [500, 1000]; doubles; capped; jitter only in [d/2, d] */
    assert_int_equal(dp_backoff_ms(0, 1000, 300000, 0), 500);
    assert_int_equal(dp_backoff_ms(0, 1000, 300000, 500), 1000);
    assert_int_equal(dp_backoff_ms(0, 1000, 300000, 501), 500);
    assert_int_equal(dp_backoff_ms(3, 1000, 300000, 0), 4000);
    assert_int_equal(dp_backoff_ms(3, 1000, 300000, 4000), 8000);
    assert_int_equal(dp_backoff_ms(2, 200, 10000, 0), 400);
    assert_int_equal(dp_backoff_ms(60, 200, 10000, 0), 5000); /* capped window */
    for (unsigned a = 0; a < 100; a++)
        for (uint32_t r = 0; r < 2000000000u; r += 99999989u) {
            uint64_t d = dp_backoff_ms(a, 1000, 300000, r);
            assert_true(d >= 500 && d <= 300000);
            if (a >= 9)
                assert_true(d >= 150000);
        }
    /* huge attempt counts never overflow */
    assert_true(dp_backoff_ms(1000000, 1000, 300000, 12345) <= 300000);
    assert_int_equal(dp_backoff_ms(0, 0, 0, 0), 0);
}

static void test_retryable(void **state)
{
    (void)state;
    assert_true(dp_http_retryable(DUMPER_ETIMEOUT, 0));
    assert_true(dp_http_retryable(DUMPER_EIO, 0));
    assert_true(dp_http_retryable(DUMPER_ECONNECT, 0));
    assert_true(dp_http_retryable(0, 503));
    assert_true(dp_http_retryable(0, 500));
    assert_true(dp_http_retryable(0, 429));
    assert_true(dp_http_retryable(0, 408));
    assert_false(dp_http_retryable(0, 403));
    assert_false(dp_http_retryable(0, 404));
    assert_false(dp_http_retryable(0, 413));
    assert_false(dp_http_retryable(0, 200));
    assert_false(dp_http_retryable(DUMPER_EAUTH, 0));
    assert_false(dp_http_retryable(DUMPER_EINTR, 0));
    assert_false(dp_http_retryable(DUMPER_EPROTO, 0));
}

/* dp_http_post_json: a 503 is retried, the JSON body and the extra header arrive every time. */
static void test_post_json_retried(void **state)
{
    (void)state;
    srv s = {.statuses = {503, 200}, .nconns = 2, .len = 2};
    srv_start(&s);
    char url[80];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/hook?token=secret", s.port);
    dp_http_opts o = {.backoff_base_ms = 10, .backoff_max_ms = 20};
    dp_http *h = dp_http_new(&o);
    const char *hdrs[] = {"X-Extra: yes", NULL};
    long status = 0;
    dp_err err = {0};
    assert_int_equal(dp_http_post_json(h, url, "{\"a\":1}", hdrs, 5000, 3, &status, &err), 0);
    assert_int_equal(status, 200);
    assert_int_equal(s.served, 2);
    for (int i = 0; i < 2; i++) {
        assert_non_null(strstr(s.reqs[i], "POST /hook?token=secret HTTP/1.1\r\n"));
        assert_non_null(strcasestr(s.reqs[i], "\r\nContent-Type: application/json\r\n"));
        assert_non_null(strstr(s.reqs[i], "\r\nX-Extra: yes\r\n"));
        assert_null(strcasestr(s.reqs[i], "Expect:"));
        assert_non_null(strstr(s.reqs[i], "\r\n\r\n{\"a\":1}"));
    }
    dp_http_free(h);
    srv_stop(&s);
}

/* Attempts used up: the last answer comes back for the caller to judge; a 4xx is not retried. */
static void test_attempts_used_up(void **state)
{
    (void)state;
    srv s = {.statuses = {500, 500, 404}, .nconns = 3, .len = 0};
    srv_start(&s);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/x", s.port);
    long status = 0;
    dp_err err = {0};
    dp_http_opts o = {.backoff_base_ms = 1, .backoff_max_ms = 2};
    dp_http *h = dp_http_new(&o);
    assert_int_equal(dp_http_post_json(h, url, "{}", NULL, 0, 2, &status, &err), 0);
    assert_int_equal(status, 500);
    assert_int_equal(s.served, 2);
    assert_int_equal(dp_http_post_json(h, url, "{}", NULL, 0, 5, &status, &err), 0);
    assert_int_equal(status, 404);
    assert_int_equal(s.served, 3);
    dp_http_free(h);
    srv_stop(&s);
    /* nothing listens any more: a transport error, named by the URL's origin alone (a webhook
     * URL keeps its secret in the path or the query) */
    snprintf(url, sizeof url, "http://u:pw@127.0.0.1:%d/hook/T0/s3cr3t?sig=s3cr3t", s.port);
    assert_int_equal(dp_http_post_json(NULL, url, "{}", NULL, 0, 1, &status, &err), DUMPER_ECONNECT);
    assert_int_equal(status, 0);
    assert_null(strstr(err.msg, "s3cr3t"));
    assert_null(strstr(err.msg, "pw"));
    char want[64];
    snprintf(want, sizeof want, "http://127.0.0.1:%d: ", s.port);
    if (strncmp(err.msg, want, strlen(want)) != 0)
        fail_msg("%s", err.msg);
}

/* prepare runs before every attempt: a retry can be signed or presigned afresh. */
typedef struct {
    int calls;
    char url[2][64];
} renamer;

static int rename_url(void *ctx, dp_http_req *req, dp_err *err)
{
    renamer *r = ctx;
    req->url = r->url[r->calls++ ? 1 : 0];
    return 0;
}

static void test_prepare_per_attempt(void **state)
{
    (void)state;
    srv s = {.statuses = {200}, .nconns = 1, .len = 0};
    srv_start(&s);
    renamer r = {0};
    snprintf(r.url[0], sizeof r.url[0], "http://127.0.0.1:1/first"); /* refused */
    snprintf(r.url[1], sizeof r.url[1], "http://127.0.0.1:%d/second", s.port);
    dp_http_opts o = {.backoff_base_ms = 1, .backoff_max_ms = 2};
    dp_http *h = dp_http_new(&o);
    dp_http_req req = {.method = "PUT", .body = "part", .body_len = 4};
    dp_http_resp resp = {0};
    dp_err err = {0};
    assert_int_equal(dp_http_do(h, &req, rename_url, &r, &resp, "part 1", &err), 0);
    assert_int_equal(resp.status, 200);
    assert_int_equal(resp.attempts, 2);
    assert_int_equal(r.calls, 2);
    assert_non_null(strstr(s.reqs[0], "PUT /second HTTP/1.1\r\n"));
    assert_non_null(strstr(s.reqs[0], "\r\nContent-Length: 4\r\n"));
    dp_http_resp_free(&resp);
    dp_http_free(h);
    srv_stop(&s);
}

/* A request to a server that accepts and never answers, stopped from another thread. */
typedef struct {
    dp_stop stop;
    int port;       /* the hanging server's */
    int delay_ms;   /* stop_later: when to request the stop */
    int cloexec, plain; /* probe_then_stop: the client's connections by close-on-exec flag */
} hang;

static void *stop_later(void *arg)
{
    hang *c = arg;
    struct timespec ts = {0, c->delay_ms * 1000000L};
    nanosleep(&ts, NULL);
    dp_stop_request(&c->stop);
    return NULL;
}

/* Runs one request against a hanging server while `fn` runs in a thread; fn must request the
 * stop. Returns the request's code; *took_ms how long it took. */
static int hanging_request(hang *c, void *(*fn)(void *), dp_err *err, int64_t *took_ms)
{
    srv s = {.statuses = {0}, .nconns = 1};
    srv_start(&s);
    c->port = s.port;
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/hang", s.port);
    dp_http_opts o = {.stop = &c->stop};
    dp_http *h = dp_http_new(&o);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, fn, c), 0);
    int64_t t0 = dp_mono_ms();
    dp_http_req req = {.method = "POST", .url = url, .body = "{}", .body_len = 2};
    dp_http_resp resp = {0};
    int rc = dp_http_do(h, &req, NULL, NULL, &resp, "polling", err);
    *took_ms = dp_mono_ms() - t0;
    pthread_join(t, NULL);
    dp_http_resp_free(&resp);
    dp_http_free(h);
    srv_stop(&s);
    return rc;
}

/* A request to a server that never answers ends within ~100 ms of the stop request. */
static void test_stop_aborts_request(void **state)
{
    (void)state;
    hang c = {.delay_ms = 200};
    dp_stop_init(&c.stop, 0);
    dp_err err = {0};
    int64_t took = 0;
    assert_int_equal(hanging_request(&c, stop_later, &err, &took), DUMPER_EINTR);
    assert_true(took >= 190 && took < 1000);
    assert_string_equal(err.msg, "polling: aborted");
    dp_stop_destroy(&c.stop);
}

/* While the request hangs, find the client's connection to the test server among this process's
 * sockets and look at its close-on-exec flag, then stop the request. (libcurl 7.88 itself opens the
 * wake-up socketpair of its multi handle without close-on-exec; that pair is libcurl's, not a
 * connection, and newer libcurl versions mark it.) */
static void *probe_then_stop(void *arg)
{
    hang *c = arg;
    struct timespec ts = {0, 300 * 1000000L};
    nanosleep(&ts, NULL);
    for (int fd = 3; fd < 1024; fd++) {
        struct sockaddr_in peer;
        socklen_t pl = sizeof peer;
        if (getpeername(fd, (struct sockaddr *)&peer, &pl) != 0 || peer.sin_family != AF_INET ||
            ntohs(peer.sin_port) != c->port)
            continue;
        if (fcntl(fd, F_GETFD) & FD_CLOEXEC)
            c->cloexec++;
        else
            c->plain++;
    }
    dp_stop_request(&c->stop);
    return NULL;
}

/* Sockets are close-on-exec: a host that execs something later leaks no connection of ours. */
static void test_socket_cloexec(void **state)
{
    (void)state;
    hang c = {0};
    dp_stop_init(&c.stop, 0);
    dp_err err = {0};
    int64_t took = 0;
    assert_int_equal(hanging_request(&c, probe_then_stop, &err, &took), DUMPER_EINTR);
    assert_int_equal(c.cloexec, 1);
    assert_int_equal(c.plain, 0);
    dp_stop_destroy(&c.stop);
}

/* The one sleep: ends at once on a stop request, else sleeps its time; an interruptible stop (or
 * none) also ends on dp_interrupted, a plain one does not. */
static void test_sleep(void **state)
{
    (void)state;
    dp_stop stop;
    dp_stop_init(&stop, 0);
    int64_t t0 = dp_mono_ms();
    assert_int_equal(dp_sleep_ms(60, &stop), 0);
    assert_true(dp_mono_ms() - t0 >= 60);
    hang c = {.delay_ms = 100};
    dp_stop_init(&c.stop, 0);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, stop_later, &c), 0);
    t0 = dp_mono_ms();
    assert_int_equal(dp_sleep_ms(20000, &c.stop), 1);
    assert_true(dp_mono_ms() - t0 < 2000);
    pthread_join(t, NULL);
    assert_int_equal(dp_sleep_ms(20000, &c.stop), 1); /* still requested */
    dp_stop_clear(&c.stop);
    assert_false(dp_stop_requested(&c.stop));
    dp_stop_destroy(&c.stop);

    dp_interrupted = 1;
    assert_false(dp_stop_requested(&stop)); /* the agent's stop: signals are not its business */
    t0 = dp_mono_ms();
    assert_int_equal(dp_sleep_ms(150, &stop), 0);
    assert_true(dp_mono_ms() - t0 >= 150);
    dp_stop intr;
    dp_stop_init(&intr, 1);
    assert_true(dp_stop_requested(&intr));
    assert_int_equal(dp_sleep_ms(20000, &intr), 1);
    assert_int_equal(dp_sleep_ms(20000, NULL), 1);
    dp_interrupted = 0;
    assert_int_equal(dp_sleep_ms(1, NULL), 0);
    dp_stop_destroy(&intr);
    dp_stop_destroy(&stop);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ok_body_whole),      cmocka_unit_test(test_ok_body_too_large),
        cmocka_unit_test(test_error_body_head),    cmocka_unit_test(test_handle_max_body),
        cmocka_unit_test(test_backoff),            cmocka_unit_test(test_retryable),
        cmocka_unit_test(test_post_json_retried),  cmocka_unit_test(test_attempts_used_up),
        cmocka_unit_test(test_prepare_per_attempt), cmocka_unit_test(test_stop_aborts_request),
        cmocka_unit_test(test_sleep),              cmocka_unit_test(test_socket_cloexec),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
