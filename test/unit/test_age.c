/* test_age.c - the age v1 module (lib/crypto/age*.c):
 *  - the C2SP CCTV age test vectors that apply to X25519 and the format (test/vectors/age/testkit):
 *    every vector's expected outcome, the payload released before a failure included; the header
 *    parser's marshal round trip on each; the key-less check;
 *  - keys: a known pair from age-keygen, every refused recipient and identity kind with its message,
 *    identity and recipients files, keygen files (0600, never overwritten);
 *  - round trips from 0 bytes to several MiB in odd write sizes, exact multiples of 64 KiB (the
 *    last-chunk rule), several recipients;
 *  - tampering: truncation at every chunk boundary and inside chunks, swapped chunks, every bit of
 *    a header flipped, bit flips in every chunk and tag. */
#include <dirent.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <cmocka.h>

#include "core/util.h"
#include "crypto/age.h"
#include "io/filter.h"

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static uint8_t *random_bytes(size_t n)
{
    uint8_t *p = malloc(n ? n : 1);
    assert_non_null(p);
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)next_rand();
    return p;
}

/* Push p[0..n) into s in writes of `chunk` bytes (0: one write), then end. */
static int push(dp_sink *s, const void *p, size_t n, size_t chunk, dp_err *err)
{
    const uint8_t *c = p;
    if (!chunk)
        chunk = n ? n : 1;
    for (size_t off = 0; off < n; off += chunk) {
        size_t len = n - off < chunk ? n - off : chunk;
        int rc = dp_sink_write(s, c + off, len, err);
        if (rc)
            return rc;
    }
    return dp_sink_end(s, err);
}

static void encrypt_buf(const dp_age_recipient *r, size_t nr, const void *p, size_t n, size_t chunk, dp_buf *out)
{
    dp_err err = {0};
    dp_sink *s = dp_age_encrypt_new(r, nr, dp_sink_buf_new(out));
    assert_non_null(s);
    if (push(s, p, n, chunk, &err))
        fail_msg("encrypt: %s", err.msg);
    assert_int_equal(dp_sink_commit(s, &err), 0);
    assert_int_equal(s->bytes, n);
    dp_sink_free(s);
}

/* Decrypt into out (what the filter released, also on failure). */
static int decrypt_buf(const dp_age_identity *ids, size_t nids, const void *p, size_t n, size_t chunk, dp_buf *out,
                       dp_err *err)
{
    dp_sink *s = dp_age_decrypt_new(ids, nids, dp_sink_buf_new(out));
    assert_non_null(s);
    int rc = push(s, p, n, chunk, err);
    if (!rc)
        rc = dp_sink_commit(s, err);
    dp_sink_free(s);
    return rc;
}

static const char *src_dir(void)
{
    const char *s = getenv("DUMPER_SRC");
    return s ? s : ".";
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot open %s", path);
    dp_buf b = {0};
    char tmp[65536];
    size_t r;
    while ((r = fread(tmp, 1, sizeof tmp, f)) > 0)
        assert_int_equal(dp_buf_append(&b, tmp, r), 0);
    fclose(f);
    *len = b.len;
    if (!b.data)
        b.data = calloc(1, 1);
    return b.data;
}

static void inflate_all(const uint8_t *p, size_t n, dp_buf *out)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    assert_int_equal(inflateInit(&zs), Z_OK);
    zs.next_in = (Bytef *)p;
    zs.avail_in = (uInt)n;
    int r;
    do {
        uint8_t tmp[65536];
        zs.next_out = tmp;
        zs.avail_out = sizeof tmp;
        r = inflate(&zs, Z_NO_FLUSH);
        assert_true(r == Z_OK || r == Z_STREAM_END);
        assert_int_equal(dp_buf_append(out, tmp, sizeof tmp - zs.avail_out), 0);
    } while (r != Z_STREAM_END);
    inflateEnd(&zs);
}

/* ---- the testkit ---- */

typedef struct {
    char name[128];
    char expect[32];
    char payload[65];
    int compressed, armored;
    dp_age_identity ids[4];
    size_t nids;
    int other_ids; /* identities of other kinds (skipped: we only hold X25519 ones) */
    dp_buf body;   /* the age file */
} vector;

static void load_vector(const char *dir, const char *name, vector *v)
{
    char path[4096];
    size_t len;
    memset(v, 0, sizeof *v);
    snprintf(v->name, sizeof v->name, "%s", name);
    snprintf(path, sizeof path, "%s/%s", dir, name);
    char *all = slurp(path, &len);
    char *cur = all, *end = all + len;
    for (;;) {
        char *nl = memchr(cur, '\n', (size_t)(end - cur));
        assert_non_null(nl);
        *nl = 0;
        if (cur == nl) {
            cur = nl + 1;
            break;
        }
        char *sep = strstr(cur, ": ");
        assert_non_null(sep);
        *sep = 0;
        const char *val = sep + 2;
        if (!strcmp(cur, "expect"))
            snprintf(v->expect, sizeof v->expect, "%s", val);
        else if (!strcmp(cur, "payload"))
            snprintf(v->payload, sizeof v->payload, "%s", val);
        else if (!strcmp(cur, "compressed"))
            v->compressed = !strcmp(val, "zlib");
        else if (!strcmp(cur, "armored"))
            v->armored = !strcmp(val, "yes");
        else if (!strcmp(cur, "identity")) {
            dp_err err = {0};
            if (!strncmp(val, "AGE-SECRET-KEY-1", 16)) {
                assert_true(v->nids < 4);
                if (dp_age_identity_parse(val, "vector identity", &v->ids[v->nids++], &err))
                    fail_msg("%s: %s", name, err.msg);
            } else {
                v->other_ids++;
            }
        }
        cur = nl + 1;
    }
    if (v->compressed)
        inflate_all((uint8_t *)cur, (size_t)(end - cur), &v->body);
    else
        assert_int_equal(dp_buf_append(&v->body, cur, (size_t)(end - cur)), 0);
    free(all);
}

