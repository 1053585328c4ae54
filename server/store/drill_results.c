/* drill_results.c - the drill_results table (see drill_results.h). */
#include "store/drill_results.h"

#include "store/rows.h"

int sd_store_drill_insert(sd_db *db, const sd_drill_new *r, int64_t *id, dp_err *err)
{
    /* tables and rows are NULL when the drill did not get that far: numbers as text (NULL-able) */
    char tables[24], rows[24];
    snprintf(tables, sizeof tables, "%lld", (long long)r->tables);
    snprintf(rows, sizeof rows, "%lld", (long long)r->rows);
    sd_res res;
    int rc = sd_q(db, &res, err,
                  "INSERT INTO drill_results (app_id, env, db_id, backup_id, job_id, agent_id, status, error, started_at,"
                  " finished_at, duration_ms, restore_ms, backup_ms, compared, table_count, row_count, mismatch_count,"
                  " mismatches, checks, source_type, target, scratch_server_version, source_server_version,"
                  " schema_migration) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                  " RETURNING id",
                  "isiiiissiiiiiississsssss", r->app, r->env, r->db_id, r->backup, r->job, r->agent, r->status,
                  r->error, r->started_at, r->finished_at, r->duration_ms, r->restore_ms, r->backup_ms,
                  (int64_t)(r->compared != 0), r->has_figures ? tables : NULL, r->has_figures ? rows : NULL,
                  r->mismatch_count, r->mismatches, r->checks, r->source_type, r->target, r->scratch_server_version,
                  r->source_server_version, r->schema_migration);
    if (rc)
        return rc;
    *id = sd_geti(&res, 0, 0);
    sd_res_free(&res);
    return 0;
}

#define DRILL_COLS                                                                                                     \
    "r.id, r.db_id, r.backup_id, r.job_id, r.agent_id, r.env, d.dkey, r.status, r.error, r.started_at,"              \
    " r.finished_at, r.duration_ms, r.restore_ms, r.backup_ms, r.compared, r.table_count, r.row_count,"               \
    " r.mismatch_count, r.mismatches, r.checks, r.source_type, r.target, r.scratch_server_version,"                   \
    " r.source_server_version, r.schema_migration"

static void drill_rows(sd_drill_list *out)
{
    const sd_res *r = &out->res_;
    for (int i = 0; i < out->n; i++)
        out->v[i] = (sd_drill_row){.id = sd_geti(r, i, 0),
                                   .db_id = sd_geti(r, i, 1),
                                   .backup_id = sd_geti(r, i, 2),
                                   .job_id = sd_geti(r, i, 3),
                                   .agent_id = sd_geti(r, i, 4),
                                   .env = sd_get(r, i, 5),
                                   .db_key = sd_get(r, i, 6),
                                   .status = sd_get(r, i, 7),
                                   .error = sd_get(r, i, 8),
                                   .started_at = sd_geti(r, i, 9),
                                   .finished_at = sd_geti(r, i, 10),
                                   .duration_ms = sd_geti(r, i, 11),
                                   .restore_ms = sd_geti(r, i, 12),
                                   .backup_ms = sd_geti(r, i, 13),
                                   .compared = sd_geti(r, i, 14) != 0,
                                   .has_figures = sd_get(r, i, 15) != NULL,
                                   .tables = sd_geti(r, i, 15),
                                   .rows = sd_geti(r, i, 16),
                                   .mismatch_count = sd_geti(r, i, 17),
                                   .mismatches = sd_get(r, i, 18),
                                   .checks = sd_get(r, i, 19),
                                   .source_type = sd_get(r, i, 20),
                                   .target = sd_get(r, i, 21),
                                   .scratch_server_version = sd_get(r, i, 22),
                                   .source_server_version = sd_get(r, i, 23),
                                   .schema_migration = sd_get(r, i, 24)};
}

int sd_store_drill_of_backup(sd_db *db, int64_t app, int64_t backup, int limit, sd_drill_list *out, dp_err *err)
{
    int rc;
    out->v = sd_rows(db, &out->res_, sizeof *out->v, &out->n, &rc, err,
                     "SELECT " DRILL_COLS " FROM drill_results r LEFT JOIN dbs d ON d.id = r.db_id"
                     " WHERE r.backup_id = ? AND r.app_id = ? ORDER BY r.id DESC LIMIT ?",
                     "iii", backup, app, (int64_t)limit);
    drill_rows(out);
    return rc;
}

int sd_store_drill_latest_of_app(sd_db *db, int64_t app, sd_drill_list *out, dp_err *err)
{
    int rc;
    out->v = sd_rows(db, &out->res_, sizeof *out->v, &out->n, &rc, err,
                     "SELECT " DRILL_COLS " FROM drill_results r LEFT JOIN dbs d ON d.id = r.db_id"
                     " WHERE r.id IN (SELECT MAX(id) FROM drill_results WHERE app_id = ? GROUP BY backup_id)",
                     "i", app);
    drill_rows(out);
    return rc;
}

