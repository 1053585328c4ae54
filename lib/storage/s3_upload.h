/*
 * s3_upload.h - the one multipart uploader: a stream of unknown length in numbered parts, with or
 * without storage credentials. Every part upload of Dumper goes through it:
 *   1. the S3 storage driver (s3.c, `dumper backup --to s3://...`) signs each part itself;
 *   2. the agent's job process (agent/job.c) uploads to the part URLs dumperd presigns for it, or
 *      to dumperd itself (docs/protocol.md), and reports the parts in its commit;
 *   3. dumperd drives S3 uploads it created for agents with the helpers at the end.
 * The caller fills a dp_s3_upload_ops with callbacks that name each part's request and complete
 * or abort the upload, and uses the returned sink like any other storage writer.
 *
 * Memory and concurrency: the sink fills one part buffer in the caller's thread; a full buffer is
 * handed to `parallel` worker threads (each with its own HTTP handle) while the next part fills.
 * At most parallel + 1 buffers exist, so memory = part size x (parallel + 1), independent of the
 * object's size. The part size starts at opts.part_size and doubles every 1000 parts
 * (dp_s3_part_size), up to opts.max_part_size, so a stream of unknown length stays under the
 * 10,000-part limit (pgBackRest's rule for S3): with the 8 MiB default the object can reach ~8 TB
 * (S3's own limit is 5 TiB), and memory only grows past 8 MiB x (parallel + 1) for objects over
 * 8 GB.
 *
 * Integrity and retries: every part carries Content-MD5 unless the target checks a checksum of its
 * own (opts.no_content_md5: dumperd takes X-Dumper-Part-Sha256, which ops.part adds); a part is
 * retried through the HTTP client's one policy (dp_http_do: 5xx, 429, 408, timeouts, resets, with
 * backoff), and ops.part names its request afresh for every attempt (a new signature, or a fresh
 * presigned URL: one may have expired).
 *
 * Atomicity: nothing is visible before dp_sink_commit(). A stream that fits in one part is sent
 * at commit with ops.put_single (if set) or as a one-part multipart upload; a larger stream starts
 * the multipart upload when its first part is full, and commit sends `complete`. Abort, a failed
 * part or freeing an uncommitted sink calls ops.abort (AbortMultipartUpload) so no parts remain.
 * A process killed mid-upload leaves an incomplete multipart upload (never an object); a bucket
 * lifecycle rule "AbortIncompleteMultipartUpload" cleans those up (see docs/s3.md).
 *
 * Threading: the sink itself is driven by one thread (like every dp_sink). ops.part and
 * ops.part_error are called from the worker threads, concurrently: they must be thread-safe.
 * begin/complete/abort/put_single are called from the thread that drives the sink.
 */
#ifndef DP_S3_UPLOAD_H
#define DP_S3_UPLOAD_H

#include <curl/curl.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "http/http.h"
#include "io/sink.h"
#include "storage/storage.h"

#define DP_S3_MAX_PARTS 10000
#define DP_S3_MIN_PART (5ULL * 1024 * 1024)          /* S3 minimum for every part but the last */
#define DP_S3_MAX_PART (5ULL * 1024 * 1024 * 1024)   /* S3 maximum part size */
#define DP_S3_DEFAULT_PART (8ULL * 1024 * 1024)
#define DP_S3_DEFAULT_PARALLEL 4

typedef struct dp_s3_upload_ops {
    /* Optional. Start the multipart upload (CreateMultipartUpload); called once, when the first
     * part is full. A control plane that created the upload before handing out URLs sets NULL. */
    int (*begin)(void *ctx, dp_err *err);
    /* Required; called from worker threads, concurrently, before every attempt of a part. Give the
     * request for part `part_number` (1-based): *url (malloc'd, freed by the uploader) and
     * optionally *headers (extra headers such as Authorization, freed by the uploader with
     * curl_slist_free_all). data/len are the part's bytes and md5_b64 their Content-MD5 (NULL with
     * opts.no_content_md5), for callers that sign them. h is the calling worker's own HTTP handle,
     * for a callback that asks a control plane for the URL (presigned mode). */
    int (*part)(void *ctx, dp_http *h, int part_number, const void *data, size_t len, const char *md5_b64,
                char **url, struct curl_slist **headers, dp_err *err);
    /* Optional; worker threads. The error of a part answered with a status other than 200 (after
     * the retries): fill err and return its code. NULL: dp_s3_error_from_response. */
    int (*part_error)(void *ctx, int part_number, long status, const char *body, size_t len, dp_err *err);
    /* Required. CompleteMultipartUpload with the parts' ETags (etags[i] is part i+1, quotes kept
     * as S3 returned them; "" with opts.no_etag) and sizes. Presigned mode: report them to the
     * control plane, which completes. */
    int (*complete)(void *ctx, int nparts, char *const *etags, const uint64_t *sizes, uint64_t total_bytes,
                    dp_err *err);
    /* Optional. AbortMultipartUpload; best effort, must not fail (called only after begin, or in
     * presigned mode whenever parts may have been sent). NULL: nothing to clean up here. */
    void (*abort)(void *ctx);
    /* Optional. Store the whole object (<= one part) with one PUT. NULL: a one-part upload. */
    int (*put_single)(void *ctx, const void *data, size_t len, const char *md5_b64, dp_err *err);
    /* Optional. Called when the sink is freed, to release ctx. */
    void (*free_ctx)(void *ctx);
} dp_s3_upload_ops;

