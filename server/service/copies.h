/*
 * copies.h - every good backup copied to each destination (issue 16).
 *
 * A job uploads once, to the first destination (--storage); when its commit records the backup good, a
 * pending copy row is added for every destination (store/storages.h). The copy worker (one thread per serve
 * process, its own context, a pass a second) takes the due rows: it claims a row (a conditional update, so
 * two workers or dumperd instances do not copy the same one at once), streams the manifest and the backup
 * from a good place (the first destination, else another good copy) to the destination through a sha256
 * filter, commits only when size and sha256 match the catalog, reads the object back from the destination
 * to check it again, and records the copy good. A failed attempt is recorded failed with its error and tried
 * again with backoff (domain/retry.h) for as long as it fails; the third failure in a row raises a
 * "copy_behind" alert. After a good copy the destination's retention runs for that database
 * (domain/retention.h: sd_retention_keep_pinned; the database's newest good backup is never deleted).
 *
 * Places: a backup's good copies in order, the first destination (when its catalog status is good) first,
 * then the destinations by id. Downloads, manifests and copies read from the first place that has the
 * object with the catalog's size and sha256; a place that fails is logged, alerted ("copy_fallback") and, for
 * a destination, marked failed so that the worker makes the copy again.
 */
#ifndef SD_SERVICE_COPIES_H
#define SD_SERVICE_COPIES_H

#include "service/ctx.h"

#define SD_COPY_MAX_PLACES 16

typedef struct sd_copy_place {
    int64_t storage; /* 0: the first destination (--storage) */
    char name[72];   /* "--storage" or the destination's name */
    int s3;          /* an s3:// location (a same-service S3 destination copies from it server-side) */
} sd_copy_place;

/* One pass: claim and run the due copies (storage 0: every destination, else that one), at most 20. *good and
 * *failed count the outcomes (may be NULL). 0, or an error code with err filled (the store failed). */
int sd_copies_pass(sd_ctx *ctx, int64_t storage, int *good, int *failed, dp_err *err);
/* The copy worker thread of `serve`. */
int sd_copies_start(const sd_ctx *tmpl, dp_err *err);
void sd_copies_stop(void);

/* `storage sync NAME`: queue a copy of every backup the destination's retention would keep (good in the
 * first destination or somewhere else) that it has no copy of yet, and make failed ones due; then run the
 * due copies of that destination until none is left or each has failed once. Resumable and idempotent: good
 * copies are never made again. */
int sd_storage_sync(sd_ctx *ctx, const char *name, int *queued, int *good, int *failed, sd_status *st);

/* Remove the good and failed copies in l (sd_copies_of_app) from their destinations, file and manifest: *removed and
 * *left count them (a copy that could not be removed is a warning). For `app delete --delete-backups`, after
 * the catalog is gone. */
struct sd_copy_list;
void sd_copies_remove_stored(sd_ctx *ctx, const struct sd_copy_list *l, int *removed, int *left);

/* The places of the app's backup's good copies (see above), at most SD_COPY_MAX_PLACES. */
int sd_copy_places(sd_ctx *ctx, int64_t app, int64_t backup, sd_copy_place *out, int *n, sd_status *st);
/* A new handle on a place (the caller closes it). */
int sd_copy_place_open(sd_ctx *ctx, const sd_copy_place *p, dp_storage **out, dp_err *err);
/* A place that does not have the backup as the catalog says: warn, alert, and mark a destination's copy
 * failed (made again by the worker). */
void sd_copy_place_bad(sd_ctx *ctx, int64_t backup, const char *file_name, const sd_copy_place *p, const char *why);
/* Read `key` from `stg` through sha256: 0 when it has `size` bytes with that sha256, else an error code with
 * err filled ("... has N bytes with sha256 X, the catalog says ..."). */
int sd_copy_check(dp_storage *stg, const char *key, uint64_t size, const char *sha256, dp_err *err);

#endif
