/* agents.c - agent registration, polls and the primary election (see agents.h). */
#include "service/agents.h"

#include <string.h>

#include "domain/election.h"
#include "service/auth.h"
#include "service/job_policy.h"
#include "store/schedules.h"

/* Decide the role of `agent` in (app, env) at `now` (domain/election.h); renew or take the lease. */
static int elect(sd_ctx *ctx, int64_t app, const char *env, int64_t agent, int64_t now, int *primary, sd_status *st)
{
    sd_lease cur;
    int found = 0;
    SD_TRY(sd_store_primary_get(ctx->db, app, env, &cur, &found, &st->err));
    sd_elect_action act = sd_elect(found ? &cur : NULL, agent, now);
    sd_lease mine = {agent, now + ctx->cfg->lease_ms};
    *primary = sd_elect_is_primary(act);
    switch (act) {
    case SD_ELECT_TAKE: return sd_store_primary_insert(ctx->db, app, env, &mine, now, &st->err);
    case SD_ELECT_RENEW: return sd_store_primary_renew(ctx->db, app, env, mine.until, &st->err);
    case SD_ELECT_TAKE_OVER: return sd_store_primary_take(ctx->db, app, env, &mine, now, &st->err);
    case SD_ELECT_SECONDARY: break;
    }
    return 0;
}

typedef struct {
    int64_t app;
    const sd_register_req *req;
    sd_register_res *res;
} reg_arg;

static int register_txn(sd_ctx *ctx, void *a_, sd_status *st)
{
    reg_arg *a = a_;
    int64_t now = sd_ctx_now(ctx);
    a->res->now = now;
    SD_TRY(sd_store_agent_insert(ctx->db, a->app, &a->req->agent, now, &a->res->agent, &st->err));
    for (int i = 0; i < a->req->ndbs; i++)
        SD_TRY(sd_store_database_upsert(ctx->db, a->app, a->req->agent.env, &a->req->dbs[i], now, &a->res->db_ids[i],
                                        &st->err));
    SD_TRY(elect(ctx, a->app, a->req->agent.env, a->res->agent, now, &a->res->primary, st));
    /* Every process start registers a new agent: forget the app's agents not seen for a while, except a
     * primary. One that comes back gets 404 on its poll and registers again. */
    return sd_store_agents_forget(ctx->db, a->app, now - sd_agent_keep_ms(ctx->cfg->secondary_interval),
                                  a->res->agent, &st->err);
}

int sd_agent_register(sd_ctx *ctx, int64_t app, const sd_register_req *req, sd_register_res *res, sd_status *st)
{
    reg_arg a = {app, req, res};
    if (sd_txn(ctx, SD_TXN_WRITE, register_txn, &a, st))
        return -1;
    res->interval = sd_register_interval(res->primary, ctx->cfg->secondary_interval, sd_ctx_jitter(ctx));
    res->lease_s = ctx->cfg->lease_ms / 1000;
    return 0;
}

typedef struct {
    int64_t app, agent, now;
    const char *key_hash;
    sd_poll_view view;
    int primary, more_jobs;
    int64_t job, next_slot;
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
    SD_TRY(elect(ctx, a->app, a->view.env, a->agent, a->now, &a->primary, st));
    if (!a->primary)
        return 0;
    SD_TRY(sd_store_job_pending(ctx->db, a->app, a->view.env, &a->job, &a->more_jobs, &st->err));
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
    if (!sd_poll_read_only(a.view.has_primary ? &a.view.primary : NULL, agent, a.view.last_seen, a.now) &&
        sd_txn(ctx, SD_TXN_WRITE, poll_txn, &a, st))
        return -1;
    *res = (sd_poll_res){.primary = a.primary,
                         .interval = sd_poll_interval(a.primary, a.more_jobs, a.next_slot, a.now,
                                                      ctx->cfg->primary_interval, ctx->cfg->secondary_interval,
                                                      sd_ctx_jitter(ctx)),
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
