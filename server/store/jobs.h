/*
 * jobs.h - the jobs aggregate: a backup to take (manual, or one slot of a schedule) and its state:
 * pending -> dispatched (to the primary, with a job lease) -> done, or back to pending for another attempt,
 * or failed. SQL only (see apps.h for the conventions); the retry decision is domain/retry.h.
 *
 * Exactly once: a unique (schedule, slot, database) index means a slot yields one job whoever produces it,
 * and dispatch is a conditional update of a pending job.
 */
#ifndef SD_STORE_JOBS_H
#define SD_STORE_JOBS_H

#include <stdint.h>

#include "core/err.h"
#include "store/db.h"

/* A job as handed to an agent. A drill job (kind "drill") names the backup it restores. */
typedef struct sd_job_view {
    int64_t id, db_id, slot, attempt, lease_until; /* slot in seconds (0 for manual jobs) */
    char db_key[65], type[33], reason[16];
    char kind[8];                                  /* "backup" or "drill" */
    int64_t backup_id;                             /* drill: the backup to restore */
    char sha256[65], file_name[256];               /* drill: that backup's */
} sd_job_view;

/* A job with what prepare needs: its state, its database and app, its current backup attempt. */
typedef struct sd_job_prepare {
    char state[16];
    char env[65], db_key[65], app_name[65]; /* the app's name cut at 64 characters */
    int64_t db_id, backup_id;                /* backup_id 0: none yet */
    int64_t agent;                           /* the agent it is dispatched to (0: none) */
    char backup_status[16];                  /* "" without a backup */
    char file_name[256];
} sd_job_prepare;

typedef struct sd_expired_job {
    int64_t job, backup; /* backup 0: none */
    int drill;           /* a drill job (store/drills.h) */
} sd_expired_job;

typedef struct sd_expired_list {
    int n;
    sd_expired_job *v;
    sd_res res_;
} sd_expired_list;

/* A manual job; its id into *id (NULL: not wanted). */
int sd_store_job_insert_manual(sd_db *db, int64_t app, const char *env, int64_t db_id, int64_t now, int64_t *id,
                               dp_err *err);
/* A slot's job; nothing when the slot already has one (another pass or instance produced it). */
int sd_store_job_insert_slot(sd_db *db, int64_t app, const char *env, int64_t db_id, int64_t schedule, int64_t slot,
                             int64_t now, dp_err *err);
/* The oldest pending job of (app, env) that `agent` may take now (*job = 0: none) and whether another one
 * waits. Drill jobs only for an agent that registered the drill capability; never a job of a database on
 * which a job of the other kind (backup, drill) is dispatched: drills and backups of a database never
 * overlap. */
int sd_store_job_pending(sd_db *db, int64_t app, const char *env, int64_t agent, int64_t *job, int *more,
                         dp_err *err);
/* Hand a pending job to an agent. */
int sd_store_job_dispatch(sd_db *db, int64_t job, int64_t agent, int64_t lease_until, int64_t now, dp_err *err);
int sd_store_job_view(sd_db *db, int64_t job, sd_job_view *out, int *found, dp_err *err);
int sd_store_job_for_prepare(sd_db *db, int64_t app, int64_t job, sd_job_prepare *out, int *found, dp_err *err);
int sd_store_job_renew(sd_db *db, int64_t job, int64_t lease_until, int64_t now, dp_err *err);
int sd_store_job_attach_backup(sd_db *db, int64_t job, int64_t backup, int64_t lease_until, int64_t now, dp_err *err);
int sd_store_job_attempt(sd_db *db, int64_t job, int64_t *attempt, dp_err *err);
/* Back to pending for its next attempt (reason retry, no agent, no backup). */
int sd_store_job_requeue(sd_db *db, int64_t job, int64_t now, dp_err *err);
/* The backup jobs dispatched to `agent` that have no backup yet (never prepared) go back to pending, the attempt
 * unchanged: the agent is gone (its process re-executed) and they never started. (Drill jobs show no start:
 * one may be running, so they are left to their lease.) */
int sd_store_jobs_undeliver(sd_db *db, int64_t agent, int64_t now, dp_err *err);
/* Final state: "done" or "failed". */
int sd_store_job_finish(sd_db *db, int64_t job, const char *state, int64_t now, dp_err *err);
/* Dispatched jobs whose lease ended before now: how many, and (at most limit) which. */
int sd_store_job_count_expired(sd_db *db, int64_t now, int64_t *n, dp_err *err);
int sd_store_job_expired(sd_db *db, int64_t now, int limit, sd_expired_list *out, dp_err *err);

/* A job as the REST API shows it: where it stands and the backup of its latest attempt. */
typedef struct sd_job_state {
    int64_t id, db_id, attempt, backup_id, created_at, updated_at; /* backup_id 0: none yet */
    char env[65], db_key[65], reason[16], state[16], backup_status[16];
    char error_code[64], error_message[1001]; /* the backup's failure ("" when none) */
} sd_job_state;

/* The app's job `job`; *found = 0 when it has none such. */
int sd_store_job_state(sd_db *db, int64_t app, int64_t job, sd_job_state *out, int *found, dp_err *err);

#endif
