/*
 * test_s3_pure.c - the S3 driver's pure parts: XML parsing and building, error mapping,
 * part-size growth (also under a cap).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "http/http.h"
#include "storage/s3_upload.h"
#include "storage/s3_xml.h"

#define S(x) x, strlen(x)

static void test_tag_and_unescape(void **state)
{
    const char *x = "<?xml version=\"1.0\"?><InitiateMultipartUploadResult><Bucket>b</Bucket>"
                    "<Key>a&amp;b &lt;c&gt;</Key><UploadId>VXBsb2FkIElE&#x2B;&#61;</UploadId></InitiateMultipartUploadResult>";
    char *v = dp_s3_xml_tag(S(x), "UploadId");
    assert_string_equal(v, "VXBsb2FkIElE+=");
    free(v);
    v = dp_s3_xml_tag(S(x), "Key");
    assert_string_equal(v, "a&b <c>");
    free(v);
    assert_null(dp_s3_xml_tag(S(x), "Missing"));
    assert_null(dp_s3_xml_tag(S("<A>unterminated"), "A"));
    assert_null(dp_s3_xml_unescape(S("bad &bogus; entity")));
    assert_null(dp_s3_xml_unescape(S("&#0;")));
    v = dp_s3_xml_unescape(S("&#233;&quot;&apos;"));
    assert_string_equal(v, "\xc3\xa9\"'");
    free(v);
    /* bounded by n: a tag beyond n is not seen */
    const char *y = "<K>1</K><L>2</L>";
    assert_null(dp_s3_xml_tag(y, 8, "L"));
    v = dp_s3_xml_escape("a<b>&\"c");
    assert_string_equal(v, "a&lt;b&gt;&amp;&quot;c");
    free(v);
}

static void test_list_parse(void **state)
{
    const char *x =
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
        "<Name>b</Name><Prefix>app/</Prefix><KeyCount>4</KeyCount><MaxKeys>4</MaxKeys><IsTruncated>true</IsTruncated>"
        "<NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken>"
        "<Contents><Key>app/db-1.sql.zst</Key><LastModified>2026-11-26T09:45:00.000Z</LastModified>"
        "<ETag>&quot;abc&quot;</ETag><Size>1234</Size><StorageClass>STANDARD</StorageClass></Contents>"
        "<Contents><Key>app/dir/</Key><LastModified>2026-11-26T09:45:00.000Z</LastModified><Size>0</Size></Contents>"
        "<Contents><Key>app/sub/x &amp; y.json</Key><LastModified>2026-11-26T09:46:01Z</LastModified><Size>5368709120</Size></Contents>"
        "<Contents><Key>other/z</Key><Size>1</Size></Contents>"
        "</ListBucketResult>";
    dp_s3_list_page p;
    dp_err err = {0};
    assert_int_equal(dp_s3_xml_parse_list(S(x), "app/", &p, &err), 0);
    assert_int_equal(p.n, 2);
    assert_string_equal(p.items[0].key, "db-1.sql.zst");
    assert_int_equal(p.items[0].size, 1234);
    assert_int_equal(p.items[0].mtime_ms, 1795686300000LL);
    assert_string_equal(p.items[1].key, "sub/x & y.json");
    assert_int_equal(p.items[1].size, 5368709120ULL);
    assert_true(p.truncated);
    assert_string_equal(p.next_token, "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=");
    dp_s3_list_page_free(&p);

    const char *last = "<ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>";
    assert_int_equal(dp_s3_xml_parse_list(S(last), "", &p, &err), 0);
    assert_int_equal(p.n, 0);
    assert_false(p.truncated);
    assert_null(p.next_token);
    dp_s3_list_page_free(&p);

    const char *bad = "<ListBucketResult><Contents><Key>k</Key><Size>12x</Size></Contents></ListBucketResult>";
    assert_int_equal(dp_s3_xml_parse_list(S(bad), "", &p, &err), DUMPER_EPROTO);
    assert_string_equal(err.msg, "s3 list: malformed <Contents> entry");
    dp_err_clear(&err);
    const char *notrunc = "<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>";
    assert_int_equal(dp_s3_xml_parse_list(S(notrunc), "", &p, &err), DUMPER_EPROTO);
    dp_err_clear(&err);
    assert_int_equal(dp_s3_xml_parse_list(S("<Error><Code>x</Code></Error>"), "", &p, &err), DUMPER_EPROTO);
}

static void test_complete_body(void **state)
{
    char *etags[] = {"\"e1\"", "\"e&2\""};
    char *b = dp_s3_xml_complete_body(2, etags);
    assert_string_equal(b, "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
                           "<Part><PartNumber>1</PartNumber><ETag>&quot;e1&quot;</ETag></Part>"
                           "<Part><PartNumber>2</PartNumber><ETag>&quot;e&amp;2&quot;</ETag></Part>"
                           "</CompleteMultipartUpload>");
    free(b);
}

