/* admin.c - operator actions and views (see admin.h). */
#include "service/admin.h"

#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/util.h"
#include "domain/cron.h"
#include "domain/names.h"
#include "domain/election.h"
#include "domain/schedule.h"
#include "service/auth.h"
#include "service/copies.h"
#include "service/parts.h"
#include "service/retention.h"
#include "service/storages.h"
#include "storage/s3_upload.h"
#include "store/jobs.h"

typedef struct {
    const char *name;
    const char *hash;
    int64_t id;
} app_arg;

static int create_txn(sd_ctx *ctx, void *a_, sd_status *st)
{
    app_arg *a = a_;
    SD_TRY(sd_store_app_id(ctx->db, a->name, &a->id, &st->err));
    if (a->id)
        return sd_fail(st, SD_CONFLICT, "app '%s' already exists", a->name);
    return sd_store_app_insert(ctx->db, a->name, a->hash, sd_ctx_now(ctx), &a->id, &st->err);
}

int sd_app_create(sd_ctx *ctx, const char *name, char key[68], int64_t *id, sd_status *st)
{
    char h[65];
    if (!sd_app_name_valid(name))
        return sd_fail(st, SD_INVALID, "%s", SD_APP_NAME_RULE);
    if (sd_key_new(key, h, &st->err))
        return sd_fail_code(st, SD_INTERNAL, st->err.code, "%s", st->err.msg);
    app_arg a = {name, h, 0};
    if (sd_txn(ctx, SD_TXN_WRITE, create_txn, &a, st)) {
        dp_memzero(key, 68);
        return -1;
    }
    *id = a.id;
    return 0;
}

static int find_txn(sd_ctx *ctx, void *a_, sd_status *st)
{
    app_arg *a = a_;
    SD_TRY(sd_store_app_id(ctx->db, a->name, &a->id, &st->err));
    return a->id ? 0 : sd_fail(st, SD_NOT_FOUND, "no app named '%s' (dumperd app list)", a->name);
}

int sd_app_find(sd_ctx *ctx, const char *name, int64_t *id, sd_status *st)
{
    app_arg a = {name, NULL, 0};
    if (sd_txn(ctx, SD_TXN_NONE, find_txn, &a, st))
        return -1;
    *id = a.id;
    return 0;
}

static int rotate_txn(sd_ctx *ctx, void *a_, sd_status *st)
{
    app_arg *a = a_;
    int found = 0;
    SD_TRY(sd_store_app_set_key(ctx->db, a->id, a->hash, &found, &st->err));
    return found ? 0 : sd_fail(st, SD_NOT_FOUND, "the app no longer exists");
}

int sd_app_rotate_key(sd_ctx *ctx, int64_t app, char key[68], sd_status *st)
{
    char h[65];
    if (sd_key_new(key, h, &st->err))
        return sd_fail_code(st, SD_INTERNAL, st->err.code, "%s", st->err.msg);
    app_arg a = {NULL, h, app};
    if (sd_txn(ctx, SD_TXN_WRITE, rotate_txn, &a, st)) {
        dp_memzero(key, 68);
        return -1;
    }
    return 0;
}

typedef struct {
    int64_t app;
    int delete_backups;
    sd_backup_list live; /* good and running backups */
} del_arg;

static int live_backups(sd_ctx *ctx, void *a_, sd_status *st)
{
    del_arg *a = a_;
    sd_list_free(&a->live);
    return sd_store_backup_live_of_app(ctx->db, a->app, &a->live, &st->err);
}

static int delete_txn(sd_ctx *ctx, void *a_, sd_status *st)
{
    del_arg *a = a_;
    SD_TRY(live_backups(ctx, a, st));
    if (a->live.n && !a->delete_backups)
        return sd_fail(st, SD_CONFLICT, "the app has %d backup(s)", a->live.n);
    return sd_store_app_delete(ctx->db, a->app, &st->err);
}

/* Every good backup is where this command looks: else it would "remove" nothing and forget them. */
static int check_stored(sd_ctx *ctx, del_arg *a, sd_status *st)
{
    dp_err e = {0};
    if (sd_txn(ctx, SD_TXN_NONE, live_backups, a, st) || !a->live.n)
        return st->outcome ? -1 : 0;
    dp_storage *stg = sd_ctx_storage(ctx, &e);
    if (!stg) /* the storage is serve's option, not the store's */
        return sd_fail_code(st, SD_STORAGE_FAILED, e.code, "%s; nothing deleted (give app delete serve's --storage)",
                            e.msg);
    for (int i = 0; i < a->live.n; i++) {
        if (strcmp(a->live.v[i].status, "good"))
            continue;
        dp_object_info info = {0};
        int rc = dp_storage_stat(stg, a->live.v[i].file_name, &info, &e);
        free(info.key);
        if (rc == DUMPER_ENOENT)
            return sd_fail(st, SD_NOT_FOUND,
                           "backup '%s' is not in storage '%s'; nothing deleted (give app delete serve's --storage)",
                           a->live.v[i].file_name, ctx->cfg->storage);
        if (rc)
            return sd_fail_code(st, SD_STORAGE_FAILED, rc, "%s; nothing deleted", e.msg);
    }
    return 0;
}

