/*
 * mongodb.c - MongoDB source: a native dump with libmongoc, streamed as a tar archive.
 *
 * Layout (mongodump's): for each database (the URL's, or every database except admin, config and
 * local), for each collection (views and system.* skipped), "<db>/<coll>.metadata.json" (options,
 * indexes, uuid, collectionName, type in canonical extended JSON, as mongodump writes it) followed
 * by the documents as concatenated BSON. Collection names are escaped for file names: '/' becomes
 * "%2F" and '%' becomes "%25".
 *
 * Why parts: a tar header carries the entry size before the data, and a collection's byte size is
 * only known once it has been read (a count or $bsonSize pass would race concurrent writes). So the
 * documents are spooled in memory up to a bound (DP_MONGO_PART_BYTES, 16 MiB; at least one whole
 * document, so up to 16 MiB + one 16 MiB document): a collection that fits is written as one
 * "<coll>.bson" entry, exactly mongodump's; a larger one becomes "<coll>.bson.000", ".001", ...
 * each a whole number of documents. `dumper restore` reads both; for mongorestore, concatenate the
 * parts of an extracted backup into "<coll>.bson" first (docs/sources-nosql.md). Memory stays
 * bounded and nothing is written to a temporary file.
 *
 * The dump is not a point-in-time snapshot across collections (like mongodump without --oplog).
 *
 * Restore reads the tar stream with the push-mode tar reader (tar_reader.h), inserts
 * documents in batches, creates each collection with its options before its documents and the
 * indexes once all documents are in. The target database must be empty unless --force, which
 * drops each restored collection first. With a database in the URL, a backup of one database is
 * restored under that name.
 */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <locale.h>
#include <mongoc/mongoc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "core/util.h"
#include "source/mongodb_archive.h"
#include "source/source.h"
#include "source/tar_reader.h"

#define DP_MONGO_PART_BYTES (16u * 1024 * 1024)
#define INSERT_BATCH_DOCS 1000
#define INSERT_BATCH_BYTES (8u * 1024 * 1024)
#define METADATA_MAX (16u * 1024 * 1024)

static pthread_once_t mongoc_once = PTHREAD_ONCE_INIT;
/* libmongoc logs to stderr by default (e.g. a DEBUG line on failed authentication): route its
 * messages to our log at debug level so a failure stays one error line. */
static void mongoc_log_to_dp(mongoc_log_level_t level, const char *domain, const char *message, void *ctx)
{
    (void)ctx;
    dp_log(level <= MONGOC_LOG_LEVEL_WARNING ? DP_LOG_INFO : DP_LOG_DEBUG, "libmongoc %s: %s", domain, message);
}

static void mongoc_setup(void)
{
    /* Debian's libmongoc may already have initialised itself at load time; mongoc_init() is then
     * a no-op. Its /dev/shm counters are dealt with in core/preinit.h. */
    mongoc_log_set_handler(mongoc_log_to_dp, NULL);
    mongoc_init();
}

/* ---- connection ---- */

typedef struct {
    mongoc_client_t *client;
    char where[300]; /* "mongodb at host:port", for messages */
} mconn;

static void put_pct(dp_buf *b, const char *s)
{
    static const char hx[] = "0123456789ABCDEF";
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || strchr("-._~", c)) {
            dp_buf_append(b, s, 1);
        } else {
            char e[3] = {'%', hx[c >> 4], hx[c & 15]};
            dp_buf_append(b, e, 3);
        }
    }
}

static int mongo_err_code(const bson_error_t *e)
{
    if ((e->domain == MONGOC_ERROR_CLIENT && e->code == MONGOC_ERROR_CLIENT_AUTHENTICATE) ||
        (e->domain == MONGOC_ERROR_SERVER && (e->code == 18 /* AuthenticationFailed */ || e->code == 13 /* Unauthorized */)))
        return DUMPER_EAUTH;
    if (e->domain == MONGOC_ERROR_SERVER_SELECTION || e->domain == MONGOC_ERROR_STREAM)
        return DUMPER_ECONNECT;
    return DUMPER_ESOURCE;
}

static void conn_close(mconn *m)
{
    if (m->client)
        mongoc_client_destroy(m->client);
    m->client = NULL;
}

/* Builds the URI from the parsed URL without the password (set separately, so it never passes
 * through a formatted string), with short timeouts unless the URL sets them. */
