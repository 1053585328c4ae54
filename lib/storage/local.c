/*
 * local.c - the local directory storage driver (the default).
 *
 * Atomicity: an object is written to a hidden partial file in the same directory
 * (".<name>.partial-<pid>-<random>"), fsynced on end, and published on commit by a rename that
 * refuses to replace an existing file, followed by an fsync of the directory. A crash or kill at
 * any point leaves either nothing under the final name or the complete, durable object. Hidden
 * partial files are never listed. Files are created 0600: backups hold the whole database.
 *
 * Stale partials: a killed writer leaves its hidden partial file behind. A writer holds an open
 * file description lock (F_OFD_SETLK, a read lock through a second descriptor) on its partial
 * until it commits or aborts; the kernel drops it when the process dies, however it dies. Each new
 * writer sweeps its directory: a ".<name>.partial-<pid>-<8 hex>" file is removed when nobody holds
 * its lock, it is older than a minute (a writer locks right after creating its file; the minute also
 * covers a writer on another host of a network filesystem without lock support) and its pid is no
 * live process here (an older dumper that took no lock) unless it is older than a day. Filesystems
 * where the lock cannot be tested are never swept.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/util.h"
#include "storage/storage.h"

typedef struct {
    dp_storage base;
    char *root;
} local_storage;

typedef struct {
    dp_sink base;
    int fd;
    int lockfd; /* holds the partial's lock until commit or abort (see above) */
    char *partial, *final, *shown;
    unsigned char *dbuf; /* NULL: plain buffered writes */
    size_t dhave;
    int direct;          /* O_DIRECT is set on fd */
} local_writer;

#define DIRECT_ALIGN 4096u       /* memory, offset and length: a multiple of any logical block size */
#define DIRECT_CHUNK (1u << 20)

#define STALE_MIN_AGE 60        /* seconds */
#define STALE_PID_AGE (24 * 3600) /* a partial this old is stale even when its pid runs */

static int lock_whole(int fd, int cmd, short type, struct flock *fl)
{
    memset(fl, 0, sizeof *fl);
    fl->l_type = type;
    fl->l_whence = SEEK_SET; /* l_start = l_len = 0: the whole file; l_pid 0 as OFD locks want */
    return fcntl(fd, cmd, fl);
}

/* ".<name>.partial-<pid>-<8 hex digits>": the pid, or -1. */
static long partial_pid(const char *n)
{
    const char *p = strstr(n, ".partial-");
    if (n[0] != '.' || !p || p == n + 1)
        return -1;
    while (strstr(p + 1, ".partial-"))
        p = strstr(p + 1, ".partial-");
    char *end;
    long pid = strtol(p + 9, &end, 10);
    if (end == p + 9 || pid <= 0 || *end != '-' || strlen(end + 1) != 8 || strspn(end + 1, "0123456789abcdef") != 8)
        return -1;
    return pid;
}

/* pid is a process here that has not exited (a zombie has: its files, and locks, are gone). */
static int pid_running(long pid)
{
    if (kill((pid_t)pid, 0) < 0 && errno != EPERM)
        return 0;
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    buf[n > 0 ? n : 0] = 0;
    const char *st = strrchr(buf, ')'); /* "pid (comm) S ...": comm may hold anything */
    return !(st && st[1] == ' ' && (st[2] == 'Z' || st[2] == 'X'));
}

static void sweep_stale(const char *dir, const char *mine)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    time_t now = time(NULL);
    struct dirent *de;
    while ((de = readdir(d))) {
        long pid = partial_pid(de->d_name);
        struct stat sb;
        struct flock fl;
        if (pid < 0 || (mine && !strcmp(de->d_name, mine)) ||
            fstatat(dirfd(d), de->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(sb.st_mode) ||
            now - sb.st_mtime < STALE_MIN_AGE)
            continue;
        int fd = openat(dirfd(d), de->d_name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0)
            continue;
        int held = lock_whole(fd, F_OFD_GETLK, F_WRLCK, &fl) < 0 || fl.l_type != F_UNLCK;
        close(fd);
        int running = pid_running(pid);
        if (held || (running && now - sb.st_mtime < STALE_PID_AGE))
            continue;
        if (unlinkat(dirfd(d), de->d_name, 0) == 0)
            dp_info("removed '%s/%s', left by a backup that did not finish (pid %ld)", dir, de->d_name, pid);
    }
    closedir(d);
}

