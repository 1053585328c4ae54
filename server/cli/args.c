/* args.c - dumperd's options (see cli.h). */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "config/conffile.h"
#include "core/util.h"

const char sd_cli_usage[] =
    "usage: dumperd <command> [options]\n"
    "\n"
    "  serve [--config FILE] [--listen HOST:PORT] [--primary-interval S] [--secondary-interval S] [--lease S]\n"
    "        [--job-lease S] [--threads N] [--tls-cert F --tls-key F] [--max-filesize BYTES]\n"
    "        [--max-part-size BYTES] [--test-clock EPOCH] [--web DIR] [--session-ttl S]\n"
    "        [--metrics-token-file F] [--alert-webhook URL] [--stale-after HOURS] [--alert-check S]\n"
    "        [--max-connections N] [--max-connections-per-address N] [--header-timeout S]\n"
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
    "  app set NAME --drill-max-age HOURS|off\n"
    "                             alert when a database has had no passed restore drill for longer\n"
    "  schedule set APP [--env ENV] [--database KEY] --cron EXPR [--tz ZONE]\n"
    "  schedules APP [--json]     schedules and their next slots\n"
    "  retention set APP [--keep-last N] [--daily N] [--weekly N] [--monthly N]\n"
    "  backup now APP [--env ENV] [--database KEY]\n"
    "  drill set APP [--env ENV] [--database KEY] (--after-each-backup | --cron EXPR [--tz ZONE])\n"
    "                             restore drills of the latest good backup, run by the primary agent\n"
    "  drill list APP [--json] | drill remove APP [--env ENV] [--database KEY]\n"
    "  backups APP [--json]\n"
    "  agents APP [--json]\n"
    "  drill-record APP BACKUP [FILE|-] [--json]\n"
    "                             record a `dumper drill --json` result (run by hand) as the backup's\n"
    "                             restore drill evidence (docs/drills.md)\n"
    "  notify add NAME --kind slack|email|ntfy|webhook --url URL [--to ADDR[,ADDR]] [--app APP]\n"
    "        [--on failure,stale,size,drill,storage]   a notification channel (a webhook's signing\n"
    "                             secret is printed once)\n"
    "  notify list [--json] | notify remove NAME | notify test NAME\n"
    "  backup-state OUT           a consistent copy of the SQLite state store (also while serve runs)\n"
    "  storage add NAME LOCATION [--endpoint URL] [--region R] [--path-style|--virtual-host]\n"
    "        [--credentials-file F] [--keep-last N] [--daily N] [--weekly N] [--monthly N]\n"
    "        [--object-lock-mode governance|compliance --object-lock-days N]\n"
    "                             another destination (a directory or s3://bucket/prefix) that every\n"
    "                             good backup is copied to\n"
    "  storage list [--json]\n"
    "  storage remove NAME        forget a destination (its copies stay where they are)\n"
    "  storage sync NAME          copy the good backups it lacks (within its retention) into it\n"
    "  copies APP [--json]        the copies of an app's backups and their states\n"
    "  token create NAME --scope read|write|admin [--app APP] [--expires DAYS]\n"
    "                             an API token for the REST API (printed once; docs/api.md)\n"
    "  token list [--json]\n"
    "  token revoke NAME\n"
    "\n"
    "Every command takes --data DIR (default ./var, or $DUMPERD_DATA), --store sqlite:PATH|postgres://...\n"
    "(default sqlite:DIR/dumperd.db, or $DUMPERD_STORE) and --storage DIR (default DIR/backups), and\n"
    "--config FILE: 'key = value' lines, one per long option (flags given override it).\n"
    "A --store URL on the command line must not hold a password (every local user can read it): give it\n"
    "with --store-password-file FILE (one line), PGPASSWORD, ~/.pgpass, or the whole URL in $DUMPERD_STORE.\n"
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

