/* copies.c - copies to destinations, their worker thread, sync, and the places of a backup (see copies.h). */
#include "service/copies.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "core/util.h"
#include "domain/names.h"
#include "domain/retention.h"
#include "domain/retry.h"
#include "io/filter.h"
#include "job/manifest.h"
#include "service/alerts.h"
#include "service/retention.h"
#include "service/storages.h"
#include "storage/s3_upload.h"
#include "store/backups.h"
#include "store/storages.h"

#define CLAIM_MS (10 * 60 * 1000) /* a copy in progress: other workers leave it alone this long */
#define SD_COPY_SERVER_SIDE_MAX (INT64_C(5) << 30) /* one CopyObject's limit; larger ones stream */

int sd_copy_check(dp_storage *stg, const char *key, uint64_t size, const char *sha256, dp_err *err)
{
    dp_sink *sha = dp_filter_sha256_new(dp_sink_null_new());
    char got[65] = "";
    if (!sha)
        return dp_err_set(err, DUMPER_ENOMEM, "out of memory");
    int rc = dp_storage_read(stg, key, sha, err);
    if (!rc)
        rc = dp_sink_end(sha, err);
    if (!rc) {
        dp_filter_sha256_hex(sha, got);
        if (sha->bytes != size || strcmp(got, sha256 ? sha256 : ""))
            rc = dp_err_set(err, DUMPER_ECORRUPT, "'%s' has %" PRIu64 " bytes with sha256 %s, the catalog says %" PRIu64
                            " and %s", key, sha->bytes, got, size, sha256 ? sha256 : "");
    }
    dp_sink_free(sha);
    return rc;
}

/* --- places ---------------------------------------------------------------------------------------------- */

typedef struct {
    int64_t app, backup;
    sd_copy_list copies;
    sd_backup_list b;
} places_arg;

static int places_txn(sd_ctx *ctx, void *a_, sd_status *st)
{
    places_arg *a = a_;
    sd_list_free(&a->copies);
    sd_list_free(&a->b);
    SD_TRY(sd_store_backup_get(ctx->db, a->app, a->backup, &a->b, &st->err));
    return sd_store_copy_of_backup(ctx->db, a->app, a->backup, &a->copies, &st->err);
}

int sd_copy_places(sd_ctx *ctx, int64_t app, int64_t backup, sd_copy_place *out, int *n, sd_status *st)
{
    places_arg a = {.app = app, .backup = backup};
    *n = 0;
    int rc = sd_txn(ctx, SD_TXN_READ, places_txn, &a, st);
    if (!rc && a.b.n && !strcmp(a.b.v[0].status, "good")) {
        out[*n].storage = 0;
        out[*n].s3 = !strncmp(ctx->cfg->storage, "s3://", 5);
        snprintf(out[*n].name, sizeof out[*n].name, "--storage");
        ++*n;
    }
    for (int i = 0; !rc && i < a.copies.n && *n < SD_COPY_MAX_PLACES; i++) {
        if (strcmp(a.copies.v[i].state, "good"))
            continue;
        out[*n].storage = a.copies.v[i].storage;
        out[*n].s3 = !strncmp(a.copies.v[i].location, "s3://", 5);
        snprintf(out[*n].name, sizeof out[*n].name, "%s", a.copies.v[i].storage_name);
        ++*n;
    }
    sd_list_free(&a.copies);
    sd_list_free(&a.b);
    return rc;
}

typedef struct {
    int64_t id;
    sd_storage_list row;
} row_arg;

static int row_txn(sd_ctx *ctx, void *a_, sd_status *st)
{
    row_arg *a = a_;
    sd_list_free(&a->row);
    return sd_store_storage_get(ctx->db, a->id, &a->row, &st->err);
}

/* Open destination `id` (create: make a missing directory). */
static int open_destination(sd_ctx *ctx, int64_t id, int create, dp_storage **out, dp_err *err)
{
    row_arg a = {.id = id};
    sd_status st = SD_STATUS_INIT;
    int rc;
    *out = NULL;
    if (sd_txn(ctx, SD_TXN_READ, row_txn, &a, &st))
        rc = dp_err_set(err, st.err.code, "%s", st.err.msg);
    else if (!a.row.n)
        rc = dp_err_set(err, DUMPER_ENOENT, "storage %" PRId64 " was removed", id);
    else
        rc = sd_storage_open_row(&a.row.v[0], create, out, err);
    sd_list_free(&a.row);
    return rc;
}

