/* agents.c - agents and primaries (see agents.h). */
#include "store/agents.h"

#include <stdio.h>

#include "store/rows.h"

int sd_store_agent_insert(sd_db *db, int64_t app, const sd_agent_info *a, int64_t now, int64_t *id, dp_err *err)
{
    sd_res r;
    int rc = sd_q(db, &r, err,
                  "INSERT INTO agents (app_id, env, hostname, pid, agent_version, app_name, framework, dispatcher,"
                  " registered_at, last_seen, process_start) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                  "ississssiis", app, a->env, a->hostname, a->pid, a->version, a->app_name, a->framework,
                  a->dispatcher, now, now, a->process_start);
    if (!rc) {
        *id = sd_geti(&r, 0, 0);
        sd_res_free(&r);
    }
    return rc;
}

int sd_store_agent_touch(sd_db *db, int64_t agent, int64_t now, dp_err *err)
{
    return sd_q(db, NULL, err, "UPDATE agents SET last_seen = ?, silent_at = NULL WHERE id = ?", "ii", now, agent);
}

int sd_store_agent_stop(sd_db *db, int64_t agent, int64_t now, dp_err *err)
{
    return sd_q(db, NULL, err, "UPDATE agents SET stopped_at = ?, last_seen = ? WHERE id = ?", "iii", now, now, agent);
}

int sd_store_primary_same_process(sd_db *db, int64_t app, const char *env, const char *hostname, int64_t pid,
                                  int64_t agent, int *yes, char start[SD_PROCESS_START_MAX + 1], dp_err *err)
{
    sd_res r;
    int rc = sd_q(db, &r, err,
                  "SELECT a.id, a.process_start FROM primaries p JOIN agents a ON a.id = p.agent_id"
                  " WHERE p.app_id = ? AND p.env = ? AND a.hostname = ? AND a.pid = ? AND a.id <> ?",
                  "issii", app, env, hostname, pid, agent);
    start[0] = 0;
    if (!rc) {
        *yes = r.rows > 0;
        const char *s = r.rows > 0 ? sd_get(&r, 0, 1) : NULL;
        if (s)
            snprintf(start, SD_PROCESS_START_MAX + 1, "%s", s);
        sd_res_free(&r);
    }
    return rc;
}

int sd_store_agents_silent(sd_db *db, int64_t before, int64_t now, sd_silent_list *out, dp_err *err)
{
    int rc;
    out->v = sd_rows(db, &out->res_, sizeof *out->v, &out->n, &rc, err,
                     "SELECT a.id, k.name, a.env, a.hostname, a.pid, a.last_seen FROM agents a JOIN apps k"
                     " ON k.id = a.app_id WHERE a.last_seen < ? AND a.stopped_at IS NULL AND a.silent_at IS NULL"
                     " ORDER BY a.id LIMIT 100",
                     "i", before);
    for (int i = 0; !rc && i < out->n; i++) {
        const sd_res *r = &out->res_;
        out->v[i] = (sd_silent_agent){.id = sd_geti(r, i, 0),
                                      .app = sd_get(r, i, 1),
                                      .env = sd_get(r, i, 2),
                                      .hostname = sd_get(r, i, 3),
                                      .pid = sd_geti(r, i, 4),
                                      .last_seen = sd_geti(r, i, 5)};
        rc = sd_q(db, NULL, err, "UPDATE agents SET silent_at = ? WHERE id = ?", "ii", now, out->v[i].id);
    }
    return rc;
}

int sd_store_agents_forget(sd_db *db, int64_t app, int64_t before, int64_t keep_agent, dp_err *err)
{
    return sd_q(db, NULL, err,
                "DELETE FROM agents WHERE app_id = ? AND last_seen < ? AND id <> ?"
                " AND id NOT IN (SELECT agent_id FROM primaries)",
                "iii", app, before, keep_agent);
}

int sd_store_agent_of_app(sd_db *db, int64_t agent, int64_t app, int *yes, dp_err *err)
{
    sd_res r;
    int rc = sd_q(db, &r, err, "SELECT id FROM agents WHERE id = ? AND app_id = ?", "ii", agent, app);
    if (!rc) {
        *yes = r.rows > 0;
        sd_res_free(&r);
    }
    return rc;
}

