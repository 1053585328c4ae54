/*
 * age_format.c - the age v1 header: canonical unpadded base64, the strict parser and its inverse.
 *
 * The parser is pure (bytes in, struct or error out) so that test/fuzz/fuzz_age_header.c can drive
 * it directly. It is strict where the specification is: anything it accepts marshals back to the
 * same bytes, which is what makes the header MAC (computed over the bytes read) equal to the MAC
 * age computes over its re-encoding. The decrypt filter calls it again as header bytes arrive, until
 * it stops answering DP_AGE_NEED_MORE; a header is at most 64 KiB, so that stays cheap.
 */
#include <stdlib.h>
#include <string.h>

#include "crypto/age_internal.h"

#define COLUMNS 64
#define BYTES_PER_LINE 48

static const char b64chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t dp_age_b64_encode(const uint8_t *in, size_t n, char *out)
{
    size_t o = 0, i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = b64chars[v >> 18];
        out[o++] = b64chars[(v >> 12) & 63];
        out[o++] = b64chars[(v >> 6) & 63];
        out[o++] = b64chars[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        out[o++] = b64chars[v >> 18];
        out[o++] = b64chars[(v >> 12) & 63];
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
        out[o++] = b64chars[v >> 18];
        out[o++] = b64chars[(v >> 12) & 63];
        out[o++] = b64chars[(v >> 6) & 63];
    }
    out[o] = 0;
    return o;
}

static int b64val(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

int dp_age_b64_decode(const char *s, size_t n, uint8_t *out, size_t outcap, size_t *outlen)
{
    size_t need = n / 4 * 3 + (n % 4 ? n % 4 - 1 : 0), o = 0;
    if (n % 4 == 1 || need > outcap)
        return -1;
    uint32_t acc = 0;
    unsigned bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64val((unsigned char)s[i]);
        if (v < 0)
            return -1;
        acc = (acc << 6 | (uint32_t)v) & 0xffffff;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (uint8_t)(acc >> bits);
        }
    }
    /* canonical: the bits left over after the last full byte are zero */
    if (bits && (acc & ((1u << bits) - 1)))
        return -1;
    *outlen = o;
    return 0;
}

void dp_age_stanza_free(dp_age_stanza *st)
{
    if (!st)
        return;
    free(st->type);
    for (size_t i = 0; i < st->nargs; i++)
        free(st->args[i]);
    free(st->args);
    free(st->body);
    memset(st, 0, sizeof *st);
}

void dp_age_header_free(dp_age_header *h)
{
    if (!h)
        return;
    for (size_t i = 0; i < h->nstanzas; i++)
        dp_age_stanza_free(&h->stanzas[i]);
    free(h->stanzas);
    memset(h, 0, sizeof *h);
}

/* A stanza argument: non-empty printable ASCII without spaces. */
static int valid_arg(const uint8_t *p, size_t n)
{
    if (!n)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (p[i] < 33 || p[i] > 126)
            return 0;
    return 1;
}

/* Parse the stanza opening line l[0..n) ("-> type args...", no '\n') into st. */
static int parse_stanza_line(const uint8_t *l, size_t n, dp_age_stanza *st, const char **why)
{
    if (n < 3 || l[2] != ' ') /* "->" alone, or "->x" */
        return *why = "malformed stanza opening line", -1;
    size_t pos = 3;
    for (;;) {
        const uint8_t *sp = memchr(l + pos, ' ', n - pos);
        size_t end = sp ? (size_t)(sp - l) : n;
        if (!valid_arg(l + pos, end - pos))
            return *why = "malformed stanza argument", -1;
        char *a = dp_strndup((const char *)l + pos, end - pos);
        if (!a)
            return *why = NULL, -1;
        if (!st->type) {
            st->type = a;
        } else {
            char **na = realloc(st->args, (st->nargs + 1) * sizeof *na);
            if (!na) {
                free(a);
                return *why = NULL, -1;
            }
            st->args = na;
            st->args[st->nargs++] = a;
        }
        if (!sp)
            return 0;
        pos = end + 1;
    }
}

/* The X25519 and scrypt rules that need no key. */
static const char *check_stanzas(const dp_age_header *h)
{
    for (size_t i = 0; i < h->nstanzas; i++) {
        const dp_age_stanza *st = &h->stanzas[i];
        if (strcmp(st->type, "X25519") == 0) {
            uint8_t share[33];
            size_t sl;
            if (st->nargs != 1 || dp_age_b64_decode(st->args[0], strlen(st->args[0]), share, sizeof share, &sl) ||
                sl != 32)
                return "invalid X25519 stanza: its argument must be a 32-byte share";
            if (st->body_len != DP_AGE_FILE_KEY_LEN + DP_AGE_TAG_LEN)
                return "invalid X25519 stanza: the wrapped file key must be 32 bytes";
        } else if (strcmp(st->type, "scrypt") == 0 && h->nstanzas != 1) {
            return "an scrypt stanza must be the only one in the header";
        }
    }
    return NULL;
}

