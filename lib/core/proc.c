/*
 * proc.c - spawning and driving external tools (see proc.h).
 *
 * Design: the child's stderr is always a pipe and every loop that waits for the child (reading its
 * stdout, writing its stdin, waiting for its exit) also drains stderr, so a tool that writes a lot
 * of warnings can never block on a full stderr pipe while we block on the other pipe. Our ends are
 * non-blocking and every wait is a poll() with a short timeout so an interrupt (dp_interrupted) is
 * noticed within a fraction of a second even if the tool goes quiet.
 */
#include "core/proc.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/util.h"

extern char **environ;

#define POLL_MS 200
#define KILL_GRACE_MS 3000

struct dp_proc {
    pid_t pid;     /* > 0 while not reaped */
    int status;    /* once reaped: exit code or -signal */
    int reaped;
    int in_fd, out_fd, err_fd; /* our ends; -1 when closed */
    char *what;
    char tail[2 * DP_PROC_TAIL + 1];
    size_t tail_len;
    int tail_cut; /* bytes were dropped from the front */
};

static void close_fd(int *fd)
{
    if (*fd >= 0) {
        close(*fd);
        *fd = -1;
    }
}

static int set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}


static int env_listed(const char *entry, const char *const *list)
{
    for (; list && *list; list++) {
        const char *eq = strchr(*list, '=');
        size_t n = eq ? (size_t)(eq - *list) : strlen(*list);
        if (strncmp(entry, *list, n) == 0 && entry[n] == '=')
            return 1;
    }
    return 0;
}

/* A copy of environ without the removed/replaced names, plus env_add. The array is ours; the
 * strings are borrowed (environ's and the caller's). */
static const char **build_env(const dp_proc_opts *o)
{
    size_t n = 0, k = 0;
    while (environ && environ[n])
        n++;
    size_t nadd = 0;
    while (o->env_add && o->env_add[nadd])
        nadd++;
    const char **env = calloc(n + nadd + 1, sizeof *env);
    if (!env)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (!strchr(environ[i], '=') || env_listed(environ[i], o->env_add) || env_listed(environ[i], o->env_remove))
            continue;
        env[k++] = environ[i];
    }
    for (size_t i = 0; i < nadd; i++)
        env[k++] = o->env_add[i];
    env[k] = NULL;
    return env;
}

static void tail_add(dp_proc *p, const char *s, size_t n)
{
    if (n >= DP_PROC_TAIL) {
        s += n - DP_PROC_TAIL;
        n = DP_PROC_TAIL;
        p->tail_cut = 1;
        p->tail_len = 0;
    }
    if (p->tail_len + n > 2 * DP_PROC_TAIL) {
        size_t drop = p->tail_len + n - DP_PROC_TAIL;
        memmove(p->tail, p->tail + drop, p->tail_len - drop);
        p->tail_len -= drop;
        p->tail_cut = 1;
    }
    memcpy(p->tail + p->tail_len, s, n);
    p->tail_len += n;
    p->tail[p->tail_len] = 0;
}

