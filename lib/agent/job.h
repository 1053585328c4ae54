/*
 * job.h - what a job process (`dumper job`) does with a job spec: backup prepare at dumperd, stream
 * the dump (source -> zstd -> sha256 -> upload sink) in numbered parts to the upload target dumperd
 * hands out (its own part URLs, or presigned S3 part URLs), then commit with size, sha256, duration
 * and parts, or report the failure with a code and message. Memory is bounded by one part.
 */
#ifndef DP_AGENT_JOB_H
#define DP_AGENT_JOB_H

#include "agent/proto.h"
#include "core/err.h"

#define DP_JOB_PART_SIZE (8u * 1024 * 1024)   /* first part size; doubles every 250 parts */
#define DP_JOB_PART_ATTEMPTS 5               /* tries per part / per API call */

/* Run the job. Returns 0 when the backup was committed as good; otherwise the error (already
 * reported to dumperd with `fail` when a backup had been prepared). */
int dp_job_run(const dp_job_spec *spec, dp_err *err);

/* The part size for part number n (1-based): initial doubled every 1000 parts, capped at max. Pure. */
uint64_t dp_job_part_size(uint64_t n, uint64_t initial, uint64_t max);

#endif
