/*
 * store.c - dumperd's state operations over SQLite or PostgreSQL (see store.h).
 *
 * Concurrency design: every state change is one transaction run by run_txn(), which retries when
 * the engine reports a conflict (SQLite busy, PostgreSQL serialization failure). SQLite writers take
 * BEGIN IMMEDIATE so a transaction that reads then writes can never be overtaken; PostgreSQL runs
 * SERIALIZABLE so two dumperd instances deciding the same election or slot cannot both win. The poll
 * path of a secondary whose primary is alive only reads (no write per poll); it writes only to
 * renew a lease, take over a lapsed one, dispatch a job, or refresh last_seen once a minute.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/util.h"
#include "domain/cron.h"
#include "domain/election.h"
#include "domain/names.h"
#include "domain/retention.h"
#include "domain/retry.h"
#include "domain/schedule.h"
#include "domain/secrets.h"
#include "io/filter.h"
#include "job/manifest.h"
#include "storage/s3_upload.h"
#include "storage/storage.h"
#include "store.h"

int sd_storage_is_s3(const sd_ctx *ctx) { return ctx->cfg->storage && !strncmp(ctx->cfg->storage, "s3://", 5); }

static int st_fail(sd_status *st, int http, const char *code, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int st_fail(sd_status *st, int http, const char *code, const char *fmt, ...)
{
    if (st->http)
        return -1;
    st->http = http;
    st->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(st->err.msg, sizeof st->err.msg, fmt, ap);
    va_end(ap);
    st->err.code = DUMPER_EUSAGE;
    return -1;
}

typedef int (*txn_fn)(sd_ctx *ctx, void *arg, sd_status *st);

/* Run fn in a transaction, retrying conflicts. Returns 0 or nonzero with st filled. */
static int run_txn(sd_ctx *ctx, int write, txn_fn fn, void *arg, sd_status *st)
{
    sd_db *db = ctx->db;
    for (int attempt = 0; attempt < 200; attempt++) {
        int rc = sd_txn_begin(db, write, &st->err);
        if (!rc) {
            rc = fn(ctx, arg, st);
            if (!rc)
                rc = sd_txn_commit(db, &st->err);
            else
                sd_txn_rollback(db);
        }
        if (rc != SD_RETRY) {
            if (rc && !st->http) {
                st->http = 500;
                st->code = "internal";
            }
            return rc;
        }
        st->http = 0;
        dp_err_clear(&st->err);
        struct timespec ts = {0, (long)(1000000L + (rand() % 4000000))};
        nanosleep(&ts, NULL);
    }
    st->http = 503;
    st->code = "unavailable";
    snprintf(st->err.msg, sizeof st->err.msg, "state store is busy, retry later");
    return -1;
}

/* A query inside a txn_fn: on failure keep the code (SD_RETRY propagates). */
#define Q(...)                                                                                                         \
    do {                                                                                                               \
        int q_rc_ = sd_q(db, __VA_ARGS__);                                                                             \
        if (q_rc_)                                                                                                     \
            return q_rc_;                                                                                              \
    } while (0)

/* ---- helpers ---- */

static void hash_key(const char *key, char out[65]) { dp_sha256_hex(key, strlen(key), out); }

static void add_time(cJSON *o, const char *k, int64_t ms)
{
    char b[24];
    if (ms <= 0) {
        cJSON_AddNullToObject(o, k);
        return;
    }
    dp_stamp_rfc3339(ms, b);
    cJSON_AddStringToObject(o, k, b);
}

static void add_id(cJSON *o, const char *k, char prefix, int64_t id)
{
    char b[32];
    sd_id_format(b, prefix, id);
    cJSON_AddStringToObject(o, k, b);
}

/* This thread's jitter factor (domain/election.h). */
static double jitter(void)
{
    static _Thread_local unsigned seed;
    if (!seed)
        seed = (unsigned)dp_mono_ms() ^ (unsigned)(uintptr_t)&seed;
    return sd_jitter(&seed);
}

/* ---- admin ---- */

/* A fresh app key (dk_ + 64 hex from getrandom) and its SHA-256, the only thing stored. */
static int new_key(char key[68], char h[65], dp_err *err)
{
    unsigned char raw[32];
    if (getrandom(raw, sizeof raw, 0) != (ssize_t)sizeof raw)
        return dp_err_sys(err, DUMPER_EINTERNAL, errno, "unable to generate an app key");
    memcpy(key, "dk_", 3);
    for (int i = 0; i < 32; i++)
        snprintf(key + 3 + 2 * i, 3, "%02x", raw[i]);
    dp_memzero(raw, sizeof raw);
    hash_key(key, h);
    return 0;
}

int sd_app_create(sd_ctx *ctx, const char *name, char key[68], dp_err *err)
{
    sd_db *db = ctx->db;
    char h[65];
    if (new_key(key, h, err))
        return err->code;
    sd_res r;
    int rc = sd_q(db, &r, err, "SELECT id FROM apps WHERE name = ?", "s", name);
    if (!rc && r.rows)
        rc = dp_err_set(err, DUMPER_EEXIST, "app '%s' already exists", name);
    sd_res_free(&r);
    if (!rc)
        rc = sd_q(db, NULL, err, "INSERT INTO apps (name, key_hash, created_at) VALUES (?, ?, ?)", "ssi", name, h,
                  sd_ctx_now(ctx));
    if (rc == SD_RETRY)
        rc = dp_err_set(err, DUMPER_EBUSY, "state store is busy");
    return rc;
}

int sd_app_id(sd_ctx *ctx, const char *name, int64_t *id, dp_err *err)
{
    sd_db *db = ctx->db;
    sd_res r;
    int rc = sd_q(db, &r, err, "SELECT id FROM apps WHERE name = ?", "s", name);
    if (!rc && !r.rows)
        rc = dp_err_set(err, DUMPER_ENOENT, "no app named '%s' (dumperd app list)", name);
    if (!rc)
        *id = sd_geti(&r, 0, 0);
    sd_res_free(&r);
    return rc == SD_RETRY ? dp_err_set(err, DUMPER_EBUSY, "state store is busy") : rc;
}

int sd_app_rotate_key(sd_ctx *ctx, int64_t app, char key[68], dp_err *err)
{
    sd_db *db = ctx->db;
    char h[65];
    if (new_key(key, h, err))
        return err->code;
    sd_res r;
    int rc = sd_q(db, &r, err, "UPDATE apps SET key_hash = ? WHERE id = ? RETURNING id", "si", h, app);
    if (!rc && r.rows != 1)
        rc = dp_err_set(err, DUMPER_ENOENT, "the app no longer exists");
    sd_res_free(&r);
    if (rc)
        dp_memzero(key, 68);
    return rc == SD_RETRY ? dp_err_set(err, DUMPER_EBUSY, "state store is busy") : rc;
}

typedef struct {
    int64_t app;
    int delete_backups;
    sd_res files; /* id, file_name, status, upload_id of the good and running backups */
} app_del_arg;

static int app_delete_txn(sd_ctx *ctx, void *a_, sd_status *st)
{
    sd_db *db = ctx->db;
    app_del_arg *a = a_;
    sd_res_free(&a->files);
    Q(&a->files, &st->err,
      "SELECT id, file_name, status, upload_id FROM backups WHERE app_id = ? AND status IN ('good', 'running')"
      " ORDER BY id",
      "i", a->app);
    if (a->files.rows && !a->delete_backups)
        return st_fail(st, 409, "conflict", "%d", a->files.rows);
    /* Alerts name backups and databases by id; SQLite may reuse the ids of deleted rows. */
    Q(NULL, &st->err, "DELETE FROM alerts WHERE ref IN (SELECT 'b_' || id FROM backups WHERE app_id = ?)", "i",
      a->app);
    Q(NULL, &st->err,
      "DELETE FROM alerts WHERE EXISTS (SELECT 1 FROM dbs d WHERE d.app_id = ? AND"
      " substr(alerts.ref, 1, length('d_' || d.id || ':')) = 'd_' || d.id || ':')",
      "i", a->app);
    Q(NULL, &st->err, "DELETE FROM backups WHERE app_id = ?", "i", a->app);
    Q(NULL, &st->err, "DELETE FROM jobs WHERE app_id = ?", "i", a->app);
    Q(NULL, &st->err, "DELETE FROM schedules WHERE app_id = ?", "i", a->app);
    Q(NULL, &st->err, "DELETE FROM primaries WHERE app_id = ?", "i", a->app);
    Q(NULL, &st->err, "DELETE FROM agents WHERE app_id = ?", "i", a->app);
    Q(NULL, &st->err, "DELETE FROM dbs WHERE app_id = ?", "i", a->app);
    Q(NULL, &st->err, "DELETE FROM apps WHERE id = ?", "i", a->app);
    return 0;
}

static int remove_stored(dp_storage *stg, const char *file_name, dp_err *err);

int sd_app_delete(sd_ctx *ctx, int64_t app, int delete_backups, int *removed, int *left, dp_err *err)
{
    sd_db *db = ctx->db;
    app_del_arg a = {.app = app, .delete_backups = delete_backups};
    sd_status st = {0};
    dp_storage *stg = NULL;
    dp_err e = {0};
    *removed = *left = 0;
    if (delete_backups) {
        /* The storage is serve's option, not the store's: before anything is deleted, the good backups must
         * be found where this command looks (else it would "remove" nothing and forget them). */
        sd_res r;
        int rc = sd_q(db, &r, err, "SELECT file_name, status FROM backups WHERE app_id = ? AND status IN ('good',"
                      " 'running')", "i", app);
        if (!rc && r.rows && dp_storage_open(ctx->cfg->storage, NULL, 0, &stg, &e))
            rc = dp_err_set(err, e.code, "%s; nothing deleted (give app delete serve's --storage)", e.msg);
        for (int i = 0; !rc && stg && i < r.rows; i++) {
            dp_object_info info = {0};
            int src = strcmp(sd_get(&r, i, 1), "good") ? 0 : dp_storage_stat(stg, sd_get(&r, i, 0), &info, &e);
            if (src == DUMPER_ENOENT)
                rc = dp_err_set(err, DUMPER_ENOENT, "backup '%s' is not in storage '%s'; nothing deleted (give app"
                                " delete serve's --storage)", sd_get(&r, i, 0), ctx->cfg->storage);
            else if (src)
                rc = dp_err_set(err, src, "%s; nothing deleted", e.msg);
            free(info.key);
            dp_err_clear(&e);
        }
        sd_res_free(&r);
        if (rc) {
            dp_storage_close(stg);
            return rc == SD_RETRY ? dp_err_set(err, DUMPER_EBUSY, "state store is busy") : rc;
        }
    }
    if (run_txn(ctx, 1, app_delete_txn, &a, &st)) {
        if (st.http == 409)
            dp_err_set(err, DUMPER_EEXIST, "the app has %s backup(s)", st.err.msg);
        else
            dp_err_set(err, DUMPER_EINTERNAL, "%s", st.err.msg);
        sd_res_free(&a.files);
        dp_storage_close(stg);
        return err->code;
    }
    /* The catalog is gone first (as in retention): a crash now leaves files without an entry, never an
     * entry without its file. Running backups: their parts, or their S3 multipart upload. */
    if (a.files.rows && !stg && dp_storage_open(ctx->cfg->storage, NULL, 0, &stg, &e))
        dp_warn("app delete: %s", e.msg); /* backups that appeared since the check above */
    for (int i = 0; i < a.files.rows; i++) {
        const char *fn = sd_get(&a.files, i, 1), *uid = sd_get(&a.files, i, 3);
        dp_err_clear(&e);
        if (!strcmp(sd_get(&a.files, i, 2), "running")) {
            sd_parts_remove(ctx, sd_geti(&a.files, i, 0));
            if (stg && uid && sd_storage_is_s3(ctx) && dp_s3_abort_upload(stg, fn, uid, &e))
                dp_debug("abort of upload for b_%" PRId64 ": %s", sd_geti(&a.files, i, 0), e.msg);
        } else if (!stg || remove_stored(stg, fn, &e)) {
            if (stg)
                dp_warn("app delete: %s", e.msg);
            (*left)++;
        } else {
            (*removed)++;
        }
    }
    dp_storage_close(stg);
    sd_res_free(&a.files);
    return 0;
}

