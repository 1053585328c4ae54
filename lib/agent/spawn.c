/*
 * spawn.c - starting a detached `dumper job` process without forking the host (see spawn.h).
 *
 * On Linux the job process is created the way glibc's posix_spawn creates a child (clone with
 * CLONE_VM | CLONE_VFORK: no copy of the host's memory, the calling thread suspended until exec,
 * only system calls in between), but through a middle task: the agent thread clones a middle task M
 * with exit signal 0, M clones the child C that execs `dumper job`, and M exits as soon as C has
 * exec'd. C is orphaned at once and reparented to init (or the nearest subreaper), never a child of
 * the host. M never execs, so it keeps its exit signal 0: to the kernel it is a "clone child",
 * which waitpid(-1) without __WALL/__WCLONE does not see and whose exit raises no SIGCHLD. So a
 * server master that reaps any child (unicorn, puma, passenger, resque) never sees any process of
 * ours and never logs an "unknown child". (A child that execs is reset to SIGCHLD by the kernel,
 * which is why the middle task is needed.) The agent reaps M by pid with __WCLONE.
 * Elsewhere posix_spawn is used with the same attributes, and `dumper job` detaches itself.
 */
#include "agent/spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/util.h"

extern char **environ;

#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
#define DP_HAVE_ADDCLOSEFROM 1
#endif

#ifdef __linux__
#define DP_WAIT_FLAGS __WCLONE
#else
#define DP_WAIT_FLAGS 0
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

/* exe as given when it holds a '/', else the first executable match on PATH; caller frees. */
static char *resolve_exe(const char *exe)
{
    if (strchr(exe, '/'))
        return dp_strdup(exe);
    const char *path = getenv("PATH");
    if (!path || !*path)
        path = "/usr/local/bin:/usr/bin:/bin";
    while (*path) {
        const char *colon = strchr(path, ':');
        size_t n = colon ? (size_t)(colon - path) : strlen(path);
        char *cand = dp_asprintf("%.*s/%s", (int)n, n ? path : ".", exe);
        if (cand && access(cand, X_OK) == 0)
            return cand;
        free(cand);
        path += n + (colon ? 1 : 0);
    }
    return NULL;
}

#ifdef __linux__
typedef struct child_args {
    const char *path;
    char **argv, **envp;
    int in_fd, out_fd, err_fd;
    char *child_stack;
    const dp_job_prio *prio; /* NULL: the host's */
    volatile int prio_err;   /* errno of a refused priority change */
    volatile int err;       /* errno of a failed exec, seen by the parent (shared memory) */
    volatile pid_t child;   /* pid of C */
} child_args;

/* ioprio_set(2)'s encoding (linux/ioprio.h): the class in the top 3 bits of 16, the level below. */
#define DP_IOPRIO_SHIFT 13
#define DP_IOPRIO_WHO_PROCESS 1

/* Lower this process's CPU and I/O priority to p, never above what it has (the host's): system calls only.
 * Returns 0 or the errno of the first refused change. */
static int lower_priority(const dp_job_prio *p)
{
    int e = 0;
    if (p->nice > 0) {
        errno = 0;
        int cur = getpriority(PRIO_PROCESS, 0);
        if ((cur != -1 || !errno) && p->nice > cur && setpriority(PRIO_PROCESS, 0, p->nice) < 0)
            e = errno;
    }
    if (p->ioclass == DP_IOPRIO_IDLE || p->ioclass == DP_IOPRIO_BE) {
        long cur = syscall(SYS_ioprio_get, DP_IOPRIO_WHO_PROCESS, 0);
        int cls = cur < 0 ? 0 : (int)(cur >> DP_IOPRIO_SHIFT), lvl = cur < 0 ? 0 : (int)(cur & 7);
        int keep = cls == DP_IOPRIO_IDLE || (p->ioclass == DP_IOPRIO_BE && cls == DP_IOPRIO_BE && lvl >= p->iolevel);
        long v = ((long)p->ioclass << DP_IOPRIO_SHIFT) | (p->ioclass == DP_IOPRIO_BE ? p->iolevel : 0);
        if (!keep && syscall(SYS_ioprio_set, DP_IOPRIO_WHO_PROCESS, 0, v) < 0 && !e)
            e = errno;
    }
    return e;
}

