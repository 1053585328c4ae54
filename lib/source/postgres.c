/*
 * postgres.c - PostgreSQL source: pg_dump out, psql / pg_restore in, driven without a shell.
 *
 * libpq checks first (connection, authentication, server version) so that the common failures get
 * a precise code and message before any tool runs. Then a pg_dump whose major version is >= the
 * server's is chosen from DUMPER_PG_BIN (a directory; when set nothing else is searched), else
 * /usr/lib/postgresql/<N>/bin and PATH. pg_dump writes to a pipe we pump into the sink; its exit
 * status and the tail of its stderr decide success. pg_dump itself takes a consistent snapshot
 * (one REPEATABLE READ transaction), so writes during the backup never tear it.
 *
 * Formats: "sql" (plain, pg_dump -Fp; restored with psql -1 -v ON_ERROR_STOP=1) and "dump" (custom,
 * pg_dump -Fc; restored with pg_restore --single-transaction --exit-on-error). Custom-format dumps
 * are taken with -Z0 unless custom_options set a level: dumper compresses the stream anyway, and
 * compressing twice only costs CPU.
 *
 * The password reaches tools only as PGPASSWORD in their environment (never argv); the
 * connection parameters travel as a conninfo string in --dbname, built without the password.
 *
 * Host lists (postgres://h1:p1,h2:p2/db?target_session_attrs=read-write) go to libpq as its own
 * comma-separated host and port lists, so libpq picks the server. The tools then get the server
 * libpq connected to (PQhost/PQport, and PQhostaddr for a name) instead of the list: the version
 * check, the emptiness check and the dump or restore all hit that one server, even if another host
 * of the list would answer now. The other parameters (target_session_attrs included) go along, so
 * the tool still refuses a server that no longer qualifies.
 */
#include "source/postgres.h"

#include <ctype.h>
#include <glob.h>
#include <libpq-fe.h>
#include <stdlib.h>
#include <string.h>

#include "core/argv.h"
#include "core/log.h"
#include "core/util.h"
#include "source/psql_guard.h"
#include "source/source.h"
#include "source/spool.h"
#include "source/tool.h"

#define MAX_KW 40

static const char *const password_env[] = {"DUMPER_DB_PASSWORD", NULL};

/* ---- pure helpers ---- */

int dp_pg_major_num(int v) { return v >= 100000 ? v / 10000 * 10000 : v / 100 * 100; }

int dp_pg_parse_tool_version(const char *s)
{
    const char *p = s ? strstr(s, "(PostgreSQL) ") : NULL;
    p = p ? p + 13 : s;
    while (p && *p && !isdigit((unsigned char)*p))
        p++;
    if (!p || !*p)
        return -1;
    char *end;
    long major = strtol(p, &end, 10);
    if (major <= 0 || major > 1000)
        return -1;
    if (major >= 10)
        return (int)major * 10000;
    long minor = *end == '.' ? strtol(end + 1, NULL, 10) : 0;
    return (int)(major * 10000 + minor * 100);
}

int dp_pg_parse_tool_version_full(const char *s)
{
    int major = dp_pg_parse_tool_version(s);
    if (major < 0)
        return -1;
    const char *p = s ? strstr(s, "(PostgreSQL) ") : NULL;
    p = p ? p + 13 : s;
    while (*p && !isdigit((unsigned char)*p))
        p++;
    char *end;
    strtol(p, &end, 10); /* the major, already known */
    long minor = *end == '.' ? strtol(end + 1, &end, 10) : 0;
    if (major >= 100000)
        return major + (minor >= 0 && minor < 10000 ? (int)minor : 0);
    long patch = *end == '.' ? strtol(end + 1, NULL, 10) : 0;
    return major + (patch >= 0 && patch < 100 ? (int)patch : 0);
}

int dp_pg_pick_tool(int server, const int *tools, size_t n)
{
    int best = -1, want = dp_pg_major_num(server);
    for (size_t i = 0; i < n; i++) {
        if (tools[i] < 0 || tools[i] < want)
            continue;
        if (best < 0 || tools[i] < tools[best])
            best = (int)i;
    }
    return best;
}

static int takes_arg(char c) { return c && strchr("deEfFhjnNpStTUZ", c) != NULL; }

static int set_format(const char *v, const char **fmt, dp_err *err)
{
    if (!strcmp(v, "p") || !strcmp(v, "plain"))
        *fmt = "sql";
    else if (!strcmp(v, "c") || !strcmp(v, "custom"))
        *fmt = "dump";
    else if (!strcmp(v, "d") || !strcmp(v, "directory") || !strcmp(v, "t") || !strcmp(v, "tar"))
        return dp_err_set(err, DUMPER_EUSAGE,
                          "pg_dump format '%s' cannot be streamed (use plain or custom: --format sql or dump)", v);
    else
        return dp_err_set(err, DUMPER_EUSAGE, "unknown pg_dump format '%s' in custom options", v);
    return 0;
}

static int owned_option(const char *opt, dp_err *err)
{
    return dp_err_set(err, DUMPER_EUSAGE,
                      "custom option '%s' is not allowed: dumper sets the output, connection and password itself",
                      opt);
}