cJSON *sd_app_list(sd_ctx *ctx, dp_err *err)
{
    sd_db *db = ctx->db;
    sd_res r;
    if (sd_q(db, &r, err,
             "SELECT id, name, created_at, keep_last, keep_daily, keep_weekly, keep_monthly,"
             " (SELECT COUNT(*) FROM agents a WHERE a.app_id = apps.id) FROM apps ORDER BY name",
             ""))
        return NULL;
    cJSON *arr = cJSON_CreateArray();
    for (int i = 0; i < r.rows; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", sd_get(&r, i, 1));
        add_time(o, "created_at", sd_geti(&r, i, 2));
        cJSON *ret = cJSON_AddObjectToObject(o, "retention");
        cJSON_AddNumberToObject(ret, "keep_last", (double)sd_geti(&r, i, 3));
        cJSON_AddNumberToObject(ret, "daily", (double)sd_geti(&r, i, 4));
        cJSON_AddNumberToObject(ret, "weekly", (double)sd_geti(&r, i, 5));
        cJSON_AddNumberToObject(ret, "monthly", (double)sd_geti(&r, i, 6));
        cJSON_AddNumberToObject(o, "agents", (double)sd_geti(&r, i, 7));
        cJSON_AddItemToArray(arr, o);
    }
    sd_res_free(&r);
    return arr;
}

/* Every request but a poll looks its key up in the store, so a key rotated or an app deleted by any process
 * or instance is refused at once. A poll (the hot path) takes its app id from a per-thread cache of recently
 * seen key hashes instead, and sd_poll's own query checks the hash against the app's current one: the
 * cache saves a round trip without ever accepting an old key. */
static int auth_hash(sd_ctx *ctx, const char h[65], int64_t *app, dp_err *err)
{
    sd_db *db = ctx->db;
    sd_res r;
    int rc = sd_q(db, &r, err, "SELECT id, key_hash FROM apps WHERE key_hash = ?", "s", h);
    if (rc)
        return rc;
    int ok = r.rows == 1 && sd_get(&r, 0, 1) && CRYPTO_memcmp(sd_get(&r, 0, 1), h, 64) == 0;
    if (ok)
        *app = sd_geti(&r, 0, 0);
    sd_res_free(&r);
    return ok ? 0 : 1;
}

static int key_hash_of(const char *key, char h[65])
{
    if (!key || strlen(key) != 67 || strncmp(key, "dk_", 3))
        return 1;
    hash_key(key, h);
    return 0;
}

int sd_auth(sd_ctx *ctx, const char *key, int64_t *app, dp_err *err)
{
    char h[65];
    return key_hash_of(key, h) ? 1 : auth_hash(ctx, h, app, err);
}

#define AUTH_CACHE 16
static _Thread_local struct {
    char hash[65];
    int64_t app, until;
} auth_cache[AUTH_CACHE];
static _Thread_local unsigned auth_next;

int sd_auth_poll(sd_ctx *ctx, const char *key, int64_t *app, char hash[65], dp_err *err)
{
    if (key_hash_of(key, hash))
        return 1;
    int64_t mono = dp_mono_ms();
    for (int i = 0; i < AUTH_CACHE; i++)
        if (auth_cache[i].until > mono && CRYPTO_memcmp(auth_cache[i].hash, hash, 64) == 0) {
            *app = auth_cache[i].app;
            return 0;
        }
    int rc = auth_hash(ctx, hash, app, err);
    if (!rc) {
        unsigned i = auth_next++ % AUTH_CACHE;
        memcpy(auth_cache[i].hash, hash, 65);
        auth_cache[i].app = *app;
        auth_cache[i].until = mono + 30000;
    }
    return rc;
}

static void auth_forget(const char hash[65])
{
    for (int i = 0; i < AUTH_CACHE; i++)
        if (!strcmp(auth_cache[i].hash, hash))
            auth_cache[i].until = 0;
}

typedef struct {
    int64_t app;
    const char *env, *dbkey, *cron, *tz;
    int64_t vals[4];
    int n;
} admin_arg;

static int schedule_txn(sd_ctx *ctx, void *a_, sd_status *st)
{
    sd_db *db = ctx->db;
    admin_arg *a = a_;
    int64_t dbid = 0;
    if (a->dbkey) {
        sd_res r;
        Q(&r, &st->err, "SELECT id FROM dbs WHERE app_id = ? AND env = ? AND dkey = ?", "iss", a->app, a->env, a->dbkey);
        if (!r.rows) {
            sd_res_free(&r);
            return st_fail(st, 404, "not_found",
                           "database '%s' is not known in environment '%s' (an agent must register it first)",
                           a->dbkey, a->env);
        }
        dbid = sd_geti(&r, 0, 0);
        sd_res_free(&r);
    }
    /* last_slot 0: the scheduler starts the schedule at its own "now" (which may be a test clock). */
    Q(NULL, &st->err,
      "INSERT INTO schedules (app_id, env, db_id, cron, tz, last_slot, next_slot) VALUES (?, ?, ?, ?, ?, 0, 0)"
      " ON CONFLICT (app_id, env, db_id) DO UPDATE SET cron = excluded.cron, tz = excluded.tz, last_slot = 0,"
      " next_slot = 0",
      "isiss", a->app, a->env, dbid, a->cron, a->tz);
    return 0;
}

int sd_schedule_set(sd_ctx *ctx, int64_t app, const char *env, const char *dbkey, const char *cron, const char *tz,
                    dp_err *err)
{
    sd_cron c;
    char msg[200];
    if (sd_cron_parse(cron, &c, msg, sizeof msg))
        return dp_err_set(err, DUMPER_EUSAGE, "%s", msg);
    if (!sd_tz_valid(tz))
        return dp_err_set(err, DUMPER_EUSAGE, "unknown time zone '%.64s'", tz);
    admin_arg a = {.app = app, .env = env, .dbkey = dbkey, .cron = cron, .tz = tz};
    sd_status st = {0};
    if (run_txn(ctx, 1, schedule_txn, &a, &st)) {
        dp_err_set(err, st.http == 404 ? DUMPER_ENOENT : DUMPER_EINTERNAL, "%s", st.err.msg);
        return err->code;
    }
    return 0;
}

static int retention_txn(sd_ctx *ctx, void *a_, sd_status *st)
{
    sd_db *db = ctx->db;
    admin_arg *a = a_;
    Q(NULL, &st->err, "UPDATE apps SET keep_last = ?, keep_daily = ?, keep_weekly = ?, keep_monthly = ? WHERE id = ?",
      "iiiii", a->vals[0], a->vals[1], a->vals[2], a->vals[3], a->app);
    return 0;
}

int sd_retention_set(sd_ctx *ctx, int64_t app, int64_t last, int64_t daily, int64_t weekly, int64_t monthly, dp_err *err)
{
    admin_arg a = {.app = app, .vals = {last, daily, weekly, monthly}};
    sd_status st = {0};
    if (run_txn(ctx, 1, retention_txn, &a, &st))
        return dp_err_set(err, DUMPER_EINTERNAL, "%s", st.err.msg);
    return 0;
}

static int backup_now_txn(sd_ctx *ctx, void *a_, sd_status *st)
{
    sd_db *db = ctx->db;
    admin_arg *a = a_;
    sd_res r;
    a->n = 0;
    if (a->dbkey)
        Q(&r, &st->err, "SELECT id FROM dbs WHERE app_id = ? AND env = ? AND dkey = ?", "iss", a->app, a->env, a->dbkey);
    else
        Q(&r, &st->err, "SELECT id FROM dbs WHERE app_id = ? AND env = ? ORDER BY id", "is", a->app, a->env);
    if (!r.rows) {
        sd_res_free(&r);
        if (a->dbkey)
            return st_fail(st, 404, "not_found", "database '%s' is not known in environment '%s'", a->dbkey, a->env);
        return st_fail(st, 404, "not_found", "no database is known in environment '%s' (no agent registered one)",
                       a->env);
    }
    int64_t now = sd_ctx_now(ctx);
    for (int i = 0; i < r.rows; i++) {
        int rc = sd_q(db, NULL, &st->err,
                      "INSERT INTO jobs (app_id, env, db_id, schedule_id, slot, reason, state, attempt, created_at,"
                      " updated_at) VALUES (?, ?, ?, 0, 0, 'manual', 'pending', 1, ?, ?)",
                      "isiii", a->app, a->env, sd_geti(&r, i, 0), now, now);
        if (rc) {
            sd_res_free(&r);
            return rc;
        }
        a->n++;
    }
    sd_res_free(&r);
    return 0;
}

int sd_backup_now(sd_ctx *ctx, int64_t app, const char *env, const char *dbkey, int *n, dp_err *err)
{
    admin_arg a = {.app = app, .env = env, .dbkey = dbkey};
    sd_status st = {0};
    if (run_txn(ctx, 1, backup_now_txn, &a, &st)) {
        dp_err_set(err, st.http == 404 ? DUMPER_ENOENT : DUMPER_EINTERNAL, "%s", st.err.msg);
        return err->code;
    }
    *n = a.n;
    return 0;
}

cJSON *sd_agents(sd_ctx *ctx, int64_t app, dp_err *err)
{
    sd_db *db = ctx->db;
    sd_res r;
    int64_t now = sd_ctx_now(ctx);
    if (sd_q(db, &r, err,
             "SELECT a.id, a.env, a.hostname, a.pid, a.agent_version, a.framework, a.dispatcher, a.registered_at,"
             " a.last_seen, p.lease_until FROM agents a LEFT JOIN primaries p ON p.app_id = a.app_id"
             " AND p.env = a.env AND p.agent_id = a.id WHERE a.app_id = ? ORDER BY a.id",
             "i", app))
        return NULL;
    cJSON *arr = cJSON_CreateArray();
    for (int i = 0; i < r.rows; i++) {
        cJSON *o = cJSON_CreateObject();
        add_id(o, "agent_id", 'a', sd_geti(&r, i, 0));
        cJSON_AddStringToObject(o, "environment", sd_get(&r, i, 1));
        cJSON_AddStringToObject(o, "hostname", sd_get(&r, i, 2));
        cJSON_AddNumberToObject(o, "pid", (double)sd_geti(&r, i, 3));
        cJSON_AddStringToObject(o, "agent_version", sd_get(&r, i, 4) ? sd_get(&r, i, 4) : "");
        cJSON_AddStringToObject(o, "framework", sd_get(&r, i, 5) ? sd_get(&r, i, 5) : "");
        cJSON_AddStringToObject(o, "dispatcher", sd_get(&r, i, 6) ? sd_get(&r, i, 6) : "");
        add_time(o, "registered_at", sd_geti(&r, i, 7));
        add_time(o, "last_seen", sd_geti(&r, i, 8));
        int primary = sd_get(&r, i, 9) && sd_geti(&r, i, 9) > now;
        cJSON_AddStringToObject(o, "role", primary ? "primary" : "secondary");
        cJSON_AddItemToArray(arr, o);
    }
    sd_res_free(&r);
    return arr;
}

