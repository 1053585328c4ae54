/*
 * tar_reader.h - a push-mode tar reader: bytes in (any chunking), regular-file entries out.
 *
 * libarchive reads by pulling from a callback, but a restore sink is pushed into; this reader is
 * driven by the sink's writes instead. It understands what libarchive's pax writer and GNU tar
 * produce: ustar headers (with the prefix field), pax extended headers ('x', for path and size),
 * GNU long names ('L'), base-256 sizes; global pax headers ('g'), directories, links and other
 * entry types are skipped. Pure (no I/O) so it can be unit-tested and fuzzed. Memory: one 512-byte
 * header plus the current pax/long-name record (bounded by DP_TAR_MAX_META).
 */
#ifndef DP_TAR_READER_H
#define DP_TAR_READER_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/util.h"

#define DP_TAR_MAX_META (1024 * 1024)

typedef struct dp_tar_reader_cb {
    /* A regular file entry starts. path is borrowed until end(). */
    int (*begin)(void *ctx, const char *path, uint64_t size, dp_err *err);
    /* Its content, in pieces. */
    int (*data)(void *ctx, const void *p, size_t n, dp_err *err);
    /* Its content is complete. */
    int (*end)(void *ctx, dp_err *err);
} dp_tar_reader_cb;

typedef struct dp_tar_reader {
    const dp_tar_reader_cb *cb;
    void *ctx;
    unsigned char hdr[512];
    size_t hdr_len;
    uint64_t data_left, pad_left;
    int kind;        /* of the current entry: 0 skipped, 1 file, 2 pax header, 3 long name */
    int zero_blocks; /* consecutive all-zero header blocks; two end the archive */
    int ended;
    dp_buf meta;     /* pax / long-name record being read */
    char *next_path; /* path from a pax or long-name record, for the next entry */
    uint64_t next_size;
    int has_next_size;
    char *path;      /* current file entry */
} dp_tar_reader;

void dp_tar_reader_init(dp_tar_reader *t, const dp_tar_reader_cb *cb, void *ctx);
/* Feed the next bytes. Returns 0 or the first error (DUMPER_ECORRUPT for a malformed archive, or
 * whatever a callback returned). */
int dp_tar_reader_feed(dp_tar_reader *t, const void *p, size_t n, dp_err *err);
/* After the last byte: DUMPER_ECORRUPT unless the end-of-archive blocks were seen. */
int dp_tar_reader_finish(dp_tar_reader *t, dp_err *err);
void dp_tar_reader_free(dp_tar_reader *t);

#endif
