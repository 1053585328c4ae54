/*
 * sqlite.c - SQLite source: an SQL text dump taken inside one read transaction.
 *
 * Why a text dump and not the online backup API: the backup API copies pages into another
 * database, which would need a temporary copy of the whole file (or memory the size of it), and
 * this SQLite build has no sqlite_dbpage table to stream pages from. One read transaction gives a
 * consistent snapshot: in WAL mode writers carry on while the dump runs; in rollback-journal mode a
 * writer waits (busy timeout) until the dump finishes, so dumps of big rollback-journal databases
 * delay writers for their duration. The text dump costs CPU to format (slower than a page copy) and
 * is larger before compression, but it is portable across SQLite versions, diffable, restorable
 * with `sqlite3 new.db < dump.sql`, and memory stays at one row.
 *
 * Restore builds a new database in a hidden file next to the target and renames it into place on
 * commit, so the target is never seen half-restored.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/util.h"
#include "source/source.h"

#define FLUSH_AT (64 * 1024)

typedef struct {
    sqlite3 *db;
    dp_buf line;
    dp_sink *out;
    const char *path;
    dp_err *err;
    dp_contents *contents; /* NULL: not recorded */
} dumpctx;

static int db_fail(dumpctx *c, const char *what)
{
    int code = sqlite3_errcode(c->db);
    int dcode = (code == SQLITE_NOTADB || code == SQLITE_CORRUPT) ? DUMPER_ESOURCE
                : (code == SQLITE_BUSY || code == SQLITE_LOCKED) ? DUMPER_EBUSY
                                                                 : DUMPER_ESOURCE;
    return dp_err_set(c->err, dcode, "sqlite database '%s': %s: %s", c->path, what, sqlite3_errmsg(c->db));
}

static int flush(dumpctx *c, int force)
{
    if (c->line.len && (force || c->line.len >= FLUSH_AT)) {
        int rc = dp_sink_write(c->out, c->line.data, c->line.len, c->err);
        dp_buf_reset(&c->line);
        return rc;
    }
    return 0;
}

static int emit(dumpctx *c, const char *s)
{
    if (dp_buf_puts(&c->line, s) < 0)
        return dp_err_set(c->err, DUMPER_ENOMEM, "out of memory");
    return flush(c, 0);
}

/* The helpers below return -1 when the buffer could not grow: a byte silently missing from a
 * dump would make a backup whose checksum is right and whose data is wrong. */
static int put_quoted_body(dp_buf *b, const char *s, size_t n, char q)
{
    int r = 0;
    const char *start = s;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == q) {
            r |= dp_buf_append(b, start, (size_t)(s + i - start + 1));
            r |= dp_buf_append(b, &q, 1);
            start = s + i + 1;
        }
    }
    r |= dp_buf_append(b, start, (size_t)(s + n - start));
    return r;
}

static int put_quoted(dp_buf *b, const char *s, size_t n, char q)
{
    return dp_buf_append(b, &q, 1) | put_quoted_body(b, s, n, q) | dp_buf_append(b, &q, 1);
}

static void put_ident(dp_buf *b, const char *s) { put_quoted(b, s, strlen(s), '"'); }

static int put_hex(dp_buf *b, const unsigned char *p, size_t n)
{
    static const char hx[] = "0123456789ABCDEF";
    char tmp[512];
    size_t t = 0;
    int r = 0;
    for (size_t i = 0; i < n; i++) {
        tmp[t++] = hx[p[i] >> 4];
        tmp[t++] = hx[p[i] & 15];
        if (t == sizeof tmp) {
            r |= dp_buf_append(b, tmp, t);
            t = 0;
        }
    }
    return r | dp_buf_append(b, tmp, t);
}

/* A text or blob body in slices, handing the line to the sink whenever it is full: a big value
 * then costs SQLite's own copy only, not a second (hex: double-size) copy in the line buffer that
 * would also stay allocated for the rest of the dump. */
#define SLICE (32 * 1024)
static int put_long(dumpctx *c, const unsigned char *p, size_t n, int hex)
{
    for (size_t off = 0; off < n; off += SLICE) {
        size_t len = n - off < SLICE ? n - off : SLICE;
        if ((hex ? put_hex(&c->line, p + off, len) : put_quoted_body(&c->line, (const char *)p + off, len, '\'')) < 0)
            return dp_err_set(c->err, DUMPER_ENOMEM, "out of memory");
        int rc = flush(c, 0);
        if (rc)
            return rc;
    }
    return 0;
}

static int put_value(dumpctx *c, sqlite3_stmt *st, int i)
{
    dp_buf *b = &c->line;
    char num[64];
    int r = 0, rc = 0;
    switch (sqlite3_column_type(st, i)) {
    case SQLITE_INTEGER:
        snprintf(num, sizeof num, "%lld", (long long)sqlite3_column_int64(st, i));
        r = dp_buf_puts(b, num);
        break;
    case SQLITE_FLOAT: {
        double v = sqlite3_column_double(st, i);
        if (isinf(v))
            r = dp_buf_puts(b, v > 0 ? "1e999" : "-1e999");
        else if (isnan(v))
            r = dp_buf_puts(b, "NULL");
        else {
            /* 17 significant digits identify a double exactly; the C library prints them exactly
             * (SQLite's own printf rounds through long double, which is not exact everywhere,
             * e.g. under valgrind). A ".0" keeps an integral value a REAL on restore. */
            snprintf(num, sizeof num, "%.17g", v);
            if (!strpbrk(num, ".e"))
                memcpy(num + strlen(num), ".0", 3);
            r = dp_buf_puts(b, num);
        }
        break;
    }
    case SQLITE_TEXT: {
        const char *t = (const char *)sqlite3_column_text(st, i);
        size_t n = (size_t)sqlite3_column_bytes(st, i);
        if (!t && n)
            return dp_err_set(c->err, DUMPER_ENOMEM, "out of memory");
        if (n && memchr(t, 0, n)) {
            r = dp_buf_puts(b, "CAST(X'");
            if (!r && !(rc = put_long(c, (const unsigned char *)t, n, 1)))
                r = dp_buf_puts(b, "' AS TEXT)");
        } else {
            r = dp_buf_puts(b, "'");
            if (!r && !(rc = put_long(c, (const unsigned char *)t, n, 0)))
                r = dp_buf_puts(b, "'");
        }
        break;
    }
    case SQLITE_BLOB: {
        const unsigned char *p = sqlite3_column_blob(st, i);
        size_t n = (size_t)sqlite3_column_bytes(st, i);
        if (!p && n)
            return dp_err_set(c->err, DUMPER_ENOMEM, "out of memory");
        r = dp_buf_puts(b, "X'");
        if (!r && !(rc = put_long(c, p, n, 1)))
            r = dp_buf_puts(b, "'");
        break;
    }
    default: r = dp_buf_puts(b, "NULL");
    }
    if (rc)
        return rc;
    return r < 0 ? dp_err_set(c->err, DUMPER_ENOMEM, "out of memory") : 0;
}