int dp_pg_dump_options(const char *format, char *const *custom, const char **fmt, int *user_compress, dp_err *err)
{
    const char *want = NULL, *from_custom = NULL;
    int rc;
    *user_compress = 0;
    if (format && *format) {
        if (!strcmp(format, "sql") || !strcmp(format, "plain"))
            want = "sql";
        else if (!strcmp(format, "dump") || !strcmp(format, "custom"))
            want = "dump";
        else
            return dp_err_set(err, DUMPER_EUSAGE, "unknown postgresql format '%s' (supported: sql, dump)", format);
    }
    for (size_t i = 0; custom && custom[i]; i++) {
        const char *a = custom[i];
        if (a[0] != '-' || !a[1])
            return dp_err_set(err, DUMPER_EUSAGE,
                              "custom option '%s' is not an option (the database comes from the url)", a);
        if (a[1] == '-') {
            const char *name = a + 2, *eq = strchr(name, '=');
            size_t n = eq ? (size_t)(eq - name) : strlen(name);
            const char *val = eq ? eq + 1 : NULL;
#define IS(s) (n == strlen(s) && !strncmp(name, s, n))
            if (!*name)
                return owned_option(a, err);
            if (IS("file") || IS("jobs") || IS("password") || IS("dbname") || IS("host") || IS("port") ||
                IS("username") || IS("help") || IS("version"))
                return owned_option(a, err);
            if (IS("format") || IS("compress")) {
                if (!val && !(val = custom[++i]))
                    return dp_err_set(err, DUMPER_EUSAGE, "custom option '%s' needs a value", a);
                if (IS("compress"))
                    *user_compress = 1;
                else if ((rc = set_format(val, &from_custom, err)))
                    return rc;
            }
#undef IS
            continue;
        }
        /* A bundle of short options, e.g. -Ox or -Fc or -F c. */
        for (const char *p = a + 1; *p; p++) {
            if (strchr("fjWdhpU?V", *p)) {
                char opt[3] = {'-', *p, 0};
                return owned_option(opt, err);
            }
            if (!takes_arg(*p))
                continue;
            const char *val = p[1] ? p + 1 : custom[++i];
            if (!val)
                return dp_err_set(err, DUMPER_EUSAGE, "custom option '-%c' needs a value", *p);
            if (*p == 'F' && (rc = set_format(val, &from_custom, err)))
                return rc;
            if (*p == 'Z')
                *user_compress = 1;
            break;
        }
    }
    if (want && from_custom && strcmp(want, from_custom) != 0)
        return dp_err_set(err, DUMPER_EUSAGE, "format '%s' conflicts with the format in custom options ('%s')", want,
                          from_custom);
    *fmt = want ? want : from_custom ? from_custom : "sql";
    if (*user_compress && !strcmp(*fmt, "sql"))
        return dp_err_set(err, DUMPER_EUSAGE,
                          "custom option -Z/--compress would compress a plain dump: use dumper's --compress instead");
    return 0;
}

/* ---- connection ---- */

typedef struct {
    const char *kw[MAX_KW], *val[MAX_KW];
    int n;
    char port[16];
    char *hosts, *ports;     /* owned: libpq's lists for a host list */
    char *pinned[3];         /* owned: host, port, hostaddr after params_pin */
    char *password;          /* owned secret, or NULL */
} pgparams;

static void params_free(pgparams *pp)
{
    dp_free_secret(pp->password);
    pp->password = NULL;
    free(pp->hosts);
    free(pp->ports);
    for (int i = 0; i < 3; i++)
        free(pp->pinned[i]);
    pp->hosts = pp->ports = pp->pinned[0] = pp->pinned[1] = pp->pinned[2] = NULL;
}

/* libpq's "h1,h2" and "p1,p2" for a URL host list; an entry without a port stays empty (libpq's
 * default), and *ports is NULL if no entry has one. */
static int hostlist_strings(const dp_dburl *url, char **hosts, char **ports)
{
    dp_buf h = {0}, p = {0};
    int anyport = 0;
    *hosts = *ports = NULL;
    for (size_t i = 0; i < url->nhosts; i++) {
        dp_buf_printf(&h, "%s%s", i ? "," : "", url->hostlist[i].host);
        if (i)
            dp_buf_puts(&p, ",");
        if (url->hostlist[i].port) {
            dp_buf_printf(&p, "%d", url->hostlist[i].port);
            anyport = 1;
        }
    }
    if (!h.data || (anyport && !p.data)) {
        dp_buf_free(&h);
        dp_buf_free(&p);
        return -1;
    }
    *hosts = h.data;
    if (anyport)
        *ports = p.data;
    else
        dp_buf_free(&p);
    return 0;
}

