/* rdb.c - Redis's CRC-64 and the streaming RDB header/trailer checker (see rdb.h). */
#include "source/rdb.h"

#include <errno.h>
#include <stdio.h>
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

/* ---- the key counter ----
 *
 * A resumable walk: the parser is one function whose position is kept in k->pc, a line number;
 * RK_AWAIT(step) records where it is, runs a primitive step over the bytes at hand and returns for
 * more when they ran out; the next feed jumps back into the step (a switch over k->pc, the way
 * protothreads do it). So the body reads like the file format. No nested switch in the body: its
 * case labels would belong to that switch. Values are never held: only lengths are read, bytes are
 * skipped. */

#define RK_GIVE_UP(...)                                        \
    do {                                                       \
        snprintf(k->why, sizeof k->why, __VA_ARGS__);          \
        goto give_up;                                          \
    } while (0)

#define RK_AWAIT(step)                                         \
    do {                                                       \
        k->pc = __LINE__;                                      \
        __attribute__((fallthrough));                          \
    case __LINE__:                                             \
        if ((r = (step)) == 0)                                 \
            return 0;                                          \
        if (r < 0)                                             \
            goto give_up;                                      \
    } while (0)

enum {
    OP_SLOT_INFO = 244, OP_FUNCTION2 = 245, OP_FUNCTION_PRE_GA = 246, OP_MODULE_AUX = 247, OP_IDLE = 248,
    OP_FREQ = 249, OP_AUX = 250, OP_RESIZEDB = 251, OP_EXPIRETIME_MS = 252, OP_EXPIRETIME = 253, OP_SELECTDB = 254,
    OP_EOF = 255,
};
enum {
    T_STRING = 0, T_LIST = 1, T_SET = 2, T_ZSET = 3, T_HASH = 4, T_ZSET_2 = 5, T_MODULE = 6, T_MODULE_2 = 7,
    T_HASH_ZIPMAP = 9, T_LIST_ZIPLIST = 10, T_SET_INTSET = 11, T_ZSET_ZIPLIST = 12, T_HASH_ZIPLIST = 13,
    T_LIST_QUICKLIST = 14, T_STREAM_LISTPACKS = 15, T_HASH_LISTPACK = 16, T_ZSET_LISTPACK = 17,
    T_LIST_QUICKLIST_2 = 18, T_STREAM_LISTPACKS_2 = 19, T_SET_LISTPACK = 20, T_STREAM_LISTPACKS_3 = 21,
};

typedef struct {
    const unsigned char *s;
    size_t n;
} rk_in;

/* Take want (<= 9) bytes into k->b. 1 done, 0 more. */
static int rk_take(dp_rdb_keys *k, rk_in *in, size_t want)
{
    size_t c = want - k->have < in->n ? want - k->have : in->n;
    memcpy(k->b + k->have, in->s, c);
    k->have += c;
    in->s += c;
    in->n -= c;
    if (k->have < want)
        return 0;
    k->have = 0;
    return 1;
}

/* Skip k->skip bytes. */
static int rk_skip(dp_rdb_keys *k, rk_in *in)
{
    size_t c = k->skip < in->n ? (size_t)k->skip : in->n;
    k->skip -= c;
    in->s += c;
    in->n -= c;
    return k->skip == 0;
}

/* A length (rdbLoadLen): into k->len; k->enc = 1 for the special encoding 11xxxxxx (its low bits). */
static int rk_len(dp_rdb_keys *k, rk_in *in)
{
    if (k->lstep == 0) {
        if (!rk_take(k, in, 1))
            return 0;
        unsigned char b = k->b[0];
        k->enc = 0;
        switch (b >> 6) {
        case 0: k->len = b & 0x3f; return 1;
        case 3: k->len = b & 0x3f; k->enc = 1; return 1;
        case 1: k->lstep = 2; break;
        default:
            if (b == 0x80)
                k->lstep = 5;
            else if (b == 0x81)
                k->lstep = 9;
            else {
                snprintf(k->why, sizeof k->why, "unknown length encoding 0x%02x", b);
                return -1;
            }
        }
        k->b[0] = b;
        k->have = 1;
    }
    if (!rk_take(k, in, (size_t)k->lstep))
        return 0;
    if (k->lstep == 2) {
        k->len = (uint64_t)(k->b[0] & 0x3f) << 8 | k->b[1];
    } else {
        k->len = 0;
        for (int i = 1; i < k->lstep; i++) /* big-endian */
            k->len = k->len << 8 | k->b[i];
    }
    k->lstep = 0;
    return 1;
}

