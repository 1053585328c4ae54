/*
 * site.h - the Dumper site inside dumperd: dashboard users and sessions, the dashboard's JSON endpoints
 * (/ui/...), its static files (server/web/), Prometheus metrics (/metrics) and webhook alerts.
 */
#ifndef SD_SITE_H
#define SD_SITE_H

#include <microhttpd.h>
#include <stdint.h>

#include "core/err.h"
#include "service/ctx.h"

/* Counters the agent API bumps (process-local; exported by /metrics). */
void sd_count_poll(void);
void sd_count_register(void);

/* Users (the `dumperd user` commands). The password is never logged or put in argv. */
int sd_user_set(sd_ctx *ctx, const char *name, const char *password, int create, dp_err *err);
int sd_user_delete(sd_ctx *ctx, const char *name, dp_err *err);
/* Prints the user names, one a line. */
int sd_user_list(sd_ctx *ctx, dp_err *err);

/* Password hashes: "pbkdf2-sha256$ITER$SALT$HASH" (hex). Exposed for the unit tests. */
char *sd_pw_hash(const char *password, unsigned iterations);
int sd_pw_verify(const char *password, const char *stored);

/* Everything that is not under /api/v1/. body may be NULL. */
enum MHD_Result sd_site_request(struct MHD_Connection *c, const char *url, const char *method, const char *body,
                                size_t len, sd_ctx *ctx);

/* From http.c: answer with a streamed, checksum-checked backup download. */
enum MHD_Result sd_http_download(struct MHD_Connection *c, sd_ctx *ctx, int64_t app, int64_t backup);
/* From http.c: answer with the manifest stored beside a good backup. */
enum MHD_Result sd_http_manifest(struct MHD_Connection *c, sd_ctx *ctx, int64_t app, int64_t backup);

/* Alert thread (started by `serve` when a webhook is configured). */
int sd_alerts_start(const sd_config *cfg, sd_clock *clock, dp_err *err);
void sd_alerts_stop(void);
/* One detection pass (tests, and the thread). */
int sd_alerts_detect(sd_ctx *ctx, dp_err *err);

#endif
