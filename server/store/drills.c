/* drills.c - drill policies and drill jobs (see drills.h). */
#include "store/drills.h"

#include <string.h>

#include "domain/drill.h"
#include "store/rows.h"

#define POLICY_COLS                                                                                                    \
    "p.id, p.app_id, p.env, p.db_id, d.dkey, p.mode, p.cron, p.tz, p.last_slot, p.next_slot FROM drill_policies p"   \
    " LEFT JOIN dbs d ON d.id = p.db_id"

static void policy_rows(sd_drill_policy_list *l)
{
    for (int i = 0; i < l->n; i++) {
        sd_drill_policy_row *p = &l->v[i];
        p->id = sd_geti(&l->res_, i, 0);
        p->app = sd_geti(&l->res_, i, 1);
        p->env = sd_get(&l->res_, i, 2);
        p->db_id = sd_geti(&l->res_, i, 3);
        p->db_key = sd_get(&l->res_, i, 4);
        p->mode = sd_drill_mode_parse(sd_get(&l->res_, i, 5));
        p->cron = sd_get(&l->res_, i, 6);
        p->tz = sd_get(&l->res_, i, 7);
        p->last_slot = sd_geti(&l->res_, i, 8);
        p->next_slot = sd_geti(&l->res_, i, 9);
    }
}

int sd_store_drill_policy_set(sd_db *db, int64_t app, const char *env, int64_t db_id, int mode, const char *cron,
                              const char *tz, int64_t now, dp_err *err)
{
    const char *m = sd_drill_mode_name(mode);
    return sd_q(db, NULL, err,
                "INSERT INTO drill_policies (app_id, env, db_id, mode, cron, tz, last_slot, next_slot, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, 0, 0, ?) ON CONFLICT (app_id, env, db_id) DO UPDATE SET mode = excluded.mode,"
                " cron = excluded.cron, tz = excluded.tz, last_slot = 0, next_slot = 0",
                "isisssi", app, env, db_id, m ? m : "", cron ? cron : "", tz ? tz : "UTC", now);
}

int sd_store_drill_policy_remove(sd_db *db, int64_t app, const char *env, int64_t db_id, int *removed, dp_err *err)
{
    sd_res r;
    int rc = sd_q(db, &r, err, "DELETE FROM drill_policies WHERE app_id = ? AND env = ? AND db_id = ? RETURNING id",
                  "isi", app, env, db_id);
    if (!rc) {
        *removed = r.rows;
        sd_res_free(&r);
    }
    return rc;
}

int sd_store_drill_policy_list(sd_db *db, int64_t app, sd_drill_policy_list *out, dp_err *err)
{
    int rc;
    out->v = sd_rows(db, &out->res_, sizeof *out->v, &out->n, &rc, err,
                     "SELECT " POLICY_COLS " WHERE p.app_id = ? ORDER BY p.env, p.db_id", "i", app);
    policy_rows(out);
    return rc;
}

int sd_store_drill_policy_candidates(sd_db *db, int64_t app, int64_t db_id, sd_drill_policy_list *out, dp_err *err)
{
    int rc;
    out->v = sd_rows(db, &out->res_, sizeof *out->v, &out->n, &rc, err,
                     "SELECT " POLICY_COLS " WHERE p.app_id = ? AND p.env = (SELECT env FROM dbs WHERE id = ?)"
                     " AND p.db_id IN (0, ?) ORDER BY p.id",
                     "iii", app, db_id, db_id);
    policy_rows(out);
    return rc;
}

int sd_store_drill_policy_due(sd_db *db, int64_t now_s, sd_drill_policy_list *out, dp_err *err)
{
    int rc;
    out->v = sd_rows(db, &out->res_, sizeof *out->v, &out->n, &rc, err,
                     "SELECT " POLICY_COLS " WHERE p.mode = 'cron' AND p.next_slot <= ? ORDER BY p.id", "i", now_s);
    policy_rows(out);
    return rc;
}

int sd_store_drill_policy_last_slot(sd_db *db, int64_t id, int64_t *last, int *found, dp_err *err)
{
    sd_res r;
    int rc = sd_q(db, &r, err, "SELECT last_slot FROM drill_policies WHERE id = ?", "i", id);
    if (!rc) {
        *found = r.rows > 0;
        *last = sd_geti(&r, 0, 0);
        sd_res_free(&r);
    }
    return rc;
}

int sd_store_drill_policy_advance(sd_db *db, int64_t id, int64_t last_was, int64_t last, int64_t next, dp_err *err)
{
    return sd_q(db, NULL, err, "UPDATE drill_policies SET last_slot = ?, next_slot = ? WHERE id = ? AND last_slot = ?",
                "iiii", last, next, id, last_was);
}

int sd_store_drill_undrilled_dbs(sd_db *db, int64_t app, const char *env, sd_id_list *out, dp_err *err)
{
    int rc;
    out->v = sd_rows(db, &out->res_, sizeof *out->v, &out->n, &rc, err,
                     "SELECT id FROM dbs WHERE app_id = ? AND env = ? AND id NOT IN (SELECT db_id FROM drill_policies"
                     " WHERE app_id = ? AND env = ? AND db_id > 0) ORDER BY id",
                     "isis", app, env, app, env);
    for (int i = 0; i < out->n; i++)
        out->v[i] = sd_geti(&out->res_, i, 0);
    return rc;
}

