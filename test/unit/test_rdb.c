/* test_rdb.c - Redis CRC-64 and the streaming RDB checker. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "source/rdb.h"

static void test_crc64_vector(void **state)
{
    (void)state;
    /* Redis's own test vector (src/crc64.c). */
    assert_true(dp_crc64(0, "123456789", 9) == UINT64_C(0xe9c6d914c4b8d9ca));
    /* Chained calls equal one call, across the 8-byte fast path boundary. */
    const char *s = "This is a longer string spanning several eight-byte words.";
    uint64_t one = dp_crc64(0, s, strlen(s));
    for (size_t cut = 0; cut <= strlen(s); cut++)
        assert_true(dp_crc64(dp_crc64(0, s, cut), s + cut, strlen(s) - cut) == one);
    assert_true(dp_crc64(0, "", 0) == 0);
}

/* A minimal RDB: header, a db selector, one string key, EOF opcode, crc64 little-endian. */
static size_t make_rdb(unsigned char *out, int with_crc)
{
    static const unsigned char body[] = {'R', 'E', 'D', 'I', 'S', '0', '0', '1', '1', 0xfe, 0x00, 0x00,
                                         0x01, 'k', 0x01, 'v', 0xff};
    memcpy(out, body, sizeof body);
    uint64_t crc = with_crc ? dp_crc64(0, body, sizeof body) : 0;
    for (int i = 0; i < 8; i++)
        out[sizeof body + i] = (unsigned char)(crc >> (8 * i));
    return sizeof body + 8;
}

static int check_chunked(const unsigned char *p, size_t n, size_t chunk)
{
    dp_rdb_check c;
    dp_rdb_check_init(&c);
    for (size_t off = 0; off < n; off += chunk) {
        size_t k = n - off < chunk ? n - off : chunk;
        dp_rdb_check_feed(&c, p + off, k);
    }
    return dp_rdb_check_finish(&c);
}

static void test_valid_any_chunking(void **state)
{
    (void)state;
    unsigned char rdb[64];
    size_t n = make_rdb(rdb, 1);
    for (size_t chunk = 1; chunk <= n; chunk++)
        assert_int_equal(check_chunked(rdb, n, chunk), DP_RDB_OK);
    n = make_rdb(rdb, 0);
    assert_int_equal(check_chunked(rdb, n, 3), DP_RDB_OK_NO_CHECKSUM);
}

static void test_corrupt_and_truncated(void **state)
{
    (void)state;
    unsigned char rdb[64];
    size_t n = make_rdb(rdb, 1);
    /* Every truncation is rejected. */
    for (size_t len = 0; len < n; len++) {
        int v = check_chunked(rdb, len, 4);
        assert_true(v == DP_RDB_TRUNCATED || v == DP_RDB_BAD_CHECKSUM);
    }
    /* One flipped bit anywhere in the content or checksum. */
    for (size_t i = 9; i < n; i++) {
        unsigned char bad[64];
        memcpy(bad, rdb, n);
        bad[i] ^= 0x10;
        int v = check_chunked(bad, n, 5);
        assert_true(v == DP_RDB_BAD_CHECKSUM || v == DP_RDB_TRUNCATED);
    }
    /* Not an RDB at all: the feed itself says so once 9 bytes were seen. */
    dp_rdb_check c;
    dp_rdb_check_init(&c);
    assert_int_equal(dp_rdb_check_feed(&c, "REDIS", 5), 0);
    assert_int_equal(dp_rdb_check_feed(&c, "00x1", 4), -1);
    assert_int_equal(dp_rdb_check_finish(&c), DP_RDB_BAD_HEADER);
    assert_int_equal(check_chunked((const unsigned char *)"PGDMP", 5, 5), DP_RDB_BAD_HEADER);
    assert_string_equal(dp_rdb_check_strerror(DP_RDB_BAD_CHECKSUM), "rdb checksum mismatch (corrupt or truncated)");
}

/* Reply lines as redis.c reads them from the socket: keepalives skipped, CR dropped, bounded. */
static void test_reply_lines(void **state)
{
    const char *in = "\n\n$520\r\nREDIS";
    char line[8];
    size_t n = 0, i = 0;
    int done = 0;
    while (!done)
        done = dp_redis_line_feed(line, sizeof line, &n, in[i++]);
    assert_int_equal(done, 1);
    assert_string_equal(line, "$520");
    assert_int_equal(i, 8); /* nothing after the line was taken */
    n = 0;
    for (i = 0; i < 7; i++)
        assert_int_equal(dp_redis_line_feed(line, sizeof line, &n, 'x'), 0);
    assert_int_equal(dp_redis_line_feed(line, sizeof line, &n, 'x'), -1); /* 8 bytes do not fit with the NUL */
    n = 0;
    assert_int_equal(dp_redis_line_feed(line, sizeof line, &n, '\r'), 0);
    assert_int_equal(dp_redis_line_feed(line, sizeof line, &n, '\n'), 1);
    assert_string_equal(line, "");
}