/* Read what stderr has; closes it at EOF. */
static void drain_err(dp_proc *p)
{
    char buf[4096];
    while (p->err_fd >= 0) {
        ssize_t r = read(p->err_fd, buf, sizeof buf);
        if (r > 0) {
            tail_add(p, buf, (size_t)r);
            continue;
        }
        if (r < 0 && errno == EINTR && !dp_interrupted)
            continue;
        if (r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
            close_fd(&p->err_fd);
        break;
    }
}

const char *dp_proc_stderr(dp_proc *p)
{
    return p->tail_len > DP_PROC_TAIL ? p->tail + (p->tail_len - DP_PROC_TAIL) : p->tail;
}

pid_t dp_proc_pid(const dp_proc *p) { return p->reaped ? 0 : p->pid; }

char *dp_proc_which(const char *name, const char *dir)
{
    if (strchr(name, '/')) {
        struct stat sb;
        return access(name, X_OK) == 0 && stat(name, &sb) == 0 && S_ISREG(sb.st_mode) ? dp_strdup(name) : NULL;
    }
    if (dir) {
        char *path = dp_asprintf("%s/%s", dir, name);
        struct stat sb;
        if (path && access(path, X_OK) == 0 && stat(path, &sb) == 0 && S_ISREG(sb.st_mode))
            return path;
        free(path);
        return NULL;
    }
    const char *env = getenv("PATH");
    if (!env || !*env)
        env = "/usr/local/bin:/usr/bin:/bin";
    char *copy = dp_strdup(env), *save = NULL;
    if (!copy)
        return NULL;
    for (char *d = strtok_r(copy, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
        if (!*d)
            continue;
        char *hit = dp_proc_which(name, d);
        if (hit) {
            free(copy);
            return hit;
        }
    }
    free(copy);
    return NULL;
}

int dp_proc_spawn(const dp_proc_opts *o, dp_proc **out, dp_err *err)
{
    int in[2] = {-1, -1}, outp[2] = {-1, -1}, errp[2] = {-1, -1};
    int rc = 0, fa_init = 0, attr_init = 0;
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    const char **env = NULL;
    *out = NULL;
    const char *base = strrchr(o->path, '/');
    dp_proc *p = calloc(1, sizeof *p);
    if (!p)
        return dp_err_set(err, DUMPER_ENOMEM, "out of memory");
    p->in_fd = p->out_fd = p->err_fd = -1;
    p->what = dp_strdup(o->what ? o->what : base ? base + 1 : o->path);
    env = build_env(o);
    if (!p->what || !env) {
        rc = dp_err_set(err, DUMPER_ENOMEM, "out of memory");
        goto done;
    }
    if (pipe2(errp, O_CLOEXEC) < 0 || (o->stdin_pipe && pipe2(in, O_CLOEXEC) < 0) ||
        (o->stdout_pipe && pipe2(outp, O_CLOEXEC) < 0)) {
        rc = dp_err_sys(err, DUMPER_EIO, errno, "unable to create a pipe for %s", p->what);
        goto done;
    }
    /* A dump tool writes its output in small pieces (pg_dump: 8 KiB fwrite buffers). With the default
     * 64 KiB pipe the tool and the reader wake each other every few writes; 1 MiB (the unprivileged
     * maximum by default) lets each side run for longer stretches (bench/README.md). Best effort. */
    if (o->stdout_pipe)
        (void)fcntl(outp[0], F_SETPIPE_SZ, 1 << 20);
    if (posix_spawn_file_actions_init(&fa) != 0) {
        rc = dp_err_set(err, DUMPER_ENOMEM, "out of memory");
        goto done;
    }
    fa_init = 1;
    int e = 0;
    /* dup2 clears close-on-exec on the target; every other descriptor of ours stays closed. */
    if (o->stdin_pipe)
        e |= posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    else
        e |= posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    if (o->stdout_pipe)
        e |= posix_spawn_file_actions_adddup2(&fa, outp[1], 1);
    else
        e |= posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    e |= posix_spawn_file_actions_adddup2(&fa, errp[1], 2);
    /* Descriptors a host application opened without close-on-exec must not leak into the tool. */
    e |= posix_spawn_file_actions_addclosefrom_np(&fa, 3);
    if (posix_spawnattr_init(&attr) != 0) {
        rc = dp_err_set(err, DUMPER_ENOMEM, "out of memory");
        goto done;
    }
    attr_init = 1;
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    /* The CLI ignores SIGPIPE and a host may block signals in its threads: the tool gets defaults,
     * so e.g. pg_dump dies of SIGPIPE instead of spinning on EPIPE. Its own process group lets us
     * signal it (and anything it starts) without touching ours. */
    e |= posix_spawnattr_setsigmask(&attr, &none);
    e |= posix_spawnattr_setsigdefault(&attr, &all);
    e |= posix_spawnattr_setpgroup(&attr, 0);
    e |= posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP);
    if (e) {
        rc = dp_err_set(err, DUMPER_EINTERNAL, "unable to prepare to run %s", p->what);
        goto done;
    }
    /* Resolve and check the program first: some environments (valgrind, old libcs) report an
     * exec failure only as the child's exit status 127, not as posix_spawn's result. */
    char *resolved = dp_proc_which(o->path, NULL);
    int sr = resolved ? posix_spawn(&p->pid, resolved, &fa, &attr, (char *const *)o->argv, (char *const *)env)
                      : access(o->path, F_OK) == 0 ? EACCES
                                                   : ENOENT;
    free(resolved);
    if (sr != 0) {
        p->pid = 0;
        rc = dp_err_sys(err, (sr == ENOENT || sr == EACCES || sr == ENOEXEC) ? DUMPER_ETOOL : DUMPER_EIO, sr,
                        "unable to run %s ('%s')", p->what, o->path);
        goto done;
    }
    p->in_fd = in[1];
    in[1] = -1;
    p->out_fd = outp[0];
    outp[0] = -1;
    p->err_fd = errp[0];
    errp[0] = -1;
    if ((p->in_fd >= 0 && set_nonblock(p->in_fd) < 0) || (p->out_fd >= 0 && set_nonblock(p->out_fd) < 0) ||
        set_nonblock(p->err_fd) < 0)
        rc = dp_err_sys(err, DUMPER_EIO, errno, "unable to set up the pipes of %s", p->what);
done:
    if (fa_init)
        posix_spawn_file_actions_destroy(&fa);
    if (attr_init)
        posix_spawnattr_destroy(&attr);
    free(env);
    for (int i = 0; i < 2; i++) {
        close_fd(&in[i]);
        close_fd(&outp[i]);
        close_fd(&errp[i]);
    }
    if (rc) {
        dp_proc_free(p);
        return rc;
    }
    *out = p;
    return 0;
}

static int interrupted(dp_err *err) { return dp_err_set(err, DUMPER_EINTR, "interrupted"); }

int dp_proc_pump(dp_proc *p, dp_sink *to, dp_err *err)
{
    if (p->out_fd < 0)
        return 0;
    char *buf = malloc(DP_IO_CHUNK);
    if (!buf)
        return dp_err_set(err, DUMPER_ENOMEM, "out of memory");
    int rc = 0;
    int64_t t_poll = 0, t_nap = 0, t_sink = 0, t_start = dp_mono_ns();
    uint64_t n_poll = 0, n_nap = 0, n_read = 0, total = 0;
    while (p->out_fd >= 0) {
        struct pollfd fds[2] = {{.fd = p->out_fd, .events = POLLIN}, {.fd = p->err_fd, .events = POLLIN}};
        int64_t t0 = dp_mono_ns();
        int pr = poll(fds, p->err_fd >= 0 ? 2 : 1, POLL_MS);
        t_poll += dp_mono_ns() - t0;
        n_poll++;
        if (dp_interrupted) {
            rc = interrupted(err);
            break;
        }
        if (pr < 0 && errno != EINTR) {
            rc = dp_err_sys(err, DUMPER_EIO, errno, "unable to wait for %s", p->what);
            break;
        }
        if (pr <= 0)
            continue;
        if (p->err_fd >= 0 && fds[1].revents)
            drain_err(p);
        if (!fds[0].revents)
            continue;
        /* Read until the pipe is empty: fewer poll() calls per byte. */
        size_t got = 0;
        for (;;) {
            ssize_t r = read(p->out_fd, buf, DP_IO_CHUNK);
            if (r > 0) {
                got += (size_t)r;
                n_read++;
                int64_t t1 = dp_mono_ns();
                rc = dp_sink_write(to, buf, (size_t)r, err);
                t_sink += dp_mono_ns() - t1;
                if (rc)
                    goto done;
                if ((size_t)r < DP_IO_CHUNK)
                    break;
                continue;
            }
            if (r == 0) {
                close_fd(&p->out_fd);
                break;
            }
            if (errno == EINTR && !dp_interrupted)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
                break;
            rc = dp_err_sys(err, DUMPER_EIO, errno, "unable to read the output of %s", p->what);
            goto done;
        }
        /* A tool writes in small pieces (pg_dump: 8 KiB); a reader faster than the tool would be woken
         * for each of them (~100,000 context switches per GB, on both sides). When a wake-up found
         * less than 64 KiB, let the 1 MiB pipe fill for 1 ms first: at most ~1000 wake-ups a second,
         * and a tool producing < 1 GB/s never waits for room. */
        if (got < 64 * 1024 && p->out_fd >= 0) {
            struct timespec nap = {0, 1000000};
            int64_t t2 = dp_mono_ns();
            nanosleep(&nap, NULL);
            t_nap += dp_mono_ns() - t2;
            n_nap++;
        }
        total += got;
    }
done:
    dp_debug("%s pump: %llu bytes in %llu reads over %lld ms: %lld ms in the sinks, %lld ms in %llu polls, "
             "%lld ms in %llu naps",
             p->what, (unsigned long long)total, (unsigned long long)n_read,
             (long long)((dp_mono_ns() - t_start) / 1000000), (long long)(t_sink / 1000000),
             (long long)(t_poll / 1000000), (unsigned long long)n_poll, (long long)(t_nap / 1000000),
             (unsigned long long)n_nap);
    free(buf);
    return rc;
}

/* write() that never raises SIGPIPE in a host that does not ignore it (the CLI does; an embedding
 * application may not): block it in this thread, and consume the one a failed write left pending
 * before unblocking. */
static ssize_t write_nosigpipe(int fd, const void *buf, size_t n)
{
    sigset_t pipe_set, old;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    sigset_t pending;
    int was_pending = sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
    ssize_t w = write(fd, buf, n);
    int e = errno;
    if (w < 0 && e == EPIPE && !was_pending) {
        struct timespec zero = {0, 0};
        while (sigtimedwait(&pipe_set, NULL, &zero) < 0 && errno == EINTR)
            ;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    errno = e;
    return w;
}

int dp_proc_write(dp_proc *p, const void *data, size_t n, dp_err *err)
{
    const char *s = data;
    if (p->in_fd < 0)
        return dp_err_set(err, DUMPER_EINTERNAL, "input of %s is closed", p->what);
    while (n > 0) {
        ssize_t w = write_nosigpipe(p->in_fd, s, n);
        if (w > 0) {
            s += w;
            n -= (size_t)w;
            continue;
        }
        if (w < 0 && errno == EPIPE) {
            /* The tool exited early: its stderr says why. */
            int status = 0;
            dp_err ignore = {0};
            close_fd(&p->in_fd);
            dp_proc_wait(p, &status, &ignore);
            char line[300];
            dp_proc_summary(dp_proc_stderr(p), NULL, line, sizeof line);
            return dp_err_set(err, DUMPER_ESOURCE, "%s stopped reading its input (exit %d)%s%s", p->what, status,
                              *line ? ": " : "", line);
        }
        if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            return dp_err_sys(err, DUMPER_EIO, errno, "unable to write to %s", p->what);
        if (dp_interrupted)
            return interrupted(err);
        struct pollfd fds[2] = {{.fd = p->in_fd, .events = POLLOUT}, {.fd = p->err_fd, .events = POLLIN}};
        int pr = poll(fds, p->err_fd >= 0 ? 2 : 1, POLL_MS);
        if (dp_interrupted)
            return interrupted(err);
        if (pr > 0 && p->err_fd >= 0 && fds[1].revents)
            drain_err(p);
    }
    return 0;
}

void dp_proc_close_stdin(dp_proc *p) { close_fd(&p->in_fd); }

static void set_status(dp_proc *p, int ws)
{
    p->reaped = 1;
    p->status = WIFEXITED(ws) ? WEXITSTATUS(ws) : WIFSIGNALED(ws) ? -WTERMSIG(ws) : -1;
}

int dp_proc_wait(dp_proc *p, int *status, dp_err *err)
{
    close_fd(&p->in_fd);
    char buf[4096];
    while (!p->reaped && (p->err_fd >= 0 || p->out_fd >= 0)) {
        struct pollfd fds[2];
        nfds_t n = 0;
        if (p->err_fd >= 0)
            fds[n++] = (struct pollfd){.fd = p->err_fd, .events = POLLIN};
        if (p->out_fd >= 0)
            fds[n++] = (struct pollfd){.fd = p->out_fd, .events = POLLIN};
        int pr = poll(fds, n, POLL_MS);
        if (dp_interrupted)
            return interrupted(err);
        if (pr < 0 && errno != EINTR)
            break;
        if (p->err_fd >= 0)
            drain_err(p);
        if (p->out_fd >= 0) { /* output nobody asked for any more: discard it */
            ssize_t r = read(p->out_fd, buf, sizeof buf);
            if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR))
                close_fd(&p->out_fd);
        }
    }
    while (!p->reaped && p->pid > 0) {
        int ws;
        pid_t r = waitpid(p->pid, &ws, WNOHANG);
        if (r == p->pid) {
            set_status(p, ws);
            break;
        }
        if (r < 0 && errno != EINTR) { /* ECHILD: someone else reaped it (a host's SIGCHLD handler) */
            p->reaped = 1;
            p->status = -1;
            break;
        }
        if (dp_interrupted)
            return interrupted(err);
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
    }
    if (status)
        *status = p->status;
    return 0;
}