int sd_copy_place_open(sd_ctx *ctx, const sd_copy_place *p, dp_storage **out, dp_err *err)
{
    if (p->storage)
        return open_destination(ctx, p->storage, 0, out, err);
    return dp_storage_open(ctx->cfg->storage, NULL, 0, out, err);
}

typedef struct {
    int64_t backup, storage;
    const char *why;
} bad_arg;

static int bad_txn(sd_ctx *ctx, void *a_, sd_status *st)
{
    bad_arg *a = a_;
    return sd_store_copy_result(ctx->db, a->backup, a->storage, "failed", 0, dp_now_ms(), a->why, sd_ctx_now(ctx),
                                &st->err);
}

static void alert(sd_ctx *ctx, const char *kind, const char *ref, int64_t backup, const char *storage,
                  const char *file_name, const char *why, const char *text)
{
    sd_status st = SD_STATUS_INIT;
    char bid[32];
    sd_id_format(bid, 'b', backup);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "backup_id", bid);
    cJSON_AddStringToObject(o, "storage", storage);
    cJSON_AddStringToObject(o, "file_name", file_name ? file_name : "");
    cJSON_AddStringToObject(o, "error_message", why);
    cJSON_AddStringToObject(o, "text", text);
    if (sd_alert_raise(ctx, kind, ref, o, &st))
        dp_warn("alert %s %s: %s", kind, ref, st.err.msg);
}

void sd_copy_place_bad(sd_ctx *ctx, int64_t backup, const char *file_name, const sd_copy_place *p, const char *why)
{
    dp_warn("backup b_%" PRId64 " in storage '%s': %s; trying the next copy", backup, p->name, why);
    char ref[120], *text = dp_asprintf("Dumper: the copy of backup b_%" PRId64 " in storage '%s' is missing or"
                                       " damaged (%s); served from another copy", backup, p->name, why);
    snprintf(ref, sizeof ref, "b_%" PRId64 "@%s", backup, p->name);
    alert(ctx, "copy_fallback", ref, backup, p->name, file_name, why, text ? text : "Dumper: a copy is damaged");
    free(text);
    if (p->storage) {
        bad_arg a = {backup, p->storage, why};
        sd_status st = SD_STATUS_INIT;
        if (sd_txn(ctx, SD_TXN_WRITE, bad_txn, &a, &st))
            dp_warn("copy of b_%" PRId64 " to '%s': %s", backup, p->name, st.err.msg);
    }
}

void sd_copies_remove_stored(sd_ctx *ctx, const sd_copy_list *l, int *removed, int *left)
{
    for (int i = 0; i < l->n; i++) {
        const sd_copy_row *c = &l->v[i];
        dp_storage *dst = NULL;
        dp_err err = {0};
        if (!strcmp(c->state, "deleted") || !strcmp(c->state, "pending"))
            continue; /* gone, or never written (a failed one may have left its manifest) */
        if (open_destination(ctx, c->storage, 0, &dst, &err) || sd_backup_remove_stored(dst, c->file_name, &err)) {
            dp_warn("app delete: %s", err.msg);
            (*left)++;
        } else {
            (*removed)++;
        }
        dp_storage_close(dst);
    }
}

/* --- one copy -------------------------------------------------------------------------------------------- */

/* Manifest, then the backup through sha256 (committed only when it matches), then a read-back check.
 * *src_fault = 1 when the source is to blame (its object is missing, has another size or checksum). */
