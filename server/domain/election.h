/*
 * election.h - who is the primary agent of an app's environment, and how often each agent polls. Pure
 * policy: the store keeps one primaries row per (app, environment) and the services apply these decisions
 * inside a write transaction, so two agents (or two dumperd instances) can never both win.
 *
 * A lease is live while now < until: at exactly `until` it has expired and any agent may take it over.
 */
#ifndef SD_ELECTION_H
#define SD_ELECTION_H

#include <stdint.h>

/* The primaries row of an (app, environment): its agent and the end of its lease. */
typedef struct sd_lease {
    int64_t agent;
    int64_t until; /* ms since the epoch */
} sd_lease;

typedef enum sd_elect_action {
    SD_ELECT_TAKE,       /* nobody was ever primary: insert the lease */
    SD_ELECT_RENEW,      /* the agent is the primary: extend its lease */
    SD_ELECT_TAKE_OVER,  /* the primary's lease expired: the agent takes it */
    SD_ELECT_SECONDARY,  /* another agent holds a live lease */
} sd_elect_action;

/* What happens when `agent` registers or polls at `now`; current is NULL without a primaries row. */
sd_elect_action sd_elect(const sd_lease *current, int64_t agent, int64_t now);
/* A registration: as sd_elect, except that an agent of the same host and pid as the lease's holder
 * (same_process) takes over its live lease. That holder was this process before it re-executed itself
 * in place (puma's hot restart, a re-exec'd master): no exit handler ran to release the lease, and the
 * old agent can never poll again. */
sd_elect_action sd_elect_register(const sd_lease *current, int64_t agent, int same_process, int64_t now);
/* Whether a registration from the lease holder's host and pid is that holder's process re-executed (1)
 * rather than another process that only has the same host name and pid (0): two containers given the same
 * host name, each running the app as pid 1 (docs/agent.md, "Containers"). holder, registering: the agents'
 * "process_start" ("<boot id>:<start time in clock ticks since boot>"), which execve keeps; NULL or "" when
 * unknown (an agent that does not send it, a system without /proc): host and pid alone decide, as before. */
int sd_same_process_start(const char *holder, const char *registering);
/* The longest process_start accepted at registration. */
#define SD_PROCESS_START_MAX 64
/* A stopping agent's release: 1 when `agent` holds the lease (live or lapsed), which then ends at the
 * release's time (so any agent that asks from then on takes it over); 0 for anyone else (a no-op). */
int sd_release_applies(const sd_lease *current, int64_t agent);
/* 1 when the action makes the agent primary. */
int sd_elect_is_primary(sd_elect_action a);

/* last_seen is refreshed at most this often by a secondary's poll. */
#define SD_LAST_SEEN_REFRESH_MS 60000
/* A poll that needs no write: a secondary whose primary holds a live lease, seen less than a minute ago. */
int sd_poll_read_only(const sd_lease *current, int64_t agent, int64_t last_seen, int64_t now);

/* The interval an agent is told to poll again after, in seconds. A secondary: see sd_secondary_interval;
 * a primary every primary_s, sooner when the next slot of its schedules is due (next_slot_s > 0, seconds
 * since the epoch; at least 1 s), and after 1 s while more jobs wait. jitter multiplies the base interval
 * (sd_jitter: 0.9..1.1, so agents started together spread out). */
double sd_poll_interval(int primary, int more_jobs, int64_t next_slot_s, int64_t now_ms, double primary_s,
                        double secondary_s, double jitter);
/* A registration's answer: a new primary polls after 1 s (to take its jobs), a secondary as usual. */
double sd_register_interval(int primary, double secondary_s, double jitter);

/* A newly registered secondary polls every SD_DEPLOY_POLL_S (jittered) for SD_DEPLOY_WINDOW_MS: a deploy
 * starts the new processes before it stops the old ones, and the old primary's release (or its
 * predecessor's exit) must be noticed in seconds, not at the lease's end. */
#define SD_DEPLOY_WINDOW_MS 600000
#define SD_DEPLOY_POLL_S 10.0
/* A secondary's next poll, in seconds: when the primary's lease (lease_until, ms) ends plus 1 to 3 s of
 * jitter (1 + (jitter - 0.9) * 10), so a dead primary is replaced within its lease and a few seconds; never
 * later than secondary_s * jitter; within SD_DEPLOY_WINDOW_MS of its registration (registered_at, ms) at
 * most SD_DEPLOY_POLL_S * jitter. At least 1 s. */
double sd_secondary_interval(int64_t lease_until, int64_t registered_at, int64_t now_ms, double secondary_s,
                             double jitter);
/* A factor in [0.9, 1.1] from the caller's random state (rand_r). */
double sd_jitter(unsigned *seed);

/* Agents not seen for this long are forgotten at the next registration of their app (never the primary):
 * a week, and at least three secondary intervals. */
int64_t sd_agent_keep_ms(double secondary_s);

/* An agent is alive while it was seen less than this long ago (and it did not stop): the longest interval
 * it can be told (a primary's primary_s, a secondary's lease and 3 s of jitter, or secondary_s when that is
 * shorter; each jittered by up to 10 %), plus the minute a secondary's last_seen may lag
 * (SD_LAST_SEEN_REFRESH_MS) and a minute for a slow or retried request. */
int64_t sd_agent_silent_after_ms(double primary_s, double secondary_s, int64_t lease_ms);
/* 1 when an agent last seen at last_seen (ms), stopped or not, counts as alive at now. */
int sd_agent_alive(int stopped, int64_t last_seen, int64_t now, int64_t silent_after_ms);

#endif
