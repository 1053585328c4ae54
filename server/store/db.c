/*
 * db.c - SQLite and PostgreSQL behind the sd_q() API (see db.h).
 */
#include <errno.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/util.h"
#include "domain/secrets.h"
#include "store/db.h"
#include "store/rows.h"

#define SD_MAX_ARGS 24
#define SD_CACHE 128

typedef struct {
    const char *sql; /* key: the caller's literal */
    sqlite3_stmt *st;
    char name[16];   /* PostgreSQL prepared statement name */
} cache_ent;

struct sd_db {
    int pg;
    sqlite3 *lite;
    PGconn *conn;
    cache_ent cache[SD_CACHE];
    int ncache;
    int in_txn;
    int fail_query, fail_alloc, retry_query; /* fault injection: countdowns, 0 = off */
};

int sd_db_is_pg(const sd_db *db) { return db->pg; }

void sd_db_inject_faults(sd_db *db, int fail_query, int fail_alloc)
{
    db->fail_query = fail_query;
    db->fail_alloc = fail_alloc;
}

void sd_db_inject_retry(sd_db *db, int nth) { db->retry_query = nth; }

/* A result cell's copy; NULL when out of memory (or an injected allocation failure). */
static char *cell_dup(sd_db *db, const char *s)
{
    if (db->fail_alloc > 0 && --db->fail_alloc == 0)
        return NULL;
    return dp_strdup(s);
}

static int lite_err(sd_db *db, int rc, dp_err *err, const char *what)
{
    if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED)
        return SD_RETRY;
    return dp_err_set(err, DUMPER_EINTERNAL, "state store: %s: %s", what, sqlite3_errmsg(db->lite));
}

int sd_db_open(const char *url, sd_db **out, dp_err *err)
{
    sd_db *db = calloc(1, sizeof *db);
    if (!db)
        return dp_err_set(err, DUMPER_ENOMEM, "out of memory");
    if (strncmp(url, "sqlite:", 7) == 0) {
        const char *path = url + 7;
        int rc = sqlite3_open_v2(path, &db->lite, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
        if (rc != SQLITE_OK) {
            dp_err_set(err, DUMPER_EIO, "unable to open state store '%s': %s", path,
                       db->lite ? sqlite3_errmsg(db->lite) : "out of memory");
            sd_db_close(db);
            return err->code;
        }
        sqlite3_busy_timeout(db->lite, 10000);
        if (sd_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;", err)) {
            sd_db_close(db);
            return err->code;
        }
    } else if (strncmp(url, "postgres://", 11) == 0 || strncmp(url, "postgresql://", 13) == 0) {
        db->pg = 1;
        db->conn = PQconnectdb(url);
        if (!db->conn || PQstatus(db->conn) != CONNECTION_OK) {
            char *m = db->conn ? dp_strdup(PQerrorMessage(db->conn)) : NULL;
            if (m && strchr(m, '\n'))
                *strchr(m, '\n') = 0;
            dp_err_set(err, DUMPER_ECONNECT, "unable to connect to the state store: %s", m ? m : "out of memory");
            sd_mask_url_passwords(url, err->msg); /* libpq may quote part of a bad URL back */
            free(m);
            sd_db_close(db);
            return err->code;
        }
        if (sd_exec(db, "SET client_min_messages = warning", err)) {
            sd_db_close(db);
            return err->code;
        }
    } else {
        free(db);
        /* only the scheme: the rest may hold a password */
        return dp_err_set(err, DUMPER_EUSAGE, "unknown state store '%.*s...' (expected sqlite:PATH or postgres://...)",
                          (int)strcspn(url, ":") + 1, url);
    }
    *out = db;
    return 0;
}

void sd_db_close(sd_db *db)
{
    if (!db)
        return;
    for (int i = 0; i < db->ncache; i++)
        if (db->cache[i].st)
            sqlite3_finalize(db->cache[i].st);
    if (db->lite)
        sqlite3_close(db->lite);
    if (db->conn)
        PQfinish(db->conn);
    free(db);
}

/* A PostgreSQL connection lost (server restart, network): reconnect once per call; its prepared
 * statements died with it. A failure inside a transaction is reported as SD_RETRY by the caller's
 * next BEGIN succeeding on the new connection. */
static void pg_ensure(sd_db *db)
{
    if (PQstatus(db->conn) == CONNECTION_OK)
        return;
    PQreset(db->conn);
    if (PQstatus(db->conn) == CONNECTION_OK) {
        db->ncache = 0;
        PGresult *r = PQexec(db->conn, "SET client_min_messages = warning");
        PQclear(r);
    }
}

int sd_exec(sd_db *db, const char *sql, dp_err *err)
{
    if (!db->pg) {
        char *msg = NULL;
        int rc = sqlite3_exec(db->lite, sql, NULL, NULL, &msg);
        if (rc != SQLITE_OK) {
            sqlite3_free(msg);
            return lite_err(db, rc, err, "exec");
        }
        return 0;
    }
    if (!db->in_txn || !strncmp(sql, "BEGIN", 5))
        pg_ensure(db);
    PGresult *r = PQexec(db->conn, sql);
    ExecStatusType s = PQresultStatus(r);
    if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK) {
        const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
        int retry = (state && (!strcmp(state, "40001") || !strcmp(state, "40P01"))) ||
                    PQstatus(db->conn) != CONNECTION_OK;
        if (!retry) {
            char *m = dp_strdup(PQerrorMessage(db->conn));
            if (m && strchr(m, '\n'))
                *strchr(m, '\n') = 0;
            dp_err_set(err, DUMPER_EINTERNAL, "state store: %s", m ? m : "error");
            free(m);
        }
        PQclear(r);
        return retry ? SD_RETRY : err->code;
    }
    PQclear(r);
    return 0;
}

