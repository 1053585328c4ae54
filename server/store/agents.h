/*
 * agents.h - the agents aggregate: the agents of an app's environments and the one primaries row per
 * (app, environment) that holds the primary's lease. SQL only (see apps.h for the conventions); the
 * election itself is domain/election.h, applied by service/agents.c inside a write transaction.
 */
#ifndef SD_STORE_AGENTS_H
#define SD_STORE_AGENTS_H

#include <stdint.h>

#include "core/err.h"
#include "domain/election.h"
#include "store/db.h"

/* What an agent says about itself when it registers (strings may be NULL but hostname and env). */
typedef struct sd_agent_info {
    const char *hostname, *env, *version, *app_name, *framework, *dispatcher;
    const char *process_start; /* "<boot id>:<start ticks>", or NULL (domain/election.h sd_same_process_start) */
    int64_t pid;
} sd_agent_info;

typedef struct sd_agent_row {
    int64_t id, pid, registered_at, last_seen;
    const char *env, *hostname, *version, *framework, *dispatcher; /* version..dispatcher may be NULL */
    int has_lease;       /* the agent is in the primaries row */
    int64_t lease_until;
    int stopped;         /* stopped gracefully (released its lease) at stopped_at */
    int64_t stopped_at;
    int primary;         /* set by the service: holds a live lease now */
    int alive;           /* set by the service (domain/election.h sd_agent_alive) */
} sd_agent_row;

typedef struct sd_agent_list {
    int n;
    sd_agent_row *v;
    sd_res res_;
} sd_agent_list;

/* What a poll needs to know, in one indexed read: the agent (of this app, whose current key hash is
 * key_hash), when it was last seen and its environment's primary. found = 0: no such agent, or the key is no
 * longer the app's. */
typedef struct sd_poll_view {
    int found;
    char env[65];
    int64_t last_seen, registered_at;
    int has_primary;
    sd_lease primary;
} sd_poll_view;

int sd_store_agent_insert(sd_db *db, int64_t app, const sd_agent_info *a, int64_t now, int64_t *id, dp_err *err);
/* A poll: last_seen = now, no longer silent. */
int sd_store_agent_touch(sd_db *db, int64_t agent, int64_t now, dp_err *err);
/* A graceful stop: stopped_at = now. */
int sd_store_agent_stop(sd_db *db, int64_t agent, int64_t now, dp_err *err);
/* *yes = 1 when the primary of (app, env) is an agent of hostname and pid (the registering process's
 * predecessor, see sd_elect_register); agent is the new registration, never counted. start: that primary's
 * process_start ("" when it sent none). */
int sd_store_primary_same_process(sd_db *db, int64_t app, const char *env, const char *hostname, int64_t pid,
                                  int64_t agent, int *yes, char start[SD_PROCESS_START_MAX + 1], dp_err *err);

/* An agent dumperd has just found silent (see sd_store_agents_mark_silent). */
typedef struct sd_silent_agent {
    int64_t id, pid, last_seen;
    const char *app, *env, *hostname;
} sd_silent_agent;

typedef struct sd_silent_list {
    int n;
    sd_silent_agent *v;
    sd_res res_;
} sd_silent_list;

/* The agents of every app, not stopped and not yet reported, last seen before `before` (at most 100), marked
 * silent at now: each is reported once until it polls again. */
int sd_store_agents_silent(sd_db *db, int64_t before, int64_t now, sd_silent_list *out, dp_err *err);
/* Forget the app's agents last seen before `before`, except keep_agent and any primary. */
int sd_store_agents_forget(sd_db *db, int64_t app, int64_t before, int64_t keep_agent, dp_err *err);
int sd_store_agent_of_app(sd_db *db, int64_t agent, int64_t app, int *yes, dp_err *err);
int sd_store_agent_poll_view(sd_db *db, int64_t app, int64_t agent, const char *key_hash, sd_poll_view *out,
                             dp_err *err);
/* The app's agents by id, with their lease if they hold the primaries row. */
int sd_store_agent_list(sd_db *db, int64_t app, sd_agent_list *out, dp_err *err);

/* The primaries row of (app, env): *found = 0 when nobody was ever primary. */
int sd_store_primary_get(sd_db *db, int64_t app, const char *env, sd_lease *out, int *found, dp_err *err);
int sd_store_primary_insert(sd_db *db, int64_t app, const char *env, const sd_lease *l, int64_t now, dp_err *err);
/* The lease of (app, env) ends at `until`: a renewal, or a release (until = now). */
int sd_store_primary_renew(sd_db *db, int64_t app, const char *env, int64_t until, dp_err *err);
int sd_store_primary_take(sd_db *db, int64_t app, const char *env, const sd_lease *l, int64_t now, dp_err *err);

#endif
