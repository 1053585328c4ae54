/*
 * admin.h - what an operator does (the dumperd commands, the dashboard): apps and their keys, schedules,
 * retention, manual backups, deleting an app; and the views of an app (its agents, databases, schedules
 * with their next slots, catalog). Views return the store's rows (C structs), which the callers render
 * (http/views.c for JSON, cli/ for lines).
 */
#ifndef SD_ADMIN_H
#define SD_ADMIN_H

#include <stdint.h>

#include "domain/retention.h"
#include "service/ctx.h"
#include "store/agents.h"
#include "store/apps.h"
#include "store/backups.h"
#include "store/databases.h"
#include "store/schedules.h"

/* A schedule with its next five slots (computed now). */
typedef struct sd_schedule_view {
    const sd_schedule_row *row;
    int64_t next[5]; /* seconds since the epoch */
    int nnext;
} sd_schedule_view;

typedef struct sd_schedule_views {
    sd_schedule_list rows;
    sd_schedule_view *v;
    int n;
} sd_schedule_views;

/* A new app: its key (shown once; only its SHA-256 is stored) and id. SD_CONFLICT when the name exists. */
int sd_app_create(sd_ctx *ctx, const char *name, char key[68], int64_t *id, sd_status *st);
/* SD_NOT_FOUND "no app named '...' (dumperd app list)". */
int sd_app_find(sd_ctx *ctx, const char *name, int64_t *id, sd_status *st);
/* A new key; the old one is refused from the next request on (service/auth.h). */
int sd_app_rotate_key(sd_ctx *ctx, int64_t app, char key[68], sd_status *st);
/* Deletes an app with everything it owns. While it has backups (good or running) SD_CONFLICT "the app has N
 * backup(s)", unless delete_backups: then it first checks that every good backup is in this context's
 * storage (SD_NOT_FOUND otherwise: nothing is deleted), deletes the catalog, then removes the files and
 * manifests (*removed; *left could not be, each a warning) and the parts or S3 uploads of running ones. */
int sd_app_delete(sd_ctx *ctx, int64_t app, int delete_backups, int *removed, int *left, sd_status *st);
/* Sets (replaces) the schedule of an environment, or of one database (dbkey). SD_INVALID for a bad cron
 * expression or time zone, SD_NOT_FOUND for a database no agent registered. */
int sd_schedule_set(sd_ctx *ctx, int64_t app, const char *env, const char *dbkey, const char *cron, const char *tz,
                    sd_status *st);
int sd_retention_set(sd_ctx *ctx, int64_t app, const sd_retention *policy, sd_status *st);
/* Manual jobs for every database of the environment (or one): *n queued. SD_NOT_FOUND without one. */
int sd_backup_now(sd_ctx *ctx, int64_t app, const char *env, const char *dbkey, int *n, sd_status *st);

int sd_apps(sd_ctx *ctx, sd_app_list *out, sd_status *st);
/* One app (out->n = 0: none). */
int sd_app_get(sd_ctx *ctx, int64_t app, sd_app_list *out, sd_status *st);
/* The app's agents, each with `primary` set (a live lease now). */
int sd_agents(sd_ctx *ctx, int64_t app, sd_agent_list *out, sd_status *st);
int sd_databases(sd_ctx *ctx, int64_t app, sd_database_list *out, sd_status *st);
int sd_schedules(sd_ctx *ctx, int64_t app, sd_schedule_views *out, sd_status *st);
void sd_schedule_views_free(sd_schedule_views *v);
/* The catalog, newest first: every database (db_id 0) or one; limit <= 0 or over 10000: 10000. */
int sd_backups(sd_ctx *ctx, int64_t app, int64_t db_id, int limit, sd_backup_list *out, sd_status *st);
/* One catalog entry; SD_NOT_FOUND "unknown backup 'b_N'". */
int sd_backup_get(sd_ctx *ctx, int64_t app, int64_t backup, sd_backup_list *out, sd_status *st);

#endif
