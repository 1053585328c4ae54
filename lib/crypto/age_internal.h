/*
 * age_internal.h - the OpenSSL primitives age is built from, shared by age_keys.c and age_stream.c.
 * Every function returns 0 on success and -1 on failure (for open: the tag did not verify).
 */
#ifndef DP_AGE_INTERNAL_H
#define DP_AGE_INTERNAL_H

#include <openssl/evp.h>

#include "crypto/age.h"

#define DP_AGE_X25519_LABEL "age-encryption.org/v1/X25519"

/* HKDF-SHA-256 (EVP_KDF "HKDF"); salt may be NULL (then the RFC 5869 all-zero salt). */
int dp_age_hkdf(const uint8_t *ikm, size_t ikmlen, const uint8_t *salt, size_t saltlen, const char *info,
                uint8_t *out, size_t outlen);
/* HMAC-SHA-256 (EVP_MAC "HMAC"). */
int dp_age_hmac(const uint8_t key[32], const void *p, size_t n, uint8_t out[32]);
/* ChaCha20-Poly1305 with a 12-byte nonce and no associated data, through ctx (reused by the stream;
 * NULL: a temporary one). seal: out gets n bytes of ciphertext then the 16-byte tag. open: in holds
 * n bytes of ciphertext followed by the tag; out gets n bytes. in == out is allowed. */
int dp_age_aead_seal(EVP_CIPHER_CTX *ctx, const uint8_t key[32], const uint8_t nonce[12], const uint8_t *in,
                     size_t n, uint8_t *out);
int dp_age_aead_open(EVP_CIPHER_CTX *ctx, const uint8_t key[32], const uint8_t nonce[12], const uint8_t *in,
                     size_t n, uint8_t *out);
/* X25519(sk, pk); -1 also when the result is all zero (a low-order share). */
int dp_age_x25519(const uint8_t sk[32], const uint8_t pk[32], uint8_t out[32]);
/* The public key of sk. */
int dp_age_x25519_base(const uint8_t sk[32], uint8_t pk[32]);
/* Fill p with n bytes from OpenSSL's CSPRNG. */
int dp_age_random(uint8_t *p, size_t n);

/* Wrap the file key for one X25519 recipient: a fresh ephemeral key, one stanza (caller frees its
 * strings with dp_age_stanza_free). */
int dp_age_x25519_wrap(const dp_age_recipient *r, const uint8_t file_key[DP_AGE_FILE_KEY_LEN], dp_age_stanza *st);
/* Try to unwrap an X25519 stanza (already checked by the parser) with one identity: 0 = file key
 * out, 1 = not this identity, -1 = the share is a low-order point (the file is invalid). */
int dp_age_x25519_unwrap(const dp_age_identity *id, const dp_age_stanza *st, uint8_t file_key[DP_AGE_FILE_KEY_LEN]);
void dp_age_stanza_free(dp_age_stanza *st);

/* The header MAC: HMAC-SHA-256 under HKDF(file key, no salt, "header") over p[0..n). */
int dp_age_header_mac(const uint8_t file_key[DP_AGE_FILE_KEY_LEN], const void *p, size_t n, uint8_t out[32]);

#endif
