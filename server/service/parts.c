/* parts.c - the staging area of local uploads (see parts.h). */
#include "service/parts.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "core/util.h"
#include "domain/names.h"
#include "service/uploads.h"

struct sd_part_upload {
    sd_ctx *ctx; /* the thread's: begin and finish run in the request's thread */
    int64_t app, backup;
    int fd;
    int part;
    char *dir, *tmp, *final;
    EVP_MD_CTX *md;
    uint64_t got, expect;
    int write_err;
};

static char *parts_dir(const sd_ctx *ctx, int64_t backup)
{
    return dp_asprintf("%s/parts/b_%" PRId64, ctx->cfg->data_dir, backup);
}

/*
 * Concurrency. Several parts of one backup may upload at once (and a fail, a lost job or a commit may remove
 * the directory meanwhile), in this process or another sharing the data directory. Every step that looks at
 * or changes the directory holds an flock on it: a new part checks the bytes already there plus its own
 * against max_filesize and creates its temporary file at its full declared length (ftruncate), so the next
 * part's check counts it; a finished part renames itself into place only after seeing the backup still
 * uploading, and the removal takes the same lock, so a part racing a fail never recreates the directory
 * nor leaves it behind. A directory removed while a part waited for the lock has no links left: refused.
 */
static int dir_lock(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    struct stat sb;
    if (fd < 0)
        return -1;
    if (flock(fd, LOCK_EX) < 0 || fstat(fd, &sb) < 0 || sb.st_nlink == 0) {
        close(fd);
        errno = ENOENT;
        return -1;
    }
    return fd;
}

/* The bytes in the backup's directory (finished parts, and parts being uploaded at their declared length)
 * but the finished part `part`, which a new upload of it replaces; UINT64_MAX when it cannot be read. */
static uint64_t dir_bytes(int dfd, int part)
{
    uint64_t n = 0;
    int fd = dup(dfd);
    DIR *dh = fd >= 0 ? fdopendir(fd) : NULL;
    if (!dh) {
        if (fd >= 0)
            close(fd);
        return UINT64_MAX;
    }
    struct dirent *de;
    while ((de = readdir(dh))) {
        struct stat sb;
        const char *name = de->d_name;
        if (!strcmp(name, ".") || !strcmp(name, "..") ||
            (sd_part_number_scan(&name, SD_MAX_PARTS) == part && !*name))
            continue;
        if (fstatat(dirfd(dh), de->d_name, &sb, 0) == 0)
            n += (uint64_t)sb.st_size;
    }
    closedir(dh);
    return n;
}

