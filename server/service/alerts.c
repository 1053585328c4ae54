/* alerts.c - alert detection, delivery and the alert thread (see alerts.h). */
#include "service/alerts.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "core/log.h"
#include "core/util.h"
#include "domain/alert_rules.h"
#include "domain/names.h"
#include "service/deliver.h"
#include "service/drill_results.h"
#include "service/notify.h"
#include "store/alerts.h"
#include "store/backups.h"

static pthread_t thread;
static dp_stop stopping;
static int started;
static sd_ctx alert_ctx; /* the alert thread's */

static void add_time(cJSON *o, const char *k, int64_t ms)
{
    char t[24];
    dp_stamp_rfc3339(ms, t);
    cJSON_AddStringToObject(o, k, t);
}

static const char *or(const char *s, const char *dflt) { return s ? s : dflt; }

typedef struct {
    int64_t now;
    double stale_after_h;
    sd_failed_list failed;
    sd_staleness_list stale;
    sd_alert_list open;
    sd_sized_list sized;
    int64_t size_after; /* the size rule's watermark after this pass */
} detect_arg;

/* The newest backup the size rule has looked at (the alert thread's; (kind, ref) keeps a second look at the
 * same backup, e.g. after a restart, from alerting twice). */
static int64_t size_checked;

/* Raise (kind, ref) with the payload fields o (consumed) and the line text. */
static int raise_alert(sd_ctx *ctx, const char *kind, const char *ref, int64_t app_id, cJSON *o, const char *text,
                       sd_status *st)
{
    const char *app = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "app"));
    sd_event ev = {.kind = kind, .ref = ref, .app_id = app_id, .app = app, .text = text, .fields = o};
    return sd_event_raise(ctx, &ev, NULL, st);
}

static int failed_backups(sd_ctx *ctx, detect_arg *a, sd_status *st)
{
    sd_list_free(&a->failed);
    SD_TRY(sd_store_alert_failed_backups(ctx->db, a->now - SD_ALERT_FAILED_WINDOW_MS, &a->failed, &st->err));
    for (int i = 0; i < a->failed.n; i++) {
        const sd_failed_row *f = &a->failed.v[i];
        char ref[32];
        sd_alert_ref_failed(ref, f->backup);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "app", f->app);
        cJSON_AddStringToObject(o, "environment", f->env);
        cJSON_AddStringToObject(o, "database", or(f->db_key, ""));
        cJSON_AddStringToObject(o, "backup_id", ref);
        cJSON_AddStringToObject(o, "error_code", or(f->error_code, ""));
        cJSON_AddStringToObject(o, "error_message", or(f->error_message, ""));
        add_time(o, "finished_at", f->finished_at);
        char *text = dp_asprintf("Dumper: backup %s of %s/%s (%s) failed: %s", ref, f->app, or(f->db_key, "?"), f->env,
                                 or(f->error_message, "no message"));
        int rc = raise_alert(ctx, "backup_failed", ref, f->app_id, o, text ? text : "Dumper: a backup failed", st);
        free(text);
        SD_TRY(rc);
    }
    return 0;
}

static int stale_databases(sd_ctx *ctx, detect_arg *a, sd_status *st)
{
    sd_list_free(&a->stale);
    SD_TRY(sd_store_alert_staleness(ctx->db, &a->stale, &st->err));
    for (int i = 0; i < a->stale.n; i++) {
        const sd_staleness_row *d = &a->stale.v[i];
        int64_t since = sd_stale_since(d->has_good, d->last_good_at, d->known_at, d->has_attempt, d->first_attempt);
        if (!sd_is_stale(since, a->now, a->stale_after_h))
            continue;
        char ref[64];
        sd_alert_ref_stale(ref, d->db_id, d->newest_good);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "app", d->app);
        cJSON_AddStringToObject(o, "environment", d->env);
        cJSON_AddStringToObject(o, "database", d->db_key);
        if (d->has_good)
            add_time(o, "last_good_at", d->last_good_at);
        else
            cJSON_AddNullToObject(o, "last_good_at");
        cJSON_AddNumberToObject(o, "stale_after_hours", a->stale_after_h);
        char *text = dp_asprintf("Dumper: %s/%s (%s) has had no good backup for more than %g hours", d->app, d->db_key,
                                 d->env, a->stale_after_h);
        int rc = raise_alert(ctx, "backup_stale", ref, d->app_id, o,
                             text ? text : "Dumper: a database has no recent good backup", st);
        free(text);
        SD_TRY(rc);
    }
    return 0;
}

