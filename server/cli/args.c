/* args.c - dumperd's options (see cli.h). */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "core/util.h"

const char sd_cli_usage[] =
    "usage: dumperd <command> [options]\n"
    "\n"
    "  serve [--listen HOST:PORT] [--primary-interval S] [--secondary-interval S] [--lease S]\n"
    "        [--job-lease S] [--threads N] [--tls-cert F --tls-key F] [--max-filesize BYTES]\n"
    "        [--max-part-size BYTES] [--test-clock EPOCH] [--web DIR] [--session-ttl S]\n"
    "        [--metrics-token-file F] [--alert-webhook URL] [--stale-after HOURS] [--alert-check S]\n"
    "  user create NAME           create a dashboard user (password from stdin or a prompt)\n"
    "  user passwd NAME           set a user's password (ends the user's sessions)\n"
    "  user delete NAME\n"
    "  user list\n"
    "  app create NAME            create an app and print its key (shown once)\n"
    "  app rotate-key NAME        give an app a new key (shown once); the old key stops working\n"
    "  app delete NAME [--delete-backups]\n"
    "                             delete an app; refused (exit 6) while it has backups, unless\n"
    "                             --delete-backups, which also removes them from storage\n"
    "  app list [--json]\n"
    "  app set NAME [--recipient age1... ...] [--no-recipients] [--nice N|unset]\n"
    "        [--ionice idle|best-effort[:N]|none|unset] [--limit-rate RATE|unset] [--json]\n"
    "                             the app's job policy: backups encrypted to these age public keys;\n"
    "                             the job's priority and write rate (unset: the agent decides)\n"
    "  schedule set APP [--env ENV] [--database KEY] --cron EXPR [--tz ZONE]\n"
    "  schedules APP [--json]     schedules and their next slots\n"
    "  retention set APP [--keep-last N] [--daily N] [--weekly N] [--monthly N]\n"
    "  backup now APP [--env ENV] [--database KEY]\n"
    "  backups APP [--json]\n"
    "  agents APP [--json]\n"
    "\n"
    "Every command takes --data DIR (default ./var, or $DUMPERD_DATA), --store sqlite:PATH|postgres://...\n"
    "(default sqlite:DIR/dumperd.db, or $DUMPERD_STORE) and --storage DIR (default DIR/backups).\n"
    "The default listen address is 127.0.0.1:8477. See docs/dumperd.md.\n";

int sd_cli_usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "dumperd: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, " (dumperd --help)\n");
    va_end(ap);
    return DUMPER_EUSAGE;
}

int sd_cli_mkdir_p(const char *path)
{
    char *p = dp_strdup(path);
    if (!p)
        return -1;
    for (char *c = p + 1; *c; c++)
        if (*c == '/') {
            *c = 0;
            if (mkdir(p, 0700) < 0 && errno != EEXIST) {
                free(p);
                return -1;
            }
            *c = '/';
        }
    int r = mkdir(p, 0700) < 0 && errno != EEXIST ? -1 : 0;
    free(p);
    return r;
}

static int parse_secs(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *end || v <= 0 || v > 86400 * 30)
        return -1;
    *out = v;
    return 0;
}

static int parse_i64(const char *s, int64_t *out, int64_t lo, int64_t hi)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end || end == s || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

/* The metrics token: the file's first line, at least 16 characters. */
static char *read_token_file(const char *path)
{
    FILE *f = fopen(path, "r");
    char buf[512];
    if (!f)
        return NULL;
    char *p = NULL;
    if (fgets(buf, sizeof buf, f)) {
        buf[strcspn(buf, "\r\n")] = 0;
        p = dp_strdup(buf);
    }
    fclose(f);
    dp_memzero(buf, sizeof buf);
    if (p && strlen(p) < 16) {
        fprintf(stderr, "dumperd: the metrics token must have at least 16 characters\n");
        dp_free_secret(p);
        return NULL;
    }
    return p;
}

/* Every option of every command, and what its value becomes. */
enum okind { K_STR, K_FLAG, K_SECS, K_MS, K_I64, K_INT, K_RET, K_CLOCK, K_TOKEN, K_HELP, K_RECIPIENT };
typedef struct optdef {
    const char *name;
    enum okind kind;
    void *to;
    int64_t lo, hi;   /* K_I64, K_INT, K_RET, K_CLOCK */
    const char *hint; /* after "invalid --name 'value'" */
} optdef;

