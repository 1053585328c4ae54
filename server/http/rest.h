/*
 * rest.h - the REST API for people and CI under /api/v1/apps (docs/api.md, docs/openapi.json): one route
 * table with each route's method, path pattern and needs (domain/tokens.h: least scope, whether an app key
 * may call it); a request is matched (404/405), its bearer credential checked (401), its app looked up and
 * the credential's reach checked (404 for an app it does not see, 403 for a scope too low), then answered as
 * JSON -> service call -> JSON. The agent API (http/api.h) keeps the rest of /api/v1/.
 */
#ifndef SD_HTTP_REST_H
#define SD_HTTP_REST_H

#include <microhttpd.h>
#include <stddef.h>

#include "domain/tokens.h"
#include "service/ctx.h"

/* A route as the table holds it (for `dumperd api-routes` and the OpenAPI test). */
typedef struct sd_rest_route_info {
    const char *method, *path; /* path: "/api/v1/apps/{app}/backups/{backup}" */
    sd_route_need need;
} sd_rest_route_info;

/* The routes, *n of them. */
const sd_rest_route_info *sd_rest_routes(int *n);

/* 1 when url is the REST API's (/api/v1/apps and below). */
int sd_rest_owns(const char *url);
/* Answer a REST request whose body (at most SD_MAX_JSON bytes, http/api.h) is in. */
enum MHD_Result sd_rest_request(sd_ctx *ctx, struct MHD_Connection *c, const char *url, const char *method,
                                const char *body, size_t len);

#endif