static int params_build(const dp_dburl *url, pgparams *pp, dp_err *err)
{
    memset(pp, 0, sizeof *pp);
#define ADD(k, v)                                                                                                      \
    do {                                                                                                               \
        if (pp->n >= MAX_KW - 2)                                                                                       \
            return dp_err_set(err, DUMPER_EURL, "too many parameters in the postgresql url");                        \
        pp->kw[pp->n] = (k);                                                                                           \
        pp->val[pp->n++] = (v);                                                                                        \
    } while (0)
    /* As in libpq, host and port query parameters ("postgres:///db?host=/run/postgresql", the
     * form the gem writes for a socket directory) take precedence over the authority's. */
    const char *host = url->host, *port = NULL, *qhost = dp_dburl_param(url, "host"),
               *qport = dp_dburl_param(url, "port");
    if (url->nhosts) {
        if (hostlist_strings(url, &pp->hosts, &pp->ports) < 0)
            return dp_err_set(err, DUMPER_ENOMEM, "out of memory");
        host = pp->hosts;
        port = pp->ports;
    } else if (url->port) {
        snprintf(pp->port, sizeof pp->port, "%d", url->port);
        port = pp->port;
    }
    if (qhost && *qhost)
        host = qhost;
    if (qport && *qport)
        port = qport;
    if (host)
        ADD("host", host);
    if (port)
        ADD("port", port);
    if (url->user)
        ADD("user", url->user);
    if (url->dbname && *url->dbname)
        ADD("dbname", url->dbname);
    int have_timeout = 0;
    /* Parameters libpq does not know are Rails' (pool, reconnect, prepared_statements, ...): they
     * configure the application's connection pool, not the connection, so they are skipped. */
    PQconninfoOption *known = PQconndefaults();
    for (size_t i = 0; i < url->nparams; i++) {
        const char *k = url->params[i].key;
        if (!strcmp(k, "encoding"))
            k = "client_encoding"; /* Rails' name for it */
        if (!strcmp(k, "password") || !strcmp(k, "dbname") || !strcmp(k, "host") || !strcmp(k, "port") ||
            !strcmp(k, "user"))
            continue;
        int ok = !known; /* out of memory: let libpq judge */
        for (PQconninfoOption *o = known; o && o->keyword; o++)
            if (!strcmp(o->keyword, k))
                ok = 1;
        if (!ok) {
            dp_debug("postgresql: ignoring url parameter '%s' (not a libpq connection option)", k);
            continue;
        }
        if (!strcmp(k, "connect_timeout"))
            have_timeout = 1;
        if (pp->n >= MAX_KW - 2) {
            PQconninfoFree(known);
            return dp_err_set(err, DUMPER_EURL, "too many parameters in the postgresql url");
        }
        pp->kw[pp->n] = k;
        pp->val[pp->n++] = url->params[i].value ? url->params[i].value : "";
    }
    PQconninfoFree(known);
    if (!have_timeout)
        ADD("connect_timeout", "10");
#undef ADD
    pp->kw[pp->n] = pp->val[pp->n] = NULL;
    pp->password = dp_tool_password(url, password_env);
    return 0;
}

/* Point the parameters at the server c is connected to: host and port (and hostaddr, the address
 * libpq used for a host name) replace the URL's, so a tool started with them reaches that same
 * server. A no-op if libpq reports no host. */
static int params_pin(pgparams *pp, PGconn *c, const dp_dburl *url, dp_err *err)
{
    const char *h = PQhost(c), *p = PQport(c), *a = PQhostaddr(c);
    if (!h || !*h)
        return 0;
    int k = 0;
    for (int i = 0; i < pp->n; i++)
        if (strcmp(pp->kw[i], "host") && strcmp(pp->kw[i], "port") && strcmp(pp->kw[i], "hostaddr")) {
            pp->kw[k] = pp->kw[i];
            pp->val[k++] = pp->val[i];
        }
    pp->n = k;
    int sock = h[0] == '/' || h[0] == '@';
    if (!(pp->pinned[0] = strdup(h)) || (p && *p && !(pp->pinned[1] = strdup(p))) ||
        (a && *a && !sock && !(pp->pinned[2] = strdup(a))))
        return dp_err_set(err, DUMPER_ENOMEM, "out of memory");
    static const char *const kws[3] = {"host", "port", "hostaddr"};
    for (int i = 0; i < 3; i++) {
        if (!pp->pinned[i])
            continue;
        if (pp->n >= MAX_KW - 1)
            return dp_err_set(err, DUMPER_EURL, "too many parameters in the postgresql url");
        pp->kw[pp->n] = kws[i];
        pp->val[pp->n++] = pp->pinned[i];
    }
    pp->kw[pp->n] = pp->val[pp->n] = NULL;
    if (url->nhosts)
        dp_info("postgresql: connected to %s port %s (host list %s); the tools use that server", h,
                p && *p ? p : "default", url->hosts);
    else
        dp_debug("postgresql: connected to %s port %s", h, p && *p ? p : "default");
    return 0;
}

/* conninfo for --dbname: key='value' pairs, quotes and backslashes escaped. No password. */
static char *params_conninfo(const pgparams *pp)
{
    dp_buf b = {0};
    for (int i = 0; i < pp->n; i++) {
        dp_buf_printf(&b, "%s%s='", i ? " " : "", pp->kw[i]);
        for (const char *v = pp->val[i]; *v; v++) {
            if (*v == '\'' || *v == '\\')
                dp_buf_append(&b, "\\", 1);
            dp_buf_append(&b, v, 1);
        }
        dp_buf_append(&b, "'", 1);
    }
    if (!b.data)
        dp_buf_puts(&b, "");
    return b.data;
}

/* The first non-empty line of a libpq message, runs of blanks squeezed ("FATAL:  x" -> "FATAL: x"). */
static void first_line(const char *s, char *out, size_t outlen)
{
    size_t k = 0;
    while (*s == '\n' || *s == ' ' || *s == '\t')
        s++;
    for (; *s && *s != '\n' && k + 1 < outlen; s++) {
        char ch = *s == '\t' || *s == '\r' ? ' ' : *s;
        if (ch == ' ' && k && out[k - 1] == ' ')
            continue;
        out[k++] = ch;
    }
    while (k && out[k - 1] == ' ')
        k--;
    out[k] = 0;
}

/* libpq's failure report, one line: a host list (or a name with several addresses) gives one
 * "connection to server at ... failed: ..." line per attempt, each followed by tab-indented hints;
 * the attempts are joined with "; " and the hints dropped. */
static void failure_lines(const char *m, char *out, size_t outlen)
{
    size_t k = 0;
    out[0] = 0;
    for (const char *l = m; *l && k + 3 < outlen;) {
        const char *nl = strchr(l, '\n');
        size_t len = nl ? (size_t)(nl - l) : strlen(l);
        if (len && *l != '\t' && *l != ' ') {
            char one[400];
            size_t n = len < sizeof one - 1 ? len : sizeof one - 1;
            memcpy(one, l, n);
            one[n] = 0;
            char sq[400];
            first_line(one, sq, sizeof sq);
            if (*sq) {
                int w = snprintf(out + k, outlen - k, "%s%s", k ? "; " : "", sq);
                k = w < 0 ? k : (size_t)w + k < outlen ? k + (size_t)w : outlen - 1;
            }
        }
        l += len + (nl ? 1 : 0);
    }
    if (!*out)
        first_line(m, out, outlen);
}

