/* retention.c - retention applied through the catalog and the storage (see retention.h). */
#include "service/retention.h"

#include <stdlib.h>

#include "core/log.h"
#include "core/util.h"
#include "domain/retention.h"
#include "job/manifest.h"
#include "store/apps.h"
#include "store/backups.h"

int sd_backup_remove_stored(dp_storage *stg, const char *file_name, dp_err *err)
{
    char *mf = dp_asprintf("%s%s", file_name, DP_MANIFEST_SUFFIX);
    dp_err e2 = {0};
    int rc = dp_storage_remove(stg, file_name, err);
    if (!mf)
        return rc ? rc : dp_err_set(err, DUMPER_ENOMEM, "out of memory");
    if (dp_storage_remove(stg, mf, rc ? &e2 : err) && !rc)
        rc = err->code;
    free(mf);
    return rc;
}

typedef struct {
    int64_t app, db_id;
    sd_app_list app_row;
    sd_backup_list good;
} ret_arg;

static int load(sd_ctx *ctx, void *a_, sd_status *st)
{
    ret_arg *a = a_;
    sd_list_free(&a->app_row);
    sd_list_free(&a->good);
    SD_TRY(sd_store_app_get(ctx->db, a->app, &a->app_row, &st->err));
    if (!a->app_row.n || !sd_retention_active(&a->app_row.v[0].retention))
        return 0;
    return sd_store_backup_good_of_database(ctx->db, a->app, a->db_id, &a->good, &st->err);
}

typedef struct {
    int64_t id;
    int changed;
} del_arg;

static int mark_deleted(sd_ctx *ctx, void *a_, sd_status *st)
{
    del_arg *a = a_;
    return sd_store_backup_mark_deleted(ctx->db, a->id, &a->changed, &st->err);
}

void sd_retention_apply(sd_ctx *ctx, int64_t app, int64_t db_id)
{
    ret_arg a = {.app = app, .db_id = db_id};
    sd_status st = SD_STATUS_INIT;
    dp_err err = {0};
    if (sd_txn(ctx, SD_TXN_NONE, load, &a, &st) || !a.good.n) /* no policy (keep everything) or nothing */
        goto done;
    unsigned char *keep = calloc((size_t)a.good.n, 1);
    int64_t *created = calloc((size_t)a.good.n, sizeof *created);
    dp_storage *stg = keep && created ? sd_ctx_storage(ctx, &err) : NULL;
    if (stg) {
        for (int i = 0; i < a.good.n; i++)
            created[i] = a.good.v[i].created_at;
        sd_retention_keep(&a.app_row.v[0].retention, created, a.good.n, keep);
        for (int i = 0; i < a.good.n; i++) {
            del_arg d = {a.good.v[i].id, 0};
            sd_status ds = SD_STATUS_INIT;
            dp_err e2 = {0};
            if (keep[i] || sd_txn(ctx, SD_TXN_NONE, mark_deleted, &d, &ds) || !d.changed)
                continue;
            if (sd_backup_remove_stored(stg, a.good.v[i].file_name, &e2))
                dp_warn("retention: %s", e2.msg);
        }
    } else if (err.code) {
        dp_warn("retention: %s", err.msg);
    }
    free(keep);
    free(created);
done:
    sd_list_free(&a.app_row);
    sd_list_free(&a.good);
}