/* The name under which the rowid of `table` can be selected, or NULL when the table has no rowid
 * of its own to keep: WITHOUT ROWID, or an INTEGER PRIMARY KEY column (its alias) is dumped anyway.
 * Like `sqlite3 .dump --preserve-rowids`: rowids survive a restore even with gaps, so anything that
 * refers to them (FTS5 external content, application code) still points at the right rows. */
static const char *rowid_name(dumpctx *c, const char *table, int int_pk, int npk, const char *const *colnames,
                              int ncolnames)
{
    static const char *const names[] = {"rowid", "_rowid_", "oid"};
    if (npk == 1 && int_pk)
        return NULL;
    for (size_t k = 0; k < 3; k++) {
        int taken = 0;
        for (int i = 0; i < ncolnames; i++)
            if (sqlite3_stricmp(colnames[i], names[k]) == 0)
                taken = 1;
        if (taken)
            continue;
        char *q = sqlite3_mprintf("SELECT %s FROM \"%w\" LIMIT 0", names[k], table);
        sqlite3_stmt *st = NULL;
        int ok = q && sqlite3_prepare_v2(c->db, q, -1, &st, NULL) == SQLITE_OK;
        sqlite3_finalize(st);
        sqlite3_free(q);
        return ok ? names[k] : NULL; /* fails only for WITHOUT ROWID tables */
    }
    return NULL;
}

/* Dump the rows of one table as INSERT statements. */
static int dump_rows(dumpctx *c, const char *table)
{
    /* Columns that can be inserted: skip generated columns (hidden 2/3) which reject values. */
    dp_buf cols = {0}, sql = {0}, prefix = {0};
    int rc = 0, skipped = 0, ncols = 0, npk = 0, int_pk = 0, nnames = 0;
    const char *names[2000]; /* SQLITE_MAX_COLUMN */
    sqlite3_stmt *st = NULL;
    char *q = sqlite3_mprintf("PRAGMA table_xinfo(%Q)", table);
    if (!q || sqlite3_prepare_v2(c->db, q, -1, &st, NULL) != SQLITE_OK) {
        rc = db_fail(c, "reading table info");
        goto done;
    }
    while (sqlite3_step(st) == SQLITE_ROW) {
        int hidden = sqlite3_column_int(st, 6);
        const char *name = (const char *)sqlite3_column_text(st, 1);
        const char *type = (const char *)sqlite3_column_text(st, 2);
        if (sqlite3_column_int(st, 5) > 0) {
            npk++;
            int_pk = type && sqlite3_stricmp(type, "INTEGER") == 0;
        }
        if (nnames < (int)(sizeof names / sizeof names[0]) && name)
            names[nnames++] = sqlite3_mprintf("%s", name);
        if (hidden != 0) {
            skipped = 1;
            continue;
        }
        if (ncols++)
            dp_buf_puts(&cols, ",");
        put_ident(&cols, name);
    }
    sqlite3_finalize(st);
    st = NULL;
    if (ncols == 0)
        goto done;
    const char *rowid = rowid_name(c, table, int_pk, npk, names, nnames);
    if (rowid) {
        /* the rowid goes first: INSERT INTO t(rowid,a,b) VALUES(<rowid>,...) */
        dp_buf with = {0};
        dp_buf_printf(&with, "%s,", rowid);
        dp_buf_append(&with, cols.data, cols.len);
        dp_buf_free(&cols);
        cols = with;
        skipped = 1; /* the column list must be spelled out */
        ncols++;
    }
    dp_buf_puts(&sql, "SELECT ");
    dp_buf_append(&sql, cols.data, cols.len);
    dp_buf_puts(&sql, " FROM ");
    put_ident(&sql, table);
    dp_buf_puts(&prefix, "INSERT INTO ");
    put_ident(&prefix, table);
    if (skipped) {
        dp_buf_puts(&prefix, "(");
        dp_buf_append(&prefix, cols.data, cols.len);
        dp_buf_puts(&prefix, ")");
    }
    dp_buf_puts(&prefix, " VALUES(");
    if (!sql.data || !prefix.data) {
        rc = dp_err_set(c->err, DUMPER_ENOMEM, "out of memory");
        goto done;
    }
    if (sqlite3_prepare_v2(c->db, sql.data, -1, &st, NULL) != SQLITE_OK) {
        rc = db_fail(c, "reading a table");
        goto done;
    }
    int step;
    uint64_t rows = 0;
    dp_table_rows *counted = c->contents ? dp_contents_find(c->contents, table) : NULL;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        rows++;
        if (dp_buf_append(&c->line, prefix.data, prefix.len) < 0) {
            rc = dp_err_set(c->err, DUMPER_ENOMEM, "out of memory");
            goto done;
        }
        for (int i = 0; i < ncols; i++) {
            if (i && dp_buf_append(&c->line, ",", 1) < 0) {
                rc = dp_err_set(c->err, DUMPER_ENOMEM, "out of memory");
                goto done;
            }
            if ((rc = put_value(c, st, i)))
                goto done;
        }
        if (dp_buf_puts(&c->line, ");\n") < 0) {
            rc = dp_err_set(c->err, DUMPER_ENOMEM, "out of memory");
            goto done;
        }
        if ((rc = flush(c, 0)))
            goto done;
    }
    if (step != SQLITE_DONE)
        rc = db_fail(c, "reading rows");
    else if (counted)
        counted->rows = rows;
