/*
 * views.h - the JSON shapes of dumperd's objects (docs/protocol.md, docs/dashboard.md), rendered from the
 * services' C structs: shared by the agent API, the dashboard's /ui endpoints and the CLI's --json, so each
 * shape is written once.
 */
#ifndef SD_VIEWS_H
#define SD_VIEWS_H

#include <cjson/cJSON.h>
#include <stdint.h>

#include "domain/job_policy.h"
#include "service/admin.h"
#include "store/jobs.h"
#include "store/tokens.h"

/* An RFC 3339 time, or null for ms <= 0. */
void sd_view_time(cJSON *o, const char *k, int64_t ms);
/* "x_<id>". */
void sd_view_id(cJSON *o, const char *k, char prefix, int64_t id);

/* A catalog entry: backup_id, database_id, database_key, environment, status, file_name, size, sha256,
 * duration_ms, created_at, finished_at, error_code, error_message, encryption ("age" or null), recipients
 * (the age1... keys it was encrypted to; [] for plaintext). */
cJSON *sd_view_backup(const sd_backup_row *b);
cJSON *sd_view_backups(const sd_backup_list *l);
/* agent_id, environment, hostname, pid, agent_version, framework, dispatcher, registered_at, last_seen,
 * role. */
cJSON *sd_view_agents(const sd_agent_list *l);
/* environment, database_key (null for an environment's), cron, tz, last_slot, next (five times). */
cJSON *sd_view_schedules(const sd_schedule_views *v);
/* `dumperd app list --json`: name, created_at, retention {keep_last, daily, weekly, monthly}, agents. */
cJSON *sd_view_apps(const sd_app_list *l);
/* The dashboard's app list: id, name, created_at, agents, databases, last_good_at, failed. */
cJSON *sd_view_app_summaries(const sd_app_list *l);
/* The dashboard's app: id, name, created_at, retention. */
cJSON *sd_view_app(const sd_app_row *a);
/* The dashboard's databases: database_id, environment, key, type, host, port, name, user, updated_at,
 * last_good_at. */
cJSON *sd_view_databases(const sd_database_list *l);
/* A job handed to an agent: job_id, database_id, database_key, type, reason, slot, attempt, lease,
 * lease_until. */
cJSON *sd_view_job(const sd_job_view *j, int64_t lease_s);
/* API tokens (never their hashes): id, name, scope, app (null: every app), created_at, expires_at,
 * last_used_at, revoked_at, state (live, expired, revoked at `now`). views_rest.c. */
cJSON *sd_view_tokens(const sd_token_list *l, int64_t now);
/* An app's job policy into o: recipients (array), nice, ionice, limit_rate (null when unset). The same
 * shape in a job handed to an agent and in the dashboard's and CLI's app settings. */
void sd_view_job_policy(cJSON *o, const sd_job_policy *p);

#endif
