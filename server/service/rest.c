/* rest.c - the REST API's own reads (see rest.h). */
#include "service/rest.h"

#include <string.h>

typedef struct {
    int64_t app, job;
    sd_backup_filter f;
    void *out;
    int found;
} rest_arg;

static int page_read(sd_ctx *ctx, void *a_, sd_status *st)
{
    rest_arg *a = a_;
    sd_list_free((sd_backup_list *)a->out);
    return sd_store_backup_page(ctx->db, a->app, &a->f, a->out, &st->err);
}

int sd_backup_page(sd_ctx *ctx, int64_t app, const sd_backup_filter *f, sd_backup_list *out, int *more,
                   sd_status *st)
{
    rest_arg a = {.app = app, .f = *f, .out = memset(out, 0, sizeof *out)};
    a.f.limit = f->limit + 1; /* one more: are there older ones? */
    if (sd_txn(ctx, SD_TXN_NONE, page_read, &a, st))
        return -1;
    *more = out->n > f->limit;
    if (*more)
        out->n = f->limit;
    return 0;
}

static int job_read(sd_ctx *ctx, void *a_, sd_status *st)
{
    rest_arg *a = a_;
    SD_TRY(sd_store_job_state(ctx->db, a->app, a->job, a->out, &a->found, &st->err));
    return a->found ? 0 : sd_fail(st, SD_NOT_FOUND, "unknown job 'j_%lld'", (long long)a->job);
}

int sd_job_state_get(sd_ctx *ctx, int64_t app, int64_t job, sd_job_state *out, sd_status *st)
{
    rest_arg a = {.app = app, .job = job, .out = out};
    return sd_txn(ctx, SD_TXN_NONE, job_read, &a, st);
}

const char *sd_job_result(const sd_job_state *j)
{
    if (!strcmp(j->state, "failed"))
        return "failed";
    if (!strcmp(j->state, "done")) /* a commit finishes a job: its backup was good (retention may drop it later) */
        return "good";
    return "pending";
}