int sd_app_delete(sd_ctx *ctx, int64_t app, int delete_backups, int *removed, int *left, sd_status *st)
{
    del_arg a = {.app = app, .delete_backups = delete_backups};
    dp_err e = {0};
    sd_copy_list copies = {0};
    *removed = *left = 0;
    if ((delete_backups && (check_stored(ctx, &a, st) || sd_copies_of_app(ctx, app, INT_MAX, &copies, st))) ||
        sd_txn(ctx, SD_TXN_WRITE, delete_txn, &a, st)) {
        sd_list_free(&a.live);
        sd_list_free(&copies);
        return -1;
    }
    /* Copies in the other destinations (service/copies.h). */
    sd_copies_remove_stored(ctx, &copies, removed, left);
    sd_list_free(&copies);
    /* The catalog is gone first (as in retention): a crash now leaves files without an entry, never an entry
     * without its file. Running backups: their parts, or their S3 multipart upload. */
    dp_storage *stg = a.live.n ? sd_ctx_storage(ctx, &e) : NULL;
    if (a.live.n && !stg)
        dp_warn("app delete: %s", e.msg); /* backups that appeared since the check above */
    for (int i = 0; i < a.live.n; i++) {
        const sd_backup_row *b = &a.live.v[i];
        dp_err_clear(&e);
        if (!strcmp(b->status, "running")) {
            sd_parts_remove(ctx, b->id);
            if (stg && b->upload_id && sd_ctx_presigned(ctx) && dp_s3_abort_upload(stg, b->file_name, b->upload_id, &e))
                dp_debug("abort of upload for b_%" PRId64 ": %s", b->id, e.msg);
        } else if (!stg || sd_backup_remove_stored(stg, b->file_name, &e)) {
            if (stg)
                dp_warn("app delete: %s", e.msg);
            (*left)++;
        } else {
            (*removed)++;
        }
    }
    sd_list_free(&a.live);
    return 0;
}

typedef struct {
    int64_t app;
    const char *env, *dbkey, *cron, *tz;
    sd_retention policy;
    int n;
    int64_t *jobs; /* backup now: the ids of the first max_jobs jobs */
    int max_jobs;
} admin_arg;

static int schedule_txn(sd_ctx *ctx, void *a_, sd_status *st)
{
    admin_arg *a = a_;
    int64_t dbid = 0;
    if (a->dbkey) {
        SD_TRY(sd_store_database_find(ctx->db, a->app, a->env, a->dbkey, &dbid, &st->err));
        if (!dbid)
            return sd_fail(st, SD_NOT_FOUND,
                           "database '%s' is not known in environment '%s' (an agent must register it first)",
                           a->dbkey, a->env);
    }
    return sd_store_schedule_set(ctx->db, a->app, a->env, dbid, a->cron, a->tz, &st->err);
}

int sd_schedule_set(sd_ctx *ctx, int64_t app, const char *env, const char *dbkey, const char *cron, const char *tz,
                    const char **warning, sd_status *st)
{
    *warning = NULL;
    sd_cron c;
    char msg[200];
    if (!sd_scope_valid(env, dbkey))
        return sd_fail(st, SD_INVALID, "%s", SD_SCOPE_RULE);
    if (sd_cron_parse(cron, &c, msg, sizeof msg))
        return sd_fail(st, SD_INVALID, "%s", msg);
    if (sd_cron_rarity(&c) == SD_CRON_NEVER)
        return sd_fail(st, SD_INVALID, "cron expression '%.100s' " SD_CRON_NEVER_MSG, cron);
    if (!sd_tz_valid(tz))
        return sd_fail(st, SD_INVALID, "unknown time zone '%.64s'", tz);
    admin_arg a = {.app = app, .env = env, .dbkey = dbkey, .cron = cron, .tz = tz};
    if (sd_txn(ctx, SD_TXN_WRITE, schedule_txn, &a, st))
        return -1;
    if (sd_cron_rarity(&c) == SD_CRON_LEAP_ONLY)
        *warning = "this schedule " SD_CRON_LEAP_MSG;
    return 0;
}

