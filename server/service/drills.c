/* drills.c - drill policies and drill jobs (see drills.h). */
#include "service/drills.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "domain/drill.h"
#include "domain/names.h"
#include "domain/schedule.h"
#include "service/drill_results.h"
#include "store/databases.h"
#include "store/jobs.h"

typedef struct {
    int64_t app, db_id;
    const char *env, *dbkey, *cron, *tz;
    int mode, removed;
    sd_drill_policy_list *list;
} policy_arg;

static int find_db(sd_ctx *ctx, policy_arg *a, sd_status *st)
{
    a->db_id = 0;
    if (!a->dbkey)
        return 0;
    SD_TRY(sd_store_database_find(ctx->db, a->app, a->env, a->dbkey, &a->db_id, &st->err));
    if (!a->db_id)
        return sd_fail(st, SD_NOT_FOUND,
                       "database '%s' is not known in environment '%s' (an agent must register it first)", a->dbkey,
                       a->env);
    return 0;
}

static int set_txn(sd_ctx *ctx, void *a_, sd_status *st)
{
    policy_arg *a = a_;
    SD_TRY(find_db(ctx, a, st));
    return sd_store_drill_policy_set(ctx->db, a->app, a->env, a->db_id, a->mode, a->cron, a->tz, sd_ctx_now(ctx),
                                     &st->err);
}

int sd_drill_policy_set(sd_ctx *ctx, int64_t app, const char *env, const char *dbkey, int after_each,
                        const char *cron, const char *tz, const char **warning, sd_status *st)
{
    char msg[300];
    int leap = 0;
    *warning = NULL;
    if (!sd_scope_valid(env, dbkey))
        return sd_fail(st, SD_INVALID, "%s", SD_SCOPE_RULE);
    if (sd_drill_policy_check(after_each, cron, tz, msg, sizeof msg, &leap))
        return sd_fail(st, SD_INVALID, "%s", msg);
    policy_arg a = {.app = app, .env = env, .dbkey = dbkey, .cron = cron, .tz = tz ? tz : "UTC",
                    .mode = after_each ? SD_DRILL_AFTER_BACKUP : SD_DRILL_CRON};
    if (sd_txn(ctx, SD_TXN_WRITE, set_txn, &a, st))
        return -1;
    if (leap)
        *warning = "this drill policy " SD_CRON_LEAP_MSG;
    return 0;
}

static int remove_txn(sd_ctx *ctx, void *a_, sd_status *st)
{
    policy_arg *a = a_;
    SD_TRY(find_db(ctx, a, st));
    SD_TRY(sd_store_drill_policy_remove(ctx->db, a->app, a->env, a->db_id, &a->removed, &st->err));
    if (!a->removed)
        return sd_fail(st, SD_NOT_FOUND, "no drill policy for %s%s%s", a->env, a->dbkey ? ", database " : "",
                       a->dbkey ? a->dbkey : "");
    return 0;
}

int sd_drill_policy_remove(sd_ctx *ctx, int64_t app, const char *env, const char *dbkey, sd_status *st)
{
    if (!sd_scope_valid(env, dbkey))
        return sd_fail(st, SD_INVALID, "%s", SD_SCOPE_RULE);
    policy_arg a = {.app = app, .env = env, .dbkey = dbkey};
    return sd_txn(ctx, SD_TXN_WRITE, remove_txn, &a, st);
}

static int list_txn(sd_ctx *ctx, void *a_, sd_status *st)
{
    policy_arg *a = a_;
    sd_list_free(a->list);
    return sd_store_drill_policy_list(ctx->db, a->app, a->list, &st->err);
}

int sd_drill_policies(sd_ctx *ctx, int64_t app, sd_drill_policy_list *out, sd_status *st)
{
    policy_arg a = {.app = app, .list = out};
    *out = (sd_drill_policy_list){0};
    return sd_txn(ctx, SD_TXN_NONE, list_txn, &a, st);
}

/* Queue a drill of `backup` of database db_id for policy p's slot, unless that one exists (exactly once). */
static int queue(sd_ctx *ctx, const sd_drill_policy_row *p, int64_t db_id, int64_t backup, int64_t slot,
                 const char *reason, int64_t now, int *queued, sd_status *st)
{
    int exists = 0;
    int64_t job = 0;
    *queued = 0;
    SD_TRY(sd_store_drill_job_exists(ctx->db, p->id, slot, backup, &exists, &st->err));
    if (exists)
        return 0;
    SD_TRY(sd_store_drill_job_insert(ctx->db, p->app, p->env, db_id, backup, p->id, slot, reason, now, &job,
                                     &st->err));
    *queued = 1;
    dp_info("drill job j_%" PRId64 " queued: backup b_%" PRId64 " (%s)", job, backup, reason);
    return 0;
}

