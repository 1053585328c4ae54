/*
 * alerts.c - webhook alerts: a failed backup, and a database without a good backup for too long.
 *
 * One background thread per `serve` process (never a request thread) with its own store connection.
 * Each pass (every --alert-check seconds) first *detects*: it inserts one row per alert into the
 * `alerts` table, keyed by a unique (kind, ref) so that an alert exists once however many passes or
 * dumperd instances see the condition; then it *delivers*: every undelivered row is claimed (a
 * conditional UPDATE, so two instances don't both send it), POSTed as JSON to the webhook, and on
 * failure retried with exponential backoff (2 s doubling up to 10 minutes, 12 attempts).
 *
 * Keys: a failed backup is "b_<id>"; a stale database is "d_<id>:<id of its newest good backup or 0>",
 * so a stale condition alerts once and stays quiet until a newer good backup resolves it (a later
 * staleness after that newer backup is a new condition, alerted again); that newer good backup also sends
 * one "backup_stale_resolved" for the condition. Failed backups older than a day
 * when first seen (e.g. from before alerts were configured) are not alerted.
 */
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "core/util.h"
#include "domain/alert_rules.h"
#include "site.h"
#include "store.h"

static pthread_t thread;
static atomic_int stopping;
static int started;
static sd_ctx alert_ctx; /* the alert thread's (its store connection is opened there) */

static int insert_alert(sd_db *db, const char *kind, const char *ref, cJSON *payload, int64_t now, dp_err *err)
{
    cJSON_AddStringToObject(payload, "event", kind);
    char t[24];
    dp_stamp_rfc3339(now, t);
    cJSON_AddStringToObject(payload, "time", t);
    char *s = cJSON_PrintUnformatted(payload);
    cJSON_Delete(payload);
    if (!s)
        return dp_err_set(err, DUMPER_ENOMEM, "out of memory");
    int rc = sd_q(db, NULL, err,
                  "INSERT INTO alerts (kind, ref, payload, created_at, attempts, next_try) VALUES (?, ?, ?, ?, 0, ?)"
                  " ON CONFLICT (kind, ref) DO NOTHING",
                  "sssii", kind, ref, s, now, dp_now_ms());
    free(s);
    return rc;
}

static const char *jget(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : "?";
}

static int exists(sd_db *db, const char *kind, const char *ref, dp_err *err)
{
    sd_res r = {0};
    if (sd_q(db, &r, err, "SELECT 1 FROM alerts WHERE kind = ? AND ref = ?", "ss", kind, ref))
        return -1;
    int n = r.rows;
    sd_res_free(&r);
    return n;
}

