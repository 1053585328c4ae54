/* test_bech32.c - Bech32 against BIP-173's test vectors (every valid and invalid string of the
 * "Test vectors" section of https://github.com/bitcoin/bips/blob/master/bip-0173.mediawiki), plus
 * age's key forms: encode/decode round trips, case rules, padding. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "crypto/bech32.h"

static void test_bip173_valid(void **state)
{
    static const char *valid[] = {
        "A12UEL5L",
        "a12uel5l",
        "an83characterlonghumanreadablepartthatcontainsthenumber1andtheexcludedcharactersbio1tt5tgs",
        "abcdef1qpzry9x8gf2tvdw0s3jn54khce6mua7lmqqqxw",
        "11qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqc8247j",
        "split1checkupstagehandshakeupstreamerranterredcaperred2y9e3w",
        "?1ezyfcl",
    };
    for (size_t i = 0; i < sizeof valid / sizeof valid[0]; i++) {
        char hrp[100];
        uint8_t d[100];
        size_t n = 0;
        const char *why = NULL;
        if (dp_bech32_decode5(valid[i], hrp, sizeof hrp, d, &n, sizeof d, &why))
            fail_msg("'%s' should be valid: %s", valid[i], why);
        /* the human-readable part comes back lower case */
        size_t hl = (size_t)(strrchr(valid[i], '1') - valid[i]);
        assert_int_equal(strlen(hrp), hl);
        assert_int_equal(n, strlen(valid[i]) - hl - 1 - 6);
        for (size_t k = 0; k < hl; k++)
            assert_true(hrp[k] == valid[i][k] || hrp[k] == valid[i][k] + 32);
    }
    /* the byte-level forms that convert: decode and encode again (lower case) */
    static const char *bytes_ok[] = {"a12uel5l", "abcdef1qpzry9x8gf2tvdw0s3jn54khce6mua7lmqqqxw",
                                     "11qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqc8247j"};
    for (size_t i = 0; i < sizeof bytes_ok / sizeof bytes_ok[0]; i++) {
        char hrp[100], back[100];
        uint8_t d[100];
        size_t n = 0;
        const char *why = NULL;
        if (dp_bech32_decode(bytes_ok[i], hrp, sizeof hrp, d, &n, sizeof d, &why))
            fail_msg("'%s' should convert: %s", bytes_ok[i], why);
        assert_int_equal(dp_bech32_encode(hrp, d, n, 0, back, sizeof back), 0);
        assert_string_equal(back, bytes_ok[i]);
    }
    char hrp[10];
    uint8_t d[10];
    size_t n;
    const char *why;
    assert_int_equal(dp_bech32_decode("A12UEL5L", hrp, sizeof hrp, d, &n, sizeof d, &why), 0);
    assert_string_equal(hrp, "a");
    assert_int_equal(n, 0);
}

static void test_bip173_invalid(void **state)
{
    static const struct {
        const char *s, *why;
    } invalid[] = {
        {"\x20" "1nwldj5", "invalid character"},          /* HRP character out of range */
        {"\x7f" "1axkwrx", "invalid character"},          /* HRP character out of range */
        {"\x80" "1eym55h", "invalid character"},          /* HRP character out of range */
        {"an84characterslonghumanreadablepartthatcontainsthenumber1andtheexcludedcharactersbio1569pvx",
         "longer than 90 characters"},                     /* overall max length exceeded */
        {"pzry9x0s0muk", "no separator '1'"},             /* no separator character */
        {"1pzry9x0s0muk", "human-readable part of invalid length"}, /* empty HRP */
        {"x1b4n0q5v", "invalid character in the data part"},        /* invalid data character */
        {"li1dgmt3", "data part too short"},              /* too short checksum */
        {"de1lg7wt\xff", "invalid character"},            /* invalid character in checksum */
        {"A1G7SGD8", "invalid checksum"},                 /* checksum calculated with uppercase form of HRP */
        {"10a06t8", "human-readable part of invalid length"}, /* empty HRP */
        {"1qzzfhee", "human-readable part of invalid length"}, /* empty HRP */
        /* and */
        {"split1checkupstagehandshakeupstreamerranterredcaperred2y9e2w", "invalid checksum"},
        {"s lit1checkupstagehandshakeupstreamerranterredcaperredp8hs2p", "invalid character"},
        {"split1cheo2y9e2w", "invalid character in the data part"},
        {"split1a2y9w", "data part too short"},
        {"A12uEL5L", "mixed case"},
    };
    for (size_t i = 0; i < sizeof invalid / sizeof invalid[0]; i++) {
        char hrp[100];
        uint8_t d[100];
        size_t n = 99;
        const char *why = NULL;
        if (dp_bech32_decode5(invalid[i].s, hrp, sizeof hrp, d, &n, sizeof d, &why) == 0)
            fail_msg("vector %zu should be invalid", i);
        assert_string_equal(why, invalid[i].why);
        assert_int_equal(n, 0);
    }
}

static void test_padding(void **state)
{
    /* valid checksums whose 5-bit data do not convert to bytes: 5 bits (a whole group of padding),
     * 10 bits ending in non-zero padding; then 10 bits with zero padding (one byte) */
    char hrp[100];
    uint8_t d[100];
    size_t n;
    const char *why = NULL;
    assert_int_equal(dp_bech32_decode("age1psm9pam", hrp, sizeof hrp, d, &n, sizeof d, &why), -1);
    assert_string_equal(why, "invalid padding");
    assert_int_equal(dp_bech32_decode("age1qpu0j2ex", hrp, sizeof hrp, d, &n, sizeof d, &why), -1);
    assert_string_equal(why, "non-zero padding");
    assert_int_equal(dp_bech32_decode("age1qqpexly5", hrp, sizeof hrp, d, &n, sizeof d, &why), 0);
    assert_int_equal(n, 1);
    assert_int_equal(d[0], 0);
    /* every length of bytes round-trips */
    for (size_t len = 0; len <= 40; len++) {
        uint8_t in[40], out[40];
        char s[100], h2[100];
        for (size_t i = 0; i < len; i++)
            in[i] = (uint8_t)(i * 37 + len);
        assert_int_equal(dp_bech32_encode("age", in, len, 0, s, sizeof s), 0);
        assert_int_equal(dp_bech32_decode(s, h2, sizeof h2, out, &n, sizeof out, &why), 0);
        assert_string_equal(h2, "age");
        assert_int_equal(n, len);
        assert_memory_equal(in, out, len);
        /* upper case decodes the same */
        assert_int_equal(dp_bech32_encode("age", in, len, 1, s, sizeof s), 0);
        assert_true(strncmp(s, "AGE1", 4) == 0);
        assert_int_equal(dp_bech32_decode(s, h2, sizeof h2, out, &n, sizeof out, &why), 0);
        assert_memory_equal(in, out, len);
    }
    /* an output buffer one byte short, a human-readable part with an upper-case letter */
    uint8_t k[32] = {1};
    char s[62];
    assert_int_equal(dp_bech32_encode("age", k, 32, 0, s, sizeof s), -1);
    char s2[63];
    assert_int_equal(dp_bech32_encode("age", k, 32, 0, s2, sizeof s2), 0);
    assert_int_equal(strlen(s2), 62);
    assert_int_equal(dp_bech32_encode("Age", k, 32, 0, s2, sizeof s2), -1);
    /* too long for 90 characters */
    uint8_t big[60] = {0};
    char s3[200];
    assert_int_equal(dp_bech32_encode("age", big, 60, 0, s3, sizeof s3), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bip173_valid),
        cmocka_unit_test(test_bip173_invalid),
        cmocka_unit_test(test_padding),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
