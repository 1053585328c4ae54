/*
 * sigv4.c - AWS Signature Version 4 (see sigv4.h). Follows the published algorithm: canonical
 * request -> string to sign -> signing key derived from the secret by four HMACs -> signature.
 */
#include "http/sigv4.h"

#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/util.h"
#include "io/filter.h"

static const char hexd[] = "0123456789abcdef";

static void to_hex(const unsigned char *p, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hexd[p[i] >> 4];
        out[2 * i + 1] = hexd[p[i] & 15];
    }
    out[2 * n] = 0;
}


static int unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
           c == '.' || c == '~';
}

char *dp_sigv4_uri_encode(const char *s, int encode_slash)
{
    size_t n = strlen(s);
    char *out = malloc(3 * n + 1), *o = out;
    if (!out)
        return NULL;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (unreserved(*p) || (*p == '/' && !encode_slash)) {
            *o++ = (char)*p;
        } else {
            *o++ = '%';
            *o++ = "0123456789ABCDEF"[*p >> 4];
            *o++ = "0123456789ABCDEF"[*p & 15];
        }
    }
    *o = 0;
    return out;
}

void dp_sigv4_amzdate(int64_t epoch_s, char out[17])
{
    time_t t = (time_t)epoch_s;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

char *dp_sigv4_canonical_query(const char *query)
{
    if (!query || !*query)
        return dp_strdup("");
    char *copy = dp_strdup(query);
    size_t cap = 1;
    for (const char *c = query; *c; c++)
        cap += *c == '&';
    char **pairs = calloc(cap, sizeof *pairs);
    dp_buf out = {0};
    size_t n = 0;
    if (!copy || !pairs)
        goto fail;
    for (char *save = NULL, *tok = strtok_r(copy, "&", &save); tok; tok = strtok_r(NULL, "&", &save)) {
        /* "key" alone means "key=". Sorting "k=v" strings sorts by key then value because '=' sorts
         * before every unreserved character. */
        pairs[n] = strchr(tok, '=') ? dp_strdup(tok) : dp_asprintf("%s=", tok);
        if (!pairs[n++])
            goto fail;
    }
    qsort(pairs, n, sizeof *pairs, cmp_str);
    for (size_t i = 0; i < n; i++)
        if ((i && dp_buf_puts(&out, "&") < 0) || dp_buf_puts(&out, pairs[i]) < 0)
            goto fail;
    if (!out.data && dp_buf_puts(&out, "") < 0)
        goto fail;
    for (size_t i = 0; i < n; i++)
        free(pairs[i]);
    free(pairs);
    free(copy);
    return out.data;
fail:
    for (size_t i = 0; i < n; i++)
        free(pairs[i]);
    free(pairs);
    free(copy);
    dp_buf_free(&out);
    return NULL;
}

typedef struct {
    char *name, *value;
} hdr;

static int cmp_hdr(const void *a, const void *b) { return strcmp(((const hdr *)a)->name, ((const hdr *)b)->name); }

/* Lowercase name; value trimmed with inner runs of spaces collapsed. */
static int canon_header(const dp_sigv4_header *in, hdr *out)
{
    out->name = dp_strdup(in->name);
    out->value = malloc(strlen(in->value ? in->value : "") + 1);
    if (!out->name || !out->value)
        return -1;
    for (char *c = out->name; *c; c++)
        if (*c >= 'A' && *c <= 'Z')
            *c = (char)(*c - 'A' + 'a');
    const char *v = in->value ? in->value : "";
    char *o = out->value;
    while (*v == ' ' || *v == '\t')
        v++;
    int space = 0;
    for (; *v; v++) {
        if (*v == ' ' || *v == '\t') {
            space = 1;
            continue;
        }
        if (space && o != out->value)
            *o++ = ' ';
        space = 0;
        *o++ = *v;
    }
    *o = 0;
    return 0;
}

static void hmac(const void *key, size_t klen, const char *data, unsigned char out[32])
{
    unsigned int len = 32;
    HMAC(EVP_sha256(), key, (int)klen, (const unsigned char *)data, strlen(data), out, &len);
}

/* signature = hex(HMAC(kSigning, string_to_sign)) where kSigning derives from the secret. */
static void sign(const dp_sigv4_creds *c, const char *date8, const char *sts, char out[65])
{
    unsigned char k[32];
    char *secret = dp_asprintf("AWS4%s", c->secret_key ? c->secret_key : "");
    if (!secret) {
        out[0] = 0;
        return;
    }
    hmac(secret, strlen(secret), date8, k);
    dp_free_secret(secret);
    hmac(k, 32, c->region, k);
    hmac(k, 32, c->service, k);
    hmac(k, 32, "aws4_request", k);
    unsigned char sig[32];
    hmac(k, 32, sts, sig);
    dp_memzero(k, sizeof k);
    to_hex(sig, 32, out);
}

static char *string_to_sign(const dp_sigv4_creds *c, const char *amzdate, const char *canonical)
{
    char h[65];
    dp_sha256_hex(canonical, strlen(canonical), h);
    return dp_asprintf("AWS4-HMAC-SHA256\n%s\n%.8s/%s/%s/aws4_request\n%s", amzdate, amzdate, c->region, c->service,
                       h);
}

char *dp_sigv4_authorization(const dp_sigv4_creds *c, const char *amzdate, const char *method, const char *path,
                             const char *query, const dp_sigv4_header *h, size_t nh, const char *payload_hash,
                             char **canonical)
{
    hdr *hs = calloc(nh ? nh : 1, sizeof *hs);
    char *cq = dp_sigv4_canonical_query(query);
    dp_buf cr = {0}, signed_names = {0};
    char *sts = NULL, *auth = NULL;
    if (!hs || !cq)
        goto done;
    for (size_t i = 0; i < nh; i++)
        if (canon_header(&h[i], &hs[i]) < 0)
            goto done;
    qsort(hs, nh, sizeof *hs, cmp_hdr);
    if (dp_buf_printf(&cr, "%s\n%s\n%s\n", method, path && *path ? path : "/", cq) < 0)
        goto done;
    for (size_t i = 0; i < nh; i++)
        if (dp_buf_printf(&cr, "%s:%s\n", hs[i].name, hs[i].value) < 0 ||
            dp_buf_printf(&signed_names, "%s%s", i ? ";" : "", hs[i].name) < 0)
            goto done;
    if (dp_buf_printf(&cr, "\n%s\n%s", signed_names.data ? signed_names.data : "", payload_hash) < 0)
        goto done;
    if (!(sts = string_to_sign(c, amzdate, cr.data)))
        goto done;
    char sig[65];
    char date8[9];
    memcpy(date8, amzdate, 8);
    date8[8] = 0;
    sign(c, date8, sts, sig);
    auth = dp_asprintf("AWS4-HMAC-SHA256 Credential=%s/%s/%s/%s/aws4_request, SignedHeaders=%s, Signature=%s",
                       c->access_key, date8, c->region, c->service, signed_names.data ? signed_names.data : "", sig);
    if (auth && canonical) {
        *canonical = cr.data;
        cr.data = NULL;
    }
done:
    for (size_t i = 0; hs && i < nh; i++) {
        free(hs[i].name);
        free(hs[i].value);
    }
    free(hs);
    free(cq);
    free(sts);
    dp_buf_free(&cr);
    dp_buf_free(&signed_names);
    return auth;
}

char *dp_sigv4_presign(const dp_sigv4_creds *c, const char *amzdate, long expires_s, const char *method,
                       const char *base, const char *host, const char *path, const char *query)
{
    char date8[9];
    memcpy(date8, amzdate, 8);
    date8[8] = 0;
    char *cred = dp_asprintf("%s/%s/%s/%s/aws4_request", c->access_key, date8, c->region, c->service);
    char *ecred = cred ? dp_sigv4_uri_encode(cred, 1) : NULL;
    char *etok = c->session_token ? dp_sigv4_uri_encode(c->session_token, 1) : NULL;
    char *q = NULL, *cq = NULL, *cr = NULL, *sts = NULL, *url = NULL;
    if (!ecred || (c->session_token && !etok))
        goto done;
    q = dp_asprintf("%s%sX-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=%s&X-Amz-Date=%s&X-Amz-Expires=%ld%s%s"
                    "&X-Amz-SignedHeaders=host",
                    query && *query ? query : "", query && *query ? "&" : "", ecred, amzdate, expires_s,
                    etok ? "&X-Amz-Security-Token=" : "", etok ? etok : "");
    if (!q || !(cq = dp_sigv4_canonical_query(q)))
        goto done;
    cr = dp_asprintf("%s\n%s\n%s\nhost:%s\n\nhost\n%s", method, path && *path ? path : "/", cq, host,
                     DP_UNSIGNED_PAYLOAD);
    if (!cr || !(sts = string_to_sign(c, amzdate, cr)))
        goto done;
    char sig[65];
    sign(c, date8, sts, sig);
    url = dp_asprintf("%s%s?%s&X-Amz-Signature=%s", base, path && *path ? path : "/", cq, sig);
done:
    free(cred);
    free(ecred);
    free(etok);
    free(q);
    free(cq);
    free(cr);
    free(sts);
    return url;
}
