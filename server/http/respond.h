/*
 * respond.h - answering a request: the agent API's JSON answers and errors (with X-Dumper-Api: 1), the
 * mapping of a service outcome to an HTTP status and error code (the only one), attachments, and the site's
 * answers (security headers, no caching, an optional cookie).
 */
#ifndef SD_RESPOND_H
#define SD_RESPOND_H

#include <cjson/cJSON.h>
#include <microhttpd.h>

#include "service/status.h"

/* The HTTP status and "error" code of an outcome: SD_INVALID 400 invalid_request, SD_UNAUTHORIZED 401
 * unauthorized, SD_FORBIDDEN 403 forbidden, SD_NOT_FOUND 404 not_found, SD_CONFLICT 409 conflict,
 * SD_TOO_LARGE 413 too_large, SD_VERIFY_FAILED 422 verification_failed, SD_INTERNAL 500 internal,
 * SD_STORAGE_FAILED 502 storage_failed, SD_UNAVAILABLE 503 unavailable. */
unsigned sd_http_status(sd_outcome o);
const char *sd_http_error_code(sd_outcome o);

/* The agent API. sd_reply_json takes o (NULL: out of memory). */
enum MHD_Result sd_reply_json(struct MHD_Connection *c, unsigned status, cJSON *o);
enum MHD_Result sd_reply_error(struct MHD_Connection *c, unsigned status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* A failed service call: its outcome's status and code, its message (logged when 5xx). */
enum MHD_Result sd_reply_status(struct MHD_Connection *c, const sd_status *st);
/* Queue resp (destroyed here) as a 200 attachment named `file`; sha: X-Dumper-Sha256, or NULL. */
enum MHD_Result sd_reply_attachment(struct MHD_Connection *c, struct MHD_Response *resp, const char *type,
                                    const char *file, const char *sha);

/* The site: nosniff, no framing, no referrer, a strict CSP, no-store. body is taken (freed). */
enum MHD_Result sd_site_reply(struct MHD_Connection *c, unsigned status, const char *type, char *body, size_t len,
                              const char *cookie);
enum MHD_Result sd_site_json(struct MHD_Connection *c, unsigned status, cJSON *o, const char *cookie);
enum MHD_Result sd_site_error(struct MHD_Connection *c, unsigned status, const char *code, const char *msg);
enum MHD_Result sd_site_redirect(struct MHD_Connection *c, const char *to);

#endif
