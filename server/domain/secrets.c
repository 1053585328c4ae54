/* secrets.c - passwords in URLs (see secrets.h). */
#include "domain/secrets.h"

#include <string.h>

int sd_url_password_spans(const char *url, sd_span *spans, int max)
{
    int n = 0;
    const char *p = url ? strstr(url, "://") : NULL;
    if (p && n < max) {
        p += 3;
        size_t authority = strcspn(p, "/?#");
        const char *at = NULL;
        for (const char *c = p; c < p + authority; c++)
            if (*c == '@')
                at = c;
        const char *colon = at ? memchr(p, ':', (size_t)(at - p)) : NULL;
        if (colon)
            spans[n++] = (sd_span){colon + 1, (size_t)(at - colon - 1)};
    }
    for (const char *q = url; q && n < max && (q = strstr(q, "password=")); q += 9)
        spans[n++] = (sd_span){q + 9, strcspn(q + 9, "&#")};
    return n;
}

static int is_mask(sd_span s)
{
    return (s.n == 3 && !strncmp(s.p, "***", 3)) || (s.n == 5 && !strncmp(s.p, "xxxxx", 5));
}

int sd_url_has_password(const char *url)
{
    sd_span s[8];
    int n = sd_url_password_spans(url, s, 8);
    for (int i = 0; i < n; i++)
        if (s[i].n > 0 && !is_mask(s[i]))
            return 1;
    return 0;
}

void sd_mask_url_passwords(const char *url, char *msg)
{
    sd_span s[8];
    int n = sd_url_password_spans(url, s, 8);
    for (int i = 0; i < n; i++)
        for (char *m = msg; s[i].n && (m = memmem(m, strlen(m), s[i].p, s[i].n)); m += s[i].n)
            memset(m, '*', s[i].n);
}
