/*
 * api.h - the agent API of docs/protocol.md under /api/v1/: routes, the app key, body limits, and each
 * endpoint as JSON -> service call -> JSON. Errors detected from the headers alone (route, method, API
 * version, key, sizes) are answered before the body is read; part uploads stream into the staging area as
 * they arrive (service/parts.h).
 */
#ifndef SD_API_H
#define SD_API_H

#include <microhttpd.h>
#include <stddef.h>

#include "domain/drill_result.h"
#include "service/ctx.h"

#define SD_MAX_JSON 65536
/* A commit to S3 storage lists every part's ETag: up to 10000 parts of about 75 bytes each, far more than
 * SD_MAX_JSON. Its parse tree may take ~30 times as much. */
#define SD_MAX_COMMIT_JSON (2 << 20)
#define SD_MAX_DRILL_JSON (SD_DRILL_DOC_MAX + 4096) /* a drill job's report: the drill document and its envelope */

typedef struct sd_api_req sd_api_req;

/* The request's headers have arrived. Either *out is the request to feed (body limit in *max_body, 0 when the
 * body streams through sd_api_body), or an answer was queued (*out NULL; the return value is MHD's). */
enum MHD_Result sd_api_begin(sd_ctx *ctx, struct MHD_Connection *c, const char *url, const char *method,
                             sd_api_req **out, size_t *max_body);
/* Streamed body bytes (part uploads). */
void sd_api_body(sd_api_req *r, const char *p, size_t n);
/* The whole request is in (body: the buffered JSON, NULL for streamed ones); answer it. */
enum MHD_Result sd_api_finish(sd_ctx *ctx, struct MHD_Connection *c, sd_api_req *r, const char *body, size_t len);
void sd_api_free(sd_api_req *r);

#endif