static int local_accepts(const char *loc) { return strstr(loc, "://") == NULL || strncmp(loc, "file://", 7) == 0; }

static int mkdir_p(const char *path, mode_t mode)
{
    char *p = strdup(path);
    if (!p)
        return -1;
    for (char *c = p + 1; *c; c++) {
        if (*c == '/') {
            *c = 0;
            if (mkdir(p, mode) < 0 && errno != EEXIST) {
                free(p);
                return -1;
            }
            *c = '/';
        }
    }
    int r = mkdir(p, mode);
    free(p);
    return r < 0 && errno != EEXIST ? -1 : 0;
}

static void local_close(dp_storage *st)
{
    local_storage *l = (local_storage *)st;
    free(l->root);
    free(l->base.location);
    free(l);
}

static int local_open(const char *location, const dp_storage_opts *opts, int create, dp_storage **out, dp_err *err)
{
    const char *path = strncmp(location, "file://", 7) == 0 ? location + 7 : location;
    if (!*path)
        return dp_err_set(err, DUMPER_EUSAGE, "empty backup directory path");
    struct stat sb;
    if (stat(path, &sb) < 0) {
        if (errno != ENOENT || !create)
            return dp_err_sys(err, errno == ENOENT ? DUMPER_ENOENT : DUMPER_EIO, errno,
                              "unable to open backup directory '%s'", path);
        if (mkdir_p(path, 0700) < 0)
            return dp_err_sys(err, dp_err_code_for_errno(errno) == DUMPER_ENOSPC ? DUMPER_ENOSPC : DUMPER_EIO, errno,
                              "unable to create backup directory '%s'", path);
    } else if (!S_ISDIR(sb.st_mode)) {
        return dp_err_set(err, DUMPER_EUSAGE, "backup location '%s' is not a directory", path);
    }
    if (access(path, create ? (W_OK | X_OK) : (R_OK | X_OK)) < 0)
        return dp_err_sys(err, DUMPER_EIO, errno, "backup directory '%s' is not %s", path,
                          create ? "writable" : "readable");
    local_storage *l = calloc(1, sizeof *l);
    if (!l)
        return dp_err_set(err, DUMPER_ENOMEM, "out of memory");
    l->base.drv = &dp_storage_local;
    l->base.location = strdup(path);
    l->root = strdup(path);
    if (!l->root || !l->base.location) {
        local_close(&l->base);
        return dp_err_set(err, DUMPER_ENOMEM, "out of memory");
    }
    *out = &l->base;
    return 0;
}

static char *full_path(local_storage *l, const char *key) { return dp_asprintf("%s/%s", l->root, key); }

/* Clears O_DIRECT: the rest of the file is written through the page cache. */
static int direct_off(local_writer *w)
{
    int fl = fcntl(w->fd, F_GETFL);
    w->direct = 0;
    return fl < 0 ? -1 : fcntl(w->fd, F_SETFL, fl & ~O_DIRECT);
}

/* write(2) all of it; EINVAL with O_DIRECT (a filesystem that accepted the flag but not the I/O, an
 * unaligned short write before it) falls back to buffered writes and retries. */
static int lw_put(local_writer *w, const unsigned char *p, size_t n)
{
    while (n > 0) {
        ssize_t r = write(w->fd, p, n);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EINVAL && w->direct) {
                if (direct_off(w) < 0)
                    return -1;
                continue;
            }
            return -1;
        }
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

