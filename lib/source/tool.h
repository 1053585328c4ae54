/*
 * tool.h - what the SQL sources (postgres.c, mysql.c) share: a restore sink that feeds a running
 * client tool (psql, pg_restore, mariadb), and the password lookup rule.
 */
#ifndef DP_SOURCE_TOOL_H
#define DP_SOURCE_TOOL_H

#include "core/dburl.h"
#include "core/proc.h"
#include "io/sink.h"

/* A sink over a spawned tool: write -> its stdin; end -> close stdin, wait, a non-zero exit fails
 * with DUMPER_ESOURCE ("<tool> failed (exit N): <stderr line>", secret scrubbed); abort -> kill it
 * (a tool running one transaction rolls back). Takes ownership of p, secret (wiped when freed) and
 * tmpfile (a 0600 credentials file, unlinked when the tool has exited or on abort); on NULL
 * (out of memory) they are released too. */
dp_sink *dp_tool_sink_new(dp_proc *p, char *secret, char *tmpfile);

/* The password for url: the URL's, else the first of the environment variables named in
 * env_names (NULL-terminated, e.g. DUMPER_DB_PASSWORD). Caller frees with dp_free_secret; NULL if
 * none (the tool then uses its own defaults: PGPASSWORD, ~/.pgpass, ~/.my.cnf, ...). */
char *dp_tool_password(const dp_dburl *url, const char *const *env_names);

/* Remove the credentials file (if any) and free the path. */
void dp_tool_unlink_secret_file(char **path);

#endif
