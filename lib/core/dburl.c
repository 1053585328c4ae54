/* dburl.c - the one database URL parser. Pure: no I/O, no globals. */
#include "core/dburl.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"

static const struct {
    const char *scheme;
    dp_db_type type;
} schemes[] = {
    {"sqlite", DP_DB_SQLITE},       {"sqlite3", DP_DB_SQLITE},   {"postgres", DP_DB_POSTGRES},
    {"postgresql", DP_DB_POSTGRES}, {"postgis", DP_DB_POSTGRES}, {"mysql", DP_DB_MYSQL},
    {"mysql2", DP_DB_MYSQL},        {"mariadb", DP_DB_MYSQL},    {"trilogy", DP_DB_MYSQL},
    {"redis", DP_DB_REDIS},         {"rediss", DP_DB_REDIS},     {"mongodb", DP_DB_MONGODB},
    {"mongodb+srv", DP_DB_MONGODB},
};

const char *dp_db_type_name(dp_db_type t)
{
    static const char *names[] = {"sqlite", "postgresql", "mysql", "redis", "mongodb"};
    return (unsigned)t < DP_DB__COUNT ? names[t] : "unknown";
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-decode [s, s+n). NULL on a bad escape or an embedded NUL. */
static char *pct_decode(const char *s, size_t n, int plus_is_space)
{
    char *out = malloc(n + 1), *o = out;
    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%') {
            int hi = i + 2 < n ? hexval(s[i + 1]) : -1;
            int lo = i + 2 < n ? hexval(s[i + 2]) : -1;
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
                free(out);
                return NULL;
            }
            *o++ = (char)(hi * 16 + lo);
            i += 2;
        } else if (s[i] == '+' && plus_is_space) {
            *o++ = ' ';
        } else {
            *o++ = s[i];
        }
    }
    *o = 0;
    return out;
}

static int fail(dp_err *err, dp_dburl *u, const char *raw, const char *why)
{
    char *red = dp_url_redact_raw(raw);
    dp_err_set(err, DUMPER_EURL, "malformed database url '%s': %s", red ? red : "?", why);
    free(red);
    dp_dburl_free(u);
    return DUMPER_EURL;
}

static int parse_query(const char *q, dp_dburl *u)
{
    while (*q) {
        const char *amp = strchr(q, '&');
        size_t len = amp ? (size_t)(amp - q) : strlen(q);
        if (len) {
            const char *eq = memchr(q, '=', len);
            size_t klen = eq ? (size_t)(eq - q) : len;
            dp_kv *grown = realloc(u->params, (u->nparams + 1) * sizeof *grown);
            if (!grown)
                return -1;
            u->params = grown;
            dp_kv *kv = &u->params[u->nparams];
            kv->key = pct_decode(q, klen, 1);
            kv->value = eq ? pct_decode(eq + 1, len - klen - 1, 1) : strdup("");
            if (!kv->key || !kv->value) {
                free(kv->key);
                free(kv->value);
                return -1;
            }
            u->nparams++;
        }
        q += len + (amp ? 1 : 0);
    }
    return 0;
}

/* Parse one "host[:port]" in [hostp, after); host may be a bracketed IPv6 address. On error sets
 * *why and returns -1 (nothing allocated). */
static int parse_hostport(const char *hostp, const char *after, char **hostout, int *portout, const char **why)
{
    const char *hend = after, *portp = NULL;
    *hostout = NULL;
    *portout = 0;
    if (*hostp == '[') {
        const char *rb = memchr(hostp, ']', (size_t)(after - hostp));
        if (!rb) {
            *why = "unterminated '[' in host";
            goto bad;
        }
        /* hex digits, ':' and '.' (IPv4-mapped); an optional zone after "%25" */
        size_t hlen = (size_t)(rb - hostp - 1), alen6 = strspn(hostp + 1, "0123456789abcdefABCDEF:.");
        if (hlen == 0 || !memchr(hostp + 1, ':', alen6) || (alen6 < hlen && hostp[1 + alen6] != '%')) {
            *why = "invalid ipv6 address in host";
            goto bad;
        }
        if (!(*hostout = pct_decode(hostp + 1, hlen, 0))) {
            *why = "bad percent-escape in host";
            goto bad;
        }
        if (rb + 1 < after) {
            if (rb[1] != ':') {
                *why = "unexpected text after ']'";
                goto bad;
            }
            portp = rb + 2;
        }
    } else {
        const char *pc = memchr(hostp, ':', (size_t)(after - hostp));
        if (pc) {
            hend = pc;
            portp = pc + 1;
        }
        if (hend > hostp) {
            for (const char *c = hostp; c < hend; c++)
                if (!(isalnum((unsigned char)*c) || *c == '.' || *c == '-' || *c == '_' || *c == '%')) {
                    *why = "invalid character in host";
                    goto bad;
                }
            if (!(*hostout = pct_decode(hostp, (size_t)(hend - hostp), 0))) {
                *why = "bad host";
                goto bad;
            }
            if (strchr(*hostout, ',')) { /* "%2C": libpq would read a host list */
                *why = "invalid character in host";
                goto bad;
            }
        } else if (pc) {
            *why = "port without host";
            goto bad;
        }
    }
    if (portp) {
        if (portp == after) {
            *why = "empty port";
            goto bad;
        }
        long port = 0;
        for (const char *c = portp; c < after; c++) {
            if (!isdigit((unsigned char)*c)) {
                *why = "port is not a number";
                goto bad;
            }
            port = port * 10 + (*c - '0');
            if (port > 65535) {
                *why = "port out of range";
                goto bad;
            }
        }
        if (port == 0) {
            *why = "port out of range";
            goto bad;
        }
        *portout = (int)port;
    }
    return 0;
bad:
    free(*hostout);
    *hostout = NULL;
    return -1;
}

