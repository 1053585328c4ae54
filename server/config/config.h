/*
 * config.h - dumperd's configuration: the paths every command shares and every `serve` flag, in one
 * struct. main fills it (cli/args.c) and hands it down explicitly: the HTTP layer and the services read
 * it through their context (service/ctx.h), never from a global. The store and the domain policy never
 * see it; they get the values they need as arguments.
 */
#ifndef SD_CONFIG_H
#define SD_CONFIG_H

#include <stdint.h>

typedef struct sd_config {
    /* Every command. */
    char *data_dir;  /* state and uploaded parts (--data) */
    char *store_url; /* sqlite:PATH or postgres://... (--store) */
    char *storage;   /* where backups live (--storage): a directory or s3://bucket/prefix */

    /* The agent protocol. */
    double primary_interval, secondary_interval; /* seconds */
    int64_t lease_ms, job_lease_ms;
    int64_t max_filesize, max_part_size;
    int max_attempts;  /* attempts of a job before it fails */
    int64_t catchup_s; /* missed slots older than this are skipped */
    int test_clock;    /* --test-clock: the clock is frozen and settable (tests only) */
    int64_t test_clock_ms;

    /* HTTP. */
    const char *listen; /* HOST:PORT */
    const char *tls_cert, *tls_key;
    int threads;

    /* The site (dashboard, /metrics). */
    const char *web_dir;    /* static files */
    int64_t session_ttl_ms; /* absolute session lifetime */
    char *metrics_token;    /* NULL: /metrics from loopback clients (or a session) only */

    /* Alerts. */
    const char *alert_webhook; /* NULL: no alerts */
    double stale_after_h;      /* a database without a good backup for this long alerts */
    double alert_check_s;      /* how often the alert thread looks */
} sd_config;

/* The defaults of docs/dumperd.md; the paths stay NULL until sd_config_paths. */
void sd_config_defaults(sd_config *c);
/* data_dir, store_url and storage from the given values (NULL: the defaults under data_dir). 0, or -1
 * when out of memory. */
int sd_config_paths(sd_config *c, const char *data, const char *store, const char *storage);
/* Frees what the config owns (the paths and the metrics token). */
void sd_config_free(sd_config *c);

#endif
