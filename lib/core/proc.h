/*
 * proc.h - run an external tool (pg_dump, psql, mysqldump, ...) safely.
 *
 * posix_spawn, never a shell: the argv array goes to the program as is. The child gets a copy of
 * our environment plus explicit additions (e.g. PGPASSWORD: secrets travel in the environment or a
 * 0600 file, never argv), an empty signal mask and default signal dispositions, its own process
 * group, and no descriptor of ours except the pipes asked for (everything else is close-on-exec
 * or closed at spawn). stdout and stdin can be pipes; stderr is always a pipe whose last ~4 KiB are
 * kept for error messages. Every loop that waits on the child polls dp_interrupted and stops with
 * DUMPER_EINTR; dp_proc_free() kills (SIGTERM, then SIGKILL) and reaps a child still running, so no
 * path leaves a zombie or an orphaned dump tool behind.
 *
 * One thread drives a dp_proc.
 */
#ifndef DP_PROC_H
#define DP_PROC_H

#include <stddef.h>
#include <sys/types.h>

#include "core/err.h"
#include "io/sink.h"

#define DP_PROC_TAIL 4096

typedef struct dp_proc dp_proc;

typedef struct dp_proc_opts {
    const char *path;              /* program to run; without '/' it is looked up in PATH */
    const char *const *argv;       /* NULL-terminated; argv[0] is the name the program sees */
    const char *const *env_add;    /* NULL-terminated "NAME=value" entries, replacing inherited ones */
    const char *const *env_remove; /* NULL-terminated names removed from the inherited environment */
    int stdin_pipe;                /* 1: a pipe we write (dp_proc_write); 0: /dev/null */
    int stdout_pipe;               /* 1: a pipe we read (dp_proc_pump); 0: /dev/null */
    const char *what;              /* the tool's name in messages ("pg_dump"); default: basename(path) */
} dp_proc_opts;

/* Start the program. Fails with DUMPER_ETOOL if it cannot be executed (not found, not executable),
 * DUMPER_ENOMEM/DUMPER_EIO otherwise. */
int dp_proc_spawn(const dp_proc_opts *o, dp_proc **out, dp_err *err);

/* Read the child's stdout into `to` until EOF (not ending `to`), keeping the stderr tail meanwhile.
 * On a sink error or interruption returns that code; the caller then frees (kills) the child. */
int dp_proc_pump(dp_proc *p, dp_sink *to, dp_err *err);

/* Write n bytes to the child's stdin, keeping the stderr tail meanwhile. A child that exits early
 * (EPIPE) fails with DUMPER_ESOURCE naming the tool and its stderr tail. */
int dp_proc_write(dp_proc *p, const void *buf, size_t n, dp_err *err);
/* Close the child's stdin (EOF for the tool). Idempotent. */
void dp_proc_close_stdin(dp_proc *p);

/* Close stdin, drain stderr and reap the child. *status: the exit code (0..255), or -signal if it
 * was killed by a signal. Returns 0 once reaped, DUMPER_EINTR if interrupted first. */
int dp_proc_wait(dp_proc *p, int *status, dp_err *err);

/* Wait and turn a failure into one error line: "<what> failed (exit 1): <last stderr line>".
 * `code` is the error code for a non-zero exit; secret (may be NULL) is scrubbed from the text. */
int dp_proc_finish(dp_proc *p, int code, const char *secret, dp_err *err);

/* 1 once the child has exited (reaped now, without waiting), else 0. */
int dp_proc_exited(dp_proc *p);

/* The last <= DP_PROC_TAIL bytes of stderr seen so far (NUL-terminated; borrowed from p). */
const char *dp_proc_stderr(dp_proc *p);
/* The most useful line of a stderr tail, flattened to one line without the secret, into out:
 * the first line mentioning "error"/"fatal", else the last non-empty line. */
void dp_proc_summary(const char *tail, const char *secret, char *out, size_t outlen);

pid_t dp_proc_pid(const dp_proc *p);
/* SIGTERM the child (its process group), SIGKILL after a grace period, reap. Idempotent. */
void dp_proc_kill(dp_proc *p);
/* Kill if still running, reap, close everything. NULL is a no-op. */
void dp_proc_free(dp_proc *p);

/* Find an executable: `name` in dir if dir is non-NULL, else in PATH. Caller frees; NULL if none. */
char *dp_proc_which(const char *name, const char *dir);

#endif
