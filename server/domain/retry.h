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

/* Copies to destinations (issue 16): a failed copy is tried again after 2 s, doubling up to 10 minutes,
 * without end (the destination may come back); after SD_COPY_BEHIND_ATTEMPTS failed attempts in a row it
 * is alerted on once ("copy_behind"). */
#define SD_COPY_BEHIND_ATTEMPTS 3
int64_t sd_copy_retry_delay_ms(int64_t attempts);
/* 1 when the attempt that just failed (attempts counts it) is the one to alert on. */
int sd_copy_behind(int64_t attempts);

#endif
