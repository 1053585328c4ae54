/* test_service_deliver.c - notification delivery (server/service/deliver.c) against a loopback HTTP server:
 * the JSON body and content type arrive, a 5xx is retried up to the attempts given (and only then), a 4xx is
 * not, a refused connection is, the stop flag ends a delivery at once, and each failure is one line. */
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

#include "core/util.h"
#include "service/deliver.h"

/* A server answering its connections with statuses[0], statuses[1], ... (one request per connection). */
typedef struct {
    int lfd, port;
    int statuses[4], n;
    int requests;
    char last[4096];
    pthread_t t;
} srv;

static void *serve(void *arg)
{
    srv *s = arg;
    for (int i = 0; i < s->n; i++) {
        int c = accept(s->lfd, NULL, NULL);
        if (c < 0)
            return NULL;
        size_t got = 0;
        memset(s->last, 0, sizeof s->last);
        while (got < sizeof s->last - 1) { /* the head and a small body */
            ssize_t k = recv(c, s->last + got, sizeof s->last - 1 - got, 0);
            if (k <= 0)
                break;
            got += (size_t)k;
            char *h = strstr(s->last, "\r\n\r\n");
            char *cl = strcasestr(s->last, "Content-Length: ");
            if (h && cl && got >= (size_t)(h + 4 - s->last) + (size_t)strtol(cl + 16, NULL, 10))
                break;
        }
        s->requests++;
        char head[128];
        int hl = snprintf(head, sizeof head, "HTTP/1.1 %d X\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
                          s->statuses[i]);
        send(c, head, (size_t)hl, MSG_NOSIGNAL);
        close(c);
    }
    return NULL;
}

static void start(srv *s)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    s->lfd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(s->lfd >= 0);
    assert_int_equal(bind(s->lfd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(s->lfd, 8), 0);
    assert_int_equal(getsockname(s->lfd, (struct sockaddr *)&a, &al), 0);
    s->port = ntohs(a.sin_port);
    assert_int_equal(pthread_create(&s->t, NULL, serve, s), 0);
}

static void stop(srv *s)
{
    shutdown(s->lfd, SHUT_RDWR);
    pthread_join(s->t, NULL);
    close(s->lfd);
}

static int deliver(srv *s, int attempts, char *why)
{
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/hook", s->port);
    sd_deliver_opts o = {.timeout_s = 5, .attempts = attempts, .backoff_ms = 10};
    return sd_deliver_json(url, "{\"event\":\"backup_failed\"}", &o, why, 200);
}

static void test_retried_5xx(void **state)
{
    srv s = {.statuses = {500, 204}, .n = 2};
    char why[200] = "";
    start(&s);
    assert_int_equal(deliver(&s, 3, why), 0);
    stop(&s);
    assert_int_equal(s.requests, 2);
    assert_non_null(strstr(s.last, "POST /hook HTTP/1.1"));
    assert_non_null(strcasestr(s.last, "Content-Type: application/json"));
    assert_non_null(strstr(s.last, "\r\n\r\n{\"event\":\"backup_failed\"}"));
}

static void test_attempts_spent(void **state)
{
    srv s = {.statuses = {503, 502}, .n = 2};
    char why[200] = "";
    start(&s);
    assert_int_equal(deliver(&s, 2, why), -1);
    stop(&s);
    assert_int_equal(s.requests, 2);
    assert_string_equal(why, "HTTP 502");
    srv one = {.statuses = {500}, .n = 1};
    start(&one);
    assert_int_equal(deliver(&one, 1, why), -1); /* one attempt: no retry */
    stop(&one);
    assert_int_equal(one.requests, 1);
    assert_string_equal(why, "HTTP 500");
}

static void test_4xx_not_retried(void **state)
{
    srv s = {.statuses = {404, 204}, .n = 2};
    char why[200] = "";
    start(&s);
    assert_int_equal(deliver(&s, 3, why), -1);
    assert_string_equal(why, "HTTP 404");
    assert_int_equal(s.requests, 1);
    assert_int_equal(deliver(&s, 1, why), 0); /* consume the second answer */
    stop(&s);
}

static void test_refused_and_stopped(void **state)
{
    srv s = {.n = 0};
    char why[200] = "";
    start(&s);
    stop(&s); /* the port is closed now */
    int64_t t0 = dp_mono_ms();
    assert_int_equal(deliver(&s, 3, why), -1);
    assert_true(dp_mono_ms() - t0 >= 30); /* two waits: 10 + 20 ms */
    assert_non_null(strstr(why, "onnect"));
    atomic_int stop_now = 1;
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/hook", s.port);
    sd_deliver_opts o = {.attempts = 5, .backoff_ms = 10000, .stop = &stop_now};
    t0 = dp_mono_ms();
    assert_int_equal(sd_deliver_json(url, "{}", &o, why, sizeof why), -1);
    assert_true(dp_mono_ms() - t0 < 2000); /* no 10 s wait */
    assert_int_equal(sd_deliver_json("ftp://127.0.0.1/x", "{}", NULL, why, sizeof why), -1); /* http(s) only */
    assert_true(strlen(why) > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_retried_5xx), cmocka_unit_test(test_attempts_spent),
                                       cmocka_unit_test(test_4xx_not_retried),
                                       cmocka_unit_test(test_refused_and_stopped)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