static void test_sync_reply(void **state)
{
    unsigned long long len = 7;
    assert_int_equal(dp_redis_sync_reply("$520", &len), DP_SYNC_BULK);
    assert_int_equal(len, 520);
    assert_int_equal(dp_redis_sync_reply("$0", &len), DP_SYNC_BULK);
    assert_int_equal(len, 0);
    assert_int_equal(dp_redis_sync_reply("-NOPERM this user has no permissions", &len), DP_SYNC_REFUSED);
    assert_int_equal(dp_redis_sync_reply("$EOF:0123456789abcdef0123456789abcdef01234567", &len), DP_SYNC_DISKLESS);
    assert_int_equal(dp_redis_sync_reply("+FULLRESYNC 3e2a61a0 622", &len), DP_SYNC_BAD);
    assert_int_equal(dp_redis_sync_reply("$", &len), DP_SYNC_BAD);
    assert_int_equal(dp_redis_sync_reply("$12x", &len), DP_SYNC_BAD);
    assert_int_equal(dp_redis_sync_reply("$18446744073709551616", &len), DP_SYNC_BAD);
    assert_int_equal(dp_redis_sync_reply("", &len), DP_SYNC_BAD);
    /* found by fuzz_rdb: strtoull takes a sign and white space, so "$-1" (a RESP null) was a
     * snapshot of 2^64-1 bytes, read until the server hung up */
    assert_int_equal(dp_redis_sync_reply("$-1", &len), DP_SYNC_BAD);
    assert_int_equal(dp_redis_sync_reply("$-50", &len), DP_SYNC_BAD);
    assert_int_equal(dp_redis_sync_reply("$+5", &len), DP_SYNC_BAD);
    assert_int_equal(dp_redis_sync_reply("$ 5", &len), DP_SYNC_BAD);
    assert_int_equal(dp_redis_sync_reply("$\t5", &len), DP_SYNC_BAD);
}

static void test_info_field(void **state)
{
    const char *info = "# Persistence\r\nloading:0\r\nrdb_bgsave_in_progress:1\r\nrdb_last_bgsave_status:ok\r\n"
                       "rdb_last_save_time:1764761585\r\nrdb_x:err\r\n";
    assert_int_equal(dp_redis_info_field(info, "rdb_bgsave_in_progress"), 1);
    assert_int_equal(dp_redis_info_field(info, "rdb_last_bgsave_status"), 1);
    assert_int_equal(dp_redis_info_field(info, "rdb_x"), 0);
    assert_int_equal(dp_redis_info_field(info, "rdb_last_save_time"), 1764761585LL);
    assert_int_equal(dp_redis_info_field(info, "rdb_last"), -1);
    assert_int_equal(dp_redis_info_field(info, "absent"), -1);
    assert_int_equal(dp_redis_info_field("", "loading"), -1);
}

/* ---- the key counter ---- */

/* An RDB of version 10: header, body, EOF opcode, a checksum (not checked by the walk). */
static size_t rdb_of(unsigned char *out, const unsigned char *body, size_t n)
{
    memcpy(out, "REDIS0010", 9);
    memcpy(out + 9, body, n);
    out[9 + n] = 0xff;
    memset(out + 10 + n, 0xab, 8);
    return n + 18;
}

/* Walk p in pieces of `chunk` bytes; the verdict of finish (or -1 from a feed). */
static int walk(dp_rdb_keys *k, const unsigned char *p, size_t n, size_t chunk)
{
    dp_rdb_keys_init(k);
    for (size_t off = 0; off < n; off += chunk) {
        size_t c = n - off < chunk ? n - off : chunk;
        if (dp_rdb_keys_feed(k, p + off, c) < 0)
            return -1;
    }
    return dp_rdb_keys_finish(k);
}

static uint64_t keys_of(const dp_rdb_keys *k, size_t db) { return db < k->ndb ? k->keys[db] : 0; }

