/* config.c - dumperd's configuration defaults (see config.h). */
#include "config/config.h"

#include <stdlib.h>

#include "core/util.h"

void sd_config_defaults(sd_config *c)
{
    *c = (sd_config){
        .primary_interval = 300,
        .secondary_interval = 3600,
        .lease_ms = 900000,
        .job_lease_ms = 3600000,
        .max_filesize = INT64_C(1) << 40,
        .max_part_size = INT64_C(64) << 20,
        .max_attempts = 3,
        .catchup_s = 86400,
        .listen = "127.0.0.1:8477",
        .threads = 4,
        .session_ttl_ms = 12LL * 3600 * 1000,
        .stale_after_h = 26,
        .alert_check_s = 2,
    };
}

int sd_config_paths(sd_config *c, const char *data, const char *store, const char *storage)
{
    c->data_dir = dp_strdup(data ? data : "./var");
    if (!c->data_dir)
        return -1;
    c->store_url = store ? dp_strdup(store) : dp_asprintf("sqlite:%s/dumperd.db", c->data_dir);
    c->storage = storage ? dp_strdup(storage) : dp_asprintf("%s/backups", c->data_dir);
    return c->store_url && c->storage ? 0 : -1;
}

void sd_config_free(sd_config *c)
{
    free(c->data_dir);
    free(c->store_url);
    free(c->storage);
    dp_free_secret(c->metrics_token);
    c->data_dir = c->store_url = c->storage = c->metrics_token = NULL;
}