int sd_alerts_detect(sd_ctx *ctx, dp_err *err)
{
    sd_db *db = ctx->db;
    int64_t now = sd_ctx_now(ctx);
    sd_res r = {0};
    int rc = sd_q(db, &r, err,
                  "SELECT b.id, a.name, b.env, d.dkey, b.error_code, b.error_message, b.finished_at FROM backups b"
                  " JOIN apps a ON a.id = b.app_id LEFT JOIN dbs d ON d.id = b.db_id WHERE b.status = 'failed'"
                  " AND b.finished_at > ? ORDER BY b.id",
                  "i", now - SD_ALERT_FAILED_WINDOW_MS);
    if (rc)
        return rc;
    for (int i = 0; i < r.rows && !rc; i++) {
        char ref[32];
        sd_alert_ref_failed(ref, sd_geti(&r, i, 0));
        int e = exists(db, "backup_failed", ref, err);
        if (e)
            continue;
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "app", sd_get(&r, i, 1));
        cJSON_AddStringToObject(o, "environment", sd_get(&r, i, 2));
        cJSON_AddStringToObject(o, "database", sd_get(&r, i, 3) ? sd_get(&r, i, 3) : "");
        cJSON_AddStringToObject(o, "backup_id", ref);
        cJSON_AddStringToObject(o, "error_code", sd_get(&r, i, 4) ? sd_get(&r, i, 4) : "");
        cJSON_AddStringToObject(o, "error_message", sd_get(&r, i, 5) ? sd_get(&r, i, 5) : "");
        char t[24];
        dp_stamp_rfc3339(sd_geti(&r, i, 6), t);
        cJSON_AddStringToObject(o, "finished_at", t);
        char *text = dp_asprintf("Dumper: backup %s of %s/%s (%s) failed: %s", ref, sd_get(&r, i, 1),
                                 sd_get(&r, i, 3) ? sd_get(&r, i, 3) : "?", sd_get(&r, i, 2),
                                 sd_get(&r, i, 5) ? sd_get(&r, i, 5) : "no message");
        cJSON_AddStringToObject(o, "text", text ? text : "Dumper: a backup failed");
        free(text);
        rc = insert_alert(db, "backup_failed", ref, o, now, err);
    }
    sd_res_free(&r);
    if (rc || ctx->cfg->stale_after_h <= 0)
        return rc;

    rc = sd_q(db, &r, err,
              "SELECT d.id, a.name, d.env, d.dkey, d.updated_at,"
              " (SELECT MAX(b.id) FROM backups b WHERE b.db_id = d.id AND b.status = 'good'),"
              " (SELECT MAX(b.finished_at) FROM backups b WHERE b.db_id = d.id AND b.status = 'good'),"
              " (SELECT MIN(b.created_at) FROM backups b WHERE b.db_id = d.id)"
              " FROM dbs d JOIN apps a ON a.id = d.app_id ORDER BY d.id",
              "");
    if (rc)
        return rc;
    for (int i = 0; i < r.rows && !rc; i++) {
        int64_t since = sd_stale_since(sd_get(&r, i, 6) != NULL, sd_geti(&r, i, 6), sd_geti(&r, i, 4),
                                       sd_get(&r, i, 7) != NULL, sd_geti(&r, i, 7));
        if (!sd_is_stale(since, now, ctx->cfg->stale_after_h))
            continue;
        char ref[64];
        sd_alert_ref_stale(ref, sd_geti(&r, i, 0), sd_geti(&r, i, 5));
        if (exists(db, "backup_stale", ref, err))
            continue;
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "app", sd_get(&r, i, 1));
        cJSON_AddStringToObject(o, "environment", sd_get(&r, i, 2));
        cJSON_AddStringToObject(o, "database", sd_get(&r, i, 3));
        char t[24];
        if (sd_get(&r, i, 6)) {
            dp_stamp_rfc3339(sd_geti(&r, i, 6), t);
            cJSON_AddStringToObject(o, "last_good_at", t);
        } else {
            cJSON_AddNullToObject(o, "last_good_at");
        }
        cJSON_AddNumberToObject(o, "stale_after_hours", ctx->cfg->stale_after_h);
        char *text = dp_asprintf("Dumper: %s/%s (%s) has had no good backup for more than %g hours", sd_get(&r, i, 1),
                                 sd_get(&r, i, 3), sd_get(&r, i, 2), ctx->cfg->stale_after_h);
        cJSON_AddStringToObject(o, "text", text ? text : "Dumper: a database has no recent good backup");
        free(text);
        rc = insert_alert(db, "backup_stale", ref, o, now, err);
    }
    sd_res_free(&r);
    if (rc)
        return rc;

    /* Stale conditions resolved by a newer good backup: one "backup_stale_resolved" each. */
    rc = sd_q(db, &r, err,
              "SELECT s.ref, s.payload FROM alerts s WHERE s.kind = 'backup_stale' AND NOT EXISTS (SELECT 1 FROM"
              " alerts x WHERE x.kind = 'backup_stale_resolved' AND x.ref = s.ref) ORDER BY s.id",
              "");
    if (rc)
        return rc;
    for (int i = 0; i < r.rows && !rc; i++) {
        int64_t dbid = 0, good = 0;
        if (sd_alert_ref_stale_parse(sd_get(&r, i, 0), &dbid, &good))
            continue;
        sd_res g = {0};
        rc = sd_q(db, &g, err,
                  "SELECT b.id, b.finished_at FROM backups b WHERE b.db_id = ? AND b.status = 'good' AND b.id > ?"
                  " ORDER BY b.id DESC LIMIT 1",
                  "ii", dbid, good);
        if (!rc && g.rows) {
            cJSON *old = cJSON_Parse(sd_get(&r, i, 1));
            cJSON *o = cJSON_CreateObject();
            static const char *keep[] = {"app", "environment", "database"};
            for (int k = 0; k < 3; k++) {
                const cJSON *v = cJSON_GetObjectItemCaseSensitive(old, keep[k]);
                cJSON_AddStringToObject(o, keep[k], cJSON_IsString(v) ? v->valuestring : "");
            }
            char t[24];
            dp_stamp_rfc3339(sd_geti(&g, 0, 1), t);
            cJSON_AddStringToObject(o, "last_good_at", t);
            char *text = dp_asprintf("Dumper: %s/%s (%s) has a good backup again", jget(o, "app"),
                                     jget(o, "database"), jget(o, "environment"));
            cJSON_AddStringToObject(o, "text", text ? text : "Dumper: a stale database has a good backup again");
            free(text);
            cJSON_Delete(old);
            rc = insert_alert(db, "backup_stale_resolved", sd_get(&r, i, 0), o, now, err);
        }
        sd_res_free(&g);
    }
    sd_res_free(&r);
    return rc;
}

static int xfer_cb(void *p, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
    (void)p, (void)a, (void)b, (void)c, (void)d;
    return atomic_load(&stopping) ? 1 : 0;
}

static size_t discard(char *p, size_t s, size_t n, void *u)
{
    (void)p, (void)u;
    return s * n;
}

