/* drill.c - `dumper drill`: restore a backup into a throwaway target and prove it holds what its
 * manifest says (lib/job/drill.h). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "core/util.h"
#include "job/drill.h"

#define CHECK_MAX (64 * 1024)

static const char drill_help[] =
    "usage: dumper drill <backup> [--scratch URL] [--identity FILE] [--check FILE.sql ...] [--json]\n"
    "                    [--sha256 HEX] [--password-file FILE]\n"
    "\n"
    "Restores the backup into a throwaway target through the same safe path as 'dumper restore'\n"
    "(checksum verified while restoring; nothing the backup carries runs as a command), counts\n"
    "what the target holds, compares it with the manifest (tables, row counts, schema\n"
    "fingerprint, newest schema migration; Redis keys per database; MongoDB documents per\n"
    "collection), runs the checks, drops the target and reports passed or failed with the figures.\n"
    "The source database is never touched.\n"
    "\n"
    "Throwaway targets: SQLite a file in a new temporary directory ($TMPDIR, else /tmp); Redis a\n"
    "redis-server loading the RDB on a unix socket in such a directory; PostgreSQL, MySQL/MariaDB\n"
    "and MongoDB a database named dumper_drill_<host>_<pid>_<time> created on the --scratch\n"
    "server and dropped afterwards, also after a failure, SIGINT or SIGTERM. What a drill killed\n"
    "with SIGKILL left is dropped by the next drill.\n"
    "\n"
    "  -S, --scratch URL     a server where the drill may create and drop a database (the URL's\n"
    "                        database is the one it connects to for that), e.g.\n"
    "                        postgres://drill@db-scratch:5432/postgres, mongodb://db-scratch/admin\n"
    "  -c, --check FILE      one SQL query returning a boolean, run against the restored data,\n"
    "                        e.g. select count(*) > 0 from users (repeatable; at most 64)\n"
    "  -i, --identity FILE   an age identity file for an encrypted backup (default: DUMPER_IDENTITY)\n"
    "  -s, --sha256 HEX      the expected SHA-256 of the backup (checked against the manifest)\n"
    "      --password-file F the scratch server's password (one line), when the URL has none\n"
    "  -j, --json            print the result as one JSON object on stdout\n"
    "  -h, --help            this help\n"
    "\n"
    "Exit codes: 0 passed; 21 failed (the restored data differs from the manifest, or a check\n"
    "was false or returned no boolean); any other code: the drill could not run or the restore\n"
    "failed (the codes of 'dumper --help', e.g. 9 corrupt backup, 12 scratch server unreachable).\n";

/* A check file: one query, at most CHECK_MAX bytes. 0 or the exit code (printed). */
static int read_check(const char *path, char **out)
{
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        int e = errno;
        fprintf(stderr, "dumper drill: unable to read the check file '%s': %s\n", path, strerror(e));
        return e == ENOENT ? DUMPER_ENOENT : DUMPER_EIO;
    }
    char *buf = malloc(CHECK_MAX + 2);
    ssize_t n = buf ? dp_read_full(fd, buf, CHECK_MAX + 1) : -1;
    close(fd);
    if (n < 0 || n > CHECK_MAX || (n >= 0 && memchr(buf, 0, (size_t)n))) {
        free(buf);
        if (n > CHECK_MAX)
            return cli_usage_error("drill", "the check file '%s' is longer than %d bytes", path, CHECK_MAX);
        if (n >= 0)
            return cli_usage_error("drill", "the check file '%s' holds a NUL byte", path);
        fprintf(stderr, "dumper drill: unable to read the check file '%s'\n", path);
        return DUMPER_EIO;
    }
    buf[n] = 0;
    *out = buf;
    return 0;
}

static void print_json(const char *backup, const dp_drill_result *r, const dp_err *err)
{
    char *s = dp_drill_result_json(backup, r, err);
    if (s)
        puts(s);
    free(s);
}

