/* rdb.c - Redis's CRC-64 and the streaming RDB header/trailer checker (see rdb.h). */
#include "source/rdb.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* The Jones polynomial 0xad93d23594c935a9 bit-reversed: Redis's crc64 is the reflected form. */
#define CRC64_POLY_REFLECTED UINT64_C(0x95ac9329ac4bc9b5)

/* Slice-by-8 tables, built once. An RDB is usually large: the byte-at-a-time loop would cost more
 * CPU than the network copy it checks. */
static uint64_t crc_table[8][256];
static int crc_ready;

static void crc_init(void)
{
    for (unsigned i = 0; i < 256; i++) {
        uint64_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? (c >> 1) ^ CRC64_POLY_REFLECTED : c >> 1;
        crc_table[0][i] = c;
    }
    for (unsigned i = 0; i < 256; i++)
        for (int t = 1; t < 8; t++)
            crc_table[t][i] = (crc_table[t - 1][i] >> 8) ^ crc_table[0][crc_table[t - 1][i] & 0xff];
    /* Benign if two threads race here: both write identical values. */
    __atomic_store_n(&crc_ready, 1, __ATOMIC_RELEASE);
}

uint64_t dp_crc64(uint64_t crc, const void *p, size_t n)
{
    const unsigned char *s = p;
    if (!__atomic_load_n(&crc_ready, __ATOMIC_ACQUIRE))
        crc_init();
    while (n >= 8) {
        uint64_t w = crc ^ ((uint64_t)s[0] | (uint64_t)s[1] << 8 | (uint64_t)s[2] << 16 | (uint64_t)s[3] << 24 |
                            (uint64_t)s[4] << 32 | (uint64_t)s[5] << 40 | (uint64_t)s[6] << 48 |
                            (uint64_t)s[7] << 56);
        crc = crc_table[7][w & 0xff] ^ crc_table[6][(w >> 8) & 0xff] ^ crc_table[5][(w >> 16) & 0xff] ^
              crc_table[4][(w >> 24) & 0xff] ^ crc_table[3][(w >> 32) & 0xff] ^ crc_table[2][(w >> 40) & 0xff] ^
              crc_table[1][(w >> 48) & 0xff] ^ crc_table[0][w >> 56];
        s += 8;
        n -= 8;
    }
    while (n--)
        crc = crc_table[0][(crc ^ *s++) & 0xff] ^ (crc >> 8);
    return crc;
}

void dp_rdb_check_init(dp_rdb_check *c)
{
    memset(c, 0, sizeof *c);
    c->version = -1;
}

static void check_header(dp_rdb_check *c)
{
    const unsigned char *h = c->head;
    if (memcmp(h, "REDIS", 5) != 0) {
        c->bad_header = 1;
        return;
    }
    int v = 0;
    for (int i = 5; i < 9; i++) {
        if (h[i] < '0' || h[i] > '9') {
            c->bad_header = 1;
            return;
        }
        v = v * 10 + (h[i] - '0');
    }
    c->version = v;
}

int dp_rdb_check_feed(dp_rdb_check *c, const void *p, size_t n)
{
    const unsigned char *s = p;
    if (c->total < 9) {
        size_t k = 9 - (size_t)c->total < n ? 9 - (size_t)c->total : n;
        memcpy(c->head + c->total, s, k);
        if (c->total + k == 9)
            check_header(c);
    }
    c->total += n;
    const size_t keep = sizeof c->tail;
    if (n >= keep) {
        /* Everything held back so far, and all but the last `keep` new bytes, are content. */
        c->crc = dp_crc64(c->crc, c->tail, c->ntail);
        c->crc = dp_crc64(c->crc, s, n - keep);
        memcpy(c->tail, s + n - keep, keep);
        c->ntail = keep;
    } else {
        size_t overflow = c->ntail + n > keep ? c->ntail + n - keep : 0;
        c->crc = dp_crc64(c->crc, c->tail, overflow);
        memmove(c->tail, c->tail + overflow, c->ntail - overflow);
        c->ntail -= overflow;
        memcpy(c->tail + c->ntail, s, n);
        c->ntail += n;
    }
    return c->bad_header ? -1 : 0;
}

int dp_rdb_check_finish(const dp_rdb_check *c)
{
    if (c->total < 9)
        return c->total && memcmp(c->head, "REDIS", c->total < 5 ? (size_t)c->total : 5) != 0 ? DP_RDB_BAD_HEADER
                                                                                                : DP_RDB_TRUNCATED;
    if (c->bad_header)
        return DP_RDB_BAD_HEADER;
    if (c->total < 18 || c->ntail != 9)
        return DP_RDB_TRUNCATED;
    /* Version 5+ ends with the EOF opcode 0xff and the crc64 of everything before the checksum,
     * the opcode included. Older versions end with the opcode alone. */
    if (c->version < 5)
        return c->tail[8] == 0xff ? DP_RDB_OK_NO_CHECKSUM : DP_RDB_TRUNCATED;
    if (c->tail[0] != 0xff)
        return DP_RDB_TRUNCATED;
    uint64_t want = 0;
    for (int i = 8; i >= 1; i--)
        want = (want << 8) | c->tail[i];
    if (want == 0)
        return DP_RDB_OK_NO_CHECKSUM;
    uint64_t got = dp_crc64(c->crc, c->tail, 1);
    return got == want ? DP_RDB_OK : DP_RDB_BAD_CHECKSUM;
}

const char *dp_rdb_check_strerror(int verdict)
{
    switch (verdict) {
    case DP_RDB_OK: return "valid";
    case DP_RDB_OK_NO_CHECKSUM: return "valid (written without a checksum)";
    case DP_RDB_BAD_HEADER: return "not an rdb file (bad header)";
    case DP_RDB_TRUNCATED: return "truncated rdb (no end-of-file marker)";
    case DP_RDB_BAD_CHECKSUM: return "rdb checksum mismatch (corrupt or truncated)";
    default: return "unknown rdb verdict";
    }
}

int dp_redis_line_feed(char *line, size_t cap, size_t *n, char ch)
{
    if (ch == '\n') {
        if (*n == 0)
            return 0; /* keepalive */
        if (line[*n - 1] == '\r')
            (*n)--;
        line[*n] = 0;
        return 1;
    }
    if (*n + 1 >= cap)
        return -1;
    line[(*n)++] = ch;
    return 0;
}

int dp_redis_sync_reply(const char *line, unsigned long long *len)
{
    if (line[0] == '-')
        return DP_SYNC_REFUSED;
    if (!strncmp(line, "$EOF:", 5))
        return DP_SYNC_DISKLESS;
    /* digits only: strtoull would take "-1" (a RESP null) as 2^64-1, and white space or a sign */
    if (line[0] != '$' || line[1] < '0' || line[1] > '9')
        return DP_SYNC_BAD;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(line + 1, &end, 10);
    if (errno || end == line + 1 || *end)
        return DP_SYNC_BAD;
    *len = v;
    return DP_SYNC_BULK;
}

long long dp_redis_info_field(const char *info, const char *field)
{
    size_t fl = strlen(field);
    for (const char *p = info; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
        if (!strncmp(p, field, fl) && p[fl] == ':') {
            if (!strncmp(p + fl + 1, "ok", 2))
                return 1;
            if (!strncmp(p + fl + 1, "err", 3))
                return 0;
            return strtoll(p + fl + 1, NULL, 10);
        }
    }
    return -1;
}
