/*
 * rows.h - how a store module hands rows out (internal to store/): a list struct keeps the query's result
 * (sd_res) and an array of typed rows whose strings point into it, so a list costs one result, one array
 * and one free. Every list type is
 *     typedef struct { int n; ROW *v; sd_res res_; } LIST;
 * filled with
 *     list->v = sd_rows(db, &list->res_, sizeof *list->v, &list->n, &rc, err, SQL, TYPES, ...);
 * and freed with sd_list_free(&list) (db.h).
 */
#ifndef SD_ROWS_H
#define SD_ROWS_H

#include <stdio.h>
#include <stdlib.h>

#include "store/db.h"

/* Run the query into *res and return a zeroed array of res->rows rows of `size` bytes (*n rows); NULL with
 * *rc set (SD_RETRY or an error code, err filled) on failure. */
void *sd_rows(sd_db *db, sd_res *res, size_t size, int *n, int *rc, dp_err *err, const char *sql, const char *types,
              ...);

/* A cell into a fixed buffer ("" for SQL NULL). */
static inline void sd_cell_copy(char *out, size_t n, const char *cell) { snprintf(out, n, "%s", cell ? cell : ""); }

#endif