/* Stale conditions resolved by a newer good backup: one "backup_stale_resolved" each. */
static int resolved(sd_ctx *ctx, detect_arg *a, sd_status *st)
{
    sd_list_free(&a->open);
    SD_TRY(sd_store_alert_open_stale(ctx->db, &a->open, &st->err));
    for (int i = 0; i < a->open.n; i++) {
        int64_t dbid = 0, good = 0, id = 0, finished = 0;
        int found = 0;
        if (sd_alert_ref_stale_parse(a->open.v[i].ref, &dbid, &good))
            continue;
        SD_TRY(sd_store_backup_newest_good_after(ctx->db, dbid, good, &id, &finished, &found, &st->err));
        if (!found)
            continue;
        cJSON *old = cJSON_Parse(a->open.v[i].payload), *o = cJSON_CreateObject();
        static const char *keep[] = {"app", "environment", "database", "dashboard_url"};
        const char *v[4];
        for (int k = 0; k < 4; k++) {
            v[k] = or(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(old, keep[k])), "");
            if (k < 3 || *v[k]) /* an alert from before channels has no dashboard link: raise adds one */
                cJSON_AddStringToObject(o, keep[k], v[k]);
        }
        add_time(o, "last_good_at", finished);
        char *text = dp_asprintf("Dumper: %s/%s (%s) has a good backup again", v[0], v[2], v[1]);
        int rc = raise_alert(ctx, "backup_stale_resolved", a->open.v[i].ref, 0, o,
                             text ? text : "Dumper: a stale database has a good backup again", st);
        free(text);
        cJSON_Delete(old);
        SD_TRY(rc);
    }
    return 0;
}

static void size_text(int64_t n, char out[32])
{
    if (n >= 10LL << 30)
        snprintf(out, 32, "%.1f GiB", (double)n / (1 << 30));
    else if (n >= 10LL << 20)
        snprintf(out, 32, "%.1f MiB", (double)n / (1 << 20));
    else if (n >= 10LL << 10)
        snprintf(out, 32, "%.1f KiB", (double)n / (1 << 10));
    else
        snprintf(out, 32, "%" PRId64 " bytes", n);
}

/* Good backups since the watermark whose size dropped or grew sharply against the previous ones. */
static int size_changes(sd_ctx *ctx, detect_arg *a, sd_status *st)
{
    sd_list_free(&a->sized);
    a->size_after = size_checked;
    SD_TRY(sd_store_sized_backups(ctx->db, size_checked, a->now - SD_ALERT_FAILED_WINDOW_MS, 100, &a->sized,
                                  &st->err));
    for (int i = 0; i < a->sized.n; i++) {
        const sd_sized_row *b = &a->sized.v[i];
        int64_t hist[SD_SIZE_HISTORY], median = 0;
        int n = 0;
        SD_TRY(sd_store_size_history(ctx->db, b->db_id, b->backup, SD_SIZE_HISTORY, hist, &n, &st->err));
        int v = sd_size_change(b->size, hist, n, &median);
        a->size_after = b->backup;
        if (v == SD_SIZE_OK)
            continue;
        char ref[32], bid[32], sz[32], med[32];
        sd_alert_ref_size(ref, b->backup);
        sd_id_format(bid, 'b', b->backup);
        size_text(b->size, sz);
        size_text(median, med);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "app", b->app);
        cJSON_AddStringToObject(o, "environment", b->env);
        cJSON_AddStringToObject(o, "database", b->db_key);
        cJSON_AddStringToObject(o, "backup_id", bid);
        cJSON_AddStringToObject(o, "change", v == SD_SIZE_DROPPED ? "dropped" : "grew");
        cJSON_AddNumberToObject(o, "size", (double)b->size);
        cJSON_AddNumberToObject(o, "median_size", (double)median);
        cJSON_AddNumberToObject(o, "compared_with", n);
        char *text = dp_asprintf("Dumper: backup %s of %s/%s (%s) is %s, %s the median of its %d previous good backups"
                                 " (%s)%s",
                                 bid, b->app, b->db_key, b->env, sz, v == SD_SIZE_DROPPED ? "at most half" : "at least twice",
                                 n, med, v == SD_SIZE_DROPPED ? ": check that it is complete" : "");
        int rc = raise_alert(ctx, "backup_size_change", ref, b->app_id, o, text ? text : "Dumper: a backup size changed",
                             st);
        free(text);
        SD_TRY(rc);
    }
    return 0;
}