static const char *vector_dir(char *buf, size_t n)
{
    snprintf(buf, n, "%s/test/vectors/age/testkit", src_dir());
    return buf;
}

/* Every vector file name, sorted. */
static size_t list_vectors(char names[][128], size_t max)
{
    char dir[4096];
    DIR *d = opendir(vector_dir(dir, sizeof dir));
    if (!d)
        fail_msg("cannot open %s", dir);
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        assert_true(n < max);
        assert_true(strlen(e->d_name) < 128);
        memcpy(names[n++], e->d_name, strlen(e->d_name) + 1);
    }
    closedir(d);
    qsort(names, n, 128, (int (*)(const void *, const void *))strcmp);
    return n;
}

static void run_vector(const vector *v, size_t chunk)
{
    dp_buf out = {0};
    dp_err err = {0};
    char hex[65];
    int rc = decrypt_buf(v->ids, v->nids, v->body.data, v->body.len, chunk, &out, &err);
    dp_sha256_hex(out.data ? out.data : "", out.len, hex);
    if (!strcmp(v->name, "scrypt")) {
        /* a passphrase file: refused as unsupported, with a message saying what to do */
        if (rc != DUMPER_EUNSUPPORTED || !strstr(err.msg, "passphrase"))
            fail_msg("%s: rc %d: %s", v->name, rc, err.msg);
    } else if (!strcmp(v->expect, "success")) {
        if (rc)
            fail_msg("%s (writes of %zu): expected success, got %d: %s", v->name, chunk, rc, err.msg);
        if (strcmp(hex, v->payload))
            fail_msg("%s: payload %s, expected %s", v->name, hex, v->payload);
    } else if (!strcmp(v->expect, "no match")) {
        if (rc != DUMPER_EAUTH || !strstr(err.msg, "no identity given matches"))
            fail_msg("%s: expected no match, got %d: %s", v->name, rc, err.msg);
        assert_int_equal(out.len, 0);
    } else if (!strcmp(v->expect, "HMAC failure")) {
        if (rc != DUMPER_ECORRUPT || !strstr(err.msg, "header MAC does not match"))
            fail_msg("%s: expected HMAC failure, got %d: %s", v->name, rc, err.msg);
        assert_int_equal(out.len, 0);
    } else if (!strcmp(v->expect, "header failure")) {
        if (rc != DUMPER_ECORRUPT || strstr(err.msg, "chunk") || strstr(err.msg, "MAC does not match"))
            fail_msg("%s: expected header failure, got %d: %s", v->name, rc, err.msg);
        assert_int_equal(out.len, 0);
    } else if (!strcmp(v->expect, "payload failure")) {
        if (rc != DUMPER_ECORRUPT)
            fail_msg("%s: expected payload failure, got %d: %s", v->name, rc, err.msg);
        /* exactly what age releases before the error */
        if (strcmp(hex, v->payload))
            fail_msg("%s: released payload %s, expected %s (%s)", v->name, hex, v->payload, err.msg);
    } else {
        fail_msg("%s: unknown expectation '%s'", v->name, v->expect);
    }
    dp_buf_free(&out);
}

static void test_testkit(void **state)
{
    static char names[200][128];
    char dir[4096];
    size_t n = list_vectors(names, 200), ran = 0;
    assert_int_equal(n, 70); /* test/vectors/age/README.md lists them */
    for (size_t i = 0; i < n; i++) {
        vector v;
        load_vector(vector_dir(dir, sizeof dir), names[i], &v);
        assert_false(v.armored);
        if (v.nids == 0 && strcmp(v.name, "scrypt") != 0 && strcmp(v.name, "empty") != 0)
            fail_msg("%s: no X25519 identity", v.name);
        /* one write, odd small writes, writes that straddle chunk boundaries */
        run_vector(&v, 0);
        run_vector(&v, 7);
        run_vector(&v, 65537);
        if (v.body.len < 4096)
            run_vector(&v, 1);
        ran++;
        dp_buf_free(&v.body);
    }
    assert_int_equal(ran, 70);
}

/* Header parser: on every vector whose header is well-formed, marshal(parse(x)) is x's header; the
 * key-less check agrees with the outcome where no key is needed to see it. */
static void test_testkit_header(void **state)
{
    static char names[200][128];
    char dir[4096];
    size_t n = list_vectors(names, 200);
    for (size_t i = 0; i < n; i++) {
        vector v;
        load_vector(vector_dir(dir, sizeof dir), names[i], &v);
        dp_age_header h;
        dp_err err = {0};
        int rc = v.body.len ? dp_age_header_parse((uint8_t *)v.body.data, v.body.len, &h, &err) : DP_AGE_NEED_MORE;
        int header_bad = !strcmp(v.expect, "header failure");
        /* these two need the key to see: the share is a low-order point */
        int needs_key = !strcmp(v.name, "x25519_identity") || !strcmp(v.name, "x25519_low_order");
        /* age counts a missing or short payload nonce as a header failure; the header itself parses */
        int nonce_bad = !strcmp(v.name, "stream_no_nonce") || !strcmp(v.name, "stream_short_nonce");
        if (header_bad && !needs_key && !nonce_bad) {
            if (rc == 0)
                fail_msg("%s: header parsed but the vector expects a header failure", v.name);
        } else if (rc != 0) {
            fail_msg("%s: header failed to parse (%d): %s", v.name, rc, err.msg);
        }
        if (rc == 0) {
            dp_buf m = {0};
            assert_int_equal(dp_age_header_marshal(&h, 1, &m), 0);
            assert_int_equal(m.len, h.len);
            assert_memory_equal(m.data, v.body.data, h.len);
            dp_buf_reset(&m);
            assert_int_equal(dp_age_header_marshal(&h, 0, &m), 0);
            assert_int_equal(m.len, h.mac_input_len);
            /* every proper prefix asks for more, never fails or succeeds */
            for (size_t k = 0; k < h.len; k++) {
                dp_age_header h2;
                dp_err e2 = {0};
                assert_int_equal(dp_age_header_parse((uint8_t *)v.body.data, k, &h2, &e2), DP_AGE_NEED_MORE);
            }
            dp_buf_free(&m);
            dp_age_header_free(&h);
        }
        /* the key-less check (verify without --identity) */
        dp_buf out = {0};
        dp_err e3 = {0};
        int crc = decrypt_buf(NULL, 0, v.body.data, v.body.len, 4099, &out, &e3);
        assert_int_equal(out.len, 0);
        if (!strcmp(v.expect, "success") && strcmp(v.name, "scrypt") != 0) {
            if (crc)
                fail_msg("%s: key-less check failed: %s", v.name, e3.msg);
        } else if (header_bad && !needs_key) {
            if (crc != DUMPER_ECORRUPT)
                fail_msg("%s: key-less check: %d %s", v.name, crc, e3.msg);
        }
        dp_buf_free(&out);
        dp_buf_free(&v.body);
    }
}