static cache_ent *cache_get(sd_db *db, const char *sql)
{
    for (int i = 0; i < db->ncache; i++)
        if (db->cache[i].sql == sql)
            return &db->cache[i];
    return NULL;
}

/* "?" -> "$1", "$2" ... (no "?" appears inside our string literals). */
static char *pg_sql(const char *sql)
{
    dp_buf b = {0};
    int n = 0;
    for (const char *p = sql; *p; p++) {
        if (*p == '?') {
            if (dp_buf_printf(&b, "$%d", ++n)) {
                dp_buf_free(&b);
                return NULL;
            }
        } else if (dp_buf_append(&b, p, 1)) {
            dp_buf_free(&b);
            return NULL;
        }
    }
    return b.data ? b.data : dp_strdup("");
}

void sd_res_free(sd_res *r)
{
    if (!r || !r->cells)
        return;
    for (int i = 0; i < r->rows * r->cols; i++)
        free(r->cells[i]);
    free(r->cells);
    r->cells = NULL;
    r->rows = r->cols = 0;
}

const char *sd_get(const sd_res *r, int row, int col)
{
    if (!r || row >= r->rows || col >= r->cols)
        return NULL;
    return r->cells[row * r->cols + col];
}

int64_t sd_geti(const sd_res *r, int row, int col)
{
    const char *s = sd_get(r, row, col);
    return s ? strtoll(s, NULL, 10) : 0;
}

static int res_push_row(sd_res *r, int cols)
{
    char **c = realloc(r->cells, sizeof(char *) * (size_t)(r->rows + 1) * (size_t)cols);
    if (!c)
        return -1;
    r->cells = c;
    r->cols = cols;
    memset(c + r->rows * cols, 0, sizeof(char *) * (size_t)cols);
    r->rows++;
    return 0;
}

