/* apps.c - apps, their keys and retention (see apps.h). */
#include "store/apps.h"

#include "store/rows.h"

int sd_store_app_insert(sd_db *db, const char *name, const char *key_hash, int64_t now, int64_t *id, dp_err *err)
{
    sd_res r;
    int rc = sd_q(db, &r, err, "INSERT INTO apps (name, key_hash, created_at) VALUES (?, ?, ?) RETURNING id", "ssi",
                  name, key_hash, now);
    if (!rc) {
        *id = sd_geti(&r, 0, 0);
        sd_res_free(&r);
    }
    return rc;
}

int sd_store_app_id(sd_db *db, const char *name, int64_t *id, dp_err *err)
{
    sd_res r;
    int rc = sd_q(db, &r, err, "SELECT id FROM apps WHERE name = ?", "s", name);
    if (!rc) {
        *id = sd_geti(&r, 0, 0);
        sd_res_free(&r);
    }
    return rc;
}

int sd_store_app_by_key(sd_db *db, const char *key_hash, int64_t *id, char stored[65], dp_err *err)
{
    sd_res r;
    int rc = sd_q(db, &r, err, "SELECT id, key_hash FROM apps WHERE key_hash = ?", "s", key_hash);
    if (!rc) {
        *id = r.rows == 1 ? sd_geti(&r, 0, 0) : 0;
        sd_cell_copy(stored, 65, r.rows == 1 ? sd_get(&r, 0, 1) : NULL);
        sd_res_free(&r);
    }
    return rc;
}

int sd_store_app_set_key(sd_db *db, int64_t id, const char *key_hash, int *found, dp_err *err)
{
    sd_res r;
    int rc = sd_q(db, &r, err, "UPDATE apps SET key_hash = ? WHERE id = ? RETURNING id", "si", key_hash, id);
    if (!rc) {
        *found = r.rows == 1;
        sd_res_free(&r);
    }
    return rc;
}

int sd_store_app_set_retention(sd_db *db, int64_t id, const sd_retention *p, dp_err *err)
{
    return sd_q(db, NULL, err,
                "UPDATE apps SET keep_last = ?, keep_daily = ?, keep_weekly = ?, keep_monthly = ? WHERE id = ?", "iiiii",
                p->keep_last, p->daily, p->weekly, p->monthly, id);
}

static void app_cols(const sd_res *r, int i, sd_app_row *a)
{
    a->id = sd_geti(r, i, 0);
    a->name = sd_get(r, i, 1);
    a->created_at = sd_geti(r, i, 2);
    a->retention = (sd_retention){sd_geti(r, i, 3), sd_geti(r, i, 4), sd_geti(r, i, 5), sd_geti(r, i, 6)};
}

#define APP_COLS "a.id, a.name, a.created_at, a.keep_last, a.keep_daily, a.keep_weekly, a.keep_monthly"

int sd_store_app_get(sd_db *db, int64_t id, sd_app_list *out, dp_err *err)
{
    int rc;
    out->v = sd_rows(db, &out->res_, sizeof *out->v, &out->n, &rc, err, "SELECT " APP_COLS " FROM apps a WHERE a.id = ?",
                     "i", id);
    for (int i = 0; i < out->n; i++)
        app_cols(&out->res_, i, &out->v[i]);
    return rc;
}

int sd_store_app_list(sd_db *db, sd_app_list *out, dp_err *err)
{
    int rc;
    out->v = sd_rows(db, &out->res_, sizeof *out->v, &out->n, &rc, err,
                     "SELECT " APP_COLS ", (SELECT COUNT(*) FROM agents g WHERE g.app_id = a.id),"
                     " (SELECT COUNT(*) FROM dbs d WHERE d.app_id = a.id),"
                     " (SELECT COUNT(*) FROM backups b WHERE b.app_id = a.id AND b.status = 'failed'),"
                     " (SELECT MAX(b.finished_at) FROM backups b WHERE b.app_id = a.id AND b.status = 'good')"
                     " FROM apps a ORDER BY a.name",
                     "");
    for (int i = 0; i < out->n; i++) {
        sd_app_row *a = &out->v[i];
        app_cols(&out->res_, i, a);
        a->agents = sd_geti(&out->res_, i, 7);
        a->databases = sd_geti(&out->res_, i, 8);
        a->failed = sd_geti(&out->res_, i, 9);
        a->has_last_good = sd_get(&out->res_, i, 10) != NULL;
        a->last_good_at = sd_geti(&out->res_, i, 10);
    }
    return rc;
}

#define Q(...)                                                                                                         \
    do {                                                                                                               \
        int q_rc_ = sd_q(db, NULL, err, __VA_ARGS__);                                                                  \
        if (q_rc_)                                                                                                     \
            return q_rc_;                                                                                              \
    } while (0)

int sd_store_app_delete(sd_db *db, int64_t id, dp_err *err)
{
    /* Alerts name backups and databases by id (domain/alert_rules.h: "b_<id>", "d_<id>:..."); SQLite may reuse
     * the ids of deleted rows. */
    Q("DELETE FROM alerts WHERE ref IN (SELECT 'b_' || id FROM backups WHERE app_id = ?)", "i", id);
    Q("DELETE FROM alerts WHERE EXISTS (SELECT 1 FROM dbs d WHERE d.app_id = ? AND"
      " substr(alerts.ref, 1, length('d_' || d.id || ':')) = 'd_' || d.id || ':')",
      "i", id);
    /* drill results (issue 15) and their alerts: "r_<drill id>", "v_<database id>:..." */
    Q("DELETE FROM alerts WHERE ref IN (SELECT 'r_' || id FROM drill_results WHERE app_id = ?)", "i", id);
    Q("DELETE FROM alerts WHERE EXISTS (SELECT 1 FROM dbs d WHERE d.app_id = ? AND"
      " substr(alerts.ref, 1, length('v_' || d.id || ':')) = 'v_' || d.id || ':')",
      "i", id);
    Q("DELETE FROM drill_results WHERE app_id = ?", "i", id);
    Q("DELETE FROM app_drill_alerts WHERE app_id = ?", "i", id);
    Q("DELETE FROM copies WHERE backup_id IN (SELECT id FROM backups WHERE app_id = ?)", "i", id);
    Q("DELETE FROM backup_encryption WHERE backup_id IN (SELECT id FROM backups WHERE app_id = ?)", "i", id);
    Q("DELETE FROM backups WHERE app_id = ?", "i", id);
    Q("DELETE FROM drill_jobs WHERE job_id IN (SELECT id FROM jobs WHERE app_id = ?)", "i", id);
    Q("DELETE FROM jobs WHERE app_id = ?", "i", id);
    Q("DELETE FROM drill_policies WHERE app_id = ?", "i", id);
    Q("DELETE FROM schedules WHERE app_id = ?", "i", id);
    Q("DELETE FROM primaries WHERE app_id = ?", "i", id);
    Q("DELETE FROM agents WHERE app_id = ?", "i", id);
    Q("DELETE FROM dbs WHERE app_id = ?", "i", id);
    Q("DELETE FROM api_tokens WHERE app_id = ?", "i", id);
    Q("DELETE FROM app_job_policy WHERE app_id = ?", "i", id);
    Q("DELETE FROM apps WHERE id = ?", "i", id);
    return 0;
}
