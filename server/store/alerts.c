/* alerts.c - alert state (see alerts.h). */
#include "store/alerts.h"

#include "store/rows.h"

int sd_store_alert_insert(sd_db *db, const char *kind, const char *ref, const char *payload, int64_t now,
                          int64_t next_try, dp_err *err)
{
    return sd_q(db, NULL, err,
                "INSERT INTO alerts (kind, ref, payload, created_at, attempts, next_try) VALUES (?, ?, ?, ?, 0, ?)"
                " ON CONFLICT (kind, ref) DO NOTHING",
                "sssii", kind, ref, payload, now, next_try);
}

int sd_store_alert_exists(sd_db *db, const char *kind, const char *ref, int *yes, dp_err *err)
{
    sd_res r;
    int rc = sd_q(db, &r, err, "SELECT 1 FROM alerts WHERE kind = ? AND ref = ?", "ss", kind, ref);
    if (!rc) {
        *yes = r.rows > 0;
        sd_res_free(&r);
    }
    return rc;
}

int sd_store_alert_failed_backups(sd_db *db, int64_t since, sd_failed_list *out, dp_err *err)
{
    int rc;
    out->v = sd_rows(db, &out->res_, sizeof *out->v, &out->n, &rc, err,
                     "SELECT b.id, a.name, b.env, d.dkey, b.error_code, b.error_message, b.finished_at FROM backups b"
                     " JOIN apps a ON a.id = b.app_id LEFT JOIN dbs d ON d.id = b.db_id WHERE b.status = 'failed'"
                     " AND b.finished_at > ? ORDER BY b.id",
                     "i", since);
    for (int i = 0; i < out->n; i++) {
        const sd_res *r = &out->res_;
        out->v[i] = (sd_failed_row){.backup = sd_geti(r, i, 0),
                                         .app = sd_get(r, i, 1),
                                         .env = sd_get(r, i, 2),
                                         .db_key = sd_get(r, i, 3),
                                         .error_code = sd_get(r, i, 4),
                                         .error_message = sd_get(r, i, 5),
                                         .finished_at = sd_geti(r, i, 6)};
    }
    return rc;
}

int sd_store_alert_staleness(sd_db *db, sd_staleness_list *out, dp_err *err)
{
    int rc;
    out->v = sd_rows(db, &out->res_, sizeof *out->v, &out->n, &rc, err,
                     "SELECT d.id, a.name, d.env, d.dkey, d.updated_at,"
                     " (SELECT MAX(b.id) FROM backups b WHERE b.db_id = d.id AND b.status = 'good'),"
                     " (SELECT MAX(b.finished_at) FROM backups b WHERE b.db_id = d.id AND b.status = 'good'),"
                     " (SELECT MIN(b.created_at) FROM backups b WHERE b.db_id = d.id)"
                     " FROM dbs d JOIN apps a ON a.id = d.app_id ORDER BY d.id",
                     "");
    for (int i = 0; i < out->n; i++) {
        const sd_res *r = &out->res_;
        out->v[i] = (sd_staleness_row){.db_id = sd_geti(r, i, 0),
                                       .app = sd_get(r, i, 1),
                                       .env = sd_get(r, i, 2),
                                       .db_key = sd_get(r, i, 3),
                                       .known_at = sd_geti(r, i, 4),
                                       .newest_good = sd_geti(r, i, 5),
                                       .has_good = sd_get(r, i, 6) != NULL,
                                       .last_good_at = sd_geti(r, i, 6),
                                       .has_attempt = sd_get(r, i, 7) != NULL,
                                       .first_attempt = sd_geti(r, i, 7)};
    }
    return rc;
}

static void alert_rows(sd_alert_list *out)
{
    for (int i = 0; i < out->n; i++) {
        const sd_res *r = &out->res_;
        out->v[i] = (sd_alert_row){.id = sd_geti(r, i, 0),
                                   .kind = sd_get(r, i, 1),
                                   .ref = sd_get(r, i, 2),
                                   .payload = sd_get(r, i, 3),
                                   .attempts = sd_geti(r, i, 4),
                                   .next_try = sd_geti(r, i, 5)};
    }
}

int sd_store_alert_open_stale(sd_db *db, sd_alert_list *out, dp_err *err)
{
    int rc;
    out->v = sd_rows(db, &out->res_, sizeof *out->v, &out->n, &rc, err,
                     "SELECT s.id, s.kind, s.ref, s.payload, s.attempts, s.next_try FROM alerts s WHERE"
                     " s.kind = 'backup_stale' AND NOT EXISTS (SELECT 1 FROM alerts x WHERE"
                     " x.kind = 'backup_stale_resolved' AND x.ref = s.ref) ORDER BY s.id",
                     "");
    alert_rows(out);
    return rc;
}

int sd_store_alert_due(sd_db *db, int64_t now, int64_t max_attempts, int limit, sd_alert_list *out, dp_err *err)
{
    int rc;
    out->v = sd_rows(db, &out->res_, sizeof *out->v, &out->n, &rc, err,
                     "SELECT id, kind, ref, payload, attempts, next_try FROM alerts WHERE sent_at IS NULL AND attempts < ?"
                     " AND next_try <= ? ORDER BY id LIMIT ?",
                     "iii", max_attempts, now, (int64_t)limit);
    alert_rows(out);
    return rc;
}

int sd_store_alert_claim(sd_db *db, int64_t id, int64_t next_try, int64_t until, int *won, dp_err *err)
{
    sd_res r;
    int rc = sd_q(db, &r, err, "UPDATE alerts SET next_try = ? WHERE id = ? AND next_try = ? RETURNING id", "iii", until,
                  id, next_try);
    if (!rc) {
        *won = r.rows == 1;
        sd_res_free(&r);
    }
    return rc;
}

int sd_store_alert_sent(sd_db *db, int64_t id, int64_t attempts, int64_t now, dp_err *err)
{
    return sd_q(db, NULL, err, "UPDATE alerts SET sent_at = ?, attempts = ? WHERE id = ?", "iii", now, attempts, id);
}

int sd_store_alert_retry_later(sd_db *db, int64_t id, int64_t attempts, int64_t next_try, const char *why,
                               dp_err *err)
{
    return sd_q(db, NULL, err, "UPDATE alerts SET attempts = ?, next_try = ?, last_error = ? WHERE id = ?", "iisi",
                attempts, next_try, why, id);
}

int sd_store_alert_undelivered(sd_db *db, int64_t *n, dp_err *err)
{
    sd_res r;
    int rc = sd_q(db, &r, err, "SELECT COUNT(*) FROM alerts WHERE sent_at IS NULL", "");
    if (!rc) {
        *n = sd_geti(&r, 0, 0);
        sd_res_free(&r);
    }
    return rc;
}