static int retention_txn(sd_ctx *ctx, void *a_, sd_status *st)
{
    admin_arg *a = a_;
    return sd_store_app_set_retention(ctx->db, a->app, &a->policy, &st->err);
}

int sd_retention_set(sd_ctx *ctx, int64_t app, const sd_retention *policy, sd_status *st)
{
    admin_arg a = {.app = app, .policy = *policy};
    return sd_txn(ctx, SD_TXN_WRITE, retention_txn, &a, st);
}

/* backup now in an environment without databases: name the environments that have some. */
static int no_database(sd_ctx *ctx, int64_t app, const char *env, sd_status *st)
{
    sd_database_list l = {0};
    SD_TRY(sd_store_database_list(ctx->db, app, &l, &st->err));
    dp_buf envs = {0};
    for (int i = 0; i < l.n; i++) {
        int seen = 0;
        for (int k = 0; k < i && !seen; k++)
            seen = !strcmp(l.v[k].env, l.v[i].env);
        if (!seen) {
            dp_buf_puts(&envs, envs.len ? ", " : "");
            dp_buf_puts(&envs, l.v[i].env);
        }
    }
    if (envs.len)
        sd_fail(st, SD_NOT_FOUND, "no database is known in environment '%s'; environments with databases: %s (use"
                                  " --env)", env, envs.data);
    else
        sd_fail(st, SD_NOT_FOUND, "no database is known in environment '%s' (no agent registered one)", env);
    dp_buf_free(&envs);
    sd_list_free(&l);
    return -1;
}

static int backup_now_txn(sd_ctx *ctx, void *a_, sd_status *st)
{
    admin_arg *a = a_;
    sd_id_list dbs = {0};
    int rc = 0;
    a->n = 0;
    if (a->dbkey) {
        int64_t id = 0;
        rc = sd_store_database_find(ctx->db, a->app, a->env, a->dbkey, &id, &st->err);
        if (!rc && id && !(dbs.v = calloc(1, sizeof *dbs.v)))
            rc = dp_err_set(&st->err, DUMPER_ENOMEM, "out of memory");
        if (!rc && id)
            dbs.v[dbs.n++] = id;
    } else {
        rc = sd_store_database_ids(ctx->db, a->app, a->env, &dbs, &st->err);
    }
    if (!rc && !dbs.n && a->dbkey)
        rc = sd_fail(st, SD_NOT_FOUND, "database '%s' is not known in environment '%s'", a->dbkey, a->env);
    else if (!rc && !dbs.n)
        rc = no_database(ctx, a->app, a->env, st);
    int64_t now = sd_ctx_now(ctx);
    for (int i = 0; !rc && i < dbs.n; i++)
        if (!(rc = sd_store_job_insert_manual(ctx->db, a->app, a->env, dbs.v[i], now,
                                              a->jobs && a->n < a->max_jobs ? &a->jobs[a->n] : NULL, &st->err)))
            a->n++;
    sd_list_free(&dbs);
    return rc;
}

int sd_backup_now(sd_ctx *ctx, int64_t app, const char *env, const char *dbkey, int *n, sd_status *st)
{
    return sd_backup_now_jobs(ctx, app, env, dbkey, NULL, 0, n, st);
}

int sd_backup_now_jobs(sd_ctx *ctx, int64_t app, const char *env, const char *dbkey, int64_t *jobs, int max_jobs,
                       int *n, sd_status *st)
{
    if (!sd_scope_valid(env, dbkey))
        return sd_fail(st, SD_INVALID, "%s", SD_SCOPE_RULE);
    admin_arg a = {.app = app, .env = env, .dbkey = dbkey, .jobs = jobs, .max_jobs = max_jobs};
    if (sd_txn(ctx, SD_TXN_WRITE, backup_now_txn, &a, st))
        return -1;
    *n = a.n;
    return 0;
}

/* ---- views: one read each ---- */

typedef struct {
    int64_t app, id, db_id;
    int limit;
    void *out;
} view_arg;

static int apps_read(sd_ctx *ctx, void *a_, sd_status *st)
{
    view_arg *a = a_;
    sd_list_free((sd_app_list *)a->out);
    return a->app ? sd_store_app_get(ctx->db, a->app, a->out, &st->err) : sd_store_app_list(ctx->db, a->out, &st->err);
}

int sd_apps(sd_ctx *ctx, sd_app_list *out, sd_status *st)
{
    view_arg a = {.out = memset(out, 0, sizeof *out)};
    return sd_txn(ctx, SD_TXN_NONE, apps_read, &a, st);
}