cJSON *sd_schedules(sd_ctx *ctx, int64_t app, dp_err *err)
{
    sd_db *db = ctx->db;
    sd_res r;
    if (sd_q(db, &r, err,
             "SELECT s.env, s.db_id, d.dkey, s.cron, s.tz, s.last_slot FROM schedules s LEFT JOIN dbs d"
             " ON d.id = s.db_id WHERE s.app_id = ? ORDER BY s.env, s.db_id",
             "i", app))
        return NULL;
    cJSON *arr = cJSON_CreateArray();
    int64_t now = sd_ctx_now(ctx) / 1000;
    for (int i = 0; i < r.rows; i++) {
        cJSON *o = cJSON_CreateObject();
        sd_cron c;
        char msg[200];
        cJSON_AddStringToObject(o, "environment", sd_get(&r, i, 0));
        if (sd_geti(&r, i, 1))
            cJSON_AddStringToObject(o, "database_key", sd_get(&r, i, 2) ? sd_get(&r, i, 2) : "");
        else
            cJSON_AddNullToObject(o, "database_key");
        cJSON_AddStringToObject(o, "cron", sd_get(&r, i, 3));
        cJSON_AddStringToObject(o, "tz", sd_get(&r, i, 4));
        add_time(o, "last_slot", sd_geti(&r, i, 5) * 1000);
        cJSON *next = cJSON_AddArrayToObject(o, "next");
        int64_t slots[5];
        int n = sd_cron_parse(sd_get(&r, i, 3), &c, msg, sizeof msg) ? 0
                                                                      : sd_schedule_next(&c, sd_get(&r, i, 4), now, 5, slots);
        for (int k = 0; k < n; k++) {
            char b[24];
            dp_stamp_rfc3339(slots[k] * 1000, b);
            cJSON_AddItemToArray(next, cJSON_CreateString(b));
        }
        cJSON_AddItemToArray(arr, o);
    }
    sd_res_free(&r);
    return arr;
}

#define BACKUP_COLS                                                                                                    \
    "b.id, b.db_id, d.dkey, b.env, b.status, b.file_name, b.size, b.sha256, b.duration_ms, b.created_at,"             \
    " b.finished_at, b.error_code, b.error_message, b.format, b.compression"

static cJSON *backup_json(const sd_res *r, int i)
{
    cJSON *o = cJSON_CreateObject();
    add_id(o, "backup_id", 'b', sd_geti(r, i, 0));
    add_id(o, "database_id", 'd', sd_geti(r, i, 1));
    cJSON_AddStringToObject(o, "database_key", sd_get(r, i, 2) ? sd_get(r, i, 2) : "");
    cJSON_AddStringToObject(o, "environment", sd_get(r, i, 3));
    cJSON_AddStringToObject(o, "status", sd_get(r, i, 4));
    cJSON_AddStringToObject(o, "file_name", sd_get(r, i, 5));
    if (sd_get(r, i, 6))
        cJSON_AddNumberToObject(o, "size", (double)sd_geti(r, i, 6));
    else
        cJSON_AddNullToObject(o, "size");
    if (sd_get(r, i, 7))
        cJSON_AddStringToObject(o, "sha256", sd_get(r, i, 7));
    else
        cJSON_AddNullToObject(o, "sha256");
    if (sd_get(r, i, 8))
        cJSON_AddNumberToObject(o, "duration_ms", (double)sd_geti(r, i, 8));
    else
        cJSON_AddNullToObject(o, "duration_ms");
    add_time(o, "created_at", sd_geti(r, i, 9));
    add_time(o, "finished_at", sd_geti(r, i, 10));
    if (sd_get(r, i, 11))
        cJSON_AddStringToObject(o, "error_code", sd_get(r, i, 11));
    else
        cJSON_AddNullToObject(o, "error_code");
    if (sd_get(r, i, 12))
        cJSON_AddStringToObject(o, "error_message", sd_get(r, i, 12));
    else
        cJSON_AddNullToObject(o, "error_message");
    return o;
}

cJSON *sd_backups(sd_ctx *ctx, int64_t app, int64_t db_id, int limit, dp_err *err)
{
    sd_db *db = ctx->db;
    sd_res r;
    if (limit <= 0 || limit > 10000)
        limit = 10000;
    if (sd_q(db, &r, err,
             "SELECT " BACKUP_COLS " FROM backups b LEFT JOIN dbs d ON d.id = b.db_id WHERE b.app_id = ?"
             " AND (? = 0 OR b.db_id = ?) ORDER BY b.created_at DESC, b.id DESC LIMIT ?",
             "iiii", app, db_id, db_id, (int64_t)limit))
        return NULL;
    cJSON *arr = cJSON_CreateArray();
    for (int i = 0; i < r.rows; i++)
        cJSON_AddItemToArray(arr, backup_json(&r, i));
    sd_res_free(&r);
    return arr;
}

/* ---- agent API ---- */

static int opt_str(const cJSON *o, const char *k, const char **out, size_t max, sd_status *st)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    *out = NULL;
    if (!v || cJSON_IsNull(v))
        return 0;
    if (!cJSON_IsString(v) || strlen(v->valuestring) > max)
        return st_fail(st, 400, "invalid_request", "field '%s' must be a string of at most %zu bytes", k, max);
    /* Stored strings are shown by `dumperd agents` and the dashboard: no control characters. */
    for (const unsigned char *c = (const unsigned char *)v->valuestring; *c; c++)
        if (*c < 0x20 || *c == 0x7f)
            return st_fail(st, 400, "invalid_request", "field '%s' contains control characters", k);
    *out = v->valuestring;
    return 0;
}

static int req_str(const cJSON *o, const char *k, const char **out, size_t max, sd_status *st)
{
    if (opt_str(o, k, out, max, st))
        return -1;
    if (!*out || !**out)
        return st_fail(st, 400, "invalid_request", "field '%s' is required", k);
    return 0;
}

static int opt_int(const cJSON *o, const char *k, int64_t *out, int64_t lo, int64_t hi, int required, sd_status *st)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (!v || cJSON_IsNull(v)) {
        if (required)
            return st_fail(st, 400, "invalid_request", "field '%s' is required", k);
        return 0;
    }
    /* The range first: converting a double outside int64_t's (1e300) is undefined behaviour. */
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= (double)lo && v->valuedouble <= (double)hi) ||
        v->valuedouble != (double)(int64_t)v->valuedouble)
        return st_fail(st, 400, "invalid_request", "field '%s' must be an integer in %" PRId64 "..%" PRId64, k, lo,
                       hi);
    *out = (int64_t)v->valuedouble;
    return 0;
}

static const char *db_types[] = {"postgresql", "mysql", "mariadb", "mongodb", "redis", "sqlite", NULL};

typedef struct {
    const char *key, *type, *host, *name, *user;
    char derived[80];
    int64_t port;
} reg_db;

typedef struct {
    int64_t app, agent, pid;
    const char *hostname, *env, *version, *app_name, *framework, *dispatcher;
    reg_db *dbs;
    int ndbs;
    int64_t *db_ids;
    int primary;
    int64_t job;
    int more_jobs;
    int64_t next_slot;
} agent_arg;

/* Decide the role of `agent` in (app, env) at `now` (domain/election.h); renew or take the lease. In a
 * write txn. */
static int elect(sd_ctx *ctx, int64_t app, const char *env, int64_t agent, int64_t now, int *primary, sd_status *st)
{
    sd_db *db = ctx->db;
    sd_res r;
    Q(&r, &st->err, "SELECT agent_id, lease_until FROM primaries WHERE app_id = ? AND env = ?", "is", app, env);
    sd_lease cur = {sd_geti(&r, 0, 0), sd_geti(&r, 0, 1)};
    sd_elect_action act = sd_elect(r.rows ? &cur : NULL, agent, now);
    sd_res_free(&r);
    int64_t until = now + ctx->cfg->lease_ms;
    int rc = 0;
    if (act == SD_ELECT_TAKE)
        rc = sd_q(db, NULL, &st->err,
                  "INSERT INTO primaries (app_id, env, agent_id, lease_until, since) VALUES (?, ?, ?, ?, ?)", "isiii",
                  app, env, agent, until, now);
    else if (act == SD_ELECT_RENEW)
        rc = sd_q(db, NULL, &st->err, "UPDATE primaries SET lease_until = ? WHERE app_id = ? AND env = ?", "iis",
                  until, app, env);
    else if (act == SD_ELECT_TAKE_OVER)
        rc = sd_q(db, NULL, &st->err,
                  "UPDATE primaries SET agent_id = ?, lease_until = ?, since = ? WHERE app_id = ? AND env = ?",
                  "iiiis", agent, until, now, app, env);
    *primary = sd_elect_is_primary(act);
    return rc;
}

/* Hand the oldest pending job of (app, env) to the primary. In a write txn. */
static int dispatch(sd_ctx *ctx, agent_arg *a, int64_t now, sd_status *st)
{
    sd_db *db = ctx->db;
    sd_res r;
    a->job = 0;
    a->more_jobs = 0;
    Q(&r, &st->err, "SELECT id FROM jobs WHERE app_id = ? AND env = ? AND state = 'pending' ORDER BY id LIMIT 2",
      "is", a->app, a->env);
    if (r.rows) {
        a->job = sd_geti(&r, 0, 0);
        a->more_jobs = r.rows > 1;
    }
    sd_res_free(&r);
    if (a->job)
        Q(NULL, &st->err,
          "UPDATE jobs SET state = 'dispatched', agent_id = ?, lease_until = ?, updated_at = ? WHERE id = ?"
          " AND state = 'pending'",
          "iiii", a->agent, now + ctx->cfg->job_lease_ms, now, a->job);
    Q(&r, &st->err, "SELECT MIN(next_slot) FROM schedules WHERE app_id = ? AND env = ? AND next_slot > 0", "is", a->app,
      a->env);
    a->next_slot = sd_geti(&r, 0, 0);
    sd_res_free(&r);
    return 0;
}

