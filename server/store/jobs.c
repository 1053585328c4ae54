/* jobs.c - jobs and their states (see jobs.h). */
#include "store/jobs.h"

#include <string.h>

#include "store/rows.h"

int sd_store_job_insert_manual(sd_db *db, int64_t app, const char *env, int64_t db_id, int64_t now, int64_t *id,
                               dp_err *err)
{
    sd_res r;
    int rc = sd_q(db, &r, err,
                  "INSERT INTO jobs (app_id, env, db_id, schedule_id, slot, reason, state, attempt, created_at,"
                  " updated_at) VALUES (?, ?, ?, 0, 0, 'manual', 'pending', 1, ?, ?) RETURNING id",
                  "isiii", app, env, db_id, now, now);
    if (!rc) {
        if (id)
            *id = sd_geti(&r, 0, 0);
        sd_res_free(&r);
    }
    return rc;
}

int sd_store_job_insert_slot(sd_db *db, int64_t app, const char *env, int64_t db_id, int64_t schedule, int64_t slot,
                             int64_t now, dp_err *err)
{
    return sd_q(db, NULL, err,
                "INSERT INTO jobs (app_id, env, db_id, schedule_id, slot, reason, state, attempt, created_at,"
                " updated_at) VALUES (?, ?, ?, ?, ?, 'schedule', 'pending', 1, ?, ?)"
                " ON CONFLICT (schedule_id, slot, db_id) WHERE schedule_id > 0 DO NOTHING",
                "isiiiii", app, env, db_id, schedule, slot, now, now);
}

int sd_store_job_pending(sd_db *db, int64_t app, const char *env, int64_t agent, int64_t *job, int *more,
                         dp_err *err)
{
    sd_res r;
    int rc = sd_q(db, &r, err,
                  "SELECT j.id FROM jobs j WHERE j.app_id = ? AND j.env = ? AND j.state = 'pending'"
                  " AND (j.kind = 'backup' OR EXISTS (SELECT 1 FROM agents a WHERE a.id = ? AND (a.caps & 1) = 1))"
                  " AND NOT EXISTS (SELECT 1 FROM jobs o WHERE o.db_id = j.db_id AND o.state = 'dispatched'"
                  " AND o.kind <> j.kind) ORDER BY j.id LIMIT 2",
                  "isi", app, env, agent);
    if (!rc) {
        *job = sd_geti(&r, 0, 0);
        *more = r.rows > 1;
        sd_res_free(&r);
    }
    return rc;
}

int sd_store_job_dispatch(sd_db *db, int64_t job, int64_t agent, int64_t lease_until, int64_t now, dp_err *err)
{
    return sd_q(db, NULL, err,
                "UPDATE jobs SET state = 'dispatched', agent_id = ?, lease_until = ?, updated_at = ? WHERE id = ?"
                " AND state = 'pending'",
                "iiii", agent, lease_until, now, job);
}

int sd_store_job_view(sd_db *db, int64_t job, sd_job_view *out, int *found, dp_err *err)
{
    sd_res r;
    int rc = sd_q(db, &r, err,
                  "SELECT j.id, j.db_id, d.dkey, d.type, j.reason, j.slot, j.attempt, j.lease_until, j.kind, dj.backup_id,"
                  " b.sha256, b.file_name FROM jobs j JOIN dbs d ON d.id = j.db_id LEFT JOIN drill_jobs dj ON dj.job_id = j.id"
                  " LEFT JOIN backups b ON b.id = dj.backup_id WHERE j.id = ?",
                  "i", job);
    if (rc)
        return rc;
    *found = r.rows > 0;
    out->id = sd_geti(&r, 0, 0);
    out->db_id = sd_geti(&r, 0, 1);
    sd_cell_copy(out->db_key, sizeof out->db_key, sd_get(&r, 0, 2));
    sd_cell_copy(out->type, sizeof out->type, sd_get(&r, 0, 3));
    sd_cell_copy(out->reason, sizeof out->reason, sd_get(&r, 0, 4));
    out->slot = sd_geti(&r, 0, 5);
    out->attempt = sd_geti(&r, 0, 6);
    out->lease_until = sd_geti(&r, 0, 7);
    sd_cell_copy(out->kind, sizeof out->kind, sd_get(&r, 0, 8));
    out->backup_id = sd_geti(&r, 0, 9);
    sd_cell_copy(out->sha256, sizeof out->sha256, sd_get(&r, 0, 10));
    sd_cell_copy(out->file_name, sizeof out->file_name, sd_get(&r, 0, 11));
    sd_res_free(&r);
    return 0;
}

int sd_store_job_for_prepare(sd_db *db, int64_t app, int64_t job, sd_job_prepare *out, int *found, dp_err *err)
{
    sd_res r;
    int rc = sd_q(db, &r, err,
                  "SELECT j.state, j.backup_id, j.env, d.dkey, a.name, j.db_id, b.status, b.file_name, j.agent_id FROM jobs j"
                  " JOIN dbs d ON d.id = j.db_id JOIN apps a ON a.id = j.app_id LEFT JOIN backups b ON b.id = j.backup_id"
                  " WHERE j.id = ? AND j.app_id = ? AND j.kind = 'backup'",
                  "ii", job, app);
    if (rc)
        return rc;
    *found = r.rows > 0;
    sd_cell_copy(out->state, sizeof out->state, sd_get(&r, 0, 0));
    out->backup_id = sd_geti(&r, 0, 1);
    sd_cell_copy(out->env, sizeof out->env, sd_get(&r, 0, 2));
    sd_cell_copy(out->db_key, sizeof out->db_key, sd_get(&r, 0, 3));
    sd_cell_copy(out->app_name, sizeof out->app_name, sd_get(&r, 0, 4));
    out->db_id = sd_geti(&r, 0, 5);
    sd_cell_copy(out->backup_status, sizeof out->backup_status, sd_get(&r, 0, 6));
    sd_cell_copy(out->file_name, sizeof out->file_name, sd_get(&r, 0, 7));
    out->agent = sd_geti(&r, 0, 8);
    sd_res_free(&r);
    return 0;
}

