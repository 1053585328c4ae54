/* shell.c - shell-safe restore commands (see shell.h). */
#include "domain/shell.h"

#include <stdlib.h>
#include <string.h>

static int plain(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || strchr("_@%+=:,./-", c);
}

int sd_shell_quote(dp_buf *b, const char *s)
{
    size_t n = strlen(s), i = 0;
    while (i < n && plain(s[i]))
        i++;
    if (n && i == n)
        return dp_buf_puts(b, s);
    if (dp_buf_puts(b, "'"))
        return -1;
    for (const char *p = s; *p; p++)
        if (*p == '\'' ? dp_buf_puts(b, "'\\''") : dp_buf_append(b, p, 1))
            return -1;
    return dp_buf_puts(b, "'");
}

/* RFC 3986 unreserved bytes as they are, every other byte as %XX. */
static int pct(dp_buf *b, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        int ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                 strchr("-._~", *p);
        if (ok ? dp_buf_append(b, p, 1) : dp_buf_printf(b, "%%%02X", *p))
            return -1;
    }
    return 0;
}

static char *db_url(const sd_restore_target *t)
{
    dp_buf u = {0};
    int bad;
    if (!strcmp(t->type, "sqlite")) {
        bad = dp_buf_puts(&u, "sqlite://") || dp_buf_puts(&u, t->name && *t->name ? t->name : "/path/to/copy.db");
    } else {
        const char *host = t->host && *t->host ? t->host : "localhost";
        int v6 = strchr(host, ':') != NULL;
        bad = dp_buf_printf(&u, "%s://", t->type) ||
              (t->user && *t->user && (pct(&u, t->user) || dp_buf_puts(&u, "@"))) ||
              dp_buf_printf(&u, "%s%s%s", v6 ? "[" : "", host, v6 ? "]" : "") ||
              (t->port > 0 && dp_buf_printf(&u, ":%lld", (long long)t->port)) || dp_buf_puts(&u, "/") ||
              (t->name && pct(&u, t->name));
    }
    if (bad) {
        dp_buf_free(&u);
        return NULL;
    }
    return u.data;
}

char *sd_restore_command(const char *location, const char *file, const sd_restore_target *t, const char *sha256)
{
    dp_buf b = {0};
    char *path = location ? dp_asprintf("%s/%s", location, file) : dp_asprintf("./%s", file);
    char *url = t ? db_url(t) : dp_strdup("DATABASE_URL");
    int bad = !path || !url || dp_buf_puts(&b, "dumper restore ") || sd_shell_quote(&b, path) ||
              dp_buf_puts(&b, " ") || sd_shell_quote(&b, url) ||
              (!location && (dp_buf_puts(&b, " --sha256 ") || sd_shell_quote(&b, sha256 ? sha256 : "")));
    free(path);
    free(url);
    if (bad || !b.data) {
        dp_buf_free(&b);
        return NULL;
    }
    return b.data;
}
