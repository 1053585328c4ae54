/* test_http.c - lib/http against a loopback server: how much of an answer's body is kept. */
#include <arpa/inet.h>
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

#include "http/http.h"

typedef struct {
    int lfd;
    int status;
    size_t len;
} srv;

/* One connection: read the request head, answer `status` with `len` bytes of 'a'. */
static void *serve_one(void *arg)
{
    srv *s = arg;
    int c = accept(s->lfd, NULL, NULL);
    if (c < 0)
        return NULL;
    char req[8192];
    size_t got = 0;
    while (got < sizeof req - 1) {
        ssize_t n = recv(c, req + got, sizeof req - 1 - got, 0);
        if (n <= 0)
            break;
        got += (size_t)n;
        req[got] = 0;
        if (strstr(req, "\r\n\r\n"))
            break;
    }
    char head[128];
    int hl = snprintf(head, sizeof head, "HTTP/1.1 %d X\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n", s->status,
                      s->len);
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
    return NULL;
}

/* GET an answer of `status` with `len` body bytes; returns dp_http_perform's code. */
static int fetch(int status, size_t len, dp_http_resp *resp, dp_err *err)
{
    srv s = {.status = status, .len = len};
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    s.lfd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(s.lfd >= 0);
    assert_int_equal(bind(s.lfd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(s.lfd, 1), 0);
    assert_int_equal(getsockname(s.lfd, (struct sockaddr *)&a, &al), 0);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, serve_one, &s), 0);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/x", ntohs(a.sin_port));
    dp_http_opts o = {.max_attempts = 1};
    dp_http *h = dp_http_new(&o);
    assert_non_null(h);
    dp_http_req req = {.method = "GET", .url = url};
    int rc = dp_http_perform(h, &req, resp, "fetching x", err);
    dp_http_free(h);
    pthread_join(t, NULL);
    close(s.lfd);
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ok_body_whole),
        cmocka_unit_test(test_ok_body_too_large),
        cmocka_unit_test(test_error_body_head),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
