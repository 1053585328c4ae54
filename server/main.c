/*
 * main.c - the dumperd command: `serve` runs the control plane; the other commands administer the
 * same state store (apps, schedules, retention, manual backups, catalog, agents).
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/util.h"
#include "domain/secrets.h"
#include "http.h"
#include "site.h"
#include "storage/storage.h"
#include "store.h"
#include "store/schema.h"
#include "core/preinit.h"

static volatile sig_atomic_t stop_flag;
static void on_signal(int sig) { stop_flag = sig; }

static const char usage[] =
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

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "dumperd: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, " (dumperd --help)\n");
    va_end(ap);
    return DUMPER_EUSAGE;
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

typedef struct {
    const char *data, *store, *storage, *env, *dbkey, *cron, *tz;
    int json, store_argv, delete_backups;
    int64_t ret[4];
    int ret_set;
    char *pos[4];
    int npos;
} args;

static args A;
static sd_config C; /* filled by the options, then handed down explicitly */

/* Every option of every command, and what its value becomes. */
enum okind { K_STR, K_FLAG, K_SECS, K_MS, K_I64, K_INT, K_RET, K_CLOCK, K_TOKEN, K_HELP };
static const struct optdef {
    const char *name;
    enum okind kind;
    void *to;
    int64_t lo, hi;   /* K_I64, K_INT */
    const char *hint; /* after "invalid --name 'value'" */
} optdefs[] = {
    {"data", K_STR, &A.data, 0, 0, NULL},
    {"store", K_STR, &A.store, 0, 0, NULL},
    {"storage", K_STR, &A.storage, 0, 0, NULL},
    {"listen", K_STR, &C.listen, 0, 0, NULL},
    {"primary-interval", K_SECS, &C.primary_interval, 0, 0, NULL},
    {"secondary-interval", K_SECS, &C.secondary_interval, 0, 0, NULL},
    {"lease", K_MS, &C.lease_ms, 0, 0, NULL},
    {"job-lease", K_MS, &C.job_lease_ms, 0, 0, NULL},
    {"threads", K_INT, &C.threads, 1, 64, NULL},
    {"tls-cert", K_STR, &C.tls_cert, 0, 0, NULL},
    {"tls-key", K_STR, &C.tls_key, 0, 0, NULL},
    {"max-filesize", K_I64, &C.max_filesize, 1, INT64_C(1) << 50, NULL},
    {"max-part-size", K_I64, &C.max_part_size, 1, INT64_C(1) << 32, NULL},
    {"test-clock", K_CLOCK, NULL, 0, INT64_C(1) << 36, " (seconds since the epoch)"},
    {"json", K_FLAG, &A.json, 0, 0, NULL},
    {"delete-backups", K_FLAG, &A.delete_backups, 0, 0, NULL},
    {"env", K_STR, &A.env, 0, 0, NULL},
    {"database", K_STR, &A.dbkey, 0, 0, NULL},
    {"cron", K_STR, &A.cron, 0, 0, NULL},
    {"tz", K_STR, &A.tz, 0, 0, NULL},
    {"keep-last", K_RET, &A.ret[0], 0, 100000, NULL},
    {"daily", K_RET, &A.ret[1], 0, 100000, NULL},
    {"weekly", K_RET, &A.ret[2], 0, 100000, NULL},
    {"monthly", K_RET, &A.ret[3], 0, 100000, NULL},
    {"help", K_HELP, NULL, 0, 0, NULL},
    {"web", K_STR, &C.web_dir, 0, 0, NULL},
    {"session-ttl", K_MS, &C.session_ttl_ms, 0, 0, NULL},
    {"metrics-token-file", K_TOKEN, NULL, 0, 0, NULL},
    {"alert-webhook", K_STR, &C.alert_webhook, 0, 0, NULL},
    {"stale-after", K_SECS, &C.stale_after_h, 0, 0, " (hours)"},
    {"alert-check", K_SECS, &C.alert_check_s, 0, 0, NULL},
};
#define NOPTS (sizeof optdefs / sizeof *optdefs)

static char *read_token_file(const char *path);

