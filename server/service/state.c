/* state.c - a consistent copy of dumperd's state store (see state.h). */
#include "service/state.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/util.h"

/* fsync a file or a directory by path: 0 or -1. */
static int sync_path(const char *path, int dir)
{
    int fd = open(path, (dir ? O_RDONLY | O_DIRECTORY : O_RDWR) | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

int sd_state_backup(sd_ctx *ctx, const char *out, sd_status *st)
{
    if (sd_db_is_pg(ctx->db))
        return sd_fail(st, SD_INVALID,
                       "backup-state copies a SQLite state store; back up a PostgreSQL store with pg_dump or"
                       " dumper backup postgresql://...");
    struct stat sb;
    if (!lstat(out, &sb))
        return sd_fail(st, SD_CONFLICT, "'%s' exists; backup-state never overwrites a file", out);
    char *tmp = dp_asprintf("%s.partial-%ld", out, (long)getpid());
    if (!tmp)
        return sd_fail(st, SD_INTERNAL, "out of memory");
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    int rc = 0;
    if (fd < 0) {
        rc = sd_fail(st, SD_INTERNAL, "unable to create '%s': %s", tmp, strerror(errno));
        free(tmp);
        return rc;
    }
    close(fd);
    dp_err err = {0};
    if (sd_db_snapshot(ctx->db, tmp, &err))
        rc = sd_fail_code(st, SD_INTERNAL, err.code, "%s", err.msg);
    else if (sync_path(tmp, 0))
        rc = sd_fail(st, SD_INTERNAL, "unable to sync '%s': %s", tmp, strerror(errno));
    else if (link(tmp, out)) /* never replaces an OUT created meanwhile, unlike rename */
        rc = sd_fail(st, errno == EEXIST ? SD_CONFLICT : SD_INTERNAL, "unable to create '%s': %s", out,
                     strerror(errno));
    unlink(tmp);
    if (!rc) {
        char *dir = dp_strdup(out), *slash = dir ? strrchr(dir, '/') : NULL;
        if (dir && slash)
            *(slash == dir ? slash + 1 : slash) = 0;
        sync_path(dir && slash ? dir : ".", 1);
        free(dir);
    }
    static const char *const sfx[] = {"-wal", "-shm", "-journal"}; /* none should exist; never leave one */
    for (int i = 0; i < 3; i++) {
        char *side = dp_asprintf("%s%s", tmp, sfx[i]);
        if (side)
            unlink(side);
        free(side);
    }
    free(tmp);
    return rc;
}