int sd_drills_after_backup(sd_ctx *ctx, int64_t app, int64_t db_id, int64_t backup, int64_t now, sd_status *st)
{
    sd_drill_policy_list l = {0};
    int64_t ids[2], job = 0;
    int pending = 0, queued = 0;
    SD_TRY(sd_store_drill_policy_candidates(ctx->db, app, db_id, &l, &st->err));
    for (int i = 0; i < l.n && i < 2; i++)
        ids[i] = l.v[i].db_id;
    int k = sd_drill_policy_pick(ids, l.n < 2 ? l.n : 2, db_id);
    int rc = 0;
    if (k >= 0 && l.v[k].mode == SD_DRILL_AFTER_BACKUP) {
        rc = sd_store_drill_job_open(ctx->db, db_id, &job, &pending, &st->err);
        if (!rc && job && pending) { /* not handed out yet: it drills the newest backup instead */
            rc = sd_store_drill_job_retarget(ctx->db, job, backup, now, &st->err);
            if (!rc)
                dp_info("drill job j_%" PRId64 " now drills backup b_%" PRId64, job, backup);
        } else if (!rc) {
            rc = queue(ctx, &l.v[k], db_id, backup, 0, "after-backup", now, &queued, st);
        }
    }
    sd_list_free(&l);
    return rc;
}

typedef struct {
    const sd_drill_policy_row *p;
    int64_t slot, next, now_s;
    int produced;
} produce_arg;

static int produce_txn(sd_ctx *ctx, void *a_, sd_status *st)
{
    produce_arg *a = a_;
    const sd_drill_policy_row *p = a->p;
    int64_t last = 0, now = sd_ctx_now(ctx);
    int found = 0;
    sd_id_list dbs = {0};
    a->produced = 0;
    /* Someone else (another instance) moved the policy on, or removed it: nothing to do. */
    SD_TRY(sd_store_drill_policy_last_slot(ctx->db, p->id, &last, &found, &st->err));
    if (!found || last != p->last_slot)
        return 0;
    int rc = 0;
    if (a->slot && p->db_id) {
        int exists = 0;
        rc = sd_store_database_exists(ctx->db, p->db_id, &exists, &st->err);
        if (!rc && exists && !(dbs.v = calloc(1, sizeof *dbs.v)))
            rc = dp_err_set(&st->err, DUMPER_ENOMEM, "out of memory");
        if (!rc && exists)
            dbs.v[dbs.n++] = p->db_id;
    } else if (a->slot) {
        rc = sd_store_drill_undrilled_dbs(ctx->db, p->app, p->env, &dbs, &st->err);
    }
    for (int i = 0; !rc && i < dbs.n; i++) {
        int64_t backup = 0, job = 0;
        int pending = 0, queued = 0;
        rc = sd_store_drill_latest_good(ctx->db, dbs.v[i], &backup, &st->err);
        if (!rc && backup)
            rc = sd_store_drill_job_open(ctx->db, dbs.v[i], &job, &pending, &st->err);
        if (!rc && backup && !job) /* a drill already coming proves the latest backup soon enough */
            rc = queue(ctx, p, dbs.v[i], backup, a->slot, "schedule", now, &queued, st);
        a->produced += queued;
    }
    sd_list_free(&dbs);
    SD_TRY(rc);
    return sd_store_drill_policy_advance(ctx->db, p->id, p->last_slot, a->now_s, a->next, &st->err);
}

typedef struct {
    int64_t now_s;
    sd_drill_policy_list due;
} due_arg;

static int due_txn(sd_ctx *ctx, void *a_, sd_status *st)
{
    due_arg *a = a_;
    sd_list_free(&a->due);
    return sd_store_drill_policy_due(ctx->db, a->now_s, &a->due, &st->err);
}

int sd_drills_tick(sd_ctx *ctx, int64_t now_s, dp_err *err)
{
    due_arg d = {.now_s = now_s};
    sd_status st = SD_STATUS_INIT;
    if (sd_txn(ctx, SD_TXN_NONE, due_txn, &d, &st))
        return dp_err_set(err, st.err.code ? st.err.code : DUMPER_EINTERNAL, "%s", st.err.msg);
    int64_t *slots = d.due.n ? calloc(SD_SCHEDULE_MAX_SLOTS, sizeof *slots) : NULL;
    for (int i = 0; slots && i < d.due.n; i++) {
        const sd_drill_policy_row *p = &d.due.v[i];
        sd_cron c;
        char msg[200];
        sd_due due = {.slots = slots};
        if (sd_cron_parse(p->cron, &c, msg, sizeof msg))
            continue;
        sd_schedule_due(&c, p->tz, p->last_slot, now_s, ctx->cfg->catchup_s, &due);
        produce_arg a = {.p = p, .slot = sd_drill_slot(due.slots, due.n), .next = due.next, .now_s = now_s};
        sd_status ps = SD_STATUS_INIT;
        if (sd_txn(ctx, SD_TXN_WRITE, produce_txn, &a, &ps))
            dp_warn("drill policy %" PRId64 ": %s", p->id, ps.err.msg);
        else if (a.produced)
            dp_info("drill policy %" PRId64 ": %d drill job(s) queued", p->id, a.produced);
    }
    free(slots);
    sd_list_free(&d.due);
    return 0;
}

