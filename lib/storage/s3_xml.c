/* s3_xml.c - S3 XML scanning and building (see s3_xml.h). */
#include "storage/s3_xml.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"

static const char *memfind(const char *h, size_t hn, const char *needle)
{
    size_t nn = strlen(needle);
    if (nn > hn)
        return NULL;
    return memmem(h, hn, needle, nn);
}

static int put_utf8(dp_buf *b, unsigned long cp)
{
    char u[4];
    size_t n;
    if (cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return -1;
    if (cp < 0x80) {
        u[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        u[0] = (char)(0xC0 | (cp >> 6));
        u[1] = (char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        u[0] = (char)(0xE0 | (cp >> 12));
        u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[2] = (char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        u[0] = (char)(0xF0 | (cp >> 18));
        u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[3] = (char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    return dp_buf_append(b, u, n);
}

char *dp_s3_xml_unescape(const char *s, size_t n)
{
    dp_buf b = {0};
    if (dp_buf_append(&b, "", 0) < 0)
        return NULL;
    for (size_t i = 0; i < n;) {
        const char *amp = memchr(s + i, '&', n - i);
        size_t run = amp ? (size_t)(amp - (s + i)) : n - i;
        if (run && dp_buf_append(&b, s + i, run) < 0)
            goto fail;
        i += run;
        if (!amp)
            break;
        const char *semi = memchr(amp, ';', n - i);
        if (!semi || semi - amp > 10)
            goto fail;
        size_t len = (size_t)(semi - amp - 1);
        const char *ent = amp + 1;
        const char *rep = NULL;
        if (len == 3 && !memcmp(ent, "amp", 3))
            rep = "&";
        else if (len == 2 && !memcmp(ent, "lt", 2))
            rep = "<";
        else if (len == 2 && !memcmp(ent, "gt", 2))
            rep = ">";
        else if (len == 4 && !memcmp(ent, "quot", 4))
            rep = "\"";
        else if (len == 4 && !memcmp(ent, "apos", 4))
            rep = "'";
        if (rep) {
            if (dp_buf_puts(&b, rep) < 0)
                goto fail;
        } else if (len >= 2 && ent[0] == '#') {
            int hex = ent[1] == 'x' || ent[1] == 'X';
            const char *d = ent + 1 + hex;
            unsigned long cp = 0;
            if (d >= semi)
                goto fail;
            for (; d < semi; d++) {
                int v = (*d >= '0' && *d <= '9') ? *d - '0'
                        : hex && (*d | 0x20) >= 'a' && (*d | 0x20) <= 'f' ? (*d | 0x20) - 'a' + 10
                                                                        : -1;
                if (v < 0 || cp > 0x10FFFF)
                    goto fail;
                cp = cp * (hex ? 16 : 10) + (unsigned long)v;
            }
            if (put_utf8(&b, cp) < 0)
                goto fail;
        } else {
            goto fail;
        }
        i += len + 2;
    }
    return b.data;
fail:
    dp_buf_free(&b);
    return NULL;
}

/* Locate the inner text of the first <tag> within [xml, xml+n). */
static const char *find_tag(const char *xml, size_t n, const char *tag, size_t *len, const char **after)
{
    char open[80], close[80];
    if (snprintf(open, sizeof open, "<%s>", tag) >= (int)sizeof open ||
        snprintf(close, sizeof close, "</%s>", tag) >= (int)sizeof close)
        return NULL;
    const char *o = memfind(xml, n, open);
    if (!o)
        return NULL;
    const char *in = o + strlen(open);
    const char *c = memfind(in, n - (size_t)(in - xml), close);
    if (!c)
        return NULL;
    *len = (size_t)(c - in);
    if (after)
        *after = c + strlen(close);
    return in;
}

char *dp_s3_xml_tag(const char *xml, size_t n, const char *tag)
{
    size_t len;
    const char *in = xml ? find_tag(xml, n, tag, &len, NULL) : NULL;
    return in ? dp_s3_xml_unescape(in, len) : NULL;
}

char *dp_s3_xml_escape(const char *s)
{
    dp_buf b = {0};
    if (dp_buf_append(&b, "", 0) < 0)
        return NULL;
    for (; *s; s++) {
        const char *r = *s == '&' ? "&amp;" : *s == '<' ? "&lt;" : *s == '>' ? "&gt;" : *s == '"' ? "&quot;" : NULL;
        if (r ? dp_buf_puts(&b, r) < 0 : dp_buf_append(&b, s, 1) < 0) {
            dp_buf_free(&b);
            return NULL;
        }
    }
    return b.data;
}

void dp_s3_list_page_free(dp_s3_list_page *p)
{
    dp_object_info_free(p->items, p->n);
    free(p->next_token);
    memset(p, 0, sizeof *p);
}

int dp_s3_xml_parse_list(const char *xml, size_t n, const char *prefix, dp_s3_list_page *page, dp_err *err)
{
    memset(page, 0, sizeof *page);
    if (!xml || !memfind(xml, n, "<ListBucketResult"))
        return dp_err_set(err, DUMPER_EPROTO, "s3 list: response is not a ListBucketResult");
    size_t cap = 0, plen = prefix ? strlen(prefix) : 0;
    const char *p = xml, *end = xml + n;
    for (;;) {
        size_t len;
        const char *after;
        const char *c = find_tag(p, (size_t)(end - p), "Contents", &len, &after);
        if (!c)
            break;
        char *key = dp_s3_xml_tag(c, len, "Key");
        char *size = dp_s3_xml_tag(c, len, "Size");
        char *lm = dp_s3_xml_tag(c, len, "LastModified");
        char *e = NULL;
        unsigned long long sz = size ? strtoull(size, &e, 10) : 0;
        int bad = !key || !size || !*size || *e;
        const char *rel = key && strncmp(key, prefix ? prefix : "", plen) == 0 ? key + plen : NULL;
        int rc = 0;
        if (bad) {
            rc = dp_err_set(err, DUMPER_EPROTO, "s3 list: malformed <Contents> entry");
        } else if (rel && *rel && !dp_str_has_suffix(rel, "/")) {
            if (page->n == cap) {
                cap = cap ? cap * 2 : 64;
                dp_object_info *g = realloc(page->items, cap * sizeof *g);
                if (!g)
                    rc = dp_err_set(err, DUMPER_ENOMEM, "out of memory");
                else
                    page->items = g;
            }
            if (!rc) {
                dp_object_info *it = &page->items[page->n];
                it->key = dp_strdup(rel);
                it->size = sz;
                it->mtime_ms = lm ? dp_parse_rfc3339(lm) : -1;
                if (!it->key)
                    rc = dp_err_set(err, DUMPER_ENOMEM, "out of memory");
                else
                    page->n++;
            }
        }
        free(key);
        free(size);
        free(lm);
        if (rc) {
            dp_s3_list_page_free(page);
            return rc;
        }
        p = after;
    }
    char *tr = dp_s3_xml_tag(xml, n, "IsTruncated");
    page->truncated = tr && strcmp(tr, "true") == 0;
    free(tr);
    if (page->truncated) {
        page->next_token = dp_s3_xml_tag(xml, n, "NextContinuationToken");
        if (!page->next_token) {
            dp_s3_list_page_free(page);
            return dp_err_set(err, DUMPER_EPROTO, "s3 list: truncated page without a continuation token");
        }
    }
    return 0;
}

char *dp_s3_xml_complete_body(int n, char *const *etags)
{
    dp_buf b = {0};
    if (dp_buf_puts(&b, "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">") < 0)
        goto fail;
    for (int i = 0; i < n; i++) {
        char *e = dp_s3_xml_escape(etags[i] ? etags[i] : "");
        int r = e ? dp_buf_printf(&b, "<Part><PartNumber>%d</PartNumber><ETag>%s</ETag></Part>", i + 1, e) : -1;
        free(e);
        if (r < 0)
            goto fail;
    }
    if (dp_buf_puts(&b, "</CompleteMultipartUpload>") < 0)
        goto fail;
    return b.data;
fail:
    dp_buf_free(&b);
    return NULL;
}