static int conn_open(const dp_dburl *url, mconn *m, dp_err *err)
{
    memset(m, 0, sizeof *m);
    pthread_once(&mongoc_once, mongoc_setup);
    const char *host = url->host && *url->host ? url->host : "127.0.0.1";
    int port = url->port ? url->port : 27017;
    int srv = strcmp(url->scheme, "mongodb+srv") == 0;
    dp_buf s = {0};
    if (url->hosts) {
        /* a replica set's seed list, validated entry by entry by the URL parser */
        snprintf(m->where, sizeof m->where, "mongodb at %s", url->hosts);
        dp_buf_printf(&s, "mongodb://%s/?", url->hosts);
    } else if (srv) {
        /* DNS SRV discovery: a host name only, no port */
        snprintf(m->where, sizeof m->where, "mongodb+srv at %s", host);
        dp_buf_printf(&s, "mongodb+srv://%s/?", host);
    } else {
        snprintf(m->where, sizeof m->where, strchr(host, ':') ? "mongodb at [%s]:%d" : "mongodb at %s:%d", host,
                 port);
        dp_buf_printf(&s, strchr(host, ':') ? "mongodb://[%s]:%d/?" : "mongodb://%s:%d/?", host, port);
    }
    int has_sst = 0, has_ct = 0;
    for (size_t i = 0; i < url->nparams; i++) {
        has_sst |= !strcasecmp(url->params[i].key, "serverSelectionTimeoutMS");
        has_ct |= !strcasecmp(url->params[i].key, "connectTimeoutMS");
        put_pct(&s, url->params[i].key);
        dp_buf_puts(&s, "=");
        put_pct(&s, url->params[i].value ? url->params[i].value : "");
        dp_buf_puts(&s, "&");
    }
    if (!has_sst)
        dp_buf_puts(&s, "serverSelectionTimeoutMS=5000&");
    if (!has_ct)
        dp_buf_puts(&s, "connectTimeoutMS=5000&");
    if (dp_buf_puts(&s, "appname=dumper") < 0) {
        dp_buf_free(&s);
        return dp_err_set(err, DUMPER_ENOMEM, "out of memory");
    }
    bson_error_t be;
    mongoc_uri_t *uri = mongoc_uri_new_with_error(s.data, &be);
    dp_buf_free(&s);
    if (!uri)
        return dp_err_set(err, DUMPER_EURL, "%s: invalid connection options: %s", m->where, be.message);
    const char *pw = url->password && *url->password ? url->password : getenv("DUMPER_DB_PASSWORD");
    int rc = 0;
    if (url->user && *url->user) {
        mongoc_uri_set_username(uri, url->user);
        if (pw && *pw)
            mongoc_uri_set_password(uri, pw);
        if (!dp_dburl_param(url, "authSource") && url->dbname && *url->dbname)
            mongoc_uri_set_auth_source(uri, url->dbname);
    }
    m->client = mongoc_client_new_from_uri_with_error(uri, &be);
    mongoc_uri_destroy(uri);
    if (!m->client)
        return dp_err_set(err, DUMPER_EURL, "%s: %s", m->where, be.message);
    mongoc_client_set_error_api(m->client, MONGOC_ERROR_API_VERSION_2);
    bson_t *ping = BCON_NEW("ping", BCON_INT32(1));
    bson_t reply;
    if (!mongoc_client_command_simple(m->client, "admin", ping, NULL, &reply, &be)) {
        int code = mongo_err_code(&be);
        if (code == DUMPER_EAUTH)
            rc = dp_err_set(err, code, "%s: authentication failed (wrong user or password?)", m->where);
        else if (code == DUMPER_ECONNECT)
            rc = dp_err_set(err, code, "cannot connect to %s: %s", m->where, be.message);
        else
            rc = dp_err_set(err, code, "%s: ping failed: %s", m->where, be.message);
    }
    bson_destroy(&reply);
    bson_destroy(ping);
    if (rc)
        conn_close(m);
    return rc;
}

/* An operation failed after the connection was established: a lost connection is the database
 * failing mid-dump (DUMPER_ESOURCE), like any other server error. */
static int op_fail(mconn *m, const bson_error_t *be, dp_err *err, const char *what, const char *ns)
{
    int code = mongo_err_code(be);
    return dp_err_set(err, code == DUMPER_ECONNECT ? DUMPER_ESOURCE : code, "%s: %s%s%s failed: %s", m->where, what,
                      ns ? " " : "", ns ? ns : "", be->message);
}

static int is_system_db(const char *name)
{
    return !strcmp(name, "admin") || !strcmp(name, "local") || !strcmp(name, "config");
}

static int mongo_resolve_format(const dp_dburl *url, const dp_source_opts *opts, const char **format, dp_err *err)
{
    if (opts->format && *opts->format && strcmp(opts->format, "tar") != 0)
        return dp_err_set(err, DUMPER_EUSAGE, "unknown mongodb format '%s' (supported: tar)", opts->format);
    if (opts->custom_options && *opts->custom_options)
        return dp_err_set(err, DUMPER_EUSAGE, "mongodb backups take no custom options");
    *format = "tar";
    return 0;
}

static int mongo_check(const dp_dburl *url, const dp_source_opts *opts, dp_err *err)
{
    mconn m;
    int rc = conn_open(url, &m, err);
    conn_close(&m);
    return rc;
}

/* ---- backup: tar writer over the sink ---- */

typedef struct {
    mconn *m;
    struct archive *ar;
    dp_sink *out;
    dp_err *err;
    int sink_rc; /* first sink error, reported instead of libarchive's */
    size_t part_max;
    dp_buf spool;
    int64_t now;
    dp_contents *contents; /* "<db>.<coll>": documents written, or NULL */
} dumpctx;

static la_ssize_t tar_write_cb(struct archive *a, void *ctx, const void *buf, size_t n)
{
    dumpctx *d = ctx;
    if (d->sink_rc)
        return -1;
    if ((d->sink_rc = dp_sink_write(d->out, buf, n, d->err)))
        return -1;
    return (la_ssize_t)n;
}

static int tar_fail(dumpctx *d, const char *what)
{
    if (d->sink_rc)
        return d->sink_rc;
    return dp_err_set(d->err, DUMPER_EINTERNAL, "tar: %s: %s", what, archive_error_string(d->ar));
}

