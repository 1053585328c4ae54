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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc64_vector),
        cmocka_unit_test(test_valid_any_chunking),
        cmocka_unit_test(test_corrupt_and_truncated),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