int dp_dburl_parse(const char *s, dp_dburl *u, dp_err *err)
{
    memset(u, 0, sizeof *u);
    if (!s || !*s)
        return dp_err_set(err, DUMPER_EURL, "malformed database url '': empty");
    for (const char *c = s; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f)
            return fail(err, u, "", "control character in url");

    const char *colon = strchr(s, ':');
    if (!colon || colon == s)
        return fail(err, u, s, "missing scheme (expected e.g. sqlite:///path/to/db or postgres://host/db)");
    size_t slen = (size_t)(colon - s);
    char scheme[16];
    if (slen >= sizeof scheme)
        return fail(err, u, s, "unknown scheme");
    for (size_t i = 0; i < slen; i++)
        scheme[i] = (char)tolower((unsigned char)s[i]);
    scheme[slen] = 0;
    size_t k;
    for (k = 0; k < sizeof schemes / sizeof schemes[0]; k++)
        if (strcmp(schemes[k].scheme, scheme) == 0)
            break;
    if (k == sizeof schemes / sizeof schemes[0])
        return fail(err, u, s, "unknown scheme (supported: sqlite, postgres, mysql, mariadb, redis, mongodb)");
    u->type = schemes[k].type;
    if (!(u->scheme = strdup(scheme)))
        return fail(err, u, s, "out of memory");
    const char *rest = colon + 1;

    if (u->type == DP_DB_SQLITE) {
        const char *path;
        if (strncmp(rest, "//", 2) == 0) {
            const char *auth = rest + 2, *slash = strchr(auth, '/');
            if (!slash)
                return fail(err, u, s, "missing path (use sqlite:///absolute/path or sqlite:relative/path)");
            size_t alen = (size_t)(slash - auth);
            if (alen && !(alen == 9 && strncmp(auth, "localhost", 9) == 0))
                return fail(err, u, s, "sqlite urls take no host (use sqlite:///absolute/path)");
            path = slash;
        } else {
            path = rest;
        }
        const char *q = strchr(path, '?');
        size_t plen = q ? (size_t)(q - path) : strlen(path);
        if (plen == 0)
            return fail(err, u, s, "missing path");
        u->path = pct_decode(path, plen, 0);
        if (!u->path)
            return fail(err, u, s, "bad percent-escape in path");
        if (q && parse_query(q + 1, u) < 0)
            return fail(err, u, s, "bad query string");
        return 0;
    }

    if (strncmp(rest, "//", 2) != 0)
        return fail(err, u, s, "expected '//' after the scheme");
    const char *auth = rest + 2;
    size_t alen = strcspn(auth, "/?#");
    const char *after = auth + alen;
    if (*after == '#')
        return fail(err, u, s, "fragments are not allowed");
    /* userinfo: the last '@' in the authority (passwords may contain '@' only percent-encoded, but
     * be lenient like libpq). */
    const char *at = NULL;
    for (const char *c = auth; c < after; c++)
        if (*c == '@')
            at = c;
    const char *hostp = auth;
    if (at) {
        const char *pc = memchr(auth, ':', (size_t)(at - auth));
        size_t ulen = pc ? (size_t)(pc - auth) : (size_t)(at - auth);
        if (ulen) {
            if (!(u->user = pct_decode(auth, ulen, 0)))
                return fail(err, u, s, "bad percent-escape in user");
        }
        if (pc) {
            if (!(u->password = pct_decode(pc + 1, (size_t)(at - pc - 1), 0)))
                return fail(err, u, s, "bad percent-escape in password");
        }
        hostp = at + 1;
    }
    /* host[:port], host may be [v6]. MongoDB (replica sets) and PostgreSQL (libpq's multi-host
     * URIs) take a list "h1:p1,h2:p2": each entry is checked and kept in hostlist, the first also
     * fills host/port, and the list as written is kept in hosts. */
    const char *why = NULL;
    const char *comma = memchr(hostp, ',', (size_t)(after - hostp));
    if (comma && u->type != DP_DB_MONGODB && u->type != DP_DB_POSTGRES)
        return fail(err, u, s, "several hosts are only supported for postgresql and mongodb");
    if (comma) {
        for (const char *seg = hostp; seg < after;) {
            const char *segend = memchr(seg, ',', (size_t)(after - seg));
            if (!segend)
                segend = after;
            char *h = NULL;
            int port = 0;
            if (segend == seg)
                return fail(err, u, s, "empty host in the host list");
            if (parse_hostport(seg, segend, &h, &port, &why) < 0)
                return fail(err, u, s, why);
            if (!h)
                return fail(err, u, s, "empty host in the host list");
            dp_hostport *grown = realloc(u->hostlist, (u->nhosts + 1) * sizeof *grown);
            if (!grown) {
                free(h);
                return fail(err, u, s, "out of memory");
            }
            u->hostlist = grown;
            u->hostlist[u->nhosts].host = h;
            u->hostlist[u->nhosts++].port = port;
            seg = segend + (segend < after ? 1 : 0);
            if (segend < after && seg == after)
                return fail(err, u, s, "empty host in the host list");
        }
        if (!(u->host = strdup(u->hostlist[0].host)) || !(u->hosts = strndup(hostp, (size_t)(after - hostp))))
            return fail(err, u, s, "out of memory");
        u->port = u->hostlist[0].port;
    } else if (parse_hostport(hostp, after, &u->host, &u->port, &why) < 0) {
        return fail(err, u, s, why);
    }
    if (*after == '/') {
        const char *p = after + 1;
        size_t plen = strcspn(p, "?#");
        if (plen) {
            if (!(u->dbname = pct_decode(p, plen, 0)))
                return fail(err, u, s, "bad percent-escape in database name");
        }
        after = p + plen;
    }
    if (*after == '#' || strchr(after, '#'))
        return fail(err, u, s, "fragments are not allowed");
    if (*after == '?' && parse_query(after + 1, u) < 0)
        return fail(err, u, s, "bad query string");
    if (u->type == DP_DB_REDIS && u->dbname) {
        for (const char *c = u->dbname; *c; c++)
            if (!isdigit((unsigned char)*c))
                return fail(err, u, s, "redis database must be a number");
    }
    if (!u->host && !dp_dburl_param(u, "host") && u->type != DP_DB_POSTGRES && u->type != DP_DB_MYSQL)
        return fail(err, u, s, "missing host");
    return 0;
}

