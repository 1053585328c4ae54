/* storages.c - destinations and the copy catalog (see storages.h). */
#include "store/storages.h"

#include <string.h>

#include "store/rows.h"

int sd_store_storage_insert(sd_db *db, const sd_storage_row *s, int64_t now, int64_t *id, dp_err *err)
{
    sd_res r;
    int rc = sd_q(db, &r, err,
                  "INSERT INTO storages (name, location, endpoint, region, path_style, credentials_file, keep_last,"
                  " keep_daily, keep_weekly, keep_monthly, lock_mode, lock_days, created_at)"
                  " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                  "ssssisiiiisii", s->name, s->location, s->endpoint, s->region, s->path_style, s->credentials_file,
                  s->retention.keep_last, s->retention.daily, s->retention.weekly, s->retention.monthly, s->lock_mode,
                  s->lock_days, now);
    if (!rc) {
        *id = sd_geti(&r, 0, 0);
        sd_res_free(&r);
    }
    return rc;
}

int sd_store_storage_delete(sd_db *db, const char *name, int *found, dp_err *err)
{
    sd_res r;
    int rc = sd_q(db, &r, err, "DELETE FROM storages WHERE name = ? RETURNING id", "s", name);
    if (rc)
        return rc;
    *found = r.rows > 0;
    int64_t id = sd_geti(&r, 0, 0);
    sd_res_free(&r);
    return *found ? sd_q(db, NULL, err, "DELETE FROM copies WHERE storage_id = ?", "i", id) : 0;
}

#define STORAGE_COLS                                                                                                   \
    "s.id, s.name, s.location, s.endpoint, s.region, s.path_style, s.credentials_file, s.keep_last, s.keep_daily,"   \
    " s.keep_weekly, s.keep_monthly, s.lock_mode, s.lock_days, s.created_at"

static void storage_rows(sd_storage_list *out, int counts)
{
    const sd_res *r = &out->res_;
    for (int i = 0; i < out->n; i++) {
        out->v[i] = (sd_storage_row){.id = sd_geti(r, i, 0),
                                     .name = sd_get(r, i, 1),
                                     .location = sd_get(r, i, 2),
                                     .endpoint = sd_get(r, i, 3),
                                     .region = sd_get(r, i, 4),
                                     .path_style = sd_geti(r, i, 5),
                                     .credentials_file = sd_get(r, i, 6),
                                     .retention = {sd_geti(r, i, 7), sd_geti(r, i, 8), sd_geti(r, i, 9),
                                                   sd_geti(r, i, 10)},
                                     .lock_mode = sd_get(r, i, 11),
                                     .lock_days = sd_geti(r, i, 12),
                                     .created_at = sd_geti(r, i, 13)};
        if (counts) {
            out->v[i].pending = sd_geti(r, i, 14);
            out->v[i].good = sd_geti(r, i, 15);
            out->v[i].failed = sd_geti(r, i, 16);
        }
    }
}

int sd_store_storage_list(sd_db *db, const char *name, sd_storage_list *out, dp_err *err)
{
    int rc;
    out->v = sd_rows(db, &out->res_, sizeof *out->v, &out->n, &rc, err,
                     "SELECT " STORAGE_COLS ","
                     " (SELECT COUNT(*) FROM copies c WHERE c.storage_id = s.id AND c.state = 'pending'),"
                     " (SELECT COUNT(*) FROM copies c WHERE c.storage_id = s.id AND c.state = 'good'),"
                     " (SELECT COUNT(*) FROM copies c WHERE c.storage_id = s.id AND c.state = 'failed')"
                     " FROM storages s WHERE ? = '' OR s.name = ? ORDER BY s.id",
                     "ss", name ? name : "", name ? name : "");
    storage_rows(out, 1);
    return rc;
}

int sd_store_storage_get(sd_db *db, int64_t id, sd_storage_list *out, dp_err *err)
{
    int rc;
    out->v = sd_rows(db, &out->res_, sizeof *out->v, &out->n, &rc, err,
                     "SELECT " STORAGE_COLS " FROM storages s WHERE s.id = ?", "i", id);
    storage_rows(out, 0);
    return rc;
}

int sd_store_copy_enqueue_backup(sd_db *db, int64_t backup, int64_t next_try, int64_t now, dp_err *err)
{
    return sd_q(db, NULL, err,
                "INSERT INTO copies (backup_id, storage_id, state, attempts, next_try, updated_at)"
                " SELECT ?, id, 'pending', 0, ?, ? FROM storages",
                "iii", backup, next_try, now);
}

