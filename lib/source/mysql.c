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
    char *pw = dp_tool_password(url, password_env), *tool = NULL, *optfile = NULL;
    MYSQL *m = NULL;
    MYSQL_RES *res = NULL;
    dp_proc *p = NULL;
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
    mysql_close(m);
    m = NULL;
    if ((rc = find_tool(tools, &tool, err)) || (rc = write_option_file(pw, &optfile, err)))
        goto done;
    const char *argv[16];
    size_t k = 0;
    argv[k++] = strrchr(tool, '/') ? strrchr(tool, '/') + 1 : tool;
    if ((rc = connargs_build(url, optfile, &ca, argv, &k, err)))
        goto done;
    argv[k++] = "--batch";
    argv[k++] = "--database";
    argv[k++] = url->dbname;
    argv[k] = NULL;
    dp_proc_opts po = {.path = tool, .argv = argv, .stdin_pipe = 1};
    if ((rc = dp_proc_spawn(&po, &p, err)))
        goto done;
    if (!(*out = dp_tool_sink_new(p, pw, optfile)))
        rc = dp_err_set(err, DUMPER_ENOMEM, "out of memory");
    p = NULL;
    pw = NULL;
    optfile = NULL;
done:
    dp_proc_free(p);
    dp_tool_unlink_secret_file(&optfile);
    if (res)
        mysql_free_result(res);
    mysql_close(m);
    connargs_free(&ca);
    free(tool);
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