/* setsid() put the child in a new session, and with the kernel's autogroup scheduling
 * (sched_autogroup_enabled) a new session is a new autogroup, which shares the CPU with the host's
 * session as an equal whatever the processes' nice: the job's nice ranks it only inside its own group.
 * So the group gets the job's nice too (/proc/self/autogroup; raising it needs no privilege). No
 * autogroup support (the file is absent), its rate limit (EAGAIN, unprivileged: one change per 100 ms
 * in the whole system) or a refusal: the job runs anyway, as on a kernel without autogroups. System
 * calls only (see child_main). */
static void lower_autogroup(int nice)
{
    if (nice <= 0 || nice > 19)
        return;
    char v[3] = {0};
    size_t n = 0;
    if (nice >= 10)
        v[n++] = (char)('0' + nice / 10);
    v[n++] = (char)('0' + nice % 10);
    int fd = open("/proc/self/autogroup", O_WRONLY | O_CLOEXEC);
    if (fd >= 0) {
        (void)!write(fd, v, n);
        close(fd);
    }
}

/* Runs in the child, on its own stack, sharing the host's memory until execve: system calls only. */
static int child_main(void *p)
{
    child_args *a = p;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_DFL;
    for (int s = 1; s < NSIG; s++)
        if (s != SIGKILL && s != SIGSTOP)
            (void)sigaction(s, &sa, NULL); /* the handler table is the child's own copy */
    if (setsid() < 0 || dup2(a->in_fd, 0) < 0 || dup2(a->out_fd, 1) < 0 || dup2(a->err_fd, 2) < 0)
        goto fail;
    if (syscall(SYS_close_range, 3U, ~0U, 0U) < 0)
        for (int fd = 3; fd < 1024; fd++)
            close(fd);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    if (a->prio) {
        a->prio_err = lower_priority(a->prio);
        if (!a->prio_err && a->prio->nice > 0)
            lower_autogroup(getpriority(PRIO_PROCESS, 0)); /* the nice it runs at: never above the host's */
    }
    execve(a->path, a->argv, a->envp);
fail:
    a->err = errno ? errno : EINVAL;
    _exit(127);
}

/* The middle task M: clone C, which execs; exit once it has (CLONE_VFORK suspends M until then). */
static int middle_main(void *p)
{
    child_args *a = p;
    pid_t c = clone(child_main, a->child_stack, CLONE_VM | CLONE_VFORK | SIGCHLD, a);
    if (c < 0)
        a->err = errno;
    a->child = c;
    _exit(c < 0 ? 1 : 0);
}

