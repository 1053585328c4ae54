/* tool.c - the restore sink over a client tool and the password rule shared by the SQL sources. */
#include "source/tool.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/util.h"

typedef struct {
    dp_sink base;
    dp_proc *p;
    char *secret;
    char *tmpfile;
} tool_sink;

void dp_tool_unlink_secret_file(char **path)
{
    if (*path) {
        unlink(*path);
        free(*path);
        *path = NULL;
    }
}

static int ts_write(dp_sink *s, const void *p, size_t n, dp_err *err)
{
    return dp_proc_write(((tool_sink *)s)->p, p, n, err);
}

static int ts_end(dp_sink *s, dp_err *err)
{
    tool_sink *t = (tool_sink *)s;
    int rc = dp_proc_finish(t->p, DUMPER_ESOURCE, t->secret, err);
    if (rc != DUMPER_EINTR)
        dp_tool_unlink_secret_file(&t->tmpfile);
    return rc;
}

static int ts_commit(dp_sink *s, dp_err *err) { return 0; }

static void ts_abort(dp_sink *s)
{
    tool_sink *t = (tool_sink *)s;
    dp_proc_kill(t->p);
    dp_tool_unlink_secret_file(&t->tmpfile);
}

static void ts_destroy(dp_sink *s)
{
    tool_sink *t = (tool_sink *)s;
    dp_proc_free(t->p);
    dp_tool_unlink_secret_file(&t->tmpfile);
    dp_free_secret(t->secret);
}

static const dp_sink_ops tool_ops = {.name = "tool-restore",
                                     .write = ts_write,
                                     .end = ts_end,
                                     .commit = ts_commit,
                                     .abort = ts_abort,
                                     .destroy = ts_destroy};

dp_sink *dp_tool_sink_new(dp_proc *p, char *secret, char *tmpfile)
{
    tool_sink *t = calloc(1, sizeof *t);
    if (!t) {
        dp_proc_free(p);
        dp_free_secret(secret);
        dp_tool_unlink_secret_file(&tmpfile);
        return NULL;
    }
    dp_sink_init(&t->base, &tool_ops, NULL);
    t->p = p;
    t->secret = secret;
    t->tmpfile = tmpfile;
    return &t->base;
}

char *dp_tool_password(const dp_dburl *url, const char *const *env_names)
{
    if (url->password)
        return dp_strdup(url->password);
    const char *q = dp_dburl_param(url, "password");
    if (q)
        return dp_strdup(q);
    for (; env_names && *env_names; env_names++) {
        const char *v = getenv(*env_names);
        if (v && *v)
            return dp_strdup(v);
    }
    return NULL;
}
