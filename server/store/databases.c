/* databases.c - the databases agents report (see databases.h). */
#include "store/databases.h"

#include "store/rows.h"

int sd_store_database_upsert(sd_db *db, int64_t app, const char *env, const sd_dbinfo *d, int64_t now, int64_t *id,
                             dp_err *err)
{
    sd_res r;
    int rc = sd_q(db, &r, err,
                  "INSERT INTO dbs (app_id, env, dkey, type, host, port, name, dbuser, updated_at)"
                  " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (app_id, env, dkey) DO UPDATE SET type = excluded.type,"
                  " host = excluded.host, port = excluded.port, name = excluded.name, dbuser = excluded.dbuser,"
                  " updated_at = excluded.updated_at RETURNING id",
                  "issssissi", app, env, d->key, d->type, d->host, d->port, d->name, d->user, now);
    if (!rc) {
        *id = sd_geti(&r, 0, 0);
        sd_res_free(&r);
    }
    return rc;
}

int sd_store_database_find(sd_db *db, int64_t app, const char *env, const char *key, int64_t *id, dp_err *err)
{
    sd_res r;
    int rc = sd_q(db, &r, err, "SELECT id FROM dbs WHERE app_id = ? AND env = ? AND dkey = ?", "iss", app, env, key);
    if (!rc) {
        *id = sd_geti(&r, 0, 0);
        sd_res_free(&r);
    }
    return rc;
}

static void ids(sd_id_list *out)
{
    for (int i = 0; i < out->n; i++)
        out->v[i] = sd_geti(&out->res_, i, 0);
}

int sd_store_database_ids(sd_db *db, int64_t app, const char *env, sd_id_list *out, dp_err *err)
{
    int rc;
    out->v = sd_rows(db, &out->res_, sizeof *out->v, &out->n, &rc, err,
                     "SELECT id FROM dbs WHERE app_id = ? AND env = ? ORDER BY id", "is", app, env);
    ids(out);
    return rc;
}

int sd_store_database_unscheduled(sd_db *db, int64_t app, const char *env, sd_id_list *out, dp_err *err)
{
    int rc;
    out->v = sd_rows(db, &out->res_, sizeof *out->v, &out->n, &rc, err,
                     "SELECT id FROM dbs WHERE app_id = ? AND env = ? AND id NOT IN (SELECT db_id FROM schedules WHERE"
                     " app_id = ? AND env = ? AND db_id > 0) ORDER BY id",
                     "isis", app, env, app, env);
    ids(out);
    return rc;
}

int sd_store_database_exists(sd_db *db, int64_t id, int *yes, dp_err *err)
{
    sd_res r;
    int rc = sd_q(db, &r, err, "SELECT id FROM dbs WHERE id = ?", "i", id);
    if (!rc) {
        *yes = r.rows > 0;
        sd_res_free(&r);
    }
    return rc;
}

int sd_store_database_list(sd_db *db, int64_t app, sd_database_list *out, dp_err *err)
{
    int rc;
    out->v = sd_rows(db, &out->res_, sizeof *out->v, &out->n, &rc, err,
                     "SELECT d.id, d.env, d.dkey, d.type, d.host, d.port, d.name, d.dbuser, d.updated_at,"
                     " (SELECT MAX(b.finished_at) FROM backups b WHERE b.db_id = d.id AND b.status = 'good')"
                     " FROM dbs d WHERE d.app_id = ? ORDER BY d.env, d.dkey",
                     "i", app);
    for (int i = 0; i < out->n; i++) {
        const sd_res *r = &out->res_;
        out->v[i] = (sd_database_row){.id = sd_geti(r, i, 0),
                                      .env = sd_get(r, i, 1),
                                      .key = sd_get(r, i, 2),
                                      .type = sd_get(r, i, 3),
                                      .host = sd_get(r, i, 4),
                                      .has_port = sd_get(r, i, 5) != NULL,
                                      .port = sd_geti(r, i, 5),
                                      .name = sd_get(r, i, 6),
                                      .user = sd_get(r, i, 7),
                                      .updated_at = sd_geti(r, i, 8),
                                      .has_last_good = sd_get(r, i, 9) != NULL,
                                      .last_good_at = sd_geti(r, i, 9)};
    }
    return rc;
}