static int register_txn(sd_ctx *ctx, void *a_, sd_status *st)
{
    sd_db *db = ctx->db;
    agent_arg *a = a_;
    int64_t now = sd_ctx_now(ctx);
    sd_res r;
    Q(&r, &st->err,
      "INSERT INTO agents (app_id, env, hostname, pid, agent_version, app_name, framework, dispatcher,"
      " registered_at, last_seen) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
      "ississssii", a->app, a->env, a->hostname, a->pid, a->version, a->app_name, a->framework, a->dispatcher, now,
      now);
    a->agent = sd_geti(&r, 0, 0);
    sd_res_free(&r);
    for (int i = 0; i < a->ndbs; i++) {
        reg_db *d = &a->dbs[i];
        Q(&r, &st->err,
          "INSERT INTO dbs (app_id, env, dkey, type, host, port, name, dbuser, updated_at)"
          " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (app_id, env, dkey) DO UPDATE SET type = excluded.type,"
          " host = excluded.host, port = excluded.port, name = excluded.name, dbuser = excluded.dbuser,"
          " updated_at = excluded.updated_at RETURNING id",
          "issssissi", a->app, a->env, d->key, d->type, d->host, d->port, d->name, d->user, now);
        a->db_ids[i] = sd_geti(&r, 0, 0);
        sd_res_free(&r);
    }
    int rc = elect(ctx, a->app, a->env, a->agent, now, &a->primary, st);
    if (rc)
        return rc;
    /* Every process start registers a new agent: forget the app's agents not seen for a week (and
     * at least three secondary intervals), except a primary. One that comes back gets 404 on its
     * poll and registers again. */
    int64_t keep_ms = sd_agent_keep_ms(ctx->cfg->secondary_interval);
    Q(NULL, &st->err,
      "DELETE FROM agents WHERE app_id = ? AND last_seen < ? AND id <> ?"
      " AND id NOT IN (SELECT agent_id FROM primaries)",
      "iii", a->app, now - keep_ms, a->agent);
    a->job = 0;
    return 0;
}

static double next_interval(const sd_ctx *ctx, const agent_arg *a, int64_t now)
{
    return sd_poll_interval(a->primary, a->more_jobs, a->next_slot, now, ctx->cfg->primary_interval,
                            ctx->cfg->secondary_interval, jitter());
}

static void add_limits(const sd_ctx *ctx, cJSON *o)
{
    cJSON *l = cJSON_AddObjectToObject(o, "limits");
    cJSON_AddNumberToObject(l, "max_filesize", (double)ctx->cfg->max_filesize);
    cJSON_AddNumberToObject(l, "max_part_size", (double)ctx->cfg->max_part_size);
    cJSON_AddNumberToObject(l, "max_parts", 10000);
    cJSON_AddNumberToObject(l, "max_json", 65536);
}

cJSON *sd_register(sd_ctx *ctx, int64_t app, const cJSON *req, sd_status *st)
{
    agent_arg a = {.app = app};
    cJSON *out = NULL;
    if (req_str(req, "hostname", &a.hostname, 255, st) || opt_int(req, "pid", &a.pid, 1, INT32_MAX, 1, st) ||
        req_str(req, "environment", &a.env, 64, st) || opt_str(req, "agent_version", &a.version, 64, st) ||
        opt_str(req, "app_name", &a.app_name, 255, st) || opt_str(req, "framework", &a.framework, 255, st) ||
        opt_str(req, "dispatcher", &a.dispatcher, 255, st))
        return NULL;
    if (!sd_label_valid(a.env, 64)) {
        st_fail(st, 400, "invalid_request", "field 'environment' must be 1-64 characters of [A-Za-z0-9_.-]");
        return NULL;
    }
    const cJSON *dbs = cJSON_GetObjectItemCaseSensitive(req, "databases");
    if (!cJSON_IsArray(dbs)) {
        st_fail(st, 400, "invalid_request", "field 'databases' must be an array");
        return NULL;
    }
    a.ndbs = cJSON_GetArraySize(dbs);
    if (a.ndbs > 64) {
        st_fail(st, 400, "invalid_request", "at most 64 databases per agent");
        return NULL;
    }
    a.dbs = calloc((size_t)a.ndbs + 1, sizeof *a.dbs);
    a.db_ids = calloc((size_t)a.ndbs + 1, sizeof *a.db_ids);
    if (!a.dbs || !a.db_ids) {
        st_fail(st, 500, "internal", "out of memory");
        goto cleanup;
    }
    int i = 0;
    const cJSON *d;
    cJSON_ArrayForEach(d, dbs)
    {
        reg_db *x = &a.dbs[i];
        if (!cJSON_IsObject(d)) {
            st_fail(st, 400, "invalid_request", "databases[%d] must be an object", i);
            goto cleanup;
        }
        if (cJSON_GetObjectItemCaseSensitive(d, "password")) {
            st_fail(st, 400, "invalid_request", "databases[%d]: passwords are never sent to dumperd", i);
            goto cleanup;
        }
        if (req_str(d, "type", &x->type, 32, st) || opt_str(d, "key", &x->key, 64, st) ||
            opt_str(d, "host", &x->host, 255, st) || opt_str(d, "name", &x->name, 255, st) ||
            opt_str(d, "user", &x->user, 255, st) || opt_int(d, "port", &x->port, 0, 65535, 0, st)) {
            dp_err_prefix(&st->err, "databases[%d]: ", i);
            goto cleanup;
        }
        int known = 0;
        for (int t = 0; db_types[t]; t++)
            known |= !strcmp(db_types[t], x->type);
        if (!known) {
            st_fail(st, 400, "invalid_request", "databases[%d]: unknown type '%.32s'", i, x->type);
            goto cleanup;
        }
        if (x->key && !sd_label_valid(x->key, 64)) {
            st_fail(st, 400, "invalid_request", "databases[%d]: 'key' must be 1-64 characters of [A-Za-z0-9_.-]", i);
            goto cleanup;
        }
        if (!x->key) {
            /* Derived key: "<type>-<name>" with anything outside the label alphabet replaced. */
            snprintf(x->derived, sizeof x->derived, "%s-%.60s", x->type, x->name && *x->name ? x->name : "default");
            sd_label_sanitize(x->derived);
            x->key = x->derived;
        }
        for (int j = 0; j < i; j++)
            if (!strcmp(a.dbs[j].key, x->key)) {
                st_fail(st, 400, "invalid_request", "databases[%d]: key '%s' appears twice", i, x->key);
                goto cleanup;
            }
        i++;
    }
    if (run_txn(ctx, 1, register_txn, &a, st))
        goto cleanup;
    int64_t now = sd_ctx_now(ctx);
    out = cJSON_CreateObject();
    add_id(out, "agent_id", 'a', a.agent);
    cJSON_AddStringToObject(out, "role", a.primary ? "primary" : "secondary");
    cJSON_AddNumberToObject(out, "interval", sd_register_interval(a.primary, ctx->cfg->secondary_interval, jitter()));
    cJSON_AddNumberToObject(out, "lease", (double)(ctx->cfg->lease_ms / 1000));
    add_limits(ctx, out);
    cJSON *arr = cJSON_AddArrayToObject(out, "databases");
    for (int k = 0; k < a.ndbs; k++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "key", a.dbs[k].key);
        add_id(o, "id", 'd', a.db_ids[k]);
        cJSON_AddItemToArray(arr, o);
    }
    add_time(out, "server_time", now);
cleanup:
    free(a.dbs);
    free(a.db_ids);
    return out;
}

typedef struct {
    agent_arg a;
    int64_t last_seen;
} poll_arg;

static int poll_txn(sd_ctx *ctx, void *p_, sd_status *st)
{
    sd_db *db = ctx->db;
    agent_arg *a = p_;
    int64_t now = sd_ctx_now(ctx);
    Q(NULL, &st->err, "UPDATE agents SET last_seen = ? WHERE id = ?", "ii", now, a->agent);
    int rc = elect(ctx, a->app, a->env, a->agent, now, &a->primary, st);
    if (rc)
        return rc;
    a->job = 0;
    a->more_jobs = 0;
    a->next_slot = 0;
    if (a->primary)
        return dispatch(ctx, a, now, st);
    return 0;
}

static cJSON *job_json(sd_ctx *ctx, int64_t job, sd_status *st)
{
    sd_db *db = ctx->db;
    sd_res r;
    if (sd_q(db, &r, &st->err,
             "SELECT j.id, j.db_id, d.dkey, d.type, j.reason, j.slot, j.attempt, j.lease_until FROM jobs j"
             " JOIN dbs d ON d.id = j.db_id WHERE j.id = ?",
             "i", job) ||
        !r.rows) {
        sd_res_free(&r);
        return cJSON_CreateNull();
    }
    cJSON *o = cJSON_CreateObject();
    add_id(o, "job_id", 'j', sd_geti(&r, 0, 0));
    add_id(o, "database_id", 'd', sd_geti(&r, 0, 1));
    cJSON_AddStringToObject(o, "database_key", sd_get(&r, 0, 2));
    cJSON_AddStringToObject(o, "type", sd_get(&r, 0, 3));
    cJSON_AddStringToObject(o, "reason", sd_get(&r, 0, 4));
    add_time(o, "slot", sd_geti(&r, 0, 5) * 1000);
    cJSON_AddNumberToObject(o, "attempt", (double)sd_geti(&r, 0, 6));
    cJSON_AddNumberToObject(o, "lease", (double)(ctx->cfg->job_lease_ms / 1000));
    add_time(o, "lease_until", sd_geti(&r, 0, 7));
    sd_res_free(&r);
    return o;
}

cJSON *sd_poll(sd_ctx *ctx, int64_t app, const char *key_hash, int64_t agent, sd_status *st)
{
    sd_db *db = ctx->db;
    agent_arg a = {.app = app, .agent = agent};
    int64_t now = sd_ctx_now(ctx);
    sd_res r;
    char env[80];
    /* Read-only fast path: a secondary whose primary holds a live lease, seen recently. The app's current
     * key hash is checked here (see sd_auth_poll). */
    int rc = sd_q(db, &r, &st->err,
                  "SELECT a.env, a.last_seen, p.agent_id, p.lease_until FROM agents a JOIN apps k ON k.id = a.app_id"
                  " AND k.key_hash = ? LEFT JOIN primaries p ON p.app_id = a.app_id AND p.env = a.env"
                  " WHERE a.id = ? AND a.app_id = ?",
                  "sii", key_hash, agent, app);
    if (!rc && !r.rows) { /* an unknown agent, or a key that is no longer the app's */
        int64_t now_app = 0;
        sd_res_free(&r);
        rc = auth_hash(ctx, key_hash, &now_app, &st->err);
        if (rc == 0 && now_app == app) {
            st_fail(st, 404, "not_found", "unknown agent (register again)");
            return NULL;
        }
        if (rc == 0 || rc == 1) {
            auth_forget(key_hash);
            st_fail(st, 401, "unauthorized", "missing or wrong app key");
            return NULL;
        }
    }
    if (rc) {
        st_fail(st, rc == SD_RETRY ? 503 : 500, rc == SD_RETRY ? "unavailable" : "internal", "state store error");
        return NULL;
    }
    snprintf(env, sizeof env, "%s", sd_get(&r, 0, 0));
    a.env = env;
    int64_t last_seen = sd_geti(&r, 0, 1);
    sd_lease cur = {sd_geti(&r, 0, 2), sd_geti(&r, 0, 3)};
    int fast = sd_poll_read_only(sd_get(&r, 0, 2) ? &cur : NULL, agent, last_seen, now);
    sd_res_free(&r);
    if (!fast && run_txn(ctx, 1, poll_txn, &a, st))
        return NULL;
    cJSON *out = cJSON_CreateObject();
    cJSON_AddStringToObject(out, "role", a.primary ? "primary" : "secondary");
    cJSON_AddNumberToObject(out, "interval", next_interval(ctx, &a, now));
    cJSON_AddNumberToObject(out, "lease", (double)(ctx->cfg->lease_ms / 1000));
    add_time(out, "server_time", now);
    if (a.job)
        cJSON_AddItemToObject(out, "job", job_json(ctx, a.job, st));
    else
        cJSON_AddNullToObject(out, "job");
    return out;
}

/* ---- backups ---- */

