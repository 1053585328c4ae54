/*
 * stats.h - the catalog and agents in numbers, for /metrics: read-only aggregates over several tables.
 * SQL only (see apps.h for the conventions). Each row: up to three labels and three numbers, which the
 * query's comment names.
 */
#ifndef SD_STORE_STATS_H
#define SD_STORE_STATS_H

#include <stdint.h>

#include "core/err.h"
#include "store/db.h"

typedef struct sd_stat_row {
    const char *app, *l1, *l2, *l3; /* labels (may be NULL) */
    int64_t n[3];
    int has[3]; /* n[i] was not SQL NULL */
} sd_stat_row;

typedef struct sd_stat_list {
    int n;
    sd_stat_row *v;
    sd_res res_;
} sd_stat_list;

/* app, environment, database, status; n[0] = backups. */
int sd_store_stats_backups(sd_db *db, sd_stat_list *out, dp_err *err);
/* app, environment, database of each database with a good backup; its newest good backup: n[0] finished_at,
 * n[1] size, n[2] duration_ms. */
int sd_store_stats_last_good(sd_db *db, sd_stat_list *out, dp_err *err);
/* app; its good backups: n[0] count, n[1] total size, n[2] total duration_ms. */
int sd_store_stats_good_totals(sd_db *db, sd_stat_list *out, dp_err *err);
/* app, environment, role ("primary": holds a lease live at now, else "secondary") of the agents seen after
 * seen_after; n[0] = agents. */
int sd_store_stats_agents(sd_db *db, int64_t now, int64_t seen_after, sd_stat_list *out, dp_err *err);
/* app; n[0] pending jobs, n[1] the oldest one's creation (has[1] = 0: none). */
int sd_store_stats_pending(sd_db *db, sd_stat_list *out, dp_err *err);

#endif
