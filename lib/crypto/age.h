/*
 * age.h - the age v1 file format (age-encryption.org/v1), X25519 recipients only.
 *
 * A backup is encrypted where the data is, to public keys whose private halves the control plane
 * never sees, in a format anyone can decrypt with the stock `age` tool. An age file is
 *
 *   age-encryption.org/v1\n
 *   -> X25519 <base64 ephemeral share>\n       one stanza per recipient: the 16-byte file key
 *   <base64 wrapped file key>\n                 wrapped with ChaCha20-Poly1305 under
 *   --- <base64 HMAC-SHA-256 of the header>\n   HKDF-SHA-256(X25519(ephemeral, recipient))
 *   <16-byte nonce><payload>                    STREAM: ChaCha20-Poly1305 chunks of 64 KiB + tag
 *
 * The cryptography is OpenSSL 3's (EVP_PKEY X25519, EVP_KDF HKDF, EVP_CIPHER chacha20-poly1305,
 * EVP_MAC HMAC); what is written here by hand is the framing: header lines, unpadded canonical
 * base64, stanzas, the STREAM nonce and last-chunk rules (age_format.c, age_stream.c) and Bech32
 * (bech32.c). Other recipient types (scrypt passphrases, SSH keys, plugins, post-quantum hybrid)
 * are recognised and refused with a clear message.
 *
 * Memory: the filters hold one chunk (64 KiB + 16-byte tag) each; a header is at most 64 KiB (it
 * shares that buffer while being read). Secrets are wiped when freed. Nothing here is thread-safe
 * beyond "one thread per object"; the functions without an object are pure or use only OpenSSL's
 * thread-safe calls.
 */
#ifndef DP_AGE_H
#define DP_AGE_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/util.h"
#include "io/sink.h"

#define DP_AGE_INTRO "age-encryption.org/v1\n"
#define DP_AGE_FILE_KEY_LEN 16
#define DP_AGE_NONCE_LEN 16
#define DP_AGE_CHUNK (64 * 1024)
#define DP_AGE_TAG_LEN 16
#define DP_AGE_HEADER_MAX DP_AGE_CHUNK
#define DP_AGE_RECIPIENT_LEN 62 /* "age1" + 52 + 6 checksum characters */
#define DP_AGE_IDENTITY_LEN 74  /* "AGE-SECRET-KEY-1" + 52 + 6 */

/* An X25519 recipient (public key). */
typedef struct dp_age_recipient {
    uint8_t pk[32];
    char str[DP_AGE_RECIPIENT_LEN + 1]; /* its "age1..." form */
} dp_age_recipient;

/* An X25519 identity (private key) and its public key. Wipe with dp_memzero when done. */
typedef struct dp_age_identity {
    uint8_t sk[32];
    uint8_t pk[32];
} dp_age_identity;

/* ---- keys ---- */

/* Parse one recipient string. Only "age1..." X25519 recipients are accepted; every other kind
 * (ssh-ed25519, ssh-rsa, age1pq1 hybrid, age plugin and tag recipients, scrypt passphrases, an
 * identity given as a recipient) gets its own one-line reason. DUMPER_EUSAGE naming `what`
 * (e.g. "recipient", "recipients file 'r.txt' line 3") on failure. Never echoes a secret key. */
int dp_age_recipient_parse(const char *s, const char *what, dp_age_recipient *r, dp_err *err);

/* Read an age recipients file (age -R: one recipient per line, '#' comments and blank lines
 * ignored, at least one recipient) and append its recipients to *list (*n entries, realloc'd;
 * caller frees). DUMPER_EUSAGE (bad content), DUMPER_ENOENT, DUMPER_EIO. */
int dp_age_recipients_read(const char *path, dp_age_recipient **list, size_t *n, dp_err *err);

/* Parse one "AGE-SECRET-KEY-1..." line. DUMPER_EUSAGE naming `what`; never echoes the line. */
int dp_age_identity_parse(const char *s, const char *what, dp_age_identity *id, dp_err *err);

/* Read an age identity file (age-keygen's format: "AGE-SECRET-KEY-1..." lines, '#' comments,
 * blank lines; at least one identity) and append to *list (caller frees with
 * dp_age_identities_free). Refuses with one line each: SSH private keys, passphrase-encrypted
 * identity files, plugin and post-quantum identities, recipients, anything else (line number only,
 * never the content). DUMPER_EUSAGE, DUMPER_ENOENT, DUMPER_EIO. */
int dp_age_identities_read(const char *path, dp_age_identity **list, size_t *n, dp_err *err);
/* Wipe and free a list of identities. */
void dp_age_identities_free(dp_age_identity *list, size_t n);

