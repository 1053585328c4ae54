/* stats.c - what /metrics exports (see stats.h). */
#include "service/stats.h"

#include <string.h>

#include "store/alerts.h"

static int collect(sd_ctx *ctx, void *a_, sd_status *st)
{
    sd_stats *s = a_;
    int64_t now = s->now;
    sd_stats_free(s);
    s->now = now;
    SD_TRY(sd_store_stats_backups(ctx->db, &s->backups, &st->err));
    SD_TRY(sd_store_stats_last_good(ctx->db, &s->last_good, &st->err));
    SD_TRY(sd_store_stats_good_totals(ctx->db, &s->good_totals, &st->err));
    /* Agents seen within two secondary intervals (and two minutes) count as live. */
    SD_TRY(sd_store_stats_agents(ctx->db, now, now - (int64_t)(ctx->cfg->secondary_interval * 2000) - 120000,
                                 &s->agents, &st->err));
    SD_TRY(sd_store_stats_pending(ctx->db, &s->pending, &st->err));
    return sd_store_alert_undelivered(ctx->db, &s->alerts_undelivered, &st->err);
}

int sd_stats_collect(sd_ctx *ctx, sd_stats *out, sd_status *st)
{
    memset(out, 0, sizeof *out);
    out->now = sd_ctx_now(ctx);
    if (sd_txn(ctx, SD_TXN_NONE, collect, out, st)) {
        sd_stats_free(out);
        return -1;
    }
    return 0;
}

void sd_stats_free(sd_stats *s)
{
    sd_list_free(&s->backups);
    sd_list_free(&s->last_good);
    sd_list_free(&s->good_totals);
    sd_list_free(&s->agents);
    sd_list_free(&s->pending);
}
