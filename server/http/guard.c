/* guard.c - the request header deadline (see guard.h). */
#include "http/guard.h"

#include <pthread.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>

#include "core/log.h"
#include "core/util.h"

typedef struct conn {
    struct conn *prev, *next;
    int fd;
    int64_t deadline; /* monotonic ms; 0: headers complete, no deadline */
} conn;

struct sd_guard {
    pthread_mutex_t lock; /* the list, every conn's deadline */
    pthread_cond_t wake;
    pthread_t reaper;
    conn *head;
    int64_t timeout_ms;
    int stopping;
    uint64_t reaped;
};

static void *reaper_main(void *arg)
{
    sd_guard *g = arg;
    pthread_mutex_lock(&g->lock);
    while (!g->stopping) {
        int64_t now = dp_mono_ms();
        int n = 0;
        for (conn *k = g->head; k; k = k->next) {
            int unread = 0;
            /* Bytes waiting in the socket: the client sent them and this server has not read them yet (its
             * thread is busy with another request), so the delay is ours: wait for the thread. */
            if (!k->deadline || now < k->deadline || (ioctl(k->fd, FIONREAD, &unread) == 0 && unread > 0))
                continue;
            /* libmicrohttpd sees the end of the stream and closes the connection in its own thread. */
            shutdown(k->fd, SHUT_RDWR);
            k->deadline = 0;
            n++;
        }
        g->reaped += (uint64_t)n;
        if (n)
            dp_warn("closed %d connection(s) whose request headers did not arrive within %lld ms", n,
                    (long long)g->timeout_ms);
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 250000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&g->wake, &g->lock, &ts);
    }
    pthread_mutex_unlock(&g->lock);
    return NULL;
}

sd_guard *sd_guard_start(int64_t header_timeout_ms)
{
    sd_guard *g = calloc(1, sizeof *g);
    if (!g)
        return NULL;
    g->timeout_ms = header_timeout_ms;
    pthread_mutex_init(&g->lock, NULL);
    pthread_cond_init(&g->wake, NULL);
    if (pthread_create(&g->reaper, NULL, reaper_main, g)) {
        pthread_cond_destroy(&g->wake);
        pthread_mutex_destroy(&g->lock);
        free(g);
        return NULL;
    }
    return g;
}

void sd_guard_notify(void *cls, struct MHD_Connection *c, void **socket_context,
                     enum MHD_ConnectionNotificationCode code)
{
    sd_guard *g = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *i = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        conn *k = i ? calloc(1, sizeof *k) : NULL;
        if (!k) /* no deadline for this one: libmicrohttpd's idle timeout still applies */
            return;
        k->fd = i->connect_fd;
        pthread_mutex_lock(&g->lock);
        k->deadline = dp_mono_ms() + g->timeout_ms;
        k->next = g->head;
        if (g->head)
            g->head->prev = k;
        g->head = k;
        pthread_mutex_unlock(&g->lock);
        *socket_context = k;
        return;
    }
    conn *k = *socket_context;
    if (!k)
        return;
    pthread_mutex_lock(&g->lock);
    if (k->prev)
        k->prev->next = k->next;
    else
        g->head = k->next;
    if (k->next)
        k->next->prev = k->prev;
    pthread_mutex_unlock(&g->lock);
    free(k);
    *socket_context = NULL;
}

static conn *conn_of(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *i = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return i ? i->socket_context : NULL;
}

void sd_guard_headers(sd_guard *g, struct MHD_Connection *c)
{
    conn *k = conn_of(c);
    if (!k)
        return;
    pthread_mutex_lock(&g->lock);
    k->deadline = 0;
    pthread_mutex_unlock(&g->lock);
}

void sd_guard_request_done(sd_guard *g, struct MHD_Connection *c)
{
    conn *k = conn_of(c);
    if (!k)
        return;
    pthread_mutex_lock(&g->lock);
    k->deadline = dp_mono_ms() + g->timeout_ms;
    pthread_mutex_unlock(&g->lock);
}

uint64_t sd_guard_reaped(sd_guard *g)
{
    pthread_mutex_lock(&g->lock);
    uint64_t n = g->reaped;
    pthread_mutex_unlock(&g->lock);
    return n;
}

void sd_guard_stop(sd_guard *g)
{
    if (!g)
        return;
    pthread_mutex_lock(&g->lock);
    g->stopping = 1;
    pthread_cond_signal(&g->wake);
    pthread_mutex_unlock(&g->lock);
    pthread_join(g->reaper, NULL);
    pthread_cond_destroy(&g->wake);
    pthread_mutex_destroy(&g->lock);
    free(g);
}
