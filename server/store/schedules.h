/*
 * schedules.h - the schedules aggregate: a cron expression and time zone per (app, environment) or per
 * database, with the last slot it produced and the next one due. SQL only (see apps.h for the conventions);
 * which slots are due is domain/schedule.h.
 */
#ifndef SD_STORE_SCHEDULES_H
#define SD_STORE_SCHEDULES_H

#include <stdint.h>

#include "core/err.h"
#include "store/db.h"

typedef struct sd_schedule_row {
    int64_t id, app, db_id, last_slot; /* db_id 0: the environment's schedule; slots in seconds */
    const char *env, *db_key, *cron, *tz; /* db_key: NULL for an environment's schedule */
} sd_schedule_row;

typedef struct sd_schedule_list {
    int n;
    sd_schedule_row *v;
    sd_res res_;
} sd_schedule_list;

/* Set (replace) the schedule of (app, env, db_id); it starts again at the scheduler's next pass. */
int sd_store_schedule_set(sd_db *db, int64_t app, const char *env, int64_t db_id, const char *cron, const char *tz,
                          dp_err *err);
/* The app's schedules by environment and database, with the database's key. */
int sd_store_schedule_list(sd_db *db, int64_t app, sd_schedule_list *out, dp_err *err);
/* Every schedule whose next slot is due at now_s. */
int sd_store_schedule_due(sd_db *db, int64_t now_s, sd_schedule_list *out, dp_err *err);
/* The schedule's last slot (*found = 0: deleted). */
int sd_store_schedule_last_slot(sd_db *db, int64_t id, int64_t *last, int *found, dp_err *err);
/* Move the schedule on from last_was to (last, next), only if nobody else did. */
int sd_store_schedule_advance(sd_db *db, int64_t id, int64_t last_was, int64_t last, int64_t next, dp_err *err);
/* The earliest next slot of the schedules of (app, env); 0 when none. */
int sd_store_schedule_next_slot(sd_db *db, int64_t app, const char *env, int64_t *next, dp_err *err);

#endif
