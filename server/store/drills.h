/*
 * drills.h - drill policies and drill jobs (issue 15 item 3). SQL only (see apps.h for the conventions); the
 * rules are domain/drill.h, applied by service/drills.c.
 *
 * A drill job is a row of jobs with kind 'drill' (pending -> dispatched -> done | failed, leases as for
 * backups) and a drill_jobs row naming the backup it restores, the policy that queued it and its slot (0 after
 * a backup). The unique (policy, slot, backup) index means a slot or a commit yields one drill of a backup,
 * whoever produces it. The results are drill-evidence's (store/drill_results.h).
 */
#ifndef SD_STORE_DRILLS_H
#define SD_STORE_DRILLS_H

#include <stdint.h>

#include "core/err.h"
#include "store/databases.h"
#include "store/db.h"

typedef struct sd_drill_policy_row {
    int64_t id, app, db_id, last_slot, next_slot; /* db_id 0: the environment's policy; slots in seconds */
    int mode;                                     /* SD_DRILL_AFTER_BACKUP or SD_DRILL_CRON */
    const char *env, *db_key, *cron, *tz;         /* db_key NULL for an environment's policy; cron "" */
} sd_drill_policy_row;

typedef struct sd_drill_policy_list {
    int n;
    sd_drill_policy_row *v;
    sd_res res_;
} sd_drill_policy_list;

/* Set (replace) the policy of (app, env, db_id); a cron policy starts at the scheduler's next pass. */
int sd_store_drill_policy_set(sd_db *db, int64_t app, const char *env, int64_t db_id, int mode, const char *cron,
                              const char *tz, int64_t now, dp_err *err);
/* Remove it; *removed = 0 when there was none. */
int sd_store_drill_policy_remove(sd_db *db, int64_t app, const char *env, int64_t db_id, int *removed, dp_err *err);
/* The app's policies by environment and database (with the database's key). */
int sd_store_drill_policy_list(sd_db *db, int64_t app, sd_drill_policy_list *out, dp_err *err);
/* The policies that may apply to database db_id of app: its own and its environment's. */
int sd_store_drill_policy_candidates(sd_db *db, int64_t app, int64_t db_id, sd_drill_policy_list *out, dp_err *err);
/* Every cron policy whose next slot is due at now_s. */
int sd_store_drill_policy_due(sd_db *db, int64_t now_s, sd_drill_policy_list *out, dp_err *err);
/* The policy's last slot (*found = 0: removed). */
int sd_store_drill_policy_last_slot(sd_db *db, int64_t id, int64_t *last, int *found, dp_err *err);
/* Move the policy on from last_was to (last, next), only if nobody else did. */
int sd_store_drill_policy_advance(sd_db *db, int64_t id, int64_t last_was, int64_t last, int64_t next, dp_err *err);
/* The databases of an environment without a drill policy of their own, by id. */
int sd_store_drill_undrilled_dbs(sd_db *db, int64_t app, const char *env, sd_id_list *out, dp_err *err);

/* The database's newest good backup (*backup = 0: none). */
int sd_store_drill_latest_good(sd_db *db, int64_t db_id, int64_t *backup, dp_err *err);
/* The database's open drill job (pending or dispatched): *job = 0 when none, *pending = 1 when not yet handed
 * out. */
int sd_store_drill_job_open(sd_db *db, int64_t db_id, int64_t *job, int *pending, dp_err *err);
/* *yes = 1 when (policy, slot, backup) already has its drill job. */
int sd_store_drill_job_exists(sd_db *db, int64_t policy, int64_t slot, int64_t backup, int *yes, dp_err *err);
/* A pending drill job of `backup` (reason "after-backup" or "schedule"); its id into *id. */
int sd_store_drill_job_insert(sd_db *db, int64_t app, const char *env, int64_t db_id, int64_t backup, int64_t policy,
                              int64_t slot, const char *reason, int64_t now, int64_t *id, dp_err *err);
/* A pending drill job drills `backup` instead (a newer one was committed before it was handed out). */
int sd_store_drill_job_retarget(sd_db *db, int64_t job, int64_t backup, int64_t now, dp_err *err);

/* A drill job as its report needs it. */
typedef struct sd_drill_job_row {
    int64_t id, db_id, backup_id, agent, attempt;
    char state[16], env[65];
} sd_drill_job_row;

/* The app's drill job `job` (*found = 0: none such, or a backup job). */
int sd_store_drill_job_get(sd_db *db, int64_t app, int64_t job, sd_drill_job_row *out, int *found, dp_err *err);
/* A dispatched drill job of `agent` is done (its result arrived): *done = 1 when this call moved it (a
 * second report finds it done already). */
int sd_store_drill_job_finish(sd_db *db, int64_t job, int64_t agent, int64_t now, int *done, dp_err *err);
/* 1 in *drill when the job is a drill job. */
int sd_store_job_is_drill(sd_db *db, int64_t job, int *drill, dp_err *err);

/* An agent's capabilities (SD_CAP_* bits), as it registered. */
int sd_store_agent_set_caps(sd_db *db, int64_t agent, int64_t caps, dp_err *err);

#endif