/* POST one payload; 0 on a 2xx. */
static int post(CURL *h, const char *url, const char *payload, char *why, size_t whylen)
{
    struct curl_slist *hd = curl_slist_append(NULL, "Content-Type: application/json");
    hd = curl_slist_append(hd, "User-Agent: dumperd");
    curl_easy_reset(h);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, payload);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 10L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 5L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, xfer_cb);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    CURLcode cc = curl_easy_perform(h);
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(hd);
    if (cc != CURLE_OK) {
        snprintf(why, whylen, "%s", curl_easy_strerror(cc));
        return -1;
    }
    if (status < 200 || status > 299) {
        snprintf(why, whylen, "HTTP %ld", status);
        return -1;
    }
    return 0;
}

/* Delivery times are wall-clock (retries happen in real time, also under the test clock). */
static void deliver(sd_ctx *ctx, CURL *h)
{
    sd_db *db = ctx->db;
    int64_t now = dp_now_ms();
    sd_res r = {0};
    dp_err err = {0};
    if (sd_q(db, &r, &err,
             "SELECT id, payload, attempts, next_try, kind, ref FROM alerts WHERE sent_at IS NULL AND attempts < ?"
             " AND next_try <= ? ORDER BY id LIMIT 20",
             "ii", (int64_t)SD_ALERT_MAX_ATTEMPTS, now)) {
        dp_warn("alerts: %s", err.msg);
        return;
    }
    for (int i = 0; i < r.rows && !atomic_load(&stopping); i++) {
        int64_t id = sd_geti(&r, i, 0), attempts = sd_geti(&r, i, 2);
        sd_res u = {0};
        /* Claim it for a minute: another instance (or a later pass) leaves it alone meanwhile. */
        if (sd_q(db, &u, &err, "UPDATE alerts SET next_try = ? WHERE id = ? AND next_try = ? RETURNING id", "iii",
                 now + SD_ALERT_CLAIM_MS, id, sd_geti(&r, i, 3)) ||
            u.rows != 1) {
            sd_res_free(&u);
            dp_err_clear(&err);
            continue;
        }
        sd_res_free(&u);
        char why[200] = "";
        if (!post(h, ctx->cfg->alert_webhook, sd_get(&r, i, 1), why, sizeof why)) {
            dp_info("alerts: %s %s delivered", sd_get(&r, i, 4), sd_get(&r, i, 5));
            sd_q(db, NULL, &err, "UPDATE alerts SET sent_at = ?, attempts = ? WHERE id = ?", "iii", dp_now_ms(),
                 attempts + 1, id);
        } else {
            int64_t delay = sd_alert_retry_delay_ms(attempts);
            dp_warn("alerts: webhook failed for %s %s (attempt %" PRId64 "): %s", sd_get(&r, i, 4), sd_get(&r, i, 5),
                    attempts + 1, why);
            sd_q(db, NULL, &err, "UPDATE alerts SET attempts = ?, next_try = ?, last_error = ? WHERE id = ?", "iisi",
                 attempts + 1, dp_now_ms() + delay, why, id);
        }
        dp_err_clear(&err);
    }
    sd_res_free(&r);
}

static void *alert_main(void *arg)
{
    sd_ctx *ctx = arg;
    dp_err err = {0};
    CURL *h = curl_easy_init();
    while (!atomic_load(&stopping)) {
        if (!ctx->db && sd_db_open(ctx->cfg->store_url, &ctx->db, &err)) {
            dp_warn("alerts: %s", err.msg);
            dp_err_clear(&err);
            ctx->db = NULL;
        }
        if (ctx->db && h) {
            int rc = sd_alerts_detect(ctx, &err);
            if (rc && rc != SD_RETRY)
                dp_warn("alerts: %s", err.msg);
            dp_err_clear(&err);
            deliver(ctx, h);
        }
        int steps = (int)(ctx->cfg->alert_check_s * 10);
        for (int i = 0; i < (steps > 0 ? steps : 1) && !atomic_load(&stopping); i++) {
            struct timespec ts = {0, 100000000L};
            nanosleep(&ts, NULL);
        }
    }
    if (h)
        curl_easy_cleanup(h);
    sd_ctx_close(ctx);
    return NULL;
}

int sd_alerts_start(const sd_config *cfg, sd_clock *clock, dp_err *err)
{
    if (!cfg->alert_webhook || started)
        return 0;
    atomic_store(&stopping, 0);
    alert_ctx = (sd_ctx){.cfg = cfg, .clock = clock};
    if (pthread_create(&thread, NULL, alert_main, &alert_ctx))
        return dp_err_set(err, DUMPER_EINTERNAL, "unable to start the alert thread");
    started = 1;
    dp_info("alerts: webhook configured; stale after %g hours", cfg->stale_after_h);
    return 0;
}

void sd_alerts_stop(void)
{
    if (!started)
        return;
    atomic_store(&stopping, 1);
    pthread_join(thread, NULL);
    started = 0;
}