static int transfer(dp_storage *src, dp_storage *dst, const sd_copy_row *c, int *src_fault, dp_err *err)
{
    char *mkey = dp_asprintf("%s%s", c->file_name, DP_MANIFEST_SUFFIX), *mjson = NULL, got[65] = "";
    size_t mlen = 0;
    dp_sink *w = NULL, *sha = NULL;
    dp_object_info oi = {0};
    int rc = 0, written = 0;
    *src_fault = 0;
    if (!mkey)
        return dp_err_set(err, DUMPER_ENOMEM, "out of memory");
    *src_fault = 1;
    if ((rc = dp_storage_stat(src, c->file_name, &oi, err)) ||
        (rc = dp_storage_get(src, mkey, DP_MANIFEST_MAX, &mjson, &mlen, err)))
        goto done;
    if (oi.size != (uint64_t)c->size) {
        rc = dp_err_set(err, DUMPER_ECORRUPT, "'%s' has %" PRIu64 " bytes, the catalog says %" PRId64, c->file_name,
                        oi.size, c->size);
        goto done;
    }
    *src_fault = 0;
    if ((rc = dp_storage_put(dst, mkey, mjson, mlen, err)))
        goto done;
    written = 1;
    if (dp_s3_same_service(src, dst) && c->size <= SD_COPY_SERVER_SIDE_MAX) {
        /* Server-side: the bytes stay in the service; the read-back below still checks them. A mismatch there
         * is the source's fault when the source itself fails the check. */
        if (!(rc = dp_s3_copy_object(dst, src, c->file_name, err)) &&
            (rc = sd_copy_check(dst, c->file_name, (uint64_t)c->size, c->sha256, err))) {
            dp_err e2 = {0};
            *src_fault = sd_copy_check(src, c->file_name, (uint64_t)c->size, c->sha256, &e2) != 0;
            dp_err_prefix(err, "read back from the destination after a server-side copy");
        }
        if (!rc)
            dp_debug("'%s' copied server-side", c->file_name);
        goto done;
    }
    if ((rc = dp_storage_writer(dst, c->file_name, &w, err)))
        goto done;
    if (!(sha = dp_filter_sha256_new(w))) {
        dp_sink_free(w);
        rc = dp_err_set(err, DUMPER_ENOMEM, "out of memory");
        goto done;
    }
    if (!(rc = dp_storage_read(src, c->file_name, sha, err)) && !(rc = dp_sink_end(sha, err))) {
        dp_filter_sha256_hex(sha, got);
        if ((*src_fault = sha->bytes != (uint64_t)c->size || strcmp(got, c->sha256 ? c->sha256 : "")))
            rc = dp_err_set(err, DUMPER_ECORRUPT,
                            "'%s' has %" PRIu64 " bytes with sha256 %s, the catalog says %" PRId64 " and %s",
                            c->file_name, sha->bytes, got, c->size, c->sha256 ? c->sha256 : "");
    }
    if (!rc)
        rc = dp_sink_commit(sha, err);
    else
        dp_sink_abort(sha);
    dp_sink_free(sha);
    /* What the destination stores, read back: the copy is good only when it is. */
    if (!rc && (rc = sd_copy_check(dst, c->file_name, (uint64_t)c->size, c->sha256, err)))
        dp_err_prefix(err, "read back from the destination");
done:
    if (rc && written) {
        dp_err ignore = {0};
        sd_backup_remove_stored(dst, c->file_name, &ignore);
    }
    free(oi.key);
    free(mkey);
    free(mjson);
    return rc;
}

/* Copy c from the first place that has it intact (never from the destination itself); a damaged source is
 * reported (sd_copy_place_bad) and the next one tried; a destination error ends the attempt. */
