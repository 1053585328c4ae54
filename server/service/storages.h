/*
 * storages.h - destinations beside --storage (issue 16): `dumperd storage add/list/remove`, and opening one.
 *
 * A destination is a directory or s3://bucket/prefix with its endpoint, region and addressing; its S3
 * credentials come from the environment of the dumperd process (AWS_ACCESS_KEY_ID, ...) or from a file named
 * at add time (KEY=VALUE lines: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN), read at each
 * open: the store keeps the file's path, never a secret, and nothing prints one. `--storage` of serve stays
 * the first destination (where jobs upload); copies to the others are service/copies.h.
 */
#ifndef SD_SERVICE_STORAGES_H
#define SD_SERVICE_STORAGES_H

#include "service/ctx.h"
#include "store/storages.h"

/* What `storage add` takes. */
typedef struct sd_storage_spec {
    const char *name, *location, *endpoint, *region, *credentials_file, *lock_mode;
    int path_style; /* 1 path-style, -1 virtual-host, 0 auto */
    int64_t lock_days;
    sd_retention retention;
} sd_storage_spec;

/* Checks the spec (name a label; S3 options only for s3:// locations; Object Lock mode governance or
 * compliance with days > 0), opens the location (creating a directory; S3: credentials and the bucket) and
 * records it. SD_CONFLICT when the name exists or the location is --storage or another destination's. */
int sd_storage_add(sd_ctx *ctx, const sd_storage_spec *spec, sd_status *st);
int sd_storage_remove(sd_ctx *ctx, const char *name, sd_status *st);
/* Every destination with its copy counts. */
int sd_storages(sd_ctx *ctx, sd_storage_list *out, sd_status *st);
/* The copies of the app's backups (newest backup first, at most limit rows). */
int sd_copies_of_app(sd_ctx *ctx, int64_t app, int limit, sd_copy_list *out, sd_status *st);
/* Open a destination (a row of the store). 0 or an error code with err filled (no secret in it). */
int sd_storage_open_row(const sd_storage_row *row, int create, dp_storage **out, dp_err *err);

#endif
