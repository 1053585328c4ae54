/*
 * db.h - the state store's connection layer: one small API over SQLite and PostgreSQL.
 *
 * The store (store.c) writes its SQL once, in the subset both engines accept, with `?` placeholders;
 * this layer rewrites them to $n for libpq, caches one prepared statement per SQL text and connection,
 * and returns every result as strings. A connection belongs to one thread at a time.
 *
 * Transactions: sd_txn_begin(db, write). SQLite takes BEGIN IMMEDIATE for writers (one writer at a time,
 * readers never blocked in WAL mode); PostgreSQL runs SERIALIZABLE. A conflict the caller should retry
 * (SQLITE_BUSY after the busy timeout, PostgreSQL 40001/40P01) is reported as SD_RETRY.
 */
#ifndef SD_DB_H
#define SD_DB_H

#include <stdint.h>
#include <stdlib.h>

#include "core/err.h"

#define SD_RETRY (-2)

typedef struct sd_db sd_db;

typedef struct sd_res {
    int rows, cols;
    char **cells; /* rows*cols, row-major; NULL for SQL NULL */
} sd_res;

/* url: "sqlite:PATH" or "postgres://..." / "postgresql://...". */
int sd_db_open(const char *url, sd_db **out, dp_err *err);
void sd_db_close(sd_db *db);
int sd_db_is_pg(const sd_db *db);
/* Fault injection for tests (curl's and SQLite's torture tests): the fail_query-th next sd_q fails with
 * DUMPER_EINTERNAL ("state store: injected fault"), the fail_alloc-th next result cell copy fails as if out
 * of memory. 0 turns either off. */
void sd_db_inject_faults(sd_db *db, int fail_query, int fail_alloc);
/* The nth next sd_q reports a conflict (SD_RETRY) without running. */
void sd_db_inject_retry(sd_db *db, int nth);

/* Run one statement. types: one char per argument: 'i' int64_t, 's' const char * (NULL = NULL).
 * res may be NULL. Returns 0, SD_RETRY, or a DUMPER_E* code with err filled. The SQL pointer must
 * stay valid for the connection's life (string literals): it keys the statement cache. */
int sd_q(sd_db *db, sd_res *res, dp_err *err, const char *sql, const char *types, ...);
/* Run a script of several statements without parameters (schema). */
int sd_exec(sd_db *db, const char *sql, dp_err *err);

int sd_txn_begin(sd_db *db, int write, dp_err *err);
int sd_txn_commit(sd_db *db, dp_err *err);
void sd_txn_rollback(sd_db *db);

void sd_res_free(sd_res *r);
/* Free a row list of the store modules ({int n; ROW *v; sd_res res_;}, store/rows.h); a zeroed list is fine. */
#define sd_list_free(list)                                                                                             \
    do {                                                                                                               \
        free((list)->v);                                                                                               \
        (list)->v = NULL;                                                                                              \
        (list)->n = 0;                                                                                                 \
        sd_res_free(&(list)->res_);                                                                                    \
    } while (0)
const char *sd_get(const sd_res *r, int row, int col);
int64_t sd_geti(const sd_res *r, int row, int col);

#endif
