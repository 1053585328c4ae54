/*
 * age_keys.c - the cryptography under age (OpenSSL 3 primitives), X25519 recipients and identities,
 * their text forms and files.
 *
 * Key files are user input: an identity file of the wrong kind (an SSH key, a passphrase-encrypted
 * identity, a plugin or post-quantum identity, a recipient) gets one line saying what it is and what
 * to use instead. A line of an identity file is never echoed: it may be a secret.
 */
#include <errno.h>
#include <fcntl.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crypto/age_internal.h"
#include "crypto/bech32.h"

/* ---- primitives ---- */

int dp_age_hkdf(const uint8_t *ikm, size_t ikmlen, const uint8_t *salt, size_t saltlen, const char *info,
                uint8_t *out, size_t outlen)
{
    EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
    EVP_KDF_CTX *ctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
    OSSL_PARAM params[5], *p = params;
    *p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0);
    *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)ikm, ikmlen);
    if (salt && saltlen)
        *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt, saltlen);
    *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info, strlen(info));
    *p = OSSL_PARAM_construct_end();
    int ok = ctx && EVP_KDF_derive(ctx, out, outlen, params) == 1;
    EVP_KDF_CTX_free(ctx);
    EVP_KDF_free(kdf);
    return ok ? 0 : -1;
}

int dp_age_hmac(const uint8_t key[32], const void *p, size_t n, uint8_t out[32])
{
    size_t len = 0;
    if (!EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, key, 32, p, n, out, 32, &len) || len != 32)
        return -1;
    return 0;
}

static int aead(EVP_CIPHER_CTX *ctx, int enc, const uint8_t key[32], const uint8_t nonce[12], const uint8_t *in,
                size_t n, uint8_t *out)
{
    EVP_CIPHER_CTX *own = NULL;
    int ok = 0, len = 0, fin = 0;
    if (n > DP_AGE_CHUNK)
        return -1;
    if (!ctx && !(ctx = own = EVP_CIPHER_CTX_new()))
        return -1;
    if (EVP_CipherInit_ex(ctx, EVP_chacha20_poly1305(), NULL, key, nonce, enc) != 1)
        goto done;
    if (!enc && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, DP_AGE_TAG_LEN, (void *)(in + n)) != 1)
        goto done;
    if (n && EVP_CipherUpdate(ctx, out, &len, in, (int)n) != 1)
        goto done;
    if (EVP_CipherFinal_ex(ctx, out + len, &fin) != 1)
        goto done;
    if (enc && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, DP_AGE_TAG_LEN, out + n) != 1)
        goto done;
    ok = (size_t)len + (size_t)fin == n;
done:
    EVP_CIPHER_CTX_free(own);
    return ok ? 0 : -1;
}

int dp_age_aead_seal(EVP_CIPHER_CTX *ctx, const uint8_t key[32], const uint8_t nonce[12], const uint8_t *in,
                     size_t n, uint8_t *out)
{
    return aead(ctx, 1, key, nonce, in, n, out);
}

int dp_age_aead_open(EVP_CIPHER_CTX *ctx, const uint8_t key[32], const uint8_t nonce[12], const uint8_t *in,
                     size_t n, uint8_t *out)
{
    return aead(ctx, 0, key, nonce, in, n, out);
}

int dp_age_x25519(const uint8_t sk[32], const uint8_t pk[32], uint8_t out[32])
{
    EVP_PKEY *priv = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, sk, 32);
    EVP_PKEY *pub = EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, NULL, pk, 32);
    EVP_PKEY_CTX *ctx = priv ? EVP_PKEY_CTX_new(priv, NULL) : NULL;
    size_t len = 32;
    int ok = pub && ctx && EVP_PKEY_derive_init(ctx) == 1 && EVP_PKEY_derive_set_peer(ctx, pub) == 1 &&
             EVP_PKEY_derive(ctx, out, &len) == 1 && len == 32;
    EVP_PKEY_CTX_free(ctx);
    EVP_PKEY_free(pub);
    EVP_PKEY_free(priv);
    if (ok) {
        /* age refuses the all-zero shared secret of a low-order share (OpenSSL does too; this does
         * not depend on it) */
        static const uint8_t zero[32];
        ok = CRYPTO_memcmp(out, zero, 32) != 0;
    }
    if (!ok)
        dp_memzero(out, 32);
    return ok ? 0 : -1;
}