static int ci_has(const char *hay, const char *needle) { return strcasestr(hay, needle) != NULL; }

/* Connect and return the server version; classified errors. */
static int pg_connect(const dp_dburl *url, const pgparams *pp, PGconn **out, dp_err *err)
{
    const char *kw[MAX_KW + 2], *val[MAX_KW + 2];
    int n = 0;
    for (; n < pp->n; n++) {
        kw[n] = pp->kw[n];
        val[n] = pp->val[n];
    }
    if (pp->password) {
        kw[n] = "password";
        val[n++] = pp->password;
    }
    kw[n] = "fallback_application_name";
    val[n++] = "dumper";
    kw[n] = val[n] = NULL;
    *out = NULL;
    PGconn *c = PQconnectdbParams(kw, val, 0);
    if (!c)
        return dp_err_set(err, DUMPER_ENOMEM, "out of memory");
    if (PQstatus(c) != CONNECTION_OK) {
        const char *m = PQerrorMessage(c);
        char line[600];
        /* libpq's first line names the server; the FATAL part is what matters. */
        const char *fatal = strstr(m, "FATAL:");
        if (fatal)
            first_line(fatal, line, sizeof line);
        else
            failure_lines(m, line, sizeof line);
        int code = DUMPER_ECONNECT;
        if (ci_has(m, "password authentication failed") || ci_has(m, "no password supplied") ||
            ci_has(m, "authentication failed") || ci_has(m, "password is required"))
            code = DUMPER_EAUTH;
        else if (ci_has(m, "database \"") && ci_has(m, "does not exist"))
            code = DUMPER_ENOENT;
        else if (ci_has(m, "invalid connection option") || ci_has(m, "invalid sslmode") || ci_has(m, "invalid value"))
            code = DUMPER_EURL;
        PQfinish(c);
        if (code == DUMPER_ENOENT)
            return dp_err_set(err, code, "%s (create it first)", line);
        return dp_err_set(err, code, "%s %s", code == DUMPER_EAUTH ? "authentication failed:" : "unable to connect:",
                          line);
    }
    *out = c;
    return 0;
}

/* ---- tool discovery ---- */

typedef struct {
    char *path;
    int version; /* major level, e.g. 150000 */
    int full;    /* e.g. 150018 */
} pgtool;

static void tools_free(pgtool *t, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(t[i].path);
    free(t);
}

static int tool_version(const char *path)
{
    const char *argv[] = {path, "--version", NULL};
    dp_proc_opts o = {.path = path, .argv = argv, .stdout_pipe = 1};
    dp_proc *p = NULL;
    dp_err e = {0};
    dp_buf out = {0};
    int v = -1, status = -1;
    if (dp_proc_spawn(&o, &p, &e) == 0) {
        dp_sink *b = dp_sink_buf_new(&out);
        dp_sink *s = b ? dp_filter_limit_new(4096, b) : NULL;
        if (!s)
            dp_sink_free(b);
        if (s && dp_proc_pump(p, s, &e) == 0 && dp_proc_wait(p, &status, &e) == 0 && status == 0)
            v = dp_pg_parse_tool_version_full(out.data);
        dp_sink_free(s);
        dp_proc_free(p);
    }
    dp_buf_free(&out);
    return v;
}

static int add_tool(pgtool **t, size_t *n, char *path)
{
    for (size_t i = 0; i < *n; i++)
        if (!strcmp((*t)[i].path, path)) {
            free(path);
            return 0;
        }
    pgtool *nt = realloc(*t, (*n + 1) * sizeof *nt);
    if (!nt) {
        free(path);
        return -1;
    }
    *t = nt;
    nt[*n].path = path;
    nt[*n].full = tool_version(path);
    nt[*n].version = nt[*n].full >= 0 ? dp_pg_major_num(nt[*n].full) : -1;
    (*n)++;
    return 0;
}

/* Every `name` we can find, with its version. */
static int find_tools(const char *name, pgtool **out, size_t *nout, const char **where, dp_err *err)
{
    pgtool *t = NULL;
    size_t n = 0;
    const char *bindir = getenv("DUMPER_PG_BIN");
    *where = bindir && *bindir ? bindir : "/usr/lib/postgresql/*/bin or PATH";
    if (bindir && *bindir) {
        char *p = dp_proc_which(name, bindir);
        if (p && add_tool(&t, &n, p) < 0)
            goto oom;
    } else {
        glob_t g;
        if (glob("/usr/lib/postgresql/*/bin", 0, NULL, &g) == 0) {
            for (size_t i = 0; i < g.gl_pathc; i++) {
                char *p = dp_proc_which(name, g.gl_pathv[i]);
                if (p && add_tool(&t, &n, p) < 0) {
                    globfree(&g);
                    goto oom;
                }
            }
            globfree(&g);
        }
        char *p = dp_proc_which(name, NULL);
        if (p && add_tool(&t, &n, p) < 0)
            goto oom;
    }
    *out = t;
    *nout = n;
    return 0;
oom:
    tools_free(t, n);
    return dp_err_set(err, DUMPER_ENOMEM, "out of memory");
}

