/*
 * site.h - the Dumper site: everything outside /api/: the dashboard's static files (server/web/, no build
 * step), its JSON endpoints under /ui/ (behind a session; every POST needs a JSON body and the session's CSRF
 * token), and /metrics. The dashboard's data come from the same services as the CLI (service/admin.h).
 */
#ifndef SD_SITE_H
#define SD_SITE_H

#include <cjson/cJSON.h>
#include <microhttpd.h>
#include <stddef.h>

#include "service/ctx.h"

/* Bodies over this are refused before they are read. */
#define SD_SITE_MAX_BODY 65536

/* One site request; body may be NULL. */
enum MHD_Result sd_site_request(sd_ctx *ctx, struct MHD_Connection *c, const char *url, const char *method,
                                const char *body, size_t len);
/* /ui/tokens (GET list, POST create) and /ui/tokens/<id>/revoke (POST), after the session and CSRF checks;
 * p is the path after /ui/, user the session's (logged). site_tokens.c. */
enum MHD_Result sd_site_tokens(struct MHD_Connection *c, sd_ctx *ctx, const char *p, int get, const cJSON *j,
                               const char *user);
/* /ui/storage (GET list, POST add), /ui/storage/<name>/delete (POST), /ui/storage/copies/<app id> (GET), after
 * the session and CSRF checks; p is the path after /ui/storage. site_storage.c. */
enum MHD_Result sd_site_storage(struct MHD_Connection *c, sd_ctx *ctx, const char *p, int get, const cJSON *j,
                                const char *user);

#endif
