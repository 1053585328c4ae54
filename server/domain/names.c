/* names.c - labels, ids, extensions and backup file names (see names.h). */
#include "domain/names.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "core/util.h"
#include "io/filter.h"

static int label_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
           c == '-';
}

int sd_label_valid(const char *s, size_t max)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > max)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!label_char(s[i]))
            return 0;
    return 1;
}

int sd_app_name_valid(const char *s) { return sd_label_valid(s, 64); }

int sd_scope_valid(const char *env, const char *key) { return sd_label_valid(env, 64) && (!key || sd_label_valid(key, 64)); }

void sd_label_sanitize(char *s)
{
    for (; *s; s++)
        if (!label_char(*s))
            *s = '_';
}

void sd_db_key_derive(char out[65], const char *type, const char *name)
{
    size_t t = strnlen(type, 32);
    if (!name || !*name)
        name = "default";
    size_t n = strnlen(name, 64 - 1 - t);
    memcpy(out, type, t);
    out[t] = '-';
    memcpy(out + t + 1, name, n);
    out[t + 1 + n] = 0;
    sd_label_sanitize(out);
}

int64_t sd_id_scan(const char **p, char prefix)
{
    const char *s = *p;
    if (prefix) {
        if (s[0] != prefix || s[1] != '_')
            return -1;
        s += 2;
    }
    if (*s < '0' || *s > '9')
        return -1;
    int64_t v = 0;
    for (; *s >= '0' && *s <= '9'; s++) {
        if (v > (INT64_MAX - (*s - '0')) / 10)
            return -1;
        v = v * 10 + (*s - '0');
    }
    if (v <= 0)
        return -1;
    *p = s;
    return v;
}

int sd_id_parse(const char *s, char prefix, int64_t *id)
{
    if (!s)
        return -1;
    int64_t v = sd_id_scan(&s, prefix);
    if (v < 0 || *s)
        return -1;
    *id = v;
    return 0;
}

void sd_id_format(char out[32], char prefix, int64_t id) { snprintf(out, 32, "%c_%" PRId64, prefix, id); }

int sd_part_number_scan(const char **p, int max_parts)
{
    const char *s = *p;
    if (*s < '1' || *s > '9')
        return -1;
    long v = 0;
    for (; *s >= '0' && *s <= '9'; s++)
        if ((v = v * 10 + (*s - '0')) > max_parts)
            return -1;
    *p = s;
    return (int)v;
}

int sd_compression_valid(const char *name)
{
    int c = dp_codec_parse(name);
    return c >= 0 && !strcmp(name, dp_codec_name((dp_codec)c)); /* the names, not the extensions ("zst") */
}

int sd_extension_valid(const char *ext)
{
    size_t n = ext ? strlen(ext) : 0;
    if (n < 1 || n > 16 || ext[0] == '.' || ext[n - 1] == '.' || strstr(ext, ".."))
        return 0;
    for (const char *c = ext; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '.'))
            return 0;
    return 1;
}

void sd_extension_default(char out[40], const char *format, const char *compression)
{
    int c = dp_codec_parse(compression ? compression : "none");
    const char *ext = c >= 0 ? dp_codec_ext((dp_codec)c) : "";
    snprintf(out, 40, "%s%s%s", format ? format : "dump", *ext ? "." : "", ext);
}

void sd_backup_file_name(char out[256], const char *app, const char *env, const char *key, int64_t created_ms,
                         int64_t id, const char *ext)
{
    char a[65], ts[24];
    snprintf(a, sizeof a, "%s", app);
    sd_label_sanitize(a);
    dp_stamp_compact(created_ms, ts);
    snprintf(out, 256, "%s-%s-%s-%s-b%" PRId64 ".%s", a, env, key, ts, id, ext);
}

/* The length of a C1 control (U+0080-U+009F) or bidirectional override/isolate (U+202A-U+202E,
 * U+2066-U+2069) starting at p in UTF-8, else 0. */
static size_t unsafe_mark(const unsigned char *p)
{
    if (p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f)
        return 2;
    if (p[0] == 0xe2 && p[1] == 0x80 && p[2] >= 0xaa && p[2] <= 0xae)
        return 3;
    if (p[0] == 0xe2 && p[1] == 0x81 && p[2] >= 0xa6 && p[2] <= 0xa9)
        return 3;
    return 0;
}

const char *sd_text_problem(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p < 0x20 || *p == 0x7f)
            return "control characters";
        if (unsafe_mark(p))
            return p[0] == 0xc2 ? "control characters" : "bidirectional override characters";
    }
    return NULL;
}

const char *sd_shell_problem(const char *s, int allow_space)
{
    const char *t = sd_text_problem(s);
    if (t)
        return t;
    for (const char *p = s; *p; p++)
        if (strchr("`$;&|<>()\\\"'*?[]{}!#~", *p) || (*p == ' ' && !allow_space))
            return "shell metacharacters";
    return NULL;
}

void sd_text_clean(char *s)
{
    unsigned char *r = (unsigned char *)s, *w = r;
    while (*r) {
        size_t m = unsafe_mark(r);
        if (m) {
            r += m;
            continue;
        }
        *w++ = *r < 0x20 || *r == 0x7f ? ' ' : *r;
        r++;
    }
    *w = 0;
    /* A UTF-8 sequence cut short at the end (a message cut at its limit) goes too. */
    unsigned char *end = w, *lead = w;
    while (lead > (unsigned char *)s && (lead[-1] & 0xc0) == 0x80 && end - lead < 3)
        lead--;
    if (lead > (unsigned char *)s && lead[-1] >= 0xc0) {
        unsigned char c = lead[-1];
        size_t need = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
        if ((size_t)(end - lead) + 1 < need)
            lead[-1] = 0;
    }
}
