/*
 * my_insert.h - counts the rows of each table in a mysqldump / mariadb-dump stream as it passes.
 *
 * The dump carries rows as "INSERT INTO `table` VALUES (...),(...);" statements, each starting a
 * line (extended inserts: many rows per statement). A row is a parenthesis opened at depth 0
 * outside a string; strings are '...' with backslash escapes (the dump tools' quoting). Pure (bytes
 * in, counts out) so it can be tested and fuzzed; memory stays constant whatever the line length.
 */
#ifndef DP_MY_INSERT_H
#define DP_MY_INSERT_H

#include <stddef.h>
#include <stdint.h>

#include "core/util.h"
#include "job/manifest.h"

#define DP_MY_INSERT_MAX_NAME 256

typedef struct dp_my_insert_counter {
    dp_contents *contents; /* tables listed beforehand; rows are added for those seen (borrowed) */
    int state;             /* where in a line or statement we are */
    int in_str, esc, depth;
    dp_table_rows *cur;    /* the statement's table, NULL when not listed */
    char head[32];         /* the first bytes of the line */
    size_t nhead;
    dp_buf name;           /* the table name being read */
    int bad;               /* cannot tell */
    uint64_t statements;
} dp_my_insert_counter;

void dp_my_insert_init(dp_my_insert_counter *k, dp_contents *contents);
void dp_my_insert_feed(dp_my_insert_counter *k, const void *p, size_t n);
/* 0 when no statement was left open; -1 otherwise. Frees the buffer. */
int dp_my_insert_finish(dp_my_insert_counter *k);

#endif
