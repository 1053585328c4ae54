/*
 * age_stream.c - age encryption and decryption as pipeline filters (dp_sink).
 *
 * STREAM (age-encryption.org/v1, "payload"): the payload key is HKDF-SHA-256(file key, salt = a
 * random 16-byte nonce, "payload"); chunk i is ChaCha20-Poly1305 under the 12-byte nonce
 * (11-byte big-endian i, then 0x01 for the last chunk and 0x00 otherwise) of 64 KiB of plaintext,
 * the last chunk shorter or full, and empty only when the whole payload is.
 *
 * The last-chunk rule is what makes a push filter careful. The encryptor holds back a full chunk
 * until it knows whether more data follows (more data: a normal chunk; end: the last one). The
 * decryptor does the same with ciphertext: a full chunk followed by more bytes is a normal chunk,
 * one followed by the end is the last. A full chunk can also be a last chunk followed by trailing
 * garbage, or a normal chunk cut short of its successor; like age, the decryptor then tries the
 * other flag, so that exactly the plaintext age would release is released before the error (the
 * C2SP test vectors check this). ChaCha20-Poly1305 decrypts in place as it authenticates, so a
 * failed try is undone by applying the same key stream again before the second try.
 *
 * Memory per filter: one buffer of 64 KiB + 16 (a chunk with its tag; the header while it is read).
 */
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/age_internal.h"

#define ENC_CHUNK (DP_AGE_CHUNK + DP_AGE_TAG_LEN)

static void chunk_nonce(uint64_t counter, int last, uint8_t nonce[12])
{
    memset(nonce, 0, 12);
    for (int i = 0; i < 8; i++)
        nonce[10 - i] = (uint8_t)(counter >> (8 * i));
    nonce[11] = last ? 1 : 0;
}

/* Move up to cap - *fill bytes of (*c, *n) into buf at *fill. */
static void take(uint8_t *buf, size_t *fill, size_t cap, const uint8_t **c, size_t *n)
{
    size_t k = cap - *fill < *n ? cap - *fill : *n;
    memcpy(buf + *fill, *c, k);
    *fill += k;
    *c += k;
    *n -= k;
}

static int stream_key(const uint8_t file_key[DP_AGE_FILE_KEY_LEN], const uint8_t nonce[DP_AGE_NONCE_LEN],
                      uint8_t key[32])
{
    return dp_age_hkdf(file_key, DP_AGE_FILE_KEY_LEN, nonce, DP_AGE_NONCE_LEN, "payload", key, 32);
}

/* ---- encrypt ---- */

typedef struct {
    dp_sink base;
    dp_age_recipient *recips;
    size_t nrecips;
    int started;
    uint64_t counter;
    uint8_t key[32];
    EVP_CIPHER_CTX *ctx;
    size_t fill;
    uint8_t buf[ENC_CHUNK];
} enc_sink;

