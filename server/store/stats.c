/* stats.c - aggregates for /metrics (see stats.h). */
#include "store/stats.h"

#include "store/rows.h"

/* Rows of `labels` label columns followed by `nums` number columns. */
static void stat_rows(sd_stat_list *out, int labels, int nums)
{
    for (int i = 0; i < out->n; i++) {
        const sd_res *r = &out->res_;
        sd_stat_row *s = &out->v[i];
        const char **l[4] = {&s->app, &s->l1, &s->l2, &s->l3};
        for (int c = 0; c < labels; c++)
            *l[c] = sd_get(r, i, c);
        for (int c = 0; c < nums; c++) {
            s->has[c] = sd_get(r, i, labels + c) != NULL;
            s->n[c] = sd_geti(r, i, labels + c);
        }
    }
}

int sd_store_stats_backups(sd_db *db, sd_stat_list *out, dp_err *err)
{
    int rc;
    out->v = sd_rows(db, &out->res_, sizeof *out->v, &out->n, &rc, err,
                     "SELECT a.name, b.env, d.dkey, b.status, COUNT(*) FROM backups b JOIN apps a ON a.id = b.app_id"
                     " JOIN dbs d ON d.id = b.db_id GROUP BY a.name, b.env, d.dkey, b.status ORDER BY 1, 2, 3, 4",
                     "");
    stat_rows(out, 4, 1);
    return rc;
}

int sd_store_stats_last_good(sd_db *db, sd_stat_list *out, dp_err *err)
{
    int rc;
    out->v = sd_rows(db, &out->res_, sizeof *out->v, &out->n, &rc, err,
                     "SELECT a.name, d.env, d.dkey, b.finished_at, b.size, b.duration_ms FROM dbs d JOIN apps a"
                     " ON a.id = d.app_id JOIN backups b ON b.id = (SELECT MAX(x.id) FROM backups x WHERE x.db_id = d.id"
                     " AND x.status = 'good') ORDER BY 1, 2, 3",
                     "");
    stat_rows(out, 3, 3);
    return rc;
}

int sd_store_stats_good_totals(sd_db *db, sd_stat_list *out, dp_err *err)
{
    int rc;
    out->v = sd_rows(db, &out->res_, sizeof *out->v, &out->n, &rc, err,
                     "SELECT a.name, COUNT(*), COALESCE(SUM(b.size), 0), COALESCE(SUM(b.duration_ms), 0) FROM backups b"
                     " JOIN apps a ON a.id = b.app_id WHERE b.status = 'good' GROUP BY a.name ORDER BY 1",
                     "");
    stat_rows(out, 1, 3);
    return rc;
}

int sd_store_stats_agents(sd_db *db, int64_t now, int64_t seen_after, sd_stat_list *out, dp_err *err)
{
    int rc;
    out->v = sd_rows(db, &out->res_, sizeof *out->v, &out->n, &rc, err,
                     "SELECT a.name, g.env, CASE WHEN p.lease_until > ? THEN 'primary' ELSE 'secondary' END, COUNT(*)"
                     " FROM agents g JOIN apps a ON a.id = g.app_id LEFT JOIN primaries p ON p.app_id = g.app_id"
                     " AND p.env = g.env AND p.agent_id = g.id WHERE g.last_seen > ? GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
                     "ii", now, seen_after);
    stat_rows(out, 3, 1);
    return rc;
}

int sd_store_stats_pending(sd_db *db, sd_stat_list *out, dp_err *err)
{
    int rc;
    out->v = sd_rows(db, &out->res_, sizeof *out->v, &out->n, &rc, err,
                     "SELECT a.name, COUNT(j.id), MIN(j.created_at) FROM apps a LEFT JOIN jobs j ON j.app_id = a.id"
                     " AND j.state = 'pending' GROUP BY a.name ORDER BY 1",
                     "");
    stat_rows(out, 1, 2);
    return rc;
}