int dp_age_header_parse(const uint8_t *p, size_t n, dp_age_header *out, dp_err *err)
{
    static const char intro[] = DP_AGE_INTRO;
    const size_t il = sizeof intro - 1;
    dp_age_header h;
    const char *why = NULL;
    int more = 0;
    memset(&h, 0, sizeof h);
    if (n == 0)
        return DP_AGE_NEED_MORE;
    if (memcmp(p, intro, n < il ? n : il) != 0) {
        why = "not an age v1 file (unexpected first line)";
        goto bad;
    }
    if (n < il) {
        more = 1;
        goto bad;
    }
    size_t pos = il;
    for (;;) {
        const uint8_t *nl = memchr(p + pos, '\n', n - pos);
        if (!nl) {
            /* the line so far must be able to start a stanza or the footer */
            size_t have = n - pos;
            if ((have >= 1 && p[pos] != '-') || (have >= 2 && p[pos + 1] != '-' && p[pos + 1] != '>')) {
                why = "malformed stanza opening line";
                goto bad;
            }
            more = 1;
            goto bad;
        }
        size_t len = (size_t)(nl - (p + pos));
        const uint8_t *l = p + pos;
        if (len >= 3 && memcmp(l, "---", 3) == 0) {
            /* "--- <43 characters of base64>" */
            size_t ml;
            if (len < 4 || l[3] != ' ' || memchr(l + 4, ' ', len - 4) ||
                dp_age_b64_decode((const char *)l + 4, len - 4, h.mac, sizeof h.mac, &ml) || ml != 32) {
                why = "malformed header MAC line";
                goto bad;
            }
            h.mac_input_len = pos + 3;
            h.len = pos + len + 1;
            break;
        }
        if (len < 2 || l[0] != '-' || l[1] != '>') {
            why = "malformed stanza opening line";
            goto bad;
        }
        dp_age_stanza *ns = realloc(h.stanzas, (h.nstanzas + 1) * sizeof *ns);
        if (!ns)
            goto oom;
        h.stanzas = ns;
        dp_age_stanza *st = &h.stanzas[h.nstanzas++];
        memset(st, 0, sizeof *st);
        if (parse_stanza_line(l, len, st, &why)) {
            if (!why)
                goto oom;
            goto bad;
        }
        pos += len + 1;
        /* body lines: full lines of 64 columns, then one short line (possibly empty) */
        for (;;) {
            const uint8_t *bl = p + pos;
            const uint8_t *bnl = memchr(bl, '\n', n - pos);
            size_t blen = bnl ? (size_t)(bnl - bl) : n - pos;
            if (blen > COLUMNS) {
                why = "stanza body line longer than 64 columns";
                goto bad;
            }
            for (size_t i = 0; i < blen; i++)
                if (b64val(bl[i]) < 0) {
                    why = "malformed stanza body (every stanza ends with a short base64 line)";
                    goto bad;
                }
            if (!bnl) {
                more = 1;
                goto bad;
            }
            uint8_t *nb = realloc(st->body, st->body_len + BYTES_PER_LINE + 1);
            if (!nb)
                goto oom;
            st->body = nb;
            size_t got;
            if (dp_age_b64_decode((const char *)bl, blen, st->body + st->body_len, BYTES_PER_LINE, &got)) {
                why = "malformed stanza body: not canonical base64";
                goto bad;
            }
            st->body_len += got;
            pos += blen + 1;
            if (blen < COLUMNS)
                break;
        }
    }
    if (h.len > DP_AGE_HEADER_MAX) {
        why = "age header longer than 64 KiB";
        goto bad;
    }
    if ((why = check_stanzas(&h)))
        goto bad;
    *out = h;
    return 0;
bad:
    dp_age_header_free(&h);
    if (more) {
        if (n >= DP_AGE_HEADER_MAX)
            return dp_err_set(err, DUMPER_ECORRUPT, "backup is corrupt: age header longer than 64 KiB");
        return DP_AGE_NEED_MORE;
    }
    return dp_err_set(err, DUMPER_ECORRUPT, "backup is corrupt: %s", why);
oom:
    dp_age_header_free(&h);
    return dp_err_set(err, DUMPER_ENOMEM, "out of memory");
}

int dp_age_header_marshal(const dp_age_header *h, int with_mac, dp_buf *out)
{
    char line[COLUMNS + 8];
    if (dp_buf_puts(out, DP_AGE_INTRO) < 0)
        return DUMPER_ENOMEM;
    for (size_t i = 0; i < h->nstanzas; i++) {
        const dp_age_stanza *st = &h->stanzas[i];
        if (dp_buf_puts(out, "-> ") < 0 || dp_buf_puts(out, st->type) < 0)
            return DUMPER_ENOMEM;
        for (size_t a = 0; a < st->nargs; a++)
            if (dp_buf_puts(out, " ") < 0 || dp_buf_puts(out, st->args[a]) < 0)
                return DUMPER_ENOMEM;
        if (dp_buf_puts(out, "\n") < 0)
            return DUMPER_ENOMEM;
        size_t off = 0;
        for (;;) {
            size_t take = st->body_len - off < BYTES_PER_LINE ? st->body_len - off : BYTES_PER_LINE;
            size_t l = dp_age_b64_encode(st->body + off, take, line);
            line[l++] = '\n';
            if (dp_buf_append(out, line, l) < 0)
                return DUMPER_ENOMEM;
            off += take;
            if (take < BYTES_PER_LINE)
                break;
        }
    }
    if (dp_buf_puts(out, "---") < 0)
        return DUMPER_ENOMEM;
    if (with_mac) {
        char mac[48];
        dp_age_b64_encode(h->mac, sizeof h->mac, mac);
        if (dp_buf_puts(out, " ") < 0 || dp_buf_puts(out, mac) < 0 || dp_buf_puts(out, "\n") < 0)
            return DUMPER_ENOMEM;
    }
    return 0;
}
