/*
 * redis.c - Redis source: the RDB snapshot, streamed from a local or remote server.
 *
 * Backup speaks the replication protocol like `redis-cli --rdb`: AUTH, then SYNC; the server forks
 * a BGSAVE (sending "\n" keepalives meanwhile), then sends "$<len>\r\n" and exactly len bytes of
 * RDB, which go straight into the sink in DP_IO_CHUNK pieces (memory does not grow with the
 * snapshot). The connection is closed after the snapshot: the replication stream that follows is
 * never read. The RDB header ("REDIS" + version) and the CRC-64 trailer are checked on the fly
 * (rdb.h); any mismatch, short read or dropped connection fails the backup, so the pipeline aborts
 * and no complete-looking backup is left.
 *
 * When the server refuses SYNC (renamed command, ACL without +sync, ...) and it runs on this host
 * (loopback address), the fallback is BGSAVE SCHEDULE, waiting until LASTSAVE moves past its old
 * value with no save in progress, then streaming the file CONFIG GET dir/dbfilename names (with
 * the same checks). The open descriptor keeps the snapshot stable even if a later save renames a
 * new file over it.
 *
 * The snapshot holds every logical database of the server, whatever /N the URL names. Its keys are
 * counted per database as the bytes pass (dp_rdb_keys, a structural walk that skips every value)
 * for the manifest's contents ("db0": keys, ...): the same snapshot, no second pass over the server.
 *
 * Restore (format "rdb") cannot push an RDB into a running server: it writes the RDB file to the
 * path given in dp_source_opts.restore_file (CLI: --rdb-file), checked the same way, and the
 * operator loads it (stop the server, put the file at dir/dbfilename, start it). The file is built
 * under a hidden temporary name beside the target and renamed into place on commit.
 *
 * Password: from the URL, else REDISCLI_AUTH, else DUMPER_DB_PASSWORD; it only ever travels in
 * the AUTH command, never in argv or messages.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/proc.h"
#include "core/util.h"
#include "source/rdb.h"
#include "source/source.h"

#define CONNECT_TIMEOUT_S 10
/* Between two bytes of the transfer; the server sends keepalives every second while it saves. */
#define READ_TIMEOUT_S 60

typedef struct {
    redisContext *c;
    char where[300]; /* "redis at host:port", for messages */
    const dp_dburl *url;
} rconn;

static const char *url_host(const dp_dburl *url) { return url->host && *url->host ? url->host : "127.0.0.1"; }
static int url_port(const dp_dburl *url) { return url->port ? url->port : 6379; }

/* The AUTH password: URL, then REDISCLI_AUTH (redis-cli's variable), then DUMPER_DB_PASSWORD. */
static const char *auth_password(const dp_dburl *url)
{
    if (url->password && *url->password)
        return url->password;
    const char *e = getenv("REDISCLI_AUTH");
    if (e && *e)
        return e;
    e = getenv("DUMPER_DB_PASSWORD");
    return e && *e ? e : NULL;
}

static int is_loopback(const char *host)
{
    if (!host || strcmp(host, "localhost") == 0 || strcmp(host, "::1") == 0)
        return 1;
    struct in_addr a;
    if (inet_pton(AF_INET, host, &a) == 1)
        return (ntohl(a.s_addr) >> 24) == 127;
    return 0;
}

static int reply_error_code(const char *msg)
{
    if (!strncmp(msg, "WRONGPASS", 9) || !strncmp(msg, "NOAUTH", 6) || strstr(msg, "invalid password") ||
        strstr(msg, "invalid username-password"))
        return DUMPER_EAUTH;
    if (!strncmp(msg, "NOPERM", 6))
        return DUMPER_EAUTH;
    return DUMPER_ESOURCE;
}

static int conn_io_error(rconn *r, const char *what, dp_err *err)
{
    redisContext *c = r->c;
    if (c->err == REDIS_ERR_IO && (errno == EAGAIN || errno == EWOULDBLOCK))
        return dp_err_set(err, DUMPER_ETIMEOUT, "%s: timed out %s", r->where, what);
    if (c->err == REDIS_ERR_EOF)
        return dp_err_set(err, DUMPER_ESOURCE, "%s: server closed the connection %s", r->where, what);
    return dp_err_set(err, DUMPER_ESOURCE, "%s: %s %s", r->where, c->errstr, what);
}