/* A length that must not have the special encoding. */
static int rk_count(dp_rdb_keys *k, rk_in *in)
{
    int r = rk_len(k, in);
    if (r == 1 && k->enc) {
        snprintf(k->why, sizeof k->why, "an encoded value where a length belongs");
        return -1;
    }
    return r;
}

/* A string (rdbGenericLoadStringObject): skipped. */
static int rk_str(dp_rdb_keys *k, rk_in *in)
{
    for (;;) {
        int r;
        switch (k->sstep) {
        case 0:
            if ((r = rk_len(k, in)) != 1)
                return r;
            if (!k->enc) {
                k->skip = k->len;
                k->sstep = 3;
            } else if (k->len <= 2) { /* an 8, 16 or 32-bit integer */
                k->skip = (uint64_t)1 << k->len;
                k->sstep = 3;
            } else if (k->len == 3) { /* LZF: compressed length, then the length it expands to */
                k->sstep = 1;
            } else {
                snprintf(k->why, sizeof k->why, "unknown string encoding %u", (unsigned)k->len);
                return -1;
            }
            break;
        case 1:
            if ((r = rk_count(k, in)) != 1)
                return r;
            k->skip = k->len;
            k->sstep = 2;
            break;
        case 2:
            if ((r = rk_count(k, in)) != 1)
                return r;
            k->sstep = 3;
            break;
        default:
            if (!rk_skip(k, in))
                return 0;
            k->sstep = 0;
            return 1;
        }
    }
}

/* A module value of the self-describing format (RDB_TYPE_MODULE_2, module aux data): opcodes up to
 * the end opcode 0, skipped like rdbLoadCheckModuleValue does. */
static int rk_module(dp_rdb_keys *k, rk_in *in)
{
    for (;;) {
        int r;
        if (k->mstep == 0) {
            if ((r = rk_count(k, in)) != 1)
                return r;
            k->mop = k->len;
            if (k->mop == 0)
                return 1;
            if (k->mop == 3 || k->mop == 4) {
                k->skip = k->mop == 3 ? 4 : 8; /* float, double */
            } else if (k->mop != 1 && k->mop != 2 && k->mop != 5) {
                snprintf(k->why, sizeof k->why, "unknown module opcode %llu", (unsigned long long)k->mop);
                return -1;
            }
            k->mstep = 1;
        }
        if (k->mop == 1 || k->mop == 2)
            r = rk_count(k, in);
        else if (k->mop == 5)
            r = rk_str(k, in);
        else
            r = rk_skip(k, in);
        if (r != 1)
            return r;
        k->mstep = 0;
    }
}

void dp_rdb_keys_init(dp_rdb_keys *k)
{
    memset(k, 0, sizeof *k);
    k->version = -1;
}

void dp_rdb_keys_free(dp_rdb_keys *k)
{
    free(k->keys);
    k->keys = NULL;
    k->ndb = 0;
}

static int rk_count_key(dp_rdb_keys *k)
{
    if (k->db >= k->ndb) {
        size_t n = (size_t)k->db + 1;
        uint64_t *a = realloc(k->keys, n * sizeof *a);
        if (!a)
            return -1;
        memset(a + k->ndb, 0, (n - k->ndb) * sizeof *a);
        k->keys = a;
        k->ndb = n;
    }
    k->keys[k->db]++;
    k->total++;
    return 0;
}

