/* scheduler.c - lease expiry and slot production (see scheduler.h). */
#include "service/scheduler.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>

#include "core/log.h"
#include "domain/drill.h"
#include "domain/schedule.h"
#include "service/agents.h"
#include "service/drills.h"
#include "service/parts.h"
#include "service/uploads.h"
#include "store/backups.h"
#include "store/databases.h"
#include "store/jobs.h"
#include "store/schedules.h"

#define EXPIRE_BATCH 100

static pthread_mutex_t tick_mutex = PTHREAD_MUTEX_INITIALIZER;

typedef struct {
    int64_t now, count;
    sd_expired_list lost;
} expire_arg;

static int count_expired(sd_ctx *ctx, void *a_, sd_status *st)
{
    expire_arg *a = a_;
    return sd_store_job_count_expired(ctx->db, a->now, &a->count, &st->err);
}

static int expire_txn(sd_ctx *ctx, void *a_, sd_status *st)
{
    expire_arg *a = a_;
    sd_list_free(&a->lost);
    SD_TRY(sd_store_job_expired(ctx->db, a->now, EXPIRE_BATCH, &a->lost, &st->err));
    for (int i = 0; i < a->lost.n; i++) {
        const sd_expired_job *j = &a->lost.v[i];
        int requeued = 0;
        if (j->backup)
            SD_TRY(sd_store_backup_lost(ctx->db, j->backup, a->now, &st->err));
        /* a lost drill runs once more (domain/drill.h); a backup until the configured attempts */
        SD_TRY(sd_job_attempt_failed(ctx, j->job, a->now, 0, j->drill ? SD_DRILL_MAX_ATTEMPTS : 0, &requeued, st));
        dp_info("%s j_%" PRId64 " lost (lease expired)%s", j->drill ? "drill job" : "job", j->job,
                requeued ? ", queued again" : "");
    }
    return 0;
}

typedef struct {
    const sd_schedule_row *s;
    sd_due due;
    int64_t now_s;
    int produced;
} produce_arg;

static int produce_txn(sd_ctx *ctx, void *a_, sd_status *st)
{
    produce_arg *a = a_;
    const sd_schedule_row *s = a->s;
    int64_t last = 0, now = sd_ctx_now(ctx);
    int found = 0;
    sd_id_list dbs = {0};
    a->produced = 0;
    /* Someone else (another instance) moved the schedule on: nothing to do. */
    SD_TRY(sd_store_schedule_last_slot(ctx->db, s->id, &last, &found, &st->err));
    if (!found || last != s->last_slot)
        return 0;
    int rc = 0;
    if (s->db_id) {
        int exists = 0;
        rc = sd_store_database_exists(ctx->db, s->db_id, &exists, &st->err);
        if (!rc && exists && !(dbs.v = calloc(1, sizeof *dbs.v)))
            rc = dp_err_set(&st->err, DUMPER_ENOMEM, "out of memory");
        if (!rc && exists)
            dbs.v[dbs.n++] = s->db_id;
    } else {
        rc = sd_store_database_unscheduled(ctx->db, s->app, s->env, &dbs, &st->err);
    }
    for (int k = 0; !rc && k < a->due.n; k++)
        for (int i = 0; !rc && i < dbs.n; i++) {
            rc = sd_store_job_insert_slot(ctx->db, s->app, s->env, dbs.v[i], s->id, a->due.slots[k], now, &st->err);
            a->produced += !rc;
        }
    sd_list_free(&dbs);
    SD_TRY(rc);
    return sd_store_schedule_advance(ctx->db, s->id, s->last_slot, a->now_s, a->due.next, &st->err);
}

typedef struct {
    int64_t now_s;
    sd_schedule_list due;
} due_arg;

static int due_schedules(sd_ctx *ctx, void *a_, sd_status *st)
{
    due_arg *a = a_;
    sd_list_free(&a->due);
    return sd_store_schedule_due(ctx->db, a->now_s, &a->due, &st->err);
}

static int tick(sd_ctx *ctx, dp_err *err)
{
    int64_t now = sd_ctx_now(ctx), now_s = now / 1000;
    sd_status st = SD_STATUS_INIT;
    expire_arg e = {.now = now};
    /* Look before taking the write lock: most passes have nothing to expire. */
    if (sd_txn(ctx, SD_TXN_NONE, count_expired, &e, &st))
        return dp_err_set(err, st.err.code, "%s", st.err.msg);
    if (e.count && sd_txn(ctx, SD_TXN_WRITE, expire_txn, &e, &st)) {
        sd_list_free(&e.lost);
        return dp_err_set(err, DUMPER_EINTERNAL, "%s", st.err.msg);
    }
    for (int i = 0; i < e.lost.n; i++)
        if (e.lost.v[i].backup) {
            sd_parts_remove(ctx, e.lost.v[i].backup);
            sd_backup_abort_upload(ctx, e.lost.v[i].backup);
        }
    sd_list_free(&e.lost);

    due_arg d = {.now_s = now_s};
    if (sd_txn(ctx, SD_TXN_NONE, due_schedules, &d, &st))
        return dp_err_set(err, st.err.code, "%s", st.err.msg);
    int64_t *slots = d.due.n ? calloc(SD_SCHEDULE_MAX_SLOTS, sizeof *slots) : NULL;
    for (int i = 0; slots && i < d.due.n; i++) {
        const sd_schedule_row *s = &d.due.v[i];
        produce_arg p = {.s = s, .due = {.slots = slots}, .now_s = now_s};
        sd_cron c;
        char msg[200];
        if (sd_cron_parse(s->cron, &c, msg, sizeof msg))
            continue;
        sd_schedule_due(&c, s->tz, s->last_slot, now_s, ctx->cfg->catchup_s, &p.due);
        if (p.due.skipped)
            dp_warn("schedule %" PRId64 ": skipping slots before the catch-up window", s->id);
        sd_status ps = SD_STATUS_INIT;
        if (sd_txn(ctx, SD_TXN_WRITE, produce_txn, &p, &ps))
            dp_warn("schedule %" PRId64 ": %s", s->id, ps.err.msg);
        else if (p.produced)
            dp_info("schedule %" PRId64 ": %d job(s) queued", s->id, p.produced);
    }
    free(slots);
    sd_list_free(&d.due);
    dp_err derr = {0};
    if (sd_drills_tick(ctx, now_s, &derr))
        dp_warn("drill policies: %s", derr.msg);
    return sd_agents_watch(ctx, err);
}

int sd_scheduler_tick(sd_ctx *ctx, dp_err *err)
{
    pthread_mutex_lock(&tick_mutex);
    int rc = tick(ctx, err);
    pthread_mutex_unlock(&tick_mutex);
    return rc;
}

int sd_scheduler_tick_at(sd_ctx *ctx, int64_t now_ms, dp_err *err)
{
    pthread_mutex_lock(&tick_mutex);
    sd_clock_set_ms(ctx->clock, now_ms);
    int rc = tick(ctx, err);
    pthread_mutex_unlock(&tick_mutex);
    return rc;
}