static int tar_entry(dumpctx *d, const char *name, const void *data, size_t n, int is_dir)
{
    struct archive_entry *e = archive_entry_new();
    if (!e)
        return dp_err_set(d->err, DUMPER_ENOMEM, "out of memory");
    archive_entry_set_pathname(e, name); /* UTF-8: mongo_backup runs under a UTF-8 LC_CTYPE */
    archive_entry_set_filetype(e, is_dir ? AE_IFDIR : AE_IFREG);
    archive_entry_set_perm(e, is_dir ? 0755 : 0644);
    archive_entry_set_size(e, is_dir ? 0 : (la_int64_t)n);
    archive_entry_set_mtime(e, (time_t)(d->now / 1000), 0);
    int rc = 0;
    if (archive_write_header(d->ar, e) != ARCHIVE_OK)
        rc = tar_fail(d, name);
    const char *p = data;
    while (!rc && n) {
        size_t k = n < DP_IO_CHUNK ? n : DP_IO_CHUNK;
        la_ssize_t w = archive_write_data(d->ar, p, k);
        if (w <= 0) {
            rc = tar_fail(d, name);
            break;
        }
        p += w;
        n -= (size_t)w;
    }
    archive_entry_free(e);
    return rc;
}

/* "<db>/<escaped coll><suffix>". */
static char *entry_name(const char *db, const char *coll, const char *suffix)
{
    dp_buf b = {0};
    dp_buf_printf(&b, "%s/", db);
    for (const char *p = coll; *p; p++) {
        if (*p == '/')
            dp_buf_puts(&b, "%2F");
        else if (*p == '%')
            dp_buf_puts(&b, "%25");
        else
            dp_buf_append(&b, p, 1);
    }
    if (dp_buf_puts(&b, suffix) < 0) {
        dp_buf_free(&b);
        return NULL;
    }
    return b.data;
}

static int write_metadata(dumpctx *d, const char *db, const char *coll, const bson_t *info, mongoc_collection_t *c)
{
    bson_t indexes = BSON_INITIALIZER;
    bson_error_t be;
    int rc = 0;
    mongoc_cursor_t *cur = mongoc_collection_find_indexes_with_opts(c, NULL);
    const bson_t *ix;
    unsigned n = 0;
    while (mongoc_cursor_next(cur, &ix)) {
        char key[16];
        const char *k;
        bson_uint32_to_string(n++, &k, key, sizeof key);
        bson_append_document(&indexes, k, -1, ix);
    }
    if (mongoc_cursor_error(cur, &be))
        rc = op_fail(d->m, &be, d->err, "listIndexes on", coll);
    mongoc_cursor_destroy(cur);
    size_t jlen;
    char *json = NULL, *name = NULL;
    if (!rc && (rc = dp_mongo_metadata_json(info, &indexes, db, coll, &json, &jlen, d->err)))
        dp_err_prefix(d->err, "%s", d->m->where);
    if (!rc && !(name = entry_name(db, coll, ".metadata.json")))
        rc = dp_err_set(d->err, DUMPER_ENOMEM, "out of memory");
    if (!rc)
        rc = tar_entry(d, name, json, jlen, 0);
    bson_free(json);
    free(name);
    bson_destroy(&indexes);
    return rc;
}

static int flush_part(dumpctx *d, const char *db, const char *coll, unsigned part)
{
    char suffix[32];
    snprintf(suffix, sizeof suffix, ".bson.%03u", part);
    char *name = entry_name(db, coll, suffix);
    if (!name)
        return dp_err_set(d->err, DUMPER_ENOMEM, "out of memory");
    int rc = tar_entry(d, name, d->spool.data, d->spool.len, 0);
    free(name);
    dp_buf_reset(&d->spool);
    return rc;
}

