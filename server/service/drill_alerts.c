/* drill_alerts.c - the "no passed drill for too long" alert and its resolution, and the per-app setting (see
 * drill_results.h). */
#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/util.h"
#include "service/drill_results.h"
#include "service/notify.h"

typedef struct {
    int64_t app, max_age_s;
    int64_t *out;
} age_arg;

static int age_put(sd_ctx *ctx, void *a_, sd_status *st)
{
    age_arg *a = a_;
    return sd_store_drill_max_age_put(ctx->db, a->app, a->max_age_s, &st->err);
}

int sd_drill_max_age_set(sd_ctx *ctx, int64_t app, int64_t max_age_s, sd_status *st)
{
    if (max_age_s < 0 || max_age_s > SD_DRILL_MAX_AGE_MAX)
        return sd_fail(st, SD_INVALID, "invalid --drill-max-age (0 to %lld hours, or off)",
                       SD_DRILL_MAX_AGE_MAX / 3600);
    age_arg a = {.app = app, .max_age_s = max_age_s};
    return sd_txn(ctx, SD_TXN_WRITE, age_put, &a, st);
}

static int age_get(sd_ctx *ctx, void *a_, sd_status *st)
{
    age_arg *a = a_;
    return sd_store_drill_max_age_get(ctx->db, a->app, a->out, &st->err);
}

int sd_drill_max_age_get(sd_ctx *ctx, int64_t app, int64_t *max_age_s, sd_status *st)
{
    age_arg a = {.app = app, .out = max_age_s};
    return sd_txn(ctx, SD_TXN_NONE, age_get, &a, st);
}

static void add_time(cJSON *o, const char *k, int has, int64_t ms)
{
    char t[24];
    if (!has) {
        cJSON_AddNullToObject(o, k);
        return;
    }
    dp_stamp_rfc3339(ms, t);
    cJSON_AddStringToObject(o, k, t);
}

static const char *or(const char *s, const char *dflt) { return s ? s : dflt; }

static int overdue(sd_ctx *ctx, const sd_drill_db_list *l, int64_t now, sd_status *st)
{
    for (int i = 0; i < l->n; i++) {
        const sd_drill_db_row *d = &l->v[i];
        if (!d->has_good || !sd_drill_overdue(d->has_passed, d->last_passed_at, d->first_good_at, now, d->max_age_s))
            continue;
        char ref[64];
        sd_drill_ref_overdue(ref, d->db_id, d->has_passed ? d->last_passed_id : 0);
        double hours = (double)d->max_age_s / 3600;
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "app", d->app);
        cJSON_AddStringToObject(o, "environment", d->env);
        cJSON_AddStringToObject(o, "database", d->db_key);
        add_time(o, "last_verified_at", d->has_passed, d->last_passed_at);
        cJSON_AddNumberToObject(o, "drill_max_age_hours", hours);
        if (d->latest_status)
            cJSON_AddStringToObject(o, "latest_drill_status", d->latest_status);
        else
            cJSON_AddNullToObject(o, "latest_drill_status");
        char *text = dp_asprintf("Dumper: %s/%s (%s) has had no passed restore drill for more than %g hours%s%s", d->app,
                                 d->db_key, d->env, hours, d->latest_status ? "; the latest drill: " : "",
                                 or(d->latest_status, ""));
        sd_event ev = {.kind = "drill_overdue",
                       .ref = ref,
                       .app_id = d->app_id,
                       .app = d->app,
                       .env = d->env,
                       .database = d->db_key,
                       .text = text ? text : "Dumper: a database has no recent passed restore drill",
                       .fields = o};
        int rc = sd_event_raise(ctx, &ev, NULL, st);
        free(text);
        SD_TRY(rc);
    }
    return 0;
}

/* Open overdue conditions whose database has passed a drill since. */
static int resolved(sd_ctx *ctx, const sd_drill_db_list *l, sd_status *st)
{
    sd_alert_list open = {0};
    SD_TRY(sd_store_drill_open_overdue(ctx->db, &open, &st->err));
    int rc = 0;
    for (int i = 0; !rc && i < open.n; i++) {
        int64_t dbid = 0, passed = 0;
        const sd_drill_db_row *d = NULL;
        if (sd_drill_ref_overdue_parse(open.v[i].ref, &dbid, &passed))
            continue;
        for (int k = 0; k < l->n && !d; k++)
            if (l->v[k].db_id == dbid)
                d = &l->v[k];
        if (!d || !d->has_passed || d->last_passed_id <= passed)
            continue;
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "app", d->app);
        cJSON_AddStringToObject(o, "environment", d->env);
        cJSON_AddStringToObject(o, "database", d->db_key);
        add_time(o, "last_verified_at", 1, d->last_passed_at);
        char *text = dp_asprintf("Dumper: %s/%s (%s) passed a restore drill again", d->app, d->db_key, d->env);
        sd_event ev = {.kind = "drill_overdue_resolved",
                       .ref = open.v[i].ref,
                       .app_id = d->app_id,
                       .app = d->app,
                       .env = d->env,
                       .database = d->db_key,
                       .text = text ? text : "Dumper: a database passed a restore drill again",
                       .fields = o};
        rc = sd_event_raise(ctx, &ev, NULL, st);
        free(text);
    }
    sd_list_free(&open);
    return rc;
}

int sd_drill_alerts_detect(sd_ctx *ctx, int64_t now, sd_status *st)
{
    sd_drill_db_list l = {0};
    SD_TRY(sd_store_drill_databases(ctx->db, 0, &l, &st->err));
    int rc = overdue(ctx, &l, now, st);
    if (!rc)
        rc = resolved(ctx, &l, st);
    sd_list_free(&l);
    return rc;
}
