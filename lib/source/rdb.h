/*
 * rdb.h - Redis RDB stream checks: Redis's CRC-64 and an incremental header/trailer checker, and
 * the parsers of the replies the Redis source reads around a snapshot (SYNC's bulk line, INFO).
 *
 * Pure (bytes in, verdict out) so it can be unit-tested and fuzzed (test/fuzz/fuzz_rdb.c). The checker sees an RDB file
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

/*
 * The key counter: a structural walk over an RDB as it streams past (any chunking, constant memory:
 * no value is held, strings are skipped by their length), counting the keys of each logical
 * database, so a backup records per database the keys its snapshot holds without a second pass
 * over the server. It knows the value types and opcodes of RDB versions 1 to 11 (Redis 7.2) but
 * modules of the old format (type 6) and Redis 7.4's hashes with field expiry (types 22-25): on
 * those, on anything malformed, on a database index of DP_RDB_MAX_DB or more, or on bytes after
 * the end, it gives up (feed returns -1 and `why` says why); the counts are then unknown, never
 * wrong. A key whose list, set, sorted set or hash holds no element is not counted: Redis skips
 * such keys when it loads the file. Keys with an expiry time are counted like the others.
 */
#define DP_RDB_MAX_DB 10000 /* database indexes 0..9999, one manifest entry each at most */

typedef struct dp_rdb_keys {
    int pc;             /* where the walk resumes */
    int failed, done;   /* gave up (why says why); reached the end-of-file opcode and its checksum */
    int version, type;
    uint64_t db;        /* the current database (SELECTDB) */
    uint64_t *keys;     /* keys[i]: the keys of database i, for i < ndb */
    size_t ndb;
    uint64_t total;     /* keys counted */
    uint64_t n1, n2, n3; /* element counts of the value being walked */
    uint64_t n4;        /* 1 when the key being walked counts (not an empty container) */
    /* the primitives' state */
    unsigned char b[9]; /* fixed bytes taken (header, type byte, length bytes) */
    size_t have;
    uint64_t skip;      /* bytes left to skip */
    uint64_t len;       /* the last length read; enc: it had the special encoding (0xC0 | len) */
    int enc, lstep;
    int sstep;          /* string: 0 length, 1 LZF lengths, 2 bytes */
    int mstep;          /* module value: 0 opcode, 1 its operand */
    uint64_t mop;
    char why[96];
} dp_rdb_keys;

void dp_rdb_keys_init(dp_rdb_keys *k);
/* Walk the next n bytes. 0: going on; -1: gave up (then and on every later call). */
int dp_rdb_keys_feed(dp_rdb_keys *k, const void *p, size_t n);
/* Once every byte was fed: 0 when the walk reached the end-of-file opcode and the checksum after it
 * (the counts in keys[] are then those of the file), else -1 with why set. */
int dp_rdb_keys_finish(dp_rdb_keys *k);
void dp_rdb_keys_free(dp_rdb_keys *k);

/*
 * What the Redis source parses of a server's replies around the snapshot (redis.c does the I/O):
 */
/* One byte of a reply line, read byte by byte from the socket so that nothing after the line is
 * consumed. Appends ch to line[0..*n) (cap bytes); returns 1 when the line is complete (LF; a CR
 * before it is dropped; line NUL-terminated), 0 for more, -1 when it does not fit in cap. An LF
 * before any byte is skipped: the "\n" keepalives a server sends while it saves. */
int dp_redis_line_feed(char *line, size_t cap, size_t *n, char ch);

enum {
    DP_SYNC_BULK = 0,  /* "$<len>": len snapshot bytes follow */
    DP_SYNC_REFUSED,   /* "-ERR ...": the server refused SYNC */
    DP_SYNC_DISKLESS,  /* "$EOF:<mark>": a diskless transfer (not supported) */
    DP_SYNC_BAD,       /* anything else */
};
/* The first reply line to SYNC: one of the above; *len is set for DP_SYNC_BULK. */
int dp_redis_sync_reply(const char *line, unsigned long long *len);

/* The value of "field:" in an INFO reply: its number, 1 for "ok", 0 for "err", -1 when absent. */
long long dp_redis_info_field(const char *info, const char *field);

#endif