typedef struct {
    int64_t app, job, agent, lease_until;
    sd_drill_job_row row;
} report_arg;

/* The job must be this app's drill job, dispatched to this agent. */
static int open_job(sd_ctx *ctx, report_arg *a, sd_status *st)
{
    int found = 0;
    SD_TRY(sd_store_drill_job_get(ctx->db, a->app, a->job, &a->row, &found, &st->err));
    if (!found)
        return sd_fail(st, SD_NOT_FOUND, "unknown drill job 'j_%" PRId64 "'", a->job);
    if (strcmp(a->row.state, "dispatched"))
        return sd_fail(st, SD_CONFLICT, "drill job 'j_%" PRId64 "' is no longer open (%s)", a->job, a->row.state);
    if (a->row.agent != a->agent)
        return sd_fail(st, SD_CONFLICT, "job 'j_%" PRId64 "' is dispatched to another agent", a->job);
    return 0;
}

static int renew_txn(sd_ctx *ctx, void *a_, sd_status *st)
{
    report_arg *a = a_;
    int64_t now = sd_ctx_now(ctx);
    SD_TRY(open_job(ctx, a, st));
    a->lease_until = now + ctx->cfg->job_lease_ms;
    return sd_store_job_renew(ctx->db, a->job, a->lease_until, now, &st->err);
}

int sd_drill_job_renew(sd_ctx *ctx, int64_t app, int64_t job, int64_t agent, int64_t *lease_until, sd_status *st)
{
    report_arg a = {.app = app, .job = job, .agent = agent};
    if (sd_txn(ctx, SD_TXN_WRITE, renew_txn, &a, st))
        return -1;
    *lease_until = a.lease_until;
    return 0;
}

/* The job must be this app's drill job, dispatched to this agent; it is done from now on (exactly once). */
static int report_txn(sd_ctx *ctx, void *a_, sd_status *st)
{
    report_arg *a = a_;
    int done = 0;
    SD_TRY(open_job(ctx, a, st));
    SD_TRY(sd_store_drill_job_finish(ctx->db, a->job, a->agent, sd_ctx_now(ctx), &done, &st->err));
    return done ? 0 : sd_fail(st, SD_CONFLICT, "drill job 'j_%" PRId64 "' is no longer open", a->job);
}

int sd_drill_job_report(sd_ctx *ctx, int64_t app, int64_t job, int64_t agent, const char *result_json, size_t len,
                        sd_status *st)
{
    report_arg a = {.app = app, .job = job, .agent = agent};
    if (sd_txn(ctx, SD_TXN_WRITE, report_txn, &a, st))
        return -1;
    if (!sd_drill_record(ctx, app, a.row.backup_id, agent, job, result_json, len, st)) {
        dp_info("drill job j_%" PRId64 ": result of backup b_%" PRId64 " recorded", job, a.row.backup_id);
        return 0;
    }
    if (st->outcome != SD_INVALID) {
        dp_warn("drill job j_%" PRId64 ": the result of backup b_%" PRId64 " was not recorded: %s", job,
                a.row.backup_id, st->err.msg);
        return -1;
    }
    /* The agent's document is bad: the drill still happened and must not vanish. Record an error naming the
     * problem (the refusal goes back to the agent too). */
    sd_status is = SD_STATUS_INIT;
    cJSON *o = cJSON_CreateObject();
    char why[DP_ERR_MSG_MAX + 64], *doc = NULL;
    snprintf(why, sizeof why, "the agent's drill report was refused: %s", st->err.msg);
    if (o && cJSON_AddStringToObject(o, "status", "error") && cJSON_AddStringToObject(o, "error", why) &&
        cJSON_AddBoolToObject(o, "compared", 0) && cJSON_AddNumberToObject(o, "restore_ms", 0) &&
        cJSON_AddNumberToObject(o, "duration_ms", 0) && cJSON_AddArrayToObject(o, "mismatches") &&
        cJSON_AddArrayToObject(o, "checks"))
        doc = cJSON_PrintUnformatted(o);
    if (!doc || sd_drill_record(ctx, app, a.row.backup_id, agent, job, doc, strlen(doc), &is))
        dp_warn("drill job j_%" PRId64 ": %s", job, doc ? is.err.msg : "out of memory");
    free(doc);
    cJSON_Delete(o);
    return -1;
}