static int dump_collection(dumpctx *d, mongoc_database_t *mdb, const char *db, const char *coll, const bson_t *info)
{
    mongoc_collection_t *c = mongoc_database_get_collection(mdb, coll);
    int rc = write_metadata(d, db, coll, info, c);
    unsigned part = 0;
    uint64_t ndocs = 0;
    if (rc)
        goto done;
    dp_buf_reset(&d->spool);
    bson_t filter = BSON_INITIALIZER;
    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(c, &filter, NULL, NULL);
    const bson_t *doc;
    while (!rc && mongoc_cursor_next(cur, &doc)) {
        if (dp_interrupted) {
            rc = dp_err_set(d->err, DUMPER_EINTR, "%s: interrupted", d->m->where);
            break;
        }
        if (d->spool.len && d->spool.len + doc->len > d->part_max)
            rc = flush_part(d, db, coll, part++);
        if (!rc && dp_buf_append(&d->spool, bson_get_data(doc), doc->len) < 0)
            rc = dp_err_set(d->err, DUMPER_ENOMEM, "out of memory");
        ndocs++;
    }
    bson_error_t be;
    if (!rc && mongoc_cursor_error(cur, &be)) {
        char *ns = dp_asprintf("%s.%s", db, coll);
        rc = op_fail(d->m, &be, d->err, "reading", ns);
        free(ns);
    }
    mongoc_cursor_destroy(cur);
    bson_destroy(&filter);
    if (!rc) {
        if (part == 0) {
            char *name = entry_name(db, coll, ".bson");
            rc = name ? tar_entry(d, name, d->spool.data, d->spool.len, 0)
                      : dp_err_set(d->err, DUMPER_ENOMEM, "out of memory");
            free(name);
            dp_buf_reset(&d->spool);
        } else if (d->spool.len) {
            rc = flush_part(d, db, coll, part++);
        }
    }
    dp_debug("%s: %s.%s: %llu documents in %u part(s)", d->m->where, db, coll, (unsigned long long)ndocs,
             part ? part : 1);
    if (!rc && d->contents) {
        /* the documents this dump wrote, counted as they went into the archive */
        char *ns = dp_asprintf("%s.%s", db, coll);
        if (!ns || dp_contents_add(d->contents, ns, NULL, ndocs))
            rc = dp_err_set(d->err, DUMPER_ENOMEM, "out of memory");
        free(ns);
    }
done:
    mongoc_collection_destroy(c);
    return rc;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

typedef struct {
    char *name;
    bson_t *info;
} collinfo;

static int cmp_coll(const void *a, const void *b) { return strcmp(((const collinfo *)a)->name, ((const collinfo *)b)->name); }

static int dump_database(dumpctx *d, const char *db)
{
    mongoc_database_t *mdb = mongoc_client_get_database(d->m->client, db);
    collinfo *cols = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    mongoc_cursor_t *cur = mongoc_database_find_collections_with_opts(mdb, NULL);
    const bson_t *info;
    while (!rc && mongoc_cursor_next(cur, &info)) {
        bson_iter_t it;
        const char *name = bson_iter_init_find(&it, info, "name") && BSON_ITER_HOLDS_UTF8(&it) ? bson_iter_utf8(&it, NULL)
                                                                                               : NULL;
        const char *type = bson_iter_init_find(&it, info, "type") && BSON_ITER_HOLDS_UTF8(&it) ? bson_iter_utf8(&it, NULL)
                                                                                               : "collection";
        if (!name || !strncmp(name, "system.", 7))
            continue;
        if (strcmp(type, "collection") != 0) {
            dp_warn("%s: skipping %s '%s.%s' (only collections are backed up)", d->m->where, type, db, name);
            continue;
        }
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 16;
            collinfo *g = realloc(cols, nc * sizeof *g);
            if (!g) {
                rc = dp_err_set(d->err, DUMPER_ENOMEM, "out of memory");
                break;
            }
            cols = g;
            cap = nc;
        }
        cols[n].name = dp_strdup(name);
        cols[n].info = bson_copy(info);
        n++;
    }
    bson_error_t be;
    if (!rc && mongoc_cursor_error(cur, &be))
        rc = op_fail(d->m, &be, d->err, "listCollections on", db);
    mongoc_cursor_destroy(cur);
    if (!rc && n)
        qsort(cols, n, sizeof *cols, cmp_coll);
    if (!rc && !n)
        dp_warn("%s: database '%s' has no collections to back up", d->m->where, db);
    if (!rc) {
        char *dir = dp_asprintf("%s/", db);
        rc = dir ? tar_entry(d, dir, NULL, 0, 1) : dp_err_set(d->err, DUMPER_ENOMEM, "out of memory");
        free(dir);
    }
    for (size_t i = 0; i < n && !rc; i++)
        rc = dump_collection(d, mdb, db, cols[i].name, cols[i].info);
    for (size_t i = 0; i < n; i++) {
        free(cols[i].name);
        bson_destroy(cols[i].info);
    }
    free(cols);
    mongoc_database_destroy(mdb);
    return rc;
}

static size_t part_bytes(void)
{
    /* Tests lower the bound to exercise multi-part collections with little data. */
    const char *e = getenv("DUMPER_MONGO_PART_BYTES");
    char *end;
    unsigned long long v = e ? strtoull(e, &end, 10) : 0;
    return e && *e && !*end && v >= 1024 ? (size_t)v : DP_MONGO_PART_BYTES;
}

/* The server's version (buildInfo), or NULL. */
static char *server_version(mconn *m)
{
    bson_t *cmd = BCON_NEW("buildInfo", BCON_INT32(1)), reply;
    bson_error_t be;
    bson_iter_t it;
    char *v = NULL;
    if (mongoc_client_command_simple(m->client, "admin", cmd, NULL, &reply, &be) &&
        bson_iter_init_find(&it, &reply, "version") && BSON_ITER_HOLDS_UTF8(&it)) {
        uint32_t n;
        const char *s = bson_iter_utf8(&it, &n);
        if (n && n <= DP_CONTENTS_MAX_STR && !memchr(s, 0, n))
            v = dp_strdup(s);
    }
    bson_destroy(&reply);
    bson_destroy(cmd);
    return v;
}

