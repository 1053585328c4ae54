/*
 * http.h - dumperd's HTTP server: the agent API of docs/protocol.md on libmicrohttpd.
 */
#ifndef SD_HTTP_H
#define SD_HTTP_H

#include "config/clock.h"
#include "config/config.h"
#include "core/err.h"

typedef struct sd_http_opts {
    const char *listen; /* HOST:PORT */
    const char *tls_cert, *tls_key;
    int threads;
    const sd_config *cfg; /* borrowed for the server's life */
    sd_clock *clock;
} sd_http_opts;

typedef struct sd_http sd_http;

int sd_http_start(const sd_http_opts *o, sd_http **out, dp_err *err);
/* The bound port (useful with port 0). */
int sd_http_port(sd_http *h);
void sd_http_stop(sd_http *h);
/* Close every per-thread store connection (after stop). */
void sd_http_close_dbs(void);
/* Serialises scheduler passes in this process (the test-clock endpoint runs one). */
void sd_tick_lock(void);
void sd_tick_unlock(void);

#endif
