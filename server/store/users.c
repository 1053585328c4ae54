/* users.c - dashboard users and sessions (see users.h). */
#include "store/users.h"

#include "core/util.h"
#include "store/rows.h"

int sd_store_user_find(sd_db *db, const char *name, int64_t *id, char **pw_hash, dp_err *err)
{
    sd_res r;
    int rc = sd_q(db, &r, err, "SELECT id, pw_hash FROM users WHERE name = ?", "s", name);
    if (rc)
        return rc;
    *id = sd_geti(&r, 0, 0);
    if (pw_hash && !(*pw_hash = r.rows ? dp_strdup(sd_get(&r, 0, 1)) : NULL) && r.rows)
        rc = dp_err_set(err, DUMPER_ENOMEM, "out of memory");
    sd_res_free(&r);
    return rc;
}

int sd_store_user_insert(sd_db *db, const char *name, const char *pw_hash, int64_t now, dp_err *err)
{
    return sd_q(db, NULL, err, "INSERT INTO users (name, pw_hash, created_at) VALUES (?, ?, ?)", "ssi", name, pw_hash,
                now);
}

int sd_store_user_set_password(sd_db *db, int64_t id, const char *pw_hash, dp_err *err)
{
    return sd_q(db, NULL, err, "UPDATE users SET pw_hash = ? WHERE id = ?", "si", pw_hash, id);
}

int sd_store_user_delete(sd_db *db, int64_t id, dp_err *err)
{
    int rc = sd_store_session_delete_user(db, id, err);
    return rc ? rc : sd_q(db, NULL, err, "DELETE FROM users WHERE id = ?", "i", id);
}

int sd_store_user_names(sd_db *db, sd_name_list *out, dp_err *err)
{
    int rc;
    out->v = sd_rows(db, &out->res_, sizeof *out->v, &out->n, &rc, err, "SELECT name FROM users ORDER BY name", "");
    for (int i = 0; i < out->n; i++)
        out->v[i] = sd_get(&out->res_, i, 0);
    return rc;
}

int sd_store_session_insert(sd_db *db, const char *token_hash, int64_t user, const char *csrf, int64_t now,
                            int64_t expires_at, dp_err *err)
{
    return sd_q(db, NULL, err,
                "INSERT INTO sessions (token_hash, user_id, csrf, created_at, expires_at) VALUES (?, ?, ?, ?, ?)",
                "sisii", token_hash, user, csrf, now, expires_at);
}

int sd_store_session_get(sd_db *db, const char *token_hash, sd_session_row *out, int *found, dp_err *err)
{
    sd_res r;
    int rc = sd_q(db, &r, err,
                  "SELECT s.user_id, u.name, s.csrf, s.expires_at, s.token_hash FROM sessions s JOIN users u"
                  " ON u.id = s.user_id WHERE s.token_hash = ?",
                  "s", token_hash);
    if (rc)
        return rc;
    *found = r.rows == 1;
    out->user = sd_geti(&r, 0, 0);
    sd_cell_copy(out->name, sizeof out->name, sd_get(&r, 0, 1));
    sd_cell_copy(out->csrf, sizeof out->csrf, sd_get(&r, 0, 2));
    out->expires_at = sd_geti(&r, 0, 3);
    sd_cell_copy(out->token_hash, sizeof out->token_hash, sd_get(&r, 0, 4));
    sd_res_free(&r);
    return 0;
}

int sd_store_session_delete(sd_db *db, const char *token_hash, dp_err *err)
{
    return sd_q(db, NULL, err, "DELETE FROM sessions WHERE token_hash = ?", "s", token_hash);
}

int sd_store_session_delete_user(sd_db *db, int64_t user, dp_err *err)
{
    return sd_q(db, NULL, err, "DELETE FROM sessions WHERE user_id = ?", "i", user);
}

int sd_store_session_sweep(sd_db *db, int64_t now, dp_err *err)
{
    return sd_q(db, NULL, err, "DELETE FROM sessions WHERE expires_at < ?", "i", now);
}