/* ---- keys ---- */

/* A pair made by age-keygen 1.1.1 (Debian's age). */
#define KAT_IDENTITY "AGE-SECRET-KEY-1FXGP68WZ2SSTHWHUQK0Y3KL30K0AJH2SDRX7RXP2ER7KEVSYZD4S3PH8L0"
#define KAT_RECIPIENT "age1eeah82ppgkmklxz6zp74vj9uxdwu9pgdss5apvhk0zst56pr4qysvrez97"

static void test_keys_known_pair(void **state)
{
    dp_age_identity id;
    dp_age_recipient r, r2;
    dp_err err = {0};
    char back[DP_AGE_IDENTITY_LEN + 1];
    assert_int_equal(dp_age_identity_parse(KAT_IDENTITY, "identity", &id, &err), 0);
    dp_age_identity_recipient(&id, &r);
    assert_string_equal(r.str, KAT_RECIPIENT);
    dp_age_identity_encode(&id, back);
    assert_string_equal(back, KAT_IDENTITY);
    assert_int_equal(dp_age_recipient_parse(KAT_RECIPIENT, "recipient", &r2, &err), 0);
    assert_memory_equal(r.pk, r2.pk, 32);
    assert_string_equal(r2.str, KAT_RECIPIENT);
    /* generated keys: distinct, and they round-trip */
    dp_age_identity a, b, a2;
    assert_int_equal(dp_age_identity_generate(&a, &err), 0);
    assert_int_equal(dp_age_identity_generate(&b, &err), 0);
    assert_memory_not_equal(a.sk, b.sk, 32);
    dp_age_identity_encode(&a, back);
    assert_int_equal(strlen(back), DP_AGE_IDENTITY_LEN);
    assert_int_equal(dp_age_identity_parse(back, "identity", &a2, &err), 0);
    assert_memory_equal(a.sk, a2.sk, 32);
    assert_memory_equal(a.pk, a2.pk, 32);
}

static void test_recipient_refused(void **state)
{
    static const struct {
        const char *s, *msg;
    } bad[] = {
        {"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHsKLqeplhpW+uObz5dvMgjz1OxfM/XXUB+VHtZ6isGN alice@example",
         "r: SSH keys (ssh-ed25519) are not supported as recipients; use an age X25519 recipient (age1..., from "
         "'dumper keygen' or age-keygen)"},
        {"ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQDULTit0KUehbi", "r: SSH keys (ssh-rsa) are not supported"},
        {"age1pq1abcdef", "r: post-quantum hybrid recipients (age1pq1...) are not supported"},
        {"age1yubikey1qwt50d05nh5vutpdzmlg5wn80xq5negm4uj9ghv0snvdd3yysf5yw3rhl3t",
         "r: age plugin and tag recipients (age1<name>1...) are not supported"},
        {"age1tag1qwt50d05nh5vutpdzmlg5wn80xq5negm4uj9ghv0snvdd3yysf5yw3rhl3t", "r: age plugin and tag recipients"},
        {"scrypt", "r: passphrase (scrypt) encryption is not supported"},
        {KAT_IDENTITY, "r is a secret key (an identity), not a recipient"},
        {"github:alice", "r: github: recipients are not supported"},
        {"AGE1EEAH82PPGKMKLXZ6ZP74VJ9UXDWU9PGDSS5APVHK0ZST56PR4QYSVREZ97", "r is not an age recipient"},
        {"age1eeah82ppgkmklxz6zp74vj9uxdwu9pgdss5apvhk0zst56pr4qysvrez98", "r is a malformed age recipient (invalid checksum)"},
        {"age1eeah82ppgkmklxz6zp74vj9uxdwu9pgdss5apvhk0zst56pr4qysvrez9", "r is a malformed age recipient"},
        {"age1qqpexly5", "r is a malformed age recipient (not a 32-byte key)"},
        {"", "r is not an age recipient"},
        {"x25519", "r is not an age recipient"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        dp_age_recipient r;
        dp_err err = {0};
        assert_int_equal(dp_age_recipient_parse(bad[i].s, "r", &r, &err), DUMPER_EUSAGE);
        if (strncmp(err.msg, bad[i].msg, strlen(bad[i].msg)) != 0)
            fail_msg("'%s': got '%s'", bad[i].s, err.msg);
        /* a secret key given as a recipient is never repeated back */
        assert_null(strstr(err.msg, "AGE-SECRET-KEY-1F"));
    }
}

static void test_identity_refused(void **state)
{
    static const struct {
        const char *s, *msg;
    } bad[] = {
        {KAT_RECIPIENT, "i is a recipient (a public key), not an identity"},
        {"AGE-PLUGIN-YUBIKEY-1QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ", "i: age plugin identities"},
        {"AGE-SECRET-KEY-PQ-1HZLGZUPT4ETPKDEV8HSGFDCYZ4E522W0A7PU2LHT8EH9W6YLNC3SW78XKG", "i: post-quantum identities"},
        {"AGE-SECRET-KEY-1FXGP68WZ2SSTHWHUQK0Y3KL30K0AJH2SDRX7RXP2ER7KEVSYZD4S3PH8L9",
         "i is a malformed age identity (invalid checksum)"},
        {"AGE-SECRET-KEY-1fxgp68wz2ssthwhuqk0y3kl30k0ajh2sdrx7rxp2er7kevsyzd4s3ph8l0", "i is a malformed age identity (mixed case)"},
        {"age-secret-key-1fxgp68wz2ssthwhuqk0y3kl30k0ajh2sdrx7rxp2er7kevsyzd4s3ph8l0", "i is not an age identity"},
        {"-----BEGIN OPENSSH PRIVATE KEY-----", "i is not an age identity"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        dp_age_identity id;
        dp_err err = {0};
        assert_int_equal(dp_age_identity_parse(bad[i].s, "i", &id, &err), DUMPER_EUSAGE);
        if (strncmp(err.msg, bad[i].msg, strlen(bad[i].msg)) != 0)
            fail_msg("'%.30s': got '%s'", bad[i].s, err.msg);
        assert_null(strstr(err.msg, "FXGP68"));
        assert_null(strstr(err.msg, "fxgp68"));
    }
}

static char tmpdir[256];

static int make_tmpdir(void **state)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/test_age.XXXXXX");
    assert_non_null(mkdtemp(tmpdir));
    return 0;
}

static int remove_tmpdir(void **state)
{
    DIR *d = opendir(tmpdir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        char p[512];
        if (e->d_name[0] == '.' && (!e->d_name[1] || (e->d_name[1] == '.' && !e->d_name[2])))
            continue;
        snprintf(p, sizeof p, "%s/%s", tmpdir, e->d_name);
        unlink(p);
    }
    if (d)
        closedir(d);
    rmdir(tmpdir);
    return 0;
}

static const char *write_tmp(const char *name, const char *content)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fputs(content, f);
    fclose(f);
    return path;
}

