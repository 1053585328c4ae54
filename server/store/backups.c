/* backups.c - the backup catalog (see backups.h). */
#include "store/backups.h"

#include "core/util.h"
#include "store/rows.h"

int sd_store_backup_insert(sd_db *db, const sd_backup_new *b, int64_t *id, dp_err *err)
{
    sd_res r;
    int rc = sd_q(db, &r, err,
                  "INSERT INTO backups (app_id, env, db_id, job_id, agent_id, status, file_name, format, compression,"
                  " created_at) VALUES (?, ?, ?, ?, ?, 'running', '', ?, ?, ?) RETURNING id",
                  "isiiissi", b->app, b->env, b->db_id, b->job, b->agent, b->format, b->compression, b->now);
    if (!rc) {
        *id = sd_geti(&r, 0, 0);
        sd_res_free(&r);
    }
    if (!rc && b->encryption)
        rc = sd_q(db, NULL, err, "INSERT INTO backup_encryption (backup_id, encryption, recipients) VALUES (?, ?, ?)",
                  "iss", *id, b->encryption, b->recipients ? b->recipients : "");
    return rc;
}

int sd_store_backup_set_file_name(sd_db *db, int64_t id, const char *file_name, dp_err *err)
{
    return sd_q(db, NULL, err, "UPDATE backups SET file_name = ? WHERE id = ?", "si", file_name, id);
}

int sd_store_backup_job(sd_db *db, int64_t app, int64_t id, sd_backup_job *out, int *found, dp_err *err)
{
    sd_res r;
    int rc = sd_q(db, &r, err,
                  "SELECT b.status, j.state, b.job_id, j.backup_id, b.db_id, b.file_name, b.sha256, b.format,"
                  " b.compression, e.encryption, e.recipients FROM backups b JOIN jobs j ON j.id = b.job_id"
                  " LEFT JOIN backup_encryption e ON e.backup_id = b.id WHERE b.id = ? AND b.app_id = ?",
                  "ii", id, app);
    if (rc)
        return rc;
    *found = r.rows > 0;
    sd_cell_copy(out->status, sizeof out->status, sd_get(&r, 0, 0));
    sd_cell_copy(out->job_state, sizeof out->job_state, sd_get(&r, 0, 1));
    out->job_id = sd_geti(&r, 0, 2);
    out->job_backup_id = sd_geti(&r, 0, 3);
    out->db_id = sd_geti(&r, 0, 4);
    sd_cell_copy(out->file_name, sizeof out->file_name, sd_get(&r, 0, 5));
    sd_cell_copy(out->sha256, sizeof out->sha256, sd_get(&r, 0, 6));
    sd_cell_copy(out->format, sizeof out->format, sd_get(&r, 0, 7));
    sd_cell_copy(out->compression, sizeof out->compression, sd_get(&r, 0, 8));
    sd_cell_copy(out->encryption, sizeof out->encryption, sd_get(&r, 0, 9));
    sd_cell_copy(out->recipients, sizeof out->recipients, sd_get(&r, 0, 10));
    sd_res_free(&r);
    return 0;
}

int sd_store_backup_upload(sd_db *db, int64_t id, char **upload_id, char file_name[256], int *found, dp_err *err)
{
    sd_res r;
    *upload_id = NULL;
    int rc = sd_q(db, &r, err, "SELECT upload_id, file_name FROM backups WHERE id = ?", "i", id);
    if (rc)
        return rc;
    *found = r.rows > 0;
    if (sd_get(&r, 0, 0) && !(*upload_id = dp_strdup(sd_get(&r, 0, 0))))
        rc = dp_err_set(err, DUMPER_ENOMEM, "out of memory");
    sd_cell_copy(file_name, 256, sd_get(&r, 0, 1));
    sd_res_free(&r);
    return rc;
}

