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
#include "http.h"
#include "site.h"
#include "storage/storage.h"
#include "store.h"
#include "core/preinit.h"

#define DEFAULT_PORT 8477

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

enum {
    O_DATA = 1000, O_STORE, O_STORAGE, O_LISTEN, O_PI, O_SI, O_LEASE, O_JLEASE, O_THREADS, O_CERT, O_KEY,
    O_MAXF, O_MAXP, O_CLOCK, O_JSON, O_ENV, O_DB, O_CRON, O_TZ, O_LAST, O_DAILY, O_WEEKLY, O_MONTHLY, O_HELP,
    O_WEB, O_STTL, O_MTOK, O_HOOK, O_STALE, O_ACHECK,
};

static const struct option opts[] = {
    {"data", required_argument, NULL, O_DATA},
    {"store", required_argument, NULL, O_STORE},
    {"storage", required_argument, NULL, O_STORAGE},
    {"listen", required_argument, NULL, O_LISTEN},
    {"primary-interval", required_argument, NULL, O_PI},
    {"secondary-interval", required_argument, NULL, O_SI},
    {"lease", required_argument, NULL, O_LEASE},
    {"job-lease", required_argument, NULL, O_JLEASE},
    {"threads", required_argument, NULL, O_THREADS},
    {"tls-cert", required_argument, NULL, O_CERT},
    {"tls-key", required_argument, NULL, O_KEY},
    {"max-filesize", required_argument, NULL, O_MAXF},
    {"max-part-size", required_argument, NULL, O_MAXP},
    {"test-clock", required_argument, NULL, O_CLOCK},
    {"json", no_argument, NULL, O_JSON},
    {"env", required_argument, NULL, O_ENV},
    {"database", required_argument, NULL, O_DB},
    {"cron", required_argument, NULL, O_CRON},
    {"tz", required_argument, NULL, O_TZ},
    {"keep-last", required_argument, NULL, O_LAST},
    {"daily", required_argument, NULL, O_DAILY},
    {"weekly", required_argument, NULL, O_WEEKLY},
    {"monthly", required_argument, NULL, O_MONTHLY},
    {"help", no_argument, NULL, O_HELP},
    {"web", required_argument, NULL, O_WEB},
    {"session-ttl", required_argument, NULL, O_STTL},
    {"metrics-token-file", required_argument, NULL, O_MTOK},
    {"alert-webhook", required_argument, NULL, O_HOOK},
    {"stale-after", required_argument, NULL, O_STALE},
    {"alert-check", required_argument, NULL, O_ACHECK},
    {NULL, 0, NULL, 0},
};

typedef struct {
    const char *data, *store, *storage, *listen, *cert, *key, *env, *dbkey, *cron, *tz;
    int json, threads, store_argv;
    int64_t ret[4];
    int ret_set;
    double clock;
    char *pos[4];
    int npos;
} args;

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