static int mongo_backup(const dp_dburl *url, const dp_source_opts *opts, dp_sink *out, dp_err *err)
{
    mconn m;
    if (opts->contents)
        memset(opts->contents, 0, sizeof *opts->contents);
    int rc = conn_open(url, &m, err);
    if (rc)
        return rc;
    dumpctx d = {.m = &m, .out = out, .err = err, .part_max = part_bytes(), .now = dp_now_ms(),
                 .contents = opts->contents};
    if (opts->contents)
        opts->contents->server_version = server_version(&m);
    /* MongoDB names are UTF-8; libarchive converts entry names from the thread's LC_CTYPE to the
     * pax header's UTF-8 and fails on non-ASCII names in the C locale. A UTF-8 LC_CTYPE for this
     * thread only (uselocale) makes the conversion the identity, without touching the host's locale. */
    locale_t utf8 = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
    locale_t old_locale = utf8 ? uselocale(utf8) : (locale_t)0;
    char **names = NULL;
    bson_error_t be;
    if (url->dbname && *url->dbname) {
        names = bson_malloc0(2 * sizeof *names);
        names[0] = bson_strdup(url->dbname);
    } else if (!(names = mongoc_client_get_database_names_with_opts(m.client, NULL, &be))) {
        rc = op_fail(&m, &be, err, "listDatabases", NULL);
        goto done;
    }
    size_t n = 0;
    while (names[n])
        n++;
    qsort(names, n, sizeof *names, cmp_str);
    d.ar = archive_write_new();
    if (!d.ar || archive_write_set_format_pax_restricted(d.ar) != ARCHIVE_OK ||
        archive_write_open(d.ar, &d, NULL, tar_write_cb, NULL) != ARCHIVE_OK) {
        rc = d.ar ? tar_fail(&d, "open") : dp_err_set(err, DUMPER_ENOMEM, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < n && !rc; i++) {
        if ((!url->dbname || !*url->dbname) && is_system_db(names[i]))
            continue;
        rc = dump_database(&d, names[i]);
    }
    if (!rc && archive_write_close(d.ar) != ARCHIVE_OK)
        rc = tar_fail(&d, "close");
    if (!rc && d.contents) {
        /* no schema to fingerprint: the collections and their documents are the contents */
        if (dp_contents_finish(d.contents)) {
            dp_warn("%s: more collections or longer names than a manifest records: no contents", m.where);
            dp_contents_free(d.contents);
        } else {
            d.contents->fingerprint[0] = 0;
        }
    }
done:
    if (rc && d.contents)
        dp_contents_free(d.contents);
    if (d.ar)
        archive_write_free(d.ar);
    bson_strfreev(names);
    dp_buf_free(&d.spool);
    conn_close(&m);
    if (utf8) {
        uselocale(old_locale);
        freelocale(utf8);
    }
    return rc;
}

/* ---- restore: a push tar parser feeding inserts ---- */

typedef struct {
    char *db, *coll;
    bson_t *indexes; /* array, or NULL */
} pending_ix;

typedef struct {
    dp_sink base;
    mconn m;
    int force;
    char *target_db; /* URL's database, or NULL = the backup's names */
    char *first_src_db;
    dp_tar_reader tar;
    int entry_kind;   /* 0 skip, 1 metadata, 2 bson */
    dp_buf entry_buf; /* metadata content; partial document for bson */
    char *cur_db, *cur_coll, *cur_name;
    mongoc_collection_t *coll;
    bson_t **batch;
    size_t nbatch, batch_bytes;
    uint64_t docs;
    char **prepared; /* "db\ncoll" and "db\n" keys already checked/dropped */
    size_t nprepared;
    pending_ix *ix;
    size_t nix;
} mrestore;

static int was_prepared(mrestore *r, const char *key)
{
    for (size_t i = 0; i < r->nprepared; i++)
        if (!strcmp(r->prepared[i], key))
            return 1;
    return 0;
}

static int mark_prepared(mrestore *r, const char *key, dp_err *err)
{
    char **g = realloc(r->prepared, (r->nprepared + 1) * sizeof *g);
    char *k = dp_strdup(key);
    if (!g || !k) {
        free(k);
        if (g)
            r->prepared = g;
        return dp_err_set(err, DUMPER_ENOMEM, "out of memory");
    }
    r->prepared = g;
    r->prepared[r->nprepared++] = k;
    return 0;
}

/* Non-system collections of db, as a NULL-terminated list (bson_strfreev). */
static int user_collections(mconn *m, const char *db, char ***out, dp_err *err)
{
    mongoc_database_t *mdb = mongoc_client_get_database(m->client, db);
    bson_error_t be;
    char **names = mongoc_database_get_collection_names_with_opts(mdb, NULL, &be);
    mongoc_database_destroy(mdb);
    if (!names)
        return op_fail(m, &be, err, "listCollections on", db);
    size_t w = 0;
    for (size_t i = 0; names[i]; i++) {
        if (!strncmp(names[i], "system.", 7))
            bson_free(names[i]);
        else
            names[w++] = names[i];
    }
    names[w] = NULL;
    *out = names;
    return 0;
}

static int check_empty_db(mrestore *r, const char *db, dp_err *err)
{
    char **names;
    int rc = user_collections(&r->m, db, &names, err);
    if (rc)
        return rc;
    if (names[0] && !r->force)
        rc = dp_err_set(err, DUMPER_EEXIST,
                        "target database '%s' on %s is not empty (collection '%s'; use --force to drop the restored "
                        "collections first)",
                        db, r->m.where, names[0]);
    bson_strfreev(names);
    return rc;
}

static int flush_batch(mrestore *r, dp_err *err)
{
    int rc = 0;
    if (r->nbatch) {
        bson_error_t be;
        if (!mongoc_collection_insert_many(r->coll, (const bson_t **)r->batch, r->nbatch, NULL, NULL, &be)) {
            char *ns = dp_asprintf("%s.%s", r->cur_db, r->cur_coll);
            rc = op_fail(&r->m, &be, err, "inserting into", ns);
            free(ns);
        }
    }
    for (size_t i = 0; i < r->nbatch; i++)
        bson_destroy(r->batch[i]);
    r->nbatch = 0;
    r->batch_bytes = 0;
    return rc;
}

/* Make sure the target collection is ready for data: database checked empty (or --force), the
 * collection dropped once under --force. */
static int prepare_collection(mrestore *r, const char *db, const char *coll, dp_err *err)
{
    char *dbkey = dp_asprintf("%s\n", db), *ckey = dp_asprintf("%s\n%s", db, coll);
    int rc = 0;
    if (!dbkey || !ckey) {
        rc = dp_err_set(err, DUMPER_ENOMEM, "out of memory");
        goto done;
    }
    if (!was_prepared(r, dbkey)) {
        if (!r->target_db && (rc = check_empty_db(r, db, err)))
            goto done;
        if ((rc = mark_prepared(r, dbkey, err)))
            goto done;
    }
    if (!was_prepared(r, ckey)) {
        if (r->force) {
            mongoc_collection_t *c = mongoc_client_get_collection(r->m.client, db, coll);
            bson_error_t be;
            if (!mongoc_collection_drop(c, &be) && be.code != 26 /* NamespaceNotFound */ &&
                !strstr(be.message, "ns not found")) {
                char *ns = dp_asprintf("%s.%s", db, coll);
                rc = op_fail(&r->m, &be, err, "dropping", ns);
                free(ns);
            }
            mongoc_collection_destroy(c);
            if (rc)
                goto done;
        }
        rc = mark_prepared(r, ckey, err);
    }
done:
    free(dbkey);
    free(ckey);
    return rc;
}

static int map_db(mrestore *r, const char *src_db, const char **db, dp_err *err)
{
    if (!r->first_src_db && !(r->first_src_db = dp_strdup(src_db)))
        return dp_err_set(err, DUMPER_ENOMEM, "out of memory");
    if (r->target_db && strcmp(r->first_src_db, src_db) != 0)
        return dp_err_set(err, DUMPER_EUSAGE,
                          "backup holds several databases ('%s', '%s', ...): restore it into a mongodb:// URL "
                          "without a database name",
                          r->first_src_db, src_db);
    *db = r->target_db ? r->target_db : src_db;
    return 0;
}

static int apply_metadata(mrestore *r, const char *db, const char *coll, dp_err *err)
{
    bson_t opts;
    bson_t *specs = NULL;
    int rc = dp_mongo_metadata_parse(r->entry_buf.data, r->entry_buf.len, db, coll, &opts, &specs, err);
    if (!rc) {
        /* The "create" command with the options as stored (mongoc_database_create_collection would
         * reject values a server accepts, e.g. a double "size"); also without options, so that an
         * empty collection is restored too. */
        bson_error_t be;
        mongoc_database_t *mdb = mongoc_client_get_database(r->m.client, db);
        bson_t cmd = BSON_INITIALIZER, reply;
        BSON_APPEND_UTF8(&cmd, "create", coll);
        bson_concat(&cmd, &opts);
        if (!mongoc_database_write_command_with_opts(mdb, &cmd, NULL, &reply, &be) &&
            be.code != 48 /* NamespaceExists */) {
            char *ns = dp_asprintf("%s.%s", db, coll);
            rc = op_fail(&r->m, &be, err, "creating", ns);
            free(ns);
        }
        bson_destroy(&reply);
        bson_destroy(&cmd);
        mongoc_database_destroy(mdb);
    }
    bson_destroy(&opts);
    if (!rc && specs) {
        pending_ix *g = realloc(r->ix, (r->nix + 1) * sizeof *g);
        if (!g) {
            rc = dp_err_set(err, DUMPER_ENOMEM, "out of memory");
        } else {
            r->ix = g;
            r->ix[r->nix].db = dp_strdup(db);
            r->ix[r->nix].coll = dp_strdup(coll);
            r->ix[r->nix].indexes = specs;
            specs = NULL;
            r->nix++;
        }
    }
    if (specs)
        bson_destroy(specs);
    return rc;
}

static void free_entry_state(mrestore *r)
{
    free(r->cur_db);
    free(r->cur_coll);
    free(r->cur_name);
    r->cur_db = r->cur_coll = r->cur_name = NULL;
    if (r->coll)
        mongoc_collection_destroy(r->coll);
    r->coll = NULL;
}

static int on_begin(void *ctx, const char *path, uint64_t size, dp_err *err)
{
    mrestore *r = ctx;
    free_entry_state(r);
    dp_buf_reset(&r->entry_buf);
    r->entry_kind = 0;
    char *db = NULL, *coll = NULL;
    size_t coll_len = 0;
    int kind;
    const char *tdb = NULL;
    int rc = dp_mongo_entry_parse(path, r->target_db != NULL, &kind, &db, &coll, &coll_len, err);
    if (!rc && kind && !(rc = map_db(r, db, &tdb, err)) && !(rc = prepare_collection(r, tdb, coll, err))) {
        r->entry_kind = kind;
        r->cur_db = dp_strdup(tdb);
        r->cur_coll = coll;
        coll = NULL;
        r->cur_name = dp_strdup(path);
        if (!r->cur_db || !r->cur_name)
            rc = dp_err_set(err, DUMPER_ENOMEM, "out of memory");
        else if (kind == DP_MONGO_METADATA && size > METADATA_MAX)
            rc = dp_err_set(err, DUMPER_ECORRUPT, "mongodb backup: oversized metadata entry '%s'", r->cur_name);
        else if (kind == DP_MONGO_DOCS)
            r->coll = mongoc_client_get_collection(r->m.client, r->cur_db, r->cur_coll);
    }
    free(db);
    free(coll);
    return rc;
}

static int feed_docs(mrestore *r, const unsigned char *p, size_t n, dp_err *err);

static int on_data(void *ctx, const void *p, size_t n, dp_err *err)
{
    mrestore *r = ctx;
    if (r->entry_kind == 2)
        return feed_docs(r, p, n, err);
    if (r->entry_kind == 1 && dp_buf_append(&r->entry_buf, p, n) < 0)
        return dp_err_set(err, DUMPER_ENOMEM, "out of memory");
    return 0;
}

static int on_end(void *ctx, dp_err *err)
{
    mrestore *r = ctx;
    int rc = 0;
    if (r->entry_kind == 1)
        rc = apply_metadata(r, r->cur_db, r->cur_coll, err);
    else if (r->entry_kind == 2 && r->entry_buf.len)
        rc = dp_err_set(err, DUMPER_ECORRUPT, "mongodb backup: '%s' ends inside a document", r->cur_name);
    else if (r->entry_kind == 2)
        rc = flush_batch(r, err);
    dp_buf_reset(&r->entry_buf);
    r->entry_kind = 0;
    return rc;
}

static const dp_tar_reader_cb tar_cb = {.begin = on_begin, .data = on_data, .end = on_end};

/* A whole, valid document of a .bson entry: batch it. */
static int take_doc(void *ctx, bson_t *doc, dp_err *err)
{
    mrestore *r = ctx;
    int rc = 0;
    if (r->nbatch == INSERT_BATCH_DOCS) /* the array holds INSERT_BATCH_DOCS */
        rc = flush_batch(r, err);
    r->batch[r->nbatch++] = doc;
    r->batch_bytes += doc->len;
    r->docs++;
    if (!rc && (r->nbatch == INSERT_BATCH_DOCS || r->batch_bytes >= INSERT_BATCH_BYTES))
        rc = flush_batch(r, err);
    return rc;
}

/* Feed entry bytes of a .bson entry: cut whole documents, batch them. */
static int feed_docs(mrestore *r, const unsigned char *p, size_t n, dp_err *err)
{
    return dp_mongo_docs_feed(&r->entry_buf, p, n, r->cur_name, take_doc, r, err);
}

static int mr_write(dp_sink *s, const void *buf, size_t n, dp_err *err)
{
    mrestore *r = (mrestore *)s;
    if (dp_interrupted)
        return dp_err_set(err, DUMPER_EINTR, "restore into %s interrupted", r->m.where);
    return dp_tar_reader_feed(&r->tar, buf, n, err);
}

static int mr_end(dp_sink *s, dp_err *err)
{
    mrestore *r = (mrestore *)s;
    int rc = dp_tar_reader_finish(&r->tar, err);
    for (size_t i = 0; i < r->nix && !rc; i++) {
        bson_t cmd = BSON_INITIALIZER, reply;
        bson_error_t be;
        BSON_APPEND_UTF8(&cmd, "createIndexes", r->ix[i].coll);
        BSON_APPEND_ARRAY(&cmd, "indexes", r->ix[i].indexes);
        mongoc_database_t *mdb = mongoc_client_get_database(r->m.client, r->ix[i].db);
        if (!mongoc_database_write_command_with_opts(mdb, &cmd, NULL, &reply, &be)) {
            char *ns = dp_asprintf("%s.%s", r->ix[i].db, r->ix[i].coll);
            rc = op_fail(&r->m, &be, err, "creating indexes on", ns);
            free(ns);
        }
        bson_destroy(&reply);
        bson_destroy(&cmd);
        mongoc_database_destroy(mdb);
    }
    if (!rc)
        dp_info("%s: restored %llu documents", r->m.where, (unsigned long long)r->docs);
    return rc;
}

static void mr_destroy(dp_sink *s)
{
    mrestore *r = (mrestore *)s;
    for (size_t i = 0; i < r->nbatch; i++)
        bson_destroy(r->batch[i]);
    free(r->batch);
    free_entry_state(r);
    for (size_t i = 0; i < r->nprepared; i++)
        free(r->prepared[i]);
    free(r->prepared);
    for (size_t i = 0; i < r->nix; i++) {
        free(r->ix[i].db);
        free(r->ix[i].coll);
        bson_destroy(r->ix[i].indexes);
    }
    free(r->ix);
    dp_tar_reader_free(&r->tar);
    free(r->target_db);
    free(r->first_src_db);
    dp_buf_free(&r->entry_buf);
    conn_close(&r->m);
}

/* A failed or interrupted restore into empty databases drops the collections it created there, so
 * the target is left as it was (empty). Under --force the replaced collections cannot come back:
 * what was inserted stays (documented). */
static void mr_abort(dp_sink *s)
{
    mrestore *r = (mrestore *)s;
    if (r->force || !r->m.client)
        return;
    for (size_t i = 0; i < r->nprepared; i++) {
        const char *nl = strchr(r->prepared[i], '\n');
        if (!nl || !nl[1])
            continue; /* a database key, "db\n" */
        char *db = dp_strndup(r->prepared[i], (size_t)(nl - r->prepared[i]));
        if (!db)
            continue;
        mongoc_collection_t *c = mongoc_client_get_collection(r->m.client, db, nl + 1);
        bson_error_t be;
        if (!mongoc_collection_drop(c, &be) && be.code != 26 && !strstr(be.message, "ns not found"))
            dp_warn("%s: dropping %s.%s after the failed restore: %s", r->m.where, db, nl + 1, be.message);
        mongoc_collection_destroy(c);
        free(db);
    }
}

static const dp_sink_ops mrestore_ops = {
    .name = "mongodb-restore", .write = mr_write, .end = mr_end, .abort = mr_abort, .destroy = mr_destroy};

static int mongo_restore(const dp_dburl *url, const dp_source_opts *opts, const char *format, dp_sink **out,
                         dp_err *err)
{
    *out = NULL;
    if (!dp_streq(format, "tar"))
        return dp_err_set(err, DUMPER_EUNSUPPORTED, "cannot restore a '%s' backup into mongodb", format);
    mrestore *r = calloc(1, sizeof *r);
    if (!r)
        return dp_err_set(err, DUMPER_ENOMEM, "out of memory");
    dp_sink_init(&r->base, &mrestore_ops, NULL);
    dp_tar_reader_init(&r->tar, &tar_cb, r);
    r->force = opts->force;
    int rc = conn_open(url, &r->m, err);
    if (!rc && !(r->batch = calloc(INSERT_BATCH_DOCS, sizeof *r->batch)))
        rc = dp_err_set(err, DUMPER_ENOMEM, "out of memory");
    if (!rc && url->dbname && *url->dbname) {
        if (!(r->target_db = dp_strdup(url->dbname)))
            rc = dp_err_set(err, DUMPER_ENOMEM, "out of memory");
        else
            rc = check_empty_db(r, r->target_db, err);
    }
    if (rc) {
        mr_destroy(&r->base);
        free(r);
        return rc;
    }
    *out = &r->base;
    return 0;
}

/* ---- drills: a scratch database on the --scratch server ----
 *
 * A drill restores into a database named by the drill (the URL's database: the backup's own name is
 * not used), counts the documents of every collection there with an aggregation ($count: a scan,
 * not the collection's metadata count) and drops the database. MongoDB creates a database with its
 * first collection: "create" only checks that the server answers. */

static int mongo_inspect(const dp_dburl *url, const dp_source_opts *opts, dp_contents *out, dp_err *err)
{
    memset(out, 0, sizeof *out);
    if (!url->dbname || !*url->dbname)
        return dp_err_set(err, DUMPER_EINTERNAL, "mongodb: a drill inspects one database");
    mconn m;
    int rc = conn_open(url, &m, err);
    if (rc)
        return rc;
    char **names = NULL;
    out->server_version = server_version(&m);
    rc = user_collections(&m, url->dbname, &names, err);
    mongoc_database_t *mdb = rc ? NULL : mongoc_client_get_database(m.client, url->dbname);
    for (size_t i = 0; !rc && names[i]; i++) {
        if (dp_interrupted) {
            rc = dp_err_set(err, DUMPER_EINTR, "interrupted");
            break;
        }
        mongoc_collection_t *c = mongoc_database_get_collection(mdb, names[i]);
        bson_t *pipeline = BCON_NEW("pipeline", "[", "{", "$count", BCON_UTF8("n"), "}", "]");
        mongoc_cursor_t *cur = mongoc_collection_aggregate(c, MONGOC_QUERY_NONE, pipeline, NULL, NULL);
        const bson_t *doc;
        bson_iter_t it;
        uint64_t n = 0;
        if (mongoc_cursor_next(cur, &doc) && bson_iter_init_find(&it, doc, "n") && BSON_ITER_HOLDS_NUMBER(&it) &&
            bson_iter_as_int64(&it) > 0)
            n = (uint64_t)bson_iter_as_int64(&it);
        bson_error_t be;
        if (mongoc_cursor_error(cur, &be)) {
            char *ns = dp_asprintf("%s.%s", url->dbname, names[i]);
            rc = op_fail(&m, &be, err, "counting", ns);
            free(ns);
        } else {
            char *ns = dp_asprintf("%s.%s", url->dbname, names[i]);
            if (!ns || dp_contents_add(out, ns, NULL, n))
                rc = dp_err_set(err, DUMPER_ENOMEM, "out of memory");
            free(ns);
        }
        mongoc_cursor_destroy(cur);
        bson_destroy(pipeline);
        mongoc_collection_destroy(c);
    }
    if (mdb)
        mongoc_database_destroy(mdb);
    bson_strfreev(names);
    conn_close(&m);
    if (!rc && dp_contents_finish(out))
        rc = dp_err_set(err, DUMPER_ENOMEM, "out of memory");
    if (rc)
        dp_contents_free(out);
    else
        out->fingerprint[0] = 0;
    return rc;
}

static int mongo_scratch_create(const dp_dburl *server, const dp_source_opts *opts, const char *name, dp_err *err)
{
    (void)name;
    return mongo_check(server, opts, err);
}

static int mongo_scratch_drop(const dp_dburl *server, const dp_source_opts *opts, const char *name, dp_err *err)
{
    mconn m;
    int rc = conn_open(server, &m, err);
    if (rc)
        return rc;
    mongoc_database_t *mdb = mongoc_client_get_database(m.client, name);
    bson_error_t be;
    if (!mongoc_database_drop(mdb, &be) && !(be.domain == MONGOC_ERROR_SERVER && be.code == 26 /* NamespaceNotFound */))
        rc = op_fail(&m, &be, err, "dropDatabase", name);
    mongoc_database_destroy(mdb);
    conn_close(&m);
    return rc;
}

static int mongo_scratch_list(const dp_dburl *server, const dp_source_opts *opts, const char *prefix, char ***names,
                              size_t *n, dp_err *err)
{
    *names = NULL;
    *n = 0;
    mconn m;
    int rc = conn_open(server, &m, err);
    if (rc)
        return rc;
    bson_error_t be;
    char **all = mongoc_client_get_database_names_with_opts(m.client, NULL, &be);
    if (!all)
        rc = op_fail(&m, &be, err, "listDatabases", NULL);
    size_t pl = strlen(prefix);
    for (size_t i = 0; !rc && all[i]; i++) {
        if (strncmp(all[i], prefix, pl) != 0)
            continue;
        char **g = realloc(*names, (*n + 1) * sizeof *g);
        if (!g || !(g[*n] = dp_strdup(all[i]))) {
            if (g)
                *names = g;
            rc = dp_err_set(err, DUMPER_ENOMEM, "out of memory");
            break;
        }
        *names = g;
        (*n)++;
    }
    if (rc) {
        for (size_t i = 0; i < *n; i++)
            free((*names)[i]);
        free(*names);
        *names = NULL;
        *n = 0;
    }
    bson_strfreev(all);
    conn_close(&m);
    return rc;
}

const dp_source_driver dp_source_mongodb = {
    .name = "mongodb",
    .type = DP_DB_MONGODB,
    .features = DP_SOURCE_FEAT_BACKUP | DP_SOURCE_FEAT_RESTORE,
    .resolve_format = mongo_resolve_format,
    .check = mongo_check,
    .backup = mongo_backup,
    .restore = mongo_restore,
    .restore_formats = (const char *const[]){"tar", NULL},
    .inspect = mongo_inspect,
    .scratch_create = mongo_scratch_create,
    .scratch_drop = mongo_scratch_drop,
    .scratch_list = mongo_scratch_list,
};
