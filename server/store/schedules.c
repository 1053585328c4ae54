/* schedules.c - schedules and their slots (see schedules.h). */
#include "store/schedules.h"

#include "store/rows.h"

int sd_store_schedule_set(sd_db *db, int64_t app, const char *env, int64_t db_id, const char *cron, const char *tz,
                          dp_err *err)
{
    /* last_slot 0: the scheduler starts the schedule at its own "now" (which may be a test clock). */
    return sd_q(db, NULL, err,
                "INSERT INTO schedules (app_id, env, db_id, cron, tz, last_slot, next_slot) VALUES (?, ?, ?, ?, ?, 0, 0)"
                " ON CONFLICT (app_id, env, db_id) DO UPDATE SET cron = excluded.cron, tz = excluded.tz, last_slot = 0,"
                " next_slot = 0",
                "isiss", app, env, db_id, cron, tz);
}

#define SCHEDULE_COLS "s.id, s.app_id, s.env, s.db_id, d.dkey, s.cron, s.tz, s.last_slot"

static void schedule_rows(sd_schedule_list *out)
{
    for (int i = 0; i < out->n; i++) {
        const sd_res *r = &out->res_;
        out->v[i] = (sd_schedule_row){.id = sd_geti(r, i, 0),
                                      .app = sd_geti(r, i, 1),
                                      .env = sd_get(r, i, 2),
                                      .db_id = sd_geti(r, i, 3),
                                      .db_key = sd_get(r, i, 4),
                                      .cron = sd_get(r, i, 5),
                                      .tz = sd_get(r, i, 6),
                                      .last_slot = sd_geti(r, i, 7)};
    }
}

int sd_store_schedule_list(sd_db *db, int64_t app, sd_schedule_list *out, dp_err *err)
{
    int rc;
    out->v = sd_rows(db, &out->res_, sizeof *out->v, &out->n, &rc, err,
                     "SELECT " SCHEDULE_COLS " FROM schedules s LEFT JOIN dbs d ON d.id = s.db_id WHERE s.app_id = ?"
                     " ORDER BY s.env, s.db_id",
                     "i", app);
    schedule_rows(out);
    return rc;
}

int sd_store_schedule_due(sd_db *db, int64_t now_s, sd_schedule_list *out, dp_err *err)
{
    int rc;
    out->v = sd_rows(db, &out->res_, sizeof *out->v, &out->n, &rc, err,
                     "SELECT " SCHEDULE_COLS " FROM schedules s LEFT JOIN dbs d ON d.id = s.db_id"
                     " WHERE s.next_slot <= ? ORDER BY s.id",
                     "i", now_s);
    schedule_rows(out);
    return rc;
}

int sd_store_schedule_last_slot(sd_db *db, int64_t id, int64_t *last, int *found, dp_err *err)
{
    sd_res r;
    int rc = sd_q(db, &r, err, "SELECT last_slot FROM schedules WHERE id = ?", "i", id);
    if (!rc) {
        *found = r.rows > 0;
        *last = sd_geti(&r, 0, 0);
        sd_res_free(&r);
    }
    return rc;
}

int sd_store_schedule_advance(sd_db *db, int64_t id, int64_t last_was, int64_t last, int64_t next, dp_err *err)
{
    return sd_q(db, NULL, err, "UPDATE schedules SET last_slot = ?, next_slot = ? WHERE id = ? AND last_slot = ?",
                "iiii", last, next, id, last_was);
}

int sd_store_schedule_next_slot(sd_db *db, int64_t app, const char *env, int64_t *next, dp_err *err)
{
    sd_res r;
    int rc = sd_q(db, &r, err, "SELECT MIN(next_slot) FROM schedules WHERE app_id = ? AND env = ? AND next_slot > 0",
                  "is", app, env);
    if (!rc) {
        *next = sd_geti(&r, 0, 0);
        sd_res_free(&r);
    }
    return rc;
}