static void fmt_version(int v, char *out, size_t n)
{
    if (v >= 100000)
        snprintf(out, n, "%d", v / 10000);
    else if (v > 0)
        snprintf(out, n, "%d.%d", v / 10000, v / 100 % 100);
    else
        snprintf(out, n, "unknown");
}

/* The path of a `name` compatible with the server; DUMPER_ETOOL with what was found otherwise.
 * `lenient`: fall back to the newest one (psql talks to any server version). *full (may be NULL):
 * its full version, e.g. 150018. */
static int pick_tool(const char *name, int server, int lenient, char **path, int *full, dp_err *err)
{
    pgtool *t = NULL;
    size_t n = 0;
    const char *where;
    int rc = find_tools(name, &t, &n, &where, err);
    if (rc)
        return rc;
    char sv[16];
    fmt_version(dp_pg_major_num(server), sv, sizeof sv);
    if (n == 0) {
        rc = dp_err_set(err, DUMPER_ETOOL, "%s not found in %s (install postgresql-client-%s or set DUMPER_PG_BIN)",
                        name, where, sv);
        goto done;
    }
    int *vers = calloc(n, sizeof *vers);
    if (!vers) {
        rc = dp_err_set(err, DUMPER_ENOMEM, "out of memory");
        goto done;
    }
    int newest = 0;
    for (size_t i = 0; i < n; i++) {
        vers[i] = t[i].version;
        if (vers[i] > vers[newest])
            newest = (int)i;
    }
    int k = dp_pg_pick_tool(server, vers, n);
    free(vers);
    if (k < 0 && lenient && t[newest].version > 0)
        k = newest;
    if (k < 0) {
        dp_buf found = {0};
        for (size_t i = 0; i < n; i++) {
            char v[16];
            fmt_version(t[i].version, v, sizeof v);
            dp_buf_printf(&found, "%s%s %s", i ? ", " : "", t[i].path, v);
        }
        rc = dp_err_set(err, DUMPER_ETOOL,
                        "no %s compatible with server version %s (found: %s); install postgresql-client-%s or set "
                        "DUMPER_PG_BIN",
                        name, sv, found.data ? found.data : "none", sv);
        dp_buf_free(&found);
        goto done;
    }
    *path = t[k].path;
    t[k].path = NULL;
    if (full)
        *full = t[k].full;
    dp_debug("postgresql: using %s for server version %d", *path, server);
done:
    tools_free(t, n);
    return rc;
}

/* The child's extra environment: the password, if we have one. */
static int child_env(const pgparams *pp, char **pwenv, const char *env[2], dp_err *err)
{
    *pwenv = NULL;
    env[0] = env[1] = NULL;
    if (!pp->password)
        return 0;
    if (!(*pwenv = dp_asprintf("PGPASSWORD=%s", pp->password)))
        return dp_err_set(err, DUMPER_ENOMEM, "out of memory");
    env[0] = *pwenv;
    return 0;
}

/* ---- driver ---- */

static int pg_resolve_format(const dp_dburl *url, const dp_source_opts *opts, const char **format, dp_err *err)
{
    char **custom = NULL;
    int user_compress = 0;
    int rc = dp_argv_split(opts->custom_options, "custom options", &custom, NULL, err);
    if (!rc)
        rc = dp_pg_dump_options(opts->format, custom, format, &user_compress, err);
    dp_argv_free(custom);
    return rc;
}

static int pg_check(const dp_dburl *url, const dp_source_opts *opts, dp_err *err)
{
    pgparams pp;
    PGconn *c = NULL;
    int rc = params_build(url, &pp, err);
    if (!rc)
        rc = pg_connect(url, &pp, &c, err);
    PQfinish(c);
    params_free(&pp);
    return rc;
}

static int pg_backup(const dp_dburl *url, const dp_source_opts *opts, dp_sink *out, dp_err *err)
{
    pgparams pp;
    PGconn *c = NULL;
    char **custom = NULL, *tool = NULL, *conninfo = NULL, *dbarg = NULL, *pwenv = NULL;
    const char **argv = NULL;
    const char *env[2], *format = NULL;
    dp_proc *p = NULL;
    int user_compress = 0;
    int rc = params_build(url, &pp, err);
    if (rc) {
        params_free(&pp);
        return rc;
    }
    if ((rc = dp_argv_split(opts->custom_options, "custom options", &custom, NULL, err)) ||
        (rc = dp_pg_dump_options(opts->format, custom, &format, &user_compress, err)))
        goto done;
    if ((rc = pg_connect(url, &pp, &c, err)) || (rc = params_pin(&pp, c, url, err)))
        goto done;
    int server = PQserverVersion(c);
    PQfinish(c);
    c = NULL;
    if (server < 90200) {
        rc = dp_err_set(err, DUMPER_ETOOL, "server version %d is older than 9.2, which pg_dump no longer supports",
                        server);
        goto done;
    }
    if ((rc = pick_tool("pg_dump", server, 0, &tool, NULL, err)) || (rc = child_env(&pp, &pwenv, env, err)))
        goto done;
    conninfo = params_conninfo(&pp);
    dbarg = conninfo ? dp_asprintf("--dbname=%s", conninfo) : NULL;
    size_t ncustom = dp_argv_count(custom);
    argv = calloc(ncustom + 8, sizeof *argv);
    if (!dbarg || !argv) {
        rc = dp_err_set(err, DUMPER_ENOMEM, "out of memory");
        goto done;
    }
    size_t k = 0;
    argv[k++] = "pg_dump";
    argv[k++] = "--no-password";
    argv[k++] = !strcmp(format, "dump") ? "--format=custom" : "--format=plain";
    if (!strcmp(format, "dump") && !user_compress)
        argv[k++] = "--compress=0";
    for (size_t i = 0; i < ncustom; i++)
        argv[k++] = custom[i];
    argv[k++] = dbarg;
    argv[k] = NULL;
    dp_proc_opts po = {.path = tool, .argv = argv, .env_add = env, .stdout_pipe = 1, .what = "pg_dump"};
    if ((rc = dp_proc_spawn(&po, &p, err)))
        goto done;
    if ((rc = dp_proc_pump(p, out, err)))
        goto done;
    rc = dp_proc_finish(p, DUMPER_ESOURCE, pp.password, err);
    if (rc == DUMPER_ESOURCE) {
        const char *t = dp_proc_stderr(p);
        if (ci_has(t, "password authentication failed") || ci_has(t, "no password supplied"))
            err->code = rc = DUMPER_EAUTH;
        else if (ci_has(t, "could not connect") || (ci_has(t, "connection to server") && ci_has(t, "failed:")))
            err->code = rc = DUMPER_ECONNECT;
    }
done:
    dp_proc_free(p); /* kills and reaps pg_dump if we stopped early */
    PQfinish(c);
    dp_free_secret(pwenv);
    free(argv);
    free(dbarg);
    free(conninfo);
    free(tool);
    dp_argv_free(custom);
    params_free(&pp);
    return rc;
}

