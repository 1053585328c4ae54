/*
 * s3_xml.h - pure parsers and builders for the few S3 XML documents the driver uses
 * (InitiateMultipartUploadResult, ListBucketResult v2, Error, CompleteMultipartUpload).
 *
 * Bytes in, values out: no I/O, no global state, so they are unit-tested and fuzzable. S3's
 * documents are flat and machine-written; a tag scanner that honours the five XML entities and
 * numeric character references is enough (no namespaces, attributes or CDATA are used).
 */
#ifndef DP_S3_XML_H
#define DP_S3_XML_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "storage/storage.h"

/* The unescaped text of the first <tag>...</tag> within xml[0..n); NULL if absent or OOM.
 * Caller frees. */
char *dp_s3_xml_tag(const char *xml, size_t n, const char *tag);

/* Unescape XML text (&amp; &lt; &gt; &quot; &apos; &#N; &#xN;). Caller frees; NULL on a bad entity. */
char *dp_s3_xml_unescape(const char *s, size_t n);

/* Escape text for an XML element. Caller frees. */
char *dp_s3_xml_escape(const char *s);

typedef struct dp_s3_list_page {
    dp_object_info *items;
    size_t n;
    int truncated;
    char *next_token; /* NextContinuationToken, or NULL */
} dp_s3_list_page;

/* Parse a ListObjectsV2 result. Keys must start with `prefix` (stripped); others are skipped,
 * as are keys left empty or ending in "/" (directory markers). DUMPER_EPROTO on a malformed page. */
int dp_s3_xml_parse_list(const char *xml, size_t n, const char *prefix, dp_s3_list_page *page, dp_err *err);
void dp_s3_list_page_free(dp_s3_list_page *page);

/* The CompleteMultipartUpload request body for parts 1..n with their ETags (quotes kept as
 * received). Caller frees; NULL on OOM. */
char *dp_s3_xml_complete_body(int n, char *const *etags);

#endif
