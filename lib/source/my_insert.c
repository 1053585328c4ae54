/* my_insert.c - row counts of a mysqldump stream's INSERT statements (see my_insert.h). */
#include "source/my_insert.h"

#include <string.h>

enum {
    S_LINE = 0, /* at the start of a line or within its first bytes */
    S_SKIP,     /* the rest of a line that is no INSERT */
    S_NAME,     /* inside `name` */
    S_NAME_Q,   /* a backquote inside the name: the end, or `` */
    S_VALUES,   /* after the name, expecting " VALUES" */
    S_ROWS,     /* the tuples */
};

static const char PREFIX[] = "INSERT INTO `";
static const char VALUES[] = " VALUES"; /* then a space (mysqldump) or a line break (mariadb-dump 10.11+) */

void dp_my_insert_init(dp_my_insert_counter *k, dp_contents *contents)
{
    memset(k, 0, sizeof *k);
    k->contents = contents;
}

static void start_rows(dp_my_insert_counter *k)
{
    k->cur = NULL;
    if (k->contents && dp_buf_puts(&k->name, "") == 0)
        k->cur = dp_contents_find(k->contents, k->name.data);
    k->statements++;
    k->in_str = k->esc = k->depth = 0;
    k->state = S_ROWS;
}

void dp_my_insert_feed(dp_my_insert_counter *k, const void *buf, size_t n)
{
    const unsigned char *p = buf, *end = p + n;
    while (p < end && !k->bad) {
        unsigned char c = *p;
        switch (k->state) {
        case S_LINE:
            if (c == '\n') {
                k->nhead = 0;
                break;
            }
            k->head[k->nhead++] = (char)c;
            if (memcmp(k->head, PREFIX, k->nhead) != 0) {
                k->state = S_SKIP;
            } else if (k->nhead == sizeof PREFIX - 1) {
                k->state = S_NAME;
                dp_buf_reset(&k->name);
                k->nhead = 0;
            }
            break;
        case S_SKIP: {
            const unsigned char *nl = memchr(p, '\n', (size_t)(end - p));
            if (!nl) {
                p = end;
                continue;
            }
            p = nl;
            k->state = S_LINE;
            k->nhead = 0;
            break;
        }
        case S_NAME:
            if (c == '`')
                k->state = S_NAME_Q;
            else if (k->name.len >= DP_MY_INSERT_MAX_NAME || dp_buf_append(&k->name, p, 1) < 0)
                k->bad = 1;
            break;
        case S_NAME_Q:
            if (c == '`') {
                if (k->name.len >= DP_MY_INSERT_MAX_NAME || dp_buf_append(&k->name, p, 1) < 0)
                    k->bad = 1;
                k->state = S_NAME;
                break;
            }
            k->state = S_VALUES;
            k->nhead = 0;
            /* fall through: c is the first byte after the name */
            /* FALLTHROUGH */
        case S_VALUES:
            if ((unsigned char)VALUES[k->nhead] != c) {
                k->state = c == '\n' ? S_LINE : S_SKIP; /* INSERT ... (cols) VALUES: not the dump tools' form */
                k->nhead = 0;
                break;
            }
            if (++k->nhead == sizeof VALUES - 1)
                start_rows(k);
            break;
        case S_ROWS:
            if (k->in_str) {
                if (k->esc)
                    k->esc = 0;
                else if (c == '\\')
                    k->esc = 1;
                else if (c == '\'')
                    k->in_str = 0;
            } else if (c == '\'') {
                k->in_str = 1;
            } else if (c == '(') {
                if (k->depth++ == 0 && k->cur)
                    k->cur->rows++;
            } else if (c == ')') {
                if (k->depth > 0)
                    k->depth--;
            } else if (c == ';' && k->depth == 0) {
                k->state = S_SKIP; /* to the end of the line */
            }
            break;
        }
        p++;
    }
}

int dp_my_insert_finish(dp_my_insert_counter *k)
{
    dp_buf_free(&k->name);
    return k->bad || (k->state != S_LINE && k->state != S_SKIP) ? -1 : 0;
}