/* A new random identity (OpenSSL's CSPRNG). DUMPER_EINTERNAL if the RNG fails. */
int dp_age_identity_generate(dp_age_identity *id, dp_err *err);
/* The recipient (public key) of an identity. */
void dp_age_identity_recipient(const dp_age_identity *id, dp_age_recipient *r);
/* "AGE-SECRET-KEY-1..." (upper case, as age-keygen writes it). out holds DP_AGE_IDENTITY_LEN + 1. */
void dp_age_identity_encode(const dp_age_identity *id, char out[DP_AGE_IDENTITY_LEN + 1]);

/* Write a new identity file at path in age-keygen's format ("# created: <RFC 3339>",
 * "# public key: age1...", the secret key), mode 0600, created exclusively (DUMPER_EEXIST if path
 * exists, never overwritten), fsynced. Fills *r with its recipient. On failure nothing is left. */
int dp_age_keygen_file(const char *path, dp_age_recipient *r, dp_err *err);

/* ---- the header (pure: bytes in, struct or error out) ---- */

typedef struct dp_age_stanza {
    char *type;    /* first argument: "X25519", "scrypt", ... */
    char **args;   /* the remaining arguments */
    size_t nargs;
    uint8_t *body; /* decoded body */
    size_t body_len;
} dp_age_stanza;

typedef struct dp_age_header {
    dp_age_stanza *stanzas;
    size_t nstanzas;
    uint8_t mac[32];
    size_t mac_input_len; /* the MAC covers p[0..mac_input_len): the header through "---" */
    size_t len;           /* the whole header, through the MAC line's '\n' */
} dp_age_header;

#define DP_AGE_NEED_MORE (-1)

/* Parse the header at the start of p[0..n). Strict, as age-encryption.org/v1 requires: the exact
 * intro line, LF line endings, stanza arguments of printable ASCII separated by single spaces,
 * canonical unpadded base64 body lines of at most 64 columns ending with a short line, a
 * "--- <MAC>" line with a 32-byte MAC. Also checked here, without a key: each X25519 stanza has
 * one argument (a 32-byte share) and a 32-byte body, and an scrypt stanza is alone.
 * Returns 0 (h filled, h->len bytes used; free with dp_age_header_free), DP_AGE_NEED_MORE (p ends
 * before the header does and nothing so far is wrong; h untouched), DUMPER_ECORRUPT (err says
 * what) or DUMPER_ENOMEM. A header longer than DP_AGE_HEADER_MAX is DUMPER_ECORRUPT. */
int dp_age_header_parse(const uint8_t *p, size_t n, dp_age_header *h, dp_err *err);
void dp_age_header_free(dp_age_header *h);
/* Serialize (the inverse of parse: parsing then marshalling gives back the same bytes). Without
 * the MAC (with_mac 0) it stops after "---", the bytes the MAC covers. 0 or DUMPER_ENOMEM. */
int dp_age_header_marshal(const dp_age_header *h, int with_mac, dp_buf *out);

/* Unpadded standard base64 as age writes it. encode: out holds 4*n/3 + 4 bytes, NUL-terminated;
 * returns the length. decode: canonical only (no padding, no newline, unused bits zero); returns
 * 0 with *outlen, or -1. */
size_t dp_age_b64_encode(const uint8_t *in, size_t n, char *out);
int dp_age_b64_decode(const char *s, size_t n, uint8_t *out, size_t outcap, size_t *outlen);

/* ---- the filters ---- */

/* Encrypt everything that passes to the recipients (copied; n >= 1): header, nonce, then STREAM
 * chunks of 64 KiB, the last one flagged (and empty only for an empty payload). The header is
 * made (fresh file key, ephemeral keys and nonce) at the first write or at end. NULL on OOM
 * (next is then not freed). */
dp_sink *dp_age_encrypt_new(const dp_age_recipient *r, size_t n, dp_sink *next);

/* Decrypt and authenticate: plaintext reaches next one authenticated chunk at a time. Identities
 * are copied. Failures: a malformed header, a bad header MAC, a chunk that does not authenticate,
 * a missing final chunk, data after it: DUMPER_ECORRUPT ("backup is corrupt: ..." / "backup is
 * truncated: ..."); no identity unwraps the file key: DUMPER_EAUTH; a passphrase (scrypt) file:
 * DUMPER_EUNSUPPORTED.
 * With nids == 0 it checks without a key: the header parses and the payload's length is one a
 * STREAM can have; nothing reaches next. NULL on OOM (next is then not freed). */
dp_sink *dp_age_decrypt_new(const dp_age_identity *ids, size_t nids, dp_sink *next);
/* The number of recipient stanzas in the header the decrypt filter read (-1 before the header). */
int dp_age_decrypt_stanzas(dp_sink *s);

#endif
