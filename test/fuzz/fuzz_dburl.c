/*
 * fuzz_dburl.c - libFuzzer target for the database URL parser (dp_dburl_parse) and the redactors.
 *
 * Beyond "no crash, no leak, no UB" (ASan/UBSan), it checks the password rules: dp_dburl_redacted()
 * does not depend on the parsed password (or password= parameters) at all; for any input shaped like
 * "scheme://user:PASS@..." (PASS = everything from the first ':' after "://" to the last '@', the
 * conservative reading of a URL that did not parse), PASS never appears in the raw redaction or,
 * when the parse fails, in the error message.
 * Build: cmake -DDUMPER_FUZZ=ON -DCMAKE_C_COMPILER=clang; run: build-fuzz/test/fuzz_dburl -max_total_time=60
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/dburl.h"

/* The conservative idea of "the password" of a raw URL, or NULL. Caller frees. */
static char *raw_password(const char *s)
{
    const char *sep = strstr(s, "://");
    if (!sep)
        return NULL;
    const char *auth = sep + 3, *at = strrchr(auth, '@');
    if (!at)
        return NULL;
    const char *colon = memchr(auth, ':', (size_t)(at - auth));
    if (!colon || at - colon - 1 < 4)
        return NULL;
    /* white space or a quote ends a URL in free text (several URLs in one message) */
    for (const char *c = auth; c < at; c++)
        if (strchr(" \t\n\v\f\r'\"", *c))
            return NULL;
    char *pw = strndup(colon + 1, (size_t)(at - colon - 1));
    /* only meaningful when the password text occurs once in the input */
    if (pw && strstr(s, pw) != colon + 1) {
        free(pw);
        return NULL;
    }
    if (pw && strstr(colon + 1 + strlen(pw), pw)) {
        free(pw);
        return NULL;
    }
    return pw;
}

static int has(const char *hay, const char *needle) { return hay && needle && *needle && strstr(hay, needle); }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = 0;
    dp_dburl u;
    dp_err err = {0};
    char *pw = raw_password(s);
    int rc = dp_dburl_parse(s, &u, &err);
    char *raw = dp_url_redact_raw(s);
    if (has(raw, pw))
        abort();
    if (rc == 0) {
        if (err.code)
            abort();
        /* parsed: the parser's password is the truth ("h:1/db?x=a@b" has none) */
        char *red = dp_dburl_redacted(&u);
        if (!red)
            abort();
        /* the redacted URL must not depend on the password's value: swap in a marker, compare */
        if (u.password) {
            char *saved = u.password, marker[] = "\x01MARKER\x01";
            u.password = marker;
            char *red2 = dp_dburl_redacted(&u);
            u.password = saved;
            if (!red2 || strcmp(red, red2) != 0 || strstr(red2, marker))
                abort();
            free(red2);
        }
        /* the same for query parameters that carry passwords */
        for (size_t i = 0; i < u.nparams; i++) {
            if (!strcasestr(u.params[i].key, "password"))
                continue;
            char *saved = u.params[i].value, marker[] = "\x01MARKER\x01";
            u.params[i].value = marker;
            char *red2 = dp_dburl_redacted(&u);
            u.params[i].value = saved;
            if (!red2 || strcmp(red, red2) != 0)
                abort();
            free(red2);
        }
        char *sn = dp_dburl_short_name(&u);
        if (!sn || !*sn)
            abort();
        for (const char *c = sn; *c; c++)
            if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || *c == '_' ||
                  *c == '-' || *c == '.'))
                abort();
        for (size_t i = 0; i < u.nparams; i++)
            if (dp_dburl_param(&u, u.params[i].key) == NULL)
                abort();
        if ((unsigned)u.type >= DP_DB__COUNT || u.port < 0 || u.port > 65535)
            abort();
        free(sn);
        free(red);
        dp_dburl_free(&u);
    } else {
        if (rc != DUMPER_EURL || err.code != DUMPER_EURL || !err.msg[0])
            abort();
        /* the URL as quoted in the message (the explanation after it is fixed text) */
        char *quoted = strdup(err.msg), *end = quoted ? strstr(quoted, "': ") : NULL;
        if (end)
            *end = 0;
        if (!quoted || has(quoted, pw))
            abort();
        free(quoted);
        if (strncmp(err.msg, "malformed database url", 22) != 0)
            abort();
        if (u.scheme || u.host || u.password || u.params) /* left empty */
            abort();
    }
    free(raw);
    free(pw);
    free(s);
    return 0;
}
