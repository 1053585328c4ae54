/*
 * fuzz_s3_xml.c - libFuzzer target for what the S3 driver reads from an S3 endpoint
 * (lib/storage/s3_xml.c, s3_upload.c): ListObjectsV2 pages, error bodies, the UploadId of an
 * InitiateMultipartUpload answer and the outcome of a CompleteMultipartUpload answer.
 *
 * Every input goes through every parser. Beyond "no crash, leak or UB":
 * - listing: every key is non-empty, has no trailing '/', and there are no more of them than
 *   <Contents> elements; a truncated page has a continuation token; the page under the prefix
 *   "b/" is exactly the page under "" filtered to keys starting with "b/", prefix stripped (the
 *   same outcome either way);
 * - error bodies (every status class) and complete answers: one line naming the object, no control
 *   character in it whatever <Code> and <Message> hold; a complete answer succeeds only for a 200
 *   without <Error>;
 * - the UploadId, as it goes into a query string, holds only unreserved characters and %XX;
 * - XML text: escaping the unescaped text of any tag and unescaping it again gives it back.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/sigv4.h"
#include "storage/s3_upload.h"
#include "storage/s3_xml.h"

static void one_line(const dp_err *e)
{
    if (!e->msg[0] || strncmp(e->msg, "s3://b/k: ", 10) != 0)
        abort();
    for (const unsigned char *c = (const unsigned char *)e->msg; *c; c++)
        if (*c < 0x20 || *c == 0x7f)
            abort();
}

static void fuzz_list(const char *xml, size_t n)
{
    dp_s3_list_page all, sub;
    dp_err e1 = {0}, e2 = {0};
    int r1 = dp_s3_xml_parse_list(xml, n, "", &all, &e1);
    int r2 = dp_s3_xml_parse_list(xml, n, "b/", &sub, &e2);
    if (r1 == DUMPER_ENOMEM || r2 == DUMPER_ENOMEM)
        goto done;
    if (r1 != r2)
        abort();
    if (r1) {
        if (r1 != DUMPER_EPROTO || !e1.msg[0] || all.items || all.n || all.next_token)
            abort();
        goto done;
    }
    size_t contents = 0;
    for (const char *p = xml, *end = xml + n; (p = memmem(p, (size_t)(end - p), "<Contents>", 10)); p += 10)
        contents++;
    if (all.n > contents || (all.truncated && !all.next_token) || all.truncated != sub.truncated)
        abort();
    size_t j = 0;
    for (size_t i = 0; i < all.n; i++) {
        const char *k = all.items[i].key;
        size_t kl = strlen(k);
        if (!kl || k[kl - 1] == '/')
            abort();
        if (strncmp(k, "b/", 2) != 0 || kl == 2)
            continue;
        if (j >= sub.n || strcmp(sub.items[j].key, k + 2) != 0 || sub.items[j].size != all.items[i].size ||
            sub.items[j].mtime_ms != all.items[i].mtime_ms)
            abort();
        j++;
    }
    if (j != sub.n)
        abort();
done:
    dp_s3_list_page_free(&all);
    dp_s3_list_page_free(&sub);
}

static void fuzz_errors(const char *body, size_t n)
{
    static const long statuses[] = {200, 301, 307, 400, 403, 404, 409, 429, 500, 503};
    for (size_t i = 0; i < sizeof statuses / sizeof statuses[0]; i++) {
        dp_err e = {0};
        int rc = dp_s3_error_from_response(statuses[i], body, n, "s3://b/k", &e);
        if (!rc || rc != e.code)
            abort();
        one_line(&e);
        dp_err c = {0};
        rc = dp_s3_complete_result(statuses[i], body, n, "s3://b/k", &c);
        int want_ok = statuses[i] == 200 && !memmem(body, n, "<Error>", 7);
        if (want_ok ? rc != 0 || c.code : rc == 0)
            abort();
        if (rc)
            one_line(&c);
    }
}

static void fuzz_upload_id(const char *body, size_t n)
{
    char *id = dp_s3_xml_tag(body, n, "UploadId");
    if (!id)
        return;
    char *q = dp_sigv4_uri_encode(id, 1);
    if (!q)
        abort();
    for (const char *c = q; *c; c++) {
        if (*c == '%') {
            if (!strchr("0123456789ABCDEF", c[1]) || !c[1] || !strchr("0123456789ABCDEF", c[2]) || !c[2])
                abort();
            c += 2;
        } else if (!strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~", *c)) {
            abort();
        }
    }
    free(q);
    /* escape then unescape gives the text back */
    char *esc = dp_s3_xml_escape(id);
    char *back = esc ? dp_s3_xml_unescape(esc, strlen(esc)) : NULL;
    if (!esc || !back || strcmp(back, id) != 0)
        abort();
    free(esc);
    free(back);
    free(id);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *xml = (const char *)data;
    fuzz_list(xml, size);
    fuzz_errors(xml, size);
    fuzz_upload_id(xml, size);
    /* the unescaper alone, on the raw bytes */
    char *u = dp_s3_xml_unescape(xml, size);
    free(u);
    return 0;
}
