/*
 * fuzz_sqlite_restore.c - libFuzzer target for the SQLite restore (lib/source/sqlite.c): a hostile
 * dump fed, as `dumper restore` feeds it, into the restore sink of a new database.
 *
 * The process works in a directory of its own, base/w (a tmpfs when there is one), as its current
 * directory (so give libFuzzer absolute paths, as test/fuzz/run.sh does), beside victim.db, an existing database whose bytes are known. Input: the dump. Beyond
 * "no crash, leak or UB":
 * - the restore never writes outside its target: afterwards base holds w only, and w holds
 *   victim.db, unchanged byte for byte, and t.db only when the restore succeeded (no temporary file,
 *   journal or WAL left, no file made by ATTACH, VACUUM INTO or anything else, here or next door);
 * - a failure is one of the documented codes with one line naming the target;
 * - success and the database made do not depend on how the dump is cut (one write, odd sizes;
 *   which of two defects is reported first may: statements run as soon as they are complete).
 * A statement may run for ever (WITH RECURSIVE ...): as a SIGINT would, a watchdog sets
 * dp_interrupted after 1 s, and the restore must then stop with DUMPER_EINTR. SQLite's heap is
 * capped at 64 MiB for the process (sqlite3_hard_heap_limit64), so that what a dump may rightly ask
 * for (a zeroblob(1e9)) is SQLITE_NOMEM here, not an out-of-memory report of libFuzzer's.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/dburl.h"
#include "core/util.h"
#include "source/source.h"

static char base[256], work[300], target[320];
static dp_buf victim; /* victim.db's bytes */

/* ---- the watchdog: dp_interrupted after 1 s of one input ---- */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv;
static struct timespec deadline; /* 0: idle */

static void *watchdog(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&mu);
    for (;;) {
        if (!deadline.tv_sec) {
            pthread_cond_wait(&cv, &mu);
            continue;
        }
        struct timespec until = deadline;
        if (pthread_cond_timedwait(&cv, &mu, &until) == ETIMEDOUT && deadline.tv_sec == until.tv_sec &&
            deadline.tv_nsec == until.tv_nsec)
            dp_interrupted = 1;
    }
    return NULL;
}

static void arm(int on)
{
    pthread_mutex_lock(&mu);
    if (on) {
        clock_gettime(CLOCK_MONOTONIC, &deadline);
        deadline.tv_sec += 1;
    } else {
        deadline.tv_sec = deadline.tv_nsec = 0;
    }
    dp_interrupted = 0;
    pthread_cond_signal(&cv);
    pthread_mutex_unlock(&mu);
}

static int read_file(const char *path, dp_buf *out)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    char b[65536];
    ssize_t k;
    dp_buf_reset(out);
    while ((k = read(fd, b, sizeof b)) > 0)
        dp_buf_append(out, b, (size_t)k);
    close(fd);
    return k < 0 ? -1 : 0;
}

static void cleanup(void)
{
    unlink(target);
    unlink("victim.db");
    if (chdir("/") == 0) {
        rmdir(work);
        rmdir(base);
    }
}

static void setup(void)
{
    const char *tmp = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(base, sizeof base, "%s/dumper-fuzz-sqlite.XXXXXX", tmp);
    if (!mkdtemp(base))
        abort();
    snprintf(work, sizeof work, "%s/w", base);
    snprintf(target, sizeof target, "%s/t.db", work);
    if (mkdir(work, 0700) < 0 || chdir(work) < 0)
        abort();
    sqlite3 *db;
    if (sqlite3_open("victim.db", &db) != SQLITE_OK ||
        sqlite3_exec(db, "CREATE TABLE users(name TEXT, role TEXT); INSERT INTO users VALUES('admin','admin');", NULL,
                     NULL, NULL) != SQLITE_OK ||
        sqlite3_close(db) != SQLITE_OK || read_file("victim.db", &victim) < 0)
        abort();
    atexit(cleanup);
    sqlite3_hard_heap_limit64(64 << 20);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&cv, &ca);
    pthread_t t;
    if (pthread_create(&t, NULL, watchdog, NULL) != 0)
        abort();
    pthread_detach(t);
}

