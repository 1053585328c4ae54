/* argv.c - shell-like word splitting without expansion (see argv.h). Pure: no I/O, no globals. */
#include "core/argv.h"

#include <stdlib.h>
#include <string.h>

#include "core/util.h"

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

void dp_argv_free(char **v)
{
    if (!v)
        return;
    for (char **p = v; *p; p++)
        free(*p);
    free(v);
}

size_t dp_argv_count(char *const *v)
{
    size_t n = 0;
    while (v && v[n])
        n++;
    return n;
}

static int push(char ***v, size_t *n, size_t *cap, dp_buf *word)
{
    if (*n + 2 > *cap) {
        size_t nc = *cap ? *cap * 2 : 8;
        char **nv = realloc(*v, nc * sizeof *nv);
        if (!nv)
            return -1;
        *v = nv;
        *cap = nc;
    }
    char *w = word->data ? word->data : dp_strdup("");
    if (!w)
        return -1;
    (*v)[(*n)++] = w;
    (*v)[*n] = NULL;
    memset(word, 0, sizeof *word); /* ownership moved into the array */
    return 0;
}

int dp_argv_split(const char *s, const char *what, char ***out, size_t *nout, dp_err *err)
{
    char **v = NULL;
    size_t n = 0, cap = 0;
    dp_buf word = {0};
    int in_word = 0, rc = 0;
    const char *why = NULL;
    *out = NULL;
    if (nout)
        *nout = 0;
    if (!s)
        s = "";
    for (const char *p = s; *p; p++) {
        char c = *p;
        if (is_space(c)) {
            if (in_word) {
                if (push(&v, &n, &cap, &word) < 0)
                    goto oom;
                in_word = 0;
            }
            continue;
        }
        in_word = 1;
        if (c == '\'') {
            const char *q = strchr(p + 1, '\'');
            if (!q) {
                why = "unterminated single quote";
                goto bad;
            }
            if (dp_buf_append(&word, p + 1, (size_t)(q - p - 1)) < 0)
                goto oom;
            p = q;
        } else if (c == '"') {
            for (p++;; p++) {
                if (!*p) {
                    why = "unterminated double quote";
                    goto bad;
                }
                if (*p == '"')
                    break;
                if (*p == '\\' && p[1] && strchr("\\\"$`\n", p[1])) {
                    p++;
                    if (*p == '\n')
                        continue; /* line continuation */
                }
                if (dp_buf_append(&word, p, 1) < 0)
                    goto oom;
            }
        } else if (c == '\\') {
            if (!p[1]) {
                why = "trailing backslash";
                goto bad;
            }
            p++;
            if (*p == '\n') {
                if (!word.len && !word.data)
                    in_word = 0; /* a lone continuation is not an empty word */
                continue;
            }
            if (dp_buf_append(&word, p, 1) < 0)
                goto oom;
        } else if (dp_buf_append(&word, p, 1) < 0) {
            goto oom;
        }
        /* An empty quoted word ('' or "") still counts: make sure it has storage. */
        if (!word.data && dp_buf_append(&word, "", 0) < 0)
            goto oom;
    }
    if (in_word && push(&v, &n, &cap, &word) < 0)
        goto oom;
    if (!v && !(v = calloc(1, sizeof *v)))
        goto oom;
    *out = v;
    if (nout)
        *nout = n;
    return 0;
oom:
    rc = dp_err_set(err, DUMPER_ENOMEM, "out of memory");
    goto fail;
bad:
    rc = dp_err_set(err, DUMPER_EUSAGE, "invalid %s: %s", what ? what : "arguments", why);
fail:
    dp_buf_free(&word);
    dp_argv_free(v);
    return rc;
}