/* Query parameters that carry secrets (libpq's password and sslpassword, any case). */
static int secret_param(const char *key) { return key && strcasestr(key, "password") != NULL; }

void dp_dburl_free(dp_dburl *u)
{
    if (!u)
        return;
    free(u->scheme);
    free(u->user);
    dp_free_secret(u->password);
    free(u->host);
    free(u->hosts);
    for (size_t i = 0; i < u->nhosts; i++)
        free(u->hostlist[i].host);
    free(u->hostlist);
    free(u->dbname);
    free(u->path);
    for (size_t i = 0; i < u->nparams; i++) {
        if (secret_param(u->params[i].key))
            dp_free_secret(u->params[i].value);
        else
            free(u->params[i].value);
        free(u->params[i].key);
    }
    free(u->params);
    memset(u, 0, sizeof *u);
}

const char *dp_dburl_param(const dp_dburl *u, const char *key)
{
    for (size_t i = 0; i < u->nparams; i++)
        if (strcmp(u->params[i].key, key) == 0)
            return u->params[i].value;
    return NULL;
}

char *dp_dburl_redacted(const dp_dburl *u)
{
    dp_buf b = {0};
    dp_buf_printf(&b, "%s:", u->scheme ? u->scheme : "?");
    if (u->type == DP_DB_SQLITE) {
        dp_buf_printf(&b, "%s%s", u->path && u->path[0] == '/' ? "//" : "", u->path ? u->path : "");
    } else {
        dp_buf_puts(&b, "//");
        if (u->user || u->password) {
            dp_buf_puts(&b, u->user ? u->user : "");
            if (u->password)
                dp_buf_puts(&b, ":***");
            dp_buf_puts(&b, "@");
        }
        if (u->hosts) {
            dp_buf_puts(&b, u->hosts);
        } else {
            if (u->host)
                dp_buf_printf(&b, strchr(u->host, ':') ? "[%s]" : "%s", u->host);
            if (u->port)
                dp_buf_printf(&b, ":%d", u->port);
        }
        if (u->dbname)
            dp_buf_printf(&b, "/%s", u->dbname);
    }
    for (size_t i = 0; i < u->nparams; i++) {
        int secret = secret_param(u->params[i].key);
        dp_buf_printf(&b, "%c%s=%s", i ? '&' : '?', u->params[i].key, secret ? "***" : u->params[i].value);
    }
    if (!b.data)
        return strdup("");
    return b.data;
}