static int copy_one(sd_ctx *ctx, const sd_copy_row *c, dp_err *err)
{
    sd_copy_place places[SD_COPY_MAX_PLACES];
    int n = 0, rc;
    sd_status st = SD_STATUS_INIT;
    dp_storage *dst = NULL;
    if (sd_copy_places(ctx, c->app, c->backup, places, &n, &st))
        return dp_err_set(err, st.err.code, "%s", st.err.msg);
    if ((rc = open_destination(ctx, c->storage, 1, &dst, err)))
        return rc;
    rc = dp_err_set(err, DUMPER_ENOENT, "backup b_%" PRId64 " has no good copy to copy from", c->backup);
    /* Into S3: S3 places first (a same-service one copies server-side), then the others, each in order. */
    int order[SD_COPY_MAX_PLACES], k = 0, to_s3 = dst->drv == &dp_storage_s3;
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < n; i++)
            if (!to_s3 ? pass == 0 : (pass == 0) == (places[i].s3 != 0))
                order[k++] = i;
    for (int j = 0; j < n; j++) {
        int i = order[j];
        if (places[i].storage == c->storage)
            continue;
        dp_storage *src = NULL;
        dp_err e = {0};
        int src_fault = 0;
        if ((rc = sd_copy_place_open(ctx, &places[i], &src, &e))) {
            dp_err_clear(err);
            dp_err_set(err, e.code, "%s", e.msg);
            continue; /* that place is unreachable now: not damaged */
        }
        rc = transfer(src, dst, c, &src_fault, &e);
        dp_storage_close(src);
        if (!rc) {
            dp_err_clear(err);
            break;
        }
        dp_err_clear(err);
        dp_err_set(err, e.code, "%s", e.msg);
        if (!src_fault)
            break; /* the destination failed: another source would not help */
        sd_copy_place_bad(ctx, c->backup, c->file_name, &places[i], e.msg);
    }
    dp_storage_close(dst);
    return rc;
}

/* --- retention per destination --------------------------------------------------------------------------- */

typedef struct {
    int64_t storage, db_id, newest;
    sd_storage_list row;
    sd_copy_list good;
    sd_copy_list all; /* sync candidates: the newest backup of the database */
} dret_arg;

static int dret_txn(sd_ctx *ctx, void *a_, sd_status *st)
{
    dret_arg *a = a_;
    sd_list_free(&a->row);
    sd_list_free(&a->good);
    SD_TRY(sd_store_storage_get(ctx->db, a->storage, &a->row, &st->err));
    if (!a->row.n || !sd_retention_active(&a->row.v[0].retention))
        return 0;
    SD_TRY(sd_store_copy_good_of_database(ctx->db, a->storage, a->db_id, &a->good, &st->err));
    return sd_store_copy_newest_of_database(ctx->db, a->db_id, &a->newest, &st->err);
}

typedef struct {
    int64_t backup, storage;
    int changed;
} cdel_arg;

static int cdel_txn(sd_ctx *ctx, void *a_, sd_status *st)
{
    cdel_arg *a = a_;
    return sd_store_copy_mark_deleted(ctx->db, a->backup, a->storage, &a->changed, &st->err);
}

static void destination_retention(sd_ctx *ctx, int64_t storage, int64_t db_id)
{
    dret_arg a = {.storage = storage, .db_id = db_id};
    sd_status st = SD_STATUS_INIT;
    dp_err err = {0};
    dp_storage *dst = NULL;
    unsigned char *keep = NULL, *pinned = NULL;
    int64_t *created = NULL;
    if (sd_txn(ctx, SD_TXN_READ, dret_txn, &a, &st)) {
        dp_warn("retention of storage %" PRId64 ": %s", storage, st.err.msg);
        goto done;
    }
    if (!a.good.n)
        goto done;
    keep = calloc((size_t)a.good.n, 1);
    pinned = calloc((size_t)a.good.n, 1);
    created = calloc((size_t)a.good.n, sizeof *created);
    if (!keep || !pinned || !created)
        goto done;
    for (int i = 0; i < a.good.n; i++) {
        created[i] = a.good.v[i].created_at;
        pinned[i] = a.good.v[i].backup == a.newest;
    }
    sd_retention_keep_pinned(&a.row.v[0].retention, created, pinned, a.good.n, keep);
    for (int i = 0; i < a.good.n; i++) {
        cdel_arg d = {a.good.v[i].backup, storage, 0};
        sd_status ds = SD_STATUS_INIT;
        if (keep[i] || sd_txn(ctx, SD_TXN_WRITE, cdel_txn, &d, &ds) || !d.changed)
            continue;
        if (!dst && open_destination(ctx, storage, 0, &dst, &err)) {
            dp_warn("retention: %s", err.msg);
            break;
        }
        if (sd_backup_remove_stored(dst, a.good.v[i].file_name, &err))
            dp_warn("retention of storage '%s': %s", a.row.v[0].name, err.msg);
        dp_err_clear(&err);
    }
done:
    dp_storage_close(dst);
    free(keep);
    free(pinned);
    free(created);
    sd_list_free(&a.row);
    sd_list_free(&a.good);
}

