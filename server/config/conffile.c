/* conffile.c - the configuration file's parser (see conffile.h). */
#include "config/conffile.h"

#include <stdio.h>
#include <string.h>

static int fail(char *why, size_t whylen, int line, const char *what)
{
    if (line)
        snprintf(why, whylen, "line %d: %s", line, what);
    else
        snprintf(why, whylen, "%s", what);
    return -1;
}

static int blank(char c) { return c == ' ' || c == '\t' || c == '\r'; }

/* One line (NUL-terminated, no '\n') into out: 0, or -1 with why. */
static int parse_line(char *s, int line, sd_conf *out, char *why, size_t whylen)
{
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p < 0x20 && *p != '\t' && *p != '\r')
            return fail(why, whylen, line, "control character");
    while (blank(*s))
        s++;
    if (!*s || *s == '#')
        return 0;
    char *key = s;
    while ((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-')
        s++;
    size_t klen = (size_t)(s - key);
    if (!klen || klen > SD_CONF_MAX_KEY)
        return fail(why, whylen, line, "expected 'key = value' (keys are lowercase option names)");
    char *kend = s;
    while (blank(*s))
        s++;
    if (*s != '=')
        return fail(why, whylen, line, "expected '=' after the key");
    *kend = 0;
    s++;
    while (blank(*s))
        s++;
    char *val = s, *end;
    if (*s == '"') {
        val = ++s;
        char *q = strchr(s, '"');
        if (!q)
            return fail(why, whylen, line, "unterminated quoted value");
        *q = 0;
        for (end = q + 1; blank(*end); end++)
            ;
        if (*end && *end != '#')
            return fail(why, whylen, line, "text after the quoted value");
    } else {
        end = val + strlen(val);
        while (end > val && blank(end[-1]))
            end--;
        *end = 0;
    }
    if (!*val)
        return fail(why, whylen, line, "empty value");
    for (int i = 0; i < out->n; i++)
        if (!strcmp(out->v[i].key, key)) {
            char m[96];
            snprintf(m, sizeof m, "'%s' given twice (first on line %d)", key, out->v[i].line);
            return fail(why, whylen, line, m);
        }
    if (out->n == SD_CONF_MAX_ENTRIES)
        return fail(why, whylen, line, "too many entries");
    out->v[out->n++] = (sd_conf_entry){.key = key, .value = val, .line = line};
    return 0;
}

int sd_conf_parse(char *text, size_t len, sd_conf *out, char *why, size_t whylen)
{
    out->n = 0;
    if (len > SD_CONF_MAX_BYTES)
        return fail(why, whylen, 0, "larger than 64 KiB");
    if (memchr(text, 0, len))
        return fail(why, whylen, 0, "contains a NUL byte");
    text[len] = 0;
    int line = 0;
    for (char *s = text; s < text + len;) {
        char *nl = memchr(s, '\n', (size_t)(text + len - s));
        char *e = nl ? nl : text + len;
        line++;
        if (e - s > SD_CONF_MAX_LINE)
            return fail(why, whylen, line, "line longer than 4096 bytes");
        *e = 0;
        if (parse_line(s, line, out, why, whylen))
            return -1;
        s = e + 1;
    }
    return 0;
}