int dp_age_x25519_base(const uint8_t sk[32], uint8_t pk[32])
{
    EVP_PKEY *priv = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, sk, 32);
    size_t len = 32;
    int ok = priv && EVP_PKEY_get_raw_public_key(priv, pk, &len) == 1 && len == 32;
    EVP_PKEY_free(priv);
    return ok ? 0 : -1;
}

int dp_age_random(uint8_t *p, size_t n) { return RAND_bytes(p, (int)n) == 1 ? 0 : -1; }

/* The wrapping key of an X25519 stanza: HKDF(shared, share || recipient, label). */
static int wrap_key(const uint8_t shared[32], const uint8_t share[32], const uint8_t pk[32], uint8_t key[32])
{
    uint8_t salt[64];
    memcpy(salt, share, 32);
    memcpy(salt + 32, pk, 32);
    return dp_age_hkdf(shared, 32, salt, 64, DP_AGE_X25519_LABEL, key, 32);
}

int dp_age_x25519_wrap(const dp_age_recipient *r, const uint8_t file_key[DP_AGE_FILE_KEY_LEN], dp_age_stanza *st)
{
    static const uint8_t zero_nonce[12];
    uint8_t eph[32], share[32], shared[32], key[32], body[DP_AGE_FILE_KEY_LEN + DP_AGE_TAG_LEN];
    char arg[48];
    int rc = -1;
    memset(st, 0, sizeof *st);
    if (dp_age_random(eph, 32) || dp_age_x25519_base(eph, share) || dp_age_x25519(eph, r->pk, shared) ||
        wrap_key(shared, share, r->pk, key) ||
        dp_age_aead_seal(NULL, key, zero_nonce, file_key, DP_AGE_FILE_KEY_LEN, body))
        goto done;
    dp_age_b64_encode(share, 32, arg);
    st->type = dp_strdup("X25519");
    st->args = calloc(1, sizeof *st->args);
    st->body = malloc(sizeof body);
    if (!st->type || !st->args || !st->body || !(st->args[0] = dp_strdup(arg))) {
        dp_age_stanza_free(st);
        goto done;
    }
    st->nargs = 1;
    memcpy(st->body, body, sizeof body);
    st->body_len = sizeof body;
    rc = 0;
done:
    dp_memzero(eph, sizeof eph);
    dp_memzero(shared, sizeof shared);
    dp_memzero(key, sizeof key);
    return rc;
}

int dp_age_x25519_unwrap(const dp_age_identity *id, const dp_age_stanza *st, uint8_t file_key[DP_AGE_FILE_KEY_LEN])
{
    static const uint8_t zero_nonce[12];
    uint8_t share[33], shared[32], key[32], fk[DP_AGE_FILE_KEY_LEN];
    size_t sl;
    if (dp_age_b64_decode(st->args[0], strlen(st->args[0]), share, sizeof share, &sl) || sl != 32)
        return -1; /* the parser refuses these already */
    if (dp_age_x25519(id->sk, share, shared))
        return -1;
    int rc = 1;
    if (wrap_key(shared, share, id->pk, key) == 0 && st->body_len == sizeof fk + DP_AGE_TAG_LEN &&
        dp_age_aead_open(NULL, key, zero_nonce, st->body, sizeof fk, fk) == 0) {
        memcpy(file_key, fk, sizeof fk);
        rc = 0;
    }
    dp_memzero(shared, sizeof shared);
    dp_memzero(key, sizeof key);
    dp_memzero(fk, sizeof fk);
    return rc;
}

int dp_age_header_mac(const uint8_t file_key[DP_AGE_FILE_KEY_LEN], const void *p, size_t n, uint8_t out[32])
{
    uint8_t key[32];
    int rc = dp_age_hkdf(file_key, DP_AGE_FILE_KEY_LEN, NULL, 0, "header", key, 32);
    if (!rc)
        rc = dp_age_hmac(key, p, n, out);
    dp_memzero(key, sizeof key);
    return rc;
}

/* ---- recipients and identities ---- */