done:
    for (int i = 0; i < nnames; i++)
        sqlite3_free((void *)names[i]);
    sqlite3_free(q);
    sqlite3_finalize(st);
    dp_buf_free(&cols);
    dp_buf_free(&sql);
    dp_buf_free(&prefix);
    return rc;
}

static int dump_all(dumpctx *c)
{
    int rc = 0, writable_schema = 0;
    sqlite3_stmt *st = NULL;
    if ((rc = emit(c, "PRAGMA foreign_keys=OFF;\nBEGIN TRANSACTION;\n")))
        return rc;
    /* Header fields that belong to the data (schema versions of migration tools, file type ids);
     * `sqlite3 .dump` drops them. */
    static const char *const header[] = {"user_version", "application_id"};
    for (size_t i = 0; i < 2; i++) {
        char q[64], line[96];
        snprintf(q, sizeof q, "PRAGMA %s", header[i]);
        if (sqlite3_prepare_v2(c->db, q, -1, &st, NULL) != SQLITE_OK || sqlite3_step(st) != SQLITE_ROW) {
            sqlite3_finalize(st);
            return db_fail(c, "reading the header");
        }
        long long v = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
        st = NULL;
        if (v) {
            snprintf(line, sizeof line, "PRAGMA %s=%lld;\n", header[i], v);
            if ((rc = emit(c, line)))
                return rc;
        }
    }
    if (sqlite3_prepare_v2(c->db,
                           "SELECT name, sql FROM sqlite_schema WHERE sql NOT NULL AND type=='table' "
                           "ORDER BY tbl_name=='sqlite_sequence', rowid",
                           -1, &st, NULL) != SQLITE_OK)
        return db_fail(c, "reading the schema");
    int step;
    while (!rc && (step = sqlite3_step(st)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(st, 0);
        const char *sql = (const char *)sqlite3_column_text(st, 1);
        if (strcmp(name, "sqlite_sequence") == 0) {
            rc = emit(c, "DELETE FROM sqlite_sequence;\n");
        } else if (strncmp(name, "sqlite_stat", 11) == 0) {
            rc = emit(c, "ANALYZE sqlite_schema;\n");
        } else if (strncmp(name, "sqlite_", 7) == 0) {
            continue;
        } else if (sqlite3_strnicmp(sql, "CREATE VIRTUAL TABLE", 20) == 0) {
            if (!writable_schema) {
                rc = emit(c, "PRAGMA writable_schema=ON;\n");
                writable_schema = 1;
            }
            char *ins = sqlite3_mprintf("INSERT INTO sqlite_schema(type,name,tbl_name,rootpage,sql)"
                                        "VALUES('table',%Q,%Q,0,%Q);\n",
                                        name, name, sql);
            if (!rc)
                rc = ins ? emit(c, ins) : dp_err_set(c->err, DUMPER_ENOMEM, "out of memory");
            sqlite3_free(ins);
            continue; /* rows of a virtual table live in its shadow tables */
        } else {
            if (!(rc = emit(c, sql)))
                rc = emit(c, ";\n");
        }
        if (!rc)
            rc = dump_rows(c, name);
    }
    if (!rc && step != SQLITE_DONE)
        rc = db_fail(c, "reading the schema");
    sqlite3_finalize(st);
    st = NULL;
    if (rc)
        return rc;
    if (sqlite3_prepare_v2(c->db,
                           "SELECT sql FROM sqlite_schema WHERE sql NOT NULL AND type IN ('index','trigger','view') "
                           "ORDER BY rowid",
                           -1, &st, NULL) != SQLITE_OK)
        return db_fail(c, "reading the schema");
    while (!rc && (step = sqlite3_step(st)) == SQLITE_ROW) {
        if (!(rc = emit(c, (const char *)sqlite3_column_text(st, 0))))
            rc = emit(c, ";\n");
    }
    if (!rc && step != SQLITE_DONE)
        rc = db_fail(c, "reading the schema");
    sqlite3_finalize(st);
    if (!rc && writable_schema)
        rc = emit(c, "PRAGMA writable_schema=OFF;\n");
    if (!rc)
        rc = emit(c, "COMMIT;\n");
    if (!rc)
        rc = flush(c, 1);
    return rc;
}

static int open_source(const dp_dburl *url, sqlite3 **db, dp_err *err)
{
    struct stat sb;
    *db = NULL;
    if (stat(url->path, &sb) < 0)
        return dp_err_sys(err, errno == ENOENT ? DUMPER_ENOENT : DUMPER_EIO, errno, "sqlite database '%s' not found",
                          url->path);
    if (!S_ISREG(sb.st_mode))
        return dp_err_set(err, DUMPER_ESOURCE, "sqlite database '%s' is not a regular file", url->path);
    if (sqlite3_open_v2(url->path, db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
        int rc = dp_err_set(err, DUMPER_ESOURCE, "unable to open sqlite database '%s': %s", url->path,
                            *db ? sqlite3_errmsg(*db) : "out of memory");
        sqlite3_close(*db);
        *db = NULL;
        return rc;
    }
    sqlite3_busy_timeout(*db, 30000);
    return 0;
}

/* ---- contents (manifest and drills) ----
 *
 * The tables a dump carries rows of: every table of the schema except SQLite's own and virtual
 * tables (their rows live in shadow tables, which are ordinary tables and counted as such). */

static char *column_list(sqlite3 *db, const char *table)
{
    dp_buf b = {0};
    sqlite3_stmt *st = NULL;
    char *q = sqlite3_mprintf("PRAGMA table_info(%Q)", table);
    int ok = q && sqlite3_prepare_v2(db, q, -1, &st, NULL) == SQLITE_OK;
    sqlite3_free(q);
    while (ok && sqlite3_step(st) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(st, 1);
        if (b.len && dp_buf_puts(&b, ",") < 0)
            ok = 0;
        if (name && dp_buf_puts(&b, name) < 0)
            ok = 0;
    }
    sqlite3_finalize(st);
    if (!ok || dp_buf_puts(&b, "") < 0) {
        dp_buf_free(&b);
        return NULL;
    }
    return b.data;
}

/* Tables (rows 0), columns, server version and schema_migrations into c (not finished). With
 * count: each table's rows counted by a query. -1 on failure (c then holds a part). */
static int contents_read(sqlite3 *db, dp_contents *c, int count)
{
    sqlite3_stmt *st = NULL;
    int rc = 0;
    if (!(c->server_version = dp_strdup(sqlite3_libversion())))
        return -1;
    if (sqlite3_prepare_v2(db,
                           "SELECT name FROM sqlite_schema WHERE type='table' AND sql NOT NULL "
                           "AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' "
                           "AND upper(substr(ltrim(sql),1,20)) != 'CREATE VIRTUAL TABLE'",
                           -1, &st, NULL) != SQLITE_OK)
        return -1;
    while (!rc && sqlite3_step(st) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(st, 0);
        char *cols = name ? column_list(db, name) : NULL;
        uint64_t rows = 0;
        if (!cols)
            rc = -1;
        if (!rc && count) {
            sqlite3_stmt *cs = NULL;
            char *q = sqlite3_mprintf("SELECT count(*) FROM \"%w\"", name);
            if (q && sqlite3_prepare_v2(db, q, -1, &cs, NULL) == SQLITE_OK && sqlite3_step(cs) == SQLITE_ROW)
                rows = (uint64_t)sqlite3_column_int64(cs, 0);
            else
                rc = -1;
            sqlite3_finalize(cs);
            sqlite3_free(q);
        }
        if (!rc && dp_contents_add(c, name, cols, rows))
            rc = -1;
        free(cols);
    }
    sqlite3_finalize(st);
    st = NULL;
    /* Rails: the newest migration applied */
    if (!rc && sqlite3_prepare_v2(db, "SELECT max(version) FROM schema_migrations", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0)) {
        const char *v = (const char *)sqlite3_column_text(st, 0);
        if (*v && strlen(v) <= DP_CONTENTS_MAX_STR && !(c->migration = dp_strdup(v)))
            rc = -1;
    }
    sqlite3_finalize(st);
    return rc;
}

static int sqlite_inspect(const dp_dburl *url, const dp_source_opts *opts, dp_contents *out, dp_err *err)
{
    sqlite3 *db;
    int rc = open_source(url, &db, err);
    if (rc)
        return rc;
    memset(out, 0, sizeof *out);
    if (sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK || contents_read(db, out, 1) ||
        dp_contents_finish(out)) {
        rc = dp_err_set(err, DUMPER_ESOURCE, "sqlite database '%s': unable to count its rows: %s", url->path,
                        sqlite3_errmsg(db));
        dp_contents_free(out);
    }
    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    sqlite3_close(db);
    return rc;
}

static int sqlite_check_query(const dp_dburl *url, const dp_source_opts *opts, const char *sql, int *ok,
                              char *detail, size_t detail_size, dp_err *err)
{
    sqlite3 *db;
    sqlite3_stmt *st = NULL;
    const char *tail = NULL;
    *ok = 0;
    int rc = open_source(url, &db, err);
    if (rc)
        return rc;
    if (sqlite3_prepare_v2(db, sql, -1, &st, &tail) != SQLITE_OK || !st) {
        snprintf(detail, detail_size, "%s", st ? sqlite3_errmsg(db) : "no statement");
    } else {
        int step = sqlite3_step(st);
        if (step == SQLITE_ROW && sqlite3_column_count(st) >= 1) {
            const char *v = (const char *)sqlite3_column_text(st, 0);
            snprintf(detail, detail_size, "%s", v ? v : "NULL");
            *ok = sqlite3_column_type(st, 0) == SQLITE_INTEGER && sqlite3_column_int64(st, 0) != 0;
        } else if (step == SQLITE_ROW || step == SQLITE_DONE) {
            snprintf(detail, detail_size, "no value");
        } else {
            snprintf(detail, detail_size, "%s", sqlite3_errmsg(db));
        }
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return 0;
}

static int sqlite_resolve_format(const dp_dburl *url, const dp_source_opts *opts, const char **format, dp_err *err)
{
    if (opts->format && *opts->format && strcmp(opts->format, "sql") != 0)
        return dp_err_set(err, DUMPER_EUSAGE, "unknown sqlite format '%s' (supported: sql)", opts->format);
    if (opts->custom_options && *opts->custom_options)
        return dp_err_set(err, DUMPER_EUSAGE, "sqlite backups take no custom options");
    *format = "sql";
    return 0;
}

static int sqlite_check(const dp_dburl *url, const dp_source_opts *opts, dp_err *err)
{
    sqlite3 *db;
    int rc = open_source(url, &db, err);
    if (rc)
        return rc;
    if (sqlite3_exec(db, "SELECT count(*) FROM sqlite_schema", NULL, NULL, NULL) != SQLITE_OK)
        rc = dp_err_set(err, DUMPER_ESOURCE, "sqlite database '%s': %s", url->path, sqlite3_errmsg(db));
    sqlite3_close(db);
    return rc;
}

static int sqlite_backup(const dp_dburl *url, const dp_source_opts *opts, dp_sink *out, dp_err *err)
{
    dumpctx c = {.out = out, .path = url->path, .err = err};
    int rc = open_source(url, &c.db, err);
    if (rc)
        return rc;
    /* BEGIN is deferred: the first SELECT takes the read snapshot that the whole dump sees. */
    if (sqlite3_exec(c.db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_exec(c.db, "SELECT count(*) FROM sqlite_schema", NULL, NULL, NULL) != SQLITE_OK) {
        rc = db_fail(&c, "starting a read transaction");
    } else {
        /* the contents come from the same read transaction: tables and columns now, rows as dumped */
        if (opts->contents && !contents_read(c.db, opts->contents, 0))
            c.contents = opts->contents;
        rc = dump_all(&c);
    }
    if (opts->contents && (rc || !c.contents || dp_contents_finish(opts->contents)))
        dp_contents_free(opts->contents);
    sqlite3_exec(c.db, "COMMIT", NULL, NULL, NULL);
    sqlite3_close(c.db);
    dp_buf_free(&c.line);
    return rc;
}

/* ---- restore ----
 *
 * A backup is hostile input: whoever can upload one (an app key is enough) controls every byte the
 * restore executes. The statements run through SQLite in this process, so the fence is SQLite's
 * own: an authorizer that allows only what a dump needs (creating tables, indexes, views and
 * triggers in the main database, inserting rows, sqlite_sequence and the header pragmas, the
 * writable_schema insert that recreates a virtual table, ANALYZE, transactions) and refuses the
 * rest at prepare time: ATTACH/DETACH (and VACUUM, which attaches), pragmas that touch other files
 * or the connection, temporary objects, load_extension() and fts3_tokenizer(). Besides: no
 * extension loading, no fts3 tokenizer pointers, an untrusted schema, no attached databases at
 * all (limit 0), triggers never fire during the restore, and DEFENSIVE mode everywhere except
 * between the dump's own "PRAGMA writable_schema=ON" and "=OFF" (where the authorizer still lets
 * it only insert into sqlite_schema). At the end the new file must pass quick_check before it is
 * published. Triggers and views in a restored schema are data: they run later, inside the target,
 * when the application uses them. */

typedef struct {
    dp_sink base;
    sqlite3 *db;
    char *target, *tmp;
    int force;
    int throwaway;     /* a drill's target: no fsync */
    int replace_empty; /* the target existed as an empty file: it may be replaced without force */
    dp_buf pending;
    size_t scanned; /* bytes of pending already checked for statement ends */
    uint64_t fed;   /* dump bytes seen so far (to name the offset of a NUL byte) */
    size_t max_sql; /* the longest statement accepted: SQLITE_LIMIT_SQL_LENGTH */
    /* set by the authorizer while a statement is prepared */
    char refused[240]; /* what a refused statement tried to do */
    int writable;      /* the statement is PRAGMA writable_schema: 1 = ON, 0 = OFF, -1 = neither */
} restore_sink;

static int is_on(const char *v)
{
    static const char *const on[] = {"on", "1", "true", "yes", NULL};
    for (size_t i = 0; v && on[i]; i++)
        if (!sqlite3_stricmp(v, on[i]))
            return 1;
    return 0;
}

static int is_off(const char *v)
{
    static const char *const off[] = {"off", "0", "false", "no", NULL};
    for (size_t i = 0; v && off[i]; i++)
        if (!sqlite3_stricmp(v, off[i]))
            return 1;
    return 0;
}

static int refuse(restore_sink *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int refuse(restore_sink *r, const char *fmt, ...)
{
    if (!r->refused[0]) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(r->refused, sizeof r->refused, fmt, ap);
        va_end(ap);
    }
    return SQLITE_DENY;
}

#define S(x) ((x) ? (x) : "")

static int is_schema_table(const char *t)
{
    return t && (!sqlite3_stricmp(t, "sqlite_master") || !sqlite3_stricmp(t, "sqlite_schema"));
}

/* The allow-list. Arguments as documented for sqlite3_set_authorizer: a3/a4 depend on the action,
 * dbname is "main", "temp" or an attached name (there are none: ATTACH is refused). */
static int restore_auth(void *ctx, int action, const char *a3, const char *a4, const char *dbname, const char *trigger)
{
    restore_sink *r = ctx;
    (void)trigger;
    if (dbname && strcmp(dbname, "main") != 0)
        return refuse(r, "use of database '%s'", dbname);
    switch (action) {
    case SQLITE_CREATE_INDEX:
    case SQLITE_CREATE_TABLE:
    case SQLITE_CREATE_TRIGGER:
    case SQLITE_CREATE_VIEW:
    case SQLITE_INSERT:
    case SQLITE_UPDATE:
    case SQLITE_READ:
    case SQLITE_SELECT:
    case SQLITE_TRANSACTION:
    case SQLITE_SAVEPOINT:
    case SQLITE_RECURSIVE:
    case SQLITE_REINDEX: /* CREATE INDEX fills the new index through the REINDEX code */
    case SQLITE_ANALYZE: return SQLITE_OK;
    case SQLITE_DELETE:
        /* "DELETE FROM sqlite_sequence" is in every dump; rows of the schema itself never are */
        return is_schema_table(a3) ? refuse(r, "a delete from %s", a3) : SQLITE_OK;
    case SQLITE_PRAGMA:
        if (!sqlite3_stricmp(a3, "foreign_keys") || !sqlite3_stricmp(a3, "user_version") ||
            !sqlite3_stricmp(a3, "application_id"))
            return SQLITE_OK;
        if (!sqlite3_stricmp(a3, "writable_schema") && (is_on(a4) || is_off(a4))) {
            r->writable = is_on(a4);
            return SQLITE_OK;
        }
        return refuse(r, "PRAGMA %s%s%s", S(a3), a4 ? "=" : "", S(a4));
    case SQLITE_FUNCTION:
        if (!sqlite3_stricmp(a4, "load_extension") || !sqlite3_stricmp(a4, "fts3_tokenizer"))
            return refuse(r, "the function %s()", a4);
        return SQLITE_OK;
    case SQLITE_ATTACH: return refuse(r, "ATTACH (or VACUUM) of '%s'", S(a3));
    case SQLITE_DETACH: return refuse(r, "DETACH of '%s'", S(a3));
    case SQLITE_CREATE_TEMP_INDEX:
    case SQLITE_CREATE_TEMP_TABLE:
    case SQLITE_CREATE_TEMP_TRIGGER:
    case SQLITE_CREATE_TEMP_VIEW: return refuse(r, "a temporary object ('%s')", S(a3));
    case SQLITE_CREATE_VTABLE: return refuse(r, "CREATE VIRTUAL TABLE '%s' using '%s'", S(a3), S(a4));
    case SQLITE_DROP_INDEX:
    case SQLITE_DROP_TABLE:
    case SQLITE_DROP_TEMP_INDEX:
    case SQLITE_DROP_TEMP_TABLE:
    case SQLITE_DROP_TEMP_TRIGGER:
    case SQLITE_DROP_TEMP_VIEW:
    case SQLITE_DROP_TRIGGER:
    case SQLITE_DROP_VIEW:
    case SQLITE_DROP_VTABLE: return refuse(r, "DROP of '%s'", S(a3));
    case SQLITE_ALTER_TABLE: return refuse(r, "ALTER TABLE '%s'", S(a4));
    default:
        return refuse(r, "an operation a dump never needs (authorizer action %d)", action);
    }
}

/* A statement can run for as long as it likes (a planted endless recursive query): SIGINT/SIGTERM
 * still stop it. */
static int interrupt_check(void *ctx)
{
    (void)ctx;
    return dp_interrupted != 0;
}

static int exec_fail(restore_sink *r, const char *what, dp_err *err)
{
    /* a full or failing disk is the target's problem, not the dump's */
    int code = sqlite3_errcode(r->db);
    if (code == SQLITE_INTERRUPT)
        return dp_err_set(err, DUMPER_EINTR, "restore into '%s' interrupted", r->target);
    int dcode = code == SQLITE_FULL ? DUMPER_ENOSPC : code == SQLITE_IOERR ? DUMPER_EIO : DUMPER_ESOURCE;
    return dp_err_set(err, dcode, "restore into '%s' failed: %s", r->target, what ? what : sqlite3_errmsg(r->db));
}

static int refused_fail(restore_sink *r, const char *stmt, dp_err *err)
{
    return dp_err_set(err, DUMPER_ECORRUPT,
                      "backup for '%s' holds a statement a restore never runs, refused: %s in '%.60s%s'", r->target,
                      r->refused, stmt, strlen(stmt) > 60 ? "..." : "");
}

/* Prepare and run every statement of sql (NUL-terminated) one by one, under the authorizer. */
static int exec_stmt(restore_sink *r, const char *sql, dp_err *err)
{
    const char *tail = sql;
    while (tail && *tail) {
        sqlite3_stmt *st = NULL;
        r->refused[0] = 0;
        r->writable = -1;
        while (*tail == ' ' || *tail == '\n' || *tail == '\t' || *tail == '\r')
            tail++;
        const char *start = tail;
        int rc = sqlite3_prepare_v2(r->db, tail, -1, &st, &tail);
        if (rc != SQLITE_OK)
            return r->refused[0] ? refused_fail(r, start, err) : exec_fail(r, NULL, err);
        if (!st)
            continue; /* only whitespace or a comment */
        if (r->writable == 1)
            sqlite3_db_config(r->db, SQLITE_DBCONFIG_DEFENSIVE, 0, (int *)NULL);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW)
            ;
        if (r->writable == 0)
            sqlite3_db_config(r->db, SQLITE_DBCONFIG_DEFENSIVE, 1, (int *)NULL);
        sqlite3_finalize(st);
        if (rc != SQLITE_DONE) /* VACUUM attaches only when it runs */
            return r->refused[0] ? refused_fail(r, start, err) : exec_fail(r, NULL, err);
    }
    return 0;
}

/* Execute every complete statement in pending. A statement ends at a newline preceded by ';' where
 * sqlite3_complete() agrees (a ';' inside a string literal does not end it). */
static int run_complete(restore_sink *r, dp_err *err)
{
    char *d = r->pending.data;
    size_t start = 0;
    for (size_t i = r->scanned; i < r->pending.len; i++) {
        if (d[i] != '\n' || i == start || d[i - 1] != ';')
            continue;
        char saved = d[i + 1];
        d[i + 1] = 0;
        if (sqlite3_complete(d + start)) {
            int rc = exec_stmt(r, d + start, err);
            d[i + 1] = saved;
            if (rc)
                return rc;
            start = i + 1;
        } else {
            d[i + 1] = saved;
        }
    }
    dp_buf_consume(&r->pending, start);
    r->scanned = r->pending.len;
    if (r->pending.len > r->max_sql)
        return dp_err_set(err, DUMPER_ECORRUPT, "backup for '%s' holds a statement longer than %zu bytes (refused)",
                          r->target, r->max_sql);
    return 0;
}

static int rs_write(dp_sink *s, const void *p, size_t n, dp_err *err)
{
    restore_sink *r = (restore_sink *)s;
    /* Statements are C strings for SQLite: the rest of a line after a NUL byte would be dropped
     * without a word. A dump never holds one (text with NULs is written as hex). */
    const char *nul = memchr(p, 0, n);
    if (nul)
        return dp_err_set(err, DUMPER_ECORRUPT, "backup for '%s' holds a NUL byte at offset %llu (refused)",
                          r->target, (unsigned long long)(r->fed + (uint64_t)(nul - (const char *)p)));
    r->fed += n;
    size_t before = r->pending.len;
    if (dp_buf_append(&r->pending, p, n) < 0)
        return dp_err_set(err, DUMPER_ENOMEM, "out of memory");
    r->scanned = before ? before - 1 : 0; /* the ';' may sit just before the new bytes */
    return run_complete(r, err);
}

/* What the restore made must be a sound database: a new connection (the schema as an application
 * will read it, not the one this connection kept in memory) parses the schema and quick_check
 * passes. A schema written through writable_schema could, say, point two tables at one b-tree. */
static int check_result(restore_sink *r, dp_err *err)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int rc = 0;
    if (sqlite3_open_v2(r->tmp, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
        rc = dp_err_set(err, DUMPER_EIO, "unable to reopen the restored database '%s': %s", r->target,
                        db ? sqlite3_errmsg(db) : "out of memory");
        goto done;
    }
    sqlite3_db_config(db, SQLITE_DBCONFIG_DEFENSIVE, 1, (int *)NULL);
    sqlite3_db_config(db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, (int *)NULL);
    if (sqlite3_prepare_v2(db, "PRAGMA quick_check(1)", -1, &st, NULL) != SQLITE_OK || sqlite3_step(st) != SQLITE_ROW) {
        rc = dp_err_set(err, DUMPER_ECORRUPT, "backup for '%s' restores into a malformed database: %s", r->target,
                        sqlite3_errmsg(db));
    } else {
        const char *v = (const char *)sqlite3_column_text(st, 0);
        if (!v || strcmp(v, "ok") != 0)
            rc = dp_err_set(err, DUMPER_ECORRUPT, "backup for '%s' restores into a malformed database: %s", r->target,
                            v ? v : "quick_check failed");
    }
done:
    sqlite3_finalize(st);
    sqlite3_close(db);
    return rc;
}

static int rs_end(dp_sink *s, dp_err *err)
{
    restore_sink *r = (restore_sink *)s;
    int rc = 0;
    if (dp_buf_append(&r->pending, "\n", 1) < 0)
        return dp_err_set(err, DUMPER_ENOMEM, "out of memory");
    r->scanned = 0;
    if ((rc = run_complete(r, err)))
        return rc;
    for (size_t i = 0; i < r->pending.len; i++)
        if (!strchr(" \t\r\n", r->pending.data[i]))
            return dp_err_set(err, DUMPER_ECORRUPT, "dump for '%s' ends in the middle of a statement", r->target);
    if (sqlite3_get_autocommit(r->db) == 0)
        return dp_err_set(err, DUMPER_ECORRUPT, "dump for '%s' ends inside a transaction (truncated?)", r->target);
    if (sqlite3_close(r->db) != SQLITE_OK)
        return dp_err_set(err, DUMPER_ESOURCE, "unable to close restored database '%s'", r->target);
    r->db = NULL;
    if ((rc = check_result(r, err)))
        return rc;
    if (r->throwaway)
        return 0; /* a drill's: deleted right after, durability buys nothing */
    FILE *f = fopen(r->tmp, "r+e");
    if (!f || fsync(fileno(f)) < 0) {
        rc = dp_err_sys(err, DUMPER_EIO, errno, "unable to fsync restored database '%s'", r->target);
    }
    if (f)
        fclose(f);
    return rc;
}

static int rs_commit(dp_sink *s, dp_err *err)
{
    restore_sink *r = (restore_sink *)s;
    if (r->force) {
        /* A stale WAL of the replaced database would be applied to the new file: remove it. */
        char *wal = dp_asprintf("%s-wal", r->target), *shm = dp_asprintf("%s-shm", r->target),
             *jr = dp_asprintf("%s-journal", r->target);
        if (wal)
            unlink(wal);
        if (shm)
            unlink(shm);
        if (jr)
            unlink(jr);
        free(wal);
        free(shm);
        free(jr);
        if (rename(r->tmp, r->target) < 0)
            return dp_err_sys(err, DUMPER_EIO, errno, "unable to move the restored database to '%s'", r->target);
    } else {
        if (renameat2(AT_FDCWD, r->tmp, AT_FDCWD, r->target, RENAME_NOREPLACE) < 0) {
            int e = errno;
            struct stat sb;
            if (e == EEXIST && r->replace_empty && stat(r->target, &sb) == 0 && S_ISREG(sb.st_mode) &&
                sb.st_size == 0) {
                /* still the empty file the restore was allowed to fill */
                if (rename(r->tmp, r->target) < 0)
                    return dp_err_sys(err, DUMPER_EIO, errno, "unable to move the restored database to '%s'",
                                      r->target);
            } else if (e == EEXIST)
                return dp_err_set(err, DUMPER_EEXIST, "target database '%s' appeared during the restore", r->target);
            else if (rename(r->tmp, r->target) < 0) /* filesystems without NOREPLACE */
                return dp_err_sys(err, DUMPER_EIO, errno, "unable to move the restored database to '%s'", r->target);
        }
    }
    free(r->tmp);
    r->tmp = NULL;
    if (!r->throwaway && dp_fsync_dir_of(r->target) < 0)
        return dp_err_sys(err, DUMPER_EIO, errno, "unable to fsync the directory of '%s'", r->target);
    return 0;
}

static void rs_abort(dp_sink *s)
{
    restore_sink *r = (restore_sink *)s;
    if (r->db) {
        sqlite3_close(r->db);
        r->db = NULL;
    }
    if (r->tmp) {
        unlink(r->tmp);
        char *j = dp_asprintf("%s-journal", r->tmp);
        if (j)
            unlink(j);
        free(j);
    }
}

static void rs_destroy(dp_sink *s)
{
    restore_sink *r = (restore_sink *)s;
    if (r->db)
        sqlite3_close(r->db);
    free(r->target);
    free(r->tmp);
    dp_buf_free(&r->pending);
}

static const dp_sink_ops restore_ops = {.name = "sqlite-restore",
                                        .write = rs_write,
                                        .end = rs_end,
                                        .commit = rs_commit,
                                        .abort = rs_abort,
                                        .destroy = rs_destroy};

/* The connection's fence (see the comment above restore_sink). The journal mode is set before: in
 * DEFENSIVE mode "journal_mode=OFF" is refused. Every setting is read back. */
static int harden(restore_sink *r)
{
    sqlite3 *db = r->db;
    static const int off[] = {SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION, SQLITE_DBCONFIG_ENABLE_FTS3_TOKENIZER,
                              SQLITE_DBCONFIG_TRUSTED_SCHEMA, SQLITE_DBCONFIG_ENABLE_TRIGGER};
    for (size_t i = 0; i < sizeof off / sizeof off[0]; i++) {
        int now = -1;
        if (sqlite3_db_config(db, off[i], 0, &now) != SQLITE_OK || now != 0)
            return -1;
    }
    int def = -1;
    if (sqlite3_db_config(db, SQLITE_DBCONFIG_DEFENSIVE, 1, &def) != SQLITE_OK || def != 1)
        return -1;
    sqlite3_limit(db, SQLITE_LIMIT_ATTACHED, 0);
    if (sqlite3_limit(db, SQLITE_LIMIT_ATTACHED, -1) != 0)
        return -1;
    /* the compiled maxima (1e9 here), explicit: a value or a statement is never longer */
    r->max_sql = (size_t)sqlite3_limit(db, SQLITE_LIMIT_SQL_LENGTH, -1);
    if (sqlite3_set_authorizer(db, restore_auth, r) != SQLITE_OK)
        return -1;
    sqlite3_progress_handler(db, 10000, interrupt_check, NULL);
    return 0;
}

static int sqlite_restore(const dp_dburl *url, const dp_source_opts *opts, const char *format, dp_sink **out,
                          dp_err *err)
{
    *out = NULL;
    if (!dp_streq(format, "sql"))
        return dp_err_set(err, DUMPER_EUNSUPPORTED, "cannot restore a '%s' backup into sqlite", format);
    struct stat sb;
    int replace_empty = 0;
    if (stat(url->path, &sb) == 0) {
        if (!S_ISREG(sb.st_mode))
            return dp_err_set(err, DUMPER_EEXIST, "target '%s' exists and is not a regular file", url->path);
        if (sb.st_size > 0 && !opts->force)
            return dp_err_set(err, DUMPER_EEXIST,
                              "target database '%s' exists and is not empty (use --force to replace it)", url->path);
        replace_empty = sb.st_size == 0;
    }
    restore_sink *r = calloc(1, sizeof *r);
    if (!r)
        return dp_err_set(err, DUMPER_ENOMEM, "out of memory");
    dp_sink_init(&r->base, &restore_ops, NULL);
    r->force = opts->force;
    r->throwaway = opts->throwaway;
    r->replace_empty = replace_empty;
    r->target = strdup(url->path);
    const char *slash = strrchr(url->path, '/');
    unsigned rnd = (unsigned)(dp_mono_ms() ^ (uintptr_t)r);
    r->tmp = slash ? dp_asprintf("%.*s/.%s.restore-%ld-%08x", (int)(slash - url->path), url->path, slash + 1,
                                 (long)getpid(), rnd)
                   : dp_asprintf(".%s.restore-%ld-%08x", url->path, (long)getpid(), rnd);
    int rc = 0;
    if (!r->target || !r->tmp) {
        rc = dp_err_set(err, DUMPER_ENOMEM, "out of memory");
    } else if (sqlite3_open_v2(r->tmp, &r->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                               NULL) != SQLITE_OK) {
        /* the OS error says why (a missing directory, no permission, a full disk) */
        int e = r->db ? sqlite3_system_errno(r->db) : ENOMEM;
        rc = e ? dp_err_sys(err, e == ENOENT ? DUMPER_ENOENT : dp_err_code_for_errno(e), e,
                            "unable to create the database '%s'", r->target)
               : dp_err_set(err, DUMPER_EIO, "unable to create the database '%s': %s", r->target,
                            sqlite3_errmsg(r->db));
    } else if (sqlite3_exec(r->db, "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;", NULL, NULL, NULL) !=
               SQLITE_OK) {
        rc = dp_err_set(err, DUMPER_EIO, "unable to create '%s': %s", r->tmp, sqlite3_errmsg(r->db));
    } else if (harden(r) != 0) {
        rc = dp_err_set(err, DUMPER_EINTERNAL, "unable to restrict the restore connection for '%s': %s", r->target,
                        sqlite3_errmsg(r->db));
    } else {
        chmod(r->tmp, 0600);
    }
    if (rc) {
        rs_abort(&r->base);
        rs_destroy(&r->base);
        free(r);
        return rc;
    }
    *out = &r->base;
    return 0;
}

const dp_source_driver dp_source_sqlite = {
    .name = "sqlite",
    .type = DP_DB_SQLITE,
    .features = DP_SOURCE_FEAT_BACKUP | DP_SOURCE_FEAT_RESTORE,
    .resolve_format = sqlite_resolve_format,
    .check = sqlite_check,
    .backup = sqlite_backup,
    .restore = sqlite_restore,
    .restore_formats = (const char *const[]){"sql", NULL},
    .inspect = sqlite_inspect,
    .check_query = sqlite_check_query,
};
