/* spawn.c - posix_spawn of a detached `dumper job` process (see spawn.h for the design). */
#include "agent/spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <poll.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/util.h"

extern char **environ;

#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
#define DP_HAVE_ADDCLOSEFROM 1
#endif

/* Move fd to a number >= 3 (close-on-exec) so dup2 onto 0..2 in the child never aliases. */
static int above_stdio(int fd)
{
    if (fd < 0 || fd > 2)
        return fd;
    int n = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    close(fd);
    return n;
}

int dp_spawn_job(const char *exe, const char *spec, int log_fd, const atomic_int *stop, pid_t *pid_out, dp_err *err)
{
    int p[2] = {-1, -1}, rc = 0, fa_ok = 0, at_ok = 0, logdup = -1;
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    *pid_out = 0;
    if (pipe2(p, O_CLOEXEC) < 0)
        return dp_err_sys(err, DUMPER_EIO, errno, "unable to create a pipe for the job process");
    p[0] = above_stdio(p[0]);
    p[1] = above_stdio(p[1]);
    if (log_fd >= 0 && log_fd <= 2)
        logdup = log_fd = fcntl(log_fd, F_DUPFD_CLOEXEC, 3);
    if (p[0] < 0 || p[1] < 0) {
        rc = dp_err_sys(err, DUMPER_EIO, errno, "unable to create a pipe for the job process");
        goto cleanup;
    }
    if (posix_spawn_file_actions_init(&fa) || posix_spawnattr_init(&at)) {
        rc = dp_err_set(err, DUMPER_ENOMEM, "out of memory");
        goto cleanup;
    }
    fa_ok = at_ok = 1;
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    int e = posix_spawn_file_actions_adddup2(&fa, p[0], 0);
    if (!e)
        e = posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    if (!e)
        e = log_fd >= 0 ? posix_spawn_file_actions_adddup2(&fa, log_fd, 2)
                        : posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
#ifdef DP_HAVE_ADDCLOSEFROM
    if (!e)
        e = posix_spawn_file_actions_addclosefrom_np(&fa, 3);
#endif
    /* without addclosefrom, `dumper job` runs close_range(3, ~0) first thing (cli/job.c) */
    if (!e)
        e = posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    if (!e)
        e = posix_spawnattr_setsigmask(&at, &none);
    if (!e)
        e = posix_spawnattr_setsigdefault(&at, &all);
    if (e) {
        rc = dp_err_sys(err, DUMPER_EINTERNAL, e, "unable to prepare the job process");
        goto cleanup;
    }
    char *argv[] = {(char *)exe, (char *)"job", NULL};
    pid_t pid;
    e = strchr(exe, '/') ? posix_spawn(&pid, exe, &fa, &at, argv, environ)
                         : posix_spawnp(&pid, exe, &fa, &at, argv, environ);
    if (e) {
        rc = dp_err_sys(err, DUMPER_ETOOL, e, "unable to run the dumper executable '%s'", exe);
        goto cleanup;
    }
    *pid_out = pid;
    close(p[0]);
    p[0] = -1;
    /* The spec is below the pipe's capacity (64 KiB), so this write does not wait for the child.
     * EPIPE (the child died) raises a thread-directed SIGPIPE, which the agent thread blocks and
     * discards below. */
    size_t len = strlen(spec);
    if (dp_write_all(p[1], spec, len) < 0) {
        int we = errno;
        if (we == EPIPE) {
            sigset_t pipe_set;
            sigemptyset(&pipe_set);
            sigaddset(&pipe_set, SIGPIPE);
            struct timespec zero = {0, 0};
            (void)sigtimedwait(&pipe_set, NULL, &zero);
        }
        rc = dp_err_sys(err, DUMPER_ESOURCE, we, "unable to hand the job spec to the job process");
    }
    close(p[1]);
    p[1] = -1;
    /* Reap the intermediate by pid, never waitpid(-1). It exits as soon as it has read the spec
     * and forked. A pidfd wakes us the moment it exits, so we reap it before a server master that
     * reaps any child (on SIGCHLD) gets to it; without pidfd (Linux < 5.3) we poll every 10 ms. */
    int status = 0, reaped = 0;
    int pfd = (int)syscall(SYS_pidfd_open, pid, 0);
    for (int i = 0; i < 500 && !reaped; i++) {
        if (pfd >= 0) {
            struct pollfd pf = {.fd = pfd, .events = POLLIN};
            (void)poll(&pf, 1, 100);
        }
        pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid)
            reaped = 1;
        else if (w < 0 && errno != EINTR)
            reaped = -1; /* someone else (a master reaping any child) got it first: it ran anyway */
        else if (stop && atomic_load(stop) && i > 50)
            break;
        else if (pfd < 0) {
            struct timespec ts = {0, 10 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
    }
    if (pfd >= 0)
        close(pfd);
    if (!rc && reaped == 1 && !(WIFEXITED(status) && WEXITSTATUS(status) == 0))
        rc = dp_err_set(err, DUMPER_ESOURCE, "the job process exited at once with %s %d",
                        WIFEXITED(status) ? "status" : "signal", WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
    if (!rc && reaped == 0)
        rc = dp_err_set(err, DUMPER_ETIMEOUT, "the job process did not detach in time");
cleanup:
    if (fa_ok)
        posix_spawn_file_actions_destroy(&fa);
    if (at_ok)
        posix_spawnattr_destroy(&at);
    if (p[0] >= 0)
        close(p[0]);
    if (p[1] >= 0)
        close(p[1]);
    if (logdup >= 0)
        close(logdup);
    return rc;
}
