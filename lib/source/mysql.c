/*
 * mysql.c - MySQL / MariaDB source (mysql://, mariadb://): mariadb-dump or mysqldump out, the
 * mariadb or mysql client in, driven without a shell.
 *
 * The C connector (libmariadb) checks the connection, credentials and database first, so the common
 * failures get a precise code and message before any tool runs. The dump runs with
 * --single-transaction (one consistent InnoDB snapshot: writes during the backup never tear it;
 * non-transactional MyISAM tables get no such guarantee), --routines, --triggers and --events, and
 * without CREATE DATABASE so it restores into a database of any name.
 *
 * The password travels in a 0600 option file in $TMPDIR passed with --defaults-extra-file (which
 * must be the first argument), never argv; the file is removed as soon as the tool has exited.
 * Tools come from DUMPER_MYSQL_BIN (a directory; when set nothing else is searched), else PATH:
 * mariadb-dump, then mysqldump; mariadb, then mysql.
 */
#include <errno.h>
#include <fcntl.h>
#include <mysql.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/argv.h"
#include "core/log.h"
#include "core/util.h"
#include "source/source.h"
#include "source/tool.h"

static const char *const password_env[] = {"DUMPER_DB_PASSWORD", "MYSQL_PWD", NULL};

static int conn_fail(MYSQL *m, dp_err *err)
{
    unsigned e = mysql_errno(m);
    const char *msg = mysql_error(m);
    switch (e) {
    case 1045: /* ER_ACCESS_DENIED_ERROR */
    case 1044: /* ER_DBACCESS_DENIED_ERROR */
    case 1698: /* ER_ACCESS_DENIED_NO_PASSWORD_ERROR */
        return dp_err_set(err, DUMPER_EAUTH, "authentication failed: %s", msg);
    case 1049: /* ER_BAD_DB_ERROR */ return dp_err_set(err, DUMPER_ENOENT, "%s (create it first)", msg);
    default: return dp_err_set(err, DUMPER_ECONNECT, "unable to connect: %s", msg);
    }
}

