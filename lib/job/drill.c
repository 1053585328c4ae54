/* drill.c - restore drills (see drill.h). */
#include "job/drill.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/dburl.h"
#include "core/log.h"
#include "core/util.h"
#include "io/filter.h"
#include "job/backup.h"
#include "source/source.h"

/* ---- pure parts ---- */

/* A name as it may be shown on one line: control bytes become '?', long names are cut. */
static void printable(const char *s, char *out, size_t size)
{
    size_t k = 0;
    for (; s[k] && k + 1 < size; k++)
        out[k] = ((unsigned char)s[k] < 0x20 || s[k] == 0x7f) ? '?' : s[k];
    out[k] = 0;
}

static int add_line(char ***lines, size_t *n, char *line)
{
    if (!line)
        return -1;
    char **l = realloc(*lines, (*n + 1) * sizeof *l);
    if (!l) {
        free(line);
        return -1;
    }
    *lines = l;
    l[(*n)++] = line;
    return 0;
}

int dp_drill_compare(const dp_contents *want, const dp_contents *got, char ***lines, size_t *n)
{
    return dp_drill_compare_as(want, got, "table", "rows", "database", lines, n);
}

int dp_drill_compare_as(const dp_contents *want, const dp_contents *got, const char *noun, const char *unit,
                        const char *place, char ***lines, size_t *n)
{
    *lines = NULL;
    *n = 0;
    char name[120];
    int rc = 0;
    size_t i = 0, j = 0;
    /* both sorted by name: a merge */
    while (!rc && (i < want->ntables || j < got->ntables)) {
        int c = i == want->ntables ? 1 : j == got->ntables ? -1 : strcmp(want->tables[i].name, got->tables[j].name);
        if (c < 0) {
            printable(want->tables[i].name, name, sizeof name);
            rc = add_line(lines, n,
                          dp_asprintf("%s '%s' (%llu %s in the manifest) is missing from the restored %s", noun, name,
                                      (unsigned long long)want->tables[i].rows, unit, place));
            i++;
        } else if (c > 0) {
            printable(got->tables[j].name, name, sizeof name);
            rc = add_line(lines, n,
                          dp_asprintf("%s '%s' was restored but is not in the manifest", noun, name));
            j++;
        } else {
            if (want->tables[i].rows != got->tables[j].rows) {
                printable(want->tables[i].name, name, sizeof name);
                rc = add_line(lines, n,
                              dp_asprintf("%s '%s': %llu %s in the manifest, %llu restored", noun, name,
                                          (unsigned long long)want->tables[i].rows, unit,
                                          (unsigned long long)got->tables[j].rows));
            }
            i++;
            j++;
        }
    }
    if (!rc && want->fingerprint[0] && strcmp(want->fingerprint, got->fingerprint) != 0)
        rc = add_line(lines, n,
                      dp_asprintf("schema fingerprint differs (manifest %.12s, restored %.12s): tables or columns "
                                  "changed",
                                  want->fingerprint, got->fingerprint));
    if (!rc && want->migration && !dp_streq(want->migration, got->migration)) {
        char a[64], b[64];
        printable(want->migration, a, sizeof a);
        printable(got->migration ? got->migration : "none", b, sizeof b);
        rc = add_line(lines, n, dp_asprintf("newest schema migration differs (manifest %s, restored %s)", a, b));
    }
    if (rc) {
        for (size_t k = 0; k < *n; k++)
            free((*lines)[k]);
        free(*lines);
        *lines = NULL;
        *n = 0;
    }
    return rc;
}

int dp_drill_parse_name(const char *name, char host[9], long *pid, int64_t *stamp)
{
    size_t pl = strlen(DP_DRILL_PREFIX);
    if (strncmp(name, DP_DRILL_PREFIX, pl) != 0)
        return -1;
    const char *p = name + pl;
    if (strspn(p, "0123456789abcdef") != 8 || p[8] != '_')
        return -1;
    memcpy(host, p, 8);
    host[8] = 0;
    p += 9;
    char *end;
    errno = 0;
    long v = strtol(p, &end, 10);
    if (end == p || *end != '_' || v <= 0 || errno)
        return -1;
    *pid = v;
    p = end + 1;
    long long t = strtoll(p, &end, 10);
    if (end == p || *end || t <= 0 || errno)
        return -1;
    *stamp = t;
    return 0;
}

int dp_drill_stale(const char *host, long pid, int64_t stamp, const char *our_host, int64_t now_s)
{
    if (now_s - stamp > DP_DRILL_STALE_S)
        return 1;
    if (strcmp(host, our_host) != 0)
        return 0; /* another machine's drill, maybe running */
    return pid != (long)getpid() && kill((pid_t)pid, 0) < 0 && errno == ESRCH;
}

/* ---- the drill ---- */