/* --- the pass and the worker ----------------------------------------------------------------------------- */

typedef struct {
    int64_t now, storage;
    sd_copy_list due;
    const sd_copy_row *one;
    int won;
    const char *state, *why;
    int64_t attempts, next_try;
} pass_arg;

static int due_txn(sd_ctx *ctx, void *a_, sd_status *st)
{
    pass_arg *a = a_;
    sd_list_free(&a->due);
    return sd_store_copy_due(ctx->db, a->now, a->storage, 20, &a->due, &st->err);
}

static int claim_txn(sd_ctx *ctx, void *a_, sd_status *st)
{
    pass_arg *a = a_;
    return sd_store_copy_claim(ctx->db, a->one->backup, a->one->storage, a->one->next_try, a->now + CLAIM_MS,
                               &a->won, &st->err);
}

static int result_txn(sd_ctx *ctx, void *a_, sd_status *st)
{
    pass_arg *a = a_;
    return sd_store_copy_result(ctx->db, a->one->backup, a->one->storage, a->state, a->attempts, a->next_try, a->why,
                                sd_ctx_now(ctx), &st->err);
}

int sd_copies_pass(sd_ctx *ctx, int64_t storage, int *good, int *failed, dp_err *err)
{
    /* Retry times are wall-clock (they happen in real time, also under the test clock). */
    pass_arg a = {.now = dp_now_ms(), .storage = storage};
    sd_status st = SD_STATUS_INIT;
    if (sd_txn(ctx, SD_TXN_READ, due_txn, &a, &st))
        return dp_err_set(err, st.err.code, "%s", st.err.msg);
    for (int i = 0; i < a.due.n; i++) {
        const sd_copy_row *c = a.one = &a.due.v[i];
        dp_err e = {0};
        if (sd_txn(ctx, SD_TXN_WRITE, claim_txn, &a, &st))
            break;
        if (!a.won)
            continue;
        int rc = copy_one(ctx, c, &e);
        a.attempts = rc ? c->attempts + 1 : c->attempts;
        a.state = rc ? "failed" : "good";
        a.why = rc ? e.msg : NULL;
        a.next_try = rc ? dp_now_ms() + sd_copy_retry_delay_ms(a.attempts) : 0;
        if (sd_txn(ctx, SD_TXN_WRITE, result_txn, &a, &st))
            break;
        if (rc) {
            if (failed)
                ++*failed;
            dp_warn("copy of backup b_%" PRId64 " to storage '%s' failed (attempt %" PRId64 "): %s", c->backup,
                    c->storage_name, a.attempts, e.msg);
            if (sd_copy_behind(a.attempts)) {
                char ref[120], *text = dp_asprintf("Dumper: storage '%s' is behind: backup b_%" PRId64 " could not be"
                                                   " copied there (%" PRId64 " attempts): %s", c->storage_name,
                                                   c->backup, a.attempts, e.msg);
                snprintf(ref, sizeof ref, "b_%" PRId64 "@%s", c->backup, c->storage_name);
                alert(ctx, "copy_behind", ref, c->backup, c->storage_name, c->file_name, e.msg,
                      text ? text : "Dumper: a storage is behind");
                free(text);
            }
            continue;
        }
        if (good)
            ++*good;
        dp_info("backup b_%" PRId64 " copied to storage '%s'", c->backup, c->storage_name);
        destination_retention(ctx, c->storage, c->db_id);
    }
    sd_list_free(&a.due);
    return st.outcome != SD_OK ? dp_err_set(err, st.err.code, "%s", st.err.msg) : 0;
}

static pthread_t thread;
static atomic_int stopping;
static int started;
static sd_ctx copy_ctx;