int sd_store_drill_latest_good(sd_db *db, int64_t db_id, int64_t *backup, dp_err *err)
{
    sd_res r;
    int rc = sd_q(db, &r, err, "SELECT id FROM backups WHERE db_id = ? AND status = 'good' ORDER BY id DESC LIMIT 1",
                  "i", db_id);
    if (!rc) {
        *backup = sd_geti(&r, 0, 0);
        sd_res_free(&r);
    }
    return rc;
}

int sd_store_drill_job_open(sd_db *db, int64_t db_id, int64_t *job, int *pending, dp_err *err)
{
    sd_res r;
    int rc = sd_q(db, &r, err,
                  "SELECT id, state FROM jobs WHERE db_id = ? AND kind = 'drill' AND state IN ('pending', 'dispatched')"
                  " ORDER BY id LIMIT 1",
                  "i", db_id);
    if (!rc) {
        *job = sd_geti(&r, 0, 0);
        const char *s = sd_get(&r, 0, 1);
        *pending = s && !strcmp(s, "pending");
        sd_res_free(&r);
    }
    return rc;
}

int sd_store_drill_job_exists(sd_db *db, int64_t policy, int64_t slot, int64_t backup, int *yes, dp_err *err)
{
    sd_res r;
    int rc = sd_q(db, &r, err, "SELECT 1 FROM drill_jobs WHERE policy_id = ? AND slot = ? AND backup_id = ?", "iii",
                  policy, slot, backup);
    if (!rc) {
        *yes = r.rows > 0;
        sd_res_free(&r);
    }
    return rc;
}

int sd_store_drill_job_insert(sd_db *db, int64_t app, const char *env, int64_t db_id, int64_t backup, int64_t policy,
                              int64_t slot, const char *reason, int64_t now, int64_t *id, dp_err *err)
{
    sd_res r;
    int rc = sd_q(db, &r, err,
                  "INSERT INTO jobs (app_id, env, db_id, schedule_id, slot, reason, state, attempt, created_at,"
                  " updated_at, kind) VALUES (?, ?, ?, 0, ?, ?, 'pending', 1, ?, ?, 'drill') RETURNING id",
                  "isiisii", app, env, db_id, slot, reason, now, now);
    if (rc)
        return rc;
    *id = sd_geti(&r, 0, 0);
    sd_res_free(&r);
    return sd_q(db, NULL, err, "INSERT INTO drill_jobs (job_id, backup_id, policy_id, slot) VALUES (?, ?, ?, ?)", "iiii",
                *id, backup, policy, slot);
}

int sd_store_drill_job_retarget(sd_db *db, int64_t job, int64_t backup, int64_t now, dp_err *err)
{
    int rc = sd_q(db, NULL, err, "UPDATE drill_jobs SET backup_id = ? WHERE job_id = ?", "ii", backup, job);
    if (!rc)
        rc = sd_q(db, NULL, err, "UPDATE jobs SET updated_at = ? WHERE id = ?", "ii", now, job);
    return rc;
}

int sd_store_drill_job_get(sd_db *db, int64_t app, int64_t job, sd_drill_job_row *out, int *found, dp_err *err)
{
    sd_res r;
    int rc = sd_q(db, &r, err,
                  "SELECT j.id, j.db_id, dj.backup_id, j.agent_id, j.attempt, j.state, j.env FROM jobs j"
                  " JOIN drill_jobs dj ON dj.job_id = j.id WHERE j.id = ? AND j.app_id = ? AND j.kind = 'drill'",
                  "ii", job, app);
    if (rc)
        return rc;
    memset(out, 0, sizeof *out);
    *found = r.rows > 0;
    if (*found) {
        out->id = sd_geti(&r, 0, 0);
        out->db_id = sd_geti(&r, 0, 1);
        out->backup_id = sd_geti(&r, 0, 2);
        out->agent = sd_geti(&r, 0, 3);
        out->attempt = sd_geti(&r, 0, 4);
        sd_cell_copy(out->state, sizeof out->state, sd_get(&r, 0, 5));
        sd_cell_copy(out->env, sizeof out->env, sd_get(&r, 0, 6));
    }
    sd_res_free(&r);
    return 0;
}

int sd_store_drill_job_finish(sd_db *db, int64_t job, int64_t agent, int64_t now, int *done, dp_err *err)
{
    sd_res r;
    int rc = sd_q(db, &r, err,
                  "UPDATE jobs SET state = 'done', updated_at = ? WHERE id = ? AND kind = 'drill' AND state = 'dispatched'"
                  " AND agent_id = ? RETURNING id",
                  "iii", now, job, agent);
    if (!rc) {
        *done = r.rows > 0;
        sd_res_free(&r);
    }
    return rc;
}

int sd_store_job_is_drill(sd_db *db, int64_t job, int *drill, dp_err *err)
{
    sd_res r;
    int rc = sd_q(db, &r, err, "SELECT kind FROM jobs WHERE id = ?", "i", job);
    if (!rc) {
        const char *k = sd_get(&r, 0, 0);
        *drill = k && !strcmp(k, "drill");
        sd_res_free(&r);
    }
    return rc;
}

int sd_store_agent_set_caps(sd_db *db, int64_t agent, int64_t caps, dp_err *err)
{
    return sd_q(db, NULL, err, "UPDATE agents SET caps = ? WHERE id = ?", "ii", caps, agent);
}