/* Run a command; *out gets the reply (caller frees) unless it is an error, which is reported. */
static int run(rconn *r, redisReply **out, dp_err *err, const char *what, int argc, const char **argv)
{
    *out = NULL;
    redisReply *rep = redisCommandArgv(r->c, argc, argv, NULL);
    if (!rep)
        return conn_io_error(r, what, err);
    if (rep->type == REDIS_REPLY_ERROR) {
        int rc = dp_err_set(err, reply_error_code(rep->str), "%s: %s failed: %s", r->where, what, rep->str);
        freeReplyObject(rep);
        return rc;
    }
    *out = rep;
    return 0;
}

static void conn_close(rconn *r)
{
    if (r->c)
        redisFree(r->c);
    r->c = NULL;
}

static int conn_open(const dp_dburl *url, rconn *r, dp_err *err)
{
    memset(r, 0, sizeof *r);
    r->url = url;
    const char *host = url_host(url);
    int port = url_port(url);
    snprintf(r->where, sizeof r->where, strchr(host, ':') ? "redis at [%s]:%d" : "redis at %s:%d", host, port);
    if (dp_streq(url->scheme, "rediss"))
        return dp_err_set(err, DUMPER_EUNSUPPORTED, "%s: TLS (rediss://) is not supported by this build", r->where);
    struct timeval ct = {CONNECT_TIMEOUT_S, 0}, rt = {READ_TIMEOUT_S, 0};
    r->c = redisConnectWithTimeout(host, port, ct);
    if (!r->c)
        return dp_err_set(err, DUMPER_ENOMEM, "out of memory");
    if (r->c->err) {
        int rc = dp_err_set(err, DUMPER_ECONNECT, "cannot connect to %s: %s", r->where, r->c->errstr);
        conn_close(r);
        return rc;
    }
    redisSetTimeout(r->c, rt);
    redisEnableKeepAlive(r->c);
    dp_set_cloexec(r->c->fd);
    const char *pw = auth_password(url);
    redisReply *rep = NULL;
    int rc = 0;
    if (pw) {
        const char *argv[3] = {"AUTH", url->user && *url->user ? url->user : pw, pw};
        int argc = url->user && *url->user ? 3 : 2;
        rep = redisCommandArgv(r->c, argc, argv, NULL);
        if (!rep) {
            rc = conn_io_error(r, "during authentication", err);
        } else if (rep->type == REDIS_REPLY_ERROR) {
            /* The server's text never contains the password, but keep it short and generic. */
            if (strstr(rep->str, "without any password configured"))
                dp_warn("%s has no password configured; ignoring the one given", r->where);
            else
                rc = dp_err_set(err, DUMPER_EAUTH, "%s: authentication failed (wrong user or password?)", r->where);
        }
        freeReplyObject(rep);
        rep = NULL;
    }
    if (!rc) {
        const char *argv[1] = {"PING"};
        dp_err sub = {0};
        rc = run(r, &rep, &sub, "ping", 1, argv);
        if (rc == DUMPER_EAUTH && !pw)
            rc = dp_err_set(err, rc, "%s: authentication required (put the password in REDISCLI_AUTH)", r->where);
        else if (rc)
            rc = dp_err_set(err, rc, "%s", sub.msg);
        freeReplyObject(rep);
    }
    if (rc)
        conn_close(r);
    return rc;
}

static int redis_resolve_format(const dp_dburl *url, const dp_source_opts *opts, const char **format, dp_err *err)
{
    if (opts->format && *opts->format && strcmp(opts->format, "rdb") != 0)
        return dp_err_set(err, DUMPER_EUSAGE, "unknown redis format '%s' (supported: rdb)", opts->format);
    if (opts->custom_options && *opts->custom_options)
        return dp_err_set(err, DUMPER_EUSAGE, "redis backups take no custom options");
    *format = "rdb";
    return 0;
}

static int redis_check(const dp_dburl *url, const dp_source_opts *opts, dp_err *err)
{
    rconn r;
    int rc = conn_open(url, &r, err);
    conn_close(&r);
    return rc;
}