int sd_app_get(sd_ctx *ctx, int64_t app, sd_app_list *out, sd_status *st)
{
    view_arg a = {.app = app, .out = memset(out, 0, sizeof *out)};
    return sd_txn(ctx, SD_TXN_NONE, apps_read, &a, st);
}

static int agents_read(sd_ctx *ctx, void *a_, sd_status *st)
{
    view_arg *a = a_;
    sd_list_free((sd_agent_list *)a->out);
    return sd_store_agent_list(ctx->db, a->app, a->out, &st->err);
}

int sd_agents(sd_ctx *ctx, int64_t app, sd_agent_list *out, sd_status *st)
{
    view_arg a = {.app = app, .out = memset(out, 0, sizeof *out)};
    if (sd_txn(ctx, SD_TXN_NONE, agents_read, &a, st))
        return -1;
    int64_t now = sd_ctx_now(ctx);
    int64_t after = sd_agent_silent_after_ms(ctx->cfg->primary_interval, ctx->cfg->secondary_interval,
                                             ctx->cfg->lease_ms);
    for (int i = 0; i < out->n; i++) {
        out->v[i].primary = out->v[i].has_lease && out->v[i].lease_until > now;
        out->v[i].alive = sd_agent_alive(out->v[i].stopped, out->v[i].last_seen, now, after);
    }
    return 0;
}

static int databases_read(sd_ctx *ctx, void *a_, sd_status *st)
{
    view_arg *a = a_;
    sd_list_free((sd_database_list *)a->out);
    return sd_store_database_list(ctx->db, a->app, a->out, &st->err);
}

int sd_databases(sd_ctx *ctx, int64_t app, sd_database_list *out, sd_status *st)
{
    view_arg a = {.app = app, .out = memset(out, 0, sizeof *out)};
    return sd_txn(ctx, SD_TXN_NONE, databases_read, &a, st);
}

static int schedules_read(sd_ctx *ctx, void *a_, sd_status *st)
{
    view_arg *a = a_;
    sd_list_free((sd_schedule_list *)a->out);
    return sd_store_schedule_list(ctx->db, a->app, a->out, &st->err);
}

int sd_schedules(sd_ctx *ctx, int64_t app, sd_schedule_views *out, sd_status *st)
{
    memset(out, 0, sizeof *out);
    view_arg a = {.app = app, .out = &out->rows};
    if (sd_txn(ctx, SD_TXN_NONE, schedules_read, &a, st))
        return -1;
    if (!(out->v = calloc((size_t)out->rows.n + 1, sizeof *out->v))) {
        sd_list_free(&out->rows);
        return sd_fail(st, SD_INTERNAL, "out of memory");
    }
    out->n = out->rows.n;
    int64_t now_s = sd_ctx_now(ctx) / 1000;
    for (int i = 0; i < out->n; i++) {
        sd_schedule_view *v = &out->v[i];
        sd_cron c;
        char msg[200];
        v->row = &out->rows.v[i];
        if (!sd_cron_parse(v->row->cron, &c, msg, sizeof msg))
            v->nnext = sd_schedule_next(&c, v->row->tz, now_s, 5, v->next);
    }
    return 0;
}

void sd_schedule_views_free(sd_schedule_views *v)
{
    free(v->v);
    v->v = NULL;
    v->n = 0;
    sd_list_free(&v->rows);
}

static int backups_read(sd_ctx *ctx, void *a_, sd_status *st)
{
    view_arg *a = a_;
    sd_list_free((sd_backup_list *)a->out);
    if (a->id)
        return sd_store_backup_get(ctx->db, a->app, a->id, a->out, &st->err);
    return sd_store_backup_list(ctx->db, a->app, a->db_id, a->limit, a->out, &st->err);
}

int sd_backups(sd_ctx *ctx, int64_t app, int64_t db_id, int limit, sd_backup_list *out, sd_status *st)
{
    view_arg a = {.app = app, .db_id = db_id, .limit = limit <= 0 || limit > 10000 ? 10000 : limit,
                  .out = memset(out, 0, sizeof *out)};
    return sd_txn(ctx, SD_TXN_NONE, backups_read, &a, st);
}

int sd_backup_get(sd_ctx *ctx, int64_t app, int64_t backup, sd_backup_list *out, sd_status *st)
{
    view_arg a = {.app = app, .id = backup, .out = memset(out, 0, sizeof *out)};
    if (sd_txn(ctx, SD_TXN_NONE, backups_read, &a, st))
        return -1;
    if (!out->n) {
        sd_list_free(out);
        return sd_fail(st, SD_NOT_FOUND, "unknown backup 'b_%" PRId64 "'", backup);
    }
    return 0;
}