static void *worker_main(void *arg)
{
    (void)arg;
    dp_err err = {0};
    while (!atomic_load(&stopping)) {
        if (sd_copies_pass(&copy_ctx, 0, NULL, NULL, &err)) {
            dp_warn("copies: %s", err.msg);
            dp_err_clear(&err);
        }
        for (int i = 0; i < 10 && !atomic_load(&stopping); i++) {
            struct timespec ts = {0, 100000000L};
            nanosleep(&ts, NULL);
        }
    }
    return NULL;
}

int sd_copies_start(const sd_ctx *tmpl, dp_err *err)
{
    if (sd_ctx_open_like(&copy_ctx, tmpl, err)) {
        sd_ctx_close(&copy_ctx);
        return err->code;
    }
    atomic_store(&stopping, 0);
    if (pthread_create(&thread, NULL, worker_main, NULL)) {
        sd_ctx_close(&copy_ctx);
        return dp_err_set(err, DUMPER_EINTERNAL, "unable to start the copy thread");
    }
    started = 1;
    return 0;
}

void sd_copies_stop(void)
{
    if (!started)
        return;
    atomic_store(&stopping, 1);
    pthread_join(thread, NULL);
    sd_ctx_close(&copy_ctx);
    started = 0;
}

/* --- sync ------------------------------------------------------------------------------------------------ */

typedef struct {
    const char *name;
    sd_storage_list row;
    sd_copy_list cand;
    int queued;
    int64_t now;
} sync_arg;

static int sync_txn(sd_ctx *ctx, void *a_, sd_status *st)
{
    sync_arg *a = a_;
    sd_list_free(&a->row);
    sd_list_free(&a->cand);
    a->queued = 0;
    SD_TRY(sd_store_storage_list(ctx->db, a->name, &a->row, &st->err));
    if (!a->row.n)
        return sd_fail(st, SD_NOT_FOUND, "unknown storage '%s'", a->name);
    SD_TRY(sd_store_copy_sync_candidates(ctx->db, &a->cand, &st->err));
    const sd_retention *p = &a->row.v[0].retention;
    /* Per database (the candidates come grouped, newest first): what the destination's retention keeps. */
    for (int i = 0, j; i < a->cand.n; i = j) {
        for (j = i; j < a->cand.n && a->cand.v[j].db_id == a->cand.v[i].db_id; j++)
            ;
        int n = j - i;
        unsigned char *keep = calloc((size_t)n, 1), *pinned = calloc((size_t)n, 1);
        int64_t *created = calloc((size_t)n, sizeof *created);
        int rc = keep && pinned && created ? 0 : dp_err_set(&st->err, DUMPER_ENOMEM, "out of memory");
        if (!rc) {
            for (int k = 0; k < n; k++)
                created[k] = a->cand.v[i + k].created_at;
            pinned[0] = 1; /* the database's newest good backup */
            sd_retention_keep_pinned(p, created, pinned, n, keep);
        }
        for (int k = 0; !rc && k < n; k++) {
            int added = 0;
            if (keep[k] && !(rc = sd_store_copy_enqueue(ctx->db, a->cand.v[i + k].backup, a->row.v[0].id, a->now,
                                                        &added, &st->err)))
                a->queued += added;
        }
        free(keep);
        free(pinned);
        free(created);
        if (rc)
            return rc;
    }
    return 0;
}

int sd_storage_sync(sd_ctx *ctx, const char *name, int *queued, int *good, int *failed, sd_status *st)
{
    sync_arg a = {.name = name, .now = dp_now_ms()};
    *queued = *good = *failed = 0;
    int rc = sd_txn(ctx, SD_TXN_WRITE, sync_txn, &a, st);
    int64_t id = a.row.n ? a.row.v[0].id : 0;
    *queued = a.queued;
    sd_list_free(&a.row);
    sd_list_free(&a.cand);
    if (rc)
        return rc;
    /* Until a pass finds nothing due: a failed copy is due again only after its backoff. */
    for (;;) {
        int g = 0, f = 0;
        dp_err err = {0};
        if (sd_copies_pass(ctx, id, &g, &f, &err))
            return sd_fail_code(st, SD_INTERNAL, err.code, "%s", err.msg);
        *good += g;
        *failed += f;
        if (!g && !f)
            return 0;
    }
}
