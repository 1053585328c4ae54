/*
 * job_policy.h - an app's job policy as stored (table app_job_policy; domain/job_policy.h says what the
 * values mean): recipients (space-separated age1... keys), nice (NULL: unset), ionice ("" unset), limit
 * rate (0 unset). SQL only (see apps.h for the conventions); the service validates what it reads.
 */
#ifndef SD_STORE_JOB_POLICY_H
#define SD_STORE_JOB_POLICY_H

#include <stdint.h>

#include "core/err.h"
#include "domain/job_policy.h"
#include "store/db.h"

typedef struct sd_job_policy_row {
    char recipients[SD_RECIPIENTS_TEXT_MAX + 2]; /* one more than allowed: a longer stored text is seen */
    int has_nice;
    int64_t nice;
    char ionice[17];
    int64_t limit_rate;
} sd_job_policy_row;

/* The app's row; an app without one gets the empty row (everything unset). */
int sd_store_job_policy_get(sd_db *db, int64_t app, sd_job_policy_row *out, dp_err *err);
/* Insert or replace the app's row. */
int sd_store_job_policy_put(sd_db *db, int64_t app, const sd_job_policy_row *row, dp_err *err);

#endif