/* ---- streaming with checks ---- */

typedef struct {
    dp_rdb_check chk;
    dp_sink *out;
    const char *where;
    const char *origin; /* "replication stream" or the file path */
    dp_rdb_keys *keys;  /* counting the keys of each database for the manifest, or NULL */
} rdbpipe;

static int pipe_feed(rdbpipe *p, const void *buf, size_t n, dp_err *err)
{
    if (dp_rdb_check_feed(&p->chk, buf, n) < 0)
        return dp_err_set(err, DUMPER_ECORRUPT, "%s: %s is not an rdb snapshot (bad header)", p->where, p->origin);
    if (p->keys)
        dp_rdb_keys_feed(p->keys, buf, n); /* best effort: a walk that gives up records no contents */
    return dp_sink_write(p->out, buf, n, err);
}

static int pipe_finish(rdbpipe *p, dp_err *err)
{
    int v = dp_rdb_check_finish(&p->chk);
    if (v == DP_RDB_OK_NO_CHECKSUM)
        dp_warn("%s: snapshot has no checksum (rdbchecksum no); only its structure was checked", p->where);
    else if (v != DP_RDB_OK)
        return dp_err_set(err, DUMPER_ECORRUPT, "%s: %s after %llu bytes", p->where, dp_rdb_check_strerror(v),
                          (unsigned long long)p->chk.total);
    return 0;
}

/* Read one protocol line from the raw socket, skipping the "\n" keepalives sent while the server
 * saves. Byte at a time on purpose: nothing after the line may be consumed. */
static int read_line(rconn *r, char *line, size_t cap, dp_err *err)
{
    size_t n = 0;
    for (;;) {
        char ch;
        ssize_t k = read(r->c->fd, &ch, 1);
        if (k == 0)
            return dp_err_set(err, DUMPER_ESOURCE, "%s: server closed the connection before sending the snapshot",
                              r->where);
        if (k < 0) {
            if (errno == EINTR) {
                if (dp_interrupted)
                    return dp_err_set(err, DUMPER_EINTR, "%s: interrupted", r->where);
                continue;
            }
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return dp_err_set(err, DUMPER_ETIMEOUT, "%s: timed out waiting for the snapshot", r->where);
            return dp_err_sys(err, DUMPER_ESOURCE, errno, "%s: reading the snapshot", r->where);
        }
        int done = dp_redis_line_feed(line, cap, &n, ch);
        if (done < 0)
            return dp_err_set(err, DUMPER_EPROTO, "%s: protocol line too long", r->where);
        if (done)
            return 0;
    }
}

/* Ask for the snapshot with SYNC. Returns 0 with *len set, 1 when the server refused (reply in
 * refusal), or an error code. */
static int start_sync(rconn *r, unsigned long long *len, char *refusal, size_t rcap, dp_err *err)
{
    static const char cmd[] = "SYNC\r\n";
    if (dp_write_all(r->c->fd, cmd, sizeof cmd - 1) < 0)
        return dp_err_sys(err, DUMPER_ESOURCE, errno, "%s: sending SYNC", r->where);
    char line[256];
    int rc = read_line(r, line, sizeof line, err);
    if (rc)
        return rc;
    switch (dp_redis_sync_reply(line, len)) {
    case DP_SYNC_BULK: return 0;
    case DP_SYNC_REFUSED:
        snprintf(refusal, rcap, "%s", line + 1);
        return 1;
    case DP_SYNC_DISKLESS:
        return dp_err_set(err, DUMPER_EPROTO, "%s: server sent a diskless (EOF-marked) snapshot, which is not supported",
                          r->where);
    default: return dp_err_set(err, DUMPER_EPROTO, "%s: unexpected reply to SYNC: %.60s", r->where, line);
    }
}