/* Objects a user created: relations, functions and schemas outside the system ones. */
static const char empty_sql[] =
    "SELECT (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
    "        WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_(toast|temp)')"
    "     + (SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
    "        WHERE n.nspname NOT IN ('pg_catalog', 'information_schema'))"
    "     + (SELECT count(*) FROM pg_namespace WHERE nspname NOT IN ('public', 'information_schema')"
    "        AND nspname !~ '^pg_')";

/* ---- restore ----
 *
 * A backup is hostile input. psql gets the dump under a \restrict fence with a key the dump cannot
 * know (psql_guard.h): no backslash command runs, whatever the dump holds; ON_ERROR_STOP stops at
 * the first refused one and the single transaction rolls back. pg_restore runs with
 * --format=custom (never the tar or directory formats, which name files), without --file or
 * --create: it sends the archive's SQL to the server and nothing else, and has no client-side
 * commands at all. What remains is the SQL itself, which runs inside the target with the rights of
 * the restoring role: COPY ... PROGRAM, COPY ... TO 'file', lo_export() and pg_read_file() do work
 * on the database server for a superuser or a member of pg_execute_server_program,
 * pg_read_server_files or pg_write_server_files, so the restore warns when the role is one. A dump
 * that commits on its own (COMMIT or END; pg_dump writes BEGIN/COMMIT around large objects) ends
 * the single transaction: after a failure the restore says when the target was empty before and is
 * not any more. */

typedef struct {
    dp_sink base;          /* next: the tool sink (psql or pg_restore) */
    int plain;             /* psql: the dump goes through the guard */
    dp_psql_guard g;
    dp_buf out;
    char *conninfo, *password; /* to look at the target after a failure */
    char *reach;               /* role_reach(): said after the restore, or with its failure */
    long objects_before;
    uint64_t fed; /* dump bytes seen */
    int explained;
} pgrestore_sink;

static long count_objects(const char *conninfo, const char *password)
{
    const char *kw[] = {"dbname", "password", NULL}, *val[] = {conninfo, password, NULL};
    if (!password)
        kw[1] = NULL;
    PGconn *c = PQconnectdbParams(kw, val, 1);
    long n = -1;
    if (c && PQstatus(c) == CONNECTION_OK) {
        PGresult *res = PQexec(c, empty_sql);
        if (PQresultStatus(res) == PGRES_TUPLES_OK)
            n = strtol(PQgetvalue(res, 0, 0), NULL, 10);
        PQclear(res);
    }
    PQfinish(c);
    return n;
}

/* Turn a tool failure into what happened: a refused meta-command names its line of the dump, and a
 * target that was empty and no longer is gets said. */
static void explain_failure(pgrestore_sink *r, dp_err *err)
{
    if (r->explained || !err->code || err->code == DUMPER_EINTR || err->code == DUMPER_ENOMEM)
        return;
    r->explained = 1;
    char msg[DP_ERR_MSG_MAX];
    snprintf(msg, sizeof msg, "%s", err->msg);
    int code = err->code;
    if (r->plain && (strstr(msg, "backslash commands are restricted") || strstr(msg, "\\unrestrict: wrong key"))) {
        /* "psql:<stdin>:N: error: ...": the dump's line N - 1 (the guard's line comes first) */
        const char *at = strstr(msg, "psql:<stdin>:");
        long line = at ? strtol(at + 13, NULL, 10) - 1 : 0;
        code = DUMPER_ECORRUPT;
        if (line > 0)
            snprintf(msg, sizeof msg,
                     "backup holds a psql meta-command (a backslash command) at line %ld: a restore runs none, "
                     "refused",
                     line);
        else
            snprintf(msg, sizeof msg, "backup holds a psql meta-command (a backslash command): a restore runs none, "
                                      "refused");
    }
    if (r->objects_before == 0) {
        long now = count_objects(r->conninfo, r->password);
        size_t k = strlen(msg);
        if (now > 0)
            snprintf(msg + k, sizeof msg - k,
                     " (the dump committed %ld object%s before it failed: drop and recreate the database)", now,
                     now == 1 ? "" : "s");
        else if (now == 0 && code == DUMPER_ECORRUPT)
            snprintf(msg + k, sizeof msg - k, "; nothing was restored");
    }
    if (r->reach) {
        size_t k = strlen(msg);
        snprintf(msg + k, sizeof msg - k, " (note: restored as %s)", r->reach);
    }
    dp_err_clear(err);
    dp_err_set(err, code, "%s", msg);
}

