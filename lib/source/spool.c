/* spool.c - spool the dump to a temp file, run the restore tool on it at commit (see spool.h). */
#include "source/spool.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/util.h"

typedef struct {
    dp_sink base;
    int fd;
    char *path;
    char **argv, **env; /* copies; env may hold a password (wiped) */
    char *tool, *what, *secret;
    dp_proc *p;
} spool_sink;

static void free_vec(char **v, int secret)
{
    for (size_t i = 0; v && v[i]; i++) {
        if (secret)
            dp_free_secret(v[i]);
        else
            free(v[i]);
    }
    free(v);
}

/* A NULL-terminated copy of v with DP_SPOOL_PATH replaced by path; NULL when out of memory. */
static char **copy_vec(const char *const *v, const char *path)
{
    size_t n = 0;
    while (v && v[n])
        n++;
    char **c = calloc(n + 1, sizeof *c);
    for (size_t i = 0; c && i < n; i++) {
        if (!(c[i] = strdup(path && !strcmp(v[i], DP_SPOOL_PATH) ? path : v[i]))) {
            free_vec(c, 1);
            return NULL;
        }
    }
    return c;
}

static void remove_file(spool_sink *s)
{
    if (s->fd >= 0)
        close(s->fd);
    s->fd = -1;
    if (s->path)
        unlink(s->path);
    free(s->path);
    s->path = NULL;
}

static int spool_write(dp_sink *sk, const void *p, size_t n, dp_err *err)
{
    spool_sink *s = (spool_sink *)sk;
    if (dp_write_all(s->fd, p, n) < 0) {
        int e = errno;
        return dp_err_sys(err, dp_err_code_for_errno(e), e, "unable to write the spool file '%s' for %s", s->path,
                          s->what);
    }
    return 0;
}

static int spool_end(dp_sink *sk, dp_err *err)
{
    spool_sink *s = (spool_sink *)sk;
    if (close(s->fd) < 0) {
        s->fd = -1;
        return dp_err_sys(err, DUMPER_EIO, errno, "unable to write the spool file '%s' for %s", s->path, s->what);
    }
    s->fd = -1;
    return 0;
}

static int spool_commit(dp_sink *sk, dp_err *err)
{
    spool_sink *s = (spool_sink *)sk;
    dp_proc_opts po = {.path = s->tool,
                       .argv = (const char *const *)s->argv,
                       .env_add = (const char *const *)s->env,
                       .what = s->what};
    int rc = dp_proc_spawn(&po, &s->p, err);
    if (!rc)
        rc = dp_proc_finish(s->p, DUMPER_ESOURCE, s->secret, err);
    if (rc != DUMPER_EINTR)
        remove_file(s); /* the tool is done with it (an interrupted one is killed by abort first) */
    return rc;
}

static void spool_abort(dp_sink *sk)
{
    spool_sink *s = (spool_sink *)sk;
    dp_proc_kill(s->p);
    remove_file(s);
}

static void spool_destroy(dp_sink *sk)
{
    spool_sink *s = (spool_sink *)sk;
    dp_proc_free(s->p);
    remove_file(s);
    free_vec(s->argv, 0);
    free_vec(s->env, 1);
    free(s->tool);
    free(s->what);
    dp_free_secret(s->secret);
}

static const dp_sink_ops spool_ops = {.name = "spool",
                                      .write = spool_write,
                                      .end = spool_end,
                                      .commit = spool_commit,
                                      .abort = spool_abort,
                                      .destroy = spool_destroy};

dp_sink *dp_spool_sink_new(const dp_proc_opts *po, char *secret, dp_err *err)
{
    spool_sink *s = calloc(1, sizeof *s);
    if (!s) {
        dp_free_secret(secret);
        dp_err_set(err, DUMPER_ENOMEM, "out of memory");
        return NULL;
    }
    dp_sink_init(&s->base, &spool_ops, NULL);
    s->fd = -1;
    s->secret = secret;
    const char *tmp = getenv("TMPDIR");
    if (!tmp || !*tmp)
        tmp = "/tmp";
    s->path = dp_asprintf("%s/dumper-restore-XXXXXX", tmp);
    if (!s->path) {
        dp_err_set(err, DUMPER_ENOMEM, "out of memory");
        goto fail;
    }
    /* mkostemp: 0600, a new name, close-on-exec (the tool opens the file by its name) */
    if ((s->fd = mkostemp(s->path, O_CLOEXEC)) < 0) {
        int e = errno;
        free(s->path);
        s->path = NULL;
        dp_err_sys(err, dp_err_code_for_errno(e), e, "unable to create a spool file in '%s' for %s", tmp,
                   po->what ? po->what : po->path);
        goto fail;
    }
    s->argv = copy_vec(po->argv, s->path);
    s->env = copy_vec(po->env_add, NULL);
    s->tool = dp_strdup(po->path);
    s->what = dp_strdup(po->what ? po->what : po->path);
    if (!s->argv || !s->env || !s->tool || !s->what) {
        dp_err_set(err, DUMPER_ENOMEM, "out of memory");
        goto fail;
    }
    return &s->base;
fail:
    spool_destroy(&s->base);
    free(s);
    return NULL;
}
