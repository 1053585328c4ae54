/*
 * commit.h - a backup's commit: the agent says how many bytes with which sha256; dumperd checks that against
 * what was uploaded before the catalog calls it good, and applies retention.
 *
 * Local storage: the manifest goes in first (lib/job/manifest.h: a listed backup always has one), then parts
 * 1..n stream through SHA-256 into the storage driver's atomic writer; a size or checksum mismatch aborts
 * (nothing published, the manifest removed, the parts kept for a retry). S3: the manifest, then
 * CompleteMultipartUpload with the agent's ETags, then the object is read back through SHA-256; a mismatch
 * found after completion deletes object and manifest and fails the attempt (its job is retried per policy).
 * The files are exactly what `dumper backup` writes, so `dumper verify`/`restore` work on them.
 */
#ifndef SD_COMMIT_H
#define SD_COMMIT_H

#include <stdint.h>

#include "service/ctx.h"

typedef struct sd_commit_req {
    int64_t size, duration_ms, raw_size;
    int has_raw_size;        /* raw_size was given (required for a compressed backup) */
    const char *sha256;      /* 64 lowercase hex digits */
    const char *source_type; /* for the manifest: a label, or NULL ("unknown") */
    const char *database;    /* for the manifest: the redacted URL, or NULL */
    int nparts;              /* parts uploaded to dumperd (local), or entries of `etags` (S3) */
    int parts_listed;        /* `parts` was an array (S3: of {"n", "etag"}) */
    const char *const *etags; /* S3: etags[i] of part i + 1; NULL where the entry was malformed */
    const char *contents;     /* what the backup holds (the manifest's "contents" object, JSON), or NULL */
} sd_commit_req;

typedef struct sd_commit_res {
    char file_name[256];
} sd_commit_res;

/* Commit (idempotent: the same sha256 again is fine, another one is SD_CONFLICT). */
int sd_backup_commit(sd_ctx *ctx, int64_t app, int64_t backup, const sd_commit_req *req, sd_commit_res *res,
                     sd_status *st);

#endif