int sd_store_backup_set_upload(sd_db *db, int64_t id, const char *upload_id, int *won, dp_err *err)
{
    sd_res r;
    int rc = sd_q(db, &r, err, "UPDATE backups SET upload_id = ? WHERE id = ? AND upload_id IS NULL RETURNING id", "si",
                  upload_id, id);
    if (!rc) {
        *won = r.rows == 1;
        sd_res_free(&r);
    }
    return rc;
}

int sd_store_backup_good(sd_db *db, int64_t id, const sd_backup_done *d, dp_err *err)
{
    return sd_q(db, NULL, err,
                "UPDATE backups SET status = 'good', size = ?, sha256 = ?, duration_ms = ?, raw_size = ?, finished_at = ?"
                " WHERE id = ?",
                "isiiii", d->size, d->sha256, d->duration_ms, d->raw_size, d->now, id);
}

int sd_store_backup_failed(sd_db *db, int64_t id, const char *code, const char *message, int64_t now, dp_err *err)
{
    return sd_q(db, NULL, err,
                "UPDATE backups SET status = 'failed', error_code = ?, error_message = ?, finished_at = ? WHERE id = ?",
                "ssii", code, message, now, id);
}

int sd_store_backup_lost(sd_db *db, int64_t id, int64_t now, dp_err *err)
{
    return sd_q(db, NULL, err,
                "UPDATE backups SET status = 'failed', error_code = 'lost', error_message = 'the job process"
                " neither committed nor failed within the job lease', finished_at = ? WHERE id = ?"
                " AND status = 'running'",
                "ii", now, id);
}

int sd_store_backup_mark_deleted(sd_db *db, int64_t id, int *changed, dp_err *err)
{
    sd_res r;
    int rc = sd_q(db, &r, err, "UPDATE backups SET status = 'deleted' WHERE id = ? AND status = 'good' RETURNING id",
                  "i", id);
    if (!rc) {
        *changed = r.rows > 0;
        sd_res_free(&r);
    }
    return rc;
}

#define BACKUP_ENC_JOIN " LEFT JOIN backup_encryption e ON e.backup_id = b.id"
#define BACKUP_COLS                                                                                                    \
    "b.id, b.db_id, d.dkey, b.env, b.status, b.file_name, b.size, b.sha256, b.duration_ms, b.created_at,"             \
    " b.finished_at, b.error_code, b.error_message, b.upload_id, e.encryption, e.recipients"

static void backup_rows(sd_backup_list *out)
{
    for (int i = 0; i < out->n; i++) {
        const sd_res *r = &out->res_;
        out->v[i] = (sd_backup_row){.id = sd_geti(r, i, 0),
                                    .db_id = sd_geti(r, i, 1),
                                    .db_key = sd_get(r, i, 2),
                                    .env = sd_get(r, i, 3),
                                    .status = sd_get(r, i, 4),
                                    .file_name = sd_get(r, i, 5),
                                    .has_size = sd_get(r, i, 6) != NULL,
                                    .size = sd_geti(r, i, 6),
                                    .sha256 = sd_get(r, i, 7),
                                    .has_duration = sd_get(r, i, 8) != NULL,
                                    .duration_ms = sd_geti(r, i, 8),
                                    .created_at = sd_geti(r, i, 9),
                                    .finished_at = sd_geti(r, i, 10),
                                    .error_code = sd_get(r, i, 11),
                                    .error_message = sd_get(r, i, 12),
                                    .upload_id = sd_get(r, i, 13),
                                    .encryption = sd_get(r, i, 14),
                                    .recipients = sd_get(r, i, 15)};
    }
}

int sd_store_backup_list(sd_db *db, int64_t app, int64_t db_id, int limit, sd_backup_list *out, dp_err *err)
{
    int rc;
    out->v = sd_rows(db, &out->res_, sizeof *out->v, &out->n, &rc, err,
                     "SELECT " BACKUP_COLS " FROM backups b LEFT JOIN dbs d ON d.id = b.db_id" BACKUP_ENC_JOIN " WHERE b.app_id = ?"
                     " AND (? = 0 OR b.db_id = ?) ORDER BY b.created_at DESC, b.id DESC LIMIT ?",
                     "iiii", app, db_id, db_id, (int64_t)limit);
    backup_rows(out);
    return rc;
}

