/*
 * cli.h - the dumperd command line: options into the configuration (config/config.h) and the command's
 * arguments, the operator commands over the services (printing lines or --json), and `serve`.
 */
#ifndef SD_CLI_H
#define SD_CLI_H

#include <cjson/cJSON.h>

#include "config/config.h"
#include "domain/job_policy.h"
#include "domain/retention.h"
#include "service/ctx.h"

typedef struct sd_cli {
    const char *data, *store, *storage, *env, *dbkey, *cron, *tz;
    const char *kind, *url, *to, *app, *on; /* notify add (app: also token create) */
    const char *scope; /* token create */
    int64_t expires_days;
    int json, store_argv, delete_backups;
    int after_each_backup; /* drill set */
    /* storage add (cli/storage.c) */
    const char *endpoint, *region, *credentials_file, *lock_mode;
    int path_style, virtual_host;
    int64_t lock_days;
    sd_retention ret; /* retention set */
    /* app set: --recipient (repeatable), --no-recipients, --nice, --ionice, --limit-rate */
    const char *recipients[SD_MAX_RECIPIENTS];
    int nrecipients, no_recipients;
    const char *nice, *ionice, *limit_rate;
    const char *drill_max_age; /* app set --drill-max-age HOURS|off (restore drills' evidence) */
    char *pos[4];     /* positional arguments after the command */
    int npos;
} sd_cli;

extern const char sd_cli_usage[];

/* Options anywhere after the command (argv[1]), the rest positional: 0, -1 after --help, or an exit code. */
int sd_cli_parse(int argc, char **argv, sd_cli *a, sd_config *cfg);
/* "dumperd: <message> (dumperd --help)" on stderr; returns DUMPER_EUSAGE. */
int sd_cli_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* mkdir -p with mode 0700. */
int sd_cli_mkdir_p(const char *path);

/* Every command but serve; the exit code. */
int sd_cli_command(const char *cmd, const sd_cli *a, sd_ctx *ctx);
/* notify add|list|remove|test (cli/notify.c); the exit code. */
int sd_cli_notify(const sd_cli *a, sd_ctx *ctx, sd_status *st);
/* A listing: the array as JSON with --json, else one line per item (consumes arr). */
struct cJSON;
int sd_cli_print_list(const sd_cli *a, struct cJSON *arr, void (*line)(const struct cJSON *));
/* A string member of a JSON object, "-" when absent. */
const char *sd_cli_jstr(const struct cJSON *o, const char *k);
/* storage add|list|remove|sync, copies APP (cli/storage.c). */
int sd_cli_storage(const char *cmd, const sd_cli *a, sd_ctx *ctx, sd_status *st);
/* token create|list|revoke (cli/tokens.c); the exit code. */
int sd_cli_token(const sd_cli *a, sd_ctx *ctx, sd_status *st);
/* api-routes (hidden): the REST API's route table, "METHOD PATH SCOPE app-key|-" a line (the OpenAPI test). */
int sd_cli_api_routes(void);
/* app set NAME [--recipient K ...] [--no-recipients] [--nice N|unset] [--ionice C[:L]|unset] [--limit-rate R|unset]:
 * changes what is given, then prints the app's job policy (with --json: its JSON shape). */
int sd_cli_app_set(const sd_cli *a, sd_ctx *ctx, const char *name, sd_status *st);
/* drill set|list|remove APP [--env E] [--database K] (--after-each-backup | --cron EXPR [--tz Z]) (cli/drill.c). */
int sd_cli_drill(const sd_cli *a, sd_ctx *ctx, sd_status *st);
/* drill-record APP BACKUP [FILE|-] [--json]: a `dumper drill --json` document as the backup's drill evidence
 * (cli/drill_record.c); the exit code. */
int sd_cli_drill_record(const sd_cli *a, sd_ctx *ctx, sd_status *st);
/* serve: the HTTP server, the scheduler (this thread) and the alert thread, until SIGINT/SIGTERM. */
int sd_cli_serve(sd_ctx *ctx);

#endif