/* The walk. 0 more bytes please; -1 gave up. */
static int rk_run(dp_rdb_keys *k, rk_in *in)
{
    int r;
    switch (k->pc) {
    case 0:
        RK_AWAIT(rk_take(k, in, 9));
        if (memcmp(k->b, "REDIS", 5) != 0)
            RK_GIVE_UP("not an rdb file");
        k->version = 0;
        for (int i = 5; i < 9; i++) {
            if (k->b[i] < '0' || k->b[i] > '9')
                RK_GIVE_UP("not an rdb file");
            k->version = k->version * 10 + (k->b[i] - '0');
        }
        for (;;) {
            RK_AWAIT(rk_take(k, in, 1));
            k->type = k->b[0];
            if (k->type == OP_EOF) {
                if (k->version >= 5) {
                    k->skip = 8; /* the checksum */
                    RK_AWAIT(rk_skip(k, in));
                }
                k->done = 1;
                k->pc = -1;
                __attribute__((fallthrough));
            case -1:
                if (in->n)
                    RK_GIVE_UP("data after the end of the rdb file");
                return 0;
            } else if (k->type == OP_SELECTDB) {
                RK_AWAIT(rk_count(k, in));
                if (k->len >= DP_RDB_MAX_DB)
                    RK_GIVE_UP("database index %llu (at most %d)", (unsigned long long)k->len, DP_RDB_MAX_DB - 1);
                k->db = k->len;
            } else if (k->type == OP_EXPIRETIME || k->type == OP_EXPIRETIME_MS) {
                k->skip = k->type == OP_EXPIRETIME ? 4 : 8;
                RK_AWAIT(rk_skip(k, in));
            } else if (k->type == OP_RESIZEDB) {
                RK_AWAIT(rk_count(k, in));
                RK_AWAIT(rk_count(k, in));
            } else if (k->type == OP_AUX) {
                RK_AWAIT(rk_str(k, in));
                RK_AWAIT(rk_str(k, in));
            } else if (k->type == OP_FREQ) {
                k->skip = 1;
                RK_AWAIT(rk_skip(k, in));
            } else if (k->type == OP_IDLE) {
                RK_AWAIT(rk_count(k, in));
            } else if (k->type == OP_MODULE_AUX) {
                RK_AWAIT(rk_count(k, in)); /* module id */
                RK_AWAIT(rk_count(k, in)); /* when_opcode: an unsigned integer */
                if (k->len != 2)
                    RK_GIVE_UP("bad module aux data");
                RK_AWAIT(rk_count(k, in)); /* when */
                RK_AWAIT(rk_module(k, in));
            } else if (k->type == OP_FUNCTION2) {
                RK_AWAIT(rk_str(k, in));
            } else if (k->type == OP_SLOT_INFO) {
                RK_AWAIT(rk_count(k, in));
                RK_AWAIT(rk_count(k, in));
                RK_AWAIT(rk_count(k, in));
            } else if (k->type == T_MODULE || k->type == OP_FUNCTION_PRE_GA ||
                       (k->type > T_STREAM_LISTPACKS_3 && k->type < OP_SLOT_INFO) || k->type == 8) {
                RK_GIVE_UP("rdb type %d is not known to this version", k->type);
            } else {
                /* a key and its value */
                RK_AWAIT(rk_str(k, in));
                k->n4 = 1; /* counted unless a container turns out empty */
                if (k->type == T_LIST || k->type == T_SET || k->type == T_LIST_QUICKLIST) {
                    RK_AWAIT(rk_count(k, in));
                    for (k->n1 = k->len, k->n4 = k->n1 != 0; k->n1; k->n1--)
                        RK_AWAIT(rk_str(k, in));
                } else if (k->type == T_HASH) {
                    RK_AWAIT(rk_count(k, in));
                    for (k->n1 = k->len, k->n4 = k->n1 != 0; k->n1; k->n1--) {
                        RK_AWAIT(rk_str(k, in));
                        RK_AWAIT(rk_str(k, in));
                    }
                } else if (k->type == T_ZSET || k->type == T_ZSET_2) {
                    RK_AWAIT(rk_count(k, in));
                    for (k->n1 = k->len, k->n4 = k->n1 != 0; k->n1; k->n1--) {
                        RK_AWAIT(rk_str(k, in));
                        if (k->type == T_ZSET_2) {
                            k->skip = 8; /* a binary double */
                        } else {
                            RK_AWAIT(rk_take(k, in, 1)); /* a double as text: its length, or nan/+inf/-inf */
                            k->skip = k->b[0] < 253 ? k->b[0] : 0;
                        }
                        RK_AWAIT(rk_skip(k, in));
                    }
                } else if (k->type == T_LIST_QUICKLIST_2) {
                    RK_AWAIT(rk_count(k, in));
                    for (k->n1 = k->len, k->n4 = k->n1 != 0; k->n1; k->n1--) {
                        RK_AWAIT(rk_count(k, in)); /* the node's container */
                        RK_AWAIT(rk_str(k, in));
                    }
                } else if (k->type == T_MODULE_2) {
                    RK_AWAIT(rk_count(k, in)); /* module id */
                    RK_AWAIT(rk_module(k, in));
                } else if (k->type == T_STREAM_LISTPACKS || k->type == T_STREAM_LISTPACKS_2 ||
                           k->type == T_STREAM_LISTPACKS_3) {
                    RK_AWAIT(rk_count(k, in));
                    for (k->n1 = k->len; k->n1; k->n1--) {
                        RK_AWAIT(rk_str(k, in)); /* the node's master id */
                        RK_AWAIT(rk_str(k, in)); /* its listpack */
                    }
                    /* length, last id; since listpacks 2: first id, max deleted id, entries added */
                    for (k->n1 = k->type == T_STREAM_LISTPACKS ? 3 : 8; k->n1; k->n1--)
                        RK_AWAIT(rk_count(k, in));
                    RK_AWAIT(rk_count(k, in));
                    for (k->n1 = k->len; k->n1; k->n1--) { /* consumer groups */
                        RK_AWAIT(rk_str(k, in));
                        for (k->n2 = k->type == T_STREAM_LISTPACKS ? 2 : 3; k->n2; k->n2--)
                            RK_AWAIT(rk_count(k, in)); /* last id; entries read */
                        RK_AWAIT(rk_count(k, in));
                        for (k->n2 = k->len; k->n2; k->n2--) { /* pending entries: id, delivery time, count */
                            k->skip = 24;
                            RK_AWAIT(rk_skip(k, in));
                            RK_AWAIT(rk_count(k, in));
                        }
                        RK_AWAIT(rk_count(k, in));
                        for (k->n2 = k->len; k->n2; k->n2--) { /* consumers */
                            RK_AWAIT(rk_str(k, in));
                            k->skip = k->type == T_STREAM_LISTPACKS_3 ? 16 : 8; /* seen (and active) time */
                            RK_AWAIT(rk_skip(k, in));
                            RK_AWAIT(rk_count(k, in));
                            for (k->n3 = k->len; k->n3; k->n3--) { /* its pending ids */
                                k->skip = 16;
                                RK_AWAIT(rk_skip(k, in));
                            }
                        }
                    }
                    k->n4 = 1; /* a stream may be empty */
                } else {
                    RK_AWAIT(rk_str(k, in)); /* string, ziplist, intset, listpack, zipmap */
                }
                if (k->n4 && rk_count_key(k))
                    RK_GIVE_UP("out of memory");
            }
        }
    default:
        break;
    }
give_up:
    if (!k->why[0])
        snprintf(k->why, sizeof k->why, "malformed rdb");
    k->failed = 1;
    return -1;
}

int dp_rdb_keys_feed(dp_rdb_keys *k, const void *p, size_t n)
{
    if (k->failed)
        return -1;
    rk_in in = {p, n};
    return rk_run(k, &in);
}

int dp_rdb_keys_finish(dp_rdb_keys *k)
{
    if (k->failed)
        return -1;
    if (!k->done) {
        snprintf(k->why, sizeof k->why, "the rdb file ends before its end-of-file opcode");
        k->failed = 1;
        return -1;
    }
    return 0;
}