static int lw_write(dp_sink *s, const void *p, size_t n, dp_err *err)
{
    local_writer *w = (local_writer *)s;
    const unsigned char *b = p;
    int r = 0;
    if (!w->dbuf) {
        r = dp_write_all(w->fd, p, n);
    } else {
        while (r == 0 && n > 0) {
            size_t k = DIRECT_CHUNK - w->dhave < n ? DIRECT_CHUNK - w->dhave : n;
            memcpy(w->dbuf + w->dhave, b, k);
            w->dhave += k;
            b += k;
            n -= k;
            if (w->dhave == DIRECT_CHUNK) {
                r = lw_put(w, w->dbuf, DIRECT_CHUNK);
                w->dhave = 0;
            }
        }
    }
    if (r < 0)
        return dp_err_sys(err, dp_err_code_for_errno(errno), errno, "unable to write '%s'", w->shown);
    return 0;
}

static int lw_end(dp_sink *s, dp_err *err)
{
    local_writer *w = (local_writer *)s;
    if (w->dbuf && w->dhave > 0) {
        size_t whole = w->dhave & ~(size_t)(DIRECT_ALIGN - 1);
        int r = whole ? lw_put(w, w->dbuf, whole) : 0;
        if (r == 0 && w->dhave > whole && (!w->direct || direct_off(w) == 0))
            r = lw_put(w, w->dbuf + whole, w->dhave - whole);
        w->dhave = 0;
        if (r < 0)
            return dp_err_sys(err, dp_err_code_for_errno(errno), errno, "unable to write '%s'", w->shown);
    }
    if (fsync(w->fd) < 0)
        return dp_err_sys(err, dp_err_code_for_errno(errno), errno, "unable to fsync '%s'", w->shown);
    if (close(w->fd) < 0) {
        w->fd = -1;
        return dp_err_sys(err, dp_err_code_for_errno(errno), errno, "unable to close '%s'", w->shown);
    }
    w->fd = -1;
    return 0;
}

static int lw_commit(dp_sink *s, dp_err *err)
{
    local_writer *w = (local_writer *)s;
    int r = renameat2(AT_FDCWD, w->partial, AT_FDCWD, w->final, RENAME_NOREPLACE);
    if (r < 0 && (errno == EINVAL || errno == ENOSYS)) {
        /* Filesystem without RENAME_NOREPLACE: link() also refuses to replace. */
        r = link(w->partial, w->final);
        if (r == 0)
            unlink(w->partial);
    }
    if (r < 0) {
        int e = errno;
        unlink(w->partial);
        if (e == EEXIST)
            return dp_err_set(err, DUMPER_EEXIST, "backup '%s' already exists", w->shown);
        return dp_err_sys(err, DUMPER_EIO, e, "unable to rename '%s' into place", w->shown);
    }
    if (dp_fsync_dir_of(w->final) < 0) {
        /* the commit failed: take the name back rather than leave a backup that may not survive */
        int e = errno;
        unlink(w->final);
        return dp_err_sys(err, DUMPER_EIO, e, "unable to fsync the directory of '%s'", w->shown);
    }
    return 0;
}

static void lw_abort(dp_sink *s)
{
    local_writer *w = (local_writer *)s;
    if (w->fd >= 0) {
        close(w->fd);
        w->fd = -1;
    }
    if (w->partial)
        unlink(w->partial);
}

static void lw_destroy(dp_sink *s)
{
    local_writer *w = (local_writer *)s;
    if (w->fd >= 0)
        close(w->fd);
    if (w->lockfd >= 0)
        close(w->lockfd); /* after the rename or unlink: the lock covered the partial until then */
    free(w->partial);
    free(w->final);
    free(w->shown);
    free(w->dbuf);
}

static const dp_sink_ops lw_ops = {
    .name = "local", .write = lw_write, .end = lw_end, .commit = lw_commit, .abort = lw_abort, .destroy = lw_destroy};

/* Local block filesystems where direct writes are well trodden. Not elsewhere: on NFS or SMB each
 * direct write waits for the server (buffered writes go out in parallel), tmpfs has no disk to spare,
 * FUSE and ZFS differ by version. */
static int direct_fs(long type)
{
    return type == 0xEF53 /* ext2/3/4 */ || type == 0x58465342 /* XFS */;
}