int sd_store_backup_get(sd_db *db, int64_t app, int64_t id, sd_backup_list *out, dp_err *err)
{
    int rc;
    out->v = sd_rows(db, &out->res_, sizeof *out->v, &out->n, &rc, err,
                     "SELECT " BACKUP_COLS " FROM backups b LEFT JOIN dbs d ON d.id = b.db_id" BACKUP_ENC_JOIN " WHERE b.id = ?"
                     " AND b.app_id = ?",
                     "ii", id, app);
    backup_rows(out);
    return rc;
}

int sd_store_backup_good_of_database(sd_db *db, int64_t app, int64_t db_id, sd_backup_list *out, dp_err *err)
{
    int rc;
    out->v = sd_rows(db, &out->res_, sizeof *out->v, &out->n, &rc, err,
                     "SELECT id, file_name, created_at FROM backups WHERE app_id = ? AND db_id = ? AND status = 'good'"
                     " ORDER BY created_at DESC, id DESC",
                     "ii", app, db_id);
    for (int i = 0; i < out->n; i++)
        out->v[i] = (sd_backup_row){.id = sd_geti(&out->res_, i, 0),
                                    .db_id = db_id,
                                    .file_name = sd_get(&out->res_, i, 1),
                                    .created_at = sd_geti(&out->res_, i, 2),
                                    .status = "good"};
    return rc;
}

int sd_store_backup_live_of_app(sd_db *db, int64_t app, sd_backup_list *out, dp_err *err)
{
    int rc;
    out->v = sd_rows(db, &out->res_, sizeof *out->v, &out->n, &rc, err,
                     "SELECT id, file_name, status, upload_id FROM backups WHERE app_id = ? AND status IN ('good',"
                     " 'running') ORDER BY id",
                     "i", app);
    for (int i = 0; i < out->n; i++)
        out->v[i] = (sd_backup_row){.id = sd_geti(&out->res_, i, 0),
                                    .file_name = sd_get(&out->res_, i, 1),
                                    .status = sd_get(&out->res_, i, 2),
                                    .upload_id = sd_get(&out->res_, i, 3)};
    return rc;
}

int sd_store_backup_newest_good_after(sd_db *db, int64_t db_id, int64_t after, int64_t *id, int64_t *finished_at,
                                      int *found, dp_err *err)
{
    sd_res r;
    int rc = sd_q(db, &r, err,
                  "SELECT b.id, b.finished_at FROM backups b WHERE b.db_id = ? AND b.status = 'good' AND b.id > ?"
                  " ORDER BY b.id DESC LIMIT 1",
                  "ii", db_id, after);
    if (!rc) {
        *found = r.rows > 0;
        *id = sd_geti(&r, 0, 0);
        *finished_at = sd_geti(&r, 0, 1);
        sd_res_free(&r);
    }
    return rc;
}

int sd_store_backup_page(sd_db *db, int64_t app, const sd_backup_filter *f, sd_backup_list *out, dp_err *err)
{
    int rc;
    out->v = sd_rows(db, &out->res_, sizeof *out->v, &out->n, &rc, err,
                     "SELECT " BACKUP_COLS " FROM backups b LEFT JOIN dbs d ON d.id = b.db_id" BACKUP_ENC_JOIN " WHERE b.app_id = ?"
                     " AND (? = 0 OR b.id < ?) AND (? = '' OR b.status = ?) AND (? = '' OR b.env = ?)"
                     " AND (? = '' OR d.dkey = ?) ORDER BY b.id DESC LIMIT ?",
                     "iiissssssi", app, f->before, f->before, f->status ? f->status : "", f->status ? f->status : "",
                     f->env ? f->env : "", f->env ? f->env : "", f->db_key ? f->db_key : "",
                     f->db_key ? f->db_key : "", (int64_t)f->limit);
    backup_rows(out);
    return rc;
}
