/* agents.c - agent registration, polls and the primary election (see agents.h). */
#include "service/agents.h"

#include <string.h>

#include "core/log.h"
#include "domain/election.h"
#include "service/auth.h"
#include "service/job_policy.h"
#include "store/drills.h"
#include "store/jobs.h"
#include "store/schedules.h"

/* Decide the role of `agent` in (app, env) at `now` (domain/election.h); renew or take the lease. reg: the
 * agent's registration (its predecessor in the same process may hold the lease), else NULL. *until: the end
 * of the lease the agent holds, or of the one it waits for. */
static int elect(sd_ctx *ctx, int64_t app, const char *env, int64_t agent, const sd_agent_info *reg, int64_t now,
                 int *primary, int64_t *until, sd_status *st)
{
    sd_lease cur;
    int found = 0, same = 0;
    char start[SD_PROCESS_START_MAX + 1] = "";
    SD_TRY(sd_store_primary_get(ctx->db, app, env, &cur, &found, &st->err));
    if (reg && found && cur.agent != agent && cur.until > now)
        SD_TRY(sd_store_primary_same_process(ctx->db, app, env, reg->hostname, reg->pid, agent, &same, start,
                                             &st->err));
    if (same && !sd_same_process_start(start, reg->process_start)) {
        /* the same host name and pid, but another process (containers with one host name, the app as pid 1) */
        dp_info("agent a_%lld (%s pid %lld) has the primary's host and pid but another process start (%s, the"
                " primary's %s): not its predecessor, it stays secondary", (long long)agent, reg->hostname,
                (long long)reg->pid, reg->process_start, start);
        same = 0;
    }
    sd_elect_action act = sd_elect_register(found ? &cur : NULL, agent, same, now);
    sd_lease mine = {agent, now + ctx->cfg->lease_ms};
    *primary = sd_elect_is_primary(act);
    *until = *primary ? mine.until : cur.until;
    if (act == SD_ELECT_TAKE_OVER && same)
        dp_info("agent a_%lld (%s pid %lld) took over the lease of its predecessor a_%lld in the same process",
                (long long)agent, reg->hostname, (long long)reg->pid, (long long)cur.agent);
    else if (act == SD_ELECT_TAKE_OVER)
        dp_info("agent a_%lld is now the primary of app %lld, environment %s (the lease of a_%lld ended at %lld,"
                " now %lld)", (long long)agent, (long long)app, env, (long long)cur.agent, (long long)cur.until,
                (long long)now);
    switch (act) {
    case SD_ELECT_TAKE: return sd_store_primary_insert(ctx->db, app, env, &mine, now, &st->err);
    case SD_ELECT_RENEW: return sd_store_primary_renew(ctx->db, app, env, mine.until, &st->err);
    case SD_ELECT_TAKE_OVER:
        /* the predecessor in this process is gone: what it was handed but never started is handed out again */
        if (same)
            SD_TRY(sd_store_jobs_undeliver(ctx->db, cur.agent, now, &st->err));
        return sd_store_primary_take(ctx->db, app, env, &mine, now, &st->err);
    case SD_ELECT_SECONDARY: break;
    }
    return 0;
}

typedef struct {
    int64_t app;
    const sd_register_req *req;
    sd_register_res *res;
    int64_t lease_until;
} reg_arg;

static int register_txn(sd_ctx *ctx, void *a_, sd_status *st)
{
    reg_arg *a = a_;
    int64_t now = sd_ctx_now(ctx);
    a->res->now = now;
    SD_TRY(sd_store_agent_insert(ctx->db, a->app, &a->req->agent, now, &a->res->agent, &st->err));
    if (a->req->caps) /* what it can run besides backups (store/drills.h) */
        SD_TRY(sd_store_agent_set_caps(ctx->db, a->res->agent, a->req->caps, &st->err));
    for (int i = 0; i < a->req->ndbs; i++)
        SD_TRY(sd_store_database_upsert(ctx->db, a->app, a->req->agent.env, &a->req->dbs[i], now, &a->res->db_ids[i],
                                        &st->err));
    SD_TRY(elect(ctx, a->app, a->req->agent.env, a->res->agent, &a->req->agent, now, &a->res->primary,
                 &a->lease_until, st));
    /* Every process start registers a new agent: forget the app's agents not seen for a while, except a
     * primary. One that comes back gets 404 on its poll and registers again. */
    return sd_store_agents_forget(ctx->db, a->app, now - sd_agent_keep_ms(ctx->cfg->secondary_interval),
                                  a->res->agent, &st->err);
}