int sd_store_agent_poll_view(sd_db *db, int64_t app, int64_t agent, const char *key_hash, sd_poll_view *out,
                             dp_err *err)
{
    sd_res r;
    int rc = sd_q(db, &r, err,
                  "SELECT a.env, a.last_seen, p.agent_id, p.lease_until, a.registered_at FROM agents a JOIN apps k ON k.id = a.app_id"
                  " AND k.key_hash = ? LEFT JOIN primaries p ON p.app_id = a.app_id AND p.env = a.env"
                  " WHERE a.id = ? AND a.app_id = ?",
                  "sii", key_hash, agent, app);
    if (rc)
        return rc;
    out->found = r.rows > 0;
    sd_cell_copy(out->env, sizeof out->env, sd_get(&r, 0, 0));
    out->last_seen = sd_geti(&r, 0, 1);
    out->has_primary = sd_get(&r, 0, 2) != NULL;
    out->primary = (sd_lease){sd_geti(&r, 0, 2), sd_geti(&r, 0, 3)};
    out->registered_at = sd_geti(&r, 0, 4);
    sd_res_free(&r);
    return 0;
}

int sd_store_agent_list(sd_db *db, int64_t app, sd_agent_list *out, dp_err *err)
{
    int rc;
    out->v = sd_rows(db, &out->res_, sizeof *out->v, &out->n, &rc, err,
                     "SELECT a.id, a.env, a.hostname, a.pid, a.agent_version, a.framework, a.dispatcher,"
                     " a.registered_at, a.last_seen, p.lease_until, a.stopped_at FROM agents a LEFT JOIN primaries p"
                     " ON p.app_id = a.app_id AND p.env = a.env AND p.agent_id = a.id WHERE a.app_id = ? ORDER BY a.id",
                     "i", app);
    for (int i = 0; i < out->n; i++) {
        const sd_res *r = &out->res_;
        out->v[i] = (sd_agent_row){.id = sd_geti(r, i, 0),
                                   .env = sd_get(r, i, 1),
                                   .hostname = sd_get(r, i, 2),
                                   .pid = sd_geti(r, i, 3),
                                   .version = sd_get(r, i, 4),
                                   .framework = sd_get(r, i, 5),
                                   .dispatcher = sd_get(r, i, 6),
                                   .registered_at = sd_geti(r, i, 7),
                                   .last_seen = sd_geti(r, i, 8),
                                   .has_lease = sd_get(r, i, 9) != NULL,
                                   .lease_until = sd_geti(r, i, 9),
                                   .stopped = sd_get(r, i, 10) != NULL,
                                   .stopped_at = sd_geti(r, i, 10)};
    }
    return rc;
}

int sd_store_primary_get(sd_db *db, int64_t app, const char *env, sd_lease *out, int *found, dp_err *err)
{
    sd_res r;
    int rc = sd_q(db, &r, err, "SELECT agent_id, lease_until FROM primaries WHERE app_id = ? AND env = ?", "is", app,
                  env);
    if (!rc) {
        *found = r.rows > 0;
        *out = (sd_lease){sd_geti(&r, 0, 0), sd_geti(&r, 0, 1)};
        sd_res_free(&r);
    }
    return rc;
}

int sd_store_primary_insert(sd_db *db, int64_t app, const char *env, const sd_lease *l, int64_t now, dp_err *err)
{
    return sd_q(db, NULL, err,
                "INSERT INTO primaries (app_id, env, agent_id, lease_until, since) VALUES (?, ?, ?, ?, ?)", "isiii", app,
                env, l->agent, l->until, now);
}

int sd_store_primary_renew(sd_db *db, int64_t app, const char *env, int64_t until, dp_err *err)
{
    return sd_q(db, NULL, err, "UPDATE primaries SET lease_until = ? WHERE app_id = ? AND env = ?", "iis", until, app,
                env);
}

int sd_store_primary_take(sd_db *db, int64_t app, const char *env, const sd_lease *l, int64_t now, dp_err *err)
{
    return sd_q(db, NULL, err,
                "UPDATE primaries SET agent_id = ?, lease_until = ?, since = ? WHERE app_id = ? AND env = ?", "iiiis",
                l->agent, l->until, now, app, env);
}
