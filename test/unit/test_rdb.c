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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc64_vector),
        cmocka_unit_test(test_valid_any_chunking),
        cmocka_unit_test(test_corrupt_and_truncated),
        cmocka_unit_test(test_reply_lines),
        cmocka_unit_test(test_sync_reply),
        cmocka_unit_test(test_info_field),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