static int detect(sd_ctx *ctx, void *a_, sd_status *st)
{
    detect_arg *a = a_;
    SD_TRY(failed_backups(ctx, a, st));
    SD_TRY(size_changes(ctx, a, st));
    SD_TRY(sd_drill_alerts_detect(ctx, a->now, st)); /* service/drill_alerts.c */
    if (a->stale_after_h <= 0)
        return 0;
    SD_TRY(stale_databases(ctx, a, st));
    return resolved(ctx, a, st);
}

int sd_alerts_detect(sd_ctx *ctx, dp_err *err)
{
    detect_arg a = {.now = sd_ctx_now(ctx), .stale_after_h = ctx->cfg->stale_after_h};
    sd_status st = SD_STATUS_INIT;
    int rc = sd_txn(ctx, SD_TXN_NONE, detect, &a, &st);
    if (!rc)
        size_checked = a.size_after;
    sd_list_free(&a.sized);
    sd_list_free(&a.failed);
    sd_list_free(&a.stale);
    sd_list_free(&a.open);
    return rc ? dp_err_set(err, st.err.code, "%s", st.err.msg) : 0;
}

typedef struct {
    int64_t now;
    sd_alert_list due;
    const sd_alert_row *one;
    int won;
    int64_t attempts, next_try;
    const char *why;
} deliver_arg;

static int due(sd_ctx *ctx, void *a_, sd_status *st)
{
    deliver_arg *a = a_;
    sd_list_free(&a->due);
    return sd_store_alert_due(ctx->db, a->now, SD_ALERT_MAX_ATTEMPTS, 20, &a->due, &st->err);
}

static int claim(sd_ctx *ctx, void *a_, sd_status *st)
{
    deliver_arg *a = a_;
    return sd_store_alert_claim(ctx->db, a->one->id, a->one->next_try, a->now + SD_ALERT_CLAIM_MS, &a->won, &st->err);
}

static int record(sd_ctx *ctx, void *a_, sd_status *st)
{
    deliver_arg *a = a_;
    if (!a->why)
        return sd_store_alert_sent(ctx->db, a->one->id, a->attempts, dp_now_ms(), &st->err);
    return sd_store_alert_retry_later(ctx->db, a->one->id, a->attempts, a->next_try, a->why, &st->err);
}

/* One delivery pass to the global webhook. Delivery times are wall-clock (retries happen in real time, also
 * under the test clock). */
