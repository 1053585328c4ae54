/* pg_copy.c - row counts of a plain pg_dump's COPY blocks (see pg_copy.h). */
#include "source/pg_copy.h"

#include <stdlib.h>
#include <string.h>

void dp_pg_copy_init(dp_pg_copy_counter *k, dp_contents *contents)
{
    memset(k, 0, sizeof *k);
    k->contents = contents;
}

/* One identifier as pg_dump writes it: "quoted ""like"" this" or plain; appended to b. The
 * position after it, or NULL. */
static const char *ident(const char *p, const char *end, dp_buf *b)
{
    if (p < end && *p == '"') {
        for (p++; p < end; p++) {
            if (*p == '"') {
                if (p + 1 < end && p[1] == '"') {
                    p++;
                } else {
                    return p + 1;
                }
            }
            if (dp_buf_append(b, p, 1) < 0)
                return NULL;
        }
        return NULL;
    }
    /* unquoted: what pg_dump leaves unquoted (lower case letters, digits, '_', '$', and non-ASCII) */
    const char *s = p;
    while (p < end && ((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_' || *p == '$' ||
                       (unsigned char)*p >= 0x80))
        p++;
    if (p == s || dp_buf_append(b, s, (size_t)(p - s)) < 0)
        return NULL;
    return p;
}

char *dp_pg_copy_table(const char *line, size_t n)
{
    static const char tail[] = " FROM stdin;";
    size_t tl = sizeof tail - 1;
    if (n < 5 + tl || memcmp(line, "COPY ", 5) != 0 || memcmp(line + n - tl, tail, tl) != 0)
        return NULL;
    const char *end = line + n - tl;
    dp_buf b = {0};
    const char *p = ident(line + 5, end, &b);
    if (p && p < end && *p == '.' && dp_buf_append(&b, ".", 1) == 0)
        p = ident(p + 1, end, &b);
    else
        p = NULL;
    if (!p || (p < end && *p != ' ') || dp_buf_puts(&b, "") < 0) {
        dp_buf_free(&b);
        return NULL;
    }
    return b.data;
}

static void end_line(dp_pg_copy_counter *k)
{
    if (k->in_copy) {
        if (k->linepos == 3 && !memcmp(k->pre, "\\.\n", 3)) {
            k->in_copy = 0;
            if (k->cur)
                k->cur->rows = k->rows;
        } else {
            k->rows++;
        }
    } else if (!k->head_skip && k->head.len > 1) {
        char *name = dp_pg_copy_table(k->head.data, k->head.len - 1);
        if (name) {
            k->in_copy = 1;
            k->rows = 0;
            k->blocks++;
            k->cur = k->contents ? dp_contents_find(k->contents, name) : NULL;
            free(name);
        }
    }
    k->linepos = 0;
    k->head_skip = 0;
    dp_buf_reset(&k->head);
}

void dp_pg_copy_feed(dp_pg_copy_counter *k, const void *buf, size_t n)
{
    const char *p = buf;
    while (n > 0 && !k->bad) {
        const char *nl = memchr(p, '\n', n);
        size_t seg = nl ? (size_t)(nl - p) + 1 : n;
        for (size_t i = 0; k->linepos + i < sizeof k->pre && i < seg; i++)
            k->pre[k->linepos + i] = p[i];
        if (!k->in_copy && !k->head_skip) {
            if (k->linepos + seg >= 5 && memcmp(k->pre, "COPY ", 5) != 0)
                k->head_skip = 1;
            else if (k->head.len + seg > DP_PG_COPY_MAX_HEADER || dp_buf_append(&k->head, p, seg) < 0)
                k->bad = 1;
        }
        k->linepos += seg;
        if (nl)
            end_line(k);
        p += seg;
        n -= seg;
    }
}

int dp_pg_copy_finish(dp_pg_copy_counter *k)
{
    dp_buf_free(&k->head);
    return k->bad || k->in_copy || k->linepos ? -1 : 0;
}