static void print_text(const char *backup, const dp_drill_result *r)
{
    uint64_t rows = 0;
    for (size_t i = 0; i < r->found.ntables; i++)
        rows += r->found.tables[i].rows;
    printf("drill %s: %s\n", r->passed ? "passed" : "FAILED", backup);
    printf("  restored into %s in %.1f s (drill %.1f s, backup took %.1f s)\n", r->target,
           (double)r->restore_ms / 1000.0, (double)r->total_ms / 1000.0, (double)r->m.duration_ms / 1000.0);
    int redis = dp_streq(r->m.source_type, "redis");
    printf("  %zu %s, %llu %s%s\n", r->found.ntables, redis ? "databases" : "tables", (unsigned long long)rows,
           redis ? "keys" : "rows",
           r->compared ? ", compared with the manifest" : " (the manifest records no contents: restore only)");
    if (r->m.contents.migration)
        printf("  newest schema migration %s\n", r->m.contents.migration);
    for (size_t i = 0; i < r->nmismatches; i++)
        printf("  mismatch: %s\n", r->mismatches[i]);
    for (size_t i = 0; i < r->nchecks; i++)
        printf("  check %s: %s (%s)\n", r->checks[i].name, r->checks[i].ok ? "true" : "FAILED", r->checks[i].detail);
}

int cmd_drill(int argc, char **argv)
{
    static const struct option opts[] = {{"scratch", required_argument, 0, 'S'},
                                         {"check", required_argument, 0, 'c'},
                                         {"identity", required_argument, 0, 'i'},
                                         {"sha256", required_argument, 0, 's'},
                                         {"password-file", required_argument, 0, 'W'},
                                         {"json", no_argument, 0, 'j'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *idarg[argc], *checks[argc], *pwfile = NULL;
    dp_drill_req req = {0};
    int c, ni = 0, nc = 0, json = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":S:c:i:s:jh", opts, NULL)) != -1) {
        switch (c) {
        case 'S': req.scratch = optarg; break;
        case 'c': checks[nc++] = optarg; break;
        case 'i': idarg[ni++] = optarg; break;
        case 's':
            if (cli_sha256_opt("drill", optarg, &req.sha256))
                return DUMPER_EUSAGE;
            break;
        case 'W': pwfile = optarg; break;
        case 'j': json = 1; break;
        case 'h': fputs(drill_help, stdout); return 0;
        case ':': return cli_usage_error("drill", "option '%s' needs a value", argv[optind - 1]);
        default: return cli_usage_error("drill", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (argc - optind != 1)
        return cli_usage_error("drill", "expected <backup>");
    if (nc > DP_DRILL_MAX_CHECKS)
        return cli_usage_error("drill", "at most %d checks", DP_DRILL_MAX_CHECKS);
    const char *backup = argv[optind];
    char *sql[DP_DRILL_MAX_CHECKS] = {0}, *pw = NULL;
    cli_keys keys = {0};
    int rc = 0;
    for (int i = 0; i < nc && !rc; i++)
        rc = read_check(checks[i], &sql[i]);
    if (!rc)
        rc = cli_load_identities(&keys, idarg, ni);
    if (!rc && pwfile)
        rc = cli_read_secret_file("drill", "password", pwfile, &pw);
    if (rc) {
        for (int i = 0; i < nc; i++)
            free(sql[i]);
        cli_keys_free(&keys);
        return rc;
    }
    req.scratch_password = pw;
    req.identities = keys.identities;
    req.nidentities = keys.nidentities;
    req.check_names = checks;
    req.check_sql = (const char *const *)sql;
    req.nchecks = (size_t)nc;
    dp_err err = {0};
    dp_storage *st = NULL;
    char *key = NULL;
    dp_drill_result res;
    memset(&res, 0, sizeof res);
    rc = cli_open_backup(backup, &st, &key, &err);
    if (!rc)
        rc = dp_drill_run(st, key, &req, &res, &err);
    if (json)
        print_json(backup, &res, rc ? &err : NULL);
    else if (!rc)
        print_text(backup, &res);
    int exit_code = rc ? cli_fail(&err) : res.passed ? 0 : DUMPER_EDRILL;
    dp_drill_result_free(&res);
    dp_storage_close(st);
    free(key);
    for (int i = 0; i < nc; i++)
        free(sql[i]);
    dp_free_secret(pw);
    cli_keys_free(&keys);
    return exit_code;
}
