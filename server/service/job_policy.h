/*
 * job_policy.h - an app's job policy (domain/job_policy.h) as a use case: read it, change it, and the step
 * other services run inside their own transaction (the poll that hands out a job, the prepare that checks a
 * backup against it). What the store holds is validated again on every read: a bad stored key fails the
 * operation (SD_INTERNAL) rather than letting a job run in plaintext.
 */
#ifndef SD_SERVICE_JOB_POLICY_H
#define SD_SERVICE_JOB_POLICY_H

#include <stdint.h>

#include "domain/job_policy.h"
#include "service/ctx.h"

/* Inside an sd_txn_fn: the app's policy into *out. */
int sd_job_policy_load(sd_ctx *ctx, int64_t app, sd_job_policy *out, sd_status *st);
/* The app's policy. */
int sd_job_policy_get(sd_ctx *ctx, int64_t app, sd_job_policy *out, sd_status *st);
/* Change the fields of `change` named in `fields` (SD_JP_*; values validated by the caller through the domain
 * functions); *out: the policy now. A recipient change applies to jobs handed out from now on. */
int sd_job_policy_set(sd_ctx *ctx, int64_t app, const sd_job_policy *change, unsigned fields, sd_job_policy *out,
                      sd_status *st);

#endif
