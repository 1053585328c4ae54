/*
 * s3_put.c - benchmark helper: streams stdin into `dumper`'s S3 storage writer (the same
 * dp_storage_writer -> multipart uploader the backup pipeline uses), so the upload can be timed
 * against `aws s3 cp - ...` on the same bytes without a database dump in front.
 *   s3_put s3://bucket/prefix key [part_size_mib] [parallel] < data
 * Built by bench/s3_upload.sh against build/lib/libdumper.a.
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "storage/storage.h"

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: s3_put s3://bucket/prefix key [part_size_mib] [parallel] < data\n");
        return 2;
    }
    dp_storage_opts o = {0};
    if (argc > 3)
        o.part_size = strtoull(argv[3], NULL, 10) * 1024 * 1024;
    if (argc > 4)
        o.parallel = (int)strtol(argv[4], NULL, 10);
    dp_err err = {0};
    dp_storage *st = NULL;
    dp_sink *w = NULL;
    int rc = dp_storage_open(argv[1], &o, 1, &st, &err);
    if (!rc)
        rc = dp_storage_writer(st, argv[2], &w, &err);
    if (!rc)
        rc = dp_sink_pump_fd(0, w, "stdin", &err);
    if (!rc)
        rc = dp_sink_end(w, &err);
    if (!rc)
        rc = dp_sink_commit(w, &err);
    dp_sink_free(w);
    dp_storage_close(st);
    if (rc)
        fprintf(stderr, "s3_put: %s\n", err.msg);
    return rc;
}
