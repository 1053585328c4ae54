/* channels.c - notification channels and deliveries (see channels.h). */
#include "store/channels.h"

#include "store/rows.h"

#define CHANNEL_COLS                                                                                                  \
    "c.id, c.name, c.kind, c.url, c.to_addr, c.app_id, c.events, c.secret, c.created_at, a.name"

int sd_store_channel_insert(sd_db *db, const char *name, const char *kind, const char *url, const char *to_addr,
                            int64_t app_id, int64_t events, const char *secret, int64_t now, int64_t *id, dp_err *err)
{
    sd_res r;
    int rc = sd_q(db, &r, err,
                  "INSERT INTO channels (name, kind, url, to_addr, app_id, events, secret, created_at)"
                  " VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                  "ssssiisi", name, kind, url, to_addr, app_id, events, secret, now);
    if (!rc) {
        *id = sd_geti(&r, 0, 0);
        sd_res_free(&r);
    }
    return rc;
}

static void channel_rows(sd_channel_list *out, int counts)
{
    for (int i = 0; i < out->n; i++) {
        const sd_res *r = &out->res_;
        out->v[i] = (sd_channel_row){.id = sd_geti(r, i, 0),
                                     .name = sd_get(r, i, 1),
                                     .kind = sd_get(r, i, 2),
                                     .url = sd_get(r, i, 3),
                                     .to_addr = sd_get(r, i, 4),
                                     .app_id = sd_geti(r, i, 5),
                                     .events = sd_geti(r, i, 6),
                                     .secret = sd_get(r, i, 7),
                                     .created_at = sd_geti(r, i, 8),
                                     .app = sd_get(r, i, 9)};
        if (counts) {
            out->v[i].sent = sd_geti(r, i, 10);
            out->v[i].pending = sd_geti(r, i, 11);
            out->v[i].dead = sd_geti(r, i, 12);
        }
    }
}

int sd_store_channel_find(sd_db *db, const char *name, sd_channel_list *out, dp_err *err)
{
    int rc;
    out->v = sd_rows(db, &out->res_, sizeof *out->v, &out->n, &rc, err,
                     "SELECT " CHANNEL_COLS " FROM channels c LEFT JOIN apps a ON a.id = c.app_id WHERE c.name = ?",
                     "s", name);
    channel_rows(out, 0);
    return rc;
}

int sd_store_channels(sd_db *db, sd_channel_list *out, dp_err *err)
{
    int rc;
    out->v = sd_rows(db, &out->res_, sizeof *out->v, &out->n, &rc, err,
                     "SELECT " CHANNEL_COLS ","
                     " (SELECT COUNT(*) FROM deliveries d WHERE d.channel_id = c.id AND d.sent_at IS NOT NULL),"
                     " (SELECT COUNT(*) FROM deliveries d WHERE d.channel_id = c.id AND d.sent_at IS NULL"
                     " AND d.dead_at IS NULL),"
                     " (SELECT COUNT(*) FROM deliveries d WHERE d.channel_id = c.id AND d.dead_at IS NOT NULL)"
                     " FROM channels c LEFT JOIN apps a ON a.id = c.app_id ORDER BY c.name",
                     "");
    channel_rows(out, 1);
    return rc;
}

int sd_store_channel_delete(sd_db *db, int64_t id, dp_err *err)
{
    int rc = sd_q(db, NULL, err, "DELETE FROM deliveries WHERE channel_id = ?", "i", id);
    return rc ? rc : sd_q(db, NULL, err, "DELETE FROM channels WHERE id = ?", "i", id);
}

int sd_store_delivery_fanout(sd_db *db, int64_t alert_id, const char *app, int64_t category, int64_t next_try, int *n,
                             dp_err *err)
{
    sd_res r;
    int rc = sd_q(db, &r, err,
                  "INSERT INTO deliveries (alert_id, channel_id, attempts, next_try) SELECT ?, c.id, 0, ? FROM channels c"
                  " WHERE (c.events & ?) <> 0 AND (c.app_id = 0 OR c.app_id = (SELECT id FROM apps WHERE name = ?))"
                  " ON CONFLICT (alert_id, channel_id) DO NOTHING RETURNING id",
                  "iiis", alert_id, next_try, category, app ? app : "");
    if (!rc) {
        *n = r.rows;
        sd_res_free(&r);
    }
    return rc;
}

int sd_store_delivery_insert(sd_db *db, int64_t alert_id, int64_t channel_id, int64_t next_try, dp_err *err)
{
    return sd_q(db, NULL, err,
                "INSERT INTO deliveries (alert_id, channel_id, attempts, next_try) VALUES (?, ?, 0, ?)"
                " ON CONFLICT (alert_id, channel_id) DO NOTHING",
                "iii", alert_id, channel_id, next_try);
}

#define DELIVERY_COLS                                                                                                 \
    "d.id, d.attempts, d.next_try, d.alert_id, a.kind, a.ref, a.payload, c.name, c.kind, c.url, c.to_addr, c.secret"

static void delivery_rows(sd_delivery_list *out)
{
    for (int i = 0; i < out->n; i++) {
        const sd_res *r = &out->res_;
        out->v[i] = (sd_delivery_row){.id = sd_geti(r, i, 0),
                                      .attempts = sd_geti(r, i, 1),
                                      .next_try = sd_geti(r, i, 2),
                                      .alert_id = sd_geti(r, i, 3),
                                      .alert_kind = sd_get(r, i, 4),
                                      .alert_ref = sd_get(r, i, 5),
                                      .payload = sd_get(r, i, 6),
                                      .channel = sd_get(r, i, 7),
                                      .kind = sd_get(r, i, 8),
                                      .url = sd_get(r, i, 9),
                                      .to_addr = sd_get(r, i, 10),
                                      .secret = sd_get(r, i, 11)};
    }
}

int sd_store_delivery_due(sd_db *db, int64_t now, int limit, sd_delivery_list *out, dp_err *err)
{
    int rc;
    out->v = sd_rows(db, &out->res_, sizeof *out->v, &out->n, &rc, err,
                     "SELECT " DELIVERY_COLS " FROM deliveries d JOIN alerts a ON a.id = d.alert_id"
                     " JOIN channels c ON c.id = d.channel_id WHERE d.sent_at IS NULL AND d.dead_at IS NULL"
                     " AND d.next_try <= ? ORDER BY d.id LIMIT ?",
                     "ii", now, (int64_t)limit);
    delivery_rows(out);
    return rc;
}

int sd_store_delivery_get(sd_db *db, int64_t alert_id, int64_t channel_id, sd_delivery_list *out, int64_t *sent_at,
                          int64_t *dead_at, dp_err *err)
{
    int rc;
    out->v = sd_rows(db, &out->res_, sizeof *out->v, &out->n, &rc, err,
                     "SELECT " DELIVERY_COLS ", d.sent_at, d.dead_at, d.last_error FROM deliveries d"
                     " JOIN alerts a ON a.id = d.alert_id JOIN channels c ON c.id = d.channel_id"
                     " WHERE d.alert_id = ? AND d.channel_id = ?",
                     "ii", alert_id, channel_id);
    delivery_rows(out);
    *sent_at = out->n ? sd_geti(&out->res_, 0, 12) : 0;
    *dead_at = out->n ? sd_geti(&out->res_, 0, 13) : 0;
    return rc;
}

int sd_store_delivery_claim(sd_db *db, int64_t id, int64_t next_try, int64_t until, int *won, dp_err *err)
{
    sd_res r;
    int rc = sd_q(db, &r, err,
                  "UPDATE deliveries SET next_try = ? WHERE id = ? AND next_try = ? AND sent_at IS NULL"
                  " AND dead_at IS NULL RETURNING id",
                  "iii", until, id, next_try);
    if (!rc) {
        *won = r.rows == 1;
        sd_res_free(&r);
    }
    return rc;
}

int sd_store_delivery_sent(sd_db *db, int64_t id, int64_t attempts, int64_t now, dp_err *err)
{
    return sd_q(db, NULL, err, "UPDATE deliveries SET sent_at = ?, attempts = ?, last_error = NULL WHERE id = ?",
                "iii", now, attempts, id);
}

int sd_store_delivery_failed(sd_db *db, int64_t id, int64_t attempts, int64_t next_try, int dead, int64_t now,
                             const char *why, dp_err *err)
{
    if (dead)
        return sd_q(db, NULL, err, "UPDATE deliveries SET attempts = ?, dead_at = ?, last_error = ? WHERE id = ?",
                    "iisi", attempts, now, why, id);
    return sd_q(db, NULL, err, "UPDATE deliveries SET attempts = ?, next_try = ?, last_error = ? WHERE id = ?", "iisi",
                attempts, next_try, why, id);
}

int sd_store_delivery_counts(sd_db *db, int64_t *pending, int64_t *dead, int64_t *sent, dp_err *err)
{
    sd_res r;
    int rc = sd_q(db, &r, err,
                  "SELECT COUNT(*) FILTER (WHERE sent_at IS NULL AND dead_at IS NULL),"
                  " COUNT(*) FILTER (WHERE dead_at IS NOT NULL), COUNT(*) FILTER (WHERE sent_at IS NOT NULL)"
                  " FROM deliveries",
                  "");
    if (!rc) {
        *pending = sd_geti(&r, 0, 0);
        *dead = sd_geti(&r, 0, 1);
        *sent = sd_geti(&r, 0, 2);
        sd_res_free(&r);
    }
    return rc;
}

int sd_store_sized_backups(sd_db *db, int64_t after_id, int64_t since, int limit, sd_sized_list *out, dp_err *err)
{
    int rc;
    out->v = sd_rows(db, &out->res_, sizeof *out->v, &out->n, &rc, err,
                     "SELECT b.id, b.app_id, b.db_id, b.size, b.finished_at, a.name, b.env, d.dkey FROM backups b"
                     " JOIN apps a ON a.id = b.app_id JOIN dbs d ON d.id = b.db_id WHERE b.status = 'good'"
                     " AND b.size IS NOT NULL AND b.id > ? AND b.finished_at > ? ORDER BY b.id LIMIT ?",
                     "iii", after_id, since, (int64_t)limit);
    for (int i = 0; i < out->n; i++) {
        const sd_res *r = &out->res_;
        out->v[i] = (sd_sized_row){.backup = sd_geti(r, i, 0),
                                   .app_id = sd_geti(r, i, 1),
                                   .db_id = sd_geti(r, i, 2),
                                   .size = sd_geti(r, i, 3),
                                   .finished_at = sd_geti(r, i, 4),
                                   .app = sd_get(r, i, 5),
                                   .env = sd_get(r, i, 6),
                                   .db_key = sd_get(r, i, 7)};
    }
    return rc;
}

int sd_store_size_history(sd_db *db, int64_t db_id, int64_t before_id, int limit, int64_t *sizes, int *n, dp_err *err)
{
    sd_res r;
    int rc = sd_q(db, &r, err,
                  "SELECT size FROM backups WHERE db_id = ? AND status = 'good' AND size IS NOT NULL AND id < ?"
                  " ORDER BY id DESC LIMIT ?",
                  "iii", db_id, before_id, (int64_t)limit);
    if (!rc) {
        *n = r.rows < limit ? r.rows : limit;
        for (int i = 0; i < *n; i++)
            sizes[i] = sd_geti(&r, i, 0);
        sd_res_free(&r);
    }
    return rc;
}
