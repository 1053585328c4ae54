/* job_policy.c - reading and changing an app's job policy (see job_policy.h). */
#include "service/job_policy.h"

#include <inttypes.h>
#include <string.h>

#include "store/job_policy.h"

int sd_job_policy_load(sd_ctx *ctx, int64_t app, sd_job_policy *out, sd_status *st)
{
    sd_job_policy_row row;
    char msg[200];
    sd_job_policy_init(out);
    SD_TRY(sd_store_job_policy_get(ctx->db, app, &row, &st->err));
    if (sd_job_policy_recipients_parse(out, row.recipients, msg, sizeof msg))
        return sd_fail(st, SD_INTERNAL, "app 'p_%" PRId64 "': bad stored recipients: %s", app, msg);
    if (row.has_nice && (row.nice < 0 || row.nice > SD_NICE_MAX))
        return sd_fail(st, SD_INTERNAL, "app 'p_%" PRId64 "': bad stored nice", app);
    out->nice = row.has_nice ? (int)row.nice : SD_NICE_UNSET;
    if (row.ionice[0] && sd_job_policy_ionice(row.ionice, out->ionice, msg, sizeof msg))
        return sd_fail(st, SD_INTERNAL, "app 'p_%" PRId64 "': bad stored I/O priority", app);
    out->limit_rate = row.limit_rate > 0 ? row.limit_rate : 0;
    return 0;
}

typedef struct {
    int64_t app;
    const sd_job_policy *change;
    unsigned fields;
    sd_job_policy *out;
} policy_arg;

static int get_txn(sd_ctx *ctx, void *a_, sd_status *st)
{
    policy_arg *a = a_;
    return sd_job_policy_load(ctx, a->app, a->out, st);
}

int sd_job_policy_get(sd_ctx *ctx, int64_t app, sd_job_policy *out, sd_status *st)
{
    policy_arg a = {.app = app, .out = out};
    return sd_txn(ctx, SD_TXN_READ, get_txn, &a, st);
}

static int set_txn(sd_ctx *ctx, void *a_, sd_status *st)
{
    policy_arg *a = a_;
    SD_TRY(sd_job_policy_load(ctx, a->app, a->out, st));
    sd_job_policy_merge(a->out, a->change, a->fields);
    sd_job_policy_row row = {.has_nice = a->out->nice != SD_NICE_UNSET, .nice = a->out->nice,
                             .limit_rate = a->out->limit_rate};
    char text[SD_RECIPIENTS_TEXT_MAX + 1];
    sd_job_policy_recipients_text(a->out, text);
    memcpy(row.recipients, text, sizeof text);
    memcpy(row.ionice, a->out->ionice, sizeof a->out->ionice);
    return sd_store_job_policy_put(ctx->db, a->app, &row, &st->err);
}

int sd_job_policy_set(sd_ctx *ctx, int64_t app, const sd_job_policy *change, unsigned fields, sd_job_policy *out,
                      sd_status *st)
{
    policy_arg a = {.app = app, .change = change, .fields = fields, .out = out};
    return sd_txn(ctx, SD_TXN_WRITE, set_txn, &a, st);
}
