/* drill_result.c - a drill's result: limits, checks, the overdue rule (see drill_result.h). */
#include "domain/drill_result.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "domain/names.h"

void sd_drill_doc_free(sd_drill_doc *d)
{
    if (!d)
        return;
    free(d->error);
    free(d->source_type);
    free(d->target);
    free(d->scratch_server_version);
    free(d->source_server_version);
    free(d->schema_migration);
    for (int i = 0; i < d->nkept; i++)
        free(d->mismatches[i]);
    free(d->mismatches);
    for (int i = 0; i < d->nchecks; i++) {
        free(d->checks[i].name);
        free(d->checks[i].result);
    }
    free(d->checks);
    memset(d, 0, sizeof *d);
}

static const char *const names[] = {"passed", "failed", "error"};

int sd_drill_status_parse(const char *s, sd_drill_status *out)
{
    for (int i = 0; s && i < 3; i++)
        if (!strcmp(s, names[i])) {
            *out = (sd_drill_status)i;
            return 0;
        }
    return -1;
}

const char *sd_drill_status_name(sd_drill_status s) { return (unsigned)s < 3 ? names[s] : "error"; }

/* The length of the well-formed UTF-8 sequence at p (RFC 3629: no overlong forms, no surrogates, at most
 * U+10FFFF), 0 when there is none. */
static size_t utf8_len(const unsigned char *p)
{
    unsigned char c = p[0];
    if (c < 0x80)
        return 1;
    size_t n = c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
    if (!n)
        return 0;
    unsigned char lo = 0x80, hi = 0xbf; /* the second byte's range */
    if (c == 0xe0)
        lo = 0xa0;
    else if (c == 0xed)
        hi = 0x9f;
    else if (c == 0xf0)
        lo = 0x90;
    else if (c == 0xf4)
        hi = 0x8f;
    if (p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if (p[i] < 0x80 || p[i] > 0xbf)
            return 0;
    return n;
}

int sd_drill_text(char *s, size_t len, size_t max, const char *what, char *msg, size_t msglen)
{
    if (len > max) {
        snprintf(msg, msglen, "drill result: %s is longer than %zu bytes", what, max);
        return -1;
    }
    if (strlen(s) != len) {
        snprintf(msg, msglen, "drill result: %s holds a NUL byte", what);
        return -1;
    }
    /* Bytes that are not UTF-8 become '?' first: then cleaning removes whole characters only, and cleaning
     * again changes nothing (a C1 control removed between two stray bytes cannot join them into a new
     * character, e.g. a bidirectional override). */
    for (unsigned char *p = (unsigned char *)s; *p;) {
        size_t n = utf8_len(p);
        if (!n)
            *p++ = '?';
        else
            p += n;
    }
    sd_text_clean(s);
    return 0;
}

int sd_drill_number(double v, const char *what, int64_t *out, char *msg, size_t msglen)
{
    if (!(v >= 0 && v <= SD_DRILL_NUMBER_MAX) || floor(v) != v) {
        snprintf(msg, msglen, "drill result: %s is not a whole number from 0 to 2^53", what);
        return -1;
    }
    *out = (int64_t)v;
    return 0;
}

int sd_drill_doc_check(const sd_drill_doc *d, char *msg, size_t msglen)
{
    if (d->status == SD_DRILL_ERROR && !(d->error && d->error[0])) {
        snprintf(msg, msglen, "drill result: status 'error' without an error");
        return -1;
    }
    if (d->status != SD_DRILL_PASSED)
        return 0;
    if (d->error) {
        snprintf(msg, msglen, "drill result: a passed drill with an error");
        return -1;
    }
    if (d->nmismatches) {
        snprintf(msg, msglen, "drill result: a passed drill with %d mismatches", d->nmismatches);
        return -1;
    }
    for (int i = 0; i < d->nchecks; i++)
        if (!d->checks[i].passed) {
            snprintf(msg, msglen, "drill result: a passed drill with a failed check");
            return -1;
        }
    return 0;
}

int sd_drill_overdue(int has_passed, int64_t last_passed_ms, int64_t since_ms, int64_t now_ms, int64_t max_age_s)
{
    if (max_age_s <= 0)
        return 0;
    int64_t from = has_passed ? last_passed_ms : since_ms;
    return now_ms - from > max_age_s * 1000;
}

void sd_drill_ref_overdue(char out[64], int64_t db, int64_t newest_passed)
{
    snprintf(out, 64, "v_%" PRId64 ":%" PRId64, db, newest_passed);
}

int sd_drill_ref_overdue_parse(const char *ref, int64_t *db, int64_t *newest_passed)
{
    const char *p = ref;
    int64_t d = sd_id_scan(&p, 'v');
    if (d < 0 || *p++ != ':')
        return -1;
    if (p[0] == '0' && !p[1]) {
        *newest_passed = 0;
    } else if (sd_id_parse(p, 0, newest_passed)) {
        return -1;
    }
    *db = d;
    return 0;
}

void sd_drill_ref_failed(char out[32], int64_t result) { sd_id_format(out, 'r', result); }