static int req_id(const cJSON *o, const char *k, char prefix, int64_t *id, sd_status *st)
{
    const char *s;
    if (req_str(o, k, &s, 32, st))
        return -1;
    if (sd_id_parse(s, prefix, id))
        return st_fail(st, 404, "not_found", "unknown %s '%.32s'", k, s);
    return 0;
}

typedef struct {
    int64_t app, agent, job, backup;
    const char *format, *compression, *ext;
    char file_name[256];
    int existing;
} prep_arg;

static int prepare_txn(sd_ctx *ctx, void *p_, sd_status *st)
{
    sd_db *db = ctx->db;
    prep_arg *p = p_;
    int64_t now = sd_ctx_now(ctx);
    sd_res r;
    Q(&r, &st->err,
      "SELECT j.state, j.backup_id, j.env, d.dkey, a.name, j.db_id, b.status, b.file_name FROM jobs j"
      " JOIN dbs d ON d.id = j.db_id JOIN apps a ON a.id = j.app_id LEFT JOIN backups b ON b.id = j.backup_id"
      " WHERE j.id = ? AND j.app_id = ?",
      "ii", p->job, p->app);
    if (!r.rows) {
        sd_res_free(&r);
        return st_fail(st, 404, "not_found", "unknown job 'j_%" PRId64 "'", p->job);
    }
    if (strcmp(sd_get(&r, 0, 0), "dispatched")) {
        int rc = st_fail(st, 409, "conflict", "job 'j_%" PRId64 "' is %s, not open", p->job, sd_get(&r, 0, 0));
        sd_res_free(&r);
        return rc;
    }
    if (sd_get(&r, 0, 6) && !strcmp(sd_get(&r, 0, 6), "running")) {
        p->backup = sd_geti(&r, 0, 1);
        snprintf(p->file_name, sizeof p->file_name, "%s", sd_get(&r, 0, 7));
        p->existing = 1;
        sd_res_free(&r);
        Q(NULL, &st->err, "UPDATE jobs SET lease_until = ?, updated_at = ? WHERE id = ?", "iii",
          now + ctx->cfg->job_lease_ms, now, p->job);
        return 0;
    }
    char app[65], env[65], key[65];
    snprintf(app, sizeof app, "%s", sd_get(&r, 0, 4));
    snprintf(env, sizeof env, "%s", sd_get(&r, 0, 2));
    snprintf(key, sizeof key, "%s", sd_get(&r, 0, 3));
    int64_t dbid = sd_geti(&r, 0, 5);
    sd_res_free(&r);
    Q(&r, &st->err,
      "INSERT INTO backups (app_id, env, db_id, job_id, agent_id, status, file_name, format, compression, created_at)"
      " VALUES (?, ?, ?, ?, ?, 'running', '', ?, ?, ?) RETURNING id",
      "isiiissi", p->app, env, dbid, p->job, p->agent, p->format, p->compression, now);
    p->backup = sd_geti(&r, 0, 0);
    sd_res_free(&r);
    sd_backup_file_name(p->file_name, app, env, key, now, p->backup, p->ext);
    Q(NULL, &st->err, "UPDATE backups SET file_name = ? WHERE id = ?", "si", p->file_name, p->backup);
    Q(NULL, &st->err, "UPDATE jobs SET backup_id = ?, lease_until = ?, updated_at = ? WHERE id = ?", "iiii", p->backup,
      now + ctx->cfg->job_lease_ms, now, p->job);
    return 0;
}

/* ---- S3: multipart uploads the agent fills through presigned part URLs ---- */

static int s3_open_storage(const sd_ctx *ctx, dp_storage **stg, sd_status *st)
{
    dp_err err = {0};
    if (dp_storage_open(ctx->cfg->storage, NULL, 0, stg, &err))
        return st_fail(st, 500, "internal", "storage: %s", err.msg);
    return 0;
}

/* The backup's multipart upload id, creating the upload on first use. Caller frees *uid. */
static int s3_upload_id(sd_ctx *ctx, int64_t backup, char **uid, char *file_name, size_t fnlen, sd_status *st)
{
    sd_db *db = ctx->db;
    sd_res r;
    *uid = NULL;
    if (sd_q(db, &r, &st->err, "SELECT upload_id, file_name FROM backups WHERE id = ?", "i", backup) || !r.rows) {
        sd_res_free(&r);
        return st_fail(st, 500, "internal", "state store error");
    }
    if (sd_get(&r, 0, 0))
        *uid = dp_strdup(sd_get(&r, 0, 0));
    if (file_name)
        snprintf(file_name, fnlen, "%s", sd_get(&r, 0, 1));
    sd_res_free(&r);
    return 0;
}

static int s3_ensure_upload(sd_ctx *ctx, int64_t backup, const char *file_name, sd_status *st)
{
    sd_db *db = ctx->db;
    char *uid = NULL;
    dp_storage *stg = NULL;
    dp_err err = {0};
    if (s3_upload_id(ctx, backup, &uid, NULL, 0, st))
        return -1;
    if (uid) {
        free(uid);
        return 0;
    }
    if (s3_open_storage(ctx, &stg, st))
        return -1;
    int rc = dp_s3_create_upload(stg, file_name, &uid, &err);
    if (rc) {
        dp_storage_close(stg);
        return st_fail(st, 502, "storage_failed", "storage: %s", err.msg);
    }
    sd_res r;
    rc = sd_q(db, &r, &st->err, "UPDATE backups SET upload_id = ? WHERE id = ? AND upload_id IS NULL RETURNING id",
              "si", uid, backup);
    int won = !rc && r.rows == 1;
    sd_res_free(&r);
    if (!won) /* a concurrent prepare created one first: keep theirs */
        dp_s3_abort_upload(stg, file_name, uid, &err);
    free(uid);
    dp_storage_close(stg);
    return rc ? st_fail(st, 500, "internal", "state store error") : 0;
}

/* Best effort: abort a failed or lost backup's multipart upload. */
static void s3_abort(sd_ctx *ctx, int64_t backup)
{
    sd_status st = {0};
    char *uid = NULL, fn[256];
    dp_storage *stg = NULL;
    if (!sd_storage_is_s3(ctx) || s3_upload_id(ctx, backup, &uid, fn, sizeof fn, &st) || !uid)
        return;
    if (!s3_open_storage(ctx, &stg, &st)) {
        dp_err err = {0};
        if (dp_s3_abort_upload(stg, fn, uid, &err))
            dp_debug("abort of upload for b_%" PRId64 ": %s", backup, err.msg);
        dp_storage_close(stg);
    }
    free(uid);
}

cJSON *sd_presign(sd_ctx *ctx, int64_t app, int64_t backup, int part, sd_status *st)
{
    if (!sd_storage_is_s3(ctx)) {
        st_fail(st, 409, "conflict", "storage is local: PUT parts to dumperd");
        return NULL;
    }
    if (sd_part_allowed(ctx, app, backup, st))
        return NULL;
    char *uid = NULL, fn[256], *url = NULL;
    dp_storage *stg = NULL;
    dp_err err = {0};
    cJSON *out = NULL;
    const long expires = 900;
    if (s3_upload_id(ctx, backup, &uid, fn, sizeof fn, st))
        return NULL;
    if (!uid) {
        st_fail(st, 409, "conflict", "backup 'b_%" PRId64 "' has no upload (prepare it first)", backup);
        return NULL;
    }
    if (!s3_open_storage(ctx, &stg, st)) {
        if (dp_s3_presign(stg, "PUT", fn, uid, part, expires, &url, &err))
            st_fail(st, 500, "internal", "storage: %s", err.msg);
        else {
            out = cJSON_CreateObject();
            cJSON_AddNumberToObject(out, "part", part);
            cJSON_AddStringToObject(out, "url", url);
            cJSON_AddStringToObject(out, "method", "PUT");
            cJSON_AddNumberToObject(out, "expires_in", (double)expires);
        }
        dp_storage_close(stg);
    }
    free(url);
    free(uid);
    return out;
}

cJSON *sd_prepare(sd_ctx *ctx, int64_t app, const cJSON *req, sd_status *st)
{
    sd_db *db = ctx->db;
    prep_arg p = {.app = app};
    char ext[40];
    if (req_id(req, "agent_id", 'a', &p.agent, st) || req_id(req, "job_id", 'j', &p.job, st) ||
        opt_str(req, "format", &p.format, 16, st) || opt_str(req, "compression", &p.compression, 16, st) ||
        opt_str(req, "extension", &p.ext, 16, st))
        return NULL;
    if (p.format && !sd_label_valid(p.format, 16)) {
        st_fail(st, 400, "invalid_request", "field 'format' must be a short label");
        return NULL;
    }
    if (p.compression && !sd_compression_valid(p.compression)) {
        st_fail(st, 400, "invalid_request", "field 'compression' must be zstd, gzip or none");
        return NULL;
    }
    if (p.ext && !sd_extension_valid(p.ext)) {
        st_fail(st, 400, "invalid_request", "field 'extension' must be 1-16 characters of [a-z0-9.]");
        return NULL;
    }
    if (!p.ext) {
        sd_extension_default(ext, p.format, p.compression);
        p.ext = ext;
    }
    /* The agent must be this app's. */
    sd_res r;
    if (sd_q(db, &r, &st->err, "SELECT id FROM agents WHERE id = ? AND app_id = ?", "ii", p.agent, app)) {
        st_fail(st, 500, "internal", "state store error");
        return NULL;
    }
    int known = r.rows > 0;
    sd_res_free(&r);
    if (!known) {
        st_fail(st, 404, "not_found", "unknown agent 'a_%" PRId64 "'", p.agent);
        return NULL;
    }
    if (run_txn(ctx, 1, prepare_txn, &p, st))
        return NULL;
    if (sd_storage_is_s3(ctx) && s3_ensure_upload(ctx, p.backup, p.file_name, st))
        return NULL;
    cJSON *out = cJSON_CreateObject();
    add_id(out, "backup_id", 'b', p.backup);
    cJSON_AddStringToObject(out, "file_name", p.file_name);
    cJSON_AddNumberToObject(out, "max_filesize", (double)ctx->cfg->max_filesize);
    cJSON *u = cJSON_AddObjectToObject(out, "upload");
    char url[80];
    if (sd_storage_is_s3(ctx)) {
        cJSON_AddStringToObject(u, "kind", "s3");
        snprintf(url, sizeof url, "/api/v1/backups/b_%" PRId64 "/parts/{n}/presign", p.backup);
        cJSON_AddStringToObject(u, "presign_url", url);
        cJSON_AddNumberToObject(u, "min_part_size", 5 * 1024 * 1024);
    } else {
        cJSON_AddStringToObject(u, "kind", "local");
        snprintf(url, sizeof url, "/api/v1/backups/b_%" PRId64 "/parts/{n}", p.backup);
        cJSON_AddStringToObject(u, "part_url", url);
    }
    cJSON_AddNumberToObject(u, "max_part_size", (double)ctx->cfg->max_part_size);
    cJSON_AddNumberToObject(u, "max_parts", 10000);
    return out;
}

typedef struct {
    int64_t app, backup;
} bk_arg;