static int vq(sd_db *db, sd_res *res, dp_err *err, const char *sql, const char *types, va_list ap)
{
    int nargs = (int)strlen(types);
    int64_t iv[SD_MAX_ARGS];
    const char *sv[SD_MAX_ARGS];
    char ibuf[SD_MAX_ARGS][24];
    if (nargs > SD_MAX_ARGS)
        return dp_err_set(err, DUMPER_EINTERNAL, "state store: too many arguments");
    for (int i = 0; i < nargs; i++) {
        if (types[i] == 'i') {
            iv[i] = va_arg(ap, int64_t);
            snprintf(ibuf[i], sizeof ibuf[i], "%" PRId64, iv[i]);
            sv[i] = ibuf[i];
        } else {
            sv[i] = va_arg(ap, const char *);
            iv[i] = 0;
        }
    }
    if (res)
        memset(res, 0, sizeof *res);
    if (db->fail_query > 0 && --db->fail_query == 0)
        return dp_err_set(err, DUMPER_EINTERNAL, "state store: injected fault");
    if (db->retry_query > 0 && --db->retry_query == 0)
        return SD_RETRY;

    cache_ent *ce = cache_get(db, sql);
    if (!db->pg) {
        sqlite3_stmt *st = ce ? ce->st : NULL;
        int rc;
        if (!st) {
            rc = sqlite3_prepare_v3(db->lite, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL);
            if (rc != SQLITE_OK)
                return lite_err(db, rc, err, "prepare");
            if (db->ncache < SD_CACHE) {
                db->cache[db->ncache].sql = sql;
                db->cache[db->ncache].st = st;
                db->ncache++;
                ce = &db->cache[db->ncache - 1];
            }
        }
        for (int i = 0; i < nargs; i++) {
            if (types[i] == 'i')
                sqlite3_bind_int64(st, i + 1, iv[i]);
            else if (sv[i])
                sqlite3_bind_text(st, i + 1, sv[i], -1, SQLITE_STATIC);
            else
                sqlite3_bind_null(st, i + 1);
        }
        int out = 0;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            if (!res)
                continue;
            int cols = sqlite3_column_count(st);
            if (res_push_row(res, cols)) {
                out = dp_err_set(err, DUMPER_ENOMEM, "out of memory");
                break;
            }
            for (int c = 0; c < cols; c++) {
                const unsigned char *t = sqlite3_column_text(st, c);
                if (!t && sqlite3_column_type(st, c) != SQLITE_NULL) { /* SQLite out of memory */
                    out = dp_err_set(err, DUMPER_ENOMEM, "out of memory");
                    break;
                }
                if (t && !(res->cells[(res->rows - 1) * cols + c] = cell_dup(db, (const char *)t))) {
                    out = dp_err_set(err, DUMPER_ENOMEM, "out of memory");
                    break;
                }
            }
            if (out)
                break;
        }
        if (!out && rc != SQLITE_DONE && rc != SQLITE_ROW)
            out = lite_err(db, rc, err, "query");
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
        if (!ce)
            sqlite3_finalize(st);
        if (out)
            sd_res_free(res);
        return out;
    }

    /* PostgreSQL: a named prepared statement per SQL text and connection. Outside a transaction a
     * statement that fails because the connection died is retried once on a new connection. */
    char tmpname[16];
    const char *name = NULL;
    int retried = 0;
    PGresult *r = NULL;
    ExecStatusType s;