static void test_keys_types(void **state)
{
    (void)state;
    /* aux field; db 0: a plain string, an integer string, an LZF string (compressed length 2, expands
     * to 5), a list of 2, a set of 1, a zset (old format: "1", +inf), a zset2, a hash, an empty list
     * (not counted: Redis skips it), a quicklist2 node, a ziplist blob, a module2 value (11 keys);
     * expiry and LRU/LFU opcodes before keys; a resize hint; db 2, written with a 32-bit length: one
     * key whose name has a 64-bit length; module aux data and a function library (no keys) */
    static const unsigned char body[] = {
        0xfa, 0x03, 'v', 'e', 'r', 0x01, '7',                                /* aux */
        0xfe, 0x00, 0xfb, 0x05, 0x01,                                         /* db 0, resize */
        0x00, 0x01, 'a', 0x02, 'h', 'i',                                      /* "a" = "hi" */
        0xfc, 1, 2, 3, 4, 5, 6, 7, 8, 0xf8, 0x05, 0xf9, 0x07,                 /* expire ms, idle, freq */
        0x00, 0x01, 'b', 0xc1, 0x39, 0x30,                                    /* "b" = int16 12345 */
        0x00, 0x01, 'c', 0xc3, 0x02, 0x05, 0x00, 0x00,                        /* "c" = LZF */
        0x01, 0x01, 'l', 0x02, 0x01, 'x', 0x01, 'y',                          /* list */
        0x02, 0x01, 's', 0x01, 0xc0, 0x07,                                    /* set {int8 7} */
        0x03, 0x01, 'z', 0x02, 0x01, 'm', 0x01, '1', 0x01, 'n', 0xfe,         /* zset old: m=1, n=+inf */
        0x05, 0x01, 'y', 0x01, 0x01, 'm', 1, 2, 3, 4, 5, 6, 7, 8,             /* zset2 */
        0x04, 0x01, 'h', 0x01, 0x01, 'f', 0x01, 'v',                          /* hash */
        0x01, 0x01, 'e', 0x00,                                                /* empty list */
        0x12, 0x01, 'q', 0x01, 0x02, 0x03, 'a', 'b', 'c',                     /* quicklist2 */
        0x0d, 0x01, 'p', 0x40, 0x03, 'z', 'z', 'z',                           /* ziplist, 14-bit len */
        0x07, 0x01, 'm', 0x05, 0x02, 0x09, 0x04, 1, 2, 3, 4, 5, 6, 7, 8, 0x05, 0x01, 'x', 0x00, /* module2 */
        0xfd, 1, 2, 3, 4,                                                     /* expire s */
        0xfe, 0x80, 0x00, 0x00, 0x00, 0x02,                                   /* db 2 (32-bit length) */
        0x00, 0x81, 0, 0, 0, 0, 0, 0, 0, 0x01, 'k', 0x00,                     /* "k" = "" */
        0xf7, 0x01, 0x02, 0x02, 0x05, 0x01, 'x', 0x00,                        /* module aux */
        0xf5, 0x02, 'f', 'n',                                                 /* function */
    };
    unsigned char rdb[512];
    size_t n = rdb_of(rdb, body, sizeof body);
    dp_rdb_keys k;
    for (size_t chunk = 1; chunk <= n; chunk++) {
        assert_int_equal(walk(&k, rdb, n, chunk), 0);
        assert_true(k.done);
        assert_int_equal(k.total, 12);
        assert_int_equal(keys_of(&k, 0), 11);
        assert_int_equal(keys_of(&k, 1), 0);
        assert_int_equal(keys_of(&k, 2), 1);
        assert_int_equal(k.ndb, 3);
        dp_rdb_keys_free(&k);
    }
}

static void test_keys_stream(void **state)
{
    (void)state;
    /* listpacks 3 (first id, max deleted id, entries added; entries read; active time): one node,
     * one group with one pending entry and one consumer owning it */
    unsigned char body[256];
    size_t n = 0;
    static const unsigned char head[] = {0x15, 0x01, 's', 0x01, 0x02, 'i', 'd', 0x02, 'l', 'p',
                                         0x01, 0x05, 0x06, 0x05, 0x06, 0x00, 0x00, 0x01,    /* 8 lengths */
                                         0x01, 0x01, 'g', 0x05, 0x06, 0x01, 0x01};          /* group, 1 pending */
    memcpy(body, head, sizeof head);
    n = sizeof head;
    memset(body + n, 0x11, 24); /* id, delivery time */
    n += 24;
    body[n++] = 0x01;            /* delivery count */
    body[n++] = 0x01;            /* 1 consumer */
    body[n++] = 0x01;
    body[n++] = 'c';
    memset(body + n, 0x22, 16);  /* seen and active time */
    n += 16;
    body[n++] = 0x01;            /* its pending ids */
    memset(body + n, 0x33, 16);
    n += 16;
    /* an emptied stream of the first format: counted (a stream may be empty) */
    static const unsigned char empty[] = {0x0f, 0x01, 't', 0x00, 0x00, 0x05, 0x06, 0x00};
    memcpy(body + n, empty, sizeof empty);
    n += sizeof empty;
    unsigned char rdb[512];
    size_t len = rdb_of(rdb, body, n);
    dp_rdb_keys k;
    for (size_t chunk = 1; chunk <= len; chunk += 3) {
        assert_int_equal(walk(&k, rdb, len, chunk), 0);
        assert_int_equal(keys_of(&k, 0), 2);
        dp_rdb_keys_free(&k);
    }
    /* one byte short inside the stream: no verdict but "ends before" */
    assert_int_equal(walk(&k, rdb, 9 + n - 1, 5), -1);
    assert_string_equal(k.why, "the rdb file ends before its end-of-file opcode");
    dp_rdb_keys_free(&k);
}

