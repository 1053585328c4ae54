/* parts.c - the staging area of local uploads (see parts.h). */
#include "service/parts.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "core/util.h"
#include "domain/names.h"
#include "service/uploads.h"

struct sd_part_upload {
    int fd;
    int part;
    char *tmp, *final;
    EVP_MD_CTX *md;
    uint64_t got, expect;
    int write_err;
};

static char *parts_dir(const sd_ctx *ctx, int64_t backup)
{
    return dp_asprintf("%s/parts/b_%" PRId64, ctx->cfg->data_dir, backup);
}

/* The bytes of the backup's parts other than `part`. */
static uint64_t other_parts(const char *dir, int part)
{
    uint64_t others = 0;
    DIR *dh = dir ? opendir(dir) : NULL;
    if (!dh)
        return 0;
    struct dirent *de;
    while ((de = readdir(dh))) {
        struct stat sb;
        const char *name = de->d_name;
        if (name[0] == '.' || (sd_part_number_scan(&name, SD_MAX_PARTS) == part && !*name))
            continue;
        if (fstatat(dirfd(dh), de->d_name, &sb, 0) == 0)
            others += (uint64_t)sb.st_size;
    }
    closedir(dh);
    return others;
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
    char *dir = parts_dir(ctx, backup), *parent = dp_asprintf("%s/parts", cfg->data_dir);
    if (other_parts(dir, part) + length > (uint64_t)cfg->max_filesize) {
        free(dir);
        free(parent);
        return sd_fail(st, SD_TOO_LARGE, "the parts would exceed max_filesize (%" PRId64 " bytes)", cfg->max_filesize);
    }
    if (parent)
        mkdir(parent, 0700);
    free(parent);
    if (dir)
        mkdir(dir, 0700);
    sd_part_upload *u = calloc(1, sizeof *u);
    if (u) {
        unsigned rnd = (unsigned)dp_mono_ms() ^ (unsigned)(uintptr_t)u;
        u->fd = -1;
        u->part = part;
        u->expect = length;
        u->tmp = dir ? dp_asprintf("%s/.%d.tmp-%d-%x", dir, part, (int)getpid(), rnd) : NULL;
        u->final = dir ? dp_asprintf("%s/%d", dir, part) : NULL;
        u->md = EVP_MD_CTX_new();
    }
    free(dir);
    if (!u || !u->tmp || !u->final || !u->md || EVP_DigestInit_ex(u->md, EVP_sha256(), NULL) != 1 ||
        (u->fd = open(u->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0) {
        dp_warn("part upload: unable to create '%s': %s", u && u->tmp ? u->tmp : "?", strerror(errno));
        sd_part_free(u);
        return sd_fail(st, SD_INTERNAL, "unable to store the part");
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
    if (rename(u->tmp, u->final) < 0)
        return sd_fail(st, SD_INTERNAL, "unable to store the part");
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
    DIR *dh = dir ? opendir(dir) : NULL;
    if (dh) {
        struct dirent *de;
        while ((de = readdir(dh)))
            if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
                unlinkat(dirfd(dh), de->d_name, 0);
        closedir(dh);
        rmdir(dir);
    }
    free(dir);
}
