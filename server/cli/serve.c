/* serve.c - `dumperd serve` (see cli.h): start-up checks, the HTTP server, the alert thread, and the
 * scheduler in this thread, one pass a second, until SIGINT or SIGTERM. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "core/log.h"
#include "core/util.h"
#include "http/server.h"
#include "service/alerts.h"
#include "service/scheduler.h"

static volatile sig_atomic_t stop_flag;
static void on_signal(int sig) { stop_flag = sig; }

int sd_cli_serve(sd_ctx *ctx)
{
    const sd_config *cfg = ctx->cfg;
    dp_err err = {0};
    sd_http *h = NULL;
    if (cfg->lease_ms < (int64_t)(cfg->primary_interval * 1500)) {
        fprintf(stderr, "dumperd: --lease must be at least 1.5 x --primary-interval\n");
        return DUMPER_EUSAGE;
    }
    /* Fail now, not at the first backup, on a bad location or missing S3 credentials; the driver that
     * opened it tells every thread what the storage is. */
    ctx->storage_create = 1;
    if (!sd_ctx_storage(ctx, &err)) {
        fprintf(stderr, "dumperd: %s\n", err.msg);
        return err.code;
    }
    char *parts = dp_asprintf("%s/parts", cfg->data_dir);
    if (parts)
        sd_cli_mkdir_p(parts);
    free(parts);
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (sd_http_start(ctx, &h, &err)) {
        fprintf(stderr, "dumperd: %s\n", err.msg);
        return err.code;
    }
    int host_len = (int)(strrchr(cfg->listen, ':') - cfg->listen);
    const char *scheme = cfg->tls_cert ? "https" : "http";
    dp_info("dumperd listening on %s://%.*s:%d (store %s, storage %s%s)", scheme, host_len, cfg->listen,
            sd_http_port(h), !strncmp(cfg->store_url, "sqlite:", 7) ? cfg->store_url : "postgresql", cfg->storage,
            cfg->test_clock ? ", test clock" : "");
    dp_info("dashboard at %s://%.*s:%d/ (users: dumperd user create NAME); /metrics %s", scheme, host_len, cfg->listen,
            sd_http_port(h), cfg->metrics_token ? "needs the metrics token" : "from loopback clients");
    if (sd_alerts_start(ctx, &err)) {
        dp_warn("%s", err.msg);
        dp_err_clear(&err);
    }
    /* The scheduler: one pass a second (production of due slots, job lease expiry). */
    while (!stop_flag) {
        if (sd_scheduler_tick(ctx, &err)) {
            dp_warn("scheduler: %s", err.msg);
            dp_err_clear(&err);
        }
        for (int i = 0; i < 10 && !stop_flag; i++) {
            struct timespec ts = {0, 100000000L};
            nanosleep(&ts, NULL);
        }
    }
    dp_info("dumperd stopping (signal %d)", (int)stop_flag);
    sd_alerts_stop();
    sd_http_stop(h);
    return 0;
}
