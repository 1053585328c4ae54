/*
 * schema.c - the state store's schema and its migrations (see schema.h).
 *
 * "@ID" in a migration is the engine's auto-increment primary key (INTEGER PRIMARY KEY in SQLite,
 * BIGSERIAL PRIMARY KEY in PostgreSQL); everything else is SQL both engines accept.
 */
#include "store/schema.h"

#include <string.h>

#include "core/util.h"

static const char *const migrations[] = {
    /* 1: the schema before versions (dumperd 0.1): apps, agents, primaries, databases, schedules, jobs, the
     * backup catalog, and the site's users, sessions and alerts. */
    "CREATE TABLE IF NOT EXISTS apps (id @ID, name TEXT NOT NULL UNIQUE, key_hash TEXT NOT NULL UNIQUE,"
    " created_at BIGINT NOT NULL, keep_last BIGINT NOT NULL DEFAULT 0, keep_daily BIGINT NOT NULL DEFAULT 0,"
    " keep_weekly BIGINT NOT NULL DEFAULT 0, keep_monthly BIGINT NOT NULL DEFAULT 0);"
    "CREATE TABLE IF NOT EXISTS agents (id @ID, app_id BIGINT NOT NULL, env TEXT NOT NULL, hostname TEXT NOT NULL,"
    " pid BIGINT NOT NULL, agent_version TEXT, app_name TEXT, framework TEXT, dispatcher TEXT,"
    " registered_at BIGINT NOT NULL, last_seen BIGINT NOT NULL);"
    "CREATE INDEX IF NOT EXISTS agents_app ON agents (app_id, env);"
    "CREATE TABLE IF NOT EXISTS primaries (app_id BIGINT NOT NULL, env TEXT NOT NULL, agent_id BIGINT NOT NULL,"
    " lease_until BIGINT NOT NULL, since BIGINT NOT NULL, PRIMARY KEY (app_id, env));"
    "CREATE TABLE IF NOT EXISTS dbs (id @ID, app_id BIGINT NOT NULL, env TEXT NOT NULL, dkey TEXT NOT NULL,"
    " type TEXT NOT NULL, host TEXT, port BIGINT, name TEXT, dbuser TEXT, updated_at BIGINT NOT NULL,"
    " UNIQUE (app_id, env, dkey));"
    "CREATE TABLE IF NOT EXISTS schedules (id @ID, app_id BIGINT NOT NULL, env TEXT NOT NULL, db_id BIGINT NOT NULL,"
    " cron TEXT NOT NULL, tz TEXT NOT NULL, last_slot BIGINT NOT NULL, next_slot BIGINT NOT NULL,"
    " UNIQUE (app_id, env, db_id));"
    "CREATE TABLE IF NOT EXISTS jobs (id @ID, app_id BIGINT NOT NULL, env TEXT NOT NULL, db_id BIGINT NOT NULL,"
    " schedule_id BIGINT NOT NULL, slot BIGINT NOT NULL, reason TEXT NOT NULL, state TEXT NOT NULL,"
    " attempt BIGINT NOT NULL, agent_id BIGINT, lease_until BIGINT, backup_id BIGINT, created_at BIGINT NOT NULL,"
    " updated_at BIGINT NOT NULL);"
    "CREATE UNIQUE INDEX IF NOT EXISTS jobs_slot ON jobs (schedule_id, slot, db_id) WHERE schedule_id > 0;"
    "CREATE INDEX IF NOT EXISTS jobs_state ON jobs (app_id, env, state);"
    "CREATE INDEX IF NOT EXISTS jobs_lease ON jobs (state, lease_until);"
    "CREATE TABLE IF NOT EXISTS backups (id @ID, app_id BIGINT NOT NULL, env TEXT NOT NULL, db_id BIGINT NOT NULL,"
    " job_id BIGINT NOT NULL, agent_id BIGINT NOT NULL, status TEXT NOT NULL, file_name TEXT NOT NULL,"
    " format TEXT, compression TEXT, size BIGINT, sha256 TEXT, raw_size BIGINT, duration_ms BIGINT,"
    " created_at BIGINT NOT NULL, finished_at BIGINT, error_code TEXT, error_message TEXT, upload_id TEXT);"
    "CREATE INDEX IF NOT EXISTS backups_app ON backups (app_id, db_id, status);"
    /* The site's users and sessions; alert state. */
    "CREATE TABLE IF NOT EXISTS users (id @ID, name TEXT NOT NULL UNIQUE, pw_hash TEXT NOT NULL,"
    " created_at BIGINT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS sessions (token_hash TEXT PRIMARY KEY, user_id BIGINT NOT NULL, csrf TEXT NOT NULL,"
    " created_at BIGINT NOT NULL, expires_at BIGINT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS alerts (id @ID, kind TEXT NOT NULL, ref TEXT NOT NULL, payload TEXT NOT NULL,"
    " created_at BIGINT NOT NULL, attempts BIGINT NOT NULL DEFAULT 0, next_try BIGINT NOT NULL, sent_at BIGINT,"
    " last_error TEXT, UNIQUE (kind, ref));",
    /* 2 (notification channels, issue 17): channels with their kind, target, app (0: every app) and event mask;
     * one delivery row per (alert, channel), delivered once, retried, dead after the last attempt. */
    "CREATE TABLE IF NOT EXISTS channels (id @ID, name TEXT NOT NULL UNIQUE, kind TEXT NOT NULL, url TEXT NOT NULL,"
    " to_addr TEXT, app_id BIGINT NOT NULL DEFAULT 0, events BIGINT NOT NULL, secret TEXT NOT NULL,"
    " created_at BIGINT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS deliveries (id @ID, alert_id BIGINT NOT NULL, channel_id BIGINT NOT NULL,"
    " attempts BIGINT NOT NULL DEFAULT 0, next_try BIGINT NOT NULL, sent_at BIGINT, dead_at BIGINT, last_error TEXT,"
    " UNIQUE (alert_id, channel_id));"
    "CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries (next_try) WHERE sent_at IS NULL AND dead_at IS NULL;",
    /* 3 (destinations, issue 16): the storages added beside --storage (credentials by file path only, never
     * the secrets) with their own retention and Object Lock, and one row per copy of a backup in each. */
    "CREATE TABLE IF NOT EXISTS storages (id @ID, name TEXT NOT NULL UNIQUE, location TEXT NOT NULL,"
    " endpoint TEXT, region TEXT, path_style BIGINT NOT NULL DEFAULT 0, credentials_file TEXT,"
    " keep_last BIGINT NOT NULL DEFAULT 0, keep_daily BIGINT NOT NULL DEFAULT 0,"
    " keep_weekly BIGINT NOT NULL DEFAULT 0, keep_monthly BIGINT NOT NULL DEFAULT 0, lock_mode TEXT,"
    " lock_days BIGINT NOT NULL DEFAULT 0, created_at BIGINT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS copies (backup_id BIGINT NOT NULL, storage_id BIGINT NOT NULL, state TEXT NOT NULL,"
    " attempts BIGINT NOT NULL DEFAULT 0, next_try BIGINT NOT NULL, updated_at BIGINT NOT NULL, error TEXT,"
    " PRIMARY KEY (backup_id, storage_id));"
    "CREATE INDEX IF NOT EXISTS copies_due ON copies (state, next_try);",
    /* 4 (API tokens, issue 17): a name, the SHA-256 of the token, a scope, an app (0: every app), a lifetime. */
    "CREATE TABLE IF NOT EXISTS api_tokens (id @ID, name TEXT NOT NULL UNIQUE, token_hash TEXT NOT NULL UNIQUE,"
    " scope TEXT NOT NULL, app_id BIGINT NOT NULL DEFAULT 0, created_at BIGINT NOT NULL,"
    " expires_at BIGINT NOT NULL DEFAULT 0, last_used_at BIGINT NOT NULL DEFAULT 0,"
    " revoked_at BIGINT NOT NULL DEFAULT 0);",
    /* 5 (job policy, issues 13, 14): an app's age recipients, job priority and rate; an encrypted backup's
     * encryption and the recipients it was encrypted to (a table of its own, not columns of backups: every
     * migration stays re-runnable on a store from before versions). */
    "CREATE TABLE IF NOT EXISTS app_job_policy (app_id BIGINT PRIMARY KEY, recipients TEXT NOT NULL DEFAULT '',"
    " nice BIGINT, ionice TEXT NOT NULL DEFAULT '', limit_rate BIGINT NOT NULL DEFAULT 0);"
    "CREATE TABLE IF NOT EXISTS backup_encryption (backup_id BIGINT PRIMARY KEY, encryption TEXT NOT NULL,"
    " recipients TEXT NOT NULL);",
    /* 6 (issue 12): when an agent stopped (released its lease at a graceful stop), and when dumperd logged
     * it as gone silent (cleared when it polls again). */
    ("ALTER TABLE agents ADD COLUMN stopped_at BIGINT;"
     "ALTER TABLE agents ADD COLUMN silent_at BIGINT;"),
    /* 7 (restore drills, issue 15): one row per drill run of a backup, as `dumper drill --json` reported it
     * (domain/drill_result.h): times in ms on dumperd's clock (started = recorded - duration), the first
     * mismatch lines and the checks as JSON arrays, mismatch_count the lines reported. */
    ("CREATE TABLE IF NOT EXISTS drill_results (id @ID, app_id BIGINT NOT NULL, env TEXT NOT NULL,"
     " db_id BIGINT NOT NULL, backup_id BIGINT NOT NULL, job_id BIGINT NOT NULL DEFAULT 0,"
     " agent_id BIGINT NOT NULL DEFAULT 0, status TEXT NOT NULL, error TEXT, started_at BIGINT NOT NULL,"
     " finished_at BIGINT NOT NULL, duration_ms BIGINT NOT NULL, restore_ms BIGINT NOT NULL,"
     " backup_ms BIGINT NOT NULL DEFAULT 0, compared BIGINT NOT NULL DEFAULT 0, table_count BIGINT,"
     " row_count BIGINT, mismatch_count BIGINT NOT NULL DEFAULT 0, mismatches TEXT NOT NULL, checks TEXT NOT NULL,"
     " source_type TEXT, target TEXT, scratch_server_version TEXT, source_server_version TEXT,"
     " schema_migration TEXT);"
     "CREATE INDEX IF NOT EXISTS drill_results_backup ON drill_results (backup_id, id);"
     "CREATE INDEX IF NOT EXISTS drill_results_db ON drill_results (app_id, env, db_id, status, finished_at);"),
    /* 8 (restore drills' evidence, issue 15): per app, how long a database may go without a passed drill before
     * it alerts (`dumperd app set APP --drill-max-age HOURS`; no row or 0: never). */
    "CREATE TABLE IF NOT EXISTS app_drill_alerts (app_id BIGINT PRIMARY KEY, max_age_s BIGINT NOT NULL);",
    /* 9 (drills run by dumperd, issue 15 item 3): drill policies per (app, environment) or database (after each
     * backup, or on cron slots); a job's kind (backup or drill) and the backup a drill job restores; what an
     * agent can do (capabilities it registered with: 1 = drills). */
    ("CREATE TABLE IF NOT EXISTS drill_policies (id @ID, app_id BIGINT NOT NULL, env TEXT NOT NULL,"
     " db_id BIGINT NOT NULL, mode TEXT NOT NULL, cron TEXT NOT NULL DEFAULT '', tz TEXT NOT NULL DEFAULT 'UTC',"
     " last_slot BIGINT NOT NULL DEFAULT 0, next_slot BIGINT NOT NULL DEFAULT 0, created_at BIGINT NOT NULL,"
     " UNIQUE (app_id, env, db_id));"
     "CREATE TABLE IF NOT EXISTS drill_jobs (job_id BIGINT PRIMARY KEY, backup_id BIGINT NOT NULL,"
     " policy_id BIGINT NOT NULL, slot BIGINT NOT NULL);"
     "CREATE UNIQUE INDEX IF NOT EXISTS drill_jobs_once ON drill_jobs (policy_id, slot, backup_id);"
     "CREATE INDEX IF NOT EXISTS jobs_db ON jobs (db_id, state);"
     "ALTER TABLE jobs ADD COLUMN kind TEXT NOT NULL DEFAULT 'backup';"
     "ALTER TABLE agents ADD COLUMN caps BIGINT NOT NULL DEFAULT 0;"),
    /* 10 (issue 12): the agent's process start ("<boot id>:<start ticks>"): a registration of the primary's
     * host and pid takes its lease over only when this matches (a re-exec), not for another container with
     * the same host name and pid 1 (domain/election.h sd_same_process_start). */
    "ALTER TABLE agents ADD COLUMN process_start TEXT;",
};

