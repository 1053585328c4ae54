/*
 * bech32.h - Bech32 (BIP-173) encoding, as age uses it for keys: "age1..." recipients and
 * "AGE-SECRET-KEY-1..." identities.
 *
 * Strict BIP-173: one case throughout (never mixed), the separator is the last '1', a human-readable
 * part of 1-83 characters in 33..126, at least 6 checksum characters, at most 90 characters in all
 * (age's keys are 62 and 74). Pure functions, no allocation, any thread.
 */
#ifndef DP_BECH32_H
#define DP_BECH32_H

#include <stddef.h>
#include <stdint.h>

#define DP_BECH32_MAX 90

/* Decode s into its human-readable part (lower-cased, NUL-terminated, hrpcap >= 84 is always
 * enough) and 5-bit data values (checksum removed; datacap >= 90 is always enough). Returns 0, or -1
 * with *why set to a static reason. */
int dp_bech32_decode5(const char *s, char *hrp, size_t hrpcap, uint8_t *data, size_t *ndata, size_t datacap,
                      const char **why);

/* Decode and convert the data to bytes (8-bit groups, zero padding of fewer than 5 bits as BIP-173
 * requires). Returns 0 or -1 with *why. */
int dp_bech32_decode(const char *s, char *hrp, size_t hrpcap, uint8_t *out, size_t *nout, size_t outcap,
                     const char **why);

/* Encode bytes under hrp (lower case; upper=1 gives the all-upper-case form age uses for secret
 * keys). Returns 0, or -1 if the result would not fit outcap (NUL included) or exceed 90
 * characters, or hrp is invalid. */
int dp_bech32_encode(const char *hrp, const uint8_t *data, size_t n, int upper, char *out, size_t outcap);

#endif
