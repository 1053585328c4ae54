/*
 * main.c - the `dumper` command: backup, restore, verify, list.
 *
 * Every failure prints one line on stderr and exits with a documented code (see `dumper --help`
 * and docs/cli.md); the codes are libdumper's stable error codes.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "core/log.h"
#include "core/util.h"
#include "core/preinit.h"

static const char usage_text[] =
    "usage: dumper <command> [options]\n"
    "\n"
    "Commands:\n"
    "  backup <database-url> --to <dir|s3://bucket/prefix>   back up a database\n"
    "  restore <backup> <database-url>                      restore a backup (verifies it first)\n"
    "  verify <backup>                                      check a backup's integrity\n"
    "  list <dir|s3://bucket/prefix>                        list backups, newest first\n"
    "  keygen --out FILE                                    make an age identity for encrypted backups\n"
    "  drill <backup> [--scratch URL]                       restore into a throwaway target and compare\n"
    "                                                       with the manifest (restore drill)\n"
    "  agent --api URL --database URL                       run the agent in the foreground (app key\n"
    "                                                       in DUMPER_APP_KEY or --app-key-file)\n"
    "  version                                              print the version\n"
    "\n"
    "Database URLs:\n"
    "  sqlite:///abs/path.db  sqlite:rel/path.db  postgres://user@host:5432/db\n"
    "  mysql://user@host:3306/db  mariadb://...  redis://host:6379/0  mongodb://host:27017/db\n"
    "  Passwords: a password inside a URL argument is readable by every local user (ps,\n"
    "  /proc/PID/cmdline) until dumper overwrites it as it starts, and stays in shell history.\n"
    "  Give it with --password-file FILE or DUMPER_DB_PASSWORD instead (or PGPASSWORD, MYSQL_PWD,\n"
    "  REDISCLI_AUTH): those never reach a command line. dumper never logs a password.\n"
    "\n"
    "Run 'dumper <command> --help' for a command's options.\n"
    "\n"
    "Exit codes:\n"
    "   0 success                 9 backup corrupt or truncated\n"
    "   1 internal error         10 database or dump tool failed\n"
    "   2 invalid arguments      11 authentication failed\n"
    "   3 malformed URL          12 connection failed\n"
    "   4 not supported          13 storage error\n"
    "   5 not found              14 protocol error\n"
    "   6 target exists          15 backup too large\n"
    "   7 I/O error              16 busy\n"
    "   8 no space left          17 interrupted\n"
    "  18 out of memory          19 timed out\n"
    "  20 dump tool missing or incompatible\n"
    "  21 restore drill failed (restored data differs from the manifest, or a check is false)\n";

int cli_fail(const dp_err *err)
{
    fprintf(stderr, "dumper: %s\n", err->msg[0] ? err->msg : dumper_strerror(err->code));
    return err->code ? err->code : DUMPER_EINTERNAL;
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "dumper %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, " (see 'dumper %s --help')\n", cmd);
    va_end(ap);
    return DUMPER_EUSAGE;
}

int cli_read_secret_file(const char *cmd, const char *what, const char *path, char **out)
{
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        int e = errno;
        fprintf(stderr, "dumper %s: unable to read the %s file '%s': %s\n", cmd, what, path, strerror(e));
        return e == ENOENT ? DUMPER_ENOENT : DUMPER_EIO;
    }
    char buf[4098]; /* 4096 bytes, one more to tell a longer file, the NUL */
    ssize_t n = dp_read_full(fd, buf, sizeof buf - 1); /* also a pipe: --password-file /dev/stdin */
    int e = errno;
    close(fd);
    if (n > 4096) {
        dp_memzero(buf, sizeof buf);
        return cli_usage_error(cmd, "the %s file '%s' is longer than 4096 bytes", what, path);
    }
    if (n < 0) {
        fprintf(stderr, "dumper %s: unable to read the %s file '%s': %s\n", cmd, what, path, strerror(e));
        return DUMPER_EIO;
    }
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        n--;
    buf[n] = 0;
    int bad = n == 0 || memchr(buf, 0, (size_t)n) || memchr(buf, '\n', (size_t)n);
    if (!bad)
        *out = strdup(buf);
    dp_memzero(buf, sizeof buf);
    if (bad)
        return cli_usage_error(cmd, "the %s file '%s' must hold one non-empty line", what, path);
    if (!*out) {
        fprintf(stderr, "dumper %s: out of memory\n", cmd);
        return DUMPER_ENOMEM;
    }
    return 0;
}