static int ci_contains(const char *hay, size_t n, const char *needle)
{
    size_t m = strlen(needle);
    for (size_t i = 0; i + m <= n; i++)
        if (strncasecmp(hay + i, needle, m) == 0)
            return 1;
    return 0;
}

void dp_proc_summary(const char *tail, const char *secret, char *out, size_t outlen)
{
    const char *best = NULL, *last = NULL;
    size_t best_n = 0, last_n = 0;
    if (!outlen)
        return;
    out[0] = 0;
    for (const char *s = tail ? tail : ""; *s;) {
        const char *nl = strchr(s, '\n');
        size_t n = nl ? (size_t)(nl - s) : strlen(s);
        size_t lead = 0;
        while (lead < n && (s[lead] == ' ' || s[lead] == '\t' || s[lead] == '\r'))
            lead++;
        if (n > lead) {
            if (!best && (ci_contains(s, n, "error") || ci_contains(s, n, "fatal")))
                best = s, best_n = n;
            last = s + lead, last_n = n - lead;
        }
        s += n + (nl ? 1 : 0);
    }
    const char *pick = best ? best : last;
    size_t pn = best ? best_n : last_n;
    dp_buf b = {0};
    size_t slen = secret ? strlen(secret) : 0;
    for (size_t i = 0; pick && i < pn; i++) {
        if (slen && i + slen <= pn && memcmp(pick + i, secret, slen) == 0) {
            dp_buf_puts(&b, "***");
            i += slen - 1;
            continue;
        }
        char c = pick[i];
        if (c == '\t' || c == '\r' || (unsigned char)c < 0x20)
            c = ' ';
        if (c == ' ' && (!b.len || b.data[b.len - 1] == ' '))
            continue; /* squeeze runs of blanks: "ERROR:  x" -> "ERROR: x" */
        dp_buf_append(&b, &c, 1);
    }
    while (b.len && b.data[b.len - 1] == ' ')
        b.data[--b.len] = 0;
    if (b.data)
        snprintf(out, outlen, "%s", b.data);
    dp_buf_free(&b);
}

