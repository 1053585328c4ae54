/* test_storage_local.c - the local directory storage: atomic publish (nothing under the final name
 * before commit, nothing at all after abort/free, no overwrite), listing ignores partials, key
 * validation, read/stat/remove, a real ENOSPC from a tiny tmpfs (root only; skipped otherwise), and direct
 * writes: exact contents at and around the block and chunk sizes, O_DIRECT on the partial's descriptor and
 * the written file left out of the page cache (cachestat), against DUMPER_DIRECT_IO=0 which leaves it in. */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/syscall.h>
#include <sys/mount.h>
#include <sys/vfs.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/util.h"
#include "storage/storage.h"

typedef struct {
    char dir[64];
    dp_storage *st;
} fixture;

static int rm_rf(const char *path)
{
    char *cmd = dp_asprintf("rm -rf '%s'", path);
    int r = system(cmd);
    free(cmd);
    return r;
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/dumper-unit-storage.XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    dp_err err = {0};
    if (dp_storage_open(f->dir, NULL, 0, &f->st, &err))
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    dp_storage_close(f->st);
    char *mnt = dp_asprintf("%s/small", f->dir); /* the ENOSPC test's tmpfs, if a failure left it */
    umount2(mnt, MNT_DETACH);
    free(mnt);
    rm_rf(f->dir);
    free(f);
    return 0;
}

/* Number of directory entries (hidden included, . and .. excluded); `name` gets the last one. */
static int count_entries(const char *dir, char *name, size_t namelen)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        n++;
        if (name)
            snprintf(name, namelen, "%s", de->d_name);
    }
    closedir(d);
    return n;
}

static int exists(const char *dir, const char *key)
{
    char *p = dp_asprintf("%s/%s", dir, key);
    struct stat sb;
    int r = stat(p, &sb) == 0;
    free(p);
    return r;
}