/* One option's value into its target: 0, 1 after --help, or a usage error. */
static int set_opt(const struct optdef *d, const char *v)
{
    double s;
    int64_t n;
    switch (d->kind) {
    case K_STR:
        *(const char **)d->to = v;
        A.store_argv |= d->to == &A.store;
        return 0;
    case K_FLAG: *(int *)d->to = 1; return 0;
    case K_HELP: fputs(usage, stdout); return 1;
    case K_TOKEN:
        dp_free_secret(C.metrics_token);
        if (!(C.metrics_token = read_token_file(v)))
            return usage_error("unable to read a metrics token from '%s'", v);
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
            return usage_error("invalid retention count '%s'", v);
        *(int64_t *)d->to = n;
        A.ret_set = 1;
        return 0;
    default: /* K_I64, K_INT, K_CLOCK */
        if (parse_i64(v, &n, d->lo, d->hi))
            break;
        if (d->kind == K_INT)
            *(int *)d->to = (int)n;
        else if (d->kind == K_I64)
            *(int64_t *)d->to = n;
        else {
            C.test_clock = 1;
            C.test_clock_ms = n * 1000;
        }
        return 0;
    }
    return usage_error("invalid --%s '%s'%s", d->name, v, d->hint ? d->hint : "");
}

/* Options anywhere after the command, the rest positional. 0, or the exit status (-1: --help shown). */
static int parse_args(int argc, char **argv)
{
    struct option lo[NOPTS + 1];
    memset(lo, 0, sizeof lo);
    for (size_t i = 0; i < NOPTS; i++)
        lo[i] = (struct option){optdefs[i].name, optdefs[i].kind == K_FLAG || optdefs[i].kind == K_HELP ?
                                                     no_argument : required_argument, NULL, 1000 + (int)i};
    optind = 2;
    int c, rc;
    while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        if (c < 1000 || c >= 1000 + (int)NOPTS)
            return usage_error("%s", "unknown option");
        if ((rc = set_opt(&optdefs[c - 1000], optarg)))
            return optdefs[c - 1000].kind == K_HELP ? -1 : rc;
    }
    for (int i = optind; i < argc; i++) {
        if (A.npos == 4)
            return usage_error("too many arguments ('%s')", argv[i]);
        A.pos[A.npos++] = argv[i];
    }
    return 0;
}

static int mkdir_p(const char *path)
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

static int print_json(cJSON *o)
{
    char *s = cJSON_Print(o);
    if (s)
        printf("%s\n", s);
    free(s);
    cJSON_Delete(o);
    return 0;
}

static const char *jstr(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : "-";
}