static int stream_socket(rconn *r, unsigned long long len, rdbpipe *p, dp_err *err)
{
    char *buf = malloc(DP_IO_CHUNK);
    if (!buf)
        return dp_err_set(err, DUMPER_ENOMEM, "out of memory");
    unsigned long long left = len;
    int rc = 0;
    while (left && !rc) {
        if (dp_interrupted) {
            rc = dp_err_set(err, DUMPER_EINTR, "%s: interrupted", r->where);
            break;
        }
        size_t want = left < DP_IO_CHUNK ? (size_t)left : DP_IO_CHUNK;
        ssize_t k = read(r->c->fd, buf, want);
        if (k > 0) {
            left -= (unsigned long long)k;
            rc = pipe_feed(p, buf, (size_t)k, err);
        } else if (k == 0) {
            rc = dp_err_set(err, DUMPER_ESOURCE,
                            "%s: connection lost after %llu of %llu snapshot bytes (server stopped?)", r->where,
                            len - left, len);
        } else if (errno != EINTR) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                rc = dp_err_set(err, DUMPER_ETIMEOUT, "%s: transfer stalled after %llu of %llu snapshot bytes",
                                r->where, len - left, len);
            else
                rc = dp_err_sys(err, DUMPER_ESOURCE, errno, "%s: transfer failed after %llu of %llu snapshot bytes",
                                r->where, len - left, len);
        }
    }
    free(buf);
    return rc ? rc : pipe_finish(p, err);
}

static long long reply_int(redisReply *rep)
{
    if (!rep)
        return -1;
    if (rep->type == REDIS_REPLY_INTEGER)
        return rep->integer;
    return -1;
}

static int config_get(rconn *r, const char *name, char **value, dp_err *err)
{
    const char *argv[3] = {"CONFIG", "GET", name};
    redisReply *rep;
    int rc = run(r, &rep, err, "CONFIG GET", 3, argv);
    if (rc)
        return rc;
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2 || rep->element[1]->type != REDIS_REPLY_STRING)
        rc = dp_err_set(err, DUMPER_EPROTO, "%s: unexpected reply to CONFIG GET %s", r->where, name);
    else if (!(*value = dp_strdup(rep->element[1]->str)))
        rc = dp_err_set(err, DUMPER_ENOMEM, "out of memory");
    freeReplyObject(rep);
    return rc;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Fallback for servers that refuse SYNC but run here: a fresh BGSAVE, then its file. */
static int backup_via_bgsave(rconn *r, rdbpipe *p, dp_err *err)
{
    static const char *lastsave_cmd[1] = {"LASTSAVE"};
    static const char *bgsave_cmd[2] = {"BGSAVE", "SCHEDULE"};
    static const char *info_cmd[2] = {"INFO", "persistence"};
    char *dir = NULL, *file = NULL, *path = NULL, *buf = NULL;
    redisReply *rep = NULL;
    int fd = -1, rc;
    if ((rc = config_get(r, "dir", &dir, err)) || (rc = config_get(r, "dbfilename", &file, err)))
        goto done;
    if ((rc = run(r, &rep, err, "LASTSAVE", 1, lastsave_cmd)))
        goto done;
    long long before = reply_int(rep);
    freeReplyObject(rep);
    rep = NULL;
    /* LASTSAVE has one-second resolution: start the save in a later second than the last one. */
    while ((long long)time(NULL) <= before && !dp_interrupted)
        sleep_ms(100);
    if ((rc = run(r, &rep, err, "BGSAVE", 2, bgsave_cmd)))
        goto done;
    freeReplyObject(rep);
    rep = NULL;
    dp_info("%s: waiting for BGSAVE", r->where);
    int started = 0;
    for (;;) {
        if (dp_interrupted) {
            rc = dp_err_set(err, DUMPER_EINTR, "%s: interrupted while waiting for BGSAVE", r->where);
            goto done;
        }
        if ((rc = run(r, &rep, err, "INFO persistence", 2, info_cmd)))
            goto done;
        const char *info = rep->type == REDIS_REPLY_STRING ? rep->str : NULL;
        long long inprog = info ? dp_redis_info_field(info, "rdb_bgsave_in_progress") : -1;
        long long status = info ? dp_redis_info_field(info, "rdb_last_bgsave_status") : -1;
        freeReplyObject(rep);
        rep = NULL;
        if (inprog == 1)
            started = 1;
        if ((rc = run(r, &rep, err, "LASTSAVE", 1, lastsave_cmd)))
            goto done;
        long long now = reply_int(rep);
        freeReplyObject(rep);
        rep = NULL;
        if (inprog == 0 && now > before)
            break;
        if (inprog == 0 && started && status == 0) {
            rc = dp_err_set(err, DUMPER_ESOURCE, "%s: BGSAVE failed (see the server log)", r->where);
            goto done;
        }
        sleep_ms(100);
    }
    path = dp_asprintf("%s/%s", dir, file);
    buf = malloc(DP_IO_CHUNK);
    if (!path || !buf) {
        rc = dp_err_set(err, DUMPER_ENOMEM, "out of memory");
        goto done;
    }
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
        rc = dp_err_sys(err, errno == EACCES ? DUMPER_EAUTH : DUMPER_ESOURCE, errno,
                        "%s: cannot read the snapshot file '%s'", r->where, path);
        goto done;
    }
    p->origin = path;
    for (;;) {
        if (dp_interrupted) {
            rc = dp_err_set(err, DUMPER_EINTR, "%s: interrupted", r->where);
            break;
        }
        ssize_t k = read(fd, buf, DP_IO_CHUNK);
        if (k == 0)
            break;
        if (k < 0) {
            if (errno == EINTR)
                continue;
            rc = dp_err_sys(err, DUMPER_EIO, errno, "%s: reading '%s'", r->where, path);
            break;
        }
        if ((rc = pipe_feed(p, buf, (size_t)k, err)))
            break;
    }
    if (!rc)
        rc = pipe_finish(p, err);