/* One option's value into its target: 0, 1 after --help, or a usage error. */
static int set_opt(const optdef *d, const char *v, sd_cli *a, sd_config *cfg)
{
    double s;
    int64_t n;
    switch (d->kind) {
    case K_STR:
        *(const char **)d->to = v;
        a->store_argv |= d->to == &a->store;
        return 0;
    case K_FLAG: *(int *)d->to = 1; return 0;
    case K_RECIPIENT:
        if (a->nrecipients == SD_MAX_RECIPIENTS)
            return sd_cli_usage_error("too many --recipient (at most %d)", SD_MAX_RECIPIENTS);
        a->recipients[a->nrecipients++] = v;
        return 0;
    case K_HELP: fputs(sd_cli_usage, stdout); return 1;
    case K_TOKEN:
        dp_free_secret(cfg->metrics_token);
        if (!(cfg->metrics_token = read_token_file(v)))
            return sd_cli_usage_error("unable to read a metrics token from '%s'", v);
        return 0;
    case K_SECS:
    case K_MS:
        if (parse_secs(v, &s))
            break;
        if (d->kind == K_SECS)
            *(double *)d->to = s;
        else
            *(int64_t *)d->to = (int64_t)(s * 1000);
        return 0;
    case K_RET:
        if (parse_i64(v, &n, d->lo, d->hi))
            return sd_cli_usage_error("invalid retention count '%s'", v);
        *(int64_t *)d->to = n;
        return 0;
    default: /* K_I64, K_INT, K_CLOCK */
        if (parse_i64(v, &n, d->lo, d->hi))
            break;
        if (d->kind == K_INT)
            *(int *)d->to = (int)n;
        else if (d->kind == K_I64)
            *(int64_t *)d->to = n;
        else {
            cfg->test_clock = 1;
            cfg->test_clock_ms = n * 1000;
        }
        return 0;
    }
    return sd_cli_usage_error("invalid --%s '%s'%s", d->name, v, d->hint ? d->hint : "");
}

int sd_cli_parse(int argc, char **argv, sd_cli *a, sd_config *cfg)
{
    const optdef defs[] = {
        {"data", K_STR, &a->data, 0, 0, NULL},
        {"store", K_STR, &a->store, 0, 0, NULL},
        {"storage", K_STR, &a->storage, 0, 0, NULL},
        {"listen", K_STR, &cfg->listen, 0, 0, NULL},
        {"primary-interval", K_SECS, &cfg->primary_interval, 0, 0, NULL},
        {"secondary-interval", K_SECS, &cfg->secondary_interval, 0, 0, NULL},
        {"lease", K_MS, &cfg->lease_ms, 0, 0, NULL},
        {"job-lease", K_MS, &cfg->job_lease_ms, 0, 0, NULL},
        {"threads", K_INT, &cfg->threads, 1, 64, NULL},
        {"tls-cert", K_STR, &cfg->tls_cert, 0, 0, NULL},
        {"tls-key", K_STR, &cfg->tls_key, 0, 0, NULL},
        {"max-filesize", K_I64, &cfg->max_filesize, 1, INT64_C(1) << 50, NULL},
        {"max-part-size", K_I64, &cfg->max_part_size, 1, INT64_C(1) << 32, NULL},
        {"test-clock", K_CLOCK, NULL, 0, INT64_C(1) << 36, " (seconds since the epoch)"},
        {"json", K_FLAG, &a->json, 0, 0, NULL},
        {"delete-backups", K_FLAG, &a->delete_backups, 0, 0, NULL},
        {"env", K_STR, &a->env, 0, 0, NULL},
        {"database", K_STR, &a->dbkey, 0, 0, NULL},
        {"cron", K_STR, &a->cron, 0, 0, NULL},
        {"tz", K_STR, &a->tz, 0, 0, NULL},
        {"keep-last", K_RET, &a->ret.keep_last, 0, 100000, NULL},
        {"daily", K_RET, &a->ret.daily, 0, 100000, NULL},
        {"weekly", K_RET, &a->ret.weekly, 0, 100000, NULL},
        {"monthly", K_RET, &a->ret.monthly, 0, 100000, NULL},
        {"help", K_HELP, NULL, 0, 0, NULL},
        {"recipient", K_RECIPIENT, NULL, 0, 0, NULL},
        {"no-recipients", K_FLAG, &a->no_recipients, 0, 0, NULL},
        {"nice", K_STR, &a->nice, 0, 0, NULL},
        {"ionice", K_STR, &a->ionice, 0, 0, NULL},
        {"limit-rate", K_STR, &a->limit_rate, 0, 0, NULL},
        {"web", K_STR, &cfg->web_dir, 0, 0, NULL},
        {"session-ttl", K_MS, &cfg->session_ttl_ms, 0, 0, NULL},
        {"metrics-token-file", K_TOKEN, NULL, 0, 0, NULL},
        {"alert-webhook", K_STR, &cfg->alert_webhook, 0, 0, NULL},
        {"stale-after", K_SECS, &cfg->stale_after_h, 0, 0, " (hours)"},
        {"alert-check", K_SECS, &cfg->alert_check_s, 0, 0, NULL},
    };
    enum { NOPTS = sizeof defs / sizeof *defs };
    struct option lo[NOPTS + 1];
    memset(lo, 0, sizeof lo);
    for (int i = 0; i < NOPTS; i++)
        lo[i] = (struct option){defs[i].name,
                                defs[i].kind == K_FLAG || defs[i].kind == K_HELP ? no_argument : required_argument,
                                NULL, 1000 + i};
    optind = 2;
    int c, rc;
    while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        if (c < 1000 || c >= 1000 + NOPTS)
            return sd_cli_usage_error("%s", "unknown option");
        if ((rc = set_opt(&defs[c - 1000], optarg, a, cfg)))
            return defs[c - 1000].kind == K_HELP ? -1 : rc;
    }
    for (int i = optind; i < argc; i++) {
        if (a->npos == 4)
            return sd_cli_usage_error("too many arguments ('%s')", argv[i]);
        a->pos[a->npos++] = argv[i];
    }
    return 0;
}
