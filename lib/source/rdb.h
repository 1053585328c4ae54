/*
 * rdb.h - Redis RDB stream checks: Redis's CRC-64 and an incremental header/trailer checker.
 *
 * Pure (bytes in, verdict out) so it can be unit-tested and fuzzed. The checker sees an RDB file
 * as it streams past in chunks of any size and holds back only the last 9 bytes, so checking a
 * snapshot of any size needs constant memory.
 */
#ifndef DP_RDB_H
#define DP_RDB_H

#include <stddef.h>
#include <stdint.h>

/* Redis's crc64 (Jones polynomial 0xad93d23594c935a9, reflected, init 0, no final xor), as used
 * for the RDB trailer: crc64(0, "123456789", 9) == 0xe9c6d914c4b8d9ca. Chain calls by passing the
 * previous result as crc. */
uint64_t dp_crc64(uint64_t crc, const void *p, size_t n);

typedef struct dp_rdb_check {
    uint64_t crc;       /* crc64 of every byte before the held-back tail */
    uint64_t total;     /* bytes fed */
    unsigned char head[9];
    unsigned char tail[9]; /* the last (up to) 9 bytes: EOF opcode + 8-byte checksum */
    size_t ntail;
    int version;        /* RDB version from the header, once 9 bytes were seen; -1 until then */
    int bad_header;
} dp_rdb_check;

void dp_rdb_check_init(dp_rdb_check *c);
/* Feed the next n bytes. Returns -1 as soon as the header is known to be invalid. */
int dp_rdb_check_feed(dp_rdb_check *c, const void *p, size_t n);

enum {
    DP_RDB_OK = 0,
    DP_RDB_OK_NO_CHECKSUM, /* valid, but written with rdbchecksum no (trailer is zero) */
    DP_RDB_BAD_HEADER,     /* does not start with "REDIS" and a 4-digit version */
    DP_RDB_TRUNCATED,      /* shorter than a header plus trailer, or no EOF opcode before the trailer */
    DP_RDB_BAD_CHECKSUM,   /* the trailer does not match the crc64 of the content */
};
/* The verdict once every byte was fed. */
int dp_rdb_check_finish(const dp_rdb_check *c);
/* One lowercase phrase for a verdict ("checksum mismatch", ...). */
const char *dp_rdb_check_strerror(int verdict);

#endif