/* A secret: the file's first line (at most 511 bytes), its line end dropped; at least min characters. */
static char *read_secret_line(const char *path, size_t min, const char *what)
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
    if (p && strlen(p) < min) {
        fprintf(stderr, "dumperd: the %s in '%s' must have at least %zu character(s)\n", what, path, min);
        dp_free_secret(p);
        return NULL;
    }
    return p;
}

/* Every option of every command, and what its value becomes. */
enum okind { K_STR, K_FLAG, K_SECS, K_MS, K_I64, K_INT, K_RET, K_CLOCK, K_TOKEN, K_STOREPW, K_HELP, K_CONF, K_SECRET, K_RECIPIENT };
typedef struct optdef {
    const char *name;
    enum okind kind;
    void *to;
    int64_t lo, hi;   /* K_I64, K_INT, K_RET, K_CLOCK */
    const char *hint; /* after "invalid --name 'value'" */
    int in_file;      /* may be a key of the configuration file (paths and serve options) */
} optdef;

/* One option's value into its target: 0, 1 after --help, or a usage error. where: "" for the command line,
 * else "config file 'F' line N: ". */
static int set_opt(const optdef *d, const char *v, sd_cli *a, sd_config *cfg, const char *where)
{
    double s;
    int64_t n;
    switch (d->kind) {
    case K_STR:
        *(const char **)d->to = v;
        a->store_argv |= d->to == &a->store && !*where; /* a file is not the process list */
        return 0;
    case K_FLAG: *(int *)d->to = 1; return 0;
    case K_CONF: return 0; /* applied before the flags */
    case K_SECRET:
        dp_free_secret(*(char **)d->to);
        if (!(*(char **)d->to = read_secret_line(v, 1, "password")))
            return sd_cli_usage_error("%sunable to read a password from '%s'", where, v);
        return 0;
    case K_RECIPIENT:
        if (a->nrecipients == SD_MAX_RECIPIENTS)
            return sd_cli_usage_error("too many --recipient (at most %d)", SD_MAX_RECIPIENTS);
        a->recipients[a->nrecipients++] = v;
        return 0;
    case K_HELP: fputs(sd_cli_usage, stdout); return 1;
    case K_TOKEN:
        dp_free_secret(cfg->metrics_token);
        if (!(cfg->metrics_token = read_secret_line(v, 16, "metrics token")))
            return sd_cli_usage_error("%sunable to read a metrics token from '%s'", where, v);
        return 0;
    case K_STOREPW:
        dp_free_secret(cfg->store_password);
        if (!(cfg->store_password = read_secret_line(v, 1, "store password")))
            return sd_cli_usage_error("%sunable to read the store password from '%s'", where, v);
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
            return sd_cli_usage_error("%sinvalid retention count '%s'", where, v);
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
    return sd_cli_usage_error("%sinvalid --%s '%s'%s", where, d->name, v, d->hint ? d->hint : "");
}

/* --config FILE (or --config=FILE) anywhere after the command, or NULL. */
static const char *config_arg(int argc, char **argv)
{
    const char *f = NULL;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--"))
            break;
        if (!strcmp(argv[i], "--config") && i + 1 < argc)
            f = argv[++i];
        else if (!strncmp(argv[i], "--config=", 9))
            f = argv[i] + 9;
    }
    return f;
}