static int progress_tty = -1;
static int64_t progress_start; /* when the command started: the rate is bytes over the whole run */

int cli_progress_enabled(void)
{
    if (progress_tty < 0)
        progress_tty = isatty(STDERR_FILENO);
    return progress_tty;
}

void cli_progress(void *ctx, uint64_t bytes, int done)
{
    if (!cli_progress_enabled())
        return;
    int64_t now = dp_mono_ms();
    double secs = (double)(now - progress_start) / 1000.0;
    char sz[32], rate[32];
    dp_human_size(bytes, sz, sizeof sz);
    dp_human_size(secs > 0.01 ? (uint64_t)((double)bytes / secs) : 0, rate, sizeof rate);
    fprintf(stderr, "\r\033[K  %s  %s/s", sz, rate);
    if (done)
        fprintf(stderr, "\r\033[K");
    fflush(stderr);
}

static void on_signal(int sig)
{
    (void)sig;
    dp_interrupted = 1;
}

static void install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; /* no SA_RESTART: blocking reads return EINTR and the loop sees the flag */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

/* Hide URL passwords from /proc/PID/cmdline: the commands get private copies of the arguments and
 * the originals (the memory that cmdline shows) are overwritten in place, as mysql does with -p.
 * Only the instant between exec and this call is exposed; passwords in the environment are better. */
static char **private_args(int argc, char **argv)
{
    static char **copy; /* lives until exit (reachable, so leak checkers stay quiet) */
    copy = calloc((size_t)argc + 1, sizeof *copy);
    if (!copy)
        return argv;
    for (int i = 0; i < argc; i++) {
        if (!(copy[i] = strdup(argv[i])))
            return argv;
    }
    for (int i = 1; i < argc; i++) {
        char *sep = strstr(argv[i], "://");
        if (sep) {
            char *auth = sep + 3, *at = NULL;
            size_t alen = strcspn(auth, "/?#");
            for (char *c = auth; c < auth + alen; c++)
                if (*c == '@')
                    at = c;
            char *colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
            if (colon)
                memset(colon + 1, '*', (size_t)(at - colon - 1));
        }
        for (char *q = strstr(argv[i], "password="); q; q = strstr(q + 9, "password=")) {
            size_t n = strcspn(q + 9, "&#");
            memset(q + 9, '*', n);
        }
    }
    return copy;
}

DP_PREINIT_ENVIRONMENT

int main(int argc, char **argv)
{
    argv = private_args(argc, argv);
    static const struct {
        const char *name;
        cli_cmd_fn fn;
    } cmds[] = {{"backup", cmd_backup}, {"restore", cmd_restore}, {"verify", cmd_verify}, {"list", cmd_list},
                 {"agent", cmd_agent}, {"job", cmd_job}, {"keygen", cmd_keygen}, {"drill", cmd_drill}};

    if (argc < 2) {
        fputs(usage_text, stderr);
        return DUMPER_EUSAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        fputs(usage_text, stdout);
        return 0;
    }
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
        printf("dumper %s\n", dumper_version());
        return 0;
    }
    if (getenv("DUMPER_DEBUG"))
        dp_log_set_level(DP_LOG_DEBUG);
    else
        dp_log_set_level(DP_LOG_WARN);
    install_signals();
    progress_start = dp_mono_ms();
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        if (strcmp(cmds[i].name, cmd) == 0)
            return cmds[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "dumper: unknown command '%s' (see 'dumper --help')\n", cmd);
    return DUMPER_EUSAGE;
}