int sd_agent_register(sd_ctx *ctx, int64_t app, const sd_register_req *req, sd_register_res *res, sd_status *st)
{
    reg_arg a = {app, req, res, 0};
    if (sd_txn(ctx, SD_TXN_WRITE, register_txn, &a, st))
        return -1;
    double jitter = sd_ctx_jitter(ctx);
    res->interval = res->primary ? sd_register_interval(1, ctx->cfg->secondary_interval, jitter)
                                 : sd_secondary_interval(a.lease_until, res->now, res->now,
                                                         ctx->cfg->secondary_interval, jitter);
    dp_info("agent a_%lld registered: app %lld, environment %s, host %s, pid %lld, %d database%s, %s",
            (long long)res->agent, (long long)app, req->agent.env, req->agent.hostname, (long long)req->agent.pid,
            req->ndbs, req->ndbs == 1 ? "" : "s", res->primary ? "primary" : "secondary");
    res->lease_s = ctx->cfg->lease_ms / 1000;
    return 0;
}

typedef struct {
    int64_t app, agent, now;
    const char *key_hash;
    sd_poll_view view;
    int primary, more_jobs;
    int64_t job, next_slot, lease_until;
    sd_job_policy policy; /* the app's, when a job is handed out */
} poll_arg;

static int poll_view(sd_ctx *ctx, void *a_, sd_status *st)
{
    poll_arg *a = a_;
    return sd_store_agent_poll_view(ctx->db, a->app, a->agent, a->key_hash, &a->view, &st->err);
}

/* The write path: last_seen, the election, and for a primary the dispatch of the oldest pending job. */
static int poll_txn(sd_ctx *ctx, void *a_, sd_status *st)
{
    poll_arg *a = a_;
    a->job = a->next_slot = 0;
    a->more_jobs = 0;
    SD_TRY(sd_store_agent_touch(ctx->db, a->agent, a->now, &st->err));
    SD_TRY(elect(ctx, a->app, a->view.env, a->agent, NULL, a->now, &a->primary, &a->lease_until, st));
    if (!a->primary)
        return 0;
    SD_TRY(sd_store_job_pending(ctx->db, a->app, a->view.env, a->agent, &a->job, &a->more_jobs, &st->err));
    if (a->job) /* a job leaves with the app's policy, or not at all (a bad stored key: never in plaintext) */
        SD_TRY(sd_job_policy_load(ctx, a->app, &a->policy, st));
    if (a->job)
        SD_TRY(sd_store_job_dispatch(ctx->db, a->job, a->agent, a->now + ctx->cfg->job_lease_ms, a->now, &st->err));
    return sd_store_schedule_next_slot(ctx->db, a->app, a->view.env, &a->next_slot, &st->err);
}

typedef struct {
    int64_t job;
    sd_job_view *view;
    int found;
} job_arg;

static int job_view(sd_ctx *ctx, void *a_, sd_status *st)
{
    job_arg *a = a_;
    return sd_store_job_view(ctx->db, a->job, a->view, &a->found, &st->err);
}