/* The header and the nonce, at the first write or at end. */
static int enc_start(enc_sink *e, dp_err *err)
{
    uint8_t file_key[DP_AGE_FILE_KEY_LEN], nonce[DP_AGE_NONCE_LEN];
    dp_age_header h;
    dp_buf out = {0};
    int rc = 0;
    memset(&h, 0, sizeof h);
    if (dp_age_random(file_key, sizeof file_key) || dp_age_random(nonce, sizeof nonce)) {
        rc = dp_err_set(err, DUMPER_EINTERNAL, "age: the random number generator failed");
        goto done;
    }
    if (!(h.stanzas = calloc(e->nrecips, sizeof *h.stanzas))) {
        rc = dp_err_set(err, DUMPER_ENOMEM, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < e->nrecips; i++, h.nstanzas++)
        if (dp_age_x25519_wrap(&e->recips[i], file_key, &h.stanzas[i])) {
            rc = dp_err_set(err, DUMPER_EINTERNAL, "age: unable to wrap the file key for %s", e->recips[i].str);
            goto done;
        }
    if (dp_age_header_marshal(&h, 0, &out)) {
        rc = dp_err_set(err, DUMPER_ENOMEM, "out of memory");
        goto done;
    }
    if (dp_age_header_mac(file_key, out.data, out.len, h.mac) || stream_key(file_key, nonce, e->key)) {
        rc = dp_err_set(err, DUMPER_EINTERNAL, "age: key derivation failed");
        goto done;
    }
    dp_buf_reset(&out);
    if (dp_age_header_marshal(&h, 1, &out) || dp_buf_append(&out, nonce, sizeof nonce) < 0) {
        rc = dp_err_set(err, DUMPER_ENOMEM, "out of memory");
        goto done;
    }
    if ((rc = dp_sink_write(e->base.next, out.data, out.len, err)))
        goto done;
    e->started = 1;
done:
    dp_memzero(file_key, sizeof file_key);
    dp_age_header_free(&h);
    dp_buf_free(&out);
    return rc;
}

static int enc_flush(enc_sink *e, int last, dp_err *err)
{
    uint8_t nonce[12];
    chunk_nonce(e->counter, last, nonce);
    if (dp_age_aead_seal(e->ctx, e->key, nonce, e->buf, e->fill, e->buf))
        return dp_err_set(err, DUMPER_EINTERNAL, "age: chacha20-poly1305 encryption failed");
    int rc = dp_sink_write(e->base.next, e->buf, e->fill + DP_AGE_TAG_LEN, err);
    e->counter++;
    e->fill = 0;
    return rc;
}

static int enc_write(dp_sink *s, const void *p, size_t n, dp_err *err)
{
    enc_sink *e = (enc_sink *)s;
    const uint8_t *c = p;
    int rc;
    if (!e->started && (rc = enc_start(e, err)))
        return rc;
    while (n) {
        /* a full chunk goes out only once more data proves it is not the last */
        if (e->fill == DP_AGE_CHUNK && (rc = enc_flush(e, 0, err)))
            return rc;
        take(e->buf, &e->fill, DP_AGE_CHUNK, &c, &n);
    }
    return 0;
}

static int enc_end(dp_sink *s, dp_err *err)
{
    enc_sink *e = (enc_sink *)s;
    int rc;
    if (!e->started && (rc = enc_start(e, err)))
        return rc;
    if ((rc = enc_flush(e, 1, err)))
        return rc;
    return dp_sink_end(s->next, err);
}

static void enc_destroy(dp_sink *s)
{
    enc_sink *e = (enc_sink *)s;
    EVP_CIPHER_CTX_free(e->ctx);
    free(e->recips);
    dp_memzero(e->key, sizeof e->key);
    dp_memzero(e->buf, sizeof e->buf);
}

static const dp_sink_ops enc_ops = {.name = "age", .write = enc_write, .end = enc_end, .destroy = enc_destroy};

dp_sink *dp_age_encrypt_new(const dp_age_recipient *r, size_t n, dp_sink *next)
{
    if (!n)
        return NULL;
    enc_sink *e = calloc(1, sizeof *e);
    if (!e)
        return NULL;
    e->ctx = EVP_CIPHER_CTX_new();
    e->recips = malloc(n * sizeof *r);
    if (!e->ctx || !e->recips) {
        EVP_CIPHER_CTX_free(e->ctx);
        free(e->recips);
        free(e);
        return NULL;
    }
    memcpy(e->recips, r, n * sizeof *r);
    e->nrecips = n;
    dp_sink_init(&e->base, &enc_ops, next);
    return &e->base;
}

/* ---- decrypt ---- */

enum { PH_HEADER, PH_NONCE, PH_PAYLOAD };

typedef struct {
    dp_sink base;
    dp_age_identity *ids;
    size_t nids; /* 0: check only */
    int phase;
    int stanzas;
    int last_seen;
    uint64_t counter;
    uint64_t payload; /* check only: payload bytes seen */
    uint8_t key[32];
    EVP_CIPHER_CTX *ctx;
    size_t fill;
    uint8_t buf[ENC_CHUNK];
} dec_sink;

/* The header is complete in buf[0..h->len): find the file key, check the MAC. */
static int dec_header(dec_sink *d, const dp_age_header *h, uint8_t file_key[DP_AGE_FILE_KEY_LEN], dp_err *err)
{
    int scrypt = 0;
    for (size_t i = 0; i < h->nstanzas; i++)
        scrypt |= strcmp(h->stanzas[i].type, "scrypt") == 0;
    if (scrypt) /* the parser made sure it is alone */
        return dp_err_set(err, DUMPER_EUNSUPPORTED,
                          "backup is encrypted with a passphrase (age -p, scrypt); dumper decrypts files encrypted to "
                          "X25519 recipients only (decrypt it with 'age -d')");
    if (!d->nids)
        return 0;
    int found = 0;
    for (size_t k = 0; k < d->nids && !found; k++)
        for (size_t i = 0; i < h->nstanzas && !found; i++) {
            if (strcmp(h->stanzas[i].type, "X25519") != 0)
                continue;
            int r = dp_age_x25519_unwrap(&d->ids[k], &h->stanzas[i], file_key);
            if (r < 0)
                return dp_err_set(err, DUMPER_ECORRUPT,
                                  "backup is corrupt: age recipient stanza %zu has a low-order X25519 share", i + 1);
            found = r == 0;
        }
    if (!found)
        return dp_err_set(err, DUMPER_EAUTH, "no identity given matches any of the backup's %zu age recipients",
                          h->nstanzas);
    uint8_t mac[32];
    int bad = dp_age_header_mac(file_key, d->buf, h->mac_input_len, mac) || CRYPTO_memcmp(mac, h->mac, 32) != 0;
    if (bad)
        return dp_err_set(err, DUMPER_ECORRUPT, "backup is corrupt: the age header MAC does not match");
    return 0;
}

/* Try to parse the header in buf; on success move on to the nonce with the bytes after it. */
static int dec_try_header(dec_sink *d, dp_err *err)
{
    dp_age_header h;
    uint8_t file_key[DP_AGE_FILE_KEY_LEN] = {0};
    int rc = dp_age_header_parse(d->buf, d->fill, &h, err);
    if (rc == DP_AGE_NEED_MORE)
        return 0;
    if (rc)
        return rc;
    d->stanzas = (int)h.nstanzas;
    rc = dec_header(d, &h, file_key, err);
    size_t hl = h.len;
    dp_age_header_free(&h);
    if (rc)
        return rc;
    memmove(d->buf, d->buf + hl, d->fill - hl);
    d->fill -= hl;
    d->phase = PH_NONCE;
    if (d->fill >= DP_AGE_NONCE_LEN) {
        if (d->nids && stream_key(file_key, d->buf, d->key))
            rc = dp_err_set(err, DUMPER_EINTERNAL, "age: key derivation failed");
        d->payload = d->fill - DP_AGE_NONCE_LEN;
        memmove(d->buf, d->buf + DP_AGE_NONCE_LEN, d->fill - DP_AGE_NONCE_LEN);
        d->fill -= DP_AGE_NONCE_LEN;
        d->phase = PH_PAYLOAD;
    } else {
        /* keep the file key until the nonce is complete: in the key slot, replaced then */
        memcpy(d->key, file_key, sizeof file_key);
    }
    dp_memzero(file_key, sizeof file_key);
    return rc;
}

/* Decrypt buf[0..fill) as chunk `counter`; last: 1 or 0; returns 0 (plaintext in buf[0..fill-16)) or -1
 * (buf unchanged). */
static int dec_open(dec_sink *d, int last)
{
    uint8_t nonce[12];
    size_t n = d->fill - DP_AGE_TAG_LEN;
    chunk_nonce(d->counter, last, nonce);
    if (dp_age_aead_open(d->ctx, d->key, nonce, d->buf, n, d->buf) == 0)
        return 0;
    /* undo the in-place decryption: the same key stream again (an encryption, its tag unused) */
    int len = 0;
    if (EVP_CipherInit_ex(d->ctx, EVP_chacha20_poly1305(), NULL, d->key, nonce, 1) != 1 ||
        (n && EVP_CipherUpdate(d->ctx, d->buf, &len, d->buf, (int)n) != 1))
        dp_memzero(d->buf, d->fill); /* cannot happen; the retry then fails as it should */
    return -1;
}

/* Open a full chunk, trying the flag `first` then the other; emit its plaintext. */
static int dec_chunk(dec_sink *d, int first, dp_err *err)
{
    int last = first;
    if (d->fill < DP_AGE_TAG_LEN)
        return dp_err_set(err, DUMPER_ECORRUPT, "backup is truncated: the last age chunk is shorter than its tag");
    if (dec_open(d, last)) {
        last = !first;
        if (d->fill != ENC_CHUNK || dec_open(d, last))
            return dp_err_set(err, DUMPER_ECORRUPT, "backup is corrupt: age payload chunk %llu does not authenticate",
                              (unsigned long long)d->counter + 1);
    }
    d->counter++;
    d->last_seen = last;
    size_t n = d->fill - DP_AGE_TAG_LEN;
    d->fill = 0;
    return dp_sink_write(d->base.next, d->buf, n, err);
}

static int dec_write(dp_sink *s, const void *p, size_t n, dp_err *err)
{
    dec_sink *d = (dec_sink *)s;
    const uint8_t *c = p;
    int rc;
    while (n) {
        if (d->phase == PH_HEADER) {
            const uint8_t *from = c;
            take(d->buf, &d->fill, DP_AGE_HEADER_MAX, &c, &n);
            int nl = memchr(from, '\n', (size_t)(c - from)) != NULL;
            if ((nl || d->fill == DP_AGE_HEADER_MAX) && (rc = dec_try_header(d, err)))
                return rc;
        } else if (d->phase == PH_NONCE) {
            take(d->buf, &d->fill, DP_AGE_NONCE_LEN, &c, &n);
            if (d->fill == DP_AGE_NONCE_LEN) {
                uint8_t file_key[DP_AGE_FILE_KEY_LEN];
                memcpy(file_key, d->key, sizeof file_key);
                rc = d->nids && stream_key(file_key, d->buf, d->key);
                dp_memzero(file_key, sizeof file_key);
                if (rc)
                    return dp_err_set(err, DUMPER_EINTERNAL, "age: key derivation failed");
                d->fill = 0;
                d->phase = PH_PAYLOAD;
            }
        } else if (!d->nids) {
            d->payload += n;
            n = 0;
        } else {
            if (d->last_seen)
                return dp_err_set(err, DUMPER_ECORRUPT, "backup is corrupt: data after the final age chunk");
            /* a full chunk followed by more data: a normal chunk (or a final one with trailing data) */
            if (d->fill == ENC_CHUNK && (rc = dec_chunk(d, 0, err)))
                return rc;
            if (d->last_seen)
                continue;
            take(d->buf, &d->fill, ENC_CHUNK, &c, &n);
        }
    }
    return 0;
}

/* Check-only: can a STREAM payload have this length? (age's EncryptedChunkCount) */
static int payload_size_ok(uint64_t p)
{
    uint64_t chunks = (p + ENC_CHUNK - 1) / ENC_CHUNK;
    if (chunks == 0 || p < chunks * DP_AGE_TAG_LEN)
        return 0;
    uint64_t plain = p - chunks * DP_AGE_TAG_LEN;
    uint64_t want = plain ? (plain + DP_AGE_CHUNK - 1) / DP_AGE_CHUNK : 1;
    return want == chunks;
}

static int dec_end(dp_sink *s, dp_err *err)
{
    dec_sink *d = (dec_sink *)s;
    int rc;
    if (d->phase == PH_HEADER) {
        if (d->fill == 0)
            return dp_err_set(err, DUMPER_ECORRUPT, "backup is truncated: it is empty (no age header)");
        if ((rc = dec_try_header(d, err)))
            return rc;
        if (d->phase == PH_HEADER)
            return dp_err_set(err, DUMPER_ECORRUPT, "backup is truncated: the age header is incomplete");
    }
    if (d->phase == PH_NONCE)
        return dp_err_set(err, DUMPER_ECORRUPT, "backup is truncated: the age payload nonce is incomplete");
    if (!d->nids) {
        if (!payload_size_ok(d->payload))
            return dp_err_set(err, DUMPER_ECORRUPT,
                              "backup is corrupt or truncated: an age payload cannot be %llu bytes long",
                              (unsigned long long)d->payload);
        return dp_sink_end(s->next, err);
    }
    if (!d->last_seen) {
        if (d->fill == 0)
            return dp_err_set(err, DUMPER_ECORRUPT, "backup is truncated: the age payload has no final chunk");
        if (d->fill == DP_AGE_TAG_LEN && d->counter > 0)
            return dp_err_set(err, DUMPER_ECORRUPT, "backup is corrupt: the final age chunk is empty");
        /* at the end: the last chunk (a full one may also be a normal chunk whose successor is missing) */
        if ((rc = dec_chunk(d, 1, err)))
            return rc;
        if (!d->last_seen)
            return dp_err_set(err, DUMPER_ECORRUPT, "backup is truncated: the age payload has no final chunk");
    }
    return dp_sink_end(s->next, err);
}

static void dec_destroy(dp_sink *s)
{
    dec_sink *d = (dec_sink *)s;
    EVP_CIPHER_CTX_free(d->ctx);
    dp_age_identities_free(d->ids, d->nids);
    dp_memzero(d->key, sizeof d->key);
    dp_memzero(d->buf, sizeof d->buf);
}

static const dp_sink_ops dec_ops = {.name = "age-decrypt", .write = dec_write, .end = dec_end, .destroy = dec_destroy};

dp_sink *dp_age_decrypt_new(const dp_age_identity *ids, size_t nids, dp_sink *next)
{
    dec_sink *d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    d->ctx = EVP_CIPHER_CTX_new();
    d->ids = nids ? malloc(nids * sizeof *ids) : NULL;
    if (!d->ctx || (nids && !d->ids)) {
        EVP_CIPHER_CTX_free(d->ctx);
        free(d->ids);
        free(d);
        return NULL;
    }
    if (nids)
        memcpy(d->ids, ids, nids * sizeof *ids);
    d->nids = nids;
    d->stanzas = -1;
    dp_sink_init(&d->base, &dec_ops, next);
    return &d->base;
}

int dp_age_decrypt_stanzas(dp_sink *s) { return ((dec_sink *)s)->stanzas; }