int dp_proc_finish(dp_proc *p, int code, const char *secret, dp_err *err)
{
    int status = 0;
    int rc = dp_proc_wait(p, &status, err);
    if (rc)
        return rc;
    if (status == 0)
        return 0;
    char line[400];
    dp_proc_summary(dp_proc_stderr(p), secret, line, sizeof line);
    if (status < 0 && status != -1)
        return dp_err_set(err, code, "%s was killed by signal %d%s%s", p->what, -status, *line ? ": " : "", line);
    return dp_err_set(err, code, "%s failed (exit %d)%s%s", p->what, status, *line ? ": " : "", line);
}

void dp_proc_kill(dp_proc *p)
{
    if (!p || p->reaped || p->pid <= 0)
        return;
    close_fd(&p->in_fd);
    kill(-p->pid, SIGTERM);
    kill(p->pid, SIGTERM);
    int64_t deadline = dp_mono_ms() + KILL_GRACE_MS;
    int ws;
    for (;;) {
        pid_t r = waitpid(p->pid, &ws, WNOHANG);
        if (r == p->pid) {
            set_status(p, ws);
            break;
        }
        if (r < 0 && errno != EINTR) {
            p->reaped = 1;
            p->status = -1;
            break;
        }
        if (dp_mono_ms() >= deadline) {
            kill(-p->pid, SIGKILL);
            kill(p->pid, SIGKILL);
            while ((r = waitpid(p->pid, &ws, 0)) < 0 && errno == EINTR)
                ;
            if (r == p->pid)
                set_status(p, ws);
            else
                p->reaped = 1, p->status = -1;
            break;
        }
        if (p->err_fd >= 0)
            drain_err(p);
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
    }
}

void dp_proc_free(dp_proc *p)
{
    if (!p)
        return;
    dp_proc_kill(p);
    close_fd(&p->in_fd);
    close_fd(&p->out_fd);
    close_fd(&p->err_fd);
    free(p->what);
    free(p);
}

int dp_proc_exited(dp_proc *p)
{
    if (p->reaped)
        return 1;
    int st;
    pid_t r = waitpid(p->pid, &st, WNOHANG);
    if (r != p->pid)
        return 0;
    p->reaped = 1;
    p->status = WIFEXITED(st) ? WEXITSTATUS(st) : -WTERMSIG(st);
    return 1;
}
