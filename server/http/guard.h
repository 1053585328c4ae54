/*
 * guard.h - what protects dumperd's listener from hostile clients, beyond libmicrohttpd's own limits (a total
 * and a per-address connection limit, set in server.c): a deadline for request headers. libmicrohttpd's
 * connection timeout is an idle timeout, so a client that sends one header byte every few seconds
 * (slowloris) would hold its connection forever; the guard gives every connection a fixed time from its
 * accept (or from the end of its previous request, on a kept-alive connection) until its request headers
 * are complete, and shuts down the socket of a connection that misses it, unless bytes the client sent wait
 * unread in the socket (then the server is late, a thread busy with another request, not the client).
 *
 * Threads: the notify callback and sd_guard_headers/sd_guard_request_done run in libmicrohttpd's threads;
 * one reaper thread of the guard's own checks the deadlines four times a second. A socket is shut down only
 * under the guard's lock, and libmicrohttpd reports a connection closed (removing it from the guard under
 * that lock) before it closes the descriptor, so the reaper never touches a descriptor reused by another
 * connection.
 */
#ifndef SD_HTTP_GUARD_H
#define SD_HTTP_GUARD_H

#include <stdint.h>

#include <microhttpd.h>

typedef struct sd_guard sd_guard;

/* A guard with this header deadline (ms); starts the reaper. NULL when out of resources. */
sd_guard *sd_guard_start(int64_t header_timeout_ms);
/* MHD_OPTION_NOTIFY_CONNECTION's callback (cls: the guard). */
void sd_guard_notify(void *cls, struct MHD_Connection *c, void **socket_context,
                     enum MHD_ConnectionNotificationCode code);
/* The connection's request headers are complete: no deadline until the request is done. */
void sd_guard_headers(sd_guard *g, struct MHD_Connection *c);
/* The connection's request is done: the next request's headers have header_timeout_ms from now. */
void sd_guard_request_done(sd_guard *g, struct MHD_Connection *c);
/* Connections shut down so far for missing the deadline. */
uint64_t sd_guard_reaped(sd_guard *g);
/* Stops the reaper (after MHD_stop_daemon: no connection is left). NULL is a no-op. */
void sd_guard_stop(sd_guard *g);

#endif