/* The configuration file's entries through the flags' table; its text stays in cfg (values point into it). */
static int apply_file(const char *path, const optdef *defs, int ndefs, sd_cli *a, sd_config *cfg)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return sd_cli_usage_error("unable to read config file '%s': %s", path, strerror(errno));
    char *text = malloc(SD_CONF_MAX_BYTES + 2);
    size_t len = text ? fread(text, 1, SD_CONF_MAX_BYTES + 1, f) : 0;
    int rerr = ferror(f);
    fclose(f);
    if (!text || rerr) {
        free(text);
        return sd_cli_usage_error("unable to read config file '%s'", path);
    }
    sd_config_free_text(cfg);
    cfg->conf_text = text;
    cfg->conf_size = SD_CONF_MAX_BYTES + 2;
    static sd_conf c; /* 1.5 KiB; one parse per process */
    char why[160], where[400];
    if (sd_conf_parse(text, len, &c, why, sizeof why))
        return sd_cli_usage_error("config file '%s': %s", path, why);
    for (int i = 0; i < c.n; i++) {
        const optdef *d = NULL;
        for (int k = 0; k < ndefs && !d; k++)
            if (defs[k].in_file && !strcmp(defs[k].name, c.v[i].key))
                d = &defs[k];
        if (!d)
            return sd_cli_usage_error("config file '%s': line %d: unknown key '%s'", path, c.v[i].line, c.v[i].key);
        snprintf(where, sizeof where, "config file '%s': line %d: ", path, c.v[i].line);
        int rc = set_opt(d, c.v[i].value, a, cfg, where);
        if (rc)
            return rc;
    }
    return 0;
}