/* Per database; the correlated subqueries use drill_results_db (app, env, db, status, finished). */
#define OF_DB "r.app_id = d.app_id AND r.env = d.env AND r.db_id = d.id"

int sd_store_drill_databases(sd_db *db, int64_t app, sd_drill_db_list *out, dp_err *err)
{
    int rc;
    out->v = sd_rows(
        db, &out->res_, sizeof *out->v, &out->n, &rc, err,
        "SELECT a.id, d.id, a.name, d.env, d.dkey,"
        " (SELECT MAX(r.finished_at) FROM drill_results r WHERE " OF_DB " AND r.status = 'passed'),"
        " (SELECT MAX(r.id) FROM drill_results r WHERE " OF_DB " AND r.status = 'passed'),"
        " (SELECT COUNT(*) FROM drill_results r WHERE " OF_DB " AND r.status <> 'passed'),"
        " (SELECT COUNT(*) FROM drill_results r WHERE " OF_DB "),"
        " (SELECT r.status FROM drill_results r WHERE " OF_DB " ORDER BY r.id DESC LIMIT 1),"
        " (SELECT r.finished_at FROM drill_results r WHERE " OF_DB " ORDER BY r.id DESC LIMIT 1),"
        " (SELECT MAX(r.id) FROM drill_results r WHERE " OF_DB "),"
        " (SELECT MIN(COALESCE(b.finished_at, b.created_at)) FROM backups b WHERE b.app_id = d.app_id"
        " AND b.db_id = d.id AND b.status = 'good'), COALESCE(p.max_age_s, 0)"
        " FROM dbs d JOIN apps a ON a.id = d.app_id LEFT JOIN app_drill_alerts p ON p.app_id = a.id"
        " WHERE (? = 0 OR a.id = ?) ORDER BY a.name, d.env, d.dkey",
        "ii", app, app);
    const sd_res *r = &out->res_;
    for (int i = 0; i < out->n; i++)
        out->v[i] = (sd_drill_db_row){.app_id = sd_geti(r, i, 0),
                                      .db_id = sd_geti(r, i, 1),
                                      .app = sd_get(r, i, 2),
                                      .env = sd_get(r, i, 3),
                                      .db_key = sd_get(r, i, 4),
                                      .has_passed = sd_get(r, i, 5) != NULL,
                                      .last_passed_at = sd_geti(r, i, 5),
                                      .last_passed_id = sd_geti(r, i, 6),
                                      .failures = sd_geti(r, i, 7),
                                      .drills = sd_geti(r, i, 8),
                                      .latest_status = sd_get(r, i, 9),
                                      .latest_at = sd_geti(r, i, 10),
                                      .latest_id = sd_geti(r, i, 11),
                                      .has_good = sd_get(r, i, 12) != NULL,
                                      .first_good_at = sd_geti(r, i, 12),
                                      .max_age_s = sd_geti(r, i, 13)};
    return rc;
}

int sd_store_drill_max_age_get(sd_db *db, int64_t app, int64_t *max_age_s, dp_err *err)
{
    sd_res r;
    int rc = sd_q(db, &r, err, "SELECT max_age_s FROM app_drill_alerts WHERE app_id = ?", "i", app);
    if (rc)
        return rc;
    *max_age_s = r.rows ? sd_geti(&r, 0, 0) : 0;
    sd_res_free(&r);
    return 0;
}

int sd_store_drill_max_age_put(sd_db *db, int64_t app, int64_t max_age_s, dp_err *err)
{
    return sd_q(db, NULL, err,
                "INSERT INTO app_drill_alerts (app_id, max_age_s) VALUES (?, ?)"
                " ON CONFLICT (app_id) DO UPDATE SET max_age_s = excluded.max_age_s",
                "ii", app, max_age_s);
}

int sd_store_drill_open_overdue(sd_db *db, sd_alert_list *out, dp_err *err)
{
    int rc;
    out->v = sd_rows(db, &out->res_, sizeof *out->v, &out->n, &rc, err,
                     "SELECT s.id, s.kind, s.ref, s.payload, s.attempts, s.next_try FROM alerts s WHERE"
                     " s.kind = 'drill_overdue' AND NOT EXISTS (SELECT 1 FROM alerts x WHERE"
                     " x.kind = 'drill_overdue_resolved' AND x.ref = s.ref) ORDER BY s.id",
                     "");
    for (int i = 0; i < out->n; i++)
        out->v[i] = (sd_alert_row){.id = sd_geti(&out->res_, i, 0),
                                   .kind = sd_get(&out->res_, i, 1),
                                   .ref = sd_get(&out->res_, i, 2),
                                   .payload = sd_get(&out->res_, i, 3),
                                   .attempts = sd_geti(&out->res_, i, 4),
                                   .next_try = sd_geti(&out->res_, i, 5)};
    return rc;
}
