/*
 * pg_copy.h - counts the rows of each COPY block in a plain pg_dump as it streams past.
 *
 * A plain dump carries each table's rows as "COPY schema.table (cols) FROM stdin;", one line per
 * row (COPY text format escapes newlines), and a line "\." at the end. Counting lines there gives
 * the rows of the dump's own snapshot without a second scan of the database. Pure (bytes in,
 * counts out) so it can be tested and fuzzed.
 */
#ifndef DP_PG_COPY_H
#define DP_PG_COPY_H

#include <stddef.h>
#include <stdint.h>

#include "core/util.h"
#include "job/manifest.h"

#define DP_PG_COPY_MAX_HEADER (1024 * 1024)

typedef struct dp_pg_copy_counter {
    dp_contents *contents; /* tables listed beforehand; rows are set for those seen (borrowed) */
    int in_copy;
    dp_table_rows *cur; /* the block's table, NULL when not listed */
    uint64_t rows;
    uint64_t linepos; /* bytes of the current line seen */
    char pre[8];      /* its first bytes */
    dp_buf head;      /* a line outside blocks that may be a COPY header */
    int head_skip;    /* the current line is not one */
    int bad;          /* cannot tell (a header too long, out of memory) */
    uint64_t blocks;  /* COPY blocks seen */
} dp_pg_copy_counter;

void dp_pg_copy_init(dp_pg_copy_counter *k, dp_contents *contents);
void dp_pg_copy_feed(dp_pg_copy_counter *k, const void *p, size_t n);
/* 0 when every block ended and the counts are in contents; -1 otherwise. Frees the buffer. */
int dp_pg_copy_finish(dp_pg_copy_counter *k);
/* "schema.table" from a COPY header line (without the newline); caller frees. NULL if not one. */
char *dp_pg_copy_table(const char *line, size_t n);

#endif