static double jnum(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

/* One line per item of the listing commands (without --json). */
static void app_line(const cJSON *o)
{
    printf("%s\t%s\tagents=%d\n", jstr(o, "name"), jstr(o, "created_at"), (int)jnum(o, "agents"));
}

static void backup_line(const cJSON *o)
{
    printf("%s\t%s\t%s\t%s\t%.0f\t%s\t%s\n", jstr(o, "backup_id"), jstr(o, "created_at"), jstr(o, "database_key"),
           jstr(o, "status"), jnum(o, "size"), jstr(o, "file_name"), jstr(o, "error_code"));
}

static void schedule_line(const cJSON *o)
{
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(o, "next");
    printf("%s\t%s\t%s\t%s\tnext=%s\n", jstr(o, "environment"), jstr(o, "database_key"), jstr(o, "cron"), jstr(o, "tz"),
           cJSON_GetArraySize(n) ? cJSON_GetArrayItem(n, 0)->valuestring : "-");
}

static void agent_line(const cJSON *o)
{
    printf("%s\t%s\t%s\t%s\tpid=%.0f\t%s\tlast_seen=%s\n", jstr(o, "agent_id"), jstr(o, "environment"),
           jstr(o, "role"), jstr(o, "hostname"), jnum(o, "pid"), jstr(o, "dispatcher"), jstr(o, "last_seen"));
}

/* A listing command's answer: the array as JSON with --json, else one line per item. Returns 0, or
 * the error code when there is no array. */
static int print_list(cJSON *arr, const dp_err *err, void (*line)(const cJSON *))
{
    if (!arr)
        return err->code ? err->code : DUMPER_EINTERNAL;
    if (A.json)
        return print_json(arr);
    const cJSON *o;
    cJSON_ArrayForEach(o, arr) line(o);
    cJSON_Delete(arr);
    return 0;
}

/* A password from stdin (first line) or, on a terminal, typed twice without echo. Never from argv. */
static char *read_password(void)
{
    char buf[1100], again[1100];
    if (!isatty(0)) {
        if (!fgets(buf, sizeof buf, stdin))
            return NULL;
        buf[strcspn(buf, "\r\n")] = 0;
        char *p = dp_strdup(buf);
        dp_memzero(buf, sizeof buf);
        return p;
    }
    struct termios old, quiet;
    if (tcgetattr(0, &old))
        return NULL;
    quiet = old;
    quiet.c_lflag &= ~(tcflag_t)ECHO;
    char *p = NULL;
    fprintf(stderr, "password: ");
    tcsetattr(0, TCSAFLUSH, &quiet);
    int ok = fgets(buf, sizeof buf, stdin) != NULL;
    fprintf(stderr, "\nagain: ");
    ok = ok && fgets(again, sizeof again, stdin) != NULL;
    tcsetattr(0, TCSAFLUSH, &old);
    fprintf(stderr, "\n");
    if (ok) {
        buf[strcspn(buf, "\r\n")] = 0;
        again[strcspn(again, "\r\n")] = 0;
        if (strcmp(buf, again))
            fprintf(stderr, "dumperd: the passwords differ\n");
        else
            p = dp_strdup(buf);
    }
    dp_memzero(buf, sizeof buf);
    dp_memzero(again, sizeof again);
    return p;
}

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

static int serve(sd_ctx *ctx)
{
    const sd_config *cfg = ctx->cfg;
    dp_err err = {0};
    sd_http *h = NULL;
    if (cfg->lease_ms < (int64_t)(cfg->primary_interval * 1500)) {
        fprintf(stderr, "dumperd: --lease must be at least 1.5 x --primary-interval\n");
        return DUMPER_EUSAGE;
    }
    if (!strstr(cfg->storage, "://") && mkdir_p(cfg->storage) < 0) {
        fprintf(stderr, "dumperd: unable to create storage directory '%s': %s\n", cfg->storage, strerror(errno));
        return DUMPER_EIO;
    }
    {
        /* Fail now, not at the first backup, on a bad location or missing S3 credentials. */
        dp_storage *stg = NULL;
        if (dp_storage_open(cfg->storage, NULL, 1, &stg, &err)) {
            fprintf(stderr, "dumperd: %s\n", err.msg);
            return err.code;
        }
        dp_storage_close(stg);
    }
    char *parts = dp_asprintf("%s/parts", cfg->data_dir);
    if (parts)
        mkdir_p(parts);
    free(parts);
    sd_http_opts ho = {.listen = cfg->listen, .tls_cert = cfg->tls_cert, .tls_key = cfg->tls_key,
                       .threads = cfg->threads, .cfg = cfg, .clock = ctx->clock};
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (sd_http_start(&ho, &h, &err)) {
        fprintf(stderr, "dumperd: %s\n", err.msg);
        return err.code;
    }
    dp_info("dumperd listening on %s://%.*s:%d (store %s, storage %s%s)", cfg->tls_cert ? "https" : "http",
            (int)(strrchr(ho.listen, ':') - ho.listen), ho.listen, sd_http_port(h),
            !strncmp(cfg->store_url, "sqlite:", 7) ? cfg->store_url : "postgresql", cfg->storage,
            cfg->test_clock ? ", test clock" : "");
    dp_info("dashboard at %s://%.*s:%d/ (users: dumperd user create NAME); /metrics %s",
            cfg->tls_cert ? "https" : "http", (int)(strrchr(ho.listen, ':') - ho.listen), ho.listen, sd_http_port(h),
            cfg->metrics_token ? "needs the metrics token" : "from loopback clients");
    if (sd_alerts_start(cfg, ctx->clock, &err)) {
        dp_warn("%s", err.msg);
        dp_err_clear(&err);
    }
    /* The scheduler: one pass a second (production of due slots, job lease expiry). */
    while (!stop_flag) {
        sd_tick_lock();
        if (sd_tick(ctx, &err)) {
            dp_warn("scheduler: %s", err.msg);
            dp_err_clear(&err);
        }
        sd_tick_unlock();
        for (int i = 0; i < 10 && !stop_flag; i++) {
            struct timespec ts = {0, 100000000L};
            nanosleep(&ts, NULL);
        }
    }
    dp_info("dumperd stopping (signal %d)", (int)stop_flag);
    sd_alerts_stop();
    sd_http_stop(h);
    sd_http_close_dbs();
    return 0;
}

DP_PREINIT_ENVIRONMENT

int main(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? DUMPER_EUSAGE : 0;
    }
    if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
        printf("dumperd %s\n", dumper_version());
        return 0;
    }
    setenv("TZ", "UTC", 1); /* see domain/cron.c */
    sd_config_defaults(&C);
    C.web_dir = getenv("DUMPERD_WEB") ? getenv("DUMPERD_WEB") : DUMPERD_WEB_DIR;
    C.alert_webhook = getenv("DUMPERD_ALERT_WEBHOOK");
    if (getenv("DUMPERD_METRICS_TOKEN") && strlen(getenv("DUMPERD_METRICS_TOKEN")) >= 16)
        C.metrics_token = dp_strdup(getenv("DUMPERD_METRICS_TOKEN"));
    tzset();
    A.data = getenv("DUMPERD_DATA");
    A.store = getenv("DUMPERD_STORE");
    int prc = parse_args(argc, argv);
    if (prc)
        return prc < 0 ? 0 : prc;
    const char *cmd = argv[1];
    const char *sub = A.npos ? A.pos[0] : NULL;

    if (sd_config_paths(&C, A.data, A.store, A.storage)) {
        fprintf(stderr, "dumperd: out of memory\n");
        sd_config_free(&C);
        return DUMPER_ENOMEM;
    }
    if (mkdir_p(C.data_dir) < 0) {
        fprintf(stderr, "dumperd: unable to create data directory '%s': %s\n", C.data_dir, strerror(errno));
        sd_config_free(&C);
        return DUMPER_EIO;
    }
    sd_clock clock;
    sd_clock_init(&clock, C.test_clock, C.test_clock_ms);

    dp_err err = {0};
    sd_ctx ctx_, *ctx = &ctx_;
    int rc = 0;
    if (A.store_argv && strncmp(A.store, "sqlite:", 7)) {
        /* postgres://user:secret@...: a secret in argv is visible to every user (ps). */
        if (sd_url_has_password(A.store))
            dp_warn("the --store URL holds a password, visible to other users in the process list; use"
                    " PGPASSWORD, ~/.pgpass or DUMPERD_STORE instead");
    }
    if (sd_ctx_open(ctx, &C, &clock, &err) || sd_schema_migrate(ctx->db, &err)) {
        fprintf(stderr, "dumperd: %s\n", err.msg);
        rc = err.code;
        goto done;
    }
    const char *env = A.env ? A.env : "production";
    int64_t app = 0;
    if (!strcmp(cmd, "serve")) {
        rc = serve(ctx);
    } else if (!strcmp(cmd, "app") && dp_streq(sub, "create") && A.npos == 2) {
        char key[68];
        if (!(rc = sd_app_create(ctx, A.pos[1], key, &err))) {
            printf("%s\n", key);
            fprintf(stderr, "app '%s' created; its key is shown only this once\n", A.pos[1]);
            dp_memzero(key, sizeof key);
        }
    } else if (!strcmp(cmd, "app") && dp_streq(sub, "rotate-key") && A.npos == 2) {
        char key[68];
        if (!(rc = sd_app_id(ctx, A.pos[1], &app, &err)) && !(rc = sd_app_rotate_key(ctx, app, key, &err))) {
            printf("%s\n", key);
            fprintf(stderr, "app '%s' has a new key, shown only this once; the old key is refused from now on"
                            " (its agents stop at their next poll)\n", A.pos[1]);
            dp_memzero(key, sizeof key);
        }
    } else if (!strcmp(cmd, "app") && dp_streq(sub, "delete") && A.npos == 2) {
        int removed = 0, left = 0;
        if (!(rc = sd_app_id(ctx, A.pos[1], &app, &err)) &&
            !(rc = sd_app_delete(ctx, app, A.delete_backups, &removed, &left, &err))) {
            fprintf(stderr, "app '%s' deleted with its agents, databases, schedules, jobs and catalog", A.pos[1]);
            if (removed || left)
                fprintf(stderr, "; %d backup(s) removed from storage", removed);
            if (left)
                fprintf(stderr, ", %d could not be (see the warnings above)", left);
            fprintf(stderr, "\n");
            rc = left ? DUMPER_ESTORAGE : 0;
        } else if (rc == DUMPER_EEXIST) {
            fprintf(stderr, "dumperd: app '%s' not deleted: %s; to delete them with it: dumperd app delete %s"
                            " --delete-backups\n", A.pos[1], err.msg, A.pos[1]);
            dp_err_clear(&err);
        }
    } else if (!strcmp(cmd, "app") && dp_streq(sub, "list")) {
        rc = print_list(sd_app_list(ctx, &err), &err, app_line);
    } else if (!strcmp(cmd, "user") && A.npos == 2 &&
               (dp_streq(sub, "create") || dp_streq(sub, "passwd") || dp_streq(sub, "delete"))) {
        if (!strcmp(sub, "delete")) {
            if (!(rc = sd_user_delete(ctx, A.pos[1], &err)))
                fprintf(stderr, "user '%s' deleted\n", A.pos[1]);
        } else {
            char *pw = read_password();
            if (!pw) {
                rc = usage_error("no password given (on stdin, or typed at the prompt)%s", "");
            } else if (!(rc = sd_user_set(ctx, A.pos[1], pw, !strcmp(sub, "create"), &err))) {
                fprintf(stderr, "user '%s' %s\n", A.pos[1], !strcmp(sub, "create") ? "created" : "updated");
            }
            dp_free_secret(pw);
        }
    } else if (!strcmp(cmd, "user") && dp_streq(sub, "list") && A.npos == 1) {
        rc = sd_user_list(ctx, &err);
    } else if (!strcmp(cmd, "user")) {
        rc = usage_error("expected 'user create NAME', 'user passwd NAME' or 'user delete NAME'%s", "");
    } else if (!strcmp(cmd, "app")) {
        rc = usage_error("expected 'app create NAME', 'app rotate-key NAME', 'app delete NAME' or 'app list'%s", "");
    } else if (A.npos < 1 || (!strcmp(cmd, "schedule") || !strcmp(cmd, "retention") || !strcmp(cmd, "backup") ? A.npos != 2 : A.npos != 1)) {
        rc = usage_error("wrong arguments for '%s'", cmd);
    } else if ((rc = sd_app_id(ctx, A.pos[A.npos - 1], &app, &err))) {
        /* reported below */
    } else if (!strcmp(cmd, "schedule") && !strcmp(sub, "set")) {
        if (!A.cron)
            rc = usage_error("schedule set needs --cron EXPR%s", "");
        else if (!(rc = sd_schedule_set(ctx, app, env, A.dbkey, A.cron, A.tz ? A.tz : "UTC", &err)))
            fprintf(stderr, "schedule set: '%s' (%s) for %s%s%s\n", A.cron, A.tz ? A.tz : "UTC", env,
                    A.dbkey ? ", database " : "", A.dbkey ? A.dbkey : "");
    } else if (!strcmp(cmd, "retention") && !strcmp(sub, "set")) {
        rc = sd_retention_set(ctx, app, A.ret[0], A.ret[1], A.ret[2], A.ret[3], &err);
    } else if (!strcmp(cmd, "backup") && !strcmp(sub, "now")) {
        int n = 0;
        if (!(rc = sd_backup_now(ctx, app, env, A.dbkey, &n, &err)))
            fprintf(stderr, "%d backup job(s) queued; the primary agent takes them on its next poll\n", n);
    } else if (!strcmp(cmd, "backups")) {
        rc = print_list(sd_backups(ctx, app, 0, 0, &err), &err, backup_line);
    } else if (!strcmp(cmd, "schedules")) {
        rc = print_list(sd_schedules(ctx, app, &err), &err, schedule_line);
    } else if (!strcmp(cmd, "agents")) {
        rc = print_list(sd_agents(ctx, app, &err), &err, agent_line);
    } else {
        rc = usage_error("unknown command '%s'", cmd);
    }
    if (rc && err.code)
        fprintf(stderr, "dumperd: %s\n", err.msg);
done:
    sd_ctx_close(ctx);
    sd_config_free(&C);
    return rc;
}