#define NMIGRATIONS ((int64_t)(sizeof migrations / sizeof *migrations))

int64_t sd_schema_latest(void) { return NMIGRATIONS; }

static int busy(int rc, dp_err *err) { return rc == SD_RETRY ? dp_err_set(err, DUMPER_EBUSY, "state store is busy") : rc; }

int sd_schema_version(sd_db *db, int64_t *version, dp_err *err)
{
    sd_res r;
    /* A store from before versions has migration 1's tables and no schema_version: it is at version 1. */
    int rc = sd_q(db, &r, err,
                  sd_db_is_pg(db) ? "SELECT to_regclass('schema_version') IS NULL AND to_regclass('apps') IS NOT NULL"
                                  : "SELECT NOT EXISTS (SELECT 1 FROM sqlite_master WHERE name = 'schema_version')"
                                    " AND EXISTS (SELECT 1 FROM sqlite_master WHERE name = 'apps')",
                  "");
    int adopt = 0;
    if (!rc) {
        const char *c = sd_get(&r, 0, 0);
        adopt = c && (!strcmp(c, "1") || !strcmp(c, "t"));
        sd_res_free(&r);
    }
    if (!rc)
        rc = sd_exec(db, "CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)", err);
    if (!rc && adopt)
        rc = sd_q(db, NULL, err, "INSERT INTO schema_version (version) VALUES (1)", "");
    if (!rc)
        rc = sd_q(db, &r, err, "SELECT COALESCE(MAX(version), 0) FROM schema_version", "");
    if (!rc) {
        *version = sd_geti(&r, 0, 0);
        sd_res_free(&r);
    }
    return busy(rc, err);
}

