/*
 * site_policy.h - the dashboard's app settings for jobs: POST /ui/apps/<id>/policy with a JSON object whose
 * members each change one field of the app's job policy (domain/job_policy.h); a member left out keeps its
 * value, null unsets it:
 *   {"recipients": ["age1...", ...]}  ([] or null: backups not encrypted; public keys only)
 *   {"nice": 0..19|null, "ionice": "idle"|"best-effort[:N]"|"none"|null, "limit_rate": bytes/s|"10M"|null}
 * Answers the policy now (views.h sd_view_job_policy), 400 invalid_request naming the bad member.
 */
#ifndef SD_SITE_POLICY_H
#define SD_SITE_POLICY_H

#include <cjson/cJSON.h>
#include <microhttpd.h>
#include <stdint.h>

#include "domain/job_policy.h"
#include "service/ctx.h"

/* A request body into a change (sd_job_policy_set's): 0, or -1 with the reason in msg. */
int sd_decode_job_policy(const cJSON *j, sd_job_policy *change, unsigned *fields, char *msg, size_t msglen);
enum MHD_Result sd_site_policy_post(struct MHD_Connection *c, sd_ctx *ctx, int64_t app, const cJSON *j,
                                    const char *user);

#endif
