/*
 * bech32.c - BIP-173 Bech32, written from the specification (polymod, hrp expansion, bit
 * conversion). Hand-written because no library we link provides it; test/unit/test_bech32.c runs
 * BIP-173's valid and invalid strings.
 */
#include "crypto/bech32.h"

#include <ctype.h>
#include <string.h>

static const char charset[] = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";

static uint32_t polymod_step(uint32_t chk, uint8_t v)
{
    static const uint32_t gen[5] = {0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3};
    uint32_t top = chk >> 25;
    chk = ((chk & 0x1ffffff) << 5) ^ v;
    for (int i = 0; i < 5; i++)
        if ((top >> i) & 1)
            chk ^= gen[i];
    return chk;
}

static uint32_t hrp_polymod(const char *hrp, size_t n)
{
    uint32_t chk = 1;
    for (size_t i = 0; i < n; i++)
        chk = polymod_step(chk, (uint8_t)(tolower((unsigned char)hrp[i]) >> 5));
    chk = polymod_step(chk, 0);
    for (size_t i = 0; i < n; i++)
        chk = polymod_step(chk, (uint8_t)(tolower((unsigned char)hrp[i]) & 31));
    return chk;
}

int dp_bech32_decode5(const char *s, char *hrp, size_t hrpcap, uint8_t *data, size_t *ndata, size_t datacap,
                      const char **why)
{
    size_t n = strlen(s);
    int lower = 0, upper = 0;
    *ndata = 0;
    if (n > DP_BECH32_MAX)
        return *why = "longer than 90 characters", -1;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 33 || c > 126)
            return *why = "invalid character", -1;
        lower |= islower(c) != 0;
        upper |= isupper(c) != 0;
    }
    if (lower && upper)
        return *why = "mixed case", -1;
    const char *sep = strrchr(s, '1');
    if (!sep)
        return *why = "no separator '1'", -1;
    size_t hl = (size_t)(sep - s), dl = n - hl - 1;
    if (hl < 1 || hl > 83)
        return *why = "human-readable part of invalid length", -1;
    if (dl < 6)
        return *why = "data part too short", -1;
    if (hl + 1 > hrpcap || dl - 6 > datacap)
        return *why = "too long", -1;
    uint32_t chk = hrp_polymod(s, hl);
    for (size_t i = 0; i < dl; i++) {
        const char *p = strchr(charset, tolower((unsigned char)sep[1 + i]));
        if (!p || !*p)
            return *why = "invalid character in the data part", -1;
        uint8_t v = (uint8_t)(p - charset);
        chk = polymod_step(chk, v);
        if (i < dl - 6)
            data[i] = v;
    }
    if (chk != 1)
        return *why = "invalid checksum", -1;
    for (size_t i = 0; i < hl; i++)
        hrp[i] = (char)tolower((unsigned char)s[i]);
    hrp[hl] = 0;
    *ndata = dl - 6;
    return 0;
}

int dp_bech32_decode(const char *s, char *hrp, size_t hrpcap, uint8_t *out, size_t *nout, size_t outcap,
                     const char **why)
{
    uint8_t d5[DP_BECH32_MAX];
    size_t n5;
    *nout = 0;
    if (dp_bech32_decode5(s, hrp, hrpcap, d5, &n5, sizeof d5, why))
        return -1;
    uint32_t acc = 0;
    unsigned bits = 0;
    size_t o = 0;
    for (size_t i = 0; i < n5; i++) {
        acc = (acc << 5) | d5[i];
        bits += 5;
        if (bits >= 8) {
            bits -= 8;
            if (o >= outcap)
                return *why = "too long", -1;
            out[o++] = (uint8_t)(acc >> bits);
        }
    }
    /* BIP-173: at most 4 bits of padding, all zero */
    if (bits >= 5)
        return *why = "invalid padding", -1;
    if ((acc & ((1u << bits) - 1)) != 0)
        return *why = "non-zero padding", -1;
    *nout = o;
    return 0;
}

int dp_bech32_encode(const char *hrp, const uint8_t *data, size_t n, int upper, char *out, size_t outcap)
{
    size_t hl = strlen(hrp), n5 = (n * 8 + 4) / 5;
    if (hl < 1 || hl > 83 || hl + 1 + n5 + 6 > DP_BECH32_MAX || hl + 1 + n5 + 6 + 1 > outcap)
        return -1;
    for (size_t i = 0; i < hl; i++) {
        unsigned char c = (unsigned char)hrp[i];
        if (c < 33 || c > 126 || isupper(c))
            return -1;
    }
    memcpy(out, hrp, hl);
    out[hl] = '1';
    size_t o = hl + 1;
    uint32_t chk = hrp_polymod(hrp, hl), acc = 0;
    unsigned bits = 0;
    for (size_t i = 0; i < n; i++) {
        acc = ((acc << 8) | data[i]) & 0xfff;
        bits += 8;
        while (bits >= 5) {
            bits -= 5;
            uint8_t v = (uint8_t)((acc >> bits) & 31);
            chk = polymod_step(chk, v);
            out[o++] = charset[v];
        }
    }
    if (bits) {
        uint8_t v = (uint8_t)((acc << (5 - bits)) & 31);
        chk = polymod_step(chk, v);
        out[o++] = charset[v];
    }
    for (int i = 0; i < 6; i++)
        chk = polymod_step(chk, 0);
    chk ^= 1;
    for (int i = 0; i < 6; i++)
        out[o++] = charset[(chk >> (5 * (5 - i))) & 31];
    out[o] = 0;
    if (upper)
        for (size_t i = 0; i < o; i++)
            out[i] = (char)toupper((unsigned char)out[i]);
    return 0;
}