typedef struct dp_s3_upload_opts {
    uint64_t part_size;     /* first part size; 0 = 8 MiB. Values below 5 MiB are for tests only */
    uint64_t max_part_size; /* cap of the growth; 0 = 5 GiB (S3's maximum) */
    int max_parts;          /* 0 = 10,000 (S3's maximum); more is DUMPER_ETOOLARGE */
    int parallel;           /* parts in flight; 0 = 4 */
    int no_content_md5;     /* the target checks a checksum of its own (dumperd's part upload) */
    int no_etag;            /* the target's part answers carry no ETag (dumperd's part upload) */
    dp_http_opts http;      /* timeouts and retries for part uploads (each worker's handle) */
    const char *what;       /* object name for messages (no secrets), e.g. "s3://bucket/key" */
} dp_s3_upload_opts;

/* Pure: the size of part `part_number` (1-based) for a first part size of `initial` (0 = 8 MiB):
 * doubles every 1000 parts, capped at max (0 = 5 GiB). */
uint64_t dp_s3_part_size(uint64_t initial, uint64_t max, int part_number);
/* Pure: the largest object that fits in 10,000 parts starting at `initial`, capped at `max`. */
uint64_t dp_s3_max_object(uint64_t initial, uint64_t max);

/* A sink uploading through ops. ctx is borrowed (free_ctx, when set, releases it with the sink).
 * Returns 0 or an error code; *out is the sink. */
int dp_s3_upload_new(const dp_s3_upload_opts *opts, const dp_s3_upload_ops *ops, void *ctx, dp_sink **out,
                     dp_err *err);

/*
 * Helpers for the control plane (dumperd), over an open S3 storage (dp_storage_open("s3://...")):
 * create the upload, presign its parts' URLs for an agent, complete or abort it with the ETags the
 * agent reports. Keys are relative to the storage's prefix. URLs expire after expires_s seconds.
 * Also presign GET for downloads (upload_id NULL, part_number 0).
 */
int dp_s3_create_upload(dp_storage *st, const char *key, char **upload_id, dp_err *err);
int dp_s3_presign(dp_storage *st, const char *method, const char *key, const char *upload_id, int part_number,
                  long expires_s, char **url, dp_err *err);
int dp_s3_complete_upload(dp_storage *st, const char *key, const char *upload_id, int nparts, char *const *etags,
                          dp_err *err);
int dp_s3_abort_upload(dp_storage *st, const char *key, const char *upload_id, dp_err *err);
/* 1 when two S3 storages are on the same service with the same credentials (same endpoint, Host rule,
 * region and access key), so that one can copy from the other server-side. */
int dp_s3_same_service(const dp_storage *a, const dp_storage *b);
/* Server-side CopyObject of key from src into dst (dp_s3_same_service; objects up to 5 GiB: S3's limit for
 * one CopyObject). dst's Object Lock headers apply. DUMPER_EUNSUPPORTED when they are not the same service. */
int dp_s3_copy_object(dp_storage *dst, dp_storage *src, const char *key, dp_err *err);

/* Map an S3 error response to a dumper code and a one-line message naming `what`. Pure. */
int dp_s3_error_from_response(long status, const char *body, size_t n, const char *what, dp_err *err);
/* The outcome of a CompleteMultipartUpload answer: 0, or the error of a status other than 200 or of
 * an <Error> in a 200 answer's body (S3 may answer 200 and still fail; mapped as a 500). Pure. */
int dp_s3_complete_result(long status, const char *body, size_t n, const char *what, dp_err *err);

#endif
