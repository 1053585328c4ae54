/*
 * sigv4.h - AWS Signature Version 4: header signing and query-string presigning (pure functions,
 * HMAC-SHA256 from OpenSSL; no clock, no I/O, so they can be tested against published vectors).
 *
 * Callers pass the path and query already URI-encoded exactly as they will appear in the URL
 * (dp_sigv4_uri_encode); S3 paths are encoded once, never twice. The timestamp is passed in as
 * "YYYYMMDDTHHMMSSZ" so a request can be re-signed deterministically.
 *
 * For dumperd: presign an UploadPart or GET URL for an agent with dp_sigv4_presign() (or, with an
 * open S3 storage, dp_s3_presign() in storage/s3_upload.h, which fills in host, path and region).
 */
#ifndef DP_SIGV4_H
#define DP_SIGV4_H

#include <stddef.h>
#include <stdint.h>

typedef struct dp_sigv4_creds {
    const char *access_key;
    const char *secret_key;
    const char *session_token; /* may be NULL */
    const char *region;        /* "us-east-1" */
    const char *service;       /* "s3" */
} dp_sigv4_creds;

typedef struct dp_sigv4_header {
    const char *name; /* any case; canonicalised to lowercase */
    const char *value;
} dp_sigv4_header;

#define DP_SHA256_EMPTY "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define DP_UNSIGNED_PAYLOAD "UNSIGNED-PAYLOAD"

/* URI-encode per SigV4: keep A-Z a-z 0-9 - _ . ~ (and "/" unless encode_slash). Caller frees. */
char *dp_sigv4_uri_encode(const char *s, int encode_slash);
/* "YYYYMMDDTHHMMSSZ" for a Unix time in seconds. */
void dp_sigv4_amzdate(int64_t epoch_s, char out[17]);

/* The canonical query string of an encoded query ("b=2&a=1" -> "a=1&b=2"; "acl" -> "acl=").
 * Caller frees; NULL on out of memory. */
char *dp_sigv4_canonical_query(const char *query);

/*
 * The Authorization header value for a request signed with the given headers (all of them are
 * signed; include host and x-amz-date, and x-amz-content-sha256 for S3). payload_hash is the hex
 * SHA-256 of the body or "UNSIGNED-PAYLOAD". If canonical is not NULL it receives the canonical
 * request (for debugging and tests). Returns NULL on out of memory. Caller frees.
 */
char *dp_sigv4_authorization(const dp_sigv4_creds *c, const char *amzdate, const char *method, const char *path,
                             const char *query, const dp_sigv4_header *h, size_t nh, const char *payload_hash,
                             char **canonical);

/*
 * A presigned URL: base is "scheme://host[:port]" as the client will connect, host is the Host
 * header value (host[:port]; "host" is the only signed header), path is encoded, query holds extra
 * encoded parameters (e.g. "partNumber=3&uploadId=abc") or NULL. expires_s: 1..604800. The
 * payload is UNSIGNED-PAYLOAD (as S3 expects for presigned URLs). Caller frees; NULL on OOM.
 */
char *dp_sigv4_presign(const dp_sigv4_creds *c, const char *amzdate, long expires_s, const char *method,
                       const char *base, const char *host, const char *path, const char *query);

#endif