int sd_cli_parse(int argc, char **argv, sd_cli *a, sd_config *cfg)
{
    const optdef defs[] = {
        {"data", K_STR, &a->data, 0, 0, NULL, 1},
        {"store", K_STR, &a->store, 0, 0, NULL, 1},
        {"storage", K_STR, &a->storage, 0, 0, NULL, 1},
        {"listen", K_STR, &cfg->listen, 0, 0, NULL, 1},
        {"primary-interval", K_SECS, &cfg->primary_interval, 0, 0, NULL, 1},
        {"secondary-interval", K_SECS, &cfg->secondary_interval, 0, 0, NULL, 1},
        {"lease", K_MS, &cfg->lease_ms, 0, 0, NULL, 1},
        {"job-lease", K_MS, &cfg->job_lease_ms, 0, 0, NULL, 1},
        {"threads", K_INT, &cfg->threads, 1, 64, NULL, 1},
        {"tls-cert", K_STR, &cfg->tls_cert, 0, 0, NULL, 1},
        {"tls-key", K_STR, &cfg->tls_key, 0, 0, NULL, 1},
        {"max-filesize", K_I64, &cfg->max_filesize, 1, INT64_C(1) << 50, NULL, 1},
        {"max-part-size", K_I64, &cfg->max_part_size, 1, INT64_C(1) << 32, NULL, 1},
        {"test-clock", K_CLOCK, NULL, 0, INT64_C(1) << 36, " (seconds since the epoch)", 1},
        {"json", K_FLAG, &a->json, 0, 0, NULL, 0},
        {"delete-backups", K_FLAG, &a->delete_backups, 0, 0, NULL, 0},
        {"env", K_STR, &a->env, 0, 0, NULL, 0},
        {"database", K_STR, &a->dbkey, 0, 0, NULL, 0},
        {"cron", K_STR, &a->cron, 0, 0, NULL, 0},
        {"tz", K_STR, &a->tz, 0, 0, NULL, 0},
        {"keep-last", K_RET, &a->ret.keep_last, 0, 100000, NULL, 0},
        {"daily", K_RET, &a->ret.daily, 0, 100000, NULL, 0},
        {"weekly", K_RET, &a->ret.weekly, 0, 100000, NULL, 0},
        {"monthly", K_RET, &a->ret.monthly, 0, 100000, NULL, 0},
        {"help", K_HELP, NULL, 0, 0, NULL, 0},
        {"web", K_STR, &cfg->web_dir, 0, 0, NULL, 1},
        {"session-ttl", K_MS, &cfg->session_ttl_ms, 0, 0, NULL, 1},
        {"metrics-token-file", K_TOKEN, NULL, 0, 0, NULL, 1},
        {"alert-webhook", K_STR, &cfg->alert_webhook, 0, 0, NULL, 1},
        {"stale-after", K_SECS, &cfg->stale_after_h, 0, 0, " (hours)", 1},
        {"alert-check", K_SECS, &cfg->alert_check_s, 0, 0, NULL, 1},
        {"config", K_CONF, NULL, 0, 0, NULL, 0},
        {"public-url", K_STR, &cfg->public_url, 0, 0, NULL, 1},
        {"notify-attempts", K_INT, &cfg->notify_attempts, 1, 100, NULL, 1},
        {"smtp-from", K_STR, &cfg->smtp_from, 0, 0, NULL, 1},
        {"smtp-password-file", K_SECRET, &cfg->smtp_password, 0, 0, NULL, 1},
        {"notify-ca-file", K_STR, &cfg->notify_ca_file, 0, 0, NULL, 1},
        {"kind", K_STR, &a->kind, 0, 0, NULL, 0},
        {"url", K_STR, &a->url, 0, 0, NULL, 0},
        {"to", K_STR, &a->to, 0, 0, NULL, 0},
        {"app", K_STR, &a->app, 0, 0, NULL, 0},
        {"on", K_STR, &a->on, 0, 0, NULL, 0},
        {"endpoint", K_STR, &a->endpoint, 0, 0, NULL, 0},
        {"region", K_STR, &a->region, 0, 0, NULL, 0},
        {"credentials-file", K_STR, &a->credentials_file, 0, 0, NULL, 0},
        {"path-style", K_FLAG, &a->path_style, 0, 0, NULL, 0},
        {"virtual-host", K_FLAG, &a->virtual_host, 0, 0, NULL, 0},
        {"object-lock-mode", K_STR, &a->lock_mode, 0, 0, NULL, 0},
        {"object-lock-days", K_I64, &a->lock_days, 1, 36500, NULL, 0},
        {"max-connections", K_INT, &cfg->max_conns, 1, 1000000, NULL, 1},
        {"max-connections-per-address", K_INT, &cfg->max_conns_per_addr, 1, 1000000, NULL, 1},
        {"header-timeout", K_MS, &cfg->header_timeout_ms, 0, 0, NULL, 1},
        {"store-password-file", K_STOREPW, NULL, 0, 0, NULL, 1},
        {"scope", K_STR, &a->scope, 0, 0, NULL, 0},
        {"expires", K_I64, &a->expires_days, 0, 3650, " (days, 0 to 3650)", 0},
        {"recipient", K_RECIPIENT, NULL, 0, 0, NULL, 0},
        {"no-recipients", K_FLAG, &a->no_recipients, 0, 0, NULL, 0},
        {"nice", K_STR, &a->nice, 0, 0, NULL, 0},
        {"ionice", K_STR, &a->ionice, 0, 0, NULL, 0},
        {"limit-rate", K_STR, &a->limit_rate, 0, 0, NULL, 0},
        {"after-each-backup", K_FLAG, &a->after_each_backup, 0, 0, NULL, 0},
        {"drill-max-age", K_STR, &a->drill_max_age, 0, 0, NULL, 0},
    };
    enum { NOPTS = sizeof defs / sizeof *defs };
    struct option lo[NOPTS + 1];
    memset(lo, 0, sizeof lo);
    for (int i = 0; i < NOPTS; i++)
        lo[i] = (struct option){defs[i].name,
                                defs[i].kind == K_FLAG || defs[i].kind == K_HELP ? no_argument : required_argument,
                                NULL, 1000 + i};
    const char *conf = config_arg(argc, argv);
    int c, rc;
    if (conf && (rc = apply_file(conf, defs, NOPTS, a, cfg)))
        return rc;
    optind = 2;
    while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        if (c < 1000 || c >= 1000 + NOPTS)
            return sd_cli_usage_error("%s", "unknown option");
        if ((rc = set_opt(&defs[c - 1000], optarg, a, cfg, "")))
            return defs[c - 1000].kind == K_HELP ? -1 : rc;
    }
    for (int i = optind; i < argc; i++) {
        if (a->npos == 4)
            return sd_cli_usage_error("too many arguments ('%s')", argv[i]);
        a->pos[a->npos++] = argv[i];
    }
    return 0;
}
