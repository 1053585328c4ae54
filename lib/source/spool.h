/*
 * spool.h - a restore sink for tools that read a file, not a stream (pg_restore --jobs needs to seek).
 *
 * The uncompressed dump is spooled to a new 0600 file in $TMPDIR (default /tmp); end() closes it;
 * commit() runs the tool on it and waits: a non-zero exit fails the commit with DUMPER_ESOURCE and the
 * tool's stderr line (secret scrubbed), like the tool sink's end. So the tool only starts once the
 * whole stream has been read and the caller has checked it (the restore's second checksum pass), and
 * the disk holds one uncompressed copy of the dump while it runs. abort() kills a running tool; the
 * file is removed on every path (commit, abort, free).
 */
#ifndef DP_SOURCE_SPOOL_H
#define DP_SOURCE_SPOOL_H

#include "core/proc.h"
#include "io/sink.h"

/* The spool file's path replaces the argv element that equals DP_SPOOL_PATH. */
#define DP_SPOOL_PATH "@spool@"

/* po: the tool to run (argv, env_add and what are copied; stdin and stdout are /dev/null). Takes
 * ownership of secret (wiped when freed), also on failure. NULL with err set when the file cannot be
 * created or out of memory. */
dp_sink *dp_spool_sink_new(const dp_proc_opts *po, char *secret, dp_err *err);

#endif
