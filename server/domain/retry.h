/*
 * retry.h - what happens to a job after a failed or lost attempt. Pure.
 *
 * A job is requeued (state pending, reason retry, attempt + 1) while attempts remain, unless the failure is
 * one no retry can fix: the same job would fail the same way (the next scheduled slot still runs). Lost
 * attempts (the job lease lapsed) are always retryable. Unknown codes are retried.
 */
#ifndef SD_RETRY_POLICY_H
#define SD_RETRY_POLICY_H

#include <stdint.h>

/* 1 for the codes no retry can fix: too_large, auth_failed, tool_missing, unsupported, bad_url, bad_job,
 * not_found. NULL is retryable. */
int sd_failure_permanent(const char *code);
/* 1 when a job whose attempt number `attempt` (1-based) just failed runs again. */
int sd_retry_requeue(int64_t attempt, int64_t max_attempts, int permanent);

#endif