static int spawn_clone(const char *path, char **argv, int in_fd, int out_fd, int err_fd, const dp_job_prio *prio,
                       pid_t *pid, int *child_err, int *prio_err, pid_t *job_pid)
{
    size_t stack_size = 256 * 1024;
    char *stack = mmap(NULL, 2 * stack_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (stack == MAP_FAILED)
        return errno;
    child_args a = {.path = path, .argv = argv, .envp = environ, .in_fd = in_fd, .out_fd = out_fd, .err_fd = err_fd,
                    .child_stack = stack + 2 * stack_size, .prio = prio};
    /* M's exit signal is 0: see the comment at the top. The calling (agent) thread blocks every
     * signal, so no host handler can run in M or C before C resets them. */
    pid_t p = clone(middle_main, stack + stack_size, CLONE_VM | CLONE_VFORK, &a);
    int e = p < 0 ? errno : 0;
    munmap(stack, 2 * stack_size);
    if (e)
        return e;
    *pid = p;
    *child_err = a.err;
    *prio_err = a.prio_err;
    *job_pid = a.child;
    return 0;
}
#endif

static int spawn_posix(const char *path, char **argv, int in_fd, int out_fd, int err_fd, pid_t *pid)
{
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    if (posix_spawn_file_actions_init(&fa))
        return ENOMEM;
    if (posix_spawnattr_init(&at)) {
        posix_spawn_file_actions_destroy(&fa);
        return ENOMEM;
    }
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    int e = posix_spawn_file_actions_adddup2(&fa, in_fd, 0);
    if (!e)
        e = posix_spawn_file_actions_adddup2(&fa, out_fd, 1);
    if (!e)
        e = posix_spawn_file_actions_adddup2(&fa, err_fd, 2);
#ifdef DP_HAVE_ADDCLOSEFROM
    if (!e)
        e = posix_spawn_file_actions_addclosefrom_np(&fa, 3);
#endif
    /* without addclosefrom, `dumper job` runs close_range(3, ~0) first thing (cli/agent.c) */
    if (!e)
        e = posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    if (!e)
        e = posix_spawnattr_setsigmask(&at, &none);
    if (!e)
        e = posix_spawnattr_setsigdefault(&at, &all);
    if (!e)
        e = posix_spawn(pid, path, &fa, &at, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    return e;
}

int dp_spawn_job(const char *exe, const char *spec, int log_fd, const dp_job_prio *prio, const dp_stop *stop,
                 pid_t *pid_out, int *prio_err, dp_err *err)
{
    int p[2] = {-1, -1}, rc = 0, null_fd = -1, logdup = -1;
    char *path = NULL;
    *pid_out = 0;
    *prio_err = 0;
    if (!(path = resolve_exe(exe)))
        return dp_err_set(err, DUMPER_ETOOL, "unable to run the dumper executable '%s': not found on PATH", exe);
    if (pipe2(p, O_CLOEXEC) < 0) {
        rc = dp_err_sys(err, DUMPER_EIO, errno, "unable to create a pipe for the job process");
        goto cleanup;
    }
    p[0] = above_stdio(p[0]);
    p[1] = above_stdio(p[1]);
    null_fd = above_stdio(open("/dev/null", O_RDWR | O_CLOEXEC));
    if (log_fd >= 0 && log_fd <= 2)
        logdup = log_fd = fcntl(log_fd, F_DUPFD_CLOEXEC, 3);
    if (p[0] < 0 || p[1] < 0 || null_fd < 0) {
        rc = dp_err_sys(err, DUMPER_EIO, errno, "unable to create a pipe for the job process");
        goto cleanup;
    }
    pid_t pid = 0, job_pid = 0;
    int e, child_err = 0;
#ifdef __linux__
    /* already detached: `dumper job` need not fork again */
    char *argv[] = {path, (char *)"job", (char *)"--no-fork", NULL};
    e = spawn_clone(path, argv, p[0], null_fd, log_fd >= 0 ? log_fd : null_fd, prio, &pid, &child_err, prio_err,
                    &job_pid);
#else
    (void)prio;
    char *argv[] = {path, (char *)"job", NULL};
    e = spawn_posix(path, argv, p[0], null_fd, log_fd >= 0 ? log_fd : null_fd, &pid);
    job_pid = pid;
#endif
    (void)spawn_posix;
    if (e) {
        rc = dp_err_sys(err, DUMPER_ETOOL, e, "unable to start the dumper executable '%s'", path);
        goto cleanup;
    }
    *pid_out = job_pid;
    close(p[0]);
    p[0] = -1;
    if (child_err) {
        rc = dp_err_sys(err, DUMPER_ETOOL, child_err, "unable to run the dumper executable '%s'", path);
    } else {
        /* The spec is below the pipe's capacity (64 KiB), so this write does not wait for the child.
         * EPIPE (the child died) raises a thread-directed SIGPIPE, which the agent thread blocks and
         * discards below. */
        if (dp_write_all(p[1], spec, strlen(spec)) < 0) {
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
    }
    close(p[1]);
    p[1] = -1;
    /* Reap by pid, never waitpid(-1): on Linux the middle task, which has exited already; with
     * posix_spawn the intermediate `dumper job`, which exits as soon as it has read the spec and
     * forked the real job process. A pidfd wakes us the moment it exits; without one we poll. */
    int status = 0, reaped = 0;
    int pfd = (int)syscall(SYS_pidfd_open, pid, 0);
    for (int i = 0; i < 500 && !reaped; i++) {
        if (pfd >= 0) {
            struct pollfd pf = {.fd = pfd, .events = POLLIN};
            (void)poll(&pf, 1, 100);
        }
        pid_t w = waitpid(pid, &status, WNOHANG | DP_WAIT_FLAGS);
        if (w == pid)
            reaped = 1;
        else if (w < 0 && errno != EINTR)
            reaped = -1; /* reaped elsewhere (only possible without the clone path): it ran anyway */
        else if (stop && dp_stop_requested(stop) && i > 50)
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
    if (p[0] >= 0)
        close(p[0]);
    if (p[1] >= 0)
        close(p[1]);
    if (null_fd >= 0)
        close(null_fd);
    if (logdup >= 0)
        close(logdup);
    free(path);
    return rc;
}