int dp_age_recipient_parse(const char *s, const char *what, dp_age_recipient *r, dp_err *err)
{
    char hrp[DP_BECH32_MAX + 1];
    uint8_t data[DP_BECH32_MAX];
    size_t n = 0;
    const char *why = NULL;
    if (strncmp(s, "ssh-", 4) == 0 || strncmp(s, "ecdsa-", 6) == 0 || strncmp(s, "sk-", 3) == 0)
        return dp_err_set(err, DUMPER_EUSAGE,
                          "%s: SSH keys (%.*s) are not supported as recipients; use an age X25519 recipient "
                          "(age1..., from 'dumper keygen' or age-keygen)",
                          what, (int)strcspn(s, " \t"), s);
    if (strncmp(s, "AGE-", 4) == 0 || strncmp(s, "age-secret", 10) == 0)
        return dp_err_set(err, DUMPER_EUSAGE,
                          "%s is a secret key (an identity), not a recipient: give its public key (age1..., "
                          "the '# public key:' line of the identity file)",
                          what);
    if (strncmp(s, "scrypt", 6) == 0)
        return dp_err_set(err, DUMPER_EUSAGE,
                          "%s: passphrase (scrypt) encryption is not supported; use an age X25519 recipient (age1...)",
                          what);
    if (strncmp(s, "github:", 7) == 0)
        return dp_err_set(err, DUMPER_EUSAGE, "%s: github: recipients are not supported; use an age1... recipient",
                          what);
    if (strncmp(s, "age1pq1", 7) == 0)
        return dp_err_set(err, DUMPER_EUSAGE,
                          "%s: post-quantum hybrid recipients (age1pq1...) are not supported; use an age X25519 "
                          "recipient (age1...)",
                          what);
    if (strncmp(s, "age1", 4) != 0)
        return dp_err_set(err, DUMPER_EUSAGE, "%s is not an age recipient (expected age1... from 'dumper keygen')",
                          what);
    if (strchr(s + 4, '1'))
        return dp_err_set(err, DUMPER_EUSAGE,
                          "%s: age plugin and tag recipients (age1<name>1...) are not supported; use an age X25519 "
                          "recipient (age1...)",
                          what);
    if (dp_bech32_decode(s, hrp, sizeof hrp, data, &n, sizeof data, &why) || strcmp(hrp, "age") != 0 || n != 32)
        return dp_err_set(err, DUMPER_EUSAGE, "%s is a malformed age recipient (%s)", what,
                          why ? why : n != 32 ? "not a 32-byte key" : "wrong prefix");
    memcpy(r->pk, data, 32);
    /* the canonical (lower-case) form */
    if (dp_bech32_encode("age", r->pk, 32, 0, r->str, sizeof r->str))
        return dp_err_set(err, DUMPER_EINTERNAL, "bech32 encoding failed");
    return 0;
}

int dp_age_identity_parse(const char *s, const char *what, dp_age_identity *id, dp_err *err)
{
    char hrp[DP_BECH32_MAX + 1];
    uint8_t data[DP_BECH32_MAX];
    size_t n = 0;
    const char *why = NULL;
    int rc = 0;
    if (strncmp(s, "AGE-PLUGIN-", 11) == 0)
        return dp_err_set(err, DUMPER_EUSAGE, "%s: age plugin identities (AGE-PLUGIN-...) are not supported", what);
    if (strncmp(s, "AGE-SECRET-KEY-PQ-1", 19) == 0)
        return dp_err_set(err, DUMPER_EUSAGE,
                          "%s: post-quantum identities (AGE-SECRET-KEY-PQ-1...) are not supported", what);
    if (strncmp(s, "age1", 4) == 0)
        return dp_err_set(err, DUMPER_EUSAGE,
                          "%s is a recipient (a public key), not an identity: restore needs the secret key file", what);
    if (strncmp(s, "AGE-SECRET-KEY-1", 16) != 0)
        return dp_err_set(err, DUMPER_EUSAGE, "%s is not an age identity (expected AGE-SECRET-KEY-1...)", what);
    if (dp_bech32_decode(s, hrp, sizeof hrp, data, &n, sizeof data, &why) || strcmp(hrp, "age-secret-key-") != 0 ||
        n != 32)
        rc = dp_err_set(err, DUMPER_EUSAGE, "%s is a malformed age identity (%s)", what,
                        why ? why : "not a 32-byte key");
    else {
        memcpy(id->sk, data, 32);
        if (dp_age_x25519_base(id->sk, id->pk))
            rc = dp_err_set(err, DUMPER_EINTERNAL, "x25519 public key derivation failed");
    }
    dp_memzero(data, sizeof data);
    return rc;
}

void dp_age_identities_free(dp_age_identity *list, size_t n)
{
    if (list) {
        dp_memzero(list, n * sizeof *list);
        free(list);
    }
}