again:
    if (!db->in_txn) {
        pg_ensure(db);
        ce = cache_get(db, sql);
    }
    if (!ce) {
        char *q = pg_sql(sql);
        if (!q)
            return dp_err_set(err, DUMPER_ENOMEM, "out of memory");
        if (db->ncache < SD_CACHE) {
            ce = &db->cache[db->ncache];
            snprintf(ce->name, sizeof ce->name, "s%d", db->ncache);
            name = ce->name;
        } else {
            snprintf(tmpname, sizeof tmpname, "tmp");
            name = tmpname;
            PGresult *d = PQexec(db->conn, "DEALLOCATE tmp");
            PQclear(d);
        }
        PGresult *p = PQprepare(db->conn, name, q, 0, NULL);
        free(q);
        if (PQresultStatus(p) != PGRES_COMMAND_OK && PQstatus(db->conn) != CONNECTION_OK && !db->in_txn &&
            !retried) {
            PQclear(p);
            retried = 1;
            ce = NULL;
            goto again;
        }
        if (PQresultStatus(p) != PGRES_COMMAND_OK) {
            const char *m = PQresultErrorMessage(p);
            dp_err_set(err, DUMPER_EINTERNAL, "state store: prepare: %.200s", m);
            PQclear(p);
            return err->code;
        }
        PQclear(p);
        if (ce) {
            ce->sql = sql;
            db->ncache++;
        }
    } else {
        name = ce->name;
    }
    r = PQexecPrepared(db->conn, name, nargs, sv, NULL, NULL, 0);
    s = PQresultStatus(r);
    if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK && PQstatus(db->conn) != CONNECTION_OK && !db->in_txn &&
        !retried) {
        PQclear(r);
        retried = 1;
        ce = NULL;
        goto again;
    }
    if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK) {
        const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
        int retry = (state && (!strcmp(state, "40001") || !strcmp(state, "40P01"))) ||
                    PQstatus(db->conn) != CONNECTION_OK;
        if (!retry) {
            char *m = dp_strdup(PQresultErrorMessage(r));
            if (m && strchr(m, '\n'))
                *strchr(m, '\n') = 0;
            dp_err_set(err, DUMPER_EINTERNAL, "state store: %s", m ? m : "error");
            free(m);
        }
        PQclear(r);
        return retry ? SD_RETRY : err->code;
    }
    if (res && s == PGRES_TUPLES_OK) {
        int rows = PQntuples(r), cols = PQnfields(r);
        for (int i = 0; i < rows; i++) {
            if (res_push_row(res, cols)) {
                PQclear(r);
                sd_res_free(res);
                return dp_err_set(err, DUMPER_ENOMEM, "out of memory");
            }
            for (int c = 0; c < cols; c++)
                if (!PQgetisnull(r, i, c) && !(res->cells[i * cols + c] = cell_dup(db, PQgetvalue(r, i, c)))) {
                    /* never a SQL NULL in place of a value we could not copy */
                    PQclear(r);
                    sd_res_free(res);
                    return dp_err_set(err, DUMPER_ENOMEM, "out of memory");
                }
        }
    }
    PQclear(r);
    return 0;
}

int sd_q(sd_db *db, sd_res *res, dp_err *err, const char *sql, const char *types, ...)
{
    va_list ap;
    va_start(ap, types);
    int rc = vq(db, res, err, sql, types, ap);
    va_end(ap);
    return rc;
}

void *sd_rows(sd_db *db, sd_res *res, size_t size, int *n, int *rc, dp_err *err, const char *sql, const char *types,
              ...)
{
    va_list ap;
    va_start(ap, types);
    *rc = vq(db, res, err, sql, types, ap);
    va_end(ap);
    *n = 0;
    if (*rc)
        return NULL;
    void *v = calloc((size_t)res->rows + 1, size);
    if (!v) {
        sd_res_free(res);
        *rc = dp_err_set(err, DUMPER_ENOMEM, "out of memory");
        return NULL;
    }
    *n = res->rows;
    return v;
}

int sd_txn_begin(sd_db *db, int write, dp_err *err)
{
    int rc;
    if (db->pg)
        rc = sd_exec(db, "BEGIN ISOLATION LEVEL SERIALIZABLE", err);
    else
        rc = sd_exec(db, write ? "BEGIN IMMEDIATE" : "BEGIN", err);
    if (!rc)
        db->in_txn = 1;
    return rc;
}

int sd_txn_commit(sd_db *db, dp_err *err)
{
    int rc = sd_exec(db, "COMMIT", err);
    if (rc)
        sd_txn_rollback(db);
    db->in_txn = 0;
    return rc;
}

void sd_txn_rollback(sd_db *db)
{
    dp_err ignore = {0};
    if (db->pg)
        sd_exec(db, "ROLLBACK", &ignore);
    else if (!sqlite3_get_autocommit(db->lite))
        sd_exec(db, "ROLLBACK", &ignore);
    db->in_txn = 0;
}