int sd_store_copy_enqueue(sd_db *db, int64_t backup, int64_t storage, int64_t now, int *added, dp_err *err)
{
    sd_res r;
    int rc = sd_q(db, &r, err, "SELECT state FROM copies WHERE backup_id = ? AND storage_id = ?", "ii", backup,
                  storage);
    if (rc)
        return rc;
    int exists = r.rows > 0, failed = exists && sd_get(&r, 0, 0) && !strcmp(sd_get(&r, 0, 0), "failed");
    sd_res_free(&r);
    *added = !exists || failed;
    if (failed)
        return sd_q(db, NULL, err, "UPDATE copies SET next_try = ? WHERE backup_id = ? AND storage_id = ?", "iii",
                    now, backup, storage);
    if (exists)
        return 0;
    return sd_q(db, NULL, err,
                "INSERT INTO copies (backup_id, storage_id, state, attempts, next_try, updated_at)"
                " VALUES (?, ?, 'pending', 0, ?, ?)",
                "iiii", backup, storage, now, now);
}

#define COPY_COLS                                                                                                      \
    "c.backup_id, c.storage_id, c.attempts, c.next_try, c.updated_at, b.app_id, b.db_id, b.size, b.created_at,"      \
    " b.file_name, b.sha256, b.status, c.state, c.error, s.name, s.location"
#define COPY_FROM " FROM copies c JOIN backups b ON b.id = c.backup_id JOIN storages s ON s.id = c.storage_id"

static void copy_rows(sd_copy_list *out)
{
    const sd_res *r = &out->res_;
    for (int i = 0; i < out->n; i++)
        out->v[i] = (sd_copy_row){.backup = sd_geti(r, i, 0),
                                  .storage = sd_geti(r, i, 1),
                                  .attempts = sd_geti(r, i, 2),
                                  .next_try = sd_geti(r, i, 3),
                                  .updated_at = sd_geti(r, i, 4),
                                  .app = sd_geti(r, i, 5),
                                  .db_id = sd_geti(r, i, 6),
                                  .size = sd_geti(r, i, 7),
                                  .created_at = sd_geti(r, i, 8),
                                  .file_name = sd_get(r, i, 9),
                                  .sha256 = sd_get(r, i, 10),
                                  .backup_status = sd_get(r, i, 11),
                                  .state = sd_get(r, i, 12),
                                  .error = sd_get(r, i, 13),
                                  .storage_name = sd_get(r, i, 14),
                                  .location = sd_get(r, i, 15)};
}

int sd_store_copy_due(sd_db *db, int64_t now, int64_t storage, int limit, sd_copy_list *out, dp_err *err)
{
    int rc;
    out->v = sd_rows(db, &out->res_, sizeof *out->v, &out->n, &rc, err,
                     "SELECT " COPY_COLS COPY_FROM " WHERE c.state IN ('pending', 'failed') AND c.next_try <= ?"
                     " AND (? = 0 OR c.storage_id = ?) ORDER BY c.next_try, c.backup_id LIMIT ?",
                     "iiii", now, storage, storage, (int64_t)limit);
    copy_rows(out);
    return rc;
}

int sd_store_copy_claim(sd_db *db, int64_t backup, int64_t storage, int64_t next_try, int64_t until, int *won,
                        dp_err *err)
{
    sd_res r;
    int rc = sd_q(db, &r, err,
                  "UPDATE copies SET next_try = ? WHERE backup_id = ? AND storage_id = ? AND next_try = ?"
                  " AND state IN ('pending', 'failed') RETURNING backup_id",
                  "iiii", until, backup, storage, next_try);
    if (!rc) {
        *won = r.rows == 1;
        sd_res_free(&r);
    }
    return rc;
}

int sd_store_copy_result(sd_db *db, int64_t backup, int64_t storage, const char *state, int64_t attempts,
                         int64_t next_try, const char *error, int64_t now, dp_err *err)
{
    return sd_q(db, NULL, err,
                "UPDATE copies SET state = ?, attempts = ?, next_try = ?, error = ?, updated_at = ?"
                " WHERE backup_id = ? AND storage_id = ?",
                "siisiii", state, attempts, next_try, error, now, backup, storage);
}