int dp_age_identity_generate(dp_age_identity *id, dp_err *err)
{
    if (dp_age_random(id->sk, 32) || dp_age_x25519_base(id->sk, id->pk)) {
        dp_memzero(id, sizeof *id);
        return dp_err_set(err, DUMPER_EINTERNAL, "unable to generate a key: the random number generator failed");
    }
    return 0;
}

void dp_age_identity_recipient(const dp_age_identity *id, dp_age_recipient *r)
{
    memcpy(r->pk, id->pk, 32);
    dp_bech32_encode("age", r->pk, 32, 0, r->str, sizeof r->str);
}

void dp_age_identity_encode(const dp_age_identity *id, char out[DP_AGE_IDENTITY_LEN + 1])
{
    dp_bech32_encode("age-secret-key-", id->sk, 32, 1, out, DP_AGE_IDENTITY_LEN + 1);
}

/* ---- files ---- */

#define KEYFILE_MAX (1 << 20)

/* Read a small text file whole (key files: at most 1 MiB). The buffer may hold secrets: the caller
 * frees it with dp_free_secret. */
static int slurp(const char *path, const char *kind, char **out, size_t *len, dp_err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return dp_err_sys(err, errno == ENOENT ? DUMPER_ENOENT : DUMPER_EIO, errno, "unable to open %s '%s'", kind,
                          path);
    char *buf = malloc(KEYFILE_MAX + 1);
    if (!buf) {
        close(fd);
        return dp_err_set(err, DUMPER_ENOMEM, "out of memory");
    }
    ssize_t n = dp_read_full(fd, buf, KEYFILE_MAX + 1);
    int e = errno;
    close(fd);
    if (n < 0 || n > KEYFILE_MAX) {
        dp_memzero(buf, KEYFILE_MAX + 1);
        free(buf);
        if (n < 0)
            return dp_err_sys(err, DUMPER_EIO, e, "unable to read %s '%s'", kind, path);
        return dp_err_set(err, DUMPER_EUSAGE, "%s '%s' is larger than 1 MiB", kind, path);
    }
    buf[n] = 0;
    *len = (size_t)n;
    if (memchr(buf, 0, (size_t)n)) {
        dp_memzero(buf, (size_t)n);
        free(buf);
        return dp_err_set(err, DUMPER_EUSAGE, "%s '%s' is not a text file", kind, path);
    }
    *out = buf;
    return 0;
}

/* Next line of *cur (NUL-terminated in place, trailing CR and blanks cut); NULL at the end. */
static char *next_line(char **cur)
{
    char *l = *cur;
    if (!l || !*l)
        return NULL;
    char *nl = strchr(l, '\n');
    if (nl) {
        *nl = 0;
        *cur = nl + 1;
    } else {
        *cur = l + strlen(l);
    }
    size_t n = strlen(l);
    while (n && (l[n - 1] == '\r' || l[n - 1] == ' ' || l[n - 1] == '\t'))
        l[--n] = 0;
    return l;
}

/* Call fn for every key line of a key file ('#' comments and blank lines skipped) with "KIND 'PATH'
 * line N" to name it; *count: the lines passed. The buffer is wiped: it may hold secrets. */
static int read_key_lines(const char *path, const char *kind, int (*fn)(void *ctx, const char *line,
                                                                         const char *what, dp_err *err),
                          void *ctx, size_t *count, dp_err *err)
{
    char *buf = NULL, *cur, *l;
    size_t len = 0, lineno = 0;
    int rc = slurp(path, kind, &buf, &len, err);
    if (rc)
        return rc;
    *count = 0;
    if (!strcmp(kind, "identity file") &&
        (strncmp(buf, "age-encryption.org/", 19) == 0 || strncmp(buf, "-----BEGIN AGE", 14) == 0))
        rc = dp_err_set(err, DUMPER_EUSAGE,
                        "identity file '%s' is itself encrypted (age -p); decrypt it first (age -d -o FILE '%s')",
                        path, path);
    else if (strncmp(buf, "-----BEGIN", 10) == 0)
        rc = dp_err_set(err, DUMPER_EUSAGE,
                        "%s '%s' is a PEM/SSH private key; SSH keys are not supported: use an age identity "
                        "('dumper keygen' or age-keygen)",
                        kind, path);
    cur = buf;
    while (!rc && (l = next_line(&cur))) {
        lineno++;
        if (!*l || *l == '#')
            continue;
        char what[600];
        snprintf(what, sizeof what, "%s '%s' line %zu", kind, path, lineno);
        if (!(rc = fn(ctx, l, what, err)))
            (*count)++;
    }
    dp_memzero(buf, len);
    free(buf);
    return rc;
}