int sd_agent_poll(sd_ctx *ctx, int64_t app, const char *key_hash, int64_t agent, sd_poll_res *res, sd_status *st)
{
    poll_arg a = {.app = app, .agent = agent, .now = sd_ctx_now(ctx), .key_hash = key_hash};
    /* The read: the agent with its app's current key hash (see sd_auth_poll_key), and its primary. */
    if (sd_txn(ctx, SD_TXN_NONE, poll_view, &a, st))
        return -1;
    if (!a.view.found) { /* an unknown agent, or a key that is no longer the app's */
        int64_t now_app = 0;
        if (sd_auth_app_of_hash(ctx, key_hash, &now_app, st))
            return -1;
        if (now_app == app)
            return sd_fail(st, SD_NOT_FOUND, "unknown agent (register again)");
        sd_auth_forget(ctx, key_hash);
        return sd_fail(st, SD_UNAUTHORIZED, "missing or wrong app key");
    }
    if (sd_poll_read_only(a.view.has_primary ? &a.view.primary : NULL, agent, a.view.last_seen, a.now))
        a.lease_until = a.view.primary.until;
    else if (sd_txn(ctx, SD_TXN_WRITE, poll_txn, &a, st))
        return -1;
    double jitter = sd_ctx_jitter(ctx);
    *res = (sd_poll_res){.primary = a.primary,
                         .interval = a.primary ? sd_poll_interval(1, a.more_jobs, a.next_slot, a.now,
                                                                  ctx->cfg->primary_interval,
                                                                  ctx->cfg->secondary_interval, jitter)
                                               : sd_secondary_interval(a.lease_until, a.view.registered_at, a.now,
                                                                       ctx->cfg->secondary_interval, jitter),
                         .lease_s = ctx->cfg->lease_ms / 1000,
                         .now = a.now,
                         .job_lease_s = ctx->cfg->job_lease_ms / 1000};
    if (a.job) {
        /* The job was committed as dispatched: a failed read here only leaves it to its lease. */
        job_arg j = {a.job, &res->job, 0};
        sd_status js = SD_STATUS_INIT;
        res->has_job = !sd_txn(ctx, SD_TXN_NONE, job_view, &j, &js) && j.found;
        res->policy = a.policy;
    }
    return 0;
}

typedef struct {
    int64_t app, agent, now;
    const char *key_hash;
    int released;
} release_arg;

static int release_txn(sd_ctx *ctx, void *a_, sd_status *st)
{
    release_arg *a = a_;
    sd_poll_view v;
    SD_TRY(sd_store_agent_poll_view(ctx->db, a->app, a->agent, a->key_hash, &v, &st->err));
    if (!v.found)
        return sd_fail(st, SD_NOT_FOUND, "unknown agent");
    SD_TRY(sd_store_agent_stop(ctx->db, a->agent, a->now, &st->err));
    a->released = sd_release_applies(v.has_primary ? &v.primary : NULL, a->agent);
    if (a->released)
        SD_TRY(sd_store_primary_renew(ctx->db, a->app, v.env, a->now, &st->err));
    return 0;
}

int sd_agent_release(sd_ctx *ctx, int64_t app, const char *key_hash, int64_t agent, int *released, sd_status *st)
{
    release_arg a = {.app = app, .agent = agent, .now = sd_ctx_now(ctx), .key_hash = key_hash};
    if (sd_txn(ctx, SD_TXN_WRITE, release_txn, &a, st))
        return -1;
    *released = a.released;
    dp_info("agent a_%lld stopped%s", (long long)agent, a.released ? " and released its primary lease" : "");
    return 0;
}

typedef struct {
    int64_t before, now;
    sd_silent_list silent;
} watch_arg;

static int watch_txn(sd_ctx *ctx, void *a_, sd_status *st)
{
    watch_arg *a = a_;
    sd_list_free(&a->silent);
    return sd_store_agents_silent(ctx->db, a->before, a->now, &a->silent, &st->err);
}

int sd_agents_watch(sd_ctx *ctx, dp_err *err)
{
    static int64_t last; /* the scheduler's passes are serialised */
    int64_t now = sd_ctx_now(ctx);
    if (last && now >= last && now - last < SD_AGENTS_WATCH_MS)
        return 0;
    last = now;
    int64_t after = sd_agent_silent_after_ms(ctx->cfg->primary_interval, ctx->cfg->secondary_interval,
                                             ctx->cfg->lease_ms);
    watch_arg a = {.before = now - after, .now = now};
    sd_status st = SD_STATUS_INIT;
    if (sd_txn(ctx, SD_TXN_WRITE, watch_txn, &a, &st)) {
        sd_list_free(&a.silent);
        return dp_err_set(err, st.err.code ? st.err.code : DUMPER_EINTERNAL, "%s", st.err.msg);
    }
    for (int i = 0; i < a.silent.n; i++) {
        const sd_silent_agent *g = &a.silent.v[i];
        dp_warn("agent a_%lld of app %s (environment %s, host %s, pid %lld) has gone silent: last seen %lld s ago",
                (long long)g->id, g->app, g->env, g->hostname, (long long)g->pid,
                (long long)((now - g->last_seen) / 1000));
    }
    sd_list_free(&a.silent);
    return 0;
}