done:
    if (fd >= 0)
        close(fd);
    freeReplyObject(rep);
    free(dir);
    free(file);
    free(path);
    free(buf);
    return rc;
}

/* The server's version (INFO server), or NULL; asked before SYNC, while hiredis still owns the
 * connection. */
static char *server_version(rconn *r)
{
    redisReply *rep = redisCommand(r->c, "INFO server");
    char *out = NULL;
    const char *v = rep && rep->type == REDIS_REPLY_STRING ? strstr(rep->str, "redis_version:") : NULL;
    if (v) {
        v += 14;
        size_t n = strcspn(v, "\r\n");
        if (n && n <= DP_CONTENTS_MAX_STR)
            out = dp_asprintf("%.*s", (int)n, v);
    }
    freeReplyObject(rep);
    return out;
}

/* The manifest's contents from a finished key walk: one entry "db<N>" per database with keys (as
 * INFO keyspace lists them), no schema fingerprint (Redis has no schema). Best effort. */
static void keys_contents(rconn *r, dp_rdb_keys *k, char *version, dp_contents *c)
{
    memset(c, 0, sizeof *c);
    c->server_version = version;
    if (dp_rdb_keys_finish(k)) {
        dp_warn("%s: the snapshot's keys were not counted (%s): the manifest records no contents", r->where, k->why);
        dp_contents_free(c);
        return;
    }
    char name[24];
    for (size_t i = 0; i < k->ndb; i++) {
        if (!k->keys[i])
            continue;
        snprintf(name, sizeof name, "db%zu", i);
        if (dp_contents_add(c, name, NULL, k->keys[i])) {
            dp_contents_free(c);
            return;
        }
    }
    if (dp_contents_finish(c)) {
        dp_contents_free(c);
        return;
    }
    c->fingerprint[0] = 0;
}

static int redis_backup(const dp_dburl *url, const dp_source_opts *opts, dp_sink *out, dp_err *err)
{
    rconn r;
    if (opts->contents)
        memset(opts->contents, 0, sizeof *opts->contents);
    int rc = conn_open(url, &r, err);
    if (rc)
        return rc;
    dp_rdb_keys keys;
    dp_rdb_keys_init(&keys);
    char *version = opts->contents ? server_version(&r) : NULL;
    rdbpipe p = {.out = out, .where = r.where, .origin = "the replication stream",
                 .keys = opts->contents ? &keys : NULL};
    dp_rdb_check_init(&p.chk);
    unsigned long long len = 0;
    char refusal[256];
    rc = start_sync(&r, &len, refusal, sizeof refusal, err);
    if (rc == 1) {
        if (!is_loopback(url->host)) {
            rc = dp_err_set(err, reply_error_code(refusal),
                            "%s: server refused SYNC (%.120s); the BGSAVE fallback needs the server on this host",
                            r.where, refusal);
        } else {
            dp_info("%s: server refused SYNC (%s); falling back to BGSAVE", r.where, refusal);
            rc = backup_via_bgsave(&r, &p, err);
        }
    } else if (!rc) {
        dp_debug("%s: receiving a %llu-byte snapshot", r.where, len);
        rc = stream_socket(&r, len, &p, err);
    }
    if (!rc && opts->contents) {
        keys_contents(&r, &keys, version, opts->contents);
        version = NULL;
    }
    free(version);
    dp_rdb_keys_free(&keys);
    conn_close(&r);
    return rc;
}