static void our_host(char out[9])
{
    char h[256] = {0}, hex[65];
    gethostname(h, sizeof h - 1);
    dp_sha256_hex(h, strlen(h), hex);
    memcpy(out, hex, 8);
    out[8] = 0;
}

static void put_pct(dp_buf *b, const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || strchr("-._~", c))
            dp_buf_append(b, s, 1);
        else
            dp_buf_printf(b, "%%%02X", c);
    }
}

/* The scratch server's URL with database `db`, without its password (that travels apart). */
static char *url_with_db(const dp_dburl *u, const char *db)
{
    dp_buf b = {0};
    dp_buf_printf(&b, "%s://", u->scheme);
    if (u->user) {
        put_pct(&b, u->user);
        dp_buf_puts(&b, "@");
    }
    if (u->hosts)
        dp_buf_puts(&b, u->hosts);
    else if (u->host)
        dp_buf_printf(&b, strchr(u->host, ':') ? "[%s]" : "%s", u->host);
    if (!u->hosts && u->port)
        dp_buf_printf(&b, ":%d", u->port);
    dp_buf_printf(&b, "/%s", db);
    for (size_t i = 0; i < u->nparams; i++) {
        dp_buf_puts(&b, i ? "&" : "?");
        put_pct(&b, u->params[i].key);
        dp_buf_puts(&b, "=");
        put_pct(&b, u->params[i].value);
    }
    return b.data;
}

/* Drop the databases killed drills left on the scratch server. */
static void sweep_server(const dp_source_driver *drv, const dp_dburl *server, const dp_source_opts *so,
                         const char *host)
{
    char **names = NULL;
    size_t n = 0;
    dp_err e = {0};
    if (drv->scratch_list(server, so, DP_DRILL_PREFIX, &names, &n, &e))
        dp_warn("drill: unable to look for leftover scratch databases: %s", e.msg);
    for (size_t i = 0; i < n; i++) {
        char h[9];
        long pid;
        int64_t stamp;
        if (!dp_drill_parse_name(names[i], h, &pid, &stamp) && dp_drill_stale(h, pid, stamp, host, dp_now_ms() / 1000)) {
            dp_err d = {0};
            if (drv->scratch_drop(server, so, names[i], &d))
                dp_warn("drill: unable to drop the leftover scratch database '%s': %s", names[i], d.msg);
            else
                dp_warn("drill: dropped the leftover scratch database '%s'", names[i]);
        }
        free(names[i]);
    }
    free(names);
}

static int rm_tree(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return errno == ENOENT ? 0 : -1;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        char *p = dp_asprintf("%s/%s", dir, e->d_name);
        if (p)
            unlink(p); /* a drill's directory holds files only */
        free(p);
    }
    closedir(d);
    return rmdir(dir);
}

/* Remove the temporary directories killed drills left in tmp ("dumper-drill-<pid>-XXXXXX"). */
static void sweep_dir(const char *tmp)
{
    DIR *d = opendir(tmp);
    if (!d)
        return;
    struct dirent *e;
    size_t pl = strlen(DP_DRILL_DIR_PREFIX);
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, DP_DRILL_DIR_PREFIX, pl) != 0)
            continue;
        char *end;
        long pid = strtol(e->d_name + pl, &end, 10);
        if (end == e->d_name + pl || *end != '-' || pid <= 0 || pid == (long)getpid())
            continue;
        char *p = dp_asprintf("%s/%s", tmp, e->d_name);
        struct stat sb;
        if (p && lstat(p, &sb) == 0 && S_ISDIR(sb.st_mode) && sb.st_uid == geteuid() &&
            (dp_now_ms() / 1000 - sb.st_mtime > DP_DRILL_STALE_S || (kill((pid_t)pid, 0) < 0 && errno == ESRCH))) {
            if (rm_tree(p) == 0)
                dp_warn("drill: removed the leftover directory '%s'", p);
        }
        free(p);
    }
    closedir(d);
}

/* MongoDB: the one database a backup's contents name ("<db>.<coll>" entries), NULL when there are
 * none; *several = 1 when they name more than one. Malloc'd. */
static char *mongo_backup_db(const dp_contents *c, int *several)
{
    *several = 0;
    char *db = NULL;
    for (size_t i = 0; i < c->ntables; i++) {
        const char *dot = strchr(c->tables[i].name, '.');
        size_t n = dot ? (size_t)(dot - c->tables[i].name) : strlen(c->tables[i].name);
        if (!db)
            db = dp_asprintf("%.*s", (int)n, c->tables[i].name);
        else if (strlen(db) != n || strncmp(db, c->tables[i].name, n) != 0)
            *several = 1;
    }
    return db;
}

/* MongoDB: what the scratch database holds, named as the backup's database ("<scratch>.x" ->
 * "<db>.x"). One prefix for all: the order stays sorted. -1 on OOM. */
