/*
 * psql_guard.h - feeding a plain-format dump (hostile input) to psql so that no meta-command runs.
 *
 * psql executes backslash commands found in its input: \! runs a program, \o |prog and \g |prog
 * pipe into one, \copy ... to, \o, \g, \w and \s write client files, \i, \ir and \copy ... from
 * read them, \setenv, \gexec, \c and friends act on the client. A backup is whatever was uploaded,
 * so a restore must run none of them, whatever the lexer state (statement start, inside COPY data,
 * after an unbalanced quote). psql 13.22/14.19/15.14/16.10/17.6 and later have the fence for that:
 * after `\restrict KEY` every backslash command fails until `\unrestrict KEY`. The restore writes
 * `\restrict <64 random hex digits>` (OpenSSL RAND_bytes) before the first byte of the dump and
 * never writes `\unrestrict`: the dump cannot know the key, so nothing in it can lift the
 * restriction, and with ON_ERROR_STOP the first refused command stops psql (the single transaction
 * rolls back).
 *
 * pg_dump 15.14+ (and the other releases above) writes its own `\restrict K` after the header
 * comments and `\unrestrict K` as the last line. Under our restriction those would fail, so the
 * guard drops exactly these two lines: the `\restrict K` line when it comes before any statement
 * (only blank and "--" comment lines before it: the lexer is at a statement start there), and a
 * final `\unrestrict K` with the same K when nothing but whitespace follows it. Anything else is
 * passed through untouched; the guard only ever removes bytes, and the restriction, not this
 * filtering, is what keeps commands from running.
 *
 * Pure (bytes in, bytes out) so that it can be unit-tested and fuzzed; memory is bounded (only a
 * final candidate line is held back).
 */
#ifndef DP_PSQL_GUARD_H
#define DP_PSQL_GUARD_H

#include <stddef.h>

#include "core/util.h"

#define DP_PSQL_KEY_MAX 128 /* longest dump key recognised (pg_dump writes 64 alphanumerics) */

typedef struct dp_psql_guard {
    int body;                          /* 0 while only header comments were seen */
    char dumpkey[DP_PSQL_KEY_MAX + 1]; /* the dump's own \restrict key, "" if none */
    dp_buf hold;                       /* input not yet passed on */
    int mid_line;                      /* hold starts inside a line (its start was passed on) */
} dp_psql_guard;

void dp_psql_guard_init(dp_psql_guard *g);
/* Feed n bytes of dump; appends what psql gets to out. -1 when out of memory. */
int dp_psql_guard_feed(dp_psql_guard *g, const char *p, size_t n, dp_buf *out);
/* End of the dump: appends the rest to out. -1 when out of memory. */
int dp_psql_guard_finish(dp_psql_guard *g, dp_buf *out);
void dp_psql_guard_free(dp_psql_guard *g);

/* The line that starts psql's input: "\restrict <key>\n" with a fresh random key (64 hex digits).
 * -1 if the random generator fails. */
int dp_psql_guard_prelude(char out[80]);

/* 1 when psql of this version (server_version_num style, e.g. 150018 for 15.18; from
 * dp_pg_parse_tool_version_full) knows \restrict. */
int dp_psql_restricts(int version);

#endif