static int apply(sd_db *db, int64_t n, dp_err *err)
{
    const char *id = sd_db_is_pg(db) ? "BIGSERIAL PRIMARY KEY" : "INTEGER PRIMARY KEY";
    dp_buf b = {0};
    for (const char *p = migrations[n - 1]; *p;) {
        if (!strncmp(p, "@ID", 3)) {
            dp_buf_puts(&b, id);
            p += 3;
        } else {
            dp_buf_append(&b, p++, 1);
        }
    }
    if (!b.data)
        return dp_err_set(err, DUMPER_ENOMEM, "out of memory");
    int rc = sd_exec(db, b.data, err);
    dp_buf_free(&b);
    if (!rc)
        rc = sd_q(db, NULL, err, "INSERT INTO schema_version (version) VALUES (?)", "i", n);
    if (rc && rc != SD_RETRY)
        dp_err_prefix(err, "migration %lld of the state store", (long long)n);
    return rc;
}

int sd_schema_migrate(sd_db *db, dp_err *err)
{
    int64_t v = 0;
    dp_err probe = {0};
    sd_res r;
    /* Most runs find the store current: one read, no lock. */
    if (!sd_q(db, &r, &probe, "SELECT COALESCE(MAX(version), 0) FROM schema_version", "")) {
        v = sd_geti(&r, 0, 0);
        sd_res_free(&r);
        if (v == NMIGRATIONS)
            return 0;
    }
    dp_err ignore = {0};
    if (sd_db_is_pg(db)) /* serialises concurrent starts (session lock, also across the DDL's transaction) */
        sd_exec(db, "SELECT pg_advisory_lock(4711)", &ignore);
    int rc = sd_schema_version(db, &v, err);
    if (!rc && v > NMIGRATIONS)
        rc = dp_err_set(err, DUMPER_EUNSUPPORTED,
                        "the state store has schema version %lld, newer than this dumperd knows (%lld): use a newer"
                        " dumperd",
                        (long long)v, (long long)NMIGRATIONS);
    if (!rc && v < NMIGRATIONS) {
        rc = sd_txn_begin(db, 1, err);
        /* Under the lock now: another process may have migrated meanwhile. */
        if (!rc && !(rc = sd_q(db, &r, err, "SELECT COALESCE(MAX(version), 0) FROM schema_version", ""))) {
            v = sd_geti(&r, 0, 0);
            sd_res_free(&r);
        }
        for (int64_t n = v + 1; !rc && n <= NMIGRATIONS; n++)
            rc = apply(db, n, err);
        if (!rc)
            rc = sd_txn_commit(db, err);
        else
            sd_txn_rollback(db);
    }
    if (sd_db_is_pg(db))
        sd_exec(db, "SELECT pg_advisory_unlock(4711)", &ignore);
    return busy(rc, err);
}