static int part_txn(sd_ctx *ctx, void *p_, sd_status *st)
{
    sd_db *db = ctx->db;
    bk_arg *p = p_;
    sd_res r;
    Q(&r, &st->err,
      "SELECT b.status, j.state, j.id FROM backups b JOIN jobs j ON j.id = b.job_id WHERE b.id = ? AND b.app_id = ?",
      "ii", p->backup, p->app);
    if (!r.rows) {
        sd_res_free(&r);
        return st_fail(st, 404, "not_found", "unknown backup 'b_%" PRId64 "'", p->backup);
    }
    if (strcmp(sd_get(&r, 0, 0), "running") || strcmp(sd_get(&r, 0, 1), "dispatched")) {
        int rc = st_fail(st, 409, "conflict", "backup 'b_%" PRId64 "' is %s, not uploading", p->backup,
                         sd_get(&r, 0, 0));
        sd_res_free(&r);
        return rc;
    }
    int64_t job = sd_geti(&r, 0, 2), now = sd_ctx_now(ctx);
    sd_res_free(&r);
    Q(NULL, &st->err, "UPDATE jobs SET lease_until = ?, updated_at = ? WHERE id = ?", "iii",
      now + ctx->cfg->job_lease_ms, now, job);
    return 0;
}

int sd_part_allowed(sd_ctx *ctx, int64_t app, int64_t backup, sd_status *st)
{
    bk_arg p = {app, backup};
    return run_txn(ctx, 1, part_txn, &p, st);
}

char *sd_parts_dir(const sd_ctx *ctx, int64_t backup) { return dp_asprintf("%s/parts/b_%" PRId64, ctx->cfg->data_dir, backup); }

void sd_parts_remove(const sd_ctx *ctx, int64_t backup)
{
    char *dir = sd_parts_dir(ctx, backup);
    DIR *dh = dir ? opendir(dir) : NULL;
    if (dh) {
        struct dirent *de;
        while ((de = readdir(dh)))
            if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
                unlinkat(dirfd(dh), de->d_name, 0);
        closedir(dh);
        rmdir(dir);
    }
    free(dir);
}

/* A backup's file and manifest out of storage (retention, app delete). Both are tried; err is the first failure. */
static int remove_stored(dp_storage *stg, const char *file_name, dp_err *err)
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

/* Retention for one database of an app: keep-last N and GFS over good backups, newest first. */
static void apply_retention(sd_ctx *ctx, int64_t app, int64_t dbid)
{
    sd_db *db = ctx->db;
    dp_err err = {0};
    sd_res pol, r;
    if (sd_q(db, &pol, &err, "SELECT keep_last, keep_daily, keep_weekly, keep_monthly FROM apps WHERE id = ?", "i",
             app) ||
        !pol.rows) {
        sd_res_free(&pol);
        return;
    }
    sd_retention policy = {sd_geti(&pol, 0, 0), sd_geti(&pol, 0, 1), sd_geti(&pol, 0, 2), sd_geti(&pol, 0, 3)};
    sd_res_free(&pol);
    if (!sd_retention_active(&policy))
        return; /* no policy: keep everything */
    if (sd_q(db, &r, &err,
             "SELECT id, file_name, created_at FROM backups WHERE app_id = ? AND db_id = ? AND status = 'good'"
             " ORDER BY created_at DESC, id DESC",
             "ii", app, dbid))
        return;
    unsigned char *keep = calloc((size_t)r.rows + 1, 1);
    int64_t *created = calloc((size_t)r.rows + 1, sizeof *created);
    for (int i = 0; created && i < r.rows; i++)
        created[i] = sd_geti(&r, i, 2);
    int decided = keep && created;
    if (decided)
        sd_retention_keep(&policy, created, r.rows, keep);
    free(created);
    dp_storage *stg = NULL;
    if (decided && !dp_storage_open(ctx->cfg->storage, NULL, 1, &stg, &err)) {
        for (int i = 0; i < r.rows; i++) {
            if (keep[i])
                continue;
            dp_err e2 = {0};
            /* Mark first: a crash between the two leaves a catalog entry pointing at nothing, never the reverse. */
            if (sd_q(db, NULL, &e2, "UPDATE backups SET status = 'deleted' WHERE id = ? AND status = 'good'", "i",
                     sd_geti(&r, i, 0)) == 0 &&
                remove_stored(stg, sd_get(&r, i, 1), &e2))
                dp_warn("retention: %s", e2.msg);
        }
        dp_storage_close(stg);
    } else if (err.code) {
        dp_warn("retention: %s", err.msg);
    }
    free(keep);
    sd_res_free(&r);
}

typedef struct {
    int64_t app, backup, size, duration, raw_size, job, attempt, dbid;
    const char *sha, *code, *message, *fmt, *comp;
    char file_name[256];
    char status[16];
    int requeued;
} fin_arg;

static int load_backup(sd_ctx *ctx, fin_arg *f, sd_status *st)
{
    sd_db *db = ctx->db;
    sd_res r;
    Q(&r, &st->err,
      "SELECT b.status, b.file_name, b.job_id, b.db_id, b.sha256, j.state FROM backups b JOIN jobs j ON j.id = b.job_id"
      " WHERE b.id = ? AND b.app_id = ?",
      "ii", f->backup, f->app);
    if (!r.rows) {
        sd_res_free(&r);
        return st_fail(st, 404, "not_found", "unknown backup 'b_%" PRId64 "'", f->backup);
    }
    snprintf(f->status, sizeof f->status, "%s", sd_get(&r, 0, 0));
    snprintf(f->file_name, sizeof f->file_name, "%s", sd_get(&r, 0, 1));
    f->job = sd_geti(&r, 0, 2);
    f->dbid = sd_geti(&r, 0, 3);
    int same_sha = f->sha && sd_get(&r, 0, 4) && !strcmp(sd_get(&r, 0, 4), f->sha);
    int job_open = !strcmp(sd_get(&r, 0, 5), "dispatched");
    sd_res_free(&r);
    if (!strcmp(f->status, "running") && !job_open)
        return st_fail(st, 409, "conflict", "the job of backup 'b_%" PRId64 "' is no longer open (lease expired)",
                       f->backup);
    if (same_sha && !strcmp(f->status, "good"))
        return 0;
    return 0;
}

static int commit_check_txn(sd_ctx *ctx, void *p_, sd_status *st)
{
    sd_db *db = ctx->db;
    fin_arg *f = p_;
    int rc = load_backup(ctx, f, st);
    if (rc)
        return rc;
    if (strcmp(f->status, "running") && strcmp(f->status, "good"))
        return st_fail(st, 409, "conflict", "backup 'b_%" PRId64 "' is %s", f->backup, f->status);
    if (!strcmp(f->status, "running")) {
        int64_t now = sd_ctx_now(ctx);
        Q(NULL, &st->err, "UPDATE jobs SET lease_until = ?, updated_at = ? WHERE id = ?", "iii",
          now + ctx->cfg->job_lease_ms, now, f->job);
    }
    return 0;
}

static int commit_txn(sd_ctx *ctx, void *p_, sd_status *st)
{
    sd_db *db = ctx->db;
    fin_arg *f = p_;
    int64_t now = sd_ctx_now(ctx);
    int rc = load_backup(ctx, f, st);
    if (rc)
        return rc;
    if (strcmp(f->status, "running"))
        return st_fail(st, 409, "conflict", "backup 'b_%" PRId64 "' is %s", f->backup, f->status);
    Q(NULL, &st->err,
      "UPDATE backups SET status = 'good', size = ?, sha256 = ?, duration_ms = ?, raw_size = ?, finished_at = ?"
      " WHERE id = ?",
      "isiiii", f->size, f->sha, f->duration, f->raw_size, now, f->backup);
    Q(NULL, &st->err, "UPDATE jobs SET state = 'done', updated_at = ? WHERE id = ?", "ii", now, f->job);
    return 0;
}

static char *manifest_json(const sd_ctx *ctx, const fin_arg *f, const cJSON *req);

/* Assemble parts 1..n into the storage under file_name, verifying size and sha256. */
static int assemble(const sd_ctx *ctx, const fin_arg *f, int nparts, const cJSON *req, sd_status *st)
{
    dp_err err = {0};
    dp_storage *stg = NULL;
    dp_sink *w = NULL, *sha = NULL;
    char *dir = sd_parts_dir(ctx, f->backup), *mkey = NULL, *mjson = NULL;
    char buf[65536], got[65];
    uint64_t total = 0;
    int rc = 0, manifest_written = 0;
    if (!dir || dp_storage_open(ctx->cfg->storage, NULL, 1, &stg, &err)) {
        rc = st_fail(st, 500, "internal", "storage: %s", err.msg);
        goto cleanup;
    }
    /* Every part present first: a missing one is the agent's to re-upload, not a storage error. */
    for (int n = 1; n <= nparts; n++) {
        char *p = dp_asprintf("%s/%d", dir, n);
        int ok = p && access(p, R_OK) == 0;
        free(p);
        if (!ok) {
            rc = st_fail(st, 422, "verification_failed", "part %d of backup 'b_%" PRId64 "' was not uploaded", n,
                         f->backup);
            goto cleanup;
        }
    }
    /* The manifest goes first (lib/job/manifest.h): a listed backup always has one. */
    if (!(mjson = manifest_json(ctx, f, req)) || !(mkey = dp_asprintf("%s%s", f->file_name, DP_MANIFEST_SUFFIX))) {
        rc = st_fail(st, 500, "internal", "out of memory");
        goto cleanup;
    }
    if (dp_storage_put(stg, mkey, mjson, strlen(mjson), &err)) {
        rc = st_fail(st, 500, "internal", "storage: %s", err.msg);
        goto cleanup;
    }
    manifest_written = 1;
    if (dp_storage_writer(stg, f->file_name, &w, &err) || !(sha = dp_filter_sha256_new(w))) {
        rc = st_fail(st, 500, "internal", "storage: %s", err.code ? err.msg : "out of memory");
        if (!sha && w)
            dp_sink_free(w);
        w = NULL;
        goto cleanup;
    }
    w = NULL; /* owned by sha */
    for (int n = 1; n <= nparts && !rc; n++) {
        char *p = dp_asprintf("%s/%d", dir, n);
        FILE *fp = p ? fopen(p, "rb") : NULL;
        free(p);
        if (!fp) {
            rc = st_fail(st, 422, "verification_failed", "part %d of backup 'b_%" PRId64 "' is unreadable", n,
                         f->backup);
            break;
        }
        size_t k;
        while ((k = fread(buf, 1, sizeof buf, fp)) > 0) {
            total += k;
            if (total > (uint64_t)f->size || dp_sink_write(sha, buf, k, &err))
                break;
        }
        fclose(fp);
        if (err.code)
            rc = st_fail(st, 500, "internal", "storage: %s", err.msg);
        else if (total > (uint64_t)f->size)
            rc = st_fail(st, 422, "verification_failed", "backup 'b_%" PRId64 "' has more than the %" PRId64
                         " bytes the commit says", f->backup, f->size);
    }
    if (!rc && total != (uint64_t)f->size)
        rc = st_fail(st, 422, "verification_failed",
                     "backup 'b_%" PRId64 "' has %" PRIu64 " bytes, the commit says %" PRId64, f->backup, total,
                     f->size);
    if (!rc && dp_sink_end(sha, &err))
        rc = st_fail(st, 500, "internal", "storage: %s", err.msg);
    if (!rc) {
        dp_filter_sha256_hex(sha, got);
        if (strcmp(got, f->sha))
            rc = st_fail(st, 422, "verification_failed",
                         "backup 'b_%" PRId64 "' has sha256 %s, the commit says %s", f->backup, got, f->sha);
    }
    if (!rc && dp_sink_commit(sha, &err))
        rc = st_fail(st, 500, "internal", "storage: %s", err.msg);
cleanup:
    if (sha) {
        if (rc)
            dp_sink_abort(sha);
        dp_sink_free(sha);
    }
    if (rc && manifest_written) {
        dp_err ignore = {0};
        dp_storage_remove(stg, mkey, &ignore);
    }
    if (stg)
        dp_storage_close(stg);
    free(dir);
    free(mkey);
    free(mjson);
    return rc;
}