int sd_store_copy_mark_deleted(sd_db *db, int64_t backup, int64_t storage, int *changed, dp_err *err)
{
    sd_res r;
    int rc = sd_q(db, &r, err,
                  "UPDATE copies SET state = 'deleted' WHERE backup_id = ? AND storage_id = ? AND state = 'good'"
                  " RETURNING backup_id",
                  "ii", backup, storage);
    if (!rc) {
        *changed = r.rows > 0;
        sd_res_free(&r);
    }
    return rc;
}

int sd_store_copy_of_backup(sd_db *db, int64_t app, int64_t backup, sd_copy_list *out, dp_err *err)
{
    int rc;
    out->v = sd_rows(db, &out->res_, sizeof *out->v, &out->n, &rc, err,
                     "SELECT " COPY_COLS COPY_FROM " WHERE c.backup_id = ? AND b.app_id = ? ORDER BY c.storage_id",
                     "ii", backup, app);
    copy_rows(out);
    return rc;
}

int sd_store_copy_of_app(sd_db *db, int64_t app, int limit, sd_copy_list *out, dp_err *err)
{
    int rc;
    out->v = sd_rows(db, &out->res_, sizeof *out->v, &out->n, &rc, err,
                     "SELECT " COPY_COLS COPY_FROM " WHERE b.app_id = ? ORDER BY b.created_at DESC, b.id DESC,"
                     " c.storage_id LIMIT ?",
                     "ii", app, (int64_t)limit);
    copy_rows(out);
    return rc;
}

int sd_store_copy_good_of_database(sd_db *db, int64_t storage, int64_t db_id, sd_copy_list *out, dp_err *err)
{
    int rc;
    out->v = sd_rows(db, &out->res_, sizeof *out->v, &out->n, &rc, err,
                     "SELECT " COPY_COLS COPY_FROM " WHERE c.storage_id = ? AND b.db_id = ? AND c.state = 'good'"
                     " ORDER BY b.created_at DESC, b.id DESC",
                     "ii", storage, db_id);
    copy_rows(out);
    return rc;
}

#define GOOD_SOMEWHERE                                                                                                 \
    "(b.status = 'good' OR EXISTS (SELECT 1 FROM copies c WHERE c.backup_id = b.id AND c.state = 'good'))"

int sd_store_copy_unfinished_of_database(sd_db *db, int64_t db_id, sd_copy_list *out, dp_err *err)
{
    int rc;
    out->v = sd_rows(db, &out->res_, sizeof *out->v, &out->n, &rc, err,
                     "SELECT DISTINCT c.backup_id FROM copies c JOIN backups b ON b.id = c.backup_id WHERE b.db_id = ?"
                     " AND c.state IN ('pending', 'failed') ORDER BY c.backup_id",
                     "i", db_id);
    for (int i = 0; i < out->n; i++)
        out->v[i] = (sd_copy_row){.backup = sd_geti(&out->res_, i, 0)};
    return rc;
}

int sd_store_copy_newest_of_database(sd_db *db, int64_t db_id, int64_t *backup, dp_err *err)
{
    sd_res r;
    int rc = sd_q(db, &r, err,
                  "SELECT b.id FROM backups b WHERE b.db_id = ? AND " GOOD_SOMEWHERE
                  " ORDER BY b.created_at DESC, b.id DESC LIMIT 1",
                  "i", db_id);
    if (!rc) {
        *backup = sd_geti(&r, 0, 0);
        sd_res_free(&r);
    }
    return rc;
}

int sd_store_copy_sync_candidates(sd_db *db, sd_copy_list *out, dp_err *err)
{
    int rc;
    out->v = sd_rows(db, &out->res_, sizeof *out->v, &out->n, &rc, err,
                     "SELECT b.id, b.db_id, b.created_at, b.file_name, b.sha256, b.size, b.app_id FROM backups b"
                     " WHERE " GOOD_SOMEWHERE " ORDER BY b.db_id, b.created_at DESC, b.id DESC",
                     "");
    for (int i = 0; i < out->n; i++) {
        const sd_res *r = &out->res_;
        out->v[i] = (sd_copy_row){.backup = sd_geti(r, i, 0),
                                  .db_id = sd_geti(r, i, 1),
                                  .created_at = sd_geti(r, i, 2),
                                  .file_name = sd_get(r, i, 3),
                                  .sha256 = sd_get(r, i, 4),
                                  .size = sd_geti(r, i, 5),
                                  .app = sd_geti(r, i, 6)};
    }
    return rc;
}