static void test_identity_files(void **state)
{
    dp_age_identity *ids = NULL;
    size_t n = 0;
    dp_err err = {0};
    /* age-keygen's format, CRLF, several keys, comments and blank lines */
    const char *p = write_tmp("ok.txt", "# created: 2026-12-03T08:24:19Z\r\n# public key: " KAT_RECIPIENT
                                        "\r\n" KAT_IDENTITY "\r\n\n  \n# another\n" KAT_IDENTITY "\n");
    assert_int_equal(dp_age_identities_read(p, &ids, &n, &err), 0);
    assert_int_equal(n, 2);
    dp_age_recipient r;
    dp_age_identity_recipient(&ids[1], &r);
    assert_string_equal(r.str, KAT_RECIPIENT);
    /* appends */
    assert_int_equal(dp_age_identities_read(p, &ids, &n, &err), 0);
    assert_int_equal(n, 4);
    dp_age_identities_free(ids, n);

    static const struct {
        const char *content, *msg;
    } bad[] = {
        {"-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ\n-----END OPENSSH PRIVATE KEY-----\n",
         "is a PEM/SSH private key; SSH keys are not supported"},
        {"age-encryption.org/v1\n-> scrypt abc 18\nxyz\n--- abc\n", "is itself encrypted (age -p); decrypt it first"},
        {"# only comments\n\n", "holds no identity"},
        {"", "holds no identity"},
        {"# x\n" KAT_RECIPIENT "\n", "line 2 is a recipient (a public key), not an identity"},
        {KAT_IDENTITY "\nAGE-SECRET-KEY-1FXGP68WZ2SSTHWHUQK0Y3KL30K0AJH2SDRX7RXP2ER7KEVSYZD4S3PH8L9\n",
         "line 2 is a malformed age identity (invalid checksum)"},
        {"password=hunter2\n", "line 1 is not an age identity"},
        {"AGE-PLUGIN-YUBIKEY-1QQQQ\n", "line 1: age plugin identities"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        dp_err e = {0};
        ids = NULL;
        n = 0;
        const char *bp = write_tmp("bad.txt", bad[i].content);
        assert_int_equal(dp_age_identities_read(bp, &ids, &n, &e), DUMPER_EUSAGE);
        if (!strstr(e.msg, bad[i].msg))
            fail_msg("case %zu: '%s'", i, e.msg);
        assert_non_null(strstr(e.msg, "bad.txt"));
        assert_null(strstr(e.msg, "hunter2"));
        assert_null(strstr(e.msg, "FXGP68"));
        dp_age_identities_free(ids, n);
    }
    dp_err e = {0};
    ids = NULL;
    n = 0;
    char missing[512];
    snprintf(missing, sizeof missing, "%s/nope.txt", tmpdir);
    assert_int_equal(dp_age_identities_read(missing, &ids, &n, &e), DUMPER_ENOENT);
    assert_non_null(strstr(e.msg, "unable to open identity file"));
    /* a binary file */
    char bin[512];
    snprintf(bin, sizeof bin, "%s/bin", tmpdir);
    FILE *f = fopen(bin, "wb");
    fwrite("AGE\0x", 1, 5, f);
    fclose(f);
    dp_err e2 = {0};
    assert_int_equal(dp_age_identities_read(bin, &ids, &n, &e2), DUMPER_EUSAGE);
    assert_non_null(strstr(e2.msg, "is not a text file"));
}

static void test_recipient_files(void **state)
{
    dp_age_recipient *r = NULL;
    size_t n = 0;
    dp_err err = {0};
    const char *p = write_tmp("r.txt", "# ops\n" KAT_RECIPIENT "\n\n# offline\r\n"
                                       "age1vpqptwjadc2kfw5gp2tcp6vhzyvz3dvensgf5r566g46hl3f5a5suyfda4\n");
    assert_int_equal(dp_age_recipients_read(p, &r, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_string_equal(r[0].str, KAT_RECIPIENT);
    free(r);
    r = NULL;
    n = 0;
    p = write_tmp("r2.txt", KAT_RECIPIENT "\nssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHsKLqeplhpW alice\n");
    assert_int_equal(dp_age_recipients_read(p, &r, &n, &err), DUMPER_EUSAGE);
    assert_non_null(strstr(err.msg, "recipients file '"));
    assert_non_null(strstr(err.msg, "r2.txt' line 2: SSH keys (ssh-ed25519) are not supported"));
    free(r);
    r = NULL;
    n = 0;
    dp_err e2 = {0};
    p = write_tmp("r3.txt", "# nothing\n");
    assert_int_equal(dp_age_recipients_read(p, &r, &n, &e2), DUMPER_EUSAGE);
    assert_non_null(strstr(e2.msg, "holds no recipient"));
    free(r);
}

static void test_keygen_file(void **state)
{
    char path[512];
    dp_age_recipient r, r2;
    dp_err err = {0};
    snprintf(path, sizeof path, "%s/key.txt", tmpdir);
    mode_t old = umask(0);
    int rc = dp_age_keygen_file(path, &r, &err);
    umask(old);
    assert_int_equal(rc, 0);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    size_t len;
    char *text = slurp(path, &len);
    /* age-keygen's layout */
    assert_true(strncmp(text, "# created: ", 11) == 0);
    char want[128];
    snprintf(want, sizeof want, "\n# public key: %s\nAGE-SECRET-KEY-1", r.str);
    assert_non_null(strstr(text, want));
    assert_int_equal(text[len - 1], '\n');
    free(text);
    dp_age_identity *ids = NULL;
    size_t n = 0;
    assert_int_equal(dp_age_identities_read(path, &ids, &n, &err), 0);
    assert_int_equal(n, 1);
    dp_age_identity_recipient(&ids[0], &r2);
    assert_string_equal(r.str, r2.str);
    dp_age_identities_free(ids, n);
    /* never overwritten */
    struct stat before;
    stat(path, &before);
    dp_err e2 = {0};
    assert_int_equal(dp_age_keygen_file(path, &r2, &e2), DUMPER_EEXIST);
    assert_non_null(strstr(e2.msg, "already exists: not overwritten"));
    struct stat after;
    stat(path, &after);
    assert_int_equal(before.st_ino, after.st_ino);
    assert_int_equal(before.st_size, after.st_size);
    /* a symlink is not followed */
    char link[512];
    snprintf(link, sizeof link, "%s/link.txt", tmpdir);
    assert_int_equal(symlink(path, link), 0);
    dp_err e3 = {0};
    assert_int_equal(dp_age_keygen_file(link, &r2, &e3), DUMPER_EEXIST);
    /* a missing directory */
    char nodir[512];
    snprintf(nodir, sizeof nodir, "%s/no/key.txt", tmpdir);
    dp_err e4 = {0};
    assert_int_equal(dp_age_keygen_file(nodir, &r2, &e4), DUMPER_ENOENT);
}

/* ---- round trips ---- */

static size_t ct_len(size_t header, size_t n)
{
    size_t chunks = n ? (n + DP_AGE_CHUNK - 1) / DP_AGE_CHUNK : 1;
    return header + DP_AGE_NONCE_LEN + n + chunks * DP_AGE_TAG_LEN;
}

static size_t header_len(const dp_buf *ct)
{
    dp_age_header h;
    dp_err err = {0};
    assert_int_equal(dp_age_header_parse((uint8_t *)ct->data, ct->len, &h, &err), 0);
    size_t l = h.len;
    dp_age_header_free(&h);
    return l;
}

static void roundtrip(const dp_age_identity *ids, size_t nids, const dp_age_recipient *r, size_t nr, size_t n,
                      size_t wchunk, size_t rchunk)
{
    uint8_t *p = random_bytes(n);
    dp_buf ct = {0}, pt = {0};
    dp_err err = {0};
    encrypt_buf(r, nr, p, n, wchunk, &ct);
    assert_int_equal(ct.len, ct_len(header_len(&ct), n));
    for (size_t k = 0; k < nids; k++) {
        dp_buf_reset(&pt);
        if (decrypt_buf(&ids[k], 1, ct.data, ct.len, rchunk, &pt, &err))
            fail_msg("decrypt of %zu bytes (writes %zu/%zu) with identity %zu: %s", n, wchunk, rchunk, k, err.msg);
        assert_int_equal(pt.len, n);
        if (n)
            assert_memory_equal(pt.data, p, n);
    }
    /* the key-less check accepts it */
    dp_buf_reset(&pt);
    assert_int_equal(decrypt_buf(NULL, 0, ct.data, ct.len, rchunk, &pt, &err), 0);
    assert_int_equal(pt.len, 0);
    free(p);
    dp_buf_free(&ct);
    dp_buf_free(&pt);
}

static void test_roundtrip_sizes(void **state)
{
    dp_age_identity id;
    dp_age_recipient r;
    dp_err err = {0};
    assert_int_equal(dp_age_identity_generate(&id, &err), 0);
    dp_age_identity_recipient(&id, &r);
    static const size_t sizes[] = {0, 1, 2, 15, 16, 17, 1000, 65535, 65536, 65537, 65536 + 16, 2 * 65536 - 1,
                                   2 * 65536, 2 * 65536 + 1, 3 * 65536, 5 * 65536 + 12345};
    static const size_t writes[][2] = {{0, 0}, {1, 65552}, {7, 13}, {4099, 65536}, {65536, 65553}, {100003, 1}};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        for (size_t w = 0; w < sizeof writes / sizeof writes[0]; w++) {
            if ((writes[w][0] == 1 || writes[w][1] == 1) && sizes[i] > 70000)
                continue; /* byte-at-a-time on the large ones: slow under valgrind, nothing new */
            roundtrip(&id, 1, &r, 1, sizes[i], writes[w][0], writes[w][1]);
        }
    /* several MiB in odd writes */
    roundtrip(&id, 1, &r, 1, 6 * 1024 * 1024 + 4321, 12345, 54321);
}

static void test_exact_multiples(void **state)
{
    /* a payload of k * 64 KiB has exactly k chunks: the last is full and flagged, no empty chunk
     * follows; an empty payload has exactly one (empty) chunk */
    dp_age_identity id;
    dp_age_recipient r;
    dp_err err = {0};
    assert_int_equal(dp_age_identity_generate(&id, &err), 0);
    dp_age_identity_recipient(&id, &r);
    for (size_t k = 0; k <= 4; k++) {
        size_t n = k * DP_AGE_CHUNK;
        uint8_t *p = random_bytes(n);
        dp_buf ct = {0}, pt = {0};
        encrypt_buf(&r, 1, p, n, 65536, &ct);
        size_t hl = header_len(&ct);
        assert_int_equal(ct.len, hl + 16 + n + (k ? k : 1) * 16);
        assert_int_equal(decrypt_buf(&id, 1, ct.data, ct.len, 65552, &pt, &err), 0);
        assert_int_equal(pt.len, n);
        /* one empty chunk appended to a full last chunk is refused (the last-chunk rule) */
        if (k) {
            dp_buf_reset(&pt);
            dp_err e2 = {0};
            char extra[16] = {0};
            dp_buf_append(&ct, extra, 16);
            assert_int_equal(decrypt_buf(&id, 1, ct.data, ct.len, 0, &pt, &e2), DUMPER_ECORRUPT);
        }
        free(p);
        dp_buf_free(&ct);
        dp_buf_free(&pt);
    }
}

static void test_several_recipients(void **state)
{
    dp_age_identity ids[3], other;
    dp_age_recipient r[3];
    dp_err err = {0};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(dp_age_identity_generate(&ids[i], &err), 0);
        dp_age_identity_recipient(&ids[i], &r[i]);
    }
    assert_int_equal(dp_age_identity_generate(&other, &err), 0);
    roundtrip(ids, 3, r, 3, 200000, 3000, 7000);
    /* the header has one stanza per recipient, each a fresh ephemeral share */
    dp_buf ct = {0}, pt = {0};
    encrypt_buf(r, 3, "hello", 5, 0, &ct);
    dp_age_header h;
    assert_int_equal(dp_age_header_parse((uint8_t *)ct.data, ct.len, &h, &err), 0);
    assert_int_equal(h.nstanzas, 3);
    for (size_t i = 0; i < 3; i++) {
        assert_string_equal(h.stanzas[i].type, "X25519");
        for (size_t j = 0; j < i; j++)
            assert_string_not_equal(h.stanzas[i].args[0], h.stanzas[j].args[0]);
    }
    dp_age_header_free(&h);
    /* a stranger's identity: no match, nothing released; with a matching one among others: fine */
    dp_err e2 = {0};
    assert_int_equal(decrypt_buf(&other, 1, ct.data, ct.len, 0, &pt, &e2), DUMPER_EAUTH);
    assert_string_equal(e2.msg, "no identity given matches any of the backup's 3 age recipients");
    assert_int_equal(pt.len, 0);
    dp_age_identity two[2] = {other, ids[2]};
    assert_int_equal(decrypt_buf(two, 2, ct.data, ct.len, 0, &pt, &err), 0);
    assert_int_equal(pt.len, 5);
    assert_memory_equal(pt.data, "hello", 5);
    /* two encryptions of the same data differ entirely (fresh file key and nonce) */
    dp_buf ct2 = {0};
    encrypt_buf(r, 3, "hello", 5, 0, &ct2);
    assert_int_equal(ct.len, ct2.len);
    assert_memory_not_equal(ct.data + ct.len - 21, ct2.data + ct2.len - 21, 21);
    dp_buf_free(&ct);
    dp_buf_free(&ct2);
    dp_buf_free(&pt);
}

/* ---- tampering ---- */

typedef struct {
    dp_age_identity id;
    dp_age_recipient r;
    uint8_t *plain;
    size_t n;
    dp_buf ct;
    size_t hl; /* header length */
} sample;

static void make_sample(sample *s, size_t n)
{
    dp_err err = {0};
    memset(s, 0, sizeof *s);
    assert_int_equal(dp_age_identity_generate(&s->id, &err), 0);
    dp_age_identity_recipient(&s->id, &s->r);
    s->n = n;
    s->plain = random_bytes(n);
    encrypt_buf(&s->r, 1, s->plain, n, 0, &s->ct);
    s->hl = header_len(&s->ct);
}

static void free_sample(sample *s)
{
    free(s->plain);
    dp_buf_free(&s->ct);
}

/* Decrypting c must fail with `want` (0: ECORRUPT or EAUTH), and what was released must be a prefix
 * of the plaintext made of whole chunks. */
static void expect_failure(const sample *s, const uint8_t *c, size_t n, int want, const char *what)
{
    dp_buf pt = {0};
    dp_err err = {0};
    int rc = decrypt_buf(&s->id, 1, c, n, 0, &pt, &err);
    if (rc == 0 || (want && rc != want) || (!want && rc != DUMPER_ECORRUPT && rc != DUMPER_EAUTH))
        fail_msg("%s: rc %d (%s)", what, rc, err.msg);
    assert_true(pt.len <= s->n);
    assert_true(pt.len % DP_AGE_CHUNK == 0);
    if (pt.len)
        assert_memory_equal(pt.data, s->plain, pt.len);
    dp_buf_free(&pt);
}

static void test_tamper_truncation(void **state)
{
    sample s;
    make_sample(&s, 4 * DP_AGE_CHUNK + 1000); /* five chunks */
    size_t pay = s.hl + DP_AGE_NONCE_LEN;
    /* at every chunk boundary, one byte either side, inside the header, nonce and tags */
    for (size_t k = 0; k <= 5; k++) {
        size_t b = pay + k * (DP_AGE_CHUNK + DP_AGE_TAG_LEN);
        size_t cuts[] = {b - 1, b, b + 1, b + 8, b + DP_AGE_TAG_LEN, b + 1000};
        for (size_t c = 0; c < sizeof cuts / sizeof cuts[0]; c++)
            if (cuts[c] < s.ct.len) {
                char what[64];
                snprintf(what, sizeof what, "truncated to %zu of %zu", cuts[c], s.ct.len);
                expect_failure(&s, (uint8_t *)s.ct.data, cuts[c], DUMPER_ECORRUPT, what);
            }
    }
    for (size_t cut = 0; cut < pay; cut++)
        expect_failure(&s, (uint8_t *)s.ct.data, cut, DUMPER_ECORRUPT, "truncated header or nonce");
    expect_failure(&s, (uint8_t *)s.ct.data, s.ct.len - 1, DUMPER_ECORRUPT, "last byte missing");
    free_sample(&s);
}

static void test_tamper_reorder(void **state)
{
    sample s;
    make_sample(&s, 3 * DP_AGE_CHUNK + 5);
    size_t pay = s.hl + DP_AGE_NONCE_LEN, cl = DP_AGE_CHUNK + DP_AGE_TAG_LEN;
    uint8_t *c = malloc(s.ct.len), *tmp = malloc(cl);
    /* swap chunks 1 and 2, then 2 and 3 */
    for (size_t a = 0; a < 2; a++) {
        memcpy(c, s.ct.data, s.ct.len);
        memcpy(tmp, c + pay + a * cl, cl);
        memmove(c + pay + a * cl, c + pay + (a + 1) * cl, cl);
        memcpy(c + pay + (a + 1) * cl, tmp, cl);
        expect_failure(&s, c, s.ct.len, DUMPER_ECORRUPT, "swapped chunks");
    }
    /* a chunk repeated, a chunk dropped, the final chunk moved first */
    dp_buf b = {0};
    dp_buf_append(&b, s.ct.data, pay + cl);
    dp_buf_append(&b, s.ct.data + pay, s.ct.len - pay);
    expect_failure(&s, (uint8_t *)b.data, b.len, DUMPER_ECORRUPT, "repeated chunk");
    dp_buf_reset(&b);
    dp_buf_append(&b, s.ct.data, pay);
    dp_buf_append(&b, s.ct.data + pay + cl, s.ct.len - pay - cl);
    expect_failure(&s, (uint8_t *)b.data, b.len, DUMPER_ECORRUPT, "dropped chunk");
    dp_buf_reset(&b);
    dp_buf_append(&b, s.ct.data, pay);
    dp_buf_append(&b, s.ct.data + pay + 3 * cl, s.ct.len - pay - 3 * cl);
    dp_buf_append(&b, s.ct.data + pay, 3 * cl);
    expect_failure(&s, (uint8_t *)b.data, b.len, DUMPER_ECORRUPT, "final chunk first");
    /* the payload of another file under the same key... a different nonce: nothing decrypts */
    sample t;
    make_sample(&t, 10);
    dp_buf_reset(&b);
    dp_buf_append(&b, s.ct.data, s.hl);
    dp_buf_append(&b, t.ct.data + t.hl, t.ct.len - t.hl);
    expect_failure(&s, (uint8_t *)b.data, b.len, DUMPER_ECORRUPT, "spliced payload");
    free_sample(&t);
    dp_buf_free(&b);
    free(c);
    free(tmp);
    free_sample(&s);
}

static void test_tamper_bit_flips(void **state)
{
    sample s;
    make_sample(&s, 2 * DP_AGE_CHUNK + 100);
    uint8_t *c = malloc(s.ct.len);
    memcpy(c, s.ct.data, s.ct.len);
    dp_age_header h;
    dp_err err = {0};
    assert_int_equal(dp_age_header_parse(c, s.ct.len, &h, &err), 0);
    size_t intro = strlen(DP_AGE_INTRO);
    size_t mac_start = h.mac_input_len;
    dp_age_header_free(&h);
    /* every bit of the header and the nonce */
    for (size_t i = 0; i < s.hl + DP_AGE_NONCE_LEN; i++)
        for (int bit = 0; bit < 8; bit++) {
            c[i] ^= (uint8_t)(1 << bit);
            char what[64];
            snprintf(what, sizeof what, "bit %d of byte %zu flipped", bit, i);
            /* inside the stanza (share or wrapped key) the file key simply does not unwrap: no
             * identity matches (age's recipients are anonymous); anywhere else: corrupt */
            int in_stanza = i >= intro && i < mac_start;
            expect_failure(&s, c, s.ct.len, in_stanza ? 0 : DUMPER_ECORRUPT, what);
            c[i] ^= (uint8_t)(1 << bit);
        }
    /* payload: in every chunk, in its data and its tag */
    size_t pay = s.hl + DP_AGE_NONCE_LEN, cl = DP_AGE_CHUNK + DP_AGE_TAG_LEN;
    size_t spots[] = {pay, pay + 1, pay + 12345, pay + cl - 16, pay + cl - 1, pay + cl, pay + cl + 7,
                      pay + 2 * cl - 1, pay + 2 * cl, pay + 2 * cl + 50, s.ct.len - 16, s.ct.len - 1};
    for (size_t k = 0; k < sizeof spots / sizeof spots[0]; k++) {
        c[spots[k]] ^= 0x10;
        char what[64];
        snprintf(what, sizeof what, "payload byte %zu flipped", spots[k]);
        expect_failure(&s, c, s.ct.len, DUMPER_ECORRUPT, what);
        c[spots[k]] ^= 0x10;
    }
    /* the untouched copy still decrypts */
    dp_buf pt = {0};
    assert_int_equal(decrypt_buf(&s.id, 1, c, s.ct.len, 0, &pt, &err), 0);
    assert_int_equal(pt.len, s.n);
    dp_buf_free(&pt);
    free(c);
    free_sample(&s);
}

static void test_header_limits(void **state)
{
    /* a header of exactly 64 KiB parses; one byte more does not, also when fed in pieces */
    dp_buf b = {0};
    dp_buf_puts(&b, DP_AGE_INTRO);
    /* grease stanzas of ~4 KiB bodies until close to the limit */
    while (b.len < DP_AGE_HEADER_MAX - 6000)
        {
            dp_buf_puts(&b, "-> grease\n");
            for (int l = 0; l < 64; l++)
                dp_buf_puts(&b, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n");
            dp_buf_puts(&b, "\n");
        }
    /* pad with an argument so that the header ends exactly at the limit */
    size_t fixed = b.len + strlen("-> pad \n\n--- ") + 43 + 1;
    size_t argl = DP_AGE_HEADER_MAX - fixed;
    dp_buf_puts(&b, "-> pad ");
    for (size_t i = 0; i < argl; i++)
        dp_buf_puts(&b, "x");
    dp_buf_puts(&b, "\n\n--- AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n");
    assert_int_equal(b.len, DP_AGE_HEADER_MAX);
    dp_age_header h;
    dp_err err = {0};
    assert_int_equal(dp_age_header_parse((uint8_t *)b.data, b.len, &h, &err), 0);
    assert_int_equal(h.len, DP_AGE_HEADER_MAX);
    dp_age_header_free(&h);
    /* through the filter, key-less, with a payload after it */
    uint8_t tail[16 + 16] = {0};
    dp_buf c = {0}, out = {0};
    dp_buf_append(&c, b.data, b.len);
    dp_buf_append(&c, tail, sizeof tail);
    assert_int_equal(decrypt_buf(NULL, 0, c.data, c.len, 1000, &out, &err), 0);
    /* one byte more */
    dp_buf_reset(&b);
    dp_buf_append(&b, c.data, DP_AGE_HEADER_MAX - 50);
    dp_buf_puts(&b, "x");
    dp_buf_append(&b, c.data + DP_AGE_HEADER_MAX - 50, c.len - (DP_AGE_HEADER_MAX - 50));
    dp_err e2 = {0};
    assert_int_equal(dp_age_header_parse((uint8_t *)b.data, b.len, &h, &e2), DUMPER_ECORRUPT);
    assert_string_equal(e2.msg, "backup is corrupt: age header longer than 64 KiB");
    dp_err e3 = {0};
    assert_int_equal(decrypt_buf(NULL, 0, b.data, b.len, 1000, &out, &e3), DUMPER_ECORRUPT);
    assert_string_equal(e3.msg, "backup is corrupt: age header longer than 64 KiB");
    /* a file that is not age at all fails on its first line, without waiting for 64 KiB */
    dp_err e4 = {0};
    assert_int_equal(dp_age_header_parse((const uint8_t *)"\x28\xb5\x2f\xfd", 4, &h, &e4), DUMPER_ECORRUPT);
    assert_string_equal(e4.msg, "backup is corrupt: not an age v1 file (unexpected first line)");
    dp_buf_free(&b);
    dp_buf_free(&c);
    dp_buf_free(&out);
}

static void test_downstream_error(void **state)
{
    /* the downstream's error comes back through both filters and sticks */
    sample s;
    make_sample(&s, 3 * DP_AGE_CHUNK);
    dp_sink *lim = dp_filter_limit_new(DP_AGE_CHUNK + 5, dp_sink_null_new());
    dp_sink *d = dp_age_decrypt_new(&s.id, 1, lim);
    dp_err err = {0};
    assert_int_equal(push(d, s.ct.data, s.ct.len, 4096, &err), DUMPER_ETOOLARGE);
    dp_err e2 = {0};
    assert_int_equal(dp_sink_write(d, "x", 1, &e2), DUMPER_ETOOLARGE);
    dp_sink_free(d);
    dp_sink *lim2 = dp_filter_limit_new(100, dp_sink_null_new());
    dp_sink *e = dp_age_encrypt_new(&s.r, 1, lim2);
    dp_err e3 = {0};
    assert_int_equal(push(e, s.plain, s.n, 0, &e3), DUMPER_ETOOLARGE);
    dp_sink_free(e);
    free_sample(&s);
    assert_null(dp_age_encrypt_new(&s.r, 0, NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_testkit),
        cmocka_unit_test(test_testkit_header),
        cmocka_unit_test(test_keys_known_pair),
        cmocka_unit_test(test_recipient_refused),
        cmocka_unit_test(test_identity_refused),
        cmocka_unit_test(test_identity_files),
        cmocka_unit_test(test_recipient_files),
        cmocka_unit_test(test_keygen_file),
        cmocka_unit_test(test_roundtrip_sizes),
        cmocka_unit_test(test_exact_multiples),
        cmocka_unit_test(test_several_recipients),
        cmocka_unit_test(test_tamper_truncation),
        cmocka_unit_test(test_tamper_reorder),
        cmocka_unit_test(test_tamper_bit_flips),
        cmocka_unit_test(test_header_limits),
        cmocka_unit_test(test_downstream_error),
    };
    return cmocka_run_group_tests(tests, make_tmpdir, remove_tmpdir);
}
