/*
 * main.c - the dumperd command: `serve` runs the control plane; the other commands administer the same state
 * store (apps, users, schedules, retention, manual backups, catalog, agents). Options become the
 * configuration (cli/args.c), handed to the services through a context; the store is migrated first.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "core/log.h"
#include "core/preinit.h"
#include "core/util.h"
#include "domain/secrets.h"
#include "store/schema.h"

DP_PREINIT_ENVIRONMENT

int main(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        fputs(sd_cli_usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? DUMPER_EUSAGE : 0;
    }
    if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
        printf("dumperd %s\n", dumper_version());
        return 0;
    }
    setenv("TZ", "UTC", 1); /* see domain/cron.c */
    tzset();
    sd_config cfg;
    sd_cli a = {.data = getenv("DUMPERD_DATA"), .store = getenv("DUMPERD_STORE")};
    sd_config_defaults(&cfg);
    cfg.web_dir = getenv("DUMPERD_WEB") ? getenv("DUMPERD_WEB") : DUMPERD_WEB_DIR;
    cfg.alert_webhook = getenv("DUMPERD_ALERT_WEBHOOK");
    if (getenv("DUMPERD_METRICS_TOKEN") && strlen(getenv("DUMPERD_METRICS_TOKEN")) >= 16)
        cfg.metrics_token = dp_strdup(getenv("DUMPERD_METRICS_TOKEN"));
    int rc = sd_cli_parse(argc, argv, &a, &cfg);
    if (rc) {
        sd_config_free(&cfg);
        return rc < 0 ? 0 : rc;
    }
    if (sd_config_paths(&cfg, a.data, a.store, a.storage)) {
        fprintf(stderr, "dumperd: out of memory\n");
        sd_config_free(&cfg);
        return DUMPER_ENOMEM;
    }
    if (sd_cli_mkdir_p(cfg.data_dir) < 0) {
        fprintf(stderr, "dumperd: unable to create data directory '%s': %s\n", cfg.data_dir, strerror(errno));
        sd_config_free(&cfg);
        return DUMPER_EIO;
    }
    /* postgres://user:secret@...: a secret in argv is visible to every user (ps). */
    if (a.store_argv && strncmp(a.store, "sqlite:", 7) && sd_url_has_password(a.store))
        dp_warn("the --store URL holds a password, visible to other users in the process list; use"
                " PGPASSWORD, ~/.pgpass or DUMPERD_STORE instead");
    sd_clock clock;
    sd_clock_init(&clock, cfg.test_clock, cfg.test_clock_ms);
    sd_ctx ctx;
    dp_err err = {0};
    if (sd_ctx_open(&ctx, &cfg, &clock, &err) || sd_schema_migrate(ctx.db, &err)) {
        fprintf(stderr, "dumperd: %s\n", err.msg);
        rc = err.code;
    } else if (!strcmp(argv[1], "serve")) {
        rc = sd_cli_serve(&ctx);
    } else {
        rc = sd_cli_command(argv[1], &a, &ctx);
    }
    sd_ctx_close(&ctx);
    sd_config_free(&cfg);
    return rc;
}