static void test_keys_limits(void **state)
{
    (void)state;
    dp_rdb_keys k;
    unsigned char rdb[64];
    /* the highest database index taken (9999 = 0x270f, a 14-bit length), and one past it */
    static const unsigned char at[] = {0xfe, 0x67, 0x0f, 0x00, 0x01, 'k', 0x01, 'v'};
    size_t n = rdb_of(rdb, at, sizeof at);
    assert_int_equal(walk(&k, rdb, n, 4), 0);
    assert_int_equal(k.ndb, DP_RDB_MAX_DB);
    assert_int_equal(keys_of(&k, DP_RDB_MAX_DB - 1), 1);
    dp_rdb_keys_free(&k);
    static const unsigned char past[] = {0xfe, 0x67, 0x10, 0x00, 0x01, 'k', 0x01, 'v'};
    n = rdb_of(rdb, past, sizeof past);
    assert_int_equal(walk(&k, rdb, n, 4), -1);
    assert_string_equal(k.why, "database index 10000 (at most 9999)");
    assert_int_equal(dp_rdb_keys_finish(&k), -1);
    dp_rdb_keys_free(&k);
    /* what it does not know or cannot follow: gives up, never guesses */
    static const struct {
        unsigned char body[8];
        size_t n;
        const char *why;
    } bad[] = {
        {{0x06, 0x01, 'k', 0x01}, 4, "rdb type 6 is not known to this version"},
        {{0x18, 0x01, 'k', 0x01}, 4, "rdb type 24 is not known to this version"},
        {{0xf6, 0x01}, 2, "rdb type 246 is not known to this version"},
        {{0x00, 0x82, 'k'}, 3, "unknown length encoding 0x82"},
        {{0x00, 0xc4, 'k'}, 3, "unknown string encoding 4"},
        {{0x01, 0x01, 'k', 0xc0, 0x01}, 5, "an encoded value where a length belongs"},
        {{0x07, 0x01, 'k', 0x01, 0x06}, 5, "unknown module opcode 6"},
        {{0xf7, 0x01, 0x01}, 3, "bad module aux data"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        n = rdb_of(rdb, bad[i].body, bad[i].n);
        assert_int_equal(walk(&k, rdb, n, 1), -1);
        assert_string_equal(k.why, bad[i].why);
        dp_rdb_keys_free(&k);
    }
    /* bytes after the checksum */
    static const unsigned char one[] = {0x00, 0x01, 'k', 0x01, 'v'};
    n = rdb_of(rdb, one, sizeof one);
    rdb[n++] = 0;
    assert_int_equal(walk(&k, rdb, n, 3), -1);
    assert_string_equal(k.why, "data after the end of the rdb file");
    dp_rdb_keys_free(&k);
    /* not an rdb; an old version without a checksum after the EOF opcode */
    assert_int_equal(walk(&k, (const unsigned char *)"REDIX0010\xff", 10, 2), -1);
    assert_string_equal(k.why, "not an rdb file");
    dp_rdb_keys_free(&k);
    assert_int_equal(walk(&k, (const unsigned char *)"REDIS0004\x00\x01k\x01v\xff", 15, 2), 0);
    assert_int_equal(keys_of(&k, 0), 1);
    dp_rdb_keys_free(&k);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc64_vector),
        cmocka_unit_test(test_valid_any_chunking),
        cmocka_unit_test(test_corrupt_and_truncated),
        cmocka_unit_test(test_reply_lines),
        cmocka_unit_test(test_sync_reply),
        cmocka_unit_test(test_info_field),
        cmocka_unit_test(test_keys_types),
        cmocka_unit_test(test_keys_stream),
        cmocka_unit_test(test_keys_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