static int pgr_flush(pgrestore_sink *r, dp_err *err)
{
    int rc = r->out.len ? dp_sink_write(r->base.next, r->out.data, r->out.len, err) : 0;
    dp_buf_reset(&r->out);
    if (rc)
        explain_failure(r, err);
    return rc;
}

static int pgr_write(dp_sink *s, const void *p, size_t n, dp_err *err)
{
    pgrestore_sink *r = (pgrestore_sink *)s;
    if (!r->plain) {
        int rc = dp_sink_write(s->next, p, n, err);
        if (rc)
            explain_failure(r, err);
        return rc;
    }
    /* psql reads lines as C strings: the rest of a line after a NUL byte would vanish unseen. A
     * plain dump never holds one (PostgreSQL text cannot). */
    const char *nul = memchr(p, 0, n);
    if (nul)
        return dp_err_set(err, DUMPER_ECORRUPT, "backup holds a NUL byte at offset %llu, which no plain dump has: refused",
                          (unsigned long long)(r->fed + (uint64_t)(nul - (const char *)p)));
    r->fed += n;
    if (dp_psql_guard_feed(&r->g, p, n, &r->out) < 0)
        return dp_err_set(err, DUMPER_ENOMEM, "out of memory");
    return pgr_flush(r, err);
}

static int pgr_end(dp_sink *s, dp_err *err)
{
    pgrestore_sink *r = (pgrestore_sink *)s;
    int rc = 0;
    if (r->plain && dp_psql_guard_finish(&r->g, &r->out) < 0)
        return dp_err_set(err, DUMPER_ENOMEM, "out of memory");
    if (r->plain && (rc = pgr_flush(r, err)))
        return rc;
    if ((rc = dp_sink_end(s->next, err)))
        explain_failure(r, err);
    return rc;
}

static void pgr_destroy(dp_sink *s)
{
    pgrestore_sink *r = (pgrestore_sink *)s;
    dp_psql_guard_free(&r->g);
    dp_buf_free(&r->out);
    free(r->conninfo);
    free(r->reach);
    dp_free_secret(r->password);
}

static int pgr_commit(dp_sink *s, dp_err *err);
static const dp_sink_ops pgrestore_ops = {
    .name = "postgresql-restore", .write = pgr_write, .end = pgr_end, .commit = pgr_commit, .destroy = pgr_destroy};

/* The restoring role when it reaches beyond the database, or NULL: "'postgres', a superuser", or
 * "'app', a member of pg_execute_server_program, ..." (the roles that run programs or read and
 * write files on the server). Caller frees. */
static char *role_reach(PGconn *c)
{
    PGresult *res = PQexec(c, "SELECT r.rolsuper, (SELECT string_agg(b.rolname, ', ' ORDER BY b.rolname) FROM "
                              "pg_roles b WHERE b.rolname IN ('pg_execute_server_program', 'pg_read_server_files', "
                              "'pg_write_server_files') AND pg_has_role(r.oid, b.oid, 'MEMBER')) FROM pg_roles r "
                              "WHERE r.rolname = current_user");
    char *reach = NULL;
    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1) {
        if (!strcmp(PQgetvalue(res, 0, 0), "t"))
            reach = dp_asprintf("'%s', a superuser", PQuser(c));
        else if (!PQgetisnull(res, 0, 1))
            reach = dp_asprintf("'%s', a member of %s", PQuser(c), PQgetvalue(res, 0, 1));
    }
    PQclear(res);
    return reach;
}

static int pgr_commit(dp_sink *s, dp_err *err)
{
    pgrestore_sink *r = (pgrestore_sink *)s;
    int rc = dp_sink_commit(s->next, err);
    if (!rc && r->reach)
        dp_warn("restored as %s: SQL in a backup runs with the role's rights, which reach beyond the database "
                "(COPY ... PROGRAM runs programs, COPY ... TO and lo_export() write files on the database server); "
                "restore backups as a role without them",
                r->reach);
    return rc;
}