/* ---- restore: write the RDB file ---- */

typedef struct {
    dp_sink base;
    char *target, *tmp;
    int fd, force, throwaway;
    dp_rdb_check chk;
} rdbfile_sink;

static int rf_write(dp_sink *s, const void *p, size_t n, dp_err *err)
{
    rdbfile_sink *f = (rdbfile_sink *)s;
    if (dp_rdb_check_feed(&f->chk, p, n) < 0)
        return dp_err_set(err, DUMPER_ECORRUPT, "backup for '%s' is not an rdb snapshot (bad header)", f->target);
    if (dp_write_all(f->fd, p, n) < 0)
        return dp_err_sys(err, dp_err_code_for_errno(errno), errno, "unable to write '%s'", f->tmp);
    return 0;
}

static int rf_end(dp_sink *s, dp_err *err)
{
    rdbfile_sink *f = (rdbfile_sink *)s;
    int v = dp_rdb_check_finish(&f->chk);
    if (v != DP_RDB_OK && v != DP_RDB_OK_NO_CHECKSUM)
        return dp_err_set(err, DUMPER_ECORRUPT, "backup for '%s': %s", f->target, dp_rdb_check_strerror(v));
    if (!f->throwaway && fsync(f->fd) < 0)
        return dp_err_sys(err, dp_err_code_for_errno(errno), errno, "unable to fsync '%s'", f->tmp);
    if (close(f->fd) < 0) {
        f->fd = -1;
        return dp_err_sys(err, dp_err_code_for_errno(errno), errno, "unable to close '%s'", f->tmp);
    }
    f->fd = -1;
    return 0;
}

static int rf_commit(dp_sink *s, dp_err *err)
{
    rdbfile_sink *f = (rdbfile_sink *)s;
    if (f->force) {
        if (rename(f->tmp, f->target) < 0)
            return dp_err_sys(err, DUMPER_EIO, errno, "unable to move the rdb file to '%s'", f->target);
    } else if (renameat2(AT_FDCWD, f->tmp, AT_FDCWD, f->target, RENAME_NOREPLACE) < 0) {
        if (errno == EEXIST)
            return dp_err_set(err, DUMPER_EEXIST, "'%s' appeared during the restore (use --force to replace it)",
                              f->target);
        if (rename(f->tmp, f->target) < 0)
            return dp_err_sys(err, DUMPER_EIO, errno, "unable to move the rdb file to '%s'", f->target);
    }
    free(f->tmp);
    f->tmp = NULL;
    if (!f->throwaway && dp_fsync_dir_of(f->target) < 0)
        return dp_err_sys(err, DUMPER_EIO, errno, "unable to fsync the directory of '%s'", f->target);
    return 0;
}

static void rf_abort(dp_sink *s)
{
    rdbfile_sink *f = (rdbfile_sink *)s;
    if (f->fd >= 0)
        close(f->fd);
    f->fd = -1;
    if (f->tmp)
        unlink(f->tmp);
}

static void rf_destroy(dp_sink *s)
{
    rdbfile_sink *f = (rdbfile_sink *)s;
    if (f->fd >= 0)
        close(f->fd);
    free(f->target);
    free(f->tmp);
}

static const dp_sink_ops rdbfile_ops = {.name = "redis-rdb-file",
                                        .write = rf_write,
                                        .end = rf_end,
                                        .commit = rf_commit,
                                        .abort = rf_abort,
                                        .destroy = rf_destroy};

