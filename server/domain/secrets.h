/*
 * secrets.h - where a URL keeps its passwords, found one way for every use in dumperd: refusing a database
 * URL an agent sent with its password (commit), warning about a --store URL with one in argv, and masking
 * them in messages that quote a URL back (libpq's connection errors). Pure.
 *
 * A URL's passwords: the secret of its user info ("scheme://user:SECRET@host", up to the last '@' before the
 * path, query or fragment) and the value of every "password=" parameter (up to '&' or '#').
 */
#ifndef SD_SECRETS_H
#define SD_SECRETS_H

#include <stddef.h>

typedef struct sd_span {
    const char *p; /* into the URL */
    size_t n;
} sd_span;

/* Up to max password spans of url, in order (empty ones included); returns how many were found. */
int sd_url_password_spans(const char *url, sd_span *spans, int max);
/* 1 when url holds a password that is not a redaction mask ("***" as dumper writes, or "xxxxx"). */
int sd_url_has_password(const char *url);
/* Every non-empty password of url that appears in msg is overwritten with as many '*' (in place). */
void sd_mask_url_passwords(const char *url, char *msg);

#endif