static int pg_restore_sink(const dp_dburl *url, const dp_source_opts *opts, const char *format, dp_sink **out,
                           dp_err *err)
{
    pgparams pp;
    PGconn *c = NULL;
    PGresult *res = NULL;
    char *tool = NULL, *conninfo = NULL, *dbarg = NULL, *pwenv = NULL;
    const char *env[2];
    dp_proc *p = NULL;
    dp_sink *tool_sink = NULL;
    pgrestore_sink *r = NULL;
    char *reach = NULL;
    *out = NULL;
    if (opts->restore_file)
        return dp_err_set(err, DUMPER_EUSAGE, "--rdb-file is for redis; %s backups restore into a database",
                          url->scheme);
    int dump = dp_streq(format, "dump");
    if (!dump && !dp_streq(format, "sql"))
        return dp_err_set(err, DUMPER_EUNSUPPORTED, "cannot restore a '%s' backup into postgresql", format);
    if (opts->jobs > 1 && !dump)
        return dp_err_set(err, DUMPER_EUSAGE,
                          "--jobs needs a custom-format backup (taken with --format dump); this one is '%s'", format);
    int rc = params_build(url, &pp, err);
    if (rc) {
        params_free(&pp);
        return rc;
    }
    if ((rc = pg_connect(url, &pp, &c, err)) || (rc = params_pin(&pp, c, url, err)))
        goto done;
    int server = PQserverVersion(c);
    res = PQexec(c, empty_sql);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        char line[300];
        first_line(PQerrorMessage(c), line, sizeof line);
        rc = dp_err_set(err, DUMPER_ESOURCE, "unable to inspect the target database: %s", line);
        goto done;
    }
    long objects = strtol(PQgetvalue(res, 0, 0), NULL, 10);
    if (objects > 0 && !opts->force) {
        rc = dp_err_set(err, DUMPER_EEXIST, "target database '%s' is not empty (%ld object%s; use --force to "
                                            "restore into it anyway)",
                        PQdb(c), objects, objects == 1 ? "" : "s");
        goto done;
    }
    PQclear(res);
    res = NULL;
    int full = -1;
    if ((rc = pick_tool(dump ? "pg_restore" : "psql", server, !dump, &tool, &full, err)) ||
        (rc = child_env(&pp, &pwenv, env, err)))
        goto done;
    if (!dump && !dp_psql_restricts(full)) {
        char v[32];
        snprintf(v, sizeof v, "%d.%d", full / 10000, full % 10000);
        rc = dp_err_set(err, DUMPER_ETOOL,
                        "%s (version %s) cannot refuse the meta-commands a backup may hold (\\restrict needs psql "
                        "13.22, 14.19, 15.14, 16.10, 17.6 or newer): install a current postgresql-client or set "
                        "DUMPER_PG_BIN",
                        tool, full > 0 ? v : "unknown");
        goto done;
    }
    reach = role_reach(c);
    PQfinish(c);
    c = NULL;
    conninfo = params_conninfo(&pp);
    dbarg = conninfo ? dp_asprintf("--dbname=%s", conninfo) : NULL;
    r = calloc(1, sizeof *r);
    if (!dbarg || !r) {
        rc = dp_err_set(err, DUMPER_ENOMEM, "out of memory");
        goto done;
    }
    const char *psql_argv[] = {"psql", "--no-psqlrc", "--quiet", "--no-password", "--set=ON_ERROR_STOP=1",
                               "--single-transaction", "--file=-", dbarg, NULL};
    /* --force with a custom-format archive: drop the archive's objects before recreating them
     * (a plain dump can only do that if it was taken with --clean). */
    const char *restore_argv[] = {"pg_restore", "--no-password", "--format=custom", "--exit-on-error",
                                  "--single-transaction", dbarg, opts->force ? "--clean" : NULL, "--if-exists", NULL};
    dp_proc_opts po = {.path = tool,
                       .argv = dump ? restore_argv : psql_argv,
                       .env_add = env,
                       .stdin_pipe = 1,
                       .what = dump ? "pg_restore" : "psql"};
    if (dump && opts->jobs > 1) {
        /* pg_restore --jobs reads a file it can seek in: spool, then restore at commit (spool.h). Not in
         * one transaction (pg_restore cannot combine the two): a failure leaves a partial restore. */
        char jobs[32];
        snprintf(jobs, sizeof jobs, "--jobs=%d", opts->jobs);
        const char *parallel_argv[] = {"pg_restore", "--no-password", "--exit-on-error", jobs, dbarg,
                                       opts->force ? "--clean" : DP_SPOOL_PATH, opts->force ? "--if-exists" : NULL,
                                       opts->force ? DP_SPOOL_PATH : NULL, NULL};
        po.argv = parallel_argv;
        char *secret = pp.password;
        pp.password = NULL;
        if (!(*out = dp_spool_sink_new(&po, secret, err)))
            rc = err->code;
        goto done;
    }
    if ((rc = dp_proc_spawn(&po, &p, err)))
        goto done;
    char *secret = dp_strdup(pp.password);
    if (pp.password && !secret) {
        rc = dp_err_set(err, DUMPER_ENOMEM, "out of memory");
        goto done;
    }
    tool_sink = dp_tool_sink_new(p, secret, NULL); /* owns p and secret, also when it fails */
    p = NULL;
    if (!tool_sink) {
        rc = dp_err_set(err, DUMPER_ENOMEM, "out of memory");
        goto done;
    }
    dp_sink_init(&r->base, &pgrestore_ops, tool_sink);
    tool_sink = NULL;
    r->plain = !dump;
    dp_psql_guard_init(&r->g);
    r->objects_before = objects;
    r->conninfo = conninfo;
    conninfo = NULL;
    r->password = pp.password;
    pp.password = NULL;
    r->reach = reach;
    reach = NULL;
    if (r->plain) {
        char prelude[80];
        if (dp_psql_guard_prelude(prelude) < 0)
            rc = dp_err_set(err, DUMPER_EINTERNAL, "no random bytes for the psql restriction key");
        else
            rc = dp_sink_write(r->base.next, prelude, strlen(prelude), err);
        dp_memzero(prelude, sizeof prelude);
        if (rc)
            goto done;
    }
    *out = &r->base;
    r = NULL;
done:
    if (r && r->base.ops)
        dp_sink_free(&r->base); /* aborts: the tool is killed, its transaction rolled back */
    else
        free(r);
    dp_sink_free(tool_sink);
    dp_proc_free(p);
    PQclear(res);
    PQfinish(c);
    dp_free_secret(pwenv);
    free(dbarg);
    free(conninfo);
    free(tool);
    free(reach);
    params_free(&pp);
    return rc;
}

const dp_source_driver dp_source_postgres = {
    .name = "postgresql",
    .type = DP_DB_POSTGRES,
    .features = DP_SOURCE_FEAT_BACKUP | DP_SOURCE_FEAT_RESTORE | DP_SOURCE_FEAT_RESTORE_JOBS,
    .resolve_format = pg_resolve_format,
    .check = pg_check,
    .backup = pg_backup,
    .restore = pg_restore_sink,
    .restore_formats = (const char *const[]){"sql", "dump", NULL},
};
