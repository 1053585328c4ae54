/*
 * agents.h - the agent API's register and poll: each decides the agent's role in one write transaction
 * (domain/election.h over the store's primaries row), and a primary's poll hands it the oldest pending job
 * of its environment. A secondary whose primary holds a live lease is answered from one read (no write per
 * poll); last_seen is refreshed at most once a minute.
 */
#ifndef SD_AGENTS_H
#define SD_AGENTS_H

#include <stdint.h>

#include "domain/job_policy.h"
#include "service/ctx.h"
#include "store/agents.h"
#include "store/databases.h"
#include "store/jobs.h"

typedef struct sd_register_req {
    sd_agent_info agent;
    const sd_dbinfo *dbs; /* validated: keys are labels, unique, types known, no passwords */
    int ndbs;             /* at most 64 */
    int64_t caps;         /* capabilities (domain/drill.h SD_CAP_*) */
} sd_register_req;

typedef struct sd_register_res {
    int64_t agent;
    int primary;
    double interval;  /* seconds until the next poll */
    int64_t lease_s;  /* the primary lease */
    int64_t now;      /* server time (ms) */
    int64_t *db_ids;  /* caller's array of ndbs: each database's id */
} sd_register_res;

typedef struct sd_poll_res {
    int primary;
    double interval;
    int64_t lease_s, now;
    int has_job;
    sd_job_view job;      /* when has_job */
    int64_t job_lease_s;  /* a job's lease */
    sd_job_policy policy; /* when has_job: the app's (recipients, priority, rate) */
} sd_poll_res;

int sd_agent_register(sd_ctx *ctx, int64_t app, const sd_register_req *req, sd_register_res *res, sd_status *st);
/* key_hash: from sd_auth_poll_key. SD_NOT_FOUND "unknown agent (register again)" for an agent the store
 * does not know (forgotten, or never registered); SD_UNAUTHORIZED when the key is no longer the app's. */
int sd_agent_poll(sd_ctx *ctx, int64_t app, const char *key_hash, int64_t agent, sd_poll_res *res, sd_status *st);
/* A gracefully stopping agent: marks it stopped, and ends its lease now when it holds it (*released = 1), so
 * the next agent to register or poll is primary. key_hash as for sd_agent_poll; SD_NOT_FOUND "unknown agent"
 * for an agent not of this app (or a key no longer the app's). */
int sd_agent_release(sd_ctx *ctx, int64_t app, const char *key_hash, int64_t agent, int *released, sd_status *st);

/* The scheduler's pass: at most every SD_AGENTS_WATCH_MS, log each agent (of any app) that went silent (not
 * seen for sd_agent_silent_after_ms and not stopped) once, until it polls again. */
#define SD_AGENTS_WATCH_MS 30000
int sd_agents_watch(sd_ctx *ctx, dp_err *err);

#endif
