/* tokens.c - API tokens (see tokens.h). */
#include "store/tokens.h"

#include "store/rows.h"

int sd_store_token_insert(sd_db *db, const sd_token_new *t, int64_t *id, dp_err *err)
{
    sd_res r;
    int rc = sd_q(db, &r, err,
                  "INSERT INTO api_tokens (name, token_hash, scope, app_id, created_at, expires_at)"
                  " VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
                  "sssiii", t->name, t->hash, t->scope, t->app_id, t->created_at, t->expires_at);
    if (!rc) {
        *id = sd_geti(&r, 0, 0);
        sd_res_free(&r);
    }
    return rc;
}

#define TOKEN_COLS                                                                                                     \
    "t.id, t.name, t.scope, t.app_id, a.name, t.created_at, t.expires_at, t.last_used_at, t.revoked_at, t.token_hash"

static int token_cols(sd_token_list *out, int rc)
{
    for (int i = 0; i < out->n; i++) {
        sd_token_row *t = &out->v[i];
        const sd_res *r = &out->res_;
        t->id = sd_geti(r, i, 0);
        t->name = sd_get(r, i, 1);
        t->scope = sd_get(r, i, 2);
        t->app_id = sd_geti(r, i, 3);
        t->app_name = sd_get(r, i, 4);
        t->created_at = sd_geti(r, i, 5);
        t->expires_at = sd_geti(r, i, 6);
        t->last_used_at = sd_geti(r, i, 7);
        t->revoked_at = sd_geti(r, i, 8);
        t->hash = sd_get(r, i, 9);
    }
    return rc;
}

int sd_store_token_by_hash(sd_db *db, const char *hash, sd_token_list *out, dp_err *err)
{
    int rc;
    out->v = sd_rows(db, &out->res_, sizeof *out->v, &out->n, &rc, err,
                     "SELECT " TOKEN_COLS " FROM api_tokens t LEFT JOIN apps a ON a.id = t.app_id"
                     " WHERE t.token_hash = ?",
                     "s", hash);
    return token_cols(out, rc);
}

int sd_store_token_list(sd_db *db, sd_token_list *out, dp_err *err)
{
    int rc;
    out->v = sd_rows(db, &out->res_, sizeof *out->v, &out->n, &rc, err,
                     "SELECT " TOKEN_COLS " FROM api_tokens t LEFT JOIN apps a ON a.id = t.app_id ORDER BY t.name", "");
    return token_cols(out, rc);
}

int sd_store_token_revoke(sd_db *db, const char *name, int64_t id, int64_t now, int *found, dp_err *err)
{
    sd_res r;
    int rc = name ? sd_q(db, &r, err,
                         "UPDATE api_tokens SET revoked_at = ? WHERE name = ? AND revoked_at = 0 RETURNING id", "is",
                         now, name)
                  : sd_q(db, &r, err,
                         "UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at = 0 RETURNING id", "ii",
                         now, id);
    if (!rc) {
        *found = r.rows == 1;
        sd_res_free(&r);
    }
    return rc;
}

int sd_store_token_used(sd_db *db, int64_t id, int64_t now, dp_err *err)
{
    return sd_q(db, NULL, err, "UPDATE api_tokens SET last_used_at = ? WHERE id = ? AND last_used_at < ?", "iii", now,
                id, now - 60000);
}