/* Where the user info of the URL starting at `p` begins, or NULL: after "://", or, for a string
 * that starts with "scheme:" but lacks the "//" (a malformed URL), after the ':' and any '/'. */
static const char *userinfo_start(const char *s, const char *p, const char **sep_end)
{
    const char *sep = strstr(p, "://");
    if (p == s) {
        size_t n = strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+.-");
        if (n && s[n] == ':' && (!sep || sep > s + n)) {
            const char *a = s + n + 1;
            while (*a == '/')
                a++;
            *sep_end = a;
            return a;
        }
    }
    if (!sep)
        return NULL;
    *sep_end = sep + 3;
    return sep + 3;
}

/* The start of the next URL in free text after p: a "scheme://" that begins after white space or a
 * quote. A "://" inside one URL (a password like "pa://ss") does not start a new one. */
static const char *next_url(const char *p)
{
    for (const char *sep = strstr(p, "://"); sep; sep = strstr(sep + 1, "://")) {
        const char *b = sep;
        while (b > p && (isalnum((unsigned char)b[-1]) || b[-1] == '+' || b[-1] == '.' || b[-1] == '-'))
            b--;
        if (b < sep && b > p && (isspace((unsigned char)b[-1]) || b[-1] == '\'' || b[-1] == '"'))
            return b;
    }
    return NULL;
}

char *dp_url_redact_raw(const char *s)
{
    /* Conservative on purpose: the input did not parse, so a password may hold any of '/', '?',
     * '#', ' ' or '@'. The user info runs to the LAST '@' before the next URL; everything after the
     * first ':' in it is hidden. Over-redacting a malformed URL is fine, leaking is not. */
    dp_buf b = {0};
    const char *p = s, *auth, *after;
    while ((auth = userinfo_start(s, p, &after)) != NULL) {
        const char *next = next_url(after);
        const char *limit = next ? next : auth + strlen(auth);
        const char *at = NULL;
        for (const char *c = auth; c < limit; c++)
            if (*c == '@')
                at = c;
        const char *pc = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
        if (pc) {
            dp_buf_append(&b, p, (size_t)(pc - p));
            dp_buf_puts(&b, ":***");
            p = at;
        } else {
            dp_buf_append(&b, p, (size_t)(after - p));
            p = after;
        }
    }
    dp_buf_puts(&b, p);
    /* password=... (also sslpassword=, any case) in a query string: hide up to '&' or a space.
     * Copied into a new buffer: "***" can be longer than the value it replaces. */
    dp_buf o = {0};
    const char *src = b.data ? b.data : "", *q;
    while ((q = strcasestr(src, "password=")) != NULL) {
        const char *v = q + 9;
        size_t vl = strcspn(v, "& \t");
        dp_buf_append(&o, src, (size_t)(v - src));
        if (vl)
            dp_buf_puts(&o, "***");
        src = v + vl;
    }
    dp_buf_puts(&o, src);
    dp_buf_free(&b);
    b = o;
    return b.data ? b.data : strdup("");
}

char *dp_dburl_short_name(const dp_dburl *u)
{
    const char *base = NULL;
    size_t len = 0;
    if (u->type == DP_DB_SQLITE && u->path) {
        const char *slash = strrchr(u->path, '/');
        base = slash ? slash + 1 : u->path;
        const char *dot = strrchr(base, '.');
        len = dot && dot != base ? (size_t)(dot - base) : strlen(base);
    } else if (u->dbname && *u->dbname) {
        base = u->dbname;
        len = strlen(base);
        if (u->type == DP_DB_REDIS) {
            base = NULL;
        }
    }
    if (!base || !len) {
        base = dp_db_type_name(u->type);
        len = strlen(base);
    }
    char *out = malloc(len + 1);
    if (!out)
        return NULL;
    for (size_t i = 0; i < len; i++) {
        char c = base[i];
        out[i] = (isalnum((unsigned char)c) || c == '_' || c == '-' || c == '.') ? c : '_';
    }
    out[len] = 0;
    return out;
}