static int redis_restore(const dp_dburl *url, const dp_source_opts *opts, const char *format, dp_sink **out,
                         dp_err *err)
{
    *out = NULL;
    if (!dp_streq(format, "rdb"))
        return dp_err_set(err, DUMPER_EUNSUPPORTED, "cannot restore a '%s' backup into redis", format);
    const char *path = opts->restore_file;
    if (!path || !*path)
        return dp_err_set(err, DUMPER_EUSAGE,
                          "a redis restore writes an rdb file: give its path with --rdb-file PATH, then load it into "
                          "the server (see docs/sources-nosql.md)");
    struct stat sb;
    if (stat(path, &sb) == 0) {
        if (!S_ISREG(sb.st_mode))
            return dp_err_set(err, DUMPER_EEXIST, "'%s' exists and is not a regular file", path);
        if (!opts->force)
            return dp_err_set(err, DUMPER_EEXIST, "'%s' exists (use --force to replace it)", path);
    }
    rdbfile_sink *f = calloc(1, sizeof *f);
    if (!f)
        return dp_err_set(err, DUMPER_ENOMEM, "out of memory");
    dp_sink_init(&f->base, &rdbfile_ops, NULL);
    dp_rdb_check_init(&f->chk);
    f->fd = -1;
    f->force = opts->force;
    f->throwaway = opts->throwaway;
    f->target = strdup(path);
    const char *slash = strrchr(path, '/');
    unsigned rnd = (unsigned)(dp_mono_ms() ^ (uintptr_t)f);
    f->tmp = slash ? dp_asprintf("%.*s/.%s.restore-%ld-%08x", (int)(slash - path), path, slash + 1, (long)getpid(), rnd)
                   : dp_asprintf(".%s.restore-%ld-%08x", path, (long)getpid(), rnd);
    int rc = 0;
    if (!f->target || !f->tmp)
        rc = dp_err_set(err, DUMPER_ENOMEM, "out of memory");
    else if ((f->fd = open(f->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0)
        rc = dp_err_sys(err, dp_err_code_for_errno(errno), errno, "unable to create '%s'", f->tmp);
    if (rc) {
        rf_destroy(&f->base);
        free(f);
        return rc;
    }
    *out = &f->base;
    return 0;
}

/* ---- drills: load a restored RDB file into a throwaway redis-server ----
 *
 * A drill restores the RDB to a file (opts->restore_file), then starts redis-server on a unix
 * socket beside it (no TCP port, no persistence) so the server itself parses every value, and
 * counts the keys of each database (INFO keyspace), which the drill compares with the counts the
 * backup's walk over the same bytes recorded (dp_rdb_keys). redis-server refuses an RDB it cannot
 * read (newer version, damaged value): the drill fails with its log line. */

static int redis_inspect(const dp_dburl *url, const dp_source_opts *opts, dp_contents *out, dp_err *err)
{
    memset(out, 0, sizeof *out);
    if (!opts->restore_file || !strrchr(opts->restore_file, '/'))
        return dp_err_set(err, DUMPER_EINTERNAL, "redis: a drill needs the restored rdb file");
    const char *slash = strrchr(opts->restore_file, '/');
    char *dir = dp_asprintf("%.*s", (int)(slash - opts->restore_file), opts->restore_file);
    char *sock = dir ? dp_asprintf("%s/redis.sock", dir) : NULL;
    char *logf = dir ? dp_asprintf("%s/redis.log", dir) : NULL;
    dp_proc *p = NULL;
    redisContext *c = NULL;
    redisReply *rep = NULL;
    int rc = 0;
    if (!sock || !logf) {
        rc = dp_err_set(err, DUMPER_ENOMEM, "out of memory");
        goto done;
    }
    /* --replicaof 127.0.0.1 0: a replica keeps the keys whose expiry time passed since the backup
     * (a master drops them while it loads) and never expires keys itself, so INFO keyspace counts
     * every key of the file, whenever the drill runs. Port 0 cannot be listened on: the replica
     * never finds its master, never syncs, and its data stays the file's. */
    const char *argv[] = {"redis-server", "--port", "0", "--unixsocket", sock, "--unixsocketperm", "700", "--dir", dir,
                          "--dbfilename", slash + 1, "--save", "", "--appendonly", "no", "--daemonize", "no",
                          "--replicaof", "127.0.0.1", "0", "--logfile", logf, NULL};
    dp_proc_opts po = {.path = "redis-server", .argv = argv, .what = "redis-server"};
    if ((rc = dp_proc_spawn(&po, &p, err)))
        goto done;
    /* until it accepts connections and has loaded the file (LOADING errors meanwhile) */
    int64_t deadline = dp_mono_ms() + 120000;
    for (;;) {
        if (dp_interrupted) {
            rc = dp_err_set(err, DUMPER_EINTR, "interrupted");
            goto done;
        }
        if (!c) {
            struct timeval tv = {1, 0};
            c = redisConnectUnixWithTimeout(sock, tv);
            if (c && c->err) {
                redisFree(c);
                c = NULL;
            }
        }
        if (c) {
            rep = redisCommand(c, "PING");
            int ready = rep && rep->type == REDIS_REPLY_STATUS;
            freeReplyObject(rep);
            rep = NULL;
            if (ready)
                break;
            if (c->err) {
                redisFree(c);
                c = NULL;
            }
        }
        if (dp_mono_ms() > deadline) {
            rc = dp_err_set(err, DUMPER_ETIMEOUT, "redis-server did not load the restored rdb within 120 s");
            goto done;
        }
        struct timespec ts = {0, 50 * 1000000};
        nanosleep(&ts, NULL);
        /* a server that exits refused the file: its last log line says why */
        if (!c && dp_proc_exited(p)) {
            char tail[DP_PROC_TAIL + 1] = "", line[300];
            int fd = open(logf, O_RDONLY | O_CLOEXEC);
            if (fd >= 0) {
                off_t size = lseek(fd, 0, SEEK_END);
                ssize_t n = pread(fd, tail, DP_PROC_TAIL, size > DP_PROC_TAIL ? size - DP_PROC_TAIL : 0);
                tail[n > 0 ? n : 0] = 0;
                close(fd);
            }
            dp_proc_summary(tail, NULL, line, sizeof line);
            rc = dp_err_set(err, DUMPER_ECORRUPT, "redis-server refused the restored rdb: %s", line);
            goto done;
        }
    }
    dp_set_cloexec(c->fd);
    rep = redisCommand(c, "INFO");
    if (!rep || rep->type != REDIS_REPLY_STRING) {
        rc = dp_err_set(err, DUMPER_ESOURCE, "redis-server: INFO failed");
        goto done;
    }
    const char *v = strstr(rep->str, "redis_version:");
    if (v) {
        v += 14;
        size_t n = strcspn(v, "\r\n");
        if (n && n <= DP_CONTENTS_MAX_STR && !(out->server_version = dp_asprintf("%.*s", (int)n, v)))
            rc = dp_err_set(err, DUMPER_ENOMEM, "out of memory");
    }
    /* "db0:keys=3,expires=0,avg_ttl=0" lines */
    for (const char *l = rep->str; !rc && l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        unsigned db;
        unsigned long long keys;
        char name[24];
        if (sscanf(l, "db%u:keys=%llu,", &db, &keys) == 2) {
            snprintf(name, sizeof name, "db%u", db);
            if (dp_contents_add(out, name, NULL, keys))
                rc = dp_err_set(err, DUMPER_ENOMEM, "out of memory");
        }
    }
    if (!rc && dp_contents_finish(out))
        rc = dp_err_set(err, DUMPER_ENOMEM, "out of memory");
done:
    freeReplyObject(rep);
    if (c) {
        redisReply *r = redisCommand(c, "SHUTDOWN NOSAVE");
        freeReplyObject(r);
        redisFree(c);
    }
    dp_proc_free(p); /* reaps it (kills it if it still runs) */
    if (sock)
        unlink(sock);
    if (logf)
        unlink(logf);
    if (rc)
        dp_contents_free(out);
    free(logf);
    free(sock);
    free(dir);
    return rc;
}

const dp_source_driver dp_source_redis = {
    .name = "redis",
    .type = DP_DB_REDIS,
    .features = DP_SOURCE_FEAT_BACKUP | DP_SOURCE_FEAT_RESTORE,
    .resolve_format = redis_resolve_format,
    .check = redis_check,
    .backup = redis_backup,
    .restore = redis_restore,
    .restore_formats = (const char *const[]){"rdb", NULL},
    .inspect = redis_inspect,
};