int sd_part_begin(sd_ctx *ctx, int64_t app, int64_t backup, int part, uint64_t length, sd_part_upload **out,
                  sd_status *st)
{
    const sd_config *cfg = ctx->cfg;
    *out = NULL;
    if (length > (uint64_t)cfg->max_part_size)
        return sd_fail(st, SD_TOO_LARGE, "part is larger than max_part_size (%" PRId64 " bytes)", cfg->max_part_size);
    if (sd_ctx_presigned(ctx))
        return sd_fail(st, SD_CONFLICT, "storage is S3: upload parts to presigned URLs");
    if (sd_backup_part_allowed(ctx, app, backup, st))
        return -1;
    sd_part_upload *u = calloc(1, sizeof *u);
    char *parent = dp_asprintf("%s/parts", cfg->data_dir);
    if (!u || !parent || !(u->dir = parts_dir(ctx, backup))) {
        free(parent);
        sd_part_free(u);
        return sd_fail(st, SD_INTERNAL, "out of memory");
    }
    mkdir(parent, 0700);
    free(parent);
    mkdir(u->dir, 0700);
    unsigned rnd = (unsigned)dp_mono_ms() ^ (unsigned)(uintptr_t)u;
    *u = (sd_part_upload){.ctx = ctx, .app = app, .backup = backup, .fd = -1, .part = part, .expect = length,
                          .dir = u->dir};
    u->tmp = dp_asprintf("%s/.%d.tmp-%d-%x", u->dir, part, (int)getpid(), rnd);
    u->final = dp_asprintf("%s/%d", u->dir, part);
    u->md = EVP_MD_CTX_new();
    int dfd = dir_lock(u->dir), rc = 0;
    uint64_t used = 0;
    if (dfd < 0) {
        rc = sd_fail(st, SD_CONFLICT, "backup 'b_%" PRId64 "' is not uploading", backup);
    } else if ((used = dir_bytes(dfd, part)) == UINT64_MAX || used + length > (uint64_t)cfg->max_filesize) {
        rc = sd_fail(st, SD_TOO_LARGE, "the parts would exceed max_filesize (%" PRId64 " bytes)", cfg->max_filesize);
    } else if (!u->tmp || !u->final || !u->md || EVP_DigestInit_ex(u->md, EVP_sha256(), NULL) != 1 ||
               (u->fd = open(u->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0 ||
               ftruncate(u->fd, (off_t)length) < 0) {
        dp_warn("part upload: unable to create '%s': %s", u->tmp ? u->tmp : "?", strerror(errno));
        rc = sd_fail(st, SD_INTERNAL, "unable to store the part");
    }
    if (dfd >= 0)
        close(dfd); /* unlocks */
    if (rc) {
        sd_part_free(u);
        return rc;
    }
    *out = u;
    return 0;
}

void sd_part_write(sd_part_upload *u, const void *p, size_t n)
{
    u->got += n;
    if (u->got > u->expect)
        u->write_err = 1;
    else if (!u->write_err) {
        if (dp_write_all(u->fd, p, n) < 0)
            u->write_err = 1;
        EVP_DigestUpdate(u->md, p, n);
    }
}

int sd_part_finish(sd_part_upload *u, const char *want_sha, uint64_t *size, char sha[65], sd_status *st)
{
    unsigned char d[32];
    unsigned dl = 0;
    /* A chunked body may differ from the Content-Length header (libmicrohttpd then ignores the header): the
     * client's error, before any of ours (a body too long stopped being written). */
    if (u->got != u->expect)
        return sd_fail(st, SD_INVALID, "part body has %" PRIu64 " bytes, its Content-Length says %" PRIu64, u->got,
                       u->expect);
    if (u->write_err || fsync(u->fd) < 0)
        return sd_fail(st, SD_INTERNAL, "unable to store the part");
    close(u->fd);
    u->fd = -1;
    EVP_DigestFinal_ex(u->md, d, &dl);
    for (int i = 0; i < 32; i++)
        snprintf(sha + 2 * i, 3, "%02x", d[i]);
    if (want_sha && strcasecmp(want_sha, sha))
        return sd_fail(st, SD_VERIFY_FAILED, "part %d has sha256 %s, the header says %.64s", u->part, sha, want_sha);
    /* Into place only while the backup still uploads (a fail may have come meanwhile), under the lock. */
    int dfd = dir_lock(u->dir);
    if (dfd < 0)
        return sd_fail(st, SD_CONFLICT, "backup 'b_%" PRId64 "' is not uploading", u->backup);
    int rc = sd_backup_part_allowed(u->ctx, u->app, u->backup, st);
    if (!rc && rename(u->tmp, u->final) < 0)
        rc = sd_fail(st, SD_INTERNAL, "unable to store the part");
    if (rc) {
        unlink(u->tmp);
        rmdir(u->dir); /* only when empty: the removal after a fail may have run while this part waited */
        close(dfd);
        return rc;
    }
    close(dfd);
    free(u->tmp);
    u->tmp = NULL;
    *size = u->got;
    return 0;
}

void sd_part_free(sd_part_upload *u)
{
    if (!u)
        return;
    if (u->fd >= 0)
        close(u->fd);
    if (u->tmp)
        unlink(u->tmp);
    free(u->tmp);
    free(u->final);
    free(u->dir);
    EVP_MD_CTX_free(u->md);
    free(u);
}

FILE *sd_part_open(const sd_ctx *ctx, int64_t backup, int n)
{
    char *p = dp_asprintf("%s/parts/b_%" PRId64 "/%d", ctx->cfg->data_dir, backup, n);
    FILE *f = p ? fopen(p, "rbe") : NULL;
    free(p);
    return f;
}

int sd_part_exists(const sd_ctx *ctx, int64_t backup, int n)
{
    char *p = dp_asprintf("%s/parts/b_%" PRId64 "/%d", ctx->cfg->data_dir, backup, n);
    int ok = p && access(p, R_OK) == 0;
    free(p);
    return ok;
}

void sd_parts_remove(const sd_ctx *ctx, int64_t backup)
{
    char *dir = parts_dir(ctx, backup);
    int dfd = dir ? dir_lock(dir) : -1, fd = dfd >= 0 ? dup(dfd) : -1;
    DIR *dh = fd >= 0 ? fdopendir(fd) : NULL;
    if (!dh && fd >= 0)
        close(fd);
    if (dh) {
        struct dirent *de;
        while ((de = readdir(dh)))
            if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
                unlinkat(dirfd(dh), de->d_name, 0);
        closedir(dh);
        rmdir(dir);
    }
    if (dfd >= 0)
        close(dfd);
    free(dir);
}
