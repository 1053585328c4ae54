/* site_policy.c - the dashboard's job policy settings (see site_policy.h). */
#include "http/site_policy.h"

#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "http/respond.h"
#include "http/views.h"
#include "service/job_policy.h"

int sd_decode_job_policy(const cJSON *j, sd_job_policy *c, unsigned *fields, char *msg, size_t msglen)
{
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(j, "recipients"), *k;
    const cJSON *nice = cJSON_GetObjectItemCaseSensitive(j, "nice");
    const cJSON *io = cJSON_GetObjectItemCaseSensitive(j, "ionice");
    const cJSON *rate = cJSON_GetObjectItemCaseSensitive(j, "limit_rate");
    sd_job_policy_init(c);
    *fields = 0;
    if (!cJSON_IsObject(j)) {
        snprintf(msg, msglen, "a JSON object is expected");
        return -1;
    }
    if (r) {
        if (!cJSON_IsNull(r) && (!cJSON_IsArray(r) || cJSON_GetArraySize(r) > SD_MAX_RECIPIENTS)) {
            snprintf(msg, msglen, "'recipients' is an array of at most %d age recipients", SD_MAX_RECIPIENTS);
            return -1;
        }
        const cJSON *arr = cJSON_IsArray(r) ? r : NULL;
        cJSON_ArrayForEach(k, arr)
        {
            if (!cJSON_IsString(k) || strlen(k->valuestring) > 200) {
                snprintf(msg, msglen, "'recipients' holds age recipients (age1...)");
                return -1;
            }
            if (sd_job_policy_add_recipient(c, k->valuestring, msg, msglen))
                return -1;
        }
        *fields |= SD_JP_RECIPIENTS;
    }
    if (nice) {
        if (!cJSON_IsNull(nice) && (!cJSON_IsNumber(nice) || nice->valuedouble < 0 || nice->valuedouble > SD_NICE_MAX ||
                                    nice->valuedouble != (double)(int)nice->valuedouble)) {
            snprintf(msg, msglen, "'nice' is an integer from 0 to %d, or null", SD_NICE_MAX);
            return -1;
        }
        c->nice = cJSON_IsNull(nice) ? SD_NICE_UNSET : (int)nice->valuedouble;
        *fields |= SD_JP_NICE;
    }
    if (io) {
        if (!cJSON_IsNull(io) && (!cJSON_IsString(io) || strlen(io->valuestring) > 32 ||
                                  sd_job_policy_ionice(io->valuestring, c->ionice, msg, msglen))) {
            if (!cJSON_IsString(io))
                snprintf(msg, msglen, "'ionice' is idle, best-effort[:0-7], none, or null");
            return -1;
        }
        *fields |= SD_JP_IONICE;
    }
    if (rate) {
        char num[32];
        const char *s = cJSON_IsString(rate) ? rate->valuestring : NULL;
        if (cJSON_IsNumber(rate) && rate->valuedouble >= 0 && rate->valuedouble < 1e15) {
            snprintf(num, sizeof num, "%.0f", rate->valuedouble);
            s = num;
        }
        if (!cJSON_IsNull(rate) && (!s || strlen(s) > 24 || sd_job_policy_rate(s, &c->limit_rate, msg, msglen))) {
            if (!s || strlen(s) > 24)
                snprintf(msg, msglen, "'limit_rate' is bytes per second (a number or \"10M\"), or null");
            return -1;
        }
        *fields |= SD_JP_RATE;
    }
    return 0;
}

enum MHD_Result sd_site_policy_post(struct MHD_Connection *c, sd_ctx *ctx, int64_t app, const cJSON *j,
                                    const char *user)
{
    sd_job_policy change, now;
    unsigned fields;
    char msg[DP_ERR_MSG_MAX];
    sd_status st = SD_STATUS_INIT;
    if (sd_decode_job_policy(j, &change, &fields, msg, sizeof msg))
        return sd_site_error(c, 400, "invalid_request", msg);
    if (sd_job_policy_set(ctx, app, &change, fields, &now, &st))
        return sd_site_error(c, sd_http_status(st.outcome), sd_http_error_code(st.outcome),
                             st.outcome == SD_INTERNAL ? "state store unavailable" : st.err.msg);
    if (fields & SD_JP_RECIPIENTS)
        dp_info("site: app p_%lld now encrypts new backups to %d recipient(s) (user '%s')", (long long)app,
                now.nrecipients, user);
    cJSON *o = cJSON_CreateObject();
    if (o)
        sd_view_job_policy(o, &now);
    return sd_site_json(c, 200, o, NULL);
}
