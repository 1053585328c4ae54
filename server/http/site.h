/*
 * site.h - the Dumper site: everything outside /api/: the dashboard's static files (server/web/, no build
 * step), its JSON endpoints under /ui/ (behind a session; every POST needs a JSON body and the session's CSRF
 * token), and /metrics. The dashboard's data come from the same services as the CLI (service/admin.h).
 */
#ifndef SD_SITE_H
#define SD_SITE_H

#include <microhttpd.h>
#include <stddef.h>

#include "service/ctx.h"

/* Bodies over this are refused before they are read. */
#define SD_SITE_MAX_BODY 65536

/* One site request; body may be NULL. */
enum MHD_Result sd_site_request(sd_ctx *ctx, struct MHD_Connection *c, const char *url, const char *method,
                                const char *body, size_t len);

#endif