/* O_DIRECT and its aligned buffer, where the filesystem takes the flag (see the top). */
static void direct_on(local_writer *w)
{
    const char *e = getenv("DUMPER_DIRECT_IO");
    struct statfs fs;
    void *buf = NULL;
    if ((e && strcmp(e, "0") == 0) || fstatfs(w->fd, &fs) < 0 || !direct_fs(fs.f_type) ||
        posix_memalign(&buf, DIRECT_ALIGN, DIRECT_CHUNK) != 0)
        return;
    int fl = fcntl(w->fd, F_GETFL);
    if (fl < 0 || fcntl(w->fd, F_SETFL, fl | O_DIRECT) < 0) {
        free(buf);
        return;
    }
    w->dbuf = buf;
    w->direct = 1;
}

static int local_writer_new(dp_storage *st, const char *key, dp_sink **out, dp_err *err)
{
    local_storage *l = (local_storage *)st;
    local_writer *w = calloc(1, sizeof *w);
    if (!w)
        return dp_err_set(err, DUMPER_ENOMEM, "out of memory");
    dp_sink_init(&w->base, &lw_ops, NULL);
    w->fd = -1;
    w->lockfd = -1;
    w->final = full_path(l, key);
    w->shown = dp_strdup(w->final);
    const char *slash = strrchr(key, '/');
    char *dir = slash ? dp_asprintf("%s/%.*s", l->root, (int)(slash - key), key) : dp_strdup(l->root);
    const char *base = slash ? slash + 1 : key;
    unsigned rnd = (unsigned)(dp_mono_ms() ^ ((uint64_t)getpid() << 16) ^ (uintptr_t)w);
    w->partial = dir ? dp_asprintf("%s/.%s.partial-%ld-%08x", dir, base, (long)getpid(), rnd) : NULL;
    int rc = 0;
    if (!w->final || !w->partial || !w->shown) {
        rc = dp_err_set(err, DUMPER_ENOMEM, "out of memory");
    } else if (slash && mkdir_p(dir, 0700) < 0) {
        rc = dp_err_sys(err, dp_err_code_for_errno(errno), errno, "unable to create directory '%s'", dir);
    } else if (access(w->final, F_OK) == 0) {
        rc = dp_err_set(err, DUMPER_EEXIST, "backup '%s' already exists", w->shown);
    } else if ((w->fd = open(w->partial, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0) {
        rc = dp_err_sys(err, errno == ENOSPC ? DUMPER_ENOSPC : DUMPER_EIO, errno, "unable to create '%s'", w->shown);
        free(w->partial);
        w->partial = NULL;
    } else {
        struct flock fl;
        w->lockfd = open(w->partial, O_RDONLY | O_CLOEXEC);
        if (w->lockfd >= 0 && lock_whole(w->lockfd, F_OFD_SETLK, F_RDLCK, &fl) < 0) {
            close(w->lockfd); /* no lock here: a sweep then goes by the age and the pid alone */
            w->lockfd = -1;
        }
        sweep_stale(dir, strrchr(w->partial, '/') + 1);
        direct_on(w);
    }
    free(dir);
    if (rc) {
        lw_destroy(&w->base);
        free(w);
        return rc;
    }
    *out = &w->base;
    return 0;
}

static int local_read(dp_storage *st, const char *key, dp_sink *to, dp_err *err)
{
    char *path = full_path((local_storage *)st, key);
    if (!path)
        return dp_err_set(err, DUMPER_ENOMEM, "out of memory");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int rc = dp_err_sys(err, errno == ENOENT ? DUMPER_ENOENT : DUMPER_EIO, errno, "unable to open '%s'", path);
        free(path);
        return rc;
    }
    posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    int rc = dp_sink_pump_fd(fd, to, path, err);
    close(fd);
    free(path);
    return rc;
}

static int local_stat(dp_storage *st, const char *key, dp_object_info *info, dp_err *err)
{
    char *path = full_path((local_storage *)st, key);
    if (!path)
        return dp_err_set(err, DUMPER_ENOMEM, "out of memory");
    struct stat sb;
    int rc = 0;
    if (stat(path, &sb) < 0)
        rc = dp_err_sys(err, errno == ENOENT ? DUMPER_ENOENT : DUMPER_EIO, errno, "unable to open '%s'", path);
    else if (!S_ISREG(sb.st_mode))
        rc = dp_err_set(err, DUMPER_ENOENT, "'%s' is not a regular file", path);
    else {
        info->key = strdup(key);
        info->size = (uint64_t)sb.st_size;
        info->mtime_ms = (int64_t)sb.st_mtim.tv_sec * 1000 + sb.st_mtim.tv_nsec / 1000000;
    }
    free(path);
    return rc;
}

typedef struct {
    dp_object_info *items;
    size_t n, cap;
} list_acc;

static int walk(const char *root, const char *rel, list_acc *acc, int depth, dp_err *err)
{
    char *dirpath = rel ? dp_asprintf("%s/%s", root, rel) : dp_strdup(root);
    if (!dirpath)
        return dp_err_set(err, DUMPER_ENOMEM, "out of memory");
    DIR *d = opendir(dirpath);
    if (!d) {
        int rc = dp_err_sys(err, DUMPER_EIO, errno, "unable to list '%s'", dirpath);
        free(dirpath);
        return rc;
    }
    int rc = 0;
    struct dirent *de;
    while (!rc && (de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue; /* hidden: partial files, ., .. */
        char *key = rel ? dp_asprintf("%s/%s", rel, de->d_name) : dp_strdup(de->d_name);
        char *p = key ? dp_asprintf("%s/%s", root, key) : NULL;
        struct stat sb;
        if (!key || !p) {
            rc = dp_err_set(err, DUMPER_ENOMEM, "out of memory");
        } else if (lstat(p, &sb) == 0 && S_ISDIR(sb.st_mode) && depth < 8) {
            rc = walk(root, key, acc, depth + 1, err);
        } else if (lstat(p, &sb) == 0 && S_ISREG(sb.st_mode)) {
            if (acc->n == acc->cap) {
                size_t cap = acc->cap ? acc->cap * 2 : 32;
                dp_object_info *g = realloc(acc->items, cap * sizeof *g);
                if (!g) {
                    rc = dp_err_set(err, DUMPER_ENOMEM, "out of memory");
                    free(key);
                    free(p);
                    break;
                }
                acc->items = g;
                acc->cap = cap;
            }
            acc->items[acc->n].key = key;
            acc->items[acc->n].size = (uint64_t)sb.st_size;
            acc->items[acc->n].mtime_ms = (int64_t)sb.st_mtim.tv_sec * 1000 + sb.st_mtim.tv_nsec / 1000000;
            acc->n++;
            key = NULL;
        }
        free(key);
        free(p);
    }
    closedir(d);
    free(dirpath);
    return rc;
}

static int local_list(dp_storage *st, dp_object_info **items, size_t *n, dp_err *err)
{
    list_acc acc = {0};
    int rc = walk(((local_storage *)st)->root, NULL, &acc, 0, err);
    if (rc) {
        dp_object_info_free(acc.items, acc.n);
        return rc;
    }
    *items = acc.items;
    *n = acc.n;
    return 0;
}

static int local_remove(dp_storage *st, const char *key, dp_err *err)
{
    char *path = full_path((local_storage *)st, key);
    if (!path)
        return dp_err_set(err, DUMPER_ENOMEM, "out of memory");
    int rc = 0;
    if (unlink(path) < 0 && errno != ENOENT)
        rc = dp_err_sys(err, DUMPER_EIO, errno, "unable to delete '%s'", path);
    free(path);
    return rc;
}

const dp_storage_driver dp_storage_local = {
    .name = "local",
    .features = DP_STORAGE_FEAT_LIST | DP_STORAGE_FEAT_REMOVE | DP_STORAGE_FEAT_READ,
    .accepts = local_accepts,
    .open = local_open,
    .writer = local_writer_new,
    .read = local_read,
    .stat = local_stat,
    .list = local_list,
    .remove = local_remove,
    .close = local_close,
};
