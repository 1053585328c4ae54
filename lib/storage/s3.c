/*
 * s3.c - S3-compatible storage driver. Placeholder until the S3 issue lands: recognises s3://
 * locations and refuses them clearly.
 */
#include <string.h>

#include "storage/storage.h"

static int s3_accepts(const char *loc) { return strncmp(loc, "s3://", 5) == 0; }

static int s3_open(const char *location, const dp_storage_opts *opts, int create, dp_storage **out, dp_err *err)
{
    return dp_err_set(err, DUMPER_EUNSUPPORTED, "s3 storage is not supported yet ('%s')", location);
}

static int s3_writer(dp_storage *st, const char *key, dp_sink **out, dp_err *err)
{
    return dp_err_set(err, DUMPER_EUNSUPPORTED, "s3 storage is not supported yet");
}

static void s3_close(dp_storage *st) { (void)st; }

const dp_storage_driver dp_storage_s3 = {
    .name = "s3", .features = 0, .accepts = s3_accepts, .open = s3_open, .writer = s3_writer, .close = s3_close};
