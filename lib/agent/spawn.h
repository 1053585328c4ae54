/*
 * spawn.h - starting a job process from the agent thread.
 *
 * The host is multi-threaded (and may be a Ruby VM), so library code never runs in a fork of it:
 * the agent posix_spawn()s the `dumper` executable as `dumper job`, in a new session, with the
 * signal mask emptied and every signal reset to its default, stdin a pipe carrying the job spec
 * (credentials included: never argv, never a file), stdout /dev/null, stderr the agent's log, and
 * every other inherited descriptor closed (the host's listening sockets and database connections
 * must not leak into a process that outlives it).
 *
 * Detaching: `dumper job` reads the whole spec, then forks once (it is a fresh single-threaded
 * process, so that is safe) and its first process exits at once. The agent reaps that intermediate
 * by pid (never waitpid(-1)) right after spawning it, so the host never sees an unknown child
 * outlive a moment; the real job process is reparented to init (or the nearest subreaper) and
 * survives the host.
 */
#ifndef DP_AGENT_SPAWN_H
#define DP_AGENT_SPAWN_H

#include <stdatomic.h>
#include <sys/types.h>

#include "core/err.h"

/*
 * Spawn `exe job` with spec (NUL-terminated JSON) on its stdin and stderr on log_fd (-1: /dev/null),
 * then reap the intermediate process (waiting at most ~5 s, giving up early when *stop is set).
 * exe without a '/' is searched on PATH. Returns 0 once the detached job runs, else an error
 * (DUMPER_ETOOL when exe cannot be executed, DUMPER_ESOURCE when the intermediate exits non-zero).
 */
int dp_spawn_job(const char *exe, const char *spec, int log_fd, const atomic_int *stop, pid_t *pid_out, dp_err *err);

#endif
