/* respond.c - answers of the agent API and the site (see respond.h). */
#include "http/respond.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/util.h"

static const struct {
    unsigned status;
    const char *code;
} outcomes[] = {
    [SD_OK] = {500, "internal"},          [SD_INVALID] = {400, "invalid_request"},
    [SD_UNAUTHORIZED] = {401, "unauthorized"}, [SD_FORBIDDEN] = {403, "forbidden"},
    [SD_NOT_FOUND] = {404, "not_found"},  [SD_CONFLICT] = {409, "conflict"},
    [SD_TOO_LARGE] = {413, "too_large"},  [SD_VERIFY_FAILED] = {422, "verification_failed"},
    [SD_INTERNAL] = {500, "internal"},    [SD_STORAGE_FAILED] = {502, "storage_failed"},
    [SD_UNAVAILABLE] = {503, "unavailable"},
};

unsigned sd_http_status(sd_outcome o) { return o <= SD_UNAVAILABLE ? outcomes[o].status : 500; }

const char *sd_http_error_code(sd_outcome o) { return o <= SD_UNAVAILABLE ? outcomes[o].code : "internal"; }

static char *json_text(cJSON *o, unsigned *status)
{
    char *s = o ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    if (!s) {
        s = dp_strdup("{\"error\":\"internal\",\"message\":\"out of memory\"}");
        *status = 500;
    }
    return s;
}

enum MHD_Result sd_reply_json(struct MHD_Connection *c, unsigned status, cJSON *o)
{
    char *s = json_text(o, &status);
    if (!s)
        return MHD_NO;
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(s), s, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(s);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", "application/json");
    MHD_add_response_header(r, "X-Dumper-Api", "1");
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static cJSON *error_object(const char *code, const char *msg)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "error", code);
    cJSON_AddStringToObject(o, "message", msg);
    return o;
}

enum MHD_Result sd_reply_error(struct MHD_Connection *c, unsigned status, const char *code, const char *fmt, ...)
{
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return sd_reply_json(c, status, error_object(code, msg));
}

enum MHD_Result sd_reply_status(struct MHD_Connection *c, const sd_status *st)
{
    unsigned status = sd_http_status(st->outcome);
    if (status >= 500)
        dp_warn("request failed: %s", st->err.msg);
    return sd_reply_error(c, status, sd_http_error_code(st->outcome), "%s",
                          st->err.msg[0] ? st->err.msg : "internal error");
}

enum MHD_Result sd_reply_attachment(struct MHD_Connection *c, struct MHD_Response *resp, const char *type,
                                    const char *file, const char *sha)
{
    char disp[400];
    snprintf(disp, sizeof disp, "attachment; filename=\"%s\"", file);
    MHD_add_response_header(resp, "Content-Type", type);
    MHD_add_response_header(resp, "Content-Disposition", disp);
    if (sha)
        MHD_add_response_header(resp, "X-Dumper-Sha256", sha);
    MHD_add_response_header(resp, "X-Dumper-Api", "1");
    enum MHD_Result ret = MHD_queue_response(c, 200, resp);
    MHD_destroy_response(resp);
    return ret;
}

static void site_headers(struct MHD_Response *r)
{
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(r, "X-Frame-Options", "DENY");
    MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
    MHD_add_response_header(r, "Content-Security-Policy",
                            "default-src 'self'; img-src 'self' data:; object-src 'none'; frame-ancestors 'none';"
                            " base-uri 'none'; form-action 'self'");
    MHD_add_response_header(r, "Cache-Control", "no-store");
}

enum MHD_Result sd_site_reply(struct MHD_Connection *c, unsigned status, const char *type, char *body, size_t len,
                              const char *cookie)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(body);
        return MHD_NO;
    }
    site_headers(r);
    MHD_add_response_header(r, "Content-Type", type);
    if (cookie)
        MHD_add_response_header(r, "Set-Cookie", cookie);
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

enum MHD_Result sd_site_json(struct MHD_Connection *c, unsigned status, cJSON *o, const char *cookie)
{
    char *s = json_text(o, &status);
    return s ? sd_site_reply(c, status, "application/json", s, strlen(s), cookie) : MHD_NO;
}

enum MHD_Result sd_site_error(struct MHD_Connection *c, unsigned status, const char *code, const char *msg)
{
    return sd_site_json(c, status, error_object(code, msg), NULL);
}

enum MHD_Result sd_site_redirect(struct MHD_Connection *c, const char *to)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    if (!r)
        return MHD_NO;
    site_headers(r);
    MHD_add_response_header(r, "Location", to);
    enum MHD_Result ret = MHD_queue_response(c, 303, r);
    MHD_destroy_response(r);
    return ret;
}