/* The directory holds exactly these names (NULL-terminated), nothing else. */
static void only(const char *dir, const char *const *names)
{
    DIR *d = opendir(dir);
    if (!d)
        abort();
    struct dirent *e;
    size_t seen = 0, want = 0;
    while (names[want])
        want++;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        int ok = 0;
        for (size_t i = 0; names[i] && !ok; i++)
            ok = !strcmp(e->d_name, names[i]);
        if (!ok) {
            fprintf(stderr, "fuzz_sqlite_restore: '%s/%s' appeared\n", dir, e->d_name);
            abort();
        }
        seen++;
    }
    closedir(d);
    if (seen != want)
        abort();
}

typedef struct {
    int rc;
    char msg[DP_ERR_MSG_MAX];
    dp_buf db; /* the restored file, when rc == 0 */
} outcome;

static void restore(const uint8_t *data, size_t size, size_t step, outcome *o)
{
    dp_dburl url;
    dp_err err = {0};
    char spec[400];
    snprintf(spec, sizeof spec, "sqlite://%s", target);
    if (dp_dburl_parse(spec, &url, &err) != 0)
        abort();
    dp_source_opts opts = {0};
    dp_sink *s = NULL;
    arm(1);
    int rc = dp_source_sqlite.restore(&url, &opts, "sql", &s, &err);
    for (size_t off = 0; !rc && off < size; off += step)
        rc = dp_sink_write(s, data + off, size - off < step ? size - off : step, &err);
    if (!rc)
        rc = dp_sink_end(s, &err);
    if (!rc)
        rc = dp_sink_commit(s, &err);
    if (rc && s)
        dp_sink_abort(s);
    dp_sink_free(s);
    arm(0);
    dp_dburl_free(&url);
    o->rc = rc;
    memcpy(o->msg, err.msg, sizeof o->msg);
    memset(&o->db, 0, sizeof o->db);
    if (rc) {
        static const int codes[] = {DUMPER_ECORRUPT, DUMPER_ESOURCE, DUMPER_EINTR, DUMPER_ENOMEM, DUMPER_EIO};
        int known = 0;
        for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
            known |= rc == codes[i];
        if (!known || err.code != rc || (rc != DUMPER_ENOMEM && !strstr(err.msg, target)))
            abort();
        if (strchr(err.msg, '\n'))
            abort();
    } else if (read_file(target, &o->db) < 0) {
        abort();
    }
    /* nothing but the target (when restored) beside the victim, nothing next door */
    const char *after_ok[] = {"victim.db", "t.db", NULL}, *after_fail[] = {"victim.db", NULL}, *next[] = {"w", NULL};
    only(work, rc ? after_fail : after_ok);
    only(base, next);
    dp_buf v = {0};
    if (read_file("victim.db", &v) < 0 || v.len != victim.len || memcmp(v.data, victim.data, v.len) != 0) {
        fprintf(stderr, "fuzz_sqlite_restore: victim.db changed\n");
        abort();
    }
    dp_buf_free(&v);
    unlink(target);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    if (!ready) {
        setup();
        ready = 1;
    }
    outcome whole, cut;
    restore(data, size, size ? size : 1, &whole);
    restore(data, size, 1 + (size ? data[size / 2] : 0) % 97, &cut);
    if (whole.rc != DUMPER_EINTR && cut.rc != DUMPER_EINTR && whole.rc != DUMPER_ENOMEM && cut.rc != DUMPER_ENOMEM) {
        if (!whole.rc != !cut.rc || whole.db.len != cut.db.len ||
            (whole.db.len && memcmp(whole.db.data, cut.db.data, whole.db.len) != 0)) {
            fprintf(stderr, "fuzz_sqlite_restore: whole: %d %s / cut: %d %s\n", whole.rc, whole.msg, cut.rc, cut.msg);
            abort();
        }
    }
    dp_buf_free(&whole.db);
    dp_buf_free(&cut.db);
    return 0;
}
