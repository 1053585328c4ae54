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
 * Detaching (details in spawn.c): on Linux the job process is created through a short-lived middle
 * task with exit signal 0, so it is orphaned at once (reparented to init or the nearest subreaper)
 * and no process of ours is ever visible to a master's waitpid(-1) or raises SIGCHLD in the host.
 * Elsewhere posix_spawn starts `dumper job`, which reads the spec, forks once (a fresh
 * single-threaded process: safe) and exits; the agent reaps it by pid at once.
 */
#ifndef DP_AGENT_SPAWN_H
#define DP_AGENT_SPAWN_H

#include <sys/types.h>

#include "agent/proto.h"
#include "core/err.h"
#include "core/stop.h"

/*
 * Spawn `exe job --no-fork` (Linux) or `exe job` with spec (NUL-terminated JSON) on its stdin and stderr on log_fd (-1: /dev/null),
 * then reap the intermediate process (waiting at most ~5 s, giving up early when stop is requested).
 * exe without a '/' is searched on PATH. Returns 0 once the detached job runs, else an error
 * (DUMPER_ETOOL when exe cannot be executed, DUMPER_ESOURCE when the intermediate exits non-zero).
 */
/* *pid_out receives the job process's pid (on Linux the process that runs the job; elsewhere the
 * intermediate). */
/* prio (NULL: the host's): on Linux the child lowers its CPU nice (setpriority) and I/O priority (ioprio_set)
 * before exec, never above the host's own; *prio_err gets the errno of a refused change (0: applied), which
 * the caller logs (the job runs anyway). Elsewhere the job runs at the host's priority. */
int dp_spawn_job(const char *exe, const char *spec, int log_fd, const dp_job_prio *prio, const dp_stop *stop,
                 pid_t *pid_out, int *prio_err, dp_err *err);

#endif