static void test_error_mapping(void **state)
{
    dp_err err = {0};
    const char *expired = "<?xml version=\"1.0\"?><Error><Code>AccessDenied</Code><Message>Request has expired</Message>"
                          "<Expires>2026-11-26T09:00:00Z</Expires></Error>";
    assert_int_equal(dp_s3_error_from_response(403, S(expired), "s3://b/k part 1", &err), DUMPER_EAUTH);
    assert_string_equal(err.msg, "s3://b/k part 1: access denied: HTTP 403 AccessDenied: Request has expired");
    dp_err_clear(&err);
    const char *nb = "<Error><Code>NoSuchBucket</Code><Message>The specified\nbucket does not exist</Message></Error>";
    assert_int_equal(dp_s3_error_from_response(404, S(nb), "s3://b", &err), DUMPER_ENOENT);
    assert_string_equal(err.msg, "s3://b: bucket does not exist: HTTP 404 NoSuchBucket: The specified bucket does not exist");
    dp_err_clear(&err);
    assert_int_equal(dp_s3_error_from_response(503, NULL, 0, "s3://b/k", &err), DUMPER_ESTORAGE);
    assert_string_equal(err.msg, "s3://b/k: storage service error: HTTP 503");
    dp_err_clear(&err);
    assert_int_equal(dp_s3_error_from_response(400, S("<Error><Code>EntityTooSmall</Code></Error>"), "x", &err),
                     DUMPER_ESTORAGE);
    assert_string_equal(err.msg, "x: HTTP 400 EntityTooSmall");
    dp_err_clear(&err);
    assert_int_equal(dp_s3_error_from_response(301, NULL, 0, "s3://b", &err), DUMPER_ESTORAGE);
    assert_string_equal(err.msg, "s3://b: wrong region or endpoint for this bucket (set AWS_REGION or --region): HTTP 301");
}

/* CompleteMultipartUpload may answer 200 with an <Error> body; also one after a NUL byte (the body is
 * bytes, not a C string) */
static void test_complete_result(void **state)
{
    dp_err err = {0};
    const char *ok = "<CompleteMultipartUploadResult><ETag>&quot;x&quot;</ETag></CompleteMultipartUploadResult>";
    assert_int_equal(dp_s3_complete_result(200, S(ok), "s3://b/k", &err), 0);
    assert_int_equal(dp_s3_complete_result(200, NULL, 0, "s3://b/k", &err), 0);
    assert_int_equal(err.code, 0);
    const char *e200 = "<?xml version=\"1.0\"?>\n<Error><Code>InternalError</Code><Message>try again</Message></Error>";
    assert_int_equal(dp_s3_complete_result(200, S(e200), "s3://b/k", &err), DUMPER_ESTORAGE);
    assert_string_equal(err.msg, "s3://b/k: storage service error: HTTP 500 InternalError: try again");
    dp_err_clear(&err);
    static const char hidden[] = "<x>\0</x><Error><Code>SlowDown</Code></Error>";
    assert_int_equal(dp_s3_complete_result(200, hidden, sizeof hidden - 1, "s3://b/k", &err), DUMPER_ESTORAGE);
    assert_string_equal(err.msg, "s3://b/k: storage service error: HTTP 500 SlowDown");
    dp_err_clear(&err);
    assert_int_equal(dp_s3_complete_result(404, S("<Error><Code>NoSuchUpload</Code></Error>"), "s3://b/k", &err),
                     DUMPER_ENOENT);
    assert_string_equal(err.msg, "s3://b/k: not found: HTTP 404 NoSuchUpload");
}

static void test_part_size_growth(void **state)
{
    const uint64_t MiB = 1024 * 1024;
    assert_int_equal(dp_s3_part_size(0, 0, 1), 8 * MiB);
    assert_int_equal(dp_s3_part_size(8 * MiB, 0, 1000), 8 * MiB);
    assert_int_equal(dp_s3_part_size(8 * MiB, 0, 1001), 16 * MiB);
    assert_int_equal(dp_s3_part_size(8 * MiB, 0, 2001), 32 * MiB);
    assert_int_equal(dp_s3_part_size(8 * MiB, 0, 10000), 4096 * MiB);
    assert_int_equal(dp_s3_part_size(4096 * MiB, 0, 2001), DP_S3_MAX_PART); /* capped at 5 GiB */
    /* sizes never shrink and the 10,000 parts reach beyond S3's 5 TiB object limit from 8 MiB */
    uint64_t prev = 0, total = 0;
    for (int p = 1; p <= DP_S3_MAX_PARTS; p++) {
        uint64_t s = dp_s3_part_size(8 * MiB, 0, p);
        assert_true(s >= prev && s <= DP_S3_MAX_PART);
        prev = s;
        total += s;
    }
    assert_int_equal(total, dp_s3_max_object(8 * MiB, 0));
    assert_true(total > 5ULL * 1024 * 1024 * MiB);
    /* memory: part size x (parallel + 1) stays 40 MiB for objects up to 8,000 MiB */
    assert_int_equal(dp_s3_part_size(8 * MiB, 0, 1000) * (4 + 1), 40 * MiB);
    assert_true(dp_s3_max_object(5 * MiB, 0) > 4ULL * 1024 * 1024 * MiB);
}

/* The job's uploads: the same rule under dumperd's max_part_size (64 MiB by default). */
static void test_part_size_capped(void **state)
{
    const uint64_t MiB = 1024 * 1024;
    assert_int_equal(dp_s3_part_size(8 * MiB, 64 * MiB, 1), 8 * MiB);
    assert_int_equal(dp_s3_part_size(8 * MiB, 64 * MiB, 3001), 64 * MiB);
    assert_int_equal(dp_s3_part_size(8 * MiB, 64 * MiB, 9001), 64 * MiB);
    assert_int_equal(dp_s3_part_size(8 * MiB, 1 * MiB, 1), 1 * MiB);   /* a cap below the first size */
    assert_int_equal(dp_s3_part_size(8 * MiB, 6 * MiB * 1024 * 1024, 10000), 4096 * MiB);
    /* 10,000 parts: 1000 x (8 + 16 + 32) MiB + 7000 x 64 MiB */
    assert_int_equal(dp_s3_max_object(8 * MiB, 64 * MiB), (56000 + 448000) * MiB);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tag_and_unescape), cmocka_unit_test(test_list_parse),
        cmocka_unit_test(test_complete_body),    cmocka_unit_test(test_error_mapping),
        cmocka_unit_test(test_complete_result),
        cmocka_unit_test(test_part_size_growth), cmocka_unit_test(test_part_size_capped),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