static void test_atomic_commit(void **state)
{
    fixture *f = *state;
    dp_err err = {0};
    dp_sink *w = NULL;
    assert_int_equal(dp_storage_writer(f->st, "app-1.sql.zst", &w, &err), 0);
    assert_int_equal(dp_sink_write(w, "hello ", 6, &err), 0);
    assert_int_equal(dp_sink_write(w, "world", 5, &err), 0);
    /* a hidden partial exists, the final name does not, and list shows nothing */
    char name[256];
    assert_int_equal(count_entries(f->dir, name, sizeof name), 1);
    assert_int_equal(name[0], '.');
    assert_non_null(strstr(name, "app-1.sql.zst"));
    assert_false(exists(f->dir, "app-1.sql.zst"));
    dp_object_info *items;
    size_t n;
    assert_int_equal(dp_storage_list(f->st, &items, &n, &err), 0);
    assert_int_equal(n, 0);
    dp_object_info_free(items, n);
    /* ended (fsynced) is still not published */
    assert_int_equal(dp_sink_end(w, &err), 0);
    assert_false(exists(f->dir, "app-1.sql.zst"));
    assert_int_equal(dp_sink_commit(w, &err), 0);
    dp_sink_free(w);
    assert_true(exists(f->dir, "app-1.sql.zst"));
    assert_int_equal(count_entries(f->dir, name, sizeof name), 1); /* the partial is gone */
    assert_string_equal(name, "app-1.sql.zst");
    /* 0600: backups hold whole databases */
    char *p = dp_asprintf("%s/app-1.sql.zst", f->dir);
    struct stat sb;
    assert_int_equal(stat(p, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    free(p);
    /* read it back */
    char *data;
    size_t len;
    assert_int_equal(dp_storage_get(f->st, "app-1.sql.zst", 1024, &data, &len, &err), 0);
    assert_int_equal(len, 11);
    assert_memory_equal(data, "hello world", 11);
    free(data);
    dp_object_info info;
    assert_int_equal(dp_storage_stat(f->st, "app-1.sql.zst", &info, &err), 0);
    assert_int_equal(info.size, 11);
    assert_string_equal(info.key, "app-1.sql.zst");
    assert_true(info.mtime_ms > 0);
    free(info.key);
    /* too small a cap */
    dp_err e2 = {0};
    assert_int_equal(dp_storage_get(f->st, "app-1.sql.zst", 5, &data, &len, &e2), DUMPER_ETOOLARGE);
    assert_null(data);
}

static void test_abort_and_free_leave_nothing(void **state)
{
    fixture *f = *state;
    dp_err err = {0};
    /* abort while open, abort after end, free while open, free after end, free after a failed commit */
    for (int mode = 0; mode < 4; mode++) {
        dp_sink *w = NULL;
        assert_int_equal(dp_storage_writer(f->st, "x.bin", &w, &err), 0);
        assert_int_equal(dp_sink_write(w, "data", 4, &err), 0);
        if (mode & 1)
            assert_int_equal(dp_sink_end(w, &err), 0);
        if (mode < 2)
            dp_sink_abort(w);
        dp_sink_free(w);
        assert_int_equal(count_entries(f->dir, NULL, 0), 0);
    }
    /* a writer never written to */
    dp_sink *w = NULL;
    assert_int_equal(dp_storage_writer(f->st, "empty.bin", &w, &err), 0);
    dp_sink_free(w);
    assert_int_equal(count_entries(f->dir, NULL, 0), 0);
    /* an empty object can be committed */
    assert_int_equal(dp_storage_put(f->st, "empty.bin", "", 0, &err), 0);
    assert_true(exists(f->dir, "empty.bin"));
}

static void test_no_overwrite(void **state)
{
    fixture *f = *state;
    dp_err err = {0};
    assert_int_equal(dp_storage_put(f->st, "k", "first", 5, &err), 0);
    /* an existing key is refused up front */
    dp_sink *w = NULL;
    assert_int_equal(dp_storage_writer(f->st, "k", &w, &err), DUMPER_EEXIST);
    assert_null(w);
    assert_non_null(strstr(err.msg, "already exists"));
    /* and at commit when another writer won the race */
    dp_err e1 = {0}, e2 = {0};
    dp_sink *a = NULL, *b = NULL;
    assert_int_equal(dp_storage_writer(f->st, "race", &a, &e1), 0);
    assert_int_equal(dp_storage_writer(f->st, "race", &b, &e2), 0);
    assert_int_equal(dp_sink_write(a, "AAAA", 4, &e1), 0);
    assert_int_equal(dp_sink_write(b, "BBBBBB", 6, &e2), 0);
    assert_int_equal(dp_sink_commit(a, &e1), 0);
    assert_int_equal(dp_sink_commit(b, &e2), DUMPER_EEXIST);
    assert_non_null(strstr(e2.msg, "already exists"));
    dp_sink_free(a);
    dp_sink_free(b);
    char *data;
    size_t len;
    dp_err e3 = {0};
    assert_int_equal(dp_storage_get(f->st, "race", 100, &data, &len, &e3), 0);
    assert_int_equal(len, 4);
    assert_memory_equal(data, "AAAA", 4);
    free(data);
    assert_int_equal(count_entries(f->dir, NULL, 0), 2); /* k and race; no partial left */
}

static int cmp_info(const void *a, const void *b)
{
    return strcmp(((const dp_object_info *)a)->key, ((const dp_object_info *)b)->key);
}

static void test_list(void **state)
{
    fixture *f = *state;
    dp_err err = {0};
    assert_int_equal(dp_storage_put(f->st, "b.sql", "12", 2, &err), 0);
    assert_int_equal(dp_storage_put(f->st, "a.sql", "1", 1, &err), 0);
    assert_int_equal(dp_storage_put(f->st, "sub/c.sql", "123", 3, &err), 0);
    /* an open writer (hidden partial), a stray hidden file and a hidden dir are not listed */
    dp_sink *w = NULL;
    assert_int_equal(dp_storage_writer(f->st, "d.sql", &w, &err), 0);
    assert_int_equal(dp_sink_write(w, "x", 1, &err), 0);
    char *hidden = dp_asprintf("%s/.stray", f->dir);
    FILE *fp = fopen(hidden, "w");
    fclose(fp);
    free(hidden);
    char *hdir = dp_asprintf("%s/.hdir", f->dir);
    mkdir(hdir, 0700);
    char *hfile = dp_asprintf("%s/in", hdir);
    fp = fopen(hfile, "w");
    fclose(fp);
    free(hfile);
    free(hdir);
    dp_object_info *items;
    size_t n;
    assert_int_equal(dp_storage_list(f->st, &items, &n, &err), 0);
    assert_int_equal(n, 3);
    qsort(items, n, sizeof *items, cmp_info);
    assert_string_equal(items[0].key, "a.sql");
    assert_int_equal(items[0].size, 1);
    assert_string_equal(items[1].key, "b.sql");
    assert_int_equal(items[1].size, 2);
    assert_string_equal(items[2].key, "sub/c.sql");
    assert_int_equal(items[2].size, 3);
    dp_object_info_free(items, n);
    dp_sink_free(w);
    /* remove; removing something absent is not an error */
    assert_int_equal(dp_storage_remove(f->st, "a.sql", &err), 0);
    assert_int_equal(dp_storage_remove(f->st, "a.sql", &err), 0);
    assert_false(exists(f->dir, "a.sql"));
    dp_object_info info;
    assert_int_equal(dp_storage_stat(f->st, "a.sql", &info, &err), DUMPER_ENOENT);
    dp_err e2 = {0};
    char *data;
    size_t len;
    assert_int_equal(dp_storage_get(f->st, "nope", 10, &data, &len, &e2), DUMPER_ENOENT);
}

static void test_key_validation(void **state)
{
    static const char *const good[] = {"a", "app-20261126T094500.123Z.sql.zst", "sub/x", "a.b", "..a", "a..", "...",
                                       ".hidden"};
    static const char *const bad[] = {"", "..", ".", "/x", "x/", "a//b", "a/../b", "../x", "a/..", "./a", "a/./b",
                                      "a\\b", "a\nb", "a\x01", "a\x7f"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        if (!dp_storage_key_valid(good[i]))
            fail_msg("'%s' should be a valid key", good[i]);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (dp_storage_key_valid(bad[i]))
            fail_msg("'%s' should be rejected", bad[i]);
    assert_false(dp_storage_key_valid(NULL));

    fixture *f = *state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        dp_err err = {0};
        dp_sink *w = NULL;
        assert_int_equal(dp_storage_writer(f->st, bad[i], &w, &err), DUMPER_EUSAGE);
        assert_null(w);
        assert_non_null(strstr(err.msg, "invalid backup name"));
        dp_err e2 = {0};
        assert_int_equal(dp_storage_remove(f->st, bad[i], &e2), DUMPER_EUSAGE);
        dp_err e3 = {0};
        dp_object_info info;
        assert_int_equal(dp_storage_stat(f->st, bad[i], &info, &e3), DUMPER_EUSAGE);
    }
    assert_int_equal(count_entries(f->dir, NULL, 0), 0);
}

static void test_open(void **state)
{
    fixture *f = *state;
    dp_err err = {0};
    dp_storage *st = NULL;
    char *missing = dp_asprintf("%s/a/b/c", f->dir);
    assert_int_equal(dp_storage_open(missing, NULL, 0, &st, &err), DUMPER_ENOENT);
    assert_null(st);
    assert_non_null(strstr(err.msg, missing));
    dp_err_clear(&err);
    assert_int_equal(dp_storage_open(missing, NULL, 1, &st, &err), 0); /* create makes the parents */
    struct stat sb;
    assert_int_equal(stat(missing, &sb), 0);
    assert_true(S_ISDIR(sb.st_mode));
    assert_string_equal(st->location, missing);
    assert_string_equal(st->drv->name, "local");
    dp_storage_close(st);
    /* file:// prefix */
    char *furl = dp_asprintf("file://%s", missing);
    assert_int_equal(dp_storage_open(furl, NULL, 0, &st, &err), 0);
    assert_string_equal(st->location, missing);
    dp_storage_close(st);
    free(furl);
    /* a file is not a directory */
    char *file = dp_asprintf("%s/file", f->dir);
    FILE *fp = fopen(file, "w");
    fclose(fp);
    assert_int_equal(dp_storage_open(file, NULL, 1, &st, &err), DUMPER_EUSAGE);
    assert_non_null(strstr(err.msg, "not a directory"));
    dp_err_clear(&err);
    /* create under a file fails */
    char *under = dp_asprintf("%s/sub", file);
    assert_int_equal(dp_storage_open(under, NULL, 1, &st, &err), DUMPER_EIO);
    dp_err_clear(&err);
    assert_int_equal(dp_storage_open("", NULL, 1, &st, &err), DUMPER_EUSAGE);
    dp_err_clear(&err);
    assert_int_equal(dp_storage_open("ftp://x/y", NULL, 1, &st, &err), DUMPER_EURL);
    free(under);
    free(file);
    free(missing);
}

static void test_split_path(void **state)
{
    static const struct {
        const char *path, *loc, *key;
    } ok[] = {
        {"/var/backups/a.sql.zst", "/var/backups", "a.sql.zst"},
        {"a.sql.zst", ".", "a.sql.zst"},
        {"/a.sql", "/", "a.sql"},
        {"rel/dir/a.sql", "rel/dir", "a.sql"},
        {"s3://bucket/prefix/a.sql", "s3://bucket/prefix", "a.sql"},
        {"s3://bucket/a.sql", "s3://bucket", "a.sql"},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        char *loc, *key;
        dp_err err = {0};
        if (dp_storage_split_path(ok[i].path, &loc, &key, &err))
            fail_msg("'%s': %s", ok[i].path, err.msg);
        assert_string_equal(loc, ok[i].loc);
        assert_string_equal(key, ok[i].key);
        free(loc);
        free(key);
    }
    static const char *const bad[] = {"/var/backups/", "dir/", "s3://bucket", "s3://bucket/"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *loc, *key;
        dp_err err = {0};
        if (dp_storage_split_path(bad[i], &loc, &key, &err) != DUMPER_EUSAGE)
            fail_msg("'%s' should not name a backup file", bad[i]);
        assert_null(loc);
        assert_null(key);
    }
}

/* ENOSPC from a real filesystem: a 256 KiB tmpfs. Needs root (mount); skipped otherwise. */
static void test_enospc(void **state)
{
    fixture *f = *state;
    char *mnt = dp_asprintf("%s/small", f->dir);
    mkdir(mnt, 0700);
    if (geteuid() != 0 || mount("tmpfs", mnt, "tmpfs", MS_NOSUID | MS_NODEV, "size=256k,mode=0700") != 0) {
        fprintf(stderr, "skipping ENOSPC test: cannot mount a tmpfs (%s)\n", strerror(errno));
        free(mnt);
        skip();
    }
    dp_err err = {0};
    dp_storage *st = NULL;
    assert_int_equal(dp_storage_open(mnt, NULL, 1, &st, &err), 0);
    dp_sink *w = NULL;
    assert_int_equal(dp_storage_writer(st, "big.sql.zst", &w, &err), 0);
    char block[4096];
    memset(block, 'x', sizeof block);
    int rc = 0;
    for (int i = 0; i < 1024 && !rc; i++) /* 4 MiB into 256 KiB */
        rc = dp_sink_write(w, block, sizeof block, &err);
    if (!rc)
        rc = dp_sink_end(w, &err);
    assert_int_equal(rc, DUMPER_ENOSPC);
    assert_non_null(strstr(err.msg, "No space left"));
    assert_non_null(strstr(err.msg, "big.sql.zst"));
    dp_sink_free(w);
    /* nothing left: no final file, no hidden partial */
    assert_int_equal(count_entries(mnt, NULL, 0), 0);
    /* the space is back: a small object still fits */
    dp_err e2 = {0};
    assert_int_equal(dp_storage_put(st, "small", "ok", 2, &e2), 0);
    dp_storage_close(st);
    umount2(mnt, MNT_DETACH);
    free(mnt);
}

/* The O_DIRECT bit of this process's writable descriptor on a ".partial-" file (fdinfo), or -1. */
static int partial_fd_direct(void)
{
    int found = -1;
    for (int fd = 3; fd < 1024 && found < 0; fd++) {
        char link[64], target[512];
        snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
        ssize_t n = readlink(link, target, sizeof target - 1);
        if (n <= 0)
            continue;
        target[n] = 0;
        int fl = fcntl(fd, F_GETFL);
        if (!strstr(target, ".partial-") || fl < 0 || (fl & O_ACCMODE) != O_WRONLY)
            continue;
        found = (fl & O_DIRECT) != 0;
    }
    return found;
}

/* Pages of the file in the page cache (cachestat(2), Linux 6.5: it maps and reads nothing, where
 * mincore needs a mapping, and valgrind reads any mapped file's start to look for ELF), or -1 where the
 * kernel, or valgrind, does not know the call. */
#ifndef SYS_cachestat
#define SYS_cachestat 451 /* the same on every architecture */
#endif
static long cached_pages(const char *path)
{
    struct {
        uint64_t off, len;
    } range = {0, 0}; /* len 0: to the end of the file */
    struct {
        uint64_t nr_cache, nr_dirty, nr_writeback, nr_evicted, nr_recently_evicted;
    } cs = {0};
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    long r = syscall(SYS_cachestat, fd, &range, &cs, 0);
    close(fd);
    return r < 0 ? -1 : (long)cs.nr_cache;
}

static void write_and_check(fixture *f, size_t total, int direct)
{
    static const size_t pieces[] = {1, 7, 4095, 4096, 4097, 65537, (1u << 20) + 3, 333};
    unsigned char *data = malloc(total + 1);
    assert_non_null(data);
    uint32_t x = (uint32_t)total * 2654435761u + 1;
    for (size_t i = 0; i < total; i++) {
        x = x * 1103515245u + 12345u;
        data[i] = (unsigned char)(x >> 16);
    }
    char key[64];
    snprintf(key, sizeof key, "direct-%d-%zu.bin", direct, total);
    dp_err err = {0};
    dp_sink *w = NULL;
    assert_int_equal(dp_storage_writer(f->st, key, &w, &err), 0);
    struct statfs fs;
    assert_int_equal(statfs(f->dir, &fs), 0);
    int known_fs = fs.f_type == 0xEF53 /* ext2/3/4 */ || fs.f_type == 0x58465342 /* xfs */;
    assert_int_equal(partial_fd_direct(), known_fs ? direct : 0); /* elsewhere: buffered (direct_fs) */
    size_t off = 0;
    for (size_t i = 0; off < total; i++) {
        size_t k = pieces[i % (sizeof pieces / sizeof pieces[0])];
        if (k > total - off)
            k = total - off;
        assert_int_equal(dp_sink_write(w, data + off, k, &err), 0);
        off += k;
    }
    assert_int_equal(dp_sink_end(w, &err), 0);
    assert_int_equal(dp_sink_commit(w, &err), 0);
    dp_sink_free(w);
    char *path = dp_asprintf("%s/%s", f->dir, key);
    /* before reading it back, which would bring it into the cache */
    long in_cache = cached_pages(path), pages = (long)((total + 4095) / 4096);
    if (in_cache < 0)
        fprintf(stderr, "note: no cachestat(2) here (%s): page cache not checked\n", strerror(errno));
    else if (known_fs && direct)
        assert_true(in_cache <= 1); /* at most the tail, written after O_DIRECT is cleared */
    else if (known_fs && pages >= 16)
        assert_true(in_cache >= pages / 2); /* buffered: the page cache keeps what was written */
    FILE *in = fopen(path, "rb");
    assert_non_null(in);
    unsigned char *back = malloc(total + 1);
    assert_non_null(back);
    assert_int_equal(fread(back, 1, total + 1, in), total);
    fclose(in);
    if (total)
        assert_memory_equal(back, data, total);
    free(path);
    free(back);
    free(data);
}

static void test_direct_writes(void **state)
{
    fixture *f = *state;
    static const size_t sizes[] = {0, 1, 4095, 4096, 4097, (1u << 20) - 1, 1u << 20, (1u << 20) + 1,
                                   3 * (1u << 20) + 4097};
    for (int direct = 1; direct >= 0; direct--) {
        if (direct)
            unsetenv("DUMPER_DIRECT_IO");
        else
            setenv("DUMPER_DIRECT_IO", "0", 1);
        for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
            write_and_check(f, sizes[i], direct);
    }
    unsetenv("DUMPER_DIRECT_IO");
}

/* tmpfs (as NFS, FUSE, ...) gets buffered writes: no O_DIRECT on the partial, the contents exact. */
static void test_direct_not_on_tmpfs(void **state)
{
    fixture *f = *state;
    char *mnt = dp_asprintf("%s/small", f->dir); /* the teardown unmounts it */
    mkdir(mnt, 0700);
    if (geteuid() != 0 || mount("tmpfs", mnt, "tmpfs", MS_NOSUID | MS_NODEV, "size=8m,mode=0700") != 0) {
        fprintf(stderr, "skipping tmpfs direct-write test: cannot mount a tmpfs (%s)\n", strerror(errno));
        free(mnt);
        skip();
    }
    fixture t = *f;
    snprintf(t.dir, sizeof t.dir, "%s", mnt);
    dp_err err = {0};
    assert_int_equal(dp_storage_open(mnt, NULL, 1, &t.st, &err), 0);
    unsetenv("DUMPER_DIRECT_IO");
    write_and_check(&t, (2u << 20) + 5, 0);
    dp_storage_close(t.st);
    umount2(mnt, MNT_DETACH);
    free(mnt);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_atomic_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_abort_and_free_leave_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_overwrite, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list, setup, teardown),
        cmocka_unit_test_setup_teardown(test_key_validation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open, setup, teardown),
        cmocka_unit_test_setup_teardown(test_split_path, setup, teardown),
        cmocka_unit_test_setup_teardown(test_enospc, setup, teardown),
        cmocka_unit_test_setup_teardown(test_direct_writes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_direct_not_on_tmpfs, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