int sd_store_job_renew(sd_db *db, int64_t job, int64_t lease_until, int64_t now, dp_err *err)
{
    return sd_q(db, NULL, err, "UPDATE jobs SET lease_until = ?, updated_at = ? WHERE id = ?", "iii", lease_until, now,
                job);
}

int sd_store_job_attach_backup(sd_db *db, int64_t job, int64_t backup, int64_t lease_until, int64_t now, dp_err *err)
{
    return sd_q(db, NULL, err, "UPDATE jobs SET backup_id = ?, lease_until = ?, updated_at = ? WHERE id = ?", "iiii",
                backup, lease_until, now, job);
}

int sd_store_job_attempt(sd_db *db, int64_t job, int64_t *attempt, dp_err *err)
{
    sd_res r;
    int rc = sd_q(db, &r, err, "SELECT attempt FROM jobs WHERE id = ?", "i", job);
    if (!rc) {
        *attempt = sd_geti(&r, 0, 0);
        sd_res_free(&r);
    }
    return rc;
}

int sd_store_job_requeue(sd_db *db, int64_t job, int64_t now, dp_err *err)
{
    return sd_q(db, NULL, err,
                "UPDATE jobs SET state = 'pending', reason = 'retry', attempt = attempt + 1, agent_id = NULL,"
                " lease_until = NULL, backup_id = NULL, updated_at = ? WHERE id = ?",
                "ii", now, job);
}

int sd_store_job_finish(sd_db *db, int64_t job, const char *state, int64_t now, dp_err *err)
{
    return sd_q(db, NULL, err, "UPDATE jobs SET state = ?, updated_at = ? WHERE id = ?", "sii", state, now, job);
}

int sd_store_job_count_expired(sd_db *db, int64_t now, int64_t *n, dp_err *err)
{
    sd_res r;
    int rc = sd_q(db, &r, err, "SELECT COUNT(*) FROM jobs WHERE state = 'dispatched' AND lease_until < ?", "i", now);
    if (!rc) {
        *n = sd_geti(&r, 0, 0);
        sd_res_free(&r);
    }
    return rc;
}

int sd_store_job_expired(sd_db *db, int64_t now, int limit, sd_expired_list *out, dp_err *err)
{
    int rc;
    out->v = sd_rows(db, &out->res_, sizeof *out->v, &out->n, &rc, err,
                     "SELECT id, backup_id, kind FROM jobs WHERE state = 'dispatched' AND lease_until < ? LIMIT ?", "ii",
                     now, (int64_t)limit);
    for (int i = 0; i < out->n; i++) {
        const char *kind = sd_get(&out->res_, i, 2);
        out->v[i] = (sd_expired_job){sd_geti(&out->res_, i, 0), sd_geti(&out->res_, i, 1), kind && !strcmp(kind, "drill")};
    }
    return rc;
}

int sd_store_job_state(sd_db *db, int64_t app, int64_t job, sd_job_state *out, int *found, dp_err *err)
{
    sd_res r;
    int rc = sd_q(db, &r, err,
                  "SELECT j.id, j.db_id, j.attempt, j.backup_id, j.created_at, j.updated_at, j.env, d.dkey, j.reason,"
                  " j.state, b.status, b.error_code, b.error_message FROM jobs j LEFT JOIN dbs d ON d.id = j.db_id"
                  " LEFT JOIN backups b ON b.id = j.backup_id WHERE j.id = ? AND j.app_id = ?",
                  "ii", job, app);
    if (rc)
        return rc;
    *found = r.rows > 0;
    memset(out, 0, sizeof *out);
    if (*found) {
        out->id = sd_geti(&r, 0, 0);
        out->db_id = sd_geti(&r, 0, 1);
        out->attempt = sd_geti(&r, 0, 2);
        out->backup_id = sd_geti(&r, 0, 3);
        out->created_at = sd_geti(&r, 0, 4);
        out->updated_at = sd_geti(&r, 0, 5);
        sd_cell_copy(out->env, sizeof out->env, sd_get(&r, 0, 6));
        sd_cell_copy(out->db_key, sizeof out->db_key, sd_get(&r, 0, 7));
        sd_cell_copy(out->reason, sizeof out->reason, sd_get(&r, 0, 8));
        sd_cell_copy(out->state, sizeof out->state, sd_get(&r, 0, 9));
        sd_cell_copy(out->backup_status, sizeof out->backup_status, sd_get(&r, 0, 10));
        sd_cell_copy(out->error_code, sizeof out->error_code, sd_get(&r, 0, 11));
        sd_cell_copy(out->error_message, sizeof out->error_message, sd_get(&r, 0, 12));
    }
    sd_res_free(&r);
    return 0;
}

int sd_store_jobs_undeliver(sd_db *db, int64_t agent, int64_t now, dp_err *err)
{
    return sd_q(db, NULL, err,
                "UPDATE jobs SET state = 'pending', agent_id = NULL, lease_until = NULL, updated_at = ?"
                " WHERE agent_id = ? AND state = 'dispatched' AND backup_id IS NULL AND kind = 'backup'",
                "ii", now, agent);
}