static int mongo_rename(dp_contents *found, const char *scratch, const char *db)
{
    size_t sl = strlen(scratch);
    for (size_t i = 0; i < found->ntables; i++) {
        char *name = found->tables[i].name;
        if (strncmp(name, scratch, sl) != 0 || name[sl] != '.')
            continue;
        char *renamed = dp_asprintf("%s%s", db, name + sl);
        if (!renamed)
            return -1;
        free(name);
        found->tables[i].name = renamed;
    }
    return 0;
}

static const dp_source_driver *driver_named(const char *name)
{
    for (int t = 0; t < DP_DB__COUNT; t++) {
        const dp_source_driver *d = dp_source_for((dp_db_type)t);
        if (d && dp_streq(d->name, name))
            return d;
    }
    return NULL;
}

int dp_drill_run(dp_storage *st, const char *key, const dp_drill_req *req, dp_drill_result *res, dp_err *err)
{
    memset(res, 0, sizeof *res);
    int64_t start = dp_mono_ms();
    dp_dburl server = {0};
    char *target_url = NULL, *dir = NULL, *rdb = NULL, *mongo_db = NULL;
    int created = 0, rc;
    dp_source_opts so = {.throwaway = 1};
    if ((rc = dp_backup_manifest(st, key, &res->m, err)))
        return rc;
    const dp_source_driver *drv = driver_named(res->m.source_type);
    if (!drv || !(drv->features & DP_SOURCE_FEAT_RESTORE))
        return dp_err_set(err, DUMPER_EUNSUPPORTED, "cannot drill a '%s' backup", res->m.source_type);
    if (!drv->inspect)
        return dp_err_set(err, DUMPER_EUNSUPPORTED, "drills of %s backups are not supported yet",
                          res->m.source_type);
    char host[9];
    our_host(host);
    if (req->nchecks && !drv->check_query)
        return dp_err_set(err, DUMPER_EUNSUPPORTED, "%s drills take no --check", res->m.source_type);
    int file_target = drv->type == DP_DB_SQLITE || drv->type == DP_DB_REDIS;
    if (file_target) {
        const char *tmp = req->tmpdir ? req->tmpdir : getenv("TMPDIR");
        if (!tmp || !*tmp)
            tmp = "/tmp";
        sweep_dir(tmp);
        dir = dp_asprintf("%s/%s%ld-XXXXXX", tmp, DP_DRILL_DIR_PREFIX, (long)getpid());
        if (!dir)
            return dp_err_set(err, DUMPER_ENOMEM, "out of memory");
        if (!mkdtemp(dir)) {
            rc = dp_err_sys(err, DUMPER_EIO, errno, "unable to create a drill directory in '%s'", tmp);
            free(dir);
            return rc;
        }
        printable(dir, res->target, sizeof res->target);
        /* redis: the restore writes the RDB file, a throwaway redis-server loads it (inspect) */
        if (drv->type == DP_DB_REDIS) {
            target_url = dp_strdup("redis://127.0.0.1/0");
            so.restore_file = rdb = dp_asprintf("%s/dump.rdb", dir);
        } else {
            target_url = dp_asprintf("sqlite://%s/drill.db", dir);
        }
        if (!target_url || (drv->type == DP_DB_REDIS && !rdb)) {
            rc = dp_err_set(err, DUMPER_ENOMEM, "out of memory");
            goto done;
        }
    } else {
        if (!drv->scratch_create || !drv->scratch_drop || !drv->scratch_list)
            return dp_err_set(err, DUMPER_EUNSUPPORTED, "drills of %s backups are not supported yet",
                              res->m.source_type);
        if (!req->scratch)
            return dp_err_set(err, DUMPER_EUSAGE, "a %s drill needs --scratch URL: a server where it may create "
                                                  "and drop a database",
                              res->m.source_type);
        if (drv->type == DP_DB_MONGODB) {
            /* the restore maps one database onto the scratch database, not several */
            int several;
            mongo_db = mongo_backup_db(&res->m.contents, &several);
            if (several) {
                free(mongo_db);
                return dp_err_set(err, DUMPER_EUNSUPPORTED,
                                  "drills of mongodb backups of several databases are not supported yet (back up "
                                  "each database by its own URL)");
            }
        }
        if ((rc = dp_dburl_parse(req->scratch, &server, err)))
            goto done;
        if (server.type != drv->type) {
            rc = dp_err_set(err, DUMPER_EUSAGE, "the scratch server is %s, the backup is of %s",
                            dp_db_type_name(server.type), res->m.source_type);
            goto done;
        }
        /* a password given apart (--password-file) serves the scratch server's connections too */
        if (!server.password && req->scratch_password && !(server.password = dp_strdup(req->scratch_password))) {
            rc = dp_err_set(err, DUMPER_ENOMEM, "out of memory");
            goto done;
        }
        so.password = server.password;
        sweep_server(drv, &server, &so, host);
        snprintf(res->target, sizeof res->target, "%s%s_%ld_%lld", DP_DRILL_PREFIX, host, (long)getpid(),
                 (long long)(dp_now_ms() / 1000));
        if ((rc = drv->scratch_create(&server, &so, res->target, err)))
            goto done;
        created = 1;
        if (!(target_url = url_with_db(&server, res->target))) {
            rc = dp_err_set(err, DUMPER_ENOMEM, "out of memory");
            goto done;
        }
    }
    /* the restore: the same safe path as `dumper restore`, into the empty scratch target */
    /* one pass: the checksum is verified while the throwaway target is fed (a mismatch fails the drill
     * and the target goes anyway), not in a full read of the backup first */
    dp_backup_read_opts ro = {.sha256 = req->sha256,
                              .identities = req->identities,
                              .nidentities = req->nidentities,
                              .one_pass = 1};
    int64_t rs = dp_mono_ms();
    if ((rc = dp_backup_restore_opts(st, key, &ro, target_url, &so, err))) {
        dp_err_prefix(err, "restore into the scratch target failed");
        goto done;
    }
    res->restore_ms = dp_mono_ms() - rs;
    dp_dburl turl;
    if ((rc = dp_dburl_parse(target_url, &turl, err)))
        goto done;
    dp_source_opts to = so;
    if (!turl.password && so.password && !(turl.password = dp_strdup(so.password)))
        rc = dp_err_set(err, DUMPER_ENOMEM, "out of memory");
    to.password = NULL;
    if (!rc)
        rc = drv->inspect(&turl, &to, &res->found, err);
    if (!rc && mongo_db && mongo_rename(&res->found, res->target, mongo_db))
        rc = dp_err_set(err, DUMPER_ENOMEM, "out of memory");
    if (!rc && res->m.contents.known) {
        res->compared = 1;
        int redis = drv->type == DP_DB_REDIS;
        if (dp_drill_compare_as(&res->m.contents, &res->found, redis ? "database" : "table", redis ? "keys" : "rows",
                                redis ? "server" : "database", &res->mismatches, &res->nmismatches))
            rc = dp_err_set(err, DUMPER_ENOMEM, "out of memory");
    }
    if (!rc && req->nchecks) {
        if (!(res->checks = calloc(req->nchecks, sizeof *res->checks))) {
            rc = dp_err_set(err, DUMPER_ENOMEM, "out of memory");
        }
        for (size_t i = 0; !rc && i < req->nchecks; i++) {
            dp_drill_check *c = &res->checks[i];
            if (!(c->name = dp_strdup(req->check_names[i]))) {
                rc = dp_err_set(err, DUMPER_ENOMEM, "out of memory");
                break;
            }
            res->nchecks++;
            rc = drv->check_query(&turl, &to, req->check_sql[i], &c->ok, c->detail, sizeof c->detail, err);
            char clean[sizeof c->detail];
            printable(c->detail, clean, sizeof clean);
            memcpy(c->detail, clean, sizeof clean);
        }
    }
    dp_dburl_free(&turl);
    if (!rc && dp_interrupted)
        rc = dp_err_set(err, DUMPER_EINTR, "interrupted");
    if (!rc) {
        res->passed = res->nmismatches == 0;
        for (size_t i = 0; i < res->nchecks; i++)
            res->passed &= res->checks[i].ok;
    }
done:
    /* the throwaway target goes, whatever happened (also after an interrupt) */
    if (created) {
        dp_err d = {0};
        if (drv->scratch_drop(&server, &so, res->target, &d)) {
            dp_warn("drill: unable to drop the scratch database '%s': %s", res->target, d.msg);
            if (!rc)
                rc = dp_err_set(err, d.code, "unable to drop the scratch database '%s': %s", res->target, d.msg);
        }
    }
    if (dir && rm_tree(dir) < 0 && errno != ENOENT)
        dp_warn("drill: unable to remove '%s': %s", dir, strerror(errno));
    free(dir);
    free(rdb);
    free(mongo_db);
    free(target_url);
    dp_dburl_free(&server);
    res->total_ms = dp_mono_ms() - start;
    return rc;
}

void dp_drill_result_free(dp_drill_result *res)
{
    if (!res)
        return;
    dp_manifest_free(&res->m);
    dp_contents_free(&res->found);
    for (size_t i = 0; i < res->nmismatches; i++)
        free(res->mismatches[i]);
    free(res->mismatches);
    for (size_t i = 0; i < res->nchecks; i++)
        free(res->checks[i].name);
    free(res->checks);
    memset(res, 0, sizeof *res);
}
