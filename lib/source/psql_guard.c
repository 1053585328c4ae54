/* psql_guard.c - the \restrict fence around a plain dump fed to psql (see psql_guard.h). */
#include "source/psql_guard.h"

#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>

#define HEADER_LINE_MAX 4096 /* a header line longer than this ends the header */
#define HOLD_MAX 65536       /* a candidate "\unrestrict" tail is never longer (whitespace included) */

void dp_psql_guard_init(dp_psql_guard *g) { memset(g, 0, sizeof *g); }

void dp_psql_guard_free(dp_psql_guard *g)
{
    dp_buf_free(&g->hold);
    memset(g, 0, sizeof *g);
}

static int is_key_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* n without trailing blanks and carriage returns */
static size_t trim_end(const char *s, size_t n)
{
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
        n--;
    return n;
}

static int blank(const char *s, size_t n) { return trim_end(s, n) == 0; }

/* "\restrict KEY" exactly (pg_dump's line, trailing blanks allowed): copies KEY into key. */
static int restrict_line(const char *s, size_t n, char *key)
{
    static const char cmd[] = "\\restrict ";
    size_t c = sizeof cmd - 1;
    n = trim_end(s, n);
    if (n <= c || n - c > DP_PSQL_KEY_MAX || memcmp(s, cmd, c) != 0)
        return 0;
    for (size_t i = c; i < n; i++)
        if (!is_key_char(s[i]))
            return 0;
    memcpy(key, s + c, n - c);
    key[n - c] = 0;
    return 1;
}

/* The line [s, s+n) (complete: it ended with '\n') is, or may still become, "\unrestrict KEY". */
static int unrestrict_candidate(const dp_psql_guard *g, const char *s, size_t n, int complete)
{
    char want[sizeof "\\unrestrict " + DP_PSQL_KEY_MAX];
    size_t wn = (size_t)snprintf(want, sizeof want, "\\unrestrict %s", g->dumpkey);
    if (!complete && n <= wn && memcmp(s, want, n) == 0)
        return 1; /* may still become it */
    return trim_end(s, n) == wn && memcmp(s, want, wn) == 0;
}

/* Body: pass everything on except a trailing line that is (or may become) the dump's own final
 * "\unrestrict KEY", followed by nothing but whitespace. */
static int body(dp_psql_guard *g, dp_buf *out, int final)
{
    dp_buf *h = &g->hold;
    size_t keep = 0; /* bytes held back from the end */
    if (g->dumpkey[0] && h->len) {
        size_t last = h->len; /* index just past the last non-whitespace byte */
        while (last && strchr(" \t\r\n", h->data[last - 1]))
            last--;
        if (last) {
            size_t start = last - 1;
            while (start && h->data[start - 1] != '\n')
                start--;
            const char *nl = memchr(h->data + start, '\n', h->len - start);
            size_t n = nl ? (size_t)(nl - (h->data + start)) : h->len - start;
            if ((start || !g->mid_line) && unrestrict_candidate(g, h->data + start, n, nl != NULL || final) &&
                h->len - start <= HOLD_MAX)
                keep = h->len - start;
        }
    }
    if (h->len - keep)
        g->mid_line = h->data[h->len - keep - 1] != '\n';
    if (dp_buf_append(out, h->data, h->len - keep) < 0)
        return -1;
    if (final && keep) /* the dump's own \unrestrict: dropped, the line kept as an empty one */
        return dp_buf_append(out, "\n", 1);
    dp_buf_consume(h, h->len - keep);
    if (final)
        dp_buf_reset(h);
    return 0;
}

/* Header: blank and "--" lines pass; the first other complete line ends the header, and is dropped
 * (replaced by an empty line, so psql's line numbers stay the dump's) when it is "\restrict KEY". */
static int header(dp_psql_guard *g, dp_buf *out, int final)
{
    dp_buf *h = &g->hold;
    while (!g->body) {
        const char *nl = h->len ? memchr(h->data, '\n', h->len) : NULL;
        if (!nl) {
            if (final || h->len > HEADER_LINE_MAX)
                g->body = 1;
            return 0;
        }
        size_t n = (size_t)(nl - h->data);
        if (blank(h->data, n) || (n >= 2 && h->data[0] == '-' && h->data[1] == '-')) {
            if (dp_buf_append(out, h->data, n + 1) < 0)
                return -1;
            dp_buf_consume(h, n + 1);
            continue;
        }
        g->body = 1;
        if (restrict_line(h->data, n, g->dumpkey)) {
            if (dp_buf_append(out, "\n", 1) < 0)
                return -1;
            dp_buf_consume(h, n + 1);
        }
    }
    return 0;
}

int dp_psql_guard_feed(dp_psql_guard *g, const char *p, size_t n, dp_buf *out)
{
    if (n && dp_buf_append(&g->hold, p, n) < 0)
        return -1;
    if (header(g, out, 0) < 0)
        return -1;
    return g->body ? body(g, out, 0) : 0;
}

int dp_psql_guard_finish(dp_psql_guard *g, dp_buf *out)
{
    if (header(g, out, 1) < 0)
        return -1;
    return body(g, out, 1);
}

int dp_psql_guard_prelude(char out[80])
{
    unsigned char r[32];
    if (RAND_bytes(r, sizeof r) != 1)
        return -1;
    static const char hx[] = "0123456789abcdef";
    memcpy(out, "\\restrict ", 10);
    for (size_t i = 0; i < sizeof r; i++) {
        out[10 + 2 * i] = hx[r[i] >> 4];
        out[11 + 2 * i] = hx[r[i] & 15];
    }
    out[10 + 2 * sizeof r] = '\n';
    out[11 + 2 * sizeof r] = 0;
    return 0;
}

int dp_psql_restricts(int v)
{
    int major = v >= 100000 ? v / 10000 : 0, minor = v >= 100000 ? v % 10000 : 0;
    switch (major) {
    case 13: return minor >= 22;
    case 14: return minor >= 19;
    case 15: return minor >= 14;
    case 16: return minor >= 10;
    case 17: return minor >= 6;
    default: return major >= 18;
    }
}
