/* fuzz_tar.h - shared by the targets that read a tar stream (fuzz_tar_reader, fuzz_mongo_restore):
 * the whole of p[0..n) through the push reader in writes of `step` bytes, then its end. Returns 0
 * or the first error, with err filled. */
#ifndef DP_FUZZ_TAR_H
#define DP_FUZZ_TAR_H

#include <stdint.h>

#include "source/tar_reader.h"

static inline int fuzz_tar_read(const dp_tar_reader_cb *cb, void *ctx, const uint8_t *p, size_t n, size_t step,
                                dp_err *err)
{
    dp_tar_reader t;
    dp_tar_reader_init(&t, cb, ctx);
    int rc = 0;
    for (size_t off = 0; off < n && !rc; off += step)
        rc = dp_tar_reader_feed(&t, p + off, n - off < step ? n - off : step, err);
    if (!rc)
        rc = dp_tar_reader_finish(&t, err);
    dp_tar_reader_free(&t);
    return rc;
}

#endif