static int my_connect(const dp_dburl *url, const char *password, MYSQL **out, dp_err *err)
{
    *out = NULL;
    if (!url->dbname || !*url->dbname)
        return dp_err_set(err, DUMPER_EUSAGE, "the %s url must name a database (%s://user@host/dbname)",
                          url->scheme, url->scheme);
    MYSQL *m = mysql_init(NULL);
    if (!m)
        return dp_err_set(err, DUMPER_ENOMEM, "out of memory");
    unsigned timeout = 10;
    mysql_options(m, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
    mysql_options(m, MYSQL_READ_DEFAULT_GROUP, "client");
    if (!mysql_real_connect(m, url->host, url->user, password ? password : "", url->dbname, (unsigned)url->port,
                            dp_dburl_param(url, "socket"), 0)) {
        int rc = conn_fail(m, err);
        mysql_close(m);
        return rc;
    }
    *out = m;
    return 0;
}

/* Escape for a double-quoted option-file value. */
static void put_opt_value(dp_buf *b, const char *v)
{
    dp_buf_puts(b, "\"");
    for (; *v; v++) {
        switch (*v) {
        case '\\': dp_buf_puts(b, "\\\\"); break;
        case '"': dp_buf_puts(b, "\\\""); break;
        case '\n': dp_buf_puts(b, "\\n"); break;
        case '\r': dp_buf_puts(b, "\\r"); break;
        case '\t': dp_buf_puts(b, "\\t"); break;
        default: dp_buf_append(b, v, 1);
        }
    }
    dp_buf_puts(b, "\"\n");
}

/* A 0600 option file holding the password; *path NULL when there is no password. */
static int write_option_file(const char *password, char **path, dp_err *err)
{
    *path = NULL;
    if (!password)
        return 0;
    const char *dir = getenv("TMPDIR");
    char *p = dp_asprintf("%s/dumper-my-XXXXXX", dir && *dir ? dir : "/tmp");
    if (!p)
        return dp_err_set(err, DUMPER_ENOMEM, "out of memory");
    mode_t old = umask(077);
    int fd = mkostemp(p, O_CLOEXEC);
    umask(old);
    if (fd < 0) {
        int rc = dp_err_sys(err, DUMPER_EIO, errno, "unable to create a credentials file in '%s'",
                            dir && *dir ? dir : "/tmp");
        free(p);
        return rc;
    }
    dp_buf b = {0};
    dp_buf_puts(&b, "[client]\npassword=");
    put_opt_value(&b, password);
    int ok = b.data && fchmod(fd, 0600) == 0 && dp_write_all(fd, b.data, b.len) == 0;
    int e = errno;
    if (b.data)
        dp_memzero(b.data, b.len);
    dp_buf_free(&b);
    if (close(fd) < 0)
        ok = 0;
    if (!ok) {
        unlink(p);
        free(p);
        return dp_err_sys(err, DUMPER_EIO, e, "unable to write a credentials file");
    }
    *path = p;
    return 0;
}

static int find_tool(const char *const *names, char **path, dp_err *err)
{
    const char *dir = getenv("DUMPER_MYSQL_BIN");
    if (dir && !*dir)
        dir = NULL;
    for (size_t i = 0; names[i]; i++)
        if ((*path = dp_proc_which(names[i], dir)))
            return 0;
    return dp_err_set(err, DUMPER_ETOOL, "%s or %s not found in %s (install mariadb-client or set DUMPER_MYSQL_BIN)",
                      names[0], names[1], dir ? dir : "PATH");
}

static int prefix_of(const char *given, size_t n, const char *full)
{
    return n >= 3 && n <= strlen(full) && strncmp(given, full, n) == 0;
}

static int check_custom(char *const *custom, dp_err *err)
{
    static const char *const owned_long[] = {"result-file", "password", "defaults-file", "defaults-extra-file",
                                             "no-defaults", "tab", "host", "port", "user", "socket", "databases",
                                             "all-databases", "defaults-group-suffix", "print-defaults", "help",
                                             "version", NULL};
    for (size_t i = 0; custom && custom[i]; i++) {
        const char *a = custom[i];
        if (a[0] != '-' || !a[1])
            return dp_err_set(err, DUMPER_EUSAGE,
                              "custom option '%s' is not an option (the database comes from the url)", a);
        if (a[1] == '-') {
            const char *name = a + 2, *eq = strchr(name, '=');
            size_t n = eq ? (size_t)(eq - name) : strlen(name);
            for (size_t k = 0; owned_long[k]; k++)
                if (prefix_of(name, n, owned_long[k]) || n == 0)
                    goto owned;
            continue;
        }
        if (strchr("prThPuSBA?V", a[1]))
            goto owned;
        continue;
    owned:
        return dp_err_set(
            err, DUMPER_EUSAGE,
            "custom option '%s' is not allowed: dumper sets the output, connection and password itself", a);
    }
    return 0;
}

static int my_resolve_format(const dp_dburl *url, const dp_source_opts *opts, const char **format, dp_err *err)
{
    if (opts->format && *opts->format && strcmp(opts->format, "sql") != 0)
        return dp_err_set(err, DUMPER_EUSAGE, "unknown %s format '%s' (supported: sql)", url->scheme, opts->format);
    char **custom = NULL;
    int rc = dp_argv_split(opts->custom_options, "custom options", &custom, NULL, err);
    if (!rc)
        rc = check_custom(custom, err);
    dp_argv_free(custom);
    *format = "sql";
    return rc;
}

static int my_check(const dp_dburl *url, const dp_source_opts *opts, dp_err *err)
{
    char *pw = dp_tool_password(url, password_env);
    MYSQL *m = NULL;
    int rc = my_connect(url, pw, &m, err);
    mysql_close(m);
    dp_free_secret(pw);
    return rc;
}

/* Connection arguments shared by the dump and the client (no password). */
typedef struct {
    char *defaults, *host, *port, *user, *socket, *charset;
} connargs;

static void connargs_free(connargs *c)
{
    free(c->defaults);
    free(c->host);
    free(c->port);
    free(c->user);
    free(c->socket);
    free(c->charset);
}

static int connargs_build(const dp_dburl *url, const char *optfile, connargs *c, const char **argv, size_t *k,
                          dp_err *err)
{
    memset(c, 0, sizeof *c);
    const char *sock = dp_dburl_param(url, "socket");
    const char *cs = dp_dburl_param(url, "encoding");
    if (!cs)
        cs = dp_dburl_param(url, "charset");
    if ((optfile && !(c->defaults = dp_asprintf("--defaults-extra-file=%s", optfile))) ||
        (url->host && !(c->host = dp_asprintf("--host=%s", url->host))) ||
        (url->port && !(c->port = dp_asprintf("--port=%d", url->port))) ||
        (url->user && !(c->user = dp_asprintf("--user=%s", url->user))) ||
        (sock && !(c->socket = dp_asprintf("--socket=%s", sock))) ||
        !(c->charset = dp_asprintf("--default-character-set=%s", cs ? cs : "utf8mb4")))
        return dp_err_set(err, DUMPER_ENOMEM, "out of memory");
    /* --defaults-extra-file is only honoured as the very first argument. */
    if (c->defaults)
        argv[(*k)++] = c->defaults;
    if (c->host)
        argv[(*k)++] = c->host;
    if (c->port)
        argv[(*k)++] = c->port;
    if (c->socket)
        argv[(*k)++] = c->socket;
    if (c->user)
        argv[(*k)++] = c->user;
    argv[(*k)++] = c->charset;
    return 0;
}

static int my_backup(const dp_dburl *url, const dp_source_opts *opts, dp_sink *out, dp_err *err)
{
    static const char *const tools[] = {"mariadb-dump", "mysqldump", NULL};
    char *pw = dp_tool_password(url, password_env), *tool = NULL, *optfile = NULL, **custom = NULL;
    const char **argv = NULL;
    MYSQL *m = NULL;
    dp_proc *p = NULL;
    connargs ca;
    memset(&ca, 0, sizeof ca);
    int rc = dp_argv_split(opts->custom_options, "custom options", &custom, NULL, err);
    if (rc || (rc = check_custom(custom, err)) || (rc = my_connect(url, pw, &m, err)))
        goto done;
    mysql_close(m);
    m = NULL;
    if ((rc = find_tool(tools, &tool, err)) || (rc = write_option_file(pw, &optfile, err)))
        goto done;
    size_t ncustom = dp_argv_count(custom), k = 0;
    argv = calloc(ncustom + 24, sizeof *argv);
    if (!argv) {
        rc = dp_err_set(err, DUMPER_ENOMEM, "out of memory");
        goto done;
    }
    argv[k++] = strrchr(tool, '/') ? strrchr(tool, '/') + 1 : tool;
    if ((rc = connargs_build(url, optfile, &ca, argv, &k, err)))
        goto done;
    static const char *const fixed[] = {"--single-transaction", "--routines", "--triggers", "--events",
                                        "--hex-blob", "--no-tablespaces", NULL};
    for (size_t i = 0; fixed[i]; i++)
        argv[k++] = fixed[i];
    for (size_t i = 0; i < ncustom; i++)
        argv[k++] = custom[i];
    argv[k++] = "--";
    argv[k++] = url->dbname;
    argv[k] = NULL;
    dp_proc_opts po = {.path = tool, .argv = argv, .stdout_pipe = 1};
    if ((rc = dp_proc_spawn(&po, &p, err)) || (rc = dp_proc_pump(p, out, err)))
        goto done;
    rc = dp_proc_finish(p, DUMPER_ESOURCE, pw, err);
    if (rc == DUMPER_ESOURCE) {
        const char *t = dp_proc_stderr(p);
        if (strstr(t, "Access denied"))
            err->code = rc = DUMPER_EAUTH;
        else if (strstr(t, "Can't connect"))
            err->code = rc = DUMPER_ECONNECT;
    }
done:
    dp_proc_free(p);
    dp_tool_unlink_secret_file(&optfile);
    mysql_close(m);
    connargs_free(&ca);
    free(argv);
    free(tool);
    dp_argv_free(custom);
    dp_free_secret(pw);
    return rc;
}

static const char empty_sql[] =
    "SELECT (SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE())"
    "     + (SELECT COUNT(*) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = DATABASE())"
    "     + (SELECT COUNT(*) FROM information_schema.EVENTS WHERE EVENT_SCHEMA = DATABASE())";

/* ---- restore ----
 *
 * A backup is hostile input. The client runs with --batch --binary-mode (which turns off every
 * client command but DELIMITER and \C when the input is not a terminal: system, \!, source, \.,
 * tee, \T, pager, \P, connect, edit, ... reach the server as SQL and fail there, or are refused as
 * unknown commands), --sandbox (MariaDB's own fence against commands that touch files, for the
 * case binary mode ever lets one through) and --local-infile=0 (LOAD DATA LOCAL INFILE cannot
 * read a client file). A dump holding a NUL byte is refused: mariadb-dump escapes them.
 *
 * What remains is SQL, which the server runs with the restoring user's rights: with privileges
 * beyond the target database a dump can write other databases (USE other; or qualified names:
 * --one-database filters neither), and with FILE (or SUPER) write server files (SELECT ... INTO
 * OUTFILE). The restore warns when the user holds such privileges. MySQL cannot roll DDL back, so
 * when a restore into an empty database fails or is interrupted, what the dump created there is
 * dropped again (tables, views, sequences, routines, events): the target is left empty, as it was.
 * Under --force (a non-empty target) nothing is dropped. */

typedef struct {
    dp_sink base;     /* next: the tool sink */
    dp_dburl url;     /* the target, for the clean-up connection (only the fields my_connect reads) */
    char *password, *reach;
    long objects_before;
    uint64_t fed;
    int failed_once; /* my_explain ran */
    int cleaned;     /* drop_all ran (an empty target before the restore), leaving `left` objects */
    long left;
} myrestore_sink;

static void append(char *msg, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void append(char *msg, size_t size, const char *fmt, ...)
{
    size_t k = strlen(msg);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg + k, size - k, fmt, ap);
    va_end(ap);
}

static void put_ident(dp_buf *b, const char *s)
{
    dp_buf_puts(b, "`");
    for (; *s; s++) {
        if (*s == '`')
            dp_buf_puts(b, "`");
        dp_buf_append(b, s, 1);
    }
    dp_buf_puts(b, "`");
}

/* Drop everything in the (formerly empty) target; the number of objects left, -1 if unknown. */
static long drop_all(myrestore_sink *r)
{
    MYSQL *m = NULL;
    dp_err e = {0};
    if (my_connect(&r->url, r->password, &m, &e))
        return -1;
    static const char list_sql[] =
        "SELECT 'TABLE', TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE "
        "NOT IN ('VIEW', 'SEQUENCE') UNION ALL SELECT 'VIEW', TABLE_NAME FROM information_schema.TABLES WHERE "
        "TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'VIEW' UNION ALL SELECT 'SEQUENCE', TABLE_NAME FROM "
        "information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'SEQUENCE' UNION ALL SELECT "
        "ROUTINE_TYPE, ROUTINE_NAME FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = DATABASE() AND "
        "ROUTINE_TYPE IN ('PROCEDURE', 'FUNCTION') UNION ALL SELECT 'EVENT', EVENT_NAME FROM "
        "information_schema.EVENTS WHERE EVENT_SCHEMA = DATABASE()";
    dp_buf drops = {0};
    MYSQL_RES *res = NULL;
    MYSQL_ROW row;
    long left = -1;
    if (mysql_query(m, "SET FOREIGN_KEY_CHECKS = 0") == 0 && mysql_query(m, list_sql) == 0 &&
        (res = mysql_store_result(m))) {
        while ((row = mysql_fetch_row(res))) {
            if (!row[0] || !row[1])
                continue;
            dp_buf_printf(&drops, "DROP %s IF EXISTS ", row[0]);
            put_ident(&drops, row[1]);
            dp_buf_append(&drops, "", 1); /* statements separated by NULs */
        }
        mysql_free_result(res);
        for (size_t off = 0; drops.data && off < drops.len; off += strlen(drops.data + off) + 1)
            if (mysql_query(m, drops.data + off) != 0)
                dp_warn("%s: cleaning up after the failed restore: %s", r->url.dbname, mysql_error(m));
        MYSQL_ROW n;
        if (mysql_query(m, empty_sql) == 0 && (res = mysql_store_result(m))) {
            if ((n = mysql_fetch_row(res)) && n[0])
                left = strtol(n[0], NULL, 10);
            mysql_free_result(res);
        }
    }
    dp_buf_free(&drops);
    mysql_close(m);
    return left;
}

/* What the clean-up after a failed restore into an empty target did, appended to msg. */
static void cleanup_note(const myrestore_sink *r, char *msg, size_t size)
{
    if (r->left == 0)
        append(msg, size, "; the objects the dump had created were dropped, the target is empty again");
    else if (r->left > 0)
        append(msg, size, "; %ld object%s the dump created could not be dropped: drop and recreate the database",
               r->left, r->left == 1 ? "" : "s");
}

/* Say what happened: a refused client command as such, what the cleanup did, a reaching role. */
static void my_explain(myrestore_sink *r, dp_err *err)
{
    if (r->failed_once || !err->code)
        return;
    r->failed_once = 1;
    char msg[DP_ERR_MSG_MAX];
    snprintf(msg, sizeof msg, "%s", err->msg);
    int code = err->code;
    const char *unknown = strstr(msg, "Unknown command '");
    if (unknown && err->code != DUMPER_EINTR) {
        const char *at = strstr(msg, " at line ");
        long line = at ? strtol(at + 9, NULL, 10) : 0;
        char cmd[8] = "";
        const char *q = unknown + 17, *end = strchr(q, '\'');
        if (end && end - q < (long)sizeof cmd)
            memcpy(cmd, q, (size_t)(end - q)), cmd[end - q] = 0;
        code = DUMPER_ECORRUPT;
        snprintf(msg, sizeof msg, "backup holds a client command ('%s') at line %ld: a restore runs none, refused", cmd,
                 line);
    } else if (strstr(msg, "unknown option '--sandbox'") || strstr(msg, "unknown option '--binary-mode'")) {
        code = DUMPER_ETOOL;
        snprintf(msg, sizeof msg, "the client cannot refuse the commands a backup may hold (--sandbox needs MariaDB "
                                  "10.5.25, 10.6.18, 10.11.8, 11.4.2 or newer): install a current mariadb-client");
    }
    if (r->objects_before == 0) {
        if (!r->cleaned) {
            dp_sink_abort(r->base.next); /* the client must be gone (interrupted: killed) before the clean-up */
            r->left = drop_all(r);
            r->cleaned = 1;
        }
        cleanup_note(r, msg, sizeof msg);
    }
    if (r->reach && code != DUMPER_ETOOL)
        append(msg, sizeof msg, " (note: restored as %s)", r->reach);
    dp_err_clear(err);
    dp_err_set(err, code, "%s", msg);
}

static int myr_write(dp_sink *s, const void *p, size_t n, dp_err *err)
{
    myrestore_sink *r = (myrestore_sink *)s;
    const char *nul = memchr(p, 0, n);
    int rc;
    if (nul)
        rc = dp_err_set(err, DUMPER_ECORRUPT, "backup holds a NUL byte at offset %llu, which mariadb-dump never writes: "
                                              "refused",
                        (unsigned long long)(r->fed + (uint64_t)(nul - (const char *)p)));
    else
        rc = dp_sink_write(s->next, p, n, err);
    r->fed += n;
    if (rc)
        my_explain(r, err);
    return rc;
}

static int myr_end(dp_sink *s, dp_err *err)
{
    myrestore_sink *r = (myrestore_sink *)s;
    int rc = dp_sink_end(s->next, err);
    if (rc)
        my_explain(r, err);
    return rc;
}

static int myr_commit(dp_sink *s, dp_err *err)
{
    myrestore_sink *r = (myrestore_sink *)s;
    int rc = dp_sink_commit(s->next, err);
    if (!rc && r->reach)
        dp_warn("restored as %s: SQL in a backup runs with the user's rights, so it could write other databases "
                "(and with FILE, files on the database server); restore backups as a user granted only on the "
                "target database",
                r->reach);
    return rc;
}

/* An interrupted restore (the tool is killed first): the target goes back to empty too. */
static void myr_abort(dp_sink *s)
{
    myrestore_sink *r = (myrestore_sink *)s;
    dp_sink_abort(s->next);
    if (r->objects_before == 0 && !r->cleaned) {
        r->left = drop_all(r);
        r->cleaned = 1;
    }
}

/* The failure came from elsewhere (dp_sink_fail): the same explanation, from what the abort did. */
static void myr_explain(dp_sink *s, dp_err *err)
{
    myrestore_sink *r = (myrestore_sink *)s;
    if (!r->failed_once) {
        my_explain(r, err);
        return;
    }
    /* explained already, in the worker thread of an async stage: that error may not be the one the
     * owner reports (the reader saw the interrupt first), so the clean-up is told here again */
    char note[DP_ERR_MSG_MAX] = "";
    if (r->objects_before == 0 && r->cleaned && err->code) {
        cleanup_note(r, note, sizeof note);
        if (*note && !strstr(err->msg, note + 2)) {
            char msg[DP_ERR_MSG_MAX];
            snprintf(msg, sizeof msg, "%s", err->msg);
            append(msg, sizeof msg, "%s", note);
            int code = err->code;
            dp_err_clear(err);
            dp_err_set(err, code, "%s", msg);
        }
    }
}

static void myr_destroy(dp_sink *s)
{
    myrestore_sink *r = (myrestore_sink *)s;
    dp_free_secret(r->password);
    free(r->reach);
    free(r->url.scheme);
    free(r->url.host);
    free(r->url.user);
    free(r->url.dbname);
    if (r->url.params) {
        free(r->url.params[0].key);
        free(r->url.params[0].value);
        free(r->url.params);
    }
}

/* The part of url my_connect reads (host, port, user, database, the socket parameter). */
static int copy_conn_url(const dp_dburl *url, dp_dburl *c)
{
    memset(c, 0, sizeof *c);
    c->type = url->type;
    c->port = url->port;
    const char *sock = dp_dburl_param(url, "socket");
    if (!(c->scheme = dp_strdup(url->scheme)) || (url->host && !(c->host = dp_strdup(url->host))) ||
        (url->user && !(c->user = dp_strdup(url->user))) || !(c->dbname = dp_strdup(url->dbname)))
        return -1;
    if (sock) {
        if (!(c->params = calloc(1, sizeof *c->params)))
            return -1;
        c->nparams = 1;
        if (!(c->params[0].key = dp_strdup("socket")) || !(c->params[0].value = dp_strdup(sock)))
            return -1;
    }
    return 0;
}

static const dp_sink_ops myrestore_ops = {.name = "mysql-restore",
                                          .write = myr_write,
                                          .end = myr_end,
                                          .explain = myr_explain,
                                          .commit = myr_commit,
                                          .abort = myr_abort,
                                          .destroy = myr_destroy};

/* What the restoring user can reach beyond the target database, from SHOW GRANTS, or NULL:
 * "'app@%' with FILE, privileges on every database". Caller frees. */
static char *user_reach(MYSQL *m, const char *target)
{
    MYSQL_RES *res = NULL;
    MYSQL_ROW row;
    int files = 0, super = 0, every = 0, other = 0;
    if (mysql_query(m, "SHOW GRANTS") != 0 || !(res = mysql_store_result(m)))
        return NULL;
    while ((row = mysql_fetch_row(res))) {
        const char *g = row[0], *on = g ? strstr(g, " ON ") : NULL, *to = on ? strstr(on, " TO ") : NULL;
        if (!g || strncmp(g, "GRANT ", 6) != 0 || !on || !to || !strncmp(g + 6, "PROXY", 5))
            continue;
        size_t pn = (size_t)(on - g - 6);
        char privs[512];
        snprintf(privs, sizeof privs, "%.*s", (int)(pn < sizeof privs ? pn : sizeof privs - 1), g + 6);
        const char *obj = on + 4;
        if (!strncmp(obj, "*.*", 3)) {
            if (strcmp(privs, "USAGE") != 0)
                every = 1;
            if (strstr(privs, "ALL PRIVILEGES") || strstr(privs, "FILE"))
                files = 1;
            if (strstr(privs, "ALL PRIVILEGES") || strstr(privs, "SUPER"))
                super = 1;
        } else if (obj[0] == '`') {
            dp_buf db = {0};
            const char *q = obj + 1;
            for (; *q && !(q[0] == '`' && q[1] != '`'); q++) {
                if (q[0] == '`')
                    q++;
                dp_buf_append(&db, q, 1);
            }
            if (strcmp(db.data ? db.data : "", target) != 0)
                other = 1;
            dp_buf_free(&db);
        }
    }
    mysql_free_result(res);
    if (!files && !super && !every && !other)
        return NULL;
    dp_buf b = {0};
    if (mysql_query(m, "SELECT CURRENT_USER()") == 0 && (res = mysql_store_result(m))) {
        if ((row = mysql_fetch_row(res)) && row[0])
            dp_buf_printf(&b, "'%s' ", row[0]);
        mysql_free_result(res);
    }
    dp_buf_puts(&b, "with");
    const char *sep = " ";
    if (files)
        dp_buf_printf(&b, "%sFILE", sep), sep = ", ";
    if (super)
        dp_buf_printf(&b, "%sSUPER", sep), sep = ", ";
    if (every)
        dp_buf_printf(&b, "%sprivileges on every database", sep), sep = ", ";
    if (other)
        dp_buf_printf(&b, "%sprivileges on other databases", sep);
    return b.data;
}

static int my_restore(const dp_dburl *url, const dp_source_opts *opts, const char *format, dp_sink **out,
                      dp_err *err)
{
    static const char *const tools[] = {"mariadb", "mysql", NULL};
    *out = NULL;
    if (opts->restore_file)
        return dp_err_set(err, DUMPER_EUSAGE, "--rdb-file is for redis; %s backups restore into a database",
                          url->scheme);
    if (!dp_streq(format, "sql"))
        return dp_err_set(err, DUMPER_EUNSUPPORTED, "cannot restore a '%s' backup into %s", format, url->scheme);
    char *pw = dp_tool_password(url, password_env), *tool = NULL, *optfile = NULL, *reach = NULL;
    MYSQL *m = NULL;
    MYSQL_RES *res = NULL;
    dp_proc *p = NULL;
    dp_sink *tool_sink = NULL;
    connargs ca;
    memset(&ca, 0, sizeof ca);
    int rc = my_connect(url, pw, &m, err);
    if (rc)
        goto done;
    MYSQL_ROW row;
    if (mysql_query(m, empty_sql) != 0 || !(res = mysql_store_result(m)) || !(row = mysql_fetch_row(res))) {
        rc = dp_err_set(err, DUMPER_ESOURCE, "unable to inspect the target database: %s", mysql_error(m));
        goto done;
    }
    long objects = row[0] ? strtol(row[0], NULL, 10) : 0;
    if (objects > 0 && !opts->force) {
        rc = dp_err_set(err, DUMPER_EEXIST,
                        "target database '%s' is not empty (%ld object%s; use --force to restore into it anyway)",
                        url->dbname, objects, objects == 1 ? "" : "s");
        goto done;
    }
    mysql_free_result(res);
    res = NULL;
    reach = user_reach(m, url->dbname);
    mysql_close(m);
    m = NULL;
    if ((rc = find_tool(tools, &tool, err)) || (rc = write_option_file(pw, &optfile, err)))
        goto done;
    const char *argv[20];
    size_t k = 0;
    argv[k++] = strrchr(tool, '/') ? strrchr(tool, '/') + 1 : tool;
    if ((rc = connargs_build(url, optfile, &ca, argv, &k, err)))
        goto done;
    argv[k++] = "--batch";
    argv[k++] = "--binary-mode";
    argv[k++] = "--sandbox";
    argv[k++] = "--local-infile=0";
    argv[k++] = "--database";
    argv[k++] = url->dbname;
    argv[k] = NULL;
    dp_proc_opts po = {.path = tool, .argv = argv, .stdin_pipe = 1};
    if ((rc = dp_proc_spawn(&po, &p, err)))
        goto done;
    char *secret = dp_strdup(pw);
    if (pw && !secret) {
        rc = dp_err_set(err, DUMPER_ENOMEM, "out of memory");
        goto done;
    }
    tool_sink = dp_tool_sink_new(p, secret, optfile); /* owns p, secret and the option file */
    p = NULL;
    optfile = NULL;
    myrestore_sink *r = tool_sink ? calloc(1, sizeof *r) : NULL;
    if (!r) {
        rc = dp_err_set(err, DUMPER_ENOMEM, "out of memory");
        goto done;
    }
    dp_sink_init(&r->base, &myrestore_ops, tool_sink);
    tool_sink = NULL;
    r->objects_before = -1; /* no clean-up until it is ready */
    if (copy_conn_url(url, &r->url) < 0) {
        dp_sink_free(&r->base);
        rc = dp_err_set(err, DUMPER_ENOMEM, "out of memory");
        goto done;
    }
    r->password = pw;
    pw = NULL;
    r->reach = reach;
    reach = NULL;
    r->objects_before = objects;
    *out = &r->base;
done:
    dp_sink_free(tool_sink);
    dp_proc_free(p);
    dp_tool_unlink_secret_file(&optfile);
    if (res)
        mysql_free_result(res);
    mysql_close(m);
    connargs_free(&ca);
    free(tool);
    free(reach);
    dp_free_secret(pw);
    return rc;
}

const dp_source_driver dp_source_mysql = {
    .name = "mysql",
    .type = DP_DB_MYSQL,
    .features = DP_SOURCE_FEAT_BACKUP | DP_SOURCE_FEAT_RESTORE,
    .resolve_format = my_resolve_format,
    .check = my_check,
    .backup = my_backup,
    .restore = my_restore,
    .restore_formats = (const char *const[]){"sql", NULL},
};