static int fail_txn(sd_ctx *ctx, void *p_, sd_status *st);

static char *manifest_json(const sd_ctx *ctx, const fin_arg *f, const cJSON *req)
{
    const cJSON *src = cJSON_GetObjectItemCaseSensitive(req, "source_type");
    const cJSON *dbu = cJSON_GetObjectItemCaseSensitive(req, "database");
    dp_manifest m = {0};
    m.name = (char *)f->file_name;
    m.source_type = cJSON_IsString(src) && sd_label_valid(src->valuestring, 32) ? src->valuestring : "unknown";
    m.format = (char *)f->fmt;
    m.compression = (char *)f->comp;
    m.size = (uint64_t)f->size;
    m.raw_size = (uint64_t)f->raw_size;
    snprintf(m.sha256, sizeof m.sha256, "%s", f->sha);
    m.created_ms = sd_ctx_now(ctx);
    m.duration_ms = f->duration;
    m.dumper_version = (char *)dumper_version();
    m.database = cJSON_IsString(dbu) ? dbu->valuestring : "";
    return dp_manifest_to_json(&m);
}

/* S3: complete the agent's multipart upload, then read the object back to check size and sha256.
 * A mismatch found after completion cannot be re-uploaded: the object is deleted and the backup fails
 * (its job is retried per policy). */
static int assemble_s3(sd_ctx *ctx, fin_arg *f, const cJSON *parts, const cJSON *req, sd_status *st)
{
    int n = cJSON_IsArray(parts) ? cJSON_GetArraySize(parts) : 0, rc = 0, published = 0;
    char **etags = NULL, *uid = NULL, *mjson = NULL, *mkey = NULL, got[65] = "";
    dp_storage *stg = NULL;
    dp_sink *sha = NULL;
    dp_err err = {0};
    if (n < 1 || n > 10000)
        return st_fail(st, 400, "invalid_request", "field 'parts' must be an array of {\"n\", \"etag\"} for S3 storage");
    if (!(etags = calloc((size_t)n, sizeof *etags)))
        return st_fail(st, 500, "internal", "out of memory");
    int i = 0;
    const cJSON *o;
    cJSON_ArrayForEach(o, parts) /* not cJSON_GetArrayItem(i): quadratic over 10000 parts */
    {
        const cJSON *pn = cJSON_GetObjectItemCaseSensitive(o, "n");
        const cJSON *et = cJSON_GetObjectItemCaseSensitive(o, "etag");
        int ok = cJSON_IsNumber(pn) && pn->valuedouble == i + 1 && cJSON_IsString(et) && *et->valuestring &&
                 strlen(et->valuestring) <= 200;
        for (const char *c = ok ? et->valuestring : ""; *c; c++)
            ok &= (unsigned char)*c >= 0x20;
        if (!ok) {
            rc = st_fail(st, 400, "invalid_request", "parts[%d] must be {\"n\": %d, \"etag\": \"...\"}", i, i + 1);
            goto cleanup;
        }
        etags[i++] = et->valuestring;
    }
    if ((rc = s3_upload_id(ctx, f->backup, &uid, NULL, 0, st)))
        goto cleanup;
    if (!uid) {
        rc = st_fail(st, 409, "conflict", "backup 'b_%" PRId64 "' has no upload", f->backup);
        goto cleanup;
    }
    if (!(mjson = manifest_json(ctx, f, req)) || !(mkey = dp_asprintf("%s%s", f->file_name, DP_MANIFEST_SUFFIX))) {
        rc = st_fail(st, 500, "internal", "out of memory");
        goto cleanup;
    }
    if ((rc = s3_open_storage(ctx, &stg, st)))
        goto cleanup;
    if (dp_storage_put(stg, mkey, mjson, strlen(mjson), &err)) {
        rc = st_fail(st, 502, "storage_failed", "storage: %s", err.msg);
        goto cleanup;
    }
    if (dp_s3_complete_upload(stg, f->file_name, uid, n, etags, &err)) {
        dp_err ignore = {0};
        dp_storage_remove(stg, mkey, &ignore);
        rc = st_fail(st, 422, "verification_failed", "completing the upload failed: %s", err.msg);
        goto cleanup;
    }
    published = 1;
    if (!(sha = dp_filter_sha256_new(dp_sink_null_new()))) {
        rc = st_fail(st, 500, "internal", "out of memory");
        goto cleanup;
    }
    if (dp_storage_read(stg, f->file_name, sha, &err) || dp_sink_end(sha, &err)) {
        rc = st_fail(st, 502, "storage_failed", "reading back the upload: %s", err.msg);
        goto cleanup;
    }
    dp_filter_sha256_hex(sha, got);
    if (sha->bytes != (uint64_t)f->size || strcmp(got, f->sha))
        rc = st_fail(st, 422, "verification_failed",
                     "backup 'b_%" PRId64 "' has %" PRIu64 " bytes with sha256 %s, the commit says %" PRId64 " and %s",
                     f->backup, sha->bytes, got, f->size, f->sha);
cleanup:
    if (rc && published) {
        dp_err ignore = {0};
        dp_storage_remove(stg, f->file_name, &ignore);
        dp_storage_remove(stg, mkey, &ignore);
        /* The upload is gone: fail this attempt so the job is retried. */
        fin_arg ff = {.app = f->app, .backup = f->backup, .code = "verification_failed",
                      .message = st->err.msg};
        sd_status fs = {0};
        run_txn(ctx, 1, fail_txn, &ff, &fs);
    }
    if (sha)
        dp_sink_free(sha);
    if (stg)
        dp_storage_close(stg);
    free(etags);
    free(uid);
    free(mjson);
    free(mkey);
    return rc;
}