static void deliver(sd_ctx *ctx, dp_stop *stop)
{
    deliver_arg a = {.now = dp_now_ms()};
    sd_status st = SD_STATUS_INIT;
    sd_deliver_opts o = {.timeout_s = 10, .connect_timeout_s = 5, .attempts = 1, .stop = stop,
                         .ca_file = ctx->cfg->notify_ca_file};
    if (sd_txn(ctx, SD_TXN_NONE, due, &a, &st)) {
        dp_warn("alerts: %s", st.err.msg);
        return;
    }
    for (int i = 0; i < a.due.n && !dp_stop_requested(stop); i++) {
        sd_status cs = SD_STATUS_INIT;
        a.one = &a.due.v[i];
        /* Claim it for a minute: another instance (or a later pass) leaves it alone meanwhile. */
        if (sd_txn(ctx, SD_TXN_NONE, claim, &a, &cs) || !a.won)
            continue;
        char why[200] = "";
        a.attempts = a.one->attempts + 1;
        if (!sd_deliver_json(ctx->cfg->alert_webhook, a.one->payload, &o, why, sizeof why)) {
            dp_info("alerts: %s %s delivered", a.one->kind, a.one->ref);
            a.why = NULL;
        } else {
            dp_warn("alerts: webhook failed for %s %s (attempt %" PRId64 "): %s", a.one->kind, a.one->ref, a.attempts,
                    why);
            a.why = why;
            a.next_try = dp_now_ms() + sd_alert_retry_delay_ms(a.one->attempts);
        }
        sd_txn(ctx, SD_TXN_NONE, record, &a, &cs);
    }
    sd_list_free(&a.due);
}

static void *alert_main(void *arg)
{
    sd_ctx *ctx = arg;
    dp_err err = {0};
    while (!dp_stop_requested(&stopping)) {
        if (!ctx->db && sd_db_open(ctx->cfg->store_url, &ctx->db, &err)) {
            dp_warn("alerts: %s", err.msg);
            dp_err_clear(&err);
            ctx->db = NULL;
        }
        if (ctx->db) {
            if (sd_alerts_detect(ctx, &err))
                dp_warn("alerts: %s", err.msg);
            dp_err_clear(&err);
            if (ctx->cfg->alert_webhook)
                deliver(ctx, &stopping);
            sd_notify_deliver_pass(ctx, &stopping);
        }
        dp_sleep_ms((int64_t)(ctx->cfg->alert_check_s * 1000), &stopping);
    }
    sd_ctx_close(ctx);
    return NULL;
}

int sd_alerts_start(const sd_ctx *tmpl, dp_err *err)
{
    if (started)
        return 0;
    dp_stop_init(&stopping, 0);
    alert_ctx = (sd_ctx){.cfg = tmpl->cfg, .clock = tmpl->clock, .storage_drv = tmpl->storage_drv,
                         .seed = (unsigned)dp_mono_ms()};
    if (pthread_create(&thread, NULL, alert_main, &alert_ctx))
        return dp_err_set(err, DUMPER_EINTERNAL, "unable to start the alert thread");
    started = 1;
    dp_info("alerts: %s; notification channels: dumperd notify list; stale after %g hours",
            tmpl->cfg->alert_webhook ? "webhook configured" : "no global webhook", tmpl->cfg->stale_after_h);
    return 0;
}

void sd_alerts_stop(void)
{
    if (!started)
        return;
    dp_stop_request(&stopping);
    pthread_join(thread, NULL);
    dp_stop_destroy(&stopping);
    started = 0;
}

typedef struct {
    const char *kind, *ref;
    cJSON *o;
} raise_arg;

static int raise_txn(sd_ctx *ctx, void *a_, sd_status *st)
{
    raise_arg *a = a_;
    cJSON *o = cJSON_Duplicate(a->o, 1); /* raise_alert consumes it; a retried transaction needs it again */
    if (!o)
        return dp_err_set(&st->err, DUMPER_ENOMEM, "out of memory");
    /* the line is the payload's "text" (copied: raise_alert consumes o) */
    const char *t = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "text"));
    char *text = dp_strdup(t ? t : a->kind);
    int rc = raise_alert(ctx, a->kind, a->ref, 0, o, text ? text : a->kind, st);
    free(text);
    return rc;
}

int sd_alert_raise(sd_ctx *ctx, const char *kind, const char *ref, cJSON *o, sd_status *st)
{
    raise_arg a = {kind, ref, o};
    int rc = o ? sd_txn(ctx, SD_TXN_WRITE, raise_txn, &a, st) : sd_fail(st, SD_INTERNAL, "out of memory");
    cJSON_Delete(o);
    return rc;
}
