/*
 * postgres.h - the pure parts of the PostgreSQL source, exposed for unit tests: reading
 * custom_options, reading `pg_dump --version`, choosing a pg_dump for a server version.
 */
#ifndef DP_SOURCE_POSTGRES_H
#define DP_SOURCE_POSTGRES_H

#include <stddef.h>

#include "core/err.h"

/* Versions are compared like PostgreSQL's server_version_num at major level: 150000 for 15.x,
 * 90600 for 9.6.x. */
int dp_pg_major_num(int server_version_num);
/* "pg_dump (PostgreSQL) 15.14 (Debian 15.14-0+deb12u1)" -> 150000; "9.6.24" -> 90600; -1 if none. */
int dp_pg_parse_tool_version(const char *s);
/* The full version: "psql (PostgreSQL) 15.18 (Debian ...)" -> 150018, "9.6.24" -> 90624, "10beta1" ->
 * 100000; -1 if none. */
int dp_pg_parse_tool_version_full(const char *s);
/* Index of the tool to use for a server: the lowest major >= the server's (a newer pg_dump reads
 * older servers; an older one refuses newer servers), first listed on a tie. -1 if none fits. */
int dp_pg_pick_tool(int server_version_num, const int *tool_versions, size_t n);

/* Check custom options (already split) and work out the backup format from them and `format`
 * (NULL, "sql"/"plain" or "dump"/"custom"). *fmt: "sql" or "dump"; *user_compress: a -Z/--compress
 * is among them. DUMPER_EUSAGE on unknown formats, conflicts and options that dumper owns
 * (-f, -j, -W, connection options). */
int dp_pg_dump_options(const char *format, char *const *custom, const char **fmt, int *user_compress, dp_err *err);

#endif
