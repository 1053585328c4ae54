/*
 * job.h - what a job process (`dumper job`) does with a job spec: backup prepare at dumperd, stream
 * the dump (source -> zstd -> sha256 -> upload sink) in numbered parts to the upload target dumperd
 * hands out (its own part URLs, or presigned S3 part URLs) through the one multipart uploader
 * (storage/s3_upload.h: one part fills while the previous one uploads), then commit with size,
 * sha256, duration and parts, or report the failure with a code and message. Memory is bounded by
 * two parts.
 *
 * This is engine code: it runs in the `dumper` executable, never in a host process.
 */
#ifndef DP_AGENT_JOB_H
#define DP_AGENT_JOB_H

#include "agent/proto.h"
#include "core/err.h"

#define DP_JOB_PART_SIZE (8u * 1024 * 1024) /* first part size; grows by dp_s3_part_size's rule */
#define DP_JOB_ATTEMPTS 5                   /* tries per part / per API call */

/* Run the job. Returns 0 when the backup was committed as good; otherwise the error (already
 * reported to dumperd with `fail` when a backup had been prepared). */
int dp_job_run(const dp_job_spec *spec, dp_err *err);

/* A drill job (spec->kind DP_JOB_DRILL; drill_job.c): download the backup and its manifest, drill it, report
 * the result (passed, failed, or error with the reason) to dumperd. 0 when the result was reported. */
int dp_drill_job_run(const dp_job_spec *spec, dp_err *err);

#endif