static int serve(args *a, sd_db *db)
{
    sd_site.tls = a->cert != NULL;
    dp_err err = {0};
    sd_http *h = NULL;
    if (sd_config.lease_ms < (int64_t)(sd_config.primary_interval * 1500)) {
        fprintf(stderr, "dumperd: --lease must be at least 1.5 x --primary-interval\n");
        return DUMPER_EUSAGE;
    }
    if (!strstr(sd_config.storage, "://") && mkdir_p(sd_config.storage) < 0) {
        fprintf(stderr, "dumperd: unable to create storage directory '%s': %s\n", sd_config.storage, strerror(errno));
        return DUMPER_EIO;
    }
    {
        /* Fail now, not at the first backup, on a bad location or missing S3 credentials. */
        dp_storage *stg = NULL;
        if (dp_storage_open(sd_config.storage, NULL, 1, &stg, &err)) {
            fprintf(stderr, "dumperd: %s\n", err.msg);
            return err.code;
        }
        dp_storage_close(stg);
    }
    char *parts = dp_asprintf("%s/parts", sd_config.data_dir);
    if (parts)
        mkdir_p(parts);
    free(parts);
    sd_http_opts ho = {.listen = a->listen ? a->listen : "127.0.0.1:8477", .tls_cert = a->cert, .tls_key = a->key,
                       .threads = a->threads};
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (sd_http_start(&ho, &h, &err)) {
        fprintf(stderr, "dumperd: %s\n", err.msg);
        return err.code;
    }
    dp_info("dumperd listening on %s://%.*s:%d (store %s, storage %s%s)", a->cert ? "https" : "http",
            (int)(strrchr(ho.listen, ':') - ho.listen), ho.listen, sd_http_port(h),
            !strncmp(sd_config.store_url, "sqlite:", 7) ? sd_config.store_url : "postgresql", sd_config.storage,
            sd_config.test_clock ? ", test clock" : "");
    dp_info("dashboard at %s://%.*s:%d/ (users: dumperd user create NAME); /metrics %s", a->cert ? "https" : "http",
            (int)(strrchr(ho.listen, ':') - ho.listen), ho.listen, sd_http_port(h),
            sd_site.metrics_token ? "needs the metrics token" : "from loopback clients");
    if (sd_alerts_start(&err)) {
        dp_warn("%s", err.msg);
        dp_err_clear(&err);
    }
    /* The scheduler: one pass a second (production of due slots, job lease expiry). */
    while (!stop_flag) {
        sd_tick_lock();
        if (sd_tick(db, &err)) {
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
    setenv("TZ", "UTC", 1); /* see cron.c */
    sd_site.web_dir = getenv("DUMPERD_WEB") ? getenv("DUMPERD_WEB") : DUMPERD_WEB_DIR;
    sd_site.alert_webhook = getenv("DUMPERD_ALERT_WEBHOOK");
    if (getenv("DUMPERD_METRICS_TOKEN") && strlen(getenv("DUMPERD_METRICS_TOKEN")) >= 16)
        sd_site.metrics_token = dp_strdup(getenv("DUMPERD_METRICS_TOKEN"));
    tzset();
    args a = {0};
    a.data = getenv("DUMPERD_DATA");
    a.store = getenv("DUMPERD_STORE");
    sd_config.primary_interval = 300;
    sd_config.secondary_interval = 3600;
    sd_config.lease_ms = 900000;
    sd_config.job_lease_ms = 3600000;
    sd_config.max_filesize = INT64_C(1) << 40;
    sd_config.max_part_size = INT64_C(64) << 20;
    sd_config.max_attempts = 3;
    sd_config.catchup_s = 86400;
    optind = 2;
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        double s;
        int64_t v;
        switch (c) {
        case O_DATA: a.data = optarg; break;
        case O_STORE:
            a.store = optarg;
            a.store_argv = 1;
            break;
        case O_STORAGE: a.storage = optarg; break;
        case O_LISTEN: a.listen = optarg; break;
        case O_PI:
            if (parse_secs(optarg, &s))
                return usage_error("invalid --primary-interval '%s'", optarg);
            sd_config.primary_interval = s;
            break;
        case O_SI:
            if (parse_secs(optarg, &s))
                return usage_error("invalid --secondary-interval '%s'", optarg);
            sd_config.secondary_interval = s;
            break;
        case O_LEASE:
            if (parse_secs(optarg, &s))
                return usage_error("invalid --lease '%s'", optarg);
            sd_config.lease_ms = (int64_t)(s * 1000);
            break;
        case O_JLEASE:
            if (parse_secs(optarg, &s))
                return usage_error("invalid --job-lease '%s'", optarg);
            sd_config.job_lease_ms = (int64_t)(s * 1000);
            break;
        case O_THREADS:
            if (parse_i64(optarg, &v, 1, 64))
                return usage_error("invalid --threads '%s'", optarg);
            a.threads = (int)v;
            break;
        case O_CERT: a.cert = optarg; break;
        case O_KEY: a.key = optarg; break;
        case O_MAXF:
            if (parse_i64(optarg, &sd_config.max_filesize, 1, INT64_C(1) << 50))
                return usage_error("invalid --max-filesize '%s'", optarg);
            break;
        case O_MAXP:
            if (parse_i64(optarg, &sd_config.max_part_size, 1, INT64_C(1) << 32))
                return usage_error("invalid --max-part-size '%s'", optarg);
            break;
        case O_CLOCK:
            if (parse_i64(optarg, &v, 0, INT64_C(1) << 36))
                return usage_error("invalid --test-clock '%s' (seconds since the epoch)", optarg);
            sd_config.test_clock = 1;
            sd_set_fake_now_ms(v * 1000);
            break;
        case O_JSON: a.json = 1; break;
        case O_ENV: a.env = optarg; break;
        case O_DB: a.dbkey = optarg; break;
        case O_CRON: a.cron = optarg; break;
        case O_TZ: a.tz = optarg; break;
        case O_LAST: case O_DAILY: case O_WEEKLY: case O_MONTHLY:
            if (parse_i64(optarg, &v, 0, 100000))
                return usage_error("invalid retention count '%s'", optarg);
            a.ret[c - O_LAST] = v;
            a.ret_set = 1;
            break;
        case O_HELP: fputs(usage, stdout); return 0;
        case O_WEB: sd_site.web_dir = optarg; break;
        case O_STTL:
            if (parse_secs(optarg, &s))
                return usage_error("invalid --session-ttl '%s'", optarg);
            sd_site.session_ttl_ms = (int64_t)(s * 1000);
            break;
        case O_MTOK:
            dp_free_secret(sd_site.metrics_token);
            if (!(sd_site.metrics_token = read_token_file(optarg)))
                return usage_error("unable to read a metrics token from '%s'", optarg);
            break;
        case O_HOOK: sd_site.alert_webhook = optarg; break;
        case O_STALE:
            if (parse_secs(optarg, &s))
                return usage_error("invalid --stale-after '%s' (hours)", optarg);
            sd_site.stale_after_h = s;
            break;
        case O_ACHECK:
            if (parse_secs(optarg, &s))
                return usage_error("invalid --alert-check '%s'", optarg);
            sd_site.alert_check_s = s;
            break;
        default: return usage_error("%s", "unknown option");
        }
    }
    for (int i = optind; i < argc; i++) {
        if (a.npos == 4)
            return usage_error("too many arguments ('%s')", argv[i]);
        a.pos[a.npos++] = argv[i];
    }
    const char *cmd = argv[1];
    const char *sub = a.npos ? a.pos[0] : NULL;

    sd_config.data_dir = dp_strdup(a.data ? a.data : "./var");
    if (mkdir_p(sd_config.data_dir) < 0) {
        fprintf(stderr, "dumperd: unable to create data directory '%s': %s\n", sd_config.data_dir, strerror(errno));
        return DUMPER_EIO;
    }
    sd_config.store_url = a.store ? dp_strdup(a.store) : dp_asprintf("sqlite:%s/dumperd.db", sd_config.data_dir);
    sd_config.storage = a.storage ? dp_strdup(a.storage) : dp_asprintf("%s/backups", sd_config.data_dir);

    dp_err err = {0};
    sd_db *db = NULL;
    int rc = 0;
    if (a.store_argv && strncmp(a.store, "sqlite:", 7)) {
        /* postgres://user:secret@...: a secret in argv is visible to every user (ps). */
        const char *at = strchr(a.store, '@'), *sc = strstr(a.store, "://");
        if (at && sc && at > sc && memchr(sc + 3, ':', (size_t)(at - sc - 3)))
            dp_warn("the --store URL holds a password, visible to other users in the process list; use"
                    " PGPASSWORD, ~/.pgpass or DUMPERD_STORE instead");
    }
    if (sd_db_open(sd_config.store_url, &db, &err) || sd_store_init(db, &err)) {
        fprintf(stderr, "dumperd: %s\n", err.msg);
        rc = err.code;
        goto done;
    }
    const char *env = a.env ? a.env : "production";
    int64_t app = 0;
    if (!strcmp(cmd, "serve")) {
        rc = serve(&a, db);
    } else if (!strcmp(cmd, "app") && dp_streq(sub, "create") && a.npos == 2) {
        char key[68];
        if (!(rc = sd_app_create(db, a.pos[1], key, &err))) {
            printf("%s\n", key);
            fprintf(stderr, "app '%s' created; its key is shown only this once\n", a.pos[1]);
            dp_memzero(key, sizeof key);
        }
    } else if (!strcmp(cmd, "app") && dp_streq(sub, "list")) {
        cJSON *arr = sd_app_list(db, &err);
        if (!arr) {
            rc = err.code ? err.code : DUMPER_EINTERNAL;
        }
        if (a.json)
            print_json(arr);
        else {
            const cJSON *o;
            cJSON_ArrayForEach(o, arr) printf("%s\t%s\tagents=%d\n", jstr(o, "name"), jstr(o, "created_at"),
                                              (int)jnum(o, "agents"));
            cJSON_Delete(arr);
        }
    } else if (!strcmp(cmd, "user") && a.npos == 2 &&
               (dp_streq(sub, "create") || dp_streq(sub, "passwd") || dp_streq(sub, "delete"))) {
        if (!strcmp(sub, "delete")) {
            if (!(rc = sd_user_delete(db, a.pos[1], &err)))
                fprintf(stderr, "user '%s' deleted\n", a.pos[1]);
        } else {
            char *pw = read_password();
            if (!pw) {
                rc = usage_error("no password given (on stdin, or typed at the prompt)%s", "");
            } else if (!(rc = sd_user_set(db, a.pos[1], pw, !strcmp(sub, "create"), &err))) {
                fprintf(stderr, "user '%s' %s\n", a.pos[1], !strcmp(sub, "create") ? "created" : "updated");
            }
            dp_free_secret(pw);
        }
    } else if (!strcmp(cmd, "user") && dp_streq(sub, "list") && a.npos == 1) {
        rc = sd_user_list(db, &err);
    } else if (!strcmp(cmd, "user")) {
        rc = usage_error("expected 'user create NAME', 'user passwd NAME' or 'user delete NAME'%s", "");
    } else if (!strcmp(cmd, "app")) {
        rc = usage_error("expected 'app create NAME' or 'app list'%s", "");
    } else if (a.npos < 1 || (!strcmp(cmd, "schedule") || !strcmp(cmd, "retention") || !strcmp(cmd, "backup") ? a.npos != 2 : a.npos != 1)) {
        rc = usage_error("wrong arguments for '%s'", cmd);
    } else if ((rc = sd_app_id(db, a.pos[a.npos - 1], &app, &err))) {
        /* reported below */
    } else if (!strcmp(cmd, "schedule") && !strcmp(sub, "set")) {
        if (!a.cron)
            rc = usage_error("schedule set needs --cron EXPR%s", "");
        else if (!(rc = sd_schedule_set(db, app, env, a.dbkey, a.cron, a.tz ? a.tz : "UTC", &err)))
            fprintf(stderr, "schedule set: '%s' (%s) for %s%s%s\n", a.cron, a.tz ? a.tz : "UTC", env,
                    a.dbkey ? ", database " : "", a.dbkey ? a.dbkey : "");
    } else if (!strcmp(cmd, "retention") && !strcmp(sub, "set")) {
        rc = sd_retention_set(db, app, a.ret[0], a.ret[1], a.ret[2], a.ret[3], &err);
    } else if (!strcmp(cmd, "backup") && !strcmp(sub, "now")) {
        int n = 0;
        if (!(rc = sd_backup_now(db, app, env, a.dbkey, &n, &err)))
            fprintf(stderr, "%d backup job(s) queued; the primary agent takes them on its next poll\n", n);
    } else if (!strcmp(cmd, "backups")) {
        cJSON *arr = sd_backups(db, app, 0, 0, &err);
        if (!arr) {
            rc = err.code ? err.code : DUMPER_EINTERNAL;
        }
        if (a.json)
            print_json(arr);
        else {
            const cJSON *o;
            cJSON_ArrayForEach(o, arr) printf("%s\t%s\t%s\t%s\t%.0f\t%s\t%s\n", jstr(o, "backup_id"),
                                              jstr(o, "created_at"), jstr(o, "database_key"), jstr(o, "status"),
                                              jnum(o, "size"), jstr(o, "file_name"), jstr(o, "error_code"));
            cJSON_Delete(arr);
        }
    } else if (!strcmp(cmd, "schedules")) {
        cJSON *arr = sd_schedules(db, app, &err);
        if (!arr) {
            rc = err.code ? err.code : DUMPER_EINTERNAL;
        } else if (a.json) {
            print_json(arr);
        } else {
            const cJSON *o;
            cJSON_ArrayForEach(o, arr)
            {
                const cJSON *n = cJSON_GetObjectItemCaseSensitive(o, "next");
                printf("%s\t%s\t%s\t%s\tnext=%s\n", jstr(o, "environment"), jstr(o, "database_key"), jstr(o, "cron"),
                       jstr(o, "tz"), cJSON_GetArraySize(n) ? cJSON_GetArrayItem(n, 0)->valuestring : "-");
            }
            cJSON_Delete(arr);
        }
    } else if (!strcmp(cmd, "agents")) {
        cJSON *arr = sd_agents(db, app, &err);
        if (!arr) {
            rc = err.code ? err.code : DUMPER_EINTERNAL;
        }
        if (a.json)
            print_json(arr);
        else {
            const cJSON *o;
            cJSON_ArrayForEach(o, arr) printf("%s\t%s\t%s\t%s\tpid=%.0f\t%s\tlast_seen=%s\n", jstr(o, "agent_id"),
                                              jstr(o, "environment"), jstr(o, "role"), jstr(o, "hostname"),
                                              jnum(o, "pid"), jstr(o, "dispatcher"), jstr(o, "last_seen"));
            cJSON_Delete(arr);
        }
    } else {
        rc = usage_error("unknown command '%s'", cmd);
    }
    if (rc && err.code)
        fprintf(stderr, "dumperd: %s\n", err.msg);
done:
    sd_db_close(db);
    free(sd_config.data_dir);
    free(sd_config.store_url);
    free(sd_config.storage);
    dp_free_secret(sd_site.metrics_token);
    return rc;
}