static int is_hex64(const char *s)
{
    if (!s || strlen(s) != 64)
        return 0;
    for (int i = 0; i < 64; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return 1;
}

cJSON *sd_commit(sd_ctx *ctx, int64_t app, int64_t backup, const cJSON *req, sd_status *st)
{
    sd_db *db = ctx->db;
    fin_arg f = {.app = app, .backup = backup};
    int64_t nparts = 0;
    const char *database = NULL;
    if (opt_int(req, "size", &f.size, 0, INT64_C(1) << 60, 1, st) || req_str(req, "sha256", &f.sha, 64, st) ||
        opt_int(req, "duration_ms", &f.duration, 0, INT64_C(1) << 50, 0, st) ||
        opt_int(req, "raw_size", &f.raw_size, 0, INT64_C(1) << 60, 0, st) ||
        opt_str(req, "database", &database, 1000, st))
        return NULL;
    if (f.size > ctx->cfg->max_filesize) {
        st_fail(st, 413, "too_large", "backup is larger than max_filesize");
        return NULL;
    }
    if (!is_hex64(f.sha)) {
        st_fail(st, 400, "invalid_request", "field 'sha256' must be 64 lowercase hex digits");
        return NULL;
    }
    if (database && sd_url_has_password(database)) {
        st_fail(st, 400, "invalid_request", "field 'database' must be a redacted URL (no password)");
        return NULL;
    }
    const cJSON *parts = cJSON_GetObjectItemCaseSensitive(req, "parts");
    if (cJSON_IsArray(parts))
        nparts = cJSON_GetArraySize(parts);
    else if (opt_int(req, "parts", &nparts, 0, 10000, 1, st))
        return NULL;
    if (nparts > 10000) {
        st_fail(st, 400, "invalid_request", "at most 10000 parts");
        return NULL;
    }
    if (run_txn(ctx, 1, commit_check_txn, &f, st))
        return NULL;
    if (!strcmp(f.status, "good")) {
        /* Idempotent re-commit: same checksum is fine, a different one is a conflict. */
        sd_res r;
        int same = 0;
        if (!sd_q(db, &r, &st->err, "SELECT sha256 FROM backups WHERE id = ?", "i", backup) && r.rows)
            same = dp_streq(sd_get(&r, 0, 0), f.sha);
        sd_res_free(&r);
        if (!same) {
            st_fail(st, 409, "conflict", "backup 'b_%" PRId64 "' is already committed", backup);
            return NULL;
        }
    } else {
        sd_res r;
        char fmt[20] = "dump", comp[20] = "none";
        if (!sd_q(db, &r, &st->err, "SELECT format, compression FROM backups WHERE id = ?", "i", backup) && r.rows) {
            if (sd_get(&r, 0, 0))
                snprintf(fmt, sizeof fmt, "%s", sd_get(&r, 0, 0));
            if (sd_get(&r, 0, 1))
                snprintf(comp, sizeof comp, "%s", sd_get(&r, 0, 1));
        }
        sd_res_free(&r);
        f.fmt = fmt;
        f.comp = comp;
        /* The manifest's raw_size is checked by `dumper verify`: required for compressed backups. */
        if (!cJSON_GetObjectItemCaseSensitive(req, "raw_size") && strcmp(comp, "none")) {
            st_fail(st, 400, "invalid_request", "field 'raw_size' is required for a %s-compressed backup", comp);
            return NULL;
        }
        if (!strcmp(comp, "none"))
            f.raw_size = f.size;
        if (sd_storage_is_s3(ctx) ? assemble_s3(ctx, &f, parts, req, st) : assemble(ctx, &f, (int)nparts, req, st))
            return NULL;
        if (run_txn(ctx, 1, commit_txn, &f, st)) {
            /* Lost the race with a lease expiry: unpublish what we wrote. */
            dp_err ignore = {0};
            dp_storage *stg = NULL;
            if (st->http == 409 && !dp_storage_open(ctx->cfg->storage, NULL, 0, &stg, &ignore)) {
                char *mk = dp_asprintf("%s%s", f.file_name, DP_MANIFEST_SUFFIX);
                dp_storage_remove(stg, f.file_name, &ignore);
                if (mk)
                    dp_storage_remove(stg, mk, &ignore);
                free(mk);
                dp_storage_close(stg);
            }
            return NULL;
        }
        sd_parts_remove(ctx, backup);
        apply_retention(ctx, app, f.dbid);
    }
    cJSON *out = cJSON_CreateObject();
    add_id(out, "backup_id", 'b', backup);
    cJSON_AddStringToObject(out, "status", "good");
    cJSON_AddNumberToObject(out, "size", (double)f.size);
    cJSON_AddStringToObject(out, "sha256", f.sha);
    cJSON_AddStringToObject(out, "file_name", f.file_name);
    return out;
}

/* Fail (or lose) a backup's job: requeue while attempts remain, unless the failure is permanent.
 * In a write txn. */
static int fail_job(sd_ctx *ctx, int64_t job, int64_t now, int permanent, int *requeued, sd_status *st)
{
    sd_db *db = ctx->db;
    sd_res r;
    Q(&r, &st->err, "SELECT attempt FROM jobs WHERE id = ?", "i", job);
    int64_t attempt = sd_geti(&r, 0, 0);
    sd_res_free(&r);
    *requeued = sd_retry_requeue(attempt, ctx->cfg->max_attempts, permanent);
    if (*requeued)
        Q(NULL, &st->err,
          "UPDATE jobs SET state = 'pending', reason = 'retry', attempt = attempt + 1, agent_id = NULL,"
          " lease_until = NULL, backup_id = NULL, updated_at = ? WHERE id = ?",
          "ii", now, job);
    else
        Q(NULL, &st->err, "UPDATE jobs SET state = 'failed', updated_at = ? WHERE id = ?", "ii", now, job);
    return 0;
}

static int fail_txn(sd_ctx *ctx, void *p_, sd_status *st)
{
    sd_db *db = ctx->db;
    fin_arg *f = p_;
    int64_t now = sd_ctx_now(ctx);
    sd_res r;
    Q(&r, &st->err, "SELECT b.status, b.job_id, j.state, j.backup_id FROM backups b JOIN jobs j ON j.id = b.job_id"
                    " WHERE b.id = ? AND b.app_id = ?",
      "ii", f->backup, f->app);
    if (!r.rows) {
        sd_res_free(&r);
        return st_fail(st, 404, "not_found", "unknown backup 'b_%" PRId64 "'", f->backup);
    }
    snprintf(f->status, sizeof f->status, "%s", sd_get(&r, 0, 0));
    f->job = sd_geti(&r, 0, 1);
    int job_current = !strcmp(sd_get(&r, 0, 2), "dispatched") && sd_geti(&r, 0, 3) == f->backup;
    sd_res_free(&r);
    if (!strcmp(f->status, "failed"))
        return 0;
    if (strcmp(f->status, "running"))
        return st_fail(st, 409, "conflict", "backup 'b_%" PRId64 "' is %s", f->backup, f->status);
    Q(NULL, &st->err,
      "UPDATE backups SET status = 'failed', error_code = ?, error_message = ?, finished_at = ? WHERE id = ?", "ssii",
      f->code, f->message, now, f->backup);
    if (job_current)
        return fail_job(ctx, f->job, now, sd_failure_permanent(f->code), &f->requeued, st);
    return 0;
}

cJSON *sd_fail(sd_ctx *ctx, int64_t app, int64_t backup, const cJSON *req, sd_status *st)
{
    fin_arg f = {.app = app, .backup = backup};
    char msg[1001];
    if (req_str(req, "code", &f.code, 64, st))
        return NULL;
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(req, "message");
    if (m && !cJSON_IsNull(m) && !cJSON_IsString(m)) {
        st_fail(st, 400, "invalid_request", "field 'message' must be a string");
        return NULL;
    }
    if (cJSON_IsString(m)) {
        snprintf(msg, sizeof msg, "%s", m->valuestring);
        f.message = msg;
    }
    if (run_txn(ctx, 1, fail_txn, &f, st))
        return NULL;
    sd_parts_remove(ctx, backup);
    s3_abort(ctx, backup);
    cJSON *out = cJSON_CreateObject();
    add_id(out, "backup_id", 'b', backup);
    cJSON_AddStringToObject(out, "status", "failed");
    return out;
}

cJSON *sd_backup_get(sd_ctx *ctx, int64_t app, int64_t backup, sd_status *st)
{
    sd_db *db = ctx->db;
    sd_res r;
    if (sd_q(db, &r, &st->err,
             "SELECT " BACKUP_COLS " FROM backups b LEFT JOIN dbs d ON d.id = b.db_id WHERE b.id = ? AND b.app_id = ?",
             "ii", backup, app)) {
        st_fail(st, 500, "internal", "state store error");
        return NULL;
    }
    if (!r.rows) {
        sd_res_free(&r);
        st_fail(st, 404, "not_found", "unknown backup 'b_%" PRId64 "'", backup);
        return NULL;
    }
    cJSON *o = backup_json(&r, 0);
    sd_res_free(&r);
    return o;
}

int sd_backup_file(sd_ctx *ctx, int64_t app, int64_t backup, char **file_name, uint64_t *size, char sha[65],
                   sd_status *st)
{
    sd_db *db = ctx->db;
    sd_res r;
    if (sd_q(db, &r, &st->err, "SELECT status, file_name, size, sha256 FROM backups WHERE id = ? AND app_id = ?", "ii",
             backup, app))
        return st_fail(st, 500, "internal", "state store error");
    if (!r.rows) {
        sd_res_free(&r);
        return st_fail(st, 404, "not_found", "unknown backup 'b_%" PRId64 "'", backup);
    }
    if (strcmp(sd_get(&r, 0, 0), "good")) {
        int rc = st_fail(st, 409, "conflict", "backup 'b_%" PRId64 "' is %s, not downloadable", backup,
                         sd_get(&r, 0, 0));
        sd_res_free(&r);
        return rc;
    }
    *file_name = dp_strdup(sd_get(&r, 0, 1));
    *size = (uint64_t)sd_geti(&r, 0, 2);
    snprintf(sha, 65, "%s", sd_get(&r, 0, 3) ? sd_get(&r, 0, 3) : "");
    sd_res_free(&r);
    return *file_name ? 0 : st_fail(st, 500, "internal", "out of memory");
}

/* ---- scheduler ---- */

typedef struct {
    int64_t id, app, dbid, last_slot, now_s;
    const char *env, *cron, *tz;
    int64_t *slots;
    int nslots;
    int64_t next;
    int produced;
} sched_arg;

static int produce_txn(sd_ctx *ctx, void *p_, sd_status *st)
{
    sd_db *db = ctx->db;
    sched_arg *p = p_;
    sd_res r;
    p->produced = 0;
    /* Someone else (another instance) moved the schedule on: nothing to do. */
    Q(&r, &st->err, "SELECT last_slot FROM schedules WHERE id = ?", "i", p->id);
    int same = r.rows && sd_geti(&r, 0, 0) == p->last_slot;
    sd_res_free(&r);
    if (!same)
        return 0;
    if (p->dbid)
        Q(&r, &st->err, "SELECT id FROM dbs WHERE id = ?", "i", p->dbid);
    else
        Q(&r, &st->err,
          "SELECT id FROM dbs WHERE app_id = ? AND env = ? AND id NOT IN (SELECT db_id FROM schedules WHERE"
          " app_id = ? AND env = ? AND db_id > 0) ORDER BY id",
          "isis", p->app, p->env, p->app, p->env);
    int64_t now = sd_ctx_now(ctx);
    for (int s = 0; s < p->nslots; s++)
        for (int i = 0; i < r.rows; i++) {
            int rc = sd_q(db, NULL, &st->err,
                          "INSERT INTO jobs (app_id, env, db_id, schedule_id, slot, reason, state, attempt, created_at,"
                          " updated_at) VALUES (?, ?, ?, ?, ?, 'schedule', 'pending', 1, ?, ?)"
                          " ON CONFLICT (schedule_id, slot, db_id) WHERE schedule_id > 0 DO NOTHING",
                          "isiiiii", p->app, p->env, sd_geti(&r, i, 0), p->id, p->slots[s], now, now);
            if (rc) {
                sd_res_free(&r);
                return rc;
            }
            p->produced++;
        }
    sd_res_free(&r);
    Q(NULL, &st->err, "UPDATE schedules SET last_slot = ?, next_slot = ? WHERE id = ? AND last_slot = ?", "iiii",
      p->now_s, p->next, p->id, p->last_slot);
    return 0;
}

typedef struct {
    int64_t now;
    int64_t *lost;
    int nlost;
} expire_arg;

static int expire_txn(sd_ctx *ctx, void *p_, sd_status *st)
{
    sd_db *db = ctx->db;
    expire_arg *e = p_;
    sd_res r;
    e->nlost = 0;
    Q(&r, &st->err, "SELECT id, backup_id FROM jobs WHERE state = 'dispatched' AND lease_until < ? LIMIT 100", "i",
      e->now);
    e->lost = calloc((size_t)r.rows + 1, sizeof *e->lost);
    for (int i = 0; i < r.rows && e->lost; i++) {
        int64_t job = sd_geti(&r, i, 0), b = sd_geti(&r, i, 1);
        int requeued = 0, rc = 0;
        if (b) {
            rc = sd_q(db, NULL, &st->err,
                      "UPDATE backups SET status = 'failed', error_code = 'lost', error_message = 'the job process"
                      " neither committed nor failed within the job lease', finished_at = ? WHERE id = ?"
                      " AND status = 'running'",
                      "ii", e->now, b);
            e->lost[e->nlost++] = b;
        }
        if (!rc)
            rc = fail_job(ctx, job, e->now, 0, &requeued, st);
        if (rc) {
            sd_res_free(&r);
            return rc;
        }
        dp_info("job j_%" PRId64 " lost (lease expired)%s", job, requeued ? ", queued again" : "");
    }
    sd_res_free(&r);
    return 0;
}

int sd_tick(sd_ctx *ctx, dp_err *err)
{
    sd_db *db = ctx->db;
    int64_t now = sd_ctx_now(ctx), now_s = now / 1000;
    sd_status st = {0};
    expire_arg e = {.now = now};
    sd_res r;
    /* Look before taking the write lock: most passes have nothing to expire. */
    int rc = sd_q(db, &r, err, "SELECT COUNT(*) FROM jobs WHERE state = 'dispatched' AND lease_until < ?", "i", now);
    int expired = !rc && sd_geti(&r, 0, 0) > 0;
    sd_res_free(&r);
    if (rc)
        return rc == SD_RETRY ? 0 : rc;
    if (expired)
        rc = run_txn(ctx, 1, expire_txn, &e, &st);
    for (int i = 0; !rc && i < e.nlost; i++) {
        sd_parts_remove(ctx, e.lost[i]);
        s3_abort(ctx, e.lost[i]);
    }
    free(e.lost);
    if (rc)
        return dp_err_set(err, DUMPER_EINTERNAL, "%s", st.err.msg);

    if ((rc = sd_q(db, &r, err,
                   "SELECT id, app_id, env, db_id, cron, tz, last_slot FROM schedules WHERE next_slot <= ? ORDER BY id",
                   "i", now_s)))
        return rc == SD_RETRY ? 0 : rc;
    for (int i = 0; i < r.rows; i++) {
        sched_arg p = {.id = sd_geti(&r, i, 0), .app = sd_geti(&r, i, 1), .env = sd_get(&r, i, 2),
                       .dbid = sd_geti(&r, i, 3), .cron = sd_get(&r, i, 4), .tz = sd_get(&r, i, 5),
                       .last_slot = sd_geti(&r, i, 6), .now_s = now_s};
        sd_cron c;
        char msg[200];
        if (sd_cron_parse(p.cron, &c, msg, sizeof msg))
            continue;
        sd_due due = {.slots = calloc(SD_SCHEDULE_MAX_SLOTS, sizeof *due.slots)};
        if (!due.slots)
            break;
        sd_schedule_due(&c, p.tz, p.last_slot, now_s, ctx->cfg->catchup_s, &due);
        if (due.skipped)
            dp_warn("schedule %" PRId64 ": skipping slots before the catch-up window", p.id);
        p.slots = due.slots;
        p.nslots = due.n;
        p.next = due.next;
        sd_status ps = {0};
        if (run_txn(ctx, 1, produce_txn, &p, &ps))
            dp_warn("schedule %" PRId64 ": %s", p.id, ps.err.msg);
        else if (p.produced)
            dp_info("schedule %" PRId64 ": %d job(s) queued", p.id, p.produced);
        free(p.slots);
    }
    sd_res_free(&r);
    return 0;
}