typedef struct {
    void *list; /* dp_age_recipient ** or dp_age_identity ** */
    size_t *n;
} key_list;

static int add_recipient(void *ctx, const char *line, const char *what, dp_err *err)
{
    key_list *k = ctx;
    dp_age_recipient r, **list = k->list;
    int rc = dp_age_recipient_parse(line, what, &r, err);
    if (rc)
        return rc;
    dp_age_recipient *nl = realloc(*list, (*k->n + 1) * sizeof *nl);
    if (!nl)
        return dp_err_set(err, DUMPER_ENOMEM, "out of memory");
    *list = nl;
    nl[(*k->n)++] = r;
    return 0;
}

static int add_identity(void *ctx, const char *line, const char *what, dp_err *err)
{
    key_list *k = ctx;
    dp_age_identity id, **list = k->list;
    int rc = dp_age_identity_parse(line, what, &id, err);
    if (rc)
        return rc;
    /* a new array rather than realloc, so that no stale copy of a key is left unwiped */
    dp_age_identity *nl = malloc((*k->n + 1) * sizeof *nl);
    if (nl) {
        if (*k->n)
            memcpy(nl, *list, *k->n * sizeof *nl);
        dp_age_identities_free(*list, *k->n);
        nl[*k->n] = id;
        *list = nl;
        (*k->n)++;
    }
    dp_memzero(&id, sizeof id);
    return nl ? 0 : dp_err_set(err, DUMPER_ENOMEM, "out of memory");
}

int dp_age_recipients_read(const char *path, dp_age_recipient **list, size_t *n, dp_err *err)
{
    key_list k = {list, n};
    size_t found = 0;
    int rc = read_key_lines(path, "recipients file", add_recipient, &k, &found, err);
    if (!rc && !found)
        rc = dp_err_set(err, DUMPER_EUSAGE, "recipients file '%s' holds no recipient", path);
    return rc;
}

int dp_age_identities_read(const char *path, dp_age_identity **list, size_t *n, dp_err *err)
{
    key_list k = {list, n};
    size_t found = 0;
    int rc = read_key_lines(path, "identity file", add_identity, &k, &found, err);
    if (!rc && !found)
        rc = dp_err_set(err, DUMPER_EUSAGE,
                        "identity file '%s' holds no identity (expected AGE-SECRET-KEY-1... lines, as 'dumper keygen' "
                        "and age-keygen write)",
                        path);
    return rc;
}

int dp_age_keygen_file(const char *path, dp_age_recipient *r, dp_err *err)
{
    dp_age_identity id;
    char sk[DP_AGE_IDENTITY_LEN + 1], created[24];
    int rc = dp_age_identity_generate(&id, err);
    if (rc)
        return rc;
    dp_age_identity_recipient(&id, r);
    dp_age_identity_encode(&id, sk);
    dp_memzero(&id, sizeof id);
    dp_stamp_rfc3339(dp_now_ms(), created);
    char *text = dp_asprintf("# created: %s\n# public key: %s\n%s\n", created, r->str, sk);
    dp_memzero(sk, sizeof sk);
    if (!text)
        return dp_err_set(err, DUMPER_ENOMEM, "out of memory");
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        int e = errno;
        rc = e == EEXIST ? dp_err_set(err, DUMPER_EEXIST, "identity file '%s' already exists: not overwritten", path)
                         : dp_err_sys(err, e == ENOENT ? DUMPER_ENOENT : DUMPER_EIO, e,
                                      "unable to create identity file '%s'", path);
    } else {
        /* an existing umask may not widen 0600, but fchmod makes it exact */
        if (fchmod(fd, 0600) < 0 || dp_write_all(fd, text, strlen(text)) < 0 || fsync(fd) < 0) {
            int e = errno;
            rc = dp_err_sys(err, dp_err_code_for_errno(e), e, "unable to write identity file '%s'", path);
        }
        if (close(fd) < 0 && !rc)
            rc = dp_err_sys(err, DUMPER_EIO, errno, "unable to write identity file '%s'", path);
        if (rc)
            unlink(path);
        else
            dp_fsync_dir_of(path);
    }
    dp_free_secret(text);
    return rc;
}
